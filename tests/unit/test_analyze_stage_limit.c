/* The analyzer's limit on named stages (SP_ANA_MAX_NAMED_STAGES, 64) is reported against the files
 * that hold the names: one file is named alone; names spread over several files name those files
 * (and not a file holding only built-in stages) and say "together". 64 named stages still analyse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "testlib.h"

/* `n` requests, each with one span of stage "<prefix>_<i>" (n distinct names). */
static char *named_trace(const char *prefix, int n)
{
    size_t cap = (size_t)n * 200 + 64, at = 0;
    char *t = malloc(cap);
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(t + at, cap - at,
                               "{\"ev\":\"request\",\"id\":\"r%d\",\"arrival_ns\":1000,\"done_ns\":5000}\n"
                               "{\"ev\":\"stage\",\"id\":\"r%d\",\"stage\":\"%s_%03d\",\"start_ns\":1000,"
                               "\"end_ns\":2000}\n",
                               i, i, prefix, i);
    return t;
}

static const char *const g_builtin =
    "{\"ev\":\"request\",\"id\":\"q1\",\"arrival_ns\":0,\"done_ns\":300}\n"
    "{\"ev\":\"stage\",\"id\":\"q1\",\"stage\":\"queue\",\"start_ns\":0,\"end_ns\":100}\n";

/* Loads each (name, text) pair as its own file and analyses them together. */
static sp_status analyze_files(const char *const *names, char *const *texts, int n, char *err, size_t errlen)
{
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    for (int i = 0; i < n; i++)
        if (sp_events_load_buffer(ev, names[i], texts[i], strlen(texts[i]), NULL, err, errlen) != SP_OK) {
            fprintf(stderr, "load %s: %s\n", names[i], err);
            exit(1);
        }
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    sp_report *r = NULL;
    err[0] = '\0';
    sp_status st = sp_analyze(ev, &o, &r, err, errlen);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return st;
}

int main(void)
{
    char err[1024];
    CHECK(SP_ANA_MAX_NAMED_STAGES == 64); /* the figures below are written for this limit */

    /* at the limit: 64 named stages analyse */
    char *t64 = named_trace("s", 64);
    const char *one[] = {"at-limit.jsonl"};
    CHECK(analyze_files(one, &t64, 1, err, sizeof err) == SP_OK);
    free(t64);

    /* one over, in one file: the message starts with that file */
    char *t65 = named_trace("s", 65);
    const char *name65[] = {"many.jsonl"};
    CHECK(analyze_files(name65, &t65, 1, err, sizeof err) == SP_ERR_LIMIT);
    CHECK(strncmp(err, "many.jsonl: 65 distinct stage names", 35) == 0);
    CHECK(strstr(err, "at most 64") != NULL);
    CHECK(strstr(err, "\"s_000\"") != NULL); /* the first names, alphabetically */
    CHECK(strstr(err, "together") == NULL);
    free(t65);

    /* 40 + 40 different names in two files, beside a file of built-in stages only: 80 together */
    char *texts[] = {named_trace("a", 40), (char *)g_builtin, named_trace("b", 40)};
    const char *names[] = {"a.jsonl", "builtin.jsonl", "b.jsonl"};
    CHECK(analyze_files(names, texts, 3, err, sizeof err) == SP_ERR_LIMIT);
    CHECK(strncmp(err, "a.jsonl and b.jsonl: 80 distinct stage names", 44) == 0);
    CHECK(strstr(err, "in these files together") != NULL);
    CHECK(strstr(err, "builtin.jsonl") == NULL);
    if (sp_test_failures)
        fprintf(stderr, "message: %s\n", err);
    free(texts[0]);
    free(texts[2]);
    return sp_test_done("test_analyze_stage_limit");
}
