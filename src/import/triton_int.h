/* The Triton trace model both Triton readers share: Triton's own trace file (triton.c, --trace-config
 * mode=triton) and its OpenTelemetry mode as an OTLP/JSON file (otlp.c, --trace-config
 * mode=opentelemetry). Each reader fills a set of traces (one per Triton trace id: model, version,
 * parent, timestamps); sp_triton_build checks them and turns them into requests, stages and batches
 * the same way for both (docs/triton.md). */
#ifndef SP_IMPORT_TRITON_INT_H
#define SP_IMPORT_TRITON_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "import/import_int.h"

#define SP_TRITON_MAX_TRACES (16u << 20)   /* hard cap on trace ids in one file */
#define SP_TRITON_MAX_DEPTH 64             /* ensemble nesting followed through parent_id */
#define SP_TRITON_NAME_MAX 1024            /* bytes of a model name or version */

/* The timestamps read; others (custom or future ones) are ignored. */
enum sp_triton_ts {
    SP_TRITON_REQUEST_START, SP_TRITON_QUEUE_START, SP_TRITON_COMPUTE_START, SP_TRITON_COMPUTE_INPUT_END,
    SP_TRITON_COMPUTE_OUTPUT_START, SP_TRITON_COMPUTE_END, SP_TRITON_REQUEST_END, SP_TRITON_HTTP_RECV_START,
    SP_TRITON_HTTP_RECV_END, SP_TRITON_HTTP_SEND_START, SP_TRITON_HTTP_SEND_END, SP_TRITON_GRPC_RECV_START,
    SP_TRITON_GRPC_RECV_END, SP_TRITON_GRPC_SEND_START, SP_TRITON_GRPC_SEND_END, SP_TRITON_TS_COUNT
};

/* The timestamp's name as Triton writes it ("REQUEST_START"). */
const char *sp_triton_ts_name(int which);

/* The timestamp named by `s` (exactly, case-sensitive), or -1 for a name not read. */
int sp_triton_ts_find(const char *s, size_t len);

/* The first pair of timestamps out of order in ts[SP_TRITON_TS_COUNT] (SP_TIME_NONE: absent): returns
 * true and sets *first (the one that should come first) and *second, or returns false. */
bool sp_triton_ts_misordered(const uint64_t *ts, int *first, int *second);

/* One trace id's facts, merged from all records carrying that id. */
typedef struct sp_triton_trace {
    int64_t id;
    int64_t parent;          /* 0: none */
    sp_str model, version;   /* SP_EV_NONE until a record names them */
    sp_str label;            /* how messages name it; SP_EV_NONE: "trace id <id>" */
    uint64_t ts[SP_TRITON_TS_COUNT];   /* SP_TIME_NONE: absent */
    uint64_t span_start, span_end;     /* a root's arrival and done where no timestamp gives them
                                          (OTLP: the top-level span's times); SP_TIME_NONE in triton.c */
    uint32_t line, column;   /* where the id was first seen */
    uint32_t req;            /* request index (roots), after the model pass */
    bool bad;                /* lenient: skipped */
    bool any_ts;             /* a record of this id had a timestamp, known or not */
} sp_triton_trace;

/* A reader's request naming: creates (or finds) root trace r's request, *req its index. */
typedef sp_status (*sp_triton_request_fn)(void *arg, const sp_triton_trace *r, uint32_t *req);

typedef struct sp_triton_set {
    sp_import_ctx *ctx;
    sp_triton_trace *tr;
    size_t n, cap;
    sp_hmap ids;             /* trace id -> index into tr */
    bool lenient;
    const char *skipped_what;   /* for the lenient warning: "Triton trace record" */
    /* the first timestamp name not read, in lower case (an old release's), for a trace with no start */
    char unknown_ts[48];
    /* NULL: a root's request is named by its trace id in decimal (triton.c) */
    sp_triton_request_fn request_ref;
    void *request_arg;
    int64_t first_batch_id;  /* batch ids count from here (1 in triton.c) */
} sp_triton_set;

/* Lenient: a malformed record is counted and skipped (SP_OK); strict: the error stands, marked
 * skippable. Out of memory, limits and I/O errors always stand. */
sp_status sp_triton_skip_or_fail(sp_triton_set *s, sp_status st);

/* The trace with `id`, or NULL. */
sp_triton_trace *sp_triton_find(sp_triton_set *s, int64_t id);

/* Finds or creates the trace with `id`; a new one is first seen at line:column. */
sp_status sp_triton_trace_ref(sp_triton_set *s, int64_t id, uint32_t line, uint32_t column, sp_triton_trace **out);

/* Checks every trace and builds the model: a request per root trace, stages receive / queue / send,
 * batches regrouped from equal compute windows of one model and version, composing models attached
 * to their root (docs/triton.md). */
sp_status sp_triton_build(sp_triton_set *s);

/* Frees the set's own memory (not the events it built). */
void sp_triton_set_free(sp_triton_set *s);

#endif
