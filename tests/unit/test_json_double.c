/* JSON number text to double (src/import/json.c, sp_json_number_to_double and its Clinger fast path)
 * against the reference, the C library's strtod in the C locale, bit for bit: crafted boundaries (15,
 * 16 and 17 digits, 2^53 and 2^53 + 1, powers of ten 22 and 23 on both sides, trailing zeros, zeros of
 * both signs, invalid text) and millions of random decimals of every digit count and power of ten,
 * written in every form JSON allows. Which numbers take the fast path is checked too, against its
 * definition (W. D. Clinger, "How to Read Floating Point Numbers Accurately", PLDI 1990): digits w at
 * most 2^53 once trailing zeros move into the exponent, |power of ten| <= 22, or above 22 while
 * w * 10^(p - 22) still fits. */
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "import/json.h"
#include "testlib.h"

static const uint64_t two53 = 1ull << 53;

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

/* One number: sp_json_number_to_double gives strtod's double (or SP_ERR_PARSE where the text is not a
 * JSON number), and the fast path, when it takes the text, the same bits. Returns whether it took it. */
static bool check_one(const char *s, bool valid)
{
    size_t len = strlen(s);
    double got = 0, fast = 0;
    bool took = sp_json_number_to_double_fast(s, len, &fast);
    sp_status st = sp_json_number_to_double(s, len, &got);
    if (!valid) {
        CHECK(!took);
        CHECK(st == SP_ERR_PARSE);
        return took;
    }
    double ref = strtod(s, NULL);
    CHECK(st == SP_OK);
    if (bits_of(got) != bits_of(ref) || (took && bits_of(fast) != bits_of(ref))) {
        sp_test_failures++;
        fprintf(stderr, "%s: %a (fast %d: %a), strtod %a\n", s, got, took, fast, ref);
    }
    sp_test_checks++;
    return took;
}

/* Whether the fast path must take w * 10^p (w without trailing zeros, w > 0): its definition. */
static bool expect_fast(uint64_t w, int nd, int p)
{
    if (nd > 16 || w > two53 || p < -22)
        return false;
    for (; p > 22; p--) {
        if (w > two53 / 10)
            return false;
        w *= 10;
    }
    return true;
}

/* The decimal of significant digits `dg` (nd of them, the first and last non-zero) times 10^p, written
 * in form f (0..5) with `tz` extra trailing zeros in the digits, into out. */
static void write_decimal(char *out, size_t cap, bool neg, const char *dg, int nd, int p, int form, int tz)
{
    char digits[64];
    memcpy(digits, dg, (size_t)nd);
    memset(digits + nd, '0', (size_t)tz);
    int n = nd + tz;
    digits[n] = 0;
    p -= tz;   /* value = digits x 10^p */
    const char *sg = neg ? "-" : "";
    switch (form) {
    case 0:   /* digits, exponent */
        snprintf(out, cap, "%s%se%d", sg, digits, p);
        return;
    case 1:   /* d.ddd, exponent (E, explicit +) */
        if (n == 1)
            snprintf(out, cap, "%s%sE%+d", sg, digits, p);
        else
            snprintf(out, cap, "%s%c.%sE%+d", sg, digits[0], digits + 1, p + n - 1);
        return;
    default: {   /* plain decimal where it is short enough, with the point placed by p; else form 0 */
        if (p >= 0 && n + p < 40) {
            char z[64];
            memset(z, '0', (size_t)p);
            z[p] = 0;
            snprintf(out, cap, "%s%s%s%s", sg, digits, z, form == 3 ? ".0" : "");
        } else if (p < 0 && -p < n) {
            snprintf(out, cap, "%s%.*s.%s", sg, n + p, digits, digits + n + p);
        } else if (p < 0 && -p - n < 30) {
            char z[64];
            memset(z, '0', (size_t)(-p - n));
            z[-p - n] = 0;
            snprintf(out, cap, "%s0.%s%s%s", sg, z, digits, form == 4 ? "0" : "");
        } else {
            snprintf(out, cap, "%s%se%d", sg, digits, p);
        }
        return;
    }
    }
}

static void crafted(void)
{
    static const struct {
        const char *s;
        int fast;   /* 1 taken, 0 not, -1 invalid JSON */
    } cases[] = {
        {"0", 1}, {"-0", 1}, {"0.0", 1}, {"-0.0", 1}, {"0e0", 1}, {"0E-400", 1}, {"-0e+999999999", 1},
        {"1", 1}, {"-1", 1}, {"0.1", 1}, {"0.3", 1}, {"1.5", 1}, {"2.5e-3", 1},
        /* 15, 16 and 17 digits, 2^53 - 1, 2^53, 2^53 + 1 (a tie strtod rounds to even) */
        {"123456789012345", 1}, {"999999999999999", 1}, {"1234567890123456", 1}, {"9007199254740991", 1},
        {"9007199254740992", 1}, {"9007199254740993", 0}, {"9999999999999999", 0}, {"12345678901234567", 0},
        {"0.9007199254740993", 0}, {"900719925474099.2", 1},
        /* powers of ten 22 and 23 */
        {"1e22", 1}, {"1e-22", 1}, {"1e23", 1}, {"1e-23", 0}, {"9.999e22", 1}, {"1.5e-22", 0},
        {"4.2e-21", 1}, {"123456789012345e22", 1}, {"123456789012345e-22", 1}, {"123456789012345e-23", 0},
        /* above 22 while the digits still fit: 1e37 = 10^15 x 10^22; 1e38 needs 10^16 > 2^53 */
        {"1e37", 1}, {"1e38", 0}, {"9e37", 1}, {"9007199254740992e22", 1}, {"9007199254740992e23", 0},
        /* trailing zeros move into the exponent */
        {"1.50000000000000000000000000", 1}, {"12300000000000000000000000", 1}, {"1000000000000000000000", 1},
        {"100000000000000000000000000000000000000", 0}, {"1712195495519764.0", 1}, {"1712195495519764.000", 1},
        {"1712195495519790.5", 0}, {"1712195495519698.8", 0}, {"0.000000000000000000001", 1},
        {"0.0000000000000000000001", 1}, {"0.00000000000000000000001", 0}, {"10000000000000000000000e-45", 0},
        /* more than 19 significant digits, leading zeros of the fraction, huge exponents */
        {"1.0000000000000000000001", 0}, {"0.00001000000000000000001", 0}, {"1e400", 0}, {"1e-400", 0},
        {"2.2250738585072014e-308", 0}, {"1.7976931348623157e308", 0}, {"5e-324", 0},
        /* not JSON numbers */
        {"", -1}, {"-", -1}, {"01", -1}, {"-01", -1}, {"1.", -1}, {".5", -1}, {"+1", -1}, {"1e", -1},
        {"1e+", -1}, {"1e-", -1}, {"1.5.3", -1}, {"1x", -1}, {"0x10", -1}, {"1 ", -1}, {"--1", -1},
        {"1.e5", -1}, {"1e5.5", -1}, {"NaN", -1}, {"Infinity", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool took = check_one(cases[i].s, cases[i].fast >= 0);
        if (took != (cases[i].fast == 1)) {
            sp_test_failures++;
            fprintf(stderr, "%s: fast path %s, expected %s\n", cases[i].s, took ? "taken" : "not taken",
                    cases[i].fast == 1 ? "taken" : "not taken");
        }
        sp_test_checks++;
    }
    /* the lexer's own conversion (doubles on) goes the same way */
    sp_json_lexer lx;
    const char *doc = "[1712195495519764.0, 0.1, 1e23, 9007199254740993]";
    double want[] = {1712195495519764.0, 0.1, 1e23, 9007199254740992.0};
    sp_json_limits lim;
    sp_json_limits_init(&lim);
    CHECK(sp_json_init_buffer(&lx, doc, strlen(doc), &lim) == SP_OK);
    sp_json_token t;
    CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_ARR_BEGIN);
    for (int i = 0; i < 4; i++) {
        CHECK(sp_json_next(&lx, &t) == SP_OK && t.type == SP_JSON_NUMBER);
        CHECK(bits_of(t.d) == bits_of(want[i]));
    }
    sp_json_fini(&lx);
}

/* Random decimals: every count of significant digits 1..20, every power of ten -30..40, every form,
 * with and without extra trailing zeros and a sign. */
static void random_sweep(uint64_t per_cell)
{
    sp_rng r;
    sp_rng_seed(&r, 20261205, 14);
    uint64_t taken = 0, total = 0, must = 0;
    char dg[32], text[160];
    for (int nd = 1; nd <= 20; nd++) {
        for (int p = -30; p <= 40; p++) {
            for (uint64_t k = 0; k < per_cell; k++) {
                uint64_t x = sp_rng_next(&r);
                uint64_t w = 0;
                for (int i = 0; i < nd; i++) {
                    int d = (int)(sp_rng_next(&r) % 10);
                    if ((i == 0 || i == nd - 1) && d == 0)
                        d = 1 + (int)(x % 9);
                    dg[i] = (char)('0' + d);
                    if (nd <= 19)
                        w = w * 10 + (uint64_t)d;
                }
                int form = (int)((x >> 8) % 6), tz = (x >> 16) % 4 == 0 ? (int)((x >> 20) % 6) : 0;
                bool neg = (x >> 24) & 1;
                write_decimal(text, sizeof text, neg, dg, nd, p, form, tz);
                bool took = check_one(text, true);
                bool want = expect_fast(w, nd, p);
                if (took != want) {
                    sp_test_failures++;
                    fprintf(stderr, "%s: fast path %s, expected %s\n", text, took ? "taken" : "not taken",
                            want ? "taken" : "not taken");
                }
                sp_test_checks++;
                taken += took;
                must += nd <= 15 && p >= -22 && p <= 22;
                total++;
            }
        }
    }
    /* the brief's class (at most 15 digits, |p| <= 22) is a part of what is taken, and most of it is
     * not all: the sweep reaches both sides */
    CHECK(taken >= must);
    CHECK(taken < total);
    printf("json_double: %llu random decimals, %llu by the fast path (%llu with <= 15 digits and |p| <= 22)\n",
           (unsigned long long)total, (unsigned long long)taken, (unsigned long long)must);
}

int main(void)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    crafted();
    /* 20 x 71 cells: 2,000 per cell is 2.84 million decimals (fewer under the sanitizers) */
    random_sweep(getenv("SP_SANITIZED") ? 300 : 2000);
#else
    printf("json_double: FLT_EVAL_METHOD != 0, the fast path is compiled out; strtod only\n");
    CHECK(!sp_json_number_to_double_fast("1", 1, &(double){0}));
#endif
    return sp_test_done("json_double");
}
