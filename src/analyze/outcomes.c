/* Outcomes (DESIGN 8a): every request counted by how it ended (ok, rejected, error, cancelled,
 * unfinished) and by HTTP status, each outcome with its own latency, the rejection rate, and the
 * batches left in flight by a trace the recorder did not close cleanly. The latency figures of the rest of the report cover only
 * the requests of the scope (sp_ana_in_scope); these cover all of them. Rules: docs/analysis.md,
 * "Outcomes". */
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/util_int.h"

/* Whether a request counts at all: it has a record, or the trace gave it an outcome without one (an
 * outcome record alone, or an unclean end). A reference without either was skipped (lenient) by
 * sp_ev_finish. */
static int counted(const sp_ev_request *q)
{
    return q->has_record || q->outcome != SP_OUTCOME_OK;
}

/* The request's own latency: *have set and the duration in *d, or *have 0 when its times do not give
 * one. SP_ERR_PARSE (with a message) for a recorded finished request outside the scope whose
 * [arrival, done] is not valid, unless lenient (then *skip is set). Requests in the scope were
 * checked by the partition. */
static sp_status latency_of(sp_ana *a, const sp_ev_request *q, int *have, uint64_t *d, int *skip, char *err,
                            size_t errlen)
{
    const sp_events *ev = a->ev;
    *have = 0;
    *skip = 0;
    if (q->outcome == SP_OUTCOME_UNFINISHED) {
        /* from its start to the end of its trace: how long it had run when the trace ended */
        uint64_t end = ev->files[q->file].last_ns;
        if (q->arrival_ns == SP_TIME_NONE || end == SP_TIME_NONE || end < q->arrival_ns)
            return SP_OK;
        *d = end - q->arrival_ns;
        *have = 1;
        return SP_OK;
    }
    if (!q->has_record)
        return SP_OK; /* an outcome record without a request record: no times */
    if (q->arrival_ns == SP_TIME_NONE || q->done_ns == SP_TIME_NONE || q->done_ns < q->arrival_ns) {
        if (sp_ana_in_scope(q, a->opt.outcomes))
            return SP_OK; /* the partition refused it, or skipped and counted it */
        if (!a->opt.lenient) {
            char idtext[SP_EV_ID_TEXT];
            sp_errf(err, errlen, "%s: request \"%s\" (%s) has no valid [arrival, done] (done before arrival or missing)",
                    sp_str_get(&ev->strings, ev->files[q->file].path), sp_ev_id_text(ev, q, idtext, NULL),
                    sp_outcome_str((sp_outcome)q->outcome));
            return SP_ERR_PARSE;
        }
        *skip = 1;
        return SP_OK;
    }
    uint64_t lo, hi;
    sp_ana_life_bounds(ev, q, &lo, &hi);
    *d = hi - lo;
    *have = 1;
    return SP_OK;
}

/* Adds one request of `status` to the report's status list (ascending; the list is short). */
static void count_status(sp_report *r, int32_t status)
{
    size_t i = 0;
    while (i < r->n_statuses && r->statuses[i].status < status)
        i++;
    if (i < r->n_statuses && r->statuses[i].status == status) {
        r->statuses[i].count++;
        return;
    }
    if (r->n_statuses == SP_REPORT_MAX_STATUSES) {
        r->statuses_unlisted++;
        return;
    }
    memmove(&r->statuses[i + 1], &r->statuses[i], (r->n_statuses - i) * sizeof r->statuses[0]);
    r->statuses[i] = (sp_status_row){status, 1};
    r->n_statuses++;
}

/* One pass over the requests: the counts, the statuses and each outcome's latencies (ok's, nearly all
 * of them, into one column sized by every request and filled from the front; each other outcome's into
 * a column of its own). Past a latency error (the first, in request order) the counts still go on and
 * no further latency is taken, as a count pass then a latency pass stopping there would leave them. */
sp_status sp_ana_outcomes(sp_ana *a, uint64_t *skipped, char *err, size_t errlen)
{
    const sp_events *ev = a->ev;
    sp_report *r = a->r;
    r->outcome_scope = a->opt.outcomes;
    uint64_t *col[SP_OUTCOME_COUNT] = {NULL};
    size_t fill[SP_OUTCOME_COUNT] = {0}, cap[SP_OUTCOME_COUNT] = {0};
    col[SP_OUTCOME_OK] = sp_ana_scratch_get(a->scratch, ev->n_requests * sizeof *col[SP_OUTCOME_OK]);
    if (!col[SP_OUTCOME_OK])
        return SP_ERR_NOMEM;
    cap[SP_OUTCOME_OK] = ev->n_requests;
    sp_status st = SP_OK, lst = SP_OK; /* st: out of memory; lst: the first latency error */
    for (size_t i = 0; i < ev->n_requests && !st; i++) {
        const sp_ev_request *q = &ev->requests[i];
        if (!counted(q))
            continue;
        r->outcomes[q->outcome].count++;
        r->requests_total++;
        if (q->outcome != SP_OUTCOME_OK && q->status > 0)
            count_status(r, q->status);
        if (lst)
            continue;
        uint64_t d = 0;
        int have, skip;
        lst = latency_of(a, q, &have, &d, &skip, err, errlen);
        *skipped += (uint64_t)skip;
        if (!have)
            continue;
        int o = q->outcome;
        if (fill[o] == cap[o]) { /* not ok: a column of its own, grown */
            size_t nc = cap[o] ? cap[o] * 2 : 64;
            uint64_t *c2 = realloc(col[o], nc * sizeof *c2);
            if (!c2) {
                st = SP_ERR_NOMEM;
                break;
            }
            col[o] = c2;
            cap[o] = nc;
        }
        col[o][fill[o]++] = d;
    }
    r->rejection_rate = r->requests_total
                            ? (double)r->outcomes[SP_OUTCOME_REJECTED].count / (double)r->requests_total
                            : 0.0;
    if (!st)
        st = lst;
    for (int o = 0; o < SP_OUTCOME_COUNT && !st; o++)
        st = sp_ana_quantiles_select_in(a->scratch, col[o], fill[o], &r->outcomes[o].latency);
    for (int o = 0; o < SP_OUTCOME_COUNT; o++)
        if (o != SP_OUTCOME_OK)
            free(col[o]);
    sp_ana_scratch_put(a->scratch, col[SP_OUTCOME_OK]);
    for (size_t f = 0; f < ev->n_files; f++)
        r->unfinished_batches += ev->files[f].unfinished_batches;
    return st;
}
