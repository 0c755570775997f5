/* The event model's storage: interned strings, per-file id maps and growable arrays, and the finishing
 * pass (sorting, per-request indexes, reference checks) the analyzer relies on. */
#include <stdio.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/sort.h"
#include "common/tracectx.h"
#include "common/util_int.h"
#include "model/events_int.h"

_Static_assert(SP_HMAP_NONE == SP_EV_NONE, "a map's \"no value\" is the model's \"no index\"");

/* ---------- strings ---------- */

/* The string at arena offset `off` is exactly (s, len). Interned text never holds a NUL, so an (s, len)
 * with one never matches (sp_str_intern refuses it). */
static bool text_at_is(const sp_strtab *t, uint32_t off, const char *s, size_t len)
{
    return (size_t)off + len < t->used && memcmp(t->arena + off, s, len) == 0 && t->arena[off + len] == '\0';
}

struct text_probe {
    const sp_strtab *t;
    const char *s;
    size_t len;
};

static bool text_eq(const void *ctx, uint32_t off)
{
    const struct text_probe *p = ctx;
    return text_at_is(p->t, off, p->s, p->len);
}

/* ---------- decimal strings, keyed by value (see sp_strtab) ---------- */

sp_status sp_str_intern_u64(sp_strtab *t, uint64_t v, sp_str *out)
{
    uint32_t found = sp_hmap_find(&t->num, v, NULL, NULL);
    if (found != SP_HMAP_NONE) {
        *out = found;
        return SP_OK;
    }
    if (t->used + 21 >= UINT32_MAX - 1)
        return SP_ERR_LIMIT;
    sp_status st = sp_grow((void **)&t->arena, &t->cap, t->used + 21, 1, UINT32_MAX - 1);
    if (st)
        return st;
    uint32_t off = (uint32_t)t->used;
    st = sp_hmap_put(&t->num, v, off);
    if (st)
        return st;
    size_t len = sp_u64_dec(v, t->arena + off);
    t->arena[off + len] = '\0';
    t->used += len + 1;
    *out = off;
    return SP_OK;
}

sp_str sp_str_find(const sp_strtab *t, const char *s, size_t len)
{
    uint64_t num;
    if (len && (unsigned char)(s[0] - '0') <= 9 && sp_ev_dec_parse(s, len, &num))
        return sp_hmap_find(&t->num, num, NULL, NULL); /* SP_HMAP_NONE is SP_EV_NONE */
    struct text_probe p = {t, s, len};
    return sp_hmap_find(&t->text, sp_hash_bytes(s, len, 0), text_eq, &p);
}

/* The string at arena offset `id`, known to be `idlen` bytes long, is exactly (s, len). */
static bool str_is(const sp_strtab *t, sp_str id, size_t idlen, const char *s, size_t len)
{
    return idlen == len && (size_t)id + len < t->used && memcmp(t->arena + id, s, len) == 0;
}

sp_status sp_str_intern_cached(sp_strtab *t, sp_ev_cache *c, const char *s, size_t len, sp_str *out)
{
    for (unsigned k = 0; k < SP_EV_CACHE_SLOTS; k++)
        if (c->v[k] && str_is(t, c->v[k] - 1, c->len[k], s, len)) {
            *out = c->v[k] - 1;
            return SP_OK;
        }
    sp_str id;
    sp_status st = sp_str_intern(t, s, len, &id);
    if (st)
        return st;
    c->len[c->next % SP_EV_CACHE_SLOTS] = (uint32_t)len;
    c->v[c->next++ % SP_EV_CACHE_SLOTS] = id + 1;
    *out = id;
    return SP_OK;
}

sp_status sp_str_intern(sp_strtab *t, const char *s, size_t len, sp_str *out)
{
    if (len >= SP_EV_MAX_STRING)
        return SP_ERR_LIMIT;
    if (memchr(s, '\0', len))
        return SP_ERR_INVALID;
    uint64_t v;
    if (len && (unsigned char)(s[0] - '0') <= 9 && sp_ev_dec_parse(s, len, &v))
        return sp_str_intern_u64(t, v, out);
    uint64_t h = sp_hash_bytes(s, len, 0);
    struct text_probe p = {t, s, len};
    uint32_t found = sp_hmap_find(&t->text, h, text_eq, &p);
    if (found != SP_HMAP_NONE) {
        *out = found;
        return SP_OK;
    }
    if (t->used + len + 1 >= UINT32_MAX - 1)
        return SP_ERR_LIMIT;
    sp_status st = sp_grow((void **)&t->arena, &t->cap, t->used + len + 1, 1, UINT32_MAX - 1);
    if (st)
        return st;
    uint32_t off = (uint32_t)t->used;
    st = sp_hmap_put(&t->text, h, off);
    if (st)
        return st;
    memcpy(t->arena + off, s, len);
    t->arena[off + len] = '\0';
    t->used += len + 1;
    *out = off;
    return SP_OK;
}

/* ---------- id maps ---------- */

/* Request ids are text: keyed by a hash of (file, text), confirmed against the request. */
static uint64_t req_key(uint32_t file, const char *id, size_t len)
{
    return sp_hash_bytes(id, len, file);
}

struct req_probe {
    const struct sp_events *ev;
    uint32_t file;
    const char *id;
    size_t len;
};

static bool req_eq(const void *ctx, uint32_t idx)
{
    const struct req_probe *k = ctx;
    const sp_ev_request *r = &k->ev->requests[idx];
    if (r->file != k->file)
        return false;
    /* text ids inline (the JSONL importer's every line), numbers through reqid.c */
    return r->id_num ? sp_ev_id_is(k->ev, r, k->id, k->len) : text_at_is(&k->ev->strings, r->id, k->id, k->len);
}

/* Batch ids are integers: keyed by id + file x an odd constant, so one file's sequential ids are
 * neighbours (hmap.h), confirmed against the batch. */
static uint64_t batch_key(uint32_t file, int64_t id)
{
    return (uint64_t)id + (uint64_t)file * 0x9e3779b97f4a7c15ull;
}

struct batch_probe {
    const struct sp_events *ev;
    uint32_t file;
    int64_t id;
};

static bool batch_eq(const void *ctx, uint32_t idx)
{
    const struct batch_probe *k = ctx;
    return k->ev->batches[idx].file == k->file && k->ev->batches[idx].id == k->id;
}

/* ---------- public and internal API ---------- */

void sp_ev_release_maps(struct sp_events *ev)
{
    sp_hmap_free(&ev->strings.text);
    sp_hmap_free(&ev->strings.num);
    sp_hmap_free(&ev->req_map);
    sp_hmap_free(&ev->batch_map);
    sp_hmap_free(&ev->stream_map);
    ev->released = true;
}

void *sp_ev_take_spans(struct sp_events *ev, size_t *bytes)
{
    void *p = ev->spans;
    *bytes = ev->cap_spans * sizeof *ev->spans;
    ev->spans = NULL;
    ev->n_spans = ev->cap_spans = 0;
    ev->released = true;
    return p;
}

void *sp_ev_take_launches(struct sp_events *ev, size_t *bytes)
{
    void *p = ev->launches;
    *bytes = ev->cap_launches * sizeof *ev->launches;
    ev->launches = NULL;
    ev->n_launches = ev->cap_launches = 0;
    ev->released = true;
    return p;
}

void sp_ev_release_spans(struct sp_events *ev)
{
    size_t bytes;
    free(sp_ev_take_spans(ev, &bytes));
}

void sp_ev_release_launches(struct sp_events *ev)
{
    size_t bytes;
    free(sp_ev_take_launches(ev, &bytes));
}

static void known_stage_names(struct sp_events *ev);

sp_status sp_events_create(sp_events **out)
{
    struct sp_events *ev = calloc(1, sizeof *ev);
    if (!ev)
        return SP_ERR_NOMEM;
    known_stage_names(ev);
    if (ev->strings.text.count < 4) {
        sp_events_destroy(ev);
        return SP_ERR_NOMEM;
    }
    *out = ev;
    return SP_OK;
}

void sp_events_destroy(sp_events *ev)
{
    if (!ev)
        return;
    sp_hmap_free(&ev->strings.text);
    sp_hmap_free(&ev->strings.num);
    sp_hmap_free(&ev->req_map);
    sp_hmap_free(&ev->batch_map);
    sp_hmap_free(&ev->stream_map);
    void *blocks[] = {ev->strings.arena, ev->requests, ev->req_colds, ev->num_text, ev->spans, ev->batches,
                      ev->members, ev->acts, ev->launches, ev->files, ev->props, ev->clients, ev->marks,
                      ev->steps, ev->step_members, ev->tokens, ev->client_tokens, ev->traces,
                      ev->clock_offsets, ev->req_batches, ev->streams};
    /* A set an analysis released (servprof analyze, whose last act this is) and that is large: its
     * arrays, a few hundred MB, are unmapped on two cores instead of one (sp_free_all). */
    sp_free_all(blocks, sizeof blocks / sizeof blocks[0],
                ev->released && ev->n_requests + ev->n_acts + ev->n_batches >= sp_ev_two_threads_min);
    free(ev);
}

static void known_stage_names(struct sp_events *ev)
{
    static const char *const names[] = {"preprocess", "queue", "postprocess", "network"};
    for (size_t i = 0; i < 4; i++) {
        sp_str id;
        if (sp_str_intern(&ev->strings, names[i], strlen(names[i]), &id))
            return;
    }
}

void sp_ev_known_stages(struct sp_events *ev, sp_known_stages *out)
{
    out->preprocess = sp_str_find(&ev->strings, "preprocess", 10);
    out->queue = sp_str_find(&ev->strings, "queue", 5);
    out->postprocess = sp_str_find(&ev->strings, "postprocess", 11);
    out->network = sp_str_find(&ev->strings, "network", 7);
}

void sp_ev_files_label(const struct sp_events *ev, const uint32_t *files, size_t n, char *buf, size_t len)
{
    if (!len)
        return;
    if (!files)
        n = ev->n_files;
    buf[0] = '\0';
    if (n == 0) {
        snprintf(buf, len, "(no file)");
        return;
    }
    size_t at = 0, shown = n > 3 ? 3 : n;
    for (size_t i = 0; i < shown && at < len; i++) {
        uint32_t f = files ? files[i] : (uint32_t)i;
        int k = snprintf(buf + at, len - at, "%s%s", i == 0 ? "" : i + 1 == n ? " and " : ", ",
                         sp_str_get(&ev->strings, ev->files[f].path));
        at += k > 0 ? (size_t)k : 0;
    }
    if (n > shown && at < len)
        snprintf(buf + at, len - at, " and %zu more files", n - shown);
}

sp_status sp_ev_add_file(struct sp_events *ev, const char *path, sp_format format, uint32_t *out_file)
{
    if (ev->n_files >= SP_EV_MAX_FILES)
        return SP_ERR_LIMIT; /* an activity keeps its file in 16 bits */
    sp_status st = SP_GROW(ev->files, ev->cap_files, ev->n_files + 1, SP_EV_MAX_FILES);
    if (st)
        return st;
    sp_ev_file *f = &ev->files[ev->n_files];
    memset(f, 0, sizeof *f);
    size_t len = strlen(path);
    if (len >= SP_EV_MAX_STRING)
        len = SP_EV_MAX_STRING - 1;
    st = sp_str_intern(&ev->strings, path, len, &f->path);
    if (st)
        return st;
    f->format = format;
    *out_file = (uint32_t)ev->n_files++;
    ev->finished = false;
    return SP_OK;
}

sp_status sp_ev_stream_id_add(struct sp_events *ev, int64_t stream, uint32_t *out)
{
    uint32_t idx = sp_hmap_find(&ev->stream_map, (uint64_t)stream, NULL, NULL);
    if (idx == SP_HMAP_NONE) {
        sp_status st = SP_GROW(ev->streams, ev->cap_streams, ev->n_streams + 1, SP_EV_MAX_RECORDS);
        if (st)
            return st;
        idx = (uint32_t)ev->n_streams;
        if ((st = sp_hmap_put(&ev->stream_map, (uint64_t)stream, idx)))
            return st;
        ev->streams[ev->n_streams++] = stream;
    }
    ev->stream_last = idx;
    *out = idx;
    return SP_OK;
}

/* Here rather than in loss.c, which records and words the losses: the finishing pass asks it, and
 * loss.c builds on this file's storage, so the two files call one way (loss.c -> events.c). */
bool sp_ev_file_has_loss(const struct sp_events *ev, uint32_t file)
{
    return ev->files[file].lost_regions > 0;
}

/* Whether the file's recorder counted records it dropped whatever they held (no room, no buffer, a
 * failed write, re-entry, after close): then a record a surviving one names may be among them.
 * too_large is left out: it refuses a record for its content (an invalid value, too many members),
 * which says nothing about an ordinary request or batch record being lost. */
static bool file_has_drops(const struct sp_events *ev, uint32_t file)
{
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        if (c != SP_DROP_TOO_LARGE && ev->files[file].drops[c])
            return true;
    return false;
}

sp_status sp_ev_set_prop(struct sp_events *ev, uint32_t file, const char *key, size_t klen, const char *value,
                         size_t vlen)
{
    if (klen == 0 || klen > SP_PROP_MAX_KEY || vlen > SP_PROP_MAX_VALUE || file >= ev->n_files)
        return SP_ERR_INVALID;
    size_t in_file = 0;
    sp_ev_prop *hit = NULL;
    for (size_t i = 0; i < ev->n_props; i++) {
        sp_ev_prop *p = &ev->props[i];
        if (p->file != file)
            continue;
        in_file++;
        const char *k = sp_str_get(&ev->strings, p->key);
        if (strlen(k) == klen && memcmp(k, key, klen) == 0)
            hit = p;
    }
    if (!hit && in_file >= SP_PROP_MAX_KEYS)
        return SP_ERR_LIMIT;
    sp_str k, v;
    sp_status st = sp_str_intern(&ev->strings, key, klen, &k);
    if (!st)
        st = sp_str_intern(&ev->strings, value, vlen, &v);
    if (st)
        return st;
    if (hit) {
        hit->value = v;
        return SP_OK;
    }
    st = SP_GROW(ev->props, ev->cap_props, ev->n_props + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    ev->props[ev->n_props++] = (sp_ev_prop){file, k, v};
    return SP_OK;
}

const char *sp_ev_get_prop(const struct sp_events *ev, uint32_t file, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < ev->n_props; i++) {
        const sp_ev_prop *p = &ev->props[i];
        if (p->file != file)
            continue;
        const char *k = sp_str_get(&ev->strings, p->key);
        if (strlen(k) == klen && memcmp(k, key, klen) == 0)
            return sp_str_get(&ev->strings, p->value);
    }
    return NULL;
}

const char *sp_events_property(const sp_events *ev, size_t file, const char *key)
{
    if (!ev || !key || file >= ev->n_files)
        return NULL;
    return sp_ev_get_prop(ev, (uint32_t)file, key);
}

/* A new request's fields, before any record sets them; it has no side record yet. */
static void request_init(sp_ev_request *r, sp_str sid, uint32_t file)
{
    memset(r, 0, sizeof *r);
    r->id = sid;
    r->file = file;
    r->arrival_ns = r->done_ns = SP_TIME_NONE;
    r->in_tokens = -1;
    r->cold = SP_EV_NONE;
}

sp_status sp_ev_request_ref(struct sp_events *ev, uint32_t file, const char *id, size_t len,
                            uint32_t *out_req)
{
    uint64_t h = req_key(file, id, len);
    struct req_probe key = {ev, file, id, len};
    uint32_t idx = sp_hmap_find(&ev->req_map, h, req_eq, &key);
    if (idx != SP_HMAP_NONE) {
        *out_req = idx;
        return SP_OK;
    }
    sp_status st = SP_GROW(ev->requests, ev->cap_requests, ev->n_requests + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    sp_str sid;
    st = sp_str_intern(&ev->strings, id, len, &sid);
    if (st)
        return st;
    idx = (uint32_t)ev->n_requests;
    st = sp_hmap_put(&ev->req_map, h, idx);
    if (st)
        return st;
    ev->n_requests++;
    request_init(&ev->requests[idx], sid, file);
    ev->finished = false;
    *out_req = idx;
    return SP_OK;
}

/* A new request of `file` whose id is the number `id` (no text interned: reqid.c). */
static sp_status request_new_num(struct sp_events *ev, uint32_t file, uint64_t id, uint32_t *out_req)
{
    sp_status st = SP_GROW(ev->requests, ev->cap_requests, ev->n_requests + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    uint32_t idx = (uint32_t)ev->n_requests++;
    sp_ev_request_init_num(&ev->requests[idx], id, file);
    ev->finished = false;
    *out_req = idx;
    return SP_OK;
}

sp_status sp_ev_request_new_u64(struct sp_events *ev, uint32_t file, uint64_t id, uint32_t *out_req)
{
    return request_new_num(ev, file, id, out_req);
}

sp_status sp_ev_request_ref_u64(struct sp_events *ev, uint32_t file, uint64_t id, uint32_t *out_req)
{
    char text[SP_EV_ID_TEXT];
    size_t len = sp_u64_dec(id, text);
    uint64_t h = req_key(file, text, len);
    struct req_probe key = {ev, file, text, len};
    uint32_t idx = sp_hmap_find(&ev->req_map, h, req_eq, &key);
    if (idx != SP_HMAP_NONE) {
        *out_req = idx;
        return SP_OK;
    }
    sp_status st = sp_hmap_reserve(&ev->req_map, 1); /* room first: a request made is a request entered */
    if (!st)
        st = request_new_num(ev, file, id, &idx);
    if (!st)
        st = sp_hmap_put(&ev->req_map, h, idx);
    if (st)
        return st;
    *out_req = idx;
    return SP_OK;
}

sp_status sp_ev_request_index(struct sp_events *ev, size_t first)
{
    sp_status st = sp_hmap_reserve(&ev->req_map, ev->n_requests - first);
    for (size_t i = first; i < ev->n_requests && st == SP_OK; i++) {
        const sp_ev_request *r = &ev->requests[i];
        char buf[SP_EV_ID_TEXT];
        size_t len;
        const char *s = sp_ev_id_text(ev, r, buf, &len);
        st = sp_hmap_put(&ev->req_map, req_key(r->file, s, len), (uint32_t)i);
    }
    return st;
}

sp_status sp_ev_rebuild_maps(struct sp_events *ev)
{
    sp_hmap_clear(&ev->req_map);
    sp_hmap_clear(&ev->batch_map);
    sp_status st = sp_ev_request_index(ev, 0);
    for (size_t i = 0; i < ev->n_batches && st == SP_OK; i++)
        st = sp_hmap_put(&ev->batch_map, batch_key(ev->batches[i].file, ev->batches[i].id), (uint32_t)i);
    return st;
}

sp_status sp_ev_request_ref_cached(struct sp_events *ev, sp_ev_cache *c, uint32_t file, const char *id, size_t len,
                                   uint32_t *out_req)
{
    for (unsigned k = 0; k < SP_EV_CACHE_SLOTS; k++) {
        uint32_t r = c->v[k];
        if (!r || r - 1 >= ev->n_requests || c->len[k] != len)
            continue;
        const sp_ev_request *q = &ev->requests[r - 1];
        if (q->file == file && (q->id_num ? sp_ev_id_is(ev, q, id, len) : str_is(&ev->strings, q->id, len, id, len))) {
            *out_req = r - 1;
            return SP_OK;
        }
    }
    uint32_t r;
    sp_status st = sp_ev_request_ref(ev, file, id, len, &r);
    if (st)
        return st;
    c->len[c->next % SP_EV_CACHE_SLOTS] = (uint32_t)len;
    c->v[c->next++ % SP_EV_CACHE_SLOTS] = r + 1;
    *out_req = r;
    return SP_OK;
}

sp_status sp_ev_request_set_id(struct sp_events *ev, uint32_t req, const char *id, size_t len)
{
    sp_ev_request *r = &ev->requests[req];
    struct req_probe key = {ev, r->file, id, len};
    uint64_t h = req_key(r->file, id, len);
    uint32_t other = sp_hmap_find(&ev->req_map, h, req_eq, &key);
    if (other == req)
        return SP_OK;
    if (other != SP_HMAP_NONE)
        return SP_ERR_INVALID;
    sp_str sid;
    sp_status st = sp_str_intern(&ev->strings, id, len, &sid);
    if (st)
        return st;
    /* room first, so nothing fails once the old entry is out; then insert under the new text */
    if ((st = sp_hmap_reserve(&ev->req_map, 1)))
        return st;
    char buf[SP_EV_ID_TEXT];
    size_t old_len;
    const char *old = sp_ev_id_text(ev, r, buf, &old_len);
    sp_hmap_remove(&ev->req_map, req_key(r->file, old, old_len), req);
    r->id = sid;
    r->id_num = false;
    r->id_hi = 0;
    st = sp_hmap_put(&ev->req_map, h, req);
    ev->finished = false;
    return st;
}

/* Appends a batch with no record yet (room for it is there). */
static void batch_init(struct sp_events *ev, uint32_t file, int64_t id)
{
    sp_ev_batch *b = &ev->batches[ev->n_batches++];
    memset(b, 0, sizeof *b);
    b->id = id;
    b->file = file;
    b->start_ns = b->end_ns = SP_TIME_NONE;
    b->effective_tokens = b->padded_tokens = -1;
    b->first_member = 0;
    b->step = SP_EV_NONE;
    ev->finished = false;
}

sp_status sp_ev_batch_ref(struct sp_events *ev, uint32_t file, int64_t id, uint32_t *out_batch)
{
    uint64_t h = batch_key(file, id);
    struct batch_probe key = {ev, file, id};
    uint32_t idx = sp_hmap_find(&ev->batch_map, h, batch_eq, &key);
    if (idx != SP_HMAP_NONE) {
        *out_batch = idx;
        return SP_OK;
    }
    sp_status st = SP_GROW(ev->batches, ev->cap_batches, ev->n_batches + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    idx = (uint32_t)ev->n_batches;
    if ((st = sp_hmap_put(&ev->batch_map, h, idx)))
        return st;
    batch_init(ev, file, id);
    *out_batch = idx;
    return SP_OK;
}

sp_status sp_ev_batch_new(struct sp_events *ev, uint32_t file, int64_t id, uint32_t *out_batch)
{
    sp_status st = SP_GROW(ev->batches, ev->cap_batches, ev->n_batches + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    *out_batch = (uint32_t)ev->n_batches;
    batch_init(ev, file, id);
    return SP_OK;
}

sp_status sp_ev_batch_set_members(struct sp_events *ev, uint32_t batch, const uint32_t *reqs, size_t n)
{
    if (n > UINT32_MAX)
        return SP_ERR_LIMIT;
    sp_status st = SP_GROW(ev->members, ev->cap_members, ev->n_members + n, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    if (n) /* members may still be NULL for an empty batch */
        memcpy(ev->members + ev->n_members, reqs, n * sizeof *reqs);
    ev->batches[batch].first_member = (uint32_t)ev->n_members;
    ev->batches[batch].nmembers = (uint32_t)n;
    ev->n_members += n;
    ev->finished = false;
    return SP_OK;
}

sp_status sp_ev_add_span_grow(struct sp_events *ev, uint32_t req, sp_str stage, uint64_t start_ns,
                              uint64_t end_ns)
{
    sp_status st = SP_GROW(ev->spans, ev->cap_spans, ev->n_spans + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    ev->spans[ev->n_spans++] = (sp_ev_span){req, stage, start_ns, end_ns};
    sp_ev_note_span_stage(ev, stage);
    ev->finished = false;
    return SP_OK;
}

sp_status sp_ev_room_activity(struct sp_events *ev)
{
    return SP_GROW(ev->acts, ev->cap_acts, ev->n_acts + 1, SP_EV_MAX_RECORDS);
}

sp_status sp_ev_room_launch(struct sp_events *ev)
{
    return SP_GROW(ev->launches, ev->cap_launches, ev->n_launches + 1, SP_EV_MAX_RECORDS);
}

void sp_ev_note_span_stage(struct sp_events *ev, sp_str stage)
{
    uint32_t i = 0;
    while (i < ev->n_span_stages && ev->span_stages[i] != stage)
        i++;
    if (i == ev->n_span_stages) {
        if (i == SP_EV_SPAN_STAGES) {
            ev->span_stages_over = true; /* not listed, so never marked seen */
            return;
        }
        ev->span_stages[ev->n_span_stages++] = stage;
    }
    ev->span_stage_seen[stage % 8] = (uint64_t)stage + 1;
}

sp_status sp_ev_add_activity_grow(struct sp_events *ev, const sp_ev_activity *a)
{
    sp_status st = SP_GROW(ev->acts, ev->cap_acts, ev->n_acts + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    ev->acts[ev->n_acts++] = *a;
    ev->finished = false;
    return SP_OK;
}

sp_status sp_ev_add_launch_grow(struct sp_events *ev, const sp_ev_launch *l)
{
    sp_status st = SP_GROW(ev->launches, ev->cap_launches, ev->n_launches + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    ev->launches[ev->n_launches++] = *l;
    ev->finished = false;
    return SP_OK;
}

sp_status sp_ev_add_client(struct sp_events *ev, const sp_ev_client *c)
{
    sp_status st = SP_GROW(ev->clients, ev->cap_clients, ev->n_clients + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    sp_ev_client *cl = &ev->clients[ev->n_clients++];
    *cl = *c;
    /* an id text that is a trace id joins by trace id too (clock.c, sp_ev_join_clients) */
    const char *t = sp_str_get(&ev->strings, cl->id);
    cl->id_is_trace = t && sp_hex_read(t, strlen(t), cl->id_trace, 16);
    ev->finished = false;
    return SP_OK;
}

sp_status sp_ev_request_set_trace(struct sp_events *ev, uint32_t req, const sp_trace_context *ctx)
{
    static const uint8_t zero[16];
    if (memcmp(ctx->trace_id, zero, 16) == 0 || memcmp(ctx->span_id, zero, 8) == 0)
        return SP_ERR_INVALID;
    sp_ev_request_cold *c;
    sp_status st = sp_ev_cold_get(ev, req, &c);
    if (st)
        return st;
    if (c->trace == SP_EV_NONE) {
        st = SP_GROW(ev->traces, ev->cap_traces, ev->n_traces + 1, SP_EV_MAX_RECORDS);
        if (st)
            return st;
        c->trace = (uint32_t)ev->n_traces++;
    }
    ev->traces[c->trace] = *ctx;
    ev->finished = false;
    return SP_OK;
}

sp_status sp_ev_add_mark(struct sp_events *ev, const sp_ev_mark *m)
{
    if (m->end_ns < m->start_ns || m->start_ns == SP_TIME_NONE || m->end_ns == SP_TIME_NONE)
        return SP_ERR_INVALID;
    sp_status st = SP_GROW(ev->marks, ev->cap_marks, ev->n_marks + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    ev->marks[ev->n_marks++] = *m;
    ev->finished = false;
    return SP_OK;
}

sp_status sp_ev_set_clock(struct sp_events *ev, sp_clock_mode mode, int64_t offset_ns)
{
    if (ev->clock_mode == mode && (mode != SP_CLOCK_FIXED || ev->clock_offset_ns == offset_ns))
        return SP_OK;
    ev->clock_mode = mode;
    ev->clock_offset_ns = offset_ns;
    if (!ev->finished)
        return SP_OK; /* sp_ev_finish joins with the new mode */
    /* only the join depends on the mode: redo it alone, so the finishing pass's per-file counts are
     * not counted twice */
    sp_status st = sp_ev_join_clients(ev);
    if (st)
        ev->finished = false;
    return st;
}

void sp_events_summarize(const sp_events *ev, sp_events_summary *out)
{
    memset(out, 0, sizeof *out);
    out->files = ev->n_files;
    for (size_t i = 0; i < ev->n_requests; i++)
        out->requests += ev->requests[i].has_record;
    out->stage_spans = ev->n_spans;
    for (size_t i = 0; i < ev->n_batches; i++)
        out->batches += ev->batches[i].has_record;
    for (size_t i = 0; i < ev->n_acts; i++) {
        if (ev->acts[i].kind == SP_ACT_KERNEL)
            out->kernels++;
        else if (ev->acts[i].kind != SP_ACT_SYNC)
            out->copies++;
    }
    out->launches = ev->n_launches;
    for (size_t f = 0; f < ev->n_files; f++) {
        const sp_ev_file *file = &ev->files[f];
        out->skipped += file->skipped;
        for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
            out->dropped += file->drops[c];
        out->lost_blocks += file->lost_blocks;
        out->lost_bytes += file->lost_bytes;
        out->undecodable += file->undecodable;
        out->orphaned += file->orphaned;
        out->unclean_files += file->end == SP_TRACE_END_UNCLEAN;
    }
}

/* ---------- finishing pass ---------- */

/* Spans by request, start and end. Spans equal in all three are then put in stage-name order by
 * sort_span_ties: the name's id is an arena offset, which depends on the order of lines. */
static int span_cmp(const void *a, const void *b)
{
    const sp_ev_span *x = a, *y = b;
    if (x->req != y->req)
        return x->req < y->req ? -1 : 1;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return (x->end_ns > y->end_ns) - (x->end_ns < y->end_ns);
}

/* The set's stream values for act_cmp, which qsort calls without a context: set by the thread that
 * sorts (finish_order, sort_act_ties) before it compares. */
static _Thread_local const int64_t *t_act_streams;

/* Activity by start, end, hta_end_early (flagged first), kind, file, device, stream (its value),
 * correlation and bytes: every field but the name and the batch, whose ids depend on the order of
 * lines; sort_act_ties orders what is left. */
static int act_cmp(const void *a, const void *b)
{
    const sp_ev_activity *x = a, *y = b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    if (x->end_ns != y->end_ns)
        return x->end_ns < y->end_ns ? -1 : 1;
    /* HTA's sort leaves events with the same rounded start in no set order; a sub-us event whose HTA
     * end precedes its start goes first, as it does in time on its stream (docs/analysis.md 4) */
    if (x->hta_end_early != y->hta_end_early)
        return x->hta_end_early ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->device != y->device)
        return x->device < y->device ? -1 : 1;
    if (x->stream_ix != y->stream_ix) /* distinct indexes are distinct values */
        return t_act_streams[x->stream_ix] < t_act_streams[y->stream_ix] ? -1 : 1;
    if (x->correlation != y->correlation)
        return x->correlation < y->correlation ? -1 : 1;
    uint64_t xb = sp_ev_act_bytes(x), yb = sp_ev_act_bytes(y); /* kinds are equal here */
    return (xb > yb) - (xb < yb);
}

/* Spans into span_cmp's order in linear time, for traces whose spans come in time order (a
 * recorder's): grouped by request in place (each span swapped into its request's stretch, as a
 * counting sort's placement but without its second array: on a 10 M-event native trace that copy was
 * 134 MB at the analysis' peak), then each request's few spans by start and end (insertion sort;
 * qsort for a request with many). The grouping is not stable, which the result cannot show: spans
 * that span_cmp calls equal are ordered by their stage's name afterwards (sort_span_ties), and two
 * with the same name too are the same bytes. SP_ERR_NOMEM leaves them as they were. */
static sp_status sort_spans_by_request(struct sp_events *ev)
{
    size_t n = ev->n_spans, nr = ev->n_requests;
    /* n and nr are below SP_EV_MAX_RECORDS (2^30), so positions fit 32 bits */
    uint32_t *end = calloc(nr + 1, sizeof *end);
    uint32_t *fill = malloc((nr ? nr : 1) * sizeof *fill);
    if (!end || !fill) {
        free(end);
        free(fill);
        return SP_ERR_NOMEM;
    }
    sp_ev_span *sp = ev->spans;
    for (size_t i = 0; i < n; i++)
        end[sp[i].req + 1]++;
    for (size_t r = 0; r < nr; r++) {
        fill[r] = end[r]; /* request r's stretch is [end[r], end[r + 1]) once summed */
        end[r + 1] += end[r];
    }
    /* fill[r]: request r's first place not yet holding one of its spans */
    for (size_t r = 0; r < nr; r++) {
        while (fill[r] < end[r + 1]) {
            sp_ev_span x = sp[fill[r]];
            while (x.req != r) { /* x goes to its own stretch; what was there comes out */
                sp_ev_span y = sp[fill[x.req]];
                sp[fill[x.req]++] = x;
                x = y;
            }
            sp[fill[r]++] = x;
        }
    }
    free(fill);
    for (size_t r = 0; r < nr; r++) {
        size_t lo = end[r], hi = end[r + 1];
        if (hi - lo > 16) {
            qsort(sp + lo, hi - lo, sizeof *sp, span_cmp);
            continue;
        }
        for (size_t i = lo + 1; i < hi; i++) {
            sp_ev_span x = sp[i];
            size_t j = i;
            for (; j > lo && span_cmp(&sp[j - 1], &x) > 0; j--)
                sp[j] = sp[j - 1];
            sp[j] = x;
        }
    }
    free(end);
    return SP_OK;
}

/* An activity and its place in the input, for act_cmp's order of a long run of equal starts with the
 * input order as the last key (what a stable sort leaves). */
struct placed_act {
    const sp_ev_activity *act;
    uint32_t at;
};

static int placed_act_cmp(const void *a, const void *b)
{
    const struct placed_act *x = a, *y = b;
    int c = act_cmp(x->act, y->act);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* Orders idx[lo..hi) (input positions, ascending) by act_cmp of the activity at each, stably. */
static sp_status order_equal_starts(const sp_ev_activity *acts, uint32_t *idx, size_t lo, size_t hi)
{
    if (hi - lo <= 16) {
        for (size_t i = lo + 1; i < hi; i++) {
            uint32_t x = idx[i];
            size_t j = i;
            for (; j > lo && act_cmp(&acts[idx[j - 1]], &acts[x]) > 0; j--)
                idx[j] = idx[j - 1];
            idx[j] = x;
        }
        return SP_OK;
    }
    struct placed_act *t = malloc((hi - lo) * sizeof *t);
    if (!t)
        return SP_ERR_NOMEM;
    for (size_t k = lo; k < hi; k++)
        t[k - lo] = (struct placed_act){&acts[idx[k]], idx[k]};
    qsort(t, hi - lo, sizeof *t, placed_act_cmp);
    for (size_t k = lo; k < hi; k++)
        idx[k] = t[k - lo].at;
    free(t);
    return SP_OK;
}

/* Insertion sort of a[n] into act_cmp's order (stable), giving up after `budget` moves: a recorder's
 * activity is out of order only by a few places (per-stream blocks interleaved: 2.1 M moves for 1.4 M
 * records on bench_record's 10 M-event trace, none more than 6 places), which this sorts in place in
 * one pass. Returns false when the budget ran out; the array is then a permutation of the input with
 * equal records in their input order still, for a full sort to finish. */
static bool sort_acts_nearly_sorted(sp_ev_activity *a, size_t n, size_t budget)
{
    for (size_t i = 1; i < n; i++) {
        if (a[i - 1].start_ns < a[i].start_ns || act_cmp(&a[i - 1], &a[i]) <= 0)
            continue;
        sp_ev_activity x = a[i];
        size_t j = i;
        do {
            if (budget-- == 0) {
                a[j] = x;
                return false;
            }
            a[j] = a[j - 1];
            j--;
        } while (j > 0 && (a[j - 1].start_ns > x.start_ns || (a[j - 1].start_ns == x.start_ns &&
                                                             act_cmp(&a[j - 1], &x) > 0)));
        a[j] = x;
    }
    return true;
}

/* The activity into act_cmp's order, stably (equal ones keep their input order: what glibc's qsort,
 * a merge sort, leaves, and what sort_act_ties starts from), in about linear time. A recorder writes
 * activity per thread block, so blocks interleave in time. The start, less the earliest, packed above
 * the input position is radix-sorted on the start's bits alone (common/sort.h), then each run of equal
 * starts is ordered by act_cmp (rare and short), and the records are moved into place by following the
 * permutation's cycles (no second array of records). SP_ERR_LIMIT (starts spread over more bits than
 * the position leaves) or SP_ERR_NOMEM leaves the activity as it was, for qsort. */
static sp_status sort_acts_by_start(struct sp_events *ev)
{
    sp_ev_activity *a = ev->acts;
    size_t n = ev->n_acts;
    if (n < 2)
        return SP_OK;
    if ((uint64_t)n - 1 > UINT32_MAX)
        return SP_ERR_LIMIT;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        lo = a[i].start_ns < lo ? a[i].start_ns : lo;
        hi = a[i].start_ns > hi ? a[i].start_ns : hi;
    }
    unsigned idx_bits = 64 - (unsigned)__builtin_clzll((uint64_t)n - 1); /* n >= 2: n - 1 > 0 */
    unsigned key_bits = hi > lo ? 64 - (unsigned)__builtin_clzll(hi - lo) : 0;
    if (key_bits + idx_bits > 64)
        return SP_ERR_LIMIT;
    uint64_t *keys = malloc(2 * n * sizeof *keys);
    if (!keys)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        keys[i] = key_bits ? (a[i].start_ns - lo) << idx_bits | i : i;
    sp_status st = sp_sort_u64_high(keys, n, keys + n, idx_bits);
    /* the input positions in sorted order, in the scratch's second half (keys[] is read as it goes) */
    uint32_t *idx = (uint32_t *)(keys + n);
    uint64_t pos_mask = ((uint64_t)1 << idx_bits) - 1; /* idx_bits <= 32 */
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)(keys[i] & pos_mask);
    for (size_t i = 0; !st && i < n;) {
        size_t j = i + 1;
        while (j < n && a[idx[j]].start_ns == a[idx[i]].start_ns)
            j++;
        if (j - i > 1)
            st = order_equal_starts(a, idx, i, j);
        i = j;
    }
    if (st) {
        free(keys);
        return st;
    }
    /* position i takes the record at idx[i]; a placed position gets idx[i] = i */
    for (size_t i = 0; i < n; i++) {
        if (idx[i] == i)
            continue;
        sp_ev_activity first = a[i];
        size_t j = i;
        while (idx[j] != i) {
            size_t from = idx[j];
            a[j] = a[from];
            idx[j] = (uint32_t)j;
            j = from;
        }
        a[j] = first;
        idx[j] = (uint32_t)j;
    }
    free(keys);
    return SP_OK;
}

/* Whether v[n] (elements of `size` bytes) is already in cmp's order; when it is, `*ties` says whether
 * two neighbours compare equal (the tie pass, sort_*_ties, then has work; when none do it has none and
 * is skipped: one pass over the array instead of two). */
static bool sorted_by(const void *v, size_t n, size_t size, int (*cmp)(const void *, const void *), bool *ties)
{
    const char *p = v;
    *ties = false;
    for (size_t i = 1; i < n; i++) {
        int c = cmp(p + (i - 1) * size, p + i * size);
        if (c > 0)
            return false;
        *ties |= c == 0;
    }
    return true;
}

/* A tied record with the text key that decides its place. */
struct named_span {
    const char *name;
    sp_ev_span span;
};

static int named_span_cmp(const void *a, const void *b)
{
    return strcmp(((const struct named_span *)a)->name, ((const struct named_span *)b)->name);
}

struct named_act {
    const char *name;
    int has_batch;           /* tied to a batch by id (else by window: first) */
    int64_t batch_id;
    sp_ev_activity act;
};

static int named_act_cmp(const void *a, const void *b)
{
    const struct named_act *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    if (x->has_batch != y->has_batch)
        return x->has_batch < y->has_batch ? -1 : 1;
    return (x->batch_id > y->batch_id) - (x->batch_id < y->batch_id);
}

/* Runs of spans that span_cmp calls equal, in stage-name order (rare: a run needs one request's
 * spans with the same start and end). */
static sp_status sort_span_ties(struct sp_events *ev)
{
    for (size_t i = 0; i < ev->n_spans;) {
        size_t j = i + 1;
        while (j < ev->n_spans && span_cmp(&ev->spans[i], &ev->spans[j]) == 0)
            j++;
        if (j - i > 1) {
            struct named_span *t = malloc((j - i) * sizeof *t);
            if (!t)
                return SP_ERR_NOMEM;
            for (size_t k = i; k < j; k++)
                t[k - i] = (struct named_span){sp_str_get(&ev->strings, ev->spans[k].stage), ev->spans[k]};
            qsort(t, j - i, sizeof *t, named_span_cmp);
            for (size_t k = i; k < j; k++)
                ev->spans[k] = t[k - i].span;
            free(t);
        }
        i = j;
    }
    return SP_OK;
}

/* Runs of activity that act_cmp calls equal, by name text, then batch id (a batch index is the
 * position of the batch's first mention; the batch is in the activity's own file). */
static sp_status sort_act_ties(struct sp_events *ev, size_t from)
{
    t_act_streams = ev->streams;
    for (size_t i = from; i < ev->n_acts;) {
        size_t j = i + 1;
        while (j < ev->n_acts && act_cmp(&ev->acts[i], &ev->acts[j]) == 0)
            j++;
        if (j - i > 1) {
            struct named_act *t = malloc((j - i) * sizeof *t);
            if (!t)
                return SP_ERR_NOMEM;
            for (size_t k = i; k < j; k++) {
                const sp_ev_activity *x = &ev->acts[k];
                int tied = x->batch < ev->n_batches;
                t[k - i] = (struct named_act){sp_str_get(&ev->strings, sp_ev_act_name(x)), tied,
                                              tied ? ev->batches[x->batch].id : 0, *x};
            }
            qsort(t, j - i, sizeof *t, named_act_cmp);
            for (size_t k = i; k < j; k++)
                ev->acts[k] = t[k - i].act;
            free(t);
        }
        i = j;
    }
    return SP_OK;
}

/* A request's batches in start order (sp_ev_finish; the what-if fit reads batches so too) */
int sp_ev_batch_order_cmp(const void *a, const void *b)
{
    const sp_ev_batch_order *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void later(uint64_t *at, uint64_t t)
{
    if (t != SP_TIME_NONE && (*at == SP_TIME_NONE || t > *at))
        *at = t;
}

/* Times into a running maximum for a file's last time, in one register: each time plus one, so that
 * SP_TIME_NONE (UINT64_MAX) counts as 0, below every time (later() skips it); the maximum minus one
 * is the latest time, or SP_TIME_NONE for none. */
static inline uint64_t later1(uint64_t m, uint64_t t)
{
    return t + 1 > m ? t + 1 : m;
}

/* A running maximum (later1's) into a last time (later's), and the running maximum emptied */
static inline void later1_into(uint64_t *at, uint64_t *m)
{
    if (*m) {
        later(at, *m - 1);
        *m = 0;
    }
}

/* A file's running maximum (later1's) into its last time, and the running maximum emptied (the
 * files are not touched while it is empty: a set without files has none) */
static inline void later1_flush(struct sp_events *ev, uint32_t file, uint64_t *m)
{
    if (*m)
        later1_into(&ev->files[file].last_ns, m);
}

/* Each file's last time (its trace's end), the part that batches and device activity give, into
 * last[] (one per file, SP_TIME_NONE for none): a maximum, so it does not matter which thread takes
 * which part (sp_ev_finish's passes over the requests, the spans and the launches give the rest). */
static void device_ends(const struct sp_events *ev, uint64_t *last)
{
    /* a running maximum (later1) for the file of the records in turn, put into last[] when the file
     * changes */
    uint32_t f = 0;
    uint64_t m = 0;
    for (size_t i = 0; i < ev->n_batches; i++) {
        const sp_ev_batch *b = &ev->batches[i];
        if (!b->has_record)
            continue;
        if (b->file != f) {
            later1_into(&last[f], &m);
            f = b->file;
        }
        m = later1(later1(m, b->start_ns), b->end_ns);
    }
    for (size_t i = 0; i < ev->n_acts; i++) {
        const sp_ev_activity *a = &ev->acts[i];
        if (a->file != f) {
            later1_into(&last[f], &m);
            f = a->file;
        }
        m = later1(later1(m, a->start_ns), a->end_ns);
    }
    if (ev->n_files)
        later1_into(&last[f], &m);
}

/* The start of each of the `unstarted` unfinished requests without an arrival: the earliest start of
 * its spans and batches (spans are sorted by request and start, and per-request lists are built).
 * Client records are on the client's clock and count for none of the ends. */
static void unstarted_arrivals(struct sp_events *ev, size_t unstarted)
{
    for (size_t i = 0; unstarted && i < ev->n_requests; i++) {
        sp_ev_request *r = &ev->requests[i];
        if (r->outcome != SP_OUTCOME_UNFINISHED || r->arrival_ns != SP_TIME_NONE)
            continue;
        uint64_t start = r->nspans ? ev->spans[r->first_span].start_ns : SP_TIME_NONE;
        for (uint32_t k = 0, nb = sp_ev_req_nbatches(ev, r); k < nb; k++) {
            uint64_t bs = ev->batches[ev->req_batches[r->first_batch + k]].start_ns;
            if (bs < start)
                start = bs;
        }
        r->arrival_ns = start;
        unstarted--;
    }
}

/* Per-request batch lists (count, prefix-sum, fill), in two parts: batch_lists_build reads only the
 * batches and their members (nothing sp_ev_finish's passes over the requests write), so it runs beside
 * those passes; batch_lists_place then writes each request's first_batch (which the passes clear) once
 * they are done; a request's count is where the next request's list starts (sp_ev_req_nbatches: the
 * lists lie in request order). Batches are visited in start order so each request's list is sorted by
 * window. The counts and offsets are kept in an array of their own (*at_out, 4 bytes a request: after
 * the build, where each request's list ends), and the requests (the set's largest array, which the
 * spans' thread writes meanwhile) written once, instead of read and written by each of the three
 * passes. */
static sp_status batch_lists_build(struct sp_events *ev, uint32_t **at_out)
{
    *at_out = NULL;
    /* the recorded batches' members, and whether the batches already come in sp_ev_batch_order_cmp's
     * order (a total order: then that order is theirs, and no array of it is built) */
    size_t total = 0;
    bool in_order = true;
    const sp_ev_batch *prev = NULL;
    for (size_t b = 0; b < ev->n_batches; b++) {
        const sp_ev_batch *x = &ev->batches[b];
        if (!x->has_record)
            continue;
        total += x->nmembers;
        if (prev && in_order) {
            sp_ev_batch_order p = {prev->start_ns, prev->file, prev->id, 0}, c = {x->start_ns, x->file, x->id, 0};
            in_order = sp_ev_batch_order_cmp(&p, &c) <= 0;
        }
        prev = x;
    }
    free(ev->req_batches);
    ev->req_batches = malloc((total ? total : 1) * sizeof *ev->req_batches);
    if (!ev->req_batches) {
        ev->n_req_batches = 0;
        return SP_ERR_NOMEM;
    }
    ev->n_req_batches = total;
    /* at[i]: request i's count, then where its list starts, then (after the fill) where it ends */
    uint32_t *at = calloc(ev->n_requests ? ev->n_requests : 1, sizeof *at);
    sp_ev_batch_order *order = in_order ? NULL : malloc((ev->n_batches ? ev->n_batches : 1) * sizeof *order);
    if (!at || (!in_order && !order)) {
        free(at);
        free(order);
        return SP_ERR_NOMEM;
    }
    for (size_t b = 0; b < ev->n_batches; b++) {
        if (!ev->batches[b].has_record)
            continue;
        for (uint32_t m = 0; m < ev->batches[b].nmembers; m++)
            at[ev->members[ev->batches[b].first_member + m]]++;
    }
    uint32_t off = 0;
    for (size_t i = 0; i < ev->n_requests; i++) {
        uint32_t c = at[i];
        at[i] = off;
        off += c;
    }
    if (in_order) {
        for (size_t k = 0; k < ev->n_batches; k++) {
            const sp_ev_batch *b = &ev->batches[k];
            if (!b->has_record)
                continue;
            for (uint32_t m = 0; m < b->nmembers; m++)
                ev->req_batches[at[ev->members[b->first_member + m]]++] = (uint32_t)k;
        }
        *at_out = at;
        return SP_OK;
    }
    size_t n_order = 0;
    for (size_t b = 0; b < ev->n_batches; b++)
        if (ev->batches[b].has_record)
            order[n_order++] = (sp_ev_batch_order){ev->batches[b].start_ns, ev->batches[b].file,
                                                    ev->batches[b].id, (uint32_t)b};
    sp_sort_mostly_sorted(order, n_order, sizeof *order, sp_ev_batch_order_cmp); /* a total order */
    for (size_t k = 0; k < n_order; k++) {
        const sp_ev_batch *b = &ev->batches[order[k].idx];
        for (uint32_t m = 0; m < b->nmembers; m++)
            ev->req_batches[at[ev->members[b->first_member + m]]++] = order[k].idx;
    }
    /* the pages of both arrays back at once: freed by a thread, a few MB can stay in its malloc arena
     * (glibc keeps freed blocks below its adaptive mmap threshold), where they raised the peak RSS */
    sp_discard_pages(order, (n_order ? n_order : 1) * sizeof *order);
    free(order);
    *at_out = at;
    return SP_OK;
}

/* Requests [lo, hi)'s lists from batch_lists_build's ends (which it only reads: the two threads of
 * sp_ev_finish take such ranges beside each other) */
static void batch_lists_place(struct sp_events *ev, const uint32_t *at, size_t lo, size_t hi)
{
    uint32_t start = lo ? at[lo - 1] : 0;
    for (size_t i = lo; i < hi; i++) {
        ev->requests[i].first_batch = start;
        start = at[i];
    }
}

/* Span `at` (sp) into its request's list (first_span, nspans) and its times into its file's last time. */
static inline void span_listed(struct sp_events *ev, const sp_ev_span *sp, size_t at)
{
    sp_ev_request *r = &ev->requests[sp->req];
    if (r->nspans == 0)
        r->first_span = (uint32_t)at;
    r->nspans++;
    later(&ev->files[r->file].last_ns, sp->end_ns);
    later(&ev->files[r->file].last_ns, sp->start_ns);
}

/* The span side of sp_ev_finish, after finish_passes has listed spans [0, listed) (in span_cmp's
 * order, `ties`: some of them tied): the rest of the spans in span_cmp's order with their ties ordered
 * (the status of that, SP_ERR_NOMEM), each request's span list (first_span, nspans) and the spans'
 * and launches' times into their files' last_ns. */
static sp_status finish_spans(struct sp_events *ev, size_t listed, bool ties)
{
    /* qsort's array must not be NULL even when empty (UBSan). Traces usually come in order (a
     * recorder's blocks, an importer writing as it goes): a sorted array skips qsort and the scratch
     * copy of the whole array that glibc's merge sort allocates (issue 15: peak memory). Ties left in
     * place are what qsort's stable merge would leave, and sort_span_ties orders them either way. */
    /* Past an inversion (finish_passes stopped listing there) the requests' lists are emptied again
     * and the spans sorted first (the files' last times are maxima: taking a time twice changes
     * nothing). Ordering ties later changes neither: tied spans are one request's with the same
     * times. */
    bool span_ties = ties;
    if (listed < ev->n_spans) {
        for (size_t k = 0; k < listed; k++)
            ev->requests[ev->spans[k].req].first_span = ev->requests[ev->spans[k].req].nspans = 0;
        span_ties = true;
        if (sort_spans_by_request(ev) != SP_OK)
            qsort(ev->spans, ev->n_spans, sizeof *ev->spans, span_cmp);
        for (size_t at = 0; at < ev->n_spans; at++) {
            span_listed(ev, &ev->spans[at], at);
        }
    }
    sp_status st = span_ties ? sort_span_ties(ev) : SP_OK;
    uint32_t f = 0;
    uint64_t m = 0; /* later1's running maximum for file f */
    for (size_t i = 0; i < ev->n_launches; i++) {
        const sp_ev_launch *l = &ev->launches[i];
        if (l->file != f) {
            later1_flush(ev, f, &m);
            f = l->file;
        }
        m = later1(later1(m, l->start_ns), l->end_ns);
    }
    if (ev->n_launches)
        later1_flush(ev, f, &m);
    return st;
}

/* The device side of sp_ev_finish, which shares nothing it writes with finish_spans. From
 * sp_ev_two_threads_min records on, a second thread takes, from the start:
 * - the order: activity in start order (act_cmp, which reads only the activity), then
 * - the batch lists built (batch_lists_build, which reads only the batches and their members).
 * Neither reads what the passes over the requests and batches write (those write the requests, the
 * files and the strings), so they run beside them. Once the passes are done (the thread waits for
 * them) it places each request's batch list (batch_lists_place: the passes clear those fields), in
 * ranges that the calling thread shares once it is done with the spans (finish_place).
 * The batches' and activity's times into last[] (one per file, device_ends; it reads the activity, so
 * once it is in order) are taken by whichever thread comes to them first (the thread when it has
 * built the lists before the passes are done, or placed its ranges before the calling thread is done
 * with the spans; else the calling thread). The calling thread, after the passes and the spans, waits
 * for the order, takes those times if they are still to take, then, once they are taken, the
 * activity's ties (which read the kernels' names: strings the passes may add to; and reorder the
 * activity those times read), then the ranges left to place. Not when the passes failed. */
typedef struct finish_dev_job {
    struct sp_events *ev;
    size_t first_tie; /* the order's: the first activity equal (act_cmp) to the next; n_acts: none */
    uint32_t *lists_at; /* batch_lists_build's ends, for batch_lists_place (NULL: the build failed) */
    atomic_size_t place_next; /* the next range of sp_ev_place_chunk requests to place */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int passes;  /* 0: running; 1: done; -1: failed (set by the calling thread) */
    int ordered; /* the activity is in order (set by the thread) */
    int built;   /* batch_lists_build is done (set by the thread) */
    uint64_t *last;          /* device_ends' */
    atomic_int ends_claimed; /* device_ends taken by a thread */
    int ends_done;           /* device_ends is done (set by the thread that took it) */
    sp_status lists_st;
} finish_dev_job;

static void finish_order(finish_dev_job *j)
{
    struct sp_events *ev = j->ev;
    bool ties = true;
    t_act_streams = ev->streams;
    if (ev->n_acts && !sorted_by(ev->acts, ev->n_acts, sizeof *ev->acts, act_cmp, &ties)) {
        ties = true;
        if (!sort_acts_nearly_sorted(ev->acts, ev->n_acts, 8 * ev->n_acts) && sort_acts_by_start(ev) != SP_OK)
            qsort(ev->acts, ev->n_acts, sizeof *ev->acts, act_cmp);
    }
    /* where the ties start (sort_act_ties orders them by name, not read here: the passes may add
     * strings meanwhile) */
    size_t i = ev->n_acts;
    if (ties)
        for (i = 0; i + 1 < ev->n_acts && act_cmp(&ev->acts[i], &ev->acts[i + 1]) != 0; i++)
            ;
    j->first_tie = i + 1 < ev->n_acts ? i : ev->n_acts;
}

size_t sp_ev_place_chunk = SP_EV_PLACE_CHUNK;

/* Ranges of requests to place, taken through the job's counter until none is left (either thread) */
static void finish_place(finish_dev_job *j)
{
    size_t n = j->ev->n_requests, chunk = sp_ev_place_chunk ? sp_ev_place_chunk : 1;
    for (size_t c = atomic_fetch_add(&j->place_next, 1); c < (n + chunk - 1) / chunk;
         c = atomic_fetch_add(&j->place_next, 1))
        batch_lists_place(j->ev, j->lists_at, c * chunk, (c + 1) * chunk < n ? (c + 1) * chunk : n);
}

/* Sets one of the job's flags and wakes the other thread */
static void finish_flag(finish_dev_job *j, int *flag, int v)
{
    pthread_mutex_lock(&j->mu);
    *flag = v;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* Waits for one of the job's flags; returns it */
static int finish_wait(finish_dev_job *j, const int *flag)
{
    pthread_mutex_lock(&j->mu);
    while (!*flag)
        pthread_cond_wait(&j->cv, &j->mu);
    int v = *flag;
    pthread_mutex_unlock(&j->mu);
    return v;
}

/* device_ends, unless the other thread has taken it (then returns 0); either way the caller need not
 * run it (the calling thread waits for ends_done before the ties) */
static int finish_ends(finish_dev_job *j, int threaded)
{
    if (atomic_exchange(&j->ends_claimed, 1))
        return 0;
    device_ends(j->ev, j->last);
    if (threaded)
        finish_flag(j, &j->ends_done, 1);
    else
        j->ends_done = 1;
    return 1;
}

static void *finish_devices(void *arg)
{
    finish_dev_job *j = arg;
    finish_order(j);
    finish_flag(j, &j->ordered, 1);
    j->lists_st = batch_lists_build(j->ev, &j->lists_at);
    finish_flag(j, &j->built, 1);
    pthread_mutex_lock(&j->mu);
    int passes = j->passes;
    pthread_mutex_unlock(&j->mu);
    if (!passes) /* the passes still running: the times meanwhile */
        finish_ends(j, 1);
    if (finish_wait(j, &j->passes) > 0) {
        if (j->lists_at)
            finish_place(j);
        finish_ends(j, 1);
    }
    return NULL;
}

/* sp_ev_finish's passes over the requests and the batches (what their records lack), and the client
 * join; *unstarted counts the unfinished requests without an arrival. The pass over the requests
 * also lists the spans into them while the spans come in span_cmp's order: *listed_out gets how many
 * were listed (n_spans: all), *ties_out whether two of those were tied (finish_spans does the rest). */
static sp_status finish_passes(struct sp_events *ev, bool lenient, char *err, size_t errlen, size_t *unstarted_out,
                               size_t *listed_out, bool *ties_out)
{
    /* Requests referenced but never recorded. Where the trace says why (DESIGN 8a) they are kept: an
     * outcome record says the request was rejected, failed or was cancelled. In a file that lost some
     * of its bytes the record was most likely there: an orphan, left out, never an error. In a file
     * that lost nothing but has no end record (killed, crashed, still writing) the request was in
     * flight when the trace ended: unfinished. Otherwise, under lenient they stay in the arrays but are
     * marked unusable (the analyzer skips requests without a record or an outcome); the count goes to
     * their file.
     * The same pass over the requests (one pass, not several: issue 15, the array is the largest a
     * server trace has) empties their span and batch lists (the batch lists are built beside it),
     * takes their times into their file's last time (the launches, batches and activity give the
     * rest), after the outcome they end with, and, while the spans come in span_cmp's order (sorted
     * by request, then start and end: each request's spans are one run, at the cursor when its turn
     * comes), lists each request's run of spans and takes their times too: one read of the spans and
     * one of the requests when the spans are in order. At the first span out of that order the
     * listing stops there (finish_spans sorts and lists them all again). The files' last times are
     * kept as a running maximum (later1) for the file of the requests in turn, put into the file's
     * last time when the file changes. */
    size_t unstarted = 0; /* unfinished requests without an arrival: unstarted_arrivals gives them one */
    const sp_ev_span *spans = ev->spans;
    size_t n_spans = ev->n_spans, at = 0;
    bool ties = false;
    uint32_t mfile = 0;
    uint64_t m = 0; /* later1's running maximum for file mfile */
    for (size_t i = 0; i < ev->n_requests; i++) {
        sp_ev_request *r = &ev->requests[i];
        r->first_span = r->nspans = 0;
        r->first_batch = 0;
        if (!r->has_record && r->outcome == SP_OUTCOME_OK) {
            if (sp_ev_file_has_loss(ev, r->file)) {
                ev->files[r->file].orphaned++;
            } else if (ev->files[r->file].end == SP_TRACE_END_UNCLEAN) {
                r->outcome = SP_OUTCOME_UNFINISHED;
            } else if (file_has_drops(ev, r->file)) {
                ev->files[r->file].orphaned++; /* the recorder says it dropped records: most likely this one */
            } else if (!lenient) {
                char buf[SP_EV_ID_TEXT];
                later1_flush(ev, mfile, &m);
                sp_errf(err, errlen, "%s: request id \"%s\" is referenced by a stage or batch but has no request record (--lenient skips and counts such references)",
                        sp_str_get(&ev->strings, ev->files[r->file].path), sp_ev_id_text(ev, r, buf, NULL));
                return SP_ERR_PARSE;
            } else {
                ev->files[r->file].skipped++;
            }
        }
        if (r->id_num && (r->arrival_ns == SP_TIME_NONE || r->done_ns == SP_TIME_NONE || r->done_ns < r->arrival_ns)) {
            /* The analysis names such a request in a message with sp_str_get (the partition's refusal,
             * which this model does not reach into): it gets its text. Nothing below or after the
             * finish changes whether [arrival, done] is well-formed (an arrival given to an unstarted
             * request comes without a done). */
            sp_str sid;
            sp_status ist = sp_str_intern_u64(&ev->strings, sp_ev_id_num(r), &sid);
            if (ist) {
                later1_flush(ev, mfile, &m);
                return ist;
            }
            r->id = sid;
            r->id_num = false;
            r->id_hi = 0;
        }
        if (r->file != mfile) {
            later1_flush(ev, mfile, &m);
            mfile = r->file;
        }
        /* an unfinished request's done time too, where its reader gives it one: only an OTLP request
         * span's end does (the JSONL and native readers give none), and servprof export writes its
         * trace's last time there (docs/otlp.md, "Export"), so a report of the export measures it
         * to the same end */
        m = later1(later1(m, r->arrival_ns), r->done_ns);
        if (r->outcome == SP_OUTCOME_UNFINISHED && r->arrival_ns == SP_TIME_NONE)
            unstarted++;
        if (at == n_spans || spans[at].req != i)
            continue;
        /* request i's run of spans (the span before it, if any, is an earlier request's: the cursor
         * moves on only from a span of the request in turn, so a span out of order, of this request
         * (the break below) or of an earlier one, stops it there for good) */
        size_t first = at;
        m = later1(later1(m, spans[at].start_ns), spans[at].end_ns);
        for (at++; at < n_spans && spans[at].req == i; at++) {
            const sp_ev_span *sp = &spans[at], *pv = sp - 1;
            if (sp->start_ns != pv->start_ns ? sp->start_ns < pv->start_ns : sp->end_ns <= pv->end_ns) {
                if (sp->end_ns < pv->end_ns || sp->start_ns != pv->start_ns)
                    break; /* out of order: finish_spans lists them all again */
                ties = true;
            }
            m = later1(later1(m, sp->start_ns), sp->end_ns);
        }
        r->first_span = (uint32_t)first;
        r->nspans = (uint32_t)(at - first);
    }
    later1_flush(ev, mfile, &m);
    *listed_out = at;
    *ties_out = ties;
    for (size_t i = 0; i < ev->n_batches; i++) {
        sp_ev_batch *b = &ev->batches[i];
        if (b->has_record)
            continue;
        if (sp_ev_file_has_loss(ev, b->file)) {
            ev->files[b->file].orphaned++;
            continue;
        }
        if (ev->files[b->file].end == SP_TRACE_END_UNCLEAN) {
            ev->files[b->file].unfinished_batches++; /* in flight when the trace ended: left out */
            continue;
        }
        if (file_has_drops(ev, b->file)) {
            ev->files[b->file].orphaned++;
            continue;
        }
        if (!lenient) {
            sp_errf(err, errlen, "%s: batch %lld is referenced by device activity but has no batch record (--lenient skips and counts such references)",
                    sp_str_get(&ev->strings, ev->files[b->file].path), (long long)b->id);
            return SP_ERR_PARSE;
        }
        ev->files[b->file].skipped++;
    }
    for (size_t f = 0; f < ev->n_files; f++)
        if (ev->files[f].orphaned)
            sp_log(SP_LOG_WARN, "%s: %" PRIu64 " %s named by surviving records had %s own record %s: left out",
                   sp_str_get(&ev->strings, ev->files[f].path), ev->files[f].orphaned,
                   ev->files[f].orphaned == 1 ? "request or batch" : "requests or batches",
                   ev->files[f].orphaned == 1 ? "its" : "their",
                   sp_ev_file_has_loss(ev, (uint32_t)f) ? "in a lost part" : "dropped by the recorder");
    *unstarted_out = unstarted;
    return sp_ev_join_clients(ev);
}

size_t sp_ev_two_threads_min = SP_EV_TWO_THREADS_MIN;

sp_status sp_ev_finish(struct sp_events *ev, bool lenient, char *err, size_t errlen)
{
    if (ev->released) {
        sp_errf(err, errlen, "the event set was released by an analysis (release_events): it can only be destroyed");
        return SP_ERR_STATE;
    }
    if (ev->finished)
        return SP_OK;
    for (size_t f = 0; f < ev->n_files; f++)
    {
        ev->files[f].orphaned = 0; /* counted afresh: events may have been added since a last pass */
        ev->files[f].unfinished_batches = 0;
        ev->files[f].last_ns = SP_TIME_NONE;
    }
    /* the batches' and activity's part of each file's last time (device_ends), merged after: a maximum */
    uint64_t *last = malloc((ev->n_files ? ev->n_files : 1) * sizeof *last);
    if (!last)
        return SP_ERR_NOMEM;
    for (size_t f = 0; f < ev->n_files; f++)
        last[f] = SP_TIME_NONE;
    finish_dev_job dj;
    memset(&dj, 0, sizeof dj);
    dj.ev = ev;
    dj.last = last;
    atomic_init(&dj.place_next, 0);
    atomic_init(&dj.ends_claimed, 0);
    /* The activity's order and the batch lists on a second thread beside the passes and the spans,
     * from sp_ev_two_threads_min records on (one thread when it cannot be started; finish_dev_job) */
    pthread_t th;
    int threaded = 0;
    if (ev->n_spans + ev->n_acts + ev->n_batches >= sp_ev_two_threads_min && pthread_mutex_init(&dj.mu, NULL) == 0) {
        if (pthread_cond_init(&dj.cv, NULL) == 0) {
            threaded = pthread_create(&th, NULL, finish_devices, &dj) == 0;
            if (!threaded)
                pthread_cond_destroy(&dj.cv);
        }
        if (!threaded)
            pthread_mutex_destroy(&dj.mu);
    }
    size_t unstarted = 0, listed = 0;
    bool listed_ties = false;
    sp_status jst = finish_passes(ev, lenient, err, errlen, &unstarted, &listed, &listed_ties);
    if (threaded)
        finish_flag(&dj, &dj.passes, jst ? -1 : 1);
    else
        dj.passes = jst ? -1 : 1;
    sp_status ties_st = SP_OK;
    if (!jst) {
        jst = finish_spans(ev, listed, listed_ties);
        if (threaded)
            finish_wait(&dj, &dj.ordered);
        else
            finish_order(&dj);
        if (!finish_ends(&dj, threaded))
            finish_wait(&dj, &dj.ends_done); /* the thread's: the ties reorder what it reads */
        ties_st = dj.first_tie < ev->n_acts ? sort_act_ties(ev, dj.first_tie) : SP_OK;
        if (!threaded)
            dj.lists_st = batch_lists_build(ev, &dj.lists_at);
        else
            finish_wait(&dj, &dj.built);
        if (dj.lists_at)
            finish_place(&dj); /* the ranges the thread has not taken */
    }
    if (threaded) {
        pthread_join(th, NULL);
        pthread_cond_destroy(&dj.cv);
        pthread_mutex_destroy(&dj.mu);
    }
    /* the build's ends, handed back before they are freed: freed by the thread's code they could stay
     * in its malloc arena (glibc keeps blocks below its adaptive mmap threshold) and raise the peak */
    if (dj.lists_at) {
        sp_discard_pages(dj.lists_at, (ev->n_requests ? ev->n_requests : 1) * sizeof *dj.lists_at);
        free(dj.lists_at);
    }
    if (dj.passes < 0) {
        free(last);
        return jst;
    }
    for (size_t f = 0; f < ev->n_files; f++)
        later(&ev->files[f].last_ns, last[f]);
    free(last);
    /* the statuses in the one-thread order: the spans' ties, the activity's, the tokens, the batch
     * lists */
    if (!jst)
        jst = ties_st;
    sp_ev_token_clash clash;
    if (!jst && (jst = sp_ev_finish_tokens(ev, lenient, &clash)) == SP_ERR_PARSE) {
        const sp_ev_request *q = &ev->requests[clash.req];
        char buf[SP_EV_ID_TEXT];
        sp_errf(err, errlen, "%s: request \"%s\" has two token records with index %llu at different times "
                "(%llu and %llu ns; expected one record per output token; --lenient keeps the earlier)",
                sp_str_get(&ev->strings, ev->files[q->file].path), sp_ev_id_text(ev, q, buf, NULL),
                (unsigned long long)clash.index, (unsigned long long)clash.first_ns,
                (unsigned long long)clash.second_ns);
    }
    if (!jst)
        jst = dj.lists_st;
    if (jst)
        return jst;
    unstarted_arrivals(ev, unstarted);
    ev->finished = true;
    return SP_OK;
}


