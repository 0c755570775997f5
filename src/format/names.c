/* The names and rules both trace formats (native and servprof.events/1 JSONL) and every report share:
 * drop causes, outcomes (public in trace.h, so exported by libservprof.so) and the property key rule.
 * Written once here, so a trace, its import and its report always spell them alike. */
#include "format/native_format.h"
#include "servprof/trace.h"

const char *sp_drop_cause_str(sp_drop_cause cause)
{
    switch (cause) {
    case SP_DROP_BUFFER_FULL: return "buffer_full";
    case SP_DROP_TOO_LARGE: return "too_large";
    case SP_DROP_NO_BUFFER: return "no_buffer";
    case SP_DROP_WRITE_FAILED: return "write_failed";
    case SP_DROP_REENTRANT: return "reentrant";
    case SP_DROP_AFTER_CLOSE: return "after_close";
    case SP_DROP_CAUSE_COUNT: break;
    }
    return "unknown";
}

const char *sp_outcome_str(sp_outcome outcome)
{
    switch (outcome) {
    case SP_OUTCOME_OK: return "ok";
    case SP_OUTCOME_REJECTED: return "rejected";
    case SP_OUTCOME_ERROR: return "error";
    case SP_OUTCOME_CANCELLED: return "cancelled";
    case SP_OUTCOME_UNFINISHED: return "unfinished";
    case SP_OUTCOME_COUNT: break;
    }
    return "unknown";
}

int sp_prop_key_valid(const char *key, size_t len)
{
    if (!key || len == 0 || len > SP_PROP_MAX_KEY)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
