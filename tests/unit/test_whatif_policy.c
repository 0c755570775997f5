/* The observed policy: read from a trace's policy.* properties (serve's keys, synth's pad_multiple),
 * inferred only where the trace is silent and marked so, the first file's used when several files
 * differ (and said so), bad values rejected naming the file and key; and the canonical form that
 * makes equal policies compare equal. */
#include <string.h>

#include "servprof/whatif.h"
#include "testlib.h"

/* Two requests in one batch of 2 and one alone, ids r1..r3: enough for a workload. The largest batch
 * is 2; the single request's batch is smaller, so its head wait (queue span 1 ms -> 4 ms: 3 ms) is
 * the inferred delay. */
#define BODY                                                                                            \
    "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":0,\"done_ns\":3000000,\"input_tokens\":10}\n"      \
    "{\"ev\":\"request\",\"id\":\"r2\",\"arrival_ns\":100000,\"done_ns\":3000000,\"input_tokens\":20}\n" \
    "{\"ev\":\"request\",\"id\":\"r3\",\"arrival_ns\":1000000,\"done_ns\":6000000,\"input_tokens\":300}\n" \
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"queue\",\"start_ns\":0,\"end_ns\":1000000}\n"           \
    "{\"ev\":\"stage\",\"id\":\"r2\",\"stage\":\"queue\",\"start_ns\":100000,\"end_ns\":1000000}\n"      \
    "{\"ev\":\"stage\",\"id\":\"r3\",\"stage\":\"queue\",\"start_ns\":1000000,\"end_ns\":4000000}\n"    \
    "{\"ev\":\"batch\",\"batch\":1,\"requests\":[\"r1\",\"r2\"],\"start_ns\":1000000,\"end_ns\":3000000," \
    "\"effective_tokens\":30,\"padded_tokens\":40}\n"                                                  \
    "{\"ev\":\"batch\",\"batch\":2,\"requests\":[\"r3\"],\"start_ns\":4000000,\"end_ns\":6000000,"       \
    "\"effective_tokens\":300,\"padded_tokens\":300}\n"

static const char meta_serve[] =
    "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"properties\":{\"service\":\"servprof-serve\","
    "\"policy.max_batch\":\"16\",\"policy.max_queue_delay_ns\":\"2000000\",\"policy.workers\":\"2\","
    "\"policy.queue_capacity\":\"512\",\"policy.max_len\":\"384\",\"policy.pad\":\"buckets\","
    "\"policy.buckets\":\"32,64,128\"}}\n";

static sp_whatif_observed observed_of(const char *text, sp_status want)
{
    sp_events *ev = sp_test_load_jsonl(text);
    sp_whatif_observed o;
    memset(&o, 0xab, sizeof o);
    char err[512] = "";
    CHECK(sp_whatif_observed_from_events(ev, &o, err, sizeof err) == want);
    if (want != SP_OK) {
        /* the message names the file and the key */
        CHECK(strstr(err, "test.jsonl") != NULL);
        CHECK(strstr(err, "policy.") != NULL);
    }
    sp_events_destroy(ev);
    return o;
}

static void from_serve_properties(void)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", meta_serve, BODY);
    sp_whatif_observed o = observed_of(text, SP_OK);
    CHECK_EQ_U64(o.file, 0);
    CHECK(strcmp(o.source, "test.jsonl") == 0);
    CHECK_EQ_U64(o.policy.max_batch, 16);
    CHECK_EQ_U64(o.policy.max_delay_ns, 2000000);
    CHECK_EQ_U64(o.policy.instances, 2);
    CHECK_EQ_U64(o.policy.queue_capacity, 512);
    CHECK_EQ_U64(o.policy.max_len, 384);
    CHECK(o.policy.pad == SP_WHATIF_PAD_BUCKETS);
    CHECK(o.policy.buckets[0] == 32 && o.policy.buckets[2] == 128 && o.policy.buckets[3] == 0);
    for (int k = 0; k < SP_WHATIF_SET_COUNT; k++)
        CHECK(o.origin[k] == SP_WHATIF_FROM_TRACE);
    CHECK(sp_whatif_observed_from_trace(&o));
    CHECK(!o.files_differ);

    /* inference leaves what the trace said alone, even where the profile suggests otherwise (the
     * largest batch here is 2, the trace says 16) */
    sp_events *ev = sp_test_load_jsonl(text);
    sp_whatif_workload w;
    char err[256];
    CHECK(sp_whatif_workload_from_events(ev, 0, &w, err, sizeof err) == SP_OK);
    sp_whatif_observed_infer(&o, &w);
    CHECK_EQ_U64(o.policy.max_batch, 16);
    CHECK_EQ_U64(o.policy.max_delay_ns, 2000000);
    CHECK(o.origin[SP_WHATIF_SET_MAX_BATCH] == SP_WHATIF_FROM_TRACE);
    sp_whatif_workload_clear(&w);
    sp_events_destroy(ev);
}

static void inferred_without_properties(void)
{
    sp_whatif_observed o = observed_of("{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n" BODY, SP_OK);
    CHECK_EQ_U64(o.file, -1);
    CHECK(o.source[0] == '\0');
    CHECK(!sp_whatif_observed_from_trace(&o));
    for (int k = 0; k < SP_WHATIF_SET_COUNT; k++)
        CHECK(o.origin[k] == SP_WHATIF_FROM_DEFAULT);
    sp_events *ev = sp_test_load_jsonl(BODY);
    sp_whatif_workload w;
    char err[256];
    CHECK(sp_whatif_workload_from_events(ev, 0, &w, err, sizeof err) == SP_OK);
    /* r3 (300 tokens) is the longest input; at most two requests wait at once (r1 and r2) */
    CHECK_EQ_U64(w.max_tokens_seen, 300);
    CHECK_EQ_U64(w.max_queued_seen, 2);
    sp_whatif_observed_infer(&o, &w);
    CHECK_EQ_U64(o.policy.max_batch, 2);
    CHECK(o.origin[SP_WHATIF_SET_MAX_BATCH] == SP_WHATIF_FROM_INFERRED);
    CHECK_EQ_U64(o.policy.max_delay_ns, 3000000);
    CHECK(o.origin[SP_WHATIF_SET_DELAY] == SP_WHATIF_FROM_INFERRED);
    /* longer than the default 128: the service took at least 300 tokens */
    CHECK_EQ_U64(o.policy.max_len, 300);
    CHECK(o.origin[SP_WHATIF_SET_MAX_LEN] == SP_WHATIF_FROM_INFERRED);
    /* two waiting is under the default capacity (256): the default stays, assumed */
    CHECK_EQ_U64(o.policy.queue_capacity, 256);
    CHECK(o.origin[SP_WHATIF_SET_QUEUE_CAPACITY] == SP_WHATIF_FROM_DEFAULT);
    CHECK(o.origin[SP_WHATIF_SET_PAD] == SP_WHATIF_FROM_DEFAULT);
    CHECK(o.policy.pad == SP_WHATIF_PAD_LONGEST);
    sp_whatif_workload_clear(&w);
    sp_events_destroy(ev);
}

static void synth_padding_rule(void)
{
    /* servprof synth writes pad_multiple and no pad: padding to multiples; 1 is plain longest */
    sp_whatif_observed o = observed_of(
        "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"properties\":{\"policy.max_batch\":\"16\","
        "\"policy.max_queue_delay_ns\":\"4000000\",\"policy.workers\":\"1\",\"policy.pad_multiple\":\"64\"}}\n" BODY,
        SP_OK);
    CHECK(o.policy.pad == SP_WHATIF_PAD_MULTIPLE && o.policy.pad_to == 64);
    CHECK(sp_whatif_observed_from_trace(&o));
    o = observed_of("{\"ev\":\"meta\",\"format\":\"servprof.events/1\","
                    "\"properties\":{\"policy.pad_multiple\":1}}\n" BODY,
                    SP_OK);
    CHECK(o.policy.pad == SP_WHATIF_PAD_LONGEST && o.policy.pad_to == 0);
    CHECK(o.origin[SP_WHATIF_SET_PAD] == SP_WHATIF_FROM_TRACE);
    /* a partial policy (no max batch, no delay) is not enough for a prediction */
    CHECK(!sp_whatif_observed_from_trace(&o));
}

static void bad_values(void)
{
    static const char *const props[] = {
        "\"policy.max_batch\":\"sixteen\"",
        "\"policy.max_batch\":\"0\"",
        "\"policy.max_batch\":\"-4\"",
        "\"policy.max_queue_delay_ns\":\"2e6\"",
        "\"policy.workers\":\"0\"",
        "\"policy.pad\":\"shortest\"",
        "\"policy.pad\":\"static\"",                                  /* no pad_to */
        "\"policy.pad\":\"buckets\",\"policy.buckets\":\"64,32\"",    /* not ascending */
        "\"policy.pad\":\"buckets\"",                                 /* no bounds */
        "\"policy.pad_multiple\":\"0\"",
    };
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
        char text[4096];
        snprintf(text, sizeof text, "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"properties\":{%s}}\n%s",
                 props[i], BODY);
        observed_of(text, SP_ERR_PARSE);
    }
}

static void several_files(void)
{
    sp_events *ev;
    char err[512];
    CHECK(sp_events_create(&ev) == SP_OK);
    /* a client trace without a policy first, then two replicas whose max batch differs */
    static const char client[] = "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n" BODY;
    static const char a[] = "{\"ev\":\"meta\",\"format\":\"servprof.events/1\","
                            "\"properties\":{\"policy.max_batch\":\"16\","
                            "\"policy.max_queue_delay_ns\":\"2000000\",\"policy.pad\":\"longest\"}}\n" BODY;
    static const char b[] = "{\"ev\":\"meta\",\"format\":\"servprof.events/1\","
                            "\"properties\":{\"policy.max_batch\":\"8\","
                            "\"policy.max_queue_delay_ns\":\"2000000\",\"policy.pad\":\"longest\"}}\n" BODY;
    CHECK(sp_events_load_buffer(ev, "client.jsonl", client, strlen(client), NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "a.jsonl", a, strlen(a), NULL, err, sizeof err) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "b.jsonl", b, strlen(b), NULL, err, sizeof err) == SP_OK);
    sp_whatif_observed o;
    CHECK(sp_whatif_observed_from_events(ev, &o, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(o.file, 1);
    CHECK(strcmp(o.source, "a.jsonl") == 0);
    CHECK_EQ_U64(o.policy.max_batch, 16);
    CHECK(o.files_differ);
    CHECK(strstr(o.differ, "policy.max_batch is 16 in a.jsonl but 8 in b.jsonl") != NULL);
    sp_events_destroy(ev);
}

static void canonical_form(void)
{
    sp_whatif_policy a, b;
    sp_whatif_policy_init(&a);
    b = a;
    char err[128];
    /* multiple:1 pads exactly like longest */
    CHECK(sp_whatif_parse_pad("multiple:1", &b, err, sizeof err) == SP_OK);
    CHECK(sp_whatif_policy_equal(&a, &b));
    CHECK_EQ_U64(sp_whatif_policy_diff(&a, &b), 0);
    /* a stale pad_to under longest does not make a different policy */
    b = a;
    b.pad_to = 77;
    CHECK(sp_whatif_policy_equal(&a, &b));
    /* real differences, one bit per setting */
    CHECK(sp_whatif_parse_pad("multiple:64", &b, err, sizeof err) == SP_OK);
    CHECK(!sp_whatif_policy_equal(&a, &b));
    CHECK_EQ_U64(sp_whatif_policy_diff(&a, &b), 1u << SP_WHATIF_SET_PAD);
    b = a;
    b.max_delay_ns = 500000;
    b.instances = 2;
    CHECK_EQ_U64(sp_whatif_policy_diff(&a, &b), (1u << SP_WHATIF_SET_DELAY) | (1u << SP_WHATIF_SET_INSTANCES));
    char buf[128];
    CHECK(strcmp(sp_whatif_pad_str(&b, buf, sizeof buf), "longest") == 0);
    CHECK(sp_whatif_parse_pad("multiple:64", &b, err, sizeof err) == SP_OK);
    CHECK(strcmp(sp_whatif_pad_str(&b, buf, sizeof buf), "multiple:64") == 0);
    CHECK(sp_whatif_parse_pad("multiple:0", &b, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strcmp(sp_whatif_setting_str(SP_WHATIF_SET_DELAY), "max-queue-delay") == 0);
    CHECK(strcmp(sp_whatif_origin_str(SP_WHATIF_FROM_INFERRED), "inferred") == 0);
}

int main(void)
{
    from_serve_properties();
    inferred_without_properties();
    synth_padding_rule();
    bad_values();
    several_files();
    canonical_form();
    return sp_test_done("test_whatif_policy");
}
