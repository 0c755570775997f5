/* Resolves parsed serving annotations into the event model, the same way for every importer that
 * reads named ranges (Kineto, Nsight Systems): requests from request ranges, batches from batch
 * ranges, stage spans charged to the named requests, else to the enclosing batch's members, else to
 * the enclosing request (docs/annotations.md). */
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "import/annotation_int.h"
#include "model/events_int.h"

/* Look-back bound when searching for an enclosing range (nesting deeper than this is not looked at). */
#define SP_ANNOT_MAX_NEST 64

sp_status sp_annot_set_add(sp_annot_set *s, struct sp_events *ev, const sp_annot_name *nm, int64_t start,
                           int64_t end, uint64_t thread, bool gpu, const char **why)
{
    if (nm->role == SP_ANNOT_BATCH && nm->has_id && nm->batch_id_big) {
        *why = "a batch id must fit a signed 64-bit integer";
        return SP_ERR_PARSE;
    }
    sp_status st = SP_GROW(s->a, s->cap, s->n + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    sp_annot a;
    memset(&a, 0, sizeof a);
    a.start = start;
    a.end = end;
    a.thread = thread;
    a.role = nm->role;
    a.gpu = gpu;
    a.has_id = nm->has_id;
    a.batch_id = nm->batch_id;
    a.id = a.stage = SP_EV_NONE;
    a.eff = nm->eff;
    a.pad = nm->pad;
    a.tokens = nm->tokens;
    if (nm->role == SP_ANNOT_STAGE && (st = sp_str_intern(&ev->strings, nm->stage, nm->stage_len, &a.stage)))
        return st;
    if (nm->has_id && nm->role != SP_ANNOT_BATCH && (st = sp_str_intern(&ev->strings, nm->id, nm->id_len, &a.id)))
        return st;
    a.first_id = (uint32_t)s->n_ids;
    size_t pos = 0, len;
    const char *id;
    while (sp_annot_member_next(nm, &pos, &id, &len)) {
        if ((st = SP_GROW(s->ids, s->cap_ids, s->n_ids + 1, SP_EV_MAX_RECORDS)) ||
            (st = sp_str_intern(&ev->strings, id, len, &s->ids[s->n_ids]))) {
            s->n_ids = a.first_id;
            return st;
        }
        s->n_ids++;
        a.nids++;
    }
    s->a[s->n++] = a;
    return SP_OK;
}

static int annot_cmp(const void *p, const void *q)
{
    const sp_annot *x = p, *y = q;
    if (x->role != y->role)
        return x->role < y->role ? -1 : 1;
    if (x->gpu != y->gpu)
        return x->gpu ? 1 : -1;
    if (x->thread != y->thread)
        return x->thread < y->thread ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->end < y->end) - (x->end > y->end);   /* outer first */
}

/* Ranges are sorted by (role, gpu, thread, start). */
const sp_annot *sp_annot_set_enclosing(const sp_annot_set *s, uint8_t role, uint64_t thread, int64_t t)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {   /* first element > (role, cpu, thread, t) */
        size_t mid = lo + (hi - lo) / 2;
        const sp_annot *m = &s->a[mid];
        bool le = m->role < role || (m->role == role && (!m->gpu && (m->thread < thread ||
                  (m->thread == thread && m->start <= t))));
        if (le)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int look = 0; lo > 0 && look < SP_ANNOT_MAX_NEST; look++) {
        const sp_annot *m = &s->a[--lo];
        if (m->role != role || m->gpu || m->thread != thread)
            return NULL;
        if (m->end >= t)
            return m;
    }
    return NULL;
}

static sp_status add_span_str(struct sp_events *ev, uint32_t file, uint32_t id, const sp_annot *a)
{
    const char *ids = sp_str_get(&ev->strings, id);
    uint32_t r;
    sp_status st = sp_ev_request_ref(ev, file, ids, strlen(ids), &r);
    return st ? st : sp_ev_add_span(ev, r, a->stage, (uint64_t)a->start, (uint64_t)a->end);
}

sp_status sp_annot_set_resolve(sp_annot_set *s, struct sp_events *ev, uint32_t file)
{
    sp_status st = SP_OK;
    if (s->n)   /* qsort's array must not be NULL, even empty (UBSan) */
        qsort(s->a, s->n, sizeof *s->a, annot_cmp);
    free(s->batch_of);
    s->batch_of = malloc((s->n ? s->n : 1) * sizeof *s->batch_of);
    if (!s->batch_of)
        return SP_ERR_NOMEM;
    /* requests: the union of their ranges' windows */
    for (size_t i = 0; i < s->n; i++) {
        const sp_annot *a = &s->a[i];
        if (a->role != SP_ANNOT_REQUEST || a->gpu)
            continue;
        const char *id = sp_str_get(&ev->strings, a->id);
        uint32_t r;
        if ((st = sp_ev_request_ref(ev, file, id, strlen(id), &r)))
            return st;
        sp_ev_request *q = &ev->requests[r];
        if (!q->has_record || (uint64_t)a->start < q->arrival_ns)
            q->arrival_ns = (uint64_t)a->start;
        if (!q->has_record || (uint64_t)a->end > q->done_ns)
            q->done_ns = (uint64_t)a->end;
        if (a->tokens >= 0 && (st = sp_ev_req_set_input_tokens(ev, r, a->tokens)))
            return st;
        q->has_record = true;
    }
    /* batches: explicit ids, or 1, 2, ... in (thread, start) order for unnamed ones */
    int64_t next_auto = 1;
    uint32_t *members = NULL;
    size_t cap_members = 0;
    for (size_t i = 0; i < s->n; i++) {
        const sp_annot *a = &s->a[i];
        s->batch_of[i] = -1;
        if (a->role != SP_ANNOT_BATCH)
            continue;
        int64_t id;
        if (a->has_id)
            id = a->batch_id;
        else if (a->gpu)
            continue;   /* a device-side copy without an id cannot be matched to its batch */
        else
            id = next_auto++;
        uint32_t bi;
        if ((st = sp_ev_batch_ref(ev, file, id, &bi)))
            goto out;
        s->batch_of[i] = bi;
        sp_ev_batch *b = &ev->batches[bi];
        if (!b->has_record || (uint64_t)a->start < b->start_ns)
            b->start_ns = (uint64_t)a->start;
        if (!b->has_record || (uint64_t)a->end > b->end_ns)
            b->end_ns = (uint64_t)a->end;
        b->has_record = true;
        if (a->eff >= 0)
            b->effective_tokens = a->eff;
        if (a->pad >= 0)
            b->padded_tokens = a->pad;
        if (a->nids && !b->nmembers) {
            if ((st = SP_GROW(members, cap_members, a->nids, SP_ANNOT_MAX_MEMBERS)))
                goto out;
            for (uint32_t m = 0; m < a->nids; m++) {
                const char *id_s = sp_str_get(&ev->strings, s->ids[a->first_id + m]);
                if ((st = sp_ev_request_ref(ev, file, id_s, strlen(id_s), &members[m])))
                    goto out;
            }
            if ((st = sp_ev_batch_set_members(ev, bi, members, a->nids)))
                goto out;
        }
    }
    /* stages: named requests, else the members of the enclosing batch, else the enclosing request */
    for (size_t i = 0; i < s->n; i++) {
        const sp_annot *a = &s->a[i];
        if (a->role != SP_ANNOT_STAGE || a->gpu)
            continue;
        size_t nt = 0;
        if (a->id != SP_EV_NONE) {
            if ((st = add_span_str(ev, file, a->id, a)))
                goto out;
            nt++;
        }
        for (uint32_t m = 0; m < a->nids; m++) {
            if ((st = add_span_str(ev, file, s->ids[a->first_id + m], a)))
                goto out;
            nt++;
        }
        if (nt)
            continue;
        const sp_annot *b = sp_annot_set_enclosing(s, SP_ANNOT_BATCH, a->thread, a->start);
        if (b && s->batch_of[b - s->a] >= 0) {
            const sp_ev_batch *bb = &ev->batches[s->batch_of[b - s->a]];
            for (uint32_t m = 0; m < bb->nmembers; m++) {
                uint32_t r = ev->members[bb->first_member + m];
                if ((st = sp_ev_add_span(ev, r, a->stage, (uint64_t)a->start, (uint64_t)a->end)))
                    goto out;
                nt++;
            }
        }
        if (!nt) {
            const sp_annot *q = sp_annot_set_enclosing(s, SP_ANNOT_REQUEST, a->thread, a->start);
            if (q) {
                if ((st = add_span_str(ev, file, q->id, a)))
                    goto out;
                nt++;
            }
        }
        if (!nt)
            ev->files[file].ignored++;   /* a stage nobody can be charged for */
    }
out:
    free(members);
    return st;
}

void sp_annot_fill_requests(struct sp_events *ev, uint32_t file, size_t r0, size_t s0)
{
    for (size_t i = s0; i < ev->n_spans; i++) {
        sp_ev_request *q = &ev->requests[ev->spans[i].req];
        if (q->has_record || q->file != file)
            continue;
        if (q->arrival_ns == SP_TIME_NONE || ev->spans[i].start_ns < q->arrival_ns)
            q->arrival_ns = ev->spans[i].start_ns;
        if (q->done_ns == SP_TIME_NONE || ev->spans[i].end_ns > q->done_ns)
            q->done_ns = ev->spans[i].end_ns;
    }
    for (size_t bi = 0; bi < ev->n_batches; bi++) {
        const sp_ev_batch *b = &ev->batches[bi];
        if (b->file != file || !b->has_record)
            continue;
        for (uint32_t m = 0; m < b->nmembers; m++) {
            sp_ev_request *q = &ev->requests[ev->members[b->first_member + m]];
            if (q->has_record)
                continue;
            if (q->arrival_ns == SP_TIME_NONE || b->start_ns < q->arrival_ns)
                q->arrival_ns = b->start_ns;
            if (q->done_ns == SP_TIME_NONE || b->end_ns > q->done_ns)
                q->done_ns = b->end_ns;
        }
    }
    for (size_t i = r0; i < ev->n_requests; i++) {
        sp_ev_request *q = &ev->requests[i];
        if (!q->has_record && q->arrival_ns != SP_TIME_NONE)
            q->has_record = true;
    }
}

void sp_annot_set_free(sp_annot_set *s)
{
    if (!s)
        return;
    free(s->a);
    free(s->ids);
    free(s->batch_of);
    memset(s, 0, sizeof *s);
}
