/*
 * bulk.c: send 250 events in one bulk. Two of them are invalid on purpose (a reserved
 * '$' event name and an empty distinct id): they are reported as failed records and never
 * sent; the 248 others go out in requests of at most 100 events.
 *
 * Build:  cc -std=c11 bulk.c $(pkg-config --cflags --libs suprsend) -o bulk
 * Run:    environment as in example_client.h (SUPRSEND_WORKSPACE_KEY, SUPRSEND_WORKSPACE_SECRET,
 *         SUPRSEND_BASE_URL).
 */
#include <stdio.h>
#include <stdlib.h>

#include <suprsend.h>

#include "example_client.h"

#define EVENTS 250
#define INVALID_NAME_AT 100 /* this one gets the reserved name "$order_shipped" */
#define EMPTY_ID_AT 200     /* this one gets the distinct id "" */

int main(void) {
    suprsend_client *client = client_from_env();
    if (!client) return 1;
    suprsend_bulk *bulk = suprsend_bulk_new(client);
    if (!bulk) {
        report("suprsend_bulk_new", SUPRSEND_E_ARGUMENT);
        suprsend_client_free(client);
        return 1;
    }

    int unexpected = 0;
    for (int i = 0; i < EVENTS; i++) {
        char distinct_id[32], properties[96];
        const char *name = i == INVALID_NAME_AT ? "$order_shipped" : "order_shipped";
        if (i == EMPTY_ID_AT) distinct_id[0] = '\0';
        else snprintf(distinct_id, sizeof distinct_id, "user_%03d", i);
        snprintf(properties, sizeof properties, "{\"order_id\": \"ORD-%05d\", \"items\": %d}", 10000 + i, 1 + i % 4);

        suprsend_event *event = suprsend_event_new(distinct_id, name);
        if (!event) {
            report("suprsend_event_new", SUPRSEND_E_ARGUMENT);
            unexpected++;
            continue;
        }
        int rc = suprsend_event_set_properties_json(event, properties);
        if (rc != SUPRSEND_OK) {
            report("suprsend_event_set_properties_json", rc);
            unexpected++;
        }
        /* The bulk copies the event and validates it now. An invalid event is kept as a
         * failed record (never sent) and its status is returned here as well. */
        rc = suprsend_bulk_append(bulk, event);
        if (rc != SUPRSEND_OK) {
            int expected = (i == INVALID_NAME_AT || i == EMPTY_ID_AT) && rc == SUPRSEND_E_VALIDATION;
            printf("append #%d: %s: %s%s\n", i, suprsend_status_name(rc), suprsend_last_error(),
                   expected ? " (expected)" : "");
            if (!expected) unexpected++;
        }
        suprsend_event_free(event);
    }
    printf("appended %ld events\n", suprsend_bulk_count(bulk));

    /* Sends the valid events and merges the hub's answers. Returns SUPRSEND_OK only when
     * every event was accepted; the response tells which were not. */
    suprsend_bulk_response *response = NULL;
    int rc = suprsend_bulk_trigger(bulk, &response);
    if (rc != SUPRSEND_OK) report("suprsend_bulk_trigger", rc);
    if (response) {
        printf("status:         %s\n", suprsend_bulk_response_status(response));
        printf("total:          %ld\n", suprsend_bulk_response_total(response));
        printf("success:        %ld\n", suprsend_bulk_response_success(response));
        printf("failure:        %ld\n", suprsend_bulk_response_failure(response));
        printf("failed records: %s\n", suprsend_bulk_response_failed_records_json(response));
        /* Exactly the two invalid events should have failed. */
        if (suprsend_bulk_response_failure(response) != 2) unexpected++;
    } else {
        unexpected++;
    }

    suprsend_bulk_response_free(response);
    suprsend_bulk_free(bulk);
    suprsend_client_free(client);
    return unexpected == 0 ? 0 : 1;
}
