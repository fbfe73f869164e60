/*
 * c_bench.c: libsuprsend through its public C API, timed from inside the process.
 *
 *   c_bench BASE_URL KEY SECRET single N [THREADS [PAUSE_US]]
 *                                                     N events, one suprsend_track_event each,
 *                                                     spread over THREADS threads sharing one client;
 *                                                     with PAUSE_US, each thread sleeps that long
 *                                                     after each call (inside the timed part: what
 *                                                     any pause costs, for c_single_paused)
 *   c_bench BASE_URL KEY SECRET async N [IN_FLIGHT]  N events, one suprsend_track_event_async each
 *                                                     from this thread, at most IN_FLIGHT (default 100)
 *                                                     in flight; also the caller's own CPU per call
 *   c_bench BASE_URL KEY SECRET bulk N               N events created, appended to one bulk, triggered
 *   c_bench BASE_URL KEY SECRET enqueue N            N events suprsend_enqueue'd on this thread, then
 *                                                     suprsend_flush: background delivery end to end
 *   c_bench -        KEY SECRET queued N             N events enqueued for a hub that refuses every
 *                                                     connection (a port of this process bound, not
 *                                                     listening): the memory they take while waiting
 *   c_bench BASE_URL KEY SECRET outbox N THREADS PATH POWER_SAFE
 *                                                     N events enqueued from THREADS threads into a
 *                                                     durable outbox at PATH (POWER_SAFE 0|1), then
 *                                                     suprsend_flush (see outbox_main)
 *   c_bench -        KEY SECRET outbox_waiting N 1 PATH 0
 *                                                     N events in the outbox for a refusing hub:
 *                                                     peak RSS and file size with all N waiting
 *
 * Prints one JSON line: events, ok, failed, wall_s, cpu_user_s, cpu_sys_s (getrusage(RUSAGE_SELF)
 * around the timed part only, all threads), maxrss_kb; for bulk also the CPU of the append phase
 * and of the trigger phase. Process start-up, library load and client creation are not timed.
 * enqueue: wall and CPU from the first enqueue until suprsend_flush returns (every event has
 * its fate), the enqueuing thread's own CPU (CLOCK_THREAD_CPUTIME_ID) around the enqueue loop,
 * and the same events created without being enqueued (timed after, apart); ok = N only when
 * flush returned SUPRSEND_OK and SUPRSEND_STAT_DELIVERED and the callback's delivered fates
 * are both N. queued: peak RSS with all N waiting, then a close of 100 ms (ok = N when all N
 * were waiting and were reported SUPRSEND_E_CLOSED).
 *
 * Build: cc -O2 -o c_bench c_bench.c $(pkg-config --cflags --libs suprsend) -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>
#include "suprsend.h"
#include "measure.h"

static suprsend_client *client;
static long n_total;
static int n_threads = 1;
static long pause_us;  /* single: a sleep after each call */
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
        if (pause_us > 0) {
            struct timespec pause = {pause_us / 1000000, (pause_us % 1000000) * 1000};
            while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {}
        }
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

static double thread_cpu_s(void);

/* Asynchronous calls: completions counted on the library's thread; the caller waits for room. */
static pthread_mutex_t async_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t async_cv = PTHREAD_COND_INITIALIZER;
static long async_in_flight, async_ok, async_failed;

static void on_async_done(int status, suprsend_response *r, void *user_data) {
    (void)user_data;
    int ok = status == SUPRSEND_OK && r && suprsend_response_success(r);
    suprsend_response_free(r);
    pthread_mutex_lock(&async_mu);
    async_in_flight--;
    if (ok) async_ok++;
    else async_failed++;
    pthread_cond_broadcast(&async_cv);
    pthread_mutex_unlock(&async_mu);
    if (!ok) note_error("track_event_async", status);
}

__attribute__((noinline)) double bench_timed_async(long max_in_flight) {
    double caller = 0;
    for (long i = 0; i < n_total; i++) {
        pthread_mutex_lock(&async_mu);
        while (async_in_flight >= max_in_flight) pthread_cond_wait(&async_cv, &async_mu);
        async_in_flight++;
        pthread_mutex_unlock(&async_mu);
        double c0 = thread_cpu_s();
        suprsend_event *ev = make_event(i);
        int rc = ev ? suprsend_track_event_async(client, ev, on_async_done, NULL) : SUPRSEND_E_ARGUMENT;
        suprsend_event_free(ev);
        caller += thread_cpu_s() - c0;
        if (rc != SUPRSEND_OK) {
            note_error("track_event_async", rc);
            pthread_mutex_lock(&async_mu);
            async_in_flight--;
            async_failed++;
            pthread_mutex_unlock(&async_mu);
        }
    }
    pthread_mutex_lock(&async_mu);
    while (async_in_flight > 0) pthread_cond_wait(&async_cv, &async_mu);
    pthread_mutex_unlock(&async_mu);
    return caller;
}

/* ---------------------------------------------------------------------------------------------
 * Background delivery: suprsend_enqueue, suprsend_flush, the delivery callback, the stats.
 * ------------------------------------------------------------------------------------------- */

/* Fates counted by the delivery callback (the worker's thread; the closing thread at close). */
static long fate_delivered, fate_refused, fate_expired, fate_closed, fate_other;

static void on_delivery(const suprsend_delivery *d, void *user_data) {
    (void)user_data;
    int st = suprsend_delivery_status(d);
    long *counter = st == SUPRSEND_OK ? &fate_delivered : st == SUPRSEND_E_HTTP ? &fate_refused
                  : st == SUPRSEND_E_TIMEOUT ? &fate_expired : st == SUPRSEND_E_CLOSED ? &fate_closed : &fate_other;
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
    if (st != SUPRSEND_OK && st != SUPRSEND_E_CLOSED) {
        pthread_mutex_lock(&err_mu);
        if (!first_error[0])
            snprintf(first_error, sizeof first_error, "fate %s (HTTP %d, %d attempts): %s", suprsend_status_name(st),
                     suprsend_delivery_http_status(d), suprsend_delivery_attempts(d), suprsend_delivery_message(d));
        pthread_mutex_unlock(&err_mu);
    }
}

static long fate(long *counter) { return __atomic_load_n(counter, __ATOMIC_RELAXED); }

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* VmRSS now, in KiB (peak_rss_kb is the high-water mark). */
static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) { kb = atol(line + 6); break; }
    fclose(f);
    return kb;
}

static long long stat_of(int which) {
    long long v = -1;
    if (suprsend_client_stat(client, which, &v) != SUPRSEND_OK) return -1;
    return v;
}

/* The enqueue loop: create the event, enqueue it, free it. Returns the events enqueued. */
__attribute__((noinline)) long bench_timed_enqueue(void) {
    long queued = 0;
    for (long i = 0; i < n_total; i++) {
        suprsend_event *ev = make_event(i);
        if (!ev) continue;
        int rc = suprsend_enqueue(client, ev);
        if (rc == SUPRSEND_OK) queued++;
        else note_error("enqueue", rc);
        suprsend_event_free(ev);
    }
    return queued;
}

/* The same events created and freed, not enqueued: what the loop above spends outside
 * suprsend_enqueue. Timed apart, after the run. */
static double event_creation_cpu_s(void) {
    double t0 = thread_cpu_s();
    for (long i = 0; i < n_total; i++) suprsend_event_free(make_event(i));
    return thread_cpu_s() - t0;
}

/* A TCP port of this process bound and not listening: every connection to it is refused at
 * once (no other process can take the port while it is held). */
static int refusing_port(int *fd_out) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *fd_out = fd;
    return ntohs(a.sin_port);
}

static int background_main(const char *mode, const char *base_url, const char *key, const char *secret) {
    int queued_mode = strcmp(mode, "queued") == 0;
    char url[64];
    int hold_fd = -1;
    if (queued_mode) {
        int port = refusing_port(&hold_fd);
        if (port < 0) { perror("c_bench: refusing port"); return 2; }
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
        base_url = url;
    }
    suprsend_options *opts = suprsend_options_new(key, secret);
    if (!opts) { fprintf(stderr, "c_bench: options: %s\n", suprsend_last_error()); return 2; }
    int rc = suprsend_options_set_base_url(opts, base_url);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_queue_capacity(opts, n_total); /* room for them all */
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_delivery_callback(opts, on_delivery, NULL);
    if (rc == SUPRSEND_OK) rc = suprsend_client_new(opts, &client);
    suprsend_options_free(opts);
    if (rc != SUPRSEND_OK) {
        fprintf(stderr, "c_bench: client: %s: %s\n", suprsend_status_name(rc), suprsend_last_error());
        return 2;
    }
    long rss0 = rss_kb();

    struct rusage r0, r1, r2;
    getrusage(RUSAGE_SELF, &r0);
    double w0 = now_s(), tc0 = thread_cpu_s();
    long queued = bench_timed_enqueue();
    double tc1 = thread_cpu_s(), w1 = now_s();
    getrusage(RUSAGE_SELF, &r1);

    long ok = 0, failed = 0;
    char extra[768];
    if (!queued_mode) {
        /* Every event has its fate when flush returns SUPRSEND_OK (the callbacks have run). */
        int frc = suprsend_flush(client, 60000);
        double w2 = now_s();
        getrusage(RUSAGE_SELF, &r2);
        long peak = peak_rss_kb();
        long long delivered = stat_of(SUPRSEND_STAT_DELIVERED), refused = stat_of(SUPRSEND_STAT_REFUSED),
                  dropped = stat_of(SUPRSEND_STAT_DROPPED), retries = stat_of(SUPRSEND_STAT_RETRIES),
                  left = stat_of(SUPRSEND_STAT_QUEUED) + stat_of(SUPRSEND_STAT_IN_FLIGHT);
        if (frc != SUPRSEND_OK) note_error("flush", frc);
        ok = (frc == SUPRSEND_OK && delivered == n_total && fate(&fate_delivered) == n_total) ? n_total : 0;
        if (!ok) {
            failed = n_total - (delivered > 0 ? (long)delivered : 0);
            if (failed <= 0) failed = 1;
            pthread_mutex_lock(&err_mu);
            if (!first_error[0])
                snprintf(first_error, sizeof first_error, "flush %s, delivered %lld (callback %ld) of %ld",
                         suprsend_status_name(frc), delivered, fate(&fate_delivered), n_total);
            pthread_mutex_unlock(&err_mu);
        }
        double create = event_creation_cpu_s();
        snprintf(extra, sizeof extra,
                 ",\"mode\":\"enqueue\",\"queued\":%ld,\"flush_status\":\"%s\",\"delivered\":%lld,\"refused\":%lld,"
                 "\"dropped\":%lld,\"retries\":%lld,\"left\":%lld,\"fates\":{\"delivered\":%ld,\"refused\":%ld,"
                 "\"expired\":%ld,\"closed\":%ld,\"other\":%ld},"
                 "\"enqueue_wall_s\":%.6f,\"enqueue_thread_cpu_s\":%.6f,\"enqueue_process_cpu_s\":%.6f,"
                 "\"event_creation_thread_cpu_s\":%.6f,\"flush_wall_s\":%.6f,\"rss_before_kb\":%ld",
                 queued, suprsend_status_name(frc), delivered, refused, dropped, retries, left,
                 fate(&fate_delivered), fate(&fate_refused), fate(&fate_expired), fate(&fate_closed), fate(&fate_other),
                 w1 - w0, tc1 - tc0, cpu_s(&r0, &r1), create, w2 - w1, rss0);
        rc = suprsend_client_close(client, 2000);
        suprsend_client_free(client); /* close leaves the handle valid: free releases it */
        client = NULL;
        double user = (r2.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r2.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
        double sys = (r2.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r2.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
        for (char *p = first_error; *p; p++) if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
        printf("{\"events\":%ld,\"ok\":%ld,\"failed\":%ld,\"threads\":1,\"wall_s\":%.6f,\"cpu_user_s\":%.6f,"
               "\"cpu_sys_s\":%.6f,\"maxrss_kb\":%ld,\"peak_rss_kb\":%ld%s,\"close_status\":\"%s\",\"error\":\"%s\"}\n",
               n_total, ok, failed, w2 - w0, user, sys, r2.ru_maxrss, peak, extra, suprsend_status_name(rc), first_error);
        fflush(stdout);
        return failed ? 1 : 0;
    }

    /* queued: every event waits (the hub refuses connections); how much memory do they take? */
    long peak = peak_rss_kb(), rss1 = rss_kb();
    long long waiting = stat_of(SUPRSEND_STAT_QUEUED), in_flight = stat_of(SUPRSEND_STAT_IN_FLIGHT),
              delivered = stat_of(SUPRSEND_STAT_DELIVERED), retries = stat_of(SUPRSEND_STAT_RETRIES);
    double c0 = now_s();
    int crc = suprsend_client_close(client, 100); /* the events left are reported SUPRSEND_E_CLOSED */
    double close_s = now_s() - c0;
    suprsend_client_free(client); /* close leaves the handle valid: free releases it */
    client = NULL;
    close(hold_fd);
    double create = event_creation_cpu_s();
    ok = (queued == n_total && waiting + in_flight == n_total && fate(&fate_closed) == n_total) ? n_total : 0;
    if (!ok) {
        failed = n_total;
        pthread_mutex_lock(&err_mu);
        if (!first_error[0])
            snprintf(first_error, sizeof first_error,
                     "enqueued %ld, waiting %lld + in flight %lld, closed fates %ld, of %ld", queued, waiting, in_flight,
                     fate(&fate_closed), n_total);
        pthread_mutex_unlock(&err_mu);
    }
    double user = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
    double sys = (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    for (char *p = first_error; *p; p++) if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
    printf("{\"events\":%ld,\"ok\":%ld,\"failed\":%ld,\"threads\":1,\"wall_s\":%.6f,\"cpu_user_s\":%.6f,"
           "\"cpu_sys_s\":%.6f,\"maxrss_kb\":%ld,\"peak_rss_kb\":%ld,\"mode\":\"queued\",\"queued\":%ld,"
           "\"waiting\":%lld,\"in_flight\":%lld,\"delivered\":%lld,\"retries\":%lld,\"rss_before_kb\":%ld,"
           "\"rss_queued_kb\":%ld,\"enqueue_thread_cpu_s\":%.6f,\"event_creation_thread_cpu_s\":%.6f,\"close_s\":%.6f,\"close_status\":\"%s\","
           "\"fates\":{\"delivered\":%ld,\"refused\":%ld,\"expired\":%ld,\"closed\":%ld,\"other\":%ld},\"error\":\"%s\"}\n",
           n_total, ok, failed, w1 - w0, user, sys, r1.ru_maxrss, peak, queued, waiting, in_flight, delivered, retries,
           rss0, rss1, tc1 - tc0, create, close_s, suprsend_status_name(crc), fate(&fate_delivered), fate(&fate_refused),
           fate(&fate_expired), fate(&fate_closed), fate(&fate_other), first_error);
    fflush(stdout);
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------------
 * The durable outbox: suprsend_options_set_outbox_path (a SQLite file), optionally power safe.
 *
 *   outbox PATH POWER_SAFE THREADS: N events enqueued from THREADS threads (split evenly) into
 *     the outbox at PATH, then suprsend_flush: enqueue events/s, each thread's own CPU summed
 *     (caller CPU per enqueue), whole-process CPU and wall from the first enqueue until flush
 *     returned; ok = N only when flush returned SUPRSEND_OK, SUPRSEND_STAT_DELIVERED == N and N
 *     "delivered" fates were reported.
 *   outbox_waiting PATH: N events enqueued for a hub that refuses every connection: peak RSS
 *     with all N in the file (SUPRSEND_STAT_QUEUED == N), SUPRSEND_STAT_OUTBOX_BYTES, then a
 *     close of 100 ms (the events stay in the file: no fate is reported).
 * The file (and its -wal, -shm) is removed at the end.
 * ------------------------------------------------------------------------------------------- */

struct enq_worker { long from, to, queued; double cpu_s; };

__attribute__((noinline)) void *bench_timed_outbox_enqueue(void *arg) {
    struct enq_worker *w = arg;
    double c0 = thread_cpu_s();
    for (long i = w->from; i < w->to; i++) {
        suprsend_event *ev = make_event(i);
        if (!ev) continue;
        int rc = suprsend_enqueue(client, ev);
        if (rc == SUPRSEND_OK) w->queued++;
        else note_error("enqueue", rc);
        suprsend_event_free(ev);
    }
    w->cpu_s = thread_cpu_s() - c0;
    return NULL;
}

static void remove_outbox(const char *path) {
    static const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[1100];
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

static double tv_s(struct timeval a, struct timeval b) { return (b.tv_sec - a.tv_sec) + (b.tv_usec - a.tv_usec) / 1e6; }

static int outbox_main(const char *mode, const char *base_url, const char *key, const char *secret,
                       const char *path, int power_safe) {
    int waiting_mode = strcmp(mode, "outbox_waiting") == 0;
    char url[64];
    int hold_fd = -1;
    if (waiting_mode) {
        int port = refusing_port(&hold_fd);
        if (port < 0) { perror("c_bench: refusing port"); return 2; }
        snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
        base_url = url;
        n_threads = 1;
    }
    remove_outbox(path); /* a fresh file every run */
    suprsend_options *opts = suprsend_options_new(key, secret);
    if (!opts) { fprintf(stderr, "c_bench: options: %s\n", suprsend_last_error()); return 2; }
    int rc = suprsend_options_set_base_url(opts, base_url);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_outbox_path(opts, path);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_outbox_power_safe(opts, power_safe);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_delivery_callback(opts, on_delivery, NULL);
    if (rc == SUPRSEND_OK) rc = suprsend_client_new(opts, &client);
    suprsend_options_free(opts);
    if (rc != SUPRSEND_OK) {
        fprintf(stderr, "c_bench: client: %s: %s\n", suprsend_status_name(rc), suprsend_last_error());
        remove_outbox(path);
        return 2;
    }
    long rss0 = rss_kb();

    pthread_t *th = calloc((size_t)n_threads, sizeof *th);
    struct enq_worker *ws = calloc((size_t)n_threads, sizeof *ws);
    for (int t = 0; t < n_threads; t++) {
        ws[t].from = n_total * t / n_threads;
        ws[t].to = n_total * (t + 1) / n_threads;
    }
    struct rusage r0, r1, r2;
    getrusage(RUSAGE_SELF, &r0);
    double w0 = now_s();
    if (n_threads == 1) bench_timed_outbox_enqueue(&ws[0]);
    else {
        for (int t = 0; t < n_threads; t++) pthread_create(&th[t], NULL, bench_timed_outbox_enqueue, &ws[t]);
        for (int t = 0; t < n_threads; t++) pthread_join(th[t], NULL);
    }
    double w1 = now_s();
    getrusage(RUSAGE_SELF, &r1);
    long queued = 0;
    double thread_cpu = 0;
    for (int t = 0; t < n_threads; t++) { queued += ws[t].queued; thread_cpu += ws[t].cpu_s; }
    free(th);
    free(ws);
    long long bytes_enqueued = stat_of(SUPRSEND_STAT_OUTBOX_BYTES);

    long ok = 0, failed = 0;
    const char *fail_what = NULL;
    char extra[1024];
    double w2;
    struct rusage *rend;
    long peak;
    if (!waiting_mode) {
        int frc = suprsend_flush(client, 120000);
        w2 = now_s();
        getrusage(RUSAGE_SELF, &r2);
        rend = &r2;
        peak = peak_rss_kb();
        long long delivered = stat_of(SUPRSEND_STAT_DELIVERED), refused = stat_of(SUPRSEND_STAT_REFUSED),
                  dropped = stat_of(SUPRSEND_STAT_DROPPED), retries = stat_of(SUPRSEND_STAT_RETRIES),
                  left = stat_of(SUPRSEND_STAT_QUEUED) + stat_of(SUPRSEND_STAT_IN_FLIGHT),
                  bytes_end = stat_of(SUPRSEND_STAT_OUTBOX_BYTES);
        if (frc != SUPRSEND_OK) note_error("flush", frc);
        ok = (frc == SUPRSEND_OK && queued == n_total && delivered == n_total && fate(&fate_delivered) == n_total)
             ? n_total : 0;
        if (!ok) {
            failed = n_total - (delivered > 0 ? (long)delivered : 0);
            if (failed <= 0) failed = 1;
            pthread_mutex_lock(&err_mu);
            if (!first_error[0])
                snprintf(first_error, sizeof first_error, "flush %s, enqueued %ld, delivered %lld (callback %ld) of %ld",
                         suprsend_status_name(frc), queued, delivered, fate(&fate_delivered), n_total);
            pthread_mutex_unlock(&err_mu);
        }
        int crc = suprsend_client_close(client, 2000);
        suprsend_client_free(client); /* close leaves the handle valid: free releases it */
        client = NULL;
        double create = event_creation_cpu_s();
        snprintf(extra, sizeof extra,
                 ",\"mode\":\"enqueue\",\"outbox\":true,\"power_safe\":%d,\"queued\":%ld,\"flush_status\":\"%s\","
                 "\"delivered\":%lld,\"refused\":%lld,\"dropped\":%lld,\"retries\":%lld,\"left\":%lld,"
                 "\"fates\":{\"delivered\":%ld,\"refused\":%ld,\"expired\":%ld,\"closed\":%ld,\"other\":%ld},"
                 "\"enqueue_wall_s\":%.6f,\"enqueue_thread_cpu_s\":%.6f,\"enqueue_process_cpu_s\":%.6f,"
                 "\"event_creation_thread_cpu_s\":%.6f,\"flush_wall_s\":%.6f,\"rss_before_kb\":%ld,"
                 "\"outbox_bytes_enqueued\":%lld,\"outbox_bytes_end\":%lld,\"close_status\":\"%s\"",
                 power_safe, queued, suprsend_status_name(frc), delivered, refused, dropped, retries, left,
                 fate(&fate_delivered), fate(&fate_refused), fate(&fate_expired), fate(&fate_closed), fate(&fate_other),
                 w1 - w0, thread_cpu, tv_s(r0.ru_utime, r1.ru_utime) + tv_s(r0.ru_stime, r1.ru_stime), create,
                 w2 - w1, rss0, bytes_enqueued, bytes_end, suprsend_status_name(crc));
    } else {
        /* Every event waits in the file (the hub refuses connections). A batch the worker had
         * claimed when its connection was refused goes back to waiting: give it up to 2 s. */
        long long waiting = stat_of(SUPRSEND_STAT_QUEUED), in_flight = stat_of(SUPRSEND_STAT_IN_FLIGHT);
        for (int i = 0; i < 200 && waiting != n_total; i++) {
            usleep(10000);
            waiting = stat_of(SUPRSEND_STAT_QUEUED);
            in_flight = stat_of(SUPRSEND_STAT_IN_FLIGHT);
        }
        w2 = w1;
        rend = &r1;
        peak = peak_rss_kb();
        long rss1 = rss_kb();
        long long delivered = stat_of(SUPRSEND_STAT_DELIVERED), retries = stat_of(SUPRSEND_STAT_RETRIES),
                  bytes = stat_of(SUPRSEND_STAT_OUTBOX_BYTES);
        double c0 = now_s();
        int crc = suprsend_client_close(client, 100); /* the events stay in the file for the next client */
        double close_s = now_s() - c0;
        suprsend_client_free(client); /* close leaves the handle valid: free releases it */
        client = NULL;
        close(hold_fd);
        double create = event_creation_cpu_s();
        ok = (queued == n_total && waiting == n_total && fate(&fate_closed) + fate(&fate_other) + fate(&fate_delivered) == 0)
             ? n_total : 0;
        if (!ok) {
            failed = n_total;
            fail_what = "waiting";
            pthread_mutex_lock(&err_mu);
            if (!first_error[0])
                snprintf(first_error, sizeof first_error,
                         "enqueued %ld, waiting %lld (in flight %lld), fates delivered %ld closed %ld other %ld, of %ld",
                         queued, waiting, in_flight, fate(&fate_delivered), fate(&fate_closed), fate(&fate_other), n_total);
            pthread_mutex_unlock(&err_mu);
        }
        snprintf(extra, sizeof extra,
                 ",\"mode\":\"queued\",\"outbox\":true,\"power_safe\":%d,\"queued\":%ld,\"waiting\":%lld,\"in_flight\":%lld,"
                 "\"delivered\":%lld,\"retries\":%lld,\"rss_before_kb\":%ld,\"rss_queued_kb\":%ld,"
                 "\"enqueue_thread_cpu_s\":%.6f,\"event_creation_thread_cpu_s\":%.6f,\"close_s\":%.6f,\"close_status\":\"%s\","
                 "\"outbox_bytes\":%lld,\"outbox_bytes_enqueued\":%lld,"
                 "\"fates\":{\"delivered\":%ld,\"refused\":%ld,\"expired\":%ld,\"closed\":%ld,\"other\":%ld}",
                 power_safe, queued, waiting, in_flight, delivered, retries, rss0, rss1, thread_cpu, create, close_s,
                 suprsend_status_name(crc), bytes, bytes_enqueued, fate(&fate_delivered), fate(&fate_refused),
                 fate(&fate_expired), fate(&fate_closed), fate(&fate_other));
    }
    (void)fail_what;
    remove_outbox(path);
    for (char *p = first_error; *p; p++) if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';
    printf("{\"events\":%ld,\"ok\":%ld,\"failed\":%ld,\"threads\":%d,\"wall_s\":%.6f,\"cpu_user_s\":%.6f,"
           "\"cpu_sys_s\":%.6f,\"maxrss_kb\":%ld,\"peak_rss_kb\":%ld%s,\"error\":\"%s\"}\n",
           n_total, ok, failed, n_threads, w2 - w0, tv_s(r0.ru_utime, rend->ru_utime), tv_s(r0.ru_stime, rend->ru_stime),
           rend->ru_maxrss, peak, extra, first_error);
    fflush(stdout);
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: c_bench BASE_URL KEY SECRET single|bulk|enqueue|queued N [THREADS]\n"
                        "       c_bench BASE_URL KEY SECRET async N [IN_FLIGHT]\n"
                        "       c_bench BASE_URL KEY SECRET outbox|outbox_waiting N THREADS PATH POWER_SAFE\n");
        return 2;
    }
    const char *mode = argv[4];
    n_total = atol(argv[5]);
    if (argc > 6) n_threads = atoi(argv[6]);
    if (n_total <= 0 || n_threads <= 0) { fprintf(stderr, "c_bench: bad N or THREADS\n"); return 2; }
    if (strcmp(mode, "enqueue") == 0 || strcmp(mode, "queued") == 0)
        return background_main(mode, argv[1], argv[2], argv[3]);
    if (strcmp(mode, "outbox") == 0 || strcmp(mode, "outbox_waiting") == 0) {
        if (argc < 9) { fprintf(stderr, "c_bench: outbox modes: ... N THREADS PATH POWER_SAFE\n"); return 2; }
        return outbox_main(mode, argv[1], argv[2], argv[3], argv[7], atoi(argv[8]));
    }

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
        if (argc > 7) pause_us = atol(argv[7]);
        if (pause_us < 0) { fprintf(stderr, "c_bench: bad PAUSE_US\n"); return 2; }
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
    } else if (strcmp(mode, "async") == 0) {
        long max_in_flight = argc > 6 ? atol(argv[6]) : 100;
        n_threads = 1;
        if (max_in_flight <= 0) { fprintf(stderr, "c_bench: bad IN_FLIGHT\n"); return 2; }
        getrusage(RUSAGE_SELF, &r0);
        w0 = now_s();
        double caller = bench_timed_async(max_in_flight);
        w2 = now_s();
        getrusage(RUSAGE_SELF, &r2);
        ok = async_ok;
        failed = async_failed;
        snprintf(extra, sizeof extra, ",\"in_flight\":%ld,\"caller_cpu_us_per_call\":%.3f", max_in_flight,
                 caller / (double)n_total * 1e6);
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
        fprintf(stderr, "c_bench: mode must be single, async or bulk\n");
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
