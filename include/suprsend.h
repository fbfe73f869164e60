/*
 * suprsend.h: send and track events with SuprSend, from C and anything that speaks C.
 *
 * This header is the whole public interface of libsuprsend. It is written by hand and
 * is the single source of truth: the library is checked against it at compile time.
 *
 * A minimal program:
 *
 *     suprsend_options *opts = suprsend_options_new("WORKSPACE_KEY", "WORKSPACE_SECRET");
 *     suprsend_client *client = NULL;
 *     if (suprsend_client_new(opts, &client) != SUPRSEND_OK) { ...suprsend_last_error()... }
 *     suprsend_options_free(opts);                      // the client keeps its own copy
 *
 *     suprsend_event *ev = suprsend_event_new("user_1", "product_purchased");
 *     suprsend_event_set_properties_json(ev, "{\"first_name\":\"User\",\"spend\":10}");
 *
 *     suprsend_response *resp = NULL;
 *     int rc = suprsend_track_event(client, ev, &resp);
 *     if (rc != SUPRSEND_OK) fprintf(stderr, "%s: %s\n", suprsend_status_name(rc), suprsend_last_error());
 *     suprsend_response_free(resp);
 *     suprsend_event_free(ev);
 *     suprsend_client_free(client);
 *
 * Conventions
 *  - Every function that can fail returns an int status: SUPRSEND_OK (0) or one of the codes
 *    below. suprsend_last_error() then tells what went wrong, in words, on this thread.
 *  - Ownership is stated on each function. Every _new has a _free, and _free(NULL) does
 *    nothing. Strings passed in are copied: the caller keeps ownership. Strings returned by
 *    getters belong to the object they came from and live until that object is freed.
 *  - No call aborts the process on bad input: NULL pointers, a handle of another kind (an
 *    event where a client is expected), invalid UTF-8, malformed JSON and absurd sizes are
 *    reported with a status and a message. (A pointer that is no handle at all, or one
 *    already freed, cannot be detected.)
 *  - Thread safety: a suprsend_client may be used from many threads at once. An options,
 *    event, bulk or response object is used by one thread at a time.
 *  - All text is UTF-8.
 */
#ifndef SUPRSEND_H
#define SUPRSEND_H

#include <stddef.h> /* size_t */

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------------- */

#define SUPRSEND_VERSION_MAJOR 0
#define SUPRSEND_VERSION_MINOR 1
#define SUPRSEND_VERSION_PATCH 0
#define SUPRSEND_VERSION_STRING "0.1.0"
/* MAJOR * 1000000 + MINOR * 1000 + PATCH, comparable with suprsend_version_number(). */
#define SUPRSEND_VERSION_NUMBER 1000

/* The version of the library loaded at run time, which may be newer than this header.
 * The string is static: never free it. */
const char *suprsend_version(void);
int suprsend_version_number(void);

/* ---------------------------------------------------------------------------------------
 * Status codes. Append-only: a value is never renumbered or reused.
 * ------------------------------------------------------------------------------------- */

#define SUPRSEND_OK            0  /* done */
#define SUPRSEND_E_ARGUMENT    1  /* NULL handle or string, invalid UTF-8, malformed JSON, bad option value */
#define SUPRSEND_E_VALIDATION  2  /* the event breaks a rule of the protocol (names, keys, tenant, ...) */
#define SUPRSEND_E_TOO_LARGE   3  /* the event or a request body is over its size limit */
#define SUPRSEND_E_ATTACHMENT  4  /* a local attachment could not be read */
#define SUPRSEND_E_NETWORK     5  /* the hub could not be reached, or did not answer in time */
#define SUPRSEND_E_HTTP        6  /* the hub answered with an error status (see the response) */
#define SUPRSEND_E_TIMEOUT     7  /* a flush or close deadline passed; an event expired (background delivery) */
#define SUPRSEND_E_QUEUE_FULL  8  /* the background queue is full (background delivery) */
#define SUPRSEND_E_STORAGE     9  /* the durable outbox failed (background delivery) */
#define SUPRSEND_E_CLOSED     10  /* the client is closing or closed */
#define SUPRSEND_E_INTERNAL   99  /* a bug in the library: please report it */

/* The name of a status code, e.g. "SUPRSEND_E_VALIDATION"; "SUPRSEND_E_UNKNOWN" for a value
 * that is not a code. The string is static: never free it. */
const char *suprsend_status_name(int status);

/* A human-readable message about the last call on this thread that failed, e.g.
 * "event name: must not start with '$' or 'ss_' ('$purchase')". Never NULL ("" when there
 * is nothing to tell). Owned by the library; valid until the next suprsend_* call on this
 * thread. A call that succeeds may leave the previous message in place. */
const char *suprsend_last_error(void);

/* ---------------------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------------------- */

/* Levels, with the same numbers as Python's logging module. */
#define SUPRSEND_LOG_DEBUG   10  /* each request and response line; Authorization is redacted */
#define SUPRSEND_LOG_INFO    20
#define SUPRSEND_LOG_WARNING 30  /* retries, skipped attachments */
#define SUPRSEND_LOG_ERROR   40

/* Receives one preformatted line (no trailing newline) at a time. Called on the thread
 * that made the request, possibly from many threads at once; the message is valid only
 * during the call. It must not call back into the same client. */
typedef void (*suprsend_log_fn)(int level, const char *message, void *user_data);

/* ---------------------------------------------------------------------------------------
 * Options and client
 * ------------------------------------------------------------------------------------- */

typedef struct suprsend_options suprsend_options;
typedef struct suprsend_client  suprsend_client;

/* Options for a client, with the workspace's key and secret (both copied). Returns NULL,
 * with suprsend_last_error() set, when either is NULL, empty or not valid UTF-8.
 * Free with suprsend_options_free(). */
suprsend_options *suprsend_options_new(const char *workspace_key, const char *workspace_secret);

/* The hub's base URL; default "https://hub.suprsend.com/". http:// or https:// only, with a
 * host and, if any, a port from 1 to 65535. It may carry a path of at most 1024 bytes
 * ("http://127.0.0.1:8080/proxy/"); a missing final '/' is added. */
int suprsend_options_set_base_url(suprsend_options *opts, const char *url);

/* Time allowed for one whole HTTP attempt, in ms; default 30000. Range 1..3600000. */
int suprsend_options_set_timeout_ms(suprsend_options *opts, long ms);

/* Time allowed for one whole suprsend_track_event or suprsend_bulk_trigger, in ms, attempts,
 * retries and waits between them included; default 120000. Range 1..3600000. No attempt or
 * wait starts after it, an attempt gets at most what is left, and a Retry-After longer than
 * what is left ends the call at once (with the hub's answer, SUPRSEND_E_HTTP). Chunks of a
 * bulk not sent by then fail with SUPRSEND_E_NETWORK. */
int suprsend_options_set_call_timeout_ms(suprsend_options *opts, long ms);

/* Time allowed to connect, in ms; default 10000. Range 1..3600000. */
int suprsend_options_set_connect_timeout_ms(suprsend_options *opts, long ms);

/* A proxy URL, as libcurl understands it ("http://proxy:3128", "socks5h://..."): the scheme
 * must be http, https, socks4, socks4a, socks5 or socks5h (none means http), else
 * SUPRSEND_E_ARGUMENT. NULL or "" removes it (libcurl's own environment variables, such as
 * https_proxy, still apply). */
int suprsend_options_set_proxy(suprsend_options *opts, const char *url);

/* A PEM file of CA certificates to trust instead of the system's: SUPRSEND_E_ARGUMENT when
 * it is not a regular file this process can open now. NULL or "" restores the default. TLS
 * peer verification is always on; there is no way to turn it off. */
int suprsend_options_set_ca_file(suprsend_options *opts, const char *path);

/* Retries after a failed attempt that may succeed later (could not connect, timeout,
 * 408, 429, 500, 502, 503, 504); default 3, 0 = none, at most 20. Waits grow exponentially
 * with full jitter (0.5 s base, 30 s cap); a Retry-After header sets the least wait (at
 * most 60 s). Every attempt is signed anew and carries the same $insert_id and
 * idempotency key, so the hub can drop a duplicate. An event without a key (auto
 * idempotency off, none set) is retried only when the hub certainly did not process it
 * (could not connect, 408, 429, 503); a failure after the request went out (no answer, an
 * answer cut off, 500, 502, 504) is returned at once, since a retry could notify twice. */
int suprsend_options_set_max_retries(suprsend_options *opts, int n);

/* The largest serialized event accepted, in bytes; default 102400 (100 KiB, as SuprSend's
 * documentation says), at most 819200 (800 KiB). At least 1024. */
int suprsend_options_set_max_event_bytes(suprsend_options *opts, long bytes);

/* With on != 0 (the default) an event sent without an idempotency key carries its $insert_id
 * (a UUID v4, new for each send) as its key, so that the library's retries of that send can
 * never be processed twice. With 0, no key is sent unless the caller set one, and an event
 * without one is not sent again after a failure the hub may have processed it through
 * (see suprsend_options_set_max_retries): suprsend_track_event returns SUPRSEND_E_NETWORK
 * or SUPRSEND_E_HTTP, and whether it was delivered is unknown. */
int suprsend_options_set_auto_idempotency(suprsend_options *opts, int on);

/* Where log lines go: fn receives every line at min_level or above. fn NULL turns logging
 * off (the default). */
int suprsend_options_set_log(suprsend_options *opts, int min_level, suprsend_log_fn fn, void *user_data);

void suprsend_options_free(suprsend_options *opts);

/* A client for one workspace. Copies opts, which the caller may free at once. On success
 * *out holds the client, to be freed with suprsend_client_free(); on failure *out is NULL.
 * A client reuses its connections and may be shared by many threads. Returns
 * SUPRSEND_E_NETWORK when the libcurl loaded is older than 7.85.0, the oldest the library
 * works with ("libcurl X found; libsuprsend needs 7.85.0 or newer"). */
int suprsend_client_new(const suprsend_options *opts, suprsend_client **out);

/* Frees the client. No other thread may be using it. When suprsend_client_close was not
 * called, it closes first with shutdown_timeout_ms: queued events get that long. */
void suprsend_client_free(suprsend_client *client);

/* ---------------------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------------------- */

typedef struct suprsend_event suprsend_event;

/* A new event for the user distinct_id, named event_name (both copied). Returns NULL, with
 * suprsend_last_error() set, only when an argument is NULL or not valid UTF-8: the content
 * rules (empty, reserved names) are checked when the event is sent or appended, so that a
 * bulk can report the event as a failed record. Free with suprsend_event_free(). */
suprsend_event *suprsend_event_new(const char *distinct_id, const char *event_name);

/* A new event from the text of one JSON object holding all of it, for bindings that would
 * otherwise make a call per field:
 *
 *   {"distinct_id": "user_1", "event": "product_purchased", "properties": {"amount": 10},
 *    "$idempotency_key": "order-1234", "tenant_id": "acme", "brand_id": "acme_brand"}
 *
 * "distinct_id" and "event" are required strings; "properties" is an object (or null),
 * "$idempotency_key", "tenant_id" and "brand_id" strings (or null); no other key is accepted. Each field
 * is taken as suprsend_event_new() and the setters below take it, with their messages (the
 * byte offsets in a properties error count from its '{'); a string may not hold a NUL
 * (\u0000). Returns NULL, with suprsend_last_error() set, when json is NULL or not such an
 * object. The content rules are checked when the event is sent or appended, as for
 * suprsend_event_new(). Free with suprsend_event_free(). */
suprsend_event *suprsend_event_new_json(const char *event_json);

/* The event's properties, as the text of one JSON object (RFC 8259, UTF-8, nesting at most
 * 64 deep). Replaces earlier properties. The text is validated now and later sent as given,
 * without reordering or re-escaping. NULL or "" means no properties. Returns
 * SUPRSEND_E_ARGUMENT, and keeps the earlier properties, when the text is not a JSON object. */
int suprsend_event_set_properties_json(suprsend_event *event, const char *json_object);

/* The idempotency key: the hub processes only the first event with a given key in 24 hours.
 * Trimmed; at most 255 characters. NULL or "" removes it. */
int suprsend_event_set_idempotency_key(suprsend_event *event, const char *key);

/* The tenant the event belongs to: at most 64 characters of A-Z a-z 0-9 _ -. NULL or ""
 * removes it. */
int suprsend_event_set_tenant_id(suprsend_event *event, const char *tenant_id);

/* The brand the event is sent for, as the top-level "brand_id" beside "tenant_id" (the
 * official SDKs send both when given both): at most 64 characters of A-Z a-z 0-9 _ -.
 * NULL or "" removes it. */
int suprsend_event_set_brand_id(suprsend_event *event, const char *brand_id);

/* Adds an attachment (for email). path_or_url is either an http:// or https:// URL with a
 * host, which the hub downloads, or a local file ("~/" is expanded), which is read now, once,
 * and sent inline (base64). Its content type comes from the extension of the file name (as
 * Python's mimetypes, for the common types), else from its first bytes, else text/plain for
 * text and application/octet-stream. file_name (trimmed) NULL or blank
 * means the file's base name for a local file, and no name (JSON null: the hub names the
 * download) for a URL. With ignore_if_error != 0 a file that cannot be
 * read, or is empty, is skipped (the call returns SUPRSEND_OK and a warning is logged when
 * the event is sent), and the hub goes on without a URL it cannot download; with 0 it returns
 * SUPRSEND_E_ATTACHMENT. An attachment that would take the event past what any event can
 * carry (819200 bytes serialized, base64 included) returns SUPRSEND_E_TOO_LARGE and is not
 * kept; the client's max_event_bytes is checked when the event is sent. */
int suprsend_event_add_attachment(suprsend_event *event, const char *path_or_url,
                                  const char *file_name, int ignore_if_error);

/* Adds an inline attachment from size bytes at data (copied now), for content that is in
 * memory or that the caller has read itself. file_name is required (trimmed, not blank).
 * content_type NULL or "" means found from file_name's extension, else from the bytes, as
 * for a local file. ignore_if_error is sent with the attachment for the hub. Returns
 * SUPRSEND_E_ARGUMENT for NULL or empty data or a missing name, SUPRSEND_E_TOO_LARGE as
 * suprsend_event_add_attachment. */
int suprsend_event_add_attachment_data(suprsend_event *event, const void *data, size_t size,
                                       const char *file_name, const char *content_type,
                                       int ignore_if_error);

void suprsend_event_free(suprsend_event *event);

/* ---------------------------------------------------------------------------------------
 * Sending one event
 * ------------------------------------------------------------------------------------- */

typedef struct suprsend_response suprsend_response;

/* Validates the event and sends it, retrying as set in the options; blocks until done.
 * Returns SUPRSEND_OK only when the hub accepted the event. Otherwise:
 *  - SUPRSEND_E_ARGUMENT, _VALIDATION, _TOO_LARGE: nothing was sent, *out is NULL;
 *  - SUPRSEND_E_HTTP: the hub refused it; SUPRSEND_E_NETWORK: no answer after all tries.
 * Whenever a request was made, *out (if out is not NULL) receives a response to be freed
 * with suprsend_response_free(), also on failure. The event is not changed and may be sent
 * again: each send is a new occurrence with a new $insert_id (the library's own retries of
 * one send keep theirs). To make a second send a repeat the hub drops, give the event an
 * idempotency key. */
int suprsend_track_event(suprsend_client *client, const suprsend_event *event, suprsend_response **out);

/* 1 when the hub accepted the event, else 0. */
int suprsend_response_success(const suprsend_response *response);
/* The HTTP status of the last attempt, or 0 when no answer came. */
int suprsend_response_status_code(const suprsend_response *response);
/* The message_id on success ("OK" or the hub's text when it gave none), the error text
 * otherwise. Never NULL; owned by the response. */
const char *suprsend_response_message(const suprsend_response *response);
/* The body as received ("" when none): its first 4 MiB, and in C up to a NUL byte if it
 * holds one. Never NULL; owned by the response. */
const char *suprsend_response_body(const suprsend_response *response);
void suprsend_response_free(suprsend_response *response);

/* ---------------------------------------------------------------------------------------
 * Bulk
 * ------------------------------------------------------------------------------------- */

typedef struct suprsend_bulk          suprsend_bulk;
typedef struct suprsend_bulk_response suprsend_bulk_response;

/* A new, empty bulk of events for client, which must outlive it. Returns NULL when client
 * is NULL. Free with suprsend_bulk_free(). */
suprsend_bulk *suprsend_bulk_new(suprsend_client *client);

/* Copies the event into the bulk and validates it; each append is a new occurrence (its own
 * $insert_id), so one event object may serve as a template. An invalid event is kept as a
 * failed record of the bulk's response (never sent), and its status (SUPRSEND_E_VALIDATION,
 * _TOO_LARGE) is returned now as well. SUPRSEND_E_ARGUMENT, with nothing kept, when an
 * argument is NULL or the bulk was already triggered. */
int suprsend_bulk_append(suprsend_bulk *bulk, const suprsend_event *event);

/* Appends many events at once: events_json is a JSON array of event objects as
 * suprsend_event_new_json() takes them (or one such object). Each is appended as
 * suprsend_bulk_append() appends it, in order; invalid ones are kept as failed records.
 * Returns SUPRSEND_OK when every event was valid, else the status of the first invalid one
 * (SUPRSEND_E_VALIDATION, _TOO_LARGE), with suprsend_last_error() saying how many and why
 * the first failed. SUPRSEND_E_ARGUMENT, with nothing kept, when an argument is NULL, the
 * bulk was already triggered, or the text is not such an array (the message names the
 * first element that is not an event, by its index). */
int suprsend_bulk_append_json(suprsend_bulk *bulk, const char *events_json);

/* The number of events appended so far, valid or not. */
long suprsend_bulk_count(const suprsend_bulk *bulk);

/* Sends the valid events, in order, in requests of at most 100 events and 800 KiB, and
 * merges the answers. *out receives the response (free it with
 * suprsend_bulk_response_free()). Returns SUPRSEND_OK when every event was accepted; when
 * some were not, the worst that happened to any of them: SUPRSEND_E_NETWORK (no answer),
 * then _HTTP (refused by the hub), then _TOO_LARGE, then _VALIDATION (the response tells
 * which event got what). Once a request got no answer after all its tries, the requests
 * after it are not made and their events fail the same way. The whole call stays within
 * call_timeout_ms. A bulk is sent once: a second call returns SUPRSEND_E_ARGUMENT and sends
 * nothing. */
int suprsend_bulk_trigger(suprsend_bulk *bulk, suprsend_bulk_response **out);

void suprsend_bulk_free(suprsend_bulk *bulk);

/* "success" (no failures), "partial" or "fail" (no successes). An empty bulk is "success". */
const char *suprsend_bulk_response_status(const suprsend_bulk_response *response);
long suprsend_bulk_response_total(const suprsend_bulk_response *response);
long suprsend_bulk_response_success(const suprsend_bulk_response *response);
long suprsend_bulk_response_failure(const suprsend_bulk_response *response);
/* The failed records as a JSON array of {"record": <event object>, "error": "<message>",
 * "code": <int>} in the order appended; "[]" when none. code is the hub's HTTP status for a
 * record it refused, and 500 (the official SDKs' code) for an event that broke a rule and was
 * never sent and when no answer came. error is the hub's message as it gave it. Owned by the
 * response. */
const char *suprsend_bulk_response_failed_records_json(const suprsend_bulk_response *response);

/* Typed outcomes: each failed record by position, 0 <= i < suprsend_bulk_response_failure(r),
 * in the order the events were appended (the records of failed_records_json, in the same
 * order), so that a host never parses JSON to learn which events failed and why.
 *  _index:       the event's position in append order; -1 past the end.
 *  _status:      SUPRSEND_E_VALIDATION, _TOO_LARGE or _ATTACHMENT (refused before sending),
 *                SUPRSEND_E_HTTP (the hub refused the record or its request), SUPRSEND_E_NETWORK
 *                (no answer); 0 past the end.
 *  _code:        the "code" the official SDKs report: the hub's status for the record or its
 *                request, 500 for an event refused before sending and when no answer came;
 *                0 past the end.
 *  _message:     why; NULL past the end.
 *  _record_json: the event object as sent, or as it would have been; NULL past the end.
 * The strings are owned by the response and live as long as it. */
long        suprsend_bulk_response_failed_index(const suprsend_bulk_response *response, long i);
int         suprsend_bulk_response_failed_status(const suprsend_bulk_response *response, long i);
int         suprsend_bulk_response_failed_code(const suprsend_bulk_response *response, long i);
const char *suprsend_bulk_response_failed_message(const suprsend_bulk_response *response, long i);
const char *suprsend_bulk_response_failed_record_json(const suprsend_bulk_response *response, long i);

void suprsend_bulk_response_free(suprsend_bulk_response *response);

/* ---------------------------------------------------------------------------------------
 * Asynchronous calls
 *
 * For event-loop hosts (Node.js, Python asyncio, Go, Swift concurrency), which must never park
 * a thread per request: the single event and bulk calls, returning at once and completing on
 * the client's asynchronous calls' thread, which runs many requests side by side over reused
 * connections (at most suprsend_options_set_max_connections to the hub).
 *  - The event (or bulk) is checked and serialized on the caller's thread. A broken rule, a
 *    bad argument or a closed client returns its status at once, and done is never called.
 *  - Otherwise the call returns SUPRSEND_OK and done is called exactly once, later, on a
 *    thread of the library (never the caller's, never inside the call), with the status and
 *    the response the blocking call would have given. done owns the response: free it (NULL
 *    when no request was made). The event or bulk may be freed as soon as the call returns.
 *  - Retries, the call deadline (call_timeout_ms) and connection reuse are the blocking calls'.
 *  - suprsend_client_close completes what is in flight within its deadline; what is left then
 *    completes with SUPRSEND_E_CLOSED (a bulk's response lists its events not sent).
 *  - done may start another asynchronous call or enqueue; it must not flush, close or free the
 *    client, and should return quickly: the other calls wait for it.
 * ------------------------------------------------------------------------------------- */

typedef void (*suprsend_response_fn)(int status, suprsend_response *response, void *user_data);
typedef void (*suprsend_bulk_response_fn)(int status, suprsend_bulk_response *response, void *user_data);

int suprsend_track_event_async(suprsend_client *client, const suprsend_event *event, suprsend_response_fn done,
                               void *user_data);
/* The bulk is sent once, as with suprsend_bulk_trigger; its requests go one after another. */
int suprsend_bulk_trigger_async(suprsend_bulk *bulk, suprsend_bulk_response_fn done, void *user_data);

/* The most connections the client's asynchronous calls and background worker open to the hub
 * at once; default 32, range 1..1000. More calls wait for a connection to free up. */
int suprsend_options_set_max_connections(suprsend_options *opts, long connections);

/* ---------------------------------------------------------------------------------------
 * Background delivery
 *
 * A service should not wait on the network to record that something happened.
 * suprsend_enqueue() checks and serializes the event on the caller's thread, puts it in a
 * queue and returns; one worker thread per client (started by the first enqueue) sends
 * queued events through the bulk endpoint, at most 100 events and 800 KiB a request, several
 * requests at once when the queue is deep. Each event's fate (delivered, refused, expired,
 * dropped at close) goes to the delivery callback.
 *
 * What is guaranteed (memory queue, the default):
 *  - an event that enqueue accepted gets exactly one fate, reported once;
 *  - its $insert_id and idempotency key are fixed at enqueue and travel with it through every
 *    retry, so the hub drops repeats (with auto-idempotency on, or a key of the caller's);
 *  - a request with no answer, 408, 429 or 5xx waits and is tried again (exponential back-off
 *    with full jitter, 0.5 s up to 30 s; Retry-After pauses the whole worker, at most 60 s)
 *    until the event is max_event_age_s old; an outage never spins the CPU, and memory never
 *    grows past the queue's bound;
 *  - an event the hub refuses (4xx for the event or the request) is never retried.
 * What is lost: a memory queue lives in the process. Events still queued when the process
 * dies (a crash, kill -9, an exit without suprsend_client_close) are gone; an outbox
 * (suprsend_options_set_outbox_path) keeps them.
 *
 * fork(): a child never sends its parent's memory queue; it starts with an empty queue and
 * its own worker on its first enqueue. The parent is not affected. With an outbox, the child
 * opens its own connection to the same file, which is shared: any client that has the file
 * open may deliver any event in it (each one at a time, under a lease), and the fate is
 * reported in the process that delivered it.
 * ------------------------------------------------------------------------------------- */

/* A SQLite file that holds the queue, so that what enqueue accepted survives a crash and a
 * restart. NULL or "" = the memory queue (the default). suprsend_client_new opens it, and
 * refuses it with SUPRSEND_E_STORAGE (suprsend_last_error() says why) when it:
 *  - belongs to another workspace: a file holds one workspace's events, signed with its key;
 *  - is not an outbox (another application's SQLite database, any other file) or is an
 *    outbox of a newer version: nothing is written to it, not even a journal-mode change;
 *  - is damaged (PRAGMA quick_check): it is left as it was; the README ("A damaged outbox")
 *    says how to move it away and recover its events.
 * A new outbox and its -wal and -shm files are made readable by their owner only (0600),
 * whatever the umask: queued events hold personal data. */
int suprsend_options_set_outbox_path(suprsend_options *opts, const char *path);

/* With on != 0, every commit to the outbox reaches the disk before suprsend_enqueue returns
 * (SQLite's synchronous=FULL: an fsync per commit), so that a power loss loses nothing either.
 * The default (0, synchronous=NORMAL in WAL mode) survives a crash or kill -9 of the process,
 * and may lose the last commits on a power loss. See the README for what it costs. */
int suprsend_options_set_outbox_power_safe(suprsend_options *opts, int on);

/* The most events the memory queue holds (queued, waiting for a retry or in flight);
 * default 100000, range 1..10000000. A full queue refuses with SUPRSEND_E_QUEUE_FULL. The
 * memory queue also holds at most 256 MiB of serialized events. */
int suprsend_options_set_queue_capacity(suprsend_options *opts, long events);

/* The most bytes the outbox may take on disk, its WAL file included; default 1 GiB, at least
 * 1 MiB. A full outbox refuses with SUPRSEND_E_QUEUE_FULL. */
int suprsend_options_set_outbox_max_bytes(suprsend_options *opts, long long bytes);

/* The longest suprsend_enqueue waits while another process holds the outbox's write lock, in
 * ms; default 200, range 0..60000. Then it returns SUPRSEND_E_STORAGE ("busy"), nothing queued. */
int suprsend_options_set_outbox_busy_timeout_ms(suprsend_options *opts, long ms);

/* The longest an event waits for its batch to fill before it is sent anyway, in ms;
 * default 1000, range 0..3600000 (0: send at once, in batches of what is there). */
int suprsend_options_set_flush_interval_ms(suprsend_options *opts, long ms);

/* Give up on an event this many seconds after it was enqueued (its fate is then
 * SUPRSEND_E_TIMEOUT); default 82800 (23 h: under the hub's 24 h idempotency window, so a
 * late retry is still recognised as a repeat). Range 1..82800. */
int suprsend_options_set_max_event_age_s(suprsend_options *opts, long seconds);

/* What suprsend_client_free() waits for queued events to be delivered, in ms; default 2000.
 * Range 0..3600000. */
int suprsend_options_set_shutdown_timeout_ms(suprsend_options *opts, long ms);

/* The fate of one event, passed to the delivery callback; valid only during the call. */
typedef struct suprsend_delivery suprsend_delivery;

/* SUPRSEND_OK: delivered (the hub accepted it, or dropped it as a repeat of one it had);
 * SUPRSEND_E_HTTP: refused by the hub (never retried);
 * SUPRSEND_E_NETWORK: the event has no idempotency key (auto-idempotency off, none set) and a
 *   request that carried it failed after the hub may have processed it (no answer, 500, 502,
 *   504): it is not sent again, since the hub could not drop the repeat;
 * SUPRSEND_E_TIMEOUT: still not delivered max_event_age_s after it was enqueued;
 * SUPRSEND_E_CLOSED: still queued when the client was closed (memory queue). */
int suprsend_delivery_status(const suprsend_delivery *delivery);
/* The HTTP status the hub gave this event (its record's, or the request's); 0 when none. */
int suprsend_delivery_http_status(const suprsend_delivery *delivery);
/* The message_id when delivered, else why not. Never NULL. */
const char *suprsend_delivery_message(const suprsend_delivery *delivery);
/* The event's $insert_id (a UUID), fixed at enqueue. Never NULL. */
const char *suprsend_delivery_insert_id(const suprsend_delivery *delivery);
/* The idempotency key the event was sent with (the caller's, or the automatic one); "" when
 * none. Never NULL. */
const char *suprsend_delivery_idempotency_key(const suprsend_delivery *delivery);
/* The event name and distinct_id, as sent (trimmed). Never NULL. */
const char *suprsend_delivery_event_name(const suprsend_delivery *delivery);
const char *suprsend_delivery_distinct_id(const suprsend_delivery *delivery);
/* How many requests carried the event (0 when it was never sent). */
int suprsend_delivery_attempts(const suprsend_delivery *delivery);

/* Receives each event's fate, once, after it is final. Called on the client's worker thread
 * (or, for events dropped at close, on the thread that closes); the delivery and its strings
 * are valid only during the call. It may call suprsend_enqueue, but must not flush, close or
 * free the client, and should return quickly: the worker waits for it. */
typedef void (*suprsend_delivery_fn)(const suprsend_delivery *delivery, void *user_data);

/* Sets the delivery callback (fn NULL: none, the default). */
int suprsend_options_set_delivery_callback(suprsend_options *opts, suprsend_delivery_fn fn, void *user_data);

/* Checks the event and queues it for the worker; returns at once, never waiting on the
 * network or on a request in flight. The event is not changed: each enqueue is a new
 * occurrence with its own $insert_id, and the event may be freed at once.
 *  - SUPRSEND_OK: queued (with an outbox: committed to it);
 *  - SUPRSEND_E_ARGUMENT, _VALIDATION, _TOO_LARGE, _ATTACHMENT: as for suprsend_track_event;
 *    nothing is queued;
 *  - SUPRSEND_E_QUEUE_FULL: the queue holds queue_capacity events (or its byte bound);
 *    nothing is queued;
 *  - SUPRSEND_E_STORAGE: the outbox failed (a full disk, another process holding its lock past
 *    outbox_busy_timeout_ms) or is damaged (corrupt, or deleted or replaced under the client:
 *    from then on every enqueue is refused); nothing is queued;
 *  - SUPRSEND_E_CLOSED: the client is closing or closed. */
int suprsend_enqueue(suprsend_client *client, const suprsend_event *event);

/* Sends what is queued now, without waiting for the flush interval, and waits until every
 * event enqueued before the call has its fate, or the deadline passes. Returns SUPRSEND_OK;
 * SUPRSEND_E_TIMEOUT (the events go on being delivered); SUPRSEND_E_STORAGE at once when the
 * outbox is damaged, or at the deadline when it was failing (a full disk: the message says
 * why); SUPRSEND_E_CLOSED after suprsend_client_close. timeout_ms < 0 waits without a
 * deadline. Must not be called from the delivery callback. */
int suprsend_flush(suprsend_client *client, long timeout_ms);

/* Stops accepting events, delivers what it can before the deadline (a request still in
 * flight then is abandoned) and stops the worker. Memory queue: events left are reported with
 * SUPRSEND_E_CLOSED. Outbox: events left stay in it for the next client. Returns SUPRSEND_OK
 * when no event enqueued before the call was left (in a shared outbox, events that other
 * clients add meanwhile are theirs to deliver and do not count); else SUPRSEND_E_TIMEOUT, or
 * SUPRSEND_E_STORAGE when the outbox is damaged or failing (events may be stuck in it).
 * timeout_ms < 0 waits without a deadline.
 *
 * The handle stays valid: every later call on it (enqueue, flush, track, bulk trigger, close
 * again) returns SUPRSEND_E_CLOSED, also from other threads while the close runs, so a
 * service's shutdown thread may close while request threads still hold the client.
 * suprsend_client_stat still answers (the final counters). suprsend_client_free releases the
 * handle; no other thread may use the client once it is called. */
int suprsend_client_close(suprsend_client *client, long timeout_ms);

/* Counters of the client's background delivery, like curl_easy_getinfo: one value per call,
 * into *out. SUPRSEND_E_ARGUMENT for an unknown id. */
#define SUPRSEND_STAT_QUEUED       1  /* waiting: in the queue, or for a retry */
#define SUPRSEND_STAT_IN_FLIGHT    2  /* in a request now */
#define SUPRSEND_STAT_DELIVERED    3  /* accepted by the hub (repeats it dropped included) */
#define SUPRSEND_STAT_REFUSED      4  /* refused by the hub: never retried */
#define SUPRSEND_STAT_DROPPED      5  /* expired, left at close of a memory queue, or not sent again (no key) */
#define SUPRSEND_STAT_RETRIES      6  /* requests sent again */
#define SUPRSEND_STAT_OUTBOX_BYTES 7  /* size of the outbox file; 0 for a memory queue */
#define SUPRSEND_STAT_COUNT        7  /* the ids above are 1..SUPRSEND_STAT_COUNT */
int suprsend_client_stat(const suprsend_client *client, int which, long long *out);

/* Every counter at one instant: out[i] receives the value of id i + 1 (out[0] QUEUED, ...),
 * for i < count. Counters read one call each may count a batch twice (queued, then in flight
 * a moment later); these add up: each event is counted once. A count below
 * SUPRSEND_STAT_COUNT reads the first ones; slots past the ids this library knows (a caller
 * built against a newer header) are set to -1. SUPRSEND_E_ARGUMENT when out is NULL or count
 * < 0. */
int suprsend_client_stats(const suprsend_client *client, long long *out, int count);

#ifdef __cplusplus
}
#endif

#endif /* SUPRSEND_H */
