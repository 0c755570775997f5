/* The JSON report, servprof.report/1 (DESIGN section 10; every key is listed in
 * docs/report-format.md). A section without data is present with a zero count or null values, never
 * left out and never filled with invented numbers; no NaN or infinity ever reaches the output. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "report/report_int.h"

/* A share (fraction) that only means something when there are requests. */
static void share(FILE *out, double v, int have)
{
    if (!have)
        fputs("null", out);
    else
        sp_rep_json_num(out, v, 6);
}

static void us_or_null(FILE *out, uint64_t ns, int have)
{
    if (have)
        sp_rep_json_us(out, ns);
    else
        fputs("null", out);
}

/* Quantiles in us, or all null when the section has no data for them (!have). */
static void quantiles_us_if(FILE *out, const sp_quantiles *q, int have)
{
    sp_quantiles c = *q;
    if (!have)
        c.count = 0;
    sp_rep_json_quantiles_us(out, &c, 1);
}

/* The same for counts or money (sp_rep_json_quantiles_plain's scale). */
static void quantiles_plain_if(FILE *out, const sp_quantiles *q, int have, double scale)
{
    sp_quantiles c = *q;
    if (!have)
        c.count = 0;
    sp_rep_json_quantiles_plain(out, &c, scale);
}

static void write_requests(FILE *out, const sp_report *r)
{
    fprintf(out, "\"requests\":{\"count\":%" PRIu64 ",\"latency_us\":", r->request_count);
    quantiles_us_if(out, &r->latency, r->request_count > 0);
    fputs(",\"server_latency_us\":", out);
    quantiles_us_if(out, &r->server_latency, r->request_count > 0);
    fprintf(out, ",\"with_client_record\":%" PRIu64 ",\"client_latency_us\":", r->requests_with_client);
    if (r->has_client)
        sp_rep_json_quantiles_us(out, &r->client_latency, 1);
    else
        fputs("null", out);
    fputs("}", out);
}

/* Every request by outcome, with each outcome's own latency, the rejection rate, statuses and the
 * batches in flight at an unclean end (DESIGN 8a; docs/report-format.md, "outcomes"); which traces did
 * not close cleanly is in data_quality. */
static void write_outcomes(FILE *out, const sp_report *r)
{
    fprintf(out, "\"outcomes\":{\"scope\":\"%s\",\"total\":%" PRIu64 ",\"rejection_rate\":",
            sp_outcome_scope_str(r->outcome_scope), r->requests_total);
    share(out, r->rejection_rate, r->requests_total > 0);
    fputs(",\"by_outcome\":{", out);
    for (int o = 0; o < SP_OUTCOME_COUNT; o++) {
        const sp_outcome_row *row = &r->outcomes[o];
        fprintf(out, "%s\"%s\":{\"count\":%" PRIu64 ",\"latency_us\":", o ? "," : "",
                sp_outcome_str((sp_outcome)o), row->count);
        sp_rep_json_quantiles_us(out, &row->latency, 1);
        fputs("}", out);
    }
    fputs("},\"statuses\":[", out);
    for (size_t i = 0; i < r->n_statuses; i++)
        fprintf(out, "%s{\"status\":%" PRId32 ",\"count\":%" PRIu64 "}", i ? "," : "", r->statuses[i].status,
                r->statuses[i].count);
    fprintf(out, "],\"statuses_unlisted\":%" PRIu64 ",\"unfinished_batches\":%" PRIu64 "}", r->statuses_unlisted,
            r->unfinished_batches);
}

/* Clock reconciliation per (client file, server file) pair (DESIGN 8a) and the client records the
 * merge did not use. */
static void write_clock(FILE *out, const sp_report *r)
{
    fputs("\"clock\":{\"offsets\":[", out);
    for (size_t k = 0; k < r->n_clock_offsets; k++) {
        const sp_clock_offset *o = &r->clock_offsets[k];
        int bounded = o->pairs > 0;
        fprintf(out, "%s{\"client_file\":%" PRIu32 ",\"server_file\":%" PRIu32 ",\"source\":\"%s\",\"pairs\":%" PRIu64
                ",\"offset_us\":", k ? "," : "", o->client_file, o->server_file, sp_clock_source_str(o->source), o->pairs);
        sp_rep_json_sus(out, o->offset_ns);
        fputs(",\"lower_us\":", out);
        if (bounded)
            sp_rep_json_sus(out, o->lower_ns);
        else
            fputs("null", out);
        fputs(",\"upper_us\":", out);
        if (bounded)
            sp_rep_json_sus(out, o->upper_ns);
        else
            fputs("null", out);
        fputs(",\"uncertainty_us\":", out);
        us_or_null(out, o->uncertainty_ns, bounded && !o->conflict_ns);
        fprintf(out, ",\"conflict\":%s,\"conflict_us\":", o->conflict_ns ? "true" : "false");
        sp_rep_json_us(out, o->conflict_ns);
        fprintf(out, ",\"violations\":%" PRIu64 "}", o->violations);
    }
    fprintf(out, "],\"client_records\":{\"unjoined\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"duplicate\":%" PRIu64
            ",\"by_trace_id\":%" PRIu64 ",\"unfinished\":%" PRIu64 ",\"failed_streams\":%" PRIu64
            ",\"unsent\":%" PRIu64,
            r->client_records_unjoined, r->client_records_failed, r->client_records_duplicate,
            r->client_records_by_trace, r->client_records_unfinished, r->client_records_failed_streams,
            r->client_records_unsent);
    if (r->client_records_unfinished_answered)
        /* additive, only when some got an answer (so that the other reports read as before) */
        fprintf(out, ",\"unfinished_answered\":%" PRIu64, r->client_records_unfinished_answered);
    if (r->client_records_timed_out_ok)
        /* additive, only when some timed out on a request the server answered ok */
        fprintf(out, ",\"timed_out_ok\":%" PRIu64, r->client_records_timed_out_ok);
    if (r->client_records_unjoined) {
        /* additive keys, only when a record with a response matches no request (so that the other
         * reports read as before): what the client saw of them, and what that most likely means */
        fprintf(out, ",\"unjoined_seen\":{\"2xx\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"other_status\":%" PRIu64
                ",\"no_response\":%" PRIu64 "},\"unjoined_likely\":\"%s\"",
                r->client_records_unjoined_2xx, r->client_records_unjoined_rejected, r->client_records_unjoined_other,
                r->client_records_failed_unmatched,
                !r->requests_total ? "no_server_requests"
                : r->unclean_files ? "server_lost_records"
                                   : "traces_mismatch");
    }
    fputc('}', out);
    fprintf(out, ",\"trace_context\":{\"requests\":%" PRIu64 ",\"matched\":%" PRIu64 ",\"mismatched\":%" PRIu64 "}}",
            r->trace_context_requests, r->trace_context_matched, r->trace_context_mismatched);
}

static void write_stages(FILE *out, const sp_report *r)
{
    int have = r->request_count > 0;
    fputs("\"stages\":[", out);
    for (size_t i = 0; i < r->n_stages; i++) {
        const sp_stage_row *s = &r->stages[i];
        const double shares[3] = {s->share_p50, s->share_p95, s->share_p99};
        if (i)
            putc(',', out);
        sp_rep_json_stage_row(out, s->name, &s->q, have && s->q.count, r->source != NULL, shares, have, s->total_ns);
    }
    fputs("],\"other_share_of_p95\":", out);
    share(out, r->other_share_p95, have);
}

static void write_padding(FILE *out, const sp_report *r)
{
    const sp_padding_summary *p = &r->padding;
    int have = p->batches > 0;
    sp_rep_json_padding_head(out, "padding", "batches", p->batches, p->effective_tokens, p->padded_tokens,
                             p->waste_fraction);
    fputs(",\"waste_p50\":", out);
    share(out, p->waste_p50, have);
    fputs(",\"waste_p95\":", out);
    share(out, p->waste_p95, have);
    fputs(",\"waste_max\":", out);
    share(out, p->waste_max, have);
    fputs(",\"share_of_p95\":", out);
    share(out, p->share_p95, have && r->request_count > 0);
    fputs(",\"share_of_bill\":", out);
    share(out, p->share_of_bill, have);
    fputs(",\"padding_us_total\":", out);
    if (have)
        sp_rep_json_us(out, p->padding_ns_total);
    else
        fputs("null", out);
    fputs("}", out);
}

static void write_batches(FILE *out, const sp_report *r)
{
    fprintf(out, "\"batches\":{\"count\":%" PRIu64 ",\"size\":", r->batch_count);
    quantiles_plain_if(out, &r->batch_size, r->batch_count > 0, 1.0);
    fputs("}", out);
}


/* Signed ns as us: HTA's figures can fall below zero (docs/analysis.md section 4). */
static void json_us_signed(FILE *out, int64_t ns)
{
    if (ns < 0) {
        putc('-', out);
        sp_rep_json_us(out, (uint64_t)0 - (uint64_t)ns);
    } else {
        sp_rep_json_us(out, (uint64_t)ns);
    }
}

/* HTA's breakdown under --hta-compat: whether HTA could produce it, why not, and its own figures. */
static void write_hta(FILE *out, const sp_report *r)
{
    const sp_gpu_summary *g = &r->gpu;
    int have = r->hta_compat && g->present;
    fputs(",\"hta_breakdown_valid\":", out);
    fputs(!have ? "null" : g->hta_breakdown_valid ? "true" : "false", out);
    fputs(",\"hta_breakdown_note\":", out);
    if (have && g->hta_breakdown_note)
        sp_json_write_str(out, g->hta_breakdown_note, 0);
    else
        fputs("null", out);
    fputs(",\"hta_figures_us\":", out);
    if (!have) {
        fputs("null", out);
        return;
    }
    fputs("{\"kernel_time\":", out);
    json_us_signed(out, g->hta_kernel_time_ns);
    fputs(",\"idle\":", out);
    json_us_signed(out, g->hta_idle_ns);
    fputs(",\"compute\":", out);
    json_us_signed(out, g->hta_compute_ns);
    fputs(",\"non_compute\":", out);
    json_us_signed(out, g->hta_non_compute_ns);
    fprintf(out, ",\"end_early_events\":%" PRIu64 "}", g->hta_end_early);
}

/* CUDA graph launches, apart from the per-kernel launch statistics. */
static void write_graph_launches(FILE *out, const sp_gpu_summary *g, int have)
{
    const sp_graph_launch_summary *gl = &g->graph;
    int any = have && gl->launches > 0;
    fprintf(out, ",\"graph_launches\":{\"launches\":%" PRIu64 ",\"kernels\":%" PRIu64 ",\"work\":%" PRIu64
            ",\"kernels_per_launch\":",
            any ? gl->launches : 0, any ? gl->kernels : 0, any ? gl->work : 0);
    quantiles_plain_if(out, &gl->kernels_per_launch, any, 1.0);
    fputs(",\"first_delay_us\":", out);
    quantiles_us_if(out, &gl->first_delay, any);
    fputs(",\"cpu_sum_us\":", out);
    us_or_null(out, gl->cpu_sum_ns, any);
    fputs("}", out);
}

/* Device time inside and outside the step marks (null figures without marks or device work). */
static void write_steps(FILE *out, const sp_gpu_summary *g, int have)
{
    const sp_step_summary *st = &g->steps;
    int any = have && st->count > 0;
    fprintf(out, ",\"steps\":{\"count\":%" PRIu64 ",\"source\":", st->count);
    if (st->count)
        sp_json_write_str(out, sp_step_source_str(st->source), 0);
    else
        fputs("null", out);
    static const char *const keys[] = {"window_us", "analysed_us", "busy_inside_us", "idle_inside_us",
                                       "busy_outside_us", "idle_outside_us", "host_wait_inside_us",
                                       "kernel_wait_inside_us", "other_inside_us"};
    const uint64_t vals[] = {st->window_ns, st->analysed_ns, st->busy_inside_ns, st->idle_inside_ns,
                             st->busy_outside_ns, st->idle_outside_ns, st->host_wait_inside_ns,
                             st->kernel_wait_inside_ns, st->other_inside_ns};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        fprintf(out, ",\"%s\":", keys[i]);
        us_or_null(out, vals[i], any);
    }
    fputs("}", out);
}

static void write_gpu(FILE *out, const sp_report *r)
{
    const sp_gpu_summary *g = &r->gpu;
    int have = g->present;
    fputs("\"gpu\":{\"present\":", out);
    fputs(have ? "true" : "false", out);
    fputs(",\"device_kind\":", out);
    sp_json_write_str(out, sp_device_kind_str(g->device_kind), 0);
    fputs(",\"span_us\":", out);
    us_or_null(out, g->span_ns, have);
    fputs(",\"busy_us\":", out);
    us_or_null(out, g->busy_ns, have);
    fputs(",\"idle_us\":", out);
    us_or_null(out, g->idle_ns, have);
    fputs(",\"compute_us\":", out);
    us_or_null(out, g->compute_ns, have);
    fputs(",\"non_compute_us\":", out);
    us_or_null(out, g->non_compute_ns, have);
    fprintf(out, ",\"kernels\":%" PRIu64 ",\"copies\":%" PRIu64 ",\"memsets\":%" PRIu64,
            have ? g->kernels : 0, have ? g->copies : 0, have ? g->memsets : 0);
    fputs(",\"idle_breakdown\":[", out);
    for (size_t i = 0; have && i < g->n_streams; i++) {
        const sp_stream_idle *s = &g->idle_breakdown[i];
        fprintf(out, "%s{\"device\":%" PRIu32 ",\"stream\":%" PRId64 ",\"host_wait_us\":", i ? "," : "",
                s->device, s->stream);
        sp_rep_json_us(out, s->host_wait_ns);
        fputs(",\"kernel_wait_us\":", out);
        sp_rep_json_us(out, s->kernel_wait_ns);
        fputs(",\"other_us\":", out);
        sp_rep_json_us(out, s->other_ns);
        fputs("}", out);
    }
    fputs("],\"kernel_stats\":[", out);
    for (size_t i = 0; have && i < g->n_kernel_stats; i++) {
        const sp_kernel_stat *k = &g->kernel_stats[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", out);
        sp_json_write_str(out, k->name, 0);
        fprintf(out, ",\"count\":%" PRIu64 ",\"total_us\":", k->count);
        sp_rep_json_us(out, k->total_ns);
        fputs(",\"duration_us\":", out);
        sp_rep_json_quantiles_us(out, &k->q, 1);
        if (k->mangled) {
            fputs(",\"mangled\":", out);
            sp_json_write_str(out, k->mangled, 0);
        }
        fputs("}", out);
    }
    fputs("],\"copy_stats\":[", out);
    for (size_t i = 0; have && i < g->n_copy_stats; i++) {
        const sp_copy_stat *c = &g->copy_stats[i];
        fputs(i ? ",{\"kind\":" : "{\"kind\":", out);
        sp_json_write_str(out, c->kind, 0);
        fprintf(out, ",\"count\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"total_us\":", c->count, c->bytes);
        sp_rep_json_us(out, c->total_ns);
        fputs(",\"gbytes_per_s\":", out);
        sp_rep_json_num(out, c->total_ns ? c->gbytes_per_s : NAN, 6);
        fputs("}", out);
    }
    int joined = have && g->launches_joined > 0;
    fprintf(out, "],\"launch\":{\"joined\":%" PRIu64 ",\"delay_us\":", joined ? g->launches_joined : 0);
    quantiles_us_if(out, &g->launch_delay, joined);
    fputs(",\"delay_sum_us\":", out);
    us_or_null(out, g->launch_delay_sum_ns, joined);
    fputs(",\"cpu_sum_us\":", out);
    us_or_null(out, g->launch_cpu_sum_ns, joined);
    fputs(",\"gpu_sum_us\":", out);
    us_or_null(out, g->launch_gpu_sum_ns, joined);
    fprintf(out, ",\"short_kernels\":%" PRIu64 "}", joined ? g->short_kernels : 0);
    write_graph_launches(out, g, have);
    write_steps(out, g, have);
    write_hta(out, r);
    fputs("}", out);
}

static void write_cost(FILE *out, const sp_report *r)
{
    const sp_cost_summary *c = &r->cost;
    int have_window = c->window_ns > 0;
    int have_req = r->request_count > 0;
    fputs("\"cost\":{\"price_per_hour\":", out);
    sp_rep_json_num(out, c->price_per_hour, 9);
    fprintf(out, ",\"price_is_default\":%s,\"window_us\":", c->price_is_default ? "true" : "false");
    us_or_null(out, c->window_ns, have_window);
    fputs(",\"bill\":", out);
    sp_rep_json_num(out, have_window ? c->bill : NAN, 9);
    fputs(",\"per_request\":", out);
    sp_rep_json_num(out, have_window && have_req ? c->per_request : NAN, 9);
    fputs(",\"by_state\":", out);
    sp_rep_json_states(out, c->by_state, 1.0, have_window, 9);
    fputs(",\"by_state_share\":", out);
    sp_rep_json_states(out, c->by_state_share, 1.0, have_window, 6);
    fputs(",\"per_request_by_state\":", out);
    /* DESIGN section 7: cost per request = bill / requests, with the same split */
    sp_rep_json_states(out, c->by_state, (double)r->request_count, have_window && have_req, 9);
    fputs(",\"request_cost\":", out);
    quantiles_plain_if(out, &c->request_cost_nano, have_req, 1e-9);
    fputs("}", out);
}

static void write_verdict(FILE *out, const sp_report *r)
{
    sp_rep_json_verdict(out, &r->verdict, r->verdict.stage != NULL && r->request_count > 0, &r->prediction);
}

/* What damaged traces lost, per file (docs/report-format.md "data_quality"). `complete` is what
 * --strict checks: nothing lost, dropped or skipped. */
static void write_loss(FILE *out, const sp_report *r)
{
    fprintf(out,
            "\"data_quality\":{\"complete\":%s,\"lost_blocks\":%" PRIu64 ",\"lost_bytes\":%" PRIu64
            ",\"undecodable_records\":%" PRIu64 ",\"orphaned_records\":%" PRIu64 ",\"unclean_files\":%zu,",
            sp_report_describe_loss(r, NULL, 0) ? "false" : "true", r->lost_blocks, r->lost_bytes,
            r->undecodable_records, r->orphaned_records, r->unclean_files);
    /* stage spans clipped to their request's life (docs/analysis.md section 1): not a loss, so not in
     * `complete`; the first request and its file null when there is none */
    fprintf(out, "\"spans_clipped\":{\"count\":%" PRIu64 ",\"first_request\":", r->spans_clipped);
    if (r->spans_clipped_request)
        sp_json_write_str(out, r->spans_clipped_request, 0);
    else
        fputs("null", out);
    fputs(",\"first_file\":", out);
    if (r->spans_clipped_file)
        sp_json_write_str(out, r->spans_clipped_file, 0);
    else
        fputs("null", out);
    fputs("},\"files\":[", out);
    for (size_t f = 0; r->file_quality && f < r->n_files; f++) {
        const sp_file_quality *q = &r->file_quality[f];
        const sp_file_loss *l = &q->loss;
        fputs(f ? ",\n {\"path\":" : "\n {\"path\":", out);
        sp_json_write_str(out, q->path ? q->path : "", 0);
        fprintf(out, ",\"end\":\"%s\",\"lost_blocks\":%" PRIu64 ",\"lost_bytes\":%" PRIu64 ",\"first_lost_offset\":",
                sp_trace_end_str(l->end), l->lost_blocks, l->lost_bytes);
        if (l->regions)
            fprintf(out, "%" PRIu64, l->first_lost_offset);
        else
            fputs("null", out);
        fprintf(out, ",\"regions_total\":%" PRIu64 ",\"regions\":[", l->regions);
        for (size_t i = 0; i < l->n_listed; i++)
            fprintf(out, "%s{\"offset\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"blocks\":%" PRIu64 ",\"to_end\":%s}",
                    i ? "," : "", l->region[i].offset, l->region[i].bytes, l->region[i].blocks,
                    l->region[i].to_end ? "true" : "false");
        fprintf(out, "],\"undecodable_records\":%" PRIu64 ",\"orphaned_records\":%" PRIu64 ",\"dropped\":%" PRIu64
                ",\"skipped\":%" PRIu64,
                l->undecodable, l->orphaned, l->dropped, l->skipped);
        /* only for a file put on another's clock, so the reports of files on one clock are unchanged */
        if (q->clock_shifted)
            fprintf(out, ",\"clock_shift_ns\":%" PRId64 ",\"clock_onto_file\":%zu", q->clock_shift_ns,
                    q->clock_onto);
        putc('}', out);
    }
    fputs("]}", out);
}

static void write_quality(FILE *out, const sp_report *r)
{
    fprintf(out, "\"drops\":{\"total\":%" PRIu64 ",\"by_cause\":{", r->drops_total);
    int first = 1;
    for (int i = 0; i < SP_DROP_CAUSE_COUNT; i++) {
        /* every cause is listed, even at 0; the cause name is the recorder's static name */
        const char *cause = r->drops[i].cause ? r->drops[i].cause : sp_drop_cause_str((sp_drop_cause)i);
        if (!first)
            putc(',', out);
        first = 0;
        sp_json_write_str(out, cause, 0);
        fprintf(out, ":%" PRIu64, r->drops[i].count);
    }
    fprintf(out, "}},\"skipped_records\":%" PRIu64 ",\n", r->skipped_records);
    write_loss(out, r);
}

/* "source": null for a report analysed from traces; for one estimated from live metrics, where from,
 * which replicas and window, and the buckets' resolution (docs/report-format.md). */
static void write_source(FILE *out, const sp_report *r)
{
    const sp_report_source *s = r->source;
    fputs("\"source\":", out);
    if (!s) {
        fputs("null", out);
        return;
    }
    fputs("{\"kind\":", out);
    sp_json_write_str(out, s->kind ? s->kind : "", 0);
    fputs(",\"url\":", out);
    sp_json_write_str(out, s->url ? s->url : "", 0);
    fputs(",\"selector\":", out);
    sp_json_write_str(out, s->selector ? s->selector : "", 0);
    fputs(",\"range\":", out);
    sp_json_write_str(out, s->range ? s->range : "", 0);
    fputs(",\"window_s\":", out);
    sp_rep_json_num(out, s->window_s, 9);
    fputs(",\"end_unix_s\":", out);
    if (s->end_unix_s > 0)
        sp_rep_json_num(out, s->end_unix_s, 13);
    else
        fputs("null", out);
    fputs(",\"bucket_growth\":", out);
    sp_rep_json_num(out, s->bucket_growth, 9);
    fputs(",\"replicas\":[", out);
    for (size_t i = 0; i < s->n_replicas; i++) {
        if (i)
            putc(',', out);
        sp_json_write_str(out, s->replicas[i] ? s->replicas[i] : "", 0);
    }
    fputs("],\"replicas_down\":[", out);
    for (size_t i = 0; i < s->n_down; i++) {
        if (i)
            putc(',', out);
        sp_json_write_str(out, s->down[i] ? s->down[i] : "", 0);
    }
    fputs("],\"replicas_never\":[", out);
    for (size_t i = 0; i < s->n_never; i++) {
        if (i)
            putc(',', out);
        sp_json_write_str(out, s->never[i] ? s->never[i] : "", 0);
    }
    putc(']', out);
    if (s->n_nodev) {
        /* only where some replica has device series and these have none: other reports read as before */
        fputs(",\"replicas_no_device\":[", out);
        for (size_t i = 0; i < s->n_nodev; i++) {
            if (i)
                putc(',', out);
            sp_json_write_str(out, s->nodev[i] ? s->nodev[i] : "", 0);
        }
        fputs("],\"replicas_no_device_bill\":", out);
        sp_rep_json_num(out, sp_rep_nodev_bill(r), 9);
    }
    putc('}', out);
}

sp_status sp_report_write_json(const sp_report *r, FILE *out)
{
    if (!r || !out)
        return SP_ERR_INVALID;
    fprintf(out, "{\"schema\":\"servprof.report/1\",\"version\":\"%s\",\"files\":%zu,\"hta_compat\":%s,\n",
            SP_VERSION_STRING, r->n_files, r->hta_compat ? "true" : "false");
    write_requests(out, r);
    fputs(",\n", out);
    write_outcomes(out, r);
    fputs(",\n", out);
    write_clock(out, r);
    fputs(",\n", out);
    write_stages(out, r);
    fputs(",\n", out);
    write_padding(out, r);
    fputs(",\n", out);
    write_batches(out, r);
    fputs(",\n", out);
    write_gpu(out, r);
    fputs(",\n", out);
    write_cost(out, r);
    fputs(",\n", out);
    write_verdict(out, r);
    if (r->generation) { /* only for traces with generation data (docs/generation.md) */
        fputs(",\n", out);
        sp_rep_json_generation(out, r);
    }
    fputs(",\n", out);
    write_quality(out, r);
    fputs(",\n", out);
    write_source(out, r);
    fputs("}\n", out);
    return sp_rep_finish(out);
}
