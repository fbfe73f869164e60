package suprsend

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// The event as encoding/json writes it: appendParts writes its parts the same way.
type wireEvent struct {
	DistinctId     string         `json:"distinct_id"`
	EventName      string         `json:"event"`
	Properties     map[string]any `json:"properties,omitempty"`
	IdempotencyKey string         `json:"$idempotency_key,omitempty"`
	TenantId       string         `json:"tenant_id,omitempty"`
	BrandId        string         `json:"brand_id,omitempty"`
}

// appendEvent is the event's JSON object from its parts (appendParts).
func appendEvent(dst []byte, ev *Event) ([]byte, error) {
	parts, p, err := appendParts(nil, ev)
	if err != nil {
		return dst, err
	}
	return append(dst, recordJSON(parts, p)...), nil
}

// The fast encoder (encode.go) writes what encoding/json writes, byte for byte, and refuses
// what it refuses with its error.
func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	type point struct{ X, Y int }
	props := []map[string]any{
		nil,
		{},
		{"s": "plain", "esc": "q\" b\\ nl\n cr\r tab\t ctl\x01\x1f del\x7f <&> é ✓ \u2028\u2029", "bad": "a\xffb\xc3"},
		{"f": 1299.5, "zero": 0.0, "neg": -0.0, "small": 1e-7, "tiny": 5e-324, "big": 1e21, "mid": 123456789012.25,
			"f32": float32(3.14), "f32big": float32(1e22), "f32small": float32(1e-7), "max": math.MaxFloat64},
		{"i": 1, "i64": int64(-1 << 62), "i8": int8(-5), "u": uint(7), "u64": uint64(1 << 63), "u16": uint16(9), "b": true, "n": nil},
		{"nested": map[string]any{"z": 1, "a": []any{1, "two", nil, map[string]any{}, []any{}}}, "nilmap": map[string]any(nil),
			"nilslice": []any(nil), "ms": map[string]string{"b": "2", "a": "1"}, "ss": []string{"x", "y"},
			"lm": []map[string]any{{"k": 1}}, "emptykey": map[string]any{"": 1}},
		{"struct": point{1, 2}, "ptr": &point{3, 4}, "time": time.Unix(0, 0).UTC(), "bytes": []byte("hi"),
			"num": json.Number("12.50"), "raw": json.RawMessage(`{"a" : 1}`), "mi": map[string]int{"b": 1, "a": 2}},
	}
	many := map[string]any{}
	for i := 0; i < 40; i++ {
		many[string(rune('a'+i%26))+string(rune('A'+i))] = i
	}
	props = append(props, many)
	for i, p := range props {
		ev := &Event{DistinctId: "user\"1", EventName: "ev<t>", Properties: p, IdempotencyKey: "k", TenantId: "t", BrandId: ""}
		var want bytes.Buffer
		if err := newEncoder(&want).Encode(wireEvent{ev.DistinctId, ev.EventName, ev.Properties, ev.IdempotencyKey, ev.TenantId, ev.BrandId}); err != nil {
			t.Fatal(err)
		}
		got, err := appendEvent([]byte("prefix"), ev)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if string(got) != "prefix"+want.String()[:want.Len()-1] {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got[6:], want.Bytes())
		}
	}
	for i, bad := range []any{math.NaN(), math.Inf(1), float32(math.Inf(-1)), make(chan int), map[string]any{"f": func() {}}} {
		ev := &Event{DistinctId: "u", EventName: "e", Properties: map[string]any{"v": bad}}
		_, want := json.Marshal(ev.Properties)
		got, err := appendEvent([]byte("x"), ev)
		var e *Error
		if want == nil || err == nil || string(got) != "x" || !errorsAs(err, &e) || e.Message != "properties: "+want.Error() {
			t.Fatalf("case %d: %q %v, want %v", i, got, err, want)
		}
	}
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	if _, err := appendEvent(nil, &Event{DistinctId: "u", EventName: "e", Properties: cyclic}); err == nil {
		t.Fatal("a cycle was encoded")
	}
}

func errorsAs(err error, e **Error) bool {
	x, ok := err.(*Error)
	*e = x
	return ok
}

// appendString's eight-byte steps: every length through three words and a tail, with each byte
// that needs care at every place, written as encoding/json writes it.
func TestAppendStringEveryPlace(t *testing.T) {
	specials := []string{"\"", "\\", "\x00", "\x1f", "\n", "\x7f", "é", "\u2028", "\xff", "✓"}
	check := func(s string) {
		var buf bytes.Buffer
		if err := newEncoder(&buf).Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	}
	for n := 0; n <= 27; n++ {
		plain := strings.Repeat("abcdefgh", 4)[:n]
		check(plain)
		for at := 0; at < n; at++ {
			for _, sp := range specials {
				check(plain[:at] + sp + plain[at+1:])
			}
		}
	}
	// Bytes just below and above the limits of the word test.
	for b := 0; b < 256; b++ {
		check(strings.Repeat("x", 9) + string([]byte{byte(b)}) + strings.Repeat("y", 9))
		check(string([]byte{byte(b), byte(b), byte(b), byte(b), byte(b), byte(b), byte(b), byte(b)}))
	}
}
