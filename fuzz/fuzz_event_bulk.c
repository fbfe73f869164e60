/* libFuzzer target event_bulk: an event built from the input (distinct id, name, idempotency key,
 * tenant, properties: NUL-separated fields) and appended to a bulk, which checks the event rules
 * and encodes it, without sending anything (the bulk is never triggered). The client's base
 * URL is a closed loopback port, so nothing could reach the network anyway. */
#include <suprsend.h>
#include "fuzz.h"

static suprsend_client *client;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    suprsend_options *opts = suprsend_options_new("fuzz_key", "fuzz_secret");
    FUZZ_CHECK(opts != NULL, "suprsend_options_new: %s", suprsend_last_error());
    FUZZ_CHECK(suprsend_options_set_base_url(opts, "http://127.0.0.1:1/") == SUPRSEND_OK, "base url");
    FUZZ_CHECK(suprsend_options_set_max_retries(opts, 0) == SUPRSEND_OK, "max retries");
    FUZZ_CHECK(suprsend_client_new(opts, &client) == SUPRSEND_OK, "suprsend_client_new: %s", suprsend_last_error());
    suprsend_options_free(opts);
    return 0;
}

/* The next NUL-terminated field of the input (the rest, when no NUL is left). */
static char *next_field(const uint8_t **data, size_t *size) {
    const uint8_t *end = memchr(*data, 0, *size);
    size_t length = end ? (size_t)(end - *data) : *size;
    char *field = fuzz_cstr(*data, length);
    size_t used = end ? length + 1 : length;
    *data += used;
    *size -= used;
    return field;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t flags = data[0];  /* which optional setters to call */
    data++; size--;
    char *distinct_id = next_field(&data, &size);
    char *name = next_field(&data, &size);
    char *key = next_field(&data, &size);
    char *tenant = next_field(&data, &size);
    char *properties = next_field(&data, &size);

    suprsend_event *event = suprsend_event_new(distinct_id, name);
    if (event) {
        if (flags & 1) (void)suprsend_event_set_idempotency_key(event, key);
        if (flags & 2) (void)suprsend_event_set_tenant_id(event, tenant);
        if (flags & 4) (void)suprsend_event_set_properties_json(event, properties);
        suprsend_bulk *bulk = suprsend_bulk_new(client);
        FUZZ_CHECK(bulk != NULL, "suprsend_bulk_new: %s", suprsend_last_error());
        long kept = 0;  /* valid or not, every append of an event is kept (never E_ARGUMENT here) */
        for (int round = 0; round < ((flags & 8) ? 2 : 1); round++) {
            int rc = suprsend_bulk_append(bulk, event);
            FUZZ_CHECK(rc != SUPRSEND_E_ARGUMENT, "suprsend_bulk_append: E_ARGUMENT: %s", suprsend_last_error());
            if (rc != SUPRSEND_OK) FUZZ_CHECK(suprsend_last_error()[0] != 0, "no error message for status %d", rc);
            kept++;
            FUZZ_CHECK(suprsend_bulk_count(bulk) == kept, "bulk count %ld after %ld appends", suprsend_bulk_count(bulk), kept);
        }
        suprsend_bulk_free(bulk);
        suprsend_event_free(event);
    }
    free(distinct_id); free(name); free(key); free(tenant); free(properties);
    return 0;
}
