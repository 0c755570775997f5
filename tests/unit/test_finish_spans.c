/* sp_ev_finish's span lists and order checks (src/model/events.c): the pass over the requests lists each request's
 * run of spans, and takes the requests' and spans' times into their file's last time, while the spans
 * come in span_cmp's order (request, start, end); at the first span out of that order it stops and
 * the general route (finish_spans: the lists emptied, the spans sorted and listed again) does the
 * rest. Event sets built here through the model's API (one file and three, their requests grouped by
 * file or interleaved; 0-6 spans a request, ties on start and end, some times SP_TIME_NONE) are
 * finished with their spans appended in that order (the pass lists them all), in an order broken
 * once (inside a request's run, between two runs, at the last span) and shuffled (the general route
 * from the start), on one thread and on two. Each is checked against the answer worked out here from
 * the definitions (events_int.h: spans ordered by request, start, end, ties by stage name; each
 * request's spans[first_span .. first_span+nspans), first_span 0 when it has none; a file's last_ns
 * the latest time any of its records gives, SP_TIME_NONE for none, an unfinished request's done
 * included where it has one), field by field, and every route's set against the in-order one's.
 * The same sets carry device activity and launches on their files (the files' last times take them
 * too: device_ends and the launches' pass, each a running maximum per file): activity in act_cmp's
 * order with ties (records equal but for the kernel name, appended in reverse name order: the order
 * check finds where the ties start, sort_act_ties orders them by name), that order broken once, and
 * shuffled; checked against the activity sorted here by time, then name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "testlib.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#define MAXREQ 400
#define MAXSPAN (MAXREQ * 6)
#define NSTAGE 4
#define MAXACT 300

typedef struct {
    uint32_t req;
    int stage; /* index into stage_names */
    uint64_t start, end;
} span_rec;

static const char *const stage_names[NSTAGE] = {"queue", "prefill", "decode", "a"};

typedef struct {
    size_t nreq, nspan;
    int nfile;
    uint32_t file[MAXREQ];
    uint64_t arrival[MAXREQ], done[MAXREQ];
    int unfinished[MAXREQ];
    span_rec spans[MAXSPAN]; /* in span_cmp's order, ties by stage name: the expected array */
    size_t nact, nlaunch;
    sp_ev_activity acts[MAXACT]; /* in order, ties by name (name: index into stage_names) */
    int act_name[MAXACT];
    sp_ev_launch launches[MAXACT];
} scenario;

static int rec_cmp(const void *a, const void *b)
{
    const span_rec *x = a, *y = b;
    if (x->req != y->req)
        return x->req < y->req ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(stage_names[x->stage], stage_names[y->stage]);
}

static uint64_t maybe_none(uint64_t t)
{
    return rng() % 23 == 0 ? SP_TIME_NONE : t;
}

static void make(scenario *s, int nfile, int interleaved)
{
    memset(s, 0, sizeof *s);
    s->nfile = nfile;
    s->nreq = 50 + rng() % (MAXREQ - 50);
    uint64_t t = 1000;
    for (size_t i = 0; i < s->nreq; i++) {
        s->file[i] = interleaved ? (uint32_t)(rng() % (uint64_t)nfile) : (uint32_t)(i * (size_t)nfile / s->nreq);
        t += rng() % 50;
        s->arrival[i] = maybe_none(t);
        s->done[i] = maybe_none(t + 100 + rng() % 5000);
        s->unfinished[i] = rng() % 11 == 0;
        size_t k = rng() % 7;
        uint64_t st = t + rng() % 20;
        for (size_t j = 0; j < k; j++) {
            span_rec *sp = &s->spans[s->nspan++];
            sp->req = (uint32_t)i;
            sp->stage = (int)(rng() % NSTAGE);
            if (j == 0 || rng() % 4) /* else tied on start (and often end) with the span before */
                st += rng() % 300;
            sp->start = st;
            sp->end = rng() % 3 == 0 ? st + 50 : maybe_none(st + rng() % 9000);
        }
    }
    qsort(s->spans, s->nspan, sizeof *s->spans, rec_cmp);
    /* activity in time order; now and then a run of 2-3 records equal but for the name */
    /* which of the kinds gives each file's last time: in turn the spans, the activity, the launches */
    uint64_t a = 900 + (rng() % 3) * 15000, launch_off = (rng() % 3) * 15000;
    while (s->nact + 3 <= MAXACT - 3) {
        a += 1 + rng() % (s->nreq / 5);
        sp_ev_activity x;
        memset(&x, 0, sizeof x);
        x.start_ns = a;
        x.end_ns = a + rng() % 900;
        x.correlation = rng() % 5;
        /* stream 7: entered when the record is added */
        x.batch = SP_EV_NONE;
        x.file = interleaved ? (uint32_t)(rng() % (uint64_t)nfile) : (uint32_t)(s->nact * (size_t)nfile / MAXACT);
        x.kind = SP_ACT_KERNEL;
        size_t tied = rng() % 5 == 0 ? 2 + rng() % 2 : 1;
        for (size_t k = 0; k < tied; k++) {
            s->act_name[s->nact] = (int)(tied - 1 - k); /* reverse name order: "decode", "prefill", "queue" */
            s->acts[s->nact++] = x;
        }
    }
    s->nlaunch = 20 + rng() % (MAXACT - 20);
    for (size_t k = 0; k < s->nlaunch; k++) {
        sp_ev_launch *l = &s->launches[k];
        memset(l, 0, sizeof *l);
        l->start_ns = 500 + launch_off + rng() % (s->nreq * 25);
        l->end_ns = l->start_ns + rng() % 3000;
        l->file = interleaved ? (uint32_t)(rng() % (uint64_t)nfile) : (uint32_t)(k * (size_t)nfile / s->nlaunch);
    }
}

/* The set of scenario `s` with its spans appended in `order` (indexes into s->spans), its activity in
 * `act_order`, and finished with the finish's second thread from `threads_at` records on */
static sp_events *build(const scenario *s, const size_t *order, const size_t *act_order, size_t threads_at)
{
    sp_events *ev = NULL;
    CHECK(sp_events_create(&ev) == SP_OK);
    uint32_t files[3];
    for (int f = 0; f < s->nfile; f++) {
        char path[32];
        snprintf(path, sizeof path, "f%d.jsonl", f);
        CHECK(sp_ev_add_file(ev, path, SP_FORMAT_JSONL, &files[f]) == SP_OK);
    }
    for (size_t i = 0; i < s->nreq; i++) {
        uint32_t r;
        CHECK(sp_ev_request_ref_u64(ev, files[s->file[i]], 7000 + i, &r) == SP_OK);
        CHECK(r == i);
        sp_ev_request *q = &ev->requests[r];
        q->has_record = true;
        q->arrival_ns = s->arrival[i];
        q->done_ns = s->done[i];
        if (s->unfinished[i])
            q->outcome = SP_OUTCOME_UNFINISHED;
    }
    sp_str stage[NSTAGE];
    for (int k = 0; k < NSTAGE; k++)
        CHECK(sp_str_intern(&ev->strings, stage_names[k], strlen(stage_names[k]), &stage[k]) == SP_OK);
    for (size_t j = 0; j < s->nspan; j++) {
        const span_rec *sp = &s->spans[order[j]];
        CHECK(sp_ev_add_span(ev, sp->req, stage[sp->stage], sp->start, sp->end) == SP_OK);
    }
    for (size_t k = 0; k < s->nact; k++) {
        sp_ev_activity a = s->acts[act_order[k]];
        a.nb.name = stage[s->act_name[act_order[k]]]; /* every one a kernel */
        CHECK(sp_ev_stream_id(ev, 7, &a.stream_ix) == SP_OK);
        CHECK(sp_ev_add_activity(ev, &a) == SP_OK);
    }
    for (size_t k = 0; k < s->nlaunch; k++)
        CHECK(sp_ev_add_launch(ev, &s->launches[k]) == SP_OK);
    char err[512] = "";
    sp_ev_two_threads_min = threads_at;
    sp_status st = sp_ev_finish(ev, false, err, sizeof err);
    sp_ev_two_threads_min = SP_EV_TWO_THREADS_MIN;
    if (st != SP_OK)
        fprintf(stderr, "finish: %s\n", err);
    CHECK(st == SP_OK);
    return ev;
}

static void later(uint64_t *at, uint64_t t)
{
    if (t != SP_TIME_NONE && (*at == SP_TIME_NONE || t > *at))
        *at = t;
}

/* ev against the answer worked out from s (see the top) */
static void check_answer(const scenario *s, const sp_events *ev)
{
    CHECK_EQ_U64(ev->n_spans, s->nspan);
    for (size_t j = 0; j < s->nspan; j++) {
        const sp_ev_span *sp = &ev->spans[j];
        const span_rec *x = &s->spans[j];
        CHECK_EQ_U64(sp->req, x->req);
        CHECK_EQ_U64(sp->start_ns, x->start);
        CHECK_EQ_U64(sp->end_ns, x->end);
        CHECK(strcmp(sp_str_get(&ev->strings, sp->stage), stage_names[x->stage]) == 0);
    }
    uint64_t last[3] = {SP_TIME_NONE, SP_TIME_NONE, SP_TIME_NONE};
    size_t j = 0;
    for (size_t i = 0; i < s->nreq; i++) {
        size_t first = j;
        while (j < s->nspan && s->spans[j].req == i) {
            later(&last[s->file[i]], s->spans[j].start);
            later(&last[s->file[i]], s->spans[j].end);
            j++;
        }
        const sp_ev_request *r = &ev->requests[i];
        CHECK_EQ_U64(r->nspans, j - first);
        CHECK_EQ_U64(r->first_span, j > first ? first : 0);
        /* an unfinished request's done too, when it has one (an OTLP reader's span end: servprof
         * export writes its trace's last time there) */
        later(&last[s->file[i]], s->arrival[i]);
        later(&last[s->file[i]], s->done[i]);
    }
    CHECK_EQ_U64(ev->n_acts, s->nact);
    for (size_t k = 0; k < s->nact; k++) {
        const sp_ev_activity *a = &ev->acts[k], *x = &s->acts[k];
        CHECK_EQ_U64(a->start_ns, x->start_ns);
        CHECK_EQ_U64(a->end_ns, x->end_ns);
        CHECK_EQ_U64(a->correlation, x->correlation);
        CHECK_EQ_U64(a->file, x->file);
        CHECK(strcmp(sp_str_get(&ev->strings, sp_ev_act_name(a)), stage_names[s->act_name[k]]) == 0);
        later(&last[x->file], x->start_ns);
        later(&last[x->file], x->end_ns);
    }
    for (size_t k = 0; k < s->nlaunch; k++) {
        later(&last[s->launches[k].file], s->launches[k].start_ns);
        later(&last[s->launches[k].file], s->launches[k].end_ns);
    }
    for (int f = 0; f < s->nfile; f++)
        CHECK_EQ_U64(ev->files[f].last_ns, last[f]);
}

/* ev against the in-order route's set, field by field */
static void check_same(const sp_events *a, const sp_events *b)
{
    CHECK_EQ_U64(a->n_spans, b->n_spans);
    CHECK_EQ_U64(a->n_requests, b->n_requests);
    for (size_t j = 0; j < a->n_spans; j++)
        CHECK(memcmp(&a->spans[j], &b->spans[j], sizeof a->spans[j]) == 0);
    for (size_t i = 0; i < a->n_requests; i++) {
        CHECK_EQ_U64(a->requests[i].first_span, b->requests[i].first_span);
        CHECK_EQ_U64(a->requests[i].nspans, b->requests[i].nspans);
        CHECK_EQ_U64(a->requests[i].arrival_ns, b->requests[i].arrival_ns);
        CHECK_EQ_U64(a->requests[i].outcome, b->requests[i].outcome);
    }
    CHECK_EQ_U64(a->n_acts, b->n_acts);
    for (size_t k = 0; k < a->n_acts; k++) {
        const sp_ev_activity *x = &a->acts[k], *y = &b->acts[k];
        CHECK(x->start_ns == y->start_ns && x->end_ns == y->end_ns && x->correlation == y->correlation &&
              sp_ev_act_bytes(x) == sp_ev_act_bytes(y) && sp_ev_act_stream(a, x) == sp_ev_act_stream(b, y) &&
              sp_ev_act_name(x) == sp_ev_act_name(y) && x->batch == y->batch &&
              x->device == y->device && x->file == y->file && x->kind == y->kind &&
              x->hta_end_early == y->hta_end_early);
    }
    for (size_t f = 0; f < a->n_files; f++)
        CHECK_EQ_U64(a->files[f].last_ns, b->files[f].last_ns);
}

static scenario g_s;
static size_t g_order[MAXSPAN], g_act_order[MAXACT];

int main(void)
{
    int runs = 0, broken_inside = 0, broken_between = 0;
    for (int round = 0; round < 24; round++) {
        scenario *s = &g_s;
        make(s, round % 3 == 0 ? 1 : 3, round % 2);
        if (s->nspan < 8)
            continue;
        for (size_t j = 0; j < s->nspan; j++)
            g_order[j] = j;
        for (size_t k = 0; k < s->nact; k++)
            g_act_order[k] = k;
        sp_events *ref = build(s, g_order, g_act_order, SIZE_MAX);
        check_answer(s, ref);
        for (int mode = 0; mode < 5; mode++) {
            for (size_t j = 0; j < s->nspan; j++)
                g_order[j] = j;
            for (size_t k = 0; k < s->nact; k++)
                g_act_order[k] = k;
            if (mode == 1) { /* the activity's order broken once */
                size_t k = 1 + rng() % (s->nact - 1);
                g_act_order[k] = k - 1;
                g_act_order[k - 1] = k;
            } else if (mode == 4) {
                for (size_t j = s->nact - 1; j > 0; j--) {
                    size_t k = rng() % (j + 1), t = g_act_order[j];
                    g_act_order[j] = g_act_order[k];
                    g_act_order[k] = t;
                }
            }
            size_t n = s->nspan;
            if (mode == 1) { /* one span moved before the span before it */
                size_t k = 1 + rng() % (n - 1);
                broken_inside += s->spans[k].req == s->spans[k - 1].req && rec_cmp(&s->spans[k - 1], &s->spans[k]) &&
                                 (s->spans[k].start != s->spans[k - 1].start || s->spans[k].end != s->spans[k - 1].end);
                broken_between += s->spans[k].req != s->spans[k - 1].req;
                g_order[k] = k - 1;
                g_order[k - 1] = k;
            } else if (mode == 2) { /* a middle span moved to the end */
                size_t k = rng() % (n - 1);
                for (size_t j = k; j + 1 < n; j++)
                    g_order[j] = j + 1;
                g_order[n - 1] = k;
            } else if (mode == 3) { /* the last two swapped */
                g_order[n - 1] = n - 2;
                g_order[n - 2] = n - 1;
            } else if (mode == 4) { /* shuffled */
                for (size_t j = n - 1; j > 0; j--) {
                    size_t k = rng() % (j + 1), t = g_order[j];
                    g_order[j] = g_order[k];
                    g_order[k] = t;
                }
            }
            for (int threads = 0; threads < 2; threads++) {
                sp_events *ev = build(s, g_order, g_act_order, threads ? 0 : SIZE_MAX);
                check_answer(s, ev);
                check_same(ref, ev);
                sp_events_destroy(ev);
                runs++;
            }
        }
        sp_events_destroy(ref);
    }
    /* the swaps must have broken the order inside a run and between two runs somewhere */
    CHECK(broken_inside > 0);
    CHECK(broken_between > 0);
    printf("test_finish_spans: %d finished sets checked (%d swaps inside a run, %d between runs)\n", runs,
           broken_inside, broken_between);
    return sp_test_done("finish_spans");
}
