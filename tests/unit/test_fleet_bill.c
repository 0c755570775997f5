/* A fleet's bill is the sum of its replicas' instance bills (docs/fleet.md, "Cost"; DESIGN 7 per
 * instance): each replica's price over its own window (the range, or its metrics' uptime when shorter;
 * a replica that stopped answering, what was scraped of it), split by state as that replica's devices
 * spent their time, so the states add up to the bill; per request = bill / requests. Known answers
 * for one, two and three replicas, worked by hand below, checked in the report's figures and in its
 * text, JSON and HTML. Before, the fleet was billed as one instance (the replicas' mean price over the
 * window): $0.75 for case B's two replicas whose bills are $0.50 and $1.00, and case D's three $0.6667
 * where their bills are $2.00. Case G: a replica without device series beside replicas with them is
 * named under the cost table (before: its bill was no_batch unsaid). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_int.h"
#include "servprof/report.h"
#include "testlib.h"

typedef struct rep {
    const char *name;    /* its instance label */
    double ok;           /* ok requests */
    double price;        /* servprof_price_per_hour (0: none published) */
    double uptime;       /* servprof_metrics_uptime_seconds */
    double useful, gap, no_batch; /* its one device's seconds by state (useful < 0: no device series) */
    int down;            /* Prometheus' `up` at 0: its last scrape in the window failed */
    double scraped;      /* increase() of its uptime over the window (SP_FL_SCRAPED_SECONDS; 0: none) */
} rep;

/* The samples of a fleet as Prometheus' answers to the fleet queries hold them (job "serve"): every
 * request in one latency bucket (le 0.01 s) of queue time only, one device per replica. */
static void fleet_set(sp_fl_set *set, const rep *r, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const char *jn[4] = {"job", "instance", "outcome", "le"};
        const char *v[4] = {"serve", r[k].name, "ok", "0.01"};
        CHECK(sp_fl_set_add(set, "servprof_requests_total", 3, jn, v, r[k].ok) == SP_OK);
        v[2] = "+Inf";
        const char *ln[2] = {"job", "instance"};
        CHECK(sp_fl_set_add(set, "servprof_price_per_hour", 2, ln, v, r[k].price) == SP_OK);
        CHECK(sp_fl_set_add(set, "servprof_metrics_uptime_seconds", 2, ln, v, r[k].uptime) == SP_OK);
        CHECK(sp_fl_set_add(set, "up", 2, ln, v, r[k].down ? 0 : 1) == SP_OK);
        if (r[k].scraped > 0)
            CHECK(sp_fl_set_add(set, SP_FL_SCRAPED_SECONDS, 2, ln, v, r[k].scraped) == SP_OK);
        const char *dn[4] = {"job", "instance", "device", "state"};
        const char *states[3] = {"useful", "gap", "no_batch"};
        double secs[3] = {r[k].useful, r[k].gap, r[k].no_batch};
        for (int s = 0; r[k].useful >= 0 && s < 3; s++) {
            const char *dv[4] = {"serve", r[k].name, "cpu", states[s]};
            CHECK(sp_fl_set_add(set, "servprof_device_seconds_total", 4, dn, dv, secs[s]) == SP_OK);
        }
    }
    double total = 0;
    for (size_t k = 0; k < n; k++)
        total += r[k].ok;
    const char *le[1] = {"le"}, *b1[1] = {"0.01"}, *b2[1] = {"+Inf"};
    CHECK(sp_fl_set_add(set, "servprof_request_duration_seconds_bucket", 1, le, b1, total) == SP_OK);
    CHECK(sp_fl_set_add(set, "servprof_request_duration_seconds_bucket", 1, le, b2, total) == SP_OK);
    const char *sl[2] = {"stage", "le"}, *s1[2] = {"queue", "0.01"}, *s2[2] = {"queue", "+Inf"};
    CHECK(sp_fl_set_add(set, "servprof_request_stage_seconds_total", 2, sl, s1, total * 0.005) == SP_OK);
    CHECK(sp_fl_set_add(set, "servprof_request_stage_seconds_total", 2, sl, s2, total * 0.005) == SP_OK);
}

static char *written(const sp_report *r, int kind)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    if (!f)
        return NULL;
    sp_status st = kind == 0 ? sp_report_write_text(r, f) : kind == 1 ? sp_report_write_json(r, f)
                                                                    : sp_report_write_html(r, NULL, f);
    CHECK(st == SP_OK);
    fclose(f);
    return buf;
}

/* The report of fleet r[0..n) over a 600 s range (--range 10m), `option` the --price-per-hour (0: none). */
static sp_report *fleet(const rep *r, size_t n, double option)
{
    sp_fl_set set = {NULL, 0, 0};
    fleet_set(&set, r, n);
    sp_fl_origin o = {"prometheus", "http://prom:9090", "{job=\"serve\"}", "10m", 600.0, 1796000000.0, option};
    sp_report *rep_out = NULL;
    char err[512] = "";
    CHECK_MSG(sp_fl_report(&set, &o, &rep_out, err, sizeof err) == SP_OK, "%s", err);
    sp_fl_set_free(&set);
    return rep_out;
}

/* The cost figures against the hand-worked ones: bill, per request, price, states (useful, gap,
 * no_batch; padding and copies 0), and the states adding up to the bill. */
static void check_cost(const char *tag, const sp_report *r, double bill, double per_request, double price,
                       double useful, double gap, double no_batch)
{
    if (!r)
        return;
    const sp_cost_summary *c = &r->cost;
    CHECK_MSG(fabs(c->bill - bill) < 1e-12, "%s: bill %.12g, want %.12g", tag, c->bill, bill);
    CHECK_MSG(fabs(c->per_request - per_request) < 1e-15, "%s: per request %.12g, want %.12g", tag, c->per_request,
              per_request);
    CHECK_MSG(fabs(c->price_per_hour - price) < 1e-12, "%s: price %.12g, want %.12g", tag, c->price_per_hour, price);
    double want[SP_COST_STATE_COUNT] = {useful, 0, 0, gap, no_batch}, sum = 0;
    for (int s = 0; s < SP_COST_STATE_COUNT; s++) {
        CHECK_MSG(fabs(c->by_state[s] - want[s]) < 1e-12, "%s: %s %.12g, want %.12g", tag,
                  sp_cost_state_str((sp_cost_state)s), c->by_state[s], want[s]);
        sum += c->by_state[s];
    }
    CHECK_MSG(fabs(sum - c->bill) < 1e-12, "%s: the states add up to %.12g, the bill is %.12g", tag, sum, c->bill);
}

/* `needle` in the report written as text (0), JSON (1) or HTML (2). */
static void check_says(const char *tag, const sp_report *r, int kind, const char *needle)
{
    if (!r)
        return;
    char *t = written(r, kind);
    CHECK_MSG(t && strstr(t, needle), "%s: %s report lacks \"%s\":\n%s", tag, kind == 0 ? "text" : kind == 1 ? "JSON" : "HTML",
              needle, t ? t : "");
    free(t);
}

int main(void)
{
    /* A: one replica, $3/h, up longer than the range: billed the range, 600 s.
     * bill = 3 x 600 / 3600 = $0.50; its device: useful 300 s, gap 180, no_batch 120 of 600, so
     * useful 0.50 x 300/600 = 0.25, gap 0.50 x 180/600 = 0.15, no_batch 0.50 x 120/600 = 0.10;
     * per request 0.50 / 1000 = 0.0005 ($500 per 1M). One instance: the line reads as before. */
    rep a[1] = {{"10.0.0.1:8000", 1000, 3, 1000, 300, 180, 120, 0, 0}};
    sp_report *ra = fleet(a, 1, 0);
    check_cost("A", ra, 0.50, 0.0005, 3, 0.25, 0.15, 0.10);
    check_says("A", ra, 0, "cost: $0.5000 for a 600.000 s window at $3.00/h; $500.000 per 1M requests\n");
    check_says("A", ra, 0, "window 10m ending 2026-");
    check_says("A", ra, 0, ", price $3.00/h\n");
    check_says("A", ra, 2, "<p>$0.5000 for a 600.000 s window at $3.00/h; <b>$500.000 per 1M requests</b>");

    /* B: two replicas, $3/h and $6/h, both up the whole range: 600 s each.
     * bills: 3 x 600/3600 = $0.50 and 6 x 600/3600 = $1.00, the fleet's $1.50 (before: the mean price
     * $4.50 x 600 s = $0.75). States: replica 1 as A (useful 0.25, gap 0.15, no_batch 0.10); replica 2's
     * device useful 480 s, gap 0, no_batch 120 of 600: useful 1.00 x 0.8 = 0.80, no_batch 0.20. Fleet:
     * useful 1.05, gap 0.15, no_batch 0.30 (sum 1.50). Requests 1000 + 500: per request $0.001.
     * Price: the bill over the replica-hours billed, 1.50 / (1200 s / 3600) = $4.50/h. */
    rep b[2] = {{"10.0.0.1:8000", 1000, 3, 1000, 300, 180, 120, 0, 0},
                {"10.0.0.2:8000", 500, 6, 2000, 480, 0, 120, 0, 0}};
    sp_report *rb = fleet(b, 2, 0);
    check_cost("B", rb, 1.50, 0.001, 4.50, 1.05, 0.15, 0.30);
    check_says("B", rb, 0, "cost: $1.50 for 2 replicas over a 600.000 s window (1200.000 s of replica time) at "
                           "$3.00-$6.00/h, $4.50 per replica-hour; $1000.000 per 1M requests\n");
    check_says("B", rb, 0, ", price $3.00-$6.00/h\n");
    check_says("B", rb, 1, "\"cost\":{\"price_per_hour\":4.5,\"price_is_default\":false,\"window_us\":600000000.000,"
                           "\"bill\":1.5,\"per_request\":0.001,");
    check_says("B", rb, 2, "<p>$1.50 for 2 replicas over a 600.000 s window (1200.000 s of replica time) at "
                           "$3.00-$6.00/h, $4.50 per replica-hour; <b>$1000.000 per 1M requests</b>");
    check_says("B", rb, 2, "2 replicas (a fleet report), 1500 requests, 0 batches, window 600.000 s, price $3.00-$6.00/h</p>");

    /* C: three replicas, B's two and a third at $3/h whose metrics started 120 s before the window's
     * end (uptime 120 < the range): billed 120 s, 3 x 120/3600 = $0.10; its device useful 60 s,
     * no_batch 60: useful 0.05, no_batch 0.05. Fleet: $1.60 = useful 1.10, gap 0.15, no_batch 0.35;
     * requests 1600: $0.001 each; replica time 600 + 600 + 120 = 1320 s (22m), price 1.60 / (1320/3600)
     * = $4.3636.../h. The fleet's window stays the range (the longest replica's). */
    rep c[3] = {{"10.0.0.1:8000", 1000, 3, 1000, 300, 180, 120, 0, 0},
                {"10.0.0.2:8000", 500, 6, 2000, 480, 0, 120, 0, 0},
                {"10.0.0.3:8000", 100, 3, 120, 60, 0, 60, 0, 0}};
    sp_report *rc = fleet(c, 3, 0);
    check_cost("C", rc, 1.60, 0.001, 1.60 / (1320.0 / 3600.0), 1.10, 0.15, 0.35);
    check_says("C", rc, 0, "cost: $1.60 for 3 replicas over a 600.000 s window (1320.000 s of replica time) at "
                           "$3.00-$6.00/h, $4.36 per replica-hour; $1000.000 per 1M requests\n");
    if (rc)
        CHECK((double)rc->cost.window_ns == 600e9);

    /* D: C's three at one price, --price-per-hour 4 (it overrides theirs), all up the whole range:
     * 3 x 4 x 600/3600 = 3 x $0.6667 = $2.00, three times one instance's bill (before: $0.6667).
     * States: replicas 1 and 3 as A's device mix (useful 0.5, gap 0.3, no_batch 0.2) at $2/3 each,
     * replica 2 at useful 0.8, no_batch 0.2: useful 1/3 + 1/3 + 0.8 x 2/3 = 1.20, gap 0.2 + 0.2 = 0.40,
     * no_batch 3 x 0.2 x 2/3 = 0.40 (sum 2.00). Requests 3000: $2/3000 each ($666.667 per 1M). */
    rep d[3] = {{"10.0.0.1:8000", 1000, 3, 1000, 300, 180, 120, 0, 0},
                {"10.0.0.2:8000", 1000, 6, 2000, 480, 0, 120, 0, 0},
                {"10.0.0.3:8000", 1000, 3, 900, 300, 180, 120, 0, 0}};
    sp_report *rd = fleet(d, 3, 4.0);
    check_cost("D", rd, 2.00, 2.0 / 3000, 4.0, 1.20, 0.40, 0.40);
    check_says("D", rd, 0, "cost: $2.00 for 3 replicas x a 600.000 s window at $4.00/h; $666.667 per 1M requests\n");
    check_says("D", rd, 0, ", price $4.00/h\n");
    check_says("D", rd, 2, "<p>$2.00 for 3 replicas x a 600.000 s window at $4.00/h; <b>$666.667 per 1M requests</b>");

    /* E: a replica that stopped answering (up 0), up since before the range (uptime 900 s at its last
     * scrape) but scraped for 240 s of it (the increase() of its uptime over the window; its device:
     * useful 40 s, no_batch 200): billed those 240 s, not the range. The others answer to the end:
     * their uptime increase (600) does not matter to them. It publishes no price: the mean of the
     * others', (2 + 6) / 2 = $4/h. Bills: 2 x 600/3600 = 0.333333 (device all useful), 6 x 600/3600 =
     * 1.00 (all gap), 4 x 240/3600 = 0.266667 (useful 1/6, no_batch 5/6): $1.60 = useful 0.333333 +
     * 0.044444 = 0.377778, gap 1.00, no_batch 0.222222; requests 800: $0.002 each; replica time
     * 600 + 600 + 240 = 1440 s, 1.60 / 0.4 h = $4.00 per replica-hour. */
    rep e[3] = {{"10.0.0.1:8000", 400, 2, 1000, 600, 0, 0, 0, 600},
                {"10.0.0.2:8000", 300, 6, 2000, 0, 600, 0, 0, 600},
                {"10.0.0.3:8000", 100, 0, 900, 40, 0, 200, 1, 240}};
    sp_report *re = fleet(e, 3, 0);
    check_cost("E", re, 1.60, 0.002, 4.0, 1.0 / 3 + 0.8 / 18, 1.0, 0.8 * 5 / 18);
    check_says("E", re, 0, "cost: $1.60 for 3 replicas over a 600.000 s window (1440.000 s of replica time) at "
                           "$2.00-$6.00/h, $4.00 per replica-hour; $2000.000 per 1M requests\n");
    if (re && re->source && re->source->bills) {
        CHECK(re->source->bills[2].window_s == 240);
        CHECK(re->source->bills[2].price_per_hour == 4);
        CHECK(fabs(re->source->bills[2].bill - 4 * 240 / 3600.0) < 1e-15);
    }
    /* the same replica answering to the end (up 1) is billed the range: 4 x 600/3600 = 0.666667 more
     * than the 240 s, $2.00 in all */
    e[2].down = 0;
    sp_report *re1 = fleet(e, 3, 0);
    if (re1)
        CHECK_MSG(fabs(re1->cost.bill - (1.0 / 3 + 1.0 + 4 * 600 / 3600.0)) < 1e-12, "E up: bill %.12g", re1->cost.bill);
    sp_report_destroy(re1);

    /* F: no replica publishes a price and no option: each at the default, $4/h, said as before.
     * Two replicas up the range with A's device mix: 2 x 4 x 600/3600 = $1.3333 = useful 0.6667, gap
     * 0.40, no_batch 0.2667; requests 2000: $1.3333/2000 each ($666.667 per 1M). */
    rep f[2] = {{"10.0.0.1:8000", 1000, 0, 1000, 300, 180, 120, 0, 0},
                {"10.0.0.2:8000", 1000, 0, 1000, 300, 180, 120, 0, 0}};
    sp_report *rf = fleet(f, 2, 0);
    check_cost("F", rf, 4.0 / 3, 4.0 / 3 / 2000, 4.0, 2.0 / 3, 0.40, 4.0 / 15);
    if (rf)
        CHECK(rf->cost.price_is_default);
    check_says("F", rf, 0, "cost: $1.33 for 2 replicas x a 600.000 s window at $4.00/h (default price; set --price-per-hour); "
                           "$666.667 per 1M requests\n");

    /* G: B's two and a third at $3/h with 500 requests and no device series (a GPU replica whose
     * collector is gone, or an older build): billed as one instance with no device time, all no_batch,
     * 3 x 600/3600 = $0.50. Fleet: $2.00 = useful 1.05, gap 0.15, no_batch 0.30 + 0.50 = 0.80; requests
     * 2000: $0.001 each; replica time 1800 s, 2.00 / 0.5 h = $4.00 per replica-hour. The cost table's
     * no_batch $0.80 holds its $0.50, and the sentence under it names it (before: not said). */
    rep g[3] = {{"10.0.0.1:8000", 1000, 3, 1000, 300, 180, 120, 0, 0},
                {"10.0.0.2:8000", 500, 6, 2000, 480, 0, 120, 0, 0},
                {"10.0.0.3:8000", 500, 3, 1000, -1, 0, 0, 0, 0}};
    sp_report *rg = fleet(g, 3, 0);
    check_cost("G", rg, 2.00, 0.001, 4.0, 1.05, 0.15, 0.80);
    check_says("G", rg, 0, "  no_batch          $0.8000       $400.000    40.0%\n"
                           "  1 of 3 replicas exported no device series (serve/10.0.0.3:8000): its $0.5000 is billed as\n"
                           "  no_batch.\n");
    check_says("G", rg, 1, "\"replicas_never\":[],\"replicas_no_device\":[\"serve/10.0.0.3:8000\"],"
                           "\"replicas_no_device_bill\":0.5}");
    check_says("G", rg, 2, "</tbody></table>\n<p class=\"warn\">1 of 3 replicas exported no device series "
                           "(serve/10.0.0.3:8000): its $0.5000 is billed as no_batch.</p>\n</section>");
    /* every replica without device series (a CPU-only fleet's replicas recording no device): nothing
     * said, and B, whose replicas all have them, says nothing either */
    for (size_t k = 0; k < 3; k++)
        g[k].useful = -1;
    sp_report *rg0 = fleet(g, 3, 0);
    check_cost("G none", rg0, 2.00, 0.001, 4.0, 0, 0, 2.00);
    const sp_report *quiet[2] = {rg0, rb};
    for (int q = 0; q < 2; q++)
        for (int kind = 0; quiet[q] && kind < 3; kind++) {
            char *t = written(quiet[q], kind);
            CHECK_MSG(t && !strstr(t, "device series") && !strstr(t, "replicas_no_device"), "%s: %d: said:\n%s",
                      q ? "B" : "G none", kind, t ? t : "");
            free(t);
        }
    sp_report_destroy(rg0);
    sp_report_destroy(rg);

    sp_report_destroy(ra);
    sp_report_destroy(rb);
    sp_report_destroy(rc);
    sp_report_destroy(rd);
    sp_report_destroy(re);
    sp_report_destroy(rf);
    return sp_test_done("test_fleet_bill");
}
