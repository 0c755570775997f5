/* Every PyTorch-profiler trace in the shared data folders (shared/data/kineto and kineto-more, next to
 * the repository in CI) loads, exact and --hta-compat, and analyses. Skips (77) when they are absent. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "testlib.h"

/* Every trace in shared/data/kineto and kineto-more loads, exact and hta, and analyses. */
static int test_all_shared(void)
{
    const char *dirs[] = {SP_SOURCE_DIR "/../shared/data/kineto", SP_SOURCE_DIR "/../shared/data/kineto-more",
                          SP_SOURCE_DIR "/../../shared/data/kineto", SP_SOURCE_DIR "/../../shared/data/kineto-more"};
    int found = 0;
    for (size_t d = 0; d < 4; d++) {
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
    int found = test_all_shared();
    int rc = sp_test_done("test_kineto_shared");
    if (!found && rc == 0) {
        fprintf(stderr, "shared/data/kineto not found next to the source tree: skipped\n");
        return 77;
    }
    return rc;
}
