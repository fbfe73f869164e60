// The client's queue of completions and deliveries (pump.c; the Go side is callbacks.go).
#ifndef SUPRSEND_GO_PUMP_H
#define SUPRSEND_GO_PUMP_H

#include <stddef.h>
#include <stdint.h>
#include <suprsend.h>

enum { SS_NOTE_TRACK = 1, SS_NOTE_BULK = 2, SS_NOTE_DELIVERY = 3 };

// One completion or delivery, copied from the library's callback. text is one malloc'ed block
// of strings laid end to end, lens[i] bytes each (no NULs): for a track, the response's message;
// for a delivery, its insert id, idempotency key, event name, distinct id and message.
typedef struct {
	int kind;
	int status;                   // the call's status; for a delivery, suprsend_delivery_status
	uintptr_t handle;             // track, bulk: the Go call's cgo.Handle
	suprsend_bulk_response *bulk; // bulk: the response (Go frees it)
	int has_resp, success, status_code; // track: the response, read and freed in the callback
	int http_status, attempts;          // delivery
	char *text;
	size_t lens[5];
} ss_note;

typedef struct ss_pump ss_pump;

// A pump writing a byte to wfd (non-blocking) each time its queue stops being empty.
ss_pump *ss_pump_new(int wfd);
void ss_pump_free(ss_pump *p);
// Everything queued (NULL when nothing), to be released with ss_notes_free.
ss_note *ss_pump_take(ss_pump *p, size_t *n);
void ss_notes_free(ss_note *notes, size_t n);
// Deliveries queued since the pump was made.
unsigned long long ss_pump_posted(ss_pump *p);

// The library's callbacks: user_data is an ss_call (track, bulk; freed by the callback) or the
// pump (deliveries).
typedef struct { ss_pump *pump; uintptr_t handle; } ss_call;
ss_call *ss_call_new(ss_pump *p, uintptr_t handle);
void ss_track_done(int status, suprsend_response *response, void *user_data);
void ss_bulk_done(int status, suprsend_bulk_response *response, void *user_data);
void ss_delivery_cb(const suprsend_delivery *delivery, void *user_data);

#endif
