/*
 * test_outbox.c: tests of the durable outbox's integrity (issue 16, "Outbox integrity"): one
 * scenario per row of the table ("what was done | what happened" before the fix).
 *
 *   workspaces          two clients of different workspaces given the same outbox path, in one
 *                       process: the second is refused (naming both keys); A's events are all
 *                       delivered, signed with A's key; a client of the same workspace shares it
 *   workspaces-2proc    the same with the second client in another (forked) process
 *   private-files       a new outbox and its -wal/-shm are 0600 under umask 022 (and 0)
 *   foreign-files       another application's SQLite database (several journal modes, with and
 *                       without an `events` table, user_version 0 or 2), a file that is not
 *                       SQLite, a directory, an outbox of a newer schema: refused, and the
 *                       directory left byte for byte as it was (no -wal/-shm/-journal)
 *   damaged-at-open     300 waiting events, 3 pages overwritten: refused ("damaged", the path),
 *                       the file left as it was
 *   deleted-running     the outbox unlinked under a running client: enqueue and flush return
 *                       SUPRSEND_E_STORAGE ("deleted or replaced"), close is not SUPRSEND_OK
 *   replaced-running    the same with another file renamed over the path
 *   full-disk           (root: a small tmpfs) the disk fills while events are delivered, then
 *                       16 KiB are freed, then all: exactly one fate per event, each processed
 *                       once by the hub, nothing left for the next client
 *   lease               a client killed (-9) with a batch in flight: another client sends it
 *                       when the lease ends, 7 s after the claim with timeout_ms 1000
 *   busy                another process holds a write transaction: enqueue returns
 *                       SUPRSEND_E_STORAGE ("busy") within the busy timeout (default 200 ms,
 *                       suprsend_options_set_outbox_busy_timeout_ms), nothing queued; works
 *                       again after, every accepted event delivered
 *   max-bytes           outbox_max_bytes 1 MiB, enqueued until SUPRSEND_E_QUEUE_FULL: the
 *                       database plus its -wal take at most 1 MiB, and so does the stat
 *   close-races         a shutdown thread closes while 4 threads call enqueue, track_event,
 *                       flush and stat: every call after close returns SUPRSEND_E_CLOSED (stat
 *                       SUPRSEND_OK); close again, bulk_trigger; then suprsend_client_free
 *   close-races-outbox  the same with an outbox
 *
 * Like the other C test programs it includes only <suprsend.h>, libc/POSIX headers (and
 * SQLite's own <sqlite3.h>, to build foreign databases, change user_version and hold a write
 * transaction from another process), is built with pkg-config from an installed prefix, and
 * runs against the local hub on loopback (its control API, /_hub/..., through hub_client.h).
 *
 * Each scenario runs in a process of its own (forked from this one, which never makes a client
 * itself), in a directory of its own: a crash (the use after free of a library whose close
 * frees the handle) fails that scenario, not the run. The child reports its counts through a
 * pipe, also when it dies of a signal. The parent then unmounts what the scenario mounted and
 * removes its directory.
 *
 * Usage: test_outbox [BASE_URL [WORKSPACE_KEY [WORKSPACE_SECRET]]]
 *   or the environment: SUPRSEND_TEST_BASE_URL, SUPRSEND_TEST_WORKSPACE_KEY,
 *   SUPRSEND_TEST_WORKSPACE_SECRET. A second workspace the hub knows, for the two-workspace
 *   scenarios: SUPRSEND_TEST_OTHER_WORKSPACE_KEY / _SECRET (default demo_key / demo_secret).
 *   SUPRSEND_TEST_VERBOSE=1 also prints each passing check.
 *   SUPRSEND_OUTBOX_TEST_ONLY=name[,name...] runs only those scenarios (names as printed by -l).
 *   SUPRSEND_TEST_KEEP=1 keeps the work directory. TMPDIR: where it is made (default /tmp).
 *
 * Output: one line per failed check (file:line, the expression and the values), "SKIP" notes
 * for what the machine does not allow (a tmpfs needs root), then exactly one line
 * "N passed, M failed". The exit status is 0 only when M == 0. A scenario that does not finish
 * within 90 s (a hang) is reported as a failure.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1 /* mount(2), umount2(2) */

#include <suprsend.h>

#include <sqlite3.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The check harness (CHECK..., "N passed, M failed") and the hub's control-API client with its
 * JSON parser, shared with the other C test programs. */
#include "check.h"
#include "hub_client.h"
#include "hub_control.h"

/* New with issue 16 (in <suprsend.h> once the implementation lands). Declared weak here, so
 * that this program also builds and runs against a library without it: its checks then fail. */
extern int suprsend_options_set_outbox_busy_timeout_ms(suprsend_options *opts, long ms) __attribute__((weak));

/* =======================================================================================
 * The harness: each scenario in its own process, with a watchdog
 * ===================================================================================== */

/* What a scenario's process sends its parent: its counts. */
typedef struct {
    int passed, failed;
} report;

static int g_report_fd = -1; /* in a scenario's process: where its counts go; -1 elsewhere */
static char g_dir[PATH_MAX]; /* the scenario's own directory */
static char g_base_url[512];
static char g_key[256] = "demo_key";
static char g_secret[256] = "demo_secret";
static char g_key_b[256] = "demo_key";
static char g_secret_b[256] = "demo_secret";
static char g_run[40];
static int g_skipped;

static void put_str(const char *s) {
    ssize_t w = write(STDOUT_FILENO, s, strlen(s));
    (void)w;
}

static void put_num(long v) {
    char b[24];
    int i = (int)sizeof b;
    b[--i] = '\0';
    int neg = v < 0;
    unsigned long u = neg ? 0UL - (unsigned long)v : (unsigned long)v;
    do {
        b[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u && i > 1);
    if (neg) b[--i] = '-';
    put_str(b + i);
}

/* Sends this process's counts (with `extra` more failures) to the parent, once. Async-signal
 * safe: used by the crash and watchdog handlers too. */
static void send_report(int extra) {
    if (g_report_fd < 0) return;
    report r = {g_passed, g_failed + extra};
    ssize_t w = write(g_report_fd, &r, sizeof r);
    (void)w;
    g_report_fd = -1;
}

static void on_alarm(int sig) {
    (void)sig;
    put_str("FAIL [");
    put_str(g_section);
    put_str("] the scenario did not finish within 90 s (a hang?)\n");
    send_report(1);
    _exit(1);
}

/* A crash in a scenario's process: a failure of that scenario; its counts so far still count. */
static void on_crash(int sig) {
    put_str("FAIL [");
    put_str(g_section);
    put_str("] the scenario's process died of signal ");
    put_num(sig);
    put_str(" (");
    put_str(sig == SIGSEGV ? "SIGSEGV" : sig == SIGABRT ? "SIGABRT" : sig == SIGBUS ? "SIGBUS"
            : sig == SIGILL ? "SIGILL" : sig == SIGTRAP ? "SIGTRAP" : "a crash");
    put_str(")\n");
    send_report(1);
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig);
}

static const int CRASH_SIGNALS[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGTRAP};

static void set_handlers(void (*crash)(int), void (*alarm_fn)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof CRASH_SIGNALS / sizeof *CRASH_SIGNALS; i++) {
        sa.sa_handler = crash ? crash : SIG_DFL;
        sa.sa_flags = crash ? SA_RESETHAND | SA_NODEFER : 0;
        sigaction(CRASH_SIGNALS[i], &sa, NULL);
    }
    sa.sa_handler = alarm_fn ? alarm_fn : SIG_DFL;
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, NULL);
}

/* In a process a scenario forks (a second client, a lock holder): it reports nothing to the
 * parent of the run (only its exit status to the scenario), and has its own deadline. */
static void helper_begin(int seconds) {
    g_report_fd = -1;
    set_handlers(NULL, NULL);
    alarm((unsigned)seconds);
}

static void section(const char *name) {
    g_section = name;
    alarm(90);
    if (g_verbose) printf("== %s\n", name);
}

/* dir/name into out (PATH_MAX bytes); a path that long ends the run. */
static void join(char *out, const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    if (a + 1 + b + 1 > PATH_MAX) {
        fprintf(stderr, "path too long: %s/%s\n", dir, name);
        abort();
    }
    memmove(out, dir, a);
    out[a] = '/';
    memcpy(out + a + 1, name, b + 1);
}

/* g_dir/name into out (PATH_MAX bytes). */
static void in_dir(char *out, const char *name) { join(out, g_dir, name); }

/* A check on a status code whose last error was copied earlier (err). */
static int check_rc_err(int got, int want, const char *err, const char *file, int line, const char *expr) {
    char gname[64], wname[64];
    snprintf(gname, sizeof gname, "%s", suprsend_status_name(got));
    snprintf(wname, sizeof wname, "%s", suprsend_status_name(want));
    record(got == want, file, line, "%s: got %d %s, expected %d %s (last error: \"%.400s\")", expr, got, gname, want,
           wname, err ? err : "");
    return got == want;
}
#define CHECK_RC_ERR(rc, want, err) check_rc_err((rc), (want), (err), __FILE__, __LINE__, #rc)

/* Waits for a helper process; returns its exit status, or 1000 + signal when it died of one. */
static int wait_helper(pid_t pid) {
    int st = 0;
    pid_t w;
    do {
        w = waitpid(pid, &st, 0);
    } while (w < 0 && errno == EINTR);
    if (w != pid) return -1;
    if (WIFSIGNALED(st)) return 1000 + WTERMSIG(st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* =======================================================================================
 * The hub
 * ===================================================================================== */

/* Events the hub accepted under workspace `key` whose distinct_id is "<tag>-<number>": how many,
 * and (distinct) how many different $insert_id among them. */
static long hub_count_tag(const char *key, const char *tag, long *distinct) {
    char path[512];
    snprintf(path, sizeof path, "/_hub/events?workspace=%s", key);
    jval *events = hub_get(path);
    size_t n = jlen(events), tl = strlen(tag);
    long count = 0;
    const char **ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids) abort();
    for (size_t i = 0; i < n; i++) {
        jval *e = jat(events, i);
        const char *d = jstr(jget(e, "distinct_id"));
        if (!d || strncmp(d, tag, tl) != 0 || d[tl] != '-') continue;
        char *end = NULL;
        strtol(d + tl + 1, &end, 10);
        if (!end || *end) continue;
        const char *iid = jstr(jget(e, "$insert_id"));
        ids[count++] = iid ? iid : "";
    }
    long diff = 0;
    for (long i = 0; i < count; i++) {
        long j = 0;
        while (j < i && strcmp(ids[j], ids[i]) != 0) j++;
        if (j == i) diff++;
    }
    free(ids);
    jfree(events);
    if (distinct) *distinct = diff;
    return count;
}

/* =======================================================================================
 * Fates: what the delivery callback saw
 * ===================================================================================== */

typedef struct {
    int status;
    char *distinct, *insert_id;
} fate;

typedef struct {
    pthread_mutex_t mu;
    fate *v;
    size_t n, cap;
} collector;

static void coll_init(collector *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

static void coll_free(collector *c) {
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].distinct);
        free(c->v[i].insert_id);
    }
    free(c->v);
    pthread_mutex_destroy(&c->mu);
    memset(c, 0, sizeof *c);
}

static size_t coll_count(collector *c) {
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void on_delivery(const suprsend_delivery *d, void *user) {
    collector *c = user;
    fate f;
    f.status = suprsend_delivery_status(d);
    f.distinct = xstrdup(suprsend_delivery_distinct_id(d));
    f.insert_id = xstrdup(suprsend_delivery_insert_id(d));
    pthread_mutex_lock(&c->mu);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        if (!c->v) abort();
    }
    c->v[c->n++] = f;
    pthread_mutex_unlock(&c->mu);
}

/* Over the fates of events "<tag>-<i>" for the i with want[i] != 0 (all i < n when want is
 * NULL): how many have exactly one fate (once), how many more than one (repeated), how many
 * fates were OK (ok), and fates of this tag for an i not wanted (unwanted). */
typedef struct {
    long once, repeated, ok, total, unwanted;
} fate_counts;

static fate_counts count_fates(collector *c, const char *tag, long n, const unsigned char *want) {
    fate_counts r;
    memset(&r, 0, sizeof r);
    unsigned *seen = calloc((size_t)(n > 0 ? n : 1), sizeof *seen);
    if (!seen) abort();
    size_t tl = strlen(tag);
    pthread_mutex_lock(&c->mu);
    for (size_t k = 0; k < c->n; k++) {
        fate *f = &c->v[k];
        if (strncmp(f->distinct, tag, tl) != 0 || f->distinct[tl] != '-') continue;
        char *end = NULL;
        long i = strtol(f->distinct + tl + 1, &end, 10);
        if (!end || *end) continue;
        r.total++;
        if (i < 0 || i >= n || (want && !want[i])) {
            r.unwanted++;
            continue;
        }
        seen[i]++;
        if (f->status == SUPRSEND_OK) r.ok++;
    }
    pthread_mutex_unlock(&c->mu);
    for (long i = 0; i < n; i++) {
        if (want && !want[i]) continue;
        if (seen[i] == 1) r.once++;
        if (seen[i] > 1) r.repeated++;
    }
    free(seen);
    return r;
}

/* Waits until the collector holds at least n fates (1) or timeout_ms passed (0). */
static int coll_wait(collector *c, size_t n, long timeout_ms) {
    double end = mono_ms() + (double)timeout_ms;
    do {
        if (coll_count(c) >= n) return 1;
        sleep_ms(10);
    } while (mono_ms() < end);
    return coll_count(c) >= n;
}

/* =======================================================================================
 * Library helpers
 * ===================================================================================== */

static long long stat_of(const suprsend_client *c, int which) {
    long long v = -1;
    int rc = suprsend_client_stat(c, which, &v);
    if (rc != SUPRSEND_OK) {
        printf("warning: suprsend_client_stat(%d): %s %s\n", which, suprsend_status_name(rc), suprsend_last_error());
        return -1;
    }
    return v;
}

/* A URL nobody answers on (a loopback port nobody listens on). */
static void dead_url(char *out, size_t size) { snprintf(out, size, "http://127.0.0.1:%d/", dead_port()); }

/* Options for workspace key/secret, the hub at url (NULL: the test hub), an outbox at path
 * (NULL: the memory queue), the collector (NULL: none) as callback; a short flush interval. */
static suprsend_options *opts_for(const char *key, const char *secret, const char *url, const char *path,
                                  collector *coll) {
    suprsend_options *o = suprsend_options_new(key, secret);
    if (!o || suprsend_options_set_base_url(o, url ? url : g_base_url) != SUPRSEND_OK) {
        printf("FATAL: options: %s\n", suprsend_last_error());
        send_report(1);
        _exit(1);
    }
    suprsend_options_set_connect_timeout_ms(o, 2000);
    suprsend_options_set_timeout_ms(o, 10000);
    suprsend_options_set_flush_interval_ms(o, 50);
    if (path) suprsend_options_set_outbox_path(o, path);
    if (coll) suprsend_options_set_delivery_callback(o, on_delivery, coll);
    return o;
}

/* suprsend_client_new(o), o freed; err (when not NULL, 1024 bytes) gets the last error. */
static int new_client(suprsend_options *o, suprsend_client **out, char *err) {
    *out = NULL;
    int rc = suprsend_client_new(o, out);
    if (err) snprintf(err, 1024, "%s", rc == SUPRSEND_OK ? "" : suprsend_last_error());
    suprsend_options_free(o);
    return rc;
}

/* The event "<tag>-<i>" / outbox_event, with pad bytes of padding in its properties. */
static suprsend_event *tag_event(const char *tag, long i, size_t pad) {
    char id[128];
    snprintf(id, sizeof id, "%s-%ld", tag, i);
    char *props = malloc(pad + 256);
    if (!props) abort();
    int n = snprintf(props, 256, "{\"tag\":\"%s\",\"run\":\"%s\",\"i\":%ld,\"pad\":\"", tag, g_run, i);
    memset(props + n, 'x', pad);
    memcpy(props + n + pad, "\"}", 3);
    suprsend_event *ev = suprsend_event_new(id, "outbox_event");
    if (!ev || suprsend_event_set_properties_json(ev, props) != SUPRSEND_OK)
        printf("warning: could not make event %s: %s\n", id, suprsend_last_error());
    free(props);
    return ev;
}

/* Enqueues "<tag>-<from>" .. "<tag>-<to-1>"; returns how many were accepted (the first refusal
 * is printed). */
static long enqueue_tag(suprsend_client *c, const char *tag, long from, long to, size_t pad) {
    long ok = 0;
    int first_bad = SUPRSEND_OK;
    char first_err[300] = "";
    for (long i = from; i < to; i++) {
        suprsend_event *ev = tag_event(tag, i, pad);
        int rc = suprsend_enqueue(c, ev);
        if (rc == SUPRSEND_OK) ok++;
        else if (first_bad == SUPRSEND_OK) {
            first_bad = rc;
            snprintf(first_err, sizeof first_err, "%s", suprsend_last_error());
        }
        suprsend_event_free(ev);
    }
    if (first_bad != SUPRSEND_OK)
        printf("     [%s] enqueue %s: first refusal %s: %s\n", g_section, tag, suprsend_status_name(first_bad),
               first_err);
    return ok;
}

/* One enqueue of "<tag>-<i>" (pad bytes of padding); its status, the last error copied into err (1024 bytes). */
static int enqueue_one(suprsend_client *c, const char *tag, long i, size_t pad, char *err) {
    suprsend_event *ev = tag_event(tag, i, pad);
    int rc = suprsend_enqueue(c, ev);
    snprintf(err, 1024, "%s", rc == SUPRSEND_OK ? "" : suprsend_last_error());
    suprsend_event_free(ev);
    return rc;
}

/* =======================================================================================
 * Files
 * ===================================================================================== */

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The whole file (malloc'd), its length in *len; NULL when it cannot be read. */
static unsigned char *read_all(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) abort();
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int write_all(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* What a directory holds, recursively: each entry's relative path, kind and (for a file) its
 * bytes. */
typedef struct {
    char *name;
    int is_dir;
    unsigned char *data;
    size_t len;
    mode_t mode;
} dir_entry;

typedef struct {
    dir_entry *v;
    size_t n, cap;
} dir_snapshot;

static void snap_add(dir_snapshot *s, dir_entry e) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    s->v[s->n++] = e;
}

static void snap_walk(dir_snapshot *s, const char *root, const char *rel) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char r[PATH_MAX], full[PATH_MAX];
        snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        join(full, root, r);
        struct stat st;
        if (lstat(full, &st) != 0) continue;
        dir_entry e;
        memset(&e, 0, sizeof e);
        e.name = xstrdup(r);
        e.mode = st.st_mode;
        e.is_dir = S_ISDIR(st.st_mode);
        if (S_ISREG(st.st_mode)) e.data = read_all(full, &e.len);
        snap_add(s, e);
        if (e.is_dir) snap_walk(s, root, r);
    }
    closedir(d);
}

static dir_snapshot snap_dir(const char *root) {
    dir_snapshot s;
    memset(&s, 0, sizeof s);
    snap_walk(&s, root, "");
    return s;
}

static void snap_free(dir_snapshot *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].data);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

static const dir_entry *snap_find(const dir_snapshot *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].name, name)) return &s->v[i];
    return NULL;
}

/* Compares a directory with what it held before; each difference is printed (prefixed with
 * what); returns how many there are. */
static int snap_diff(const dir_snapshot *before, const dir_snapshot *after, const char *what) {
    int diffs = 0;
    for (size_t i = 0; i < before->n; i++) {
        const dir_entry *b = &before->v[i], *a = snap_find(after, b->name);
        if (!a) {
            printf("     [%s] %s: %s is gone\n", g_section, what, b->name);
            diffs++;
        } else if (a->is_dir != b->is_dir || (a->mode & 07777) != (b->mode & 07777)) {
            printf("     [%s] %s: %s changed kind or mode (%o -> %o)\n", g_section, what, b->name, (unsigned)b->mode,
                   (unsigned)a->mode);
            diffs++;
        } else if (!b->is_dir && (a->len != b->len || (b->len && memcmp(a->data, b->data, b->len) != 0))) {
            size_t k = 0;
            while (k < a->len && k < b->len && a->data[k] == b->data[k]) k++;
            printf("     [%s] %s: %s changed (%zu bytes -> %zu, first difference at byte %zu)\n", g_section, what,
                   b->name, b->len, a->len, k);
            diffs++;
        }
    }
    for (size_t i = 0; i < after->n; i++) {
        if (!snap_find(before, after->v[i].name)) {
            printf("     [%s] %s: %s appeared (%zu bytes)\n", g_section, what, after->v[i].name, after->v[i].len);
            diffs++;
        }
    }
    return diffs;
}

/* Removes a tree (no symlinks followed). */
static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
                char sub[PATH_MAX];
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Unmounts every mount point under root (a scenario's tmpfs), deepest first. */
static void unmount_under(const char *root) {
    struct stat rs;
    if (lstat(root, &rs) != 0 || !S_ISDIR(rs.st_mode)) return;
    DIR *d = opendir(root);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", root, de->d_name);
        struct stat st;
        if (lstat(sub, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (st.st_dev != rs.st_dev) {
            if (umount2(sub, MNT_DETACH) != 0) printf("warning: umount %s: %s\n", sub, strerror(errno));
        } else {
            unmount_under(sub);
        }
    }
    closedir(d);
}

/* Runs SQL on the file at path with SQLite's C API; returns SQLITE_OK or prints why not. */
static int sql_exec(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    char *msg = NULL;
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        printf("     [%s] sqlite3 on %s: %s (%s)\n", g_section, path, msg ? msg : db ? sqlite3_errmsg(db) : "?", sql);
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
}

/* The first row of PRAGMA integrity_check on the file (malloc'd), or NULL. */
static char *sql_integrity(const char *path) {
    sqlite3 *db = NULL;
    char *out = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK) {
            int rc = sqlite3_step(st);
            if (rc == SQLITE_ROW) out = xstrdup((const char *)sqlite3_column_text(st, 0));
            else out = xstrdup(sqlite3_errmsg(db));
        } else {
            out = xstrdup(sqlite3_errmsg(db));
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
}

/* =======================================================================================
 * 1. One workspace per file: two workspaces, one process
 * ===================================================================================== */

static void test_workspaces(void) {
    section("workspaces");
    hub_reset();
    char path[PATH_MAX], err[1024];
    in_dir(path, "outbox.db");
    collector ca, cb;
    coll_init(&ca);
    coll_init(&cb);
    suprsend_client *a = NULL, *a2 = NULL, *b = NULL;
    int rc = new_client(opts_for(g_key, g_secret, NULL, path, &ca), &a, err);
    if (!CHECK_RC_ERR(rc, SUPRSEND_OK, err)) return;

    /* Another workspace, the same file: refused, naming both keys. */
    rc = new_client(opts_for(g_key_b, g_secret_b, NULL, path, &cb), &b, err);
    CHECK_RC_ERR(rc, SUPRSEND_E_STORAGE, err);
    CHECK_HAS(err, g_key);   /* the file's */
    CHECK_HAS(err, g_key_b); /* the client's */
    CHECK(b == NULL);

    /* The same workspace shares it (several clients in one process, as before). */
    rc = new_client(opts_for(g_key, g_secret, NULL, path, &ca), &a2, err);
    CHECK_RC_ERR(rc, SUPRSEND_OK, err);

    /* Before the fix B was given the file, and the two workers sent each other's events, each
     * signed with its own key: the hub refused them (env is not the key). */
    if (b) enqueue_tag(b, "wsb", 0, 200, 64);
    CHECK_INT(enqueue_tag(a, "wsa", 0, 200, 64), 200);
    if (a2) CHECK_INT(enqueue_tag(a2, "wsa2", 0, 50, 64), 50);
    CHECK_RC(suprsend_flush(a, 20000), SUPRSEND_OK);
    if (a2) CHECK_RC(suprsend_flush(a2, 20000), SUPRSEND_OK);
    if (b) suprsend_flush(b, 20000);
    coll_wait(&ca, 250, 3000);

    /* Every event of A's workspace: one fate, OK, at a client of that workspace; the hub holds
     * each once, under A's key; nothing refused; B's callback never saw them. */
    fate_counts fa = count_fates(&ca, "wsa", 200, NULL);
    CHECK_INT(fa.once, 200);
    CHECK_INT(fa.ok, 200);
    fate_counts fa2 = count_fates(&ca, "wsa2", 50, NULL);
    CHECK_INT(fa2.once, 50);
    CHECK_INT(fa2.ok, 50);
    CHECK_INT(count_fates(&cb, "wsa", 200, NULL).total, 0);
    long distinct = 0;
    CHECK_INT(hub_count_tag(g_key, "wsa", &distinct), 200);
    CHECK_INT(distinct, 200);
    CHECK_INT(hub_count_tag(g_key, "wsa2", NULL), 50);
    CHECK_INT(hub_stat("rejected"), 0);
    CHECK_INT(hub_count_tag(g_key_b, "wsa", NULL), 0);

    suprsend_client_free(a2);
    suprsend_client_free(b);
    suprsend_client_free(a);
    coll_free(&ca);
    coll_free(&cb);
}

/* =======================================================================================
 * 1b. One workspace per file: two workspaces, two processes
 * ===================================================================================== */

static void test_workspaces_2proc(void) {
    section("workspaces-2proc");
    hub_reset();
    char path[PATH_MAX], err[1024];
    in_dir(path, "outbox.db");
    int go[2];
    if (!CHECK(pipe(go) == 0)) return;

    /* The second process, forked before any client exists (it inherits none): on 'g', a
     * client of the other workspace on A's file. Exit status: a bit mask of what went wrong. */
    pid_t pid = fork();
    if (pid == 0) {
        helper_begin(40);
        close(go[1]);
        char ch = 0;
        if (read(go[0], &ch, 1) != 1 || ch != 'g') _exit(64);
        int code = 0;
        char e[1024];
        collector cb;
        coll_init(&cb);
        suprsend_client *b = NULL;
        int r = new_client(opts_for(g_key_b, g_secret_b, NULL, path, &cb), &b, e);
        if (r != SUPRSEND_E_STORAGE) code |= 1;
        if (!str_icase_find(e, g_key)) code |= 2;
        if (!str_icase_find(e, g_key_b)) code |= 4;
        if (b) {
            /* Before the fix: B's worker took A's events from the file and sent them under its key. */
            enqueue_tag(b, "w2b", 0, 200, 64);
            suprsend_flush(b, 15000);
            if (count_fates(&cb, "w2a", 1000, NULL).total > 0) code |= 8;
            suprsend_client_free(b);
        }
        if (code) printf("     [%s] second process: client_new gave %s: %s\n", g_section, suprsend_status_name(r), e);
        coll_free(&cb);
        fflush(stdout);
        _exit(code);
    }
    close(go[0]);
    if (!CHECK(pid > 0)) {
        close(go[1]);
        return;
    }
    collector ca;
    coll_init(&ca);
    suprsend_client *a = NULL;
    int rc = new_client(opts_for(g_key, g_secret, NULL, path, &ca), &a, err);
    CHECK_RC_ERR(rc, SUPRSEND_OK, err);
    if (a) CHECK_INT(enqueue_tag(a, "w2a", 0, 100, 64), 100);
    char ch = 'g';
    CHECK_INT(write(go[1], &ch, 1), 1);
    close(go[1]);
    if (!a) {
        wait_helper(pid);
        coll_free(&ca);
        return;
    }
    CHECK_INT(enqueue_tag(a, "w2a", 100, 200, 64), 100);
    CHECK_RC(suprsend_flush(a, 20000), SUPRSEND_OK);
    int code = wait_helper(pid);
    if (!CHECK_INT(code, 0)) {
        static const char *why[] = {"client_new of the other workspace did not return SUPRSEND_E_STORAGE",
                                    "its message does not name the file's key",
                                    "its message does not name the client's key",
                                    "its callback reported events of the other workspace"};
        for (int i = 0; i < 4; i++)
            if (code < 64 && (code & (1 << i))) printf("     [%s] second process: %s\n", g_section, why[i]);
        if (code >= 1000) printf("     [%s] second process: died of signal %d\n", g_section, code - 1000);
        else if (code >= 64) printf("     [%s] second process: exit status %d\n", g_section, code);
    }
    CHECK_RC(suprsend_flush(a, 20000), SUPRSEND_OK);
    coll_wait(&ca, 200, 3000);
    fate_counts fa = count_fates(&ca, "w2a", 200, NULL);
    CHECK_INT(fa.once, 200);
    CHECK_INT(fa.ok, 200);
    long distinct = 0;
    CHECK_INT(hub_count_tag(g_key, "w2a", &distinct), 200);
    CHECK_INT(distinct, 200);
    CHECK_INT(hub_stat("rejected"), 0);
    suprsend_client_free(a);
    coll_free(&ca);
}

/* =======================================================================================
 * 2. Private files
 * ===================================================================================== */

static void check_mode(const char *path, const char *file, int line) {
    struct stat st;
    int ok = stat(path, &st) == 0;
    if (!ok) {
        record(0, file, line, "%s: missing (%s)", path, strerror(errno));
        return;
    }
    record((st.st_mode & 0777) == 0600, file, line, "mode of %s: got %04o, expected 0600", path,
           (unsigned)(st.st_mode & 0777));
}
#define CHECK_MODE(path) check_mode((path), __FILE__, __LINE__)

static void private_case(mode_t mask, const char *name) {
    char path[PATH_MAX], wal[PATH_MAX + 8], shm[PATH_MAX + 8], err[1024];
    in_dir(path, name);
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(shm, sizeof shm, "%s-shm", path);
    mode_t old = umask(mask);
    suprsend_client *c = NULL;
    int rc = new_client(opts_for(g_key, g_secret, NULL, path, NULL), &c, err);
    if (!CHECK_RC_ERR(rc, SUPRSEND_OK, err)) {
        umask(old);
        return;
    }
    CHECK_INT(enqueue_tag(c, "pf", 0, 5, 16), 5);
    umask(old);
    /* While the client has the file open, the -wal and -shm are there too. */
    CHECK_MODE(path);
    CHECK_MODE(wal);
    CHECK_MODE(shm);
    CHECK_RC(suprsend_flush(c, 10000), SUPRSEND_OK);
    CHECK_MODE(path);
    suprsend_client_free(c);
}

static void test_private_files(void) {
    section("private-files");
    hub_reset();
    private_case(022, "outbox-umask022.db");
    private_case(0, "outbox-umask000.db");
}

/* =======================================================================================
 * 3. Look before you write: files that are not (our) outboxes
 * ===================================================================================== */

typedef enum { K_SQLITE, K_TEXT, K_DIR, K_NEWER } foreign_kind;

typedef struct {
    const char *name;
    foreign_kind kind;
    const char *sql; /* K_SQLITE: how the other application made its database */
} foreign_case;

#define NOTES_SQL                                                                                  \
    "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL);"                              \
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) "               \
    "INSERT INTO notes(body) SELECT 'note ' || i || ' ' || hex(randomblob(40)) FROM n;"
#define EVENTS_SQL                                                                                 \
    "CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at INTEGER NOT NULL);"        \
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) "               \
    "INSERT INTO events(kind, at) SELECT 'click ' || hex(randomblob(20)), i FROM n;"

static const foreign_case FOREIGN[] = {
    {"sqlite-delete", K_SQLITE, "PRAGMA journal_mode=DELETE;" NOTES_SQL},
    {"sqlite-wal", K_SQLITE, "PRAGMA journal_mode=WAL;" NOTES_SQL},
    {"sqlite-truncate", K_SQLITE, "PRAGMA journal_mode=TRUNCATE;" NOTES_SQL},
    {"sqlite-uv2", K_SQLITE, "PRAGMA journal_mode=DELETE;" NOTES_SQL "PRAGMA user_version=2;"},
    {"sqlite-events-delete", K_SQLITE, "PRAGMA journal_mode=DELETE;" EVENTS_SQL},
    {"sqlite-events-wal", K_SQLITE, "PRAGMA journal_mode=WAL;" EVENTS_SQL},
    {"not-sqlite", K_TEXT, NULL},
    {"directory", K_DIR, NULL},
    {"newer-schema", K_NEWER, NULL},
};

/* Makes the case's file at path (in its own directory); 0 when it is ready. */
static int make_foreign(const foreign_case *fc, const char *path) {
    switch (fc->kind) {
    case K_SQLITE:
        return sql_exec(path, fc->sql) == SQLITE_OK ? 0 : -1;
    case K_TEXT: {
        char text[8192];
        size_t n = 0;
        while (n + 64 < sizeof text)
            n += (size_t)snprintf(text + n, sizeof text - n, "line %zu: this is a log file, not a database\n", n);
        return write_all(path, text, n);
    }
    case K_DIR:
        return mkdir(path, 0700);
    case K_NEWER: {
        /* One of ours, made by the library (3 events waiting: nothing answers), then changed
         * with sqlite3 to a newer schema in rollback-journal mode. */
        char url[64], err[1024];
        dead_url(url, sizeof url);
        suprsend_options *o = opts_for(g_key, g_secret, url, path, NULL);
        suprsend_options_set_shutdown_timeout_ms(o, 0);
        suprsend_client *c = NULL;
        int rc = new_client(o, &c, err);
        if (!CHECK_RC_ERR(rc, SUPRSEND_OK, err)) return -1;
        CHECK_INT(enqueue_tag(c, "nw", 0, 3, 16), 3);
        suprsend_client_free(c);
        if (sql_exec(path, "PRAGMA user_version=99; PRAGMA journal_mode=DELETE;") != SQLITE_OK) return -1;
        char side[PATH_MAX + 8];
        snprintf(side, sizeof side, "%s-wal", path);
        if (exists(side)) printf("     [%s] note: %s is still there after journal_mode=DELETE\n", g_section, side);
        return 0;
    }
    }
    return -1;
}

static void test_foreign_files(void) {
    section("foreign-files");
    hub_reset();
    for (size_t k = 0; k < sizeof FOREIGN / sizeof *FOREIGN; k++) {
        const foreign_case *fc = &FOREIGN[k];
        char sub[PATH_MAX], path[PATH_MAX], err[1024], sect[128];
        snprintf(sect, sizeof sect, "foreign-files %s", fc->name);
        g_section = sect;
        join(sub, g_dir, fc->name);
        join(path, sub, "file.db");
        if (mkdir(sub, 0700) != 0 || make_foreign(fc, path) != 0) {
            CHECK(!"the case's file could be made");
            continue;
        }
        dir_snapshot before = snap_dir(sub);
        suprsend_client *c = NULL;
        int rc = new_client(opts_for(g_key, g_secret, NULL, path, NULL), &c, err);
        CHECK_RC_ERR(rc, SUPRSEND_E_STORAGE, err);
        if (fc->kind == K_NEWER) CHECK_HAS(err, "newer");
        if (c) {
            /* Before the fix: adopted. An event goes in, as a user would try. */
            char e2[1024];
            int r2 = enqueue_one(c, "ff", 0, 16, e2);
            if (g_verbose) printf("     enqueue into the adopted file: %s %s\n", suprsend_status_name(r2), e2);
            suprsend_flush(c, 3000);
            suprsend_client_free(c);
        }
        dir_snapshot after = snap_dir(sub);
        CHECK_INT(snap_diff(&before, &after, fc->name), 0);
        static const char *sides[] = {"-wal", "-shm", "-journal"};
        for (int i = 0; i < 3; i++) {
            char side[PATH_MAX + 16];
            snprintf(side, sizeof side, "file.db%s", sides[i]);
            int was = snap_find(&before, side) != NULL, is = snap_find(&after, side) != NULL;
            if (!was) record(!is, __FILE__, __LINE__, "no %s beside the file after client_new (found: %d)", side, is);
        }
        snap_free(&before);
        snap_free(&after);
    }
    g_section = "foreign-files";

    /* An empty (0-byte) file is a new outbox: taken, and it works. */
    char path[PATH_MAX], err[1024];
    in_dir(path, "empty.db");
    CHECK_INT(write_all(path, "", 0), 0);
    collector coll;
    coll_init(&coll);
    suprsend_client *c = NULL;
    int rc = new_client(opts_for(g_key, g_secret, NULL, path, &coll), &c, err);
    if (CHECK_RC_ERR(rc, SUPRSEND_OK, err)) {
        CHECK_INT(enqueue_tag(c, "fe", 0, 10, 16), 10);
        CHECK_RC(suprsend_flush(c, 10000), SUPRSEND_OK);
        CHECK_INT(count_fates(&coll, "fe", 10, NULL).ok, 10);
        suprsend_client_free(c);
    }
    coll_free(&coll);
}

/* =======================================================================================
 * 4. Damage at open
 * ===================================================================================== */

static void test_damaged_at_open(void) {
    section("damaged-at-open");
    hub_reset();
    char sub[PATH_MAX], path[PATH_MAX], copy[PATH_MAX], url[64], err[1024];
    in_dir(sub, "case");
    mkdir(sub, 0700);
    join(path, sub, "outbox.db");
    in_dir(copy, "copy.db");
    dead_url(url, sizeof url);

    /* 300 waiting events (nothing answers), then no client has the file open. */
    suprsend_options *o = opts_for(g_key, g_secret, url, path, NULL);
    suprsend_options_set_shutdown_timeout_ms(o, 0);
    suprsend_client *c = NULL;
    int rc = new_client(o, &c, err);
    if (!CHECK_RC_ERR(rc, SUPRSEND_OK, err)) return;
    CHECK_INT(enqueue_tag(c, "dm", 0, 300, 400), 300);
    suprsend_client_free(c);
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (exists(wal)) sql_exec(path, "PRAGMA wal_checkpoint(TRUNCATE);");

    /* 3 of its pages overwritten with garbage. */
    size_t len = 0;
    unsigned char *db = read_all(path, &len);
    long page = db && len >= 100 ? (db[16] << 8 | db[17]) : 0;
    if (page == 1) page = 65536;
    long pages = page ? (long)(len / (size_t)page) : 0;
    if (!CHECK_GE(pages, 10)) {
        free(db);
        return;
    }
    long victims[3] = {pages / 2, pages / 2 + 1, pages - 1}; /* 1-based page numbers */
    unsigned x = 0x9e3779b9u;
    for (int v = 0; v < 3; v++) {
        unsigned char *p = db + (size_t)(victims[v] - 1) * (size_t)page;
        for (long i = 0; i < page; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            p[i] = (unsigned char)x;
        }
    }
    CHECK_INT(write_all(path, db, len), 0);
    CHECK_INT(write_all(copy, db, len), 0);
    free(db);
    /* Precondition: SQLite itself finds the damage (on a copy, so the file is not touched). */
    char *ic = sql_integrity(copy);
    if (!CHECK(ic && strcmp(ic, "ok") != 0)) printf("     integrity_check of the damaged copy: %s\n", ic ? ic : "?");
    free(ic);

    dir_snapshot before = snap_dir(sub);
    collector coll;
    coll_init(&coll);
    rc = new_client(opts_for(g_key, g_secret, NULL, path, &coll), &c, err);
    CHECK_RC_ERR(rc, SUPRSEND_E_STORAGE, err);
    CHECK_HAS(err, "damaged");
    CHECK_HAS(err, path);
    if (c) {
        /* Before the fix: opened; enqueue OK, flush timed out, nothing reported. */
        char e2[1024];
        int r2 = enqueue_one(c, "dm2", 0, 16, e2);
        int r3 = suprsend_flush(c, 1000);
        if (g_verbose)
            printf("     damaged file opened: enqueue %s, flush %s, queued %lld\n", suprsend_status_name(r2),
                   suprsend_status_name(r3), stat_of(c, SUPRSEND_STAT_QUEUED));
        suprsend_client_free(c);
    }
    dir_snapshot after = snap_dir(sub);
    CHECK_INT(snap_diff(&before, &after, "damaged outbox"), 0);
    CHECK(!exists(wal));
    snap_free(&before);
    snap_free(&after);
    coll_free(&coll);
}

/* =======================================================================================
 * 5. Damage while running: the file deleted or replaced
 * ===================================================================================== */

static void damaged_running(int replace) {
    hub_reset();
    char path[PATH_MAX], other[PATH_MAX], err[1024];
    in_dir(path, "outbox.db");
    in_dir(other, "other.txt");
    const char *tag = replace ? "rp" : "dl";
    collector coll;
    coll_init(&coll);
    suprsend_client *c = NULL;
    int rc = new_client(opts_for(g_key, g_secret, NULL, path, &coll), &c, err);
    if (!CHECK_RC_ERR(rc, SUPRSEND_OK, err)) return;
    CHECK_INT(enqueue_tag(c, tag, 0, 10, 16), 10);
    CHECK_RC(suprsend_flush(c, 10000), SUPRSEND_OK);

    static const char replacement[] = "this file was renamed over the outbox; it is not one\n";
    if (replace) {
        CHECK_INT(write_all(other, replacement, sizeof replacement - 1), 0);
        CHECK_INT(rename(other, path), 0);
    } else {
        CHECK_INT(unlink(path), 0);
    }

    rc = enqueue_one(c, tag, 10, 16, err);
    CHECK_RC_ERR(rc, SUPRSEND_E_STORAGE, err);
    CHECK_HAS(err, "deleted or replaced");
    CHECK_RC(suprsend_flush(c, 3000), SUPRSEND_E_STORAGE);
    rc = suprsend_client_close(c, 2000);
    record(rc != SUPRSEND_OK, __FILE__, __LINE__, "suprsend_client_close(c, 2000): got %d %s, expected not SUPRSEND_OK",
           rc, suprsend_status_name(rc));
    /* The handle survives close (contract point 9); free releases it. Before the fix close had
     * freed it already: this is a double free. */
    suprsend_client_free(c);

    fate_counts f = count_fates(&coll, tag, 10, NULL);
    CHECK_INT(f.once, 10);
    CHECK_INT(f.ok, 10);
    CHECK_INT(count_fates(&coll, tag, 11, NULL).total, 10); /* the refused one has no fate */
    if (replace) {
        size_t len = 0;
        unsigned char *now = read_all(path, &len);
        CHECK(now && len == sizeof replacement - 1 && memcmp(now, replacement, len) == 0);
        free(now);
    }
    coll_free(&coll);
}

static void test_deleted_running(void) {
    section("deleted-running");
    damaged_running(0);
}

static void test_replaced_running(void) {
    section("replaced-running");
    damaged_running(1);
}

/* =======================================================================================
 * 6. Exactly one fate through a full disk
 * ===================================================================================== */

static void on_log(int level, const char *message, void *user) {
    (void)user;
    if (g_verbose && level >= SUPRSEND_LOG_WARNING) printf("     log %d: %.300s\n", level, message);
}

/* Fills the file system of path with a file there until it is full; returns the bytes
 * written, -1 unless the last write failed with ENOSPC. */
static long long fill_disk(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    static char block[65536];
    memset(block, 'f', sizeof block);
    static const size_t chunks[] = {65536, 4096, 512, 1};
    long long total = 0;
    int full = 0;
    for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
        for (;;) {
            ssize_t w = write(fd, block, chunks[k]);
            if (w > 0) {
                total += w;
                continue;
            }
            if (w < 0 && errno == EINTR) continue;
            full = w < 0 && errno == ENOSPC;
            break;
        }
        if (!full) break;
    }
    close(fd);
    return full ? total : -1;
}

static void test_full_disk(void) {
    section("full-disk");
    char mnt[PATH_MAX], path[PATH_MAX], filler[PATH_MAX], err[1024];
    in_dir(mnt, "mnt");
    mkdir(mnt, 0700);
    if (geteuid() != 0 || mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0700") != 0) {
        printf("SKIP [full-disk]: no tmpfs could be mounted (%s): the full-disk scenario did not run\n",
               geteuid() != 0 ? "not root" : strerror(errno));
        send_report(0);
        _exit(77); /* the parent counts it as skipped */
    }
    hub_reset();
    join(path, mnt, "outbox.db");
    join(filler, mnt, "filler");
    collector coll;
    coll_init(&coll);
    suprsend_options *o = opts_for(g_key, g_secret, NULL, path, &coll);
    suprsend_options_set_timeout_ms(o, 1000); /* a lease ends 7 s after the claim */
    suprsend_options_set_log(o, SUPRSEND_LOG_WARNING, on_log, NULL);
    suprsend_client *c = NULL;
    int rc = new_client(o, &c, err);
    if (!CHECK_RC_ERR(rc, SUPRSEND_OK, err)) return;

    /* Every request stalls at the hub until it is released: the events are claimed (leased). */
    hub_faults("{\"rate\":{\"delay\":1.0},\"delay_ms\":60000}");
    enum { N = 250 };
    unsigned char want[N + 1];
    memset(want, 1, sizeof want);
    CHECK_INT(enqueue_tag(c, "fd", 0, N, 200), N);
    CHECK(hub_wait_delayed(1, 5000));
    double t_claim = mono_ms();
    sleep_ms(300); /* more batches may be claimed */

    /* The disk fills while those events are being delivered. */
    long long filled = fill_disk(filler);
    CHECK(filled > 0);
    if (g_verbose) printf("     filler: %lld bytes\n", filled);
    rc = enqueue_one(c, "fd", N, 16, err);
    want[N] = rc == SUPRSEND_OK; /* accepted: it must have its one fate too */
    if (g_verbose) printf("     enqueue on the full disk: %s %s\n", suprsend_status_name(rc), err);

    /* The hub answers: the events are delivered, their removal from the outbox fails. */
    hub_faults("{\"script\":[]}");
    hub_release(0);
    CHECK(hub_wait_idle(5000));

    /* The lease ends (7 s after the claim); then 16 KiB are freed. Before the fix the events
     * whose removal failed were claimed again and sent a second time. */
    double wait = t_claim + 8000 - mono_ms();
    if (wait > 0) sleep_ms((long)wait);
    CHECK_INT(truncate(filler, filled > 16384 ? filled - 16384 : 0), 0);
    sleep_ms(2500);

    /* Then all of it. */
    CHECK_INT(unlink(filler), 0);
    CHECK_RC(suprsend_flush(c, 15000), SUPRSEND_OK);
    long accepted = N + want[N];
    coll_wait(&coll, (size_t)accepted, 3000);
    sleep_ms(300);
    fate_counts f = count_fates(&coll, "fd", N + 1, want);
    CHECK_INT(f.once, accepted);
    CHECK_INT(f.repeated, 0);
    CHECK_INT(f.ok, accepted);
    CHECK_INT(f.unwanted, 0);
    long distinct = 0;
    CHECK_INT(hub_count_tag(g_key, "fd", &distinct), accepted);
    CHECK_INT(distinct, accepted);
    CHECK_INT(hub_stat("duplicates"), 0);
    CHECK_INT(stat_of(c, SUPRSEND_STAT_QUEUED), 0);
    CHECK_INT(stat_of(c, SUPRSEND_STAT_DELIVERED), accepted);
    suprsend_client_free(c);

    /* Nothing is left in the file for the next client to send again. */
    collector c2coll;
    coll_init(&c2coll);
    suprsend_client *c2 = NULL;
    rc = new_client(opts_for(g_key, g_secret, NULL, path, &c2coll), &c2, err);
    if (CHECK_RC_ERR(rc, SUPRSEND_OK, err)) {
        CHECK_INT(stat_of(c2, SUPRSEND_STAT_QUEUED), 0);
        CHECK_RC(suprsend_flush(c2, 5000), SUPRSEND_OK);
        sleep_ms(300);
        CHECK_INT(coll_count(&c2coll), 0);
        suprsend_client_free(c2);
    }
    CHECK_INT(hub_stat("duplicates"), 0);
    CHECK_INT(hub_count_tag(g_key, "fd", NULL), accepted);
    coll_free(&c2coll);
    coll_free(&coll);
}

/* =======================================================================================
 * 6b. The lease: min(2 x timeout_ms + 5 s, 120 s)
 * ===================================================================================== */

static void test_lease(void) {
    section("lease");
    hub_reset();
    char path[PATH_MAX], err[1024];
    in_dir(path, "outbox.db");
    enum { N = 20 };
    hub_faults("{\"rate\":{\"delay\":1.0},\"delay_ms\":60000}");
    pid_t pid = fork();
    if (pid == 0) {
        /* A client whose batch is in flight when it is killed (-9). */
        helper_begin(60);
        suprsend_options *o = opts_for(g_key, g_secret, NULL, path, NULL);
        suprsend_options_set_timeout_ms(o, 1000);
        suprsend_options_set_flush_interval_ms(o, 500);
        suprsend_client *x = NULL;
        char e[1024];
        if (new_client(o, &x, e) != SUPRSEND_OK) {
            printf("     [%s] the first client: %s\n", g_section, e);
            _exit(1);
        }
        if (enqueue_tag(x, "ls", 0, N, 32) != N) _exit(2);
        for (;;) pause();
    }
    CHECK(pid > 0);
    CHECK(hub_wait_delayed(1, 10000)); /* its batch is claimed and at the hub */
    double t_claim = mono_ms();
    kill(pid, SIGKILL);
    CHECK_INT(wait_helper(pid), 1000 + SIGKILL);
    hub_faults("{\"script\":[]}");
    hub_release(1); /* its request is dropped unprocessed */
    CHECK(hub_wait_idle(5000));

    collector coll;
    coll_init(&coll);
    suprsend_options *o = opts_for(g_key, g_secret, NULL, path, &coll);
    suprsend_options_set_timeout_ms(o, 1000);
    suprsend_client *y = NULL;
    int rc = new_client(o, &y, err);
    if (CHECK_RC_ERR(rc, SUPRSEND_OK, err)) {
        /* The other client sends them once the lease ends: 2 x 1 s + 5 s = 7 s after the claim. */
        long left = (long)(t_claim + 11000 - mono_ms());
        rc = suprsend_flush(y, left > 0 ? left : 0);
        double took = mono_ms() - t_claim;
        CHECK_RC(rc, SUPRSEND_OK);
        CHECK_GE((long)took, 6000); /* not while the lease lasts */
        CHECK_LE((long)took, 10500);
        if (g_verbose) printf("     sent again %.0f ms after the claim\n", took);
        coll_wait(&coll, N, 2000);
        fate_counts f = count_fates(&coll, "ls", N, NULL);
        CHECK_INT(f.once, N);
        CHECK_INT(f.ok, N);
        long distinct = 0;
        CHECK_INT(hub_count_tag(g_key, "ls", &distinct), N);
        CHECK_INT(distinct, N);
        suprsend_client_free(y);
    }
    coll_free(&coll);
}

/* =======================================================================================
 * 7. Bounded waits: another process holds a write transaction
 * ===================================================================================== */

static void test_busy(void) {
    section("busy");
    hub_reset();
    char path[PATH_MAX], err[1024];
    in_dir(path, "outbox.db");
    int to_child[2], to_parent[2];
    if (!CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0)) return;
    pid_t pid = fork();
    if (pid == 0) {
        /* The other process: on 'g', a write transaction on the outbox (BEGIN IMMEDIATE), held
         * until 'r' or for 4 s at most, then committed. */
        helper_begin(30);
        close(to_child[1]);
        close(to_parent[0]);
        char ch = 0;
        if (read(to_child[0], &ch, 1) != 1 || ch != 'g') _exit(1);
        sqlite3 *db = NULL;
        char *msg = NULL;
        int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
        if (rc == SQLITE_OK) sqlite3_busy_timeout(db, 5000);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
        ch = rc == SQLITE_OK ? 'L' : 'E';
        if (rc != SQLITE_OK) printf("     [%s] lock holder: %s\n", g_section, msg ? msg : sqlite3_errmsg(db));
        ssize_t w = write(to_parent[1], &ch, 1);
        (void)w;
        struct pollfd pf = {to_child[0], POLLIN, 0};
        poll(&pf, 1, 4000);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        sqlite3_free(msg);
        sqlite3_close(db);
        _exit(rc == SQLITE_OK ? 0 : 2);
    }
    close(to_child[0]);
    close(to_parent[1]);
    if (!CHECK(pid > 0)) return;

    collector coll;
    coll_init(&coll);
    enum { N = 8 };
    unsigned char accepted[N];
    memset(accepted, 0, sizeof accepted);
    suprsend_client *c = NULL, *c2 = NULL;
    int rc = new_client(opts_for(g_key, g_secret, NULL, path, &coll), &c, err);
    if (!CHECK_RC_ERR(rc, SUPRSEND_OK, err)) {
        kill(pid, SIGKILL);
        wait_helper(pid);
        return;
    }
    for (long i = 0; i < 3; i++) accepted[i] = enqueue_one(c, "bz", i, 16, err) == SUPRSEND_OK;
    CHECK_RC(suprsend_flush(c, 10000), SUPRSEND_OK);

    /* The option: 0..60000 ms. */
    CHECK(suprsend_options_set_outbox_busy_timeout_ms != NULL);
    if (suprsend_options_set_outbox_busy_timeout_ms) {
        suprsend_options *o = suprsend_options_new(g_key, g_secret);
        CHECK_RC(suprsend_options_set_outbox_busy_timeout_ms(o, -1), SUPRSEND_E_ARGUMENT);
        CHECK_RC(suprsend_options_set_outbox_busy_timeout_ms(o, 60001), SUPRSEND_E_ARGUMENT);
        CHECK_RC(suprsend_options_set_outbox_busy_timeout_ms(o, 0), SUPRSEND_OK);
        CHECK_RC(suprsend_options_set_outbox_busy_timeout_ms(o, 60000), SUPRSEND_OK);
        CHECK_RC(suprsend_options_set_outbox_busy_timeout_ms(NULL, 100), SUPRSEND_E_ARGUMENT);
        suprsend_options_free(o);
        /* A second client of the file that waits up to 1500 ms. */
        o = opts_for(g_key, g_secret, NULL, path, &coll);
        CHECK_RC(suprsend_options_set_outbox_busy_timeout_ms(o, 1500), SUPRSEND_OK);
        rc = new_client(o, &c2, err);
        CHECK_RC_ERR(rc, SUPRSEND_OK, err);
    }

    char ch = 'g';
    CHECK_INT(write(to_child[1], &ch, 1), 1);
    ch = 0;
    CHECK_INT(read(to_parent[0], &ch, 1), 1);
    CHECK_INT(ch, 'L');
    long long queued0 = stat_of(c, SUPRSEND_STAT_QUEUED);

    /* The default bound, 200 ms. Before the fix: blocked until the other process let go. */
    double t0 = mono_ms();
    rc = enqueue_one(c, "bz", 3, 16, err);
    double took = mono_ms() - t0;
    accepted[3] = rc == SUPRSEND_OK;
    CHECK_RC_ERR(rc, SUPRSEND_E_STORAGE, err);
    CHECK_HAS(err, "busy");
    CHECK_LE((long)took, 1000);
    if (g_verbose) printf("     enqueue while locked (default): %.0f ms\n", took);
    if (c2) {
        t0 = mono_ms();
        rc = enqueue_one(c2, "bz", 4, 16, err);
        took = mono_ms() - t0;
        accepted[4] = rc == SUPRSEND_OK;
        CHECK_RC_ERR(rc, SUPRSEND_E_STORAGE, err);
        CHECK_HAS(err, "busy");
        CHECK_GE((long)took, 1000); /* it did wait for the lock, about 1500 ms */
        CHECK_LE((long)took, 2500);
        if (g_verbose) printf("     enqueue while locked (1500 ms): %.0f ms\n", took);
    }
    CHECK_INT(stat_of(c, SUPRSEND_STAT_QUEUED), queued0); /* nothing queued */

    /* The lock is released: enqueue works again. */
    ch = 'r';
    ssize_t w = write(to_child[1], &ch, 1);
    (void)w;
    CHECK_INT(wait_helper(pid), 0);
    close(to_child[1]);
    close(to_parent[0]);
    rc = enqueue_one(c, "bz", 5, 16, err);
    accepted[5] = rc == SUPRSEND_OK;
    CHECK_RC_ERR(rc, SUPRSEND_OK, err);
    if (c2) {
        rc = enqueue_one(c2, "bz", 6, 16, err);
        accepted[6] = rc == SUPRSEND_OK;
        CHECK_RC_ERR(rc, SUPRSEND_OK, err);
    }
    CHECK_RC(suprsend_flush(c, 15000), SUPRSEND_OK);
    if (c2) CHECK_RC(suprsend_flush(c2, 15000), SUPRSEND_OK);

    /* Every event enqueue accepted is delivered once; none that it refused reached the hub. */
    long n_acc = 0;
    for (int i = 0; i < N; i++) n_acc += accepted[i];
    coll_wait(&coll, (size_t)n_acc, 3000);
    fate_counts f = count_fates(&coll, "bz", N, accepted);
    CHECK_INT(f.once, n_acc);
    CHECK_INT(f.ok, n_acc);
    CHECK_INT(f.unwanted, 0);
    long distinct = 0;
    CHECK_INT(hub_count_tag(g_key, "bz", &distinct), n_acc);
    CHECK_INT(distinct, n_acc);
    suprsend_client_free(c2);
    suprsend_client_free(c);
    coll_free(&coll);
}

/* =======================================================================================
 * 8. outbox_max_bytes covers the WAL
 * ===================================================================================== */

static void test_max_bytes(void) {
    section("max-bytes");
    char path[PATH_MAX], wal[PATH_MAX + 8], url[64], err[1024];
    in_dir(path, "outbox.db");
    snprintf(wal, sizeof wal, "%s-wal", path);
    dead_url(url, sizeof url); /* nothing answers: everything stays */
    suprsend_options *o = opts_for(g_key, g_secret, url, path, NULL);
    CHECK_RC(suprsend_options_set_outbox_max_bytes(o, 1 << 20), SUPRSEND_OK);
    suprsend_options_set_shutdown_timeout_ms(o, 0);
    suprsend_client *c = NULL;
    int rc = new_client(o, &c, err);
    if (!CHECK_RC_ERR(rc, SUPRSEND_OK, err)) return;
    long accepted = 0;
    int last = SUPRSEND_OK;
    char last_err[1024] = "";
    for (long i = 0; i < 20000; i++) {
        last = enqueue_one(c, "mb", i, 1000, last_err);
        if (last != SUPRSEND_OK) break;
        accepted++;
    }
    CHECK_RC_ERR(last, SUPRSEND_E_QUEUE_FULL, last_err);
    CHECK_GE(accepted, 100);
    long long db = file_size(path), w = file_size(wal);
    if (g_verbose) printf("     %ld events: database %lld bytes, -wal %lld bytes\n", accepted, db, w);
    CHECK_LE(db + (w > 0 ? w : 0), 1 << 20);
    CHECK_LE(stat_of(c, SUPRSEND_STAT_OUTBOX_BYTES), 1 << 20);
    /* Still bounded while the worker goes on (its retries against nothing write to the file):
     * the largest of samples taken every 100 ms for 1.5 s. */
    long long max_sum = 0, max_stat = 0, max_wal = 0;
    for (int k = 0; k < 15; k++) {
        sleep_ms(100);
        db = file_size(path);
        w = file_size(wal);
        long long sum = db + (w > 0 ? w : 0), st = stat_of(c, SUPRSEND_STAT_OUTBOX_BYTES);
        if (sum > max_sum) max_sum = sum;
        if (w > max_wal) max_wal = w;
        if (st > max_stat) max_stat = st;
    }
    if (g_verbose || max_sum > (1 << 20))
        printf("     [%s] then, at most: database + -wal %lld bytes (-wal %lld), stat %lld\n", g_section, max_sum, max_wal,
               max_stat);
    CHECK_LE(max_sum, 1 << 20);
    CHECK_LE(max_stat, 1 << 20);
    last = enqueue_one(c, "mb", 20000, 1000, last_err);
    CHECK(last == SUPRSEND_E_QUEUE_FULL || last == SUPRSEND_OK);
    suprsend_client_free(c);
}

/* =======================================================================================
 * 9. A handle that survives close: close on a shutdown thread while others call the client
 * ===================================================================================== */

enum { OP_ENQUEUE, OP_TRACK, OP_FLUSH, OP_STAT, OP_COUNT };
static const char *const OP_NAMES[OP_COUNT] = {"suprsend_enqueue", "suprsend_track_event", "suprsend_flush",
                                               "suprsend_client_stat"};

typedef struct {
    suprsend_client *c;
    atomic_int close_done; /* close returned */
    atomic_int stop;
} race_shared;

typedef struct {
    race_shared *sh;
    int id;
    long calls[OP_COUNT], after[OP_COUNT]; /* calls; calls that began after close returned */
    long bad_after, bad_during, enq_ok;
    char first_bad[256];
} race_thread;

static void *race_requests(void *arg) {
    race_thread *t = arg;
    char id[64];
    snprintf(id, sizeof id, "cr%d", t->id);
    suprsend_event *ev = suprsend_event_new(id, "outbox_event");
    suprsend_event_set_properties_json(ev, "{\"race\":true}");
    for (long k = t->id; !atomic_load(&t->sh->stop); k++) {
        int after = atomic_load(&t->sh->close_done);
        int op = (int)(k % OP_COUNT), rc;
        long long v = 0;
        switch (op) {
        case OP_ENQUEUE: rc = suprsend_enqueue(t->sh->c, ev); break;
        case OP_TRACK: rc = suprsend_track_event(t->sh->c, ev, NULL); break;
        case OP_FLUSH: rc = suprsend_flush(t->sh->c, 50); break;
        default: rc = suprsend_client_stat(t->sh->c, SUPRSEND_STAT_QUEUED, &v); break;
        }
        t->calls[op]++;
        if (op == OP_ENQUEUE && rc == SUPRSEND_OK) t->enq_ok++;
        int ok;
        if (after) {
            t->after[op]++;
            ok = op == OP_STAT ? rc == SUPRSEND_OK : rc == SUPRSEND_E_CLOSED;
            if (!ok) t->bad_after++;
        } else {
            ok = rc == SUPRSEND_OK || (op != OP_STAT && rc == SUPRSEND_E_CLOSED) ||
                 (op == OP_FLUSH && rc == SUPRSEND_E_TIMEOUT);
            if (!ok) t->bad_during++;
        }
        if (!ok && !t->first_bad[0])
            snprintf(t->first_bad, sizeof t->first_bad, "%s %s close returned: %s (%.150s)", OP_NAMES[op],
                     after ? "after" : "before", suprsend_status_name(rc), suprsend_last_error());
    }
    suprsend_event_free(ev);
    return NULL;
}

typedef struct {
    race_shared *sh;
    int rc;
} closer;

static void *race_close(void *arg) {
    closer *cl = arg;
    sleep_ms(150);
    cl->rc = suprsend_client_close(cl->sh->c, 2000);
    atomic_store(&cl->sh->close_done, 1);
    return NULL;
}

static void close_races(int outbox) {
    hub_reset();
    char path[PATH_MAX], err[1024];
    in_dir(path, "outbox.db");
    collector coll;
    coll_init(&coll);
    race_shared sh;
    memset(&sh, 0, sizeof sh);
    atomic_init(&sh.close_done, 0);
    atomic_init(&sh.stop, 0);
    int rc = new_client(opts_for(g_key, g_secret, NULL, outbox ? path : NULL, &coll), &sh.c, err);
    if (!CHECK_RC_ERR(rc, SUPRSEND_OK, err)) return;
    long accepted = enqueue_tag(sh.c, "crq", 0, 50, 32);
    CHECK_INT(accepted, 50);
    suprsend_bulk *bulk = suprsend_bulk_new(sh.c);
    suprsend_event *ev = tag_event("crb", 0, 16);
    CHECK(bulk != NULL);
    if (bulk) CHECK_RC(suprsend_bulk_append(bulk, ev), SUPRSEND_OK);

    race_thread th[4];
    pthread_t tid[4], ctid;
    memset(th, 0, sizeof th);
    for (int i = 0; i < 4; i++) {
        th[i].sh = &sh;
        th[i].id = i;
        pthread_create(&tid[i], NULL, race_requests, &th[i]);
    }
    closer cl = {&sh, -1};
    pthread_create(&ctid, NULL, race_close, &cl);
    pthread_join(ctid, NULL);
    sleep_ms(300); /* the request threads go on calling the closed client */
    atomic_store(&sh.stop, 1);
    for (int i = 0; i < 4; i++) pthread_join(tid[i], NULL);

    CHECK(cl.rc == SUPRSEND_OK || cl.rc == SUPRSEND_E_TIMEOUT);
    long bad_after = 0, bad_during = 0, after[OP_COUNT] = {0};
    for (int i = 0; i < 4; i++) {
        bad_after += th[i].bad_after;
        bad_during += th[i].bad_during;
        accepted += th[i].enq_ok;
        for (int op = 0; op < OP_COUNT; op++) after[op] += th[i].after[op];
        if (th[i].first_bad[0]) printf("     [%s] thread %d: first unexpected: %s\n", g_section, i, th[i].first_bad);
    }
    CHECK_INT(bad_after, 0);
    CHECK_INT(bad_during, 0);
    for (int op = 0; op < OP_COUNT; op++)
        record(after[op] > 0, __FILE__, __LINE__, "%s was called after close returned (%ld times)", OP_NAMES[op],
               after[op]);

    /* On this thread, after close: */
    CHECK_RC(suprsend_client_close(sh.c, 1000), SUPRSEND_E_CLOSED); /* close twice */
    CHECK_RC(suprsend_client_close(sh.c, 0), SUPRSEND_E_CLOSED);
    CHECK_RC(suprsend_enqueue(sh.c, ev), SUPRSEND_E_CLOSED);
    CHECK_RC(suprsend_flush(sh.c, 100), SUPRSEND_E_CLOSED);
    CHECK_RC(suprsend_flush(sh.c, -1), SUPRSEND_E_CLOSED);
    suprsend_response *resp = NULL;
    CHECK_RC(suprsend_track_event(sh.c, ev, &resp), SUPRSEND_E_CLOSED);
    suprsend_response_free(resp);
    if (bulk) {
        suprsend_bulk_response *bresp = NULL;
        CHECK_RC(suprsend_bulk_trigger(bulk, &bresp), SUPRSEND_E_CLOSED);
        suprsend_bulk_response_free(bresp);
    }
    for (int which = SUPRSEND_STAT_QUEUED; which <= SUPRSEND_STAT_OUTBOX_BYTES; which++) {
        long long v = -1;
        CHECK_RC(suprsend_client_stat(sh.c, which, &v), SUPRSEND_OK);
    }
    /* The final counters. */
    CHECK_INT(stat_of(sh.c, SUPRSEND_STAT_IN_FLIGHT), 0);
    long long delivered = stat_of(sh.c, SUPRSEND_STAT_DELIVERED);
    long ok_fates = 0;
    pthread_mutex_lock(&coll.mu);
    for (size_t k = 0; k < coll.n; k++) ok_fates += coll.v[k].status == SUPRSEND_OK;
    size_t fates = coll.n;
    pthread_mutex_unlock(&coll.mu);
    CHECK_INT(delivered, ok_fates);
    if (!outbox) {
        /* A memory queue: every accepted event has its fate (delivered, or dropped at close). */
        CHECK_INT(stat_of(sh.c, SUPRSEND_STAT_QUEUED), 0);
        CHECK_INT(fates, accepted);
    } else {
        CHECK_LE(fates, accepted);
    }
    sleep_ms(100);
    CHECK_INT(coll_count(&coll), fates); /* nothing reported after close */
    suprsend_event_free(ev);
    suprsend_bulk_free(bulk);
    suprsend_client_free(sh.c); /* releases the handle */
    coll_free(&coll);
}

static void test_close_races(void) {
    section("close-races");
    close_races(0);
}

static void test_close_races_outbox(void) {
    section("close-races-outbox");
    close_races(1);
}

/* =======================================================================================
 * main
 * ===================================================================================== */

typedef struct {
    const char *name;
    void (*fn)(void);
} scenario;

static const scenario SCENARIOS[] = {
    {"workspaces", test_workspaces},
    {"workspaces-2proc", test_workspaces_2proc},
    {"private-files", test_private_files},
    {"foreign-files", test_foreign_files},
    {"damaged-at-open", test_damaged_at_open},
    {"deleted-running", test_deleted_running},
    {"replaced-running", test_replaced_running},
    {"full-disk", test_full_disk},
    {"lease", test_lease},
    {"busy", test_busy},
    {"max-bytes", test_max_bytes},
    {"close-races", test_close_races},
    {"close-races-outbox", test_close_races_outbox},
};

static int selected(const char *only, const char *name) {
    if (!only || !*only) return 1;
    size_t n = strlen(name);
    for (const char *p = only; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0) return 1;
        p += len;
        if (*p == ',') p++;
    }
    return 0;
}

/* Runs one scenario in a process of its own, in base/NAME; adds its counts to this process's. */
static void run_scenario(const scenario *s, const char *base) {
    g_section = s->name;
    join(g_dir, base, s->name);
    if (mkdir(g_dir, 0700) != 0) {
        record(0, __FILE__, __LINE__, "mkdir %s: %s", g_dir, strerror(errno));
        return;
    }
    int fds[2];
    if (pipe(fds) != 0) {
        record(0, __FILE__, __LINE__, "pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        g_report_fd = fds[1];
        g_passed = g_failed = 0;
        set_handlers(on_crash, on_alarm);
        s->fn();
        alarm(0);
        fflush(stdout);
        send_report(0);
        _exit(0);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        record(0, __FILE__, __LINE__, "fork: %s", strerror(errno));
        return;
    }
    report r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = read(fds[0], (char *)&r + got, sizeof r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status = wait_helper(pid);
    if (got == sizeof r) {
        g_passed += r.passed;
        g_failed += r.failed;
    }
    if (status == 77 && got == sizeof r) {
        g_skipped++;
    } else if (got != sizeof r) {
        record(0, __FILE__, __LINE__, "the scenario's process ended without reporting its checks (%s %d)",
               status >= 1000 ? "signal" : "exit status", status >= 1000 ? status - 1000 : status);
    } else if (status != 0 && r.failed == 0) {
        record(0, __FILE__, __LINE__, "the scenario's process ended with %s %d", status >= 1000 ? "signal" : "status",
               status >= 1000 ? status - 1000 : status);
    }
    unmount_under(g_dir);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "-l") == 0) {
        for (size_t i = 0; i < sizeof SCENARIOS / sizeof *SCENARIOS; i++) printf("%s\n", SCENARIOS[i].name);
        return 0;
    }
    check_init();
    if (hub_args(argc, argv, g_base_url, sizeof g_base_url, g_key, sizeof g_key, g_secret, sizeof g_secret) != 0)
        return 2;
    const char *kb = getenv("SUPRSEND_TEST_OTHER_WORKSPACE_KEY"), *sb = getenv("SUPRSEND_TEST_OTHER_WORKSPACE_SECRET");
    if (kb && *kb) snprintf(g_key_b, sizeof g_key_b, "%s", kb);
    if (sb && *sb) snprintf(g_secret_b, sizeof g_secret_b, "%s", sb);
    if (strcmp(g_key, g_key_b) == 0) {
        fprintf(stderr, "the two workspaces must differ (SUPRSEND_TEST_OTHER_WORKSPACE_KEY): both are %s\n", g_key);
        return 2;
    }
    snprintf(g_run, sizeof g_run, "%lx%lx", (unsigned long)time(NULL), (unsigned long)getpid());
    int st = 0;
    free(hub_http("GET", "/_hub/inflight", NULL, &st));
    if (st != 200) {
        fprintf(stderr, "the hub at %s:%s does not answer GET /_hub/inflight (status %d)\n", g_host, g_port, st);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    const char *tmp = getenv("TMPDIR");
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s/suprsend-outbox.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        fprintf(stderr, "mkdtemp %s: %s\n", base, strerror(errno));
        return 2;
    }
    const char *only = getenv("SUPRSEND_OUTBOX_TEST_ONLY");
    double t0 = mono_ms();
    for (size_t i = 0; i < sizeof SCENARIOS / sizeof *SCENARIOS; i++) {
        if (!selected(only, SCENARIOS[i].name)) continue;
        double s0 = mono_ms();
        run_scenario(&SCENARIOS[i], base);
        if (g_verbose) printf("   (%s: %.0f ms)\n", SCENARIOS[i].name, mono_ms() - s0);
    }
    g_section = "";
    hub_reset();
    const char *keep = getenv("SUPRSEND_TEST_KEEP");
    if (keep && *keep && strcmp(keep, "0") != 0) printf("note: work directory kept: %s\n", base);
    else rm_rf(base);
    if (g_skipped) printf("note: %d scenario(s) skipped (see SKIP above): not counted as passed\n", g_skipped);
    if (g_verbose) printf("total: %.1f s\n", (mono_ms() - t0) / 1000.0);
    return check_summary(0);
}
