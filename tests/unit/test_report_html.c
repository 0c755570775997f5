/* The HTML report from a hand-built event set: the detail the analysis keeps for it (keep_detail;
 * values worked out by hand), each chart section has the number of bars/shapes the events imply
 * (counts worked out by hand in the comments), the writer reads the report alone (the same page
 * with or without the event set; notes without the detail), hostile kernel and stage names come out
 * escaped, nothing is fetched (no src/href, no "http"), and the page is well formed (a tag-balance
 * checker below). Also the what-if hook with hand-made rows, and the escaper on bad bytes. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ev_build.h"
#include "report/html_int.h"
#include "report/report_int.h"
#include "testlib.h"

#define HOSTILE_KERNEL "<script>alert(1)</script>"
#define HOSTILE_STAGE "<img src=x onerror=alert(2)>"

/* Four requests, two batches (times in ns):
 *   r1 [0, 1000000): preprocess [0,100000) queue [100000,200000) batch B1 [200000,900000)
 *      postprocess [900000,1000000)
 *   r2 [50000, 1000000): preprocess [50000,100000), then as r1
 *   r3 [2000000, 4000000): preprocess [2000000,2100000) queue [2100000,2500000) batch B2
 *      [2500000,3900000) postprocess [3900000,4000000)
 *   r4 like r3 but its first span is the named stage HOSTILE_STAGE instead of preprocess
 *   B1: h2d [200000,250000) on stream 1, kernel HOSTILE_KERNEL [300000,800000) on stream 0;
 *       60 of 80 tokens effective: waste 0.25
 *   B2: kernel "gemm" [2600000,3800000) on stream 0; 50 of 100 effective: waste 0.5 */
static sp_events *build(void)
{
    sp_events *ev = eb_new();
    uint32_t r1 = eb_req(ev, "r1", 0, 1000000);
    uint32_t r2 = eb_req(ev, "r2", 50000, 1000000);
    uint32_t r3 = eb_req(ev, "r3", 2000000, 4000000);
    uint32_t r4 = eb_req(ev, "r4", 2000000, 4000000);
    eb_span(ev, r1, "preprocess", 0, 100000);
    eb_span(ev, r2, "preprocess", 50000, 100000);
    eb_span(ev, r3, "preprocess", 2000000, 2100000);
    eb_span(ev, r4, HOSTILE_STAGE, 2000000, 2100000);
    for (uint32_t q = r1; q <= r2; q++) {
        eb_span(ev, q, "queue", 100000, 200000);
        eb_span(ev, q, "postprocess", 900000, 1000000);
    }
    for (uint32_t q = r3; q <= r4; q++) {
        eb_span(ev, q, "queue", 2100000, 2500000);
        eb_span(ev, q, "postprocess", 3900000, 4000000);
    }
    uint32_t m1[2] = {r1, r2}, m2[2] = {r3, r4};
    uint32_t b1 = eb_batch(ev, 1, 200000, 900000, 60, 80, m1, 2);
    uint32_t b2 = eb_batch(ev, 2, 2500000, 3900000, 50, 100, m2, 2);
    eb_act_full(ev, SP_ACT_H2D, b1, 200000, 250000, NULL, 1, 0, 0, 4096, 0);
    eb_act_full(ev, SP_ACT_KERNEL, b1, 300000, 800000, HOSTILE_KERNEL, 0, 0, 0, 0, 0);
    eb_act_full(ev, SP_ACT_KERNEL, b2, 2600000, 3800000, "gemm", 0, 0, 0, 0, 0);
    return ev;
}

static char *render(const sp_report *r, const sp_events *ev, const sp_html_options *opt, sp_status *st)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        exit(1);
    *st = sp_report_write_html_opts(r, ev, opt, f);
    fclose(f);
    return buf;
}

/* The text of <section id="ID" ...> up to its </section>, in a new string ("" if absent). */
static char *section(const char *html, const char *id)
{
    char open[64];
    snprintf(open, sizeof open, "<section id=\"%s\"", id);
    const char *s = strstr(html, open);
    const char *e = s ? strstr(s, "</section>") : NULL;
    size_t n = s && e ? (size_t)(e - s) : 0;
    char *out = malloc(n + 1);
    memcpy(out, s ? s : "", n);
    out[n] = '\0';
    return out;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static size_t count_in(const char *html, const char *id, const char *needle)
{
    char *s = section(html, id);
    size_t n = count(s, needle);
    free(s);
    return n;
}

/* ---- a small well-formedness checker: balanced tags, quoted attributes, valid references, no raw
 * '<' or '>' in text, no attribute that loads or runs anything ---- */

static int is_void(const char *name)
{
    static const char *const v[] = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "wbr"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (strcmp(name, v[i]) == 0)
            return 1;
    return 0;
}

static int check_ref(const char *p)
{
    /* p at '&': &name; or &#digits; */
    p++;
    if (*p == '#') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    } else {
        if (!isalpha((unsigned char)*p))
            return 0;
        while (isalnum((unsigned char)*p))
            p++;
    }
    return *p == ';';
}

static int well_formed(const char *html, char *why, size_t whylen)
{
    char stack[64][32];
    int depth = 0;
    const char *p = html;
    if (strncmp(p, "<!DOCTYPE html>", 15) != 0) {
        snprintf(why, whylen, "no doctype");
        return 0;
    }
    p += 15;
    while (*p) {
        if (*p == '&') {
            if (!check_ref(p)) {
                snprintf(why, whylen, "bad reference at %.20s", p);
                return 0;
            }
            p++;
            continue;
        }
        if (*p == '>') {
            snprintf(why, whylen, "raw '>' in text at offset %ld", (long)(p - html));
            return 0;
        }
        if (*p != '<') {
            p++;
            continue;
        }
        p++;
        int closing = *p == '/';
        if (closing)
            p++;
        char name[32];
        size_t n = 0;
        while ((isalnum((unsigned char)*p) || *p == '-') && n < sizeof name - 1)
            name[n++] = (char)tolower((unsigned char)*p++);
        name[n] = '\0';
        if (!n) {
            snprintf(why, whylen, "raw '<' in text at offset %ld", (long)(p - html));
            return 0;
        }
        if (closing) {
            if (*p != '>' || depth == 0 || strcmp(stack[depth - 1], name) != 0) {
                snprintf(why, whylen, "</%s> does not close <%s>", name, depth ? stack[depth - 1] : "(none)");
                return 0;
            }
            depth--;
            p++;
            continue;
        }
        int self_closing = 0;
        for (;;) {
            while (*p == ' ' || *p == '\n')
                p++;
            if (*p == '>') {
                p++;
                break;
            }
            if (p[0] == '/' && p[1] == '>') {
                self_closing = 1;
                p += 2;
                break;
            }
            char attr[32];
            size_t an = 0;
            while ((isalnum((unsigned char)*p) || *p == '-' || *p == ':') && an < sizeof attr - 1)
                attr[an++] = (char)tolower((unsigned char)*p++);
            attr[an] = '\0';
            if (!an) {
                snprintf(why, whylen, "bad attribute in <%s> at %.20s", name, p);
                return 0;
            }
            if (strcmp(attr, "src") == 0 || strcmp(attr, "href") == 0 || strcmp(attr, "xlink:href") == 0 ||
                strncmp(attr, "on", 2) == 0) {
                snprintf(why, whylen, "attribute %s on <%s>", attr, name);
                return 0;
            }
            if (*p == '=') {
                if (p[1] != '"') {
                    snprintf(why, whylen, "unquoted value of %s", attr);
                    return 0;
                }
                p += 2;
                while (*p && *p != '"') {
                    if (*p == '<' || (*p == '&' && !check_ref(p))) {
                        snprintf(why, whylen, "bad character in value of %s", attr);
                        return 0;
                    }
                    p++;
                }
                if (!*p)
                    return 0;
                p++;
            }
        }
        if (strcmp(name, "script") == 0) {
            snprintf(why, whylen, "a <script> element");
            return 0;
        }
        if (strcmp(name, "style") == 0) {
            const char *e = strstr(p, "</style>");
            if (!e)
                return 0;
            p = e; /* raw text; the closing tag is checked by the loop */
        }
        if (self_closing || is_void(name))
            continue;
        if (depth == 64) {
            snprintf(why, whylen, "nesting too deep");
            return 0;
        }
        snprintf(stack[depth++], sizeof stack[0], "%s", name);
    }
    if (depth) {
        snprintf(why, whylen, "<%s> not closed", stack[depth - 1]);
        return 0;
    }
    return 1;
}

/* The checker itself rejects what it is there to catch. */
static void test_checker(void)
{
    char why[200];
    CHECK(well_formed("<!DOCTYPE html><p><b>x</b></p>", why, sizeof why));
    CHECK(!well_formed("<!DOCTYPE html><p><b>x</p></b>", why, sizeof why));
    CHECK(!well_formed("<!DOCTYPE html><p>", why, sizeof why));
    CHECK(!well_formed("<!DOCTYPE html><p>a < b</p>", why, sizeof why));
    CHECK(!well_formed("<!DOCTYPE html><p>a &b</p>", why, sizeof why));
    CHECK(!well_formed("<!DOCTYPE html><a href=\"x\">x</a>", why, sizeof why));
    CHECK(!well_formed("<!DOCTYPE html><svg onload=\"x\"></svg>", why, sizeof why));
    CHECK(!well_formed("<!DOCTYPE html><p class=x>y</p>", why, sizeof why));
    CHECK(!well_formed("<!DOCTYPE html><script></script>", why, sizeof why));
}

/* The analysis of build() with its detail kept, as `servprof analyze --html` runs it. */
static sp_report *analyze_detail(sp_events *ev)
{
    sp_analyze_options o;
    sp_analyze_options_init(&o);
    o.keep_detail = 1;
    return eb_analyze(ev, &o);
}

/* What the analysis keeps for the charts, worked out by hand from build(). */
static void test_detail(void)
{
    sp_events *ev = build();
    sp_report *plain = eb_analyze(ev, NULL);
    CHECK(plain->detail == NULL); /* only when asked */
    sp_report_destroy(plain);
    sp_report *r = analyze_detail(ev);
    const sp_report_detail *d = r->detail;
    CHECK(d != NULL);
    if (!d) {
        sp_report_destroy(r);
        sp_events_destroy(ev);
        return;
    }
    /* end-to-end: r2 950000, r1 1000000, r3 and r4 2000000, ascending */
    CHECK_EQ_U64(d->n_latency, 4);
    static const uint64_t lat[4] = {950000, 1000000, 2000000, 2000000};
    for (size_t i = 0; i < 4 && i < d->n_latency; i++)
        CHECK_EQ_U64(d->latency_ns[i], lat[i]);
    /* waste: B1 1 - 60/80 = 0.25, B2 1 - 50/100 = 0.5, ascending */
    CHECK_EQ_U64(d->n_batch_waste, 2);
    if (d->n_batch_waste == 2) {
        CHECK_NEAR(d->batch_waste[0], 0.25, 1e-12);
        CHECK_NEAR(d->batch_waste[1], 0.5, 1e-12);
    }
    /* preprocess per request: r1 100000, r2 50000, r3 100000, r4 0 (its first span is the named
     * stage): sorted 0, 50000, 100000, 100000; nearest ranks over n = 4: p5 and p25 rank 1 (0), p75
     * rank 3 (100000). queue: 100000, 100000, 400000, 400000: p5 100000, p25 100000, p75 400000 */
    const sp_stage_spread *pre = NULL, *queue = NULL;
    for (size_t s = 0; s < r->n_stages; s++) {
        if (!strcmp(r->stages[s].name, "preprocess"))
            pre = &d->stage_spread[s];
        if (!strcmp(r->stages[s].name, "queue"))
            queue = &d->stage_spread[s];
    }
    CHECK(pre && queue);
    if (pre && queue) {
        CHECK_EQ_U64(pre->p5_ns, 0);
        CHECK_EQ_U64(pre->p25_ns, 0);
        CHECK_EQ_U64(pre->p75_ns, 100000);
        CHECK_EQ_U64(queue->p5_ns, 100000);
        CHECK_EQ_U64(queue->p25_ns, 100000);
        CHECK_EQ_U64(queue->p75_ns, 400000);
    }
    /* the slice: 3 x the p95 batch window (1400000) exceeds the device span [200000, 3800000), so it
     * is the span; all three activities (h2d, the hostile kernel, gemm) and both batches are in it */
    const sp_timeline_slice *sl = &d->timeline;
    CHECK_EQ_U64(sl->work, 3);
    CHECK_EQ_U64(sl->first_ns, 200000);
    CHECK_EQ_U64(sl->start_ns, 200000);
    CHECK_EQ_U64(sl->end_ns, 3800000);
    CHECK_EQ_U64(sl->n_acts, 3);
    CHECK_EQ_U64(sl->n_batches, 2);
    if (sl->n_acts == 3 && sl->n_batches == 2) {
        CHECK(sl->acts[0].kind == SP_ACT_H2D && sl->acts[0].name == NULL && sl->acts[0].bytes == 4096 &&
              sl->acts[0].stream == 1);
        CHECK(sl->acts[1].kind == SP_ACT_KERNEL && sl->acts[1].name && !strcmp(sl->acts[1].name, HOSTILE_KERNEL));
        CHECK(sl->acts[2].kind == SP_ACT_KERNEL && sl->acts[2].name && !strcmp(sl->acts[2].name, "gemm"));
        CHECK(sl->batches[0].id == 1 && sl->batches[0].members == 2 && sl->batches[0].has_tokens);
        CHECK_NEAR(sl->batches[1].waste, 0.5, 1e-12);
    }
    /* the detail is the report's own: the event set may go first */
    sp_events_destroy(ev);
    sp_status st;
    char *html = render(r, NULL, NULL, &st);
    CHECK(st == SP_OK);
    CHECK_EQ_U64(count_in(html, "timeline", "class=\"act\""), 3);
    CHECK(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
    free(html);
    sp_report_destroy(r);
}

static void test_full_report(void)
{
    sp_events *ev = build();
    sp_report *r = analyze_detail(ev);
    /* stage rows: queue, preprocess, h2d, kernel, gap, d2h, postprocess, HOSTILE_STAGE, other */
    CHECK_EQ_U64(r->n_stages, 9);
    sp_status st;
    char *html = render(r, ev, NULL, &st);
    CHECK(st == SP_OK);
    char why[200] = "";
    int ok = well_formed(html, why, sizeof why);
    if (!ok)
        fprintf(stderr, "not well formed: %s\n", why);
    CHECK(ok);
    /* every chart section is there, the verdict first */
    static const char *const ids[] = {"verdict", "shares", "latency", "stages", "padding", "timeline", "cost",
                                      "gpu", "quality"};
    const char *prev = html;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char open[64];
        snprintf(open, sizeof open, "<section id=\"%s\"", ids[i]);
        const char *at = strstr(html, open);
        CHECK(at != NULL);
        CHECK(at >= prev); /* in this order */
        if (at)
            prev = at;
    }
    /* shares: with 4 requests every window holds all 4 (at least min(20, n)), so all three bars split
     * the same sums. Non-zero stages: queue, preprocess, h2d (r1, r2: 50000 each), kernel, gap
     * (B1: [250000,300000) + [800000,900000); B2: [2500000,2600000) + [3800000,3900000)), postprocess
     * and the named stage (r4's 100000); d2h and other are 0. 7 segments x 3 bars. */
    CHECK_EQ_U64(count_in(html, "shares", "class=\"seg\""), 21);
    /* latency: 1000000, 950000, 2000000, 2000000; max/min = 2.1 < 20 so 48 even bins over
     * [950000, 2000000]: 950000 -> bin 0, 1000000 -> floor(48 x 50000 / 1050000) = 2, 2000000 -> 47:
     * three bars, and three percentile markers */
    CHECK_EQ_U64(count_in(html, "latency", "class=\"bar\""), 3);
    CHECK_EQ_U64(count_in(html, "latency", "class=\"mark\""), 3);
    /* stage strips: one per stage row */
    CHECK_EQ_U64(count_in(html, "stages", "<g class=\"strip\">"), 9);
    /* padding: wastes 0.25 and 0.5 in 20 bins of 5%: bins 5 and 10 */
    CHECK_EQ_U64(count_in(html, "padding", "class=\"bar\""), 2);
    CHECK(strstr(html, "title>25% to 30%: 1 batches<") != NULL);
    CHECK(strstr(html, "title>50% to 55%: 1 batches<") != NULL);
    /* timeline: the slice is 3 x p95 batch window (1400000) = 4200000, longer than the device span
     * [200000, 3800000), so it is the whole span: two batch windows, two stream rows, three activity
     * shapes (the kernels are 100 px apart, nothing merges) */
    CHECK_EQ_U64(count_in(html, "timeline", "class=\"bwin\""), 2);
    CHECK_EQ_U64(count_in(html, "timeline", "class=\"act\""), 3);
    CHECK(strstr(html, "dev 0 stream 0<") != NULL);
    CHECK(strstr(html, "dev 0 stream 1<") != NULL);
    /* cost: every state has a share here (kernels useful and padded, the h2d copy alone, gaps inside
     * the batch windows, and no batch in flight before 200000): five segments, in the report's order */
    size_t nonzero = 0;
    for (int s = 0; s < SP_COST_STATE_COUNT; s++)
        nonzero += r->cost.by_state_share[s] > 0;
    CHECK_EQ_U64(nonzero, 5);
    CHECK_EQ_U64(count_in(html, "cost", "class=\"seg\""), 5);
    /* the cost text gives the per-request cost where it says "per 1M requests": the window [0, 4000000)
     * ns at the default $4.00/h is a bill of 4 x 4e6 / 3.6e12 = $4.44e-06, over 4 requests $1.11e-06,
     * $1.111 per 1M requests (the bill itself would read $4.444) */
    CHECK_NEAR(r->cost.bill, 4.0 * 4e6 / 3.6e12, 1e-15);
    CHECK_NEAR(r->cost.per_request, 4.0 * 4e6 / 3.6e12 / 4.0, 1e-15);
    CHECK(count_in(html, "cost", "<b>$1.111 per 1M requests</b>") == 1);
    CHECK(count_in(html, "cost", "<b>$4.444 per 1M requests</b>") == 0);
    /* the ranking beside the verdict: the eight candidates with time around p95 (queue, preprocess,
     * h2d, useful kernel, padding, gap, postprocess, the named stage) under one header row; d2h and
     * other have none */
    CHECK_EQ_U64(count_in(html, "verdict", "<tr"), 9);
    CHECK(count_in(html, "verdict", "2 candidates with no time around p95 not shown") == 1);
    /* hostile names come out escaped, never as markup */
    CHECK(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
    CHECK(strstr(html, "&lt;img src=x onerror=alert(2)&gt;") != NULL);
    CHECK(strcasestr(html, "<script") == NULL);
    CHECK(strstr(html, "<img") == NULL);
    /* self-contained: nothing fetched */
    CHECK(strstr(html, "http") == NULL);
    CHECK(strstr(html, "url(") == NULL);
    CHECK(strstr(html, "@import") == NULL);
    /* no what-if rows: no section */
    CHECK(strstr(html, "<section id=\"whatif\"") == NULL);

    /* the writer reads the report alone: the same page without the event set */
    char *again = render(r, NULL, NULL, &st);
    CHECK(st == SP_OK && strcmp(html, again) == 0);
    free(again);
    free(html);
    sp_report_destroy(r);

    /* analysed without the detail: report-only charts, notes in place of the distributions */
    r = eb_analyze(ev, NULL);
    html = render(r, ev, NULL, &st);
    CHECK(st == SP_OK);
    CHECK(well_formed(html, why, sizeof why));
    CHECK_EQ_U64(count_in(html, "shares", "class=\"seg\""), 21);
    CHECK_EQ_U64(count_in(html, "latency", "class=\"bar\""), 0);
    CHECK_EQ_U64(count_in(html, "stages", "<g class=\"strip\">"), 9);
    CHECK_EQ_U64(count_in(html, "stages", "<rect"), 0); /* whiskers from min, no p25-p75 box */
    CHECK_EQ_U64(count_in(html, "padding", "class=\"bar\""), 0);
    CHECK_EQ_U64(count_in(html, "timeline", "class=\"act\""), 0);
    CHECK_EQ_U64(count(html, "Needs the analysis detail"), 2);            /* latency, timeline */
    CHECK_EQ_U64(count(html, "histogram needs the analysis detail"), 1); /* padding */
    free(html);
    sp_report_destroy(r);
    sp_events_destroy(ev);

    /* the event set is not read at all (a raw, unfinished one is as good as none); no report is refused */
    sp_events *raw = build();
    sp_report dummy;
    memset(&dummy, 0, sizeof dummy);
    FILE *f = fopen("/dev/null", "w");
    CHECK(sp_report_write_html(&dummy, raw, f) == SP_OK);
    CHECK(sp_report_write_html(NULL, NULL, f) == SP_ERR_INVALID);
    fclose(f);
    sp_events_destroy(raw);
}

static void test_whatif(void)
{
    sp_whatif_row rows[3] = {
        {"window 4 ms, max 16", 4000000, 8000000, 12000000, 950.0, 1.2e-6, 1},
        {"window 1 ms, max 64 <b>&amp;", 2000000, 5000000, 6000000, 990.0, 1.0e-6, 0},
        {"no batching", 1000000, 3000000, 24000000, -1.0, -1.0, 0},
    };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(sp_report_write_html_whatif(rows, 3, f) == SP_OK);
    fclose(f);
    /* a table row and three bars (p50, p95, p99) per policy */
    CHECK_EQ_U64(count(buf, "<tr"), 4); /* header + 3 */
    CHECK_EQ_U64(count(buf, "class=\"wbar\""), 9);
    CHECK_EQ_U64(count(buf, "class=\"baseline\""), 1);
    CHECK(strstr(buf, "window 4 ms, max 16 (measured)") != NULL);
    CHECK(strstr(buf, "&lt;b&gt;&amp;amp;") != NULL);
    CHECK(strstr(buf, "<b>&amp;") == NULL);
    CHECK_EQ_U64(count(buf, "<td>n/a</td>"), 2);
    /* bars share one axis from 0 to the largest value (24 ms): plot width 900 - 220 - 80 = 600, so
     * 24 ms is 600 wide and 12 ms is 300 */
    CHECK(strstr(buf, "width=\"600.00\"") != NULL);
    CHECK(strstr(buf, "width=\"300.00\"") != NULL);
    free(buf);

    /* more rows than the cap: the first SP_HTML_MAX_WHATIF_ROWS are drawn, the rest counted */
    size_t n = SP_HTML_MAX_WHATIF_ROWS + 6;
    sp_whatif_row *many = calloc(n, sizeof *many);
    for (size_t i = 0; i < n; i++) {
        many[i].policy = "p";
        many[i].p50_ns = 1000 * (i + 1);
        many[i].p95_ns = 2000 * (i + 1);
        many[i].p99_ns = 3000 * (i + 1);
    }
    f = open_memstream(&buf, &len);
    CHECK(sp_report_write_html_whatif(many, n, f) == SP_OK);
    fclose(f);
    CHECK_EQ_U64(count(buf, "class=\"wbar\""), 3 * SP_HTML_MAX_WHATIF_ROWS);
    CHECK(strstr(buf, "6 more policies not shown") != NULL);
    free(buf);
    free(many);

    f = open_memstream(&buf, &len);
    CHECK(sp_report_write_html_whatif(NULL, 0, f) == SP_OK);
    fclose(f);
    CHECK(strstr(buf, "No what-if results") != NULL);
    free(buf);

    /* inside the full page, through the options */
    sp_events *ev = build();
    sp_report *r = analyze_detail(ev);
    sp_html_options o;
    sp_html_options_init(&o);
    o.title = "t <x>";
    o.whatif = rows;
    o.n_whatif = 3;
    sp_status st;
    char *html = render(r, ev, &o, &st);
    CHECK(st == SP_OK);
    char why[200] = "";
    int ok = well_formed(html, why, sizeof why);
    if (!ok)
        fprintf(stderr, "not well formed: %s\n", why);
    CHECK(ok);
    CHECK_EQ_U64(count_in(html, "whatif", "class=\"wbar\""), 9);
    CHECK(strstr(html, "<title>t &lt;x&gt;</title>") != NULL);
    free(html);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

static char *esc(const char *s, size_t max)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sp_html_esc(f, s, max);
    fclose(f);
    return buf;
}

static void test_escape(void)
{
    struct {
        const char *in;
        size_t max;
        const char *want;
    } cases[] = {
        {"a&b<c>d\"e'f", 0, "a&amp;b&lt;c&gt;d&quot;e&#39;f"},
        {"caf\xC3\xA9", 0, "caf\xC3\xA9"},            /* well-formed UTF-8 passes through */
        {"x\xFFy", 0, "x\xEF\xBF\xBDy"},              /* stray byte: U+FFFD */
        {"\xC0\xAF", 0, "\xEF\xBF\xBD\xEF\xBF\xBD"},  /* overlong '/': two bad bytes */
        {"a\x01" "b", 0, "a\xEF\xBF\xBD" "b"},         /* control character */
        {"\xC2\x85", 0, "\xEF\xBF\xBD"},              /* C1 control U+0085 */
        {"\xEF\xBF\xBE", 0, "\xEF\xBF\xBD"},          /* noncharacter U+FFFE */
        {"tab\tnl\n", 0, "tab\tnl\n"},
        {"abcdef", 3, "abc\xE2\x80\xA6"},             /* cut with an ellipsis */
        {"\xC3\xA9\xC3\xA9", 3, "\xC3\xA9\xE2\x80\xA6"}, /* never inside a character */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = esc(cases[i].in, cases[i].max);
        if (strcmp(got, cases[i].want) != 0)
            fprintf(stderr, "case %zu: got \"%s\"\n", i, got);
        CHECK(strcmp(got, cases[i].want) == 0);
        free(got);
    }
    /* fixed colours: the same stage gets the same colour every time, built-ins differ */
    CHECK(strcmp(sp_html_stage_colour("queue"), sp_html_stage_colour("queue")) == 0);
    CHECK(strcmp(sp_html_stage_colour("queue"), sp_html_stage_colour("kernel")) != 0);
    CHECK(strcmp(sp_html_stage_colour("tokenize"), sp_html_stage_colour("tokenize")) == 0);
    CHECK(strcmp(sp_html_cost_colour(SP_COST_USEFUL), sp_html_stage_colour("kernel")) == 0);
}

/* A device-only trace (tests/data/kineto/cuda_event_sync: a PyTorch profile, no request, no batch):
 * the verdict is about device time (its stage is gap: idle inside the ProfilerStep), so the page
 * claims no share of p95 or p95 saving (the JSON has null), and its latency and cost-per-request KPIs
 * are n/a, its padding waste n/a (no batch with tokens), as the text report says, not "0 ns", "$0"
 * and "0.0%". */
static void test_device_only(void)
{
    sp_events *ev = eb_new();
    char err[512];
    CHECK_MSG(sp_events_load_file(ev, SP_SOURCE_DIR "/tests/data/kineto/cuda_event_sync.json.gz", NULL, err,
                                  sizeof err) == SP_OK,
              "%s", err);
    sp_report *r = eb_analyze(ev, NULL);
    CHECK(r->request_count == 0 && r->verdict.stage != NULL && strcmp(r->verdict.stage, "gap") == 0);
    sp_status st;
    char *html = render(r, ev, NULL, &st);
    CHECK(st == SP_OK && html);
    char *v = section(html, "verdict");
    CHECK_MSG(strstr(v, "largest: <b>") != NULL, "%s", v);
    CHECK_MSG(strstr(v, "of p95") == NULL && strstr(v, "p95 saving") == NULL, "%s", v);
    free(v);
    const char *k = strstr(html, "id=\"summary\"");
    CHECK(k != NULL);
    if (k) {
        CHECK_MSG(strstr(k, "<b>n/a</b><span>latency p50</span>") && strstr(k, "<b>n/a</b><span>latency p95</span>") &&
                      strstr(k, "<b>n/a</b><span>latency p99</span>") &&
                      strstr(k, "<b>n/a</b><span>cost per 1M requests</span>") &&
                      strstr(k, "<b>n/a</b><span>padding waste</span>"),
                  "%.600s", k);
        CHECK(!strstr(k, "<b>0 ns</b>") && !strstr(k, "<b>$0</b>"));
    }
    free(html);
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

/* The outcome share as the HTML and text reports print it (sp_rep_fmt_outcome_pct): the figure agrees
 * with sp_outcome_significant, the verdict's test (1% with a 1e-9 tolerance). Worked by hand: 1/100 =
 * 1% (significant, "1.0%"); 1/101 = 0.990099% (not: "%.1f" rounds it to "1.0", "%.2f" gives "0.99");
 * 10/1001 = 0.999001% ("1.0", "1.00", then "0.999"); 995/100000 = 0.995% ("1.0", "1.00", "0.995");
 * 9999998/1e9 = 0.9999998% (below by 2e-9 of a share, more than the tolerance: 7 decimals);
 * 99999999/1e10 = 0.99999999% (within the tolerance: significant, "1.0%"); 1/200 and 2/101 keep one
 * decimal; no requests: "0.0%". */
static void test_outcome_pct(void)
{
    static const struct {
        uint64_t n, total;
        const char *want;
        int significant;
    } cases[] = {
        {1, 100, "1.0%", 1},           {1, 101, "0.99%", 0},      {10, 1001, "0.999%", 0},
        {995, 100000, "0.995%", 0},    {9999998, 1000000000, "0.9999998%", 0},
        {99999999, 10000000000ull, "1.0%", 1}, {1, 200, "0.5%", 0}, {2, 101, "2.0%", 1},
        {0, 0, "0.0%", 0},             {0, 5, "0.0%", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char b[32];
        sp_rep_fmt_outcome_pct(b, sizeof b, cases[i].n, cases[i].total);
        CHECK_MSG(strcmp(b, cases[i].want) == 0, "%llu of %llu: \"%s\", want \"%s\"", (unsigned long long)cases[i].n,
                  (unsigned long long)cases[i].total, b, cases[i].want);
        CHECK(sp_outcome_significant(cases[i].n, cases[i].total) == cases[i].significant);
    }
}

int main(void)
{
    test_outcome_pct();
    test_device_only();
    test_checker();
    test_detail();
    test_full_report();
    test_whatif();
    test_escape();
    return sp_test_done("test_report_html");
}
