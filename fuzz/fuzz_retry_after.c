/* libFuzzer target retry_after: the core's Retry-After parser and the retry delay it leads to. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int failed = suprsendcore_fuzz_retry_after(data, size);
    FUZZ_CHECK(failed == 0, "suprsendcore_fuzz_retry_after: invariant %d failed", failed);
    return 0;
}
