/* What `servprof demo` (cmd_demo.c, the encoder) and `servprof demo --generate` (demo_generate.c)
 * share, defined in demo_common.c: the traces' folder and the report of the merged server and client
 * traces. */
#ifndef SERVPROF_CLI_DEMO_INT_H
#define SERVPROF_CLI_DEMO_INT_H

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

/* `servprof demo --generate` (demo_generate.c): argv as sp_cmd_demo got it. */
int sp_cmd_demo_generate(int argc, char **argv);

#endif
