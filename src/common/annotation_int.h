/* servprof's serving-annotation convention: the range-name parser and the --map spec
 * (docs/annotations.md). Plain C on (ptr, len), no event model: the importers that read named ranges
 * (Kineto record_function ranges, Nsight NVTX ranges, through import/annotation_int.h) and the CUPTI
 * collector's NVTX batch ranges share it, so a range name means the same to all of them. */
#ifndef SERVPROF_COMMON_ANNOTATION_INT_H
#define SERVPROF_COMMON_ANNOTATION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "servprof/servprof.h"

#define SP_ANNOT_MAX_MAP 64          /* map entries, the three defaults included */
#define SP_ANNOT_MAX_USER_MAP 60     /* entries a --map spec may give */
#define SP_ANNOT_MAX_MEMBERS 4096    /* ids in one name's member list (as the recorder) */
#define SP_ANNOT_MAX_PREFIX 128
#define SP_ANNOT_MAX_STAGE 64

/* Roles of a range (docs/annotations.md). */
enum sp_annot_role { SP_ANNOT_NONE = 0, SP_ANNOT_REQUEST, SP_ANNOT_BATCH, SP_ANNOT_STAGE };

typedef struct sp_annot_map_entry {
    uint8_t role;
    size_t plen;
    char prefix[SP_ANNOT_MAX_PREFIX];
    char stage[SP_ANNOT_MAX_STAGE];   /* SP_ANNOT_STAGE: the stage; "" means "the text after the prefix" */
} sp_annot_map_entry;

/* The user's --map entries, then the default servprof.* names. */
typedef struct sp_annot_map {
    sp_annot_map_entry entry[SP_ANNOT_MAX_MAP];
    size_t n;
} sp_annot_map;

/* Parses a --map spec ("role=prefix[,role=prefix...]", role request, batch or stage:<name>; NULL or ""
 * for none) and appends the defaults. SP_ERR_INVALID with a message "<file>: --map entry "...": why"
 * in err for a malformed spec (without "<file>: " when file is NULL); `*m` is complete only on SP_OK. */
sp_status sp_annot_map_init(sp_annot_map *m, const char *spec, const char *file, char *err, size_t errlen);

/* A parsed range name. Pointers borrow the name (or the map's stage text). */
typedef struct sp_annot_name {
    uint8_t role;
    const char *stage;          /* SP_ANNOT_STAGE */
    size_t stage_len;
    bool has_id;                /* ":<id>" given */
    const char *id;             /* its text */
    size_t id_len;
    int64_t batch_id;           /* SP_ANNOT_BATCH with has_id: the integer (see batch_id_big) */
    bool batch_id_big;          /* the id is an integer outside int64 (the CUPTI collector's ids are u64) */
    const char *list;           /* "[a,b]": the text between the brackets, NULL without a list */
    size_t list_len;
    uint32_t nmembers;          /* non-empty ids in the list */
    int64_t eff, pad, tokens;   /* ;effective= / ;padded= / ;tokens=, -1 when absent */
} sp_annot_name;

/* Matches `name` (n bytes, not necessarily NUL-terminated) against the map and parses the rest:
 *   PREFIX[STAGE-NAME][:ID][[ID,ID,...]][;key=value...]
 * Returns 1 (ours; *out filled), 0 (not ours) or -1 (ours but malformed; *why says why). */
int sp_annot_parse(const sp_annot_map *m, const char *name, size_t n, sp_annot_name *out, const char **why);

/* The next non-empty id of a parsed member list; *pos starts at 0. False after the last. */
bool sp_annot_member_next(const sp_annot_name *a, size_t *pos, const char **id, size_t *len);

#endif
