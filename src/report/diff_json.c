/* The diff as one servprof.diff/1 JSON object (docs/diff.md, "JSON"): both runs with their verdicts,
 * how the intervals were made, every metric with both values, the change and its interval, and every
 * condition with its outcome. Durations are microseconds, as in servprof.report/1; no NaN or
 * infinity reaches the output (null instead). */
#include <inttypes.h>
#include <math.h>

#include "report/diff_fmt.h"
#include "report/report_int.h"
#include "servprof/diff.h"
#include "servprof/report.h"

/* A value of a metric in its JSON unit: durations in us (3 decimals: ns precision), fractions with 6
 * significant digits, money with 9, counts whole. */
static void value(FILE *out, sp_diff_unit u, double v)
{
    if (!isfinite(v))
        fputs("null", out);
    else if (u == SP_DIFF_UNIT_NS)
        sp_rep_json_us_d(out, v);
    else
        sp_rep_json_num(out, v, u == SP_DIFF_UNIT_DOLLARS ? 9 : u == SP_DIFF_UNIT_COUNT ? 17 : 6);
}

static void str_or_null(FILE *out, const char *s)
{
    if (s)
        sp_json_write_str(out, s, 0);
    else
        fputs("null", out);
}

static void write_side(FILE *out, const char *key, const sp_diff_side *s, uint64_t with_client)
{
    fprintf(out, "\"%s\":{\"label\":", key);
    sp_json_write_str(out, s->label, 0);
    fprintf(out, ",\"source\":\"%s\",\"files\":%zu,\"requests\":%" PRIu64 ",\"per_request_figures\":%s,"
                 "\"price_per_hour\":",
            s->source == SP_DIFF_FROM_REPORT ? "report" : "traces", s->files, s->requests,
            s->has_rows ? "true" : "false");
    sp_rep_json_num(out, s->price_per_hour, 9);
    fprintf(out, ",\"price_is_default\":%s,\"verdict\":{\"stage\":", s->price_is_default ? "true" : "false");
    str_or_null(out, s->verdict_stage);
    fputs(",\"group\":", out);
    str_or_null(out, s->verdict_group);
    fputs(",\"share_of_p95\":", out);
    sp_rep_json_num(out, s->verdict_share_p95, 6);
    fputs(",\"sentence\":", out);
    str_or_null(out, s->verdict_sentence);
    fprintf(out, "},\"with_client_record\":%" PRIu64 "}", with_client);
}

static void write_metric(FILE *out, const sp_diff_metric *m)
{
    fputs("{\"path\":", out);
    sp_json_write_str(out, m->path, 0);
    fputs(",\"stage\":", out);
    str_or_null(out, m->stage);
    fprintf(out, ",\"unit\":\"%s\",\"base\":", m->unit == SP_DIFF_UNIT_NS ? "us" : sp_diff_unit_str(m->unit));
    value(out, m->unit, m->base_value);
    fputs(",\"new\":", out);
    value(out, m->unit, m->new_value);
    fputs(",\"change\":", out);
    value(out, m->unit, m->change);
    fputs(",\"rel_change\":", out);
    sp_rep_json_num(out, m->rel_change, 6);
    fputs(",\"interval\":", out);
    if (m->has_interval) {
        fputs("{\"lo\":", out);
        value(out, m->unit, m->lo);
        fputs(",\"hi\":", out);
        value(out, m->unit, m->hi);
        fputs("},\"rel_interval\":", out);
        if (m->base_value != 0 && isfinite(m->base_value)) {
            fputs("{\"lo\":", out);
            sp_rep_json_num(out, m->lo / fabs(m->base_value), 6);
            fputs(",\"hi\":", out);
            sp_rep_json_num(out, m->hi / fabs(m->base_value), 6);
            fputs("}", out);
        } else {
            fputs("null", out);
        }
        fprintf(out, ",\"excludes_zero\":%s}", m->lo > 0 || m->hi < 0 ? "true" : "false");
    } else {
        fputs("null,\"rel_interval\":null,\"excludes_zero\":null}", out);
    }
}

static void write_check(FILE *out, const sp_diff *d, const sp_diff_check *k)
{
    const sp_diff_condition *c = &k->cond;
    fputs("{\"spec\":", out);
    sp_json_write_str(out, c->spec, 0);
    fputs(",\"metric\":", out);
    sp_json_write_str(out, c->metric, 0);
    fprintf(out, ",\"direction\":\"%s\",\"relative\":%s,\"threshold\":", c->direction > 0 ? "rise" : "fall",
            c->relative ? "true" : "false");
    /* relative: a fraction of BASE's value; absolute: in the metric's unit, like its values */
    if (c->relative)
        sp_rep_json_num(out, c->threshold, 9);
    else
        value(out, c->unit, c->threshold);
    fprintf(out, ",\"basis\":\"%s\",\"bound\":", k->basis == SP_DIFF_BASIS_INTERVAL ? "interval" : "point");
    if (c->relative)
        sp_rep_json_num(out, k->bound, 6);
    else
        value(out, c->unit, k->bound);
    fprintf(out, ",\"base_zero\":%s,\"holds\":%s}", k->base_zero ? "true" : "false", k->holds ? "true" : "false");
    (void)d;
}

sp_status sp_diff_write_json(const sp_diff *d, FILE *out)
{
    if (!d || !out)
        return SP_ERR_INVALID;
    fprintf(out, "{\"schema\":\"%s\",\"version\":\"%s\",\n", SP_DIFF_SCHEMA, sp_version());
    write_side(out, "base", &d->base, d->with_client[0]);
    fputs(",\n", out);
    write_side(out, "new", &d->after, d->with_client[1]);
    fprintf(out, ",\n\"bootstrap\":{\"intervals\":%s,\"confidence\":", d->intervals ? "true" : "false");
    sp_rep_json_num(out, d->opt.confidence, 6);
    fprintf(out, ",\"resamples\":%u,\"seed\":%" PRIu64 ",\"block\":", d->opt.resamples, d->opt.seed);
    if (d->intervals)
        fprintf(out, "{\"base\":%zu,\"new\":%zu}", d->base.block, d->after.block);
    else
        fputs("null", out);
    fputs(",\"note\":", out);
    if (d->intervals) {
        fputs("null", out);
    } else {
        char why[256];
        sp_json_write_str(out, sp_rep_diff_no_interval_reason(why, sizeof why, d), 0);
    }
    fputs("},\n\"stages\":[", out);
    for (size_t u = 0; u < d->n_stages; u++) {
        fputs(u ? ",{\"name\":" : "{\"name\":", out);
        sp_json_write_str(out, d->stages[u].name, 0);
        fprintf(out, ",\"in_base\":%s,\"in_new\":%s}", d->stages[u].in_base ? "true" : "false",
                d->stages[u].in_new ? "true" : "false");
    }
    fputs("],\n\"metrics\":[", out);
    for (size_t k = 0; k < d->n_metrics; k++) {
        fputs(k ? ",\n " : "\n ", out);
        write_metric(out, &d->metrics[k]);
    }
    fputs("],\n\"conditions\":[", out);
    for (size_t i = 0; i < d->n_checks; i++) {
        fputs(i ? ",\n " : "\n ", out);
        write_check(out, d, &d->checks[i]);
    }
    fprintf(out, "],\n\"holding\":%zu}\n", d->n_holding);
    return sp_rep_finish(out);
}
