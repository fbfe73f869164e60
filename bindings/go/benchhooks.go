//go:build suprsend_bench

package suprsend

// EncodeForBench writes ev into buf as Enqueue, TrackEvent and Append hand it to the library
// (appendParts: its strings and its properties' JSON), without calling the library. It exists
// only in builds with -tags suprsend_bench (bench/run.py's go_floor scenario: what Go itself
// costs per event, which no binding can take away); it is not part of the package's API.
func EncodeForBench(buf []byte, ev *Event) ([]byte, error) {
	out, _, err := appendParts(buf[:0], ev)
	return out, err
}
