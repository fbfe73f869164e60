package suprsend

// How the library's completions and deliveries reach Go. No Go code runs on a library thread:
// the C callbacks (capi.go, ss_track_done, ss_bulk_done, ss_delivery_cb) copy what they get into
// the client's C queue (a "pump") and, when the queue was empty, write a byte to a pipe. A
// goroutine of the client (pump.run) waits on the pipe's other end through Go's network poller,
// takes everything queued in one cgo call and completes the waiting calls; deliveries go on to a
// second goroutine (pump.deliver), which calls the delivery callback, one event after another in
// the order the library reported them. So a library thread never waits for a Go thread or
// scheduler (a Go callback from a thread Go did not make costs a thread set-up and a wait for
// the scheduler per call), many completions cost one wake-up, and a slow delivery callback
// delays neither the library's worker nor the completion of TrackEvent and Trigger calls.
// C never holds a Go pointer: the calls are named by runtime/cgo.Handles.

/*
#include <stdint.h>
#include <stdlib.h>
#include <suprsend.h>
#include "pump.h"

extern void goLog(int level, char *message, void *user_data);
*/
import "C"

import (
	"log"
	"os"
	"runtime/cgo"
	"sync"
	"syscall"
	"unsafe"
)

// pending is the meeting point of an asynchronous call's completion (from the pump) and the
// goroutine that waits for it (or stops waiting, on its context).
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

// pump is the Go side of one client's C queue of completions and deliveries.
type pump struct {
	c   *C.ss_pump
	r   *os.File // the pipe's read end (non-blocking: Go's poller waits on it)
	wfd int      // the write end, written by C; closed once the C client is freed

	delivery func(Delivery) // nil: no delivery callback

	mu         sync.Mutex
	queued     []Delivery    // taken by deliver
	wake       chan struct{} // cap 1: deliveries queued
	closing    bool          // run has ended: deliver returns when queued is empty
	delivered  uint64        // deliveries the callback has returned from
	progress   chan struct{} // closed and replaced each time delivered grows
	deliverEnd chan struct{} // closed when deliver has returned
}

func newPump(delivery func(Delivery)) (*pump, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return nil, err
	}
	c := C.ss_pump_new(C.int(fds[1]))
	if c == nil {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
		return nil, syscall.ENOMEM
	}
	p := &pump{c: c, r: os.NewFile(uintptr(fds[0]), "suprsend-pump"), wfd: fds[1], delivery: delivery,
		wake: make(chan struct{}, 1), progress: make(chan struct{}), deliverEnd: make(chan struct{})}
	go p.run()
	go p.deliver()
	return p, nil
}

// stop is called once the C client is freed (no callback can come any more): run takes what
// is left, then ends, and frees the C queue.
func (p *pump) stop() { syscall.Close(p.wfd) }

func (p *pump) run() {
	var buf [64]byte
	for {
		_, err := p.r.Read(buf[:])
		p.drain()
		if err != nil { // EOF: stop closed the write end
			break
		}
	}
	p.r.Close()
	p.drain()
	C.ss_pump_free(p.c)
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// drain completes every call queued in C and hands the deliveries to deliver.
func (p *pump) drain() {
	var n C.size_t
	items := C.ss_pump_take(p.c, &n)
	if items == nil {
		return
	}
	notes := unsafe.Slice(items, int(n))
	var deliveries []Delivery
	for i := range notes {
		note := &notes[i]
		switch note.kind {
		case C.SS_NOTE_TRACK:
			h := cgo.Handle(note.handle)
			t := h.Value().(*trackCall)
			h.Delete()
			t.mu.Lock()
			t.status, t.completed = int(note.status), true
			if note.has_resp != 0 {
				t.res = trackResult{ok: true, success: note.success != 0, statusCode: int(note.status_code),
					message: noteText(note, 0)}
			}
			t.mu.Unlock()
			close(t.done)
		case C.SS_NOTE_BULK:
			h := cgo.Handle(note.handle)
			t := h.Value().(*bulkCall)
			h.Delete()
			t.mu.Lock()
			t.status, t.resp, t.completed = int(note.status), note.bulk, true
			if t.abandoned {
				t.freeResult() // nobody waits for this answer any more
			}
			t.mu.Unlock()
			close(t.done)
		case C.SS_NOTE_DELIVERY:
			deliveries = append(deliveries, noteDelivery(note))
		}
	}
	C.ss_notes_free(items, n)
	if len(deliveries) > 0 {
		p.mu.Lock()
		p.queued = append(p.queued, deliveries...)
		p.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// noteText is the i-th string of a note's text block (see ss_note).
func noteText(n *C.ss_note, i int) string {
	off := 0
	for k := 0; k < i; k++ {
		off += int(n.lens[k])
	}
	if n.lens[i] == 0 {
		return ""
	}
	return C.GoStringN((*C.char)(unsafe.Add(unsafe.Pointer(n.text), off)), C.int(n.lens[i]))
}

// noteDelivery is the Delivery of a note: its strings share one Go copy of the text block.
func noteDelivery(n *C.ss_note) Delivery {
	var s [5]string
	total := 0
	for i := range s {
		total += int(n.lens[i])
	}
	if total > 0 {
		text, off := C.GoStringN(n.text, C.int(total)), 0
		for i := range s {
			s[i] = text[off : off+int(n.lens[i])]
			off += int(n.lens[i])
		}
	}
	d := Delivery{InsertId: s[0], IdempotencyKey: s[1], EventName: s[2], DistinctId: s[3],
		StatusCode: int(n.http_status), Attempts: int(n.attempts)}
	if status := int(n.status); status != int(C.SUPRSEND_OK) {
		e := newError(status, s[4])
		if d.StatusCode != 0 {
			e.Code = d.StatusCode
		}
		d.Err = e
	}
	return d
}

// deliver calls the delivery callback for each delivery, in order.
func (p *pump) deliver() {
	defer close(p.deliverEnd)
	for {
		p.mu.Lock()
		batch, closing := p.queued, p.closing
		p.queued = nil
		p.mu.Unlock()
		if len(batch) == 0 {
			if closing {
				return
			}
			<-p.wake
			continue
		}
		for i := range batch {
			p.call(batch[i])
		}
		p.mu.Lock()
		p.delivered += uint64(len(batch))
		close(p.progress)
		p.progress = make(chan struct{})
		p.mu.Unlock()
	}
}

func (p *pump) call(d Delivery) {
	defer func() {
		// A panic in the callback must not end the goroutine that delivers the others.
		if r := recover(); r != nil {
			log.Printf("suprsend: the delivery callback panicked (event %s, insert id %s): %v", d.EventName, d.InsertId, r)
		}
	}()
	p.delivery(d)
}

// posted is how many deliveries the library has reported so far.
func (p *pump) posted() uint64 { return uint64(C.ss_pump_posted(p.c)) }

// waitDelivered waits until the callback has returned for the first n deliveries, or done
// is closed (it reports false then).
func (p *pump) waitDelivered(n uint64, done <-chan struct{}) bool {
	if p.delivery == nil {
		return true
	}
	for {
		p.mu.Lock()
		got, ch := p.delivered, p.progress
		p.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-ch:
		case <-done:
			return false
		}
	}
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
