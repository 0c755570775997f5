/* libFuzzer target: arbitrary bytes through the streaming JSON tokenizer in its three modes (const
 * buffer, in place, stream in small reads, multiple values), with skips and the exact decimal
 * conversion of every number (and its double, against strtod bit for bit). The modes must agree on
 * the token count and the final status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "import/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t run(sp_json_lexer *lx, int skip_odd, sp_status *st_out)
{
    sp_json_token t;
    size_t n = 0;
    sp_status st;
    while ((st = sp_json_next(lx, &t)) == SP_OK && t.type != SP_JSON_EOF) {
        n++;
        if (t.type == SP_JSON_NUMBER) {
            int64_t v;
            bool exact;
            sp_json_us_to_ns(t.str, t.len, &v, &exact);
            /* the double against strtod (this target runs in the C locale), bit for bit: the fast
             * path (Clinger's) must give exactly what strtod gives */
            double d, ref;
            if (sp_json_number_to_double(t.str, t.len, &d) == SP_OK && t.len < 400) {
                char buf[400];
                memcpy(buf, t.str, t.len);
                buf[t.len] = 0;
                ref = strtod(buf, NULL);
                if (memcmp(&d, &ref, sizeof d) != 0)
                    abort();
            }
        }
        if (skip_odd && t.type == SP_JSON_KEY && (t.len & 1)) {
            st = sp_json_skip(lx);
            if (st)
                break;
        }
        if (n > 10000000)
            abort();   /* no progress: a hang */
    }
    *st_out = st;
    return n;
}

/* The token-free skip against the token-by-token one, in lockstep: after every key (and at the top)
 * one lexer skips with sp_json_skip_value, the other with sp_json_skip_slow; statuses, first-token
 * types, error messages and every later token's position must agree. */
static void skip_differential(const uint8_t *data, size_t size, const sp_json_limits *lim)
{
    sp_json_lexer a, b;
    if (sp_json_init_buffer(&a, data, size, lim) != SP_OK || sp_json_init_buffer(&b, data, size, lim) != SP_OK) {
        sp_json_fini(&a);
        sp_json_fini(&b);
        return;
    }
    bool skip_now = size > 0 && (data[0] & 1);
    for (size_t n = 0; n < 10000000; n++) {
        sp_status sa, sb;
        sp_json_token ta, tb;
        if (skip_now) {
            sp_json_type first = SP_JSON_NONE;
            sa = sp_json_skip_value(&a, &first);
            sb = sp_json_skip_slow(&b);
            if (sa != sb || strcmp(sp_json_error(&a), sp_json_error(&b)) != 0)
                abort();
            if (sa)
                break;
            if (first == SP_JSON_NONE || first == SP_JSON_KEY || first == SP_JSON_EOF)
                abort();
        }
        sa = sp_json_next(&a, &ta);
        sb = sp_json_next(&b, &tb);
        if (sa != sb || strcmp(sp_json_error(&a), sp_json_error(&b)) != 0)
            abort();
        if (sa || ta.type == SP_JSON_EOF)
            break;
        if (ta.type != tb.type || ta.offset != tb.offset || ta.line != tb.line || ta.column != tb.column ||
            ta.depth != tb.depth || ta.len != tb.len)
            abort();
        skip_now = ta.type == SP_JSON_KEY || (ta.type == SP_JSON_ARR_BEGIN && (ta.offset & 1));
    }
    sp_json_fini(&a);
    sp_json_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_json_limits lim;
    sp_json_limits_init(&lim);
    lim.max_depth = 100;
    lim.max_string = 4096;
    size_t counts[3];
    sp_status sts[3];
    sp_json_lexer lx;
    if (sp_json_init_buffer(&lx, data, size, &lim) == SP_OK)
        counts[0] = run(&lx, 0, &sts[0]);
    else
        return 0;
    sp_json_fini(&lx);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (sp_json_init_inplace(&lx, copy, size, &lim, 1, 0) == SP_OK)
        counts[1] = run(&lx, 0, &sts[1]);
    else
        counts[1] = counts[0], sts[1] = sts[0];
    sp_json_fini(&lx);
    free(copy);
    sp_input *in;
    if (sp_input_open_mem(data, size, 5, &in) != SP_OK)
        return 0;
    if (sp_json_init_input(&lx, in, &lim) == SP_OK)
        counts[2] = run(&lx, 0, &sts[2]);
    else
        counts[2] = counts[0], sts[2] = sts[0];
    sp_json_fini(&lx);
    sp_input_close(in);
    if (counts[1] != counts[0] || counts[2] != counts[0] || sts[1] != sts[0] || sts[2] != sts[0])
        abort();
    skip_differential(data, size, &lim);
    /* multiple values, with skips */
    lim.multiple_values = true;
    if (sp_json_init_buffer(&lx, data, size, &lim) == SP_OK) {
        sp_status st;
        run(&lx, 1, &st);
    }
    sp_json_fini(&lx);
    return 0;
}
