/* Placeholder until the reports land. */
#include "servprof/analyze.h"

sp_status sp_report_write_text(const sp_report *r, FILE *out) { return SP_ERR_UNSUPPORTED; }
sp_status sp_report_write_json(const sp_report *r, FILE *out) { return SP_ERR_UNSUPPORTED; }
sp_status sp_report_write_perfetto(const sp_report *r, const sp_events *ev, FILE *out) { return SP_ERR_UNSUPPORTED; }
const char *sp_cost_state_str(sp_cost_state s) { return "?"; }
const char *sp_verdict_group_str(sp_verdict_group g) { return "?"; }
