/* `servprof analyze` and `servprof whatif` on damaged native traces (issue 10): a trace recorded here
 * (5000 batches of 8 requests, flushed every 8 batches: about 7 MB in some 600 blocks) with one byte
 * flipped a third of the way in, cut inside a block, without its end record, and with the block that
 * defines a name lost. Each time the command exits 0, names the byte offset on stderr, and the text,
 * JSON and HTML reports say what was lost; with --strict it exits 1 after the report. The requests
 * that must survive are counted from the intact blocks (resync_testutil.h). Runs the built binary. */
#include <sys/wait.h>

#include "json_mini.h"
#include "resync_testutil.h"
#include "trace_testutil.h"

#define BATCHES 5000
#define LATE_FROM 2500

static char g_dir[256];

/* Runs "servprof ARGS" with stdout and stderr to files in g_dir; returns the exit status. */
static int run(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/servprof' %s > '%s/out' 2> '%s/err'", SP_BUILD_DIR, args, g_dir, g_dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A file of g_dir as one string, the text report's wrapped lines joined ("\n  " -> " "). */
static char *slurp(const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    size_t n;
    unsigned char *t = rt_read(p, &n);
    if (!t)
        return strdup("");
    char *s = malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '\n' && i + 2 < n && t[i + 1] == ' ' && t[i + 2] == ' ') {
            s[o++] = ' ';
            i += 2;
            continue;
        }
        s[o++] = (char)t[i];
    }
    s[o] = '\0';
    free(t);
    return s;
}

static void check_has(const char *text, const char *what, const char *where)
{
    CHECK(strstr(text, what) != NULL);
    if (!strstr(text, what))
        fprintf(stderr, "  %s lacks \"%s\"\n", where, what);
}

/* The text report's first line names the requests analysed. */
static void check_requests(const char *out, uint64_t n)
{
    char want[128];
    snprintf(want, sizeof want, "servprof report: 1 file, %" PRIu64 " requests", n);
    check_has(out, want, "the report");
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s/servprof-damaged-%ld", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (long)getpid());
    if (mkdir(g_dir, 0700) != 0)
        return 1;
    char path[300], cpath[300], args[1200];
    snprintf(path, sizeof path, "%s/t.sptrace", g_dir);
    snprintf(cpath, sizeof cpath, "%s/c.sptrace", g_dir);
    CHECK(rt_record(path, BATCHES, 8, LATE_FROM) == 0);
    size_t n;
    unsigned char *f = rt_read(path, &n);
    CHECK(f && n > ((size_t)5 << 20));
    if (!f)
        return sp_test_done("test_cli_damaged_trace");
    static rt_block b[RT_MAX_BLOCKS];
    size_t nb = rt_walk(f, n, b, RT_MAX_BLOCKS);
    CHECK(nb > 500 && b[nb - 1].end == n);
    static int keep[RT_MAX_BLOCKS];
    for (size_t k = 0; k < nb; k++)
        keep[k] = 1;
    unsigned char *d = malloc(n);
    char *out, *err, want[512];

    /* intact: --strict passes, nothing said */
    snprintf(args, sizeof args, "analyze --strict --no-progress '%s'", path);
    CHECK_EQ_U64(run(args), 0);
    out = slurp("out");
    err = slurp("err");
    check_requests(out, BATCHES * 8);
    CHECK(err[0] == '\0');
    CHECK(strstr(out, "lost:") == NULL);
    free(out);
    free(err);

    /* one byte flipped a third of the way in */
    size_t at = n / 3, k = 0;
    while (b[k].end <= at)
        k++;
    memcpy(d, f, n);
    d[at] ^= 0x41;
    CHECK(rt_write(cpath, d, n) == 0);
    keep[k] = 0;
    rt_expect e = rt_expected(f, b, nb, keep);
    CHECK(e.requests == BATCHES * 8 - 64); /* the block holds 8 batches' request records */
    snprintf(args, sizeof args, "analyze --no-progress '%s'", cpath);
    CHECK_EQ_U64(run(args), 0);
    out = slurp("out");
    err = slurp("err");
    check_requests(out, e.requests);
    snprintf(want, sizeof want, "servprof analyze: %s: byte %zu: block checksum mismatch; resynchronised at byte %zu (1 block, %zu bytes lost)",
             cpath, b[k].start, b[k].end, b[k].end - b[k].start);
    check_has(err, want, "stderr");
    snprintf(want, sizeof want, "lost: %s: 1 block (%zu bytes) lost at byte %zu", cpath, b[k].end - b[k].start,
             b[k].start);
    check_has(out, want, "the data-quality line");
    free(out);
    free(err);
    /* the same with --strict: the report, then exit 1 naming the loss */
    snprintf(args, sizeof args, "analyze --strict --no-progress '%s'", cpath);
    CHECK_EQ_U64(run(args), 1);
    out = slurp("out");
    err = slurp("err");
    check_requests(out, e.requests);
    snprintf(want, sizeof want, "servprof analyze: --strict: data lost: %s: 1 block (%zu bytes) lost at byte %zu",
             cpath, b[k].end - b[k].start, b[k].start);
    check_has(err, want, "stderr under --strict");
    free(out);
    free(err);
    /* JSON: the data_quality object */
    snprintf(args, sizeof args, "analyze --json --no-progress --html '%s/r.html' '%s'", g_dir, cpath);
    CHECK_EQ_U64(run(args), 0);
    out = slurp("out");
    jv root;
    const char *why;
    size_t jat;
    CHECK(jv_parse(out, strlen(out), &root, &why, &jat) == 0);
    CHECK_EQ_U64(jv_path(&root, "requests.count")->num, e.requests);
    const jv *q = jv_path(&root, "data_quality");
    CHECK(q && jv_get(q, "complete")->type == JV_BOOL && jv_get(q, "complete")->boolean == 0);
    CHECK_EQ_U64(jv_get(q, "lost_blocks")->num, 1);
    CHECK_EQ_U64(jv_get(q, "lost_bytes")->num, b[k].end - b[k].start);
    CHECK_EQ_U64(jv_get(q, "orphaned_records")->num, e.orphaned);
    const jv *files = jv_get(q, "files");
    CHECK(files && files->type == JV_ARR && files->n == 1);
    const jv *f0 = &files->items[0];
    CHECK(strcmp(jv_get(f0, "path")->str, cpath) == 0 && strcmp(jv_get(f0, "end")->str, "clean") == 0);
    CHECK_EQ_U64(jv_get(f0, "first_lost_offset")->num, b[k].start);
    const jv *regs = jv_get(f0, "regions");
    CHECK(regs && regs->n == 1 && jv_get(&regs->items[0], "to_end")->boolean == 0);
    CHECK_EQ_U64(jv_get(&regs->items[0], "bytes")->num, b[k].end - b[k].start);
    jv_free(&root);
    free(out);
    char *html = slurp("r.html");
    snprintf(want, sizeof want, "Data lost: %s: 1 block (%zu bytes) lost at byte %zu", cpath, b[k].end - b[k].start,
             b[k].start);
    check_has(html, want, "the HTML report");
    free(html);
    /* whatif reads it too, says so, and fails under --strict */
    snprintf(args, sizeof args, "whatif --max-batch 8,16 '%s'", cpath);
    int wrc = run(args);
    err = slurp("err");
    if (!strstr(err, "not built")) {
        CHECK_EQ_U64(wrc, 0);
        snprintf(want, sizeof want, "servprof whatif: %s: byte %zu: block checksum mismatch", cpath, b[k].start);
        check_has(err, want, "whatif's stderr");
        snprintf(args, sizeof args, "whatif --strict --max-batch 8,16 '%s'", cpath);
        CHECK_EQ_U64(run(args), 1);
        free(err);
        err = slurp("err");
        check_has(err, "servprof whatif: --strict: data lost: ", "whatif's stderr under --strict");
    }
    free(err);
    keep[k] = 1;

    /* cut inside a block two thirds of the way in: the tail is lost to the end, the end record with it */
    size_t cut = 2 * n / 3, kc = 0;
    while (b[kc].end <= cut)
        kc++;
    CHECK(cut > b[kc].start);
    CHECK(rt_write(cpath, f, cut) == 0);
    for (size_t j = kc; j < nb; j++)
        keep[j] = 0;
    e = rt_expected(f, b, nb, keep);
    snprintf(args, sizeof args, "analyze --no-progress '%s'", cpath);
    CHECK_EQ_U64(run(args), 0);
    out = slurp("out");
    err = slurp("err");
    check_requests(out, e.requests);
    snprintf(want, sizeof want, "servprof analyze: %s: byte %zu: block cut off; the rest of the file is lost (1 block, %zu bytes)",
             cpath, b[kc].start, cut - b[kc].start);
    check_has(err, want, "stderr");
    snprintf(want, sizeof want, "lost: %s: 1 block (%zu bytes) lost at byte %zu to the end of the file", cpath,
             cut - b[kc].start, b[kc].start);
    check_has(out, want, "the data-quality line");
    check_has(out, "the recorder did not close cleanly", "the data-quality line");
    free(out);
    free(err);
    snprintf(args, sizeof args, "analyze --strict --no-progress '%s'", cpath);
    CHECK_EQ_U64(run(args), 1);
    for (size_t j = kc; j < nb; j++)
        keep[j] = 1;

    /* the end record missing: every block intact and kept, but the recorder did not close cleanly */
    CHECK(rt_find(f, b, nb, SP_REC_END, UINT32_MAX) == nb - 1);
    memcpy(d, f, n);
    size_t m = 0;
    uint32_t recs = 0;
    unsigned char *lb = d + b[nb - 1].start + 16;
    for (size_t p = b[nb - 1].start + 16; p < b[nb - 1].end;) {
        uint64_t h = sp_rd64(f + p);
        size_t sz = (h >> 16) & 0xffff;
        if ((h & 0xffff) != SP_REC_END) {
            memmove(lb + m, f + p, sz);
            m += sz;
            recs++;
        }
        p += sz;
    }
    unsigned char *lh = d + b[nb - 1].start;
    sp_wr32(lh + 4, (uint32_t)m);
    sp_wr32(lh + 8, recs);
    sp_wr32(lh + 12, sp_crc32(sp_crc32(0, lh, 12), lb, m));
    CHECK(rt_write(cpath, d, b[nb - 1].start + 16 + m) == 0);
    snprintf(args, sizeof args, "analyze --no-progress '%s'", cpath);
    CHECK_EQ_U64(run(args), 0);
    out = slurp("out");
    err = slurp("err");
    check_requests(out, BATCHES * 8);
    snprintf(want, sizeof want, "lost: %s: the recorder did not close cleanly (no end record)", cpath);
    check_has(out, want, "the data-quality line");
    check_has(err, "no end record: the recorder did not close this trace cleanly", "stderr");
    free(out);
    free(err);
    snprintf(args, sizeof args, "analyze --strict --no-progress '%s'", cpath);
    CHECK_EQ_U64(run(args), 1);

    /* the block that defines "late_kernel" lost: the kernels of batches 2500..4999 that use it cannot
     * be decoded (BATCHES - LATE_FROM of them, from the recording loop) */
    size_t kn = rt_find(f, b, nb, SP_REC_NAME, 6);
    CHECK(kn < nb);
    memcpy(d, f, n);
    d[b[kn].end - 1] ^= 1;
    CHECK(rt_write(cpath, d, n) == 0);
    keep[kn] = 0;
    e = rt_expected(f, b, nb, keep);
    CHECK_EQ_U64(e.undecodable, BATCHES - LATE_FROM);
    CHECK_EQ_U64(run(args), 1);
    out = slurp("out");
    err = slurp("err");
    snprintf(want, sizeof want, "%d records undecodable (their name was defined in a lost block)", BATCHES - LATE_FROM);
    check_has(out, want, "the data-quality line");
    snprintf(want, sizeof want, "%s: %d records use a name defined only in a lost block", cpath, BATCHES - LATE_FROM);
    check_has(err, want, "stderr");
    free(out);
    free(err);

    free(d);
    free(f);
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf '%s'", g_dir);
    CHECK(system(rm) == 0);
    return sp_test_done("test_cli_damaged_trace");
}
