/* Internal interface between the loader (import.c: opening, gzip, format detection) and the
 * importers (one file per foreign format). Importers read their input as a stream through sp_input,
 * so memory stays bounded by what they keep, never by the file's size. */
#ifndef SERVPROF_IMPORT_INT_H
#define SERVPROF_IMPORT_INT_H

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

/* A memory stream (tests, and importers that parse an embedded document as a stream): `data` is
 * borrowed until sp_input_close. Each read hands out at most `max_read` bytes (0: no limit), so tests
 * can force tokens across chunk boundaries. No gzip detection. `*out` is written only on SP_OK. */
sp_status sp_input_open_mem(const void *data, size_t len, size_t max_read, sp_input **out);
/* Frees a stream from sp_input_open_mem. NULL is fine. */
void sp_input_close(sp_input *in);

/* Everything an importer needs. */
typedef struct sp_import_ctx {
    struct sp_events *ev;
    uint32_t file;              /* index of this file in ev->files */
    const char *name;           /* the file name, for messages */
    sp_input *in;
    const sp_load_options *opt;
    char *err;                  /* message buffer: "<name>:<line>: <what>" or "<name>: byte N: ..." */
    size_t errlen;
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
sp_status sp_import_nsys(sp_import_ctx *ctx);   /* needs a real file: ctx->name is its path */
sp_status sp_import_triton(sp_import_ctx *ctx);
sp_status sp_import_otlp(sp_import_ctx *ctx);

/* Writes "NAME:LINE:COL: <message>" into the context's error buffer and returns `st`: the one error
 * format of the JSON-based importers (Triton, OTLP). */
sp_status sp_import_fail_at(sp_import_ctx *ctx, uint32_t line, uint32_t col, sp_status st,
                            const char *fmt, ...) SP_PRINTF(5, 6);

/* Detects the format from the first bytes of (decompressed) content. */
sp_format sp_detect_format(const unsigned char *head, size_t len);

#endif
