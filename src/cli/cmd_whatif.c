/* `servprof whatif`: parses its options, loads the traces and calls the what-if library: the observed
 * policy (the trace's, options, inferred), the fit, the study of a grid of other policies and its
 * writers (text, servprof.whatif/1 JSON, HTML). Exit status: 0 ok, 1 a trace could not be read or
 * used, 2 usage error. */
#ifdef SERVPROF_WHATIF_ENABLED

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"
#include "commands.h"
#include "servprof/whatif.h"

#define MAX_LIST 64
#define MAX_PADS 16

static void whatif_usage(FILE *out)
{
    sp_whatif_policy d; /* the reference service's defaults, where the trace says nothing */
    sp_whatif_policy_init(&d);
    sp_whatif_sim_options sim;
    sp_whatif_sim_options_init(&sim);
    fprintf(out,
            "usage: servprof whatif [OPTIONS] TRACE...   (`-` reads standard input)\n\n"
            "Fits a batch service-time model t = a + b*size + c*padded_tokens (+ d*size*len^2) with\n"
            "non-negative costs to the batches of a profile of a dynamically batched service, then\n"
            "replays the profile's arrivals (arrival + preprocess, input lengths, postprocess times)\n"
            "through other batching policies with the reference service's batcher rules and predicts\n"
            "p50/p95/p99 latency, throughput, utilisation and cost per request. The first rows are the\n"
            "profile as measured and the observed policy as simulated; a row marked ! extrapolates\n"
            "beyond the batch sizes or padded lengths seen. docs/whatif.md explains the model.\n\n"
            "policies (a LIST like 8,16,32 sweeps; the grid is the product of all lists; a dimension\n"
            "not given takes the observed policy's value):\n"
            "  --max-batch LIST          requests per batch\n"
            "  --max-queue-delay-ms LIST how long the oldest queued request waits for company (ms,\n"
            "                            fractions allowed)\n"
            "  --pad SPEC                padding: longest | static:N | buckets:B1,B2,... | multiple:N;\n"
            "                            repeat the option (or separate specs with ';') to sweep several\n"
            "  --instances LIST          workers, each running one batch at a time (each is billed)\n"
            "  --queue-capacity N        requests that may wait; more are rejected (503) (default: the\n"
            "                            trace's, else %u)\n"
            "  --max-len N               the service's max tokens per input: longer requests of a\n"
            "                            bucketed policy pad to it (default: the trace's, else the\n"
            "                            longest input seen if over %u, else %u)\n\n"
            "the profiled policy: read from the trace's policy properties (servprof serve and synth\n"
            "write them); these options override it, and the output says where each setting came from:\n"
            "  --observed-max-batch N    not in the trace: the largest batch in the profile (inferred)\n"
            "  --observed-delay-ms X     not in the trace: the median wait of the oldest member of\n"
            "                            batches smaller than the largest; every batch full: the\n"
            "                            longest such wait (inferred)\n"
            "  --observed-pad SPEC       not in the trace: longest (assumed)\n"
            "  --observed-instances N    not in the trace: 1 (assumed)\n\n"
            "model, cost and output:\n"
            "  --model linear|attn       service-time terms: linear = a + b*size + c*padded_tokens\n"
            "                            (default); attn adds d*size*padded_len^2\n"
            "  --no-resample             deterministic service times (default: each batch's predicted\n"
            "                            time times a relative fit residual drawn at random)\n"
            "  --seed N                  seed for the residual draws (default %llu)\n"
            "  --price-per-hour X        instance price in dollars per hour (> 0); else the trace's,\n"
            "                            else $%.2f/h (said so); the bill is price x instances x window\n"
            "  --slo-p95-ms X            pick the cheapest policy whose predicted p95 <= X ms with no\n"
            "                            rejections, and say why (or that none does)\n"
            "  --json                    one JSON object (servprof.whatif/1) instead of the table\n"
            "  --html FILE               also write the HTML report of the trace with the what-if\n"
            "                            results as a table and chart (docs/html-report.md)\n"
            "  --lenient                 skip malformed records and unresolved references\n"
            "  --strict                  exit 1 (after the output) when any trace data was lost: corrupt\n"
            "                            or cut blocks, undecodable or orphaned records, an unclean end,\n"
            "                            records the recorder dropped, skipped records (docs/cli.md)\n"
            "  -o, --output FILE         write to FILE instead of standard output\n"
            "  -h, --help                this help\n\n"
            "exit status: 0 success (also when no policy meets the SLO: the output says so), 1 a trace\n"
            "could not be read or used (or, with --strict, data was lost), 2 usage error\n",
            d.queue_capacity, d.max_len, d.max_len, (unsigned long long)sim.seed, SP_DEFAULT_PRICE_PER_HOUR);
}

enum {
    OPT_MB = 256, OPT_DELAY, OPT_PAD, OPT_INST, OPT_QCAP, OPT_MAXLEN, OPT_OMB, OPT_ODELAY, OPT_OPAD,
    OPT_OINST, OPT_MODEL, OPT_NORESAMPLE, OPT_SEED, OPT_PRICE, OPT_SLO, OPT_JSON, OPT_LENIENT, OPT_HTML, OPT_STRICT
};

static const struct option long_opts[] = {
    {"max-batch", required_argument, NULL, OPT_MB},
    {"max-queue-delay-ms", required_argument, NULL, OPT_DELAY},
    {"pad", required_argument, NULL, OPT_PAD},
    {"instances", required_argument, NULL, OPT_INST},
    {"queue-capacity", required_argument, NULL, OPT_QCAP},
    {"max-len", required_argument, NULL, OPT_MAXLEN},
    {"observed-max-batch", required_argument, NULL, OPT_OMB},
    {"observed-delay-ms", required_argument, NULL, OPT_ODELAY},
    {"observed-pad", required_argument, NULL, OPT_OPAD},
    {"observed-instances", required_argument, NULL, OPT_OINST},
    {"model", required_argument, NULL, OPT_MODEL},
    {"no-resample", no_argument, NULL, OPT_NORESAMPLE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"price-per-hour", required_argument, NULL, OPT_PRICE},
    {"slo-p95-ms", required_argument, NULL, OPT_SLO},
    {"json", no_argument, NULL, OPT_JSON},
    {"html", required_argument, NULL, OPT_HTML},
    {"lenient", no_argument, NULL, OPT_LENIENT},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int one_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    unsigned v;
    if (!sp_cli_uint("whatif", opt, s, lo, hi, &v))
        return -1;
    *out = v;
    return 0;
}

/* "longest;static:64" or one spec: appends to pads. */
static int add_pads(const char *opt, const char *s, sp_whatif_policy *pads, size_t *n)
{
    char buf[512];
    if (strlen(s) >= sizeof buf) {
        fprintf(stderr, "servprof whatif: %s: value too long\n", opt);
        return -1;
    }
    strcpy(buf, s);
    /* split by hand: strtok_r would pass over an empty policy ("longest;;static:64", a trailing ';') */
    for (char *tok = buf, *next; tok; tok = next) {
        next = strchr(tok, ';');
        if (next)
            *next++ = '\0';
        if (!*tok) {
            fprintf(stderr, "servprof whatif: %s: empty padding policy in '%s'\n", opt, s);
            return -1;
        }
        if (*n == MAX_PADS) {
            fprintf(stderr, "servprof whatif: %s: more than %d padding policies\n", opt, MAX_PADS);
            return -1;
        }
        char err[256];
        sp_whatif_policy_init(&pads[*n]);
        if (sp_whatif_parse_pad(tok, &pads[*n], err, sizeof err) != SP_OK) {
            fprintf(stderr, "servprof whatif: %s: %s\n", opt, err);
            return -1;
        }
        (*n)++;
    }
    if (*n == 0) {
        fprintf(stderr, "servprof whatif: %s: empty padding policy\n", opt);
        return -1;
    }
    return 0;
}

/* The trace's own report with the study as its what-if section. Returns 0 or 1 (message printed). */
static int write_html(const char *path, sp_events *ev, const sp_whatif_study *study, double price, int lenient)
{
    sp_analyze_options aopt;
    sp_analyze_options_init(&aopt);
    aopt.price_per_hour = price;
    aopt.lenient = lenient;
    aopt.keep_detail = 1; /* the HTML charts draw the analysis' detail */
    sp_report *rep = NULL;
    char err[512] = "";
    sp_status st = sp_analyze(ev, &aopt, &rep, err, sizeof err);
    /* the report's verdict quotes its prediction, as `servprof analyze --html` would */
    if (st == SP_OK && (st = sp_whatif_quote_verdict(ev, rep, lenient)) != SP_OK)
        snprintf(err, sizeof err, "predicting the verdict's change: %s", sp_status_str(st));
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: analysing for the HTML report: %s\n", err[0] ? err : sp_status_str(st));
        sp_report_destroy(rep);
        return 1;
    }
    if (sp_cli_refuse_trace_output("whatif", path)) {
        sp_report_destroy(rep);
        return 1;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "servprof whatif: %s: cannot create: %s\n", path, strerror(errno));
        sp_report_destroy(rep);
        return 1;
    }
    st = sp_whatif_write_html(study, rep, ev, f);
    int e = errno; /* the writers leave the reason of a failed write here */
    if (fclose(f) != 0 && st == SP_OK) {
        st = SP_ERR_IO;
        e = errno;
    }
    sp_report_destroy(rep);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: %s: writing the HTML report failed: %s\n", path,
                st == SP_ERR_IO ? strerror(e) : sp_status_str(st));
        return 1;
    }
    fprintf(stderr, "HTML report: %s\n", path);
    return 0;
}

/* What `servprof whatif` was asked for. */
typedef struct whatif_args {
    uint32_t mb[MAX_LIST], inst[MAX_LIST]; /* swept max batch sizes and instances */
    uint64_t delay[MAX_LIST];              /* swept max queue delays, ns */
    size_t n_mb, n_delay, n_inst, n_pads;
    sp_whatif_policy pads[MAX_PADS];       /* swept padding policies */
    sp_whatif_policy opt_obs;              /* --observed-* values */
    int have_omb, have_odelay, have_opad, have_oinst, have_qcap, have_maxlen;
    int json, lenient, strict;
    uint32_t qcap, max_len;                /* with have_qcap / have_maxlen */
    unsigned terms;                        /* the fit's terms: 0x7 linear, 0xf with attention */
    double price_opt, slo_ms;              /* 0: the trace's price; <= 0: no SLO */
    const char *output_path, *html_path;
    sp_whatif_sim_options so;
} whatif_args;

/* Reads the options into `a` (initialised). Returns -1 to go on, else the exit status (0 after
 * --help; 2 for a usage error, printed). */
static int parse_whatif_options(int argc, char **argv, whatif_args *a)
{
    char err[1024];
    sp_cli_getopt_begin();
    int c, li = -1;
    while ((li = -1, c = getopt_long(argc, argv, ":o:h", long_opts, &li)) != -1) {
        sp_status st = SP_OK;
        double d;
        size_t k;
        static const char *const models[] = {"linear", "attn"};
        switch (c) {
        case OPT_MB:
            st = sp_whatif_parse_u32_list(optarg, SP_WHATIF_MAX_BATCH, a->mb, MAX_LIST, &a->n_mb, err, sizeof err);
            break;
        case OPT_DELAY:
            st = sp_whatif_parse_ms_list(optarg, a->delay, MAX_LIST, &a->n_delay, err, sizeof err);
            break;
        case OPT_INST:
            st = sp_whatif_parse_u32_list(optarg, SP_WHATIF_MAX_INSTANCES, a->inst, MAX_LIST, &a->n_inst, err,
                                          sizeof err);
            break;
        case OPT_PAD:
            if (add_pads("--pad", optarg, a->pads, &a->n_pads))
                return 2;
            break;
        case OPT_QCAP:
            if (one_u32("--queue-capacity", optarg, 1, SP_WHATIF_MAX_QUEUE_CAPACITY, &a->qcap))
                return 2;
            a->have_qcap = 1;
            break;
        case OPT_MAXLEN:
            if (one_u32("--max-len", optarg, 1, SP_WHATIF_MAX_LEN, &a->max_len))
                return 2;
            a->have_maxlen = 1;
            break;
        case OPT_OMB:
            if (one_u32("--observed-max-batch", optarg, 1, SP_WHATIF_MAX_BATCH, &a->opt_obs.max_batch))
                return 2;
            a->have_omb = 1;
            break;
        case OPT_ODELAY:
            if (!sp_cli_number("whatif", "--observed-delay-ms", optarg, 0, SP_WHATIF_MAX_DELAY_MS, &d))
                return 2;
            a->opt_obs.max_delay_ns = (uint64_t)(d * 1e6 + 0.5);
            a->have_odelay = 1;
            break;
        case OPT_OPAD:
            if (sp_whatif_parse_pad(optarg, &a->opt_obs, err, sizeof err) != SP_OK) {
                fprintf(stderr, "servprof whatif: --observed-pad: %s\n", err);
                return 2;
            }
            a->have_opad = 1;
            break;
        case OPT_OINST:
            if (one_u32("--observed-instances", optarg, 1, SP_WHATIF_MAX_INSTANCES, &a->opt_obs.instances))
                return 2;
            a->have_oinst = 1;
            break;
        case OPT_MODEL:
            if (!sp_cli_choice("whatif", "--model", optarg, models, 2, &k))
                return 2;
            a->terms = k == 0 ? 0x7 : 0xf; /* attn adds the d*size*len^2 term */
            break;
        case OPT_NORESAMPLE: a->so.resample = 0; break;
        case OPT_SEED:
            if (!sp_cli_u64("whatif", "--seed", optarg, 0, UINT64_MAX, &a->so.seed))
                return 2;
            break;
        case OPT_PRICE:
            if (!sp_cli_price("whatif", optarg, &a->price_opt))
                return 2;
            break;
        case OPT_SLO:
            if (!sp_cli_positive("whatif", "--slo-p95-ms", optarg, 3.6e6, &a->slo_ms))
                return 2;
            break;
        case OPT_JSON: a->json = 1; break;
        case OPT_HTML: a->html_path = optarg; break;
        case OPT_LENIENT: a->lenient = 1; break;
        case OPT_STRICT: a->strict = 1; break;
        case 'o': a->output_path = optarg; break;
        case 'h': whatif_usage(stdout); return 0;
        default: return sp_cli_option_error("whatif", c, argc, argv, long_opts);
        }
        if (st != SP_OK) {
            fprintf(stderr, "servprof whatif: --%s: %s\n", li >= 0 ? long_opts[li].name : "?", err);
            return 2;
        }
    }
    return -1;
}

/* Loads the traces, takes the observed policy as the trace states it and the workload (arrivals,
 * lengths, batches) from them, and fits the service time. *ev is kept only for --html (else NULL).
 * `lost` gets what the traces lost (for --strict). Returns 0, or 1 after printing why (everything
 * freed). */
static int load_and_fit(const whatif_args *a, int ntraces, char *const *traces, sp_events **ev_out,
                        sp_whatif_observed *obs, sp_whatif_workload *w, sp_whatif_fit *fit, char *lost,
                        size_t *n_lost)
{
    char err[1024];
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK) {
        fprintf(stderr, "servprof whatif: out of memory\n");
        return 1;
    }
    sp_load_options lopt;
    sp_load_options_init(&lopt);
    lopt.lenient = a->lenient;
    for (int i = 0; i < ntraces; i++) {
        err[0] = '\0';
        sp_status st = sp_cli_load_trace(ev, traces[i], &lopt, err, sizeof err);
        if (st != SP_OK) {
            fprintf(stderr, "servprof whatif: %s\n", err[0] ? err : sp_status_str(st));
            sp_cli_lenient_hint("whatif", ev);
            sp_events_destroy(ev);
            return 1;
        }
    }
    err[0] = '\0';
    sp_status st = sp_whatif_observed_from_events(ev, obs, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: %s\n", err[0] ? err : sp_status_str(st));
        sp_events_destroy(ev);
        return 1;
    }
    st = sp_whatif_workload_from_events(ev, a->lenient, w, err, sizeof err);
    /* what was lost, known once the events are finished (orphans); said at the end under --strict */
    *n_lost = st == SP_OK ? sp_events_describe_loss(ev, lost, SP_CLI_LOSS_LINE_MAX) : 0;
    if (!a->html_path || st != SP_OK) {
        /* the events are only needed again for the HTML report */
        sp_events_destroy(ev);
        ev = NULL;
    }
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: %s\n", err[0] ? err : sp_status_str(st));
        return 1;
    }
    memset(fit, 0, sizeof *fit);
    st = sp_whatif_fit_batches(w->batches, w->n_batches, a->terms, fit, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: fitting the service time: %s\n", err[0] ? err : sp_status_str(st));
        sp_whatif_workload_clear(w);
        sp_events_destroy(ev);
        return 1;
    }
    *ev_out = ev;
    return 0;
}

/* The observed policy: the --observed-* options (and --queue-capacity, --max-len) override the
 * trace's; what neither says is inferred from the workload. */
static void settle_observed(const whatif_args *a, sp_whatif_observed *obs, const sp_whatif_workload *w)
{
#define OVERRIDE(have, setting, assign)                                                                 \
    do {                                                                                               \
        if (have) {                                                                                    \
            assign;                                                                                    \
            obs->origin[setting] = SP_WHATIF_FROM_OPTION;                                              \
        }                                                                                              \
    } while (0)
    OVERRIDE(a->have_omb, SP_WHATIF_SET_MAX_BATCH, obs->policy.max_batch = a->opt_obs.max_batch);
    OVERRIDE(a->have_odelay, SP_WHATIF_SET_DELAY, obs->policy.max_delay_ns = a->opt_obs.max_delay_ns);
    OVERRIDE(a->have_opad, SP_WHATIF_SET_PAD,
             (obs->policy.pad = a->opt_obs.pad, obs->policy.pad_to = a->opt_obs.pad_to,
              memcpy(obs->policy.buckets, a->opt_obs.buckets, sizeof obs->policy.buckets)));
    OVERRIDE(a->have_oinst, SP_WHATIF_SET_INSTANCES, obs->policy.instances = a->opt_obs.instances);
    OVERRIDE(a->have_qcap, SP_WHATIF_SET_QUEUE_CAPACITY, obs->policy.queue_capacity = a->qcap);
    OVERRIDE(a->have_maxlen, SP_WHATIF_SET_MAX_LEN, obs->policy.max_len = a->max_len);
#undef OVERRIDE
    sp_whatif_observed_infer(obs, w);
    sp_whatif_policy_normalize(&obs->policy);
}

/* Builds the grid (a dimension not swept takes the observed value) and runs the study into
 * *study. Returns 0, or the exit status after printing why. */
static int run_study(whatif_args *a, const sp_whatif_observed *obs, const sp_whatif_workload *w,
                     const sp_whatif_fit *fit, sp_whatif_study *study)
{
    /* nothing swept: the grid would be the observed policy alone, which the study drops as a duplicate
     * ("1 candidate policy batches like a policy above") beside "no candidate policy to compare" */
    const int swept = a->n_mb || a->n_delay || a->n_pads || a->n_inst;
    if (!a->n_mb)
        a->mb[a->n_mb++] = obs->policy.max_batch;
    if (!a->n_delay)
        a->delay[a->n_delay++] = obs->policy.max_delay_ns;
    if (!a->n_pads)
        a->pads[a->n_pads++] = obs->policy;
    if (!a->n_inst)
        a->inst[a->n_inst++] = obs->policy.instances;
    size_t cap = SP_WHATIF_MAX_POLICIES;
    sp_whatif_policy *grid = malloc(cap * sizeof *grid);
    if (!grid) {
        fprintf(stderr, "servprof whatif: out of memory\n");
        return 1;
    }
    size_t ng = 0;
    sp_status st = swept ? sp_whatif_grid(&obs->policy, a->mb, a->n_mb, a->delay, a->n_delay, a->pads, a->n_pads,
                                          a->inst, a->n_inst, grid, cap, &ng)
                         : SP_OK;
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: the policy grid has more than %zu policies\n", cap);
        free(grid);
        return 2;
    }
    sp_whatif_study_options sopt;
    sp_whatif_study_options_init(&sopt);
    sopt.sim = a->so;
    sopt.sim.price_per_hour = a->price_opt; /* 0: the trace's, else the default */
    sopt.slo_p95_ns = a->slo_ms > 0 ? (uint64_t)(a->slo_ms * 1e6 + 0.5) : 0;
    if (a->slo_ms > 0 && sopt.slo_p95_ns == 0)
        sopt.slo_p95_ns = 1;
    char err[1024] = "";
    st = sp_whatif_study_run(w, fit, obs, grid, ng, &sopt, study, err, sizeof err);
    free(grid);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: %s\n", err[0] ? err : sp_status_str(st));
        return st == SP_ERR_INVALID ? 2 : 1;
    }
    return 0;
}

/* Writes the study as the table or servprof.whatif/1 JSON to -o FILE or standard output. Returns
 * 0, or 1 after printing why. */
static int write_study(const whatif_args *a, const sp_whatif_study *study)
{
    FILE *out = stdout;
    if (a->output_path && sp_cli_refuse_trace_output("whatif", a->output_path))
        return 1;
    if (a->output_path && !(out = fopen(a->output_path, "w"))) {
        fprintf(stderr, "servprof whatif: %s: cannot create: %s\n", a->output_path, strerror(errno));
        return 1;
    }
    sp_status st = a->json ? sp_whatif_write_json(study, out) : sp_whatif_write_text(study, out);
    /* a stream whose write failed keeps the unwritten bytes, so flushing again names the reason */
    int wfail = st != SP_OK || fflush(out) != 0 || ferror(out);
    int e = errno;
    if (out != stdout && fclose(out) != 0 && !wfail) {
        wfail = 1;
        e = errno;
    }
    if (wfail) {
        fprintf(stderr, "servprof whatif: %s: write failed: %s\n", a->output_path ? a->output_path : "standard output",
                st != SP_OK && st != SP_ERR_IO ? sp_status_str(st) : strerror(e));
        return 1;
    }
    return 0;
}

int sp_cmd_whatif(int argc, char **argv)
{
    whatif_args a;
    memset(&a, 0, sizeof a);
    sp_whatif_policy_init(&a.opt_obs);
    a.terms = 0x7;
    a.slo_ms = -1;
    sp_whatif_sim_options_init(&a.so);
    int rc = parse_whatif_options(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (sp_cli_check_traces("whatif", argc - optind, argv + optind))
        return 2;

    sp_cli_log_to_stderr("whatif");
    sp_events *ev = NULL;
    sp_whatif_observed obs;
    sp_whatif_workload w;
    sp_whatif_fit fit;
    char lost[SP_CLI_LOSS_LINE_MAX];
    size_t n_lost = 0;
    if (load_and_fit(&a, argc - optind, argv + optind, &ev, &obs, &w, &fit, lost, &n_lost) != 0)
        return 1;
    settle_observed(&a, &obs, &w);
    sp_whatif_study study;
    memset(&study, 0, sizeof study);
    rc = run_study(&a, &obs, &w, &fit, &study);
    if (rc == 0)
        rc = write_study(&a, &study);
    if (rc == 0 && a.html_path && write_html(a.html_path, ev, &study, a.price_opt, a.lenient) != 0)
        rc = 1;
    if (rc == 0 && a.strict)
        rc = sp_cli_strict("whatif", n_lost, lost);
    sp_events_destroy(ev);
    sp_whatif_study_clear(&study);
    sp_whatif_fit_clear(&fit);
    sp_whatif_workload_clear(&w);
    return rc;
}

#endif /* SERVPROF_WHATIF_ENABLED */
