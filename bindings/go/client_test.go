package suprsend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewClientRefusals(t *testing.T) {
	if _, err := NewClient("", "secret"); err != ErrMissingAPIKey {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := NewClient("key", ""); err != ErrMissingAPISecret {
		t.Fatalf("missing secret: %v", err)
	}
	_, err := NewClient("key", "secret", WithHTTPClient(&http.Client{}))
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "does its own HTTP") || e.Code != 400 {
		t.Fatalf("WithHTTPClient: %#v", err)
	}
	_, err = NewClient("key", "secret", WithBaseUrl("ftp://example/"))
	if !errors.As(err, &e) || !errors.Is(err, StatusArgument) || !strings.Contains(e.Message, "WithBaseUrl") {
		t.Fatalf("bad base URL: %#v", err)
	}
	_, err = NewClient("key", "secret", WithProxyUrl("gopher://proxy:70"))
	if !errors.Is(err, StatusArgument) {
		t.Fatalf("bad proxy: %#v", err)
	}
	c, err := NewClient("key", "secret", WithTimeout(5), WithDebug(false), WithProxyUrl("http://127.0.0.1:3128"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ApiKey != "key" || c.ApiSecret != "secret" || c.BulkEvents == nil {
		t.Fatalf("client fields: %+v", c)
	}
	if !strings.HasPrefix(Version(), "0.") {
		t.Fatalf("version %q", Version())
	}
}

func TestTrackEvent(t *testing.T) {
	hubReset(t)
	c := newTestClient(t)
	ev := &Event{
		DistinctId: "user_1", EventName: "product_purchased",
		Properties:     map[string]any{"first_name": "User", "spend": 10, "html": "<b>&</b>", "nested": map[string]any{"k": []any{1, "two"}}},
		IdempotencyKey: "order-1", TenantId: "acme", BrandId: "acme_brand",
	}
	resp, err := c.TrackEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Success || resp.StatusCode != 202 || !strings.HasPrefix(resp.Message, "msg_") {
		t.Fatalf("response %v", resp)
	}
	if !strings.Contains(resp.String(), "StatusCode: 202") {
		t.Fatal(resp.String())
	}
	evs := hubEvents(t)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	got := evs[0]
	props := got["properties"].(map[string]any)
	if got["distinct_id"] != "user_1" || got["event"] != "product_purchased" || got["$idempotency_key"] != "order-1" ||
		got["tenant_id"] != "acme" || got["brand_id"] != "acme_brand" || props["html"] != "<b>&</b>" || props["spend"] != 10.0 {
		t.Fatalf("hub got %v", got)
	}
	// The event is not changed by sending it, and may be sent again (the key makes it a repeat).
	if _, err := c.TrackEvent(ev); err != nil {
		t.Fatal(err)
	}
	if s := hubGetStats(t); s.Accepted != 1 || s.Duplicates != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTrackEventRefusedBeforeSending(t *testing.T) {
	hubReset(t)
	c := newTestClient(t)
	cases := []struct {
		ev     *Event
		status Status
		code   int
	}{
		{&Event{EventName: "product_purchased"}, StatusValidation, 400},
		{&Event{DistinctId: "u", EventName: "$purchase"}, StatusValidation, 400},
		{&Event{DistinctId: "u", EventName: "ok_name", TenantId: "not a tenant"}, StatusValidation, 400},
		{&Event{DistinctId: "u", EventName: "ok_name", Properties: map[string]any{"big": strings.Repeat("x", 200000)}}, StatusTooLarge, 413},
		{&Event{DistinctId: "u\x00", EventName: "ok_name"}, StatusArgument, 400},
		{&Event{DistinctId: "u", EventName: "ok_name", Properties: map[string]any{"ch": make(chan int)}}, 0, 400},
	}
	for i, tc := range cases {
		resp, err := c.TrackEvent(tc.ev)
		var e *Error
		if resp != nil || !errors.As(err, &e) || e.Code != tc.code || e.Message == "" {
			t.Fatalf("case %d: %v %#v", i, resp, err)
		}
		if tc.status != 0 && !errors.Is(err, tc.status) {
			t.Fatalf("case %d: %#v is not %v", i, err, tc.status)
		}
	}
	if _, err := c.TrackEvent(nil); err == nil {
		t.Fatal("nil event accepted")
	}
	if s := hubGetStats(t); s.Requests != 0 {
		t.Fatalf("something was sent: %+v", s)
	}
}

func TestTrackEventHubAnswers(t *testing.T) {
	hubReset(t)
	c := newTestClient(t, WithMaxRetries(2))
	// A refusal is not retried, and comes back with the hub's status and message.
	hubFaults(t, map[string]any{"script": []any{map[string]any{"refuse_records": []int{0}}}})
	_, err := c.TrackEvent(&Event{DistinctId: "u", EventName: "refused_one"})
	var e *Error
	if !errors.As(err, &e) || e.Code != 400 || !errors.Is(err, StatusHTTP) || !strings.Contains(e.Message, "injected fault") {
		t.Fatalf("refusal: %#v", err)
	}
	// The same through the asynchronous call (a context that can end).
	hubFaults(t, map[string]any{"script": []any{map[string]any{"refuse_records": []int{0}}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err2 := c.TrackEventWithContext(ctx, &Event{DistinctId: "u", EventName: "refused_one"})
	var e2 *Error
	if !errors.As(err2, &e2) || e2.Code != 400 || !errors.Is(err2, StatusHTTP) || e2.Message != e.Message {
		t.Fatalf("refusal, async: %#v", err2)
	}
	if resp, err := c.TrackEventWithContext(ctx, &Event{DistinctId: "u", EventName: "accepted_async"}); err != nil || resp.StatusCode != 202 {
		t.Fatalf("async: %v %v", resp, err)
	}
	// A 503 then a 202: retried, accepted once.
	hubReset(t)
	hubFaults(t, map[string]any{"script": []any{map[string]any{"status": 503}}})
	resp, err := c.TrackEvent(&Event{DistinctId: "u", EventName: "retried_one"})
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("retry: %v %v", resp, err)
	}
	if s := hubGetStats(t); s.Requests != 2 || s.Accepted != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTrackEventNoHub(t *testing.T) {
	// A port nobody listens on: connection refused, retried, then an *Error with code 500.
	c, err := NewClient(testKey, testSecret, WithBaseUrl("http://127.0.0.1:9/"), WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.TrackEvent(&Event{DistinctId: "u", EventName: "lost_one"})
	var e *Error
	if !errors.As(err, &e) || e.Code != 500 || !errors.Is(err, StatusNetwork) {
		t.Fatalf("%#v", err)
	}
}

func TestAddAttachment(t *testing.T) {
	hubReset(t)
	c := newTestClient(t)
	dir := t.TempDir()
	pdf := filepath.Join(dir, "invoice.pdf")
	if err := os.WriteFile(pdf, []byte("%PDF-1.4 hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.txt")
	_ = os.WriteFile(empty, nil, 0o600)

	ev := &Event{DistinctId: "u", EventName: "invoice_generated"}
	if err := ev.AddAttachment(pdf); err != nil { // the seed's one-argument call
		t.Fatal(err)
	}
	if err := ev.AddAttachment(pdf, &AttachmentOption{FileName: " renamed.pdf "}); err != nil {
		t.Fatal(err)
	}
	if err := ev.AddAttachment("https://example.com/file.pdf", nil); err != nil { // a nil option
		t.Fatal(err)
	}
	err := ev.AddAttachment(filepath.Join(dir, "missing.pdf"))
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %#v", err)
	}
	if err := ev.AddAttachment(filepath.Join(dir, "missing.pdf"), &AttachmentOption{IgnoreIfError: true}); err != nil {
		t.Fatalf("missing file, IgnoreIfError: %v", err)
	}
	if err := ev.AddAttachment(empty); err == nil {
		t.Fatal("empty file accepted")
	}
	if err := ev.AddAttachment("https://"); err == nil {
		t.Fatal("URL without a host accepted")
	}
	if _, err := c.TrackEvent(ev); err != nil {
		t.Fatal(err)
	}
	evs := hubEvents(t)
	atts := evs[0]["properties"].(map[string]any)["$attachments"].([]any)
	if len(atts) != 3 {
		t.Fatalf("attachments %v", atts)
	}
	a0, a1, a2 := atts[0].(map[string]any), atts[1].(map[string]any), atts[2].(map[string]any)
	if a0["filename"] != "invoice.pdf" || a0["contentType"] != "application/pdf" || a0["data"] == nil ||
		a1["filename"] != "renamed.pdf" || a2["url"] != "https://example.com/file.pdf" {
		t.Fatalf("attachments %v", atts)
	}
}

func TestBulk(t *testing.T) {
	hubReset(t)
	c := newTestClient(t)
	bulk := c.BulkEvents.NewInstance()
	props := map[string]any{"k1": "v1"}
	ev1 := &Event{EventName: "bulk_one", DistinctId: "u1", Properties: props}
	bad := &Event{EventName: "$bad", DistinctId: "u2"}
	unencodable := &Event{EventName: "bulk_chan", DistinctId: "u3", Properties: map[string]any{"c": make(chan int)}}
	ev4 := &Event{EventName: "bulk_four", DistinctId: "u4"}
	bulk.Append(ev1, nil, bad, unencodable, ev4)
	// Append copied the events: later changes do not reach the bulk.
	props["k1"] = "changed"
	ev1.DistinctId = "changed"

	resp, err := bulk.Trigger()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != "partial" || resp.Total != 4 || resp.Success != 2 || resp.Failure != 2 || len(resp.FailedRecords) != 2 {
		t.Fatalf("%v %v", resp, resp.FailedRecords)
	}
	f0, f1 := resp.FailedRecords[0], resp.FailedRecords[1]
	if f0["code"] != 500 || f0["record"].(map[string]any)["event"] != "$bad" || f0["error"] == "" {
		t.Fatalf("first failed record %v", f0)
	}
	if f1["code"] != 500 || f1["record"].(map[string]any)["event"] != "bulk_chan" {
		t.Fatalf("second failed record %v", f1)
	}
	if !strings.Contains(resp.String(), "Status: partial") {
		t.Fatal(resp.String())
	}
	evs := hubEvents(t)
	if len(evs) != 2 || evs[0]["distinct_id"] != "u1" || evs[0]["properties"].(map[string]any)["k1"] != "v1" || evs[1]["event"] != "bulk_four" {
		t.Fatalf("hub got %v", evs)
	}
	// A bulk is sent once.
	if _, err := bulk.Trigger(); err == nil {
		t.Fatal("second trigger accepted")
	}
}

func TestBulkHubRefusalsAndChunks(t *testing.T) {
	hubReset(t)
	c := newTestClient(t)
	bulk := c.BulkEvents.NewInstance()
	dir := t.TempDir()
	file := filepath.Join(dir, "a.txt")
	_ = os.WriteFile(file, []byte("attached text"), 0o600)
	for i := 0; i < 250; i++ {
		ev := &Event{EventName: "bulk_many", DistinctId: fmt.Sprintf("u%d", i), Properties: map[string]any{"i": i}}
		if i == 7 || i == 120 {
			if err := ev.AddAttachment(file); err != nil {
				t.Fatal(err)
			}
		}
		if i == 5 {
			ev.EventName = "" // refused by the library before sending
		}
		bulk.Append(ev)
	}
	// The first request's record 3 is refused by the hub.
	hubFaults(t, map[string]any{"script": []any{map[string]any{"refuse_records": []int{3}}}})
	resp, err := bulk.Trigger()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Total != 250 || resp.Success != 248 || resp.Failure != 2 || resp.Status != "partial" {
		t.Fatalf("%v %v", resp, resp.FailedRecords)
	}
	r0, r1 := resp.FailedRecords[0], resp.FailedRecords[1]
	// In append order: the hub's record 3 is event 3; event 5 was refused before sending.
	if r0["code"] != 400 || r0["record"].(map[string]any)["distinct_id"] != "u3" ||
		r1["code"] != 500 || r1["record"].(map[string]any)["distinct_id"] != "u5" {
		t.Fatalf("failed records %v", resp.FailedRecords)
	}
	if s := hubGetStats(t); s.Requests != 3 || s.Accepted != 248 {
		t.Fatalf("stats %+v", s)
	}
	withAtt := 0
	for _, ev := range hubEvents(t) {
		if _, ok := ev["properties"].(map[string]any)["$attachments"]; ok {
			withAtt++
		}
	}
	if withAtt != 2 {
		t.Fatalf("%d events with attachments", withAtt)
	}
}

// A bulk larger than one batch (bulk.go, batchSize): the library gets the events a batch at a
// time while they are appended; the failed records still come in append order, whichever side
// refused them, and an event that was not triggered is never sent.
func TestBulkLargerThanABatch(t *testing.T) {
	hubReset(t)
	c := newTestClient(t)
	b := c.BulkEvents.NewInstance()
	const n = 1200 // about 300 bytes each: three batches
	pad := strings.Repeat("p", 200)
	for i := 0; i < n; i++ {
		ev := &Event{DistinctId: fmt.Sprintf("u%d", i), EventName: "bulk_batches", Properties: map[string]any{"i": i, "pad": pad}}
		switch i {
		case 10, 900: // refused by the library when it is handed the batch (too deep to make)
			ev.Properties = deepProperties(80)
		case 20, 1150: // refused by Go at Append (not encodable)
			ev.Properties = map[string]any{"f": func() {}}
		case 30, 600: // kept by the library as failed records (a reserved name)
			ev.EventName = "$reserved"
		}
		b.Append(ev)
	}
	resp, err := b.Trigger()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Total != n || resp.Failure != 6 || resp.Success != n-6 || resp.Status != "partial" {
		t.Fatalf("%v", resp)
	}
	for k, want := range []string{"u10", "u20", "u30", "u600", "u900", "u1150"} {
		r := resp.FailedRecords[k]
		if rec, _ := r["record"].(map[string]any); rec == nil || rec["distinct_id"] != want || r["code"] != 500 {
			t.Fatalf("failed record %d: %v", k, r)
		}
	}
	b.Append(&Event{DistinctId: "late", EventName: "bulk_batches"})
	evs := hubEvents(t)
	if len(evs) != n-6 {
		t.Fatalf("hub got %d events", len(evs))
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev["distinct_id"].(string)] = true
	}
	for _, id := range []string{"u0", "u11", "u599", "u601", "u1199"} {
		if !seen[id] {
			t.Fatalf("%s not at the hub", id)
		}
	}
	if seen["late"] || seen["u600"] {
		t.Fatal("an event appended after Trigger, or a refused one, reached the hub")
	}
	// A bulk never triggered: its library bulk is freed once it is unreachable.
	for i := 0; i < 3; i++ {
		nb := c.BulkEvents.NewInstance()
		for j := 0; j < 600; j++ {
			nb.Append(&Event{DistinctId: "u", EventName: "never_sent", Properties: map[string]any{"pad": pad}})
		}
	}
	runtime.GC()
	runtime.GC()
	if s := hubGetStats(t); s.Accepted != n-6 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBulkEmptyAndAllRefused(t *testing.T) {
	hubReset(t)
	c := newTestClient(t)
	resp, err := c.BulkEvents.NewInstance().Trigger()
	if err != nil || resp.Status != "success" || resp.Total != 0 || resp.FailedRecords == nil {
		t.Fatalf("empty: %v %v", resp, err)
	}
	b := c.BulkEvents.NewInstance()
	b.Append(&Event{DistinctId: "u", EventName: "x"}, &Event{DistinctId: "u", EventName: "ok", Properties: map[string]any{"f": func() {}}})
	resp, err = b.Trigger()
	if err != nil || resp.Status != "fail" || resp.Total != 2 || resp.Failure != 2 || resp.Success != 0 {
		t.Fatalf("all refused: %v %v", resp, err)
	}
	// Only events the library could not make: its bulk holds none, nothing is sent.
	b = c.BulkEvents.NewInstance()
	b.Append(&Event{DistinctId: "u", EventName: "too_deep", Properties: deepProperties(80)})
	resp, err = b.Trigger()
	if err != nil || resp.Status != "fail" || resp.Total != 1 || resp.Failure != 1 || resp.FailedRecords[0]["code"] != 500 {
		t.Fatalf("all refused by the library: %v %v", resp, err)
	}
	if s := hubGetStats(t); s.Requests != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestContextDeadlines(t *testing.T) {
	hubReset(t)
	c := newTestClient(t)
	hubFaults(t, map[string]any{"script": []any{map[string]any{"delay_ms": 5000}, map[string]any{"delay_ms": 5000}}})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.TrackEventWithContext(ctx, &Event{DistinctId: "u", EventName: "slow_one"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("track: %v after %v", err, time.Since(start))
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != 500 {
		t.Fatalf("%#v", err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	b := c.BulkEvents.NewInstance()
	b.Append(&Event{DistinctId: "u", EventName: "slow_bulk"})
	go func() { time.Sleep(200 * time.Millisecond); cancel2() }()
	start = time.Now()
	_, err = b.TriggerWithContext(ctx2)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("bulk: %v after %v", err, time.Since(start))
	}

	// A context already done: nothing is sent.
	hubReset(t)
	if _, err := c.TrackEventWithContext(ctx, &Event{DistinctId: "u", EventName: "never_sent"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	b = c.BulkEvents.NewInstance()
	b.Append(&Event{DistinctId: "u", EventName: "never_sent"})
	if _, err := b.TriggerWithContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if s := hubGetStats(t); s.Requests != 0 {
		t.Fatalf("stats %+v", s)
	}
	// The client still works after abandoned calls.
	if _, err := c.TrackEvent(&Event{DistinctId: "u", EventName: "after_abandon"}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentUse(t *testing.T) {
	hubReset(t)
	c := newTestClient(t)
	const goroutines, each = 32, 20
	var wg sync.WaitGroup
	var failures int64
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var err error
				switch i % 3 {
				case 0:
					_, err = c.TrackEvent(&Event{DistinctId: fmt.Sprintf("u%d", g), EventName: "concurrent", Properties: map[string]any{"i": i}})
				case 1:
					b := c.BulkEvents.NewInstance()
					b.Append(&Event{DistinctId: fmt.Sprintf("u%d", g), EventName: "concurrent_bulk"})
					var r *BulkResponse
					if r, err = b.Trigger(); err == nil && r.Failure != 0 {
						err = fmt.Errorf("%v", r.FailedRecords)
					}
				case 2:
					err = c.Enqueue(&Event{DistinctId: fmt.Sprintf("u%d", g), EventName: "concurrent_queued"})
				}
				if err != nil {
					atomic.AddInt64(&failures, 1)
					t.Error(err)
				}
			}
		}(g)
	}
	// The same bulk from many goroutines too.
	shared := c.BulkEvents.NewInstance()
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shared.Append(&Event{DistinctId: "shared", EventName: "shared_bulk"})
		}()
	}
	wg.Wait()
	if r, err := shared.Trigger(); err != nil || r.Success != 8 {
		t.Fatalf("shared bulk: %v %v", r, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if failures == 0 {
		want := goroutines*each + 8
		if s := hubGetStats(t); s.Accepted != want {
			t.Fatalf("hub accepted %d, want %d", s.Accepted, want)
		}
	}
}

func TestBackgroundDelivery(t *testing.T) {
	hubReset(t)
	var mu sync.Mutex
	var deliveries []Delivery
	c := newTestClient(t, WithDeliveryCallback(func(d Delivery) {
		mu.Lock()
		deliveries = append(deliveries, d)
		mu.Unlock()
	}), WithFlushInterval(50*time.Millisecond))
	for i := 0; i < 100; i++ {
		ev := &Event{DistinctId: "u", EventName: "queued_one", Properties: map[string]any{"i": i}}
		if i == 0 {
			ev.IdempotencyKey = "queued-key-0"
		}
		if err := c.Enqueue(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Enqueue(&Event{DistinctId: "", EventName: "queued_bad"}); !errors.Is(err, StatusValidation) {
		t.Fatalf("invalid event enqueued: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(deliveries)
	first := deliveries[0]
	ok := 0
	for _, d := range deliveries {
		if d.Err == nil && d.StatusCode == 202 && d.Attempts == 1 && d.InsertId != "" {
			ok++
		}
	}
	mu.Unlock()
	if n != 100 || ok != 100 || first.EventName != "queued_one" || first.DistinctId != "u" {
		t.Fatalf("%d deliveries, %d ok, first %+v", n, ok, first)
	}
	st := c.Stats()
	if st.Delivered != 100 || st.Queued != 0 || st.OutboxBytes != 0 {
		t.Fatalf("stats %+v", st)
	}
	if s := hubGetStats(t); s.Accepted != 100 {
		t.Fatalf("hub %+v", s)
	}

	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		c.Enqueue(&Event{DistinctId: "u", EventName: "after_close"}),
		func() error { _, err := c.TrackEvent(&Event{DistinctId: "u", EventName: "after_close"}); return err }(),
		c.Flush(ctx),
		c.Close(ctx),
	} {
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, StatusClosed) {
			t.Fatalf("after Close: %#v", err)
		}
	}
	b := c.BulkEvents.NewInstance()
	b.Append(&Event{DistinctId: "u", EventName: "after_close"})
	if _, err := b.Trigger(); !errors.Is(err, StatusClosed) {
		t.Fatalf("bulk after Close: %v", err)
	}
	if c.Stats().Delivered != 100 {
		t.Fatal("stats after close")
	}
}

func TestDeliveryRefusedAndClosedEarly(t *testing.T) {
	hubReset(t)
	var refused, closed int64
	c := newTestClient(t, WithDeliveryCallback(func(d Delivery) {
		switch {
		case errors.Is(d.Err, StatusHTTP):
			atomic.AddInt64(&refused, 1)
		case errors.Is(d.Err, StatusClosed):
			atomic.AddInt64(&closed, 1)
		}
		if d.EventName == "panics" {
			panic("a callback that panics does not end the process")
		}
	}))
	hubFaults(t, map[string]any{"script": []any{map[string]any{"refuse_records": []int{0}}}})
	if err := c.Enqueue(&Event{DistinctId: "u", EventName: "panics"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if atomic.LoadInt64(&refused) != 1 || c.Stats().Refused != 1 {
		t.Fatalf("refused %d, stats %+v", refused, c.Stats())
	}
	// The hub stalls; Close with a short deadline leaves the memory queue's events, reported.
	hubFaults(t, map[string]any{"script": []any{map[string]any{"delay_ms": 5000}}})
	for i := 0; i < 3; i++ {
		_ = c.Enqueue(&Event{DistinctId: "u", EventName: "stalled"})
	}
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	err := c.Close(short)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close: %#v", err)
	}
	if atomic.LoadInt64(&closed) != 3 {
		t.Fatalf("%d reported closed", closed)
	}
	hubReset(t)
}

func TestFlushContext(t *testing.T) {
	hubReset(t)
	c := newTestClient(t, WithFlushInterval(time.Hour))
	hubFaults(t, map[string]any{"script": []any{map[string]any{"delay_ms": 3000}}})
	if err := c.Enqueue(&Event{DistinctId: "u", EventName: "flush_slow"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(250 * time.Millisecond); cancel() }()
	start := time.Now()
	if err := c.Flush(ctx); !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("flush: %v after %v", err, time.Since(start))
	}
	hubCall(t, "POST", "/_hub/release", map[string]any{})
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := hubGetStats(t); s.Accepted != 1 {
		t.Fatalf("%+v", s)
	}
}

func TestOutbox(t *testing.T) {
	hubReset(t)
	path := filepath.Join(t.TempDir(), "outbox.db")
	c := newTestClient(t, WithOutbox(path))
	for i := 0; i < 10; i++ {
		if err := c.Enqueue(&Event{DistinctId: "u", EventName: "outboxed"}); err != nil {
			t.Fatal(err)
		}
	}
	if c.Stats().OutboxBytes == 0 {
		t.Fatal("no outbox bytes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := hubGetStats(t); s.Accepted != 10 {
		t.Fatalf("%+v", s)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	// Not an outbox: refused at NewClient.
	notOutbox := filepath.Join(t.TempDir(), "other")
	_ = os.WriteFile(notOutbox, []byte("hello"), 0o600)
	if _, err := NewClient(testKey, testSecret, WithOutbox(notOutbox)); !errors.Is(err, StatusStorage) {
		t.Fatalf("%#v", err)
	}
}

func TestDebugLog(t *testing.T) {
	hubReset(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	log.SetOutput(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return buf.Write(p) }))
	defer log.SetOutput(os.Stderr)
	c := newTestClient(t, WithDebug(true))
	if _, err := c.TrackEvent(&Event{DistinctId: "u", EventName: "debugged"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "DEBUG: suprsend:") || !strings.Contains(out, "v2/event/") || strings.Contains(out, testSecret) {
		t.Fatalf("log: %s", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestClientFinalizer(t *testing.T) {
	// Clients dropped without Close are freed by the finalizer; nothing else must notice.
	hubReset(t)
	before := atomic.LoadInt64(&clientsFreed)
	for i := 0; i < 20; i++ {
		c, err := NewClient(testKey, testSecret, WithBaseUrl(hubURL))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.TrackEvent(&Event{DistinctId: "u", EventName: "dropped_client"}); err != nil {
			t.Fatal(err)
		}
		_ = c.Enqueue(&Event{DistinctId: "u", EventName: "dropped_client_queued"})
	}
	// clientsFreed counts the clients of earlier tests too: wait for the hub's count as well.
	for i := 0; i < 100 && (atomic.LoadInt64(&clientsFreed)-before < 20 || hubGetStats(t).Accepted < 40); i++ {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	if freed := atomic.LoadInt64(&clientsFreed) - before; freed == 0 {
		t.Fatal("no dropped client was freed")
	}
	if s := hubGetStats(t); s.Accepted != 40 {
		t.Fatalf("hub accepted %d: the queued events of freed clients are delivered at free", s.Accepted)
	}
}

func deepProperties(depth int) map[string]any {
	m := map[string]any{"leaf": 1}
	for i := 0; i < depth; i++ {
		m = map[string]any{"d": m}
	}
	return m
}

func TestEventsTheLibraryCannotTake(t *testing.T) {
	hubReset(t)
	c := newTestClient(t)
	// Properties nested deeper than the library's 64: refused before sending.
	_, err := c.TrackEvent(&Event{DistinctId: "u", EventName: "too_deep", Properties: deepProperties(80)})
	var e *Error
	if !errors.As(err, &e) || e.Code != 400 || !errors.Is(err, StatusArgument) {
		t.Fatalf("deep: %#v", err)
	}
	// A NUL inside a property value is text like any other.
	if _, err := c.TrackEvent(&Event{DistinctId: "u", EventName: "nul_inside", Properties: map[string]any{"s": "a\x00b"}}); err != nil {
		t.Fatal(err)
	}
	// In a bulk, only the event the library cannot take fails; the others of its run go.
	b := c.BulkEvents.NewInstance()
	for i := 0; i < 10; i++ {
		ev := &Event{DistinctId: fmt.Sprintf("u%d", i), EventName: "bulk_deep"}
		if i == 4 {
			ev.Properties = deepProperties(80)
		}
		if i == 6 {
			ev.EventName = "$reserved"
		}
		if i == 2 {
			ev.Properties = map[string]any{"f": func() {}}
		}
		b.Append(ev)
	}
	resp, err := b.Trigger()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Total != 10 || resp.Success != 7 || resp.Failure != 3 {
		t.Fatalf("%v %v", resp, resp.FailedRecords)
	}
	for k, want := range []string{"u2", "u4", "u6"} {
		r := resp.FailedRecords[k]
		if r["record"].(map[string]any)["distinct_id"] != want || r["code"] != 500 {
			t.Fatalf("failed record %d: %v", k, r)
		}
	}
	// The record of the event the library could not make shows it whole.
	if rec := resp.FailedRecords[1]["record"].(map[string]any); rec["event"] != "bulk_deep" || rec["properties"] == nil {
		t.Fatalf("record of the deep event: %v", rec)
	}
}
