/* Prometheus' text exposition format 0.0.4, read: one /metrics text scraped from a replica becomes
 * samples (metric, labels, value) in the fleet's set, each with job="metrics" and the replica's name as
 * its instance, as Prometheus would label a scrape. Comments (# HELP, # TYPE) and blank lines are
 * skipped; timestamps after the value are accepted and ignored. Every malformed line is an error
 * naming the replica and the line. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "fleet/fleet_int.h"

#define MAX_NAME 256
#define MAX_VALUE 4096

static int name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
static int name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

/* Reads a name at p[0..n) into out; returns its length, 0 when there is none or it is too long. */
static size_t read_name(const char *p, size_t n, char *out, int colon_ok)
{
    size_t k = 0;
    if (!n || !name_start(p[0]) || (!colon_ok && p[0] == ':'))
        return 0;
    while (k < n && name_char(p[k]) && (colon_ok || p[k] != ':')) {
        if (k + 1 >= MAX_NAME)
            return 0;
        out[k] = p[k];
        k++;
    }
    out[k] = 0;
    return k;
}

/* One sample line p[0..n). Returns NULL on success, else what is wrong. */
static const char *parse_line(sp_fl_set *set, const char *replica, const char *p, size_t n, sp_status *st)
{
    char metric[MAX_NAME];
    char names[SP_FL_MAX_LABELS][MAX_NAME];
    char *values[SP_FL_MAX_LABELS];
    const char *np[SP_FL_MAX_LABELS + 2], *vp[SP_FL_MAX_LABELS + 2];
    size_t nl = 0, i = read_name(p, n, metric, 1);
    const char *why = NULL;
    memset(values, 0, sizeof values);
    if (!i)
        return "expected a metric name";
    if (i < n && p[i] == '{') {
        i++;
        while (i < n && p[i] != '}') {
            if (nl == SP_FL_MAX_LABELS - 2) {
                why = "too many labels";
                goto out;
            }
            size_t k = read_name(p + i, n - i, names[nl], 0);
            if (!k || i + k >= n || p[i + k] != '=' || i + k + 1 >= n || p[i + k + 1] != '"') {
                why = "expected label=\"value\"";
                goto out;
            }
            i += k + 2;
            char *v = malloc(MAX_VALUE);
            if (!v) {
                why = "out of memory";
                goto out;
            }
            values[nl] = v;
            size_t vl = 0;
            while (i < n && p[i] != '"') {
                char c = p[i++];
                if (c == '\\' && i < n) {
                    char e = p[i++];
                    c = e == 'n' ? '\n' : e;
                }
                if (vl + 1 >= MAX_VALUE) {
                    why = "label value too long";
                    goto out;
                }
                v[vl++] = c;
            }
            v[vl] = 0;
            if (i >= n) {
                why = "unterminated label value";
                goto out;
            }
            i++;
            nl++;
            if (i < n && p[i] == ',')
                i++;
        }
        if (i >= n) {
            why = "expected '}'";
            goto out;
        }
        i++;
    }
    if (i >= n || (p[i] != ' ' && p[i] != '\t')) {
        why = "expected a space and a value";
        goto out;
    }
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    char num[64];
    size_t k = 0;
    while (i < n && p[i] != ' ' && p[i] != '\t' && k + 1 < sizeof num)
        num[k++] = p[i++];
    num[k] = 0;
    double value;
    char *end;
    if (strcmp(num, "+Inf") == 0 || strcmp(num, "Inf") == 0)
        value = INFINITY;
    else if (strcmp(num, "-Inf") == 0)
        value = -INFINITY;
    else if (strcmp(num, "NaN") == 0)
        value = NAN;
    else if (!k || (value = strtod(num, &end), *end)) {
        why = "expected a number";
        goto out;
    }
    /* an optional timestamp (integer ms), then nothing */
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i < n && (p[i] == '-' || (p[i] >= '0' && p[i] <= '9'))) {
        i++;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
    }
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
        i++;
    if (i < n) {
        why = "junk after the value";
        goto out;
    }
    for (size_t j = 0; j < nl; j++) {
        np[j] = names[j];
        vp[j] = values[j];
    }
    /* a scrape's target labels, as Prometheus gives them */
    np[nl] = "job";
    vp[nl] = "metrics";
    np[nl + 1] = "instance";
    vp[nl + 1] = replica;
    *st = sp_fl_set_add(set, metric, nl + 2, np, vp, value);
    if (*st)
        why = *st == SP_ERR_LIMIT ? "too many samples or labels" : "out of memory";
out:
    for (size_t j = 0; j < SP_FL_MAX_LABELS; j++)
        free(values[j]);
    return why;
}

sp_status sp_fl_parse_exposition(sp_fl_set *set, const char *replica, const char *text, size_t len, char *err,
                                 size_t errlen)
{
    size_t line = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        const char *p = text + at;
        size_t n = end - at;
        line++;
        at = end + 1;
        while (n && (p[0] == ' ' || p[0] == '\t')) {
            p++;
            n--;
        }
        if (n && p[n - 1] == '\r')
            n--;
        if (!n || p[0] == '#')
            continue;
        sp_status st = SP_ERR_PARSE;
        const char *why = parse_line(set, replica, p, n, &st);
        if (why) {
            sp_errf(err, errlen, "%s: line %zu: %s", replica, line, why);
            return st == SP_OK ? SP_ERR_PARSE : st;
        }
    }
    return SP_OK;
}
