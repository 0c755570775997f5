/* The fleet report's public calls (servprof/fleet.h): the options and their checks (a Prometheus
 * duration, one {...} of label matchers), then the samples, from Prometheus (prometheus.c) or from
 * /metrics texts (exposition.c), summed into a report (samples.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/format_int.h"
#include "common/util_int.h"
#include "fleet/fleet_int.h"

/* sizeof(sp_fleet_options) in the first layout (trace.h's ABI rule: a zero struct_size reads as it). */
#define FLEET_OPTIONS_SIZE_0 sizeof(sp_fleet_options)

void sp_fleet_options_init(sp_fleet_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->range = "5m";
}

/* The longest duration Prometheus takes, in ms: it holds a duration as Go's time.Duration, int64
 * nanoseconds, and refuses a longer one in a query with "duration out of range" (2562047h47m16s854ms,
 * about 292 years; Prometheus 2.42 takes that one and refuses 1 ms more, tests/cli/fleet_prometheus.sh) */
#define FLEET_DURATION_MAX_MS (INT64_MAX / 1000000)

int sp_fl_duration_ms(const char *s, uint64_t *ms)
{
    /* Prometheus' durations: one or more NUMBER UNIT, units y w d h m s ms, largest first */
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1},         {"y", 365 * 86400000ULL}, {"w", 7 * 86400000ULL}, {"d", 86400000ULL},
                 {"h", 3600000ULL}, {"m", 60000ULL},          {"s", 1000ULL}};
    if (!s || !*s)
        return -1;
    uint64_t total = 0;
    int last = -1, too_long = 0;
    const char *p = s;
    while (*p) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            /* past the longest duration the number only has to be read to its end: the unit may
             * still make the string malformed, which is the first thing to say */
            if (v <= FLEET_DURATION_MAX_MS)
                v = v * 10 + (uint64_t)(*p - '0');
            p++;
        }
        int u = -1;
        for (int k = 0; k < (int)(sizeof units / sizeof units[0]) && u < 0; k++) {
            size_t n = strlen(units[k].unit);
            if (strncmp(p, units[k].unit, n) == 0)
                u = k;
        }
        if (u < 0)
            return -1;
        /* each unit at most once, in order (ms is the smallest) */
        int order = u == 0 ? 99 : u;
        if (order <= last)
            return -1;
        last = order;
        p += strlen(units[u].unit);
        if (too_long || v > (FLEET_DURATION_MAX_MS - total) / units[u].ms)
            too_long = 1;
        else
            total += v * units[u].ms;
    }
    if (too_long)
        return 1;
    *ms = total;
    return 0;
}

double sp_fl_duration_s(const char *s)
{
    uint64_t ms = 0;
    return sp_fl_duration_ms(s, &ms) == 0 ? (double)ms / 1000.0 : -1;
}

/* Whether s is one {...} of label matchers: name op "value" separated by commas, op one of = != =~ !~. */
static int selector_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '{' || s[n - 1] != '}')
        return 0;
    size_t i = 1;
    while (i < n - 1) {
        while (s[i] == ' ')
            i++;
        if (i == n - 1)
            break;
        size_t k = i;
        while ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') || s[k] == '_' ||
               (k > i && s[k] >= '0' && s[k] <= '9'))
            k++;
        if (k == i)
            return 0;
        while (s[k] == ' ')
            k++;
        if (s[k] == '=' && s[k + 1] == '~')
            k += 2;
        else if (s[k] == '!' && (s[k + 1] == '=' || s[k + 1] == '~'))
            k += 2;
        else if (s[k] == '=')
            k++;
        else
            return 0;
        while (s[k] == ' ')
            k++;
        if (s[k] != '"')
            return 0;
        k++;
        while (k < n - 1 && s[k] != '"') {
            if (s[k] == '\\')
                k++;
            k++;
        }
        if (k >= n - 1)
            return 0;
        k++;
        while (s[k] == ' ')
            k++;
        if (s[k] == ',')
            k++;
        else if (k != n - 1)
            return 0;
        i = k;
    }
    return 1;
}

sp_status sp_fleet_options_check(const sp_fleet_options *opt, char *err, size_t errlen)
{
    sp_fleet_options o;
    sp_fleet_options_init(&o);
    if (opt)
        sp_options_copy(&o, sizeof o, opt, opt->struct_size, FLEET_OPTIONS_SIZE_0);
    const char *range = o.range ? o.range : "5m";
    uint64_t ms = 0;
    int parsed = sp_fl_duration_ms(range, &ms);
    if (parsed > 0) {
        /* Prometheus would refuse the query (exit 1 after a round trip): it is the option that is wrong */
        sp_errf(err, errlen, "--range '%s': longer than Prometheus takes (at most 2562047h47m16s854ms, about 292 "
                "years)", range);
        return SP_ERR_INVALID;
    }
    if (parsed < 0 || ms < 1000) {
        sp_errf(err, errlen, "--range '%s': expected a Prometheus duration of 1 s or more, such as 5m, 90s or 1h30m",
                range);
        return SP_ERR_INVALID;
    }
    if (o.selector && *o.selector && !selector_ok(o.selector)) {
        sp_errf(err, errlen, "--selector '%s': expected label matchers in braces, such as {job=\"serve\"} or "
                "{job=~\"serve|gen\",zone!=\"b\"}", o.selector);
        return SP_ERR_INVALID;
    }
    if (!(o.price_per_hour >= 0 && o.price_per_hour <= SP_MAX_PRICE_PER_HOUR)) {
        sp_errf(err, errlen,
                "--price-per-hour %g: expected 0 (the replicas' price) or a price in (0, %g] dollars per hour "
                "(SP_MAX_PRICE_PER_HOUR)",
                o.price_per_hour, SP_MAX_PRICE_PER_HOUR);
        return SP_ERR_INVALID;
    }
    if (!(o.at_unix_s >= 0) || !isfinite(o.at_unix_s) ||
        !(o.timeout_s >= 0) || !isfinite(o.timeout_s)) {
        sp_errf(err, errlen, "fleet options: time and timeout must be finite and >= 0");
        return SP_ERR_INVALID;
    }
    return SP_OK;
}

int sp_fleet_has_prometheus(void) { return sp_fl_has_prometheus(); }

sp_status sp_fleet_report_prometheus(const char *url, const sp_fleet_options *opt, sp_report **out, char *err,
                                     size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!url || !out) {
        sp_errf(err, errlen, "sp_fleet_report_prometheus: url and out must not be NULL");
        return SP_ERR_INVALID;
    }
    sp_fleet_options o;
    sp_fleet_options_init(&o);
    if (opt)
        sp_options_copy(&o, sizeof o, opt, opt->struct_size, FLEET_OPTIONS_SIZE_0);
    sp_status st = sp_fleet_options_check(&o, err, errlen);
    if (st)
        return st;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        sp_errf(err, errlen, "--prometheus '%s': expected http://HOST:PORT or https://... (Prometheus' base URL)", url);
        return SP_ERR_INVALID;
    }
    /* the base URL without a trailing slash: the API's paths are appended */
    size_t ul = strlen(url);
    char *base = strdup(url);
    if (!base)
        return SP_ERR_NOMEM;
    while (ul > 8 && base[ul - 1] == '/')
        base[--ul] = 0;
    sp_fl_set set = {NULL, 0, 0};
    double end = 0;
    st = sp_fl_query_prometheus(base, &o, &set, &end, err, errlen);
    if (!st) {
        const char *range = o.range && *o.range ? o.range : "5m";
        sp_fl_origin origin = {"prometheus", base, o.selector ? o.selector : "", range, sp_fl_duration_s(range), end,
                               o.price_per_hour};
        char why[2048] = "";
        st = sp_fl_report(&set, &origin, out, why, sizeof why);
        if (st == SP_ERR_FORMAT) {
            /* the window's end as the report's header writes it (UTC), not as Unix seconds */
            char when[48];
            if (!*sp_fmt_utc(when, sizeof when, end))
                snprintf(when, sizeof when, "%.0f (Unix time)", end);
            /* the targets whose last scrape failed, as sp_fl_report names them: the likely replicas (dropped
             * here before, though the message was documented with them) */
            const char *failed = strstr(why, "; Prometheus' last scrape in the window failed");
            sp_errf(err, errlen, "Prometheus at %s has no servprof series%s%s in the %s before %s: is it scraping "
                    "the replicas' /metrics (docs/fleet.md)?%s", base, o.selector && *o.selector ? " matching " : "",
                    o.selector && *o.selector ? o.selector : "", range, when, failed ? failed : "");
        }
        else if (st)
            sp_errf(err, errlen, "%s", why);
    }
    sp_fl_set_free(&set);
    free(base);
    return st;
}

sp_status sp_fleet_report_texts(const sp_fleet_text *texts, size_t n, const sp_fleet_options *opt, sp_report **out,
                                char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if ((!texts && n) || !out) {
        sp_errf(err, errlen, "sp_fleet_report_texts: texts and out must not be NULL");
        return SP_ERR_INVALID;
    }
    sp_fleet_options o;
    sp_fleet_options_init(&o);
    if (opt)
        sp_options_copy(&o, sizeof o, opt, opt->struct_size, FLEET_OPTIONS_SIZE_0);
    sp_fl_set set = {NULL, 0, 0};
    sp_status st = SP_OK;
    if (!(o.price_per_hour >= 0 && o.price_per_hour <= SP_MAX_PRICE_PER_HOUR)) {
        sp_errf(err, errlen, "sp_fleet_report_texts: price_per_hour %g: expected 0 (the replicas') or a price in "
                "(0, %g] dollars per hour (SP_MAX_PRICE_PER_HOUR)", o.price_per_hour, SP_MAX_PRICE_PER_HOUR);
        return SP_ERR_INVALID;
    }
    for (size_t i = 0; i < n && !st; i++) {
        if (!texts[i].text || !texts[i].replica) {
            sp_errf(err, errlen, "sp_fleet_report_texts: text %zu has no replica name or text", i);
            st = SP_ERR_INVALID;
            break;
        }
        st = sp_fl_parse_exposition(&set, texts[i].replica, texts[i].text, texts[i].len, err, errlen);
    }
    if (!st) {
        sp_fl_origin origin = {"metrics", n ? texts[0].replica : "", "", "", 0, 0, o.price_per_hour};
        st = sp_fl_report(&set, &origin, out, err, errlen);
    }
    sp_fl_set_free(&set);
    return st;
}
