/* What the service writes into its trace besides the spans its handler and workers record as they
 * go: the operation names (interned once, so the hot path passes ids), the properties of the run
 * (device, model, batching policy), and each request's record and outcome as it ends, the requests
 * the front door answered itself included (DESIGN 8a). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/server_int.h"

sp_status sp_srv_intern_op_names(sp_server *srv)
{
    /* names interned once, here, so recording a kernel passes a small id */
    srv->op_count = sp_encoder_op_count(srv->enc);
    srv->op_names = calloc(srv->op_count, sizeof(*srv->op_names));
    if (!srv->op_names)
        return SP_ERR_NOMEM;
    for (size_t i = 0; i < srv->op_count && srv->rec; i++) {
        char nm[64];
        srv->op_names[i] = sp_recorder_intern(srv->rec, sp_encoder_op_name(srv->enc, i, nm, sizeof(nm)));
    }
    return SP_OK;
}

/* Writes the service's device, model and batching policy into the trace as properties
 * (docs/native-format.md "Properties"), so the analysis and `servprof whatif` read the policy that
 * actually ran instead of inferring it. Best effort: a property that cannot be set is left out. */
void sp_srv_record_properties(const sp_server *srv, const sp_batcher_config *bc, const sp_encoder_config *ec)
{
    if (!srv->rec)
        return;
    char v[SP_SERVER_MAX_BUCKETS * 12 + 16];
    struct {
        const char *key;
        uint64_t val;
    } nums[] = {
        {"policy.max_batch", bc->max_batch},   {"policy.max_queue_delay_ns", bc->max_delay_ns},
        {"policy.workers", srv->opt.workers},  {"policy.queue_capacity", bc->capacity},
        {"policy.max_len", bc->max_len},       {"model.layers", ec->layers},
        {"model.hidden", ec->hidden},          {"model.heads", ec->heads},
        {"model.ffn", ec->ffn},
    };
    sp_recorder_set_property(srv->rec, "service", "servprof-serve");
    sp_recorder_set_property(srv->rec, "device", srv->cuda ? "cuda" : "cpu");
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)nums[i].val);
        sp_recorder_set_property(srv->rec, nums[i].key, v);
    }
    const char *pad = bc->pad_to ? "static" : bc->buckets[0] ? "buckets" : "longest";
    sp_recorder_set_property(srv->rec, "policy.pad", pad);
    if (bc->pad_to) {
        snprintf(v, sizeof v, "%u", bc->pad_to);
        sp_recorder_set_property(srv->rec, "policy.pad_to", v);
    }
    if (bc->buckets[0]) {
        size_t n = 0;
        for (int i = 0; i < SP_BATCHER_MAX_BUCKETS && bc->buckets[i]; i++)
            n += (size_t)snprintf(v + n, sizeof v - n, "%s%u", i ? "," : "", bc->buckets[i]);
        sp_recorder_set_property(srv->rec, "policy.buckets", v);
    }
}

/* Records an embeddings request as it ended (DESIGN 8a, docs/serve.md): its request record from
 * arrival to the hand-off of its answer (or to now, when it never got one) and, unless it was
 * answered 200 and delivered, its outcome: cancelled when the client went away first, rejected for
 * a 503 (queue full, or the server stopping), error for any other status. */
void sp_srv_record_ended(sp_server *srv, sp_srv_req *r, enum MHD_RequestTerminationCode toe)
{
    if (!srv->rec || r->route != SP_SRV_ROUTE_EMBED)
        return;
    uint64_t done = r->done_ns ? r->done_ns : sp_now_ns();
    sp_srv_record_identity(srv, r);
    sp_record_request(srv->rec, r->id, r->arrival_ns, done, r->tokens ? (int64_t)r->tokens : -1);
    sp_outcome o = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK            ? SP_OUTCOME_CANCELLED
                   : r->http_status == MHD_HTTP_OK                       ? SP_OUTCOME_OK
                   : r->http_status == MHD_HTTP_SERVICE_UNAVAILABLE      ? SP_OUTCOME_REJECTED
                                                                         : SP_OUTCOME_ERROR;
    if (o != SP_OUTCOME_OK)
        sp_record_outcome(srv->rec, r->id, o, (int32_t)r->http_status);
}

/* Whether a request head's target is `path` (its query aside): "METHOD SP TARGET SP ...", after any
 * empty lines. */
static int head_targets(const char *p, size_t n, const char *path)
{
    size_t i = 0;
    while (i < n && (p[i] == '\r' || p[i] == '\n'))
        i++;
    while (i < n && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
        i++;
    if (i >= n || p[i] != ' ')
        return 0;
    i++;
    size_t l = strlen(path);
    return n - i > l && memcmp(p + i, path, l) == 0 && (p[i + l] == ' ' || p[i + l] == '?');
}

/* Whether a request head is for the service's recorded endpoints: /v1/embeddings, or with
 * --generate /v1/completions and /v1/chat/completions. */
static int head_is_served(const sp_server *srv, const char *p, size_t n)
{
    if (srv->gen)
        return head_targets(p, n, "/v1/completions") || head_targets(p, n, "/v1/chat/completions");
    return head_targets(p, n, "/v1/embeddings");
}

/* The front door answered a request itself (gate.c): a connection refused at the caps (503, no
 * request read: rejected), or a bad request head for a served endpoint (an error with its status). It
 * is recorded like the handler's answers (sp_srv_record_ended), with no spans; its id is the next
 * request id. */
void sp_srv_on_gate_answered(void *user, unsigned status, uint64_t start_ns, const char *head, size_t head_len)
{
    sp_server *srv = user;
    if (!srv->rec || (head ? !head_is_served(srv, head, head_len) : status != MHD_HTTP_SERVICE_UNAVAILABLE))
        return;
    uint64_t id = atomic_fetch_add_explicit(&srv->next_request, 1, memory_order_relaxed);
    sp_record_request(srv->rec, id, start_ns, sp_now_ns(), -1);
    sp_record_outcome(srv->rec, id, status == MHD_HTTP_SERVICE_UNAVAILABLE ? SP_OUTCOME_REJECTED : SP_OUTCOME_ERROR,
                      (int32_t)status);
}
