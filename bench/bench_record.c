/* Recording and native-import benchmarks (docs/BENCHMARKS.md, "Recording" and "Native import").
 *   bench_record record [N]          cost of sp_record_stage (caller-supplied times) from 1 and 2
 *                                    threads, against a bare clock_gettime(CLOCK_MONOTONIC) in the
 *                                    same run
 *   bench_record sustain RATE SECS [RING_MIB [WRITER_NICE [IDLE_MS]]]
 *                                    one thread records RATE stage events/s for SECS s with default
 *                                    buffers (or RING_MIB per thread); reports drops by cause and
 *                                    the writer thread's CPU time (RING_MIB 0: default; a negative
 *                                    WRITER_NICE, as root, gives the writer priority; IDLE_MS: the
 *                                    recorder is idle that long first, so the burst meets a writer
 *                                    resting on its longest period: docs/recording.md)
 *   bench_record gen PATH N          writes a native trace of about N events (serving mix, every
 *                                    request alike: one latency, one shape)
 *   bench_record gen-varied PATH N [SEED]
 *                                    the same mix with a real service's spread (open-loop arrivals,
 *                                    a dynamic batcher, log-normal stage times, rejections): the
 *                                    trace the end-to-end benchmark reads
 *   bench_record metrics N [RUNS]    the serving mix of `gen` (N events, times on sp_now_ns) recorded
 *                                    without and with live metrics, interleaved RUNS times (default 3):
 *                                    recording thread ns per event, writer CPU ns per event; then the
 *                                    cost of sp_recorder_metrics_text (docs/BENCHMARKS.md, "Live metrics")
 *   bench_record import PATH [MODE]  loads it with sp_events_load_file: events/s, peak RSS per event;
 *                                    MODE serial or pipelined forces the native importer's path
 *                                    (default: its own choice, by the machine's load) */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "servprof/events.h"
#include "servprof/trace.h"
#include "import/import_int.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double clock_cost_ns(uint64_t n)
{
    volatile uint64_t sink = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < n; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        sink += (uint64_t)ts.tv_nsec;
    }
    return (now_s() - t0) * 1e9 / (double)n;
}

static sp_recorder *g_rec;
/* 50k 32-byte records = 1.6 MB: below half the default 4 MiB ring, where the recording thread would
 * wake the writer early, so the timed loop measures the hot path alone (the writer drains in the
 * untimed flush, as before) and none drop. */
#define CHUNK 50000u

typedef struct {
    uint64_t n;
    double secs;
} rec_job;

static void *record_job(void *arg)
{
    rec_job *j = arg;
    uint64_t base = (uint64_t)(uintptr_t)j * 1000000000ull;
    double total = 0;
    for (uint64_t done = 0; done < j->n; done += CHUNK) {
        double t0 = now_s();
        for (uint64_t i = 0; i < CHUNK; i++)
            sp_record_stage(g_rec, base + done + i, SP_STAGE_QUEUE, i, i + 100);
        total += now_s() - t0;
        sp_recorder_flush(g_rec); /* not timed: empties the ring for the next chunk */
    }
    j->secs = total;
    return NULL;
}

static int cmd_record(uint64_t n)
{
    if (sp_recorder_open("/tmp/servprof-bench-record.sptrace", NULL, &g_rec) != SP_OK)
        return 1;
    double clk = clock_cost_ns(20000000);
    for (int threads = 1; threads <= 2; threads++) {
        rec_job jobs[2] = {{n, 0}, {n, 0}};
        pthread_t th[2];
        for (int t = 0; t < threads; t++)
            pthread_create(&th[t], NULL, record_job, &jobs[t]);
        double worst = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(th[t], NULL);
            double ns = jobs[t].secs * 1e9 / (double)n;
            if (ns > worst)
                worst = ns;
        }
        printf("record_stage threads=%d ns_per_event=%.2f clock_gettime_ns=%.2f ratio=%.2f\n", threads,
               worst, clk, worst / clk);
    }
    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(g_rec, d);
    printf("record_stage drops buffer_full=%llu\n", (unsigned long long)d[SP_DROP_BUFFER_FULL]);
    sp_recorder_close(g_rec);
    remove("/tmp/servprof-bench-record.sptrace");
    return 0;
}

static double ru_sys_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double ru_cpu_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

/* The writer's scheduler figures from /proc/self/task/TID/schedstat (ns on CPU, ns waiting on a run
 * queue) summed over every thread but the caller: in this program that is the recorder's writer.
 * Waiting on a run queue is time the writer was ready but had no core: starvation, not slowness. */
static void other_threads_schedstat(double *cpu_s, double *wait_s)
{
    *cpu_s = *wait_s = 0;
    char me[32];
    snprintf(me, sizeof me, "%ld", (long)syscall(SYS_gettid));
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, me) == 0)
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        unsigned long long run = 0, wait = 0;
        if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
            *cpu_s += (double)run * 1e-9;
            *wait_s += (double)wait * 1e-9;
        }
        fclose(f);
    }
    closedir(d);
}

/* Gives every thread but the caller (the recorder's writer) nice value `nice`: with a negative value
 * (root only) the writer runs as soon as it wakes, which stands in for "the writer has a core of its
 * own" on a machine that other work keeps busy. */
static void renice_other_threads(int nice)
{
    char me[32];
    snprintf(me, sizeof me, "%ld", (long)syscall(SYS_gettid));
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, me) == 0)
            continue;
        if (setpriority(PRIO_PROCESS, (id_t)atol(e->d_name), nice) != 0)
            perror("setpriority (writer nice)");
    }
    closedir(d);
}

static double loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* Paces one thread to RATE stage events/s. The producer busy-waits between 1 ms ticks, so it holds a
 * core; what matters for the goal is whether the writer keeps up, so its CPU time per event is
 * reported (process CPU minus this thread's, RUSAGE_THREAD) along with the time it spent ready to
 * run but waiting for a core. */
static int cmd_sustain(double rate, double secs, size_t ring_bytes, int writer_nice, unsigned idle_ms)
{
    double load0 = loadavg1();
    double self0 = ru_cpu_s(RUSAGE_SELF), me0 = ru_cpu_s(RUSAGE_THREAD);
    double sys0 = ru_sys_s(RUSAGE_SELF), mesys0 = ru_sys_s(RUSAGE_THREAD);
    sp_recorder_options o;
    sp_recorder_options_init(&o); /* the defaults, unless a ring size is given */
    if (ring_bytes)
        o.thread_buffer_bytes = ring_bytes;
    if (sp_recorder_open("/tmp/servprof-bench-sustain.sptrace", &o, &g_rec) != SP_OK)
        return 1;
    if (writer_nice)
        renice_other_threads(writer_nice);
    if (idle_ms) {
        struct timespec idle = {(time_t)(idle_ms / 1000u), (long)(idle_ms % 1000u) * 1000000L};
        nanosleep(&idle, NULL);
    }
    const uint64_t per_ms = (uint64_t)(rate / 1000.0);
    double t0 = now_s();
    uint64_t sent = 0, ticks = 0;
    while (now_s() - t0 < secs) {
        for (uint64_t i = 0; i < per_ms; i++, sent++)
            sp_record_stage(g_rec, sent, SP_STAGE_QUEUE, sent, sent + 10);
        ticks++;
        while (now_s() < t0 + (double)ticks * 1e-3)
            ; /* pace to the intended rate */
    }
    double el = now_s() - t0;
    double me1 = ru_cpu_s(RUSAGE_THREAD);
    double wcpu_sched, wwait;
    other_threads_schedstat(&wcpu_sched, &wwait);
    uint64_t d[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(g_rec, d);
    sp_recorder_close(g_rec);
    /* the writer has been joined; its CPU time stays in RUSAGE_SELF */
    double writer_cpu = ru_cpu_s(RUSAGE_SELF) - self0 - (ru_cpu_s(RUSAGE_THREAD) - me0);
    double writer_sys = ru_sys_s(RUSAGE_SELF) - sys0 - (ru_sys_s(RUSAGE_THREAD) - mesys0);
    uint64_t all = 0;
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        all += d[c];
    printf("sustain target_rate=%.0f achieved_rate=%.0f seconds=%.1f events=%llu drops=%llu "
           "(buffer_full=%llu)\n",
           rate, (double)sent / el, el, (unsigned long long)sent, (unsigned long long)all,
           (unsigned long long)d[SP_DROP_BUFFER_FULL]);
    printf("sustain writer_cpu_s=%.3f (in kernel %.3f) writer_ns_per_event=%.2f "
           "writer_core_share_needed=%.3f writer_runqueue_wait_s=%.2f producer_cpu_s=%.2f "
           "loadavg_before=%.2f loadavg_after=%.2f\n",
           writer_cpu, writer_sys, writer_cpu * 1e9 / (double)sent, writer_cpu / el, wwait, me1 - me0,
           load0, loadavg1());
    (void)wcpu_sched;
    remove("/tmp/servprof-bench-sustain.sptrace");
    return all != 0;
}

/* The generators' recorder (a 64 MiB ring, so a generator never drops) and their four kernel names. */
static int gen_open(const char *path, sp_name_id k[4])
{
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    o.thread_buffer_bytes = 64u << 20;
    sp_status st = sp_recorder_open(path, &o, &g_rec);
    if (st != SP_OK) {
        fprintf(stderr, "bench_record: cannot write %s: %s\n", path, sp_status_str(st));
        return -1;
    }
    k[0] = sp_recorder_intern(g_rec, "gemm");
    k[1] = sp_recorder_intern(g_rec, "softmax");
    k[2] = sp_recorder_intern(g_rec, "layernorm");
    k[3] = sp_recorder_intern(g_rec, "gelu");
    return 0;
}

/* Closes the generator's recorder: the records it dropped (none expected). */
static unsigned long long gen_close(void)
{
    uint64_t d[SP_DROP_CAUSE_COUNT], all = 0;
    sp_recorder_drops(g_rec, d);
    sp_recorder_close(g_rec);
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        all += d[c];
    return (unsigned long long)all;
}

/* Serving mix per 8 requests: 8 request, 24 stage, 1 batch, 4 kernel, 2 copy, 4 launch = 43 events. */
static int cmd_gen(const char *path, uint64_t n)
{
    sp_name_id k[4];
    if (gen_open(path, k) != 0)
        return 1;
    sp_name_id launch = sp_recorder_intern(g_rec, "cudaLaunchKernel");
    uint64_t events = 0, req = 0, batch = 0, t = 1000000;
    while (events < n) {
        uint64_t m[8];
        for (int i = 0; i < 8; i++, req++) {
            m[i] = req;
            sp_record_request(g_rec, req, t, t + 900000, 30 + (int64_t)(req % 20));
            sp_record_stage(g_rec, req, SP_STAGE_PREPROCESS, t, t + 50000);
            sp_record_stage(g_rec, req, SP_STAGE_QUEUE, t + 50000, t + 300000);
            sp_record_stage(g_rec, req, SP_STAGE_POSTPROCESS, t + 800000, t + 900000);
        }
        sp_record_batch(g_rec, batch, m, 8, t + 300000, t + 800000, 300, 400);
        for (int i = 0; i < 4; i++) {
            sp_kernel_record kr = {batch, k[i], 0, 7, batch * 4 + (uint64_t)i + 1, t + 330000 + 100000 * (uint64_t)i,
                                   t + 420000 + 100000 * (uint64_t)i};
            sp_record_kernel(g_rec, &kr);
            sp_record_launch(g_rec, launch, kr.correlation, kr.start_ns - 20000, kr.start_ns - 15000);
        }
        sp_copy_record c = {batch, SP_COPY_H2D, 0, 7, 0, 65536, t + 300000, t + 320000};
        sp_record_copy(g_rec, &c);
        c.kind = SP_COPY_D2H;
        c.start_ns = t + 780000;
        c.end_ns = t + 790000;
        sp_record_copy(g_rec, &c);
        events += 43;
        batch++;
        t += 250000;
        if (batch % 20000 == 0)
            sp_recorder_flush(g_rec); /* keep the generator's ring from overflowing */
    }
    unsigned long long drops = gen_close();
    printf("gen events=%llu drops=%llu\n", (unsigned long long)events, drops);
    return 0;
}

/* splitmix64: a fixed sequence from a seed, so `gen-varied` writes the same trace on every machine. */
static uint64_t mix_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double mix_unit(uint64_t *s) /* uniform in (0, 1) */
{
    return ((double)(mix_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* A duration of mean about `mean_ns` with a long right tail: exp(N(0, sigma)) scaled (Box-Muller). */
static uint64_t mix_lognormal(uint64_t *s, double mean_ns, double sigma)
{
    double z = sqrt(-2.0 * log(mix_unit(s))) * cos(6.283185307179586 * mix_unit(s));
    return (uint64_t)(mean_ns * exp(sigma * z - 0.5 * sigma * sigma)) + 1;
}

#define VARIED_MAX_BATCH 8
#define VARIED_MAX_WAIT 4096 /* requests arrived and not yet batched; arrivals pause past it */

typedef struct {
    uint64_t id, arrival, ready; /* ready: end of its preprocess */
    int64_t tokens;
} varied_req;

/* A serving mix with the spread a real service has, for benchmarks that must not profit from every
 * request being alike (`gen` writes one shape over and over: every latency, stage and kernel the
 * same). One GPU worker and a dynamic batcher: requests arrive open-loop (exponential gaps, mean
 * 50 us), are preprocessed (log-normal, mean 60 us), wait, and go in the next batch, which the worker
 * starts as soon as it is free and a request is ready (up to 8, earliest ready first): batches of 5
 * at the median, queueing most of p95. A batch: an h2d copy sized by its tokens, 4 kernels whose
 * time grows with the padded tokens (batch size x longest input), each after a launch call of
 * 4-20 us, a d2h copy; then each member's postprocess (log-normal, mean 80 us). Input tokens 16 +
 * log-normal (mean 180). 0.4% of requests are rejected (503) at arrival. One recording thread writes
 * a batch's device work, then its members' spans and requests, batch after batch. Deterministic for
 * a seed: the same records on every machine (the recorder's own clock and process record aside). */
static int cmd_gen_varied(const char *path, uint64_t n, uint64_t seed)
{
    sp_name_id k[4];
    if (gen_open(path, k) != 0)
        return 1;
    static const double k_base[4] = {30000, 8000, 6000, 9000}, k_per_tok[4] = {40, 6, 4, 8};
    sp_name_id launch = sp_recorder_intern(g_rec, "cudaLaunchKernel");
    uint64_t s = seed, events = 0, next_id = 1, batch = 0, corr = 1;
    uint64_t next_arrival = 1000000, gpu_free = 1000000;
    varied_req *wait = malloc(VARIED_MAX_WAIT * sizeof *wait);
    size_t nwait = 0;
    if (!wait) {
        gen_close();
        return 1;
    }
    while (events < n) {
        /* arrivals until one is ready after the worker is free, so the batch sees every ready one */
        uint64_t first_ready = UINT64_MAX;
        for (size_t i = 0; i < nwait; i++)
            first_ready = wait[i].ready < first_ready ? wait[i].ready : first_ready;
        while (nwait < VARIED_MAX_WAIT && (next_arrival <= gpu_free || first_ready > gpu_free) &&
               next_arrival <= (first_ready > gpu_free ? first_ready : gpu_free)) {
            uint64_t arr = next_arrival;
            next_arrival += (uint64_t)(-log(mix_unit(&s)) * 50000.0) + 1;
            uint64_t id = next_id++;
            uint64_t pre = mix_lognormal(&s, 60000, 0.7);
            if (mix_unit(&s) < 0.004) { /* rejected: the queue is full */
                sp_record_stage(g_rec, id, SP_STAGE_PREPROCESS, arr, arr + pre / 4);
                sp_record_request(g_rec, id, arr, arr + pre / 4 + 2000, -1);
                sp_record_outcome(g_rec, id, SP_OUTCOME_REJECTED, 503);
                events += 3;
                continue;
            }
            varied_req r = {id, arr, arr + pre, 16 + (int64_t)mix_lognormal(&s, 180, 0.8)};
            wait[nwait++] = r;
            if (r.ready < first_ready)
                first_ready = r.ready;
        }
        uint64_t start = gpu_free > first_ready ? gpu_free : first_ready;
        /* the batch: up to 8 ready requests, earliest ready first */
        varied_req m[VARIED_MAX_BATCH];
        size_t nm = 0;
        while (nm < VARIED_MAX_BATCH) {
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < nwait; i++)
                if (wait[i].ready <= start && (best == SIZE_MAX || wait[i].ready < wait[best].ready))
                    best = i;
            if (best == SIZE_MAX)
                break;
            m[nm++] = wait[best];
            wait[best] = wait[--nwait];
        }
        int64_t longest = 0, eff = 0;
        uint64_t ids[VARIED_MAX_BATCH];
        for (size_t i = 0; i < nm; i++) {
            ids[i] = m[i].id;
            eff += m[i].tokens;
            longest = m[i].tokens > longest ? m[i].tokens : longest;
        }
        int64_t padded = longest * (int64_t)nm;
        uint64_t t = start + mix_lognormal(&s, 6000, 0.5); /* batch assembly on the host */
        sp_copy_record c = {batch, SP_COPY_H2D, 0, 7, corr++, (uint64_t)padded * 4096, t, 0};
        c.end_ns = t + 3000 + (uint64_t)padded * 2;
        sp_record_copy(g_rec, &c);
        t = c.end_ns;
        for (int i = 0; i < 4; i++) {
            uint64_t l0 = t + mix_lognormal(&s, 3000, 0.6);
            uint64_t l1 = l0 + 4000 + mix_lognormal(&s, 4000, 0.8);
            sp_kernel_record kr = {batch, k[i], 0, 7, corr++, l1 + 2000, 0};
            kr.end_ns = kr.start_ns + (uint64_t)((k_base[i] + k_per_tok[i] * (double)padded) *
                                                 (0.9 + 0.2 * mix_unit(&s)));
            sp_record_launch(g_rec, launch, kr.correlation, l0, l1);
            sp_record_kernel(g_rec, &kr);
            t = kr.end_ns;
        }
        c.kind = SP_COPY_D2H;
        c.correlation = corr++;
        c.bytes = (uint64_t)eff * 8;
        c.start_ns = t + 2000;
        c.end_ns = c.start_ns + 2000 + (uint64_t)eff;
        sp_record_copy(g_rec, &c);
        uint64_t end = c.end_ns + mix_lognormal(&s, 4000, 0.5);
        sp_record_batch(g_rec, batch, ids, nm, start, end, (uint64_t)eff, (uint64_t)padded);
        for (size_t i = 0; i < nm; i++) {
            uint64_t done = end + mix_lognormal(&s, 80000, 0.9);
            sp_record_stage(g_rec, m[i].id, SP_STAGE_PREPROCESS, m[i].arrival, m[i].ready);
            sp_record_stage(g_rec, m[i].id, SP_STAGE_QUEUE, m[i].ready, start);
            sp_record_stage(g_rec, m[i].id, SP_STAGE_POSTPROCESS, end, done);
            sp_record_request(g_rec, m[i].id, m[i].arrival, done, m[i].tokens);
        }
        events += 4 * nm + 11;
        gpu_free = end;
        batch++;
        if (batch % 20000 == 0)
            sp_recorder_flush(g_rec); /* keep the generator's ring from overflowing */
    }
    free(wait);
    unsigned long long drops = gen_close();
    printf("gen-varied events=%llu requests=%llu batches=%llu drops=%llu\n", (unsigned long long)events,
           (unsigned long long)(next_id - 1), (unsigned long long)batch, drops);
    return 0;
}

/* One run of the serving mix with or without live metrics: the recording thread's time per event in
 * the record calls (the hot path), and the writer's CPU per event (RUSAGE_SELF less this thread, the
 * recorder's close included: the tap's work happens on the writer). With metrics, also renders the
 * text `renders` times. */
static int metrics_run(uint64_t n, int live, int renders)
{
    sp_recorder_options o;
    sp_recorder_options_init(&o);
    o.thread_buffer_bytes = 64u << 20;
    o.live_metrics = live;
    double self0 = ru_cpu_s(RUSAGE_SELF), me0 = ru_cpu_s(RUSAGE_THREAD);
    if (sp_recorder_open("/tmp/servprof-bench-metrics.sptrace", &o, &g_rec) != SP_OK)
        return 1;
    sp_name_id k[4] = {sp_recorder_intern(g_rec, "gemm"), sp_recorder_intern(g_rec, "softmax"),
                       sp_recorder_intern(g_rec, "layernorm"), sp_recorder_intern(g_rec, "gelu")};
    uint64_t events = 0, req = 0, batch = 0, t = sp_now_ns();
    double rec_s = 0;
    while (events < n) {
        double t0 = now_s();
        for (int rep = 0; rep < 1000; rep++) { /* 39,000 records: far below the 64 MiB ring's wake mark */
            uint64_t m[8];
            for (int i = 0; i < 8; i++, req++) {
                m[i] = req;
                sp_record_stage(g_rec, req, SP_STAGE_PREPROCESS, t, t + 50000);
                sp_record_stage(g_rec, req, SP_STAGE_QUEUE, t + 50000, t + 300000);
                sp_record_stage(g_rec, req, SP_STAGE_POSTPROCESS, t + 800000, t + 900000);
            }
            sp_record_batch(g_rec, batch, m, 8, t + 300000, t + 800000, 300, 400);
            for (int i = 0; i < 4; i++) {
                sp_kernel_record kr = {batch, k[i], 0, 7, batch * 4 + (uint64_t)i + 1,
                                       t + 330000 + 100000 * (uint64_t)i, t + 420000 + 100000 * (uint64_t)i};
                sp_record_kernel(g_rec, &kr);
            }
            sp_copy_record c = {batch, SP_COPY_H2D, 0, 7, 0, 65536, t + 300000, t + 320000};
            sp_record_copy(g_rec, &c);
            c.kind = SP_COPY_D2H;
            c.start_ns = t + 780000;
            c.end_ns = t + 790000;
            sp_record_copy(g_rec, &c);
            /* a service records each request when it answers, after its batch (docs/metrics.md) */
            for (int i = 0; i < 8; i++)
                sp_record_request(g_rec, m[i], t, t + 900000, 30 + (int64_t)(m[i] % 20));
            events += 8 * 3 + 1 + 4 + 2 + 8;
            batch++;
            t += 250000;
        }
        rec_s += now_s() - t0;
        sp_recorder_flush(g_rec); /* not timed: the writer drains (and the tap reads) the chunk */
    }
    double render_ns = 0;
    size_t bytes = 0;
    for (int i = 0; i < renders; i++) {
        char *text = NULL;
        double t0 = now_s();
        if (sp_recorder_metrics_text(g_rec, &text, &bytes) != SP_OK)
            return 1;
        render_ns += (now_s() - t0) * 1e9;
        sp_metrics_text_free(text);
    }
    sp_recorder_close(g_rec);
    /* the writer has been joined; its CPU time stays in RUSAGE_SELF */
    double writer = ru_cpu_s(RUSAGE_SELF) - self0 - (ru_cpu_s(RUSAGE_THREAD) - me0);
    printf("metrics live=%d events=%llu record_ns_per_event=%.2f writer_cpu_ns_per_event=%.2f", live,
           (unsigned long long)events, rec_s * 1e9 / (double)events, writer * 1e9 / (double)events);
    if (renders)
        printf(" render_us=%.1f render_bytes=%zu", render_ns / renders / 1e3, bytes);
    printf(" loadavg=%.2f\n", loadavg1());
    remove("/tmp/servprof-bench-metrics.sptrace");
    return 0;
}

static int cmd_metrics(uint64_t n, int runs)
{
    for (int r = 0; r < runs; r++)
        if (metrics_run(n, 0, 0) || metrics_run(n, 1, 200))
            return 1;
    return 0;
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Same-run reference for the import: CPU time to read() the file in 1 MiB chunks, the floor any
 * importer pays before looking at a byte. */
static double read_ref_cpu_s(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static unsigned char chunk[1u << 20];
    double c0 = ru_cpu_s(RUSAGE_SELF);
    volatile unsigned sink = 0;
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sink += chunk[n - 1];
    fclose(f);
    return ru_cpu_s(RUSAGE_SELF) - c0;
}

/* Second reference: CPU time to fault in `bytes` of fresh anonymous memory (one write per 4 KiB page),
 * the floor for building a model of that size on this kernel. */
static double touch_ref_cpu_s(size_t bytes)
{
    double c0 = ru_cpu_s(RUSAGE_SELF);
    volatile char *p = malloc(bytes);
    if (!p)
        return -1;
    for (size_t i = 0; i < bytes; i += 4096)
        p[i] = 1;
    free((void *)p);
    return ru_cpu_s(RUSAGE_SELF) - c0;
}

static int cmd_import(const char *path, const char *mode)
{
    if (mode && strcmp(mode, "serial") == 0)
        sp_import_native_set_mode(SP_NATIVE_SERIAL);
    else if (mode && strcmp(mode, "pipelined") == 0)
        sp_import_native_set_mode(SP_NATIVE_PIPELINED);
    double ref = read_ref_cpu_s(path);
    double load0 = loadavg1();
    long rss0 = max_rss_kb();
    sp_events *ev;
    sp_events_create(&ev);
    char err[512];
    double c0 = ru_cpu_s(RUSAGE_SELF), ct0 = ru_cpu_s(RUSAGE_THREAD);
    double t0 = now_s();
    sp_status st = sp_events_load_file(ev, path, NULL, err, sizeof err);
    double el = now_s() - t0;
    double cpu = ru_cpu_s(RUSAGE_SELF) - c0;
    /* the calling thread builds the model: with a reader thread on a free core, its CPU time is
     * the import's critical path */
    double caller_cpu = ru_cpu_s(RUSAGE_THREAD) - ct0;
    if (st != SP_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    long rss1 = max_rss_kb();
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    uint64_t events = s.requests + s.stage_spans + s.batches + s.kernels + s.copies + s.launches;
    printf("import events=%llu seconds=%.3f events_per_s=%.0f cpu_seconds=%.3f events_per_cpu_s=%.0f "
           "peak_rss_mb=%.1f bytes_per_event=%.1f\n",
           (unsigned long long)events, el, (double)events / el, cpu, (double)events / cpu,
           (double)rss1 / 1024.0, (double)(rss1 - rss0) * 1024.0 / (double)events);
    sp_events_destroy(ev);
    double touch = touch_ref_cpu_s((size_t)(rss1 - rss0) * 1024);
    printf("import reference read_cpu_seconds=%.3f import_cpu_over_read_cpu=%.1f "
           "touch_same_bytes_cpu_seconds=%.3f loadavg=%.2f caller_cpu_seconds=%.3f\n",
           ref, ref > 0 ? cpu / ref : 0.0, touch, load0, caller_cpu);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "record") == 0)
        return cmd_record(argc > 2 ? strtoull(argv[2], NULL, 10) : 5000000);
    if (argc >= 4 && strcmp(argv[1], "sustain") == 0)
        return cmd_sustain(atof(argv[2]), atof(argv[3]),
                           argc > 4 ? (size_t)(atof(argv[4]) * 1048576.0) : 0, argc > 5 ? atoi(argv[5]) : 0,
                           argc > 6 ? (unsigned)strtoul(argv[6], NULL, 10) : 0);
    if (argc >= 3 && strcmp(argv[1], "metrics") == 0)
        return cmd_metrics(strtoull(argv[2], NULL, 10), argc > 3 ? atoi(argv[3]) : 3);
    if (argc >= 4 && strcmp(argv[1], "gen") == 0)
        return cmd_gen(argv[2], strtoull(argv[3], NULL, 10));
    if (argc >= 4 && strcmp(argv[1], "gen-varied") == 0)
        return cmd_gen_varied(argv[2], strtoull(argv[3], NULL, 10), argc > 4 ? strtoull(argv[4], NULL, 10) : 1);
    if (argc >= 3 && strcmp(argv[1], "import") == 0)
        return cmd_import(argv[2], argc > 3 ? argv[3] : NULL);
    fprintf(stderr, "usage: %s record [N] | sustain RATE SECS [RING_MIB [WRITER_NICE [IDLE_MS]]] | gen PATH N | gen-varied PATH N [SEED] | metrics N [RUNS] | import PATH [serial|pipelined]\n", argv[0]);
    return 2;
}
