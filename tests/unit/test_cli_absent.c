/* The CLI's dispatch when a command was compiled out (docs/cli.md: "commands that are not built say
 * so"): src/cli/main.c built here as a build without serve, load and whatif is (their *_ENABLED
 * macros undefined), over stub commands, so every build checks the path a full build never takes.
 * Before, `servprof serve` in such a build said "unknown command 'serve'". */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#undef SERVPROF_SERVE_ENABLED
#undef SERVPROF_LOAD_ENABLED
#undef SERVPROF_WHATIF_ENABLED

#define main sp_cli_main
#include "cli/main.c"
#undef main

static int stub(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 0;
}
int sp_cmd_analyze(int argc, char **argv) { return stub(argc, argv); }
int sp_cmd_export(int argc, char **argv) { return stub(argc, argv); }
int sp_cmd_synth(int argc, char **argv) { return stub(argc, argv); }
int sp_cmd_demo(int argc, char **argv) { return stub(argc, argv); }
int sp_cmd_diff(int argc, char **argv) { return stub(argc, argv); }

/* Runs sp_cli_main on argv with standard output or error (fd) sent to a file; returns the exit status
 * and the captured text in out (NUL-terminated, cut at len - 1). */
static int run(int fd, char *out, size_t len, int argc, char **argv)
{
    char path[] = "/tmp/sp-test-cli-absent.XXXXXX";
    int tmp = mkstemp(path);
    CHECK(tmp >= 0);
    fflush(fd == 1 ? stdout : stderr);
    int saved = dup(fd);
    dup2(tmp, fd);
    int rc = sp_cli_main(argc, argv);
    fflush(fd == 1 ? stdout : stderr);
    dup2(saved, fd);
    close(saved);
    ssize_t n = pread(tmp, out, len - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(tmp);
    unlink(path);
    return rc;
}

int main(void)
{
    char text[4096];
    char *serve[] = {"servprof", "serve", "--port", "0", NULL};
    CHECK(run(2, text, sizeof text, 4, serve) == 2);
    CHECK(strstr(text, "servprof: 'serve' is not in this build: it needs libmicrohttpd, jansson and OpenBLAS") ==
          text);
    CHECK(strstr(text, "unknown command") == NULL);
    CHECK(strchr(text, '\n') == text + strlen(text) - 1); /* one line */

    char *load[] = {"servprof", "load", NULL};
    CHECK(run(2, text, sizeof text, 2, load) == 2);
    CHECK(strstr(text, "servprof: 'load' is not in this build: it needs Linux's <sys/epoll.h>") == text);

    char *help_whatif[] = {"servprof", "help", "whatif", NULL};
    CHECK(run(2, text, sizeof text, 3, help_whatif) == 2);
    CHECK(strstr(text, "servprof: 'whatif' is not in this build") == text);

    /* a name no build has is still unknown */
    char *bogus[] = {"servprof", "frobnicate", NULL};
    CHECK(run(2, text, sizeof text, 2, bogus) == 2);
    CHECK(strcmp(text, "servprof: unknown command 'frobnicate' (see servprof --help)\n") == 0);

    /* --help lists what this build has, then names what it lacks */
    char *help[] = {"servprof", "--help", NULL};
    CHECK(run(1, text, sizeof text, 2, help) == 0);
    CHECK(strstr(text, "\n  analyze ") != NULL);
    CHECK(strstr(text, "\n  serve ") == NULL);
    CHECK(strstr(text, "\n  (not in this build: serve, load, whatif; `servprof COMMAND` says why)\n") != NULL);

    /* the commands it has still run */
    char *synth[] = {"servprof", "synth", NULL};
    CHECK(run(2, text, sizeof text, 2, synth) == 0);
    return sp_test_done("test_cli_absent");
}
