/* Number formatting shared by every part that writes for people: durations in the unit that keeps
 * three significant figures (the reports, the verdict sentence, the what-if tables). One formatter,
 * so a figure reads the same wherever it appears. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/format_int.h"

char *sp_fmt_dur(char *buf, size_t len, double ns)
{
    if (!isfinite(ns))
        snprintf(buf, len, "n/a");
    else if (fabs(ns) < 1e3)
        snprintf(buf, len, "%.0f ns", ns);
    else if (fabs(ns) < 1e6)
        snprintf(buf, len, "%.1f us", ns / 1e3);
    else if (fabs(ns) < 1e9)
        snprintf(buf, len, "%.2f ms", ns / 1e6);
    else
        snprintf(buf, len, "%.3f s", ns / 1e9);
    return buf;
}

char *sp_fmt_sdur(char *buf, size_t len, int64_t ns)
{
    if (ns == 0) {
        snprintf(buf, len, "0 ns");
        return buf;
    }
    char mag[32];
    sp_fmt_dur(mag, sizeof mag, ns < 0 ? -(double)ns : (double)ns);
    snprintf(buf, len, "%c%s", ns < 0 ? '-' : '+', mag);
    return buf;
}

char *sp_fmt_pct_under(char *buf, size_t len, double f, int dec, double line)
{
    snprintf(buf, len, "%.*f%%", dec, f * 100.0);
    for (int d = dec + 1; d <= 7 && f < line && strtod(buf, NULL) >= line * 100.0; d++)
        snprintf(buf, len, "%.*f%%", d, f * 100.0);
    return buf;
}

char *sp_fmt_utc(char *buf, size_t len, double unix_s)
{
    if (len)
        buf[0] = '\0';
    struct tm tm;
    time_t t = (time_t)unix_s;
    if (unix_s > 0 && unix_s < 1e15 && gmtime_r(&t, &tm))
        strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}
