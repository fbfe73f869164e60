package suprsend

// The event's JSON, written without reflection for the values properties usually hold (strings,
// numbers, booleans, nil, map[string]any, []any and a few other plain maps and slices), byte for
// byte as encoding/json writes them (without HTML escaping: keys sorted, the same escapes and
// float format). Any other value is written by encoding/json itself; a value encoding/json
// refuses (NaN, a channel, a cycle, ...) sends the whole event through encoding/json, so the
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

// appendEvent appends ev's JSON object to dst (dst unchanged on error).
func appendEvent(dst []byte, ev *Event) ([]byte, error) {
	if err := checkText(ev); err != nil {
		return dst, err
	}
	if out, ok := appendEventFast(dst, ev); ok {
		return out, nil
	}
	var buf bytes.Buffer
	if err := newEncoder(&buf).Encode(wireEvent{ev.DistinctId, ev.EventName, ev.Properties, ev.IdempotencyKey, ev.TenantId, ev.BrandId}); err != nil {
		return dst, &Error{Code: 400, Message: "properties: " + err.Error(), Err: err}
	}
	return append(dst, buf.Bytes()[:buf.Len()-1]...), nil // without the Encoder's newline
}

func appendEventFast(dst []byte, ev *Event) ([]byte, bool) {
	start := len(dst)
	dst = append(dst, `{"distinct_id":`...)
	dst = appendString(dst, ev.DistinctId)
	dst = append(dst, `,"event":`...)
	dst = appendString(dst, ev.EventName)
	if len(ev.Properties) > 0 {
		dst = append(dst, `,"properties":`...)
		var ok bool
		if dst, ok = appendMap(dst, ev.Properties, 1); !ok {
			return dst[:start], false
		}
	}
	for _, f := range [...]struct{ key, value string }{
		{`,"$idempotency_key":`, ev.IdempotencyKey}, {`,"tenant_id":`, ev.TenantId}, {`,"brand_id":`, ev.BrandId},
	} {
		if f.value != "" {
			dst = append(dst, f.key...)
			dst = appendString(dst, f.value)
		}
	}
	return append(dst, '}'), true
}

// appendValue writes v; false when encoding/json must write the whole event instead.
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
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendValue(dst, e, depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case []map[string]any:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendValue(dst, e, depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
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
		for j := i; j > 0 && entries[j].key < entries[j-1].key; j-- {
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

// appendString is encoding/json's string encoding with HTML escaping off.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
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
