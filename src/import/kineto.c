/* Importer for PyTorch profiler (Kineto) Chrome-trace JSON (docs/kineto.md): one streaming pass over
 * the document with the JSON pull lexer, keeping only device activity, launch calls and serving
 * annotations (never a tree of the document), then a short pass over what was kept: base time,
 * HTA-compatible shifting and ProfilerStep filtering, the launch/activity correlation join, and the
 * annotation convention that turns record_function ranges into requests, stages and batches. This file
 * holds the document and the passes after it; the traceEvents array is read by kineto_par.c, and the
 * files below it (kineto_int.h lists them) do the rest of the reading. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "import/kineto_int.h"

/* ---------- after the pass ---------- */

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int launch_corr_cmp(const void *a, const void *b)
{
    const kt_launch *x = a, *y = b;
    if (x->corr != y->corr)
        return x->corr < y->corr ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

static bool has_u64(const uint64_t *v, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == key;
}

static const kt_launch *launch_find(const kt *k, uint64_t corr)
{
    size_t lo = 0, hi = k->n_launches;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->launches[mid].corr < corr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < k->n_launches && k->launches[lo].corr == corr ? &k->launches[lo] : NULL;
}

/* Every kept time gets the same offset: the base (exact mode) or minus the earliest event (hta). */
static sp_status fix_times(kt *k)
{
    struct sp_events *ev = k->ev;
    int64_t off = k->hta ? -(k->min_us * 1000) : (k->has_base ? k->base_ns : 0);
    int64_t lo = INT64_MAX;
    for (size_t i = k->a0; i < ev->n_acts; i++)
        if ((int64_t)ev->acts[i].start_ns < lo)
            lo = (int64_t)ev->acts[i].start_ns;
    for (size_t i = 0; i < k->n_launches; i++)
        if (k->launches[i].start < lo)
            lo = k->launches[i].start;
    for (size_t i = 0; i < k->annots.n; i++)
        if (k->annots.a[i].start < lo)
            lo = k->annots.a[i].start;
    for (size_t i = 0; i < k->ranges.n; i++)
        if (k->ranges.v[i].start < lo)
            lo = k->ranges.v[i].start;
    if (lo != INT64_MAX && (off > 0 ? lo > INT64_MAX - off : false))
        return sp_kt_fail_at(k, SP_ERR_PARSE, NULL, "timestamps overflow after adding baseTimeNanoseconds");
    if (lo != INT64_MAX && lo + off < 0)
        return sp_kt_fail_at(k, SP_ERR_PARSE, NULL, "an event starts before time 0 (negative \"ts\"%s)",
                       k->has_base ? " after adding baseTimeNanoseconds" : "");
    for (size_t i = k->a0; i < ev->n_acts; i++) {
        ev->acts[i].start_ns = (uint64_t)((int64_t)ev->acts[i].start_ns + off);
        ev->acts[i].end_ns = (uint64_t)((int64_t)ev->acts[i].end_ns + off);
    }
    if (k->steps)
        k->last_step_start += off;
    for (size_t i = 0; i < k->n_launches; i++) {
        k->launches[i].start += off;
        k->launches[i].end += off;
    }
    for (size_t i = 0; i < k->annots.n; i++) {
        k->annots.a[i].start += off;
        k->annots.a[i].end += off;
    }
    for (size_t i = 0; i < k->ranges.n; i++) {
        k->ranges.v[i].start += off;
        k->ranges.v[i].end += off;
    }
    return SP_OK;
}

/* HTA: with two or more ProfilerStep#N, CPU events at or after the start of the last step are
 * dropped, then GPU events whose correlation matches no kept CPU event. */
static void hta_filter(kt *k)
{
    if (k->steps < 2)
        return;
    struct sp_events *ev = k->ev;
    size_t w = 0;
    for (size_t i = 0; i < k->n_launches; i++)
        if (k->launches[i].start < k->last_step_start)
            k->launches[w++] = k->launches[i];
    k->n_launches = w;
    w = 0;   /* the ranges are CPU events too: the last step's mark goes with its work */
    for (size_t i = 0; i < k->ranges.n; i++)
        if (k->ranges.v[i].start < k->last_step_start)
            k->ranges.v[w++] = k->ranges.v[i];
    k->ranges.n = w;
    if (k->n_launches)   /* qsort's array must not be NULL, even empty (UBSan) */
        qsort(k->launches, k->n_launches, sizeof *k->launches, launch_corr_cmp);
    w = k->a0;
    for (size_t i = k->a0; i < ev->n_acts; i++)
        if (ev->acts[i].correlation && launch_find(k, ev->acts[i].correlation))
            ev->acts[w++] = ev->acts[i];
    ev->n_acts = w;
}

/* Launch calls that launched no device work of this file are not launches (cudaEventRecord, ...). */
static sp_status add_launches(kt *k)
{
    struct sp_events *ev = k->ev;
    size_t na = ev->n_acts - k->a0;
    uint64_t *corrs = malloc((na ? na : 1) * sizeof *corrs);
    if (!corrs)
        return sp_kt_model_fail(k, SP_ERR_NOMEM);
    size_t nc = 0;
    for (size_t i = k->a0; i < ev->n_acts; i++)
        if (ev->acts[i].correlation)
            corrs[nc++] = ev->acts[i].correlation;
    if (nc)   /* qsort's array must not be NULL, even empty (UBSan) */
        qsort(corrs, nc, sizeof *corrs, u64_cmp);
    size_t w = 0;
    for (size_t i = 0; i < k->n_launches; i++) {
        const kt_launch *l = &k->launches[i];
        if (!has_u64(corrs, nc, l->corr))
            continue;
        sp_ev_launch m = {(uint64_t)l->start, (uint64_t)l->end, l->corr, l->name, k->file};
        sp_status st = sp_ev_add_launch(ev, &m);
        if (st) {
            free(corrs);
            return sp_kt_model_fail(k, st);
        }
        k->launches[w++] = *l;
    }
    k->n_launches = w;
    free(corrs);
    if (k->n_launches)   /* qsort's array must not be NULL, even empty (UBSan) */
        qsort(k->launches, k->n_launches, sizeof *k->launches, launch_corr_cmp);
    return SP_OK;
}

/* Device work launched (by correlation) from inside a batch annotation on the launching thread
 * belongs to that batch; the batch window stretches to cover it (outputs cannot be back on the host
 * before the device work that produces them ends). */
static void tie_activity(kt *k)
{
    struct sp_events *ev = k->ev;
    for (size_t i = k->a0; i < ev->n_acts; i++) {
        sp_ev_activity *x = &ev->acts[i];
        if (!x->correlation || x->kind == SP_ACT_SYNC)
            continue;
        const kt_launch *l = launch_find(k, x->correlation);
        if (!l)
            continue;
        const sp_annot *b = sp_annot_set_enclosing(&k->annots, SP_ANNOT_BATCH, l->thread, l->start);
        if (!b || k->annots.batch_of[b - k->annots.a] < 0)
            continue;
        uint32_t bi = (uint32_t)k->annots.batch_of[b - k->annots.a];
        x->batch = bi;
        sp_ev_batch *bb = &ev->batches[bi];
        if (x->end_ns > bb->end_ns)
            bb->end_ns = x->end_ns;
        bb->device = x->device;
    }
}

/* ---------- the document ---------- */

static sp_status read_document(kt *k, bool *saw_events)
{
    sp_json_token t;
    LEX(sp_json_next(&k->lx, &t));
    if (t.type == SP_JSON_ARR_BEGIN) {   /* a bare array of events is a valid Chrome trace too */
        *saw_events = true;
        sp_status st = sp_kt_read_events(k);
        if (st)
            return st;
    } else if (t.type == SP_JSON_OBJ_BEGIN) {
        for (;;) {
            LEX(sp_json_next(&k->lx, &t));
            if (t.type == SP_JSON_OBJ_END)
                break;
            if (t.len == 11 && memcmp(t.str, "traceEvents", 11) == 0) {
                LEX(sp_json_next(&k->lx, &t));
                if (t.type != SP_JSON_ARR_BEGIN)
                    return sp_kt_fail_at(k, SP_ERR_PARSE, &t, "\"traceEvents\" must be an array of events");
                *saw_events = true;
                sp_status st = sp_kt_read_events(k);
                if (st)
                    return st;
            } else if (t.len == 19 && memcmp(t.str, "baseTimeNanoseconds", 19) == 0) {
                LEX(sp_json_next(&k->lx, &t));
                if (t.type != SP_JSON_NUMBER || !t.is_int || t.i < 0)
                    return sp_kt_fail_at(k, SP_ERR_PARSE, &t, "\"baseTimeNanoseconds\" must be a non-negative integer");
                k->has_base = true;
                k->base_ns = t.i;
            } else
                LEX(sp_json_skip(&k->lx));   /* displayTimeUnit (a display hint: ts are us), ... */
        }
    } else
        return sp_kt_fail_at(k, SP_ERR_PARSE, &t, "expected a Chrome-trace JSON object ({\"traceEvents\":[...]}) "
                       "or an array of events");
    LEX(sp_json_next(&k->lx, &t));   /* the lexer checks that only whitespace follows */
    return SP_OK;
}

sp_status sp_import_kineto(sp_import_ctx *ctx)
{
    kt *k = calloc(1, sizeof *k);
    if (!k)
        return SP_ERR_NOMEM;
    k->ctx = ctx;
    k->ev = ctx->ev;
    k->file = ctx->file;
    k->hta = ctx->opt && ctx->opt->hta_compat;
    k->lenient = ctx->opt && ctx->opt->lenient;
    k->a0 = ctx->ev->n_acts;
    size_t r0 = ctx->ev->n_requests, s0 = ctx->ev->n_spans, b0 = ctx->ev->n_batches;
    sp_status st = sp_annot_map_init(&k->map, ctx->opt ? ctx->opt->map : NULL, ctx->name, ctx->err, ctx->errlen);
    if (st)
        goto out;
    sp_json_limits lim;
    sp_json_limits_init(&lim);
    lim.max_depth = 64;        /* events nest 4 deep; args a few more */
    lim.no_double = true;      /* times are converted from their text; hta asks for doubles itself */
    st = sp_json_init_input(&k->lx, ctx->in, &lim);
    if (st) {
        st = sp_kt_model_fail(k, st);
        goto out;
    }
    bool saw = false;
    st = read_document(k, &saw);
    if (k->tail_in)   /* progress: the bytes the second thread read count as read */
        sp_input_note_read(ctx->in, k->tail_at + sp_input_offset(k->tail_in));
    if (st)
        goto out;
    if (!saw) {
        st = sp_kt_fail_at(k, SP_ERR_PARSE, NULL, "no \"traceEvents\" array (expected a PyTorch profiler trace)");
        goto out;
    }
    if ((st = fix_times(k)))
        goto out;
    if (k->hta)
        hta_filter(k);
    if ((st = add_launches(k)))
        goto out;
    if ((st = sp_annot_set_resolve(&k->annots, k->ev, k->file))) {
        st = sp_kt_model_fail(k, st);
        goto out;
    }
    tie_activity(k);
    if ((st = sp_mark_cands_commit(&k->ranges, k->ev, k->file))) {
        st = sp_kt_model_fail(k, st);
        goto out;
    }
    sp_annot_fill_requests(k->ev, k->file, r0, s0);
    if (k->ev->n_requests == r0 && k->ev->n_acts == k->a0 && k->ev->n_batches == b0)
        /* the report will say only "nothing to analyse": say what the file lacks (docs/kineto.md) */
        sp_log(SP_LOG_WARN, "%s: no device activity (no kernel, memcpy or memset event: a CPU-only profile) "
               "and no serving annotation (record_function ranges named servprof.request:ID, "
               "docs/annotations.md) in the trace: nothing in it to analyse", ctx->name);
    if (ctx->err && ctx->errlen)
        ctx->err[0] = '\0';
out:
    atomic_fetch_add(&sp_kt_fast_total, k->fast_events);
    sp_json_fini(&k->lx);
    sp_input_close(k->tail_in);
    free(k->launches);
    sp_mark_cands_free(&k->ranges);
    sp_annot_set_free(&k->annots);
    free(k);
    return st;
}
