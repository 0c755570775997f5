/* The client join and the clock reconciliation (DESIGN 8a): a load generator's records are joined to
 * the server's requests by id, each (client file, server file) pair gets an offset theta = server clock
 * - client clock that every joined request/response pair bounds, and the joined requests get their
 * client times on the server's clock, so the analysis sees one timeline. Rules: docs/analysis.md,
 * "Client merge". */
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "model/events_int.h"
#include "servprof/load.h"

const char *sp_clock_source_str(sp_clock_source s)
{
    switch (s) {
    case SP_CLOCK_ESTIMATED: return "estimated";
    case SP_CLOCK_SAME_TRACE: return "same_trace";
    case SP_CLOCK_ASSUMED: return "assumed";
    case SP_CLOCK_GIVEN: return "given";
    case SP_CLOCK_UNBOUNDED: return "unbounded";
    }
    return "unknown";
}

void sp_clock_bounds_init(sp_clock_bounds *b)
{
    b->lower = INT64_MIN;
    b->upper = INT64_MAX;
    b->n = 0;
}

bool sp_clock_bounds_add(sp_clock_bounds *b, uint64_t arrival, uint64_t done, uint64_t client_send,
                         uint64_t client_done)
{
    /* SP_TIME_NONE is past INT64_MAX too; within [0, INT64_MAX] the differences cannot overflow */
    if (arrival > INT64_MAX || done > INT64_MAX || client_send > INT64_MAX || client_done > INT64_MAX)
        return false;
    if (done < arrival || client_done < client_send)
        return false;
    /* the server received it after the client sent it: arrival >= send + theta */
    int64_t upper = (int64_t)arrival - (int64_t)client_send;
    /* the server answered before the client received the answer: done <= client_done + theta */
    int64_t lower = (int64_t)done - (int64_t)client_done;
    if (upper < b->upper)
        b->upper = upper;
    if (lower > b->lower)
        b->lower = lower;
    b->n++;
    return true;
}

int64_t sp_clock_bounds_mid(const sp_clock_bounds *b)
{
    /* floor((lower + upper) / 2) without overflow: the smaller end plus half the distance, which is
     * non-negative, so the division rounds down whatever the signs (C's / truncates toward zero,
     * which would round negative middles up and break shift invariance) */
    int64_t lo = b->lower < b->upper ? b->lower : b->upper;
    int64_t hi = b->lower < b->upper ? b->upper : b->lower;
    uint64_t width = (uint64_t)hi - (uint64_t)lo;
    return lo + (int64_t)(width / 2);
}

uint64_t sp_clock_map(uint64_t t, int64_t theta)
{
    if (t == SP_TIME_NONE || theta == 0)
        return t;
    if (theta > 0) {
        uint64_t d = (uint64_t)theta;
        return t >= SP_TIME_NONE - 1 - d ? SP_TIME_NONE - 1 : t + d;
    }
    uint64_t d = (uint64_t)0 - (uint64_t)theta; /* |theta|, also for INT64_MIN */
    return t > d ? t - d : 0;
}

/* When several client records carry one request's id, the one kept: the earliest send, then the
 * earliest reply, then the earliest intended time, then the earlier file, then the lower status. No
 * field depends on the order of lines, so neither does the choice. */
static bool client_better(const sp_ev_client *x, const sp_ev_client *y)
{
    if (x->send_ns != y->send_ns)
        return x->send_ns < y->send_ns;
    if (x->done_ns != y->done_ns)
        return x->done_ns < y->done_ns;
    if (x->intended_ns != y->intended_ns)
        return x->intended_ns < y->intended_ns;
    if (x->file != y->file)
        return x->file < y->file;
    return x->status < y->status;
}

/* One (client file, server file) pair while the join runs: its result and its bounds. */
typedef struct pair_acc {
    sp_clock_offset o;
    sp_clock_bounds b;
} pair_acc;

static int offset_cmp(const void *a, const void *b)
{
    const sp_clock_offset *x = a, *y = b;
    if (x->server_file != y->server_file)
        return x->server_file < y->server_file ? -1 : 1;
    return (x->client_file > y->client_file) - (x->client_file < y->client_file);
}

static uint64_t pair_key(uint32_t client_file, uint32_t server_file)
{
    return ((uint64_t)client_file << 32) | server_file;
}

/* Index of the pair (client_file, server_file) in `*pairs`, creating it. */
static sp_status pair_get(sp_hmap *m, pair_acc **pairs, size_t *n, size_t *cap, uint32_t client_file,
                          uint32_t server_file, uint32_t *out)
{
    uint64_t key = pair_key(client_file, server_file);
    uint32_t found = sp_hmap_find(m, key, NULL, NULL);
    if (found != SP_HMAP_NONE) {
        *out = found;
        return SP_OK;
    }
    sp_status st = SP_GROW(*pairs, *cap, *n + 1, SP_EV_MAX_RECORDS);
    if (st || (st = sp_hmap_put(m, key, (uint32_t)*n)))
        return st;
    pair_acc *p = &(*pairs)[*n];
    memset(p, 0, sizeof *p);
    p->o.client_file = client_file;
    p->o.server_file = server_file;
    sp_clock_bounds_init(&p->b);
    *out = (uint32_t)(*n)++;
    return SP_OK;
}

/* The offset each pair gets (docs/analysis.md, "Client merge"). */
static void decide_offset(const struct sp_events *ev, sp_clock_offset *o, const sp_clock_bounds *b)
{
    o->pairs = b->n;
    if (b->n) {
        o->lower_ns = b->lower;
        o->upper_ns = b->upper;
        if (b->lower <= b->upper)
            o->uncertainty_ns = ((uint64_t)b->upper - (uint64_t)b->lower) / 2;
        else
            o->conflict_ns = (uint64_t)b->lower - (uint64_t)b->upper;
    }
    if (o->client_file == o->server_file) {
        o->source = SP_CLOCK_SAME_TRACE;
        o->offset_ns = 0;
    } else if (ev->clock_mode == SP_CLOCK_NONE) {
        o->source = SP_CLOCK_ASSUMED;
        o->offset_ns = 0;
    } else if (ev->clock_mode == SP_CLOCK_FIXED) {
        o->source = SP_CLOCK_GIVEN;
        o->offset_ns = ev->clock_offset_ns;
    } else if (b->n) {
        o->source = SP_CLOCK_ESTIMATED;
        o->offset_ns = sp_clock_bounds_mid(b);
    } else {
        o->source = SP_CLOCK_UNBOUNDED;
        o->offset_ns = 0;
    }
}

/* The trace id a lookup asks for, and the set it looks in (the eq of a hashed key, hmap.h). */
typedef struct trace_probe {
    const struct sp_events *ev;
    const uint8_t *trace_id;
} trace_probe;

static bool trace_eq(const void *ctx, uint32_t req)
{
    const trace_probe *p = ctx;
    return memcmp(p->ev->traces[sp_ev_cold(p->ev, &p->ev->requests[req])->trace].trace_id, p->trace_id, 16) == 0;
}

/* The first recorded request carrying each trace id: built only when some client record's id text
 * matched no request. */
static sp_status index_traces(const struct sp_events *ev, sp_hmap *m)
{
    sp_status st = sp_hmap_init(m, ev->n_traces);
    for (size_t i = 0; i < ev->n_requests && st == SP_OK; i++) {
        const sp_ev_request *q = &ev->requests[i];
        uint32_t trace = sp_ev_cold(ev, q)->trace;
        if (!q->has_record || trace == SP_EV_NONE)
            continue;
        trace_probe p = {ev, ev->traces[trace].trace_id};
        uint64_t key = sp_hash_bytes(p.trace_id, 16, 0);
        if (sp_hmap_find(m, key, trace_eq, &p) == SP_HMAP_NONE)
            st = sp_hmap_put(m, key, (uint32_t)i);
    }
    return st;
}

/* The request a client record joins by trace id: its own trace id, else its id text when that is 32
 * hex digits (a client that knows its requests by trace id); SP_HMAP_NONE when there is none. */
static uint32_t join_by_trace(const struct sp_events *ev, const sp_hmap *m, sp_ev_client *cl)
{
    const uint8_t *want = cl->has_trace ? cl->trace_id : cl->id_is_trace ? cl->id_trace : NULL;
    if (!want)
        return SP_HMAP_NONE;
    trace_probe p = {ev, want};
    return sp_hmap_find(m, sp_hash_bytes(want, 16, 0), trace_eq, &p);
}

/* The index of the first request in `by_text` (interned id) or `by_num` (numeric id) whose id is
 * client record `cl`'s, the lower of the two; SP_HMAP_NONE when neither holds it. */
static uint32_t find_by_id(const struct sp_events *ev, const sp_hmap *by_text, const sp_hmap *by_num,
                           const sp_ev_client *cl)
{
    uint32_t r = by_text->count ? sp_hmap_find(by_text, cl->id, NULL, NULL) : SP_HMAP_NONE;
    uint64_t num;
    if (by_num->count && sp_ev_str_num(&ev->strings, cl->id, &num)) {
        uint32_t rn = sp_hmap_find(by_num, num, NULL, NULL);
        if (rn < r) /* SP_HMAP_NONE is the largest */
            r = rn;
    }
    return r;
}

/* Request index + 1 per client record's id (the first recorded request holding it), by the interned
 * id: ids are interned once, so equal text is an equal sp_str (an integer key, hmap.h). A request whose
 * id is a number (reqid.c) has no sp_str: those are keyed by the number in a second map, which a
 * client id that is a canonical decimal text looks up too (the same text), the lower index of the two
 * answers being the first request. A record whose id matches none joins by trace id (join_by_trace). */
static sp_status choose_records(struct sp_events *ev, uint32_t *chosen)
{
    sp_hmap first, first_num, traces, open, open_num;
    memset(&traces, 0, sizeof traces);
    memset(&first_num, 0, sizeof first_num);
    memset(&open, 0, sizeof open);
    memset(&open_num, 0, sizeof open_num);
    bool traces_ready = false;
    uint8_t *timed_out = NULL; /* requests answered ok that a client timed out on (clients_timed_out_ok) */
    size_t n_recorded = 0, n_num = 0, n_open = 0, n_open_num = 0;
    for (size_t i = 0; i < ev->n_requests; i++) {
        const sp_ev_request *q = &ev->requests[i];
        if (q->has_record) {
            n_recorded++;
            n_num += q->id_num;
        } else if (q->outcome == SP_OUTCOME_UNFINISHED) {
            n_open += !q->id_num;
            n_open_num += q->id_num;
        }
    }
    sp_status st = sp_hmap_init(&first, n_recorded - n_num);
    if (!st && n_num)
        st = sp_hmap_init(&first_num, n_num);
    if (!st && n_open)
        st = sp_hmap_init(&open, n_open);
    if (!st && n_open_num)
        st = sp_hmap_init(&open_num, n_open_num);
    for (size_t i = 0; i < ev->n_requests && st == SP_OK; i++) {
        const sp_ev_request *q = &ev->requests[i];
        if (!q->has_record && q->outcome != SP_OUTCOME_UNFINISHED)
            continue;
        sp_hmap *m = q->has_record ? (q->id_num ? &first_num : &first) : (q->id_num ? &open_num : &open);
        uint64_t key = q->id_num ? sp_ev_id_num(q) : q->id;
        if (sp_hmap_find(m, key, NULL, NULL) == SP_HMAP_NONE)
            st = sp_hmap_put(m, key, (uint32_t)i);
    }
    for (size_t c = 0; c < ev->n_clients && st == SP_OK; c++) {
        sp_ev_client *cl = &ev->clients[c];
        cl->by_trace = false;
        if (cl->status == SP_LOAD_ERR_STREAM) {
            /* a response came (2xx) but its event stream failed: not joined, as it is no success, but
             * no transport error either */
            ev->clients_failed_streams++;
            continue;
        }
        if (cl->status == SP_LOAD_ERR_UNSENT) {
            /* never sent (the run stopped first): no transport error either, as nothing went out */
            ev->clients_unsent++;
            continue;
        }
        if (cl->status < 0) {
            /* no (whole) response reached the client: it observed no latency, and its done time (when
             * it gave up) bounds nothing. When its id is a request the server never finished, the
             * server's end cut it (kill -9 mid-stream: the client's read fails, often after the
             * headers and some tokens): counted with the unfinished, not as a transport fault */
            if (find_by_id(ev, &open, &open_num, cl) != SP_HMAP_NONE) {
                ev->clients_unfinished++;
                continue;
            }
            ev->clients_failed++;
            /* and whether the server recorded its request at all (the client gave up on one the
             * server finished) or not: a record it lost, or a client of another server */
            uint32_t r = find_by_id(ev, &first, &first_num, cl);
            if (r == SP_HMAP_NONE && ev->n_traces) {
                if (!traces_ready && (st = index_traces(ev, &traces)) != SP_OK)
                    break;
                traces_ready = true;
                r = join_by_trace(ev, &traces, cl);
            }
            ev->clients_failed_unmatched += r == SP_HMAP_NONE;
            /* a time-out on a request the server answered ok: counted below, once a request, where no
             * other record of it got the answer (a retry that did is no client that gave up) */
            if (r != SP_HMAP_NONE && cl->status == SP_LOAD_ERR_TIMEOUT && ev->requests[r].outcome == SP_OUTCOME_OK) {
                if (!timed_out && !(timed_out = calloc(ev->n_requests, 1))) {
                    st = SP_ERR_NOMEM;
                    break;
                }
                timed_out[r] = 1;
            }
            continue;
        }
        uint32_t r = find_by_id(ev, &first, &first_num, cl);
        if (r == SP_HMAP_NONE && ev->n_traces) {
            if (!traces_ready && (st = index_traces(ev, &traces)) != SP_OK)
                break;
            traces_ready = true;
            r = join_by_trace(ev, &traces, cl);
            cl->by_trace = r != SP_HMAP_NONE;
        }
        if (r == SP_HMAP_NONE) {
            /* its request may be one the server never finished (the trace ended first, e.g. the
             * server was killed): the record is not joined either way, but it is no stray; with an
             * answer, the server finished it and its end record was lost */
            if (find_by_id(ev, &open, &open_num, cl) != SP_HMAP_NONE) {
                ev->clients_unfinished++;
                ev->clients_unfinished_answered++;
                continue;
            }
            /* by what the client saw: an answer the server gave (its record lost) or a stray */
            ev->clients_unjoined++;
            if (cl->status >= 200 && cl->status <= 299)
                ev->clients_unjoined_2xx++;
            else if (cl->status == 429 || cl->status == 503)
                ev->clients_unjoined_rejected++;
            else
                ev->clients_unjoined_other++;
            continue;
        }
        if (!chosen[r]) {
            chosen[r] = (uint32_t)c + 1;
            continue;
        }
        ev->clients_duplicate++;
        if (client_better(cl, &ev->clients[chosen[r] - 1]))
            chosen[r] = (uint32_t)c + 1;
    }
    for (size_t i = 0; timed_out && i < ev->n_requests; i++)
        ev->clients_timed_out_ok += timed_out[i] && !chosen[i];
    free(timed_out);
    sp_hmap_free(&first);
    sp_hmap_free(&first_num);
    sp_hmap_free(&open);
    sp_hmap_free(&open_num);
    sp_hmap_free(&traces);
    return st;
}

/* Counts what the joined pairs say about trace context: joined by trace id, and, where both sides
 * carry one, whether they agree (one trace; the server continued the client's span). */
static void count_trace_joins(struct sp_events *ev)
{
    for (size_t i = 0; i < ev->n_requests; i++) {
        const sp_ev_request_cold *qc = sp_ev_cold(ev, &ev->requests[i]);
        if (qc->client == SP_EV_NONE)
            continue;
        const sp_ev_client *cl = &ev->clients[qc->client];
        ev->clients_by_trace += cl->by_trace;
        if (qc->trace == SP_EV_NONE || !cl->has_trace)
            continue;
        const sp_trace_context *t = &ev->traces[qc->trace];
        bool agree = memcmp(t->trace_id, cl->trace_id, 16) == 0 && memcmp(t->parent_id, cl->span_id, 8) == 0;
        if (agree)
            ev->trace_matched++;
        else
            ev->trace_mismatched++;
    }
}

sp_status sp_ev_join_clients(struct sp_events *ev)
{
    ev->clients_unjoined = ev->clients_unfinished = ev->clients_failed = ev->clients_duplicate = 0;
    ev->clients_failed_streams = ev->clients_unsent = 0;
    ev->clients_unjoined_2xx = ev->clients_unjoined_rejected = ev->clients_unjoined_other = 0;
    ev->clients_failed_unmatched = ev->clients_unfinished_answered = ev->clients_timed_out_ok = 0;
    ev->clients_by_trace = ev->trace_matched = ev->trace_mismatched = 0;
    ev->has_client = false;
    free(ev->clock_offsets);
    ev->clock_offsets = NULL;
    ev->n_clock_offsets = 0;
    /* a join after more files were loaded starts from the records again (only requests with a side
     * record can hold an earlier join's times) */
    for (size_t i = 0; i < ev->n_req_colds; i++) {
        sp_ev_request_cold *qc = &ev->req_colds[i];
        qc->client_intended_ns = qc->client_send_ns = qc->client_done_ns = SP_TIME_NONE;
        qc->client_offset_ns = 0;
        qc->client_first_token_ns = SP_TIME_NONE;
        qc->client = SP_EV_NONE;
    }
    if (!ev->n_clients)
        return SP_OK;
    uint32_t *chosen = calloc(ev->n_requests ? ev->n_requests : 1, sizeof *chosen);
    if (!chosen)
        return SP_ERR_NOMEM;
    sp_status st = choose_records(ev, chosen);
    sp_hmap pm;
    memset(&pm, 0, sizeof pm);
    pair_acc *pairs = NULL;
    size_t n_pairs = 0, cap_pairs = 0;
    /* every joined pair bounds its (client file, server file) pair's offset */
    for (size_t i = 0; !st && i < ev->n_requests; i++) {
        if (!chosen[i])
            continue;
        const sp_ev_request *q = &ev->requests[i];
        const sp_ev_client *cl = &ev->clients[chosen[i] - 1];
        uint32_t p;
        st = pair_get(&pm, &pairs, &n_pairs, &cap_pairs, cl->file, q->file, &p);
        if (!st)
            sp_clock_bounds_add(&pairs[p].b, q->arrival_ns, q->done_ns, cl->send_ns, cl->done_ns);
    }
    for (size_t k = 0; !st && k < n_pairs; k++)
        decide_offset(ev, &pairs[k].o, &pairs[k].b);
    /* the joined requests' client times, on their server's clock */
    for (size_t i = 0; !st && i < ev->n_requests; i++) {
        if (!chosen[i])
            continue;
        sp_ev_request *q = &ev->requests[i];
        const sp_ev_client *cl = &ev->clients[chosen[i] - 1];
        uint32_t p = sp_hmap_find(&pm, pair_key(cl->file, q->file), NULL, NULL);
        if (p == SP_HMAP_NONE) { /* the first pass entered every joined pair */
            st = SP_ERR_STATE;
            break;
        }
        sp_clock_offset *o = &pairs[p].o;
        sp_ev_request_cold *qc;
        if ((st = sp_ev_cold_get(ev, (uint32_t)i, &qc)))
            break;
        qc->client_intended_ns = sp_clock_map(cl->intended_ns, o->offset_ns);
        qc->client_send_ns = sp_clock_map(cl->send_ns, o->offset_ns);
        qc->client_done_ns = sp_clock_map(cl->done_ns, o->offset_ns);
        /* generation (docs/generation.md): the record itself, for its token times, and its offset */
        qc->client_offset_ns = o->offset_ns;
        qc->client_first_token_ns = sp_clock_map(cl->first_token_ns, o->offset_ns);
        qc->client = chosen[i] - 1;
        ev->has_client = true;
        sp_clock_bounds one;
        sp_clock_bounds_init(&one);
        if (sp_clock_bounds_add(&one, q->arrival_ns, q->done_ns, cl->send_ns, cl->done_ns) &&
            (qc->client_send_ns > q->arrival_ns || qc->client_done_ns < q->done_ns))
            o->violations++;
    }
    free(chosen);
    sp_hmap_free(&pm);
    if (!st)
        count_trace_joins(ev);
    sp_clock_offset *offs = NULL;
    if (!st && n_pairs) {
        offs = malloc(n_pairs * sizeof *offs);
        if (!offs)
            st = SP_ERR_NOMEM;
        for (size_t k = 0; offs && k < n_pairs; k++)
            offs[k] = pairs[k].o;
    }
    free(pairs);
    if (st) {
        free(offs);
        return st;
    }
    if (n_pairs > 1)
        qsort(offs, n_pairs, sizeof *offs, offset_cmp);
    ev->clock_offsets = offs;
    ev->n_clock_offsets = n_pairs;
    return SP_OK;
}
