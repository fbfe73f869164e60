package suprsend

// The calls into libsuprsend. Every C call that can fail and whose message matters goes through
// a small C helper that copies suprsend_last_error() in the same call: the message is per
// thread, and a goroutine may run its next cgo call on another thread. An event without
// attachments is made, sent (or queued, or appended) and freed in one call (ss_track_parts,
// ss_enqueue_parts, ss_bulk_append_parts): a cgo call costs about as much as a small C function,
// so the common paths make one each. The event is made as a C program makes it:
// suprsend_event_new, then suprsend_event_set_properties_json with the properties' JSON (the only
// text the library parses) and the setters, from a buffer of NUL-terminated strings Go wrote
// (encode.go, appendParts), which C reads during the call only. The helpers Go calls per event
// return their status and message as a struct (ss_result), so that no Go variable escapes to
// the heap for a pointer C would write through.

/*
#cgo pkg-config: suprsend
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <suprsend.h>
#include "pump.h"

// Defined in callbacks.go (//export).
extern void goLog(int level, char *message, void *user_data);

static char *ss_error(int rc) { return rc == SUPRSEND_OK ? NULL : strdup(suprsend_last_error()); }

typedef struct { int rc; char *err; } ss_result;

static ss_result ss_result_of(int rc) { ss_result r = {rc, ss_error(rc)}; return r; }

// The event whose strings are in p (encode.go, eventParts: offsets from p, -1 for none), or
// NULL with *err set (SUPRSEND_E_ARGUMENT: the library's refusal of a field).
static suprsend_event *ss_event_parts(const char *p, int name, int props, int idem, int tenant, int brand, char **err) {
	suprsend_event *ev = suprsend_event_new(p, p + name);
	if (ev == NULL) { *err = strdup(suprsend_last_error()); return NULL; }
	int rc = SUPRSEND_OK;
	if (props >= 0) rc = suprsend_event_set_properties_json(ev, p + props);
	if (rc == SUPRSEND_OK && idem >= 0) rc = suprsend_event_set_idempotency_key(ev, p + idem);
	if (rc == SUPRSEND_OK && tenant >= 0) rc = suprsend_event_set_tenant_id(ev, p + tenant);
	if (rc == SUPRSEND_OK && brand >= 0) rc = suprsend_event_set_brand_id(ev, p + brand);
	if (rc != SUPRSEND_OK) {
		*err = strdup(suprsend_last_error());
		suprsend_event_free(ev);
		return NULL;
	}
	return ev;
}

typedef struct { suprsend_event *ev; char *err; } ss_made;

static ss_made ss_event_new_parts(const char *p, int name, int props, int idem, int tenant, int brand) {
	ss_made m = {NULL, NULL};
	m.ev = ss_event_parts(p, name, props, idem, tenant, brand, &m.err);
	return m;
}

static int ss_add_attachment(suprsend_event *ev, const char *url, const char *name, int ignore, char **err) {
	int rc = suprsend_event_add_attachment(ev, url, name, ignore);
	*err = ss_error(rc);
	return rc;
}

static int ss_add_attachment_data(suprsend_event *ev, const void *data, size_t size, const char *name, int ignore,
                                  char **err) {
	int rc = suprsend_event_add_attachment_data(ev, data, size, name, NULL, ignore);
	*err = ss_error(rc);
	return rc;
}

// The completion goes to the pump (ss_track_done), naming the Go call by its handle h.
static int ss_track_async(suprsend_client *c, const suprsend_event *ev, ss_pump *p, uintptr_t h, char **err) {
	ss_call *call = ss_call_new(p, h);
	if (!call) { *err = strdup("out of memory"); return SUPRSEND_E_INTERNAL; }
	int rc = suprsend_track_event_async(c, ev, ss_track_done, call);
	*err = ss_error(rc);
	if (rc != SUPRSEND_OK) free(call);
	return rc;
}

// ss_event_parts, ss_track_async and suprsend_event_free in one call. An event the library
// cannot make is SUPRSEND_E_ARGUMENT.
static ss_result ss_track_parts(suprsend_client *c, const char *p, int name, int props, int idem, int tenant, int brand,
                                ss_pump *pump, uintptr_t h) {
	ss_result r = {SUPRSEND_E_ARGUMENT, NULL};
	suprsend_event *ev = ss_event_parts(p, name, props, idem, tenant, brand, &r.err);
	if (ev == NULL) return r;
	r.rc = ss_track_async(c, ev, pump, h, &r.err);
	suprsend_event_free(ev);
	return r;
}

// The blocking call: ss_event_parts, suprsend_track_event, the response copied into *out
// (text: its message, malloc'ed) and freed, suprsend_event_free, in one call.
static ss_result ss_track_sync_parts(suprsend_client *c, const char *p, int name, int props, int idem, int tenant,
                                     int brand, ss_note *out) {
	ss_result res = {SUPRSEND_E_ARGUMENT, NULL};
	suprsend_event *ev = ss_event_parts(p, name, props, idem, tenant, brand, &res.err);
	if (ev == NULL) return res;
	suprsend_response *r = NULL;
	res.rc = suprsend_track_event(c, ev, &r);
	res.err = ss_error(res.rc);
	suprsend_event_free(ev);
	if (r) {
		const char *m = suprsend_response_message(r);
		out->has_resp = 1;
		out->success = suprsend_response_success(r);
		out->status_code = suprsend_response_status_code(r);
		out->text = strdup(m ? m : "");
		out->lens[0] = strlen(out->text);
		suprsend_response_free(r);
	}
	return res;
}

static int ss_bulk_append(suprsend_bulk *b, const suprsend_event *ev, char **err) {
	int rc = suprsend_bulk_append(b, ev);
	*err = ss_error(rc);
	return rc;
}

// ss_event_parts, suprsend_bulk_append and suprsend_event_free in one call. SUPRSEND_E_ARGUMENT:
// nothing was kept (the library could not make the event); any other status is the event's,
// kept as a failed record.
static ss_result ss_bulk_append_parts(suprsend_bulk *b, const char *p, int name, int props, int idem, int tenant,
                                      int brand) {
	ss_result r = {SUPRSEND_E_ARGUMENT, NULL};
	suprsend_event *ev = ss_event_parts(p, name, props, idem, tenant, brand, &r.err);
	if (ev == NULL) return r;
	r = ss_result_of(suprsend_bulk_append(b, ev));
	suprsend_event_free(ev);
	return r;
}

static int ss_bulk_trigger_async(suprsend_bulk *b, ss_pump *p, uintptr_t h, char **err) {
	ss_call *call = ss_call_new(p, h);
	if (!call) { *err = strdup("out of memory"); return SUPRSEND_E_INTERNAL; }
	int rc = suprsend_bulk_trigger_async(b, ss_bulk_done, call);
	*err = ss_error(rc);
	if (rc != SUPRSEND_OK) free(call);
	return rc;
}

static int ss_enqueue(suprsend_client *c, const suprsend_event *ev, char **err) {
	int rc = suprsend_enqueue(c, ev);
	*err = ss_error(rc);
	return rc;
}

// ss_event_parts, suprsend_enqueue and suprsend_event_free in one call.
static ss_result ss_enqueue_parts(suprsend_client *c, const char *p, int name, int props, int idem, int tenant,
                                  int brand) {
	ss_result r = {SUPRSEND_E_ARGUMENT, NULL};
	suprsend_event *ev = ss_event_parts(p, name, props, idem, tenant, brand, &r.err);
	if (ev == NULL) return r;
	r = ss_result_of(suprsend_enqueue(c, ev));
	suprsend_event_free(ev);
	return r;
}

static int ss_flush(suprsend_client *c, long ms, char **err) {
	int rc = suprsend_flush(c, ms);
	*err = ss_error(rc);
	return rc;
}

static int ss_close(suprsend_client *c, long ms, char **err) {
	int rc = suprsend_client_close(c, ms);
	*err = ss_error(rc);
	return rc;
}

static int ss_set_log(suprsend_options *o, uintptr_t h) {
	return suprsend_options_set_log(o, SUPRSEND_LOG_DEBUG, (suprsend_log_fn)goLog, (void *)h);
}

static int ss_set_delivery(suprsend_options *o, ss_pump *p) {
	return suprsend_options_set_delivery_callback(o, ss_delivery_cb, p);
}
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

// takeError turns a message strdup'ed by a helper into a Go string and frees it.
func takeError(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.free(unsafe.Pointer(p))
	return s
}

// cstr is a C copy of s, to be freed with C.free; nil for "".
func cstr(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

func cfree(p *C.char) {
	if p != nil {
		C.free(unsafe.Pointer(p))
	}
}

// libraryVersion is the version of the loaded libsuprsend.
func libraryVersion() string { return C.GoString(C.suprsend_version()) }

// statusName is the C name of a status code ("SUPRSEND_E_VALIDATION").
func statusName(rc int) string { return C.GoString(C.suprsend_status_name(C.int(rc))) }

// ---------------------------------------------------------------------------------------------
// Client

// clientHandle owns the C client and the handles its callbacks receive. It is freed by a
// finalizer once the Client that holds it is unreachable: suprsend_client_close leaves the C
// handle valid, and only suprsend_client_free, which no other thread may overlap, releases it.
type clientHandle struct {
	ptr      *C.suprsend_client
	pump     *pump        // completions and deliveries (callbacks.go)
	handles  []cgo.Handle // the log sink, deleted after the free
	closeMs  int64
	released bool
}

// clientsFreed counts the C clients freed (for the tests).
var clientsFreed int64

func (h *clientHandle) free() {
	if h.released {
		return
	}
	h.released = true
	C.suprsend_client_free(h.ptr)
	h.ptr = nil
	h.pump.stop() // after the free: no callback can come any more
	atomic.AddInt64(&clientsFreed, 1)
	for _, x := range h.handles {
		x.Delete()
	}
	h.handles = nil
}

// newClientHandle makes the C client from cfg. The options calls run on one locked thread so
// that suprsend_last_error() belongs to the call that failed.
func newClientHandle(apiKey, apiSecret string, cfg *clientConfig) (*clientHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	key, secret := C.CString(apiKey), C.CString(apiSecret)
	defer cfree(key)
	defer cfree(secret)
	opts := C.suprsend_options_new(key, secret)
	if opts == nil {
		return nil, newError(int(C.SUPRSEND_E_ARGUMENT), C.GoString(C.suprsend_last_error()))
	}
	defer C.suprsend_options_free(opts)

	check := func(what string, rc C.int) error {
		if rc == C.SUPRSEND_OK {
			return nil
		}
		return newError(int(rc), what+": "+C.GoString(C.suprsend_last_error()))
	}
	if cfg.baseUrl != "" {
		s := C.CString(cfg.baseUrl)
		err := check("WithBaseUrl", C.suprsend_options_set_base_url(opts, s))
		cfree(s)
		if err != nil {
			return nil, err
		}
	}
	if cfg.timeoutSeconds > 0 {
		ms := int64(cfg.timeoutSeconds) * 1000
		if err := check("WithTimeout", C.suprsend_options_set_timeout_ms(opts, C.long(ms))); err != nil {
			return nil, err
		}
	}
	if cfg.proxyUrl != "" {
		s := C.CString(cfg.proxyUrl)
		err := check("WithProxyUrl", C.suprsend_options_set_proxy(opts, s))
		cfree(s)
		if err != nil {
			return nil, err
		}
	}
	if cfg.outboxPath != "" {
		s := C.CString(cfg.outboxPath)
		err := check("WithOutbox", C.suprsend_options_set_outbox_path(opts, s))
		cfree(s)
		if err != nil {
			return nil, err
		}
	}
	for _, o := range cfg.intOptions {
		var rc C.int
		switch o.id {
		case optMaxRetries:
			rc = C.suprsend_options_set_max_retries(opts, C.int(o.value))
		case optFlushIntervalMs:
			rc = C.suprsend_options_set_flush_interval_ms(opts, C.long(o.value))
		case optCallTimeoutMs:
			rc = C.suprsend_options_set_call_timeout_ms(opts, C.long(o.value))
		case optMaxConnections:
			rc = C.suprsend_options_set_max_connections(opts, C.long(o.value))
		case optQueueCapacity:
			rc = C.suprsend_options_set_queue_capacity(opts, C.long(o.value))
		}
		if err := check(o.name, rc); err != nil {
			return nil, err
		}
	}

	p, err := newPump(cfg.delivery)
	if err != nil {
		return nil, newError(int(C.SUPRSEND_E_INTERNAL), "NewClient: "+err.Error())
	}
	h := &clientHandle{pump: p}
	release := func() {
		for _, x := range h.handles {
			x.Delete()
		}
		p.stop()
	}
	if cfg.debug {
		lh := cgo.NewHandle(&logSink{})
		h.handles = append(h.handles, lh)
		if err := check("WithDebug", C.ss_set_log(opts, C.uintptr_t(lh))); err != nil {
			release()
			return nil, err
		}
	}
	if cfg.delivery != nil {
		if err := check("WithDeliveryCallback", C.ss_set_delivery(opts, p.c)); err != nil {
			release()
			return nil, err
		}
	}

	var client *C.suprsend_client
	if err := check("NewClient", C.suprsend_client_new(opts, &client)); err != nil {
		release()
		return nil, err
	}
	h.ptr = client
	return h, nil
}

func (h *clientHandle) stat(which C.int) int64 {
	var v C.longlong
	if C.suprsend_client_stat(h.ptr, which, &v) != C.SUPRSEND_OK {
		return 0
	}
	return int64(v)
}

func (h *clientHandle) stats() Stats {
	s := Stats{
		Queued:      h.stat(C.SUPRSEND_STAT_QUEUED),
		InFlight:    h.stat(C.SUPRSEND_STAT_IN_FLIGHT),
		Delivered:   h.stat(C.SUPRSEND_STAT_DELIVERED),
		Refused:     h.stat(C.SUPRSEND_STAT_REFUSED),
		Dropped:     h.stat(C.SUPRSEND_STAT_DROPPED),
		Retries:     h.stat(C.SUPRSEND_STAT_RETRIES),
		OutboxBytes: h.stat(C.SUPRSEND_STAT_OUTBOX_BYTES),
	}
	runtime.KeepAlive(h)
	return s
}

// flush is suprsend_flush; when it returns SUPRSEND_OK, every delivery the library has
// reported has also been through the delivery callback (or done was closed: errFlushWait).
func (h *clientHandle) flush(ms int64, done <-chan struct{}) error {
	var e *C.char
	rc := C.ss_flush(h.ptr, C.long(ms), &e)
	runtime.KeepAlive(h)
	if rc != C.SUPRSEND_OK {
		return newError(int(rc), takeError(e))
	}
	if !h.pump.waitDelivered(h.pump.posted(), done) {
		// The context ended while delivery callbacks were still running.
		return newError(int(C.SUPRSEND_E_TIMEOUT), "")
	}
	return nil
}

// close is suprsend_client_close; the deliveries it reported (events left in a memory queue)
// have been through the delivery callback when it returns.
func (h *clientHandle) close(ms int64) error {
	var e *C.char
	rc := C.ss_close(h.ptr, C.long(ms), &e)
	runtime.KeepAlive(h)
	h.pump.waitDelivered(h.pump.posted(), nil)
	if rc != C.SUPRSEND_OK {
		return newError(int(rc), takeError(e))
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// Events

// partsArgs are the C arguments of the event whose parts start data[0] (appendParts).
func partsArgs(data []byte, p eventParts) (*C.char, C.int, C.int, C.int, C.int, C.int) {
	return (*C.char)(unsafe.Pointer(&data[0])), C.int(p.name), C.int(p.props), C.int(p.idem), C.int(p.tenant), C.int(p.brand)
}

// resultError is the *Error of a helper's ss_result (nil for SUPRSEND_OK); frees the message.
func resultError(r C.ss_result) error {
	if r.rc == C.SUPRSEND_OK {
		return nil
	}
	return newError(int(r.rc), takeError(r.err))
}

// cEventFromParts builds a C event from its parts and attachments.
func cEventFromParts(data []byte, p eventParts, atts []attachment) (*C.suprsend_event, *Error) {
	pc, name, props, idem, tenant, brand := partsArgs(data, p)
	m := C.ss_event_new_parts(pc, name, props, idem, tenant, brand)
	if m.ev == nil {
		return nil, newError(int(C.SUPRSEND_E_ARGUMENT), takeError(m.err))
	}
	if err := addAttachments(m.ev, atts); err != nil {
		C.suprsend_event_free(m.ev)
		return nil, err
	}
	return m.ev, nil
}

func addAttachments(cev *C.suprsend_event, atts []attachment) *Error {
	for i := range atts {
		a := &atts[i]
		name := cstr(a.name)
		ignore := C.int(0)
		if a.ignoreIfError {
			ignore = 1
		}
		var e *C.char
		var rc C.int
		if a.url != "" {
			u := C.CString(a.url)
			rc = C.ss_add_attachment(cev, u, name, ignore, &e)
			cfree(u)
		} else {
			rc = C.ss_add_attachment_data(cev, unsafe.Pointer(&a.data[0]), C.size_t(len(a.data)), name, ignore, &e)
		}
		cfree(name)
		if rc != C.SUPRSEND_OK {
			return newError(int(rc), takeError(e))
		}
	}
	return nil
}

func freeEvent(cev *C.suprsend_event) { C.suprsend_event_free(cev) }

func (h *clientHandle) enqueue(ev *Event) error {
	buf := getScratch()
	defer putScratch(buf)
	data, p, err := appendParts(*buf, ev)
	if err != nil {
		return err
	}
	*buf = data
	if len(ev.attachments) == 0 {
		pc, name, props, idem, tenant, brand := partsArgs(data, p)
		err = resultError(C.ss_enqueue_parts(h.ptr, pc, name, props, idem, tenant, brand))
	} else {
		cev, cerr := cEventFromParts(data, p, ev.attachments)
		if cerr != nil {
			return cerr
		}
		var e *C.char
		if rc := C.ss_enqueue(h.ptr, cev, &e); rc != C.SUPRSEND_OK {
			err = newError(int(rc), takeError(e))
		}
		freeEvent(cev)
	}
	runtime.KeepAlive(h)
	return err
}

// trackCall is one asynchronous track: the pump completes it with what the library's callback
// copied from the response (which the callback freed), and the waiting goroutine reads it.
type trackCall struct {
	pending
	res trackResult
}

type trackResult struct {
	ok         bool // the library gave a response
	success    bool
	statusCode int
	message    string
}

// startTrack starts the asynchronous send of ev; the call completes into t.
func (h *clientHandle) startTrack(ev *Event, t *trackCall) error {
	buf := getScratch()
	defer putScratch(buf)
	data, p, err := appendParts(*buf, ev)
	if err != nil {
		return err
	}
	*buf = data
	hd := cgo.NewHandle(t)
	if len(ev.attachments) == 0 {
		pc, name, props, idem, tenant, brand := partsArgs(data, p)
		err = resultError(C.ss_track_parts(h.ptr, pc, name, props, idem, tenant, brand, h.pump.c, C.uintptr_t(hd)))
	} else {
		cev, cerr := cEventFromParts(data, p, ev.attachments)
		if cerr != nil {
			hd.Delete()
			return cerr
		}
		var e *C.char
		if rc := C.ss_track_async(h.ptr, cev, h.pump.c, C.uintptr_t(hd), &e); rc != C.SUPRSEND_OK {
			err = newError(int(rc), takeError(e))
		}
		freeEvent(cev)
	}
	runtime.KeepAlive(h)
	if err != nil {
		hd.Delete() // never called back
	}
	return err
}

// trackBlocking sends ev (no attachments) with the blocking call on this goroutine's thread.
func (h *clientHandle) trackBlocking(ev *Event, t *trackCall) error {
	buf := getScratch()
	defer putScratch(buf)
	data, p, err := appendParts(*buf, ev)
	if err != nil {
		return err
	}
	*buf = data
	var note C.ss_note
	pc, name, props, idem, tenant, brand := partsArgs(data, p)
	r := C.ss_track_sync_parts(h.ptr, pc, name, props, idem, tenant, brand, &note)
	runtime.KeepAlive(h)
	msg := takeError(r.err)
	if note.has_resp == 0 {
		return newError(int(r.rc), msg)
	}
	t.status = int(r.rc)
	t.res = trackResult{ok: true, success: note.success != 0, statusCode: int(note.status_code), message: noteText(&note, 0)}
	C.free(unsafe.Pointer(note.text))
	return nil
}

// result is the completed call's answer.
func (t *trackCall) result() (*Response, error) {
	r := &t.res
	if !r.ok {
		return nil, newError(t.status, "")
	}
	resp := &Response{Success: r.success, StatusCode: r.statusCode, Message: r.message}
	if t.status != int(C.SUPRSEND_OK) {
		e := newError(t.status, resp.Message)
		if resp.StatusCode != 0 {
			e.Code = resp.StatusCode
		}
		return nil, e
	}
	return resp, nil
}

// ---------------------------------------------------------------------------------------------
// Bulk

// cBulk is a library bulk. It keeps its client's handle reachable (the C client must outlive
// the bulk); one never triggered is freed by a finalizer.
type cBulk struct {
	ptr  *C.suprsend_bulk
	h    *clientHandle
	pump *pump
}

func (h *clientHandle) newBulk() *cBulk {
	b := &cBulk{ptr: C.suprsend_bulk_new(h.ptr), h: h, pump: h.pump}
	runtime.SetFinalizer(b, (*cBulk).free)
	return b
}

func (b *cBulk) free() {
	if b.ptr == nil {
		return
	}
	C.suprsend_bulk_free(b.ptr)
	b.ptr = nil
	runtime.SetFinalizer(b, nil)
	runtime.KeepAlive(b.h)
}

// appendParts appends the event whose parts start data[0]. SUPRSEND_E_ARGUMENT: nothing was
// kept; any other status is the event's (kept as a failed record when not SUPRSEND_OK).
func (b *cBulk) appendParts(data []byte, p eventParts) (int, string) {
	pc, name, props, idem, tenant, brand := partsArgs(data, p)
	r := C.ss_bulk_append_parts(b.ptr, pc, name, props, idem, tenant, brand)
	return int(r.rc), takeError(r.err)
}

func (b *cBulk) appendEvent(cev *C.suprsend_event) (int, string) {
	var e *C.char
	rc := C.ss_bulk_append(b.ptr, cev, &e)
	return int(rc), takeError(e)
}

func (b *cBulk) count() int { return int(C.suprsend_bulk_count(b.ptr)) }

type bulkCall struct {
	pending
	resp *C.suprsend_bulk_response
}

func (t *bulkCall) freeResult() {
	C.suprsend_bulk_response_free(t.resp)
	t.resp = nil
}

func (b *cBulk) startTrigger(t *bulkCall) error {
	hd := cgo.NewHandle(t)
	var e *C.char
	rc := C.ss_bulk_trigger_async(b.ptr, b.pump.c, C.uintptr_t(hd), &e)
	if rc != C.SUPRSEND_OK {
		hd.Delete()
		return newError(int(rc), takeError(e))
	}
	return nil
}

// cFailure is one failed record of the library's bulk response.
type cFailure struct {
	index   int
	code    int
	message string
	record  string
}

type cBulkResult struct {
	total, success, failure int
	failures                []cFailure
}

func (t *bulkCall) result() (*cBulkResult, error) {
	r := t.resp
	defer t.freeResult()
	if r == nil {
		return nil, newError(t.status, "")
	}
	out := &cBulkResult{
		total:   int(C.suprsend_bulk_response_total(r)),
		success: int(C.suprsend_bulk_response_success(r)),
		failure: int(C.suprsend_bulk_response_failure(r)),
	}
	out.failures = make([]cFailure, 0, out.failure)
	for i := 0; i < out.failure; i++ {
		ci := C.long(i)
		out.failures = append(out.failures, cFailure{
			index:   int(C.suprsend_bulk_response_failed_index(r, ci)),
			code:    int(C.suprsend_bulk_response_failed_code(r, ci)),
			message: C.GoString(C.suprsend_bulk_response_failed_message(r, ci)),
			record:  C.GoString(C.suprsend_bulk_response_failed_record_json(r, ci)),
		})
	}
	return out, nil
}
