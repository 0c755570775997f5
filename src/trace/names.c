/* libservprof's names and trace properties: stage, kernel and launch names interned once per
 * recorder so the hot path passes a small id (sp_recorder_intern), and the key/value properties a
 * trace carries (sp_recorder_set_property). The writer (writer.c) writes both into the file. */
#include <stdlib.h>
#include <string.h>

#include "trace/recorder_int.h"

struct name_probe {
    const sp_recorder *rec;
    const char *s;
    size_t len;
};

static bool name_eq(const void *ctx, uint32_t id)
{
    const struct name_probe *p = ctx;
    const char *c = p->rec->names[id];
    return strncmp(c, p->s, p->len) == 0 && c[p->len] == '\0';
}

/* Names are keyed by a hash of their text in name_map (common/hmap.h), confirmed by name_eq. */
static sp_status name_add_locked(sp_recorder *rec, const char *s, size_t len, sp_name_id *out)
{
    uint64_t h = sp_hash_bytes(s, len, 0);
    struct name_probe p = {rec, s, len};
    uint32_t found = sp_hmap_find(&rec->name_map, h, name_eq, &p);
    if (found != SP_HMAP_NONE) {
        *out = found;
        return SP_OK;
    }
    if (rec->nnames >= SP_NATIVE_MAX_NAMES)
        return SP_ERR_LIMIT;
    size_t cap = rec->cap_names;
    sp_status st = SP_GROW(rec->names, cap, (size_t)rec->nnames + 1, SP_NATIVE_MAX_NAMES);
    if (st)
        return st;
    rec->cap_names = (uint32_t)cap;
    char *copy = malloc(len + 1);
    if (!copy)
        return SP_ERR_NOMEM;
    sp_name_id id = rec->nnames;
    if ((st = sp_hmap_put(&rec->name_map, h, id))) {
        free(copy);
        return st;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    rec->names[id] = copy;
    rec->nnames++;
    *out = id;
    return SP_OK;
}

void sp_rec_names_free(sp_recorder *rec)
{
    for (uint32_t i = 1; i < rec->nnames; i++)
        free(rec->names[i]);
    free(rec->names);
    sp_hmap_free(&rec->name_map);
    rec->names = NULL;
    rec->nnames = rec->cap_names = 0;
    rec->names_written = 0;
}

sp_status sp_rec_names_init(sp_recorder *rec)
{
    static const char *const known[] = {"preprocess", "queue", "postprocess"};
    size_t cap = 0;
    if (sp_hmap_init(&rec->name_map, 32) != SP_OK || SP_GROW(rec->names, cap, 16, SP_NATIVE_MAX_NAMES))
        return SP_ERR_NOMEM;
    rec->cap_names = (uint32_t)cap;
    rec->names[0] = NULL;
    rec->nnames = 1;
    for (size_t i = 0; i < 3; i++) {
        sp_name_id id;
        sp_status st = name_add_locked(rec, known[i], strlen(known[i]), &id);
        if (st)
            return st;
    }
    return SP_OK;
}

sp_name_id sp_rec_intern(sp_recorder *rec, const char *name)
{
    if (!rec || !name)
        return SP_NAME_NONE;
    size_t len = strnlen(name, SP_NATIVE_MAX_NAME + 1);
    if (len == 0 || len > SP_NATIVE_MAX_NAME)
        return SP_NAME_NONE;
    sp_name_id id = SP_NAME_NONE;
    pthread_mutex_lock(&rec->names_mu);
    if (rec->names && name_add_locked(rec, name, len, &id) != SP_OK)
        id = SP_NAME_NONE;
    pthread_mutex_unlock(&rec->names_mu);
    return id;
}

sp_status sp_rec_set_property(sp_recorder *rec, const char *key, const char *value)
{
    if (!rec || !key || !value)
        return SP_ERR_INVALID;
    size_t kl = strnlen(key, SP_PROP_MAX_KEY + 1), vl = strnlen(value, SP_PROP_MAX_VALUE + 1);
    if (!sp_prop_key_valid(key, kl) || vl > SP_PROP_MAX_VALUE)
        return SP_ERR_INVALID;
    int state = GATE_STATE(atomic_load_explicit(&rec->gate, memory_order_relaxed));
    if (state != REC_OPEN)
        return SP_ERR_STATE;
    sp_status st = SP_OK;
    pthread_mutex_lock(&rec->names_mu);
    uint32_t i = 0;
    while (i < rec->nprops && strcmp(rec->prop_key[i], key) != 0)
        i++;
    if (i == rec->nprops && rec->nprops >= SP_PROP_MAX_KEYS) {
        st = SP_ERR_LIMIT;
    } else {
        char *v = strdup(value);
        char *k = i == rec->nprops ? strdup(key) : rec->prop_key[i];
        if (!v || !k) {
            free(v);
            if (i == rec->nprops)
                free(k);
            st = SP_ERR_NOMEM;
        } else {
            if (i == rec->nprops) {
                rec->prop_key[i] = k;
                rec->prop_val[i] = NULL;
                rec->nprops++;
            }
            free(rec->prop_val[i]);
            rec->prop_val[i] = v;
            rec->props_dirty = true;
        }
    }
    pthread_mutex_unlock(&rec->names_mu);
    return st;
}

void sp_rec_props_free(sp_recorder *rec)
{
    for (uint32_t i = 0; i < rec->nprops; i++) {
        free(rec->prop_key[i]);
        free(rec->prop_val[i]);
        rec->prop_key[i] = rec->prop_val[i] = NULL;
    }
    rec->nprops = 0;
    rec->props_dirty = false;
}
