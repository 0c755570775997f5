/* The JSON string escaper and the UTF-8 check it rests on: one rule (json_esc_int.h) for every JSON
 * string servprof writes, so no writer can emit text a JSON parser refuses. */
#include <stdint.h>
#include <string.h>

#include "common/json_esc_int.h"

size_t sp_utf8_len(const unsigned char *p, size_t avail)
{
    if (!avail)
        return 0;
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    /* each test reads p[k] only after p[k-1] passed, and a NUL fails every one of them */
    if (c >= 0xC2 && c <= 0xDF)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        /* RFC 3629: E0 needs A0..BF next (no overlong forms), ED needs 80..9F (no surrogates) */
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        if (avail < 2 || p[1] < lo || p[1] > hi || avail < 3 || (p[2] & 0xC0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        /* F0 needs 90..BF next (no overlong forms), F4 needs 80..8F (nothing past U+10FFFF) */
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        if (avail < 2 || p[1] < lo || p[1] > hi || avail < 3 || (p[2] & 0xC0) != 0x80 || avail < 4 ||
            (p[3] & 0xC0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

size_t sp_json_escape(char *dst, size_t cap, const char *s, size_t len, size_t max_in, size_t *consumed)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t limit = max_in && max_in < len ? max_in : len;
    size_t i = 0, o = 0;
    while (i < limit) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') { /* the common case: copied */
            if (o == cap)
                break;
            dst[o++] = (char)c;
            i++;
            continue;
        }
        size_t n = 1, w;
        char esc[6];
        const char *piece = esc;
        if (c >= 0x80) {
            /* checked against the whole input, so a character straddling the limit is left out
             * whole rather than cut into invalid bytes */
            n = sp_utf8_len(p + i, len - i);
            if (n == 0) {
                piece = "\\ufffd";
                n = 1;
                w = 6;
            } else {
                piece = (const char *)p + i;
                w = n;
            }
        } else if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : (char)c;
            w = 2;
        } else { /* the other control characters and DEL */
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            w = 6;
        }
        if (i + n > limit || cap - o < w)
            break;
        memcpy(dst + o, piece, w);
        o += w;
        i += n;
    }
    if (consumed)
        *consumed = i;
    return o;
}

void sp_json_write_str(FILE *out, const char *s, size_t max_in)
{
    char buf[512];
    const char *p = s ? s : "";
    size_t len = strlen(p), done = 0;
    size_t limit = max_in && max_in < len ? max_in : len;
    putc('"', out);
    while (done < limit) {
        size_t used;
        size_t w = sp_json_escape(buf, sizeof buf, p + done, len - done, limit - done, &used);
        fwrite(buf, 1, w, out);
        if (!used) /* the next character straddles the limit */
            break;
        done += used;
    }
    putc('"', out);
}
