/* test_native_import.c again with the native importer forced to its serial path, so both of its paths
 * (serial with pre-faulting; a reader thread) meet the same expectations whatever the machine's load. */
#include "import/import_int.h"

#define main native_import_main
#include "test_native_import.c"
#undef main

int main(void)
{
    sp_import_native_set_mode(SP_NATIVE_SERIAL);
    return native_import_main();
}
