/* Importer for PyTorch profiler (Kineto) Chrome-trace JSON (docs/kineto.md): one streaming pass over
 * the document with the JSON pull lexer, keeping only device activity, launch calls and serving
 * annotations (never a tree of the document), then a short pass over what was kept: base time,
 * HTA-compatible shifting and ProfilerStep filtering, the launch/activity correlation join, and the
 * annotation convention that turns record_function ranges into requests, stages and batches. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "import/annotation_int.h"
#include "import/import_int.h"
#include "import/json.h"
#include "import/step_marks_int.h"

#define KT_MAX_NAME (SP_EV_MAX_STRING - 1)  /* longer event names are cut (kernel names can be huge) */

/* Event categories the importer uses; everything else is ignored (and counted). */
enum kt_cat {
    CAT_OTHER = 0, CAT_KERNEL, CAT_MEMCPY, CAT_MEMSET, CAT_SYNC, CAT_RUNTIME, CAT_ANNOT, CAT_GPU_ANNOT,
    CAT_CPU_OP, CAT_KNOWN_IGNORED
};

/* A launch call candidate (cuda_runtime / cuda_driver with a correlation id). */
typedef struct kt_launch {
    int64_t start, end;
    uint64_t corr;
    uint64_t thread;
    sp_str name;
} kt_launch;

typedef struct kt_event {
    char ph;
    uint8_t cat;
    bool has_ts, has_dur, name_cut;
    int64_t ts_ns, dur_ns;           /* exact, relative to baseTimeNanoseconds (if any) */
    double ts_d, dur_d;              /* as doubles, for --hta-compat only */
    bool pid_int, tid_int;
    int64_t pid, tid;
    uint64_t thread;                 /* (pid, tid) packed, or hashed (read_event) */
    bool has_stream, has_device, has_corr, has_bytes;
    int64_t stream, device;
    uint64_t corr, bytes;
    char copy_kind[8];               /* args.kind (ROCm: "HtoD") */
    size_t name_len;
    char name[KT_MAX_NAME + 1];
} kt_event;

typedef struct kt {
    sp_import_ctx *ctx;
    struct sp_events *ev;
    uint32_t file;
    bool hta, lenient;
    sp_json_lexer lx;
    kt_event e;
    /* what the file says about time */
    bool has_base;
    int64_t base_ns;
    bool any_ts;
    int64_t min_us;                  /* hta: earliest ceil(ts) in us over all events */
    /* ProfilerStep#N (hta filtering) */
    uint64_t steps;
    int64_t last_step_start;
    /* kept records */
    size_t a0;                       /* this file's first index in ev->acts */
    kt_launch *launches;
    size_t n_launches, cap_launches;
    sp_annot_set annots;             /* serving annotations (annotation_set.c) */
    sp_mark_cands ranges;            /* step-mark candidates (step_marks.c) */
    sp_annot_map map;                /* --map entries, then the servprof.* names */
    sp_ev_cache names;               /* recent kernel and launch-call names */
    sp_str stage_names[3];           /* preprocess, queue, postprocess */
    uint64_t events;
} kt;

/* ---------- messages ---------- */

static sp_status fail_at(kt *k, sp_status st, const sp_json_token *t, const char *fmt, ...) SP_PRINTF(4, 5);

static sp_status fail_at(kt *k, sp_status st, const sp_json_token *t, const char *fmt, ...)
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
    return fail_at(k, SP_ERR_PARSE, &at, "\"args\" must be an object");
}

static sp_status lex_fail(kt *k)
{
    return sp_json_fail(&k->lx, k->ctx);
}

static sp_status model_fail(kt *k, sp_status st)
{
    sp_errf(k->ctx->err, k->ctx->errlen, "%s: %s", k->ctx->name,
            st == SP_ERR_LIMIT ? "too many events (over the event model's limit)" : sp_status_str(st));
    return st;
}

#define LEX(expr)                \
    do {                         \
        if ((expr) != SP_OK)     \
            return lex_fail(k);  \
    } while (0)

#define MODEL(expr)                     \
    do {                                \
        sp_status st_ = (expr);         \
        if (st_)                        \
            return model_fail(k, st_);  \
    } while (0)

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
static sp_status read_time(kt *k, const sp_json_token *t, const char *what, int64_t *ns, double *d)
{
    if (t->type != SP_JSON_NUMBER)
        return fail_at(k, SP_ERR_PARSE, t, "\"%s\" must be a number of microseconds", what);
    int64_t fast;
    if (t->is_int && t->i > -9223372036854775LL && t->i < 9223372036854775LL)
        *ns = t->i * 1000;
    else if (us_text_fast(t->str, t->len, &fast))
        *ns = fast;
    else {
        bool exact;
        sp_status st = sp_json_us_to_ns(t->str, t->len, ns, &exact);
        if (st)
            return fail_at(k, SP_ERR_PARSE, t, "\"%s\" is out of range: %.*s", what,
                           (int)(t->len > 40 ? 40 : t->len), t->str);
    }
    if (k->hta) {
        if (t->is_int)
            *d = (double)t->i;
        else if (sp_json_number_to_double(t->str, t->len, d))
            return fail_at(k, SP_ERR_PARSE, t, "\"%s\" is not a number", what);
    }
    return SP_OK;
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

static sp_status read_args(kt *k)
{
    kt_event *e = &k->e;
    sp_json_token t;
    for (;;) {
        LEX(sp_json_next(&k->lx, &t));
        if (t.type == SP_JSON_OBJ_END)
            return SP_OK;
        const char *key = t.str;
        size_t n = t.len;
        int which = 0;
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(key, lit, n) == 0)
        if (IS("stream")) which = 1;
        else if (IS("device")) which = 2;
        else if (IS("correlation")) which = 3;
        else if (IS("bytes")) which = 4;
        else if (IS("kind")) which = 5;
#undef IS
        if (!which) {
            LEX(sp_json_skip(&k->lx));
            continue;
        }
        LEX(sp_json_next(&k->lx, &t));
        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
            LEX(sp_json_skip_rest(&k->lx));
            continue;
        }
        int64_t v;
        switch (which) {
        case 1: if (id_value(&t, &v)) { e->stream = v; e->has_stream = true; } break;
        case 2: if (id_value(&t, &v) && v >= 0 && v < UINT32_MAX) { e->device = v; e->has_device = true; } break;
        case 3:
            if (id_value(&t, &v) && v >= 0) {
                e->corr = (uint64_t)v;
                e->has_corr = true;
            }
            break;
        case 4: if (t.type == SP_JSON_NUMBER && t.is_int && t.i >= 0) { e->bytes = (uint64_t)t.i; e->has_bytes = true; } break;
        case 5:
            if (t.type == SP_JSON_STRING && t.len < sizeof e->copy_kind) {
                memcpy(e->copy_kind, t.str, t.len);
                e->copy_kind[t.len] = 0;
            }
            break;
        }
    }
}

/* Reads the members of one event object (its '{' already read) into k->e. */
static sp_status read_event(kt *k, const sp_json_token *open)
{
    kt_event *e = &k->e;
    e->ph = 0;
    e->cat = CAT_OTHER;
    e->has_ts = e->has_dur = e->name_cut = false;
    e->pid_int = e->tid_int = false;
    e->has_stream = e->has_device = e->has_corr = e->has_bytes = false;
    e->copy_kind[0] = 0;
    e->name_len = 0;
    e->ts_ns = e->dur_ns = 0;
    e->ts_d = e->dur_d = 0;
    uint64_t pidh = 0x9e3779b97f4a7c15ULL, tidh = 0x632be59bd9b4e019ULL;
    sp_json_token t;
    for (;;) {
        LEX(sp_json_next(&k->lx, &t));
        if (t.type == SP_JSON_OBJ_END)
            break;
        const char *key = t.str;
        size_t n = t.len;
        /* the key's position, for messages about its value (not a whole-token copy: see read_events) */
        const uint64_t key_offset = t.offset;
        const uint32_t key_line = t.line, key_column = t.column;
        int which = 0;
        if (n == 2 && key[0] == 'p' && key[1] == 'h') which = 1;
        else if (n == 3 && memcmp(key, "cat", 3) == 0) which = 2;
        else if (n == 4 && memcmp(key, "name", 4) == 0) which = 3;
        else if (n == 3 && memcmp(key, "pid", 3) == 0) which = 4;
        else if (n == 3 && memcmp(key, "tid", 3) == 0) which = 5;
        else if (n == 2 && key[0] == 't' && key[1] == 's') which = 6;
        else if (n == 3 && memcmp(key, "dur", 3) == 0) which = 7;
        else if (n == 4 && memcmp(key, "args", 4) == 0) which = 8;
        if (!which) {
            LEX(sp_json_skip(&k->lx));
            continue;
        }
        /* args of events whose kind is already known to need none (cpu_op, annotations, python_function,
         * flows, ...: most of a trace's args) are passed over whole, still checked to be an object. With
         * duplicate "cat"/"ph" keys the args are judged by the value seen before them. */
        if (which == 8 && ((e->ph && e->ph != 'X') || e->cat == CAT_CPU_OP || e->cat == CAT_ANNOT ||
                           e->cat == CAT_GPU_ANNOT || e->cat == CAT_KNOWN_IGNORED)) {
            sp_json_type ty;
            LEX(sp_json_skip_value(&k->lx, &ty));
            if (ty != SP_JSON_OBJ_BEGIN && ty != SP_JSON_NULL)
                return args_not_object(k, key_offset, key_line, key_column);
            continue;
        }
        LEX(sp_json_next(&k->lx, &t));
        sp_status st;
        switch (which) {
        case 1:
            if (t.type != SP_JSON_STRING || t.len == 0)
                return fail_at(k, SP_ERR_PARSE, &t, "\"ph\" must be a non-empty string (the event's phase)");
            e->ph = t.str[0];
            break;
        case 2:
            if (t.type == SP_JSON_STRING && t.len)
                e->cat = cat_of(t.str, t.len);
            else if (t.type != SP_JSON_STRING && t.type != SP_JSON_NULL)
                return fail_at(k, SP_ERR_PARSE, &t, "\"cat\" must be a string");
            if (e->cat == CAT_OTHER)
                e->cat = CAT_KNOWN_IGNORED;
            break;
        case 3:
            if (t.type != SP_JSON_STRING) {
                if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN)
                    LEX(sp_json_skip_rest(&k->lx));
                if (t.type != SP_JSON_NULL && t.type != SP_JSON_NUMBER)
                    return fail_at(k, SP_ERR_PARSE, &t, "\"name\" must be a string");
                break;
            }
            e->name_len = t.len > KT_MAX_NAME ? KT_MAX_NAME : t.len;
            e->name_cut = t.len > KT_MAX_NAME;
            memcpy(e->name, t.str, e->name_len);
            e->name[e->name_len] = 0;
            break;
        case 4:
        case 5: {
            int64_t v = 0;
            uint64_t h;
            bool isint = t.type == SP_JSON_NUMBER && t.is_int;
            if (isint) {
                v = t.i;
                h = sp_mix64((uint64_t)v);
            } else if (t.type == SP_JSON_STRING)
                h = sp_hash_bytes(t.str, t.len, 7);
            else {
                if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN)
                    LEX(sp_json_skip_rest(&k->lx));
                return fail_at(k, SP_ERR_PARSE, &t, "\"%s\" must be an integer or a string",
                               which == 4 ? "pid" : "tid");
            }
            if (which == 4) {
                e->pid_int = isint;
                e->pid = v;
                pidh = h;
            } else {
                e->tid_int = isint;
                e->tid = v;
                tidh = h;
            }
            break;
        }
        case 6:
            if ((st = read_time(k, &t, "ts", &e->ts_ns, &e->ts_d)))
                return st;
            e->has_ts = true;
            break;
        case 7:
            if ((st = read_time(k, &t, "dur", &e->dur_ns, &e->dur_d)))
                return st;
            if (e->dur_ns < 0)
                return fail_at(k, SP_ERR_PARSE, &t, "\"dur\" is negative");
            e->has_dur = true;
            break;
        case 8:
            if (t.type == SP_JSON_OBJ_BEGIN) {
                if ((st = read_args(k)))
                    return st;
            } else if (t.type != SP_JSON_NULL) {
                if (t.type == SP_JSON_ARR_BEGIN)
                    LEX(sp_json_skip_rest(&k->lx));
                return args_not_object(k, key_offset, key_line, key_column);
            }
            break;
        }
    }
    /* The thread: (pid, tid) packed exactly when both are integers in range (the usual case), so
     * threads order by pid, then tid, and unnamed batches are numbered in that order
     * (docs/annotations.md); otherwise a hash of the two, above every packed value. */
    if (e->pid_int && e->tid_int && e->pid >= 0 && e->pid <= INT32_MAX && e->tid >= 0 && e->tid <= UINT32_MAX)
        e->thread = ((uint64_t)e->pid << 32) | (uint64_t)e->tid;
    else
        e->thread = (1ull << 63) | sp_mix64(pidh ^ (tidh * 0x9e3779b97f4a7c15ULL));
    (void)open;
    return SP_OK;
}

static uint8_t copy_kind_of(const kt_event *e)
{
    const char *s = e->name;
    if (e->cat == CAT_MEMSET)
        return SP_ACT_MEMSET;
    const char *k = e->copy_kind[0] ? e->copy_kind : NULL;
    if ((k && strcmp(k, "HtoD") == 0) || strstr(s, "HtoD"))
        return SP_ACT_H2D;
    if ((k && strcmp(k, "DtoH") == 0) || strstr(s, "DtoH"))
        return SP_ACT_D2H;
    if ((k && strcmp(k, "DtoD") == 0) || strstr(s, "DtoD"))
        return SP_ACT_D2D;
    return SP_ACT_COPY_OTHER;   /* HtoH, PtoP and anything else */
}

/* Start and end in the importer's working unit: exact ns relative to the base, or (hta) HTA's
 * rounded us (start up, end down, computed on the doubles as HTA does), times 1000. Returns true when
 * HTA's end falls before its start: a sub-us event that contains no whole us gets HTA's duration of
 * -1 us (never less: dur >= 0 gives floor(ts + dur) >= ceil(ts) - 1). The model keeps such an end at
 * the start and the caller flags the event (sp_ev_activity.hta_end_early). */
static bool event_times(const kt *k, int64_t *s, int64_t *end)
{
    const kt_event *e = &k->e;
    if (k->hta) {
        double a = ceil(e->ts_d), b = floor(e->ts_d + e->dur_d);
        *s = (int64_t)a * 1000;
        *end = (int64_t)b * 1000;
        if (*end < *s) {
            *end = *s;
            return true;
        }
        return false;
    }
    *s = e->ts_ns;
    *end = e->ts_ns + e->dur_ns;
    return false;
}

/* Keeps a cpu_op / user_annotation range that is not a serving annotation as a step-mark candidate:
 * ProfilerStep#N always, other user_annotation ranges (record_function) for sp_mark_cands_commit to judge. */
static sp_status keep_range(kt *k, int64_t s, int64_t end)
{
    const kt_event *e = &k->e;
    uint8_t kind;
    if (e->name_len > 13 && memcmp(e->name, "ProfilerStep#", 13) == 0)
        kind = SP_MARK_PROFILER_STEP;
    else if (e->cat == CAT_ANNOT && !sp_mark_name_excluded(e->name, e->name_len))
        kind = SP_MARK_USER_RANGE;
    else
        return SP_OK;
    sp_str name;
    MODEL(sp_str_intern_cached(&k->ev->strings, &k->names, e->name, e->name_len, &name));
    MODEL(sp_mark_cands_add(&k->ranges, s, end, e->thread, name, kind));
    return SP_OK;
}

static sp_status handle_event(kt *k, const sp_json_token *open)
{
    kt_event *e = &k->e;
    k->events++;
    if (e->has_ts && k->hta) {
        double c = ceil(e->ts_d);
        if (c > -9e15 && c < 9e15 && (!k->any_ts || (int64_t)c < k->min_us))
            k->min_us = (int64_t)c;
        k->any_ts = true;
    } else if (e->has_ts)
        k->any_ts = true;
    if (e->ph != 'X') {
        /* i (instants), s/f (flows: the correlation is also in args), M (metadata), B/E ...: nothing
         * servprof needs */
        if (e->ph == 0)
            return fail_at(k, SP_ERR_PARSE, open, "event without \"ph\"");
        k->ev->files[k->file].ignored++;
        return SP_OK;
    }
    if (!e->has_ts)
        return fail_at(k, SP_ERR_PARSE, open, "complete event (\"ph\":\"X\") without \"ts\"");
    if (k->hta && (!(fabs(e->ts_d) < 4e15) || !(e->dur_d < 4e15)))
        return fail_at(k, SP_ERR_PARSE, open, "timestamp out of range");
    int64_t s, end;
    bool end_early = event_times(k, &s, &end);
    if (e->name_len > 13 && memcmp(e->name, "ProfilerStep#", 13) == 0) {
        if (!k->steps || s > k->last_step_start)
            k->last_step_start = s;
        k->steps++;
    }
    switch (e->cat) {
    case CAT_KERNEL:
    case CAT_MEMCPY:
    case CAT_MEMSET:
    case CAT_SYNC: {
        sp_ev_activity a;
        memset(&a, 0, sizeof a);
        a.file = k->file;
        a.batch = SP_EV_NONE;
        a.name = SP_EV_NONE;
        a.stream = e->has_stream ? e->stream : e->tid_int ? e->tid : -1;
        /* HTA's GPU events are those with a stream; stream -1 (device-wide syncs) are not */
        if (k->hta && a.stream == -1)
            return SP_OK;
        a.device = (uint32_t)(e->has_device ? e->device : e->pid_int && e->pid >= 0 && e->pid < UINT32_MAX ? e->pid : 0);
        a.correlation = e->has_corr ? e->corr : 0;
        a.bytes = e->has_bytes ? e->bytes : 0;
        a.kind = e->cat == CAT_KERNEL ? SP_ACT_KERNEL : e->cat == CAT_SYNC ? SP_ACT_SYNC : copy_kind_of(e);
        a.hta_end_early = end_early;
        if (e->cat == CAT_KERNEL)
            MODEL(sp_str_intern_cached(&k->ev->strings, &k->names, e->name, e->name_len, &a.name));
        /* times are fixed up after the pass (base, hta shift); stored as int64 bit patterns */
        a.start_ns = (uint64_t)s;
        a.end_ns = (uint64_t)end;
        MODEL(sp_ev_add_activity(k->ev, &a));
        return SP_OK;
    }
    case CAT_RUNTIME: {
        if (!e->has_corr || e->corr == 0)
            return SP_OK;
        MODEL(SP_GROW(k->launches, k->cap_launches, k->n_launches + 1, SP_EV_MAX_RECORDS));
        kt_launch *l = &k->launches[k->n_launches];
        MODEL(sp_str_intern_cached(&k->ev->strings, &k->names, e->name, e->name_len, &l->name));
        l->start = s;
        l->end = end;
        l->corr = e->corr;
        l->thread = e->thread;
        k->n_launches++;
        return SP_OK;
    }
    case CAT_ANNOT:
    case CAT_GPU_ANNOT:
    case CAT_CPU_OP: {
        sp_annot_name a;
        const char *why = NULL;
        int r = e->name_len < 5 ? 0 : sp_annot_parse(&k->map, e->name, e->name_len, &a, &why);
        if (r == 0)
            return e->cat == CAT_GPU_ANNOT ? SP_OK : keep_range(k, s, end);
        sp_status st = r < 0 ? SP_ERR_PARSE
                             : sp_annot_set_add(&k->annots, k->ev, &a, s, end, e->thread, e->cat == CAT_GPU_ANNOT, &why);
        if (st == SP_ERR_PARSE)
            return fail_at(k, SP_ERR_PARSE, open, "annotation \"%.*s\": %s (docs/annotations.md)",
                           (int)(e->name_len > 80 ? 80 : e->name_len), e->name, why);
        if (st)
            return model_fail(k, st);
        return SP_OK;
    }
    default:
        k->ev->files[k->file].ignored++;
        return SP_OK;
    }
}

/* ---------- after the pass ---------- */

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int launch_corr_cmp(const void *a, const void *b)
{
    const kt_launch *x = a, *y = b;
    if (x->corr != y->corr)
        return x->corr < y->corr ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

static bool has_u64(const uint64_t *v, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == key;
}

static const kt_launch *launch_find(const kt *k, uint64_t corr)
{
    size_t lo = 0, hi = k->n_launches;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->launches[mid].corr < corr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < k->n_launches && k->launches[lo].corr == corr ? &k->launches[lo] : NULL;
}

/* Every kept time gets the same offset: the base (exact mode) or minus the earliest event (hta). */
static sp_status fix_times(kt *k)
{
    struct sp_events *ev = k->ev;
    int64_t off = k->hta ? -(k->min_us * 1000) : (k->has_base ? k->base_ns : 0);
    int64_t lo = INT64_MAX;
    for (size_t i = k->a0; i < ev->n_acts; i++)
        if ((int64_t)ev->acts[i].start_ns < lo)
            lo = (int64_t)ev->acts[i].start_ns;
    for (size_t i = 0; i < k->n_launches; i++)
        if (k->launches[i].start < lo)
            lo = k->launches[i].start;
    for (size_t i = 0; i < k->annots.n; i++)
        if (k->annots.a[i].start < lo)
            lo = k->annots.a[i].start;
    for (size_t i = 0; i < k->ranges.n; i++)
        if (k->ranges.v[i].start < lo)
            lo = k->ranges.v[i].start;
    if (lo != INT64_MAX && (off > 0 ? lo > INT64_MAX - off : false))
        return fail_at(k, SP_ERR_PARSE, NULL, "timestamps overflow after adding baseTimeNanoseconds");
    if (lo != INT64_MAX && lo + off < 0)
        return fail_at(k, SP_ERR_PARSE, NULL, "an event starts before time 0 (negative \"ts\"%s)",
                       k->has_base ? " after adding baseTimeNanoseconds" : "");
    for (size_t i = k->a0; i < ev->n_acts; i++) {
        ev->acts[i].start_ns = (uint64_t)((int64_t)ev->acts[i].start_ns + off);
        ev->acts[i].end_ns = (uint64_t)((int64_t)ev->acts[i].end_ns + off);
    }
    if (k->steps)
        k->last_step_start += off;
    for (size_t i = 0; i < k->n_launches; i++) {
        k->launches[i].start += off;
        k->launches[i].end += off;
    }
    for (size_t i = 0; i < k->annots.n; i++) {
        k->annots.a[i].start += off;
        k->annots.a[i].end += off;
    }
    for (size_t i = 0; i < k->ranges.n; i++) {
        k->ranges.v[i].start += off;
        k->ranges.v[i].end += off;
    }
    return SP_OK;
}

/* HTA: with two or more ProfilerStep#N, CPU events at or after the start of the last step are
 * dropped, then GPU events whose correlation matches no kept CPU event. */
static void hta_filter(kt *k)
{
    if (k->steps < 2)
        return;
    struct sp_events *ev = k->ev;
    size_t w = 0;
    for (size_t i = 0; i < k->n_launches; i++)
        if (k->launches[i].start < k->last_step_start)
            k->launches[w++] = k->launches[i];
    k->n_launches = w;
    w = 0;   /* the ranges are CPU events too: the last step's mark goes with its work */
    for (size_t i = 0; i < k->ranges.n; i++)
        if (k->ranges.v[i].start < k->last_step_start)
            k->ranges.v[w++] = k->ranges.v[i];
    k->ranges.n = w;
    if (k->n_launches)   /* qsort's array must not be NULL, even empty (UBSan) */
        qsort(k->launches, k->n_launches, sizeof *k->launches, launch_corr_cmp);
    w = k->a0;
    for (size_t i = k->a0; i < ev->n_acts; i++)
        if (ev->acts[i].correlation && launch_find(k, ev->acts[i].correlation))
            ev->acts[w++] = ev->acts[i];
    ev->n_acts = w;
}

/* Launch calls that launched no device work of this file are not launches (cudaEventRecord, ...). */
static sp_status add_launches(kt *k)
{
    struct sp_events *ev = k->ev;
    size_t na = ev->n_acts - k->a0;
    uint64_t *corrs = malloc((na ? na : 1) * sizeof *corrs);
    if (!corrs)
        return model_fail(k, SP_ERR_NOMEM);
    size_t nc = 0;
    for (size_t i = k->a0; i < ev->n_acts; i++)
        if (ev->acts[i].correlation)
            corrs[nc++] = ev->acts[i].correlation;
    if (nc)   /* qsort's array must not be NULL, even empty (UBSan) */
        qsort(corrs, nc, sizeof *corrs, u64_cmp);
    size_t w = 0;
    for (size_t i = 0; i < k->n_launches; i++) {
        const kt_launch *l = &k->launches[i];
        if (!has_u64(corrs, nc, l->corr))
            continue;
        sp_ev_launch m = {(uint64_t)l->start, (uint64_t)l->end, l->corr, l->name, k->file};
        sp_status st = sp_ev_add_launch(ev, &m);
        if (st) {
            free(corrs);
            return model_fail(k, st);
        }
        k->launches[w++] = *l;
    }
    k->n_launches = w;
    free(corrs);
    if (k->n_launches)   /* qsort's array must not be NULL, even empty (UBSan) */
        qsort(k->launches, k->n_launches, sizeof *k->launches, launch_corr_cmp);
    return SP_OK;
}

/* Device work launched (by correlation) from inside a batch annotation on the launching thread
 * belongs to that batch; the batch window stretches to cover it (outputs cannot be back on the host
 * before the device work that produces them ends). */
static void tie_activity(kt *k)
{
    struct sp_events *ev = k->ev;
    for (size_t i = k->a0; i < ev->n_acts; i++) {
        sp_ev_activity *x = &ev->acts[i];
        if (!x->correlation || x->kind == SP_ACT_SYNC)
            continue;
        const kt_launch *l = launch_find(k, x->correlation);
        if (!l)
            continue;
        const sp_annot *b = sp_annot_set_enclosing(&k->annots, SP_ANNOT_BATCH, l->thread, l->start);
        if (!b || k->annots.batch_of[b - k->annots.a] < 0)
            continue;
        uint32_t bi = (uint32_t)k->annots.batch_of[b - k->annots.a];
        x->batch = bi;
        sp_ev_batch *bb = &ev->batches[bi];
        if (x->end_ns > bb->end_ns)
            bb->end_ns = x->end_ns;
        bb->device = x->device;
    }
}

/* ---------- the document ---------- */

static sp_status read_events(kt *k)
{
    sp_json_token t;
    for (;;) {
        LEX(sp_json_next(&k->lx, &t));
        if (t.type == SP_JSON_ARR_END)
            return SP_OK;
        if (t.type != SP_JSON_OBJ_BEGIN) {
            if (!k->lenient)
                return fail_at(k, SP_ERR_PARSE, &t, "expected an event object in \"traceEvents\"");
            if (t.type == SP_JSON_ARR_BEGIN)
                LEX(sp_json_skip_rest(&k->lx));
            k->ev->files[k->file].skipped++;
            continue;
        }
        /* t stays as it is (read_event has its own token); copying it whole right after
         * sp_json_next wrote it field by field costs a store-forwarding stall per event */
        const sp_json_token *open = &t;
        uint32_t depth = t.depth;
        sp_status st = read_event(k, open);
        if (st == SP_OK)
            st = handle_event(k, open);
        if (st == SP_ERR_PARSE && k->lenient && k->lx.status == SP_OK) {
            /* skip the rest of a malformed event and count it */
            while (k->lx.depth >= depth)
                LEX(sp_json_skip_rest(&k->lx));
            k->ev->files[k->file].skipped++;
            continue;
        }
        if (st)
            return st;
    }
}

static sp_status read_document(kt *k, bool *saw_events)
{
    sp_json_token t;
    LEX(sp_json_next(&k->lx, &t));
    if (t.type == SP_JSON_ARR_BEGIN) {   /* a bare array of events is a valid Chrome trace too */
        *saw_events = true;
        sp_status st = read_events(k);
        if (st)
            return st;
    } else if (t.type == SP_JSON_OBJ_BEGIN) {
        for (;;) {
            LEX(sp_json_next(&k->lx, &t));
            if (t.type == SP_JSON_OBJ_END)
                break;
            if (t.len == 11 && memcmp(t.str, "traceEvents", 11) == 0) {
                LEX(sp_json_next(&k->lx, &t));
                if (t.type != SP_JSON_ARR_BEGIN)
                    return fail_at(k, SP_ERR_PARSE, &t, "\"traceEvents\" must be an array of events");
                *saw_events = true;
                sp_status st = read_events(k);
                if (st)
                    return st;
            } else if (t.len == 19 && memcmp(t.str, "baseTimeNanoseconds", 19) == 0) {
                LEX(sp_json_next(&k->lx, &t));
                if (t.type != SP_JSON_NUMBER || !t.is_int || t.i < 0)
                    return fail_at(k, SP_ERR_PARSE, &t, "\"baseTimeNanoseconds\" must be a non-negative integer");
                k->has_base = true;
                k->base_ns = t.i;
            } else
                LEX(sp_json_skip(&k->lx));   /* displayTimeUnit (a display hint: ts are us), ... */
        }
    } else
        return fail_at(k, SP_ERR_PARSE, &t, "expected a Chrome-trace JSON object ({\"traceEvents\":[...]}) "
                       "or an array of events");
    LEX(sp_json_next(&k->lx, &t));   /* the lexer checks that only whitespace follows */
    return SP_OK;
}

sp_status sp_import_kineto(sp_import_ctx *ctx)
{
    kt *k = calloc(1, sizeof *k);
    if (!k)
        return SP_ERR_NOMEM;
    k->ctx = ctx;
    k->ev = ctx->ev;
    k->file = ctx->file;
    k->hta = ctx->opt && ctx->opt->hta_compat;
    k->lenient = ctx->opt && ctx->opt->lenient;
    k->a0 = ctx->ev->n_acts;
    size_t r0 = ctx->ev->n_requests, s0 = ctx->ev->n_spans;
    sp_status st = sp_annot_map_init(&k->map, ctx->opt ? ctx->opt->map : NULL, ctx->name, ctx->err, ctx->errlen);
    if (st)
        goto out;
    sp_json_limits lim;
    sp_json_limits_init(&lim);
    lim.max_depth = 64;        /* events nest 4 deep; args a few more */
    lim.no_double = true;      /* times are converted from their text; hta asks for doubles itself */
    st = sp_json_init_input(&k->lx, ctx->in, &lim);
    if (st) {
        st = model_fail(k, st);
        goto out;
    }
    bool saw = false;
    st = read_document(k, &saw);
    if (st)
        goto out;
    if (!saw) {
        st = fail_at(k, SP_ERR_PARSE, NULL, "no \"traceEvents\" array (expected a PyTorch profiler trace)");
        goto out;
    }
    if ((st = fix_times(k)))
        goto out;
    if (k->hta)
        hta_filter(k);
    if ((st = add_launches(k)))
        goto out;
    if ((st = sp_annot_set_resolve(&k->annots, k->ev, k->file))) {
        st = model_fail(k, st);
        goto out;
    }
    tie_activity(k);
    if ((st = sp_mark_cands_commit(&k->ranges, k->ev, k->file))) {
        st = model_fail(k, st);
        goto out;
    }
    sp_annot_fill_requests(k->ev, k->file, r0, s0);
    if (ctx->err && ctx->errlen)
        ctx->err[0] = '\0';
out:
    sp_json_fini(&k->lx);
    free(k->launches);
    sp_mark_cands_free(&k->ranges);
    sp_annot_set_free(&k->annots);
    free(k);
    return st;
}
