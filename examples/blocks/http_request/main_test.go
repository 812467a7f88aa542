package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest/guesttest"
	"github.com/beamline/blockhost/sandbox"
)

// echo answers with the request's method, a header and its body, and
// status/Retry-After taken from the query.
func echo(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Method", r.Method)
	w.Header()["X-Tag"] = r.Header["X-Tag"]
	w.Header().Set("Content-Type", "text/plain")
	if ra := r.URL.Query().Get("retry_after"); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	switch r.URL.Query().Get("status") {
	case "404":
		w.WriteHeader(404)
		w.Write([]byte("no such thing\n\x00here"))
		return
	case "503":
		w.WriteHeader(503)
		return
	case "429":
		w.WriteHeader(429)
		return
	case "302":
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(302)
		return
	}
	w.Write(b)
}

func TestGET(t *testing.T) {
	res := guesttest.Run(nil, guesttest.Step{
		Inputs: map[string]string{"url": "http://api.test/items?id=1"},
		HTTP:   http.HandlerFunc(echo),
	})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.Outputs["status"] != "200" || res.Outputs["body"] != "" {
		t.Errorf("outputs %v", res.Outputs)
	}
	var h map[string][]string
	if err := json.Unmarshal([]byte(res.Outputs["headers"]), &h); err != nil {
		t.Fatal(err)
	}
	if h["X-Method"][0] != "GET" || h["Content-Type"][0] != "text/plain" {
		t.Errorf("headers %v", h)
	}
}

func TestPOSTWithBodyAndHeaders(t *testing.T) {
	res := guesttest.Run(nil, guesttest.Step{
		Inputs: map[string]string{
			"url":        "https://api.test/upload",
			"method":     " post ",
			"headers":    `{"X-Tag": ["a", "b"], "Content-Type": "application/json"}`,
			"body":       `{"big":"payload"}`,
			"timeout_ms": "1500",
		},
		HTTP:   http.HandlerFunc(echo),
		Limits: guesttest.Limits{ReadChunk: 3},
	})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.Outputs["body"] != `{"big":"payload"}` || res.Outputs["status"] != "200" {
		t.Errorf("outputs %v", res.Outputs)
	}
	var h map[string][]string
	json.Unmarshal([]byte(res.Outputs["headers"]), &h)
	if !reflect.DeepEqual(h["X-Tag"], []string{"a", "b"}) || h["X-Method"][0] != "POST" {
		t.Errorf("headers %v", h)
	}
}

func TestRedirectNotFollowedIsASuccess(t *testing.T) {
	res := guesttest.Run(nil, guesttest.Step{
		Inputs: map[string]string{"url": "http://api.test/?status=302"},
		HTTP:   http.HandlerFunc(echo),
	})
	if res.Err != nil || res.Outputs["status"] != "302" {
		t.Fatalf("%v %v", res.Err, res.Outputs)
	}
}

func TestHTTPErrorStatus(t *testing.T) {
	tests := []struct {
		query      string
		status     int
		retryAfter time.Duration
		msg        string
	}{
		{"status=404", 404, 0, "HTTP 404 from GET http://api.test/x: no such thing  here"},
		{"status=503&retry_after=7", 503, 7 * time.Second, "HTTP 503 from GET http://api.test/x"},
		{"status=429&retry_after=-3", 429, 0, "HTTP 429"},
	}
	for _, tt := range tests {
		res := guesttest.Run(nil, guesttest.Step{
			Inputs: map[string]string{"url": "http://u:secret@api.test/x?token=s3cret&" + tt.query},
			HTTP:   http.HandlerFunc(echo),
		})
		e := res.Err
		if e == nil || e.Code != abi.HTTPError || e.HTTPStatus != tt.status || e.RetryAfter != tt.retryAfter {
			t.Errorf("%s: got %+v", tt.query, e)
			continue
		}
		if !strings.HasPrefix(e.Message, tt.msg) || strings.Contains(e.Message, "s3cret") || strings.Contains(e.Message, "secret") {
			t.Errorf("%s: message %q, want prefix %q and no secrets", tt.query, e.Message, tt.msg)
		}
		if len(res.Outputs) != 0 {
			t.Errorf("%s: outputs %v", tt.query, res.Outputs)
		}
	}
}

func TestHTTPErrorRetryAfterDate(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	res := guesttest.Run(nil, guesttest.Step{
		Inputs: map[string]string{"url": "http://api.test/?status=503&retry_after=" + strings.ReplaceAll(at, " ", "%20")},
		HTTP:   http.HandlerFunc(echo),
	})
	if res.Err == nil || res.Err.RetryAfter < 80*time.Second || res.Err.RetryAfter > 91*time.Second {
		t.Fatalf("got %+v", res.Err)
	}
}

func TestInputErrors(t *testing.T) {
	tests := []struct {
		inputs map[string]string
		code   abi.Code
		msg    string
	}{
		{map[string]string{}, abi.MissingRequiredField, `"url"`},
		{map[string]string{"url": "  "}, abi.MissingRequiredField, `"url"`},
		{map[string]string{"url": "http://a.test/", "headers": "[1]"}, abi.InvalidFormat, "JSON object"},
		{map[string]string{"url": "http://a.test/", "headers": `{"X": 1}`}, abi.InvalidFormat, `header "X"`},
		{map[string]string{"url": "http://a.test/", "headers": `null`}, abi.InvalidFormat, "null"},
		{map[string]string{"url": "http://a.test/", "timeout_ms": "-5"}, abi.InvalidInput, "timeout_ms"},
		{map[string]string{"url": "http://a.test/", "connect_timeout_ms": "soon"}, abi.InvalidInput, "connect_timeout_ms"},
		{map[string]string{"url": "/relative"}, abi.InvalidArgument, "absolute"},
	}
	for _, tt := range tests {
		res := guesttest.Run(nil, guesttest.Step{Inputs: tt.inputs, HTTP: http.HandlerFunc(echo)})
		if res.Err == nil || res.Err.Code != tt.code || !strings.Contains(res.Err.Message, tt.msg) {
			t.Errorf("%v: got %+v, want %s containing %q", tt.inputs, res.Err, tt.code, tt.msg)
		}
	}
}

// The host's refusal reaches the step with its code.
func TestHostErrorCodePassesThrough(t *testing.T) {
	res := guesttest.Run(nil, guesttest.Step{Inputs: map[string]string{"url": "http://a.test/", "body": "x"}})
	if res.Err == nil || res.Err.Code != abi.Denied {
		t.Fatalf("got %+v, want DENIED", res.Err)
	}
}

func TestParseHeaders(t *testing.T) {
	tests := []struct {
		in   string
		want map[string][]string
		err  bool
	}{
		{"", nil, false},
		{"  ", nil, false},
		{`{}`, map[string][]string{}, false},
		{`{"A": "1", "B": ["2", "3"], "C": []}`, map[string][]string{"A": {"1"}, "B": {"2", "3"}, "C": nil}, false},
		{`{"A": null}`, nil, true},
		{`{"A": [1]}`, nil, true},
		{`{"A": {"b": "c"}}`, nil, true},
		{`{"": "x"}`, nil, true},
		{`"str"`, nil, true},
		{`{`, nil, true},
	}
	for _, tt := range tests {
		got, err := parseHeaders(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("%q: err %v", tt.in, err)
			continue
		}
		if !tt.err && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                                 0,
		"0":                                0,
		"120":                              2 * time.Minute,
		" 5 ":                              5 * time.Second,
		"-1":                               0,
		"1.5":                              0,
		"soon":                             0,
		"99999999999999999999":             0, // over uint63: malformed
		"9223372036":                       9223372036 * time.Second,
		"Sat, 01 Mar 2025 12:01:30 GMT":    90 * time.Second,
		"Saturday, 01-Mar-25 12:00:10 GMT": 10 * time.Second,
		"Sat Mar  1 12:00:03 2025":         3 * time.Second,
		"Sat, 01 Mar 2025 11:00:00 GMT":    0, // in the past
		"Sat, 01 Mar 2025 12:01:30 PST":    0, // not GMT: malformed
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("%q: got %v, want %v", in, got, want)
		}
	}
	// Huge second counts saturate instead of overflowing.
	if got := parseRetryAfter("9223372037", now); got <= 0 {
		t.Errorf("saturation: %v", got)
	}
}

func TestRedactAndSnippet(t *testing.T) {
	if got := redact("https://user:pw@h.test:8443/p/a?tok=1#f"); got != "https://h.test:8443/p/a" {
		t.Errorf("redact: %q", got)
	}
	if got := snippet([]byte("a\r\nb\x00\xffc ")); got != "a  b \uFFFDc" {
		t.Errorf("snippet: %q", got)
	}
}

func TestManifest(t *testing.T) {
	b, err := os.ReadFile("http_request.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := sandbox.ParseManifest(b, "http_request.yaml", "http_request")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "http_request" || !reflect.DeepEqual(m.Types, []string{"http.request"}) ||
		m.Resources.Class != "io" || m.Isolation != sandbox.IsolationShared ||
		m.Capabilities.HTTP == nil || !reflect.DeepEqual(m.Capabilities.HTTP.Allow, []string{"*"}) {
		t.Errorf("manifest %+v", m)
	}
}
