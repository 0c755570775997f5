/* libservprof's hot path: each recording thread owns a single-producer/single-consumer byte ring
 * (taken on its first record, given up when it exits) and the sp_record_* functions write whole
 * records into it. Never blocks, never allocates after a thread's first record, and drops (counting
 * the cause) rather than wait. */
#include <sched.h>
#include <string.h>

#include "trace/recorder_int.h"
#include "trace/trace_int.h"

#define SP_LIKELY(x) __builtin_expect(!!(x), 1)
#define SP_UNLIKELY(x) __builtin_expect(!!(x), 0)

void (*sp_trace_busy_hook)(void);
bool sp_trace_no_early_wake;

typedef struct sp_tstate {
    sp_tbuf *tb;
    uint64_t gate;               /* the gate value tb belongs to */
    uint64_t failed_gate;        /* no buffer could be had in this gate: do not retry ... */
    uint64_t failed_frees;       /* ... unless every slot was taken and the recorder has emptied one
                                    since (rec->slot_frees moved past this) */
    bool failed_nomem;           /* the failure was an allocation: never retried in the gate */
    int in_slow;                 /* in acquire_slow, or in a library call that takes a lock
                                    (sp_rec_api_enter): a handler's slow path drops */
} sp_tstate;

static _Thread_local sp_tstate t_state;

static pthread_key_t g_key;
static bool g_key_ok;

/* pthread key destructor: the thread is exiting; give up our side of its buffer. */
static void tbuf_thread_exit(void *p)
{
    sp_tbuf *tb = p;
    if (t_state.tb == tb)
        t_state.tb = NULL;
    /* acq_rel: release makes this thread's last published records and drop counts visible to the
     * writer that sees TB_THREAD_GONE; acquire orders the recorder's release of the ring (it let go
     * first) before our free. */
    int prev = atomic_exchange_explicit(&tb->owner, TB_THREAD_GONE, memory_order_acq_rel);
    if (prev == TB_RECORDER_GONE)
        free_tbuf(tb);
}

static void count_global(sp_recorder *rec, sp_drop_cause c)
{
    atomic_fetch_add_explicit(&rec->drops[c], 1, memory_order_relaxed);
}

static void count_tb(sp_tbuf *tb, sp_drop_cause c)
{
    atomic_fetch_add_explicit(&tb->drops[c], 1, memory_order_relaxed);
}

bool sp_rec_threads_init(void)
{
    g_key_ok = pthread_key_create(&g_key, tbuf_thread_exit) == 0;
    return g_key_ok;
}

int sp_rec_api_enter(void)
{
    int prev = t_state.in_slow;
    t_state.in_slow = 1;
    atomic_signal_fence(memory_order_seq_cst); /* the mark is up before the call takes a lock */
    return prev;
}

void sp_rec_api_leave(int prev)
{
    atomic_signal_fence(memory_order_seq_cst); /* every lock is released before the mark goes */
    t_state.in_slow = prev;
}

sp_tbuf *sp_rec_thread_buffer(void)
{
    return t_state.tb;
}

void sp_rec_thread_forget(void)
{
    t_state.tb = NULL;
    if (g_key_ok)
        pthread_setspecific(g_key, NULL);
}

/* A thread's first record (or first after an open, close or fork): get a buffer. May allocate and
 * lock; never called again while the thread's buffer is current. On success the buffer is returned
 * with busy raised and the gate checked, exactly as on the fast path. */
static __attribute__((noinline)) sp_tbuf *acquire_slow(sp_recorder *rec, sp_tstate *ts)
{
    if (ts->in_slow) {
        count_global(rec, SP_DROP_REENTRANT);
        return NULL;
    }
    ts->in_slow = 1;
    atomic_signal_fence(memory_order_seq_cst); /* the flag is up before anything below, for a handler */
    sp_tbuf *result = NULL;
    uint64_t gate = atomic_load_explicit(&rec->gate, memory_order_acquire);
    if (GATE_STATE(gate) == REC_CHILD_PENDING) {
        pthread_mutex_lock(&rec->mu);
        sp_rec_child_start_locked(rec);
        pthread_mutex_unlock(&rec->mu);
        gate = atomic_load_explicit(&rec->gate, memory_order_acquire);
    }
    if (GATE_STATE(gate) != REC_OPEN) {
        count_global(rec, SP_DROP_AFTER_CLOSE);
        goto out;
    }
    if (ts->tb && ts->gate != gate) {
        /* a buffer from a recorder that has closed since: ours alone now, unless it is still
         * waiting to be drained, in which case the recorder frees it */
        sp_tbuf *old = ts->tb;
        ts->tb = NULL;
        if (g_key_ok)
            pthread_setspecific(g_key, NULL);
        int prev = atomic_exchange_explicit(&old->owner, TB_THREAD_GONE, memory_order_acq_rel);
        if (prev == TB_RECORDER_GONE)
            free_tbuf(old);
    }
    /* relaxed: a stale count only delays the retry to the thread's next record */
    if (ts->failed_gate == gate &&
        (ts->failed_nomem || atomic_load_explicit(&rec->slot_frees, memory_order_relaxed) == ts->failed_frees)) {
        count_global(rec, SP_DROP_NO_BUFFER);
        goto out;
    }
    sp_tbuf *tb = ts->tb;
    if (!tb) {
        tb = aligned_alloc(64, (sizeof(sp_tbuf) + 63) & ~(size_t)63);
        if (tb) {
            memset(tb, 0, sizeof *tb);
            tb->cap = rec->opt.thread_buffer_bytes;
            tb->wmask = tb->cap / 8 - 1;
            tb->ring = aligned_alloc(64, tb->cap);
        }
        if (!tb || !tb->ring) {
            free(tb);
            ts->failed_gate = gate;
            ts->failed_nomem = true;
            count_global(rec, SP_DROP_NO_BUFFER);
            goto out;
        }
        bool placed = false;
        pthread_mutex_lock(&rec->mu);
        uint64_t frees = atomic_load_explicit(&rec->slot_frees, memory_order_relaxed); /* under mu */
        /* under mu, the gate cannot move to CLOSING while we register */
        if (atomic_load_explicit(&rec->gate, memory_order_relaxed) == gate) {
            for (size_t i = 0; i < rec->nslots && !placed; i++) {
                if (!atomic_load_explicit(&rec->slots[i], memory_order_relaxed)) {
                    /* release: the writer's acquire load of the slot sees an initialised buffer */
                    atomic_store_explicit(&rec->slots[i], tb, memory_order_release);
                    placed = true;
                }
            }
        }
        pthread_mutex_unlock(&rec->mu);
        if (!placed) {
            free_tbuf(tb);
            ts->failed_gate = gate;
            ts->failed_nomem = false;
            ts->failed_frees = frees;
            if (atomic_load_explicit(&rec->gate, memory_order_relaxed) == gate) {
                /* Every slot is taken, often by threads that have exited (a thread per request or
                 * connection) whose buffers wait for the writer's next cycle to be retired: wake it
                 * now, and try again on a later record once it has emptied a slot, instead of
                 * dropping this thread's records for the rest of the recorder's life. */
                count_global(rec, SP_DROP_NO_BUFFER);
                writer_kick(rec);
            } else {
                count_global(rec, SP_DROP_AFTER_CLOSE);
            }
            goto out;
        }
        if (g_key_ok)
            pthread_setspecific(g_key, tb);
        ts->tb = tb;
        ts->gate = gate;
    }
    /* seq_cst: the hot path's half of the close handshake (see rec_enter) */
    atomic_store_explicit(&tb->busy, 1, memory_order_seq_cst);
    atomic_signal_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&rec->gate, memory_order_seq_cst) != ts->gate) {
        atomic_store_explicit(&tb->busy, 0, memory_order_release);
        count_global(rec, SP_DROP_AFTER_CLOSE);
        goto out;
    }
    result = tb;
out:
    atomic_signal_fence(memory_order_seq_cst);
    ts->in_slow = 0;
    return result;
}

/* The owner passed check_at: look at the writer's tail. Returns false (after counting a drop) when
 * the record does not fit. Past half the ring the writer is woken at once rather than at its next
 * period, once per drain; until then the owner looks again every 1/16 of the ring. A writer resting
 * on a period longer than its base (the service was quiet: writer.c) is woken as soon as 1/16 of the
 * ring waits, so a burst after a quiet spell starts draining as early as it did at the base period
 * instead of when half the ring is full. */
static __attribute__((noinline)) bool ring_room(sp_recorder *rec, sp_tbuf *tb, uint64_t end)
{
    /* acquire: pairs with the writer's release of tail, so its reads of the space we are about to
     * overwrite are finished */
    uint64_t tail = atomic_load_explicit(&tb->tail, memory_order_acquire);
    if (end - tail > tb->cap) {
        count_tb(tb, SP_DROP_BUFFER_FULL);
        return false;
    }
    if (SP_UNLIKELY(sp_trace_no_early_wake)) {
        tb->check_at = tail + tb->cap;
        return true;
    }
    if (end - tail <= tb->cap / 16) {
        tb->check_at = tail + tb->cap / 16;
        return true;
    }
    if (end - tail <= tb->cap / 2) {
        /* relaxed: a hint; a stale value costs one wake too many or a wake at half instead */
        if (atomic_load_explicit(&rec->writer_period_ms, memory_order_relaxed) > rec->opt.flush_interval_ms &&
            !atomic_exchange_explicit(&tb->hw_woke, 1, memory_order_relaxed))
            writer_kick(rec);
        tb->check_at = tail + tb->cap / 2;
        return true;
    }
    if (!atomic_exchange_explicit(&tb->hw_woke, 1, memory_order_relaxed))
        writer_kick(rec);
    uint64_t again = end + tb->cap / 16;
    tb->check_at = again < tail + tb->cap ? again : tail + tb->cap;
    return true;
}

/* Enters the thread's buffer for one record of `size` bytes. Returns the buffer with busy raised and
 * `*head` where to write, or NULL after counting a drop. */
static inline sp_tbuf *rec_enter(sp_recorder *rec, size_t size, uint64_t *head_out)
{
    sp_tstate *ts = &t_state;
    sp_tbuf *tb = ts->tb;
    if (SP_LIKELY(tb != NULL)) {
        if (SP_UNLIKELY(atomic_load_explicit(&tb->busy, memory_order_relaxed))) {
            /* a signal handler interrupted a record on this thread */
            count_tb(tb, SP_DROP_REENTRANT);
            return NULL;
        }
        /* seq_cst store then seq_cst load of the gate: the hot path's half of the handshake with
         * sp_recorder_close (store gate, then load busy). Either close sees busy and waits for us,
         * or we see the new gate and leave the ring alone, so close may free it. */
        atomic_store_explicit(&tb->busy, 1, memory_order_seq_cst);
        atomic_signal_fence(memory_order_seq_cst); /* keep ring accesses after the flag, for handlers */
        if (SP_UNLIKELY(atomic_load_explicit(&rec->gate, memory_order_seq_cst) != ts->gate)) {
            atomic_store_explicit(&tb->busy, 0, memory_order_release);
            tb = acquire_slow(rec, ts);
            if (!tb)
                return NULL;
        }
    } else {
        tb = acquire_slow(rec, ts);
        if (!tb)
            return NULL;
    }
    if (SP_UNLIKELY(sp_trace_busy_hook != NULL))
        sp_trace_busy_hook();
    if (SP_UNLIKELY(size > tb->cap || size > SP_NATIVE_MAX_RECORD)) {
        count_tb(tb, SP_DROP_TOO_LARGE);
        goto leave;
    }
    uint64_t head = atomic_load_explicit(&tb->head, memory_order_relaxed); /* we are its only writer */
    if (SP_UNLIKELY(head + size > tb->check_at) && !ring_room(rec, tb, head + size))
        goto leave;
    *head_out = head;
    return tb;
leave:
    atomic_signal_fence(memory_order_seq_cst);
    /* release: our drop count is visible to a closer that sees busy == 0 */
    atomic_store_explicit(&tb->busy, 0, memory_order_release);
    return NULL;
}

/* Writes word `k` of the record being built; ring, mask and first word index are cached in locals
 * because stores through the ring could otherwise alias the buffer's fields. */
#define REC_LOCALS(tb, h) \
    uint64_t *ring_ = (tb)->ring; \
    size_t mask_ = (tb)->wmask, at_ = (size_t)((h) >> 3)
#define PUT(k, v) (ring_[(at_ + (k)) & mask_] = SP_LE64((uint64_t)(v)))

static inline void rec_leave(sp_tbuf *tb, uint64_t new_head)
{
    /* release: the record's bytes are visible to the writer that acquires this head */
    atomic_store_explicit(&tb->head, new_head, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    /* release: a closer that sees busy == 0 sees the published head */
    atomic_store_explicit(&tb->busy, 0, memory_order_release);
}

void sp_record_request(sp_recorder *rec, uint64_t request_id, uint64_t arrival_ns, uint64_t done_ns,
                       int64_t input_tokens)
{
    if (!rec)
        return;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, SP_REC_SIZE_REQUEST, &h);
    if (!tb)
        return;
    REC_LOCALS(tb, h);
    PUT(0, sp_rec_header(SP_REC_REQUEST, SP_REC_SIZE_REQUEST, 0));
    PUT(1, request_id);
    PUT(2, arrival_ns);
    PUT(3, done_ns);
    PUT(4, (uint64_t)input_tokens);
    rec_leave(tb, h + SP_REC_SIZE_REQUEST);
}

void sp_record_outcome(sp_recorder *rec, uint64_t request_id, sp_outcome outcome, int32_t http_status)
{
    if (!rec)
        return;
    /* an outcome the format has no code for cannot be written: counted like a record too large to
     * write, as sp_record_batch does for too many members */
    size_t size = (unsigned)outcome < SP_OUTCOME_COUNT ? SP_REC_SIZE_OUTCOME : (size_t)SP_NATIVE_MAX_RECORD + 8;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, size, &h);
    if (!tb)
        return;
    int64_t status = http_status >= 0 && http_status <= SP_NATIVE_MAX_STATUS ? http_status : 0;
    REC_LOCALS(tb, h);
    PUT(0, sp_rec_header(SP_REC_OUTCOME, SP_REC_SIZE_OUTCOME, (uint32_t)outcome));
    PUT(1, request_id);
    PUT(2, (uint64_t)status);
    rec_leave(tb, h + SP_REC_SIZE_OUTCOME);
}

void sp_record_request_label(sp_recorder *rec, uint64_t request_id, const char *label, size_t label_len)
{
    if (!rec || !label)
        return;
    if (label_len > SP_NATIVE_MAX_LABEL)
        label_len = SP_NATIVE_MAX_LABEL;
    size_t words = (label_len + 7) / 8;
    size_t size = 16 + words * 8;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, size, &h);
    if (!tb)
        return;
    REC_LOCALS(tb, h);
    PUT(0, sp_rec_header(SP_REC_LABEL, (uint32_t)size, (uint32_t)label_len));
    PUT(1, request_id);
    for (size_t w = 0; w < words; w++) {
        unsigned char b[8] = {0};
        size_t n = label_len - w * 8 < 8 ? label_len - w * 8 : 8;
        memcpy(b, label + w * 8, n);
        PUT(2 + w, sp_rd64(b));
    }
    rec_leave(tb, h + size);
}

static int all_zero(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

void sp_record_request_trace(sp_recorder *rec, uint64_t request_id, const sp_trace_context *ctx)
{
    if (!rec)
        return;
    /* ids that are not valid W3C ids cannot be written as such: counted like a record too large to
     * write, as sp_record_outcome does for an outcome out of range */
    int valid = ctx && !all_zero(ctx->trace_id, 16) && !all_zero(ctx->span_id, 8);
    size_t size = valid ? SP_REC_SIZE_TRACE : (size_t)SP_NATIVE_MAX_RECORD + 8;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, size, &h);
    if (!tb)
        return;
    REC_LOCALS(tb, h);
    /* the ids' bytes in order on disk: sp_rd64 reads them as the little-endian word that writes them */
    PUT(0, sp_rec_header(SP_REC_TRACE, SP_REC_SIZE_TRACE, ctx->flags));
    PUT(1, request_id);
    PUT(2, sp_rd64(ctx->trace_id));
    PUT(3, sp_rd64(ctx->trace_id + 8));
    PUT(4, sp_rd64(ctx->span_id));
    PUT(5, sp_rd64(ctx->parent_id));
    rec_leave(tb, h + SP_REC_SIZE_TRACE);
}

void sp_record_stage(sp_recorder *rec, uint64_t request_id, sp_name_id stage, uint64_t start_ns,
                     uint64_t end_ns)
{
    if (!rec)
        return;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, SP_REC_SIZE_STAGE, &h);
    if (!tb)
        return;
    REC_LOCALS(tb, h);
    PUT(0, sp_rec_header(SP_REC_STAGE, SP_REC_SIZE_STAGE, stage));
    PUT(1, request_id);
    PUT(2, start_ns);
    PUT(3, end_ns);
    rec_leave(tb, h + SP_REC_SIZE_STAGE);
}

void sp_record_batch(sp_recorder *rec, uint64_t batch_id, const uint64_t *members, size_t member_count,
                     uint64_t start_ns, uint64_t end_ns, uint64_t effective_tokens,
                     uint64_t padded_tokens)
{
    if (!rec)
        return;
    if (!members)
        member_count = 0;
    /* more than SP_NATIVE_MAX_MEMBERS makes the size exceed any record: dropped as too large */
    size_t size = member_count > SP_NATIVE_MAX_MEMBERS ? (size_t)SP_NATIVE_MAX_RECORD + 8
                                                       : SP_REC_SIZE_BATCH_BASE + 8 * member_count;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, size, &h);
    if (!tb)
        return;
    REC_LOCALS(tb, h);
    PUT(0, sp_rec_header(SP_REC_BATCH, (uint32_t)size, (uint32_t)member_count));
    PUT(1, batch_id);
    PUT(2, start_ns);
    PUT(3, end_ns);
    PUT(4, effective_tokens);
    PUT(5, padded_tokens);
    for (size_t i = 0; i < member_count; i++)
        PUT(6 + i, members[i]);
    rec_leave(tb, h + size);
}

void sp_record_kernel(sp_recorder *rec, const sp_kernel_record *k)
{
    if (!rec || !k)
        return;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, SP_REC_SIZE_KERNEL, &h);
    if (!tb)
        return;
    REC_LOCALS(tb, h);
    PUT(0, sp_rec_header(SP_REC_KERNEL, SP_REC_SIZE_KERNEL, k->name));
    PUT(1, k->batch_id);
    PUT(2, (uint64_t)k->device | ((uint64_t)k->stream << 32));
    PUT(3, k->correlation);
    PUT(4, k->start_ns);
    PUT(5, k->end_ns);
    rec_leave(tb, h + SP_REC_SIZE_KERNEL);
}

void sp_record_copy(sp_recorder *rec, const sp_copy_record *c)
{
    if (!rec || !c)
        return;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, SP_REC_SIZE_COPY, &h);
    if (!tb)
        return;
    REC_LOCALS(tb, h);
    PUT(0, sp_rec_header(SP_REC_COPY, SP_REC_SIZE_COPY, (uint32_t)c->kind));
    PUT(1, c->batch_id);
    PUT(2, (uint64_t)c->device | ((uint64_t)c->stream << 32));
    PUT(3, c->correlation);
    PUT(4, c->bytes);
    PUT(5, c->start_ns);
    PUT(6, c->end_ns);
    rec_leave(tb, h + SP_REC_SIZE_COPY);
}

void sp_record_launch(sp_recorder *rec, sp_name_id name, uint64_t correlation, uint64_t start_ns,
                      uint64_t end_ns)
{
    if (!rec)
        return;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, SP_REC_SIZE_LAUNCH, &h);
    if (!tb)
        return;
    REC_LOCALS(tb, h);
    PUT(0, sp_rec_header(SP_REC_LAUNCH, SP_REC_SIZE_LAUNCH, name));
    PUT(1, correlation);
    PUT(2, start_ns);
    PUT(3, end_ns);
    rec_leave(tb, h + SP_REC_SIZE_LAUNCH);
}

void sp_record_step(sp_recorder *rec, const sp_step_record *s)
{
    if (!rec || !s)
        return;
    size_t n = s->member_count;
    if (n > 0 && (!s->members || !s->phases || !s->tokens))
        return;
    /* more than SP_NATIVE_MAX_STEP_MEMBERS makes the size exceed any record: dropped as too large */
    size_t size = n > SP_NATIVE_MAX_STEP_MEMBERS ? (size_t)SP_NATIVE_MAX_RECORD + 8
                                                 : SP_REC_SIZE_STEP_BASE + SP_REC_SIZE_STEP_MEMBER * n;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, size, &h);
    if (!tb)
        return;
    REC_LOCALS(tb, h);
    PUT(0, sp_rec_header(SP_REC_STEP, (uint32_t)size, (uint32_t)n));
    PUT(1, s->batch_id);
    PUT(2, s->start_ns);
    PUT(3, s->end_ns);
    PUT(4, s->effective_tokens);
    PUT(5, s->padded_tokens);
    PUT(6, s->kv_used_tokens);
    PUT(7, s->kv_capacity_tokens);
    for (size_t i = 0; i < n; i++) {
        PUT(8 + 2 * i, s->members[i]);
        PUT(9 + 2 * i, ((uint64_t)s->phases[i] << SP_STEP_PHASE_SHIFT) | ((uint64_t)s->tokens[i] & SP_STEP_TOKENS_MASK));
    }
    rec_leave(tb, h + size);
}

void sp_record_token(sp_recorder *rec, uint64_t request_id, uint64_t index, uint64_t time_ns)
{
    if (!rec)
        return;
    uint64_t h;
    sp_tbuf *tb = rec_enter(rec, SP_REC_SIZE_TOKEN, &h);
    if (!tb)
        return;
    REC_LOCALS(tb, h);
    PUT(0, sp_rec_header(SP_REC_TOKEN, SP_REC_SIZE_TOKEN, 0));
    PUT(1, request_id);
    PUT(2, index);
    PUT(3, time_ns);
    rec_leave(tb, h + SP_REC_SIZE_TOKEN);
}
