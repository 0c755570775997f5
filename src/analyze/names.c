/* The analysis' words, a leaf every stage may use: the names of its enums as the reports and the JSON
 * write them, the one rule read from a kernel's name (communication kernels), and the number formats
 * of the verdict sentences. */
#include <stdio.h>
#include <string.h>

#include "analyze/analyze_int.h"

const char *sp_outcome_scope_str(sp_outcome_scope scope)
{
    return scope == SP_SCOPE_FINISHED ? "all" : "ok";
}

const char *sp_cost_state_str(sp_cost_state s)
{
    switch (s) {
    case SP_COST_USEFUL: return "useful";
    case SP_COST_PADDING: return "padding";
    case SP_COST_COPIES: return "copies";
    case SP_COST_GAP: return "gap";
    case SP_COST_NO_BATCH: return "no_batch";
    case SP_COST_STATE_COUNT: break;
    }
    return "unknown";
}

const char *sp_verdict_group_str(sp_verdict_group g)
{
    switch (g) {
    case SP_GROUP_NONE: return "none";
    case SP_GROUP_CONFIGURATION: return "configuration";
    case SP_GROUP_RUNTIME: return "runtime";
    case SP_GROUP_MODEL: return "model";
    case SP_GROUP_INSTRUMENTATION: return "instrumentation";
    }
    return "unknown";
}

const char *sp_device_kind_str(sp_device_kind k)
{
    switch (k) {
    case SP_DEVICE_GPU: return "gpu";
    case SP_DEVICE_CPU: return "cpu";
    case SP_DEVICE_MIXED: return "mixed";
    case SP_DEVICE_UNKNOWN: break;
    }
    return "unknown";
}

const char *sp_device_kind_noun(sp_device_kind k)
{
    return k == SP_DEVICE_CPU ? "CPU" : k == SP_DEVICE_MIXED ? "device" : "GPU";
}

const char *sp_step_source_str(sp_step_source s)
{
    switch (s) {
    case SP_STEPS_PROFILER_STEP: return "ProfilerStep";
    case SP_STEPS_RECORD_FUNCTION: return "record_function";
    case SP_STEPS_NVTX: return "NVTX";
    case SP_STEPS_MIXED: return "mixed";
    case SP_STEPS_NONE: break;
    }
    return "none";
}

int sp_ana_is_nccl(const char *s)
{
    /* ASCII case folding, as strncasecmp(s, "nccl", 4) in the C locale: only 'N' and 'n' give 'n'
     * when the 0x20 bit is set, and so on for each letter */
    for (; s[0]; s++)
        if ((s[0] | 0x20) == 'n' && (s[1] | 0x20) == 'c' && (s[2] | 0x20) == 'c' && (s[3] | 0x20) == 'l')
            return 1;
    return 0;
}

void sp_name_memo_init(sp_name_memo *m, int (*pred)(const char *name))
{
    m->pred = pred;
    for (size_t i = 0; i < SP_NAME_MEMO_SLOTS; i++) {
        m->id[i] = SP_EV_NONE;
        m->val[i] = 0;
    }
}

void sp_ana_fmt_pct(char *buf, size_t n, double f)
{
    snprintf(buf, n, "%.0f%%", f * 100.0);
}

void sp_ana_fmt_dur(char *buf, size_t n, uint64_t ns)
{
    if (ns >= 10000000000ull)
        snprintf(buf, n, "%.1f s", (double)ns / 1e9);
    else if (ns >= 1000000ull)
        snprintf(buf, n, "%.2f ms", (double)ns / 1e6);
    else if (ns >= 1000ull)
        snprintf(buf, n, "%.1f us", (double)ns / 1e3);
    else
        snprintf(buf, n, "%llu ns", (unsigned long long)ns);
}
