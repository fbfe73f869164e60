/* Shared by the libFuzzer harnesses in fuzz/ (see fuzz/run.sh and README "Fuzzing and sanitizers"). */
#ifndef SUPRSEND_FUZZ_H
#define SUPRSEND_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A NUL-terminated copy of size bytes (a C string ends at the first NUL inside). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    text[size] = 0;
    return text;
}

/* Stops the run with a message when a harness's invariant fails. */
#define FUZZ_CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "fuzz invariant: " __VA_ARGS__); fputc('\n', stderr); abort(); } } while (0)

/* Internal parsers of the core, reached through Sources/SuprSendCore/Support/FuzzEntryPoints.swift
 * (exported by the instrumented build only). 0, or the number of the invariant that failed. */
int suprsendcore_fuzz_bulk_answer(const uint8_t *data, size_t size);
int suprsendcore_fuzz_single_answer(const uint8_t *data, size_t size);
int suprsendcore_fuzz_http_date(const uint8_t *data, size_t size);
int suprsendcore_fuzz_retry_after(const uint8_t *data, size_t size);
#endif
