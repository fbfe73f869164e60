package suprsend

// The event as the library gets it: its strings, NUL-terminated, and its properties' JSON object,
// written without reflection for the values properties usually hold (strings, numbers, booleans,
// nil, map[string]any, []any and a few other plain maps and slices), byte for byte as
// encoding/json writes them (without HTML escaping: keys sorted, the same escapes and float
// format). Any other value is written by encoding/json itself; a value encoding/json refuses
// (NaN, a channel, a cycle, ...) sends the whole properties map through encoding/json, so the
// error is its error.

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Deeper than this, the event goes through encoding/json (which finds cycles).
const maxFastDepth = 100

// eventParts locates an event's strings in a buffer that appendParts wrote: the distinct id at
// the start, then the name, the properties' JSON object, the idempotency key, the tenant and the
// brand, each NUL-terminated; the offsets count from the distinct id, -1 for a field not given.
// The library builds the event from them as bench/c_bench.c does (suprsend_event_new, then
// suprsend_event_set_properties_json and the setters), parsing only the properties.
type eventParts struct {
	name, props, idem, tenant, brand int32
}

// appendParts appends ev's strings to dst (dst unchanged on error). The properties are written
// as encoding/json writes them (omitted when empty, as "omitempty" would).
func appendParts(dst []byte, ev *Event) ([]byte, eventParts, error) {
	var p eventParts
	if err := checkText(ev); err != nil {
		return dst, p, err
	}
	start := len(dst)
	off := func() int32 { return int32(len(dst) - start) }
	dst = append(append(dst, ev.DistinctId...), 0)
	p.name = off()
	dst = append(append(dst, ev.EventName...), 0)
	p.props = -1
	if len(ev.Properties) > 0 {
		p.props = off()
		var err error
		if dst, err = appendProperties(dst, ev.Properties); err != nil {
			return dst[:start], p, err
		}
		dst = append(dst, 0)
	}
	str := func(s string) int32 {
		if s == "" {
			return -1
		}
		o := off()
		dst = append(append(dst, s...), 0)
		return o
	}
	p.idem, p.tenant, p.brand = str(ev.IdempotencyKey), str(ev.TenantId), str(ev.BrandId)
	if len(dst)-start > math.MaxInt32 {
		return dst[:start], p, &Error{Code: 413, Message: "event: too large", Err: StatusTooLarge}
	}
	return dst, p, nil
}

// appendProperties appends the JSON object of props (not empty) to dst (dst unchanged on error).
func appendProperties(dst []byte, props map[string]any) ([]byte, error) {
	start := len(dst)
	if out, ok := appendMap(dst, props, 1); ok {
		return out, nil
	}
	dst = dst[:start]
	var buf bytes.Buffer
	if err := newEncoder(&buf).Encode(props); err != nil {
		return dst, &Error{Code: 400, Message: "properties: " + err.Error(), Err: err}
	}
	return append(dst, buf.Bytes()[:buf.Len()-1]...), nil // without the Encoder's newline
}

// appendValue writes v; false when encoding/json must write the whole properties map instead.
func appendValue(dst []byte, v any, depth int) ([]byte, bool) {
	if depth > maxFastDepth {
		return dst, false
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendString(dst, x), true
	case bool:
		if x {
			return append(dst, "true"...), true
		}
		return append(dst, "false"...), true
	case float64:
		return appendFloat(dst, x, 64)
	case float32:
		return appendFloat(dst, float64(x), 32)
	case int:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int64:
		return strconv.AppendInt(dst, x, 10), true
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int16:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int8:
		return strconv.AppendInt(dst, int64(x), 10), true
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), true
	case uint64:
		return strconv.AppendUint(dst, x, 10), true
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), true
	case uint16:
		return strconv.AppendUint(dst, uint64(x), 10), true
	case map[string]any:
		if x == nil {
			return append(dst, "null"...), true
		}
		return appendMap(dst, x, depth+1)
	case []any:
		return appendSlice(dst, x, depth)
	case []map[string]any:
		return appendSlice(dst, x, depth)
	case map[string]string:
		if x == nil {
			return append(dst, "null"...), true
		}
		keys := sortedKeys(x)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(appendString(dst, k), ':')
			dst = appendString(dst, x[k])
		}
		return append(dst, '}'), true
	case []string:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, e)
		}
		return append(dst, ']'), true
	}
	// Anything else (structs, pointers, named types, json.Marshalers, ...): encoding/json.
	var buf bytes.Buffer
	if err := newEncoder(&buf).Encode(v); err != nil {
		return dst, false
	}
	return append(dst, buf.Bytes()[:buf.Len()-1]...), true
}

type mapEntry struct {
	key   string
	value any
}

// appendSlice writes a slice of values as encoding/json does (nil is null).
func appendSlice[T any](dst []byte, xs []T, depth int) ([]byte, bool) {
	if xs == nil {
		return append(dst, "null"...), true
	}
	dst = append(dst, '[')
	for i, e := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = appendValue(dst, e, depth+1); !ok {
			return dst, false
		}
	}
	return append(dst, ']'), true
}

func appendMap(dst []byte, m map[string]any, depth int) ([]byte, bool) {
	if len(m) > 16 {
		return appendBigMap(dst, m, depth)
	}
	// A few entries: collected and insertion-sorted on the stack (no allocation, no lookups).
	var small [16]mapEntry
	entries := small[:0]
	for k, v := range m {
		entries = append(entries, mapEntry{k, v})
	}
	for i := 1; i < len(entries); i++ {
		for j := i; j > 0 && keyLess(entries[j].key, entries[j-1].key); j-- {
			entries[j], entries[j-1] = entries[j-1], entries[j]
		}
	}
	dst = append(dst, '{')
	for i := range entries {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(appendString(dst, entries[i].key), ':')
		var ok bool
		if dst, ok = appendValue(dst, entries[i].value, depth); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// keyLess is a < b (byte order, as encoding/json sorts keys), deciding by the first bytes
// without a call to the runtime's string comparison when they differ (they mostly do).
func keyLess(a, b string) bool {
	if len(a) > 0 && len(b) > 0 && a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

func appendBigMap(dst []byte, m map[string]any, depth int) ([]byte, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(appendString(dst, k), ':')
		var ok bool
		if dst, ok = appendValue(dst, m[k], depth); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// appendFloat is encoding/json's floatEncoder; NaN and infinities are refused.
func appendFloat(dst []byte, f float64, bits int) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}

const hexDigits = "0123456789abcdef"

// Eight bytes at a time: the bytes of a word of a string, and whether any of them is not plain
// printable ASCII ('"', '\\', a control byte or a byte of a multi-byte character), which only
// the byte-by-byte writer handles. It may say yes for a plain byte after one that is not (the
// borrow of the subtraction), never no for one that is not.
const (
	wordOnes = 0x0101010101010101
	wordHigh = 0x8080808080808080
)

func wordAt(s string, i int) uint64 {
	w := s[i : i+8] // one bounds check; the compiler joins the loads into one
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

func wordNeedsCare(w uint64) bool {
	quote, backslash := w^(wordOnes*'"'), w^(wordOnes*'\\')
	control := (w - wordOnes*0x20) &^ w
	return (control|(quote-wordOnes)&^quote|(backslash-wordOnes)&^backslash|w)&wordHigh != 0
}

// appendString is encoding/json's string encoding with HTML escaping off.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && !wordNeedsCare(wordAt(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func newEncoder(buf *bytes.Buffer) *json.Encoder {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return enc
}

// Scratch buffers for one event's JSON (TrackEvent, Enqueue).
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getScratch() *[]byte { return scratch.Get().(*[]byte) }

func putScratch(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		scratch.Put(b)
	}
}

// partAt is the NUL-terminated string at offset o of an event's parts.
func partAt(b []byte, o int32) []byte {
	s := b[o:]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		return s[:i]
	}
	return s
}

// recordJSON is the JSON object of the event whose parts start b (appendParts), as a failed
// record shows an event the library never kept.
func recordJSON(b []byte, p eventParts) []byte {
	out := appendString([]byte(`{"distinct_id":`), string(partAt(b, 0)))
	out = append(out, `,"event":`...)
	out = appendString(out, string(partAt(b, p.name)))
	if p.props >= 0 {
		out = append(append(out, `,"properties":`...), partAt(b, p.props)...)
	}
	for _, f := range [...]struct {
		key string
		off int32
	}{{`,"$idempotency_key":`, p.idem}, {`,"tenant_id":`, p.tenant}, {`,"brand_id":`, p.brand}} {
		if f.off >= 0 {
			out = appendString(append(out, f.key...), string(partAt(b, f.off)))
		}
	}
	return append(out, '}')
}
