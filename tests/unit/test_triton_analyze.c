/* End to end: a Triton trace through the analyzer. batch2.json's requests 1 and 2 ran in one batch
 * (compute window [5000, 9600]: h2d 400 ns, kernel 4000 ns, d2h 200 ns); request 3 alone (kernel
 * 2000 ns). Each member experiences the whole batch window (DESIGN section 3), while the device work
 * is counted once (DESIGN section 6): hand-computed figures below. */
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "testlib.h"

static const sp_stage_row *stage(const sp_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_stages; i++)
        if (strcmp(r->stages[i].name, name) == 0)
            return &r->stages[i];
    return NULL;
}

int main(void)
{
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        return 1;
    char err[512];
    char path[512];
    snprintf(path, sizeof path, "%s/tests/data/triton/batch2.json", SP_SOURCE_DIR);
    if (sp_events_load_file(ev, path, NULL, err, sizeof err) != SP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    sp_report *rep = NULL;
    sp_status st = sp_analyze(ev, NULL, &rep, err, sizeof err);
    CHECK(st == SP_OK);
    if (st) {
        fprintf(stderr, "%s\n", err);
        sp_events_destroy(ev);
        return sp_test_done("test_triton_analyze");
    }
    CHECK_EQ_U64(rep->request_count, 3);
    CHECK_EQ_U64(rep->batch_count, 2);
    /* latencies 9900-1000, 9650-3000, 12100-6000 */
    CHECK_EQ_U64(rep->latency.min_ns, 6100);
    CHECK_EQ_U64(rep->latency.max_ns, 8900);
    const sp_stage_row *k = stage(rep, "kernel"), *h = stage(rep, "h2d"), *d = stage(rep, "d2h");
    CHECK(k && h && d);
    if (k && h && d) {
        CHECK_EQ_U64(k->total_ns, 4000 + 4000 + 2000);   /* both members see the shared kernel */
        CHECK_EQ_U64(h->total_ns, 400 + 400);
        CHECK_EQ_U64(d->total_ns, 200 + 200);
    }
    /* the device ran 2 kernels, busy [5000,9600] and [10000,12000]: 4600 + 2000 ns, not per member */
    CHECK_EQ_U64(rep->gpu.kernels, 2);
    CHECK_EQ_U64(rep->gpu.busy_ns, 6600);
    CHECK_EQ_U64(rep->gpu.span_ns, 12000 - 5000);
    sp_report_destroy(rep);
    sp_events_destroy(ev);
    return sp_test_done("test_triton_analyze");
}
