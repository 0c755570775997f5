/* Placeholder until the jsonl importer lands. */
#include "common/util_int.h"
#include "import/import_int.h"

sp_status sp_import_jsonl(sp_import_ctx *ctx)
{
    sp_errf(ctx->err, ctx->errlen, "%s: not yet supported", ctx->name);
    return SP_ERR_UNSUPPORTED;
}
