/* The event model's appends (src/model/events_int.h): the inline append into room already there, the
 * in-place fill of an activity's or launch's slot (sp_ev_*_slot, then the commit) and the out-of-line
 * general route (sp_ev_add_*_grow: grow, then append) must leave the same arrays, the same counts and
 * the same `finished` flag. Two sets are filled with the same 20,000 spans, activities
 * and launches (random fields, every growth step of the arrays passed), one through sp_ev_add_span /
 * _activity / _launch, the other through the _grow functions alone, and compared byte for byte; the
 * expected contents are the records as given, in order. */
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "testlib.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

enum { N = 20000 };

static void fill(sp_events *ev, int general, uint64_t seed)
{
    rng = seed;
    for (size_t i = 0; i < N; i++) {
        uint64_t s = next_rand(), e = next_rand();
        uint32_t req = (uint32_t)next_rand(), stage = (uint32_t)next_rand();
        sp_ev_activity a;
        memset(&a, 0, sizeof a);
        a.file = (uint16_t)(next_rand() & 3);
        a.device = (uint32_t)next_rand();
        a.stream_ix = (uint32_t)next_rand(); /* the raw fields: nothing here reads them */
        a.correlation = next_rand();
        a.kind = (uint8_t)(next_rand() % 6);
        a.start_ns = next_rand();
        a.end_ns = next_rand();
        a.nb.bytes = next_rand(); /* the name's 4 bytes too */
        a.batch = (uint32_t)next_rand();
        sp_ev_launch l;
        memset(&l, 0, sizeof l);
        l.name = (sp_str)next_rand();
        l.correlation = next_rand();
        l.start_ns = next_rand();
        l.end_ns = next_rand();
        l.file = (uint32_t)(next_rand() & 3);
        /* the three arrays grow at different steps: spans every record, the others every second and
         * third one */
        ev->finished = true;
        if (general)
            CHECK(sp_ev_add_span_grow(ev, req, stage, s, e) == SP_OK);
        else
            CHECK(sp_ev_add_span(ev, req, stage, s, e) == SP_OK);
        CHECK(!ev->finished);
        if (i % 2 == 0) {
            ev->finished = true;
            if (general) {
                CHECK(sp_ev_add_activity_grow(ev, &a) == SP_OK);
            } else if (i % 4 == 0) {
                CHECK(sp_ev_add_activity(ev, &a) == SP_OK);
            } else { /* in place, field by field, as the native importer does */
                sp_status st;
                sp_ev_activity *x = sp_ev_activity_slot(ev, &st);
                CHECK(x != NULL && st == SP_OK);
                if (x) {
                    x->file = a.file;
                    x->device = a.device;
                    x->stream_ix = a.stream_ix;
                    x->correlation = a.correlation;
                    x->kind = a.kind;
                    x->start_ns = a.start_ns;
                    x->end_ns = a.end_ns;
                    x->nb.bytes = a.nb.bytes;
                    x->batch = a.batch;
                    CHECK(ev->finished); /* counted only by the commit */
                    sp_ev_commit_activity(ev);
                }
            }
            CHECK(!ev->finished);
        }
        if (i % 3 == 0) {
            ev->finished = true;
            if (general) {
                CHECK(sp_ev_add_launch_grow(ev, &l) == SP_OK);
            } else if (i % 2 == 0) {
                CHECK(sp_ev_add_launch(ev, &l) == SP_OK);
            } else {
                sp_status st;
                sp_ev_launch *x = sp_ev_launch_slot(ev, &st);
                CHECK(x != NULL && st == SP_OK);
                if (x) {
                    x->name = l.name;
                    x->correlation = l.correlation;
                    x->start_ns = l.start_ns;
                    x->end_ns = l.end_ns;
                    x->file = l.file;
                    sp_ev_commit_launch(ev);
                }
            }
            CHECK(!ev->finished);
        }
    }
}

int main(void)
{
    sp_events *fast = NULL, *slow = NULL;
    CHECK(sp_events_create(&fast) == SP_OK);
    CHECK(sp_events_create(&slow) == SP_OK);
    if (!fast || !slow)
        return sp_test_done("test_events_append");
    fill(fast, 0, 12345);
    fill(slow, 1, 12345);
    CHECK_EQ_U64(fast->n_spans, N);
    CHECK_EQ_U64(slow->n_spans, N);
    CHECK_EQ_U64(fast->n_acts, (N + 1) / 2);
    CHECK_EQ_U64(slow->n_acts, (N + 1) / 2);
    CHECK_EQ_U64(fast->n_launches, (N + 2) / 3);
    CHECK_EQ_U64(slow->n_launches, (N + 2) / 3);
    CHECK(memcmp(fast->spans, slow->spans, N * sizeof *fast->spans) == 0);
    CHECK(memcmp(fast->acts, slow->acts, fast->n_acts * sizeof *fast->acts) == 0);
    CHECK(memcmp(fast->launches, slow->launches, fast->n_launches * sizeof *fast->launches) == 0);

    /* the records as given, in order: the first and last of each, regenerated */
    rng = 12345;
    uint64_t s0 = next_rand(), e0 = next_rand();
    uint32_t req0 = (uint32_t)next_rand(), stage0 = (uint32_t)next_rand();
    CHECK_EQ_U64(fast->spans[0].start_ns, s0);
    CHECK_EQ_U64(fast->spans[0].end_ns, e0);
    CHECK_EQ_U64(fast->spans[0].req, req0);
    CHECK_EQ_U64(fast->spans[0].stage, stage0);

    sp_events_destroy(fast);
    sp_events_destroy(slow);

    /* The list of span stages (sp_events.span_stages): each distinct stage once, in first-use order,
     * whichever append made the span; stages 5, 13 and 21 share a slot of span_stage_seen; a 17th
     * distinct stage sets span_stages_over. Worked by hand. */
    for (int general = 0; general <= 1; general++) {
        sp_events *ev = NULL;
        CHECK(sp_events_create(&ev) == SP_OK);
        if (!ev)
            break;
        static const sp_str order[] = {5, 13, 5, 21, 13, 5, 0, 21, 0};
        for (size_t i = 0; i < sizeof order / sizeof *order; i++)
            CHECK((general ? sp_ev_add_span_grow(ev, 0, order[i], 1, 2) : sp_ev_add_span(ev, 0, order[i], 1, 2)) == SP_OK);
        CHECK_EQ_U64(ev->n_span_stages, 4);
        if (ev->n_span_stages == 4) {
            CHECK_EQ_U64(ev->span_stages[0], 5);
            CHECK_EQ_U64(ev->span_stages[1], 13);
            CHECK_EQ_U64(ev->span_stages[2], 21);
            CHECK_EQ_U64(ev->span_stages[3], 0);
        }
        CHECK(!ev->span_stages_over);
        for (sp_str st = 100; st < 112; st++) /* 16 distinct in all */
            CHECK(sp_ev_add_span(ev, 0, st, 1, 2) == SP_OK);
        CHECK_EQ_U64(ev->n_span_stages, SP_EV_SPAN_STAGES);
        CHECK(!ev->span_stages_over);
        CHECK(sp_ev_add_span(ev, 0, 5, 1, 2) == SP_OK);
        CHECK(!ev->span_stages_over);
        CHECK(sp_ev_add_span(ev, 0, SP_EV_NONE, 1, 2) == SP_OK); /* the 17th */
        CHECK(ev->span_stages_over);
        CHECK_EQ_U64(ev->n_span_stages, SP_EV_SPAN_STAGES);
        sp_events_destroy(ev);
    }
    return sp_test_done("test_events_append");
}
