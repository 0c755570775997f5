/* Formatting helpers for the report writers: finite-only JSON numbers, exact microseconds, the
 * human units of the terminal report, and the what-if prediction's own line. JSON strings are
 * escaped by src/common/json_esc.c. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/format_int.h"
#include "report/report_int.h"

sp_status sp_rep_finish(FILE *out)
{
    /* stdio keeps no errno: a stream whose write failed holds the unwritten bytes (or more since),
     * so one more flush fails again and sets errno to the reason; a stream that flushes now but
     * failed before keeps the errno of that failure */
    int failed = ferror(out);
    int e = errno;
    if (fflush(out) != 0)
        return SP_ERR_IO;
    if (failed) {
        errno = e ? e : EIO;
        return SP_ERR_IO;
    }
    return SP_OK;
}

void sp_rep_json_us(FILE *out, uint64_t ns)
{
    fprintf(out, "%llu.%03u", (unsigned long long)(ns / 1000), (unsigned)(ns % 1000));
}

void sp_rep_json_sus(FILE *out, int64_t ns)
{
    if (ns < 0) {
        putc('-', out);
        sp_rep_json_us(out, (uint64_t)0 - (uint64_t)ns); /* |ns|, also for INT64_MIN */
    } else {
        sp_rep_json_us(out, (uint64_t)ns);
    }
}

void sp_rep_json_num(FILE *out, double v, int sig)
{
    if (!isfinite(v)) {
        fputs("null", out);
        return;
    }
    if (v == 0) /* also turns -0 into 0 */
        v = 0;
    fprintf(out, "%.*g", sig, v);
}

void sp_rep_json_us_d(FILE *out, double ns)
{
    if (!isfinite(ns)) {
        fputs("null", out);
        return;
    }
    double us = ns / 1000.0;
    if (us == 0)
        us = 0;
    fprintf(out, "%.3f", us);
}

char *sp_rep_fmt_money(char *buf, size_t len, double v)
{
    if (!isfinite(v))
        snprintf(buf, len, "n/a");
    else if (v == 0)
        snprintf(buf, len, "$0");
    else if (fabs(v) >= 1)
        snprintf(buf, len, "$%.2f", v);
    else if (fabs(v) >= 1e-4)
        snprintf(buf, len, "$%.4f", v);
    else
        snprintf(buf, len, "$%.3g", v);
    return buf;
}

char *sp_rep_fmt_cost_per_request(char *buf, size_t len, double per_request, sp_rep_1m_form form)
{
    if (!isfinite(per_request)) {
        snprintf(buf, len, "n/a");
        return buf;
    }
    double m = per_request * 1e6;
    char num[48];
    if (m == 0 || fabs(m) >= 0.001)
        snprintf(num, sizeof num, "%.3f", m);
    else
        snprintf(num, sizeof num, "%.3g", m);
    snprintf(buf, len, "%s%s%s", form == SP_REP_1M_NUMBER ? "" : "$", num,
             form == SP_REP_1M_WORDS ? " per 1M requests" : "");
    return buf;
}

char *sp_rep_fmt_pct(char *buf, size_t len, double fraction)
{
    if (!isfinite(fraction))
        snprintf(buf, len, "n/a");
    else
        snprintf(buf, len, "%.1f%%", fraction * 100.0);
    return buf;
}

int sp_rep_other_text(const sp_report *r, char *pct, size_t pct_len, char *line, size_t line_len)
{
    double share = r->other_share_p95;
    if (line_len)
        line[0] = '\0';
    if (!(share > 0)) { /* zero, or no figure (n/a) */
        sp_rep_fmt_pct(pct, pct_len, share);
        return 0;
    }
    /* any share above zero is reported (DESIGN 3: never hidden); under the threshold it is written
     * "under 0.1%" (never "0.0%", which %.1f prints below 0.05%) and said to be negligible: "missing
     * instrumentation" there reads like a finding (docs/report-format.md) */
    int missing = share >= SP_OTHER_MISSING_SHARE;
    if (missing)
        sp_rep_fmt_pct(pct, pct_len, share);
    else
        snprintf(pct, pct_len, "under 0.1%%");
    snprintf(line, line_len, "%s of p95 latency is covered by no stage span and no device activity: %s", pct,
             missing ? "missing instrumentation" : "negligible");
    return missing;
}

char *sp_rep_fmt_outcome_pct(char *buf, size_t len, uint64_t n, uint64_t total)
{
    double f = total ? (double)n / (double)total : 0.0;
    if (sp_outcome_significant(n, total))
        return sp_rep_fmt_pct(buf, len, f); /* from 1 - 1e-7 % on: "1.0%" at least, as flagged */
    /* below it by more than the tolerance (1e-7 points): 7 decimals always print below 1% */
    return sp_fmt_pct_under(buf, len, f, 1, SP_REJECTION_SIGNIFICANT);
}

char *sp_rep_fmt_name(char *buf, size_t len, const char *s, size_t width)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t o = 0, cols = 0;
    if (len == 0)
        return buf;
    /* count columns first, so we know whether to reserve room for "..." */
    size_t total = 0;
    for (const unsigned char *q = p; *q; q++)
        total += (*q & 0xC0) != 0x80;
    size_t keep = total > width ? (width > 3 ? width - 3 : 0) : total;
    while (*p && o + 5 < len) {
        size_t n = sp_utf8_len(p, SIZE_MAX);
        if (cols >= keep)
            break;
        if (n <= 1) {
            buf[o++] = (n == 0 || *p < 0x20 || *p == 0x7F) ? '?' : (char)*p;
            p++;
        } else {
            memcpy(buf + o, p, n);
            o += n;
            p += n;
        }
        cols++;
    }
    if (total > width) {
        for (int i = 0; i < 3 && o + 1 < len; i++)
            buf[o++] = '.';
    }
    buf[o] = '\0';
    return buf;
}

const char *sp_rep_prediction_line(const sp_report *r, char *buf, size_t len)
{
    if (r->prediction.state == SP_PREDICTION_NONE || r->verdict.prediction_quoted)
        return NULL;
    sp_verdict_prediction_str(&r->prediction, buf, len);
    return buf;
}

/* The lowest and highest price a report's bill was made at: its replicas' (a fleet's), else its one
 * price. Returns 1 when they differ. */
static int price_range(const sp_report *r, double *lo, double *hi)
{
    const sp_report_source *src = r->source;
    *lo = *hi = r->cost.price_per_hour;
    for (size_t i = 0; src && src->bills && i < src->n_replicas; i++) {
        double p = src->bills[i].price_per_hour;
        if (i == 0 || p < *lo)
            *lo = p;
        if (i == 0 || p > *hi)
            *hi = p;
    }
    return *lo != *hi;
}

char *sp_rep_fmt_price(char *buf, size_t len, const sp_report *r)
{
    double lo, hi;
    price_range(r, &lo, &hi);
    char a[32], b[32];
    if (lo == hi)
        snprintf(buf, len, "%s", sp_rep_fmt_money(a, sizeof a, r->cost.price_per_hour));
    else
        snprintf(buf, len, "%s-%s", sp_rep_fmt_money(a, sizeof a, lo), sp_rep_fmt_money(b, sizeof b, hi));
    return buf;
}

double sp_rep_nodev_bill(const sp_report *r)
{
    const sp_report_source *src = r->source;
    /* nodev is a subsequence of replicas in their order: its bills found in one pass */
    long double bill = 0;
    for (size_t i = 0, j = 0; src && src->bills && i < src->n_replicas && j < src->n_nodev; i++)
        if (src->replicas[i] && src->nodev[j] && strcmp(src->replicas[i], src->nodev[j]) == 0) {
            bill += src->bills[i].bill;
            j++;
        }
    return (double)bill;
}

char *sp_rep_fmt_nodev(char *buf, size_t len, const sp_report *r)
{
    const sp_report_source *src = r->source;
    if (!src || !src->n_nodev || !len)
        return NULL;
    double bill = sp_rep_nodev_bill(r);
    size_t o = (size_t)snprintf(buf, len, "%zu of %zu %s exported no device series (", src->n_nodev,
                                src->n_replicas, sp_rep_plural(src->n_replicas, "replica", "replicas"));
    size_t shown = src->n_nodev < SP_REP_NODEV_NAMED ? src->n_nodev : SP_REP_NODEV_NAMED;
    for (size_t i = 0; i < shown && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", src->nodev[i] ? src->nodev[i] : "");
    if (src->n_nodev > shown && o < len)
        o += (size_t)snprintf(buf + o, len - o, " and %zu more", src->n_nodev - shown);
    char m[32];
    if (o < len)
        snprintf(buf + o, len - o, "): %s %s is billed as no_batch", src->n_nodev == 1 ? "its" : "their",
                 sp_rep_fmt_money(m, sizeof m, bill));
    return buf;
}

char *sp_rep_fmt_bill_cover(char *buf, size_t len, const sp_report *r)
{
    const sp_report_source *src = r->source;
    const sp_cost_summary *c = &r->cost;
    char win[32], price[48], each[96], tot[32];
    sp_fmt_dur(win, sizeof win, (double)c->window_ns);
    sp_rep_fmt_price(price, sizeof price, r);
    if (!src || !src->bills || src->n_replicas < 2) {
        snprintf(buf, len, "a %s window at %s/h", win, price);
        return buf;
    }
    /* the replica-time billed: each replica's window, as the report billed it (ns, as the bill) */
    uint64_t sum = 0;
    int same = 1;
    for (size_t i = 0; i < src->n_replicas; i++) {
        double w = src->bills[i].window_s * 1e9;
        uint64_t ns = w > 0 ? (uint64_t)llround(w) : 0;
        sum += ns;
        same = same && ns == c->window_ns;
    }
    double lo, hi;
    int one_price = !price_range(r, &lo, &hi);
    if (same && one_price) {
        snprintf(buf, len, "%zu replicas x a %s window at %s/h", src->n_replicas, win, price);
        return buf;
    }
    if (one_price)
        snprintf(each, sizeof each, "%s/h", price);
    else {
        char m[32];
        snprintf(each, sizeof each, "%s/h, %s per replica-hour", price, sp_rep_fmt_money(m, sizeof m, c->price_per_hour));
    }
    snprintf(buf, len, "%zu replicas over a %s window (%s of replica time) at %s", src->n_replicas, win,
             sp_fmt_dur(tot, sizeof tot, (double)sum), each);
    return buf;
}

char *sp_rep_fmt_cost_basis(char *buf, size_t len, const sp_report *r)
{
    uint64_t e = r->cost_batches_equal, n = r->cost_batches_split;
    if (!e || !n)
        snprintf(buf, len, "by its tokens");
    else if (e == n)
        snprintf(buf, len, "in equal shares: no batch carries its members' token counts");
    else
        snprintf(buf, len, "by its tokens; equal shares in %" PRIu64 " of %" PRIu64 " batches, which lack their "
                 "members' token counts", e, n);
    return buf;
}
