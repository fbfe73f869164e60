/*
 * attachments.c: an event with two email attachments, a public URL (the hub downloads it)
 * and a local file (read now and sent inline, base64). The program writes the local file,
 * a small text invoice, to the temporary directory first.
 *
 * Build:  cc -std=c11 attachments.c $(pkg-config --cflags --libs suprsend) -o attachments
 * Run:    environment as in example_client.h (SUPRSEND_WORKSPACE_KEY, SUPRSEND_WORKSPACE_SECRET,
 *         SUPRSEND_BASE_URL); TMPDIR chooses where the invoice is written (default /tmp).
 */
#include <stdio.h>
#include <stdlib.h>

#include <suprsend.h>

#include "example_client.h"

/* Writes a small invoice to path. Returns 0 on success. */
static int write_invoice(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    fprintf(f, "INVOICE 1042\n\n"
               "Billed to: User (user_1042)\n"
               "1 x Product .......... $10.00\n"
               "Total ................ $10.00\n");
    if (fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int main(void) {
    char invoice_path[512];
    snprintf(invoice_path, sizeof invoice_path, "%s/suprsend-example-invoice-1042.txt", env_or("TMPDIR", "/tmp"));
    if (write_invoice(invoice_path) != 0) return 1;

    suprsend_client *client = client_from_env();
    if (!client) {
        remove(invoice_path);
        return 1;
    }

    int rc = SUPRSEND_OK;
    suprsend_response *response = NULL;
    suprsend_event *event = suprsend_event_new("user_1042", "invoice_generated");
    if (!event) {
        report("suprsend_event_new", SUPRSEND_E_ARGUMENT);
        rc = SUPRSEND_E_ARGUMENT;
        goto done;
    }
    if ((rc = suprsend_event_set_properties_json(event, "{\"invoice_id\": \"1042\", \"amount\": \"$10.00\"}")) != SUPRSEND_OK) {
        report("suprsend_event_set_properties_json", rc);
        goto done;
    }

    /* A URL: the hub downloads it. ignore_if_error = 1: send the email even if it can't. */
    rc = suprsend_event_add_attachment(event, "https://www.adobe.com/sample_file.pdf", NULL, 1);
    if (rc != SUPRSEND_OK) {
        report("suprsend_event_add_attachment (URL)", rc);
        goto done;
    }
    /* A local file, read now; the name shown in the email is given explicitly. With
     * ignore_if_error = 0, a file that cannot be read is an error (SUPRSEND_E_ATTACHMENT). */
    rc = suprsend_event_add_attachment(event, invoice_path, "invoice-1042.txt", 0);
    if (rc != SUPRSEND_OK) {
        report("suprsend_event_add_attachment (file)", rc);
        goto done;
    }

    rc = suprsend_track_event(client, event, &response);
    if (rc != SUPRSEND_OK) report("suprsend_track_event", rc);
    if (response) {
        printf("success:     %d\n", suprsend_response_success(response));
        printf("status code: %d\n", suprsend_response_status_code(response));
        printf("message:     %s\n", suprsend_response_message(response));
        printf("body:        %s\n", suprsend_response_body(response));
    }

done:
    suprsend_response_free(response);
    suprsend_event_free(event);
    suprsend_client_free(client);
    remove(invoice_path);
    return rc == SUPRSEND_OK ? 0 : 1;
}
