/* What the recorder's files share (src/trace: record.c the hot path, writer.c the writer thread and
 * the file, names.c names and properties, recorder.c open, close, flush and fork): the recorder's
 * state, the per-thread ring, and the calls between them. Calls go one way: recorder.c uses the
 * other three, record.c uses writer.c, and writer.c and names.c use none; the live metrics' tap
 * (tap_int.h) is fed and cycled by writer.c, opened, closed and rendered by recorder.c. */
#ifndef SERVPROF_RECORDER_INT_H
#define SERVPROF_RECORDER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "common/hmap.h"
#include "common/util_int.h"
#include "format/native_format.h"
#include "servprof/trace.h"

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
    _Atomic uint64_t slot_frees; /* slots the writer emptied (retired buffers), bumped under mu: a
                                    thread that found none free tries again once this moves */
    uint64_t *heads;             /* writer scratch: head snapshot per slot */
    unsigned char *gone;         /* writer scratch: what the cycle saw per slot (writer.c, SLOT_*) */
    /* drops no live buffer holds: no buffer, after close, write failed, added, retired buffers' */
    _Atomic uint64_t drops[SP_DROP_CAUSE_COUNT];
    uint64_t drops_written[SP_DROP_CAUSE_COUNT];
    bool drops_ever_written;
    /* names: ids 1.. index names[]; 0 is "none" */
    pthread_mutex_t names_mu;
    char **names;
    uint32_t nnames, cap_names;
    sp_hmap name_map;            /* hash of a name -> its id (names.c) */
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
    struct sp_tap *tap;          /* live metrics (tap_int.h); NULL unless opened with live_metrics.
                                    Fed and cycled by the writer; created by open, freed by close */
    /* the writer's adaptive period (writer.c, sp_rec_next_period): written by the writer only, read
     * relaxed by tests and benchmarks */
    _Atomic unsigned writer_period_ms; /* the sleep it last chose */
    _Atomic uint64_t writer_cycles;    /* cycles run */
    _Atomic uint64_t writer_early;     /* sleeps cut short by a wake (flush, close, a ring past half) */
};

/* ---- small helpers several files use ---- */

/* Wakes the writer thread (flush, close, a ring passing its high-water mark). */
static inline void writer_kick(sp_recorder *rec)
{
    /* release: what the waker did before (published records, a flush request) is visible to the
     * writer once it sees the new value */
    atomic_fetch_add_explicit(&rec->wake_seq, 1, memory_order_release);
#ifdef __linux__
    syscall(SYS_futex, &rec->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#endif
}

static inline void free_tbuf(sp_tbuf *tb)
{
    free(tb->ring);
    free(tb);
}

/* ---- record.c: the calling thread's buffer ---- */

/* Creates the key whose destructor gives up an exiting thread's buffer. Once per process; false when
 * it could not be created (then no thread can record). */
bool sp_rec_threads_init(void);

/* The calling thread's current buffer (NULL: none). */
sp_tbuf *sp_rec_thread_buffer(void);

/* The calling thread lets go of its current buffer without freeing it (the caller frees it). */
void sp_rec_thread_forget(void);

/* Marks the calling thread as inside a library call that takes the recorder's locks (mu, names_mu,
 * the error message's), until sp_rec_api_leave(the returned value). A record made meanwhile from a
 * signal handler on this thread that needs the slow path (the thread's first record, or its first
 * after an open, close or fork) would take a lock its own thread holds and hang: it is dropped as
 * reentrant instead, as a handler that interrupts the slow path itself is. The fast path takes no
 * lock and is unaffected. */
int sp_rec_api_enter(void);
void sp_rec_api_leave(int prev);

/* ---- writer.c: the file, its blocks, the writer thread ---- */

/* Opens rec->path (locked, truncated), writes the file header and meta record, and starts the writer
 * thread. On failure the file is closed again and the reason recorded (sp_recorder_last_error). */
sp_status sp_rec_file_open(sp_recorder *rec);

/* After the writer thread has stopped and no record is in flight: drains every ring one last time,
 * writes the final drop counts and the end record, and closes the file. Returns the write status. */
sp_status sp_rec_file_finish(sp_recorder *rec);

/* A forked child's first record: open "<path>.<pid>" and start a writer. Called with rec->mu held. */
void sp_rec_child_start_locked(sp_recorder *rec);

/* The writer's adaptive period (docs/recording.md, "When records reach the file"): the period to sleep after a cycle, given the period it slept before (`cur`), the base period
 * (flush_interval_ms), the largest fraction of a ring the cycle drained (`most`, in 1/1024) and
 * whether the sleep before it was cut short by a wake (`woken`). A pure function, for the tests. */
unsigned sp_rec_next_period(unsigned cur, unsigned base, unsigned most, bool woken);

/* The longest period sp_rec_next_period lengthens a base period to. */
unsigned sp_rec_max_period(unsigned base);

/* Drop counts by cause: the recorder's own plus every live buffer's. Called with rec->mu held. */
void sp_rec_drop_totals(sp_recorder *rec, uint64_t out[SP_DROP_CAUSE_COUNT]);

/* sp_recorder_last_error's work (recorder.c's public call marks the thread, then calls it). */
const char *sp_rec_last_error(char *buf, size_t buflen);

/* The recorder's latest failure message (sp_recorder_last_error): cleared when a recorder opens; its
 * lock is held across fork (taken last, after mu and names_mu) and released in the child. */
void sp_rec_error_clear(void);
void sp_rec_error_lock(void);
void sp_rec_error_unlock(void);

/* ---- names.c: interned names and trace properties (under names_mu) ---- */

/* Sets up the name table with the known stages (ids 1..3). */
sp_status sp_rec_names_init(sp_recorder *rec);

/* sp_recorder_intern's and sp_recorder_set_property's work, under names_mu (recorder.c's public
 * calls mark the thread, then call these). */
sp_name_id sp_rec_intern(sp_recorder *rec, const char *name);
sp_status sp_rec_set_property(sp_recorder *rec, const char *key, const char *value);

/* Frees the name table and the properties. */
void sp_rec_names_free(sp_recorder *rec);
void sp_rec_props_free(sp_recorder *rec);

#endif
