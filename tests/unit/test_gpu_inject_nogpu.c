/* Injection on a machine without a GPU: InitializeInjection must report success to CUDA (so the
 * process runs on), say on stderr that it is untraced, and leave no empty trace behind. Skips (77)
 * when the collector is not built, and where a GPU is present (test_gpu_live covers that case). */
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include "testlib.h"

int main(void)
{
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (drv) {
        int (*init)(unsigned) = (int (*)(unsigned))dlsym(drv, "cuInit");
        int (*count)(int *) = (int (*)(int *))dlsym(drv, "cuDeviceGetCount");
        int n = 0;
        if (init && count && init(0) == 0 && count(&n) == 0 && n > 0) {
            fprintf(stderr, "test_gpu_inject_nogpu: SKIP: a GPU is present (see test_gpu_live)\n");
            return 77;
        }
    }
    char lib[4096];
    snprintf(lib, sizeof lib, "%s/libservprof-cupti.so", SP_BUILD_DIR);
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "test_gpu_inject_nogpu: SKIP: collector not built (%s)\n", dlerror());
        return 77;
    }
    char path[] = "/tmp/sp_gpu_inject_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    setenv("SERVPROF_TRACE", path, 1);
    int (*inject)(void) = (int (*)(void))dlsym(h, "InitializeInjection");
    CHECK(inject != NULL);
    if (inject) {
        CHECK(inject() == 1);
        CHECK(inject() == 1); /* a second call (CUDA may call once per process) is harmless */
    }
    CHECK(access(path, F_OK) != 0); /* no empty trace pretending there was no GPU work */
    unlink(path);
    return sp_test_done("test_gpu_inject_nogpu");
}
