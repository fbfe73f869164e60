/* hub_shim.c: see hub_shim.h. */
#include "hub_shim.h"

#include "../c/hub_client.h"

int shim_hub_init(const char *base_url) {
    g_hub_timeout_s = 30;
    return parse_base_url(base_url);
}

int shim_hub_post(const char *path, const char *body) { return hub_request("POST", path, body, NULL); }

long shim_hub_stat(const char *name) { return hub_stat(name); }

static jval *event_at(jval *events, long index) {
    return index < 0 ? NULL : jat(events, (size_t)index);
}

long shim_hub_event_count(void) {
    jval *events = hub_get("/_hub/events");
    long n = events && events->type == J_ARR ? (long)jlen(events) : -1;
    jfree(events);
    return n;
}

static int copy_out(const char *s, char *out, unsigned long size) {
    if (!s || size == 0) return 0;
    snprintf(out, size, "%s", s);
    return 1;
}

int shim_hub_event_string(long index, const char *path, char *out, unsigned long size) {
    jval *events = hub_get("/_hub/events");
    int ok = copy_out(jstr(jpath(event_at(events, index), path)), out, size);
    jfree(events);
    return ok;
}

long shim_hub_event_array_len(long index, const char *path) {
    jval *events = hub_get("/_hub/events");
    jval *array = jpath(event_at(events, index), path);
    long n = array && array->type == J_ARR ? (long)jlen(array) : -1;
    jfree(events);
    return n;
}

int shim_hub_event_array_string(long index, const char *path, long item, const char *field, char *out,
                                unsigned long size) {
    jval *events = hub_get("/_hub/events");
    jval *array = jpath(event_at(events, index), path);
    int ok = item >= 0 && copy_out(jstr(jget(jat(array, (size_t)item), field)), out, size);
    jfree(events);
    return ok;
}
