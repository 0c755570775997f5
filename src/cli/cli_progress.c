/* The CLI's one progress line on standard error: `load`'s once a second, `analyze`'s while it reads a
 * large trace (bytes read, rate, time left) and then analyses it (the step), each rewriting the line
 * in place with "\r". */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "commands.h"

/* Length of the line showing now (0: none), so a shorter one blanks what the longer one left. Only
 * one thread prints progress at a time (the load loop's, or the trace reader's). */
static int g_line_len;

void sp_cli_progress_line(const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n >= (int)sizeof text)
        n = (int)sizeof text - 1;
    fprintf(stderr, "\r%s%*s", text, g_line_len > n ? g_line_len - n : 0, "");
    fflush(stderr);
    g_line_len = n;
}

void sp_cli_progress_end(void)
{
    if (g_line_len) {
        fputc('\n', stderr);
        g_line_len = 0;
    }
}

/* "512.0 MB", "1.21 GB": decimal units, as the rate. */
static const char *bytes_text(char *buf, size_t len, uint64_t b)
{
    if (b >= 1000000000u)
        snprintf(buf, len, "%.2f GB", (double)b / 1e9);
    else
        snprintf(buf, len, "%.1f MB", (double)b / 1e6);
    return buf;
}

void sp_cli_read_progress(void *user, const sp_read_progress *p)
{
    int mode = *(const int *)user;
    if (mode == SP_CLI_READ_PROGRESS_LARGE && p->bytes_total <= SP_CLI_READ_PROGRESS_MIN_BYTES)
        return;
    char got[32], total[32];
    double rate = p->elapsed_s > 0 ? (double)p->bytes_read / p->elapsed_s : 0; /* bytes per second */
    bytes_text(got, sizeof got, p->bytes_read);
    if (p->done) {
        sp_cli_progress_line("[%6.1fs] read %s: %s in %.2f s, %.0f MB/s", p->elapsed_s, p->name, got,
                             p->elapsed_s, rate / 1e6);
        sp_cli_progress_end();
        return;
    }
    if (!p->bytes_total) {
        sp_cli_progress_line("[%6.1fs] reading %s: %s, %.0f MB/s", p->elapsed_s, p->name, got, rate / 1e6);
        return;
    }
    uint64_t left = p->bytes_total > p->bytes_read ? p->bytes_total - p->bytes_read : 0;
    char eta[32] = "?";
    if (rate > 0) {
        double s = (double)left / rate;
        if (s < 60)
            snprintf(eta, sizeof eta, s < 10 ? "%.1f s" : "%.0f s", s);
        else
            snprintf(eta, sizeof eta, "%.0f min %02.0f s", (double)(int64_t)(s / 60), s - 60 * (double)(int64_t)(s / 60));
    }
    sp_cli_progress_line("[%6.1fs] reading %s: %s of %s (%.0f%%), %.0f MB/s, %s left", p->elapsed_s, p->name, got,
                         bytes_text(total, sizeof total, p->bytes_total),
                         100.0 * (double)p->bytes_read / (double)p->bytes_total, rate / 1e6, eta);
}

void sp_cli_analyze_progress(void *user, const sp_analyze_progress *p)
{
    (void)user;
    if (p->done) {
        sp_cli_progress_line("[%6.1fs] analysed: %u steps in %.2f s", p->elapsed_s, p->count, p->elapsed_s);
        sp_cli_progress_end();
        return;
    }
    sp_cli_progress_line("[%6.1fs] analysing: %s (%u/%u)", p->elapsed_s, p->step ? p->step : "", p->index, p->count);
}
