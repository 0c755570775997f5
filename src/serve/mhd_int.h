/* libmicrohttpd, opened at run time by the service (src/serve/mhd.c): its types and enums come from
 * microhttpd.h; the 14 functions src/serve calls are defined by mhd.c, each through the opened library. */
#ifndef SP_SERVE_MHD_INT_H
#define SP_SERVE_MHD_INT_H

#include <stddef.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdarg.h>
#include <microhttpd.h>

#include "servprof/servprof.h"

/* Opens libmicrohttpd once per process (thread-safe; later calls return the first call's result).
 * SP_ERR_UNSUPPORTED with a message naming the library when it cannot be opened or lacks one of the
 * functions. Call before any MHD_* function (sp_srv_http_start does). */
sp_status sp_mhd_open(char *err, size_t errlen);

#endif
