/* Importer for Triton Inference Server trace files (--trace-config mode=triton, level=TIMESTAMPS;
 * docs/triton.md): a JSON array of trace objects, or concatenated objects, joined by trace "id". Each
 * root trace becomes a request (the model is built by triton_build.c, shared with the reader of Triton's
 * OpenTelemetry mode). */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "import/import_int.h"
#include "import/json.h"
#include "import/triton_int.h"

#define TRITON_NAME_MAX SP_TRITON_NAME_MAX   /* bytes of a model name or version */

/* Older releases' lower-case names (docs/triton.md, "Older releases"), each read as today's name for
 * the same event: the seven core activities are one enum, named in lower case by the 1.x servers' tracer
 * and in upper case by TRITONSERVER_InferenceTraceActivityString; the frontends' names were captured at
 * the same points (evhtp's receive and send times; gRPC's wait for a request and its send).
 * SP_TRITON_TS_COUNT: gRPC's wait/read, today's GRPC_WAITREAD_START/END, read under neither spelling (it starts when the
 * server begins waiting for a request, not when one arrives). Other lower-case names (the earliest
 * "http infer start") have no one-to-one equivalent and stay unread. */
static const struct {
    const char *name;
    int ts;
} g_old_ts_names[] = {
    {"request handler start", SP_TRITON_REQUEST_START}, {"queue start", SP_TRITON_QUEUE_START},
    {"compute start", SP_TRITON_COMPUTE_START}, {"compute input end", SP_TRITON_COMPUTE_INPUT_END},
    {"compute output start", SP_TRITON_COMPUTE_OUTPUT_START}, {"compute end", SP_TRITON_COMPUTE_END},
    {"request handler end", SP_TRITON_REQUEST_END}, {"http recv start", SP_TRITON_HTTP_RECV_START},
    {"http recv end", SP_TRITON_HTTP_RECV_END}, {"http send start", SP_TRITON_HTTP_SEND_START},
    {"http send end", SP_TRITON_HTTP_SEND_END}, {"grpc send start", SP_TRITON_GRPC_SEND_START},
    {"grpc send end", SP_TRITON_GRPC_SEND_END}, {"grpc wait/read start", SP_TRITON_TS_COUNT},
    {"grpc wait/read end", SP_TRITON_TS_COUNT}};

typedef struct triton {
    sp_triton_set set;       /* the traces as merged; the model is built from them (triton_build.c) */
    sp_json_lexer lx;
    /* the object being read */
    uint32_t line, column;
} triton;

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
    uint64_t ts[SP_TRITON_TS_COUNT];
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
            return sp_json_fail(&t->lx, t->set.ctx);
        if (tok.type == SP_JSON_ARR_END)
            return SP_OK;
        if (tok.type != SP_JSON_OBJ_BEGIN) {
            obj_bad(o, "\"timestamps\" must hold objects {\"name\":..., \"ns\":...}");
            if ((tok.type == SP_JSON_ARR_BEGIN) && sp_json_skip_rest(&t->lx))
                return sp_json_fail(&t->lx, t->set.ctx);
            continue;
        }
        int which = -1;
        bool has_name = false, has_ns = false;
        int64_t ns = 0;
        for (;;) {
            if (sp_json_next(&t->lx, &tok))
                return sp_json_fail(&t->lx, t->set.ctx);
            if (tok.type == SP_JSON_OBJ_END)
                break;
            bool is_name = key_is(&tok, "name"), is_ns = key_is(&tok, "ns");
            if (!is_name && !is_ns) {
                if (sp_json_skip(&t->lx))
                    return sp_json_fail(&t->lx, t->set.ctx);
                continue;
            }
            if (sp_json_next(&t->lx, &tok))
                return sp_json_fail(&t->lx, t->set.ctx);
            if (tok.type == SP_JSON_OBJ_BEGIN || tok.type == SP_JSON_ARR_BEGIN) {
                if (sp_json_skip_rest(&t->lx))
                    return sp_json_fail(&t->lx, t->set.ctx);
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
                which = sp_triton_ts_find(tok.str, tok.len);
                for (size_t k = 0; which < 0 && k < sizeof g_old_ts_names / sizeof g_old_ts_names[0]; k++)
                    if (key_is(&tok, g_old_ts_names[k].name))
                        which = g_old_ts_names[k].ts;
                if (which < 0 && !t->set.unknown_ts[0] && lower_case_name(&tok))
                    memcpy(t->set.unknown_ts, tok.str, tok.len);   /* zero-filled: stays terminated */
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
        if (which >= 0 && which < SP_TRITON_TS_COUNT && o->ts[which] == SP_TIME_NONE)
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
        return sp_json_fail(&t->lx, t->set.ctx);
    if (tok->type == SP_JSON_OBJ_BEGIN || tok->type == SP_JSON_ARR_BEGIN) {
        if (sp_json_skip_rest(&t->lx))
            return sp_json_fail(&t->lx, t->set.ctx);
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
    struct sp_events *ev = t->set.ctx->ev;
    sp_triton_trace *r = NULL;
    sp_status st = sp_triton_trace_ref(&t->set, o->id, t->line, t->column, &r);
    if (st)
        return st;
    if (o->has_model) {
        sp_str m;
        if ((st = sp_str_intern(&ev->strings, o->model, o->model_len, &m)))
            return st;
        if (r->model != SP_EV_NONE && r->model != m)
            return sp_import_fail_at(t->set.ctx, t->line, t->column, SP_ERR_PARSE, "trace id %lld names model \"%s\" after \"%s\"",
                           (long long)o->id, sp_str_get(&ev->strings, m), sp_str_get(&ev->strings, r->model));
        r->model = m;
    }
    if (o->has_version) {
        if ((st = sp_str_intern(&ev->strings, o->version, o->version_len, &r->version)))
            return st;
    }
    if (o->has_parent && o->parent != 0) {
        if (o->parent == o->id)
            return sp_import_fail_at(t->set.ctx, t->line, t->column, SP_ERR_PARSE, "trace id %lld is its own parent_id",
                           (long long)o->id);
        if (r->parent && r->parent != o->parent)
            return sp_import_fail_at(t->set.ctx, t->line, t->column, SP_ERR_PARSE, "trace id %lld has two parent_ids (%lld, %lld)",
                           (long long)o->id, (long long)r->parent, (long long)o->parent);
        r->parent = o->parent;
    }
    for (int k = 0; k < SP_TRITON_TS_COUNT; k++)
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
    for (int k = 0; k < SP_TRITON_TS_COUNT; k++)
        o->ts[k] = SP_TIME_NONE;
    sp_json_token tok;
    bool has_ts = false;
    for (;;) {
        if (sp_json_next(&t->lx, &tok))
            return sp_json_fail(&t->lx, t->set.ctx);
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
                return sp_json_fail(&t->lx, t->set.ctx);
            if (tok.type == SP_JSON_ARR_BEGIN) {
                has_ts = true;
                st = read_timestamps(t, o);
            } else {
                obj_bad(o, "\"timestamps\" must be an array");
                if (tok.type == SP_JSON_OBJ_BEGIN && sp_json_skip_rest(&t->lx))
                    return sp_json_fail(&t->lx, t->set.ctx);
            }
        } else if (sp_json_skip(&t->lx)) {
            return sp_json_fail(&t->lx, t->set.ctx);
        }
        if (st)
            return st;
    }
    if (!o->bad && !o->has_id)
        obj_bad(o, "missing \"id\" (expected the trace id every Triton trace object carries)");
    (void)has_ts;
    if (o->bad)
        return sp_triton_skip_or_fail(&t->set, sp_import_fail_at(t->set.ctx, t->line, t->column, SP_ERR_PARSE, "%s", o->bad));
    return apply_object(t, o);
}

sp_status sp_import_triton(sp_import_ctx *ctx)
{
    triton t;
    memset(&t, 0, sizeof t);
    t.set.ctx = ctx;
    t.set.lenient = ctx->opt && ctx->opt->lenient;
    t.set.skipped_what = "Triton trace record";
    t.set.first_batch_id = 1;
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
            st = sp_json_fail(&t.lx, t.set.ctx);
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
            st = sp_import_fail_at(t.set.ctx, tok.line, tok.column, SP_ERR_PARSE,
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
        st = sp_import_fail_at(t.set.ctx, 1, 1, SP_ERR_PARSE, "no trace objects (expected a JSON array of Triton trace objects)");
    if (st == SP_OK)
        st = sp_triton_build(&t.set);
    if (st == SP_OK && ctx->err && ctx->errlen)
        ctx->err[0] = '\0';
    sp_json_fini(&t.lx);
    free(o);
    sp_triton_set_free(&t.set);
    return st;
}
