/* The loader's progress callback (sp_load_options.progress, issue 15): from memory, a gzip file and a
 * FIFO, the calls count bytes of the input as read (compressed bytes for gzip) without going backwards,
 * the last call and only it has done = 1 with every byte counted and the total the file's size (0 for a
 * FIFO, whose size is unknown), a read paused past the interval reports in between, and a failed
 * import ends without a done call. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "testlib.h"

typedef struct calls {
    int n, n_done, done_last, backwards, over_total;
    uint64_t last_read, first_mid_read, total;
    double mid_elapsed;
    char name[64];
} calls;

static void on_progress(void *user, const sp_read_progress *p)
{
    calls *c = user;
    if (c->n_done) /* a call after the done one */
        c->done_last = 0;
    c->n++;
    if (p->bytes_read < c->last_read)
        c->backwards = 1;
    if (p->bytes_total && p->bytes_read > p->bytes_total)
        c->over_total = 1;
    if (!p->done && !c->first_mid_read) {
        c->first_mid_read = p->bytes_read;
        c->mid_elapsed = p->elapsed_s;
    }
    c->last_read = p->bytes_read;
    c->total = p->bytes_total;
    if (p->done) {
        c->n_done++;
        c->done_last = 1;
    }
    snprintf(c->name, sizeof c->name, "%s", p->name);
}

/* A JSONL trace of `n` requests, about 100 bytes a line. */
static char *make_trace(int n, size_t *len)
{
    size_t cap = 128 + (size_t)n * 200;
    char *t = malloc(cap);
    size_t at = (size_t)snprintf(t, cap, "{\"ev\":\"meta\",\"format\":\"servprof.events/1\"}\n");
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(t + at, cap - at,
                               "{\"ev\":\"request\",\"id\":\"r%07d\",\"arrival_ns\":%d000,\"done_ns\":%d500}\n"
                               "{\"ev\":\"stage\",\"id\":\"r%07d\",\"stage\":\"queue\",\"start_ns\":%d000,\"end_ns\":%d200}\n",
                               i, i + 1, i + 1, i, i + 1, i + 1);
    *len = at;
    return t;
}

static sp_status load_with(const char *path, const void *buf, size_t len, calls *c)
{
    memset(c, 0, sizeof *c);
    sp_events *ev;
    if (sp_events_create(&ev) != SP_OK)
        exit(1);
    sp_load_options opt;
    sp_load_options_init(&opt);
    opt.progress = on_progress;
    opt.progress_user = c;
    char err[512];
    sp_status st = path ? sp_events_load_file(ev, path, &opt, err, sizeof err)
                        : sp_events_load_buffer(ev, "buf.jsonl", buf, len, &opt, err, sizeof err);
    sp_events_destroy(ev);
    return st;
}

typedef struct fifo_writer {
    const char *path, *data;
    size_t len;
} fifo_writer;

/* Writes the first half, pauses past the progress interval (the reader must report while it waits
 * for the rest: time has to pass for that, there is nothing to observe instead), then the rest. */
static void *write_fifo(void *arg)
{
    fifo_writer *w = arg;
    int fd = open(w->path, O_WRONLY);
    if (fd < 0)
        return NULL;
    size_t half = w->len / 2, at = 0;
    while (at < w->len) {
        if (at == half) {
            struct timespec ts = {0, (long)(SP_READ_PROGRESS_INTERVAL_S * 2e9)};
            nanosleep(&ts, NULL);
        }
        size_t want = (at < half ? half : w->len) - at;
        ssize_t k = write(fd, w->data + at, want);
        if (k <= 0)
            break;
        at += (size_t)k;
    }
    close(fd);
    return NULL;
}

int main(void)
{
    size_t len;
    char *text = make_trace(40000, &len); /* ~8 MB: several 1 MiB clock checks */
    CHECK(len > 6u << 20);
    calls c;

    /* memory: the total is the buffer's length, and the last call has read all of it */
    CHECK(load_with(NULL, text, len, &c) == SP_OK);
    CHECK(c.n_done == 1 && c.done_last);
    CHECK_EQ_U64(c.last_read, len);
    CHECK_EQ_U64(c.total, len);
    CHECK(!c.backwards && !c.over_total);
    CHECK(strcmp(c.name, "buf.jsonl") == 0);

    /* a gzip file: compressed bytes against the file's size */
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char gzpath[256], fifo[256];
    snprintf(gzpath, sizeof gzpath, "%s/servprof-progress-%ld.jsonl.gz", tmpdir, (long)getpid());
    gzFile gz = gzopen(gzpath, "wb");
    CHECK(gz && gzwrite(gz, text, (unsigned)len) == (int)len);
    gzclose(gz);
    struct stat sb;
    CHECK(stat(gzpath, &sb) == 0);
    CHECK(load_with(gzpath, NULL, 0, &c) == SP_OK);
    CHECK(c.n_done == 1 && c.done_last);
    CHECK_EQ_U64(c.last_read, (uint64_t)sb.st_size);
    CHECK_EQ_U64(c.total, (uint64_t)sb.st_size);
    CHECK(c.last_read < len); /* compressed, not decompressed bytes */
    CHECK(!c.backwards && !c.over_total);
    CHECK(strcmp(c.name, gzpath) == 0);
    unlink(gzpath);

    /* a FIFO paused half-way: a report in between, total unknown (0) */
    snprintf(fifo, sizeof fifo, "%s/servprof-progress-%ld.fifo", tmpdir, (long)getpid());
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);
    fifo_writer w = {fifo, text, len};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, write_fifo, &w) == 0);
    CHECK(load_with(fifo, NULL, 0, &c) == SP_OK);
    pthread_join(th, NULL);
    unlink(fifo);
    CHECK(c.n >= 2 && c.n_done == 1 && c.done_last);
    CHECK(c.first_mid_read > 0 && c.first_mid_read < len);
    CHECK(c.mid_elapsed >= SP_READ_PROGRESS_INTERVAL_S);
    CHECK_EQ_U64(c.last_read, len);
    CHECK_EQ_U64(c.total, 0);
    CHECK(!c.backwards);

    /* a failed import: no done call */
    memcpy(text + len / 2, "{\"ev\":", 6); /* breaks the line it lands in */
    CHECK(load_with(NULL, text, len, &c) != SP_OK);
    CHECK(c.n_done == 0);
    free(text);
    return sp_test_done("read_progress");
}
