/* The load generator's summary writers (load.h): the terminal table and the servprof.load/1 JSON
 * object docs/load.md describes, with the streaming generation figures when the run streamed. In the
 * library, not the CLI, so every program that runs a load reports it in the same form. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/json_esc_int.h"
#include "load/load_int.h"

/* A write that failed leaves the stream in error; one more flush sets errno to the reason. */
static sp_status out_status(FILE *out)
{
    return fflush(out) != 0 || ferror(out) ? SP_ERR_IO : SP_OK;
}

static const char *arrival_label(const sp_load_config *o, char *buf, size_t len)
{
    switch (o->arrival) {
    case SP_LOAD_ARRIVAL_POISSON: return "poisson";
    case SP_LOAD_ARRIVAL_CONSTANT: return "constant";
    case SP_LOAD_ARRIVAL_GAMMA: snprintf(buf, len, "gamma (CV %g)", o->gamma_cv); return buf;
    case SP_LOAD_ARRIVAL_REPLAY: snprintf(buf, len, "replay of %s", o->replay_path); return buf;
    }
    return "?";
}

static void lat_row(FILE *out, const char *name, const sp_load_latency *l)
{
    fprintf(out, "    %-12s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f  (n=%" PRIu64 ")\n", name, l->p50 / 1e6,
            l->p90 / 1e6, l->p95 / 1e6, l->p99 / 1e6, l->p999 / 1e6, l->max / 1e6, l->mean / 1e6, l->count);
}

/* The streaming generation block of the table (docs/load.md "Streaming figures"). */
static void stream_text(const sp_load_config *o, const sp_load_result *r, FILE *out)
{
    const sp_load_stream_result *s = &r->streamed;
    fprintf(out,
            "  generation   %s, output tokens %" PRIu64 " (%.1f/s), prompt tokens %" PRIu64
            " (usage from %" PRIu64 " of %" PRIu64 " successes)\n",
            o->chat ? "chat completions" : "completions", s->output_tokens, s->output_tokens_per_s,
            s->prompt_tokens, s->usage_reported, r->ok);
    if (s->without_tokens || s->usage_below_events || s->token_times_dropped)
        fprintf(out,
                "               successes without a token %" PRIu64 ", usage below content events %" PRIu64
                ", token times not kept %" PRIu64 "\n",
                s->without_tokens, s->usage_below_events, s->token_times_dropped);
    fprintf(out,
            "  failed streams  error event %" PRIu64 "  no [DONE] %" PRIu64 "  not an event stream %" PRIu64
            "  malformed %" PRIu64 "\n",
            s->failed[SP_LOAD_STREAM_ERROR_EVENT], s->failed[SP_LOAD_STREAM_NO_DONE],
            s->failed[SP_LOAD_STREAM_NOT_SSE], s->failed[SP_LOAD_STREAM_MALFORMED]);
    if (s->first_error[0])
        fprintf(out, "  first failed stream: %s\n", s->first_error);
    fprintf(out, "  tokens (ms)        p50       p90       p95       p99     p99.9       max      mean\n");
    lat_row(out, "TTFT", &s->ttft);
    lat_row(out, "TTFT (send)", &s->ttft_send);
    lat_row(out, "TPOT", &s->tpot);
    lat_row(out, "ITL", &s->itl);
    lat_row(out, "e2e", &s->e2e);
    fprintf(out, "  TTFT = first token's arrival - intended send (TTFT (send): - actual send, as vLLM's benchmark);\n"
                 "  TPOT = (last token - first token) / (output tokens - 1); ITL = gaps between consecutive\n"
                 "  tokens; e2e = response done - intended send; over successes\n");
}

sp_status sp_load_result_write_text(const sp_load_config *o, const sp_load_result *r, FILE *out)
{
    char ab[600];
    fprintf(out, "servprof load: %s, %s arrivals, seed %" PRIu64 "\n", o->url, arrival_label(o, ab, sizeof ab),
            o->seed);
    fprintf(out,
            "  rate         target %.1f/s   achieved %.1f/s ok (%.2f%% of target), 503 %.1f/s, other status "
            "%.1f/s   sent %.1f/s   over %.3f s\n",
            r->target_rate, r->achieved_rate, r->target_rate > 0 ? 100.0 * r->achieved_rate / r->target_rate : 0.0,
            r->rate_503, r->rate_other_status, r->send_rate, r->duration_s);
    fprintf(out,
            "  requests     scheduled %" PRIu64 "  sent %" PRIu64 "  responses %" PRIu64 " (2xx %" PRIu64
            ", 503 %" PRIu64 ", other %" PRIu64 ")  warm-up %" PRIu64 " (not counted)\n",
            r->scheduled, r->sent, r->responses, r->ok, r->status_503, r->status_other, r->warmup);
    fprintf(out,
            "  no response  connect %" PRIu64 "  timeout %" PRIu64 "  io %" PRIu64 "  protocol %" PRIu64
            "  unsent %" PRIu64 "%s",
            r->connect_errors, r->timeouts, r->io_errors, r->protocol_errors, r->unsent, r->stream ? "" : "\n");
    if (r->stream)
        fprintf(out, "  stream %" PRIu64 "\n", r->stream_errors);
    if (r->n_statuses) {
        fprintf(out, "  HTTP status ");
        for (size_t i = 0; i < r->n_statuses; i++)
            fprintf(out, " %d x %" PRIu64, r->statuses[i].status, r->statuses[i].count);
        fprintf(out, "\n");
    }
    /* the server's reason for the first error answer: the figures alone do not say why (a context
     * too short for the asked max_tokens answers every request 400) */
    if (r->first_error_status)
        fprintf(out, "  first error  %d: %s\n", r->first_error_status,
                r->first_error_body[0] ? r->first_error_body : "(no body)");
    fprintf(out, "  connections  opened %u, peak %u (cap %u), keep-alive retries %" PRIu64 "\n",
            r->connections_opened, r->peak_connections, o->connections, r->retries);
    fprintf(out, "  latency (ms)       p50       p90       p95       p99     p99.9       max      mean\n");
    lat_row(out, "corrected", &r->corrected);
    lat_row(out, "uncorrected", &r->uncorrected);
    lat_row(out, "sched. lag", &r->lag);
    fprintf(out, "  corrected = response done - intended send; uncorrected = done - actual send;\n"
                 "  schedule lag = actual send - intended send\n");
    if (r->stream)
        stream_text(o, r, out);
    return out_status(out);
}

static void lat_json(FILE *out, const char *name, const sp_load_latency *l, bool comma)
{
    fprintf(out,
            "\"%s\":{\"count\":%" PRIu64 ",\"p50_us\":%.3f,\"p90_us\":%.3f,\"p95_us\":%.3f,"
            "\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f,\"mean_us\":%.3f}%s",
            name, l->count, l->p50 / 1e3, l->p90 / 1e3, l->p95 / 1e3, l->p99 / 1e3, l->p999 / 1e3, l->max / 1e3,
            l->mean / 1e3, comma ? "," : "");
}

/* "stream": the streaming generation figures, or null when the run did not stream. */
static void stream_json(const sp_load_result *r, FILE *out)
{
    if (!r->stream) {
        fprintf(out, "\"stream\":null");
        return;
    }
    const sp_load_stream_result *s = &r->streamed;
    fprintf(out,
            "\"stream\":{\"output_tokens\":%" PRIu64 ",\"output_tokens_per_s\":%.3f,\"prompt_tokens\":%" PRIu64
            ",\"usage_reported\":%" PRIu64 ",\"usage_below_events\":%" PRIu64 ",\"without_tokens\":%" PRIu64
            ",\"token_times_dropped\":%" PRIu64 ",\"failed\":{\"error_event\":%" PRIu64 ",\"no_done\":%" PRIu64
            ",\"not_event_stream\":%" PRIu64 ",\"malformed\":%" PRIu64 "},\"first_error\":",
            s->output_tokens, s->output_tokens_per_s, s->prompt_tokens, s->usage_reported, s->usage_below_events,
            s->without_tokens, s->token_times_dropped, s->failed[SP_LOAD_STREAM_ERROR_EVENT],
            s->failed[SP_LOAD_STREAM_NO_DONE], s->failed[SP_LOAD_STREAM_NOT_SSE], s->failed[SP_LOAD_STREAM_MALFORMED]);
    if (s->first_error[0])
        sp_json_write_str(out, s->first_error, 0);
    else
        fprintf(out, "null");
    fprintf(out, ",");
    lat_json(out, "ttft", &s->ttft, true);
    lat_json(out, "ttft_send", &s->ttft_send, true);
    lat_json(out, "tpot", &s->tpot, true);
    lat_json(out, "itl", &s->itl, true);
    lat_json(out, "e2e", &s->e2e, false);
    fprintf(out, "}");
}

sp_status sp_load_result_write_json(const sp_load_result *r, FILE *out)
{
    fprintf(out,
            "{\"schema\":\"servprof.load/1\",\"target_rate\":%.3f,\"achieved_rate\":%.3f,\"rate_503\":%.3f,"
            "\"rate_other_status\":%.3f,\"send_rate\":%.3f,"
            "\"duration_s\":%.6f,\"scheduled\":%" PRIu64 ",\"warmup\":%" PRIu64 ",\"sent\":%" PRIu64
            ",\"responses\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"http_errors\":%" PRIu64 ",\"status_503\":%" PRIu64
            ",\"status_other\":%" PRIu64
            ",\"errors\":{\"connect\":%" PRIu64 ",\"timeout\":%" PRIu64 ",\"io\":%" PRIu64
            ",\"protocol\":%" PRIu64 ",\"unsent\":%" PRIu64 ",\"stream\":%" PRIu64 "},\"statuses\":{",
            r->target_rate, r->achieved_rate, r->rate_503, r->rate_other_status, r->send_rate, r->duration_s,
            r->scheduled, r->warmup, r->sent, r->responses, r->ok, r->http_errors, r->status_503, r->status_other,
            r->connect_errors, r->timeouts, r->io_errors, r->protocol_errors, r->unsent, r->stream_errors);
    for (size_t i = 0; i < r->n_statuses; i++)
        fprintf(out, "%s\"%d\":%" PRIu64, i ? "," : "", r->statuses[i].status, r->statuses[i].count);
    fprintf(out, "},\"first_error\":");
    if (r->first_error_status) {
        fprintf(out, "{\"status\":%d,\"reason\":", r->first_error_status);
        sp_json_write_str(out, r->first_error_body, 0);
        fprintf(out, "}");
    } else {
        fprintf(out, "null");
    }
    fprintf(out, ",\"retries\":%" PRIu64 ",\"connections_opened\":%u,\"peak_connections\":%u,", r->retries,
            r->connections_opened, r->peak_connections);
    lat_json(out, "corrected", &r->corrected, true);
    lat_json(out, "uncorrected", &r->uncorrected, true);
    lat_json(out, "lag", &r->lag, true);
    stream_json(r, out);
    fprintf(out, "}\n");
    return out_status(out);
}
