/* Importer for Nsight Systems SQLite exports (`nsys export --type sqlite`; docs/nsys.md): kernels,
 * memcpy, memset, synchronisation and CUDA runtime launch calls from the CUPTI tables, and NVTX ranges
 * that follow servprof's annotation convention as requests, stages and batches. The database is
 * untrusted input: it is opened read-only with extensions, untrusted schema and writes off. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/util_int.h"
#include "import/annotation_int.h"
#include "import/import_int.h"
#include "import/step_marks_int.h"

#define NSYS_MAX_TEXT (1 << 20)          /* SQLITE_LIMIT_LENGTH: longest string or blob read */
#define NSYS_BUSY_MS 2000                /* a database another process holds locked */

/* The export schema majors this build reads (META_DATA_EXPORT's EXPORT_SCHEMA_VERSION). */
#define NSYS_SCHEMA_MIN 2
#define NSYS_SCHEMA_MAX 3

typedef struct nsys {
    sp_import_ctx *ctx;
    sqlite3 *db;
    bool lenient;
    char version[64];
    sp_annot_map map;            /* --map entries, then the servprof.* names */
    sp_annot_set annots;         /* NVTX ranges that follow the convention */
    sp_mark_cands marks;         /* other NVTX push/pop ranges: step-mark candidates */
} nsys;

static sp_status failf(nsys *n, sp_status st, const char *fmt, ...) SP_PRINTF(3, 4);

static sp_status failf(nsys *n, sp_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sp_import_vfail(n->ctx, st, "", fmt, ap);
    va_end(ap);
    return st;
}

/* An SQLite failure while reading `table`: corruption and "not a database" are format errors. */
static sp_status db_fail(nsys *n, int rc, const char *table)
{
    int base = rc & 0xff;
    sp_status st = base == SQLITE_NOMEM ? SP_ERR_NOMEM
                 : base == SQLITE_NOTADB ? SP_ERR_FORMAT
                 : base == SQLITE_CORRUPT || base == SQLITE_TOOBIG || base == SQLITE_ERROR ? SP_ERR_PARSE
                 : SP_ERR_IO;
    const char *what = base == SQLITE_NOTADB ? "not an SQLite database"
                     : base == SQLITE_CORRUPT ? "the database is corrupt"
                     : base == SQLITE_TOOBIG ? "a value is larger than the importer's limit"
                     : "SQLite error";
    if (!table) /* the file itself: "FILE: not an SQLite database (...)", one colon after the name */
        return failf(n, st, "%s (%s)%s", what, sqlite3_errmsg(n->db),
                     base == SQLITE_NOTADB ? sp_import_export_hint(n->ctx->name) : "");
    return failf(n, st, "table %s: %s (%s)", table, what, sqlite3_errmsg(n->db));
}

/* A malformed row: an error, or under lenient counted and skipped. */
static sp_status row_fail(nsys *n, const char *table, sqlite3_int64 rowid, const char *fmt, ...) SP_PRINTF(4, 5);

static sp_status row_fail(nsys *n, const char *table, sqlite3_int64 rowid, const char *fmt, ...)
{
    sp_import_ctx *c = n->ctx;
    char where[128];   /* table names are this importer's own constants */
    snprintf(where, sizeof where, ": table %s, row %lld", table, (long long)rowid);
    va_list ap;
    va_start(ap, fmt);
    sp_import_vfail(c, SP_OK, where, fmt, ap);
    va_end(ap);
    if (!n->lenient) {
        c->skippable = true;
        return SP_ERR_PARSE;
    }
    uint64_t cnt = ++c->ev->files[c->file].skipped;
    if (cnt <= 10)
        sp_log(SP_LOG_WARN, "skipped malformed row: %s", c->err ? c->err : "");
    return SP_OK;
}

static sp_status model_fail(nsys *n, sp_status st, const char *table)
{
    return failf(n, st, "table %s: %s", table,
                 st == SP_ERR_LIMIT ? "too many events (over the event model's limit)" : sp_status_str(st));
}

/* 1 if `name` is a table (not a view: a view's SQL would run), 0 if absent, < 0 on error. */
static int table_exists(nsys *n, const char *name, sp_status *st)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(n->db, "SELECT type FROM sqlite_master WHERE name = ?1", -1, &q, NULL);
    if (rc != SQLITE_OK) {
        *st = db_fail(n, rc, NULL);
        return -1;
    }
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    int found = 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *type = sqlite3_column_text(q, 0);
        if (type && strcmp((const char *)type, "table") == 0) {
            found = 1;
        } else {
            *st = failf(n, SP_ERR_FORMAT, "%s is a %s, not a table (not an Nsight Systems export)", name,
                        type ? (const char *)type : "?");
            found = -1;
        }
    } else if (rc != SQLITE_DONE) {
        *st = db_fail(n, rc, NULL);
        found = -1;
    }
    sqlite3_finalize(q);
    return found;
}

/* 1 if `table` has column `col`, 0 if not, < 0 on error. */
static int has_column(nsys *n, const char *table, const char *col, sp_status *st)
{
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(n->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &q, NULL);
    if (rc != SQLITE_OK) {
        *st = db_fail(n, rc, table);
        return -1;
    }
    sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, col, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    int r = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (r < 0)
        *st = db_fail(n, rc, table);
    sqlite3_finalize(q);
    return r;
}

/* Checks that every column in the NULL-terminated list exists. */
static sp_status need_columns(nsys *n, const char *table, const char *const *cols)
{
    sp_status st = SP_OK;
    for (; *cols; cols++) {
        int r = has_column(n, table, *cols, &st);
        if (r < 0)
            return st;
        if (r == 0)
            return failf(n, SP_ERR_FORMAT, "table %s has no column %s (export schema version %s)", table, *cols,
                         n->version);
    }
    return SP_OK;
}

static sp_status check_version(nsys *n)
{
    sp_status st = SP_OK;
    int t = table_exists(n, "META_DATA_EXPORT", &st);
    if (t < 0)
        return st;
    if (t == 0)
        return failf(n, SP_ERR_FORMAT, "not an Nsight Systems export: no META_DATA_EXPORT table (expected the "
                     "SQLite file written by `nsys export --type sqlite`)");
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(n->db, "SELECT value FROM META_DATA_EXPORT WHERE name = 'EXPORT_SCHEMA_VERSION'",
                                -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_fail(n, rc, "META_DATA_EXPORT");
    rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(q);
        if (rc != SQLITE_DONE)
            return db_fail(n, rc, "META_DATA_EXPORT");
        return failf(n, SP_ERR_FORMAT, "META_DATA_EXPORT has no EXPORT_SCHEMA_VERSION (this build reads export "
                     "schema versions %d.x to %d.x)", NSYS_SCHEMA_MIN, NSYS_SCHEMA_MAX);
    }
    const unsigned char *v = sqlite3_column_text(q, 0);
    snprintf(n->version, sizeof n->version, "%s", v ? (const char *)v : "");
    sqlite3_finalize(q);
    char *end;
    long major = strtol(n->version, &end, 10);
    if (end == n->version || (*end != '\0' && *end != '.') || major < NSYS_SCHEMA_MIN || major > NSYS_SCHEMA_MAX)
        return failf(n, SP_ERR_FORMAT, "unsupported Nsight Systems export schema version \"%.40s\" (this build "
                     "reads export schema versions %d.x to %d.x)", n->version, NSYS_SCHEMA_MIN, NSYS_SCHEMA_MAX);
    return SP_OK;
}

/* Text of column `i` as an interned string, cut to the model's limit at a UTF-8 boundary. */
static sp_status intern_col(nsys *n, sqlite3_stmt *q, int i, const char *fallback, sp_str *out)
{
    const char *s = (const char *)sqlite3_column_text(q, i);
    size_t len = s ? (size_t)sqlite3_column_bytes(q, i) : 0;
    if (!s || len == 0) {
        s = fallback;
        len = strlen(fallback);
    }
    const char *nul = memchr(s, '\0', len);
    if (nul)
        len = (size_t)(nul - s);
    if (len >= SP_EV_MAX_STRING) {
        len = SP_EV_MAX_STRING - 1;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    return sp_str_intern(&n->ctx->ev->strings, s, len, out);
}

/* Reads start (col 1) and end (col 2) as times; rowid is col 0. Returns false on a bad row. */
static bool row_times(sqlite3_stmt *q, uint64_t *start, uint64_t *end, const char **why)
{
    if (sqlite3_column_type(q, 1) != SQLITE_INTEGER || sqlite3_column_type(q, 2) != SQLITE_INTEGER) {
        *why = "start and end must be integers (ns)";
        return false;
    }
    sqlite3_int64 s = sqlite3_column_int64(q, 1), e = sqlite3_column_int64(q, 2);
    if (s < 0 || e < s) {
        *why = s < 0 ? "start is negative" : "end is before start";
        return false;
    }
    *start = (uint64_t)s;
    *end = (uint64_t)e;
    return true;
}

static int64_t col_int(sqlite3_stmt *q, int i, int64_t dflt)
{
    return sqlite3_column_type(q, i) == SQLITE_INTEGER ? (int64_t)sqlite3_column_int64(q, i) : dflt;
}

/* CUPTI_ActivityMemcpyKind to the model's copy kinds: host to device (pageable, pinned or array),
 * device to host, and device-side copies (device, array, peer) as d2d. */
static uint8_t copy_kind(int64_t k)
{
    switch (k) {
    case 1: case 3: return SP_ACT_H2D;              /* HtoD, HtoA */
    case 2: case 4: return SP_ACT_D2H;              /* DtoH, AtoH */
    case 5: case 6: case 7: case 8: case 10: return SP_ACT_D2D;  /* AtoA, AtoD, DtoA, DtoD, PtoP */
    default: return SP_ACT_COPY_OTHER;              /* unknown, HtoH */
    }
}

enum act_table { T_KERNEL, T_MEMCPY, T_MEMSET, T_SYNC };

/* Reads one device-activity table. */
static sp_status read_activity(nsys *n, enum act_table which)
{
    static const char *const names[] = {"CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY",
                                        "CUPTI_ACTIVITY_KIND_MEMSET", "CUPTI_ACTIVITY_KIND_SYNCHRONIZATION"};
    const char *table = names[which];
    sp_status st = SP_OK;
    int t = table_exists(n, table, &st);
    if (t <= 0)
        return st;   /* a missing table is fine: the trace has none of that activity */
    static const char *const base_cols[] = {"start", "end", "deviceId", "streamId", "correlationId", NULL};
    if ((st = need_columns(n, table, base_cols)))
        return st;
    char sql[512];
    if (which == T_KERNEL) {
        int dem = has_column(n, table, "demangledName", &st);
        if (dem < 0)
            return st;
        int shortn = dem ? 0 : has_column(n, table, "shortName", &st);
        if (shortn < 0)
            return st;
        const char *namecol = dem ? "demangledName" : shortn ? "shortName" : NULL;
        int strs = table_exists(n, "StringIds", &st);
        if (strs < 0)
            return st;
        if (namecol && strs)
            snprintf(sql, sizeof sql, "SELECT a.rowid, a.start, a.end, a.deviceId, a.streamId, a.correlationId, "
                     "s.value FROM %s a LEFT JOIN StringIds s ON s.id = a.%s", table, namecol);
        else
            snprintf(sql, sizeof sql, "SELECT rowid, start, end, deviceId, streamId, correlationId, NULL FROM %s",
                     table);
    } else {
        const char *kindcol = "NULL", *bytescol = "NULL";
        if (which == T_MEMCPY) {
            static const char *const c[] = {"copyKind", "bytes", NULL};
            if ((st = need_columns(n, table, c)))
                return st;
            kindcol = "copyKind";
            bytescol = "bytes";
        } else if (which == T_MEMSET) {
            static const char *const c[] = {"bytes", NULL};
            if ((st = need_columns(n, table, c)))
                return st;
            bytescol = "bytes";
        }
        snprintf(sql, sizeof sql, "SELECT rowid, start, end, deviceId, streamId, correlationId, %s, %s FROM %s",
                 kindcol, bytescol, table);
    }
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(n->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_fail(n, rc, table);
    struct sp_events *ev = n->ctx->ev;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        sqlite3_int64 rowid = sqlite3_column_int64(q, 0);
        sp_ev_activity a;
        memset(&a, 0, sizeof a);
        a.batch = SP_EV_NONE;
        a.file = (uint16_t)n->ctx->file; /* < SP_EV_MAX_FILES (sp_ev_add_file) */
        const char *why;
        if (!row_times(q, &a.start_ns, &a.end_ns, &why)) {
            if ((st = row_fail(n, table, rowid, "%s", why)))
                break;
            continue;
        }
        int64_t dev = col_int(q, 3, 0);
        if (dev < 0 || dev > (int64_t)UINT32_MAX - 1) {
            if ((st = row_fail(n, table, rowid, "deviceId %lld is out of range", (long long)dev)))
                break;
            continue;
        }
        a.device = (uint32_t)dev;
        if ((st = sp_ev_stream_id(ev, col_int(q, 4, 0), &a.stream_ix))) {
            st = model_fail(n, st, table);
            break;
        }
        int64_t corr = col_int(q, 5, 0);
        a.correlation = corr > 0 ? (uint64_t)corr : 0;
        if (which == T_KERNEL) {
            a.kind = SP_ACT_KERNEL;
            if ((st = intern_col(n, q, 6, "(unnamed kernel)", &a.nb.name)))
                break;
        } else if (which == T_SYNC) {
            a.kind = SP_ACT_SYNC;
        } else {
            a.kind = which == T_MEMSET ? SP_ACT_MEMSET : copy_kind(col_int(q, 6, 0));
            int64_t bytes = col_int(q, 7, -1);
            if (bytes < 0) {
                if ((st = row_fail(n, table, rowid, "bytes must be a non-negative integer")))
                    break;
                continue;
            }
            a.nb.bytes = (uint64_t)bytes;
        }
        if ((st = sp_ev_add_activity(ev, &a))) {
            st = model_fail(n, st, table);
            break;
        }
    }
    if (st == SP_OK && rc != SQLITE_DONE)
        st = db_fail(n, rc, table);
    sqlite3_finalize(q);
    return st;
}

/* CUDA runtime calls whose correlation id a kernel carries: the launch calls (DESIGN section 6). */
static sp_status read_launches(nsys *n)
{
    const char *table = "CUPTI_ACTIVITY_KIND_RUNTIME";
    sp_status st = SP_OK;
    int t = table_exists(n, table, &st);
    if (t <= 0)
        return st;
    int k = table_exists(n, "CUPTI_ACTIVITY_KIND_KERNEL", &st);
    if (k <= 0)
        return st;   /* no kernels: no launches to join */
    static const char *const cols[] = {"start", "end", "correlationId", "nameId", NULL};
    if ((st = need_columns(n, table, cols)))
        return st;
    int strs = table_exists(n, "StringIds", &st);
    if (strs < 0)
        return st;
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT r.rowid, r.start, r.end, r.correlationId, %s FROM %s r %s "
             "WHERE r.correlationId IN (SELECT correlationId FROM CUPTI_ACTIVITY_KIND_KERNEL)",
             strs ? "s.value" : "NULL", table, strs ? "LEFT JOIN StringIds s ON s.id = r.nameId" : "");
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(n->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_fail(n, rc, table);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        sqlite3_int64 rowid = sqlite3_column_int64(q, 0);
        sp_ev_launch l;
        memset(&l, 0, sizeof l);
        l.file = n->ctx->file;
        const char *why;
        if (!row_times(q, &l.start_ns, &l.end_ns, &why)) {
            if ((st = row_fail(n, table, rowid, "%s", why)))
                break;
            continue;
        }
        int64_t corr = col_int(q, 3, 0);
        l.correlation = corr > 0 ? (uint64_t)corr : 0;
        if ((st = intern_col(n, q, 4, "(unnamed runtime call)", &l.name)))
            break;
        if ((st = sp_ev_add_launch(n->ctx->ev, &l))) {
            st = model_fail(n, st, table);
            break;
        }
    }
    if (st == SP_OK && rc != SQLITE_DONE)
        st = db_fail(n, rc, table);
    sqlite3_finalize(q);
    return st;
}

/* ---------- NVTX ranges: servprof's annotation convention (docs/annotations.md), step marks ---------- */

#define NSYS_NVTX_PUSH_POP 59   /* NVTX_EVENTS.eventType of a push/pop range */

/* A push/pop range that is not a serving annotation may mark a step (docs/nsys.md, "Steps"); which
 * candidates become marks is decided once all are read (sp_mark_cands_commit). */
static sp_status nvtx_mark_candidate(nsys *n, sqlite3_stmt *q, const char *s, size_t len, int has_type)
{
    if (has_type && col_int(q, 5, 0) != NSYS_NVTX_PUSH_POP)
        return SP_OK;
    if (sp_mark_name_excluded(s, len))
        return SP_OK;
    uint64_t start, end;
    const char *why;
    if (!row_times(q, &start, &end, &why) || start > INT64_MAX || end > INT64_MAX)
        return SP_OK;   /* someone else's malformed range: not ours to judge */
    sp_str name;
    sp_status st = intern_col(n, q, 3, "", &name);
    if (!st)
        st = sp_mark_cands_add(&n->marks, (int64_t)start, (int64_t)end, (uint64_t)col_int(q, 4, 0), name,
                               SP_MARK_NVTX);
    return st;
}

static sp_status read_nvtx(nsys *n)
{
    const char *table = "NVTX_EVENTS";
    sp_status st = SP_OK;
    int t = table_exists(n, table, &st);
    if (t <= 0)
        return st;
    static const char *const cols[] = {"start", "end", NULL};
    if ((st = need_columns(n, table, cols)))
        return st;
    int text = has_column(n, table, "text", &st);
    if (text < 0)
        return st;
    int textid = has_column(n, table, "textId", &st);
    if (textid < 0)
        return st;
    int strs = textid ? table_exists(n, "StringIds", &st) : 0;
    if (strs < 0)
        return st;
    if (!text && !(textid && strs))
        return SP_OK;   /* ranges without text cannot carry the convention */
    int tid = has_column(n, table, "globalTid", &st);
    if (tid < 0)
        return st;
    int type = has_column(n, table, "eventType", &st);
    if (type < 0)
        return st;
    char sql[512];
    /* ranges only: marks have no end */
    snprintf(sql, sizeof sql, "SELECT n.rowid, n.start, n.end, %s, %s, %s FROM %s n %s WHERE n.end IS NOT NULL",
             text && textid && strs ? "COALESCE(n.text, s.value)" : text ? "n.text" : "s.value",
             tid ? "n.globalTid" : "NULL", type ? "n.eventType" : "NULL", table,
             textid && strs ? "LEFT JOIN StringIds s ON s.id = n.textId" : "");
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(n->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        return db_fail(n, rc, table);
    struct sp_events *ev = n->ctx->ev;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(q, 3);
        size_t len = s ? (size_t)sqlite3_column_bytes(q, 3) : 0;
        sp_annot_name a;
        const char *why = NULL;
        int r = s ? sp_annot_parse(&n->map, s, len, &a, &why) : 0;
        if (r == 0) {
            if (len >= 9 && memcmp(s, "servprof.", 9) == 0)
                ev->files[n->ctx->file].ignored++;   /* a later convention's annotation */
            else if (s && (st = nvtx_mark_candidate(n, q, s, len, type))) {   /* someone else's range */
                st = model_fail(n, st, table);
                break;
            }
            continue;
        }
        sqlite3_int64 rowid = sqlite3_column_int64(q, 0);
        uint64_t start, end;
        if (!row_times(q, &start, &end, &why)) {
            if ((st = row_fail(n, table, rowid, "%s", why)))
                break;
            continue;
        }
        sp_status ast = r < 0 ? SP_ERR_PARSE
                              : sp_annot_set_add(&n->annots, ev, &a, (int64_t)start, (int64_t)end,
                                                 (uint64_t)col_int(q, 4, 0), false, &why);
        if (ast == SP_ERR_PARSE) {
            if ((st = row_fail(n, table, rowid, "annotation \"%.*s\": %s (docs/annotations.md)",
                               (int)(len > 80 ? 80 : len), s, why)))
                break;
            continue;
        }
        if (ast) {
            st = model_fail(n, ast, table);
            break;
        }
    }
    if (st == SP_OK && rc != SQLITE_DONE)
        st = db_fail(n, rc, table);
    sqlite3_finalize(q);
    if (st == SP_OK && (st = sp_annot_set_resolve(&n->annots, ev, n->ctx->file)))
        st = model_fail(n, st, table);
    if (st == SP_OK && (st = sp_mark_cands_commit(&n->marks, ev, n->ctx->file)))
        st = model_fail(n, st, table);
    return st;
}

/* What the export holds no table of, said once: nsys writes a table only for what it traced and
 * found, so a report with no device activity or no requests is explained by the profile's options
 * (`nsys profile -t cuda,nvtx`), not by servprof. */
static sp_status warn_untraced(nsys *n)
{
    sp_status st = SP_OK;
    int kernels = table_exists(n, "CUPTI_ACTIVITY_KIND_KERNEL", &st);
    if (kernels < 0)
        return st;
    int nvtx = table_exists(n, "NVTX_EVENTS", &st);
    if (nvtx < 0)
        return st;
    if (!kernels && !nvtx)
        sp_log(SP_LOG_WARN, "%s: no CUDA kernel and no NVTX range in the export (no CUPTI_ACTIVITY_KIND_KERNEL "
               "or NVTX_EVENTS table): the report holds neither device activity nor requests; profile with "
               "`nsys profile -t cuda,nvtx`", n->ctx->name);
    else if (!kernels)
        sp_log(SP_LOG_WARN, "%s: no CUDA kernel in the export (no CUPTI_ACTIVITY_KIND_KERNEL table): the report "
               "has no kernel time; was CUDA traced (`nsys profile -t cuda,nvtx`)?", n->ctx->name);
    else if (!nvtx)
        sp_log(SP_LOG_WARN, "%s: no NVTX range in the export (no NVTX_EVENTS table): the report has no requests, "
               "stages or step marks, which come from NVTX ranges (docs/nsys.md; `nsys profile -t cuda,nvtx`)",
               n->ctx->name);
    return SP_OK;
}

static sp_status open_db(nsys *n)
{
    int rc = sqlite3_open_v2(n->ctx->name, &n->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return failf(n, SP_ERR_IO, "cannot open as SQLite: %s", n->db ? sqlite3_errmsg(n->db) : sqlite3_errstr(rc));
    /* untrusted file: no extensions, no functions with side effects from its schema, no writes to the
     * schema tables, bounded values and no attached databases */
    sqlite3_db_config(n->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
    sqlite3_db_config(n->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
#endif
#ifdef SQLITE_DBCONFIG_DEFENSIVE
    sqlite3_db_config(n->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
#endif
    sqlite3_busy_timeout(n->db, NSYS_BUSY_MS);
    sqlite3_limit(n->db, SQLITE_LIMIT_LENGTH, NSYS_MAX_TEXT);
    sqlite3_limit(n->db, SQLITE_LIMIT_SQL_LENGTH, 4096);
    sqlite3_limit(n->db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(n->db, SQLITE_LIMIT_EXPR_DEPTH, 64);
    /* the first read of the schema tells a database from a corrupt or foreign file */
    sqlite3_stmt *q;
    rc = sqlite3_prepare_v2(n->db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(q);
        sqlite3_finalize(q);
        if (rc == SQLITE_ROW)
            rc = SQLITE_OK;
    }
    return rc == SQLITE_OK ? SP_OK : db_fail(n, rc, NULL);
}

sp_status sp_import_nsys(sp_import_ctx *ctx)
{
    nsys *n = calloc(1, sizeof *n);   /* the map is 12 KiB: not on the stack */
    if (!n)
        return SP_ERR_NOMEM;
    n->ctx = ctx;
    n->lenient = ctx->opt && ctx->opt->lenient;
    size_t r0 = ctx->ev->n_requests, s0 = ctx->ev->n_spans;
    sp_status st = sp_annot_map_init(&n->map, ctx->opt ? ctx->opt->map : NULL, ctx->name, ctx->err, ctx->errlen);
    if (st == SP_OK)
        st = open_db(n);
    if (st == SP_OK)
        st = check_version(n);
    if (st == SP_OK)
        st = read_activity(n, T_KERNEL);
    if (st == SP_OK)
        st = read_activity(n, T_MEMCPY);
    if (st == SP_OK)
        st = read_activity(n, T_MEMSET);
    if (st == SP_OK)
        st = read_activity(n, T_SYNC);
    if (st == SP_OK)
        st = read_launches(n);
    if (st == SP_OK)
        st = read_nvtx(n);
    if (st == SP_OK)
        st = warn_untraced(n);
    if (st == SP_OK)
        sp_annot_fill_requests(ctx->ev, ctx->file, r0, s0);
    if (st == SP_OK && ctx->err && ctx->errlen)
        ctx->err[0] = '\0';
    sqlite3_close_v2(n->db);
    sp_annot_set_free(&n->annots);
    sp_mark_cands_free(&n->marks);
    free(n);
    return st;
}
