/* `servprof whatif`: fits the service-time model to a profile's batches, replays its arrivals
 * through the observed policy and a grid of other policies, and prints predicted percentiles,
 * throughput, utilisation and cost per request (text or JSON), with the cheapest policy that meets
 * a p95 objective. Exit status: 0 ok, 1 a trace could not be read or used, 2 usage error. */
#ifdef SERVPROF_WHATIF_ENABLED

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_opts.h"
#include "cli/commands.h"
#include "servprof/whatif.h"

#define MAX_LIST 64
#define MAX_PADS 16

static void whatif_usage(FILE *out)
{
    fprintf(out,
            "usage: servprof whatif [OPTIONS] TRACE...   (`-` reads standard input)\n\n"
            "Fits a batch service-time model t = a + b*size + c*padded_tokens (+ d*size*len^2) to the\n"
            "batches of a profile of a dynamically batched service, then replays the profile's\n"
            "arrivals (arrival + preprocess, input lengths, postprocess times) through other batching\n"
            "policies with the reference service's batcher rules and predicts p50/p95/p99 latency,\n"
            "throughput, utilisation and cost per request. The first rows are the profile as measured\n"
            "and the observed policy as simulated. docs/whatif.md explains the model and its limits.\n\n"
            "policies (a LIST like 8,16,32 sweeps; the grid is the product of all lists; a dimension\n"
            "not given takes the observed policy's value):\n"
            "  --max-batch LIST          requests per batch\n"
            "  --max-queue-delay-ms LIST how long the oldest queued request waits for company (ms,\n"
            "                            fractions allowed)\n"
            "  --pad SPEC                padding: longest | static:N | buckets:B1,B2,... ; repeat the\n"
            "                            option (or separate specs with ';') to sweep several\n"
            "  --instances LIST          workers, each running one batch at a time (each is billed)\n"
            "  --queue-capacity N        requests that may wait; more are rejected (503) (default 256)\n"
            "  --max-len N               the service's max tokens per input: longer requests of a\n"
            "                            bucketed policy pad to it (default 128)\n\n"
            "the profiled policy (the trace does not record it):\n"
            "  --observed-max-batch N    default: the largest batch in the profile (said so)\n"
            "  --observed-delay-ms X     default: the median wait of the oldest member of batches\n"
            "                            smaller than the largest (said so)\n"
            "  --observed-pad SPEC       default longest\n"
            "  --observed-instances N    default 1\n\n"
            "model, cost and output:\n"
            "  --model linear|attn       service-time terms: linear = a + b*size + c*padded_tokens\n"
            "                            (default); attn adds d*size*padded_len^2\n"
            "  --no-resample             deterministic service times (default: each batch's predicted\n"
            "                            time times a relative fit residual drawn at random)\n"
            "  --seed N                  seed for the residual draws (default 1)\n"
            "  --price-per-hour X        instance price in dollars per hour (> 0); else the trace's,\n"
            "                            else $%.2f/h (said so); the bill is price x instances x window\n"
            "  --slo-p95-ms X            pick the cheapest policy whose predicted p95 <= X ms with no\n"
            "                            rejections, and say why (or that none does)\n"
            "  --json                    one JSON object (servprof.whatif/1) instead of the table\n"
            "  --html FILE               also write the HTML report of the trace with the what-if\n"
            "                            results as a table and chart (docs/html-report.md)\n"
            "  --lenient                 skip malformed records and unresolved references\n"
            "  -o, --output FILE         write to FILE instead of standard output\n"
            "  -h, --help                this help\n\n"
            "exit status: 0 success (also when no policy meets the SLO: the output says so), 1 a trace\n"
            "could not be read or used, 2 usage error\n",
            SP_DEFAULT_PRICE_PER_HOUR);
}

enum {
    OPT_MB = 256, OPT_DELAY, OPT_PAD, OPT_INST, OPT_QCAP, OPT_MAXLEN, OPT_OMB, OPT_ODELAY, OPT_OPAD,
    OPT_OINST, OPT_MODEL, OPT_NORESAMPLE, OPT_SEED, OPT_PRICE, OPT_SLO, OPT_JSON, OPT_LENIENT, OPT_HTML
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

static const char *pad_name(const sp_whatif_policy *p, char *buf, size_t len)
{
    if (p->pad == SP_WHATIF_PAD_STATIC) {
        snprintf(buf, len, "static:%u", p->pad_to);
    } else if (p->pad == SP_WHATIF_PAD_BUCKETS) {
        size_t at = (size_t)snprintf(buf, len, "buckets:");
        for (int i = 0; i < SP_WHATIF_MAX_BUCKETS && p->buckets[i] && at < len; i++)
            at += (size_t)snprintf(buf + at, len - at, "%s%u", i ? "," : "", p->buckets[i]);
    } else {
        snprintf(buf, len, "longest");
    }
    return buf;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void json_policy(FILE *out, const sp_whatif_policy *p)
{
    char pad[160];
    fprintf(out, "{\"max_batch\":%u,\"max_queue_delay_ms\":%.6g,\"pad\":\"%s\",\"instances\":%u,"
                 "\"queue_capacity\":%u}",
            p->max_batch, ms(p->max_delay_ns), pad_name(p, pad, sizeof pad), p->instances, p->queue_capacity);
}

static void json_result(FILE *out, const sp_whatif_result *r, const char *kind)
{
    fprintf(out, "{\"kind\":\"%s\",\"policy\":", kind);
    json_policy(out, &r->policy);
    fprintf(out, ",\"requests\":%llu,\"completed\":%llu,\"rejected\":%llu,"
                 "\"latency_ms\":{\"p50\":%.6g,\"p95\":%.6g,\"p99\":%.6g,\"mean\":%.6g},"
                 "\"queue_ms\":{\"p50\":%.6g,\"p95\":%.6g},\"batches\":%llu,\"mean_batch\":%.4g,"
                 "\"waste_fraction\":%.4g,\"throughput_rps\":%.6g,\"utilisation\":%.4g,"
                 "\"bill\":%.6g,\"cost_per_request\":%.6g,\"meets_slo\":%s}",
            (unsigned long long)r->requests, (unsigned long long)r->completed,
            (unsigned long long)r->rejected, ms(r->latency.p50_ns), ms(r->latency.p95_ns),
            ms(r->latency.p99_ns), r->latency.mean_ns / 1e6, ms(r->queue.p50_ns), ms(r->queue.p95_ns),
            (unsigned long long)r->batches, r->mean_batch, r->waste, r->throughput_rps, r->utilisation,
            r->bill, r->cost_per_request, r->meets_slo ? "true" : "false");
}

static void text_row(FILE *out, const char *label, const sp_whatif_result *r, int slo_given, int best)
{
    fprintf(out, "%-44s %8.2f %8.2f %8.2f %7.1f %5.0f%% %6.2f %5.1f%% %5llu %9.3f  %s\n", label,
            ms(r->latency.p50_ns), ms(r->latency.p95_ns), ms(r->latency.p99_ns), r->throughput_rps,
            r->utilisation * 100.0, r->mean_batch, r->waste * 100.0, (unsigned long long)r->rejected,
            r->cost_per_request * 1e6, !slo_given ? "" : best ? "<- cheapest meeting SLO" : r->meets_slo ? "yes" : "no");
}

/* The trace's own report with the what-if rows as its what-if section: row 0 (the observed policy,
 * simulated) is the baseline. Returns 0 or 1 (message printed). */
static int write_html(const char *path, sp_events *ev, const sp_whatif_result *res, size_t n,
                      double price, int lenient)
{
    sp_analyze_options aopt;
    sp_analyze_options_init(&aopt);
    aopt.price_per_hour = price;
    aopt.lenient = lenient;
    sp_report *rep = NULL;
    char err[512] = "";
    sp_status st = sp_analyze(ev, &aopt, &rep, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: analysing for the HTML report: %s\n", err[0] ? err : sp_status_str(st));
        return 1;
    }
    sp_whatif_row *rows = calloc(n ? n : 1, sizeof *rows);
    char (*labels)[160] = calloc(n ? n : 1, sizeof *labels);
    int rc = 1;
    FILE *f = NULL;
    if (!rows || !labels) {
        fprintf(stderr, "servprof whatif: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char pb[128];
        snprintf(labels[i], sizeof labels[i], "%s%s", i == 0 ? "observed* " : "",
                 sp_whatif_policy_str(&res[i].policy, pb, sizeof pb));
        rows[i] = (sp_whatif_row){labels[i], res[i].latency.p50_ns, res[i].latency.p95_ns,
                                  res[i].latency.p99_ns, res[i].throughput_rps, res[i].cost_per_request,
                                  i == 0};
    }
    sp_html_options hopt;
    sp_html_options_init(&hopt);
    hopt.title = "servprof report with what-if results";
    hopt.whatif = rows;
    hopt.n_whatif = n;
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "servprof whatif: %s: cannot create: %s\n", path, strerror(errno));
        goto out;
    }
    st = sp_report_write_html_opts(rep, ev, &hopt, f);
    if (fclose(f) != 0 && st == SP_OK)
        st = SP_ERR_IO;
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: %s: writing the HTML report failed: %s\n", path, sp_status_str(st));
        goto out;
    }
    fprintf(stderr, "HTML report: %s\n", path);
    rc = 0;
out:
    free(rows);
    free(labels);
    sp_report_destroy(rep);
    return rc;
}

int sp_cmd_whatif(int argc, char **argv)
{
    uint32_t mb[MAX_LIST], inst[MAX_LIST];
    uint64_t delay[MAX_LIST];
    size_t n_mb = 0, n_delay = 0, n_inst = 0, n_pads = 0;
    sp_whatif_policy pads[MAX_PADS];
    sp_whatif_policy obs;
    sp_whatif_policy_init(&obs);
    int have_omb = 0, have_odelay = 0, json = 0, lenient = 0;
    uint32_t qcap = 256, max_len = 128;
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
            st = sp_whatif_parse_u32_list(optarg, 4096, mb, MAX_LIST, &n_mb, err, sizeof err);
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
            if (one_u32("--queue-capacity", optarg, 1, 1000000, &qcap))
                return 2;
            break;
        case OPT_MAXLEN:
            if (one_u32("--max-len", optarg, 1, 65536, &max_len))
                return 2;
            break;
        case OPT_OMB:
            if (one_u32("--observed-max-batch", optarg, 1, 4096, &obs.max_batch))
                return 2;
            have_omb = 1;
            break;
        case OPT_ODELAY:
            if (!sp_cli_number("whatif", "--observed-delay-ms", optarg, 0, 60000, &d))
                return 2;
            obs.max_delay_ns = (uint64_t)(d * 1e6 + 0.5);
            have_odelay = 1;
            break;
        case OPT_OPAD:
            if (sp_whatif_parse_pad(optarg, &obs, err, sizeof err) != SP_OK) {
                fprintf(stderr, "servprof whatif: --observed-pad: %s\n", err);
                return 2;
            }
            break;
        case OPT_OINST:
            if (one_u32("--observed-instances", optarg, 1, SP_WHATIF_MAX_INSTANCES, &obs.instances))
                return 2;
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
            if (!sp_cli_positive("whatif", "--price-per-hour", optarg, 1e6, &price_opt))
                return 2;
            break;
        case OPT_SLO:
            if (!sp_cli_positive("whatif", "--slo-p95-ms", optarg, 3.6e6, &slo_ms))
                return 2;
            break;
        case OPT_JSON: json = 1; break;
        case OPT_HTML: html_path = optarg; break;
        case OPT_LENIENT: lenient = 1; break;
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
    sp_whatif_workload w;
    err[0] = '\0';
    sp_status st;
    st = sp_whatif_workload_from_events(ev, lenient, &w, err, sizeof err);
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
    st = sp_whatif_fit_batches(w.batches, w.n_batches, terms, &fit);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: fitting the service time: %s\n", sp_status_str(st));
        sp_whatif_workload_clear(&w);
        sp_events_destroy(ev);
        return 1;
    }
    int price_default = 0;
    if (price_opt > 0)
        so.price_per_hour = price_opt;
    else if (w.price_per_hour > 0)
        so.price_per_hour = w.price_per_hour;
    else {
        so.price_per_hour = SP_DEFAULT_PRICE_PER_HOUR;
        price_default = 1;
    }

    /* ---- the observed policy and the grid ---- */
    obs.queue_capacity = qcap;
    obs.max_len = max_len;
    if (!have_omb)
        obs.max_batch = w.max_batch_seen;
    if (!have_odelay)
        obs.max_delay_ns = w.head_wait_p50_ns;
    if (!n_mb)
        mb[n_mb++] = obs.max_batch;
    if (!n_delay)
        delay[n_delay++] = obs.max_delay_ns;
    if (!n_pads)
        pads[n_pads++] = obs;
    if (!n_inst)
        inst[n_inst++] = obs.instances;
    size_t cap = SP_WHATIF_MAX_POLICIES;
    sp_whatif_policy *grid = malloc(cap * sizeof *grid);
    sp_whatif_result *res = malloc((cap + 1) * sizeof *res);
    int rc = 0;
    FILE *out = stdout;
    if (!grid || !res) {
        fprintf(stderr, "servprof whatif: out of memory\n");
        rc = 1;
        goto done;
    }
    size_t ng = 0;
    st = sp_whatif_grid(&obs, mb, n_mb, delay, n_delay, pads, n_pads, inst, n_inst, grid, cap, &ng);
    if (st != SP_OK) {
        fprintf(stderr, "servprof whatif: the policy grid has more than %zu policies\n", cap);
        rc = 2;
        goto done;
    }
    /* row 0: the observed policy; then the grid */
    for (size_t i = 0; i <= ng; i++) {
        const sp_whatif_policy *p = i == 0 ? &obs : &grid[i - 1];
        st = sp_whatif_simulate(&w, &fit, p, &so, &res[i]);
        if (st != SP_OK) {
            char pb[256];
            fprintf(stderr, "servprof whatif: simulating %s: %s\n", sp_whatif_policy_str(p, pb, sizeof pb),
                    sp_status_str(st));
            rc = st == SP_ERR_INVALID ? 2 : 1;
            goto done;
        }
    }
    size_t best = 0;
    int have_best = 0;
    if (slo_ms > 0)
        have_best = sp_whatif_pick_slo(res, ng + 1, (uint64_t)(slo_ms * 1e6 + 0.5), &best) == SP_OK;

    if (output_path && !(out = fopen(output_path, "w"))) {
        fprintf(stderr, "servprof whatif: %s: cannot create: %s\n", output_path, strerror(errno));
        rc = 1;
        goto done;
    }
    char pb[256];
    if (json) {
        fprintf(out, "{\"schema\":\"servprof.whatif/1\",\"requests\":%zu,\"batches\":%zu,"
                     "\"price_per_hour\":%.6g,\"price_is_default\":%s,",
                w.n_reqs, w.n_batches, so.price_per_hour, price_default ? "true" : "false");
        fprintf(out, "\"fit\":{\"a_ns\":%.6g,\"b_ns_per_request\":%.6g,\"c_ns_per_padded_token\":%.6g,"
                     "\"d_ns_per_size_len2\":%.6g,\"terms_used\":%u,\"batches\":%zu,\"r2\":%.6g,"
                     "\"mean_abs_pct_error\":%.6g,\"resample\":%s},",
                fit.coef[0], fit.coef[1], fit.coef[2], fit.coef[3], fit.used, fit.n, fit.r2, fit.mape * 100.0,
                so.resample ? "true" : "false");
        fprintf(out, "\"observed\":{\"measured_latency_ms\":{\"count\":%llu,\"p50\":%.6g,\"p95\":%.6g,"
                     "\"p99\":%.6g},\"measured_rejected\":%llu,\"measured_rejection_rate\":%.6g,"
                     "\"simulated_rejection_rate\":%.6g,\"policy\":",
                (unsigned long long)w.observed.count, ms(w.observed.p50_ns), ms(w.observed.p95_ns),
                ms(w.observed.p99_ns), (unsigned long long)w.measured_rejected,
                w.n_reqs ? (double)w.measured_rejected / (double)w.n_reqs : 0.0,
                res[0].requests ? (double)res[0].rejected / (double)res[0].requests : 0.0);
        json_policy(out, &obs);
        fprintf(out, ",\"max_batch_inferred\":%s,\"delay_inferred\":%s},",
                have_omb ? "false" : "true", have_odelay ? "false" : "true");
        fprintf(out, "\"policies\":[");
        for (size_t i = 0; i <= ng; i++) {
            if (i)
                fputc(',', out);
            json_result(out, &res[i], i == 0 ? "observed_simulated" : "candidate");
        }
        fprintf(out, "],\"slo\":");
        if (slo_ms > 0 && have_best)
            fprintf(out, "{\"p95_ms\":%.6g,\"choice\":%zu}", slo_ms, best);
        else if (slo_ms > 0)
            fprintf(out, "{\"p95_ms\":%.6g,\"choice\":null}", slo_ms);
        else
            fprintf(out, "null");
        fprintf(out, "}\n");
    } else {
        fprintf(out, "servprof whatif: %zu requests, %zu batches; price $%.2f/h%s\n", w.n_reqs, w.n_batches,
                so.price_per_hour, price_default ? " (default; set --price-per-hour)" : "");
        fprintf(out, "service time fit over %zu batches: t = %.1f us + %.2f us x size + %.1f ns x padded tokens",
                fit.n, fit.coef[0] / 1e3, fit.coef[1] / 1e3, fit.coef[2]);
        if (fit.used & 8u)
            fprintf(out, " + %.4f ns x size x len^2", fit.coef[3]);
        fprintf(out, "\n  R^2 %.3f, mean abs error %.1f%%%s\n", fit.r2, fit.mape * 100.0,
                so.resample ? "; simulated batches resample the fit's relative residuals" : "");
        fprintf(out, "observed policy: %s%s%s\n\n", sp_whatif_policy_str(&obs, pb, sizeof pb),
                have_omb ? "" : " (max-batch inferred: largest batch seen)",
                have_odelay ? "" : " (delay inferred: median wait of the oldest member of non-full batches)");
        fprintf(out, "%-44s %8s %8s %8s %7s %6s %6s %6s %5s %9s  %s\n", "policy", "p50 ms", "p95 ms", "p99 ms",
                "req/s", "util", "batch", "waste", "503s", "$/1M req", slo_ms > 0 ? "meets SLO" : "");
        if (w.observed.count)
            fprintf(out, "%-44s %8.2f %8.2f %8.2f   (%llu requests with a measured latency)\n",
                    "measured (the profile itself)", ms(w.observed.p50_ns), ms(w.observed.p95_ns),
                    ms(w.observed.p99_ns), (unsigned long long)w.observed.count);
        for (size_t i = 0; i <= ng; i++) {
            char label[300];
            snprintf(label, sizeof label, "%s%s", i == 0 ? "observed* " : "", sp_whatif_policy_str(&res[i].policy, pb, sizeof pb));
            text_row(out, label, &res[i], slo_ms > 0, have_best && best == i);
        }
        fprintf(out, "* the profiled policy, simulated: compare with the measured latency of the profile\n");
        if (w.measured_rejected || res[0].rejected)
            /* DESIGN 8a: both over the same offered load, the requests replayed */
            fprintf(out, "rejected (503): measured %.1f%% (%llu of %zu requests), simulated at the observed policy "
                         "%.1f%% (%llu; queue capacity %u)\n",
                    w.n_reqs ? 100.0 * (double)w.measured_rejected / (double)w.n_reqs : 0.0,
                    (unsigned long long)w.measured_rejected, w.n_reqs,
                    res[0].requests ? 100.0 * (double)res[0].rejected / (double)res[0].requests : 0.0,
                    (unsigned long long)res[0].rejected, res[0].policy.queue_capacity);
        if (slo_ms > 0) {
            if (have_best) {
                const sp_whatif_result *b = &res[best];
                size_t meet = 0;
                for (size_t i = 0; i <= ng; i++)
                    meet += res[i].meets_slo != 0;
                fprintf(out, "\nSLO p95 <= %.2f ms: %s, predicted p95 %.2f ms, $%.3f per 1M requests with %u "
                             "instance%s: the cheapest of the %zu polic%s that meet it with no rejections\n",
                        slo_ms, sp_whatif_policy_str(&b->policy, pb, sizeof pb), ms(b->latency.p95_ns),
                        b->cost_per_request * 1e6, b->policy.instances, b->policy.instances == 1 ? "" : "s", meet,
                        meet == 1 ? "y" : "ies");
            } else {
                size_t lo = 0;
                for (size_t i = 1; i <= ng; i++)
                    if (res[i].latency.p95_ns < res[lo].latency.p95_ns)
                        lo = i;
                fprintf(out, "\nSLO p95 <= %.2f ms: no policy meets it; the lowest predicted p95 is %.2f ms "
                             "(%s%s). Try more instances or a smaller max batch.\n",
                        slo_ms, ms(res[lo].latency.p95_ns), sp_whatif_policy_str(&res[lo].policy, pb, sizeof pb),
                        res[lo].rejected ? ", with rejections" : "");
            }
        }
    }
    if (out != stdout && fclose(out) != 0) {
        fprintf(stderr, "servprof whatif: %s: write failed\n", output_path);
        rc = 1;
    }
    if (rc == 0 && html_path && write_html(html_path, ev, res, ng + 1, price_opt, lenient) != 0)
        rc = 1;
done:
    sp_events_destroy(ev);
    free(grid);
    free(res);
    sp_whatif_fit_clear(&fit);
    sp_whatif_workload_clear(&w);
    return rc;
}

#endif /* SERVPROF_WHATIF_ENABLED */
