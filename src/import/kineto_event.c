/* The Kineto importer's event member rules (docs/kineto.md, "What is read"): which members of an event
 * and of its args servprof reads and how each value is taken (ph, cat, name, pid/tid, ts/dur as exact ns
 * and under --hta-compat as HTA's doubles, the args ids), read_event (an event through the JSON lexer,
 * with a message for every value it rejects), and the importer's messages. The fast path
 * (kineto_fast.c) reads ordinary events through the same rules; this file calls no other kineto file. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/kineto_int.h"

/* ---------- messages ---------- */

sp_status sp_kt_fail_at(kt *k, sp_status st, const sp_json_token *t, const char *fmt, ...)
{
    char where[80] = "";
    if (t)
        snprintf(where, sizeof where, ": line %u, column %u (byte %llu)", t->line, t->column,
                 (unsigned long long)t->offset);
    va_list ap;
    va_start(ap, fmt);
    sp_import_vfail(k->ctx, st, where, fmt, ap);
    va_end(ap);
    return st;
}

/* An event's "args" that is neither an object nor null: the message names the key's position. */
static sp_status args_not_object(kt *k, uint64_t offset, uint32_t line, uint32_t column)
{
    sp_json_token at;
    memset(&at, 0, sizeof at);
    at.offset = offset;
    at.line = line;
    at.column = column;
    return sp_kt_fail_at(k, SP_ERR_PARSE, &at, "\"args\" must be an object");
}

sp_status sp_kt_lex_fail(kt *k)
{
    return sp_json_fail(&k->lx, k->ctx);
}

sp_status sp_kt_model_fail(kt *k, sp_status st)
{
    sp_errf(k->ctx->err, k->ctx->errlen, "%s: %s", k->ctx->name,
            st == SP_ERR_LIMIT ? "too many events (over the event model's limit)" : sp_status_str(st));
    return st;
}

/* ---------- one event ---------- */

static uint8_t cat_of(const char *s, size_t n)
{
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(s, lit, n) == 0)
    switch (s[0]) {
    case 'k': if (IS("kernel")) return CAT_KERNEL; break;
    case 'g':
        if (IS("gpu_memcpy")) return CAT_MEMCPY;
        if (IS("gpu_memset")) return CAT_MEMSET;
        if (IS("gpu_user_annotation")) return CAT_GPU_ANNOT;
        break;
    case 'c':
        if (IS("cuda_runtime") || IS("cuda_driver")) return CAT_RUNTIME;
        if (IS("cuda_sync")) return CAT_SYNC;
        if (IS("cpu_op")) return CAT_CPU_OP;
        break;
    case 'u': if (IS("user_annotation")) return CAT_ANNOT; break;
    case 'K': if (IS("Kernel")) return CAT_KERNEL; break;   /* older Kineto spelling */
    case 'M': if (IS("Memcpy")) return CAT_MEMCPY; if (IS("Memset")) return CAT_MEMSET; break;
    case 'R': if (IS("Runtime")) return CAT_RUNTIME; break;
    case 'D': if (IS("Driver")) return CAT_RUNTIME; break;
    default: break;
    }
    return CAT_OTHER;
#undef IS
}

/* The common shapes of Kineto's times, "1712195495519698.8" and "12.5" (at most 3 decimals, no sign
 * or exponent, at most 9e15 us), to ns without the general decimal routine; false: use that one. */
static bool us_text_fast(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    size_t i = 0;
    while (i < n && i < 17 && s[i] >= '0' && s[i] <= '9')   /* 17 digits at most: no overflow */
        v = v * 10 + (s[i++] - '0');
    /* 16 digits: epoch-based us (1.7e15) are common; v * 1000 must fit int64 */
    if (i == 0 || i > 16 || v > 9000000000000000LL)
        return false;
    int frac = 0;
    if (i < n) {
        if (s[i++] != '.')
            return false;
        while (i < n && frac < 3 && s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (s[i++] - '0');
            frac++;
        }
        if (i != n || frac == 0)
            return false;
    }
    while (frac++ < 3)
        v *= 10;
    *out = v;
    return true;
}

/* A number as exact ns (from decimal us text) and, under hta, as the double HTA's pandas holds. */
int sp_kt_time_value(bool hta, const sp_json_token *t, int64_t *ns, double *d)
{
    if (t->type != SP_JSON_NUMBER)
        return KV_TIME_TYPE;
    int64_t fast;
    if (t->is_int && t->i > -9223372036854775LL && t->i < 9223372036854775LL)
        *ns = t->i * 1000;
    else if (us_text_fast(t->str, t->len, &fast))
        *ns = fast;
    else {
        bool exact;
        if (sp_json_us_to_ns(t->str, t->len, ns, &exact))
            return KV_TIME_RANGE;
    }
    return hta ? time_double(t, d) : KV_OK;
}

/* A decimal integer of at most 18 digits (always fits int64), optionally negative. */
static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return false;
    int64_t v = 0;
    bool neg = s[0] == '-';
    if (neg && n == 1)
        return false;
    for (size_t i = neg ? 1 : 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return true;
}

/* An id that Kineto writes as an integer (or, in some versions, as a string holding one). */
static bool id_value(const sp_json_token *t, int64_t *out)
{
    if (t->type == SP_JSON_NUMBER && t->is_int) {
        *out = t->i;
        return true;
    }
    if (t->type == SP_JSON_STRING && t->len > 0) {
        if (t->len > 2 && t->str[0] == '0' && (t->str[1] == 'x' || t->str[1] == 'X') && t->len <= 18) {
            uint64_t v = 0;
            for (size_t i = 2; i < t->len; i++) {
                int d = sp_hex_digit(t->str[i]);
                if (d < 0)
                    return false;
                v = v * 16 + (uint64_t)d;
            }
            *out = (int64_t)v;
            return true;
        }
        return parse_i64(t->str, t->len, out);
    }
    return false;
}

/* Which args member servprof reads: 1 stream, 2 device, 3 correlation, 4 bytes, 5 kind, 0 none. */
int sp_kt_args_key(const char *key, size_t n)
{
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(key, lit, n) == 0)
    if (IS("stream")) return 1;
    if (IS("device")) return 2;
    if (IS("correlation")) return 3;
    if (IS("bytes")) return 4;
    if (IS("kind")) return 5;
    return 0;
#undef IS
}

/* An args member's scalar value (anything the grammar allows; what is not understood is left out). */
void sp_kt_args_value(kt_event *e, int which, const sp_json_token *t)
{
    int64_t v;
    switch (which) {
    case 1: if (id_value(t, &v)) { e->stream = v; e->has_stream = true; } break;
    case 2: if (id_value(t, &v) && v >= 0 && v < UINT32_MAX) { e->device = v; e->has_device = true; } break;
    case 3:
        if (id_value(t, &v) && v >= 0) {
            e->corr = (uint64_t)v;
            e->has_corr = true;
        }
        break;
    case 4: if (t->type == SP_JSON_NUMBER && t->is_int && t->i >= 0) { e->bytes = (uint64_t)t->i; e->has_bytes = true; } break;
    case 5:
        if (t->type == SP_JSON_STRING && t->len < sizeof e->copy_kind) {
            memcpy(e->copy_kind, t->str, t->len);
            e->copy_kind[t->len] = 0;
        }
        break;
    }
}

static sp_status read_args(kt *k)
{
    kt_event *e = &k->e;
    sp_json_token t;
    for (;;) {
        LEX(sp_json_next(&k->lx, &t));
        if (t.type == SP_JSON_OBJ_END)
            return SP_OK;
        int which = sp_kt_args_key(t.str, t.len);
        if (!which) {
            LEX(sp_json_skip(&k->lx));
            continue;
        }
        LEX(sp_json_next(&k->lx, &t));
        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
            LEX(sp_json_skip_rest(&k->lx));
            continue;
        }
        sp_kt_args_value(e, which, &t);
    }
}

/* Which event member servprof reads: 1 ph, 2 cat, 3 name, 4 pid, 5 tid, 6 ts, 7 dur, 8 args, 0 none. */
int sp_kt_event_key(const char *key, size_t n)
{
    if (n == 2 && key[0] == 'p' && key[1] == 'h') return 1;
    if (n == 3 && memcmp(key, "cat", 3) == 0) return 2;
    if (n == 4 && memcmp(key, "name", 4) == 0) return 3;
    if (n == 3 && memcmp(key, "pid", 3) == 0) return 4;
    if (n == 3 && memcmp(key, "tid", 3) == 0) return 5;
    if (n == 2 && key[0] == 't' && key[1] == 's') return 6;
    if (n == 3 && memcmp(key, "dur", 3) == 0) return 7;
    if (n == 4 && memcmp(key, "args", 4) == 0) return 8;
    return 0;
}

/* One member's value (which 1..7; a scalar or the first token of a container) into e: KV_OK, or why it
 * is not taken (read_event reports it). */
int sp_kt_event_value(kt_event *e, bool hta, int which, const sp_json_token *t, uint64_t *pidh, uint64_t *tidh)
{
    switch (which) {
    case 1:
        if (t->type != SP_JSON_STRING || t->len == 0)
            return KV_PH;
        e->ph = t->str[0];
        return KV_OK;
    case 2:
        if (t->type == SP_JSON_STRING && t->len)
            e->cat = cat_of(t->str, t->len);
        else if (t->type != SP_JSON_STRING && t->type != SP_JSON_NULL)
            return KV_CAT;
        if (e->cat == CAT_OTHER)
            e->cat = CAT_KNOWN_IGNORED;
        return KV_OK;
    case 3:
        if (t->type != SP_JSON_STRING)
            return t->type != SP_JSON_NULL && t->type != SP_JSON_NUMBER ? KV_NAME : KV_OK;
        e->name_len = t->len > KT_MAX_NAME ? KT_MAX_NAME : t->len;
        e->name_cut = t->len > KT_MAX_NAME;
        memcpy(e->name, t->str, e->name_len);
        e->name[e->name_len] = 0;
        return KV_OK;
    case 4:
    case 5: {
        int64_t v = 0;
        uint64_t h;
        bool isint = t->type == SP_JSON_NUMBER && t->is_int;
        if (isint) {
            v = t->i;
            h = sp_mix64((uint64_t)v);
        } else if (t->type == SP_JSON_STRING)
            h = sp_hash_bytes(t->str, t->len, 7);
        else
            return KV_ID;
        if (which == 4) {
            e->pid_int = isint;
            e->pid = v;
            *pidh = h;
        } else {
            e->tid_int = isint;
            e->tid = v;
            *tidh = h;
        }
        return KV_OK;
    }
    case 6: {
        int r = sp_kt_time_value(hta, t, &e->ts_ns, &e->ts_d);
        if (r == KV_OK)
            e->has_ts = true;
        return r;
    }
    default: {   /* 7 */
        int r = sp_kt_time_value(hta, t, &e->dur_ns, &e->dur_d);
        if (r != KV_OK)
            return r;
        if (e->dur_ns < 0)
            return KV_DUR_NEG;
        e->has_dur = true;
        return KV_OK;
    }
    }
}

static sp_status value_fail(kt *k, int r, int which, const sp_json_token *t)
{
    const char *what = which == 4 ? "pid" : which == 5 ? "tid" : which == 6 ? "ts" : "dur";
    switch (r) {
    case KV_PH: return sp_kt_fail_at(k, SP_ERR_PARSE, t, "\"ph\" must be a non-empty string (the event's phase)");
    case KV_CAT: return sp_kt_fail_at(k, SP_ERR_PARSE, t, "\"cat\" must be a string");
    case KV_NAME: return sp_kt_fail_at(k, SP_ERR_PARSE, t, "\"name\" must be a string");
    case KV_ID: return sp_kt_fail_at(k, SP_ERR_PARSE, t, "\"%s\" must be an integer or a string", what);
    case KV_TIME_TYPE: return sp_kt_fail_at(k, SP_ERR_PARSE, t, "\"%s\" must be a number of microseconds", what);
    case KV_TIME_RANGE:
        return sp_kt_fail_at(k, SP_ERR_PARSE, t, "\"%s\" is out of range: %.*s", what, (int)(t->len > 40 ? 40 : t->len),
                       t->str);
    case KV_TIME_NAN: return sp_kt_fail_at(k, SP_ERR_PARSE, t, "\"%s\" is not a number", what);
    default: return sp_kt_fail_at(k, SP_ERR_PARSE, t, "\"dur\" is negative");
    }
}

/* The thread: (pid, tid) packed exactly when both are integers in range (the usual case), so threads
 * order by pid, then tid, and unnamed batches are numbered in that order (docs/annotations.md);
 * otherwise a hash of the two, above every packed value. */
void sp_kt_event_thread(kt_event *e, uint64_t pidh, uint64_t tidh)
{
    if (e->pid_int && e->tid_int && e->pid >= 0 && e->pid <= INT32_MAX && e->tid >= 0 && e->tid <= UINT32_MAX)
        e->thread = ((uint64_t)e->pid << 32) | (uint64_t)e->tid;
    else
        e->thread = (1ull << 63) | sp_mix64(pidh ^ (tidh * 0x9e3779b97f4a7c15ULL));
}

/* Reads the members of one event object (its '{' already read) into k->e. */
sp_status sp_kt_read_event(kt *k, const sp_json_token *open)
{
    kt_event *e = &k->e;
    uint64_t pidh, tidh;
    event_reset(e, &pidh, &tidh);
    sp_json_token t;
    for (;;) {
        LEX(sp_json_next(&k->lx, &t));
        if (t.type == SP_JSON_OBJ_END)
            break;
        /* the key's position, for messages about its value (not a whole-token copy: see read_events) */
        const uint64_t key_offset = t.offset;
        const uint32_t key_line = t.line, key_column = t.column;
        int which = sp_kt_event_key(t.str, t.len);
        if (!which) {
            LEX(sp_json_skip(&k->lx));
            continue;
        }
        if (which == 8 && args_unneeded(e)) {
            sp_json_type ty;
            LEX(sp_json_skip_value(&k->lx, &ty));
            if (ty != SP_JSON_OBJ_BEGIN && ty != SP_JSON_NULL)
                return args_not_object(k, key_offset, key_line, key_column);
            continue;
        }
        LEX(sp_json_next(&k->lx, &t));
        if (which == 8) {
            if (t.type == SP_JSON_OBJ_BEGIN) {
                sp_status st = read_args(k);
                if (st)
                    return st;
            } else if (t.type != SP_JSON_NULL) {
                if (t.type == SP_JSON_ARR_BEGIN)
                    LEX(sp_json_skip_rest(&k->lx));
                return args_not_object(k, key_offset, key_line, key_column);
            }
            continue;
        }
        int r = sp_kt_event_value(e, k->hta, which, &t, &pidh, &tidh);
        if (r != KV_OK) {
            if ((r == KV_NAME || r == KV_ID) && (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN))
                LEX(sp_json_skip_rest(&k->lx));
            return value_fail(k, r, which, &t);
        }
    }
    sp_kt_event_thread(e, pidh, tidh);
    (void)open;
    return SP_OK;
}
