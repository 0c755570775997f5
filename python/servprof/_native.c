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
 * intern, set_property: locks, the writer thread, the disk) release it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <servprof/trace.h>

#define MAX_LABEL 255
#define MAX_MEMBERS 4096
#define LABELLED_ID_BASE (UINT64_C(1) << 63)
#define N_OUTCOMES 5
#define TIMER_SLOTS 64

static const char *const outcome_names[N_OUTCOMES] = {"ok", "rejected", "error", "cancelled", "unfinished"};

/* from servprof._common (set at module init) */
static PyObject *g_common;         /* the module */
static PyObject *g_current_batch;  /* its ContextVar */
static PyObject *g_live;           /* WeakSet of open recorders (a forked child forgets their requests) */
static PyObject *g_cancelled;      /* asyncio.CancelledError, looked up on first need */
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

/* A time argument that may be absent or None (then now): 0, or -1 with an exception. */
static int get_time_or_now(PyObject *o, uint64_t *out, const char *what)
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
} RecorderObject;

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
    PyObject *annot;
    PyObject *weakreflist;
} RequestObject;

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

static PyTypeObject RecorderType, RequestType, StageType, BatchType, StepType, ModuleTimerType;

static void request_touch(RequestObject *r, uint64_t s, uint64_t e)
{
    if (!r->has_span || s < r->first)
        r->first = s;
    if (!r->has_span || e > r->last)
        r->last = e;
    r->has_span = 1;
}

static int request_finish(RequestObject *r, uint64_t t, int outcome, int status);

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
        if (!(d > 0) || d == Py_HUGE_VAL) {
            PyErr_SetString(PyExc_ValueError, "price_per_hour must be a positive finite number");
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
    if (props != Py_None) {
        PyObject *items = PyMapping_Items(props);
        if (!items)
            goto fail_close;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
            PyObject *kv = PyList_GET_ITEM(items, i);
            r = PyObject_CallMethod((PyObject *)self, "set_property", "OO", PyTuple_GET_ITEM(kv, 0),
                                    PyTuple_GET_ITEM(kv, 1));
            if (!r) {
                Py_DECREF(items);
                goto fail_close;
            }
            Py_DECREF(r);
        }
        Py_DECREF(items);
    }
    Py_XDECREF(stage_list);
    return 0;
fail_close: {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        sp_recorder *p2 = self->rec;
        self->rec = NULL;
        Py_BEGIN_ALLOW_THREADS
        sp_recorder_close(p2);
        Py_END_ALLOW_THREADS
        PyErr_Restore(et, ev, tb);
    }
fail:
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
    if (!PyUnicode_Check(key) || !PyUnicode_Check(val))
        return PyErr_Format(PyExc_TypeError, "set_property(key, value): both must be str");
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
            request_finish(r, t, SP_OUTCOME_UNFINISHED, 0);
            r->ended = 2;
            self->unfinished++;
        }
    }
    Py_DECREF(vals);
    PyDict_Clear(self->open);
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
    Py_RETURN_NONE;
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

/* Opens request `key` (str or int, checked here) arriving at `arrival` with `tok` input tokens (< 0:
 * unknown): a new reference, or NULL with an exception. recorder.request() and the ASGI middleware's
 * _asgi_begin() share it. */
static PyObject *request_open(RecorderObject *self, PyObject *key, int64_t tok, uint64_t arrival)
{
    int labelled;
    if (PyUnicode_CheckExact(key)) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(key, &len);
        if (!s)
            return NULL;
        if (len == 0 || len > MAX_LABEL)
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
        labelled = 0;
    } else {
        return raise_via("check_request_id", key, NULL);
    }
    RequestObject *r = PyObject_GC_New(RequestObject, &RequestType);
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
    r->next_token = 0;
    r->annot = NULL;
    r->weakreflist = NULL;
    r->id = labelled ? LABELLED_ID_BASE + self->next_label++ : (uint64_t)PyLong_AsUnsignedLongLong(key);
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
    if (get_time_or_now(vals[1], &arrival, "arrival_ns") < 0)
        return NULL;
    return request_open(self, args[0], tok, arrival);
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

static PyGetSetDef recorder_getset[] = {
    {"annotator", (getter)recorder_get_annotator, (setter)recorder_set_annotator,
     "None, or the object servprof.torch installs to mirror records as record_function ranges", NULL},
    {"stages", (getter)recorder_stages, NULL, "stage names this recorder accepts", NULL},
    {"closed", (getter)recorder_closed, NULL, "True once close() ran", NULL},
    {"_handle", (getter)recorder_handle, NULL, "the sp_recorder pointer (0 when closed)", NULL},
    {NULL}};

static PyMemberDef recorder_members[] = {
    {"path", T_OBJECT, offsetof(RecorderObject, path), READONLY, "the trace file"},
    {NULL}};

static PyTypeObject RecorderType = {
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
    .tp_members = recorder_members,
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

static int request_finish(RequestObject *r, uint64_t t, int outcome, int status)
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

static void request_record_span(RequestObject *self, sp_name_id nid, uint64_t s, uint64_t e)
{
    RecorderObject *rec = self->rec;
    if (!rec->rec) {
        rec->after_close++;
        return;
    }
    sp_record_stage(rec->rec, self->id, nid, s, e);
    request_touch(self, s, e);
}

static PyObject *request_span(RequestObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3)
        return PyErr_Format(PyExc_TypeError, "span(name, start_ns, end_ns) takes 3 arguments (%zd given)", nargs);
    sp_name_id nid = SP_NAME_NONE;
    uint64_t s, e;
    if (stage_id(self->rec, args[0], &nid) < 0 || check_span(args[1], args[2], &s, &e) < 0)
        return NULL;
    request_record_span(self, nid, s, e);
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
    if (get_time_or_now(vals[1], &t, "time_ns") < 0)
        return NULL;
    self->next_token = index + 1;
    if (!self->rec->rec) {
        self->rec->after_close++;
        Py_RETURN_NONE;
    }
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
    if (get_time_or_now(vals[0], &t, "done_ns") < 0)
        return NULL;
    if (t < self->arrival)
        return PyErr_Format(PyExc_ValueError, "done_ns %llu is before the request's arrival %llu",
                            (unsigned long long)t, (unsigned long long)self->arrival);
    if (request_finish(self, t, self->outcome, self->status) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *request_enter(RequestObject *self, PyObject *unused)
{
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *request_exit(RequestObject *self, PyObject *args)
{
    PyObject *et, *ev, *tb;
    if (!PyArg_UnpackTuple(args, "__exit__", 3, 3, &et, &ev, &tb))
        return NULL;
    if (self->ended)
        Py_RETURN_FALSE;
    if (et != Py_None && !self->outcome_set) {
        if (!g_cancelled) {
            PyObject *m = PyImport_ImportModule("asyncio");
            g_cancelled = m ? PyObject_GetAttrString(m, "CancelledError") : NULL;
            Py_XDECREF(m);
            if (!g_cancelled)
                return NULL;
        }
        int c = PyObject_IsSubclass(et, g_cancelled);
        if (c < 0)
            return NULL;
        self->outcome = c ? SP_OUTCOME_CANCELLED : SP_OUTCOME_ERROR;
        self->status = c ? 0 : 500;
    }
    if (request_finish(self, sp_now_ns(), self->outcome, self->status) < 0)
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

static PyObject *opt_time(int has, uint64_t v)
{
    if (!has)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(v);
}
static PyObject *request_get_first(RequestObject *self, void *c) { return opt_time(self->has_span, self->first); }
static PyObject *request_get_last(RequestObject *self, void *c) { return opt_time(self->has_span, self->last); }
static PyObject *request_get_done(RequestObject *self, void *c) { return opt_time(self->ended, self->done); }
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
    {"ended", (getter)request_get_ended, NULL, NULL, NULL},
    {"outcome_name", (getter)request_get_outcome, NULL, NULL, NULL},
    {"status", (getter)request_get_status, NULL, NULL, NULL},
    {"next_token", (getter)request_get_next_token, NULL, "the index token() gives when none is named", NULL},
    {NULL}};

static PyTypeObject RequestType = {
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
    request_record_span(self->req, self->nid, self->start, t);
    if (call_annot_end(self->req->rec, &self->annot) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

static PyObject *stage_get_start(StageObject *self, void *c) { return opt_time(self->state != 0, self->start); }

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

static PyGetSetDef stage_getset[] = {{"start_ns", (getter)stage_get_start, NULL, NULL, NULL}, {NULL}};
static PyMemberDef stage_members[] = {{"name", T_OBJECT, offsetof(StageObject, name), READONLY, NULL}, {NULL}};

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
    .tp_members = stage_members,
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
    if (Py_IS_TYPE(m, &RequestType)) {
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
static PyObject *batch_get_start(BatchObject *self, void *c) { return opt_time(self->state != 0, self->start); }
static PyObject *batch_get_end(BatchObject *self, void *c) { return opt_time(self->state == 2, self->end); }

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
    int n;
    unsigned long thread[TIMER_SLOTS];
    uint64_t start[TIMER_SLOTS];
} ModuleTimerObject;

static int timer_init(ModuleTimerObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"recorder", "name", "device", "stream", NULL};
    PyObject *rec, *name, *dev = NULL, *str = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OO", kwlist, &rec, &name, &dev, &str))
        return -1;
    if (!Py_IS_TYPE(rec, &RecorderType)) {
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
    self->n = 0;
    return 0;
}

static PyObject *timer_pre(ModuleTimerObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (self->n < TIMER_SLOTS) { /* deeper recursion than 64 is not timed */
        self->thread[self->n] = PyThread_get_thread_ident();
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
    memmove(&self->thread[i], &self->thread[i + 1], sizeof(self->thread[0]) * (size_t)(self->n - i - 1));
    memmove(&self->start[i], &self->start[i + 1], sizeof(self->start[0]) * (size_t)(self->n - i - 1));
    self->n--;
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

static PyMemberDef timer_members[] = {{"name", T_OBJECT, offsetof(ModuleTimerObject, name), READONLY, NULL}, {NULL}};

static PyTypeObject ModuleTimerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof.ModuleTimer",
    .tp_basicsize = sizeof(ModuleTimerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "ModuleTimer(recorder, name, device=0, stream=0): .pre/.post are forward hooks that record "
              "the module's forward pass as a kernel of the current batch.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)timer_init,
    .tp_dealloc = (destructor)timer_dealloc,
    .tp_traverse = (traverseproc)timer_traverse,
    .tp_clear = (inquiry)timer_clear,
    .tp_methods = timer_methods,
    .tp_members = timer_members,
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

/* ======================================================================================== */
/* The ASGI middleware's per-request bookkeeping (servprof/asgi.py)                          */

/* Its Python version cost the middleware 34 us a request around a FastAPI app (header scans,
 * traceparent and hex parsing, the trace context's checks, a send coroutine), about 4% of the example
 * service's capacity at saturation; with these parts, called from a Python coroutine, 8.1 us, and with
 * the whole request in C (_asgi_call below) 4.3 us, where the Python path took 30 in the same rounds
 * (bench/python_asgi.py; docs/BENCHMARKS.md, "Python recording"). asgi.py keeps the
 * Python version for the ctypes backend, and its _begin for headers that are not a list or tuple of
 * (bytes, bytes). */

/* Span ids: 64 random bits. A splitmix64 sequence seeded from getrandom() (the clock where that
 * fails), under the GIL; a forked child seeds again, so parent and child never give the same ids. */
static uint64_t g_span_state;
static int g_span_seeded;

static void span_rng_forget(void) { g_span_seeded = 0; }

static uint64_t span_id_next(void)
{
    if (!g_span_seeded) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
            seed = sp_now_ns() ^ ((uint64_t)getpid() << 32);
        g_span_state = seed;
        g_span_seeded = 1;
    }
    uint64_t z;
    do { /* splitmix64 (Steele, Lea, Flood 2014): a bijection of the counter, never stuck on zero */
        z = (g_span_state += UINT64_C(0x9E3779B97F4A7C15));
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        z ^= z >> 31;
    } while (z == 0);
    return z;
}

/* bytes.strip()'s whitespace */
static int ascii_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static const char hex_digits[] = "0123456789abcdef";

/* servprof.asgi's module globals (its `_ids` counter) and its request ContextVar: _asgi_setup() */
static PyObject *g_asgi_globals, *g_asgi_var;
static PyObject *s_ids;

/* The request id: the first X-Request-Id whose value, stripped, is 1..255 printable ASCII bytes; else
 * the first traceparent header's trace id when that header is valid (sp_trace_context_parse: the rules
 * of _common.parse_traceparent); else the next number of `ids` (NULL: servprof.asgi's `_ids`, read now,
 * so a test that replaces it is heard). A valid traceparent is continued under a random span id, its
 * parent-id the caller's span. 1 with *req_out and *echo_out (new references), 0 when `headers` is not
 * a list or tuple of 2-tuples of bytes (the caller then takes its Python path), -1 with an exception. */
static int asgi_begin_impl(RecorderObject *rec, PyObject *headers, uint64_t arrival, PyObject *ids,
                           PyObject **req_out, PyObject **echo_out)
{
    if (!PyList_CheckExact(headers) && !PyTuple_CheckExact(headers))
        return 0;
    const char *idv = NULL, *tpv = NULL;
    Py_ssize_t idlen = 0, tplen = 0;
    int seen_tp = 0;
    PyObject *id_whole = NULL; /* the X-Request-Id value when nothing was stripped: echoed as it is */
    /* a list's items and length are read each turn: nothing here runs Python code that could change it */
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(headers); i++) {
        PyObject *h = PySequence_Fast_GET_ITEM(headers, i);
        if (!PyTuple_CheckExact(h) || PyTuple_GET_SIZE(h) != 2 || !PyBytes_CheckExact(PyTuple_GET_ITEM(h, 0)) ||
            !PyBytes_CheckExact(PyTuple_GET_ITEM(h, 1)))
            return 0;
        PyObject *name = PyTuple_GET_ITEM(h, 0), *value = PyTuple_GET_ITEM(h, 1);
        Py_ssize_t nl = PyBytes_GET_SIZE(name);
        const char *n = PyBytes_AS_STRING(name);
        if (!idv && nl == 12 && !memcmp(n, "x-request-id", 12)) {
            const char *v = PyBytes_AS_STRING(value);
            Py_ssize_t a = 0, b = PyBytes_GET_SIZE(value);
            while (a < b && ascii_space((unsigned char)v[a]))
                a++;
            while (b > a && ascii_space((unsigned char)v[b - 1]))
                b--;
            int ok = b > a && b - a <= MAX_LABEL;
            for (Py_ssize_t k = a; ok && k < b; k++)
                ok = (unsigned char)v[k] >= 0x20 && (unsigned char)v[k] < 0x7f;
            if (ok) {
                idv = v + a;
                idlen = b - a;
                if (idlen == PyBytes_GET_SIZE(value))
                    id_whole = value;
            }
        } else if (!seen_tp && nl == 11 && !memcmp(n, "traceparent", 11)) {
            seen_tp = 1;
            tpv = PyBytes_AS_STRING(value);
            tplen = PyBytes_GET_SIZE(value);
        }
    }
    sp_trace_context ctx;
    int have_tp = seen_tp && sp_trace_context_parse(tpv, (size_t)tplen, &ctx) == SP_OK;
    PyObject *key, *echo;
    if (idv) {
        key = PyUnicode_DecodeASCII(idv, idlen, NULL);
        echo = !key ? NULL : id_whole ? Py_NewRef(id_whole) : PyBytes_FromStringAndSize(idv, idlen);
    } else if (have_tp) {
        char hex[32];
        for (int k = 0; k < 16; k++) {
            hex[2 * k] = hex_digits[ctx.trace_id[k] >> 4];
            hex[2 * k + 1] = hex_digits[ctx.trace_id[k] & 15];
        }
        key = PyUnicode_DecodeASCII(hex, 32, NULL);
        echo = key ? PyBytes_FromStringAndSize(hex, 32) : NULL;
    } else {
        if (!ids) {
            ids = g_asgi_globals ? PyDict_GetItemWithError(g_asgi_globals, s_ids) : NULL;
            if (!ids) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_RuntimeError, "servprof.asgi has no _ids counter");
                return -1;
            }
        }
        if (!PyIter_Check(ids)) {
            PyErr_Format(PyExc_TypeError, "servprof.asgi._ids must be an iterator, not %s", Py_TYPE(ids)->tp_name);
            return -1;
        }
        key = PyIter_Next(ids);
        if (!key && !PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "_asgi_begin: the id sequence ended");
        PyObject *text = key ? PyObject_Str(key) : NULL;
        echo = text ? PyUnicode_AsASCIIString(text) : NULL;
        Py_XDECREF(text);
    }
    if (!echo) {
        Py_XDECREF(key);
        return -1;
    }
    PyObject *req = request_open(rec, key, -1, arrival);
    Py_DECREF(key);
    if (!req) {
        Py_DECREF(echo);
        return -1;
    }
    if (have_tp) {
        uint64_t s = span_id_next();
        for (int k = 0; k < 8; k++)
            ctx.span_id[k] = (uint8_t)(s >> (56 - 8 * k));
        if (rec->rec)
            sp_record_request_trace(rec->rec, ((RequestObject *)req)->id, &ctx);
        else
            rec->after_close++;
    }
    *req_out = req;
    *echo_out = echo;
    return 1;
}

/* _asgi_begin(recorder, headers, arrival_ns, ids) -> (request, echo bytes), or None when `headers` is
 * not a list or tuple of 2-tuples of bytes: asgi_begin_impl. The same as asgi.py's Python path
 * (Middleware._begin), which the tests compare. */
static PyObject *mod_asgi_begin(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4)
        return PyErr_Format(PyExc_TypeError, "_asgi_begin(recorder, headers, arrival_ns, ids): 4 arguments");
    if (!PyObject_TypeCheck(args[0], &RecorderType))
        return PyErr_Format(PyExc_TypeError, "_asgi_begin: recorder must be a servprof.Recorder");
    if (!PyIter_Check(args[3]))
        return PyErr_Format(PyExc_TypeError, "_asgi_begin: ids must be an iterator (itertools.count)");
    uint64_t arrival;
    if (get_time_or_now(args[2], &arrival, "arrival_ns") < 0)
        return NULL;
    PyObject *req, *echo;
    int got = asgi_begin_impl((RecorderObject *)args[0], args[1], arrival, args[3], &req, &echo);
    if (got <= 0) {
        if (got < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    PyObject *res = PyTuple_New(2);
    if (!res) {
        Py_DECREF(req);
        Py_DECREF(echo);
        return NULL;
    }
    PyTuple_SET_ITEM(res, 0, req);
    PyTuple_SET_ITEM(res, 1, echo);
    return res;
}

/* An optional time: None -> *has = 0. */
static int get_opt_time(PyObject *o, uint64_t *out, int *has, const char *what)
{
    *has = o != Py_None;
    return *has ? get_time(o, out, what) : 0;
}

/* How an exception ends a request: EXC_CANCELLED for asyncio's CancelledError and for GeneratorExit
 * (the awaitable closed before it finished: the server abandoned the request, the application did not
 * fail), else EXC_ERROR; EXC_NONE for NULL or None. -1 with an exception. */
enum { EXC_NONE, EXC_CANCELLED, EXC_ERROR };

static int exc_kind(PyObject *exc)
{
    if (!exc || exc == Py_None)
        return EXC_NONE;
    if (!g_cancelled) {
        PyObject *m = PyImport_ImportModule("asyncio");
        g_cancelled = m ? PyObject_GetAttrString(m, "CancelledError") : NULL;
        Py_XDECREF(m);
        if (!g_cancelled)
            return -1;
    }
    int c = PyObject_IsInstance(exc, g_cancelled);
    if (c == 0)
        c = PyObject_IsInstance(exc, PyExc_GeneratorExit);
    return c < 0 ? -1 : c ? EXC_CANCELLED : EXC_ERROR;
}

/* The end of an HTTP request, as asgi.py's Middleware._finish (its Python path, which the tests
 * compare):
 * - the outcome, unless the application set one: an exception (`kind`) is cancelled for a
 *   CancelledError or GeneratorExit, else error with the status when >= 400, else 500; a response
 *   that never finished (!has_done) or a client that disconnected first is cancelled; 503 and 429 are
 *   rejected; other 4xx/5xx error;
 * - with `fill`: preprocess from arrival to the first span or batch the application recorded,
 *   postprocess from the last one to done; nothing recorded: preprocess up to the response start and
 *   postprocess after it;
 * - then the request's end at done (!has_done: now). A request already ended is left alone.
 * 0, or -1 with an exception. */
static int asgi_end_impl(RequestObject *r, long status, int has_start, uint64_t start, int has_done, uint64_t done,
                         int disconnected, int kind, int fill)
{
    if (r->ended)
        return 0;
    if (!has_done)
        done = sp_now_ns();
    if (r->outcome == SP_OUTCOME_OK) {
        int outcome = SP_OUTCOME_OK;
        long st = status;
        if (kind != EXC_NONE) {
            outcome = kind == EXC_CANCELLED ? SP_OUTCOME_CANCELLED : SP_OUTCOME_ERROR;
            if (kind == EXC_ERROR && status < 400)
                st = 500;
        } else if (!has_done || disconnected) {
            outcome = SP_OUTCOME_CANCELLED;
        } else if (status == 503 || status == 429) {
            outcome = SP_OUTCOME_REJECTED;
        } else if (status >= 400) {
            outcome = SP_OUTCOME_ERROR;
        }
        if (outcome != SP_OUTCOME_OK) {
            if (st < 0 || st > 999) { /* _common.check_outcome's range */
                PyErr_Format(PyExc_ValueError, "HTTP status %ld is out of range (0..999)", st);
                return -1;
            }
            r->outcome = outcome;
            r->status = (int)st;
            r->outcome_set = 1;
        }
    }
    uint64_t arrival = r->arrival;
    if (fill) {
        if (!r->has_span) {
            uint64_t cut = has_start ? start : done;
            cut = cut < arrival ? arrival : cut;
            cut = cut > done ? done : cut;
            if (cut > arrival)
                request_record_span(r, SP_STAGE_PREPROCESS, arrival, cut);
            if (done > cut)
                request_record_span(r, SP_STAGE_POSTPROCESS, cut, done);
        } else {
            uint64_t first = r->first, last = r->last;
            uint64_t pre_end = first < done ? first : done;
            if (first > arrival && pre_end >= arrival)
                request_record_span(r, SP_STAGE_PREPROCESS, arrival, pre_end);
            if (done > last)
                request_record_span(r, SP_STAGE_POSTPROCESS, last > arrival ? last : arrival, done);
        }
    }
    return request_finish(r, done > arrival ? done : arrival, r->outcome, r->status);
}

/* _asgi_end(request, status, response_start_ns, done_ns, disconnected, exc, fill_stages): asgi_end_impl
 * with `exc` (None: none) and the times as ints or None. */
static PyObject *mod_asgi_end(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7)
        return PyErr_Format(PyExc_TypeError, "_asgi_end(request, status, response_start_ns, done_ns, "
                            "disconnected, exc, fill_stages): 7 arguments");
    if (!PyObject_TypeCheck(args[0], &RequestType))
        return PyErr_Format(PyExc_TypeError, "_asgi_end: request must be a servprof.Request");
    long status = PyLong_AsLong(args[1]);
    if (status == -1 && PyErr_Occurred())
        return NULL;
    uint64_t start = 0, done = 0;
    int has_start, has_done;
    if (get_opt_time(args[2], &start, &has_start, "response_start_ns") < 0 ||
        get_opt_time(args[3], &done, &has_done, "done_ns") < 0)
        return NULL;
    int disconnected = PyObject_IsTrue(args[4]), fill = PyObject_IsTrue(args[6]);
    if (disconnected < 0 || fill < 0)
        return NULL;
    int kind = exc_kind(args[5]);
    if (kind < 0)
        return NULL;
    if (asgi_end_impl((RequestObject *)args[0], status, has_start, start, has_done, done, disconnected, kind, fill) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* _AsgiSend(send, echo): the middleware's `send` wrapper (C path). Calling it with an ASGI message
 * notes the response start (status, time) and the last body chunk (done), adds X-Request-Id: echo to
 * a response start without one (echo None: never), and returns send(message) itself, the server's
 * awaitable: no coroutine of its own. `status`, `response_start`, `done` (None until seen) and
 * `disconnected` (set by the receive wrapper) are what _asgi_end takes. Python's version: asgi.py's
 * send_wrapper. */
typedef struct AsgiSendObject {
    PyObject_HEAD
    PyObject *send;
    PyObject *echo;          /* bytes, or NULL: no echo */
    PyObject *status;        /* the response start's "status" (0 until then) */
    uint64_t response_start, done;
    char has_start, has_done, disconnected;
    vectorcallfunc vectorcall;
} AsgiSendObject;

static PyTypeObject AsgiSendType;
static PyObject *s_type, *s_status, *s_headers, *s_more_body, *s_get, *s_lower, *s_resp_start, *s_resp_body,
    *s_xrid;

/* message.get(key, dflt) as a new reference (a dict: without a method call) */
static PyObject *msg_get(PyObject *message, PyObject *key, PyObject *dflt)
{
    if (PyDict_CheckExact(message)) {
        PyObject *v = PyDict_GetItemWithError(message, key);
        if (!v && PyErr_Occurred())
            return NULL;
        v = v ? v : dflt;
        Py_INCREF(v);
        return v;
    }
    return PyObject_CallMethodObjArgs(message, s_get, key, dflt, NULL);
}

/* Is header name `k` X-Request-Id in any case? 1, 0, or -1 with an exception (k.lower() as Python's) */
static int is_request_id_name(PyObject *k)
{
    if (PyBytes_CheckExact(k)) {
        if (PyBytes_GET_SIZE(k) != 12)
            return 0;
        const char *s = PyBytes_AS_STRING(k);
        static const char want[] = "x-request-id";
        for (int i = 0; i < 12; i++) {
            char c = s[i];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != want[i])
                return 0;
        }
        return 1;
    }
    PyObject *low = PyObject_CallMethodNoArgs(k, s_lower);
    if (!low)
        return -1;
    int eq = PyObject_RichCompareBool(low, s_xrid, Py_EQ);
    Py_DECREF(low);
    return eq;
}

/* The response start with X-Request-Id added where it lacks one: a new reference (message itself
 * when it has one). */
static PyObject *with_echo(AsgiSendObject *self, PyObject *message)
{
    PyObject *h = msg_get(message, s_headers, Py_None);
    if (!h)
        return NULL;
    if (PyDict_CheckExact(message) && (PyList_CheckExact(h) || PyTuple_CheckExact(h))) {
        /* the usual response start (a dict, its headers a list or tuple of (bytes, bytes)): the same
         * result without a tuple per header and a dict merge */
        Py_ssize_t n = PySequence_Fast_GET_SIZE(h), i;
        for (i = 0; i < n; i++) {
            PyObject *item = PySequence_Fast_GET_ITEM(h, i);
            if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2 || !PyBytes_CheckExact(PyTuple_GET_ITEM(item, 0)))
                break;
            if (is_request_id_name(PyTuple_GET_ITEM(item, 0))) {
                Py_DECREF(h);
                Py_INCREF(message);
                return message;
            }
        }
        if (i == n) {
            PyObject *headers = PyList_New(n + 1);
            PyObject *pair = headers ? PyTuple_Pack(2, s_xrid, self->echo) : NULL;
            PyObject *copy = pair ? PyDict_Copy(message) : NULL;
            if (copy) {
                for (i = 0; i < n; i++) {
                    PyObject *item = PySequence_Fast_GET_ITEM(h, i);
                    Py_INCREF(item);
                    PyList_SET_ITEM(headers, i, item);
                }
                PyList_SET_ITEM(headers, n, pair);
                pair = NULL;
                if (PyDict_SetItem(copy, s_headers, headers) < 0)
                    Py_CLEAR(copy);
            }
            Py_XDECREF(pair);
            Py_XDECREF(headers);
            Py_DECREF(h);
            return copy;
        }
    }
    PyObject *headers = PyObject_IsTrue(h) ? PySequence_List(h) : PyList_New(0);
    Py_DECREF(h);
    if (!headers)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *item = PySequence_Tuple(PyList_GET_ITEM(headers, i));
        if (!item || PyTuple_GET_SIZE(item) != 2) {
            if (item)
                PyErr_SetString(PyExc_ValueError, "response header: not a (name, value) pair");
            Py_XDECREF(item);
            Py_DECREF(headers);
            return NULL;
        }
        int found = is_request_id_name(PyTuple_GET_ITEM(item, 0));
        Py_DECREF(item);
        if (found) {
            Py_DECREF(headers);
            if (found < 0)
                return NULL;
            Py_INCREF(message);
            return message;
        }
    }
    PyObject *pair = PyTuple_Pack(2, s_xrid, self->echo);
    PyObject *copy = pair ? PyDict_New() : NULL;
    if (!copy || PyList_Append(headers, pair) < 0 || PyDict_Merge(copy, message, 1) < 0 ||
        PyDict_SetItem(copy, s_headers, headers) < 0) {
        Py_XDECREF(pair);
        Py_XDECREF(copy);
        Py_DECREF(headers);
        return NULL;
    }
    Py_DECREF(pair);
    Py_DECREF(headers);
    return copy;
}

static PyObject *asgisend_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    AsgiSendObject *self = (AsgiSendObject *)callable;
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames && PyTuple_GET_SIZE(kwnames)))
        return PyErr_Format(PyExc_TypeError, "send(message): one argument");
    PyObject *message = args[0];
    PyObject *kind = msg_get(message, s_type, Py_None);
    if (!kind)
        return NULL;
    int start = PyUnicode_CheckExact(kind) && PyUnicode_Compare(kind, s_resp_start) == 0;
    int body = !start && PyUnicode_CheckExact(kind) && PyUnicode_Compare(kind, s_resp_body) == 0;
    Py_DECREF(kind);
    Py_INCREF(message);
    if (start) {
        PyObject *zero = PyLong_FromLong(0);
        PyObject *st = zero ? msg_get(message, s_status, zero) : NULL;
        Py_XDECREF(zero);
        if (!st) {
            Py_DECREF(message);
            return NULL;
        }
        Py_SETREF(self->status, st);
        self->response_start = sp_now_ns();
        self->has_start = 1;
        if (self->echo) {
            PyObject *m = with_echo(self, message);
            Py_SETREF(message, m);
            if (!message)
                return NULL;
        }
    } else if (body) {
        PyObject *more = msg_get(message, s_more_body, Py_False);
        int t = more ? PyObject_IsTrue(more) : -1;
        Py_XDECREF(more);
        if (t < 0) {
            Py_DECREF(message);
            return NULL;
        }
        if (!t) {
            /* done when the last chunk is handed to the server, before its write: so done never lies
             * after the client's receipt (the clock-offset bounds, DESIGN 8a) */
            self->done = sp_now_ns();
            self->has_done = 1;
        }
    }
    PyObject *r = PyObject_CallOneArg(self->send, message);
    Py_DECREF(message);
    return r;
}

/* A send wrapper for `send` (echo NULL: add no X-Request-Id): a new reference, or NULL. */
static PyObject *asgisend_make(PyObject *send, PyObject *echo)
{
    AsgiSendObject *self = PyObject_GC_New(AsgiSendObject, &AsgiSendType);
    if (!self)
        return NULL;
    Py_INCREF(send);
    self->send = send;
    self->echo = echo;
    Py_XINCREF(echo);
    self->status = PyLong_FromLong(0);
    self->response_start = self->done = 0;
    self->has_start = self->has_done = self->disconnected = 0;
    self->vectorcall = asgisend_vectorcall;
    PyObject_GC_Track((PyObject *)self);
    if (!self->status) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *asgisend_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    PyObject *send, *echo;
    if (kw && PyDict_GET_SIZE(kw))
        return PyErr_Format(PyExc_TypeError, "_AsgiSend(send, echo): no keyword arguments");
    if (!PyArg_UnpackTuple(args, "_AsgiSend", 2, 2, &send, &echo))
        return NULL;
    if (echo != Py_None && !PyBytes_Check(echo))
        return PyErr_Format(PyExc_TypeError, "_AsgiSend: echo must be bytes or None");
    return asgisend_make(send, echo == Py_None ? NULL : echo);
}

static int asgisend_traverse(AsgiSendObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->send);
    Py_VISIT(self->echo);
    Py_VISIT(self->status);
    return 0;
}

static int asgisend_clear(AsgiSendObject *self)
{
    Py_CLEAR(self->send);
    Py_CLEAR(self->echo);
    Py_CLEAR(self->status);
    return 0;
}

static void asgisend_dealloc(AsgiSendObject *self)
{
    PyObject_GC_UnTrack(self);
    asgisend_clear(self);
    PyObject_GC_Del(self);
}

static PyObject *asgisend_get_status(AsgiSendObject *self, void *c)
{
    PyObject *s = self->status ? self->status : Py_None;
    Py_INCREF(s);
    return s;
}
static PyObject *asgisend_get_start(AsgiSendObject *self, void *c) { return opt_time(self->has_start, self->response_start); }
static PyObject *asgisend_get_done(AsgiSendObject *self, void *c) { return opt_time(self->has_done, self->done); }
static PyObject *asgisend_get_disc(AsgiSendObject *self, void *c) { return PyBool_FromLong(self->disconnected); }
static int asgisend_set_disc(AsgiSendObject *self, PyObject *v, void *c)
{
    int t = v ? PyObject_IsTrue(v) : -1;
    if (!v)
        PyErr_SetString(PyExc_AttributeError, "cannot delete disconnected");
    if (t < 0)
        return -1;
    self->disconnected = (char)t;
    return 0;
}

static PyGetSetDef asgisend_getset[] = {
    {"status", (getter)asgisend_get_status, NULL, "the response start's status (0 before it)", NULL},
    {"response_start", (getter)asgisend_get_start, NULL, "when the response started (None: not yet)", NULL},
    {"done", (getter)asgisend_get_done, NULL, "when the last body chunk was handed over (None: not yet)", NULL},
    {"disconnected", (getter)asgisend_get_disc, (setter)asgisend_set_disc, "the client went away first", NULL},
    {NULL}};

static PyTypeObject AsgiSendType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof._native._AsgiSend",
    .tp_basicsize = sizeof(AsgiSendObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(AsgiSendObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = asgisend_new,
    .tp_traverse = (traverseproc)asgisend_traverse,
    .tp_clear = (inquiry)asgisend_clear,
    .tp_dealloc = (destructor)asgisend_dealloc,
    .tp_getset = asgisend_getset,
};

/* ---------------------------------------------------------------------------------------- */
/* The whole request in C: _asgi_call(middleware, scope, receive, send)                      */

/* Middleware.__call__ is `async def` (ASGI servers tell ASGI 3 by asyncio.iscoroutinefunction) whose
 * body, with this extension, is `await _asgi_call(self, scope, receive, send)`. _asgi_call does what
 * the Python path's coroutine did around the application: the path filter, the request's begin, the
 * send and receive wrappers, scope["servprof.request"] and the request ContextVar, the call of the
 * application; it returns an _AsgiCall, an awaitable that drives the application's awaitable (send,
 * throw, close forwarded: am_send for the interpreter, tp_iternext and the methods for any other
 * driver) and, when that finishes, raises or is closed, resets the ContextVar and ends the request
 * (asgi_end_impl), the exception passing on unchanged. The Python frames, the receive coroutine and
 * the attribute reads this saves took the middleware from 8.1 to 4.3 us a request over a bare FastAPI
 * app, 44% fewer instructions (bench/python_asgi.py; docs/BENCHMARKS.md, "Python recording"). */

/* An exception taken out of the thread state and put back, the same on 3.11 (type, value, traceback)
 * and 3.12 (one object) */
typedef struct {
    PyObject *type, *value, *tb;
} held_exc;

static void exc_hold(held_exc *h)
{
#if PY_VERSION_HEX >= 0x030C0000
    h->type = h->tb = NULL;
    h->value = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&h->type, &h->value, &h->tb);
    PyErr_NormalizeException(&h->type, &h->value, &h->tb);
#endif
}

static void exc_raise(held_exc *h)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(h->value);
#else
    PyErr_Restore(h->type, h->value, h->tb);
#endif
    h->type = h->value = h->tb = NULL;
}

static void exc_drop(held_exc *h)
{
    Py_CLEAR(h->type);
    Py_CLEAR(h->value);
    Py_CLEAR(h->tb);
}

static PyObject *s_app, *s_metrics_path, *s_exclude, *s_paths, *s_exact, *s_prefixes, *s_recorder, *s_fill_stages,
    *s_echo_request_id, *s_begin, *s_fault, *s_answer_metrics, *s_path, *s_http, *s_disconnect, *s_scope_key, *s_throw,
    *s_close, *s_startswith, *s_gi_code, *s_co_flags, *s_config, *s_wanted, *s_middleware;

/* Is `o` a generator-based coroutine (types.coroutine)? 1, 0, -1 with an exception */
static int is_iterable_coroutine(PyObject *o)
{
    if (!PyGen_CheckExact(o))
        return 0;
    PyObject *code = PyObject_GetAttr(o, s_gi_code);
    PyObject *flags = code ? PyObject_GetAttr(code, s_co_flags) : NULL;
    Py_XDECREF(code);
    if (!flags)
        return -1;
    long f = PyLong_AsLong(flags);
    Py_DECREF(flags);
    if (f == -1 && PyErr_Occurred())
        return -1;
    return (f & CO_ITERABLE_COROUTINE) != 0;
}

/* What `await o` iterates, by the interpreter's rules: o itself for a coroutine or a generator-based
 * coroutine, else the iterator o.__await__() returns. A new reference, or NULL with the TypeError the
 * interpreter would raise. */
static PyObject *await_iter(PyObject *o)
{
    if (PyCoro_CheckExact(o)) {
        Py_INCREF(o);
        return o;
    }
    int gc = is_iterable_coroutine(o);
    if (gc < 0)
        return NULL;
    if (gc > 0) {
        Py_INCREF(o);
        return o;
    }
    PyTypeObject *t = Py_TYPE(o);
    if (!t->tp_as_async || !t->tp_as_async->am_await)
        return PyErr_Format(PyExc_TypeError, "object %.100s can't be used in 'await' expression", t->tp_name);
    PyObject *it = t->tp_as_async->am_await(o);
    if (!it)
        return NULL;
    gc = PyCoro_CheckExact(it) ? 1 : is_iterable_coroutine(it);
    if (gc != 0 || !PyIter_Check(it)) {
        if (gc > 0)
            PyErr_SetString(PyExc_TypeError, "__await__() returned a coroutine");
        else if (gc == 0)
            PyErr_Format(PyExc_TypeError, "__await__() returned non-iterator of type '%.100s'", Py_TYPE(it)->tp_name);
        Py_DECREF(it);
        return NULL;
    }
    return it;
}

/* Raises the exception that throw(typ[, val[, tb]]) names, as a generator's throw() takes it. NULL. */
static PyObject *raise_thrown(PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *typ = args[0], *val = nargs > 1 ? args[1] : Py_None, *tb = nargs > 2 ? args[2] : Py_None;
    if (tb != Py_None && !PyTraceBack_Check(tb))
        return PyErr_Format(PyExc_TypeError, "throw() third argument must be a traceback object");
    if (PyExceptionInstance_Check(typ)) {
        if (val != Py_None)
            return PyErr_Format(PyExc_TypeError, "instance exception may not have a separate value");
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    } else if (PyExceptionClass_Check(typ)) {
        PyErr_SetObject(typ, val);
    } else {
        return PyErr_Format(PyExc_TypeError, "exceptions must be classes or instances deriving from BaseException, "
                            "not %s", Py_TYPE(typ)->tp_name);
    }
    if (tb != Py_None) {
        held_exc h;
        exc_hold(&h);
        if (h.value)
            PyException_SetTraceback(h.value, tb);
#if PY_VERSION_HEX < 0x030C0000
        Py_INCREF(tb);
        Py_XSETREF(h.tb, tb);
#endif
        exc_raise(&h);
    }
    return NULL;
}

/* Raises StopIteration(value) (a generator's return, for a driver that calls send() or throw()) and
 * drops the reference. */
static void raise_stop(PyObject *value)
{
    if (value == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
    } else {
        PyObject *e = PyObject_CallOneArg(PyExc_StopIteration, value);
        if (e) {
            PyErr_SetObject(PyExc_StopIteration, e);
            Py_DECREF(e);
        }
    }
    Py_DECREF(value);
}

/* After a throw() that raised StopIteration: its value (a new reference), the exception cleared */
static PyObject *take_stop_value(void)
{
    held_exc h;
    exc_hold(&h);
    PyObject *v = h.value ? PyObject_GetAttrString(h.value, "value") : NULL;
    exc_drop(&h);
    if (!v) {
        PyErr_Clear();
        Py_INCREF(Py_None);
        v = Py_None;
    }
    return v;
}

/* Calls it.<name>(args) where the iterator has that method: 1 with *res, 0 when it has none, -1 with an
 * exception. */
static int call_if_has(PyObject *it, PyObject *name, PyObject *const *args, Py_ssize_t nargs, PyObject **res)
{
    PyObject *meth = PyObject_GetAttr(it, name);
    if (!meth) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    *res = PyObject_Vectorcall(meth, args, (size_t)nargs, NULL);
    Py_DECREF(meth);
    return 1;
}

/* An awaitable that forwards to the iterator `*itp` (the interpreter's SEND, or send(), throw(),
 * close()) and calls `done` on the way out: the forwarding that _AsgiRecvWait and _AsgiCall share.
 * `done(self, result, value)` gets PYGEN_RETURN with the value (a new reference; it returns what the
 * awaitable returns) or PYGEN_ERROR with the exception raised; *itp is NULL by then. */
typedef PySendResult (*fwd_done_fn)(PyObject *self, PySendResult result, PyObject **value);

static PySendResult fwd_send(PyObject *self, PyObject **itp, fwd_done_fn done, PyObject *arg, PyObject **out)
{
    if (!*itp) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse an already awaited servprof ASGI awaitable");
        *out = NULL;
        return PYGEN_ERROR;
    }
    PySendResult r = PyIter_Send(*itp, arg, out);
    if (r == PYGEN_NEXT)
        return r;
    if (r == PYGEN_ERROR) {
        held_exc h;
        exc_hold(&h);
        Py_CLEAR(*itp);
        exc_raise(&h);
    } else {
        Py_CLEAR(*itp);
    }
    return done(self, r, out);
}

static PyObject *fwd_iternext(PyObject *self, PyObject **itp, fwd_done_fn done)
{
    PyObject *v;
    PySendResult r = fwd_send(self, itp, done, Py_None, &v);
    if (r == PYGEN_RETURN) {
        if (v == Py_None) /* NULL with no exception: StopIteration, cheaply */
            Py_DECREF(v);
        else
            raise_stop(v);
        return NULL;
    }
    return v;
}

static PyObject *fwd_send_method(PyObject *self, PyObject **itp, fwd_done_fn done, PyObject *arg)
{
    PyObject *v;
    PySendResult r = fwd_send(self, itp, done, arg, &v);
    if (r == PYGEN_RETURN) {
        raise_stop(v);
        return NULL;
    }
    return v;
}

static PyObject *fwd_throw(PyObject *self, PyObject **itp, fwd_done_fn done, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3)
        return PyErr_Format(PyExc_TypeError, "throw expected 1 to 3 arguments, got %zd", nargs);
    if (!*itp) /* finished: the exception is raised here, as a finished generator does */
        return raise_thrown(args, nargs);
    PyObject *res = NULL;
    int has = call_if_has(*itp, s_throw, args, nargs, &res);
    if (has == 0) /* an iterator without throw(): the exception is raised at the await */
        raise_thrown(args, nargs);
    if (res) /* the awaitable caught it and yields again */
        return res;
    PyObject *v = NULL;
    PySendResult r = PYGEN_ERROR;
    if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
        v = take_stop_value();
        r = PYGEN_RETURN;
    }
    held_exc h;
    exc_hold(&h);
    Py_CLEAR(*itp);
    exc_raise(&h);
    r = done(self, r, &v);
    if (r == PYGEN_RETURN) {
        raise_stop(v);
        return NULL;
    }
    return NULL;
}

/* close(): the iterator's close(), then `closed(self)` (0, or -1 with an exception); None. */
static PyObject *fwd_close(PyObject *self, PyObject **itp, int (*closed)(PyObject *self, int failed))
{
    PyObject *it = *itp;
    if (!it)
        Py_RETURN_NONE;
    *itp = NULL;
    PyObject *res = NULL;
    int has = call_if_has(it, s_close, NULL, 0, &res);
    Py_XDECREF(res);
    Py_DECREF(it);
    int failed = has != 0 && !res;
    if (closed(self, failed) < 0 || failed)
        return NULL;
    Py_RETURN_NONE;
}

/* _AsgiRecvWait: what the receive wrapper returns: the server's receive() awaitable, forwarded; the
 * message it returns is looked at: an http.disconnect before the response was done means the client
 * went away first (asgi.py's _receive_wrapper, the Python path's). */
typedef struct {
    PyObject_HEAD
    PyObject *it;            /* the server's awaitable's iterator; NULL once it finished */
    AsgiSendObject *sw;      /* the request's state */
} AsgiRecvWaitObject;

static PyTypeObject AsgiRecvWaitType;

static PySendResult recvwait_done(PyObject *o, PySendResult r, PyObject **value)
{
    AsgiRecvWaitObject *self = (AsgiRecvWaitObject *)o;
    if (r != PYGEN_RETURN || self->sw->has_done)
        return r;
    PyObject *kind = msg_get(*value, s_type, Py_None);
    if (!kind) {
        Py_CLEAR(*value);
        return PYGEN_ERROR;
    }
    if (PyUnicode_CheckExact(kind) && PyUnicode_Compare(kind, s_disconnect) == 0)
        self->sw->disconnected = 1;
    Py_DECREF(kind);
    return r;
}

static PySendResult recvwait_am_send(AsgiRecvWaitObject *self, PyObject *arg, PyObject **out)
{
    return fwd_send((PyObject *)self, &self->it, recvwait_done, arg, out);
}
static PyObject *recvwait_iternext(AsgiRecvWaitObject *self)
{
    return fwd_iternext((PyObject *)self, &self->it, recvwait_done);
}
static PyObject *recvwait_send(AsgiRecvWaitObject *self, PyObject *arg)
{
    return fwd_send_method((PyObject *)self, &self->it, recvwait_done, arg);
}
static PyObject *recvwait_throw(AsgiRecvWaitObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return fwd_throw((PyObject *)self, &self->it, recvwait_done, args, nargs);
}
static int recvwait_closed(PyObject *self, int failed) { return 0; }
static PyObject *recvwait_close(AsgiRecvWaitObject *self, PyObject *unused)
{
    return fwd_close((PyObject *)self, &self->it, recvwait_closed);
}

static int recvwait_traverse(AsgiRecvWaitObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->it);
    Py_VISIT(self->sw);
    return 0;
}

static int recvwait_clear(AsgiRecvWaitObject *self)
{
    Py_CLEAR(self->it);
    Py_CLEAR(self->sw);
    return 0;
}

static void recvwait_dealloc(AsgiRecvWaitObject *self)
{
    PyObject_GC_UnTrack(self);
    recvwait_clear(self);
    PyObject_GC_Del(self);
}

static PyMethodDef recvwait_methods[] = {
    {"send", (PyCFunction)recvwait_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))recvwait_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)recvwait_close, METH_NOARGS, NULL},
    {NULL}};

static PyAsyncMethods recvwait_async = {
    .am_await = PyObject_SelfIter,
    .am_send = (sendfunc)recvwait_am_send,
};

static PyTypeObject AsgiRecvWaitType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof._native._AsgiRecvWait",
    .tp_basicsize = sizeof(AsgiRecvWaitObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_as_async = &recvwait_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)recvwait_iternext,
    .tp_methods = recvwait_methods,
    .tp_traverse = (traverseproc)recvwait_traverse,
    .tp_clear = (inquiry)recvwait_clear,
    .tp_dealloc = (destructor)recvwait_dealloc,
};

/* _AsgiReceive: the receive wrapper the application gets: receive() returns an _AsgiRecvWait over the
 * server's receive(). */
typedef struct {
    PyObject_HEAD
    PyObject *receive;
    AsgiSendObject *sw;
    vectorcallfunc vectorcall;
} AsgiReceiveObject;

static PyTypeObject AsgiReceiveType;

static PyObject *asgireceive_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    AsgiReceiveObject *self = (AsgiReceiveObject *)callable;
    if (PyVectorcall_NARGS(nargsf) != 0 || (kwnames && PyTuple_GET_SIZE(kwnames)))
        return PyErr_Format(PyExc_TypeError, "receive(): no arguments");
    PyObject *aw = PyObject_CallNoArgs(self->receive);
    PyObject *it = aw ? await_iter(aw) : NULL;
    Py_XDECREF(aw);
    if (!it)
        return NULL;
    AsgiRecvWaitObject *w = PyObject_GC_New(AsgiRecvWaitObject, &AsgiRecvWaitType);
    if (!w) {
        Py_DECREF(it);
        return NULL;
    }
    w->it = it;
    Py_INCREF(self->sw);
    w->sw = self->sw;
    PyObject_GC_Track((PyObject *)w);
    return (PyObject *)w;
}

static int asgireceive_traverse(AsgiReceiveObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->receive);
    Py_VISIT(self->sw);
    return 0;
}

static int asgireceive_clear(AsgiReceiveObject *self)
{
    Py_CLEAR(self->receive);
    Py_CLEAR(self->sw);
    return 0;
}

static void asgireceive_dealloc(AsgiReceiveObject *self)
{
    PyObject_GC_UnTrack(self);
    asgireceive_clear(self);
    PyObject_GC_Del(self);
}

static PyTypeObject AsgiReceiveType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof._native._AsgiReceive",
    .tp_basicsize = sizeof(AsgiReceiveObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(AsgiReceiveObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_traverse = (traverseproc)asgireceive_traverse,
    .tp_clear = (inquiry)asgireceive_clear,
    .tp_dealloc = (destructor)asgireceive_dealloc,
};

/* _AsgiCall: the request in flight (above). */
typedef struct {
    PyObject_HEAD
    PyObject *it;            /* the application's awaitable's iterator; NULL once it finished or closed */
    PyObject *mw;            /* the Middleware: its _fault() counts errors of the bookkeeping */
    RequestObject *req;
    AsgiSendObject *sw;      /* the send wrapper: status, response start, done, disconnected */
    PyObject *token;         /* the ContextVar's token; NULL once reset */
    char fill, ended;
} AsgiCallObject;

static PyTypeObject AsgiCallType;

/* An error of the bookkeeping (the one raised now): counted by the middleware's _fault(), never
 * raised into the server (the Python path's `except Exception: self._fault(e)`). */
static void asgi_fault(PyObject *mw)
{
    held_exc h;
    exc_hold(&h);
    PyObject *r = h.value ? PyObject_CallMethodOneArg(mw, s_fault, h.value) : NULL;
    if (r)
        Py_DECREF(r);
    else if (PyErr_Occurred())
        PyErr_WriteUnraisable(mw);
    exc_drop(&h);
}

/* The request's end, once: the ContextVar reset (where the context is another, as when the garbage
 * collector closes the awaitable, there is nothing to reset: the token's context is not running),
 * then asgi_end_impl with `kind`. No exception may be set on entry; none is on return. */
static void asgicall_end(AsgiCallObject *self, int kind)
{
    if (self->ended)
        return;
    self->ended = 1;
    if (self->token) {
        if (PyContextVar_Reset(g_asgi_var, self->token) < 0)
            PyErr_Clear();
        Py_CLEAR(self->token);
    }
    AsgiSendObject *sw = self->sw; /* NULL: the bookkeeping failed before the application ran */
    long status = sw ? PyLong_AsLong(sw->status) : 0;
    if ((status == -1 && PyErr_Occurred()) ||
        asgi_end_impl(self->req, status, sw && sw->has_start, sw ? sw->response_start : 0, sw && sw->has_done,
                      sw ? sw->done : 0, sw && sw->disconnected, kind, self->fill) < 0)
        asgi_fault(self->mw);
}

/* fwd_done_fn: the application's awaitable finished (PYGEN_RETURN) or raised (PYGEN_ERROR: the
 * exception set, passed on as it is) */
static PySendResult asgicall_done(PyObject *o, PySendResult r, PyObject **value)
{
    AsgiCallObject *self = (AsgiCallObject *)o;
    if (r == PYGEN_RETURN) {
        asgicall_end(self, EXC_NONE);
        return r;
    }
    held_exc h;
    exc_hold(&h);
    int kind = exc_kind(h.value);
    if (kind < 0) {
        asgi_fault(self->mw);
        kind = EXC_ERROR;
    }
    asgicall_end(self, kind);
    exc_raise(&h);
    return r;
}

/* closed before it finished: the request was abandoned (cancelled), unless close() itself failed */
static int asgicall_closed(PyObject *o, int failed)
{
    AsgiCallObject *self = (AsgiCallObject *)o;
    held_exc h;
    exc_hold(&h);
    asgicall_end(self, failed ? EXC_ERROR : EXC_CANCELLED);
    exc_raise(&h);
    return 0;
}

static PySendResult asgicall_am_send(AsgiCallObject *self, PyObject *arg, PyObject **out)
{
    return fwd_send((PyObject *)self, &self->it, asgicall_done, arg, out);
}
static PyObject *asgicall_iternext(AsgiCallObject *self)
{
    return fwd_iternext((PyObject *)self, &self->it, asgicall_done);
}
static PyObject *asgicall_send(AsgiCallObject *self, PyObject *arg)
{
    return fwd_send_method((PyObject *)self, &self->it, asgicall_done, arg);
}
static PyObject *asgicall_throw(AsgiCallObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return fwd_throw((PyObject *)self, &self->it, asgicall_done, args, nargs);
}
static PyObject *asgicall_close(AsgiCallObject *self, PyObject *unused)
{
    if (!self->it && !self->ended) { /* never driven past its creation: nothing to close, still end */
        asgicall_closed((PyObject *)self, 0);
        Py_RETURN_NONE;
    }
    return fwd_close((PyObject *)self, &self->it, asgicall_closed);
}

/* Collected before it finished (nobody will drive it again): closed, so the request still ends. */
static void asgicall_finalize(AsgiCallObject *self)
{
    if (self->ended)
        return;
    held_exc h;
    exc_hold(&h);
    PyObject *r = asgicall_close(self, NULL);
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable((PyObject *)self);
    exc_raise(&h);
}

static int asgicall_traverse(AsgiCallObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->it);
    Py_VISIT(self->mw);
    Py_VISIT(self->req);
    Py_VISIT(self->sw);
    Py_VISIT(self->token);
    return 0;
}

static int asgicall_clear(AsgiCallObject *self)
{
    Py_CLEAR(self->it);
    Py_CLEAR(self->mw);
    Py_CLEAR(self->req);
    Py_CLEAR(self->sw);
    Py_CLEAR(self->token);
    return 0;
}

static void asgicall_dealloc(AsgiCallObject *self)
{
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0)
        return; /* resurrected by its finalizer */
    PyObject_GC_UnTrack(self);
    asgicall_clear(self);
    PyObject_GC_Del(self);
}

static PyMethodDef asgicall_methods[] = {
    {"send", (PyCFunction)asgicall_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))asgicall_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)asgicall_close, METH_NOARGS, NULL},
    {NULL}};

static PyAsyncMethods asgicall_async = {
    .am_await = PyObject_SelfIter,
    .am_send = (sendfunc)asgicall_am_send,
};

static PyTypeObject AsgiCallType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "servprof._native._AsgiCall",
    .tp_basicsize = sizeof(AsgiCallObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_as_async = &asgicall_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)asgicall_iternext,
    .tp_methods = asgicall_methods,
    .tp_traverse = (traverseproc)asgicall_traverse,
    .tp_clear = (inquiry)asgicall_clear,
    .tp_dealloc = (destructor)asgicall_dealloc,
    .tp_finalize = (destructor)asgicall_finalize,
};

/* The middleware's attributes that _asgi_call reads, in one tuple kept in its __dict__ as `_c_config`
 * (reading them one by one cost about 0.25 us a request); Middleware.__setattr__ drops it, so a
 * changed attribute is heard from the next request on. */
enum { CFG_APP, CFG_RECORDER, CFG_METRICS_PATH, CFG_EXCLUDE, CFG_PATHS, CFG_EXACT, CFG_PREFIXES, CFG_ECHO, CFG_FILL,
       CFG_OWN_WANTED, CFG_N };

/* Does the middleware's class override Middleware._wanted? Then the path filter is its method. */
static int own_wanted(PyObject *mw)
{
    PyObject *base = g_asgi_globals ? PyDict_GetItemWithError(g_asgi_globals, s_middleware) : NULL;
    if (!base)
        return PyErr_Occurred() ? -1 : 0;
    PyObject *mine = PyObject_GetAttr((PyObject *)Py_TYPE(mw), s_wanted);
    PyObject *theirs = mine ? PyObject_GetAttr(base, s_wanted) : NULL;
    int own = theirs ? mine != theirs : -1;
    Py_XDECREF(mine);
    Py_XDECREF(theirs);
    return own;
}

static PyObject *asgi_config(PyObject *mw)
{
    PyObject *dict = PyObject_GenericGetDict(mw, NULL);
    if (!dict) { /* no __dict__ (a subclass with __slots__): read the attributes each time */
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return NULL;
        PyErr_Clear();
    }
    PyObject *cfg = dict ? PyDict_GetItemWithError(dict, s_config) : NULL;
    if (cfg && PyTuple_CheckExact(cfg) && PyTuple_GET_SIZE(cfg) == CFG_N) {
        Py_INCREF(cfg);
        Py_DECREF(dict);
        return cfg;
    }
    cfg = PyErr_Occurred() ? NULL : PyTuple_New(CFG_N);
    PyObject *const names[CFG_N - 1] = {s_app, s_recorder, s_metrics_path, s_exclude, s_paths, s_exact, s_prefixes,
                                        s_echo_request_id, s_fill_stages};
    for (int i = 0; cfg && i < CFG_N; i++) {
        PyObject *v;
        if (i == CFG_OWN_WANTED) {
            int own = own_wanted(mw);
            v = own < 0 ? NULL : Py_NewRef(own ? Py_True : Py_False);
        } else {
            v = PyObject_GetAttr(mw, names[i]);
        }
        if (v && (i == CFG_ECHO || i == CFG_FILL || i == CFG_PREFIXES)) { /* flags; prefixes None when empty */
            int t = PyObject_IsTrue(v);
            if (t < 0)
                Py_CLEAR(v);
            else if (i != CFG_PREFIXES || !t)
                Py_SETREF(v, Py_NewRef(i == CFG_PREFIXES ? Py_None : t ? Py_True : Py_False));
        }
        if (!v)
            Py_CLEAR(cfg);
        else
            PyTuple_SET_ITEM(cfg, i, v);
    }
    if (cfg && dict && PyDict_SetItem(dict, s_config, cfg) < 0)
        Py_CLEAR(cfg);
    Py_XDECREF(dict);
    return cfg;
}

/* Middleware._wanted(path) from the snapshot: not in `exclude`; `paths` None, or path in `_exact`, or
 * path.startswith(`_prefixes`); a subclass's own _wanted is called. 1, 0, -1 with an exception. */
static int asgi_wanted(PyObject *mw, PyObject *cfg, PyObject *path)
{
    if (PyTuple_GET_ITEM(cfg, CFG_OWN_WANTED) == Py_True) {
        PyObject *r = PyObject_CallMethodOneArg(mw, s_wanted, path);
        int t = r ? PyObject_IsTrue(r) : -1;
        Py_XDECREF(r);
        return t;
    }
    int c = PySequence_Contains(PyTuple_GET_ITEM(cfg, CFG_EXCLUDE), path);
    if (c != 0)
        return c < 0 ? -1 : 0;
    if (PyTuple_GET_ITEM(cfg, CFG_PATHS) == Py_None)
        return 1;
    c = PySequence_Contains(PyTuple_GET_ITEM(cfg, CFG_EXACT), path);
    if (c != 0 || PyTuple_GET_ITEM(cfg, CFG_PREFIXES) == Py_None)
        return c;
    PyObject *r = PyObject_CallMethodOneArg(path, s_startswith, PyTuple_GET_ITEM(cfg, CFG_PREFIXES));
    c = r ? PyObject_IsTrue(r) : -1;
    Py_XDECREF(r);
    return c;
}

/* The request's start (after the path filter): its begin, the wrappers, the scope key, the ContextVar,
 * the application's call. A new reference to the awaitable to await (an _AsgiCall, or the application's
 * own where the request is not recorded), or NULL with an exception to raise. */
static PyObject *asgi_start(PyObject *mw, PyObject *cfg, PyObject *scope, PyObject *receive, PyObject *send)
{
    uint64_t arrival = sp_now_ns();
    PyObject *app = PyTuple_GET_ITEM(cfg, CFG_APP), *rec = PyTuple_GET_ITEM(cfg, CFG_RECORDER);
    PyObject *headers = msg_get(scope, s_headers, Py_None);
    if (!headers)
        return NULL;
    int full = PyObject_IsTrue(headers);
    if (full <= 0) /* `scope.get("headers") or ()` */
        Py_SETREF(headers, full < 0 ? NULL : PyTuple_New(0));
    PyObject *req = NULL, *echo = NULL;
    int got = -1;
    if (!headers) {
        got = -1;
    } else if (!PyObject_TypeCheck(rec, &RecorderType)) {
        PyErr_SetString(PyExc_TypeError, "_asgi_begin: recorder must be a servprof.Recorder");
    } else {
        got = asgi_begin_impl((RecorderObject *)rec, headers, arrival, NULL, &req, &echo);
    }
    if (got == 0) { /* headers the C path does not take: the Python path's begin, (req, echo) or None */
        PyObject *a = PyLong_FromUnsignedLongLong(arrival);
        PyObject *begun = a ? PyObject_CallMethodObjArgs(mw, s_begin, headers, a, NULL) : NULL;
        Py_XDECREF(a);
        got = -1;
        if (begun == Py_None) {
            got = 0;
        } else if (begun) {
            if (PyTuple_Check(begun) && PyTuple_GET_SIZE(begun) == 2 &&
                PyObject_TypeCheck(PyTuple_GET_ITEM(begun, 0), &RequestType)) {
                req = PyTuple_GET_ITEM(begun, 0);
                echo = PyTuple_GET_ITEM(begun, 1);
                Py_INCREF(req);
                Py_INCREF(echo);
                got = 1;
            } else {
                PyErr_SetString(PyExc_TypeError, "Middleware._begin must return (servprof.Request, bytes) or None");
            }
        }
        Py_XDECREF(begun);
    }
    Py_XDECREF(headers);
    if (got <= 0) { /* not recorded: the application alone (a failed begin is counted) */
        if (got < 0)
            asgi_fault(mw);
        PyObject *args[3] = {scope, receive, send};
        return PyObject_Vectorcall(app, args, 3, NULL);
    }

    AsgiCallObject *call = PyObject_GC_New(AsgiCallObject, &AsgiCallType);
    if (!call) {
        Py_DECREF(req);
        Py_DECREF(echo);
        return NULL;
    }
    call->it = NULL;
    Py_INCREF(mw);
    call->mw = mw;
    call->req = (RequestObject *)req;
    call->sw = NULL;
    call->token = NULL;
    call->fill = 1;
    call->ended = 0;
    PyObject_GC_Track((PyObject *)call);
    /* from here every way out ends the request (asgicall_done) */
    int echo_on = PyTuple_GET_ITEM(cfg, CFG_ECHO) == Py_True;
    call->fill = PyTuple_GET_ITEM(cfg, CFG_FILL) == Py_True;
    if (echo_on && !PyBytes_Check(echo)) {
        PyErr_SetString(PyExc_TypeError, "_AsgiSend: echo must be bytes or None");
        echo_on = -1;
    }
    call->sw = echo_on >= 0 ? (AsgiSendObject *)asgisend_make(send, echo_on ? echo : NULL) : NULL;
    Py_DECREF(echo);
    AsgiReceiveObject *rw = call->sw ? PyObject_GC_New(AsgiReceiveObject, &AsgiReceiveType) : NULL;
    if (rw) {
        Py_INCREF(receive);
        rw->receive = receive;
        Py_INCREF(call->sw);
        rw->sw = call->sw;
        rw->vectorcall = asgireceive_vectorcall;
        PyObject_GC_Track((PyObject *)rw);
    }
    PyObject *aw = NULL;
    if (rw && PyObject_SetItem(scope, s_scope_key, req) == 0 && (call->token = PyContextVar_Set(g_asgi_var, req))) {
        PyObject *args[3] = {scope, (PyObject *)rw, (PyObject *)call->sw};
        aw = PyObject_Vectorcall(app, args, 3, NULL);
    }
    Py_XDECREF(rw);
    call->it = aw ? await_iter(aw) : NULL;
    Py_XDECREF(aw);
    if (!call->it) { /* the call or the bookkeeping before it failed: the request ends as an error */
        asgicall_done((PyObject *)call, PYGEN_ERROR, NULL);
        Py_DECREF(call);
        return NULL;
    }
    return (PyObject *)call;
}

/* _asgi_call(middleware, scope, receive, send) -> the awaitable Middleware.__call__ awaits: the
 * /metrics answer (middleware._answer_metrics's coroutine), the application's own awaitable for what
 * is not recorded (other scope types, paths not wanted, a failed begin), else an _AsgiCall. */
static PyObject *mod_asgi_call(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4)
        return PyErr_Format(PyExc_TypeError, "_asgi_call(middleware, scope, receive, send): 4 arguments");
    if (!g_asgi_var)
        return PyErr_Format(PyExc_RuntimeError, "_asgi_call: servprof.asgi has not called _asgi_setup");
    PyObject *mw = args[0], *scope = args[1], *receive = args[2], *send = args[3];
    PyObject *cfg = asgi_config(mw);
    PyObject *type = cfg ? msg_get(scope, s_type, Py_None) : NULL;
    if (!type) {
        Py_XDECREF(cfg);
        return NULL;
    }
    int http = PyUnicode_Check(type) && PyUnicode_Compare(type, s_http) == 0;
    Py_DECREF(type);
    PyObject *path = NULL, *mp = PyTuple_GET_ITEM(cfg, CFG_METRICS_PATH), *res = NULL;
    int wanted = 0;
    if (http) {
        PyObject *empty = PyUnicode_New(0, 0);
        path = empty ? msg_get(scope, s_path, mp != Py_None ? Py_None : empty) : NULL;
        Py_XDECREF(empty);
        if (!path)
            goto out;
        if (mp != Py_None) {
            int eq = PyObject_RichCompareBool(path, mp, Py_EQ);
            if (eq != 0) {
                if (eq > 0)
                    res = PyObject_CallMethodObjArgs(mw, s_answer_metrics, scope, send, NULL);
                goto out;
            }
            if (path == Py_None) { /* scope.get("path", "") for the filter */
                Py_DECREF(path);
                path = PyUnicode_New(0, 0);
                if (!path)
                    goto out;
            }
        }
        wanted = asgi_wanted(mw, cfg, path);
        if (wanted < 0)
            goto out;
    }
    if (!wanted) {
        PyObject *a[3] = {scope, receive, send};
        res = PyObject_Vectorcall(PyTuple_GET_ITEM(cfg, CFG_APP), a, 3, NULL);
    } else {
        res = asgi_start(mw, cfg, scope, receive, send);
    }
out:
    Py_XDECREF(path);
    Py_DECREF(cfg);
    return res;
}

/* _asgi_setup(request_contextvar, asgi_module_globals): what _asgi_call needs of servprof.asgi */
static PyObject *mod_asgi_setup(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2)
        return PyErr_Format(PyExc_TypeError, "_asgi_setup(contextvar, globals): 2 arguments");
    if (!PyContextVar_CheckExact(args[0]))
        return PyErr_Format(PyExc_TypeError, "_asgi_setup: a contextvars.ContextVar, not %s", Py_TYPE(args[0])->tp_name);
    if (!PyDict_Check(args[1]))
        return PyErr_Format(PyExc_TypeError, "_asgi_setup: a dict of globals, not %s", Py_TYPE(args[1])->tp_name);
    Py_INCREF(args[0]);
    Py_XSETREF(g_asgi_var, args[0]);
    Py_INCREF(args[1]);
    Py_XSETREF(g_asgi_globals, args[1]);
    Py_RETURN_NONE;
}

/* _parse_traceparent(value bytes) -> (trace_id hex, parent_id hex, flags) or None: libservprof's
 * sp_trace_context_parse, which _asgi_begin uses, for the tests to hold it to _common's rules. */
static PyObject *mod_parse_traceparent(PyObject *mod, PyObject *value)
{
    if (!PyBytes_Check(value))
        return PyErr_Format(PyExc_TypeError, "_parse_traceparent: bytes, not %s", Py_TYPE(value)->tp_name);
    sp_trace_context ctx;
    if (sp_trace_context_parse(PyBytes_AS_STRING(value), (size_t)PyBytes_GET_SIZE(value), &ctx) != SP_OK)
        Py_RETURN_NONE;
    char t[32], p[16];
    for (int k = 0; k < 16; k++) {
        t[2 * k] = hex_digits[ctx.trace_id[k] >> 4];
        t[2 * k + 1] = hex_digits[ctx.trace_id[k] & 15];
    }
    for (int k = 0; k < 8; k++) {
        p[2 * k] = hex_digits[ctx.parent_id[k] >> 4];
        p[2 * k + 1] = hex_digits[ctx.parent_id[k] & 15];
    }
    return Py_BuildValue("(s#s#i)", t, (Py_ssize_t)32, p, (Py_ssize_t)16, (int)ctx.flags);
}

static PyMethodDef module_methods[] = {
    {"now_ns", mod_now_ns, METH_NOARGS, "now_ns() -> int: servprof's clock (CLOCK_MONOTONIC ns)."},
    {"library_version", mod_library_version, METH_NOARGS, "the version of libservprof.so in use"},
    {"_set_cupti_hooks", mod_set_cupti_hooks, METH_VARARGS, NULL},
    {"_asgi_begin", (PyCFunction)(void (*)(void))mod_asgi_begin, METH_FASTCALL, NULL},
    {"_asgi_end", (PyCFunction)(void (*)(void))mod_asgi_end, METH_FASTCALL, NULL},
    {"_asgi_call", (PyCFunction)(void (*)(void))mod_asgi_call, METH_FASTCALL, NULL},
    {"_asgi_setup", (PyCFunction)(void (*)(void))mod_asgi_setup, METH_FASTCALL, NULL},
    {"_parse_traceparent", mod_parse_traceparent, METH_O, NULL},
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
    if (pthread_atfork(NULL, NULL, span_rng_forget) != 0)
        return PyErr_Format(PyExc_ImportError, "servprof._native: pthread_atfork failed");
    s_type = PyUnicode_InternFromString("type");
    s_status = PyUnicode_InternFromString("status");
    s_headers = PyUnicode_InternFromString("headers");
    s_more_body = PyUnicode_InternFromString("more_body");
    s_get = PyUnicode_InternFromString("get");
    s_lower = PyUnicode_InternFromString("lower");
    s_resp_start = PyUnicode_InternFromString("http.response.start");
    s_resp_body = PyUnicode_InternFromString("http.response.body");
    s_xrid = PyBytes_FromString("x-request-id");
    if (!s_type || !s_status || !s_headers || !s_more_body || !s_get || !s_lower || !s_resp_start || !s_resp_body ||
        !s_xrid)
        return NULL;
    struct {
        PyObject **s;
        const char *text;
    } asgi_names[] = {{&s_app, "app"}, {&s_metrics_path, "metrics_path"}, {&s_exclude, "exclude"}, {&s_paths, "paths"},
                      {&s_exact, "_exact"}, {&s_prefixes, "_prefixes"}, {&s_recorder, "recorder"},
                      {&s_fill_stages, "fill_stages"}, {&s_echo_request_id, "echo_request_id"}, {&s_begin, "_begin"},
                      {&s_fault, "_fault"}, {&s_answer_metrics, "_answer_metrics"}, {&s_path, "path"},
                      {&s_http, "http"}, {&s_disconnect, "http.disconnect"}, {&s_scope_key, "servprof.request"},
                      {&s_throw, "throw"}, {&s_close, "close"}, {&s_startswith, "startswith"}, {&s_gi_code, "gi_code"},
                      {&s_co_flags, "co_flags"}, {&s_ids, "_ids"}, {&s_config, "_c_config"},
                      {&s_wanted, "_wanted"}, {&s_middleware, "Middleware"}};
    for (size_t i = 0; i < sizeof asgi_names / sizeof asgi_names[0]; i++)
        if (!(*asgi_names[i].s = PyUnicode_InternFromString(asgi_names[i].text)))
            return NULL;
    PyTypeObject *types[] = {&RecorderType, &RequestType, &StageType, &BatchType, &StepType, &ModuleTimerType,
                             &AsgiSendType, &AsgiCallType, &AsgiReceiveType, &AsgiRecvWaitType};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (PyType_Ready(types[i]) < 0)
            return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (!m)
        return NULL;
    const char *names[] = {"Recorder", "Request", "Stage", "Batch", "Step", "ModuleTimer", "_AsgiSend", "_AsgiCall",
                           "_AsgiReceive", "_AsgiRecvWait"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        Py_INCREF(types[i]);
        if (PyModule_AddObject(m, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(types[i]);
            Py_DECREF(m);
            return NULL;
        }
    }
    Py_INCREF(g_live);
    if (PyModule_AddObject(m, "_live", g_live) < 0) {
        Py_DECREF(g_live);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
