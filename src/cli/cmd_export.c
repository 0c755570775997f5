/* `servprof export`: loads traces as `analyze` does (replicas' ids kept apart, a client trace joined)
 * and writes their requests, stage spans and batches in another tool's format: OTLP/JSON for any
 * OpenTelemetry backend (docs/otlp.md, "Export"). Exit status: 0 ok, 1 a trace could not be read or
 * the output not written, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_opts.h"
#include "commands.h"
#include "servprof/analyze.h"
#include "servprof/report.h"

static void export_usage(FILE *out)
{
    fprintf(out,
            "usage: servprof export --otlp OUT.jsonl [OPTIONS] TRACE...\n\n"
            "Reads each TRACE (any supported format, .gz or plain; `-` reads standard input; a load\n"
            "generator's client trace is joined to the server's as in `servprof analyze`) and writes\n"
            "its requests as OpenTelemetry spans in OTLP/JSON, one ExportTraceServiceRequest per line:\n"
            "per request a server span under its W3C trace context (its output tokens' times as span\n"
            "events), its client span, a span per stage and per batch it ran in (a generation step's\n"
            "with the request's phase and tokens in it); per batch a span linked to its members (a\n"
            "step's with its KV cache). A request in flight when its trace ended (a killed service's:\n"
            "unfinished) ends at the trace's last time, with servprof.outcome unfinished. Feed it to an\n"
            "OpenTelemetry Collector (otlpjsonfile receiver) or POST each line to /v1/traces;\n"
            "`servprof analyze` reads it back (docs/otlp.md).\n\n"
            "options:\n"
            "  --otlp FILE            write OTLP/JSON to FILE (`-`: standard output); required\n"
            "  --unix-offset NS       for traces whose clock has no tie to Unix time (JSONL without\n"
            "                         unix_offset_ns, Kineto, Nsight, Triton): ns to add to their times\n"
            "                         (a signed integer); native traces and OTLP carry their own\n"
            "  --service-name NAME    the spans' service.name (default: the trace's `service`\n"
            "                         property, else servprof)\n"
            "  --clock-offset MODE    client clock onto server clock: auto (default), none, or NS\n"
            "                         (server clock - client clock), as for `servprof analyze`\n"
            "  --lenient              skip malformed records and unresolved references\n"
            "  --format F             read every TRACE as format F: auto, native, jsonl, kineto, nsys,\n"
            "                         triton, otlp\n"
            "  -h, --help             this help\n\n"
            "exit status: 0 success, 1 a trace could not be read or the output not written, 2 usage\n"
            "error\n");
}

enum { OPT_OTLP = 256, OPT_UNIX_OFFSET, OPT_SERVICE, OPT_CLOCK, OPT_LENIENT, OPT_FORMAT };

typedef struct export_args {
    const char *otlp_path;
    sp_load_options lopt;
    sp_analyze_options aopt;
    sp_otlp_options oopt;
} export_args;

/* A signed integer of ns for --unix-offset and --clock-offset. */
static int parse_i64(const char *s, int64_t *out)
{
    /* digits after an optional '-': strtoll would also take leading blanks and a '+' */
    const char *d = *s == '-' ? s + 1 : s;
    if (*d < '0' || *d > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_export_options(int argc, char **argv, export_args *a)
{
    static const struct option long_opts[] = {
        {"otlp", required_argument, NULL, OPT_OTLP},
        {"unix-offset", required_argument, NULL, OPT_UNIX_OFFSET},
        {"service-name", required_argument, NULL, OPT_SERVICE},
        {"clock-offset", required_argument, NULL, OPT_CLOCK},
        {"lenient", no_argument, NULL, OPT_LENIENT},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sp_cli_getopt_begin();
    int c;
    size_t k;
    while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_OTLP: a->otlp_path = optarg; break;
        case OPT_UNIX_OFFSET:
            if (parse_i64(optarg, &a->oopt.unix_offset_ns))
                return sp_cli_usage_error("export", "--unix-offset wants a signed integer of nanoseconds, got '%s'",
                                          optarg);
            a->oopt.has_unix_offset = 1;
            break;
        case OPT_SERVICE:
            if (!optarg[0])
                return sp_cli_usage_error("export", "--service-name is empty");
            a->oopt.service_name = optarg;
            break;
        case OPT_CLOCK:
            if (strcmp(optarg, "auto") == 0)
                a->aopt.clock_mode = SP_CLOCK_AUTO;
            else if (strcmp(optarg, "none") == 0)
                a->aopt.clock_mode = SP_CLOCK_NONE;
            else if (parse_i64(optarg, &a->aopt.clock_offset_ns) == 0)
                a->aopt.clock_mode = SP_CLOCK_FIXED;
            else
                return sp_cli_usage_error("export", "--clock-offset wants auto, none or a signed integer of "
                                                    "nanoseconds (server clock - client clock), got '%s'", optarg);
            break;
        case OPT_LENIENT: a->lopt.lenient = a->aopt.lenient = 1; break;
        case OPT_FORMAT: {
            const char *format_names[SP_FORMAT_OTLP + 1];
            for (int f = 0; f <= SP_FORMAT_OTLP; f++)
                format_names[f] = sp_format_name((sp_format)f);
            if (!sp_cli_choice("export", "--format", optarg, format_names, SP_FORMAT_OTLP + 1, &k))
                return 2;
            a->lopt.format = (sp_format)k;
            break;
        }
        case 'h': export_usage(stdout); return 0;
        default: return sp_cli_option_error("export", c, argc, argv, long_opts);
        }
    }
    if (!a->otlp_path)
        return sp_cli_usage_error("export", "say what to write: --otlp FILE");
    return -1;
}

/* Writes the OTLP file; returns the exit status. */
static int write_otlp(const export_args *a, const sp_events *ev)
{
    int to_stdout = strcmp(a->otlp_path, "-") == 0;
    FILE *out = to_stdout ? stdout : fopen(a->otlp_path, "w");
    if (!out) {
        fprintf(stderr, "servprof export: %s: cannot create: %s\n", a->otlp_path, strerror(errno));
        return 1;
    }
    /* only a regular file is removed after a failure: never a device, a FIFO or a terminal */
    struct stat sb;
    int removable = !to_stdout && fstat(fileno(out), &sb) == 0 && S_ISREG(sb.st_mode);
    char err[1024] = "";
    sp_otlp_result res;
    sp_status st = sp_report_write_otlp(ev, &a->oopt, out, &res, err, sizeof err);
    int e = errno;
    if (!to_stdout && fclose(out) != 0 && st == SP_OK) {
        st = SP_ERR_IO;
        e = errno;
    }
    if (st != SP_OK) {
        if (st == SP_ERR_IO)
            fprintf(stderr, "servprof export: writing %s: %s\n", to_stdout ? "standard output" : a->otlp_path,
                    strerror(e));
        else
            fprintf(stderr, "servprof export: %s\n", err[0] ? err : sp_status_str(st));
        if (removable)
            remove(a->otlp_path); /* a partial file would read as a complete export */
        return 1;
    }
    fprintf(stderr, "servprof export: wrote %llu request%s (%llu span%s, %llu batch%s) to %s",
            (unsigned long long)res.requests, res.requests == 1 ? "" : "s", (unsigned long long)res.spans,
            res.spans == 1 ? "" : "s", (unsigned long long)res.batches, res.batches == 1 ? "" : "es",
            to_stdout ? "standard output" : a->otlp_path);
    /* unfinished requests (in flight when a trace ended) are exported with the end their analysis
     * measures them to: said, since a tracing backend shows that end as if it were a response */
    if (res.unfinished_requests)
        fprintf(stderr, "; %llu of the requests unfinished (in flight when the trace ended: their spans end at "
                        "its last time, servprof.outcome unfinished)", (unsigned long long)res.unfinished_requests);
    if (res.tokens_left_out)
        fprintf(stderr, "; %llu output token%s of unfinished requests left out (timed after that end)",
                (unsigned long long)res.tokens_left_out, res.tokens_left_out == 1 ? "" : "s");
    if (res.skipped_requests)
        fprintf(stderr, "; %llu request%s left out (no valid times)", (unsigned long long)res.skipped_requests,
                res.skipped_requests == 1 ? "" : "s");
    fputc('\n', stderr);
    /* device activity has no span in the export (docs/otlp.md, "Export"): said once, with how much,
     * since a reader of the export alone would take each batch window for idle time */
    sp_events_summary sum;
    sp_events_summarize(ev, &sum);
    if (sum.kernels || sum.copies) {
        fprintf(stderr, "servprof export: left out the device activity, ");
        if (sum.kernels)
            fprintf(stderr, "%zu kernel%s%s", sum.kernels, sum.kernels == 1 ? "" : "s", sum.copies ? " and " : "");
        if (sum.copies)
            fprintf(stderr, "%zu cop%s (memcpy, memset)", sum.copies, sum.copies == 1 ? "y" : "ies");
        fprintf(stderr, ": OTLP spans are the requests' and batches', and a reader of the export sees each batch "
                        "window as gap; analyse the original trace (or `servprof analyze --perfetto`) for the "
                        "device's split\n");
    }
    /* not an error (the traces were read; an OTLP consumer takes an empty file), but nothing a user
     * exports a trace for: say so (docs/otlp.md, "Export") */
    if (res.requests == 0)
        fprintf(stderr, "servprof export: warning: the traces hold no finished request: %s holds no request span%s\n",
                to_stdout ? "the output" : a->otlp_path, res.spans == 0 ? " (it is empty)" : "");
    return 0;
}

int sp_cmd_export(int argc, char **argv)
{
    export_args a;
    memset(&a, 0, sizeof a);
    sp_load_options_init(&a.lopt);
    sp_analyze_options_init(&a.aopt);
    sp_otlp_options_init(&a.oopt);
    int rc = parse_export_options(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (sp_cli_check_traces("export", argc - optind, argv + optind))
        return 2;
    /* the output never replaces a trace (`--otlp server.sptrace client.jsonl`, its file name left out,
     * wrote the client's export over the server trace), checked before anything is read */
    if (strcmp(a.otlp_path, "-") != 0 && sp_cli_refuse_trace_output("export", a.otlp_path))
        return 1;
    char err[1024] = "";
    if (sp_load_options_check(&a.lopt, err, sizeof err) != SP_OK) {
        fprintf(stderr, "servprof export: %s\n", err);
        return 2;
    }
    sp_cli_log_to_stderr("export");
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK) {
        fprintf(stderr, "servprof export: out of memory\n");
        return 1;
    }
    for (int i = optind; i < argc; i++) {
        err[0] = '\0';
        sp_status st = sp_cli_load_trace(ev, argv[i], &a.lopt, err, sizeof err);
        if (st != SP_OK) {
            fprintf(stderr, "servprof export: %s\n", err[0] ? err : sp_status_str(st));
            sp_cli_lenient_hint("export", ev);
            sp_events_destroy(ev);
            return 1;
        }
    }
    /* the analysis finishes the set: references checked, the client trace joined, lists built */
    sp_report *rep = NULL;
    sp_status st = sp_analyze(ev, &a.aopt, &rep, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "servprof export: %s\n", err[0] ? err : sp_status_str(st));
        sp_events_destroy(ev);
        return 1;
    }
    rc = write_otlp(&a, ev);
    sp_report_destroy(rep);
    sp_events_destroy(ev);
    return rc;
}
