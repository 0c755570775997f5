/* The report object: its allocation, the strings it owns (stage and kernel names, file paths, the
 * verdict sentence), its detail, and sp_report_destroy, which frees everything a report holds. Kept apart from
 * the pipeline (analyze.c) so that the stages which fill a report depend on this file alone. */
#include <stdlib.h>
#include <string.h>

#include "analyze/report_store.h"
#include "common/util_int.h"

/* The report plus the strings it owns. */
typedef struct report_priv {
    sp_report pub;          /* first: a sp_report * is a report_priv * */
    char **strs;
    size_t n_strs, cap_strs;
} report_priv;

#define SP_REPORT_MAX_STRINGS ((size_t)1 << 30)

sp_report *sp_report_new(void)
{
    report_priv *p = calloc(1, sizeof *p);
    return p ? &p->pub : NULL;
}

sp_report_detail *sp_report_keep_detail(sp_report *r)
{
    r->detail = calloc(1, sizeof *r->detail);
    return r->detail;
}

static void free_detail(sp_report_detail *d)
{
    if (!d)
        return;
    free(d->latency_ns);
    free(d->stage_spread);
    free(d->batch_waste);
    free(d->timeline.acts);
    free(d->timeline.batches);
    free(d->requests.stage_ns);
    free(d->requests.padding_ns);
    free(d->requests.by_arrival);
    free(d);
}

const char *sp_report_strdup(sp_report *r, const char *s)
{
    report_priv *p = (report_priv *)r;
    if (SP_GROW(p->strs, p->cap_strs, p->n_strs + 1, SP_REPORT_MAX_STRINGS))
        return NULL;
    size_t len = strlen(s);
    char *c = malloc(len + 1);
    if (!c)
        return NULL;
    memcpy(c, s, len + 1);
    p->strs[p->n_strs++] = c;
    return c;
}

void sp_report_destroy(sp_report *r)
{
    if (!r)
        return;
    report_priv *p = (report_priv *)r;
    for (size_t i = 0; i < p->n_strs; i++)
        free(p->strs[i]);
    free(p->strs);
    free(r->stages);
    free(r->gpu.idle_breakdown);
    free(r->gpu.kernel_stats);
    free(r->gpu.copy_stats);
    free(r->verdict.ranking);
    free(r->clock_offsets);
    free(r->file_quality);
    free_detail(r->detail);
    if (r->generation) {
        sp_gen_summary *g = r->generation;
        free(g->ttft_table.rows);
        free(g->ttft_table.verdict.ranking);
        free(g->tpot_table.rows);
        free(g->tpot_table.verdict.ranking);
        free(g->limits);
        free(g);
    }
    if (r->source) {
        /* the source's strings are the report's; its replica lists, its bills and itself are one allocation each */
        free((void *)r->source->replicas);
        free((void *)r->source->down);
        free((void *)r->source->never);
        free((void *)r->source->nodev);
        free((void *)r->source->bills);
        free((void *)r->source);
    }
    free(p);
}
