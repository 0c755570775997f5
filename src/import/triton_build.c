/* The Triton trace model shared by the readers of Triton's own trace file (triton.c) and of its
 * OpenTelemetry mode (otlp.c): checks a set of traces and builds requests, stages and batches from
 * them (docs/triton.md). Requests that ran in one batch (same model, version and compute window) share
 * one batch, so its device time is counted once, not once per member. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "import/triton_int.h"

static const char *const g_ts_names[SP_TRITON_TS_COUNT] = {
    "REQUEST_START", "QUEUE_START", "COMPUTE_START", "COMPUTE_INPUT_END", "COMPUTE_OUTPUT_START",
    "COMPUTE_END", "REQUEST_END", "HTTP_RECV_START", "HTTP_RECV_END", "HTTP_SEND_START",
    "HTTP_SEND_END", "GRPC_RECV_START", "GRPC_RECV_END", "GRPC_SEND_START", "GRPC_SEND_END"};

const char *sp_triton_ts_name(int which)
{
    return which >= 0 && which < SP_TRITON_TS_COUNT ? g_ts_names[which] : "";
}

int sp_triton_ts_find(const char *s, size_t len)
{
    /* every name read ends in _START or _END: a cheap test before the table */
    if (len < 9 || (s[len - 1] != 'T' && s[len - 1] != 'D'))
        return -1;
    for (int k = 0; k < SP_TRITON_TS_COUNT; k++)
        if (strlen(g_ts_names[k]) == len && memcmp(g_ts_names[k], s, len) == 0)
            return k;
    return -1;
}

/* The pairs whose order is checked, the earlier first. */
static const int g_pairs[][2] = {
    {SP_TRITON_REQUEST_START, SP_TRITON_REQUEST_END}, {SP_TRITON_HTTP_RECV_START, SP_TRITON_HTTP_RECV_END},
    {SP_TRITON_HTTP_SEND_START, SP_TRITON_HTTP_SEND_END}, {SP_TRITON_GRPC_RECV_START, SP_TRITON_GRPC_RECV_END},
    {SP_TRITON_GRPC_SEND_START, SP_TRITON_GRPC_SEND_END}, {SP_TRITON_QUEUE_START, SP_TRITON_COMPUTE_START},
    {SP_TRITON_COMPUTE_START, SP_TRITON_COMPUTE_INPUT_END}, {SP_TRITON_COMPUTE_INPUT_END, SP_TRITON_COMPUTE_OUTPUT_START},
    {SP_TRITON_COMPUTE_OUTPUT_START, SP_TRITON_COMPUTE_END}, {SP_TRITON_COMPUTE_START, SP_TRITON_COMPUTE_END}};

bool sp_triton_ts_misordered(const uint64_t *ts, int *first, int *second)
{
    for (size_t i = 0; i < sizeof g_pairs / sizeof g_pairs[0]; i++) {
        uint64_t a = ts[g_pairs[i][0]], b = ts[g_pairs[i][1]];
        if (a != SP_TIME_NONE && b != SP_TIME_NONE && b < a) {
            *first = g_pairs[i][0];
            *second = g_pairs[i][1];
            return true;
        }
    }
    return false;
}

sp_status sp_triton_skip_or_fail(sp_triton_set *s, sp_status st)
{
    if (st == SP_ERR_NOMEM || st == SP_ERR_LIMIT || st == SP_ERR_IO)
        return st;
    if (!s->lenient) {
        s->ctx->skippable = true;
        return st;
    }
    uint64_t n = ++s->ctx->ev->files[s->ctx->file].skipped;
    if (n <= 10)
        sp_log(SP_LOG_WARN, "skipped malformed %s: %s", s->skipped_what ? s->skipped_what : "Triton trace record",
               s->ctx->err ? s->ctx->err : "");
    return SP_OK;
}

sp_triton_trace *sp_triton_find(sp_triton_set *s, int64_t id)
{
    uint32_t i = sp_hmap_find(&s->ids, (uint64_t)id, NULL, NULL);
    return i == SP_HMAP_NONE ? NULL : &s->tr[i];
}

sp_status sp_triton_trace_ref(sp_triton_set *s, int64_t id, uint32_t line, uint32_t column, sp_triton_trace **out)
{
    sp_triton_trace *found = sp_triton_find(s, id);
    if (found) {
        *out = found;
        return SP_OK;
    }
    if (s->n >= SP_TRITON_MAX_TRACES)
        return sp_import_fail_at(s->ctx, line, column, SP_ERR_LIMIT, "more than %u trace ids in one file",
                                 SP_TRITON_MAX_TRACES);
    if (SP_GROW(s->tr, s->cap, s->n + 1, SP_TRITON_MAX_TRACES) || sp_hmap_put(&s->ids, (uint64_t)id, (uint32_t)s->n))
        return SP_ERR_NOMEM;
    sp_triton_trace *r = &s->tr[s->n];
    memset(r, 0, sizeof *r);
    r->id = id;
    r->model = r->version = r->label = SP_EV_NONE;
    for (int k = 0; k < SP_TRITON_TS_COUNT; k++)
        r->ts[k] = SP_TIME_NONE;
    r->span_start = r->span_end = SP_TIME_NONE;
    r->line = line;
    r->column = column;
    r->req = SP_EV_NONE;
    s->n++;
    *out = r;
    return SP_OK;
}

void sp_triton_set_free(sp_triton_set *s)
{
    free(s->tr);
    s->tr = NULL;
    s->n = s->cap = 0;
    sp_hmap_free(&s->ids);
}

/* How messages name trace r: "trace id 7" (Triton's own file), or the reader's label. */
static const char *label_of(sp_triton_set *s, const sp_triton_trace *r, char *buf, size_t n)
{
    if (r->label != SP_EV_NONE)
        return sp_str_get(&s->ctx->ev->strings, r->label);
    snprintf(buf, n, "trace id %lld", (long long)r->id);
    return buf;
}

/* The root of a trace: parents are followed while they exist in the file (a parent missing from the
 * file, e.g. in a rotated trace file, makes the child its own root). NULL on a cycle or too deep. */
static sp_triton_trace *root_of(sp_triton_set *t, sp_triton_trace *r)
{
    for (int d = 0; d < SP_TRITON_MAX_DEPTH; d++) {
        sp_triton_trace *p = r->parent ? sp_triton_find(t, r->parent) : NULL;
        if (!p)
            return r;
        r = p;
    }
    return NULL;
}

static uint64_t tmin(uint64_t a, uint64_t b)
{
    return a == SP_TIME_NONE ? b : b == SP_TIME_NONE ? a : a < b ? a : b;
}

static uint64_t tmax(uint64_t a, uint64_t b)
{
    return a == SP_TIME_NONE ? b : b == SP_TIME_NONE ? a : a > b ? a : b;
}

/* A root's arrival and done: the earliest start and the latest end timestamp (docs/triton.md), else
 * the reader's span times. */
static uint64_t arrival_of(const sp_triton_trace *r)
{
    uint64_t a = tmin(tmin(r->ts[SP_TRITON_REQUEST_START], r->ts[SP_TRITON_HTTP_RECV_START]),
                      r->ts[SP_TRITON_GRPC_RECV_START]);
    return a != SP_TIME_NONE ? a : r->span_start;
}

static uint64_t done_of(const sp_triton_trace *r)
{
    uint64_t d = tmax(tmax(r->ts[SP_TRITON_REQUEST_END], r->ts[SP_TRITON_HTTP_SEND_END]), r->ts[SP_TRITON_GRPC_SEND_END]);
    return d != SP_TIME_NONE ? d : r->span_end;
}

/* Checks a trace's timestamps; a message names the first pair out of order. */
static sp_status check_trace(sp_triton_set *t, sp_triton_trace *r, bool is_root)
{
    char lb[48];
    const char *who = label_of(t, r, lb, sizeof lb);
    int x, y;
    if (sp_triton_ts_misordered(r->ts, &x, &y))
        return sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "%s: %s (%llu) is before %s (%llu)", who,
                                 g_ts_names[y], (unsigned long long)r->ts[y], g_ts_names[x],
                                 (unsigned long long)r->ts[x]);
    if ((r->ts[SP_TRITON_COMPUTE_START] == SP_TIME_NONE) != (r->ts[SP_TRITON_COMPUTE_END] == SP_TIME_NONE))
        return sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "%s has %s but no %s", who,
                                 r->ts[SP_TRITON_COMPUTE_START] == SP_TIME_NONE ? "COMPUTE_END" : "COMPUTE_START",
                                 r->ts[SP_TRITON_COMPUTE_START] == SP_TIME_NONE ? "COMPUTE_START" : "COMPUTE_END");
    if (r->ts[SP_TRITON_COMPUTE_START] != SP_TIME_NONE && r->model == SP_EV_NONE)
        return sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "%s has compute timestamps but no "
                                 "\"model_name\"", who);
    if (is_root) {
        uint64_t arrival = arrival_of(r), done = done_of(r);
        if (arrival == SP_TIME_NONE || done == SP_TIME_NONE) {
            /* say why, where the file shows it: no timestamps at all (traced without level=TIMESTAMPS),
             * or timestamps under names this importer does not read (e.g. an old release's) */
            char why[200] = "";
            if (!r->any_ts)
                snprintf(why, sizeof why, "; it has no timestamps at all: Triton writes them under "
                         "--trace-config level=TIMESTAMPS");
            else if (t->unknown_ts[0])
                snprintf(why, sizeof why, "; the file's timestamps have lower-case names with no "
                         "equivalent read here, e.g. \"%s\" (docs/triton.md, \"Older releases\")", t->unknown_ts);
            return sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "%s has no %s (expected REQUEST_START "
                                     "and REQUEST_END, or HTTP/GRPC receive and send times)%s", who,
                                     arrival == SP_TIME_NONE ? "start" : "end", why);
        }
        if (done < arrival)
            return sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "%s ends (%llu) before it starts (%llu)",
                                     who, (unsigned long long)done, (unsigned long long)arrival);
    }
    return SP_OK;
}

/* A batch as grouped: requests whose traces share model, version and compute window. */
typedef struct tgroup {
    sp_str model, version;
    uint64_t start, end;
    uint32_t first;          /* the trace that opened it */
    uint32_t batch;          /* index into ev->batches */
} tgroup;

typedef struct tmember {
    uint32_t group, req;
} tmember;

static int member_cmp(const void *a, const void *b)
{
    const tmember *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return x->req < y->req ? -1 : x->req > y->req;
}

/* Groups are keyed by a hash of (model, version, start, end), confirmed against the group. */
static uint64_t group_hash(const tgroup *g)
{
    uint64_t k[4] = {g->model, g->version, g->start, g->end};
    return sp_hash_bytes(k, sizeof k, 0x6270);
}

struct group_probe {
    const tgroup *groups, *want;
};

static bool group_eq(const void *ctx, uint32_t g)
{
    const struct group_probe *p = ctx;
    const tgroup *x = &p->groups[g], *y = p->want;
    return x->model == y->model && x->version == y->version && x->start == y->start && x->end == y->end;
}

static sp_status add_act(struct sp_events *ev, uint32_t file, uint8_t kind, sp_str name, uint32_t batch,
                         uint64_t start, uint64_t end)
{
    if (end <= start)
        return SP_OK;   /* an empty phase is no device work */
    sp_ev_activity a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    if (kind == SP_ACT_KERNEL)
        a.nb.name = name;   /* the copies have none (SP_EV_NONE) */
    a.batch = batch;
    a.file = (uint16_t)file; /* < SP_EV_MAX_FILES (sp_ev_add_file) */
    sp_status st = sp_ev_stream_id(ev, 0, &a.stream_ix);
    if (st)
        return st;
    a.start_ns = start;
    a.end_ns = end;
    return sp_ev_add_activity(ev, &a);
}

static sp_status add_stage(struct sp_events *ev, uint32_t req, sp_str name, uint64_t a, uint64_t b)
{
    if (a == SP_TIME_NONE || b == SP_TIME_NONE)
        return SP_OK;
    return sp_ev_add_span(ev, req, name, a, b);
}

sp_status sp_triton_build(sp_triton_set *t)
{
    struct sp_events *ev = t->ctx->ev;
    const uint32_t file = t->ctx->file;
    sp_known_stages ks;
    sp_ev_known_stages(ev, &ks);
    sp_str s_receive, s_send;
    sp_status st;
    if ((st = sp_str_intern(&ev->strings, "receive", 7, &s_receive)) ||
        (st = sp_str_intern(&ev->strings, "send", 4, &s_send)))
        return st;
    char lb[48];
    /* pass 1: check every trace (roots and children), create the root requests */
    for (size_t i = 0; i < t->n; i++) {
        sp_triton_trace *r = &t->tr[i];
        sp_triton_trace *root = root_of(t, r);
        if (!root)
            st = sp_import_fail_at(t->ctx, r->line, r->column, SP_ERR_PARSE, "%s: %s chain loops or is deeper "
                                   "than %d", label_of(t, r, lb, sizeof lb),
                                   r->label == SP_EV_NONE ? "parent_id" : "parent span", SP_TRITON_MAX_DEPTH);
        else
            st = check_trace(t, r, root == r);
        if (st) {
            r->bad = true;
            if ((st = sp_triton_skip_or_fail(t, st)))
                return st;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        sp_triton_trace *r = &t->tr[i];
        if (r->bad || root_of(t, r) != r)
            continue;
        if (t->request_ref) {
            st = t->request_ref(t->request_arg, r, &r->req);
        } else {
            char id[32];
            int n = snprintf(id, sizeof id, "%lld", (long long)r->id);
            st = sp_ev_request_ref(ev, file, id, (size_t)n, &r->req);
        }
        if (st)
            return st;
        sp_ev_request *q = &ev->requests[r->req];
        q->arrival_ns = arrival_of(r);
        q->done_ns = done_of(r);
        q->in_tokens = -1;
        q->has_record = true;
    }
    /* pass 2: stages and compute windows of every good trace, on its root's request */
    tgroup *groups = NULL;
    size_t ngroups = 0, capg = 0;
    tmember *mem = NULL;
    size_t nmem = 0, capm = 0;
    sp_hmap gmap;            /* group_hash -> index into groups */
    memset(&gmap, 0, sizeof gmap);
    for (size_t i = 0; i < t->n && st == SP_OK; i++) {
        sp_triton_trace *r = &t->tr[i];
        sp_triton_trace *root = r->bad ? NULL : root_of(t, r);
        if (!root || root->bad)
            continue;   /* a skipped root takes its children with it */
        uint32_t req = root->req;
        if ((st = add_stage(ev, req, s_receive, r->ts[SP_TRITON_HTTP_RECV_START], r->ts[SP_TRITON_HTTP_RECV_END])) ||
            (st = add_stage(ev, req, s_receive, r->ts[SP_TRITON_GRPC_RECV_START], r->ts[SP_TRITON_GRPC_RECV_END])) ||
            (st = add_stage(ev, req, ks.queue, r->ts[SP_TRITON_QUEUE_START], r->ts[SP_TRITON_COMPUTE_START])) ||
            (st = add_stage(ev, req, s_send, r->ts[SP_TRITON_HTTP_SEND_START], r->ts[SP_TRITON_HTTP_SEND_END])) ||
            (st = add_stage(ev, req, s_send, r->ts[SP_TRITON_GRPC_SEND_START], r->ts[SP_TRITON_GRPC_SEND_END])))
            break;
        uint64_t cs = r->ts[SP_TRITON_COMPUTE_START], ce = r->ts[SP_TRITON_COMPUTE_END];
        if (cs == SP_TIME_NONE)
            continue;
        /* find or open the group */
        tgroup want = {r->model, r->version, cs, ce, (uint32_t)i, SP_EV_NONE};
        uint64_t gh = group_hash(&want);
        struct group_probe gp = {groups, &want};
        uint32_t g = sp_hmap_find(&gmap, gh, group_eq, &gp);
        if (g == SP_HMAP_NONE) {
            if ((st = SP_GROW(groups, capg, ngroups + 1, SP_TRITON_MAX_TRACES)) ||
                (st = sp_hmap_put(&gmap, gh, (uint32_t)ngroups)))
                break;
            g = (uint32_t)ngroups++;
            groups[g] = want;
            /* batch ids count groups in the order their first trace appears in the file */
            if ((st = sp_ev_batch_ref(ev, file, t->first_batch_id + (int64_t)g, &groups[g].batch)))
                break;
            sp_ev_batch *b = &ev->batches[groups[g].batch];
            b->start_ns = cs;
            b->end_ns = ce;
            b->effective_tokens = b->padded_tokens = -1;
            b->has_record = true;
            const char *mname = sp_str_get(&ev->strings, r->model);
            char kname[SP_TRITON_NAME_MAX + 8];
            int kn = snprintf(kname, sizeof kname, "%s infer", mname);
            sp_str kid;
            if ((st = sp_str_intern(&ev->strings, kname, (size_t)kn, &kid)))
                break;
            uint64_t cie = r->ts[SP_TRITON_COMPUTE_INPUT_END], cos = r->ts[SP_TRITON_COMPUTE_OUTPUT_START];
            if (cie != SP_TIME_NONE && cos != SP_TIME_NONE && cie <= cos) {
                /* compute input copies the inputs to the device; compute output copies them back */
                if ((st = add_act(ev, file, SP_ACT_H2D, SP_EV_NONE, groups[g].batch, cs, cie)) ||
                    (st = add_act(ev, file, SP_ACT_KERNEL, kid, groups[g].batch, cie, cos)) ||
                    (st = add_act(ev, file, SP_ACT_D2H, SP_EV_NONE, groups[g].batch, cos, ce)))
                    break;
            } else if ((st = add_act(ev, file, SP_ACT_KERNEL, kid, groups[g].batch, cs, ce))) {
                break;
            }
        }
        if ((st = SP_GROW(mem, capm, nmem + 1, SP_TRITON_MAX_TRACES)))
            break;
        mem[nmem++] = (tmember){g, req};
    }
    if (st == SP_OK && nmem) {
        qsort(mem, nmem, sizeof *mem, member_cmp);
        uint32_t *reqs = malloc(nmem * sizeof *reqs);
        if (!reqs)
            st = SP_ERR_NOMEM;
        for (size_t a = 0; a < nmem && st == SP_OK;) {
            size_t b = a, k = 0;
            for (; b < nmem && mem[b].group == mem[a].group; b++)
                if (k == 0 || reqs[k - 1] != mem[b].req)   /* a request once per batch */
                    reqs[k++] = mem[b].req;
            st = sp_ev_batch_set_members(ev, groups[mem[a].group].batch, reqs, k);
            a = b;
        }
        free(reqs);
    }
    free(groups);
    sp_hmap_free(&gmap);
    free(mem);
    return st;
}

