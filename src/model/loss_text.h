/* The words for lost data (src/model/loss.c): the one formatter that sp_events_describe_loss and the
 * reports' data-quality lines share, so a file's losses read the same everywhere. It reads only an
 * sp_file_loss (events.h), never the model's storage, so the reports use it through this header. */
#ifndef SERVPROF_LOSS_TEXT_H
#define SERVPROF_LOSS_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "servprof/events.h"

/* The one place the words for lost data are written (sp_events_describe_loss, the reports), file by
 * file: init, then sp_loss_text_file for each file (those that lost nothing add nothing), then
 * optionally sp_loss_text_skipped. Each file that lost something adds "PATH: " and its parts. `counts`
 * false leaves out the recorder's drops and skipped records (a report says those on its own). `parts`
 * counts the things named (0: nothing lost, `buf` holds ""). `buf` is always NUL-terminated when
 * len > 0; a long text ends with "...". */
typedef struct sp_loss_text {
    char *buf;
    size_t len, used;
    bool full;
    bool counts;
    size_t parts;
} sp_loss_text;
void sp_loss_text_init(sp_loss_text *t, char *buf, size_t len, bool counts);
void sp_loss_text_file(sp_loss_text *t, const char *path, const sp_file_loss *loss);
/* Records the analysis skipped (invalid times), no file named; only with `counts`. */
void sp_loss_text_skipped(sp_loss_text *t, uint64_t n);

#endif
