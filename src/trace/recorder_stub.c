/* Placeholder until the recorder lands. */
#include "servprof/trace.h"
const char *sp_drop_cause_str(sp_drop_cause cause) { return "?"; }
