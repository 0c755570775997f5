/* Pieces of the JSON report that its sections share with the generation section (json.c, json_gen.c):
 * quantile objects, the cost-state object, a stage row, a padding summary's token counts and a
 * verdict with its ranking (docs/report-format.md). */
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

/* One row of stages[] or of a generation table. */
void sp_rep_json_stage_row(FILE *out, const char *name, const sp_quantiles *q, int have_q, int mean_only,
                           const double shares[3], int have_shares, uint64_t total_ns)
{
    fputs("{\"name\":", out);
    sp_json_write_str(out, name, 0);
    if (have_q && mean_only) {
        /* from aggregated counters: the stage's own percentiles are not kept, its mean is */
        fputs(",\"p50_us\":null,\"p95_us\":null,\"p99_us\":null,\"mean_us\":", out);
        sp_rep_json_us_d(out, q->mean_ns);
        fputs(",\"max_us\":null", out);
    } else if (have_q) {
        fputs(",\"p50_us\":", out);
        sp_rep_json_us(out, q->p50_ns);
        fputs(",\"p95_us\":", out);
        sp_rep_json_us(out, q->p95_ns);
        fputs(",\"p99_us\":", out);
        sp_rep_json_us(out, q->p99_ns);
        fputs(",\"mean_us\":", out);
        sp_rep_json_us_d(out, q->mean_ns);
        fputs(",\"max_us\":", out);
        sp_rep_json_us(out, q->max_ns);
    } else {
        fputs(",\"p50_us\":null,\"p95_us\":null,\"p99_us\":null,\"mean_us\":null,\"max_us\":null", out);
    }
    static const char *const keys[3] = {",\"share_of_p50\":", ",\"share_of_p95\":", ",\"share_of_p99\":"};
    for (int i = 0; i < 3; i++) {
        fputs(keys[i], out);
        sp_rep_json_num(out, have_shares ? shares[i] : NAN, 6);
    }
    fputs(",\"total_us\":", out);
    sp_rep_json_us(out, total_ns);
    fputs("}", out);
}

/* "<key>":{"<count_key>":N,"effective_tokens":..,"padded_tokens":..,"waste_fraction":.. (left open) */
void sp_rep_json_padding_head(FILE *out, const char *key, const char *count_key, uint64_t count, int64_t effective,
                              int64_t padded, double waste_fraction)
{
    int have = count > 0;
    fprintf(out, "\"%s\":{\"%s\":%" PRIu64 ",\"effective_tokens\":", key, count_key, count);
    if (have)
        fprintf(out, "%" PRId64 ",\"padded_tokens\":%" PRId64, effective, padded);
    else
        fputs("null,\"padded_tokens\":null", out);
    fputs(",\"waste_fraction\":", out);
    sp_rep_json_num(out, have ? waste_fraction : NAN, 6);
}

static void str_or_null(FILE *out, const char *s)
{
    if (s)
        sp_json_write_str(out, s, 0);
    else
        fputs("null", out);
}

static void us_or_null(FILE *out, uint64_t ns, int have)
{
    if (have)
        sp_rep_json_us(out, ns);
    else
        fputs("null", out);
}

/* verdict.prediction (docs/report-format.md): null when no prediction was attempted; otherwise every
 * key, null where the prediction is unavailable. */
static void write_prediction(FILE *out, const sp_verdict_prediction *p)
{
    if (p->state == SP_PREDICTION_NONE) {
        fputs("null", out);
        return;
    }
    int done = p->state == SP_PREDICTION_DONE;
    fprintf(out, "{\"available\":%s,\"setting\":", done ? "true" : "false");
    str_or_null(out, done ? p->setting : NULL);
    fputs(",\"from\":", out);
    str_or_null(out, done ? p->from : NULL);
    fputs(",\"to\":", out);
    str_or_null(out, done ? p->to : NULL);
    fputs(",\"p95_before_us\":", out);
    us_or_null(out, p->p95_before_ns, done);
    fputs(",\"p95_after_us\":", out);
    us_or_null(out, p->p95_after_ns, done);
    fprintf(out, ",\"extrapolated\":%s,\"note\":", !done ? "null" : p->extrapolated ? "true" : "false");
    str_or_null(out, p->note);
    /* a queue past the window weighs two changes: the one not quoted, only then (docs/report-format.md) */
    if (done && p->alt_setting) {
        fputs(",\"alternative\":{\"setting\":", out);
        str_or_null(out, p->alt_setting);
        fputs(",\"from\":", out);
        str_or_null(out, p->alt_from);
        fputs(",\"to\":", out);
        str_or_null(out, p->alt_to);
        fputs(",\"p95_after_us\":", out);
        sp_rep_json_us(out, p->alt_p95_after_ns);
        fprintf(out, ",\"extrapolated\":%s}", p->alt_extrapolated ? "true" : "false");
    }
    fputs("}", out);
}

/* "verdict":{...}: the report's (with its prediction) or a generation table's (prediction NULL). */
void sp_rep_json_verdict(FILE *out, const sp_verdict *v, int judged, const sp_verdict_prediction *prediction)
{
    fputs("\"verdict\":{\"stage\":", out);
    str_or_null(out, v->stage);
    fputs(",\"group\":", out);
    sp_json_write_str(out, sp_verdict_group_str(v->group), 0);
    fputs(",\"share_of_p95\":", out);
    sp_rep_json_num(out, judged ? v->share_p95 : NAN, 6);
    fputs(",\"saving_p95_us\":", out);
    us_or_null(out, v->saving_p95_ns, judged);
    fprintf(out, ",\"recommend_model\":%s,\"sentence\":", v->recommend_model ? "true" : "false");
    str_or_null(out, v->sentence);
    if (prediction) {
        fputs(",\"prediction\":", out);
        write_prediction(out, prediction);
    }
    /* every candidate, leader first (docs/report-format.md) */
    fputs(",\"ranking\":", out);
    sp_rep_json_ranking(out, v);
    fputs("}", out);
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
