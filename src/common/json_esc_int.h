/* The one JSON string escaper (src/common/json_esc.c), used by everything servprof writes as JSON:
 * the reports, the Perfetto trace, the what-if output, the load generator's trace and request bodies;
 * and the UTF-8 check it rests on, which the HTML and terminal writers share.
 *
 * The escaping rule. The output is the body of a JSON string (RFC 8259) that is always well-formed
 * UTF-8, whatever the input bytes:
 *   - `"` and `\` become \" and \\; newline, carriage return and tab become \n, \r and \t;
 *   - every other byte below 0x20, and 0x7F (DEL), becomes \u00XX (lower-case hex);
 *   - a well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing past
 *     U+10FFFF) is copied unchanged, so valid text parses back to exactly the input;
 *   - each byte that does not start a well-formed sequence becomes \ufffd (U+FFFD), one per byte;
 *   - `/` and everything else is copied unchanged.
 * A limit on input bytes cuts only between characters (an invalid byte counts as one character). */
#ifndef SERVPROF_JSON_ESC_INT_H
#define SERVPROF_JSON_ESC_INT_H

#include <stddef.h>
#include <stdio.h>

/* Length of the well-formed UTF-8 sequence at p[0..avail) (1..4), or 0 when it is not well formed or
 * runs past `avail` (avail 0 gives 0). Reads only up to the first byte that fails, so a NUL
 * terminator stops it: NUL-terminated text may pass SIZE_MAX. A NUL byte itself is a sequence of 1. */
size_t sp_utf8_len(const unsigned char *p, size_t avail);

/* The most bytes one input byte escapes to ("\u00XX", "\ufffd"): a buffer of len * SP_JSON_ESC_MAX
 * bytes holds the escaped text of any `len` input bytes. */
#define SP_JSON_ESC_MAX 6

/* Escapes input s[0..len) (NUL bytes included, as \u0000) into dst[0..cap), without quotes and without
 * a terminating NUL. Stops before the first character that would not fit in `cap`, or that would take
 * the input consumed past `max_in` bytes (0: no limit). Writes the input bytes consumed to *consumed
 * (which may be NULL) and returns the bytes written. cap >= len * SP_JSON_ESC_MAX always takes all of
 * the input (up to `max_in`). */
size_t sp_json_escape(char *dst, size_t cap, const char *s, size_t len, size_t max_in, size_t *consumed);

/* Writes NUL-terminated `s` (NULL: "") to `out` as a quoted JSON string, escaping at most `max_in`
 * input bytes (0: no limit; cut between characters). Errors are left in the stream (ferror). */
void sp_json_write_str(FILE *out, const char *s, size_t max_in);

#endif
