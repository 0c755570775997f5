/* The safetensors file format (Hugging Face: an 8-byte little-endian header length, a JSON header
 * naming each tensor's dtype, shape and byte range, then the data), as the reference models read and
 * write it: float32 only, every entry checked against the header and the file size. One home for the
 * format, shared by the encoder (encoder.c, BertModel names) and the decoder (gen_decoder.c, GPT-2
 * names). Private to src/serve. */
#ifndef SERVPROF_SERVE_SAFETENSORS_INT_H
#define SERVPROF_SERVE_SAFETENSORS_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "servprof/servprof.h"

#define SP_ST_MAX_HEADER (100u << 20) /* the format's own limit on the JSON header */

/* A tensor of a model: its name in the file, where its floats live, and its shape (ndim 1 or 2). */
typedef struct sp_st_tensor {
    char name[96];
    float *data;
    size_t dims[2];
    int ndim;
} sp_st_tensor;

/* Fills t[n] and returns n + 1. */
size_t sp_st_add(sp_st_tensor *t, size_t n, const char *name, float *data, size_t d0, size_t d1, int ndim);

/* Floats in a tensor of this shape. */
static inline size_t sp_st_count(const sp_st_tensor *t) { return t->dims[0] * (t->ndim == 2 ? t->dims[1] : 1); }

/* Writes tensors t[0..n) as a safetensors file (header sorted by name, padded to 8 bytes, metadata
 * "format": "pt"). SP_ERR_IO (with the path in err), SP_ERR_NOMEM. */
sp_status sp_st_save(const char *path, const sp_st_tensor *t, size_t n, char *err, size_t errlen);

/* An open safetensors file: its parsed header and where the data section starts. */
typedef struct sp_st_file {
    const char *path; /* borrowed, for messages */
    FILE *f;
    json_t *hdr;
    uint64_t header_len; /* JSON header bytes */
    uint64_t data_len;   /* bytes after the header */
} sp_st_file;

/* Opens `path` and parses its header (length within the file and SP_ST_MAX_HEADER, valid JSON object,
 * no duplicate names). On failure err names the file and the offset; sf needs no close. */
sp_status sp_st_open(const char *path, sp_st_file *sf, char *err, size_t errlen);
void sp_st_close(sp_st_file *sf);

/* The header entry `prefix` + `name`, or NULL. */
json_t *sp_st_get(const sp_st_file *sf, const char *prefix, const char *name);

/* Checks one header entry `e` for tensor `name`: F32, `ndim` dimensions, shape [exp0, exp1] (exp0 ==
 * 0: any first dimension), byte range inside the data section and equal to the shape's size. On
 * success *begin is its first data byte and *dim0 (may be NULL) its first dimension. */
sp_status sp_st_check(const sp_st_file *sf, const char *name, json_t *e, size_t exp0, size_t exp1, int ndim,
                      uint64_t *begin, size_t *dim0, char *err, size_t errlen);

/* Reads tensor t's floats from data byte `begin` and refuses non-finite values. */
sp_status sp_st_read(const sp_st_file *sf, const sp_st_tensor *t, uint64_t begin, char *err, size_t errlen);

/* ---- the shape reading the encoder's and the decoder's loaders share (tensors named by the caller) ---- */

/* The embedding `prefix` + `name`, [rows, hidden]: *hidden from its shape, which must be an integer in
 * 1..max_hidden, then the tensor checked (sp_st_check) and *rows its first dimension. Messages: "<path>:
 * no <name> [vocab, hidden] tensor<hint>" (hint: "" or a note naming the expected checkpoint) and
 * "<path>: hidden size <n> out of range", or sp_st_check's. */
sp_status sp_st_embedding(const sp_st_file *sf, const char *prefix, const char *name, const char *hint,
                          size_t max_hidden, uint32_t *hidden, size_t *rows, char *err, size_t errlen);

/* Checks the [any, cols] tensor `prefix` + `name` (sp_st_check) and sets *rows to its first dimension. */
sp_status sp_st_rows(const sp_st_file *sf, const char *prefix, const char *name, size_t cols, size_t *rows,
                     char *err, size_t errlen);

/* The number of layers: how many of the names `before` + 0, 1, ... + `after` (after `prefix`) are in
 * the header in a row, counting at most max_layers + 1 (one over the limit, for the caller's check). */
uint32_t sp_st_count_layers(const sp_st_file *sf, const char *prefix, const char *before, const char *after,
                            uint32_t max_layers);

/* Checks header entry `e` against tensor t's shape (first dimension exp0; 0: any) and reads t's floats. */
sp_status sp_st_check_read(const sp_st_file *sf, const sp_st_tensor *t, json_t *e, size_t exp0, char *err,
                           size_t errlen);

/* ---- loading a whole model: the steps the encoder's and the decoder's loaders share ---- */

/* One kind of model as sp_st_load_model reads it. */
typedef struct sp_st_model_kind {
    const char *probe;    /* a tensor name a checkpoint without a prefix has at the top level */
    const char *prefix;   /* the prefix of the names otherwise ("bert.", "transformer.") */
    size_t max_tensors;   /* room for the tensors list */
    const char *optional; /* a tensor that may be missing (then zero-filled) and may have any number of rows
                             (its first ones read), or NULL */
    /* Sizes the model from the file's shapes (heads: the caller's, not in the file) and allocates it
     * into *model; on failure err says why. */
    sp_status (*create)(const sp_st_file *sf, const char *prefix, uint32_t heads, void **model, char *err,
                        size_t errlen);
    size_t (*tensors)(const void *model, sp_st_tensor *t); /* the model's tensors, into t; returns how many */
    void (*destroy)(void *model);
} sp_st_model_kind;

/* Opens `path`, picks the names' prefix by kind->probe, creates the model and reads every tensor of
 * it (each checked against its shape: sp_st_check_read), then closes the file. *out is written on
 * success only; on failure err names the file and what is wrong. */
sp_status sp_st_load_model(const char *path, uint32_t heads, const sp_st_model_kind *kind, void **out, char *err,
                           size_t errlen);

#endif
