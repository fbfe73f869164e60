/*
 * c_bench.c: libsuprsend through its public C API, timed from inside the process.
 *
 *   c_bench BASE_URL KEY SECRET single N [THREADS]   N events, one suprsend_track_event each,
 *                                                     spread over THREADS threads sharing one client
 *   c_bench BASE_URL KEY SECRET bulk N               N events created, appended to one bulk, triggered
 *
 * Prints one JSON line: events, ok, failed, wall_s, cpu_user_s, cpu_sys_s (getrusage(RUSAGE_SELF)
 * around the timed part only, all threads), maxrss_kb; for bulk also the CPU of the append phase
 * and of the trigger phase. Process start-up, library load and client creation are not timed.
 *
 * Build: cc -O2 -o c_bench c_bench.c $(pkg-config --cflags --libs suprsend) -lpthread
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "suprsend.h"
#include "measure.h"

static suprsend_client *client;
static long n_total;
static int n_threads = 1;
static char first_error[512];
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;

static double cpu_s(const struct rusage *a, const struct rusage *b) {
    return (b->ru_utime.tv_sec - a->ru_utime.tv_sec) + (b->ru_utime.tv_usec - a->ru_utime.tv_usec) / 1e6 +
           (b->ru_stime.tv_sec - a->ru_stime.tv_sec) + (b->ru_stime.tv_usec - a->ru_stime.tv_usec) / 1e6;
}

static void note_error(const char *what, int rc) {
    pthread_mutex_lock(&err_mu);
    if (!first_error[0])
        snprintf(first_error, sizeof first_error, "%s: %s: %s", what, suprsend_status_name(rc), suprsend_last_error());
    pthread_mutex_unlock(&err_mu);
}

/* The same event as floor.c and py_client.py. */
static suprsend_event *make_event(long i) {
    char did[48], props[512];
    snprintf(did, sizeof did, "user_%ld", i);
    snprintf(props, sizeof props,
             "{\"first_name\":\"User\",\"order_id\":\"ord_%ld\",\"amount\":1299.5,\"currency\":\"INR\","
             "\"items\":[{\"sku\":\"sku_1\",\"qty\":2},{\"sku\":\"sku_2\",\"qty\":1}],\"is_first_order\":false}", i);
    suprsend_event *ev = suprsend_event_new(did, "product_purchased");
    if (!ev) return NULL;
    int rc = suprsend_event_set_properties_json(ev, props);
    if (rc != SUPRSEND_OK) { note_error("set_properties_json", rc); suprsend_event_free(ev); return NULL; }
    return ev;
}

struct worker { long from, to, ok, failed; };

/* Not static, never inlined: the profile (callgrind --toggle-collect=bench_timed_*) counts only these. */
__attribute__((noinline)) void *bench_timed_single(void *arg) {
    struct worker *w = arg;
    for (long i = w->from; i < w->to; i++) {
        suprsend_event *ev = make_event(i);
        if (!ev) { w->failed++; continue; }
        suprsend_response *resp = NULL;
        int rc = suprsend_track_event(client, ev, &resp);
        if (rc == SUPRSEND_OK && resp && suprsend_response_success(resp)) w->ok++;
        else { w->failed++; note_error("track_event", rc); }
        suprsend_response_free(resp);
        suprsend_event_free(ev);
    }
    return NULL;
}

__attribute__((noinline)) void bench_timed_bulk(double *w1, struct rusage *r1, long *ok_out, long *failed_out,
                                                char *extra, size_t extra_size) {
    long ok = 0, failed = 0;
    int rc;
    suprsend_bulk *bulk = suprsend_bulk_new(client);
    for (long i = 0; i < n_total; i++) {
        suprsend_event *ev = make_event(i);
        if (!ev) continue;
        rc = suprsend_bulk_append(bulk, ev);
        if (rc != SUPRSEND_OK) note_error("bulk_append", rc);
        suprsend_event_free(ev);
    }
    *w1 = now_s();
    getrusage(RUSAGE_SELF, r1);
    suprsend_bulk_response *br = NULL;
    rc = suprsend_bulk_trigger(bulk, &br);
    if (rc != SUPRSEND_OK) note_error("bulk_trigger", rc);
    if (br) {
        ok = suprsend_bulk_response_success(br);
        failed = suprsend_bulk_response_failure(br);
        snprintf(extra, extra_size, ",\"bulk_status\":\"%s\",\"bulk_total\":%ld",
                 suprsend_bulk_response_status(br), suprsend_bulk_response_total(br));
        if (failed && !first_error[0]) {
            const char *fr = suprsend_bulk_response_failed_records_json(br);
            const char *e = strstr(fr, "\"error\"");
            snprintf(first_error, sizeof first_error, "first failed record: %.300s", e ? e : fr);
        }
    } else failed = n_total;
    suprsend_bulk_response_free(br);
    suprsend_bulk_free(bulk);
    *ok_out = ok;
    *failed_out = failed;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: c_bench BASE_URL KEY SECRET single|bulk N [THREADS]\n");
        return 2;
    }
    const char *mode = argv[4];
    n_total = atol(argv[5]);
    if (argc > 6) n_threads = atoi(argv[6]);
    if (n_total <= 0 || n_threads <= 0) { fprintf(stderr, "c_bench: bad N or THREADS\n"); return 2; }

    suprsend_options *opts = suprsend_options_new(argv[2], argv[3]);
    if (!opts) { fprintf(stderr, "c_bench: options: %s\n", suprsend_last_error()); return 2; }
    int rc = suprsend_options_set_base_url(opts, argv[1]);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_max_retries(opts, 0);
    if (rc == SUPRSEND_OK) rc = suprsend_client_new(opts, &client);
    suprsend_options_free(opts);
    if (rc != SUPRSEND_OK) {
        fprintf(stderr, "c_bench: client: %s: %s\n", suprsend_status_name(rc), suprsend_last_error());
        return 2;
    }

    struct rusage r0, r1, r2;
    double w0, w1, w2;
    long ok = 0, failed = 0;
    char extra[256] = "";

    if (strcmp(mode, "single") == 0) {
        pthread_t *th = calloc((size_t)n_threads, sizeof *th);
        struct worker *ws = calloc((size_t)n_threads, sizeof *ws);
        for (int t = 0; t < n_threads; t++) {
            ws[t].from = n_total * t / n_threads;
            ws[t].to = n_total * (t + 1) / n_threads;
        }
        getrusage(RUSAGE_SELF, &r0);
        w0 = now_s();
        if (n_threads == 1) bench_timed_single(&ws[0]);
        else {
            for (int t = 0; t < n_threads; t++) pthread_create(&th[t], NULL, bench_timed_single, &ws[t]);
            for (int t = 0; t < n_threads; t++) pthread_join(th[t], NULL);
        }
        w2 = now_s();
        getrusage(RUSAGE_SELF, &r2);
        for (int t = 0; t < n_threads; t++) { ok += ws[t].ok; failed += ws[t].failed; }
        free(th); free(ws);
    } else if (strcmp(mode, "bulk") == 0) {
        getrusage(RUSAGE_SELF, &r0);
        w0 = now_s();
        bench_timed_bulk(&w1, &r1, &ok, &failed, extra, sizeof extra);
        w2 = now_s();
        getrusage(RUSAGE_SELF, &r2);
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof extra - l, ",\"append_wall_s\":%.6f,\"append_cpu_s\":%.6f,\"trigger_wall_s\":%.6f,\"trigger_cpu_s\":%.6f",
                 w1 - w0, cpu_s(&r0, &r1), w2 - w1, cpu_s(&r1, &r2));
    } else {
        fprintf(stderr, "c_bench: mode must be single or bulk\n");
        return 2;
    }

    double user = (r2.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r2.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
    double sys = (r2.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r2.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    /* JSON-escape the error text crudely: replace quotes and backslashes. */
    for (char *p = first_error; *p; p++) if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
    printf("{\"events\":%ld,\"ok\":%ld,\"failed\":%ld,\"threads\":%d,\"wall_s\":%.6f,\"cpu_user_s\":%.6f,"
           "\"cpu_sys_s\":%.6f,\"maxrss_kb\":%ld,\"peak_rss_kb\":%ld%s,\"error\":\"%s\"}\n",
           n_total, ok, failed, n_threads, w2 - w0, user, sys, r2.ru_maxrss, peak_rss_kb(), extra, first_error);
    fflush(stdout);
    suprsend_client_free(client);
    return failed ? 1 : 0;
}
