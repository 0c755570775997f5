/* Helpers shared by the CLI's subcommands. */
#include <errno.h>
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
