/* W3C Trace Context helpers every part shares (the header parser itself is public: trace.h,
 * sp_trace_context_parse): ids as hex text both ways and the `traceparent` value a client sends. */
#ifndef SERVPROF_TRACECTX_H
#define SERVPROF_TRACECTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "servprof/trace.h"

#define SP_TRACEPARENT_LEN 55u   /* "00-" 32 hex "-" 16 hex "-" 2 hex */

/* Writes `n` bytes as 2n lower-case hex digits and a NUL into `out` (2n + 1 bytes). */
void sp_hex_write(const uint8_t *bytes, size_t n, char *out);

/* Reads exactly 2n hex digits (either case) from s[len] into out[n]. False (out untouched) when len
 * is not 2n or a byte is not a hex digit. */
bool sp_hex_read(const char *s, size_t len, uint8_t *out, size_t n);

/* Whether all n bytes are zero (an invalid W3C id). */
bool sp_bytes_zero(const uint8_t *bytes, size_t n);

/* The `traceparent` value a caller sends for a request whose span is ctx->span_id: version 00, the
 * trace id, the span id as the parent-id, the flags; SP_TRACEPARENT_LEN characters and a NUL. */
void sp_traceparent_write(const sp_trace_context *ctx, char out[SP_TRACEPARENT_LEN + 1]);

#endif
