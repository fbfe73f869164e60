/*
 * track_event.c: send one event, with nested properties, and print the hub's answer.
 *
 * Build:  cc -std=c11 track_event.c $(pkg-config --cflags --libs suprsend) -o track_event
 * Run:    SUPRSEND_WORKSPACE_KEY=... SUPRSEND_WORKSPACE_SECRET=... ./track_event
 *         (SUPRSEND_BASE_URL=http://127.0.0.1:PORT/ sends to a local hub instead of SuprSend's;
 *          without a key and secret, the local hub's demo workspace demo_key/demo_secret is used)
 */
#include <stdio.h>
#include <stdlib.h>

#include <suprsend.h>

#include "example_client.h"

int main(void) {
    printf("libsuprsend %s\n", suprsend_version());
    suprsend_client *client = client_from_env();
    if (!client) return 1;

    /* The event of SuprSend's "Send and Track Events" page. */
    suprsend_event *event = suprsend_event_new("0fxxx8f74-xxxx-41c5-8752-xxxcb6911fb08", "product_purchased");
    if (!event) {
        report("suprsend_event_new", SUPRSEND_E_ARGUMENT);
        suprsend_client_free(client);
        return 1;
    }
    int rc = suprsend_event_set_properties_json(event,
        "{"
        "\"first_name\": \"User\","
        "\"spend_amount\": \"$10\","
        "\"nested_key_example\": {"
        "  \"nested_key1\": \"some_value_1\","
        "  \"nested_key2\": {\"nested_key3\": \"some_value_3\"}"
        "}"
        "}");
    if (rc != SUPRSEND_OK) {
        report("suprsend_event_set_properties_json", rc);
        suprsend_event_free(event);
        suprsend_client_free(client);
        return 1;
    }

    /* Send it. The response is filled whenever a request was made, also on failure. */
    suprsend_response *response = NULL;
    rc = suprsend_track_event(client, event, &response);
    if (rc != SUPRSEND_OK) report("suprsend_track_event", rc);
    if (response) {
        printf("success:     %d\n", suprsend_response_success(response));
        printf("status code: %d\n", suprsend_response_status_code(response));
        printf("message:     %s\n", suprsend_response_message(response));
        printf("body:        %s\n", suprsend_response_body(response));
    }

    suprsend_response_free(response);
    suprsend_event_free(event);
    suprsend_client_free(client);
    return rc == SUPRSEND_OK ? 0 : 1;
}
