/* libFuzzer target: arbitrary bytes written to a temporary file and read by the Nsight Systems SQLite
 * importer (it needs a real file), format forced, strict and lenient. Any result is fine except a
 * crash, a hang, a leak or a sanitizer report. Without SQLite the target does nothing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "model/events_int.h"
#include "servprof/events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/sp_fuzz_nsys_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    for (int lenient = 0; lenient < 2; lenient++) {
        sp_events *ev;
        if (sp_events_create(&ev) != SP_OK)
            break;
        sp_load_options opt;
        sp_load_options_init(&opt);
        opt.format = SP_FORMAT_NSYS;
        opt.lenient = lenient;
        char err[512];
        if (sp_events_load_file(ev, path, &opt, err, sizeof err) == SP_OK)
            sp_ev_finish(ev, lenient, err, sizeof err);
        sp_events_destroy(ev);
    }
    unlink(path);
    return 0;
}
