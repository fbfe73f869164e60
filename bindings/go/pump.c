// The client's queue of completions and deliveries: see callbacks.go.
#include "pump.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ss_pump {
	pthread_mutex_t mu;
	ss_note *items;
	size_t len, cap;
	unsigned long long posted; // deliveries
	int wfd;
};

ss_pump *ss_pump_new(int wfd) {
	ss_pump *p = calloc(1, sizeof *p);
	if (!p) return NULL;
	pthread_mutex_init(&p->mu, NULL);
	p->wfd = wfd;
	return p;
}

void ss_pump_free(ss_pump *p) {
	if (!p) return;
	ss_notes_free(p->items, p->len);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static void push(ss_pump *p, const ss_note *n) {
	pthread_mutex_lock(&p->mu);
	while (p->len == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		ss_note *items = realloc(p->items, cap * sizeof *items);
		if (items) {
			p->items = items;
			p->cap = cap;
			break;
		}
		// Out of memory. A completion cannot be dropped (a goroutine waits for it), and the host
		// must not be killed for it: wait for memory, without holding the queue, and look again.
		pthread_mutex_unlock(&p->mu);
		struct timespec pause = {0, 1000000};
		nanosleep(&pause, NULL);
		pthread_mutex_lock(&p->mu);
	}
	p->items[p->len++] = *n;
	if (n->kind == SS_NOTE_DELIVERY) p->posted++;
	int wake = p->len == 1;
	pthread_mutex_unlock(&p->mu);
	if (wake) {
		// One byte per time the queue stops being empty; the reader takes the whole queue after
		// each read, so the pipe never fills (and a spurious byte only means an empty take).
		char b = 1;
		ssize_t r;
		do r = write(p->wfd, &b, 1);
		while (r < 0 && errno == EINTR);
	}
}

ss_note *ss_pump_take(ss_pump *p, size_t *n) {
	pthread_mutex_lock(&p->mu);
	ss_note *items = p->items;
	*n = p->len;
	p->items = NULL;
	p->len = p->cap = 0;
	pthread_mutex_unlock(&p->mu);
	if (*n == 0) {
		free(items);
		return NULL;
	}
	return items;
}

void ss_notes_free(ss_note *notes, size_t n) {
	for (size_t i = 0; i < n; i++) free(notes[i].text);
	free(notes);
}

unsigned long long ss_pump_posted(ss_pump *p) {
	pthread_mutex_lock(&p->mu);
	unsigned long long v = p->posted;
	pthread_mutex_unlock(&p->mu);
	return v;
}

ss_call *ss_call_new(ss_pump *p, uintptr_t handle) {
	ss_call *c = malloc(sizeof *c);
	if (c) {
		c->pump = p;
		c->handle = handle;
	}
	return c;
}

// Copies the strings into one block (NULL strings are empty).
static void set_text(ss_note *n, const char *const *s, int count) {
	size_t total = 0;
	for (int i = 0; i < count; i++) total += n->lens[i] = s[i] ? strlen(s[i]) : 0;
	n->text = malloc(total ? total : 1);
	if (!n->text) {
		// Out of memory: the note goes without its strings (empty in Go) rather than not at all.
		memset(n->lens, 0, sizeof n->lens);
		return;
	}
	char *at = n->text;
	for (int i = 0; i < count; i++) {
		if (n->lens[i]) memcpy(at, s[i], n->lens[i]);
		at += n->lens[i];
	}
}

void ss_track_done(int status, suprsend_response *r, void *user_data) {
	ss_call *c = user_data;
	ss_note n;
	memset(&n, 0, sizeof n);
	n.kind = SS_NOTE_TRACK;
	n.status = status;
	n.handle = c->handle;
	if (r) {
		const char *msg = suprsend_response_message(r);
		n.has_resp = 1;
		n.success = suprsend_response_success(r);
		n.status_code = suprsend_response_status_code(r);
		set_text(&n, &msg, 1);
		suprsend_response_free(r);
	}
	push(c->pump, &n);
	free(c);
}

void ss_bulk_done(int status, suprsend_bulk_response *r, void *user_data) {
	ss_call *c = user_data;
	ss_note n;
	memset(&n, 0, sizeof n);
	n.kind = SS_NOTE_BULK;
	n.status = status;
	n.handle = c->handle;
	n.bulk = r;
	push(c->pump, &n);
	free(c);
}

void ss_delivery_cb(const suprsend_delivery *d, void *user_data) {
	ss_note n;
	memset(&n, 0, sizeof n);
	n.kind = SS_NOTE_DELIVERY;
	n.status = suprsend_delivery_status(d);
	n.http_status = suprsend_delivery_http_status(d);
	n.attempts = suprsend_delivery_attempts(d);
	const char *s[5] = {suprsend_delivery_insert_id(d), suprsend_delivery_idempotency_key(d),
	                    suprsend_delivery_event_name(d), suprsend_delivery_distinct_id(d),
	                    n.status == SUPRSEND_OK ? NULL : suprsend_delivery_message(d)};
	set_text(&n, s, 5);
	push(user_data, &n);
}
