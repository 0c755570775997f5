/* Inside a CUDA backend module (the real one, or the tests' stand-in): the loader's recorder
 * functions (cuda_backend.h, sp_cuda_host). The collector code compiled into the module calls the
 * public recorder names (sp_record_kernel, sp_recorder_intern, sp_now_ns, sp_get_log, ...);
 * module_host.c defines them, hidden, as calls through the host table, so the module records into
 * the loader's recorder and carries none of its own. */
#ifndef SERVPROF_MODULE_HOST_H
#define SERVPROF_MODULE_HOST_H

#include "serve/cuda_backend.h"

/* Checks the loader's table (ABI, size, servprof version, no function missing) and keeps it (it
 * must outlive the module). Call from the module's entry point, before any recorder name is used.
 * Returns 1, or 0 with a message in err. */
int sp_cuda_module_attach(const sp_cuda_host *host, char *err, size_t errlen);

#endif
