/* Many threads record concurrently into one recorder; every record must come back exactly once
 * through sp_events_load_file. The reference is a plain mutex-protected list each thread appends the
 * same record's canonical text to. */
#include <pthread.h>

#include "trace_testutil.h"

#define THREADS 8
#define UNITS 4000

static sp_recorder *g_rec;
static pthread_mutex_t g_ref_mu = PTHREAD_MUTEX_INITIALIZER;
static tt_lines g_ref;
static sp_name_id g_gemm;

static void ref_add(const char *line)
{
    pthread_mutex_lock(&g_ref_mu);
    tt_add(&g_ref, line);
    pthread_mutex_unlock(&g_ref_mu);
}

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    char name[32], line[512], idtext[64];
    snprintf(name, sizeof name, "kernel_t%d", t);
    sp_name_id mine = sp_recorder_intern(g_rec, name); /* interned concurrently by every thread */
    sp_name_id custom = sp_recorder_intern(g_rec, "tokenize");
    CHECK(mine != SP_NAME_NONE);
    CHECK(custom != SP_NAME_NONE);
    uint64_t base = (uint64_t)t * 1000000u;
    for (uint64_t i = 0; i < UNITS; i++) {
        uint64_t id = base + i, t0 = 1000 * id;
        snprintf(idtext, sizeof idtext, "%llu", (unsigned long long)id);
        if (i % 50 == 7) {
            snprintf(idtext, sizeof idtext, "trace-%d-%llu", t, (unsigned long long)i);
            sp_record_request_label(g_rec, id, idtext, strlen(idtext));
        }
        sp_record_request(g_rec, id, t0, t0 + 900, (int64_t)(i % 7) - 1);
        snprintf(line, sizeof line, "R %s %llu %llu %lld", idtext, (unsigned long long)t0,
                 (unsigned long long)(t0 + 900), (long long)((int64_t)(i % 7) - 1 < 0 ? -1 : (int64_t)(i % 7) - 1));
        ref_add(line);
        sp_record_stage(g_rec, id, SP_STAGE_QUEUE, t0 + 10, t0 + 20);
        snprintf(line, sizeof line, "S %s queue %llu %llu", idtext, (unsigned long long)(t0 + 10),
                 (unsigned long long)(t0 + 20));
        ref_add(line);
        sp_name_id stage = i % 3 == 0 ? custom : SP_STAGE_PREPROCESS;
        sp_record_stage(g_rec, id, stage, t0, t0 + 10);
        snprintf(line, sizeof line, "S %s %s %llu %llu", idtext, i % 3 == 0 ? "tokenize" : "preprocess",
                 (unsigned long long)t0, (unsigned long long)(t0 + 10));
        ref_add(line);
        if (i % 4 == 3) {
            /* a batch of the last four requests of this thread */
            uint64_t m[4] = {id - 3, id - 2, id - 1, id};
            uint64_t bid = id / 4;
            sp_record_batch(g_rec, bid, m, 4, t0 + 20, t0 + 800, 40 + i % 5, 64);
            int k = snprintf(line, sizeof line, "B %llu %llu %llu %llu 64", (unsigned long long)bid,
                             (unsigned long long)(t0 + 20), (unsigned long long)(t0 + 800),
                             (unsigned long long)(40 + i % 5));
            for (int j = 0; j < 4; j++) {
                uint64_t mi = i - 3 + (uint64_t)j;
                if (mi % 50 == 7)
                    k += snprintf(line + k, sizeof line - (size_t)k, " trace-%d-%llu", t, (unsigned long long)mi);
                else
                    k += snprintf(line + k, sizeof line - (size_t)k, " %llu", (unsigned long long)m[j]);
            }
            ref_add(line);
            sp_kernel_record kr = {bid, i % 2 ? mine : g_gemm, (uint32_t)t, (uint32_t)i % 3, id + 1, t0 + 100, t0 + 700};
            sp_record_kernel(g_rec, &kr);
            snprintf(line, sizeof line, "A %d %s %lld %u %lld %llu %llu %llu %llu", SP_ACT_KERNEL,
                     i % 2 ? name : "gemm", (long long)bid, (unsigned)t, (long long)(i % 3),
                     (unsigned long long)(id + 1), 0ull, (unsigned long long)(t0 + 100),
                     (unsigned long long)(t0 + 700));
            ref_add(line);
            sp_copy_record cr = {i % 8 == 3 ? SP_NO_BATCH : bid, (sp_copy_kind)(i % 5), (uint32_t)t, 7,
                                 id + 2, 4096 + i, t0 + 30, t0 + 90};
            sp_record_copy(g_rec, &cr);
            static const int act_of_copy[] = {SP_ACT_H2D, SP_ACT_D2H, SP_ACT_D2D, SP_ACT_MEMSET, SP_ACT_COPY_OTHER};
            snprintf(line, sizeof line, "A %d  %lld %u 7 %llu %llu %llu %llu", act_of_copy[i % 5],
                     i % 8 == 3 ? -1ll : (long long)bid, (unsigned)t, (unsigned long long)(id + 2),
                     (unsigned long long)(4096 + i), (unsigned long long)(t0 + 30),
                     (unsigned long long)(t0 + 90));
            ref_add(line);
            sp_record_launch(g_rec, g_gemm, id + 1, t0 + 50, t0 + 60);
            snprintf(line, sizeof line, "L gemm %llu %llu %llu", (unsigned long long)(id + 1),
                     (unsigned long long)(t0 + 50), (unsigned long long)(t0 + 60));
            ref_add(line);
        }
    }
    return NULL;
}

int main(void)
{
    char path[256];
    tt_path(path, "threads");
    sp_recorder_options opt;
    sp_recorder_options_init(&opt);
    opt.price_per_hour = 2.5;
    CHECK(sp_recorder_open(path, &opt, &g_rec) == SP_OK);
    g_gemm = sp_recorder_intern(g_rec, "gemm");
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    /* the main thread records too, and keeps its buffer until close */
    sp_record_request(g_rec, 99999999, 5, 6, 3);
    tt_add(&g_ref, "R 99999999 5 6 3");
    uint64_t drops[SP_DROP_CAUSE_COUNT];
    sp_recorder_drops(g_rec, drops);
    for (int c = 0; c < SP_DROP_CAUSE_COUNT; c++)
        CHECK_EQ_U64(drops[c], 0);
    CHECK(sp_recorder_close(g_rec) == SP_OK);

    sp_events *ev = tt_load(path);
    tt_lines got = {0};
    tt_lines_of(ev, &got);
    tt_check_equal(&got, &g_ref);
    CHECK_NEAR(ev->files[0].price_per_hour, 2.5, 0);
    sp_events_summary s;
    sp_events_summarize(ev, &s);
    CHECK_EQ_U64(s.requests, THREADS * UNITS + 1);
    CHECK_EQ_U64(s.dropped, 0);
    CHECK_EQ_U64(s.skipped, 0);
    char err[256];
    CHECK(sp_ev_finish(ev, false, err, sizeof err) == SP_OK);
    tt_free(&got);
    tt_free(&g_ref);
    sp_events_destroy(ev);
    unlink(path);
    return sp_test_done("test_trace_threads");
}
