/* The fleet report's --range is checked before Prometheus is asked (docs/fleet.md: exit 2 for a bad
 * --range): a malformed duration, one under 1 s, and one longer than Prometheus takes are refused by
 * sp_fleet_options_check with a message naming the option. The bound is Prometheus' own: it holds a
 * duration as Go's int64 nanoseconds and answers "duration out of range" past 2562047h47m16s854ms
 * (INT64_MAX ns = 9223372036.854775807 s, floored to whole ms; Prometheus 2.42 takes that range and
 * refuses 1 ms more, as tests/cli/fleet_prometheus.sh checks against the real server). */
#include <string.h>

#include "fleet/fleet_int.h"
#include "servprof/fleet.h"
#include "testlib.h"

static sp_status check_range(const char *range, char *err, size_t errlen)
{
    sp_fleet_options o;
    sp_fleet_options_init(&o);
    o.range = range;
    err[0] = 0;
    return sp_fleet_options_check(&o, err, errlen);
}

int main(void)
{
    char err[512];
    /* taken: the shortest, the default's kind, every unit once in order, the longest Prometheus takes in
     * each of its spellings (292y = 9208512000 s is under the bound; 106751d, 2562047h, 15250w too) */
    static const char *const ok[] = {"1s",       "1000ms",   "5m",      "1h30m",   "1y1w1d1h1m1s1ms",
                                     "292y",     "106751d",  "2562047h", "15250w", "2562047h47m16s854ms",
                                     "9223372036854ms"};
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        sp_status st = check_range(ok[k], err, sizeof err);
        CHECK_MSG(st == SP_OK, "--range %s refused: %s", ok[k], err);
    }
    /* too long: Prometheus refuses each with "duration out of range" (the 5000000h of the report that
     * found this exited 1 after the round trip); the message says the bound */
    static const char *const too_long[] = {"5000000h", "293y", "106752d", "2562048h", "15251w",
                                           "2562047h47m16s855ms", "9223372036855ms",
                                           "99999999999999999999999999s", "292y25w"};
    for (size_t k = 0; k < sizeof too_long / sizeof too_long[0]; k++) {
        sp_status st = check_range(too_long[k], err, sizeof err);
        CHECK_MSG(st == SP_ERR_INVALID && strstr(err, "--range '") && strstr(err, too_long[k]) &&
                      strstr(err, "longer than Prometheus takes (at most 2562047h47m16s854ms"),
                  "--range %s: status %d, '%s'", too_long[k], (int)st, err);
    }
    /* malformed or under 1 s: the duration message, even when the number is also too large */
    static const char *const bad[] = {"5x", "999ms", "0s", "1h1h", "1m1h", "h", "5", "99999999999999999999x",
                                      "1.5h", "-1h"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        sp_status st = check_range(bad[k], err, sizeof err);
        CHECK_MSG(st == SP_ERR_INVALID && strstr(err, "expected a Prometheus duration of 1 s or more"),
                  "--range '%s': status %d, '%s'", bad[k], (int)st, err);
    }
    /* the seconds the report's header and bill use, exact to the ms (hand-computed) */
    CHECK_NEAR(sp_fl_duration_s("1h30m"), 5400.0, 0);
    CHECK_NEAR(sp_fl_duration_s("1y1w1d1h1m1s1ms"), 31536000.0 + 604800 + 86400 + 3600 + 60 + 1 + 0.001, 1e-6);
    CHECK_NEAR(sp_fl_duration_s("2562047h47m16s854ms"), 9223372036.854, 1e-3);
    CHECK(sp_fl_duration_s("5000000h") < 0);
    return sp_test_done("test_fleet_range");
}
