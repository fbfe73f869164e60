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

// One appended event: its JSON object in the bulk's arena, or why it could not be encoded.
type bulkItem struct {
	start, end  int // arena[start:end] is the object
	attachments []attachment
	refused     *Error
	record      map[string]any // for a refused event
}

type bulkEvents struct {
	client *Client

	mu        sync.Mutex
	arena     []byte // the events' JSON objects, end to end
	items     []bulkItem
	triggered bool
}

// The events of one suprsend_bulk_append_json call, at most.
const appendRun = 1000

func (b *bulkEvents) Append(events ...*Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range events {
		if ev == nil {
			continue
		}
		// The copy: the event as it is now, encoded; later changes to it do not reach the bulk.
		start := len(b.arena)
		var err error
		if b.arena, err = appendEvent(b.arena, ev); err != nil {
			e, _ := err.(*Error)
			b.items = append(b.items, bulkItem{refused: e, record: ev.asJSON()})
			continue
		}
		item := bulkItem{start: start, end: len(b.arena)}
		if len(ev.attachments) > 0 {
			item.attachments = append([]attachment(nil), ev.attachments...)
		}
		b.items = append(b.items, item)
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

	// The library's bulk gets every event Go could encode, in order; cToGo maps its positions
	// back to the bulk's.
	cb := client.h.newBulk()
	defer cb.free()
	cToGo := make([]int, 0, len(b.items))
	var run []byte
	runItems := []int{}
	arena := b.arena
	var goRefused []int
	flushRun := func() error {
		if len(runItems) == 0 {
			return nil
		}
		run[len(run)-1] = ']' // the last ','
		run = append(run, 0)
		rc, _ := cb.appendJSON(run)
		if rc == int(StatusArgument) {
			// Nothing of the run was kept: one event the library cannot take at all (properties
			// nested too deep, ...). One by one, so that only that one fails.
			for _, i := range runItems {
				it := &b.items[i]
				one := make([]byte, 0, it.end-it.start+1)
				one = append(append(one, arena[it.start:it.end]...), 0)
				rc, msg := cb.appendJSON(one)
				if rc == int(StatusArgument) {
					it.refused = newError(rc, msg)
					it.record = recordOf(arena[it.start:it.end])
					goRefused = append(goRefused, i)
					continue
				}
				cToGo = append(cToGo, i)
			}
		} else {
			cToGo = append(cToGo, runItems...)
		}
		run, runItems = run[:0], runItems[:0]
		return nil
	}
	for i := range b.items {
		it := &b.items[i]
		if it.refused != nil {
			goRefused = append(goRefused, i)
			continue
		}
		if len(it.attachments) == 0 {
			if len(runItems) == 0 {
				run = append(run, '[')
			}
			run = append(run, arena[it.start:it.end]...)
			run = append(run, ',')
			runItems = append(runItems, i)
			if len(runItems) >= appendRun {
				if err := flushRun(); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := flushRun(); err != nil {
			return nil, err
		}
		if err := b.appendWithAttachments(cb, it, arena); err != nil {
			// Refused before the library kept it (an attachment it could not take): a failed
			// record all the same.
			it.refused = err
			it.record = recordOf(arena[it.start:it.end])
			goRefused = append(goRefused, i)
			continue
		}
		cToGo = append(cToGo, i)
	}
	if err := flushRun(); err != nil {
		return nil, err
	}
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
	sort.Ints(goRefused) // those of a run were found when it was appended
	return b.response(cres, cToGo, goRefused), nil
}

func (b *bulkEvents) appendWithAttachments(cb *cBulk, it *bulkItem, arena []byte) *Error {
	data := make([]byte, 0, it.end-it.start+1)
	data = append(data, arena[it.start:it.end]...)
	data = append(data, 0)
	ev, err := cEventFromJSON(data, it.attachments)
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
			it := &b.items[goRefused[gi]]
			r.FailedRecords = append(r.FailedRecords, map[string]any{
				"record": it.record, "error": it.refused.Message, "code": 500,
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
