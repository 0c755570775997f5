/* The Kineto importer's fast path for ordinary events (docs/kineto.md, "Reading fast"): an event of
 * plain strings and numbers read straight from the JSON lexer's window through read_event's member
 * rules (kineto_event.c), or given up having consumed nothing. Called by the event loop on either
 * thread (kineto_par.c); the tests' switch and observer live here. */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "import/kineto_int.h"

/* ---------- the fast path for ordinary events ---------- */

/* Nearly every event of a real trace is ordinary: an object of plain strings (printable ASCII, no
 * escapes) and plain numbers, with an "args" object of the same kind whose values may also be arrays of
 * them ("grid", "Input Dims"). fast_event reads such an object straight from the lexer's window into
 * k->e, through the same member rules as read_event (event_value, args_value), so with the same values;
 * on anything else (an escape, a non-ASCII byte, an object inside, a literal or a container where
 * read_event would judge it, a number form the lexer's quick path does not take, a member seen twice, a
 * value read_event rejects, the end of the window) it gives up having consumed nothing, and read_event
 * reads the object as ever, with its messages. docs/kineto.md, "Reading fast". */

bool sp_kt_fast_on = true;                /* tests: off reads every event with read_event */
sp_kineto_observer sp_kt_observer;        /* tests: sees every event read */
static void *g_kt_observer_arg;
atomic_ulong sp_kt_fast_total;            /* events read by the fast path so far, for tests */

void sp_import_kineto_set_fast(bool on, sp_kineto_observer fn, void *arg)
{
    sp_kt_fast_on = on;
    sp_kt_observer = fn;
    g_kt_observer_arg = arg;
}

unsigned long sp_import_kineto_fast_events(void)
{
    return atomic_load(&sp_kt_fast_total);
}

/* Hands an event read (by either path) to the tests' observer, with only the fields that mean something
 * (the others keep whatever an earlier event left). */
void sp_kt_observe(const kt_event *e, const sp_json_token *open, bool fast)
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
    sp_kt_observer(g_kt_observer_arg, &v);
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

/* "ts" or "dur" at p as exact ns and, under --hta-compat, the double: the values time_value gives (its
 * first two rules straight from the digits kf_number saw, so the text is not read twice; anything else
 * through time_value itself; the double by its own rule, time_double). Returns the byte after the
 * number, or NULL (give up). */
static inline const char *kf_time(const kf *f, const char *p, bool hta, int64_t *ns, double *d)
{
    sp_json_token t = {.type = SP_JSON_NONE};
    kf_digits dg;
    const char *q = kf_number(f, p, &t, &dg);
    if (!q)
        return NULL;
    static const uint32_t scale[4] = {1000, 100, 10, 1};
    if (t.is_int && t.i > -9223372036854775LL && t.i < 9223372036854775LL)
        *ns = t.i * 1000;
    else if (*p != '-' && dg.nd <= 16 && dg.whole <= 9000000000000000ULL && dg.nf >= 1 && dg.nf <= 3)
        *ns = (int64_t)(dg.whole * 1000 + dg.frac3 * scale[dg.nf]);   /* us_text_fast's rule */
    else if (sp_kt_time_value(false, &t, ns, d) != KV_OK)
        return NULL;
    if (hta && time_double(&t, d) != KV_OK)
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
        *which = sp_kt_event_key(*key, *n);
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
        int which = check_only ? 0 : sp_kt_args_key(key, n);
        if (!which || *p == '[') {   /* a container where read_args reads a value: skipped, nothing taken */
            p = kf_skip(f, p, room);
        } else {
            sp_json_token t = {.type = SP_JSON_NONE};
            p = kf_scalar(f, p, &t);
            if (p)
                sp_kt_args_value(e, which, &t);
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
            if (!(p = kf_scalar(f, p, &t)) || sp_kt_event_value(e, k->hta, which, &t, &pidh, &tidh) != KV_OK)
                return NULL;
        }
        if (!p)
            return NULL;
    }
    sp_kt_event_thread(e, pidh, tidh);
    return p;
}

/* Reads the next element of the traceEvents array by the fast path when it is an ordinary event that
 * starts before `limit` (the two-thread hand-over point: that element is the lexer's); fills `open` as
 * sp_json_next fills the '{' token. false: nothing consumed, the lexer reads on. */
bool sp_kt_fast_event(kt *k, uint64_t limit, sp_json_token *open)
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
