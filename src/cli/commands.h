/* Subcommands of the servprof CLI. Each takes the arguments after its name (argv[0] is the
 * subcommand's name) and returns the process exit status: 0 success, 1 failure, 2 usage error (and
 * for diff, 3: a --fail-if condition holds).
 * Parts that may be compiled out (serve, load, whatif) guard their file with
 * SERVPROF_SERVE_ENABLED / SERVPROF_LOAD_ENABLED / SERVPROF_WHATIF_ENABLED, which CMake defines for
 * the CLI when the part's library target exists. */
#ifndef SERVPROF_CLI_COMMANDS_H
#define SERVPROF_CLI_COMMANDS_H

#include <stdint.h>
#include <stdio.h>

#include "cli_opts.h"
#include "servprof/analyze.h"
#include "servprof/report.h"
#include "servprof/synth.h"

int sp_cmd_analyze(int argc, char **argv);   /* src/cli/cmd_analyze.c */
int sp_cmd_synth(int argc, char **argv);     /* src/cli/cmd_synth.c: sample trace generator */
int sp_cmd_serve(int argc, char **argv);     /* src/cli/cmd_serve.c (SERVPROF_SERVE_ENABLED) */
int sp_cmd_load(int argc, char **argv);      /* src/cli/cmd_load.c (SERVPROF_LOAD_ENABLED) */
int sp_cmd_demo(int argc, char **argv);      /* src/cli/cmd_demo.c */
int sp_cmd_whatif(int argc, char **argv);    /* src/cli/cmd_whatif.c (SERVPROF_WHATIF_ENABLED) */
int sp_cmd_diff(int argc, char **argv);      /* src/cli/cmd_diff.c: compare two runs, gate CI; exits 3
                                                when a --fail-if condition holds */
int sp_cmd_export(int argc, char **argv);    /* src/cli/cmd_export.c: OTLP/JSON for OpenTelemetry */

/* What `servprof analyze --prometheus` was asked for. */
typedef struct sp_cli_fleet_args {
    const char *url, *range, *selector, *output_path;
    double price_per_hour;
    int json, strict;
    double timeout_s; /* per answer; 0: the library's default */
} sp_cli_fleet_args;

/* The fleet report from Prometheus (src/cli/analyze_fleet.c): prints it or why not; returns the exit
 * status (2 for a bad --range or --selector). */
int sp_cli_analyze_fleet(const sp_cli_fleet_args *f);

/* Writes the trace `o` describes (sp_synth_write) to `path`, or standard output when NULL. On failure
 * prints "servprof CMD: ..." (the file that could not be created or written, an option the library
 * refused) and returns 1; else 0. `servprof synth` and `servprof demo`'s fallback share it. */
int sp_cli_synth_write(const char *cmd, const sp_synth_options *o, const char *path);

/* A report writer that needs the events too (Perfetto, HTML). */
typedef sp_status (*sp_cli_report_writer)(const sp_report *r, const sp_events *ev, FILE *out);

/* 1 (after printing "servprof CMD: PATH: a servprof trace: not overwritten ...") when `path` is an
 * existing regular file that begins as a trace servprof writes (native, servprof.events/1 JSONL, or
 * gzip'd): a report, Perfetto or HTML output never replaces one. The usual cause is an option whose
 * file name was left out, so that the trace after it became the name (`--perfetto server.sptrace
 * client.jsonl`). 0 otherwise (no such file, or another kind of file). */
int sp_cli_refuse_trace_output(const char *cmd, const char *path);

/* Creates `path` (its callers, analyze and the live demos, refuse a trace's path with
 * sp_cli_refuse_trace_output before they run), runs `fn` into it and closes it. On
 * failure prints "servprof CMD: PATH: ..." and returns 1; on success prints `done_note` (when not
 * NULL) followed by the path on stderr and returns 0. */
int sp_cli_write_file(const char *cmd, const char *path, sp_cli_report_writer fn, const sp_report *r,
                      const sp_events *ev, const char *done_note);

/* Standard input as a TRACE argument: `-` names it on the command line, SP_CLI_STDIN_NAME in
 * messages. It is read into memory first (the format and gzip are then detected as for a file), at
 * most SP_CLI_STDIN_MAX bytes as they arrive (compressed bytes for a gzip'd stream). */
#define SP_CLI_STDIN_NAME "<stdin>"
#define SP_CLI_STDIN_MAX ((size_t)1 << 30)
#define SP_CLI_STDIN_FIRST_BUFFER ((size_t)1 << 20) /* grown by doubling up to SP_CLI_STDIN_MAX */

/* The name a TRACE argument has in messages: SP_CLI_STDIN_NAME for `-`, else the path. */
const char *sp_cli_trace_name(const char *arg);

/* Reads standard input whole into *out (malloc'd; the caller frees it) and *len: at most
 * SP_CLI_STDIN_MAX bytes (SP_ERR_LIMIT beyond, with a message asking for a file), SP_ERR_IO,
 * SP_ERR_NOMEM. */
sp_status sp_cli_read_stdin(unsigned char **out, size_t *len, char *err, size_t errlen);

/* Loads one TRACE argument into `ev`: a path (sp_events_load_file) or `-` (standard input, read
 * whole, then sp_events_load_buffer). Statuses and messages as sp_events_load_file's; SP_ERR_LIMIT
 * when standard input holds more than SP_CLI_STDIN_MAX bytes. */
sp_status sp_cli_load_trace(sp_events *ev, const char *arg, const sp_load_options *opt, char *err, size_t errlen);
/* After a failed sp_cli_load_trace: when the error was a malformed record that --lenient would have
 * skipped (sp_events_load_skippable), prints "servprof CMD: --lenient skips such records ..." to
 * standard error; otherwise nothing. */
void sp_cli_lenient_hint(const char *cmd, const sp_events *ev);
/* The same line when `skippable` is non-zero (sp_diff_run_load_ex's flag, for diff). */
void sp_cli_lenient_hint_if(const char *cmd, int skippable);

/* Usage checks common to the commands that read TRACE arguments: at least one, `-` at most
 * once (standard input can be read once), no file twice (sp_cli_check_same_file). Prints the usage
 * error and returns 2, else 0. */
int sp_cli_check_traces(const char *cmd, int n, char *const *args);
/* Usage error (exit status 2, printed) when two of args[0..n) name one file (same device and inode):
 * its requests would count twice; else 0. `-` and files that cannot be stat'ed are not compared. */
int sp_cli_check_same_file(const char *cmd, int n, char *const *args);
/* Installs a log hook (sp_set_log) that prints the library's warnings and errors on stderr as
 * "servprof CMD: MESSAGE": a damaged trace, records lost, a recorder that could not write. At most
 * SP_CLI_MAX_LOG_LINES lines, then one saying that further ones are not shown. `cmd` is borrowed for
 * the life of the process (a string literal). Every command that loads traces calls it first. */
#define SP_CLI_MAX_LOG_LINES 20
void sp_cli_log_to_stderr(const char *cmd);

/* The one progress line on standard error (`load`'s once a second, `analyze`'s while reading a
 * trace): "\r" and the text, padded with blanks over what the previous line left, flushed. */
void sp_cli_progress_line(const char *fmt, ...) SP_CLI_PRINTF(1, 2);
/* Ends the progress line with a newline, when one is showing. */
void sp_cli_progress_end(void);

/* When a trace's read is shown: SP_CLI_READ_PROGRESS_ALL for every file (--progress), or only files
 * larger than SP_CLI_READ_PROGRESS_MIN_BYTES (standard error is a terminal, no --progress). */
enum { SP_CLI_READ_PROGRESS_ALL = 1, SP_CLI_READ_PROGRESS_LARGE = 2 };
#define SP_CLI_READ_PROGRESS_MIN_BYTES ((uint64_t)100000000u)
/* An sp_read_progress_fn (sp_load_options.progress) printing, with sp_cli_progress_line,
 * "[ELAPSED] reading NAME: READ of TOTAL (PCT%), RATE MB/s, ETA left", and on the last call the
 * bytes, time and rate of the whole read, then a newline. `user` points to an int holding one of
 * SP_CLI_READ_PROGRESS_*. */
void sp_cli_read_progress(void *user, const sp_read_progress *p);
/* Analysis steps are shown under --progress, and on a terminal for sets of this many events or more
 * (requests, stage spans, batches, kernels and copies): about a second of analysis. */
#define SP_CLI_ANALYZE_PROGRESS_MIN_EVENTS ((size_t)2000000u)
/* An sp_analyze_progress_fn (sp_analyze_options.progress) printing "[ELAPSED] analysing: STEP (I/N)"
 * with sp_cli_progress_line, and at the end "[ELAPSED] analysed: N steps in T s" and a newline. */
void sp_cli_analyze_progress(void *user, const sp_analyze_progress *p);

/* Room for the one-line list of what a trace lost (sp_events_describe_loss, sp_report_describe_loss,
 * which cut a longer list with "..."). */
#define SP_CLI_LOSS_LINE_MAX 4096

/* --strict: when `lost` (from sp_report_describe_loss or sp_events_describe_loss) names anything, prints
 * "servprof CMD: --strict: data lost: ..." and returns 1; else returns 0. */
int sp_cli_strict(const char *cmd, size_t n_lost, const char *lost);
/* sp_cli_strict on a report. */
int sp_cli_strict_report(const char *cmd, const sp_report *r);

#endif
