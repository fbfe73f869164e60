/* libFuzzer target base_url: suprsend_options_set_base_url (URL normalisation), and the same text
 * as proxy and CA file, through the public C API. */
#include <suprsend.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *url = fuzz_cstr(data, size);
    suprsend_options *opts = suprsend_options_new("fuzz_key", "fuzz_secret");
    FUZZ_CHECK(opts != NULL, "suprsend_options_new: %s", suprsend_last_error());
    int rc = suprsend_options_set_base_url(opts, url);
    if (rc != SUPRSEND_OK) {
        const char *message = suprsend_last_error();
        FUZZ_CHECK(message != NULL && message[0] != 0, "no error message for status %d", rc);
    }
    (void)suprsend_options_set_proxy(opts, url);
    (void)suprsend_options_set_ca_file(opts, url);
    suprsend_options_free(opts);
    free(url);
    return 0;
}
