/* The one formatter of a cost per request (sp_rep_fmt_cost_per_request, report_int.h): dollars per
 * million requests, the way the analyze text and HTML reports, the diff and the what-if print it.
 * Known answers worked by hand: $5.713e-06 per request is 5.713e-06 x 1e6 = $5.713 per 1M requests;
 * $1.234e-10 is 0.0001234 per 1M, under 0.001, so three significant digits, 0.000123; $2.5e-04 is 250. */
#include <math.h>
#include <string.h>

#include "report/report_int.h"
#include "testlib.h"

static int is(const char *got, const char *want)
{
    int ok = strcmp(got, want) == 0;
    CHECK_MSG(ok, "got '%s', want '%s'", got, want);
    return ok;
}

int main(void)
{
    char b[64];
    is(sp_rep_fmt_cost_per_request(b, sizeof b, 5.713e-6, SP_REP_1M_NUMBER), "5.713");
    is(sp_rep_fmt_cost_per_request(b, sizeof b, 5.713e-6, SP_REP_1M_DOLLARS), "$5.713");
    is(sp_rep_fmt_cost_per_request(b, sizeof b, 5.713e-6, SP_REP_1M_WORDS), "$5.713 per 1M requests");
    is(sp_rep_fmt_cost_per_request(b, sizeof b, 1.234e-10, SP_REP_1M_DOLLARS), "$0.000123");
    is(sp_rep_fmt_cost_per_request(b, sizeof b, 2.5e-4, SP_REP_1M_DOLLARS), "$250.000");
    is(sp_rep_fmt_cost_per_request(b, sizeof b, 0, SP_REP_1M_DOLLARS), "$0.000");
    is(sp_rep_fmt_cost_per_request(b, sizeof b, 0, SP_REP_1M_NUMBER), "0.000");
    /* no figure: n/a in every form, never "$nan" */
    is(sp_rep_fmt_cost_per_request(b, sizeof b, NAN, SP_REP_1M_WORDS), "n/a");
    is(sp_rep_fmt_cost_per_request(b, sizeof b, INFINITY, SP_REP_1M_NUMBER), "n/a");
    /* a short buffer is cut, never overrun */
    char s[6];
    is(sp_rep_fmt_cost_per_request(s, sizeof s, 5.713e-6, SP_REP_1M_WORDS), "$5.71");
    return sp_test_done("test_report_cost_format");
}
