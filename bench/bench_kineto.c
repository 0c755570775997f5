/* Kineto import throughput: loads one (uncompressed) PyTorch-profiler trace through the public API and
 * prints MB/s of JSON and the process's peak resident memory (bench/kineto.bench.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "servprof/events.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s TRACE.json [hta]\n", argv[0]);
        return 2;
    }
    struct stat sb;
    if (stat(argv[1], &sb) != 0) {
        perror(argv[1]);
        return 1;
    }
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        return 1;
    sp_load_options opt;
    sp_load_options_init(&opt);
    opt.format = SP_FORMAT_KINETO;
    opt.hta_compat = argc > 2;
    char err[512];
    double t0 = now_s();
    sp_status st = sp_events_load_file(ev, argv[1], &opt, err, sizeof err);
    double dt = now_s() - t0;
    if (st != SP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double mb = (double)sb.st_size / 1e6;
    /* CPU seconds as well as wall: on a shared machine the wall clock also counts other people's work */
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec * 1e-6;
    printf("servprof%s: %.1f MB in %.2f s wall = %.0f MB/s (%.2f s CPU = %.0f MB/s), %zu kernels, %zu copies, "
           "%zu launches, maxrss %.0f MB\n",
           opt.hta_compat ? " (hta)" : "", mb, dt, mb / dt, cpu, mb / cpu, s.kernels, s.copies, s.launches,
           (double)ru.ru_maxrss / 1024.0);
    sp_events_destroy(ev);
    return 0;
}
