/* Pieces of the JSON report that its sections share with the generation section (json.c, json_gen.c):
 * quantile objects, the cost-state object and a verdict's ranking (docs/report-format.md). */
#include <inttypes.h>
#include <math.h>

#include "report/report_int.h"

/* Quantiles of a duration set in us; all null when the set is empty. */
void sp_rep_json_quantiles_us(FILE *out, const sp_quantiles *q, int with_extremes)
{
    if (q->count == 0) {
        fputs("{\"p50\":null,\"p95\":null,\"p99\":null,\"mean\":null", out);
        if (with_extremes)
            fputs(",\"min\":null,\"max\":null", out);
        fputs(",\"count\":0}", out);
        return;
    }
    fputs("{\"p50\":", out);
    sp_rep_json_us(out, q->p50_ns);
    fputs(",\"p95\":", out);
    sp_rep_json_us(out, q->p95_ns);
    fputs(",\"p99\":", out);
    sp_rep_json_us(out, q->p99_ns);
    fputs(",\"mean\":", out);
    sp_rep_json_us_d(out, q->mean_ns);
    if (with_extremes) {
        fputs(",\"min\":", out);
        sp_rep_json_us(out, q->min_ns);
        fputs(",\"max\":", out);
        sp_rep_json_us(out, q->max_ns);
    }
    fprintf(out, ",\"count\":%" PRIu64 "}", q->count);
}

/* Quantiles of a dimensionless set (batch sizes) or of money in 1e-9 units (scale 1e-9). */
void sp_rep_json_quantiles_plain(FILE *out, const sp_quantiles *q, double scale)
{
    if (q->count == 0) {
        fputs("{\"p50\":null,\"p95\":null,\"p99\":null,\"mean\":null,\"min\":null,\"max\":null,"
              "\"count\":0}", out);
        return;
    }
    fputs("{\"p50\":", out);
    sp_rep_json_num(out, (double)q->p50_ns * scale, 9);
    fputs(",\"p95\":", out);
    sp_rep_json_num(out, (double)q->p95_ns * scale, 9);
    fputs(",\"p99\":", out);
    sp_rep_json_num(out, (double)q->p99_ns * scale, 9);
    fputs(",\"mean\":", out);
    sp_rep_json_num(out, q->mean_ns * scale, 9);
    fputs(",\"min\":", out);
    sp_rep_json_num(out, (double)q->min_ns * scale, 9);
    fputs(",\"max\":", out);
    sp_rep_json_num(out, (double)q->max_ns * scale, 9);
    fprintf(out, ",\"count\":%" PRIu64 "}", q->count);
}

/* {"useful":x,"padding":x,...}: v[s] / div per cost state, or null for every one when !have. */
void sp_rep_json_states(FILE *out, const double *v, double div, int have, int sig)
{
    putc('{', out);
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        if (s)
            putc(',', out);
        sp_json_write_str(out, sp_cost_state_str((sp_cost_state)s), 0);
        putc(':', out);
        sp_rep_json_num(out, have ? v[s] / div : NAN, sig);
    }
    putc('}', out);
}

/* A verdict's ranking: every candidate, leader first (verdict.ranking in docs/report-format.md). */
void sp_rep_json_ranking(FILE *out, const sp_verdict *v)
{
    fputs("[", out);
    for (size_t k = 0; k < v->n_ranking; k++) {
        const sp_verdict_rank *c = &v->ranking[k];
        fputs(k ? ",\n {\"stage\":" : "\n {\"stage\":", out);
        sp_json_write_str(out, c->stage ? c->stage : "", 0);
        fputs(",\"group\":", out);
        sp_json_write_str(out, sp_verdict_group_str(c->group), 0);
        fputs(",\"share_of_p95\":", out);
        sp_rep_json_num(out, c->share_p95, 6);
        fputs(",\"p95_saving_us\":", out);
        sp_rep_json_us(out, c->saving_p95_ns);
        fputs(",\"fix\":", out);
        sp_json_write_str(out, c->fix ? c->fix : "", 0);
        fputs("}", out);
    }
    fputs("]", out);
}
