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
    lc.easy_setopt(c, CURLOPT_USERAGENT, "servprof/" SP_VERSION_STRING);
    CURLcode rc = lc.easy_perform(c);
    free(full);
    long http = 0;
    lc.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    if (rc == CURLE_OPERATION_TIMEDOUT && !a.too_big) {
        /* a hung or overloaded server: said in the terms of the wait, not only libcurl's */
        sp_errf(err, errlen, "cannot read Prometheus at %s: no answer within %g s (%s)", url, timeout_s,
                lc.easy_strerror(rc));
        free(a.p);
        return SP_ERR_IO;
    }
    if (rc != CURLE_OK) {
        sp_errf(err, errlen, "cannot read Prometheus at %s: %s", url,
                a.too_big ? "the answer is over 256 MiB" : lc.easy_strerror(rc));
        free(a.p);
        return a.too_big ? SP_ERR_LIMIT : SP_ERR_IO;
    }
    json_error_t je;
    json_t *j = a.p ? json_loadb(a.p, a.len, 0, &je) : NULL;
    const char *status = j ? json_string_value(json_object_get(j, "status")) : NULL;
    if (!status) {
        sp_errf(err, errlen, "%s answered HTTP %ld with %s, not Prometheus' query API (is the URL Prometheus' "
                "base, such as http://127.0.0.1:9090?)", url, http, a.len ? "something else" : "nothing");
        free(a.p);
        json_decref(j);
        return http >= 400 ? SP_ERR_IO : SP_ERR_PARSE;
    }
    free(a.p);
    if (strcmp(status, "success") != 0) {
        const char *why = json_string_value(json_object_get(j, "error"));
        sp_errf(err, errlen, "Prometheus at %s refused the query %s: %s", url, q, why ? why : "(no reason given)");
        json_decref(j);
        return SP_ERR_IO;
    }
    *root = j;
    return SP_OK;
}

/* A sample's value, as Prometheus writes it ("123.4", "NaN", "+Inf"). */
static double value_of(json_t *pair)
{
    const char *v = json_string_value(json_array_get(pair, 1));
    if (!v)
        return NAN;
    if (strcmp(v, "+Inf") == 0)
        return INFINITY;
    if (strcmp(v, "-Inf") == 0)
        return -INFINITY;
    char *end;
    double d = strtod(v, &end);
    return *end ? NAN : d;
}

/* Adds an instant vector's samples to the set under `metric`. */
static sp_status add_vector(sp_fl_set *set, const char *metric, json_t *root, const char *q, char *err, size_t errlen)
{
    json_t *data = json_object_get(root, "data");
    json_t *res = json_object_get(data, "result");
    const char *type = json_string_value(json_object_get(data, "resultType"));
    if (!type || strcmp(type, "vector") != 0 || !json_is_array(res)) {
        sp_errf(err, errlen, "Prometheus answered %s with a %s, not an instant vector", q, type ? type : "bad result");
        return SP_ERR_PARSE;
    }
    size_t i;
    json_t *item;
    json_array_foreach(res, i, item) {
        json_t *m = json_object_get(item, "metric");
        const char *names[SP_FL_MAX_LABELS], *values[SP_FL_MAX_LABELS];
        size_t nl = 0;
        const char *key;
        json_t *v;
        json_object_foreach(m, key, v) {
            if (nl < SP_FL_MAX_LABELS && json_is_string(v)) {
                names[nl] = key;
                values[nl++] = json_string_value(v);
            }
        }
        sp_status st = sp_fl_set_add(set, metric, nl, names, values, value_of(json_object_get(item, "value")));
        if (st)
            return st;
    }
    return SP_OK;
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
    json_decref(root);
    if (!(t > 0)) {
        sp_errf(err, errlen, "Prometheus at %s did not give its time", url);
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
        int n = snprintf(q, sizeof q, "%s (%s(%s%s[%s]))", queries[k].agg, queries[k].fn, queries[k].metric, sel, range);
        if (n < 0 || (size_t)n >= sizeof q) {
            sp_errf(err, errlen, "the selector is too long");
            st = SP_ERR_INVALID;
            break;
        }
        json_t *root = NULL;
        if ((st = query(c, url, q, at, timeout, &root, err, errlen)))
            break;
        st = add_vector(set, queries[k].as ? queries[k].as : queries[k].metric, root, q, err, errlen);
        json_decref(root);
    }
    lc.easy_cleanup(c);
    if (!st)
        *end_unix_s = at;
    return st;
}

#else /* no libcurl or jansson at build time */

int sp_fl_has_prometheus(void) { return 0; }

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
