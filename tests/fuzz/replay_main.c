/* Runs a fuzz target's LLVMFuzzerTestOneInput over every file of its corpus folder (and a few
 * derived inputs: each file cut in half and byte-flipped), so `make test` exercises every target
 * without libFuzzer. Usage: fuzz_X_replay CORPUS_DIR */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return 0;
    LLVMFuzzerTestOneInput(buf, len);
    LLVMFuzzerTestOneInput(buf, len / 2);
    uint32_t x = 2463534242u;
    for (int k = 0; k < 8 && len > 0; k++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[x % len] ^= (uint8_t)(x >> 8);
        LLVMFuzzerTestOneInput(buf, len);
    }
    free(buf);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "%s: no corpus folder\n", argv[1]);
        return 1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        n += run_file(path);
    }
    closedir(d);
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    printf("%s: %d passed, 0 failed\n", argv[0], n);
    return n > 0 ? 0 : 1;
}
