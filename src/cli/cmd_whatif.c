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
            "                            batches smaller than the largest (inferred)\n"
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
    char *save = NULL;
    for (char *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
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

int sp_cmd_whatif(int argc, char **argv)
{
    uint32_t mb[MAX_LIST], inst[MAX_LIST];
    uint64_t delay[MAX_LIST];
    size_t n_mb = 0, n_delay = 0, n_inst = 0, n_pads = 0;
    sp_whatif_policy pads[MAX_PADS];
    sp_whatif_policy opt_obs; /* --observed-* values */
    sp_whatif_policy_init(&opt_obs);
    int have_omb = 0, have_odelay = 0, have_opad = 0, have_oinst = 0, have_qcap = 0, have_maxlen = 0;
    int json = 0, lenient = 0, strict = 0;
    uint32_t qcap = 0, max_len = 0; /* with have_qcap / have_maxlen */
    unsigned terms = 0x7;
    double price_opt = 0, slo_ms = -1;
    const char *output_path = NULL;
    const char *html_path = NULL;
    sp_whatif_sim_options so;
    sp_whatif_sim_options_init(&so);
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
            st = sp_whatif_parse_u32_list(optarg, SP_WHATIF_MAX_BATCH, mb, MAX_LIST, &n_mb, err, sizeof err);
            break;
        case OPT_DELAY:
            st = sp_whatif_parse_ms_list(optarg, delay, MAX_LIST, &n_delay, err, sizeof err);
            break;
        case OPT_INST:
            st = sp_whatif_parse_u32_list(optarg, SP_WHATIF_MAX_INSTANCES, inst, MAX_LIST, &n_inst, err,
                                          sizeof err);
            break;
        case OPT_PAD:
            if (add_pads("--pad", optarg, pads, &n_pads))
                return 2;
            break;
        case OPT_QCAP:
            if (one_u32("--queue-capacity", optarg, 1, SP_WHATIF_MAX_QUEUE_CAPACITY, &qcap))
                return 2;
            have_qcap = 1;
            break;
        case OPT_MAXLEN:
            if (one_u32("--max-len", optarg, 1, SP_WHATIF_MAX_LEN, &max_len))
                return 2;
            have_maxlen = 1;
            break;
        case OPT_OMB:
            if (one_u32("--observed-max-batch", optarg, 1, SP_WHATIF_MAX_BATCH, &opt_obs.max_batch))
                return 2;
            have_omb = 1;
            break;
        case OPT_ODELAY:
            if (!sp_cli_number("whatif", "--observed-delay-ms", optarg, 0, SP_WHATIF_MAX_DELAY_MS, &d))
                return 2;
            opt_obs.max_delay_ns = (uint64_t)(d * 1e6 + 0.5);
            have_odelay = 1;
            break;
        case OPT_OPAD:
            if (sp_whatif_parse_pad(optarg, &opt_obs, err, sizeof err) != SP_OK) {
                fprintf(stderr, "servprof whatif: --observed-pad: %s\n", err);
                return 2;
            }
            have_opad = 1;
            break;
        case OPT_OINST:
            if (one_u32("--observed-instances", optarg, 1, SP_WHATIF_MAX_INSTANCES, &opt_obs.instances))
                return 2;
            have_oinst = 1;
            break;
        case OPT_MODEL:
            if (!sp_cli_choice("whatif", "--model", optarg, models, 2, &k))
                return 2;
            terms = k == 0 ? 0x7 : 0xf; /* attn adds the d*size*len^2 term */
            break;
        case OPT_NORESAMPLE: so.resample = 0; break;
        case OPT_SEED:
            if (!sp_cli_u64("whatif", "--seed", optarg, 0, UINT64_MAX, &so.seed))
                return 2;
            break;
        case OPT_PRICE:
            if (!sp_cli_price("whatif", optarg, &price_opt))
                return 2;
            break;
        case OPT_SLO:
            if (!sp_cli_positive("whatif", "--slo-p95-ms", optarg, 3.6e6, &slo_ms))
                return 2;
            break;
        case OPT_JSON: json = 1; break;
        case OPT_HTML: html_path = optarg; break;
        case OPT_LENIENT: lenient = 1; break;
        case OPT_STRICT: strict = 1; break;
        case 'o': output_path = optarg; break;
        case 'h': whatif_usage(stdout); return 0;
        default: return sp_cli_option_error("whatif", c, argc, argv, long_opts);
        }
        if (st != SP_OK) {
            fprintf(stderr, "servprof whatif: --%s: %s\n", li >= 0 ? long_opts[li].name : "?", err);
            return 2;
        }
    }
    if (sp_cli_check_traces("whatif", argc - optind, argv + optind))
        return 2;

    /* ---- load, extract, fit ---- */
    sp_cli_log_to_stderr("whatif");
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK) {
        fprintf(stderr, "servprof whatif: out of memory\n");
        return 1;
    }
    sp_load_options lopt;
    sp_load_options_init(&lopt);
    lopt.lenient = lenient;
    for (int i = optind; i < argc; i++) {
        err[0] = '\0';
        sp_status st = sp_cli_load_trace(ev, argv[i], &lopt, err, sizeof err);
        if (st != SP_OK) {
            fprintf(stderr, "servprof whatif: %s\n", err[0] ? err : sp_status_str(st));
            sp_events_destroy(ev);
            return 1;
        }
    }
    sp_whatif_observed obs;
    err[0] = '\0';
    sp_status st = sp_whatif_observed_from_events(ev, &obs, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: %s\n", err[0] ? err : sp_status_str(st));
        sp_events_destroy(ev);
        return 1;
    }
    sp_whatif_workload w;
    st = sp_whatif_workload_from_events(ev, lenient, &w, err, sizeof err);
    /* what was lost, known once the events are finished (orphans); said at the end under --strict */
    char lost[SP_CLI_LOSS_LINE_MAX];
    size_t n_lost = st == SP_OK ? sp_events_describe_loss(ev, lost, sizeof lost) : 0;
    if (!html_path || st != SP_OK) {
        /* the events are only needed again for the HTML report */
        sp_events_destroy(ev);
        ev = NULL;
    }
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: %s\n", err[0] ? err : sp_status_str(st));
        return 1;
    }
    sp_whatif_fit fit;
    memset(&fit, 0, sizeof fit);
    st = sp_whatif_fit_batches(w.batches, w.n_batches, terms, &fit, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: fitting the service time: %s\n", err[0] ? err : sp_status_str(st));
        sp_whatif_workload_clear(&w);
        sp_events_destroy(ev);
        return 1;
    }

    /* ---- the observed policy: options override the trace; the rest inferred ---- */
#define OVERRIDE(have, setting, assign)                                                                 \
    do {                                                                                               \
        if (have) {                                                                                    \
            assign;                                                                                    \
            obs.origin[setting] = SP_WHATIF_FROM_OPTION;                                               \
        }                                                                                              \
    } while (0)
    OVERRIDE(have_omb, SP_WHATIF_SET_MAX_BATCH, obs.policy.max_batch = opt_obs.max_batch);
    OVERRIDE(have_odelay, SP_WHATIF_SET_DELAY, obs.policy.max_delay_ns = opt_obs.max_delay_ns);
    OVERRIDE(have_opad, SP_WHATIF_SET_PAD,
             (obs.policy.pad = opt_obs.pad, obs.policy.pad_to = opt_obs.pad_to,
              memcpy(obs.policy.buckets, opt_obs.buckets, sizeof obs.policy.buckets)));
    OVERRIDE(have_oinst, SP_WHATIF_SET_INSTANCES, obs.policy.instances = opt_obs.instances);
    OVERRIDE(have_qcap, SP_WHATIF_SET_QUEUE_CAPACITY, obs.policy.queue_capacity = qcap);
    OVERRIDE(have_maxlen, SP_WHATIF_SET_MAX_LEN, obs.policy.max_len = max_len);
#undef OVERRIDE
    sp_whatif_observed_infer(&obs, &w);
    sp_whatif_policy_normalize(&obs.policy);

    /* ---- the grid: a dimension not swept takes the observed value ---- */
    if (!n_mb)
        mb[n_mb++] = obs.policy.max_batch;
    if (!n_delay)
        delay[n_delay++] = obs.policy.max_delay_ns;
    if (!n_pads)
        pads[n_pads++] = obs.policy;
    if (!n_inst)
        inst[n_inst++] = obs.policy.instances;
    size_t cap = SP_WHATIF_MAX_POLICIES;
    sp_whatif_policy *grid = malloc(cap * sizeof *grid);
    sp_whatif_study study;
    memset(&study, 0, sizeof study);
    int rc = 0;
    FILE *out = stdout;
    if (!grid) {
        fprintf(stderr, "servprof whatif: out of memory\n");
        rc = 1;
        goto done;
    }
    size_t ng = 0;
    st = sp_whatif_grid(&obs.policy, mb, n_mb, delay, n_delay, pads, n_pads, inst, n_inst, grid, cap, &ng);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: the policy grid has more than %zu policies\n", cap);
        rc = 2;
        goto done;
    }
    sp_whatif_study_options sopt;
    sp_whatif_study_options_init(&sopt);
    sopt.sim = so;
    sopt.sim.price_per_hour = price_opt; /* 0: the trace's, else the default */
    sopt.slo_p95_ns = slo_ms > 0 ? (uint64_t)(slo_ms * 1e6 + 0.5) : 0;
    if (slo_ms > 0 && sopt.slo_p95_ns == 0)
        sopt.slo_p95_ns = 1;
    err[0] = '\0';
    st = sp_whatif_study_run(&w, &fit, &obs, grid, ng, &sopt, &study, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: %s\n", err[0] ? err : sp_status_str(st));
        rc = st == SP_ERR_INVALID ? 2 : 1;
        goto done;
    }
    if (output_path && !(out = fopen(output_path, "w"))) {
        fprintf(stderr, "servprof whatif: %s: cannot create: %s\n", output_path, strerror(errno));
        rc = 1;
        goto done;
    }
    st = json ? sp_whatif_write_json(&study, out) : sp_whatif_write_text(&study, out);
    /* a stream whose write failed keeps the unwritten bytes, so flushing again names the reason */
    int wfail = st != SP_OK || fflush(out) != 0 || ferror(out);
    int e = errno;
    if (out != stdout && fclose(out) != 0 && !wfail) {
        wfail = 1;
        e = errno;
    }
    if (wfail) {
        fprintf(stderr, "servprof whatif: %s: write failed: %s\n", output_path ? output_path : "standard output",
                st != SP_OK && st != SP_ERR_IO ? sp_status_str(st) : strerror(e));
        rc = 1;
    }
    if (rc == 0 && html_path && write_html(html_path, ev, &study, price_opt, lenient) != 0)
        rc = 1;
    if (rc == 0 && strict)
        rc = sp_cli_strict("whatif", n_lost, lost);
done:
    sp_events_destroy(ev);
    free(grid);
    sp_whatif_study_clear(&study);
    sp_whatif_fit_clear(&fit);
    sp_whatif_workload_clear(&w);
    return rc;
}

#endif /* SERVPROF_WHATIF_ENABLED */
