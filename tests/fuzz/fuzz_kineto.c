/* libFuzzer target: arbitrary bytes through the Kineto (PyTorch profiler) importer, format forced to
 * Kineto, exact and --hta-compat, strict and lenient, with and without a --map spec. Any result is
 * fine except a crash, a leak or a sanitizer report; a successful load must survive sp_ev_finish, the
 * analysis (in the same mode) and the text and JSON writers. Each input is read with the importer's fast
 * path for ordinary events and again without it (the lexer alone, the reference): the status, the
 * message and the model's counts must be the same, or the target aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import/import_int.h"
#include "model/events_int.h"
#include "servprof/analyze.h"
#include "servprof/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a load produced, for the comparison of the two readings. */
typedef struct fuzz_load {
    sp_status st;
    char err[512];
    uint64_t counts[9];
} fuzz_load;

static void load_counts(const uint8_t *data, size_t size, const sp_load_options *opt, bool fast, fuzz_load *out)
{
    memset(out, 0, sizeof *out);
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        abort();
    sp_import_kineto_set_fast(fast, NULL, NULL);
    out->st = sp_events_load_buffer(ev, "fuzz.json", data, size, opt, out->err, sizeof out->err);
    sp_import_kineto_set_fast(true, NULL, NULL);
    if (out->st == SP_OK) {
        uint64_t c[9] = {ev->n_acts, ev->n_launches, ev->n_requests, ev->n_spans, ev->n_batches, ev->n_members,
                         ev->n_marks, ev->files[0].skipped, ev->files[0].ignored};
        memcpy(out->counts, c, sizeof c);
    }
    sp_events_destroy(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int mode = 0; mode < 4; mode++) {
        /* the fast path against the lexer alone */
        sp_load_options co;
        sp_load_options_init(&co);
        co.format = SP_FORMAT_KINETO;
        co.lenient = mode & 1;
        co.hta_compat = (mode >> 1) & 1;
        fuzz_load a, b;
        load_counts(data, size, &co, true, &a);
        load_counts(data, size, &co, false, &b);
        if (a.st != b.st || strcmp(a.err, b.err) != 0 || memcmp(a.counts, b.counts, sizeof a.counts) != 0) {
            fprintf(stderr, "fuzz_kineto: the fast path and the lexer differ: %d \"%s\" / %d \"%s\"\n", (int)a.st,
                    a.err, (int)b.st, b.err);
            abort();
        }

        sp_events *ev;
        if (sp_events_create(&ev) != SP_OK)
            return 0;
        sp_load_options opt;
        sp_load_options_init(&opt);
        opt.format = SP_FORMAT_KINETO;
        opt.lenient = mode & 1;
        opt.hta_compat = (mode >> 1) & 1;
        opt.map = mode == 3 ? "request=req,stage:preprocess=tok,batch=b" : NULL;
        char err[512];
        if (sp_events_load_buffer(ev, "fuzz.json", data, size, &opt, err, sizeof err) == SP_OK &&
            sp_ev_finish(ev, true, err, sizeof err) == SP_OK) {
            /* the analysis of what loaded: steps, graph launches and HTA's merge of sub-us events */
            sp_analyze_options ao;
            sp_analyze_options_init(&ao);
            ao.lenient = 1;
            ao.hta_compat = opt.hta_compat;
            sp_report *r = NULL;
            if (sp_analyze(ev, &ao, &r, err, sizeof err) == SP_OK) {
                static FILE *sink;
                if (!sink)
                    sink = fopen("/dev/null", "w");
                if (sink) {
                    sp_report_write_text(r, sink);
                    sp_report_write_json(r, sink);
                }
                sp_report_destroy(r);
            }
        }
        sp_events_destroy(ev);
    }
    return 0;
}
