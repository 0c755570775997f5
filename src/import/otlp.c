/* Importer for the otlp format: not implemented yet (issue 4). Until then it answers with a clear
 * error instead of guessing. */
#include "common/util_int.h"
#include "import/import_int.h"

sp_status sp_import_otlp(sp_import_ctx *ctx)
{
    sp_errf(ctx->err, ctx->errlen, "%s: %s traces are recognised but not yet supported by this build",
            ctx->name, sp_format_str(ctx->ev->files[ctx->file].format));
    return SP_ERR_UNSUPPORTED;
}
