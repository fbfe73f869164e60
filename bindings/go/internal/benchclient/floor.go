//go:build suprsend_bench

package main

import (
	"runtime"
	"syscall"
	"time"

	suprsend "libsuprsend/suprsend"
)

// floor (go_floor): what Go costs per event before the library sees it, with no library call:
// N of the bench's events built (maps, as in every mode) and written as the binding writes them
// for the library (suprsend.EncodeForBench), timed as a whole (CPU: the whole process, the
// garbage collector included); then N built only, timed apart (build_cpu_s). c_bench.c writes
// the same properties with one snprintf.
func init() { extraModes["floor"] = floor }

func floor(out map[string]any, n int, _, _, _ string) int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, 0, 1024)
	var err error
	r0, t0 := rusage(syscall.RUSAGE_SELF), time.Now()
	for i := 0; i < n; i++ {
		if buf, err = suprsend.EncodeForBench(buf, event(i)); err != nil {
			fail("encode: %v", err)
		}
	}
	wall, r1 := time.Since(t0), rusage(syscall.RUSAGE_SELF)
	for i := 0; i < n; i++ {
		sink = event(i)
	}
	r2 := rusage(syscall.RUSAGE_SELF)
	out["mode"], out["encoded_bytes_last"] = "floor", len(buf)
	out["build_cpu_s"] = cpuS(r1, r2)
	return finish(out, r0, r1, wall, n, 0, "")
}
