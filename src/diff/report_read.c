/* Reads a run from a servprof.report/1 JSON document (docs/report-format.md): the figures a diff
 * compares, nothing else. The document is small (its size does not grow with the trace but for the
 * kernel and file lists), so it is parsed into a little tree first, with the project's one JSON lexer
 * (import/json.h), then read by key; a missing key or a value of the wrong kind is an error naming
 * the file, the line and the key's path. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "diff/diff_int.h"
#include "import/json.h"

#define REPORT_SCHEMA "servprof.report/1"
/* Nodes of one document's tree: far more than a report holds (a few per kernel and file). */
#define MAX_NODES ((size_t)1 << 22)
#define NONE SIZE_MAX

typedef struct jnode {
    sp_json_type type;        /* OBJ_BEGIN, ARR_BEGIN, STRING, NUMBER, TRUE, FALSE, NULL */
    uint32_t line;
    char *key;                /* the member's name (NULL in arrays and at the top) */
    char *text;               /* STRING: its bytes (NUL-terminated); NUMBER: its text as written */
    size_t len;
    size_t first, next;       /* first child, next sibling (NONE) */
} jnode;

typedef struct jdoc {
    jnode *n;
    size_t count, cap;
    const char *name;
    char *err;
    size_t errlen;
} jdoc;

static void doc_free(jdoc *d)
{
    for (size_t i = 0; i < d->count; i++) {
        free(d->n[i].key);
        free(d->n[i].text);
    }
    free(d->n);
}

static char *copy_bytes(const char *s, size_t len)
{
    char *c = malloc(len + 1);
    if (c) {
        memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

static sp_status lex_fail(jdoc *d, sp_json_lexer *lx, sp_status st)
{
    if (st == SP_ERR_NOMEM)
        sp_errf(d->err, d->errlen, "out of memory");
    else
        sp_errf(d->err, d->errlen, "%s: %s", d->name, sp_json_error(lx));
    return st == SP_ERR_LIMIT ? SP_ERR_LIMIT : SP_ERR_PARSE;
}

/* Appends the value starting with token *t (its member name `key`, owned from now on) and everything
 * inside it; *at gets its index. */
static sp_status parse_value(jdoc *d, sp_json_lexer *lx, const sp_json_token *t, char *key, size_t *at)
{
    if (d->count == MAX_NODES || SP_GROW(d->n, d->cap, d->count + 1, MAX_NODES)) {
        free(key);
        sp_errf(d->err, d->errlen, "%s: too large for a servprof.report/1 report", d->name);
        return SP_ERR_LIMIT;
    }
    size_t me = d->count++;
    jnode *nd = &d->n[me];
    memset(nd, 0, sizeof *nd);
    nd->type = t->type;
    nd->line = t->line;
    nd->key = key;
    nd->first = nd->next = NONE;
    *at = me;
    if (t->type == SP_JSON_STRING || t->type == SP_JSON_NUMBER) {
        if (!(d->n[me].text = copy_bytes(t->str, t->len)))
            return lex_fail(d, lx, SP_ERR_NOMEM);
        d->n[me].len = t->len;
        return SP_OK;
    }
    if (t->type != SP_JSON_OBJ_BEGIN && t->type != SP_JSON_ARR_BEGIN)
        return SP_OK;
    int is_obj = t->type == SP_JSON_OBJ_BEGIN;
    size_t last = NONE;
    for (;;) {
        sp_json_token k, v;
        sp_status st = sp_json_next(lx, &k);
        if (st)
            return lex_fail(d, lx, st);
        if (k.type == SP_JSON_OBJ_END || k.type == SP_JSON_ARR_END)
            return SP_OK;
        char *name = NULL;
        if (is_obj) { /* the lexer only hands out a KEY here */
            if (!(name = copy_bytes(k.str, k.len)))
                return lex_fail(d, lx, SP_ERR_NOMEM);
            if ((st = sp_json_next(lx, &v))) {
                free(name);
                return lex_fail(d, lx, st);
            }
        } else {
            v = k;
        }
        size_t child;
        if ((st = parse_value(d, lx, &v, name, &child)))
            return st;
        if (last == NONE)
            d->n[me].first = child;
        else
            d->n[last].next = child;
        last = child;
    }
}

static sp_status parse_doc(jdoc *d, const void *data, size_t len)
{
    sp_json_lexer lx;
    sp_status st = sp_json_init_buffer(&lx, data, len, NULL);
    if (st) {
        sp_json_fini(&lx);
        sp_errf(d->err, d->errlen, "out of memory");
        return st;
    }
    sp_json_token t;
    size_t root;
    if ((st = sp_json_next(&lx, &t)))
        st = lex_fail(d, &lx, st);
    else if ((st = parse_value(d, &lx, &t, NULL, &root)) == SP_OK) {
        if ((st = sp_json_next(&lx, &t))) /* only end of input may follow */
            st = lex_fail(d, &lx, st);
    }
    sp_json_fini(&lx);
    return st;
}

/* ---- reading by key ---- */

static const char *kind_name(sp_json_type t)
{
    switch (t) {
    case SP_JSON_OBJ_BEGIN: return "an object";
    case SP_JSON_ARR_BEGIN: return "an array";
    case SP_JSON_STRING: return "a string";
    case SP_JSON_NUMBER: return "a number";
    case SP_JSON_TRUE:
    case SP_JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* The member `key` of object node `obj`, or NONE. */
static size_t member(const jdoc *d, size_t obj, const char *key)
{
    for (size_t c = d->n[obj].first; c != NONE; c = d->n[c].next)
        if (d->n[c].key && strcmp(d->n[c].key, key) == 0)
            return c;
    return NONE;
}

/* Reading context: the document and the path of the object being read, for messages. */
typedef struct reader {
    jdoc *d;
    sp_status st;             /* the first error; later reads do nothing */
} reader;

static void fail_missing(reader *rd, size_t obj, const char *path, const char *key)
{
    if (rd->st)
        return;
    sp_errf(rd->d->err, rd->d->errlen, "%s:%u: %s%s%s missing (not a servprof.report/1 report servprof diff reads)",
            rd->d->name, rd->d->n[obj].line, path, *path ? "." : "", key);
    rd->st = SP_ERR_PARSE;
}

static void fail_kind(reader *rd, size_t node, const char *path, const char *key, const char *want)
{
    if (rd->st)
        return;
    sp_errf(rd->d->err, rd->d->errlen, "%s:%u: %s%s%s: expected %s, got %s", rd->d->name, rd->d->n[node].line, path,
            *path ? "." : "", key, want, kind_name(rd->d->n[node].type));
    rd->st = SP_ERR_PARSE;
}

/* The member `key` of `obj` with type `type`; NONE after recording an error. */
static size_t need(reader *rd, size_t obj, const char *path, const char *key, sp_json_type type, const char *want)
{
    if (rd->st || obj == NONE)
        return NONE;
    size_t c = member(rd->d, obj, key);
    if (c == NONE) {
        fail_missing(rd, obj, path, key);
        return NONE;
    }
    if (rd->d->n[c].type != type) {
        fail_kind(rd, c, path, key, want);
        return NONE;
    }
    return c;
}

/* A number, or NaN for null when null is allowed. */
static double get_num(reader *rd, size_t obj, const char *path, const char *key, int allow_null)
{
    if (rd->st || obj == NONE)
        return NAN;
    size_t c = member(rd->d, obj, key);
    if (c == NONE) {
        fail_missing(rd, obj, path, key);
        return NAN;
    }
    const jnode *nd = &rd->d->n[c];
    if (nd->type == SP_JSON_NULL && allow_null)
        return NAN;
    double v;
    if (nd->type != SP_JSON_NUMBER || sp_json_number_to_double(nd->text, nd->len, &v) != SP_OK || !isfinite(v)) {
        fail_kind(rd, c, path, key, allow_null ? "a number or null" : "a number");
        return NAN;
    }
    return v;
}

/* Microseconds (exact decimal text) as ns; *is_null for null when allowed. */
static uint64_t get_us(reader *rd, size_t obj, const char *path, const char *key, int allow_null, int *is_null)
{
    *is_null = 0;
    if (rd->st || obj == NONE)
        return 0;
    size_t c = member(rd->d, obj, key);
    if (c == NONE) {
        fail_missing(rd, obj, path, key);
        return 0;
    }
    const jnode *nd = &rd->d->n[c];
    if (nd->type == SP_JSON_NULL && allow_null) {
        *is_null = 1;
        return 0;
    }
    int64_t ns;
    if (nd->type != SP_JSON_NUMBER || sp_json_us_to_ns(nd->text, nd->len, &ns, NULL) != SP_OK || ns < 0) {
        fail_kind(rd, c, path, key, "a duration in microseconds (a number >= 0)");
        return 0;
    }
    return (uint64_t)ns;
}

static uint64_t get_count(reader *rd, size_t obj, const char *path, const char *key)
{
    size_t c = need(rd, obj, path, key, SP_JSON_NUMBER, "an integer >= 0");
    if (c == NONE)
        return 0;
    int64_t v;
    if (sp_json_decimal_to_int(rd->d->n[c].text, rd->d->n[c].len, 0, &v, NULL) != SP_OK || v < 0) {
        fail_kind(rd, c, path, key, "an integer >= 0");
        return 0;
    }
    return (uint64_t)v;
}

/* A string copied (NULL for null when allowed). */
static char *get_str(reader *rd, size_t obj, const char *path, const char *key, int allow_null)
{
    if (rd->st || obj == NONE)
        return NULL;
    size_t c = member(rd->d, obj, key);
    if (c == NONE) {
        fail_missing(rd, obj, path, key);
        return NULL;
    }
    const jnode *nd = &rd->d->n[c];
    if (nd->type == SP_JSON_NULL && allow_null)
        return NULL;
    if (nd->type != SP_JSON_STRING) {
        fail_kind(rd, c, path, key, allow_null ? "a string or null" : "a string");
        return NULL;
    }
    int failed = 0;
    char *s = sp_diff_strdup(nd->text, &failed);
    if (failed && !rd->st) {
        sp_errf(rd->d->err, rd->d->errlen, "out of memory");
        rd->st = SP_ERR_NOMEM;
    }
    return s;
}

/* ---- the report's figures ---- */

static void read_requests(reader *rd, size_t root, sp_diff_run *run)
{
    size_t req = need(rd, root, "", "requests", SP_JSON_OBJ_BEGIN, "an object");
    run->requests = get_count(rd, req, "requests", "count");
    /* optional (a fleet report has no client records): how many requests' end-to-end is the client's */
    if (!rd->st && req != NONE && member(rd->d, req, "with_client_record") != NONE)
        run->with_client = get_count(rd, req, "requests", "with_client_record");
    size_t lat = need(rd, req, "requests", "latency_us", SP_JSON_OBJ_BEGIN, "an object");
    static const char *const keys[3] = {"p50", "p95", "p99"};
    for (int j = 0; j < 3; j++) {
        int is_null;
        run->lat_ns[j] = get_us(rd, lat, "requests.latency_us", keys[j], run->requests == 0, &is_null);
    }
}

static void read_stages(reader *rd, size_t root, sp_diff_run *run)
{
    size_t arr = need(rd, root, "", "stages", SP_JSON_ARR_BEGIN, "an array");
    if (arr == NONE)
        return;
    size_t n = 0;
    for (size_t c = rd->d->n[arr].first; c != NONE; c = rd->d->n[c].next)
        n++;
    if (!(run->stages = calloc(n ? n : 1, sizeof *run->stages))) {
        sp_errf(rd->d->err, rd->d->errlen, "out of memory");
        rd->st = SP_ERR_NOMEM;
        return;
    }
    size_t k = 0;
    for (size_t c = rd->d->n[arr].first; c != NONE && !rd->st; c = rd->d->n[c].next, k++) {
        char path[48];
        snprintf(path, sizeof path, "stages[%zu]", k);
        if (rd->d->n[c].type != SP_JSON_OBJ_BEGIN) {
            fail_kind(rd, c, "", path, "an object");
            break;
        }
        sp_diff_stage_fig *f = &run->stages[k];
        run->n_stages = k + 1;
        f->name = get_str(rd, c, path, "name", 0);
        int n50, n95, n99;
        f->p50_ns = get_us(rd, c, path, "p50_us", 1, &n50);
        f->p95_ns = get_us(rd, c, path, "p95_us", 1, &n95);
        f->p99_ns = get_us(rd, c, path, "p99_us", 1, &n99);
        f->pct_unknown = n50 || n95 || n99;
        f->share_p95 = get_num(rd, c, path, "share_of_p95", 1);
        if (isnan(f->share_p95))
            f->share_p95 = 0;
    }
}

static void read_padding_cost(reader *rd, size_t root, sp_diff_run *run)
{
    size_t pad = need(rd, root, "", "padding", SP_JSON_OBJ_BEGIN, "an object");
    run->waste_fraction = get_num(rd, pad, "padding", "waste_fraction", 1);
    run->padding_share_p95 = get_num(rd, pad, "padding", "share_of_p95", 1);
    run->padding_share_of_bill = get_num(rd, pad, "padding", "share_of_bill", 1);
    size_t cost = need(rd, root, "", "cost", SP_JSON_OBJ_BEGIN, "an object");
    run->price_per_hour = get_num(rd, cost, "cost", "price_per_hour", 0);
    if (!rd->st && cost != NONE && !(run->price_per_hour > 0 && run->price_per_hour <= SP_MAX_PRICE_PER_HOUR)) {
        /* what --price-per-hour and a trace's meta price take (servprof.h): a report never holds another
         * price, so this one was edited or corrupted, and a diff would print its 300-digit bill */
        size_t c = member(rd->d, cost, "price_per_hour");
        sp_errf(rd->d->err, rd->d->errlen, "%s:%u: cost.price_per_hour: expected a price in (0, %g] dollars per hour "
                "(SP_MAX_PRICE_PER_HOUR), got %.40s", rd->d->name, rd->d->n[c].line, SP_MAX_PRICE_PER_HOUR,
                rd->d->n[c].text);
        rd->st = SP_ERR_PARSE;
    }
    if (!rd->st && cost != NONE) {
        size_t c = member(rd->d, cost, "price_is_default");
        run->price_is_default = c != NONE && rd->d->n[c].type == SP_JSON_TRUE;
    }
    run->per_request = get_num(rd, cost, "cost", "per_request", 1);
    size_t by = need(rd, cost, "cost", "per_request_by_state", SP_JSON_OBJ_BEGIN, "an object");
    for (int s = 0; s < SP_COST_STATE_COUNT; s++)
        run->per_request_by_state[s] =
            get_num(rd, by, "cost.per_request_by_state", sp_cost_state_str((sp_cost_state)s), 1);
}

/* A fleet report (docs/fleet.md) came from live metrics, not files (its `files` is 0): `source` names
 * its replicas. null (a report from traces) or absent leaves run->replicas 0. */
static void read_source(reader *rd, size_t root, sp_diff_run *run)
{
    if (rd->st)
        return;
    size_t src = member(rd->d, root, "source");
    if (src == NONE || rd->d->n[src].type == SP_JSON_NULL)
        return;
    if (rd->d->n[src].type != SP_JSON_OBJ_BEGIN) {
        fail_kind(rd, src, "", "source", "an object or null");
        return;
    }
    size_t reps = need(rd, src, "source", "replicas", SP_JSON_ARR_BEGIN, "an array");
    if (reps == NONE)
        return;
    for (size_t c = rd->d->n[reps].first; c != NONE; c = rd->d->n[c].next)
        run->replicas++;
}

static void read_verdict(reader *rd, size_t root, sp_diff_run *run)
{
    size_t v = need(rd, root, "", "verdict", SP_JSON_OBJ_BEGIN, "an object");
    run->verdict_stage = get_str(rd, v, "verdict", "stage", 1);
    run->verdict_group = get_str(rd, v, "verdict", "group", 0);
    run->verdict_share_p95 = get_num(rd, v, "verdict", "share_of_p95", 1);
    run->verdict_sentence = get_str(rd, v, "verdict", "sentence", 1);
}

sp_status sp_diff_run_read_report(const char *name, const void *data, size_t len, sp_diff_run **out, char *err,
                                  size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!out || (!data && len)) {
        sp_errf(err, errlen, "sp_diff_run_read_report: no data");
        return SP_ERR_INVALID;
    }
    jdoc d = {.name = name ? name : "report", .err = err, .errlen = errlen};
    sp_status st = parse_doc(&d, data ? data : "", len);
    sp_diff_run *run = NULL;
    if (!st && d.n[0].type != SP_JSON_OBJ_BEGIN) {
        sp_errf(err, errlen, "%s:%u: expected a servprof.report/1 JSON object, got %s", d.name, d.n[0].line,
                kind_name(d.n[0].type));
        st = SP_ERR_PARSE;
    }
    reader rd = {&d, st};
    if (!rd.st) {
        char *schema = get_str(&rd, 0, "", "schema", 0);
        if (!rd.st && strcmp(schema, REPORT_SCHEMA) != 0) {
            sp_errf(err, errlen, "%s: schema \"%s\": expected \"%s\"", d.name, schema, REPORT_SCHEMA);
            rd.st = SP_ERR_FORMAT;
        }
        free(schema);
    }
    if (!rd.st && !(run = sp_diff_run_new())) {
        sp_errf(err, errlen, "out of memory");
        rd.st = SP_ERR_NOMEM;
    }
    if (!rd.st) {
        int failed = 0;
        run->label = sp_diff_strdup(d.name, &failed);
        run->source = SP_DIFF_FROM_REPORT;
        run->files = (size_t)get_count(&rd, 0, "", "files");
        read_source(&rd, 0, run);
        read_requests(&rd, 0, run);
        /* "generation": written only for a generation service's report (docs/report-format.md) */
        size_t gen = member(&d, 0, "generation");
        run->generation = gen != NONE && d.n[gen].type != SP_JSON_NULL;
        read_stages(&rd, 0, run);
        read_padding_cost(&rd, 0, run);
        read_verdict(&rd, 0, run);
        if (failed && !rd.st) {
            sp_errf(err, errlen, "out of memory");
            rd.st = SP_ERR_NOMEM;
        }
    }
    doc_free(&d);
    if (rd.st) {
        sp_diff_run_destroy(run);
        return rd.st;
    }
    *out = run;
    return SP_OK;
}

/* ---- telling a report from a trace ---- */

sp_diff_doc sp_diff_sniff(const void *data, size_t len, char *schema, size_t schema_len)
{
    if (schema && schema_len)
        schema[0] = '\0';
    if (!data || !len)
        return SP_DIFF_DOC_OTHER;
    sp_json_lexer lx;
    sp_json_token t;
    sp_diff_doc kind = SP_DIFF_DOC_OTHER;
    /* a prefix is enough: the report writer puts "schema" first (and jq keeps it there) */
    if (sp_json_init_buffer(&lx, data, len, NULL) == SP_OK && sp_json_next(&lx, &t) == SP_OK &&
        t.type == SP_JSON_OBJ_BEGIN && sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_KEY && t.len == 6 &&
        memcmp(t.str, "schema", 6) == 0 && sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_STRING) {
        if (t.len == strlen(REPORT_SCHEMA) && memcmp(t.str, REPORT_SCHEMA, t.len) == 0)
            kind = SP_DIFF_DOC_REPORT;
        else if (t.len > 9 && memcmp(t.str, "servprof.", 9) == 0) {
            kind = SP_DIFF_DOC_FOREIGN;
            if (schema && schema_len)
                snprintf(schema, schema_len, "%.*s", (int)(t.len < 60 ? t.len : 60), t.str);
        }
    }
    sp_json_fini(&lx);
    return kind;
}
