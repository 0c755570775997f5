/* libservprof's writer: the trace file (opened locked, so two processes never share one) and the
 * background thread that drains every thread's ring into checksummed blocks of it
 * (docs/native-format.md), with the names, properties and drop counts the records need. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "trace/recorder_int.h"
#include "trace/tap_int.h"
#include "trace/trace_int.h"

/* The message of the recorder's latest failure (sp_recorder_last_error). Its own lock, taken last
 * (after names_mu and mu), because the writer reports from inside a cycle that holds neither. */
static pthread_mutex_t g_err_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_err[640];

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

const char *sp_rec_last_error(char *buf, size_t buflen)
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

/* A trace file deleted while recording (the file, or the folder holding it, removed by a clean-up):
 * nothing written to it can be read any more, and writing on would fill the disk unseen. Said once,
 * like a failed write, and the writing stops (later records count as write_failed). One fstat a
 * cycle; a pipe or device is never "deleted". */
static void check_deleted(sp_recorder *rec)
{
    struct stat sb;
    if (rec->write_status != SP_OK || rec->fd < 0 || fstat(rec->fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        sb.st_nlink > 0)
        return;
    rec->write_status = SP_ERR_IO;
    rec_fail("%s was deleted while recording (the file or its folder removed): what is written to it "
             "cannot be read; recording to it stopped (later records are counted as write_failed drops)",
             rec->path ? rec->path : "the trace");
}

void sp_rec_error_clear(void)
{
    pthread_mutex_lock(&g_err_mu);
    g_err[0] = 0;
    pthread_mutex_unlock(&g_err_mu);
}

void sp_rec_error_lock(void)
{
    pthread_mutex_lock(&g_err_mu);
}

void sp_rec_error_unlock(void)
{
    pthread_mutex_unlock(&g_err_mu);
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
    sp_native_block_frame(h, rec->block_records, h + SP_NATIVE_BLOCK_HEADER, rec->block_used, NULL, 0);
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

/* Whether a record's name id (stage, kernel, launch) is one the file defines: every name interned
 * before the record was made is, since the cycle writes the names after taking the heads. A stage
 * needs a name; device work and launches may have none (SP_NAME_NONE). */
static inline bool name_defined(const sp_recorder *rec, uint64_t hdr)
{
    uint32_t type = sp_rec_type(hdr), id = sp_rec_aux(hdr);
    if (type == SP_REC_STAGE)
        return id - 1u < rec->names_written - 1u;
    if (type == SP_REC_KERNEL || type == SP_REC_LAUNCH)
        return id < rec->names_written;
    return true;
}

/* Writes records [tail, head) of one ring straight from the ring, as blocks of whole records: the
 * only per-record work is reading each 8-byte header to find where a block must end; the bytes are
 * checksummed in place and up to DRAIN_BLOCKS blocks (16 MiB) go to the kernel in one writev(), so
 * the writer copies nothing itself. A record whose name id the file does not define (a stage
 * recorded with the SP_NAME_NONE of a failed intern, a made-up id, one kept from an earlier
 * recorder) would make readers refuse the whole file: it is left out (its block ends before it, the
 * next starts after it) and counted as a too_large drop, like an outcome out of range, instead of
 * the hot path checking every record. Returns the bytes drained. */
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
        uint64_t pos = tail, user = 0, refused = 0;
        bool corrupt = false;
        while (pos < head && nblocks < DRAIN_BLOCKS && !corrupt) {
            uint64_t b0 = pos;
            uint32_t records = 0;
            while (pos < head) {
                uint64_t hdr = sp_rd64(ring + (size_t)(pos & (cap - 1)));
                size_t size = sp_rec_size(hdr);
                if (size < 8 || (size & 7) || size > head - pos) {
                    /* cannot happen unless memory was corrupted: discard the rest rather than
                     * write junk */
                    corrupt = true;
                    break;
                }
                if (__builtin_expect(!name_defined(rec, hdr), 0)) {
                    if (records)
                        break;
                    pos += size;
                    b0 = pos;
                    refused++;
                    continue;
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
            sp_native_block_frame(h, records, ring + off, first, ring, len - first);
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
        if (refused)
            atomic_fetch_add_explicit(&rec->drops[SP_DROP_TOO_LARGE], refused, memory_order_relaxed);
        /* the live metrics read the records before the producer may reuse their space */
        if (rec->tap && pos > tail)
            sp_tap_feed(rec->tap, tb->ring, tb->wmask, tail, pos);
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

void sp_rec_drop_totals(sp_recorder *rec, uint64_t out[SP_DROP_CAUSE_COUNT])
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
    sp_rec_drop_totals(rec, now);
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
    atomic_fetch_add_explicit(&rec->slot_frees, 1, memory_order_relaxed);
    pthread_mutex_unlock(&rec->mu);
    free_tbuf(tb);
}

/* What the cycle's first pass saw in each slot (rec->gone): no buffer, a live thread's, or the
 * buffer of a thread that has exited (drained one last time, then retired). */
enum { SLOT_EMPTY = 0, SLOT_LIVE, SLOT_GONE };

void (*sp_trace_writer_hook)(void);

/* One pass over every ring, then the live metrics' turn (tap.c): `force` (a flush or the close)
 * finishes every request whose own record came in. Returns the largest fraction (in 1/1024) of a ring
 * that was drained, so the writer can go round again at once when it is falling behind. */
static unsigned writer_cycle(sp_recorder *rec, bool force)
{
    check_deleted(rec);
    /* Heads are read before names: a record that uses a name id was published after the id was
     * interned, so every name a drained record uses is in the table by the time we look. */
    for (size_t i = 0; i < rec->nslots; i++) {
        sp_tbuf *tb = atomic_load_explicit(&rec->slots[i], memory_order_acquire); /* pairs with
            the registering thread's release: the buffer's fields are initialised */
        rec->gone[i] = SLOT_EMPTY;
        if (!tb)
            continue;
        /* acquire: pairs with the exiting thread's acq_rel exchange, so its last head is seen */
        rec->gone[i] = atomic_load_explicit(&tb->owner, memory_order_acquire) == TB_THREAD_GONE
                           ? SLOT_GONE : SLOT_LIVE;
        /* acquire: pairs with the producer's release of head, so the record bytes are visible */
        rec->heads[i] = atomic_load_explicit(&tb->head, memory_order_acquire);
    }
    emit_names(rec);
    emit_props(rec);
    block_flush(rec); /* the names go before the records that use them, which bypass the block */
    if (__builtin_expect(sp_trace_writer_hook != NULL, 0))
        sp_trace_writer_hook();
    unsigned most = 0;
    for (size_t i = 0; i < rec->nslots; i++) {
        /* Only the rings seen above: a thread may register into an empty slot meanwhile (a slot
         * its predecessor's retire emptied, whose heads[i] is still that thread's last head).
         * Draining it here would read a buffer we have no happens-before edge to, up to a head
         * that is not its own: unwritten ring bytes into the file, and its tail moved past its
         * head, after which every record of the new thread was dropped as buffer_full. It waits
         * for the next cycle instead. */
        if (rec->gone[i] == SLOT_EMPTY)
            continue;
        /* relaxed: the same buffer as above (only we clear a slot), ordered by that acquire load */
        sp_tbuf *tb = atomic_load_explicit(&rec->slots[i], memory_order_relaxed);
        uint64_t n = drain(rec, tb, rec->heads[i]);
        unsigned frac = (unsigned)((n * 1024) / tb->cap);
        if (frac > most)
            most = frac;
        if (rec->gone[i] == SLOT_GONE)
            retire(rec, i, tb);
    }
    emit_drops(rec, false);
    block_flush(rec);
    if (rec->tap)
        sp_tap_cycle(rec->tap, rec, sp_now_ns(), force);
    return most;
}

/* The writer's period adapts to how much there is to write (docs/recording.md, "When records reach
 * the file"). Each cycle costs about 30 us however little it drains (the futex wake and switch, a
 * writev per ring, the file's time stamps: docs/BENCHMARKS.md, "Recording overhead to 1%"), which at
 * 10 ms was most of the recorder's cost on a lightly loaded service. So while every ring is nearly
 * empty at each pass the period doubles, up to PERIOD_MAX_FACTOR times the base; it halves when a
 * cycle finds more, and drops to the base at once when something wakes the writer early: a flush,
 * the close, or a thread whose ring passed half full. A burst therefore never waits on the long
 * period to be drained (the half-full wake is what guards against drops, at any period); what the
 * long period costs is the freshness of the file (what a SIGKILL loses) and of the live metrics,
 * both bounded by the longest period. */
#define PERIOD_MAX_FACTOR 8u    /* the longest period: 8 x flush_interval_ms ... */
#define PERIOD_MAX_MS 1000u     /* ... but no longer than 1 s, unless the base already is */
#define QUIET_FRAC 8u           /* in 1/1024 of a ring: a cycle that drained under 1/128 of every
                                   ring; doubling the period then stays under 1/64 */
#define BUSY_FRAC 16u           /* a cycle that drained 1/64 of some ring or more */

unsigned sp_rec_max_period(unsigned base)
{
    uint64_t m = (uint64_t)base * PERIOD_MAX_FACTOR;
    if (m > PERIOD_MAX_MS)
        m = base > PERIOD_MAX_MS ? base : PERIOD_MAX_MS;
    return (unsigned)m;
}

unsigned sp_rec_next_period(unsigned cur, unsigned base, unsigned most, bool woken)
{
    unsigned max = sp_rec_max_period(base);
    if (woken || cur < base)
        return base;
    if (most >= BUSY_FRAC)
        return cur / 2 > base ? cur / 2 : base;
    if (most < QUIET_FRAC)
        return cur > max / 2 ? max : cur * 2;
    return cur > max ? max : cur;
}

static void *writer_main(void *arg)
{
    sp_recorder *rec = arg;
#ifdef __linux__
    /* a name tools can find it by (/proc/PID/task/TID/comm): the overhead benchmark times this
     * thread's CPU apart from the service's (bench/overhead.py) */
    prctl(PR_SET_NAME, "sp-writer", 0, 0, 0);
#endif
    const unsigned base = rec->opt.flush_interval_ms;
    unsigned period = base;
    bool woken = false;
    pthread_mutex_lock(&rec->mu);
    while (!rec->stop) {
        uint64_t req = rec->flush_req;
        bool flushing = req != rec->flush_done;
        pthread_mutex_unlock(&rec->mu);
        /* acquire: read before the cycle, so a wake that comes during it makes the sleep below
         * return at once */
        uint32_t seen = atomic_load_explicit(&rec->wake_seq, memory_order_acquire);
        unsigned most = writer_cycle(rec, flushing);
        atomic_fetch_add_explicit(&rec->writer_cycles, 1, memory_order_relaxed);
        pthread_mutex_lock(&rec->mu);
        rec->flush_done = req;
        pthread_cond_broadcast(&rec->flushed);
        if (rec->stop || rec->flush_req != req || most >= 256) {
            period = base; /* a quarter of some ring was waiting: go round again without sleeping */
            continue;
        }
        pthread_mutex_unlock(&rec->mu);
        period = sp_rec_next_period(period, base, most, woken);
        atomic_store_explicit(&rec->writer_period_ms, period, memory_order_relaxed);
        writer_sleep(rec, seen, period);
        /* relaxed: only whether it moved matters here; the cycle's own acquire load orders the rest */
        woken = atomic_load_explicit(&rec->wake_seq, memory_order_relaxed) != seen;
        if (woken)
            atomic_fetch_add_explicit(&rec->writer_early, 1, memory_order_relaxed);
        pthread_mutex_lock(&rec->mu);
    }
    pthread_mutex_unlock(&rec->mu);
    return NULL;
}

/* ---------------- the file ---------------- */

static sp_status write_file_start(sp_recorder *rec)
{
    unsigned char h[SP_NATIVE_FILE_HEADER];
    sp_native_file_header(h);
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
    if (n != (ssize_t)sizeof b || memcmp(b, SP_NATIVE_MAGIC, SP_NATIVE_MAGIC_BYTES) != 0 ||
        sp_rd32(b + SP_NATIVE_FILE_HEADER) != SP_NATIVE_BLOCK_MAGIC || sp_rec_type(sp_rd64(meta)) != SP_REC_META)
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
    atomic_store_explicit(&rec->writer_period_ms, rec->opt.flush_interval_ms, memory_order_relaxed);
    atomic_store_explicit(&rec->writer_cycles, 0, memory_order_relaxed);
    atomic_store_explicit(&rec->writer_early, 0, memory_order_relaxed);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&rec->writer, NULL, writer_main, rec);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        /* a thread limit (RLIMIT_NPROC, cgroup pids.max) or no memory for its stack */
        rec_fail("cannot record to %s: cannot start the writer thread: %s", rec->path, strerror(e));
        return SP_ERR_NOMEM;
    }
    rec->writer_running = true;
    return SP_OK;
}

sp_status sp_rec_file_open(sp_recorder *rec)
{
    rec->fd = open_owned(rec->path);
    if (rec->fd < 0)
        return SP_ERR_IO;
    sp_status st = write_file_start(rec);
    if (st == SP_OK)
        st = start_writer(rec);
    if (st) {
        close(rec->fd);
        rec->fd = -1;
    }
    return st;
}

sp_status sp_rec_file_finish(sp_recorder *rec)
{
    writer_cycle(rec, true);
    emit_drops(rec, true);
    unsigned char *p = block_reserve(rec, 8);
    sp_wr64(p, sp_rec_header(SP_REC_END, 8, 0));
    block_flush(rec);
    sp_status st = rec->write_status;
    if (close(rec->fd) != 0 && st == SP_OK) {
        /* some file systems (NFS, quotas) report a failed write only here */
        write_failed(rec, errno);
        st = SP_ERR_IO;
    }
    rec->fd = -1;
    return st;
}

void sp_rec_child_start_locked(sp_recorder *rec)
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
