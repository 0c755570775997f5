/* The live metrics' aggregate and its Prometheus text (exposition format 0.0.4): counters of finished
 * requests by latency bucket and stage, padding, batches, tokens, device states and drops, as
 * docs/metrics.md names them. The writer adds to it once per cycle under its lock; a render copies it
 * under the lock and formats the copy outside it, so a scrape never holds up the writer for long. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "trace/tap_int.h"

#define MAX_STATUSES 32

typedef struct mx_dev {
    uint32_t id;
    double state_ns[SP_MX_DEV_STATES];
    uint64_t kernels, copies;
} mx_dev;

typedef struct mx_status {
    int32_t status;
    uint8_t outcome;
    uint64_t count;
} mx_status;

/* Everything a render formats; copied whole under the lock. */
typedef struct mx_data {
    uint64_t lat_count[SP_MX_BUCKETS];   /* ok requests by latency bucket (not cumulative) */
    uint64_t lat_sum_ns;
    size_t n_rows;
    uint64_t row_ns[SP_MX_MAX_ROWS][SP_MX_BUCKETS]; /* stage time by latency bucket */
    double pad_ns[SP_MX_BUCKETS];        /* padding time by latency bucket */
    uint64_t outcomes[SP_OUTCOME_COUNT];
    mx_status statuses[MAX_STATUSES];
    size_t n_statuses;
    uint64_t statuses_other;
    uint64_t batches, members, size_count[SP_MX_SIZE_BUCKETS];
    uint64_t token_batches;              /* batches with token counts */
    uint64_t effective_tokens, padded_tokens;
    uint64_t waste_count[SP_MX_WASTE_BUCKETS];
    double waste_sum;
    uint64_t ttft_count[SP_MX_BUCKETS], ttft_sum_ns;
    uint64_t tpot_count[SP_MX_BUCKETS], tpot_sum_ns;
    uint64_t output_tokens;
    mx_dev dev[SP_MX_MAX_DEVICES];
    size_t n_dev;
    uint64_t lost[SP_MX_LOST_COUNT];
    uint64_t pending;
} mx_data;

struct sp_mx {
    pthread_mutex_t mu;
    uint64_t start_ns;                   /* sp_now_ns() when the metrics started (uptime) */
    char *row_name[SP_MX_MAX_ROWS];      /* owned; only ever appended */
    mx_data d;
};

static const char *const fixed_rows[SP_MX_FIXED_ROWS] = {"queue", "preprocess", "h2d", "kernel", "gap",
                                                         "d2h", "postprocess", "network", "other"};
static const char *const state_names[SP_MX_DEV_STATES] = {"useful", "padding", "copies", "gap", "no_batch"};
static const char *const lost_names[SP_MX_LOST_COUNT] = {"orphaned", "late", "full", "malformed", "clock"};

double sp_mx_bound_ns(int i)
{
    /* docs/metrics.md: bound k = 2^(k/4) s; ldexp keeps the octaves exact */
    int k = SP_MX_K_MIN + i;
    int oct = k >= 0 ? k / 4 : -((-k + 3) / 4);
    int r = k - 4 * oct; /* 0..3 */
    static const double quarter[4] = {1.0, 1.189207115002721, 1.4142135623730951, 1.681792830507429};
    return ldexp(quarter[r], oct) * 1e9;
}

int sp_mx_bucket(uint64_t ns)
{
    double v = (double)ns;
    int lo = 0, hi = SP_MX_FINITE; /* first bucket whose bound is >= v; SP_MX_FINITE: +Inf */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (sp_mx_bound_ns(mid) >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

sp_status sp_mx_create(sp_mx **out)
{
    sp_mx *m = calloc(1, sizeof *m);
    if (!m)
        return SP_ERR_NOMEM;
    pthread_mutex_init(&m->mu, NULL);
    for (size_t r = 0; r < SP_MX_FIXED_ROWS; r++) {
        m->row_name[r] = strdup(fixed_rows[r]);
        if (!m->row_name[r]) {
            sp_mx_destroy(m);
            return SP_ERR_NOMEM;
        }
    }
    m->d.n_rows = SP_MX_FIXED_ROWS;
    m->start_ns = sp_now_ns();
    /* device 0 from the start (the native format's batches are on it), so its series exist before
     * its first work and Prometheus' increase() loses none of it */
    m->d.n_dev = 1;
    *out = m;
    return SP_OK;
}

void sp_mx_destroy(sp_mx *m)
{
    if (!m)
        return;
    for (size_t r = 0; r < SP_MX_MAX_ROWS; r++)
        free(m->row_name[r]);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void sp_mx_lock(sp_mx *m) { pthread_mutex_lock(&m->mu); }
void sp_mx_unlock(sp_mx *m) { pthread_mutex_unlock(&m->mu); }

void sp_mx_fork_child(sp_mx *m)
{
    pthread_mutex_init(&m->mu, NULL);
    size_t rows = m->d.n_rows;
    memset(&m->d, 0, sizeof m->d);
    m->d.n_rows = rows; /* the rows' names stay: only their figures start again */
    m->d.n_dev = 1;
    m->start_ns = sp_now_ns();
}

int sp_mx_named_row(sp_mx *m, const char *name)
{
    for (size_t r = SP_MX_FIXED_ROWS; r < m->d.n_rows; r++)
        if (strcmp(m->row_name[r], name) == 0)
            return (int)r;
    size_t named = m->d.n_rows - SP_MX_FIXED_ROWS;
    const char *use = named < SP_MX_MAX_NAMED ? name : SP_MX_MORE_NAMED;
    if (use != name)
        for (size_t r = SP_MX_FIXED_ROWS; r < m->d.n_rows; r++)
            if (strcmp(m->row_name[r], use) == 0)
                return (int)r;
    if (m->d.n_rows >= SP_MX_MAX_ROWS)
        return -1;
    char *copy = strdup(use);
    if (!copy)
        return -1;
    m->row_name[m->d.n_rows] = copy;
    return (int)m->d.n_rows++;
}

const char *sp_mx_row_name(sp_mx *m, size_t row)
{
    return row < m->d.n_rows ? m->row_name[row] : NULL;
}

static void count_status(mx_data *d, sp_outcome o, int32_t status)
{
    for (size_t i = 0; i < d->n_statuses; i++)
        if (d->statuses[i].status == status && d->statuses[i].outcome == (uint8_t)o) {
            d->statuses[i].count++;
            return;
        }
    if (d->n_statuses == MAX_STATUSES) {
        d->statuses_other++;
        return;
    }
    d->statuses[d->n_statuses++] = (mx_status){status, (uint8_t)o, 1};
}

void sp_mx_add_request(sp_mx *m, const sp_mx_request *q)
{
    mx_data *d = &m->d;
    if ((unsigned)q->outcome >= SP_OUTCOME_COUNT)
        return;
    d->outcomes[q->outcome]++;
    if (q->outcome != SP_OUTCOME_OK) {
        if (q->status > 0)
            count_status(d, q->outcome, q->status);
        return;
    }
    int b = sp_mx_bucket(q->latency_ns);
    d->lat_count[b]++;
    d->lat_sum_ns += q->latency_ns;
    for (size_t r = 0; r < q->n_rows && r < d->n_rows; r++)
        d->row_ns[r][b] += q->row_ns[r];
    d->pad_ns[b] += q->padding_ns;
    if (q->tokens) {
        d->output_tokens += q->tokens;
        int t = sp_mx_bucket(q->ttft_ns);
        d->ttft_count[t]++;
        d->ttft_sum_ns += q->ttft_ns;
        if (q->tokens >= 2) {
            t = sp_mx_bucket(q->tpot_ns);
            d->tpot_count[t]++;
            d->tpot_sum_ns += q->tpot_ns;
        }
    }
}

void sp_mx_add_batch(sp_mx *m, uint32_t members, int64_t effective, int64_t padded)
{
    mx_data *d = &m->d;
    d->batches++;
    d->members += members;
    int k = 0;
    while (k < SP_MX_SIZE_BUCKETS - 1 && (1u << k) < members)
        k++;
    d->size_count[k]++;
    if (effective >= 0 && padded > 0) {
        /* DESIGN section 5: waste = 1 - effective / padded, clamped to [0, 1] */
        double w = 1.0 - (double)effective / (double)padded;
        w = w < 0 ? 0 : w > 1 ? 1 : w;
        d->token_batches++;
        d->effective_tokens += (uint64_t)effective;
        d->padded_tokens += (uint64_t)padded;
        d->waste_sum += w;
        int j = 0;
        while (j < SP_MX_WASTE_BUCKETS - 1 && w > (double)j / 10.0 + 1e-12)
            j++;
        d->waste_count[j]++;
    }
}

static mx_dev *dev_of(mx_data *d, uint32_t device)
{
    for (size_t i = 0; i < d->n_dev; i++)
        if (d->dev[i].id == device)
            return &d->dev[i];
    if (d->n_dev == SP_MX_MAX_DEVICES)
        return NULL;
    mx_dev *x = &d->dev[d->n_dev++];
    memset(x, 0, sizeof *x);
    x->id = device;
    return x;
}

void sp_mx_add_device(sp_mx *m, uint32_t device, const double state_ns[SP_MX_DEV_STATES])
{
    mx_dev *x = dev_of(&m->d, device);
    if (!x)
        return;
    for (int s = 0; s < SP_MX_DEV_STATES; s++)
        x->state_ns[s] += state_ns[s];
}

void sp_mx_add_activity(sp_mx *m, uint32_t device, uint64_t kernels, uint64_t copies)
{
    mx_dev *x = dev_of(&m->d, device);
    if (!x)
        return;
    x->kernels += kernels;
    x->copies += copies;
}

void sp_mx_set_pending(sp_mx *m, uint64_t n) { m->d.pending = n; }

void sp_mx_add_lost(sp_mx *m, int reason, uint64_t n)
{
    if (reason >= 0 && reason < SP_MX_LOST_COUNT)
        m->d.lost[reason] += n;
}

/* ---------------- rendering ---------------- */

/* A growing text with a hard cap (a render of a few thousand lines is ~200 KB). */
typedef struct mx_out {
    char *p;
    size_t len, cap;
    int failed;
} mx_out;

#define MX_OUT_MAX ((size_t)64 << 20)

static void put(mx_out *o, const char *fmt, ...) SP_PRINTF(2, 3);
static void put(mx_out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2;
        while (cap - o->len <= (size_t)n)
            cap *= 2;
        char *q = cap <= MX_OUT_MAX ? realloc(o->p, cap) : NULL;
        if (!q) {
            o->failed = 1;
            return;
        }
        o->p = q;
        o->cap = cap;
    }
}

/* A label value with the exposition format's escapes (backslash, double quote, newline). */
static void put_label(mx_out *o, const char *s)
{
    char buf[512];
    size_t n = 0;
    for (; *s && n + 3 < sizeof buf; s++) {
        if (*s == '\\' || *s == '"') {
            buf[n++] = '\\';
            buf[n++] = *s;
        } else if (*s == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = 0;
    put(o, "%s", buf);
}

/* ns as seconds, exactly (integer ns print as a decimal fraction with 9 digits). */
static void put_secs(mx_out *o, uint64_t ns)
{
    put(o, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

static void put_dsecs(mx_out *o, double ns)
{
    put(o, "%.9f", ns / 1e9);
}

static void le_label(char *buf, size_t n, int i)
{
    if (i >= SP_MX_FINITE)
        snprintf(buf, n, "+Inf");
    else
        snprintf(buf, n, "%.6g", sp_mx_bound_ns(i) / 1e9);
}

static void head(mx_out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A latency histogram: cumulative buckets, sum, count. */
static void put_histogram(mx_out *o, const char *name, const char *help, const uint64_t *count, uint64_t sum_ns)
{
    head(o, name, "histogram", help);
    uint64_t cum = 0;
    char le[32];
    for (int i = 0; i < SP_MX_BUCKETS; i++) {
        cum += count[i];
        le_label(le, sizeof le, i);
        put(o, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, le, cum);
    }
    put(o, "%s_sum ", name);
    put_secs(o, sum_ns);
    put(o, "\n%s_count %" PRIu64 "\n", name, cum);
}

static int name_order(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

static void put_stage_rows(mx_out *o, const mx_data *d, char *const *names)
{
    head(o, "servprof_request_stage_seconds_total", "counter",
         "Time each stage took in ok requests whose end-to-end latency was at most le (cumulative over le, "
         "like the latency histogram's buckets); the stages of a request add up to its latency.");
    /* DESIGN 3's report order: the fixed stages, network, named ones alphabetically, other */
    size_t order[SP_MX_MAX_ROWS], n = 0;
    for (size_t r = 0; r <= SP_MX_ROW_NETWORK; r++)
        order[n++] = r;
    const char *named[SP_MX_MAX_ROWS];
    size_t nn = 0;
    for (size_t r = SP_MX_FIXED_ROWS; r < d->n_rows; r++)
        named[nn++] = names[r];
    qsort(named, nn, sizeof *named, name_order);
    for (size_t k = 0; k < nn; k++)
        for (size_t r = SP_MX_FIXED_ROWS; r < d->n_rows; r++)
            if (names[r] == named[k])
                order[n++] = r;
    order[n++] = SP_MX_ROW_OTHER;
    char le[32];
    for (size_t k = 0; k < n; k++) {
        size_t r = order[k];
        uint64_t cum = 0;
        for (int i = 0; i < SP_MX_BUCKETS; i++) {
            cum += d->row_ns[r][i];
            le_label(le, sizeof le, i);
            put(o, "servprof_request_stage_seconds_total{stage=\"");
            put_label(o, names[r]);
            put(o, "\",le=\"%s\"} ", le);
            put_secs(o, cum);
            put(o, "\n");
        }
    }
    head(o, "servprof_request_padding_seconds_total", "counter",
         "Kernel time spent on padding (kernel time x the batch's waste, DESIGN 5) in ok requests whose "
         "latency was at most le; part of the kernel stage.");
    double pc = 0;
    for (int i = 0; i < SP_MX_BUCKETS; i++) {
        pc += d->pad_ns[i];
        le_label(le, sizeof le, i);
        put(o, "servprof_request_padding_seconds_total{le=\"%s\"} ", le);
        put_dsecs(o, pc);
        put(o, "\n");
    }
}

static void put_requests(mx_out *o, const mx_data *d)
{
    head(o, "servprof_requests_total", "counter",
         "Finished requests by outcome (ok, rejected, error, cancelled; DESIGN 8a).");
    for (int k = 0; k < SP_OUTCOME_COUNT; k++) {
        if (k == SP_OUTCOME_UNFINISHED)
            continue; /* a live process finishes them later */
        put(o, "servprof_requests_total{outcome=\"%s\"} %" PRIu64 "\n", sp_outcome_str((sp_outcome)k), d->outcomes[k]);
    }
    head(o, "servprof_requests_status_total", "counter",
         "Requests that were not ok, by outcome and the HTTP status they were answered with.");
    for (size_t i = 0; i < d->n_statuses; i++)
        put(o, "servprof_requests_status_total{outcome=\"%s\",status=\"%" PRId32 "\"} %" PRIu64 "\n",
            sp_outcome_str((sp_outcome)d->statuses[i].outcome), d->statuses[i].status, d->statuses[i].count);
    if (d->statuses_other)
        put(o, "servprof_requests_status_total{outcome=\"other\",status=\"other\"} %" PRIu64 "\n", d->statuses_other);
}

static void put_batches(mx_out *o, const mx_data *d)
{
    head(o, "servprof_batch_size", "histogram", "Requests per batch.");
    uint64_t cum = 0;
    for (int k = 0; k < SP_MX_SIZE_BUCKETS; k++) {
        cum += d->size_count[k];
        if (k == SP_MX_SIZE_BUCKETS - 1)
            put(o, "servprof_batch_size_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
        else
            put(o, "servprof_batch_size_bucket{le=\"%u\"} %" PRIu64 "\n", 1u << k, cum);
    }
    put(o, "servprof_batch_size_sum %" PRIu64 "\nservprof_batch_size_count %" PRIu64 "\n", d->members, d->batches);
    head(o, "servprof_batch_tokens_total", "counter",
         "Tokens of the batches that carry token counts: effective (sum of member lengths) and padded (what "
         "the device computed).");
    put(o, "servprof_batch_tokens_total{kind=\"effective\"} %" PRIu64 "\n", d->effective_tokens);
    put(o, "servprof_batch_tokens_total{kind=\"padded\"} %" PRIu64 "\n", d->padded_tokens);
    head(o, "servprof_batch_padding_ratio", "histogram",
         "Padding waste per batch with token counts, 1 - effective / padded.");
    static const char *const waste_le[SP_MX_WASTE_BUCKETS] = {"0",   "0.1", "0.2", "0.3", "0.4", "0.5",
                                                              "0.6", "0.7", "0.8", "0.9", "1"};
    cum = 0;
    for (int j = 0; j < SP_MX_WASTE_BUCKETS; j++) {
        cum += d->waste_count[j];
        put(o, "servprof_batch_padding_ratio_bucket{le=\"%s\"} %" PRIu64 "\n", waste_le[j], cum);
    }
    put(o, "servprof_batch_padding_ratio_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    put(o, "servprof_batch_padding_ratio_sum %.9f\nservprof_batch_padding_ratio_count %" PRIu64 "\n", d->waste_sum,
        d->token_batches);
}

static void put_devices(mx_out *o, const mx_data *d)
{
    head(o, "servprof_device_seconds_total", "counter",
         "Device time by state (DESIGN 7): useful and padding kernel work, copies, gap (a batch in flight, the "
         "device idle) and no_batch; busy = useful + padding + copies, idle = gap + no_batch.");
    for (size_t i = 0; i < d->n_dev; i++)
        for (int s = 0; s < SP_MX_DEV_STATES; s++) {
            put(o, "servprof_device_seconds_total{device=\"%" PRIu32 "\",state=\"%s\"} ", d->dev[i].id, state_names[s]);
            put_dsecs(o, d->dev[i].state_ns[s]);
            put(o, "\n");
        }
    head(o, "servprof_device_activities_total", "counter", "Device work recorded: kernels and copies (memsets included).");
    for (size_t i = 0; i < d->n_dev; i++) {
        put(o, "servprof_device_activities_total{device=\"%" PRIu32 "\",kind=\"kernel\"} %" PRIu64 "\n", d->dev[i].id,
            d->dev[i].kernels);
        put(o, "servprof_device_activities_total{device=\"%" PRIu32 "\",kind=\"copy\"} %" PRIu64 "\n", d->dev[i].id,
            d->dev[i].copies);
    }
}

static void put_context(mx_out *o, const mx_data *d, const sp_mx_context *c, uint64_t uptime_ns)
{
    head(o, "servprof_metrics_uptime_seconds", "gauge",
         "Seconds since the live metrics started: the window of a report from one scrape (docs/fleet.md).");
    put(o, "servprof_metrics_uptime_seconds ");
    put_secs(o, uptime_ns);
    put(o, "\n");
    head(o, "servprof_dropped_records_total", "counter",
         "Records the recorder dropped, by cause (the same counts every report shows).");
    for (int k = 0; k < SP_DROP_CAUSE_COUNT; k++)
        put(o, "servprof_dropped_records_total{cause=\"%s\"} %" PRIu64 "\n", sp_drop_cause_str((sp_drop_cause)k),
            c->drops[k]);
    head(o, "servprof_metrics_lost_total", "counter",
         "What the live metrics could not count, by reason (docs/metrics.md, \"What can be lost\").");
    for (int k = 0; k < SP_MX_LOST_COUNT; k++)
        put(o, "servprof_metrics_lost_total{reason=\"%s\"} %" PRIu64 "\n", lost_names[k], d->lost[k]);
    head(o, "servprof_metrics_pending_requests", "gauge",
         "Requests whose records the metrics are still waiting for (in flight, or waiting to settle).");
    put(o, "servprof_metrics_pending_requests %" PRIu64 "\n", d->pending);
    head(o, "servprof_price_per_hour", "gauge",
         "The instance price per hour the recorder was given (0: none; the fleet report then uses its own).");
    put(o, "servprof_price_per_hour %.9g\n", c->price_per_hour > 0 ? c->price_per_hour : 0.0);
    head(o, "servprof_info", "gauge", "The recording process: servprof version, and the trace properties service and device.");
    put(o, "servprof_info{version=\"");
    put_label(o, sp_version());
    put(o, "\",service=\"");
    put_label(o, c->service ? c->service : "");
    put(o, "\",device=\"");
    put_label(o, c->device ? c->device : "");
    put(o, "\"} 1\n");
}

sp_status sp_mx_render(sp_mx *m, const sp_mx_context *ctx, char **text, size_t *len)
{
    mx_data *d = malloc(sizeof *d);
    char *names[SP_MX_MAX_ROWS];
    if (!d)
        return SP_ERR_NOMEM;
    pthread_mutex_lock(&m->mu);
    memcpy(d, &m->d, sizeof *d);
    uint64_t now = sp_now_ns(), uptime = now > m->start_ns ? now - m->start_ns : 0;
    /* names are only ever appended and live as long as the aggregate */
    memcpy(names, m->row_name, sizeof names);
    pthread_mutex_unlock(&m->mu);
    mx_out o = {malloc(64 << 10), 0, 64 << 10, 0};
    if (!o.p) {
        free(d);
        return SP_ERR_NOMEM;
    }
    o.p[0] = 0;
    put_histogram(&o, "servprof_request_duration_seconds",
                  "End-to-end latency of ok requests, server side (arrival to response), DESIGN 3.", d->lat_count,
                  d->lat_sum_ns);
    put_stage_rows(&o, d, names);
    put_requests(&o, d);
    put_batches(&o, d);
    put_histogram(&o, "servprof_time_to_first_token_seconds",
                  "Generation: first output token's time - arrival, of ok requests with tokens.", d->ttft_count,
                  d->ttft_sum_ns);
    put_histogram(&o, "servprof_time_per_output_token_seconds",
                  "Generation: (last token - first token) / (output tokens - 1), of ok requests with 2 or more.",
                  d->tpot_count, d->tpot_sum_ns);
    head(&o, "servprof_output_tokens_total", "counter", "Generation: output tokens of ok requests.");
    put(&o, "servprof_output_tokens_total %" PRIu64 "\n", d->output_tokens);
    put_devices(&o, d);
    put_context(&o, d, ctx, uptime);
    free(d);
    if (o.failed) {
        free(o.p);
        return SP_ERR_NOMEM;
    }
    *text = o.p;
    *len = o.len;
    return SP_OK;
}
