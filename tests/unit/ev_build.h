/* Test helper: builds event sets directly through the event model's sp_ev_* functions, so analyzer
 * tests do not depend on any importer. Aborts the test on any failure (a broken fixture is not a
 * result). */
#ifndef SERVPROF_TEST_EV_BUILD_H
#define SERVPROF_TEST_EV_BUILD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "servprof/analyze.h"

static inline void eb_check(sp_status st, const char *what)
{
    if (st != SP_OK) {
        fprintf(stderr, "fixture: %s failed: %s\n", what, sp_status_str(st));
        exit(1);
    }
}

/* A new event set with one file ("test"); file index 0. */
static inline sp_events *eb_new(void)
{
    sp_events *ev;
    uint32_t f;
    eb_check(sp_events_create(&ev), "create");
    eb_check(sp_ev_add_file(ev, "test", SP_FORMAT_JSONL, &f), "add_file");
    return ev;
}

/* Ranking tests' request ids (which of the id routes a set takes): request k's id as a number from 1
 * (EB_IDS_SHORT), a 13-digit number (EB_IDS_LONG), "req-0000" and k in `width` digits (EB_IDS_TEXT), or
 * text for odd k and a number for even k (EB_IDS_MIXED). */
enum { EB_IDS_SHORT, EB_IDS_LONG, EB_IDS_TEXT, EB_IDS_MIXED, EB_IDS_KINDS };
static inline void eb_id_of(char *id, size_t len, size_t k, int ids, int width)
{
    if (ids == EB_IDS_TEXT || (ids == EB_IDS_MIXED && (k & 1)))
        snprintf(id, len, "req-0000%0*zu", width, k);
    else if (ids == EB_IDS_LONG)
        snprintf(id, len, "%llu", 1234567800000ull + k);
    else
        snprintf(id, len, "%zu", k + 1);
}

static inline uint32_t eb_file(sp_events *ev, const char *path)
{
    uint32_t f;
    eb_check(sp_ev_add_file(ev, path, SP_FORMAT_JSONL, &f), "add_file");
    return f;
}

static inline uint32_t eb_req_f(sp_events *ev, uint32_t file, const char *id, uint64_t arrival, uint64_t done,
                                int64_t tokens)
{
    uint32_t r;
    eb_check(sp_ev_request_ref(ev, file, id, strlen(id), &r), "request_ref");
    ev->requests[r].arrival_ns = arrival;
    ev->requests[r].done_ns = done;
    eb_check(sp_ev_req_set_input_tokens(ev, r, tokens), "input_tokens");
    ev->requests[r].has_record = true;
    return r;
}

static inline uint32_t eb_req(sp_events *ev, const char *id, uint64_t arrival, uint64_t done)
{
    return eb_req_f(ev, 0, id, arrival, done, -1);
}

static inline void eb_span(sp_events *ev, uint32_t req, const char *stage, uint64_t s, uint64_t e)
{
    sp_str id;
    eb_check(sp_str_intern(&ev->strings, stage, strlen(stage), &id), "intern");
    eb_check(sp_ev_add_span(ev, req, id, s, e), "add_span");
}

static inline uint32_t eb_batch_f(sp_events *ev, uint32_t file, int64_t id, uint64_t s, uint64_t e, int64_t eff,
                                  int64_t pad, uint32_t device, const uint32_t *members, size_t n)
{
    uint32_t b;
    eb_check(sp_ev_batch_ref(ev, file, id, &b), "batch_ref");
    ev->batches[b].start_ns = s;
    ev->batches[b].end_ns = e;
    ev->batches[b].effective_tokens = eff;
    ev->batches[b].padded_tokens = pad;
    ev->batches[b].device = device;
    ev->batches[b].has_record = true;
    eb_check(sp_ev_batch_set_members(ev, b, members, n), "set_members");
    return b;
}

static inline uint32_t eb_batch(sp_events *ev, int64_t id, uint64_t s, uint64_t e, int64_t eff, int64_t pad,
                                const uint32_t *members, size_t n)
{
    return eb_batch_f(ev, 0, id, s, e, eff, pad, 0, members, n);
}

/* Adds device activity; `batch` is a batch index or SP_EV_NONE. */
static inline void eb_act_full(sp_events *ev, uint8_t kind, uint32_t batch, uint64_t s, uint64_t e,
                               const char *name, int64_t stream, uint32_t device, uint64_t corr,
                               uint64_t bytes, uint32_t file)
{
    sp_ev_activity a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.batch = batch;
    a.start_ns = s;
    a.end_ns = e;
    eb_check(sp_ev_stream_id(ev, stream, &a.stream_ix), "stream");
    a.device = device;
    a.correlation = corr;
    a.file = (uint16_t)file;
    /* a kernel has a name and no byte count, a copy or memset a byte count and no name, a sync
     * neither (sp_ev_activity.nb): a test asking for more would test a record the model cannot hold */
    eb_check(file < SP_EV_MAX_FILES ? SP_OK : SP_ERR_INVALID, "file");
    eb_check((bytes == 0 || sp_ev_act_kind_has_bytes(kind)) && (!name || kind == SP_ACT_KERNEL) ? SP_OK
                                                                                            : SP_ERR_INVALID,
             "name or bytes on a kind without them");
    if (sp_ev_act_kind_has_bytes(kind))
        a.nb.bytes = bytes;
    else if (kind == SP_ACT_KERNEL)
        a.nb.name = SP_EV_NONE;
    if (name)
        eb_check(sp_str_intern(&ev->strings, name, strlen(name), &a.nb.name), "intern");
    eb_check(sp_ev_add_activity(ev, &a), "add_activity");
}

static inline void eb_act(sp_events *ev, uint8_t kind, uint32_t batch, uint64_t s, uint64_t e)
{
    eb_act_full(ev, kind, batch, s, e, kind == SP_ACT_KERNEL ? "k" : NULL, 0, 0, 0, 0, 0);
}

/* Adds a host launch call; `name` (the runtime call, e.g. "cudaLaunchKernel") may be NULL. */
static inline void eb_launch_named(sp_events *ev, uint64_t corr, uint64_t s, uint64_t e, uint32_t file,
                                   const char *name)
{
    sp_ev_launch l;
    memset(&l, 0, sizeof l);
    l.correlation = corr;
    l.start_ns = s;
    l.end_ns = e;
    l.file = file;
    l.name = SP_EV_NONE;
    if (name)
        eb_check(sp_str_intern(&ev->strings, name, strlen(name), &l.name), "intern");
    eb_check(sp_ev_add_launch(ev, &l), "add_launch");
}

static inline void eb_launch(sp_events *ev, uint64_t corr, uint64_t s, uint64_t e, uint32_t file)
{
    eb_launch_named(ev, corr, s, e, file, NULL);
}

static inline void eb_client(sp_events *ev, const char *id, uint64_t intended, uint64_t send, uint64_t done)
{
    sp_ev_client c;
    memset(&c, 0, sizeof c);
    eb_check(sp_str_intern(&ev->strings, id, strlen(id), &c.id), "intern");
    c.intended_ns = intended;
    c.send_ns = send;
    c.done_ns = done;
    c.status = 200;
    c.first_token_ns = SP_TIME_NONE;
    c.output_tokens = -1;
    eb_check(sp_ev_add_client(ev, &c), "add_client");
}

/* A step mark (ProfilerStep#N, record_function or NVTX range) of file 0. */
static inline void eb_mark(sp_events *ev, uint8_t kind, const char *name, uint64_t s, uint64_t e)
{
    sp_ev_mark m;
    memset(&m, 0, sizeof m);
    m.start_ns = s;
    m.end_ns = e;
    m.kind = kind;
    eb_check(sp_str_intern(&ev->strings, name, strlen(name), &m.name), "intern");
    eb_check(sp_ev_add_mark(ev, &m), "add_mark");
}

static inline sp_report *eb_analyze(sp_events *ev, const sp_analyze_options *opt)
{
    sp_report *r = NULL;
    char err[512];
    sp_status st = sp_analyze(ev, opt, &r, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "sp_analyze failed: %s: %s\n", sp_status_str(st), err);
        exit(1);
    }
    return r;
}

static inline const sp_stage_row *eb_row(const sp_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_stages; i++)
        if (!strcmp(r->stages[i].name, name))
            return &r->stages[i];
    return NULL;
}

#endif
