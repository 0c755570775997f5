/* A report from aggregated counters (docs/analysis.md, "Reports from aggregated counters"): live
 * metrics summed over replicas and time keep, per end-to-end latency bucket, the ok requests' count
 * and each stage's time in them, so percentiles, shares of pXX, padding, cost and the verdict can be
 * estimated within the buckets' resolution. Requests inside a bucket are taken as spread evenly over it
 * (in rank, as Prometheus' histogram_quantile takes them), with the bucket's mean stage mix. The verdict
 * is the analysis' own (verdict.c), fed with these shares and savings. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/util_int.h"

/* Working view of the latency buckets. */
typedef struct bk {
    const sp_bucket_figures *f;
    size_t nb;
    double *cum;          /* cum[j]: requests in buckets 0..j */
    double total;         /* requests (real: increase() extrapolates) */
    size_t n;             /* the count the ranks of DESIGN 4 use: total rounded */
    double *life;         /* per bucket: summed latency = the sum of its stages' times */
} bk;

static double lower_of(const bk *b, size_t j) { return j ? b->f->upper_s[j - 1] : 0.0; }

/* A bucket's upper bound as a latency: +Inf has no width, its requests sit at its lower bound. */
static double upper_of(const bk *b, size_t j)
{
    double u = b->f->upper_s[j];
    return isinf(u) ? lower_of(b, j) : u;
}

/* The latency where the requests of the buckets, each spread evenly over [lower - shift, upper - shift],
 * reach `rank` (real, 0 < rank <= total): the shifted mixture's quantile. With no shift it is the
 * interpolation inside the bucket that holds the rank. */
static double mixture_at(const bk *b, double rank, const double *shift)
{
    if (!shift) {
        for (size_t j = 0; j < b->nb; j++) {
            double below = j ? b->cum[j - 1] : 0.0, c = b->f->count[j];
            if (c <= 0 || rank > b->cum[j] + 1e-9 * b->total)
                continue;
            double frac = (rank - below) / c;
            frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
            return lower_of(b, j) + (upper_of(b, j) - lower_of(b, j)) * frac;
        }
        return b->nb ? upper_of(b, b->nb - 1) : 0.0;
    }
    double lo = 0, hi = 0;
    for (size_t j = 0; j < b->nb; j++) {
        if (b->f->count[j] <= 0)
            continue;
        double a = lower_of(b, j) - shift[j], z = upper_of(b, j) - shift[j];
        lo = a < lo ? a : lo;
        hi = z > hi ? z : hi;
    }
    /* bisection on the mixture's distribution function: 80 halvings reach double precision */
    for (int it = 0; it < 80; it++) {
        double x = (lo + hi) / 2, below = 0;
        for (size_t j = 0; j < b->nb; j++) {
            double c = b->f->count[j];
            if (c <= 0)
                continue;
            double a = lower_of(b, j) - shift[j], z = upper_of(b, j) - shift[j];
            below += x >= z ? c : x <= a ? 0 : c * (x - a) / (z - a);
        }
        if (below >= rank)
            hi = x;
        else
            lo = x;
    }
    return hi > 0 ? hi : 0;
}

/* The real rank of DESIGN 4's k-th smallest of n, on the buckets' real count. */
static double real_rank(const bk *b, size_t k) { return (double)k * b->total / (double)b->n; }

static double pct_at(const bk *b, unsigned xx, const double *shift)
{
    return mixture_at(b, real_rank(b, sp_rank(b->n, SP_PCT(xx))), shift);
}

/* Each bucket's weight in the share window of pXX (DESIGN 4): the part of its requests whose ranks the
 * window holds. */
static void window_weights(const bk *b, unsigned xx, double *w)
{
    size_t lo, hi;
    sp_ana_share_window(b->n, xx, &lo, &hi);
    double a = real_rank(b, lo - 1), z = real_rank(b, hi);
    for (size_t j = 0; j < b->nb; j++) {
        double below = j ? b->cum[j - 1] : 0.0, c = b->f->count[j];
        double s = below > a ? below : a, e = b->cum[j] < z ? b->cum[j] : z;
        w[j] = c > 0 && e > s ? (e - s) / c : 0.0;
    }
}

static double share_of(const bk *b, const double *w, const double *per_bucket)
{
    long double num = 0, den = 0;
    for (size_t j = 0; j < b->nb; j++) {
        num += (long double)w[j] * per_bucket[j];
        den += (long double)w[j] * b->life[j];
    }
    return den > 0 ? (double)(num / den) : 0.0;
}

static uint64_t ns_of(double s) { return s > 0 ? (uint64_t)llround(s * 1e9) : 0; }
static uint64_t count_of(double c) { return c > 0 ? (uint64_t)llround(c) : 0; }

/* Quantiles of a histogram of values (batch sizes, waste), interpolated like the latency's. */
static double hist_at(const sp_bucket_hist *h, double q)
{
    double total = 0;
    for (size_t j = 0; j < h->n; j++)
        total += h->count[j] > 0 ? h->count[j] : 0;
    if (total <= 0)
        return 0;
    double rank = q * total, below = 0;
    for (size_t j = 0; j < h->n; j++) {
        double c = h->count[j] > 0 ? h->count[j] : 0;
        if (c <= 0 || rank > below + c + 1e-9 * total) {
            below += c;
            continue;
        }
        double lo = j ? h->upper[j - 1] : 0, hi = isinf(h->upper[j]) ? lo : h->upper[j];
        if (lo > hi)
            lo = hi;
        double frac = (rank - below) / c;
        return lo + (hi - lo) * (frac < 0 ? 0 : frac > 1 ? 1 : frac);
    }
    return h->n ? h->upper[h->n - 1] : 0;
}

/* The upper bound of the highest non-empty bucket (+Inf: its lower bound). */
static double hist_max(const sp_bucket_hist *h)
{
    for (size_t j = h->n; j-- > 0;)
        if (h->count[j] > 0)
            return isinf(h->upper[j]) ? (j ? h->upper[j - 1] : 0) : h->upper[j];
    return 0;
}

static sp_status check(const sp_bucket_figures *f, char *err, size_t errlen)
{
    if (!f->source || !(f->source->window_s > 0) || !isfinite(f->source->window_s)) {
        sp_errf(err, errlen, "aggregated figures need a source with a window of more than 0 s");
        return SP_ERR_INVALID;
    }
    if (f->n_buckets && (!f->upper_s || !f->count)) {
        sp_errf(err, errlen, "aggregated figures: latency buckets without bounds or counts");
        return SP_ERR_INVALID;
    }
    const sp_report_source *src = f->source;
    for (size_t i = 0; src->bills && i < src->n_replicas; i++) {
        const sp_replica_bill *b = &src->bills[i];
        int ok = b->window_s >= 0 && isfinite(b->window_s) && !isnan(b->price_per_hour) &&
                 b->price_per_hour <= SP_MAX_PRICE_PER_HOUR;
        for (int k = 0; k < SP_COST_STATE_COUNT; k++)
            ok = ok && isfinite(b->state_s[k]);
        if (!ok) {
            sp_errf(err, errlen, "aggregated figures: replica %s's bill has window %g s, price %g/h: the window must "
                    "be finite and >= 0, the price at most %g, the device seconds finite",
                    src->replicas && src->replicas[i] ? src->replicas[i] : "?", b->window_s, b->price_per_hour,
                    SP_MAX_PRICE_PER_HOUR);
            return SP_ERR_INVALID;
        }
    }
    for (size_t j = 0; j < f->n_buckets; j++) {
        if (!(f->count[j] >= 0) || !isfinite(f->count[j]) || isnan(f->upper_s[j]) || f->upper_s[j] <= 0 ||
            (j && !(f->upper_s[j] > f->upper_s[j - 1]))) {
            sp_errf(err, errlen, "aggregated figures: latency bucket %zu (le %g) has count %g: bounds must ascend "
                    "and counts be finite and >= 0", j, f->upper_s[j], f->count[j]);
            return SP_ERR_INVALID;
        }
    }
    for (size_t s = 0; s < f->n_stages; s++) {
        if (!f->stages[s].name || !*f->stages[s].name || !f->stages[s].seconds) {
            sp_errf(err, errlen, "aggregated figures: stage %zu has no name or no figures", s);
            return SP_ERR_INVALID;
        }
        for (size_t j = 0; j < f->n_buckets; j++)
            if (!isfinite(f->stages[s].seconds[j])) {
                sp_errf(err, errlen, "aggregated figures: stage %s has a non-finite time", f->stages[s].name);
                return SP_ERR_INVALID;
            }
    }
    return SP_OK;
}

/* The stage rows in report order (docs/analysis.md, "Stage rows and order"): the seven built-in ones,
 * network when it holds time, named stages alphabetically, other. `idx` gets each row's index into
 * f->stages (-1: a row with no figures). */
static int name_cmp(const void *a, const void *b)
{
    const sp_bucket_stage *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static sp_status order_rows(const sp_bucket_figures *f, const sp_bucket_stage ***rows_out, size_t *n_out)
{
    static const char *const fixed[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h", "postprocess"};
    const sp_bucket_stage **rows = calloc(f->n_stages + 9, sizeof *rows);
    const sp_bucket_stage **named = calloc(f->n_stages + 1, sizeof *named);
    if (!rows || !named) {
        free(rows);
        free(named);
        return SP_ERR_NOMEM;
    }
    size_t n = 0, nn = 0;
    const sp_bucket_stage *network = NULL, *other = NULL;
    for (size_t k = 0; k < 7; k++) {
        rows[n] = NULL;
        for (size_t s = 0; s < f->n_stages; s++)
            if (strcmp(f->stages[s].name, fixed[k]) == 0)
                rows[n] = &f->stages[s];
        n++;
    }
    for (size_t s = 0; s < f->n_stages; s++) {
        const char *nm = f->stages[s].name;
        int is_fixed = 0;
        for (size_t k = 0; k < 7; k++)
            is_fixed |= strcmp(nm, fixed[k]) == 0;
        if (is_fixed)
            continue;
        if (strcmp(nm, "network") == 0)
            network = &f->stages[s];
        else if (strcmp(nm, "other") == 0)
            other = &f->stages[s];
        else
            named[nn++] = &f->stages[s];
    }
    double net = 0;
    for (size_t j = 0; network && j < f->n_buckets; j++)
        net += network->seconds[j];
    if (net > 0)
        rows[n++] = network;
    qsort(named, nn, sizeof *named, name_cmp);
    for (size_t k = 0; k < nn; k++)
        rows[n++] = named[k];
    rows[n++] = other; /* "other" last, NULL when absent */
    free(named);
    *rows_out = rows;
    *n_out = n;
    return SP_OK;
}

static const char *const fixed_names[] = {"queue", "preprocess", "h2d", "kernel", "gap", "d2h", "postprocess"};

static sp_status stage_rows(sp_report *r, const bk *b, const sp_bucket_stage **rows, size_t nrows, double *const w[3],
                            double **row_s)
{
    const sp_bucket_figures *f = b->f;
    r->n_stages = nrows;
    r->stages = calloc(nrows ? nrows : 1, sizeof *r->stages);
    if (!r->stages)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < nrows; i++) {
        sp_stage_row *row = &r->stages[i];
        const char *name = rows[i] ? rows[i]->name : i < 7 ? fixed_names[i] : "other";
        if (!(row->name = sp_report_strdup(r, name)))
            return SP_ERR_NOMEM;
        /* a row without figures reads as zero everywhere */
        row_s[i] = calloc(b->nb ? b->nb : 1, sizeof *row_s[i]);
        if (!row_s[i])
            return SP_ERR_NOMEM;
        double total = 0;
        for (size_t j = 0; rows[i] && j < b->nb; j++) {
            row_s[i][j] = rows[i]->seconds[j];
            total += row_s[i][j];
        }
        row->total_ns = ns_of(total);
        row->q.count = b->n;
        row->q.mean_ns = b->total > 0 ? total * 1e9 / b->total : 0;
        row->share_p50 = share_of(b, w[0], row_s[i]);
        row->share_p95 = share_of(b, w[1], row_s[i]);
        row->share_p99 = share_of(b, w[2], row_s[i]);
        if (strcmp(name, "other") == 0)
            r->other_share_p95 = row->share_p95;
    }
    (void)f;
    return SP_OK;
}

static void latency_figures(sp_report *r, const bk *b)
{
    sp_quantiles *q = &r->latency;
    q->count = b->n;
    if (b->n) {
        q->p50_ns = ns_of(pct_at(b, 50, NULL));
        q->p95_ns = ns_of(pct_at(b, 95, NULL));
        q->p99_ns = ns_of(pct_at(b, 99, NULL));
        long double sum = 0;
        for (size_t j = 0; j < b->nb; j++)
            sum += b->life[j];
        q->mean_ns = b->total > 0 ? (double)(sum * 1e9L / b->total) : 0;
        for (size_t j = 0; j < b->nb; j++)
            if (b->f->count[j] > 0) {
                q->min_ns = ns_of(lower_of(b, j));
                break;
            }
        for (size_t j = b->nb; j-- > 0;)
            if (b->f->count[j] > 0) {
                q->max_ns = ns_of(upper_of(b, j));
                break;
            }
    }
    r->server_latency = *q;
    r->request_count = b->n;
}

static void batch_figures(sp_report *r, const sp_bucket_figures *f)
{
    r->batch_count = count_of(f->batches);
    sp_quantiles *q = &r->batch_size;
    q->count = r->batch_count;
    if (r->batch_count && f->batch_size.n) {
        q->p50_ns = (uint64_t)llround(hist_at(&f->batch_size, 0.50));
        q->p95_ns = (uint64_t)llround(hist_at(&f->batch_size, 0.95));
        q->p99_ns = (uint64_t)llround(hist_at(&f->batch_size, 0.99));
        q->max_ns = (uint64_t)llround(hist_max(&f->batch_size));
        q->min_ns = 1;
        q->mean_ns = f->batch_members / f->batches;
    }
    sp_padding_summary *p = &r->padding;
    p->batches = count_of(f->token_batches);
    p->effective_tokens = (int64_t)count_of(f->effective_tokens);
    p->padded_tokens = (int64_t)count_of(f->padded_tokens);
    /* DESIGN section 5: waste over all batches = 1 - total effective / total padded */
    p->waste_fraction = f->padded_tokens > 0 ? 1.0 - f->effective_tokens / f->padded_tokens : 0.0;
    if (p->waste_fraction < 0)
        p->waste_fraction = 0;
    if (f->batch_waste.n) {
        p->waste_p50 = hist_at(&f->batch_waste, 0.50);
        p->waste_p95 = hist_at(&f->batch_waste, 0.95);
        p->waste_max = hist_max(&f->batch_waste);
        p->waste_max = p->waste_max > 1 ? 1 : p->waste_max;
    }
}

/* A fleet's bill (docs/fleet.md, "Cost"): the sum of its replicas' instance bills, each the replica's
 * price over its own window (DESIGN 7 per instance), and its states the sum of each replica's bill split
 * as that replica's devices spent their time, so the states add up to the bill. One replica: its
 * shares are the devices' (`shares`, as computed before there were replica bills), so a one-replica
 * report reads as it did to the last digit. The price is the replicas' one price, or where they differ
 * the bill over the replica-hours billed (the price a replica-hour cost on average). */
static void fleet_bill(sp_report *r, sp_replica_bill *bills, size_t n, const double *shares)
{
    sp_cost_summary *c = &r->cost;
    long double bill = 0, hours = 0;
    int all_default = 1, one_price = 1;
    for (size_t i = 0; i < n; i++) {
        int def = 0;
        bills[i].price_per_hour = sp_ana_price(bills[i].price_per_hour, 0.0, &def);
        uint64_t win = ns_of(bills[i].window_s);
        bills[i].bill = sp_ana_bill(bills[i].price_per_hour, win);
        bill += bills[i].bill;
        hours += (long double)win / 3.6e12L;
        all_default = all_default && def;
        one_price = one_price && bills[i].price_per_hour == bills[0].price_per_hour;
    }
    c->price_is_default = n ? all_default : 1;
    c->price_per_hour = n == 0 ? SP_DEFAULT_PRICE_PER_HOUR
                        : one_price || !(hours > 0) ? bills[0].price_per_hour
                                                    : (double)(bill / hours);
    c->bill = n == 1 ? bills[0].bill : (double)bill;
    long double share[SP_COST_STATE_COUNT] = {0};
    for (size_t i = 0; i < n && n > 1; i++) {
        long double own = 0, w = bill > 0 ? bills[i].bill / bill : 1.0L / (long double)n;
        for (int s = 0; s < SP_COST_STATE_COUNT; s++)
            own += bills[i].state_s[s] > 0 ? bills[i].state_s[s] : 0;
        for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
            double v = bills[i].state_s[s] > 0 ? bills[i].state_s[s] : 0;
            /* a replica with no device time is all no_batch, as one instance is */
            share[s] += w * (own > 0 ? v / own : s == SP_COST_NO_BATCH ? 1.0L : 0.0L);
        }
    }
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        c->by_state_share[s] = n == 1 ? shares[s] : (double)share[s];
        c->by_state[s] = c->bill * c->by_state_share[s];
    }
}

/* Device states, the GPU summary and the bill (DESIGN 6 and 7 over the device-seconds the replicas
 * report). With the replicas' bills (fleet_bill) the bill is theirs summed; without, the price over the
 * window, one instance. */
static void cost_figures(sp_report *r, const sp_bucket_figures *f)
{
    sp_cost_summary *c = &r->cost;
    c->price_per_hour = sp_ana_price(f->price_per_hour, 0.0, &c->price_is_default);
    c->window_ns = ns_of(f->source->window_s);
    c->bill = sp_ana_bill(c->price_per_hour, c->window_ns);
    long double state[SP_COST_STATE_COUNT] = {0}, dev = 0;
    size_t devices = 0; /* those with any time: the ones the span sums */
    for (size_t d = 0; d < f->n_devices; d++) {
        long double one = 0;
        for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
            double v = f->device_s[d][s] > 0 ? f->device_s[d][s] : 0;
            state[s] += v;
            one += v;
        }
        dev += one;
        devices += one > 0;
    }
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        c->by_state_share[s] = dev > 0 ? (double)(state[s] / dev) : s == SP_COST_NO_BATCH ? 1.0 : 0.0;
        c->by_state[s] = c->bill * c->by_state_share[s];
    }
    if (r->source && r->source->bills) {
        double shares[SP_COST_STATE_COUNT];
        memcpy(shares, c->by_state_share, sizeof shares);
        /* the report's own copy (copy_source's calloc): it gets the prices and bills it was billed */
        fleet_bill(r, (sp_replica_bill *)(void *)r->source->bills, r->source->n_replicas, shares);
    }
    c->per_request = r->request_count ? c->bill / (double)r->request_count : 0.0;
    c->request_cost_mean = c->per_request;
    r->padding.share_of_bill = c->by_state_share[SP_COST_PADDING];
    sp_gpu_summary *g = &r->gpu;
    long double busy = state[SP_COST_USEFUL] + state[SP_COST_PADDING] + state[SP_COST_COPIES];
    g->present = busy > 0 || f->kernels > 0 || f->copies > 0;
    g->span_ns = ns_of((double)dev);
    g->devices_summed = devices;
    g->busy_ns = ns_of((double)busy);
    g->idle_ns = g->span_ns > g->busy_ns ? g->span_ns - g->busy_ns : 0;
    g->compute_ns = ns_of((double)(state[SP_COST_USEFUL] + state[SP_COST_PADDING]));
    g->non_compute_ns = g->busy_ns > g->compute_ns ? g->busy_ns - g->compute_ns : 0;
    g->kernels = count_of(f->kernels);
    g->copies = count_of(f->copies);
    g->device_kind = f->device_kind;
}

static int status_cmp(const void *a, const void *b)
{
    const sp_status_row *x = a, *y = b;
    return (x->status > y->status) - (x->status < y->status);
}

static void outcome_figures(sp_report *r, const sp_bucket_figures *f)
{
    r->outcome_scope = SP_SCOPE_OK;
    for (int o = 0; o < SP_OUTCOME_COUNT; o++) {
        r->outcomes[o].count = count_of(f->outcomes[o]);
        r->requests_total += r->outcomes[o].count;
    }
    r->outcomes[SP_OUTCOME_OK].latency = r->latency;
    r->rejection_rate =
        r->requests_total ? (double)r->outcomes[SP_OUTCOME_REJECTED].count / (double)r->requests_total : 0.0;
    /* by status, outcomes merged; the first SP_REPORT_MAX_STATUSES distinct ones ascending */
    sp_status_row rows[64];
    size_t n = 0;
    for (size_t i = 0; i < f->n_statuses; i++) {
        uint64_t c = count_of(f->statuses[i].count);
        if (!c)
            continue;
        size_t k = 0;
        while (k < n && rows[k].status != f->statuses[i].status)
            k++;
        if (k == n) {
            if (n == sizeof rows / sizeof rows[0]) {
                r->statuses_unlisted += c;
                continue;
            }
            rows[n++] = (sp_status_row){f->statuses[i].status, 0};
        }
        rows[k].count += c;
    }
    qsort(rows, n, sizeof *rows, status_cmp);
    for (size_t k = 0; k < n; k++) {
        if (k < SP_REPORT_MAX_STATUSES)
            r->statuses[r->n_statuses++] = rows[k];
        else
            r->statuses_unlisted += rows[k].count;
    }
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++) {
        r->drops[c] = (sp_drop_row){sp_drop_cause_str((sp_drop_cause)c), count_of(f->drops[c])};
        r->drops_total += r->drops[c].count;
    }
    r->skipped_records = count_of(f->uncounted);
}

static sp_status copy_source(sp_report *r, const sp_report_source *in)
{
    sp_report_source *s = calloc(1, sizeof *s);
    if (!s)
        return SP_ERR_NOMEM;
    r->source = s;
    *s = *in;
    s->replicas = NULL;
    s->n_replicas = 0;
    s->down = NULL;
    s->n_down = 0;
    s->never = NULL;
    s->n_never = 0;
    s->bills = NULL;
    s->nodev = NULL;
    s->n_nodev = 0;
    if (!(s->kind = sp_report_strdup(r, in->kind ? in->kind : "metrics")) ||
        !(s->url = sp_report_strdup(r, in->url ? in->url : "")) ||
        !(s->selector = sp_report_strdup(r, in->selector ? in->selector : "")) ||
        !(s->range = sp_report_strdup(r, in->range ? in->range : "")))
        return SP_ERR_NOMEM;
    const char **reps = calloc(in->n_replicas ? in->n_replicas : 1, sizeof *reps);
    if (!reps)
        return SP_ERR_NOMEM;
    s->replicas = reps;
    for (size_t i = 0; i < in->n_replicas; i++) {
        if (!(reps[i] = sp_report_strdup(r, in->replicas[i] ? in->replicas[i] : "")))
            return SP_ERR_NOMEM;
        s->n_replicas++;
    }
    const char **down = calloc(in->n_down ? in->n_down : 1, sizeof *down);
    if (!down)
        return SP_ERR_NOMEM;
    s->down = down;
    for (size_t i = 0; i < in->n_down; i++) {
        if (!(down[i] = sp_report_strdup(r, in->down[i] ? in->down[i] : "")))
            return SP_ERR_NOMEM;
        s->n_down++;
    }
    const char **never = calloc(in->n_never ? in->n_never : 1, sizeof *never);
    if (!never)
        return SP_ERR_NOMEM;
    s->never = never;
    for (size_t i = 0; i < in->n_never; i++) {
        if (!(never[i] = sp_report_strdup(r, in->never[i] ? in->never[i] : "")))
            return SP_ERR_NOMEM;
        s->n_never++;
    }
    const char **nodev = calloc(in->n_nodev ? in->n_nodev : 1, sizeof *nodev);
    if (!nodev)
        return SP_ERR_NOMEM;
    s->nodev = nodev;
    for (size_t i = 0; i < in->n_nodev; i++) {
        if (!(nodev[i] = sp_report_strdup(r, in->nodev[i] ? in->nodev[i] : "")))
            return SP_ERR_NOMEM;
        s->n_nodev++;
    }
    if (in->bills) {
        sp_replica_bill *bills = calloc(in->n_replicas ? in->n_replicas : 1, sizeof *bills);
        if (!bills)
            return SP_ERR_NOMEM;
        memcpy(bills, in->bills, in->n_replicas * sizeof *bills);
        s->bills = bills;
    }
    return SP_OK;
}

/* The verdict (DESIGN 8) from the estimated shares; each candidate's p95 saving is p95 less the p95 of
 * the buckets each shifted down by its mean time of the candidate. */
static sp_status verdict(sp_report *r, const bk *b, const sp_bucket_stage **rows, double **row_s,
                         const double *pad)
{
    if (!b->n) {
        if (r->requests_total)
            return sp_ana_verdict_unserved(r);
        r->verdict.clause_at = SIZE_MAX;
        r->verdict.sentence = sp_report_strdup(r, "No request finished in the window: there is no latency to "
                                                  "attribute.");
        return r->verdict.sentence ? SP_OK : SP_ERR_NOMEM;
    }
    sp_verdict_cand cs[SP_ANA_MAX_NAMED_STAGES + 16];
    memset(cs, 0, sizeof cs);
    size_t nc = sp_ana_verdict_candidates(r, 0, cs, sizeof cs / sizeof cs[0]);
    double *shift = malloc((b->nb ? b->nb : 1) * sizeof *shift);
    if (!shift)
        return SP_ERR_NOMEM;
    double base = pct_at(b, 95, NULL);
    for (size_t k = 0; k < nc; k++) {
        const double *t = row_s[cs[k].row];
        int any = 0;
        for (size_t j = 0; j < b->nb; j++) {
            double v = cs[k].kind == SP_CAND_PADDING  ? (pad ? pad[j] : 0)
                       : cs[k].kind == SP_CAND_KERNEL ? t[j] - (pad ? pad[j] : 0)
                                                      : t[j];
            shift[j] = b->f->count[j] > 0 && v > 0 ? v / b->f->count[j] : 0;
            any |= shift[j] > 0;
        }
        double after = any ? pct_at(b, 95, shift) : base;
        cs[k].saving_ns = base > after ? ns_of(base - after) : 0;
    }
    free(shift);
    (void)rows;
    return sp_ana_verdict_decide(r, cs, nc, NULL, 0, 0);
}

void sp_bucket_figures_init(sp_bucket_figures *f)
{
    memset(f, 0, sizeof *f);
}

static sp_status build(sp_report *r, const sp_bucket_figures *f)
{
    bk b = {f, f->n_buckets, NULL, 0, 0, NULL};
    const sp_bucket_stage **rows = NULL;
    size_t nrows = 0;
    double *w[3] = {NULL, NULL, NULL};
    double **row_s = NULL;
    sp_status st = SP_ERR_NOMEM;
    b.cum = calloc(b.nb ? b.nb : 1, sizeof *b.cum);
    b.life = calloc(b.nb ? b.nb : 1, sizeof *b.life);
    for (int k = 0; k < 3; k++)
        w[k] = calloc(b.nb ? b.nb : 1, sizeof *w[k]);
    if (!b.cum || !b.life || !w[0] || !w[1] || !w[2])
        goto out;
    for (size_t j = 0; j < b.nb; j++) {
        b.total += f->count[j];
        b.cum[j] = b.total;
        /* DESIGN 3: a request's stages add up to its latency, so the bucket's latency is their sum */
        for (size_t s = 0; s < f->n_stages; s++)
            b.life[j] += f->stages[s].seconds[j];
    }
    b.n = count_of(b.total);
    if ((st = copy_source(r, f->source)) || (st = order_rows(f, &rows, &nrows)))
        goto out;
    static const unsigned pct[3] = {50, 95, 99};
    for (int k = 0; k < 3 && b.n; k++)
        window_weights(&b, pct[k], w[k]);
    st = SP_ERR_NOMEM;
    if (!(row_s = calloc(nrows ? nrows : 1, sizeof *row_s)))
        goto out;
    latency_figures(r, &b);
    if ((st = stage_rows(r, &b, rows, nrows, w, row_s)))
        goto out;
    batch_figures(r, f);
    if (f->padding_s) {
        long double tot = 0;
        for (size_t j = 0; j < b.nb; j++)
            tot += f->padding_s[j];
        r->padding.padding_ns_total = ns_of((double)tot);
        r->padding.share_p95 = b.n ? share_of(&b, w[1], f->padding_s) : 0;
    }
    cost_figures(r, f);
    outcome_figures(r, f);
    st = verdict(r, &b, rows, row_s, f->padding_s);
out:
    for (size_t i = 0; row_s && i < nrows; i++)
        free(row_s[i]);
    free(row_s);
    free(rows);
    for (int k = 0; k < 3; k++)
        free(w[k]);
    free(b.cum);
    free(b.life);
    return st;
}

sp_status sp_report_from_buckets(const sp_bucket_figures *f, sp_report **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!f || !out) {
        sp_errf(err, errlen, "sp_report_from_buckets: figures and out must not be NULL");
        return SP_ERR_INVALID;
    }
    sp_status st = check(f, err, errlen);
    if (st)
        return st;
    sp_report *r = sp_report_new();
    if (!r) {
        sp_errf(err, errlen, "out of memory");
        return SP_ERR_NOMEM;
    }
    if ((st = build(r, f)) != SP_OK) {
        sp_errf(err, errlen, "out of memory");
        sp_report_destroy(r);
        return st;
    }
    *out = r;
    return SP_OK;
}
