/* servprof event model: one set of requests, stage spans, batches and device activity, loaded from
 * one or more trace files of any supported format (DESIGN section 2). Ids are kept apart per file, so
 * several replicas' traces can be analysed together. */
#ifndef SERVPROF_EVENTS_H
#define SERVPROF_EVENTS_H

#include "servprof/servprof.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sp_events sp_events;

/* The formats servprof reads; SP_FORMAT_AUTO detects the format from the content. */
typedef enum sp_format {
    SP_FORMAT_AUTO = 0,
    SP_FORMAT_NATIVE,  /* libservprof's binary trace (docs/native-format.md) */
    SP_FORMAT_JSONL,   /* servprof.events/1 (DESIGN section 9) */
    SP_FORMAT_KINETO,  /* PyTorch profiler Chrome-trace JSON */
    SP_FORMAT_NSYS,    /* Nsight Systems SQLite export */
    SP_FORMAT_TRITON,  /* Triton Inference Server trace JSON */
    SP_FORMAT_OTLP     /* OpenTelemetry OTLP/JSON */
} sp_format;

SP_API const char *sp_format_str(sp_format format);
/* The format's short name, as a command line or a config file gives it: "auto", "native", "jsonl",
 * "kineto", "nsys", "triton", "otlp"; NULL for a value that is not an sp_format. */
SP_API const char *sp_format_name(sp_format format);
/* The sp_format whose short name is `name` (exact, lower case): SP_OK and *out, or SP_ERR_INVALID
 * (*out untouched). */
SP_API sp_status sp_format_from_name(const char *name, sp_format *out);

/* How far one trace load has got, for a progress line (sp_load_options.progress). */
typedef struct sp_read_progress {
    const char *name;     /* the file name given to the loader (borrowed for the call) */
    uint64_t bytes_read;  /* bytes of the file read so far (compressed bytes of a .gz file) */
    uint64_t bytes_total; /* the file's size (the buffer's length for sp_events_load_buffer); 0 when
                             unknown (not a regular file) */
    double elapsed_s;     /* since the load started */
    int done;             /* 1 on the last call: the file was read and imported */
} sp_read_progress;

/* Called about every SP_READ_PROGRESS_INTERVAL_S seconds while a trace is read, from the thread
 * that reads it (the caller's, or for a native trace the loader's reader thread), never two calls
 * at once, and once more with done = 1 when the import succeeded (not when it failed). */
typedef void (*sp_read_progress_fn)(void *user, const sp_read_progress *progress);
#define SP_READ_PROGRESS_INTERVAL_S 0.25

typedef struct sp_load_options {
    int lenient;         /* skip and count malformed records instead of failing on the first */
    int hta_compat;      /* follow HTA's loading rules (Kineto; docs/kineto.md) */
    sp_format format;    /* SP_FORMAT_AUTO unless forced */
    const char *map;     /* annotation-to-stage mapping for Kineto/Nsight (NULL: the default
                            convention); borrowed for the call */
    sp_read_progress_fn progress; /* if set: told how far the read has got (see above); the library
                                     itself never prints */
    void *progress_user;          /* passed to `progress` */
} sp_load_options;

SP_API void sp_load_options_init(sp_load_options *opt);

/* Checks `opt` without reading anything: `format` is one of sp_format and `map` is a well-formed
 * annotation map (docs/annotations.md). Returns SP_OK, or SP_ERR_INVALID with a message naming the
 * bad entry in `err` ("--map entry "x": expected role=prefix"). The loaders below run this check
 * first, for every format, so a malformed map is refused even for a trace that would not use it. */
SP_API sp_status sp_load_options_check(const sp_load_options *opt, char *err, size_t errlen);

/* Creates an empty event set. `*out` is written only on success. */
SP_API sp_status sp_events_create(sp_events **out);

/* NULL is fine. */
SP_API void sp_events_destroy(sp_events *ev);

/* Loads one trace file into `ev` (a .gz file is decompressed while reading). `opt` may be NULL.
 * On failure returns SP_ERR_INVALID (sp_load_options_check refused `opt`; nothing was read) or
 * SP_ERR_IO / SP_ERR_PARSE / SP_ERR_FORMAT / SP_ERR_LIMIT / SP_ERR_NOMEM and writes
 * a message naming the file and the line or byte offset, and what was expected, into `err` (always
 * NUL-terminated when errlen > 0). The set then holds the events of earlier files only. */
SP_API sp_status sp_events_load_file(sp_events *ev, const char *path, const sp_load_options *opt,
                                     char *err, size_t errlen);

/* 1 when the last sp_events_load_file / sp_events_load_buffer on `ev` failed on a malformed record
 * that sp_load_options.lenient would have skipped and counted (a JSONL line, a native record, an
 * OTLP span, a Triton trace object, an Nsight Systems row), so a caller can suggest it; 0 after a
 * success, for other errors (not a trace, a truncated document, an unreadable file, a refused
 * option) and for NULL. */
SP_API int sp_events_load_skippable(const sp_events *ev);

/* As sp_events_load_file, from memory. `name` is used in messages; `data` is borrowed. */
SP_API sp_status sp_events_load_buffer(sp_events *ev, const char *name, const void *data, size_t len,
                                       const sp_load_options *opt, char *err, size_t errlen);

/* Kinds of device activity in the event model (DESIGN section 2). */
typedef enum sp_act_kind {
    SP_ACT_KERNEL = 0,
    SP_ACT_H2D,
    SP_ACT_D2H,
    SP_ACT_D2D,
    SP_ACT_MEMSET,
    SP_ACT_COPY_OTHER,
    SP_ACT_SYNC              /* synchronisation: not device work (DESIGN section 6) */
} sp_act_kind;

/* Trace properties (sp_recorder_set_property in trace.h; limits SP_PROP_* in servprof.h): the value of property `key` in loaded file number `file` (0-based, in load order), or NULL when the
 * file does not carry it (or there is no such file). The string is owned by `ev` and valid until it
 * is destroyed. */
SP_API const char *sp_events_property(const sp_events *ev, size_t file, const char *key);

/* In OTLP/JSON (docs/otlp.md), trace property KEY is the resource attribute servprof.property.KEY
 * (a stringValue): sp_report_write_otlp writes each file's properties so, and the OTLP importer
 * reads them back as the file's properties. */
#define SP_OTLP_PROPERTY_PREFIX "servprof.property."
/* ... and the resource attribute servprof.model_stages names the stages of its file that are an
 * engine's model time whole (a stringValue, names separated by commas; "inference" is the one such
 * stage, docs/analysis.md section 6, "Model time"): sp_report_write_otlp writes it for a file whose
 * "inference" stage the OTLP importer derived from TGI's inference_time, and the importer reads it
 * back to the same mark. */
#define SP_OTLP_MODEL_STAGES "servprof.model_stages"
/* ... and the resource attribute servprof.trace_end {"stringValue":"unclean"} says that the recorder
 * did not close its file (a native trace without its end record, SP_TRACE_END_UNCLEAN: killed or
 * crashed): sp_report_write_otlp writes it for such a file, whose unfinished requests' spans end at
 * the trace's last time, and the importer reads it back to the same mark (sp_file_loss.end_by_export
 * says the mark came from here; any other value, "clean" included, is an error). */
#define SP_OTLP_TRACE_END "servprof.trace_end"
/* Generation data (docs/otlp.md, "Export"; docs/generation.md), written by sp_report_write_otlp and read
 * back by the OTLP importer: each output token is a span event SP_OTLP_TOKEN_EVENT (its time the
 * token's, its intValue attribute SP_OTLP_TOKEN_INDEX the 0-based index) on the request span, or on
 * a child span named SP_OTLP_TOKEN_SPAN when the request has more tokens than one span holds; a
 * request's span of a step carries its phase there (SP_OTLP_STEP_PHASE: "decode", "prefill" or
 * "prefill_chunk") and its tokens in the step (SP_OTLP_STEP_TOKENS); a step's own span its KV cache
 * after the step (SP_OTLP_STEP_KV_USED, SP_OTLP_STEP_KV_CAPACITY). */
#define SP_OTLP_TOKEN_EVENT "servprof.token"
#define SP_OTLP_TOKEN_INDEX "servprof.token.index"
#define SP_OTLP_TOKEN_SPAN "servprof.tokens"
#define SP_OTLP_STEP_PHASE "servprof.step.phase"
#define SP_OTLP_STEP_TOKENS "servprof.step.tokens"
#define SP_OTLP_STEP_KV_USED "servprof.step.kv_used_tokens"
#define SP_OTLP_STEP_KV_CAPACITY "servprof.step.kv_capacity_tokens"
/* Client-side times (a load generator's trace, `"ev":"client"` records) are joined to the server's
 * requests and mapped onto the server's clock (DESIGN section 8a; docs/analysis.md, "Client merge").
 * The offset is theta = server clock - client clock, one per (client file, server file) pair. */
typedef enum sp_clock_mode {
    SP_CLOCK_AUTO = 0,  /* estimate theta per pair from the joined request/response pairs (default) */
    SP_CLOCK_NONE,      /* assume the files share one clock: theta = 0 */
    SP_CLOCK_FIXED      /* the caller's theta for every pair of different files */
} sp_clock_mode;

/* Where a pair's applied offset came from. */
typedef enum sp_clock_source {
    SP_CLOCK_ESTIMATED = 0,  /* the middle of the intersection of the pairs' bounds */
    SP_CLOCK_SAME_TRACE,     /* client and server records in one file: one clock (DESIGN 2), theta 0 */
    SP_CLOCK_ASSUMED,        /* SP_CLOCK_NONE: theta 0 as asked */
    SP_CLOCK_GIVEN,          /* SP_CLOCK_FIXED: the caller's theta */
    SP_CLOCK_UNBOUNDED       /* SP_CLOCK_AUTO, but no joined pair had usable times: theta 0 */
} sp_clock_source;

/* "estimated", "same_trace", "assumed", "given", "unbounded". Static, never NULL. */
SP_API const char *sp_clock_source_str(sp_clock_source s);

/* The clock reconciliation of one (client file, server file) pair. Each joined request with usable
 * times bounds theta: the server cannot receive before the client sent (theta <= arrival - send) nor
 * answer after the client received (theta >= done - client_done). */
typedef struct sp_clock_offset {
    uint32_t client_file, server_file; /* indexes of the loaded files, in load order */
    const char *client_path, *server_path; /* the files' names; owned by the report (NULL elsewhere) */
    sp_clock_source source;
    uint64_t pairs;             /* joined request/response pairs with usable times */
    int64_t offset_ns;          /* theta applied: client times + theta are on the server clock */
    int64_t lower_ns, upper_ns; /* the intersection of all bounds (when pairs > 0) */
    uint64_t uncertainty_ns;    /* half its width, (upper - lower) / 2; 0 when the bounds conflict */
    uint64_t conflict_ns;       /* lower - upper when the bounds cross (clocks drift, or times are
                                   wrong): a warning; else 0 */
    uint64_t violations;        /* pairs whose client interval, mapped with offset_ns, does not enclose
                                   the server's [arrival, done] */
} sp_clock_offset;

/* Counts, for progress lines and summaries. */
typedef struct sp_events_summary {
    size_t files;
    size_t requests;
    size_t stage_spans;
    size_t batches;
    size_t kernels;
    size_t copies;      /* memcpy and memset */
    size_t launches;
    uint64_t skipped;   /* malformed records and unresolved references skipped under `lenient` */
    uint64_t dropped;   /* records the recorder dropped (all causes) */
    /* Data lost from damaged files, over all files (sp_file_loss has each file's): */
    uint64_t lost_blocks;   /* native blocks that were corrupt or cut off */
    uint64_t lost_bytes;    /* bytes of those blocks and of any garbage read past with them */
    uint64_t undecodable;   /* records in surviving blocks that use a name defined only in a lost block */
    uint64_t orphaned;      /* requests and batches whose own record was lost (after the finishing
                               pass: sp_analyze, sp_whatif_workload_from_events; 0 before) */
    size_t unclean_files;   /* native traces without the recorder's `end` record */
} sp_events_summary;

SP_API void sp_events_summarize(const sp_events *ev, sp_events_summary *out);

/* The path (or buffer name) loaded file number `file` was read from, or NULL when there is no such
 * file. Owned by `ev`, valid until it is destroyed. */
SP_API const char *sp_events_file_path(const sp_events *ev, size_t file);

/* ---- Data loss ----
 * A native trace whose blocks are corrupt or cut off still loads: each bad stretch is skipped up to
 * the next block that checks out (or to the end of the file), and what was lost is recorded here,
 * per file, and announced through the log callback (sp_set_log) with the file and byte offset
 * (docs/native-format.md, "Reading rule"). Other formats have no blocks: only their drops, skipped
 * records and orphans are counted. */

/* Lost regions listed per file; further regions are counted (sp_file_loss.regions) but not listed. */
#define SP_LOSS_MAX_REGIONS 8

/* One stretch of a file that could not be read. */
typedef struct sp_lost_region {
    uint64_t offset;    /* byte offset of its start (in the uncompressed stream of a .gz file) */
    uint64_t bytes;     /* bytes lost from there */
    uint64_t blocks;    /* block headers recognised in it, at least 1 (a lower bound when headers
                           themselves were damaged) */
    int to_end;         /* 1: it runs to the end of the file (a cut or unreadable tail); 0: reading
                           resumed at offset + bytes */
} sp_lost_region;

/* Whether the recorder closed a trace cleanly. */
typedef enum sp_trace_end {
    SP_TRACE_END_UNKNOWN = 0, /* the format has no end marker (every format but native) */
    SP_TRACE_END_CLEAN,       /* the recorder's `end` record was read */
    SP_TRACE_END_UNCLEAN      /* a native trace without an `end` record: the recorder was killed,
                                 crashed or is still writing, or the end was in a lost part; or an
                                 OTLP export of such a trace (sp_file_loss.end_by_export) */
} sp_trace_end;

/* "unknown", "clean", "unclean"; static, never NULL. */
SP_API const char *sp_trace_end_str(sp_trace_end end);

/* What one file lost. */
typedef struct sp_file_loss {
    uint64_t lost_blocks;       /* the regions' blocks, summed */
    uint64_t lost_bytes;        /* the regions' bytes, summed */
    uint64_t first_lost_offset; /* the first region's offset; UINT64_MAX when nothing was lost */
    uint64_t regions;           /* lost regions in all */
    size_t n_listed;            /* regions listed in `region`: the first SP_LOSS_MAX_REGIONS */
    sp_lost_region region[SP_LOSS_MAX_REGIONS];
    uint64_t undecodable;       /* records in surviving blocks that use a name id defined only in a
                                   lost block: not decoded, not an error (with or without lenient) */
    uint64_t orphaned;          /* requests and batches that surviving records name but whose own
                                   record was lost: left out, not an error (with or without lenient);
                                   counted by the finishing pass, 0 before it */
    sp_trace_end end;
    uint64_t dropped;           /* records the recorder dropped (all causes) */
    uint64_t skipped;           /* malformed records and unresolved references skipped (lenient) */
    int end_by_export;          /* 1: `end` is SP_TRACE_END_UNCLEAN because the file is an OTLP export
                                   saying so (SP_OTLP_TRACE_END, written by sp_report_write_otlp): the
                                   file is whole, the trace exported to it had no end record; 0 for
                                   every other file (a native trace's own missing end record too) */
} sp_file_loss;

/* Writes what loaded file number `file` lost into `*out`. Returns SP_ERR_INVALID (NULL argument or
 * no such file; `*out` untouched) or SP_OK. */
SP_API sp_status sp_events_file_loss(const sp_events *ev, size_t file, sp_file_loss *out);

/* Whether anything was lost, in one line for people: for each file that lost something, its path and
 * its lost regions (blocks, bytes, offsets), undecodable and orphaned records, an unclean end, the
 * recorder's drops and skipped records, e.g. "t.sptrace: 1 block (1048608 bytes) lost at byte
 * 1048592". Returns how many such things it names (0: nothing lost; `buf` then holds "").
 * This is the list `--strict` fails on (docs/cli.md). `buf` is always NUL-terminated when len > 0
 * (a long list is cut with "..."); it may be NULL when len is 0. */
SP_API size_t sp_events_describe_loss(const sp_events *ev, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
