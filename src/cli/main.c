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
        if (!c) {
            fprintf(stderr, "servprof: unknown command '%s' (see servprof --help)\n", argv[2]);
            return 2;
        }
        char help_opt[] = "--help";
        char *sub_argv[] = {argv[2], help_opt, NULL};
        return run_command(c, 2, sub_argv);
    }
    const sp_cli_command *c = find_command(cmd);
    if (!c) {
        fprintf(stderr, "servprof: unknown command '%s' (see servprof --help)\n", cmd);
        return 2;
    }
    return run_command(c, argc - 1, argv + 1);
}
