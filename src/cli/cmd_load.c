/* `servprof load`: the command-line face of the open-loop load generator (include/servprof/load.h).
 * Parses options, shows a progress line once per second, and prints the summary: target vs achieved
 * rate, outcomes, corrected and uncorrected percentiles, schedule lag. */
#ifdef SERVPROF_LOAD_ENABLED

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/commands.h"
#include "servprof/load.h"

static atomic_int g_load_stop;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store_explicit(&g_load_stop, 1, memory_order_relaxed);
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: servprof load [OPTIONS]\n"
"Open-loop HTTP load generator: sends POST requests {\"input\":\"<text>\",\"model\":\"servprof\"} on a\n"
"schedule fixed in advance and measures latency from each request's intended send time.\n"
"\n"
"  --url URL            target, http://HOST[:PORT][/PATH] (default http://127.0.0.1:8080/v1/embeddings)\n"
"  --rate R             target requests per second (default 100; not used by replay)\n"
"  --duration S         seconds of measured load after the warm-up (default 10)\n"
"  --requests N         send exactly N measured requests instead of a duration\n"
"  --warmup S           seconds of load first, sent and traced but not counted (default 0)\n"
"  --connections N      cap on keep-alive connections, opened on demand (default 64, max %u)\n"
"  --seed N             seeds arrivals and texts: same seed, same schedule (default 1)\n"
"  --timeout S          per-request timeout from its send (default 10)\n"
"  --arrival KIND       poisson (default) | constant | gamma:CV | replay:FILE\n"
"                         gamma:CV: gamma gaps, CV = coefficient of variation (burstiness;\n"
"                         1 is Poisson-like, >1 burstier, <1 more regular)\n"
"                         replay:FILE: one timestamp in seconds per line, non-decreasing;\n"
"                         '#' lines and blank lines skipped; played relative to the first\n"
"  --burstiness CV      same as --arrival gamma:CV\n"
"  --length DIST        words per request text: lognormal[:MEAN[:SIGMA]] (default lognormal:32:0.5,\n"
"                         MEAN = arithmetic mean, SIGMA = sd of ln length) | uniform:MIN:MAX |\n"
"                         fixed:N | file:PATH (each non-empty line is one request's text, in order,\n"
"                         cycled)\n"
"  --model NAME         the body's \"model\" field (default servprof)\n"
"  --id-prefix P        request ids are P-1, P-2, ... sent as X-Request-Id (default c1)\n"
"  --trace FILE         write the client trace (servprof.events/1 JSONL: one \"client\" line per\n"
"                         request with intended_ns, send_ns, done_ns, status; CLOCK_MONOTONIC ns)\n"
"  --progress           progress line on stderr once per second even if stderr is not a terminal\n"
"  --no-progress        never print the progress line\n"
"  --json               print the summary as one JSON object instead of the table\n"
"  -h, --help           this text\n"
"\n"
"Latency 'corrected' runs from the intended send time (so a stalled server cannot hide its tail);\n"
"'uncorrected' from the actual send; 'schedule lag' = actual send - intended. Percentiles are exact\n"
"(nearest rank over all recorded values). Exit status: 0 when the run completed with at least one\n"
"response (or nothing was scheduled), 1 when it failed or got no response at all, 2 on usage errors.\n",
            SP_LOAD_MAX_CONNECTIONS);
}

static bool parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (e == s || *e || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "servprof load: %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_u64(const char *opt, const char *s, uint64_t hi, uint64_t *out)
{
    char *e;
    errno = 0;
    if (*s == '-' || *s == '\0')
        goto bad;
    unsigned long long v = strtoull(s, &e, 10);
    if (*e || errno || v > hi)
        goto bad;
    *out = v;
    return true;
bad:
    fprintf(stderr, "servprof load: %s: expected an integer in [0, %" PRIu64 "], got '%s'\n", opt, hi, s);
    return false;
}

static bool parse_arrival(const char *s, sp_load_config *o)
{
    if (strcmp(s, "poisson") == 0)
        o->arrival = SP_LOAD_ARRIVAL_POISSON;
    else if (strcmp(s, "constant") == 0)
        o->arrival = SP_LOAD_ARRIVAL_CONSTANT;
    else if (strcmp(s, "gamma") == 0)
        o->arrival = SP_LOAD_ARRIVAL_GAMMA;
    else if (strncmp(s, "gamma:", 6) == 0) {
        o->arrival = SP_LOAD_ARRIVAL_GAMMA;
        return parse_double("--arrival gamma:CV", s + 6, 1e-3, 100, &o->gamma_cv);
    } else if (strncmp(s, "replay:", 7) == 0 && s[7]) {
        o->arrival = SP_LOAD_ARRIVAL_REPLAY;
        o->replay_path = s + 7;
    } else {
        fprintf(stderr, "servprof load: --arrival: expected poisson, constant, gamma:CV or replay:FILE, "
                        "got '%s'\n", s);
        return false;
    }
    return true;
}

static bool parse_length(const char *s, sp_load_config *o)
{
    char buf[256];
    if (strncmp(s, "file:", 5) == 0 && s[5]) {
        o->length = SP_LOAD_LENGTH_FILE;
        o->length_path = s + 5;
        return true;
    }
    if (strlen(s) >= sizeof buf)
        goto bad;
    strcpy(buf, s);
    char *kind = strtok(buf, ":"), *a = strtok(NULL, ":"), *b = strtok(NULL, ":"), *c = strtok(NULL, ":");
    if (!kind || c)
        goto bad;
    uint64_t u1, u2;
    if (strcmp(kind, "lognormal") == 0) {
        o->length = SP_LOAD_LENGTH_LOGNORMAL;
        if (a && !parse_double("--length lognormal:MEAN", a, 1, SP_LOAD_MAX_WORDS, &o->length_mean))
            return false;
        if (b && !parse_double("--length lognormal:MEAN:SIGMA", b, 0, 5, &o->length_sigma))
            return false;
        return true;
    }
    if (strcmp(kind, "uniform") == 0 && a && b) {
        if (!parse_u64("--length uniform:MIN", a, SP_LOAD_MAX_WORDS, &u1) ||
            !parse_u64("--length uniform:MAX", b, SP_LOAD_MAX_WORDS, &u2))
            return false;
        if (u1 < 1 || u2 < u1) {
            fprintf(stderr, "servprof load: --length uniform:MIN:MAX needs 1 <= MIN <= MAX\n");
            return false;
        }
        o->length = SP_LOAD_LENGTH_UNIFORM;
        o->length_min = (unsigned)u1;
        o->length_max = (unsigned)u2;
        return true;
    }
    if (strcmp(kind, "fixed") == 0 && a && !b) {
        if (!parse_u64("--length fixed:N", a, SP_LOAD_MAX_WORDS, &u1))
            return false;
        if (u1 < 1) {
            fprintf(stderr, "servprof load: --length fixed:N needs N >= 1\n");
            return false;
        }
        o->length = SP_LOAD_LENGTH_FIXED;
        o->length_fixed = (unsigned)u1;
        return true;
    }
bad:
    fprintf(stderr, "servprof load: --length: expected lognormal[:MEAN[:SIGMA]], uniform:MIN:MAX, "
                    "fixed:N or file:PATH, got '%s'\n", s);
    return false;
}

static void on_progress(void *user, const sp_load_progress *p)
{
    (void)user;
    fprintf(stderr,
            "\r[%6.1fs] scheduled %" PRIu64 "  done %" PRIu64 "  errors %" PRIu64 "  in flight %" PRIu64
            "  waiting %" PRIu64 "  conns %u  %.0f/s   ",
            p->elapsed_s, p->scheduled, p->completed, p->errors, p->in_flight, p->waiting,
            p->connections, p->rate_last_s);
    fflush(stderr);
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

static void print_lat_row(const char *name, const sp_load_latency *l)
{
    printf("    %-12s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f  (n=%" PRIu64 ")\n", name, l->p50 / 1e6,
           l->p90 / 1e6, l->p95 / 1e6, l->p99 / 1e6, l->p999 / 1e6, l->max / 1e6, l->mean / 1e6, l->count);
}

static void print_table(const sp_load_config *o, const sp_load_result *r)
{
    char ab[600];
    printf("servprof load: %s, %s arrivals, seed %" PRIu64 "\n", o->url, arrival_label(o, ab, sizeof ab),
           o->seed);
    printf("  rate         target %.1f/s   achieved %.1f/s (%.2f%% of target)   sent %.1f/s   over %.3f s\n",
           r->target_rate, r->achieved_rate, r->target_rate > 0 ? 100.0 * r->achieved_rate / r->target_rate : 0.0,
           r->send_rate, r->duration_s);
    printf("  requests     scheduled %" PRIu64 "  sent %" PRIu64 "  responses %" PRIu64 " (2xx %" PRIu64
           ", other %" PRIu64 ")  warm-up %" PRIu64 " (not counted)\n",
           r->scheduled, r->sent, r->responses, r->ok, r->http_errors, r->warmup);
    printf("  errors       connect %" PRIu64 "  timeout %" PRIu64 "  io %" PRIu64 "  protocol %" PRIu64
           "  unsent %" PRIu64 "\n",
           r->connect_errors, r->timeouts, r->io_errors, r->protocol_errors, r->unsent);
    if (r->n_statuses) {
        printf("  HTTP status ");
        for (size_t i = 0; i < r->n_statuses; i++)
            printf(" %d x %" PRIu64, r->statuses[i].status, r->statuses[i].count);
        printf("\n");
    }
    printf("  connections  opened %u, peak %u (cap %u), keep-alive retries %" PRIu64 "\n",
           r->connections_opened, r->peak_connections, o->connections, r->retries);
    printf("  latency (ms)       p50       p90       p95       p99     p99.9       max      mean\n");
    print_lat_row("corrected", &r->corrected);
    print_lat_row("uncorrected", &r->uncorrected);
    print_lat_row("sched. lag", &r->lag);
    printf("  corrected = response done - intended send; uncorrected = done - actual send;\n"
           "  schedule lag = actual send - intended send\n");
}

static void print_lat_json(const char *name, const sp_load_latency *l, bool comma)
{
    printf("\"%s\":{\"count\":%" PRIu64 ",\"p50_us\":%.3f,\"p90_us\":%.3f,\"p95_us\":%.3f,"
           "\"p99_us\":%.3f,\"p999_us\":%.3f,\"max_us\":%.3f,\"mean_us\":%.3f}%s",
           name, l->count, l->p50 / 1e3, l->p90 / 1e3, l->p95 / 1e3, l->p99 / 1e3, l->p999 / 1e3,
           l->max / 1e3, l->mean / 1e3, comma ? "," : "");
}

static void print_json(const sp_load_result *r)
{
    printf("{\"schema\":\"servprof.load/1\",\"target_rate\":%.3f,\"achieved_rate\":%.3f,\"send_rate\":%.3f,"
           "\"duration_s\":%.6f,\"scheduled\":%" PRIu64 ",\"warmup\":%" PRIu64 ",\"sent\":%" PRIu64
           ",\"responses\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"http_errors\":%" PRIu64
           ",\"errors\":{\"connect\":%" PRIu64 ",\"timeout\":%" PRIu64 ",\"io\":%" PRIu64
           ",\"protocol\":%" PRIu64 ",\"unsent\":%" PRIu64 "},\"statuses\":{",
           r->target_rate, r->achieved_rate, r->send_rate, r->duration_s, r->scheduled, r->warmup, r->sent,
           r->responses, r->ok, r->http_errors, r->connect_errors, r->timeouts, r->io_errors,
           r->protocol_errors, r->unsent);
    for (size_t i = 0; i < r->n_statuses; i++)
        printf("%s\"%d\":%" PRIu64, i ? "," : "", r->statuses[i].status, r->statuses[i].count);
    printf("},\"retries\":%" PRIu64 ",\"connections_opened\":%u,\"peak_connections\":%u,", r->retries,
           r->connections_opened, r->peak_connections);
    print_lat_json("corrected", &r->corrected, true);
    print_lat_json("uncorrected", &r->uncorrected, true);
    print_lat_json("lag", &r->lag, false);
    printf("}\n");
}

int sp_cmd_load(int argc, char **argv)
{
    sp_load_config o;
    sp_load_config_init(&o);
    int progress = -1; /* -1: when stderr is a terminal */
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--progress") == 0) {
            progress = 1;
            continue;
        }
        if (strcmp(a, "--no-progress") == 0) {
            progress = 0;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            json = true;
            continue;
        }
        /* every other option takes a value: --opt VALUE or --opt=VALUE */
        const char *val = NULL;
        char name[64];
        const char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) == 0 && eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = '\0';
            val = eq + 1;
        } else if (strncmp(a, "--", 2) == 0 && strlen(a) < sizeof name) {
            strcpy(name, a);
            if (i + 1 >= argc) {
                fprintf(stderr, "servprof load: %s needs a value (see --help)\n", a);
                return 2;
            }
            val = argv[++i];
        } else {
            fprintf(stderr, "servprof load: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
        uint64_t u;
        bool ok = true;
        if (strcmp(name, "--url") == 0)
            o.url = val;
        else if (strcmp(name, "--rate") == 0)
            ok = parse_double(name, val, 1e-6, 1e8, &o.rate);
        else if (strcmp(name, "--duration") == 0)
            ok = parse_double(name, val, 1e-3, 1e6, &o.duration_s);
        else if (strcmp(name, "--requests") == 0) {
            ok = parse_u64(name, val, SP_LOAD_MAX_REQUESTS, &o.requests);
            if (ok && o.requests == 0) {
                fprintf(stderr, "servprof load: --requests must be at least 1\n");
                ok = false;
            }
        } else if (strcmp(name, "--warmup") == 0)
            ok = parse_double(name, val, 0, 86400, &o.warmup_s);
        else if (strcmp(name, "--connections") == 0) {
            ok = parse_u64(name, val, SP_LOAD_MAX_CONNECTIONS, &u) && u >= 1;
            if (ok)
                o.connections = (unsigned)u;
            else
                fprintf(stderr, "servprof load: --connections must be in [1, %u]\n", SP_LOAD_MAX_CONNECTIONS);
        } else if (strcmp(name, "--seed") == 0)
            ok = parse_u64(name, val, UINT64_MAX, &o.seed);
        else if (strcmp(name, "--timeout") == 0)
            ok = parse_double(name, val, 1e-3, 3600, &o.timeout_s);
        else if (strcmp(name, "--arrival") == 0)
            ok = parse_arrival(val, &o);
        else if (strcmp(name, "--burstiness") == 0) {
            o.arrival = SP_LOAD_ARRIVAL_GAMMA;
            ok = parse_double(name, val, 1e-3, 100, &o.gamma_cv);
        } else if (strcmp(name, "--length") == 0)
            ok = parse_length(val, &o);
        else if (strcmp(name, "--model") == 0)
            o.model = val;
        else if (strcmp(name, "--id-prefix") == 0)
            o.id_prefix = val;
        else if (strcmp(name, "--trace") == 0)
            o.trace_path = val;
        else {
            fprintf(stderr, "servprof load: unknown option '%s' (see --help)\n", name);
            return 2;
        }
        if (!ok)
            return 2;
    }
    if (progress < 0)
        progress = isatty(STDERR_FILENO);
    if (progress)
        o.progress = on_progress;

    /* Each connection is a descriptor: raise the soft limit toward the hard one if the cap needs it. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)o.connections + 64 > rl.rlim_cur) {
        rlim_t want = (rlim_t)o.connections + 64;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    atomic_store(&g_load_stop, 0);
    o.stop = &g_load_stop;
    signal(SIGINT, on_sigint);
    sp_load_result *r = NULL;
    char err[512] = "";
    sp_status st = sp_load_run(&o, &r, err, sizeof err);
    signal(SIGINT, SIG_DFL);
    if (progress)
        fprintf(stderr, "\n");
    if (st != SP_OK) {
        fprintf(stderr, "servprof load: %s\n", err[0] ? err : sp_status_str(st));
        return st == SP_ERR_INVALID || st == SP_ERR_LIMIT ? 2 : 1;
    }
    if (json)
        print_json(r);
    else
        print_table(&o, r);
    int rc = (r->scheduled > 0 && r->responses == 0) ? 1 : 0;
    if (rc)
        fprintf(stderr, "servprof load: no request got a response (%" PRIu64 " connect errors, %" PRIu64
                        " timeouts)\n", r->connect_errors, r->timeouts);
    sp_load_result_destroy(r);
    return rc;
}

#endif /* SERVPROF_LOAD_ENABLED */
