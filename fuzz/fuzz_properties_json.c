/* libFuzzer target properties_json: suprsend_event_set_properties_json (the JSON parser and the
 * properties rules) through the public C API. */
#include <suprsend.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = fuzz_cstr(data, size);
    suprsend_event *event = suprsend_event_new("user_1", "fuzzed");
    FUZZ_CHECK(event != NULL, "suprsend_event_new: %s", suprsend_last_error());
    int rc = suprsend_event_set_properties_json(event, json);
    if (rc != SUPRSEND_OK) {
        const char *message = suprsend_last_error();
        FUZZ_CHECK(message != NULL && message[0] != 0, "no error message for status %d", rc);
    }
    /* Setting it twice replaces the first. */
    (void)suprsend_event_set_properties_json(event, json);
    suprsend_event_free(event);
    free(json);
    return 0;
}
