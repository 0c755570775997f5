/* Stage spans that reach outside their request's life [arrival, done) are clipped to it
 * (docs/analysis.md section 1) and, since branch incons, said: one warning with their count and the
 * first such request, in the analysed requests' order, on every route of the partition (one thread or
 * two, the disjoint spans' fast route or the span heap's). Before, the clipping was silent. Since
 * branch left9 the report keeps the same count and first request (sp_report.spans_clipped, written in
 * data_quality), 0 and NULL without such spans: the same on every route. The counts
 * are hand-made: request "a" has one span starting before its arrival, "b" none, "c" one ending after
 * its done and one wholly after it, "d" (overlapping spans: the heap's route) one before its arrival. */
#include <stdio.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "ev_build.h"
#include "testlib.h"

static char warning[1024];
static int warnings;

static void keep_warning(void *user, sp_log_level level, const char *message)
{
    (void)user;
    if (level != SP_LOG_WARN || !strstr(message, "outside"))
        return;
    warnings++;
    snprintf(warning, sizeof warning, "%s", message);
}

static sp_events *build(int consistent)
{
    sp_events *ev = eb_new();
    uint32_t a = eb_req(ev, "a", 1000, 2000);
    eb_span(ev, a, "queue", consistent ? 1000 : 900, 1500);
    uint32_t b = eb_req(ev, "b", 1000, 3000);
    eb_span(ev, b, "queue", 1000, 2000);
    uint32_t c = eb_req(ev, "c", 1000, 4000);
    eb_span(ev, c, "preprocess", 1000, consistent ? 4000 : 4100);
    eb_span(ev, c, "postprocess", consistent ? 3900 : 4200, consistent ? 4000 : 4300);
    uint32_t d = eb_req(ev, "d", 1000, 5000);
    eb_span(ev, d, "queue", consistent ? 1000 : 500, 3000);
    eb_span(ev, d, "preprocess", 1000, 2000); /* overlaps the queue span */
    return ev;
}

static void run(int two_threads, int fast)
{
    sp_ana_two_threads_min = two_threads ? 2 : SIZE_MAX;
    sp_ana_part_fast = fast;
    for (int consistent = 0; consistent < 2; consistent++) {
        sp_events *ev = build(consistent);
        warnings = 0;
        warning[0] = '\0';
        sp_report *r = eb_analyze(ev, NULL);
        CHECK_EQ_U64(r->request_count, 4);
        /* clipped: every request's stages still add up to its life */
        uint64_t total = 0;
        for (size_t k = 0; k < r->n_stages; k++)
            total += r->stages[k].total_ns;
        CHECK_EQ_U64(total, 1000 + 2000 + 3000 + 4000);
        if (consistent) {
            CHECK_EQ_U64(warnings, 0);
            CHECK_EQ_U64(r->spans_clipped, 0);
            CHECK(r->spans_clipped_request == NULL && r->spans_clipped_file == NULL);
        } else {
            CHECK_EQ_U64(r->spans_clipped, 4);
            CHECK(r->spans_clipped_request && strcmp(r->spans_clipped_request, "a") == 0);
            CHECK(r->spans_clipped_file && strcmp(r->spans_clipped_file, "test") == 0);
            CHECK_EQ_U64(warnings, 1);
            CHECK(strstr(warning, "4 stage spans reach outside their request's life") == warning);
            CHECK(strstr(warning, "the first: request \"a\" in test") != NULL);
            if (warnings != 1 || !strstr(warning, "4 stage spans"))
                fprintf(stderr, "two threads %d, fast %d: \"%s\"\n", two_threads, fast, warning);
        }
        sp_report_destroy(r);
        sp_events_destroy(ev);
    }
}

int main(void)
{
    sp_set_log(keep_warning, NULL);
    size_t min = sp_ana_two_threads_min;
    int fast = sp_ana_part_fast;
    for (int t = 0; t < 2; t++)
        for (int f = 0; f < 2; f++)
            run(t, f);
    sp_ana_two_threads_min = min;
    sp_ana_part_fast = fast;
    return sp_test_done("test_analyze_spans_outside");
}
