/* The recorder's test hooks (src/trace/record.c): how a test reaches inside the hot path. Never set
 * outside tests. The trace file's layout is the native format module's (format/native_format.h). */
#ifndef SERVPROF_TRACE_INT_H
#define SERVPROF_TRACE_INT_H

#include <stdbool.h>

/* Test hook: when set, called inside every record's critical section (after the re-entrancy guard is
 * raised), so a test can deliver a signal there. Never set outside tests. */
extern void (*sp_trace_busy_hook)(void);

/* Test hook: when true, a ring passing half full does not wake the writer early, so a test with a
 * long flush interval knows exactly when the writer drains (flush and close only). */
extern bool sp_trace_no_early_wake;

/* Test hook (src/trace/writer.c): when set, the writer calls it in every cycle between taking the
 * rings' heads and draining them, so a test can register a thread's buffer in that gap. */
extern void (*sp_trace_writer_hook)(void);

#endif
