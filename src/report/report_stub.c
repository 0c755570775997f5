/* Placeholder until the reports land. */
#include "servprof/analyze.h"

sp_status sp_report_write_text(const sp_report *r, FILE *out) { return SP_ERR_UNSUPPORTED; }
sp_status sp_report_write_json(const sp_report *r, FILE *out) { return SP_ERR_UNSUPPORTED; }
sp_status sp_report_write_perfetto(const sp_report *r, const sp_events *ev, FILE *out) { return SP_ERR_UNSUPPORTED; }
