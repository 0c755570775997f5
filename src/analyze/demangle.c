/* Kernel names as people read them: an Itanium C++ ABI symbol ("_Z...", what CUPTI hands a CUDA
 * kernel's name as, and what Kineto and Nsight traces carry when their tool did not demangle it)
 * demangled the way c++filt, nsys and torch.profiler show it, through libiberty's cplus_demangle_v3
 * (Debian libiberty-dev: GCC's own demangler, the one behind c++filt and libstdc++'s
 * abi::__cxa_demangle). Without libiberty at build time names stay as the traces give them. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "analyze/report_store.h"

#ifdef SERVPROF_HAVE_LIBIBERTY
#include <libiberty/demangle.h>
#endif

/* Longer symbols are left alone: libiberty keeps working arrays of about 2 entries per input byte on
 * the stack, and the event model caps names at 4095 bytes anyway (SP_EV_MAX_STRING). */
#define SP_DEMANGLE_MAX_INPUT 4095u

size_t sp_demangle(const char *symbol, char *buf, size_t len)
{
    if (buf && len)
        buf[0] = '\0';
#ifdef SERVPROF_HAVE_LIBIBERTY
    /* only the Itanium ABI's prefix: plain C names and already demangled text pass through */
    if (!symbol || strncmp(symbol, "_Z", 2) != 0 || strlen(symbol) > SP_DEMANGLE_MAX_INPUT)
        return 0;
    /* DMGL_PARAMS | DMGL_ANSI: parameter lists and cv-qualifiers, as c++filt prints by default; the
     * recursion limit stays on (no DMGL_NO_RECURSE_LIMIT), so a hostile name cannot exhaust the stack */
    char *d = cplus_demangle_v3(symbol, DMGL_PARAMS | DMGL_ANSI);
    if (!d)
        return 0;
    size_t n = strlen(d);
    if (buf && len) {
        size_t c = n < len - 1 ? n : len - 1;
        memcpy(buf, d, c);
        buf[c] = '\0';
    }
    free(d);
    return n;
#else
    (void)symbol;
    return 0;
#endif
}

int sp_demangle_available(void)
{
#ifdef SERVPROF_HAVE_LIBIBERTY
    return 1;
#else
    return 0;
#endif
}

const char *sp_ana_display_name(sp_report *r, const char *name, int *demangled)
{
    *demangled = 0;
    size_t n = sp_demangle(name, NULL, 0);
    if (n == 0)
        return sp_report_strdup(r, name);
    char *buf = malloc(n + 1);
    if (!buf)
        return NULL;
    sp_demangle(name, buf, n + 1);
    const char *copy = sp_report_strdup(r, buf);
    free(buf);
    *demangled = copy != NULL;
    return copy;
}
