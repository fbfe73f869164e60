/*
 * import.c: `suprsend-events import FILE|-`: one JSON event object per line, sent in bulks
 * (suprsend_bulk_trigger, BATCH events at a time) or through the background queue
 * (suprsend_enqueue, fates from the delivery callback). What is not accepted, and every bad
 * line, goes to --failed as a JSON line that can be imported again.
 *
 * Matching a failure to its line: the library reports a failed bulk record or a background
 * fate with the event's idempotency key, not with its position. So every event without an
 * idempotency_key of its own is sent with one made here, "imp-RUN-LINE" (RUN random per run):
 * as unique as the library's automatic key (a repeat within this run is dropped by the hub,
 * another run sends again), and it names the line.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "jsonline.h"
#include "progress.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char import_usage[] =
    "Usage: suprsend-events import [OPTIONS] FILE\n"
    "       suprsend-events import [OPTIONS] -          (read standard input)\n"
    "\n"
    "Send events from a file of JSON lines: one event object per line, e.g.\n"
    "  {\"distinct_id\":\"user_1\",\"event\":\"product_purchased\",\"properties\":{\"amount\":10}}\n"
    "Members: distinct_id and event (strings, required), properties (an object, sent as written),\n"
    "idempotency_key, tenant_id and brand_id (strings, optional). Other members, such as the\n"
    "\"error\" that --failed adds, are ignored. Blank lines are skipped.\n"
    "\n"
    "Events are sent in bulks of --batch-size events (the library splits each bulk into requests\n"
    "of at most 100 events), or, with --background, through the library's background queue.\n"
    "An event without an idempotency_key is sent with the key imp-RUN-LINE (RUN is random for\n"
    "each run), so that the hub drops a repeat and each failure is traced back to its line.\n"
    "\n"
    "A bad line (not JSON, a member missing or of the wrong type) is reported with its line\n"
    "and column and does not stop the import.\n"
    "\n"
    "Options:\n"
    "  --failed FILE            write what was not accepted to FILE, one JSON line each: the\n"
    "                           event's object as read, plus a member \"error\": {\"line\",\n"
    "                           \"status\", \"code\", \"message\"}; a line that is not a JSON\n"
    "                           object is kept as text under \"raw\". Fix the lines and import\n"
    "                           FILE again: \"error\" and \"raw\" are ignored.\n"
    "  --batch-size N           events per bulk (default 1000, 1 to 100000)\n"
    "  --jobs N                 bulks sent at the same time (default 4, 1 to 64); with more\n"
    "                           than 1, bulks may reach the hub out of order (each event's\n"
    "                           $time is still the time it was read)\n"
    "  --background             enqueue each event (suprsend_enqueue) and flush at the end\n"
    "  --flush-timeout SECONDS  with --background: how long to wait at the end for events to be\n"
    "                           delivered (default 300); those left are reported as not delivered\n"
    "  --progress-interval S    seconds between progress lines when stderr is not a terminal\n"
    "                           (default 5; 0: none). On a terminal, a progress bar is drawn.\n"
    "  --quiet                  no progress and no summary (errors are still printed)\n"
    "  --base-url URL           the hub (default: SUPRSEND_BASE_URL, else https://hub.suprsend.com/)\n"
    "  -h, --help               this help\n"
    "\n"
    "At the end, a summary on stderr: lines read, accepted, refused, not delivered, bad lines,\n"
    "time and events per second.\n"
    "\n"
    "Credentials: SUPRSEND_WORKSPACE_KEY and SUPRSEND_WORKSPACE_SECRET.\n"
    "\n"
    "Exit status: 0 every event was accepted; 1 some were refused (by the hub or by a rule\n"
    "checked before sending), not delivered (no answer: after the first bulk that got none, the\n"
    "rest of the file is not sent and goes to --failed), or some lines were bad; 2 usage or\n"
    "setup error (bad options, no credentials, FILE cannot be opened or read).\n"
    "\n"
    "Examples:\n"
    "  suprsend-events import --failed failed.jsonl events.jsonl\n"
    "  some-producer | suprsend-events import --background -\n";

/* How many problems are printed one by one before the rest go to --failed only. */
#define MAX_PRINTED_PROBLEMS 20
#define DEFAULT_BATCH 1000
#define DEFAULT_JOBS 4
#define PENDING_BUCKETS (1u << 16)

/* One line that became an event, kept until its fate is known. */
typedef struct entry {
    long long line;
    char *text;              /* the line as read (without its newline) */
    size_t len;
    jl_member *members;      /* the object's members, positions in text */
    size_t member_count;
    char *key;               /* the idempotency key it was sent with, trimmed */
    char *distinct_id;       /* trimmed, as the library reports it */
    char *event;
    int failed_at_append;    /* refused by the library's rules when appended: already reported */
    int consumed;
    struct entry *next;      /* the pending table's chain (--background) */
} entry;

typedef struct {
    const char *input_name;
    FILE *failed;
    const char *failed_path;
    int failed_write_error;
    int quiet;
    pthread_mutex_t lock;    /* counters, --failed, stderr: the delivery callback runs on the worker */
    long long lines, blank, bad, accepted, refused_by_hub, refused_by_rules, undelivered;
    int problems_printed;
    progress bar;
    char run_id[24];
    /* no answer from the hub: the rest is not sent */
    int stopped;
    char stop_reason[400];
    suprsend_client *client;
    /* bulk mode: jobs (a bulk and its lines) filled here and sent by sender threads */
    struct job *jobs;
    int job_count, sender_count;
    struct job **ready;      /* filled jobs waiting for a sender (a ring of job_count) */
    int ready_head, ready_len;
    struct job **idle;       /* jobs free to fill (a stack) */
    int idle_len;
    int no_more_jobs;
    pthread_cond_t job_ready, job_idle;
    pthread_t *senders;
    /* background mode */
    entry **pending;
    long long pending_count;
} import_state;

static void make_run_id(char *out, size_t size) {
    unsigned char bytes[6] = { 0 };
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, bytes, sizeof bytes) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof bytes) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t mix = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
        memcpy(bytes, &mix, sizeof bytes);
    }
    snprintf(out, size, "%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* A trimmed copy of s (the library trims keys, ids and names before sending). */
static char *trimmed_copy(const char *s) {
    if (!s) return NULL;
    while (is_space(*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1])) n--;
    char *copy = malloc(n + 1);
    if (!copy) return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

static void entry_free(entry *e) {
    if (!e) return;
    free(e->text);
    free(e->members);
    free(e->key);
    free(e->distinct_id);
    free(e->event);
}

static void counts_locked(import_state *st, progress_counts *c) {
    long long refused = st->refused_by_hub + st->refused_by_rules;
    c->accepted = st->accepted;
    c->sent = st->accepted + st->refused_by_hub;
    c->failed = refused + st->undelivered + st->bad;
    c->lines_done = st->blank + st->bad + st->accepted + refused + st->undelivered;
}

static void show_progress(import_state *st) {
    progress_counts c;
    pthread_mutex_lock(&st->lock);
    counts_locked(st, &c);
    progress_update(&st->bar, &c);
    pthread_mutex_unlock(&st->lock);
}

/* Prints one problem on stderr, unless too many were printed already. Lock held. */
static void print_problem_locked(import_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void print_problem_locked(import_state *st, const char *fmt, ...) {
    st->problems_printed++;
    if (st->problems_printed > MAX_PRINTED_PROBLEMS) return;
    progress_clear(&st->bar);
    fprintf(stderr, "suprsend-events import: %s: ", st->input_name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (st->problems_printed == MAX_PRINTED_PROBLEMS)
        fprintf(stderr, "suprsend-events import: further problems are not printed%s%s\n",
                st->failed ? "; all are in " : " (use --failed FILE to keep them)", st->failed ? st->failed_path : "");
}

static void check_failed_stream(import_state *st) {
    if (st->failed && ferror(st->failed) && !st->failed_write_error) {
        st->failed_write_error = errno ? errno : EIO;
        progress_clear(&st->bar);
        fprintf(stderr, "suprsend-events import: --failed %s: write error: %s\n", st->failed_path, strerror(st->failed_write_error));
    }
}

/* Writes the object's members (without an earlier "error") and a new "error" member. The
 * caller writes the error's content and the closing braces. Lock held. */
static void write_object_start(FILE *out, const char *text, const jl_member *members, size_t count) {
    putc('{', out);
    for (size_t i = 0; i < count; i++) {
        if (members[i].is_error_key) continue;
        fwrite(text + members[i].start, 1, members[i].end - members[i].start, out);
        putc(',', out);
    }
    fputs("\"error\":{", out);
}

/* An event that was not accepted, with why. Lock held. */
static void write_failed_event_locked(import_state *st, const entry *e, const char *status, int code,
                                      const char *message) {
    if (!st->failed) return;
    FILE *out = st->failed;
    write_object_start(out, e->text, e->members, e->member_count);
    fprintf(out, "\"line\":%lld,\"status\":", e->line);
    jl_write_string(out, status, strlen(status));
    fprintf(out, ",\"code\":%d,\"message\":", code);
    jl_write_string(out, message, strlen(message));
    fputs("}}\n", out);
    check_failed_stream(st);
}

/* A bad line. Lock held. */
static void write_bad_line_locked(import_state *st, long long line_no, const char *text, size_t len, const jl_event *ev,
                                  const jl_error *err) {
    if (!st->failed) return;
    FILE *out = st->failed;
    if (ev && ev->is_object) {
        write_object_start(out, text, ev->members, ev->member_count);
    } else {
        fputs("{\"error\":{", out);
    }
    fprintf(out, "\"line\":%lld,", line_no);
    if (err->column) fprintf(out, "\"column\":%zu,", err->column);
    fputs("\"status\":\"bad line\",\"message\":", out);
    jl_write_string(out, err->message, strlen(err->message));
    putc('}', out);
    if (!(ev && ev->is_object)) {
        fputs(",\"raw\":", out);
        jl_write_string(out, text, len);
    }
    fputs("}\n", out);
    check_failed_stream(st);
}

static void bad_line(import_state *st, long long line_no, const char *text, size_t len, const jl_event *ev,
                     const jl_error *err) {
    pthread_mutex_lock(&st->lock);
    st->bad++;
    if (err->column)
        print_problem_locked(st, "line %lld, column %zu: %s", line_no, err->column, err->message);
    else
        print_problem_locked(st, "line %lld: %s", line_no, err->message);
    write_bad_line_locked(st, line_no, text, len, ev, err);
    pthread_mutex_unlock(&st->lock);
}

/* An event not accepted. kind: 'h' refused by the hub, 'r' refused by a rule before sending,
 * 'u' not delivered. Lock held. */
static void event_failed_locked(import_state *st, const entry *e, char kind, const char *status, int code,
                                 const char *message) {
    /* the library's words for a bulk's refused record; here the line says it already */
    static const char kept[] = "event kept as a failed record: ";
    if (strncmp(message, kept, sizeof kept - 1) == 0) message += sizeof kept - 1;
    if (kind == 'h') st->refused_by_hub++;
    else if (kind == 'r') st->refused_by_rules++;
    else st->undelivered++;
    const char *what = kind == 'h' ? "refused by the hub" : kind == 'r' ? "refused before sending" : "not delivered";
    if (code > 0 && kind == 'h')
        print_problem_locked(st, "line %lld: %s (%s, HTTP %d): %s", e->line, what, status, code, message);
    else
        print_problem_locked(st, "line %lld: %s (%s): %s", e->line, what, status, message);
    write_failed_event_locked(st, e, status, code, message);
}

/* ---- one line into an event ---------------------------------------------------------- */

/* Builds the event of a parsed line and fills e (which takes the line's members). Returns
 * the event, or NULL after reporting the line as refused (a rule the setters check). */
static suprsend_event *make_event(import_state *st, long long line_no, char *text, size_t len, jl_event *parsed,
                                  entry *e) {
    memset(e, 0, sizeof *e);
    e->line = line_no;
    e->text = malloc(len + 1);
    char generated_key[64];
    if (!parsed->idempotency_key || !*parsed->idempotency_key) {
        snprintf(generated_key, sizeof generated_key, "imp-%s-%lld", st->run_id, line_no);
        e->key = strdup(generated_key);
    } else {
        e->key = trimmed_copy(parsed->idempotency_key);
    }
    e->distinct_id = trimmed_copy(parsed->distinct_id);
    e->event = trimmed_copy(parsed->event);
    if (!e->text || !e->key || !e->distinct_id || !e->event) {
        fprintf(stderr, "suprsend-events import: out of memory\n");
        exit(CLI_EXIT_USAGE);
    }
    memcpy(e->text, text, len);
    e->text[len] = '\0';
    e->len = len;
    e->members = parsed->members;
    e->member_count = parsed->member_count;
    parsed->members = NULL;
    parsed->member_count = 0;

    suprsend_event *event = suprsend_event_new(parsed->distinct_id, parsed->event);
    const char *what = NULL;
    int rc = SUPRSEND_OK;
    if (!event) {
        what = "";
        rc = SUPRSEND_E_ARGUMENT;
    } else if (parsed->properties) {
        /* the properties' text ends inside the line: end it there for the call, then restore */
        char *end = text + (parsed->properties - text) + parsed->properties_len;
        char saved = *end;
        *end = '\0';
        rc = suprsend_event_set_properties_json(event, parsed->properties);
        *end = saved;
        if (rc != SUPRSEND_OK) what = "properties: ";
    }
    if (rc == SUPRSEND_OK && (rc = suprsend_event_set_idempotency_key(event, e->key)) != SUPRSEND_OK)
        what = "idempotency_key: ";
    if (rc == SUPRSEND_OK && parsed->tenant_id && (rc = suprsend_event_set_tenant_id(event, parsed->tenant_id)) != SUPRSEND_OK)
        what = "tenant_id: ";
    if (rc == SUPRSEND_OK && parsed->brand_id && (rc = suprsend_event_set_brand_id(event, parsed->brand_id)) != SUPRSEND_OK)
        what = "brand_id: ";
    if (rc == SUPRSEND_OK) return event;
    char message[600];
    snprintf(message, sizeof message, "%s%s", what ? what : "", suprsend_last_error());
    pthread_mutex_lock(&st->lock);
    event_failed_locked(st, e, 'r', suprsend_status_name(rc), 400, message);
    pthread_mutex_unlock(&st->lock);
    suprsend_event_free(event);
    entry_free(e);
    return NULL;
}

/* ---- bulk mode ------------------------------------------------------------------------ */

typedef struct job {
    suprsend_bulk *bulk;
    entry *entries;
    size_t count, capacity;
} job;

typedef struct {
    import_state *st;
    job *job;
    long long failed_now;
    int no_answer;           /* some record failed for want of an answer (SUPRSEND_E_NETWORK) */
    char first_no_answer[300];
} failed_walk;

static int entry_matches(const entry *e, const char *key, const char *distinct_id, const char *event) {
    return (!key || strcmp(e->key, key) == 0) && (!distinct_id || strcmp(e->distinct_id, distinct_id) == 0)
        && (!event || strcmp(e->event, event) == 0);
}

/* Settles the job's entries that the bulk's response lists as failed, by their place in the
 * bulk (the job's entries were appended in order): the library says for each why it failed
 * (suprsend_bulk_response_failed_status), so nothing is guessed from codes or matched by key.
 * Entries refused at append were settled then. */
static void settle_failed_records(failed_walk *walk, suprsend_bulk_response *response) {
    import_state *st = walk->st;
    long failures = suprsend_bulk_response_failure(response);
    for (long i = 0; i < failures; i++) {
        long index = suprsend_bulk_response_failed_index(response, i);
        if (index < 0 || (size_t)index >= walk->job->count) continue;
        entry *e = &walk->job->entries[index];
        if (e->failed_at_append || e->consumed) continue;
        e->consumed = 1;
        int status = suprsend_bulk_response_failed_status(response, i);
        const char *error = suprsend_bulk_response_failed_message(response, i);
        char kind = status == SUPRSEND_E_HTTP ? 'h' : status == SUPRSEND_E_VALIDATION || status == SUPRSEND_E_TOO_LARGE ? 'r' : 'u';
        pthread_mutex_lock(&st->lock);
        event_failed_locked(st, e, kind, suprsend_status_name(status), suprsend_bulk_response_failed_code(response, i),
                            error ? error : "");
        pthread_mutex_unlock(&st->lock);
        walk->failed_now++;
        if (status == SUPRSEND_E_NETWORK && !walk->no_answer) {
            walk->no_answer = 1;
            snprintf(walk->first_no_answer, sizeof walk->first_no_answer, "%s", error ? error : "no answer");
        }
    }
}

static void clear_job(job *j) {
    for (size_t i = 0; i < j->count; i++) entry_free(&j->entries[i]);
    j->count = 0;
    suprsend_bulk_free(j->bulk);
    j->bulk = NULL;
}

/* Sends the job's bulk and settles every line of it. On a sender thread. */
static void send_job(import_state *st, job *j) {
    size_t appended = 0;
    for (size_t i = 0; i < j->count; i++)
        if (!j->entries[i].failed_at_append) appended++;
    if (appended == 0 || !j->bulk) {
        clear_job(j);
        return;
    }
    pthread_mutex_lock(&st->lock);
    int stopped = st->stopped;
    pthread_mutex_unlock(&st->lock);
    if (stopped) {
        /* another sender got no answer meanwhile: these are not sent either */
        pthread_mutex_lock(&st->lock);
        for (size_t i = 0; i < j->count; i++)
            if (!j->entries[i].failed_at_append)
                event_failed_locked(st, &j->entries[i], 'u', "SUPRSEND_E_NETWORK", 0, st->stop_reason);
        pthread_mutex_unlock(&st->lock);
        clear_job(j);
        return;
    }
    suprsend_bulk_response *response = NULL;
    int rc = suprsend_bulk_trigger(j->bulk, &response);
    if (!response) {
        char message[400];
        snprintf(message, sizeof message, "bulk not sent: %s", suprsend_last_error());
        pthread_mutex_lock(&st->lock);
        for (size_t i = 0; i < j->count; i++)
            if (!j->entries[i].failed_at_append) event_failed_locked(st, &j->entries[i], 'u', suprsend_status_name(rc), 0, message);
        pthread_mutex_unlock(&st->lock);
        clear_job(j);
        return;
    }
    long success = suprsend_bulk_response_success(response);
    pthread_mutex_lock(&st->lock);
    st->accepted += success;
    pthread_mutex_unlock(&st->lock);
    failed_walk walk = { .st = st, .job = j };
    settle_failed_records(&walk, response);
    long long settled = success + walk.failed_now;
    if (settled != (long long)appended) {
        pthread_mutex_lock(&st->lock);
        progress_clear(&st->bar);
        fprintf(stderr, "suprsend-events import: warning: a bulk of %zu events came back with %ld accepted and %lld failed\n",
                appended, success, walk.failed_now);
        pthread_mutex_unlock(&st->lock);
    }
    if (success == 0 && walk.no_answer && rc == SUPRSEND_E_NETWORK) {
        pthread_mutex_lock(&st->lock);
        if (!st->stopped) {
            st->stopped = 1;
            snprintf(st->stop_reason, sizeof st->stop_reason, "not sent: the import stopped after a bulk got no answer (%s)",
                     walk.first_no_answer);
            progress_clear(&st->bar);
            fprintf(stderr, "suprsend-events import: the hub did not answer (%s); the remaining lines are not sent%s%s\n",
                    walk.first_no_answer, st->failed ? " and go to " : "", st->failed ? st->failed_path : "");
        }
        pthread_mutex_unlock(&st->lock);
    }
    suprsend_bulk_response_free(response);
    clear_job(j);
}

static entry *job_slot(job *j) {
    if (j->count == j->capacity) {
        size_t cap = j->capacity ? j->capacity * 2 : 1024;
        entry *grown = realloc(j->entries, cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "suprsend-events import: out of memory\n");
            exit(CLI_EXIT_USAGE);
        }
        j->entries = grown;
        j->capacity = cap;
    }
    return &j->entries[j->count];
}

static void *sender_main(void *arg) {
    import_state *st = arg;
    for (;;) {
        pthread_mutex_lock(&st->lock);
        while (st->ready_len == 0 && !st->no_more_jobs) pthread_cond_wait(&st->job_ready, &st->lock);
        if (st->ready_len == 0) {
            pthread_mutex_unlock(&st->lock);
            return NULL;
        }
        job *j = st->ready[st->ready_head];
        st->ready_head = (st->ready_head + 1) % st->job_count;
        st->ready_len--;
        pthread_mutex_unlock(&st->lock);
        send_job(st, j);
        pthread_mutex_lock(&st->lock);
        st->idle[st->idle_len++] = j;
        pthread_cond_signal(&st->job_idle);
        pthread_mutex_unlock(&st->lock);
    }
}

/* A job to fill: waits while every job is being sent (updating the progress meanwhile). */
static job *take_idle_job(import_state *st) {
    pthread_mutex_lock(&st->lock);
    while (st->idle_len == 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&st->job_idle, &st->lock, &until);
        progress_counts c;
        counts_locked(st, &c);
        progress_update(&st->bar, &c);
    }
    job *j = st->idle[--st->idle_len];
    pthread_mutex_unlock(&st->lock);
    return j;
}

static void submit_job(import_state *st, job *j) {
    pthread_mutex_lock(&st->lock);
    st->ready[(st->ready_head + st->ready_len) % st->job_count] = j;
    st->ready_len++;
    pthread_cond_signal(&st->job_ready);
    pthread_mutex_unlock(&st->lock);
}

static int start_senders(import_state *st, int senders) {
    st->sender_count = 0;
    st->job_count = senders + 1; /* one filled here while the others are sent */
    st->jobs = calloc((size_t)st->job_count, sizeof *st->jobs);
    st->ready = calloc((size_t)st->job_count, sizeof *st->ready);
    st->idle = calloc((size_t)st->job_count, sizeof *st->idle);
    st->senders = calloc((size_t)senders, sizeof *st->senders);
    if (!st->jobs || !st->ready || !st->idle || !st->senders) return -1;
    for (int i = 0; i < st->job_count; i++) st->idle[st->idle_len++] = &st->jobs[i];
    pthread_cond_init(&st->job_ready, NULL);
    pthread_cond_init(&st->job_idle, NULL);
    for (int i = 0; i < senders; i++) {
        if (pthread_create(&st->senders[i], NULL, sender_main, st) != 0) return -1;
        st->sender_count++;
    }
    return 0;
}

/* Lets the senders finish what is submitted, and waits for them. */
static void stop_senders(import_state *st) {
    pthread_mutex_lock(&st->lock);
    st->no_more_jobs = 1;
    pthread_cond_broadcast(&st->job_ready);
    pthread_mutex_unlock(&st->lock);
    for (int i = 0; i < st->sender_count; i++) pthread_join(st->senders[i], NULL);
    st->sender_count = 0;
}

/* ---- background mode ------------------------------------------------------------------ */

static size_t hash_key(const char *key) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 1099511628211ull;
    return (size_t)(h & (PENDING_BUCKETS - 1));
}

/* Lock held. Appended at the chain's end: with a key used twice, the older is found first. */
static void pending_add_locked(import_state *st, entry *e) {
    entry **slot = &st->pending[hash_key(e->key)];
    while (*slot) slot = &(*slot)->next;
    e->next = NULL;
    *slot = e;
    st->pending_count++;
}

static entry *pending_take_locked(import_state *st, const char *key, const char *distinct_id, const char *event) {
    entry **chain = &st->pending[hash_key(key)];
    entry **found = NULL;
    for (entry **slot = chain; *slot; slot = &(*slot)->next) {
        if (strcmp((*slot)->key, key) != 0) continue;
        if (!found) found = slot;
        if (entry_matches(*slot, key, distinct_id, event)) { found = slot; break; }
    }
    if (!found) return NULL;
    entry *e = *found;
    *found = e->next;
    st->pending_count--;
    return e;
}

static void pending_remove_locked(import_state *st, entry *e) {
    for (entry **slot = &st->pending[hash_key(e->key)]; *slot; slot = &(*slot)->next) {
        if (*slot == e) {
            *slot = e->next;
            st->pending_count--;
            return;
        }
    }
}

static void on_delivery(const suprsend_delivery *delivery, void *user_data) {
    import_state *st = user_data;
    int status = suprsend_delivery_status(delivery);
    pthread_mutex_lock(&st->lock);
    entry *e = pending_take_locked(st, suprsend_delivery_idempotency_key(delivery),
                                   suprsend_delivery_distinct_id(delivery), suprsend_delivery_event_name(delivery));
    if (status == SUPRSEND_OK) {
        st->accepted++;
    } else if (e) {
        event_failed_locked(st, e, status == SUPRSEND_E_HTTP ? 'h' : 'u', suprsend_status_name(status),
                            suprsend_delivery_http_status(delivery), suprsend_delivery_message(delivery));
    } else {
        /* cannot happen: every enqueued event is in the table; count it all the same */
        st->undelivered++;
        print_problem_locked(st, "an event of %s (key %s) failed: %s", suprsend_delivery_distinct_id(delivery),
                             suprsend_delivery_idempotency_key(delivery), suprsend_delivery_message(delivery));
    }
    pthread_mutex_unlock(&st->lock);
    if (e) {
        entry_free(e);
        free(e);
    }
}

/* ---- the command ---------------------------------------------------------------------- */

/* Lines in a regular file, for the progress bar's percentage and ETA; -1 when unknown. */
static long long count_lines(FILE *in) {
    struct stat sb;
    int fd = fileno(in);
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return -1;
    off_t start = lseek(fd, 0, SEEK_CUR);
    if (start < 0) return -1;
    static char buf[1 << 16];
    long long lines = 0;
    char last = '\n';
    ssize_t n;
    while ((n = pread(fd, buf, sizeof buf, start)) > 0) {
        for (char *p = buf, *end = buf + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) lines++;
        last = buf[n - 1];
        start += n;
    }
    if (n < 0) return -1;
    if (last != '\n') lines++;
    return lines;
}

static int parse_long(const char *text, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= 0) || v > 86400) return -1;
    *out = v;
    return 0;
}

static void format_count(long long n, char *out, size_t size) {
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", n);
    size_t len = strlen(digits), o = 0;
    for (size_t i = 0; i < len && o + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

int cmd_import(int argc, char **argv, const char *base_url) {
    const char *input_path = NULL, *failed_path = NULL, *value = NULL;
    long batch_size = DEFAULT_BATCH;
    double progress_interval = 5, flush_timeout = 300;
    long jobs = DEFAULT_JOBS;
    int background = 0, quiet = 0, got;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(import_usage, stdout);
            return CLI_EXIT_OK;
        }
        if (strcmp(arg, "--background") == 0) { background = 1; continue; }
        if (strcmp(arg, "--quiet") == 0) { quiet = 1; continue; }
        if ((got = cli_option_value("import", argc, argv, &i, "--failed", "FILE", &value)) != 0) {
            if (got < 0) return CLI_EXIT_USAGE;
            failed_path = value;
            continue;
        }
        if ((got = cli_option_value("import", argc, argv, &i, "--base-url", "URL", &value)) != 0) {
            if (got < 0) return CLI_EXIT_USAGE;
            base_url = value;
            continue;
        }
        if ((got = cli_option_value("import", argc, argv, &i, "--batch-size", "N", &value)) != 0) {
            if (got < 0) return CLI_EXIT_USAGE;
            if (parse_long(value, 1, 100000, &batch_size) != 0) {
                fprintf(stderr, "suprsend-events import: --batch-size '%s': expected a whole number from 1 to 100000\n", value);
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        if ((got = cli_option_value("import", argc, argv, &i, "--jobs", "N", &value)) != 0) {
            if (got < 0) return CLI_EXIT_USAGE;
            if (parse_long(value, 1, 64, &jobs) != 0) {
                fprintf(stderr, "suprsend-events import: --jobs '%s': expected a whole number from 1 to 64\n", value);
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        if ((got = cli_option_value("import", argc, argv, &i, "--progress-interval", "SECONDS", &value)) != 0) {
            if (got < 0) return CLI_EXIT_USAGE;
            if (parse_seconds(value, &progress_interval) != 0) {
                fprintf(stderr, "suprsend-events import: --progress-interval '%s': expected seconds from 0 to 86400\n", value);
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        if ((got = cli_option_value("import", argc, argv, &i, "--flush-timeout", "SECONDS", &value)) != 0) {
            if (got < 0) return CLI_EXIT_USAGE;
            if (parse_seconds(value, &flush_timeout) != 0) {
                fprintf(stderr, "suprsend-events import: --flush-timeout '%s': expected seconds from 0 to 86400\n", value);
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        if (arg[0] == '-' && arg[1] != '\0') {
            fprintf(stderr, "suprsend-events import: unknown option '%s' (see suprsend-events import --help)\n", arg);
            return CLI_EXIT_USAGE;
        }
        if (input_path) {
            fprintf(stderr, "suprsend-events import: one input only ('%s' and '%s'); use - for standard input\n", input_path, arg);
            return CLI_EXIT_USAGE;
        }
        input_path = arg;
    }
    if (!input_path) {
        fprintf(stderr, "suprsend-events import: missing FILE (a file of JSON lines, or - for standard input)\n");
        return CLI_EXIT_USAGE;
    }

    /* Setup: everything that can fail with status 2 comes before the first event is sent. */
    FILE *in = stdin;
    int from_stdin = strcmp(input_path, "-") == 0;
    if (!from_stdin) {
        in = fopen(input_path, "r");
        if (!in) {
            fprintf(stderr, "suprsend-events import: cannot open %s: %s\n", input_path, strerror(errno));
            return CLI_EXIT_USAGE;
        }
        struct stat sb;
        if (fstat(fileno(in), &sb) == 0 && S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "suprsend-events import: %s is a directory, not a file of JSON lines\n", input_path);
            fclose(in);
            return CLI_EXIT_USAGE;
        }
    }

    import_state st_storage;
    import_state *st = &st_storage;
    memset(st, 0, sizeof *st);
    st->input_name = from_stdin ? "stdin" : input_path;
    st->quiet = quiet;
    pthread_mutex_init(&st->lock, NULL);
    make_run_id(st->run_id, sizeof st->run_id);
    int exit_status = CLI_EXIT_USAGE;
    suprsend_options *opts = NULL;
    job *filling = NULL;
    char *line = NULL;
    size_t line_capacity = 0;

    opts = cli_options_new("import", base_url);
    if (!opts) goto out;
    if (failed_path) {
        struct stat input_stat, failed_stat;
        if (!from_stdin && stat(failed_path, &failed_stat) == 0 && fstat(fileno(in), &input_stat) == 0
            && failed_stat.st_dev == input_stat.st_dev && failed_stat.st_ino == input_stat.st_ino) {
            fprintf(stderr, "suprsend-events import: --failed %s is the input file; name another file\n", failed_path);
            goto out;
        }
        st->failed = fopen(failed_path, "w");
        if (!st->failed) {
            fprintf(stderr, "suprsend-events import: --failed %s: cannot create it: %s\n", failed_path, strerror(errno));
            goto out;
        }
        st->failed_path = failed_path;
    }
    if (background) {
        st->pending = calloc(PENDING_BUCKETS, sizeof *st->pending);
        if (!st->pending) {
            fprintf(stderr, "suprsend-events import: out of memory\n");
            goto out;
        }
        suprsend_options_set_delivery_callback(opts, on_delivery, st);
        /* a short wait for a batch to fill: the queue is deep while a file is read */
        suprsend_options_set_flush_interval_ms(opts, 100);
    }
    int rc = suprsend_client_new(opts, &st->client);
    if (rc != SUPRSEND_OK) {
        fprintf(stderr, "suprsend-events import: cannot create the client: %s: %s\n", suprsend_status_name(rc), suprsend_last_error());
        goto out;
    }

    progress_start(&st->bar, stderr, count_lines(in), progress_interval, !quiet);
    if (!background && start_senders(st, (int)jobs) != 0) {
        fprintf(stderr, "suprsend-events import: cannot start the sender threads\n");
        goto out;
    }
    int read_error = 0;
    long long line_no = 0;
    ssize_t got_len;
    while ((got_len = getline(&line, &line_capacity, in)) >= 0) {
        line_no++;
        size_t len = (size_t)got_len;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        line[len] = '\0';
        size_t first = 0;
        while (first < len && is_space(line[first])) first++;
        if (first == len) {
            pthread_mutex_lock(&st->lock);
            st->blank++;
            pthread_mutex_unlock(&st->lock);
            continue;
        }
        pthread_mutex_lock(&st->lock);
        st->lines++;
        pthread_mutex_unlock(&st->lock);

        jl_event parsed;
        jl_error err;
        const char *nul = memchr(line, '\0', len);
        if (nul) {
            memset(&parsed, 0, sizeof parsed);
            err.column = (size_t)(nul - line) + 1;
            snprintf(err.message, sizeof err.message, "a NUL byte (not text)");
            bad_line(st, line_no, line, len, NULL, &err);
            continue;
        }
        if (jl_parse_event(line, len, &parsed, &err) != 0) {
            bad_line(st, line_no, line, len, &parsed, &err);
            jl_event_clear(&parsed);
            show_progress(st);
            continue;
        }

        if (!background && !filling) {
            filling = take_idle_job(st);
            if (!(filling->bulk = suprsend_bulk_new(st->client))) {
                fprintf(stderr, "suprsend-events import: %s\n", suprsend_last_error());
                jl_event_clear(&parsed);
                goto out;
            }
        }
        entry *e = background ? malloc(sizeof *e) : job_slot(filling);
        if (!e) {
            fprintf(stderr, "suprsend-events import: out of memory\n");
            exit(CLI_EXIT_USAGE);
        }
        suprsend_event *event = make_event(st, line_no, line, len, &parsed, e);
        jl_event_clear(&parsed);
        if (!event) {
            if (background) free(e);
            show_progress(st);
            continue;
        }
        pthread_mutex_lock(&st->lock);
        int stopped = st->stopped;
        pthread_mutex_unlock(&st->lock);
        if (stopped) {
            pthread_mutex_lock(&st->lock);
            event_failed_locked(st, e, 'u', "SUPRSEND_E_NETWORK", 0, st->stop_reason);
            pthread_mutex_unlock(&st->lock);
            entry_free(e);
            if (background) free(e);
            suprsend_event_free(event);
            show_progress(st);
            continue;
        }
        if (background) {
            pthread_mutex_lock(&st->lock);
            pending_add_locked(st, e);
            pthread_mutex_unlock(&st->lock);
            for (;;) {
                rc = suprsend_enqueue(st->client, event);
                if (rc != SUPRSEND_E_QUEUE_FULL) break;
                /* the worker is behind: wait for room */
                show_progress(st);
                struct timespec pause = { 0, 5 * 1000 * 1000 };
                nanosleep(&pause, NULL);
            }
            if (rc != SUPRSEND_OK) {
                pthread_mutex_lock(&st->lock);
                pending_remove_locked(st, e);
                event_failed_locked(st, e, rc == SUPRSEND_E_VALIDATION || rc == SUPRSEND_E_TOO_LARGE ? 'r' : 'u',
                                    suprsend_status_name(rc), 400, suprsend_last_error());
                pthread_mutex_unlock(&st->lock);
                entry_free(e);
                free(e);
            }
        } else {
            filling->count++;
            rc = suprsend_bulk_append(filling->bulk, event);
            if (rc != SUPRSEND_OK) {
                e->failed_at_append = 1;
                pthread_mutex_lock(&st->lock);
                event_failed_locked(st, e, 'r', suprsend_status_name(rc), 400, suprsend_last_error());
                pthread_mutex_unlock(&st->lock);
            }
            if ((long)filling->count >= batch_size) {
                submit_job(st, filling);
                filling = NULL;
            }
        }
        suprsend_event_free(event);
        show_progress(st);
    }
    if (ferror(in)) {
        read_error = errno ? errno : EIO;
        progress_clear(&st->bar);
        fprintf(stderr, "suprsend-events import: reading %s after line %lld: %s\n", st->input_name, line_no, strerror(read_error));
    }
    if (filling) {
        submit_job(st, filling);
        filling = NULL;
    }
    if (!background) stop_senders(st);
    if (background) {
        /* flush in short steps, to keep the progress moving */
        double deadline = cli_now() + flush_timeout;
        for (;;) {
            double left = deadline - cli_now();
            long step = left > 0.1 ? 100 : (long)(left * 1000);
            if (step <= 0) break;
            if (suprsend_flush(st->client, step) == SUPRSEND_OK) break;
            show_progress(st);
        }
        /* what is left now is reported as not delivered (SUPRSEND_E_CLOSED) by the callback */
        suprsend_client_close(st->client, 0);
        suprsend_client_free(st->client); /* close leaves the handle valid: free releases it */
        st->client = NULL;
    }

    double elapsed = cli_now() - st->bar.started;
    progress_clear(&st->bar);
    long long refused = st->refused_by_hub + st->refused_by_rules;
    long long not_ok = refused + st->undelivered + st->bad;
    if (!quiet) {
        char lines_text[32], accepted_text[32], rate_text[32];
        format_count(st->lines, lines_text, sizeof lines_text);
        format_count(st->accepted, accepted_text, sizeof accepted_text);
        double rate = elapsed > 0 ? (double)(st->accepted + st->refused_by_hub) / elapsed : 0;
        format_count((long long)(rate + 0.5), rate_text, sizeof rate_text);
        fprintf(stderr, "suprsend-events import: %s lines read: %s accepted, %lld refused", lines_text, accepted_text, refused);
        if (refused) fprintf(stderr, " (%lld by the hub, %lld before sending)", st->refused_by_hub, st->refused_by_rules);
        if (st->undelivered) fprintf(stderr, ", %lld not delivered", st->undelivered);
        fprintf(stderr, ", %lld bad lines; %.2f s, %s events/s\n", st->bad, elapsed, rate_text);
        if (not_ok && st->failed)
            fprintf(stderr, "suprsend-events import: what was not accepted is in %s (fix it and import it again)\n", st->failed_path);
        else if (not_ok)
            fprintf(stderr, "suprsend-events import: use --failed FILE to keep what was not accepted\n");
    }
    exit_status = not_ok ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    if (read_error) exit_status = CLI_EXIT_USAGE;

out:
    free(line);
    if (st->sender_count) stop_senders(st);
    if (st->jobs) {
        for (int i = 0; i < st->job_count; i++) {
            clear_job(&st->jobs[i]);
            free(st->jobs[i].entries);
        }
    }
    if (st->jobs) {
        pthread_cond_destroy(&st->job_ready);
        pthread_cond_destroy(&st->job_idle);
    }
    free(st->jobs);
    free(st->ready);
    free(st->idle);
    free(st->senders);
    if (st->client) {
        suprsend_client_close(st->client, 0);
        suprsend_client_free(st->client);
        st->client = NULL;
    }
    if (st->failed) {
        if (fclose(st->failed) != 0 && !st->failed_write_error) {
            fprintf(stderr, "suprsend-events import: --failed %s: %s\n", failed_path, strerror(errno));
            st->failed_write_error = 1;
        }
        if (st->failed_write_error && exit_status != CLI_EXIT_USAGE) exit_status = CLI_EXIT_USAGE;
    }
    if (st->pending) {
        for (size_t b = 0; b < PENDING_BUCKETS; b++) {
            for (entry *e = st->pending[b], *next; e; e = next) {
                next = e->next;
                entry_free(e);
                free(e);
            }
        }
        free(st->pending);
    }
    suprsend_options_free(opts);
    if (in && in != stdin) fclose(in);
    pthread_mutex_destroy(&st->lock);
    return exit_status;
}
