/* Chrome-trace JSON export that ui.perfetto.dev (and chrome://tracing) opens: requests with their
 * stage spans and batch windows nested under them, batches with their members, host launch calls,
 * and kernels and copies on one track per device stream; flow arrows from each request to its
 * batches and from each batch to its device work; counter tracks (perfetto_counters.c). It exports
 * the events themselves, read through the model's read-only view (model/events_view.h). Events
 * stream straight to the FILE; the memory held is one sort index per kind of row-packed slice and
 * the rows of requests and batches, for the arrows. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"
#include "common/util_int.h"
#include "report/perfetto_int.h"

#define MAX_TID 999999
/* Device stream tracks we name with metadata; past this many distinct (device, stream) pairs the
 * tracks still appear, unnamed, so memory stays bounded whatever the input. */
#define NAMED_TRACKS_MAX 8192u

/* Opens a complete ("X") slice; the caller writes any ",\"args\":{...}" and the closing brace. */
static void pf_slice(pf_writer *w, const char *name, const char *cat, int64_t pid, int64_t tid, uint64_t start,
                     uint64_t end)
{
    pf_begin(w);
    fputs("{\"ph\":\"X\",\"name\":", w->out);
    sp_json_write_str(w->out, name, 0); /* whole: ids and names are capped; demangled C++ names are long */
    fprintf(w->out, ",\"cat\":\"%s\",\"pid\":%" PRId64 ",\"tid\":%" PRId64 ",\"ts\":", cat, pid, tid);
    pf_ts(w, start);
    fputs(",\"dur\":", w->out);
    sp_rep_json_us(w->out, end > start ? end - start : 0);
}

static void pf_meta_name(pf_writer *w, const char *what, int64_t pid, int64_t tid, const char *name)
{
    pf_begin(w);
    fprintf(w->out, "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%" PRId64 ",\"tid\":%" PRId64 ",\"args\":{\"name\":",
            what, pid, tid);
    sp_json_write_str(w->out, name, 512);
    fputs("}}", w->out);
}

static void pf_meta_sort(pf_writer *w, const char *what, int64_t pid, int64_t tid, int64_t index)
{
    pf_begin(w);
    fprintf(w->out,
            "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%" PRId64 ",\"tid\":%" PRId64
            ",\"args\":{\"sort_index\":%" PRId64 "}}",
            what, pid, tid, index);
}

static void pf_process(pf_writer *w, int64_t pid, const char *name)
{
    pf_meta_name(w, "process_name", pid, 0, name);
    pf_meta_sort(w, "process_sort_index", pid, 0, pid);
}

/* ---- packing slices into rows so that no two on one row overlap ---- */

/* A slice to place; equal (start, end) slices are ordered by a key of what they show (a request's id
 * text and file, a batch's file and id, a launch's name, correlation and file), never by their index,
 * which follows the order of lines in the trace (docs/analysis.md, "Ties"). */
typedef struct pf_item {
    uint64_t start, end;
    const char *tie_s;       /* NULL: "" */
    uint64_t tie_i;          /* a batch id maps to id ^ 2^63, which keeps the signed order */
    uint32_t tie_f;
    uint32_t idx;
    uint32_t row;
} pf_item;

static int item_cmp(const void *a, const void *b)
{
    const pf_item *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end > y->end ? -1 : 1;
    int c = strcmp(x->tie_s ? x->tie_s : "", y->tie_s ? y->tie_s : "");
    if (c)
        return c;
    if (x->tie_i != y->tie_i)
        return x->tie_i < y->tie_i ? -1 : 1;
    if (x->tie_f != y->tie_f)
        return x->tie_f < y->tie_f ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx); /* the same record twice: either order prints the same */
}

typedef struct pf_row {
    uint64_t end;
    uint32_t row;
} pf_row;

static int row_less(const pf_row *a, const pf_row *b)
{
    return a->end < b->end || (a->end == b->end && a->row < b->row);
}

static void heap_down(pf_row *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && row_less(&h[l], &h[m]))
            m = l;
        if (r < n && row_less(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        pf_row t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(pf_row *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!row_less(&h[i], &h[p]))
            return;
        pf_row t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* Sorts `items` by start and gives each the lowest-ending free row (a new one when none is free).
 * Writes the number of rows to *nrows. */
static sp_status pack_rows(pf_item *items, size_t n, uint32_t *nrows)
{
    qsort(items, n, sizeof *items, item_cmp);
    pf_row *heap = malloc((n ? n : 1) * sizeof *heap);
    if (!heap)
        return SP_ERR_NOMEM;
    size_t hn = 0;
    uint32_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        if (hn && heap[0].end <= items[i].start) {
            items[i].row = heap[0].row;
            heap[0].end = items[i].end;
            heap_down(heap, hn, 0);
        } else {
            items[i].row = rows++;
            heap[hn] = (pf_row){items[i].end, items[i].row};
            heap_up(heap, hn++);
        }
    }
    free(heap);
    *nrows = rows;
    return SP_OK;
}

static void name_rows(pf_writer *w, int64_t pid, uint32_t rows, const char *what)
{
    char name[64];
    for (uint32_t i = 0; i < rows && i < NAMED_TRACKS_MAX; i++) {
        snprintf(name, sizeof name, "%s %" PRIu32, what, i);
        pf_meta_name(w, "thread_name", pid, i, name);
        pf_meta_sort(w, "thread_sort_index", pid, i, i);
    }
}

/* Fills *out with the slice of record i of one kind and returns 1, or returns 0 when the record draws
 * no slice. */
typedef int (*pf_item_of)(const sp_events *ev, size_t i, pf_item *out);

/* Draws one packed item (its record is item->idx, its row item->row). */
typedef void (*pf_draw)(pf_writer *w, const pf_item *item);

/* The slices of one kind of record (nrec of them), packed into rows, with their track named `process`
 * and its rows "`rows_name` N": `draw` writes each in row-packing order, until a write fails. Writes
 * nothing when no record draws a slice. */
static sp_status pf_track(pf_writer *w, size_t nrec, pf_item_of item_of, int64_t pid, const char *process,
                          const char *rows_name, pf_draw draw)
{
    pf_item tmp;
    size_t count = 0;
    for (size_t i = 0; i < nrec; i++)
        count += (size_t)item_of(w->ev, i, &tmp);
    if (!count)
        return SP_OK;
    pf_item *it = malloc(count * sizeof *it);
    if (!it)
        return SP_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < nrec; i++)
        k += (size_t)item_of(w->ev, i, &it[k]);
    uint32_t rows;
    sp_status st = pack_rows(it, count, &rows);
    if (st) {
        free(it);
        return st;
    }
    pf_process(w, pid, process);
    name_rows(w, pid, rows, rows_name);
    for (size_t i = 0; i < count && !ferror(w->out); i++) /* stop at the first failed write */
        draw(w, &it[i]);
    free(it);
    return ferror(w->out) ? SP_ERR_IO : SP_OK;
}

/* ---- the event kinds ---- */

/* "r17", or "r17 (file 2)" when several files are loaded (ids are per file). */
static void request_label(const pf_writer *w, const sp_view_request *rq, char *buf, size_t len)
{
    if (w->n_files > 1)
        snprintf(buf, len, "%.400s (file %" PRIu32 ")", rq->id, rq->file);
    else
        snprintf(buf, len, "%.400s", rq->id);
}

/* A request with a record and a well-formed [arrival, done]: one slice on the requests track. */
static int request_drawn(const sp_view_request *rq)
{
    return rq->has_record && rq->arrival_ns != SP_VIEW_NO_TIME && rq->done_ns != SP_VIEW_NO_TIME &&
           rq->done_ns >= rq->arrival_ns;
}

/* A request's client slice starts at its intended send time, else its actual send. */
static uint64_t client_start(const sp_view_request *rq)
{
    return rq->client_intended_ns != SP_VIEW_NO_TIME ? rq->client_intended_ns : rq->client_send_ns;
}

static int client_drawn(const sp_view_request *rq)
{
    uint64_t s = client_start(rq);
    return s != SP_VIEW_NO_TIME && rq->client_done_ns != SP_VIEW_NO_TIME && rq->client_done_ns >= s;
}

static int batch_drawn(const sp_view_batch *b)
{
    return b->has_record && b->start_ns != SP_VIEW_NO_TIME && b->end_ns != SP_VIEW_NO_TIME &&
           b->end_ns >= b->start_ns;
}

static uint64_t mid(uint64_t s, uint64_t e)
{
    return e > s ? s + (e - s) / 2 : s;
}

/* One flow arrow (Chrome trace flow events): "s" binds to the slice that encloses `ts_from` on track
 * (pid_from, tid_from), "f" with bind point "e" to the slice that encloses `ts_to` on its track. The
 * callers give times inside the slices (their middles), never on an edge, where which of two abutting
 * slices encloses a time would be ambiguous. */
static void pf_flow(pf_writer *w, const char *name, int64_t pid_from, int64_t tid_from, uint64_t ts_from,
                    int64_t pid_to, int64_t tid_to, uint64_t ts_to)
{
    uint64_t id = ++w->next_flow;
    pf_begin(w);
    fprintf(w->out, "{\"ph\":\"s\",\"id\":%" PRIu64 ",\"name\":\"%s\",\"cat\":\"flow\",\"pid\":%" PRId64
            ",\"tid\":%" PRId64 ",\"ts\":", id, name, pid_from, tid_from);
    pf_ts(w, ts_from);
    fputs("}", w->out);
    pf_begin(w);
    fprintf(w->out, "{\"ph\":\"f\",\"bp\":\"e\",\"id\":%" PRIu64 ",\"name\":\"%s\",\"cat\":\"flow\",\"pid\":%" PRId64
            ",\"tid\":%" PRId64 ",\"ts\":", id, name, pid_to, tid_to);
    pf_ts(w, ts_to);
    fputs("}", w->out);
}

/* One child slice of a request, clipped to the request and to the end of the previous child so the
 * slices nest strictly (the JSON importer drops slices that overlap without nesting). The true
 * times stay in args. With `flows`, writes instead, for a batch child (batch index `bidx`), the arrow
 * from the child as drawn to the batch's own slice. Returns the new "previous end". */
static uint64_t request_child(pf_writer *w, const sp_view_request *rq, uint32_t row, uint64_t prev_end,
                              const char *name, const char *cat, uint64_t start, uint64_t end,
                              int64_t batch_id, uint32_t bidx, int flows)
{
    uint64_t s = start < rq->arrival_ns ? rq->arrival_ns : start;
    uint64_t e = end > rq->done_ns ? rq->done_ns : end;
    if (s < prev_end)
        s = prev_end;
    if (e <= s)
        return prev_end;
    if (flows) {
        if (batch_id != INT64_MIN && w->batch_row[bidx] != UINT32_MAX)
            pf_flow(w, "request -> batch", PID_REQUESTS, row, mid(s, e), PID_BATCHES, w->batch_row[bidx],
                    mid(start, end));
        return e;
    }
    pf_slice(w, name, cat, PID_REQUESTS, row, s, e);
    fprintf(w->out, ",\"args\":{\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64, start, end);
    if (batch_id != INT64_MIN)
        fprintf(w->out, ",\"batch\":%" PRId64, batch_id);
    fputs("}}", w->out);
    return e;
}

/* The request's children: stage spans and batch windows, merged in start order (both lists are sorted
 * by sp_ev_finish); with `flows`, the arrows from its batch children instead (request_child). */
static void request_children(pf_writer *w, size_t idx, const sp_view_request *rq, uint32_t row, int flows)
{
    char name[64];
    uint32_t si = 0, bi = 0;
    uint64_t prev_end = rq->arrival_ns;
    sp_view_span sp;
    sp_view_batch b;
    while (si < rq->n_spans || bi < rq->n_batches) {
        int have_sp = si < rq->n_spans, have_b = bi < rq->n_batches;
        if (have_sp)
            sp_view_request_span(w->ev, idx, si, &sp);
        uint32_t bidx = have_b ? sp_view_request_batch(w->ev, idx, bi) : 0;
        if (have_b)
            sp_view_batch_at(w->ev, bidx, &b);
        if (have_sp && (!have_b || sp.start_ns <= b.start_ns)) {
            prev_end = request_child(w, rq, row, prev_end, sp.stage, "stage", sp.start_ns, sp.end_ns, INT64_MIN, 0,
                                     flows);
            si++;
        } else {
            snprintf(name, sizeof name, "batch %" PRId64, b.id);
            prev_end = request_child(w, rq, row, prev_end, name, "batch", b.start_ns, b.end_ns, b.id, bidx, flows);
            bi++;
        }
    }
}

static int request_item(const sp_events *ev, size_t i, pf_item *out)
{
    sp_view_request rq;
    sp_view_request_at(ev, i, &rq);
    if (!request_drawn(&rq))
        return 0;
    *out = (pf_item){rq.arrival_ns, rq.done_ns, rq.id, 0, rq.file, (uint32_t)i, 0};
    return 1;
}

static void request_draw(pf_writer *w, const pf_item *item)
{
    sp_view_request rq;
    char label[512];
    sp_view_request_at(w->ev, item->idx, &rq);
    uint32_t row = item->row;
    request_label(w, &rq, label, sizeof label);
    pf_slice(w, label, "request", PID_REQUESTS, row, rq.arrival_ns, rq.done_ns);
    fputs(",\"args\":{\"id\":", w->out);
    sp_json_write_str(w->out, rq.id, 0);
    fprintf(w->out, ",\"file\":%" PRIu32 ",\"latency_us\":", rq.file);
    sp_rep_json_us(w->out, rq.done_ns - rq.arrival_ns);
    if (rq.input_tokens >= 0)
        fprintf(w->out, ",\"input_tokens\":%" PRId64, rq.input_tokens);
    if (rq.outcome != SP_OUTCOME_OK) /* DESIGN 8a: a rejected, failed or cancelled request says so */
        fprintf(w->out, ",\"outcome\":\"%s\",\"status\":%" PRId32, sp_outcome_str(rq.outcome), rq.status);
    fputs("}}", w->out);
    request_children(w, item->idx, &rq, row, 0);
    w->req_row[item->idx] = row;
    w->req_order[w->n_drawn++] = item->idx;
}

static sp_status write_requests(pf_writer *w)
{
    return pf_track(w, sp_view_requests(w->ev), request_item, PID_REQUESTS, "requests (server: arrival -> done)",
                    "requests", request_draw);
}

static int client_item(const sp_events *ev, size_t i, pf_item *out)
{
    sp_view_request rq;
    sp_view_request_at(ev, i, &rq);
    if (!client_drawn(&rq))
        return 0;
    *out = (pf_item){client_start(&rq), rq.client_done_ns, rq.id, 0, rq.file, (uint32_t)i, 0};
    return 1;
}

static void client_draw(pf_writer *w, const pf_item *item)
{
    sp_view_request rq;
    char label[512];
    sp_view_request_at(w->ev, item->idx, &rq);
    request_label(w, &rq, label, sizeof label);
    pf_slice(w, label, "client", PID_CLIENT, item->row, item->start, item->end);
    fputs(",\"args\":{\"id\":", w->out);
    sp_json_write_str(w->out, rq.id, 0);
    if (rq.client_intended_ns != SP_VIEW_NO_TIME)
        fprintf(w->out, ",\"intended_ns\":%" PRIu64, rq.client_intended_ns);
    if (rq.client_send_ns != SP_VIEW_NO_TIME)
        fprintf(w->out, ",\"send_ns\":%" PRIu64, rq.client_send_ns);
    fprintf(w->out, ",\"done_ns\":%" PRIu64 "}}", rq.client_done_ns);
    /* the wait before the actual send (coordinated omission made visible) */
    if (rq.client_intended_ns != SP_VIEW_NO_TIME && rq.client_send_ns != SP_VIEW_NO_TIME &&
        rq.client_send_ns > rq.client_intended_ns && rq.client_send_ns <= rq.client_done_ns) {
        pf_slice(w, "send delay", "client", PID_CLIENT, item->row, rq.client_intended_ns, rq.client_send_ns);
        fputs("}", w->out);
    }
}

static sp_status write_client(pf_writer *w)
{
    return pf_track(w, sp_view_requests(w->ev), client_item, PID_CLIENT,
                    "client (load generator: intended send -> response, on the server clock)", "client", client_draw);
}

/* One batch slice's args: id, file, device, size, tokens, waste and the members' ids. */
static void batch_args(pf_writer *w, size_t idx, const sp_view_batch *b)
{
    fprintf(w->out, ",\"args\":{\"id\":%" PRId64 ",\"file\":%" PRIu32 ",\"device\":%" PRIu32 ",\"size\":%" PRIu32,
            b->id, b->file, b->device, b->n_members);
    if (b->effective_tokens >= 0)
        fprintf(w->out, ",\"effective_tokens\":%" PRId64, b->effective_tokens);
    if (b->padded_tokens >= 0)
        fprintf(w->out, ",\"padded_tokens\":%" PRId64, b->padded_tokens);
    if (b->effective_tokens >= 0 && b->padded_tokens > 0) {
        fputs(",\"waste\":", w->out);
        /* DESIGN section 5: waste = 1 - effective/padded */
        sp_rep_json_num(w->out, 1.0 - (double)b->effective_tokens / (double)b->padded_tokens, 6);
    }
    fputs(",\"members\":[", w->out);
    sp_view_request rq;
    for (uint32_t m = 0; m < b->n_members; m++) {
        uint32_t q = sp_view_batch_member(w->ev, idx, m);
        if (m)
            putc(',', w->out);
        if (q != SP_VIEW_NONE)
            sp_view_request_at(w->ev, q, &rq);
        sp_json_write_str(w->out, q != SP_VIEW_NONE ? rq.id : "?", 0);
    }
    fputs("]}}", w->out);
}

static int batch_item(const sp_events *ev, size_t i, pf_item *out)
{
    sp_view_batch b;
    sp_view_batch_at(ev, i, &b);
    if (!batch_drawn(&b))
        return 0;
    *out = (pf_item){b.start_ns, b.end_ns, NULL, (uint64_t)b.id ^ (1ull << 63), b.file, (uint32_t)i, 0};
    return 1;
}

static void batch_draw(pf_writer *w, const pf_item *item)
{
    sp_view_batch b;
    char name[96];
    sp_view_batch_at(w->ev, item->idx, &b);
    if (w->n_files > 1)
        snprintf(name, sizeof name, "batch %" PRId64 " (file %" PRIu32 ")", b.id, b.file);
    else
        snprintf(name, sizeof name, "batch %" PRId64, b.id);
    pf_slice(w, name, "batch", PID_BATCHES, item->row, b.start_ns, b.end_ns);
    batch_args(w, item->idx, &b);
    w->batch_row[item->idx] = item->row;
}

static sp_status write_batches(pf_writer *w)
{
    return pf_track(w, sp_view_batches(w->ev), batch_item, PID_BATCHES, "batches (dispatch -> outputs on host)",
                    "batches", batch_draw);
}

/* Arrows from each drawn request's batch windows to the batches' own slices. */
static sp_status write_request_flows(pf_writer *w)
{
    sp_view_request rq;
    for (size_t k = 0; k < w->n_drawn && !ferror(w->out); k++) {
        uint32_t i = w->req_order[k];
        sp_view_request_at(w->ev, i, &rq);
        if (rq.n_batches)
            request_children(w, i, &rq, w->req_row[i], 1);
    }
    return ferror(w->out) ? SP_ERR_IO : SP_OK;
}

static int launch_item(const sp_events *ev, size_t i, pf_item *out)
{
    sp_view_launch l;
    sp_view_launch_at(ev, i, &l);
    *out = (pf_item){l.start_ns, l.end_ns >= l.start_ns ? l.end_ns : l.start_ns, l.name, l.correlation, l.file,
                     (uint32_t)i, 0};
    return 1;
}

static void launch_draw(pf_writer *w, const pf_item *item)
{
    sp_view_launch l;
    sp_view_launch_at(w->ev, item->idx, &l);
    pf_slice(w, l.name[0] ? l.name : "launch", "launch", PID_LAUNCHES, item->row, item->start, item->end);
    fprintf(w->out, ",\"args\":{\"correlation\":%" PRIu64 "}}", l.correlation);
}

static sp_status write_launches(pf_writer *w)
{
    return pf_track(w, sp_view_launches(w->ev), launch_item, PID_LAUNCHES, "host launch calls", "launches",
                    launch_draw);
}

/* Adds a (pid, tid) track to the set of those already named (the common map as a set), at most
 * NAMED_TRACKS_MAX of them. Returns 1 when it was new and added, 0 when seen before or the set is
 * full, -1 without memory. */
static int trackset_add(sp_hmap *s, uint64_t key)
{
    if (sp_hmap_find(s, key, NULL, NULL) != SP_HMAP_NONE || s->count >= NAMED_TRACKS_MAX)
        return 0;
    return sp_hmap_put(s, key, 0) == SP_OK ? 1 : -1;
}

/* Kernel names as every report shows them (sp_demangle), each demangled once: the view's names are
 * the set's interned strings, so one pointer is one name. */
typedef struct pf_names {
    sp_hmap of;     /* (uintptr_t) name -> index into shown */
    char **shown;   /* the demangled text, or NULL: the name is shown as it is */
    size_t n, cap;
} pf_names;

/* The name kernel name `name` is shown as; *demangled says whether it differs. SP_ERR_NOMEM. */
static sp_status pf_kernel_name(pf_names *c, const char *name, const char **out, int *demangled)
{
    uint64_t key = (uint64_t)(uintptr_t)name;
    uint32_t k = sp_hmap_find(&c->of, key, NULL, NULL);
    if (k == SP_HMAP_NONE) {
        sp_status st = SP_GROW(c->shown, c->cap, c->n + 1, UINT32_MAX - 1);
        if (st || (st = sp_hmap_put(&c->of, key, (uint32_t)c->n)))
            return st;
        char *text = NULL;
        size_t len = sp_demangle(name, NULL, 0);
        if (len && (text = malloc(len + 1)) == NULL)
            return SP_ERR_NOMEM;
        if (text)
            sp_demangle(name, text, len + 1);
        k = (uint32_t)c->n;
        c->shown[c->n++] = text;
    }
    *demangled = c->shown[k] != NULL;
    *out = c->shown[k] ? c->shown[k] : name;
    return SP_OK;
}

static void pf_names_free(pf_names *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->shown[i]);
    free(c->shown);
    sp_hmap_free(&c->of);
}

static const char *act_name(const sp_view_activity *a)
{
    switch (a->kind) {
    case SP_ACT_KERNEL: return a->name[0] ? a->name : "kernel";
    case SP_ACT_H2D: return "memcpy h2d";
    case SP_ACT_D2H: return "memcpy d2h";
    case SP_ACT_D2D: return "memcpy d2d";
    case SP_ACT_MEMSET: return "memset";
    case SP_ACT_COPY_OTHER: return "memcpy other";
    case SP_ACT_SYNC: return "sync";
    }
    return "activity";
}

/* Names the process and thread track of an activity the first time one is seen (up to the caps).
 * Returns SP_ERR_NOMEM when the sets cannot grow. */
static sp_status device_tracks(pf_writer *w, sp_hmap *procs, sp_hmap *named, const sp_view_activity *a, uint32_t dev,
                               int64_t pid, int64_t tid)
{
    char pname[128], tname[64];
    int added = trackset_add(procs, (uint64_t)pid << 24);
    if (added > 0) {
        if (w->n_files > 1)
            snprintf(pname, sizeof pname, "device %" PRIu32 "%s (file %" PRIu32 ")", dev,
                     dev == DEVICES_PER_FILE - 1 ? "+" : "", a->file);
        else
            snprintf(pname, sizeof pname, "device %" PRIu32 "%s", dev, dev == DEVICES_PER_FILE - 1 ? "+" : "");
        pf_process(w, pid, pname);
    }
    if (added >= 0)
        added = trackset_add(named, ((uint64_t)pid << 24) | (uint64_t)tid);
    if (added < 0)
        return SP_ERR_NOMEM;
    if (added) {
        if (tid == MAX_TID)
            snprintf(tname, sizeof tname, "other streams");
        else
            snprintf(tname, sizeof tname, "stream %" PRId64, a->stream);
        pf_meta_name(w, "thread_name", pid, tid, tname);
        pf_meta_sort(w, "thread_sort_index", pid, tid, tid);
    }
    return SP_OK;
}

static sp_status write_device(pf_writer *w)
{
    const sp_events *ev = w->ev;
    size_t na = sp_view_activities(ev);
    if (!na)
        return SP_OK;
    sp_hmap named, procs; /* tracks and processes already named */
    memset(&named, 0, sizeof named);
    memset(&procs, 0, sizeof procs);
    pf_names kn;
    memset(&kn, 0, sizeof kn);
    sp_status st = SP_OK;
    sp_view_activity a;
    sp_view_batch b;
    for (size_t i = 0; i < na && !st && !ferror(w->out); i++) {
        sp_view_activity_at(ev, i, &a);
        /* synchronisation waits are not device work (DESIGN section 6) and would overlap the
         * kernels they wait for on the same stream */
        if (a.kind == SP_ACT_SYNC)
            continue;
        uint32_t dev = a.device < DEVICES_PER_FILE - 1 ? a.device : DEVICES_PER_FILE - 1;
        int64_t pid = pf_device_pid(a.file, a.device);
        int64_t tid = a.stream >= 0 && a.stream < MAX_TID ? a.stream : MAX_TID;
        if ((st = device_tracks(w, &procs, &named, &a, dev, pid, tid)))
            break;
        const char *name = act_name(&a);
        int demangled = 0;
        if (a.kind == SP_ACT_KERNEL && a.name[0] && (st = pf_kernel_name(&kn, a.name, &name, &demangled)))
            break;
        pf_slice(w, name, a.kind == SP_ACT_KERNEL ? "kernel" : "copy", pid, tid, a.start_ns, a.end_ns);
        fputs(",\"args\":{", w->out);
        int comma = 0;
        if (demangled) {
            fputs("\"mangled\":", w->out);
            sp_json_write_str(w->out, a.name, 0);
            comma = 1;
        }
        if (a.batch != SP_VIEW_NONE) {
            sp_view_batch_at(ev, a.batch, &b);
            fprintf(w->out, "%s\"batch\":%" PRId64, comma ? "," : "", b.id);
            comma = 1;
        }
        if (a.kind != SP_ACT_KERNEL) {
            fprintf(w->out, "%s\"bytes\":%" PRIu64, comma ? "," : "", a.bytes);
            comma = 1;
        }
        if (a.correlation)
            fprintf(w->out, "%s\"correlation\":%" PRIu64, comma ? "," : "", a.correlation);
        fputs("}}", w->out);
        /* the arrow from its batch (tied by id) to it */
        if (a.batch != SP_VIEW_NONE && w->batch_row[a.batch] != UINT32_MAX)
            pf_flow(w, "batch -> device", PID_BATCHES, w->batch_row[a.batch], mid(b.start_ns, b.end_ns), pid, tid,
                    mid(a.start_ns, a.end_ns));
    }
    sp_hmap_free(&named);
    sp_hmap_free(&procs);
    pf_names_free(&kn);
    return st ? st : ferror(w->out) ? SP_ERR_IO : SP_OK;
}

/* The earliest time in the set, so timestamps are small (a double keeps ns precision only up to
 * about 2^53 ns of microseconds-with-decimals). */
static uint64_t first_time(const sp_events *ev)
{
    uint64_t t = UINT64_MAX;
#define SP_MIN_T(x) do { if ((x) != SP_VIEW_NO_TIME && (x) < t) t = (x); } while (0)
    sp_view_request rq;
    for (size_t i = 0, n = sp_view_requests(ev); i < n; i++) {
        sp_view_request_at(ev, i, &rq);
        if (!rq.has_record)
            continue;
        SP_MIN_T(rq.arrival_ns);
        SP_MIN_T(rq.client_intended_ns);
        SP_MIN_T(rq.client_send_ns);
    }
    sp_view_batch b;
    for (size_t i = 0, n = sp_view_batches(ev); i < n; i++) {
        sp_view_batch_at(ev, i, &b);
        if (b.has_record)
            SP_MIN_T(b.start_ns);
    }
    sp_view_activity a;
    for (size_t i = 0, n = sp_view_activities(ev); i < n; i++) {
        sp_view_activity_at(ev, i, &a);
        SP_MIN_T(a.start_ns);
    }
    sp_view_launch l;
    for (size_t i = 0, n = sp_view_launches(ev); i < n; i++) {
        sp_view_launch_at(ev, i, &l);
        SP_MIN_T(l.start_ns);
    }
#undef SP_MIN_T
    return t == UINT64_MAX ? 0 : t;
}

sp_status sp_report_write_perfetto(const sp_report *r, const sp_events *ev, FILE *out)
{
    if (!ev || !out)
        return SP_ERR_INVALID;
    /* per-request span and batch lists exist only after the finishing pass (sp_analyze runs it) */
    if (!sp_view_finished(ev))
        return SP_ERR_STATE;
    sp_status ready = sp_view_ids_ready(ev);
    if (ready)
        return ready;
    pf_writer w = {.out = out, .ev = ev, .n_files = sp_view_files(ev), .t0 = first_time(ev), .first = 1};
    size_t nr = sp_view_requests(ev), nb = sp_view_batches(ev);
    w.req_row = malloc((nr ? nr : 1) * sizeof *w.req_row);
    w.req_order = malloc((nr ? nr : 1) * sizeof *w.req_order);
    w.batch_row = malloc((nb ? nb : 1) * sizeof *w.batch_row);
    if (!w.req_row || !w.req_order || !w.batch_row) {
        free(w.req_row);
        free(w.req_order);
        free(w.batch_row);
        return SP_ERR_NOMEM;
    }
    memset(w.req_row, 0xff, (nr ? nr : 1) * sizeof *w.req_row);
    memset(w.batch_row, 0xff, (nb ? nb : 1) * sizeof *w.batch_row);
    fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"generator\":\"servprof " SP_VERSION_STRING "\"", out);
    fprintf(out, ",\"t0_ns\":%" PRIu64, w.t0);
    if (r && r->verdict.sentence) {
        fputs(",\"verdict\":", out);
        sp_json_write_str(out, r->verdict.sentence, 0);
    }
    fputs("},\"traceEvents\":[", out);
    sp_status st = write_client(&w);
    if (!st)
        st = write_requests(&w);
    if (!st)
        st = write_batches(&w);
    if (!st)
        st = write_request_flows(&w);
    if (!st)
        st = write_launches(&w);
    if (!st)
        st = write_device(&w);
    if (!st)
        st = sp_pf_write_counters(&w);
    free(w.req_row);
    free(w.req_order);
    free(w.batch_row);
    if (st == SP_ERR_IO || (!st && ferror(out)))
        return sp_rep_finish(out); /* a write failed: stop there, with errno set */
    fputs("\n]}\n", out);
    if (st)
        return st;
    return sp_rep_finish(out);
}
