/* The condition grammar of `servprof diff --fail-if` (docs/diff.md, "Conditions"): a metric path, a
 * direction and a threshold, "p95:+5%" or "stage.queue.share_of_p95:+0.05" (or +5pts); the metric paths and
 * their units; and the rule that decides whether a condition holds with confidence. Numbers are read
 * here digit by digit, never by strtod, so the C locale of the calling program cannot change them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/util_int.h"
#include "diff/diff_int.h"

/* ---- metric paths ---- */

static int one_of(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, words[i]) == 0)
            return 1;
    return 0;
}

int sp_diff_metric_path(const char *in, char *canon, size_t len, sp_diff_unit *unit)
{
    static const char *const pcts[] = {"p50", "p95", "p99"};
    if (one_of(in, pcts, 3)) { /* the short forms: end-to-end latency */
        snprintf(canon, len, "latency.%s", in);
        *unit = SP_DIFF_UNIT_NS;
        return 0;
    }
    if (strncmp(in, "latency.", 8) == 0 && one_of(in + 8, pcts, 3)) {
        *unit = SP_DIFF_UNIT_NS;
    } else if (strncmp(in, "stage.", 6) == 0) {
        const char *dot = strrchr(in, '.');
        static const char *const fields[] = {"p50", "p95", "p99", "share_of_p95"};
        if (dot <= in + 6 || !one_of(dot + 1, fields, 4)) /* an empty stage name, or no known field */
            return -1;
        *unit = dot[1] == 'p' ? SP_DIFF_UNIT_NS : SP_DIFF_UNIT_FRACTION;
    } else if (strcmp(in, "padding.share_of_p95") == 0 || strcmp(in, "padding.waste_fraction") == 0 ||
               strcmp(in, "padding.share_of_bill") == 0) {
        *unit = SP_DIFF_UNIT_FRACTION;
    } else if (strcmp(in, "cost.per_request") == 0) {
        *unit = SP_DIFF_UNIT_DOLLARS;
    } else if (strncmp(in, "cost.per_request_by_state.", 26) == 0) {
        const char *state = in + 26;
        int known = 0;
        for (int s = 0; s < SP_COST_STATE_COUNT; s++)
            known |= strcmp(state, sp_cost_state_str((sp_cost_state)s)) == 0;
        if (!known)
            return -1;
        *unit = SP_DIFF_UNIT_DOLLARS;
    } else if (strcmp(in, "requests.count") == 0) {
        *unit = SP_DIFF_UNIT_COUNT;
    } else {
        return -1;
    }
    if (strlen(in) >= len)
        return -1;
    snprintf(canon, len, "%s", in);
    return 0;
}

/* ---- thresholds ---- */

/* Most digits a threshold may have: its integer and fraction parts are then exact in doubles, and
 * "0.05" becomes 5 / 100, the double nearest 0.05. */
#define MAX_DIGITS 15

/* Reads DIGITS[.DIGITS] at *p into *out, advancing *p. Returns 0, or -1 when there is no digit or
 * too many. */
static int read_number(const char **p, double *out)
{
    const char *s = *p;
    double int_part = 0, frac = 0, scale = 1;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        int_part = int_part * 10 + (*s++ - '0');
        digits += int_part > 0;
    }
    int any = s > *p;
    if (*s == '.') {
        s++;
        const char *f = s;
        while (*s >= '0' && *s <= '9') {
            frac = frac * 10 + (*s++ - '0');
            scale *= 10;
            digits++;
        }
        any |= s > f;
    }
    if (!any || digits > MAX_DIGITS)
        return -1;
    *out = int_part + frac / scale;
    *p = s;
    return 0;
}

static const char *const forms =
    "expected METRIC:+THRESHOLD or METRIC:-THRESHOLD, e.g. p95:+5%, stage.queue.share_of_p95:+0.05, "
    "latency.p99:+2ms (docs/diff.md)";

sp_status sp_diff_condition_parse(const char *spec, sp_diff_condition *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!spec || !out) {
        sp_errf(err, errlen, "sp_diff_condition_parse: no condition");
        return SP_ERR_INVALID;
    }
    if (strlen(spec) > SP_DIFF_MAX_SPEC) {
        sp_errf(err, errlen, "condition '%.40s...': longer than %u bytes", spec, SP_DIFF_MAX_SPEC);
        return SP_ERR_INVALID;
    }
    sp_diff_condition c;
    memset(&c, 0, sizeof c);
    snprintf(c.spec, sizeof c.spec, "%s", spec);
    char *colon = strrchr(c.spec, ':'); /* a stage name may hold ':', a threshold never does */
    if (!colon) {
        sp_errf(err, errlen, "condition '%s': %s", spec, forms);
        return SP_ERR_INVALID;
    }
    char metric[SP_DIFF_MAX_SPEC + 1];
    snprintf(metric, sizeof metric, "%.*s", (int)(colon - c.spec), c.spec);
    if (sp_diff_metric_path(metric, c.metric, sizeof c.metric, &c.unit) != 0) {
        sp_errf(err, errlen,
                "condition '%s': unknown metric '%s' (expected p50, p95, p99, latency.pXX, stage.NAME.p50|p95|p99|"
                "share_of_p95, padding.share_of_p95|waste_fraction|share_of_bill, cost.per_request, "
                "cost.per_request_by_state.STATE or requests.count)",
                spec, metric);
        return SP_ERR_INVALID;
    }
    const char *p = colon + 1;
    if (*p != '+' && *p != '-') {
        sp_errf(err, errlen, "condition '%s': expected a direction before the threshold: + (holds on a rise) or - "
                             "(on a fall)", spec);
        return SP_ERR_INVALID;
    }
    c.direction = *p++ == '+' ? 1 : -1;
    double v;
    if (read_number(&p, &v) != 0) {
        sp_errf(err, errlen, "condition '%s': expected a threshold of at most %d digits after the direction (e.g. "
                             "+5%%, +0.05, +2ms)", spec, MAX_DIGITS);
        return SP_ERR_INVALID;
    }
    static const struct {
        const char *name;
        double ns;
    } units[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
    if (strcmp(p, "%") == 0) {
        c.relative = 1;
        c.threshold = v / 100;
    } else if (strcmp(p, "pts") == 0) {
        /* points of a share, as diff prints share changes: 5pts = 0.05 (5 / 100, the double "0.05"
         * reads as) */
        if (c.unit != SP_DIFF_UNIT_FRACTION) {
            sp_errf(err, errlen, "condition '%s': pts (points of a share) apply only to shares and fractions "
                                 "(stage.NAME.share_of_p95, padding.*); %s is %s", spec, c.metric,
                    c.unit == SP_DIFF_UNIT_NS ? "a duration: give its unit (ns, us, ms, s) or a %"
                    : c.unit == SP_DIFF_UNIT_DOLLARS ? "in dollars: give a bare number or a %"
                                                     : "a count: give a bare number or a %");
            return SP_ERR_INVALID;
        }
        if (v > 100) {
            sp_errf(err, errlen, "condition '%s': a fraction changes by at most 100 points", spec);
            return SP_ERR_INVALID;
        }
        c.threshold = v / 100;
    } else if (*p) {
        size_t u = 0;
        while (u < 4 && strcmp(p, units[u].name) != 0)
            u++;
        if (u == 4) {
            sp_errf(err, errlen, "condition '%s': unknown unit '%s' (expected %%, pts for shares, or, for "
                                 "durations, ns, us, ms or s)", spec, p);
            return SP_ERR_INVALID;
        }
        if (c.unit != SP_DIFF_UNIT_NS) {
            sp_errf(err, errlen, "condition '%s': %s is not a duration: give a bare number (in %s) or a %%",
                    spec, c.metric, c.unit == SP_DIFF_UNIT_FRACTION ? "points of a fraction, 0.05 = 5 points, or 5pts"
                                    : c.unit == SP_DIFF_UNIT_DOLLARS ? "dollars" : "requests");
            return SP_ERR_INVALID;
        }
        c.threshold = v * units[u].ns;
    } else {
        if (c.unit == SP_DIFF_UNIT_NS) {
            sp_errf(err, errlen, "condition '%s': %s is a duration: give its unit (ns, us, ms, s), e.g. +2ms, or a "
                                 "relative threshold, e.g. +5%%", spec, c.metric);
            return SP_ERR_INVALID;
        }
        if (c.unit == SP_DIFF_UNIT_FRACTION && v > 1) {
            sp_errf(err, errlen, "condition '%s': a fraction changes by at most 1 (0.05 is 5 points); for a "
                                 "relative threshold write %%", spec);
            return SP_ERR_INVALID;
        }
        c.threshold = v;
    }
    *out = c;
    return SP_OK;
}

/* ---- the rule ---- */

void sp_diff_evaluate(const sp_diff_metric *m, const sp_diff_condition *c, sp_diff_check *k)
{
    /* a rise must hold at the interval's lower bound, a fall at its upper bound: the change is beyond
     * the threshold with (1 + confidence) / 2 one-sided confidence (docs/diff.md, "Conditions") */
    k->basis = m->has_interval ? SP_DIFF_BASIS_INTERVAL : SP_DIFF_BASIS_POINT;
    double b = m->has_interval ? (c->direction > 0 ? m->lo : m->hi) : m->change;
    k->bound = b;
    k->base_zero = 0;
    if (c->relative) {
        if (m->base_value == 0) {
            /* any rise from 0 is infinitely large relative to it; no fall from 0 exists */
            k->base_zero = 1;
            k->bound = NAN;
            k->holds = c->direction > 0 && b > 0;
            return;
        }
        k->bound = b / fabs(m->base_value); /* NaN stays NaN */
    }
    if (!isfinite(k->bound)) {
        k->holds = 0;
        return;
    }
    k->holds = c->direction > 0 ? k->bound > c->threshold : k->bound < -c->threshold;
}
