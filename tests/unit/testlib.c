/* Shared helpers for the unit tests. */
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

_Atomic int sp_test_failures; /* atomic: tests CHECK from several threads */
_Atomic int sp_test_checks;

int sp_test_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, sp_test_checks - sp_test_failures, sp_test_failures);
    return sp_test_failures ? 1 : 0;
}

sp_events *sp_test_load_jsonl(const char *text)
{
    sp_events *ev;
    char err[512];
    if (sp_events_create(&ev) != SP_OK) {
        fprintf(stderr, "sp_events_create failed\n");
        exit(1);
    }
    sp_status st = sp_events_load_buffer(ev, "test.jsonl", text, strlen(text), NULL, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "load failed: %s\n", err);
        exit(1);
    }
    return ev;
}

sp_report *sp_test_analyze_jsonl(const char *text, sp_events **ev_out)
{
    sp_events *ev = sp_test_load_jsonl(text);
    sp_report *r;
    char err[512];
    sp_status st = sp_analyze(ev, NULL, &r, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "analyze failed: %s: %s\n", sp_status_str(st), err);
        exit(1);
    }
    if (ev_out)
        *ev_out = ev;
    else
        sp_events_destroy(ev);
    return r;
}
