/* Trace properties (servprof.h, docs/native-format.md "Properties"): set through the recorder, read
 * back from the native trace; given in a JSONL meta line; malformed ones rejected with a message
 * naming the line or byte offset. */
#include "trace_testutil.h"

#include "format/native_format.h"

static void check_str(const char *got, const char *want)
{
    CHECK(got != NULL && want != NULL && strcmp(got, want) == 0);
    if (!got || !want || strcmp(got, want) != 0)
        fprintf(stderr, "  got \"%s\", want \"%s\"\n", got ? got : "(null)", want ? want : "(null)");
}

static void recorder_round_trip(void)
{
    char path[256];
    tt_path(path, "props");
    sp_recorder *rec;
    CHECK(sp_recorder_set_property(NULL, "device", "cpu") == SP_ERR_INVALID);
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    CHECK(sp_recorder_set_property(rec, "device", "cpu") == SP_OK);
    CHECK(sp_recorder_set_property(rec, "policy.max_batch", "8") == SP_OK);
    CHECK(sp_recorder_set_property(rec, "empty", "") == SP_OK);
    sp_record_request(rec, 1, 100, 200, 3);
    CHECK(sp_recorder_flush(rec) == SP_OK);
    /* set again after records went out: the later value wins for readers */
    CHECK(sp_recorder_set_property(rec, "policy.max_batch", "16") == SP_OK);
    /* bad keys and values */
    CHECK(sp_recorder_set_property(rec, "", "x") == SP_ERR_INVALID);
    CHECK(sp_recorder_set_property(rec, "has space", "x") == SP_ERR_INVALID);
    CHECK(sp_recorder_set_property(rec, "k\"q", "x") == SP_ERR_INVALID);
    char big[SP_PROP_MAX_VALUE + 2];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(sp_recorder_set_property(rec, "big", big) == SP_ERR_INVALID);
    big[SP_PROP_MAX_VALUE] = '\0'; /* exactly the limit */
    CHECK(sp_recorder_set_property(rec, "big", big) == SP_OK);
    char key[SP_PROP_MAX_KEY + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    CHECK(sp_recorder_set_property(rec, key, "x") == SP_ERR_INVALID);
    /* the key cap: 4 keys so far; 60 more fit, the 65th does not */
    int ok = 0;
    for (int i = 0; i < 61; i++) {
        char k[32];
        snprintf(k, sizeof k, "extra.%d", i);
        ok += sp_recorder_set_property(rec, k, "1") == SP_OK;
    }
    CHECK_EQ_U64(ok, SP_PROP_MAX_KEYS - 4);
    CHECK(sp_recorder_set_property(rec, "device", "cuda") == SP_OK); /* replacing still works */
    CHECK(sp_recorder_close(rec) == SP_OK);
    CHECK(sp_recorder_set_property(rec, "device", "cpu") == SP_ERR_STATE);

    sp_events *ev = tt_load(path);
    check_str(sp_events_property(ev, 0, "device"), "cuda");
    check_str(sp_events_property(ev, 0, "policy.max_batch"), "16");
    check_str(sp_events_property(ev, 0, "empty"), "");
    check_str(sp_events_property(ev, 0, "big"), big);
    check_str(sp_events_property(ev, 0, "extra.59"), "1");
    CHECK(sp_events_property(ev, 0, "extra.60") == NULL);
    CHECK(sp_events_property(ev, 0, "nope") == NULL);
    CHECK(sp_events_property(ev, 1, "device") == NULL);
    sp_events_destroy(ev);

    /* a new recorder starts without the old one's properties */
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    CHECK(sp_recorder_close(rec) == SP_OK);
    ev = tt_load(path);
    CHECK(sp_events_property(ev, 0, "device") == NULL);
    sp_events_destroy(ev);
    unlink(path);
}

static sp_status load_jsonl(const char *text, char *err, size_t errlen, sp_events **out)
{
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    sp_status st = sp_events_load_buffer(ev, "props.jsonl", text, strlen(text), NULL, err, errlen);
    *out = ev;
    return st;
}

static void jsonl_properties(void)
{
    char err[512];
    sp_events *ev;
    const char *good =
        "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"properties\":{\"device\":\"cpu\",\"policy.max_batch\":16,"
        "\"flag\":true,\"skip\":null,\"policy.pad\":\"bu\\u0063kets\"}}\n"
        "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":1,\"done_ns\":2}\n";
    CHECK(load_jsonl(good, err, sizeof err, &ev) == SP_OK);
    check_str(sp_events_property(ev, 0, "device"), "cpu");
    check_str(sp_events_property(ev, 0, "policy.max_batch"), "16"); /* a number keeps its JSON text */
    check_str(sp_events_property(ev, 0, "flag"), "true");
    check_str(sp_events_property(ev, 0, "policy.pad"), "buckets"); /* escapes decoded */
    CHECK(sp_events_property(ev, 0, "skip") == NULL);
    sp_events_destroy(ev);

    static const struct {
        const char *line;
        const char *msg;
    } bad[] = {
        {"{\"ev\":\"meta\",\"properties\":[1]}\n", "must be an object"},
        {"{\"ev\":\"meta\",\"properties\":{\"a b\":\"x\"}}\n", "keys must be"},
        {"{\"ev\":\"meta\",\"properties\":{\"a\":{\"b\":1}}}\n", "values must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(load_jsonl(bad[i].line, err, sizeof err, &ev) == SP_ERR_PARSE);
        CHECK(strstr(err, "props.jsonl:1:") && strstr(err, bad[i].msg));
        if (!strstr(err, bad[i].msg))
            fprintf(stderr, "  message: %s\n", err);
        sp_events_destroy(ev);
    }
}

/* A property record with a key that is not [A-Za-z0-9._-] is malformed: the error names its byte. */
static void native_malformed(void)
{
    unsigned char buf[256];
    memset(buf, 0, sizeof buf);
    memcpy(buf, SP_NATIVE_MAGIC, 8);
    sp_wr32(buf + 8, SP_NATIVE_VERSION);
    sp_wr32(buf + 12, SP_NATIVE_FILE_HEADER);
    unsigned char *blk = buf + 16, *p = blk + SP_NATIVE_BLOCK_HEADER;
    /* key "a b" (3 bytes, padded to 8), value "x" (padded to 8): 16 + 8 + 8 bytes */
    sp_wr64(p, sp_rec_header(SP_REC_PROP, 32, 3));
    sp_wr64(p + 8, 1);
    memcpy(p + 16, "a b", 3);
    memcpy(p + 24, "x", 1);
    sp_wr32(blk, SP_NATIVE_BLOCK_MAGIC);
    sp_wr32(blk + 4, 32);
    sp_wr32(blk + 8, 1);
    uint32_t crc = sp_crc32(0, blk, 12);
    sp_wr32(blk + 12, sp_crc32(crc, p, 32));
    size_t len = 16 + SP_NATIVE_BLOCK_HEADER + 32;
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    char err[512] = "";
    CHECK(sp_events_load_buffer(ev, "bad.sptrace", buf, len, NULL, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "bad.sptrace: byte 32") && strstr(err, "property"));
    if (!strstr(err, "byte 32"))
        fprintf(stderr, "  message: %s\n", err);
    sp_events_destroy(ev);
    /* the same with a good key loads */
    memcpy(p + 16, "a_b", 3);
    crc = sp_crc32(0, blk, 12);
    sp_wr32(blk + 12, sp_crc32(crc, p, 32));
    CHECK(sp_events_create(&ev) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "good.sptrace", buf, len, NULL, err, sizeof err) == SP_OK);
    check_str(sp_events_property(ev, 0, "a_b"), "x");
    sp_events_destroy(ev);
}

int main(void)
{
    recorder_round_trip();
    jsonl_properties();
    native_malformed();
    return sp_test_done("test_trace_properties");
}
