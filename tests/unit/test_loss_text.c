/* The one sentence that names lost data (src/model/loss.c), on hand-made losses: each part's wording
 * and plural, the order of parts, files that lost nothing left out, drops and skipped records only
 * when asked (the --strict list), the first 8 regions listed and the rest counted, a full buffer cut
 * with "...", and sp_report_describe_loss adding what the analysis skipped. Expected strings are
 * written out by hand from docs/report-format.md's description of the data-quality line. */
#include <string.h>

#include "model/events_int.h"
#include "testlib.h"

static void check_text(const char *got, const char *want)
{
    CHECK(strcmp(got, want) == 0);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "  got  \"%s\"\n  want \"%s\"\n", got, want);
}

int main(void)
{
    char buf[1024];
    sp_loss_text t;
    sp_file_loss none, one, many;
    memset(&none, 0, sizeof none);
    none.end = SP_TRACE_END_CLEAN;
    none.first_lost_offset = UINT64_MAX;

    /* nothing lost: no parts, empty text */
    sp_loss_text_init(&t, buf, sizeof buf, true);
    sp_loss_text_file(&t, "a.sptrace", &none);
    CHECK_EQ_U64(t.parts, 0);
    check_text(buf, "");

    /* one region inside the file, orphans, an unclean end; drops left out without `counts` */
    memset(&one, 0, sizeof one);
    one.regions = 1;
    one.n_listed = 1;
    one.region[0] = (sp_lost_region){1048592, 1048608, 1, 0};
    one.lost_blocks = 1;
    one.lost_bytes = 1048608;
    one.first_lost_offset = 1048592;
    one.orphaned = 1;
    one.end = SP_TRACE_END_UNCLEAN;
    one.dropped = 3;
    sp_loss_text_init(&t, buf, sizeof buf, false);
    sp_loss_text_file(&t, "a.sptrace", &none);
    sp_loss_text_file(&t, "b.sptrace", &one);
    CHECK_EQ_U64(t.parts, 3);
    check_text(buf, "b.sptrace: 1 block (1048608 bytes) lost at byte 1048592, 1 request or batch left out "
                    "(its own record was lost), the recorder did not close cleanly (no end record)");
    /* with `counts`, the drops too; a second file after "; " */
    sp_loss_text_init(&t, buf, sizeof buf, true);
    sp_loss_text_file(&t, "b.sptrace", &one);
    none.skipped = 2;
    sp_loss_text_file(&t, "c.jsonl", &none);
    none.skipped = 0;
    CHECK_EQ_U64(t.parts, 5);
    check_text(buf, "b.sptrace: 1 block (1048608 bytes) lost at byte 1048592, 1 request or batch left out "
                    "(its own record was lost), the recorder did not close cleanly (no end record), 3 "
                    "records dropped by the recorder; c.jsonl: 2 malformed or unresolved records skipped");

    /* a cut tail, undecodable records */
    memset(&one, 0, sizeof one);
    one.regions = one.n_listed = 1;
    one.region[0] = (sp_lost_region){5000, 3000, 2, 1};
    one.lost_blocks = 2;
    one.lost_bytes = 3000;
    one.undecodable = 300;
    one.end = SP_TRACE_END_CLEAN;
    sp_loss_text_init(&t, buf, sizeof buf, true);
    sp_loss_text_file(&t, "t.sptrace", &one);
    check_text(buf, "t.sptrace: 2 blocks (3000 bytes) lost at byte 5000 to the end of the file, 300 records "
                    "undecodable (their name was defined in a lost block)");

    /* ten regions: the first 8 listed, "and 2 more" */
    memset(&many, 0, sizeof many);
    many.regions = 10;
    many.n_listed = SP_LOSS_MAX_REGIONS;
    for (size_t i = 0; i < SP_LOSS_MAX_REGIONS; i++)
        many.region[i] = (sp_lost_region){100 * (i + 1), 10, 1, 0};
    many.region[7].to_end = 1;
    many.lost_blocks = 10;
    many.lost_bytes = 100;
    many.end = SP_TRACE_END_UNKNOWN;
    sp_loss_text_init(&t, buf, sizeof buf, true);
    sp_loss_text_file(&t, "m", &many);
    CHECK_EQ_U64(t.parts, 1);
    check_text(buf, "m: 10 blocks (100 bytes) lost in 10 regions, at bytes 100 (1 block), 200 (1 block), 300 "
                    "(1 block), 400 (1 block), 500 (1 block), 600 (1 block), 700 (1 block), 800 (1 block, to "
                    "the end) and 2 more");

    /* a small buffer: cut, ending in "...", still NUL-terminated, parts still counted */
    char small[24];
    sp_loss_text_init(&t, small, sizeof small, true);
    sp_loss_text_file(&t, "m", &many);
    CHECK_EQ_U64(t.parts, 1);
    CHECK_EQ_U64(strlen(small), sizeof small - 1);
    check_text(small, "m: 10 blocks (100 by...");
    /* no buffer at all: only the count (what JSON's "complete" uses) */
    sp_loss_text_init(&t, NULL, 0, true);
    sp_loss_text_file(&t, "m", &many);
    CHECK_EQ_U64(t.parts, 1);

    /* the analysis' own skipped records, only with `counts` */
    sp_loss_text_init(&t, buf, sizeof buf, false);
    sp_loss_text_skipped(&t, 4);
    CHECK_EQ_U64(t.parts, 0);
    sp_loss_text_init(&t, buf, sizeof buf, true);
    sp_loss_text_skipped(&t, 1);
    check_text(buf, "1 record skipped by the analysis (invalid times)");

    /* through a report: sp_report_describe_loss = the files' parts + the analysis' skipped records */
    sp_report rep;
    memset(&rep, 0, sizeof rep);
    sp_file_quality fq[2] = {{.path = "x.sptrace", .loss = one}, {.path = "y.jsonl", .loss = none}};
    fq[1].loss.skipped = 1;
    rep.file_quality = fq;
    rep.n_files = 2;
    rep.skipped_records = 3; /* 1 from y.jsonl, 2 by the analysis */
    CHECK_EQ_U64(sp_report_describe_loss(&rep, buf, sizeof buf), 4);
    check_text(buf, "x.sptrace: 2 blocks (3000 bytes) lost at byte 5000 to the end of the file, 300 records "
                    "undecodable (their name was defined in a lost block); y.jsonl: 1 malformed or unresolved "
                    "record skipped; 2 records skipped by the analysis (invalid times)");
    memset(&rep, 0, sizeof rep);
    CHECK_EQ_U64(sp_report_describe_loss(&rep, buf, sizeof buf), 0);
    check_text(buf, "");
    return sp_test_done("test_loss_text");
}
