/* The analysis' large scratch arrays, kept from one step to the next (docs/analysis.md section 8,
 * "Memory"): the steps take their arrays from a few big chunks, one after another, and give them back
 * when done, so the next step's arrays land on pages the last step already faulted in, whatever their
 * sizes, instead of glibc unmapping each freed array (or keeping it in a second thread's arena) and
 * the next array faulting fresh pages in again. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"

/* Under AddressSanitizer a chunk's free space and each array's alignment tail are poisoned, so that a
 * step reading or writing past its array is caught as it would be past a malloc'd one. */
#if defined(__SANITIZE_ADDRESS__)
#define SCRATCH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCRATCH_ASAN 1
#endif
#endif
#ifdef SCRATCH_ASAN
#include <sanitizer/asan_interface.h>
#define SCRATCH_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define SCRATCH_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define SCRATCH_POISON(p, n) ((void)(p), (void)(n))
#define SCRATCH_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A chunk is at least this large; its pages are faulted in only as arrays reach them. */
#define SCRATCH_CHUNK ((size_t)128 << 20)
/* Chunks, and arrays handed out of one chunk at once; beyond either a request is a plain malloc. The
 * analysis holds about ten large scratch arrays at once (three threads). */
#define SCRATCH_CHUNKS 8
/* Adopted stretches (sp_ana_scratch_adopt) and the blocks that hold them; a stretch starts on this
 * many bytes (what malloc gives, so that an array as long as the block fits in it). */
#define SCRATCH_ADOPTED 4
#define SCRATCH_ADOPT_ALIGN ((uintptr_t)16)
#define SCRATCH_LIVE 32
/* Arrays start on this many bytes (a cache line). */
#define SCRATCH_ALIGN ((size_t)64)

/* A chunk is a stack: arrays are carved one after another from `used`; an array given back is
 * marked, and the marked arrays on top are popped, so a chunk is empty again once every array taken
 * from it is back, and the array given back last-in first-out is reused at once. */
typedef struct scratch_chunk {
    unsigned char *base; /* NULL: not allocated yet */
    size_t cap, used;    /* bytes */
    struct {
        size_t off;
        int back; /* given back, not yet popped */
    } live[SCRATCH_LIVE];
    size_t n_live;
} scratch_chunk;

struct sp_ana_scratch {
    pthread_mutex_t mu; /* the steps beside each other take and give back arrays */
    /* the adopted stretches first (their pages are in: tried before the others), then the chunks the
     * stack mallocs itself */
    scratch_chunk chunk[SCRATCH_ADOPTED + SCRATCH_CHUNKS];
    void *block[SCRATCH_ADOPTED]; /* what the adopted stretches lie in, freed with the stack */
};

size_t sp_ana_scratch_min = SP_ANA_SCRATCH_MIN;

sp_ana_scratch *sp_ana_scratch_create(void)
{
    sp_ana_scratch *s = calloc(1, sizeof *s);
    if (s && pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

_Static_assert(SCRATCH_ADOPTED + SCRATCH_CHUNKS <= SP_ANA_SCRATCH_BLOCKS, "sp_ana_scratch_release's out[]");

size_t sp_ana_scratch_release(sp_ana_scratch *s, void **out)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < SCRATCH_ADOPTED + SCRATCH_CHUNKS; i++) {
        if (s->chunk[i].base)
            SCRATCH_UNPOISON(s->chunk[i].base, s->chunk[i].cap);
        if (i >= SCRATCH_ADOPTED && s->chunk[i].base)
            out[n++] = s->chunk[i].base;
    }
    for (size_t i = 0; i < SCRATCH_ADOPTED; i++)
        if (s->block[i])
            out[n++] = s->block[i];
    pthread_mutex_destroy(&s->mu);
    free(s);
    return n;
}

void sp_ana_scratch_destroy(sp_ana_scratch *s)
{
    void *blocks[SP_ANA_SCRATCH_BLOCKS];
    size_t n = sp_ana_scratch_release(s, blocks);
    for (size_t i = 0; i < n; i++)
        free(blocks[i]);
}

/* `bytes` (a multiple of SCRATCH_ALIGN, `asked` of them usable) from chunk c, or NULL when it has no
 * room. */
static void *carve(scratch_chunk *c, size_t bytes, size_t asked)
{
    if (!c->base || c->n_live == SCRATCH_LIVE || c->cap - c->used < bytes)
        return NULL;
    c->live[c->n_live].off = c->used;
    c->live[c->n_live++].back = 0;
    void *p = c->base + c->used;
    c->used += bytes;
    SCRATCH_UNPOISON(p, asked);
    (void)asked;
    return p;
}

void *sp_ana_scratch_get(sp_ana_scratch *s, size_t bytes)
{
    if (!bytes)
        bytes = 1;
    if (!s || bytes < sp_ana_scratch_min || bytes > SIZE_MAX - SCRATCH_CHUNK)
        return malloc(bytes);
    size_t asked = bytes;
    bytes = (bytes + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
    void *p = NULL;
    pthread_mutex_lock(&s->mu);
    /* an adopted stretch with room, then the first chunk with room: the earliest chunks' pages are the
     * ones most likely in already */
    size_t best = SCRATCH_ADOPTED;
    for (size_t i = 0; i < SCRATCH_ADOPTED; i++) {
        const scratch_chunk *c = &s->chunk[i];
        /* the one with the least room that has enough: a large array later still finds a place */
        if (c->base && c->n_live < SCRATCH_LIVE && c->cap - c->used >= bytes &&
            (best == SCRATCH_ADOPTED || c->cap - c->used < s->chunk[best].cap - s->chunk[best].used))
            best = i;
    }
    if (best < SCRATCH_ADOPTED)
        p = carve(&s->chunk[best], bytes, asked);
    for (size_t i = SCRATCH_ADOPTED; !p && i < SCRATCH_ADOPTED + SCRATCH_CHUNKS; i++) {
        scratch_chunk *c = &s->chunk[i];
        if (!c->base) {
            size_t cap = bytes > SCRATCH_CHUNK ? bytes : SCRATCH_CHUNK;
            /* malloc, not calloc: arrays are handed out uninitialised, and a big block is mapped
             * fresh (zero pages on first touch) either way */
            if (!(c->base = malloc(cap)))
                break;
            c->cap = cap;
            SCRATCH_POISON(c->base, cap);
        }
        p = carve(c, bytes, asked);
    }
    pthread_mutex_unlock(&s->mu);
    return p ? p : malloc(bytes);
}

void sp_ana_scratch_put(sp_ana_scratch *s, void *p)
{
    if (!p)
        return;
    if (s) {
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < SCRATCH_ADOPTED + SCRATCH_CHUNKS; i++) {
            scratch_chunk *c = &s->chunk[i];
            unsigned char *q = p;
            if (!c->base || q < c->base || q >= c->base + c->cap)
                continue;
            size_t off = (size_t)(q - c->base);
            for (size_t k = c->n_live; k-- > 0;)
                if (c->live[k].off == off) {
                    c->live[k].back = 1;
                    break;
                }
            size_t top = c->used;
            while (c->n_live && c->live[c->n_live - 1].back)
                c->used = c->live[--c->n_live].off;
            SCRATCH_POISON(c->base + c->used, top - c->used);
            (void)top;
            pthread_mutex_unlock(&s->mu);
            return;
        }
        pthread_mutex_unlock(&s->mu);
    }
    free(p);
}

int sp_ana_scratch_adopt(sp_ana_scratch *s, void *block, void *const *lo, const size_t *len, size_t n)
{
    if (!s || !block)
        return 0;
    pthread_mutex_lock(&s->mu);
    size_t b = 0, room = 0;
    while (b < SCRATCH_ADOPTED && s->block[b])
        b++;
    for (size_t i = 0; i < SCRATCH_ADOPTED; i++)
        room += !s->chunk[i].base;
    int ok = b < SCRATCH_ADOPTED && room >= n;
    for (size_t k = 0; ok && k < n; k++) {
        /* from the stretch's first byte aligned as malloc aligns, whole arrays' worth (a multiple of
         * SCRATCH_ALIGN: an array as long as a malloc'd block fits in it); too short: left alone */
        const uintptr_t al = SCRATCH_ADOPT_ALIGN;
        uintptr_t p = ((uintptr_t)lo[k] + al - 1) & ~(al - 1);
        uintptr_t end = (uintptr_t)lo[k] + len[k];
        if (end <= p || end - p < SCRATCH_ALIGN)
            continue;
        size_t i = 0;
        while (s->chunk[i].base)
            i++;
        scratch_chunk *c = &s->chunk[i];
        c->base = (unsigned char *)p;
        c->cap = (size_t)(end - p) / SCRATCH_ALIGN * SCRATCH_ALIGN;
        c->used = c->n_live = 0;
        SCRATCH_POISON(c->base, c->cap);
    }
    if (ok)
        s->block[b] = block;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* A volatile pointer, so that the compiler cannot fold malloc + memset into calloc (GCC does), whose
 * fresh pages the first read maps as the shared zero page. */
static void *(*volatile zero_bytes)(void *, int, size_t) = memset;

void sp_ana_zero(void *p, size_t bytes)
{
    if (bytes)
        zero_bytes(p, 0, bytes);
}

double *sp_ana_zeroed_doubles(size_t n)
{
    size_t bytes = (n ? n : 1) * sizeof(double);
    double *v = malloc(bytes);
    if (v)
        sp_ana_zero(v, bytes);
    return v;
}
