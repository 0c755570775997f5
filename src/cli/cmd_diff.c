/* `servprof diff`: compares two runs, BASE and NEW (traces or servprof.report/1 reports), and gates
 * CI on the change. Parses options and conditions, reads the two runs through the diff library
 * (servprof/diff.h), checks the conditions, writes text, JSON or HTML. Exit status: 0 no condition
 * holds, 3 a condition holds, 1 an input could not be read, analysed or compared or an output not
 * written, 2 usage error (docs/diff.md). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"
#include "commands.h"
#include "servprof/diff.h"
#include "servprof/report.h"

#define CMD "diff"
/* Conditions one command line may give. */
#define MAX_CONDITIONS 64
/* Files one side may have. */
#define MAX_SIDE_FILES 1024
/* The exit status of a holding condition. */
#define EXIT_CONDITION 3

static void diff_usage(FILE *out)
{
    fprintf(out,
            "usage: servprof diff [OPTIONS] BASE NEW\n"
            "       servprof diff [OPTIONS] --base FILE [--base FILE]... --new FILE [--new FILE]...\n\n"
            "Compares two runs of a service: end-to-end and per-stage p50/p95/p99, each stage's share of\n"
            "p95, padding, cost and the verdict, before (BASE) and after (NEW). Each run is a trace (any\n"
            "format servprof reads; several files per run with --base/--new, analysed together as\n"
            "replicas) or a servprof.report/1 JSON report (`servprof analyze --json`). With traces on both\n"
            "sides every per-request figure's change carries a bootstrap confidence interval over requests;\n"
            "with a report on either side the changes are point estimates, and the output says so.\n"
            "`-` reads one input from standard input.\n\n"
            "options:\n"
            "  --fail-if COND         exit 3 when COND holds with confidence; repeatable (up to %d).\n"
            "                         COND is METRIC:+THRESHOLD (a rise beyond it) or METRIC:-THRESHOLD\n"
            "                         (a fall): p95:+5%%, latency.p99:+2ms, stage.queue.share_of_p95:+0.05\n"
            "                         (or +5pts: shares take points too)\n"
            "                         (docs/diff.md lists the metrics and the rule)\n"
            "  --json                 write the servprof.diff/1 JSON instead of the text\n"
            "  --html OUT.html        also write a self-contained HTML page\n"
            "  -o, --output FILE      write the text or JSON to FILE instead of standard output\n"
            "  --confidence C         two-sided level of the intervals, in [%g, %g] (default %g); a\n"
            "                         condition holds when the interval's lower bound (a rise) or upper\n"
            "                         bound (a fall) is beyond its threshold\n"
            "  --resamples N          bootstrap resamples of each run, 100 to %u (default %u)\n"
            "  --block N              requests per block of the bootstrap, consecutive in arrival order\n"
            "                         (default: the larger of %u and the square root of the run's\n"
            "                         requests; default or given, at most a tenth of them; 1 resamples\n"
            "                         requests one by one, which understates the noise of a queueing\n"
            "                         service)\n"
            "  --seed S               the bootstrap's seed (default %u): the same inputs and seed give the\n"
            "                         same output\n"
            "  --price-per-hour X     instance price for trace inputs (> 0; a report keeps its own)\n"
            "  --lenient              skip malformed records in trace inputs instead of failing\n"
            "  --outcomes SCOPE       which requests trace inputs' figures cover: ok (default) or all\n"
            "  --format F             read every trace input as format F (auto, native, jsonl, kineto,\n"
            "                         nsys, triton, otlp)\n"
            "  -h, --help             this help\n\n"
            "exit status: 0 no condition holds, 3 a --fail-if condition holds, 1 an input could not be\n"
            "read or analysed (or an output not written), 2 usage error\n",
            MAX_CONDITIONS, SP_DIFF_MIN_CONFIDENCE, SP_DIFF_MAX_CONFIDENCE, SP_DIFF_DEFAULT_CONFIDENCE,
            SP_DIFF_MAX_RESAMPLES, SP_DIFF_DEFAULT_RESAMPLES, SP_DIFF_MIN_BLOCK, SP_DIFF_DEFAULT_SEED);
}

enum { OPT_FAIL_IF = 256, OPT_JSON, OPT_HTML, OPT_CONFIDENCE, OPT_RESAMPLES, OPT_BLOCK, OPT_SEED, OPT_PRICE, OPT_LENIENT,
       OPT_OUTCOMES, OPT_FORMAT, OPT_BASE, OPT_NEW };

/* What `servprof diff` was asked for. */
typedef struct diff_args {
    int json;
    const char *html_path, *output_path;
    sp_diff_condition cond[MAX_CONDITIONS];
    size_t n_cond;
    sp_diff_options dopt;
    sp_load_options lopt;
    sp_analyze_options aopt;
    const char *side[2][MAX_SIDE_FILES]; /* BASE, NEW: from --base/--new */
    size_t n_side[2];
} diff_args;

static const char *const scope_names[] = {"ok", "all"};

static int add_side_file(diff_args *a, int side, const char *path)
{
    if (a->n_side[side] == MAX_SIDE_FILES)
        return sp_cli_usage_error(CMD, "more than %d files for %s", MAX_SIDE_FILES, side ? "--new" : "--base");
    a->side[side][a->n_side[side]++] = path;
    return 0;
}

/* Reads the options into `a` (initialised). Returns -1 to go on, else the exit status (0 after
 * --help; 2 for a usage error, printed). */
static int parse_diff_options(int argc, char **argv, diff_args *a)
{
    static const struct option long_opts[] = {
        {"fail-if", required_argument, NULL, OPT_FAIL_IF},
        {"json", no_argument, NULL, OPT_JSON},
        {"html", required_argument, NULL, OPT_HTML},
        {"output", required_argument, NULL, 'o'},
        {"confidence", required_argument, NULL, OPT_CONFIDENCE},
        {"resamples", required_argument, NULL, OPT_RESAMPLES},
        {"block", required_argument, NULL, OPT_BLOCK},
        {"seed", required_argument, NULL, OPT_SEED},
        {"price-per-hour", required_argument, NULL, OPT_PRICE},
        {"lenient", no_argument, NULL, OPT_LENIENT},
        {"outcomes", required_argument, NULL, OPT_OUTCOMES},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"base", required_argument, NULL, OPT_BASE},
        {"new", required_argument, NULL, OPT_NEW},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sp_cli_getopt_begin();
    int c;
    size_t k;
    char err[512];
    while ((c = getopt_long(argc, argv, ":o:h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_FAIL_IF:
            if (a->n_cond == MAX_CONDITIONS)
                return sp_cli_usage_error(CMD, "more than %d --fail-if conditions", MAX_CONDITIONS);
            if (sp_diff_condition_parse(optarg, &a->cond[a->n_cond], err, sizeof err) != SP_OK)
                return sp_cli_usage_error(CMD, "--fail-if: %s", err);
            a->n_cond++;
            break;
        case OPT_JSON: a->json = 1; break;
        case OPT_HTML: a->html_path = optarg; break;
        case 'o': a->output_path = optarg; break;
        case OPT_CONFIDENCE:
            if (!sp_cli_number(CMD, "--confidence", optarg, SP_DIFF_MIN_CONFIDENCE, SP_DIFF_MAX_CONFIDENCE,
                               &a->dopt.confidence))
                return 2;
            break;
        case OPT_RESAMPLES:
            if (!sp_cli_uint(CMD, "--resamples", optarg, 100, SP_DIFF_MAX_RESAMPLES, &a->dopt.resamples))
                return 2;
            break;
        case OPT_BLOCK:
            if (!sp_cli_uint(CMD, "--block", optarg, 1, SP_DIFF_MAX_BLOCK, &a->dopt.block))
                return 2;
            break;
        case OPT_SEED:
            if (!sp_cli_u64(CMD, "--seed", optarg, 0, UINT64_MAX, &a->dopt.seed))
                return 2;
            break;
        case OPT_PRICE:
            if (!sp_cli_price(CMD, optarg, &a->aopt.price_per_hour))
                return 2;
            break;
        case OPT_LENIENT: a->lopt.lenient = a->aopt.lenient = 1; break;
        case OPT_OUTCOMES:
            if (!sp_cli_choice(CMD, "--outcomes", optarg, scope_names, 2, &k))
                return 2;
            a->aopt.outcomes = (sp_outcome_scope)k;
            break;
        case OPT_FORMAT: {
            const char *format_names[SP_FORMAT_OTLP + 1];
            for (int f = 0; f <= SP_FORMAT_OTLP; f++)
                format_names[f] = sp_format_name((sp_format)f);
            if (!sp_cli_choice(CMD, "--format", optarg, format_names, SP_FORMAT_OTLP + 1, &k))
                return 2;
            a->lopt.format = (sp_format)k;
            break;
        }
        case OPT_BASE:
        case OPT_NEW: {
            int rc = add_side_file(a, c == OPT_NEW, optarg);
            if (rc)
                return rc;
            break;
        }
        case 'h': diff_usage(stdout); return 0;
        default: return sp_cli_option_error(CMD, c, argc, argv, long_opts);
        }
    }
    return -1;
}

/* BASE and NEW from the positional arguments or --base/--new; checks `-` is given at most once. */
static int gather_sides(diff_args *a, int npos, char *const *pos)
{
    if (a->n_side[0] || a->n_side[1]) {
        if (npos)
            return sp_cli_usage_error(CMD, "give BASE and NEW either as two arguments or with --base and --new, "
                                           "not both");
        if (!a->n_side[0] || !a->n_side[1])
            return sp_cli_usage_error(CMD, "%s given without %s", a->n_side[0] ? "--base" : "--new",
                                      a->n_side[0] ? "--new" : "--base");
    } else {
        if (npos != 2)
            return sp_cli_usage_error(CMD, "expected two runs, BASE and NEW, got %d argument%s", npos,
                                      npos == 1 ? "" : "s");
        a->side[0][a->n_side[0]++] = pos[0];
        a->side[1][a->n_side[1]++] = pos[1];
    }
    int stdin_args = 0;
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < a->n_side[s]; i++)
            stdin_args += strcmp(a->side[s][i], "-") == 0;
    if (stdin_args > 1)
        return sp_cli_usage_error(CMD, "'-' (standard input) given %d times; it can be read once", stdin_args);
    /* within one side only: BASE and NEW may be the same file (a run compared with itself) */
    for (int s = 0; s < 2; s++) {
        int rc = sp_cli_check_same_file(CMD, (int)a->n_side[s], (char *const *)a->side[s]);
        if (rc)
            return rc;
    }
    return 0;
}

/* Reads one run. Returns 0, else the exit status after printing why (2 when the inputs cannot go
 * together, 1 when one cannot be read or analysed). */
static int load_side(const diff_args *a, int side, sp_diff_run **out)
{
    size_t n = a->n_side[side];
    sp_diff_input in[MAX_SIDE_FILES];
    unsigned char *stdin_data = NULL;
    char err[1024] = "";
    for (size_t i = 0; i < n; i++) {
        const char *arg = a->side[side][i];
        memset(&in[i], 0, sizeof in[i]);
        in[i].name = sp_cli_trace_name(arg);
        if (strcmp(arg, "-") != 0) {
            in[i].path = arg;
            continue;
        }
        size_t len = 0;
        sp_status st = sp_cli_read_stdin(&stdin_data, &len, err, sizeof err);
        if (st) {
            fprintf(stderr, "servprof %s: %s\n", CMD, err[0] ? err : sp_status_str(st));
            return 1;
        }
        in[i].data = stdin_data;
        in[i].len = len;
    }
    int skippable = 0;
    sp_status st = sp_diff_run_load_ex(in, n, &a->lopt, &a->aopt, out, &skippable, err, sizeof err);
    free(stdin_data);
    if (st == SP_ERR_INVALID)
        return sp_cli_usage_error(CMD, "%s", err);
    if (st) {
        fprintf(stderr, "servprof %s: %s: %s\n", CMD, side ? "NEW" : "BASE", err[0] ? err : sp_status_str(st));
        sp_cli_lenient_hint_if(CMD, skippable);
        return 1;
    }
    return 0;
}

typedef sp_status (*diff_writer)(const sp_diff *d, FILE *out);

/* Writes with `fn` to `path` (NULL: standard output). Returns 0, or 1 after printing why. */
static int write_to(const char *path, diff_writer fn, const sp_diff *d)
{
    FILE *out = stdout;
    if (path && sp_cli_refuse_trace_output(CMD, path))
        return 1;
    if (path && !(out = fopen(path, "w"))) {
        fprintf(stderr, "servprof %s: %s: cannot create: %s\n", CMD, path, strerror(errno));
        return 1;
    }
    sp_status st = fn(d, out);
    int e = errno; /* the writers leave the reason of a failed write here */
    if (out != stdout && fclose(out) != 0 && st == SP_OK) {
        st = SP_ERR_IO;
        e = errno;
    }
    if (st != SP_OK) {
        fprintf(stderr, "servprof %s: writing %s: %s\n", CMD, path ? path : "standard output",
                st == SP_ERR_IO ? strerror(e) : sp_status_str(st));
        return 1;
    }
    return 0;
}

/* The bound of a check in its condition's terms, for the line on standard error. */
static void bound_text(char *buf, size_t len, const sp_diff_check *k)
{
    double b = k->bound;
    if (k->cond.relative)
        snprintf(buf, len, "%+.1f%%", b * 100);
    else if (k->cond.unit == SP_DIFF_UNIT_NS)
        snprintf(buf, len, "%+.3f ms", b / 1e6);
    else if (k->cond.unit == SP_DIFF_UNIT_FRACTION)
        snprintf(buf, len, "%+.1f points", b * 100);
    else if (k->cond.unit == SP_DIFF_UNIT_DOLLARS)
        snprintf(buf, len, "%+.6g dollars", b);
    else
        snprintf(buf, len, "%+.0f", b);
}

/* One line on standard error per holding condition, for CI logs that keep only stderr. */
static void say_holding(const sp_diff *d)
{
    for (size_t i = 0; i < d->n_checks; i++) {
        const sp_diff_check *k = &d->checks[i];
        if (!k->holds)
            continue;
        char b[64];
        bound_text(b, sizeof b, k);
        if (k->base_zero)
            fprintf(stderr, "servprof %s: condition holds: %s (BASE is 0 and it rose)\n", CMD, k->cond.spec);
        else
            fprintf(stderr, "servprof %s: condition holds: %s (%s by the %s)\n", CMD, k->cond.spec, b,
                    k->basis == SP_DIFF_BASIS_INTERVAL ? "interval's bound" : "point change, no interval");
    }
}

int sp_cmd_diff(int argc, char **argv)
{
    diff_args *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "servprof %s: out of memory\n", CMD);
        return 1;
    }
    sp_diff_options_init(&a->dopt);
    sp_load_options_init(&a->lopt);
    sp_analyze_options_init(&a->aopt);
    sp_diff_run *run[2] = {NULL, NULL};
    sp_diff *d = NULL;
    char err[1024] = "";
    int rc = parse_diff_options(argc, argv, a);
    if (rc >= 0)
        goto out;
    if ((rc = gather_sides(a, argc - optind, argv + optind)))
        goto out;
    if (sp_load_options_check(&a->lopt, err, sizeof err) != SP_OK) {
        rc = sp_cli_usage_error(CMD, "%s", err);
        goto out;
    }
    sp_cli_log_to_stderr(CMD);
    for (int s = 0; s < 2; s++)
        if ((rc = load_side(a, s, &run[s])))
            goto out;
    sp_status st = sp_diff_compare(run[0], run[1], &a->dopt, &d, err, sizeof err);
    if (st) {
        fprintf(stderr, "servprof %s: %s\n", CMD, err[0] ? err : sp_status_str(st));
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < a->n_cond; i++) {
        st = sp_diff_check_condition(d, &a->cond[i], err, sizeof err);
        if (st == SP_ERR_INVALID) {
            rc = sp_cli_usage_error(CMD, "--fail-if: %s", err);
            goto out;
        }
        if (st) {
            fprintf(stderr, "servprof %s: %s\n", CMD, sp_status_str(st));
            rc = 1;
            goto out;
        }
    }
    rc = write_to(a->output_path, a->json ? sp_diff_write_json : sp_diff_write_text, d);
    if (!rc && a->html_path)
        rc = write_to(a->html_path, sp_diff_write_html, d);
    if (!rc && d->n_holding) {
        say_holding(d);
        rc = EXIT_CONDITION;
    }
out:
    sp_diff_destroy(d);
    sp_diff_run_destroy(run[0]);
    sp_diff_run_destroy(run[1]);
    free(a);
    return rc;
}
