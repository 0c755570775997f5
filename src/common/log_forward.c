/* sp_log for servprof's add-on shared objects (the CUPTI collector libservprof-cupti.so, the CUDA
 * backend module libservprof-cuda.so): formats the message and hands it to the process's one log
 * callback, which libservprof holds (sp_get_log), so an add-on never keeps a second, unset callback
 * of its own. libservprof itself uses util.c's sp_log instead; a target links one of the two. */
#include <stdarg.h>
#include <stdio.h>

#include "common/util_int.h"

void sp_log(sp_log_level level, const char *fmt, ...)
{
    sp_log_fn fn = NULL;
    void *user = NULL;
    sp_get_log(&fn, &user);
    va_list ap;
    va_start(ap, fmt);
    sp_log_to(fn, user, level, fmt, ap);
    va_end(ap);
}
