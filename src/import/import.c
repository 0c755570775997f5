/* The loader: opens a trace (file or memory, gzip or plain) as a stream (input.c), detects its format
 * from the content and hands it to the matching importer. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util_int.h"
#include "format/native_format.h"
#include "import/annotation_int.h"
#include "import/import_int.h"

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* Is `key` among the first keys of the (possibly cut) JSON text? A cheap look at the head. */
static int head_has(const unsigned char *head, size_t len, const char *key)
{
    return memmem(head, len, key, strlen(key)) != NULL;
}

sp_format sp_detect_format(const unsigned char *head, size_t len)
{
    if (len >= SP_NATIVE_MAGIC_BYTES && memcmp(head, SP_NATIVE_MAGIC, SP_NATIVE_MAGIC_BYTES) == 0)
        return SP_FORMAT_NATIVE;
    if (len >= 16 && memcmp(head, "SQLite format 3", 16) == 0)
        return SP_FORMAT_NSYS;
    const unsigned char *end = head + len;
    const unsigned char *p = head;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;   /* a UTF-8 byte order mark: the JSON lexer passes over it too */
    p = skip_ws(p, end);
    if (p == end)
        return SP_FORMAT_AUTO;
    if (*p == '{') {
        if (head_has(p, (size_t)(end - p), "\"resourceSpans\""))
            return SP_FORMAT_OTLP;
        if (head_has(p, (size_t)(end - p), "\"traceEvents\"") ||
            head_has(p, (size_t)(end - p), "\"schemaVersion\"") ||
            head_has(p, (size_t)(end - p), "\"deviceProperties\""))
            return SP_FORMAT_KINETO;
        if (head_has(p, (size_t)(end - p), "\"ev\""))
            return SP_FORMAT_JSONL;
        /* Triton may also write its trace objects one after another instead of in an array */
        if (head_has(p, (size_t)(end - p), "\"id\"") &&
            (head_has(p, (size_t)(end - p), "\"timestamps\"") || head_has(p, (size_t)(end - p), "\"model_name\"")))
            return SP_FORMAT_TRITON;
        return SP_FORMAT_AUTO;
    }
    if (*p == '[') {
        /* Triton writes an array of trace objects with "timestamps"; a Chrome trace may be a bare
         * array of events with "ph". */
        if (head_has(p, (size_t)(end - p), "\"timestamps\"") ||
            head_has(p, (size_t)(end - p), "\"model_name\""))
            return SP_FORMAT_TRITON;
        if (head_has(p, (size_t)(end - p), "\"ph\""))
            return SP_FORMAT_KINETO;
    }
    return SP_FORMAT_AUTO;
}

const char *sp_format_str(sp_format format)
{
    switch (format) {
    case SP_FORMAT_AUTO: return "auto";
    case SP_FORMAT_NATIVE: return "servprof native";
    case SP_FORMAT_JSONL: return "servprof.events/1 JSONL";
    case SP_FORMAT_KINETO: return "PyTorch profiler (Kineto) JSON";
    case SP_FORMAT_NSYS: return "Nsight Systems SQLite";
    case SP_FORMAT_TRITON: return "Triton trace JSON";
    case SP_FORMAT_OTLP: return "OTLP/JSON";
    }
    return "unknown";
}

/* Indexed by sp_format. */
static const char *const k_format_names[] = {"auto", "native", "jsonl", "kineto", "nsys", "triton", "otlp"};
_Static_assert(sizeof k_format_names / sizeof k_format_names[0] == SP_FORMAT_OTLP + 1, "one name per sp_format");

const char *sp_format_name(sp_format format)
{
    return (unsigned)format <= SP_FORMAT_OTLP ? k_format_names[format] : NULL;
}

sp_status sp_format_from_name(const char *name, sp_format *out)
{
    for (unsigned i = 0; name && i <= SP_FORMAT_OTLP; i++)
        if (strcmp(name, k_format_names[i]) == 0) {
            *out = (sp_format)i;
            return SP_OK;
        }
    return SP_ERR_INVALID;
}

void sp_load_options_init(sp_load_options *opt)
{
    memset(opt, 0, sizeof *opt);
}

sp_status sp_load_options_check(const sp_load_options *opt, char *err, size_t errlen)
{
    if (!opt)
        return SP_OK;
    if (opt->format < SP_FORMAT_AUTO || opt->format > SP_FORMAT_OTLP) {
        sp_errf(err, errlen, "unknown trace format %d", (int)opt->format);
        return SP_ERR_INVALID;
    }
    if (!opt->map || !*opt->map)
        return SP_OK;
    sp_annot_map *m = malloc(sizeof *m); /* about 13 KB: not on the caller's stack */
    if (!m)
        return SP_ERR_NOMEM;
    sp_status st = sp_annot_map_init(m, opt->map, NULL, err, errlen);
    free(m);
    return st;
}

static sp_import_fn importer_for(sp_format f)
{
    switch (f) {
    case SP_FORMAT_NATIVE: return sp_import_native;
    case SP_FORMAT_JSONL: return sp_import_jsonl;
    case SP_FORMAT_KINETO: return sp_import_kineto;
#ifdef SERVPROF_HAVE_SQLITE
    case SP_FORMAT_NSYS: return sp_import_nsys;
#else
    case SP_FORMAT_NSYS: return NULL;
#endif
    case SP_FORMAT_TRITON: return sp_import_triton;
    case SP_FORMAT_OTLP: return sp_import_otlp;
    case SP_FORMAT_AUTO: break;
    }
    return NULL;
}

/* Snapshot of the array sizes, so a failed load leaves the set with earlier files' events only. */
typedef struct ev_mark {
    size_t requests, spans, batches, members, acts, launches, files, clients, marks, props, traces, req_colds;
    size_t tokens, client_tokens, steps, step_members;
} ev_mark;

static void rollback(struct sp_events *ev, const ev_mark *m)
{
    /* Requests and batches created by the failed file must leave the id maps too: rebuilding them is
     * simplest and only happens on error. */
    ev->n_spans = m->spans;
    ev->n_members = m->members;
    ev->n_acts = m->acts;
    ev->n_launches = m->launches;
    ev->n_files = m->files;
    ev->n_clients = m->clients;
    ev->n_marks = m->marks;
    ev->n_props = m->props;
    ev->n_traces = m->traces;
    /* A file's importer gives side records, tokens and steps only to its own requests and batches,
     * all made after the mark (the earlier files' tokens were sorted by an earlier finish, if any,
     * and stay before it): left behind, they would name requests and batches that the next file
     * makes in the same places. */
    ev->n_req_colds = m->req_colds;
    ev->n_tokens = m->tokens;
    ev->n_client_tokens = m->client_tokens;
    ev->n_steps = m->steps;
    ev->n_step_members = m->step_members;
    if (ev->n_requests != m->requests || ev->n_batches != m->batches) {
        ev->n_requests = m->requests;
        ev->n_batches = m->batches;
        /* Re-entering fewer entries than the maps held needs no memory, unless keys pile up and a
         * map switches to mixed placement. If that fails, empty maps are still right: ids are per
         * file and the surviving files' imports are over, so their entries are never looked up. */
        if (sp_ev_rebuild_maps(ev) != SP_OK) {
            sp_hmap_clear(&ev->req_map);
            sp_hmap_clear(&ev->batch_map);
        }
    }
    ev->finished = false;
}

/* The schema of a servprof output document (a report, a what-if, a diff: `{"schema":"servprof.X/N"`
 * first, as the writers put it) at the head of a file, into `out`; 0 when the head is not one. */
static int servprof_schema(const unsigned char *head, size_t len, char *out, size_t outlen)
{
    static const char lead[] = "\"schema\"";
    size_t i = 0;
#define WS() while (i < len && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n')) i++
    WS();
    if (i >= len || head[i++] != '{')
        return 0;
    WS();
    if (len - i < sizeof lead - 1 || memcmp(head + i, lead, sizeof lead - 1) != 0)
        return 0;
    i += sizeof lead - 1;
    WS();
    if (i >= len || head[i++] != ':')
        return 0;
    WS();
#undef WS
    if (i >= len || head[i++] != '"' || len - i < 9 || memcmp(head + i, "servprof.", 9) != 0)
        return 0;
    size_t n = 0;
    while (i + n < len && head[i + n] != '"' && n < 40 && head[i + n] >= ' ')
        n++;
    if (i + n >= len || head[i + n] != '"')
        return 0;
    snprintf(out, outlen, "%.*s", (int)n, (const char *)head + i);
    return 1;
}

/* Two files' times an hour or more apart with nothing between make a report whose window, idle time
 * and bill span the gap: files on different clocks (Kineto and OTLP times are Unix time, Triton's
 * steady clock and an Nsight Systems session's are not), or runs hours apart. */
#define SP_FILE_GAP_WARN_NS (3600ull * 1000000000ull)

static void widen(sp_ev_file *f, uint64_t a, uint64_t b)
{
    if (a == SP_TIME_NONE || b == SP_TIME_NONE)
        return;
    if (!f->has_span || a < f->span_lo_ns)
        f->span_lo_ns = a;
    if (!f->has_span || b > f->span_hi_ns)
        f->span_hi_ns = b;
    f->has_span = true;
}

/* Two files' wall-clock anchors (unix_offset_ns: realtime - monotonic at open) further apart than this
 * are from different hosts or boots: one host's files differ by NTP's slew only (us to ms), and keep
 * their exact times. */
#define SP_ANCHOR_SAME_CLOCK_NS 1000000000ll

/* Can time `t` take `d` added and stay a time (not below 0, below SP_TIME_NONE)? "No time" always can:
 * it stays as it is. */
static bool shift_fits(uint64_t t, int64_t d)
{
    if (t == SP_TIME_NONE)
        return true;
    if (d < 0)
        return t >= (uint64_t)0 - (uint64_t)d;
    return t < SP_TIME_NONE - (uint64_t)d;
}

static void shift(uint64_t *t, int64_t d)
{
    if (*t != SP_TIME_NONE)
        *t += (uint64_t)d;   /* in range: shift_fits checked it; unsigned, so no overflow either way */
}

/* Applies `T` (a check or the shift itself) to a pointer to every time the records from `m` on give. Client records
 * are the file's too: one in the same file as its request is on that file's clock (offset 0, "same
 * trace", DESIGN section 8a), one in another file is reconciled by its pair's offset, which absorbs
 * the shift. Nothing else holds a time before sp_ev_finish. */
#define SP_FOR_FILE_TIMES(ev, m, T)                                                              \
    do {                                                                                         \
        for (size_t i_ = (m)->requests; i_ < (ev)->n_requests; i_++) {                           \
            T(&(ev)->requests[i_].arrival_ns); T(&(ev)->requests[i_].done_ns);                   \
        }                                                                                        \
        for (size_t i_ = (m)->spans; i_ < (ev)->n_spans; i_++) {                                 \
            T(&(ev)->spans[i_].start_ns); T(&(ev)->spans[i_].end_ns);                            \
        }                                                                                        \
        for (size_t i_ = (m)->batches; i_ < (ev)->n_batches; i_++) {                             \
            T(&(ev)->batches[i_].start_ns); T(&(ev)->batches[i_].end_ns);                        \
        }                                                                                        \
        for (size_t i_ = (m)->acts; i_ < (ev)->n_acts; i_++) {                                   \
            T(&(ev)->acts[i_].start_ns); T(&(ev)->acts[i_].end_ns);                              \
        }                                                                                        \
        for (size_t i_ = (m)->launches; i_ < (ev)->n_launches; i_++) {                           \
            T(&(ev)->launches[i_].start_ns); T(&(ev)->launches[i_].end_ns);                      \
        }                                                                                        \
        for (size_t i_ = (m)->marks; i_ < (ev)->n_marks; i_++) {                                 \
            T(&(ev)->marks[i_].start_ns); T(&(ev)->marks[i_].end_ns);                            \
        }                                                                                        \
        for (size_t i_ = (m)->tokens; i_ < (ev)->n_tokens; i_++)                                 \
            T(&(ev)->tokens[i_].time_ns);                                                        \
        for (size_t i_ = (m)->clients; i_ < (ev)->n_clients; i_++) {                             \
            T(&(ev)->clients[i_].intended_ns); T(&(ev)->clients[i_].send_ns);                    \
            T(&(ev)->clients[i_].done_ns); T(&(ev)->clients[i_].first_token_ns);                 \
        }                                                                                        \
        for (size_t i_ = (m)->client_tokens; i_ < (ev)->n_client_tokens; i_++)                   \
            T(&(ev)->client_tokens[i_]);                                                         \
    } while (0)

/* Puts file `file` on the clock of the first earlier file that has a wall-clock anchor and server
 * records (requests, batches or device work), when both have anchors further apart than
 * SP_ANCHOR_SAME_CLOCK_NS: replicas on different hosts, whose monotonic clocks differ by their boot
 * times (docs/cli.md). Every time of the file moves by the anchors' difference, exactly, and its
 * anchor becomes the earlier file's, so Unix times (export --otlp) stay what they were. Runs after
 * the file's import, before anything is sorted; the earlier files' spans are measured. */
static void align_file(struct sp_events *ev, uint32_t file, const ev_mark *m, const char *name)
{
    sp_ev_file *f = &ev->files[file];
    if (!f->has_unix_offset ||
        (ev->n_requests == m->requests && ev->n_batches == m->batches && ev->n_acts == m->acts))
        return;   /* no anchor, or no server records (a load generator's client trace): as loaded */
    uint32_t ref = 0;
    while (ref < file && !(ev->files[ref].has_unix_offset && ev->files[ref].has_span))
        ref++;
    if (ref == file)
        return;
    int64_t d;
    if (__builtin_sub_overflow(f->unix_offset_ns, ev->files[ref].unix_offset_ns, &d))
        d = INT64_MIN;   /* beyond any trace's times: refused below */
    if (d >= -SP_ANCHOR_SAME_CLOCK_NS && d <= SP_ANCHOR_SAME_CLOCK_NS)
        return;   /* one host's clock */
    bool fits = d != INT64_MIN;
#define FITS(t) fits = fits && shift_fits(*(t), d)
    SP_FOR_FILE_TIMES(ev, m, FITS);
#undef FITS
    if (!fits) {
        sp_log(SP_LOG_WARN, "%s: its wall-clock anchor (realtime - monotonic at open) is %.0f s from %s's, but "
               "its times moved by that would leave the range of times: left on its own clock", name,
               (double)(f->unix_offset_ns - (double)ev->files[ref].unix_offset_ns) / 1e9,
               sp_str_get(&ev->strings, ev->files[ref].path));
        return;
    }
#define SHIFT(t) shift((t), d)
    SP_FOR_FILE_TIMES(ev, m, SHIFT);
#undef SHIFT
    f->unix_offset_ns = ev->files[ref].unix_offset_ns;
    f->clock_shifted = true;
    f->clock_shift_ns = d;
    f->clock_onto = ref;
}

/* Notes the time range of the requests, batches and device work file `file` added (the records from
 * `m` on: an import only appends), and warns, once for the file, when it lies SP_FILE_GAP_WARN_NS or
 * more from the earlier files' with nothing between, or repeats an earlier file. Client records are left out: their clock is the
 * client's, which the analysis reconciles (DESIGN section 8a). First, once the earlier files are
 * measured, a file from another host is put on their clock by the files' anchors (align_file). */
static void check_file_span(struct sp_events *ev, uint32_t file, const ev_mark *m, const char *name)
{
    if (file == 0)
        return;   /* one file: nothing to compare, and its loading pays no extra pass */
    /* the earlier files not measured yet (the first, when the second comes): one pass over their
     * records, by the file each names (an analysis between loads may have reordered them) */
    bool scan = false;
    for (uint32_t i = 0; i < file; i++)
        scan |= !ev->files[i].span_done;
    if (scan) {
        for (size_t i = 0; i < m->requests; i++) {
            sp_ev_file *g = &ev->files[ev->requests[i].file];
            if (!g->span_done) {
                widen(g, ev->requests[i].arrival_ns, ev->requests[i].done_ns);
                g->span_records++;
            }
        }
        for (size_t i = 0; i < m->batches; i++) {
            sp_ev_file *g = &ev->files[ev->batches[i].file];
            if (!g->span_done) {
                widen(g, ev->batches[i].start_ns, ev->batches[i].end_ns);
                g->span_records++;
            }
        }
        for (size_t i = 0; i < m->acts; i++) {
            sp_ev_file *g = &ev->files[ev->acts[i].file];
            if (!g->span_done) {
                widen(g, ev->acts[i].start_ns, ev->acts[i].end_ns);
                g->span_records++;
            }
        }
        for (uint32_t i = 0; i < file; i++)
            ev->files[i].span_done = true;
    }
    align_file(ev, file, m, name);
    sp_ev_file *f = &ev->files[file];
    for (size_t i = m->requests; i < ev->n_requests; i++)
        widen(f, ev->requests[i].arrival_ns, ev->requests[i].done_ns);
    for (size_t i = m->batches; i < ev->n_batches; i++)
        widen(f, ev->batches[i].start_ns, ev->batches[i].end_ns);
    for (size_t i = m->acts; i < ev->n_acts; i++)
        widen(f, ev->acts[i].start_ns, ev->acts[i].end_ns);
    f->span_records = (ev->n_requests - m->requests) + (ev->n_batches - m->batches) + (ev->n_acts - m->acts);
    f->span_done = true;
    /* Another file with the very same span and number of records is this trace again under another
     * name (a copy, the .gz beside the file: the CLI refuses only the same file by path or inode), and
     * replicas' requests are all counted (docs/cli.md). Real replicas never match to the ns. */
    for (uint32_t i = 0; i < file && f->has_span; i++) {
        const sp_ev_file *g = &ev->files[i];
        if (g->has_span && g->span_lo_ns == f->span_lo_ns && g->span_hi_ns == f->span_hi_ns &&
            g->span_records == f->span_records) {
            sp_log(SP_LOG_WARN, "%s: the same %llu requests, batches and device records over the same times as "
                   "%s: the same trace given twice (a copy, or the file and its .gz)? Files are analysed "
                   "as replicas, so its requests and device time count twice", name,
                   (unsigned long long)f->span_records, sp_str_get(&ev->strings, g->path));
            break;
        }
    }
    sp_ev_file others = {0};
    for (uint32_t i = 0; i < file; i++)
        if (ev->files[i].has_span)
            widen(&others, ev->files[i].span_lo_ns, ev->files[i].span_hi_ns);
    if (!f->has_span || !others.has_span)
        return;   /* one side has no timed records */
    uint64_t gap = f->span_lo_ns > others.span_hi_ns ? f->span_lo_ns - others.span_hi_ns
                 : others.span_lo_ns > f->span_hi_ns ? others.span_lo_ns - f->span_hi_ns : 0;
    if (gap < SP_FILE_GAP_WARN_NS)
        return;
    double h = (double)gap / 3.6e12;
    char apart[48];
    if (h >= 2 * 24 * 365)
        snprintf(apart, sizeof apart, "%.0f years", h / (24 * 365.25));
    else if (h >= 48)
        snprintf(apart, sizeof apart, "%.0f days", h / 24);
    else
        snprintf(apart, sizeof apart, "%.1f hours", h);
    sp_log(SP_LOG_WARN, "%s: its times and the earlier files' are %s apart with nothing between: the files "
           "are on different clocks (Kineto and OTLP times are Unix time; Triton's and Nsight Systems' are "
           "not) or from runs that far apart, and the report's window, idle time and bill span the gap; "
           "analyse them one at a time", name, apart);
}

/* The sentence for a file that is no trace because it is packed in a way servprof does not unpack (gzip
 * it does), from its magic bytes; "" for anything else. The OpenTelemetry Collector's file exporter
 * writes zstd with `compression: zstd`, and length-prefixed protobuf with `format: proto` (a 4-byte
 * big-endian length, then field 1, resourceSpans, as bytes: 0x0A). */
static const char *packing_hint(const unsigned char *head, size_t len)
{
    if (len >= 4 && memcmp(head, "\x28\xB5\x2F\xFD", 4) == 0)
        return "; it is zstd-compressed (e.g. the OpenTelemetry Collector's file exporter with compression: "
               "zstd): decompress it first (zstd -d), servprof reads plain or gzip'd files";
    if (len >= 6 && memcmp(head, "\xFD" "7zXZ\x00", 6) == 0)
        return "; it is xz-compressed: decompress it first (xz -d), servprof reads plain or gzip'd files";
    if (len >= 3 && memcmp(head, "BZh", 3) == 0)
        return "; it is bzip2-compressed: decompress it first (bunzip2), servprof reads plain or gzip'd files";
    if (len >= 4 && memcmp(head, "PK\x03\x04", 4) == 0)
        return "; it is a zip archive: unzip it and give the trace files inside";
    if (len >= 5 && head[0] == 0 && head[4] == 0x0A)
        return "; it may be OTLP protobuf (the OpenTelemetry Collector's file exporter with format: proto): "
               "servprof reads OTLP/JSON (format: json)";
    return "";
}

static sp_status load(struct sp_events *ev, const char *name, sp_input *in, const sp_load_options *opt,
                      char *err, size_t errlen)
{
    sp_load_options defaults;
    if (!opt) {
        sp_load_options_init(&defaults);
        opt = &defaults;
    }
    if (err && errlen)
        err[0] = '\0';
    sp_status st = sp_input_start(in, name, err, errlen);
    if (st)
        return st;
    size_t head_len;
    const unsigned char *head = sp_input_head(in, &head_len);
    sp_format f = opt->format;
    if (f == SP_FORMAT_AUTO) {
        if (head_len == 0) {
            sp_errf(err, errlen, "%s: file is empty", name);
            return SP_ERR_FORMAT;
        }
        f = sp_detect_format(head, head_len);
        char schema[48];
        if (f == SP_FORMAT_AUTO && servprof_schema(head, head_len, schema, sizeof schema)) {
            /* servprof's own output given where a trace goes (`analyze report.json`): say what it is */
            sp_errf(err, errlen, "%s: a %s document servprof wrote, not a trace (servprof diff compares "
                    "servprof.report/1 reports; give the trace the report was made from)", name, schema);
            return SP_ERR_FORMAT;
        }
        if (f == SP_FORMAT_AUTO) {
            sp_errf(err, errlen,
                    "%s: not a trace servprof reads (expected servprof native, servprof.events/1 JSONL, "
                    "Kineto JSON, Nsight Systems SQLite, Triton trace JSON or OTLP/JSON)%s%s", name,
                    sp_import_export_hint(name), packing_hint(head, head_len));
            return SP_ERR_FORMAT;
        }
    }
    if (f == SP_FORMAT_NSYS && !sp_input_is_plain_file(in)) {
        /* SQLite reads the database file in place, so it cannot come through the stream */
        sp_errf(err, errlen, "%s: an Nsight Systems SQLite export must be an uncompressed file on disk%s", name,
                sp_input_is_gzip(in) ? " (this one is gzip'd: gunzip it first)" : "");
        return SP_ERR_FORMAT;
    }
    sp_import_fn fn = importer_for(f);
    if (!fn) {
        sp_errf(err, errlen, "%s: %s support was compiled out of this build", name, sp_format_str(f));
        return SP_ERR_UNSUPPORTED;
    }
    ev_mark mark = {ev->n_requests, ev->n_spans, ev->n_batches, ev->n_members,
                    ev->n_acts, ev->n_launches, ev->n_files, ev->n_clients, ev->n_marks, ev->n_props,
                    ev->n_traces, ev->n_req_colds, ev->n_tokens, ev->n_client_tokens, ev->n_steps,
                    ev->n_step_members};
    uint32_t file;
    if (ev->n_files >= SP_EV_MAX_FILES) {
        sp_errf(err, errlen, "%s: more than %u files in one load (the limit: each activity keeps its file in 16 bits)",
                name, SP_EV_MAX_FILES);
        return SP_ERR_LIMIT;
    }
    st = sp_ev_add_file(ev, name, f, &file);
    if (st) {
        sp_errf(err, errlen, "%s: %s", name, sp_status_str(st));
        return st;
    }
    sp_import_ctx ctx = {ev, file, name, in, opt, err, errlen, false};
    st = fn(&ctx);
    ev->load_skippable = st != SP_OK && ctx.skippable;
    if (st == SP_OK) {
        sp_input_progress_done(in);
        check_file_span(ev, file, &mark, name);
    }
    if (st) {
        if (err && errlen && !err[0])
            sp_errf(err, errlen, "%s: %s", name, sp_status_str(st));
        rollback(ev, &mark);
    }
    return st;
}

int sp_events_load_skippable(const sp_events *ev)
{
    return ev && ev->load_skippable;
}

sp_status sp_events_load_file(sp_events *ev, const char *path, const sp_load_options *opt, char *err,
                              size_t errlen)
{
    if (!ev || !path) {
        sp_errf(err, errlen, "no file given");
        return SP_ERR_INVALID;
    }
    if (ev->released) {
        sp_errf(err, errlen, "the event set was released by an analysis (release_events): load into a new one");
        return SP_ERR_STATE;
    }
    ev->load_skippable = false;
    sp_status st = sp_load_options_check(opt, err, errlen);
    if (st)
        return st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sp_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return SP_ERR_IO;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    /* one front-to-back pass: a larger readahead when the file is not in the page cache (advice only,
     * so its result does not matter) */
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    sp_input *in;
    st = sp_input_open_fd(fd, &in);
    if (st) {
        sp_errf(err, errlen, "%s: %s", path, sp_status_str(st));
        return st;
    }
    if (opt && opt->progress) {
        struct stat sb;
        uint64_t total = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
        sp_input_set_progress(in, opt->progress, opt->progress_user, path, total);
    }
    st = load(ev, path, in, opt, err, errlen);
    sp_input_close(in);
    return st;
}

sp_status sp_events_load_buffer(sp_events *ev, const char *name, const void *data, size_t len,
                                const sp_load_options *opt, char *err, size_t errlen)
{
    if (!ev || (!data && len)) {
        sp_errf(err, errlen, "no data given");
        return SP_ERR_INVALID;
    }
    if (ev->released) {
        sp_errf(err, errlen, "the event set was released by an analysis (release_events): load into a new one");
        return SP_ERR_STATE;
    }
    ev->load_skippable = false;
    sp_status st = sp_load_options_check(opt, err, errlen);
    if (st)
        return st;
    sp_input *in;
    st = sp_input_open_mem(data, len, 0, &in);
    if (st) {
        sp_errf(err, errlen, "%s: %s", name ? name : "(memory)", sp_status_str(st));
        return st;
    }
    if (opt && opt->progress)
        sp_input_set_progress(in, opt->progress, opt->progress_user, name ? name : "(memory)", len);
    st = load(ev, name ? name : "(memory)", in, opt, err, errlen);
    sp_input_close(in);
    return st;
}
