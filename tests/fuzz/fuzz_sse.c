/* libFuzzer target: arbitrary bytes as the response of a streaming generation server, through the
 * load generator's HTTP parser and its server-sent events reader (load/sse.c, load/stream.c), fed
 * whole and in pieces cut where the input's first byte says, then committed to a token log. Any
 * result is fine except a crash, a leak or a sanitizer report; the token count must not fall below
 * the content events seen. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "load/load_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t step = size ? (size_t)data[0] % 61 + 1 : 1;
    for (int pass = 0; pass < 2; pass++) {
        sp_stream_conn s;
        memset(&s, 0, sizeof s);
        sp_stream_conn_reset(&s);
        sp_http_resp r;
        memset(&r, 0, sizeof r);
        sp_http_resp_reset(&r);
        r.body_sink = sp_stream_on_body;
        r.body_user = &s;
        size_t at = 0, piece = pass == 0 ? (size ? size : 1) : step;
        while (at < size && r.state != SP_HTTP_DONE && r.state != SP_HTTP_ERROR) {
            size_t n = size - at < piece ? size - at : piece;
            s.now = at + 1;
            size_t used = sp_http_resp_feed(&r, (const char *)data + at, n);
            at += used;
            if (used < n)
                break;
        }
        if (r.state != SP_HTTP_DONE && r.state != SP_HTTP_ERROR)
            sp_http_resp_eof(&r);
        int why = -1;
        if (r.state == SP_HTTP_DONE)
            sp_stream_conn_outcome(&s, &r, &why);
        sp_stream_log l;
        memset(&l, 0, sizeof l);
        if (sp_stream_log_reserve(&l, 1) == SP_OK) {
            sp_stream_log_commit(&l, 0, &s, why, true);
            if (l.recs[0].tokens < (s.events > UINT32_MAX ? UINT32_MAX : s.events))
                abort();
        }
        sp_stream_log_free(&l);
        sp_stream_conn_free(&s);
    }
    return 0;
}
