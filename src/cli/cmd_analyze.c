/* `servprof analyze`: loads one or more traces (replicas' ids kept apart per file), runs the
 * analyzer and writes the text or JSON report, and optionally a Perfetto trace. Exit status: 0 ok,
 * 1 a file or analysis failed (the loader's "FILE:LINE: ..." message is printed), 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_opts.h"
#include "commands.h"
#include "servprof/analyze.h"
#ifdef SERVPROF_WHATIF_ENABLED
#include "servprof/whatif.h"
#endif

static void analyze_usage(FILE *out)
{
    fprintf(out,
            "usage: servprof analyze [OPTIONS] TRACE...\n"
            "       servprof analyze --prometheus URL [--range DURATION] [--selector '{job=\"...\"}'] [--timeout S]\n"
            "                        [--json]\n\n"
            "Reads each TRACE (any supported format, .gz or plain; `-` reads standard input, up to\n"
            "%zu MiB; several files are analysed together as replicas, request and batch ids kept apart\n"
            "per file) and prints where the time and the money of each request went: per-stage\n"
            "p50/p95/p99 and share of p50/p95/p99, padding waste, GPU busy/idle, cost split and a\n"
            "verdict.\n\n"
            "options:\n"
            "  --json                 write the JSON report (servprof.report/1) instead of the text table\n"
            "  --perfetto OUT.json    also write a Chrome/Perfetto trace (open it in ui.perfetto.dev)\n"
            "  --html OUT.html        also write a self-contained HTML report with charts (opens offline;\n"
            "                         docs/html-report.md)\n"
            "  --price-per-hour X     instance price in dollars per hour (> 0); overrides the trace's\n"
            "                         price; without either the report uses $%.2f/h and says so\n"
            "  --lenient              skip malformed records and unresolved references, count them in\n"
            "                         the report, instead of failing on the first one\n"
            "  --strict               exit 1 (after the report) when any data was lost: corrupt or cut\n"
            "                         blocks, undecodable or orphaned records, a trace the recorder did\n"
            "                         not close, records the recorder dropped, skipped records\n"
            "  --hta-compat           compute GPU figures as Holistic Trace Analysis does\n"
            "  --outcomes SCOPE       which requests the latency, stage, padding, cost and verdict\n"
            "                         figures cover: ok (default: requests answered successfully) or\n"
            "                         all (every finished one: also rejected, error, cancelled); every\n"
            "                         outcome is counted with its own latency either way\n"
            "  --clock-offset MODE    how a client trace's clock maps onto the server trace's:\n"
            "                         auto (default: estimated per pair of files from the joined\n"
            "                         requests), none (the files share one clock), or NS, a signed\n"
            "                         integer of nanoseconds, server clock - client clock\n"
            "  --format F             read every TRACE as format F instead of detecting it:\n"
            "                         auto, native, jsonl, kineto, nsys, triton, otlp\n"
            "  --map SPEC             annotation-to-stage mapping for Kineto and Nsight traces\n"
            "                         (docs/annotations.md); default: the built-in convention; checked\n"
            "                         before any trace is read, whatever the format\n"
            "  -o, --output FILE      write the report to FILE instead of standard output\n"
            "  --prometheus URL       instead of traces: the fleet report over every replica whose live\n"
            "                         metrics (GET /metrics) the Prometheus server at URL scrapes\n"
            "                         (docs/fleet.md); with --timeout, --json, -o, --price-per-hour,\n"
            "                         --strict\n"
            "  --range DURATION       the fleet report's window up to now, a Prometheus duration such as\n"
            "                         5m, 90s or 1h30m (default 5m)\n"
            "  --selector SEL         label matchers the replicas' series must match, e.g.\n"
            "                         '{job=\"serve\"}' (default: every servprof series)\n"
            "  --timeout S            with --prometheus: how long to wait for each of Prometheus' answers,\n"
            "                         in seconds (default 30); a query not answered in time is an error\n"
            "  --progress             print progress on standard error (default: only when standard\n"
            "                         error is a terminal): the trace, then one line of bytes read, rate\n"
            "                         and time left, then the analysis' step (on a terminal without\n"
            "                         --progress, only for files over 100 MB and for 2 M events or more)\n"
            "  --no-progress          never print progress\n"
            "  -h, --help             this help\n\n"
            "A damaged native trace is read past its bad blocks; each loss is named on standard error\n"
            "with the file and byte offset, and in the report's data-quality line.\n\n"
            "exit status: 0 success, 1 a trace could not be read or analysed (or, with --strict, data\n"
            "was lost), 2 usage error\n",
            SP_CLI_STDIN_MAX >> 20, SP_DEFAULT_PRICE_PER_HOUR);
}


/* --outcomes names, in sp_outcome_scope order. */
static const char *const scope_names[] = {"ok", "all"};
_Static_assert(sizeof scope_names / sizeof scope_names[0] == SP_SCOPE_FINISHED + 1, "one name per scope");

/* --clock-offset: auto, none or a signed integer of ns (server clock - client clock). */
static int parse_clock_offset(const char *s, sp_analyze_options *opt)
{
    if (strcmp(s, "auto") == 0) {
        opt->clock_mode = SP_CLOCK_AUTO;
        return 0;
    }
    if (strcmp(s, "none") == 0) {
        opt->clock_mode = SP_CLOCK_NONE;
        return 0;
    }
    /* digits after an optional '-': strtoll would also take leading blanks and a '+' */
    const char *d = *s == '-' ? s + 1 : s;
    if (*d < '0' || *d > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    opt->clock_mode = SP_CLOCK_FIXED;
    opt->clock_offset_ns = (int64_t)v;
    return 0;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

enum { OPT_JSON = 256, OPT_PERFETTO, OPT_HTML, OPT_PRICE, OPT_LENIENT, OPT_HTA, OPT_FORMAT, OPT_MAP, OPT_PROGRESS,
       OPT_NO_PROGRESS, OPT_CLOCK, OPT_STRICT, OPT_OUTCOMES, OPT_PROMETHEUS, OPT_RANGE, OPT_SELECTOR,
       OPT_TIMEOUT };

/* What `servprof analyze` was asked for. */
typedef struct analyze_args {
    int json, progress, strict; /* progress -1: when standard error is a terminal */
    int read_progress;          /* 0, or the SP_CLI_READ_PROGRESS_* mode of the byte-count line */
    const char *perfetto_path, *output_path, *html_path;
    sp_load_options lopt;
    sp_analyze_options aopt;
    const char *prometheus, *range, *selector; /* the fleet report (analyze_fleet.c) */
    double timeout_s;                          /* --timeout; 0: the library's (30 s) */
    int trace_only;                            /* an option that only applies to traces was given */
} analyze_args;

/* Reads the options into `a` (initialised). Returns -1 to go on, else the exit status (0 after
 * --help; 2 for a usage error, printed). */
static int parse_analyze_options(int argc, char **argv, analyze_args *a)
{
    static const struct option long_opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"perfetto", required_argument, NULL, OPT_PERFETTO},
        {"html", required_argument, NULL, OPT_HTML},
        {"price-per-hour", required_argument, NULL, OPT_PRICE},
        {"lenient", no_argument, NULL, OPT_LENIENT},
        {"strict", no_argument, NULL, OPT_STRICT},
        {"hta-compat", no_argument, NULL, OPT_HTA},
        {"clock-offset", required_argument, NULL, OPT_CLOCK},
        {"outcomes", required_argument, NULL, OPT_OUTCOMES},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"map", required_argument, NULL, OPT_MAP},
        {"output", required_argument, NULL, 'o'},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"prometheus", required_argument, NULL, OPT_PROMETHEUS},
        {"range", required_argument, NULL, OPT_RANGE},
        {"selector", required_argument, NULL, OPT_SELECTOR},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sp_cli_getopt_begin();
    int c;
    size_t k;
    while ((c = getopt_long(argc, argv, ":o:h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_JSON: a->json = 1; break;
        case OPT_PERFETTO: a->perfetto_path = optarg; a->trace_only = 1; break;
        case OPT_HTML: a->html_path = optarg; a->trace_only = 1; break;
        case OPT_PRICE:
            if (!sp_cli_price("analyze", optarg, &a->aopt.price_per_hour))
                return 2;
            break;
        case OPT_LENIENT: a->lopt.lenient = a->aopt.lenient = 1; a->trace_only = 1; break;
        case OPT_STRICT: a->strict = 1; break;
        case OPT_HTA: a->lopt.hta_compat = a->aopt.hta_compat = 1; a->trace_only = 1; break;
        case OPT_FORMAT: {
            /* the library's names, listed in the message when the word is none of them */
            const char *format_names[SP_FORMAT_OTLP + 1];
            for (int f = 0; f <= SP_FORMAT_OTLP; f++)
                format_names[f] = sp_format_name((sp_format)f);
            if (!sp_cli_choice("analyze", "--format", optarg, format_names, SP_FORMAT_OTLP + 1, &k))
                return 2;
            a->lopt.format = (sp_format)k;
            a->trace_only = 1;
            break;
        }
        case OPT_MAP: a->lopt.map = optarg; a->trace_only = 1; break;
        case OPT_OUTCOMES:
            if (!sp_cli_choice("analyze", "--outcomes", optarg, scope_names,
                               sizeof scope_names / sizeof scope_names[0], &k))
                return 2;
            a->aopt.outcomes = (sp_outcome_scope)k;
            a->trace_only = 1;
            break;
        case OPT_CLOCK:
            if (parse_clock_offset(optarg, &a->aopt)) {
                fprintf(stderr, "servprof analyze: --clock-offset wants auto, none or a signed integer of "
                                "nanoseconds (server clock - client clock), got '%s'\n", optarg);
                return 2;
            }
            a->trace_only = 1;
            break;
        case 'o': a->output_path = optarg; break;
        case OPT_PROMETHEUS: a->prometheus = optarg; break;
        case OPT_RANGE: a->range = optarg; break;
        case OPT_SELECTOR: a->selector = optarg; break;
        case OPT_TIMEOUT:
            if (!sp_cli_positive("analyze", "--timeout", optarg, 86400, &a->timeout_s))
                return 2;
            break;
        case OPT_PROGRESS: a->progress = 1; break;
        case OPT_NO_PROGRESS: a->progress = 0; break;
        case 'h': analyze_usage(stdout); return 0;
        default: return sp_cli_option_error("analyze", c, argc, argv, long_opts);
        }
    }
    return -1;
}

/* Loads every trace into `ev`, saying so under --progress (then `sum` holds what was loaded). Returns
 * 0, or 1 after printing why. */
static int load_traces(const analyze_args *a, int ntraces, char *const *traces, sp_events *ev,
                       sp_events_summary *sum)
{
    char err[1024];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < ntraces; i++) {
        if (a->progress)
            fprintf(stderr, "servprof: loading %s (%d/%d)\n", sp_cli_trace_name(traces[i]), i + 1, ntraces);
        err[0] = '\0';
        sp_status st = sp_cli_load_trace(ev, traces[i], &a->lopt, err, sizeof err);
        if (st != SP_OK) {
            sp_cli_progress_end();
            fprintf(stderr, "servprof analyze: %s\n", err[0] ? err : sp_status_str(st));
            sp_cli_lenient_hint("analyze", ev);
            return 1;
        }
    }
    if (a->progress) {
        sp_events_summary s;
        sp_events_summarize(ev, &s);
        *sum = s;
        fprintf(stderr,
                "servprof: loaded %zu requests, %zu stage spans, %zu batches, %zu kernels, %zu copies in "
                "%.2f s; analysing\n",
                s.requests, s.stage_spans, s.batches, s.kernels, s.copies, seconds_since(&t0));
    }
    return 0;
}

/* Writes the report (text or JSON, to -o FILE or standard output), then --perfetto and --html, and
 * applies --strict. Returns the exit status. */
static int write_outputs(const analyze_args *a, const sp_report *rep, const sp_events *ev)
{
    int rc = 0;
    FILE *out = stdout;
    if (a->output_path && !(out = fopen(a->output_path, "w"))) {
        fprintf(stderr, "servprof analyze: %s: cannot create: %s\n", a->output_path, strerror(errno));
        rc = 1;
    }
    if (!rc) {
        sp_status st = a->json ? sp_report_write_json(rep, out) : sp_report_write_text(rep, out);
        int e = errno; /* the writers leave the reason of a failed write here */
        if (out != stdout && fclose(out) != 0 && st == SP_OK) {
            st = SP_ERR_IO;
            e = errno;
        }
        if (st != SP_OK) {
            fprintf(stderr, "servprof analyze: writing the report to %s: %s\n",
                    a->output_path ? a->output_path : "standard output",
                    st == SP_ERR_IO ? strerror(e) : sp_status_str(st));
            rc = 1;
        }
    }
    if (!rc && a->perfetto_path)
        rc = sp_cli_write_file("analyze", a->perfetto_path, sp_report_write_perfetto, rep, ev,
                               a->progress ? "servprof: wrote (open it in https://ui.perfetto.dev) " : NULL);
    if (!rc && a->html_path)
        rc = sp_cli_write_file("analyze", a->html_path, sp_report_write_html, rep, ev,
                               a->progress ? "servprof: wrote " : NULL);
    if (!rc && a->strict)
        rc = sp_cli_strict_report("analyze", rep);
    return rc;
}

/* Whether the verdict's what-if quote may read the set's requests and spans after the analysis
 * (sp_whatif_quote_reads_events), so that the analysis must not release them. */
static int quote_reads_events(const sp_events *ev)
{
#ifdef SERVPROF_WHATIF_ENABLED
    return sp_whatif_quote_reads_events(ev);
#else
    (void)ev;
    return 0;
#endif
}

int sp_cmd_analyze(int argc, char **argv)
{
    analyze_args a;
    memset(&a, 0, sizeof a);
    a.progress = -1;
    sp_load_options_init(&a.lopt);
    sp_analyze_options_init(&a.aopt);
    int rc = parse_analyze_options(argc, argv, &a);
    if (rc >= 0)
        return rc;
    /* no output replaces a trace (the usual cause: an option's file name left out, `-o server.sptrace
     * client.jsonl`), checked before anything is read or written */
    const char *outs[] = {a.output_path, a.perfetto_path, a.html_path};
    for (size_t k = 0; k < sizeof outs / sizeof *outs; k++)
        if (outs[k] && sp_cli_refuse_trace_output("analyze", outs[k]))
            return 1;
    if (a.prometheus) {
        if (argc > optind)
            return sp_cli_usage_error("analyze", "--prometheus reads the fleet's metrics, not traces: drop '%s'",
                                      argv[optind]);
        if (a.trace_only)
            return sp_cli_usage_error("analyze", "--prometheus takes --range, --selector, --timeout, --json, -o, "
                                                 "--price-per-hour and --strict; the other options are for traces");
        sp_cli_fleet_args f = {a.prometheus, a.range, a.selector, a.output_path, a.aopt.price_per_hour, a.json,
                               a.strict, a.timeout_s};
        return sp_cli_analyze_fleet(&f);
    }
    if (a.range || a.selector || a.timeout_s > 0)
        return sp_cli_usage_error("analyze", "--range, --selector and --timeout go with --prometheus URL");
    if (sp_cli_check_traces("analyze", argc - optind, argv + optind))
        return 2;
    /* the map is checked before any trace is read, whatever the traces' formats */
    char err[1024] = "";
    if (sp_load_options_check(&a.lopt, err, sizeof err) != SP_OK) {
        fprintf(stderr, "servprof analyze: %s\n", err);
        return 2;
    }
    /* the line of bytes read: every file under --progress; on a terminal, files over 100 MB */
    if (a.progress < 0)
        a.read_progress = (a.progress = isatty(STDERR_FILENO)) ? SP_CLI_READ_PROGRESS_LARGE : 0;
    else
        a.read_progress = a.progress ? SP_CLI_READ_PROGRESS_ALL : 0;
    if (a.read_progress) {
        a.lopt.progress = sp_cli_read_progress;
        a.lopt.progress_user = &a.read_progress;
    }

    sp_cli_log_to_stderr("analyze");
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK) {
        fprintf(stderr, "servprof analyze: out of memory\n");
        return 1;
    }
    sp_events_summary loaded;
    memset(&loaded, 0, sizeof loaded);
    if (load_traces(&a, argc - optind, argv + optind, ev, &loaded) != 0) {
        sp_events_destroy(ev);
        return 1;
    }
    sp_report *rep = NULL;
    err[0] = '\0';
    a.aopt.keep_detail = a.html_path != NULL; /* the HTML charts draw the analysis' detail */
    a.aopt.release_events = !a.perfetto_path && !a.html_path && !quote_reads_events(ev);
    if (a.progress && (a.read_progress == SP_CLI_READ_PROGRESS_ALL ||
                       loaded.requests + loaded.stage_spans + loaded.batches + loaded.kernels + loaded.copies >=
                           SP_CLI_ANALYZE_PROGRESS_MIN_EVENTS))
        a.aopt.progress = sp_cli_analyze_progress;
    sp_status st = sp_analyze(ev, &a.aopt, &rep, err, sizeof err);
    sp_cli_progress_end(); /* a failed analysis leaves its step's line open */
#ifdef SERVPROF_WHATIF_ENABLED
    /* a batching verdict quotes the simulator's prediction for the natural change (DESIGN section 8) */
    if (st == SP_OK && (st = sp_whatif_quote_verdict(ev, rep, a.aopt.lenient)) != SP_OK)
        snprintf(err, sizeof err, "predicting the verdict's change: %s", sp_status_str(st));
#endif
    if (st != SP_OK) {
        fprintf(stderr, "servprof analyze: %s\n", err[0] ? err : sp_status_str(st));
        sp_report_destroy(rep);
        sp_events_destroy(ev);
        return 1;
    }
    rc = write_outputs(&a, rep, ev);
    sp_report_destroy(rep);
    sp_events_destroy(ev);
    return rc;
}
