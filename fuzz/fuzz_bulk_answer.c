/* libFuzzer target bulk_answer: the core's reader of bulk answers (fast reader and general parser, records per event). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int failed = suprsendcore_fuzz_bulk_answer(data, size);
    FUZZ_CHECK(failed == 0, "suprsendcore_fuzz_bulk_answer: invariant %d failed", failed);
    return 0;
}
