/* Importer for Triton Inference Server trace files (--trace-config mode=triton, level=TIMESTAMPS;
 * docs/triton.md): a JSON array of trace objects, or concatenated objects, joined by trace "id". Each
 * root trace becomes a request; requests that ran in one batch (same model, version and compute
 * window) share one batch, so its device time is counted once, not once per member. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "import/import_int.h"
#include "import/json.h"

#define TRITON_MAX_TRACES (16u << 20)   /* hard cap on trace ids in one file */
#define TRITON_MAX_DEPTH 64             /* ensemble nesting followed through parent_id */
#define TRITON_NAME_MAX 1024            /* bytes of a model name or version */

/* The timestamps this importer reads; others (custom or future ones) are ignored. */
enum ts {
    TS_REQUEST_START, TS_QUEUE_START, TS_COMPUTE_START, TS_COMPUTE_INPUT_END, TS_COMPUTE_OUTPUT_START,
    TS_COMPUTE_END, TS_REQUEST_END, TS_HTTP_RECV_START, TS_HTTP_RECV_END, TS_HTTP_SEND_START,
    TS_HTTP_SEND_END, TS_GRPC_RECV_START, TS_GRPC_RECV_END, TS_GRPC_SEND_START, TS_GRPC_SEND_END, TS_COUNT
};

static const char *const g_ts_names[TS_COUNT] = {
    "REQUEST_START", "QUEUE_START", "COMPUTE_START", "COMPUTE_INPUT_END", "COMPUTE_OUTPUT_START",
    "COMPUTE_END", "REQUEST_END", "HTTP_RECV_START", "HTTP_RECV_END", "HTTP_SEND_START",
    "HTTP_SEND_END", "GRPC_RECV_START", "GRPC_RECV_END", "GRPC_SEND_START", "GRPC_SEND_END"};

/* Older releases' lower-case names (docs/triton.md, "Older releases"), each read as today's name for
 * the same event: the seven core activities are one enum, named in lower case by the 1.x servers' tracer
 * and in upper case by TRITONSERVER_InferenceTraceActivityString; the frontends' names were captured at
 * the same points (evhtp's receive and send times; gRPC's wait for a request and its send). TS_COUNT:
 * gRPC's wait/read, today's GRPC_WAITREAD_START/END, read under neither spelling (it starts when the
 * server begins waiting for a request, not when one arrives). Other lower-case names (the earliest
 * "http infer start") have no one-to-one equivalent and stay unread. */
static const struct {
    const char *name;
    int ts;
} g_old_ts_names[] = {
    {"request handler start", TS_REQUEST_START}, {"queue start", TS_QUEUE_START},
    {"compute start", TS_COMPUTE_START}, {"compute input end", TS_COMPUTE_INPUT_END},
    {"compute output start", TS_COMPUTE_OUTPUT_START}, {"compute end", TS_COMPUTE_END},
    {"request handler end", TS_REQUEST_END}, {"http recv start", TS_HTTP_RECV_START},
    {"http recv end", TS_HTTP_RECV_END}, {"http send start", TS_HTTP_SEND_START},
    {"http send end", TS_HTTP_SEND_END}, {"grpc send start", TS_GRPC_SEND_START},
    {"grpc send end", TS_GRPC_SEND_END}, {"grpc wait/read start", TS_COUNT}, {"grpc wait/read end", TS_COUNT}};

/* One trace id's facts, merged from all objects carrying that id. */
typedef struct ttrace {
    int64_t id;
    int64_t parent;          /* 0: none */
    sp_str model, version;   /* SP_EV_NONE until an object names them */
    uint64_t ts[TS_COUNT];   /* SP_TIME_NONE: absent */
    uint32_t line, column;   /* where the id was first seen */
    uint32_t req;            /* request index (roots), after the model pass */
    bool bad;                /* lenient: skipped */
    bool any_ts;             /* an object of this id had a timestamp, known or not */
} ttrace;

typedef struct triton {
    sp_import_ctx *ctx;
    sp_json_lexer lx;
    ttrace *tr;
    size_t n, cap;
    sp_hmap ids;             /* trace id -> index into tr */
    bool lenient;
    /* the object being read */
    uint32_t line, column;
    /* the first timestamp name this importer does not read, for the message of a trace with no start */
    char unknown_ts[48];
} triton;

/* Lenient: a malformed object or trace is counted and skipped; strict: the error stands. */
static sp_status skip_or_fail(triton *t, sp_status st)
{
    if (st == SP_ERR_NOMEM || st == SP_ERR_LIMIT || st == SP_ERR_IO)
        return st;
    if (!t->lenient) {
        t->ctx->skippable = true;
        return st;
    }
    uint64_t n = ++t->ctx->ev->files[t->ctx->file].skipped;
    if (n <= 10)
        sp_log(SP_LOG_WARN, "skipped malformed Triton trace record: %s", t->ctx->err ? t->ctx->err : "");
    return SP_OK;
}

static ttrace *find(triton *t, int64_t id)
{
    uint32_t i = sp_hmap_find(&t->ids, (uint64_t)id, NULL, NULL);
    return i == SP_HMAP_NONE ? NULL : &t->tr[i];
}

/* Finds or creates the trace with `id`. */
static sp_status trace_ref(triton *t, int64_t id, ttrace **out)
{
    ttrace *found = find(t, id);
    if (found) {
        *out = found;
        return SP_OK;
    }
    if (t->n >= TRITON_MAX_TRACES)
        return sp_import_fail_at(t->ctx, t->line, t->column, SP_ERR_LIMIT, "more than %u trace ids in one file", TRITON_MAX_TRACES);
    if (SP_GROW(t->tr, t->cap, t->n + 1, TRITON_MAX_TRACES) || sp_hmap_put(&t->ids, (uint64_t)id, (uint32_t)t->n))
        return SP_ERR_NOMEM;
    ttrace *r = &t->tr[t->n];
    memset(r, 0, sizeof *r);
    r->id = id;
    r->model = r->version = SP_EV_NONE;
    for (int k = 0; k < TS_COUNT; k++)
        r->ts[k] = SP_TIME_NONE;
    r->line = t->line;
    r->column = t->column;
    r->req = SP_EV_NONE;
    t->n++;
    *out = r;
    return SP_OK;
}

static bool key_is(const sp_json_token *k, const char *lit)
{
    size_t n = strlen(lit);
    return k->len == n && memcmp(k->str, lit, n) == 0;
}

/* A plain JSON integer (no fraction or exponent) in `tok`. */
static bool plain_int(const sp_json_token *tok)
{
    return tok->type == SP_JSON_NUMBER && tok->is_int && !memchr(tok->str, '.', tok->len) &&
           !memchr(tok->str, 'e', tok->len) && !memchr(tok->str, 'E', tok->len);
}

/* One object's content as read, applied to its trace only when the whole object is well-formed. */
typedef struct tobj {
    bool has_id, has_parent;
    int64_t id, parent;
    char model[TRITON_NAME_MAX], version[TRITON_NAME_MAX];
    size_t model_len, version_len;
    bool has_model, has_version;
    uint64_t ts[TS_COUNT];
    bool any_ts;             /* it had a timestamp, known or not */
    const char *bad;         /* why the object is malformed (static text), or NULL */
    char badbuf[160];
} tobj;

static void obj_bad(tobj *o, const char *fmt, ...) SP_PRINTF(2, 3);

static void obj_bad(tobj *o, const char *fmt, ...)
{
    if (o->bad)
        return;   /* the first problem is the one reported */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->badbuf, sizeof o->badbuf, fmt, ap);
    va_end(ap);
    o->bad = o->badbuf;
}

/* A timestamp name in lower case that g_old_ts_names does not map (e.g. "http infer start", read by the
 * earliest trace_summary.py), short enough to quote. Today's names are upper case (REQUEST_START);
 * an unknown one of those (a newer timestamp, e.g. INFER_RESPONSE_COMPLETE) is no sign of an old file. */
static bool lower_case_name(const sp_json_token *tok)
{
    bool lower = false;
    for (size_t i = 0; i < tok->len; i++) {
        unsigned char c = (unsigned char)tok->str[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return false;
        lower |= c >= 'a' && c <= 'z';
    }
    return lower && tok->len < 48;
}

/* Reads "timestamps": [{"name": "...", "ns": N}, ...]; the '[' is consumed. */
static sp_status read_timestamps(triton *t, tobj *o)
{
    sp_json_token tok;
    for (;;) {
        if (sp_json_next(&t->lx, &tok))
            return sp_json_fail(&t->lx, t->ctx);
        if (tok.type == SP_JSON_ARR_END)
            return SP_OK;
        if (tok.type != SP_JSON_OBJ_BEGIN) {
            obj_bad(o, "\"timestamps\" must hold objects {\"name\":..., \"ns\":...}");
            if ((tok.type == SP_JSON_ARR_BEGIN) && sp_json_skip_rest(&t->lx))
                return sp_json_fail(&t->lx, t->ctx);
            continue;
        }
        int which = -1;
        bool has_name = false, has_ns = false;
        int64_t ns = 0;
        for (;;) {
            if (sp_json_next(&t->lx, &tok))
                return sp_json_fail(&t->lx, t->ctx);
            if (tok.type == SP_JSON_OBJ_END)
                break;
            bool is_name = key_is(&tok, "name"), is_ns = key_is(&tok, "ns");
            if (!is_name && !is_ns) {
                if (sp_json_skip(&t->lx))
                    return sp_json_fail(&t->lx, t->ctx);
                continue;
            }
            if (sp_json_next(&t->lx, &tok))
                return sp_json_fail(&t->lx, t->ctx);
            if (tok.type == SP_JSON_OBJ_BEGIN || tok.type == SP_JSON_ARR_BEGIN) {
                if (sp_json_skip_rest(&t->lx))
                    return sp_json_fail(&t->lx, t->ctx);
                obj_bad(o, "timestamp \"%s\" must be %s, not a container", is_name ? "name" : "ns",
                        is_name ? "a string" : "an integer");
                continue;
            }
            if (is_name) {
                if (tok.type != SP_JSON_STRING) {
                    obj_bad(o, "timestamp \"name\" must be a string");
                    continue;
                }
                has_name = true;
                for (int k = 0; k < TS_COUNT; k++)
                    if (key_is(&tok, g_ts_names[k]))
                        which = k;
                for (size_t k = 0; which < 0 && k < sizeof g_old_ts_names / sizeof g_old_ts_names[0]; k++)
                    if (key_is(&tok, g_old_ts_names[k].name))
                        which = g_old_ts_names[k].ts;
                if (which < 0 && !t->unknown_ts[0] && lower_case_name(&tok))
                    memcpy(t->unknown_ts, tok.str, tok.len);   /* zero-filled: stays terminated */
            } else {
                /* Triton writes ns as an integer; a string of digits is accepted too */
                int64_t v;
                bool exact = false;
                if (plain_int(&tok)) {
                    v = tok.i;
                    exact = true;
                } else if (tok.type == SP_JSON_STRING && tok.len > 0 && tok.len < 32 &&
                           sp_json_decimal_to_int(tok.str, tok.len, 0, &v, &exact) == SP_OK) {
                    exact = exact && !memchr(tok.str, '.', tok.len);
                } else {
                    exact = false;
                    v = 0;
                }
                if (!exact || v < 0) {
                    obj_bad(o, "timestamp \"ns\" must be a non-negative integer");
                    continue;
                }
                has_ns = true;
                ns = v;
            }
        }
        if (!has_name || !has_ns) {
            obj_bad(o, "a timestamp lacks \"%s\"", has_name ? "ns" : "name");
            continue;
        }
        o->any_ts = true;
        if (which >= 0 && which < TS_COUNT && o->ts[which] == SP_TIME_NONE)
            o->ts[which] = (uint64_t)ns;   /* a repeated name keeps its first time */
    }
}

/* The next value, of member `what`, into *tok: a container is passed over and makes the object
 * malformed ("WHAT" must be EXPECTED, not a container). Returns the lexer's failure, or SP_OK with
 * *scalar saying whether *tok holds a value to read. */
static sp_status next_scalar(triton *t, tobj *o, const char *what, const char *expected, sp_json_token *tok,
                             bool *scalar)
{
    *scalar = false;
    if (sp_json_next(&t->lx, tok))
        return sp_json_fail(&t->lx, t->ctx);
    if (tok->type == SP_JSON_OBJ_BEGIN || tok->type == SP_JSON_ARR_BEGIN) {
        if (sp_json_skip_rest(&t->lx))
            return sp_json_fail(&t->lx, t->ctx);
        obj_bad(o, "\"%s\" must be %s, not a container", what, expected);
        return SP_OK;
    }
    *scalar = true;
    return SP_OK;
}

static sp_status read_text(triton *t, tobj *o, const char *what, char *dst, size_t *len, bool *has)
{
    sp_json_token tok;
    bool scalar;
    sp_status st = next_scalar(t, o, what, "a string or an integer", &tok, &scalar);
    if (st || !scalar)
        return st;
    if (tok.type == SP_JSON_NULL)
        return SP_OK;
    if (tok.type != SP_JSON_STRING && !plain_int(&tok)) {
        obj_bad(o, "\"%s\" must be a string or an integer", what);
        return SP_OK;
    }
    if (tok.len == 0 || tok.len >= TRITON_NAME_MAX || memchr(tok.str, '\0', tok.len)) {
        obj_bad(o, "\"%s\" is empty, longer than %u bytes or holds a NUL", what, TRITON_NAME_MAX - 1);
        return SP_OK;
    }
    memcpy(dst, tok.str, tok.len);
    *len = tok.len;
    *has = true;
    return SP_OK;
}

static sp_status read_id(triton *t, tobj *o, const char *what, int64_t *dst, bool *has)
{
    sp_json_token tok;
    bool scalar;
    sp_status st = next_scalar(t, o, what, "an integer trace id", &tok, &scalar);
    if (st || !scalar)
        return st;
    if (!plain_int(&tok) || tok.i < 0) {
        obj_bad(o, "\"%s\" must be a non-negative integer trace id", what);
        return SP_OK;
    }
    *dst = tok.i;
    *has = true;
    return SP_OK;
}

/* Merges a well-formed object into its trace; a conflict with an earlier object is malformed. */
static sp_status apply_object(triton *t, tobj *o)
{
    struct sp_events *ev = t->ctx->ev;
    ttrace *r = NULL;
    sp_status st = trace_ref(t, o->id, &r);
    if (st)
        return st;
    if (o->has_model) {
        sp_str m;
        if ((st = sp_str_intern(&ev->strings, o->model, o->model_len, &m)))
            return st;
        if (r->model != SP_EV_NONE && r->model != m)
            return sp_import_fail_at(t->ctx, t->line, t->column, SP_ERR_PARSE, "trace id %lld names model \"%s\" after \"%s\"",
                           (long long)o->id, sp_str_get(&ev->strings, m), sp_str_get(&ev->strings, r->model));
        r->model = m;
    }
    if (o->has_version) {
        if ((st = sp_str_intern(&ev->strings, o->version, o->version_len, &r->version)))
            return st;
    }
    if (o->has_parent && o->parent != 0) {
        if (o->parent == o->id)
            return sp_import_fail_at(t->ctx, t->line, t->column, SP_ERR_PARSE, "trace id %lld is its own parent_id",
                           (long long)o->id);
        if (r->parent && r->parent != o->parent)
            return sp_import_fail_at(t->ctx, t->line, t->column, SP_ERR_PARSE, "trace id %lld has two parent_ids (%lld, %lld)",
                           (long long)o->id, (long long)r->parent, (long long)o->parent);
        r->parent = o->parent;
    }
    for (int k = 0; k < TS_COUNT; k++)
        if (o->ts[k] != SP_TIME_NONE && r->ts[k] == SP_TIME_NONE)
            r->ts[k] = o->ts[k];
    r->any_ts |= o->any_ts;
    return SP_OK;
}

/* Reads one trace object; its '{' is consumed. */
static sp_status read_object(triton *t, tobj *o)
{
    memset(o, 0, offsetof(tobj, model));
    o->has_model = o->has_version = o->any_ts = false;
    o->bad = NULL;
    for (int k = 0; k < TS_COUNT; k++)
        o->ts[k] = SP_TIME_NONE;
    sp_json_token tok;
    bool has_ts = false;
    for (;;) {
        if (sp_json_next(&t->lx, &tok))
            return sp_json_fail(&t->lx, t->ctx);
        if (tok.type == SP_JSON_OBJ_END)
            break;
        sp_status st = SP_OK;
        if (key_is(&tok, "id")) {
            st = read_id(t, o, "id", &o->id, &o->has_id);
        } else if (key_is(&tok, "parent_id")) {
            st = read_id(t, o, "parent_id", &o->parent, &o->has_parent);
        } else if (key_is(&tok, "model_name")) {
            st = read_text(t, o, "model_name", o->model, &o->model_len, &o->has_model);
        } else if (key_is(&tok, "model_version")) {
            st = read_text(t, o, "model_version", o->version, &o->version_len, &o->has_version);
        } else if (key_is(&tok, "timestamps")) {
            if (sp_json_next(&t->lx, &tok))
                return sp_json_fail(&t->lx, t->ctx);
            if (tok.type == SP_JSON_ARR_BEGIN) {
                has_ts = true;
                st = read_timestamps(t, o);
            } else {
                obj_bad(o, "\"timestamps\" must be an array");
                if (tok.type == SP_JSON_OBJ_BEGIN && sp_json_skip_rest(&t->lx))
                    return sp_json_fail(&t->lx, t->ctx);
            }
        } else if (sp_json_skip(&t->lx)) {
            return sp_json_fail(&t->lx, t->ctx);
        }
        if (st)
            return st;
    }
    if (!o->bad && !o->has_id)
        obj_bad(o, "missing \"id\" (expected the trace id every Triton trace object carries)");
    (void)has_ts;
    if (o->bad)
        return skip_or_fail(t, sp_import_fail_at(t->ctx, t->line, t->column, SP_ERR_PARSE, "%s", o->bad));
    return apply_object(t, o);
}

/* ---------- building the model ---------- */

/* The root of a trace: parents are followed while they exist in the file (a parent missing from the
 * file, e.g. in a rotated trace file, makes the child its own root). NULL on a cycle or too deep. */
static ttrace *root_of(triton *t, ttrace *r)
{
    for (int d = 0; d < TRITON_MAX_DEPTH; d++) {
        ttrace *p = r->parent ? find(t, r->parent) : NULL;
        if (!p)
            return r;
        r = p;
    }
    return NULL;
}

static uint64_t tmin(uint64_t a, uint64_t b)
{
    return a == SP_TIME_NONE ? b : b == SP_TIME_NONE ? a : a < b ? a : b;
}

static uint64_t tmax(uint64_t a, uint64_t b)
{
    return a == SP_TIME_NONE ? b : b == SP_TIME_NONE ? a : a > b ? a : b;
}

/* Checks a trace's timestamps; a message names the first pair out of order. */
static sp_status check_trace(triton *t, ttrace *r, bool is_root)
{
    static const int pairs[][2] = {
        {TS_REQUEST_START, TS_REQUEST_END}, {TS_HTTP_RECV_START, TS_HTTP_RECV_END},
        {TS_HTTP_SEND_START, TS_HTTP_SEND_END}, {TS_GRPC_RECV_START, TS_GRPC_RECV_END},
        {TS_GRPC_SEND_START, TS_GRPC_SEND_END}, {TS_QUEUE_START, TS_COMPUTE_START},
        {TS_COMPUTE_START, TS_COMPUTE_INPUT_END}, {TS_COMPUTE_INPUT_END, TS_COMPUTE_OUTPUT_START},
        {TS_COMPUTE_OUTPUT_START, TS_COMPUTE_END}, {TS_COMPUTE_START, TS_COMPUTE_END}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        uint64_t a = r->ts[pairs[i][0]], b = r->ts[pairs[i][1]];
        if (a != SP_TIME_NONE && b != SP_TIME_NONE && b < a)
            return sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "trace id %lld: %s (%llu) is before %s (%llu)",
                           (long long)r->id, g_ts_names[pairs[i][1]], (unsigned long long)b,
                           g_ts_names[pairs[i][0]], (unsigned long long)a);
    }
    if ((r->ts[TS_COMPUTE_START] == SP_TIME_NONE) != (r->ts[TS_COMPUTE_END] == SP_TIME_NONE))
        return sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "trace id %lld has %s but no %s", (long long)r->id,
                       r->ts[TS_COMPUTE_START] == SP_TIME_NONE ? "COMPUTE_END" : "COMPUTE_START",
                       r->ts[TS_COMPUTE_START] == SP_TIME_NONE ? "COMPUTE_START" : "COMPUTE_END");
    if (r->ts[TS_COMPUTE_START] != SP_TIME_NONE && r->model == SP_EV_NONE)
        return sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "trace id %lld has compute timestamps but no "
                       "\"model_name\"", (long long)r->id);
    if (is_root) {
        uint64_t arrival = tmin(tmin(r->ts[TS_REQUEST_START], r->ts[TS_HTTP_RECV_START]), r->ts[TS_GRPC_RECV_START]);
        uint64_t done = tmax(tmax(r->ts[TS_REQUEST_END], r->ts[TS_HTTP_SEND_END]), r->ts[TS_GRPC_SEND_END]);
        if (arrival == SP_TIME_NONE || done == SP_TIME_NONE) {
            /* say why, where the file shows it: no timestamps at all (traced without level=TIMESTAMPS),
             * or timestamps under names this importer does not read (e.g. an old release's) */
            char why[200] = "";
            if (!r->any_ts)
                snprintf(why, sizeof why, "; it has no timestamps at all: Triton writes them under "
                         "--trace-config level=TIMESTAMPS");
            else if (t->unknown_ts[0])
                snprintf(why, sizeof why, "; the file's timestamps have lower-case names with no "
                         "equivalent read here, e.g. \"%s\" (docs/triton.md, \"Older releases\")", t->unknown_ts);
            return sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "trace id %lld has no %s (expected REQUEST_START "
                           "and REQUEST_END, or HTTP/GRPC receive and send times)%s", (long long)r->id,
                           arrival == SP_TIME_NONE ? "start" : "end", why);
        }
        if (done < arrival)
            return sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "trace id %lld ends (%llu) before it starts (%llu)",
                           (long long)r->id, (unsigned long long)done, (unsigned long long)arrival);
    }
    return SP_OK;
}

/* A batch as grouped: requests whose traces share model, version and compute window. */
typedef struct tgroup {
    sp_str model, version;
    uint64_t start, end;
    uint32_t first;          /* the trace that opened it */
    uint32_t batch;          /* index into ev->batches */
} tgroup;

typedef struct tmember {
    uint32_t group, req;
} tmember;

static int member_cmp(const void *a, const void *b)
{
    const tmember *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->req < y->req ? -1 : x->req > y->req;
}

/* Groups are keyed by a hash of (model, version, start, end), confirmed against the group. */
static uint64_t group_hash(const tgroup *g)
{
    uint64_t k[4] = {g->model, g->version, g->start, g->end};
    return sp_hash_bytes(k, sizeof k, 0x6270);
}

struct group_probe {
    const tgroup *groups, *want;
};

static bool group_eq(const void *ctx, uint32_t g)
{
    const struct group_probe *p = ctx;
    const tgroup *x = &p->groups[g], *y = p->want;
    return x->model == y->model && x->version == y->version && x->start == y->start && x->end == y->end;
}

static sp_status add_act(struct sp_events *ev, uint32_t file, uint8_t kind, sp_str name, uint32_t batch,
                         uint64_t start, uint64_t end)
{
    if (end <= start)
        return SP_OK;   /* an empty phase is no device work */
    sp_ev_activity a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.name = name;
    a.batch = batch;
    a.file = file;
    a.start_ns = start;
    a.end_ns = end;
    return sp_ev_add_activity(ev, &a);
}

static sp_status add_stage(struct sp_events *ev, uint32_t req, sp_str name, uint64_t a, uint64_t b)
{
    if (a == SP_TIME_NONE || b == SP_TIME_NONE)
        return SP_OK;
    return sp_ev_add_span(ev, req, name, a, b);
}

static sp_status build(triton *t)
{
    struct sp_events *ev = t->ctx->ev;
    const uint32_t file = t->ctx->file;
    sp_known_stages ks;
    sp_ev_known_stages(ev, &ks);
    sp_str s_receive, s_send;
    sp_status st;
    if ((st = sp_str_intern(&ev->strings, "receive", 7, &s_receive)) ||
        (st = sp_str_intern(&ev->strings, "send", 4, &s_send)))
        return st;
    /* pass 1: check every trace (roots and children), create the root requests */
    for (size_t i = 0; i < t->n; i++) {
        ttrace *r = &t->tr[i];
        ttrace *root = root_of(t, r);
        if (!root)
            st = sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "trace id %lld: parent_id chain loops or is deeper "
                         "than %d", (long long)r->id, TRITON_MAX_DEPTH);
        else
            st = check_trace(t, r, root == r);
        if (st) {
            r->bad = true;
            if ((st = skip_or_fail(t, st)))
                return st;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        ttrace *r = &t->tr[i];
        if (r->bad || root_of(t, r) != r)
            continue;
        char id[32];
        int n = snprintf(id, sizeof id, "%lld", (long long)r->id);
        if ((st = sp_ev_request_ref(ev, file, id, (size_t)n, &r->req)))
            return st;
        sp_ev_request *q = &ev->requests[r->req];
        q->arrival_ns = tmin(tmin(r->ts[TS_REQUEST_START], r->ts[TS_HTTP_RECV_START]), r->ts[TS_GRPC_RECV_START]);
        q->done_ns = tmax(tmax(r->ts[TS_REQUEST_END], r->ts[TS_HTTP_SEND_END]), r->ts[TS_GRPC_SEND_END]);
        q->input_tokens = -1;
        q->has_record = true;
    }
    /* pass 2: stages and compute windows of every good trace, on its root's request */
    tgroup *groups = NULL;
    size_t ngroups = 0, capg = 0;
    tmember *mem = NULL;
    size_t nmem = 0, capm = 0;
    sp_hmap gmap;            /* group_hash -> index into groups */
    memset(&gmap, 0, sizeof gmap);
    for (size_t i = 0; i < t->n && st == SP_OK; i++) {
        ttrace *r = &t->tr[i];
        ttrace *root = r->bad ? NULL : root_of(t, r);
        if (!root || root->bad)
            continue;   /* a skipped root takes its children with it */
        uint32_t req = root->req;
        if ((st = add_stage(ev, req, s_receive, r->ts[TS_HTTP_RECV_START], r->ts[TS_HTTP_RECV_END])) ||
            (st = add_stage(ev, req, s_receive, r->ts[TS_GRPC_RECV_START], r->ts[TS_GRPC_RECV_END])) ||
            (st = add_stage(ev, req, ks.queue, r->ts[TS_QUEUE_START], r->ts[TS_COMPUTE_START])) ||
            (st = add_stage(ev, req, s_send, r->ts[TS_HTTP_SEND_START], r->ts[TS_HTTP_SEND_END])) ||
            (st = add_stage(ev, req, s_send, r->ts[TS_GRPC_SEND_START], r->ts[TS_GRPC_SEND_END])))
            break;
        uint64_t cs = r->ts[TS_COMPUTE_START], ce = r->ts[TS_COMPUTE_END];
        if (cs == SP_TIME_NONE)
            continue;
        /* find or open the group */
        tgroup want = {r->model, r->version, cs, ce, (uint32_t)i, SP_EV_NONE};
        uint64_t gh = group_hash(&want);
        struct group_probe gp = {groups, &want};
        uint32_t g = sp_hmap_find(&gmap, gh, group_eq, &gp);
        if (g == SP_HMAP_NONE) {
            if ((st = SP_GROW(groups, capg, ngroups + 1, TRITON_MAX_TRACES)) ||
                (st = sp_hmap_put(&gmap, gh, (uint32_t)ngroups)))
                break;
            g = (uint32_t)ngroups++;
            groups[g] = want;
            /* batch ids count groups in the order their first trace appears in the file */
            if ((st = sp_ev_batch_ref(ev, file, (int64_t)g + 1, &groups[g].batch)))
                break;
            sp_ev_batch *b = &ev->batches[groups[g].batch];
            b->start_ns = cs;
            b->end_ns = ce;
            b->effective_tokens = b->padded_tokens = -1;
            b->has_record = true;
            const char *mname = sp_str_get(&ev->strings, r->model);
            char kname[TRITON_NAME_MAX + 8];
            int kn = snprintf(kname, sizeof kname, "%s infer", mname);
            sp_str kid;
            if ((st = sp_str_intern(&ev->strings, kname, (size_t)kn, &kid)))
                break;
            uint64_t cie = r->ts[TS_COMPUTE_INPUT_END], cos = r->ts[TS_COMPUTE_OUTPUT_START];
            if (cie != SP_TIME_NONE && cos != SP_TIME_NONE && cie <= cos) {
                /* compute input copies the inputs to the device; compute output copies them back */
                if ((st = add_act(ev, file, SP_ACT_H2D, SP_EV_NONE, groups[g].batch, cs, cie)) ||
                    (st = add_act(ev, file, SP_ACT_KERNEL, kid, groups[g].batch, cie, cos)) ||
                    (st = add_act(ev, file, SP_ACT_D2H, SP_EV_NONE, groups[g].batch, cos, ce)))
                    break;
            } else if ((st = add_act(ev, file, SP_ACT_KERNEL, kid, groups[g].batch, cs, ce))) {
                break;
            }
        }
        if ((st = SP_GROW(mem, capm, nmem + 1, TRITON_MAX_TRACES)))
            break;
        mem[nmem++] = (tmember){g, req};
    }
    if (st == SP_OK && nmem) {
        qsort(mem, nmem, sizeof *mem, member_cmp);
        uint32_t *reqs = malloc(nmem * sizeof *reqs);
        if (!reqs)
            st = SP_ERR_NOMEM;
        for (size_t a = 0; a < nmem && st == SP_OK;) {
            size_t b = a, k = 0;
            for (; b < nmem && mem[b].group == mem[a].group; b++)
                if (k == 0 || reqs[k - 1] != mem[b].req)   /* a request once per batch */
                    reqs[k++] = mem[b].req;
            st = sp_ev_batch_set_members(ev, groups[mem[a].group].batch, reqs, k);
            a = b;
        }
        free(reqs);
    }
    free(groups);
    sp_hmap_free(&gmap);
    free(mem);
    return st;
}

sp_status sp_import_triton(sp_import_ctx *ctx)
{
    triton t;
    memset(&t, 0, sizeof t);
    t.ctx = ctx;
    t.lenient = ctx->opt && ctx->opt->lenient;
    sp_json_limits lim;
    sp_json_limits_init(&lim);
    lim.max_depth = 64;
    lim.multiple_values = true;   /* an array, or objects one after another */
    lim.no_double = true;
    tobj *o = malloc(sizeof *o);
    sp_status st = o ? sp_json_init_input(&t.lx, ctx->in, &lim) : SP_ERR_NOMEM;
    uint64_t objects = 0;
    bool in_array = false;
    while (st == SP_OK) {
        sp_json_token tok;
        if (sp_json_next(&t.lx, &tok)) {
            st = sp_json_fail(&t.lx, t.ctx);
            break;
        }
        if (tok.type == SP_JSON_EOF)
            break;
        /* a top-level array holds the objects; arrays may follow one another */
        if ((tok.type == SP_JSON_ARR_BEGIN && tok.depth == 1) || (tok.type == SP_JSON_ARR_END && tok.depth == 0)) {
            in_array = tok.type == SP_JSON_ARR_BEGIN;
            continue;
        }
        t.line = tok.line;
        t.column = tok.column;
        if (tok.type != SP_JSON_OBJ_BEGIN || tok.depth > 2) {
            st = sp_import_fail_at(t.ctx, tok.line, tok.column, SP_ERR_PARSE,
                         "expected a Triton trace object ({\"id\":...}) or an array of them");
            break;
        }
        objects++;
        st = read_object(&t, o);
    }
    /* Triton writes the array's ']' only when tracing stops, so a file copied from a running server
     * ends inside it: say so, rather than only where the JSON stopped. */
    if (st == SP_ERR_PARSE && t.lx.status == SP_ERR_PARSE && in_array && t.lx.depth >= 1 && t.lx.eof &&
        t.lx.p == t.lx.end && ctx->err && ctx->errlen) {
        size_t l = strlen(ctx->err);
        snprintf(ctx->err + l, ctx->errlen - l, "; the file ends inside its array of trace objects: Triton "
                 "writes the closing ']' when the server stops tracing or exits, so a trace file read while "
                 "the server still writes it ends early");
    }
    if (st == SP_OK && objects == 0)
        st = sp_import_fail_at(t.ctx, 1, 1, SP_ERR_PARSE, "no trace objects (expected a JSON array of Triton trace objects)");
    if (st == SP_OK)
        st = build(&t);
    if (st == SP_OK && ctx->err && ctx->errlen)
        ctx->err[0] = '\0';
    sp_json_fini(&t.lx);
    free(o);
    free(t.tr);
    sp_hmap_free(&t.ids);
    return st;
}
