/* The fleet report against a "Prometheus" that takes the connection and never answers (a hung or very
 * slow server): the request gives up after the options' timeout and the error says so in those terms,
 * naming the URL and the time waited. Before, it said only libcurl's "Timeout was reached". The
 * listening socket is never accepted from: the kernel's backlog completes the connection, so the
 * client sends its request and waits. */
#include <stdio.h>
#include <string.h>

#include "loopback_server_testutil.h"
#include "servprof/fleet.h"
#include "testlib.h"

int main(void)
{
    if (!sp_fleet_has_prometheus()) {
        printf("test_fleet_timeout: skipped: this build has no Prometheus client\n");
        return 0;
    }
    int port;
    int ls = lb_listen(&port, 8);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    sp_fleet_options o;
    sp_fleet_options_init(&o);
    o.timeout_s = 0.3;
    sp_report *r = NULL;
    char err[512] = "";
    sp_status st = sp_fleet_report_prometheus(url, &o, &r, err, sizeof err);
    CHECK(st == SP_ERR_IO && r == NULL);
    char want[128];
    snprintf(want, sizeof want, "cannot read Prometheus at %s: no answer within 0.3 s", url);
    CHECK_MSG(strstr(err, want) != NULL, "%s", err);
    close(ls);
    return sp_test_done("test_fleet_timeout");
}
