/*
 * fault_matrix.c: what libsuprsend's durable outbox does with events under faults.
 *
 * Drives the installed library (only <suprsend.h>, built with pkg-config's flags) against the
 * local hub (tools/hub/suprsend-hub) started by tests/c/fault-matrix.sh with a --db file on a
 * fixed port. Each scenario gets a fresh outbox file and a reset hub, enqueues events that carry
 * {"run": "<scenario>-<pid>[-pK]", "n": <i>} in their properties, counts the enqueues that
 * returned SUPRSEND_OK ("acknowledged"), and then compares with what the hub processed
 * (GET /_hub/events):
 *   delivered        distinct $insert_id of the scenario's events at the hub
 *   delivered twice  $insert_ids the hub processed more than once (the same $insert_id twice in
 *                    /_hub/events; repeats the hub dropped by idempotency key, listed in
 *                    /_hub/duplicates, are not processed twice)
 *   lost             acknowledged events that the hub never processed
 * A scenario fails on any loss, anything processed twice, one enqueue processed as two events
 * (two $insert_ids for one "n"), an event given up (a fate other than delivered), a flush that
 * only returns at its deadline, a flush or close that answers SUPRSEND_E_TIMEOUT before its
 * deadline (a false failure), a crash or a hang (every loop and wait is bounded).
 * Notes marked WARNING report what breaks a promise without losing or doubling an event (a
 * worker retrying a failing disk without pause).
 *
 * Scenarios: 1 bursts of 503; 2 429 with Retry-After: 1; 3 drops before/after processing; 4 a
 * stall (2.5 s) beyond the timeout (1 s); 5 the hub stopped (SIGTERM) while events are enqueued,
 * down 30 s, started again on the same port and --db; 6 the producer SIGKILLed mid-stream, a new
 * process drains its outbox; 7 four processes share one outbox under seeded random faults; 7b four
 * processes open one new outbox at the same instant, 25 times; 8 a full disk (RLIMIT_FSIZE) with
 * the hub refusing (503); 8b a full outbox (outbox_max_bytes); 8c a full disk while requests are
 * in flight (a delivery that cannot be recorded is sent again and must be dropped as a repeat).
 * The outbox's integrity: 9 two workspaces given one outbox path (the second client is refused;
 * no event reaches the hub under the other workspace's key); 10 kill -9 while the disk (a small
 * tmpfs) is full, then space freed and a new process drains (SKIP where mounting is not
 * possible); 11 a corrupt file (3 pages overwritten: refused, left byte for byte as it was); 12 a
 * write lock held 5 s by another process (no enqueue blocks beyond 1 s; refusals are "busy").
 * Every scenario also fails when an event reached the hub under another workspace than its run's.
 *
 * Usage (fault-matrix.sh does this):
 *   fault_matrix BASE_URL KEY SECRET WORKDIR DRIVER_SCRIPT [KEY2 SECRET2]
 *     WORKDIR holds hub.pid (the hub's pid), hub.port (its port file); `DRIVER_SCRIPT --hub-ctl
 *     run WORKDIR` execs the hub again with the same port and --db (scenario 5 restarts it).
 *     KEY2 SECRET2: the hub's second workspace (scenario 9 fails without it).
 *     The library's log lines (WARNING and above) go to WORKDIR/logs/<run>.log.
 *   Environment: FAULT_MATRIX_ONLY=1,5,8b runs only those scenarios;
 *                FAULT_MATRIX_LOG_LEVEL=10 logs every request (SUPRSEND_LOG_* values).
 *   fault_matrix --child ...   internal: a producer or drainer process (scenarios 6 to 12).
 *   fault_matrix --locker OUTBOX MS   internal: holds a write transaction on OUTBOX for MS ms.
 *
 * Output: one table (scenario | acknowledged | delivered | delivered twice | lost | result),
 * notes per scenario, then "N passed, M failed" (", K skipped" when a scenario could not run).
 * Exit status 0 only when M == 0.
 */
#include <suprsend.h>
#include <sqlite3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The hub's control-API client and its JSON reader, shared with the other C test programs. */
#include "hub_client.h"

/* =======================================================================================
 * Small helpers
 * ===================================================================================== */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "fault_matrix: out of memory\n");
        exit(3);
    }
    return p;
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* =======================================================================================
 * Configuration (parent and children)
 * ===================================================================================== */

static const char *g_base_url, *g_key, *g_secret, *g_work, *g_script;
static const char *g_key2, *g_secret2;   /* the hub's second workspace (scenario 9) */
static int g_port_num;
static int g_logfd = -1;         /* library log lines of this process (WARNING and above) */
static pid_t g_own_hub = -1;     /* a hub this process started (scenario 5), to stop at exit */
static int g_loglevel = SUPRSEND_LOG_WARNING;
static long g_early_closes;     /* closes that gave up before their deadline, this scenario */
static int g_report_fates;      /* a child: report each fate ("D status insert_id") */

static void report(const char *fmt, ...);

/* A number member of an object (dflt when there is none); the JSON reader is hub_client.h's. */
static double jkey_num(const jval *v, const char *key, double dflt) {
    jval *x = jget(v, key);
    return x && x->type == J_NUM ? x->n : dflt;
}

/* =======================================================================================
 * The hub's control API, over a plain loopback socket (hub_client.h's hub_request)
 * ===================================================================================== */

static jval *hub_get_json(const char *path) {
    char *body = NULL;
    int st = hub_request("GET", path, NULL, &body);
    jval *v = st == 200 && body ? jparse(body) : NULL;
    free(body);
    return v;
}

static int hub_post(const char *path, const char *body) {
    char *resp = NULL;
    int st = hub_request("POST", path, body, &resp);
    if (st != 200) fprintf(stderr, "fault_matrix: POST %s %s -> %d %s\n", path, body, st, resp ? resp : "");
    free(resp);
    return st == 200 ? 0 : -1;
}

static int hub_faults(const char *spec) { return hub_post("/_hub/faults", spec); }

/* Waits until no event-API request is being handled (requests sleeping in an injected delay
 * included). Hubs without GET /_hub/inflight: waits `fallback_ms`. */
static void hub_wait_idle(long timeout_ms, long fallback_ms) {
    double end = now_s() + (double)timeout_ms / 1000;
    for (;;) {
        char *body = NULL;
        int st = hub_request("GET", "/_hub/inflight", NULL, &body);
        if (st == 404) {
            free(body);
            sleep_ms(fallback_ms);
            return;
        }
        jval *v = st == 200 && body ? jparse(body) : NULL;
        free(body);
        double active = jkey_num(v, "active", -1);
        jfree(v);
        if (active == 0 || now_s() > end) return;
        sleep_ms(100);
    }
}

static int hub_reset(void) {
    /* a request still sleeping in a delay of the previous scenario would be recorded after the
     * reset: end such delays first (processing nothing) */
    char *resp = NULL;
    if (hub_request("POST", "/_hub/release", "{\"drop\": true}", &resp) == 200) hub_wait_idle(10000, 0);
    free(resp);
    return hub_post("/_hub/reset", "{}");
}

/* ---- stopping and starting the hub (scenario 5) ---------------------------------------- */

static pid_t read_pid_file(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_work, name);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long pid = -1;
    if (fscanf(f, "%ld", &pid) != 1) pid = -1;
    fclose(f);
    return (pid_t)pid;
}

static int process_gone(pid_t pid) {
    if (kill(pid, 0) != 0) return errno == ESRCH;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] == 'Z';   /* a zombie is gone too */
}

/* SIGTERM to the hub; waits until it has exited and its port is closed. */
static int hub_stop(void) {
    pid_t pid = read_pid_file("hub.pid");
    if (pid <= 0) return -1;
    if (kill(pid, SIGTERM) != 0) return -1;
    double end = now_s() + 15;
    if (pid == g_own_hub) {
        while (waitpid(pid, NULL, WNOHANG) == 0 && now_s() < end) sleep_ms(20);
        g_own_hub = -1;
    } else {
        while (!process_gone(pid) && now_s() < end) sleep_ms(20);
    }
    while (hub_request("GET", "/_hub/health", NULL, NULL) > 0 && now_s() < end) sleep_ms(20);
    return now_s() < end ? 0 : -1;
}

/* Starts the hub again (same port, same --db) as a child of this process. */
static int hub_start(void) {
    char portfile[4096];
    snprintf(portfile, sizeof portfile, "%s/hub.port", g_work);
    for (int attempt = 0; attempt < 20; attempt++) {
        unlink(portfile);
        pid_t pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            for (int fd = 3; fd < 1024; fd++) close(fd);
            execl(g_script, g_script, "--hub-ctl", "run", g_work, (char *)NULL);
            _exit(127);
        }
        double end = now_s() + 10;
        int exited = 0;
        while (now_s() < end) {
            if (access(portfile, R_OK) == 0 && hub_request("GET", "/_hub/health", NULL, NULL) == 200) {
                g_own_hub = pid;
                return 0;
            }
            if (waitpid(pid, NULL, WNOHANG) == pid) {
                exited = 1;   /* e.g. the port is not free yet: try again */
                break;
            }
            sleep_ms(20);
        }
        if (!exited) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        sleep_ms(250);
    }
    return -1;
}

/* =======================================================================================
 * The library side: a client on an outbox, fates, events
 * ===================================================================================== */

typedef struct {
    pthread_mutex_t mu;
    long ok, http, timeout, closed, other;
} fates_t;

static void on_delivery(const suprsend_delivery *d, void *user) {
    fates_t *f = user;
    int st = suprsend_delivery_status(d);
    pthread_mutex_lock(&f->mu);
    if (st == SUPRSEND_OK) f->ok++;
    else if (st == SUPRSEND_E_HTTP) f->http++;
    else if (st == SUPRSEND_E_TIMEOUT) f->timeout++;
    else if (st == SUPRSEND_E_CLOSED) f->closed++;
    else f->other++;
    pthread_mutex_unlock(&f->mu);
    if (g_report_fates) report("D %d %s", st, suprsend_delivery_insert_id(d));
    if (st != SUPRSEND_OK && g_logfd >= 0) {
        char line[1024];
        int n = snprintf(line, sizeof line, "fate %s (http %d) %s: %s\n", suprsend_status_name(st),
                         suprsend_delivery_http_status(d), suprsend_delivery_insert_id(d),
                         suprsend_delivery_message(d));
        if (n > 0) write_all(g_logfd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
    }
}

static void on_log(int level, const char *msg, void *user) {
    (void)user;
    if (g_logfd < 0) return;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld [%d] %d %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, (int)getpid(), level, msg);
    if (n > 0) write_all(g_logfd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
}

static void open_log(const char *tag) {
    if (g_logfd >= 0) close(g_logfd);
    char path[4096];
    snprintf(path, sizeof path, "%s/logs/%s.log", g_work, tag);
    g_logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static suprsend_client *open_client(const char *outbox, long timeout_ms, long long max_bytes, fates_t *fates,
                                    int *rc_out, char *err, size_t errlen) {
    suprsend_options *o = suprsend_options_new(g_key, g_secret);
    suprsend_client *c = NULL;
    int rc = o ? SUPRSEND_OK : SUPRSEND_E_ARGUMENT;
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_base_url(o, g_base_url);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_outbox_path(o, outbox);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_flush_interval_ms(o, 50);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_timeout_ms(o, timeout_ms);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_connect_timeout_ms(o, 1000);
    if (rc == SUPRSEND_OK && max_bytes > 0) rc = suprsend_options_set_outbox_max_bytes(o, max_bytes);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_delivery_callback(o, on_delivery, fates);
    if (rc == SUPRSEND_OK) rc = suprsend_options_set_log(o, g_loglevel, on_log, NULL);
    if (rc == SUPRSEND_OK) rc = suprsend_client_new(o, &c);
    if (rc != SUPRSEND_OK && err) snprintf(err, errlen, "%s: %s", suprsend_status_name(rc), suprsend_last_error());
    suprsend_options_free(o);
    if (rc_out) *rc_out = rc;
    return rc == SUPRSEND_OK ? c : NULL;
}

static char g_pad[2048];

/* Enqueues the event {"run": run, "n": n[, "pad": ...]}; returns the status. */
static int enqueue_one(suprsend_client *c, const char *run, long n, int pad) {
    char props[4096];
    if (pad > 0) {
        if (pad > (int)sizeof g_pad - 1) pad = (int)sizeof g_pad - 1;
        snprintf(props, sizeof props, "{\"run\":\"%s\",\"n\":%ld,\"pad\":\"%.*s\"}", run, n, pad, g_pad);
    } else {
        snprintf(props, sizeof props, "{\"run\":\"%s\",\"n\":%ld}", run, n);
    }
    suprsend_event *ev = suprsend_event_new("fault-matrix-user", "fault_matrix_event");
    if (!ev) return SUPRSEND_E_INTERNAL;
    int rc = suprsend_event_set_properties_json(ev, props);
    if (rc == SUPRSEND_OK) rc = suprsend_enqueue(c, ev);
    suprsend_event_free(ev);
    return rc;
}

static long long client_stat(suprsend_client *c, int which) {
    long long v = -1;
    if (suprsend_client_stat(c, which, &v) != SUPRSEND_OK) v = -1;
    return v;
}

/* =======================================================================================
 * Child processes: producers and drainers (scenarios 6-12). They report on fd 3, one line
 * each: "A n" (an acknowledged enqueue), "E status message" (the enqueue that failed),
 * "F flush_rc close_rc ok http timeout closed other" (the end), "N status message" (client_new
 * failed), "M max_ms max_n refused busy other" (the enqueue calls: the longest, in ms, and
 * which; how many were refused, of those how many with SUPRSEND_E_STORAGE "busy" and how many
 * otherwise), "D status insert_id" (a fate, when asked for), "X text" (anything else). The
 * lock holder (--locker) reports "L waited_s" (it holds the write lock) and "U" (released).
 * ===================================================================================== */

static void report(const char *fmt, ...) {
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    for (int i = 0; i < n; i++)
        if (line[i] == '\n') line[i] = ' ';
    line[n++] = '\n';
    write_all(3, line, (size_t)n);   /* a pipe: one write of less than PIPE_BUF is atomic */
}

/* What a child process does (passed on its command line). */
typedef struct {
    const char *mode;      /* "produce": enqueue, then flush (unless flush_ms == -2) and close; "drain" */
    long first, count;     /* produce: events n = first .. first+count-1 */
    long timeout_ms;       /* suprsend_options_set_timeout_ms */
    long long fsize;       /* > 0: RLIMIT_FSIZE (a full disk) */
    long long max_bytes;   /* > 0: suprsend_options_set_outbox_max_bytes */
    long flush_ms;         /* suprsend_flush deadline; -2: no flush */
    long close_ms;         /* suprsend_client_close deadline */
    long sleep_us;         /* between enqueues */
    int pad;               /* bytes of padding in each event's properties */
    double seconds;        /* produce: stop enqueuing after this long */
    int barrier;           /* 1: wait until fd 4 reaches EOF before opening the client */
    double hold_s;         /* produce: then keep the client open this long before flushing */
    int keep_going;        /* produce: go on after failed enqueues (else at most 20 more) */
    int report_fates;      /* report each fate ("D status insert_id") */
} params_t;

/* --child BASE KEY SECRET WORK OUTBOX RUN MODE FIRST COUNT TIMEOUT FSIZE MAX_BYTES FLUSH CLOSE SLEEP PAD SECONDS BARRIER
 *         HOLD KEEP_GOING REPORT_FATES */
#define CHILD_ARGC 23
static int child_main(int argc, char **argv) {
    if (argc != CHILD_ARGC) return 2;
    const char *outbox = argv[6], *run = argv[7];
    params_t pa = {argv[8], atol(argv[9]), atol(argv[10]), atol(argv[11]), atoll(argv[12]), atoll(argv[13]),
                   atol(argv[14]), atol(argv[15]), atol(argv[16]), atoi(argv[17]), atof(argv[18]), atoi(argv[19]),
                   atof(argv[20]), atoi(argv[21]), atoi(argv[22])};
    g_report_fates = pa.report_fates;
    const char *mode = pa.mode;
    long first = pa.first, count = pa.count, timeout_ms = pa.timeout_ms;
    long long fsize = pa.fsize, max_bytes = pa.max_bytes;
    long flush_ms = pa.flush_ms, close_ms = pa.close_ms, sleep_us = pa.sleep_us;
    int pad = pa.pad;
    double seconds = pa.seconds;
    if (pa.barrier) {
        char c;
        while (read(4, &c, 1) > 0 || errno == EINTR) {
        }
        close(4);
    }

    char tag[256];
    snprintf(tag, sizeof tag, "%s-%s%s", run, mode, pa.barrier ? "-barrier" : "");
    open_log(tag);
    if (fsize > 0) {
        /* a full disk: writes past the limit fail with EFBIG instead of killing the process */
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)fsize, (rlim_t)fsize};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) {
            report("X setrlimit(RLIMIT_FSIZE) failed: %s", strerror(errno));
            return 2;
        }
    }
    fates_t fates = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0};
    char err[1024];
    int rc;
    suprsend_client *c = open_client(outbox, timeout_ms, max_bytes, &fates, &rc, err, sizeof err);
    if (!c) {
        report("N %d %s", rc, suprsend_last_error());
        report("X client_new failed: %s", err);
        return 2;
    }
    if (!strcmp(mode, "produce")) {
        double end = now_s() + seconds, longest = 0;
        long failed_at = -1, after_ok = 0, after_failed = 0, longest_n = -1, refused = 0, busy = 0, other = 0;
        for (long i = first; i < first + count && now_s() < end; i++) {
            double t0 = now_s();
            rc = enqueue_one(c, run, i, pad);
            double took = now_s() - t0;
            if (took > longest) {
                longest = took;
                longest_n = i;
            }
            if (rc == SUPRSEND_OK) {
                report("A %ld", i);
                if (failed_at >= 0) after_ok++;
            } else {
                const char *msg = suprsend_last_error();
                refused++;
                if (rc == SUPRSEND_E_STORAGE && strstr(msg, "busy")) {
                    busy++;
                } else if (other++ == 0 && pa.keep_going) {
                    report("X the first refusal other than SUPRSEND_E_STORAGE \"busy\" (n=%ld): %s: %s", i,
                           suprsend_status_name(rc), msg);
                }
                if (failed_at < 0) {
                    report("E %d %s", rc, msg);
                    failed_at = i;
                } else {
                    after_failed++;
                }
            }
            /* after the first failure, a few more tries: whatever they answer must hold */
            if (!pa.keep_going && failed_at >= 0 && i - failed_at >= 20) break;
            if (sleep_us > 0) usleep((useconds_t)sleep_us);
        }
        if (failed_at >= 0 && !pa.keep_going)
            report("X after the first failure, %ld more enqueues: %ld OK, %ld failed", after_ok + after_failed,
                   after_ok, after_failed);
        report("M %.1f %ld %ld %ld %ld", longest * 1000, longest_n, refused, busy, other);
        if (pa.hold_s > 0) {
            on_log(0, "fault_matrix: enqueuing done, holding the client open", NULL);
            sleep_ms((long)(pa.hold_s * 1000));
        }
    }
    on_log(0, "fault_matrix: enqueuing done, flushing", NULL);
    double t_flush = now_s();
    int frc = flush_ms == -2 ? -1 : suprsend_flush(c, flush_ms);
    double flush_s = now_s() - t_flush;
    on_log(0, frc == -1 ? "fault_matrix: closing" : frc == SUPRSEND_OK ? "fault_matrix: flush OK, closing"
                                                                        : "fault_matrix: flush failed, closing", NULL);
    if (frc != -1 && frc != SUPRSEND_OK)
        report("X flush: %s (queued %lld, in flight %lld)", suprsend_status_name(frc),
               client_stat(c, SUPRSEND_STAT_QUEUED), client_stat(c, SUPRSEND_STAT_IN_FLIGHT));
    double t_close = now_s();
    int crc = suprsend_client_close(c, close_ms);
    if (now_s() - t_close > 1) report("X close took %.1f s", now_s() - t_close);
    suprsend_client_free(c);   /* close no longer frees the handle */
    on_log(0, crc == SUPRSEND_OK ? "fault_matrix: closed" : "fault_matrix: closed, events left", NULL);
    pthread_mutex_lock(&fates.mu);
    report("F %d %d %ld %ld %ld %ld %ld %.2f %.3f %ld", frc, crc, fates.ok, fates.http, fates.timeout, fates.closed,
           fates.other, flush_s, now_s() - t_close, close_ms);
    pthread_mutex_unlock(&fates.mu);
    return 0;
}

/* --locker OUTBOX HOLD_MS: another application holding a write transaction on the outbox
 * (scenario 12), through SQLite's own C API: BEGIN IMMEDIATE (in WAL mode, the file's write
 * lock), HOLD_MS, ROLLBACK. Changes nothing in the file, and does not checkpoint at close. */
static int locker_main(const char *path, long hold_ms) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK) {
        report("X sqlite3_open_v2(%s): %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return 2;
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
    sqlite3_busy_timeout(db, 5000);   /* to take the lock between the library's own transactions */
    char *err = NULL;
    double t0 = now_s();
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK) {
        report("X BEGIN IMMEDIATE on %s: %s", path, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        sqlite3_close(db);
        return 2;
    }
    report("L %.3f", now_s() - t0);
    sleep_ms(hold_ms);
    if (sqlite3_exec(db, "ROLLBACK", NULL, NULL, &err) != SQLITE_OK) {
        report("X ROLLBACK: %s", err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
    }
    report("U");
    sqlite3_close(db);
    return 0;
}

/* =======================================================================================
 * Scenarios: bookkeeping and judgement
 * ===================================================================================== */

#define MAX_RUNS 8

typedef struct {
    char name[96];
    long cap;
    unsigned char *acked;
    const char *workspace;   /* the key its events must reach the hub under (NULL: g_key) */
} run_t;

typedef struct {
    const char *id, *title;
    run_t runs[MAX_RUNS];
    int nruns;
    long acked, delivered, twice, lost;
    long unacked_delivered, multi;   /* delivered without an ack; one enqueue as two $insert_ids */
    long allow_unacked;               /* unacknowledged events that may legitimately arrive */
    long wrong_key;                   /* events at the hub under another workspace than their run's */
    int fail, ran, skip;
    int no_lost;                      /* "lost" does not apply (the events stay in a damaged file) */
    char notes[8192];
    char outbox[4096];
} scen_t;

static void note(scen_t *s, const char *fmt, ...) {
    size_t len = strlen(s->notes);
    if (len + 4 >= sizeof s->notes) return;
    if (len) {
        strcpy(s->notes + len, "; ");
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->notes + len, sizeof s->notes - len, fmt, ap);
    va_end(ap);
}

#define FAIL(s, ...) \
    do {             \
        (s)->fail = 1; \
        note((s), "FAIL: " __VA_ARGS__); \
    } while (0)

static run_t *add_run(scen_t *s, const char *suffix, long cap) {
    run_t *r = &s->runs[s->nruns++];
    snprintf(r->name, sizeof r->name, "s%s-%d%s", s->id, (int)getpid(), suffix);
    r->cap = cap;
    r->acked = calloc((size_t)cap, 1);
    if (!r->acked) exit(3);
    return r;
}

static void ack(run_t *r, long n) {
    if (n >= 0 && n < r->cap) r->acked[n] = 1;
}

typedef struct {
    char *insert_id;
    int run;
    long n;
} hubev;

static int cmp_insert_id(const void *a, const void *b) {
    return strcmp(((const hubev *)a)->insert_id, ((const hubev *)b)->insert_id);
}

static int cmp_run_n(const void *a, const void *b) {
    const hubev *x = a, *y = b;
    if (x->run != y->run) return x->run < y->run ? -1 : 1;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return strcmp(x->insert_id, y->insert_id);
}

static void judge(scen_t *s) {
    hub_wait_idle(15000, 3000);
    jval *events = hub_get_json("/_hub/events");
    if (!events || events->type != J_ARR) {
        FAIL(s, "GET /_hub/events did not answer a JSON array");
        jfree(events);
        return;
    }
    hubev *evs = xmalloc(sizeof(hubev) * (events->count + 1));
    int m = 0, others = 0;
    for (size_t i = 0; i < events->count; i++) {
        jval *e = events->items[i], *props = jget(e, "properties"), *iid = jget(e, "$insert_id");
        jval *run = jget(props, "run"), *n = jget(props, "n");
        int ri = -1;
        if (run && run->type == J_STR)
            for (int k = 0; k < s->nruns; k++)
                if (!strcmp(run->s, s->runs[k].name)) ri = k;
        if (ri < 0 || !n || n->type != J_NUM || !iid || iid->type != J_STR) {
            others++;
            continue;
        }
        evs[m].insert_id = iid->s;
        evs[m].run = ri;
        evs[m].n = (long)n->n;
        m++;
    }
    if (others) note(s, "%d events of other runs at the hub (ignored)", others);

    /* the workspace each event reached the hub under (the hub's _hub.workspace: the key of the
     * request's Authorization; the hub refuses an event whose env is another key) */
    s->wrong_key = 0;
    for (size_t i = 0; i < events->count; i++) {
        jval *e = events->items[i], *run = jget(jget(e, "properties"), "run");
        const char *ws = jstr(jpath(e, "_hub.workspace"));
        if (!run || run->type != J_STR) continue;
        for (int k = 0; k < s->nruns; k++) {
            if (strcmp(run->s, s->runs[k].name)) continue;
            const char *want = s->runs[k].workspace ? s->runs[k].workspace : g_key;
            if (!ws || strcmp(ws, want)) {
                if (s->wrong_key++ < 3)
                    note(s, "run %s: an event reached the hub under workspace %s, not %s", run->s, ws ? ws : "(none)",
                         want);
            }
        }
    }

    s->acked = 0;
    for (int k = 0; k < s->nruns; k++)
        for (long i = 0; i < s->runs[k].cap; i++) s->acked += s->runs[k].acked[i];

    /* by $insert_id: distinct ones delivered, and those processed more than once */
    qsort(evs, (size_t)m, sizeof *evs, cmp_insert_id);
    s->delivered = s->twice = 0;
    for (int i = 0; i < m;) {
        int j = i + 1;
        while (j < m && !strcmp(evs[j].insert_id, evs[i].insert_id)) j++;
        s->delivered++;
        if (j - i > 1) {
            s->twice++;
            if (s->twice <= 3)
                note(s, "$insert_id %s processed %d times (run %s n %ld)", evs[i].insert_id, j - i,
                     s->runs[evs[i].run].name, evs[i].n);
        }
        i = j;
    }
    /* by (run, n): lost acknowledged events, one enqueue as two occurrences, extras */
    qsort(evs, (size_t)m, sizeof *evs, cmp_run_n);
    s->lost = s->unacked_delivered = s->multi = 0;
    for (int k = 0; k < s->nruns; k++) {
        run_t *r = &s->runs[k];
        unsigned char *seen = calloc((size_t)r->cap, 1);
        if (!seen) exit(3);
        for (int i = 0; i < m; i++) {
            if (evs[i].run != k) continue;
            if (evs[i].n < 0 || evs[i].n >= r->cap) {
                FAIL(s, "run %s: an event with n=%ld, never enqueued", r->name, evs[i].n);
                continue;
            }
            if (seen[evs[i].n] && i > 0 && evs[i - 1].run == k && evs[i - 1].n == evs[i].n &&
                strcmp(evs[i - 1].insert_id, evs[i].insert_id) != 0) {
                s->multi++;
                if (s->multi <= 3) note(s, "run %s n %ld reached the hub with two $insert_ids", r->name, evs[i].n);
            }
            seen[evs[i].n] = 1;
        }
        long first_lost = -1, lost_here = 0;
        for (long i = 0; i < r->cap; i++) {
            if (r->acked[i] && !seen[i]) {
                lost_here++;
                if (first_lost < 0) first_lost = i;
            }
            if (!r->acked[i] && seen[i]) s->unacked_delivered++;
        }
        if (lost_here && !s->no_lost)
            note(s, "run %s: %ld acknowledged events lost, the first n=%ld", r->name, lost_here, first_lost);
        s->lost += lost_here;
        free(seen);
    }
    free(evs);
    jfree(events);

    jval *stats = hub_get_json("/_hub/stats");
    if (stats) {
        note(s, "hub: %.0f requests, %.0f repeats dropped by idempotency key", jkey_num(stats, "requests", -1),
             jkey_num(stats, "duplicates", -1));
        jval *f = jget(stats, "faults_injected");
        if (f && f->type == J_OBJ && f->count > 0) {
            char buf[512] = "";
            for (size_t i = 0; i < f->count && strlen(buf) < 400; i++)
                snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s=%.0f", i ? " " : "", f->keys[i],
                         f->items[i]->type == J_NUM ? f->items[i]->n : -1);
            note(s, "faults injected: %s", buf);
        }
        if (jkey_num(stats, "rejected", 0) > 0) note(s, "hub rejected %.0f", jkey_num(stats, "rejected", 0));
    }
    jfree(stats);

    if (s->no_lost)
        note(s, "%ld acknowledged events not at the hub: they stay in the damaged file", s->lost);
    else if (s->lost)
        FAIL(s, "%ld acknowledged events lost", s->lost);
    if (s->wrong_key) FAIL(s, "%ld events reached the hub under another workspace than their own", s->wrong_key);
    if (s->twice) FAIL(s, "%ld events processed twice", s->twice);
    if (s->multi) FAIL(s, "%ld enqueues processed as two events", s->multi);
    if (s->unacked_delivered > s->allow_unacked)
        FAIL(s, "%ld events delivered whose enqueue did not return OK (at most %ld expected)", s->unacked_delivered,
             s->allow_unacked);
    else if (s->unacked_delivered)
        note(s, "%ld delivered event(s) committed but not yet acknowledged when the producer died", s->unacked_delivered);
    if (s->acked == 0) FAIL(s, "nothing was acknowledged: the scenario tested nothing");
}

static void begin(scen_t *s) {
    g_early_closes = 0;
    char dir[3072];
    snprintf(dir, sizeof dir, "%s/s%s", g_work, s->id);
    mkdir(dir, 0755);
    snprintf(s->outbox, sizeof s->outbox, "%s/outbox.db", dir);
    char tag[64];
    snprintf(tag, sizeof tag, "s%s-parent", s->id);
    open_log(tag);
    if (hub_reset() != 0) FAIL(s, "the hub could not be reset");
}

/* ---- in-process scenarios ---------------------------------------------------------------- */

typedef struct {
    suprsend_client *c;
    fates_t fates;
    run_t *run;
    long next;
} proc_t;

static int proc_open(scen_t *s, proc_t *p, long timeout_ms) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->fates.mu, NULL);
    char err[1024];
    int rc;
    p->c = open_client(s->outbox, timeout_ms, 0, &p->fates, &rc, err, sizeof err);
    if (!p->c) FAIL(s, "client_new: %s", err);
    return p->c ? 0 : -1;
}

static long proc_enqueue(scen_t *s, proc_t *p, long count) {
    long ok = 0;
    for (long i = 0; i < count; i++) {
        long n = p->next++;
        int rc = enqueue_one(p->c, p->run->name, n, 0);
        if (rc == SUPRSEND_OK) {
            ack(p->run, n);
            ok++;
        } else {
            FAIL(s, "enqueue n=%ld: %s: %s", n, suprsend_status_name(rc), suprsend_last_error());
            break;
        }
    }
    return ok;
}

static void proc_finish(scen_t *s, proc_t *p, long flush_ms) {
    double t0 = now_s();
    int rc = suprsend_flush(p->c, flush_ms);
    double took = now_s() - t0;
    if (rc != SUPRSEND_OK)
        FAIL(s, "flush(%ld ms): %s after %.1f s (queued %lld, in flight %lld, delivered %lld)", flush_ms,
             suprsend_status_name(rc), took, client_stat(p->c, SUPRSEND_STAT_QUEUED),
             client_stat(p->c, SUPRSEND_STAT_IN_FLIGHT), client_stat(p->c, SUPRSEND_STAT_DELIVERED));
    else if (flush_ms > 0 && took * 1000 >= (double)flush_ms - 500)
        FAIL(s, "flush returned only at its deadline (%ld ms): it waited for nothing (a hang with flush(-1))", flush_ms);
    else
        note(s, "flush took %.1f s", took);
    long long retries = client_stat(p->c, SUPRSEND_STAT_RETRIES);
    int crc = suprsend_client_close(p->c, 5000);
    suprsend_client_free(p->c);   /* close no longer frees the handle */
    p->c = NULL;
    if (crc != SUPRSEND_OK) FAIL(s, "client_close: %s", suprsend_status_name(crc));
    pthread_mutex_lock(&p->fates.mu);
    note(s, "fates: %ld delivered, %ld refused, %ld expired, %ld other; %lld requests retried", p->fates.ok,
         p->fates.http, p->fates.timeout, p->fates.closed + p->fates.other, retries);
    if (p->fates.http || p->fates.timeout || p->fates.closed || p->fates.other) FAIL(s, "events given up");
    pthread_mutex_unlock(&p->fates.mu);
}

/* A fault script, then events in bursts, then flush. */
static void scenario_script(scen_t *s, const char *faults, int bursts, long per_burst, long pause_ms,
                            long timeout_ms) {
    begin(s);
    proc_t p;
    if (proc_open(s, &p, timeout_ms) != 0) return;
    p.run = add_run(s, "", bursts * per_burst);
    if (hub_faults(faults) != 0) FAIL(s, "the hub refused the faults %s", faults);
    for (int b = 0; b < bursts; b++) {
        proc_enqueue(s, &p, per_burst);
        if (b + 1 < bursts) sleep_ms(pause_ms);
    }
    proc_finish(s, &p, 60000);
    hub_faults("{\"script\": []}");
    judge(s);
}

static void s1_503(scen_t *s) {
    scenario_script(s,
                    "{\"script\": [{\"status\": 503}, {\"status\": 503}, {\"status\": 503}, {\"status\": 503}, {},"
                    " {\"status\": 503}, {\"status\": 503}, {\"status\": 503}, {},"
                    " {\"status\": 503}, {\"status\": 503}, {\"status\": 503}, {\"status\": 503}, {\"status\": 503}],"
                    " \"rate\": {\"status_503\": 0.3}, \"seed\": 11}",
                    4, 100, 300, 5000);
}

static void s2_429(scen_t *s) {
    double t0 = now_s();
    scenario_script(s,
                    "{\"script\": [{\"status\": 429, \"retry_after\": 1}, {\"status\": 429, \"retry_after\": 1},"
                    " {}, {\"status\": 429, \"retry_after\": 1}]}",
                    2, 100, 200, 5000);
    note(s, "whole scenario %.1f s (three 429s with Retry-After: 1)", now_s() - t0);
}

static void s3_drops(scen_t *s) {
    scenario_script(s,
                    "{\"script\": [{\"drop\": \"before_processing\"}, {\"drop\": \"after_processing\"}, {},"
                    " {\"drop\": \"after_processing\"}, {\"drop\": \"before_processing\"},"
                    " {\"drop\": \"after_processing\"}, {\"drop\": \"after_processing\"}]}",
                    3, 100, 200, 5000);
}

static void s4_stall(scen_t *s) {
    scenario_script(s, "{\"script\": [{\"delay_ms\": 2500}, {\"delay_ms\": 2500}, {}, {\"delay_ms\": 2500}]}",
                    2, 100, 500, 1000);
}

/* ---- scenario 5: the hub down for 30 s ------------------------------------------------------ */

typedef struct {
    scen_t *s;
    proc_t *p;
    volatile int stop;
    long enqueued, failed;
    int first_fail;
    char first_msg[512];
} feeder_t;

static void *feeder(void *arg) {
    feeder_t *f = arg;
    double end = now_s() + 20;   /* bounded whatever happens */
    while (!f->stop && now_s() < end && f->p->next < f->p->run->cap) {
        long n = f->p->next++;
        int rc = enqueue_one(f->p->c, f->p->run->name, n, 0);
        if (rc == SUPRSEND_OK) {
            ack(f->p->run, n);
            f->enqueued++;
        } else if (f->failed++ == 0) {
            f->first_fail = rc;
            snprintf(f->first_msg, sizeof f->first_msg, "%s", suprsend_last_error());
        }
        sleep_ms(5);
    }
    return NULL;
}

static void s5_outage(scen_t *s) {
    begin(s);
    proc_t p;
    if (proc_open(s, &p, 1000) != 0) return;
    p.run = add_run(s, "", 10000);
    feeder_t f;
    memset(&f, 0, sizeof f);
    f.s = s;
    f.p = &p;
    pthread_t th;
    pthread_create(&th, NULL, feeder, &f);
    sleep_ms(1000);
    long before = f.enqueued;
    double t_stop = now_s();
    if (hub_stop() != 0) FAIL(s, "the hub did not stop on SIGTERM");
    sleep_ms(3000);   /* keep enqueuing while the hub is down */
    f.stop = 1;
    pthread_join(th, NULL);
    note(s, "%ld enqueued before the hub stopped, %ld in all", before, f.enqueued);
    if (f.failed)
        FAIL(s, "%ld enqueues failed while the hub was down, the first: %s: %s", f.failed,
             suprsend_status_name(f.first_fail), f.first_msg);
    while (now_s() < t_stop + 30) sleep_ms(100);
    note(s, "%lld waiting, %lld in flight after 30 s down", client_stat(p.c, SUPRSEND_STAT_QUEUED),
         client_stat(p.c, SUPRSEND_STAT_IN_FLIGHT));
    if (hub_start() != 0) {
        FAIL(s, "the hub did not start again on port %d", g_port_num);
        suprsend_client_close(p.c, 0);
        suprsend_client_free(p.c);
        return;
    }
    proc_finish(s, &p, 120000);
    judge(s);
}

/* ---- child processes ------------------------------------------------------------------------ */

typedef struct {
    pid_t pid;
    int fd;
    run_t *run;
    const char *key, *secret;   /* the workspace it opens its client with (NULL: g_key, g_secret) */
    char buf[8192];
    size_t len;
    int eof, got_final, got_error, error_status, signaled, exit_code;
    long flush_rc, close_rc, ok, http, timeout, closed, other, acks, close_ms;
    double flush_s, close_s;
    char error_msg[1024];
    char extra[1024];
    int open_failed, open_status;        /* "N": client_new failed */
    char open_msg[1024];
    int got_calls;                       /* "M": its enqueue calls */
    double longest_ms;
    long longest_n, refused, refused_busy, refused_other;
    char **fates;                        /* "D": the insert_id of each fate reported, in order */
    long nfates, cap_fates, fates_not_ok;
    double locked_at, unlocked_at;       /* the lock holder: "L" and "U" read (now_s()) */
} child_t;

/* Starts a child process (this program again, with --child). barrier_fd >= 0: the read end of a
 * pipe the child waits on (until the parent closes the write end) before it opens its client. */
static pid_t spawn(child_t *ch, const char *outbox, const params_t *pa, int barrier_fd) {
    int fds[2];
    memset(ch->buf, 0, sizeof ch->buf);
    ch->len = 0;
    ch->eof = ch->got_final = ch->got_error = ch->signaled = 0;
    ch->exit_code = -1;
    ch->extra[0] = ch->error_msg[0] = ch->open_msg[0] = 0;
    ch->acks = 0;
    ch->open_failed = ch->open_status = ch->got_calls = 0;
    ch->longest_ms = 0;
    ch->longest_n = -1;
    ch->refused = ch->refused_busy = ch->refused_other = 0;
    for (long i = 0; i < ch->nfates; i++) free(ch->fates[i]);
    ch->nfates = ch->fates_not_ok = 0;
    ch->locked_at = ch->unlocked_at = 0;
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    char a[16][64];
    snprintf(a[0], 64, "%ld", pa->first);
    snprintf(a[1], 64, "%ld", pa->count);
    snprintf(a[2], 64, "%ld", pa->timeout_ms);
    snprintf(a[3], 64, "%lld", pa->fsize);
    snprintf(a[4], 64, "%lld", pa->max_bytes);
    snprintf(a[5], 64, "%ld", pa->flush_ms);
    snprintf(a[6], 64, "%ld", pa->close_ms);
    snprintf(a[7], 64, "%ld", pa->sleep_us);
    snprintf(a[8], 64, "%d", pa->pad);
    snprintf(a[9], 64, "%.1f", pa->seconds);
    snprintf(a[10], 64, "%d", barrier_fd >= 0);
    snprintf(a[11], 64, "%.1f", pa->hold_s);
    snprintf(a[12], 64, "%d", pa->keep_going);
    snprintf(a[13], 64, "%d", pa->report_fates);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (barrier_fd >= 0) {
            if (barrier_fd != 4) dup2(barrier_fd, 4);
            fcntl(4, F_SETFD, 0);
        }
        if (fds[1] != 3) dup2(fds[1], 3);   /* dup2 clears close-on-exec on fd 3 */
        fcntl(3, F_SETFD, 0);
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) _exit(126);
        exe[n] = 0;
        char *args[CHILD_ARGC + 1] = {exe, "--child", (char *)g_base_url, (char *)(ch->key ? ch->key : g_key),
                                      (char *)(ch->secret ? ch->secret : g_secret), (char *)g_work, (char *)outbox,
                                      ch->run->name, (char *)pa->mode};
        for (int i = 0; i < 14; i++) args[9 + i] = a[i];
        args[CHILD_ARGC] = NULL;
        execv(exe, args);
        char msg[256];
        int len = snprintf(msg, sizeof msg, "X exec %s failed: %s\n", exe, strerror(errno));
        if (len > 0) write_all(3, msg, (size_t)len);
        _exit(127);
    }
    close(fds[1]);
    ch->pid = pid;
    ch->fd = fds[0];
    return pid;
}

static void child_line(child_t *ch, char *line) {
    if (line[0] == 'A' && line[1] == ' ') {
        ack(ch->run, atol(line + 2));
        ch->acks++;
    } else if (line[0] == 'E' && line[1] == ' ') {
        ch->got_error = 1;
        char *sp = NULL;
        ch->error_status = (int)strtol(line + 2, &sp, 10);
        snprintf(ch->error_msg, sizeof ch->error_msg, "%s", sp && *sp ? sp + 1 : "");
    } else if (line[0] == 'F' && line[1] == ' ') {
        ch->got_final = sscanf(line + 2, "%ld %ld %ld %ld %ld %ld %ld %lf %lf %ld", &ch->flush_rc, &ch->close_rc,
                               &ch->ok, &ch->http, &ch->timeout, &ch->closed, &ch->other, &ch->flush_s, &ch->close_s,
                               &ch->close_ms) == 10;
    } else if (line[0] == 'X' && line[1] == ' ') {
        size_t l = strlen(ch->extra);
        snprintf(ch->extra + l, sizeof ch->extra - l, "%s%s", l ? "; " : "", line + 2);
    } else if (line[0] == 'N' && line[1] == ' ') {
        ch->open_failed = 1;
        char *sp = NULL;
        ch->open_status = (int)strtol(line + 2, &sp, 10);
        snprintf(ch->open_msg, sizeof ch->open_msg, "%s", sp && *sp ? sp + 1 : "");
    } else if (line[0] == 'M' && line[1] == ' ') {
        ch->got_calls = sscanf(line + 2, "%lf %ld %ld %ld %ld", &ch->longest_ms, &ch->longest_n, &ch->refused,
                               &ch->refused_busy, &ch->refused_other) == 5;
    } else if (line[0] == 'D' && line[1] == ' ') {
        char *sp = NULL;
        int st = (int)strtol(line + 2, &sp, 10);
        if (st != SUPRSEND_OK) ch->fates_not_ok++;
        if (ch->nfates == ch->cap_fates) {
            ch->cap_fates = ch->cap_fates ? ch->cap_fates * 2 : 256;
            ch->fates = realloc(ch->fates, sizeof(char *) * (size_t)ch->cap_fates);
            if (!ch->fates) exit(3);
        }
        ch->fates[ch->nfates++] = strdup(sp && *sp ? sp + 1 : "");
    } else if (line[0] == 'L') {
        ch->locked_at = now_s();
    } else if (line[0] == 'U') {
        ch->unlocked_at = now_s();
    }
}

/* Reads the children's reports until all have ended or the deadline; `until_acks` > 0: returns as
 * soon as one child has that many acknowledgements (for a kill mid-stream). Returns 1 when every
 * pipe reached EOF. */
static int pump(child_t *chs, int n, double deadline, long until_acks) {
    for (;;) {
        struct pollfd pf[MAX_RUNS];
        int open = 0;
        for (int i = 0; i < n; i++) {
            pf[i].fd = chs[i].eof ? -1 : chs[i].fd;
            pf[i].events = POLLIN;
            pf[i].revents = 0;
            open += !chs[i].eof;
        }
        if (!open) return 1;
        if (until_acks > 0)
            for (int i = 0; i < n; i++)
                if (chs[i].acks >= until_acks) return 0;
        double left = deadline - now_s();
        if (left <= 0) return 0;
        int r = poll(pf, (nfds_t)n, (int)(left * 1000 < 200 ? left * 1000 + 1 : 200));
        if (r < 0 && errno != EINTR) return 0;
        for (int i = 0; i < n; i++) {
            if (chs[i].eof || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            child_t *ch = &chs[i];
            ssize_t got = read(ch->fd, ch->buf + ch->len, sizeof ch->buf - 1 - ch->len);
            if (got <= 0) {
                if (got < 0 && errno == EINTR) continue;
                ch->eof = 1;
                close(ch->fd);
                continue;
            }
            ch->len += (size_t)got;
            ch->buf[ch->len] = 0;
            char *start = ch->buf, *nl;
            while ((nl = strchr(start, '\n'))) {
                *nl = 0;
                child_line(ch, start);
                start = nl + 1;
            }
            ch->len = strlen(start);
            memmove(ch->buf, start, ch->len + 1);
        }
    }
}

/* Waits for the child's exit (killing it at the deadline), and judges how it ended. */
static void reap(scen_t *s, child_t *ch, const char *what, int killed_on_purpose, double deadline) {
    int st = 0;
    pid_t r;
    while ((r = waitpid(ch->pid, &st, WNOHANG)) == 0 && now_s() < deadline) sleep_ms(20);
    if (r == 0) {
        kill(ch->pid, SIGKILL);
        waitpid(ch->pid, &st, 0);
        FAIL(s, "%s (pid %d) hung: killed after the deadline", what, (int)ch->pid);
    }
    if (!ch->eof) {
        close(ch->fd);
        ch->eof = 1;
    }
    if (WIFSIGNALED(st)) {
        ch->signaled = WTERMSIG(st);
        if (!(killed_on_purpose && WTERMSIG(st) == SIGKILL))
            FAIL(s, "%s (pid %d) died of signal %d (%s)", what, (int)ch->pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
    } else if (WIFEXITED(st)) {
        ch->exit_code = WEXITSTATUS(st);
        if (ch->exit_code != 0)
            FAIL(s, "%s (pid %d) exited with status %d%s", what, (int)ch->pid, ch->exit_code,
                 ch->exit_code == 127 ? " (it could not start: exec, or loading the library, failed)" : "");
    }
    if (ch->extra[0]) note(s, "%s: %s", what, ch->extra);
}

/* How often the library logged a failed outbox write in a log: a worker that retries a failing
 * disk without pausing spins a CPU and floods the log (reported, not failed). */
static void storage_spin_note(scen_t *s, const char *tag) {
    char path[4096], line[2048];
    snprintf(path, sizeof path, "%s/logs/%s.log", g_work, tag);
    FILE *f = fopen(path, "r");
    if (!f) return;
    long count = 0;
    double first = -1, last = -1;
    while (fgets(line, sizeof line, f)) {
        int h, m;
        double sec;
        if (!strstr(line, "outbox '") || !strstr(line, " failed: ")) continue;
        count++;
        if (sscanf(line, "%d:%d:%lf", &h, &m, &sec) == 3) {
            double t = h * 3600.0 + m * 60.0 + sec;
            if (first < 0) first = t;
            last = t;
        }
    }
    fclose(f);
    if (count == 0) return;
    double span = last - first;
    if (count >= 50 && span < (double)count / 50)
        note(s, "WARNING %s: %ld failed outbox writes logged in %.2f s (%.0f/s): the worker retries a failing disk "
                "without pausing", tag, count, span, (double)count / (span > 0.001 ? span : 0.001));
    else
        note(s, "%s: %ld failed outbox writes logged", tag, count);
}

/* After a flush that succeeded, suprsend_client_close(c, ms) has nothing of its own left: it
 * answers SUPRSEND_E_TIMEOUT only when its deadline passed. One that says so early is a false
 * failure (in a shared outbox: other processes' younger events counted as its own). */
static void judge_close(scen_t *s, const child_t *ch, const char *what) {
    if (ch->got_final && ch->flush_rc == SUPRSEND_OK && ch->close_rc != SUPRSEND_OK && ch->close_ms > 0 &&
        ch->close_s * 1000 < (double)ch->close_ms - 500) {
        if (g_early_closes++ < 3)
            FAIL(s, "%s: client_close(%ld ms) returned %s after %.3f s, before its deadline, though its flush "
                    "succeeded", what, ch->close_ms, suprsend_status_name((int)ch->close_rc), ch->close_s);
        s->fail = 1;
    }
}

/* flush_deadline_ms > 0: the child flushed with that deadline, which must not be reached. */
static void judge_final(scen_t *s, child_t *ch, const char *what, long flush_deadline_ms) {
    if (!ch->got_final) {
        FAIL(s, "%s gave no final report", what);
        return;
    }
    note(s, "%s: %ld delivered, %ld refused, %ld expired, %ld closed/other; flush %s in %.1f s, close %s", what, ch->ok,
         ch->http, ch->timeout, ch->closed + ch->other,
         ch->flush_rc == -1 ? "-" : suprsend_status_name((int)ch->flush_rc), ch->flush_s,
         suprsend_status_name((int)ch->close_rc));
    judge_close(s, ch, what);
    if (ch->http || ch->timeout || ch->closed || ch->other) FAIL(s, "%s: events given up", what);
    if (flush_deadline_ms > 0 && ch->flush_rc != SUPRSEND_OK) FAIL(s, "%s: flush did not finish", what);
    else if (flush_deadline_ms > 0 && ch->flush_s * 1000 >= (double)flush_deadline_ms - 500)
        FAIL(s, "%s: flush returned only at its deadline (%ld ms): it waited for nothing (a hang with flush(-1))", what,
             flush_deadline_ms);
}

/* Scenario 6: the producer killed with SIGKILL mid-stream; a new process drains the outbox. */
static void s6_sigkill(scen_t *s) {
    begin(s);
    s->allow_unacked = 1;
    child_t prod, drain;
    memset(&prod, 0, sizeof prod);
    memset(&drain, 0, sizeof drain);
    prod.run = drain.run = add_run(s, "", 100000);
    /* slow requests, so that batches are claimed and in flight when the producer dies */
    hub_faults("{\"rate\": {\"delay\": 0.5}, \"delay_ms\": 400, \"seed\": 3}");
    params_t pp = {.mode = "produce", .count = 100000, .timeout_ms = 1000, .flush_ms = -2, .sleep_us = 200,
                   .seconds = 20};
    if (spawn(&prod, s->outbox, &pp, -1) < 0) {
        FAIL(s, "fork failed");
        return;
    }
    double t0 = now_s();
    pump(&prod, 1, t0 + 10, 600);
    long long inflight = -1;
    jval *v = hub_get_json("/_hub/inflight");
    if (v) inflight = (long long)jkey_num(v, "active", -1);
    jfree(v);
    kill(prod.pid, SIGKILL);
    pump(&prod, 1, now_s() + 5, 0);   /* what the pipe still holds */
    reap(s, &prod, "the producer", 1, now_s() + 5);
    note(s, "producer SIGKILLed after %.1f s and %ld acknowledged enqueues, %lld hub requests in flight", now_s() - t0,
         prod.acks, inflight);
    if (prod.signaled != SIGKILL) FAIL(s, "the producer was not killed mid-stream (it ended by itself)");
    hub_faults("{\"script\": []}");

    double t1 = now_s();
    params_t pd = {.mode = "drain", .timeout_ms = 1000, .flush_ms = 90000, .close_ms = 5000};
    spawn(&drain, s->outbox, &pd, -1);
    pump(&drain, 1, now_s() + 100, 0);
    reap(s, &drain, "the drainer", 0, now_s() + 10);
    note(s, "drained in %.1f s", now_s() - t1);
    judge_final(s, &drain, "the drainer", 90000);
    judge(s);
}

/* Scenario 7: four processes share one outbox under random faults. */
static void s7_shared(scen_t *s) {
    begin(s);
    enum { P = 4, N = 1000 };
    child_t ch[P];
    memset(ch, 0, sizeof ch);
    hub_faults("{\"rate\": {\"status_503\": 0.2, \"drop_after_processing\": 0.1, \"drop_before_processing\": 0.1},"
               " \"seed\": 7}");
    for (int i = 0; i < P; i++) {
        char sfx[16];
        snprintf(sfx, sizeof sfx, "-p%d", i);
        ch[i].run = add_run(s, sfx, N);
        params_t pp = {.mode = "produce", .count = N, .timeout_ms = 1000, .flush_ms = 75000, .close_ms = 10000,
                       .sleep_us = 1000, .seconds = 30};
        if (spawn(&ch[i], s->outbox, &pp, -1) < 0) {
            FAIL(s, "fork failed");
            return;
        }
    }
    double t0 = now_s();
    pump(ch, P, t0 + 130, 0);
    for (int i = 0; i < P; i++) {
        char what[32];
        snprintf(what, sizeof what, "process %d", i);
        reap(s, &ch[i], what, 0, now_s() + 10);
        judge_final(s, &ch[i], what, 75000);
        if (ch[i].got_error) FAIL(s, "%s: an enqueue failed: %s: %s", what, suprsend_status_name(ch[i].error_status),
                                  ch[i].error_msg);
    }
    note(s, "all four done in %.1f s", now_s() - t0);
    hub_faults("{\"script\": []}");
    judge(s);
}

/* Scenario 7b: four processes open the same new outbox at the same instant (a barrier), each
 * enqueues a few events, flushes and closes; many rounds, a new outbox file each. */
static void s7b_open_race(scen_t *s) {
    begin(s);
    enum { P = 4, ROUNDS = 25, PER = 5 };
    child_t ch[P];
    memset(ch, 0, sizeof ch);
    for (int i = 0; i < P; i++) {
        char sfx[16];
        snprintf(sfx, sizeof sfx, "-p%d", i);
        ch[i].run = add_run(s, sfx, ROUNDS * PER);
    }
    int failed_rounds = 0, failed_opens = 0;
    char first_error[1024] = "";
    double t0 = now_s();
    for (int r = 0; r < ROUNDS && !s->fail; r++) {
        char outbox[4200];
        snprintf(outbox, sizeof outbox, "%s.%d", s->outbox, r);
        int barrier[2];
        if (pipe2(barrier, O_CLOEXEC) != 0) {
            FAIL(s, "pipe: %s", strerror(errno));
            break;
        }
        int spawned = 0;
        for (int i = 0; i < P; i++) {
            params_t pp = {.mode = "produce", .first = (long)r * PER, .count = PER, .timeout_ms = 1000,
                           .flush_ms = 20000, .close_ms = 5000, .seconds = 20};
            if (spawn(&ch[i], outbox, &pp, barrier[0]) < 0) break;
            spawned++;
        }
        close(barrier[0]);
        close(barrier[1]);   /* all start now */
        pump(ch, spawned, now_s() + 40, 0);
        int bad = 0;
        for (int i = 0; i < spawned; i++) {
            char what[64];
            snprintf(what, sizeof what, "round %d process %d", r, i);
            int st = 0;
            pid_t w;
            double end = now_s() + 10;
            while ((w = waitpid(ch[i].pid, &st, WNOHANG)) == 0 && now_s() < end) sleep_ms(20);
            if (w == 0) {
                kill(ch[i].pid, SIGKILL);
                waitpid(ch[i].pid, &st, 0);
                FAIL(s, "%s hung", what);
            } else if (WIFSIGNALED(st)) {
                FAIL(s, "%s died of signal %d", what, WTERMSIG(st));
            }
            if (!ch[i].eof) {
                close(ch[i].fd);
                ch[i].eof = 1;
            }
            if (ch[i].extra[0] && strstr(ch[i].extra, "client_new failed")) {
                failed_opens++;
                bad = 1;
                if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s: %s", what, ch[i].extra);
            } else if (ch[i].got_final && ch[i].flush_rc == SUPRSEND_OK) {
                judge_close(s, &ch[i], what);
            } else {
                int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
                FAIL(s, "%s (pid %d, exit status %d%s, %ld acks, final report %s, flush %s): %s", what,
                     (int)ch[i].pid, code,
                     code == 127 ? ": it could not start, exec or loading the library failed" : "", ch[i].acks,
                     ch[i].got_final ? "yes" : "no", ch[i].got_final ? suprsend_status_name((int)ch[i].flush_rc) : "-",
                     ch[i].extra[0] ? ch[i].extra : "");
            }
        }
        failed_rounds += bad;
    }
    note(s, "%d rounds in %.1f s", ROUNDS, now_s() - t0);
    if (g_early_closes) note(s, "%ld early closes in all", g_early_closes);
    if (failed_opens)
        FAIL(s, "suprsend_client_new failed in %d of %d processes (%d of %d rounds); the first: %s", failed_opens,
             ROUNDS * P, failed_rounds, ROUNDS, first_error);
    judge(s);
}

/* Scenarios 8 and 8b: a full disk (RLIMIT_FSIZE) or a full outbox (outbox_max_bytes): enqueue until
 * it fails, with the hub refusing everything (503) so that nothing leaves the outbox; then a new
 * process without the limit drains the outbox. */
static void s8_full(scen_t *s, long long fsize, long long max_bytes, int expect_queue_full_only, int hub_accepts) {
    begin(s);
    child_t prod, drain;
    memset(&prod, 0, sizeof prod);
    memset(&drain, 0, sizeof drain);
    prod.run = drain.run = add_run(s, "", 20000);
    /* hub_accepts: every request is slow (300 ms), so that one is in flight when the disk fills */
    hub_faults(hub_accepts ? "{\"rate\": {\"delay\": 1.0}, \"delay_ms\": 300}"
                           : "{\"rate\": {\"status_503\": 1.0}, \"seed\": 1}");
    params_t pp = {.mode = "produce", .count = 20000, .timeout_ms = 1000, .fsize = fsize, .max_bytes = max_bytes,
                   .flush_ms = -2, .sleep_us = hub_accepts ? 20000 : 0, .pad = 600, .seconds = 20};
    if (spawn(&prod, s->outbox, &pp, -1) < 0) {
        FAIL(s, "fork failed");
        return;
    }
    pump(&prod, 1, now_s() + 40, 0);
    reap(s, &prod, "the producer", 0, now_s() + 10);
    if (!prod.got_error) {
        FAIL(s, "no enqueue failed (%ld acknowledged): the limit was never reached", prod.acks);
    } else {
        note(s, "enqueue #%ld failed: %s: %s", prod.acks + 1, suprsend_status_name(prod.error_status), prod.error_msg);
        int okstatus = expect_queue_full_only ? prod.error_status == SUPRSEND_E_QUEUE_FULL
                                              : (prod.error_status == SUPRSEND_E_STORAGE ||
                                                 prod.error_status == SUPRSEND_E_QUEUE_FULL);
        if (!okstatus)
            FAIL(s, "the failing enqueue returned %s, expected %s", suprsend_status_name(prod.error_status),
                 expect_queue_full_only ? "SUPRSEND_E_QUEUE_FULL" : "SUPRSEND_E_STORAGE or SUPRSEND_E_QUEUE_FULL");
        if (!strstr(prod.error_msg, s->outbox)) FAIL(s, "the message does not name the outbox's path");
    }
    char tag[256];
    snprintf(tag, sizeof tag, "%s-produce", prod.run->name);
    storage_spin_note(s, tag);
    if (prod.got_final)
        note(s, "producer: close %s", suprsend_status_name((int)prod.close_rc));
    else
        FAIL(s, "the producer gave no final report");
    hub_faults("{\"script\": []}");

    double t1 = now_s();
    params_t pd = {.mode = "drain", .timeout_ms = 1000, .flush_ms = 90000, .close_ms = 5000};
    spawn(&drain, s->outbox, &pd, -1);
    pump(&drain, 1, now_s() + 100, 0);
    reap(s, &drain, "the drainer", 0, now_s() + 10);
    note(s, "drained in %.1f s", now_s() - t1);
    judge_final(s, &drain, "the drainer", 90000);
    judge(s);
}

static void s8_fsize(scen_t *s) { s8_full(s, 400 * 1024, 0, 0, 0); }
static void s8b_maxbytes(scen_t *s) { s8_full(s, 0, 1 << 20, 1, 0); }
/* the disk fills while the worker delivers: it may be unable to record a delivery (the delete
 * fails), so the drainer sends those again and the hub must drop them as repeats */
static void s8c_fsize_delivering(scen_t *s) { s8_full(s, 400 * 1024, 0, 0, 1); }

/* ---- scenarios 9 to 12: the outbox's integrity ------------------------------------------------ */

/* Waits for a child's exit (killing it at the deadline: a hang) without judging its exit code;
 * fails on a signal. Returns the exit code, -1 when it has none. */
static int wait_child(scen_t *s, child_t *ch, const char *what, double deadline) {
    int st = 0;
    pid_t w;
    while ((w = waitpid(ch->pid, &st, WNOHANG)) == 0 && now_s() < deadline) sleep_ms(20);
    if (w == 0) {
        kill(ch->pid, SIGKILL);
        waitpid(ch->pid, &st, 0);
        FAIL(s, "%s (pid %d) hung: killed after the deadline", what, (int)ch->pid);
        st = 0;
    } else if (WIFSIGNALED(st)) {
        ch->signaled = WTERMSIG(st);
        FAIL(s, "%s (pid %d) died of signal %d (%s)", what, (int)ch->pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
    }
    if (!ch->eof) {
        close(ch->fd);
        ch->eof = 1;
    }
    ch->exit_code = w != 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return ch->exit_code;
}

/* Scenario 9: two workspaces given the same outbox path. Round 0: process A (workspace key A)
 * opens the outbox and enqueues; once the hub has A's first events, process B (key B) opens the
 * same path: B must be refused (SUPRSEND_E_STORAGE naming both keys). Rounds 1..: A and B open a
 * new file at the same instant (a barrier): exactly one of them is refused, whichever came
 * second. Every event the accepted one acknowledged reaches the hub once, under its own key. */
static void s9_two_workspaces(scen_t *s) {
    begin(s);
    if (!g_key2 || !g_secret2) {
        FAIL(s, "no second workspace: fault-matrix.sh passes KEY2 SECRET2 after DRIVER_SCRIPT");
        return;
    }
    enum { ROUNDS = 5, N = 100 };
    child_t ch[2];
    memset(ch, 0, sizeof ch);
    const char *keys[2] = {g_key, g_key2}, *secrets[2] = {g_secret, g_secret2}, *names[2] = {"A", "B"};
    for (int i = 0; i < 2; i++) {
        char sfx[8];
        snprintf(sfx, sizeof sfx, "-%s", names[i]);
        ch[i].run = add_run(s, sfx, ROUNDS * N);
        ch[i].run->workspace = keys[i];
        ch[i].key = keys[i];
        ch[i].secret = secrets[i];
    }
    int refusals[2] = {0, 0}, noted = 0;
    double t0 = now_s();
    for (int r = 0; r < ROUNDS && !s->fail; r++) {
        char outbox[4200];
        snprintf(outbox, sizeof outbox, "%s.%d", s->outbox, r);
        params_t pp = {.mode = "produce", .first = (long)r * N, .count = N, .timeout_ms = 1000, .flush_ms = 20000,
                       .close_ms = 5000, .sleep_us = r == 0 ? 5000 : 1000, .seconds = 20};
        int spawned = 0;
        if (r == 0) {
            /* A first; B once A has 30 acknowledged events and its worker is delivering them */
            if (spawn(&ch[0], outbox, &pp, -1) < 0) {
                FAIL(s, "fork failed");
                break;
            }
            spawned = 1;
            pump(&ch[0], 1, now_s() + 15, 30);
            if (ch[0].acks < 30)
                FAIL(s, "round 0: A acknowledged only %ld events before B was started%s%s", ch[0].acks,
                     ch[0].extra[0] ? ": " : "", ch[0].extra);
            if (spawn(&ch[1], outbox, &pp, -1) >= 0) spawned = 2;
        } else {
            int barrier[2];
            if (pipe2(barrier, O_CLOEXEC) != 0) {
                FAIL(s, "pipe: %s", strerror(errno));
                break;
            }
            for (int i = 0; i < 2; i++)
                if (spawn(&ch[i], outbox, &pp, barrier[0]) >= 0) spawned++;
            close(barrier[0]);
            close(barrier[1]);   /* both start now */
        }
        if (spawned < 2) {
            FAIL(s, "fork failed");
            if (spawned) wait_child(s, &ch[0], "A", now_s() + 30);
            break;
        }
        pump(ch, 2, now_s() + 40, 0);
        int opened = 0;
        for (int i = 0; i < 2; i++) {
            char what[64];
            snprintf(what, sizeof what, "round %d %s (workspace %s)", r, names[i], keys[i]);
            int code = wait_child(s, &ch[i], what, now_s() + 10);
            if (ch[i].open_failed) {
                refusals[i]++;
                if (!noted++) note(s, "round %d: %s refused: %s: %s", r, names[i],
                                   suprsend_status_name(ch[i].open_status), ch[i].open_msg);
                if (ch[i].open_status != SUPRSEND_E_STORAGE)
                    FAIL(s, "%s: client_new returned %s, expected SUPRSEND_E_STORAGE: %s", what,
                         suprsend_status_name(ch[i].open_status), ch[i].open_msg);
                else if (!strstr(ch[i].open_msg, keys[0]) || !strstr(ch[i].open_msg, keys[1]))
                    FAIL(s, "%s: the refusal does not name both workspace keys: %s", what, ch[i].open_msg);
                if (r == 0 && i == 0) FAIL(s, "%s: A opened the outbox first and was refused", what);
                continue;
            }
            opened++;
            if (code != 0) FAIL(s, "%s exited with status %d: %s", what, code, ch[i].extra);
            judge_final(s, &ch[i], what, 20000);
            if (ch[i].got_error)
                FAIL(s, "%s: an enqueue failed: %s: %s", what, suprsend_status_name(ch[i].error_status),
                     ch[i].error_msg);
        }
        if (opened == 2)
            FAIL(s, "round %d%s: both clients opened the outbox, one file for two workspaces (A %ld, B %ld "
                    "acknowledged; fates refused by the hub: A %ld, B %ld)", r, r == 0 ? " (A first)" : " (at once)",
                 ch[0].acks, ch[1].acks, ch[0].http, ch[1].http);
        else if (opened == 0)
            FAIL(s, "round %d: neither client could open the outbox (A: %s; B: %s)", r, ch[0].open_msg, ch[1].open_msg);
    }
    note(s, "%d rounds (A first, then 4 at once) in %.1f s: A refused %d times, B %d times", ROUNDS, now_s() - t0,
         refusals[0], refusals[1]);
    judge(s);
    jval *stats = hub_get_json("/_hub/stats");
    double rejected = jkey_num(stats, "rejected", 0);
    if (rejected > 0) {
        jval *by = jget(stats, "rejected_by_reason");
        FAIL(s, "the hub refused %.0f events (env_mismatch: %.0f: an event sent under the other workspace's key)",
             rejected, jkey_num(by, "env_mismatch", 0));
    }
    jfree(stats);
}

/* Fills the file system of `path`'s directory: writes `path` until ENOSPC, then gives back
 * `leave` bytes. Returns the bytes free afterwards (statvfs), -1 on error (errno). */
static long long fill_disk(const char *path, long long leave) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    static char chunk[65536];
    memset(chunk, 0xa5, sizeof chunk);
    long long total = 0;
    for (;;) {
        ssize_t w = write(fd, chunk, sizeof chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        total += w;
    }
    if (errno != ENOSPC && errno != EFBIG) {
        close(fd);
        return -1;
    }
    if (ftruncate(fd, total > leave ? total - leave : 0) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    struct statvfs vs;
    if (statvfs(path, &vs) != 0) return -1;
    return (long long)vs.f_bavail * (long long)vs.f_frsize;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Fates reported more than once for one insert_id in one process. */
static long repeated_fates(child_t *ch) {
    qsort(ch->fates, (size_t)ch->nfates, sizeof(char *), cmp_str);
    long rep = 0;
    for (long i = 1; i < ch->nfates; i++)
        if (!strcmp(ch->fates[i], ch->fates[i - 1])) rep++;
    return rep;
}

/* insert_ids with a fate in both processes (both lists sorted). */
static long common_fates(const child_t *a, const child_t *b) {
    long i = 0, j = 0, n = 0;
    while (i < a->nfates && j < b->nfates) {
        int c = strcmp(a->fates[i], b->fates[j]);
        if (c == 0) {
            n++;
            i++;
            j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    return n;
}

static void copy_file(const char *from, const char *to) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char buf[65536];
    ssize_t n;
    while (out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write_all(out, buf, (size_t)n) != 0) break;
    close(in);
    if (out >= 0) close(out);
}

/* Scenario 10: kill -9 while the disk is full. The outbox on a small tmpfs, filled (but for
 * FREE bytes) by another file; a producer enqueues while the hub delivers (every request 300 ms)
 * until an enqueue fails (the disk is full), stays alive on the full disk for HOLD_MS (the
 * requests in flight end, and the removal of what they delivered fails) and is killed with
 * SIGKILL; the other file is deleted (space freed) and a new process opens the outbox and
 * flushes. Every acknowledged event reaches the hub once; none gets two fates in one process; the
 * new client opens the file (not damaged) and is done within a lease (min(2 x timeout + 5 s,
 * 120 s)) and 5 s of the kill: the dead producer's claims were all made before the disk filled. */
static void s10_full_disk_kill(scen_t *s) {
    enum { TIMEOUT_MS = 1000, FREE = 512 * 1024, HOLD_MS = 1000 };
    begin(s);
    char dir[3072], filler[3200];
    snprintf(dir, sizeof dir, "%s/s%s/disk", g_work, s->id);
    mkdir(dir, 0755);
    if (mount("suprsend-fault-matrix", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4m,mode=0755") != 0) {
        int e = errno;
        s->skip = 1;
        note(s, "SKIP: cannot mount a tmpfs on %s: %s%s", dir, strerror(e), geteuid() != 0 ? " (not root)" : "");
        return;
    }
    snprintf(s->outbox, sizeof s->outbox, "%s/outbox.db", dir);
    snprintf(filler, sizeof filler, "%s/filler", dir);
    child_t prod, drain;
    memset(&prod, 0, sizeof prod);
    memset(&drain, 0, sizeof drain);
    prod.run = drain.run = add_run(s, "", 20000);
    long long lease_ms = 2LL * TIMEOUT_MS + 5000 < 120000 ? 2LL * TIMEOUT_MS + 5000 : 120000;
    long long free_bytes = fill_disk(filler, FREE);
    if (free_bytes < 0) {
        FAIL(s, "could not fill the tmpfs: %s", strerror(errno));
        goto out;
    }
    note(s, "tmpfs of 4 MiB, %lld KiB left free", free_bytes / 1024);
    hub_faults("{\"rate\": {\"delay\": 1.0}, \"delay_ms\": 300}");
    params_t pp = {.mode = "produce", .count = 20000, .timeout_ms = TIMEOUT_MS, .flush_ms = -2, .close_ms = 0,
                   .sleep_us = 20000, .pad = 600, .seconds = 30, .hold_s = 60, .report_fates = 1};
    if (spawn(&prod, s->outbox, &pp, -1) < 0) {
        FAIL(s, "fork failed");
        goto out;
    }
    double t0 = now_s();
    while (!prod.got_error && !prod.eof && now_s() < t0 + 35) pump(&prod, 1, now_s() + 0.2, 0);
    double t_full = now_s();
    if (!prod.got_error) {
        FAIL(s, "the disk never filled: no enqueue failed in %.0f s (%ld acknowledged)%s%s", t_full - t0, prod.acks,
             prod.extra[0] ? ": " : "", prod.extra);
        kill(prod.pid, SIGKILL);
        reap(s, &prod, "the producer", 1, now_s() + 5);
        goto out;
    }
    long accepted_at_full = hub_stat("accepted");
    note(s, "enqueue #%ld failed after %.1f s, %ld events at the hub then: %s: %s", prod.acks + 1, t_full - t0,
         accepted_at_full, suprsend_status_name(prod.error_status), prod.error_msg);
    if (prod.error_status != SUPRSEND_E_STORAGE && prod.error_status != SUPRSEND_E_QUEUE_FULL)
        FAIL(s, "the failing enqueue returned %s, expected SUPRSEND_E_STORAGE or SUPRSEND_E_QUEUE_FULL",
             suprsend_status_name(prod.error_status));
    if (!strstr(prod.error_msg, s->outbox)) FAIL(s, "the message does not name the outbox's path");
    if (accepted_at_full <= 0)
        FAIL(s, "the hub had processed nothing when the disk filled: the scenario did not fill it while delivering");
    /* alive on the full disk a moment: its requests in flight end, the removal of what they
     * delivered fails (it has their fates; the file still holds them) */
    while (!prod.eof && now_s() < t_full + (double)HOLD_MS / 1000) pump(&prod, 1, now_s() + 0.1, 0);
    long long inflight = -1;
    jval *v = hub_get_json("/_hub/inflight");
    if (v) inflight = (long long)jkey_num(v, "active", -1);
    jfree(v);
    long requests_at_kill = hub_stat("requests");
    kill(prod.pid, SIGKILL);
    double t_kill = now_s();
    pump(&prod, 1, now_s() + 5, 0);
    reap(s, &prod, "the producer", 1, now_s() + 5);
    if (prod.signaled != SIGKILL) FAIL(s, "the producer was not killed on the full disk (it ended by itself)");
    note(s, "producer SIGKILLed %.1f s after the disk filled: %ld acknowledged, %ld fates reported (%ld not "
            "delivered), %ld hub requests, %lld in flight", t_kill - t_full, prod.acks, prod.nfates, prod.fates_not_ok,
         requests_at_kill, inflight);
    char tag[256];
    snprintf(tag, sizeof tag, "%s-produce", prod.run->name);
    storage_spin_note(s, tag);

    /* space freed; a new process opens the outbox and flushes */
    if (unlink(filler) != 0) FAIL(s, "could not delete %s: %s", filler, strerror(errno));
    hub_faults("{\"script\": []}");
    params_t pd = {.mode = "drain", .timeout_ms = TIMEOUT_MS, .flush_ms = 60000, .close_ms = 5000, .report_fates = 1};
    spawn(&drain, s->outbox, &pd, -1);
    pump(&drain, 1, now_s() + 75, 0);
    reap(s, &drain, "the drainer", 0, now_s() + 10);
    double drained = now_s() - t_kill;
    if (drain.open_failed) {
        FAIL(s, "the outbox is damaged: a new client could not open it: %s: %s",
             suprsend_status_name(drain.open_status), drain.open_msg);
    } else {
        note(s, "drained %.1f s after the kill", drained);
        judge_final(s, &drain, "the drainer", 60000);
        if (drain.got_final && drain.flush_rc == SUPRSEND_OK && drained > (double)lease_ms / 1000 + 5)
            FAIL(s, "the drainer was done only %.1f s after the kill: the dead producer's events waited longer than a "
                    "lease, min(2 x timeout + 5 s, 120 s) = %.0f s", drained, (double)lease_ms / 1000);
    }
    long rp = repeated_fates(&prod), rd = repeated_fates(&drain), both = common_fates(&prod, &drain);
    if (rp) FAIL(s, "%ld events got two fates in the producer (sent again by the client that had delivered them)", rp);
    if (rd) FAIL(s, "%ld events got two fates in the drainer", rd);
    if (both)
        note(s, "%ld events had a fate in the producer before it was killed and another in the drainer (delivered, "
                "their removal failed on the full disk, so the file still held them)", both);
    judge(s);
out:
    if (s->fail) {   /* keep the outbox for a look: the tmpfs goes */
        char from[4200], to[3300];
        const char *sfx[3] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(from, sizeof from, "%s%s", s->outbox, sfx[i]);
            snprintf(to, sizeof to, "%s/../outbox-kept.db%s", dir, sfx[i]);
            copy_file(from, to);
        }
    }
    if (umount2(dir, MNT_DETACH) != 0) note(s, "umount %s: %s", dir, strerror(errno));
}

static unsigned char *read_whole(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    unsigned char *buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return buf;
}

static unsigned be32(const unsigned char *p) {
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | (unsigned)p[3];
}

/* Overwrites `count` b-tree leaf pages of an SQLite file (not page 1, none on the freelist:
 * pages in use, holding rows) with garbage. Returns 0 with their numbers in pages[]. */
static int damage_pages(const char *path, int count, long *pages, char *why, size_t whylen) {
    size_t len = 0;
    unsigned char *buf = read_whole(path, &len);
    if (!buf || len < 512 || memcmp(buf, "SQLite format 3", 16) != 0) {
        snprintf(why, whylen, "%s is not an SQLite file", path);
        free(buf);
        return -1;
    }
    size_t psize = (size_t)buf[16] << 8 | buf[17];
    if (psize == 1) psize = 65536;
    long npages = (long)(len / psize);
    unsigned char *is_free = calloc((size_t)npages + 1, 1);
    long *leaves = xmalloc(sizeof(long) * ((size_t)npages + 1));
    if (!is_free) exit(3);
    unsigned trunk = be32(buf + 32);
    for (long steps = 0; trunk > 0 && trunk <= (unsigned)npages && steps < npages; steps++) {
        const unsigned char *p = buf + (size_t)(trunk - 1) * psize;
        is_free[trunk] = 1;
        unsigned n = be32(p + 4);
        for (unsigned k = 0; k < n && 8 + 4 * (size_t)k + 4 <= psize; k++) {
            unsigned leaf = be32(p + 8 + 4 * (size_t)k);
            if (leaf <= (unsigned)npages) is_free[leaf] = 1;
        }
        trunk = be32(p);
    }
    long nleaves = 0;
    for (long pg = 2; pg <= npages; pg++) {
        unsigned char type = buf[(size_t)(pg - 1) * psize];
        if (!is_free[pg] && (type == 0x0d || type == 0x0a)) leaves[nleaves++] = pg;
    }
    int rc = 0;
    if (nleaves < count) {
        snprintf(why, whylen, "%s has %ld leaf pages in use, fewer than %d", path, nleaves, count);
        rc = -1;
    } else {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        unsigned long long x = 0x9e3779b97f4a7c15ULL;
        unsigned char *garbage = xmalloc(psize);
        for (int i = 0; i < count && fd >= 0; i++) {
            pages[i] = leaves[(size_t)(i + 1) * (size_t)nleaves / (size_t)(count + 1)];
            for (size_t b = 0; b < psize; b++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                garbage[b] = (unsigned char)x;
            }
            if (pwrite(fd, garbage, psize, (off_t)(pages[i] - 1) * (off_t)psize) != (ssize_t)psize) {
                snprintf(why, whylen, "pwrite %s: %s", path, strerror(errno));
                rc = -1;
                break;
            }
        }
        if (fd < 0) {
            snprintf(why, whylen, "open %s: %s", path, strerror(errno));
            rc = -1;
        } else {
            fsync(fd);
            close(fd);
        }
        free(garbage);
    }
    free(buf);
    free(is_free);
    free(leaves);
    return rc;
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Scenario 11: a corrupt file. An outbox with 300 waiting events (the hub answering 503), closed;
 * three of its pages overwritten with garbage; a new client (twice, each in a new process) is
 * refused with SUPRSEND_E_STORAGE, "damaged" and the path, and the file is left byte for byte
 * as it was. Nothing crashes or hangs. The events stay in the file ("lost" does not apply). */
static void s11_corrupt(scen_t *s) {
    enum { N = 300 };
    begin(s);
    s->no_lost = 1;
    child_t prod, opener;
    memset(&prod, 0, sizeof prod);
    memset(&opener, 0, sizeof opener);
    prod.run = opener.run = add_run(s, "", N);
    hub_faults("{\"rate\": {\"status_503\": 1.0}, \"seed\": 1}");
    params_t pp = {.mode = "produce", .count = N, .timeout_ms = 1000, .flush_ms = -2, .close_ms = 0, .pad = 600,
                   .seconds = 20};
    if (spawn(&prod, s->outbox, &pp, -1) < 0) {
        FAIL(s, "fork failed");
        return;
    }
    pump(&prod, 1, now_s() + 30, 0);
    reap(s, &prod, "the producer", 0, now_s() + 10);
    hub_faults("{\"script\": []}");
    if (prod.acks != N || prod.got_error) {
        FAIL(s, "the producer acknowledged %ld of %d events%s%s", prod.acks, N, prod.got_error ? ": " : "",
             prod.error_msg);
        return;
    }
    char wal[4200], shm[4200], journal[4200];
    snprintf(wal, sizeof wal, "%s-wal", s->outbox);
    snprintf(shm, sizeof shm, "%s-shm", s->outbox);
    snprintf(journal, sizeof journal, "%s-journal", s->outbox);
    if (file_size(wal) > 0) {
        /* the pages to damage must be the file's own, not newer copies in a WAL */
        note(s, "the closed outbox left a %lld-byte WAL: checkpointed with sqlite3 first", file_size(wal));
        sqlite3 *db = NULL;
        if (sqlite3_open_v2(s->outbox, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)
            FAIL(s, "could not checkpoint the WAL: %s", db ? sqlite3_errmsg(db) : "open failed");
        sqlite3_close(db);
    }
    long pages[3];
    char why[4400];
    if (damage_pages(s->outbox, 3, pages, why, sizeof why) != 0) {
        FAIL(s, "could not damage the outbox: %s", why);
        return;
    }
    size_t before_len = 0;
    unsigned char *before = read_whole(s->outbox, &before_len);
    int had_wal = file_size(wal) >= 0, had_shm = file_size(shm) >= 0;
    size_t psize = before_len > 17 ? ((size_t)before[16] << 8 | before[17]) : 4096;
    if (psize == 1) psize = 65536;
    if (psize == 0) psize = 4096;
    note(s, "%d events waiting; pages %ld, %ld, %ld of %zu overwritten", N, pages[0], pages[1], pages[2],
         before_len / psize);
    for (int attempt = 1; attempt <= 2; attempt++) {
        char what[64];
        snprintf(what, sizeof what, "new client %d", attempt);
        params_t po = {.mode = "drain", .timeout_ms = 1000, .flush_ms = 3000, .close_ms = 1000};
        double t0 = now_s();
        if (spawn(&opener, s->outbox, &po, -1) < 0) {
            FAIL(s, "fork failed");
            break;
        }
        pump(&opener, 1, now_s() + 30, 0);
        wait_child(s, &opener, what, now_s() + 10);
        double took = now_s() - t0;
        if (!opener.open_failed) {
            FAIL(s, "%s opened the damaged outbox (client_new OK; flush %s, close %s, %ld delivered, %ld other fates)",
                 what, opener.got_final ? suprsend_status_name((int)opener.flush_rc) : "-",
                 opener.got_final ? suprsend_status_name((int)opener.close_rc) : "-", opener.ok,
                 opener.http + opener.timeout + opener.closed + opener.other);
        } else {
            if (attempt == 1)
                note(s, "refused in %.2f s: %s: %s", took, suprsend_status_name(opener.open_status), opener.open_msg);
            if (opener.open_status != SUPRSEND_E_STORAGE)
                FAIL(s, "%s: client_new returned %s, expected SUPRSEND_E_STORAGE", what,
                     suprsend_status_name(opener.open_status));
            if (!strstr(opener.open_msg, "damaged")) FAIL(s, "%s: the message does not say \"damaged\"", what);
            if (!strstr(opener.open_msg, s->outbox)) FAIL(s, "%s: the message does not name the path", what);
        }
        size_t after_len = 0;
        unsigned char *after = read_whole(s->outbox, &after_len);
        if (!after) {
            FAIL(s, "after %s the outbox file is gone: %s", what, strerror(errno));
        } else if (after_len != before_len || memcmp(before, after, before_len) != 0) {
            size_t at = 0;
            while (at < before_len && at < after_len && before[at] == after[at]) at++;
            FAIL(s, "after %s the file changed: %zu bytes, now %zu; the first difference at byte %zu (page %zu)", what,
                 before_len, after_len, at, at / psize + 1);
        }
        free(after);
        if (!had_wal && file_size(wal) >= 0) note(s, "after %s a %lld-byte -wal beside it", what, file_size(wal));
        if (!had_shm && file_size(shm) >= 0) note(s, "after %s a -shm beside it", what);
        if (file_size(journal) >= 0) note(s, "after %s a %lld-byte -journal beside it", what, file_size(journal));
    }
    free(before);
    /* the columns: the events in the damaged file, and what of them reached the hub */
    judge(s);
}

/* Starts the lock holder (this program again, with --locker) on fd 3 of a pipe read like a child's. */
static pid_t spawn_locker(child_t *ch, const char *outbox, long hold_ms) {
    int fds[2];
    memset(ch->buf, 0, sizeof ch->buf);
    ch->len = 0;
    ch->eof = 0;
    ch->extra[0] = 0;
    ch->locked_at = ch->unlocked_at = 0;
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    char ms[32];
    snprintf(ms, sizeof ms, "%ld", hold_ms);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (fds[1] != 3) dup2(fds[1], 3);
        fcntl(3, F_SETFD, 0);
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) _exit(126);
        exe[n] = 0;
        execl(exe, exe, "--locker", outbox, ms, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    ch->pid = pid;
    ch->fd = fds[0];
    return pid;
}

/* Scenario 12: a locked file. Two processes enqueue (one event each 20 ms, 9 s); once both
 * have written, another process holds a write transaction on the outbox for 5 s (SQLite's
 * BEGIN IMMEDIATE). No enqueue may block for more than 1 s (the busy timeout is 200 ms by
 * default); those refused answer SUPRSEND_E_STORAGE ("busy"); every acknowledged event is
 * delivered once after the lock ends. */
static void s12_locked(scen_t *s) {
    enum { P = 2, HOLD_MS = 5000, LIMIT_MS = 1000 };
    begin(s);
    child_t ch[P + 1];
    memset(ch, 0, sizeof ch);
    for (int i = 0; i < P; i++) {
        char sfx[16];
        snprintf(sfx, sizeof sfx, "-p%d", i);
        ch[i].run = add_run(s, sfx, 100000);
        params_t pp = {.mode = "produce", .count = 100000, .timeout_ms = 1000, .flush_ms = 30000, .close_ms = 5000,
                       .sleep_us = 20000, .seconds = 9, .keep_going = 1};
        if (spawn(&ch[i], s->outbox, &pp, -1) < 0) {
            FAIL(s, "fork failed");
            return;
        }
    }
    double t0 = now_s();
    while ((ch[0].acks < 20 || ch[1].acks < 20) && !(ch[0].eof && ch[1].eof) && now_s() < t0 + 15)
        pump(ch, P, now_s() + 0.2, 0);
    if (ch[0].acks < 20 || ch[1].acks < 20)
        FAIL(s, "the producers acknowledged %ld and %ld events before the lock", ch[0].acks, ch[1].acks);
    ch[P].run = ch[0].run;
    if (spawn_locker(&ch[P], s->outbox, HOLD_MS) < 0) FAIL(s, "fork failed");
    long acks_before = ch[0].acks + ch[1].acks;
    pump(ch, P + 1, now_s() + 70, 0);
    int lcode = wait_child(s, &ch[P], "the lock holder", now_s() + 10);
    if (!ch[P].locked_at)
        FAIL(s, "the lock holder did not take the write lock (exit status %d): %s", lcode, ch[P].extra);
    else
        note(s, "write lock held %.1f s, from %.1f s after the producers started (%ld acknowledged before)",
             (ch[P].unlocked_at ? ch[P].unlocked_at : now_s()) - ch[P].locked_at, ch[P].locked_at - t0, acks_before);
    double longest = 0;
    long refused = 0, busy = 0, other = 0;
    for (int i = 0; i < P; i++) {
        char what[32];
        snprintf(what, sizeof what, "process %d", i);
        reap(s, &ch[i], what, 0, now_s() + 10);
        judge_final(s, &ch[i], what, 30000);
        if (!ch[i].got_calls) {
            FAIL(s, "%s did not report its enqueue calls", what);
            continue;
        }
        note(s, "%s: %ld acknowledged, %ld refused (%ld \"busy\"), the longest enqueue %.0f ms (n=%ld)", what,
             ch[i].acks, ch[i].refused, ch[i].refused_busy, ch[i].longest_ms, ch[i].longest_n);
        if (ch[i].longest_ms > longest) longest = ch[i].longest_ms;
        refused += ch[i].refused;
        busy += ch[i].refused_busy;
        other += ch[i].refused_other;
    }
    if (ch[0].got_error) note(s, "the first refusal: %s: %s", suprsend_status_name(ch[0].error_status), ch[0].error_msg);
    note(s, "longest enqueue call: %.0f ms; %ld refused in all, %ld of them \"busy\"", longest, refused, busy);
    if (longest > LIMIT_MS)
        FAIL(s, "an enqueue blocked for %.0f ms while another process held the write lock (at most %d ms expected: the "
                "busy timeout, 200 ms by default)", longest, LIMIT_MS);
    if (other) FAIL(s, "%ld refused enqueues answered other than SUPRSEND_E_STORAGE \"busy\"", other);
    if (ch[P].locked_at && refused == 0)
        FAIL(s, "no enqueue was refused while the write lock was held %.0f s", (double)HOLD_MS / 1000);
    judge(s);
}

/* =======================================================================================
 * main
 * ===================================================================================== */

typedef struct {
    const char *id, *title;
    void (*fn)(scen_t *);
} entry_t;

static const entry_t SCENARIOS[] = {
    {"1", "503 bursts", s1_503},
    {"2", "429 with Retry-After: 1", s2_429},
    {"3", "drops before/after processing", s3_drops},
    {"4", "stall 2.5 s, timeout 1 s", s4_stall},
    {"5", "hub down 30 s, restarted", s5_outage},
    {"6", "producer SIGKILLed, new drainer", s6_sigkill},
    {"7", "4 processes, 1 outbox, random", s7_shared},
    {"7b", "4 processes open 1 new outbox", s7b_open_race},
    {"8", "full disk (RLIMIT_FSIZE)", s8_fsize},
    {"8b", "full outbox (outbox_max_bytes)", s8b_maxbytes},
    {"8c", "full disk while delivering", s8c_fsize_delivering},
    {"9", "2 workspaces, 1 outbox path", s9_two_workspaces},
    {"10", "kill -9 while the disk is full", s10_full_disk_kill},
    {"11", "corrupt file (3 pages)", s11_corrupt},
    {"12", "write lock held 5 s", s12_locked},
};
#define NSCEN ((int)(sizeof SCENARIOS / sizeof SCENARIOS[0]))

static int selected(const char *id) {
    const char *only = getenv("FAULT_MATRIX_ONLY");
    if (!only || !*only) return 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", only);
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (!strcmp(t, id)) return 1;
    return 0;
}

static void stop_own_hub(void) {
    if (g_own_hub > 0) {
        kill(g_own_hub, SIGTERM);
        double end = now_s() + 10;
        while (waitpid(g_own_hub, NULL, WNOHANG) == 0 && now_s() < end) sleep_ms(20);
        g_own_hub = -1;
    }
}

static void on_term(int sig) {
    (void)sig;
    if (g_own_hub > 0) kill(g_own_hub, SIGTERM);
    _exit(130);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (getenv("FAULT_MATRIX_LOG_LEVEL")) g_loglevel = atoi(getenv("FAULT_MATRIX_LOG_LEVEL"));
    memset(g_pad, 'x', sizeof g_pad - 1);
    if (argc > 1 && !strcmp(argv[1], "--child")) {
        if (argc != CHILD_ARGC) return 2;
        g_base_url = argv[2];
        g_key = argv[3];
        g_secret = argv[4];
        g_work = argv[5];
        return child_main(argc, argv);
    }
    if (argc == 4 && !strcmp(argv[1], "--locker")) return locker_main(argv[2], atol(argv[3]));
    if (argc < 6) {
        fprintf(stderr, "usage: %s BASE_URL KEY SECRET WORKDIR DRIVER_SCRIPT [KEY2 SECRET2]\n", argv[0]);
        return 2;
    }
    if (argc >= 8) {
        g_key2 = argv[6];
        g_secret2 = argv[7];
    }
    g_base_url = argv[1];
    g_key = argv[2];
    g_secret = argv[3];
    g_work = argv[4];
    g_script = argv[5];
    const char *colon = strrchr(g_base_url, ':');
    g_port_num = colon ? atoi(colon + 1) : 0;
    if (g_port_num <= 0) {
        fprintf(stderr, "fault_matrix: no port in %s\n", g_base_url);
        return 2;
    }
    /* the control API (hub_client.h): the hub on the loopback, requests bounded to 30 s */
    snprintf(g_host, sizeof g_host, "127.0.0.1");
    snprintf(g_port, sizeof g_port, "%d", g_port_num);
    g_hub_timeout_s = 30;
    signal(SIGINT, on_term);
    signal(SIGTERM, on_term);
    char logs[4096];
    snprintf(logs, sizeof logs, "%s/logs", g_work);
    mkdir(logs, 0755);
    if (hub_request("GET", "/_hub/health", NULL, NULL) != 200) {
        fprintf(stderr, "fault_matrix: the hub at 127.0.0.1:%d does not answer\n", g_port_num);
        return 2;
    }

    static scen_t results[32];
    int nres = 0;
    for (int i = 0; i < NSCEN; i++) {
        if (!selected(SCENARIOS[i].id)) continue;
        scen_t *s = &results[nres++];
        s->id = SCENARIOS[i].id;
        s->title = SCENARIOS[i].title;
        s->ran = 1;
        double t0 = now_s();
        fprintf(stderr, "fault_matrix: scenario %s (%s)...\n", s->id, s->title);
        SCENARIOS[i].fn(s);
        note(s, "%.1f s", now_s() - t0);
        fprintf(stderr, "fault_matrix: scenario %s %s in %.1f s\n", s->id,
                s->fail ? "FAILED" : s->skip ? "skipped" : "passed", now_s() - t0);
        if (hub_request("GET", "/_hub/health", NULL, NULL) != 200 && hub_start() != 0) {
            fprintf(stderr, "fault_matrix: the hub is gone and could not be started again\n");
            break;
        }
    }
    stop_own_hub();

    int passed = 0, failed = 0, skipped = 0;
    printf("\n%-3s %-32s | %12s | %9s | %15s | %4s | %s\n", "#", "scenario", "acknowledged", "delivered",
           "delivered twice", "lost", "result");
    printf("----------------------------------------------------------------------------------------------------\n");
    for (int i = 0; i < nres; i++) {
        scen_t *s = &results[i];
        char lost[32];
        snprintf(lost, sizeof lost, s->no_lost ? "-" : "%ld", s->lost);
        printf("%-3s %-32s | %12ld | %9ld | %15ld | %4s | %s\n", s->id, s->title, s->acked, s->delivered, s->twice,
               lost, s->fail ? "FAIL" : s->skip ? "SKIP" : "pass");
        if (s->fail) failed++;
        else if (s->skip) skipped++;
        else passed++;
    }
    printf("\nnotes:\n");
    for (int i = 0; i < nres; i++) printf("  %s: %s\n", results[i].id, results[i].notes);
    if (skipped)
        printf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("\n%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}
