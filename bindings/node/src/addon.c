/*
 * suprsend_node: the Node-API addon over libsuprsend (bindings/node).
 *
 * Node-API only (NAPI_VERSION 8), so one build loads in Node 18 to 22. Nothing here blocks the
 * event loop on the network: single events and bulks go through suprsend_track_event_async and
 * suprsend_bulk_trigger_async; flush and close, which the C library only has as blocking calls,
 * run on a thread of their own. Every completion, and every delivery fate, comes back to the JS
 * thread through the client's one napi_threadsafe_function (no napi_async_work, no libuv pool).
 *
 * The JavaScript layer (index.js) shapes results and errors; this file only moves data.
 *
 * Lifetimes, per client (client_t):
 *  - the JS object wrapping it and its threadsafe function each hold the struct (holders); the
 *    last to go frees it;
 *  - while calls are in flight (calls > 0) the threadsafe function is ref'd, which keeps the
 *    event loop alive, and the JS object is held strongly, so that GC cannot free the client
 *    under a request; while enqueued events wait for their fate (queued > 0) only the object is
 *    held (the loop is not: index.js closes the client on 'beforeExit');
 *  - when the environment is torn down (process exit, a worker ending) a cleanup hook closes
 *    the client within its shutdown timeout and frees it; from then on no callback of the
 *    library reaches JS.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suprsend.h"

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                                */

#define CHECK_NAPI(env, call)                                                                  \
    do {                                                                                       \
        if ((call) != napi_ok) {                                                               \
            rethrow_napi(env, #call);                                                          \
            return NULL;                                                                       \
        }                                                                                      \
    } while (0)

typedef struct {
    napi_ref error_factory; /* (status, status_name, message) => Error, set by index.js */
} instance_t;

static void rethrow_napi(napi_env env, const char *what) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) return;
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    char buf[512];
    snprintf(buf, sizeof buf, "suprsend addon: %s failed: %s", what,
             info && info->error_message ? info->error_message : "unknown Node-API error");
    napi_throw_error(env, NULL, buf);
}

static char *dup_str(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

/* An Error for a library status, made by index.js's factory (a SuprsendError subclass). */
static napi_value make_error(napi_env env, int status, const char *message) {
    instance_t *inst = NULL;
    napi_value err = NULL, factory, args[3], undefined;
    napi_get_instance_data(env, (void **)&inst);
    napi_get_undefined(env, &undefined);
    napi_create_int32(env, status, &args[0]);
    napi_create_string_utf8(env, suprsend_status_name(status), NAPI_AUTO_LENGTH, &args[1]);
    napi_create_string_utf8(env, message && *message ? message : suprsend_status_name(status),
                            NAPI_AUTO_LENGTH, &args[2]);
    if (inst && inst->error_factory && napi_get_reference_value(env, inst->error_factory, &factory) == napi_ok &&
        factory && napi_call_function(env, undefined, factory, 3, args, &err) == napi_ok)
        return err;
    /* No factory (or it threw): a plain Error with the status. */
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
        napi_value ignored;
        napi_get_and_clear_last_exception(env, &ignored);
    }
    napi_create_error(env, args[1], args[2], &err);
    return err;
}

static napi_value throw_status(napi_env env, int status, const char *message) {
    napi_throw(env, make_error(env, status, message));
    return NULL;
}

static napi_value throw_type(napi_env env, const char *message) {
    napi_throw_type_error(env, NULL, message);
    return NULL;
}

/* A JS string as a malloc'd UTF-8 string (NULL, with a TypeError thrown, when it is not one). */
static char *get_string(napi_env env, napi_value v, const char *what) {
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
        char buf[160];
        snprintf(buf, sizeof buf, "%s must be a string", what);
        napi_throw_type_error(env, NULL, buf);
        return NULL;
    }
    size_t len = 0;
    napi_get_value_string_utf8(env, v, NULL, 0, &len);
    char *s = malloc(len + 1);
    if (!s) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    napi_get_value_string_utf8(env, v, s, len + 1, &len);
    if (strlen(s) != len) { /* a NUL inside: C would cut it there */
        free(s);
        char buf[160];
        snprintf(buf, sizeof buf, "%s must not contain a NUL character", what);
        napi_throw_type_error(env, NULL, buf);
        return NULL;
    }
    return s;
}

static napi_valuetype type_of(napi_env env, napi_value v);

/* As get_string, into buf when the text fits (most events: no malloc, and one pass over the
 * string instead of two); else into a malloc'd copy left in *heap for the caller to free. */
static const char *get_string_buf(napi_env env, napi_value v, const char *what, char *buf, size_t cap, char **heap) {
    *heap = NULL;
    size_t len = 0;
    if (type_of(env, v) != napi_string || napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok)
        return *heap = get_string(env, v, what); /* not a string: NULL, its TypeError thrown */
    /* Written whole when 4 bytes (the longest UTF-8 sequence) were still free: else the text may
     * have been cut, at a character's boundary. */
    if (len + 4 >= cap) return *heap = get_string(env, v, what);
    if (memchr(buf, 0, len)) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s must not contain a NUL character", what);
        napi_throw_type_error(env, NULL, msg);
        return NULL;
    }
    return buf;
}

static napi_valuetype type_of(napi_env env, napi_value v) {
    napi_valuetype t = napi_undefined;
    napi_typeof(env, v, &t);
    return t;
}

static void set_int(napi_env env, napi_value obj, const char *key, int64_t value) {
    napi_value v;
    napi_create_int64(env, value, &v);
    napi_set_named_property(env, obj, key, v);
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *value) {
    napi_value v;
    napi_create_string_utf8(env, value ? value : "", NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, obj, key, v);
}

/* ------------------------------------------------------------------------------------------ */
/* Clients                                                                                      */

enum { M_TRACK = 1, M_BULK, M_FLUSH, M_CLOSE, M_FATES };

typedef struct client_s client_t;

typedef struct {
    int kind;
    client_t *cl;
    napi_deferred deferred;
    int status;
    long timeout_ms;
    suprsend_response *resp;
    suprsend_bulk_response *bresp;
    char *message; /* flush/close: suprsend_last_error() of the thread that called */
} msg_t;

/* Delivery fates waiting for the JS thread, gathered by the library's worker (one callback per
 * event) and handed over in one threadsafe-function call per batch: the worker posts a wake-up
 * only when none is pending, and the JS thread takes every fate gathered by then. Per fate:
 * three ints (code, http_status, attempts) and five strings, each ended by its NUL (message,
 * insert_id, idempotency_key, event_name, distinct_id); C strings hold no NUL, so JS splits the
 * text at them. Without an on_delivery function only the count is kept. */
typedef struct {
    long count;
    int32_t *ints;
    size_t ints_cap; /* in ints */
    char *text;
    size_t text_len, text_cap;
} fates_t;

struct client_s {
    suprsend_client *c;
    napi_env env;
    napi_threadsafe_function tsfn;
    napi_ref self;        /* the wrapping object: weak (0) or strong (1) */
    napi_ref on_delivery; /* index.js's dispatcher, or NULL */
    int holders;          /* the JS object and the threadsafe function */
    long calls;           /* JS thread: completions still to come (track, bulk, flush, close) */
    long queued;          /* JS thread: enqueued events whose fate has not come back */
    int strong, tsfn_refd, freed, closed, hooked;
    long shutdown_timeout_ms;
    atomic_int tearing_down; /* set before the library is closed at teardown: callbacks return */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int threads; /* flush/close threads running */
    int want_fates;        /* on_delivery was given: keep each fate's fields (set before the worker starts) */
    pthread_mutex_t fmu;   /* guards fates and fates_posted */
    fates_t fates;         /* gathered, not yet taken by the JS thread */
    int fates_posted;      /* a wake-up (M_FATES) is queued and has not taken the fates yet */
    struct bulk_s *bulks;  /* JS thread: bulks not yet triggered nor finalized (freed before the client) */
};

/* A bulk being filled (BulkEvents in index.js): events are copied into the library's bulk as
 * they are appended, as a C caller does. The library's client must outlive the bulk, so the
 * client's teardown frees the bulks still listed; each holds the client_t struct (a holder).
 * JS thread only. */
typedef struct bulk_s {
    suprsend_bulk *b; /* NULL once triggered, or freed by the client's teardown */
    client_t *cl;
    struct bulk_s *prev, *next;
} bulk_t;

static void free_msg(msg_t *m) {
    if (!m) return;
    suprsend_response_free(m->resp);
    suprsend_bulk_response_free(m->bresp);
    free(m->message);
    free(m);
}

static void fates_free(fates_t *f) {
    free(f->ints);
    free(f->text);
    memset(f, 0, sizeof *f);
}

static void bulk_unlink(bulk_t *bk) {
    if (bk->b) suprsend_bulk_free(bk->b);
    bk->b = NULL;
    if (bk->prev) bk->prev->next = bk->next;
    else if (bk->cl->bulks == bk) bk->cl->bulks = bk->next;
    if (bk->next) bk->next->prev = bk->prev;
    bk->prev = bk->next = NULL;
}

static void release_holder(client_t *cl) {
    if (--cl->holders > 0) return;
    pthread_mutex_destroy(&cl->mu);
    pthread_cond_destroy(&cl->cv);
    pthread_mutex_destroy(&cl->fmu);
    fates_free(&cl->fates);
    free(cl);
}

/* JS thread: hold the object and the loop as the counters say. */
static void update_refs(napi_env env, client_t *cl) {
    int want_strong = !cl->freed && (cl->calls > 0 || cl->queued > 0);
    int want_loop = !cl->freed && cl->calls > 0;
    uint32_t n;
    if (want_strong && !cl->strong) {
        napi_reference_ref(env, cl->self, &n);
        cl->strong = 1;
    } else if (!want_strong && cl->strong) {
        napi_reference_unref(env, cl->self, &n);
        cl->strong = 0;
    }
    if (cl->freed) return;
    if (want_loop && !cl->tsfn_refd) {
        napi_ref_threadsafe_function(env, cl->tsfn);
        cl->tsfn_refd = 1;
    } else if (!want_loop && cl->tsfn_refd) {
        napi_unref_threadsafe_function(env, cl->tsfn);
        cl->tsfn_refd = 0;
    }
}

/* Any thread: hand a message to the JS thread (or drop it when the environment is going). */
static void post(client_t *cl, msg_t *m) {
    if (atomic_load(&cl->tearing_down) ||
        napi_call_threadsafe_function(cl->tsfn, m, napi_tsfn_nonblocking) != napi_ok)
        free_msg(m);
}

static void on_track_done(int status, suprsend_response *response, void *user_data) {
    msg_t *m = user_data;
    m->status = status;
    m->resp = response;
    post(m->cl, m);
}

static void on_bulk_done(int status, suprsend_bulk_response *response, void *user_data) {
    msg_t *m = user_data;
    m->status = status;
    m->bresp = response;
    post(m->cl, m);
}

/* Appends one fate's fields to f; 0 when out of memory (f unchanged). */
static int fates_add(fates_t *f, const suprsend_delivery *d) {
    const char *strs[5] = {suprsend_delivery_message(d), suprsend_delivery_insert_id(d),
                           suprsend_delivery_idempotency_key(d), suprsend_delivery_event_name(d),
                           suprsend_delivery_distinct_id(d)};
    size_t lens[5], need = 0;
    for (int i = 0; i < 5; i++) {
        if (!strs[i]) strs[i] = "";
        lens[i] = strlen(strs[i]);
        need += lens[i] + 1;
    }
    size_t n_ints = (size_t)(f->count + 1) * 3;
    if (n_ints > f->ints_cap) {
        size_t cap = f->ints_cap ? f->ints_cap * 2 : 3 * 64;
        int32_t *p = realloc(f->ints, cap * sizeof *p);
        if (!p) return 0;
        f->ints = p;
        f->ints_cap = cap;
    }
    if (f->text_len + need > f->text_cap) {
        size_t cap = f->text_cap ? f->text_cap * 2 : 8192;
        while (cap < f->text_len + need) cap *= 2;
        char *p = realloc(f->text, cap);
        if (!p) return 0;
        f->text = p;
        f->text_cap = cap;
    }
    int32_t *ints = f->ints + (size_t)f->count * 3;
    ints[0] = suprsend_delivery_status(d);
    ints[1] = suprsend_delivery_http_status(d);
    ints[2] = suprsend_delivery_attempts(d);
    for (int i = 0; i < 5; i++) {
        memcpy(f->text + f->text_len, strs[i], lens[i] + 1);
        f->text_len += lens[i] + 1;
    }
    f->count++;
    return 1;
}

/* The library's worker (or the thread closing the client): gathers the fate; wakes the JS thread
 * when no wake-up is pending. Posting before returning keeps the order flush relies on: the
 * wake-up is queued before flush's completion, and takes every fate gathered by then. */
static void on_delivery(const suprsend_delivery *d, void *user_data) {
    client_t *cl = user_data;
    if (atomic_load(&cl->tearing_down)) return;
    pthread_mutex_lock(&cl->fmu);
    if (cl->want_fates) {
        if (!fates_add(&cl->fates, d)) {
            pthread_mutex_unlock(&cl->fmu);
            return; /* out of memory: this fate cannot reach JS */
        }
    } else {
        cl->fates.count++;
    }
    int wake = !cl->fates_posted;
    cl->fates_posted = 1;
    pthread_mutex_unlock(&cl->fmu);
    if (!wake) return;
    msg_t *m = calloc(1, sizeof *m);
    if (!m) {
        pthread_mutex_lock(&cl->fmu);
        cl->fates_posted = 0; /* the next fate tries again */
        pthread_mutex_unlock(&cl->fmu);
        return;
    }
    m->kind = M_FATES;
    m->cl = cl;
    post(cl, m);
}

/* A track result for index.js: {status, status_code, message, body} (status: the C status). */
static napi_value track_result(napi_env env, msg_t *m) {
    napi_value obj;
    napi_create_object(env, &obj);
    set_int(env, obj, "status", m->status);
    set_str(env, obj, "status_name", suprsend_status_name(m->status));
    if (m->resp) {
        set_int(env, obj, "success", suprsend_response_success(m->resp));
        set_int(env, obj, "status_code", suprsend_response_status_code(m->resp));
        set_str(env, obj, "message", suprsend_response_message(m->resp));
        set_str(env, obj, "body", suprsend_response_body(m->resp));
    }
    return obj;
}

static napi_value bulk_result(napi_env env, msg_t *m) {
    napi_value obj;
    napi_create_object(env, &obj);
    set_int(env, obj, "code", m->status);
    set_str(env, obj, "status_name", suprsend_status_name(m->status));
    if (m->bresp) {
        set_str(env, obj, "status", suprsend_bulk_response_status(m->bresp));
        set_int(env, obj, "total", suprsend_bulk_response_total(m->bresp));
        set_int(env, obj, "success", suprsend_bulk_response_success(m->bresp));
        set_int(env, obj, "failure", suprsend_bulk_response_failure(m->bresp));
        set_str(env, obj, "failed_records_json", suprsend_bulk_response_failed_records_json(m->bresp));
    }
    return obj;
}

/* JS thread (or env NULL at teardown: only free what the message holds; cl may be gone). */
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
    (void)js_cb;
    (void)context;
    msg_t *m = data;
    if (!env) {
        free_msg(m);
        return;
    }
    client_t *cl = m->cl;
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value value;
    switch (m->kind) {
    case M_TRACK:
        cl->calls--;
        napi_resolve_deferred(env, m->deferred, track_result(env, m));
        break;
    case M_BULK:
        cl->calls--;
        napi_resolve_deferred(env, m->deferred, bulk_result(env, m));
        break;
    case M_FLUSH:
    case M_CLOSE:
        cl->calls--;
        if (m->kind == M_CLOSE) {
            cl->closed = 1;
            cl->queued = 0;
        }
        if (m->status == SUPRSEND_OK || m->status == SUPRSEND_E_TIMEOUT) {
            napi_get_boolean(env, m->status == SUPRSEND_OK, &value);
            napi_resolve_deferred(env, m->deferred, value);
        } else {
            napi_reject_deferred(env, m->deferred, make_error(env, m->status, m->message));
        }
        break;
    case M_FATES: {
        fates_t f;
        pthread_mutex_lock(&cl->fmu);
        f = cl->fates;
        memset(&cl->fates, 0, sizeof cl->fates);
        cl->fates_posted = 0;
        pthread_mutex_unlock(&cl->fmu);
        cl->queued = cl->queued > f.count ? cl->queued - f.count : 0;
        napi_value fn, args[3], buf, undefined, result;
        void *data = NULL;
        if (f.count > 0 && f.ints && cl->on_delivery &&
            napi_get_reference_value(env, cl->on_delivery, &fn) == napi_ok && fn &&
            napi_create_arraybuffer(env, (size_t)f.count * 3 * sizeof(int32_t), &data, &buf) == napi_ok) {
            memcpy(data, f.ints, (size_t)f.count * 3 * sizeof(int32_t));
            napi_create_typedarray(env, napi_int32_array, (size_t)f.count * 3, buf, 0, &args[0]);
            napi_create_string_utf8(env, f.text, f.text_len, &args[1]);
            napi_create_int64(env, f.count, &args[2]);
            napi_get_undefined(env, &undefined);
            /* index.js's dispatcher calls on_delivery once per fate and catches what it throws. */
            if (napi_call_function(env, undefined, fn, 3, args, &result) != napi_ok) {
                bool pending = false;
                napi_is_exception_pending(env, &pending);
                if (pending) napi_get_and_clear_last_exception(env, &result);
            }
        }
        fates_free(&f);
        break;
    }
    }
    update_refs(env, cl);
    napi_close_handle_scope(env, scope);
    free_msg(m);
}

/* Closes (when flush/close threads run) and frees the library's client. JS thread. */
static void teardown_client(client_t *cl) {
    if (cl->freed) return;
    atomic_store(&cl->tearing_down, 1);
    pthread_mutex_lock(&cl->mu);
    int threads = cl->threads;
    pthread_mutex_unlock(&cl->mu);
    if (threads > 0) suprsend_client_close(cl->c, cl->shutdown_timeout_ms); /* ends their waits */
    pthread_mutex_lock(&cl->mu);
    while (cl->threads > 0) pthread_cond_wait(&cl->cv, &cl->mu);
    pthread_mutex_unlock(&cl->mu);
    while (cl->bulks) bulk_unlink(cl->bulks); /* the client must outlive its bulks */
    suprsend_client_free(cl->c); /* closes within shutdown_timeout_ms when not closed */
    cl->c = NULL;
    cl->freed = 1;
    napi_release_threadsafe_function(cl->tsfn, napi_tsfn_abort);
}

/* The environment is going (process exit, a worker ending): the object's finalizer may never run. */
static void cleanup_hook(void *arg) {
    client_t *cl = arg;
    cl->hooked = 0;
    teardown_client(cl);
}

static void client_finalize(napi_env env, void *data, void *hint) {
    (void)hint;
    client_t *cl = data;
    if (cl->hooked) {
        napi_remove_env_cleanup_hook(env, cleanup_hook, cl);
        cl->hooked = 0;
    }
    teardown_client(cl);
    if (cl->self) {
        napi_delete_reference(env, cl->self);
        cl->self = NULL;
    }
    release_holder(cl);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
    (void)hint;
    client_t *cl = data;
    if (cl->on_delivery) {
        napi_delete_reference(env, cl->on_delivery);
        cl->on_delivery = NULL;
    }
    release_holder(cl);
}

static client_t *get_client(napi_env env, napi_value obj) {
    client_t *cl = NULL;
    if (type_of(env, obj) != napi_object || napi_unwrap(env, obj, (void **)&cl) != napi_ok || !cl) {
        napi_throw_type_error(env, NULL, "not a Suprsend client");
        return NULL;
    }
    if (cl->freed) {
        throw_status(env, SUPRSEND_E_CLOSED, "the client is closed");
        return NULL;
    }
    return cl;
}

/* Reads opts[key] as an integer option; returns 1 when present (a number), 0 when absent,
 * -1 with a TypeError thrown when it is something else. */
static int opt_long(napi_env env, napi_value opts, const char *key, long long *out) {
    bool has = false;
    napi_value v;
    if (napi_has_named_property(env, opts, key, &has) != napi_ok || !has) return 0;
    napi_get_named_property(env, opts, key, &v);
    napi_valuetype t = type_of(env, v);
    if (t == napi_undefined || t == napi_null) return 0;
    if (t == napi_boolean) {
        bool b;
        napi_get_value_bool(env, v, &b);
        *out = b;
        return 1;
    }
    double d;
    if (t != napi_number || napi_get_value_double(env, v, &d) != napi_ok || d != d || d > 9e18 || d < -9e18 ||
        (double)(long long)d != d) {
        char buf[160];
        snprintf(buf, sizeof buf, "option %s must be an integer", key);
        napi_throw_type_error(env, NULL, buf);
        return -1;
    }
    *out = (long long)d;
    return 1;
}

static int opt_string(napi_env env, napi_value opts, const char *key, char **out) {
    bool has = false;
    napi_value v;
    *out = NULL;
    if (napi_has_named_property(env, opts, key, &has) != napi_ok || !has) return 0;
    napi_get_named_property(env, opts, key, &v);
    napi_valuetype t = type_of(env, v);
    if (t == napi_undefined || t == napi_null) return 0;
    char what[96];
    snprintf(what, sizeof what, "option %s", key);
    *out = get_string(env, v, what);
    return *out ? 1 : -1;
}

/* newClient(key, secret, opts, onDelivery|null) => wrapped object */
static napi_value js_new_client(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4], this_obj;
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 3 || type_of(env, argv[2]) != napi_object) return throw_type(env, "newClient(key, secret, opts)");
    char *key = get_string(env, argv[0], "workspace_key");
    if (!key) return NULL;
    char *secret = get_string(env, argv[1], "workspace_secret");
    if (!secret) {
        free(key);
        return NULL;
    }
    suprsend_options *o = suprsend_options_new(key, secret);
    free(key);
    free(secret);
    if (!o) return throw_status(env, SUPRSEND_E_ARGUMENT, suprsend_last_error());

    napi_value opts = argv[2];
    int rc = SUPRSEND_OK;
    long shutdown_ms = 2000;
    static const struct {
        const char *name;
        int kind; /* 0 long, 1 int, 2 long long */
        void *fn;
    } ints[] = {
        {"timeout_ms", 0, (void *)suprsend_options_set_timeout_ms},
        {"call_timeout_ms", 0, (void *)suprsend_options_set_call_timeout_ms},
        {"connect_timeout_ms", 0, (void *)suprsend_options_set_connect_timeout_ms},
        {"max_retries", 1, (void *)suprsend_options_set_max_retries},
        {"max_event_bytes", 0, (void *)suprsend_options_set_max_event_bytes},
        {"auto_idempotency", 1, (void *)suprsend_options_set_auto_idempotency},
        {"max_connections", 0, (void *)suprsend_options_set_max_connections},
        {"outbox_power_safe", 1, (void *)suprsend_options_set_outbox_power_safe},
        {"queue_capacity", 0, (void *)suprsend_options_set_queue_capacity},
        {"outbox_max_bytes", 2, (void *)suprsend_options_set_outbox_max_bytes},
        {"outbox_busy_timeout_ms", 0, (void *)suprsend_options_set_outbox_busy_timeout_ms},
        {"flush_interval_ms", 0, (void *)suprsend_options_set_flush_interval_ms},
        {"max_event_age_s", 0, (void *)suprsend_options_set_max_event_age_s},
        {"shutdown_timeout_ms", 0, (void *)suprsend_options_set_shutdown_timeout_ms},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && rc == SUPRSEND_OK; i++) {
        long long v;
        int got = opt_long(env, opts, ints[i].name, &v);
        if (got < 0) {
            suprsend_options_free(o);
            return NULL;
        }
        if (!got) continue;
        if (ints[i].kind == 0)
            rc = ((int (*)(suprsend_options *, long))ints[i].fn)(o, (long)v);
        else if (ints[i].kind == 1)
            rc = ((int (*)(suprsend_options *, int))ints[i].fn)(o, (v > 2147483647LL || v < -2147483647LL) ? -1 : (int)v);
        else
            rc = ((int (*)(suprsend_options *, long long))ints[i].fn)(o, v);
        if (rc == SUPRSEND_OK && strcmp(ints[i].name, "shutdown_timeout_ms") == 0) shutdown_ms = (long)v;
    }
    static const struct {
        const char *name;
        int (*fn)(suprsend_options *, const char *);
    } strs[] = {
        {"base_url", suprsend_options_set_base_url},
        {"proxy", suprsend_options_set_proxy},
        {"ca_file", suprsend_options_set_ca_file},
        {"outbox_path", suprsend_options_set_outbox_path},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0] && rc == SUPRSEND_OK; i++) {
        char *s;
        int got = opt_string(env, opts, strs[i].name, &s);
        if (got < 0) {
            suprsend_options_free(o);
            return NULL;
        }
        if (got) rc = strs[i].fn(o, s);
        free(s);
    }
    if (rc != SUPRSEND_OK) {
        suprsend_options_free(o);
        return throw_status(env, rc, suprsend_last_error());
    }

    client_t *cl = calloc(1, sizeof *cl);
    if (!cl) {
        suprsend_options_free(o);
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&cl->mu, NULL);
    pthread_cond_init(&cl->cv, NULL);
    pthread_mutex_init(&cl->fmu, NULL);
    cl->want_fates = argc > 3 && type_of(env, argv[3]) == napi_function;
    cl->env = env;
    cl->shutdown_timeout_ms = shutdown_ms;
    atomic_init(&cl->tearing_down, 0);
    suprsend_options_set_delivery_callback(o, on_delivery, cl);

    rc = suprsend_client_new(o, &cl->c);
    suprsend_options_free(o);
    if (rc != SUPRSEND_OK) {
        napi_value err = make_error(env, rc, suprsend_last_error());
        pthread_mutex_destroy(&cl->mu);
        pthread_cond_destroy(&cl->cv);
        pthread_mutex_destroy(&cl->fmu);
        free(cl);
        napi_throw(env, err);
        return NULL;
    }
    if (argc > 3 && type_of(env, argv[3]) == napi_function) napi_create_reference(env, argv[3], 1, &cl->on_delivery);

    napi_value name;
    napi_create_string_utf8(env, "suprsend", NAPI_AUTO_LENGTH, &name);
    if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, cl, tsfn_finalize, cl, call_js, &cl->tsfn) !=
        napi_ok) {
        rethrow_napi(env, "napi_create_threadsafe_function");
        suprsend_client_free(cl->c);
        free(cl);
        return NULL;
    }
    napi_unref_threadsafe_function(env, cl->tsfn);
    cl->holders = 2;
    napi_create_object(env, &this_obj);
    napi_wrap(env, this_obj, cl, client_finalize, NULL, &cl->self);
    napi_add_env_cleanup_hook(env, cleanup_hook, cl);
    cl->hooked = 1;
    return this_obj;
}

/* ------------------------------------------------------------------------------------------ */
/* Events                                                                                       */

/* An event from index.js's spec: a JSON string, or [json, [[path, name|null, ignore], ...]].
 * Returns the status; on failure, with the error thrown (a TypeError or the library's). */
static int build_event(napi_env env, napi_value spec, suprsend_event **out) {
    *out = NULL;
    napi_value json_v = spec, atts = NULL;
    bool is_array = false;
    napi_is_array(env, spec, &is_array);
    if (is_array) {
        napi_get_element(env, spec, 0, &json_v);
        napi_get_element(env, spec, 1, &atts);
    }
    char buf[8192], *heap;
    const char *json = get_string_buf(env, json_v, "event", buf, sizeof buf, &heap);
    if (!json) return SUPRSEND_E_ARGUMENT;
    suprsend_event *ev = suprsend_event_new_json(json);
    free(heap);
    if (!ev) {
        throw_status(env, SUPRSEND_E_ARGUMENT, suprsend_last_error());
        return SUPRSEND_E_ARGUMENT;
    }
    uint32_t n = 0;
    bool atts_array = false;
    if (atts) napi_is_array(env, atts, &atts_array);
    if (atts_array) napi_get_array_length(env, atts, &n);
    for (uint32_t i = 0; i < n; i++) {
        napi_value a, pv, nv, iv;
        napi_get_element(env, atts, i, &a);
        napi_get_element(env, a, 0, &pv);
        napi_get_element(env, a, 1, &nv);
        napi_get_element(env, a, 2, &iv);
        char *path = get_string(env, pv, "file_path");
        if (!path) {
            suprsend_event_free(ev);
            return SUPRSEND_E_ARGUMENT;
        }
        char *fname = NULL;
        if (type_of(env, nv) == napi_string) {
            fname = get_string(env, nv, "file_name");
            if (!fname) {
                free(path);
                suprsend_event_free(ev);
                return SUPRSEND_E_ARGUMENT;
            }
        }
        bool ignore = false;
        napi_get_value_bool(env, iv, &ignore);
        int rc = suprsend_event_add_attachment(ev, path, fname, ignore ? 1 : 0);
        free(path);
        free(fname);
        if (rc != SUPRSEND_OK) {
            throw_status(env, rc, suprsend_last_error());
            suprsend_event_free(ev);
            return rc;
        }
    }
    *out = ev;
    return SUPRSEND_OK;
}

static void bulk_finalize(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    bulk_t *bk = data;
    client_t *cl = bk->cl;
    bulk_unlink(bk);
    free(bk);
    release_holder(cl);
}

/* bulkNew(client) => an external holding a new, empty bulk of the client's */
static napi_value js_bulk_new(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], ext;
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1) return throw_type(env, "bulkNew(client)");
    client_t *cl = get_client(env, argv[0]);
    if (!cl) return NULL;
    bulk_t *bk = calloc(1, sizeof *bk);
    if (!bk) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    bk->b = suprsend_bulk_new(cl->c);
    if (!bk->b) {
        free(bk);
        return throw_status(env, SUPRSEND_E_ARGUMENT, suprsend_last_error());
    }
    bk->cl = cl;
    if (napi_create_external(env, bk, bulk_finalize, NULL, &ext) != napi_ok) {
        suprsend_bulk_free(bk->b);
        free(bk);
        rethrow_napi(env, "napi_create_external");
        return NULL;
    }
    cl->holders++;
    bk->next = cl->bulks;
    if (cl->bulks) cl->bulks->prev = bk;
    cl->bulks = bk;
    return ext;
}

/* The bulk an external of bulkNew's holds (NULL with a TypeError, or SuprsendClosedError when
 * its client is gone, thrown). */
static bulk_t *bulk_of(napi_env env, napi_value v) {
    void *p = NULL;
    if (type_of(env, v) != napi_external || napi_get_value_external(env, v, &p) != napi_ok || !p) {
        napi_throw_type_error(env, NULL, "not a bulk");
        return NULL;
    }
    bulk_t *bk = p;
    if (!bk->b) {
        throw_status(env, bk->cl->freed ? SUPRSEND_E_CLOSED : SUPRSEND_E_ARGUMENT,
                     bk->cl->freed ? "the client is closed" : "bulk: already triggered; a bulk is sent once");
        return NULL;
    }
    return bk;
}

/* bulkAppend(bulk, [spec, ...]): every event is built first (attachments read now), then each is
 * copied into the bulk; one that cannot be built throws and none is appended. An invalid event
 * is kept as a failed record of the bulk's response, as the library does. */
static napi_value js_bulk_append(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 2) return throw_type(env, "bulkAppend(bulk, specs)");
    bulk_t *bk = bulk_of(env, argv[0]);
    if (!bk) return NULL;
    bool is_array = false;
    napi_is_array(env, argv[1], &is_array);
    if (!is_array) return throw_type(env, "specs must be an array");
    uint32_t n = 0;
    napi_get_array_length(env, argv[1], &n);
    suprsend_event *one[1], **evs = n <= 1 ? one : calloc(n, sizeof *evs);
    if (!evs) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    uint32_t built = 0;
    int rc = SUPRSEND_OK;
    for (; built < n; built++) {
        napi_value v;
        napi_get_element(env, argv[1], built, &v);
        if ((rc = build_event(env, v, &evs[built])) != SUPRSEND_OK) break;
    }
    for (uint32_t i = 0; i < built; i++) {
        if (rc == SUPRSEND_OK) {
            int arc = suprsend_bulk_append(bk->b, evs[i]);
            if (arc != SUPRSEND_OK && arc != SUPRSEND_E_VALIDATION && arc != SUPRSEND_E_TOO_LARGE) {
                rc = arc;
                throw_status(env, arc, suprsend_last_error());
            }
        }
        suprsend_event_free(evs[i]);
    }
    if (evs != one) free(evs);
    return NULL;
}

static msg_t *new_call(napi_env env, client_t *cl, int kind, napi_value *promise) {
    msg_t *m = calloc(1, sizeof *m);
    if (!m) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    m->kind = kind;
    m->cl = cl;
    if (napi_create_promise(env, &m->deferred, promise) != napi_ok) {
        free(m);
        rethrow_napi(env, "napi_create_promise");
        return NULL;
    }
    return m;
}

/* A call that did not start: its promise is never settled (index.js throws instead). */
static void drop_call(napi_env env, msg_t *m) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, m->deferred, undefined);
    free(m);
}

static void call_started(napi_env env, client_t *cl) {
    cl->calls++;
    update_refs(env, cl);
}

/* After an asynchronous C call: its promise when the library took it, else the call's record
 * dropped and the library's refusal thrown (the library never calls back then). */
static napi_value call_outcome(napi_env env, client_t *cl, msg_t *m, int rc, napi_value promise) {
    if (rc != SUPRSEND_OK) {
        napi_value err = make_error(env, rc, suprsend_last_error());
        drop_call(env, m);
        napi_throw(env, err);
        return NULL;
    }
    call_started(env, cl);
    return promise;
}

/* trackEvent(client, spec) => Promise of {status, status_name, success, status_code, message, body} */
static napi_value js_track_event(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], promise;
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 2) return throw_type(env, "trackEvent(client, event)");
    client_t *cl = get_client(env, argv[0]);
    if (!cl) return NULL;
    suprsend_event *ev;
    if (build_event(env, argv[1], &ev) != SUPRSEND_OK) return NULL;
    msg_t *m = new_call(env, cl, M_TRACK, &promise);
    if (!m) {
        suprsend_event_free(ev);
        return NULL;
    }
    int rc = suprsend_track_event_async(cl->c, ev, on_track_done, m);
    suprsend_event_free(ev);
    return call_outcome(env, cl, m, rc, promise);
}

/* bulkTrigger(client, bulk) => Promise of the bulk's outcome; the bulk is then spent */
static napi_value js_bulk_trigger(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], promise;
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 2) return throw_type(env, "bulkTrigger(client, bulk)");
    client_t *cl = get_client(env, argv[0]);
    if (!cl) return NULL;
    bulk_t *bk = bulk_of(env, argv[1]);
    if (!bk) return NULL;
    if (bk->cl != cl) return throw_type(env, "the bulk belongs to another client");
    msg_t *m = new_call(env, cl, M_BULK, &promise);
    if (!m) return NULL;
    int rc = suprsend_bulk_trigger_async(bk->b, on_bulk_done, m);
    bulk_unlink(bk); /* frees the library's bulk: the call holds what it needs */
    return call_outcome(env, cl, m, rc, promise);
}

/* enqueue(client, spec): synchronous; throws what the library refuses. */
static napi_value js_enqueue(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 2) return throw_type(env, "enqueue(client, event)");
    client_t *cl = get_client(env, argv[0]);
    if (!cl) return NULL;
    suprsend_event *ev;
    if (build_event(env, argv[1], &ev) != SUPRSEND_OK) return NULL;
    int rc = suprsend_enqueue(cl->c, ev);
    suprsend_event_free(ev);
    if (rc != SUPRSEND_OK) return throw_status(env, rc, suprsend_last_error());
    cl->queued++;
    update_refs(env, cl);
    return NULL;
}

static void *wait_thread(void *arg) {
    msg_t *m = arg;
    client_t *cl = m->cl;
    if (m->kind == M_FLUSH)
        m->status = suprsend_flush(cl->c, m->timeout_ms);
    else
        m->status = suprsend_client_close(cl->c, m->timeout_ms);
    if (m->status != SUPRSEND_OK) m->message = dup_str(suprsend_last_error());
    post(cl, m);
    pthread_mutex_lock(&cl->mu);
    cl->threads--;
    pthread_cond_broadcast(&cl->cv);
    pthread_mutex_unlock(&cl->mu);
    return NULL;
}

/* flush(client, timeout_ms) / close(client, timeout_ms) => Promise of true (done) or false (deadline) */
static napi_value start_wait(napi_env env, napi_callback_info info, int kind) {
    size_t argc = 2;
    napi_value argv[2], promise;
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 2) return throw_type(env, "flush/close(client, timeout_ms)");
    client_t *cl = get_client(env, argv[0]);
    if (!cl) return NULL;
    double t = -1;
    if (type_of(env, argv[1]) != napi_number || napi_get_value_double(env, argv[1], &t) != napi_ok || t != t)
        return throw_type(env, "timeout_ms must be a number");
    msg_t *m = new_call(env, cl, kind, &promise);
    if (!m) return NULL;
    m->timeout_ms = t < 0 ? -1 : (t > 3600000.0 * 24 ? 3600000L * 24 : (long)t);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    pthread_mutex_lock(&cl->mu);
    cl->threads++;
    pthread_mutex_unlock(&cl->mu);
    int err = pthread_create(&th, &attr, wait_thread, m);
    pthread_attr_destroy(&attr);
    if (err) {
        pthread_mutex_lock(&cl->mu);
        cl->threads--;
        pthread_mutex_unlock(&cl->mu);
        drop_call(env, m);
        napi_throw_error(env, NULL, "could not start a thread");
        return NULL;
    }
    call_started(env, cl);
    return promise;
}

/* closeSync(client, timeout_ms) => true/false: blocks the JS thread; only for process 'exit', when
 * the loop will never run again and an exit must still send what is queued (as the C library's
 * suprsend_client_free would, which process.exit() never reaches). */
static napi_value js_close_sync(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2], out;
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 2) return throw_type(env, "closeSync(client, timeout_ms)");
    client_t *cl = get_client(env, argv[0]);
    if (!cl) return NULL;
    double t = -1;
    if (type_of(env, argv[1]) != napi_number || napi_get_value_double(env, argv[1], &t) != napi_ok || t != t)
        return throw_type(env, "timeout_ms must be a number");
    int rc = suprsend_client_close(cl->c, t < 0 ? -1 : (t > 86400000.0 ? 86400000L : (long)t));
    cl->closed = 1;
    napi_get_boolean(env, rc == SUPRSEND_OK, &out);
    return out;
}

static napi_value js_flush(napi_env env, napi_callback_info info) { return start_wait(env, info, M_FLUSH); }
static napi_value js_close(napi_env env, napi_callback_info info) { return start_wait(env, info, M_CLOSE); }

/* stats(client) => {queued, in_flight, delivered, refused, dropped, retries, outbox_bytes} */
static napi_value js_stats(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], obj;
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1) return throw_type(env, "stats(client)");
    client_t *cl = get_client(env, argv[0]);
    if (!cl) return NULL;
    static const char *names[] = {"queued", "in_flight", "delivered", "refused", "dropped", "retries", "outbox_bytes"};
    napi_create_object(env, &obj);
    for (int i = 0; i < 7; i++) {
        long long v = 0;
        int rc = suprsend_client_stat(cl->c, i + 1, &v);
        if (rc != SUPRSEND_OK) return throw_status(env, rc, suprsend_last_error());
        set_int(env, obj, names[i], v);
    }
    return obj;
}

/* pending(client) => {calls, queued, closed}: the binding's own counters (for tests and beforeExit). */
static napi_value js_pending(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], obj;
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    client_t *cl = NULL;
    if (argc < 1 || type_of(env, argv[0]) != napi_object || napi_unwrap(env, argv[0], (void **)&cl) != napi_ok || !cl)
        return throw_type(env, "not a Suprsend client");
    napi_create_object(env, &obj);
    set_int(env, obj, "calls", cl->calls);
    set_int(env, obj, "queued", cl->queued);
    set_int(env, obj, "closed", cl->closed || cl->freed);
    return obj;
}

/* setErrorFactory(fn) */
static napi_value js_set_error_factory(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || type_of(env, argv[0]) != napi_function) return throw_type(env, "setErrorFactory(fn)");
    instance_t *inst = NULL;
    napi_get_instance_data(env, (void **)&inst);
    if (!inst) return NULL;
    if (inst->error_factory) napi_delete_reference(env, inst->error_factory);
    napi_create_reference(env, argv[0], 1, &inst->error_factory);
    return NULL;
}

/* statusName(code) */
static napi_value js_status_name(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1], out;
    int32_t code = -1;
    CHECK_NAPI(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc > 0) napi_get_value_int32(env, argv[0], &code);
    napi_create_string_utf8(env, suprsend_status_name(code), NAPI_AUTO_LENGTH, &out);
    return out;
}

static void instance_finalize(napi_env env, void *data, void *hint) {
    (void)hint;
    instance_t *inst = data;
    if (inst->error_factory) napi_delete_reference(env, inst->error_factory);
    free(inst);
}

/* Keeps libsuprsend and this addon loaded for the life of the process. Node dlclose()s an addon
 * that a worker thread loaded when the worker ends; when no other thread has it loaded,
 * libsuprsend would go with it, while the worker's thread still has to run the destructors of the
 * thread-local values the library's runtime made on it (they run when the thread exits, after the
 * unload: a crash). RTLD_NOLOAD|RTLD_NODELETE on an object already loaded only marks it. */
static void pin_loaded(const void *address) {
    Dl_info info;
    if (dladdr(address, &info) && info.dli_fname) (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

NAPI_MODULE_INIT() {
    pin_loaded((const void *)suprsend_version);
    pin_loaded((const void *)call_js);
    instance_t *inst = calloc(1, sizeof *inst);
    if (!inst || napi_set_instance_data(env, inst, instance_finalize, NULL) != napi_ok) {
        free(inst);
        napi_throw_error(env, NULL, "suprsend addon: could not set its instance data");
        return NULL;
    }
    napi_property_descriptor props[] = {
        {"newClient", NULL, js_new_client, NULL, NULL, NULL, napi_default, NULL},
        {"bulkNew", NULL, js_bulk_new, NULL, NULL, NULL, napi_default, NULL},
        {"bulkAppend", NULL, js_bulk_append, NULL, NULL, NULL, napi_default, NULL},
        {"trackEvent", NULL, js_track_event, NULL, NULL, NULL, napi_default, NULL},
        {"bulkTrigger", NULL, js_bulk_trigger, NULL, NULL, NULL, napi_default, NULL},
        {"enqueue", NULL, js_enqueue, NULL, NULL, NULL, napi_default, NULL},
        {"flush", NULL, js_flush, NULL, NULL, NULL, napi_default, NULL},
        {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
        {"closeSync", NULL, js_close_sync, NULL, NULL, NULL, napi_default, NULL},
        {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
        {"pending", NULL, js_pending, NULL, NULL, NULL, napi_default, NULL},
        {"setErrorFactory", NULL, js_set_error_factory, NULL, NULL, NULL, napi_default, NULL},
        {"statusName", NULL, js_status_name, NULL, NULL, NULL, napi_default, NULL},
    };
    napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
    napi_value v;
    napi_create_string_utf8(env, suprsend_version(), NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, exports, "libraryVersion", v);
    return exports;
}
