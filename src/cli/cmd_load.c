/* `servprof load`: the command-line face of the open-loop load generator (include/servprof/load.h).
 * Parses options, shows a progress line once per second, and prints the summary: target vs achieved
 * rate, outcomes, corrected and uncorrected percentiles, schedule lag, and with --stream the
 * generation figures (TTFT, TPOT, ITL, output tokens per second). */
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

#include "cli_opts.h"
#include "commands.h"
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
    sp_load_config d, ds; /* the defaults quoted are the library's */
    sp_load_config_init(&d);
    sp_load_config_init(&ds);
    sp_load_config_stream(&ds, false);
    fprintf(f,
"usage: servprof load [OPTIONS]\n"
"Open-loop HTTP load generator: sends POST requests {\"input\":\"<text>\",\"model\":\"servprof\"} on a\n"
"schedule fixed in advance and measures latency from each request's intended send time.\n"
"\n"
"  --url URL            target, http://HOST[:PORT][/PATH] (default %s)\n"
"  --rate R             target requests per second (default %g; not used by replay)\n"
"  --duration S         seconds of measured load after the warm-up (default %g)\n"
"  --requests N         send exactly N measured requests instead of a duration (not with --duration)\n"
"  --warmup S           seconds of load first, sent and traced but not counted (default %g)\n"
"  --connections N      cap on keep-alive connections, opened on demand (default %u, max %u)\n"
"  --seed N             seeds arrivals and texts: same seed, same schedule (default %llu)\n"
"  --timeout S          per-request timeout from its send (default %g)\n"
"  --arrival KIND       poisson (default) | constant | gamma:CV | replay:FILE\n"
"                         gamma:CV: gamma gaps, CV = coefficient of variation (burstiness;\n"
"                         1 is Poisson-like, >1 burstier, <1 more regular)\n"
"                         replay:FILE: one timestamp in seconds per line, non-decreasing;\n"
"                         '#' lines and blank lines skipped; played relative to the first\n"
"  --burstiness CV      same as --arrival gamma:CV (not with --arrival)\n"
"  --length DIST        words per request text: lognormal[:MEAN[:SIGMA]] (default lognormal:%g:%g,\n"
"                         MEAN = arithmetic mean, SIGMA = sd of ln length) | uniform:MIN:MAX |\n"
"                         fixed:N | file:PATH (each non-empty line is one request's text, in order,\n"
"                         cycled)\n"
"  --model NAME         the body's \"model\" field (default %s)\n"
"  --id-prefix P        request ids are P-1, P-2, ... sent as X-Request-Id (default %s)\n"
"  --trace FILE         write the client trace (servprof.events/1 JSONL: one \"client\" line per\n"
"                         request with intended_ns, send_ns, done_ns, status; CLOCK_MONOTONIC ns)\n"
"  --progress           progress line on stderr once per second even if stderr is not a terminal\n"
"  --no-progress        never print the progress line\n"
"  --json               print the summary as one JSON object instead of the table\n"
"  -h, --help           this text\n"
"\n"
"Streaming generation (OpenAI-compatible servers, vLLM included; docs/load.md \"Streaming\"):\n"
"  --stream             POST completions {\"prompt\":..,\"max_tokens\":N,\"stream\":true} and read the\n"
"                         server-sent events; --length then counts prompt tokens (about one per\n"
"                         word); default URL %s,\n"
"                         timeout %g s\n"
"  --chat               chat completions {\"messages\":[..]} at /v1/chat/completions (implies --stream)\n"
"  --output-length DIST max_tokens per request: lognormal[:MEAN[:SIGMA]] | uniform:MIN:MAX | fixed:N\n"
"                         (default fixed:%u)\n"
"  --lengths-file FILE  one \"PROMPT_TOKENS OUTPUT_TOKENS\" pair per line, in order, cycled (replaces\n"
"                         --length and --output-length)\n"
"  --ignore-eos         send \"ignore_eos\":true (vLLM) so every request generates its max_tokens\n"
"  --no-usage           do not ask for usage (\"stream_options\":{\"include_usage\":true})\n"
"  The summary adds TTFT (first token - intended send), TPOT ((last - first token) / (tokens - 1)),\n"
"  ITL (gaps between tokens) and e2e; the trace adds first_token_ns, token_ns, output_tokens.\n"
"\n"
"Latency 'corrected' runs from the intended send time (so a stalled server cannot hide its tail);\n"
"'uncorrected' from the actual send; 'schedule lag' = actual send - intended. Percentiles are exact\n"
"(nearest rank over all recorded values). 'achieved' counts successes (2xx) only; 503s and other\n"
"statuses are counted beside it. Exit status: 0 when at least one request succeeded (or nothing was\n"
"scheduled), 1 when none did (the line on stderr says what happened instead) or the run failed (an\n"
"unresolvable host, a file), 2 on usage errors.\n",
            d.url, d.rate, d.duration_s, d.warmup_s, d.connections, SP_LOAD_MAX_CONNECTIONS, (unsigned long long)d.seed, d.timeout_s, d.length_mean, d.length_sigma, d.model, d.id_prefix,
            ds.url, ds.timeout_s, ds.output_fixed);
}

/* Where a parsed length distribution goes: the prompt's (--length) or max_tokens' (--output-length). */
typedef struct dist_target {
    const char *opt;  /* the option's name, for messages */
    unsigned cap;     /* the largest length */
    sp_load_length *kind;
    double *mean, *sigma;
    unsigned *min, *max, *fixed;
    const char **path; /* NULL: file:PATH is not allowed */
} dist_target;

static bool parse_dist(const char *s, const dist_target *t)
{
    char buf[256], name[96];
    if (t->path && strncmp(s, "file:", 5) == 0 && s[5]) {
        *t->kind = SP_LOAD_LENGTH_FILE;
        *t->path = s + 5;
        return true;
    }
    if (strlen(s) >= sizeof buf)
        goto bad;
    strcpy(buf, s);
    /* fields split by hand: strtok would pass over an empty one ("lognormal::1" is not lognormal:1) */
    char *f[4] = {buf, NULL, NULL, NULL};
    for (int i = 1; i < 4 && f[i - 1]; i++) {
        f[i] = strchr(f[i - 1], ':');
        if (f[i])
            *f[i]++ = '\0';
    }
    for (int i = 0; i < 4; i++)
        if (f[i] && !*f[i])
            goto bad;
    char *kind = f[0], *a = f[1], *b = f[2], *c = f[3];
    if (c)
        goto bad;
    unsigned u1, u2;
    if (strcmp(kind, "lognormal") == 0) {
        snprintf(name, sizeof name, "%s lognormal:MEAN", t->opt);
        if (a && !sp_cli_number("load", name, a, 1, t->cap, t->mean))
            return false;
        snprintf(name, sizeof name, "%s lognormal:MEAN:SIGMA", t->opt);
        if (b && !sp_cli_number("load", name, b, 0, SP_LOAD_MAX_LENGTH_SIGMA, t->sigma))
            return false;
        *t->kind = SP_LOAD_LENGTH_LOGNORMAL;
        return true;
    }
    if (strcmp(kind, "uniform") == 0 && a && b) {
        char name2[96];
        snprintf(name, sizeof name, "%s uniform:MIN", t->opt);
        snprintf(name2, sizeof name2, "%s uniform:MAX", t->opt);
        if (!sp_cli_uint("load", name, a, 1, t->cap, &u1) || !sp_cli_uint("load", name2, b, u1, t->cap, &u2))
            return false;
        *t->kind = SP_LOAD_LENGTH_UNIFORM;
        *t->min = u1;
        *t->max = u2;
        return true;
    }
    if (strcmp(kind, "fixed") == 0 && a && !b) {
        snprintf(name, sizeof name, "%s fixed:N", t->opt);
        if (!sp_cli_uint("load", name, a, 1, t->cap, &u1))
            return false;
        *t->kind = SP_LOAD_LENGTH_FIXED;
        *t->fixed = u1;
        return true;
    }
bad:
    fprintf(stderr, "servprof load: %s: expected lognormal[:MEAN[:SIGMA]], uniform:MIN:MAX, %s got '%s'\n",
            t->opt, t->path ? "fixed:N or file:PATH," : "or fixed:N,", s);
    return false;
}

static bool parse_length(const char *s, sp_load_config *o)
{
    dist_target t = {"--length", SP_LOAD_MAX_WORDS, &o->length, &o->length_mean, &o->length_sigma,
                     &o->length_min, &o->length_max, &o->length_fixed, &o->length_path};
    return parse_dist(s, &t);
}

static bool parse_output_length(const char *s, sp_load_config *o)
{
    dist_target t = {"--output-length", SP_LOAD_MAX_OUTPUT_TOKENS, &o->output_length, &o->output_mean,
                     &o->output_sigma, &o->output_min, &o->output_max, &o->output_fixed, NULL};
    return parse_dist(s, &t);
}

static void on_progress(void *user, const sp_load_progress *p)
{
    (void)user;
    sp_cli_progress_line("[%6.1fs] scheduled %" PRIu64 "  done %" PRIu64 "  errors %" PRIu64 "  in flight %" PRIu64
                         "  waiting %" PRIu64 "  conns %u  %.0f/s",
                         p->elapsed_s, p->scheduled, p->completed, p->errors, p->in_flight, p->waiting,
                         p->connections, p->rate_last_s);
}

/* Appends ", N what" to the failure line when N > 0. */
static void failure_part(char *buf, size_t len, uint64_t n, const char *what)
{
    size_t at = strlen(buf);
    if (n && at < len)
        snprintf(buf + at, len - at, "%s%" PRIu64 " %s", at ? ", " : "", n, what);
}

/* The line that says why no request succeeded: every outcome the run saw, by kind. */
static void print_no_success(const sp_load_result *r)
{
    char why[512] = "", other[64] = "";
    for (size_t i = 0; i < r->n_statuses && !other[0]; i++)
        if (r->statuses[i].status != 503 && (r->statuses[i].status < 200 || r->statuses[i].status >= 300))
            snprintf(other, sizeof other, "answered another error status (e.g. %d)", r->statuses[i].status);
    failure_part(why, sizeof why, r->status_503, "answered 503 Service Unavailable");
    failure_part(why, sizeof why, r->status_other, other[0] ? other : "answered another error status");
    failure_part(why, sizeof why, r->connect_errors, "could not connect");
    failure_part(why, sizeof why, r->timeouts, "timed out");
    failure_part(why, sizeof why, r->io_errors, "lost the connection before a full response (io)");
    failure_part(why, sizeof why, r->protocol_errors, "got a response that is not HTTP/1.x (protocol)");
    failure_part(why, sizeof why, r->unsent, "were never sent (stopped)");
    failure_part(why, sizeof why, r->stream_errors, "got a 2xx whose event stream failed (stream)");
    fprintf(stderr, "servprof load: no request succeeded: of %" PRIu64 " scheduled, %s\n", r->scheduled,
            why[0] ? why : "none had an outcome");
}

enum {
    O_URL = 256, O_RATE, O_DURATION, O_REQUESTS, O_WARMUP, O_CONNECTIONS, O_SEED, O_TIMEOUT, O_ARRIVAL,
    O_BURSTINESS, O_LENGTH, O_MODEL, O_ID_PREFIX, O_TRACE, O_PROGRESS, O_NO_PROGRESS, O_JSON, O_STREAM, O_CHAT,
    O_OUTPUT_LENGTH, O_LENGTHS_FILE, O_IGNORE_EOS, O_NO_USAGE
};

static const struct option load_opts[] = {
    {"url", required_argument, NULL, O_URL},
    {"rate", required_argument, NULL, O_RATE},
    {"duration", required_argument, NULL, O_DURATION},
    {"requests", required_argument, NULL, O_REQUESTS},
    {"warmup", required_argument, NULL, O_WARMUP},
    {"connections", required_argument, NULL, O_CONNECTIONS},
    {"seed", required_argument, NULL, O_SEED},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"arrival", required_argument, NULL, O_ARRIVAL},
    {"burstiness", required_argument, NULL, O_BURSTINESS},
    {"length", required_argument, NULL, O_LENGTH},
    {"model", required_argument, NULL, O_MODEL},
    {"id-prefix", required_argument, NULL, O_ID_PREFIX},
    {"trace", required_argument, NULL, O_TRACE},
    {"progress", no_argument, NULL, O_PROGRESS},
    {"no-progress", no_argument, NULL, O_NO_PROGRESS},
    {"json", no_argument, NULL, O_JSON},
    {"stream", no_argument, NULL, O_STREAM},
    {"chat", no_argument, NULL, O_CHAT},
    {"output-length", required_argument, NULL, O_OUTPUT_LENGTH},
    {"lengths-file", required_argument, NULL, O_LENGTHS_FILE},
    {"ignore-eos", no_argument, NULL, O_IGNORE_EOS},
    {"no-usage", no_argument, NULL, O_NO_USAGE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int sp_cmd_load(int argc, char **argv)
{
    sp_load_config o;
    sp_load_config_init(&o);
    int progress = -1; /* -1: when stderr is a terminal */
    bool json = false;
    int c;
    /* --stream and --chat change the defaults of other options (URL, timeout): a first pass finds
     * them wherever they are, the second applies every option over those defaults */
    bool stream = false, chat = false;
    const char *gen_only = NULL; /* an option that means something only when streaming */
    /* options that say one thing two ways: given both, the run would silently follow one */
    bool duration_set = false, requests_set = false, arrival_set = false, burstiness_set = false;
    sp_cli_getopt_begin();
    while ((c = getopt_long(argc, argv, ":h", load_opts, NULL)) != -1) {
        if (c == O_STREAM)
            stream = true;
        else if (c == O_CHAT)
            stream = chat = true;
    }
    if (stream)
        sp_load_config_stream(&o, chat);
    sp_cli_getopt_begin();
    while ((c = getopt_long(argc, argv, ":h", load_opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_URL: o.url = optarg; break;
        case O_RATE: ok = sp_cli_number("load", "--rate", optarg, 1e-6, SP_LOAD_MAX_RATE, &o.rate); break;
        case O_DURATION:
            ok = sp_cli_number("load", "--duration", optarg, 1e-3, 1e6, &o.duration_s);
            duration_set = true;
            break;
        case O_REQUESTS:
            ok = sp_cli_u64("load", "--requests", optarg, 1, SP_LOAD_MAX_REQUESTS, &o.requests);
            requests_set = true;
            break;
        case O_WARMUP: ok = sp_cli_number("load", "--warmup", optarg, 0, 86400, &o.warmup_s); break;
        case O_CONNECTIONS:
            ok = sp_cli_uint("load", "--connections", optarg, 1, SP_LOAD_MAX_CONNECTIONS, &o.connections);
            break;
        case O_SEED: ok = sp_cli_u64("load", "--seed", optarg, 0, UINT64_MAX, &o.seed); break;
        case O_TIMEOUT: ok = sp_cli_number("load", "--timeout", optarg, 1e-3, 3600, &o.timeout_s); break;
        case O_ARRIVAL:
            ok = sp_cli_arrival("load", "--arrival", optarg, true, &o.arrival, &o.gamma_cv, &o.replay_path);
            arrival_set = true;
            break;
        case O_BURSTINESS:
            o.arrival = SP_LOAD_ARRIVAL_GAMMA;
            ok = sp_cli_number("load", "--burstiness", optarg, 1e-3, SP_LOAD_MAX_GAMMA_CV, &o.gamma_cv);
            burstiness_set = true;
            break;
        case O_LENGTH: ok = parse_length(optarg, &o); break;
        case O_MODEL: o.model = optarg; break;
        case O_ID_PREFIX: o.id_prefix = optarg; break;
        case O_TRACE: o.trace_path = optarg; break;
        case O_PROGRESS: progress = 1; break;
        case O_NO_PROGRESS: progress = 0; break;
        case O_JSON: json = true; break;
        case O_STREAM: case O_CHAT: break; /* applied above */
        case O_OUTPUT_LENGTH: ok = parse_output_length(optarg, &o); gen_only = "--output-length"; break;
        case O_LENGTHS_FILE: o.pairs_path = optarg; gen_only = "--lengths-file"; break;
        case O_IGNORE_EOS: o.ignore_eos = true; gen_only = "--ignore-eos"; break;
        case O_NO_USAGE: o.no_usage = true; gen_only = "--no-usage"; break;
        case 'h': usage(stdout); return 0;
        default: return sp_cli_option_error("load", c, argc, argv, load_opts);
        }
        if (!ok)
            return 2;
    }
    if (optind < argc)
        return sp_cli_usage_error("load", "unexpected argument '%s'", argv[optind]);
    if (duration_set && requests_set)
        return sp_cli_usage_error("load", "--duration and --requests exclude each other: the measured part is "
                                          "S seconds or exactly N requests");
    if (arrival_set && burstiness_set)
        return sp_cli_usage_error("load", "--arrival and --burstiness exclude each other (--burstiness CV is "
                                          "--arrival gamma:CV)");
    if (!stream && gen_only)
        return sp_cli_usage_error("load", "%s needs --stream (or --chat)", gen_only);
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
        sp_cli_progress_end();
    if (st != SP_OK) {
        /* the library's URL messages start "URL '...'": name the option that gave it */
        fprintf(stderr, "servprof load: %s%s\n", strncmp(err, "URL '", 5) == 0 ? "--url: " : "",
                err[0] ? err : sp_status_str(st));
        /* options the library refused are usage errors; an unresolvable host or a file is the run's */
        return st == SP_ERR_INVALID || st == SP_ERR_LIMIT ? 2 : 1;
    }
    st = json ? sp_load_result_write_json(r, stdout) : sp_load_result_write_text(&o, r, stdout);
    if (st != SP_OK) {
        fprintf(stderr, "servprof load: writing standard output failed: %s\n", strerror(errno));
        sp_load_result_destroy(r);
        return 1;
    }
    int rc = (r->scheduled > 0 && r->ok == 0) ? 1 : 0;
    if (rc)
        print_no_success(r);
    sp_load_result_destroy(r);
    return rc;
}

#endif /* SERVPROF_LOAD_ENABLED */
