/* The ABI rule of trace.h: an options struct is read only as far as the caller's struct_size says,
 * so a program built against older (smaller) or newer (larger) headers works with this library. The
 * recorder writes the options it used into the trace's meta record (docs/native-format.md: thread
 * buffer bytes at word 40, max threads at word 48), which is how the test sees them. */
#include <math.h>
#include <stddef.h>
#include <unistd.h>

#include "trace_testutil.h"

#include "format/native_format.h"

/* The meta record's thread buffer bytes and max threads, read from the first block of `path`. */
static void meta_of(const char *path, uint64_t *ring, uint64_t *threads)
{
    unsigned char b[16 + 16 + 56];
    FILE *f = fopen(path, "rb");
    CHECK(f && fread(b, 1, sizeof b, f) == sizeof b);
    if (f)
        fclose(f);
    const unsigned char *meta = b + SP_NATIVE_FILE_HEADER + SP_NATIVE_BLOCK_HEADER;
    CHECK_EQ_U64(sp_rd64(meta) & 0xffff, SP_REC_META);
    *ring = sp_rd64(meta + 40);
    *threads = sp_rd64(meta + 48);
}

/* Opens with the caller's bytes `opt` (at least struct_size of them) and returns the options used. */
static void open_with(const void *opt, uint64_t *ring, uint64_t *threads)
{
    char path[256];
    tt_path(path, "optabi");
    sp_recorder *rec;
    CHECK(sp_recorder_open(path, opt, &rec) == SP_OK);
    CHECK(sp_recorder_close(rec) == SP_OK);
    meta_of(path, ring, threads);
    unlink(path);
}

int main(void)
{
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    CHECK_EQ_U64(o.struct_size, sizeof o);
    uint64_t ring, threads;

    /* an ordinary caller */
    o.thread_buffer_bytes = 1u << 16;
    o.max_threads = 7;
    open_with(&o, &ring, &threads);
    CHECK_EQ_U64(ring, 1u << 16);
    CHECK_EQ_U64(threads, 7);

    /* an older caller whose struct ends after thread_buffer_bytes: the bytes beyond are not its own
     * (here 0xff garbage) and must not be read: max_threads keeps its default, 64 */
    unsigned char old[sizeof(sp_recorder_options)];
    memset(old, 0xff, sizeof old);
    size_t old_size = offsetof(sp_recorder_options, thread_buffer_bytes) + sizeof(size_t);
    memcpy(old, &old_size, sizeof old_size);
    size_t want = 1u << 17;
    memcpy(old + offsetof(sp_recorder_options, thread_buffer_bytes), &want, sizeof want);
    open_with(old, &ring, &threads);
    CHECK_EQ_U64(ring, 1u << 17);
    CHECK_EQ_U64(threads, 64);

    /* a zeroed struct (struct_size 0) reads as this version's layout */
    sp_recorder_options z;
    memset(&z, 0, sizeof z);
    z.max_threads = 5;
    open_with(&z, &ring, &threads);
    CHECK_EQ_U64(threads, 5);
    CHECK_EQ_U64(ring, 16u << 20); /* 0: the default 16 MiB */

    /* a newer caller with fields this version does not know: they are ignored */
    struct {
        sp_recorder_options known;
        uint64_t future[4];
    } newer;
    sp_recorder_options_init(&newer.known);
    newer.known.struct_size = sizeof newer;
    newer.known.max_threads = 9;
    memset(newer.future, 0xab, sizeof newer.future);
    open_with(&newer, &ring, &threads);
    CHECK_EQ_U64(threads, 9);

    CHECK(strcmp(sp_version(), SP_VERSION_STRING) == 0);
    CHECK_EQ_U64(sp_version_number(), SP_VERSION_NUMBER);
    /* a price above SP_MAX_PRICE_PER_HOUR, or NaN, is refused before the file is created: the
     * readers would refuse the trace it wrote */
    sp_recorder_options_init(&o);
    char ppath[256];
    tt_path(ppath, "optabi-price");
    unlink(ppath);
    const double bad_prices[] = {1e300, SP_MAX_PRICE_PER_HOUR * 2, NAN};
    for (size_t k = 0; k < sizeof bad_prices / sizeof *bad_prices; k++) {
        o.price_per_hour = bad_prices[k];
        sp_recorder *prec = NULL;
        CHECK(sp_recorder_open(ppath, &o, &prec) == SP_ERR_INVALID);
        CHECK(prec == NULL);
        CHECK(access(ppath, F_OK) != 0);
    }
    o.price_per_hour = SP_MAX_PRICE_PER_HOUR; /* the bound itself is a price */
    sp_recorder *prec;
    CHECK(sp_recorder_open(ppath, &o, &prec) == SP_OK);
    CHECK(sp_recorder_close(prec) == SP_OK);
    unlink(ppath);

    return sp_test_done("test_options_abi");
}
