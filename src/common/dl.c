/* Opening a library with dlopen where it is used rather than linking it (src/serve/blas.c for OpenBLAS,
 * src/serve/mhd.c for libmicrohttpd, src/fleet/prometheus.c for libcurl): linked, each was loaded and
 * relocated by every servprof command before main (docs/BENCHMARKS.md, "Every command starts without
 * libcurl and OpenBLAS", "Every command starts without libmicrohttpd"). */
#include <dlfcn.h>

#include "common/util_int.h"

void *sp_dl_open(const char *soname, const char *user, const char *what, const char *package,
                 const sp_dl_sym *syms, size_t n, char *err, size_t errlen)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        sp_errf(err, errlen, "%s needs %s (%s; Debian: %s), which could not be loaded: %s", user, what, soname,
                package, why ? why : "unknown error");
        return NULL;
    }
    for (size_t k = 0; k < n; k++)
        if (!(*syms[k].slot = dlsym(h, syms[k].name))) {
            sp_errf(err, errlen, "%s has no %s", soname, syms[k].name);
            return NULL; /* the library stays open: dlclose of a half-used one buys nothing */
        }
    return h;
}
