/* sp_analyze: runs the analysis stages (partition, stage rows and shares, padding, GPU timeline, cost,
 * verdict) over a finished event set and owns the report they fill. Also the small key map the
 * stages use to give dense ids to devices, streams, kernel names and launch correlations. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/util_int.h"

/* The report plus the strings it owns (stage and kernel names, the verdict sentence). */
typedef struct report_priv {
    sp_report pub;          /* first: a sp_report * is a report_priv * */
    char **strs;
    size_t n_strs, cap_strs;
} report_priv;

#define SP_REPORT_MAX_STRINGS ((size_t)1 << 30)

const char *sp_report_strdup(sp_report *r, const char *s)
{
    report_priv *p = (report_priv *)r;
    if (SP_GROW(p->strs, p->cap_strs, p->n_strs + 1, SP_REPORT_MAX_STRINGS))
        return NULL;
    size_t len = strlen(s);
    char *c = malloc(len + 1);
    if (!c)
        return NULL;
    memcpy(c, s, len + 1);
    p->strs[p->n_strs++] = c;
    return c;
}

void sp_report_destroy(sp_report *r)
{
    if (!r)
        return;
    report_priv *p = (report_priv *)r;
    for (size_t i = 0; i < p->n_strs; i++)
        free(p->strs[i]);
    free(p->strs);
    free(r->stages);
    free(r->gpu.idle_breakdown);
    free(r->gpu.kernel_stats);
    free(r->gpu.copy_stats);
    free(r->verdict.ranking);
    free(r->clock_offsets);
    free(r->file_quality);
    free(p);
}

void sp_analyze_options_init(sp_analyze_options *opt)
{
    memset(opt, 0, sizeof *opt);
}

const char *sp_cost_state_str(sp_cost_state s)
{
    switch (s) {
    case SP_COST_USEFUL: return "useful";
    case SP_COST_PADDING: return "padding";
    case SP_COST_COPIES: return "copies";
    case SP_COST_GAP: return "gap";
    case SP_COST_NO_BATCH: return "no_batch";
    case SP_COST_STATE_COUNT: break;
    }
    return "unknown";
}

/* ---------- the analysis ---------- */

void sp_ana_free(sp_ana *a)
{
    if (!a)
        return;
    free(a->reqs);
    free(a->life_lo);
    free(a->life_hi);
    free(a->b);
    free(a->segs);
    free(a->devs);
    free(a->act_dev);
    free(a->named_ids);
    free(a->times);
    free(a->padding);
    free(a->life);
    free(a->by_latency);
}

static const char *const fixed_row_names[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h",
                                              "postprocess"};

static sp_status name_rows(sp_ana *a)
{
    sp_report *r = a->r;
    r->n_stages = a->n_stages;
    r->stages = calloc(a->n_stages, sizeof *r->stages);
    if (!r->stages)
        return SP_ERR_NOMEM;
    for (size_t s = 0; s < a->n_stages; s++) {
        const char *name;
        if (s < 7)
            name = fixed_row_names[s];
        else if ((int)s == a->st_network)
            name = "network";
        else if ((int)s == a->st_other)
            name = "other";
        else
            name = sp_str_get(&a->ev->strings, a->named_ids[s - 7 - (a->st_network >= 0)]);
        r->stages[s].name = sp_report_strdup(r, name);
        if (!r->stages[s].name)
            return SP_ERR_NOMEM;
    }
    return SP_OK;
}

static sp_status request_figures(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_report *r = a->r;
    size_t n = a->n_reqs;
    uint64_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return SP_ERR_NOMEM;
    r->request_count = n;
    /* end-to-end is the life the stages partition (docs/analysis.md, "Client merge") */
    memcpy(v, a->life, n * sizeof *v);
    sp_status st = sp_ana_quantiles(v, n, &r->latency);
    if (st)
        goto out;
    for (size_t i = 0; i < n; i++)
        v[i] = ev->requests[a->reqs[i]].done_ns - ev->requests[a->reqs[i]].arrival_ns;
    st = sp_ana_quantiles(v, n, &r->server_latency);
    if (st)
        goto out;
    /* client latency from the intended send time (open-loop schedule), else the actual send */
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        const sp_ev_request *q = &ev->requests[a->reqs[i]];
        if (!sp_ana_has_client(q))
            continue;
        uint64_t from = q->client_intended_ns != SP_TIME_NONE && q->client_intended_ns <= q->client_done_ns
                            ? q->client_intended_ns
                            : q->client_send_ns;
        v[nc++] = q->client_done_ns - from;
    }
    r->has_client = nc > 0;
    r->requests_with_client = nc;
    st = sp_ana_quantiles(v, nc, &r->client_latency);
    if (st)
        goto out;
    size_t nb = 0;
    for (size_t i = 0; i < ev->n_batches; i++)
        if (a->b[i].valid)
            nb++;
    uint64_t *bs = malloc((nb ? nb : 1) * sizeof *bs);
    if (!bs) {
        st = SP_ERR_NOMEM;
        goto out;
    }
    nb = 0;
    for (size_t i = 0; i < ev->n_batches; i++)
        if (a->b[i].valid)
            bs[nb++] = ev->batches[i].nmembers;
    r->batch_count = nb;
    st = sp_ana_quantiles(bs, nb, &r->batch_size);
    free(bs);
out:
    free(v);
    return st;
}

/* The event set's clock reconciliation, with the files' names (DESIGN 8a). */
static sp_status clock_figures(sp_ana *a)
{
    sp_events *ev = a->ev;
    sp_report *r = a->r;
    r->client_records_unjoined = ev->clients_unjoined;
    r->client_records_failed = ev->clients_failed;
    r->client_records_duplicate = ev->clients_duplicate;
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
        r->lost_blocks += q->loss.lost_blocks;
        r->lost_bytes += q->loss.lost_bytes;
        r->undecodable_records += q->loss.undecodable;
        r->orphaned_records += q->loss.orphaned;
        r->unclean_files += q->loss.end == SP_TRACE_END_UNCLEAN;
    }
    return SP_OK;
}

sp_status sp_analyze(sp_events *ev, const sp_analyze_options *opt, sp_report **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!ev || !out) {
        sp_errf(err, errlen, "sp_analyze: events and out must not be NULL");
        return SP_ERR_INVALID;
    }
    sp_analyze_options o;
    if (opt)
        o = *opt;
    else
        sp_analyze_options_init(&o);
    if (o.clock_mode != SP_CLOCK_AUTO && o.clock_mode != SP_CLOCK_NONE && o.clock_mode != SP_CLOCK_FIXED) {
        sp_errf(err, errlen, "sp_analyze: unknown clock mode %d", (int)o.clock_mode);
        return SP_ERR_INVALID;
    }
    if (o.outcomes != SP_SCOPE_OK && o.outcomes != SP_SCOPE_FINISHED) {
        sp_errf(err, errlen, "sp_analyze: unknown outcome scope %d", (int)o.outcomes);
        return SP_ERR_INVALID;
    }
    sp_status st = sp_ev_set_clock(ev, o.clock_mode, o.clock_offset_ns);
    if (!st)
        st = sp_ev_finish(ev, o.lenient != 0, err, errlen);
    if (st) {
        if (st == SP_ERR_NOMEM)
            sp_errf(err, errlen, "out of memory while finishing the event set");
        return st;
    }
    report_priv *p = calloc(1, sizeof *p);
    if (!p) {
        sp_errf(err, errlen, "out of memory");
        return SP_ERR_NOMEM;
    }
    sp_report *r = &p->pub;
    sp_ana a;
    memset(&a, 0, sizeof a);
    a.ev = ev;
    a.opt = o;
    a.r = r;
    a.st_network = -1;
    st = sp_ana_partition(&a, err, errlen);
    if (!st)
        st = sp_ana_outcomes(&a, err, errlen);
    if (!st)
        st = name_rows(&a);
    if (!st)
        st = sp_ana_stage_rows(&a);
    if (!st)
        st = request_figures(&a);
    if (!st)
        st = clock_figures(&a);
    if (!st)
        st = sp_ana_padding(&a);
    if (!st)
        st = sp_ana_gpu(&a);
    if (!st)
        st = sp_ana_cost(&a);
    if (!st)
        st = sp_ana_verdict(&a);
    if (st) {
        if (st == SP_ERR_NOMEM && (!err || !errlen || !err[0]))
            sp_errf(err, errlen, "out of memory during analysis");
        else if (st == SP_ERR_LIMIT && (!err || !errlen || !err[0]))
            sp_errf(err, errlen, "analysis exceeds a size limit");
        sp_ana_free(&a);
        sp_report_destroy(r);
        return st;
    }
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++) {
        r->drops[c].cause = sp_drop_cause_str((sp_drop_cause)c);
        for (size_t f = 0; f < ev->n_files; f++)
            r->drops[c].count += ev->files[f].drops[c];
        r->drops_total += r->drops[c].count;
    }
    r->skipped_records = a.skipped;
    for (size_t f = 0; f < ev->n_files; f++)
        r->skipped_records += ev->files[f].skipped;
    r->n_files = ev->n_files;
    if ((st = file_quality(r, ev))) {
        sp_errf(err, errlen, "out of memory");
        sp_ana_free(&a);
        sp_report_destroy(r);
        return st;
    }
    r->hta_compat = o.hta_compat != 0;
    sp_ana_free(&a);
    *out = r;
    return SP_OK;
}
