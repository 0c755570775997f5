/* `servprof analyze --prometheus URL`: the fleet report (servprof/fleet.h) over a window, summed over
 * every replica the selector matches, written by the usual text or JSON writer. The rules (the
 * queries, the sums, the estimates) are the fleet library's; this file passes the options and prints. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#ifdef SERVPROF_FLEET_ENABLED
#include "servprof/fleet.h"
#endif

int sp_cli_analyze_fleet(const sp_cli_fleet_args *f)
{
#ifdef SERVPROF_FLEET_ENABLED
    sp_fleet_options o;
    sp_fleet_options_init(&o);
    if (f->range)
        o.range = f->range;
    o.selector = f->selector;
    o.price_per_hour = f->price_per_hour;
    o.timeout_s = f->timeout_s;
    char err[1024] = "";
    if (sp_fleet_options_check(&o, err, sizeof err) != SP_OK) {
        fprintf(stderr, "servprof analyze: %s\n", err);
        return 2;
    }
    if (!sp_fleet_has_prometheus()) {
        fprintf(stderr, "servprof analyze: --prometheus: this build has no Prometheus client: it needs libcurl and "
                        "jansson at build time (Debian: libcurl4-openssl-dev, libjansson-dev), then a rebuild\n");
        return 1;
    }
    sp_report *rep = NULL;
    sp_status st = sp_fleet_report_prometheus(f->url, &o, &rep, err, sizeof err);
    if (st != SP_OK) {
        fprintf(stderr, "servprof analyze: %s\n", err[0] ? err : sp_status_str(st));
        return st == SP_ERR_INVALID ? 2 : 1;
    }
    FILE *out = stdout;
    int rc = 0;
    if (f->output_path && !(out = fopen(f->output_path, "w"))) {
        fprintf(stderr, "servprof analyze: %s: cannot create: %s\n", f->output_path, strerror(errno));
        rc = 1;
    }
    if (!rc) {
        st = f->json ? sp_report_write_json(rep, out) : sp_report_write_text(rep, out);
        int e = errno;
        if (out != stdout && fclose(out) != 0 && st == SP_OK) {
            st = SP_ERR_IO;
            e = errno;
        }
        if (st != SP_OK) {
            fprintf(stderr, "servprof analyze: writing the report to %s: %s\n",
                    f->output_path ? f->output_path : "standard output",
                    st == SP_ERR_IO ? strerror(e) : sp_status_str(st));
            rc = 1;
        }
    }
    if (!rc && f->strict)
        rc = sp_cli_strict_report("analyze", rep);
    sp_report_destroy(rep);
    return rc;
#else
    (void)f;
    fprintf(stderr, "servprof analyze: --prometheus: this build has no fleet report (src/fleet was not built)\n");
    return 1;
#endif
}
