/* Discrete-event simulation of the reference service's dynamic batcher (src/serve/batcher.c) and its
 * workers: requests enter the bounded FIFO at arrival + preprocess, an idle instance takes a batch
 * when max_batch requests of the head's bucket wait or the head has waited max_delay, and the batch
 * runs for the fitted service time; batches outside the sizes and padded lengths the fit has seen are
 * counted as extrapolated. docs/whatif.md, "The simulation", states the rules. */
#include <stdlib.h>
#include <string.h>

#include "analyze/shared_rules.h"
#include "common/rng.h"
#include "whatif/whatif_int.h"

uint32_t sp_whatif_bucket_of(const sp_whatif_policy *p, uint32_t len)
{
    if (p->pad == SP_WHATIF_PAD_STATIC)
        return p->pad_to;
    if (p->pad != SP_WHATIF_PAD_BUCKETS || !p->buckets[0])
        return 0;
    for (int i = 0; i < SP_WHATIF_MAX_BUCKETS && p->buckets[i]; i++)
        if (len <= p->buckets[i])
            return p->buckets[i];
    return p->max_len;
}

uint32_t sp_whatif_effective_len(const sp_whatif_policy *p, uint32_t len)
{
    if (p->pad == SP_WHATIF_PAD_STATIC && len > p->pad_to)
        return p->pad_to;
    return len;
}

void sp_whatif_sim_options_init(sp_whatif_sim_options *o)
{
    memset(o, 0, sizeof *o);
    o->resample = 1;
    o->seed = 1;
    o->price_per_hour = SP_DEFAULT_PRICE_PER_HOUR;
}

static int policy_valid(const sp_whatif_policy *p)
{
    if (p->max_batch == 0 || p->instances == 0 || p->instances > SP_WHATIF_MAX_INSTANCES ||
        p->queue_capacity == 0 || p->max_len == 0)
        return 0;
    if (p->pad == SP_WHATIF_PAD_STATIC)
        return p->pad_to > 0;
    if (p->pad == SP_WHATIF_PAD_BUCKETS) {
        if (!p->buckets[0])
            return 0;
        for (int i = 1; i < SP_WHATIF_MAX_BUCKETS && p->buckets[i]; i++)
            if (p->buckets[i] <= p->buckets[i - 1])
                return 0;
        return 1;
    }
    if (p->pad == SP_WHATIF_PAD_MULTIPLE)
        return p->pad_to > 0;
    return p->pad == SP_WHATIF_PAD_LONGEST;
}

/* Per-request simulation state. */
struct simreq {
    uint64_t enq;      /* arrival + preprocess */
    uint32_t len;      /* input length the service runs */
    uint32_t bucket;   /* sp_whatif_bucket_of */
};

/* One simulation run: the workload under one policy, the service's queue and instances, and the
 * result as it accumulates. */
typedef struct sim {
    const sp_whatif_workload *w;
    const sp_whatif_fit *fit;
    const sp_whatif_policy *p;
    const sp_whatif_sim_options *o;
    size_t n;
    struct simreq *sr;
    /* FIFO of request indexes, oldest first: queue[qh .. qt). Each request enters at most once, so an
     * array of n never wraps, and taking a batch costs the part of the queue it scans, not all of it
     * (a saturated replay holds tens of thousands). */
    uint32_t *queue;
    size_t qh, qt;
    uint32_t *taken;           /* the batch being formed, max_batch at most */
    uint64_t *lat, *qwait;     /* per completed request: latency, queue wait */
    uint64_t *free_at;         /* per instance: when its batch ends */
    unsigned char *busy;       /* per instance */
    size_t next, ndone, idle;  /* next arrival, completed requests, idle instances */
    uint64_t now, first, last; /* clock; first arrival and last completion seen */
    uint64_t rng;
    long double busy_ns;
    uint64_t eff_tokens, pad_tokens;
    sp_whatif_result r;
} sim;

static void sim_free(sim *s)
{
    free(s->sr);
    free(s->queue);
    free(s->taken);
    free(s->lat);
    free(s->qwait);
    free(s->free_at);
    free(s->busy);
}

static sp_status sim_init(sim *s, const sp_whatif_workload *w, const sp_whatif_fit *fit, const sp_whatif_policy *p,
                          const sp_whatif_sim_options *o)
{
    memset(s, 0, sizeof *s);
    s->w = w;
    s->fit = fit;
    s->p = p;
    s->o = o;
    size_t n = s->n = w->n_reqs;
    s->sr = malloc((n ? n : 1) * sizeof *s->sr);
    s->queue = malloc((n ? n : 1) * sizeof *s->queue);
    s->taken = malloc(p->max_batch * sizeof *s->taken);
    s->lat = malloc((n ? n : 1) * sizeof *s->lat);
    s->qwait = malloc((n ? n : 1) * sizeof *s->qwait);
    s->free_at = calloc(p->instances, sizeof *s->free_at);
    s->busy = calloc(p->instances, 1);
    if (!s->sr || !s->queue || !s->taken || !s->lat || !s->qwait || !s->free_at || !s->busy)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const sp_whatif_request *q = &w->reqs[i];
        s->sr[i].enq = q->arrival_ns + q->pre_ns;
        s->sr[i].len = sp_whatif_effective_len(p, q->tokens);
        s->sr[i].bucket = sp_whatif_bucket_of(p, s->sr[i].len);
    }
    s->r.policy = *p;
    s->r.requests = n;
    s->rng = o->seed;
    s->idle = p->instances;
    s->first = UINT64_MAX;
    return SP_OK;
}

/* The next event: an arrival, an instance finishing, or the head's deadline; UINT64_MAX: none left. */
static uint64_t sim_next_event(const sim *s)
{
    uint64_t t = UINT64_MAX;
    if (s->next < s->n)
        t = s->sr[s->next].enq;
    for (uint32_t k = 0; k < s->p->instances; k++)
        if (s->busy[k] && s->free_at[k] < t)
            t = s->free_at[k];
    if (s->idle && s->qt > s->qh) {
        uint64_t dl = s->sr[s->queue[s->qh]].enq + s->p->max_delay_ns;
        if (dl < t)
            t = dl;
    }
    return t;
}

/* Instances whose batch has ended become idle; requests that have arrived join the queue, or are
 * rejected when it is full (the service answers 503 at once). */
static void sim_advance(sim *s)
{
    for (uint32_t k = 0; k < s->p->instances; k++)
        if (s->busy[k] && s->free_at[k] <= s->now) {
            s->busy[k] = 0;
            s->idle++;
        }
    while (s->next < s->n && s->sr[s->next].enq <= s->now) {
        uint64_t arr = s->w->reqs[s->next].arrival_ns;
        if (arr < s->first)
            s->first = arr;
        if (s->qt - s->qh == s->p->queue_capacity)
            s->r.rejected++;
        else
            s->queue[s->qt++] = (uint32_t)s->next;
        s->next++;
    }
}

/* batcher.c sp_batcher_next: a free worker takes a batch when max_batch requests of the head's bucket
 * wait or the head's deadline has passed; otherwise it waits. */
static int sim_batch_ready(const sim *s)
{
    const uint32_t key = s->sr[s->queue[s->qh]].bucket;
    uint64_t waiting = 0;
    for (size_t i = s->qh; i < s->qt && waiting < s->p->max_batch; i++)
        if (s->sr[s->queue[i]].bucket == key)
            waiting++;
    return waiting >= s->p->max_batch || s->now >= s->sr[s->queue[s->qh]].enq + s->p->max_delay_ns;
}

/* Takes the head, then later requests of its bucket in order while they fit, into s->taken; nobody
 * overtakes a request of the bucket that did not fit. Returns how many and the padded length. */
static size_t sim_take(sim *s, uint32_t *padded_out)
{
    const sp_whatif_policy *p = s->p;
    const uint32_t key = s->sr[s->queue[s->qh]].bucket;
    size_t nt = 0, scan = s->qh, kept = 0;
    uint32_t longest = 0;
    for (; scan < s->qt && nt < p->max_batch; scan++) {
        uint32_t qi = s->queue[scan];
        if (s->sr[qi].bucket != key) {
            s->queue[s->qh + kept++] = qi; /* another bucket's: stays, in order */
            continue;
        }
        s->taken[nt++] = qi;
        if (s->sr[qi].len > longest)
            longest = s->sr[qi].len;
    }
    /* the scanned part now holds the kept requests first: move them up against the unscanned rest, so
     * the queue stays in FIFO order from its new head */
    memmove(s->queue + scan - kept, s->queue + s->qh, kept * sizeof *s->queue);
    s->qh = scan - kept;
    uint32_t padded = key ? key : longest;
    if (p->pad == SP_WHATIF_PAD_MULTIPLE && padded % p->pad_to) {
        /* servprof synth: the longest member rounded up to a multiple of pad_to */
        uint64_t up = ((uint64_t)padded / p->pad_to + 1) * p->pad_to;
        padded = up > UINT32_MAX ? UINT32_MAX : (uint32_t)up;
    }
    *padded_out = padded;
    return nt;
}

/* Runs the taken batch of nt requests padded to `padded` on an idle instance for the fitted service
 * time (times a drawn residual when resampling), and completes its requests. */
static void sim_run(sim *s, size_t nt, uint32_t padded)
{
    sp_whatif_result *r = &s->r;
    const sp_whatif_fit *fit = s->fit;
    if (!sp_whatif_fit_covers(fit, (uint32_t)nt, padded))
        r->extrapolated_batches++;
    if (nt > r->largest_batch)
        r->largest_batch = (uint32_t)nt;
    if (padded > r->longest_padded)
        r->longest_padded = padded;
    if (r->batches == 0 || padded < r->shortest_padded)
        r->shortest_padded = padded;
    double svc = sp_whatif_fit_predict(fit, (uint32_t)nt, padded);
    if (s->o->resample && fit->n_ratios)
        svc *= fit->ratios[sp_splitmix64(&s->rng) % fit->n_ratios];
    uint64_t svc_ns = svc > 0 ? (uint64_t)(svc + 0.5) : 0;
    uint32_t k = 0;
    while (s->busy[k])
        k++;
    s->busy[k] = 1;
    s->idle--;
    s->free_at[k] = s->now + svc_ns;
    s->busy_ns += svc_ns;
    r->batches++;
    s->pad_tokens += (uint64_t)nt * padded;
    for (size_t i = 0; i < nt; i++) {
        uint32_t qi = s->taken[i];
        s->eff_tokens += s->sr[qi].len;
        uint64_t done = s->now + svc_ns + s->w->reqs[qi].post_ns;
        s->lat[s->ndone] = done - s->w->reqs[qi].arrival_ns;
        s->qwait[s->ndone] = s->now - s->sr[qi].enq;
        s->ndone++;
        if (done > s->last)
            s->last = done;
    }
}

/* The result's percentiles, means, throughput, utilisation and cost, once every event has run. */
static sp_status sim_finish(sim *s)
{
    sp_whatif_result *r = &s->r;
    const sp_whatif_policy *p = s->p;
    size_t ndone = s->ndone;
    r->completed = ndone;
    sp_status st = sp_ana_quantiles(s->lat, ndone, &r->latency);
    if (st == SP_OK)
        st = sp_ana_quantiles(s->qwait, ndone, &r->queue);
    if (st != SP_OK)
        return st;
    r->mean_batch = r->batches ? (double)ndone / (double)r->batches : 0.0;
    r->waste = s->pad_tokens ? 1.0 - (double)s->eff_tokens / (double)s->pad_tokens : 0.0;
    r->window_ns = (ndone && s->last > s->first) ? s->last - s->first : 0;
    r->throughput_rps = r->window_ns ? (double)ndone / ((double)r->window_ns / 1e9) : 0.0;
    r->utilisation = r->window_ns ? (double)(s->busy_ns / ((long double)p->instances * r->window_ns)) : 0.0;
    r->price_per_hour = s->o->price_per_hour;
    /* DESIGN section 7 with one bill per instance: every instance is paid for the whole window */
    r->bill = sp_ana_bill(s->o->price_per_hour, r->window_ns) * (double)p->instances;
    r->cost_per_request = ndone ? r->bill / (double)ndone : 0.0;
    return SP_OK;
}

sp_status sp_whatif_simulate(const sp_whatif_workload *w, const sp_whatif_fit *fit,
                             const sp_whatif_policy *p, const sp_whatif_sim_options *o,
                             sp_whatif_result *out)
{
    if (!w || !fit || !p || !out || !policy_valid(p))
        return SP_ERR_INVALID;
    sp_whatif_sim_options defaults;
    if (!o) {
        sp_whatif_sim_options_init(&defaults);
        o = &defaults;
    }
    sim s;
    sp_status st = sim_init(&s, w, fit, p, o);
    for (uint64_t t; !st && (t = sim_next_event(&s)) != UINT64_MAX;) {
        if (t > s.now)
            s.now = t;
        sim_advance(&s);
        while (s.idle && s.qt > s.qh && sim_batch_ready(&s)) {
            uint32_t padded;
            size_t nt = sim_take(&s, &padded);
            sim_run(&s, nt, padded);
        }
    }
    if (!st)
        st = sim_finish(&s);
    if (!st)
        *out = s.r;
    sim_free(&s);
    return st;
}
