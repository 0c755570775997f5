/* Discrete-event simulation of the reference service's dynamic batcher (src/serve/batcher.c) and its
 * workers: requests enter the bounded FIFO at arrival + preprocess, an idle instance takes a batch
 * when max_batch requests of the head's bucket wait or the head has waited max_delay, and the batch
 * runs for the fitted service time; batches outside the sizes and padded lengths the fit has seen are
 * counted as extrapolated. docs/whatif.md, "The simulation", states the rules. */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
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
    size_t n = w->n_reqs;
    struct simreq *sr = malloc((n ? n : 1) * sizeof *sr);
    /* FIFO of request indexes, oldest first: queue[qh .. qt). Each request enters at most once, so an
     * array of n never wraps, and taking a batch costs the part of the queue it scans, not all of it
     * (a saturated replay holds tens of thousands). */
    uint32_t *queue = malloc((n ? n : 1) * sizeof *queue);
    uint32_t *taken = malloc(p->max_batch * sizeof *taken);
    uint64_t *lat = malloc((n ? n : 1) * sizeof *lat);
    uint64_t *qwait = malloc((n ? n : 1) * sizeof *qwait);
    uint64_t *free_at = calloc(p->instances, sizeof *free_at);
    unsigned char *busy = calloc(p->instances, 1);
    sp_status st = SP_ERR_NOMEM;
    if (!sr || !queue || !taken || !lat || !qwait || !free_at || !busy)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const sp_whatif_request *q = &w->reqs[i];
        sr[i].enq = q->arrival_ns + q->pre_ns;
        sr[i].len = sp_whatif_effective_len(p, q->tokens);
        sr[i].bucket = sp_whatif_bucket_of(p, sr[i].len);
    }
    sp_whatif_result r;
    memset(&r, 0, sizeof r);
    r.policy = *p;
    r.requests = n;
    uint64_t rng = o->seed;
    size_t qh = 0, qt = 0, next = 0, ndone = 0, idle = p->instances;
    uint64_t now = 0, first = UINT64_MAX, last = 0;
    long double busy_ns = 0;
    uint64_t eff_tokens = 0, pad_tokens = 0;
    for (;;) {
        /* the next event: an arrival, an instance finishing, or the head's deadline */
        uint64_t t = UINT64_MAX;
        if (next < n)
            t = sr[next].enq;
        for (uint32_t k = 0; k < p->instances; k++)
            if (busy[k] && free_at[k] < t)
                t = free_at[k];
        if (idle && qt > qh) {
            uint64_t dl = sr[queue[qh]].enq + p->max_delay_ns;
            if (dl < t)
                t = dl;
        }
        if (t == UINT64_MAX)
            break;
        if (t > now)
            now = t;
        for (uint32_t k = 0; k < p->instances; k++)
            if (busy[k] && free_at[k] <= now) {
                busy[k] = 0;
                idle++;
            }
        while (next < n && sr[next].enq <= now) {
            uint64_t arr = w->reqs[next].arrival_ns;
            if (arr < first)
                first = arr;
            if (qt - qh == p->queue_capacity)
                r.rejected++; /* the service answers 503 at once */
            else
                queue[qt++] = (uint32_t)next;
            next++;
        }
        /* batcher.c sp_batcher_next: a free worker takes a batch when max_batch requests of the
         * head's bucket wait or the head's deadline has passed; otherwise it waits */
        while (idle && qt > qh) {
            const uint32_t key = sr[queue[qh]].bucket;
            uint64_t waiting = 0;
            for (size_t i = qh; i < qt && waiting < p->max_batch; i++)
                if (sr[queue[i]].bucket == key)
                    waiting++;
            if (waiting < p->max_batch && now < sr[queue[qh]].enq + p->max_delay_ns)
                break;
            /* take the head, then later requests of its bucket in order while they fit; nobody
             * overtakes a request of the bucket that did not fit */
            size_t nt = 0, scan = qh, kept = 0;
            uint32_t longest = 0;
            for (; scan < qt && nt < p->max_batch; scan++) {
                uint32_t qi = queue[scan];
                if (sr[qi].bucket != key) {
                    queue[qh + kept++] = qi; /* another bucket's: stays, in order */
                    continue;
                }
                taken[nt++] = qi;
                if (sr[qi].len > longest)
                    longest = sr[qi].len;
            }
            /* the scanned part now holds the kept requests first: move them up against the unscanned
             * rest, so the queue stays in FIFO order from its new head */
            memmove(queue + scan - kept, queue + qh, kept * sizeof *queue);
            qh = scan - kept;
            uint32_t padded = key ? key : longest;
            if (p->pad == SP_WHATIF_PAD_MULTIPLE && padded % p->pad_to) {
                /* servprof synth: the longest member rounded up to a multiple of pad_to */
                uint64_t up = ((uint64_t)padded / p->pad_to + 1) * p->pad_to;
                padded = up > UINT32_MAX ? UINT32_MAX : (uint32_t)up;
            }
            if (!sp_whatif_fit_covers(fit, (uint32_t)nt, padded))
                r.extrapolated_batches++;
            if (nt > r.largest_batch)
                r.largest_batch = (uint32_t)nt;
            if (padded > r.longest_padded)
                r.longest_padded = padded;
            if (r.batches == 0 || padded < r.shortest_padded)
                r.shortest_padded = padded;
            double svc = sp_whatif_fit_predict(fit, (uint32_t)nt, padded);
            if (o->resample && fit->n_ratios)
                svc *= fit->ratios[sp_splitmix64(&rng) % fit->n_ratios];
            uint64_t svc_ns = svc > 0 ? (uint64_t)(svc + 0.5) : 0;
            uint32_t k = 0;
            while (busy[k])
                k++;
            busy[k] = 1;
            idle--;
            free_at[k] = now + svc_ns;
            busy_ns += svc_ns;
            r.batches++;
            pad_tokens += (uint64_t)nt * padded;
            for (size_t i = 0; i < nt; i++) {
                uint32_t qi = taken[i];
                eff_tokens += sr[qi].len;
                uint64_t done = now + svc_ns + w->reqs[qi].post_ns;
                lat[ndone] = done - w->reqs[qi].arrival_ns;
                qwait[ndone] = now - sr[qi].enq;
                ndone++;
                if (done > last)
                    last = done;
            }
        }
    }
    r.completed = ndone;
    st = sp_ana_quantiles(lat, ndone, &r.latency);
    if (st == SP_OK)
        st = sp_ana_quantiles(qwait, ndone, &r.queue);
    if (st != SP_OK)
        goto out;
    r.mean_batch = r.batches ? (double)ndone / (double)r.batches : 0.0;
    r.waste = pad_tokens ? 1.0 - (double)eff_tokens / (double)pad_tokens : 0.0;
    r.window_ns = (ndone && last > first) ? last - first : 0;
    r.throughput_rps = r.window_ns ? (double)ndone / ((double)r.window_ns / 1e9) : 0.0;
    r.utilisation = r.window_ns ? (double)(busy_ns / ((long double)p->instances * r.window_ns)) : 0.0;
    r.price_per_hour = o->price_per_hour;
    /* DESIGN section 7 with one bill per instance: every instance is paid for the whole window */
    r.bill = sp_ana_bill(o->price_per_hour, r.window_ns) * (double)p->instances;
    r.cost_per_request = ndone ? r.bill / (double)ndone : 0.0;
    *out = r;
    st = SP_OK;
out:
    free(sr);
    free(queue);
    free(taken);
    free(lat);
    free(qwait);
    free(free_at);
    free(busy);
    return st;
}
