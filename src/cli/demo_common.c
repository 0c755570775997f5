/* What `servprof demo` (cmd_demo.c, the encoder) and `servprof demo --generate` (demo_generate.c)
 * share: the traces' folder and files, the load run against the in-process service (one Ctrl-C flag),
 * and the report of the merged server and client traces. Uses only the public API. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "demo_int.h"
#include "servprof/analyze.h"
#ifdef SERVPROF_WHATIF_ENABLED
#include "servprof/whatif.h"
#endif
#include "servprof/events.h"
#include "servprof/servprof.h"

#define DEMO_PATH_MAX SP_DEMO_PATH_MAX

int sp_demo_trace_dir(const char *keep_traces, char dir[SP_DEMO_PATH_MAX])
{
    if (keep_traces) {
        if (strlen(keep_traces) > DEMO_PATH_MAX - 64) {
            fprintf(stderr, "servprof demo: --keep-traces path too long\n");
            return 2;
        }
        snprintf(dir, DEMO_PATH_MAX, "%s", keep_traces);
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "servprof demo: cannot create %s: %s\n", dir, strerror(errno));
            return 1;
        }
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > DEMO_PATH_MAX - 64)
        tmp = "/tmp";
    snprintf(dir, DEMO_PATH_MAX, "%s/servprof-demo-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "servprof demo: cannot create a temporary folder in %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    return 0;
}

int sp_demo_report(const sp_demo_report_opts *o, const char *server_path, const char *client_path)
{
    char err[1024] = "";
    sp_events *ev = NULL;
    sp_status st = sp_events_create(&ev);
    if (st == SP_OK)
        st = sp_events_load_file(ev, server_path, NULL, err, sizeof err);
    if (st == SP_OK)
        st = sp_events_load_file(ev, client_path, NULL, err, sizeof err);
    sp_report *rep = NULL;
    if (st == SP_OK) {
        sp_analyze_options ao;
        sp_analyze_options_init(&ao);
        ao.price_per_hour = o->price_per_hour;
        ao.keep_detail = o->html != NULL; /* the HTML charts draw the analysis' detail */
        st = sp_analyze(ev, &ao, &rep, err, sizeof err);
#ifdef SERVPROF_WHATIF_ENABLED
        /* the verdict quotes the simulator's prediction for the natural change (DESIGN section 8) */
        if (st == SP_OK && (st = sp_whatif_quote_verdict(ev, rep, 0)) != SP_OK)
            snprintf(err, sizeof err, "predicting the verdict's change: %s", sp_status_str(st));
#endif
    }
    if (st != SP_OK) {
        fprintf(stderr, "servprof demo: analysing the traces failed: %s\n", err[0] ? err : sp_status_str(st));
        sp_report_destroy(rep);
        sp_events_destroy(ev);
        return 1;
    }
    int rc = 1;
    st = o->json ? sp_report_write_json(rep, stdout) : sp_report_write_text(rep, stdout);
    if (st == SP_OK && fflush(stdout) != 0)
        st = SP_ERR_IO;
    if (st != SP_OK) {
        fprintf(stderr, "servprof demo: writing the report failed: %s\n", sp_status_str(st));
    } else {
        rc = 0;
        if (!rep->has_client)
            fprintf(stderr, "servprof demo: warning: the client trace did not join the server's (no "
                            "network stage); see docs/demo.md\n");
    }
    if (rc == 0 && o->perfetto)
        rc = sp_cli_write_file("demo", o->perfetto, sp_report_write_perfetto, rep, ev,
                               "Perfetto trace (open it in https://ui.perfetto.dev): ");
    if (rc == 0 && o->html)
        rc = sp_cli_write_file("demo", o->html, sp_report_write_html, rep, ev, "HTML report: ");
    if (rc == 0 && o->keep_traces)
        fprintf(stderr, "traces kept: servprof analyze %s %s\n", server_path, client_path);
    sp_report_destroy(rep);
    sp_events_destroy(ev);
    return rc;
}

#if defined(SERVPROF_SERVE_ENABLED) && defined(SERVPROF_LOAD_ENABLED)
#include "servprof/trace.h"

/* The live run's traces: the folder (sp_demo_trace_dir), server.sptrace and client.jsonl in it, and
 * the server's recorder opened on the first with `price_per_hour`. Returns 0, or the exit status after
 * saying why on stderr (the folder is removed unless kept). */
static int open_traces(const char *cmd, const char *keep_traces, double price_per_hour, char dir[SP_DEMO_PATH_MAX],
                       char server_path[SP_DEMO_PATH_MAX + 32], char client_path[SP_DEMO_PATH_MAX + 32],
                       sp_recorder **rec)
{
    int drc = sp_demo_trace_dir(keep_traces, dir);
    if (drc)
        return drc;
    snprintf(server_path, DEMO_PATH_MAX + 32, "%s/server.sptrace", dir);
    snprintf(client_path, DEMO_PATH_MAX + 32, "%s/client.jsonl", dir);

    sp_recorder_options ro;
    sp_recorder_options_init(&ro);
    ro.price_per_hour = price_per_hour;
    *rec = NULL;
    sp_status st = sp_recorder_open(server_path, &ro, rec);
    if (st != SP_OK) {
        /* the recorder has said why through the log callback the demo installs
         * (sp_cli_log_to_stderr, before this): only a failure it did not explain is named here */
        char why[640];
        if (!*sp_recorder_last_error(why, sizeof why))
            fprintf(stderr, "servprof %s: cannot record to %s: %s\n", cmd, server_path, sp_status_str(st));
        if (!keep_traces)
            rmdir(dir);
        return 1;
    }
    return 0;
}

static void remove_traces(const char *server_path, const char *client_path, const char *dir)
{
    remove(server_path);
    remove(client_path);
    rmdir(dir);
}

static atomic_int g_demo_stop;

static void demo_on_sigint(int sig)
{
    (void)sig;
    atomic_store_explicit(&g_demo_stop, 1, memory_order_relaxed);
}

void sp_demo_progress_line(const sp_load_progress *p, double duration_s, const char *in_flight)
{
    fprintf(stderr, "\r[demo %5.1f/%.0fs] sent %" PRIu64 "  done %" PRIu64 "  errors %" PRIu64 "  %s %" PRIu64
                    "  %.0f/s   ",
            p->elapsed_s, duration_s, p->scheduled - p->waiting, p->completed, p->errors, in_flight, p->in_flight,
            p->rate_last_s);
    fflush(stderr);
}

/* Drives the service at http://127.0.0.1:<port><route>, writing the client's trace to client_path;
 * Ctrl-C ends the load early. lc->url is NULL again on return. */
static sp_status run_load(sp_load_config *lc, unsigned port, const char *route, const char *client_path,
                          int progress, sp_load_progress_fn on_progress, void *progress_user,
                          sp_load_result **res, char *err, size_t errlen)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, route);
    lc->url = url;
    lc->trace_path = client_path;
    atomic_store_explicit(&g_demo_stop, 0, memory_order_relaxed);
    lc->stop = &g_demo_stop;
    if (progress < 0)
        progress = isatty(STDERR_FILENO);
    if (progress) {
        lc->progress = on_progress;
        lc->progress_user = progress_user;
    }
    struct sigaction sa, old_int;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = demo_on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sp_status st = sp_load_run(lc, res, err, errlen);
    sigaction(SIGINT, &old_int, NULL);
    lc->url = NULL; /* url[] ends here */
    if (progress)
        fprintf(stderr, "\n");
    return st;
}

int sp_demo_run_live(const sp_demo_live *d)
{
    /* the load generator's cap, checked before the traces are made and the service starts: a usage
     * error, not a failed run */
    if (d->lc->rate * d->lc->duration_s > SP_LOAD_MAX_REQUESTS)
        return sp_cli_usage_error(d->cmd, "--rate x --duration asks for %.0f requests; a run sends at most %u",
                                  d->lc->rate * d->lc->duration_s, SP_LOAD_MAX_REQUESTS);
    /* and the outputs, before the run rather than after it: none replaces a trace */
    if ((d->report->perfetto && sp_cli_refuse_trace_output(d->cmd, d->report->perfetto)) ||
        (d->report->html && sp_cli_refuse_trace_output(d->cmd, d->report->html)))
        return 1;
    char dir[DEMO_PATH_MAX];
    char server_path[DEMO_PATH_MAX + 32], client_path[DEMO_PATH_MAX + 32];
    sp_recorder *rec = NULL;
    const sp_demo_report_opts *ro = d->report;
    int drc = open_traces(d->cmd, ro->keep_traces, ro->price_per_hour, dir, server_path, client_path, &rec);
    if (drc)
        return drc;
    sp_status st;
    d->so->recorder = rec;
    char err[1024] = "";
    sp_server *srv = NULL;
    st = sp_server_start(d->so, &srv, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "servprof %s: the service did not start: %s\n", d->cmd, err[0] ? err : sp_status_str(st));
        sp_recorder_close(rec);
        if (!ro->keep_traces)
            remove_traces(server_path, client_path, dir);
        return 1;
    }
    d->print_header(d->hdr, d->so, d->lc, srv, dir, d->user);

    sp_load_result *res = NULL;
    st = run_load(d->lc, sp_server_port(srv), d->route, client_path, d->progress, d->on_progress, d->user, &res, err,
                  sizeof err);
    /* stop the service before closing the recorder: every admitted request is answered and recorded */
    sp_server_stop(srv);
    sp_server_stats ss;
    sp_server_get_stats(srv, &ss);
    sp_server_destroy(srv);
    sp_status cst = sp_recorder_close(rec);
    int rc = 1;
    if (st != SP_OK) {
        fprintf(stderr, "servprof %s: the load run failed: %s\n", d->cmd, err[0] ? err : sp_status_str(st));
    } else if (cst != SP_OK) {
        char why[640];
        fprintf(stderr, "servprof %s: %s\n", d->cmd,
                *sp_recorder_last_error(why, sizeof why) ? why : sp_status_str(cst));
    } else {
        d->print_outcome(d->hdr, res, &ss, d->user);
        if (res->ok == 0)
            fprintf(stderr, "servprof %s: no request succeeded; nothing to analyse\n", d->cmd);
        else
            rc = sp_demo_report(ro, server_path, client_path);
    }
    sp_load_result_destroy(res);
    if (!ro->keep_traces)
        remove_traces(server_path, client_path, dir);
    return rc;
}
#endif
