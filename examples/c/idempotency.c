/*
 * idempotency.c: send the same event twice with one idempotency key. The hub accepts both
 * requests but processes only the first: the second is a duplicate, skipped for 24 hours.
 *
 * Build:  cc -std=c11 idempotency.c $(pkg-config --cflags --libs suprsend) -o idempotency
 * Run:    ./idempotency [KEY]       (default key: "order-1042-confirmation-<unix time>")
 *         Environment as in example_client.h: SUPRSEND_WORKSPACE_KEY, SUPRSEND_WORKSPACE_SECRET,
 *         SUPRSEND_BASE_URL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <suprsend.h>

#include "example_client.h"

int main(int argc, char **argv) {
    /* A key made of what identifies the request: here an order id and a timestamp, so that
     * each run of this program is a new request but its two sends are the same one. */
    char key[128];
    if (argc > 1) snprintf(key, sizeof key, "%s", argv[1]);
    else snprintf(key, sizeof key, "order-1042-confirmation-%ld", (long)time(NULL));

    suprsend_client *client = client_from_env();
    if (!client) return 1;

    int failures = 0;
    for (int attempt = 1; attempt <= 2; attempt++) {
        /* Two separate event objects, as two separate calls of an application would make. */
        suprsend_event *event = suprsend_event_new("user_1042", "order_confirmed");
        if (!event) {
            report("suprsend_event_new", SUPRSEND_E_ARGUMENT);
            failures++;
            break;
        }
        int rc = suprsend_event_set_properties_json(event, "{\"order_id\": \"1042\", \"amount\": 49.90}");
        if (rc == SUPRSEND_OK) rc = suprsend_event_set_idempotency_key(event, key);
        if (rc != SUPRSEND_OK) {
            report("setting the event up", rc);
            suprsend_event_free(event);
            failures++;
            break;
        }

        suprsend_response *response = NULL;
        rc = suprsend_track_event(client, event, &response);
        printf("send #%d with idempotency key \"%s\":\n", attempt, key);
        if (rc != SUPRSEND_OK) {
            report("suprsend_track_event", rc);
            failures++;
        }
        if (response) {
            printf("  success %d, status %d, message %s\n", suprsend_response_success(response),
                   suprsend_response_status_code(response), suprsend_response_message(response));
            printf("  body %s\n", suprsend_response_body(response));
        }
        suprsend_response_free(response);
        suprsend_event_free(event);
    }
    printf("Both sends are accepted; the hub processes the event once.\n");

    suprsend_client_free(client);
    return failures == 0 ? 0 : 1;
}
