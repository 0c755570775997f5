/* Number formatting for people (src/common/format.c): one formatter per kind of figure, shared by
 * the reports, the verdict and the what-if output. */
#ifndef SERVPROF_FORMAT_INT_H
#define SERVPROF_FORMAT_INT_H

#include <stddef.h>
#include <stdint.h>

/* A duration in ns as "850 ns", "12.3 us", "4.56 ms" or "1.234 s" (three significant figures or so;
 * "n/a" when not finite). Returns buf. */
char *sp_fmt_dur(char *buf, size_t len, double ns);
/* A signed duration: "+12.3 us", "-4.56 ms", "0 ns". Returns buf. */
char *sp_fmt_sdur(char *buf, size_t len, int64_t ns);

/* A Unix time in seconds as "2026-12-06 17:27:48 UTC" (the reports' way of writing a moment); ""
 * when it is not after 1970 or cannot be converted. Returns buf. */
char *sp_fmt_utc(char *buf, size_t len, double unix_s);

#endif
