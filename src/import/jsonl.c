/* Importer for servprof.events/1 JSONL (DESIGN section 9; docs/jsonl-format.md): one JSON object per
 * line, read through a bounded line buffer, each line tokenized in place by the JSON lexer, checked
 * completely, and only then added to the event model, so a skipped (lenient) line leaves no trace. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tracectx.h"
#include "common/util_int.h"
#include "format/native_format.h"
#include "import/import_int.h"
#include "import/json.h"

#define JSONL_LINE_MAX (1u << 20)           /* hard cap on one line, newline excluded */
#define JSONL_READ (1u << 20)               /* bytes read from the input at a time */
#define JSONL_MAX_IDS (JSONL_LINE_MAX / 2)  /* ids in one "requests" array ("1", is two bytes) */

/* The keys the format defines; any other key is ignored. */
enum field {
    F_EV, F_FORMAT, F_CLOCK, F_PRICE, F_DROPS, F_ID, F_ARRIVAL, F_DONE, F_INPUT_TOKENS, F_STAGE,
    F_START, F_END, F_BATCH, F_REQUESTS, F_EFFECTIVE, F_PADDED, F_NAME, F_STREAM, F_DEVICE,
    F_CORRELATION, F_KIND, F_BYTES, F_INTENDED, F_SEND, F_STATUS, F_PROPERTIES, F_OUTCOME,
    /* generation (docs/generation.md) */
    F_PHASES, F_TOKENS, F_KV_USED, F_KV_CAPACITY, F_INDEX, F_TIME, F_FIRST_TOKEN, F_TOKEN_NS,
    F_OUTPUT_TOKENS,
    /* W3C trace context */
    F_TRACE_ID, F_SPAN_ID, F_PARENT_SPAN_ID, F_TRACE_FLAGS, F_UNIX_OFFSET,
    /* meta: the stages that are an engine's model time (docs/jsonl-format.md) */
    F_MODEL_STAGES, F_COUNT
};
_Static_assert(F_COUNT <= 64, "present is a 64-bit mask");

static const char *const g_field_names[F_COUNT] = {
    "ev", "format", "clock", "price_per_hour", "drops", "id", "arrival_ns", "done_ns", "input_tokens",
    "stage", "start_ns", "end_ns", "batch", "requests", "effective_tokens", "padded_tokens", "name",
    "stream", "device", "correlation", "kind", "bytes", "intended_ns", "send_ns", "status", "properties",
    "outcome", "phases", "tokens", "kv_used_tokens", "kv_capacity_tokens", "index", "time_ns",
    "first_token_ns", "token_ns", "output_tokens", "trace_id", "span_id", "parent_span_id", "trace_flags",
    "unix_offset_ns", "model_stages"};

/* One member's value as read: type 0 means absent. Text stays valid for the whole line (the lexer
 * unescapes in place inside the line buffer). */
typedef struct jval {
    uint8_t type;       /* sp_json_type */
    bool is_int;
    int64_t i;
    const char *s;
    size_t len;
} jval;

typedef struct id_text {
    const char *s;
    size_t len;
} id_text;

typedef struct jsonl {
    sp_import_ctx *ctx;
    struct sp_events *ev;
    uint32_t file;
    uint64_t line;
    sp_json_lexer lx;
    sp_json_limits lim;
    jval f[F_COUNT];
    uint64_t present;        /* bit k: f[k] was given on this line (cheaper than clearing f) */
    /* "requests": ids as read, and their request indexes once checked */
    id_text *ids;
    size_t nids, cap_ids;
    const char *ids_err;     /* why the array is unusable, or NULL */
    uint32_t *members;
    size_t cap_members;
    /* "drops" */
    uint64_t drops[SP_DROP_CAUSE_COUNT];
    const char *drops_err;
    /* "properties": keys and values as read (text valid for the line) */
    id_text prop_key[SP_PROP_MAX_KEYS], prop_val[SP_PROP_MAX_KEYS];
    size_t nprops;
    const char *props_err;
    /* generation arrays (docs/generation.md): "phases", "tokens" (a step's), "token_ns" (a client's) */
    uint8_t *phases;
    uint32_t *toks;
    uint64_t *tns;
    size_t nphases, ntoks, ntns, cap_phases, cap_toks, cap_tns;
    const char *phases_err, *toks_err, *tns_err;
    bool bad_line;           /* the error belongs to this line (skippable under lenient) */
    uint64_t records;        /* non-blank lines seen */
    bool lx_ready;           /* lx initialised once; later lines only reset it */
    sp_ev_cache names;       /* recent stage, kernel and launch names */
    sp_ev_cache reqs;        /* recent request ids (a request's stage lines follow it) */
} jsonl;

static sp_status line_fail(jsonl *j, sp_status st, const char *fmt, ...) SP_PRINTF(3, 4);

static const jval g_absent;

/* The member k of this line's object (type 0 when the line has none). */
static inline const jval *fv(const jsonl *j, int k)
{
    return (j->present >> k) & 1u ? &j->f[k] : &g_absent;
}

/* Records "NAME:LINE: what" for a malformed line. */
static sp_status line_fail(jsonl *j, sp_status st, const char *fmt, ...)
{
    char where[32];
    snprintf(where, sizeof where, ":%llu", (unsigned long long)j->line);
    va_list ap;
    va_start(ap, fmt);
    sp_import_vfail(j->ctx, st, where, fmt, ap);
    va_end(ap);
    j->bad_line = true;
    return st;
}

/* A model call failed: out of memory or a model limit. Not a property of the line: always fatal. */
static sp_status model_fail(jsonl *j, sp_status st)
{
    sp_errf(j->ctx->err, j->ctx->errlen, "%s:%llu: %s", j->ctx->name, (unsigned long long)j->line,
            st == SP_ERR_LIMIT ? "too many events (over the event model's limit)" : sp_status_str(st));
    j->bad_line = false;
    return st;
}

static sp_status lex_fail(jsonl *j)
{
    /* the lexer says "line L, column C (byte B): what"; the line is already in our prefix */
    const char *m = sp_json_error(&j->lx);
    const char *rest = strstr(m, ", ");
    return line_fail(j, j->lx.status == SP_ERR_NOMEM ? SP_ERR_NOMEM : j->lx.status, "%s",
                     rest && strncmp(m, "line ", 5) == 0 ? rest + 2 : m);
}

/* The field a key names, or -1. Dispatches on the length first: one or two fixed-size compares per
 * key (the compiler turns them into word loads) instead of a chain of variable-length memcmp calls. */
static int field_of(const char *k, size_t n)
{
#define K(lit, f)                                   \
    if (memcmp(k, lit, sizeof(lit) - 1) == 0)       \
        return f;
    switch (n) {
    case 2: K("ev", F_EV) K("id", F_ID) break;
    case 4: K("name", F_NAME) K("kind", F_KIND) break;
    case 5: K("stage", F_STAGE) K("batch", F_BATCH) K("bytes", F_BYTES) K("clock", F_CLOCK) K("drops", F_DROPS)
            K("index", F_INDEX) break;
    case 6: K("end_ns", F_END) K("stream", F_STREAM) K("device", F_DEVICE) K("status", F_STATUS) K("format", F_FORMAT)
            K("phases", F_PHASES) K("tokens", F_TOKENS) break;
    case 7: K("done_ns", F_DONE) K("send_ns", F_SEND) K("outcome", F_OUTCOME) K("time_ns", F_TIME) K("span_id", F_SPAN_ID)
            break;
    case 8: K("start_ns", F_START) K("requests", F_REQUESTS) K("token_ns", F_TOKEN_NS) K("trace_id", F_TRACE_ID) break;
    case 10: K("arrival_ns", F_ARRIVAL) K("properties", F_PROPERTIES) break;
    case 11: K("correlation", F_CORRELATION) K("intended_ns", F_INTENDED) K("trace_flags", F_TRACE_FLAGS) break;
    case 12: K("input_tokens", F_INPUT_TOKENS) K("model_stages", F_MODEL_STAGES) break;
    case 13: K("padded_tokens", F_PADDED) K("output_tokens", F_OUTPUT_TOKENS) break;
    case 14: K("price_per_hour", F_PRICE) K("kv_used_tokens", F_KV_USED) K("first_token_ns", F_FIRST_TOKEN)
             K("parent_span_id", F_PARENT_SPAN_ID) K("unix_offset_ns", F_UNIX_OFFSET) break;
    case 16: K("effective_tokens", F_EFFECTIVE) break;
    case 18: K("kv_capacity_tokens", F_KV_CAPACITY) break;
    default: break;
    }
    return -1;
#undef K
}

static const char *type_name(const jval *v)
{
    switch (v->type) {
    case SP_JSON_STRING: return "a string";
    case SP_JSON_NUMBER: return v->is_int ? "an integer" : "a number";
    case SP_JSON_TRUE: return "true";
    case SP_JSON_FALSE: return "false";
    case SP_JSON_NULL: return "null";
    case SP_JSON_OBJ_BEGIN: return "an object";
    case SP_JSON_ARR_BEGIN: return "an array";
    default: return "nothing";
    }
}

/* ---------- reading one line's object ---------- */

static sp_status read_ids(jsonl *j)
{
    j->nids = 0;
    j->ids_err = NULL;
    sp_json_token t;
    for (;;) {
        sp_status st = sp_json_next(&j->lx, &t);
        if (st)
            return lex_fail(j);
        if (t.type == SP_JSON_ARR_END)
            return SP_OK;
        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
            j->ids_err = "\"requests\" must hold request ids (strings or integers), not containers";
            if (sp_json_skip_rest(&j->lx))
                return lex_fail(j);
            continue;
        }
        bool plain_int = t.type == SP_JSON_NUMBER && t.is_int && !memchr(t.str, '.', t.len) &&
                         !memchr(t.str, 'e', t.len) && !memchr(t.str, 'E', t.len);
        if (t.type != SP_JSON_STRING && !plain_int) {
            j->ids_err = "\"requests\" must hold request ids (strings or integers)";
            continue;
        }
        if (j->nids >= JSONL_MAX_IDS) {
            j->ids_err = "\"requests\" holds too many ids";
            continue;
        }
        if (SP_GROW(j->ids, j->cap_ids, j->nids + 1, JSONL_MAX_IDS))
            return model_fail(j, SP_ERR_NOMEM);
        j->ids[j->nids++] = (id_text){t.str, t.len};
    }
}

/* A generation array (docs/generation.md): "phases" (names of phases), "tokens" (a step's per-member
 * token counts, 1..4294967295) or "token_ns" (a client's token arrival times, non-negative). An
 * element of the wrong kind leaves the array unusable with the reason; the record says so if it
 * needs the array. */
static sp_status read_gen_array(jsonl *j, int k)
{
    size_t *n = k == F_PHASES ? &j->nphases : k == F_TOKENS ? &j->ntoks : &j->ntns;
    const char **why = k == F_PHASES ? &j->phases_err : k == F_TOKENS ? &j->toks_err : &j->tns_err;
    *n = 0;
    *why = NULL;
    sp_json_token t;
    for (;;) {
        if (sp_json_next(&j->lx, &t))
            return lex_fail(j);
        if (t.type == SP_JSON_ARR_END)
            return SP_OK;
        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
            if (sp_json_skip_rest(&j->lx))
                return lex_fail(j);
            *why = "holds a container";
            continue;
        }
        if (*n >= JSONL_MAX_IDS) {
            *why = "holds too many elements";
            continue;
        }
        if (k == F_PHASES) {
            int ph = t.type == SP_JSON_STRING ? sp_ev_phase_of(t.str, t.len) : -1;
            if (ph < 0) {
                *why = "must hold \"decode\", \"prefill\" or \"prefill_chunk\" for each request";
                continue;
            }
            if (SP_GROW(j->phases, j->cap_phases, *n + 1, JSONL_MAX_IDS))
                return model_fail(j, SP_ERR_NOMEM);
            j->phases[(*n)++] = (uint8_t)ph;
            continue;
        }
        bool plain = t.type == SP_JSON_NUMBER && t.is_int && !memchr(t.str, '.', t.len) &&
                     !memchr(t.str, 'e', t.len) && !memchr(t.str, 'E', t.len);
        if (k == F_TOKENS) {
            if (!plain || t.i < 1 || t.i > (int64_t)UINT32_MAX) {
                *why = "must hold each request's token count, an integer of 1..4294967295";
                continue;
            }
            if (SP_GROW(j->toks, j->cap_toks, *n + 1, JSONL_MAX_IDS))
                return model_fail(j, SP_ERR_NOMEM);
            j->toks[(*n)++] = (uint32_t)t.i;
            continue;
        }
        if (!plain || t.i < 0) {
            *why = "must hold integer times in ns, not negative";
            continue;
        }
        if (SP_GROW(j->tns, j->cap_tns, *n + 1, JSONL_MAX_IDS))
            return model_fail(j, SP_ERR_NOMEM);
        j->tns[(*n)++] = (uint64_t)t.i;
    }
}

static sp_status read_drops(jsonl *j)
{
    memset(j->drops, 0, sizeof j->drops);
    j->drops_err = NULL;
    sp_json_token t;
    for (;;) {
        sp_status st = sp_json_next(&j->lx, &t);
        if (st)
            return lex_fail(j);
        if (t.type == SP_JSON_OBJ_END)
            return SP_OK;
        int cause = -1;
        for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++) {
            const char *name = sp_drop_cause_str((sp_drop_cause)c);
            if (strlen(name) == t.len && memcmp(name, t.str, t.len) == 0)
                cause = c;
        }
        st = sp_json_next(&j->lx, &t);
        if (st)
            return lex_fail(j);
        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
            if (sp_json_skip_rest(&j->lx))
                return lex_fail(j);
            if (cause >= 0)
                j->drops_err = "\"drops\" counts must be non-negative integers";
            continue;
        }
        if (cause < 0)
            continue;   /* a cause this version does not know: ignored */
        if (t.type != SP_JSON_NUMBER || !t.is_int || t.i < 0)
            j->drops_err = "\"drops\" counts must be non-negative integers";
        else
            j->drops[cause] += (uint64_t)t.i;
    }
}

/* "properties": an object of trace properties; values are strings, or numbers and booleans kept as
 * their JSON text; null removes nothing and is skipped. */
static sp_status read_props(jsonl *j)
{
    j->nprops = 0;
    j->props_err = NULL;
    sp_json_token t;
    for (;;) {
        sp_status st = sp_json_next(&j->lx, &t);
        if (st)
            return lex_fail(j);
        if (t.type == SP_JSON_OBJ_END)
            return SP_OK;
        id_text key = {t.str, t.len};
        st = sp_json_next(&j->lx, &t);
        if (st)
            return lex_fail(j);
        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
            if (sp_json_skip_rest(&j->lx))
                return lex_fail(j);
            j->props_err = "\"properties\" values must be strings, numbers or booleans";
            continue;
        }
        if (t.type == SP_JSON_NULL)
            continue;
        if (!sp_prop_key_valid(key.s, key.len)) {
            j->props_err = "\"properties\" keys must be 1..255 characters of [A-Za-z0-9._-]";
            continue;
        }
        if (t.len > SP_PROP_MAX_VALUE || memchr(t.str, '\0', t.len)) {
            j->props_err = "a \"properties\" value is longer than 4095 bytes or holds a NUL";
            continue;
        }
        size_t i = 0;
        while (i < j->nprops && !(j->prop_key[i].len == key.len && memcmp(j->prop_key[i].s, key.s, key.len) == 0))
            i++;
        if (i == j->nprops) {
            if (j->nprops >= SP_PROP_MAX_KEYS) {
                j->props_err = "\"properties\" holds more than 64 keys";
                continue;
            }
            j->nprops++;
        }
        j->prop_key[i] = key;
        j->prop_val[i] = (id_text){t.str, t.len};
    }
}

/* Reads the line's object into j->f. */
static sp_status read_object(jsonl *j)
{
    j->present = 0;
    j->ids_err = j->drops_err = j->props_err = NULL;
    j->nids = 0;
    j->nprops = 0;
    j->nphases = j->ntoks = j->ntns = 0;
    j->phases_err = j->toks_err = j->tns_err = NULL;
    sp_json_token t;
    if (sp_json_next(&j->lx, &t))
        return lex_fail(j);
    if (t.type != SP_JSON_OBJ_BEGIN)
        return line_fail(j, SP_ERR_PARSE, "column %u: expected a JSON object ({...}) on each line", t.column);
    for (;;) {
        if (sp_json_next(&j->lx, &t))
            return lex_fail(j);
        if (t.type == SP_JSON_OBJ_END)
            break;
        int k = field_of(t.str, t.len);
        if (k < 0) {
            if (sp_json_skip(&j->lx))
                return lex_fail(j);
            continue;
        }
        if (sp_json_next(&j->lx, &t))
            return lex_fail(j);
        jval *v = &j->f[k];
        j->present |= (uint64_t)1 << k;
        v->type = (uint8_t)t.type;
        v->is_int = t.is_int;
        v->i = t.i;
        v->s = t.str;
        v->len = t.len;
        if (t.type == SP_JSON_ARR_BEGIN) {
            sp_status st = k == F_REQUESTS                                       ? read_ids(j)
                           : k == F_PHASES || k == F_TOKENS || k == F_TOKEN_NS ? read_gen_array(j, k)
                                                                               : (sp_json_skip_rest(&j->lx) ? lex_fail(j) : SP_OK);
            if (st)
                return st;
        } else if (t.type == SP_JSON_OBJ_BEGIN) {
            sp_status st = k == F_DROPS        ? read_drops(j)
                           : k == F_PROPERTIES ? read_props(j)
                                               : (sp_json_skip_rest(&j->lx) ? lex_fail(j) : SP_OK);
            if (st)
                return st;
        }
    }
    /* the lexer checks that nothing but whitespace follows the object */
    if (sp_json_next(&j->lx, &t))
        return lex_fail(j);
    return SP_OK;
}

/* ---------- the fast path for ordinary lines ---------- */

/* JSON whitespace within a line (the newline is the line's end). */
static inline const char *skip_blank(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    return p;
}

/* A plain integer of 1..18 digits (no leading zero, no fraction or exponent) at p: the value the lexer
 * would give, and the byte after it; NULL when the text is anything else. */
static inline const char *plain_int(const char *p, const char *e, int64_t *out)
{
    bool neg = p < e && *p == '-';
    const char *d = p + neg, *q = d;
    uint64_t v = 0;
    while (q < e && (unsigned)(*q - '0') < 10 && q - d < 19)
        v = v * 10 + (uint64_t)(*q++ - '0');
    size_t nd = (size_t)(q - d);
    if (nd == 0 || nd > 18 || (nd > 1 && *d == '0'))
        return NULL;
    if (q < e && (*q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-' || (unsigned)(*q - '0') < 10))
        return NULL;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return q;
}

/* The "requests" array at p (its '['), when every element is a plain string or integer: fills j->ids
 * and returns the byte after ']'; NULL otherwise. */
static const char *fast_ids(jsonl *j, const char *p, const char *e)
{
    j->nids = 0;
    j->ids_err = NULL;
    p = skip_blank(p + 1, e);
    if (p < e && *p == ']')
        return p + 1;
    for (;;) {
        if (p >= e)
            return NULL;
        const char *s, *q;
        if (*p == '"') {
            s = p + 1;
            q = sp_json_plain_string_end(s, e);
            if (!q)
                return NULL;
            p = q + 1;
        } else {
            int64_t v;
            s = p;
            q = plain_int(p, e, &v);
            if (!q)
                return NULL;
            p = q;
        }
        if (j->nids >= JSONL_MAX_IDS || SP_GROW(j->ids, j->cap_ids, j->nids + 1, JSONL_MAX_IDS))
            return NULL;
        j->ids[j->nids++] = (id_text){s, (size_t)(q - s)};
        p = skip_blank(p, e);
        if (p < e && *p == ',') {
            p = skip_blank(p + 1, e);
            continue;
        }
        if (p < e && *p == ']')
            return p + 1;
        return NULL;
    }
}

/* Reads the line [s, e) into j->f exactly as read_object would, when it is an ordinary record: a flat
 * object whose values are strings without escapes or non-ASCII bytes, plain integers, or (for
 * "requests") an array of those. Returns false for anything else, valid or not, having decided
 * nothing: read_object then reads the line again and reports any error with the lexer's message. */
static bool fast_object(jsonl *j, const char *s, const char *e)
{
    j->present = 0;
    j->ids_err = j->drops_err = j->props_err = NULL;
    j->nids = 0;
    j->nprops = 0;
    j->nphases = j->ntoks = j->ntns = 0;
    j->phases_err = j->toks_err = j->tns_err = NULL;
    const char *p = skip_blank(s, e);
    if (p >= e || *p != '{')
        return false;
    p = skip_blank(p + 1, e);
    if (p < e && *p == '}') {
        p++;
    } else {
        for (;;) {
            if (p >= e || *p != '"')
                return false;
            const char *key = p + 1, *kq = sp_json_plain_string_end(key, e);
            if (!kq)
                return false;
            int k = field_of(key, (size_t)(kq - key));
            p = skip_blank(kq + 1, e);
            if (p >= e || *p != ':')
                return false;
            p = skip_blank(p + 1, e);
            if (p >= e)
                return false;
            jval v = {0, false, 0, NULL, 0};
            if (*p == '"') {
                const char *q = sp_json_plain_string_end(p + 1, e);
                if (!q)
                    return false;
                v.type = SP_JSON_STRING;
                v.s = p + 1;
                v.len = (size_t)(q - v.s);
                p = q + 1;
            } else if (*p == '-' || (unsigned)(*p - '0') < 10) {
                const char *q = plain_int(p, e, &v.i);
                if (!q)
                    return false;
                v.type = SP_JSON_NUMBER;
                v.is_int = true;
                v.s = p;
                v.len = (size_t)(q - p);
                p = q;
            } else if (*p == '[' && k == F_REQUESTS) {
                p = fast_ids(j, p, e);
                if (!p)
                    return false;
                v.type = SP_JSON_ARR_BEGIN;
            } else {
                return false;
            }
            if (k >= 0) {
                j->f[k] = v;
                j->present |= (uint64_t)1 << k;
            }
            p = skip_blank(p, e);
            if (p < e && *p == ',') {
                p = skip_blank(p + 1, e);
                continue;
            }
            if (p < e && *p == '}') {
                p++;
                break;
            }
            return false;
        }
    }
    return skip_blank(p, e) == e;
}

/* ---------- typed access with messages ---------- */

enum { GOT = 0, ABSENT = 1, BAD = -1 };

/* An integer member within [min, max]. Absent (or null) is fine unless required. */
static int get_int(jsonl *j, int k, bool required, int64_t min, int64_t max, const char *desc, int64_t *out)
{
    const jval *v = fv(j, k);
    const char *name = g_field_names[k];
    if (v->type == 0 || (v->type == SP_JSON_NULL && !required)) {
        if (required)
            line_fail(j, SP_ERR_PARSE, "missing \"%s\" (expected %s)", name, desc);
        return required ? BAD : ABSENT;
    }
    if (v->type != SP_JSON_NUMBER) {
        line_fail(j, SP_ERR_PARSE, "\"%s\" must be %s, not %s", name, desc, type_name(v));
        return BAD;
    }
    if (!v->is_int) {
        int64_t x;
        bool exact;
        sp_status st = sp_json_decimal_to_int(v->s, v->len, 0, &x, &exact);
        if (st == SP_ERR_LIMIT)
            line_fail(j, SP_ERR_PARSE, "\"%s\" is out of range: %.*s (expected %s, at most %lld)", name,
                      (int)(v->len > 40 ? 40 : v->len), v->s, desc, (long long)max);
        else
            line_fail(j, SP_ERR_PARSE, "\"%s\" must be %s, not %.*s", name, desc,
                      (int)(v->len > 40 ? 40 : v->len), v->s);
        return BAD;
    }
    if (v->i < min) {
        if (min == 0)
            line_fail(j, SP_ERR_PARSE, "\"%s\" is negative: %lld (expected %s)", name, (long long)v->i, desc);
        else
            line_fail(j, SP_ERR_PARSE, "\"%s\" is out of range: %lld (expected %s, at least %lld)", name,
                      (long long)v->i, desc, (long long)min);
        return BAD;
    }
    if (v->i > max) {
        line_fail(j, SP_ERR_PARSE, "\"%s\" is out of range: %lld (expected %s, at most %lld)", name,
                  (long long)v->i, desc, (long long)max);
        return BAD;
    }
    *out = v->i;
    return GOT;
}

static int get_time(jsonl *j, int k, uint64_t *out)
{
    int64_t x;
    int r = get_int(j, k, true, 0, INT64_MAX, "an integer time in ns", &x);
    if (r == GOT)
        *out = (uint64_t)x;
    return r;
}

/* A text member usable as an interned string: non-empty, shorter than SP_EV_MAX_STRING, no NUL.
 * With `allow_int`, a plain integer (e.g. "id":42) is taken as its decimal text. */
static int get_text(jsonl *j, int k, bool required, bool allow_int, const char **s, size_t *len)
{
    const jval *v = fv(j, k);
    const char *name = g_field_names[k];
    const char *desc = allow_int ? "a string or an integer" : "a string";
    if (v->type == 0 || (v->type == SP_JSON_NULL && !required)) {
        if (required)
            line_fail(j, SP_ERR_PARSE, "missing \"%s\" (expected %s)", name, desc);
        return required ? BAD : ABSENT;
    }
    bool plain_int = allow_int && v->type == SP_JSON_NUMBER && v->is_int && !memchr(v->s, '.', v->len) &&
                     !memchr(v->s, 'e', v->len) && !memchr(v->s, 'E', v->len);
    if (v->type != SP_JSON_STRING && !plain_int) {
        line_fail(j, SP_ERR_PARSE, "\"%s\" must be %s, not %s", name, desc, type_name(v));
        return BAD;
    }
    if (v->len == 0) {
        line_fail(j, SP_ERR_PARSE, "\"%s\" is empty (expected %s)", name, desc);
        return BAD;
    }
    if (v->len >= SP_EV_MAX_STRING) {
        line_fail(j, SP_ERR_PARSE, "\"%s\" is %zu bytes long (at most %u)", name, v->len, SP_EV_MAX_STRING - 1);
        return BAD;
    }
    if (memchr(v->s, '\0', v->len)) {
        line_fail(j, SP_ERR_PARSE, "\"%s\" contains a NUL character (\\u0000)", name);
        return BAD;
    }
    *s = v->s;
    *len = v->len;
    return GOT;
}

static sp_status check_order(jsonl *j, int k_start, uint64_t start, int k_end, uint64_t end)
{
    if (end < start)
        return line_fail(j, SP_ERR_PARSE, "\"%s\" (%llu) is before \"%s\" (%llu)", g_field_names[k_end],
                         (unsigned long long)end, g_field_names[k_start], (unsigned long long)start);
    return SP_OK;
}

#define NEED(expr)          \
    do {                    \
        if ((expr) == BAD)  \
            return SP_ERR_PARSE; \
    } while (0)

#define MODEL(expr)                     \
    do {                                \
        sp_status st_ = (expr);         \
        if (st_)                        \
            return model_fail(j, st_);  \
    } while (0)

/* A W3C id member (trace_id: 16 bytes, span ids: 8) as hex text of either case, not all zero. */
static int get_hex_id(jsonl *j, int k, uint8_t *out, size_t n)
{
    const jval *v = fv(j, k);
    if (v->type == 0 || v->type == SP_JSON_NULL)
        return ABSENT;
    if (v->type != SP_JSON_STRING || !sp_hex_read(v->s, v->len, out, n)) {
        line_fail(j, SP_ERR_PARSE, "\"%s\" must be %zu hex digits", g_field_names[k], 2 * n);
        return BAD;
    }
    if (sp_bytes_zero(out, n)) {
        line_fail(j, SP_ERR_PARSE, "\"%s\" is all zeros (not a valid W3C id)", g_field_names[k]);
        return BAD;
    }
    return GOT;
}

/* A request's or a client's trace context: trace_id and span_id, both or neither; a request may add
 * parent_span_id and trace_flags (default 1, sampled). *has is false when the line has none. */
static int get_trace(jsonl *j, bool request, sp_trace_context *c, bool *has)
{
    memset(c, 0, sizeof *c);
    *has = false;
    int t = get_hex_id(j, F_TRACE_ID, c->trace_id, 16);
    int s = get_hex_id(j, F_SPAN_ID, c->span_id, 8);
    if (t == BAD || s == BAD)
        return BAD;
    if (t != s) {
        line_fail(j, SP_ERR_PARSE, "\"%s\" without \"%s\" (a trace context needs both)",
                  g_field_names[t == GOT ? F_TRACE_ID : F_SPAN_ID], g_field_names[t == GOT ? F_SPAN_ID : F_TRACE_ID]);
        return BAD;
    }
    int64_t flags = SP_TRACE_FLAG_SAMPLED;
    if (request) {
        if (get_hex_id(j, F_PARENT_SPAN_ID, c->parent_id, 8) == BAD)
            return BAD;
        if (get_int(j, F_TRACE_FLAGS, false, 0, 255, "W3C trace flags, 0..255", &flags) == BAD)
            return BAD;
    }
    if (t == ABSENT) {
        if (request && !sp_bytes_zero(c->parent_id, 8)) {
            line_fail(j, SP_ERR_PARSE, "\"parent_span_id\" without \"trace_id\" and \"span_id\"");
            return BAD;
        }
        return ABSENT;
    }
    c->flags = (uint8_t)flags;
    *has = true;
    return GOT;
}

/* ---------- records ---------- */

static sp_status rec_meta(jsonl *j)
{
    const char *s = NULL;
    size_t n = 0;
    int r = get_text(j, F_FORMAT, false, false, &s, &n);
    NEED(r);
    if (r == GOT && !(n == 17 && memcmp(s, "servprof.events/1", 17) == 0)) {
        if (n > 16 && memcmp(s, "servprof.events/", 16) == 0) {
            line_fail(j, SP_ERR_FORMAT, "unsupported format version \"%.*s\" (this build reads servprof.events/1)",
                      (int)(n > 64 ? 64 : n), s);
            j->bad_line = false;   /* a whole-file problem, never skipped */
            return SP_ERR_FORMAT;
        }
        return line_fail(j, SP_ERR_PARSE, "\"format\" is \"%.*s\" (expected \"servprof.events/1\")",
                         (int)(n > 64 ? 64 : n), s);
    }
    NEED(get_text(j, F_CLOCK, false, false, &s, &n));
    const jval *p = fv(j, F_PRICE);
    double price = -1;
    if (p->type && p->type != SP_JSON_NULL) {
        if (p->type != SP_JSON_NUMBER)
            return line_fail(j, SP_ERR_PARSE, "\"price_per_hour\" must be a number, not %s", type_name(p));
        if (sp_json_number_to_double(p->s, p->len, &price) != SP_OK || !isfinite(price) || price < 0 ||
            price > SP_MAX_PRICE_PER_HOUR)
            return line_fail(j, SP_ERR_PARSE, "\"price_per_hour\" must be a number in [0, %g], not %.*s",
                             SP_MAX_PRICE_PER_HOUR, (int)(p->len > 40 ? 40 : p->len), p->s);
    }
    const jval *d = fv(j, F_DROPS);
    if (d->type && d->type != SP_JSON_NULL) {
        if (d->type != SP_JSON_OBJ_BEGIN)
            return line_fail(j, SP_ERR_PARSE, "\"drops\" must be an object of counts by cause, not %s", type_name(d));
        if (j->drops_err)
            return line_fail(j, SP_ERR_PARSE, "%s", j->drops_err);
    }
    const jval *pr = fv(j, F_PROPERTIES);
    if (pr->type && pr->type != SP_JSON_NULL) {
        if (pr->type != SP_JSON_OBJ_BEGIN)
            return line_fail(j, SP_ERR_PARSE, "\"properties\" must be an object of keys and values, not %s",
                             type_name(pr));
        if (j->props_err)
            return line_fail(j, SP_ERR_PARSE, "%s", j->props_err);
    }
    /* the stages that are an engine's model time whole, names separated by commas: "inference" marks
     * the file as the OTLP reader marks TGI's (sp_ev_file.model_inference); another name is no stage this
     * version reads so and is passed over (a later version may name more) */
    const char *ms = NULL;
    size_t msn = 0;
    int have_model = get_text(j, F_MODEL_STAGES, false, false, &ms, &msn);
    NEED(have_model);
    bool model_inference = have_model == GOT && sp_import_model_stages_inference(ms, msn);
    for (size_t i = 0; pr->type == SP_JSON_OBJ_BEGIN && i < j->nprops; i++)
        MODEL(sp_ev_set_prop(j->ev, j->file, j->prop_key[i].s, j->prop_key[i].len, j->prop_val[i].s,
                             j->prop_val[i].len));
    int64_t unix_offset = 0;
    int have_offset = get_int(j, F_UNIX_OFFSET, false, INT64_MIN, INT64_MAX, "an integer number of ns", &unix_offset);
    NEED(have_offset);
    sp_ev_file *f = &j->ev->files[j->file];
    if (model_inference && !f->model_inference)
        f->model_inference = 1; /* the count is of requests; the key says only that the file has some */
    if (have_offset == GOT) {
        f->unix_offset_ns = unix_offset;
        f->has_unix_offset = true;
    }
    if (price >= 0)
        f->price_per_hour = price;
    if (d->type == SP_JSON_OBJ_BEGIN)
        for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
            f->drops[c] += j->drops[c];
    return SP_OK;
}

/* "outcome" of a request record: absent (or null) is ok. */
static int get_outcome(jsonl *j, sp_outcome *out)
{
    const char *s = NULL;
    size_t n = 0;
    *out = SP_OUTCOME_OK;
    const jval *v = fv(j, F_OUTCOME);
    if (v->type == SP_JSON_STRING && v->len == 0) {
        line_fail(j, SP_ERR_PARSE, "\"outcome\" is empty (expected ok, rejected, error, cancelled or unfinished)");
        return BAD;
    }
    int r = get_text(j, F_OUTCOME, false, false, &s, &n);
    if (r != GOT)
        return r;
    for (int o = 0; o < SP_OUTCOME_COUNT; o++) {
        const char *name = sp_outcome_str((sp_outcome)o);
        if (strlen(name) == n && memcmp(name, s, n) == 0) {
            *out = (sp_outcome)o;
            return GOT;
        }
    }
    line_fail(j, SP_ERR_PARSE, "\"outcome\" is \"%.*s\" (expected ok, rejected, error, cancelled or unfinished)",
              (int)(n > 64 ? 64 : n), s);
    return BAD;
}

static sp_status rec_request(jsonl *j)
{
    const char *id = NULL;
    size_t idlen = 0;
    uint64_t arrival = 0, done = SP_TIME_NONE;
    int64_t tokens = -1, status = 0;
    sp_outcome outcome;
    NEED(get_text(j, F_ID, true, true, &id, &idlen));
    NEED(get_time(j, F_ARRIVAL, &arrival));
    NEED(get_outcome(j, &outcome));
    /* an unfinished request has no done time (the trace ended first); one given is not used */
    if (outcome == SP_OUTCOME_UNFINISHED) {
        if (fv(j, F_DONE)->type && fv(j, F_DONE)->type != SP_JSON_NULL)
            NEED(get_time(j, F_DONE, &done));
    } else {
        NEED(get_time(j, F_DONE, &done));
    }
    NEED(get_int(j, F_INPUT_TOKENS, false, 0, INT64_MAX, "a non-negative integer", &tokens));
    NEED(get_int(j, F_STATUS, false, 0, 999, "an HTTP status (0 for none)", &status));
    int64_t out_tokens = -1;
    NEED(get_int(j, F_OUTPUT_TOKENS, false, 0, INT64_MAX, "a non-negative token count", &out_tokens));
    sp_trace_context tc;
    bool has_trace;
    NEED(get_trace(j, true, &tc, &has_trace));
    if (done != SP_TIME_NONE) {
        sp_status st = check_order(j, F_ARRIVAL, arrival, F_DONE, done);
        if (st)
            return st;
    }
    if (outcome == SP_OUTCOME_UNFINISHED)
        done = SP_TIME_NONE;
    uint32_t ri;
    MODEL(sp_ev_request_ref_cached(j->ev, &j->reqs, j->file, id, idlen, &ri));
    sp_ev_request *r = &j->ev->requests[ri];
    if (r->has_record) {
        if (r->arrival_ns != arrival || r->done_ns != done || sp_ev_req_input_tokens(j->ev, r) != tokens ||
            r->outcome != (uint8_t)outcome || r->status != (int32_t)status ||
            sp_ev_cold(j->ev, r)->output_tokens != out_tokens)
            return line_fail(j, SP_ERR_PARSE,
                             "duplicate request record for id \"%.*s\" with different times, tokens or outcome "
                             "than an earlier line (expected one record per request)",
                             (int)(idlen > 64 ? 64 : idlen), id);
        return SP_OK;   /* an exact repeat is harmless */
    }
    r->arrival_ns = arrival;
    r->done_ns = done;
    MODEL(sp_ev_req_set_input_tokens(j->ev, ri, tokens));
    r->outcome = (uint8_t)outcome;
    r->status = (int32_t)status;
    r->has_record = true;
    if (out_tokens >= 0) {   /* -1 (unknown) is what a request without a side record reads */
        sp_ev_request_cold *rc;
        MODEL(sp_ev_cold_get(j->ev, ri, &rc));
        rc->output_tokens = out_tokens;
    }
    if (has_trace)
        MODEL(sp_ev_request_set_trace(j->ev, ri, &tc));
    return SP_OK;
}

static sp_status rec_stage(jsonl *j)
{
    const char *id = NULL, *stage = NULL;
    size_t idlen = 0, stlen = 0;
    uint64_t start = 0, end = 0;
    NEED(get_text(j, F_ID, true, true, &id, &idlen));
    NEED(get_text(j, F_STAGE, true, false, &stage, &stlen));
    NEED(get_time(j, F_START, &start));
    NEED(get_time(j, F_END, &end));
    sp_status st = check_order(j, F_START, start, F_END, end);
    if (st)
        return st;
    uint32_t ri;
    sp_str sid;
    MODEL(sp_str_intern_cached(&j->ev->strings, &j->names, stage, stlen, &sid));
    MODEL(sp_ev_request_ref_cached(j->ev, &j->reqs, j->file, id, idlen, &ri));
    MODEL(sp_ev_add_span(j->ev, ri, sid, start, end));
    return SP_OK;
}

/* A step's own keys (docs/generation.md): "phases" and "tokens", one per request, and the KV cache.
 * Checked before anything is added; `eff` is the effective tokens given (< 0: none), set to the sum. */
static sp_status check_step(jsonl *j, int64_t *eff, int64_t pad, int64_t *kv_used, int64_t *kv_cap)
{
    static const struct { int k; const char *what; } arrays[] = {
        {F_PHASES, "each request's phase (\"decode\", \"prefill\", \"prefill_chunk\")"},
        {F_TOKENS, "each request's token count in the step"}};
    for (int a = 0; a < 2; a++) {
        const jval *v = fv(j, arrays[a].k);
        const char *name = g_field_names[arrays[a].k];
        if (v->type == 0)
            return line_fail(j, SP_ERR_PARSE, "missing \"%s\" (expected an array of %s)", name, arrays[a].what);
        if (v->type != SP_JSON_ARR_BEGIN)
            return line_fail(j, SP_ERR_PARSE, "\"%s\" must be an array of %s, not %s", name, arrays[a].what,
                             type_name(v));
        const char *why = a == 0 ? j->phases_err : j->toks_err;
        if (why)
            return line_fail(j, SP_ERR_PARSE, "\"%s\" %s", name, why);
        size_t n = a == 0 ? j->nphases : j->ntoks;
        if (n != j->nids)
            return line_fail(j, SP_ERR_PARSE, "\"%s\" has %zu elements but \"requests\" has %zu (expected one per "
                             "request)", name, n, j->nids);
    }
    int64_t sum = 0;
    for (size_t i = 0; i < j->ntoks; i++)
        sum += j->toks[i];   /* at most 2^19 elements of at most 2^32: no overflow */
    if (*eff >= 0 && *eff != sum)
        return line_fail(j, SP_ERR_PARSE, "\"effective_tokens\" (%lld) is not the sum of \"tokens\" (%lld)",
                         (long long)*eff, (long long)sum);
    *eff = sum;
    if (pad >= 0 && sum > pad)
        return line_fail(j, SP_ERR_PARSE, "the step's tokens (%lld) are more than \"padded_tokens\" (%lld)",
                         (long long)sum, (long long)pad);
    NEED(get_int(j, F_KV_USED, false, 0, INT64_MAX, "a non-negative token count", kv_used));
    NEED(get_int(j, F_KV_CAPACITY, false, 0, INT64_MAX, "a token count (0: unknown)", kv_cap));
    if (*kv_cap > 0 && *kv_used > *kv_cap)
        return line_fail(j, SP_ERR_PARSE, "\"kv_used_tokens\" (%lld) is more than \"kv_capacity_tokens\" (%lld)",
                         (long long)*kv_used, (long long)*kv_cap);
    return SP_OK;
}

/* batch and step records (a step is a batch whose members carry phases and tokens) */
static sp_status rec_batch(jsonl *j, bool step)
{
    int64_t id, eff = -1, pad = -1, device = 0, kv_used = -1, kv_cap = 0;
    uint64_t start = 0, end = 0;
    NEED(get_int(j, F_BATCH, true, INT64_MIN, INT64_MAX, step ? "an integer step (batch) id" : "an integer batch id",
                 &id));
    const jval *rq = fv(j, F_REQUESTS);
    if (rq->type == 0)
        return line_fail(j, SP_ERR_PARSE, "missing \"requests\" (expected an array of request ids)");
    if (rq->type != SP_JSON_ARR_BEGIN)
        return line_fail(j, SP_ERR_PARSE, "\"requests\" must be an array of request ids, not %s", type_name(rq));
    if (j->ids_err)
        return line_fail(j, SP_ERR_PARSE, "%s", j->ids_err);
    NEED(get_time(j, F_START, &start));
    NEED(get_time(j, F_END, &end));
    NEED(get_int(j, F_EFFECTIVE, false, 0, INT64_MAX, "a non-negative integer", &eff));
    NEED(get_int(j, F_PADDED, false, 0, INT64_MAX, "a non-negative integer", &pad));
    NEED(get_int(j, F_DEVICE, false, 0, UINT32_MAX - 1, "a device number", &device));
    sp_status st = check_order(j, F_START, start, F_END, end);
    if (st)
        return st;
    if (eff >= 0 && pad >= 0 && eff > pad)
        return line_fail(j, SP_ERR_PARSE, "\"effective_tokens\" (%lld) is more than \"padded_tokens\" (%lld)",
                         (long long)eff, (long long)pad);
    for (size_t i = 0; i < j->nids; i++) {
        const id_text *t = &j->ids[i];
        if (t->len == 0 || t->len >= SP_EV_MAX_STRING || memchr(t->s, '\0', t->len))
            return line_fail(j, SP_ERR_PARSE, "\"requests\" element %zu is not a usable id (empty, over %u bytes "
                             "or holding a NUL)", i + 1, SP_EV_MAX_STRING - 1);
    }
    if (step && (st = check_step(j, &eff, pad, &kv_used, &kv_cap)))
        return st;
    uint32_t bi;
    MODEL(sp_ev_batch_ref(j->ev, j->file, id, &bi));
    sp_ev_batch *b = &j->ev->batches[bi];
    if (b->has_record) {
        if (b->start_ns != start || b->end_ns != end || b->effective_tokens != eff || b->padded_tokens != pad ||
            b->nmembers != j->nids || (b->step != SP_EV_NONE) != step)
            return line_fail(j, SP_ERR_PARSE, "duplicate %s record for batch %lld that differs from an earlier line "
                             "(expected one batch or step record per batch)", step ? "step" : "batch", (long long)id);
        return SP_OK;
    }
    MODEL(SP_GROW(j->members, j->cap_members, j->nids ? j->nids : 1, JSONL_MAX_IDS));
    for (size_t i = 0; i < j->nids; i++)
        MODEL(sp_ev_request_ref_cached(j->ev, &j->reqs, j->file, j->ids[i].s, j->ids[i].len, &j->members[i]));
    MODEL(sp_ev_batch_set_members(j->ev, bi, j->members, j->nids));
    b = &j->ev->batches[bi];
    b->start_ns = start;
    b->end_ns = end;
    b->effective_tokens = eff;
    b->padded_tokens = pad;
    b->device = (uint32_t)device;
    b->has_record = true;
    if (step)
        MODEL(sp_ev_set_step(j->ev, bi, j->phases, j->toks, j->nids, kv_used, kv_cap));
    return SP_OK;
}

/* {"ev":"token","id":"r1","index":0,"time_ns":...}: one output token leaving the server */
static sp_status rec_token(jsonl *j)
{
    const char *id = NULL;
    size_t idlen = 0;
    int64_t index = 0;
    uint64_t t = 0;
    NEED(get_text(j, F_ID, true, true, &id, &idlen));
    NEED(get_int(j, F_INDEX, true, 0, INT64_MAX, "the token's 0-based index in output order", &index));
    NEED(get_time(j, F_TIME, &t));
    uint32_t ri;
    MODEL(sp_ev_request_ref_cached(j->ev, &j->reqs, j->file, id, idlen, &ri));
    MODEL(sp_ev_add_token(j->ev, ri, (uint64_t)index, t));
    return SP_OK;
}

/* kernel and copy records */
static sp_status rec_activity(jsonl *j, bool kernel)
{
    sp_ev_activity a;
    memset(&a, 0, sizeof a);
    a.batch = SP_EV_NONE;
    a.file = (uint16_t)j->file; /* < SP_EV_MAX_FILES (sp_ev_add_file) */
    const char *name = NULL;
    size_t namelen = 0;
    int64_t batch = 0, stream = 0, device = 0, corr = 0, bytes = 0;
    int has_batch;
    if (kernel) {
        a.kind = SP_ACT_KERNEL;
        NEED(get_text(j, F_NAME, true, false, &name, &namelen));
        NEED(get_int(j, F_STREAM, true, INT64_MIN, INT64_MAX, "an integer stream id", &stream));
    } else {
        const char *kind;
        size_t kl;
        NEED(get_text(j, F_KIND, true, false, &kind, &kl));
        static const struct { const char *s; uint8_t k; } kinds[] = {
            {"h2d", SP_ACT_H2D}, {"d2h", SP_ACT_D2H}, {"d2d", SP_ACT_D2D}, {"memset", SP_ACT_MEMSET},
            {"other", SP_ACT_COPY_OTHER}};
        int found = -1;
        for (int i = 0; i < 5; i++)
            if (strlen(kinds[i].s) == kl && memcmp(kinds[i].s, kind, kl) == 0)
                found = i;
        if (found < 0)
            return line_fail(j, SP_ERR_PARSE, "\"kind\" is \"%.*s\" (expected h2d, d2h, d2d, memset or other)",
                             (int)(kl > 40 ? 40 : kl), kind);
        a.kind = kinds[found].k;
        NEED(get_int(j, F_BYTES, true, 0, INT64_MAX, "a non-negative byte count", &bytes));
        NEED(get_int(j, F_STREAM, false, INT64_MIN, INT64_MAX, "an integer stream id", &stream));
    }
    NEED(has_batch = get_int(j, F_BATCH, false, INT64_MIN, INT64_MAX, "an integer batch id", &batch));
    NEED(get_int(j, F_DEVICE, false, 0, UINT32_MAX - 1, "a device number", &device));
    NEED(get_int(j, F_CORRELATION, false, 0, INT64_MAX, "a non-negative correlation id", &corr));
    NEED(get_time(j, F_START, &a.start_ns));
    NEED(get_time(j, F_END, &a.end_ns));
    sp_status st = check_order(j, F_START, a.start_ns, F_END, a.end_ns);
    if (st)
        return st;
    MODEL(sp_ev_stream_id(j->ev, stream, &a.stream_ix));
    a.device = (uint32_t)device;
    a.correlation = (uint64_t)corr;
    if (kernel)
        MODEL(sp_str_intern_cached(&j->ev->strings, &j->names, name, namelen, &a.nb.name));
    else
        a.nb.bytes = (uint64_t)bytes;
    if (has_batch == GOT)
        MODEL(sp_ev_batch_ref(j->ev, j->file, batch, &a.batch));
    MODEL(sp_ev_add_activity(j->ev, &a));
    return SP_OK;
}

static sp_status rec_launch(jsonl *j)
{
    sp_ev_launch l;
    memset(&l, 0, sizeof l);
    l.file = j->file;
    const char *name = NULL;
    size_t namelen = 0;
    int64_t corr = 0;
    NEED(get_text(j, F_NAME, true, false, &name, &namelen));
    NEED(get_int(j, F_CORRELATION, true, 0, INT64_MAX, "a non-negative correlation id", &corr));
    NEED(get_time(j, F_START, &l.start_ns));
    NEED(get_time(j, F_END, &l.end_ns));
    sp_status st = check_order(j, F_START, l.start_ns, F_END, l.end_ns);
    if (st)
        return st;
    l.correlation = (uint64_t)corr;
    MODEL(sp_str_intern_cached(&j->ev->strings, &j->names, name, namelen, &l.name));
    MODEL(sp_ev_add_launch(j->ev, &l));
    return SP_OK;
}

static sp_status rec_client(jsonl *j)
{
    sp_ev_client c;
    memset(&c, 0, sizeof c);
    c.file = j->file;
    const char *id = NULL;
    size_t idlen = 0;
    int64_t status = 0;
    NEED(get_text(j, F_ID, true, true, &id, &idlen));
    NEED(get_time(j, F_INTENDED, &c.intended_ns));
    NEED(get_time(j, F_SEND, &c.send_ns));
    NEED(get_time(j, F_DONE, &c.done_ns));
    NEED(get_int(j, F_STATUS, true, INT32_MIN, INT32_MAX, "an HTTP status, or < 0 for a transport error", &status));
    sp_trace_context tc;
    NEED(get_trace(j, false, &tc, &c.has_trace));
    memcpy(c.trace_id, tc.trace_id, 16);
    memcpy(c.span_id, tc.span_id, 8);
    sp_status st = check_order(j, F_SEND, c.send_ns, F_DONE, c.done_ns);
    if (st)
        return st;
    /* streamed generation (docs/generation.md): first token, every token's arrival, their count */
    c.first_token_ns = SP_TIME_NONE;
    c.output_tokens = -1;
    const jval *ft = fv(j, F_FIRST_TOKEN);
    if (ft->type && ft->type != SP_JSON_NULL) {
        NEED(get_time(j, F_FIRST_TOKEN, &c.first_token_ns));
        if (c.first_token_ns < c.send_ns || c.first_token_ns > c.done_ns)
            return line_fail(j, SP_ERR_PARSE, "\"first_token_ns\" (%llu) is outside [\"send_ns\", \"done_ns\"]",
                             (unsigned long long)c.first_token_ns);
    }
    NEED(get_int(j, F_OUTPUT_TOKENS, false, 0, INT64_MAX, "a non-negative token count", &c.output_tokens));
    const jval *tn = fv(j, F_TOKEN_NS);
    if (tn->type && tn->type != SP_JSON_NULL) {
        if (tn->type != SP_JSON_ARR_BEGIN)
            return line_fail(j, SP_ERR_PARSE, "\"token_ns\" must be an array of times in ns, not %s", type_name(tn));
        if (j->tns_err)
            return line_fail(j, SP_ERR_PARSE, "\"token_ns\" %s", j->tns_err);
        for (size_t i = 0; i < j->ntns; i++)
            if (j->tns[i] < c.send_ns || j->tns[i] > c.done_ns || (i && j->tns[i] < j->tns[i - 1]))
                return line_fail(j, SP_ERR_PARSE, "\"token_ns\" element %zu (%llu) is %s", i + 1,
                                 (unsigned long long)j->tns[i],
                                 i && j->tns[i] < j->tns[i - 1] ? "before the one before it (expected arrival order)"
                                                                : "outside [\"send_ns\", \"done_ns\"]");
        if (c.output_tokens >= 0 && (uint64_t)c.output_tokens != j->ntns)
            return line_fail(j, SP_ERR_PARSE, "\"output_tokens\" (%lld) differs from the %zu times in \"token_ns\"",
                             (long long)c.output_tokens, j->ntns);
        if (c.first_token_ns != SP_TIME_NONE && j->ntns && c.first_token_ns != j->tns[0])
            return line_fail(j, SP_ERR_PARSE, "\"first_token_ns\" differs from the first of \"token_ns\"");
        c.n_ctok = (uint32_t)j->ntns;
        if (c.output_tokens < 0)
            c.output_tokens = (int64_t)j->ntns;
        if (c.first_token_ns == SP_TIME_NONE && j->ntns)
            c.first_token_ns = j->tns[0];
    }
    c.status = (int32_t)status;
    if (c.n_ctok)
        MODEL(sp_ev_add_client_tokens(j->ev, j->tns, j->ntns, &c.first_ctok));
    MODEL(sp_str_intern(&j->ev->strings, id, idlen, &c.id));
    MODEL(sp_ev_add_client(j->ev, &c));
    return SP_OK;
}

static sp_status handle_line(jsonl *j, char *s, size_t n, uint64_t offset)
{
    j->bad_line = false;
    /* a blank line (spaces, tabs, a CR) is fine */
    size_t k = 0;
    while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r'))
        k++;
    if (k == n)
        return SP_OK;
    j->records++;
    if (!fast_object(j, s + k, s + n)) {
        uint32_t line32 = j->line > UINT32_MAX ? UINT32_MAX : (uint32_t)j->line;
        if (j->lx_ready) {
            sp_json_reuse_inplace(&j->lx, s, n, line32, offset);
        } else {
            sp_json_init_inplace(&j->lx, s, n, &j->lim, line32, offset);
            j->lx_ready = true;
        }
        sp_status st = read_object(j);
        if (st)
            return st;
    }
    const jval *e = fv(j, F_EV);
    if (e->type == 0)
        return line_fail(j, SP_ERR_PARSE, "missing \"ev\" (expected the record kind: meta, request, stage, batch, "
                         "step, token, kernel, copy, launch or client)");
    if (e->type != SP_JSON_STRING)
        return line_fail(j, SP_ERR_PARSE, "\"ev\" must be a string, not %s", type_name(e));
#define IS(lit) (e->len == sizeof(lit) - 1 && memcmp(e->s, lit, sizeof(lit) - 1) == 0)
    switch (e->len ? e->s[0] : 0) {
    case 'k': if (IS("kernel")) return rec_activity(j, true); break;
    case 's':
        if (IS("stage")) return rec_stage(j);
        if (IS("step")) return rec_batch(j, true);
        break;
    case 't': if (IS("token")) return rec_token(j); break;
    case 'r': if (IS("request")) return rec_request(j); break;
    case 'c':
        if (IS("copy")) return rec_activity(j, false);
        if (IS("client")) return rec_client(j);
        break;
    case 'b': if (IS("batch")) return rec_batch(j, false); break;
    case 'l': if (IS("launch")) return rec_launch(j); break;
    case 'm': if (IS("meta")) return rec_meta(j); break;
    default: break;
    }
#undef IS
    /* A kind from a later version of the format: skipped and counted (forward compatibility). */
    j->ev->files[j->file].ignored++;
    return SP_OK;
}

/* Lenient: counts the malformed line and logs the first few messages. */
static sp_status skip_line(jsonl *j)
{
    uint64_t n = ++j->ev->files[j->file].skipped;
    if (n <= 10)
        sp_log(SP_LOG_WARN, "skipped malformed line: %s", j->ctx->err ? j->ctx->err : "");
    return SP_OK;
}

static sp_status too_long(jsonl *j, bool lenient)
{
    line_fail(j, SP_ERR_PARSE, "line longer than %u bytes (expected one JSON object per line)", JSONL_LINE_MAX);
    if (lenient)
        return skip_line(j);
    j->ctx->skippable = true;
    return SP_ERR_PARSE;
}

sp_status sp_import_jsonl(sp_import_ctx *ctx)
{
    jsonl j;
    memset(&j, 0, sizeof j);
    j.ctx = ctx;
    j.ev = ctx->ev;
    j.file = ctx->file;
    sp_json_limits_init(&j.lim);
    j.lim.max_depth = 64;            /* records are flat; 64 keeps the lexer allocation-free */
    j.lim.max_string = JSONL_LINE_MAX;
    j.lim.no_double = true;          /* only price_per_hour is fractional; converted on demand */
    const bool lenient = ctx->opt && ctx->opt->lenient;
    size_t cap = JSONL_LINE_MAX + JSONL_READ;
    char *buf = malloc(cap);
    if (!buf)
        return SP_ERR_NOMEM;
    size_t len = 0;
    uint64_t base = 0;               /* input offset of buf[0] */
    bool eof = false, discarding = false;
    sp_status st = SP_OK;
    j.line = 1;
    while (st == SP_OK) {
        if (!eof) {
            ssize_t r = sp_input_read(ctx->in, buf + len, cap - len);
            if (r < 0) {
                sp_errf(ctx->err, ctx->errlen, "%s: byte %llu: %s", ctx->name,
                        (unsigned long long)(base + len), sp_input_error(ctx->in));
                st = SP_ERR_IO;
                break;
            }
            if (r == 0)
                eof = true;
            len += (size_t)r;
        }
        char *s = buf, *e = buf + len;
        char *nl;
        while (st == SP_OK && (nl = memchr(s, '\n', (size_t)(e - s))) != NULL) {
            if (discarding) {
                discarding = false;
            } else if ((size_t)(nl - s) > JSONL_LINE_MAX) {
                st = too_long(&j, lenient);
            } else {
                st = handle_line(&j, s, (size_t)(nl - s), base + (uint64_t)(s - buf));
                if (st && j.bad_line && lenient)
                    st = skip_line(&j);
                else if (st && j.bad_line)
                    ctx->skippable = true;
            }
            j.line++;
            s = nl + 1;
        }
        if (st)
            break;
        size_t rest = (size_t)(e - s);
        if (rest > JSONL_LINE_MAX && !discarding) {
            st = too_long(&j, lenient);
            if (st)
                break;
            discarding = true;
        }
        if (discarding) {
            s = e;   /* drop what we have of the over-long line */
            rest = 0;
        }
        if (eof) {
            if (rest) {   /* a last line without a newline is fine */
                st = handle_line(&j, s, rest, base + (uint64_t)(s - buf));
                if (st && j.bad_line && lenient)
                    st = skip_line(&j);
                else if (st && j.bad_line)
                    ctx->skippable = true;
            }
            break;
        }
        memmove(buf, s, rest);
        base += (uint64_t)(s - buf);
        len = rest;
    }
    if (st == SP_OK && j.records == 0) {
        sp_errf(ctx->err, ctx->errlen, "%s: no records: the file is empty (expected servprof.events/1 JSON "
                "objects, one per line)", ctx->name);
        st = SP_ERR_PARSE;
    }
    if (st == SP_OK && ctx->err && ctx->errlen)
        ctx->err[0] = '\0';   /* lenient skips leave their last message behind; not an error */
    sp_json_fini(&j.lx);
    free(j.ids);
    free(j.members);
    free(j.phases);
    free(j.toks);
    free(j.tns);
    free(buf);
    return st;
}
