/* The report's data-quality sentence: what each file lost, worded by the event model's one formatter
 * (src/model/loss.c) from the copies the report keeps, for the writers and for --strict. */
#include "model/loss_text.h"
#include "report/report_int.h"

size_t sp_rep_loss_text(const sp_report *r, int counts, char *buf, size_t len)
{
    sp_loss_text t;
    sp_loss_text_init(&t, buf, len, counts != 0);
    if (!r)
        return 0;
    uint64_t file_skipped = 0;
    for (size_t f = 0; r->file_quality && f < r->n_files; f++) {
        sp_loss_text_file(&t, r->file_quality[f].path, &r->file_quality[f].loss);
        file_skipped += r->file_quality[f].loss.skipped;
    }
    /* what the analysis skipped itself (records with invalid times), beyond what the files counted */
    sp_loss_text_skipped(&t, r->skipped_records > file_skipped ? r->skipped_records - file_skipped : 0);
    return t.parts;
}

size_t sp_report_describe_loss(const sp_report *r, char *buf, size_t len)
{
    return sp_rep_loss_text(r, 1, buf, len);
}

int sp_rep_drops_unknown(const sp_report *r)
{
    /* a fleet report's drops are its replicas' recorders' (their live metrics): known */
    return r && !r->source && r->n_files > 0 && r->other_tool_files == r->n_files && r->drops_total == 0;
}
