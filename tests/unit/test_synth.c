/* The trace simulator as a library (include/servprof/synth.h): sp_synth_write gives byte for byte the
 * traces `servprof synth` wrote before it moved out of the CLI (tests/data/synth/, written by the
 * pre-move binary; README there gives the commands), defaults come from sp_synth_options_init (the
 * report's default price, the backend's rate), every out-of-range option is refused with its name and
 * nothing written, and a failed write is SP_ERR_IO with the system's reason. */
#include <stdlib.h>
#include <string.h>

#include "servprof/synth.h"
#include "testlib.h"

/* The whole of a stream written by fn: sp_synth_write into an in-memory file. */
static char *synth_text(const sp_synth_options *o, sp_status *st, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    if (!f)
        exit(1);
    *st = sp_synth_write(o, f, err, errlen);
    fclose(f);
    return buf;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        exit(1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Removes the version from the meta line's "generator" ("servprof synth 0.2.0" -> "servprof synth"), in
 * place, so a golden file outlives version bumps. */
static void drop_version(char *text)
{
    static const char key[] = "\"generator\":\"servprof synth ";
    char *p = strstr(text, key);
    CHECK(p != NULL);
    if (!p)
        return;
    p += sizeof key - 2; /* at the blank before the version */
    char *q = strchr(p, '"');
    memmove(p, q, strlen(q) + 1);
}

static void check_golden(const char *file, const sp_synth_options *o)
{
    char path[1024], err[256] = "";
    snprintf(path, sizeof path, "%s/tests/data/synth/%s", SP_SOURCE_DIR, file);
    char *want = read_file(path);
    sp_status st;
    char *got = synth_text(o, &st, err, sizeof err);
    CHECK(st == SP_OK);
    CHECK(strstr(got, "\"generator\":\"servprof synth " SP_VERSION_STRING "\"") != NULL);
    drop_version(want);
    drop_version(got);
    size_t i = 0;
    while (want[i] && want[i] == got[i])
        i++;
    if (want[i] != got[i])
        fprintf(stderr, "%s: differs at byte %zu\n", file, i);
    CHECK(strcmp(want, got) == 0);
    free(want);
    free(got);
}

static void test_golden(void)
{
    sp_synth_options o;
    /* servprof synth --requests 20 --gpu --seed 7 */
    sp_synth_options_init(&o);
    o.requests = 20;
    o.gpu = 1;
    o.seed = 7;
    check_golden("gpu_requests20_seed7.jsonl", &o);
    /* servprof synth --requests 12 --seed 3 --max-batch 4 --pad-to 16 --price-per-hour 1.5 */
    sp_synth_options_init(&o);
    o.requests = 12;
    o.seed = 3;
    o.max_batch = 4;
    o.pad_to = 16;
    o.price_per_hour = 1.5;
    check_golden("cpu_requests12_seed3.jsonl", &o);
}

static void test_defaults(void)
{
    sp_synth_options o;
    sp_synth_options_init(&o);
    CHECK(o.price_per_hour == SP_DEFAULT_PRICE_PER_HOUR);
    CHECK(o.rate == 0);
    CHECK(sp_synth_rate(&o) == SP_SYNTH_DEFAULT_RATE_CPU);
    o.gpu = 1;
    CHECK(sp_synth_rate(&o) == SP_SYNTH_DEFAULT_RATE_GPU);
    /* rate 0 is the backend's rate: the same trace as asking for it */
    o.requests = 50;
    sp_status st1, st2;
    char err[256];
    char *a = synth_text(&o, &st1, err, sizeof err);
    o.rate = SP_SYNTH_DEFAULT_RATE_GPU;
    char *b = synth_text(&o, &st2, err, sizeof err);
    CHECK(st1 == SP_OK && st2 == SP_OK);
    CHECK(strcmp(a, b) == 0);
    /* and a different seed gives a different trace */
    o.seed = 2;
    char *c = synth_text(&o, &st2, err, sizeof err);
    CHECK(strcmp(a, c) != 0);
    free(a);
    free(b);
    free(c);
}

/* Each out-of-range option: SP_ERR_INVALID, the message names the field, nothing is written. */
static void test_invalid(void)
{
    sp_synth_options o;
    char err[256];
    struct {
        const char *field;
        int which;
    } bad[] = {{"requests", 0}, {"requests", 1}, {"rate", 2}, {"rate", 3}, {"rate", 4}, {"max_batch", 5},
               {"max_batch", 6}, {"batch_window_ms", 7}, {"batch_window_ms", 8}, {"pad_to", 9},
               {"pad_to", 10}, {"price_per_hour", 11}, {"price_per_hour", 12}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sp_synth_options_init(&o);
        switch (bad[i].which) {
        case 0: o.requests = 0; break;
        case 1: o.requests = SP_SYNTH_MAX_REQUESTS + 1ull; break;
        case 2: o.rate = -1; break;
        case 3: o.rate = SP_SYNTH_MAX_RATE * 2; break;
        case 4: o.rate = NAN; break;
        case 5: o.max_batch = 0; break;
        case 6: o.max_batch = SP_SYNTH_MAX_BATCH + 1; break;
        case 7: o.batch_window_ms = -0.5; break;
        case 8: o.batch_window_ms = SP_SYNTH_MAX_WINDOW_MS + 1; break;
        case 9: o.pad_to = 0; break;
        case 10: o.pad_to = SP_SYNTH_MAX_TOKENS + 1; break;
        case 11: o.price_per_hour = 0; break;
        case 12: o.price_per_hour = INFINITY; break;
        }
        err[0] = '\0';
        sp_status st;
        char *text = synth_text(&o, &st, err, sizeof err);
        CHECK(st == SP_ERR_INVALID);
        CHECK(strncmp(err, bad[i].field, strlen(bad[i].field)) == 0);
        CHECK(text[0] == '\0');
        if (st != SP_ERR_INVALID || text[0])
            fprintf(stderr, "case %d (%s): status %d, err '%s'\n", bad[i].which, bad[i].field, (int)st, err);
        free(text);
    }
    sp_synth_options_init(&o);
    CHECK(sp_synth_write(&o, NULL, err, sizeof err) == SP_ERR_INVALID);
    CHECK(sp_synth_write(NULL, stdout, err, sizeof err) == SP_ERR_INVALID);
}

static void test_write_error(void)
{
    FILE *f = fopen("/dev/full", "w");
    if (!f) {
        fprintf(stderr, "no /dev/full: write error not checked\n");
        return;
    }
    sp_synth_options o;
    sp_synth_options_init(&o);
    char err[256] = "";
    CHECK(sp_synth_write(&o, f, err, sizeof err) == SP_ERR_IO);
    CHECK(strstr(err, "No space left on device") != NULL);
    fclose(f);
}

int main(void)
{
    test_golden();
    test_defaults();
    test_invalid();
    test_write_error();
    return sp_test_done("test_synth");
}
