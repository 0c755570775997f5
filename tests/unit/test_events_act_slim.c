/* The 48-byte device activity record (src/model/events_int.h, sp_ev_activity; docs/analysis.md
 * section 8, "Memory"): what it keeps in less room comes back exact.
 * - Streams are indexes into the set's table of distinct values: JSONL streams at the ends of the
 *   int64 range, one past 32 bits, -1 and 0, each twice and not in a row, read back through the event
 *   view as the trace wrote them, one table entry per distinct value.
 * - A kernel's name and a copy's byte count share 8 bytes: a copy of INT64_MAX bytes and a kernel's
 *   name read back exact, a copy has no name and a kernel no byte count. Kineto keeps a byte count
 *   on copies and memsets only: a kernel's "bytes" arg reads as 0, a memcpy's as written.
 * - The file takes 16 bits: a set takes SP_EV_MAX_FILES (65,536) files and refuses the next, and a
 *   load past it fails with a message naming the file and the limit (it is never cut to 16 bits).
 * The expected values are the trace text's own. */
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "model/events_view.h"
#include "testlib.h"

static const char *k_jsonl =
    "{\"ev\":\"kernel\",\"name\":\"k_min\",\"stream\":-9223372036854775808,\"start_ns\":100,\"end_ns\":200}\n"
    "{\"ev\":\"kernel\",\"name\":\"k_max\",\"stream\":9223372036854775807,\"start_ns\":300,\"end_ns\":400}\n"
    "{\"ev\":\"copy\",\"kind\":\"h2d\",\"bytes\":9223372036854775807,\"stream\":4294967296,"
    "\"start_ns\":500,\"end_ns\":600}\n"
    "{\"ev\":\"kernel\",\"name\":\"k_minus\",\"stream\":-1,\"start_ns\":700,\"end_ns\":800}\n"
    "{\"ev\":\"copy\",\"kind\":\"memset\",\"bytes\":0,\"stream\":0,\"start_ns\":900,\"end_ns\":1000}\n"
    "{\"ev\":\"kernel\",\"name\":\"k_min2\",\"stream\":-9223372036854775808,\"start_ns\":1100,\"end_ns\":1200}\n"
    "{\"ev\":\"copy\",\"kind\":\"d2h\",\"bytes\":4097,\"stream\":9223372036854775807,\"start_ns\":1300,"
    "\"end_ns\":1400}\n"
    "{\"ev\":\"kernel\",\"name\":\"k_big\",\"stream\":4294967296,\"start_ns\":1500,\"end_ns\":1600}\n"
    "{\"ev\":\"kernel\",\"name\":\"k_minus2\",\"stream\":-1,\"start_ns\":1700,\"end_ns\":1800}\n"
    "{\"ev\":\"kernel\",\"name\":\"k_zero\",\"stream\":0,\"start_ns\":1900,\"end_ns\":2000}\n";

static void test_jsonl_exact(void)
{
    static const struct {
        const char *name;
        int64_t stream;
        uint64_t bytes;
        sp_act_kind kind;
    } want[] = {
        {"k_min", INT64_MIN, 0, SP_ACT_KERNEL},          {"k_max", INT64_MAX, 0, SP_ACT_KERNEL},
        {"", 4294967296ll, INT64_MAX, SP_ACT_H2D},       {"k_minus", -1, 0, SP_ACT_KERNEL},
        {"", 0, 0, SP_ACT_MEMSET},                       {"k_min2", INT64_MIN, 0, SP_ACT_KERNEL},
        {"", INT64_MAX, 4097, SP_ACT_D2H},               {"k_big", 4294967296ll, 0, SP_ACT_KERNEL},
        {"k_minus2", -1, 0, SP_ACT_KERNEL},              {"k_zero", 0, 0, SP_ACT_KERNEL},
    };
    size_t n = sizeof want / sizeof want[0];
    sp_events *ev = NULL;
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[512] = "";
    sp_status st = sp_events_load_buffer(ev, "streams.jsonl", k_jsonl, strlen(k_jsonl), NULL, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "load failed: %s\n", err);
    CHECK(st == SP_OK);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(sp_view_activities(ev), n);
    CHECK_EQ_U64(ev->n_streams, 5); /* INT64_MIN, INT64_MAX, 2^32, -1, 0 */
    for (size_t i = 0; i < n && i < sp_view_activities(ev); i++) {
        sp_view_activity a;
        sp_view_activity_at(ev, i, &a);
        CHECK(strcmp(a.name, want[i].name) == 0);
        CHECK(a.stream == want[i].stream);
        CHECK_EQ_U64(a.bytes, want[i].bytes);
        CHECK_EQ_U64(a.kind, want[i].kind);
    }
    sp_events_destroy(ev);
}

static void test_kineto_bytes(void)
{
    const char *t = "{\"traceEvents\":["
                    "{\"ph\":\"X\",\"cat\":\"kernel\",\"name\":\"k\",\"pid\":0,\"tid\":7,\"ts\":1,\"dur\":1,"
                    "\"args\":{\"stream\":7,\"device\":0,\"bytes\":512}},"
                    "{\"ph\":\"X\",\"cat\":\"gpu_memcpy\",\"name\":\"Memcpy HtoD (Pageable -> Device)\",\"pid\":0,"
                    "\"tid\":7,\"ts\":3,\"dur\":1,\"args\":{\"stream\":7,\"device\":0,\"bytes\":18446744073709551}}"
                    "]}";
    sp_events *ev = NULL;
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[512] = "";
    sp_status st = sp_events_load_buffer(ev, "t.json", t, strlen(t), NULL, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "load failed: %s\n", err);
    CHECK(st == SP_OK);
    CHECK_EQ_U64(ev->n_acts, 2);
    if (ev->n_acts == 2) {
        CHECK_EQ_U64(ev->acts[0].kind, SP_ACT_KERNEL);
        CHECK_EQ_U64(sp_ev_act_bytes(&ev->acts[0]), 0);
        CHECK(strcmp(sp_str_get(&ev->strings, sp_ev_act_name(&ev->acts[0])), "k") == 0);
        CHECK_EQ_U64(ev->acts[1].kind, SP_ACT_H2D);
        CHECK_EQ_U64(sp_ev_act_bytes(&ev->acts[1]), 18446744073709551ull);
        CHECK_EQ_U64(sp_ev_act_name(&ev->acts[1]), SP_EV_NONE);
        CHECK(sp_ev_act_stream(ev, &ev->acts[1]) == 7);
    }
    sp_events_destroy(ev);
}

static void test_file_limit(void)
{
    sp_events *ev = NULL;
    CHECK(sp_events_create(&ev) == SP_OK);
    uint32_t f = 0;
    sp_status st = SP_OK;
    for (uint32_t i = 0; i < SP_EV_MAX_FILES && st == SP_OK; i++)
        st = sp_ev_add_file(ev, "f.jsonl", SP_FORMAT_JSONL, &f);
    CHECK(st == SP_OK);
    CHECK_EQ_U64(f, SP_EV_MAX_FILES - 1);
    CHECK_EQ_U64(f, UINT16_MAX); /* the last file an activity's 16 bits hold */
    CHECK(sp_ev_add_file(ev, "g.jsonl", SP_FORMAT_JSONL, &f) == SP_ERR_LIMIT);
    CHECK_EQ_U64(ev->n_files, SP_EV_MAX_FILES);
    char err[512] = "";
    st = sp_events_load_buffer(ev, "one_too_many.jsonl", k_jsonl, strlen(k_jsonl), NULL, err, sizeof err);
    CHECK(st == SP_ERR_LIMIT);
    CHECK(strstr(err, "one_too_many.jsonl") != NULL);
    CHECK(strstr(err, "more than 65536 files") != NULL);
    CHECK_EQ_U64(ev->n_files, SP_EV_MAX_FILES);
    CHECK_EQ_U64(ev->n_acts, 0);
    sp_events_destroy(ev);
}

int main(void)
{
    CHECK_EQ_U64(sizeof(sp_ev_activity), 48);
    test_jsonl_exact();
    test_kineto_bytes();
    test_file_limit();
    return sp_test_done("test_events_act_slim");
}
