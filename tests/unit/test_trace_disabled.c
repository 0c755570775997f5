/* With SERVPROF_DISABLE the recording macros compile to nothing: their arguments are not even
 * evaluated, so a recorder pointer that is not one is never touched. */
#define SERVPROF_DISABLE 1
#include "servprof/trace.h"
#include "testlib.h"

int main(void)
{
    sp_recorder *bogus = (sp_recorder *)(uintptr_t)0x10; /* would crash if dereferenced */
    (void)bogus;
    int evaluated = 0;
    uint64_t t = SP_NOW();
    CHECK_EQ_U64(t, 0);
    SP_REQUEST(bogus, (evaluated++, 1), 2, 3, 4);
    SP_STAGE(bogus, (evaluated++, 1), SP_STAGE_QUEUE, 1, 2);
    SP_BATCH(bogus, (evaluated++, 1), NULL, 0, 1, 2, 3, 4);
    sp_step_record *no_step = NULL;
    (void)no_step;
    SP_STEP(bogus, (evaluated++, no_step));
    SP_TOKEN(bogus, (evaluated++, 1), 0, 5);
    CHECK_EQ_U64(evaluated, 0);
    return sp_test_done("test_trace_disabled");
}
