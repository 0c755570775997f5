/* The report's data-quality sentences: what each file lost, worded by the event model's one formatter
 * (src/model/loss.c) from the copies the report keeps, for the writers and for --strict; and which
 * file's times were moved onto another's clock and how many stage spans were clipped to their
 * request's life, for the text and HTML writers. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model/loss_text.h"
#include "report/report_int.h"

size_t sp_rep_loss_text(const sp_report *r, int counts, char *buf, size_t len)
{
    sp_loss_text t;
    sp_loss_text_init(&t, buf, len, counts != 0);
    if (!r)
        return 0;
    uint64_t file_skipped = 0;
    for (size_t f = 0; r->file_quality && f < r->n_files; f++) {
        sp_loss_text_file(&t, r->file_quality[f].path, &r->file_quality[f].loss);
        file_skipped += r->file_quality[f].loss.skipped;
    }
    /* what the analysis skipped itself (records with invalid times), beyond what the files counted */
    sp_loss_text_skipped(&t, r->skipped_records > file_skipped ? r->skipped_records - file_skipped : 0);
    return t.parts;
}

size_t sp_report_describe_loss(const sp_report *r, char *buf, size_t len)
{
    return sp_rep_loss_text(r, 1, buf, len);
}

int sp_rep_clock_shift_text(const sp_report *r, size_t f, char *buf, size_t len)
{
    if (!r || !r->file_quality || f >= r->n_files || len == 0)
        return 0;
    const sp_file_quality *q = &r->file_quality[f];
    if (!q->clock_shifted || q->clock_onto >= r->n_files)
        return 0;
    char by[32];
    double s = (double)q->clock_shift_ns / 1e9;
    if (s >= 172800 || s <= -172800)
        snprintf(by, sizeof by, "%+.1f days", s / 86400);
    else if (s >= 7200 || s <= -7200)
        snprintf(by, sizeof by, "%+.1f hours", s / 3600);
    else
        snprintf(by, sizeof by, "%+.3f s", s);
    snprintf(buf, len, "clocks: %s's times moved %s (%" PRId64 " ns) onto %s's clock by the files' wall-clock "
             "anchors (different hosts or boots): aligned only as well as the hosts' clocks agree (NTP)", q->path, by,
             q->clock_shift_ns, r->file_quality[q->clock_onto].path);
    return 1;
}

int sp_rep_spans_clipped_text(const sp_report *r, char *buf, size_t len)
{
    if (!r || !r->spans_clipped || len == 0)
        return 0;
    uint64_t n = r->spans_clipped;
    snprintf(buf, len, "spans: %" PRIu64 " stage %s outside %s request's life [arrival, done) and %s clipped to "
             "it (docs/analysis.md section 1): likely an instrumentation bug; the first: request \"%.64s\" in %s",
             n, n == 1 ? "span reached" : "spans reached", n == 1 ? "its" : "their", n == 1 ? "was" : "were",
             r->spans_clipped_request ? r->spans_clipped_request : "?",
             r->spans_clipped_file ? r->spans_clipped_file : "?");
    return 1;
}

size_t sp_rep_unclean_own_files(const sp_report *r)
{
    size_t n = 0;
    for (size_t f = 0; r && r->file_quality && f < r->n_files; f++)
        n += r->file_quality[f].loss.end == SP_TRACE_END_UNCLEAN && !r->file_quality[f].loss.end_by_export;
    return n;
}

int sp_rep_drops_unknown(const sp_report *r)
{
    /* a fleet report's drops are its replicas' recorders' (their live metrics): known */
    return r && !r->source && r->n_files > 0 && r->other_tool_files == r->n_files && r->drops_total == 0;
}

/* What the client saw of the records that match no request, and what that most likely means
 * (docs/analysis.md "Client merge"), for the end of the text report's client-records line and the HTML's data quality; 0 when
 * every record that got an answer matched a request, so that those reports read as before. */
int sp_rep_client_unmatched_text(const sp_report *r, char *buf, size_t size)
{
    if (!r || size == 0)
        return 0;
    buf[0] = '\0';
    if (!r->client_records_unjoined)
        return 0;
    char seen[256] = "", part[96];
    const struct {
        uint64_t n;
        const char *what;
    } cls[] = {
        {r->client_records_unjoined_2xx, "2xx"},
        {r->client_records_unjoined_rejected, "rejected with 429/503"},
        {r->client_records_unjoined_other, "with another status"},
    };
    for (size_t k = 0; k < sizeof cls / sizeof cls[0]; k++) {
        if (!cls[k].n)
            continue;
        snprintf(part, sizeof part, "%s%" PRIu64 " %s", seen[0] ? ", " : "", cls[k].n, cls[k].what);
        strncat(seen, part, sizeof seen - strlen(seen) - 1);
    }
    char silent[160] = "";
    if (r->client_records_failed_unmatched)
        snprintf(silent, sizeof silent, "; %" PRIu64 " of the transport errors %s no request either",
                 r->client_records_failed_unmatched, sp_rep_plural(r->client_records_failed_unmatched, "matches", "match"));
    char why[512];
    if (!r->requests_total)
        /* a client trace alone (the verdict says to load the server's with it): nothing to tell apart */
        snprintf(why, sizeof why, "no loaded trace holds a server request");
    else if (r->unclean_files)
        /* an export marked unclean is whole: the trace it was exported from had no end record */
        snprintf(why, sizeof why,
                 "%s, so they are most likely requests the server answered whose records it lost when it died",
                 sp_rep_unclean_own_files(r) ? "the server trace has no end record"
                                             : "the server trace was exported from one that had no end record");
    else if ((r->client_records_unjoined + r->client_records_failed_unmatched) * 2 > r->client_records_total)
        snprintf(why, sizeof why,
                 "most client records (%" PRIu64 " of %" PRIu64 ") match no request and the server trace shows "
                 "no unclean end: the client and server traces may not belong together (a client of another server, "
                 "or a trace from another run)",
                 r->client_records_unjoined + r->client_records_failed_unmatched, r->client_records_total);
    else
        snprintf(why, sizeof why,
                 "the server trace shows no unclean end, so the server did not record %s: the client and server "
                 "traces may not belong together (a client of another server, or a trace from another run)",
                 sp_rep_plural(r->client_records_unjoined, "it", "them"));
    snprintf(buf, size, "the %" PRIu64 " with no matching request got an answer (%s): %s%s",
             r->client_records_unjoined, seen, why, silent);
    return 1;
}

int sp_rep_trace_context_text(const sp_report *r, char *buf, size_t len)
{
    if (!r || !r->trace_context_mismatched || len == 0)
        return 0;
    snprintf(buf, len,
             "trace context: %" PRIu64 " of %" PRIu64 " joined requests continue another trace or span than "
             "the client sent (a proxy between them starts its own trace, or the ids are wrong)",
             r->trace_context_mismatched, r->trace_context_matched + r->trace_context_mismatched);
    return 1;
}
