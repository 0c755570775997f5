/* The stand-in CUDA module's device work in a loaded trace, tallied for the two stand-in service tests
 * (test_serve_cuda_standin.c: encoder batches; test_gen_cuda_standin.c: generation steps). */
#ifndef SERVPROF_TEST_STANDIN_TALLY_H
#define SERVPROF_TEST_STANDIN_TALLY_H

#include <stddef.h>
#include <string.h>

#include "model/events_int.h"

typedef struct standin_tally {
    size_t kern, h2d, d2h; /* activity tied to a batch, by kind */
    size_t untied;         /* activity tied to no batch */
    size_t outside;        /* tied activity outside its batch's window */
    size_t cpu_ops;        /* kernels other than the stand-in's own (standin_pool): the CPU path's ops */
} standin_tally;

static inline standin_tally standin_tally_of(const sp_events *ev)
{
    standin_tally t = {0};
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *a = &ev->acts[i];
        const char *nm = sp_ev_act_name(a) != SP_EV_NONE ? sp_str_get(&ev->strings, sp_ev_act_name(a)) : NULL;
        if (a->kind == SP_ACT_KERNEL && nm && strcmp(nm, "standin_pool") != 0)
            t.cpu_ops++;
        if (a->batch == SP_EV_NONE) {
            t.untied++;
            continue;
        }
        const sp_ev_batch *b = &ev->batches[a->batch];
        t.outside += a->start_ns < b->start_ns || a->end_ns > b->end_ns;
        t.kern += a->kind == SP_ACT_KERNEL;
        t.h2d += a->kind == SP_ACT_H2D;
        t.d2h += a->kind == SP_ACT_D2H;
    }
    return t;
}

#endif
