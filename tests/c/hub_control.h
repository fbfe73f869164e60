/*
 * hub_control.h: the local hub's control API as the background and outbox test programs drive
 * it (reset, faults, stalls held and released), and the few clock helpers they share. Include
 * after hub_client.h, which has the HTTP client and the JSON reader.
 */
#ifndef SUPRSEND_TEST_HUB_CONTROL_H
#define SUPRSEND_TEST_HUB_CONTROL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static inline void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline char *xstrdup(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p) abort();
    memcpy(p, s, n);
    return p;
}

static inline int hub_post(const char *path, const char *body) {
    int st = 0;
    free(hub_http("POST", path, body, &st));
    if (st != 200) printf("warning: POST %s %s answered %d\n", path, body, st);
    return st;
}

/* The event-API requests the hub is handling now (-1 when it cannot be read); *delayed: how
 * many of them sleep in an injected delay. */
static inline long hub_active(long *delayed) {
    jval *v = hub_get("/_hub/inflight");
    long a = (long)jnum(jget(v, "active"), -1);
    if (delayed) *delayed = (long)jnum(jget(v, "delayed"), -1);
    jfree(v);
    return a;
}

/* Waits until at least n requests sleep in an injected delay; returns 1 when they do. */
static inline int hub_wait_delayed(long n, long timeout_ms) {
    double end = mono_ms() + (double)timeout_ms;
    do {
        long d = 0;
        hub_active(&d);
        if (d >= n) return 1;
        sleep_ms(10);
    } while (mono_ms() < end);
    return 0;
}

/* Waits until no event-API request is in progress at the hub; returns 1 when idle. */
static inline int hub_wait_idle(long timeout_ms) {
    double end = mono_ms() + (double)timeout_ms;
    do {
        if (hub_active(NULL) == 0) return 1;
        sleep_ms(20);
    } while (mono_ms() < end);
    return 0;
}

static inline void hub_faults(const char *config) { hub_post("/_hub/faults", config); }

/* Ends every stall at once; drop: those requests are closed unprocessed. */
static inline void hub_release(int drop) { hub_post("/_hub/release", drop ? "{\"drop\":true}" : "{}"); }

/* Clears faults, drops every stalled request and waits until the hub is idle, so that nothing
 * from an earlier scenario reaches the next one. */
static inline void hub_quiesce(void) {
    hub_faults("{\"script\":[]}");
    double end = mono_ms() + 10000;
    do {
        hub_release(1);
        if (hub_active(NULL) == 0) return;
        sleep_ms(20);
    } while (mono_ms() < end);
    printf("warning: the hub still has requests in progress after 10 s\n");
}

/* A clean slate: no faults, nothing in progress, nothing recorded. */
static inline void hub_reset(void) {
    hub_quiesce();
    hub_post("/_hub/reset", "{}");
}

#endif
