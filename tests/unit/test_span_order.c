/* sp_ev_finish's span order (issue 15: spans out of order are grouped by request in place,
 * then each request's spans by start and end, qsort for a request with more than 16): a trace whose
 * lines are shuffled gives each request the spans, in the same order, that the same trace written
 * request by request in time order gives (already in order: not sorted at all; the reference), and
 * the whole array is ordered by request, start and end. One
 * request has 40 spans (the qsort case), the others 3, with ties on start and end. */
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "testlib.h"

#define NREQ 60

static char g_lines[NREQ * 3 + 40 + NREQ][160];
static size_t g_n;

static void add(const char *fmt, int a, int b, int c, int d)
{
    snprintf(g_lines[g_n++], sizeof g_lines[0], fmt, a, b, c, d);
}

static sp_events *load(const size_t *order, int *ok)
{
    size_t cap = 64 + g_n * 160, at = 0;
    char *text = malloc(cap);
    at += (size_t)snprintf(text, cap, "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n");
    for (size_t i = 0; i < g_n; i++)
        at += (size_t)snprintf(text + at, cap - at, "%s\n", g_lines[order[i]]);
    sp_events *ev;
    char err[512];
    *ok = sp_events_create(&ev) == SP_OK && sp_events_load_buffer(ev, "t.jsonl", text, at, NULL, err, sizeof err) == SP_OK &&
          sp_ev_finish(ev, false, err, sizeof err) == SP_OK;
    free(text);
    return ev;
}

/* Whether `ev` gives each request the spans `ref` gives it, in the same order, and its whole span
 * array is ordered by request, start and end; and the file's last time is ref's. */
static int same_as_ref(const sp_events *ref, const sp_events *ev)
{
    /* request by request (request indexes follow the order lines name them): the same spans in
     * the same order; and the whole array ordered by request, start, end */
    int same = 1;
    for (size_t i = 0; i < ev->n_requests; i++) {
        const sp_ev_request *q = &ev->requests[i], *r = NULL;
        char ta[SP_EV_ID_TEXT], tb[SP_EV_ID_TEXT];
        for (size_t k = 0; k < ref->n_requests && !r; k++)
            if (strcmp(sp_ev_id_text(ref, &ref->requests[k], ta, NULL), sp_ev_id_text(ev, q, tb, NULL)) == 0)
                r = &ref->requests[k];
        same &= r && r->nspans == q->nspans;
        for (uint32_t k = 0; r && k < q->nspans && k < r->nspans; k++) {
            const sp_ev_span *a = &ref->spans[r->first_span + k], *b = &ev->spans[q->first_span + k];
            same &= a->req == (uint32_t)(r - ref->requests) && b->req == i;
            same &= strcmp(sp_str_get(&ref->strings, a->stage), sp_str_get(&ev->strings, b->stage)) == 0 &&
                    a->start_ns == b->start_ns && a->end_ns == b->end_ns;
        }
    }
    for (size_t i = 1; i < ev->n_spans; i++) {
        const sp_ev_span *a = &ev->spans[i - 1], *b = &ev->spans[i];
        same &= a->req < b->req || (a->req == b->req && (a->start_ns < b->start_ns ||
                                                         (a->start_ns == b->start_ns && a->end_ns <= b->end_ns)));
    }
    same &= ev->n_files == 1 && ref->n_files == 1 && ev->files[0].last_ns == ref->files[0].last_ns;
    return same;
}

int main(void)
{
    /* in time order, request by request: request r's line, then its spans */
    for (int r = 0; r < NREQ; r++) {
        int t = 1000 * (r + 1);
        add("{\"ev\":\"request\",\"id\":\"q%d\",\"arrival_ns\":%d,\"done_ns\":%d%.0d}", r, t, t + 900, 0);
        if (r == 7) {
            for (int k = 0; k < 40; k++) /* pairs with equal start and end: the tie is the name */
                add("{\"ev\":\"stage\",\"id\":\"q%d\",\"stage\":\"s%02d\",\"start_ns\":%d,\"end_ns\":%d}", r, k,
                    t + (k / 2) * 20, t + (k / 2) * 20 + 10);
            continue;
        }
        add("{\"ev\":\"stage\",\"id\":\"q%d\",\"stage\":\"a\",\"start_ns\":%d,\"end_ns\":%d%.0d}", r, t, t + 100, 0);
        add("{\"ev\":\"stage\",\"id\":\"q%d\",\"stage\":\"b\",\"start_ns\":%d,\"end_ns\":%d%.0d}", r, t + 100, t + 500, 0);
        add("{\"ev\":\"stage\",\"id\":\"q%d\",\"stage\":\"c\",\"start_ns\":%d,\"end_ns\":%d%.0d}", r, t + 100, t + 500, 0);
    }
    size_t *id = malloc(g_n * sizeof *id), *sh = malloc(g_n * sizeof *sh);
    for (size_t i = 0; i < g_n; i++)
        id[i] = sh[i] = i;
    int ok1, ok2;
    sp_events *ref = load(id, &ok1);
    CHECK(ok1);
    for (int seed = 1; seed <= 3; seed++) {
        srand((unsigned)seed);
        for (size_t i = g_n - 1; i > 0; i--) { /* Fisher-Yates */
            size_t j = (size_t)rand() % (i + 1), t = sh[i];
            sh[i] = sh[j];
            sh[j] = t;
        }
        sp_events *ev = load(sh, &ok2);
        CHECK(ok2);
        CHECK_EQ_U64(ev->n_spans, ref->n_spans);
        CHECK_EQ_U64(ev->n_spans, (NREQ - 1) * 3 + 40);
        CHECK(ok1 && ok2 && same_as_ref(ref, ev));
        sp_events_destroy(ev);
    }
    /* in order but for one inversion late in the spans (request 59's first two spans swapped), then
     * half-way (request 30's): the requests before it already have their lists when it is found */
    for (int q = 59; q >= 30; q -= 29) {
        for (size_t i = 0; i < g_n; i++)
            sh[i] = i;
        size_t at = 0; /* request q's line */
        char want[32];
        snprintf(want, sizeof want, "\"id\":\"q%d\",\"arrival", q);
        while (at < g_n && !strstr(g_lines[at], want))
            at++;
        CHECK(at + 2 < g_n);
        if (at + 2 >= g_n)
            break;
        sh[at + 1] = at + 2;
        sh[at + 2] = at + 1;
        sp_events *ev = load(sh, &ok2);
        CHECK(ok2);
        CHECK_EQ_U64(ev->n_spans, ref->n_spans);
        CHECK(ok1 && ok2 && same_as_ref(ref, ev));
        sp_events_destroy(ev);
    }
    sp_events_destroy(ref);
    free(id);
    free(sh);
    return sp_test_done("span_order");
}
