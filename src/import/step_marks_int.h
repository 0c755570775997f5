/* Step marks shared by the importers that read named host ranges (Kineto record_function ranges,
 * Nsight NVTX ranges): candidates are collected during the pass, then the ranges that mark forward
 * passes or steps are chosen (docs/analysis.md section 4, "Steps"; docs/kineto.md, docs/nsys.md). */
#ifndef SERVPROF_STEP_MARKS_INT_H
#define SERVPROF_STEP_MARKS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/events_int.h"

/* A candidate range on one host thread, times in the importer's working unit (ns, possibly before a
 * final offset: the importer shifts them itself). */
typedef struct sp_mark_cand {
    int64_t start, end;
    uint64_t thread;            /* any value that tells threads apart */
    sp_str name;
    uint8_t kind;               /* sp_mark_kind */
} sp_mark_cand;

typedef struct sp_mark_cands {
    sp_mark_cand *v;
    size_t n, cap;
} sp_mark_cands;

/* Appends a candidate. SP_ERR_NOMEM / SP_ERR_LIMIT. */
sp_status sp_mark_cands_add(sp_mark_cands *c, int64_t start, int64_t end, uint64_t thread, sp_str name,
                            uint8_t kind);

/* Adds the chosen candidates to `ev` as marks of `file`: every SP_MARK_PROFILER_STEP candidate when
 * there is one (torch.profiler's steps never nest), otherwise the candidates that are top-level on
 * their thread (inside no earlier-starting candidate of the same thread). A candidate ending before it
 * starts is kept with end = start; candidates before time 0 are the importer's error to report
 * first. Reorders `c`. SP_ERR_NOMEM / SP_ERR_LIMIT. */
sp_status sp_mark_cands_commit(sp_mark_cands *c, struct sp_events *ev, uint32_t file);

void sp_mark_cands_free(sp_mark_cands *c);

/* Names that are not forward passes: PyTorch's own data-loading and optimizer ranges
 * ("enumerate(DataLoader)...", "Optimizer.step#..."), and C++-qualified operator names ("aten::mm",
 * what torch.autograd.profiler.emit_nvtx writes for every operator). */
bool sp_mark_name_excluded(const char *name, size_t n);

#endif
