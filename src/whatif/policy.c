/* The batching policy of the what-if simulator: its defaults, its text forms, a canonical form so
 * equal policies are simulated once, and the observed policy: read from the trace's policy.*
 * properties (docs/native-format.md "Properties"), inferred from the profile only where the trace
 * is silent, with where each setting came from. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/events_int.h"
#include "common/format_int.h"
#include "servprof/serve.h"
#include "common/util_int.h"
#include "whatif/whatif_int.h"

/* Limits a trace's policy values must meet (whatif.h) */
#define POLICY_MAX_DELAY_NS ((uint64_t)SP_WHATIF_MAX_DELAY_MS * 1000000u)

void sp_whatif_policy_init(sp_whatif_policy *p)
{
    /* the reference service's defaults (serve.h, docs/serve.md) */
    memset(p, 0, sizeof *p);
    p->max_batch = SP_SERVER_DEFAULT_MAX_BATCH;
    p->max_delay_ns = (uint64_t)(SP_SERVER_DEFAULT_MAX_QUEUE_DELAY_MS * 1e6);
    p->pad = SP_WHATIF_PAD_LONGEST;
    p->instances = SP_SERVER_DEFAULT_WORKERS;
    p->queue_capacity = SP_SERVER_DEFAULT_QUEUE_CAPACITY;
    p->max_len = SP_SERVER_DEFAULT_MAX_LEN;
}

const char *sp_whatif_pad_str(const sp_whatif_policy *p, char *buf, size_t buflen)
{
    if (!buflen)
        return buf;
    if (p->pad == SP_WHATIF_PAD_STATIC) {
        snprintf(buf, buflen, "static:%u", p->pad_to);
    } else if (p->pad == SP_WHATIF_PAD_MULTIPLE) {
        snprintf(buf, buflen, "multiple:%u", p->pad_to);
    } else if (p->pad == SP_WHATIF_PAD_BUCKETS) {
        size_t at = (size_t)snprintf(buf, buflen, "buckets:");
        for (int i = 0; i < SP_WHATIF_MAX_BUCKETS && p->buckets[i] && at < buflen; i++)
            at += (size_t)snprintf(buf + at, buflen - at, "%s%u", i ? "," : "", p->buckets[i]);
    } else {
        snprintf(buf, buflen, "longest");
    }
    return buf;
}

const char *sp_whatif_policy_str(const sp_whatif_policy *p, char *buf, size_t buflen)
{
    char pad[SP_WHATIF_MAX_BUCKETS * 12 + 16], delay[32];
    snprintf(buf, buflen, "mb=%u delay=%s pad=%s inst=%u", p->max_batch,
             sp_fmt_dur(delay, sizeof delay, (double)p->max_delay_ns), sp_whatif_pad_str(p, pad, sizeof pad),
             p->instances);
    return buf;
}

void sp_whatif_policy_normalize(sp_whatif_policy *p)
{
    if (p->pad == SP_WHATIF_PAD_MULTIPLE && p->pad_to <= 1)
        p->pad = SP_WHATIF_PAD_LONGEST;
    if (p->pad != SP_WHATIF_PAD_STATIC && p->pad != SP_WHATIF_PAD_MULTIPLE)
        p->pad_to = 0;
    if (p->pad != SP_WHATIF_PAD_BUCKETS)
        memset(p->buckets, 0, sizeof p->buckets);
    /* bounds after a 0 are never read (the list is 0-terminated): clear them */
    int end = 0;
    for (int i = 0; i < SP_WHATIF_MAX_BUCKETS; i++) {
        if (!p->buckets[i])
            end = 1;
        if (end)
            p->buckets[i] = 0;
    }
}

int sp_whatif_policy_equal(const sp_whatif_policy *a, const sp_whatif_policy *b)
{
    sp_whatif_policy x = *a, y = *b;
    sp_whatif_policy_normalize(&x);
    sp_whatif_policy_normalize(&y);
    return x.max_batch == y.max_batch && x.max_delay_ns == y.max_delay_ns && x.pad == y.pad &&
           x.pad_to == y.pad_to && memcmp(x.buckets, y.buckets, sizeof x.buckets) == 0 &&
           x.instances == y.instances && x.queue_capacity == y.queue_capacity && x.max_len == y.max_len;
}

const char *sp_whatif_origin_str(sp_whatif_origin o)
{
    switch (o) {
    case SP_WHATIF_FROM_TRACE: return "trace";
    case SP_WHATIF_FROM_INFERRED: return "inferred";
    case SP_WHATIF_FROM_OPTION: return "option";
    default: return "default";
    }
}

const char *sp_whatif_setting_str(sp_whatif_setting s)
{
    switch (s) {
    case SP_WHATIF_SET_MAX_BATCH: return "max-batch";
    case SP_WHATIF_SET_DELAY: return "max-queue-delay";
    case SP_WHATIF_SET_PAD: return "pad";
    case SP_WHATIF_SET_INSTANCES: return "instances";
    case SP_WHATIF_SET_QUEUE_CAPACITY: return "queue-capacity";
    case SP_WHATIF_SET_MAX_LEN: return "max-len";
    default: return "unknown";
    }
}

/* ---- the policy in the trace ---- */

/* Every key the policy reads, in the order differences are reported. */
static const char *const policy_keys[] = {
    "policy.max_batch", "policy.max_queue_delay_ns", "policy.pad",     "policy.pad_to",  "policy.buckets",
    "policy.pad_multiple", "policy.workers",         "policy.queue_capacity", "policy.max_len",
};
#define N_POLICY_KEYS (sizeof policy_keys / sizeof policy_keys[0])

/* Every other policy.* key servprof reads (the generation service's, docs/native-format.md). */
static const char *const other_policy_keys[] = {
    "policy.max_num_seqs",   "policy.max_num_batched_tokens", "policy.chunked_prefill",
    "policy.prefill_bucket", "policy.kv_capacity_tokens",
};

static int policy_key_known(const char *key)
{
    for (size_t k = 0; k < N_POLICY_KEYS; k++)
        if (strcmp(key, policy_keys[k]) == 0)
            return 1;
    for (size_t k = 0; k < sizeof other_policy_keys / sizeof other_policy_keys[0]; k++)
        if (strcmp(key, other_policy_keys[k]) == 0)
            return 1;
    return 0;
}

static int file_has_policy(const sp_events *ev, size_t f)
{
    for (size_t k = 0; k < N_POLICY_KEYS; k++)
        if (sp_events_property(ev, f, policy_keys[k]))
            return 1;
    return 0;
}

static const char *file_name(const sp_events *ev, size_t f)
{
    return sp_str_get(&ev->strings, ev->files[f].path);
}

/* A decimal integer in [lo, hi], the whole string. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Reads one numeric key of file `f` if present: 1 read, 0 absent, -1 bad (message written). */
static int read_num(const sp_events *ev, size_t f, const char *key, uint64_t lo, uint64_t hi, uint64_t *out,
                    char *err, size_t errlen)
{
    const char *v = sp_events_property(ev, f, key);
    if (!v)
        return 0;
    if (parse_u64(v, lo, hi, out)) {
        sp_errf(err, errlen, "%s: property %s = '%.64s' is not an integer from %llu to %llu", file_name(ev, f),
                key, v, (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    return 1;
}

/* The padding rule of file `f`: 1 read, 0 absent, -1 bad. */
static int read_pad(const sp_events *ev, size_t f, sp_whatif_policy *p, char *err, size_t errlen)
{
    const char *pad = sp_events_property(ev, f, "policy.pad");
    uint64_t v;
    if (!pad) {
        /* servprof synth writes only its rounding rule */
        int got = read_num(ev, f, "policy.pad_multiple", 1, SP_WHATIF_MAX_LEN, &v, err, errlen);
        if (got <= 0)
            return got;
        p->pad = v > 1 ? SP_WHATIF_PAD_MULTIPLE : SP_WHATIF_PAD_LONGEST;
        p->pad_to = v > 1 ? (uint32_t)v : 0;
        return 1;
    }
    if (strcmp(pad, "longest") == 0) {
        p->pad = SP_WHATIF_PAD_LONGEST;
        p->pad_to = 0;
        return 1;
    }
    if (strcmp(pad, "static") == 0) {
        int got = read_num(ev, f, "policy.pad_to", 1, SP_WHATIF_MAX_LEN, &v, err, errlen);
        if (got < 0)
            return -1;
        if (got == 0) {
            sp_errf(err, errlen, "%s: property policy.pad is 'static' but policy.pad_to is missing", file_name(ev, f));
            return -1;
        }
        p->pad = SP_WHATIF_PAD_STATIC;
        p->pad_to = (uint32_t)v;
        return 1;
    }
    if (strcmp(pad, "buckets") == 0) {
        const char *list = sp_events_property(ev, f, "policy.buckets");
        uint32_t b[SP_WHATIF_MAX_BUCKETS];
        size_t n = 0;
        char e2[200];
        if (!list || sp_whatif_parse_u32_list(list, SP_WHATIF_MAX_LEN, b, SP_WHATIF_MAX_BUCKETS - 1, &n, e2,
                                              sizeof e2) != SP_OK) {
            sp_errf(err, errlen, "%s: property policy.pad is 'buckets' but policy.buckets %s%.64s%s is not a list "
                    "of up to %d ascending lengths", file_name(ev, f), list ? "= '" : "is missing", list ? list : "",
                    list ? "'" : "", SP_WHATIF_MAX_BUCKETS - 1);
            return -1;
        }
        for (size_t i = 1; i < n; i++)
            if (b[i] <= b[i - 1]) {
                sp_errf(err, errlen, "%s: property policy.buckets = '%.64s': bounds must ascend", file_name(ev, f),
                        list);
                return -1;
            }
        p->pad = SP_WHATIF_PAD_BUCKETS;
        p->pad_to = 0;
        memset(p->buckets, 0, sizeof p->buckets);
        memcpy(p->buckets, b, n * sizeof *b);
        return 1;
    }
    sp_errf(err, errlen, "%s: property policy.pad = '%.64s' is not longest, static or buckets", file_name(ev, f), pad);
    return -1;
}

sp_status sp_whatif_observed_from_events(const sp_events *ev, sp_whatif_observed *out, char *err, size_t errlen)
{
    if (!ev || !out)
        return SP_ERR_INVALID;
    sp_whatif_observed o;
    memset(&o, 0, sizeof o);
    sp_whatif_policy_init(&o.policy);
    o.file = -1;
    for (size_t f = 0; f < ev->n_files; f++)
        if (file_has_policy(ev, f)) {
            o.file = (int)f;
            break;
        }
    if (o.file < 0) {
        *out = o;
        return SP_OK;
    }
    size_t f = (size_t)o.file;
    snprintf(o.source, sizeof o.source, "%s", file_name(ev, f));
    sp_whatif_policy *p = &o.policy;
    uint64_t v;
    int got;
#define READ(key, lo, hi, field, set)                                                                   \
    do {                                                                                               \
        if ((got = read_num(ev, f, key, lo, hi, &v, err, errlen)) < 0)                                 \
            return SP_ERR_PARSE;                                                                       \
        if (got) {                                                                                     \
            p->field = v; /* range checked above */                                                    \
            o.origin[set] = SP_WHATIF_FROM_TRACE;                                                      \
        }                                                                                              \
    } while (0)
    READ("policy.max_batch", 1, SP_WHATIF_MAX_BATCH, max_batch, SP_WHATIF_SET_MAX_BATCH);
    READ("policy.max_queue_delay_ns", 0, POLICY_MAX_DELAY_NS, max_delay_ns, SP_WHATIF_SET_DELAY);
    READ("policy.workers", 1, SP_WHATIF_MAX_INSTANCES, instances, SP_WHATIF_SET_INSTANCES);
    READ("policy.queue_capacity", 1, SP_WHATIF_MAX_QUEUE_CAPACITY, queue_capacity, SP_WHATIF_SET_QUEUE_CAPACITY);
    READ("policy.max_len", 1, SP_WHATIF_MAX_LEN, max_len, SP_WHATIF_SET_MAX_LEN);
#undef READ
    if ((got = read_pad(ev, f, p, err, errlen)) < 0)
        return SP_ERR_PARSE;
    if (got)
        o.origin[SP_WHATIF_SET_PAD] = SP_WHATIF_FROM_TRACE;
    sp_whatif_policy_normalize(p);
    /* several files: say where another file's policy differs (replicas should share one) */
    for (size_t g = f + 1; g < ev->n_files && !o.files_differ; g++) {
        for (size_t k = 0; k < N_POLICY_KEYS; k++) {
            const char *a = sp_events_property(ev, f, policy_keys[k]);
            const char *b = sp_events_property(ev, g, policy_keys[k]);
            if (a && b && strcmp(a, b) != 0) {
                o.files_differ = 1;
                snprintf(o.differ, sizeof o.differ, "%s is %.24s in %.80s but %.24s in %.80s", policy_keys[k], a,
                         file_name(ev, f), b, file_name(ev, g));
                break;
            }
        }
    }
    *out = o;
    return SP_OK;
}

int sp_whatif_policy_gaps(const sp_events *ev, const sp_whatif_observed *o, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
#define ADD(...)                                                                                       \
    do {                                                                                               \
        if (at < len)                                                                                  \
            at += (size_t)snprintf(buf + at, len - at, __VA_ARGS__);                                   \
    } while (0)
    /* policy.* keys no part of servprof reads (a unit in the name, a typo), in the order written, once */
    int unknown = 0;
    for (size_t i = 0; i < ev->n_props; i++) {
        const char *k = sp_str_get(&ev->strings, ev->props[i].key);
        if (strncmp(k, "policy.", 7) != 0 || policy_key_known(k))
            continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(sp_str_get(&ev->strings, ev->props[j].key), k) == 0;
        if (seen)
            continue;
        if (unknown == 4) {
            ADD(", ...");
            break;
        }
        ADD("%s%.64s", unknown ? ", " : "", k);
        unknown++;
    }
    if (o->file < 0 && !unknown)
        return 0;
    char not_read[320];
    snprintf(not_read, sizeof not_read, "%s", buf);
    at = 0;
    buf[0] = '\0';
    static const struct {
        sp_whatif_setting set;
        const char *key;
    } needed[] = {{SP_WHATIF_SET_MAX_BATCH, "policy.max_batch"},
                  {SP_WHATIF_SET_DELAY, "policy.max_queue_delay_ns"},
                  {SP_WHATIF_SET_PAD, "policy.pad"}};
    int missing = 0;
    for (size_t k = 0; k < sizeof needed / sizeof needed[0]; k++)
        if (o->origin[needed[k].set] != SP_WHATIF_FROM_TRACE)
            ADD("%s%s", missing++ ? ", " : "missing ", needed[k].key);
    if (missing)
        ADD("; a prediction needs policy.max_batch, policy.max_queue_delay_ns and policy.pad");
    if (unknown)
        ADD("%snot read: %s", missing ? "; " : "", not_read);
#undef ADD
    return 1;
}

void sp_whatif_observed_infer(sp_whatif_observed *o, const sp_whatif_workload *w)
{
    if (!o || !w)
        return;
    if (o->origin[SP_WHATIF_SET_MAX_BATCH] == SP_WHATIF_FROM_DEFAULT && w->max_batch_seen) {
        o->policy.max_batch = w->max_batch_seen;
        o->origin[SP_WHATIF_SET_MAX_BATCH] = SP_WHATIF_FROM_INFERRED;
    }
    if (o->origin[SP_WHATIF_SET_DELAY] == SP_WHATIF_FROM_DEFAULT) {
        o->policy.max_delay_ns = w->head_wait_p50_ns;
        o->origin[SP_WHATIF_SET_DELAY] = SP_WHATIF_FROM_INFERRED;
    }
    /* a queue longer than the assumed capacity would have been rejected: the service held that many */
    if (o->origin[SP_WHATIF_SET_QUEUE_CAPACITY] == SP_WHATIF_FROM_DEFAULT &&
        w->max_queued_seen > o->policy.queue_capacity) {
        o->policy.queue_capacity = w->max_queued_seen;
        o->origin[SP_WHATIF_SET_QUEUE_CAPACITY] = SP_WHATIF_FROM_INFERRED;
    }
    /* inputs longer than the assumed max len would pad past it: the service took at least them */
    if (o->origin[SP_WHATIF_SET_MAX_LEN] == SP_WHATIF_FROM_DEFAULT && w->max_tokens_seen > o->policy.max_len) {
        o->policy.max_len = w->max_tokens_seen;
        o->origin[SP_WHATIF_SET_MAX_LEN] = SP_WHATIF_FROM_INFERRED;
    }
}

int sp_whatif_observed_from_trace(const sp_whatif_observed *o)
{
    return o && o->origin[SP_WHATIF_SET_MAX_BATCH] == SP_WHATIF_FROM_TRACE &&
           o->origin[SP_WHATIF_SET_DELAY] == SP_WHATIF_FROM_TRACE &&
           o->origin[SP_WHATIF_SET_PAD] == SP_WHATIF_FROM_TRACE;
}

const char *sp_whatif_setting_value(const sp_whatif_policy *p, sp_whatif_setting s, char *buf, size_t len)
{
    switch (s) {
    case SP_WHATIF_SET_MAX_BATCH: snprintf(buf, len, "%u", p->max_batch); break;
    case SP_WHATIF_SET_DELAY: sp_fmt_dur(buf, len, (double)p->max_delay_ns); break;
    case SP_WHATIF_SET_PAD: sp_whatif_pad_str(p, buf, len); break;
    case SP_WHATIF_SET_INSTANCES: snprintf(buf, len, "%u", p->instances); break;
    case SP_WHATIF_SET_QUEUE_CAPACITY: snprintf(buf, len, "%u", p->queue_capacity); break;
    case SP_WHATIF_SET_MAX_LEN: snprintf(buf, len, "%u", p->max_len); break;
    default: snprintf(buf, len, "?"); break;
    }
    return buf;
}
