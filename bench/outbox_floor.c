/*
 * outbox_floor.c: the least a durable enqueue can spend on this machine and disk.
 *
 * Does with SQLite alone what each suprsend_enqueue does to the outbox: one write transaction
 * (BEGIN IMMEDIATE .. COMMIT) inserting one event row, on a file with the outbox's settings
 * (WAL, synchronous=NORMAL or FULL, the default autocheckpoint), its schema 2 tables and its
 * INSERT statement, prepared once. The event JSON is built before the timed loop. Nothing is
 * validated, serialized, signed or sent, and no worker reads the file: what is left is SQLite
 * and the kernel, the floor under any outbox that commits each event before returning.
 *
 *   outbox_floor PATH N POWER_SAFE   -> one JSON line of figures on stdout (PATH is removed
 *                                       before and after)
 *
 * Build: cc -O2 -o outbox_floor outbox_floor.c $(pkg-config --cflags --libs sqlite3)
 */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "measure.h"

static sqlite3 *db;

static void die(const char *what) {
    fprintf(stderr, "outbox_floor: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no database");
    exit(2);
}

static void exec(const char *sql) {
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) die(sql);
}

static sqlite3_stmt *prepare(const char *sql) {
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, NULL) != SQLITE_OK) die(sql);
    return statement;
}

static void step_done(sqlite3_stmt *statement, const char *what) {
    if (sqlite3_step(statement) != SQLITE_DONE) die(what);
    sqlite3_reset(statement);
}

static void remove_file(const char *path) {
    char name[4200];
    unlink(path);
    snprintf(name, sizeof name, "%s-wal", path);
    unlink(name);
    snprintf(name, sizeof name, "%s-shm", path);
    unlink(name);
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: outbox_floor PATH N POWER_SAFE\n");
        return 2;
    }
    const char *path = argv[1];
    long n = atol(argv[2]);
    int power_safe = atoi(argv[3]);
    if (n <= 0) return 2;
    remove_file(path);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        die("open");
    sqlite3_busy_timeout(db, 10000);
    exec("PRAGMA journal_mode=WAL");
    exec(power_safe ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    /* Sources/SuprSendCore/Delivery/Background/Outbox.swift, schema 2 */
    exec("CREATE TABLE events(id INTEGER PRIMARY KEY, enqueued_at INTEGER NOT NULL, attempts INTEGER NOT NULL "
         "DEFAULT 0, lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0, insert_id TEXT NOT NULL, "
         "idempotency_key TEXT NOT NULL, name TEXT NOT NULL, distinct_id TEXT NOT NULL, json BLOB NOT NULL)");
    exec("CREATE TABLE outbox_state(high_water INTEGER NOT NULL)");
    exec("INSERT INTO outbox_state(high_water) VALUES (0)");
    sqlite3_stmt *begin = prepare("BEGIN IMMEDIATE");
    sqlite3_stmt *commit = prepare("COMMIT");
    sqlite3_stmt *insert = prepare(
        "INSERT INTO events(id, enqueued_at, insert_id, idempotency_key, name, distinct_id, json) "
        "VALUES ((SELECT max(high_water, ifnull((SELECT max(id) FROM events), 0)) + 1 FROM outbox_state), "
        "?1, ?2, ?3, ?4, ?5, ?6)");

    /* The event c_bench enqueues, as the library writes it (ids and time vary per event there;
     * here the bytes are fixed, which changes nothing for SQLite). */
    const char *insert_id = "0d9ac3a0-5b1e-4c8f-9a27-3f6e1c2b7d40";
    const char *json =
        "{\"$insert_id\":\"0d9ac3a0-5b1e-4c8f-9a27-3f6e1c2b7d40\",\"$time\":1795805094691,"
        "\"event\":\"product_purchased\",\"env\":\"bench_workspace_key_0123456789\",\"distinct_id\":\"user_12345\","
        "\"properties\":{\"first_name\":\"User\",\"order_id\":\"ord_12345\",\"amount\":1299.5,\"currency\":\"INR\","
        "\"items\":[{\"sku\":\"sku_1\",\"qty\":2},{\"sku\":\"sku_2\",\"qty\":1}],\"is_first_order\":false,"
        "\"$ss_sdk_version\":\"suprsend-c/0.1.0 (linux; swift)\"},"
        "\"$idempotency_key\":\"0d9ac3a0-5b1e-4c8f-9a27-3f6e1c2b7d40\"}";
    int json_len = (int)strlen(json);

    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now_s(), c0 = thread_cpu_s();
    long ok = 0;
    for (long i = 0; i < n; i++) {
        step_done(begin, "BEGIN IMMEDIATE");
        sqlite3_bind_int64(insert, 1, 1795805094691LL + i);
        sqlite3_bind_text(insert, 2, insert_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 3, insert_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 4, "product_purchased", -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 5, "user_12345", -1, SQLITE_STATIC);
        sqlite3_bind_blob(insert, 6, json, json_len, SQLITE_STATIC);
        step_done(insert, "INSERT");
        step_done(commit, "COMMIT");
        ok++;
    }
    double wall = now_s() - t0, thread_cpu = thread_cpu_s() - c0;
    getrusage(RUSAGE_SELF, &r1);
    double user = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
    double sys = (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_finalize(insert);
    sqlite3_close(db);
    remove_file(path);
    printf("{\"events\":%ld,\"ok\":%ld,\"failed\":%ld,\"threads\":1,\"wall_s\":%.6f,\"cpu_user_s\":%.6f,"
           "\"cpu_sys_s\":%.6f,\"maxrss_kb\":%ld,\"peak_rss_kb\":%ld,\"mode\":\"enqueue\",\"outbox\":true,"
           "\"power_safe\":%d,\"enqueue_wall_s\":%.6f,\"enqueue_thread_cpu_s\":%.6f,\"enqueue_process_cpu_s\":%.6f,"
           "\"sqlite\":\"%s\",\"error\":\"\"}\n",
           n, ok, n - ok, wall, user, sys, peak_rss_kb(), peak_rss_kb(), power_safe, wall, thread_cpu, user + sys,
           sqlite3_libversion());
    return 0;
}
