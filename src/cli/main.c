/* servprof command-line tool: dispatches to the subcommands. Uses only the public API. */
#include <stdio.h>
#include <string.h>

#include "servprof/analyze.h"

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        printf("usage: servprof COMMAND [OPTIONS]\n");
        return argc < 2 ? 2 : 0;
    }
    fprintf(stderr, "servprof: unknown command '%s'\n", argv[1]);
    return 2;
}
