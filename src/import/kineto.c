/* Importer for PyTorch profiler (Kineto) Chrome-trace JSON (docs/kineto.md): one streaming pass over
 * the document with the JSON pull lexer, keeping only device activity, launch calls and serving
 * annotations (never a tree of the document), then a short pass over what was kept: base time,
 * HTA-compatible shifting and ProfilerStep filtering, the launch/activity correlation join, and the
 * annotation convention that turns record_function ranges into requests, stages and batches. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util_int.h"
#include "import/annotation_int.h"
#include "import/import_int.h"
#include "import/json.h"
#include "import/step_marks_int.h"

#define KT_MAX_NAME (SP_EV_MAX_STRING - 1)
#define KT_PAR_MIN_BYTES (16u << 20)    /* smaller files are read on one thread */  /* longer event names are cut (kernel names can be huge) */

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
    uint64_t fast_events;            /* read by the fast path (fast_event) */
    sp_input *tail_in;               /* after a parallel read: the stream the lexer now reads */
    uint64_t tail_at;                /* ... from this byte of the file on */
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

/* Why a member's value is not what read_event takes (each has its message, read_event's value_fail;
 * the fast path gives up on any of them). */
enum { KV_OK = 0, KV_PH, KV_CAT, KV_NAME, KV_ID, KV_TIME_TYPE, KV_TIME_RANGE, KV_TIME_NAN, KV_DUR_NEG };

/* A number as exact ns (from decimal us text) and, under hta, as the double HTA's pandas holds. */
static int time_value(bool hta, const sp_json_token *t, int64_t *ns, double *d)
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
    if (hta) {
        if (t->is_int)
            *d = (double)t->i;
        else if (sp_json_number_to_double(t->str, t->len, d))
            return KV_TIME_NAN;
    }
    return KV_OK;
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
static int args_key(const char *key, size_t n)
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
static void args_value(kt_event *e, int which, const sp_json_token *t)
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
        int which = args_key(t.str, t.len);
        if (!which) {
            LEX(sp_json_skip(&k->lx));
            continue;
        }
        LEX(sp_json_next(&k->lx, &t));
        if (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN) {
            LEX(sp_json_skip_rest(&k->lx));
            continue;
        }
        args_value(e, which, &t);
    }
}

/* Which event member servprof reads: 1 ph, 2 cat, 3 name, 4 pid, 5 tid, 6 ts, 7 dur, 8 args, 0 none. */
static int event_key(const char *key, size_t n)
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

/* Starts an event: what read_event fills, empty; *pidh and *tidh the hashes of absent ids. */
static void event_reset(kt_event *e, uint64_t *pidh, uint64_t *tidh)
{
    e->ph = 0;
    e->cat = CAT_OTHER;
    e->has_ts = e->has_dur = e->name_cut = false;
    e->pid_int = e->tid_int = false;
    e->has_stream = e->has_device = e->has_corr = e->has_bytes = false;
    e->copy_kind[0] = 0;
    e->name_len = 0;
    e->ts_ns = e->dur_ns = 0;
    e->ts_d = e->dur_d = 0;
    *pidh = 0x9e3779b97f4a7c15ULL;
    *tidh = 0x632be59bd9b4e019ULL;
}

/* The args of events whose kind is already known to need none (cpu_op, annotations, python_function,
 * flows, ...: most of a trace's args) are passed over whole, still checked to be an object. With
 * duplicate "cat"/"ph" keys the args are judged by the value seen before them. */
static bool args_unneeded(const kt_event *e)
{
    return (e->ph && e->ph != 'X') || e->cat == CAT_CPU_OP || e->cat == CAT_ANNOT || e->cat == CAT_GPU_ANNOT ||
           e->cat == CAT_KNOWN_IGNORED;
}

/* One member's value (which 1..7; a scalar or the first token of a container) into e: KV_OK, or why it
 * is not taken (read_event reports it). */
static int event_value(kt_event *e, bool hta, int which, const sp_json_token *t, uint64_t *pidh, uint64_t *tidh)
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
        int r = time_value(hta, t, &e->ts_ns, &e->ts_d);
        if (r == KV_OK)
            e->has_ts = true;
        return r;
    }
    default: {   /* 7 */
        int r = time_value(hta, t, &e->dur_ns, &e->dur_d);
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
    case KV_PH: return fail_at(k, SP_ERR_PARSE, t, "\"ph\" must be a non-empty string (the event's phase)");
    case KV_CAT: return fail_at(k, SP_ERR_PARSE, t, "\"cat\" must be a string");
    case KV_NAME: return fail_at(k, SP_ERR_PARSE, t, "\"name\" must be a string");
    case KV_ID: return fail_at(k, SP_ERR_PARSE, t, "\"%s\" must be an integer or a string", what);
    case KV_TIME_TYPE: return fail_at(k, SP_ERR_PARSE, t, "\"%s\" must be a number of microseconds", what);
    case KV_TIME_RANGE:
        return fail_at(k, SP_ERR_PARSE, t, "\"%s\" is out of range: %.*s", what, (int)(t->len > 40 ? 40 : t->len),
                       t->str);
    case KV_TIME_NAN: return fail_at(k, SP_ERR_PARSE, t, "\"%s\" is not a number", what);
    default: return fail_at(k, SP_ERR_PARSE, t, "\"dur\" is negative");
    }
}

/* The thread: (pid, tid) packed exactly when both are integers in range (the usual case), so threads
 * order by pid, then tid, and unnamed batches are numbered in that order (docs/annotations.md);
 * otherwise a hash of the two, above every packed value. */
static void event_thread(kt_event *e, uint64_t pidh, uint64_t tidh)
{
    if (e->pid_int && e->tid_int && e->pid >= 0 && e->pid <= INT32_MAX && e->tid >= 0 && e->tid <= UINT32_MAX)
        e->thread = ((uint64_t)e->pid << 32) | (uint64_t)e->tid;
    else
        e->thread = (1ull << 63) | sp_mix64(pidh ^ (tidh * 0x9e3779b97f4a7c15ULL));
}

/* Reads the members of one event object (its '{' already read) into k->e. */
static sp_status read_event(kt *k, const sp_json_token *open)
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
        int which = event_key(t.str, t.len);
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
        int r = event_value(e, k->hta, which, &t, &pidh, &tidh);
        if (r != KV_OK) {
            if ((r == KV_NAME || r == KV_ID) && (t.type == SP_JSON_OBJ_BEGIN || t.type == SP_JSON_ARR_BEGIN))
                LEX(sp_json_skip_rest(&k->lx));
            return value_fail(k, r, which, &t);
        }
    }
    event_thread(e, pidh, tidh);
    (void)open;
    return SP_OK;
}

/* ---------- the fast path for ordinary events ---------- */

/* Nearly every event of a real trace is ordinary: an object of plain strings (printable ASCII, no
 * escapes) and plain numbers, with an "args" object of the same kind whose values may also be arrays of
 * them ("grid", "Input Dims"). fast_event reads such an object straight from the lexer's window into
 * k->e, through the same member rules as read_event (event_value, args_value), so with the same values;
 * on anything else (an escape, a non-ASCII byte, an object inside, a literal or a container where
 * read_event would judge it, a number form the lexer's quick path does not take, a member seen twice, a
 * value read_event rejects, the end of the window) it gives up having consumed nothing, and read_event
 * reads the object as ever, with its messages. docs/kineto.md, "Reading fast". */

static bool g_kt_fast = true;                 /* tests: off reads every event with read_event */
static sp_kineto_observer g_kt_observer;      /* tests: sees every event read */
static void *g_kt_observer_arg;
static atomic_ulong g_kt_fast_events;         /* events read by the fast path so far, for tests */

void sp_import_kineto_set_fast(bool on, sp_kineto_observer fn, void *arg)
{
    g_kt_fast = on;
    g_kt_observer = fn;
    g_kt_observer_arg = arg;
}

unsigned long sp_import_kineto_fast_events(void)
{
    return atomic_load(&g_kt_fast_events);
}

/* Hands an event read (by either path) to the tests' observer, with only the fields that mean something
 * (the others keep whatever an earlier event left). */
static void observe(const kt_event *e, const sp_json_token *open, bool fast)
{
    sp_kineto_event_view v;
    memset(&v, 0, sizeof v);
    v.offset = open->offset;
    v.line = open->line;
    v.column = open->column;
    v.depth = open->depth;
    v.fast = fast;
    v.ph = e->ph;
    v.cat = e->cat;
    v.has_ts = e->has_ts;
    v.has_dur = e->has_dur;
    v.name_cut = e->name_cut;
    v.ts_ns = e->ts_ns;
    v.dur_ns = e->dur_ns;
    v.ts_d = e->ts_d;
    v.dur_d = e->dur_d;
    v.pid_int = e->pid_int;
    v.tid_int = e->tid_int;
    v.pid = e->pid_int ? e->pid : 0;
    v.tid = e->tid_int ? e->tid : 0;
    v.thread = e->thread;
    v.has_stream = e->has_stream;
    v.has_device = e->has_device;
    v.has_corr = e->has_corr;
    v.has_bytes = e->has_bytes;
    v.stream = e->has_stream ? e->stream : 0;
    v.device = e->has_device ? e->device : 0;
    v.corr = e->has_corr ? e->corr : 0;
    v.bytes = e->has_bytes ? e->bytes : 0;
    memcpy(v.copy_kind, e->copy_kind, strnlen(e->copy_kind, sizeof e->copy_kind - 1));
    v.name = e->name;
    v.name_len = e->name_len;
    g_kt_observer(g_kt_observer_arg, &v);
}

/* The steps of one member, forced inline into the loops that call them: as calls, their results went
 * through memory (the position, the key) on every member; inline they stay in registers (callgrind on
 * bench/kineto.bench.sh's trace: 13% fewer instructions for the whole command). */
#if defined(__GNUC__)
#define KF_INLINE static inline __attribute__((always_inline))
#else
#define KF_INLINE static inline
#endif

/* The window being read: its end, the newlines passed and the lexer's limits. */
typedef struct kf {
    const char *end;
    const char *line_at;     /* the byte after the last newline passed (NULL: none yet) */
    uint32_t lines;
    size_t max_string, max_number;
} kf;

static inline const char *kf_ws(kf *f, const char *p)
{
    /* the usual cases first: no whitespace, or one space (after ':' and ',') */
    if (p < f->end && (unsigned char)*p > ' ')
        return p;
    if (f->end - p >= 2 && *p == ' ' && (unsigned char)p[1] > ' ')
        return p + 1;
    for (; p < f->end; p++) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\r')
            continue;
        if (c != '\n')
            break;
        f->lines++;
        f->line_at = p + 1;
    }
    return p;
}

/* The closing quote of the plain string whose opening quote is at p, within the length limit; NULL
 * otherwise. */
static inline const char *kf_string(const kf *f, const char *p)
{
    const char *q = sp_json_plain_string_end(p + 1, f->end);
    return q && (size_t)(q - p) - 1 <= f->max_string ? q : NULL;
}

static inline bool kf_numch(char c)
{
    return (unsigned)(c - '0') < 10 || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* What kf_number saw of a number beyond the token: its integer part and up to three fraction digits,
 * for kf_time. */
typedef struct kf_digits {
    uint64_t whole;          /* the integer part's value (without the sign) */
    uint32_t nd, nf;         /* digits before and after the point */
    uint32_t frac3;          /* the first min(nf, 3) fraction digits as a number */
} kf_digits;

/* Eight ASCII digits (the first in the lowest byte) to their value, or -1 when a byte is not a digit:
 * pairs, then fours, then the eight, each step a multiply and a mask. */
static inline int64_t kf_eight_digits(const char *p)
{
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    (void)p;
    return -1;   /* the byte order below is little-endian's: elsewhere the digit loop does it all */
#else
    uint64_t x;
    memcpy(&x, p, 8);
    x -= 0x3030303030303030ULL;
    /* a byte below '0' wrapped (its top bit set), one above '9' carries into bit 7 when 0x76 is added */
    if ((x | (x + 0x7676767676767676ULL)) & 0x8080808080808080ULL)
        return -1;
    x = (x * 10 + (x >> 8)) & 0x00FF00FF00FF00FFULL;
    x = (x * 100 + (x >> 16)) & 0x0000FFFF0000FFFFULL;
    x = (x * 10000 + (x >> 32)) & 0xFFFFFFFFULL;
    return (int64_t)x;
#endif
}

/* The number at p as the lexer's quick path (lex_number) reads it, -?(0|[1-9][0-9]{0,17})(.[0-9]+)?
 * followed in the window by a byte that cannot continue a number, into t (NUMBER: its text, and is_int
 * and i as the lexer gives them: a fraction of zeros is an integer) and *dg. Returns the byte after
 * it, or NULL for any other form (the lexer's general path, or an error). */
KF_INLINE const char *kf_number(const kf *f, const char *p, sp_json_token *t, kf_digits *dg)
{
    const char *q = p + (*p == '-'), *d = q;
    uint64_t v = 0;
    /* eight digits at a time while they are all digits (at most 16: the quick path's 18 leave room) */
    while (f->end - q >= 9 && q - d <= 8) {
        int64_t x = kf_eight_digits(q);
        if (x < 0)
            break;
        v = v * 100000000u + (uint64_t)x;
        q += 8;
    }
    const char *dlim = f->end - q > 19 - (q - d) ? q + (19 - (q - d)) : f->end;
    while (q < dlim && (unsigned)(*q - '0') < 10)
        v = v * 10 + (uint64_t)(*q++ - '0');
    size_t nd = (size_t)(q - d);
    if (nd == 0 || nd > 18 || (nd > 1 && *d == '0'))
        return NULL;
    bool zero = true;
    uint32_t nf = 0, frac3 = 0;
    if (q < f->end && *q == '.') {
        const char *g = ++q;
        while (q < f->end && (unsigned)(*q - '0') < 10) {
            if (nf < 3)
                frac3 = frac3 * 10 + (uint32_t)(*q - '0');
            nf++;
            zero &= *q++ == '0';
        }
        if (q == g)
            return NULL;
    }
    if (q >= f->end || kf_numch(*q) || (size_t)(q - p) > f->max_number)
        return NULL;
    t->type = SP_JSON_NUMBER;
    t->str = p;
    t->len = (size_t)(q - p);
    t->is_int = zero;
    t->i = zero ? (*p == '-' ? -(int64_t)v : (int64_t)v) : 0;
    dg->whole = v;
    dg->nd = (uint32_t)nd;
    dg->nf = nf;
    dg->frac3 = frac3;
    return q;
}

/* "ts" or "dur" at p as exact ns, the value time_value gives (its first two rules straight from the
 * digits kf_number saw, so the text is not read twice; anything else, and --hta-compat's double,
 * through time_value itself). Returns the byte after the number, or NULL (give up). */
static inline const char *kf_time(const kf *f, const char *p, bool hta, int64_t *ns, double *d)
{
    sp_json_token t = {.type = SP_JSON_NONE};
    kf_digits dg;
    const char *q = kf_number(f, p, &t, &dg);
    if (!q)
        return NULL;
    static const uint32_t scale[4] = {1000, 100, 10, 1};
    if (hta)
        return time_value(true, &t, ns, d) == KV_OK ? q : NULL;
    if (t.is_int && t.i > -9223372036854775LL && t.i < 9223372036854775LL)
        *ns = t.i * 1000;
    else if (*p != '-' && dg.nd <= 16 && dg.whole <= 9000000000000000ULL && dg.nf >= 1 && dg.nf <= 3)
        *ns = (int64_t)(dg.whole * 1000 + dg.frac3 * scale[dg.nf]);   /* us_text_fast's rule */
    else if (time_value(false, &t, ns, d) != KV_OK)
        return NULL;
    return q;
}

/* Past a number that is only checked (an args value servprof does not read): the forms kf_number
 * takes, without computing the value. */
static inline const char *kf_number_skip(const kf *f, const char *p)
{
    const char *q = p + (*p == '-'), *d = q;
    const char *dlim = f->end - q > 19 ? q + 19 : f->end;
    while (q < dlim && (unsigned)(*q - '0') < 10)
        q++;
    size_t nd = (size_t)(q - d);
    if (nd == 0 || nd > 18 || (nd > 1 && *d == '0'))
        return NULL;
    if (q < f->end && *q == '.') {
        const char *g = ++q;
        while (q < f->end && (unsigned)(*q - '0') < 10)
            q++;
        if (q == g)
            return NULL;
    }
    if (q >= f->end || kf_numch(*q) || (size_t)(q - p) > f->max_number)
        return NULL;
    return q;
}

/* A scalar at p into t: a plain string, a number kf_number takes, or a literal. NULL otherwise. */
KF_INLINE const char *kf_scalar(const kf *f, const char *p, sp_json_token *t)
{
    char c = *p;
    if (c == '"') {
        const char *q = kf_string(f, p);
        if (!q)
            return NULL;
        t->type = SP_JSON_STRING;
        t->str = p + 1;
        t->len = (size_t)(q - p) - 1;
        return q + 1;
    }
    if (c == '-' || (unsigned)(c - '0') < 10) {
        kf_digits dg;
        return kf_number(f, p, t, &dg);
    }
    size_t avail = (size_t)(f->end - p);
    if (c == 't' && avail >= 4 && memcmp(p, "true", 4) == 0)
        return t->type = SP_JSON_TRUE, p + 4;
    if (c == 'f' && avail >= 5 && memcmp(p, "false", 5) == 0)
        return t->type = SP_JSON_FALSE, p + 5;
    if (c == 'n' && avail >= 4 && memcmp(p, "null", 4) == 0)
        return t->type = SP_JSON_NULL, p + 4;
    return NULL;
}

/* Past a value that is only checked (sp_json_skip): a scalar, or arrays of scalars nested at most
 * `room` deep (the lexer's depth limit); NULL for anything else (an object inside, ...). */
static const char *kf_skip(kf *f, const char *p, uint32_t room)
{
    uint32_t d = 0;
    sp_json_token t;
    for (;;) {
        if (p >= f->end)
            return NULL;
        if (*p == '[') {
            if (d >= room)
                return NULL;
            d++;
            p = kf_ws(f, p + 1);
            if (p < f->end && *p == ']') {
                p++;
                d--;
            } else {
                continue;
            }
        } else if (*p == '-' || (unsigned)(*p - '0') < 10) {
            if (!(p = kf_number_skip(f, p)))
                return NULL;
        } else if (!(p = kf_scalar(f, p, &t))) {
            return NULL;
        }
        for (;;) {   /* after a value: the enclosing arrays' ',' or ']' */
            if (d == 0)
                return p;
            p = kf_ws(f, p);
            if (p >= f->end)
                return NULL;
            if (*p == ',') {
                p = kf_ws(f, p + 1);
                break;
            }
            if (*p != ']')
                return NULL;
            p++;
            d--;
        }
    }
}

/* Steps to an object's next member: *pp is at its '{' (first) or just after a member's value. Returns
 * 1 with the key and *pp at the value, 0 at the object's end (*pp after its '}'), -1 to give up. */
/* An event member's key written as Kineto writes it, the ':' straight after the closing quote, at p
 * (its opening quote): which member (event_key's number) and *len the bytes up to the ':' included;
 * 0 for any other key or form (kf_member then scans the key as any string). Saves the string scan
 * and event_key's comparisons on the eight keys every event has. */
static inline int kf_known_key(const char *p, const char *end, size_t *len)
{
#define KEY_IS(lit) (memcmp(p, lit, sizeof(lit) - 1) == 0 ? (*len = sizeof(lit) - 1, 1) : 0)
    if (end - p < 8)
        return 0;
    switch (p[1]) {
    case 'p': return KEY_IS("\"ph\":") ? 1 : KEY_IS("\"pid\":") ? 4 : 0;
    case 'c': return KEY_IS("\"cat\":") ? 2 : 0;
    case 'n': return KEY_IS("\"name\":") ? 3 : 0;
    case 't': return KEY_IS("\"tid\":") ? 5 : KEY_IS("\"ts\":") ? 6 : 0;
    case 'd': return KEY_IS("\"dur\":") ? 7 : 0;
    case 'a': return KEY_IS("\"args\":") ? 8 : 0;
    default: return 0;
    }
#undef KEY_IS
}

/* As kf_member below, and for an event's own members *which (event_key's number) comes with the key:
 * from kf_known_key when it matches, else from event_key. */
KF_INLINE int kf_member(kf *f, const char **pp, bool first, const char **key, size_t *n, int *which)
{
    const char *p = *pp;
    if (first) {
        p = kf_ws(f, p + 1);
        if (p < f->end && *p == '}') {
            *pp = p + 1;
            return 0;
        }
    } else {
        if (p >= f->end || *p != ',')   /* the usual ',' straight after the value first */
            p = kf_ws(f, p);
        if (p >= f->end)
            return -1;
        if (*p == '}') {
            *pp = p + 1;
            return 0;
        }
        if (*p != ',')
            return -1;
        p = kf_ws(f, p + 1);
    }
    if (p >= f->end || *p != '"')
        return -1;
    size_t kl;
    int w = which ? kf_known_key(p, f->end, &kl) : 0;
    if (w) {
        *which = w;
        *key = p + 1;
        *n = kl - 3;
        p = kf_ws(f, p + kl);
        if (p >= f->end)
            return -1;
        *pp = p;
        return 1;
    }
    const char *q = kf_string(f, p);
    if (!q)
        return -1;
    *key = p + 1;
    *n = (size_t)(q - p) - 1;
    if (which)
        *which = event_key(*key, *n);
    p = q + 1;
    if (p < f->end && *p == ':')   /* the usual "key": */
        p++;
    else {
        p = kf_ws(f, p);
        if (p >= f->end || *p != ':')
            return -1;
        p++;
    }
    p = kf_ws(f, p);
    if (p >= f->end)
        return -1;
    *pp = p;
    return 1;
}

/* An "args" object at p ('{'): read (args_value for the members servprof reads) or, when `check_only`,
 * only checked; its values scalars or arrays of them, `room` levels below it at most. Returns the byte
 * after its '}', or NULL. */
static const char *kf_args(kf *f, kt_event *e, const char *p, uint32_t room, bool check_only)
{
    const char *key;
    size_t n;
    int r;
    for (bool first = true; (r = kf_member(f, &p, first, &key, &n, NULL)) != 0; first = false) {
        if (r < 0)
            return NULL;
        int which = check_only ? 0 : args_key(key, n);
        if (!which || *p == '[') {   /* a container where read_args reads a value: skipped, nothing taken */
            p = kf_skip(f, p, room);
        } else {
            sp_json_token t = {.type = SP_JSON_NONE};
            p = kf_scalar(f, p, &t);
            if (p)
                args_value(e, which, &t);
        }
        if (!p)
            return NULL;
    }
    return p;
}

/* One ordinary event object at p ('{'), `room` levels of nesting left below the array (the lexer's
 * limit), into k->e as read_event would read it. Returns the byte after its '}', or NULL (give up). */
static const char *kf_event(kt *k, kf *f, const char *p, uint32_t room)
{
    kt_event *e = &k->e;
    uint64_t pidh, tidh;
    event_reset(e, &pidh, &tidh);
    if (room < 2)   /* the object and its args */
        return NULL;
    unsigned seen = 0;
    const char *key;
    size_t n;
    int r;
    int which;
    for (bool first = true; (r = kf_member(f, &p, first, &key, &n, &which)) != 0; first = false) {
        if (r < 0)
            return NULL;
        if (!which) {
            p = kf_skip(f, p, room - 1);
        } else if (seen & (1u << which)) {
            return NULL;   /* a member twice: read_event's order of rules decides */
        } else if (which == 8) {
            seen |= 1u << which;
            bool check_only = args_unneeded(e);
            if (*p == '{')
                p = kf_args(f, e, p, room - 2, check_only);
            else if ((size_t)(f->end - p) >= 4 && memcmp(p, "null", 4) == 0)
                p += 4;
            else
                return NULL;   /* not an object: read_event's message */
        } else if (which == 6) {
            seen |= 1u << which;
            if (!(p = kf_time(f, p, k->hta, &e->ts_ns, &e->ts_d)))
                return NULL;
            e->has_ts = true;
        } else if (which == 7) {
            seen |= 1u << which;
            if (!(p = kf_time(f, p, k->hta, &e->dur_ns, &e->dur_d)) || e->dur_ns < 0)
                return NULL;
            e->has_dur = true;
        } else {
            seen |= 1u << which;
            sp_json_token t = {.type = SP_JSON_NONE};
            if (!(p = kf_scalar(f, p, &t)) || event_value(e, k->hta, which, &t, &pidh, &tidh) != KV_OK)
                return NULL;
        }
        if (!p)
            return NULL;
    }
    event_thread(e, pidh, tidh);
    return p;
}

/* Reads the next element of the traceEvents array by the fast path when it is an ordinary event that
 * starts before `limit` (the two-thread hand-over point: that element is the lexer's); fills `open` as
 * sp_json_next fills the '{' token. false: nothing consumed, the lexer reads on. */
static bool fast_event(kt *k, uint64_t limit, sp_json_token *open)
{
    sp_json_window w;
    if (!sp_json_window_get(&k->lx, &w) || w.depth >= w.max_depth)
        return false;
    kf f = {w.end, NULL, 0, w.max_string, w.max_number};
    const char *p = kf_ws(&f, w.p);
    if (w.comma) {
        if (p >= f.end || *p != ',')
            return false;
        p = kf_ws(&f, p + 1);
    }
    if (p >= f.end || *p != '{')
        return false;
    uint64_t at = w.offset + (uint64_t)(p - w.p);
    if (at >= limit)
        return false;
    uint32_t lines = f.lines;
    uint64_t line_start = f.line_at ? w.offset + (uint64_t)(f.line_at - w.p) : w.line_start;
    const char *q = kf_event(k, &f, p, w.max_depth - w.depth);
    if (!q)
        return false;
    sp_json_window_take(&k->lx, &w, q, f.lines, f.line_at);
    open->type = SP_JSON_OBJ_BEGIN;
    open->offset = at;
    open->line = w.line + lines;
    open->column = (uint32_t)(at - line_start + 1);
    open->depth = w.depth + 1;
    k->fast_events++;
    return true;
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

/* What every event's time tells about the trace's start (hta: the earliest whole us). */
static void note_ts(kt *k, bool has_ts, double ts_d)
{
    if (has_ts && k->hta) {
        double c = ceil(ts_d);
        if (c > -9e15 && c < 9e15 && (!k->any_ts || (int64_t)c < k->min_us))
            k->min_us = (int64_t)c;
        k->any_ts = true;
    } else if (has_ts)
        k->any_ts = true;
}

static sp_status handle_event(kt *k, const sp_json_token *open)
{
    kt_event *e = &k->e;
    k->events++;
    note_ts(k, e->has_ts, e->ts_d);
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

/* ---------- the second half on a second thread ---------- */

/* A large plain file's traceEvents array is parsed in two halves at once (docs/kineto.md): this
 * thread from the array's start, a second one from the first element that begins after a ',' at the
 * array's level at or after the middle byte (sp_json_split, scanned exactly from the array's '[').
 * The second thread never touches the model: it reads events with read_event into a list of items in
 * file order, each event whole or, where handle_event would only count it, as a count; when this
 * thread's own lexer reaches that element and finds it exactly where the finder said (offset, line,
 * column), it replays the list through handle_event and carries on with the second lexer after the
 * array. So the model, every counter and the first error in file order are those of the serial
 * import; anything else (the point not confirmed, a read or memory failure on the second thread)
 * leaves this thread to go on serially from where it is. */

static int g_kt_mode = SP_KINETO_AUTO;
static uint64_t g_kt_split_at;          /* tests: the finder's target byte (0: the middle) */
static atomic_ulong g_kt_parallel_runs;  /* hand-overs so far, for tests */

void sp_import_kineto_set_mode(int mode, uint64_t split_at)
{
    g_kt_mode = mode;
    g_kt_split_at = split_at;
}

unsigned long sp_import_kineto_parallel_runs(void)
{
    return atomic_load(&g_kt_parallel_runs);
}

enum { IT_EVENT = 1, IT_RUN, IT_HTA_TS, IT_SKIPPED, IT_ERROR, IT_END };

#define KT_HDR offsetof(kt_event, name)   /* an event without its name text */
#define KT_SCAN_CHUNK (1u << 20)

typedef struct kt_par {
    kt *k;                       /* the importer; the thread reads only its options and map */
    kt *k2;                      /* the thread's own state: lexer, event, context */
    sp_import_ctx ctx2;
    sp_input *in_scan, *in_parse;
    uint64_t p0, line_start0, target;
    uint32_t line0;
    sp_json_resume at;           /* split 1: where the second half starts */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int split;                   /* under mu: 0 not yet known, 1 found, -1 none */
    bool done;                   /* under mu: the thread has finished */
    sp_json_limits lim;
    atomic_bool cancel;
    /* written by the thread, read after the join */
    unsigned char *buf;
    size_t n, cap, run;          /* run: offset + 1 of the open count item (0: none) */
    bool unusable;               /* memory or read failure: the serial path goes on */
} kt_par;

static bool it_put(kt_par *p, const void *data, size_t n)
{
    if (p->unusable)
        return false;
    if (p->n + n > p->cap) {
        size_t cap = p->cap ? p->cap : 1u << 16;
        while (cap < p->n + n)
            cap *= 2;
        unsigned char *b = realloc(p->buf, cap);
        if (!b) {
            p->unusable = true;
            return false;
        }
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->n, data, n);
    p->n += n;
    return true;
}

static void it_tag(kt_par *p, uint8_t tag)
{
    p->run = 0;
    it_put(p, &tag, 1);
}

/* An event handle_event would only count (ignored or nothing kept): a count item, or under hta (whose
 * earliest-time rule depends on the order) the time itself. */
static void it_counted(kt_par *p, const kt_event *e, bool ignored)
{
    if (p->k->hta && e->has_ts) {
        unsigned char b[10] = {IT_HTA_TS, ignored};
        memcpy(b + 2, &e->ts_d, 8);
        p->run = 0;
        it_put(p, b, sizeof b);
        return;
    }
    /* IT_RUN: count (u32), ignored (u8), any_ts (u8) */
    if (p->run && p->buf[p->run + 4] == ignored) {
        uint32_t c;
        memcpy(&c, p->buf + p->run, 4);
        if (c < UINT32_MAX) {
            c++;
            memcpy(p->buf + p->run, &c, 4);
            p->buf[p->run + 5] |= e->has_ts;
            return;
        }
    }
    unsigned char b[7] = {IT_RUN, 1, 0, 0, 0, ignored, e->has_ts};
    uint32_t one = 1;
    memcpy(b + 1, &one, 4);
    if (it_put(p, b, sizeof b))
        p->run = p->n - 6;
}

static void it_event(kt_par *p, const sp_json_token *open, const kt_event *e)
{
    unsigned char b[17];
    b[0] = IT_EVENT;
    memcpy(b + 1, &open->offset, 8);
    memcpy(b + 9, &open->line, 4);
    memcpy(b + 13, &open->column, 4);
    p->run = 0;
    if (it_put(p, b, sizeof b) && it_put(p, e, KT_HDR))
        it_put(p, e->name, e->name_len);
}

static void it_error(kt_par *p, sp_status st)
{
    if (st == SP_ERR_IO || st == SP_ERR_NOMEM) {   /* not necessarily what the serial reader meets */
        p->unusable = true;
        return;
    }
    int32_t v = (int32_t)st;
    const char *msg = p->ctx2.err ? p->ctx2.err : "";
    unsigned char b[5] = {IT_ERROR};
    memcpy(b + 1, &v, 4);
    p->run = 0;
    if (it_put(p, b, sizeof b))
        it_put(p, msg, strlen(msg) + 1);
}

/* Which events handle_event only counts, decided exactly as it decides: 1 ignored (counted in
 * files[].ignored), 2 nothing kept, 0 anything else (kept, or an error: replayed whole). */
static int counted_only(const kt *k, const kt_event *e)
{
    if (e->ph != 'X')
        return e->ph == 0 ? 0 : 1;
    if (!e->has_ts || (k->hta && (!(fabs(e->ts_d) < 4e15) || !(e->dur_d < 4e15))))
        return 0;
    if (e->name_len > 13 && memcmp(e->name, "ProfilerStep#", 13) == 0)
        return 0;
    switch (e->cat) {
    case CAT_KERNEL:
    case CAT_MEMCPY:
    case CAT_MEMSET:
    case CAT_SYNC:
        return 0;
    case CAT_RUNTIME:
        return !e->has_corr || e->corr == 0 ? 2 : 0;
    case CAT_ANNOT:
    case CAT_GPU_ANNOT:
    case CAT_CPU_OP: {
        sp_annot_name a;
        const char *why = NULL;
        int r = e->name_len < 5 ? 0 : sp_annot_parse(&k->map, e->name, e->name_len, &a, &why);
        if (r != 0)
            return 0;
        if (e->cat != CAT_ANNOT)   /* keep_range keeps a cpu_op only as ProfilerStep#N (above) */
            return 2;
        return sp_mark_name_excluded(e->name, e->name_len) ? 2 : 0;
    }
    default:
        return 1;
    }
}

static void par_publish(kt_par *p, int split)
{
    pthread_mutex_lock(&p->mu);
    p->split = split;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* The finder, from the array's '[' to the split point. */
static int par_find(kt_par *p)
{
    unsigned char *chunk = malloc(KT_SCAN_CHUNK);
    if (!chunk || sp_input_open_at(p->k->ctx->in, p->p0, &p->in_scan)) {
        free(chunk);
        return -1;
    }
    sp_json_split sc;
    sp_json_split_init(&sc, p->target - p->p0);
    int r = 0;
    while (r == 0 && !atomic_load_explicit(&p->cancel, memory_order_relaxed)) {
        ssize_t got = sp_input_read(p->in_scan, chunk, KT_SCAN_CHUNK);
        if (got <= 0)
            break;
        r = sp_json_split_feed(&sc, chunk, (size_t)got);
    }
    free(chunk);
    sp_input_close(p->in_scan);
    p->in_scan = NULL;
    if (r != 1 || sc.lines > UINT32_MAX - p->line0)
        return -1;
    p->at.offset = p->p0 + sc.found;
    p->at.line = p->line0 + (uint32_t)sc.lines;
    p->at.line_start = sc.lines ? p->p0 + sc.line_start : p->line_start0;
    return 1;
}

/* The second thread's loop: read_events, writing items instead of calling handle_event. */
static void par_parse(kt_par *p)
{
    kt *k2 = p->k2;
    if (sp_input_open_at(p->k->ctx->in, p->at.offset, &p->in_parse) ||
        sp_json_init_input_after_comma(&k2->lx, p->in_parse, &p->lim, &p->at)) {
        p->unusable = true;
        return;
    }
    sp_json_token t;
    for (uint32_t i = 0; !p->unusable; i++) {
        if ((i & 255) == 0 && atomic_load_explicit(&p->cancel, memory_order_relaxed))
            return;
        if (g_kt_fast && fast_event(k2, UINT64_MAX, &t)) {
            if (g_kt_observer)
                observe(&k2->e, &t, true);
            int c = counted_only(p->k, &k2->e);
            if (c)
                it_counted(p, &k2->e, c == 1);
            else
                it_event(p, &t, &k2->e);
            continue;
        }
        if (sp_json_next(&k2->lx, &t)) {
            it_error(p, lex_fail(k2));
            return;
        }
        if (t.type == SP_JSON_ARR_END) {
            it_tag(p, IT_END);
            return;
        }
        if (t.type != SP_JSON_OBJ_BEGIN) {
            if (!k2->lenient) {
                it_error(p, fail_at(k2, SP_ERR_PARSE, &t, "expected an event object in \"traceEvents\""));
                return;
            }
            if (t.type == SP_JSON_ARR_BEGIN && sp_json_skip_rest(&k2->lx)) {
                it_error(p, lex_fail(k2));
                return;
            }
            it_tag(p, IT_SKIPPED);
            continue;
        }
        const sp_json_token *open = &t;
        uint32_t depth = t.depth;
        sp_status st = read_event(k2, open);
        if (st == SP_OK && g_kt_observer)
            observe(&k2->e, open, false);
        if (st == SP_OK) {
            int c = counted_only(p->k, &k2->e);
            if (c)
                it_counted(p, &k2->e, c == 1);
            else
                it_event(p, open, &k2->e);
            continue;
        }
        if (st == SP_ERR_PARSE && k2->lenient && k2->lx.status == SP_OK) {
            while (k2->lx.depth >= depth)
                if (sp_json_skip_rest(&k2->lx)) {
                    it_error(p, lex_fail(k2));
                    return;
                }
            it_tag(p, IT_SKIPPED);
            continue;
        }
        it_error(p, st);
        return;
    }
}

static void *par_main(void *arg)
{
    kt_par *p = arg;
    int r = par_find(p);
    par_publish(p, r);
    if (r == 1)
        par_parse(p);
    pthread_mutex_lock(&p->mu);
    p->done = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void par_free(kt_par *p)
{
    if (!p)
        return;
    if (p->k2) {
        atomic_fetch_add(&g_kt_fast_events, p->k2->fast_events);
        sp_json_fini(&p->k2->lx);
        free(p->k2);
    }
    sp_input_close(p->in_scan);
    sp_input_close(p->in_parse);
    free(p->ctx2.err);
    free(p->buf);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

/* Stops (when `cancel`) and joins the thread, and frees it all. */
static void par_end(kt_par *p, bool cancel)
{
    if (!p)
        return;
    if (cancel)
        atomic_store(&p->cancel, true);
    pthread_join(p->th, NULL);
    par_free(p);
}

/* Starts the second thread where it is worth it: right after the traceEvents array's '['. NULL: the
 * serial path alone (a gzip file, a pipe, a small file, no memory or thread). */
static kt_par *par_start(kt *k)
{
    if (g_kt_mode == SP_KINETO_SERIAL)
        return NULL;
    uint64_t size = sp_input_size(k->ctx->in);
    if (size == 0 || k->lx.kinds ||
        (g_kt_mode == SP_KINETO_AUTO && (size < KT_PAR_MIN_BYTES || sysconf(_SC_NPROCESSORS_ONLN) < 2)))
        return NULL;
    uint64_t off;
    uint32_t line, column;
    sp_json_position(&k->lx, &off, &line, &column);
    if (off >= size)
        return NULL;
    kt_par *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->k = k;
    p->p0 = off;
    p->line0 = line;
    p->line_start0 = off - (column - 1);
    p->target = g_kt_split_at ? g_kt_split_at : off + (size - off) / 2;
    if (p->target < off)
        p->target = off;
    p->at.depth = k->lx.depth;
    p->at.kinds = k->lx.kinds_small;
    p->lim = k->lx.lim;
    p->ctx2 = *k->ctx;
    p->k2 = calloc(1, sizeof *p->k2);
    if (k->ctx->err && k->ctx->errlen)
        p->ctx2.err = calloc(1, k->ctx->errlen);
    bool ok = p->k2 && (p->ctx2.err || !k->ctx->err || !k->ctx->errlen);
    ok = ok && pthread_mutex_init(&p->mu, NULL) == 0;
    if (ok && pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        ok = false;
    }
    if (!ok) {
        free(p->k2);
        free(p->ctx2.err);
        free(p);
        return NULL;
    }
    if (!k->ctx->err || !k->ctx->errlen) {
        p->ctx2.err = NULL;
        p->ctx2.errlen = 0;
    }
    p->k2->ctx = &p->ctx2;
    p->k2->hta = k->hta;
    p->k2->lenient = k->lenient;
    atomic_init(&p->cancel, false);
    if (pthread_create(&p->th, NULL, par_main, p) != 0) {
        par_free(p);
        return NULL;
    }
    return p;
}

/* Replays the second thread's items through handle_event, in file order. */
static sp_status par_replay(kt *k, kt_par *p, bool *ended)
{
    const unsigned char *q = p->buf, *end = p->buf + p->n;
    sp_ev_file *f = &k->ev->files[k->file];
    while (q < end) {
        uint8_t tag = *q++;
        switch (tag) {
        case IT_EVENT: {
            sp_json_token open;
            memset(&open, 0, sizeof open);
            open.type = SP_JSON_OBJ_BEGIN;
            memcpy(&open.offset, q, 8);
            memcpy(&open.line, q + 8, 4);
            memcpy(&open.column, q + 12, 4);
            q += 16;
            memcpy(&k->e, q, KT_HDR);
            q += KT_HDR;
            memcpy(k->e.name, q, k->e.name_len);
            k->e.name[k->e.name_len] = 0;
            q += k->e.name_len;
            sp_status st = handle_event(k, &open);
            if (st == SP_ERR_PARSE && k->lenient) {   /* the serial loop's skip (the event is read) */
                f->skipped++;
                continue;
            }
            if (st)
                return st;
            break;
        }
        case IT_RUN: {
            uint32_t c;
            memcpy(&c, q, 4);
            k->events += c;
            if (q[4])
                f->ignored += c;
            if (q[5])
                k->any_ts = true;
            q += 6;
            break;
        }
        case IT_HTA_TS: {
            double d;
            memcpy(&d, q + 1, 8);
            k->events++;
            note_ts(k, true, d);
            if (q[0])
                f->ignored++;
            q += 9;
            break;
        }
        case IT_SKIPPED:
            f->skipped++;
            break;
        case IT_ERROR: {
            int32_t v;
            memcpy(&v, q, 4);
            if (k->ctx->err && k->ctx->errlen)
                snprintf(k->ctx->err, k->ctx->errlen, "%s", (const char *)q + 4);
            return (sp_status)v;
        }
        case IT_END:
            *ended = true;
            return SP_OK;
        default:
            return model_fail(k, SP_ERR_INVALID);   /* cannot happen: the list is ours */
        }
    }
    return SP_OK;   /* not reached: a finished thread's list ends with IT_END or IT_ERROR */
}

/* At the first element at or past the target: when the finder's point is exactly this element,
 * waits for the second thread and replays its half; returns 1 with *st the outcome (the array is
 * then read: k->lx is the second lexer, after its ']'), or 0 to go on serially from `t`. */
static int par_handover(kt *k, kt_par *p, const sp_json_token *t, sp_status *st)
{
    pthread_mutex_lock(&p->mu);
    while (p->split == 0)
        pthread_cond_wait(&p->cv, &p->mu);
    int split = p->split;
    pthread_mutex_unlock(&p->mu);
    bool opens = t->type == SP_JSON_OBJ_BEGIN || t->type == SP_JSON_ARR_BEGIN;
    if (split != 1 || t->offset != p->at.offset || t->line != p->at.line ||
        (uint64_t)t->column != p->at.offset - p->at.line_start + 1 || t->depth - opens != p->at.depth) {
        atomic_store(&p->cancel, true);   /* not confirmed: stop it now, the serial path goes on */
        return 0;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->done)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    if (p->unusable)
        return 0;
    bool ended = false;
    *st = par_replay(k, p, &ended);
    if (*st == SP_OK && !ended)
        return 0;   /* cannot happen (see par_replay); k->lx still stands at `t` */
    if (*st == SP_OK) {
        sp_json_fini(&k->lx);
        k->lx = p->k2->lx;                  /* carries on after the array's ']' */
        memset(&p->k2->lx, 0, sizeof p->k2->lx);
        k->tail_in = p->in_parse;           /* the second lexer's stream */
        k->tail_at = p->at.offset;
        p->in_parse = NULL;
        sp_input_note_read(k->ctx->in, k->tail_at + sp_input_offset(k->tail_in));
    }
    atomic_fetch_add(&g_kt_parallel_runs, 1);
    return 1;
}

static sp_status read_events_from(kt *k, kt_par *p)
{
    sp_json_token t;
    for (;;) {
        if (g_kt_fast && fast_event(k, p ? p->target : UINT64_MAX, &t)) {
            if (g_kt_observer)
                observe(&k->e, &t, true);
            sp_status hst = handle_event(k, &t);
            if (hst == SP_ERR_PARSE && k->lenient) {   /* as below: the event is read whole */
                k->ev->files[k->file].skipped++;
                continue;
            }
            if (hst)
                return hst;
            continue;
        }
        LEX(sp_json_next(&k->lx, &t));
        if (t.type == SP_JSON_ARR_END)
            return SP_OK;
        if (p && t.offset >= p->target) {
            sp_status st = SP_OK;
            int done = par_handover(k, p, &t, &st);
            p = NULL;   /* joined or declined: the serial loop goes on alone */
            if (done)
                return st;
        }
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
        if (st == SP_OK && g_kt_observer)
            observe(&k->e, open, false);
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

static sp_status read_events(kt *k)
{
    kt_par *p = par_start(k);
    sp_status st = read_events_from(k, p);
    par_end(p, true);   /* stops it if this thread ended before the hand-over; joined ones join at once */
    return st;
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
    if (k->tail_in)   /* progress: the bytes the second thread read count as read */
        sp_input_note_read(ctx->in, k->tail_at + sp_input_offset(k->tail_in));
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
    atomic_fetch_add(&g_kt_fast_events, k->fast_events);
    sp_json_fini(&k->lx);
    sp_input_close(k->tail_in);
    free(k->launches);
    sp_mark_cands_free(&k->ranges);
    sp_annot_set_free(&k->annots);
    free(k);
    return st;
}
