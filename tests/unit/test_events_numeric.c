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
    CHECK_EQ_U64(ev->requests[r6].input_tokens, (uint64_t)-1);
    CHECK(sp_ev_request_index(ev, first) == SP_OK);
    CHECK(sp_ev_request_ref(ev, file, "6", 1, &idx) == SP_OK);
    CHECK_EQ_U64(idx, r6);
    CHECK_EQ_U64(ev->n_requests, first + 2);
    CHECK(sp_ev_request_set_id(ev, r5, "6", 1) == SP_ERR_INVALID); /* request 6 has that text */
    CHECK(sp_ev_request_set_id(ev, r5, "x5", 2) == SP_OK);
    CHECK(sp_ev_request_ref(ev, file, "x5", 2, &idx) == SP_OK);
    CHECK_EQ_U64(idx, r5);
    sp_events_destroy(ev);
    return sp_test_done("test_events_numeric");
}
