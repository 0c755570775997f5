/* libFuzzer target: arbitrary bytes through the servprof.events/1 JSONL importer, format forced, strict and lenient
 * (fuzz_import.h). */
#include "fuzz_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_import(data, size, SP_FORMAT_JSONL, "fuzz.jsonl");
}
