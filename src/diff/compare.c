/* sp_diff_compare: two runs figure by figure. Merges their stages, lists every metric (docs/diff.md,
 * "Metrics") with both values and the change, and when both runs carry per-request rows runs the
 * bootstrap for the intervals of the per-request figures. The diff owns the strings it hands out. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "diff/diff_int.h"

/* The diff plus the strings it owns. */
typedef struct diff_priv {
    sp_diff pub; /* first: a sp_diff * is a diff_priv * */
    char **strs;
    size_t n_strs, cap_strs;
    size_t cap_metrics, cap_checks;
    int report_digits; /* a side was read from a report: compare at the digits its JSON carries */
} diff_priv;

#define MAX_STRINGS ((size_t)1 << 20)

/* A copy of s owned by the diff; NULL for NULL, or when out of memory (*failed then set). */
static const char *keep(diff_priv *p, const char *s, int *failed)
{
    if (!s)
        return NULL;
    char *c = sp_diff_strdup(s, failed);
    if (!c)
        return NULL;
    if (SP_GROW(p->strs, p->cap_strs, p->n_strs + 1, MAX_STRINGS)) {
        free(c);
        *failed = 1;
        return NULL;
    }
    p->strs[p->n_strs++] = c;
    return c;
}

void sp_diff_options_init(sp_diff_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->seed = SP_DIFF_DEFAULT_SEED;
    opt->resamples = SP_DIFF_DEFAULT_RESAMPLES;
    opt->confidence = SP_DIFF_DEFAULT_CONFIDENCE;
}

const char *sp_diff_unit_str(sp_diff_unit u)
{
    switch (u) {
    case SP_DIFF_UNIT_NS: return "ns";
    case SP_DIFF_UNIT_FRACTION: return "fraction";
    case SP_DIFF_UNIT_DOLLARS: return "dollars";
    case SP_DIFF_UNIT_COUNT: return "count";
    }
    return "?";
}

void sp_diff_destroy(sp_diff *d)
{
    if (!d)
        return;
    diff_priv *p = (diff_priv *)d;
    for (size_t i = 0; i < p->n_strs; i++)
        free(p->strs[i]);
    free(p->strs);
    free(d->stages);
    free(d->metrics);
    free(d->checks);
    free(p);
}

/* ---- stages of both runs, in report order ---- */

/* Report order (DESIGN section 3): the built-in stages, network, named stages alphabetically, other. */
static int stage_rank(const char *name)
{
    static const char *const fixed[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h", "postprocess",
                                        "network"};
    for (int i = 0; i < 8; i++)
        if (strcmp(name, fixed[i]) == 0)
            return i;
    return strcmp(name, "other") == 0 ? 9 : 8;
}

static int stage_cmp(const void *a, const void *b)
{
    const sp_diff_stage *x = a, *y = b;
    int rx = stage_rank(x->name), ry = stage_rank(y->name);
    if (rx != ry)
        return rx - ry;
    return strcmp(x->name, y->name);
}

static int stage_index(const sp_diff_run *run, const char *name)
{
    for (size_t s = 0; s < run->n_stages; s++)
        if (strcmp(run->stages[s].name, name) == 0)
            return (int)s;
    return -1;
}

static sp_status merge_stages(diff_priv *p, const sp_diff_run *b, const sp_diff_run *a)
{
    sp_diff *d = &p->pub;
    d->stages = calloc(b->n_stages + a->n_stages + 1, sizeof *d->stages);
    if (!d->stages)
        return SP_ERR_NOMEM;
    int failed = 0;
    for (int side = 0; side < 2; side++) {
        const sp_diff_run *run = side ? a : b;
        for (size_t s = 0; s < run->n_stages; s++) {
            const char *name = run->stages[s].name;
            size_t u = 0;
            while (u < d->n_stages && strcmp(d->stages[u].name, name) != 0)
                u++;
            if (u == d->n_stages) {
                d->stages[u].name = keep(p, name, &failed);
                if (failed)
                    return SP_ERR_NOMEM;
                d->n_stages++;
            }
            if (side)
                d->stages[u].in_new = 1;
            else
                d->stages[u].in_base = 1;
        }
    }
    qsort(d->stages, d->n_stages, sizeof *d->stages, stage_cmp);
    return SP_OK;
}

/* ---- metrics ---- */

/* v as the report's JSON writes it (src/report/json.c: sp_rep_json_num, `sig` significant digits). */
static double at_digits(double v, int sig)
{
    if (!isfinite(v))
        return v;
    char text[64];
    snprintf(text, sizeof text, "%.*g", sig, v);
    return strtod(text, NULL);
}

static sp_status add_metric(diff_priv *p, const char *path, const char *stage, sp_diff_unit unit, double base,
                            double after)
{
    if (p->report_digits && (unit == SP_DIFF_UNIT_DOLLARS || unit == SP_DIFF_UNIT_FRACTION)) {
        /* A report carries its money to 9 significant digits and its shares to 6; the other side's
         * exact figure is rounded the same way, or the same run read from its trace and from its report
         * differs by the rounding (-$2.76e-15 per request, shown as a change) */
        int sig = unit == SP_DIFF_UNIT_DOLLARS ? 9 : 6;
        base = at_digits(base, sig);
        after = at_digits(after, sig);
    }
    sp_diff *d = &p->pub;
    if (SP_GROW(d->metrics, p->cap_metrics, d->n_metrics + 1, MAX_STRINGS))
        return SP_ERR_NOMEM;
    int failed = 0;
    sp_diff_metric *m = &d->metrics[d->n_metrics];
    memset(m, 0, sizeof *m);
    m->path = keep(p, path, &failed);
    m->stage = stage; /* already the diff's */
    if (failed)
        return SP_ERR_NOMEM;
    m->unit = unit;
    m->base_value = base;
    m->new_value = after;
    m->change = after - base; /* NaN when either is */
    m->rel_change = base != 0 && isfinite(base) ? m->change / base : NAN;
    d->n_metrics++;
    return SP_OK;
}

static double stage_fig(const sp_diff_run *run, int s, int field)
{
    if (s < 0)
        return 0; /* a stage the run lacks took no time in it */
    const sp_diff_stage_fig *f = &run->stages[s];
    if (field < 3 && f->pct_unknown)
        return NAN; /* not known: no change, no condition holds on it */
    switch (field) {
    case 0: return (double)f->p50_ns;
    case 1: return (double)f->p95_ns;
    case 2: return (double)f->p99_ns;
    default: return f->share_p95;
    }
}

/* Every metric, in docs/diff.md's order; stat[k] gets the bootstrap statistic of metric k, or -1. */
static sp_status list_metrics(diff_priv *p, const sp_diff_run *b, const sp_diff_run *a, long *stat)
{
    sp_diff *d = &p->pub;
    sp_status st;
#define ADD(path, stage, unit, bv, av, k)                                                                      \
    do {                                                                                                       \
        stat[d->n_metrics] = (k);                                                                              \
        if ((st = add_metric(p, (path), (stage), (unit), (bv), (av))))                                         \
            return st;                                                                                         \
    } while (0)
    ADD("requests.count", NULL, SP_DIFF_UNIT_COUNT, (double)b->requests, (double)a->requests, -1);
    static const char *const lat[3] = {"latency.p50", "latency.p95", "latency.p99"};
    for (int j = 0; j < 3; j++)
        ADD(lat[j], NULL, SP_DIFF_UNIT_NS, (double)b->lat_ns[j], (double)a->lat_ns[j], (long)SP_DIFF_STAT_LAT(j));
    static const char *const field[4] = {"p50", "p95", "p99", "share_of_p95"};
    for (size_t u = 0; u < d->n_stages; u++) {
        const char *name = d->stages[u].name;
        int sb = stage_index(b, name), sa = stage_index(a, name);
        for (int f = 0; f < 4; f++) {
            size_t len = strlen(name) + 32;
            char *path = malloc(len);
            if (!path)
                return SP_ERR_NOMEM;
            snprintf(path, len, "stage.%s.%s", name, field[f]);
            stat[d->n_metrics] = (long)SP_DIFF_STAT_STAGE(u, f);
            st = add_metric(p, path, name, f < 3 ? SP_DIFF_UNIT_NS : SP_DIFF_UNIT_FRACTION, stage_fig(b, sb, f),
                            stage_fig(a, sa, f));
            free(path);
            if (st)
                return st;
        }
    }
    ADD("padding.share_of_p95", NULL, SP_DIFF_UNIT_FRACTION, b->padding_share_p95, a->padding_share_p95,
        (long)SP_DIFF_STAT_PADDING(d->n_stages));
    ADD("padding.waste_fraction", NULL, SP_DIFF_UNIT_FRACTION, b->waste_fraction, a->waste_fraction, -1);
    ADD("padding.share_of_bill", NULL, SP_DIFF_UNIT_FRACTION, b->padding_share_of_bill, a->padding_share_of_bill, -1);
    ADD("cost.per_request", NULL, SP_DIFF_UNIT_DOLLARS, b->per_request, a->per_request, -1);
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        char path[64];
        snprintf(path, sizeof path, "cost.per_request_by_state.%s", sp_cost_state_str((sp_cost_state)s));
        ADD(path, NULL, SP_DIFF_UNIT_DOLLARS, b->per_request_by_state[s], a->per_request_by_state[s], -1);
    }
#undef ADD
    return SP_OK;
}

static sp_status fill_side(diff_priv *p, sp_diff_side *side, const sp_diff_run *run)
{
    int failed = 0;
    side->label = keep(p, run->label ? run->label : "", &failed);
    side->source = run->source;
    side->files = run->files;
    side->replicas = run->replicas;
    side->requests = run->requests;
    side->has_rows = run->n_rows > 0;
    side->price_per_hour = run->price_per_hour;
    side->price_is_default = run->price_is_default;
    side->verdict_stage = keep(p, run->verdict_stage, &failed);
    side->verdict_group = keep(p, run->verdict_group ? run->verdict_group : "none", &failed);
    side->verdict_share_p95 = run->verdict_share_p95;
    side->verdict_sentence = keep(p, run->verdict_sentence, &failed);
    return failed ? SP_ERR_NOMEM : SP_OK;
}

/* ---- the bootstrap's intervals ---- */

static sp_status intervals(sp_diff *d, const sp_diff_run *b, const sp_diff_run *a, const long *stat)
{
    size_t nu = d->n_stages, ks = SP_DIFF_N_STATS(nu);
    int *bcol = malloc((nu ? nu : 1) * sizeof *bcol), *acol = malloc((nu ? nu : 1) * sizeof *acol);
    double *lo = malloc(ks * sizeof *lo), *hi = malloc(ks * sizeof *hi);
    sp_diff_rows rb, ra;
    memset(&rb, 0, sizeof rb);
    memset(&ra, 0, sizeof ra);
    sp_status st = SP_ERR_NOMEM;
    if (!bcol || !acol || !lo || !hi)
        goto out;
    for (size_t u = 0; u < nu; u++) {
        bcol[u] = stage_index(b, d->stages[u].name);
        acol[u] = stage_index(a, d->stages[u].name);
    }
    if ((st = sp_diff_rows_prepare(&rb, b)) || (st = sp_diff_rows_prepare(&ra, a)))
        goto out;
    if ((st = sp_diff_bootstrap(&rb, bcol, &ra, acol, nu, &d->opt, lo, hi)))
        goto out;
    for (size_t k = 0; k < d->n_metrics; k++) {
        sp_diff_metric *m = &d->metrics[k];
        if (stat[k] < 0 || !isfinite(m->base_value) || !isfinite(m->new_value))
            continue;
        m->has_interval = 1;
        m->lo = lo[stat[k]];
        m->hi = hi[stat[k]];
    }
out:
    sp_diff_rows_free(&rb);
    sp_diff_rows_free(&ra);
    free(bcol);
    free(acol);
    free(lo);
    free(hi);
    return st;
}

sp_status sp_diff_compare(const sp_diff_run *base, const sp_diff_run *after, const sp_diff_options *opt,
                          sp_diff **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!base || !after || !out) {
        sp_errf(err, errlen, "sp_diff_compare: runs and out must not be NULL");
        return SP_ERR_INVALID;
    }
    sp_diff_options o;
    if (opt)
        o = *opt;
    else
        sp_diff_options_init(&o);
    if (o.resamples < 1 || o.resamples > SP_DIFF_MAX_RESAMPLES || !(o.confidence >= SP_DIFF_MIN_CONFIDENCE) ||
        !(o.confidence <= SP_DIFF_MAX_CONFIDENCE) || o.block > SP_DIFF_MAX_BLOCK) {
        sp_errf(err, errlen,
                "sp_diff_compare: resamples must be in [1, %u], block in [0, %u] and confidence in [%g, %g]",
                SP_DIFF_MAX_RESAMPLES, SP_DIFF_MAX_BLOCK, SP_DIFF_MIN_CONFIDENCE, SP_DIFF_MAX_CONFIDENCE);
        return SP_ERR_INVALID;
    }
    for (int side = 0; side < 2; side++) {
        const sp_diff_run *run = side ? after : base;
        if (!run->requests && run->requests_total) {
            /* requests there, none analysed: every one failed or was refused (analysed: ok ones) */
            sp_errf(err, errlen, "%s (%s): no analysed requests: none of its %" PRIu64 " request%s ended ok "
                    "(--outcomes all compares every finished one): nothing to compare", side ? "NEW" : "BASE",
                    run->label ? run->label : "", run->requests_total, run->requests_total == 1 ? "" : "s");
            return SP_ERR_INVALID;
        }
        if (!run->requests && !run->requests_total && run->clients_unjoined) {
            /* a load generator's client trace alone: its records join the server's requests */
            sp_errf(err, errlen, "%s (%s): no analysed requests: only a load generator's client records, which "
                    "join a server's requests: give the server's trace with it (--%s server.sptrace --%s "
                    "client.jsonl): nothing to compare", side ? "NEW" : "BASE", run->label ? run->label : "",
                    side ? "new" : "base", side ? "new" : "base");
            return SP_ERR_INVALID;
        }
        if (!run->requests) {
            sp_errf(err, errlen, "%s (%s): no analysed requests: nothing to compare", side ? "NEW" : "BASE",
                    run->label ? run->label : "");
            return SP_ERR_INVALID;
        }
    }
    diff_priv *p = calloc(1, sizeof *p);
    if (!p) {
        sp_errf(err, errlen, "out of memory");
        return SP_ERR_NOMEM;
    }
    sp_diff *d = &p->pub;
    d->opt = o;
    p->report_digits = base->source == SP_DIFF_FROM_REPORT || after->source == SP_DIFF_FROM_REPORT;
    long *stat = NULL;
    sp_status st = fill_side(p, &d->base, base);
    if (!st)
        st = fill_side(p, &d->after, after);
    d->with_client[0] = base->with_client;
    d->with_client[1] = after->with_client;
    d->generation[0] = base->generation;
    d->generation[1] = after->generation;
    if (!st)
        st = merge_stages(p, base, after);
    /* requests, 3 latency, 4 per stage, 3 padding, 1 + states cost */
    if (!st && !(stat = malloc((8 + 4 * d->n_stages + SP_COST_STATE_COUNT) * sizeof *stat)))
        st = SP_ERR_NOMEM;
    if (!st)
        st = list_metrics(p, base, after, stat);
    d->intervals = base->n_rows > 0 && after->n_rows > 0;
    if (!st && d->intervals) {
        d->base.block = sp_diff_block_len(base->n_rows, o.block);
        d->after.block = sp_diff_block_len(after->n_rows, o.block);
        st = intervals(d, base, after, stat);
    }
    free(stat);
    if (st) {
        if (st == SP_ERR_LIMIT)
            sp_errf(err, errlen, "%u resamples of %zu stages exceed the bootstrap's memory limit; use fewer "
                                 "resamples", o.resamples, d->n_stages);
        else
            sp_errf(err, errlen, "out of memory");
        sp_diff_destroy(d);
        return st;
    }
    *out = d;
    return SP_OK;
}

const sp_diff_metric *sp_diff_find(const sp_diff *d, const char *path)
{
    if (!d || !path)
        return NULL;
    char canon[SP_DIFF_MAX_SPEC + 1];
    sp_diff_unit unit;
    const char *want = sp_diff_metric_path(path, canon, sizeof canon, &unit) == 0 ? canon : path;
    for (size_t k = 0; k < d->n_metrics; k++)
        if (strcmp(d->metrics[k].path, want) == 0)
            return &d->metrics[k];
    return NULL;
}

/* ---- conditions ---- */

sp_status sp_diff_check_condition(sp_diff *d, const sp_diff_condition *c, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!d || !c)
        return SP_ERR_INVALID;
    const sp_diff_metric *m = sp_diff_find(d, c->metric);
    if (!m) {
        char list[1024];
        size_t o = 0;
        list[0] = '\0';
        for (size_t u = 0; u < d->n_stages && o + 1 < sizeof list; u++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", u ? ", " : "", d->stages[u].name);
        sp_errf(err, errlen, "condition '%s': no metric %s in either run (their stages: %s)", c->spec, c->metric,
                list);
        return SP_ERR_INVALID;
    }
    if (m->stage && m->unit == SP_DIFF_UNIT_NS && (isnan(m->base_value) || isnan(m->new_value))) {
        /* a gate that could never fail would pass silently: refuse it */
        sp_errf(err, errlen, "condition '%s': %s has no percentiles of its stages (a fleet report, estimated "
                             "from aggregated counters, gives each stage's share only); gate on "
                             "stage.%s.share_of_p95 instead", c->spec,
                isnan(m->base_value) ? d->base.label : d->after.label, m->stage);
        return SP_ERR_INVALID;
    }
    diff_priv *p = (diff_priv *)d;
    if (SP_GROW(d->checks, p->cap_checks, d->n_checks + 1, MAX_STRINGS))
        return SP_ERR_NOMEM;
    sp_diff_check *k = &d->checks[d->n_checks++];
    memset(k, 0, sizeof *k);
    k->cond = *c;
    k->metric = (size_t)(m - d->metrics);
    sp_diff_evaluate(m, c, k);
    d->n_holding += k->holds != 0;
    return SP_OK;
}
