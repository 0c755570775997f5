/* The trace formats' short names (events.h: sp_format_name, sp_format_from_name), the words
 * `servprof analyze --format` takes (docs/cli.md lists them): each name maps to its format and
 * back, anything else is refused and leaves the out-parameter alone. */
#include <string.h>

#include "servprof/events.h"
#include "testlib.h"

int main(void)
{
    /* docs/cli.md, --format: auto, native, jsonl, kineto, nsys, triton, otlp */
    static const struct {
        const char *name;
        sp_format format;
    } known[] = {{"auto", SP_FORMAT_AUTO},   {"native", SP_FORMAT_NATIVE}, {"jsonl", SP_FORMAT_JSONL},
                 {"kineto", SP_FORMAT_KINETO}, {"nsys", SP_FORMAT_NSYS},   {"triton", SP_FORMAT_TRITON},
                 {"otlp", SP_FORMAT_OTLP}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        sp_format f = SP_FORMAT_AUTO;
        CHECK(sp_format_from_name(known[i].name, &f) == SP_OK);
        CHECK(f == known[i].format);
        const char *n = sp_format_name(known[i].format);
        CHECK(n != NULL && strcmp(n, known[i].name) == 0);
    }
    static const char *const bad[] = {"", "csv", "JSONL", "json", "jsonl ", "otlp/json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sp_format f = SP_FORMAT_TRITON;
        CHECK(sp_format_from_name(bad[i], &f) == SP_ERR_INVALID);
        CHECK(f == SP_FORMAT_TRITON);
    }
    sp_format f = SP_FORMAT_NSYS;
    CHECK(sp_format_from_name(NULL, &f) == SP_ERR_INVALID && f == SP_FORMAT_NSYS);
    CHECK(sp_format_name((sp_format)(SP_FORMAT_OTLP + 1)) == NULL);
    CHECK(sp_format_name((sp_format)-1) == NULL);
    return sp_test_done("test_format_names");
}
