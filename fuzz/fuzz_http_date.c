/* libFuzzer target http_date: the core's HTTP date parser and formatter (round trip). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int failed = suprsendcore_fuzz_http_date(data, size);
    FUZZ_CHECK(failed == 0, "suprsendcore_fuzz_http_date: invariant %d failed", failed);
    return 0;
}
