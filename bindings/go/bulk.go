package suprsend

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"sync"
)

// BulkEventsService makes bulks of events: Client.BulkEvents.NewInstance().
type BulkEventsService struct {
	client *Client
}

// BulkEvents is a bulk of events sent together, as in suprsend-go.
type BulkEvents interface {
	// Append copies the events into the bulk (nil ones are skipped). It never fails: an event
	// that breaks a rule is a failed record of Trigger's response. Events appended after
	// Trigger are not sent.
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

// An event refused before the library kept it (Go could not write it, or the library could not
// make it): a failed record with code 500, at its position among the appended events.
type bulkRefusal struct {
	index  int
	err    *Error
	record map[string]any
}

type bulkEvents struct {
	client *Client

	mu        sync.Mutex
	cb        *cBulk // the library's bulk, made at the first event handed to it; it holds the events
	cToGo     []int  // an event's position in the library's bulk -> its position among the appended
	appended  int    // events appended (nil ones are skipped)
	refused   []bulkRefusal
	batch     []byte        // events written and not yet handed to the library, end to end
	items     []pendingItem // where each of them is in batch
	triggered bool
}

// pendingItem is an event in bulkEvents.batch: its parts (appendParts) at batch[start:].
type pendingItem struct {
	index       int
	start       int
	parts       eventParts
	attachments []attachment
}

// The events of a bulk are written into a batch of this size and then handed to the library's
// bulk together, one cgo call each: back to back they cost less than one at a time between the
// building of events (the library's code stays in the caches), and Go holds no more than one
// batch of a bulk however large it grows (the library keeps the events).
const batchSize = 128 << 10

func (b *bulkEvents) Append(events ...*Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.triggered {
		return // a bulk is sent once: what comes after is not sent
	}
	for _, ev := range events {
		if ev == nil {
			continue
		}
		i := b.appended
		b.appended++
		// The copy: the event as it is now, written; later changes to ev do not reach the bulk.
		start := len(b.batch)
		data, p, err := appendParts(b.batch, ev)
		if err != nil {
			e, _ := err.(*Error)
			b.refused = append(b.refused, bulkRefusal{index: i, err: e, record: ev.asJSON()})
			continue
		}
		b.batch = data
		item := pendingItem{index: i, start: start, parts: p}
		if len(ev.attachments) > 0 {
			item.attachments = append([]attachment(nil), ev.attachments...)
		}
		b.items = append(b.items, item)
		if len(b.batch) >= batchSize {
			b.handOver()
		}
	}
}

// handOver gives the batch's events to the library's bulk, which copies and checks each: one
// that breaks a rule is kept there as a failed record (reported by Trigger); one it cannot make
// at all (properties nested too deep, ...) is refused here. Lock held.
func (b *bulkEvents) handOver() {
	if len(b.items) == 0 {
		return
	}
	if b.cb == nil {
		b.cb = b.client.h.newBulk()
	}
	for _, it := range b.items {
		data := b.batch[it.start:]
		var refusal *Error
		if len(it.attachments) == 0 {
			if rc, msg := b.cb.appendParts(data, it.parts); rc == int(StatusArgument) {
				refusal = newError(rc, msg)
			}
		} else {
			refusal = appendWithAttachments(b.cb, data, it.parts, it.attachments)
		}
		if refusal != nil {
			b.refused = append(b.refused, bulkRefusal{index: it.index, err: refusal, record: recordOf(recordJSON(data, it.parts))})
			continue
		}
		b.cToGo = append(b.cToGo, it.index)
	}
	b.batch, b.items = b.batch[:0], b.items[:0]
}

func (b *bulkEvents) Trigger() (*BulkResponse, error) {
	return b.TriggerWithContext(context.Background())
}

func (b *bulkEvents) TriggerWithContext(ctx context.Context) (*BulkResponse, error) {
	b.mu.Lock()
	if b.triggered {
		b.mu.Unlock()
		return nil, &Error{Code: 400, Message: "suprsend: bulk already triggered; make a new instance for more events", Err: StatusArgument}
	}
	if ctx.Err() != nil {
		b.mu.Unlock()
		return nil, contextError("Trigger", ctx)
	}
	b.triggered = true
	b.handOver()
	sort.Slice(b.refused, func(i, j int) bool { return b.refused[i].index < b.refused[j].index })
	cb, cToGo, refused := b.cb, b.cToGo, b.refused
	b.cb, b.cToGo, b.refused, b.batch, b.items = nil, nil, nil, nil, nil
	b.mu.Unlock() // the bulk is ours now: nothing waits on the lock while the network does

	cres := &cBulkResult{}
	if cb != nil {
		defer cb.free()
		if n := cb.count(); n != len(cToGo) {
			return nil, &Error{Code: 500, Message: fmt.Sprintf("suprsend: the library holds %d events of the bulk, not %d", n, len(cToGo)), Err: StatusInternal}
		}
	}
	if len(cToGo) > 0 { // else nothing to send: every event was refused before the library kept it
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
		runtime.KeepAlive(b.client)
		var err error
		if cres, err = t.result(); err != nil {
			return nil, err
		}
	}
	return response(cres, cToGo, refused), nil
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

// response merges the library's outcomes with the events refused before it kept them, in the
// order the events were appended.
func response(cres *cBulkResult, cToGo []int, refused []bulkRefusal) *BulkResponse {
	r := &BulkResponse{
		Total:         cres.total + len(refused),
		Success:       cres.success,
		Failure:       cres.failure + len(refused),
		FailedRecords: make([]map[string]any, 0, cres.failure+len(refused)),
	}
	fi, gi := 0, 0
	for fi < len(cres.failures) || gi < len(refused) {
		goIndexOfC := -1
		if fi < len(cres.failures) {
			if ci := cres.failures[fi].index; ci >= 0 && ci < len(cToGo) {
				goIndexOfC = cToGo[ci]
			}
		}
		if gi < len(refused) && (fi >= len(cres.failures) || refused[gi].index < goIndexOfC) {
			x := refused[gi]
			r.FailedRecords = append(r.FailedRecords, map[string]any{
				"record": x.record, "error": x.err.Message, "code": 500,
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
