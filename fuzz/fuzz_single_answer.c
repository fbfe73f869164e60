/* libFuzzer target single_answer: the core's reader of single-event answers and error messages. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int failed = suprsendcore_fuzz_single_answer(data, size);
    FUZZ_CHECK(failed == 0, "suprsendcore_fuzz_single_answer: invariant %d failed", failed);
    return 0;
}
