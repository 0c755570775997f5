/* The Kineto importer's internals shared by its files (docs/kineto.md): the importer's state (kt), one
 * event as read (kt_event), and the names that cross the files. Not installed; nothing outside
 * src/import/kineto*.c includes it. The files call one way, each only those below it:
 *   kineto.c        the document, the passes after the events, sp_import_kineto
 *   kineto_par.c    the traceEvents array: the event loop, and its second half on a second thread
 *   kineto_keep.c   what each event read becomes (handle_event) and what it would only count
 *   kineto_fast.c   the fast path for ordinary events (fast_event)
 *   kineto_event.c  the event member rules and read_event (the lexer's reading), the messages
 * Every name that crosses the files carries sp_kt_ and is hidden (comments call it by the rest of its
 * name: read_event, handle_event, ...); the rest of each file is static. */
#ifndef SERVPROF_IMPORT_KINETO_INT_H
#define SERVPROF_IMPORT_KINETO_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util_int.h"
#include "import/annotation_int.h"
#include "import/import_int.h"
#include "import/json.h"
#include "import/step_marks_int.h"

/* On every name that crosses the files: hidden, so no shared library built from these objects exports
 * it and calls to it are direct. The fast path's hot steps stay in its own file (kf_*) or are static
 * inline below. */
#if defined(__GNUC__)
#define SP_KT_INTERNAL __attribute__((visibility("hidden")))
#else
#define SP_KT_INTERNAL
#endif

#define KT_MAX_NAME (SP_EV_MAX_STRING - 1)   /* longer event names are cut (kernel names can be huge) */

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

/* Why a member's value is not what read_event takes (each has its message, read_event's value_fail;
 * the fast path gives up on any of them). */
enum { KV_OK = 0, KV_PH, KV_CAT, KV_NAME, KV_ID, KV_TIME_TYPE, KV_TIME_RANGE, KV_TIME_NAN, KV_DUR_NEG };

/* For the functions with a `kt *k`: a lexer or model failure returns its message */
#define LEX(expr)                       \
    do {                                \
        if ((expr) != SP_OK)            \
            return sp_kt_lex_fail(k);   \
    } while (0)

#define MODEL(expr)                           \
    do {                                      \
        sp_status st_ = (expr);               \
        if (st_)                              \
            return sp_kt_model_fail(k, st_);  \
    } while (0)

/* ---------- kineto_event.c: messages, the member rules, read_event ---------- */

SP_KT_INTERNAL sp_status sp_kt_fail_at(kt *k, sp_status st, const sp_json_token *t, const char *fmt, ...)
    SP_PRINTF(4, 5);
SP_KT_INTERNAL sp_status sp_kt_lex_fail(kt *k);
SP_KT_INTERNAL sp_status sp_kt_model_fail(kt *k, sp_status st);
SP_KT_INTERNAL int sp_kt_time_value(bool hta, const sp_json_token *t, int64_t *ns, double *d);
SP_KT_INTERNAL int sp_kt_args_key(const char *key, size_t n);
SP_KT_INTERNAL void sp_kt_args_value(kt_event *e, int which, const sp_json_token *t);
SP_KT_INTERNAL int sp_kt_event_key(const char *key, size_t n);
SP_KT_INTERNAL int sp_kt_event_value(kt_event *e, bool hta, int which, const sp_json_token *t, uint64_t *pidh,
                                     uint64_t *tidh);
SP_KT_INTERNAL void sp_kt_event_thread(kt_event *e, uint64_t pidh, uint64_t tidh);
SP_KT_INTERNAL sp_status sp_kt_read_event(kt *k, const sp_json_token *open);

/* A time member's double under --hta-compat, the value HTA's pandas holds (time_value's last rule;
 * the fast path applies it after its own ns): KV_OK or KV_TIME_NAN. */
static inline int time_double(const sp_json_token *t, double *d)
{
    if (t->is_int)
        *d = (double)t->i;
    else if (sp_json_number_to_double(t->str, t->len, d))
        return KV_TIME_NAN;
    return KV_OK;
}

/* The per-event steps both readers take, inline in each (the fast path takes them once an event) */

/* Starts an event: what read_event fills, empty; *pidh and *tidh the hashes of absent ids. */
static inline void event_reset(kt_event *e, uint64_t *pidh, uint64_t *tidh)
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

/* The category an X event is handled by: its own, except that a range with no "cat" at all (torch.profiler
 * without Kineto, e.g. Debian's torch 1.13, writes record_function ranges so) named by servprof's
 * annotation convention ("servprof.request:...", docs/annotations.md) is read as a user_annotation. */
static inline uint8_t event_cat(const kt_event *e)
{
    return e->cat == CAT_OTHER && e->name_len > 9 && memcmp(e->name, "servprof.", 9) == 0 ? CAT_ANNOT : e->cat;
}

/* The args of events whose kind is already known to need none (cpu_op, annotations, python_function,
 * flows, ...: most of a trace's args) are passed over whole, still checked to be an object. With
 * duplicate "cat"/"ph" keys the args are judged by the value seen before them. */
static inline bool args_unneeded(const kt_event *e)
{
    return (e->ph && e->ph != 'X') || e->cat == CAT_CPU_OP || e->cat == CAT_ANNOT || e->cat == CAT_GPU_ANNOT ||
           e->cat == CAT_KNOWN_IGNORED;
}

/* ---------- kineto_fast.c: the fast path ---------- */

SP_KT_INTERNAL extern bool sp_kt_fast_on;                 /* tests: off reads every event with read_event */
SP_KT_INTERNAL extern sp_kineto_observer sp_kt_observer;  /* tests: sees every event read */
SP_KT_INTERNAL extern atomic_ulong sp_kt_fast_total;      /* events read by the fast path so far */
SP_KT_INTERNAL void sp_kt_observe(const kt_event *e, const sp_json_token *open, bool fast);
SP_KT_INTERNAL bool sp_kt_fast_event(kt *k, uint64_t limit, sp_json_token *open);

/* ---------- kineto_keep.c: what each event becomes ---------- */

SP_KT_INTERNAL void sp_kt_note_ts(kt *k, bool has_ts, double ts_d);
SP_KT_INTERNAL sp_status sp_kt_handle_event(kt *k, const sp_json_token *open);
SP_KT_INTERNAL int sp_kt_counted_only(const kt *k, const kt_event *e);

/* ---------- kineto_par.c: the traceEvents array ---------- */

/* Reads the traceEvents array's elements (its '[' already read) through handle_event, on one
 * thread or, for a large plain file, two; the lexer then stands after its ']'. */
SP_KT_INTERNAL sp_status sp_kt_read_events(kt *k);

#endif
