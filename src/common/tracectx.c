/* W3C Trace Context (https://www.w3.org/TR/trace-context/, the Recommendation of 2021): the
 * `traceparent` header's parser (public, trace.h) and the hex helpers the recorder's users, the load
 * generator, the importers and the OTLP export share. */
#include <string.h>

#include "common/tracectx.h"
#include "common/util_int.h"

void sp_hex_write(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

bool sp_hex_read(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (!s || len != 2 * n)
        return false;
    for (size_t i = 0; i < len; i++)
        if (sp_hex_digit(s[i]) < 0)
            return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(sp_hex_digit(s[2 * i]) << 4 | sp_hex_digit(s[2 * i + 1]));
    return true;
}

bool sp_bytes_zero(const uint8_t *bytes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (bytes[i])
            return false;
    return true;
}

/* n lower-case hex digits (the header allows no upper case: HEXDIGLC in the Recommendation). */
static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

sp_status sp_trace_context_parse(const char *tp, size_t len, sp_trace_context *out)
{
    if (!tp || !out)
        return SP_ERR_INVALID;
    /* optional white space around a header value (RFC 9110 section 5.5) */
    while (len && (*tp == ' ' || *tp == '\t')) {
        tp++;
        len--;
    }
    while (len && (tp[len - 1] == ' ' || tp[len - 1] == '\t'))
        len--;
    if (len < SP_TRACEPARENT_LEN || !lower_hex(tp, 2) || tp[2] != '-' || !lower_hex(tp + 3, 32) || tp[35] != '-' ||
        !lower_hex(tp + 36, 16) || tp[52] != '-' || !lower_hex(tp + 53, 2))
        return SP_ERR_INVALID;
    if (tp[0] == 'f' && tp[1] == 'f')
        return SP_ERR_INVALID;   /* version ff is forbidden */
    bool v00 = tp[0] == '0' && tp[1] == '0';
    /* version 00 has exactly these fields; a later version may append its own after a '-' */
    if (v00 ? len != SP_TRACEPARENT_LEN : (len > SP_TRACEPARENT_LEN && tp[SP_TRACEPARENT_LEN] != '-'))
        return SP_ERR_INVALID;
    sp_trace_context c;
    memset(&c, 0, sizeof c);
    uint8_t flags[1] = {0};   /* set below; initialised for gcc's -Wmaybe-uninitialized */
    sp_hex_read(tp + 3, 32, c.trace_id, 16);
    sp_hex_read(tp + 36, 16, c.parent_id, 8);
    sp_hex_read(tp + 53, 2, flags, 1);
    if (sp_bytes_zero(c.trace_id, 16) || sp_bytes_zero(c.parent_id, 8))
        return SP_ERR_INVALID;
    c.flags = flags[0];
    *out = c;
    return SP_OK;
}

void sp_traceparent_write(const sp_trace_context *ctx, char out[SP_TRACEPARENT_LEN + 1])
{
    memcpy(out, "00-", 3);
    sp_hex_write(ctx->trace_id, 16, out + 3);
    out[35] = '-';
    sp_hex_write(ctx->span_id, 8, out + 36);
    out[52] = '-';
    sp_hex_write(&ctx->flags, 1, out + 53);
}
