/* The CUDA backend module's side of the host table (module_host.h): the public recorder functions
 * the collector calls, defined here as calls through the table the loader handed in, so each lands
 * in the loader's recorder. Hidden (the module exports only its entry point). */
#include <stdio.h>
#include <string.h>

#include "serve/cuda/module_host.h"

static const sp_cuda_host *g_host;

int sp_cuda_module_attach(const sp_cuda_host *host, char *err, size_t errlen)
{
    const char *why = NULL;
    if (!host)
        why = "no host table";
    else if (host->abi != SP_CUDA_BACKEND_ABI || host->size != sizeof(sp_cuda_host))
        why = "the loader's backend ABI differs";
    else if (!host->version || strcmp(host->version, SP_VERSION_STRING) != 0)
        why = "the loader is another servprof version";
    else if (!host->now_ns || !host->get_log || !host->recorder_intern || !host->recorder_add_drops ||
             !host->record_batch || !host->record_kernel || !host->record_copy || !host->record_launch)
        why = "the loader's table lacks a function";
    if (why) {
        if (err && errlen)
            snprintf(err, errlen, "%s (module: servprof %s, backend ABI %u; loader: servprof %s, ABI %u)", why,
                     SP_VERSION_STRING, SP_CUDA_BACKEND_ABI, host && host->version ? host->version : "?",
                     host ? host->abi : 0);
        return 0;
    }
    g_host = host;
    return 1;
}

uint64_t sp_now_ns(void)
{
    return g_host->now_ns();
}

void sp_get_log(sp_log_fn *fn, void **user)
{
    if (g_host) {
        g_host->get_log(fn, user);
        return;
    }
    if (fn)
        *fn = NULL;
    if (user)
        *user = NULL;
}

sp_name_id sp_recorder_intern(sp_recorder *rec, const char *name)
{
    return g_host->recorder_intern(rec, name);
}

void sp_recorder_add_drops(sp_recorder *rec, sp_drop_cause cause, uint64_t count)
{
    g_host->recorder_add_drops(rec, cause, count);
}

void sp_record_batch(sp_recorder *rec, uint64_t batch_id, const uint64_t *members, size_t member_count,
                     uint64_t start_ns, uint64_t end_ns, uint64_t effective_tokens, uint64_t padded_tokens)
{
    g_host->record_batch(rec, batch_id, members, member_count, start_ns, end_ns, effective_tokens, padded_tokens);
}

void sp_record_kernel(sp_recorder *rec, const sp_kernel_record *k)
{
    g_host->record_kernel(rec, k);
}

void sp_record_copy(sp_recorder *rec, const sp_copy_record *c)
{
    g_host->record_copy(rec, c);
}

void sp_record_launch(sp_recorder *rec, sp_name_id name, uint64_t correlation, uint64_t start_ns, uint64_t end_ns)
{
    g_host->record_launch(rec, name, correlation, start_ns, end_ns);
}
