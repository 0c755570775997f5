/* One side of a comparison (sp_diff_run): its figures copied from an analysis, with the per-request
 * rows the analysis kept; and sp_diff_run_load, which tells traces from a servprof.report/1 document
 * (read by report_read.c) and reads a side from files or bytes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util_int.h"
#include "diff/diff_int.h"
#ifdef SERVPROF_WHATIF_ENABLED
#include "servprof/whatif.h"
#endif

/* ---- from an analysis ---- */

/* The per-request rows of r's detail, copied, when it kept them for every request and stage. */
static sp_status copy_rows(sp_diff_run *run, const sp_report *r)
{
    const sp_report_detail *d = r->detail;
    if (!d || !d->requests.n || d->requests.n != r->request_count || d->n_latency != d->requests.n ||
        d->requests.n_stages != r->n_stages || !d->latency_ns || !d->requests.stage_ns || !d->requests.padding_ns ||
        !d->requests.by_arrival)
        return SP_OK; /* no rows: point estimates only */
    size_t n = d->requests.n, ns = r->n_stages;
    run->life_ns = malloc(n * sizeof *run->life_ns);
    run->stage_ns = malloc((ns ? n * ns : 1) * sizeof *run->stage_ns);
    run->padding_ns = malloc(n * sizeof *run->padding_ns);
    run->by_arrival = malloc(n * sizeof *run->by_arrival);
    if (!run->life_ns || !run->stage_ns || !run->padding_ns || !run->by_arrival)
        return SP_ERR_NOMEM;
    memcpy(run->life_ns, d->latency_ns, n * sizeof *run->life_ns);
    memcpy(run->stage_ns, d->requests.stage_ns, n * ns * sizeof *run->stage_ns);
    memcpy(run->padding_ns, d->requests.padding_ns, n * sizeof *run->padding_ns);
    memcpy(run->by_arrival, d->requests.by_arrival, n * sizeof *run->by_arrival);
    run->n_rows = n;
    return SP_OK;
}

sp_status sp_diff_run_from_report(const sp_report *r, const char *label, sp_diff_run **out)
{
    if (!r || !out)
        return SP_ERR_INVALID;
    sp_diff_run *run = sp_diff_run_new();
    if (!run)
        return SP_ERR_NOMEM;
    int failed = 0;
    int have = r->request_count > 0; /* the report's figures mean something only with requests */
    run->label = sp_diff_strdup(label ? label : "report", &failed);
    run->source = SP_DIFF_FROM_TRACES;
    run->files = r->n_files;
    run->requests = r->request_count;
    run->requests_total = r->requests_total;
    run->clients_unjoined = r->client_records_unjoined;
    run->lat_ns[0] = r->latency.p50_ns;
    run->lat_ns[1] = r->latency.p95_ns;
    run->lat_ns[2] = r->latency.p99_ns;
    run->stages = calloc(r->n_stages ? r->n_stages : 1, sizeof *run->stages);
    if (!run->stages)
        failed = 1;
    for (size_t s = 0; !failed && s < r->n_stages; s++) {
        const sp_stage_row *row = &r->stages[s];
        sp_diff_stage_fig *f = &run->stages[s];
        f->name = sp_diff_strdup(row->name ? row->name : "", &failed);
        f->p50_ns = row->q.p50_ns;
        f->p95_ns = row->q.p95_ns;
        f->p99_ns = row->q.p99_ns;
        f->pct_unknown = r->source != NULL; /* estimated from counters: no stage percentiles */
        f->share_p95 = row->share_p95;
        run->n_stages = s + 1;
    }
    /* null where the JSON report writes null (docs/report-format.md), so a run reads the same from
     * an analysis as from its report */
    if (r->padding.batches > 0) {
        run->waste_fraction = r->padding.waste_fraction;
        run->padding_share_of_bill = r->padding.share_of_bill;
        if (have)
            run->padding_share_p95 = r->padding.share_p95;
    }
    if (have && r->cost.window_ns > 0) {
        run->per_request = r->cost.per_request;
        for (int s = 0; s < SP_COST_STATE_COUNT; s++)
            run->per_request_by_state[s] = r->cost.by_state[s] / (double)r->request_count;
    }
    run->price_per_hour = r->cost.price_per_hour;
    run->price_is_default = r->cost.price_is_default;
    run->with_client = r->requests_with_client;
    run->generation = r->generation != NULL;
    run->verdict_stage = sp_diff_strdup(r->verdict.stage, &failed);
    run->verdict_group = sp_diff_strdup(sp_verdict_group_str(r->verdict.group), &failed);
    run->verdict_share_p95 = r->verdict.stage && have ? r->verdict.share_p95 : NAN;
    run->verdict_sentence = sp_diff_strdup(r->verdict.sentence, &failed);
    if (failed || copy_rows(run, r) != SP_OK) {
        sp_diff_run_destroy(run);
        return SP_ERR_NOMEM;
    }
    *out = run;
    return SP_OK;
}

/* ---- from inputs ---- */

/* The first bytes of a file (gzip'd or plain: zlib reads both), for sp_diff_sniff. A file that
 * cannot be opened gives 0 bytes: the trace loader then says why, in its own words. */
#define SNIFF_BYTES 4096
static size_t file_prefix(const char *path, unsigned char *buf, size_t cap)
{
    gzFile g = gzopen(path, "rb");
    if (!g)
        return 0;
    int n = gzread(g, buf, (unsigned)cap);
    gzclose(g);
    return n > 0 ? (size_t)n : 0;
}

/* A whole report file, gzip'd or plain, into *out (malloc'd), at most SP_DIFF_MAX_REPORT_BYTES. */
static sp_status read_report_file(const char *path, unsigned char **out, size_t *len, char *err, size_t errlen)
{
    gzFile g = gzopen(path, "rb");
    if (!g) {
        sp_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno ? errno : EIO));
        return SP_ERR_IO;
    }
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    sp_status st = buf ? SP_OK : SP_ERR_NOMEM;
    while (!st) {
        if (n == cap) {
            if (cap > SP_DIFF_MAX_REPORT_BYTES) {
                sp_errf(err, errlen, "%s: a report over %zu MiB: not a servprof.report/1 report servprof diff reads",
                        path, SP_DIFF_MAX_REPORT_BYTES >> 20);
                st = SP_ERR_LIMIT;
                break;
            }
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                st = SP_ERR_NOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
        int r = gzread(g, buf + n, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(g, &zerr);
            sp_errf(err, errlen, "%s: read failed: %s", path, zerr == Z_ERRNO ? strerror(errno) : msg);
            st = SP_ERR_IO;
        } else if (r == 0) {
            break;
        } else {
            n += (size_t)r;
        }
    }
    gzclose(g);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    *len = n;
    return SP_OK;
}

/* "a.jsonl" or "a.jsonl + b.jsonl + ...". */
static char *join_names(const sp_diff_input *in, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(in[i].name ? in[i].name : "?") + 3;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? " + " : "", in[i].name ? in[i].name : "?");
    *p = '\0';
    return s;
}

/* What input i is: its first bytes against sp_diff_sniff. */
static sp_diff_doc input_kind(const sp_diff_input *in, char *schema, size_t schema_len)
{
    if (in->path) {
        unsigned char buf[SNIFF_BYTES];
        size_t n = file_prefix(in->path, buf, sizeof buf);
        return sp_diff_sniff(buf, n, schema, schema_len);
    }
    return sp_diff_sniff(in->data, in->len, schema, schema_len);
}

static sp_status load_report(const sp_diff_input *in, sp_diff_run **out, char *err, size_t errlen)
{
    if (!in->path)
        return sp_diff_run_read_report(in->name, in->data, in->len, out, err, errlen);
    unsigned char *data;
    size_t len;
    sp_status st = read_report_file(in->path, &data, &len, err, errlen);
    if (st)
        return st;
    st = sp_diff_run_read_report(in->name ? in->name : in->path, data, len, out, err, errlen);
    free(data);
    return st;
}

/* Loads and analyses the traces of one side, and quotes the verdict's what-if prediction where
 * `servprof analyze` quotes it (DESIGN section 8, docs/whatif.md "The verdict's prediction"), so the
 * side's sentence is analyze's, byte for byte, for the same traces and options. */
static sp_status load_traces(const sp_diff_input *in, size_t n, const sp_load_options *lopt,
                             const sp_analyze_options *aopt, sp_diff_run **out, int *skippable, char *err,
                             size_t errlen)
{
    sp_events *ev;
    sp_status st = sp_events_create(&ev);
    if (st)
        return st;
    for (size_t i = 0; !st && i < n; i++)
        st = in[i].path ? sp_events_load_file(ev, in[i].path, lopt, err, errlen)
                        : sp_events_load_buffer(ev, in[i].name, in[i].data, in[i].len, lopt, err, errlen);
    if (st && skippable)
        *skippable = sp_events_load_skippable(ev);
    sp_report *r = NULL;
    if (!st) {
        sp_analyze_options o;
        if (aopt)
            o = *aopt;
        else
            sp_analyze_options_init(&o);
        o.keep_requests = 1; /* the rows the bootstrap resamples */
#ifdef SERVPROF_WHATIF_ENABLED
        /* release_events stays for a trace the quote does not replay */
        if (o.release_events && sp_whatif_quote_reads_events(ev))
            o.release_events = 0;
#endif
        st = sp_analyze(ev, &o, &r, err, errlen);
#ifdef SERVPROF_WHATIF_ENABLED
        if (!st && (st = sp_whatif_quote_verdict(ev, r, o.lenient)) != SP_OK)
            sp_errf(err, errlen, "predicting the verdict's change: %s", sp_status_str(st));
#endif
    }
    if (!st) {
        char *label = join_names(in, n);
        st = label ? sp_diff_run_from_report(r, label, out) : SP_ERR_NOMEM;
        free(label);
        if (st == SP_ERR_NOMEM)
            sp_errf(err, errlen, "out of memory");
    }
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return st;
}

sp_status sp_diff_run_load(const sp_diff_input *in, size_t n, const sp_load_options *lopt,
                           const sp_analyze_options *aopt, sp_diff_run **out, char *err, size_t errlen)
{
    return sp_diff_run_load_ex(in, n, lopt, aopt, out, NULL, err, errlen);
}

sp_status sp_diff_run_load_ex(const sp_diff_input *in, size_t n, const sp_load_options *lopt,
                              const sp_analyze_options *aopt, sp_diff_run **out, int *skippable, char *err,
                              size_t errlen)
{
    if (skippable)
        *skippable = 0;
    if (err && errlen)
        err[0] = '\0';
    if (!in || !n || !out) {
        sp_errf(err, errlen, "sp_diff_run_load: no input");
        return SP_ERR_INVALID;
    }
    size_t report_at = n;
    for (size_t i = 0; i < n; i++) {
        if (!in[i].path && !in[i].data && in[i].len) {
            sp_errf(err, errlen, "sp_diff_run_load: input %zu has neither a path nor data", i);
            return SP_ERR_INVALID;
        }
        char schema[64];
        const char *name = in[i].name ? in[i].name : in[i].path ? in[i].path : "?";
        switch (input_kind(&in[i], schema, sizeof schema)) {
        case SP_DIFF_DOC_REPORT:
            report_at = i;
            break;
        case SP_DIFF_DOC_FOREIGN:
            sp_errf(err, errlen, "%s: a %s document; servprof diff reads traces and servprof.report/1 reports", name,
                    schema);
            return SP_ERR_FORMAT;
        default:
            break;
        }
    }
    if (report_at < n && n > 1) {
        const char *name = in[report_at].name ? in[report_at].name : in[report_at].path;
        sp_errf(err, errlen, "%s is a servprof.report/1 report: a report must be the only input of its side "
                             "(several files are compared as traces)", name);
        return SP_ERR_INVALID;
    }
    if (report_at < n)
        return load_report(&in[report_at], out, err, errlen);
    return load_traces(in, n, lopt, aopt, out, skippable, err, errlen);
}
