/* sp_dl_open (src/common/dl.c), the one way servprof opens a library it does not link (OpenBLAS,
 * libmicrohttpd, libcurl): a library that is not there and a symbol a library lacks each give the
 * message the user sees, naming the library, who needs it and the Debian package; a library that is
 * there gives working function pointers. The answers: strlen("servprof") is 8, and glibc's
 * libc.so.6 has no symbol "sp_no_such_symbol". */
#include <string.h>

#include "common/util_int.h"
#include "testlib.h"

int main(void)
{
    char err[512];

    /* a soname no system has */
    void *slot = &err;
    sp_dl_sym one[] = {{"strlen", &slot}};
    err[0] = 0;
    CHECK(sp_dl_open("libservprof-not-there.so.9", "the test", "a library", "libnothere9", one, 1, err,
                     sizeof err) == NULL);
    CHECK_MSG(strncmp(err, "the test needs a library (libservprof-not-there.so.9; Debian: libnothere9), which could "
                           "not be loaded: ", 103) == 0, "message: %s", err);
    CHECK_MSG(strstr(err, "libservprof-not-there.so.9: cannot open shared object file") != NULL, "dlerror: %s", err);

    /* a library without the symbol */
    size_t (*len)(const char *) = NULL;
    sp_dl_sym two[] = {{"strlen", (void **)&len}, {"sp_no_such_symbol", &slot}};
    err[0] = 0;
    CHECK(sp_dl_open("libc.so.6", "the test", "glibc", "libc6", two, 2, err, sizeof err) == NULL);
    CHECK_MSG(strcmp(err, "libc.so.6 has no sp_no_such_symbol") == 0, "message: %s", err);

    /* every symbol there: each slot holds a function that works */
    len = NULL;
    int (*cmp)(const char *, const char *) = NULL;
    sp_dl_sym both[] = {{"strlen", (void **)&len}, {"strcmp", (void **)&cmp}};
    err[0] = 0;
    CHECK(sp_dl_open("libc.so.6", "the test", "glibc", "libc6", both, 2, err, sizeof err) != NULL);
    CHECK(err[0] == 0);
    CHECK(len && len("servprof") == 8);
    CHECK(cmp && cmp("a", "b") < 0);
    return sp_test_done("test_dl_open");
}
