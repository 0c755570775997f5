/* Helpers shared by the CLI's subcommands: writing a report file, reading TRACE arguments
 * (standard input included). */
#include <errno.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_opts.h"
#include "commands.h"

int sp_cli_refuse_trace_output(const char *cmd, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0; /* the create that follows says why it cannot be written */
    unsigned char head[64];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    size_t i = 0;
    while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
        i++;
    int trace = (n >= 8 && memcmp(head, "SPTRACE1", 8) == 0) ||         /* native */
                (n >= 2 && head[0] == 0x1f && head[1] == 0x8b) ||       /* gzip */
                (n - i >= 5 && memcmp(head + i, "{\"ev\"", 5) == 0); /* servprof.events/1 */
    if (!trace)
        return 0;
    fprintf(stderr,
            "servprof %s: %s: a servprof trace: not overwritten with the output (did the option before "
            "it miss its file name?)\n",
            cmd, path);
    return 1;
}

int sp_cli_write_file(const char *cmd, const char *path, sp_cli_report_writer fn, const sp_report *r,
                      const sp_events *ev, const char *done_note)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "servprof %s: %s: cannot create: %s\n", cmd, path, strerror(errno));
        return 1;
    }
    sp_status st = fn(r, ev, f);
    int e = errno; /* the writers leave the reason of a failed write here */
    if (fclose(f) != 0 && st == SP_OK) {
        st = SP_ERR_IO;
        e = errno;
    }
    if (st != SP_OK) {
        fprintf(stderr, "servprof %s: writing %s: %s\n", cmd, path, st == SP_ERR_IO ? strerror(e) : sp_status_str(st));
        return 1;
    }
    if (done_note)
        fprintf(stderr, "%s%s\n", done_note, path);
    return 0;
}

const char *sp_cli_trace_name(const char *arg)
{
    return strcmp(arg, "-") == 0 ? SP_CLI_STDIN_NAME : arg;
}

sp_status sp_cli_read_stdin(unsigned char **out, size_t *len, char *err, size_t errlen)
{
    struct stat sb;
    size_t cap = SP_CLI_STDIN_FIRST_BUFFER, n = 0;
    /* a redirected file says its size: one allocation instead of doublings */
    if (fstat(STDIN_FILENO, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uint64_t)sb.st_size < SP_CLI_STDIN_MAX)
        cap = (size_t)sb.st_size + 1;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return SP_ERR_NOMEM;
    for (;;) {
        if (n == cap) {
            if (cap > SP_CLI_STDIN_MAX) {
                free(buf);
                snprintf(err, errlen, "%s: more than %zu MiB; save the trace to a file and give its path",
                         SP_CLI_STDIN_NAME, SP_CLI_STDIN_MAX >> 20);
                return SP_ERR_LIMIT;
            }
            size_t ncap = cap * 2 > SP_CLI_STDIN_MAX + 1 ? SP_CLI_STDIN_MAX + 1 : cap * 2;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                return SP_ERR_NOMEM;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(STDIN_FILENO, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: read failed: %s", SP_CLI_STDIN_NAME, strerror(errno));
            free(buf);
            return SP_ERR_IO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *out = buf;
    *len = n;
    return SP_OK;
}

sp_status sp_cli_load_trace(sp_events *ev, const char *arg, const sp_load_options *opt, char *err, size_t errlen)
{
    if (strcmp(arg, "-") != 0)
        return sp_events_load_file(ev, arg, opt, err, errlen);
    unsigned char *data = NULL;
    size_t len = 0;
    sp_status st = sp_cli_read_stdin(&data, &len, err, errlen);
    if (st != SP_OK)
        return st;
    st = sp_events_load_buffer(ev, SP_CLI_STDIN_NAME, data, len, opt, err, errlen);
    free(data);
    return st;
}

void sp_cli_lenient_hint_if(const char *cmd, int skippable)
{
    if (skippable)
        fprintf(stderr, "servprof %s: --lenient skips such records and counts them in the report's data quality\n",
                cmd);
}

void sp_cli_lenient_hint(const char *cmd, const sp_events *ev)
{
    sp_cli_lenient_hint_if(cmd, sp_events_load_skippable(ev));
}

int sp_cli_check_same_file(const char *cmd, int n, char *const *args)
{
    /* several files are replicas analysed together (ids kept apart per file), so one file given twice,
     * under one name or two (a link, ./a and a), would count each of its requests twice; a file that
     * cannot be stat'ed is left to the reader, which names it */
    if (n < 2)
        return 0;
    struct stat *st = calloc((size_t)n, sizeof *st);
    char *known = calloc((size_t)n, 1);
    if (!st || !known) {
        free(st);
        free(known);
        return 0; /* out of memory: the readers report it */
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        known[i] = strcmp(args[i], "-") != 0 && stat(args[i], &st[i]) == 0;
        for (int j = 0; j < i && known[i] && !rc; j++)
            if (known[j] && st[i].st_dev == st[j].st_dev && st[i].st_ino == st[j].st_ino)
                rc = sp_cli_usage_error(cmd, "'%s' and '%s' are the same file: its requests would count twice",
                                        args[j], args[i]);
    }
    free(st);
    free(known);
    return rc;
}

int sp_cli_check_traces(const char *cmd, int n, char *const *args)
{
    if (n <= 0)
        return sp_cli_usage_error(cmd, "no trace given");
    int stdin_args = 0;
    for (int i = 0; i < n; i++)
        stdin_args += strcmp(args[i], "-") == 0;
    if (stdin_args > 1)
        return sp_cli_usage_error(cmd, "'-' (standard input) given %d times; it can be read once", stdin_args);
    return sp_cli_check_same_file(cmd, n, args);
}

/* relaxed: the count only caps the lines; fprintf locks stderr, so lines from two threads never mix */
static atomic_uint log_lines;

static void log_to_stderr(void *user, sp_log_level level, const char *message)
{
    if (level < SP_LOG_WARN)
        return;
    /* the recorder prefixes its messages with "servprof: " for programs that print them as they are;
     * here the line already starts with "servprof COMMAND: " */
    if (strncmp(message, "servprof: ", 10) == 0)
        message += 10;
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
    char lost[SP_CLI_LOSS_LINE_MAX];
    size_t n = sp_report_describe_loss(r, lost, sizeof lost);
    return sp_cli_strict(cmd, n, lost);
}
