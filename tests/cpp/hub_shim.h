/*
 * hub_shim.h: the local hub's control API for the C++ tests, as a few C functions. They are
 * built in C (hub_shim.c) on top of the C tests' tests/c/hub_client.h, which is C only.
 */
#ifndef SUPRSEND_TESTS_HUB_SHIM_H
#define SUPRSEND_TESTS_HUB_SHIM_H

#ifdef __cplusplus
extern "C" {
#endif

/* Points the functions below at the hub of base_url ("http://127.0.0.1:PORT/"); 0 on failure. */
int shim_hub_init(const char *base_url);
/* POST path with a JSON body; the HTTP status, or -1 when the hub did not answer. */
int shim_hub_post(const char *path, const char *body);
/* One number of GET /_hub/stats; -1 when it cannot be read. */
long shim_hub_stat(const char *name);
/* The number of accepted events (GET /_hub/events); -1 when it cannot be read. */
long shim_hub_event_count(void);
/* A string of the index-th accepted event at a dotted path ("properties.first_name"), copied
 * into out (at most size bytes, NUL included); 0 when there is none. */
int shim_hub_event_string(long index, const char *path, char *out, unsigned long size);
/* The length of an array of the index-th accepted event at a dotted path; -1 when none. */
long shim_hub_event_array_len(long index, const char *path);
/* A string field of the item-th element of that array; 0 when there is none. */
int shim_hub_event_array_string(long index, const char *path, long item, const char *field, char *out,
                                unsigned long size);

#ifdef __cplusplus
}
#endif

#endif
