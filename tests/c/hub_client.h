/*
 * hub_client.h: what the C test programs (test_suprsend.c, test_background.c, fault_matrix.c)
 * need to talk to the local hub's control API (/_hub/...): a growable string, a tiny JSON
 * parser (enough to read the hub's answers and the library's JSON output) and a one-request-a-
 * connection HTTP/1.0 client over a plain loopback socket.
 *
 * Header-only: every function is static inline (unused ones cost nothing and do not warn), so
 * each program still compiles alone. The program sets g_host and g_port (parse_base_url()) and,
 * if it wants one, g_hub_timeout_s before the first request; it keeps its own wrappers (what a
 * failed request prints, which endpoints it reads).
 */
#ifndef SUPRSEND_TESTS_HUB_CLIENT_H
#define SUPRSEND_TESTS_HUB_CLIENT_H

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

/* =======================================================================================
 * A tiny growable string
 * ===================================================================================== */

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static inline void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static inline void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) abort();
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}

/* =======================================================================================
 * A tiny JSON parser
 * ===================================================================================== */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype type;
    int b;
    double n;
    char *s; /* J_STR: decoded UTF-8 */
    size_t slen;
    struct jval **items; /* J_ARR and J_OBJ values */
    char **keys;         /* J_OBJ keys, in document order */
    size_t count;
} jval;

typedef struct {
    const char *p, *end;
    int depth;
    int err;
} jparser;

static inline void jfree(jval *v) {
    if (!v) return;
    for (size_t i = 0; i < v->count; i++) {
        jfree(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
    free(v);
}

static inline void jws(jparser *jp) {
    while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r')) jp->p++;
}

static inline int jhex4(jparser *jp, unsigned *out) {
    if (jp->end - jp->p < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = jp->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    jp->p += 4;
    *out = v;
    return 1;
}

static inline void put_utf8(sbuf *b, unsigned cp) {
    char t[4];
    size_t n;
    if (cp < 0x80) { t[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { t[0] = (char)(0xC0 | (cp >> 6)); t[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12)); t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        t[0] = (char)(0xF0 | (cp >> 18)); t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); t[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    sb_add(b, t, n);
}

static inline char *jstring(jparser *jp, size_t *len) {
    if (jp->p >= jp->end || *jp->p != '"') { jp->err = 1; return NULL; }
    jp->p++;
    sbuf b = {0};
    sb_add(&b, "", 0);
    while (jp->p < jp->end && *jp->p != '"') {
        unsigned char c = (unsigned char)*jp->p;
        if (c < 0x20) { jp->err = 1; break; }
        if (c != '\\') { sb_add(&b, jp->p, 1); jp->p++; continue; }
        jp->p++;
        if (jp->p >= jp->end) { jp->err = 1; break; }
        char e = *jp->p++;
        switch (e) {
        case '"': sb_add(&b, "\"", 1); break;
        case '\\': sb_add(&b, "\\", 1); break;
        case '/': sb_add(&b, "/", 1); break;
        case 'b': sb_add(&b, "\b", 1); break;
        case 'f': sb_add(&b, "\f", 1); break;
        case 'n': sb_add(&b, "\n", 1); break;
        case 'r': sb_add(&b, "\r", 1); break;
        case 't': sb_add(&b, "\t", 1); break;
        case 'u': {
            unsigned cp;
            if (!jhex4(jp, &cp)) { jp->err = 1; break; }
            if (cp >= 0xD800 && cp < 0xDC00 && jp->end - jp->p >= 6 && jp->p[0] == '\\' && jp->p[1] == 'u') {
                unsigned lo;
                jp->p += 2;
                if (jhex4(jp, &lo) && lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(&b, cp);
            break;
        }
        default: jp->err = 1;
        }
        if (jp->err) break;
    }
    if (jp->p >= jp->end || jp->err) { jp->err = 1; free(b.p); return NULL; }
    jp->p++; /* closing quote */
    *len = b.len;
    return b.p;
}

static inline jval *jnew(jtype t) {
    jval *v = calloc(1, sizeof *v);
    if (!v) abort();
    v->type = t;
    return v;
}

static inline void jpush(jval *v, char *key, jval *item) {
    v->items = realloc(v->items, (v->count + 1) * sizeof *v->items);
    if (!v->items) abort();
    if (v->type == J_OBJ) {
        v->keys = realloc(v->keys, (v->count + 1) * sizeof *v->keys);
        if (!v->keys) abort();
        v->keys[v->count] = key;
    }
    v->items[v->count++] = item;
}

static inline jval *jvalue(jparser *jp) {
    jws(jp);
    if (jp->p >= jp->end || ++jp->depth > 200) { jp->err = 1; return NULL; }
    jval *v = NULL;
    char c = *jp->p;
    if (c == '{' || c == '[') {
        int obj = c == '{';
        v = jnew(obj ? J_OBJ : J_ARR);
        jp->p++;
        jws(jp);
        if (jp->p < jp->end && *jp->p == (obj ? '}' : ']')) { jp->p++; goto done; }
        for (;;) {
            char *key = NULL;
            if (obj) {
                size_t kl;
                jws(jp);
                key = jstring(jp, &kl);
                if (!key) break;
                jws(jp);
                if (jp->p >= jp->end || *jp->p != ':') { free(key); jp->err = 1; break; }
                jp->p++;
            }
            jval *item = jvalue(jp);
            if (!item) { free(key); jp->err = 1; break; }
            jpush(v, key, item);
            jws(jp);
            if (jp->p < jp->end && *jp->p == ',') { jp->p++; continue; }
            if (jp->p < jp->end && *jp->p == (obj ? '}' : ']')) { jp->p++; break; }
            jp->err = 1;
            break;
        }
    } else if (c == '"') {
        v = jnew(J_STR);
        v->s = jstring(jp, &v->slen);
    } else if (c == 't' && jp->end - jp->p >= 4 && !strncmp(jp->p, "true", 4)) {
        v = jnew(J_BOOL); v->b = 1; jp->p += 4;
    } else if (c == 'f' && jp->end - jp->p >= 5 && !strncmp(jp->p, "false", 5)) {
        v = jnew(J_BOOL); jp->p += 5;
    } else if (c == 'n' && jp->end - jp->p >= 4 && !strncmp(jp->p, "null", 4)) {
        v = jnew(J_NULL); jp->p += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char tmp[64];
        size_t n = 0;
        while (jp->p + n < jp->end && n < sizeof tmp - 1 && strchr("+-0123456789.eE", jp->p[n])) n++;
        memcpy(tmp, jp->p, n);
        tmp[n] = '\0';
        v = jnew(J_NUM);
        v->n = strtod(tmp, NULL);
        jp->p += n;
    } else {
        jp->err = 1;
    }
done:
    jp->depth--;
    if (jp->err) { jfree(v); return NULL; }
    return v;
}

/* Parses a whole document; NULL when it is not valid JSON. */
static inline jval *jparse(const char *text) {
    if (!text) return NULL;
    jparser jp = {text, text + strlen(text), 0, 0};
    jval *v = jvalue(&jp);
    jws(&jp);
    if (!v || jp.err || jp.p != jp.end) { jfree(v); return NULL; }
    return v;
}

static inline jval *jget(const jval *v, const char *key) {
    if (!v || v->type != J_OBJ) return NULL;
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(v->keys[i], key) == 0) return v->items[i];
    return NULL;
}

/* Follows a dotted path of object keys: jpath(ev, "properties.nested.k"). */
static inline jval *jpath(const jval *v, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    const jval *cur = v;
    for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) cur = jget(cur, tok);
    return (jval *)cur;
}

static inline jval *jat(const jval *v, size_t i) {
    if (!v || (v->type != J_ARR && v->type != J_OBJ) || i >= v->count) return NULL;
    return v->items[i];
}

static inline const char *jstr(const jval *v) { return v && v->type == J_STR ? v->s : NULL; }
static inline long long jnum(const jval *v, long long dflt) { return v && v->type == J_NUM ? (long long)v->n : dflt; }
static inline size_t jlen(const jval *v) { return v && (v->type == J_ARR || v->type == J_OBJ) ? v->count : 0; }

/* =======================================================================================
 * The hub's control API over a loopback socket (HTTP/1.0, one request a connection)
 * ===================================================================================== */

static char g_host[256];
static char g_port[16];
/* Send and receive timeout of a control-API request, in seconds; 0: none. */
static int g_hub_timeout_s;

/* Splits "http://host:port/path" into g_host and g_port. */
static inline int parse_base_url(const char *url) {
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0) return 0;
    p += 7;
    if (*p == '[') return 0; /* IPv6 literals are not needed here */
    const char *end = p + strcspn(p, "/");
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (colon) {
        snprintf(g_host, sizeof g_host, "%.*s", (int)(colon - p), p);
        snprintf(g_port, sizeof g_port, "%.*s", (int)(end - colon - 1), colon + 1);
    } else {
        snprintf(g_host, sizeof g_host, "%.*s", (int)(end - p), p);
        snprintf(g_port, sizeof g_port, "80");
    }
    return g_host[0] != '\0';
}

/* The arguments BASE_URL [WORKSPACE_KEY [WORKSPACE_SECRET]], or the environment
 * SUPRSEND_TEST_BASE_URL, SUPRSEND_TEST_WORKSPACE_KEY, SUPRSEND_TEST_WORKSPACE_SECRET, into
 * base_url, key and secret (key and secret keep their defaults when not given) and g_host and
 * g_port. Returns 0, or 2 after saying on stderr what is wrong. */
static inline int hub_args(int argc, char **argv, char *base_url, size_t base_url_size, char *key,
                           size_t key_size, char *secret, size_t secret_size) {
    const char *url = argc > 1 ? argv[1] : getenv("SUPRSEND_TEST_BASE_URL");
    const char *k = argc > 2 ? argv[2] : getenv("SUPRSEND_TEST_WORKSPACE_KEY");
    const char *s = argc > 3 ? argv[3] : getenv("SUPRSEND_TEST_WORKSPACE_SECRET");
    if (!url || !*url) {
        fprintf(stderr, "usage: %s BASE_URL [KEY [SECRET]]  (or SUPRSEND_TEST_BASE_URL)\n", argv[0]);
        return 2;
    }
    snprintf(base_url, base_url_size, "%s", url);
    if (k && *k) snprintf(key, key_size, "%s", k);
    if (s && *s) snprintf(secret, secret_size, "%s", s);
    if (!parse_base_url(base_url)) {
        fprintf(stderr, "the base URL must be http://host:port/...: %s\n", base_url);
        return 2;
    }
    return 0;
}

/* One request to the hub at g_host:g_port. Returns the HTTP status (0 when the answer has no
 * status line), or -1 when the hub could not be reached or answered nothing. When it answered
 * and out is not NULL, *out gets the body (malloc'd, "" when none); otherwise *out is NULL. */
static inline int hub_request(const char *method, const char *path, const char *body, char **out) {
    if (out) *out = NULL;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(g_host, g_port, &hints, &res) != 0 || !res) return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        if (g_hub_timeout_s > 0) {
            struct timeval tv = {g_hub_timeout_s, 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;

    sbuf req = {0};
    size_t blen = body ? strlen(body) : 0;
    sb_printf(&req, "%s %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n", method, path, g_host, g_port);
    if (body) sb_printf(&req, "Content-Type: application/json\r\n");
    sb_printf(&req, "Content-Length: %zu\r\n\r\n", blen);
    if (body) sb_add(&req, body, blen);
    size_t off = 0;
    while (off < req.len) {
        ssize_t w = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    free(req.p);

    sbuf resp = {0};
    char buf[16384];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        sb_add(&resp, buf, (size_t)r);
    }
    close(fd);
    if (!resp.p) return -1;
    int st = 0;
    if (sscanf(resp.p, "HTTP/%*s %d", &st) != 1) st = 0;
    if (out) {
        char *hdr_end = strstr(resp.p, "\r\n\r\n");
        sbuf o = {0};
        sb_puts(&o, hdr_end ? hdr_end + 4 : "");
        *out = o.p;
    }
    free(resp.p);
    return st;
}

/* The same as a body: returns it (malloc'd, "" when none) or NULL when the hub could not be
 * reached; *status gets the HTTP status (0 when there is none). */
static inline char *hub_http(const char *method, const char *path, const char *body, int *status) {
    char *out = NULL;
    int st = hub_request(method, path, body, &out);
    if (status) *status = st < 0 ? 0 : st;
    return out;
}

/* GET path, parsed; NULL (after a warning) when the hub does not answer 200 with JSON. */
static inline jval *hub_get(const char *path) {
    int st = 0;
    char *body = hub_http("GET", path, NULL, &st);
    jval *v = jparse(body);
    if (!v || st != 200)
        printf("warning: GET %s answered %d: %.200s\n", path, st, body ? body : "(no answer)");
    free(body);
    return v;
}

/* One number from GET /_hub/stats: stats[name], or stats[group][name] when group is not NULL;
 * dflt when it cannot be read. */
static inline long hub_stat_in(const char *group, const char *name, long dflt) {
    jval *v = hub_get("/_hub/stats");
    long n = (long)jnum(jget(group ? jget(v, group) : v, name), dflt);
    jfree(v);
    return n;
}

/* One number from /_hub/stats; -1 when it cannot be read. */
static inline long hub_stat(const char *name) { return hub_stat_in(NULL, name, -1); }

/* A loopback port nobody listens on: bound, never listening, then closed (0 when none). */
static inline int dead_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

#endif
