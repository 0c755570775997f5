/* The importers' shared helpers: the byte stream every importer reads (a plain file, a gzip file
 * decompressed on the fly, or memory; the loader in import.c opens and starts it), the one error
 * format of the JSON-based importers and the advice for a file given in place of its export. It calls
 * no importer and not the loader, so calls run one way: import.c -> importers -> input.c. */

#include <errno.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/util_int.h"
#include "import/import_int.h"

enum { SP_INPUT_FD, SP_INPUT_MEM, SP_INPUT_PREAD };

#define SP_INPUT_RAW_CHUNK (256u * 1024u)

struct sp_input {
    int kind;
    int fd;
    const unsigned char *mem;
    size_t mem_len, mem_pos;
    /* gzip layer (when the content starts with the gzip magic) */
    int gz;
    z_stream zs;
    unsigned char *raw;
    int raw_eof;
    /* bytes peeked for detection and not yet handed out */
    unsigned char head[4096];
    size_t head_len, head_pos;
    uint64_t offset;
    size_t max_read;     /* 0: none; else each read hands out at most this many bytes */
    char error[256];
    /* progress (sp_input_set_progress): bytes read from the file or buffer, before decompression */
    sp_read_progress_fn progress;
    void *progress_user;
    const char *progress_name;
    uint64_t raw_bytes, total, next_check, t0_ns, next_ns;
};

/* Checks the clock once per SP_PROGRESS_CHECK_BYTES read, and calls the progress function when its
 * interval has passed. */
#define SP_PROGRESS_CHECK_BYTES (1u << 20)

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void progress_call(sp_input *in, uint64_t now, int done)
{
    sp_read_progress p = {in->progress_name, in->raw_bytes, in->total, (double)(now - in->t0_ns) / 1e9, done};
    in->progress(in->progress_user, &p);
}

static void progress_tick(sp_input *in)
{
    in->next_check = in->raw_bytes + SP_PROGRESS_CHECK_BYTES;
    uint64_t now = mono_ns();
    if (now < in->next_ns)
        return;
    in->next_ns = now + (uint64_t)(SP_READ_PROGRESS_INTERVAL_S * 1e9);
    progress_call(in, now, 0);
}

void sp_input_set_progress(sp_input *in, sp_read_progress_fn fn, void *user, const char *name, uint64_t total)
{
    in->progress = fn;
    in->progress_user = user;
    in->progress_name = name;
    in->total = total;
    in->t0_ns = mono_ns();
    /* the first line after one interval: a file read faster than that shows only its last line */
    in->next_ns = in->t0_ns + (uint64_t)(SP_READ_PROGRESS_INTERVAL_S * 1e9);
    in->next_check = in->raw_bytes + SP_PROGRESS_CHECK_BYTES;
}

void sp_input_note_read(sp_input *in, uint64_t upto)
{
    if (in->gz || upto <= in->raw_bytes)
        return;
    in->raw_bytes = upto;
    if (in->progress && in->raw_bytes >= in->next_check)
        progress_tick(in);
}

void sp_input_progress_done(sp_input *in)
{
    if (in->progress)
        progress_call(in, mono_ns(), 1);
}

static ssize_t raw_read(sp_input *in, void *buf, size_t n)
{
    if (in->kind == SP_INPUT_MEM) {
        size_t left = in->mem_len - in->mem_pos;
        if (n > left)
            n = left;
        memcpy(buf, in->mem + in->mem_pos, n);
        in->mem_pos += n;
        in->raw_bytes += n;
        return (ssize_t)n;
    }
    for (;;) {
        ssize_t r = in->kind == SP_INPUT_PREAD ? pread(in->fd, buf, n, (off_t)in->mem_pos) : read(in->fd, buf, n);
        if (r > 0 && in->kind == SP_INPUT_PREAD)
            in->mem_pos += (size_t)r;
        if (r >= 0) {
            in->raw_bytes += (uint64_t)r;
            return r;
        }
        if (errno == EINTR)
            continue;
        snprintf(in->error, sizeof in->error, "read failed: %s", strerror(errno));
        return -1;
    }
}

/* Hands the inflater the next chunk of compressed bytes: 1 when it got some, 0 at the end of the raw
 * stream, -1 when the read failed (the message is in in->error). */
static int gz_refill(sp_input *in)
{
    ssize_t r = raw_read(in, in->raw, SP_INPUT_RAW_CHUNK);
    if (r <= 0)
        return (int)r;
    in->zs.next_in = in->raw;
    in->zs.avail_in = (uInt)r;
    return 1;
}

/* Inflates until at least one byte is produced, the stream ends cleanly (gz == 2), or an error. */
static ssize_t gz_read(sp_input *in, void *buf, size_t n)
{
    if (n > (1u << 30))
        n = 1u << 30;
    in->zs.next_out = buf;
    in->zs.avail_out = (uInt)n;
    while (in->zs.avail_out == (uInt)n && in->gz != 2) {
        if (in->zs.avail_in == 0) {
            if (in->raw_eof) {
                snprintf(in->error, sizeof in->error,
                         "gzip data ends early (truncated file) after %llu compressed bytes",
                         (unsigned long long)in->zs.total_in);
                return -1;
            }
            int got = gz_refill(in);
            if (got < 0)
                return -1;
            if (got == 0) {
                in->raw_eof = 1;
                continue;
            }
        }
        int zr = inflate(&in->zs, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            /* concatenated gzip members are legal: go on if more input follows */
            if (in->zs.avail_in == 0) {
                int got = gz_refill(in);
                if (got < 0)
                    return -1;
                if (got == 0) {
                    in->gz = 2;
                    break;
                }
            }
            inflateReset(&in->zs);
            continue;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            snprintf(in->error, sizeof in->error, "corrupt gzip data at compressed byte %llu: %s",
                     (unsigned long long)in->zs.total_in, in->zs.msg ? in->zs.msg : "inflate failed");
            return -1;
        }
    }
    return (ssize_t)(n - in->zs.avail_out);
}

ssize_t sp_input_read(sp_input *in, void *buf, size_t n)
{
    if (n == 0)
        return 0;
    if (in->max_read && n > in->max_read)
        n = in->max_read;
    if (in->head_pos < in->head_len) {
        size_t k = in->head_len - in->head_pos;
        if (k > n)
            k = n;
        memcpy(buf, in->head + in->head_pos, k);
        in->head_pos += k;
        in->offset += k;
        return (ssize_t)k;
    }
    ssize_t r = in->gz ? gz_read(in, buf, n) : raw_read(in, buf, n);
    if (r > 0)
        in->offset += (uint64_t)r;
    if (in->progress && in->raw_bytes >= in->next_check)
        progress_tick(in);
    return r;
}

sp_status sp_input_open_mem(const void *data, size_t len, size_t max_read, sp_input **out)
{
    if (!data && len)
        return SP_ERR_INVALID;
    sp_input *in = calloc(1, sizeof *in);
    if (!in)
        return SP_ERR_NOMEM;
    in->kind = SP_INPUT_MEM;
    in->fd = -1;
    in->mem = data ? data : (const void *)"";
    in->mem_len = len;
    in->max_read = max_read;
    *out = in;
    return SP_OK;
}

sp_status sp_input_open_fd(int fd, sp_input **out)
{
    sp_input *in = calloc(1, sizeof *in);
    if (!in) {
        close(fd);
        return SP_ERR_NOMEM;
    }
    in->kind = SP_INPUT_FD;
    in->fd = fd;
    *out = in;
    return SP_OK;
}

/* The size of a regular file (0 for anything else), from the descriptor. */
static uint64_t fd_size(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
        return 0;
    return (uint64_t)st.st_size;
}

uint64_t sp_input_size(const sp_input *in)
{
    if (in->gz)
        return 0;
    if (in->kind == SP_INPUT_MEM)
        return in->mem_len;
    return fd_size(in->fd);
}

sp_status sp_input_open_at(const sp_input *in, uint64_t offset, sp_input **out)
{
    if (in->gz || (in->kind == SP_INPUT_FD && fd_size(in->fd) == 0))
        return SP_ERR_UNSUPPORTED;
    if (in->kind == SP_INPUT_MEM) {
        if (offset > in->mem_len)
            return SP_ERR_INVALID;
        return sp_input_open_mem(in->mem + offset, in->mem_len - offset, in->max_read, out);
    }
    sp_input *n = calloc(1, sizeof *n);
    if (!n)
        return SP_ERR_NOMEM;
    n->kind = SP_INPUT_PREAD;   /* reads at its own position; the descriptor stays the source's */
    n->fd = in->fd;
    n->mem_pos = (size_t)offset;
    *out = n;
    return SP_OK;
}

void sp_input_close(sp_input *in)
{
    if (!in)
        return;
    if (in->gz)
        inflateEnd(&in->zs);
    free(in->raw);
    if (in->kind == SP_INPUT_FD && in->fd >= 0)
        close(in->fd);
    free(in);
}

const char *sp_input_error(const sp_input *in)
{
    return in->error[0] ? in->error : "read failed";
}

uint64_t sp_input_offset(const sp_input *in)
{
    return in->offset;
}

sp_status sp_input_start(sp_input *in, const char *name, char *err, size_t errlen)
{
    unsigned char magic[2];
    size_t got = 0;
    while (got < 2) {
        ssize_t r = raw_read(in, magic + got, 2 - got);
        if (r < 0) {
            sp_errf(err, errlen, "%s: %s", name, in->error);
            return SP_ERR_IO;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        in->raw = malloc(SP_INPUT_RAW_CHUNK);
        if (!in->raw)
            return SP_ERR_NOMEM;
        memset(&in->zs, 0, sizeof in->zs);
        if (inflateInit2(&in->zs, 15 + 16) != Z_OK) {
            sp_errf(err, errlen, "%s: cannot start gzip decoder", name);
            return SP_ERR_NOMEM;
        }
        in->gz = 1;
        memcpy(in->raw, magic, 2);
        in->zs.next_in = in->raw;
        in->zs.avail_in = 2;
    } else {
        memcpy(in->head, magic, got);
        in->head_len = got;
    }
    /* fill the peek buffer */
    while (in->head_len < sizeof in->head) {
        ssize_t r = in->gz ? gz_read(in, in->head + in->head_len, sizeof in->head - in->head_len)
                           : raw_read(in, in->head + in->head_len, sizeof in->head - in->head_len);
        if (r < 0) {
            sp_errf(err, errlen, "%s: %s", name, in->error);
            return in->gz ? SP_ERR_PARSE : SP_ERR_IO;
        }
        if (r == 0)
            break;
        in->head_len += (size_t)r;
    }
    return SP_OK;
}

const unsigned char *sp_input_head(const sp_input *in, size_t *len)
{
    *len = in->head_len;
    return in->head;
}

bool sp_input_is_plain_file(const sp_input *in)
{
    return in->kind == SP_INPUT_FD && !in->gz;
}

bool sp_input_is_gzip(const sp_input *in)
{
    return in->gz != 0;
}

sp_status sp_import_vfail(sp_import_ctx *ctx, sp_status st, const char *where, const char *fmt, va_list ap)
{
    if (ctx->err && ctx->errlen) {
        int n = snprintf(ctx->err, ctx->errlen, "%s%s: ", ctx->name, where);
        if (n >= 0 && (size_t)n < ctx->errlen)
            vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
    }
    return st;
}

bool sp_import_model_stages_inference(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && s[e] != ',')
            e++;
        if (e - i == 9 && memcmp(s + i, "inference", 9) == 0)
            return true;
        i = e + 1;
    }
    return false;
}

sp_status sp_import_fail_at(sp_import_ctx *ctx, uint32_t line, uint32_t col, sp_status st,
                            const char *fmt, ...)
{
    char where[32];
    snprintf(where, sizeof where, ":%u:%u", line, col);
    va_list ap;
    va_start(ap, fmt);
    sp_import_vfail(ctx, st, where, fmt, ap);
    va_end(ap);
    return st;
}

static bool name_ends(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && strcasecmp(name + n - k, suffix) == 0;
}

const char *sp_import_export_hint(const char *name)
{
    if (name && (name_ends(name, ".nsys-rep") || name_ends(name, ".qdrep")))
        return "; an Nsight Systems report is read from its SQLite export: run `nsys export --type sqlite "
               "--output report.sqlite report.nsys-rep` and give the .sqlite file";
    return "";
}
