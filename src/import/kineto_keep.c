/* What the Kineto importer keeps of each event read (docs/kineto.md, "What is read", and
 * docs/annotations.md): device activity, launch calls, serving annotations and step-mark ranges by
 * category, in the importer's working time unit; and which events would only be counted, decided the
 * same way, for the second thread's list (kineto_par.c). Calls only kineto_event.c's messages. */
#include <math.h>
#include <string.h>

#include "import/kineto_int.h"

static uint8_t copy_kind_of(const kt_event *e)
{
    const char *s = e->name;
    if (e->cat == CAT_MEMSET)
        return SP_ACT_MEMSET;
    const char *k = e->copy_kind[0] ? e->copy_kind : NULL;
    if ((k && strcmp(k, "HtoD") == 0) || strstr(s, "HtoD"))
        return SP_ACT_H2D;
    if ((k && strcmp(k, "DtoH") == 0) || strstr(s, "DtoH"))
        return SP_ACT_D2H;
    if ((k && strcmp(k, "DtoD") == 0) || strstr(s, "DtoD"))
        return SP_ACT_D2D;
    return SP_ACT_COPY_OTHER;   /* HtoH, PtoP and anything else */
}

/* Start and end in the importer's working unit: exact ns relative to the base, or (hta) HTA's
 * rounded us (start up, end down, computed on the doubles as HTA does), times 1000. Returns true when
 * HTA's end falls before its start: a sub-us event that contains no whole us gets HTA's duration of
 * -1 us (never less: dur >= 0 gives floor(ts + dur) >= ceil(ts) - 1). The model keeps such an end at
 * the start and the caller flags the event (sp_ev_activity.hta_end_early). */
static bool event_times(const kt *k, int64_t *s, int64_t *end)
{
    const kt_event *e = &k->e;
    if (k->hta) {
        double a = ceil(e->ts_d), b = floor(e->ts_d + e->dur_d);
        *s = (int64_t)a * 1000;
        *end = (int64_t)b * 1000;
        if (*end < *s) {
            *end = *s;
            return true;
        }
        return false;
    }
    *s = e->ts_ns;
    *end = e->ts_ns + e->dur_ns;
    return false;
}

/* Keeps a cpu_op / user_annotation range that is not a serving annotation as a step-mark candidate:
 * ProfilerStep#N always, other user_annotation ranges (record_function) for sp_mark_cands_commit to judge. */
static sp_status keep_range(kt *k, int64_t s, int64_t end)
{
    const kt_event *e = &k->e;
    uint8_t kind;
    if (e->name_len > 13 && memcmp(e->name, "ProfilerStep#", 13) == 0)
        kind = SP_MARK_PROFILER_STEP;
    else if (event_cat(e) == CAT_ANNOT && !sp_mark_name_excluded(e->name, e->name_len))
        kind = SP_MARK_USER_RANGE;
    else
        return SP_OK;
    sp_str name;
    MODEL(sp_str_intern_cached(&k->ev->strings, &k->names, e->name, e->name_len, &name));
    MODEL(sp_mark_cands_add(&k->ranges, s, end, e->thread, name, kind));
    return SP_OK;
}

/* A host range only a training step runs (docs/analysis.md section 4, "Steps"): a `cpu_op` of autograd
 * running a backward node ("autograd::engine::evaluate_function: ConvolutionBackward0"), or
 * torch.optim's range around an optimizer step ("Optimizer.step#SGD.step", a `user_annotation` or
 * `cpu_op`). Never a `gpu_user_annotation` copy: the file counts each range once. */
static bool training_range(const kt_event *e, uint8_t cat)
{
    static const char ae[] = "autograd::engine::evaluate_function", opt[] = "Optimizer.step#";
    if (cat == CAT_CPU_OP && e->name_len >= sizeof ae - 1 && memcmp(e->name, ae, sizeof ae - 1) == 0)
        return true;
    return (cat == CAT_CPU_OP || cat == CAT_ANNOT) && e->name_len >= sizeof opt - 1 &&
           memcmp(e->name, opt, sizeof opt - 1) == 0;
}

/* What every event's time tells about the trace's start (hta: the earliest whole us). */
void sp_kt_note_ts(kt *k, bool has_ts, double ts_d)
{
    if (has_ts && k->hta) {
        double c = ceil(ts_d);
        if (c > -9e15 && c < 9e15 && (!k->any_ts || (int64_t)c < k->min_us))
            k->min_us = (int64_t)c;
        k->any_ts = true;
    } else if (has_ts)
        k->any_ts = true;
}

/* An annotation event's name read by the serving convention (docs/annotations.md), the one rule
 * handle_event and counted_only both decide by: 0 not an annotation name (shorter than any prefix),
 * > 0 one (in *a), < 0 malformed (*why says how). */
static int annotation_of(const kt *k, const kt_event *e, sp_annot_name *a, const char **why)
{
    return e->name_len < 5 ? 0 : sp_annot_parse(&k->map, e->name, e->name_len, a, why);
}

sp_status sp_kt_handle_event(kt *k, const sp_json_token *open)
{
    kt_event *e = &k->e;
    k->events++;
    sp_kt_note_ts(k, e->has_ts, e->ts_d);
    if (e->ph != 'X') {
        /* i (instants), s/f (flows: the correlation is also in args), M (metadata), B/E ...: nothing
         * servprof needs */
        if (e->ph == 0)
            return sp_kt_fail_at(k, SP_ERR_PARSE, open, "event without \"ph\"");
        k->ev->files[k->file].ignored++;
        return SP_OK;
    }
    if (!e->has_ts)
        return sp_kt_fail_at(k, SP_ERR_PARSE, open, "complete event (\"ph\":\"X\") without \"ts\"");
    if (k->hta && (!(fabs(e->ts_d) < 4e15) || !(e->dur_d < 4e15)))
        return sp_kt_fail_at(k, SP_ERR_PARSE, open, "timestamp out of range");
    int64_t s, end;
    bool end_early = event_times(k, &s, &end);
    if (e->name_len > 13 && memcmp(e->name, "ProfilerStep#", 13) == 0) {
        if (!k->steps || s > k->last_step_start)
            k->last_step_start = s;
        k->steps++;
    }
    uint8_t cat = event_cat(e);
    switch (cat) {
    case CAT_KERNEL:
    case CAT_MEMCPY:
    case CAT_MEMSET:
    case CAT_SYNC: {
        sp_ev_activity a;
        memset(&a, 0, sizeof a);
        a.file = (uint16_t)k->file; /* < SP_EV_MAX_FILES (sp_ev_add_file) */
        a.batch = SP_EV_NONE;
        int64_t stream = e->has_stream ? e->stream : e->tid_int ? e->tid : -1;
        /* HTA's GPU events are those with a stream; stream -1 (device-wide syncs) are not */
        if (k->hta && stream == -1)
            return SP_OK;
        MODEL(sp_ev_stream_id(k->ev, stream, &a.stream_ix));
        a.device = (uint32_t)(e->has_device ? e->device : e->pid_int && e->pid >= 0 && e->pid < UINT32_MAX ? e->pid : 0);
        a.correlation = e->has_corr ? e->corr : 0;
        a.kind = e->cat == CAT_KERNEL ? SP_ACT_KERNEL : e->cat == CAT_SYNC ? SP_ACT_SYNC : copy_kind_of(e);
        /* a byte count only on copies and memsets: a kernel's or sync's "bytes" arg is not kept
         * (docs/formats.md, Kineto) */
        if (sp_ev_act_kind_has_bytes(a.kind))
            a.nb.bytes = e->has_bytes ? e->bytes : 0;
        a.hta_end_early = end_early;
        if (e->cat == CAT_KERNEL)
            MODEL(sp_str_intern_cached(&k->ev->strings, &k->names, e->name, e->name_len, &a.nb.name));
        /* times are fixed up after the pass (base, hta shift); stored as int64 bit patterns */
        a.start_ns = (uint64_t)s;
        a.end_ns = (uint64_t)end;
        MODEL(sp_ev_add_activity(k->ev, &a));
        return SP_OK;
    }
    case CAT_RUNTIME: {
        if (!e->has_corr || e->corr == 0)
            return SP_OK;
        MODEL(SP_GROW(k->launches, k->cap_launches, k->n_launches + 1, SP_EV_MAX_RECORDS));
        kt_launch *l = &k->launches[k->n_launches];
        MODEL(sp_str_intern_cached(&k->ev->strings, &k->names, e->name, e->name_len, &l->name));
        l->start = s;
        l->end = end;
        l->corr = e->corr;
        l->thread = e->thread;
        k->n_launches++;
        return SP_OK;
    }
    case CAT_ANNOT:
    case CAT_GPU_ANNOT:
    case CAT_CPU_OP: {
        sp_annot_name a;
        const char *why = NULL;
        int r = annotation_of(k, e, &a, &why);
        if (r == 0 && training_range(e, cat))
            k->ev->files[k->file].training_ranges++;
        if (r == 0)
            return cat == CAT_GPU_ANNOT ? SP_OK : keep_range(k, s, end);
        sp_status st = r < 0 ? SP_ERR_PARSE
                             : sp_annot_set_add(&k->annots, k->ev, &a, s, end, e->thread, cat == CAT_GPU_ANNOT, &why);
        if (st == SP_ERR_PARSE)
            return sp_kt_fail_at(k, SP_ERR_PARSE, open, "annotation \"%.*s\": %s (docs/annotations.md)",
                           (int)(e->name_len > 80 ? 80 : e->name_len), e->name, why);
        if (st)
            return sp_kt_model_fail(k, st);
        return SP_OK;
    }
    default:
        k->ev->files[k->file].ignored++;
        return SP_OK;
    }
}

/* Which events handle_event only counts, decided exactly as it decides: 1 ignored (counted in
 * files[].ignored), 2 nothing kept, 0 anything else (kept, or an error: replayed whole). */
int sp_kt_counted_only(const kt *k, const kt_event *e)
{
    if (e->ph != 'X')
        return e->ph == 0 ? 0 : 1;
    if (!e->has_ts || (k->hta && (!(fabs(e->ts_d) < 4e15) || !(e->dur_d < 4e15))))
        return 0;
    if (e->name_len > 13 && memcmp(e->name, "ProfilerStep#", 13) == 0)
        return 0;
    uint8_t cat = event_cat(e);
    switch (cat) {
    case CAT_KERNEL:
    case CAT_MEMCPY:
    case CAT_MEMSET:
    case CAT_SYNC:
        return 0;
    case CAT_RUNTIME:
        return !e->has_corr || e->corr == 0 ? 2 : 0;
    case CAT_ANNOT:
    case CAT_GPU_ANNOT:
    case CAT_CPU_OP: {
        sp_annot_name a;
        const char *why = NULL;
        int r = annotation_of(k, e, &a, &why);
        if (r != 0 || training_range(e, cat))   /* a training range is counted in the file */
            return 0;
        if (cat != CAT_ANNOT)   /* keep_range keeps a cpu_op only as ProfilerStep#N (above) */
            return 2;
        return sp_mark_name_excluded(e->name, e->name_len) ? 2 : 0;
    }
    default:
        return 1;
    }
}
