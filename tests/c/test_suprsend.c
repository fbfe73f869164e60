/*
 * test_suprsend.c: the C test program for libsuprsend.
 *
 * It includes only <suprsend.h> and libc/POSIX headers, is built with pkg-config from an
 * installed prefix, and runs against a local SuprSend hub emulator (tools/hub/suprsend-hub).
 * It talks to the hub's control API (/_hub/...) over a plain loopback socket with a tiny
 * HTTP/1.0 client, and reads the hub's JSON answers with a tiny JSON parser (both in
 * hub_client.h).
 *
 * Usage: test_suprsend [BASE_URL [WORKSPACE_KEY [WORKSPACE_SECRET]]]
 *   or the environment: SUPRSEND_TEST_BASE_URL, SUPRSEND_TEST_WORKSPACE_KEY,
 *   SUPRSEND_TEST_WORKSPACE_SECRET (defaults: demo_key / demo_secret).
 *   SUPRSEND_TEST_VERBOSE=1 also prints each passing check.
 *
 * Output: one line per failed check (file:line, the expression and the values), then exactly
 * one line "N passed, M failed". The exit status is 0 only when M == 0.
 */
#define _POSIX_C_SOURCE 200809L

#include <suprsend.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The check harness (CHECK..., "N passed, M failed") and the hub's control-API client with its
 * JSON parser are shared with the other C test programs. */
#include "check.h"
#include "hub_client.h"

/* =======================================================================================
 * The harness
 * ===================================================================================== */

static void section(const char *name) {
    g_section = name;
    if (g_verbose) printf("== %s\n", name);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* =======================================================================================
 * Base64 (decode only) and other small helpers
 * ===================================================================================== */

static int b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes standard base64 (with '=' padding, whitespace ignored). Returns malloc'd bytes, or
 * NULL on bad input. */
static unsigned char *b64decode(const char *s, size_t *outlen) {
    size_t n = strlen(s);
    unsigned char *out = malloc(n / 4 * 3 + 4);
    if (!out) abort();
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '\n' || c == '\r' || c == ' ') continue;
        if (c == '=') { pad++; continue; }
        int v = b64val(c);
        if (v < 0 || pad) { free(out); return NULL; }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)((acc >> bits) & 0xFF);
        }
    }
    *outlen = o;
    return out;
}

static int is_uuid_v4(const char *s) {
    if (!s || strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89abAB", s[19]) != NULL;
}

static char *xstrdup(const char *s) {
    char *p = strdup(s ? s : "");
    if (!p) abort();
    return p;
}

static char *repeat_char(char c, size_t n) {
    char *p = malloc(n + 1);
    if (!p) abort();
    memset(p, c, n);
    p[n] = '\0';
    return p;
}

static int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len;
}

/* A run id, so that keys chosen here do not collide with an earlier run on the same hub. */
static char g_run[32];

/* =======================================================================================
 * The hub's control API over a loopback socket (HTTP/1.0)
 * ===================================================================================== */

static char g_base_url[512];
static char g_key[256] = "demo_key";
static char g_secret[256] = "demo_secret";

static int hub_post(const char *path, const char *body) {
    int st = 0;
    char *r = hub_http("POST", path, body, &st);
    free(r);
    return st;
}

static void hub_reset(void) {
    int st = hub_post("/_hub/reset", "{}");
    if (st < 200 || st >= 300) {
        printf("warning: POST /_hub/reset answered %d\n", st);
    }
}

static void hub_faults(const char *script_json) {
    sbuf b = {0};
    sb_printf(&b, "{\"script\":%s}", script_json);
    int st = hub_post("/_hub/faults", b.p);
    free(b.p);
    if (st < 200 || st >= 300) printf("warning: POST /_hub/faults answered %d\n", st);
}

static long hub_rejected_by(const char *reason) { return hub_stat_in("rejected_by_reason", reason, 0); }

/* The accepted events, as a JSON array. An element may be the event object itself, or a
 * wrapper holding it under "event"/"body"/"payload": hub_event_at() unwraps. */
static jval *hub_events(void) { return hub_get("/_hub/events"); }

static jval *unwrap_event(jval *e) {
    if (!e || e->type != J_OBJ) return e;
    if (jget(e, "distinct_id")) return e;
    static const char *wrappers[] = {"event", "body", "payload", "record", "data"};
    for (size_t i = 0; i < sizeof wrappers / sizeof *wrappers; i++) {
        jval *w = jget(e, wrappers[i]);
        if (w && w->type == J_OBJ && jget(w, "distinct_id")) return w;
    }
    return e;
}

static jval *hub_event_at(jval *events, size_t i) { return unwrap_event(jat(events, i)); }

/* The last accepted event whose properties.tag equals tag (NULL if none). */
static jval *find_event_by_tag(jval *events, const char *tag) {
    jval *found = NULL;
    for (size_t i = 0; i < jlen(events); i++) {
        jval *e = hub_event_at(events, i);
        const char *t = jstr(jpath(e, "properties.tag"));
        if (t && strcmp(t, tag) == 0) found = e;
    }
    return found;
}

/* =======================================================================================
 * Library helpers
 * ===================================================================================== */

/* Options pointed at the test hub, with short retry settings. */
static suprsend_options *test_opts(void) {
    suprsend_options *o = suprsend_options_new(g_key, g_secret);
    if (!o) {
        snap_err();
        printf("FATAL: suprsend_options_new failed: %s\n", g_err);
        exit(2);
    }
    if (suprsend_options_set_base_url(o, g_base_url) != SUPRSEND_OK) {
        snap_err();
        printf("FATAL: set_base_url(%s) failed: %s\n", g_base_url, g_err);
        exit(2);
    }
    suprsend_options_set_timeout_ms(o, 15000);
    suprsend_options_set_connect_timeout_ms(o, 5000);
    return o;
}

/* A client from opts; frees opts. Exits when it cannot be made (nothing else could run). */
static suprsend_client *client_from(suprsend_options *o) {
    suprsend_client *c = NULL;
    int rc = suprsend_client_new(o, &c);
    suprsend_options_free(o);
    if (rc != SUPRSEND_OK || !c) {
        snap_err();
        printf("FATAL: suprsend_client_new: %s %s\n", suprsend_status_name(rc), g_err);
        exit(2);
    }
    return c;
}

/* An event with properties {"tag": tag, ...extra}; extra is JSON members without braces. */
static suprsend_event *tagged_event(const char *distinct_id, const char *name, const char *tag, const char *extra) {
    suprsend_event *ev = suprsend_event_new(distinct_id, name);
    if (!ev) return NULL;
    sbuf b = {0};
    sb_printf(&b, "{\"tag\":\"%s\"%s%s}", tag, extra && *extra ? "," : "", extra ? extra : "");
    if (suprsend_event_set_properties_json(ev, b.p) != SUPRSEND_OK) {
        snap_err();
        printf("warning: set_properties_json(%s) failed: %s\n", b.p, g_err);
    }
    free(b.p);
    return ev;
}

/* Sends a tagged event and returns the status; the response is freed. */
static int send_tagged(suprsend_client *c, const char *id, const char *name, const char *tag, const char *extra) {
    suprsend_event *ev = tagged_event(id, name, tag, extra);
    if (!ev) return -1;
    int rc = suprsend_track_event(c, ev, NULL);
    snap_err();
    suprsend_event_free(ev);
    return rc;
}

/* =======================================================================================
 * Tests
 * ===================================================================================== */

static void test_version(void) {
    section("version");
    CHECK(suprsend_version() != NULL);
    CHECK_STR(suprsend_version(), SUPRSEND_VERSION_STRING);
    CHECK_INT(suprsend_version_number(), SUPRSEND_VERSION_NUMBER);
    CHECK_INT(SUPRSEND_VERSION_NUMBER,
              SUPRSEND_VERSION_MAJOR * 1000000 + SUPRSEND_VERSION_MINOR * 1000 + SUPRSEND_VERSION_PATCH);
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", SUPRSEND_VERSION_MAJOR, SUPRSEND_VERSION_MINOR, SUPRSEND_VERSION_PATCH);
    CHECK_STR(SUPRSEND_VERSION_STRING, expect);
    CHECK(suprsend_version() == suprsend_version()); /* static: same pointer */
}

static void test_status_names(void) {
    section("status names");
    static const struct { int code; const char *name; } codes[] = {
        {SUPRSEND_OK, "SUPRSEND_OK"},
        {SUPRSEND_E_ARGUMENT, "SUPRSEND_E_ARGUMENT"},
        {SUPRSEND_E_VALIDATION, "SUPRSEND_E_VALIDATION"},
        {SUPRSEND_E_TOO_LARGE, "SUPRSEND_E_TOO_LARGE"},
        {SUPRSEND_E_ATTACHMENT, "SUPRSEND_E_ATTACHMENT"},
        {SUPRSEND_E_NETWORK, "SUPRSEND_E_NETWORK"},
        {SUPRSEND_E_HTTP, "SUPRSEND_E_HTTP"},
        {SUPRSEND_E_TIMEOUT, "SUPRSEND_E_TIMEOUT"},
        {SUPRSEND_E_QUEUE_FULL, "SUPRSEND_E_QUEUE_FULL"},
        {SUPRSEND_E_STORAGE, "SUPRSEND_E_STORAGE"},
        {SUPRSEND_E_CLOSED, "SUPRSEND_E_CLOSED"},
        {SUPRSEND_E_INTERNAL, "SUPRSEND_E_INTERNAL"},
    };
    CHECK_INT(SUPRSEND_OK, 0);
    CHECK_INT(SUPRSEND_E_CLOSED, 10);
    CHECK_INT(SUPRSEND_E_INTERNAL, 99);
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        const char *n = suprsend_status_name(codes[i].code);
        CHECK_STR(n, codes[i].name);
    }
    static const int unknown[] = {-1, 11, 12, 50, 98, 100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        const char *n = suprsend_status_name(unknown[i]);
        CHECK_STR(n, "SUPRSEND_E_UNKNOWN");
    }
    CHECK(suprsend_last_error() != NULL);
}

static void test_options(void) {
    section("options");
    /* options_new with bad key/secret */
    CHECK(suprsend_options_new(NULL, "s") == NULL);
    snap_err();
    CHECK(g_err[0] != '\0');
    CHECK(suprsend_options_new("k", NULL) == NULL);
    snap_err();
    CHECK(g_err[0] != '\0');
    CHECK(suprsend_options_new(NULL, NULL) == NULL);
    CHECK(suprsend_options_new("", "s") == NULL);
    snap_err();
    CHECK_ERR_HAS("key");
    CHECK(suprsend_options_new("k", "") == NULL);
    snap_err();
    CHECK_ERR_HAS("secret");
    CHECK(suprsend_options_new("k\xff", "s") == NULL);
    snap_err();
    CHECK(g_err[0] != '\0');
    CHECK(suprsend_options_new("k", "s\xc3\x28") == NULL);

    suprsend_options *o = suprsend_options_new("k", "s");
    CHECK(o != NULL);
    if (!o) return;

    /* base URL */
    CHECK_RC(suprsend_options_set_base_url(o, "http://127.0.0.1:8080/"), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_base_url(o, "https://hub.suprsend.com"), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_base_url(o, "http://127.0.0.1:8080/proxy/"), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_base_url(o, "http://127.0.0.1:8080/proxy"), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_base_url(o, "ftp://x"), SUPRSEND_E_ARGUMENT);
    CHECK_ERR_HAS("url");
    CHECK_RC(suprsend_options_set_base_url(o, ""), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_base_url(o, NULL), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_base_url(o, "not a url"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_base_url(o, "http://"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_base_url(o, "http://h\xff/"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_base_url(NULL, "http://x/"), SUPRSEND_E_ARGUMENT);

    /* timeouts: range 1..3600000 */
    static const long bad_ms[] = {0, -1, -1000, 3600001, LONG_MAX, LONG_MIN};
    for (size_t i = 0; i < sizeof bad_ms / sizeof *bad_ms; i++) {
        CHECK_RC(suprsend_options_set_timeout_ms(o, bad_ms[i]), SUPRSEND_E_ARGUMENT);
        CHECK_ERR_HAS("timeout");
        CHECK_RC(suprsend_options_set_connect_timeout_ms(o, bad_ms[i]), SUPRSEND_E_ARGUMENT);
        CHECK_ERR_HAS("timeout");
    }
    CHECK_RC(suprsend_options_set_timeout_ms(o, 1), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_timeout_ms(o, 3600000), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_timeout_ms(o, 30000), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_connect_timeout_ms(o, 1), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_connect_timeout_ms(o, 3600000), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_connect_timeout_ms(o, 10000), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_timeout_ms(NULL, 1000), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_connect_timeout_ms(NULL, 1000), SUPRSEND_E_ARGUMENT);

    /* proxy and CA file: NULL and "" reset */
    CHECK_RC(suprsend_options_set_proxy(o, "http://proxy.example:3128"), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_proxy(o, NULL), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_proxy(o, ""), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_proxy(o, "http://p\xff:1"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_proxy(NULL, "http://p:1"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_ca_file(o, "/etc/ssl/certs/ca-certificates.crt"), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_ca_file(o, NULL), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_ca_file(o, ""), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_ca_file(o, "/tmp/\xff"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_ca_file(NULL, "/x.pem"), SUPRSEND_E_ARGUMENT);
    /* refused when set, not at the first send: a proxy libcurl must not use, a CA file that
     * cannot be read, a port no socket has, a path longer than 1024 bytes */
    CHECK_RC(suprsend_options_set_proxy(o, "file:///etc/passwd"), SUPRSEND_E_ARGUMENT);
    CHECK_ERR_HAS("proxy");
    CHECK_RC(suprsend_options_set_proxy(o, "socks5h://127.0.0.1:1080"), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_proxy(o, NULL), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_ca_file(o, "/nonexistent/ca.pem"), SUPRSEND_E_ARGUMENT);
    CHECK_ERR_HAS("ca_file");
    CHECK_RC(suprsend_options_set_ca_file(o, "/tmp"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_base_url(o, "http://127.0.0.1:0/"), SUPRSEND_E_ARGUMENT);
    CHECK_ERR_HAS("port");
    CHECK_RC(suprsend_options_set_base_url(o, "http://127.0.0.1:65536/"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_base_url(o, "http://127.0.0.1:80x/"), SUPRSEND_E_ARGUMENT);
    {
        char *long_path = repeat_char('p', 1100);
        sbuf u = {0};
        sb_printf(&u, "http://127.0.0.1:1/%s/", long_path);
        CHECK_RC(suprsend_options_set_base_url(o, u.p), SUPRSEND_E_ARGUMENT);
        CHECK_ERR_HAS("path");
        free(u.p);
        free(long_path);
    }
    CHECK_RC(suprsend_options_set_base_url(o, g_base_url), SUPRSEND_OK);

    /* retries: 0..20 */
    CHECK_RC(suprsend_options_set_max_retries(o, -1), SUPRSEND_E_ARGUMENT);
    CHECK_ERR_HAS("retr");
    CHECK_RC(suprsend_options_set_max_retries(o, 21), SUPRSEND_E_ARGUMENT);
    CHECK_ERR_HAS("retr");
    CHECK_RC(suprsend_options_set_max_retries(o, INT_MAX), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_max_retries(o, INT_MIN), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_max_retries(o, 0), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_max_retries(o, 20), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_max_retries(o, 3), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_max_retries(NULL, 3), SUPRSEND_E_ARGUMENT);

    /* max event bytes: 1024..819200 */
    CHECK_RC(suprsend_options_set_max_event_bytes(o, 100), SUPRSEND_E_ARGUMENT);
    CHECK_ERR_HAS("byte");
    CHECK_RC(suprsend_options_set_max_event_bytes(o, 1023), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_max_event_bytes(o, 10000000), SUPRSEND_E_ARGUMENT);
    CHECK_ERR_HAS("byte");
    CHECK_RC(suprsend_options_set_max_event_bytes(o, 819201), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_max_event_bytes(o, -1), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_max_event_bytes(o, 0), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_max_event_bytes(o, LONG_MAX), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_max_event_bytes(o, 1024), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_max_event_bytes(o, 819200), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_max_event_bytes(o, 102400), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_max_event_bytes(NULL, 102400), SUPRSEND_E_ARGUMENT);

    /* auto idempotency and logging */
    CHECK_RC(suprsend_options_set_auto_idempotency(o, 0), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_auto_idempotency(o, 1), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_auto_idempotency(o, 7), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_auto_idempotency(NULL, 1), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_options_set_log(o, SUPRSEND_LOG_DEBUG, NULL, NULL), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_log(NULL, SUPRSEND_LOG_DEBUG, NULL, NULL), SUPRSEND_E_ARGUMENT);

    /* a client from these options; the options are copied */
    suprsend_client *c = NULL;
    CHECK_RC(suprsend_client_new(o, &c), SUPRSEND_OK);
    CHECK(c != NULL);
    suprsend_options_free(o);
    suprsend_client_free(c);

    /* client_new with NULLs */
    c = (suprsend_client *)&g_passed; /* a sentinel: must be overwritten with NULL */
    CHECK_RC(suprsend_client_new(NULL, &c), SUPRSEND_E_ARGUMENT);
    CHECK(c == NULL);
    o = suprsend_options_new("k", "s");
    CHECK_RC(suprsend_client_new(o, NULL), SUPRSEND_E_ARGUMENT);
    suprsend_options_free(o);

    /* _free(NULL) does nothing */
    suprsend_options_free(NULL);
    suprsend_client_free(NULL);
}

static void test_event_setters(void) {
    section("event setters");
    suprsend_event *ev;
    CHECK(suprsend_event_new(NULL, "ev") == NULL);
    snap_err();
    CHECK(g_err[0] != '\0');
    CHECK(suprsend_event_new("u", NULL) == NULL);
    snap_err();
    CHECK(g_err[0] != '\0');
    CHECK(suprsend_event_new("u\xff", "ev") == NULL);
    snap_err();
    CHECK_ERR_HAS("distinct_id");
    CHECK(suprsend_event_new("u", "ev\xc0\xaf") == NULL);
    snap_err();
    CHECK(g_err[0] != '\0');
    /* content rules are checked later: these are created */
    ev = suprsend_event_new("", "$reserved");
    CHECK(ev != NULL);
    suprsend_event_free(ev);

    ev = suprsend_event_new("u", "ev");
    CHECK(ev != NULL);
    if (!ev) return;
    CHECK_RC(suprsend_event_set_properties_json(ev, "{\"a\":1}"), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_properties_json(ev, "  {\"a\":{\"b\":[1,2,{\"c\":null}]}}  "), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_properties_json(ev, "{}"), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_properties_json(ev, NULL), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_properties_json(ev, ""), SUPRSEND_OK);
    static const char *bad_json[] = {
        "{\"a\":1,}", "[1]", "\"x\"", "1", "null", "true", "{", "}", "{\"a\"}", "{\"a\":1}{\"b\":2}",
        "{\"a\":1} x", "{'a':1}", "{\"a\":NaN}", "{\"a\":01}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}",
        "{\"a\":tru}", "{a:1}",
    };
    for (size_t i = 0; i < sizeof bad_json / sizeof *bad_json; i++) {
        int rc = suprsend_event_set_properties_json(ev, bad_json[i]);
        if (!CHECK_RC(rc, SUPRSEND_E_ARGUMENT)) printf("     (json was: %s)\n", bad_json[i]);
    }
    CHECK_RC(suprsend_event_set_properties_json(ev, "{\"a\":\"\xff\xfe\"}"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_event_set_properties_json(ev, "{\"\xed\xa0\x80\":1}"), SUPRSEND_E_ARGUMENT);
    /* nesting deeper than 64 */
    {
        sbuf b = {0};
        for (int i = 0; i < 100; i++) sb_puts(&b, "{\"a\":");
        sb_puts(&b, "1");
        for (int i = 0; i < 100; i++) sb_puts(&b, "}");
        CHECK_RC(suprsend_event_set_properties_json(ev, b.p), SUPRSEND_E_ARGUMENT);
        free(b.p);
        sbuf d = {0};
        for (int i = 0; i < 100000; i++) sb_puts(&d, "[");
        sbuf e = {0};
        sb_puts(&e, "{\"a\":");
        sb_puts(&e, d.p);
        CHECK_RC(suprsend_event_set_properties_json(ev, e.p), SUPRSEND_E_ARGUMENT);
        free(d.p);
        free(e.p);
        sbuf s = {0};
        for (int i = 0; i < 10; i++) sb_puts(&s, "{\"a\":");
        sb_puts(&s, "1");
        for (int i = 0; i < 10; i++) sb_puts(&s, "}");
        CHECK_RC(suprsend_event_set_properties_json(ev, s.p), SUPRSEND_OK);
        free(s.p);
    }
    CHECK_RC(suprsend_event_set_properties_json(NULL, "{}"), SUPRSEND_E_ARGUMENT);

    CHECK_RC(suprsend_event_set_idempotency_key(ev, "k-1"), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_idempotency_key(ev, NULL), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_idempotency_key(ev, ""), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_idempotency_key(ev, "k\xff"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_event_set_idempotency_key(NULL, "k"), SUPRSEND_E_ARGUMENT);

    CHECK_RC(suprsend_event_set_tenant_id(ev, "tenant_1-A"), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_tenant_id(ev, NULL), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_tenant_id(ev, ""), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_tenant_id(ev, "t\xff"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_event_set_tenant_id(NULL, "t"), SUPRSEND_E_ARGUMENT);

    CHECK_RC(suprsend_event_add_attachment(ev, NULL, NULL, 0), SUPRSEND_E_ARGUMENT);
    CHECK(suprsend_event_add_attachment(ev, "", NULL, 0) != SUPRSEND_OK);
    CHECK_RC(suprsend_event_add_attachment(NULL, "https://example.com/a.pdf", NULL, 0), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_event_add_attachment(ev, "https://example.com/\xff.pdf", NULL, 0), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_event_add_attachment(ev, "https://example.com/a.pdf", "a\xff.pdf", 0), SUPRSEND_E_ARGUMENT);

    suprsend_event_free(ev);
    suprsend_event_free(NULL);
}

static void test_null_everywhere(void) {
    section("NULL handles");
    suprsend_response *resp = (suprsend_response *)&g_passed;
    CHECK_RC(suprsend_track_event(NULL, NULL, &resp), SUPRSEND_E_ARGUMENT);
    CHECK(resp == NULL);
    CHECK_RC(suprsend_track_event(NULL, NULL, NULL), SUPRSEND_E_ARGUMENT);
    suprsend_event *ev = suprsend_event_new("u", "ev");
    CHECK_RC(suprsend_track_event(NULL, ev, NULL), SUPRSEND_E_ARGUMENT);
    suprsend_event_free(ev);

    /* response getters on NULL */
    CHECK_INT(suprsend_response_success(NULL), 0);
    CHECK_INT(suprsend_response_status_code(NULL), 0);
    CHECK(suprsend_response_message(NULL) != NULL);
    CHECK_STR(suprsend_response_message(NULL), "");
    CHECK(suprsend_response_body(NULL) != NULL);
    CHECK_STR(suprsend_response_body(NULL), "");
    suprsend_response_free(NULL);

    /* bulk on NULL */
    CHECK(suprsend_bulk_new(NULL) == NULL);
    CHECK_RC(suprsend_bulk_append(NULL, NULL), SUPRSEND_E_ARGUMENT);
    CHECK_INT(suprsend_bulk_count(NULL), 0);
    suprsend_bulk_response *br = (suprsend_bulk_response *)&g_passed;
    CHECK_RC(suprsend_bulk_trigger(NULL, &br), SUPRSEND_E_ARGUMENT);
    CHECK(br == NULL || br == (suprsend_bulk_response *)&g_passed);
    CHECK_RC(suprsend_bulk_trigger(NULL, NULL), SUPRSEND_E_ARGUMENT);
    suprsend_bulk_free(NULL);
    const char *st = suprsend_bulk_response_status(NULL);
    CHECK(st == NULL || st[0] == '\0');
    CHECK_INT(suprsend_bulk_response_total(NULL), 0);
    CHECK_INT(suprsend_bulk_response_success(NULL), 0);
    CHECK_INT(suprsend_bulk_response_failure(NULL), 0);
    const char *fr = suprsend_bulk_response_failed_records_json(NULL);
    CHECK(fr == NULL || fr[0] == '\0' || strcmp(fr, "[]") == 0);
    suprsend_bulk_response_free(NULL);
    CHECK(suprsend_last_error() != NULL);
}

/* A handle of one kind given where another is expected: an error, never a wrong read. */
static void test_wrong_kind_handles(void) {
    section("handles of the wrong kind");
    suprsend_options *opts = suprsend_options_new("k", "s");
    suprsend_event *ev = suprsend_event_new("user_1", "some_event");
    CHECK(opts != NULL && ev != NULL);

    CHECK_RC(suprsend_options_set_max_retries((suprsend_options *)ev, 1), SUPRSEND_E_ARGUMENT);
    CHECK(strstr(suprsend_last_error(), "another kind") != NULL);
    CHECK_RC(suprsend_event_set_tenant_id((suprsend_event *)opts, "t1"), SUPRSEND_E_ARGUMENT);
    suprsend_client *client = (suprsend_client *)&g_passed;
    CHECK_RC(suprsend_client_new((const suprsend_options *)ev, &client), SUPRSEND_E_ARGUMENT);
    CHECK(client == NULL);
    suprsend_response *resp = NULL;
    CHECK_RC(suprsend_track_event((suprsend_client *)opts, ev, &resp), SUPRSEND_E_ARGUMENT);
    CHECK(resp == NULL);
    CHECK(suprsend_bulk_new((suprsend_client *)ev) == NULL);

    /* Getters answer as for NULL; frees of the wrong kind free nothing. */
    CHECK_INT(suprsend_response_success((const suprsend_response *)ev), 0);
    CHECK_STR(suprsend_response_message((const suprsend_response *)ev), "");
    CHECK_INT(suprsend_bulk_response_total((const suprsend_bulk_response *)opts), 0);
    suprsend_response_free((suprsend_response *)ev);
    suprsend_bulk_free((suprsend_bulk *)opts);
    suprsend_client_free((suprsend_client *)ev);

    /* Both are still alive and usable. */
    CHECK_RC(suprsend_event_set_tenant_id(ev, "tenant_1"), SUPRSEND_OK);
    CHECK_RC(suprsend_options_set_max_retries(opts, 2), SUPRSEND_OK);
    suprsend_event_free(ev);
    suprsend_options_free(opts);
}

/* The last error of the running thread, copied (the next call replaces it). */
static void last_error_copy(char *out, size_t size) { snprintf(out, size, "%s", suprsend_last_error()); }

/* suprsend_event_new_json and suprsend_bulk_append_json: the whole event in one JSON object
 * gives the event the field-by-field calls give, and bad input the same error. */
static void test_event_json(suprsend_client *c) {
    section("events from JSON");
    char field_err[512], json_err[512];

    CHECK(suprsend_event_new_json(NULL) == NULL);
    CHECK_HAS(suprsend_last_error(), "must not be NULL");
    CHECK(suprsend_event_new_json("") == NULL);
    CHECK_HAS(suprsend_last_error(), "expected a JSON object");
    CHECK(suprsend_event_new_json("{\"distinct_id\":\"u\",\"event\":\"e\",\"colour\":1}") == NULL);
    CHECK_HAS(suprsend_last_error(), "unknown key 'colour'");
    CHECK(suprsend_event_new_json("{\"event\":\"e\"}") == NULL);
    CHECK_STR(suprsend_last_error(), "distinct_id: must not be NULL");
    CHECK(suprsend_event_new_json("{\"distinct_id\":\"u\\u0000\",\"event\":\"e\"}") == NULL);
    CHECK_STR(suprsend_last_error(), "distinct_id: must not contain a NUL character");

    /* properties refused with the message of suprsend_event_set_properties_json */
    static const char *bad_properties[] = {"{\"a\":1,\"a\":2}", "[1]", "{\"a\":01}", "\"x\""};
    for (size_t i = 0; i < sizeof bad_properties / sizeof *bad_properties; i++) {
        suprsend_event *ev = suprsend_event_new("u", "e");
        CHECK_RC(suprsend_event_set_properties_json(ev, bad_properties[i]), SUPRSEND_E_ARGUMENT);
        last_error_copy(field_err, sizeof field_err);
        suprsend_event_free(ev);
        char json[256];
        snprintf(json, sizeof json, "{\"distinct_id\":\"u\",\"event\":\"e\",\"properties\":%s}", bad_properties[i]);
        CHECK(suprsend_event_new_json(json) == NULL);
        last_error_copy(json_err, sizeof json_err);
        if (!CHECK_STR(json_err, field_err)) printf("     (properties %s)\n", bad_properties[i]);
    }

    /* the content rules wait for the send, as for suprsend_event_new, with the same message */
    suprsend_event *by_field = suprsend_event_new("u", "$reserved");
    suprsend_event *by_json = suprsend_event_new_json("{\"distinct_id\":\"u\",\"event\":\"$reserved\"}");
    CHECK(by_json != NULL);
    CHECK_RC(suprsend_track_event(c, by_field, NULL), SUPRSEND_E_VALIDATION);
    last_error_copy(field_err, sizeof field_err);
    CHECK_RC(suprsend_track_event(c, by_json, NULL), SUPRSEND_E_VALIDATION);
    last_error_copy(json_err, sizeof json_err);
    CHECK_STR(json_err, field_err);
    suprsend_event_free(by_field);
    suprsend_event_free(by_json);

    /* a whole event, tracked: the hub gets every field */
    hub_reset();
    suprsend_event *ev = suprsend_event_new_json(
        " {\"distinct_id\":\"user_json\",\"event\":\"json_event\",\"$idempotency_key\":\"json-key-1\","
        "\"tenant_id\":\"tenant_json\",\"brand_id\":\"brand_json\",\"properties\":{\"tag\":\"json1\",\"q\":\"a\\\"b\\n\",\"n\":[1,2.5,null]}} ");
    CHECK(ev != NULL);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    jval *events = hub_events();
    jval *e = find_event_by_tag(events, "json1");
    CHECK(e != NULL);
    CHECK_STR(jstr(jget(e, "distinct_id")), "user_json");
    CHECK_STR(jstr(jget(e, "event")), "json_event");
    CHECK_STR(jstr(jget(e, "$idempotency_key")), "json-key-1");
    CHECK_STR(jstr(jget(e, "tenant_id")), "tenant_json");
    CHECK_STR(jstr(jget(e, "brand_id")), "brand_json");
    CHECK_STR(jstr(jpath(e, "properties.q")), "a\"b\n");
    CHECK_INT(jlen(jpath(e, "properties.n")), 3);
    CHECK(is_uuid_v4(jstr(jget(e, "$insert_id"))));
    jfree(events);

    /* bulk: many events in one call, invalid ones kept as failed records */
    hub_reset();
    suprsend_bulk *b = suprsend_bulk_new(c);
    CHECK_RC(suprsend_bulk_append_json(NULL, "[]"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_bulk_append_json(b, NULL), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_bulk_append_json(b, "[]"), SUPRSEND_OK);
    CHECK_RC(suprsend_bulk_append_json(b, "[{\"distinct_id\":\"a\",\"event\":\"e\"},{\"distinct_id\":\"b\"}]"),
             SUPRSEND_E_ARGUMENT);
    CHECK_STR(suprsend_last_error(), "event name: must not be NULL");
    CHECK_RC(suprsend_bulk_append_json(b, "[{\"distinct_id\":\"a\",\"event\":\"e\"},5]"), SUPRSEND_E_ARGUMENT);
    CHECK_HAS(suprsend_last_error(), "events JSON [1]");
    CHECK_INT(suprsend_bulk_count(b), 0); /* nothing kept from a refused array */
    CHECK_RC(suprsend_bulk_append_json(b,
             "[{\"distinct_id\":\"a\",\"event\":\"bulk_json\",\"properties\":{\"tag\":\"bj\",\"seq\":0}},"
             " {\"distinct_id\":\"b\",\"event\":\"$bad\",\"properties\":{\"tag\":\"bj\",\"seq\":1}},"
             " {\"distinct_id\":\"c\",\"event\":\"bulk_json\",\"properties\":{\"tag\":\"bj\",\"seq\":2}}]"),
             SUPRSEND_E_VALIDATION);
    CHECK_HAS(suprsend_last_error(), "1 of 3 events kept as failed records");
    CHECK_RC(suprsend_bulk_append_json(b, "{\"distinct_id\":\"d\",\"event\":\"bulk_json\",\"properties\":{\"tag\":\"bj\",\"seq\":3}}"),
             SUPRSEND_OK);
    CHECK_RC(suprsend_bulk_append_json(b, "{\"distinct_id\":\"\",\"event\":\"bulk_json\"}"), SUPRSEND_E_VALIDATION);
    CHECK_HAS(suprsend_last_error(), "event kept as a failed record: ");
    CHECK_INT(suprsend_bulk_count(b), 5);
    suprsend_bulk_response *br = NULL;
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_E_VALIDATION);
    CHECK_INT(suprsend_bulk_response_success(br), 3);
    CHECK_INT(suprsend_bulk_response_failure(br), 2);
    jval *fr = jparse(suprsend_bulk_response_failed_records_json(br));
    CHECK_INT(jlen(fr), 2);
    CHECK_STR(jstr(jpath(jat(fr, 0), "record.event")), "$bad");
    CHECK_INT(jnum(jpath(jat(fr, 0), "record.properties.seq"), -1), 1);
    jfree(fr);
    suprsend_bulk_response_free(br);
    CHECK_INT(hub_stat("accepted"), 3);
    CHECK_RC(suprsend_bulk_append_json(b, "[]"), SUPRSEND_E_ARGUMENT); /* triggered */
    suprsend_bulk_free(b);
}

/* The seed page's example event, tracked; then the hub's view of it. */
static void test_track_basic(suprsend_client *c) {
    section("track event");
    hub_reset();
    suprsend_event *ev = suprsend_event_new("0fxxx8f74-xxxx-41c5-8752-xxxcb6911fb08", "product_purchased");
    CHECK(ev != NULL);
    if (!ev) return;
    const char *props =
        "{\"tag\":\"basic\",\"first_name\":\"User\",\"spend_amount\":\"$10\",\"unicode\":\"caf\xc3\xa9 \\u2603\","
        "\"nested_key_example\":{\"nested_key1\":\"some_value_1\",\"nested_key2\":{\"nested_key3\":\"some_value_3\"}},"
        "\"list\":[1,2.5,true,null,\"x\"]}";
    CHECK_RC(suprsend_event_set_properties_json(ev, props), SUPRSEND_OK);
    /* a malformed replacement keeps the earlier properties */
    CHECK_RC(suprsend_event_set_properties_json(ev, "{\"a\":1,}"), SUPRSEND_E_ARGUMENT);
    double before = now_ms();
    suprsend_response *resp = (suprsend_response *)&g_passed;
    int rc = suprsend_track_event(c, ev, &resp);
    CHECK_RC(rc, SUPRSEND_OK);
    CHECK(resp != NULL && resp != (suprsend_response *)&g_passed);
    if (resp && resp != (suprsend_response *)&g_passed) {
        CHECK_INT(suprsend_response_success(resp), 1);
        CHECK_INT(suprsend_response_status_code(resp), 202);
        const char *msg = suprsend_response_message(resp);
        CHECK(msg != NULL && msg[0] != '\0');
        const char *body = suprsend_response_body(resp);
        CHECK(body != NULL);
        jval *bj = jparse(body);
        if (!CHECK(bj != NULL && bj->type == J_OBJ)) printf("     body: %.300s\n", body ? body : "(NULL)");
        CHECK_STR(jstr(jget(bj, "status")), "success");
        const char *mid = jstr(jget(bj, "message_id"));
        if (mid) CHECK_STR(msg, mid);
        jfree(bj);
        suprsend_response_free(resp);
    }

    jval *events = hub_events();
    CHECK_INT(jlen(events), 1);
    jval *e = find_event_by_tag(events, "basic");
    CHECK(e != NULL);
    if (e) {
        CHECK_STR(jstr(jget(e, "event")), "product_purchased");
        CHECK_STR(jstr(jget(e, "distinct_id")), "0fxxx8f74-xxxx-41c5-8752-xxxcb6911fb08");
        CHECK_STR(jstr(jget(e, "env")), g_key);
        CHECK_STR(jstr(jpath(e, "properties.first_name")), "User");
        CHECK_STR(jstr(jpath(e, "properties.spend_amount")), "$10");
        CHECK_STR(jstr(jpath(e, "properties.unicode")), "caf\xc3\xa9 \xe2\x98\x83");
        CHECK_STR(jstr(jpath(e, "properties.nested_key_example.nested_key1")), "some_value_1");
        CHECK_STR(jstr(jpath(e, "properties.nested_key_example.nested_key2.nested_key3")), "some_value_3");
        jval *list = jpath(e, "properties.list");
        CHECK_INT(jlen(list), 5);
        CHECK(jat(list, 1) && jat(list, 1)->type == J_NUM && jat(list, 1)->n == 2.5);
        CHECK(jat(list, 3) && jat(list, 3)->type == J_NULL);
        /* properties keep the caller's order (they are sent as given) */
        jval *p = jget(e, "properties");
        CHECK(p && p->count >= 1 && strcmp(p->keys[0], "tag") == 0);
        const char *iid = jstr(jget(e, "$insert_id"));
        if (!CHECK(is_uuid_v4(iid))) printf("     $insert_id: %s\n", iid ? iid : "(missing)");
        jval *t = jget(e, "$time");
        CHECK(t && t->type == J_NUM);
        double tm = t ? t->n : 0;
        if (!CHECK(tm > before - 120000 && tm < now_ms() + 120000)) printf("     $time %.0f, now %.0f\n", tm, now_ms());
        const char *sdk = jstr(jpath(e, "properties.$ss_sdk_version"));
        CHECK(sdk != NULL && sdk[0] != '\0');
        CHECK(jpath(e, "properties.$attachments") == NULL);
        CHECK(jget(e, "tenant_id") == NULL);
        /* auto idempotency is on by default */
        const char *ik = jstr(jget(e, "$idempotency_key"));
        CHECK(ik != NULL && ik[0] != '\0');
    }
    jfree(events);

    /* each send of an event object is a new occurrence: its own $insert_id and automatic key */
    hub_reset();
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    CHECK_INT(hub_stat("duplicates"), 0);
    events = hub_events();
    CHECK_INT(jlen(events), 2);
    if (jlen(events) == 2) {
        const char *id0 = jstr(jget(hub_event_at(events, 0), "$insert_id"));
        const char *id1 = jstr(jget(hub_event_at(events, 1), "$insert_id"));
        CHECK(id0 && id1 && strcmp(id0, id1) != 0);
    }
    jfree(events);

    /* the same event appended to a bulk three times: three events, none lost as a duplicate */
    hub_reset();
    suprsend_bulk *bulk = suprsend_bulk_new(c);
    for (int i = 0; i < 3; i++) CHECK_RC(suprsend_bulk_append(bulk, ev), SUPRSEND_OK);
    suprsend_bulk_response *br = NULL;
    CHECK_RC(suprsend_bulk_trigger(bulk, &br), SUPRSEND_OK);
    CHECK_INT(suprsend_bulk_response_success(br), 3);
    CHECK_INT(hub_stat("accepted"), 3);
    CHECK_INT(hub_stat("duplicates"), 0);
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(bulk);
    suprsend_event_free(ev);

    /* an event without properties gets properties {} (plus the SDK's) */
    hub_reset();
    ev = suprsend_event_new("user_noprops", "no_props");
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    events = hub_events();
    e = hub_event_at(events, 0);
    CHECK(jget(e, "properties") && jget(e, "properties")->type == J_OBJ);
    CHECK_STR(jstr(jget(e, "event")), "no_props");
    jfree(events);

    /* two events never share an $insert_id */
    hub_reset();
    CHECK_RC(send_tagged(c, "u1", "ev_a", "ins1", NULL), SUPRSEND_OK);
    CHECK_RC(send_tagged(c, "u1", "ev_a", "ins2", NULL), SUPRSEND_OK);
    events = hub_events();
    const char *i1 = jstr(jget(find_event_by_tag(events, "ins1"), "$insert_id"));
    const char *i2 = jstr(jget(find_event_by_tag(events, "ins2"), "$insert_id"));
    CHECK(i1 && i2 && strcmp(i1, i2) != 0);
    jfree(events);
}

/* Properties are sent as given, with the SDK's keys spliced in: every shape of object works,
 * and strings with quotes, backslashes and control characters arrive intact. */
static void test_json_shapes(suprsend_client *c) {
    section("JSON shapes and escaping");
    hub_reset();
    static const char *shapes[] = {
        "{}", "{ }", " {\n\t} ", "{\"tag\":\"s3\" }", " {\"tag\":\"s4\"}\n", "{\"tag\":\"s5\",\"b\":\"}\"}",
        "{\"tag\":\"s6\",\"e\":{}}", "{\"tag\":\"s7\",\"q\":\"a\\\"b\\\\c\\u0000d\\n\"}", "\r\n{\r\n\"tag\" : \"s8\" ,\"n\":-1.5e3}\r\n",
    };
    size_t n = sizeof shapes / sizeof *shapes;
    for (size_t i = 0; i < n; i++) {
        suprsend_event *ev = suprsend_event_new("user_shape", "shape_event");
        int rc = suprsend_event_set_properties_json(ev, shapes[i]);
        if (!CHECK_RC(rc, SUPRSEND_OK)) printf("     (properties %s)\n", shapes[i]);
        rc = suprsend_track_event(c, ev, NULL);
        if (!CHECK_RC(rc, SUPRSEND_OK)) printf("     (properties %s)\n", shapes[i]);
        suprsend_event_free(ev);
    }
    jval *events = hub_events();
    CHECK_INT(jlen(events), n);
    for (size_t i = 0; i < jlen(events); i++) {
        jval *p = jget(hub_event_at(events, i), "properties");
        CHECK(p && p->type == J_OBJ && jget(p, "$ss_sdk_version") != NULL);
    }
    jval *s5 = find_event_by_tag(events, "s5");
    CHECK_STR(jstr(jpath(s5, "properties.b")), "}");
    jval *s7 = find_event_by_tag(events, "s7");
    jval *q = jpath(s7, "properties.q");
    CHECK(q && q->slen == 8 && memcmp(q->s, "a\"b\\c\0d\n", 8) == 0);
    CHECK_INT(jnum(jpath(find_event_by_tag(events, "s8"), "properties.n"), 0), -1500);
    jfree(events);

    /* distinct id, event name, idempotency key with characters JSON must escape */
    hub_reset();
    const char *id = "we\"ird\\id\t\xe2\x9c\x93/\x01";
    const char *name = "ev\"nt\\name";
    const char *key = "key \"quoted\" \\ back";
    suprsend_event *ev = tagged_event(id, name, "escaped", NULL);
    CHECK_RC(suprsend_event_set_idempotency_key(ev, key), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    events = hub_events();
    jval *e = find_event_by_tag(events, "escaped");
    CHECK_STR(jstr(jget(e, "distinct_id")), id);
    CHECK_STR(jstr(jget(e, "event")), name);
    CHECK_STR(jstr(jget(e, "$idempotency_key")), key);
    jfree(events);

    /* a lone surrogate escape is not valid Unicode: refused before anything is sent */
    hub_reset();
    ev = suprsend_event_new("user_shape", "shape_event");
    int rc = suprsend_event_set_properties_json(ev, "{\"tag\":\"lone\",\"s\":\"\\ud800\"}");
    if (rc == SUPRSEND_OK) {
        rc = suprsend_track_event(c, ev, NULL);
        if (!CHECK(rc == SUPRSEND_E_VALIDATION || rc == SUPRSEND_E_ARGUMENT))
            printf("     a lone surrogate \\ud800 in properties was sent: %s %s\n", suprsend_status_name(rc), suprsend_last_error());
    } else {
        CHECK_RC(rc, SUPRSEND_E_ARGUMENT);
    }
    suprsend_event_free(ev);
    /* a proper surrogate pair is fine */
    ev = suprsend_event_new("user_shape", "shape_event");
    CHECK_RC(suprsend_event_set_properties_json(ev, "{\"tag\":\"pair\",\"s\":\"\\ud83d\\ude00\"}"), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    events = hub_events();
    CHECK_STR(jstr(jpath(find_event_by_tag(events, "pair"), "properties.s")), "\xf0\x9f\x98\x80");
    jfree(events);
}

static void test_idempotency(suprsend_client *c) {
    section("idempotency");
    hub_reset();
    char key[128];
    snprintf(key, sizeof key, "order-%s-1", g_run);
    for (int i = 0; i < 2; i++) {
        suprsend_event *ev = tagged_event("user_idem", "order_placed", "idem", NULL);
        CHECK_RC(suprsend_event_set_idempotency_key(ev, key), SUPRSEND_OK);
        suprsend_response *resp = NULL;
        CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_OK);
        CHECK_INT(suprsend_response_success(resp), 1);
        CHECK_GE(suprsend_response_status_code(resp), 200);
        CHECK_LE(suprsend_response_status_code(resp), 299);
        suprsend_response_free(resp);
        suprsend_event_free(ev);
    }
    CHECK_INT(hub_stat("accepted"), 1);
    CHECK_INT(hub_stat("duplicates"), 1);
    jval *events = hub_events();
    CHECK_INT(jlen(events), 1);
    CHECK_STR(jstr(jget(hub_event_at(events, 0), "$idempotency_key")), key);
    jfree(events);

    /* the key is trimmed */
    hub_reset();
    suprsend_event *ev = tagged_event("user_idem", "order_placed", "trim", NULL);
    char padded[160], trimmed[128];
    snprintf(trimmed, sizeof trimmed, "trim-%s", g_run);
    snprintf(padded, sizeof padded, "  %s \t", trimmed);
    CHECK_RC(suprsend_event_set_idempotency_key(ev, padded), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    events = hub_events();
    CHECK_STR(jstr(jget(find_event_by_tag(events, "trim"), "$idempotency_key")), trimmed);
    jfree(events);

    /* At most 255 characters after trimming. The setter keeps any key (it refuses only what can
     * never be right: NULL, bad UTF-8); the send refuses a longer one before anything goes out. */
    hub_reset();
    char *k255 = repeat_char('k', 255);
    memcpy(k255, g_run, strlen(g_run));
    ev = tagged_event("user_idem", "order_placed", "k255", NULL);
    CHECK_RC(suprsend_event_set_idempotency_key(ev, k255), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    /* 255 once trimmed, 259 before */
    {
        sbuf padded255 = {0};
        k255[0] = 'p';
        sb_printf(&padded255, "  %s \t", k255);
        ev = tagged_event("user_idem", "order_placed", "k255_padded", NULL);
        CHECK_RC(suprsend_event_set_idempotency_key(ev, padded255.p), SUPRSEND_OK);
        CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
        suprsend_event_free(ev);
        free(padded255.p);
    }
    /* characters, not bytes: 255 two-byte characters */
    sbuf wide = {0};
    for (int i = 0; i < 255; i++) sb_puts(&wide, "\xc3\xa9");
    ev = tagged_event("user_idem", "order_placed", "k255_wide", NULL);
    CHECK_RC(suprsend_event_set_idempotency_key(ev, wide.p), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    events = hub_events();
    CHECK_INT(jlen(events), 3);
    const char *got255 = jstr(jget(find_event_by_tag(events, "k255"), "$idempotency_key"));
    CHECK_INT(got255 ? (long long)strlen(got255) : -1, 255);
    const char *gotpad = jstr(jget(find_event_by_tag(events, "k255_padded"), "$idempotency_key"));
    CHECK_STR(gotpad, k255); /* trimmed */
    CHECK_STR(jstr(jget(find_event_by_tag(events, "k255_wide"), "$idempotency_key")), wide.p);
    jfree(events);
    free(k255);

    /* 256 characters: refused with SUPRSEND_E_VALIDATION, nothing sent, no response */
    hub_reset();
    char *k256 = repeat_char('k', 256);
    memcpy(k256, g_run, strlen(g_run));
    sb_puts(&wide, "\xc3\xa9"); /* 256 two-byte characters */
    const char *too_long[] = {k256, wide.p};
    for (size_t i = 0; i < 2; i++) {
        ev = tagged_event("user_idem", "order_placed", "k256", NULL);
        CHECK_RC(suprsend_event_set_idempotency_key(ev, too_long[i]), SUPRSEND_OK);
        suprsend_response *resp = (suprsend_response *)&g_passed;
        CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_E_VALIDATION);
        CHECK_ERR_HAS("idempotency");
        CHECK(resp == NULL);
        suprsend_bulk *b = suprsend_bulk_new(c);
        CHECK_RC(suprsend_bulk_append(b, ev), SUPRSEND_E_VALIDATION);
        CHECK_ERR_HAS("idempotency");
        suprsend_bulk_free(b);
        suprsend_event_free(ev);
    }
    CHECK_INT(hub_stat("requests"), 0);
    free(k256);
    free(wide.p);

    /* auto idempotency off: no key unless set */
    suprsend_options *o = test_opts();
    CHECK_RC(suprsend_options_set_auto_idempotency(o, 0), SUPRSEND_OK);
    suprsend_client *c2 = client_from(o);
    ev = tagged_event("user_noauto", "with_key", "noauto_key", NULL);
    suprsend_event_set_idempotency_key(ev, trimmed);
    hub_reset();
    CHECK_RC(send_tagged(c2, "user_noauto", "no_auto_key", "noauto", NULL), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c2, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    events = hub_events();
    jval *e = find_event_by_tag(events, "noauto");
    CHECK(e != NULL);
    CHECK(e && jget(e, "$idempotency_key") == NULL);
    CHECK_STR(jstr(jget(find_event_by_tag(events, "noauto_key"), "$idempotency_key")), trimmed);
    jfree(events);
    suprsend_client_free(c2);

    /* auto on (default): a generated key that looks like a UUID */
    hub_reset();
    CHECK_RC(send_tagged(c, "user_auto", "auto_key", "auto", NULL), SUPRSEND_OK);
    events = hub_events();
    const char *ak = jstr(jget(find_event_by_tag(events, "auto"), "$idempotency_key"));
    CHECK(ak != NULL && ak[0] != '\0');
    jfree(events);
}

static void test_tenant(suprsend_client *c) {
    section("tenant");
    hub_reset();
    suprsend_event *ev = tagged_event("user_t", "tenant_event", "tenant", NULL);
    CHECK_RC(suprsend_event_set_tenant_id(ev, "brand_A-1"), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    jval *events = hub_events();
    CHECK_STR(jstr(jget(find_event_by_tag(events, "tenant"), "tenant_id")), "brand_A-1");
    jfree(events);

    char *t64 = repeat_char('t', 64), *t65 = repeat_char('t', 65);
    const char *cases[] = {"bad tenant", "t!", "t/x", "t\xc3\xa9", " ", t65, NULL};
    for (int i = 0; cases[i]; i++) {
        ev = tagged_event("user_t", "tenant_event", "tenant_bad", NULL);
        int rc = suprsend_event_set_tenant_id(ev, cases[i]);
        if (rc == SUPRSEND_OK) {
            suprsend_response *resp = (suprsend_response *)&g_passed;
            if (!CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_E_VALIDATION)) printf("     tenant: %s\n", cases[i]);
            else CHECK_ERR_HAS("tenant");
            CHECK(resp == NULL);
        } else {
            if (!CHECK(rc == SUPRSEND_E_VALIDATION || rc == SUPRSEND_E_ARGUMENT)) printf("     tenant: %s\n", cases[i]);
        }
        suprsend_event_free(ev);
    }
    ev = tagged_event("user_t", "tenant_event", "tenant64", NULL);
    CHECK_RC(suprsend_event_set_tenant_id(ev, t64), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    free(t64);
    free(t65);
    CHECK_INT(hub_stat("accepted"), 2);
}

/* brand_id: its own top-level member beside tenant_id, with the same rules. */
static void test_brand(suprsend_client *c) {
    section("brand");
    hub_reset();
    suprsend_event *ev = tagged_event("user_b", "brand_event", "brand", NULL);
    CHECK_RC(suprsend_event_set_tenant_id(ev, "t1"), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_brand_id(ev, "b_1-X"), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    ev = tagged_event("user_b", "brand_event", "brand_only", NULL);
    CHECK_RC(suprsend_event_set_brand_id(ev, "b2"), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_brand_id(ev, ""), SUPRSEND_OK); /* "" removes it */
    CHECK_RC(suprsend_event_set_brand_id(ev, "b3"), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    jval *events = hub_events();
    jval *e = find_event_by_tag(events, "brand");
    CHECK_STR(jstr(jget(e, "tenant_id")), "t1");
    CHECK_STR(jstr(jget(e, "brand_id")), "b_1-X");
    CHECK(jpath(e, "properties.brand_id") == NULL);
    e = find_event_by_tag(events, "brand_only");
    CHECK_STR(jstr(jget(e, "brand_id")), "b3");
    CHECK(jget(e, "tenant_id") == NULL);
    jfree(events);

    char *b65 = repeat_char('b', 65);
    const char *cases[] = {"bad brand", "b!", "b\xc3\xa9", b65, NULL};
    for (int i = 0; cases[i]; i++) {
        ev = tagged_event("user_b", "brand_event", "brand_bad", NULL);
        CHECK_RC(suprsend_event_set_brand_id(ev, cases[i]), SUPRSEND_OK);
        if (!CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_E_VALIDATION)) printf("     brand: %s\n", cases[i]);
        else CHECK_ERR_HAS("brand_id");
        suprsend_event_free(ev);
    }
    free(b65);
    ev = tagged_event("user_b", "brand_event", "brand_bad", NULL);
    CHECK_RC(suprsend_event_set_brand_id(ev, "b\xff"), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_event_set_brand_id(NULL, "b"), SUPRSEND_E_ARGUMENT);
    /* the background path carries it too */
    hub_reset();
    CHECK_RC(suprsend_event_set_brand_id(ev, "b_q"), SUPRSEND_OK);
    CHECK_RC(suprsend_event_set_idempotency_key(ev, "brand-queued-1"), SUPRSEND_OK);
    CHECK_RC(suprsend_enqueue(c, ev), SUPRSEND_OK);
    CHECK_RC(suprsend_flush(c, 10000), SUPRSEND_OK);
    suprsend_event_free(ev);
    events = hub_events();
    e = find_event_by_tag(events, "brand_bad");
    CHECK_STR(jstr(jget(e, "brand_id")), "b_q");
    CHECK_STR(jstr(jget(e, "$idempotency_key")), "brand-queued-1");
    jfree(events);
    CHECK_INT(hub_stat("accepted"), 1);
}

/* suprsend_event_add_attachment_data: bytes from memory, copied at the call. */
static void test_attachment_data(suprsend_client *c) {
    section("attachment data");
    hub_reset();
    char bytes[] = "%PDF-1.4 in memory";
    suprsend_event *ev = tagged_event("user_ad", "invoice_generated", "att_data", NULL);
    CHECK_RC(suprsend_event_add_attachment_data(ev, bytes, sizeof bytes - 1, "  memo  ", NULL, 0), SUPRSEND_OK);
    bytes[0] = 'X'; /* copied: the change is not sent */
    CHECK_RC(suprsend_event_add_attachment_data(ev, "a,b\n", 4, "t.csv", NULL, 1), SUPRSEND_OK);
    CHECK_RC(suprsend_event_add_attachment_data(ev, "hello", 5, "x.pdf", "text/x-mine", 0), SUPRSEND_OK);
    CHECK_RC(suprsend_event_add_attachment_data(ev, NULL, 5, "x.pdf", NULL, 0), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_event_add_attachment_data(ev, "x", 0, "x.pdf", NULL, 0), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_event_add_attachment_data(ev, "x", 1, NULL, NULL, 0), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_event_add_attachment_data(ev, "x", 1, " ", NULL, 0), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_event_add_attachment_data(NULL, "x", 1, "x.txt", NULL, 0), SUPRSEND_E_ARGUMENT);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    jval *events = hub_events();
    jval *atts = jpath(find_event_by_tag(events, "att_data"), "properties.$attachments");
    CHECK_INT(jlen(atts), 3);
    if (jlen(atts) == 3) {
        CHECK_STR(jstr(jget(jat(atts, 0), "filename")), "memo");
        CHECK_STR(jstr(jget(jat(atts, 0), "contentType")), "application/pdf"); /* no extension: the bytes */
        size_t n = 0;
        unsigned char *decoded = b64decode(jstr(jget(jat(atts, 0), "data")), &n);
        CHECK(decoded && n == 18 && memcmp(decoded, "%PDF-1.4 in memory", 18) == 0);
        free(decoded);
        CHECK_STR(jstr(jget(jat(atts, 1), "contentType")), "text/csv");
        CHECK(jget(jat(atts, 1), "ignore_if_error") && jget(jat(atts, 1), "ignore_if_error")->b == 1);
        CHECK_STR(jstr(jget(jat(atts, 2), "contentType")), "text/x-mine");
    }
    jfree(events);
}

static char g_tmpdir[256];

static void test_attachments(suprsend_client *c) {
    section("attachments");
    char pdf_path[512], png_path[512], noext_path[512], missing[512], big_path[512], mid_path[512];
    static const unsigned char pdf[] = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n";
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 'I', 'H', 'D',
                                        'R', 0,    0,   0,   1,    0,    0,    0,    1, 8, 6, 0, 0,    0,   0xFF, 0x00};
    snprintf(pdf_path, sizeof pdf_path, "%s/invoice.pdf", g_tmpdir);
    snprintf(png_path, sizeof png_path, "%s/logo.png", g_tmpdir);
    snprintf(noext_path, sizeof noext_path, "%s/picture", g_tmpdir);
    snprintf(missing, sizeof missing, "%s/does-not-exist.pdf", g_tmpdir);
    CHECK(write_file(pdf_path, pdf, sizeof pdf - 1));
    CHECK(write_file(png_path, png, sizeof png));
    CHECK(write_file(noext_path, png, sizeof png));

    /* What the hub would refuse is refused here: an empty file, a URL without a host, the
     * caller's own $attachments of another shape (nothing sent) */
    {
        char empty_path[512];
        snprintf(empty_path, sizeof empty_path, "%s/empty.pdf", g_tmpdir);
        CHECK(write_file(empty_path, "", 0));
        suprsend_event *bad = tagged_event("user_att", "invoice_generated", "att_refused", NULL);
        CHECK_RC(suprsend_event_add_attachment(bad, empty_path, NULL, 0), SUPRSEND_E_ATTACHMENT);
        CHECK_ERR_HAS("empty");
        CHECK_RC(suprsend_event_add_attachment(bad, empty_path, NULL, 1), SUPRSEND_OK); /* skipped */
        CHECK_RC(suprsend_event_add_attachment(bad, "http://", NULL, 1), SUPRSEND_E_ARGUMENT);
        hub_reset();
        static const char *shapes[] = {
            "{\"$attachments\":\"https://example.com/a.pdf\"}",
            "{\"$attachments\":[{\"url\":\"file:///etc/passwd\"}]}",
            "{\"$attachments\":[{\"url\":\"http://\"}]}",
            "{\"$attachments\":[{\"filename\":\"a.pdf\"}]}",
        };
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            CHECK_RC(suprsend_event_set_properties_json(bad, shapes[i]), SUPRSEND_OK);
            CHECK_RC(suprsend_track_event(c, bad, NULL), SUPRSEND_E_VALIDATION);
            CHECK_ERR_HAS("properties.$attachments");
        }
        CHECK_RC(suprsend_event_set_properties_json(bad, "{\"$attachments\":[{\"url\":\"https://example.com/a.pdf\"}]}"),
                 SUPRSEND_OK);
        CHECK_RC(suprsend_track_event(c, bad, NULL), SUPRSEND_OK);
        CHECK_INT(hub_stat("requests"), 1);
        CHECK_INT(hub_stat("accepted"), 1);
        suprsend_event_free(bad);
        unlink(empty_path);
    }

    hub_reset();
    suprsend_event *ev = tagged_event("user_att", "invoice_generated", "att", NULL);
    CHECK_RC(suprsend_event_add_attachment(ev, "https://www.adobe.com/sample_file.pdf", NULL, 0), SUPRSEND_OK);
    CHECK_RC(suprsend_event_add_attachment(ev, "http://example.com/files/report?id=3", "report.csv", 1), SUPRSEND_OK);
    CHECK_RC(suprsend_event_add_attachment(ev, pdf_path, NULL, 0), SUPRSEND_OK);
    CHECK_RC(suprsend_event_add_attachment(ev, png_path, NULL, 0), SUPRSEND_OK);
    CHECK_RC(suprsend_event_add_attachment(ev, noext_path, NULL, 0), SUPRSEND_OK);
    CHECK_RC(suprsend_event_add_attachment(ev, pdf_path, "Invoice 42.pdf", 1), SUPRSEND_OK);
    suprsend_response *resp = NULL;
    CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_OK);
    suprsend_response_free(resp);
    suprsend_event_free(ev);

    jval *events = hub_events();
    jval *e = find_event_by_tag(events, "att");
    jval *atts = jpath(e, "properties.$attachments");
    CHECK(atts && atts->type == J_ARR);
    CHECK_INT(jlen(atts), 6);
    if (jlen(atts) == 6) {
        jval *a0 = jat(atts, 0);
        CHECK_STR(jstr(jget(a0, "url")), "https://www.adobe.com/sample_file.pdf");
        /* A URL attachment without a file name is sent with "filename": null (the hub names it). */
        CHECK(jget(a0, "filename") && jget(a0, "filename")->type == J_NULL);
        CHECK(jget(a0, "ignore_if_error") && jget(a0, "ignore_if_error")->type == J_BOOL && !jget(a0, "ignore_if_error")->b);
        CHECK(jget(a0, "data") == NULL);
        jval *a1 = jat(atts, 1);
        CHECK_STR(jstr(jget(a1, "url")), "http://example.com/files/report?id=3");
        CHECK_STR(jstr(jget(a1, "filename")), "report.csv");
        CHECK(jget(a1, "ignore_if_error") && jget(a1, "ignore_if_error")->b == 1);

        struct { size_t idx; const char *name; const char *type; const unsigned char *bytes; size_t len; int ign; } want[] = {
            {2, "invoice.pdf", "application/pdf", pdf, sizeof pdf - 1, 0},
            {3, "logo.png", "image/png", png, sizeof png, 0},
            {4, "picture", "image/png", png, sizeof png, 0},
            {5, "Invoice 42.pdf", "application/pdf", pdf, sizeof pdf - 1, 1},
        };
        for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
            jval *a = jat(atts, want[i].idx);
            CHECK_STR(jstr(jget(a, "filename")), want[i].name);
            CHECK_STR(jstr(jget(a, "contentType")), want[i].type);
            CHECK(jget(a, "url") == NULL);
            jval *ign = jget(a, "ignore_if_error");
            CHECK(ign && ign->type == J_BOOL && ign->b == want[i].ign);
            const char *data = jstr(jget(a, "data"));
            CHECK(data != NULL);
            if (data) {
                size_t n = 0;
                unsigned char *bytes = b64decode(data, &n);
                CHECK(bytes != NULL);
                CHECK_INT(n, want[i].len);
                CHECK(bytes && n == want[i].len && memcmp(bytes, want[i].bytes, n) == 0);
                free(bytes);
            }
        }
    } else {
        printf("     event: %s\n", e ? "present" : "missing");
    }
    jfree(events);

    /* a missing file */
    ev = tagged_event("user_att", "invoice_generated", "att_missing", NULL);
    CHECK_RC(suprsend_event_add_attachment(ev, missing, NULL, 0), SUPRSEND_E_ATTACHMENT);
    CHECK_ERR_HAS("does-not-exist.pdf");
    /* a directory is not a readable file either */
    CHECK_RC(suprsend_event_add_attachment(ev, g_tmpdir, NULL, 0), SUPRSEND_E_ATTACHMENT);
    /* ... with ignore_if_error: OK, and the event goes without it */
    CHECK_RC(suprsend_event_add_attachment(ev, missing, NULL, 1), SUPRSEND_OK);
    hub_reset();
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    events = hub_events();
    e = find_event_by_tag(events, "att_missing");
    CHECK(e != NULL);
    atts = jpath(e, "properties.$attachments");
    CHECK(atts == NULL || jlen(atts) == 0);
    jfree(events);

    /* "~/" expands to the home directory */
    {
        const char *old_home = getenv("HOME");
        char *saved = old_home ? xstrdup(old_home) : NULL;
        setenv("HOME", g_tmpdir, 1);
        ev = tagged_event("user_att", "invoice_generated", "att_home", NULL);
        CHECK_RC(suprsend_event_add_attachment(ev, "~/invoice.pdf", NULL, 0), SUPRSEND_OK);
        if (saved) setenv("HOME", saved, 1); else unsetenv("HOME");
        free(saved);
        hub_reset();
        CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
        suprsend_event_free(ev);
        events = hub_events();
        CHECK_STR(jstr(jget(jat(jpath(find_event_by_tag(events, "att_home"), "properties.$attachments"), 0), "filename")),
                  "invoice.pdf");
        jfree(events);
    }

    /* sizes: a file too large for any event, and one too large for the default limit */
    {
        size_t big = 700 * 1024, mid = 90 * 1024;
        unsigned char *buf = malloc(big);
        if (!buf) abort();
        for (size_t i = 0; i < big; i++) buf[i] = (unsigned char)(i * 131 + 7);
        snprintf(big_path, sizeof big_path, "%s/big.bin", g_tmpdir);
        snprintf(mid_path, sizeof mid_path, "%s/mid.bin", g_tmpdir);
        CHECK(write_file(big_path, buf, big));
        CHECK(write_file(mid_path, buf, mid));
        free(buf);
        ev = tagged_event("user_att", "invoice_generated", "att_big", NULL);
        CHECK_RC(suprsend_event_add_attachment(ev, big_path, NULL, 0), SUPRSEND_E_TOO_LARGE);
        CHECK_RC(suprsend_event_add_attachment(ev, mid_path, NULL, 0), SUPRSEND_OK);
        suprsend_response *r2 = (suprsend_response *)&g_passed;
        hub_reset();
        CHECK_RC(suprsend_track_event(c, ev, &r2), SUPRSEND_E_TOO_LARGE);
        CHECK(r2 == NULL);
        CHECK_INT(hub_stat("requests"), 0);
        suprsend_event_free(ev);
    }
}

static void test_validation(suprsend_client *c) {
    section("validation");
    hub_reset();
    struct { const char *id; const char *name; const char *props; const char *field; } bad[] = {
        {"u", "$foo", NULL, "event"},
        {"u", "ss_foo", NULL, "event"},
        {"u", "SS_Foo", NULL, "event"},
        {"u", "$Identify_me", NULL, "event"},
        {"u", "  $foo", NULL, "event"},
        {"u", "a", NULL, "event"},
        {"u", " a ", NULL, "event"},
        {"u", "", NULL, "event"},
        {"u", "   ", NULL, "event"},
        {"", "ev", NULL, "distinct_id"},
        {"   ", "ev", NULL, "distinct_id"},
        {"\t\n", "ev", NULL, "distinct_id"},
        {"u", "ev", "{\"$x\":1}", "$x"},
        {"u", "ev", "{\"ss_y\":1}", "ss_y"},
        {"u", "ev", "{\"SS_Z\":{\"a\":1}}", "SS_Z"},
        {"u", "ev", "{\"ok\":1,\"$ss_sdk_version\":\"x\"}", "$ss_sdk_version"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        suprsend_event *ev = suprsend_event_new(bad[i].id, bad[i].name);
        CHECK(ev != NULL);
        if (!ev) continue;
        if (bad[i].props) CHECK_RC(suprsend_event_set_properties_json(ev, bad[i].props), SUPRSEND_OK);
        suprsend_response *resp = (suprsend_response *)&g_passed;
        int rc = suprsend_track_event(c, ev, &resp);
        if (!CHECK_RC(rc, SUPRSEND_E_VALIDATION))
            printf("     (distinct_id \"%s\", event \"%s\", properties %s)\n", bad[i].id, bad[i].name,
                   bad[i].props ? bad[i].props : "none");
        else if (!CHECK_ERR_HAS(bad[i].field))
            printf("     (distinct_id \"%s\", event \"%s\")\n", bad[i].id, bad[i].name);
        CHECK(resp == NULL);
        if (rc == SUPRSEND_OK && resp != (suprsend_response *)&g_passed) suprsend_response_free(resp);
        suprsend_event_free(ev);
    }
    CHECK_INT(hub_stat("requests"), 0);

    /* allowed: the SDK event names with '$', two characters, a '$' key in a nested object */
    static const char *allowed[] = {"$identify", "$notification_delivered", "$notification_dismiss",
                                    "$notification_clicked", "$app_launched", "$user_login", "$user_logout", "ab",
                                    "ssfoo", "s_s", "evento_\xc3\xa9"};
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "allowed%zu", i);
        int rc = send_tagged(c, "user_v", allowed[i], tag, "\"nested\":{\"$x\":1,\"ss_y\":2}");
        if (!CHECK_RC(rc, SUPRSEND_OK)) printf("     (event \"%s\")\n", allowed[i]);
    }
    /* names and ids are trimmed */
    CHECK_RC(send_tagged(c, "  user_trim  ", "  trimmed_event ", "trimmed", NULL), SUPRSEND_OK);
    jval *events = hub_events();
    jval *e = find_event_by_tag(events, "trimmed");
    CHECK_STR(jstr(jget(e, "distinct_id")), "user_trim");
    CHECK_STR(jstr(jget(e, "event")), "trimmed_event");
    CHECK_INT(jnum(jpath(find_event_by_tag(events, "allowed0"), "properties.nested.$x"), -1), 1);
    jfree(events);
}

static void test_sizes(void) {
    section("event size");
    size_t n = 200 * 1024;
    char *filler = repeat_char('x', n);
    sbuf props = {0};
    sb_printf(&props, "\"blob\":\"%s\"", filler);
    free(filler);

    suprsend_options *o = test_opts();
    suprsend_client *c = client_from(o);
    hub_reset();
    suprsend_event *ev = tagged_event("user_big", "big_event", "big", props.p);
    suprsend_response *resp = (suprsend_response *)&g_passed;
    CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_E_TOO_LARGE);
    CHECK(resp == NULL);
    CHECK_INT(hub_stat("requests"), 0);
    suprsend_client_free(c);

    o = test_opts();
    CHECK_RC(suprsend_options_set_max_event_bytes(o, 819200), SUPRSEND_OK);
    c = client_from(o);
    resp = NULL;
    CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_OK);
    CHECK_INT(suprsend_response_status_code(resp), 202);
    suprsend_response_free(resp);
    suprsend_event_free(ev);
    jval *events = hub_events();
    jval *e = find_event_by_tag(events, "big");
    CHECK(e != NULL);
    CHECK_INT(jpath(e, "properties.blob") ? jpath(e, "properties.blob")->slen : 0, n);
    jfree(events);

    /* over 800 KiB: too large even with the highest limit */
    free(props.p);
    props = (sbuf){0};
    filler = repeat_char('y', 820 * 1024);
    sb_printf(&props, "\"blob\":\"%s\"", filler);
    free(filler);
    ev = tagged_event("user_big", "big_event", "bigger", props.p);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_E_TOO_LARGE);
    CHECK_ERR_HAS("byte");
    suprsend_event_free(ev);
    free(props.p);
    suprsend_client_free(c);
}

static void test_retries(void) {
    section("retries");
    suprsend_options *o = test_opts();
    suprsend_options_set_max_retries(o, 3);
    suprsend_client *c = client_from(o);

    /* two 503s, then success: 3 requests, one event */
    hub_reset();
    hub_faults("[{\"status\":503},{\"status\":503}]");
    suprsend_response *resp = NULL;
    suprsend_event *ev = tagged_event("u_r", "retry_event", "retry503", NULL);
    CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_OK);
    CHECK_INT(suprsend_response_success(resp), 1);
    CHECK_INT(suprsend_response_status_code(resp), 202);
    suprsend_response_free(resp);
    suprsend_event_free(ev);
    CHECK_INT(hub_stat("requests"), 3);
    jval *events = hub_events();
    CHECK_INT(jlen(events), 1);
    jfree(events);

    /* 429 with Retry-After: 1 is waited for */
    hub_reset();
    hub_faults("[{\"status\":429,\"retry_after\":1}]");
    double t0 = mono_s();
    CHECK_RC(send_tagged(c, "u_r", "retry_event", "retry429", NULL), SUPRSEND_OK);
    double dt = mono_s() - t0;
    if (!CHECK(dt >= 0.9)) printf("     waited %.3f s\n", dt);
    CHECK_INT(hub_stat("requests"), 2);

    /* a 400 is not retried */
    hub_reset();
    hub_faults("[{\"status\":400}]");
    ev = tagged_event("u_r", "retry_event", "retry400", NULL);
    resp = NULL;
    CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_E_HTTP);
    CHECK(resp != NULL);
    CHECK_INT(suprsend_response_success(resp), 0);
    CHECK_INT(suprsend_response_status_code(resp), 400);
    const char *msg = suprsend_response_message(resp);
    CHECK(msg != NULL && msg[0] != '\0');
    CHECK(suprsend_response_body(resp) != NULL);
    suprsend_response_free(resp);
    suprsend_event_free(ev);
    CHECK_INT(hub_stat("requests"), 1);
    CHECK_INT(jlen(events = hub_events()), 0);
    jfree(events);

    /* wrong secret: the hub refuses the signature (a 4xx, not retried) */
    {
        suprsend_options *bo = suprsend_options_new(g_key, "definitely-not-the-secret");
        suprsend_options_set_base_url(bo, g_base_url);
        suprsend_client *bc = client_from(bo);
        hub_reset();
        ev = tagged_event("u_r", "retry_event", "badsig", NULL);
        resp = NULL;
        CHECK_RC(suprsend_track_event(bc, ev, &resp), SUPRSEND_E_HTTP);
        CHECK_GE(suprsend_response_status_code(resp), 400);
        CHECK_LE(suprsend_response_status_code(resp), 403);
        CHECK(suprsend_response_message(resp)[0] != '\0');
        CHECK_INT(hub_stat("requests"), 1);
        suprsend_response_free(resp);
        suprsend_event_free(ev);
        suprsend_client_free(bc);
    }

    /* a drop after processing: the retry is a duplicate, one event */
    hub_reset();
    hub_faults("[{\"drop\":\"after_processing\"}]");
    CHECK_RC(send_tagged(c, "u_r", "retry_event", "drop_after", NULL), SUPRSEND_OK);
    events = hub_events();
    CHECK_INT(jlen(events), 1);
    jfree(events);
    CHECK_INT(hub_stat("duplicates"), 1);
    CHECK_INT(hub_stat("requests"), 2);

    /* a drop before processing: retried, one event */
    hub_reset();
    hub_faults("[{\"drop\":\"before_processing\"}]");
    CHECK_RC(send_tagged(c, "u_r", "retry_event", "drop_before", NULL), SUPRSEND_OK);
    events = hub_events();
    CHECK_INT(jlen(events), 1);
    jfree(events);
    suprsend_client_free(c);

    /* Auto idempotency off and no key: what the hub may have processed is not sent again (the
     * hub could not drop the repeat); what it certainly did not process still is. */
    {
        suprsend_options *uo = test_opts();
        suprsend_options_set_max_retries(uo, 3);
        suprsend_options_set_auto_idempotency(uo, 0);
        suprsend_client *uc = client_from(uo);
        hub_reset();
        hub_faults("[{\"drop\":\"after_processing\"}]");
        CHECK_RC(send_tagged(uc, "u_r", "retry_event", "unkeyed_drop_after", NULL), SUPRSEND_E_NETWORK);
        CHECK_ERR_HAS("not sent again");
        CHECK_INT(hub_stat("accepted"), 1);
        CHECK_INT(hub_stat("requests"), 1);

        hub_reset();
        hub_faults("[{\"status\":500}]");
        CHECK_RC(send_tagged(uc, "u_r", "retry_event", "unkeyed_500", NULL), SUPRSEND_E_HTTP);
        CHECK_INT(hub_stat("requests"), 1);

        hub_reset();
        hub_faults("[{\"status\":503},{\"status\":429}]");
        CHECK_RC(send_tagged(uc, "u_r", "retry_event", "unkeyed_503", NULL), SUPRSEND_OK);
        CHECK_INT(hub_stat("accepted"), 1);

        /* the caller's key makes the retry safe: sent again, dropped by the hub */
        hub_reset();
        hub_faults("[{\"drop\":\"after_processing\"}]");
        suprsend_event *kev = tagged_event("u_r", "retry_event", "keyed_drop_after", NULL);
        char kkey[64];
        snprintf(kkey, sizeof kkey, "retry-%s", g_run);
        suprsend_event_set_idempotency_key(kev, kkey);
        CHECK_RC(suprsend_track_event(uc, kev, NULL), SUPRSEND_OK);
        suprsend_event_free(kev);
        CHECK_INT(hub_stat("accepted"), 1);
        CHECK_INT(hub_stat("duplicates"), 1);
        suprsend_client_free(uc);
    }

    /* no retries: a 503 is final */
    o = test_opts();
    suprsend_options_set_max_retries(o, 0);
    suprsend_options_set_timeout_ms(o, 500);
    c = client_from(o);
    hub_reset();
    hub_faults("[{\"status\":503}]");
    ev = tagged_event("u_r", "retry_event", "noretry503", NULL);
    resp = NULL;
    CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_E_HTTP);
    CHECK_INT(suprsend_response_status_code(resp), 503);
    CHECK_INT(suprsend_response_success(resp), 0);
    CHECK(suprsend_response_message(resp)[0] != '\0');
    suprsend_response_free(resp);
    suprsend_event_free(ev);
    CHECK_INT(hub_stat("requests"), 1);

    /* no retries and no idempotency key: a request the hub processed but did not answer
     * (on a kept-alive connection) must not be sent again by anyone, libcurl included */
    {
        suprsend_options *no = test_opts();
        suprsend_options_set_max_retries(no, 0);
        suprsend_options_set_auto_idempotency(no, 0);
        suprsend_client *nc = client_from(no);
        hub_reset();
        CHECK_RC(send_tagged(nc, "u_r", "warm_up", "warmup", NULL), SUPRSEND_OK); /* opens the connection */
        hub_faults("[{\"drop\":\"after_processing\"}]");
        int drc = send_tagged(nc, "u_r", "retry_event", "noretry_drop", NULL);
        CHECK_RC(drc, SUPRSEND_E_NETWORK);
        jval *stats = hub_get("/_hub/stats");
        if (!CHECK_INT(jnum(jget(stats, "requests"), -1), 2))
            printf("     max_retries 0, but the request was sent again after the connection dropped\n");
        CHECK_INT(jnum(jget(stats, "accepted"), -1), 2); /* the warm-up and the dropped one, once */
        jfree(stats);
        suprsend_client_free(nc);
    }

    /* a slow answer with a 500 ms timeout: a network error with status 0 */
    hub_reset();
    hub_faults("[{\"delay_ms\":1500}]");
    ev = tagged_event("u_r", "retry_event", "slow", NULL);
    resp = NULL;
    t0 = mono_s();
    CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_E_NETWORK);
    dt = mono_s() - t0;
    if (!CHECK(dt < 1.4)) printf("     took %.3f s\n", dt);
    CHECK(resp != NULL); /* a request was made: a response, also on failure */
    CHECK_INT(suprsend_response_status_code(resp), 0);
    CHECK_INT(suprsend_response_success(resp), 0);
    suprsend_response_free(resp);
    suprsend_event_free(ev);
    suprsend_client_free(c);
    nanosleep(&(struct timespec){1, 600000000L}, NULL); /* let the hub finish the slow request */

    /* a closed port: a network error with status 0 */
    {
        int port = dead_port(); /* bound but never listening, then closed: nobody answers */
        CHECK(port > 0);
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
        o = suprsend_options_new(g_key, g_secret);
        CHECK_RC(suprsend_options_set_base_url(o, url), SUPRSEND_OK);
        suprsend_options_set_max_retries(o, 0);
        suprsend_options_set_connect_timeout_ms(o, 2000);
        c = client_from(o);
        ev = tagged_event("u_r", "retry_event", "closed", NULL);
        resp = NULL;
        t0 = mono_s();
        CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_E_NETWORK);
        CHECK(g_err[0] != '\0');
        CHECK(mono_s() - t0 < 3.0);
        CHECK(resp != NULL); /* a request was attempted: a response, also on failure */
        CHECK_INT(suprsend_response_status_code(resp), 0);
        CHECK_INT(suprsend_response_success(resp), 0);
        CHECK(suprsend_response_message(resp)[0] != '\0');
        suprsend_response_free(resp);
        suprsend_event_free(ev);
        suprsend_client_free(c);
    }
}

static void test_base_path(void) {
    section("base URL with a path");
    char url[600];
    const char *suffixes[] = {"proxy/", "proxy", "a/b/"};
    size_t blen = strlen(g_base_url);
    for (size_t i = 0; i < 3; i++) {
        snprintf(url, sizeof url, "%s%s%s", g_base_url, (blen && g_base_url[blen - 1] == '/') ? "" : "/", suffixes[i]);
        suprsend_options *o = suprsend_options_new(g_key, g_secret);
        CHECK_RC(suprsend_options_set_base_url(o, url), SUPRSEND_OK);
        suprsend_options_set_max_retries(o, 0);
        suprsend_client *c = client_from(o);
        hub_reset();
        char tag[32];
        snprintf(tag, sizeof tag, "path%zu", i);
        int rc = send_tagged(c, "u_path", "path_event", tag, NULL);
        if (!CHECK_RC(rc, SUPRSEND_OK)) printf("     (base url %s)\n", url);
        jval *events = hub_events();
        CHECK(find_event_by_tag(events, tag) != NULL);
        jfree(events);
        suprsend_client_free(c);
    }
}

static void test_bulk(suprsend_client *c) {
    section("bulk");
    hub_reset();
    suprsend_bulk *b = suprsend_bulk_new(c);
    CHECK(b != NULL);
    if (!b) return;
    CHECK_RC(suprsend_bulk_append(b, NULL), SUPRSEND_E_ARGUMENT);
    CHECK_INT(suprsend_bulk_count(b), 0);
    for (int i = 0; i < 250; i++) {
        char id[32], extra[64];
        const char *name = "bulk_event";
        snprintf(id, sizeof id, "user_%d", i);
        if (i == 17) name = "$bad_event";
        if (i == 123) id[0] = '\0';
        snprintf(extra, sizeof extra, "\"seq\":%d", i);
        suprsend_event *ev = tagged_event(id, name, "bulk", extra);
        int rc = suprsend_bulk_append(b, ev);
        if (i == 17 || i == 123) CHECK_RC(rc, SUPRSEND_E_VALIDATION);
        else if (rc != SUPRSEND_OK) CHECK_RC(rc, SUPRSEND_OK);
        suprsend_event_free(ev); /* the bulk keeps a copy */
    }
    CHECK_INT(suprsend_bulk_count(b), 250);
    CHECK_INT(hub_stat("requests"), 0);

    suprsend_bulk_response *br = NULL;
    int rc = suprsend_bulk_trigger(b, &br);
    CHECK_RC(rc, SUPRSEND_E_VALIDATION);
    CHECK(br != NULL);
    CHECK_STR(suprsend_bulk_response_status(br), "partial");
    CHECK_INT(suprsend_bulk_response_total(br), 250);
    CHECK_INT(suprsend_bulk_response_success(br), 248);
    CHECK_INT(suprsend_bulk_response_failure(br), 2);
    const char *frj = suprsend_bulk_response_failed_records_json(br);
    jval *fr = jparse(frj);
    if (!CHECK(fr != NULL && fr->type == J_ARR)) printf("     failed_records_json: %.300s\n", frj ? frj : "(NULL)");
    CHECK_INT(jlen(fr), 2);
    if (jlen(fr) == 2) {
        jval *f0 = jat(fr, 0), *f1 = jat(fr, 1);
        CHECK_STR(jstr(jpath(f0, "record.event")), "$bad_event");
        CHECK_INT(jnum(jpath(f0, "record.properties.seq"), -1), 17);
        CHECK_HAS(jstr(jget(f0, "error")), "event");
        CHECK_INT(jnum(jget(f0, "code"), -1), 500); /* a rule broken before sending: the official SDKs' code */
        CHECK_STR(jstr(jpath(f1, "record.distinct_id")), "");
        CHECK_INT(jnum(jpath(f1, "record.properties.seq"), -1), 123);
        CHECK_HAS(jstr(jget(f1, "error")), "distinct_id");
        CHECK_INT(jnum(jget(f1, "code"), -1), 500);
    }
    jfree(fr);

    /* the hub: 3 bulk requests (100 + 100 + 48), 248 events in order, distinct insert ids */
    CHECK_INT(hub_stat("requests"), 3);
    jval *events = hub_events();
    CHECK_INT(jlen(events), 248);
    int expect = 0, in_order = 1;
    for (size_t i = 0; i < jlen(events); i++) {
        if (expect == 17 || expect == 123) expect++;
        long long seq = jnum(jpath(hub_event_at(events, i), "properties.seq"), -1);
        if (seq != expect) {
            if (in_order) printf("     event %zu has seq %lld, expected %d\n", i, seq, expect);
            in_order = 0;
        }
        expect++;
    }
    CHECK(in_order);
    int distinct = 1;
    for (size_t i = 0; i < jlen(events) && distinct; i++) {
        const char *a = jstr(jget(hub_event_at(events, i), "$insert_id"));
        if (!is_uuid_v4(a)) distinct = 0;
        for (size_t j = i + 1; j < jlen(events) && distinct; j++) {
            const char *bb = jstr(jget(hub_event_at(events, j), "$insert_id"));
            if (!a || !bb || strcmp(a, bb) == 0) distinct = 0;
        }
    }
    CHECK(distinct);
    CHECK_STR(jstr(jget(hub_event_at(events, 0), "env")), g_key);
    CHECK_STR(jstr(jget(hub_event_at(events, 0), "distinct_id")), "user_0");
    jfree(events);
    suprsend_bulk_response_free(br);

    /* a second trigger: refused, nothing sent */
    br = NULL;
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_E_ARGUMENT);
    suprsend_bulk_response_free(br);
    suprsend_event *ev = tagged_event("user_late", "late_event", "late", NULL);
    CHECK_RC(suprsend_bulk_append(b, ev), SUPRSEND_E_ARGUMENT);
    CHECK_INT(suprsend_bulk_count(b), 250);
    CHECK_INT(hub_stat("requests"), 3);
    suprsend_bulk_free(b);

    /* an empty bulk: success 0/0/0, nothing sent */
    hub_reset();
    b = suprsend_bulk_new(c);
    br = NULL;
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_OK);
    CHECK_STR(suprsend_bulk_response_status(br), "success");
    CHECK_INT(suprsend_bulk_response_total(br), 0);
    CHECK_INT(suprsend_bulk_response_success(br), 0);
    CHECK_INT(suprsend_bulk_response_failure(br), 0);
    CHECK_STR(suprsend_bulk_response_failed_records_json(br), "[]");
    CHECK_INT(hub_stat("requests"), 0);
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);

    /* all valid: success, OK */
    hub_reset();
    b = suprsend_bulk_new(c);
    for (int i = 0; i < 5; i++) CHECK_RC(suprsend_bulk_append(b, ev), SUPRSEND_OK);
    br = NULL;
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_OK);
    CHECK_STR(suprsend_bulk_response_status(br), "success");
    CHECK_INT(suprsend_bulk_response_success(br), 5);
    CHECK_STR(suprsend_bulk_response_failed_records_json(br), "[]");
    CHECK_INT(hub_stat("requests"), 1);
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);

    /* all invalid: fail, nothing sent */
    hub_reset();
    b = suprsend_bulk_new(c);
    suprsend_event *bad = suprsend_event_new("u", "ss_reserved");
    CHECK_RC(suprsend_bulk_append(b, bad), SUPRSEND_E_VALIDATION);
    CHECK_RC(suprsend_bulk_append(b, bad), SUPRSEND_E_VALIDATION);
    suprsend_event_free(bad);
    br = NULL;
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_E_VALIDATION);
    CHECK_STR(suprsend_bulk_response_status(br), "fail");
    CHECK_INT(suprsend_bulk_response_total(br), 2);
    CHECK_INT(suprsend_bulk_response_failure(br), 2);
    CHECK_INT(hub_stat("requests"), 0);
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);

    /* the hub refuses the whole request: every event of it fails, with that status */
    hub_reset();
    hub_faults("[{\"status\":400}]");
    b = suprsend_bulk_new(c);
    for (int i = 0; i < 3; i++) suprsend_bulk_append(b, ev);
    br = NULL;
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_E_HTTP);
    CHECK_STR(suprsend_bulk_response_status(br), "fail");
    CHECK_INT(suprsend_bulk_response_failure(br), 3);
    fr = jparse(suprsend_bulk_response_failed_records_json(br));
    CHECK_INT(jlen(fr), 3);
    CHECK_INT(jnum(jget(jat(fr, 0), "code"), -1), 400);
    CHECK(jstr(jget(jat(fr, 0), "error")) && jstr(jget(jat(fr, 0), "error"))[0]);
    jfree(fr);
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);
    suprsend_event_free(ev);

    /* faults on chunks: a retried 503 and a processed-but-unanswered chunk still give each
     * event exactly once; with no retries, a dropped chunk fails all its events (code 500) */
    {
        suprsend_options *o = test_opts();
        suprsend_options_set_max_retries(o, 3);
        suprsend_client *rc3 = client_from(o);
        o = test_opts();
        suprsend_options_set_max_retries(o, 0);
        suprsend_client *rc0 = client_from(o);
        struct { suprsend_client *cl; const char *script; int status; long ok, fail; long requests, dups; } cases[] = {
            {rc3, "[{\"status\":503}]", SUPRSEND_OK, 150, 0, 3, 0},
            {rc3, "[{},{\"drop\":\"after_processing\"}]", SUPRSEND_OK, 150, 0, 3, 50},
            {rc3, "[{\"status\":429,\"retry_after\":1}]", SUPRSEND_OK, 150, 0, 3, 0},
            {rc0, "[{},{\"drop\":\"before_processing\"}]", SUPRSEND_E_NETWORK, 100, 50, 2, 0},
        };
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            hub_reset();
            hub_faults(cases[k].script);
            b = suprsend_bulk_new(cases[k].cl);
            for (int i = 0; i < 150; i++) {
                char extra[32];
                snprintf(extra, sizeof extra, "\"seq\":%d", i);
                suprsend_event *e2 = tagged_event("user_chunk", "chunk_event", "chunk", extra);
                suprsend_bulk_append(b, e2);
                suprsend_event_free(e2);
            }
            br = NULL;
            int trc = suprsend_bulk_trigger(b, &br);
            if (!CHECK_RC(trc, cases[k].status)) printf("     (faults %s)\n", cases[k].script);
            CHECK_INT(suprsend_bulk_response_total(br), 150);
            CHECK_INT(suprsend_bulk_response_success(br), cases[k].ok);
            /* the details only when the counts are right (one wrong count is one failure line) */
            if (CHECK_INT(suprsend_bulk_response_failure(br), cases[k].fail))
                CHECK_STR(suprsend_bulk_response_status(br), cases[k].fail ? "partial" : "success");
            if (cases[k].fail && suprsend_bulk_response_failure(br) == cases[k].fail) {
                fr = jparse(suprsend_bulk_response_failed_records_json(br));
                CHECK_INT(jlen(fr), cases[k].fail);
                CHECK_INT(jnum(jget(jat(fr, 0), "code"), -1), 500);
                CHECK_INT(jnum(jpath(jat(fr, 0), "record.properties.seq"), -1), 100);
                jfree(fr);
            }
            jval *stats = hub_get("/_hub/stats");
            if (!CHECK_INT(jnum(jget(stats, "requests"), -1), cases[k].requests)) printf("     (faults %s)\n", cases[k].script);
            CHECK_INT(jnum(jget(stats, "accepted"), -1), cases[k].ok);
            CHECK_INT(jnum(jget(stats, "duplicates"), -1), cases[k].dups);
            jfree(stats);
            suprsend_bulk_response_free(br);
            suprsend_bulk_free(b);
        }
        suprsend_client_free(rc3);
        suprsend_client_free(rc0);
    }

    /* chunks also stop at 800 KiB: three 300 KB events make two requests */
    {
        suprsend_options *o = test_opts();
        suprsend_options_set_max_event_bytes(o, 819200);
        suprsend_client *bc = client_from(o);
        char *filler = repeat_char('z', 300 * 1000);
        sbuf props = {0};
        sb_printf(&props, "\"blob\":\"%s\"", filler);
        free(filler);
        hub_reset();
        b = suprsend_bulk_new(bc);
        suprsend_event *big = tagged_event("user_big", "big_bulk", "bigbulk", props.p);
        free(props.p);
        for (int i = 0; i < 3; i++) CHECK_RC(suprsend_bulk_append(b, big), SUPRSEND_OK);
        suprsend_event_free(big);
        br = NULL;
        CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_OK);
        CHECK_INT(suprsend_bulk_response_success(br), 3);
        CHECK_INT(hub_stat("requests"), 2);
        suprsend_bulk_response_free(br);
        suprsend_bulk_free(b);
        suprsend_client_free(bc);
    }
}

/* ---- logging ---- */

typedef struct {
    pthread_mutex_t mu;
    sbuf text; /* every line, '\n'-separated */
    int lines, debug_lines, warning_lines, bad_level;
    void *seen_user_data;
} log_sink;

static void log_fn(int level, const char *message, void *user_data) {
    log_sink *s = user_data;
    pthread_mutex_lock(&s->mu);
    s->seen_user_data = user_data;
    s->lines++;
    if (level == SUPRSEND_LOG_DEBUG) s->debug_lines++;
    if (level == SUPRSEND_LOG_WARNING) s->warning_lines++;
    if (level != 10 && level != 20 && level != 30 && level != 40) s->bad_level++;
    sb_printf(&s->text, "%d %s\n", level, message ? message : "(NULL)");
    pthread_mutex_unlock(&s->mu);
}

/* True when text holds something that looks like an HMAC-SHA256 signature in base64
 * (43 base64 characters and '='). */
static int has_signature_like(const char *text) {
    size_t run = 0;
    for (const char *p = text; *p; p++) {
        if (isalnum((unsigned char)*p) || *p == '+' || *p == '/') {
            run++;
        } else {
            if (*p == '=' && run >= 40) return 1;
            run = 0;
        }
    }
    return 0;
}

/* A bulk with 150 events (2 requests) or n events; the events are tagged chunk seq i. */
static suprsend_bulk *bulk_of(suprsend_client *c, int n, int first_invalid) {
    suprsend_bulk *b = suprsend_bulk_new(c);
    if (first_invalid) {
        suprsend_event *bad = tagged_event("", "chunk_event", "bad", NULL);
        suprsend_bulk_append(b, bad);
        suprsend_event_free(bad);
    }
    for (int i = 0; i < n; i++) {
        char extra[32];
        snprintf(extra, sizeof extra, "\"seq\":%d", i);
        suprsend_event *e = tagged_event("user_deadline", "chunk_event", "deadline", extra);
        suprsend_bulk_append(b, e);
        suprsend_event_free(e);
    }
    return b;
}

/* The failed records of a bulk, read through the typed accessors: each one's index, status,
 * code, message and record, in append order, agreeing with failed_records_json. */
static void check_typed_outcome(suprsend_bulk_response *br, long i, long index, int status, int code,
                                const char *message_part, int seq) {
    CHECK_INT(suprsend_bulk_response_failed_index(br, i), index);
    CHECK_RC(suprsend_bulk_response_failed_status(br, i), status);
    CHECK_INT(suprsend_bulk_response_failed_code(br, i), code);
    CHECK_HAS(suprsend_bulk_response_failed_message(br, i), message_part);
    jval *record = jparse(suprsend_bulk_response_failed_record_json(br, i));
    CHECK_INT(jnum(jpath(record, "properties.seq"), -1), seq);
    jfree(record);
    /* the same record, error and code as the JSON array's element i */
    jval *all = jparse(suprsend_bulk_response_failed_records_json(br));
    jval *same = jat(all, (int)i);
    CHECK_INT(jnum(jget(same, "code"), -1), code);
    CHECK_STR(jstr(jget(same, "error")), suprsend_bulk_response_failed_message(br, i));
    CHECK_INT(jnum(jpath(same, "record.properties.seq"), -1), seq);
    jfree(all);
}

static void check_past_the_end(suprsend_bulk_response *br, long i) {
    CHECK_INT(suprsend_bulk_response_failed_index(br, i), -1);
    CHECK_INT(suprsend_bulk_response_failed_status(br, i), 0);
    CHECK_INT(suprsend_bulk_response_failed_code(br, i), 0);
    CHECK(suprsend_bulk_response_failed_message(br, i) == NULL);
    CHECK(suprsend_bulk_response_failed_record_json(br, i) == NULL);
}

static suprsend_bulk *seq_bulk(suprsend_client *c, int n, int invalid_at) {
    suprsend_bulk *b = suprsend_bulk_new(c);
    for (int i = 0; b && i < n; i++) {
        char extra[32];
        snprintf(extra, sizeof extra, "\"seq\":%d", i);
        suprsend_event *ev = tagged_event("typed_user", i == invalid_at ? "$bad_event" : "typed_event", "typed", extra);
        suprsend_bulk_append(b, ev);
        suprsend_event_free(ev);
    }
    return b;
}

static void test_bulk_typed_outcomes(suprsend_client *c) {
    section("bulk: typed outcomes");
    check_past_the_end(NULL, 0);

    /* refused before sending (index 1) and by the hub per record (index 3 of the request, which
     * is event 4: event 1 never went out) */
    hub_reset();
    hub_faults("[{\"refuse_records\":[3]}]");
    suprsend_bulk *b = seq_bulk(c, 6, 1);
    suprsend_bulk_response *br = NULL;
    suprsend_bulk_trigger(b, &br);
    CHECK_INT(suprsend_bulk_response_failure(br), 2);
    check_typed_outcome(br, 0, 1, SUPRSEND_E_VALIDATION, 500, "event", 1);
    check_typed_outcome(br, 1, 4, SUPRSEND_E_HTTP, 400, "refused", 4);
    check_past_the_end(br, 2);
    check_past_the_end(br, -1);
    check_past_the_end(br, LONG_MAX);
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);

    /* the hub refuses the whole request */
    hub_reset();
    hub_faults("[{\"status\":422}]");
    b = seq_bulk(c, 3, -1);
    br = NULL;
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_E_HTTP);
    CHECK_INT(suprsend_bulk_response_failure(br), 3);
    for (long i = 0; i < 3; i++) check_typed_outcome(br, i, i, SUPRSEND_E_HTTP, 422, "", (int)i);
    check_past_the_end(br, 3);
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);
    hub_faults("[]");

    /* no answer: nothing listens at the URL */
    suprsend_options *o = test_opts();
    suprsend_options_set_base_url(o, "http://127.0.0.1:1/");
    suprsend_options_set_max_retries(o, 0);
    suprsend_client *dead = client_from(o);
    b = seq_bulk(dead, 2, -1);
    br = NULL;
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_E_NETWORK);
    for (long i = 0; i < 2; i++) check_typed_outcome(br, i, i, SUPRSEND_E_NETWORK, 500, "", (int)i);
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);
    suprsend_client_free(dead);
}

static void test_call_deadline(void) {
    section("call deadline, bulk status");
    CHECK_RC(suprsend_options_set_call_timeout_ms(NULL, 1000), SUPRSEND_E_ARGUMENT);
    {
        suprsend_options *o = test_opts();
        static const long bad[] = {0, -1, 3600001, LONG_MAX, LONG_MIN};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            CHECK_RC(suprsend_options_set_call_timeout_ms(o, bad[i]), SUPRSEND_E_ARGUMENT);
            CHECK_ERR_HAS("call_timeout_ms");
        }
        CHECK_RC(suprsend_options_set_call_timeout_ms(o, 1), SUPRSEND_OK);
        CHECK_RC(suprsend_options_set_call_timeout_ms(o, 3600000), SUPRSEND_OK);
        suprsend_options_free(o);
    }

    /* 503 after 503 with 20 retries allowed: the bulk ends at its 1.5 s deadline, and the
     * chunk it left no time for fails without a request */
    suprsend_options *o = test_opts();
    suprsend_options_set_max_retries(o, 20);
    suprsend_options_set_call_timeout_ms(o, 1500);
    suprsend_client *c = client_from(o);
    hub_reset();
    CHECK_INT(hub_post("/_hub/faults", "{\"script\":[],\"rate\":{\"status_503\":1.0},\"seed\":1}"), 200);
    suprsend_bulk *b = bulk_of(c, 150, 0);
    suprsend_bulk_response *br = NULL;
    double t0 = mono_s();
    int rc = suprsend_bulk_trigger(b, &br);
    double dt = mono_s() - t0;
    if (!CHECK(dt < 2.5)) printf("     a 1.5 s call took %.3f s\n", dt);
    CHECK_RC(rc, SUPRSEND_E_NETWORK); /* the worst: the second chunk got no answer */
    CHECK_INT(suprsend_bulk_response_failure(br), 150);
    CHECK_LE(hub_stat("requests"), 21);
    hub_faults("[]");
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);

    /* a Retry-After longer than what is left ends the call at once, with the hub's answer */
    hub_reset();
    hub_faults("[{\"status\":429,\"retry_after\":5}]");
    b = bulk_of(c, 50, 0);
    br = NULL;
    t0 = mono_s();
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_E_HTTP);
    dt = mono_s() - t0;
    if (!CHECK(dt < 1.0)) printf("     waited %.3f s for a Retry-After past the deadline\n", dt);
    CHECK_INT(hub_stat("requests"), 1);
    {
        jval *fr = jparse(suprsend_bulk_response_failed_records_json(br));
        CHECK_INT(jnum(jget(jat(fr, 0), "code"), -1), 429);
        jfree(fr);
    }
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);
    suprsend_client_free(c);

    /* a chunk with no answer after its tries: the chunks after it fail at once, no request */
    o = test_opts();
    suprsend_options_set_max_retries(o, 0);
    c = client_from(o);
    hub_reset();
    hub_faults("[{\"drop\":\"before_processing\"}]");
    b = bulk_of(c, 250, 0);
    br = NULL;
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_E_NETWORK);
    CHECK_INT(hub_stat("requests"), 1);
    CHECK_INT(suprsend_bulk_response_failure(br), 250);
    {
        jval *fr = jparse(suprsend_bulk_response_failed_records_json(br));
        CHECK_INT(jnum(jget(jat(fr, 249), "code"), -1), 500);
        CHECK_HAS(jstr(jget(jat(fr, 249), "error")), "earlier request");
        jfree(fr);
    }
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);

    /* the status is the worst that happened, not the first: an invalid event (code 500, never
     * sent) then a chunk the hub refused */
    hub_reset();
    hub_faults("[{\"status\":422}]");
    b = bulk_of(c, 10, 1);
    br = NULL;
    CHECK_RC(suprsend_bulk_trigger(b, &br), SUPRSEND_E_HTTP);
    CHECK_INT(suprsend_bulk_response_failure(br), 11);
    {
        jval *fr = jparse(suprsend_bulk_response_failed_records_json(br));
        CHECK_INT(jnum(jget(jat(fr, 0), "code"), -1), 500);
        CHECK_INT(jnum(jget(jat(fr, 1), "code"), -1), 422);
        jfree(fr);
    }
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(b);
    suprsend_client_free(c);
}

static void test_logging(void) {
    section("logging");
    log_sink sink;
    memset(&sink, 0, sizeof sink);
    pthread_mutex_init(&sink.mu, NULL);
    suprsend_options *o = test_opts();
    CHECK_RC(suprsend_options_set_log(o, SUPRSEND_LOG_DEBUG, log_fn, &sink), SUPRSEND_OK);
    suprsend_client *c = client_from(o);
    hub_reset();
    hub_faults("[{\"status\":503}]");
    CHECK_RC(send_tagged(c, "user_log", "logged_event", "log", NULL), SUPRSEND_OK);
    suprsend_client_free(c);
    const char *t = sink.text.p ? sink.text.p : "";
    CHECK_GE(sink.lines, 2);
    CHECK_GE(sink.debug_lines, 1);
    CHECK_GE(sink.warning_lines, 1); /* the retry */
    CHECK_INT(sink.bad_level, 0);
    CHECK(sink.seen_user_data == &sink);
    CHECK(str_icase_find(t, "v2/event") != NULL);
    if (!CHECK(strstr(t, g_secret) == NULL)) printf("     the secret is in a log line\n");
    if (!CHECK(!has_signature_like(t))) printf("     a signature-like string is in the log:\n%.2000s\n", t);
    if (str_icase_find(t, "authorization")) CHECK(str_icase_find(str_icase_find(t, "authorization"), "redacted") != NULL);
    /* if the Authorization header is logged, it is redacted: the key is not followed by a signature */
    {
        char needle[300];
        snprintf(needle, sizeof needle, "%s:", g_key);
        const char *p = t;
        int leak = 0;
        while ((p = strstr(p, needle)) != NULL) {
            p += strlen(needle);
            size_t run = 0;
            while (p[run] && (isalnum((unsigned char)p[run]) || p[run] == '+' || p[run] == '/' || p[run] == '=')) run++;
            if (run >= 40) leak = 1;
        }
        CHECK(!leak);
    }
    free(sink.text.p);

    /* min level WARNING: a plain success logs nothing below it */
    memset(&sink, 0, sizeof sink);
    pthread_mutex_init(&sink.mu, NULL);
    o = test_opts();
    CHECK_RC(suprsend_options_set_log(o, SUPRSEND_LOG_WARNING, log_fn, &sink), SUPRSEND_OK);
    c = client_from(o);
    hub_reset();
    CHECK_RC(send_tagged(c, "user_log", "logged_event", "log2", NULL), SUPRSEND_OK);
    CHECK_INT(sink.debug_lines, 0);
    /* a skipped attachment is a warning */
    char missing[512];
    snprintf(missing, sizeof missing, "%s/nope.pdf", g_tmpdir);
    suprsend_event *ev = tagged_event("user_log", "logged_event", "log3", NULL);
    CHECK_RC(suprsend_event_add_attachment(ev, missing, NULL, 1), SUPRSEND_OK);
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    CHECK_GE(sink.warning_lines, 1);
    suprsend_client_free(c);
    free(sink.text.p);

    /* logging off again: fn NULL */
    memset(&sink, 0, sizeof sink);
    pthread_mutex_init(&sink.mu, NULL);
    o = test_opts();
    suprsend_options_set_log(o, SUPRSEND_LOG_DEBUG, log_fn, &sink);
    CHECK_RC(suprsend_options_set_log(o, SUPRSEND_LOG_DEBUG, NULL, NULL), SUPRSEND_OK);
    c = client_from(o);
    CHECK_RC(send_tagged(c, "user_log", "logged_event", "log4", NULL), SUPRSEND_OK);
    CHECK_INT(sink.lines, 0);
    suprsend_client_free(c);
    free(sink.text.p);
}

static void test_connection_reuse(suprsend_client *c) {
    section("connection reuse");
    hub_reset();
    int ok = 0;
    suprsend_event *ev = suprsend_event_new("user_reuse", "reuse_event");
    enum { SENDS = 1000 };  /* the issue's figure: 1,000 events one by one */
    for (int i = 0; i < SENDS; i++) {
        char props[64];
        snprintf(props, sizeof props, "{\"tag\":\"reuse\",\"i\":%d}", i);
        suprsend_event_set_properties_json(ev, props);
        /* the caller's own keys, each different */
        char key[64];
        snprintf(key, sizeof key, "reuse-%s-%d", g_run, i);
        suprsend_event_set_idempotency_key(ev, key);
        int rc = suprsend_track_event(c, ev, NULL);
        if (rc == SUPRSEND_OK) ok++;
        else if (ok == i) CHECK_RC(rc, SUPRSEND_OK); /* report the first failure only */
    }
    suprsend_event_free(ev);
    CHECK_INT(ok, SENDS);
    /* one GET of the stats (itself one more connection to the hub) */
    jval *stats = hub_get("/_hub/stats");
    CHECK_INT(jnum(jget(stats, "accepted"), -1), SENDS);
    CHECK_INT(jnum(jget(stats, "requests"), -1), SENDS);
    CHECK_LE(jnum(jget(stats, "connections"), 99), 2);
    jfree(stats);
}

typedef struct {
    suprsend_client *client;
    int index, ok, first_rc;
    char first_err[256];
    int err_kept; /* last_error is per thread */
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    a->first_rc = SUPRSEND_OK;
    for (int i = 0; i < 50; i++) {
        char id[32], props[96];
        snprintf(id, sizeof id, "user_t%d", a->index);
        snprintf(props, sizeof props, "{\"tag\":\"thread\",\"thread\":%d,\"i\":%d}", a->index, i);
        suprsend_event *ev = suprsend_event_new(id, "threaded_event");
        suprsend_event_set_properties_json(ev, props);
        suprsend_response *resp = NULL;
        int rc = suprsend_track_event(a->client, ev, &resp);
        if (rc == SUPRSEND_OK && suprsend_response_success(resp) == 1) {
            a->ok++;
        } else if (a->first_rc == SUPRSEND_OK) {
            a->first_rc = rc;
            snprintf(a->first_err, sizeof a->first_err, "%s", suprsend_last_error());
        }
        suprsend_response_free(resp);
        suprsend_event_free(ev);
    }
    /* a failure on this thread sets this thread's message */
    suprsend_options_set_max_retries(NULL, 1);
    a->err_kept = suprsend_last_error()[0] != '\0';
    return NULL;
}

/* A forked child using its parent's client: its own connection, and ids of its own (the
 * parent's random pool must not make the child's next $insert_id equal the parent's). */
/* The sockets of this process connected to the hub's port: their descriptors and local ports
 * (at most max). */
static int hub_sockets(int *fds, int *local_ports, int max) {
    int found = 0;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL && found < max) {
        int fd = atoi(entry->d_name);
        if (entry->d_name[0] == '.' || fd == dirfd(dir)) continue;
        struct sockaddr_storage peer, local;
        socklen_t peer_len = sizeof peer, local_len = sizeof local;
        if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0) continue;
        if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) continue;
        if (peer.ss_family != AF_INET) continue;
        if (ntohs(((struct sockaddr_in *)&peer)->sin_port) != atoi(g_port)) continue;
        fds[found] = fd;
        local_ports[found] = ntohs(((struct sockaddr_in *)&local)->sin_port);
        found++;
    }
    closedir(dir);
    return found;
}

static void test_fork(suprsend_client *c) {
    section("fork");
    hub_reset();
    suprsend_event *warm = suprsend_event_new("fork_user", "fork_warmup");
    suprsend_event_set_properties_json(warm, "{\"tag\":\"fork_warmup\"}");
    CHECK_RC(suprsend_track_event(c, warm, NULL), SUPRSEND_OK);  /* the parent's connection is open */
    suprsend_event_free(warm);

    /* Every socket the library opens is close-on-exec: a program the host starts with
     * system() must not inherit the connection to the hub. */
    int fds[16], ports[16];
    int open_sockets = hub_sockets(fds, ports, 16);
    CHECK(open_sockets >= 1);
    for (int i = 0; i < open_sockets; i++) CHECK((fcntl(fds[i], F_GETFD) & FD_CLOEXEC) != 0);

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        suprsend_event *ev = suprsend_event_new("fork_user", "fork_event");
        suprsend_event_set_properties_json(ev, "{\"tag\":\"fork_child\"}");
        int rc = suprsend_track_event(c, ev, NULL);
        suprsend_event_free(ev);
        if (rc != SUPRSEND_OK) _exit(10 + rc);
        /* The child closed its copies of the parent's connections once it used the client. */
        int child_fds[16], child_ports[16];
        int n = hub_sockets(child_fds, child_ports, 16);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < open_sockets; j++)
                if (child_ports[i] == ports[j]) _exit(3);
        _exit(n >= 1 ? 0 : 4);
    }
    CHECK(child > 0);
    suprsend_event *ev = suprsend_event_new("fork_user", "fork_event");
    suprsend_event_set_properties_json(ev, "{\"tag\":\"fork_parent\"}");
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);
    int status = -1;
    if (child > 0) waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* The parent goes on using its client after the child is gone. */
    ev = suprsend_event_new("fork_user", "fork_event");
    suprsend_event_set_properties_json(ev, "{\"tag\":\"fork_parent_after\"}");
    CHECK_RC(suprsend_track_event(c, ev, NULL), SUPRSEND_OK);
    suprsend_event_free(ev);

    jval *events = hub_events();
    jval *from_child = find_event_by_tag(events, "fork_child");
    jval *from_parent = find_event_by_tag(events, "fork_parent");
    CHECK(from_child != NULL && from_parent != NULL && find_event_by_tag(events, "fork_parent_after") != NULL);
    const char *id_child = jstr(jget(from_child, "$insert_id"));
    const char *id_parent = jstr(jget(from_parent, "$insert_id"));
    CHECK(id_child && id_parent && strcmp(id_child, id_parent) != 0);
    CHECK_INT(hub_stat("duplicates"), 0);
    jfree(events);
}

static void test_threads(suprsend_client *c) {
    section("threads");
    hub_reset();
    /* leave a message on the main thread; the workers' failures must not change it */
    suprsend_options_set_timeout_ms(NULL, 5);
    snap_err();
    char main_err[sizeof g_err];
    memcpy(main_err, g_err, sizeof g_err);

    pthread_t th[8];
    thread_arg args[8];
    for (int i = 0; i < 8; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].client = c;
        args[i].index = i;
        CHECK_INT(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total += args[i].ok;
        if (!CHECK_INT(args[i].ok, 50))
            printf("     thread %d: first failure %s: %s\n", i, suprsend_status_name(args[i].first_rc), args[i].first_err);
        CHECK(args[i].err_kept);
    }
    CHECK_INT(total, 400);
    CHECK_STR(suprsend_last_error(), main_err);
    CHECK_INT(hub_stat("accepted"), 400);
    jval *events = hub_events();
    CHECK_INT(jlen(events), 400);
    jfree(events);
}

/* =======================================================================================
 * TLS: a second hub serving HTTPS with a certificate of a test CA (tests/tls/make-certs.sh,
 * started by run.sh). Its control API is HTTPS too, asked here through the openssl command.
 * ===================================================================================== */

static char g_tls_url[512];       /* https://127.0.0.1:PORT/ */
static char g_tls_port[16];
static char g_tls_ca[1024];       /* the CA that signed the hub's certificate */
static char g_tls_other_ca[1024]; /* a CA that signed nothing the hub has */
static int g_tls_system = -1;     /* the test CA is in the system's store: 1 yes, 0 no, -1 not said */

/* From the environment run.sh sets: 1 when the TLS hub is there, 0 when not, -1 when the
 * settings are unusable. */
static int tls_setup(void) {
    const char *url = getenv("SUPRSEND_TEST_TLS_URL");
    const char *ca = getenv("SUPRSEND_TEST_TLS_CA");
    const char *other = getenv("SUPRSEND_TEST_TLS_OTHER_CA");
    const char *sys = getenv("SUPRSEND_TEST_TLS_SYSTEM_CA");
    if (!url || !*url) return 0;
    if (!ca || !*ca || !other || !*other) return -1;
    snprintf(g_tls_url, sizeof g_tls_url, "%s", url);
    snprintf(g_tls_ca, sizeof g_tls_ca, "%s", ca);
    snprintf(g_tls_other_ca, sizeof g_tls_other_ca, "%s", other);
    if (sys && strcmp(sys, "present") == 0) g_tls_system = 1;
    else if (sys && strcmp(sys, "absent") == 0) g_tls_system = 0;
    const char *p = g_tls_url;
    if (strncmp(p, "https://127.0.0.1:", 18) != 0) return -1;
    p += 18;
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n >= sizeof g_tls_port || p[n] != '/') return -1;
    snprintf(g_tls_port, sizeof g_tls_port, "%.*s", (int)n, p);
    /* the paths go into a shell command between single quotes */
    if (strchr(g_tls_ca, '\'') || access(g_tls_ca, R_OK) != 0 || access(g_tls_other_ca, R_OK) != 0) return -1;
    return 1;
}

/* One HTTP/1.0 request to the TLS hub's control API, through `openssl s_client` (verifying the
 * hub with the test CA). Returns the body (malloc'd) or NULL; *status gets the HTTP status. */
static char *tls_hub_http(const char *method, const char *path, const char *body, int *status) {
    if (status) *status = 0;
    char req_path[600];
    snprintf(req_path, sizeof req_path, "%s/tls-request.http", g_tmpdir);
    sbuf req = {0};
    size_t blen = body ? strlen(body) : 0;
    sb_printf(&req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n", method, path, g_tls_port);
    if (body) sb_puts(&req, "Content-Type: application/json\r\n");
    sb_printf(&req, "Content-Length: %zu\r\n\r\n", blen);
    if (body) sb_add(&req, body, blen);
    int written = write_file(req_path, req.p, req.len);
    free(req.p);
    if (!written) return NULL;
    sbuf cmd = {0};
    sb_printf(&cmd, "openssl s_client -connect 127.0.0.1:%s -CAfile '%s' -verify_return_error -quiet <'%s' 2>/dev/null",
              g_tls_port, g_tls_ca, req_path);
    fflush(stdout);
    FILE *p = popen(cmd.p, "r");
    free(cmd.p);
    if (!p) return NULL;
    sbuf resp = {0};
    char buf[16384];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, p)) > 0) sb_add(&resp, buf, r);
    pclose(p); /* s_client's own status is 1 when the server closes without close_notify */
    unlink(req_path);
    if (!resp.p) return NULL;
    char *start = strstr(resp.p, "HTTP/");
    int st = 0;
    if (!start || sscanf(start, "HTTP/%*s %d", &st) != 1) st = 0;
    if (status) *status = st;
    char *hdr_end = start ? strstr(start, "\r\n\r\n") : NULL;
    char *out = xstrdup(hdr_end ? hdr_end + 4 : "");
    free(resp.p);
    return out;
}

static jval *tls_hub_stats(void) {
    int st = 0;
    char *body = tls_hub_http("GET", "/_hub/stats", NULL, &st);
    jval *v = jparse(body);
    if (!v || st != 200) printf("warning: GET /_hub/stats of the TLS hub answered %d: %.200s\n", st, body ? body : "(none)");
    free(body);
    return v;
}

static void tls_hub_reset(void) {
    int st = 0;
    free(tls_hub_http("POST", "/_hub/reset", "{}", &st));
    if (st != 200) printf("warning: POST /_hub/reset of the TLS hub answered %d\n", st);
}

/* A client of the TLS hub; ca_file NULL: the default (the system's CAs). */
static suprsend_client *tls_client(const char *ca_file, int max_retries) {
    suprsend_options *o = suprsend_options_new(g_key, g_secret);
    CHECK_RC(suprsend_options_set_base_url(o, g_tls_url), SUPRSEND_OK);
    suprsend_options_set_timeout_ms(o, 15000);
    suprsend_options_set_connect_timeout_ms(o, 5000);
    CHECK_RC(suprsend_options_set_max_retries(o, max_retries), SUPRSEND_OK);
    if (ca_file) CHECK_RC(suprsend_options_set_ca_file(o, ca_file), SUPRSEND_OK);
    return client_from(o);
}

/* One event to the TLS hub must be accepted: the hub records it. */
static void tls_expect_accepted(suprsend_client *c, const char *tag) {
    tls_hub_reset();
    suprsend_event *ev = tagged_event("tls_user", "tls_event", tag, NULL);
    suprsend_response *resp = NULL;
    CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_OK);
    CHECK_INT(suprsend_response_status_code(resp), 202);
    suprsend_response_free(resp);
    suprsend_event_free(ev);
    jval *st = tls_hub_stats();
    CHECK_INT(jnum(jget(st, "accepted"), -1), 1);
    jfree(st);
}

/* One event to the TLS hub must be refused for the hub's certificate: SUPRSEND_E_NETWORK, a
 * message naming the certificate problem, a response without status, nothing reaching the
 * event API, and no second attempt (a certificate does not get better by trying again). */
static void tls_expect_refused(suprsend_client *c, const char *tag) {
    tls_hub_reset();
    suprsend_event *ev = tagged_event("tls_user", "tls_event", tag, NULL);
    suprsend_response *resp = NULL;
    CHECK_RC(suprsend_track_event(c, ev, &resp), SUPRSEND_E_NETWORK);
    CHECK_ERR_HAS("certificate");
    CHECK(resp != NULL);
    CHECK_INT(suprsend_response_status_code(resp), 0);
    CHECK_INT(suprsend_response_success(resp), 0);
    CHECK_HAS(suprsend_response_message(resp), "certificate");
    suprsend_response_free(resp);
    suprsend_event_free(ev);
    jval *st = tls_hub_stats();
    CHECK_INT(jnum(jget(st, "requests"), -1), 0);
    /* the refused handshake and this question */
    if (!CHECK_INT(jnum(jget(st, "connections"), -1), 2))
        printf("     a refused certificate was tried more than once\n");
    jfree(st);
}

static void test_tls_trust(void) {
    suprsend_client *c;

    section("tls: CA file = the hub's CA");
    c = tls_client(g_tls_ca, 2);
    tls_expect_accepted(c, "tls_ca_file");
    suprsend_client_free(c);

    section("tls: CA file = another CA");
    c = tls_client(g_tls_other_ca, 2);
    tls_expect_refused(c, "tls_other_ca");
    suprsend_client_free(c);

    section("tls: CA file that is not PEM");
    {
        char junk[600];
        snprintf(junk, sizeof junk, "%s/not-a-ca.pem", g_tmpdir);
        CHECK(write_file(junk, "not a certificate\n", 18));
        suprsend_options *o = suprsend_options_new(g_key, g_secret);
        suprsend_options_set_base_url(o, g_tls_url);
        suprsend_options_set_max_retries(o, 0);
        int rc = suprsend_options_set_ca_file(o, junk);
        suprsend_client *jc = NULL;
        if (rc == SUPRSEND_OK) rc = suprsend_client_new(o, &jc);
        if (rc == SUPRSEND_OK) {
            suprsend_event *ev = tagged_event("tls_user", "tls_event", "tls_junk_ca", NULL);
            rc = suprsend_track_event(jc, ev, NULL);
            suprsend_event_free(ev);
        }
        snap_err();
        /* refused somewhere (the options, the client or the send); never sent */
        if (!CHECK(rc != SUPRSEND_OK)) printf("     a CA file without certificates was accepted\n");
        suprsend_client_free(jc);
        suprsend_options_free(o);
        unlink(junk);
    }

    if (g_tls_system == 0) {
        section("tls: no CA file, the test CA not in the system's store");
        c = tls_client(NULL, 2);
        tls_expect_refused(c, "tls_default_refused");
        suprsend_client_free(c);

        section("tls: CA file set, then removed (NULL)");
        suprsend_options *o = suprsend_options_new(g_key, g_secret);
        suprsend_options_set_base_url(o, g_tls_url);
        suprsend_options_set_max_retries(o, 2);
        CHECK_RC(suprsend_options_set_ca_file(o, g_tls_ca), SUPRSEND_OK);
        CHECK_RC(suprsend_options_set_ca_file(o, NULL), SUPRSEND_OK);
        c = client_from(o);
        tls_expect_refused(c, "tls_ca_removed");
        suprsend_client_free(c);
    } else if (g_tls_system == 1) {
        section("tls: no CA file, the test CA in the system's store");
        c = tls_client(NULL, 2);
        tls_expect_accepted(c, "tls_system_store");
        suprsend_client_free(c);

        /* The CA file replaces the system's CAs (file and directory): the hub's CA in the
         * system's store must not make another CA's file trust the hub. */
        section("tls: CA file = another CA, the hub's CA in the system's store");
        c = tls_client(g_tls_other_ca, 2);
        tls_expect_refused(c, "tls_other_ca_system");
        suprsend_client_free(c);
    } else {
        printf("note: SUPRSEND_TEST_TLS_SYSTEM_CA not set: the checks of the system's CA store are skipped\n");
    }
}

/* Connection reuse over TLS: events one by one keep one connection. */
static void test_tls_keep_alive(void) {
    section("tls: keep-alive");
    suprsend_client *c = tls_client(g_tls_ca, 0);
    tls_hub_reset();
    enum { SENDS = 50 };
    int ok = 0;
    for (int i = 0; i < SENDS; i++) {
        char extra[32];
        snprintf(extra, sizeof extra, "\"i\":%d", i);
        suprsend_event *ev = tagged_event("tls_user", "tls_keepalive", "tls_keepalive", extra);
        int rc = suprsend_track_event(c, ev, NULL);
        if (rc == SUPRSEND_OK) ok++;
        else if (ok == i) CHECK_RC(rc, SUPRSEND_OK); /* the first failure only */
        suprsend_event_free(ev);
    }
    CHECK_INT(ok, SENDS);
    jval *st = tls_hub_stats(); /* itself one more connection */
    CHECK_INT(jnum(jget(st, "accepted"), -1), SENDS);
    CHECK_INT(jnum(jget(st, "requests"), -1), SENDS);
    CHECK_LE(jnum(jget(st, "connections"), 99), 2);
    jfree(st);
    suprsend_client_free(c);
}

static int tls_send_tag(suprsend_client *c, const char *tag) {
    suprsend_event *ev = tagged_event("tls_fork_user", "tls_fork_event", tag, NULL);
    int rc = suprsend_track_event(c, ev, NULL);
    snap_err();
    suprsend_event_free(ev);
    return rc;
}

/* fork() with a TLS connection open. The child shares the parent's socket: were it to write on
 * it (a TLS close_notify when its copy of the client is freed, or a request with its copy of
 * the TLS session), the hub would end that connection or fail the parent's next record, and
 * the parent would have to open a new one. */
static void test_tls_fork(void) {
    section("tls: fork, the child frees its copy of the client");
    suprsend_client *c = tls_client(g_tls_ca, 0); /* no retries: a broken connection shows */
    tls_hub_reset();
    CHECK_RC(tls_send_tag(c, "tls_fork_warmup"), SUPRSEND_OK); /* the parent's connection is open */
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        suprsend_client_free(c); /* without sending anything */
        _exit(0);
    }
    CHECK(child > 0);
    int ok = 0;
    for (int i = 0; i < 10; i++) {
        int rc = tls_send_tag(c, "tls_fork_parent_during");
        if (rc == SUPRSEND_OK) ok++;
        else printf("     send %d while the child runs: %s: %s\n", i, suprsend_status_name(rc), g_err);
    }
    int status = -1;
    if (child > 0) waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 10; i++) {
        int rc = tls_send_tag(c, "tls_fork_parent_after");
        if (rc == SUPRSEND_OK) ok++;
        else printf("     send %d after the child exited: %s: %s\n", i, suprsend_status_name(rc), g_err);
    }
    CHECK_INT(ok, 20);
    jval *st = tls_hub_stats();
    CHECK_INT(jnum(jget(st, "accepted"), -1), 21);
    CHECK_INT(jnum(jget(st, "requests"), -1), 21);
    /* the parent's one connection, and this question: no new connection for the parent */
    if (!CHECK_INT(jnum(jget(st, "connections"), -1), 2))
        printf("     the parent's TLS connection did not survive the child's suprsend_client_free\n");
    jfree(st);

    section("tls: fork, the child sends on a connection of its own");
    suprsend_client_free(c);
    c = tls_client(g_tls_ca, 0);
    tls_hub_reset();
    CHECK_RC(tls_send_tag(c, "tls_fork_warmup"), SUPRSEND_OK); /* the parent's connection, counted */
    fflush(stdout);
    child = fork();
    if (child == 0) {
        int rc = tls_send_tag(c, "tls_fork_child");
        suprsend_client_free(c);
        _exit(rc == SUPRSEND_OK ? 0 : 10 + rc);
    }
    CHECK(child > 0);
    status = -1;
    if (child > 0) waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    st = tls_hub_stats();
    /* the parent's connection, the child's own, this question */
    if (!CHECK_INT(jnum(jget(st, "connections"), -1), 3))
        printf("     the child did not open a connection of its own\n");
    CHECK_INT(jnum(jget(st, "accepted"), -1), 2);
    jfree(st);
    ok = 0;
    for (int i = 0; i < 5; i++) ok += tls_send_tag(c, "tls_fork_parent_after_child") == SUPRSEND_OK;
    CHECK_INT(ok, 5);
    st = tls_hub_stats();
    if (!CHECK_INT(jnum(jget(st, "connections"), -1), 4))
        printf("     the parent needed a new connection after the child's send\n");
    CHECK_INT(jnum(jget(st, "accepted"), -1), 7);
    jfree(st);
    suprsend_client_free(c);
}

/* trust_only: the trust checks alone (run.sh's second run, with the test CA in the system's store). */
static void test_tls(int trust_only) {
    int ready = tls_setup();
    if (ready == 0) {
        printf("note: SUPRSEND_TEST_TLS_URL not set: the TLS tests are skipped (tests/c/run.sh sets it)\n");
        return;
    }
    section("tls: setup");
    if (!CHECK_INT(ready, 1)) {
        printf("     SUPRSEND_TEST_TLS_URL must be https://127.0.0.1:PORT/ and SUPRSEND_TEST_TLS_CA, "
               "SUPRSEND_TEST_TLS_OTHER_CA readable files\n");
        return;
    }
    jval *st = tls_hub_stats();
    if (!CHECK(st != NULL && jget(st, "connections") != NULL)) {
        printf("     the TLS hub does not answer at %s (through openssl s_client)\n", g_tls_url);
        jfree(st);
        return;
    }
    jfree(st);
    test_tls_trust();
    if (trust_only) return;
    test_tls_keep_alive();
    test_tls_fork();
}

/* =======================================================================================
 * main
 * ===================================================================================== */

static void rm_tree_files(const char *dir) {
    static const char *names[] = {"invoice.pdf", "logo.png", "picture", "big.bin", "mid.bin"};
    char p[600];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_init();
    if (hub_args(argc, argv, g_base_url, sizeof g_base_url, g_key, sizeof g_key, g_secret, sizeof g_secret) != 0)
        return 2;
    snprintf(g_run, sizeof g_run, "%lx%lx", (unsigned long)time(NULL), (unsigned long)getpid());
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/suprsend-test-XXXXXX");
    if (!mkdtemp(g_tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    int st = 0;
    char *ping = hub_http("GET", "/_hub/stats", NULL, &st);
    if (!ping || st != 200) {
        fprintf(stderr, "the hub does not answer at %s:%s (status %d)\n", g_host, g_port, st);
        free(ping);
        return 2;
    }
    free(ping);

    /* SUPRSEND_TEST_ONLY=tls: only the TLS tests; =tls-trust: only the TLS trust checks (run.sh's
     * second run, with the test CA in the system's store) */
    const char *only = getenv("SUPRSEND_TEST_ONLY");
    if (only && *only) {
        if (strcmp(only, "tls") != 0 && strcmp(only, "tls-trust") != 0) {
            fprintf(stderr, "SUPRSEND_TEST_ONLY: unknown value %s (tls and tls-trust are known)\n", only);
            return 2;
        }
        if (tls_setup() == 0) {
            fprintf(stderr, "SUPRSEND_TEST_ONLY=%s needs SUPRSEND_TEST_TLS_URL (and the CA files)\n", only);
            return 2;
        }
        test_tls(strcmp(only, "tls-trust") == 0);
        rm_tree_files(g_tmpdir);
        return check_summary(0);
    }

    test_version();
    test_status_names();
    test_options();
    test_event_setters();
    test_null_everywhere();
    test_wrong_kind_handles();

    suprsend_client *c = client_from(test_opts());
    test_track_basic(c);
    test_event_json(c);
    test_json_shapes(c);
    test_idempotency(c);
    test_tenant(c);
    test_brand(c);
    test_attachment_data(c);
    test_attachments(c);
    test_validation(c);
    test_sizes();
    test_retries();
    test_base_path();
    test_bulk(c);
    test_bulk_typed_outcomes(c);
    test_call_deadline();
    test_logging();
    suprsend_client_free(c);

    c = client_from(test_opts());
    test_connection_reuse(c);
    test_fork(c);
    test_threads(c);
    suprsend_client_free(c);

    test_tls(0);

    (void)hub_rejected_by;
    rm_tree_files(g_tmpdir);
    return check_summary(0);
}
