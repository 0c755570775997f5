/* The load generator's summary writers (load.h): the terminal table and the servprof.load/1 JSON
 * object docs/load.md describes. In the library, not the CLI, so every program that runs a load
 * reports it in the same form. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

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
            "  unsent %" PRIu64 "\n",
            r->connect_errors, r->timeouts, r->io_errors, r->protocol_errors, r->unsent);
    if (r->n_statuses) {
        fprintf(out, "  HTTP status ");
        for (size_t i = 0; i < r->n_statuses; i++)
            fprintf(out, " %d x %" PRIu64, r->statuses[i].status, r->statuses[i].count);
        fprintf(out, "\n");
    }
    fprintf(out, "  connections  opened %u, peak %u (cap %u), keep-alive retries %" PRIu64 "\n",
            r->connections_opened, r->peak_connections, o->connections, r->retries);
    fprintf(out, "  latency (ms)       p50       p90       p95       p99     p99.9       max      mean\n");
    lat_row(out, "corrected", &r->corrected);
    lat_row(out, "uncorrected", &r->uncorrected);
    lat_row(out, "sched. lag", &r->lag);
    fprintf(out, "  corrected = response done - intended send; uncorrected = done - actual send;\n"
                 "  schedule lag = actual send - intended send\n");
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

sp_status sp_load_result_write_json(const sp_load_result *r, FILE *out)
{
    fprintf(out,
            "{\"schema\":\"servprof.load/1\",\"target_rate\":%.3f,\"achieved_rate\":%.3f,\"rate_503\":%.3f,"
            "\"rate_other_status\":%.3f,\"send_rate\":%.3f,"
            "\"duration_s\":%.6f,\"scheduled\":%" PRIu64 ",\"warmup\":%" PRIu64 ",\"sent\":%" PRIu64
            ",\"responses\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"http_errors\":%" PRIu64 ",\"status_503\":%" PRIu64
            ",\"status_other\":%" PRIu64
            ",\"errors\":{\"connect\":%" PRIu64 ",\"timeout\":%" PRIu64 ",\"io\":%" PRIu64
            ",\"protocol\":%" PRIu64 ",\"unsent\":%" PRIu64 "},\"statuses\":{",
            r->target_rate, r->achieved_rate, r->rate_503, r->rate_other_status, r->send_rate, r->duration_s,
            r->scheduled, r->warmup, r->sent, r->responses, r->ok, r->http_errors, r->status_503, r->status_other,
            r->connect_errors, r->timeouts, r->io_errors, r->protocol_errors, r->unsent);
    for (size_t i = 0; i < r->n_statuses; i++)
        fprintf(out, "%s\"%d\":%" PRIu64, i ? "," : "", r->statuses[i].status, r->statuses[i].count);
    fprintf(out, "},\"retries\":%" PRIu64 ",\"connections_opened\":%u,\"peak_connections\":%u,", r->retries,
            r->connections_opened, r->peak_connections);
    lat_json(out, "corrected", &r->corrected, true);
    lat_json(out, "uncorrected", &r->uncorrected, true);
    lat_json(out, "lag", &r->lag, false);
    fprintf(out, "}\n");
    return out_status(out);
}
