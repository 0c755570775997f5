/* Decimal strings interned by value (sp_strtab's side table) and the model's numeric request fast
 * path: the same sp_str whichever way a decimal text is interned, non-canonical texts ("007", "",
 * 2^64) left to the text table, the switch to mixed placement when values pile up, and requests made
 * by sp_ev_request_new_u64 found by text after sp_ev_request_index. Expected texts come from
 * snprintf("%llu"), a reference formatter independent of the one under test. */
#include <stdio.h>
#include <string.h>

#include "model/events_int.h"
#include "testlib.h"

int main(void)
{
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    sp_strtab *t = &ev->strings;
    char buf[32];

    sp_str a, b, c;
    CHECK(sp_str_intern(t, "123", 3, &a) == SP_OK);
    CHECK(sp_str_intern_u64(t, 123, &b) == SP_OK);
    CHECK_EQ_U64(a, b);
    CHECK_EQ_U64(sp_str_find(t, "123", 3), a);
    CHECK(strcmp(sp_str_get(t, a), "123") == 0);
    /* "0123" is not what 123 formats to: a different string, in the text table */
    CHECK(sp_str_intern(t, "0123", 4, &c) == SP_OK);
    CHECK(c != a);
    CHECK(strcmp(sp_str_get(t, c), "0123") == 0);
    CHECK_EQ_U64(sp_str_find(t, "0123", 4), c);
    /* the extremes: 0 and 2^64-1 are canonical; 2^64 overflows and stays text */
    CHECK(sp_str_intern_u64(t, 0, &a) == SP_OK);
    CHECK(strcmp(sp_str_get(t, a), "0") == 0);
    CHECK_EQ_U64(sp_str_find(t, "0", 1), a);
    CHECK(sp_str_intern_u64(t, UINT64_MAX, &a) == SP_OK);
    CHECK(strcmp(sp_str_get(t, a), "18446744073709551615") == 0);
    CHECK(sp_str_intern(t, "18446744073709551615", 20, &b) == SP_OK);
    CHECK_EQ_U64(a, b);
    CHECK(sp_str_intern(t, "18446744073709551616", 20, &b) == SP_OK);
    CHECK(a != b);
    CHECK(strcmp(sp_str_get(t, b), "18446744073709551616") == 0);
    CHECK_EQ_U64(sp_str_find(t, "18446744073709551616", 20), b);
    CHECK_EQ_U64(sp_str_find(t, "456", 3), SP_EV_NONE);
    CHECK_EQ_U64(sp_str_find(t, "12a", 3), SP_EV_NONE);

    /* 20000 sequential values, then 200 that share their low 20 bits (a pile-up that switches the
     * table to mixed placement): every one keeps its text and is found by it afterwards */
    for (uint64_t v = 1000; v < 21000; v++)
        CHECK(sp_str_intern_u64(t, v, &a) == SP_OK);
    CHECK(!t->num.mixed);
    for (uint64_t k = 1; k <= 200; k++)
        CHECK(sp_str_intern_u64(t, k << 20, &a) == SP_OK);
    CHECK(t->num.mixed);
    for (uint64_t v = 1000; v < 21000; v += 7) {
        int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
        sp_str s = sp_str_find(t, buf, (size_t)n);
        CHECK(s != SP_EV_NONE);
        CHECK(strcmp(sp_str_get(t, s), buf) == 0);
    }
    for (uint64_t k = 1; k <= 200; k++) {
        int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)(k << 20));
        CHECK(sp_str_intern_u64(t, k << 20, &a) == SP_OK);
        CHECK_EQ_U64(sp_str_find(t, buf, (size_t)n), a);
        CHECK(strcmp(sp_str_get(t, a), buf) == 0);
    }

    /* numeric requests: not in the text-id map until indexed, then found by text; set_id sees them */
    uint32_t file, r5, r6, idx;
    CHECK(sp_ev_add_file(ev, "n.sptrace", SP_FORMAT_NATIVE, &file) == SP_OK);
    size_t first = ev->n_requests;
    CHECK(sp_ev_request_new_u64(ev, file, 5, &r5) == SP_OK);
    CHECK(sp_ev_request_new_u64(ev, file, 6, &r6) == SP_OK);
    CHECK(strcmp(sp_ev_id_text(ev, &ev->requests[r5], buf, NULL), "5") == 0);
    CHECK(ev->requests[r5].id_num); /* kept as the number: no text interned */
    CHECK_EQ_U64(ev->requests[r6].arrival_ns, SP_TIME_NONE);
    CHECK_EQ_U64(sp_ev_req_input_tokens(ev, &ev->requests[r6]), (uint64_t)-1);
    CHECK(sp_ev_request_index(ev, first) == SP_OK);
    CHECK(sp_ev_request_ref(ev, file, "6", 1, &idx) == SP_OK);
    CHECK_EQ_U64(idx, r6);
    CHECK_EQ_U64(ev->n_requests, first + 2);
    CHECK(sp_ev_request_set_id(ev, r5, "6", 1) == SP_ERR_INVALID); /* request 6 has that text */
    CHECK(sp_ev_request_set_id(ev, r5, "x5", 2) == SP_OK);
    CHECK(sp_ev_request_ref(ev, file, "x5", 2, &idx) == SP_OK);
    CHECK_EQ_U64(idx, r5);
    sp_events_destroy(ev);

    /* sp_ev_request_add_u64 (inline while the array has room, sp_ev_request_new_u64 when it must
     * grow; the native reader's route for a new request) against sp_ev_request_new_u64 alone: 20,000 requests through every growth step, ids in
     * no order (the extremes, 2^32 - 1 and 2^32 around id_hi, then a 64-bit LCG's values), the two
     * arrays equal byte for byte, padding included; each record's fields as a fresh numeric request
     * has them (events_int.h, sp_ev_request), its text by snprintf */
    sp_events *e1, *e2;
    CHECK(sp_events_create(&e1) == SP_OK);
    CHECK(sp_events_create(&e2) == SP_OK);
    uint32_t f1, f2;
    CHECK(sp_ev_add_file(e1, "a.sptrace", SP_FORMAT_NATIVE, &f1) == SP_OK);
    CHECK(sp_ev_add_file(e2, "b.sptrace", SP_FORMAT_NATIVE, &f2) == SP_OK);
    CHECK(sp_ev_add_file(e1, "c.sptrace", SP_FORMAT_NATIVE, &f1) == SP_OK); /* file 1: not 0 */
    CHECK(sp_ev_add_file(e2, "d.sptrace", SP_FORMAT_NATIVE, &f2) == SP_OK);
    uint64_t x = 88172645463325252ull;
    char idt[SP_EV_ID_TEXT];
    size_t grew = 0, nreq = 20000;
    for (size_t i = 0; i < nreq; i++) {
        uint64_t id;
        if (i < 6) {
            static const uint64_t edge[6] = {0, UINT64_MAX, 4294967295ull, 4294967296ull, 1, 9};
            id = edge[i];
        } else {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            id = (i % 3) ? x : x >> (i % 61);
        }
        size_t cap = e1->cap_requests;
        e1->finished = e2->finished = true;
        uint32_t i1, i2;
        CHECK(sp_ev_request_add_u64(e1, f1, id, &i1) == SP_OK);
        CHECK(sp_ev_request_new_u64(e2, f2, id, &i2) == SP_OK);
        grew += e1->cap_requests != cap;
        CHECK_EQ_U64(i1, i);
        CHECK_EQ_U64(i2, i);
        CHECK(!e1->finished && !e2->finished);
        const sp_ev_request *q = &e1->requests[i1];
        int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)id);
        CHECK(strcmp(sp_ev_id_text(e1, q, idt, NULL), buf) == 0 && n > 0);
        CHECK(q->id_num && !q->has_record && q->file == f1);
        CHECK_EQ_U64(q->arrival_ns, SP_TIME_NONE);
        CHECK_EQ_U64(q->done_ns, SP_TIME_NONE);
        CHECK(q->in_tokens == -1 && q->cold == SP_EV_NONE && q->outcome == 0 && q->status == 0);
        CHECK(q->first_span == 0 && q->nspans == 0 && q->first_batch == 0);
    }
    CHECK(grew >= 3); /* both routes taken */
    CHECK_EQ_U64(e1->n_requests, nreq);
    CHECK_EQ_U64(e2->n_requests, nreq);
    CHECK(memcmp(e1->requests, e2->requests, nreq * sizeof *e1->requests) == 0);
    sp_events_destroy(e1);
    sp_events_destroy(e2);
    return sp_test_done("test_events_numeric");
}
