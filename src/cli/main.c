/* servprof command-line tool: dispatches `servprof COMMAND ...` to the subcommands of commands.h and
 * answers --help, --version and `help COMMAND`. Uses only the public API, like curl's tool. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "servprof/servprof.h"

typedef struct sp_cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} sp_cli_command;

static const sp_cli_command commands[] = {
    {"analyze", sp_cmd_analyze, "analyse traces: stage table, padding, cost, GPU timeline, verdict"},
    {"export", sp_cmd_export, "write traces as OpenTelemetry spans (OTLP/JSON) for any tracing backend"},
    {"synth", sp_cmd_synth, "write a sample trace of a simulated dynamically-batched service"},
#ifdef SERVPROF_SERVE_ENABLED
    {"serve", sp_cmd_serve, "run the instrumented reference inference service"},
#endif
#ifdef SERVPROF_LOAD_ENABLED
    {"load", sp_cmd_load, "drive a service with open-loop load (latency from intended send time)"},
#endif
    {"demo", sp_cmd_demo, "start serve, drive it with load, analyse the trace, print the report"},
#ifdef SERVPROF_WHATIF_ENABLED
    {"whatif", sp_cmd_whatif, "replay the arrivals through other batching policies"},
#endif
    {"diff", sp_cmd_diff, "compare two runs with confidence intervals; gate CI with --fail-if"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* Commands a full build has and this one was configured without: asked for, they say why instead of
 * being unknown (the CMake message at configure time is long gone by then). */
typedef struct sp_cli_absent {
    const char *name;
    const char *why;
} sp_cli_absent;

static const sp_cli_absent absent[] = {
#ifndef SERVPROF_SERVE_ENABLED
    {"serve", "it needs libmicrohttpd, jansson and OpenBLAS (Debian libmicrohttpd-dev, libjansson-dev, "
              "libopenblas-dev; scripts/setup.sh build), which CMake did not all find when this build was "
              "configured"},
#endif
#ifndef SERVPROF_LOAD_ENABLED
    {"load", "it needs Linux's <sys/epoll.h>, which CMake did not find when this build was configured"},
#endif
#ifndef SERVPROF_WHATIF_ENABLED
    {"whatif", "src/whatif was not part of this build"},
#endif
    {NULL, NULL}, /* so that the array is never empty */
};

static const sp_cli_absent *find_absent(const char *name)
{
    for (const sp_cli_absent *a = absent; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

/* "servprof: unknown command 'x'", or why a command this build lacks is missing; returns 2. */
static int no_such_command(const char *name)
{
    const sp_cli_absent *a = find_absent(name);
    if (a)
        fprintf(stderr, "servprof: '%s' is not in this build: %s (docs/cli.md)\n", name, a->why);
    else
        fprintf(stderr, "servprof: unknown command '%s' (see servprof --help)\n", name);
    return 2;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: servprof COMMAND [OPTIONS] [ARGS]\n"
            "       servprof help COMMAND | --help | --version\n\n"
            "servprof attributes every nanosecond of an inference request's path through a serving\n"
            "stack to a stage (queue, preprocess, h2d, kernel, gap, d2h, postprocess), reports\n"
            "p50/p95/p99 and each stage's share of them, padding waste and cost, and gives a verdict.\n\n"
            "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    for (const sp_cli_absent *a = absent; a->name; a++)
        fprintf(out, "%s%s%s", a == absent ? "  (not in this build: " : ", ", a->name,
                a[1].name ? "" : "; `servprof COMMAND` says why)\n");
    fprintf(out, "\n`servprof COMMAND --help` describes a command's options. Documentation: docs/cli.md\n");
}

static const sp_cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int run_command(const sp_cli_command *c, int argc, char **argv)
{
    return c->fn(argc, argv);
}

/* No library of a command's own is loaded before main: OpenBLAS is opened when `serve` builds its model
 * (src/serve/blas.c, which also stops the threads OpenBLAS's constructor starts), libcurl when `analyze
 * --prometheus` makes its first query (src/fleet/prometheus.c). */
int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("servprof %s\n", SP_VERSION_STRING);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        const sp_cli_command *c = find_command(argv[2]);
        if (!c)
            return no_such_command(argv[2]);
        char help_opt[] = "--help";
        char *sub_argv[] = {argv[2], help_opt, NULL};
        return run_command(c, 2, sub_argv);
    }
    const sp_cli_command *c = find_command(cmd);
    if (!c)
        return no_such_command(cmd);
    return run_command(c, argc - 1, argv + 1);
}
