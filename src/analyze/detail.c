/* Per-request detail for report writers that draw distributions rather than percentiles (the HTML
 * report): the stage partition rebuilt from the event set the report came from, with the analysis'
 * own partition code, so a histogram and the report's percentiles describe the same numbers. */
#include <string.h>

#include "analyze/analyze_int.h"

sp_status sp_ana_detail(const sp_events *ev, sp_outcome_scope scope, sp_ana *a)
{
    if (!ev || !a || !ev->finished)
        return SP_ERR_INVALID;
    memset(a, 0, sizeof *a);
    /* the partition only reads the event set; the context type is shared with sp_analyze, which
     * holds a mutable pointer because sp_ev_finish sorts */
    a->ev = (sp_events *)ev;
    sp_analyze_options_init(&a->opt);
    a->opt.lenient = 1;
    a->opt.outcomes = scope;
    a->st_network = -1;
    char err[256];
    sp_status st = sp_ana_partition(a, err, sizeof err);
    if (st) {
        sp_ana_free(a);
        memset(a, 0, sizeof *a); /* a second sp_ana_free stays harmless */
    }
    return st;
}
