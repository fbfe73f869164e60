/*
 * floor.c: the least a client can spend per event.
 *
 * Sends pre-built, pre-signed SuprSend event requests with libcurl directly: every body,
 * signature and header list is made BEFORE the timed loop, which then only hands them to
 * one reused easy handle (one keep-alive connection). What is left in the loop is libcurl
 * and the kernel: the floor under any client of the same transport.
 *
 *   floor BASE_URL KEY SECRET N single|bulk     -> one JSON line of figures on stdout
 *   floor --sign SECRET METHOD CONTENT_TYPE DATE REQUEST_URI < body   -> the signature
 *
 * Signature (shared/spec/wire-protocol.md):
 *   base64(HMAC-SHA256(secret, METHOD\nmd5_hex(body)\nCONTENT_TYPE\nDATE\nREQUEST_URI))
 *
 * Build: cc -O2 -o floor floor.c -lcurl -lcrypto
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include "measure.h"

#define CONTENT_TYPE "application/json; charset=utf-8"
#define BULK_MAX 100

static void die(const char *m) { fprintf(stderr, "floor: %s\n", m); exit(2); }

static char *xstrdup(const char *s) { char *p = strdup(s); if (!p) die("out of memory"); return p; }

/* base64(HMAC-SHA256(secret, METHOD\nmd5hex\nCT\nDATE\nURI)) into out (>= 45 bytes). */
static void sign(const char *secret, const char *method, const char *ct, const char *date,
                 const char *uri, const char *body, size_t body_len, char *out) {
    char md5hex[33] = "";
    if (body_len > 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        if (!EVP_Digest(body, body_len, md, &mdlen, EVP_md5(), NULL)) die("md5 failed");
        for (unsigned i = 0; i < mdlen; i++) sprintf(md5hex + 2 * i, "%02x", md[i]);
    }
    size_t n = strlen(method) + strlen(md5hex) + strlen(ct) + strlen(date) + strlen(uri) + 5;
    char *sts = malloc(n);
    if (!sts) die("out of memory");
    snprintf(sts, n, "%s\n%s\n%s\n%s\n%s", method, md5hex, ct, date, uri);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)sts, strlen(sts), mac, &maclen))
        die("hmac failed");
    free(sts);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
}

static void uuid4(char out[37]) {
    unsigned char b[16];
    if (RAND_bytes(b, 16) != 1) die("RAND_bytes failed");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    sprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* One event object, as the library puts it on the wire (same properties as c_bench.c). */
static int event_json(char *buf, size_t cap, const char *key, long i, long long ms) {
    char ins[37], idem[37];
    uuid4(ins);
    uuid4(idem);
    return snprintf(buf, cap,
        "{\"$insert_id\":\"%s\",\"$time\":%lld,\"event\":\"product_purchased\",\"env\":\"%s\","
        "\"distinct_id\":\"user_%ld\",\"properties\":{\"first_name\":\"User\",\"order_id\":\"ord_%ld\","
        "\"amount\":1299.5,\"currency\":\"INR\",\"items\":[{\"sku\":\"sku_1\",\"qty\":2},{\"sku\":\"sku_2\",\"qty\":1}],"
        "\"is_first_order\":false,\"$ss_sdk_version\":\"suprsend-floor/1.0\"},\"$idempotency_key\":\"%s\"}",
        ins, ms, key, i, i, idem);
}

/* The path (plus query) of BASE_URL + suffix: the signed REQUEST_URI. */
static char *request_uri(const char *url) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    p = strchr(p, '/');
    return xstrdup(p ? p : "/");
}

static size_t sink(char *ptr, size_t size, size_t nmemb, void *ud) { (void)ptr; (void)ud; return size * nmemb; }

static int sign_mode(int argc, char **argv) {
    if (argc != 7) die("usage: floor --sign SECRET METHOD CONTENT_TYPE DATE REQUEST_URI < body");
    size_t cap = 1 << 16, len = 0, r;
    char *body = malloc(cap);
    while ((r = fread(body + len, 1, cap - len, stdin)) > 0) {
        len += r;
        if (len == cap) { cap *= 2; body = realloc(body, cap); if (!body) die("out of memory"); }
    }
    char sig[128];
    sign(argv[2], argv[3], argv[4], argv[5], argv[6], body, len, sig);
    printf("%s\n", sig);
    free(body);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--sign") == 0) return sign_mode(argc, argv);
    if (argc != 6) die("usage: floor BASE_URL KEY SECRET N single|bulk");
    const char *base = argv[1], *key = argv[2], *secret = argv[3];
    long n = atol(argv[4]);
    int bulk = strcmp(argv[5], "bulk") == 0;
    if (!bulk && strcmp(argv[5], "single") != 0) die("mode must be single or bulk");
    if (n <= 0) die("N must be > 0");

    /* ---- everything below, up to the timed loop, is preparation ---- */
    char *url = malloc(strlen(base) + 32);
    sprintf(url, "%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", bulk ? "v2/bulk/event/" : "v2/event/");
    char *uri = request_uri(url);

    char date[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm); /* C locale: English names */
    long long ms = (long long)t * 1000;

    long nreq = bulk ? (n + BULK_MAX - 1) / BULK_MAX : n;
    char **bodies = calloc(nreq, sizeof *bodies);
    size_t *lens = calloc(nreq, sizeof *lens);
    long *counts = calloc(nreq, sizeof *counts);
    struct curl_slist **hdrs = calloc(nreq, sizeof *hdrs);
    if (!bodies || !lens || !counts || !hdrs) die("out of memory");
    char ev[2048];
    long next = 0;
    for (long r = 0; r < nreq; r++) {
        long cnt = bulk ? (n - next < BULK_MAX ? n - next : BULK_MAX) : 1;
        size_t cap = (size_t)cnt * sizeof ev + 8, len = 0;
        char *b = malloc(cap);
        if (!b) die("out of memory");
        if (bulk) b[len++] = '[';
        for (long k = 0; k < cnt; k++, next++) {
            if (bulk && k) b[len++] = ',';
            int m = event_json(ev, sizeof ev, key, next, ms + next);
            memcpy(b + len, ev, (size_t)m);
            len += (size_t)m;
        }
        if (bulk) b[len++] = ']';
        b[len] = 0;
        bodies[r] = b; lens[r] = len; counts[r] = cnt;
        char sig[128], line[512];
        sign(secret, "POST", CONTENT_TYPE, date, uri, b, len, sig);
        struct curl_slist *h = NULL;
        h = curl_slist_append(h, "Content-Type: " CONTENT_TYPE);
        snprintf(line, sizeof line, "Date: %s", date); h = curl_slist_append(h, line);
        snprintf(line, sizeof line, "Authorization: %s:%s", key, sig); h = curl_slist_append(h, line);
        h = curl_slist_append(h, "User-Agent: suprsend-floor/1.0");
        h = curl_slist_append(h, "Expect:");
        h = curl_slist_append(h, "Accept:");
        if (!h) die("curl_slist_append failed");
        hdrs[r] = h;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    if (!c) die("curl_easy_init failed");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);

    /* ---- timed loop ---- */
    struct rusage ru0, ru1;
    long ok = 0, failed = 0, connects = 0, http_err = 0, net_err = 0;
    getrusage(RUSAGE_SELF, &ru0);
    double w0 = now_s();
    for (long r = 0; r < nreq; r++) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, bodies[r]);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)lens[r]);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs[r]);
        CURLcode rc = curl_easy_perform(c);
        long code = 0, nc = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nc);
        connects += nc;
        if (rc == CURLE_OK && code / 100 == 2) ok += counts[r];
        else { failed += counts[r]; if (rc != CURLE_OK) net_err++; else http_err++; }
    }
    double w1 = now_s();
    getrusage(RUSAGE_SELF, &ru1);

    double user = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
    double sys = (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    printf("{\"events\":%ld,\"requests\":%ld,\"ok\":%ld,\"failed\":%ld,\"http_errors\":%ld,\"net_errors\":%ld,"
           "\"connections\":%ld,\"wall_s\":%.6f,\"cpu_user_s\":%.6f,\"cpu_sys_s\":%.6f,\"maxrss_kb\":%ld,\"peak_rss_kb\":%ld}\n",
           n, nreq, ok, failed, http_err, net_err, connects, w1 - w0, user, sys, ru1.ru_maxrss, peak_rss_kb());

    curl_easy_cleanup(c);
    for (long r = 0; r < nreq; r++) { free(bodies[r]); curl_slist_free_all(hdrs[r]); }
    free(bodies); free(lens); free(counts); free(hdrs); free(uri); free(url);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
