/* libservprof's recorder: each recording thread owns a single-producer/single-consumer byte ring;
 * a background writer thread drains every ring into checksummed blocks of the native trace file
 * (docs/native-format.md). The hot path never blocks, never allocates after a thread's first
 * record, and drops (counting the cause) rather than wait. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "common/hmap.h"
#include "common/util_int.h"
#include "servprof/trace.h"
#include "trace/trace_int.h"

#define SP_LIKELY(x) __builtin_expect(!!(x), 1)
#define SP_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define DEFAULT_RING_BYTES (16u << 20)
#define MIN_RING_BYTES 1024u
#define MAX_RING_BYTES (1u << 30)
#define DEFAULT_MAX_THREADS 64u
#define MAX_MAX_THREADS 65536u
#define DEFAULT_FLUSH_MS 10u

void (*sp_trace_busy_hook)(void);
bool sp_trace_no_early_wake;

/* Recorder states, kept in the low byte of the gate word; the rest of the word is an epoch that
 * changes on every open, close and fork, so a thread's cached buffer is known stale by one compare. */
enum { REC_IDLE = 0, REC_OPEN, REC_CLOSING, REC_CHILD_PENDING, REC_CHILD_OFF };
#define GATE(epoch, state) (((uint64_t)(epoch) << 8) | (uint64_t)(state))
#define GATE_STATE(g) ((int)((g) & 0xff))
#define GATE_EPOCH(g) ((g) >> 8)

/* Who still holds a thread buffer's header: both, or only one side after the other let go. The side
 * that lets go second frees it. */
enum { TB_LIVE = 0, TB_THREAD_GONE, TB_RECORDER_GONE };

/* One thread's ring. head and tail are byte positions that only grow; records are whole u64 words,
 * so a record's 8-byte header never straddles the wrap. */
typedef struct sp_tbuf {
    /* producer's cache line */
    _Atomic uint64_t head;       /* written by the owner thread only */
    uint64_t check_at;           /* head position past which the owner looks at tail again: the
                                    ring's end as last seen, or its high-water mark */
    _Atomic int busy;            /* re-entrancy guard and close handshake */
    uint64_t *ring;
    size_t cap;                  /* bytes, a power of two */
    size_t wmask;                /* cap / 8 - 1 */
    _Atomic uint64_t drops[SP_DROP_CAUSE_COUNT];
    /* consumer's cache line */
    _Alignas(64) _Atomic uint64_t tail; /* written by the writer (or the closer) only */
    _Atomic int hw_woke;         /* the owner woke the writer for this ring since its last drain
                                    (here, so the writer's reset does not touch the owner's line) */
    _Atomic int owner;           /* TB_* */
} sp_tbuf;

typedef struct sp_tstate {
    sp_tbuf *tb;
    uint64_t gate;               /* the gate value tb belongs to */
    uint64_t failed_gate;        /* no buffer could be had in this gate: do not retry */
    int in_slow;
} sp_tstate;

static _Thread_local sp_tstate t_state;

struct sp_recorder {
    _Atomic uint64_t gate;
    pthread_mutex_t mu;          /* state changes, buffer registration, writer control */
    _Atomic uint32_t wake_seq;   /* bumped (and futex-woken) to wake the writer: flush, close, and a
                                    ring passing its high-water mark */
    pthread_cond_t flushed;      /* the writer finished a cycle */
    bool conds_ready;
    sp_recorder_options opt;
    char *path;
    int fd;
    pthread_t writer;
    bool writer_running;
    bool stop;
    uint64_t flush_req, flush_done;
    _Atomic(sp_tbuf *) *slots;
    size_t nslots;
    uint64_t *heads;             /* writer scratch: head snapshot per slot */
    unsigned char *gone;         /* writer scratch: owner gone per slot */
    /* drops no live buffer holds: no buffer, after close, write failed, added, retired buffers' */
    _Atomic uint64_t drops[SP_DROP_CAUSE_COUNT];
    uint64_t drops_written[SP_DROP_CAUSE_COUNT];
    bool drops_ever_written;
    /* names: ids 1.. index names[]; 0 is "none" */
    pthread_mutex_t names_mu;
    char **names;
    uint32_t nnames, cap_names;
    uint32_t *name_slots;        /* id, 0 = empty */
    size_t name_nslots;
    uint32_t names_written;      /* writer-owned: definitions already in the file */
    /* trace properties (sp_recorder_set_property), also under names_mu */
    char *prop_key[SP_PROP_MAX_KEYS];
    char *prop_val[SP_PROP_MAX_KEYS];
    uint32_t nprops;
    bool props_dirty;            /* some property is not in the file yet: the writer writes them all */
    /* the block being filled: header space, then payload */
    unsigned char *block;
    size_t block_used;
    uint32_t block_records;
    uint32_t block_user;         /* of those, records a caller made (not names, drops, meta) */
    sp_status write_status;
};

static struct sp_recorder g_rec = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .names_mu = PTHREAD_MUTEX_INITIALIZER,
    .fd = -1,
};

/* The message of the recorder's latest failure (sp_recorder_last_error). Its own lock, taken last
 * (after names_mu and mu), because the writer reports from inside a cycle that holds neither. */
static pthread_mutex_t g_err_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_err[640];

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static bool g_key_ok;

const char *sp_drop_cause_str(sp_drop_cause cause)
{
    switch (cause) {
    case SP_DROP_BUFFER_FULL: return "buffer_full";
    case SP_DROP_TOO_LARGE: return "too_large";
    case SP_DROP_NO_BUFFER: return "no_buffer";
    case SP_DROP_WRITE_FAILED: return "write_failed";
    case SP_DROP_REENTRANT: return "reentrant";
    case SP_DROP_AFTER_CLOSE: return "after_close";
    case SP_DROP_CAUSE_COUNT: break;
    }
    return "unknown";
}

const char *sp_outcome_str(sp_outcome outcome)
{
    switch (outcome) {
    case SP_OUTCOME_OK: return "ok";
    case SP_OUTCOME_REJECTED: return "rejected";
    case SP_OUTCOME_ERROR: return "error";
    case SP_OUTCOME_CANCELLED: return "cancelled";
    case SP_OUTCOME_UNFINISHED: return "unfinished";
    case SP_OUTCOME_COUNT: break;
    }
    return "unknown";
}

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
}

/* Records why something failed, for sp_recorder_last_error, and sends it to the log callback. */
static void rec_fail(const char *fmt, ...) SP_PRINTF(1, 2);
static void rec_fail(const char *fmt, ...)
{
    char msg[sizeof g_err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_err_mu);
    memcpy(g_err, msg, sizeof g_err);
    pthread_mutex_unlock(&g_err_mu);
    sp_log(SP_LOG_ERROR, "servprof: %s", msg);
}

const char *sp_recorder_last_error(char *buf, size_t buflen)
{
    if (!buf || !buflen)
        return buf;
    pthread_mutex_lock(&g_err_mu);
    snprintf(buf, buflen, "%s", g_err);
    pthread_mutex_unlock(&g_err_mu);
    return buf;
}

/* The first write failure: says why, once, and stops the writing (the callers then count what
 * they would have written as write_failed). A failed write may have put part of a block in the
 * file, and a reader stops at a torn block, so nothing written after it could be read anyway. */
static void write_failed(sp_recorder *rec, int err)
{
    if (rec->write_status != SP_OK)
        return;
    rec->write_status = SP_ERR_IO;
    rec_fail("writing %s failed: %s; recording to it stopped (later records are counted as write_failed drops)",
             rec->path ? rec->path : "the trace", strerror(err));
}

static void count_global(sp_recorder *rec, sp_drop_cause c)
{
    atomic_fetch_add_explicit(&rec->drops[c], 1, memory_order_relaxed);
}

static void count_tb(sp_tbuf *tb, sp_drop_cause c)
{
    atomic_fetch_add_explicit(&tb->drops[c], 1, memory_order_relaxed);
}

/* The writer sleeps on wake_seq: woken early by a bump, else after its period. A futex lets a
 * recording thread (even in a signal handler) wake it without a lock and without ever blocking. */
static void writer_sleep(sp_recorder *rec, uint32_t seen, unsigned ms)
{
#ifdef __linux__
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    syscall(SYS_futex, &rec->wake_seq, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
#else
    (void)seen;
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    if (atomic_load_explicit(&rec->wake_seq, memory_order_acquire) == seen)
        nanosleep(&ts, NULL);
#endif
}

static void writer_kick(sp_recorder *rec)
{
    /* release: what the waker did before (published records, a flush request) is visible to the
     * writer once it sees the new value */
    atomic_fetch_add_explicit(&rec->wake_seq, 1, memory_order_release);
#ifdef __linux__
    syscall(SYS_futex, &rec->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#endif
}

static void free_tbuf(sp_tbuf *tb)
{
    free(tb->ring);
    free(tb);
}

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

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

static void global_init(void)
{
    g_key_ok = pthread_key_create(&g_key, tbuf_thread_exit) == 0;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---------------- the writer's side ---------------- */

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Frames and writes the block being filled. A failed write drops its records: the callers' records
 * among them are counted as write_failed (the writer's own name and count records are not drops). */
static void block_flush(sp_recorder *rec)
{
    if (!rec->block_records)
        return;
    unsigned char *h = rec->block;
    sp_wr32(h, SP_NATIVE_BLOCK_MAGIC);
    sp_wr32(h + 4, (uint32_t)rec->block_used);
    sp_wr32(h + 8, rec->block_records);
    /* the checksum covers the header's first 12 bytes, then the payload (docs/native-format.md) */
    uint32_t crc = sp_crc32(0, h, 12);
    crc = sp_crc32(crc, h + SP_NATIVE_BLOCK_HEADER, rec->block_used);
    sp_wr32(h + 12, crc);
    if (rec->write_status != SP_OK || rec->fd < 0 ||
        write_all(rec->fd, h, SP_NATIVE_BLOCK_HEADER + rec->block_used) != 0) {
        int e = rec->fd < 0 ? EBADF : errno;
        atomic_fetch_add_explicit(&rec->drops[SP_DROP_WRITE_FAILED], rec->block_user,
                                  memory_order_relaxed);
        write_failed(rec, e);
    }
    rec->block_used = 0;
    rec->block_records = 0;
    rec->block_user = 0;
}

/* Space for one record of `size` bytes in the block, flushing it first when full. */
static unsigned char *block_reserve(sp_recorder *rec, size_t size)
{
    if (rec->block_used + size > SP_NATIVE_WRITE_BLOCK)
        block_flush(rec);
    unsigned char *p = rec->block + SP_NATIVE_BLOCK_HEADER + rec->block_used;
    rec->block_used += size;
    rec->block_records++;
    return p;
}

/* Writes definitions of names interned since the last call. */
static void emit_names(sp_recorder *rec)
{
    pthread_mutex_lock(&rec->names_mu);
    for (uint32_t id = rec->names_written ? rec->names_written : 1; id < rec->nnames; id++) {
        const char *s = rec->names[id];
        size_t len = strlen(s);
        size_t size = 8 + ((len + 7) & ~(size_t)7);
        unsigned char *p = block_reserve(rec, size);
        sp_wr64(p, sp_rec_header(SP_REC_NAME, (uint32_t)size, id));
        memset(p + 8, 0, size - 8);
        memcpy(p + 8, s, len);
    }
    if (rec->nnames)
        rec->names_written = rec->nnames;
    pthread_mutex_unlock(&rec->names_mu);
}

/* Writes every property when one changed since the last call (a later record of a key replaces the
 * value for readers, so writing all again is correct; there are few, set at start-up). Names' lock. */
static void emit_props(sp_recorder *rec)
{
    pthread_mutex_lock(&rec->names_mu);
    if (rec->props_dirty) {
        for (uint32_t i = 0; i < rec->nprops; i++) {
            size_t kl = strlen(rec->prop_key[i]), vl = strlen(rec->prop_val[i]);
            size_t kpad = (kl + 7) & ~(size_t)7, vpad = (vl + 7) & ~(size_t)7;
            size_t size = 16 + kpad + vpad;
            unsigned char *p = block_reserve(rec, size);
            sp_wr64(p, sp_rec_header(SP_REC_PROP, (uint32_t)size, (uint32_t)kl));
            sp_wr64(p + 8, vl);
            memset(p + 16, 0, size - 16);
            memcpy(p + 16, rec->prop_key[i], kl);
            memcpy(p + 16 + kpad, rec->prop_val[i], vl);
        }
        rec->props_dirty = false;
    }
    pthread_mutex_unlock(&rec->names_mu);
}

static void props_free(sp_recorder *rec)
{
    for (uint32_t i = 0; i < rec->nprops; i++) {
        free(rec->prop_key[i]);
        free(rec->prop_val[i]);
        rec->prop_key[i] = rec->prop_val[i] = NULL;
    }
    rec->nprops = 0;
    rec->props_dirty = false;
}

static int writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (unsigned char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

#define DRAIN_BLOCKS 16 /* blocks handed to one writev() */

/* Writes records [tail, head) of one ring straight from the ring, as blocks of whole records: the
 * only per-record work is reading each 8-byte header to find where a block must end; the bytes are
 * checksummed in place and up to DRAIN_BLOCKS blocks (16 MiB) go to the kernel in one writev(), so
 * the writer copies nothing itself. Returns the bytes drained. */
static uint64_t drain(sp_recorder *rec, sp_tbuf *tb, uint64_t head)
{
    uint64_t tail = atomic_load_explicit(&tb->tail, memory_order_relaxed); /* only we write it */
    uint64_t start = tail;
    const unsigned char *ring = (const unsigned char *)tb->ring;
    const size_t cap = tb->cap;
    while (tail < head) {
        unsigned char hdrs[DRAIN_BLOCKS][SP_NATIVE_BLOCK_HEADER];
        struct iovec iov[DRAIN_BLOCKS * 3];
        int niov = 0, nblocks = 0;
        uint64_t pos = tail, user = 0;
        bool corrupt = false;
        while (pos < head && nblocks < DRAIN_BLOCKS && !corrupt) {
            uint64_t b0 = pos;
            uint32_t records = 0;
            while (pos < head) {
                uint64_t hdr = sp_rd64(ring + (size_t)(pos & (cap - 1)));
                size_t size = (size_t)((hdr >> 16) & 0xffff);
                if (size < 8 || (size & 7) || size > head - pos) {
                    /* cannot happen unless memory was corrupted: discard the rest rather than
                     * write junk */
                    corrupt = true;
                    break;
                }
                if (pos + size - b0 > SP_NATIVE_WRITE_BLOCK)
                    break;
                pos += size;
                records++;
            }
            if (!records)
                break;
            size_t len = (size_t)(pos - b0), off = (size_t)(b0 & (cap - 1));
            size_t first = len < cap - off ? len : cap - off;
            unsigned char *h = hdrs[nblocks++];
            sp_wr32(h, SP_NATIVE_BLOCK_MAGIC);
            sp_wr32(h + 4, (uint32_t)len);
            sp_wr32(h + 8, records);
            /* the checksum covers the header's first 12 bytes, then the payload
             * (docs/native-format.md) */
            uint32_t crc = sp_crc32(0, h, 12);
            crc = sp_crc32(crc, ring + off, first);
            if (len > first)
                crc = sp_crc32(crc, ring, len - first);
            sp_wr32(h + 12, crc);
            iov[niov++] = (struct iovec){h, SP_NATIVE_BLOCK_HEADER};
            iov[niov++] = (struct iovec){(void *)(ring + off), first};
            if (len > first)
                iov[niov++] = (struct iovec){(void *)ring, len - first};
            user += records;
        }
        if (niov && (rec->write_status != SP_OK || rec->fd < 0 || writev_all(rec->fd, iov, niov) != 0)) {
            int e = rec->fd < 0 ? EBADF : errno;
            atomic_fetch_add_explicit(&rec->drops[SP_DROP_WRITE_FAILED], user, memory_order_relaxed);
            write_failed(rec, e);
        }
        if (corrupt) {
            sp_log(SP_LOG_ERROR, "servprof: corrupt record in a thread buffer; discarded");
            pos = head;
        }
        tail = pos;
        /* release: our reads of the written bytes (writev copied them) happen before the producer,
         * which loads tail with acquire, reuses that space. */
        atomic_store_explicit(&tb->tail, tail, memory_order_release);
    }
    /* the owner may wake us again for this ring once it passes the mark anew */
    if (atomic_load_explicit(&tb->hw_woke, memory_order_relaxed))
        atomic_store_explicit(&tb->hw_woke, 0, memory_order_relaxed);
    return tail - start;
}

static void drop_totals(sp_recorder *rec, uint64_t out[SP_DROP_CAUSE_COUNT])
{
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        out[c] = atomic_load_explicit(&rec->drops[c], memory_order_relaxed);
    for (size_t i = 0; i < rec->nslots; i++) {
        sp_tbuf *tb = atomic_load_explicit(&rec->slots[i], memory_order_acquire);
        if (!tb)
            continue;
        for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
            out[c] += atomic_load_explicit(&tb->drops[c], memory_order_relaxed);
    }
}

/* Writes a cumulative drop-count record when the counts changed (or `force`). */
static void emit_drops(sp_recorder *rec, bool force)
{
    uint64_t now[SP_DROP_CAUSE_COUNT];
    pthread_mutex_lock(&rec->mu);
    drop_totals(rec, now);
    pthread_mutex_unlock(&rec->mu);
    if (!force && rec->drops_ever_written && memcmp(now, rec->drops_written, sizeof now) == 0)
        return;
    if (!force && !rec->drops_ever_written) {
        bool any = false;
        for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
            any |= now[c] != 0;
        if (!any)
            return;
    }
    size_t size = 8 + 8 * SP_DROP_CAUSE_COUNT;
    unsigned char *p = block_reserve(rec, size);
    sp_wr64(p, sp_rec_header(SP_REC_DROPS, (uint32_t)size, SP_DROP_CAUSE_COUNT));
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        sp_wr64(p + 8 + 8 * (size_t)c, now[c]);
    memcpy(rec->drops_written, now, sizeof now);
    rec->drops_ever_written = true;
}

/* A retired buffer (its thread exited): fold its drop counts into the totals and free it. */
static void retire(sp_recorder *rec, size_t slot, sp_tbuf *tb)
{
    pthread_mutex_lock(&rec->mu);
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        atomic_fetch_add_explicit(&rec->drops[c],
                                  atomic_load_explicit(&tb->drops[c], memory_order_relaxed),
                                  memory_order_relaxed);
    atomic_store_explicit(&rec->slots[slot], NULL, memory_order_relaxed);
    pthread_mutex_unlock(&rec->mu);
    free_tbuf(tb);
}

/* One pass over every ring. Returns the largest fraction (in 1/1024) of a ring that was drained,
 * so the writer can go round again at once when it is falling behind. */
static unsigned writer_cycle(sp_recorder *rec)
{
    /* Heads are read before names: a record that uses a name id was published after the id was
     * interned, so every name a drained record uses is in the table by the time we look. */
    for (size_t i = 0; i < rec->nslots; i++) {
        sp_tbuf *tb = atomic_load_explicit(&rec->slots[i], memory_order_acquire); /* pairs with
            the registering thread's release: the buffer's fields are initialised */
        rec->gone[i] = 0;
        if (!tb)
            continue;
        /* acquire: pairs with the exiting thread's acq_rel exchange, so its last head is seen */
        rec->gone[i] = atomic_load_explicit(&tb->owner, memory_order_acquire) == TB_THREAD_GONE;
        /* acquire: pairs with the producer's release of head, so the record bytes are visible */
        rec->heads[i] = atomic_load_explicit(&tb->head, memory_order_acquire);
    }
    emit_names(rec);
    emit_props(rec);
    block_flush(rec); /* the names go before the records that use them, which bypass the block */
    unsigned most = 0;
    for (size_t i = 0; i < rec->nslots; i++) {
        sp_tbuf *tb = atomic_load_explicit(&rec->slots[i], memory_order_relaxed); /* only we clear */
        if (!tb)
            continue;
        uint64_t n = drain(rec, tb, rec->heads[i]);
        unsigned frac = (unsigned)((n * 1024) / tb->cap);
        if (frac > most)
            most = frac;
        if (rec->gone[i])
            retire(rec, i, tb);
    }
    emit_drops(rec, false);
    block_flush(rec);
    return most;
}

static void *writer_main(void *arg)
{
    sp_recorder *rec = arg;
    pthread_mutex_lock(&rec->mu);
    while (!rec->stop) {
        uint64_t req = rec->flush_req;
        pthread_mutex_unlock(&rec->mu);
        /* acquire: read before the cycle, so a wake that comes during it makes the sleep below
         * return at once */
        uint32_t seen = atomic_load_explicit(&rec->wake_seq, memory_order_acquire);
        unsigned most = writer_cycle(rec);
        pthread_mutex_lock(&rec->mu);
        rec->flush_done = req;
        pthread_cond_broadcast(&rec->flushed);
        if (rec->stop || rec->flush_req != req || most >= 256)
            continue; /* a quarter of some ring was waiting: go round again without sleeping */
        pthread_mutex_unlock(&rec->mu);
        writer_sleep(rec, seen, rec->opt.flush_interval_ms);
        pthread_mutex_lock(&rec->mu);
    }
    pthread_mutex_unlock(&rec->mu);
    return NULL;
}

/* ---------------- names ---------------- */

static sp_name_id name_find_locked(sp_recorder *rec, const char *s, size_t len, size_t *slot)
{
    size_t mask = rec->name_nslots - 1;
    size_t j = sp_hash_bytes(s, len, 0) & mask;
    for (;;) {
        uint32_t id = rec->name_slots[j];
        if (!id) {
            *slot = j;
            return SP_NAME_NONE;
        }
        const char *c = rec->names[id];
        if (strncmp(c, s, len) == 0 && c[len] == '\0')
            return id;
        j = (j + 1) & mask;
    }
}

static sp_status name_add_locked(sp_recorder *rec, const char *s, size_t len, sp_name_id *out)
{
    size_t slot;
    sp_name_id id = name_find_locked(rec, s, len, &slot);
    if (id) {
        *out = id;
        return SP_OK;
    }
    if (rec->nnames >= SP_NATIVE_MAX_NAMES)
        return SP_ERR_LIMIT;
    if ((size_t)(rec->nnames + 1) * 2 > rec->name_nslots) {
        size_t n = rec->name_nslots * 2;
        uint32_t *ns = calloc(n, sizeof *ns);
        if (!ns)
            return SP_ERR_NOMEM;
        for (uint32_t i = 1; i < rec->nnames; i++) {
            size_t j = sp_hash_bytes(rec->names[i], strlen(rec->names[i]), 0) & (n - 1);
            while (ns[j])
                j = (j + 1) & (n - 1);
            ns[j] = i;
        }
        free(rec->name_slots);
        rec->name_slots = ns;
        rec->name_nslots = n;
        name_find_locked(rec, s, len, &slot);
    }
    size_t cap = rec->cap_names;
    sp_status st = SP_GROW(rec->names, cap, (size_t)rec->nnames + 1, SP_NATIVE_MAX_NAMES);
    if (st)
        return st;
    rec->cap_names = (uint32_t)cap;
    char *copy = malloc(len + 1);
    if (!copy)
        return SP_ERR_NOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    id = rec->nnames++;
    rec->names[id] = copy;
    rec->name_slots[slot] = id;
    *out = id;
    return SP_OK;
}

static void names_free(sp_recorder *rec)
{
    for (uint32_t i = 1; i < rec->nnames; i++)
        free(rec->names[i]);
    free(rec->names);
    free(rec->name_slots);
    rec->names = NULL;
    rec->name_slots = NULL;
    rec->nnames = rec->cap_names = 0;
    rec->name_nslots = 0;
    rec->names_written = 0;
}

static sp_status names_init(sp_recorder *rec)
{
    static const char *const known[] = {"preprocess", "queue", "postprocess"};
    rec->name_nslots = 64;
    rec->name_slots = calloc(rec->name_nslots, sizeof *rec->name_slots);
    size_t cap = 0;
    if (!rec->name_slots || SP_GROW(rec->names, cap, 16, SP_NATIVE_MAX_NAMES))
        return SP_ERR_NOMEM;
    rec->cap_names = (uint32_t)cap;
    rec->names[0] = NULL;
    rec->nnames = 1;
    for (size_t i = 0; i < 3; i++) {
        sp_name_id id;
        sp_status st = name_add_locked(rec, known[i], strlen(known[i]), &id);
        if (st)
            return st;
    }
    return SP_OK;
}

sp_name_id sp_recorder_intern(sp_recorder *rec, const char *name)
{
    if (!rec || !name)
        return SP_NAME_NONE;
    size_t len = strnlen(name, SP_NATIVE_MAX_NAME + 1);
    if (len == 0 || len > SP_NATIVE_MAX_NAME)
        return SP_NAME_NONE;
    sp_name_id id = SP_NAME_NONE;
    pthread_mutex_lock(&rec->names_mu);
    if (rec->names && name_add_locked(rec, name, len, &id) != SP_OK)
        id = SP_NAME_NONE;
    pthread_mutex_unlock(&rec->names_mu);
    return id;
}

sp_status sp_recorder_set_property(sp_recorder *rec, const char *key, const char *value)
{
    if (!rec || !key || !value)
        return SP_ERR_INVALID;
    size_t kl = strnlen(key, SP_PROP_MAX_KEY + 1), vl = strnlen(value, SP_PROP_MAX_VALUE + 1);
    if (!sp_prop_key_valid(key, kl) || vl > SP_PROP_MAX_VALUE)
        return SP_ERR_INVALID;
    int state = GATE_STATE(atomic_load_explicit(&rec->gate, memory_order_relaxed));
    if (state != REC_OPEN)
        return SP_ERR_STATE;
    sp_status st = SP_OK;
    pthread_mutex_lock(&rec->names_mu);
    uint32_t i = 0;
    while (i < rec->nprops && strcmp(rec->prop_key[i], key) != 0)
        i++;
    if (i == rec->nprops && rec->nprops >= SP_PROP_MAX_KEYS) {
        st = SP_ERR_LIMIT;
    } else {
        char *v = strdup(value);
        char *k = i == rec->nprops ? strdup(key) : rec->prop_key[i];
        if (!v || !k) {
            free(v);
            if (i == rec->nprops)
                free(k);
            st = SP_ERR_NOMEM;
        } else {
            if (i == rec->nprops) {
                rec->prop_key[i] = k;
                rec->prop_val[i] = NULL;
                rec->nprops++;
            }
            free(rec->prop_val[i]);
            rec->prop_val[i] = v;
            rec->props_dirty = true;
        }
    }
    pthread_mutex_unlock(&rec->names_mu);
    return st;
}

/* ---------------- open, close, flush ---------------- */

static sp_status write_file_start(sp_recorder *rec)
{
    unsigned char h[SP_NATIVE_FILE_HEADER];
    memcpy(h, SP_NATIVE_MAGIC, 8);
    sp_wr32(h + 8, SP_NATIVE_VERSION);
    sp_wr32(h + 12, SP_NATIVE_FILE_HEADER);
    if (write_all(rec->fd, h, sizeof h) != 0) {
        rec_fail("cannot record to %s: writing the file header failed: %s", rec->path, strerror(errno));
        return SP_ERR_IO;
    }
    unsigned char *p = block_reserve(rec, SP_REC_SIZE_META);
    double price = rec->opt.price_per_hour > 0 ? rec->opt.price_per_hour : 0.0;
    uint64_t price_bits;
    memcpy(&price_bits, &price, 8);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    sp_wr64(p, sp_rec_header(SP_REC_META, SP_REC_SIZE_META, SP_NATIVE_CLOCK_MONOTONIC));
    sp_wr64(p + 8, price_bits);
    sp_wr64(p + 16, (uint64_t)getpid());
    sp_wr64(p + 24, sp_now_ns());
    sp_wr64(p + 32, (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec);
    sp_wr64(p + 40, rec->opt.thread_buffer_bytes);
    sp_wr64(p + 48, rec->opt.max_threads);
    emit_names(rec);
    emit_props(rec);
    block_flush(rec);
    return rec->write_status;
}

/* The pid in the meta record of a trace another process is writing (0: not there yet). */
static long holder_pid(const char *path)
{
    unsigned char b[SP_NATIVE_FILE_HEADER + SP_NATIVE_BLOCK_HEADER + 24];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = pread(fd, b, sizeof b, 0);
    close(fd);
    const unsigned char *meta = b + SP_NATIVE_FILE_HEADER + SP_NATIVE_BLOCK_HEADER;
    if (n != (ssize_t)sizeof b || memcmp(b, SP_NATIVE_MAGIC, 8) != 0 ||
        sp_rd32(b + SP_NATIVE_FILE_HEADER) != SP_NATIVE_BLOCK_MAGIC || (sp_rd64(meta) & 0xffff) != SP_REC_META)
        return 0;
    return (long)sp_rd64(meta + 16);
}

/* Opens `path` for writing and makes it this recorder's: a regular file is locked (flock, held until
 * close) before it is truncated, so a second process given the same path fails here instead of
 * truncating the first one's trace. Other files (a pipe, /dev/null) are shared things and neither
 * locked nor truncated. Returns the descriptor, or -1 with the reason recorded (rec_fail). */
static int open_owned(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        struct stat sb;
        if (slash)
            *(slash == dir ? slash + 1 : slash) = 0;
        if (e == ENOENT && slash && stat(dir, &sb) != 0)
            rec_fail("cannot create %s: the folder %s does not exist", path, dir);
        else
            rec_fail("cannot create %s: %s", path, strerror(e));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return fd;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            long pid = holder_pid(path);
            if (pid > 0)
                rec_fail("cannot record to %s: another process (pid %ld) is recording to it", path, pid);
            else
                rec_fail("cannot record to %s: another process is recording to it", path);
            close(fd);
            return -1;
        }
        /* a file system without locks (some network ones): record anyway, unprotected */
        sp_log(SP_LOG_WARN, "servprof: cannot lock %s (%s): another process could write it too", path,
               strerror(e));
    }
    if (ftruncate(fd, 0) != 0) {
        rec_fail("cannot truncate %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Starts the writer with every signal blocked, so user signal handlers never run on it. */
static sp_status start_writer(sp_recorder *rec)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&rec->writer, NULL, writer_main, rec);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e)
        return SP_ERR_NOMEM;
    rec->writer_running = true;
    return SP_OK;
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
    names_free(rec);
    props_free(rec);
    pthread_mutex_unlock(&rec->names_mu);
}

static size_t round_pow2_down(size_t n)
{
    size_t p = 1;
    while (p <= n / 2)
        p *= 2;
    return p;
}

sp_status sp_recorder_open(const char *path, const sp_recorder_options *opt, sp_recorder **out)
{
    if (!path || !out)
        return SP_ERR_INVALID;
    pthread_once(&g_once, global_init);
    if (!g_key_ok)
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
    st = names_init(rec);
    pthread_mutex_unlock(&rec->names_mu);
    if (st)
        goto fail;
    st = conds_init(rec);
    if (st)
        goto fail;
    rec->fd = open_owned(path);
    if (rec->fd < 0) {
        st = SP_ERR_IO;
        goto fail;
    }
    st = write_file_start(rec);
    if (st == SP_OK)
        st = start_writer(rec);
    if (st) {
        close(rec->fd);
        rec->fd = -1;
        goto fail;
    }
    pthread_mutex_lock(&g_err_mu);
    g_err[0] = 0; /* a new session: no failure yet */
    pthread_mutex_unlock(&g_err_mu);
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

sp_status sp_recorder_flush(sp_recorder *rec)
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

/* Gives up the recorder's side of every buffer (after the final drain). */
static void release_buffers(sp_recorder *rec)
{
    sp_tstate *ts = &t_state;
    for (size_t i = 0; i < rec->nslots; i++) {
        sp_tbuf *tb = atomic_load_explicit(&rec->slots[i], memory_order_relaxed);
        if (!tb)
            continue;
        atomic_store_explicit(&rec->slots[i], NULL, memory_order_relaxed);
        free(tb->ring);
        tb->ring = NULL;
        if (ts->tb == tb) {
            /* the closing thread's own buffer: nobody else holds it */
            ts->tb = NULL;
            if (g_key_ok)
                pthread_setspecific(g_key, NULL);
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

sp_status sp_recorder_close(sp_recorder *rec)
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
        writer_cycle(rec);
        emit_drops(rec, true);
        unsigned char *p = block_reserve(rec, 8);
        sp_wr64(p, sp_rec_header(SP_REC_END, 8, 0));
        block_flush(rec);
        st = rec->write_status;
        if (close(rec->fd) != 0 && st == SP_OK) {
            /* some file systems (NFS, quotas) report a failed write only here */
            write_failed(rec, errno);
            st = SP_ERR_IO;
        }
        rec->fd = -1;
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

void sp_recorder_drops(const sp_recorder *crec, uint64_t counts[SP_DROP_CAUSE_COUNT])
{
    if (!counts)
        return;
    if (!crec) {
        memset(counts, 0, sizeof(uint64_t) * SP_DROP_CAUSE_COUNT);
        return;
    }
    sp_recorder *rec = &g_rec; /* the one recorder; crec is it */
    pthread_mutex_lock(&rec->mu);
    drop_totals(rec, counts);
    pthread_mutex_unlock(&rec->mu);
}

void sp_recorder_add_drops(sp_recorder *rec, sp_drop_cause cause, uint64_t count)
{
    if (!rec || (unsigned)cause >= SP_DROP_CAUSE_COUNT)
        return;
    atomic_fetch_add_explicit(&rec->drops[cause], count, memory_order_relaxed);
}

/* ---------------- fork ---------------- */

static void fork_prepare(void)
{
    /* hold both locks across fork so the child never inherits one held by a thread it lacks */
    pthread_mutex_lock(&g_rec.names_mu);
    pthread_mutex_lock(&g_rec.mu);
    pthread_mutex_lock(&g_err_mu);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&g_err_mu);
    pthread_mutex_unlock(&g_rec.mu);
    pthread_mutex_unlock(&g_rec.names_mu);
}

/* In the child only this thread exists: the writer and the other recording threads are gone. Their
 * buffers hold the parent's records (the parent writes them), so the child discards its copies and,
 * if it is to record, starts afresh on its first record (so a child that only execs costs nothing). */
static void fork_child(void)
{
    sp_recorder *rec = &g_rec;
    pthread_mutex_init(&rec->mu, NULL);
    pthread_mutex_init(&rec->names_mu, NULL);
    pthread_mutex_init(&g_err_mu, NULL);
    uint64_t gate = atomic_load_explicit(&rec->gate, memory_order_relaxed);
    int state = GATE_STATE(gate);
    if (state == REC_IDLE)
        return;
    sp_tbuf *mine = t_state.tb;
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
        t_state.tb = NULL;
        if (g_key_ok)
            pthread_setspecific(g_key, NULL);
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

/* A forked child's first record: open "<path>.<pid>" and start a writer. Called with rec->mu held. */
static void child_start_locked(sp_recorder *rec)
{
    uint64_t gate = atomic_load_explicit(&rec->gate, memory_order_relaxed);
    if (GATE_STATE(gate) != REC_CHILD_PENDING)
        return;
    char *base = rec->path;
    size_t n = strlen(base) + 32;
    char *path = malloc(n);
    int next = REC_CHILD_OFF;
    if (path && rec->conds_ready) {
        snprintf(path, n, "%s.%ld", base, (long)getpid());
        rec->fd = open_owned(path);
        if (rec->fd >= 0) {
            rec->path = path;
            path = base;
            if (write_file_start(rec) == SP_OK && start_writer(rec) == SP_OK) {
                next = REC_OPEN;
            } else {
                close(rec->fd);
                rec->fd = -1;
            }
        }
        if (next != REC_OPEN)
            sp_log(SP_LOG_ERROR, "servprof: forked child cannot record to %s", rec->path);
    }
    free(path);
    /* release: threads that see OPEN see the file and writer set up */
    atomic_store_explicit(&rec->gate, GATE(GATE_EPOCH(gate) + 1, next), memory_order_release);
}

/* ---------------- the hot path ---------------- */

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
        child_start_locked(rec);
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
    if (ts->failed_gate == gate) {
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
            count_global(rec, SP_DROP_NO_BUFFER);
            goto out;
        }
        bool placed = false;
        pthread_mutex_lock(&rec->mu);
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
            count_global(rec, atomic_load_explicit(&rec->gate, memory_order_relaxed) == gate
                                  ? SP_DROP_NO_BUFFER
                                  : SP_DROP_AFTER_CLOSE);
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
 * period, once per drain; until then the owner looks again every 1/16 of the ring. */
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
    if (end - tail <= tb->cap / 2) {
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
