/* The terminal report from hand-filled reports: the stage table, the padding, cost, GPU and data
 * quality sections, the verdict last, lines within 100 columns, and no control bytes from trace
 * names reaching the terminal. */
#include <stdlib.h>
#include <string.h>

#include "report_fixture.h"
#include "testlib.h"

static char *render(const sp_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        fprintf(stderr, "open_memstream failed\n");
        exit(1);
    }
    CHECK(sp_report_write_text(r, f) == SP_OK);
    fclose(f);
    return buf;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Longest line in columns (UTF-8 characters). */
static size_t widest_line(const char *text)
{
    size_t widest = 0, cols = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\n') {
            cols = 0;
            continue;
        }
        if ((*p & 0xC0) != 0x80)
            cols++;
        if (cols > widest)
            widest = cols;
    }
    return widest;
}

/* The line that starts with `prefix`, copied into buf; "" when absent. */
static const char *line_starting(const char *text, const char *prefix, char *buf, size_t len)
{
    buf[0] = '\0';
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            size_t n = strcspn(p, "\n");
            if (n >= len)
                n = len - 1;
            memcpy(buf, p, n);
            buf[n] = '\0';
            return buf;
        }
    }
    return buf;
}

static void test_full(void)
{
    fixture f;
    fixture_fill(&f);
    char *t = render(&f.r);
    char line[512];
    /* header with the price, not marked default */
    CHECK(strstr(t, "servprof report: 1 file, 100 requests, 20 batches") == t);
    CHECK(strstr(t, "price $3.60/h") != NULL);
    CHECK(strstr(t, "(default)") == NULL);
    /* latency line: 1234567 ns -> "1.23 ms", 10 ms p95 -> "10.00 ms" */
    line_starting(t, "latency", line, sizeof line);
    CHECK(strstr(line, "p50 1.23 ms") != NULL);
    CHECK(strstr(line, "p95 10.00 ms") != NULL);
    /* stage table: header and one row per stage, queue first; queue p95 = 1 ms, share 38.0% */
    line_starting(t, "stage ", line, sizeof line);
    CHECK(strstr(line, "% of p95") != NULL && strstr(line, "p99") != NULL && strstr(line, "mean") != NULL);
    line_starting(t, "queue ", line, sizeof line);
    CHECK(strstr(line, "1.00 ms") != NULL);
    CHECK(strstr(line, "38.0%") != NULL);
    for (size_t i = 0; i < f.r.n_stages; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%s ", f.stages[i].name);
        CHECK(line_starting(t, prefix, line, sizeof line)[0] != '\0');
    }
    CHECK(strstr(t, "end-to-end") != NULL);
    /* padding: 600 of 1000 tokens, 40.0% waste, 16.0% of p95, 37.0% of the bill; first order once */
    CHECK(strstr(t, "600 effective of 1000 padded tokens") != NULL);
    CHECK(strstr(t, "40.0% waste") != NULL);
    CHECK(count(t, "first order: kernel time x waste") == 1);
    CHECK(strstr(t, "37.0% of the per-request bill is GPU time spent on padding") != NULL);
    /* cost: $0.0001 bill, $1.00e-06 per request, printed per 1M requests (sp_rep_fmt_cost_per_request):
     * $1.000 */
    CHECK(strstr(t, "cost: $0.0001 for a 100.00 ms window at $3.60/h") != NULL);
    CHECK(strstr(t, "; $1.000 per 1M requests\n") != NULL);
    /* GPU: busy 60 of 90 ms = 66.7% */
    CHECK(strstr(t, "busy 60.00 ms (66.7%)") != NULL);
    CHECK(strstr(t, "host wait") != NULL && strstr(t, "kernel wait") != NULL);
    CHECK(strstr(t, "softmax") != NULL);
    CHECK(strstr(t, "h2d") != NULL && strstr(t, "d2h") != NULL);
    /* no control byte from the hostile kernel name: ESC and the raw newline are replaced */
    CHECK(strchr(t, '\x1b') == NULL);
    CHECK(strstr(t, "gemm<\"f16\"\\>??[31m?_end") != NULL);
    /* unattributed and data quality, every drop cause shown even at 0 */
    CHECK(strstr(t, "unattributed (`other`): 5.0% of p95") != NULL);
    CHECK(strstr(t, "missing instrumentation") != NULL);
    CHECK(strstr(t, "buffer_full 12") != NULL && strstr(t, "after_close 0") != NULL);
    CHECK(strstr(t, "0 malformed or unresolved records skipped") != NULL);
    /* the verdict is the last section */
    const char *v = strstr(t, "\nverdict: ");
    CHECK(v != NULL);
    if (v) {
        CHECK(strstr(v, "2.40 ms") != NULL);
        CHECK(strstr(v + 1, "\n\n") == NULL);
        CHECK(strstr(v, "data quality") == NULL && strstr(v, "gpu") == NULL);
        /* the ranking under it: candidates from 5% up, useful kernel marked, the one under 5% counted */
        CHECK(strstr(v, "candidate") != NULL && strstr(v, "p95 saving") != NULL);
        const char *k = strstr(v, "kernel (useful)");
        const char *p = strstr(v, "\n         padding ");
        const char *g = strstr(v, "\n         gap ");
        CHECK(k && p && g && k < p && p < g);
        if (k)
            CHECK(strstr(k, "model") && strstr(k, "24.0%") && strstr(k, "2.40 ms"));
        CHECK(strstr(v, "<b>\"x\"?[31m") != NULL); /* the hostile name, its ESC replaced */
        CHECK(strstr(v, "preprocess") == NULL);
        CHECK(strstr(v, "(1 candidate under 5% of p95 not shown") != NULL);
    }
    size_t w = widest_line(t);
    if (w > 100)
        fprintf(stderr, "widest line %zu columns:\n%s", w, t);
    CHECK(w <= 100);
    free(t);
}

static void test_default_price_and_empty(void)
{
    sp_report r;
    memset(&r, 0, sizeof r);
    r.n_files = 2;
    r.cost.price_per_hour = SP_DEFAULT_PRICE_PER_HOUR;
    r.cost.price_is_default = 1;
    char *t = render(&r);
    CHECK(strstr(t, "2 files, 0 requests") != NULL);
    CHECK(strstr(t, "$4.00/h (default)") != NULL);
    CHECK(strstr(t, "no requests") != NULL);
    CHECK(strstr(t, "no device activity") != NULL);
    CHECK(strstr(t, "0 records dropped") != NULL);
    CHECK(strstr(t, "verdict: ") != NULL);
    CHECK(widest_line(t) <= 100);
    free(t);
}

int main(void)
{
    test_full();
    test_default_price_and_empty();
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        fixture f;
        fixture_fill(&f);
        CHECK(sp_report_write_text(&f.r, full) == SP_ERR_IO);
        fclose(full);
    }
    return sp_test_done("test_report_text");
}
