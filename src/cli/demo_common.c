/* What `servprof demo` (cmd_demo.c, the encoder) and `servprof demo --generate` (demo_generate.c)
 * share: the traces' folder, and the report of the merged server and client traces. Uses only the
 * public API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
