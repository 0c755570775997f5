/* The JSON report's "generation" object (docs/report-format.md, docs/generation.md), written only for
 * traces with generation data so that other reports stay as they were. Empty sets are null values with
 * a zero count, never invented numbers. */
#include <inttypes.h>
#include <math.h>

#include "report/report_int.h"

static void num_or_null(FILE *out, double v, int have, int sig)
{
    sp_rep_json_num(out, have ? v : NAN, sig);
}

static void table(FILE *out, const char *key, const sp_gen_table *t)
{
    int have = t->count > 0;
    fprintf(out, "\"%s\":{\"count\":%" PRIu64 ",\"value_us\":", key, t->count);
    sp_rep_json_quantiles_us(out, &t->value, 1);
    fputs(",\"rows\":[", out);
    for (size_t i = 0; i < t->n_rows; i++) {
        const sp_gen_row *s = &t->rows[i];
        fputs(i ? ",\n  {\"name\":" : "\n  {\"name\":", out);
        sp_json_write_str(out, s->name, 0);
        if (have) {
            fputs(",\"p50_us\":", out);
            sp_rep_json_us(out, s->q.p50_ns);
            fputs(",\"p95_us\":", out);
            sp_rep_json_us(out, s->q.p95_ns);
            fputs(",\"p99_us\":", out);
            sp_rep_json_us(out, s->q.p99_ns);
            fputs(",\"mean_us\":", out);
            sp_rep_json_us_d(out, s->q.mean_ns);
            fputs(",\"max_us\":", out);
            sp_rep_json_us(out, s->q.max_ns);
        } else {
            fputs(",\"p50_us\":null,\"p95_us\":null,\"p99_us\":null,\"mean_us\":null,\"max_us\":null", out);
        }
        fputs(",\"share_of_p50\":", out);
        num_or_null(out, s->share_p50, have, 6);
        fputs(",\"share_of_p95\":", out);
        num_or_null(out, s->share_p95, have, 6);
        fputs(",\"share_of_p99\":", out);
        num_or_null(out, s->share_p99, have, 6);
        fputs(",\"total_us\":", out);
        sp_rep_json_us(out, s->total_ns);
        fputs("}", out);
    }
    fputs("],\"padding_share_of_p95\":", out);
    num_or_null(out, t->padding_share_p95, have, 6);
    const sp_verdict *v = &t->verdict;
    int judged = v->stage != NULL;
    fputs(",\"verdict\":{\"stage\":", out);
    if (judged)
        sp_json_write_str(out, v->stage, 0);
    else
        fputs("null", out);
    fprintf(out, ",\"group\":\"%s\",\"share_of_p95\":", sp_verdict_group_str(v->group));
    num_or_null(out, v->share_p95, judged, 6);
    fputs(",\"saving_p95_us\":", out);
    if (judged)
        sp_rep_json_us(out, v->saving_p95_ns);
    else
        fputs("null", out);
    fprintf(out, ",\"recommend_model\":%s,\"sentence\":", v->recommend_model ? "true" : "false");
    if (v->sentence)
        sp_json_write_str(out, v->sentence, 0);
    else
        fputs("null", out);
    fputs(",\"ranking\":", out);
    sp_rep_json_ranking(out, v);
    fputs("}}", out);
}

static void padding(FILE *out, const char *key, const sp_gen_padding *p)
{
    int have = p->steps > 0;
    fprintf(out, "\"%s\":{\"steps\":%" PRIu64 ",\"effective_tokens\":", key, p->steps);
    if (have)
        fprintf(out, "%" PRId64 ",\"padded_tokens\":%" PRId64, p->effective_tokens, p->padded_tokens);
    else
        fputs("null,\"padded_tokens\":null", out);
    fputs(",\"waste_fraction\":", out);
    num_or_null(out, p->waste_fraction, have, 6);
    fputs("}", out);
}

void sp_rep_json_generation(FILE *out, const sp_report *r)
{
    const sp_gen_summary *g = r->generation;
    fprintf(out, "\"generation\":{\"requests\":%" PRIu64 ",\"requests_without_first_token\":%" PRIu64
            ",\"requests_bad_tokens\":%" PRIu64 ",\"output_tokens\":%" PRIu64 ",\"output_tokens_per_request\":",
            g->requests, g->requests_no_first, g->requests_bad_tokens, g->output_tokens);
    sp_rep_json_quantiles_plain(out, &g->output_tokens_per_request, 1.0);
    fputs(",\n\"ttft_us\":", out);
    sp_rep_json_quantiles_us(out, &g->ttft, 1);
    fputs(",\"tpot_us\":", out);
    sp_rep_json_quantiles_us(out, &g->tpot, 1);
    fputs(",\"itl_us\":", out);
    sp_rep_json_quantiles_us(out, &g->itl, 1);
    fputs(",\"e2e_us\":", out);
    sp_rep_json_quantiles_us(out, &g->e2e, 1);
    fputs(",\n\"client\":", out);
    if (!g->client_requests) {
        fputs("null", out);
    } else {
        fprintf(out, "{\"requests\":%" PRIu64 ",\"ttft_us\":", g->client_requests);
        sp_rep_json_quantiles_us(out, &g->client_ttft, 1);
        fputs(",\"tpot_us\":", out);
        sp_rep_json_quantiles_us(out, &g->client_tpot, 1);
        fputs(",\"itl_us\":", out);
        sp_rep_json_quantiles_us(out, &g->client_itl, 1);
        fputs(",\"e2e_us\":", out);
        sp_rep_json_quantiles_us(out, &g->client_e2e, 1);
        fputs("}", out);
    }
    fprintf(out, ",\n\"ttft_from\":\"%s\",\n", g->has_client ? "send" : "arrival");
    table(out, "ttft", &g->ttft_table);
    fputs(",\n", out);
    table(out, "tpot", &g->tpot_table);
    fprintf(out, ",\n\"steps\":{\"count\":%" PRIu64 ",\"prefill_steps\":%" PRIu64 ",\"members\":", g->steps,
            g->prefill_steps);
    sp_rep_json_quantiles_plain(out, &g->step_members, 1.0);
    fputs(",", out);
    padding(out, "padding_prefill", &g->padding_prefill);
    fputs(",", out);
    padding(out, "padding_decode", &g->padding_decode);
    int kv = g->kv_steps > 0;
    fprintf(out, "},\n\"kv_cache\":{\"steps\":%" PRIu64 ",\"capacity_tokens\":", g->kv_steps);
    if (kv)
        fprintf(out, "%" PRId64, g->kv_capacity_tokens);
    else
        fputs("null", out);
    fputs(",\"used_mean_tokens\":", out);
    num_or_null(out, g->kv_used_mean_tokens, kv, 9);
    fputs(",\"occupancy_p50\":", out);
    num_or_null(out, g->kv_occupancy_p50, kv, 6);
    fputs(",\"occupancy_p95\":", out);
    num_or_null(out, g->kv_occupancy_p95, kv, 6);
    fputs(",\"occupancy_max\":", out);
    num_or_null(out, g->kv_occupancy_max, kv, 6);
    fputs(",\"waste_fraction\":", out);
    num_or_null(out, g->kv_waste_fraction, kv, 6);
    int priced = g->output_tokens > 0 && r->cost.window_ns > 0;
    fputs("},\n\"cost\":{\"per_output_token\":", out);
    num_or_null(out, g->cost_per_output_token, priced, 9);
    fputs(",\"per_output_token_by_state\":", out);
    sp_rep_json_states(out, g->cost_per_output_token_by_state, 1.0, priced, 9);
    fputs(",\"per_request_by_state\":", out);
    /* DESIGN section 7: bill / requests with the same split, over the analysed requests */
    sp_rep_json_states(out, r->cost.by_state, (double)r->request_count, r->cost.window_ns > 0 && r->request_count, 9);
    fputs(",\"request_cost_per_output_token\":", out);
    sp_rep_json_quantiles_plain(out, &g->request_cost_per_token_nano, 1e-9);
    fputs("},\n\"limits\":[", out);
    for (size_t i = 0; i < g->n_limits; i++) {
        if (i)
            putc(',', out);
        sp_json_write_str(out, g->limits[i], 0);
    }
    fputs("]}", out);
}
