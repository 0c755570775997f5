/* The verdict's prediction (DESIGN section 8): when the verdict names a batching setting and the trace
 * carries the policy that ran, the simulator replays the same trace under the natural change (a
 * shorter queue delay, a larger batch or one more instance behind a saturated device, bucketing)
 * and the report quotes predicted p95 before and after. docs/whatif.md, "The verdict's prediction". */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analyze/shared_rules.h"
#include "common/format_int.h"
#include "analyze/report_store.h"
#include "whatif/whatif_int.h"

/* Why `r`'s prediction extrapolates, against the batches `f` has seen: "batches of up to 32 requests
 * (the trace's largest: 16); padded to as few as 8 tokens (the trace's fewest: 64)". "" when it does
 * not. Returns buf. */
static char *extrapolation_str(const sp_whatif_fit *f, const sp_whatif_result *r, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    if (!r->extrapolated_batches || !f->n)
        return buf;
#define ADD(...)                                                                                       \
    do {                                                                                               \
        if (at < len)                                                                                  \
            at += (size_t)snprintf(buf + at, len - at, __VA_ARGS__);                                   \
    } while (0)
    if (r->largest_batch > f->size_max)
        ADD("batches of up to %u requests (the trace's largest: %u)", r->largest_batch, f->size_max);
    if (r->shortest_padded < f->len_min)
        ADD("%spadded to as few as %u token%s (the trace's fewest: %u)", at ? "; " : "", r->shortest_padded,
            r->shortest_padded == 1 ? "" : "s", f->len_min);
    if (r->longest_padded > f->len_max)
        ADD("%spadded to as many as %u token%s (the trace's most: %u)", at ? "; " : "", r->longest_padded,
            r->longest_padded == 1 ? "" : "s", f->len_max);
    if (!at)
        ADD("batches smaller than the trace's smallest (%u requests)", f->size_min);
#undef ADD
    return buf;
}

/* The largest max batch a natural change proposes (the CLI's limit). */
/* Bucket bounds start here at the lowest: shorter buckets split batches for no real saving. */
#define QUOTE_MIN_BUCKET 8u
/* The most the simulated observed policy's p95 may miss the measured server-side p95 by (relative)
 * for its prediction to be quoted: twice the worst error of the validation runs on a quiet machine
 * (docs/BENCHMARKS.md, what-if validation: -6.4% to +6.5%, one noisy run at 31.7%) would be 13%;
 * 25% leaves room for a trace shorter than those runs. */
#define SP_WHATIF_QUOTE_MAX_MISS 0.25

static sp_status unavailable(sp_report *r, const char *note)
{
    sp_verdict_prediction *p = &r->prediction;
    memset(p, 0, sizeof *p);
    p->state = SP_PREDICTION_UNAVAILABLE;
    p->note = sp_report_strdup(r, note);
    return p->note ? SP_OK : SP_ERR_NOMEM;
}

/* The queue verdict's change. Behind a saturated device or full batches (the analyzer's rule,
 * sp_ana_queue_saturated, docs/analysis.md) a shorter window cannot help: a larger batch does when
 * batches are full, else more capacity. A queue past the window with batches not full
 * (sp_ana_queue_past_window) gets the quarter window here, and predict simulates one more instance
 * beside it (past_window_pick): the rule cannot tell a late batcher from one busy worker. */
static sp_whatif_setting queue_change(const sp_report *r, const sp_whatif_policy *p, sp_whatif_policy *to)
{
    int saturated = sp_ana_queue_saturated(r);
    *to = *p;
    if (!saturated && p->max_delay_ns > 0) {
        to->max_delay_ns = p->max_delay_ns / 4;
        return SP_WHATIF_SET_DELAY;
    }
    /* full: the median batch holds max_batch requests (batch_size counts requests, not ns) */
    if (r->batch_size.count && r->batch_size.p50_ns >= p->max_batch && p->max_batch < SP_WHATIF_MAX_BATCH) {
        to->max_batch = p->max_batch * 2 > SP_WHATIF_MAX_BATCH ? SP_WHATIF_MAX_BATCH : p->max_batch * 2;
        return SP_WHATIF_SET_MAX_BATCH;
    }
    to->instances = p->instances < SP_WHATIF_MAX_INSTANCES ? p->instances + 1 : p->instances;
    return SP_WHATIF_SET_INSTANCES;
}

/* A queue past the window (sp_ana_queue_past_window): the quarter window `delay` (queue_change) and one
 * more instance `more` are both simulated, and the quote takes the one with the lower predicted p95.
 * One more instance wins only when its p95 is lower by SP_WHATIF_ADVICE_MIN_GAIN (2%) of the window's
 * or more: smaller differences are within what resampled residuals move (the advice's own threshold,
 * docs/whatif.md "Advice"), and the window then keeps the quote, as it adds no instance to the bill.
 * Returns 1 when `more` wins. */
static int past_window_pick(const sp_whatif_result *delay, const sp_whatif_result *more)
{
    return (double)more->latency.p95_ns <= (double)delay->latency.p95_ns * (1.0 - SP_WHATIF_ADVICE_MIN_GAIN);
}

/* The padding verdict's change: under a static shape longer than every input, the shortest static
 * shape that cuts none; otherwise buckets at the powers of two from the shortest input up to max_len.
 * Returns 0 when the policy already is that change. */
static int padding_change(const sp_whatif_workload *w, const sp_whatif_policy *p, sp_whatif_policy *to)
{
    *to = *p;
    uint32_t shortest = UINT32_MAX, longest = 0;
    for (size_t i = 0; i < w->n_reqs; i++) {
        uint32_t t = w->reqs[i].tokens;
        if (t < shortest)
            shortest = t;
        if (t > longest)
            longest = t;
    }
    if (p->pad == SP_WHATIF_PAD_STATIC && longest < p->pad_to) {
        to->pad_to = longest;
        return 1;
    }
    to->pad = SP_WHATIF_PAD_BUCKETS;
    to->pad_to = 0;
    memset(to->buckets, 0, sizeof to->buckets);
    uint32_t b = QUOTE_MIN_BUCKET;
    while (b < shortest && b < p->max_len)
        b *= 2;
    int n = 0;
    for (; b < p->max_len && n < SP_WHATIF_MAX_BUCKETS - 2; b *= 2)
        to->buckets[n++] = b;
    to->buckets[n] = p->max_len;
    sp_whatif_policy_normalize(to);
    return !sp_whatif_policy_equal(p, to);
}

/* Fills r->prediction from a readable trace policy; every failure short of memory becomes a note. */
static sp_status predict(sp_events *ev, sp_report *r, int lenient, sp_whatif_workload *w, sp_whatif_fit *fit)
{
    char err[512] = "", note[768];
    sp_whatif_observed obs;
    sp_status st = sp_whatif_observed_from_events(ev, &obs, err, sizeof err);
    if (st == SP_ERR_NOMEM)
        return st;
    if (st != SP_OK) {
        snprintf(note, sizeof note, "the trace's batching policy cannot be read (%s): no prediction", err);
        return unavailable(r, note);
    }
    if (!sp_whatif_observed_from_trace(&obs)) {
        char gaps[640];
        if (!sp_whatif_policy_gaps(ev, &obs, gaps, sizeof gaps))
            return unavailable(r, "the trace does not carry the batching policy: no prediction");
        snprintf(note, sizeof note, "the trace's batching policy is incomplete (%s): no prediction", gaps);
        return unavailable(r, note);
    }
    st = sp_whatif_workload_from_events(ev, lenient, w, err, sizeof err);
    if (st == SP_ERR_NOMEM || st == SP_ERR_STATE) /* a set released by its analysis: the caller's error */
        return st;
    if (st != SP_OK) {
        snprintf(note, sizeof note, "the trace lacks what the prediction needs (%s): no prediction",
                 err[0] ? err : sp_status_str(st));
        return unavailable(r, note);
    }
    sp_whatif_observed_infer(&obs, w);
    st = sp_whatif_fit_batches(w->batches, w->n_batches, 0x7, fit, err, sizeof err);
    if (st == SP_ERR_NOMEM)
        return st;
    if (st != SP_OK) {
        snprintf(note, sizeof note, "the service-time fit failed (%s): no prediction",
                 err[0] ? err : sp_status_str(st));
        return unavailable(r, note);
    }
    sp_whatif_policy to;
    sp_whatif_setting setting;
    if (strcmp(r->verdict.stage, "queue") == 0) {
        setting = queue_change(r, &obs.policy, &to);
    } else {
        setting = SP_WHATIF_SET_PAD;
        if (!padding_change(w, &obs.policy, &to))
            return unavailable(r, "the policy already buckets by powers of two: no natural padding change to "
                                  "simulate (try servprof whatif --pad)");
        /* a padding change is priced by the cost per padded token; with one padded length in the
         * trace that cost cannot be told from the others, and a prediction would say padding is free */
        if (!(fit->used & 0xcu)) {
            snprintf(note, sizeof note, "every batch in the trace is padded to %u tokens, so the fit cannot tell "
                     "what another padded length would cost: no prediction", fit->len_max);
            return unavailable(r, note);
        }
    }
    sp_whatif_sim_options so;
    sp_whatif_sim_options_init(&so);
    int price_default;
    so.price_per_hour = sp_ana_price(0, w->price_per_hour, &price_default); /* cost is not quoted */
    sp_whatif_result before, after, other;
    /* the other change a queue past the window is weighed against (past_window_pick) */
    sp_whatif_policy alt = obs.policy;
    int weigh = setting == SP_WHATIF_SET_DELAY && sp_ana_queue_past_window(r) &&
                obs.policy.instances < SP_WHATIF_MAX_INSTANCES;
    sp_whatif_setting alt_setting = SP_WHATIF_SET_INSTANCES;
    alt.instances = obs.policy.instances + 1;
    st = sp_whatif_simulate(w, fit, &obs.policy, &so, &before);
    if (st == SP_OK)
        st = sp_whatif_simulate(w, fit, &to, &so, &after);
    if (st == SP_OK && weigh)
        st = sp_whatif_simulate(w, fit, &alt, &so, &other);
    if (st == SP_OK && weigh && past_window_pick(&after, &other)) {
        /* the instance leads: swap the two, so that `to`/`after` is the quoted change */
        sp_whatif_policy t = to;
        sp_whatif_result tr = after;
        to = alt, after = other, alt = t, other = tr;
        alt_setting = setting;
        setting = SP_WHATIF_SET_INSTANCES;
    }
    if (st == SP_ERR_NOMEM)
        return st;
    if (st != SP_OK) {
        snprintf(note, sizeof note, "the trace's policy cannot be simulated (%s): no prediction", sp_status_str(st));
        return unavailable(r, note);
    }
    /* A prediction is only as good as the simulator's replay of what ran: when the observed policy,
     * simulated, misses the trace's own server-side p95 by more than SP_WHATIF_QUOTE_MAX_MISS (the
     * service ran slower or faster than its batches' fitted times explain: CPU contention, a drifting
     * clock speed, work outside the batches), quoting "predicted p95 X -> Y" beside a table whose p95 is
     * far from X would contradict it. docs/whatif.md, "The verdict's prediction". */
    double measured = (double)r->server_latency.p95_ns, simulated = (double)before.latency.p95_ns;
    if (measured > 0 && fabs(simulated / measured - 1.0) > SP_WHATIF_QUOTE_MAX_MISS) {
        char sim_s[32], meas_s[32];
        sp_fmt_dur(sim_s, sizeof sim_s, (double)before.latency.p95_ns);
        sp_fmt_dur(meas_s, sizeof meas_s, (double)r->server_latency.p95_ns);
        /* Slower than measured, and the service rejected requests while its queue never filled: it
         * refused them before the queue (e.g. at its connection cap, `servprof serve
         * --max-connections`), a limit the simulator does not model, so the simulated queue took them
         * in and waited far deeper than the service ever did; not the machine's speed */
        if (simulated > measured && w->n_reqs && w->max_queued_seen &&
            w->max_queued_seen < obs.policy.queue_capacity &&
            (double)w->measured_rejected >= SP_REJECTION_SIGNIFICANT * (double)w->n_reqs) {
            /* the capacity is the service's only when the trace gives policy.queue_capacity; else it is
             * the simulator's default (sp_whatif_policy_init), not a figure of the service */
            char cap[96];
            if (obs.origin[SP_WHATIF_SET_QUEUE_CAPACITY] == SP_WHATIF_FROM_TRACE)
                snprintf(cap, sizeof cap, "capacity %u", obs.policy.queue_capacity);
            else
                snprintf(cap, sizeof cap, "the trace gives no policy.queue_capacity; the simulator assumes %u",
                         obs.policy.queue_capacity);
            snprintf(note, sizeof note, "the simulator does not reproduce this trace (the observed policy "
                     "simulated: p95 %s; measured at the server: %s): the service rejected %" PRIu64 " requests "
                     "while at most %u waited in its queue (%s), so it refused them before the queue "
                     "(e.g. at a connection cap, which the simulator does not model), and the simulated queue "
                     "took them in: no prediction",
                     sim_s, meas_s, w->measured_rejected, w->max_queued_seen, cap);
        } else
            snprintf(note, sizeof note, "the simulator does not reproduce this trace (the observed policy "
                     "simulated: p95 %s; measured at the server: %s), so the service ran at a speed its "
                     "batches' times do not explain (CPU contention?): no prediction",
                     sim_s, meas_s);
        return unavailable(r, note);
    }
    char a[SP_WHATIF_PAD_STR_MAX], b[SP_WHATIF_PAD_STR_MAX];
    sp_verdict_prediction p;
    memset(&p, 0, sizeof p);
    p.state = SP_PREDICTION_DONE;
    p.setting = sp_whatif_setting_str(setting);
    p.from = sp_report_strdup(r, sp_whatif_setting_value(&obs.policy, setting, a, sizeof a));
    p.to = sp_report_strdup(r, sp_whatif_setting_value(&to, setting, b, sizeof b));
    if (!p.from || !p.to)
        return SP_ERR_NOMEM;
    p.p95_before_ns = before.latency.p95_ns;
    p.p95_after_ns = after.latency.p95_ns;
    p.extrapolated = after.extrapolated_batches > 0;
    if (weigh) {
        p.alt_setting = sp_whatif_setting_str(alt_setting);
        p.alt_from = sp_report_strdup(r, sp_whatif_setting_value(&obs.policy, alt_setting, a, sizeof a));
        p.alt_to = sp_report_strdup(r, sp_whatif_setting_value(&alt, alt_setting, b, sizeof b));
        if (!p.alt_from || !p.alt_to)
            return SP_ERR_NOMEM;
        p.alt_p95_after_ns = other.latency.p95_ns;
        p.alt_extrapolated = other.extrapolated_batches > 0;
    }
    /* caveats a reader must weigh: extrapolation, and rejections that flatter a p95 */
    char why[300], caveat[768];
    size_t at = 0;
    caveat[0] = '\0';
    if (p.extrapolated)
        at += (size_t)snprintf(caveat, sizeof caveat, "extrapolated: %s",
                               extrapolation_str(fit, &after, why, sizeof why));
    if ((before.rejected || after.rejected) && at < sizeof caveat)
        snprintf(caveat + at, sizeof caveat - at, "%s%" PRIu64 " of %" PRIu64 " requests rejected (queue full) "
                 "after the change, %" PRIu64 " before",
                 at ? "; " : "", after.rejected, after.requests, before.rejected);
    if (caveat[0] && !(p.note = sp_report_strdup(r, caveat)))
        return SP_ERR_NOMEM;
    r->prediction = p;
    return SP_OK;
}

int sp_whatif_quote_reads_events(const sp_events *ev)
{
    sp_whatif_observed obs;
    char err[256];
    /* a policy that cannot be read is quoted as such, from the properties alone (predict) */
    return ev && sp_whatif_observed_from_events(ev, &obs, err, sizeof err) == SP_OK &&
           sp_whatif_observed_from_trace(&obs);
}

sp_status sp_whatif_quote_verdict(sp_events *ev, sp_report *r, int lenient)
{
    if (!ev || !r)
        return SP_ERR_INVALID;
    const char *stage = r->verdict.stage;
    if (!stage || r->request_count == 0 || (strcmp(stage, "queue") != 0 && strcmp(stage, "padding") != 0))
        return SP_OK;
    /* the simulator replays dynamic batching; a generation trace's continuous batching (steps,
     * docs/generation.md) is not a policy it can change, so there is nothing to quote */
    if (r->generation && r->generation->steps)
        return SP_OK;
    sp_whatif_workload w;
    sp_whatif_fit fit;
    memset(&w, 0, sizeof w);
    memset(&fit, 0, sizeof fit);
    sp_status st = predict(ev, r, lenient, &w, &fit);
    sp_whatif_fit_clear(&fit);
    sp_whatif_workload_clear(&w);
    /* the verdict sentence quotes it (DESIGN section 8) */
    return st == SP_OK ? sp_report_quote_prediction(r) : st;
}
