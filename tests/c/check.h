/*
 * check.h: the check harness of the C test programs (test_suprsend.c, test_background.c).
 *
 * Each check counts as passed or failed; a failed one (every one with g_verbose) prints one
 * line "FAIL file:line [section] expression: values". check_summary() prints the one line
 * "N passed, M failed" and gives the exit status (0 only when M == 0).
 *
 * Header-only: every function is static inline (unused ones cost nothing and do not warn), so
 * each program still compiles alone. Include it after <suprsend.h> and the libc headers.
 */
#ifndef SUPRSEND_TESTS_CHECK_H
#define SUPRSEND_TESTS_CHECK_H

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_passed, g_failed, g_verbose;
/* volatile: a program's watchdog (a signal handler) may print it */
static const char *volatile g_section = "";
/* A copy of suprsend_last_error() taken by the rc checks, before any other suprsend_* call. */
static char g_err[4096];

static inline void snap_err(void) {
    const char *e = suprsend_last_error();
    snprintf(g_err, sizeof g_err, "%s", e ? e : "(NULL)");
}

static inline void record(int ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        g_passed++;
        if (!g_verbose) return;
    } else {
        g_failed++;
    }
    va_list ap;
    va_start(ap, fmt);
    printf("%s %s:%d [%s] ", ok ? "ok  " : "FAIL", file, line, g_section);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static inline int check_true(int cond, const char *file, int line, const char *expr) {
    record(cond, file, line, "%s", expr);
    return cond;
}

static inline int check_int(long long got, long long want, const char *file, int line, const char *expr) {
    record(got == want, file, line, "%s: got %lld, expected %lld", expr, got, want);
    return got == want;
}

static inline int check_cmp(long long got, const char *op, long long bound, int ok, const char *file,
                            int line, const char *expr) {
    record(ok, file, line, "%s: got %lld, expected %s %lld", expr, got, op, bound);
    return ok;
}

static inline int check_str(const char *got, const char *want, const char *file, int line, const char *expr) {
    int ok = got && want && strcmp(got, want) == 0;
    if (!got && !want) ok = 1;
    record(ok, file, line, "%s: got \"%.300s\", expected \"%.300s\"", expr, got ? got : "(NULL)",
           want ? want : "(NULL)");
    return ok;
}

/* Case-insensitive substring search. */
static inline const char *str_icase_find(const char *hay, const char *needle) {
    if (!hay || !needle) return NULL;
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return hay;
    }
    return n == 0 ? hay : NULL;
}

static inline int check_contains(const char *hay, const char *needle, const char *file, int line,
                                 const char *expr) {
    int ok = str_icase_find(hay, needle) != NULL;
    record(ok, file, line, "%s: \"%.300s\" should contain \"%s\"", expr, hay ? hay : "(NULL)", needle);
    return ok;
}

/* Checks a status code; snapshots suprsend_last_error() first, so CHECK_ERR_HAS can look at it. */
static inline int check_rc(int got, int want, const char *file, int line, const char *expr) {
    snap_err();
    char gname[64], wname[64];
    snprintf(gname, sizeof gname, "%s", suprsend_status_name(got));
    snprintf(wname, sizeof wname, "%s", suprsend_status_name(want));
    record(got == want, file, line, "%s: got %d %s, expected %d %s (last error: \"%.400s\")", expr,
           got, gname, want, wname, g_err);
    return got == want;
}

#define CHECK(c) check_true(!!(c), __FILE__, __LINE__, #c)
#define CHECK_INT(a, b) check_int((long long)(a), (long long)(b), __FILE__, __LINE__, #a " == " #b)
#define CHECK_LE(a, b) \
    check_cmp((long long)(a), "<=", (long long)(b), (long long)(a) <= (long long)(b), __FILE__, __LINE__, #a)
#define CHECK_LT(a, b) \
    check_cmp((long long)(a), "<", (long long)(b), (long long)(a) < (long long)(b), __FILE__, __LINE__, #a)
#define CHECK_GE(a, b) \
    check_cmp((long long)(a), ">=", (long long)(b), (long long)(a) >= (long long)(b), __FILE__, __LINE__, #a)
#define CHECK_STR(a, b) check_str((a), (b), __FILE__, __LINE__, #a " == " #b)
#define CHECK_HAS(hay, needle) check_contains((hay), (needle), __FILE__, __LINE__, #hay)
#define CHECK_RC(call, want) check_rc((call), (want), __FILE__, __LINE__, #call)
/* After CHECK_RC (or snap_err()): the last error message mentions needle. */
#define CHECK_ERR_HAS(needle) check_contains(g_err, (needle), __FILE__, __LINE__, "suprsend_last_error()")

/* SUPRSEND_TEST_VERBOSE=1 (anything but empty or 0): every passing check is printed too. */
static inline void check_init(void) {
    const char *v = getenv("SUPRSEND_TEST_VERBOSE");
    g_verbose = v && *v && strcmp(v, "0") != 0;
}

/* Prints "N passed, M failed" (with `extra_failed` more failures, e.g. a fatal error that ends
 * the run) and returns the exit status: 0 only when nothing failed. */
static inline int check_summary(int extra_failed) {
    printf("%d passed, %d failed\n", g_passed, g_failed + extra_failed);
    return g_failed + extra_failed == 0 ? 0 : 1;
}

#endif
