/* The GPU collector's CUPTI-free core (see gpu_int.h): clock alignment, correlation-to-batch map,
 * per-thread batch windows, and conversion of activity records into recorder calls. */
#include "gpu/gpu_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/annotation_int.h"
#include "common/util_int.h"

/* ---- Clock alignment ---- */

sp_status sp_gpu_clock_fit(const sp_gpu_clock_sample *s, size_t n, sp_gpu_clock *out)
{
    size_t best = n;
    uint64_t best_width = UINT64_MAX;
    if (!s || !out)
        return SP_ERR_INVALID;
    for (size_t i = 0; i < n; i++) {
        if (s[i].mono_after_ns < s[i].mono_before_ns)
            continue;
        uint64_t w = s[i].mono_after_ns - s[i].mono_before_ns;
        if (w < best_width) {
            best_width = w;
            best = i;
        }
    }
    if (best == n)
        return SP_ERR_INVALID;
    /* The CUPTI read happened somewhere inside [before, after]; its midpoint is off by at most half
     * the width (docs/gpu.md, "Clock alignment"). */
    uint64_t mid = s[best].mono_before_ns + best_width / 2;
    out->offset_ns = (int64_t)(mid - s[best].gpu_ns);
    out->bracket_ns = best_width;
    out->error_ns = (best_width + 1) / 2;
    return SP_OK;
}

uint64_t sp_gpu_clock_to_mono(const sp_gpu_clock *c, uint64_t gpu_ns)
{
    if (c->offset_ns >= 0) {
        uint64_t off = (uint64_t)c->offset_ns;
        return gpu_ns > UINT64_MAX - 1 - off ? UINT64_MAX - 1 : gpu_ns + off;
    }
    uint64_t neg = (uint64_t)(-(c->offset_ns + 1)) + 1; /* |offset| without overflow at INT64_MIN */
    return gpu_ns < neg ? 0 : gpu_ns - neg;
}

/* ---- Correlation map ---- */

sp_status sp_gpu_corrmap_init(sp_gpu_corrmap *m, size_t cap)
{
    size_t c = 16;
    if (cap == 0)
        cap = SP_GPU_CORRMAP_DEFAULT;
    if (cap > SP_GPU_CORRMAP_MAX)
        cap = SP_GPU_CORRMAP_MAX;
    while (c < cap)
        c <<= 1;
    _Atomic uint64_t *keys = calloc(c, sizeof *keys);
    _Atomic uint64_t *batches = calloc(c, sizeof *batches);
    if (!keys || !batches) {
        free((void *)keys);
        free((void *)batches);
        return SP_ERR_NOMEM;
    }
    m->keys = keys;
    m->batches = batches;
    m->cap = c;
    atomic_init(&m->evicted, 0);
    return SP_OK;
}

void sp_gpu_corrmap_free(sp_gpu_corrmap *m)
{
    if (!m)
        return;
    free((void *)m->keys);
    free((void *)m->batches);
    m->keys = m->batches = NULL;
    m->cap = 0;
}

void sp_gpu_corrmap_put(sp_gpu_corrmap *m, uint64_t correlation, uint64_t batch_id)
{
    if (correlation == 0 || batch_id == SP_NO_BATCH || m->cap == 0)
        return;
    size_t slot = (size_t)(correlation & (m->cap - 1));
    /* relaxed: only this slot's own protocol below orders anything */
    uint64_t old = atomic_load_explicit(&m->keys[slot], memory_order_relaxed);
    if (old != 0 && old != correlation)
        atomic_fetch_add_explicit(&m->evicted, 1, memory_order_relaxed); /* a statistic */
    /* seqlock write: retract the key, then the batch, then publish the key. The release fence
     * keeps the cleared key ahead of the new batch for a reader that sees the batch. */
    atomic_store_explicit(&m->keys[slot], 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&m->batches[slot], batch_id, memory_order_relaxed);
    /* release: a reader that sees this key (acquire) sees the batch written above */
    atomic_store_explicit(&m->keys[slot], correlation, memory_order_release);
}

uint64_t sp_gpu_corrmap_get(sp_gpu_corrmap *m, uint64_t correlation)
{
    if (correlation == 0 || m->cap == 0)
        return SP_NO_BATCH;
    size_t slot = (size_t)(correlation & (m->cap - 1));
    /* acquire: pairs with put's release store of the key */
    if (atomic_load_explicit(&m->keys[slot], memory_order_acquire) != correlation)
        return SP_NO_BATCH;
    uint64_t b = atomic_load_explicit(&m->batches[slot], memory_order_relaxed);
    /* acquire fence: the batch read above happens before the key is read again, so a put that
     * replaced the batch meanwhile shows as a changed (or cleared) key */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&m->keys[slot], memory_order_relaxed) != correlation)
        return SP_NO_BATCH;
    return b;
}

uint64_t sp_gpu_corrmap_evicted(sp_gpu_corrmap *m)
{
    return atomic_load_explicit(&m->evicted, memory_order_relaxed); /* a statistic */
}

/* ---- Batch windows ---- */

sp_status sp_gpu_windows_init(sp_gpu_windows *ws, size_t cap)
{
    size_t c = 16;
    memset(ws, 0, sizeof *ws);
    if (cap == 0)
        cap = SP_GPU_WINDOWS_DEFAULT;
    if (cap > ((size_t)1 << 20))
        cap = (size_t)1 << 20;
    while (c < cap)
        c <<= 1;
    ws->w = calloc(c, sizeof *ws->w);
    if (!ws->w)
        return SP_ERR_NOMEM;
    if (pthread_mutex_init(&ws->mu, NULL) != 0) {
        free(ws->w);
        ws->w = NULL;
        return SP_ERR_NOMEM;
    }
    ws->cap = c;
    return SP_OK;
}

void sp_gpu_windows_free(sp_gpu_windows *ws)
{
    if (!ws || !ws->w)
        return;
    free(ws->w);
    ws->w = NULL;
    ws->cap = 0;
    pthread_mutex_destroy(&ws->mu);
}

static uint64_t windows_open_locked(sp_gpu_windows *ws, uint64_t batch_id, uint64_t now_ns, uintptr_t thread)
{
    uint64_t seq = ws->next++;
    sp_gpu_window *nw = &ws->w[seq & (ws->cap - 1)];
    nw->start_ns = now_ns;
    nw->end_ns = SP_GPU_WINDOW_OPEN;
    nw->batch_id = batch_id;
    nw->thread = thread;
    nw->ambiguous = 0;
    /* another thread's window still open (or ending after now): device work started from here on
     * cannot be told apart by time, so both are ambiguous */
    for (uint64_t k = 1; k <= SP_GPU_WINDOWS_SCAN && k <= seq && k < ws->cap; k++) {
        sp_gpu_window *o = &ws->w[(seq - k) & (ws->cap - 1)];
        if (o->thread != thread && o->end_ns > now_ns) {
            if (!o->ambiguous || !nw->ambiguous)
                ws->overlaps++;
            o->ambiguous = 1;
            nw->ambiguous = 1;
        }
    }
    return seq;
}

uint64_t sp_gpu_windows_open(sp_gpu_windows *ws, uint64_t batch_id, uint64_t now_ns, uintptr_t thread)
{
    if (!ws->w || batch_id == SP_NO_BATCH)
        return UINT64_MAX;
    pthread_mutex_lock(&ws->mu);
    uint64_t seq = windows_open_locked(ws, batch_id, now_ns, thread);
    pthread_mutex_unlock(&ws->mu);
    return seq;
}

uint64_t sp_gpu_windows_open_now(sp_gpu_windows *ws, uint64_t batch_id, uintptr_t thread)
{
    if (!ws->w || batch_id == SP_NO_BATCH)
        return UINT64_MAX;
    pthread_mutex_lock(&ws->mu);
    uint64_t seq = windows_open_locked(ws, batch_id, sp_now_ns(), thread);
    pthread_mutex_unlock(&ws->mu);
    return seq;
}

void sp_gpu_windows_close(sp_gpu_windows *ws, uint64_t seq, uint64_t now_ns)
{
    if (!ws->w || seq == UINT64_MAX)
        return;
    pthread_mutex_lock(&ws->mu);
    /* still in the ring: fewer than cap windows opened since */
    if (seq < ws->next && ws->next - seq <= ws->cap) {
        sp_gpu_window *w = &ws->w[seq & (ws->cap - 1)];
        w->end_ns = now_ns < w->start_ns ? w->start_ns : now_ns;
    }
    pthread_mutex_unlock(&ws->mu);
}

uint64_t sp_gpu_windows_find(sp_gpu_windows *ws, uint64_t start_ns)
{
    uint64_t found = SP_NO_BATCH;
    if (!ws->w)
        return SP_NO_BATCH;
    pthread_mutex_lock(&ws->mu);
    uint64_t n = ws->next < ws->cap ? ws->next : ws->cap;
    /* windows are in start order: binary search for the last one starting at or before start_ns */
    uint64_t lo = 0, hi = n; /* over ages: index i = window next - n + i */
    uint64_t base = ws->next - n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (ws->w[(base + mid) & (ws->cap - 1)].start_ns <= start_ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    int amb = 0;
    /* lo windows start at or before start_ns; the latest-starting one that is still open at
     * start_ns wins (nested windows of one thread: the inner one) */
    for (uint64_t k = 0; k < SP_GPU_WINDOWS_SCAN && k < lo; k++) {
        const sp_gpu_window *w = &ws->w[(base + lo - 1 - k) & (ws->cap - 1)];
        if (w->end_ns >= start_ns) {
            if (w->ambiguous)
                amb = 1;
            else
                found = w->batch_id;
            break;
        }
    }
    if (found != SP_NO_BATCH)
        ws->tied++;
    else if (amb)
        ws->ambiguous++;
    else
        ws->unmatched++;
    pthread_mutex_unlock(&ws->mu);
    return found;
}

/* ---- Per-thread batch stack ---- */

static _Thread_local uint64_t tls_batch_stack[SP_GPU_BATCH_DEPTH];
static _Thread_local unsigned tls_batch_depth;    /* levels pushed, including uncounted overflow */

void sp_gpu_thread_batch_push(uint64_t batch_id)
{
    if (tls_batch_depth < SP_GPU_BATCH_DEPTH)
        tls_batch_stack[tls_batch_depth] = batch_id;
    if (tls_batch_depth < UINT32_MAX)
        tls_batch_depth++;
}

uint64_t sp_gpu_thread_batch(void)
{
    if (tls_batch_depth == 0)
        return SP_NO_BATCH;
    unsigned top = tls_batch_depth <= SP_GPU_BATCH_DEPTH ? tls_batch_depth : SP_GPU_BATCH_DEPTH;
    return tls_batch_stack[top - 1];
}

uint64_t sp_gpu_thread_batch_pop(void)
{
    uint64_t top = sp_gpu_thread_batch();
    if (tls_batch_depth > 0)
        tls_batch_depth--;
    return top;
}

/* The collector reads batch ranges with the importers' parser (common/annotation.c), so a range name
 * means the same to both: servprof.batch[:<id>][[ids]][;key=value...] (docs/annotations.md). Only
 * the default name is recognised here (the collector takes no --map). */
static const sp_annot_map g_batch_map = {{{SP_ANNOT_BATCH, 14, "servprof.batch", ""}}, 1};

int sp_gpu_batch_range_id(const char *message, int has_payload, uint64_t payload, uint64_t *out)
{
    if (!message)
        return 0;
    sp_annot_name a;
    const char *why;
    if (sp_annot_parse(&g_batch_map, message, strlen(message), &a, &why) != 1)
        return 0;
    if (!a.has_id) {
        if (!has_payload || payload == SP_NO_BATCH)
            return 0;
        *out = payload;
        return 1;
    }
    /* the collector's batch ids are unsigned 64-bit: the parser checked -?[0-9]+, this the range */
    uint64_t v = 0;
    for (size_t i = 0; i < a.id_len; i++) {
        char c = a.id[i];
        if (c < '0' || c > '9')
            return 0;   /* a negative id */
        unsigned d = (unsigned)(c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (v == SP_NO_BATCH)
        return 0;
    *out = v;
    return 1;
}

/* ---- Conversion ---- */

sp_copy_kind sp_gpu_copy_kind(uint32_t k)
{
    switch (k) {
    case SP_GPU_MEMCPY_HTOD:
    case SP_GPU_MEMCPY_HTOA:
        return SP_COPY_H2D;
    case SP_GPU_MEMCPY_DTOH:
    case SP_GPU_MEMCPY_ATOH:
        return SP_COPY_D2H;
    case SP_GPU_MEMCPY_ATOA:
    case SP_GPU_MEMCPY_ATOD:
    case SP_GPU_MEMCPY_DTOA:
    case SP_GPU_MEMCPY_DTOD:
        return SP_COPY_D2D;
    default: /* HTOH, PTOP (another device's memory), unknown */
        return SP_COPY_OTHER;
    }
}

const char *sp_gpu_sync_name(uint32_t t)
{
    switch (t) {
    case SP_GPU_SYNC_EVENT_SYNCHRONIZE: return "sync:event_synchronize";
    case SP_GPU_SYNC_STREAM_WAIT_EVENT: return "sync:stream_wait_event";
    case SP_GPU_SYNC_STREAM_SYNCHRONIZE: return "sync:stream_synchronize";
    case SP_GPU_SYNC_CONTEXT_SYNCHRONIZE: return "sync:context_synchronize";
    default: return "sync:unknown";
    }
}

int sp_gpu_is_launch_api(const char *fn)
{
    static const char *const prefixes[] = {
        "cudaLaunch", "cudaMemcpy", "cudaMemset", "cudaGraphLaunch",
        "cuLaunch", "cuMemcpy", "cuMemset", "cuGraphLaunch",
    };
    if (!fn)
        return 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(fn, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

struct sp_gpu_name_slot {
    uint64_t hash;
    char *name;       /* owned; NULL = empty */
    sp_name_id id;
};

static sp_status names_init(sp_gpu_names *n)
{
    n->nslots = SP_GPU_NAMES_MAX * 2; /* load factor <= 1/2 keeps probes short */
    n->slots = calloc(n->nslots, sizeof *n->slots);
    n->count = 0;
    return n->slots ? SP_OK : SP_ERR_NOMEM;
}

static void names_free(sp_gpu_names *n)
{
    if (!n->slots)
        return;
    for (size_t i = 0; i < n->nslots; i++)
        free(n->slots[i].name);
    free(n->slots);
    n->slots = NULL;
}

sp_name_id sp_gpu_kernel_name(sp_gpu_ctx *c, const char *name)
{
    if (!name || !*name || !c->rec)
        return SP_NAME_NONE;
    size_t len = strlen(name);
    uint64_t h = sp_hash_bytes(name, len, 0);
    sp_gpu_names *n = &c->names;
    size_t i = (size_t)(h & (n->nslots - 1));
    for (;;) {
        struct sp_gpu_name_slot *s = &n->slots[i];
        if (!s->name)
            break;
        if (s->hash == h && strcmp(s->name, name) == 0)
            return s->id;
        i = (i + 1) & (n->nslots - 1);
    }
    sp_name_id id = sp_recorder_intern(c->rec, name);
    if (id != SP_NAME_NONE && n->count < SP_GPU_NAMES_MAX) {
        char *copy = malloc(len + 1);
        if (copy) { /* no memory: the id is still right, only not cached */
            memcpy(copy, name, len + 1);
            n->slots[i].hash = h;
            n->slots[i].name = copy;
            n->slots[i].id = id;
            n->count++;
        }
    }
    return id;
}

sp_status sp_gpu_ctx_init(sp_gpu_ctx *c, sp_recorder *rec, const sp_gpu_clock *clock, size_t map_cap)
{
    memset(c, 0, sizeof *c);
    c->rec = rec;
    c->clock = *clock;
    if (sp_gpu_corrmap_init(&c->map, map_cap) != SP_OK)
        return SP_ERR_NOMEM;
    if (names_init(&c->names) != SP_OK) {
        sp_gpu_corrmap_free(&c->map);
        return SP_ERR_NOMEM;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        names_free(&c->names);
        sp_gpu_corrmap_free(&c->map);
        return SP_ERR_NOMEM;
    }
    for (uint32_t t = 0; t < SP_GPU_SYNC_TYPE_COUNT; t++)
        c->sync_names[t] = rec ? sp_recorder_intern(rec, sp_gpu_sync_name(t)) : SP_NAME_NONE;
    return SP_OK;
}

void sp_gpu_ctx_free(sp_gpu_ctx *c)
{
    if (!c)
        return;
    names_free(&c->names);
    sp_gpu_corrmap_free(&c->map);
    sp_gpu_windows_free(&c->windows);
    pthread_mutex_destroy(&c->lock);
}

sp_status sp_gpu_ctx_use_windows(sp_gpu_ctx *c, size_t cap)
{
    if (!c->windows.w && sp_gpu_windows_init(&c->windows, cap) != SP_OK)
        return SP_ERR_NOMEM;
    c->by_window = 1;
    return SP_OK;
}

void sp_gpu_note_launch(sp_gpu_ctx *c, uint64_t correlation)
{
    uint64_t b = sp_gpu_thread_batch();
    if (b == SP_NO_BATCH)
        return;
    /* no lock: the map is lock-free, and this runs inside every recorded launch call */
    sp_gpu_corrmap_put(&c->map, correlation, b);
}

/* Correlation first; in lean mode (no launch was noted) the batch window containing the start. */
static uint64_t batch_of(sp_gpu_ctx *c, uint64_t correlation, uint64_t start_mono)
{
    uint64_t b = sp_gpu_corrmap_get(&c->map, correlation);
    if (b == SP_NO_BATCH && c->by_window)
        b = sp_gpu_windows_find(&c->windows, start_mono);
    return b;
}

/* CUPTI writes 0 for a timestamp it could not collect; such a record has no place on the timeline. */
static int times_valid(uint64_t start, uint64_t end)
{
    return start != 0 && end >= start;
}

int sp_gpu_kernel_convert(sp_gpu_ctx *c, const sp_gpu_kernel_act *a, sp_name_id name,
                          sp_kernel_record *out)
{
    if (!times_valid(a->start, a->end))
        return 0;
    out->name = name;
    out->device = a->device;
    out->stream = a->stream;
    out->correlation = a->correlation;
    out->start_ns = sp_gpu_clock_to_mono(&c->clock, a->start);
    out->end_ns = sp_gpu_clock_to_mono(&c->clock, a->end);
    out->batch_id = batch_of(c, a->correlation, out->start_ns);
    return 1;
}

int sp_gpu_copy_convert(sp_gpu_ctx *c, const sp_gpu_copy_act *a, sp_copy_record *out)
{
    if (!times_valid(a->start, a->end))
        return 0;
    out->kind = a->is_memset ? SP_COPY_MEMSET : sp_gpu_copy_kind(a->memcpy_kind);
    out->device = a->device;
    out->stream = a->stream;
    out->correlation = a->correlation;
    out->bytes = a->bytes;
    out->start_ns = sp_gpu_clock_to_mono(&c->clock, a->start);
    out->end_ns = sp_gpu_clock_to_mono(&c->clock, a->end);
    out->batch_id = batch_of(c, a->correlation, out->start_ns);
    return 1;
}

void sp_gpu_emit_kernel(sp_gpu_ctx *c, const sp_gpu_kernel_act *a)
{
    sp_kernel_record k;
    if (!sp_gpu_kernel_convert(c, a, sp_gpu_kernel_name(c, a->name), &k)) {
        c->counts.invalid++;
        return;
    }
    c->counts.kernels++;
    c->counts.kernel_ns += k.end_ns - k.start_ns;
    if (k.batch_id != SP_NO_BATCH)
        c->counts.attributed++;
    sp_record_kernel(c->rec, &k);
}

void sp_gpu_emit_copy(sp_gpu_ctx *c, const sp_gpu_copy_act *a)
{
    sp_copy_record r;
    if (!sp_gpu_copy_convert(c, a, &r)) {
        c->counts.invalid++;
        return;
    }
    if (a->is_memset)
        c->counts.memsets++;
    else
        c->counts.copies++;
    if (r.batch_id != SP_NO_BATCH)
        c->counts.attributed++;
    sp_record_copy(c->rec, &r);
}

void sp_gpu_emit_sync(sp_gpu_ctx *c, const sp_gpu_sync_act *a)
{
    if (!times_valid(a->start, a->end)) {
        c->counts.invalid++;
        return;
    }
    uint32_t t = a->type < SP_GPU_SYNC_TYPE_COUNT ? a->type : SP_GPU_SYNC_UNKNOWN;
    c->counts.syncs++;
    /* trace.h has no synchronisation record: a sync is a host-side wait, recorded as a host call
     * named "sync:<type>" on its own correlation id (no kernel shares it, so launch statistics do
     * not join it). See docs/gpu.md. */
    sp_record_launch(c->rec, c->sync_names[t], a->correlation, sp_gpu_clock_to_mono(&c->clock, a->start),
                     sp_gpu_clock_to_mono(&c->clock, a->end));
}

void sp_gpu_emit_cupti_drops(sp_gpu_ctx *c, uint64_t count)
{
    if (count == 0)
        return;
    c->counts.cupti_dropped += count;
    sp_recorder_add_drops(c->rec, SP_DROP_BUFFER_FULL, count);
    sp_log(SP_LOG_WARN, "servprof-cupti: CUPTI dropped %llu activity records (buffers full)",
           (unsigned long long)count);
}
