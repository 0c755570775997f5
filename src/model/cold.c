/* The requests' side records (events_int.h, sp_ev_request_cold): the fields only some traces set, kept
 * apart from the hot request record and made only for the requests that need one (docs/analysis.md
 * section 8, "Memory"). The bottom of the model: events.c, clock.c and gen.c write through it, and it
 * calls none of them. */
#include "common/util_int.h"
#include "model/events_int.h"

const sp_ev_request_cold sp_ev_cold_none = {
    .client_intended_ns = SP_TIME_NONE,
    .client_send_ns = SP_TIME_NONE,
    .client_done_ns = SP_TIME_NONE,
    .client_offset_ns = 0,
    .client_first_token_ns = SP_TIME_NONE,
    .output_tokens = -1,
    .first_token = 0,
    .ntokens = 0,
    .trace = SP_EV_NONE,
    .client = SP_EV_NONE,
    .input_tokens = -1,
};

sp_status sp_ev_cold_get(struct sp_events *ev, uint32_t req, sp_ev_request_cold **out)
{
    sp_ev_request *r = &ev->requests[req];
    if (r->cold == SP_EV_NONE) {
        sp_status st = SP_GROW(ev->req_colds, ev->cap_req_colds, ev->n_req_colds + 1, SP_EV_MAX_RECORDS);
        if (st)
            return st;
        r->cold = (uint32_t)ev->n_req_colds++;
        ev->req_colds[r->cold] = sp_ev_cold_none;
    }
    *out = &ev->req_colds[r->cold];
    return SP_OK;
}

sp_status sp_ev_req_set_input_tokens_wide(struct sp_events *ev, uint32_t req, int64_t tokens)
{
    sp_ev_request_cold *rc;
    sp_status st = sp_ev_cold_get(ev, req, &rc);
    if (st)
        return st;
    rc->input_tokens = tokens;
    ev->requests[req].in_tokens = SP_EV_TOKENS_WIDE;
    return SP_OK;
}
