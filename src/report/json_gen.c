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
        const double shares[3] = {s->share_p50, s->share_p95, s->share_p99};
        fputs(i ? ",\n  " : "\n  ", out);
        sp_rep_json_stage_row(out, s->name, &s->q, have, 0, shares, have, s->total_ns);
    }
    fputs("],\"padding_share_of_p95\":", out);
    num_or_null(out, t->padding_share_p95, have, 6);
    fputs(",", out);
    sp_rep_json_verdict(out, &t->verdict, t->verdict.stage != NULL, NULL);
    fputs("}", out);
}

static void padding(FILE *out, const char *key, const sp_gen_padding *p)
{
    sp_rep_json_padding_head(out, key, "steps", p->steps, p->effective_tokens, p->padded_tokens, p->waste_fraction);
    fputs("}", out);
}

/* "ttft_us":..,"tpot_us":..,"itl_us":..,"e2e_us":..: the server's figures or the client's. */
static void latencies(FILE *out, const sp_quantiles *ttft, const sp_quantiles *tpot, const sp_quantiles *itl,
                      const sp_quantiles *e2e)
{
    fputs("\"ttft_us\":", out);
    sp_rep_json_quantiles_us(out, ttft, 1);
    fputs(",\"tpot_us\":", out);
    sp_rep_json_quantiles_us(out, tpot, 1);
    fputs(",\"itl_us\":", out);
    sp_rep_json_quantiles_us(out, itl, 1);
    fputs(",\"e2e_us\":", out);
    sp_rep_json_quantiles_us(out, e2e, 1);
}

void sp_rep_json_generation(FILE *out, const sp_report *r)
{
    const sp_gen_summary *g = r->generation;
    fprintf(out, "\"generation\":{\"requests\":%" PRIu64 ",\"requests_without_first_token\":%" PRIu64
            ",\"requests_bad_tokens\":%" PRIu64 ",\"output_tokens\":%" PRIu64 ",\"output_tokens_per_request\":",
            g->requests, g->requests_no_first, g->requests_bad_tokens, g->output_tokens);
    sp_rep_json_quantiles_plain(out, &g->output_tokens_per_request, 1.0);
    fputs(",\n", out);
    latencies(out, &g->ttft, &g->tpot, &g->itl, &g->e2e);
    fputs(",\n\"client\":", out);
    if (!g->client_requests) {
        fputs("null", out);
    } else {
        fprintf(out, "{\"requests\":%" PRIu64 ",", g->client_requests);
        latencies(out, &g->client_ttft, &g->client_tpot, &g->client_itl, &g->client_e2e);
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
