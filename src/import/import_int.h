/* Internal interface between the loader (import.c: opening, format detection, dispatch), the
 * importers (one file per format) and their shared helpers (input.c: the stream, gzip, the error
 * format). Importers read their input as a stream through sp_input, so memory stays bounded by what
 * they keep, never by the file's size. Calls run one way: import.c -> importers -> input.c; the
 * importers fill the model through its builder interface (model/events_int.h). */
#ifndef SERVPROF_IMPORT_INT_H
#define SERVPROF_IMPORT_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util_int.h"
#include "model/events_int.h"

/* A byte stream: a plain file, a gzip file (decompressed on the fly) or a memory buffer. */
typedef struct sp_input sp_input;

/* Reads up to `n` bytes into `buf`. Returns the count (0 at end of input) or -1 on error (the message
 * is then in sp_input_error). */
ssize_t sp_input_read(sp_input *in, void *buf, size_t n);
/* Why the last read failed (e.g. "corrupt gzip data at compressed byte 1234"). */
const char *sp_input_error(const sp_input *in);
/* Uncompressed bytes handed out so far. */
uint64_t sp_input_offset(const sp_input *in);

/* A memory stream (the loader, tests, and importers that parse an embedded document as a stream):
 * `data` is borrowed until sp_input_close. Each read hands out at most `max_read` bytes (0: no limit),
 * so tests can force tokens across chunk boundaries. Plain bytes unless sp_input_start finds the gzip
 * magic (the loader calls it; tests and embedded documents do not). `*out` is written only on SP_OK. */
sp_status sp_input_open_mem(const void *data, size_t len, size_t max_read, sp_input **out);
/* Ends a stream: the gzip decoder, the file descriptor of sp_input_open_fd, the stream itself. NULL is
 * fine. */
void sp_input_close(sp_input *in);

/* ---- the loader's side of a stream (import.c) ---- */

/* A stream on the open file `fd`, which it then owns: sp_input_close closes it, and so does this call
 * when it fails (SP_ERR_NOMEM). `*out` is written only on SP_OK. */
sp_status sp_input_open_fd(int fd, sp_input **out);
/* Starts a stream before its first read: decompresses it from here on when it starts with the gzip
 * magic, and peeks the first (decompressed) bytes for format detection, which reads then hand out
 * first. A failure writes "NAME: why" to `err`: SP_ERR_IO (read failed), SP_ERR_PARSE (corrupt gzip),
 * SP_ERR_NOMEM. */
sp_status sp_input_start(sp_input *in, const char *name, char *err, size_t errlen);
/* The bytes sp_input_start peeked (at most 4096; `*len` 0 for an empty input). */
const unsigned char *sp_input_head(const sp_input *in, size_t *len);
/* The source's size in bytes where it is known before reading: an uncompressed regular file or a memory
 * buffer; 0 otherwise (gzip, a pipe, a terminal). */
uint64_t sp_input_size(const sp_input *in);
/* A second stream over the same source, reading it from byte `offset` on without disturbing `in`
 * (pread on the same descriptor, which stays `in`'s; or the memory buffer, with `in`'s read limit), for
 * an importer that parses parts of a file on several threads. Safe to read from another thread than
 * `in`'s. SP_ERR_UNSUPPORTED where sp_input_size is 0 (gzip, pipes); `*out` is written only on SP_OK. */
sp_status sp_input_open_at(const sp_input *in, uint64_t offset, sp_input **out);
/* Whether the stream is an uncompressed file on disk (an Nsight Systems export must be one). */
bool sp_input_is_plain_file(const sp_input *in);
/* Whether the stream is gzip data decompressed on the fly. */
bool sp_input_is_gzip(const sp_input *in);
/* Reports the read's progress through `fn` (sp_read_progress_fn in events.h): about every
 * SP_READ_PROGRESS_INTERVAL_S while reading, counting the bytes read from the file or buffer
 * (compressed bytes of a gzip stream) against `total` (0: unknown). `name` is borrowed until the
 * stream is closed. Call before sp_input_start, so the start's bytes count too. */
void sp_input_set_progress(sp_input *in, sp_read_progress_fn fn, void *user, const char *name, uint64_t total);
/* For an importer that read part of the source through other streams (sp_input_open_at): the source's
 * bytes up to `upto` count as read, for progress (never fewer than were). */
void sp_input_note_read(sp_input *in, uint64_t upto);
/* The last progress call (done = 1), after a successful import. Nothing without a progress function. */
void sp_input_progress_done(sp_input *in);

/* Everything an importer needs. */
typedef struct sp_import_ctx {
    struct sp_events *ev;
    uint32_t file;              /* index of this file in ev->files */
    const char *name;           /* the file name, for messages */
    sp_input *in;
    const sp_load_options *opt;
    char *err;                  /* message buffer: "<name>:<line>: <what>" or "<name>: byte N: ..." */
    size_t errlen;
    bool skippable;             /* set by the importer when it fails on a record that lenient would
                                   have skipped and counted (sp_events_load_skippable) */
} sp_import_ctx;

typedef sp_status (*sp_import_fn)(sp_import_ctx *ctx);

sp_status sp_import_native(sp_import_ctx *ctx);
/* How the native importer uses threads: SP_NATIVE_AUTO (a reader thread when the machine has a core
 * to spare, by its load average), or forced, for tests of both paths. Results never depend on it. */
#define SP_NATIVE_AUTO 0
#define SP_NATIVE_SERIAL 1
#define SP_NATIVE_PIPELINED 2
void sp_import_native_set_mode(int mode);
sp_status sp_import_jsonl(sp_import_ctx *ctx);
sp_status sp_import_kineto(sp_import_ctx *ctx);
/* How the Kineto importer uses threads: SP_KINETO_AUTO (the traceEvents array of a plain file of 16 MB
 * or more in two halves on two threads, docs/kineto.md), or forced, for tests of both paths at any
 * size; `split_at` (0: the middle) is the byte at or after which the second half starts (tests try
 * every one). Results never depend on it. sp_import_kineto_parallel_runs counts the imports that
 * did use a second thread (tests check that the path they test was taken). Not thread-safe: set it
 * before loading. */
#define SP_KINETO_AUTO 0
#define SP_KINETO_SERIAL 1
#define SP_KINETO_PARALLEL 2
void sp_import_kineto_set_mode(int mode, uint64_t split_at);
unsigned long sp_import_kineto_parallel_runs(void);
/* The Kineto importer's fast path for ordinary events (kineto_fast.c, docs/kineto.md "Reading fast"), for
 * tests: `on` false reads every event with the lexer (the reference). `fn` (may be NULL) sees every
 * event as read, before it is handled, from whichever thread reads it (with two threads, from both at
 * once: it must lock), with the fields that mean something (the rest zero) and whether the fast path
 * read it. sp_import_kineto_fast_events counts the events the fast path has read so far. Results
 * never depend on it. Not thread-safe: set it before loading. */
typedef struct sp_kineto_event_view {
    uint64_t offset;             /* the event's '{' */
    uint32_t line, column, depth;
    bool fast;
    char ph;
    uint8_t cat;
    bool has_ts, has_dur, name_cut, pid_int, tid_int;
    bool has_stream, has_device, has_corr, has_bytes;
    int64_t ts_ns, dur_ns;
    double ts_d, dur_d;          /* --hta-compat only (0 otherwise) */
    int64_t pid, tid, stream, device;
    uint64_t thread, corr, bytes;
    char copy_kind[8];
    const char *name;            /* borrowed for the call */
    size_t name_len;
} sp_kineto_event_view;
typedef void (*sp_kineto_observer)(void *arg, const sp_kineto_event_view *v);
void sp_import_kineto_set_fast(bool on, sp_kineto_observer fn, void *arg);
unsigned long sp_import_kineto_fast_events(void);
sp_status sp_import_nsys(sp_import_ctx *ctx);   /* needs a real file: ctx->name is its path */
sp_status sp_import_triton(sp_import_ctx *ctx);
sp_status sp_import_otlp(sp_import_ctx *ctx);

/* Writes "NAME<where>: <message>" into the context's error buffer and returns `st`: the one writer
 * of every importer's messages, each importer saying where in its own terms (`where` is short: "" or
 * ":12", ": line 3, column 7 (byte 80)", ": table T, row N"). */
sp_status sp_import_vfail(sp_import_ctx *ctx, sp_status st, const char *where, const char *fmt, va_list ap);
/* Writes "NAME:LINE:COL: <message>" (sp_import_vfail) and returns `st`: the error format of the
 * JSON-based importers (Triton, OTLP). */
sp_status sp_import_fail_at(sp_import_ctx *ctx, uint32_t line, uint32_t col, sp_status st,
                            const char *fmt, ...) SP_PRINTF(5, 6);

/* Whether a `model_stages` value (servprof export's resource attribute servprof.model_stages, the
 * JSONL meta key model_stages: stage names separated by commas) names "inference", the stage that is
 * an engine's model time whole (sp_ev_file.model_inference); other names are passed over (a later
 * version may name more). */
bool sp_import_model_stages_inference(const char *s, size_t n);

/* Detects the format from the first bytes of (decompressed) content. */
sp_format sp_detect_format(const unsigned char *head, size_t len);

/* The sentence to add when `name` is a file users give where its export belongs (an Nsight Systems
 * report, .nsys-rep or .qdrep, whose data servprof reads from `nsys export --type sqlite`), or "". */
const char *sp_import_export_hint(const char *name);

#endif
