/* sp_load_options_check and the loaders' use of it: a malformed --map is refused with SP_ERR_INVALID
 * and a message naming the bad entry, before anything is read and whatever the format (a JSONL
 * trace, which never uses the map, included); a well-formed map loads a JSONL trace as before. */
#include <string.h>

#include "testlib.h"

static const char *const g_trace =
    "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":10,\"done_ns\":100}\n"
    "{\"ev\":\"stage\",\"id\":\"r1\",\"stage\":\"queue\",\"start_ns\":10,\"end_ns\":20}\n";

static void refused(const char *map, const char *entry, const char *why)
{
    sp_load_options o;
    sp_load_options_init(&o);
    o.map = map;
    char err[512] = "", want[256];
    snprintf(want, sizeof want, "--map entry \"%s\": %s", entry, why);
    CHECK(sp_load_options_check(&o, err, sizeof err) == SP_ERR_INVALID);
    CHECK(strstr(err, want) == err);
    /* the loaders refuse it too, for a format that never reads the map, and load nothing */
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    err[0] = '\0';
    CHECK(sp_events_load_buffer(ev, "t.jsonl", g_trace, strlen(g_trace), &o, err, sizeof err) == SP_ERR_INVALID);
    CHECK(strstr(err, want) == err);
    err[0] = '\0';
    CHECK(sp_events_load_file(ev, "/nonexistent/never-opened.jsonl", &o, err, sizeof err) == SP_ERR_INVALID);
    CHECK(strstr(err, want) == err); /* the map, not the missing file: nothing was opened */
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.files, 0);
    sp_events_destroy(ev);
}

int main(void)
{
    sp_load_options o;
    sp_load_options_init(&o);
    char err[512] = "";
    CHECK(sp_load_options_check(&o, err, sizeof err) == SP_OK);
    CHECK(sp_load_options_check(NULL, err, sizeof err) == SP_OK);
    o.map = "request=infer,batch=step,stage:tokenize=tok.";
    CHECK(sp_load_options_check(&o, err, sizeof err) == SP_OK);
    sp_events *ev;
    CHECK(sp_events_create(&ev) == SP_OK);
    CHECK(sp_events_load_buffer(ev, "t.jsonl", g_trace, strlen(g_trace), &o, err, sizeof err) == SP_OK);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.requests, 1);
    sp_events_destroy(ev);
    o.map = NULL;
    o.format = (sp_format)99;
    CHECK(sp_load_options_check(&o, err, sizeof err) == SP_ERR_INVALID);

    refused("bogus", "bogus", "expected role=prefix");
    refused("request=x,foo=bar", "foo=bar", "unknown role");
    refused("request=", "request=", "expected role=prefix");
    refused("batch=step,,stage:x=y", "", "expected role=prefix");
    return sp_test_done("test_load_options_check");
}
