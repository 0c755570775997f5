/* The fleet's samples and their sum: every servprof series read from Prometheus or from /metrics texts,
 * summed over the replicas metric by metric, cumulative `le` buckets turned into per-bucket figures,
 * and handed to sp_report_from_buckets (analyze.h) with the source that says which replicas and window
 * the report covers. Metric names and labels are those of docs/metrics.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "fleet/fleet_int.h"

void sp_fl_set_free(sp_fl_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        sp_fl_sample *s = &set->s[i];
        free(s->metric);
        for (size_t k = 0; k < s->n_labels; k++) {
            free(s->label_name[k]);
            free(s->label_value[k]);
        }
    }
    free(set->s);
    memset(set, 0, sizeof *set);
}

sp_status sp_fl_set_add(sp_fl_set *set, const char *metric, size_t n_labels, const char *const *names,
                        const char *const *values, double value)
{
    if (n_labels > SP_FL_MAX_LABELS)
        return SP_ERR_LIMIT;
    sp_status st = SP_GROW(set->s, set->cap, set->n + 1, SP_FL_MAX_SAMPLES);
    if (st)
        return st;
    sp_fl_sample *s = &set->s[set->n];
    memset(s, 0, sizeof *s);
    s->value = value;
    if (!(s->metric = strdup(metric)))
        return SP_ERR_NOMEM;
    for (size_t k = 0; k < n_labels; k++) {
        s->label_name[k] = strdup(names[k]);
        s->label_value[k] = strdup(values[k]);
        s->n_labels = k + 1;
        if (!s->label_name[k] || !s->label_value[k]) {
            set->n++; /* freed with the set */
            return SP_ERR_NOMEM;
        }
    }
    set->n++;
    return SP_OK;
}

const char *sp_fl_label(const sp_fl_sample *s, const char *name)
{
    for (size_t k = 0; k < s->n_labels; k++)
        if (strcmp(s->label_name[k], name) == 0)
            return s->label_value[k];
    return NULL;
}

/* ---------------- sums ---------------- */

/* Whether sample s is `metric` and, when lname is given, has label lname = lvalue. */
static int matches(const sp_fl_sample *s, const char *metric, const char *lname, const char *lvalue)
{
    if (strcmp(s->metric, metric) != 0)
        return 0;
    if (!lname)
        return 1;
    const char *v = sp_fl_label(s, lname);
    return v && strcmp(v, lvalue) == 0;
}

static double sum_of(const sp_fl_set *set, const char *metric, const char *lname, const char *lvalue)
{
    long double t = 0;
    for (size_t i = 0; i < set->n; i++)
        if (matches(&set->s[i], metric, lname, lvalue) && isfinite(set->s[i].value))
            t += set->s[i].value;
    return (double)t;
}

static double parse_le(const char *le)
{
    if (!le)
        return NAN;
    if (strcmp(le, "+Inf") == 0 || strcmp(le, "Inf") == 0)
        return INFINITY;
    char *end;
    double v = strtod(le, &end);
    return end != le && !*end ? v : NAN;
}

/* The same bound written two ways ("0.00012207" and "0.0001220703125"): equal to 5 significant digits,
 * coarser than any two bounds of one histogram are close (2^(1/4) apart at least). */
static int same_bound(double a, double b)
{
    if (isinf(a) || isinf(b))
        return isinf(a) && isinf(b);
    return fabs(a - b) <= 1e-5 * fabs(a > b ? a : b);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The distinct `le` bounds of a histogram-like metric, ascending (malloc'd; *n may be 0). */
static sp_status bounds_of(const sp_fl_set *set, const char *metric, double **out, size_t *n, char *err, size_t errlen)
{
    double *v = NULL;
    size_t nv = 0, cap = 0;
    for (size_t i = 0; i < set->n; i++) {
        const sp_fl_sample *s = &set->s[i];
        if (strcmp(s->metric, metric) != 0)
            continue;
        double le = parse_le(sp_fl_label(s, "le"));
        if (isnan(le)) {
            const char *lv = sp_fl_label(s, "le");
            sp_errf(err, errlen, "%s: a series with %s%s%s: expected a number or +Inf", metric,
                    lv ? "le=\"" : "no le label", lv ? lv : "", lv ? "\"" : "");
            free(v);
            return SP_ERR_PARSE;
        }
        size_t k = 0;
        while (k < nv && !same_bound(v[k], le))
            k++;
        if (k < nv)
            continue;
        if (SP_GROW(v, cap, nv + 1, (size_t)1 << 20)) {
            free(v);
            return SP_ERR_NOMEM;
        }
        v[nv++] = le;
    }
    if (nv)
        qsort(v, nv, sizeof *v, dbl_cmp);
    *out = v;
    *n = nv;
    return SP_OK;
}

/* How far a cumulative bucket may fall below the ones under it before the histogram is refused: a
 * rounding, or the few counts increase() misses on a restart it cannot see (a counter that rose past
 * its old value before the next scrape); more contradicts itself. */
#define FALL_SLACK_ABS 1.0
#define FALL_SLACK_REL 0.01

/* Per-bucket figures of a cumulative metric (its samples matching lname = lvalue, summed by le) over
 * the bounds `upper`: the differences of the cumulative sums, floored at 0 (increase() extrapolates
 * each series by its own samples, so a sum can dip by a rounding); SP_ERR_PARSE when it falls by more
 * (FALL_SLACK_*). */
static sp_status per_bucket(const sp_fl_set *set, const char *metric, const char *lname, const char *lvalue,
                            const double *upper, size_t n, double *out, char *err, size_t errlen)
{
    double *cum = calloc(n ? n : 1, sizeof *cum);
    if (!cum)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < set->n; i++) {
        const sp_fl_sample *s = &set->s[i];
        if (!matches(s, metric, lname, lvalue) || !isfinite(s->value))
            continue;
        double le = parse_le(sp_fl_label(s, "le"));
        size_t k = 0;
        while (k < n && !same_bound(upper[k], le))
            k++;
        if (k == n) {
            sp_errf(err, errlen, "%s has le=\"%s\", which the latency histogram has not (replicas of different "
                    "servprof versions?)", metric, sp_fl_label(s, "le") ? sp_fl_label(s, "le") : "");
            free(cum);
            return SP_ERR_PARSE;
        }
        cum[k] += s->value;
    }
    double prev = 0;
    for (size_t k = 0; k < n; k++) {
        double d = cum[k] - prev;
        if (-d > FALL_SLACK_ABS && -d > FALL_SLACK_REL * prev) {
            /* cumulative buckets never fall by more than a rounding or a restart's few missed counts:
             * floored, the report would be built on a histogram that contradicts itself */
            char up[32] = "+Inf", name[256];
            if (isfinite(upper[k]))
                snprintf(up, sizeof up, "%g", upper[k]);
            if (lname)
                snprintf(name, sizeof name, "%s{%s=\"%s\"}", metric, lname, lvalue);
            else
                snprintf(name, sizeof name, "%s", metric);
            sp_errf(err, errlen, "%s: the sum up to le=\"%s\" is %g, below the %g of the buckets under it: "
                    "cumulative buckets do not fall (counters whose resets were lost, such as through federation?)",
                    name, up, cum[k], prev);
            free(cum);
            return SP_ERR_PARSE;
        }
        out[k] = d > 0 ? d : 0;
        prev = cum[k] > prev ? cum[k] : prev;
    }
    free(cum);
    return SP_OK;
}

/* A histogram (batch sizes, waste) as per-bucket counts under its own bounds. */
typedef struct fl_hist {
    double *upper, *count;
    size_t n;
} fl_hist;

static sp_status hist_of(const sp_fl_set *set, const char *metric, fl_hist *h, char *err, size_t errlen)
{
    sp_status st = bounds_of(set, metric, &h->upper, &h->n, err, errlen);
    if (st)
        return st;
    h->count = calloc(h->n ? h->n : 1, sizeof *h->count);
    if (!h->count)
        return SP_ERR_NOMEM;
    return per_bucket(set, metric, NULL, NULL, h->upper, h->n, h->count, err, errlen);
}

/* ---------------- the figures ---------------- */

/* Distinct values of label `lname` among a metric's samples (pointers into the set). */
static size_t distinct(const sp_fl_set *set, const char *metric, const char *lname, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->s[i].metric, metric) != 0)
            continue;
        const char *v = sp_fl_label(&set->s[i], lname);
        if (!v)
            continue;
        size_t k = 0;
        while (k < n && strcmp(out[k], v) != 0)
            k++;
        if (k == n && n < cap)
            out[n++] = v;
    }
    return n;
}

/* A device is a series of servprof_device_seconds_total less its state label: its labels but state,
 * written out, name the device of one replica (malloc'd, whole however long the labels: cut to a
 * fixed length, two devices whose labels differ past it were taken for one, the second's seconds
 * billed to the first's replica). NULL when out of memory. */
static char *device_key(const sp_fl_sample *s)
{
    size_t need = 1;
    for (size_t k = 0; k < s->n_labels; k++)
        need += strlen(s->label_name[k]) + strlen(s->label_value[k]) + 2;
    char *buf = malloc(need);
    if (!buf)
        return NULL;
    size_t o = 0;
    buf[0] = 0;
    for (size_t k = 0; k < s->n_labels; k++)
        if (strcmp(s->label_name[k], "state") != 0)
            o += (size_t)snprintf(buf + o, need - o, "%s=%s,", s->label_name[k], s->label_value[k]);
    return buf;
}

#define MAX_STAGES 256

typedef struct fl_work {
    double *upper, *count, *padding;
    size_t nb;
    const char *stage_names[MAX_STAGES];
    sp_bucket_stage stages[MAX_STAGES];
    size_t n_stages;
    fl_hist size, waste;
    sp_bucket_status *statuses;
    size_t n_statuses;
    double (*dev)[SP_COST_STATE_COUNT];
    char **dev_key;
    const sp_fl_sample **dev_first; /* each device's first sample: its replica's labels */
    size_t n_dev;
    const char **replicas;
    size_t n_replicas;
} fl_work;

static void work_free(fl_work *w)
{
    free(w->upper);
    free(w->count);
    free(w->padding);
    for (size_t s = 0; s < w->n_stages; s++)
        free((void *)w->stages[s].seconds);
    free(w->size.upper);
    free(w->size.count);
    free(w->waste.upper);
    free(w->waste.count);
    free(w->statuses);
    free(w->dev);
    for (size_t d = 0; w->dev_key && d < w->n_dev; d++)
        free(w->dev_key[d]);
    free(w->dev_key);
    free(w->dev_first);
    for (size_t i = 0; i < w->n_replicas; i++)
        free((void *)w->replicas[i]);
    free(w->replicas);
}

static sp_status latency_and_stages(const sp_fl_set *set, fl_work *w, char *err, size_t errlen)
{
    const char *lat = "servprof_request_duration_seconds_bucket";
    sp_status st = bounds_of(set, lat, &w->upper, &w->nb, err, errlen);
    if (st)
        return st;
    w->count = calloc(w->nb ? w->nb : 1, sizeof *w->count);
    w->padding = calloc(w->nb ? w->nb : 1, sizeof *w->padding);
    if (!w->count || !w->padding)
        return SP_ERR_NOMEM;
    if ((st = per_bucket(set, lat, NULL, NULL, w->upper, w->nb, w->count, err, errlen)) ||
        (st = per_bucket(set, "servprof_request_padding_seconds_total", NULL, NULL, w->upper, w->nb, w->padding, err,
                         errlen)))
        return st;
    const char *stm = "servprof_request_stage_seconds_total";
    w->n_stages = distinct(set, stm, "stage", w->stage_names, MAX_STAGES);
    for (size_t s = 0; s < w->n_stages; s++) {
        double *sec = calloc(w->nb ? w->nb : 1, sizeof *sec);
        if (!sec)
            return SP_ERR_NOMEM;
        w->stages[s] = (sp_bucket_stage){w->stage_names[s], sec};
        if ((st = per_bucket(set, stm, "stage", w->stage_names[s], w->upper, w->nb, sec, err, errlen)))
            return st;
    }
    return SP_OK;
}

static sp_status outcomes_and_statuses(const sp_fl_set *set, fl_work *w, sp_bucket_figures *f)
{
    for (int o = 0; o < SP_OUTCOME_COUNT; o++)
        f->outcomes[o] = sum_of(set, "servprof_requests_total", "outcome", sp_outcome_str((sp_outcome)o));
    const char *sm = "servprof_requests_status_total";
    for (size_t i = 0; i < set->n; i++) {
        const sp_fl_sample *s = &set->s[i];
        if (strcmp(s->metric, sm) != 0 || !isfinite(s->value))
            continue;
        const char *oc = sp_fl_label(s, "outcome"), *stv = sp_fl_label(s, "status");
        int o = -1;
        for (int k = 0; oc && k < SP_OUTCOME_COUNT; k++)
            if (strcmp(oc, sp_outcome_str((sp_outcome)k)) == 0)
                o = k;
        char *end;
        long status = stv ? strtol(stv, &end, 10) : 0;
        if (o < 0 || !stv || *end || status <= 0 || status > 999)
            continue; /* "other" collects statuses a replica could not list */
        size_t k = 0;
        while (k < w->n_statuses && !(w->statuses[k].outcome == (sp_outcome)o && w->statuses[k].status == status))
            k++;
        if (k == w->n_statuses) {
            sp_bucket_status *ns = realloc(w->statuses, (w->n_statuses + 1) * sizeof *ns);
            if (!ns)
                return SP_ERR_NOMEM;
            w->statuses = ns;
            w->statuses[w->n_statuses++] = (sp_bucket_status){(sp_outcome)o, (int32_t)status, 0};
        }
        w->statuses[k].count += s->value;
    }
    f->statuses = w->statuses;
    f->n_statuses = w->n_statuses;
    return SP_OK;
}

/* A device sample: its key (device_key), its place in the set, its state, its place among the refs. */
typedef struct dev_ref {
    char *key;
    size_t i;
    int state;
    size_t pos;
} dev_ref;

static int dev_ref_cmp(const void *a, const void *b)
{
    const dev_ref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* A device found: the place of its first sample in the set, and its group among the sorted keys. */
typedef struct dev_group {
    size_t first, g;
} dev_group;

static int dev_group_cmp(const void *a, const void *b)
{
    size_t x = ((const dev_group *)a)->first, y = ((const dev_group *)b)->first;
    return (x > y) - (x < y);
}

/* The devices: the distinct keys of servprof_device_seconds_total's samples (device_key), numbered in
 * the order of their first sample and summed in the set's order, as a search of each key among those
 * found did before; the keys are sorted instead, since that search was quadratic in the devices
 * (12000 replicas of two devices each: 70 s). */
static sp_status devices(const sp_fl_set *set, fl_work *w)
{
    static const char *const states[SP_COST_STATE_COUNT] = {"useful", "padding", "copies", "gap", "no_batch"};
    const char *dm = "servprof_device_seconds_total";
    size_t cap = 0;
    for (size_t i = 0; i < set->n; i++)
        cap += strcmp(set->s[i].metric, dm) == 0;
    size_t c1 = cap ? cap : 1;
    w->dev = calloc(c1, sizeof *w->dev);
    w->dev_key = calloc(c1, sizeof *w->dev_key);
    w->dev_first = calloc(c1, sizeof *w->dev_first);
    dev_ref *r = calloc(c1, sizeof *r), *srt = calloc(c1, sizeof *srt);
    dev_group *grp = calloc(c1, sizeof *grp);
    size_t *dev_of_group = calloc(c1, sizeof *dev_of_group), *dev_of_ref = calloc(c1, sizeof *dev_of_ref);
    sp_status st = SP_OK;
    size_t nr = 0, ng = 0;
    if (!w->dev || !w->dev_key || !w->dev_first || !r || !srt || !grp || !dev_of_group || !dev_of_ref)
        st = SP_ERR_NOMEM;
    for (size_t i = 0; !st && i < set->n; i++) {
        const sp_fl_sample *s = &set->s[i];
        if (strcmp(s->metric, dm) != 0 || !isfinite(s->value))
            continue;
        const char *state = sp_fl_label(s, "state");
        int k = -1;
        for (int j = 0; state && j < SP_COST_STATE_COUNT; j++)
            if (strcmp(state, states[j]) == 0)
                k = j;
        if (k < 0)
            continue;
        char *key = device_key(s);
        if (!key) {
            st = SP_ERR_NOMEM;
            break;
        }
        r[nr] = (dev_ref){key, i, k, nr};
        nr++;
    }
    if (!st) {
        memcpy(srt, r, nr * sizeof *srt);
        qsort(srt, nr, sizeof *srt, dev_ref_cmp);
        for (size_t k = 0; k < nr; k++) {
            if (k == 0 || strcmp(srt[k - 1].key, srt[k].key) != 0) {
                grp[ng] = (dev_group){srt[k].i, ng};
                ng++;
            }
            dev_of_ref[srt[k].pos] = ng - 1; /* its group, for now */
        }
        qsort(grp, ng, sizeof *grp, dev_group_cmp);
        for (size_t d = 0; d < ng; d++)
            dev_of_group[grp[d].g] = d;
        for (size_t p = 0; p < nr; p++) {
            size_t d = dev_of_ref[p] = dev_of_group[dev_of_ref[p]];
            if (!w->dev_key[d]) { /* its first sample: the refs are in the set's order */
                w->dev_key[d] = r[p].key;
                r[p].key = NULL;
                w->dev_first[d] = &set->s[r[p].i];
            }
            double v = set->s[r[p].i].value;
            w->dev[d][r[p].state] += v > 0 ? v : 0;
        }
        w->n_dev = ng;
    }
    for (size_t k = 0; k < nr; k++)
        free(r[k].key);
    free(r);
    free(srt);
    free(grp);
    free(dev_of_group);
    free(dev_of_ref);
    return st;
}

/* The replica a sample came from, as the report names it: job/instance. */
static void replica_name(const sp_fl_sample *s, char *name, size_t len)
{
    const char *job = sp_fl_label(s, "job"), *inst = sp_fl_label(s, "instance");
    snprintf(name, len, "%s%s%s", job ? job : "", job && inst ? "/" : "", inst ? inst : "");
}

int sp_fl_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The replicas: distinct job/instance of servprof_requests_total, sorted (by name: sp_fl_report sorted
 * them so before; sorted here, the names are made distinct without a search of each among those found,
 * quadratic in the replicas). */
static sp_status replicas(const sp_fl_set *set, fl_work *w)
{
    size_t cap = 0;
    for (size_t i = 0; i < set->n; i++)
        cap += strcmp(set->s[i].metric, "servprof_requests_total") == 0;
    w->replicas = calloc(cap ? cap : 1, sizeof *w->replicas);
    if (!w->replicas)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < set->n; i++) {
        const sp_fl_sample *s = &set->s[i];
        if (strcmp(s->metric, "servprof_requests_total") != 0)
            continue;
        char name[512];
        replica_name(s, name, sizeof name);
        if (!(w->replicas[w->n_replicas] = strdup(name)))
            return SP_ERR_NOMEM;
        w->n_replicas++;
    }
    qsort(w->replicas, w->n_replicas, sizeof *w->replicas, sp_fl_str_cmp);
    size_t n = 0;
    for (size_t k = 0; k < w->n_replicas; k++) {
        if (n && strcmp(w->replicas[n - 1], w->replicas[k]) == 0)
            free((void *)w->replicas[k]);
        else
            w->replicas[n++] = w->replicas[k];
    }
    w->n_replicas = n;
    return SP_OK;
}

/* Prometheus' `up` sample of a target whose last scrape in the window failed. */
static int up_at_zero(const sp_fl_sample *s)
{
    return strcmp(s->metric, "up") == 0 && s->value == 0;
}

/* The replica of that name in the sorted w->replicas, or NULL. */
static const char *const *replica_named(const fl_work *w, const char *name)
{
    return bsearch(&name, w->replicas, w->n_replicas, sizeof *w->replicas, sp_fl_str_cmp);
}

/* The replicas whose last scrape in the window failed: an `up` sample of theirs (Prometheus' answer;
 * /metrics texts have none) at 0, in w->replicas' (sorted) order. `down` has room for n_replicas and
 * points into w->replicas. */
static size_t down_replicas(const sp_fl_set *set, const fl_work *w, const char **down)
{
    size_t n = 0;
    for (size_t i = 0; i < set->n && n < w->n_replicas; i++) {
        if (!up_at_zero(&set->s[i]))
            continue;
        char name[512];
        replica_name(&set->s[i], name, sizeof name);
        const char *const *hit = replica_named(w, name);
        if (hit)
            down[n++] = *hit;
    }
    qsort(down, n, sizeof *down, sp_fl_str_cmp);
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        if (!m || down[m - 1] != down[k])
            down[m++] = down[k];
    return m;
}

/* The targets that never answered in the window: an `up` sample at 0 (its last scrape failed) of a
 * job/instance with no servprof series (no replica of w->replicas), whose job is the job of a replica
 * that answered, so a down target of another job the selector also matches (a node exporter) is not
 * taken for a replica. Names are written into `names` (room for set->n, each freed by the caller) in
 * sorted order, each once. */
static sp_status never_replicas(const sp_fl_set *set, const fl_work *w, char **names, size_t *n_out)
{
    /* the jobs of the replicas that answered, sorted ("" for none) */
    size_t nj = 0;
    const char **jobs = malloc((set->n ? set->n : 1) * sizeof *jobs);
    if (!jobs) {
        *n_out = 0;
        return SP_ERR_NOMEM;
    }
    for (size_t j = 0; j < set->n; j++)
        if (strcmp(set->s[j].metric, "servprof_requests_total") == 0) {
            const char *rj = sp_fl_label(&set->s[j], "job");
            jobs[nj++] = rj ? rj : "";
        }
    qsort(jobs, nj, sizeof *jobs, sp_fl_str_cmp);
    size_t n = 0;
    sp_status st = SP_OK;
    for (size_t i = 0; i < set->n; i++) {
        const sp_fl_sample *s = &set->s[i];
        if (!up_at_zero(s))
            continue;
        char name[512];
        replica_name(s, name, sizeof name);
        const char *job = sp_fl_label(s, "job");
        if (!job)
            job = "";
        if (replica_named(w, name) || !bsearch(&job, jobs, nj, sizeof *jobs, sp_fl_str_cmp))
            continue;
        if (!(names[n] = strdup(name))) {
            st = SP_ERR_NOMEM;
            break;
        }
        n++;
    }
    free(jobs);
    qsort(names, n, sizeof *names, sp_fl_str_cmp);
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        if (m && strcmp(names[m - 1], names[k]) == 0)
            free(names[k]);
        else
            names[m++] = names[k];
    }
    *n_out = m;
    return st;
}

/* What the replicas' servprof_info says their device is (docs/analysis.md section 4, "Device kind"). */
static sp_device_kind device_kind(const sp_fl_set *set)
{
    int cpu = 0, gpu = 0, unknown = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (strcmp(set->s[i].metric, "servprof_info") != 0)
            continue;
        const char *d = sp_fl_label(&set->s[i], "device");
        if (!d || !*d)
            unknown = 1;
        else if (strcmp(d, "cpu") == 0)
            cpu = 1;
        else
            gpu = 1;
    }
    if (unknown || (!cpu && !gpu))
        return SP_DEVICE_UNKNOWN;
    return cpu && gpu ? SP_DEVICE_MIXED : cpu ? SP_DEVICE_CPU : SP_DEVICE_GPU;
}

/* Every replica's servprof_price_per_hour is 0 (none given) or a price the recorder takes, in
 * (0, SP_MAX_PRICE_PER_HOUR]: anything else (1e300, negative, NaN, Inf) did not come from a recorder and
 * is refused as a trace's meta price is, naming the replica and the metric, even under the option (a
 * bad price in a trace is refused under it too). */
static sp_status prices_valid(const sp_fl_set *set, char *err, size_t errlen)
{
    for (size_t i = 0; i < set->n; i++) {
        const sp_fl_sample *s = &set->s[i];
        if (strcmp(s->metric, "servprof_price_per_hour") != 0 || s->value == 0 ||
            (s->value > 0 && s->value <= SP_MAX_PRICE_PER_HOUR))
            continue;
        char name[512];
        replica_name(s, name, sizeof name);
        sp_errf(err, errlen, "replica %s: servprof_price_per_hour is %g: expected 0 (no price) or a price in (0, %g] "
                "dollars per hour (SP_MAX_PRICE_PER_HOUR)", name, s->value, SP_MAX_PRICE_PER_HOUR);
        return SP_ERR_PARSE;
    }
    return SP_OK;
}

/* The price: the option, else the replicas' servprof_price_per_hour (their mean where they differ). */
static double price_of(const sp_fl_set *set, double option)
{
    if (option > 0)
        return option;
    long double t = 0;
    size_t n = 0;
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->s[i].metric, "servprof_price_per_hour") == 0 && set->s[i].value > 0 &&
            isfinite(set->s[i].value)) {
            t += set->s[i].value;
            n++;
        }
    return n ? (double)(t / n) : 0.0;
}

/* The index of a replica (job/instance) in the sorted w->replicas, or -1. */
static long replica_index(const fl_work *w, const sp_fl_sample *s)
{
    char name[512];
    replica_name(s, name, sizeof name);
    const char *key = name;
    const char **hit = bsearch(&key, w->replicas, w->n_replicas, sizeof *w->replicas, sp_fl_str_cmp);
    return hit ? (long)(hit - w->replicas) : -1;
}

/* Each replica's instance bill (docs/fleet.md, "Cost"; the report sums them): its price, its window and
 * its devices' seconds by state. The price: the option, else its own servprof_price_per_hour, else (it
 * publishes none) the mean of the replicas' that do, as one price for all was before, else the default
 * (0 here). The window: the range, or its own metrics' uptime when shorter (a replica started inside
 * the range ran for its uptime; one without an uptime series takes the longest of the others, the rule
 * before); texts (no range): its uptime. A replica that stopped answering (`down`) is billed for what
 * was scraped of it: at most the increase() of its uptime over the window (SP_FL_SCRAPED_SECONDS,
 * Prometheus' answer; none from texts), the time from the window's start, or its own, to its last
 * scrape, as every other figure of it is (a replica up before the range and killed in it has an uptime
 * past the range: billing the range would bill the time it was gone, for no request). `window_s` is
 * the fleet's window as before; `dev_rep` is each device's replica (-1: none). */
static sp_replica_bill *replica_bills(const sp_fl_set *set, const fl_work *w, const long *dev_rep,
                                      const char *const *down, size_t n_down, double option_price, double range_s,
                                      double window_s)
{
    sp_replica_bill *b = calloc(w->n_replicas ? w->n_replicas : 1, sizeof *b);
    double *uptime = calloc(w->n_replicas ? w->n_replicas : 1, sizeof *uptime);
    double *scraped = calloc(w->n_replicas ? w->n_replicas : 1, sizeof *scraped);
    if (!b || !uptime || !scraped) {
        free(b);
        free(uptime);
        free(scraped);
        return NULL;
    }
    double mean_price = price_of(set, 0), longest = 0;
    for (size_t i = 0; i < set->n; i++) {
        const sp_fl_sample *s = &set->s[i];
        int price = strcmp(s->metric, "servprof_price_per_hour") == 0;
        int up = strcmp(s->metric, "servprof_metrics_uptime_seconds") == 0;
        int scr = strcmp(s->metric, SP_FL_SCRAPED_SECONDS) == 0;
        if ((!price && !up && !scr) || !isfinite(s->value) || !(s->value > 0))
            continue;
        long k = replica_index(w, s);
        if (up && s->value > longest)
            longest = s->value;
        if (k < 0)
            continue;
        if (price && s->value > b[k].price_per_hour)
            b[k].price_per_hour = s->value;
        if (up && s->value > uptime[k])
            uptime[k] = s->value;
        if (scr && s->value > scraped[k])
            scraped[k] = s->value;
    }
    for (size_t d = 0; d < w->n_dev; d++)
        for (int st = 0; dev_rep[d] >= 0 && st < SP_COST_STATE_COUNT; st++)
            b[dev_rep[d]].state_s[st] += w->dev[d][st];
    for (size_t k = 0; k < w->n_replicas; k++) {
        if (option_price > 0)
            b[k].price_per_hour = option_price;
        else if (!(b[k].price_per_hour > 0))
            b[k].price_per_hour = mean_price; /* 0: the default, said in the report */
        double up = uptime[k] > 0 ? uptime[k] : longest;
        if (range_s > 0)
            b[k].window_s = up > 0 && up < range_s ? up : range_s;
        else
            b[k].window_s = up > 0 ? up : window_s;
        for (size_t j = 0; j < n_down; j++)
            if (down[j] == w->replicas[k] && scraped[k] > 0 && scraped[k] < b[k].window_s)
                b[k].window_s = scraped[k];
    }
    free(uptime);
    free(scraped);
    return b;
}

sp_status sp_fl_report(const sp_fl_set *set, const sp_fl_origin *origin, sp_report **out, char *err, size_t errlen)
{
    fl_work w;
    memset(&w, 0, sizeof w);
    sp_bucket_figures f;
    sp_bucket_figures_init(&f);
    sp_status st = replicas(set, &w);
    if (!st && !w.n_replicas) {
        /* the targets Prometheus could not scrape (`up` 0) are named: they are the likely replicas */
        char failed[1024] = "";
        size_t o = 0, n_failed = 0;
        for (size_t i = 0; i < set->n; i++) {
            if (!up_at_zero(&set->s[i]))
                continue;
            char name[512];
            replica_name(&set->s[i], name, sizeof name);
            if (o < sizeof failed)
                o += (size_t)snprintf(failed + o, sizeof failed - o, "%s %s", n_failed ? "," : "", name);
            n_failed++;
        }
        sp_errf(err, errlen, "no servprof_requests_total series%s%s: the replicas' /metrics are not there "
                "(docs/fleet.md)%s%s", origin->selector && *origin->selector ? " matching " : "",
                origin->selector ? origin->selector : "",
                n_failed ? "; Prometheus' last scrape in the window failed (up 0) for:" : "", failed);
        st = SP_ERR_FORMAT;
    }
    if (!st)
        st = prices_valid(set, err, errlen);
    if (!st)
        st = latency_and_stages(set, &w, err, errlen);
    if (!st)
        st = outcomes_and_statuses(set, &w, &f);
    if (!st)
        st = hist_of(set, "servprof_batch_size_bucket", &w.size, err, errlen);
    if (!st)
        st = hist_of(set, "servprof_batch_padding_ratio_bucket", &w.waste, err, errlen);
    if (!st)
        st = devices(set, &w);
    if (st) {
        work_free(&w);
        return st;
    }
    /* w.replicas is sorted by name (replicas()) */
    f.n_buckets = w.nb;
    f.upper_s = w.upper;
    f.count = w.count;
    f.n_stages = w.n_stages;
    f.stages = w.stages;
    f.padding_s = w.padding;
    f.batches = sum_of(set, "servprof_batch_size_count", NULL, NULL);
    f.batch_members = sum_of(set, "servprof_batch_size_sum", NULL, NULL);
    f.batch_size = (sp_bucket_hist){w.size.n, w.size.upper, w.size.count};
    f.token_batches = sum_of(set, "servprof_batch_padding_ratio_count", NULL, NULL);
    f.batch_waste = (sp_bucket_hist){w.waste.n, w.waste.upper, w.waste.count};
    f.effective_tokens = sum_of(set, "servprof_batch_tokens_total", "kind", "effective");
    f.padded_tokens = sum_of(set, "servprof_batch_tokens_total", "kind", "padded");
    f.n_devices = w.n_dev;
    f.device_s = (const double (*)[SP_COST_STATE_COUNT])w.dev;
    f.kernels = sum_of(set, "servprof_device_activities_total", "kind", "kernel");
    f.copies = sum_of(set, "servprof_device_activities_total", "kind", "copy");
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        f.drops[c] = sum_of(set, "servprof_dropped_records_total", "cause", sp_drop_cause_str((sp_drop_cause)c));
    f.uncounted = sum_of(set, "servprof_metrics_lost_total", NULL, NULL);
    f.price_per_hour = price_of(set, origin->price_per_hour);
    f.device_kind = device_kind(set);
    sp_report_source src;
    memset(&src, 0, sizeof src);
    src.kind = origin->kind;
    src.url = origin->url;
    src.selector = origin->selector;
    src.range = origin->range;
    src.window_s = origin->window_s;
    src.range_s = origin->window_s > 0 ? origin->window_s : 0;
    /* the longest uptime among the replicas' metrics (Prometheus: its largest value in the window) */
    double uptime = 0;
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->s[i].metric, "servprof_metrics_uptime_seconds") == 0 && set->s[i].value > uptime &&
            isfinite(set->s[i].value))
            uptime = set->s[i].value;
    if (!(src.window_s > 0)) {
        /* texts scraped once: since the replicas started */
        src.window_s = uptime > 0 ? uptime : 1e-9; /* no uptime: a window of no length, so no bill */
    } else if (uptime > 0 && uptime < src.window_s) {
        /* a range reaching back before every replica started (--range 1h on replicas up for 3 min)
         * holds nothing before them: billing the whole range put hours of an instance nobody ran into
         * the bill (no_batch) and the cost per request (DESIGN 7: the profiled window) */
        src.window_s = uptime;
    }
    src.end_unix_s = origin->end_unix_s;
    src.n_replicas = w.n_replicas;
    src.replicas = w.replicas;
    const char **down = malloc((w.n_replicas ? w.n_replicas : 1) * sizeof *down);
    if (!down) {
        work_free(&w);
        return SP_ERR_NOMEM;
    }
    src.n_down = down_replicas(set, &w, down);
    src.down = down;
    char **never = calloc(set->n ? set->n : 1, sizeof *never);
    size_t n_never = 0;
    st = never ? never_replicas(set, &w, never, &n_never) : SP_ERR_NOMEM;
    src.n_never = n_never;
    src.never = (const char *const *)never;
    src.bucket_growth = 1.189207115002721; /* 2^(1/4): the live metrics' buckets (docs/metrics.md) */
    long *dev_rep = st ? NULL : malloc((w.n_dev ? w.n_dev : 1) * sizeof *dev_rep);
    for (size_t d = 0; dev_rep && d < w.n_dev; d++)
        dev_rep[d] = replica_index(&w, w.dev_first[d]);
    sp_replica_bill *bills = dev_rep ? replica_bills(set, &w, dev_rep, src.down, src.n_down, origin->price_per_hour,
                                                     src.range_s, src.window_s)
                                     : NULL;
    if (!st && !bills)
        st = SP_ERR_NOMEM;
    src.bills = bills;
    /* the replicas without a device series while another has one: billed all no_batch, and named */
    const char **nodev = st ? NULL : calloc(w.n_replicas ? w.n_replicas : 1, sizeof *nodev);
    unsigned char *has_dev = st ? NULL : calloc(w.n_replicas ? w.n_replicas : 1, 1);
    if (!st && (!nodev || !has_dev))
        st = SP_ERR_NOMEM;
    if (!st) {
        size_t with = 0;
        for (size_t d = 0; d < w.n_dev; d++)
            if (dev_rep[d] >= 0 && !has_dev[dev_rep[d]]) {
                has_dev[dev_rep[d]] = 1;
                with++;
            }
        for (size_t k = 0; with && k < w.n_replicas; k++)
            if (!has_dev[k])
                nodev[src.n_nodev++] = w.replicas[k];
        src.nodev = nodev;
    }
    f.source = &src;
    if (!st)
        st = sp_report_from_buckets(&f, out, err, errlen);
    free(bills);
    free(dev_rep);
    free(nodev);
    free(has_dev);
    for (size_t i = 0; i < n_never; i++)
        free(never[i]);
    free(never);
    free(down);
    work_free(&w);
    return st;
}
