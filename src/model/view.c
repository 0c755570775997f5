/* The read-only view of a finished event set (events_view.h): copies one record at a time out of the
 * model's arrays into plain values, strings resolved, lists clamped to what the arrays hold. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "model/events_int.h"
#include "model/events_view.h"

_Static_assert(SP_VIEW_NO_TIME == SP_TIME_NONE, "one 'no time' value");
_Static_assert(SP_VIEW_NONE == SP_EV_NONE, "one 'no index' value");

int sp_view_finished(const sp_events *ev)
{
    return ev->finished && !ev->released; /* a released set lacks the arrays its readers want */
}

size_t sp_view_files(const sp_events *ev)
{
    return ev->n_files;
}

size_t sp_view_requests(const sp_events *ev)
{
    return ev->n_requests;
}

size_t sp_view_batches(const sp_events *ev)
{
    return ev->n_batches;
}

size_t sp_view_launches(const sp_events *ev)
{
    return ev->n_launches;
}

size_t sp_view_activities(const sp_events *ev)
{
    return ev->n_acts;
}

/* n entries from `first`, cut to an array of `total` */
static uint32_t clamp(uint32_t first, uint32_t n, size_t total)
{
    return first >= total ? 0 : total - first < n ? (uint32_t)(total - first) : n;
}

/* The decimal texts of the requests' numeric ids for a view reader, which keeps a pointer as long
 * as the set (the Perfetto writer sorts by them). Made for all numeric ids the first time they are
 * asked for, not at import: only the readers of this view (Perfetto, OTLP) want a numeric id's text
 * to stay, and the analysis alone then holds no text for them (reqid.c). A set read through `const`
 * is filled in here, so the filling is serialised by one lock (readers of one set may run on several
 * threads); the texts go when the set does. Writers call sp_view_ids_ready first, so that no memory
 * for them fails the export instead of writing empty ids. */
static pthread_mutex_t num_text_lock = PTHREAD_MUTEX_INITIALIZER;

/* Makes the texts if the set changed since they were made (a load: its earlier view pointers are
 * void anyway); false if there is no memory for them. Called with num_text_lock held. */
static bool num_texts_made(struct sp_events *w)
{
    if (w->num_texts == w->n_requests)
        return true;
    size_t n = w->n_requests;
    char *t = n <= SIZE_MAX / SP_EV_ID_TEXT ? realloc(w->num_text, n * SP_EV_ID_TEXT) : NULL;
    if (!t)
        return false;
    for (size_t j = 0; j < n; j++) {
        char *at = t + j * SP_EV_ID_TEXT;
        at[w->requests[j].id_num ? sp_u64_dec(sp_ev_id_num(&w->requests[j]), at) : 0] = '\0';
    }
    w->num_text = t;
    w->num_texts = n;
    return true;
}

sp_status sp_view_ids_ready(const sp_events *ev)
{
    pthread_mutex_lock(&num_text_lock);
    bool ok = num_texts_made((struct sp_events *)ev); /* a cache of the set's own: see above */
    pthread_mutex_unlock(&num_text_lock);
    return ok ? SP_OK : SP_ERR_NOMEM;
}

/* Request `k`'s text; "" only for a reader that did not call sp_view_ids_ready and ran out of memory. */
static const char *num_id_text(const sp_events *ev, uint32_t k)
{
    const char *text = "";
    pthread_mutex_lock(&num_text_lock);
    struct sp_events *w = (struct sp_events *)ev;
    if (num_texts_made(w) && k < w->num_texts)
        text = w->num_text + (size_t)k * SP_EV_ID_TEXT;
    pthread_mutex_unlock(&num_text_lock);
    return text;
}

void sp_view_request_at(const sp_events *ev, size_t i, sp_view_request *out)
{
    const sp_ev_request *q = &ev->requests[i];
    const sp_ev_request_cold *qc = sp_ev_cold(ev, q);
    *out = (sp_view_request){
        .id = q->id_num ? num_id_text(ev, (uint32_t)i) : sp_str_get(&ev->strings, q->id),
        .file = q->file,
        .has_record = q->has_record,
        .arrival_ns = q->arrival_ns,
        .done_ns = q->done_ns,
        .input_tokens = sp_ev_req_input_tokens(ev, q),
        .client_intended_ns = qc->client_intended_ns,
        .client_send_ns = qc->client_send_ns,
        .client_done_ns = qc->client_done_ns,
        .outcome = (sp_outcome)q->outcome,
        .status = q->status,
        .n_spans = clamp(q->first_span, q->nspans, ev->n_spans),
        .n_batches = clamp(q->first_batch, sp_ev_req_nbatches(ev, q), ev->n_req_batches),
    };
    if (qc->trace != SP_EV_NONE && qc->trace < ev->n_traces) {
        out->has_trace = 1;
        out->trace = ev->traces[qc->trace];
    }
    if (qc->client != SP_EV_NONE && qc->client < ev->n_clients && ev->clients[qc->client].has_trace) {
        out->client_has_trace = 1;
        memcpy(out->client_trace_id, ev->clients[qc->client].trace_id, 16);
        memcpy(out->client_span_id, ev->clients[qc->client].span_id, 8);
    }
    out->output_tokens = qc->output_tokens;
    out->n_tokens = clamp(qc->first_token, qc->ntokens, ev->n_tokens);
}

void sp_view_file_at(const sp_events *ev, size_t i, sp_view_file *out)
{
    const sp_ev_file *f = &ev->files[i];
    *out = (sp_view_file){sp_str_get(&ev->strings, f->path), f->format, f->has_unix_offset, f->unix_offset_ns,
                          f->price_per_hour > 0 ? f->price_per_hour : 0, f->model_inference != 0,
                          f->end == SP_TRACE_END_UNCLEAN, f->last_ns};
}

size_t sp_view_props(const sp_events *ev)
{
    return ev->n_props;
}

void sp_view_prop_at(const sp_events *ev, size_t i, uint32_t *file, const char **key, const char **value)
{
    const sp_ev_prop *p = &ev->props[i];
    *file = p->file;
    *key = sp_str_get(&ev->strings, p->key);
    *value = sp_str_get(&ev->strings, p->value);
}

void sp_view_request_span(const sp_events *ev, size_t req, uint32_t k, sp_view_span *out)
{
    const sp_ev_span *sp = &ev->spans[ev->requests[req].first_span + k];
    *out = (sp_view_span){sp_str_get(&ev->strings, sp->stage), sp->start_ns, sp->end_ns};
}

uint32_t sp_view_request_batch(const sp_events *ev, size_t req, uint32_t k)
{
    return ev->req_batches[ev->requests[req].first_batch + k];
}

void sp_view_batch_at(const sp_events *ev, size_t i, sp_view_batch *out)
{
    const sp_ev_batch *b = &ev->batches[i];
    *out = (sp_view_batch){b->id,
                           b->file,
                           b->device,
                           b->has_record,
                           b->start_ns,
                           b->end_ns,
                           b->effective_tokens,
                           b->padded_tokens,
                           clamp(b->first_member, b->nmembers, ev->n_members),
                           0,
                           -1,
                           0};
    if (b->step != SP_EV_NONE && b->step < ev->n_steps) {
        const sp_ev_step *s = &ev->steps[b->step];
        out->is_step = 1;
        out->kv_used_tokens = s->kv_used_tokens;
        out->kv_capacity_tokens = s->kv_capacity_tokens;
    }
}

int sp_view_step_member(const sp_events *ev, size_t b, uint32_t k, uint32_t *tokens)
{
    const sp_ev_batch *bt = &ev->batches[b];
    if (bt->step == SP_EV_NONE || bt->step >= ev->n_steps)
        return -1;
    const sp_ev_step_member *m = &ev->step_members[ev->steps[bt->step].first + k];
    *tokens = m->tokens;
    return m->phase;
}

void sp_view_request_token(const sp_events *ev, size_t req, uint32_t k, uint64_t *index, uint64_t *time_ns)
{
    const sp_ev_token *t = &ev->tokens[sp_ev_cold(ev, &ev->requests[req])->first_token + k];
    *index = t->index;
    *time_ns = t->time_ns;
}

uint32_t sp_view_batch_member(const sp_events *ev, size_t b, uint32_t k)
{
    uint32_t q = ev->members[ev->batches[b].first_member + k];
    return q < ev->n_requests ? q : SP_VIEW_NONE;
}

void sp_view_launch_at(const sp_events *ev, size_t i, sp_view_launch *out)
{
    const sp_ev_launch *l = &ev->launches[i];
    *out = (sp_view_launch){sp_str_get(&ev->strings, l->name), l->start_ns, l->end_ns, l->correlation, l->file};
}

void sp_view_activity_at(const sp_events *ev, size_t i, sp_view_activity *out)
{
    const sp_ev_activity *a = &ev->acts[i];
    *out = (sp_view_activity){(sp_act_kind)a->kind, sp_str_get(&ev->strings, sp_ev_act_name(a)),
                              a->start_ns,          a->end_ns,
                              sp_ev_act_bytes(a),   a->correlation,
                              sp_ev_act_stream(ev, a), a->file,
                              a->device,            a->batch < ev->n_batches ? a->batch : SP_VIEW_NONE};
}

const char *sp_view_phase_name(int phase)
{
    return phase >= 0 && phase < SP_EV_PHASE_COUNT ? sp_ev_phase_names[phase] : NULL;
}
