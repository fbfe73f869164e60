package suprsend

// Benchmarks: TrackEvent (one goroutine, and 8 at once), a bulk of 100,000 events, Enqueue.
// They send to SUPRSEND_BENCH_BASE_URL when it is set (a server that answers at once, such as
// the nginx of bench/run.py), else to the local hub (correct, but its Python is what is
// measured then). `make bench` measures the same three with CPU per event beside the C
// scenarios (bench/run.py's go_single, go_bulk, go_enqueue, through internal/benchclient).
//
//   go test -run '^$' -bench . -benchtime 200x      (against the local hub)
//   SUPRSEND_BENCH_BASE_URL=http://127.0.0.1:PORT/ go test -run '^$' -bench . -benchtime 3s

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func benchClient(b *testing.B, opts ...ClientOption) *Client {
	base := os.Getenv("SUPRSEND_BENCH_BASE_URL")
	if base == "" {
		base = hubURL
		hubReset(b)
	}
	c, err := NewClient(testKey, testSecret, append([]ClientOption{WithBaseUrl(base)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// The event every bench client sends (bench/README.md): distinct_id user_<i>, product_purchased.
func benchEvent(i int) *Event {
	return &Event{
		DistinctId: "user_" + strconv.Itoa(i),
		EventName:  "product_purchased",
		Properties: map[string]any{"first_name": "User", "order_id": "ord_" + strconv.Itoa(i), "amount": 1299.5,
			"currency": "INR", "items": []any{map[string]any{"sku": "sku_1", "qty": 2}, map[string]any{"sku": "sku_2", "qty": 1}},
			"is_first_order": false},
	}
}

func BenchmarkTrackEvent(b *testing.B) {
	c := benchClient(b)
	ev := benchEvent(1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := c.TrackEvent(ev); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, b.N, time.Since(start))
}

func BenchmarkTrackEventParallel8(b *testing.B) {
	c := benchClient(b)
	ev := benchEvent(1)
	b.SetParallelism((8 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.TrackEvent(ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, b.N, time.Since(start))
}

// One op: 100,000 events built, appended to one bulk and triggered (1,000 requests of 100).
func BenchmarkBulk100k(b *testing.B) {
	const n = 100000
	c := benchClient(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var appendTime, triggerTime time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		bulk := c.BulkEvents.NewInstance()
		for j := 0; j < n; j++ {
			bulk.Append(benchEvent(j))
		}
		t1 := time.Now()
		resp, err := bulk.Trigger()
		if err != nil {
			b.Fatal(err)
		}
		if resp.Success != n {
			b.Fatalf("%v %v", resp, resp.FailedRecords[:1])
		}
		appendTime += t1.Sub(t0)
		triggerTime += time.Since(t1)
	}
	reportRate(b, b.N*n, time.Since(start))
	b.ReportMetric(float64(appendTime.Microseconds())/float64(b.N*n), "append-us/event")
	b.ReportMetric(float64(triggerTime.Milliseconds())/float64(b.N), "trigger-ms/op")
}

// One op: an Enqueue; the Flush that waits for every event to be delivered is timed too.
func BenchmarkEnqueue(b *testing.B) {
	var delivered int64
	c := benchClient(b, WithDeliveryCallback(func(d Delivery) {
		if d.Err == nil {
			atomic.AddInt64(&delivered, 1)
		}
	}), WithQueueCapacity(10000000))
	ev := benchEvent(1)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := c.Enqueue(ev); err != nil {
			b.Fatal(err)
		}
	}
	enqueued := time.Since(start)
	if err := c.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if got := atomic.LoadInt64(&delivered); got != int64(b.N) {
		b.Fatalf("%d of %d delivered", got, b.N)
	}
	reportRate(b, b.N, time.Since(start))
	b.ReportMetric(float64(b.N)/enqueued.Seconds(), "enqueues/s")
}

func reportRate(b *testing.B, events int, elapsed time.Duration) {
	if s := elapsed.Seconds(); s > 0 {
		b.ReportMetric(float64(events)/s, "events/s")
	}
}

// What Go itself costs per event before the library sees it, with no library call: the seed's
// event built (maps, as benchEvent), then its properties written as JSON by appendParts, and for
// comparison by encoding/json. bench/c_bench.c writes the same properties with snprintf. With
// `make bench`'s figures this is the part of go_enqueue and go_bulk no binding can take away.
var benchSink []byte

func BenchmarkEventBuild(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		benchSink = []byte(benchEvent(i).DistinctId)
	}
}

func BenchmarkEventBuildAndAppendParts(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 1024)
	for i := 0; i < b.N; i++ {
		out, _, err := appendParts(buf[:0], benchEvent(i))
		if err != nil {
			b.Fatal(err)
		}
		benchSink = out
	}
}

func BenchmarkEventBuildAndEncodingJSON(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		out, err := json.Marshal(benchEvent(i).Properties)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = out
	}
}

func BenchmarkAppendPartsOnly(b *testing.B) {
	ev := benchEvent(12345)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		out, _, err := appendParts(buf[:0], ev)
		if err != nil {
			b.Fatal(err)
		}
		buf = out
	}
	benchSink = buf
}
