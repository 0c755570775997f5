/* What `servprof demo` (cmd_demo.c, the encoder) and `servprof demo --generate` (demo_generate.c)
 * share, defined in demo_common.c: the traces' folder and files, the load run against the in-process
 * service, and the report of the merged server and client traces. */
#ifndef SERVPROF_CLI_DEMO_INT_H
#define SERVPROF_CLI_DEMO_INT_H

#include <stddef.h>

#include "servprof/load.h"
#include "servprof/servprof.h"

#define SP_DEMO_PATH_MAX 4096

/* How the report of a demo run is written. Strings are borrowed. */
typedef struct sp_demo_report_opts {
    double price_per_hour;    /* 0: the report's default */
    int json;                 /* the JSON report instead of the text one */
    const char *perfetto;     /* also write a Perfetto trace there (NULL: none) */
    const char *html;         /* also write the HTML report there (NULL: none) */
    const char *keep_traces;  /* the traces are kept (the closing line says how to re-analyse them) */
} sp_demo_report_opts;

/* The folder the traces go to: `keep_traces` (created if missing), else a new temporary folder under
 * $TMPDIR (or /tmp). Returns 0, or the exit status after printing why. */
int sp_demo_trace_dir(const char *keep_traces, char dir[SP_DEMO_PATH_MAX]);

/* Loads the server's and the client's trace into one event set, analyses them (the verdict's what-if
 * quote where the build has the simulator) and writes the report to standard output (and the
 * Perfetto and HTML files). Returns the exit status (0, or 1 after saying why on stderr). */
int sp_demo_report(const sp_demo_report_opts *o, const char *server_path, const char *client_path);

#if defined(SERVPROF_SERVE_ENABLED) && defined(SERVPROF_LOAD_ENABLED)
#include <stdio.h>

#include "servprof/serve.h"

/* The progress line of a live demo, redrawn on stderr: elapsed of `duration_s`, requests sent, done,
 * failed, and those in flight, called `in_flight` ("in flight", "streaming"), and the last second's rate. */
void sp_demo_progress_line(const sp_load_progress *p, double duration_s, const char *in_flight);

/* One live demo run: what differs between the encoder demo and the generation demo. Borrowed. */
typedef struct sp_demo_live {
    const char *cmd;                 /* "demo" or "demo --generate", in "servprof <cmd>: ..." messages */
    sp_server_options *so;           /* the service (its recorder is set here) */
    sp_load_config *lc;              /* the load (its url and trace path are set here, then cleared) */
    const char *route;               /* "/v1/embeddings", ... */
    int progress;                    /* 1 on, 0 off, < 0 when stderr is a terminal */
    sp_load_progress_fn on_progress; /* draws the progress line, with `user` */
    const sp_demo_report_opts *report;
    FILE *hdr;                       /* where the run's header and outcome go (stderr under --json) */
    /* what is run, once the service is up */
    void (*print_header)(FILE *hdr, const sp_server_options *so, const sp_load_config *lc, const sp_server *srv,
                         const char *dir, void *user);
    /* what happened: the load's and the service's counts, after a run that succeeded */
    void (*print_outcome)(FILE *hdr, const sp_load_result *res, const sp_server_stats *ss, void *user);
    void *user;
} sp_demo_live;

/* Runs the in-process service with a recorder on a trace folder (sp_demo_trace_dir; server.sptrace),
 * drives it with the load generator (client.jsonl; Ctrl-C ends the load early, the report covers what
 * ran), stops it, and writes the report of both traces (sp_demo_report). The folder is removed unless
 * kept. Returns the exit status, after saying why on stderr when it is not 0. */
int sp_demo_run_live(const sp_demo_live *d);
#endif

/* `servprof demo --generate` (demo_generate.c): argv as sp_cmd_demo got it. */
int sp_cmd_demo_generate(int argc, char **argv);

#endif
