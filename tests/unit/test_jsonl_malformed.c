/* Malformed servprof.events/1 input: each bad line, placed as line 3 between good lines, fails the
 * strict load with SP_ERR_PARSE and "test.jsonl:3: <what>"; under lenient the same input loads with
 * exactly that line skipped and counted. Also: over-long lines, unsupported versions, empty input. */
#include <stdlib.h>
#include <string.h>

#include "import_testutil.h"

static const char *const g_head =
    "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n"
    "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":10,\"done_ns\":100}\n";
static const char *const g_tail = "\n{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"queue\",\"start_ns\":10,\"end_ns\":20}\n";

static sp_status load(const char *text, size_t len, int lenient, sp_format format, sp_events **out, char *err,
                      size_t errlen)
{
    return it_load_buffer(format, "test.jsonl", text, len, lenient, out, err, errlen);
}

static void bad_line(const char *line, sp_status want, const char *what)
{
    size_t n = strlen(g_head) + strlen(line) + strlen(g_tail);
    char *text = malloc(n + 1);
    snprintf(text, n + 1, "%s%s%s", g_head, line, g_tail);
    char err[512], prefix[600];
    snprintf(prefix, sizeof prefix, "test.jsonl:3: %s", what);
    sp_events *ev;
    sp_status st = load(text, n, 0, SP_FORMAT_JSONL, &ev, err, sizeof err);
    sp_test_checks++;
    if (st != want || strncmp(err, prefix, strlen(prefix)) != 0) {
        sp_test_failures++;
        fprintf(stderr, "line: %s\n  got status %d: %s\n  wanted %d: %s\n", line, (int)st, err, (int)want, prefix);
    }
    CHECK_EQ_U64(ev->n_requests, 0);   /* rolled back */
    sp_events_destroy(ev);
    /* lenient: the bad line is skipped and counted; lines 2 and 4 load */
    st = load(text, n, 1, SP_FORMAT_JSONL, &ev, err, sizeof err);
    CHECK(st == SP_OK);
    if (st == SP_OK) {
        CHECK_EQ_U64(ev->files[0].skipped, 1);
        CHECK_EQ_U64(ev->n_spans, 1);
        CHECK(ev->n_requests >= 1 && ev->requests[0].arrival_ns == 10);
        CHECK(err[0] == '\0');
    }
    sp_events_destroy(ev);
    free(text);
}

static void test_bad_lines(void)
{
    const sp_status P = SP_ERR_PARSE;
    /* required keys, types, ranges */
    bad_line("{\"ev\":\"request\",\"arrival_ns\":1,\"done_ns\":2}", P, "missing \"id\" (expected a string or an integer)");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":\"1\",\"done_ns\":2}", P,
             "\"arrival_ns\" must be an integer time in ns, not a string");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":-1,\"done_ns\":2}", P, "\"arrival_ns\" is negative: -1");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":9223372036854775808,\"done_ns\":2}", P,
             "\"arrival_ns\" is out of range: 9223372036854775808");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":1e400,\"done_ns\":2}", P, "\"arrival_ns\" is out of range");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":1.5,\"done_ns\":2}", P,
             "\"arrival_ns\" must be an integer time in ns, not 1.5");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":null,\"done_ns\":2}", P,
             "\"arrival_ns\" must be an integer time in ns, not null");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":[1],\"done_ns\":2}", P,
             "\"arrival_ns\" must be an integer time in ns, not an array");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":5,\"done_ns\":2}", P, "\"done_ns\" (2) is before \"arrival_ns\" (5)");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":1,\"done_ns\":2,\"input_tokens\":-4}", P,
             "\"input_tokens\" is negative");
    bad_line("{\"ev\":\"request\",\"id\":1.5,\"arrival_ns\":1,\"done_ns\":2}", P,
             "\"id\" must be a string or an integer, not a number");
    bad_line("{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":10,\"done_ns\":101}", P,
             "duplicate request record for id \"r1\" with different times");
    bad_line("{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"q\",\"start_ns\":30,\"end_ns\":20}", P,
             "\"end_ns\" (20) is before \"start_ns\" (30)");
    bad_line("{\"ev\":\"stage\",\"id\":\"\",\"stage\":\"q\",\"start_ns\":1,\"end_ns\":2}", P, "\"id\" is empty");
    bad_line("{\"ev\":\"stage\",\"id\":\"a\\u0000b\",\"stage\":\"q\",\"start_ns\":1,\"end_ns\":2}", P,
             "\"id\" contains a NUL character");
    bad_line("{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":7,\"start_ns\":1,\"end_ns\":2}", P,
             "\"stage\" must be a string, not an integer");
    bad_line("{\"ev\":\"batch\",\"batch\":1,\"requests\":\"r1\",\"start_ns\":1,\"end_ns\":2}", P,
             "\"requests\" must be an array of request ids, not a string");
    bad_line("{\"ev\":\"batch\",\"batch\":1,\"start_ns\":1,\"end_ns\":2}", P, "missing \"requests\"");
    bad_line("{\"ev\":\"batch\",\"batch\":1,\"requests\":[{\"x\":1}],\"start_ns\":1,\"end_ns\":2}", P,
             "\"requests\" must hold request ids");
    bad_line("{\"ev\":\"batch\",\"batch\":1,\"requests\":[true],\"start_ns\":1,\"end_ns\":2}", P,
             "\"requests\" must hold request ids");
    bad_line("{\"ev\":\"batch\",\"batch\":\"7\",\"requests\":[],\"start_ns\":1,\"end_ns\":2}", P,
             "\"batch\" must be an integer batch id, not a string");
    bad_line("{\"ev\":\"batch\",\"batch\":1,\"requests\":[\"r1\"],\"start_ns\":1,\"end_ns\":2,"
             "\"effective_tokens\":9,\"padded_tokens\":8}", P, "\"effective_tokens\" (9) is more than \"padded_tokens\" (8)");
    bad_line("{\"ev\":\"kernel\",\"name\":\"k\",\"start_ns\":1,\"end_ns\":2}", P, "missing \"stream\"");
    bad_line("{\"ev\":\"kernel\",\"name\":\"k\",\"stream\":0,\"device\":-1,\"start_ns\":1,\"end_ns\":2}", P,
             "\"device\" is negative");
    bad_line("{\"ev\":\"kernel\",\"stream\":0,\"start_ns\":1,\"end_ns\":2}", P, "missing \"name\"");
    bad_line("{\"ev\":\"copy\",\"kind\":\"h3d\",\"bytes\":1,\"start_ns\":1,\"end_ns\":2}", P,
             "\"kind\" is \"h3d\" (expected h2d, d2h, d2d, memset or other)");
    bad_line("{\"ev\":\"copy\",\"kind\":\"h2d\",\"start_ns\":1,\"end_ns\":2}", P, "missing \"bytes\"");
    bad_line("{\"ev\":\"launch\",\"name\":\"l\",\"start_ns\":1,\"end_ns\":2}", P, "missing \"correlation\"");
    bad_line("{\"ev\":\"client\",\"id\":\"a\",\"intended_ns\":1,\"send_ns\":5,\"done_ns\":3,\"status\":200}", P,
             "\"done_ns\" (3) is before \"send_ns\" (5)");
    bad_line("{\"ev\":\"client\",\"id\":\"a\",\"intended_ns\":1,\"send_ns\":5,\"done_ns\":9,\"status\":3000000000}", P,
             "\"status\" is out of range: 3000000000");
    bad_line("{\"ev\":\"meta\",\"price_per_hour\":-1}", P, "\"price_per_hour\" must be a number in [0, 1e+06]");
    /* SP_MAX_PRICE_PER_HOUR: a price that would print as a 300-digit bill is refused, as the option is */
    bad_line("{\"ev\":\"meta\",\"price_per_hour\":1e308}", P,
             "\"price_per_hour\" must be a number in [0, 1e+06], not 1e308");
    bad_line("{\"ev\":\"meta\",\"price_per_hour\":1000000.5}", P, "\"price_per_hour\" must be a number in [0, 1e+06]");
    bad_line("{\"ev\":\"meta\",\"price_per_hour\":\"4\"}", P, "\"price_per_hour\" must be a number, not a string");
    bad_line("{\"ev\":\"meta\",\"drops\":{\"buffer_full\":-1}}", P, "\"drops\" counts must be non-negative integers");
    bad_line("{\"ev\":\"meta\",\"drops\":[1]}", P, "\"drops\" must be an object");
    bad_line("{\"ev\":\"meta\",\"format\":\"other/1\"}", P, "\"format\" is \"other/1\" (expected \"servprof.events/1\")");
    bad_line("{\"ev\":5}", P, "\"ev\" must be a string, not an integer");
    bad_line("{\"id\":\"r1\"}", P, "missing \"ev\"");
    /* not an object, JSON syntax, binary garbage */
    bad_line("[1,2]", P, "column 1: expected a JSON object");
    bad_line("\"text\"", P, "column 1: expected a JSON object");
    bad_line("  42", P, "column 3: expected a JSON object");
    bad_line("{\"ev\":\"request\" \"id\":\"x\"}", P, "column 17 (byte 116): expected ',' or '}'");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":1,\"done_ns\":2} {}", P,
             "column 54 (byte 153): unexpected data after the JSON value");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":NaN,\"done_ns\":2}", P, "column 39 (byte 138): NaN and Infinity");
    bad_line("{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":01,\"done_ns\":2}", P, "column 40 (byte 139): leading zeros");
    bad_line("{\"ev\":\"request\",\"id\":\"a", P, "column 22 (byte 121): unterminated string");
    bad_line("{\"ev\":\"request\",\"id\":\"a\tb\"}", P, "column 24 (byte 123): control character 0x09");
    bad_line("\x01\x02\xff\xfe garbage", P, "column 1 (byte 100): unexpected byte 0x01");
    bad_line("\x7f" "ELF\x02\x01", P, "column 1 (byte 100): unexpected byte 0x7F");
    bad_line("{\"ev\":\"request\",\"id\":\"\xc3\x28\"}", P, "column 23 (byte 122): invalid UTF-8");
    bad_line("{\"ev\":\"request\",}", P, "column 17 (byte 116): expected a key string after ','");
    /* nesting inside an ignored key is still bounded (64 levels per line; the object is level 1,
     * so the 64th '[' at column 18 + 63 = 81 is one too many) */
    char deep[400];
    int k = snprintf(deep, sizeof deep, "{\"ev\":\"x\",\"deep\":");
    for (int i = 0; i < 70; i++)
        deep[k++] = '[';
    deep[k] = '\0';
    bad_line(deep, SP_ERR_LIMIT, "column 81 (byte 180): nesting deeper than the limit of 64");
}

static void test_long_line(void)
{
    /* line 2 is 1 MiB + 100 bytes long (a long unknown string value), line 3 is fine */
    size_t big = (1u << 20) + 100;
    size_t cap = big + 1000, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text, cap, "{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":1,\"done_ns\":2}\n{\"ev\":\"x\",\"pad\":\"");
    memset(text + len, 'x', big);
    len += big;
    len += (size_t)snprintf(text + len, cap - len, "\"}\n{\"ev\":\"request\",\"id\":\"b\",\"arrival_ns\":1,\"done_ns\":2}");
    char err[512];
    sp_events *ev;
    CHECK(load(text, len, 0, SP_FORMAT_AUTO, &ev, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strcmp(err, "test.jsonl:2: line longer than 1048576 bytes (expected one JSON object per line)") == 0);
    sp_events_destroy(ev);
    CHECK(load(text, len, 1, SP_FORMAT_AUTO, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->files[0].skipped, 1);
    CHECK_EQ_U64(ev->n_requests, 2);   /* lines 1 and 3 */
    sp_events_destroy(ev);
    /* the same over-long line as the last line, without a newline */
    len = (size_t)snprintf(text, cap, "{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":1,\"done_ns\":2}\n{\"ev\":\"x\",\"pad\":\"");
    memset(text + len, 'y', big);
    len += big;
    CHECK(load(text, len, 0, SP_FORMAT_AUTO, &ev, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strncmp(err, "test.jsonl:2: line longer than", 30) == 0);
    sp_events_destroy(ev);
    CHECK(load(text, len, 1, SP_FORMAT_AUTO, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->files[0].skipped, 1);
    CHECK_EQ_U64(ev->n_requests, 1);
    sp_events_destroy(ev);
    /* exactly at the cap is fine: a line of 1048576 bytes */
    const char *pre = "{\"ev\":\"x\",\"pad\":\"";
    len = strlen(pre);
    memcpy(text, pre, len);
    memset(text + len, 'z', (1u << 20) - len - 2);
    len = (1u << 20) - 2;
    memcpy(text + len, "\"}\n", 3);
    len += 3;
    CHECK(load(text, len, 0, SP_FORMAT_JSONL, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->files[0].ignored, 1);
    sp_events_destroy(ev);
    free(text);
}

static void test_whole_file(void)
{
    char err[512];
    sp_events *ev;
    /* an unsupported version is never skipped, even under lenient */
    const char *v2 = "{\"ev\":\"meta\",\"format\":\"servprof.events/2\"}\n";
    for (int lenient = 0; lenient < 2; lenient++) {
        CHECK(load(v2, strlen(v2), lenient, SP_FORMAT_AUTO, &ev, err, sizeof err) == SP_ERR_FORMAT);
        CHECK(strcmp(err, "test.jsonl:1: unsupported format version \"servprof.events/2\" (this build reads "
                          "servprof.events/1)") == 0);
        sp_events_destroy(ev);
    }
    /* servprof's own output where a trace goes (`analyze report.json`): named for what it is, not
     * only "not a trace" */
    static const char *const outputs[] = {"{\"schema\":\"servprof.report/1\",\"files\":1}",
                                          " {\n  \"schema\" : \"servprof.whatif/1\", \"requests\":3}"};
    static const char *const named[] = {"test.jsonl: a servprof.report/1 document servprof wrote, not a trace",
                                        "test.jsonl: a servprof.whatif/1 document servprof wrote, not a trace"};
    for (int k = 0; k < 2; k++) {
        CHECK(load(outputs[k], strlen(outputs[k]), 0, SP_FORMAT_AUTO, &ev, err, sizeof err) == SP_ERR_FORMAT);
        CHECK_MSG(strncmp(err, named[k], strlen(named[k])) == 0, "%s", err);
        sp_events_destroy(ev);
    }
    /* another JSON object is still "not a trace" */
    CHECK(load("{\"schema\":\"other/1\"}", 20, 0, SP_FORMAT_AUTO, &ev, err, sizeof err) == SP_ERR_FORMAT);
    CHECK_MSG(strstr(err, "not a trace servprof reads") != NULL, "%s", err);
    sp_events_destroy(ev);
    /* empty input: detection says so; forced to JSONL, the importer says so */
    CHECK(load("", 0, 0, SP_FORMAT_AUTO, &ev, err, sizeof err) == SP_ERR_FORMAT);
    CHECK(strcmp(err, "test.jsonl: file is empty") == 0);
    sp_events_destroy(ev);
    CHECK(load("", 0, 0, SP_FORMAT_JSONL, &ev, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strncmp(err, "test.jsonl: no records: the file is empty", 41) == 0);
    sp_events_destroy(ev);
    CHECK(load("\n \r\n\t\n", 6, 1, SP_FORMAT_JSONL, &ev, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strncmp(err, "test.jsonl: no records", 22) == 0);
    sp_events_destroy(ev);
    /* a file of garbage forced to JSONL: line 1 */
    CHECK(load("\x89PNG\r\n", 6, 0, SP_FORMAT_JSONL, &ev, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strncmp(err, "test.jsonl:1: column 1 (byte 0): unexpected byte 0x89", 53) == 0);
    sp_events_destroy(ev);
    /* lenient with every line bad: loads, everything counted */
    const char *allbad = "x\ny\n{\n";
    CHECK(load(allbad, strlen(allbad), 1, SP_FORMAT_JSONL, &ev, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(ev->files[0].skipped, 3);
    sp_events_destroy(ev);
    /* a batch whose members never get request records: the load is fine, finishing names the id */
    const char *orphan = "{\"ev\":\"batch\",\"batch\":1,\"requests\":[\"ghost\"],\"start_ns\":1,\"end_ns\":2}\n";
    CHECK(load(orphan, strlen(orphan), 0, SP_FORMAT_AUTO, &ev, err, sizeof err) == SP_OK);
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, "\"ghost\"") != NULL);
    sp_events_destroy(ev);
    /* duplicate batch records: identical is fine, different is an error on the second's line */
    const char *b2 = "{\"ev\":\"request\",\"id\":\"a\",\"arrival_ns\":1,\"done_ns\":9}\n"
                     "{\"ev\":\"batch\",\"batch\":1,\"requests\":[\"a\"],\"start_ns\":1,\"end_ns\":2}\n"
                     "{\"ev\":\"batch\",\"batch\":1,\"requests\":[\"a\"],\"start_ns\":1,\"end_ns\":2}\n"
                     "{\"ev\":\"batch\",\"batch\":1,\"requests\":[\"a\"],\"start_ns\":1,\"end_ns\":3}\n";
    CHECK(load(b2, strlen(b2), 0, SP_FORMAT_AUTO, &ev, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strncmp(err, "test.jsonl:4: duplicate batch record for batch 1", 48) == 0);
    sp_events_destroy(ev);
}

int main(void)
{
    test_bad_lines();
    test_long_line();
    test_whole_file();
    return sp_test_done("test_jsonl_malformed");
}
