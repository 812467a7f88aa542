package guest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// referenceMeta is what decodeMeta must return for b: encoding/json's
// reading of it, and its headers marshalled ({} for none).
func referenceMeta(b []byte) (httpMetaJSON, []byte, error) {
	var m httpMetaJSON
	if err := json.Unmarshal(b, &m); err != nil {
		return m, nil, err
	}
	if m.Headers == nil {
		return m, []byte("{}"), nil
	}
	raw, err := json.Marshal(m.Headers)
	return m, raw, err
}

// checkMeta compares decodeMeta with referenceMeta on b: the same status
// and headers, and raw headers that decode to them.
func checkMeta(t *testing.T, b []byte) {
	t.Helper()
	want, _, wantErr := referenceMeta(b)
	got, gotRaw, err := decodeMeta(b)
	if wantErr != nil {
		require.Error(t, err, "%q", b)
		return
	}
	require.NoError(t, err, "%q", b)
	assert.Equal(t, want, got, "%q", b)
	var again map[string][]string
	require.NoError(t, json.Unmarshal(gotRaw, &again), "%q: raw headers %q", b, gotRaw)
	if want.Headers == nil {
		assert.Equal(t, "{}", string(gotRaw))
	} else {
		assert.Equal(t, want.Headers, again, "%q: raw headers %q", b, gotRaw)
	}
}

func TestDecodeMetaAsTheHostWritesIt(t *testing.T) {
	headers := []http.Header{
		nil,
		{},
		{"Content-Type": {"text/plain; charset=utf-8"}, "Content-Length": {"1024"}, "Date": {"Thu, 26 Nov 2026 02:00:00 GMT"}},
		{"Set-Cookie": {"a=1", "b=2", ""}, "X-Empty": {}},
		{"Link": {"<https://example.com/2>; rel=\"next\""}},  // escaped <, > and "
		{"X-Amp": {"a&b"}, "X-Ctl": {"a\tb\x01"}},            // escaped & and controls
		{"X-Utf8": {"héllo wörld ✓ 😀"}, "X-Bad": {"a\xffb"}}, // UTF-8, invalid UTF-8
		{"X-Line": {"a\u2028b"}, "X-Slash": {`a\b/c`}},       // U+2028, backslash
		{"X-Nil": nil},
	}
	for _, status := range []int{0, 100, 200, 404, 599} {
		for _, h := range headers {
			b, err := json.Marshal(struct {
				Status  int                 `json:"status"`
				Headers map[string][]string `json:"headers"`
			}{status, h})
			require.NoError(t, err)
			checkMeta(t, b)
			_, raw, err := decodeMeta(b)
			require.NoError(t, err)
			_, wantRaw, _ := referenceMeta(b)
			assert.Equal(t, string(wantRaw), string(raw), "%q: headers as encoding/json writes them", b)
		}
	}
	// The common case takes the fast path.
	_, _, ok := decodeCompactMeta([]byte(`{"status":200,"headers":{"Content-Length":["1024"],"Content-Type":["text/plain"]}}`))
	assert.True(t, ok)
}

func TestDecodeMetaOtherForms(t *testing.T) {
	for _, s := range []string{
		`{"status": 200, "headers": {"A": ["b"]}}`,
		`{"headers":{"A":["b"]},"status":201}`,
		`{"status":200,"headers":{"A":["b"]},"extra":1}`,
		`{"Status":200,"Headers":{"A":["b"]}}`,
		`{"status":200,"headers":{"A":["b"],"A":["c"]}}`,
		`{"status":200,"headers":{"A":["b"]},"headers":{"C":["d"]}}`,
		`{"status":200,"headers":{"A":null}}`,
		`{"status":200,"headers":{"A":[]}}`,
		`{"status":200,"headers":{}}`,
		`{"status":200,"headers":null}`,
		`{"status":200}`,
		`{"status":-1,"headers":{}}`,
		`{"status":1000,"headers":{}}`,
		`{"status":007,"headers":{}}`,
		`{"status":2e2,"headers":{}}`,
		`{"status":200,"headers":{"A":["\u00e9\ud83d\ude00"]}}`,
		`{"status":200,"headers":{"A":["b"]}}x`,
		`{"status":200,"headers":{"A":["b"`,
		`{"status":200,"headers":{"A":"b"}}`,
		`[]`, ``, `null`,
	} {
		checkMeta(t, []byte(s))
	}
}

func FuzzDecodeMeta(f *testing.F) {
	for _, s := range []string{
		`{"status":200,"headers":{"Content-Length":["1024"]}}`,
		`{"status":200,"headers":null}`,
		`{"status":200,"headers":{"A":[],"B":["x","y"]}}`,
		`{"status":404,"headers":{"A":["\u003c"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkMeta(t, b) })
}
