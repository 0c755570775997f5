/* The batches' analysis facts in 24 bytes (src/analyze/analyze_int.h, sp_ana_batch: a batch's pieces
 * as a 32-bit first index and count into the analysis' piece arrays; docs/analysis.md section 8,
 * "Memory"). The piece arrays hold at most sp_ana_max_segs pieces (SP_ANA_MAX_SEGS = 2^32 - 1, so
 * that each batch's range fits 32 bits); a batch of n tied activities is taken only while the pieces
 * so far plus 2n + 1 (its pieces' most: one a activity and a gap before each and after the last) fit.
 *
 * Worked by hand on the set below, two batches, a kernel-only trace:
 *   batch 1 [1000, 2000) with kernels [1000, 1200), [1300, 1500), [1600, 2000): pieces kernel 1000,
 *     gap 1200, kernel 1300, gap 1500, kernel 1600 = 5; taken while 0 + 2*3 + 1 = 7 <= the limit;
 *   batch 2 [3000, 4000) with a kernel [3000, 3500): pieces kernel 3000, gap 3500 = 2; taken while
 *     5 + 2*1 + 1 = 8 <= the limit.
 * So a limit of 8 analyses the set, with the same report as the default limit, and 7 fails with
 * SP_ERR_LIMIT and "analysis exceeds a size limit", and so does 6 (batch 1 already). Both partition
 * routes (sp_ana_part_fast 1 and 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "ev_build.h"
#include "servprof/report.h"
#include "testlib.h"

static sp_events *build(void)
{
    sp_events *ev = eb_new();
    uint32_t r1 = eb_req(ev, "r1", 500, 2500);
    uint32_t r2 = eb_req(ev, "r2", 2600, 4500);
    eb_span(ev, r1, "queue", 500, 1000);
    eb_span(ev, r2, "queue", 2600, 3000);
    uint32_t b1 = eb_batch(ev, 1, 1000, 2000, 30, 40, &r1, 1);
    uint32_t b2 = eb_batch(ev, 2, 3000, 4000, 10, 40, &r2, 1);
    eb_act(ev, SP_ACT_KERNEL, b1, 1000, 1200);
    eb_act(ev, SP_ACT_KERNEL, b1, 1300, 1500);
    eb_act(ev, SP_ACT_KERNEL, b1, 1600, 2000);
    eb_act(ev, SP_ACT_KERNEL, b2, 3000, 3500);
    return ev;
}

/* The JSON report of the set under limit `max` (NULL on failure: *st and err say why). */
static char *report_at(size_t max, sp_status *st, char *err, size_t errlen)
{
    sp_events *ev = build();
    sp_ana_max_segs = max;
    sp_report *r = NULL;
    *st = sp_analyze(ev, NULL, &r, err, errlen);
    sp_ana_max_segs = SP_ANA_MAX_SEGS;
    char *out = NULL;
    if (*st == SP_OK) {
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        CHECK(f != NULL);
        if (f) {
            CHECK(sp_report_write_json(r, f) == SP_OK);
            fclose(f);
        }
        sp_report_destroy(r);
    }
    sp_events_destroy(ev);
    return out;
}

static void limits(int fast)
{
    sp_ana_part_fast = fast;
    char err[512] = "";
    sp_status st;
    char *base = report_at(SP_ANA_MAX_SEGS, &st, err, sizeof err);
    CHECK(st == SP_OK && base != NULL);
    char *at8 = report_at(8, &st, err, sizeof err);
    CHECK(st == SP_OK && at8 != NULL);
    CHECK(base && at8 && strcmp(base, at8) == 0);
    /* the padding figures read each batch's facts: waste 1 - 30/40 and 1 - 10/40 (0.25 and 0.75) */
    CHECK(base && strstr(base, "\"waste_fraction\"") != NULL);
    for (size_t max = 6; max <= 7; max++) {
        err[0] = '\0';
        char *no = report_at(max, &st, err, sizeof err);
        CHECK(st == SP_ERR_LIMIT);
        CHECK(no == NULL);
        CHECK(strstr(err, "analysis exceeds a size limit") != NULL);
        if (st != SP_ERR_LIMIT)
            fprintf(stderr, "limit %zu: %s (%s)\n", max, sp_status_str(st), err);
        free(no);
    }
    free(base);
    free(at8);
    sp_ana_part_fast = 1;
}

int main(void)
{
    CHECK_EQ_U64(sizeof(sp_ana_batch), 24);
    limits(1);
    limits(0);
    return sp_test_done("test_analyze_batch_segs");
}
