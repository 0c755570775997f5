/* Test helper for the reference service's tests: the smallest model it runs (one layer, 32 wide, two
 * heads), on an ephemeral port (sp_server_port gives it), every other option at its default. */
#ifndef SERVPROF_TEST_SERVE_TESTUTIL_H
#define SERVPROF_TEST_SERVE_TESTUTIL_H

#include "servprof/serve.h"

static inline void sp_test_small_server(sp_server_options *o, unsigned max_len)
{
    sp_server_options_init(o);
    o->port = 0;
    o->layers = 1;
    o->hidden = 32;
    o->heads = 2;
    o->ffn = 64;
    o->max_len = max_len;
}

#endif
