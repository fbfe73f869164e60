package suprsend

// The library's callbacks into Go. C never holds a Go pointer: user_data is a runtime/cgo.Handle.

/*
#include <suprsend.h>
*/
import "C"

import (
	"log"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// pending is the meeting point of an asynchronous call's completion (on a library thread) and
// the goroutine that waits for it (or stops waiting, on its context).
type pending struct {
	mu        sync.Mutex
	done      chan struct{}
	status    int
	completed bool
	abandoned bool
}

func newPending() pending { return pending{done: make(chan struct{})} }

// abandon is called by a waiter that stops waiting. It reports whether the call had already
// completed, in which case the caller still owns the result and must free it.
func (p *pending) abandon() (completed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.abandoned = true
	return p.completed
}

//export goTrackDone
func goTrackDone(status C.int, response *C.suprsend_response, userData unsafe.Pointer) {
	h := cgo.Handle(uintptr(userData))
	t := h.Value().(*trackCall)
	h.Delete()
	t.mu.Lock()
	t.status, t.resp, t.completed = int(status), response, true
	if t.abandoned {
		// Nobody waits for this answer any more: just free it.
		t.freeResult()
	}
	t.mu.Unlock()
	close(t.done)
}

//export goBulkDone
func goBulkDone(status C.int, response *C.suprsend_bulk_response, userData unsafe.Pointer) {
	h := cgo.Handle(uintptr(userData))
	t := h.Value().(*bulkCall)
	h.Delete()
	t.mu.Lock()
	t.status, t.resp, t.completed = int(status), response, true
	if t.abandoned {
		t.freeResult()
	}
	t.mu.Unlock()
	close(t.done)
}

type deliverySink struct {
	fn func(Delivery)
}

//export goDelivery
func goDelivery(delivery *C.suprsend_delivery, userData unsafe.Pointer) {
	sink := cgo.Handle(uintptr(userData)).Value().(*deliverySink)
	d := readDelivery(delivery)
	defer func() {
		// A panic must not cross into the library's worker thread: that would end the process.
		if r := recover(); r != nil {
			log.Printf("suprsend: the delivery callback panicked (event %s, insert id %s): %v", d.EventName, d.InsertId, r)
		}
	}()
	sink.fn(d)
}

type logSink struct{}

//export goLog
func goLog(level C.int, message *C.char, userData unsafe.Pointer) {
	name := "DEBUG"
	switch {
	case level >= C.SUPRSEND_LOG_ERROR:
		name = "ERROR"
	case level >= C.SUPRSEND_LOG_WARNING:
		name = "WARNING"
	case level >= C.SUPRSEND_LOG_INFO:
		name = "INFO"
	}
	log.Printf("%s: suprsend: %s", name, C.GoString(message))
}
