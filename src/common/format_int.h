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

/* A fraction `f` as a percentage with `dec` decimals ("84.8%"), except that a fraction under `line`
 * (a rule's threshold, a fraction too) that would print at or above it gets as many more decimals, up
 * to 7, as print it below: "0.99%" for 1 in 101 under a 1% line, "84.8%" for 0.848 under 85%, so a
 * figure never reads as the threshold a rule beside it says it is under. Returns buf. */
char *sp_fmt_pct_under(char *buf, size_t len, double f, int dec, double line);

/* A Unix time in seconds as "2026-12-06 17:27:48 UTC" (the reports' way of writing a moment); ""
 * when it is not after 1970 or cannot be converted. Returns buf. */
char *sp_fmt_utc(char *buf, size_t len, double unix_s);

#endif
