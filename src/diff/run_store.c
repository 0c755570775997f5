/* The run object's storage: an empty run, copies of strings, and sp_diff_run_destroy, which frees
 * everything a run holds. Kept apart from the code that fills runs (run.c from an analysis,
 * report_read.c from a report) so that both depend on this file alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diff/diff_int.h"

sp_diff_run *sp_diff_run_new(void)
{
    sp_diff_run *run = calloc(1, sizeof *run);
    if (!run)
        return NULL;
    run->waste_fraction = run->padding_share_p95 = run->padding_share_of_bill = NAN;
    run->price_per_hour = run->per_request = run->verdict_share_p95 = NAN;
    for (int s = 0; s < SP_COST_STATE_COUNT; s++)
        run->per_request_by_state[s] = NAN;
    return run;
}

char *sp_diff_strdup(const char *s, int *failed)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (!c) {
        *failed = 1;
        return NULL;
    }
    memcpy(c, s, n);
    return c;
}

void sp_diff_run_destroy(sp_diff_run *run)
{
    if (!run)
        return;
    for (size_t s = 0; s < run->n_stages; s++)
        free(run->stages[s].name);
    free(run->stages);
    free(run->label);
    free(run->verdict_stage);
    free(run->verdict_group);
    free(run->verdict_sentence);
    free(run->life_ns);
    free(run->stage_ns);
    free(run->padding_ns);
    free(run->by_arrival);
    free(run);
}
