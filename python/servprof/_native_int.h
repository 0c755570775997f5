/* servprof._native's internals shared by its two files: _native.c (the module, Recorder, Request,
 * Stage, Batch, ModuleTimer) and _native_asgi.c (the ASGI middleware's request path, which opens and
 * ends Requests). Not installed; nothing outside the extension includes it. Every name that crosses
 * the files carries sp_py_; the rest of each file is static. */
#ifndef SERVPROF_PY_NATIVE_INT_H
#define SERVPROF_PY_NATIVE_INT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include <servprof/trace.h>

/* On every name that crosses the files: hidden, so the extension exports only PyInit__native and, as
 * the names cannot be interposed, calls to them are direct and the compiler may still inline them in
 * the file that defines them (-fPIC forbids both for a default-visibility function) */
#if defined(__GNUC__)
#define SP_PY_INTERNAL __attribute__((visibility("hidden")))
#else
#define SP_PY_INTERNAL
#endif

/* An exception taken out of the thread state and put back, the same on 3.10/3.11 (type, value,
 * traceback: PyErr_Fetch, deprecated in 3.12) and 3.12+ (one object: PyErr_GetRaisedException) */
typedef struct {
    PyObject *type, *value, *tb;
} sp_py_held_exc;

static inline void sp_py_exc_hold(sp_py_held_exc *h)
{
#if PY_VERSION_HEX >= 0x030C0000
    h->type = h->tb = NULL;
    h->value = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&h->type, &h->value, &h->tb);
    PyErr_NormalizeException(&h->type, &h->value, &h->tb);
#endif
}

static inline void sp_py_exc_raise(sp_py_held_exc *h)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(h->value);
#else
    PyErr_Restore(h->type, h->value, h->tb);
#endif
    h->type = h->value = h->tb = NULL;
}

static inline void sp_py_exc_drop(sp_py_held_exc *h)
{
    Py_CLEAR(h->type);
    Py_CLEAR(h->value);
    Py_CLEAR(h->tb);
}

/* The longest request id, in bytes: _common.check_request_id's, and X-Request-Id's that the middleware
 * takes as the request id */
#define SP_PY_MAX_LABEL 255

/* Int request ids that ended (docs/python.md, "Request ids used twice"): an int id is the
 * trace's id, so a second request under one makes a trace servprof analyze refuses. Ids below
 * SP_PY_ENDED_DENSE are kept for the recorder's life in a bitmap (128 KiB, taken at the first); larger
 * ones in two generations of SP_PY_ENDED_RECENT each (open addressing, 1 MiB a table, taken at the
 * first): the newer fills, and when full becomes the older, the older emptied to be the newer, so at
 * least the last SP_PY_ENDED_RECENT larger ids to end (at most twice that) are known. _pure.py keeps
 * the same ids by the same rule (without SP_PY_ENDED_PROBES' limit: ids crafted to collide). */
#define SP_PY_ENDED_DENSE (UINT64_C(1) << 20)
#define SP_PY_ENDED_RECENT (1u << 16)
/* the longest probe in a table (ids crafted to collide past it are not kept: _native.c, ended_in) */
#define SP_PY_ENDED_PROBES 256

typedef struct sp_py_ended_ids {
    uint8_t *dense;          /* bit i: id i ended; NULL: none yet (or no memory: then not checked) */
    uint64_t *gen[2];        /* 2 x SP_PY_ENDED_RECENT slots each, 0 empty; NULL: none yet */
    uint32_t count;          /* ids in gen[cur] */
    int cur;                 /* the generation that fills */
} sp_py_ended_ids;

typedef struct RecorderObject {
    PyObject_HEAD
    sp_recorder *rec;        /* NULL: closed, or the open failed */
    PyObject *path;          /* str */
    PyObject *names;         /* dict: stage name -> id (known + declared) */
    PyObject *knames;        /* dict: kernel name -> id */
    PyObject *open;          /* dict: request key -> Request */
    PyObject *annotator;     /* None, or servprof.torch's record_function annotator */
    PyObject *annot_enabled; /* NULL, or the annotator's `enabled` (a callable: is a profiler running?) */
    PyObject *before_close;  /* list of callables run by close() before the file is closed */
    PyObject *weakreflist;
    uint64_t next_label, next_batch;
    uint64_t after_close, unfinished;
    uint64_t final_drops[SP_DROP_CAUSE_COUNT];
    int have_final;
    sp_py_ended_ids ended;   /* int ids whose request ended while the recorder was open */
} RecorderObject;

/* how many disjoint intervals a Request keeps of what its spans and batches cover (RequestObject.cover;
 * _common.COVER_KEEP) */
#define SP_PY_COVER 8

typedef struct RequestObject {
    PyObject_HEAD
    RecorderObject *rec;
    PyObject *key;           /* the caller's id, str or int */
    uint64_t id;             /* the trace's u64 id */
    int64_t tokens;          /* < 0: unknown */
    uint64_t arrival, done, first, last;
    int has_span;            /* first/last are set */
    int ended;               /* 0 open, 1 ended, 2 ended by the recorder's close (unfinished) */
    int outcome, status, outcome_set;
    uint64_t next_token;     /* the index r.token() gives when none is named */
    int has_token;           /* a token is recorded: tok_hi, tok_hi_time, tok_max are set */
    uint64_t tok_hi, tok_hi_time; /* the highest token index recorded and its time */
    uint64_t tok_max;        /* the latest token time: an implicit end is not before it */
    PyObject *annot;
    PyObject *weakreflist;
    /* what the application's spans and batches cover (not the middleware's filled edges): sorted,
     * disjoint [s, e) pairs, the two closest merged past SP_PY_COVER (so a superset of the truth);
     * `_covered` gives them to servprof.loop, whose event_loop spans keep out of them */
    uint64_t cover[2 * (SP_PY_COVER + 1)];
    int ncover;
} RequestObject;

/* servprof.Recorder and servprof.Request (_native.c) */
SP_PY_INTERNAL extern PyTypeObject sp_py_recorder_type, sp_py_request_type;

/* Opens request `key` (str or int, checked here) arriving at `arrival` with `tok` input tokens (< 0:
 * unknown) on `rec`: a new reference, or NULL with an exception. A closed recorder counts it as
 * after_close and returns a Request that records nothing. */
SP_PY_INTERNAL PyObject *sp_py_request_open(RecorderObject *rec, PyObject *key, int64_t tok, uint64_t arrival);

/* Is int id `id` (whose Python int is `key`) taken on open recorder `rec`: 1 by an open request, 2 by
 * one that ended (sp_py_ended_ids: within its bounds), 0 free, -1 with an exception. */
SP_PY_INTERNAL int sp_py_int_id_taken(RecorderObject *rec, PyObject *key, uint64_t id);

/* How many taken numbers the middlewares' request numbering skips before it gives up on a request
 * (asgi.py's NUMBER_SKIPS) */
#define SP_PY_NUMBER_SKIPS 65536

/* A span the middleware fills in (the edges the application left unrecorded): recorded as
 * sp_py_request_record_span does, but not added to what the application's spans cover. */
SP_PY_INTERNAL void sp_py_request_record_fill(RequestObject *r, sp_name_id nid, uint64_t s, uint64_t e);

/* Ends request `r` at `t` (its done time) with `outcome` (an sp_outcome; SP_OUTCOME_OK: no outcome
 * record) and HTTP `status`: the request record, its removal from the recorder's open requests, the
 * annotator's range end. 0, or -1 with an exception. */
SP_PY_INTERNAL int sp_py_request_finish(RequestObject *r, uint64_t t, int outcome, int status);

/* The done time of an end nobody timed (a with block's exit, close(), the ASGI middleware's end) at
 * `t`: not before `r`'s arrival nor a token of it, which the analysis would refuse (docs/python.md) */
static inline uint64_t sp_py_implicit_done(const RequestObject *r, uint64_t t)
{
    if (t < r->arrival)
        t = r->arrival;
    return r->has_token && t < r->tok_max ? r->tok_max : t;
}

/* Records stage `nid` of `r` from `s` to `e` (s <= e: the caller's to check) and widens the request's
 * first/last span; a closed recorder counts it as after_close instead. */
SP_PY_INTERNAL void sp_py_request_record_span(RequestObject *r, sp_name_id nid, uint64_t s, uint64_t e);

/* A time in ns: a non-negative int below 2**64-1, else _common.check_time's exception. 0 with *out,
 * or -1 with an exception; `what` names the argument in the message. */
SP_PY_INTERNAL int sp_py_get_time(PyObject *o, uint64_t *out, const char *what);

/* sp_py_get_time, where `o` NULL or None means now (sp_now_ns) */
SP_PY_INTERNAL int sp_py_get_time_or_now(PyObject *o, uint64_t *out, const char *what);

/* asyncio.CancelledError, imported on first need: a borrowed reference, or NULL with an exception */
SP_PY_INTERNAL PyObject *sp_py_cancelled_error(void);

/* A getter's optional time: None when !has, else an int (a new reference, or NULL with an exception) */
static inline PyObject *sp_py_opt_time(int has, uint64_t v)
{
    if (!has)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(v);
}

/* Adds the ASGI middleware's part to `module` (_native_asgi.c): its functions (_asgi_begin, _asgi_end,
 * _asgi_call, _asgi_setup, _parse_traceparent) and types (_AsgiSend, _AsgiCall, _AsgiReceive,
 * _AsgiRecvWait), the names it interns, and the fork handler that reseeds its span ids. Called once by
 * PyInit__native. 0, or -1 with an exception. */
SP_PY_INTERNAL int sp_py_asgi_register(PyObject *module);

#endif
