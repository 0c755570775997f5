/* What each loaded file lost (corrupt or cut blocks, undecodable and orphaned records, an unclean end,
 * the recorder's drops, skipped records) and the one sentence that says it, for the log, the reports and
 * --strict (docs/native-format.md "Reading rule", docs/report-format.md "data_quality"). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util_int.h"
#include "model/events_int.h"

const char *sp_trace_end_str(sp_trace_end end)
{
    switch (end) {
    case SP_TRACE_END_CLEAN: return "clean";
    case SP_TRACE_END_UNCLEAN: return "unclean";
    case SP_TRACE_END_UNKNOWN: break;
    }
    return "unknown";
}

void sp_ev_file_lost(struct sp_events *ev, uint32_t file, const sp_lost_region *region)
{
    sp_ev_file *f = &ev->files[file];
    if (f->lost_regions < SP_LOSS_MAX_REGIONS)
        f->lost[f->lost_regions] = *region;
    f->lost_regions++;
    f->lost_blocks += region->blocks;
    f->lost_bytes += region->bytes;
}

void sp_ev_file_loss_of(const struct sp_events *ev, uint32_t file, sp_file_loss *out)
{
    const sp_ev_file *f = &ev->files[file];
    memset(out, 0, sizeof *out);
    out->lost_blocks = f->lost_blocks;
    out->lost_bytes = f->lost_bytes;
    out->regions = f->lost_regions;
    out->n_listed = f->lost_regions < SP_LOSS_MAX_REGIONS ? (size_t)f->lost_regions : SP_LOSS_MAX_REGIONS;
    memcpy(out->region, f->lost, out->n_listed * sizeof *out->region);
    out->first_lost_offset = f->lost_regions ? f->lost[0].offset : UINT64_MAX;
    out->undecodable = f->undecodable;
    out->orphaned = f->orphaned;
    out->end = (sp_trace_end)f->end;
    out->end_by_export = f->end_by_export;
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        out->dropped += f->drops[c];
    out->skipped = f->skipped;
}

const char *sp_events_file_path(const sp_events *ev, size_t file)
{
    if (!ev || file >= ev->n_files)
        return NULL;
    return sp_str_get(&ev->strings, ev->files[file].path);
}

sp_status sp_events_file_loss(const sp_events *ev, size_t file, sp_file_loss *out)
{
    if (!ev || !out || file >= ev->n_files)
        return SP_ERR_INVALID;
    sp_ev_file_loss_of(ev, (uint32_t)file, out);
    return SP_OK;
}

static void put(sp_loss_text *t, const char *fmt, ...) SP_PRINTF(2, 3);

/* Appends to the bounded text; once full it ends in "..." and takes nothing more. */
static void put(sp_loss_text *t, const char *fmt, ...)
{
    if (t->full || t->len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->buf + t->used, t->len - t->used, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < t->len - t->used) {
        t->used += (size_t)k;
        return;
    }
    t->full = true;
    t->used = t->len - 1;
    if (t->len >= 4)
        memcpy(t->buf + t->len - 4, "...", 4);
}

static const char *s_if(uint64_t n)
{
    return n == 1 ? "" : "s";
}

static void put_regions(sp_loss_text *t, const sp_file_loss *l)
{
    if (l->regions == 1) {
        const sp_lost_region *g = &l->region[0];
        put(t, "%" PRIu64 " block%s (%" PRIu64 " bytes) lost at byte %" PRIu64 "%s", g->blocks, s_if(g->blocks),
            g->bytes, g->offset, g->to_end ? " to the end of the file" : "");
        return;
    }
    put(t, "%" PRIu64 " block%s (%" PRIu64 " bytes) lost in %" PRIu64 " regions, at bytes ", l->lost_blocks,
        s_if(l->lost_blocks), l->lost_bytes, l->regions);
    for (size_t i = 0; i < l->n_listed; i++) {
        const sp_lost_region *g = &l->region[i];
        put(t, "%s%" PRIu64 " (%" PRIu64 " block%s%s)", i ? ", " : "", g->offset, g->blocks, s_if(g->blocks),
            g->to_end ? ", to the end" : "");
    }
    if (l->regions > l->n_listed)
        put(t, " and %" PRIu64 " more", l->regions - l->n_listed);
}

void sp_loss_text_init(sp_loss_text *t, char *buf, size_t len, bool counts)
{
    memset(t, 0, sizeof *t);
    t->buf = buf;
    t->len = buf ? len : 0;
    t->counts = counts;
    if (t->len)
        buf[0] = '\0';
}

/* Opens the next part: "; PATH: " before a file's first, ", " between a file's parts. */
static void part(sp_loss_text *t, const char *path, size_t *in_file)
{
    if (*in_file == 0)
        put(t, "%s%s: ", t->parts ? "; " : "", path ? path : "?");
    else
        put(t, ", ");
    (*in_file)++;
    t->parts++;
}

void sp_loss_text_file(sp_loss_text *t, const char *path, const sp_file_loss *l)
{
    size_t k = 0;
    if (l->regions) {
        part(t, path, &k);
        put_regions(t, l);
    }
    if (l->undecodable) {
        part(t, path, &k);
        put(t, "%" PRIu64 " record%s undecodable (%s name was defined in a lost block)", l->undecodable,
            s_if(l->undecodable), l->undecodable == 1 ? "its" : "their");
    }
    if (l->orphaned) {
        part(t, path, &k);
        put(t, "%" PRIu64 " request%s or batch%s left out (%s own record was lost)", l->orphaned,
            s_if(l->orphaned), l->orphaned == 1 ? "" : "es", l->orphaned == 1 ? "its" : "their");
    }
    if (l->end == SP_TRACE_END_UNCLEAN) {
        part(t, path, &k);
        /* an export is whole: the end record was missing from the trace it was written from */
        put(t, "the recorder did not close cleanly (%s)",
            l->end_by_export ? "the trace exported to it had no end record" : "no end record");
    }
    if (t->counts && l->dropped) {
        part(t, path, &k);
        put(t, "%" PRIu64 " record%s dropped by the recorder", l->dropped, s_if(l->dropped));
    }
    if (t->counts && l->skipped) {
        part(t, path, &k);
        put(t, "%" PRIu64 " malformed or unresolved record%s skipped", l->skipped, s_if(l->skipped));
    }
}

void sp_loss_text_skipped(sp_loss_text *t, uint64_t n)
{
    if (!t->counts || !n)
        return;
    put(t, "%s%" PRIu64 " record%s skipped by the analysis (invalid times)", t->parts ? "; " : "", n, s_if(n));
    t->parts++;
}

size_t sp_events_describe_loss(const sp_events *ev, char *buf, size_t len)
{
    sp_loss_text t;
    sp_loss_text_init(&t, buf, len, true);
    for (size_t f = 0; ev && f < ev->n_files; f++) {
        sp_file_loss one;
        sp_ev_file_loss_of(ev, (uint32_t)f, &one);
        sp_loss_text_file(&t, sp_str_get(&ev->strings, ev->files[f].path), &one);
    }
    return t.parts;
}
