/* The fleet's queries to Prometheus' HTTP API (GET /api/v1/query, docs/fleet.md lists them): the
 * server's time first, so every query is evaluated at the same instant, then for each servprof metric
 * its increase() over the window summed by the labels the report needs (latency buckets and stages for
 * the whole fleet at once, outcomes and devices per replica), into the fleet's sample set. HTTP through
 * libcurl, the answers' JSON through jansson; a build without either has no Prometheus client. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "common/util_int.h"
#include "fleet/fleet_int.h"

#ifdef SP_FLEET_HAVE_PROMETHEUS
#include <curl/curl.h>
#include <jansson.h>

#define MAX_ANSWER ((size_t)256 << 20)
#define MAX_REDIRECTS 5
#define SP_FL_LATEST_TIME 253402300800.0 /* 10000-01-01 00:00:00 UTC */

int sp_fl_has_prometheus(void) { return 1; }

/* libcurl is opened with dlopen at the first query rather than linked: linked, it and the ~25
 * libraries it needs (TLS, Kerberos, LDAP, SSH, HTTP/2, ...) were loaded and relocated by every
 * servprof command before main, several ms of each start (docs/BENCHMARKS.md, "Every command starts
 * without libcurl and OpenBLAS"), for the one command that queries Prometheus. The few functions
 * used come through this table, typed from curl.h; the soname is the one the build found (CMake). */
#ifndef SP_CURL_SONAME
#define SP_CURL_SONAME "libcurl.so.4"
#endif

static struct curl_fns {
    __typeof__(curl_global_init) *global_init;
    __typeof__(curl_easy_init) *easy_init;
    __typeof__(curl_easy_setopt) *easy_setopt;
    __typeof__(curl_easy_perform) *easy_perform;
    __typeof__(curl_easy_getinfo) *easy_getinfo;
    __typeof__(curl_easy_cleanup) *easy_cleanup;
    __typeof__(curl_easy_escape) *easy_escape;
    __typeof__(curl_easy_strerror) *easy_strerror;
    __typeof__(curl_free) *free;
} lc;
static pthread_once_t lc_once = PTHREAD_ONCE_INIT;
static int lc_ok;
static char lc_error[512];

static void lc_load(void)
{
    /* never closed: libcurl keeps global state (curl_global_init) for the process' life */
    const sp_dl_sym fns[] = {
        {"curl_global_init", (void **)&lc.global_init},
        {"curl_easy_init", (void **)&lc.easy_init},
        {"curl_easy_setopt", (void **)&lc.easy_setopt},
        {"curl_easy_perform", (void **)&lc.easy_perform},
        {"curl_easy_getinfo", (void **)&lc.easy_getinfo},
        {"curl_easy_cleanup", (void **)&lc.easy_cleanup},
        {"curl_easy_escape", (void **)&lc.easy_escape},
        {"curl_easy_strerror", (void **)&lc.easy_strerror},
        {"curl_free", (void **)&lc.free},
    };
    if (!sp_dl_open(SP_CURL_SONAME, "the Prometheus client", "libcurl", "libcurl4", fns, sizeof fns / sizeof fns[0],
                    lc_error, sizeof lc_error))
        return;
    lc_ok = lc.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!lc_ok)
        snprintf(lc_error, sizeof(lc_error), "cannot start the HTTP client (libcurl: curl_global_init failed)");
}

typedef struct answer {
    char *p;
    size_t len, cap;
    int too_big;
} answer;

static size_t on_bytes(char *data, size_t size, size_t nmemb, void *user)
{
    answer *a = user;
    size_t n = size * nmemb;
    if (a->len + n + 1 > MAX_ANSWER) {
        a->too_big = 1;
        return 0;
    }
    if (SP_GROW(a->p, a->cap, a->len + n + 1, MAX_ANSWER))
        return 0;
    memcpy(a->p + a->len, data, n);
    a->len += n;
    a->p[a->len] = 0;
    return n;
}

/* One query: GET url/api/v1/query?query=Q[&time=T]; the answer's JSON in *root. */
static sp_status query(CURL *c, const char *url, const char *q, double at, double timeout_s, json_t **root,
                       char *err, size_t errlen)
{
    char *enc = lc.easy_escape(c, q, 0);
    if (!enc)
        return SP_ERR_NOMEM;
    size_t need = strlen(url) + strlen(enc) + 64;
    char *full = malloc(need);
    if (!full) {
        lc.free(enc);
        return SP_ERR_NOMEM;
    }
    if (at > 0)
        snprintf(full, need, "%s/api/v1/query?query=%s&time=%.3f", url, enc, at);
    else
        snprintf(full, need, "%s/api/v1/query?query=%s", url, enc);
    lc.free(enc);
    answer a = {NULL, 0, 0, 0};
    lc.easy_setopt(c, CURLOPT_URL, full);
    lc.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_bytes);
    lc.easy_setopt(c, CURLOPT_WRITEDATA, &a);
    lc.easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
    lc.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* a proxy in front of Prometheus may redirect (http to https, a path prefix): followed, a few times */
    lc.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    lc.easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
#if LIBCURL_VERSION_NUM >= 0x075500
    /* ... to HTTP(S) only, as the URL itself must be (a libcurl before 7.85 ignores the option and
     * keeps its own default: HTTP, HTTPS, FTP, FTPS) */
    lc.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    lc.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    lc.easy_setopt(c, CURLOPT_USERAGENT, "servprof/" SP_VERSION_STRING);
    CURLcode rc = lc.easy_perform(c);
    free(full);
    long http = 0;
    lc.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    if (rc == CURLE_OPERATION_TIMEDOUT && !a.too_big) {
        /* a hung or overloaded server: said in the terms of the wait, not only libcurl's */
        sp_errf(err, errlen, "cannot read Prometheus at %s: no answer within %g s (%s) to the query %s", url,
                timeout_s, lc.easy_strerror(rc), q);
        free(a.p);
        return SP_ERR_IO;
    }
    if (rc != CURLE_OK) {
        if (a.too_big)
            sp_errf(err, errlen, "cannot read Prometheus at %s: the answer to the query %s is over 256 MiB", url, q);
        else if (rc == CURLE_TOO_MANY_REDIRECTS)
            sp_errf(err, errlen, "cannot read Prometheus at %s: redirected more than %d times (%s)", url,
                    MAX_REDIRECTS, lc.easy_strerror(rc));
        else if (rc == CURLE_UNSUPPORTED_PROTOCOL && http / 100 == 3)
            /* the URL itself is http(s) (checked before any query): a redirect elsewhere */
            sp_errf(err, errlen, "cannot read Prometheus at %s: it redirected the query %s off HTTP(S), "
                    "which is not followed (%s)", url, q, lc.easy_strerror(rc));
        else
            sp_errf(err, errlen, "cannot read Prometheus at %s: %s", url, lc.easy_strerror(rc));
        free(a.p);
        return a.too_big ? SP_ERR_LIMIT : SP_ERR_IO;
    }
    json_error_t je;
    json_t *j = a.p ? json_loadb(a.p, a.len, 0, &je) : NULL;
    const char *status = j ? json_string_value(json_object_get(j, "status")) : NULL;
    if (!status) {
        /* what came instead, quoted (its start, control bytes as '?'), and for which query: a proxy's
         * page, a cut answer, another service on the port */
        char what[96] = "nothing";
        if (a.len) {
            size_t n = a.len < 60 ? a.len : 60, o = 0;
            what[o++] = '"';
            for (size_t k = 0; k < n; k++)
                what[o++] = (unsigned char)a.p[k] < 32 || (unsigned char)a.p[k] == 127 ? '?' : a.p[k];
            o += (size_t)snprintf(what + o, sizeof what - o, "\"%s (%zu bytes%s)", a.len > n ? "..." : "", a.len,
                                  j ? ", JSON without Prometheus' status" : ", not JSON");
        }
        sp_errf(err, errlen, "%s answered HTTP %ld to the query %s with %s, not Prometheus' query API (%s)", url,
                http, q, what,
                http >= 500 ? "Prometheus, or a proxy in front of it, is failing: try again later"
                            : "is the URL Prometheus' base, such as http://127.0.0.1:9090?");
        free(a.p);
        json_decref(j);
        return http >= 400 ? SP_ERR_IO : SP_ERR_PARSE;
    }
    free(a.p);
    if (strcmp(status, "success") != 0) {
        const char *why = json_string_value(json_object_get(j, "error"));
        sp_errf(err, errlen, "Prometheus at %s refused the query %s (HTTP %ld): %s", url, q, http,
                why ? why : "(no reason given)");
        json_decref(j);
        return SP_ERR_IO;
    }
    *root = j;
    return SP_OK;
}

/* A sample's value, as Prometheus writes it ("123.4", "NaN", "+Inf"): 0 with *out set, -1 when it is
 * not a string of a number (a JSON number, a word). */
static int value_of(json_t *pair, double *out)
{
    const char *v = json_string_value(json_array_get(pair, 1));
    if (!v || !json_is_array(pair) || json_array_size(pair) != 2)
        return -1;
    if (strcmp(v, "+Inf") == 0 || strcmp(v, "Inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (strcmp(v, "-Inf") == 0) {
        *out = -INFINITY;
        return 0;
    }
    if (strcmp(v, "NaN") == 0) {
        *out = NAN;
        return 0;
    }
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end)
        return -1;
    *out = d;
    return 0;
}

/* A sample's labels as PromQL writes them, {a="x",b="y"}, cut to fit. */
static void labels_text(json_t *m, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "{");
    const char *key;
    json_t *v;
    int first = 1;
    json_object_foreach(m, key, v) {
        if (o >= len)
            break;
        const char *sv = json_string_value(v);
        o += (size_t)snprintf(buf + o, len - o, "%s%s=%s%s%s", first ? "" : ",", key, sv ? "\"" : "",
                              sv ? sv : "(not a string)", sv ? "\"" : "");
        first = 0;
    }
    if (o < len)
        snprintf(buf + o, len - o, "}");
}

/* A sample's labels, sorted, as one string: two samples of one answer with the same string are the
 * same series twice. */
static char *label_key(json_t *m)
{
    const char *names[SP_FL_MAX_LABELS];
    size_t n = 0, need = 1;
    const char *key;
    json_t *v;
    json_object_foreach(m, key, v) {
        if (n == SP_FL_MAX_LABELS)
            break;
        names[n++] = key;
        need += strlen(key) + strlen(json_string_value(v) ? json_string_value(v) : "") + 2;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            const char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    char *out = malloc(need);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *sv = json_string_value(json_object_get(m, names[i]));
        o += (size_t)snprintf(out + o, need - o, "%s%c%s%c", names[i], 1, sv ? sv : "", 2);
    }
    out[o] = 0;
    return out;
}

/* What a sample of the query for `metric` must be (docs/fleet.md, "What Prometheus must answer"): its
 * value a number, finite and not negative (increase() of a counter is neither NaN, infinite nor
 * negative; an uptime neither), `up` 0 or 1. The price is checked with the replica's name by
 * samples.c (prices_valid). NULL when it is fine, else why not. */
static const char *value_problem(const char *metric, double v)
{
    if (strcmp(metric, "servprof_price_per_hour") == 0)
        return NULL;
    if (isnan(v))
        return "not a number (a series with NaN samples, or a recording rule dividing by 0?)";
    if (isinf(v))
        return "infinite";
    if (v < 0)
        return strcmp(metric, "servprof_metrics_uptime_seconds") == 0
                   ? "negative: an uptime is not"
                   : "negative: the increase() of a counter is not (a series that is not a counter, or federated "
                     "without its resets?)";
    if (strcmp(metric, "up") == 0 && v != 0 && v != 1)
        return "neither 0 nor 1: Prometheus' up is one or the other";
    return NULL;
}

/* Adds an instant vector's samples to the set under `metric`. Every sample is checked first (what
 * Prometheus answered is quoted with the query): its labels strings, job and instance there where the
 * query keeps them (each replica is a job/instance pair: a series without them, from a recording rule
 * or a federation that dropped them, would be taken for a replica of its own or summed into one), no
 * series twice (Prometheus never answers one series twice: a proxy merging two servers may, and the
 * sums would count it twice), its value as value_problem wants it. */
static sp_status add_vector(sp_fl_set *set, const char *metric, int per_replica, json_t *root, const char *q,
                            char *err, size_t errlen)
{
    json_t *data = json_object_get(root, "data");
    json_t *res = json_object_get(data, "result");
    const char *type = json_string_value(json_object_get(data, "resultType"));
    if (!type || strcmp(type, "vector") != 0 || !json_is_array(res)) {
        sp_errf(err, errlen, "Prometheus answered %s with a %s, not an instant vector", q, type ? type : "bad result");
        return SP_ERR_PARSE;
    }
    size_t n = json_array_size(res);
    char **keys = calloc(n ? n : 1, sizeof *keys);
    if (!keys)
        return SP_ERR_NOMEM;
    sp_status st = SP_OK;
    char lt[512];
    size_t i;
    json_t *item = NULL;
    json_array_foreach(res, i, item) {
        json_t *m = json_object_get(item, "metric");
        const char *names[SP_FL_MAX_LABELS], *values[SP_FL_MAX_LABELS];
        size_t nl = 0;
        const char *key;
        json_t *v;
        if (!json_is_object(m)) {
            sp_errf(err, errlen, "Prometheus answered %s with a sample without its labels (\"metric\")", q);
            st = SP_ERR_PARSE;
            break;
        }
        labels_text(m, lt, sizeof lt);
        json_object_foreach(m, key, v) {
            if (!json_is_string(v) || nl == SP_FL_MAX_LABELS) {
                sp_errf(err, errlen, "Prometheus answered %s with a sample %s: %s", q, lt,
                        nl == SP_FL_MAX_LABELS ? "more than 16 labels" : "a label's value is not a string");
                st = SP_ERR_PARSE;
                break;
            }
            names[nl] = key;
            values[nl++] = json_string_value(v);
        }
        if (st)
            break;
        const char *job = json_string_value(json_object_get(m, "job"));
        const char *inst = json_string_value(json_object_get(m, "instance"));
        if (per_replica && (!job || !*job || !inst || !*inst)) {
            sp_errf(err, errlen, "Prometheus answered %s with a sample without %s: %s: each replica is a series' "
                    "job and instance (aggregated by a recording rule, or federated without them?)", q,
                    !job || !*job ? "a job label" : "an instance label", lt);
            st = SP_ERR_PARSE;
            break;
        }
        double x;
        if (value_of(json_object_get(item, "value"), &x)) {
            char *vt = json_dumps(json_object_get(item, "value"), JSON_COMPACT | JSON_ENCODE_ANY);
            sp_errf(err, errlen, "Prometheus answered %s with %s for %s: expected [time, \"number\"]", q,
                    vt ? vt : "no value", lt);
            free(vt);
            st = SP_ERR_PARSE;
            break;
        }
        const char *why = value_problem(metric, x);
        if (why) {
            const char *vs = json_string_value(json_array_get(json_object_get(item, "value"), 1));
            sp_errf(err, errlen, "Prometheus answered %s with %s for %s: %s", q, vs, lt, why);
            st = SP_ERR_PARSE;
            break;
        }
        if (!(keys[i] = label_key(m))) {
            st = SP_ERR_NOMEM;
            break;
        }
        if ((st = sp_fl_set_add(set, metric, nl, names, values, x)))
            break;
    }
    if (!st && n > 1) {
        qsort(keys, n, sizeof *keys, sp_fl_str_cmp);
        for (size_t k = 1; k < n && !st; k++)
            if (strcmp(keys[k - 1], keys[k]) == 0) {
                json_array_foreach(res, i, item) {
                    char *ki = label_key(json_object_get(item, "metric"));
                    int same = ki && strcmp(ki, keys[k]) == 0;
                    free(ki);
                    if (same)
                        break;
                }
                labels_text(json_object_get(item, "metric"), lt, sizeof lt);
                sp_errf(err, errlen, "Prometheus answered %s with the series %s twice: one answer holds each series "
                        "once (a proxy merging two servers?), and summing both would count it twice", q, lt);
                st = SP_ERR_PARSE;
            }
    }
    for (size_t k = 0; k < n; k++)
        free(keys[k]);
    free(keys);
    return st;
}

/* Prometheus' present, from time() (a scalar answer [ts, "ts"]). */
static sp_status server_time(CURL *c, const char *url, double timeout_s, double *out, char *err, size_t errlen)
{
    json_t *root = NULL;
    sp_status st = query(c, url, "time()", 0, timeout_s, &root, err, errlen);
    if (st)
        return st;
    json_t *res = json_object_get(json_object_get(root, "data"), "result");
    double t = json_number_value(json_array_get(res, 0));
    int given = json_is_number(json_array_get(res, 0));
    json_decref(root);
    if (!(t > 0)) {
        if (given)
            sp_errf(err, errlen, "Prometheus at %s gave its time as %.17g s since 1970: expected its clock's present, "
                    "above 0", url, t);
        else
            sp_errf(err, errlen, "Prometheus at %s did not give its time", url);
        return SP_ERR_PARSE;
    }
    if (!(t < SP_FL_LATEST_TIME)) {
        /* every query is asked at this instant and the report's header writes it: a time past the year
         * 9999 is no clock's (before, 1e300 was taken, the header lost its end and every query was
         * asked at a time cut to fit the URL) */
        sp_errf(err, errlen, "Prometheus at %s gave its time as %.17g s since 1970, past the year 9999: expected "
                "its clock's present", url, t);
        return SP_ERR_PARSE;
    }
    *out = t;
    return SP_OK;
}

/* The fleet's queries: a metric, the aggregation over it, and the labels it keeps. The function is
 * increase() for counters (the window's rise, counter resets handled), last_over_time() for the
 * gauges that describe a replica and max_over_time() for the metrics' uptime. */
static const struct fleet_query {
    const char *metric, *agg, *fn;
    const char *as; /* the name its samples are kept under in the set; NULL: the metric's */
} queries[] = {
    {"servprof_requests_total", "sum by (job, instance, outcome)", "increase", NULL},
    {"servprof_request_duration_seconds_bucket", "sum by (le)", "increase", NULL},
    {"servprof_request_stage_seconds_total", "sum by (stage, le)", "increase", NULL},
    {"servprof_request_padding_seconds_total", "sum by (le)", "increase", NULL},
    {"servprof_requests_status_total", "sum by (outcome, status)", "increase", NULL},
    {"servprof_batch_size_bucket", "sum by (le)", "increase", NULL},
    {"servprof_batch_size_count", "sum", "increase", NULL},
    {"servprof_batch_size_sum", "sum", "increase", NULL},
    {"servprof_batch_tokens_total", "sum by (kind)", "increase", NULL},
    {"servprof_batch_padding_ratio_bucket", "sum by (le)", "increase", NULL},
    {"servprof_batch_padding_ratio_count", "sum", "increase", NULL},
    {"servprof_device_seconds_total", "sum by (job, instance, device, state)", "increase", NULL},
    {"servprof_device_activities_total", "sum by (kind)", "increase", NULL},
    {"servprof_dropped_records_total", "sum by (cause)", "increase", NULL},
    {"servprof_metrics_lost_total", "sum", "increase", NULL},
    {"servprof_info", "max by (job, instance, device)", "last_over_time", NULL},
    {"servprof_price_per_hour", "max by (job, instance)", "last_over_time", NULL},
    /* how long each replica's metrics had run: a window longer than that holds nothing of it before
     * then, and that replica is billed for its uptime (samples.c, replica_bills) */
    {"servprof_metrics_uptime_seconds", "max by (job, instance)", "max_over_time", NULL},
    /* how much of the window each replica was scraped for: increase() of its uptime, which rises a
     * second a second while it answers, counts each restart from 0 and, like every counter here, is
     * extrapolated to the window's edges only where the scrapes reach them. A replica that stopped
     * answering is billed for this (samples.c, replica_bills), not for the rest of the range. */
    {"servprof_metrics_uptime_seconds", "max by (job, instance)", "increase", SP_FL_SCRAPED_SECONDS},
    /* whether each target's last scrape in the window answered (Prometheus' own `up`, 1 or 0): a
     * replica that stopped or hung is named (samples.c, down_replicas) */
    {"up", "min by (job, instance)", "last_over_time", NULL},
};

size_t sp_fl_query_count(void) { return sizeof queries / sizeof queries[0]; }

sp_status sp_fl_query_text(size_t k, const char *sel, const char *range, char *q, size_t qlen)
{
    if (k >= sp_fl_query_count())
        return SP_ERR_INVALID;
    int n = snprintf(q, qlen, "%s (%s(%s%s[%s]))", queries[k].agg, queries[k].fn, queries[k].metric, sel, range);
    return n < 0 || (size_t)n >= qlen ? SP_ERR_INVALID : SP_OK;
}

/* The samples of query k's answer `root` into the set, under the name the report reads them by. */
static sp_status add_answer(sp_fl_set *set, size_t k, json_t *root, const char *q, char *err, size_t errlen)
{
    return add_vector(set, queries[k].as ? queries[k].as : queries[k].metric,
                      strstr(queries[k].agg, "job, instance") != NULL, root, q, err, errlen);
}

sp_status sp_fl_add_answer(sp_fl_set *set, size_t k, const char *q, const char *body, size_t len, char *err,
                           size_t errlen)
{
    if (k >= sp_fl_query_count())
        return SP_ERR_INVALID;
    json_error_t je;
    json_t *root = json_loadb(body, len, 0, &je);
    const char *status = root ? json_string_value(json_object_get(root, "status")) : NULL;
    sp_status st = SP_ERR_PARSE;
    if (!status || strcmp(status, "success") != 0)
        sp_errf(err, errlen, "the answer to %s is not Prometheus' JSON of a success", q);
    else
        st = add_answer(set, k, root, q, err, errlen);
    json_decref(root);
    return st;
}

sp_status sp_fl_query_prometheus(const char *url, const sp_fleet_options *opt, sp_fl_set *set, double *end_unix_s,
                                 char *err, size_t errlen)
{
    pthread_once(&lc_once, lc_load);
    if (!lc_ok) {
        sp_errf(err, errlen, "%s", lc_error);
        return SP_ERR_UNSUPPORTED;
    }
    CURL *c = lc.easy_init();
    if (!c) {
        sp_errf(err, errlen, "cannot start the HTTP client (libcurl)");
        return SP_ERR_NOMEM;
    }
    double timeout = opt->timeout_s > 0 ? opt->timeout_s : 30.0;
    double at = opt->at_unix_s;
    sp_status st = at > 0 ? SP_OK : server_time(c, url, timeout, &at, err, errlen);
    const char *sel = opt->selector ? opt->selector : "";
    const char *range = opt->range && *opt->range ? opt->range : "5m";
    for (size_t k = 0; !st && k < sizeof queries / sizeof queries[0]; k++) {
        char q[2048];
        if (sp_fl_query_text(k, sel, range, q, sizeof q)) {
            sp_errf(err, errlen, "the selector is too long");
            st = SP_ERR_INVALID;
            break;
        }
        json_t *root = NULL;
        if ((st = query(c, url, q, at, timeout, &root, err, errlen)))
            break;
        st = add_answer(set, k, root, q, err, errlen);
        json_decref(root);
    }
    lc.easy_cleanup(c);
    if (!st)
        *end_unix_s = at;
    return st;
}

#else /* no libcurl or jansson at build time */

int sp_fl_has_prometheus(void) { return 0; }

size_t sp_fl_query_count(void) { return 0; }

sp_status sp_fl_query_text(size_t k, const char *sel, const char *range, char *q, size_t qlen)
{
    (void)k;
    (void)sel;
    (void)range;
    (void)q;
    (void)qlen;
    return SP_ERR_UNSUPPORTED;
}

sp_status sp_fl_add_answer(sp_fl_set *set, size_t k, const char *q, const char *body, size_t len, char *err,
                           size_t errlen)
{
    (void)set;
    (void)k;
    (void)q;
    (void)body;
    (void)len;
    sp_errf(err, errlen, "this build has no Prometheus client");
    return SP_ERR_UNSUPPORTED;
}

sp_status sp_fl_query_prometheus(const char *url, const sp_fleet_options *opt, sp_fl_set *set, double *end_unix_s,
                                 char *err, size_t errlen)
{
    (void)url;
    (void)opt;
    (void)set;
    (void)end_unix_s;
    sp_errf(err, errlen, "this build has no Prometheus client: it needs libcurl and jansson at build time (Debian: "
                         "libcurl4-openssl-dev, libjansson-dev; `make test` installs them), then a rebuild");
    return SP_ERR_UNSUPPORTED;
}

#endif
