/* Helpers shared by the CLI's subcommands. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

int sp_cli_write_file(const char *cmd, const char *path, sp_cli_report_writer fn, const sp_report *r,
                      const sp_events *ev, const char *done_note)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "servprof %s: %s: cannot create: %s\n", cmd, path, strerror(errno));
        return 1;
    }
    sp_status st = fn(r, ev, f);
    if (fclose(f) != 0 && st == SP_OK)
        st = SP_ERR_IO;
    if (st != SP_OK) {
        fprintf(stderr, "servprof %s: writing %s: %s\n", cmd, path, sp_status_str(st));
        return 1;
    }
    if (done_note)
        fprintf(stderr, "%s%s\n", done_note, path);
    return 0;
}

/* relaxed: the count only caps the lines; fprintf locks stderr, so lines from two threads never mix */
static atomic_uint log_lines;

static void log_to_stderr(void *user, sp_log_level level, const char *message)
{
    if (level < SP_LOG_WARN)
        return;
    unsigned n = atomic_fetch_add_explicit(&log_lines, 1, memory_order_relaxed);
    if (n < SP_CLI_MAX_LOG_LINES)
        fprintf(stderr, "servprof %s: %s\n", (const char *)user, message);
    else if (n == SP_CLI_MAX_LOG_LINES)
        fprintf(stderr, "servprof %s: (further warnings are not shown)\n", (const char *)user);
}

void sp_cli_log_to_stderr(const char *cmd)
{
    sp_set_log(log_to_stderr, (void *)cmd);
}

int sp_cli_strict(const char *cmd, size_t n_lost, const char *lost)
{
    if (!n_lost)
        return 0;
    fprintf(stderr, "servprof %s: --strict: data lost: %s\n", cmd, lost);
    return 1;
}

int sp_cli_strict_report(const char *cmd, const sp_report *r)
{
    char lost[4096];
    size_t n = sp_report_describe_loss(r, lost, sizeof lost);
    return sp_cli_strict(cmd, n, lost);
}
