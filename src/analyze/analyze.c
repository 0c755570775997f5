/* Placeholder until the analyzer lands. */
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "model/events_int.h"
#include "servprof/analyze.h"

void sp_analyze_options_init(sp_analyze_options *opt)
{
    memset(opt, 0, sizeof *opt);
}

sp_status sp_analyze(sp_events *ev, const sp_analyze_options *opt, sp_report **out, char *err, size_t errlen)
{
    sp_errf(err, errlen, "analyzer not built yet");
    return SP_ERR_UNSUPPORTED;
}

void sp_report_destroy(sp_report *r)
{
    free(r);
}

const char *sp_cost_state_str(sp_cost_state s) { return "?"; }
const char *sp_verdict_group_str(sp_verdict_group g) { return "?"; }
