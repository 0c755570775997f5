/* The Kineto importer's traceEvents array (docs/kineto.md, "Reading on two threads"): the event loop
 * (each element by the fast path, kineto_fast.c, or read_event, kineto_event.c, then handle_event,
 * kineto_keep.c), and for a large plain file its second half read at once on a second thread and
 * replayed in file order. Called by the document pass (kineto.c) only. */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "import/kineto_int.h"

#define KT_PAR_MIN_BYTES (16u << 20)    /* smaller files are read on one thread */

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
        if (sp_kt_fast_on && sp_kt_fast_event(k2, UINT64_MAX, &t)) {
            if (sp_kt_observer)
                sp_kt_observe(&k2->e, &t, true);
            int c = sp_kt_counted_only(p->k, &k2->e);
            if (c)
                it_counted(p, &k2->e, c == 1);
            else
                it_event(p, &t, &k2->e);
            continue;
        }
        if (sp_json_next(&k2->lx, &t)) {
            it_error(p, sp_kt_lex_fail(k2));
            return;
        }
        if (t.type == SP_JSON_ARR_END) {
            it_tag(p, IT_END);
            return;
        }
        if (t.type != SP_JSON_OBJ_BEGIN) {
            if (!k2->lenient) {
                k2->ctx->skippable = true;   /* p->ctx2: passed back with the error (par_replay) */
                it_error(p, sp_kt_fail_at(k2, SP_ERR_PARSE, &t, "expected an event object in \"traceEvents\""));
                return;
            }
            if (t.type == SP_JSON_ARR_BEGIN && sp_json_skip_rest(&k2->lx)) {
                it_error(p, sp_kt_lex_fail(k2));
                return;
            }
            it_tag(p, IT_SKIPPED);
            continue;
        }
        const sp_json_token *open = &t;
        uint32_t depth = t.depth;
        sp_status st = sp_kt_read_event(k2, open);
        if (st == SP_OK && sp_kt_observer)
            sp_kt_observe(&k2->e, open, false);
        if (st == SP_OK) {
            int c = sp_kt_counted_only(p->k, &k2->e);
            if (c)
                it_counted(p, &k2->e, c == 1);
            else
                it_event(p, open, &k2->e);
            continue;
        }
        if (st == SP_ERR_PARSE && k2->lenient && k2->lx.status == SP_OK) {
            while (k2->lx.depth >= depth)
                if (sp_json_skip_rest(&k2->lx)) {
                    it_error(p, sp_kt_lex_fail(k2));
                    return;
                }
            it_tag(p, IT_SKIPPED);
            continue;
        }
        if (st == SP_ERR_PARSE && k2->lx.status == SP_OK)
            k2->ctx->skippable = true;   /* what lenient skips above */
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
        atomic_fetch_add(&sp_kt_fast_total, p->k2->fast_events);
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
    p->ctx2.skippable = false;
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
            sp_status st = sp_kt_handle_event(k, &open);
            if (st == SP_ERR_PARSE && k->lenient) {   /* the serial loop's skip (the event is read) */
                f->skipped++;
                continue;
            }
            if (st == SP_ERR_PARSE)
                k->ctx->skippable = true;
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
            sp_kt_note_ts(k, true, d);
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
            if (p->ctx2.skippable)   /* the second thread works on a copy of the context */
                k->ctx->skippable = true;
            return (sp_status)v;
        }
        case IT_END:
            *ended = true;
            return SP_OK;
        default:
            return sp_kt_model_fail(k, SP_ERR_INVALID);   /* cannot happen: the list is ours */
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

/* ---------- the event loop ---------- */

/* Each element of the array, in file order, through handle_event; with a second thread (p), up to its
 * hand-over point. */
static sp_status read_events_from(kt *k, kt_par *p)
{
    sp_json_token t;
    for (;;) {
        if (sp_kt_fast_on && sp_kt_fast_event(k, p ? p->target : UINT64_MAX, &t)) {
            if (sp_kt_observer)
                sp_kt_observe(&k->e, &t, true);
            sp_status hst = sp_kt_handle_event(k, &t);
            if (hst == SP_ERR_PARSE && k->lenient) {   /* as below: the event is read whole */
                k->ev->files[k->file].skipped++;
                continue;
            }
            if (hst == SP_ERR_PARSE)
                k->ctx->skippable = true;
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
            if (!k->lenient) {
                k->ctx->skippable = true;
                return sp_kt_fail_at(k, SP_ERR_PARSE, &t, "expected an event object in \"traceEvents\"");
            }
            if (t.type == SP_JSON_ARR_BEGIN)
                LEX(sp_json_skip_rest(&k->lx));
            k->ev->files[k->file].skipped++;
            continue;
        }
        /* t stays as it is (read_event has its own token); copying it whole right after
         * sp_json_next wrote it field by field costs a store-forwarding stall per event */
        const sp_json_token *open = &t;
        uint32_t depth = t.depth;
        sp_status st = sp_kt_read_event(k, open);
        if (st == SP_OK && sp_kt_observer)
            sp_kt_observe(&k->e, open, false);
        if (st == SP_OK)
            st = sp_kt_handle_event(k, open);
        if (st == SP_ERR_PARSE && k->lenient && k->lx.status == SP_OK) {
            /* skip the rest of a malformed event and count it */
            while (k->lx.depth >= depth)
                LEX(sp_json_skip_rest(&k->lx));
            k->ev->files[k->file].skipped++;
            continue;
        }
        if (st == SP_ERR_PARSE && k->lx.status == SP_OK)
            k->ctx->skippable = true;   /* what lenient skips just above */
        if (st)
            return st;
    }
}

sp_status sp_kt_read_events(kt *k)
{
    kt_par *p = par_start(k);
    sp_status st = read_events_from(k, p);
    par_end(p, true);   /* stops it if this thread ended before the hand-over; joined ones join at once */
    return st;
}
