/* servprof._native's part for the ASGI middleware (servprof/asgi.py): a request's begin (request id,
 * traceparent, span id), its end (outcome, filled stages), the send and receive wrappers, and the whole
 * request as one C awaitable (_asgi_call). PyInit__native (_native.c) adds it to the module through
 * sp_py_asgi_register; the Requests it opens and ends are _native.c's (_native_int.h). */
#include "_native_int.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

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

/* The next number of `ids` that no request of `rec` holds, open or ended (sp_py_int_id_taken): the
 * application's own int ids are skipped, up to SP_PY_NUMBER_SKIPS of them in a row; past that a
 * ValueError (the middleware counts it as a fault and leaves the request unrecorded). asgi.py's
 * _next_number does the same. A new reference, or NULL with an exception. */
static PyObject *next_free_number(RecorderObject *rec, PyObject *ids)
{
    for (int tries = 0;; tries++) {
        PyObject *key = PyIter_Next(ids);
        if (!key) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_RuntimeError, "_asgi_begin: the id sequence ended");
            return NULL;
        }
        if (!rec->rec || !PyLong_CheckExact(key))
            return key; /* closed: nothing is written; not an int: sp_py_request_open says so */
        unsigned long long v = PyLong_AsUnsignedLongLong(key);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear(); /* out of range: sp_py_request_open says so */
            return key;
        }
        if (v >= (UINT64_C(1) << 63))
            return key;
        int taken = sp_py_int_id_taken(rec, key, v);
        if (taken == 0)
            return key;
        if (taken > 0 && tries + 1 == SP_PY_NUMBER_SKIPS)
            PyErr_Format(PyExc_ValueError, "request numbers up to %R are all taken by the application's own "
                         "int request ids (docs/python.md): the request is not recorded", key);
        Py_DECREF(key);
        if (taken < 0 || tries + 1 == SP_PY_NUMBER_SKIPS)
            return NULL;
    }
}

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
            int ok = b > a && b - a <= SP_PY_MAX_LABEL;
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
        key = next_free_number(rec, ids);
        PyObject *text = key ? PyObject_Str(key) : NULL;
        echo = text ? PyUnicode_AsASCIIString(text) : NULL;
        Py_XDECREF(text);
    }
    if (!echo) {
        Py_XDECREF(key);
        return -1;
    }
    PyObject *req = sp_py_request_open(rec, key, -1, arrival);
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
    if (!PyObject_TypeCheck(args[0], &sp_py_recorder_type))
        return PyErr_Format(PyExc_TypeError, "_asgi_begin: recorder must be a servprof.Recorder");
    if (!PyIter_Check(args[3]))
        return PyErr_Format(PyExc_TypeError, "_asgi_begin: ids must be an iterator (itertools.count)");
    uint64_t arrival;
    if (sp_py_get_time_or_now(args[2], &arrival, "arrival_ns") < 0)
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
    return *has ? sp_py_get_time(o, out, what) : 0;
}

/* How an exception ends a request: EXC_CANCELLED for asyncio's CancelledError and for GeneratorExit
 * (the awaitable closed before it finished: the server abandoned the request, the application did not
 * fail), else EXC_ERROR; EXC_NONE for NULL or None. -1 with an exception. */
enum { EXC_NONE, EXC_CANCELLED, EXC_ERROR };

static int exc_kind(PyObject *exc)
{
    if (!exc || exc == Py_None)
        return EXC_NONE;
    PyObject *cancelled = sp_py_cancelled_error();
    if (!cancelled)
        return -1;
    int c = PyObject_IsInstance(exc, cancelled);
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
                sp_py_request_record_fill(r, SP_STAGE_PREPROCESS, arrival, cut);
            if (done > cut)
                sp_py_request_record_fill(r, SP_STAGE_POSTPROCESS, cut, done);
        } else {
            uint64_t first = r->first, last = r->last;
            uint64_t pre_end = first < done ? first : done;
            if (first > arrival && pre_end >= arrival)
                sp_py_request_record_fill(r, SP_STAGE_PREPROCESS, arrival, pre_end);
            if (done > last)
                sp_py_request_record_fill(r, SP_STAGE_POSTPROCESS, last > arrival ? last : arrival, done);
        }
    }
    return sp_py_request_finish(r, sp_py_implicit_done(r, done), r->outcome, r->status);
}

/* _asgi_end(request, status, response_start_ns, done_ns, disconnected, exc, fill_stages): asgi_end_impl
 * with `exc` (None: none) and the times as ints or None. */
static PyObject *mod_asgi_end(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7)
        return PyErr_Format(PyExc_TypeError, "_asgi_end(request, status, response_start_ns, done_ns, "
                            "disconnected, exc, fill_stages): 7 arguments");
    if (!PyObject_TypeCheck(args[0], &sp_py_request_type))
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
    *s_xrid, *s_disconnected;

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


/* The client left before the response was done, as the server knows it without a receive(): uvicorn
 * (h11 and httptools; 0.17 as Debian 12 ships it, and its main branch as read) drops a send to a closed
 * connection without raising, and marks the connection's RequestResponseCycle, whose bound method the
 * server's `send` is, `disconnected` (set only while the response is not complete). An application
 * that never awaits receive() after the body (a plain JSON endpoint) would otherwise have a client
 * that timed out recorded ok. Only a bound method whose owner's `disconnected` is exactly True counts;
 * anything else (another server, a wrapped send, an error reading it) reads as not gone. asgi.py's
 * _server_says_gone is the Python path's. */
static int server_says_gone(PyObject *send)
{
    if (!PyMethod_Check(send))
        return 0;
    PyObject *d = PyObject_GetAttr(PyMethod_GET_SELF(send), s_disconnected);
    if (!d) {
        PyErr_Clear();
        return 0;
    }
    int gone = d == Py_True;
    Py_DECREF(d);
    return gone;
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
            if (!self->disconnected && server_says_gone(self->send))
                self->disconnected = 1;
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
static PyObject *asgisend_get_start(AsgiSendObject *self, void *c)
{
    return sp_py_opt_time(self->has_start, self->response_start);
}
static PyObject *asgisend_get_done(AsgiSendObject *self, void *c) { return sp_py_opt_time(self->has_done, self->done); }
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
        sp_py_held_exc h;
        sp_py_exc_hold(&h);
        if (h.value)
            PyException_SetTraceback(h.value, tb);
#if PY_VERSION_HEX < 0x030C0000
        Py_INCREF(tb);
        Py_XSETREF(h.tb, tb);
#endif
        sp_py_exc_raise(&h);
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
    sp_py_held_exc h;
    sp_py_exc_hold(&h);
    PyObject *v = h.value ? PyObject_GetAttrString(h.value, "value") : NULL;
    sp_py_exc_drop(&h);
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
        sp_py_held_exc h;
        sp_py_exc_hold(&h);
        Py_CLEAR(*itp);
        sp_py_exc_raise(&h);
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
    sp_py_held_exc h;
    sp_py_exc_hold(&h);
    Py_CLEAR(*itp);
    sp_py_exc_raise(&h);
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
    sp_py_held_exc h;
    sp_py_exc_hold(&h);
    PyObject *r = h.value ? PyObject_CallMethodOneArg(mw, s_fault, h.value) : NULL;
    if (r)
        Py_DECREF(r);
    else if (PyErr_Occurred())
        PyErr_WriteUnraisable(mw);
    sp_py_exc_drop(&h);
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
    sp_py_held_exc h;
    sp_py_exc_hold(&h);
    int kind = exc_kind(h.value);
    if (kind < 0) {
        asgi_fault(self->mw);
        kind = EXC_ERROR;
    }
    asgicall_end(self, kind);
    sp_py_exc_raise(&h);
    return r;
}

/* closed before it finished: the request was abandoned (cancelled), unless close() itself failed */
static int asgicall_closed(PyObject *o, int failed)
{
    AsgiCallObject *self = (AsgiCallObject *)o;
    sp_py_held_exc h;
    sp_py_exc_hold(&h);
    asgicall_end(self, failed ? EXC_ERROR : EXC_CANCELLED);
    sp_py_exc_raise(&h);
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
    sp_py_held_exc h;
    sp_py_exc_hold(&h);
    PyObject *r = asgicall_close(self, NULL);
    if (r)
        Py_DECREF(r);
    else
        PyErr_WriteUnraisable((PyObject *)self);
    sp_py_exc_raise(&h);
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
    } else if (!PyObject_TypeCheck(rec, &sp_py_recorder_type)) {
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
                PyObject_TypeCheck(PyTuple_GET_ITEM(begun, 0), &sp_py_request_type)) {
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

static PyMethodDef asgi_methods[] = {
    {"_asgi_begin", (PyCFunction)(void (*)(void))mod_asgi_begin, METH_FASTCALL, NULL},
    {"_asgi_end", (PyCFunction)(void (*)(void))mod_asgi_end, METH_FASTCALL, NULL},
    {"_asgi_call", (PyCFunction)(void (*)(void))mod_asgi_call, METH_FASTCALL, NULL},
    {"_asgi_setup", (PyCFunction)(void (*)(void))mod_asgi_setup, METH_FASTCALL, NULL},
    {"_parse_traceparent", mod_parse_traceparent, METH_O, NULL},
    {NULL}};

int sp_py_asgi_register(PyObject *module)
{
    if (pthread_atfork(NULL, NULL, span_rng_forget) != 0) {
        PyErr_Format(PyExc_ImportError, "servprof._native: pthread_atfork failed");
        return -1;
    }
    struct {
        PyObject **s;
        const char *text;
    } names[] = {{&s_type, "type"}, {&s_status, "status"}, {&s_headers, "headers"}, {&s_more_body, "more_body"},
                 {&s_get, "get"}, {&s_lower, "lower"}, {&s_resp_start, "http.response.start"},
                 {&s_resp_body, "http.response.body"}, {&s_app, "app"}, {&s_metrics_path, "metrics_path"},
                 {&s_exclude, "exclude"}, {&s_paths, "paths"}, {&s_exact, "_exact"}, {&s_prefixes, "_prefixes"},
                 {&s_recorder, "recorder"}, {&s_fill_stages, "fill_stages"}, {&s_echo_request_id, "echo_request_id"},
                 {&s_begin, "_begin"}, {&s_fault, "_fault"}, {&s_answer_metrics, "_answer_metrics"}, {&s_path, "path"},
                 {&s_http, "http"}, {&s_disconnect, "http.disconnect"}, {&s_disconnected, "disconnected"},
                 {&s_scope_key, "servprof.request"},
                 {&s_throw, "throw"}, {&s_close, "close"}, {&s_startswith, "startswith"}, {&s_gi_code, "gi_code"},
                 {&s_co_flags, "co_flags"}, {&s_ids, "_ids"}, {&s_config, "_c_config"}, {&s_wanted, "_wanted"},
                 {&s_middleware, "Middleware"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!(*names[i].s = PyUnicode_InternFromString(names[i].text)))
            return -1;
    if (!(s_xrid = PyBytes_FromString("x-request-id")))
        return -1;
    PyTypeObject *types[] = {&AsgiSendType, &AsgiCallType, &AsgiReceiveType, &AsgiRecvWaitType};
    const char *type_names[] = {"_AsgiSend", "_AsgiCall", "_AsgiReceive", "_AsgiRecvWait"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (PyType_Ready(types[i]) < 0)
            return -1;
        if (PyModule_AddObjectRef(module, type_names[i], (PyObject *)types[i]) < 0)
            return -1;
    }
    return PyModule_AddFunctions(module, asgi_methods);
}
