/* The one u64 decimal formatter (sp_u64_dec, common/util_int.h), which the model's interned ids, the
 * native importer and the load generator's request ids share: against the C library's printf("%llu")
 * as the reference, at every length's edges (0, 9, 10, 99, 100, ... 10^19, UINT64_MAX) and on values
 * from the common RNG. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/rng.h"
#include "common/util_int.h"
#include "testlib.h"

static void check_one(uint64_t v)
{
    char want[32], got[24];
    int n = snprintf(want, sizeof want, "%" PRIu64, v);
    memset(got, '#', sizeof got);
    size_t len = sp_u64_dec(v, got);
    CHECK_EQ_U64(len, n);
    CHECK(len <= 20 && memcmp(got, want, len) == 0);
    CHECK(len == 20 || got[len] == '#'); /* writes nothing past the digits */
    if (len != (size_t)n || memcmp(got, want, len) != 0)
        fprintf(stderr, "sp_u64_dec(%s) gave \"%.*s\"\n", want, (int)(len < 20 ? len : 20), got);
}

int main(void)
{
    check_one(0);
    check_one(UINT64_MAX);
    uint64_t p = 1;
    for (int k = 1; k <= 19; k++) { /* 10^k - 1, 10^k, 10^k + 1 */
        p *= 10;
        check_one(p - 1);
        check_one(p);
        check_one(p + 1);
    }
    sp_rng r;
    sp_rng_seed(&r, 7, 0);
    for (int i = 0; i < 100000; i++) {
        uint64_t v = sp_rng_next(&r);
        check_one(v >> (v & 63)); /* every magnitude, not only 20-digit values */
    }
    return sp_test_done("test_u64_dec");
}
