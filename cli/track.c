/* track.c: `suprsend-events track`: one event, sent with suprsend_track_event. */
#include "cli.h"
#include "jsonline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char track_usage[] =
    "Usage: suprsend-events track --distinct-id ID --event NAME [OPTIONS]\n"
    "\n"
    "Send one event and wait for the hub's answer. On success, prints the message id the hub\n"
    "gave the event (the `message_id` of its answer) on stdout.\n"
    "\n"
    "Options:\n"
    "  --distinct-id ID         the user the event is about (required)\n"
    "  --event NAME             the event's name, e.g. product_purchased (required)\n"
    "  --properties JSON        the event's properties, one JSON object: '{\"amount\":10}'\n"
    "  --idempotency-key KEY    the hub processes only the first event with this key in 24 h\n"
    "  --tenant-id TENANT       the tenant the event belongs to\n"
    "  --brand-id BRAND         the brand (sent as its own brand_id, as the official SDKs do)\n"
    "  --attach PATH_OR_URL     an attachment (for email): a local file, sent inline, or an\n"
    "                           http(s) URL the hub downloads; may be repeated\n"
    "  --base-url URL           the hub (default: SUPRSEND_BASE_URL, else https://hub.suprsend.com/)\n"
    "  -h, --help               this help\n"
    "\n"
    "Credentials: SUPRSEND_WORKSPACE_KEY and SUPRSEND_WORKSPACE_SECRET.\n"
    "\n"
    "Exit status: 0 the hub accepted the event (its message id is on stdout); 1 it was not\n"
    "accepted: refused by the hub (its HTTP status and message are printed), refused by a rule\n"
    "checked before sending, or no answer after the retries; 2 usage or setup error.\n"
    "\n"
    "Example:\n"
    "  suprsend-events track --distinct-id user_1 --event product_purchased \\\n"
    "      --properties '{\"product\":\"shoes\",\"amount\":49.5}'\n";

#define MAX_ATTACHMENTS 64

int cmd_track(int argc, char **argv, const char *base_url) {
    const char *distinct_id = NULL, *event_name = NULL, *properties = NULL;
    const char *idempotency_key = NULL, *tenant_id = NULL, *brand_id = NULL;
    const char *attachments[MAX_ATTACHMENTS];
    int attachment_count = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        int got;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(track_usage, stdout);
            return CLI_EXIT_OK;
        }
#define OPTION(name, value_name, target)                                                  \
        if ((got = cli_option_value("track", argc, argv, &i, name, value_name, &value)) != 0) { \
            if (got < 0) return CLI_EXIT_USAGE;                                           \
            target = value;                                                               \
            continue;                                                                     \
        }
        OPTION("--distinct-id", "ID", distinct_id)
        OPTION("--event", "NAME", event_name)
        OPTION("--properties", "JSON", properties)
        OPTION("--idempotency-key", "KEY", idempotency_key)
        OPTION("--tenant-id", "TENANT", tenant_id)
        OPTION("--brand-id", "BRAND", brand_id)
        OPTION("--base-url", "URL", base_url)
#undef OPTION
        if ((got = cli_option_value("track", argc, argv, &i, "--attach", "PATH_OR_URL", &value)) != 0) {
            if (got < 0) return CLI_EXIT_USAGE;
            if (attachment_count == MAX_ATTACHMENTS) {
                fprintf(stderr, "suprsend-events track: more than %d --attach options\n", MAX_ATTACHMENTS);
                return CLI_EXIT_USAGE;
            }
            attachments[attachment_count++] = value;
            continue;
        }
        if (arg[0] == '-')
            fprintf(stderr, "suprsend-events track: unknown option '%s' (see suprsend-events track --help)\n", arg);
        else
            fprintf(stderr, "suprsend-events track: unexpected argument '%s' (options take the form --name VALUE;"
                            " see suprsend-events track --help)\n", arg);
        return CLI_EXIT_USAGE;
    }
    if (!distinct_id) {
        fprintf(stderr, "suprsend-events track: missing --distinct-id ID (the user the event is about)\n");
        return CLI_EXIT_USAGE;
    }
    if (!event_name) {
        fprintf(stderr, "suprsend-events track: missing --event NAME (the event's name, e.g. product_purchased)\n");
        return CLI_EXIT_USAGE;
    }
    if (properties) {
        jl_error err;
        if (jl_check_object(properties, strlen(properties), &err) != 0) {
            fprintf(stderr, "suprsend-events track: --properties: %s at column %zu (expected one JSON object, e.g. "
                            "'{\"amount\":10}')\n", err.message, err.column);
            return CLI_EXIT_USAGE;
        }
    }

    suprsend_event *event = suprsend_event_new(distinct_id, event_name);
    if (!event) {
        fprintf(stderr, "suprsend-events track: %s\n", suprsend_last_error());
        return CLI_EXIT_USAGE;
    }
    int status = CLI_EXIT_USAGE;
    suprsend_options *opts = NULL;
    suprsend_client *client = NULL;
    suprsend_response *response = NULL;
    if (properties && suprsend_event_set_properties_json(event, properties) != SUPRSEND_OK) {
        fprintf(stderr, "suprsend-events track: --properties: %s\n", suprsend_last_error());
        goto out;
    }
    if (idempotency_key && suprsend_event_set_idempotency_key(event, idempotency_key) != SUPRSEND_OK) {
        fprintf(stderr, "suprsend-events track: --idempotency-key: %s\n", suprsend_last_error());
        goto out;
    }
    if (tenant_id && suprsend_event_set_tenant_id(event, tenant_id) != SUPRSEND_OK) {
        fprintf(stderr, "suprsend-events track: --tenant-id: %s\n", suprsend_last_error());
        goto out;
    }
    if (brand_id && suprsend_event_set_brand_id(event, brand_id) != SUPRSEND_OK) {
        fprintf(stderr, "suprsend-events track: --brand-id: %s\n", suprsend_last_error());
        goto out;
    }
    for (int a = 0; a < attachment_count; a++) {
        int rc = suprsend_event_add_attachment(event, attachments[a], NULL, 0);
        if (rc != SUPRSEND_OK) {
            fprintf(stderr, "suprsend-events track: --attach %s: %s\n", attachments[a], suprsend_last_error());
            goto out;
        }
    }

    opts = cli_options_new("track", base_url);
    if (!opts) goto out;
    int rc = suprsend_client_new(opts, &client);
    if (rc != SUPRSEND_OK) {
        fprintf(stderr, "suprsend-events track: cannot create the client: %s: %s\n", suprsend_status_name(rc),
                suprsend_last_error());
        goto out;
    }

    rc = suprsend_track_event(client, event, &response);
    if (rc == SUPRSEND_OK) {
        printf("%s\n", suprsend_response_message(response));
        status = CLI_EXIT_OK;
    } else if (rc == SUPRSEND_E_HTTP && response) {
        fprintf(stderr, "suprsend-events track: refused by the hub: HTTP %d: %s\n", suprsend_response_status_code(response),
                suprsend_response_message(response));
        status = CLI_EXIT_FAILED;
    } else if (rc == SUPRSEND_E_NETWORK) {
        fprintf(stderr, "suprsend-events track: %s (hub: %s; check --base-url and the network)\n",
                suprsend_last_error(), cli_describe_base_url(base_url));
        status = CLI_EXIT_FAILED;
    } else if (rc == SUPRSEND_E_VALIDATION || rc == SUPRSEND_E_TOO_LARGE) {
        fprintf(stderr, "suprsend-events track: not sent: %s (%s)\n", suprsend_last_error(), suprsend_status_name(rc));
        status = CLI_EXIT_FAILED;
    } else if (rc == SUPRSEND_E_ATTACHMENT) {
        fprintf(stderr, "suprsend-events track: --attach: %s\n", suprsend_last_error());
    } else {
        fprintf(stderr, "suprsend-events track: %s: %s\n", suprsend_status_name(rc), suprsend_last_error());
        status = CLI_EXIT_FAILED;
    }
out:
    suprsend_response_free(response);
    suprsend_client_free(client);
    suprsend_options_free(opts);
    suprsend_event_free(event);
    return status;
}
