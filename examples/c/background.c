/*
 * background.c: background delivery. suprsend_enqueue() checks and queues an event and returns
 * at once; a worker thread of the client sends queued events in bulk requests, and reports
 * each event's fate, once, to the delivery callback. suprsend_flush() waits for the fates of
 * what was queued, suprsend_client_close() delivers what it can before a deadline and stops
 * the worker (the handle stays valid: later calls return SUPRSEND_E_CLOSED), and
 * suprsend_client_free() releases the client.
 *
 * Three clients show the four fates:
 *   1. the workspace of the environment: events delivered (SUPRSEND_OK); an invalid event is
 *      refused by enqueue itself and never queued;
 *   2. the same workspace key with a wrong secret: the hub refuses the request, so each event
 *      is refused (SUPRSEND_E_HTTP), never retried;
 *   3. a hub that cannot be reached (a port on this machine that refuses connections): the
 *      events are retried with back-off until they are max_event_age_s old, then expire
 *      (SUPRSEND_E_TIMEOUT); one still queued at close is dropped (SUPRSEND_E_CLOSED).
 *
 * Build:  cc -std=c11 background.c $(pkg-config --cflags --libs suprsend) -o background
 * Run:    environment as in example_client.h (SUPRSEND_WORKSPACE_KEY, SUPRSEND_WORKSPACE_SECRET,
 *         SUPRSEND_BASE_URL). Client 3 only talks to 127.0.0.1.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <suprsend.h>

#include "example_client.h"

/* Fates seen by the callback, by status, per client. */
struct fates {
    const char *client; /* a label for the printout */
    int delivered, refused, expired, closed, other;
};

/* The delivery callback: runs on the client's worker thread (or, for events dropped at close,
 * on the thread that closes). The delivery and its strings are valid only during the call. */
static void on_delivery(const suprsend_delivery *d, void *user_data) {
    struct fates *f = user_data;
    int status = suprsend_delivery_status(d);
    switch (status) {
    case SUPRSEND_OK: f->delivered++; break;
    case SUPRSEND_E_HTTP: f->refused++; break;
    case SUPRSEND_E_TIMEOUT: f->expired++; break;
    case SUPRSEND_E_CLOSED: f->closed++; break;
    default: f->other++; break;
    }
    printf("  [%s] fate of %s/%s: %s, HTTP %d, %d attempt(s)\n", f->client, suprsend_delivery_event_name(d),
           suprsend_delivery_distinct_id(d), suprsend_status_name(status), suprsend_delivery_http_status(d),
           suprsend_delivery_attempts(d));
    printf("  %*s insert id %s, idempotency key %s\n", (int)strlen(f->client) + 2, "", suprsend_delivery_insert_id(d),
           *suprsend_delivery_idempotency_key(d) ? suprsend_delivery_idempotency_key(d) : "(none)");
    printf("  %*s message: %s\n", (int)strlen(f->client) + 2, "", suprsend_delivery_message(d));
    fflush(stdout);
}

/* A client from options, with the callback; frees the options. NULL (after saying why) on failure. */
static suprsend_client *background_client(suprsend_options *opts, struct fates *fates) {
    if (!opts) return NULL;
    suprsend_client *client = NULL;
    int rc = suprsend_options_set_delivery_callback(opts, on_delivery, fates);
    if (rc == SUPRSEND_OK) rc = suprsend_client_new(opts, &client);
    if (rc != SUPRSEND_OK) report("creating the client", rc);
    suprsend_options_free(opts);
    return client;
}

/* Enqueues one event; prints and returns the status. */
static int enqueue(suprsend_client *client, const char *distinct_id, const char *name, int i, const char *key) {
    suprsend_event *event = suprsend_event_new(distinct_id, name);
    if (!event) {
        report("suprsend_event_new", SUPRSEND_E_ARGUMENT);
        return SUPRSEND_E_ARGUMENT;
    }
    char properties[96];
    snprintf(properties, sizeof properties, "{\"invoice\": \"INV-%04d\", \"amount\": %d.50}", 2000 + i, 10 * i);
    int rc = suprsend_event_set_properties_json(event, properties);
    if (rc == SUPRSEND_OK && key) rc = suprsend_event_set_idempotency_key(event, key);
    if (rc == SUPRSEND_OK) rc = suprsend_enqueue(client, event); /* returns at once */
    printf("enqueue %s/%s: %s%s%s\n", name, distinct_id, suprsend_status_name(rc), rc ? ": " : "",
           rc ? suprsend_last_error() : "");
    suprsend_event_free(event); /* the queue has its own copy */
    return rc;
}

static void print_stats(suprsend_client *client) {
    static const struct { int id; const char *name; } stats[] = {
        {SUPRSEND_STAT_QUEUED, "queued"},   {SUPRSEND_STAT_IN_FLIGHT, "in flight"},
        {SUPRSEND_STAT_DELIVERED, "delivered"}, {SUPRSEND_STAT_REFUSED, "refused"},
        {SUPRSEND_STAT_DROPPED, "dropped"}, {SUPRSEND_STAT_RETRIES, "retries"},
    };
    printf("stats:");
    for (size_t i = 0; i < sizeof stats / sizeof stats[0]; i++) {
        long long v = 0;
        suprsend_client_stat(client, stats[i].id, &v);
        printf("%s %s %lld", i ? "," : "", stats[i].name, v);
    }
    printf("\n");
}

/* A loopback port that refuses every connection: bound by this process, never listening. */
static int refusing_port(int *fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(*fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    return ntohs(a.sin_port);
}

int main(void) {
    int unexpected = 0, rc;

    /* 1. Delivered. */
    printf("-- 1. the workspace of the environment\n");
    struct fates ok = {.client = "workspace"};
    suprsend_client *client = background_client(options_from_env(), &ok);
    if (!client) return 1;
    char key[64];
    snprintf(key, sizeof key, "invoice-2001-paid-%ld", (long)time(NULL));
    for (int i = 0; i < 3; i++) {
        char distinct_id[32];
        snprintf(distinct_id, sizeof distinct_id, "user_%03d", i);
        if (enqueue(client, distinct_id, "invoice_paid", i, i == 1 ? key : NULL) != SUPRSEND_OK) unexpected++;
    }
    /* Checked on the caller's thread: refused at once, never queued, no fate. */
    if (enqueue(client, "user_003", "$invoice_paid", 3, NULL) != SUPRSEND_E_VALIDATION) unexpected++;
    printf("flush (deadline 10 s) ...\n");
    fflush(stdout);
    rc = suprsend_flush(client, 10000); /* every event enqueued so far has its fate on return */
    printf("flush: %s\n", suprsend_status_name(rc));
    print_stats(client);
    rc = suprsend_client_close(client, 5000);
    printf("close: %s\n", suprsend_status_name(rc));
    suprsend_client_free(client);
    if (ok.delivered != 3 || ok.refused + ok.expired + ok.closed + ok.other) unexpected++;

    /* 2. Refused: the hub answers 4xx for the request (a wrong signature), which is never retried.
     * max_event_age_s 5 in case a hub answers otherwise (a 5xx would be retried, then expire). */
    printf("\n-- 2. the same workspace with a wrong secret\n");
    struct fates refused = {.client = "wrong secret"};
    suprsend_options *opts = suprsend_options_new(env_or("SUPRSEND_WORKSPACE_KEY", "demo_key"), "not-the-secret");
    const char *base_url = getenv("SUPRSEND_BASE_URL");
    if (opts && base_url && *base_url) suprsend_options_set_base_url(opts, base_url);
    if (opts) suprsend_options_set_max_event_age_s(opts, 5);
    client = background_client(opts, &refused);
    if (!client) return 1;
    for (int i = 4; i < 6; i++)
        if (enqueue(client, "user_004", "invoice_paid", i, NULL) != SUPRSEND_OK) unexpected++;
    fflush(stdout);
    rc = suprsend_flush(client, 40000);
    printf("flush: %s\n", suprsend_status_name(rc));
    print_stats(client);
    suprsend_client_close(client, 1000);
    suprsend_client_free(client);
    if (refused.refused + refused.expired != 2 || refused.delivered) unexpected++;

    /* 3. Expired, and dropped at close: nothing answers, events wait and are tried again. */
    int fd;
    int port = refusing_port(&fd);
    if (port < 0) {
        perror("background: a local port");
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    printf("\n-- 3. a hub that refuses connections (%s), max_event_age_s 1\n", url);
    struct fates lost = {.client = "unreachable"};
    opts = suprsend_options_new(env_or("SUPRSEND_WORKSPACE_KEY", "demo_key"), "demo_secret");
    if (opts) suprsend_options_set_base_url(opts, url);
    if (opts) suprsend_options_set_max_event_age_s(opts, 1); /* give up after 1 s (default 23 h) */
    client = background_client(opts, &lost);
    if (!client) return 1;
    for (int i = 6; i < 8; i++)
        if (enqueue(client, "user_006", "invoice_paid", i, NULL) != SUPRSEND_OK) unexpected++;
    /* Expiry is noticed when the back-off pause in progress ends (at most 30 s, usually well
     * under a second here): a deadline above that. */
    printf("flush (deadline 40 s) ...\n");
    fflush(stdout);
    rc = suprsend_flush(client, 40000); /* returns once both have expired */
    printf("flush: %s\n", suprsend_status_name(rc));
    print_stats(client);
    if (enqueue(client, "user_007", "invoice_paid", 8, NULL) != SUPRSEND_OK) unexpected++;
    rc = suprsend_client_close(client, 0); /* no time to deliver: the event left is dropped */
    printf("close (deadline 0): %s\n", suprsend_status_name(rc));
    suprsend_client_free(client);
    close(fd);
    if (lost.expired != 2 || lost.closed != 1 || lost.delivered + lost.refused + lost.other) unexpected++;

    printf("\nfates: workspace %d delivered; wrong secret %d refused, %d expired; unreachable %d expired, %d closed\n",
           ok.delivered, refused.refused, refused.expired, lost.expired, lost.closed);
    return unexpected == 0 ? 0 : 1;
}
