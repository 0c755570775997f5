/* libservprof's names and trace properties: stage, kernel and launch names interned once per
 * recorder so the hot path passes a small id (sp_recorder_intern), and the key/value properties a
 * trace carries (sp_recorder_set_property). The writer (writer.c) writes both into the file. */
#include <stdlib.h>
#include <string.h>

#include "trace/recorder_int.h"

static sp_name_id name_find_locked(sp_recorder *rec, const char *s, size_t len, size_t *slot)
{
    size_t mask = rec->name_nslots - 1;
    size_t j = sp_hash_bytes(s, len, 0) & mask;
    for (;;) {
        uint32_t id = rec->name_slots[j];
        if (!id) {
            *slot = j;
            return SP_NAME_NONE;
        }
        const char *c = rec->names[id];
        if (strncmp(c, s, len) == 0 && c[len] == '\0')
            return id;
        j = (j + 1) & mask;
    }
}

static sp_status name_add_locked(sp_recorder *rec, const char *s, size_t len, sp_name_id *out)
{
    size_t slot;
    sp_name_id id = name_find_locked(rec, s, len, &slot);
    if (id) {
        *out = id;
        return SP_OK;
    }
    if (rec->nnames >= SP_NATIVE_MAX_NAMES)
        return SP_ERR_LIMIT;
    if ((size_t)(rec->nnames + 1) * 2 > rec->name_nslots) {
        size_t n = rec->name_nslots * 2;
        uint32_t *ns = calloc(n, sizeof *ns);
        if (!ns)
            return SP_ERR_NOMEM;
        for (uint32_t i = 1; i < rec->nnames; i++) {
            size_t j = sp_hash_bytes(rec->names[i], strlen(rec->names[i]), 0) & (n - 1);
            while (ns[j])
                j = (j + 1) & (n - 1);
            ns[j] = i;
        }
        free(rec->name_slots);
        rec->name_slots = ns;
        rec->name_nslots = n;
        name_find_locked(rec, s, len, &slot);
    }
    size_t cap = rec->cap_names;
    sp_status st = SP_GROW(rec->names, cap, (size_t)rec->nnames + 1, SP_NATIVE_MAX_NAMES);
    if (st)
        return st;
    rec->cap_names = (uint32_t)cap;
    char *copy = malloc(len + 1);
    if (!copy)
        return SP_ERR_NOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    id = rec->nnames++;
    rec->names[id] = copy;
    rec->name_slots[slot] = id;
    *out = id;
    return SP_OK;
}

void sp_rec_names_free(sp_recorder *rec)
{
    for (uint32_t i = 1; i < rec->nnames; i++)
        free(rec->names[i]);
    free(rec->names);
    free(rec->name_slots);
    rec->names = NULL;
    rec->name_slots = NULL;
    rec->nnames = rec->cap_names = 0;
    rec->name_nslots = 0;
    rec->names_written = 0;
}

sp_status sp_rec_names_init(sp_recorder *rec)
{
    static const char *const known[] = {"preprocess", "queue", "postprocess"};
    rec->name_nslots = 64;
    rec->name_slots = calloc(rec->name_nslots, sizeof *rec->name_slots);
    size_t cap = 0;
    if (!rec->name_slots || SP_GROW(rec->names, cap, 16, SP_NATIVE_MAX_NAMES))
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

sp_name_id sp_recorder_intern(sp_recorder *rec, const char *name)
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

sp_status sp_recorder_set_property(sp_recorder *rec, const char *key, const char *value)
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
