/* What the Perfetto writer's files share (perfetto.c: slices, tracks and flow arrows; perfetto_counters.c:
 * counter tracks): the writer's state, the track numbering and the event openers, inline so neither
 * file calls the other. */
#ifndef SERVPROF_PERFETTO_INT_H
#define SERVPROF_PERFETTO_INT_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "model/events_view.h"
#include "report/report_int.h"

/* Process ids of the tracks. Devices get PID_DEVICE + file * DEVICES_PER_FILE + device. */
enum { PID_CLIENT = 1, PID_REQUESTS = 2, PID_BATCHES = 3, PID_LAUNCHES = 4, PID_DEVICE = 1000 };
#define DEVICES_PER_FILE 1000u

typedef struct pf_writer {
    FILE *out;
    const sp_events *ev;
    size_t n_files;
    uint64_t t0;
    int first;
    uint32_t *req_row;       /* request index -> its row on the requests track; UINT32_MAX: not drawn */
    uint32_t *req_order;     /* the drawn requests' indexes in drawing order (n_drawn of them), so the
                                arrows' ids never depend on the order of lines in a file */
    size_t n_drawn;
    uint32_t *batch_row;     /* batch index -> its row on the batches track; UINT32_MAX: not drawn */
    uint64_t next_flow;      /* flow arrows' ids: 1, 2, ... */
} pf_writer;

/* The device track's process of an activity of device `device` in file `file`. */
static inline int64_t pf_device_pid(uint32_t file, uint32_t device)
{
    uint32_t dev = device < DEVICES_PER_FILE - 1 ? device : DEVICES_PER_FILE - 1;
    return PID_DEVICE + (int64_t)file * DEVICES_PER_FILE + dev;
}

/* Starts one event: separator, then the caller writes the object. */
static inline void pf_begin(pf_writer *w)
{
    fputs(w->first ? "\n" : ",\n", w->out);
    w->first = 0;
}

/* A timestamp: microseconds since the trace's first time, ns precision. */
static inline void pf_ts(pf_writer *w, uint64_t t)
{
    sp_rep_json_us(w->out, t >= w->t0 ? t - w->t0 : 0);
}

/* One counter sample ("C"): track `name` of process `pid` holds `value` of series `key` from `t` on. */
static inline void pf_counter(pf_writer *w, const char *name, const char *key, int64_t pid, uint64_t t,
                              int64_t value)
{
    pf_begin(w);
    fprintf(w->out, "{\"ph\":\"C\",\"name\":\"%s\",\"pid\":%" PRId64 ",\"ts\":", name, pid);
    pf_ts(w, t);
    fprintf(w->out, ",\"args\":{\"%s\":%" PRId64 "}}", key, value);
}

/* The counter tracks (perfetto_counters.c): queue depth on the requests track, batch size on the
 * batches track, device busy on each device's track. SP_OK, SP_ERR_NOMEM. */
sp_status sp_pf_write_counters(pf_writer *w);

#endif
