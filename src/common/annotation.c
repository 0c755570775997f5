/* The serving-annotation name parser and the --map spec (docs/annotations.md): plain C on (ptr, len)
 * with no dependency on the event model, so the importers and the CUPTI collector share it. */
#include <string.h>

#include "common/annotation_int.h"
#include "common/util_int.h"

static void map_add(sp_annot_map *m, uint8_t role, const char *prefix, size_t plen, const char *stage, size_t slen)
{
    sp_annot_map_entry *e = &m->entry[m->n++];
    memset(e, 0, sizeof *e);
    e->role = role;
    memcpy(e->prefix, prefix, plen);
    e->plen = plen;
    memcpy(e->stage, stage, slen);
}

sp_status sp_annot_map_init(sp_annot_map *m, const char *spec, const char *file, char *err, size_t errlen)
{
    m->n = 0;
    while (spec && *spec) {
        const char *comma = strchr(spec, ',');
        size_t n = comma ? (size_t)(comma - spec) : strlen(spec);
        const char *eq = memchr(spec, '=', n);
        const char *bad = NULL;
        uint8_t role = SP_ANNOT_NONE;
        const char *stage = "";
        size_t slen = 0;
        if (!eq || eq == spec || eq + 1 == spec + n)
            bad = "expected role=prefix";
        else {
            size_t rl = (size_t)(eq - spec);
            if (rl == 7 && memcmp(spec, "request", 7) == 0)
                role = SP_ANNOT_REQUEST;
            else if (rl == 5 && memcmp(spec, "batch", 5) == 0)
                role = SP_ANNOT_BATCH;
            else if (rl > 6 && memcmp(spec, "stage:", 6) == 0) {
                role = SP_ANNOT_STAGE;
                stage = spec + 6;
                slen = rl - 6;
                if (slen >= SP_ANNOT_MAX_STAGE)
                    bad = "stage name too long (at most 63 bytes)";
            } else
                bad = "unknown role (expected request, batch or stage:<name>)";
        }
        size_t plen = eq ? (size_t)(spec + n - eq - 1) : 0;
        if (!bad && plen >= SP_ANNOT_MAX_PREFIX)
            bad = "prefix too long (at most 127 bytes)";
        if (!bad && m->n >= SP_ANNOT_MAX_USER_MAP)
            bad = "too many entries (at most 60)";
        if (bad) {
            sp_errf(err, errlen, "%s%s--map entry \"%.*s\": %s", file ? file : "", file ? ": " : "",
                    (int)(n > 80 ? 80 : n), spec, bad);
            return SP_ERR_INVALID;
        }
        map_add(m, role, eq + 1, plen, stage, slen);
        spec = comma ? comma + 1 : NULL;
    }
    map_add(m, SP_ANNOT_REQUEST, "servprof.request", 16, "", 0);
    map_add(m, SP_ANNOT_BATCH, "servprof.batch", 14, "", 0);
    map_add(m, SP_ANNOT_STAGE, "servprof.stage.", 15, "", 0);
    return SP_OK;
}

/* A non-negative decimal integer of at most 18 digits (keys; always fits int64). */
static bool parse_small(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* -?[0-9]+ ; *big when the value is outside int64. */
static bool parse_batch_id(const char *s, size_t n, int64_t *out, bool *big)
{
    bool neg = n > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == n)
        return false;
    uint64_t v = 0;
    *big = false;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            *big = true;
        else
            v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        *big = true;
    if (!*big)
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

int sp_annot_parse(const sp_annot_map *m, const char *name, size_t n, sp_annot_name *a, const char **why)
{
    const sp_annot_map_entry *e = NULL;
    for (size_t j = 0; j < m->n && !e; j++) {
        const sp_annot_map_entry *c = &m->entry[j];
        if (n < c->plen || memcmp(name, c->prefix, c->plen) != 0)
            continue;
        /* stage names after "servprof.stage." are part of the prefix match */
        if (c->role == SP_ANNOT_STAGE && !c->stage[0]) {
            e = c;
            break;
        }
        if (n == c->plen || name[c->plen] == ':' || name[c->plen] == '[' || name[c->plen] == ';')
            e = c;
    }
    if (!e)
        return 0;
    memset(a, 0, sizeof *a);
    a->role = e->role;
    a->eff = a->pad = a->tokens = -1;
    size_t i = e->plen;
    if (e->role == SP_ANNOT_STAGE) {
        a->stage = e->stage;
        a->stage_len = strlen(e->stage);
        if (!a->stage_len) {
            size_t b = i;
            while (i < n && name[i] != ':' && name[i] != '[' && name[i] != ';')
                i++;
            a->stage = name + b;
            a->stage_len = i - b;
            if (!a->stage_len) {
                *why = "no stage name after the prefix";
                return -1;
            }
        }
    }
    if (i < n && name[i] == ':') {
        size_t b = ++i;
        while (i < n && name[i] != '[' && name[i] != ';')
            i++;
        if (i == b) {
            *why = "empty id after ':'";
            return -1;
        }
        a->has_id = true;
        a->id = name + b;
        a->id_len = i - b;
        if (e->role == SP_ANNOT_BATCH && !parse_batch_id(a->id, a->id_len, &a->batch_id, &a->batch_id_big)) {
            *why = "a batch id must be an integer";
            return -1;
        }
        if (memchr(a->id, '\0', a->id_len)) {
            *why = "an id must not contain a NUL byte";
            return -1;
        }
    }
    if (i < n && name[i] == '[') {
        size_t b = ++i;
        for (;;) {
            size_t mb = i;
            while (i < n && name[i] != ',' && name[i] != ']')
                i++;
            if (i >= n) {
                *why = "member list without a closing ']'";
                return -1;
            }
            if (i > mb) {
                if (a->nmembers >= SP_ANNOT_MAX_MEMBERS) {
                    *why = "more than 4096 ids in one list";
                    return -1;
                }
                if (memchr(name + mb, '\0', i - mb)) {
                    *why = "an id must not contain a NUL byte";
                    return -1;
                }
                a->nmembers++;
            }
            if (name[i++] == ']')
                break;
        }
        a->list = name + b;
        a->list_len = i - 1 - b;
    }
    while (i < n && name[i] == ';') {
        size_t b = ++i;
        while (i < n && name[i] != ';')
            i++;
        const char *eq = memchr(name + b, '=', i - b);
        int64_t v;
        if (!eq || !parse_small(eq + 1, (size_t)(name + i - eq - 1), &v)) {
            *why = "expected ;key=<non-negative integer>";
            return -1;
        }
        size_t kl = (size_t)(eq - (name + b));
        const char *key = name + b;
        if ((kl == 9 && memcmp(key, "effective", 9) == 0) || (kl == 3 && memcmp(key, "eff", 3) == 0))
            a->eff = v;
        else if ((kl == 6 && memcmp(key, "padded", 6) == 0) || (kl == 3 && memcmp(key, "pad", 3) == 0))
            a->pad = v;
        else if (kl == 6 && memcmp(key, "tokens", 6) == 0)
            a->tokens = v;
        /* other keys: ignored, for forward compatibility */
    }
    if (i != n) {
        *why = "unexpected text after the annotation's id";
        return -1;
    }
    if (e->role == SP_ANNOT_REQUEST && !a->has_id) {
        *why = "a request annotation needs an id (servprof.request:<id>)";
        return -1;
    }
    if (a->eff >= 0 && a->pad >= 0 && a->eff > a->pad) {
        *why = "effective tokens exceed padded tokens";
        return -1;
    }
    return 1;
}

bool sp_annot_member_next(const sp_annot_name *a, size_t *pos, const char **id, size_t *len)
{
    while (a->list && *pos < a->list_len) {
        size_t b = *pos, i = b;
        while (i < a->list_len && a->list[i] != ',')
            i++;
        *pos = i < a->list_len ? i + 1 : i;
        if (i > b) {
            *id = a->list + b;
            *len = i - b;
            return true;
        }
    }
    return false;
}
