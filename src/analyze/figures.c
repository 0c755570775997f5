/* The report's plain figures, counted or copied from the event set rather than derived from the stage
 * partition: request latency percentiles and batch sizes, the clock reconciliation, and data quality
 * (the recorder's drops, skipped records and what each file lost). */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

int sp_ana_server_copy = 1;

/* Request figures: end-to-end, server-side and client latency percentiles, and batch sizes. */
sp_status sp_ana_request_figures(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_report *r = a->r;
    size_t n = a->n_reqs;
    uint64_t *v = sp_ana_scratch_get(a->scratch, n * sizeof *v);
    if (!v)
        return SP_ERR_NOMEM;
    r->request_count = n;
    /* end-to-end is the life the stages partition (docs/analysis.md, "Client merge") */
    uint64_t *e2e = v;
    if (a->detail) { /* sorted in place below: the kept distribution */
        if (!(e2e = a->detail->latency_ns = malloc((n ? n : 1) * sizeof *e2e))) {
            sp_ana_scratch_put(a->scratch, v);
            return SP_ERR_NOMEM;
        }
        a->detail->n_latency = n;
    }
    memcpy(e2e, a->life, n * sizeof *e2e);
    /* the kept distribution sorted, else selected (the same figures) */
    sp_status st = a->detail ? sp_ana_quantiles_in(a->scratch, e2e, n, &r->latency)
                             : sp_ana_quantiles_select_in(a->scratch, e2e, n, &r->latency);
    if (st)
        goto out;
    if (a->any_client || !sp_ana_server_copy) {
        if (a->any_client)
            for (size_t i = 0; i < n; i++)
                v[i] = ev->requests[a->reqs[i]].done_ns - ev->requests[a->reqs[i]].arrival_ns;
        else
            memcpy(v, a->life, n * sizeof *v); /* no client record: each life is [arrival, done) */
        st = sp_ana_quantiles_select_in(a->scratch, v, n, &r->server_latency);
    } else {
        /* no client record: each life is [arrival, done), so the server-side column is the
         * end-to-end one, whose figures were just taken (sorted or selected: the same figures) */
        r->server_latency = r->latency;
    }
    if (st)
        goto out;
    /* client latency from the intended send time (open-loop schedule), else the actual send */
    size_t nc = 0;
    for (size_t i = 0; a->any_client && i < n; i++) {
        const sp_ev_request *q = &ev->requests[a->reqs[i]];
        if (!sp_ana_has_client(ev, q))
            continue;
        const sp_ev_request_cold *c = sp_ev_cold(ev, q);
        uint64_t from = c->client_intended_ns != SP_TIME_NONE && c->client_intended_ns <= c->client_done_ns
                            ? c->client_intended_ns
                            : c->client_send_ns;
        v[nc++] = c->client_done_ns - from;
    }
    r->has_client = nc > 0;
    r->requests_with_client = nc;
    st = sp_ana_quantiles_select_in(a->scratch, v, nc, &r->client_latency);
    if (st)
        goto out;
    size_t nb = 0;
    for (size_t i = 0; i < ev->n_batches; i++)
        if (a->b[i].valid)
            nb++;
    uint64_t *bs = sp_ana_scratch_get(a->scratch, nb * sizeof *bs);
    if (!bs) {
        st = SP_ERR_NOMEM;
        goto out;
    }
    nb = 0;
    for (size_t i = 0; i < ev->n_batches; i++)
        if (a->b[i].valid)
            bs[nb++] = ev->batches[i].nmembers;
    r->batch_count = nb;
    st = sp_ana_quantiles_select_in(a->scratch, bs, nb, &r->batch_size);
    sp_ana_scratch_put(a->scratch, bs);
out:
    sp_ana_scratch_put(a->scratch, v);
    return st;
}

/* The event set's clock reconciliation, with the files' names (DESIGN 8a). */
sp_status sp_ana_clock_figures(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_report *r = a->r;
    r->client_records_unjoined = ev->clients_unjoined;
    r->client_records_unfinished = ev->clients_unfinished;
    r->client_records_unfinished_answered = ev->clients_unfinished_answered;
    r->client_records_timed_out_ok = ev->clients_timed_out_ok;
    r->client_records_failed = ev->clients_failed;
    r->client_records_failed_streams = ev->clients_failed_streams;
    r->client_records_unsent = ev->clients_unsent;
    r->client_records_duplicate = ev->clients_duplicate;
    r->client_records_by_trace = ev->clients_by_trace;
    r->client_records_unjoined_2xx = ev->clients_unjoined_2xx;
    r->client_records_unjoined_rejected = ev->clients_unjoined_rejected;
    r->client_records_unjoined_other = ev->clients_unjoined_other;
    r->client_records_failed_unmatched = ev->clients_failed_unmatched;
    r->client_records_total = ev->n_clients;
    r->trace_context_matched = ev->trace_matched;
    r->trace_context_mismatched = ev->trace_mismatched;
    r->trace_context_requests = 0;
    for (size_t i = 0; ev->n_traces && i < ev->n_requests; i++)
        r->trace_context_requests +=
            ev->requests[i].has_record && sp_ev_cold(ev, &ev->requests[i])->trace != SP_EV_NONE;
    if (!ev->n_clock_offsets)
        return SP_OK;
    r->clock_offsets = malloc(ev->n_clock_offsets * sizeof *r->clock_offsets);
    if (!r->clock_offsets)
        return SP_ERR_NOMEM;
    r->n_clock_offsets = ev->n_clock_offsets;
    for (size_t k = 0; k < ev->n_clock_offsets; k++) {
        sp_clock_offset *o = &r->clock_offsets[k];
        *o = ev->clock_offsets[k];
        o->client_path = sp_report_strdup(r, sp_str_get(&ev->strings, ev->files[o->client_file].path));
        o->server_path = sp_report_strdup(r, sp_str_get(&ev->strings, ev->files[o->server_file].path));
        if (!o->client_path || !o->server_path)
            return SP_ERR_NOMEM;
    }
    return SP_OK;
}

/* Each file's data quality and the totals over files (DESIGN section 10 keeps `drops` and
 * `skipped_records`; these say what damaged traces lost). */
static sp_status file_quality(sp_report *r, const sp_events *ev)
{
    r->file_quality = calloc(ev->n_files ? ev->n_files : 1, sizeof *r->file_quality);
    if (!r->file_quality)
        return SP_ERR_NOMEM;
    for (size_t f = 0; f < ev->n_files; f++) {
        sp_file_quality *q = &r->file_quality[f];
        q->path = sp_report_strdup(r, sp_str_get(&ev->strings, ev->files[f].path));
        if (!q->path)
            return SP_ERR_NOMEM;
        sp_ev_file_loss_of(ev, (uint32_t)f, &q->loss);
        q->clock_shifted = ev->files[f].clock_shifted;
        q->clock_shift_ns = ev->files[f].clock_shift_ns;
        q->clock_onto = ev->files[f].clock_onto;
        r->lost_blocks += q->loss.lost_blocks;
        r->lost_bytes += q->loss.lost_bytes;
        r->undecodable_records += q->loss.undecodable;
        r->orphaned_records += q->loss.orphaned;
        r->unclean_files += q->loss.end == SP_TRACE_END_UNCLEAN;
    }
    return SP_OK;
}

sp_status sp_ana_quality_figures(sp_ana *a)
{
    const sp_events *ev = a->ev;
    sp_report *r = a->r;
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++) {
        r->drops[c].cause = sp_drop_cause_str((sp_drop_cause)c);
        for (size_t f = 0; f < ev->n_files; f++)
            r->drops[c].count += ev->files[f].drops[c];
        r->drops_total += r->drops[c].count;
    }
    r->skipped_records = a->skipped;
    /* a recorder's drop counts come only in servprof's own formats (docs/native-format.md, DESIGN 9) */
    for (size_t f = 0; f < ev->n_files; f++) {
        r->skipped_records += ev->files[f].skipped;
        r->other_tool_files += ev->files[f].format != SP_FORMAT_NATIVE && ev->files[f].format != SP_FORMAT_JSONL;
    }
    r->n_files = ev->n_files;
    return file_quality(r, ev);
}
