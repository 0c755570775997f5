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
#include "servprof/trace.h"

/* The live run's traces: the folder (sp_demo_trace_dir), server.sptrace and client.jsonl in it, and
 * the server's recorder opened on the first with `price_per_hour`. Returns 0, or the exit status after
 * saying why on stderr ("servprof <cmd>: ..."; the folder is removed unless kept). */
int sp_demo_open_traces(const char *cmd, const char *keep_traces, double price_per_hour, char dir[SP_DEMO_PATH_MAX],
                        char server_path[SP_DEMO_PATH_MAX + 32], char client_path[SP_DEMO_PATH_MAX + 32],
                        sp_recorder **rec);

/* Removes the two traces and their folder. */
void sp_demo_remove_traces(const char *server_path, const char *client_path, const char *dir);

/* Drives the service at http://127.0.0.1:<port><route> with the load generator, writing the client's
 * trace to client_path; Ctrl-C ends the load early (the report covers what ran). `progress`: 1 on,
 * 0 off, < 0 when stderr is a terminal; on_progress(progress_user, ...) then draws the line. lc->url is
 * NULL again on return. */
sp_status sp_demo_run_load(sp_load_config *lc, unsigned port, const char *route, const char *client_path,
                           int progress, sp_load_progress_fn on_progress, void *progress_user,
                           sp_load_result **res, char *err, size_t errlen);
#endif

/* `servprof demo --generate` (demo_generate.c): argv as sp_cmd_demo got it. */
int sp_cmd_demo_generate(int argc, char **argv);

#endif
