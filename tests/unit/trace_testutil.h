/* Helpers shared by the recorder tests: a temporary trace path, loading a trace, and canonical text
 * lines for every event in a loaded set (so record sets compare exactly, independent of order). */
#ifndef SERVPROF_TRACE_TESTUTIL_H
#define SERVPROF_TRACE_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/events_int.h"
#include "servprof/trace.h"
#include "testlib.h"

/* "/tmp/servprof-<tag>-<pid>.sptrace" into out[256]. */
static inline void tt_path(char out[256], const char *tag)
{
    snprintf(out, 256, "%s/servprof-%s-%ld.sptrace", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", tag,
             (long)getpid());
}

/* Loads `path` into a new set; exits the test on failure. */
static inline sp_events *tt_load(const char *path)
{
    sp_events *ev;
    char err[512];
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    sp_status st = sp_events_load_file(ev, path, NULL, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "loading %s failed: %s\n", path, err);
        exit(1);
    }
    return ev;
}

/* A growable list of strings, sorted for comparison. */
typedef struct tt_lines {
    char **v;
    size_t n, cap;
} tt_lines;

static inline void tt_add(tt_lines *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            exit(1);
    }
    l->v[l->n++] = strdup(s);
}

static inline int tt_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void tt_free(tt_lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Checks two line sets are equal after sorting; prints the first difference. */
static inline void tt_check_equal(tt_lines *got, tt_lines *want)
{
    qsort(got->v, got->n, sizeof *got->v, tt_cmp);
    qsort(want->v, want->n, sizeof *want->v, tt_cmp);
    CHECK_EQ_U64(got->n, want->n);
    size_t n = got->n < want->n ? got->n : want->n;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(got->v[i], want->v[i]) != 0) {
            fprintf(stderr, "first difference at %zu: got \"%.200s\", want \"%.200s\"\n", i, got->v[i], want->v[i]);
            CHECK(0);
            return;
        }
    }
}

/* Canonical lines for every event in `ev` (one file): the same text the tests build for what they
 * recorded. */
static inline void tt_lines_of(const struct sp_events *ev, tt_lines *out)
{
    char line[8192];
    const sp_strtab *st = &ev->strings;
    char idtext[SP_EV_ID_TEXT];
    for (size_t i = 0; i < ev->n_requests; i++) {
        const sp_ev_request *r = &ev->requests[i];
        if (!r->has_record)
            continue;
        snprintf(line, sizeof line, "R %s %llu %llu %lld", sp_ev_id_text(ev, r, idtext, NULL),
                 (unsigned long long)r->arrival_ns, (unsigned long long)r->done_ns,
                 (long long)sp_ev_req_input_tokens(ev, r));
        tt_add(out, line);
    }
    for (size_t i = 0; i < ev->n_spans; i++) {
        const sp_ev_span *s = &ev->spans[i];
        snprintf(line, sizeof line, "S %s %s %llu %llu", sp_ev_id_text(ev, &ev->requests[s->req], idtext, NULL),
                 sp_str_get(st, s->stage), (unsigned long long)s->start_ns, (unsigned long long)s->end_ns);
        tt_add(out, line);
    }
    for (size_t i = 0; i < ev->n_batches; i++) {
        const sp_ev_batch *b = &ev->batches[i];
        if (!b->has_record)
            continue;
        int k = snprintf(line, sizeof line, "B %lld %llu %llu %lld %lld", (long long)b->id,
                         (unsigned long long)b->start_ns, (unsigned long long)b->end_ns,
                         (long long)b->effective_tokens, (long long)b->padded_tokens);
        for (uint32_t m = 0; m < b->nmembers && k < (int)sizeof line - 40; m++)
            k += snprintf(line + k, sizeof line - (size_t)k, " %s",
                          sp_ev_id_text(ev, &ev->requests[ev->members[b->first_member + m]], idtext, NULL));
        tt_add(out, line);
    }
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *a = &ev->acts[i];
        long long batch = a->batch == SP_EV_NONE ? -1 : (long long)ev->batches[a->batch].id;
        snprintf(line, sizeof line, "A %d %s %lld %u %lld %llu %llu %llu %llu", a->kind,
                 sp_str_get(st, sp_ev_act_name(a)), batch, a->device, (long long)sp_ev_act_stream(ev, a),
                 (unsigned long long)a->correlation, (unsigned long long)sp_ev_act_bytes(a),
                 (unsigned long long)a->start_ns, (unsigned long long)a->end_ns);
        tt_add(out, line);
    }
    for (size_t i = 0; i < ev->n_launches; i++) {
        const sp_ev_launch *l = &ev->launches[i];
        snprintf(line, sizeof line, "L %s %llu %llu %llu", sp_str_get(st, l->name),
                 (unsigned long long)l->correlation, (unsigned long long)l->start_ns,
                 (unsigned long long)l->end_ns);
        tt_add(out, line);
    }
}

#endif
