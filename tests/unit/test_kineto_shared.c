/* Every real PyTorch-profiler trace the repository ships (tests/data/kineto and tests/data/kineto-more,
 * from Holistic Trace Analysis, MIT: LICENSE-HTA beside them, and servprof's own cuda_graph_h200) loads,
 * exact and --hta-compat, and analyses. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "testlib.h"

/* Every trace in tests/data/kineto and kineto-more loads, exact and hta, and analyses. */
static int test_all_shared(void)
{
    const char *dirs[] = {SP_SOURCE_DIR "/tests/data/kineto", SP_SOURCE_DIR "/tests/data/kineto-more"};
    int found = 0;
    for (size_t d = 0; d < 2; d++) {
        DIR *dir = opendir(dirs[d]);
        if (!dir)
            continue;
        struct dirent *de;
        while ((de = readdir(dir))) {
            size_t n = strlen(de->d_name);
            if (n < 8 || strcmp(de->d_name + n - 8, ".json.gz") != 0)
                continue;
            found++;
            char path[2048], err[512];
            snprintf(path, sizeof path, "%s/%s", dirs[d], de->d_name);
            for (int hta = 0; hta < 2; hta++) {
                sp_events *ev = NULL;
                sp_events_create(&ev);
                sp_load_options opt;
                sp_load_options_init(&opt);
                opt.hta_compat = hta;
                sp_status st = sp_events_load_file(ev, path, &opt, err, sizeof err);
                if (st)
                    fprintf(stderr, "%s\n", err);
                CHECK(st == SP_OK);
                sp_report *r = NULL;
                sp_analyze_options ao;
                sp_analyze_options_init(&ao);
                ao.hta_compat = hta;
                st = sp_analyze(ev, &ao, &r, err, sizeof err);
                CHECK(st == SP_OK);
                if (!hta && r)
                    fprintf(stderr, "   %s: %zu activities, %zu launches, busy %.1f us of %.1f us\n", de->d_name,
                            ev->n_acts, ev->n_launches, r->gpu.busy_ns / 1e3, r->gpu.span_ns / 1e3);
                sp_report_destroy(r);
                sp_events_destroy(ev);
            }
        }
        closedir(dir);
    }
    return found;
}

int main(void)
{
    /* 9 traces in kineto/ (8 from HTA, cuda_graph_h200), 6 in kineto-more/: a missing folder is a
     * failure, not a skip */
    CHECK_EQ_U64(test_all_shared(), 15);
    return sp_test_done("test_kineto_shared");
}
