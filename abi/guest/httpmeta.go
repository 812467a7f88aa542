package guest

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// decodeMeta decodes the metadata http_response_meta copies out,
// {"status":N,"headers":{"Name":["value",...],...}}, and returns the
// headers object as JSON too ({} when there are none).
//
// encoding/json takes about 100 µs for a typical response inside a Go
// block, most of an HTTP step's own time, so the compact form the host
// writes (no whitespace, no escapes in the strings, valid UTF-8) is read
// directly; anything else goes through encoding/json, with the same result.
func decodeMeta(b []byte) (httpMetaJSON, []byte, error) {
	if m, raw, ok := decodeCompactMeta(b); ok {
		return m, raw, nil
	}
	var m httpMetaJSON
	if err := json.Unmarshal(b, &m); err != nil {
		return httpMetaJSON{}, nil, err
	}
	if m.Headers == nil {
		return m, []byte("{}"), nil
	}
	raw, err := json.Marshal(m.Headers)
	return m, raw, err
}

// decodeCompactMeta is decodeMeta's fast path: false for any input it does
// not read exactly as encoding/json would.
func decodeCompactMeta(b []byte) (m httpMetaJSON, raw []byte, ok bool) {
	d := metaReader{b: b}
	if !d.lit(`{"status":`) {
		return m, nil, false
	}
	if m.Status, ok = d.status(); !ok || !d.lit(`,"headers":`) {
		return m, nil, false
	}
	start := d.off
	switch {
	case d.lit("null"):
		raw = []byte("{}")
	case d.lit("{"):
		m.Headers = map[string][]string{}
		if !d.lit("}") {
			for {
				name, ok := d.str()
				if !ok || !d.lit(":[") {
					return m, nil, false
				}
				var values []string
				if !d.lit("]") {
					for {
						v, ok := d.str()
						if !ok {
							return m, nil, false
						}
						values = append(values, v)
						if d.lit("]") {
							break
						}
						if !d.lit(",") {
							return m, nil, false
						}
					}
				} else {
					values = []string{}
				}
				m.Headers[name] = values
				if d.lit("}") {
					break
				}
				if !d.lit(",") {
					return m, nil, false
				}
			}
		}
		raw = b[start:d.off]
	default:
		return m, nil, false
	}
	return m, raw, d.lit("}") && d.off == len(b)
}

type metaReader struct {
	b   []byte
	off int
}

// lit consumes s if the input continues with it.
func (d *metaReader) lit(s string) bool {
	if !bytes.HasPrefix(d.b[d.off:], []byte(s)) {
		return false
	}
	d.off += len(s)
	return true
}

// status reads a status code: 1 to 3 digits, no sign, no leading zero.
func (d *metaReader) status() (int, bool) {
	n, i := 0, d.off
	for ; i < len(d.b) && i-d.off < 3 && d.b[i] >= '0' && d.b[i] <= '9'; i++ {
		n = n*10 + int(d.b[i]-'0')
	}
	if i == d.off || (d.b[d.off] == '0' && i-d.off > 1) || (i < len(d.b) && d.b[i] >= '0' && d.b[i] <= '9') {
		return 0, false
	}
	d.off = i
	return n, true
}

// str reads a string without escapes, control characters or invalid
// UTF-8 (each of which encoding/json would decode differently).
func (d *metaReader) str() (string, bool) {
	if !d.lit(`"`) {
		return "", false
	}
	end := bytes.IndexByte(d.b[d.off:], '"')
	if end < 0 {
		return "", false
	}
	s := d.b[d.off : d.off+end]
	for _, c := range s {
		if c < 0x20 || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(s) {
		return "", false
	}
	d.off += end + 1
	return string(s), true
}
