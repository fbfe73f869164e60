// Command benchclient is one Go benchmark scenario of bench/run.py in its own process: the Go
// binding (package suprsend) over libsuprsend, doing what bench/c_bench.c does in C.
//
//	benchclient -mode single|bulk|enqueue|floor -n N -base-url URL -key K -secret S
//
// single: N events, one TrackEvent each, from one goroutine (as c_single: one thread, no
// retries); bulk: N events built, Appended to one bulk, Triggered (as c_bulk); enqueue: N events
// built and Enqueued from one goroutine with a delivery callback counting the fates, then Flush
// (as c_enqueue: queue capacity N, timed from the first Enqueue until Flush returned); floor
// (built with -tags suprsend_bench, floor.go): N events built and encoded, no library call.
//
// Prints one JSON line with the fields of c_bench.c. CPU is getrusage(RUSAGE_SELF) around the
// timed part: the whole process (every thread: goroutines, the garbage collector, the
// library's threads). Client creation is outside it; events are built inside it, as in C.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	suprsend "libsuprsend/suprsend"
)

// props is the properties object every bench client sends (bench/README.md).
func props(i int) map[string]any {
	return map[string]any{
		"first_name": "User", "order_id": "ord_" + strconv.Itoa(i), "amount": 1299.5, "currency": "INR",
		"items":          []any{map[string]any{"sku": "sku_1", "qty": 2}, map[string]any{"sku": "sku_2", "qty": 1}},
		"is_first_order": false,
	}
}

func event(i int) *suprsend.Event {
	return &suprsend.Event{DistinctId: "user_" + strconv.Itoa(i), EventName: "product_purchased", Properties: props(i)}
}

// Modes of files built with -tags suprsend_bench (floor.go), by name.
var extraModes = map[string]func(out map[string]any, n int, base, key, secret string) int{}

// sink keeps the events built for the creation timing on the heap.
var sink *suprsend.Event

const rusageThread = 1 // RUSAGE_THREAD (Linux)

func rusage(who int) syscall.Rusage {
	var r syscall.Rusage
	if err := syscall.Getrusage(who, &r); err != nil {
		fail("getrusage: %v", err)
	}
	return r
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func userS(a, b syscall.Rusage) float64 { return tv(b.Utime) - tv(a.Utime) }
func sysS(a, b syscall.Rusage) float64  { return tv(b.Stime) - tv(a.Stime) }
func cpuS(a, b syscall.Rusage) float64  { return userS(a, b) + sysS(a, b) }

// peakRSSKb is VmHWM of this process (ru_maxrss carries the parent's high-water mark).
func peakRSSKb() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				if v, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchclient: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	mode := flag.String("mode", "", "single, bulk or enqueue")
	n := flag.Int("n", 0, "events")
	base := flag.String("base-url", "", "the hub's URL")
	key := flag.String("key", "", "workspace key")
	secret := flag.String("secret", "", "workspace secret")
	flag.Parse()
	if *n <= 0 || *base == "" {
		fail("-n N and -base-url are required")
	}
	out := map[string]any{"events": *n, "threads": 1}
	var code int
	switch *mode {
	case "single":
		code = single(out, *n, *base, *key, *secret)
	case "bulk":
		code = bulk(out, *n, *base, *key, *secret)
	case "enqueue":
		code = enqueue(out, *n, *base, *key, *secret)
	default:
		extra := extraModes[*mode]
		if extra == nil {
			fail("-mode must be single, bulk or enqueue (floor: built with -tags suprsend_bench)")
		}
		code = extra(out, *n, *base, *key, *secret)
	}
	line, err := json.Marshal(out)
	if err != nil {
		fail("%v", err)
	}
	fmt.Println(string(line))
	os.Exit(code)
}

func finish(out map[string]any, r0, r1 syscall.Rusage, wall time.Duration, ok, failed int, firstErr string) int {
	out["ok"], out["failed"], out["error"] = ok, failed, firstErr
	out["wall_s"] = wall.Seconds()
	out["cpu_user_s"], out["cpu_sys_s"] = userS(r0, r1), sysS(r0, r1)
	out["maxrss_kb"], out["peak_rss_kb"] = r1.Maxrss, peakRSSKb()
	if failed > 0 {
		return 1
	}
	return 0
}

func closeClient(c *suprsend.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Close(ctx)
}

func single(out map[string]any, n int, base, key, secret string) int {
	c, err := suprsend.NewClient(key, secret, suprsend.WithBaseUrl(base), suprsend.WithMaxRetries(0))
	if err != nil {
		fail("client: %v", err)
	}
	ok, failed, firstErr := 0, 0, ""
	r0, t0 := rusage(syscall.RUSAGE_SELF), time.Now()
	for i := 0; i < n; i++ {
		r, err := c.TrackEvent(event(i))
		if err == nil && r.Success {
			ok++
			continue
		}
		failed++
		if firstErr == "" {
			firstErr = fmt.Sprintf("track_event: %v %v", r, err)
		}
	}
	wall, r1 := time.Since(t0), rusage(syscall.RUSAGE_SELF)
	_ = closeClient(c)
	return finish(out, r0, r1, wall, ok, failed, firstErr)
}

func bulk(out map[string]any, n int, base, key, secret string) int {
	c, err := suprsend.NewClient(key, secret, suprsend.WithBaseUrl(base), suprsend.WithMaxRetries(0))
	if err != nil {
		fail("client: %v", err)
	}
	ok, failed, firstErr := 0, 0, ""
	r0, t0 := rusage(syscall.RUSAGE_SELF), time.Now()
	b := c.BulkEvents.NewInstance()
	for i := 0; i < n; i++ {
		b.Append(event(i))
	}
	ra, ta := rusage(syscall.RUSAGE_SELF), time.Now()
	resp, err := b.Trigger()
	wall, r1 := time.Since(t0), rusage(syscall.RUSAGE_SELF)
	if err != nil {
		failed, firstErr = n, "bulk_trigger: "+err.Error()
	} else {
		ok, failed = resp.Success, resp.Failure
		out["bulk_status"], out["bulk_total"] = resp.Status, resp.Total
		if len(resp.FailedRecords) > 0 {
			firstErr = fmt.Sprintf("first failed record: %.300v", resp.FailedRecords[0]["error"])
		}
	}
	out["append_wall_s"], out["append_cpu_s"] = ta.Sub(t0).Seconds(), cpuS(r0, ra)
	out["trigger_wall_s"], out["trigger_cpu_s"] = (wall - ta.Sub(t0)).Seconds(), cpuS(ra, r1)
	_ = closeClient(c)
	return finish(out, r0, r1, wall, ok, failed, firstErr)
}

func enqueue(out map[string]any, n int, base, key, secret string) int {
	var delivered, other int64
	var firstFate atomic.Value
	c, err := suprsend.NewClient(key, secret, suprsend.WithBaseUrl(base), suprsend.WithQueueCapacity(n),
		suprsend.WithDeliveryCallback(func(d suprsend.Delivery) {
			if d.Err == nil {
				atomic.AddInt64(&delivered, 1)
				return
			}
			atomic.AddInt64(&other, 1)
			firstFate.CompareAndSwap(nil, fmt.Sprintf("fate %v (HTTP %d, %d attempts)", d.Err, d.StatusCode, d.Attempts))
		}))
	if err != nil {
		fail("client: %v", err)
	}
	// The enqueuing goroutine stays on this thread, so RUSAGE_THREAD is its own CPU.
	runtime.LockOSThread()
	queued, firstErr := 0, ""
	r0, t0 := rusage(syscall.RUSAGE_SELF), time.Now()
	c0 := rusage(rusageThread)
	for i := 0; i < n; i++ {
		if err := c.Enqueue(event(i)); err != nil {
			if firstErr == "" {
				firstErr = "enqueue: " + err.Error()
			}
			continue
		}
		queued++
	}
	c1 := rusage(rusageThread)
	t1, r1 := time.Now(), rusage(syscall.RUSAGE_SELF)
	flushErr := c.Flush(context.Background())
	t2, r2 := time.Now(), rusage(syscall.RUSAGE_SELF)
	st := c.Stats()
	ok := 0
	if flushErr == nil && st.Delivered == int64(n) && atomic.LoadInt64(&delivered) == int64(n) {
		ok = n
	} else if firstErr == "" {
		firstErr = fmt.Sprintf("flush %v, delivered %d (callback %d) of %d", flushErr, st.Delivered,
			atomic.LoadInt64(&delivered), n)
		if f, _ := firstFate.Load().(string); f != "" {
			firstErr += "; first: " + f
		}
	}
	// The same events built without being enqueued (apart, after the run).
	k0 := rusage(rusageThread)
	for i := 0; i < n; i++ {
		sink = event(i) // kept reachable, as an enqueued event is until Enqueue copies it
	}
	k1 := rusage(rusageThread)
	runtime.UnlockOSThread()
	flushStatus := "SUPRSEND_OK"
	if flushErr != nil {
		flushStatus = flushErr.Error()
	}
	out["mode"], out["queued"], out["flush_status"] = "enqueue", queued, flushStatus
	out["delivered"], out["refused"], out["dropped"], out["retries"] = st.Delivered, st.Refused, st.Dropped, st.Retries
	out["fates"] = map[string]int64{"delivered": atomic.LoadInt64(&delivered), "other": atomic.LoadInt64(&other)}
	out["enqueue_wall_s"], out["enqueue_thread_cpu_s"] = t1.Sub(t0).Seconds(), cpuS(c0, c1)
	out["enqueue_process_cpu_s"], out["event_creation_thread_cpu_s"] = cpuS(r0, r1), cpuS(k0, k1)
	out["flush_wall_s"] = t2.Sub(t1).Seconds()
	_ = closeClient(c)
	return finish(out, r0, r2, t2.Sub(t0), ok, n-ok, firstErr)
}
