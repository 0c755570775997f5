/* A what-if study: the observed policy and a sweep of candidates replayed through the simulator,
 * candidates that batch like one already simulated dropped, the cheapest policy that meets a p95
 * objective, and the advice: the change that lowered predicted p95, named by the settings it
 * changed (docs/whatif.md, "Advice"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/shared_rules.h"
#include "whatif/whatif_int.h"

void sp_whatif_study_options_init(sp_whatif_study_options *o)
{
    memset(o, 0, sizeof *o);
    sp_whatif_sim_options_init(&o->sim);
    o->sim.price_per_hour = 0; /* the trace's price, else the default */
}

void sp_whatif_study_clear(sp_whatif_study *s)
{
    if (!s)
        return;
    free(s->results);
    s->results = NULL;
    s->n_results = 0;
}

unsigned sp_whatif_policy_diff(const sp_whatif_policy *a, const sp_whatif_policy *b)
{
    sp_whatif_policy x = *a, y = *b;
    sp_whatif_policy_normalize(&x);
    sp_whatif_policy_normalize(&y);
    unsigned d = 0;
    if (x.max_batch != y.max_batch)
        d |= 1u << SP_WHATIF_SET_MAX_BATCH;
    if (x.max_delay_ns != y.max_delay_ns)
        d |= 1u << SP_WHATIF_SET_DELAY;
    if (x.pad != y.pad || x.pad_to != y.pad_to || memcmp(x.buckets, y.buckets, sizeof x.buckets) != 0)
        d |= 1u << SP_WHATIF_SET_PAD;
    if (x.instances != y.instances)
        d |= 1u << SP_WHATIF_SET_INSTANCES;
    if (x.queue_capacity != y.queue_capacity)
        d |= 1u << SP_WHATIF_SET_QUEUE_CAPACITY;
    if (x.max_len != y.max_len)
        d |= 1u << SP_WHATIF_SET_MAX_LEN;
    return d;
}

int sp_whatif_profile_thin(const sp_whatif_workload *w, char *why, size_t len)
{
    if (why && len)
        why[0] = '\0';
    if (!w)
        return 0;
    int few_reqs = w->n_reqs < SP_WHATIF_THIN_REQUESTS, few_batches = w->n_batches < SP_WHATIF_THIN_BATCHES;
    if (!few_reqs && !few_batches)
        return 0;
    if (why && len) {
        char need[64];
        if (few_reqs && few_batches)
            snprintf(need, sizeof need, "%u requests and %u batches", SP_WHATIF_THIN_REQUESTS, SP_WHATIF_THIN_BATCHES);
        else if (few_reqs)
            snprintf(need, sizeof need, "%u requests", SP_WHATIF_THIN_REQUESTS);
        else
            snprintf(need, sizeof need, "%u batches", SP_WHATIF_THIN_BATCHES);
        snprintf(why, len, "%zu %s in %zu %s: fewer than the %s a prediction needs", w->n_reqs,
                 w->n_reqs == 1 ? "request" : "requests", w->n_batches, w->n_batches == 1 ? "batch" : "batches",
                 need);
    }
    return 1;
}

static int one_bit(unsigned v)
{
    return v && !(v & (v - 1));
}

/* The candidate with the lowest predicted p95 that beats the observed policy's by the minimum gain
 * without rejecting more requests; single-setting changes first, so the advice can say which setting
 * helped; combinations only when no single change helps. */
static sp_whatif_advice pick_advice(const sp_whatif_result *r, size_t n)
{
    sp_whatif_advice single = {0, 0, 0}, any = {0, 0, 0};
    const sp_whatif_result *base = &r[0];
    double limit = (double)base->latency.p95_ns * (1.0 - SP_WHATIF_ADVICE_MIN_GAIN);
    for (size_t i = 1; i < n; i++) {
        if (r[i].rejected > base->rejected || r[i].completed == 0 || (double)r[i].latency.p95_ns > limit)
            continue;
        unsigned d = sp_whatif_policy_diff(&base->policy, &r[i].policy);
        sp_whatif_advice *slot = one_bit(d) ? &single : &any;
        if (!slot->found || r[i].latency.p95_ns < r[slot->row].latency.p95_ns)
            *slot = (sp_whatif_advice){1, i, d};
    }
    return single.found ? single : any;
}

sp_status sp_whatif_study_run(const sp_whatif_workload *w, const sp_whatif_fit *fit, const sp_whatif_observed *obs,
                              const sp_whatif_policy *candidates, size_t n, const sp_whatif_study_options *opt,
                              sp_whatif_study *out, char *err, size_t errlen)
{
    if (!w || !fit || !obs || (n && !candidates) || !out)
        return SP_ERR_INVALID;
    if (n > SP_WHATIF_MAX_POLICIES) {
        if (err && errlen)
            snprintf(err, errlen, "more than %d policies to simulate", SP_WHATIF_MAX_POLICIES);
        return SP_ERR_LIMIT;
    }
    sp_whatif_study_options defaults;
    if (!opt) {
        sp_whatif_study_options_init(&defaults);
        opt = &defaults;
    }
    sp_whatif_study s;
    memset(&s, 0, sizeof s);
    s.workload = w;
    s.fit = fit;
    s.observed = obs;
    s.sim = opt->sim;
    /* DESIGN section 7's price rule, shared with the analyzer */
    s.sim.price_per_hour = sp_ana_price(opt->sim.price_per_hour, w->price_per_hour, &s.price_is_default);
    s.slo_p95_ns = opt->slo_p95_ns;
    s.results = malloc((n + 1) * sizeof *s.results);
    if (!s.results)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i <= n; i++) {
        sp_whatif_policy p = i == 0 ? obs->policy : candidates[i - 1];
        sp_whatif_policy_normalize(&p);
        int dup = 0;
        for (size_t j = 0; j < s.n_results && !dup; j++)
            dup = sp_whatif_policy_equal(&p, &s.results[j].policy);
        if (dup) {
            s.duplicates++;
            continue;
        }
        sp_status st = sp_whatif_simulate(w, fit, &p, &s.sim, &s.results[s.n_results]);
        if (st != SP_OK) {
            if (err && errlen) {
                char pb[256];
                snprintf(err, errlen, "simulating %s%s: %s", i == 0 ? "the observed policy " : "",
                         sp_whatif_policy_str(&p, pb, sizeof pb),
                         st == SP_ERR_INVALID ? "not a valid policy" : sp_status_str(st));
            }
            sp_whatif_study_clear(&s);
            return st;
        }
        s.n_results++;
    }
    if (s.slo_p95_ns)
        s.slo_met = sp_whatif_pick_slo(s.results, s.n_results, s.slo_p95_ns, &s.slo_best) == SP_OK;
    s.advice = pick_advice(s.results, s.n_results);
    *out = s;
    return SP_OK;
}
