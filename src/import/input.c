/* The importers' shared helpers: the byte stream every importer reads (a plain file, a gzip file
 * decompressed on the fly, or memory; the loader in import.c opens and starts it) and the one error
 * format of the JSON-based importers. It calls no importer and not the loader, so calls run one way:
 * import.c -> importers -> input.c. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/util_int.h"
#include "import/import_int.h"

enum { SP_INPUT_FD, SP_INPUT_MEM };

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
};

static ssize_t raw_read(sp_input *in, void *buf, size_t n)
{
    if (in->kind == SP_INPUT_MEM) {
        size_t left = in->mem_len - in->mem_pos;
        if (n > left)
            n = left;
        memcpy(buf, in->mem + in->mem_pos, n);
        in->mem_pos += n;
        return (ssize_t)n;
    }
    for (;;) {
        ssize_t r = read(in->fd, buf, n);
        if (r >= 0)
            return r;
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

sp_status sp_import_vfail(sp_import_ctx *ctx, sp_status st, const char *where, const char *fmt, va_list ap)
{
    if (ctx->err && ctx->errlen) {
        int n = snprintf(ctx->err, ctx->errlen, "%s%s: ", ctx->name, where);
        if (n >= 0 && (size_t)n < ctx->errlen)
            vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
    }
    return st;
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
