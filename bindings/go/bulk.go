package suprsend

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
)

// BulkEventsService makes bulks of events: Client.BulkEvents.NewInstance().
type BulkEventsService struct {
	client *Client
}

// BulkEvents is a bulk of events sent together, as in suprsend-go.
type BulkEvents interface {
	// Append copies the events into the bulk (nil ones are skipped). They are checked when the
	// bulk is triggered: an invalid one is a failed record of the response.
	Append(...*Event)
	// Trigger sends the bulk's valid events (in requests of at most 100 events and 800 KiB)
	// and returns what became of each. A bulk is sent once.
	Trigger() (*BulkResponse, error)
	// TriggerWithContext is Trigger, waiting no longer than ctx allows.
	TriggerWithContext(context.Context) (*BulkResponse, error)
}

// BulkResponse tells what became of a bulk's events, as in suprsend-go. Status is "success"
// (no failures), "partial" or "fail" (no successes). Each failed record is
// {"record": the event object, "error": why, "code": the hub's HTTP status for a record it
// refused, 500 for an event refused before sending or one that got no answer}, in the order
// the events were appended.
type BulkResponse struct {
	Status        string
	FailedRecords []map[string]any
	Total         int
	Success       int
	Failure       int
	Warnings      []string
}

func (b *BulkResponse) String() string {
	return fmt.Sprintf("BulkResponse{Status: %v, Total: %v, Success: %v, Failure: %v, Warnings: %v}",
		b.Status, b.Total, b.Success, b.Failure, len(b.Warnings))
}

// NewInstance makes an empty bulk.
func (s *BulkEventsService) NewInstance() BulkEvents {
	return &bulkEvents{client: s.client}
}

// One appended event: its parts (appendParts) at chunks[chunk][start:]. What few events have
// (their attachments, or why Go refused them) is in the bulk's extras, by the event's position.
type bulkItem struct {
	chunk, start int32
	parts        eventParts
}

// The bulk's events are stored end to end in chunks of this size (a larger one for an event
// that does not fit), so that growing never copies what is stored.
const chunkSize = 256 << 10

type bulkExtra struct {
	attachments []attachment
	refused     *Error
	record      map[string]any // for a refused event
}

type bulkEvents struct {
	client *Client

	mu        sync.Mutex
	chunks    [][]byte // the events' parts, end to end
	items     []bulkItem
	extras    map[int]*bulkExtra
	triggered bool
}

func (b *bulkEvents) extra(i int) *bulkExtra {
	if b.extras == nil {
		b.extras = map[int]*bulkExtra{}
	}
	x := b.extras[i]
	if x == nil {
		x = &bulkExtra{}
		b.extras[i] = x
	}
	return x
}

func (b *bulkEvents) Append(events ...*Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range events {
		if ev == nil {
			continue
		}
		// The copy: the event as it is now, encoded; later changes to it do not reach the bulk.
		// The library gets it at Trigger (events it is given are checked at once).
		last := len(b.chunks) - 1
		if last < 0 || cap(b.chunks[last])-len(b.chunks[last]) < chunkSize/16 {
			b.chunks = append(b.chunks, make([]byte, 0, chunkSize))
			last++
		}
		chunk := b.chunks[last]
		start := len(chunk)
		var p eventParts
		var err error
		if chunk, p, err = appendParts(chunk, ev); err != nil {
			e, _ := err.(*Error)
			x := b.extra(len(b.items))
			x.refused, x.record = e, ev.asJSON()
			b.items = append(b.items, bulkItem{chunk: -1})
			continue
		}
		if start > 0 && len(chunk) > cap(b.chunks[last]) {
			// It did not fit: moved to a chunk of its own (what was stored stays where it was).
			own := append(make([]byte, 0, len(chunk)-start), chunk[start:]...)
			b.chunks = append(b.chunks, own)
			last++
			start = 0
		} else {
			b.chunks[last] = chunk
		}
		if len(ev.attachments) > 0 {
			b.extra(len(b.items)).attachments = append([]attachment(nil), ev.attachments...)
		}
		b.items = append(b.items, bulkItem{chunk: int32(last), start: int32(start), parts: p})
	}
}

func (b *bulkEvents) Trigger() (*BulkResponse, error) {
	return b.TriggerWithContext(context.Background())
}

func (b *bulkEvents) TriggerWithContext(ctx context.Context) (*BulkResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.triggered {
		return nil, &Error{Code: 400, Message: "suprsend: bulk already triggered; make a new instance for more events", Err: StatusArgument}
	}
	if ctx.Err() != nil {
		return nil, contextError("Trigger", ctx)
	}
	b.triggered = true
	client := b.client

	// The library's bulk gets every event it can make, in order (one cgo call each: made,
	// appended and freed in C); cToGo maps its positions back to the bulk's. An event it cannot
	// make at all (properties nested too deep, ...) is refused here, as one Go refused.
	cb := client.h.newBulk()
	defer cb.free()
	cToGo := make([]int, 0, len(b.items))
	var goRefused []int
	for i := range b.items {
		it := &b.items[i]
		x := b.extras[i]
		if x != nil && x.refused != nil {
			goRefused = append(goRefused, i)
			continue
		}
		data := b.chunks[it.chunk][it.start:]
		var err *Error
		if x == nil || len(x.attachments) == 0 {
			if rc, msg := cb.appendParts(data, it.parts); rc == int(StatusArgument) {
				err = newError(rc, msg)
			}
		} else {
			err = appendWithAttachments(cb, data, it.parts, x.attachments)
		}
		if err != nil {
			x = b.extra(i)
			x.refused, x.record = err, recordOf(recordJSON(data, it.parts))
			goRefused = append(goRefused, i)
			continue
		}
		cToGo = append(cToGo, i)
	}
	b.chunks = nil // the library holds the events now
	if n := cb.count(); n != len(cToGo) {
		return nil, &Error{Code: 500, Message: fmt.Sprintf("suprsend: the library holds %d events of the bulk, not %d", n, len(cToGo)), Err: StatusInternal}
	}

	var cres *cBulkResult
	if len(cToGo) > 0 {
		t := &bulkCall{pending: newPending()}
		if err := cb.startTrigger(t); err != nil {
			return nil, err
		}
		select {
		case <-t.done:
		case <-ctx.Done():
			if !t.abandon() {
				return nil, contextError("Trigger", ctx)
			}
			<-t.done
		}
		runtime.KeepAlive(client)
		var err error
		if cres, err = t.result(); err != nil {
			return nil, err
		}
	} else {
		cres = &cBulkResult{}
	}
	return b.response(cres, cToGo, goRefused), nil
}

// appendWithAttachments appends an event with attachments; an *Error when the library kept
// nothing of it (an attachment it could not take, ...).
func appendWithAttachments(cb *cBulk, data []byte, p eventParts, atts []attachment) *Error {
	ev, err := cEventFromParts(data, p, atts)
	if err != nil {
		return err
	}
	defer freeEvent(ev)
	rc, msg := cb.appendEvent(ev)
	if rc == int(StatusArgument) {
		return newError(rc, msg)
	}
	return nil
}

// response merges the library's outcomes with the events refused before it saw them.
func (b *bulkEvents) response(cres *cBulkResult, cToGo []int, goRefused []int) *BulkResponse {
	r := &BulkResponse{
		Total:         cres.total + len(goRefused),
		Success:       cres.success,
		Failure:       cres.failure + len(goRefused),
		FailedRecords: make([]map[string]any, 0, cres.failure+len(goRefused)),
	}
	fi, gi := 0, 0
	for fi < len(cres.failures) || gi < len(goRefused) {
		goIndexOfC := -1
		if fi < len(cres.failures) {
			if ci := cres.failures[fi].index; ci >= 0 && ci < len(cToGo) {
				goIndexOfC = cToGo[ci]
			}
		}
		if gi < len(goRefused) && (fi >= len(cres.failures) || goRefused[gi] < goIndexOfC) {
			x := b.extras[goRefused[gi]]
			r.FailedRecords = append(r.FailedRecords, map[string]any{
				"record": x.record, "error": x.refused.Message, "code": 500,
			})
			gi++
			continue
		}
		f := cres.failures[fi]
		r.FailedRecords = append(r.FailedRecords, map[string]any{
			"record": recordOf([]byte(f.record)), "error": f.message, "code": f.code,
		})
		fi++
	}
	switch {
	case r.Failure == 0:
		r.Status = "success"
	case r.Success == 0:
		r.Status = "fail"
	default:
		r.Status = "partial"
	}
	return r
}

// recordOf is an event object's JSON as a map (nil when it is not one).
func recordOf(data []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil
	}
	return m
}
