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

/* The value of an environment variable, or dflt when it is unset or empty. */
static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return (v && *v) ? v : dflt;
}

/* Prints what went wrong in the last suprsend_* call, with the status code's name. */
static void report(const char *what, int status) {
    fflush(stdout); /* keep the order of the lines when both streams go to one place */
    fprintf(stderr, "%s failed: %s: %s\n", what, suprsend_status_name(status), suprsend_last_error());
}

/* A client for the workspace in the environment. Returns NULL (after printing why) on failure. */
static suprsend_client *client_from_env(void) {
    suprsend_options *opts = suprsend_options_new(env_or("SUPRSEND_WORKSPACE_KEY", "demo_key"),
                                                  env_or("SUPRSEND_WORKSPACE_SECRET", "demo_secret"));
    if (!opts) {
        report("suprsend_options_new", SUPRSEND_E_ARGUMENT);
        return NULL;
    }
    int rc;
    const char *base_url = getenv("SUPRSEND_BASE_URL"); /* unset: https://hub.suprsend.com/ */
    if (base_url && *base_url && (rc = suprsend_options_set_base_url(opts, base_url)) != SUPRSEND_OK) {
        report("suprsend_options_set_base_url", rc);
        suprsend_options_free(opts);
        return NULL;
    }
    suprsend_client *client = NULL;
    rc = suprsend_client_new(opts, &client);
    suprsend_options_free(opts); /* the client keeps its own copy */
    if (rc != SUPRSEND_OK) {
        report("suprsend_client_new", rc);
        return NULL;
    }
    return client;
}

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
