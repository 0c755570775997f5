/* The service's side of the CUDA backend module (cuda_backend.h): finds and opens
 * libservprof-cuda.so when `--device cuda` asks for it, hands it this process's recorder functions
 * and checks its table; and turns the encoder's weights into the plain view the module takes. The
 * CPU service never reaches this file, so it never loads a CUDA library. */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util_int.h"
#include "serve/serve_int.h"

/* Where an installed module lies relative to the installed binary (bindir to libdir), set by CMake. */
#ifndef SP_CUDA_MODULE_REL
#define SP_CUDA_MODULE_REL "../lib"
#endif

/* The process's recorder functions: the copy of the recorder this file is linked with is the one
 * the service records into, so the module's records land in the same recorder. */
static const sp_cuda_host g_host = {
    SP_CUDA_BACKEND_ABI, (uint32_t)sizeof(sp_cuda_host), SP_VERSION_STRING, sp_now_ns, sp_get_log,
    sp_recorder_intern, sp_recorder_add_drops, sp_record_batch, sp_record_kernel, sp_record_copy,
    sp_record_launch,
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static const sp_cuda_backend *g_backend; /* once loaded, kept (the module is never closed) */

/* Opens `path` and takes its table. On failure writes why (naming the path) into err. */
static sp_status open_module(const char *path, const sp_cuda_backend **out, char *err, size_t errlen)
{
    /* RTLD_LOCAL: the module's symbols (cuBLAS, cudart) stay out of the process's namespace */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        sp_errf(err, errlen, "%s", why ? why : path);
        return SP_ERR_UNSUPPORTED;
    }
    sp_cuda_backend_entry_fn entry;
    void *sym = dlsym(h, SP_CUDA_BACKEND_ENTRY);
    memcpy(&entry, &sym, sizeof entry); /* object pointer to function pointer, as POSIX allows */
    if (!sym) {
        sp_errf(err, errlen, "%s has no entry point %s (a module of another servprof version?)", path,
                SP_CUDA_BACKEND_ENTRY);
        dlclose(h);
        return SP_ERR_UNSUPPORTED;
    }
    char why[256] = "";
    const sp_cuda_backend *b = entry(&g_host, why, sizeof why);
    if (!b) {
        sp_errf(err, errlen, "%s refused this servprof: %s", path, why[0] ? why : "no reason given");
        dlclose(h);
        return SP_ERR_UNSUPPORTED;
    }
    if (b->abi != SP_CUDA_BACKEND_ABI || b->size != sizeof(sp_cuda_backend) || !b->version ||
        strcmp(b->version, SP_VERSION_STRING) != 0) {
        sp_errf(err, errlen, "%s is built for servprof %s (backend ABI %u), this is servprof %s (ABI %u)", path,
                b->version ? b->version : "?", b->abi, SP_VERSION_STRING, SP_CUDA_BACKEND_ABI);
        /* not closed: the module's entry ran and may hold state; leaving it mapped is harmless */
        return SP_ERR_UNSUPPORTED;
    }
    *out = b;
    return SP_OK;
}

#ifdef SERVPROF_HAVE_CUDA_BACKEND
/* The directory of the running executable ("" when /proc is unreadable). */
static void exe_dir(char *buf, size_t len)
{
    buf[0] = '\0';
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0';
    snprintf(buf, len, "%s", exe);
}
#endif

/* The search (docs/serve.md, "CUDA backend"): $SERVPROF_CUDA_MODULE alone when set; else, in a build
 * that made the module, beside the executable (the build tree), in the installed libdir relative to
 * it, then the loader's own search path (LD_LIBRARY_PATH, ld.so.cache). The first file that exists
 * is the one opened: a module that is there but will not load is reported, not passed over. */
static sp_status find_and_open(const sp_cuda_backend **out, char *err, size_t errlen)
{
    char why[768] = "";
    const char *env = getenv(SP_CUDA_MODULE_ENV);
    if (env && *env) {
        if (open_module(env, out, why, sizeof why) == SP_OK)
            return SP_OK;
        sp_errf(err, errlen, "cannot load %s (from %s): %s", SP_CUDA_MODULE_FILE, SP_CUDA_MODULE_ENV, why);
        return SP_ERR_UNSUPPORTED;
    }
#ifndef SERVPROF_HAVE_CUDA_BACKEND
    sp_errf(err, errlen, "this build has no CUDA backend (configure with the CUDA toolkit and -DSERVPROF_CUDA=ON)");
    return SP_ERR_UNSUPPORTED;
#else
    char dir[PATH_MAX], cand[2][PATH_MAX + 64];
    exe_dir(dir, sizeof dir);
    snprintf(cand[0], sizeof cand[0], "%s/%s", dir, SP_CUDA_MODULE_FILE);
    snprintf(cand[1], sizeof cand[1], "%s/%s/%s", dir, SP_CUDA_MODULE_REL, SP_CUDA_MODULE_FILE);
    for (int i = 0; dir[0] && i < 2; i++) {
        if (access(cand[i], F_OK) != 0)
            continue;
        if (open_module(cand[i], out, why, sizeof why) == SP_OK)
            return SP_OK;
        sp_errf(err, errlen, "cannot load %s: %s", SP_CUDA_MODULE_FILE, why);
        return SP_ERR_UNSUPPORTED;
    }
    if (open_module(SP_CUDA_MODULE_FILE, out, why, sizeof why) == SP_OK)
        return SP_OK;
    sp_errf(err, errlen,
            "cannot load %s: not found beside the executable (%s), in %s/%s, nor on the library path (%s); "
            "set %s to its path",
            SP_CUDA_MODULE_FILE, dir[0] ? dir : "unknown", dir[0] ? dir : "?", SP_CUDA_MODULE_REL, why,
            SP_CUDA_MODULE_ENV);
    return SP_ERR_UNSUPPORTED;
#endif
}

sp_status sp_cuda_backend_load(const sp_cuda_backend **out, char *err, size_t errlen)
{
    if (!out)
        return SP_ERR_INVALID;
    pthread_mutex_lock(&g_mu);
    sp_status st = SP_OK;
    if (!g_backend)
        st = find_and_open(&g_backend, err, errlen);
    if (st == SP_OK)
        *out = g_backend;
    pthread_mutex_unlock(&g_mu);
    return st;
}

sp_status sp_cuda_weights_view(const sp_encoder *enc, sp_cuda_weights *out)
{
    const sp_encoder_config *c = sp_encoder_get_config(enc);
    sp_cuda_layer_weights *layer = calloc(c->layers ? c->layers : 1, sizeof *layer);
    if (!layer)
        return SP_ERR_NOMEM;
    sp_encoder_view v;
    sp_encoder_get_view(enc, &v);
    for (uint32_t l = 0; l < c->layers; l++) {
        sp_encoder_layer_view L;
        sp_encoder_get_layer_view(enc, l, &L);
        sp_cuda_layer_weights w = {L.wqkv, L.bqkv, L.wo, L.bo, L.ln1_g, L.ln1_b,
                                   L.w1,   L.b1,   L.w2, L.b2, L.ln2_g, L.ln2_b};
        layer[l] = w;
    }
    sp_cuda_weights w = {c->vocab_size, c->hidden,  c->layers,   c->heads,   c->ffn,     c->max_len, v.blob,
                         v.blob_floats, v.tok_emb,  v.pos_emb,   v.type_emb, v.emb_ln_g, v.emb_ln_b, layer};
    *out = w;
    return SP_OK;
}

void sp_cuda_weights_view_free(sp_cuda_weights *w)
{
    if (!w)
        return;
    free((void *)w->layer);
    w->layer = NULL;
}
