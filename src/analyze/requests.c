/* The per-request rows a resampling of requests needs (sp_request_rows, kept with keep_requests):
 * each analysed request's stage times and padding time, copied out of the working context in
 * latency-rank order, so row k matches the detail's k-th smallest latency and the share windows'
 * ranks, and the rows' order of arrival (docs/analysis.md section 6a). */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

/* A row in arrival order: file, arrival, then the id text (a file never holds one id twice). */
typedef struct arrival_key {
    uint32_t file;
    uint64_t arrival;
    sp_ev_idkey id;          /* the id's text, or its number (events_int.h, reqid.c) */
    uint32_t row;
} arrival_key;

static int arrival_cmp(const void *a, const void *b)
{
    const arrival_key *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return sp_ev_id_key_cmp(&x->id, &y->id);
}

sp_status sp_ana_request_rows(sp_ana *a, sp_request_rows *rows)
{
    size_t n = a->n_reqs, ns = a->n_stages;
    if (n > UINT32_MAX)
        return SP_ERR_LIMIT;
    /* n x ns cannot overflow: the partition already holds a->times of that size */
    uint64_t *st = malloc((n && ns ? n * ns : 1) * sizeof *st);
    double *pad = malloc((n ? n : 1) * sizeof *pad);
    uint32_t *arr = malloc((n ? n : 1) * sizeof *arr);
    arrival_key *k = malloc((n ? n : 1) * sizeof *k);
    if (!st || !pad || !arr || !k) {
        free(st);
        free(pad);
        free(arr);
        free(k);
        return SP_ERR_NOMEM;
    }
    const sp_events *ev = a->ev;
    for (size_t r = 0; r < n; r++) {
        uint32_t p = a->by_latency[r];
        for (size_t s = 0; s < ns; s++)
            st[r * ns + s] = sp_ana_time(a, p, s);
        pad[r] = a->padding[p];
        const sp_ev_request *q = &ev->requests[a->reqs[p]];
        k[r] = (arrival_key){q->file, q->arrival_ns, sp_ev_id_key(ev, q), (uint32_t)r};
    }
    if (n)
        qsort(k, n, sizeof *k, arrival_cmp);
    for (size_t j = 0; j < n; j++)
        arr[j] = k[j].row;
    free(k);
    rows->n = n;
    rows->n_stages = ns;
    rows->stage_ns = st;
    rows->padding_ns = pad;
    rows->by_arrival = arr;
    return SP_OK;
}
