/* Statistics of the load generator's arrival processes with a fixed seed: mean rate, exponential
 * gaps for Poisson, the coefficient of variation of gamma gaps, exact constant spacing, replay files
 * and determinism. Tolerances are several standard errors wide (stated at each check). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load/load_int.h"
#include "testlib.h"

#define N 200000

/* Draws N gaps (ns) from the configured process. */
static double *gaps_of(sp_load_config *o)
{
    sp_arrivals a;
    char err[256];
    CHECK(sp_arrivals_init(&a, o, NULL, 0, err, sizeof err) == SP_OK);
    double *g = malloc(N * sizeof *g);
    uint64_t prev = 0, off = 0;
    CHECK(sp_arrivals_next(&a, &prev));
    CHECK_EQ_U64(prev, 0); /* the first request goes at the start of the schedule */
    for (int i = 0; i < N; i++) {
        sp_arrivals_next(&a, &off);
        g[i] = (double)(off - prev);
        prev = off;
    }
    return g;
}

static void mean_cv(const double *g, int n, double *mean, double *cv)
{
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++)
        s += g[i];
    *mean = s / n;
    for (int i = 0; i < n; i++)
        s2 += (g[i] - *mean) * (g[i] - *mean);
    *cv = sqrt(s2 / (n - 1)) / *mean;
}

static void test_poisson(void)
{
    sp_load_config o;
    sp_load_config_init(&o);
    o.rate = 1000.0;
    o.seed = 42;
    double *g = gaps_of(&o);
    double mean, cv;
    mean_cv(g, N, &mean, &cv);
    /* mean gap 1e6 ns; standard error of the mean = 1e6/sqrt(2e5) = 0.22%: allow 1% */
    CHECK_NEAR(mean, 1e6, 1e4);
    /* exponential: CV = 1; its standard error here is about 0.3%: allow 2% */
    CHECK_NEAR(cv, 1.0, 0.02);
    /* exponential CDF: P(gap > m) = e^-1 = 0.36788, P(gap <= m/2) = 1 - e^-0.5 = 0.39347,
     * P(gap > 3m) = e^-3 = 0.04979; binomial standard errors are about 0.0011: allow 0.006 */
    int above = 0, below_half = 0, above3 = 0;
    for (int i = 0; i < N; i++) {
        above += g[i] > 1e6;
        below_half += g[i] <= 0.5e6;
        above3 += g[i] > 3e6;
    }
    CHECK_NEAR((double)above / N, 0.36788, 0.006);
    CHECK_NEAR((double)below_half / N, 0.39347, 0.006);
    CHECK_NEAR((double)above3 / N, 0.04979, 0.003);
    free(g);
}

static void test_constant(void)
{
    sp_load_config o;
    sp_load_config_init(&o);
    o.arrival = SP_LOAD_ARRIVAL_CONSTANT;
    o.rate = 3000.0; /* gap 333333.33 ns: offsets are rounded i*gap, so gaps are 333333 or 333334 */
    sp_arrivals a;
    CHECK(sp_arrivals_init(&a, &o, NULL, 0, NULL, 0) == SP_OK);
    uint64_t off = 0, bad = 0, last = 0;
    for (int i = 0; i < 30001; i++) {
        sp_arrivals_next(&a, &off);
        if (i && (off - last < 333333 || off - last > 333334))
            bad++;
        last = off;
    }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(off, 10000000000ull); /* request 30000 at exactly 10 s: no drift */
}

static void test_gamma(double cv_want)
{
    sp_load_config o;
    sp_load_config_init(&o);
    o.arrival = SP_LOAD_ARRIVAL_GAMMA;
    o.gamma_cv = cv_want;
    o.rate = 500.0;
    o.seed = 7;
    double *g = gaps_of(&o);
    double mean, cv;
    mean_cv(g, N, &mean, &cv);
    /* mean gap 2e6 ns; standard error = cv * 2e6 / sqrt(2e5) <= 0.45% for cv 2: allow 2% */
    CHECK_NEAR(mean, 2e6, 0.02 * 2e6);
    /* the sample CV of gamma gaps converges slowly for cv 2 (heavy right tail): allow 5% */
    CHECK_NEAR(cv, cv_want, 0.05 * cv_want);
    free(g);
}

static void test_determinism(void)
{
    sp_load_config o;
    sp_load_config_init(&o);
    o.seed = 99;
    sp_arrivals a, b, c;
    CHECK(sp_arrivals_init(&a, &o, NULL, 0, NULL, 0) == SP_OK);
    CHECK(sp_arrivals_init(&b, &o, NULL, 0, NULL, 0) == SP_OK);
    o.seed = 100;
    CHECK(sp_arrivals_init(&c, &o, NULL, 0, NULL, 0) == SP_OK);
    int same = 1, differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x, y, z;
        sp_arrivals_next(&a, &x);
        sp_arrivals_next(&b, &y);
        sp_arrivals_next(&c, &z);
        same &= x == y;
        differ += x != z;
    }
    CHECK(same);
    CHECK(differ > 900);
}

static void test_invalid(void)
{
    sp_load_config o;
    sp_load_config_init(&o);
    sp_arrivals a;
    char err[256] = "";
    o.rate = 0;
    CHECK(sp_arrivals_init(&a, &o, NULL, 0, err, sizeof err) == SP_ERR_INVALID);
    CHECK(strstr(err, "rate") != NULL);
    o.rate = 10;
    o.arrival = SP_LOAD_ARRIVAL_GAMMA;
    o.gamma_cv = 0;
    CHECK(sp_arrivals_init(&a, &o, NULL, 0, err, sizeof err) == SP_ERR_INVALID);
}

static char *write_temp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/sp_replay_XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_replay(void)
{
    char err[256] = "";
    uint64_t *off = NULL;
    size_t n = 0;
    char *p = write_temp("# arrivals\n100.5\n100.5\n\n100.75\n  101.0  \n");
    CHECK(sp_load_read_replay(p, &off, &n, err, sizeof err) == SP_OK);
    CHECK_EQ_U64(n, 4);
    if (n == 4) {
        /* offsets from the first timestamp: 0, 0, 0.25 s, 0.5 s */
        CHECK_EQ_U64(off[0], 0);
        CHECK_EQ_U64(off[1], 0);
        CHECK_EQ_U64(off[2], 250000000);
        CHECK_EQ_U64(off[3], 500000000);
        sp_load_config o;
        sp_load_config_init(&o);
        o.arrival = SP_LOAD_ARRIVAL_REPLAY;
        sp_arrivals a;
        CHECK(sp_arrivals_init(&a, &o, off, n, NULL, 0) == SP_OK);
        uint64_t x = 0, cnt = 0;
        while (sp_arrivals_next(&a, &x))
            cnt++;
        CHECK_EQ_U64(cnt, 4);
        CHECK_EQ_U64(x, 500000000);
    }
    free(off);
    unlink(p);
    p = write_temp("1.0\n2.0\n1.5\n");
    CHECK(sp_load_read_replay(p, &off, &n, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, ":3:") != NULL); /* names the line that goes backwards */
    unlink(p);
    p = write_temp("1.0\nabc\n");
    CHECK(sp_load_read_replay(p, &off, &n, err, sizeof err) == SP_ERR_PARSE);
    CHECK(strstr(err, ":2:") != NULL);
    unlink(p);
    CHECK(sp_load_read_replay("/nonexistent/replay.txt", &off, &n, err, sizeof err) == SP_ERR_IO);
}

int main(void)
{
    test_poisson();
    test_constant();
    test_gamma(2.0);
    test_gamma(0.5);
    test_gamma(1.0);
    test_determinism();
    test_invalid();
    test_replay();
    return sp_test_done("test_load_arrivals");
}
