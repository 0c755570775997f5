/* The per-request rows a resampling of requests needs (sp_request_rows, kept with keep_requests):
 * each analysed request's stage times and padding time, copied out of the working context in
 * latency-rank order, so row k matches the detail's k-th smallest latency and the share windows'
 * ranks (docs/analysis.md section 6a). */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

sp_status sp_ana_request_rows(sp_ana *a, sp_request_rows *rows)
{
    size_t n = a->n_reqs, ns = a->n_stages;
    /* n x ns cannot overflow: the partition already holds a->times of that size */
    uint64_t *st = malloc((n && ns ? n * ns : 1) * sizeof *st);
    double *pad = malloc((n ? n : 1) * sizeof *pad);
    if (!st || !pad) {
        free(st);
        free(pad);
        return SP_ERR_NOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        uint32_t p = a->by_latency[k];
        memcpy(st + k * ns, a->times + (size_t)p * ns, ns * sizeof *st);
        pad[k] = a->padding[p];
    }
    rows->n = n;
    rows->n_stages = ns;
    rows->stage_ns = st;
    rows->padding_ns = pad;
    return SP_OK;
}
