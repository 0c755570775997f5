/* servprof._native: the recording API for Python as a C extension over libservprof's hot path.
 * Recorder, Request, Stage, Batch and ModuleTimer are C types so that a request with its stages and
 * a batch costs a few hundred ns of Python-visible work (docs/BENCHMARKS.md, "Python recording").
 * Behaviour and error messages match the ctypes backend (_pure.py): argument errors that the fast
 * paths here detect are re-raised by calling servprof._common's checks, so both backends word them
 * the same; tests/test_api.py runs against both.
 *
 * The GIL: the hot path (records, now_ns) keeps it. Each record takes tens of ns and never blocks;
 * releasing and retaking the GIL would cost more than the record, and would let close() run between
 * a caller's check that the recorder is open and its record. Calls that can wait (open, close, flush,
 * intern, set_property: locks, the writer thread, the disk) release it.
 *
 * The ASGI middleware's request path is in _native_asgi.c; what the two files share (the Recorder and
 * Request structs, the request's open and end) is declared in _native_int.h. */
#include "_native_int.h"

#include <string.h>

#define MAX_MEMBERS 4096

/* A read-only object attribute (None where unset), a getter rather than a PyMemberDef: structmember.h is
 * soft-deprecated since Python 3.12, where its T_OBJECT stands for a private CPython name (and
 * Py_T_OBJECT_EX raises where unset) */
#define SP_PY_OBJECT_GETTER(fn, type, field)                                                                 \
    static PyObject *fn(type *self, void *closure)                                                         \
    {                                                                                                      \
        return Py_NewRef(self->field ? self->field : Py_None);                                             \
    }
#define LABELLED_ID_BASE (UINT64_C(1) << 63)
#define N_OUTCOMES 5
#define TIMER_SLOTS 64

static const char *const outcome_names[N_OUTCOMES] = {"ok", "rejected", "error", "cancelled", "unfinished"};

/* from servprof._common (set at module init) */
static PyObject *g_common;         /* the module */
static PyObject *g_current_batch;  /* its ContextVar */
static PyObject *g_live;           /* WeakSet of open recorders (a forked child forgets their requests) */
/* set by servprof.torch while the CUPTI collector runs (sp_cupti_batch_begin / _end) */
static void (*g_cupti_begin)(uint64_t);
static void (*g_cupti_end)(void);

/* servprof.torch's annotator is installed (a recorder cleared by the garbage collector has none) */
#define HAS_ANNOT(r) ((r)->annotator && (r)->annotator != Py_None)

static PyObject *s_request_begin, *s_request_tokens, *s_stage_begin, *s_batch_begin, *s_end;

/* Calls servprof._common.<fn>(args...) to raise its exception; returns NULL with the error set. */
static PyObject *raise_via(const char *fn, PyObject *a, PyObject *b)
{
    PyObject *r = b ? PyObject_CallMethod(g_common, fn, "OO", a, b) : PyObject_CallMethod(g_common, fn, "O", a);
    if (r) { /* the check passed: the caller's own condition failed; say so plainly */
        Py_DECREF(r);
        PyErr_Format(PyExc_ValueError, "servprof: invalid argument for %s", fn);
    }
    return NULL;
}

/* A non-negative int below 2**64-1 (times) or 2**63 (counts): 0 on success, -1 with an exception. */
static int get_u64(PyObject *o, uint64_t limit, uint64_t *out, const char *checker, const char *what)
{
    if (PyLong_CheckExact(o)) {
        unsigned long long v = PyLong_AsUnsignedLongLong(o);
        if (!(v == (unsigned long long)-1 && PyErr_Occurred()) && v < limit) {
            *out = v;
            return 0;
        }
        PyErr_Clear();
    }
    PyObject *w = PyUnicode_FromString(what);
    if (w) {
        if (!strcmp(checker, "check_count")) {
            PyObject *r = PyObject_CallMethod(g_common, checker, "OOO", o, w, Py_False);
            Py_XDECREF(r);
            if (r)
                PyErr_Format(PyExc_ValueError, "%s is out of range", what);
        } else {
            raise_via(checker, o, w);
        }
        Py_DECREF(w);
    }
    return -1;
}
#define get_time(o, out, what) get_u64((o), UINT64_MAX, (out), "check_time", (what))
#define get_count(o, out, what) get_u64((o), LABELLED_ID_BASE, (out), "check_count", (what))

/* ---- int ids that ended (sp_py_ended_ids, _native_int.h) ---- */

#define ENDED_SLOT_BITS 17
#define ENDED_SLOTS (1u << ENDED_SLOT_BITS) /* 2 x SP_PY_ENDED_RECENT: a table at most half full */
_Static_assert(ENDED_SLOTS == 2 * SP_PY_ENDED_RECENT, "ended-id tables at most half full");

/* An id's first slot: ids that differ only in their low 3 bits share a cache line (8 slots of 8 bytes),
 * so consecutive ids (a counter) touch one line per 8 requests; the lines are spread by Fibonacci
 * hashing of the rest, so no pattern of ids (strides, high bits) piles up in one place. */
static uint32_t ended_slot(uint64_t id)
{
    uint64_t line = ((id >> 3) * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - (ENDED_SLOT_BITS - 3));
    return (uint32_t)(line << 3 | (id & 7));
}

/* Linear probing gives up after SP_PY_ENDED_PROBES slots (ids crafted to collide): a lookup then says
 * "not ended", an insert keeps nothing. So a call costs a bounded time whatever the ids. */
static int ended_in(const uint64_t *t, uint64_t id)
{
    uint32_t i = ended_slot(id);
    for (int n = 0; n < SP_PY_ENDED_PROBES; n++, i = (i + 1) & (ENDED_SLOTS - 1)) {
        if (t[i] == id)
            return 1;
        if (!t[i])
            return 0;
    }
    return 0;
}

static int ended_has(const sp_py_ended_ids *e, uint64_t id)
{
    if (id < SP_PY_ENDED_DENSE)
        return e->dense && (e->dense[id >> 3] >> (id & 7)) & 1;
    return e->gen[0] && (ended_in(e->gen[e->cur], id) || ended_in(e->gen[!e->cur], id));
}

/* Notes that int id `id` ended. Never fails: without memory for the tables the ids are not kept. */
static void ended_add(sp_py_ended_ids *e, uint64_t id)
{
    if (id < SP_PY_ENDED_DENSE) {
        if (!e->dense && !(e->dense = PyMem_Calloc(SP_PY_ENDED_DENSE / 8, 1)))
            return;
        e->dense[id >> 3] |= (uint8_t)(1u << (id & 7));
        return;
    }
    if (!e->gen[0]) {
        e->gen[0] = PyMem_Calloc(ENDED_SLOTS, sizeof(uint64_t));
        e->gen[1] = e->gen[0] ? PyMem_Calloc(ENDED_SLOTS, sizeof(uint64_t)) : NULL;
        if (!e->gen[1]) {
            PyMem_Free(e->gen[0]);
            e->gen[0] = NULL;
            return;
        }
    }
    if (ended_in(e->gen[e->cur], id))
        return; /* an id reused past the older generation ended again: kept once */
    if (e->count == SP_PY_ENDED_RECENT) { /* the newer is full: it becomes the older */
        e->cur = !e->cur;
        memset(e->gen[e->cur], 0, ENDED_SLOTS * sizeof(uint64_t));
        e->count = 0;
    }
    uint64_t *t = e->gen[e->cur];
    uint32_t i = ended_slot(id);
    for (int n = 0; n < SP_PY_ENDED_PROBES; n++, i = (i + 1) & (ENDED_SLOTS - 1))
        if (!t[i]) {
            t[i] = id;
            e->count++;
            return;
        }
}

static void ended_clear(sp_py_ended_ids *e)
{
    PyMem_Free(e->dense);
    PyMem_Free(e->gen[0]);
    PyMem_Free(e->gen[1]);
    memset(e, 0, sizeof *e);
}

/* get_time for _native_asgi.c (_native_int.h) */
int sp_py_get_time(PyObject *o, uint64_t *out, const char *what) { return get_time(o, out, what); }

/* A time argument that may be absent or None (then now): 0, or -1 with an exception. */
int sp_py_get_time_or_now(PyObject *o, uint64_t *out, const char *what)
{
    if (o && o != Py_None)
        return get_time(o, out, what);
    *out = sp_now_ns();
    return 0;
}

static int get_u32(PyObject *o, uint32_t *out, const char *what)
{
    if (PyLong_Check(o) && !PyBool_Check(o)) {
        unsigned long long v = PyLong_AsUnsignedLongLong(o);
        if (!(v == (unsigned long long)-1 && PyErr_Occurred()) && v <= 0xffffffffu) {
            *out = (uint32_t)v;
            return 0;
        }
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s %R is out of range (0 .. 2**32-1)", what, o);
        return -1;
    }
    PyErr_Format(PyExc_TypeError, "%s must be an int", what);
    return -1;
}

/* Keyword arguments of a vectorcall method: fills vals[i] for names[i] (borrowed), refusing unknown
 * ones. Positional arguments beyond `npos` are refused. */
static int parse_kw(const char *fn, Py_ssize_t nargs, Py_ssize_t npos, PyObject *const *args, PyObject *kwnames,
                    const char *const *names, PyObject **vals, int nnames)
{
    if (nargs != npos) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd positional argument%s (%zd given)", fn, npos,
                     npos == 1 ? "" : "s", nargs);
        return -1;
    }
    if (!kwnames)
        return 0;
    Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nk; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        const char *ks = PyUnicode_AsUTF8(key);
        if (!ks)
            return -1;
        int i;
        for (i = 0; i < nnames; i++)
            if (!strcmp(ks, names[i]))
                break;
        if (i == nnames) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%s'", fn, ks);
            return -1;
        }
        vals[i] = args[nargs + k];
    }
    return 0;
}

static PyObject *status_error(sp_status st, const char *what)
{
    switch (st) {
    case SP_ERR_NOMEM:
        return PyErr_Format(PyExc_MemoryError, "%s: out of memory", what);
    case SP_ERR_STATE:
        return PyErr_Format(PyExc_RuntimeError,
                            "%s: a servprof recorder is already open in this process (one per process; close "
                            "it first)", what);
    case SP_ERR_IO: {
        char buf[512];
        sp_recorder_last_error(buf, sizeof buf);
        if (buf[0])
            return PyErr_Format(PyExc_OSError, "%s", buf);
        return PyErr_Format(PyExc_OSError, "%s: I/O error", what);
    }
    default:
        return PyErr_Format(PyExc_ValueError, "%s: %s", what, sp_status_str(st));
    }
}

/* ======================================================================================== */
/* Recorder                                                                                  */

/* RecorderObject and RequestObject, which _native_asgi.c also touches: _native_int.h */

typedef struct StageObject {
    PyObject_HEAD
    RequestObject *req;
    PyObject *name;
    sp_name_id nid;
    uint64_t start;
    int state;               /* 0 new, 1 entered, 2 exited */
    PyObject *annot;
} StageObject;

typedef struct BatchObject {
    PyObject_HEAD
    RecorderObject *rec;
    uint64_t id;
    uint64_t *members;
    Py_ssize_t n;
    PyObject *reqs;          /* list of the members' Request objects */
    uint64_t effective, padded, start, end;
    int state, cupti;
    PyObject *token;
    PyObject *annot;
    /* a Step (a Batch of a continuous-batching scheduler): per member phase and tokens, KV cache */
    int is_step;
    uint8_t *phases;
    uint32_t *tokens;
    uint64_t kv_used, kv_capacity;
} BatchObject;

static PyTypeObject StageType, BatchType, StepType, ModuleTimerType;

static void request_edges(RequestObject *r, uint64_t s, uint64_t e)
{
    if (!r->has_span || s < r->first)
        r->first = s;
    if (!r->has_span || e > r->last)
        r->last = e;
    r->has_span = 1;
}

/* Adds [s, e) to r->cover (sorted, disjoint; overlapping or touching intervals merged); past
 * SP_PY_COVER intervals the two with the smallest gap between them become one. _common.cover_add is the
 * same in Python (the ctypes backend's). */
static void cover_add(RequestObject *r, uint64_t s, uint64_t e)
{
    if (e <= s)
        return;
    uint64_t *c = r->cover;
    int n = r->ncover, i = 0;
    while (i < n && c[2 * i + 1] < s)
        i++;
    int j = i;
    while (j < n && c[2 * j] <= e) {
        if (c[2 * j] < s)
            s = c[2 * j];
        if (c[2 * j + 1] > e)
            e = c[2 * j + 1];
        j++;
    }
    /* intervals [i, j) become the one [s, e) */
    int gone = j - i;
    if (gone != 1)
        memmove(c + 2 * (i + 1), c + 2 * j, (size_t)(n - j) * 2 * sizeof *c);
    c[2 * i] = s;
    c[2 * i + 1] = e;
    n += 1 - gone;
    if (n > SP_PY_COVER) {
        int k = 0;
        for (int m = 1; m + 1 < n; m++)
            if (c[2 * (m + 1)] - c[2 * m + 1] < c[2 * (k + 1)] - c[2 * k + 1])
                k = m;
        c[2 * k + 1] = c[2 * (k + 1) + 1];
        memmove(c + 2 * (k + 1), c + 2 * (k + 2), (size_t)(n - k - 2) * 2 * sizeof *c);
        n--;
    }
    r->ncover = n;
}

static void request_touch(RequestObject *r, uint64_t s, uint64_t e)
{
    request_edges(r, s, e);
    cover_add(r, s, e);
}

/* Calls the annotator's `method`(a[, b]) and keeps the handle it returns in *annot (None: no handle
 * to end): 0, or -1 with its exception. */
static int call_annot_begin(RecorderObject *rec, PyObject *method, PyObject *a, PyObject *b, PyObject **annot)
{
    if (rec->annot_enabled) { /* no profiler running: no range to open, and no Python method call */
        PyObject *on = PyObject_CallNoArgs(rec->annot_enabled);
        int t = on ? PyObject_IsTrue(on) : -1;
        Py_XDECREF(on);
        if (t <= 0)
            return t;
    }
    PyObject *h = PyObject_CallMethodObjArgs(rec->annotator, method, a, b, NULL);
    if (!h)
        return -1;
    if (h == Py_None)
        Py_DECREF(h);
    else
        *annot = h;
    return 0;
}

static int recorder_init(RecorderObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "stages", "price_per_hour", "properties", "thread_buffer_bytes",
                             "max_threads", "flush_interval_ms", "on_fork", "live_metrics", "metrics_settle_ms", NULL};
    PyObject *path = NULL, *stages = NULL, *price = Py_None, *props = Py_None, *tbb = NULL, *mt = NULL,
             *fi = NULL, *on_fork = NULL, *live = NULL, *settle = NULL;
    if (self->rec) {
        PyErr_SetString(PyExc_RuntimeError, "servprof.Recorder: already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$OOOOOOOOO", kwlist, &path, &stages, &price, &props, &tbb,
                                     &mt, &fi, &on_fork, &live, &settle))
        return -1;
    PyObject *p = PyObject_CallMethod(g_common, "resolve_path", "O", path);
    if (!p)
        return -1;
    Py_XSETREF(self->path, p);
    self->names = PyDict_New();
    self->knames = PyDict_New();
    self->open = PyDict_New();
    self->before_close = PyList_New(0);
    if (!self->names || !self->knames || !self->open || !self->before_close)
        return -1;
    Py_INCREF(Py_None);
    self->annotator = Py_None;
    static const char *const known[] = {"preprocess", "queue", "postprocess"};
    for (int i = 0; i < 3; i++) {
        PyObject *v = PyLong_FromLong(i + 1);
        if (!v || PyDict_SetItemString(self->names, known[i], v) < 0) {
            Py_XDECREF(v);
            return -1;
        }
        Py_DECREF(v);
    }
    PyObject *stage_list = NULL;
    if (stages) {
        stage_list = PySequence_List(stages);
        if (!stage_list)
            return -1;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(stage_list); i++) {
            PyObject *r = PyObject_CallMethod(g_common, "check_stage_name", "O", PyList_GET_ITEM(stage_list, i));
            if (!r) {
                Py_DECREF(stage_list);
                return -1;
            }
            Py_DECREF(r);
        }
    }
    /* the properties' types are checked before the file is opened: a bad one leaves no trace behind */
    PyObject *prop_items = PyObject_CallMethod(g_common, "check_properties", "O", props);
    if (!prop_items) {
        Py_XDECREF(stage_list);
        return -1;
    }
    sp_recorder_options opt;
    sp_recorder_options_init(&opt);
    uint64_t v;
    if (tbb && (get_count(tbb, &v, "thread_buffer_bytes") < 0 || (opt.thread_buffer_bytes = (size_t)v, 0)))
        goto fail;
    if (mt && (get_count(mt, &v, "max_threads") < 0 || (opt.max_threads = (size_t)v, 0)))
        goto fail;
    if (fi) {
        if (get_count(fi, &v, "flush_interval_ms") < 0)
            goto fail;
        if (v > UINT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "flush_interval_ms is out of range");
            goto fail;
        }
        opt.flush_interval_ms = (unsigned)v;
    }
    if (live) {
        int on = PyObject_IsTrue(live);
        if (on < 0)
            goto fail;
        opt.live_metrics = on;
    }
    if (settle) {
        if (get_count(settle, &v, "metrics_settle_ms") < 0)
            goto fail;
        if (v > UINT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "metrics_settle_ms is out of range");
            goto fail;
        }
        opt.metrics_settle_ms = (unsigned)v;
    }
    if (price != Py_None) {
        if (PyBool_Check(price) || !(PyLong_Check(price) || PyFloat_Check(price))) {
            PyErr_SetString(PyExc_TypeError, "price_per_hour must be a number");
            goto fail;
        }
        double d = PyFloat_AsDouble(price);
        if (d == -1.0 && PyErr_Occurred())
            goto fail;
        if (!(d > 0) || !(d <= SP_MAX_PRICE_PER_HOUR)) {
            PyErr_SetString(PyExc_ValueError, "price_per_hour must be a number in (0, 1e6]");
            goto fail;
        }
        opt.price_per_hour = d;
    }
    if (on_fork) {
        const char *s = PyUnicode_Check(on_fork) ? PyUnicode_AsUTF8(on_fork) : NULL;
        if (s && !strcmp(s, "own_file"))
            opt.on_fork_child = 0;
        else if (s && !strcmp(s, "drop"))
            opt.on_fork_child = 1;
        else {
            PyErr_Format(PyExc_ValueError, "on_fork must be one of own_file, drop, not %R", on_fork);
            goto fail;
        }
    }
    const char *cpath = PyUnicode_AsUTF8(self->path);
    if (!cpath)
        goto fail;
    sp_recorder *rec = NULL;
    sp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = sp_recorder_open(cpath, &opt, &rec);
    Py_END_ALLOW_THREADS
    if (st == SP_ERR_IO) { /* libservprof's message, with the likely cause where another process holds the file */
        char buf[512];
        sp_recorder_last_error(buf, sizeof buf);
        PyObject *m = PyObject_CallMethod(g_common, "open_error", "OOy", path, self->path, buf);
        if (m) {
            PyErr_SetObject(PyExc_OSError, m);
            Py_DECREF(m);
        }
        goto fail;
    }
    if (st) {
        PyObject *what = PyUnicode_FromFormat("servprof.Recorder(%R)", self->path);
        status_error(st, what ? PyUnicode_AsUTF8(what) : "servprof.Recorder");
        Py_XDECREF(what);
        goto fail;
    }
    self->rec = rec;
    PyObject *r = PyObject_CallMethod(g_live, "add", "O", (PyObject *)self);
    if (!r)
        goto fail_close;
    Py_DECREF(r);
    if (stage_list) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(stage_list); i++) {
            r = PyObject_CallMethod((PyObject *)self, "declare_stage", "O", PyList_GET_ITEM(stage_list, i));
            if (!r)
                goto fail_close;
            Py_DECREF(r);
        }
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(prop_items); i++) {
        PyObject *kv = PyList_GET_ITEM(prop_items, i);
        r = PyObject_CallMethod((PyObject *)self, "set_property", "OO", PyTuple_GET_ITEM(kv, 0),
                                PyTuple_GET_ITEM(kv, 1));
        if (!r)
            goto fail_close;
        Py_DECREF(r);
    }
    Py_DECREF(prop_items);
    Py_XDECREF(stage_list);
    return 0;
fail_close: {
        sp_py_held_exc h;
        sp_py_exc_hold(&h);
        sp_recorder *p2 = self->rec;
        self->rec = NULL;
        Py_BEGIN_ALLOW_THREADS
        sp_recorder_close(p2);
        Py_END_ALLOW_THREADS
        sp_py_exc_raise(&h);
    }
fail:
    Py_XDECREF(prop_items);
    Py_XDECREF(stage_list);
    return -1;
}

static PyObject *recorder_closed_error(RecorderObject *self)
{
    return PyErr_Format(PyExc_RuntimeError, "servprof.Recorder(%R) is closed", self->path);
}

static PyObject *recorder_declare_stage(RecorderObject *self, PyObject *name)
{
    PyObject *r = PyObject_CallMethod(g_common, "check_stage_name", "O", name);
    if (!r)
        return NULL;
    Py_DECREF(r);
    if (PyDict_GetItemWithError(self->names, name))
        Py_RETURN_NONE;
    if (PyErr_Occurred())
        return NULL;
    if (!self->rec)
        return recorder_closed_error(self);
    const char *s = PyUnicode_AsUTF8(name);
    if (!s)
        return NULL;
    sp_name_id id;
    Py_BEGIN_ALLOW_THREADS
    id = sp_recorder_intern(self->rec, s);
    Py_END_ALLOW_THREADS
    if (id == SP_NAME_NONE)
        return PyErr_Format(PyExc_MemoryError, "servprof: cannot intern stage name %R", name);
    PyObject *v = PyLong_FromUnsignedLong(id);
    if (!v || PyDict_SetItem(self->names, name, v) < 0) {
        Py_XDECREF(v);
        return NULL;
    }
    Py_DECREF(v);
    Py_RETURN_NONE;
}

/* The id of a stage name: known or declared; otherwise the exception the ctypes backend raises. */
static int stage_id(RecorderObject *self, PyObject *name, sp_name_id *out)
{
    PyObject *v = PyDict_GetItemWithError(self->names, name);
    if (v) {
        *out = (sp_name_id)PyLong_AsUnsignedLong(v);
        return 0;
    }
    if (PyErr_Occurred())
        return -1;
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "stage name must be a str, not %s", Py_TYPE(name)->tp_name);
        return -1;
    }
    PyObject *r = PyObject_CallMethod(g_common, "check_stage_name", "O", name);
    if (!r)
        return -1;
    Py_DECREF(r);
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *known = sep ? PyUnicode_Join(sep, self->names) : NULL;
    Py_XDECREF(sep);
    if (known) {
        PyErr_Format(PyExc_ValueError,
                     "unknown stage name %R: declare it first (Recorder(path, stages=[...]) or declare_stage); "
                     "known: %U", name, known);
        Py_DECREF(known);
    }
    return -1;
}

/* The id of a kernel name (interned on first use). 0 with the recorder closed. */
static int kernel_name_id(RecorderObject *self, PyObject *name, sp_name_id *out)
{
    PyObject *v = PyDict_GetItemWithError(self->knames, name);
    if (v) {
        *out = (sp_name_id)PyLong_AsUnsignedLong(v);
        return 0;
    }
    if (PyErr_Occurred())
        return -1;
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "name must be a str, not %s", Py_TYPE(name)->tp_name);
        return -1;
    }
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(name, &len);
    if (!s)
        return -1;
    if (len == 0 || len > 4095 || memchr(s, 0, (size_t)len)) {
        PyErr_Format(PyExc_ValueError, "name %R: must be 1..4095 bytes without NUL", name);
        return -1;
    }
    if (!self->rec) {
        *out = 0;
        return 0;
    }
    sp_name_id id;
    Py_BEGIN_ALLOW_THREADS
    id = sp_recorder_intern(self->rec, s);
    Py_END_ALLOW_THREADS
    v = PyLong_FromUnsignedLong(id);
    if (!v || PyDict_SetItem(self->knames, name, v) < 0) {
        Py_XDECREF(v);
        return -1;
    }
    Py_DECREF(v);
    *out = id;
    return 0;
}

static PyObject *recorder_stages(RecorderObject *self, void *c) { return PySequence_Tuple(self->names); }
static PyObject *recorder_closed(RecorderObject *self, void *c) { return PyBool_FromLong(self->rec == NULL); }
static PyObject *recorder_handle(RecorderObject *self, void *c)
{
    return PyLong_FromVoidPtr(self->rec);
}

static PyObject *recorder_set_property(RecorderObject *self, PyObject *args)
{
    PyObject *key, *val;
    if (!PyArg_ParseTuple(args, "OO:set_property", &key, &val))
        return NULL;
    if (!PyUnicode_Check(key) || !PyUnicode_Check(val)) {
        PyObject *r = PyObject_CallMethod(g_common, "check_property", "OO", key, val);
        Py_XDECREF(r);
        return NULL; /* check_property raised the TypeError that names the key */
    }
    if (!self->rec)
        return recorder_closed_error(self);
    const char *k = PyUnicode_AsUTF8(key), *v = PyUnicode_AsUTF8(val);
    if (!k || !v)
        return NULL;
    sp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = sp_recorder_set_property(self->rec, k, v);
    Py_END_ALLOW_THREADS
    if (st == SP_ERR_INVALID)
        return PyErr_Format(PyExc_ValueError,
                            "property %.60R = %.60R: a key is 1..255 bytes of [A-Za-z0-9._-], a value at most "
                            "4095 bytes", key, val);
    if (st == SP_ERR_LIMIT)
        return PyErr_Format(PyExc_ValueError, "property %.60R: more than 64 keys in one trace", key);
    if (st)
        return status_error(st, "set_property");
    Py_RETURN_NONE;
}

static PyObject *recorder_drops(RecorderObject *self, PyObject *unused)
{
    uint64_t c[SP_DROP_CAUSE_COUNT];
    if (self->have_final)
        memcpy(c, self->final_drops, sizeof c);
    else
        sp_recorder_drops(self->rec, c);
    c[SP_DROP_AFTER_CLOSE] += self->after_close;
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    for (int i = 0; i < SP_DROP_CAUSE_COUNT; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(c[i]);
        if (!v || PyDict_SetItemString(d, sp_drop_cause_str((sp_drop_cause)i), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

static PyObject *recorder_stats(RecorderObject *self, PyObject *unused)
{
    return Py_BuildValue("{s:n,s:K,s:K}", "open_requests", PyDict_Size(self->open), "unfinished_at_close",
                         (unsigned long long)self->unfinished, "after_close", (unsigned long long)self->after_close);
}

static PyObject *recorder_flush(RecorderObject *self, PyObject *unused)
{
    if (!self->rec)
        return recorder_closed_error(self);
    sp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = sp_recorder_flush(self->rec);
    Py_END_ALLOW_THREADS
    if (st)
        return status_error(st, "flush");
    Py_RETURN_NONE;
}

/* metrics_text() -> str: the live metrics in Prometheus' text format (sp_recorder_metrics_text) */
static PyObject *recorder_metrics_text(RecorderObject *self, PyObject *unused)
{
    if (!self->rec)
        return recorder_closed_error(self);
    char *text = NULL;
    size_t len = 0;
    sp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = sp_recorder_metrics_text(self->rec, &text, &len);
    Py_END_ALLOW_THREADS
    if (st == SP_ERR_STATE)
        return PyErr_Format(PyExc_RuntimeError, "servprof.Recorder(%R) was opened without live_metrics=True",
                            self->path);
    if (st)
        return status_error(st, "metrics_text");
    PyObject *r = PyUnicode_DecodeUTF8(text, (Py_ssize_t)len, "replace");
    sp_metrics_text_free(text);
    return r;
}

static PyObject *recorder_close(RecorderObject *self, PyObject *unused)
{
    if (!self->rec)
        Py_RETURN_NONE;
    uint64_t t = sp_now_ns();
    PyObject *vals = PyDict_Values(self->open);
    if (!vals)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(vals); i++) {
        RequestObject *r = (RequestObject *)PyList_GET_ITEM(vals, i);
        if (!r->ended) {
            sp_py_request_finish(r, sp_py_implicit_done(r, t), SP_OUTCOME_UNFINISHED, 0);
            r->ended = 2;
            self->unfinished++;
        }
    }
    Py_DECREF(vals);
    PyDict_Clear(self->open);
    ended_clear(&self->ended); /* nothing is written after close: no id to check */
    PyObject *hooks = self->before_close;
    self->before_close = PyList_New(0);
    if (!self->before_close) {
        self->before_close = hooks;
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(hooks); i++) {
        PyObject *r = PyObject_CallNoArgs(PyList_GET_ITEM(hooks, i));
        if (!r) { /* a hook's failure must not leave the trace unclosed: report it after closing */
            PyErr_WriteUnraisable(PyList_GET_ITEM(hooks, i));
        }
        Py_XDECREF(r);
    }
    Py_DECREF(hooks);
    sp_recorder *p = self->rec;
    self->rec = NULL;
    PyObject *r = PyObject_CallMethod(g_live, "discard", "O", (PyObject *)self);
    Py_XDECREF(r);
    if (!r)
        PyErr_Clear();
    sp_status st;
    Py_BEGIN_ALLOW_THREADS
    st = sp_recorder_close(p);
    sp_recorder_drops(p, self->final_drops);
    Py_END_ALLOW_THREADS
    self->have_final = 1;
    if (st) {
        PyObject *what = PyUnicode_FromFormat("closing %U", self->path);
        status_error(st, what ? PyUnicode_AsUTF8(what) : "close");
        Py_XDECREF(what);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *recorder_forget_open(RecorderObject *self, PyObject *unused)
{
    PyDict_Clear(self->open);
    ended_clear(&self->ended); /* the child's trace is a file of its own */
    Py_RETURN_NONE;
}

/* _int_id_taken(n): is int id `n` held by a request of this open recorder, open or ended (the
 * middlewares' numbering skips such numbers: asgi.py's _next_number) */
static PyObject *recorder_int_id_taken(RecorderObject *self, PyObject *n)
{
    if (!self->rec || !PyLong_CheckExact(n))
        Py_RETURN_FALSE;
    unsigned long long v = PyLong_AsUnsignedLongLong(n);
    if ((v == (unsigned long long)-1 && PyErr_Occurred()) || v >= LABELLED_ID_BASE) {
        PyErr_Clear();
        Py_RETURN_FALSE;
    }
    int taken = sp_py_int_id_taken(self, n, v);
    if (taken < 0)
        return NULL;
    return PyBool_FromLong(taken);
}

static PyObject *recorder_add_before_close(RecorderObject *self, PyObject *fn)
{
    if (PyList_Append(self->before_close, fn) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *recorder_enter(RecorderObject *self, PyObject *unused)
{
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *recorder_exit(RecorderObject *self, PyObject *args)
{
    PyObject *r = recorder_close(self, NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *recorder_repr(RecorderObject *self)
{
    return PyUnicode_FromFormat("<servprof.Recorder %R%s>", self->path ? self->path : Py_None,
                                self->rec ? "" : " closed");
}

int sp_py_int_id_taken(RecorderObject *rec, PyObject *key, uint64_t id)
{
#if defined(__GNUC__)
    const sp_py_ended_ids *e = &rec->ended;
    if (id >= SP_PY_ENDED_DENSE && e->gen[0]) {
        /* the tables' lines are likely not in cache (hashed ids): fetched while the dict is searched */
        uint32_t i = ended_slot(id);
        __builtin_prefetch(&e->gen[0][i]);
        __builtin_prefetch(&e->gen[1][i]);
    }
#endif
    PyObject *cur = PyDict_GetItemWithError(rec->open, key);
    if (cur)
        return 1;
    if (PyErr_Occurred())
        return -1;
    return ended_has(&rec->ended, id) ? 2 : 0;
}

/* recorder.request() and the ASGI middleware's begin (_native_asgi.c) share it: _native_int.h */
PyObject *sp_py_request_open(RecorderObject *self, PyObject *key, int64_t tok, uint64_t arrival)
{
    int labelled;
    uint64_t int_id = 0;
    if (PyUnicode_CheckExact(key)) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(key, &len);
        if (!s)
            return NULL;
        if (len == 0 || len > SP_PY_MAX_LABEL)
            return raise_via("check_request_id", key, NULL);
        for (Py_ssize_t i = 0; i < len; i++)
            if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                return raise_via("check_request_id", key, NULL);
        labelled = 1;
    } else if (PyLong_CheckExact(key)) {
        unsigned long long v = PyLong_AsUnsignedLongLong(key);
        if ((v == (unsigned long long)-1 && PyErr_Occurred()) || v >= LABELLED_ID_BASE) {
            PyErr_Clear();
            return raise_via("check_request_id", key, NULL);
        }
        int_id = v;
        labelled = 0;
    } else {
        return raise_via("check_request_id", key, NULL);
    }
    RequestObject *r = PyObject_GC_New(RequestObject, &sp_py_request_type);
    if (!r)
        return NULL;
    Py_INCREF(self);
    r->rec = self;
    Py_INCREF(key);
    r->key = key;
    r->tokens = tok;
    r->arrival = arrival;
    r->done = r->first = r->last = 0;
    r->has_span = r->ended = r->outcome = r->status = r->outcome_set = 0;
    r->ncover = 0;
    r->next_token = 0;
    r->has_token = 0;
    r->tok_hi = r->tok_hi_time = r->tok_max = 0;
    r->annot = NULL;
    r->weakreflist = NULL;
    r->id = labelled ? LABELLED_ID_BASE + self->next_label++ : int_id;
    PyObject_GC_Track((PyObject *)r);
    if (!self->rec) {
        self->after_close++;
        return (PyObject *)r;
    }
    if (PyDict_SetItem(self->open, key, (PyObject *)r) < 0) {
        Py_DECREF(r);
        return NULL;
    }
    if (labelled) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(key, &len);
        sp_record_request_label(self->rec, r->id, s, (size_t)len);
    }
    if (HAS_ANNOT(self) && call_annot_begin(self, s_request_begin, (PyObject *)r, NULL, &r->annot) < 0) {
        Py_DECREF(r);
        return NULL;
    }
    return (PyObject *)r;
}

/* request(request_id, *, input_tokens=None, arrival_ns=None) */
static PyObject *recorder_request(RecorderObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"input_tokens", "arrival_ns"};
    PyObject *vals[2] = {NULL, NULL};
    if (parse_kw("request", nargs, 1, args, kwnames, names, vals, 2) < 0)
        return NULL;
    uint64_t tokens = 0, arrival;
    int64_t tok = -1;
    if (vals[0] && vals[0] != Py_None) {
        if (get_count(vals[0], &tokens, "input_tokens") < 0)
            return NULL;
        tok = (int64_t)tokens;
    }
    if (sp_py_get_time_or_now(vals[1], &arrival, "arrival_ns") < 0)
        return NULL;
    if (PyLong_CheckExact(args[0]) && self->rec) { /* an int id is the trace's id: two lives under it are refused */
        unsigned long long v = PyLong_AsUnsignedLongLong(args[0]);
        if (v == (unsigned long long)-1 && PyErr_Occurred())
            PyErr_Clear(); /* negative or too large: sp_py_request_open says so */
        else if (v < LABELLED_ID_BASE) {
            int taken = sp_py_int_id_taken(self, args[0], v);
            if (taken < 0)
                return NULL;
            if (taken == 1)
                return PyErr_Format(PyExc_ValueError, "request id %R is already open: two requests of one id "
                                    "cannot be told apart in the trace (docs/python.md)", args[0]);
            if (taken == 2)
                return PyErr_Format(PyExc_ValueError, "request id %R was already used by a request that ended: "
                                    "an int id is the trace's id, and two requests under one make a trace servprof "
                                    "analyze refuses; give each request an int id of its own, or a str id (each "
                                    "str id gets a trace id of its own) (docs/python.md)", args[0]);
        }
    }
    return sp_py_request_open(self, args[0], tok, arrival);
}

static PyObject *batch_new_impl(RecorderObject *rec, PyObject *requests, PyObject *eff, PyObject *pad, PyObject *bid);
static PyObject *step_new_impl(RecorderObject *rec, PyObject *members, PyObject *pad, PyObject *kv_used,
                               PyObject *kv_cap, PyObject *sid);

/* batch(requests, *, effective_tokens=None, padded_tokens=None, batch_id=None) */
static PyObject *recorder_batch(RecorderObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"effective_tokens", "padded_tokens", "batch_id"};
    PyObject *vals[3] = {NULL, NULL, NULL};
    if (parse_kw("batch", nargs, 1, args, kwnames, names, vals, 3) < 0)
        return NULL;
    return batch_new_impl(self, args[0], vals[0], vals[1], vals[2]);
}

/* step(members, *, padded_tokens=None, kv_used=None, kv_capacity=None, step_id=None) */
static PyObject *recorder_step(RecorderObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"padded_tokens", "kv_used", "kv_capacity", "step_id"};
    PyObject *vals[4] = {NULL, NULL, NULL, NULL};
    if (parse_kw("step", nargs, 1, args, kwnames, names, vals, 4) < 0)
        return NULL;
    return step_new_impl(self, args[0], vals[0], vals[1], vals[2], vals[3]);
}

/* The batch id device work is tied to: `batch` (a Batch, an int), else the current batch, else none. */
static int resolve_batch(PyObject *batch, uint64_t *out)
{
    if (!batch || batch == Py_None) {
        PyObject *b = NULL;
        if (PyContextVar_Get(g_current_batch, NULL, &b) < 0)
            return -1;
        if (b && b != Py_None && PyObject_TypeCheck(b, &BatchType))
            *out = ((BatchObject *)b)->id;
        else
            *out = SP_NO_BATCH;
        Py_XDECREF(b);
        return 0;
    }
    if (PyObject_TypeCheck(batch, &BatchType)) {
        *out = ((BatchObject *)batch)->id;
        return 0;
    }
    return get_count(batch, out, "batch");
}

static int check_span(PyObject *s, PyObject *e, uint64_t *start, uint64_t *end)
{
    if (get_time(s, start, "start_ns") < 0 || get_time(e, end, "end_ns") < 0)
        return -1;
    if (*end < *start) {
        PyErr_Format(PyExc_ValueError, "end_ns %llu is before start_ns %llu", (unsigned long long)*end,
                     (unsigned long long)*start);
        return -1;
    }
    return 0;
}

/* A kernel record of `rec` from kernel(name, start_ns, end_ns)'s arguments, `batch` as resolve_batch
 * reads it and the optional `device` and `stream`. */
static PyObject *kernel_impl(RecorderObject *rec, PyObject *const *args, PyObject *batch, PyObject *device,
                             PyObject *stream)
{
    sp_kernel_record k = {0};
    if (kernel_name_id(rec, args[0], &k.name) < 0 || check_span(args[1], args[2], &k.start_ns, &k.end_ns) < 0 ||
        resolve_batch(batch, &k.batch_id) < 0 || (device && get_u32(device, &k.device, "device") < 0) ||
        (stream && get_u32(stream, &k.stream, "stream") < 0))
        return NULL;
    if (!rec->rec)
        rec->after_close++;
    else
        sp_record_kernel(rec->rec, &k);
    Py_RETURN_NONE;
}

/* kernel(name, start_ns, end_ns, *, batch=None, device=0, stream=0) */
static PyObject *recorder_kernel(RecorderObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"batch", "device", "stream"};
    PyObject *vals[3] = {NULL, NULL, NULL};
    if (parse_kw("kernel", nargs, 3, args, kwnames, names, vals, 3) < 0)
        return NULL;
    return kernel_impl(self, args, vals[0], vals[1], vals[2]);
}

/* copy(kind, nbytes, start_ns, end_ns, *, batch=None, device=0, stream=0) */
static PyObject *recorder_copy(RecorderObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"batch", "device", "stream"};
    static const char *const kinds[] = {"h2d", "d2h", "d2d", "memset", "other"};
    PyObject *vals[3] = {NULL, NULL, NULL};
    if (parse_kw("copy", nargs, 4, args, kwnames, names, vals, 3) < 0)
        return NULL;
    sp_copy_record c = {0};
    const char *ks = PyUnicode_Check(args[0]) ? PyUnicode_AsUTF8(args[0]) : NULL;
    int kind = -1;
    for (int i = 0; ks && i < 5; i++)
        if (!strcmp(ks, kinds[i]))
            kind = i;
    if (kind < 0)
        return PyErr_Format(PyExc_ValueError, "copy kind %R: one of h2d, d2h, d2d, memset, other", args[0]);
    c.kind = (sp_copy_kind)kind;
    if (get_count(args[1], &c.bytes, "nbytes") < 0 || check_span(args[2], args[3], &c.start_ns, &c.end_ns) < 0 ||
        resolve_batch(vals[0], &c.batch_id) < 0 || (vals[1] && get_u32(vals[1], &c.device, "device") < 0) ||
        (vals[2] && get_u32(vals[2], &c.stream, "stream") < 0))
        return NULL;
    if (!self->rec)
        self->after_close++;
    else
        sp_record_copy(self->rec, &c);
    Py_RETURN_NONE;
}

static int recorder_traverse(RecorderObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->names);
    Py_VISIT(self->knames);
    Py_VISIT(self->open);
    Py_VISIT(self->annotator);
    Py_VISIT(self->annot_enabled);
    Py_VISIT(self->before_close);
    return 0;
}

static int recorder_clear(RecorderObject *self)
{
    Py_CLEAR(self->names);
    Py_CLEAR(self->knames);
    Py_CLEAR(self->open);
    Py_CLEAR(self->annotator);
    Py_CLEAR(self->annot_enabled);
    Py_CLEAR(self->before_close);
    return 0;
}

static void recorder_dealloc(RecorderObject *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->rec) { /* garbage-collected while open: close it so the trace is complete */
        sp_recorder *p = self->rec;
        self->rec = NULL;
        Py_BEGIN_ALLOW_THREADS
        sp_recorder_close(p);
        Py_END_ALLOW_THREADS
    }
    recorder_clear(self);
    ended_clear(&self->ended);
    Py_CLEAR(self->path);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef recorder_methods[] = {
    {"declare_stage", (PyCFunction)recorder_declare_stage, METH_O,
     "declare_stage(name): allows spans of a stage named `name` besides preprocess, queue, postprocess."},
    {"set_property", (PyCFunction)recorder_set_property, METH_VARARGS,
     "set_property(key, value): a trace property (docs/native-format.md, Properties)."},
    {"drops", (PyCFunction)recorder_drops, METH_NOARGS, "drops() -> {cause: count}: records dropped, by cause."},
    {"stats", (PyCFunction)recorder_stats, METH_NOARGS,
     "stats() -> {open_requests, unfinished_at_close, after_close}."},
    {"flush", (PyCFunction)recorder_flush, METH_NOARGS, "flush(): waits until everything recorded is on disk."},
    {"metrics_text", (PyCFunction)recorder_metrics_text, METH_NOARGS,
     "metrics_text() -> str: the live metrics (Prometheus text 0.0.4, docs/metrics.md) of a recorder opened "
     "with live_metrics=True."},
    {"close", (PyCFunction)recorder_close, METH_NOARGS,
     "close(): records requests still open as unfinished, closes the trace. A second call does nothing."},
    {"_forget_open", (PyCFunction)recorder_forget_open, METH_NOARGS, NULL},
    {"_int_id_taken", (PyCFunction)recorder_int_id_taken, METH_O, NULL},
    {"_add_before_close", (PyCFunction)recorder_add_before_close, METH_O, NULL},
    {"__enter__", (PyCFunction)recorder_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)recorder_exit, METH_VARARGS, NULL},
    {"request", (PyCFunction)(void (*)(void))recorder_request, METH_FASTCALL | METH_KEYWORDS,
     "request(request_id, *, input_tokens=None, arrival_ns=None) -> Request (a context manager)."},
    {"batch", (PyCFunction)(void (*)(void))recorder_batch, METH_FASTCALL | METH_KEYWORDS,
     "batch(requests, *, effective_tokens=None, padded_tokens=None, batch_id=None) -> Batch."},
    {"step", (PyCFunction)(void (*)(void))recorder_step, METH_FASTCALL | METH_KEYWORDS,
     "step(members, *, padded_tokens=None, kv_used=None, kv_capacity=None, step_id=None) -> Step: one step of "
     "a continuous-batching scheduler; members are (request, 'prefill'|'prefill_chunk'|'decode', tokens)."},
    {"kernel", (PyCFunction)(void (*)(void))recorder_kernel, METH_FASTCALL | METH_KEYWORDS,
     "kernel(name, start_ns, end_ns, *, batch=None, device=0, stream=0): device work."},
    {"copy", (PyCFunction)(void (*)(void))recorder_copy, METH_FASTCALL | METH_KEYWORDS,
     "copy(kind, nbytes, start_ns, end_ns, *, batch=None, device=0, stream=0): a copy."},
    {NULL}};

static PyObject *recorder_get_annotator(RecorderObject *self, void *c)
{
    PyObject *a = self->annotator ? self->annotator : Py_None;
    Py_INCREF(a);
    return a;
}

static int recorder_set_annotator(RecorderObject *self, PyObject *v, void *c)
{
    PyObject *enabled = NULL;
    if (v && v != Py_None) {
        enabled = PyObject_GetAttrString(v, "enabled");
        if (!enabled) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                return -1;
            PyErr_Clear();
        } else if (!PyCallable_Check(enabled)) {
            Py_CLEAR(enabled);
        }
    }
    Py_XSETREF(self->annot_enabled, enabled);
    Py_XINCREF(v ? v : Py_None);
    Py_XSETREF(self->annotator, v ? v : Py_None);
    return 0;
}

SP_PY_OBJECT_GETTER(recorder_get_path, RecorderObject, path)

static PyGetSetDef recorder_getset[] = {
    {"path", (getter)recorder_get_path, NULL, "the trace file", NULL},
    {"annotator", (getter)recorder_get_annotator, (setter)recorder_set_annotator,
     "None, or the object servprof.torch installs to mirror records as record_function ranges", NULL},
    {"stages", (getter)recorder_stages, NULL, "stage names this recorder accepts", NULL},
    {"closed", (getter)recorder_closed, NULL, "True once close() ran", NULL},
    {"_handle", (getter)recorder_handle, NULL, "the sp_recorder pointer (0 when closed)", NULL},
    {NULL}};

PyTypeObject sp_py_recorder_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof.Recorder",
    .tp_basicsize = sizeof(RecorderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Recorder(path, *, stages=(), price_per_hour=None, properties=None, thread_buffer_bytes=0, "
              "max_threads=0, flush_interval_ms=0, on_fork='own_file', live_metrics=False, metrics_settle_ms=0): "
              "records into a native trace; live_metrics=True also keeps the live metrics metrics_text() returns.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)recorder_init,
    .tp_dealloc = (destructor)recorder_dealloc,
    .tp_traverse = (traverseproc)recorder_traverse,
    .tp_clear = (inquiry)recorder_clear,
    .tp_repr = (reprfunc)recorder_repr,
    .tp_methods = recorder_methods,
    .tp_getset = recorder_getset,
    .tp_weaklistoffset = offsetof(RecorderObject, weakreflist),
};

/* ======================================================================================== */
/* Request                                                                                   */

static int call_annot_end(RecorderObject *rec, PyObject **annot)
{
    if (!*annot)
        return 0;
    PyObject *h = *annot;
    *annot = NULL;
    if (!HAS_ANNOT(rec)) {
        Py_DECREF(h);
        return 0;
    }
    PyObject *r = PyObject_CallMethodObjArgs(rec->annotator, s_end, h, NULL);
    Py_DECREF(h);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

int sp_py_request_finish(RequestObject *r, uint64_t t, int outcome, int status)
{
    RecorderObject *rec = r->rec;
    r->ended = 1;
    r->done = t;
    if (!rec->rec) {
        rec->after_close++;
        return 0;
    }
    PyObject *cur = PyDict_GetItemWithError(rec->open, r->key);
    if (cur == (PyObject *)r && PyDict_DelItem(rec->open, r->key) < 0)
        return -1;
    if (!cur && PyErr_Occurred())
        return -1;
    if (r->id < LABELLED_ID_BASE)
        ended_add(&rec->ended, r->id);
    sp_record_request(rec->rec, r->id, r->arrival, t, r->tokens);
    if (outcome)
        sp_record_outcome(rec->rec, r->id, (sp_outcome)outcome, status);
    return call_annot_end(rec, &r->annot);
}

static PyObject *request_stage(RequestObject *self, PyObject *name)
{
    sp_name_id nid = SP_NAME_NONE;
    if (stage_id(self->rec, name, &nid) < 0)
        return NULL;
    StageObject *s = PyObject_GC_New(StageObject, &StageType);
    if (!s)
        return NULL;
    Py_INCREF(self);
    s->req = self;
    Py_INCREF(name);
    s->name = name;
    s->nid = nid;
    s->start = 0;
    s->state = 0;
    s->annot = NULL;
    PyObject_GC_Track((PyObject *)s);
    return (PyObject *)s;
}

void sp_py_request_record_span(RequestObject *self, sp_name_id nid, uint64_t s, uint64_t e)
{
    RecorderObject *rec = self->rec;
    if (!rec->rec) {
        rec->after_close++;
        return;
    }
    sp_record_stage(rec->rec, self->id, nid, s, e);
    request_touch(self, s, e);
}

void sp_py_request_record_fill(RequestObject *self, sp_name_id nid, uint64_t s, uint64_t e)
{
    RecorderObject *rec = self->rec;
    if (!rec->rec) {
        rec->after_close++;
        return;
    }
    sp_record_stage(rec->rec, self->id, nid, s, e);
    request_edges(self, s, e);
}

static PyObject *request_span(RequestObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3)
        return PyErr_Format(PyExc_TypeError, "span(name, start_ns, end_ns) takes 3 arguments (%zd given)", nargs);
    sp_name_id nid = SP_NAME_NONE;
    uint64_t s, e;
    if (stage_id(self->rec, args[0], &nid) < 0 || check_span(args[1], args[2], &s, &e) < 0)
        return NULL;
    sp_py_request_record_span(self, nid, s, e);
    Py_RETURN_NONE;
}

/* _fill_span(name, start_ns, end_ns): span() for the middleware's filled edges, which stay out of
 * `_covered` (sp_py_request_record_fill) */
static PyObject *request_fill_span(RequestObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3)
        return PyErr_Format(PyExc_TypeError, "_fill_span(name, start_ns, end_ns) takes 3 arguments (%zd given)", nargs);
    sp_name_id nid = SP_NAME_NONE;
    uint64_t s, e;
    if (stage_id(self->rec, args[0], &nid) < 0 || check_span(args[1], args[2], &s, &e) < 0)
        return NULL;
    sp_py_request_record_fill(self, nid, s, e);
    Py_RETURN_NONE;
}

/* token(index=None, time_ns=None): output token `index` (None: the one after the last recorded) left the
 * server at `time_ns` (None: now) */
static PyObject *request_token(RequestObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"index", "time_ns"};
    PyObject *vals[2] = {nargs > 0 ? args[0] : NULL, nargs > 1 ? args[1] : NULL};
    if (nargs > 2)
        return PyErr_Format(PyExc_TypeError, "token() takes at most 2 arguments (%zd given)", nargs);
    if (kwnames) {
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); k++) {
            const char *ks = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k));
            if (!ks)
                return NULL;
            int i = !strcmp(ks, names[0]) ? 0 : !strcmp(ks, names[1]) ? 1 : -1;
            if (i < 0)
                return PyErr_Format(PyExc_TypeError, "token() got an unexpected keyword argument '%s'", ks);
            if (i < nargs)
                return PyErr_Format(PyExc_TypeError, "token() got multiple values for argument '%s'", ks);
            vals[i] = args[nargs + k];
        }
    }
    uint64_t index = self->next_token, t;
    if (vals[0] && vals[0] != Py_None && get_count(vals[0], &index, "index") < 0)
        return NULL;
    if (sp_py_get_time_or_now(vals[1], &t, "time_ns") < 0)
        return NULL;
    if (!self->rec->rec) { /* after close(): a counted drop, as every record */
        self->next_token = index + 1;
        self->rec->after_close++;
        Py_RETURN_NONE;
    }
    /* what the analysis would refuse (docs/analysis.md section 9, "Tokens") is refused here, naming
     * the call; out-of-order indexes are checked against the highest one only (docs/python.md) */
    if (self->ended)
        return PyErr_Format(PyExc_RuntimeError, "request %R already ended (at %llu ns): token %llu would lie "
                            "outside its life", self->key, (unsigned long long)self->done,
                            (unsigned long long)index);
    if (t < self->arrival)
        return PyErr_Format(PyExc_ValueError, "token %llu: time_ns %llu is before the request's arrival %llu",
                            (unsigned long long)index, (unsigned long long)t, (unsigned long long)self->arrival);
    if (self->has_token) {
        uint64_t hi = self->tok_hi, hi_t = self->tok_hi_time;
        if (index > hi ? t < hi_t : index < hi ? t > hi_t : t != hi_t)
            return PyErr_Format(PyExc_ValueError, "token %llu at %llu ns contradicts token %llu at %llu ns (token "
                                "times must not decrease with the index; each index once)",
                                (unsigned long long)index, (unsigned long long)t, (unsigned long long)hi,
                                (unsigned long long)hi_t);
    }
    self->next_token = index + 1;
    if (!self->has_token || index >= self->tok_hi) {
        self->tok_hi = index;
        self->tok_hi_time = t;
    }
    if (!self->has_token || t > self->tok_max)
        self->tok_max = t;
    self->has_token = 1;
    sp_record_token(self->rec->rec, self->id, index, t);
    request_touch(self, t, t);
    Py_RETURN_NONE;
}

/* trace_context(trace_id, span_id, parent_id=None, flags=1): the W3C ids, checked by _common (not the
 * hot path: once per request). */
static PyObject *request_trace_context(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"trace_id", "span_id", "parent_id", "flags", NULL};
    PyObject *t, *s, *p = Py_None, *f = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OO:trace_context", kwlist, &t, &s, &p, &f))
        return NULL;
    PyObject *one = NULL;
    if (!f)
        f = one = PyLong_FromLong(1);
    PyObject *c = f ? PyObject_CallMethod(g_common, "check_trace_context", "OOOO", t, s, p, f) : NULL;
    Py_XDECREF(one);
    if (!c)
        return NULL;
    sp_trace_context ctx;
    PyObject *tb = PyTuple_GetItem(c, 0), *sb = PyTuple_GetItem(c, 1), *pb = PyTuple_GetItem(c, 2);
    memcpy(ctx.trace_id, PyBytes_AsString(tb), 16);
    memcpy(ctx.span_id, PyBytes_AsString(sb), 8);
    memcpy(ctx.parent_id, PyBytes_AsString(pb), 8);
    ctx.flags = (uint8_t)PyLong_AsLong(PyTuple_GetItem(c, 3));
    Py_DECREF(c);
    if (!self->rec->rec) {
        self->rec->after_close++;
        Py_RETURN_NONE;
    }
    sp_record_request_trace(self->rec->rec, self->id, &ctx);
    Py_RETURN_NONE;
}

static PyObject *request_outcome(RequestObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"outcome", "status", NULL};
    PyObject *o, *st = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|O:outcome", kwlist, &o, &st))
        return NULL;
    PyObject *zero = NULL;
    if (!st)
        st = zero = PyLong_FromLong(0);
    PyObject *idx = PyObject_CallMethod(g_common, "check_outcome", "OO", o, st);
    if (!idx) {
        Py_XDECREF(zero);
        return NULL;
    }
    self->outcome = (int)PyLong_AsLong(idx);
    self->status = (int)PyLong_AsLong(st);
    self->outcome_set = 1;
    Py_DECREF(idx);
    Py_XDECREF(zero);
    Py_RETURN_NONE;
}

static PyObject *request_end(RequestObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"done_ns"};
    PyObject *vals[1] = {nargs > 0 ? args[0] : NULL};
    if (nargs > 1)
        return PyErr_Format(PyExc_TypeError, "end() takes at most 1 argument (%zd given)", nargs);
    if (parse_kw("end", nargs, nargs, args, kwnames, names, vals, 1) < 0)
        return NULL;
    if (self->ended == 2) { /* the recorder closed first and recorded it unfinished: a counted drop */
        self->rec->after_close++;
        Py_RETURN_NONE;
    }
    if (self->ended)
        return PyErr_Format(PyExc_RuntimeError, "request %R already ended (at %llu ns)", self->key,
                            (unsigned long long)self->done);
    uint64_t t;
    if (sp_py_get_time_or_now(vals[0], &t, "done_ns") < 0)
        return NULL;
    if (t < self->arrival)
        return PyErr_Format(PyExc_ValueError, "done_ns %llu is before the request's arrival %llu",
                            (unsigned long long)t, (unsigned long long)self->arrival);
    if (self->has_token && t < self->tok_max)
        return PyErr_Format(PyExc_ValueError, "done_ns %llu is before the time of a token recorded for the "
                            "request (%llu)", (unsigned long long)t, (unsigned long long)self->tok_max);
    if (sp_py_request_finish(self, t, self->outcome, self->status) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* _implicit_done(t): sp_py_implicit_done, for asgi.py's Python path (the ctypes backend's twin) */
static PyObject *request_implicit_done(RequestObject *self, PyObject *o)
{
    uint64_t t;
    if (sp_py_get_time(o, &t, "t") < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(sp_py_implicit_done(self, t));
}

static PyObject *request_enter(RequestObject *self, PyObject *unused)
{
    Py_INCREF(self);
    return (PyObject *)self;
}

/* request_exit's, and _native_asgi.c's (_native_int.h) */
PyObject *sp_py_cancelled_error(void)
{
    static PyObject *cancelled; /* kept for the process, as the module's other globals */
    if (!cancelled) {
        PyObject *m = PyImport_ImportModule("asyncio");
        cancelled = m ? PyObject_GetAttrString(m, "CancelledError") : NULL;
        Py_XDECREF(m);
    }
    return cancelled;
}

static PyObject *request_exit(RequestObject *self, PyObject *args)
{
    PyObject *et, *ev, *tb;
    if (!PyArg_UnpackTuple(args, "__exit__", 3, 3, &et, &ev, &tb))
        return NULL;
    if (self->ended)
        Py_RETURN_FALSE;
    if (et != Py_None && !self->outcome_set) {
        PyObject *cancelled = sp_py_cancelled_error();
        if (!cancelled)
            return NULL;
        int c = PyObject_IsSubclass(et, cancelled);
        if (c < 0)
            return NULL;
        self->outcome = c ? SP_OUTCOME_CANCELLED : SP_OUTCOME_ERROR;
        self->status = c ? 0 : 500;
    }
    if (sp_py_request_finish(self, sp_py_implicit_done(self, sp_now_ns()), self->outcome, self->status) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

static PyObject *request_get_tokens(RequestObject *self, void *c)
{
    if (self->tokens < 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(self->tokens);
}

static int request_set_tokens(RequestObject *self, PyObject *v, void *c)
{
    if (!v) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete input_tokens");
        return -1;
    }
    uint64_t n;
    if (v == Py_None) {
        self->tokens = -1;
        return 0;
    }
    if (get_count(v, &n, "input_tokens") < 0)
        return -1;
    self->tokens = (int64_t)n;
    if (self->annot && HAS_ANNOT(self->rec)) {
        PyObject *r = PyObject_CallMethodObjArgs(self->rec->annotator, s_request_tokens, (PyObject *)self, NULL);
        if (!r)
            return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* _covered: what the application's spans and batches cover, ((start, end), ...) (RequestObject.cover) */
static PyObject *request_get_covered(RequestObject *self, void *c)
{
    PyObject *t = PyTuple_New(self->ncover);
    for (int i = 0; t && i < self->ncover; i++) {
        PyObject *p = Py_BuildValue("(KK)", (unsigned long long)self->cover[2 * i],
                                    (unsigned long long)self->cover[2 * i + 1]);
        if (!p) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, p);
    }
    return t;
}

static PyObject *request_get_first(RequestObject *self, void *c) { return sp_py_opt_time(self->has_span, self->first); }
static PyObject *request_get_last(RequestObject *self, void *c) { return sp_py_opt_time(self->has_span, self->last); }
static PyObject *request_get_done(RequestObject *self, void *c) { return sp_py_opt_time(self->ended, self->done); }
static PyObject *request_get_arrival(RequestObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->arrival); }
static PyObject *request_get_trace_id(RequestObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->id); }
static PyObject *request_get_ended(RequestObject *self, void *c) { return PyBool_FromLong(self->ended != 0); }
static PyObject *request_get_outcome(RequestObject *self, void *c) { return PyUnicode_FromString(outcome_names[self->outcome]); }
static PyObject *request_get_status(RequestObject *self, void *c) { return PyLong_FromLong(self->status); }
static PyObject *request_get_next_token(RequestObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->next_token); }
static PyObject *request_get_id(RequestObject *self, void *c)
{
    Py_INCREF(self->key);
    return self->key;
}

static PyObject *request_repr(RequestObject *self)
{
    return PyUnicode_FromFormat("<servprof.Request %R%s>", self->key, self->ended ? " ended" : "");
}

static int request_traverse(RequestObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->rec);
    Py_VISIT(self->key);
    Py_VISIT(self->annot);
    return 0;
}

static int request_clear(RequestObject *self)
{
    Py_CLEAR(self->rec);
    Py_CLEAR(self->key);
    Py_CLEAR(self->annot);
    return 0;
}

static void request_dealloc(RequestObject *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)self);
    request_clear(self);
    PyObject_GC_Del(self);
}

static PyMethodDef request_methods[] = {
    {"stage", (PyCFunction)request_stage, METH_O, "stage(name) -> Stage: `with r.stage('preprocess'):`"},
    {"span", (PyCFunction)(void (*)(void))request_span, METH_FASTCALL,
     "span(name, start_ns, end_ns): a stage span with explicit times."},
    {"token", (PyCFunction)(void (*)(void))request_token, METH_FASTCALL | METH_KEYWORDS,
     "token(index=None, time_ns=None): output token `index` (None: the next one) left the server at `time_ns` "
     "(None: now)."},
    {"trace_context", (PyCFunction)(void (*)(void))request_trace_context, METH_VARARGS | METH_KEYWORDS,
     "trace_context(trace_id, span_id, parent_id=None, flags=1): the request's W3C trace context."},
    {"outcome", (PyCFunction)(void (*)(void))request_outcome, METH_VARARGS | METH_KEYWORDS,
     "outcome(outcome, status=0): ok, rejected, error, cancelled or unfinished, with the HTTP status."},
    {"end", (PyCFunction)(void (*)(void))request_end, METH_FASTCALL | METH_KEYWORDS,
     "end(done_ns=None): the response was sent; records the request. Once."},
    {"_implicit_done", (PyCFunction)request_implicit_done, METH_O, NULL},
    {"_fill_span", (PyCFunction)(void (*)(void))request_fill_span, METH_FASTCALL, NULL},
    {"__enter__", (PyCFunction)request_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)request_exit, METH_VARARGS, NULL},
    {NULL}};

static PyGetSetDef request_getset[] = {
    {"id", (getter)request_get_id, NULL, "the caller's request id", NULL},
    {"trace_id", (getter)request_get_trace_id, NULL, "the trace's numeric id", NULL},
    {"input_tokens", (getter)request_get_tokens, (setter)request_set_tokens, "input tokens (None: unknown)", NULL},
    {"arrival_ns", (getter)request_get_arrival, NULL, NULL, NULL},
    {"done_ns", (getter)request_get_done, NULL, NULL, NULL},
    {"first_ns", (getter)request_get_first, NULL, "earliest start of its spans and batches (None)", NULL},
    {"last_ns", (getter)request_get_last, NULL, "latest end of its spans and batches (None)", NULL},
    {"_covered", (getter)request_get_covered, NULL, NULL, NULL},
    {"ended", (getter)request_get_ended, NULL, NULL, NULL},
    {"outcome_name", (getter)request_get_outcome, NULL, NULL, NULL},
    {"status", (getter)request_get_status, NULL, NULL, NULL},
    {"next_token", (getter)request_get_next_token, NULL, "the index token() gives when none is named", NULL},
    {NULL}};

PyTypeObject sp_py_request_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof.Request",
    .tp_basicsize = sizeof(RequestObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One request's life on the server (Recorder.request).",
    .tp_dealloc = (destructor)request_dealloc,
    .tp_traverse = (traverseproc)request_traverse,
    .tp_clear = (inquiry)request_clear,
    .tp_repr = (reprfunc)request_repr,
    .tp_methods = request_methods,
    .tp_getset = request_getset,
    .tp_weaklistoffset = offsetof(RequestObject, weakreflist),
};

/* ======================================================================================== */
/* Stage                                                                                     */

static PyObject *stage_enter(StageObject *self, PyObject *unused)
{
    if (self->state)
        return PyErr_Format(PyExc_RuntimeError, "stage %R of request %R entered twice", self->name, self->req->key);
    RecorderObject *rec = self->req->rec;
    if (HAS_ANNOT(rec) && rec->rec &&
        call_annot_begin(rec, s_stage_begin, (PyObject *)self->req, self->name, &self->annot) < 0)
        return NULL;
    self->state = 1;
    self->start = sp_now_ns();
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *stage_exit(StageObject *self, PyObject *args)
{
    uint64_t t = sp_now_ns();
    if (self->state != 1)
        return PyErr_Format(PyExc_RuntimeError, "stage %R exited without being entered", self->name);
    self->state = 2;
    sp_py_request_record_span(self->req, self->nid, self->start, t);
    if (call_annot_end(self->req->rec, &self->annot) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

static PyObject *stage_get_start(StageObject *self, void *c) { return sp_py_opt_time(self->state != 0, self->start); }

static int stage_traverse(StageObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->req);
    Py_VISIT(self->name);
    Py_VISIT(self->annot);
    return 0;
}

static int stage_clear(StageObject *self)
{
    Py_CLEAR(self->req);
    Py_CLEAR(self->name);
    Py_CLEAR(self->annot);
    return 0;
}

static void stage_dealloc(StageObject *self)
{
    PyObject_GC_UnTrack(self);
    stage_clear(self);
    PyObject_GC_Del(self);
}

static PyMethodDef stage_methods[] = {
    {"__enter__", (PyCFunction)stage_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)stage_exit, METH_VARARGS, NULL},
    {NULL}};

SP_PY_OBJECT_GETTER(stage_get_name, StageObject, name)
static PyGetSetDef stage_getset[] = {{"start_ns", (getter)stage_get_start, NULL, NULL, NULL},
                                     {"name", (getter)stage_get_name, NULL, NULL, NULL},
                                     {NULL}};

static PyTypeObject StageType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof.Stage",
    .tp_basicsize = sizeof(StageObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A stage span of a request, timed by its `with` block (Request.stage).",
    .tp_dealloc = (destructor)stage_dealloc,
    .tp_traverse = (traverseproc)stage_traverse,
    .tp_clear = (inquiry)stage_clear,
    .tp_methods = stage_methods,
    .tp_getset = stage_getset,
};

/* ======================================================================================== */
/* Batch                                                                                     */

/* A batch's or step's members as a fast sequence, refusing text and non-iterables with the caller's
 * messages: NULL with an exception. */
static PyObject *members_seq(PyObject *members, const char *not_iterable, const char *fast_msg)
{
    if (PyUnicode_Check(members) || PyBytes_Check(members) || !PyObject_HasAttrString(members, "__iter__"))
        return PyErr_Format(PyExc_TypeError, "%s", not_iterable);
    return PySequence_Fast(members, fast_msg);
}

/* A new batch (or step, `type` StepType) of `rec` not yet entered, with room for n members and no id
 * yet: NULL with an exception. */
static BatchObject *batch_alloc(RecorderObject *rec, PyTypeObject *type, Py_ssize_t n)
{
    BatchObject *b = PyObject_GC_New(BatchObject, type);
    if (!b)
        return NULL;
    int is_step = type == &StepType;
    size_t cap = (size_t)(n ? n : 1);
    Py_INCREF(rec);
    b->rec = rec;
    b->members = PyMem_Malloc(sizeof(uint64_t) * cap);
    b->phases = is_step ? PyMem_Malloc(cap) : NULL;
    b->tokens = is_step ? PyMem_Malloc(sizeof(uint32_t) * cap) : NULL;
    b->n = 0;
    b->reqs = PyList_New(0);
    b->state = b->cupti = 0;
    b->token = b->annot = NULL;
    b->start = b->end = 0;
    b->is_step = is_step;
    b->kv_used = b->kv_capacity = 0;
    PyObject_GC_Track((PyObject *)b);
    if (!b->members || !b->reqs || (is_step && (!b->phases || !b->tokens))) {
        Py_DECREF(b);
        PyErr_NoMemory();
        return NULL;
    }
    return b;
}

/* A batch or step member's request: a Request, or the id of an open one, or an integer id of none (r
 * NULL). `step_index` is the member's index in a step, -1 in a batch (the error names it so). */
static int member_request(RecorderObject *rec, PyObject *m, Py_ssize_t step_index, uint64_t *id, RequestObject **r)
{
    *r = NULL;
    if (Py_IS_TYPE(m, &sp_py_request_type)) {
        *r = (RequestObject *)m;
        *id = (*r)->id;
        return 0;
    }
    PyObject *chk = PyObject_CallMethod(g_common, "check_request_id", "O", m);
    if (!chk)
        return -1;
    Py_DECREF(chk);
    *r = (RequestObject *)PyDict_GetItemWithError(rec->open, m);
    if (*r) {
        *id = (*r)->id;
        return 0;
    }
    if (PyErr_Occurred())
        return -1;
    if (PyLong_Check(m)) {
        *id = PyLong_AsUnsignedLongLong(m);
        return 0;
    }
    if (step_index < 0)
        PyErr_Format(PyExc_ValueError, "batch member %R is not an open request of this recorder (pass the Request "
                                       "objects to be safe from requests that already ended)", m);
    else
        PyErr_Format(PyExc_ValueError, "step member %zd: %R is not an open request of this recorder (pass the "
                                       "Request objects to be safe from requests that already ended)", step_index, m);
    return -1;
}

/* A batch's or step's id: `given` (named `what` in an error) or, absent or None, the recorder's next. */
static int batch_id_of(RecorderObject *rec, PyObject *given, const char *what, uint64_t *out)
{
    if (given && given != Py_None)
        return get_count(given, out, what);
    *out = ++rec->next_batch;
    return 0;
}

static PyObject *batch_new_impl(RecorderObject *rec, PyObject *requests, PyObject *eff, PyObject *pad, PyObject *bid)
{
    PyObject *seq = members_seq(requests, "batch(requests, ...): requests must be an iterable of servprof.Request "
                                          "objects or request ids", "batch(requests, ...): requests must be iterable");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > MAX_MEMBERS) {
        Py_DECREF(seq);
        return PyErr_Format(PyExc_ValueError, "a batch holds at most %d requests", MAX_MEMBERS);
    }
    BatchObject *b = batch_alloc(rec, &BatchType, n);
    if (!b) {
        Py_DECREF(seq);
        return NULL;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    int all_known = 1;
    uint64_t sum = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        RequestObject *r;
        if (member_request(rec, items[i], -1, &b->members[b->n], &r) < 0)
            goto fail;
        b->n++;
        if (!r) {
            all_known = 0;
            continue;
        }
        if (PyList_Append(b->reqs, (PyObject *)r) < 0)
            goto fail;
        if (r->tokens < 0)
            all_known = 0;
        else
            sum += (uint64_t)r->tokens;
    }
    Py_CLEAR(seq);
    uint64_t e, p;
    if (eff && eff != Py_None) {
        if (get_count(eff, &e, "effective_tokens") < 0)
            goto fail;
    } else {
        e = all_known && n > 0 ? sum : 0;
    }
    if (pad && pad != Py_None) {
        if (get_count(pad, &p, "padded_tokens") < 0)
            goto fail;
    } else {
        p = e;
    }
    if (e > p) {
        PyErr_Format(PyExc_ValueError, "effective_tokens %llu exceeds padded_tokens %llu", (unsigned long long)e,
                     (unsigned long long)p);
        goto fail;
    }
    b->effective = e;
    b->padded = p;
    if (batch_id_of(rec, bid, "batch_id", &b->id) < 0)
        goto fail;
    return (PyObject *)b;
fail:
    Py_XDECREF(seq);
    Py_DECREF(b);
    return NULL;
}

/* Writes the batch (or step) record with window [s, e] and touches its requests. The recorder is open. */
static void batch_emit(BatchObject *self, uint64_t s, uint64_t e)
{
    RecorderObject *rec = self->rec;
    if (self->is_step) {
        sp_step_record st = {self->id, s, e, self->effective, self->padded, self->kv_used, self->kv_capacity,
                             (size_t)self->n, self->members, self->phases, self->tokens};
        sp_record_step(rec->rec, &st);
        if (self->n > (Py_ssize_t)SP_STEP_MAX_MEMBERS) /* dropped as too_large: it touches no request */
            return;
    } else {
        sp_record_batch(rec->rec, self->id, self->members, (size_t)self->n, s, e, self->effective, self->padded);
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(self->reqs); i++)
        request_touch((RequestObject *)PyList_GET_ITEM(self->reqs, i), s, e);
}

/* One member (request, phase, tokens): a tuple with a known phase and tokens in 1..2**32-1 is read
 * here; anything else goes through servprof._common.check_step_member (its exception, or its reading
 * of a list). Fills *request (borrowed from `m` or from `keep`, which the caller releases). */
static int step_member(PyObject *m, Py_ssize_t i, PyObject **request, uint8_t *phase, uint32_t *tokens, PyObject **keep)
{
    static const char *const phase_names[] = {"decode", "prefill", "prefill_chunk"};
    if (PyTuple_CheckExact(m) && PyTuple_GET_SIZE(m) == 3 && PyUnicode_Check(PyTuple_GET_ITEM(m, 1)) &&
        PyLong_CheckExact(PyTuple_GET_ITEM(m, 2))) {
        PyObject *ph = PyTuple_GET_ITEM(m, 1);
        int k = -1;
        for (int j = 0; j < 3 && k < 0; j++)
            if (PyUnicode_CompareWithASCIIString(ph, phase_names[j]) == 0)
                k = j;
        unsigned long long n = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(m, 2));
        if (n == (unsigned long long)-1 && PyErr_Occurred())
            PyErr_Clear();
        else if (k >= 0 && n >= 1 && n <= UINT32_MAX) {
            *request = PyTuple_GET_ITEM(m, 0);
            *phase = (uint8_t)k;
            *tokens = (uint32_t)n;
            return 0;
        }
    }
    PyObject *r = PyObject_CallMethod(g_common, "check_step_member", "On", m, i);
    if (!r)
        return -1;
    *keep = r;
    *request = PyTuple_GET_ITEM(r, 0);
    *phase = (uint8_t)PyLong_AsLong(PyTuple_GET_ITEM(r, 1));
    *tokens = (uint32_t)PyLong_AsUnsignedLong(PyTuple_GET_ITEM(r, 2));
    return 0;
}

static PyObject *step_new_impl(RecorderObject *rec, PyObject *members, PyObject *pad, PyObject *kv_used,
                               PyObject *kv_cap, PyObject *sid)
{
    PyObject *seq = members_seq(members, "step(members, ...): members must be an iterable of (request, phase, "
                                         "tokens) tuples", "step(members, ...): members must be iterable");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    BatchObject *b = batch_alloc(rec, &StepType, n);
    if (!b) {
        Py_DECREF(seq);
        return NULL;
    }
    PyObject **items = PySequence_Fast_ITEMS(seq);
    uint64_t sum = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *request, *keep = NULL;
        RequestObject *r;
        if (step_member(items[i], i, &request, &b->phases[i], &b->tokens[i], &keep) < 0)
            goto fail;
        int bad = member_request(rec, request, i, &b->members[i], &r) < 0 ||
                  (r && PyList_Append(b->reqs, (PyObject *)r) < 0);
        Py_XDECREF(keep);
        if (bad)
            goto fail;
        b->n++;
        sum += b->tokens[i];
    }
    Py_CLEAR(seq);
    b->effective = sum;
    if (pad && pad != Py_None) {
        if (get_count(pad, &b->padded, "padded_tokens") < 0)
            goto fail;
    } else {
        b->padded = sum;
    }
    if (sum > b->padded) {
        PyErr_Format(PyExc_ValueError, "the members' tokens (%llu) exceed padded_tokens %llu", (unsigned long long)sum,
                     (unsigned long long)b->padded);
        goto fail;
    }
    if ((kv_used && kv_used != Py_None && get_count(kv_used, &b->kv_used, "kv_used") < 0) ||
        (kv_cap && kv_cap != Py_None && get_count(kv_cap, &b->kv_capacity, "kv_capacity") < 0))
        goto fail;
    if (b->kv_capacity && b->kv_used > b->kv_capacity) {
        PyErr_Format(PyExc_ValueError, "kv_used %llu exceeds kv_capacity %llu", (unsigned long long)b->kv_used,
                     (unsigned long long)b->kv_capacity);
        goto fail;
    }
    if (batch_id_of(rec, sid, "step_id", &b->id) < 0)
        goto fail;
    return (PyObject *)b;
fail:
    Py_XDECREF(seq);
    Py_DECREF(b);
    return NULL;
}

static PyObject *batch_enter(BatchObject *self, PyObject *unused)
{
    if (self->state)
        return PyErr_Format(PyExc_RuntimeError, "batch %llu entered twice", (unsigned long long)self->id);
    RecorderObject *rec = self->rec;
    if (HAS_ANNOT(rec) && rec->rec && call_annot_begin(rec, s_batch_begin, (PyObject *)self, NULL, &self->annot) < 0)
        return NULL;
    self->token = PyContextVar_Set(g_current_batch, (PyObject *)self);
    if (!self->token)
        return NULL;
    if (g_cupti_begin && rec->rec) {
        g_cupti_begin(self->id);
        self->cupti = 1;
    }
    self->state = 1;
    self->start = sp_now_ns();
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *batch_exit(BatchObject *self, PyObject *args)
{
    uint64_t t = sp_now_ns();
    if (self->state == 0)
        return PyErr_Format(PyExc_RuntimeError, "batch %llu exited without being entered", (unsigned long long)self->id);
    if (self->state == 2)
        return PyErr_Format(PyExc_RuntimeError, "batch %llu exited twice", (unsigned long long)self->id);
    self->state = 2;
    self->end = t;
    RecorderObject *rec = self->rec;
    if (self->cupti && g_cupti_end)
        g_cupti_end();
    if (self->token) {
        if (PyContextVar_Reset(g_current_batch, self->token) < 0) {
            /* exited in another context than it was entered in: leave no batch current here */
            PyErr_Clear();
            PyObject *tk = PyContextVar_Set(g_current_batch, Py_None);
            Py_XDECREF(tk);
            if (!tk)
                return NULL;
        }
        Py_CLEAR(self->token);
    }
    if (!rec->rec) {
        rec->after_close++;
        Py_RETURN_FALSE;
    }
    batch_emit(self, self->start, t);
    if (call_annot_end(rec, &self->annot) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

static PyObject *batch_kernel(BatchObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"device", "stream"};
    PyObject *vals[2] = {NULL, NULL};
    if (parse_kw("kernel", nargs, 3, args, kwnames, names, vals, 2) < 0)
        return NULL;
    return kernel_impl(self->rec, args, (PyObject *)self, vals[0], vals[1]);
}

/* record(start_ns, end_ns): the batch with a window the caller timed itself, instead of a with block */
static PyObject *batch_record(BatchObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "record(start_ns, end_ns) takes 2 arguments (%zd given)", nargs);
    uint64_t s, e;
    if (check_span(args[0], args[1], &s, &e) < 0)
        return NULL;
    if (self->state)
        return PyErr_Format(PyExc_RuntimeError, "batch %llu is already %s", (unsigned long long)self->id,
                            self->state == 1 ? "running in a with block" : "recorded");
    self->state = 2;
    self->start = s;
    self->end = e;
    RecorderObject *rec = self->rec;
    if (!rec->rec) {
        rec->after_close++;
        Py_RETURN_NONE;
    }
    batch_emit(self, s, e);
    Py_RETURN_NONE;
}

static Py_ssize_t batch_len(BatchObject *self) { return self->n; }

static PyObject *batch_get_members(BatchObject *self, void *c)
{
    PyObject *t = PyTuple_New(self->n);
    if (!t)
        return NULL;
    for (Py_ssize_t i = 0; i < self->n; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(self->members[i]);
        if (!v) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}
static PyObject *batch_get_requests(BatchObject *self, void *c) { return PyList_AsTuple(self->reqs); }
static PyObject *batch_get_id(BatchObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->id); }
static PyObject *batch_get_eff(BatchObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->effective); }
static PyObject *batch_get_pad(BatchObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->padded); }
static PyObject *step_get_phases(BatchObject *self, void *c)
{
    static const char *const phase_names[] = {"decode", "prefill", "prefill_chunk"};
    PyObject *t = PyTuple_New(self->n);
    for (Py_ssize_t i = 0; t && i < self->n; i++) {
        PyObject *v = PyUnicode_FromString(phase_names[self->phases[i]]);
        if (!v) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}
static PyObject *step_get_tokens(BatchObject *self, void *c)
{
    PyObject *t = PyTuple_New(self->n);
    for (Py_ssize_t i = 0; t && i < self->n; i++) {
        PyObject *v = PyLong_FromUnsignedLong(self->tokens[i]);
        if (!v) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}
static PyObject *step_get_kv_used(BatchObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->kv_used); }
static PyObject *step_get_kv_cap(BatchObject *self, void *c) { return PyLong_FromUnsignedLongLong(self->kv_capacity); }
static PyObject *batch_get_start(BatchObject *self, void *c) { return sp_py_opt_time(self->state != 0, self->start); }
static PyObject *batch_get_end(BatchObject *self, void *c) { return sp_py_opt_time(self->state == 2, self->end); }

static int batch_traverse(BatchObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->rec);
    Py_VISIT(self->reqs);
    Py_VISIT(self->token);
    Py_VISIT(self->annot);
    return 0;
}

static int batch_clear(BatchObject *self)
{
    Py_CLEAR(self->rec);
    Py_CLEAR(self->reqs);
    Py_CLEAR(self->token);
    Py_CLEAR(self->annot);
    return 0;
}

static void batch_dealloc(BatchObject *self)
{
    PyObject_GC_UnTrack(self);
    batch_clear(self);
    PyMem_Free(self->members);
    PyMem_Free(self->phases);
    PyMem_Free(self->tokens);
    PyObject_GC_Del(self);
}

static PyMethodDef batch_methods[] = {
    {"__enter__", (PyCFunction)batch_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)batch_exit, METH_VARARGS, NULL},
    {"kernel", (PyCFunction)(void (*)(void))batch_kernel, METH_FASTCALL | METH_KEYWORDS,
     "kernel(name, start_ns, end_ns, *, device=0, stream=0): device work of this batch."},
    {"record", (PyCFunction)(void (*)(void))batch_record, METH_FASTCALL,
     "record(start_ns, end_ns): records the batch with this window (instead of a with block)."},
    {NULL}};

static PyGetSetDef batch_getset[] = {
    {"id", (getter)batch_get_id, NULL, NULL, NULL},
    {"members", (getter)batch_get_members, NULL, "the members' trace ids", NULL},
    {"requests", (getter)batch_get_requests, NULL, "the members' Request objects (members given as ids of no "
     "open request are not among them)", NULL},
    {"effective_tokens", (getter)batch_get_eff, NULL, NULL, NULL},
    {"padded_tokens", (getter)batch_get_pad, NULL, NULL, NULL},
    {"start_ns", (getter)batch_get_start, NULL, NULL, NULL},
    {"end_ns", (getter)batch_get_end, NULL, NULL, NULL},
    {NULL}};

static PySequenceMethods batch_as_seq = {.sq_length = (lenfunc)batch_len};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof.Batch",
    .tp_basicsize = sizeof(BatchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A batch's execution window, timed by its `with` block (Recorder.batch).",
    .tp_dealloc = (destructor)batch_dealloc,
    .tp_traverse = (traverseproc)batch_traverse,
    .tp_clear = (inquiry)batch_clear,
    .tp_methods = batch_methods,
    .tp_getset = batch_getset,
    .tp_as_sequence = &batch_as_seq,
};

static PyGetSetDef step_getset[] = {
    {"phases", (getter)step_get_phases, NULL, "each member's phase: decode, prefill or prefill_chunk", NULL},
    {"tokens", (getter)step_get_tokens, NULL, "the tokens the step computed for each member", NULL},
    {"kv_used", (getter)step_get_kv_used, NULL, "KV cache tokens in use after the step", NULL},
    {"kv_capacity", (getter)step_get_kv_cap, NULL, "KV cache capacity in tokens (0: unknown)", NULL},
    {NULL}};

/* A subclass of Batch (the step is its batch: device work ties to it, current_batch() returns it); its
 * record is sp_record_step's instead of sp_record_batch's. */
static PyTypeObject StepType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof.Step",
    .tp_basicsize = sizeof(BatchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One step of a continuous-batching scheduler (Recorder.step): a Batch whose members carry a phase "
              "and the tokens computed for them, with the KV cache's occupancy; its `with` block (or record()) "
              "is the step's window.",
    .tp_base = &BatchType,
    .tp_dealloc = (destructor)batch_dealloc,
    .tp_traverse = (traverseproc)batch_traverse,
    .tp_clear = (inquiry)batch_clear,
    .tp_getset = step_getset,
};

/* ======================================================================================== */
/* ModuleTimer: forward hooks recording a module's forward pass as device work                */

typedef struct ModuleTimerObject {
    PyObject_HEAD
    RecorderObject *rec;
    PyObject *name;
    sp_name_id nid;
    uint32_t device, stream;
    int innermost; /* record a pass only when no other timed module's pass began inside it */
    int n;
    unsigned long thread[TIMER_SLOTS];
    uint64_t start[TIMER_SLOTS];
    uint64_t mark[TIMER_SLOTS]; /* timer_calls just after this pass began */
} ModuleTimerObject;

/* Module passes begun in this thread, by every ModuleTimer: a pass is innermost when the count has not
 * moved between its pre-hook and its hook (a module whose forward calls none of its timed children,
 * such as nn.TransformerEncoderLayer's fused path or nn.MultiheadAttention, which uses out_proj's
 * weights without calling it). Hooks run with the GIL, in the thread of the forward. */
static _Thread_local uint64_t timer_calls;

static int timer_init(ModuleTimerObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"recorder", "name", "device", "stream", "innermost", NULL};
    PyObject *rec, *name, *dev = NULL, *str = NULL;
    int innermost = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OO$p", kwlist, &rec, &name, &dev, &str, &innermost))
        return -1;
    if (!Py_IS_TYPE(rec, &sp_py_recorder_type)) {
        PyErr_SetString(PyExc_TypeError, "ModuleTimer(recorder, name): recorder must be a servprof.Recorder");
        return -1;
    }
    if (kernel_name_id((RecorderObject *)rec, name, &self->nid) < 0)
        return -1;
    if ((dev && get_u32(dev, &self->device, "device") < 0) || (str && get_u32(str, &self->stream, "stream") < 0))
        return -1;
    Py_INCREF(rec);
    Py_XSETREF(self->rec, (RecorderObject *)rec);
    Py_INCREF(name);
    Py_XSETREF(self->name, name);
    self->innermost = innermost;
    self->n = 0;
    return 0;
}

static PyObject *timer_pre(ModuleTimerObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t mark = ++timer_calls; /* counted even when not timed: the enclosing pass is not innermost */
    if (self->n < TIMER_SLOTS) { /* deeper recursion than 64 is not timed */
        self->thread[self->n] = PyThread_get_thread_ident();
        self->mark[self->n] = mark;
        self->start[self->n++] = sp_now_ns();
    }
    Py_RETURN_NONE;
}

static PyObject *timer_post(ModuleTimerObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t t = sp_now_ns();
    unsigned long me = PyThread_get_thread_ident();
    int i;
    for (i = self->n - 1; i >= 0; i--)
        if (self->thread[i] == me)
            break;
    if (i < 0)
        Py_RETURN_NONE;
    sp_kernel_record k = {0};
    k.start_ns = self->start[i];
    k.end_ns = t;
    int inner = self->mark[i] == timer_calls;
    memmove(&self->thread[i], &self->thread[i + 1], sizeof(self->thread[0]) * (size_t)(self->n - i - 1));
    memmove(&self->start[i], &self->start[i + 1], sizeof(self->start[0]) * (size_t)(self->n - i - 1));
    memmove(&self->mark[i], &self->mark[i + 1], sizeof(self->mark[0]) * (size_t)(self->n - i - 1));
    self->n--;
    if (self->innermost && !inner) /* a timed module ran inside: its passes are the kernels */
        Py_RETURN_NONE;
    RecorderObject *rec = self->rec;
    if (!rec->rec) {
        rec->after_close++;
        Py_RETURN_NONE;
    }
    if (resolve_batch(NULL, &k.batch_id) < 0)
        return NULL;
    k.name = self->nid;
    k.device = self->device;
    k.stream = self->stream;
    sp_record_kernel(rec->rec, &k);
    Py_RETURN_NONE;
}

static int timer_traverse(ModuleTimerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->rec);
    return 0;
}

static int timer_clear(ModuleTimerObject *self)
{
    Py_CLEAR(self->rec);
    return 0;
}

static void timer_dealloc(ModuleTimerObject *self)
{
    PyObject_GC_UnTrack(self);
    timer_clear(self);
    Py_CLEAR(self->name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef timer_methods[] = {
    {"pre", (PyCFunction)(void (*)(void))timer_pre, METH_FASTCALL, "forward pre-hook (module, args)"},
    {"post", (PyCFunction)(void (*)(void))timer_post, METH_FASTCALL, "forward hook (module, args, output)"},
    {NULL}};

SP_PY_OBJECT_GETTER(timer_get_name, ModuleTimerObject, name)
static PyGetSetDef timer_getset[] = {{"name", (getter)timer_get_name, NULL, NULL, NULL}, {NULL}};

static PyTypeObject ModuleTimerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof.ModuleTimer",
    .tp_basicsize = sizeof(ModuleTimerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "ModuleTimer(recorder, name, device=0, stream=0, *, innermost=False): .pre/.post are forward "
              "hooks that record the module's forward pass as a kernel of the current batch (with innermost, "
              "only a pass inside which no other timed module's pass began).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)timer_init,
    .tp_dealloc = (destructor)timer_dealloc,
    .tp_traverse = (traverseproc)timer_traverse,
    .tp_clear = (inquiry)timer_clear,
    .tp_methods = timer_methods,
    .tp_getset = timer_getset,
};

/* ======================================================================================== */
/* module                                                                                    */

static PyObject *mod_now_ns(PyObject *m, PyObject *unused) { return PyLong_FromUnsignedLongLong(sp_now_ns()); }
static PyObject *mod_library_version(PyObject *m, PyObject *unused) { return PyUnicode_FromString(sp_version()); }

/* _set_cupti_hooks(begin, end): the addresses of sp_cupti_batch_begin / _end (ints, 0 or None: off) */
static PyObject *mod_set_cupti_hooks(PyObject *m, PyObject *args)
{
    PyObject *b, *e;
    if (!PyArg_ParseTuple(args, "OO", &b, &e))
        return NULL;
    void *pb = b == Py_None ? NULL : PyLong_AsVoidPtr(b);
    void *pe = e == Py_None ? NULL : PyLong_AsVoidPtr(e);
    if (PyErr_Occurred())
        return NULL;
    if (!pb != !pe)
        return PyErr_Format(PyExc_ValueError, "_set_cupti_hooks: both or neither");
    /* object pointer -> function pointer: POSIX guarantees dlsym's results convert */
    memcpy(&g_cupti_begin, &pb, sizeof pb);
    memcpy(&g_cupti_end, &pe, sizeof pe);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"now_ns", mod_now_ns, METH_NOARGS, "now_ns() -> int: servprof's clock (CLOCK_MONOTONIC ns)."},
    {"library_version", mod_library_version, METH_NOARGS, "the version of libservprof.so in use"},
    {"_set_cupti_hooks", mod_set_cupti_hooks, METH_VARARGS, NULL},
    {NULL}};

static struct PyModuleDef native_module = {PyModuleDef_HEAD_INIT, "servprof._native",
                                           "servprof's recording API as a C extension over libservprof.", -1,
                                           module_methods};

PyMODINIT_FUNC PyInit__native(void)
{
    g_common = PyImport_ImportModule("servprof._common");
    if (!g_common)
        return NULL;
    g_current_batch = PyObject_GetAttrString(g_common, "current_batch");
    if (!g_current_batch)
        return NULL;
    PyObject *weakref = PyImport_ImportModule("weakref");
    if (!weakref)
        return NULL;
    g_live = PyObject_CallMethod(weakref, "WeakSet", NULL);
    Py_DECREF(weakref);
    if (!g_live)
        return NULL;
    s_request_begin = PyUnicode_InternFromString("request_begin");
    s_request_tokens = PyUnicode_InternFromString("request_tokens");
    s_stage_begin = PyUnicode_InternFromString("stage_begin");
    s_batch_begin = PyUnicode_InternFromString("batch_begin");
    s_end = PyUnicode_InternFromString("end");
    if (!s_request_begin || !s_request_tokens || !s_stage_begin || !s_batch_begin || !s_end)
        return NULL;
    PyTypeObject *types[] = {&sp_py_recorder_type, &sp_py_request_type, &StageType, &BatchType, &StepType,
                             &ModuleTimerType};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (PyType_Ready(types[i]) < 0)
            return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (!m)
        return NULL;
    const char *names[] = {"Recorder", "Request", "Stage", "Batch", "Step", "ModuleTimer"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    if (sp_py_asgi_register(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "_live", g_live) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
