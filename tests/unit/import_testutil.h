/* Test helper for the importers' tests (test_otlp_import.c, test_triton_import.c, test_jsonl_malformed.c,
 * test_jsonl_fastpath.c): loading a golden file of tests/data/ or a text with the format forced,
 * checking a span of the event model, and a table of malformed inputs that must each fail with a given
 * message. */
#ifndef SERVPROF_TEST_IMPORT_TESTUTIL_H
#define SERVPROF_TEST_IMPORT_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "testlib.h"

/* tests/data/<dir>/<rel>, its format detected from the content; *st is the load's status (the
 * message, if any, printed). */
static inline sp_events *it_load_data(const char *dir, const char *rel, sp_status *st, char *err, size_t errlen)
{
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/%s/%s", SP_SOURCE_DIR, dir, rel);
    *st = sp_events_load_file(ev, path, NULL, err, errlen);
    if (*st)
        fprintf(stderr, "%s\n", err);
    return ev;
}

/* text[len] read as `format` under the file name `name`; *out is the event set either way. */
static inline sp_status it_load_buffer(sp_format format, const char *name, const char *text, size_t len, int lenient,
                                       sp_events **out, char *err, size_t errlen)
{
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    sp_load_options opt;
    sp_load_options_init(&opt);
    opt.format = format;
    opt.lenient = lenient;
    sp_status st = sp_events_load_buffer(ev, name, text, len, &opt, err, errlen);
    *out = ev;
    return st;
}

/* The same for a NUL-terminated text. */
static inline sp_status it_load_text(sp_format format, const char *name, const char *text, int lenient,
                                     sp_events **out, char *err, size_t errlen)
{
    return it_load_buffer(format, name, text, strlen(text), lenient, out, err, errlen);
}

static inline const char *it_str(const sp_events *ev, sp_str id)
{
    return sp_str_get(&ev->strings, id);
}

/* Span i is request req's `stage` over [a, b]. */
static inline void it_check_span(const sp_events *ev, size_t i, uint32_t req, const char *stage, uint64_t a,
                                 uint64_t b)
{
    CHECK(i < ev->n_spans);
    if (i >= ev->n_spans)
        return;
    CHECK_EQ_U64(ev->spans[i].req, req);
    CHECK(strcmp(it_str(ev, ev->spans[i].stage), stage) == 0);
    CHECK_EQ_U64(ev->spans[i].start_ns, a);
    CHECK_EQ_U64(ev->spans[i].end_ns, b);
}

typedef struct it_bad_input {
    const char *text, *want; /* the input, and what its error message must contain */
} it_bad_input;

/* Each input, read strictly as `format` under `name`, fails with its message and leaves no request
 * behind. */
static inline void it_expect_errors(sp_format format, const char *name, const it_bad_input *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char err[512] = "";
        sp_events *ev;
        sp_status st = it_load_text(format, name, cases[i].text, 0, &ev, err, sizeof err);
        CHECK(st != SP_OK);
        CHECK(strstr(err, cases[i].want) != NULL);
        if (!strstr(err, cases[i].want))
            fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, err, cases[i].want);
        CHECK_EQ_U64(ev->n_requests, 0); /* a failed load leaves nothing behind */
        sp_events_destroy(ev);
    }
}

#endif
