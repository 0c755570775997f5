/* What-if front half: extracts the workload (arrivals, lengths, pre/postprocess times, batches) from
 * a profile, parses policy lists and builds the sweep grid, and picks the cheapest policy that meets
 * a p95 objective. The policy itself (defaults, the trace's, inferred) is policy.c's. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/shared_rules.h"
#include "model/events_int.h"
#include "common/sort.h"
#include "common/util_int.h"
#include "whatif/whatif_int.h"

void sp_whatif_workload_clear(sp_whatif_workload *w)
{
    if (!w)
        return;
    free(w->reqs);
    free(w->batches);
    memset(w, 0, sizeof *w);
}

/* Requests by enqueue time, then arrival; requests equal in both by their other fields, so the
 * simulated order never depends on the order of lines in the trace (docs/analysis.md, "Ties"):
 * requests equal in every field are interchangeable. */
static int req_enqueue_cmp(const void *a, const void *b)
{
    const sp_whatif_request *x = a, *y = b;
    uint64_t ex = x->arrival_ns + x->pre_ns, ey = y->arrival_ns + y->pre_ns;
    if (ex != ey)
        return ex < ey ? -1 : 1;
    if (x->arrival_ns != y->arrival_ns)
        return x->arrival_ns < y->arrival_ns ? -1 : 1;
    if (x->tokens != y->tokens)
        return x->tokens < y->tokens ? -1 : 1;
    if (x->post_ns != y->post_ns)
        return x->post_ns < y->post_ns ? -1 : 1;
    return (x->observed_ns > y->observed_ns) - (x->observed_ns < y->observed_ns);
}

sp_status sp_whatif_workload_from_arrays(const sp_whatif_request *reqs, size_t n,
                                         const sp_whatif_batch_obs *b, size_t nb,
                                         sp_whatif_workload *out)
{
    if (!out || (n && !reqs) || (nb && !b) || n > SP_WHATIF_MAX_REQUESTS || nb > SP_WHATIF_MAX_REQUESTS)
        return SP_ERR_INVALID;
    sp_whatif_workload w;
    memset(&w, 0, sizeof w);
    w.reqs = malloc((n ? n : 1) * sizeof *w.reqs);
    w.batches = malloc((nb ? nb : 1) * sizeof *w.batches);
    if (!w.reqs || !w.batches) {
        sp_whatif_workload_clear(&w);
        return SP_ERR_NOMEM;
    }
    if (n)
        memcpy(w.reqs, reqs, n * sizeof *reqs);
    if (nb)
        memcpy(w.batches, b, nb * sizeof *b);
    w.n_reqs = n;
    w.n_batches = nb;
    if (n > 1)
        qsort(w.reqs, n, sizeof *w.reqs, req_enqueue_cmp);
    for (size_t i = 0; i < nb; i++)
        if (b[i].size > w.max_batch_seen)
            w.max_batch_seen = b[i].size;
    for (size_t i = 0; i < n; i++)
        if (w.reqs[i].tokens > w.max_tokens_seen)
            w.max_tokens_seen = w.reqs[i].tokens;
    uint64_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) {
        sp_whatif_workload_clear(&w);
        return SP_ERR_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (w.reqs[i].observed_ns)
            v[k++] = w.reqs[i].observed_ns;
    sp_status st = sp_ana_quantiles(v, k, &w.observed); /* DESIGN section 4, the analyzer's code */
    free(v);
    if (st) {
        sp_whatif_workload_clear(&w);
        return st;
    }
    *out = w;
    return SP_OK;
}

/* The most requests waiting at once: enqueued at in[i], dispatched at out[i]; a request dispatched at
 * the instant another is enqueued no longer waits. Sorts both arrays. */
static uint32_t max_queued(uint64_t *in, uint64_t *out, size_t n)
{
    if (n == 0 || sp_sort_u64(in, n, NULL) != SP_OK || sp_sort_u64(out, n, NULL) != SP_OK)
        return 0;
    size_t gone = 0, most = 0;
    for (size_t i = 0; i < n; i++) {
        while (gone < n && out[gone] <= in[i])
            gone++;
        size_t waiting = i + 1 > gone ? i + 1 - gone : 0; /* ties: dispatched at its own enqueue */
        if (waiting > most)
            most = waiting;
    }
    return most > UINT32_MAX ? UINT32_MAX : (uint32_t)most;
}

/* One request of the offered load (docs/whatif.md): every request the service took in, whatever
 * became of it, so the simulated queue decides rejections itself; not errors (refused before the
 * queue, mostly malformed input). Returns 0 for a request that is not part of it; else fills *row,
 * its enqueue time *enq and its dispatch (first batch start, SP_TIME_NONE without one). */
static int offered_request(const sp_events *ev, const sp_known_stages *ks, const sp_ev_request *q,
                           sp_whatif_request *row, uint64_t *enq, uint64_t *dispatch_out)
{
    int unfinished = q->outcome == SP_OUTCOME_UNFINISHED;
    if (q->outcome == SP_OUTCOME_ERROR || (!q->has_record && !unfinished) || q->arrival_ns == SP_TIME_NONE)
        return 0;
    if (!unfinished && (q->done_ns == SP_TIME_NONE || q->done_ns < q->arrival_ns))
        return 0;
    uint64_t done = unfinished ? SP_TIME_NONE : q->done_ns;
    /* enqueue: the queue span's start, else the end of preprocess, else arrival (docs/whatif.md) */
    uint64_t e_queue = SP_TIME_NONE, e_pre = SP_TIME_NONE, post_span = 0;
    for (uint32_t s = q->first_span; s < q->first_span + q->nspans; s++) {
        const sp_ev_span *sp = &ev->spans[s];
        if (sp->stage == ks->queue && sp->start_ns < e_queue)
            e_queue = sp->start_ns;
        else if (sp->stage == ks->preprocess && (e_pre == SP_TIME_NONE || sp->end_ns > e_pre))
            e_pre = sp->end_ns;
        else if (sp->stage == ks->postprocess && sp->end_ns > sp->start_ns)
            post_span += sp->end_ns - sp->start_ns;
    }
    uint64_t e = e_queue != SP_TIME_NONE ? e_queue : e_pre != SP_TIME_NONE ? e_pre : q->arrival_ns;
    if (e < q->arrival_ns || e > done)
        e = q->arrival_ns;
    uint64_t batch_end = 0, dispatch = SP_TIME_NONE;
    int64_t tokens = sp_ev_req_input_tokens(ev, q);
    for (uint32_t k = q->first_batch, kend = k + sp_ev_req_nbatches(ev, q); k < kend; k++) {
        const sp_ev_batch *b = &ev->batches[ev->req_batches[k]];
        if (!b->has_record)
            continue;
        if (b->end_ns > batch_end && b->end_ns != SP_TIME_NONE)
            batch_end = b->end_ns;
        if (b->start_ns < dispatch)
            dispatch = b->start_ns;
        if (tokens < 0 && b->effective_tokens >= 0 && b->nmembers)
            tokens = b->effective_tokens / b->nmembers;
    }
    uint64_t post = post_span;
    if (batch_end && done != SP_TIME_NONE && batch_end <= done)
        post = done - batch_end;
    /* no length at all: 0 marks it for fill_unknown_lengths (a known length is at least 1) */
    if (tokens < 0)
        tokens = 0;
    else if (tokens < 1)
        tokens = 1;
    if (tokens > UINT32_MAX)
        tokens = UINT32_MAX;
    /* only a served request's latency is a measured latency to compare predictions with */
    uint64_t observed = q->outcome == SP_OUTCOME_OK ? q->done_ns - q->arrival_ns : 0;
    *row = (sp_whatif_request){q->arrival_ns, e - q->arrival_ns, post, (uint32_t)tokens, observed};
    *enq = e;
    *dispatch_out = dispatch;
    return 1;
}

/* Requests whose input length the trace does not give (offered_request left 0: no input_tokens and
 * no batch, e.g. refused at the connection cap before their body was read) take the median length of
 * the requests whose length is known, else the median padded length per member of the batches: a
 * typical request, not a 1-token one, which the simulator would batch and pad as a request no real
 * service ever ran (docs/whatif.md, "The workload"). `scratch` holds n. Returns how many it filled;
 * *typical gets the length given, *from_padded whether it came from the batches. */
static uint64_t fill_unknown_lengths(sp_whatif_request *reqs, size_t n, const sp_whatif_batch_obs *bo, size_t m,
                                     uint64_t *scratch, uint32_t *typical, int *from_padded)
{
    size_t k = 0;
    uint64_t unknown = 0;
    *typical = 0;
    *from_padded = 0;
    for (size_t i = 0; i < n; i++) {
        if (reqs[i].tokens)
            scratch[k++] = reqs[i].tokens;
        else
            unknown++;
    }
    if (!unknown)
        return 0;
    if (!k) {
        *from_padded = 1;
        for (size_t j = 0; j < m && j < n; j++)
            scratch[k++] = bo[j].padded_len;
    }
    sp_quantiles q;
    /* DESIGN section 4's nearest-rank p50, the analyzer's code, on lengths instead of durations */
    uint32_t len = 1;
    if (k && sp_ana_quantiles(scratch, k, &q) == SP_OK && q.p50_ns >= 1)
        len = q.p50_ns > UINT32_MAX ? UINT32_MAX : (uint32_t)q.p50_ns;
    for (size_t i = 0; i < n; i++)
        if (!reqs[i].tokens)
            reqs[i].tokens = len;
    *typical = len;
    return unknown;
}

/* The batch observations the fit takes: batches with members, a window and padded tokens, in (start,
 * file, id) order, not in the order of their first mention: the fit resamples them in order, so the
 * prediction never depends on the order of lines (docs/analysis.md, "Ties"). `order` is scratch of
 * n_batches. Returns how many; *max_seen gets the largest batch. */
static size_t batch_observations(const sp_events *ev, sp_ev_batch_order *order, sp_whatif_batch_obs *bo,
                                 uint32_t *max_seen)
{
    size_t m = 0, nbo = 0;
    *max_seen = 0;
    for (size_t i = 0; i < ev->n_batches; i++) {
        const sp_ev_batch *b = &ev->batches[i];
        if (b->has_record && b->nmembers && b->padded_tokens > 0 && b->end_ns != SP_TIME_NONE &&
            b->end_ns >= b->start_ns)
            order[nbo++] = (sp_ev_batch_order){b->start_ns, b->file, b->id, (uint32_t)i};
    }
    if (nbo > 1)
        qsort(order, nbo, sizeof *order, sp_ev_batch_order_cmp);
    for (size_t k = 0; k < nbo; k++) {
        const sp_ev_batch *b = &ev->batches[order[k].idx];
        uint64_t len = ((uint64_t)b->padded_tokens + b->nmembers / 2) / b->nmembers;
        bo[m++] = (sp_whatif_batch_obs){b->nmembers, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len,
                                        b->end_ns - b->start_ns};
        if (b->nmembers > *max_seen)
            *max_seen = b->nmembers;
    }
    return m;
}

/* The wait of the oldest member of each batch smaller than the largest (`max_seen`), from its enqueue
 * time (enq, per event request) to the batch's start, into heads[]; returns how many. Such batches
 * left because the head's deadline passed, so the head's wait estimates the profiled max queue delay
 * (plus wake-up); the caller takes the median, which resists batches that waited for a busy worker. */
static size_t head_waits(const sp_events *ev, const uint64_t *enq, uint32_t max_seen, uint64_t *heads)
{
    size_t nh = 0;
    for (size_t i = 0; i < ev->n_batches; i++) {
        const sp_ev_batch *b = &ev->batches[i];
        if (!b->has_record || !b->nmembers || b->nmembers >= max_seen || b->start_ns == SP_TIME_NONE)
            continue;
        uint64_t oldest = SP_TIME_NONE;
        for (uint32_t k = b->first_member; k < b->first_member + b->nmembers; k++)
            if (enq[ev->members[k]] < oldest)
                oldest = enq[ev->members[k]];
        if (oldest != SP_TIME_NONE && oldest <= b->start_ns)
            heads[nh++] = b->start_ns - oldest;
    }
    return nh;
}

sp_status sp_whatif_workload_from_events(sp_events *ev, int lenient, sp_whatif_workload *out,
                                         char *err, size_t errlen)
{
    if (!ev || !out)
        return SP_ERR_INVALID;
    sp_status st = sp_ev_finish(ev, lenient != 0, err, errlen);
    if (st)
        return st;
    char where[512];
    if (ev->n_requests > SP_WHATIF_MAX_REQUESTS || ev->n_batches > SP_WHATIF_MAX_REQUESTS) {
        sp_ev_files_label(ev, NULL, 0, where, sizeof where);
        sp_errf(err, errlen, "%s: more than %u requests or batches", where, SP_WHATIF_MAX_REQUESTS);
        return SP_ERR_LIMIT;
    }
    /* a generation trace's steps are continuous batching (docs/generation.md): the simulator replays
     * dynamic batches, so replaying them as such would price a policy the service does not run */
    if (ev->n_steps) {
        sp_ev_files_label(ev, NULL, 0, where, sizeof where);
        sp_errf(err, errlen,
                "%s: a generation trace (%zu steps of continuous batching, docs/generation.md): whatif "
                "simulates dynamic batching only and cannot replay it (servprof analyze reports it)",
                where, ev->n_steps);
        return SP_ERR_FORMAT;
    }
    /* the same service with its steps recorded as batches (an OTLP export of a generation trace,
     * docs/otlp.md: each step is exported as a batch, the token times left out): its properties still
     * say a continuous-batching scheduler ran (`mode` generate, `policy.max_num_seqs`), so its batches
     * are steps and are not replayed either */
    for (size_t f = 0; f < ev->n_files; f++) {
        const char *mode = sp_ev_get_prop(ev, (uint32_t)f, "mode");
        const char *key = mode && !strcmp(mode, "generate") ? "mode = generate"
                          : sp_ev_get_prop(ev, (uint32_t)f, "policy.max_num_seqs") ? "policy.max_num_seqs"
                                                                                  : NULL;
        if (key) {
            sp_ev_files_label(ev, NULL, 0, where, sizeof where);
            sp_errf(err, errlen,
                    "%s: a generation service's trace (its property %s: continuous batching, docs/generation.md), "
                    "its steps recorded as batches (an OTLP export's are): whatif simulates dynamic batching only "
                    "and cannot replay it (servprof analyze reports it)",
                    where, key);
            return SP_ERR_FORMAT;
        }
    }
    sp_known_stages ks;
    sp_ev_known_stages(ev, &ks);
    size_t nr = ev->n_requests, nb = ev->n_batches;
    sp_whatif_request *reqs = malloc((nr ? nr : 1) * sizeof *reqs);
    uint64_t *enq = malloc((nr ? nr : 1) * sizeof *enq); /* per event request: enqueue, or NONE */
    sp_whatif_batch_obs *bo = malloc((nb ? nb : 1) * sizeof *bo);
    uint64_t *heads = malloc((nb ? nb : 1) * sizeof *heads);
    uint64_t *q_in = malloc((nr ? nr : 1) * sizeof *q_in);   /* enqueue times of batched requests */
    uint64_t *q_out = malloc((nr ? nr : 1) * sizeof *q_out); /* their dispatch (first batch start) */
    sp_ev_batch_order *border = malloc((nb ? nb : 1) * sizeof *border);
    uint64_t *q_scratch = malloc((nr ? nr : 1) * sizeof *q_scratch); /* known lengths */
    if (!reqs || !enq || !bo || !heads || !q_in || !q_out || !border || !q_scratch) {
        st = SP_ERR_NOMEM;
        goto out;
    }
    size_t n = 0, nq = 0, errors = 0;
    uint64_t rejected = 0;
    for (size_t i = 0; i < nr; i++) {
        const sp_ev_request *q = &ev->requests[i];
        uint64_t dispatch;
        enq[i] = SP_TIME_NONE;
        errors += q->has_record && q->outcome == SP_OUTCOME_ERROR;
        if (!offered_request(ev, &ks, q, &reqs[n], &enq[i], &dispatch))
            continue;
        n++;
        rejected += q->outcome == SP_OUTCOME_REJECTED;
        if (dispatch != SP_TIME_NONE && dispatch >= enq[i]) {
            q_in[nq] = enq[i];
            q_out[nq++] = dispatch;
        }
    }
    uint32_t max_seen;
    size_t m = batch_observations(ev, border, bo, &max_seen);
    if (n == 0 || m == 0) {
        sp_ev_files_label(ev, NULL, 0, where, sizeof where);
        /* why, where the trace shows it: no request at all (a device-only trace: Kineto, Nsight
         * Systems), or requests that all ended in an error (not replayed: they were not served) */
        char why[200] = "";
        if (nr == 0 && ev->n_clients)
            snprintf(why, sizeof why, "; the trace has only a load generator's client records: give the "
                                      "server's trace with it (servprof whatif server.sptrace client.jsonl)");
        else if (nr == 0 && ev->n_acts)
            snprintf(why, sizeof why, "; the trace has no request records (a device-only trace, such as "
                                      "Kineto's or Nsight Systems', has none)");
        else if (nr == 0)
            snprintf(why, sizeof why, "; the trace has no request records");
        else if (n == 0 && errors == nr)
            snprintf(why, sizeof why, "; %s ended in an error, which what-if leaves out",
                     nr == 1 ? "its one request" : "all its requests");
        else if (n == 0 && errors)
            snprintf(why, sizeof why, "; %zu of its %zu requests ended in an error, which what-if leaves out",
                     errors, nr);
        sp_errf(err, errlen, "%s: the profile has %zu usable request%s and %zu usable batch%s (with "
                "members, a window and padded tokens); what-if needs both%s", where, n, n == 1 ? "" : "s", m,
                m == 1 ? "" : "es", why);
        st = SP_ERR_INVALID;
        goto out;
    }
    uint32_t typical_len;
    int from_padded;
    uint64_t unknown_len = fill_unknown_lengths(reqs, n, bo, m, q_scratch, &typical_len, &from_padded);
    sp_quantiles hq;
    size_t nh = head_waits(ev, enq, max_seen, heads);
    /* every batch full: none left at its deadline, so the waits say only that the delay was at least
     * the longest of them; that least delay replays the batches as they filled, where the median of
     * no waits (0) dispatched each request as soon as a worker was free */
    int all_full = !nh && max_seen < UINT32_MAX;
    if (all_full)
        nh = head_waits(ev, enq, max_seen + 1, heads);
    st = sp_ana_quantiles(heads, nh, &hq);
    if (st)
        goto out;
    sp_whatif_workload w;
    st = sp_whatif_workload_from_arrays(reqs, n, bo, m, &w);
    if (st)
        goto out;
    w.head_wait_p50_ns = all_full ? hq.max_ns : hq.p50_ns;
    w.head_wait_all_full = all_full && nh;
    w.measured_rejected = rejected;
    w.unknown_len = unknown_len;
    w.typical_len = typical_len;
    w.typical_from_padded = from_padded;
    w.max_queued_seen = max_queued(q_in, q_out, nq);
    w.price_per_hour = ev->n_files ? ev->files[0].price_per_hour : 0.0;
    *out = w;
out:
    free(reqs);
    free(enq);
    free(bo);
    free(heads);
    free(q_in);
    free(q_out);
    free(border);
    free(q_scratch);
    return st;
}

/* ---- parsing ---- */

/* One value of a list at p, at most `max`: true with *x when it is valid and ends at a ',' or at the
 * end of the list; *end is past the text read. */
typedef bool (*list_value_fn)(const char *p, char **end, uint32_t max, uint64_t *x);

static bool positive_u32(const char *p, char **end, uint32_t max, uint64_t *x)
{
    errno = 0;
    unsigned long long v = strtoull(p, end, 10);
    if (*end == p || *p < '0' || *p > '9' || errno || v == 0 || v > max || (**end && **end != ','))
        return false;
    *x = v;
    return true;
}

/* Milliseconds (fractions allowed) as whole ns. */
static bool ms_as_ns(const char *p, char **end, uint32_t max, uint64_t *x)
{
    /* decimal digits, a '.' and an exponent: strtod would also take blanks, '+', "0x10" and "inf" */
    char stop = p[strspn(p, "0123456789.eE+-")];
    if (!((*p >= '0' && *p <= '9') || *p == '.') || (stop != ',' && stop != '\0'))
        return false;
    errno = 0;
    double v = strtod(p, end);
    if (*end == p || errno || !(v >= 0 && v <= max) || (**end && **end != ','))
        return false;
    *x = (uint64_t)(v * 1e6 + 0.5);
    return true;
}

/* The comma-separated list `s` into v[0..*n), at most `cap` values, each read by `value`; v holds
 * uint64_t values when `wide`, else uint32_t. A value `value` refuses is named: "'X' in 'S' is not
 * WHAT". */
static sp_status parse_list(const char *s, list_value_fn value, uint32_t max, const char *what, void *v, bool wide,
                            size_t cap, size_t *n, char *err, size_t errlen)
{
    if (!s || !*s) {
        sp_errf(err, errlen, "empty list");
        return SP_ERR_PARSE;
    }
    size_t k = 0;
    const char *p = s;
    for (;;) {
        char *end;
        uint64_t x;
        if (!value(p, &end, max, &x)) {
            int len = (int)strcspn(p, ",");
            sp_errf(err, errlen, "'%.*s' in '%s' is not %s", len, p, s, what);
            return SP_ERR_PARSE;
        }
        if (k == cap) {
            sp_errf(err, errlen, "more than %zu values in '%s'", cap, s);
            return SP_ERR_LIMIT;
        }
        if (wide)
            ((uint64_t *)v)[k++] = x;
        else
            ((uint32_t *)v)[k++] = (uint32_t)x;
        if (!*end)
            break;
        p = end + 1;
    }
    *n = k;
    return SP_OK;
}

sp_status sp_whatif_parse_u32_list(const char *s, uint32_t max, uint32_t *v, size_t cap, size_t *n,
                                   char *err, size_t errlen)
{
    char what[48];
    snprintf(what, sizeof what, "an integer from 1 to %u", max);
    return parse_list(s, positive_u32, max, what, v, false, cap, n, err, errlen);
}

sp_status sp_whatif_parse_ms_list(const char *s, uint64_t *v, size_t cap, size_t *n, char *err,
                                  size_t errlen)
{
    char what[48];
    snprintf(what, sizeof what, "a delay from 0 to %u ms", SP_WHATIF_MAX_DELAY_MS);
    return parse_list(s, ms_as_ns, SP_WHATIF_MAX_DELAY_MS, what, v, true, cap, n, err, errlen);
}

/* "static:N" or "multiple:N" (`name` is the part before the colon): one N from 1 to SP_WHATIF_MAX_LEN. */
static sp_status parse_pad_n(const char *s, const char *name, sp_whatif_pad pad, sp_whatif_policy *p, char *err,
                             size_t errlen)
{
    uint32_t v;
    size_t k;
    if (sp_whatif_parse_u32_list(s + strlen(name) + 1, SP_WHATIF_MAX_LEN, &v, 1, &k, err, errlen)) {
        sp_errf(err, errlen, "pad '%s': expected %s:N with one N from 1 to %u", s, name, SP_WHATIF_MAX_LEN);
        return SP_ERR_PARSE;
    }
    p->pad = pad;
    p->pad_to = v;
    memset(p->buckets, 0, sizeof p->buckets);
    return SP_OK;
}

sp_status sp_whatif_parse_pad(const char *s, sp_whatif_policy *p, char *err, size_t errlen)
{
    if (!s || !p)
        return SP_ERR_INVALID;
    if (strcmp(s, "longest") == 0) {
        p->pad = SP_WHATIF_PAD_LONGEST;
        p->pad_to = 0;
        memset(p->buckets, 0, sizeof p->buckets);
        return SP_OK;
    }
    if (strncmp(s, "static:", 7) == 0)
        return parse_pad_n(s, "static", SP_WHATIF_PAD_STATIC, p, err, errlen);
    if (strncmp(s, "multiple:", 9) == 0)
        return parse_pad_n(s, "multiple", SP_WHATIF_PAD_MULTIPLE, p, err, errlen);
    if (strncmp(s, "buckets:", 8) == 0) {
        uint32_t v[SP_WHATIF_MAX_BUCKETS];
        size_t k;
        char e2[160];
        sp_status st =
            sp_whatif_parse_u32_list(s + 8, SP_WHATIF_MAX_LEN, v, SP_WHATIF_MAX_BUCKETS - 1, &k, e2, sizeof e2);
        if (st) {
            sp_errf(err, errlen, "pad '%s': %s", s, e2);
            return st;
        }
        for (size_t i = 1; i < k; i++)
            if (v[i] <= v[i - 1]) {
                sp_errf(err, errlen, "pad '%s': bucket bounds must ascend", s);
                return SP_ERR_PARSE;
            }
        p->pad = SP_WHATIF_PAD_BUCKETS;
        p->pad_to = 0;
        memset(p->buckets, 0, sizeof p->buckets);
        memcpy(p->buckets, v, k * sizeof *v);
        return SP_OK;
    }
    sp_errf(err, errlen, "pad '%s': expected longest, static:N, buckets:B1,B2,... or multiple:N", s);
    return SP_ERR_PARSE;
}

sp_status sp_whatif_grid(const sp_whatif_policy *base, const uint32_t *mb, size_t n_mb,
                         const uint64_t *delay, size_t n_delay, const sp_whatif_policy *pads,
                         size_t n_pads, const uint32_t *inst, size_t n_inst, sp_whatif_policy *out,
                         size_t cap, size_t *n_out)
{
    if (!base || !out || !n_out || !mb || !delay || !pads || !inst || !n_mb || !n_delay || !n_pads || !n_inst)
        return SP_ERR_INVALID;
    /* overflow-safe product against the cap */
    size_t total = 1;
    size_t dims[4] = {n_mb, n_delay, n_pads, n_inst};
    for (int i = 0; i < 4; i++) {
        if (dims[i] > cap || total > cap / dims[i])
            return SP_ERR_LIMIT;
        total *= dims[i];
    }
    size_t k = 0;
    for (size_t a = 0; a < n_mb; a++)
        for (size_t d = 0; d < n_delay; d++)
            for (size_t pd = 0; pd < n_pads; pd++)
                for (size_t i = 0; i < n_inst; i++) {
                    sp_whatif_policy p = *base;
                    p.max_batch = mb[a];
                    p.max_delay_ns = delay[d];
                    p.pad = pads[pd].pad;
                    p.pad_to = pads[pd].pad_to;
                    memcpy(p.buckets, pads[pd].buckets, sizeof p.buckets);
                    p.instances = inst[i];
                    out[k++] = p;
                }
    *n_out = k;
    return SP_OK;
}

sp_status sp_whatif_pick_slo(sp_whatif_result *r, size_t n, uint64_t slo_ns, size_t *best)
{
    size_t b = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        r[i].meets_slo = r[i].completed > 0 && r[i].rejected == 0 && r[i].latency.p95_ns <= slo_ns;
        if (!r[i].meets_slo)
            continue;
        if (b == SIZE_MAX) {
            b = i;
            continue;
        }
        double ci = r[i].cost_per_request, cb = r[b].cost_per_request;
        int tie = sp_whatif_cost_tied(ci, cb);
        if ((!tie && ci < cb) || (tie && r[i].latency.p95_ns < r[b].latency.p95_ns))
            b = i;
    }
    if (b == SIZE_MAX)
        return SP_ERR_STATE;
    *best = b;
    return SP_OK;
}
