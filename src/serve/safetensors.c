/* Reading and writing safetensors files of float32 tensors (safetensors_int.h): the one copy of the
 * format's rules the reference models share. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "serve/safetensors_int.h"

size_t sp_st_add(sp_st_tensor *t, size_t n, const char *name, float *data, size_t d0, size_t d1, int ndim)
{
    snprintf(t[n].name, sizeof(t[n].name), "%s", name);
    t[n].data = data;
    t[n].dims[0] = d0;
    t[n].dims[1] = d1;
    t[n].ndim = ndim;
    return n + 1;
}

sp_status sp_st_save(const char *path, const sp_st_tensor *t, size_t n, char *err, size_t errlen)
{
    json_t *hdr = json_object();
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t bytes = sp_st_count(&t[i]) * sizeof(float);
        json_t *shape = t[i].ndim == 2 ? json_pack("[II]", (json_int_t)t[i].dims[0], (json_int_t)t[i].dims[1])
                                       : json_pack("[I]", (json_int_t)t[i].dims[0]);
        json_object_set_new(hdr, t[i].name,
                            json_pack("{s:s,s:o,s:[II]}", "dtype", "F32", "shape", shape, "data_offsets",
                                      (json_int_t)off, (json_int_t)(off + bytes)));
        off += bytes;
    }
    json_object_set_new(hdr, "__metadata__", json_pack("{s:s}", "format", "pt"));
    char *text = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(hdr);
    FILE *f = text ? fopen(path, "wb") : NULL;
    int open_errno = errno;
    sp_status st = SP_OK;
    if (!f) {
        sp_errf(err, errlen, "%s: cannot create: %s", path, text ? strerror(open_errno) : "out of memory");
        st = text ? SP_ERR_IO : SP_ERR_NOMEM;
    } else {
        /* the header is padded with spaces to a multiple of 8 bytes, as the reference writer does,
         * so the tensors that follow are aligned */
        uint64_t tl = strlen(text), hl = (tl + 7) & ~(uint64_t)7;
        unsigned char le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (unsigned char)(hl >> (8 * i));
        int ok = fwrite(le, 1, 8, f) == 8 && fwrite(text, 1, tl, f) == tl && fwrite("       ", 1, hl - tl, f) == hl - tl;
        /* x86/arm64 hosts are little-endian, as safetensors stores floats */
        for (size_t i = 0; ok && i < n; i++) {
            size_t cnt = sp_st_count(&t[i]);
            ok = fwrite(t[i].data, sizeof(float), cnt, f) == cnt;
        }
        if (fclose(f) != 0 || !ok) {
            sp_errf(err, errlen, "%s: write failed", path);
            st = SP_ERR_IO;
        }
    }
    free(text);
    return st;
}

sp_status sp_st_open(const char *path, sp_st_file *sf, char *err, size_t errlen)
{
    memset(sf, 0, sizeof(*sf));
    sf->path = path;
    FILE *f = fopen(path, "rb");
    if (!f) {
        sp_errf(err, errlen, "%s: cannot open weights: %s", path, strerror(errno));
        return SP_ERR_IO;
    }
    /* a directory opens, and would read as "too short" with a nonsense size */
    const char *why = sp_file_not_regular(f, NULL);
    if (why) {
        fclose(f);
        sp_errf(err, errlen, "%s: cannot read weights: %s", path, why);
        return SP_ERR_IO;
    }
    sp_status st = SP_OK;
    char *text = NULL;
    unsigned char le[8];
    fseek(f, 0, SEEK_END);
    long fsize = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (fsize < 8 || fread(le, 1, 8, f) != 8) {
        sp_errf(err, errlen, "%s: too short for a safetensors file (%ld bytes)", path, fsize);
        st = SP_ERR_FORMAT;
        goto fail;
    }
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++)
        hl |= (uint64_t)le[i] << (8 * i);
    if (hl == 0 || hl > SP_ST_MAX_HEADER || hl > (uint64_t)fsize - 8) {
        sp_errf(err, errlen, "%s: header length %llu at offset 0 is beyond the file (%ld bytes) or the %u-byte limit",
                path, (unsigned long long)hl, fsize, SP_ST_MAX_HEADER);
        st = SP_ERR_FORMAT;
        goto fail;
    }
    text = malloc(hl);
    if (!text || fread(text, 1, hl, f) != hl) {
        st = text ? SP_ERR_IO : SP_ERR_NOMEM;
        sp_errf(err, errlen, "%s: cannot read the header", path);
        goto fail;
    }
    json_error_t jerr;
    /* the header is at most 100 MB and normally a few KB: a DOM parse is the right tool */
    json_t *hdr = json_loadb(text, hl, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    text = NULL;
    if (!json_is_object(hdr)) {
        json_decref(hdr);
        sp_errf(err, errlen, "%s: header JSON invalid at byte %d (file offset %d): %s", path, jerr.position,
                jerr.position + 8, jerr.text);
        st = SP_ERR_PARSE;
        goto fail;
    }
    sf->f = f;
    sf->hdr = hdr;
    sf->header_len = hl;
    sf->data_len = (uint64_t)fsize - 8 - hl;
    return SP_OK;
fail:
    free(text);
    fclose(f);
    return st;
}

void sp_st_close(sp_st_file *sf)
{
    json_decref(sf->hdr);
    if (sf->f)
        fclose(sf->f);
    sf->hdr = NULL;
    sf->f = NULL;
}

json_t *sp_st_get(const sp_st_file *sf, const char *prefix, const char *name)
{
    char full[160];
    snprintf(full, sizeof(full), "%s%s", prefix, name);
    return json_object_get(sf->hdr, full);
}

sp_status sp_st_check(const sp_st_file *sf, const char *name, json_t *e, size_t exp0, size_t exp1, int ndim,
                      uint64_t *begin, size_t *dim0, char *err, size_t errlen)
{
    const char *path = sf->path;
    if (!json_is_object(e)) {
        sp_errf(err, errlen, "%s: tensor %s is missing", path, name);
        return SP_ERR_FORMAT;
    }
    json_t *dt = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape"),
           *offs = json_object_get(e, "data_offsets");
    if (!json_is_string(dt) || strcmp(json_string_value(dt), "F32") != 0) {
        sp_errf(err, errlen, "%s: tensor %s has dtype %s; only F32 is supported", path, name,
                json_is_string(dt) ? json_string_value(dt) : "(none)");
        return SP_ERR_UNSUPPORTED;
    }
    if (!json_is_array(shape) || (int)json_array_size(shape) != ndim || !json_is_array(offs) ||
        json_array_size(offs) != 2) {
        sp_errf(err, errlen, "%s: tensor %s: shape must have %d dimensions and data_offsets 2 entries", path, name,
                ndim);
        return SP_ERR_FORMAT;
    }
    uint64_t count = 1;
    size_t d[2] = {0, 0};
    for (int i = 0; i < ndim; i++) {
        json_t *v = json_array_get(shape, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > (1 << 24)) {
            sp_errf(err, errlen, "%s: tensor %s: bad dimension %d", path, name, i);
            return SP_ERR_FORMAT;
        }
        d[i] = (size_t)json_integer_value(v);
        count *= d[i];
    }
    if ((exp0 && d[0] != exp0) || (ndim == 2 && d[1] != exp1)) {
        sp_errf(err, errlen, "%s: tensor %s has shape [%zu%s%zu], expected [%zu%s%zu]", path, name, d[0],
                ndim == 2 ? "," : "", ndim == 2 ? d[1] : (size_t)0, exp0 ? exp0 : d[0], ndim == 2 ? "," : "",
                ndim == 2 ? exp1 : (size_t)0);
        return SP_ERR_FORMAT;
    }
    json_t *b = json_array_get(offs, 0), *en = json_array_get(offs, 1);
    if (!json_is_integer(b) || !json_is_integer(en) || json_integer_value(b) < 0 ||
        json_integer_value(en) < json_integer_value(b) || (uint64_t)json_integer_value(en) > sf->data_len ||
        (uint64_t)(json_integer_value(en) - json_integer_value(b)) != count * sizeof(float)) {
        sp_errf(err, errlen,
                "%s: tensor %s: data_offsets do not fit the file (data section %llu bytes, tensor needs %llu)",
                path, name, (unsigned long long)sf->data_len, (unsigned long long)(count * sizeof(float)));
        return SP_ERR_FORMAT;
    }
    *begin = (uint64_t)json_integer_value(b);
    if (dim0)
        *dim0 = d[0];
    return SP_OK;
}

sp_status sp_st_read(const sp_st_file *sf, const sp_st_tensor *t, uint64_t begin, char *err, size_t errlen)
{
    size_t cnt = sp_st_count(t);
    if (fseek(sf->f, (long)(8 + sf->header_len + begin), SEEK_SET) != 0 || fread(t->data, sizeof(float), cnt, sf->f) != cnt) {
        sp_errf(err, errlen, "%s: cannot read tensor %s at offset %llu", sf->path, t->name,
                (unsigned long long)(8 + sf->header_len + begin));
        return SP_ERR_IO;
    }
    for (size_t k = 0; k < cnt; k++) {
        if (!isfinite(t->data[k])) {
            sp_errf(err, errlen, "%s: tensor %s holds a non-finite value at element %zu", sf->path, t->name, k);
            return SP_ERR_FORMAT;
        }
    }
    return SP_OK;
}

sp_status sp_st_embedding(const sp_st_file *sf, const char *prefix, const char *name, const char *hint,
                          size_t max_hidden, uint32_t *hidden, size_t *rows, char *err, size_t errlen)
{
    json_t *we = sp_st_get(sf, prefix, name);
    json_t *shape = json_is_object(we) ? json_object_get(we, "shape") : NULL;
    if (!json_is_array(shape) || json_array_size(shape) != 2 || !json_is_integer(json_array_get(shape, 1))) {
        sp_errf(err, errlen, "%s: no %s [vocab, hidden] tensor%s", sf->path, name, hint);
        return SP_ERR_FORMAT;
    }
    json_int_t hid = json_integer_value(json_array_get(shape, 1));
    if (hid <= 0 || (uint64_t)hid > max_hidden) {
        sp_errf(err, errlen, "%s: hidden size %lld out of range", sf->path, (long long)hid);
        return SP_ERR_FORMAT;
    }
    *hidden = (uint32_t)hid;
    uint64_t begin;
    return sp_st_check(sf, name, we, 0, *hidden, 2, &begin, rows, err, errlen);
}

sp_status sp_st_rows(const sp_st_file *sf, const char *prefix, const char *name, size_t cols, size_t *rows,
                     char *err, size_t errlen)
{
    uint64_t begin;
    return sp_st_check(sf, name, sp_st_get(sf, prefix, name), 0, cols, 2, &begin, rows, err, errlen);
}

uint32_t sp_st_count_layers(const sp_st_file *sf, const char *prefix, const char *before, const char *after,
                            uint32_t max_layers)
{
    char nm[96];
    uint32_t layers = 0;
    while (layers <= max_layers) {
        snprintf(nm, sizeof(nm), "%s%u%s", before, layers, after);
        if (!sp_st_get(sf, prefix, nm))
            break;
        layers++;
    }
    return layers;
}

sp_status sp_st_check_read(const sp_st_file *sf, const sp_st_tensor *t, json_t *e, size_t exp0, char *err,
                           size_t errlen)
{
    uint64_t begin;
    sp_status st = sp_st_check(sf, t->name, e, exp0, t->dims[1], t->ndim, &begin, NULL, err, errlen);
    if (st != SP_OK)
        return st;
    return sp_st_read(sf, t, begin, err, errlen);
}

sp_status sp_st_load_model(const char *path, uint32_t heads, const sp_st_model_kind *kind, void **out, char *err,
                           size_t errlen)
{
    sp_st_file sf;
    sp_status st = sp_st_open(path, &sf, err, errlen);
    if (st != SP_OK)
        return st;
    void *model = NULL;
    sp_st_tensor *t = NULL;
    /* with or without the prefix a checkpoint of a model with a head (BertFor*, GPT2LMHeadModel) has */
    const char *prefix = json_object_get(sf.hdr, kind->probe) ? "" : kind->prefix;
    if ((st = kind->create(&sf, prefix, heads, &model, err, errlen)) != SP_OK)
        goto done;
    t = malloc(kind->max_tensors * sizeof(*t));
    if (!t) {
        st = SP_ERR_NOMEM;
        goto done;
    }
    size_t n = kind->tensors(model, t);
    for (size_t i = 0; i < n; i++) {
        json_t *e = sp_st_get(&sf, prefix, t[i].name);
        int optional = kind->optional && strcmp(t[i].name, kind->optional) == 0;
        if (optional && !e) {
            memset(t[i].data, 0, sp_st_count(&t[i]) * sizeof(float));
            continue;
        }
        if ((st = sp_st_check_read(&sf, &t[i], e, optional ? 0 : t[i].dims[0], err, errlen)) != SP_OK)
            goto done;
    }
    *out = model;
    model = NULL;
done:
    if (model)
        kind->destroy(model);
    free(t);
    sp_st_close(&sf);
    return st;
}
