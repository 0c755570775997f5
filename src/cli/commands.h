/* Subcommands of the servprof CLI. Each takes the arguments after its name (argv[0] is the
 * subcommand's name) and returns the process exit status: 0 success, 1 failure, 2 usage error.
 * Parts that may be compiled out (serve, load, whatif) guard their file with
 * SERVPROF_SERVE_ENABLED / SERVPROF_LOAD_ENABLED / SERVPROF_WHATIF_ENABLED, which CMake defines for
 * the CLI when the part's library target exists. */
#ifndef SERVPROF_CLI_COMMANDS_H
#define SERVPROF_CLI_COMMANDS_H

int sp_cmd_analyze(int argc, char **argv);   /* src/cli/cmd_analyze.c */
int sp_cmd_synth(int argc, char **argv);     /* src/cli/cmd_synth.c: sample trace generator */
int sp_cmd_serve(int argc, char **argv);     /* src/cli/cmd_serve.c (SERVPROF_SERVE_ENABLED) */
int sp_cmd_load(int argc, char **argv);      /* src/cli/cmd_load.c (SERVPROF_LOAD_ENABLED) */
int sp_cmd_demo(int argc, char **argv);      /* src/cli/cmd_demo.c */
int sp_cmd_whatif(int argc, char **argv);    /* src/cli/cmd_whatif.c (SERVPROF_WHATIF_ENABLED) */

#endif
