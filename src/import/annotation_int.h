/* Serving annotations resolved into the event model: one set that turns parsed ranges (the parser
 * is common/annotation_int.h) into requests, batches and stage spans, shared by the importers that
 * read named ranges (Kineto record_function ranges, Nsight NVTX ranges; docs/annotations.md). */
#ifndef SERVPROF_ANNOTATION_INT_H
#define SERVPROF_ANNOTATION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/annotation_int.h"

/* ---------- resolving ranges into the event model (annotation_set.c) ---------- */

struct sp_events;

/* A range kept for resolution. */
typedef struct sp_annot {
    int64_t start, end;
    uint64_t thread;     /* ranges enclose each other only on one thread */
    uint8_t role;
    bool gpu;            /* a device-side copy of a range (Kineto gpu_user_annotation) */
    bool has_id;
    int64_t batch_id;
    uint32_t id, stage;  /* sp_str ids, SP_EV_NONE when absent */
    uint32_t first_id, nids;   /* member/target ids in sp_annot_set.ids */
    int64_t eff, pad, tokens;
} sp_annot;

typedef struct sp_annot_set {
    sp_annot *a;
    size_t n, cap;
    uint32_t *ids;       /* sp_str */
    size_t n_ids, cap_ids;
    int64_t *batch_of;   /* after resolve: per range, its batch index in the model or -1 */
} sp_annot_set;

/* Keeps one parsed range (interning its strings). SP_ERR_PARSE with *why for a batch id outside
 * int64; SP_ERR_NOMEM / SP_ERR_LIMIT from the model. */
sp_status sp_annot_set_add(sp_annot_set *s, struct sp_events *ev, const sp_annot_name *nm, int64_t start,
                           int64_t end, uint64_t thread, bool gpu, const char **why);
/* Sorts the ranges and writes requests, batches (ids, or 1, 2, ... for unnamed ones) and stage spans
 * of file `file` into the model. Times must be final (ns, >= 0). */
sp_status sp_annot_set_resolve(sp_annot_set *s, struct sp_events *ev, uint32_t file);
/* Requests of `file` named only by stages or batches live from the earliest start to the latest end
 * of what names them. r0 and s0: ev->n_requests and ev->n_spans before the file was read. Call after
 * batch windows are final. */
void sp_annot_fill_requests(struct sp_events *ev, uint32_t file, size_t r0, size_t s0);
/* After resolve: the innermost CPU range of `role` on `thread` that contains t, or NULL. */
const sp_annot *sp_annot_set_enclosing(const sp_annot_set *s, uint8_t role, uint64_t thread, int64_t t);
void sp_annot_set_free(sp_annot_set *s);

#endif
