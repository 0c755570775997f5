/* libservprof's recorder: open, flush and close, drop counts, and fork. The parts it drives live
 * beside it: the hot path (record.c: per-thread rings, the sp_record_* functions), the writer thread
 * and the file (writer.c), names and properties (names.c); recorder_int.h says what they share. */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "trace/recorder_int.h"
#include "trace/tap_int.h"

#define DEFAULT_RING_BYTES (16u << 20)
#define MIN_RING_BYTES 1024u
#define MAX_RING_BYTES (1u << 30)
#define DEFAULT_MAX_THREADS 64u
#define MAX_MAX_THREADS 65536u
#define DEFAULT_FLUSH_MS 10u

static struct sp_recorder g_rec = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .names_mu = PTHREAD_MUTEX_INITIALIZER,
    .fd = -1,
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_threads_ok;     /* the thread-exit key exists (record.c) */

/* sizeof(sp_recorder_options) in 0.2, the first layout with struct_size: what a zero struct_size
 * stands for (trace.h, "ABI rule"). Fields appended later do not change it. */
#define OPTIONS_SIZE_0_2 (offsetof(sp_recorder_options, on_fork_child) + sizeof(int))

void sp_recorder_options_init(sp_recorder_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->thread_buffer_bytes = DEFAULT_RING_BYTES;
    opt->max_threads = DEFAULT_MAX_THREADS;
    opt->flush_interval_ms = DEFAULT_FLUSH_MS;
    opt->price_per_hour = 0;
    opt->on_fork_child = 0;
    opt->live_metrics = 0;
    opt->metrics_settle_ms = 0;
}

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void global_init(void)
{
    g_threads_ok = sp_rec_threads_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static sp_status conds_init(sp_recorder *rec)
{
    int e = pthread_cond_init(&rec->flushed, NULL);
    rec->conds_ready = !e;
    return e ? SP_ERR_NOMEM : SP_OK;
}

/* Releases everything open() set up (state must already be past OPEN; the writer joined). */
static void release_resources(sp_recorder *rec)
{
    free(rec->slots);
    free(rec->heads);
    free(rec->gone);
    free(rec->block);
    free(rec->path);
    rec->slots = NULL;
    rec->heads = NULL;
    rec->gone = NULL;
    rec->block = NULL;
    rec->path = NULL;
    rec->nslots = 0;
    if (rec->conds_ready) {
        pthread_cond_destroy(&rec->flushed);
        rec->conds_ready = false;
    }
    pthread_mutex_lock(&rec->names_mu);
    sp_rec_names_free(rec);
    sp_rec_props_free(rec);
    pthread_mutex_unlock(&rec->names_mu);
    /* renders take rec->mu, which our callers hold, and find the state past OPEN */
    sp_tap_destroy(rec->tap);
    rec->tap = NULL;
}

static size_t round_pow2_down(size_t n)
{
    size_t p = 1;
    while (p <= n / 2)
        p *= 2;
    return p;
}

static sp_status recorder_open(const char *path, const sp_recorder_options *opt, sp_recorder **out)
{
    if (!path || !out)
        return SP_ERR_INVALID;
    pthread_once(&g_once, global_init);
    if (!g_threads_ok)
        return SP_ERR_NOMEM;
    sp_recorder *rec = &g_rec;
    pthread_mutex_lock(&rec->mu);
    uint64_t gate = atomic_load_explicit(&rec->gate, memory_order_relaxed);
    if (GATE_STATE(gate) != REC_IDLE) {
        pthread_mutex_unlock(&rec->mu);
        return SP_ERR_STATE;
    }
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    if (opt)
        sp_options_copy(&o, sizeof o, opt, opt->struct_size, OPTIONS_SIZE_0_2);
    if (!(o.price_per_hour <= SP_MAX_PRICE_PER_HOUR)) { /* NaN too: the readers would refuse the trace */
        pthread_mutex_unlock(&rec->mu);
        return SP_ERR_INVALID;
    }
    if (!o.thread_buffer_bytes)
        o.thread_buffer_bytes = DEFAULT_RING_BYTES;
    if (o.thread_buffer_bytes < MIN_RING_BYTES)
        o.thread_buffer_bytes = MIN_RING_BYTES;
    if (o.thread_buffer_bytes > MAX_RING_BYTES)
        o.thread_buffer_bytes = MAX_RING_BYTES;
    o.thread_buffer_bytes = round_pow2_down(o.thread_buffer_bytes);
    if (!o.max_threads)
        o.max_threads = DEFAULT_MAX_THREADS;
    if (o.max_threads > MAX_MAX_THREADS)
        o.max_threads = MAX_MAX_THREADS;
    if (!o.flush_interval_ms)
        o.flush_interval_ms = DEFAULT_FLUSH_MS;
    rec->opt = o;
    rec->stop = false;
    rec->flush_req = rec->flush_done = 0;
    rec->write_status = SP_OK;
    rec->block_used = 0;
    rec->block_records = 0;
    rec->block_user = 0;
    rec->drops_ever_written = false;
    memset(rec->drops_written, 0, sizeof rec->drops_written);
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        atomic_store_explicit(&rec->drops[c], 0, memory_order_relaxed);

    sp_status st = SP_ERR_NOMEM;
    rec->nslots = o.max_threads;
    rec->slots = calloc(rec->nslots, sizeof *rec->slots);
    rec->heads = calloc(rec->nslots, sizeof *rec->heads);
    rec->gone = calloc(rec->nslots, 1);
    rec->block = malloc(SP_NATIVE_BLOCK_HEADER + SP_NATIVE_WRITE_BLOCK);
    rec->path = strdup(path);
    if (!rec->slots || !rec->heads || !rec->gone || !rec->block || !rec->path)
        goto fail;
    pthread_mutex_lock(&rec->names_mu);
    st = sp_rec_names_init(rec);
    pthread_mutex_unlock(&rec->names_mu);
    if (st)
        goto fail;
    st = conds_init(rec);
    if (st)
        goto fail;
    if (o.live_metrics && (st = sp_tap_create(o.metrics_settle_ms, &rec->tap)))
        goto fail;
    st = sp_rec_file_open(rec);
    if (st)
        goto fail;
    sp_rec_error_clear(); /* a new session: no failure yet */
    /* release: a thread that sees OPEN in the new epoch sees everything set up above */
    atomic_store_explicit(&rec->gate, GATE(GATE_EPOCH(gate) + 1, REC_OPEN), memory_order_release);
    pthread_mutex_unlock(&rec->mu);
    *out = rec;
    return SP_OK;
fail:
    release_resources(rec);
    pthread_mutex_unlock(&rec->mu);
    return st;
}

/* Every public call that takes the recorder's locks marks its thread for the call (sp_rec_api_enter),
 * so a signal handler's record on that thread drops instead of waiting on a lock the thread holds. */
sp_status sp_recorder_open(const char *path, const sp_recorder_options *opt, sp_recorder **out)
{
    int api = sp_rec_api_enter();
    sp_status r = recorder_open(path, opt, out);
    sp_rec_api_leave(api);
    return r;
}

static sp_status recorder_flush(sp_recorder *rec)
{
    if (!rec)
        return SP_OK;
    pthread_mutex_lock(&rec->mu);
    uint64_t gate = atomic_load_explicit(&rec->gate, memory_order_relaxed);
    if (GATE_STATE(gate) == REC_CHILD_PENDING || GATE_STATE(gate) == REC_CHILD_OFF) {
        pthread_mutex_unlock(&rec->mu);
        return SP_OK; /* nothing recorded to a file in this process yet */
    }
    if (GATE_STATE(gate) != REC_OPEN || !rec->writer_running) {
        pthread_mutex_unlock(&rec->mu);
        return SP_ERR_STATE;
    }
    uint64_t my = ++rec->flush_req;
    writer_kick(rec);
    while (rec->flush_done < my && !rec->stop)
        pthread_cond_wait(&rec->flushed, &rec->mu);
    sp_status st = rec->write_status;
    pthread_mutex_unlock(&rec->mu);
    return st;
}

sp_status sp_recorder_flush(sp_recorder *rec)
{
    int api = sp_rec_api_enter();
    sp_status r = recorder_flush(rec);
    sp_rec_api_leave(api);
    return r;
}

/* Gives up the recorder's side of every buffer (after the final drain). */
static void release_buffers(sp_recorder *rec)
{
    sp_tbuf *mine = sp_rec_thread_buffer();
    for (size_t i = 0; i < rec->nslots; i++) {
        sp_tbuf *tb = atomic_load_explicit(&rec->slots[i], memory_order_relaxed);
        if (!tb)
            continue;
        atomic_store_explicit(&rec->slots[i], NULL, memory_order_relaxed);
        free(tb->ring);
        tb->ring = NULL;
        if (tb == mine) {
            /* the closing thread's own buffer: nobody else holds it */
            sp_rec_thread_forget();
            free(tb);
            continue;
        }
        /* acq_rel: release orders our free of the ring before the thread's free of the header;
         * acquire pairs with the thread's exit exchange when it let go first. */
        int prev = atomic_exchange_explicit(&tb->owner, TB_RECORDER_GONE, memory_order_acq_rel);
        if (prev == TB_THREAD_GONE)
            free(tb);
    }
}

static sp_status recorder_close(sp_recorder *rec)
{
    if (!rec)
        return SP_OK;
    pthread_mutex_lock(&rec->mu);
    uint64_t gate = atomic_load_explicit(&rec->gate, memory_order_relaxed);
    int state = GATE_STATE(gate);
    if (state == REC_IDLE || state == REC_CLOSING) {
        pthread_mutex_unlock(&rec->mu);
        return SP_ERR_STATE;
    }
    /* seq_cst: the close half of the handshake with the hot path (which stores busy, then loads the
     * gate): after this store, either we see a thread's busy flag or it sees CLOSING. */
    atomic_store_explicit(&rec->gate, GATE(GATE_EPOCH(gate) + 1, REC_CLOSING), memory_order_seq_cst);
    rec->stop = true;
    writer_kick(rec);
    if (rec->conds_ready)
        pthread_cond_broadcast(&rec->flushed);
    bool running = rec->writer_running;
    pthread_mutex_unlock(&rec->mu);
    if (running) {
        pthread_join(rec->writer, NULL);
        rec->writer_running = false;
    }
    sp_status st = SP_OK;
    if (rec->fd >= 0) {
        /* wait out records in flight; none starts after this (they see CLOSING) */
        for (size_t i = 0; i < rec->nslots; i++) {
            sp_tbuf *tb = atomic_load_explicit(&rec->slots[i], memory_order_acquire);
            if (!tb)
                continue;
            /* seq_cst: the other half of the handshake described above */
            while (atomic_load_explicit(&tb->busy, memory_order_seq_cst))
                sched_yield();
        }
        st = sp_rec_file_finish(rec);
    }
    pthread_mutex_lock(&rec->mu);
    /* fold the live buffers' counts so sp_recorder_drops still answers after close */
    for (size_t i = 0; i < rec->nslots; i++) {
        sp_tbuf *tb = atomic_load_explicit(&rec->slots[i], memory_order_relaxed);
        if (tb)
            for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
                atomic_fetch_add_explicit(&rec->drops[c],
                                          atomic_load_explicit(&tb->drops[c], memory_order_relaxed),
                                          memory_order_relaxed);
    }
    release_buffers(rec);
    release_resources(rec);
    atomic_store_explicit(&rec->gate, GATE(GATE_EPOCH(gate) + 2, REC_IDLE), memory_order_release);
    pthread_mutex_unlock(&rec->mu);
    return st;
}

sp_status sp_recorder_close(sp_recorder *rec)
{
    int api = sp_rec_api_enter();
    sp_status r = recorder_close(rec);
    sp_rec_api_leave(api);
    return r;
}

static void recorder_drops(const sp_recorder *crec, uint64_t counts[SP_DROP_CAUSE_COUNT])
{
    if (!counts)
        return;
    if (!crec) {
        memset(counts, 0, sizeof(uint64_t) * SP_DROP_CAUSE_COUNT);
        return;
    }
    sp_recorder *rec = &g_rec; /* the one recorder; crec is it */
    pthread_mutex_lock(&rec->mu);
    sp_rec_drop_totals(rec, counts);
    pthread_mutex_unlock(&rec->mu);
}

void sp_recorder_drops(const sp_recorder *crec, uint64_t counts[SP_DROP_CAUSE_COUNT])
{
    int api = sp_rec_api_enter();
    recorder_drops(crec, counts);
    sp_rec_api_leave(api);
}

static sp_status recorder_metrics_text(sp_recorder *rec, char **text, size_t *len)
{
    if (!rec || !text || !len)
        return SP_ERR_INVALID;
    sp_mx_context ctx;
    memset(&ctx, 0, sizeof ctx);
    char service[SP_PROP_MAX_VALUE + 1] = "", device[SP_PROP_MAX_VALUE + 1] = "";
    /* lock order: names, then the recorder, then (inside the render) the aggregate */
    pthread_mutex_lock(&rec->names_mu);
    for (uint32_t i = 0; i < rec->nprops; i++) {
        if (strcmp(rec->prop_key[i], "service") == 0) {
            snprintf(service, sizeof service, "%s", rec->prop_val[i]);
            ctx.service = service;
        } else if (strcmp(rec->prop_key[i], "device") == 0) {
            snprintf(device, sizeof device, "%s", rec->prop_val[i]);
            ctx.device = device;
        }
    }
    pthread_mutex_unlock(&rec->names_mu);
    pthread_mutex_lock(&rec->mu);
    int state = GATE_STATE(atomic_load_explicit(&rec->gate, memory_order_relaxed));
    sp_status st = SP_ERR_STATE;
    if (state != REC_IDLE && state != REC_CLOSING && rec->tap) {
        sp_rec_drop_totals(rec, ctx.drops);
        ctx.price_per_hour = rec->opt.price_per_hour;
        /* under rec->mu, so close cannot free the tap while it renders */
        st = sp_mx_render(sp_tap_metrics(rec->tap), &ctx, text, len);
    }
    pthread_mutex_unlock(&rec->mu);
    return st;
}

sp_status sp_recorder_metrics_text(sp_recorder *rec, char **text, size_t *len)
{
    int api = sp_rec_api_enter();
    sp_status r = recorder_metrics_text(rec, text, len);
    sp_rec_api_leave(api);
    return r;
}

sp_name_id sp_recorder_intern(sp_recorder *rec, const char *name)
{
    int api = sp_rec_api_enter();
    sp_name_id r = sp_rec_intern(rec, name);
    sp_rec_api_leave(api);
    return r;
}

sp_status sp_recorder_set_property(sp_recorder *rec, const char *key, const char *value)
{
    int api = sp_rec_api_enter();
    sp_status r = sp_rec_set_property(rec, key, value);
    sp_rec_api_leave(api);
    return r;
}

const char *sp_recorder_last_error(char *buf, size_t buflen)
{
    int api = sp_rec_api_enter();
    const char *r = sp_rec_last_error(buf, buflen);
    sp_rec_api_leave(api);
    return r;
}

void sp_metrics_text_free(char *text)
{
    free(text);
}

void sp_recorder_add_drops(sp_recorder *rec, sp_drop_cause cause, uint64_t count)
{
    if (!rec || (unsigned)cause >= SP_DROP_CAUSE_COUNT)
        return;
    atomic_fetch_add_explicit(&rec->drops[cause], count, memory_order_relaxed);
}

/* ---------------- fork ---------------- */

static _Thread_local int t_fork_api; /* the forking thread's mark, from prepare to parent or child */

static void fork_prepare(void)
{
    t_fork_api = sp_rec_api_enter(); /* a handler on this thread must not wait on the locks below */
    /* hold both locks across fork so the child never inherits one held by a thread it lacks; in
     * the order every other path takes them (mu, then names_mu: sp_recorder_open and a forked
     * child's start write the names under mu), so a fork racing an open cannot deadlock */
    pthread_mutex_lock(&g_rec.mu);
    pthread_mutex_lock(&g_rec.names_mu);
    sp_rec_error_lock();
    if (g_rec.tap)
        sp_tap_fork_prepare(g_rec.tap);
}

static void fork_parent(void)
{
    if (g_rec.tap)
        sp_tap_fork_parent(g_rec.tap);
    sp_rec_error_unlock();
    pthread_mutex_unlock(&g_rec.names_mu);
    pthread_mutex_unlock(&g_rec.mu);
    sp_rec_api_leave(t_fork_api);
}

/* In the child only this thread exists: the writer and the other recording threads are gone. Their
 * buffers hold the parent's records (the parent writes them), so the child discards its copies and,
 * if it is to record, starts afresh on its first record (so a child that only execs costs nothing). */
static void fork_child(void)
{
    sp_recorder *rec = &g_rec;
    /* the locks fork_prepare took, released by the thread that holds them (the child's only one)
     * rather than initialised anew over a held lock, which ThreadSanitizer reports as a double lock
     * and then as races between threads that both hold it */
    sp_rec_error_unlock();
    pthread_mutex_unlock(&rec->names_mu);
    pthread_mutex_unlock(&rec->mu);
    sp_rec_api_leave(t_fork_api);
    if (rec->tap)
        sp_tap_fork_child(rec->tap);
    uint64_t gate = atomic_load_explicit(&rec->gate, memory_order_relaxed);
    int state = GATE_STATE(gate);
    if (state == REC_IDLE)
        return;
    sp_tbuf *mine = sp_rec_thread_buffer();
    bool mine_freed = false;
    for (size_t i = 0; i < rec->nslots; i++) {
        sp_tbuf *tb = atomic_load_explicit(&rec->slots[i], memory_order_relaxed);
        if (tb) {
            mine_freed |= tb == mine;
            free_tbuf(tb);
        }
        atomic_store_explicit(&rec->slots[i], NULL, memory_order_relaxed);
    }
    if (mine) {
        /* not among the slots: a buffer from an earlier, closed recorder, ours alone */
        if (!mine_freed && atomic_load_explicit(&mine->owner, memory_order_relaxed) == TB_RECORDER_GONE)
            free_tbuf(mine);
        sp_rec_thread_forget();
    }
    if (rec->fd >= 0)
        close(rec->fd);
    rec->fd = -1;
    rec->writer_running = false;
    rec->stop = false;
    rec->flush_req = rec->flush_done = 0;
    rec->block_used = 0;
    rec->block_records = 0;
    rec->block_user = 0;
    rec->names_written = 0;
    rec->props_dirty = rec->nprops > 0; /* the child's own trace carries them too */
    rec->write_status = SP_OK;
    rec->drops_ever_written = false;
    memset(rec->drops_written, 0, sizeof rec->drops_written);
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        atomic_store_explicit(&rec->drops[c], 0, memory_order_relaxed);
    if (rec->conds_ready) {
        /* the parent's writer was waiting on this: destroying it would wait for it forever */
        memset(&rec->flushed, 0, sizeof rec->flushed);
        conds_init(rec);
    }
    int next = (state == REC_OPEN && !rec->opt.on_fork_child) || state == REC_CHILD_PENDING
                   ? REC_CHILD_PENDING
                   : REC_CHILD_OFF;
    atomic_store_explicit(&rec->gate, GATE(GATE_EPOCH(gate) + 1, next), memory_order_relaxed);
}
