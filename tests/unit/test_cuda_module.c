/* The real CUDA backend module of this build (libservprof-cuda.so), loaded as the service loads it,
 * on any machine (skips with 77 only in a build without the module): its table is of this version
 * and ABI; a weights view with a tensor outside its blob is refused before any device is touched;
 * with no GPU, device_count says why, model_create fails with a CUDA message, the collector refuses
 * to start on this process's recorder and says so through this process's log callback (the module
 * logs through the loader's sp_get_log, not a callback of its own), and batch marks are harmless;
 * with a GPU, the device is described (test_cuda_backend covers the rest). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

#if !defined(SERVPROF_SERVE_ENABLED) || !defined(SERVPROF_HAVE_CUDA_BACKEND)
int main(void)
{
    fprintf(stderr, "test_cuda_module: SKIP: this build has no CUDA backend module\n");
    return 77;
}
#else
#include "serve/serve_int.h"

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_collector_lines;

static void capture_log(void *user, sp_log_level level, const char *message)
{
    (void)user;
    (void)level;
    pthread_mutex_lock(&g_log_mu);
    g_collector_lines += strncmp(message, "servprof-cupti: ", 16) == 0;
    pthread_mutex_unlock(&g_log_mu);
}

int main(void)
{
    char err[1024] = "";
    sp_set_log(capture_log, NULL);
    setenv(SP_CUDA_MODULE_ENV, SP_BUILD_DIR "/" SP_CUDA_MODULE_FILE, 1);
    const sp_cuda_backend *cb = NULL;
    sp_status st = sp_cuda_backend_load(&cb, err, sizeof err);
    if (st != SP_OK)
        fprintf(stderr, "load: %s\n", err);
    CHECK(st == SP_OK);
    if (!cb)
        return sp_test_done("test_cuda_module");
    CHECK_EQ_U64(cb->abi, SP_CUDA_BACKEND_ABI);
    CHECK_EQ_U64(cb->size, sizeof(sp_cuda_backend));
    CHECK(strcmp(cb->version, SP_VERSION_STRING) == 0);
    const sp_cuda_backend *again = NULL;
    CHECK(sp_cuda_backend_load(&again, err, sizeof err) == SP_OK && again == cb); /* once per process */

    /* a view whose token embeddings lie past the blob: refused before any CUDA call */
    static float blob[64];
    sp_cuda_layer_weights layer = {blob, blob, blob, blob, blob, blob, blob, blob, blob, blob, blob, blob};
    sp_cuda_weights bad = {10, 4, 1, 2, 8, 4, blob, 64, blob + 40, blob, blob, blob, blob, &layer};
    sp_cuda_model *m = NULL;
    err[0] = '\0';
    CHECK(cb->model_create(&bad, 0, &m, err, sizeof err) == SP_ERR_INVALID);
    CHECK(m == NULL && strstr(err, "weights view") != NULL);

    char why[512] = "";
    int ndev = cb->device_count(why, sizeof why);
    if (ndev > 0) {
        char desc[256] = "";
        cb->device_describe(0, desc, sizeof desc);
        printf("GPU present (%d): %s; the no-GPU checks do not apply\n", ndev, desc);
        CHECK(desc[0] != '\0');
        return sp_test_done("test_cuda_module");
    }
    printf("no GPU: %s\n", why);
    CHECK(strstr(why, "CUDA") != NULL || strstr(why, "cuda") != NULL);

    /* a consistent view, no device: a CUDA error, named */
    sp_encoder_config cfg = {50, 8, 1, 2, 16, 8};
    sp_encoder *enc;
    CHECK(sp_encoder_create_seeded(&cfg, 3, &enc, err, sizeof err) == SP_OK);
    sp_cuda_weights wv;
    CHECK(sp_cuda_weights_view(enc, &wv) == SP_OK);
    err[0] = '\0';
    st = cb->model_create(&wv, 0, &m, err, sizeof err);
    printf("model_create without a GPU: %s: %s\n", sp_status_str(st), err);
    CHECK(st == SP_ERR_IO && strncmp(err, "cuda: ", 6) == 0 && m == NULL);
    sp_cuda_weights_view_free(&wv);
    sp_encoder_destroy(enc);

    /* the module's collector on this process's recorder: refuses, says why through our callback */
    char path[] = "/tmp/servprof-cuda-module-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, NULL, &rec) == SP_OK);
    cb->cupti_batch_begin(7); /* marks work without a running collector */
    cb->cupti_batch_end();
    sp_cupti_options co;
    cb->cupti_options_init(&co);
    st = cb->cupti_start(rec, &co);
    printf("cupti_start without a GPU: %s\n", sp_status_str(st));
    CHECK(st != SP_OK);
    CHECK(cb->cupti_stop() == SP_ERR_STATE);
    sp_cupti_stats cs;
    cb->cupti_get_stats(&cs);
    CHECK(!cs.running);
    pthread_mutex_lock(&g_log_mu);
    printf("collector lines through this process's log callback: %d\n", g_collector_lines);
    CHECK(g_collector_lines >= 1);
    pthread_mutex_unlock(&g_log_mu);
    CHECK(sp_recorder_close(rec) == SP_OK);
    unlink(path);
    return sp_test_done("test_cuda_module");
}
#endif
