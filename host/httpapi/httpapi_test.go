package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/host/httpapi"
	"github.com/beamline/blockhost/internal/testblocks"
	"github.com/beamline/blockhost/policy"
)

// newServer starts the API of a new host (no blocks loaded) on an
// httptest.Server.
func newServer(t *testing.T, cfg host.Config, o httpapi.Options) (*host.Host, *httptest.Server) {
	t.Helper()
	h, err := host.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(h, o))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	return h, srv
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) errorBody(t *testing.T) httpapi.ErrorBody {
	t.Helper()
	var e httpapi.ErrorBody
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("error body %q: %v", a.body, err)
	}
	return e
}

func do(t *testing.T, method, url, contentType string, body io.Reader, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func TestMethodNotAllowed(t *testing.T) {
	_, srv := newServer(t, host.Config{}, httpapi.Options{})
	tests := []struct{ method, path, allow string }{
		{http.MethodGet, "/v1/steps", "POST"},
		{http.MethodPut, "/v1/steps/abc", "DELETE"},
		{http.MethodPost, "/v1/blocks", "GET, HEAD"},
		{http.MethodGet, "/v1/blocks/reload", "POST"},
		{http.MethodDelete, "/v1/pools", "GET, HEAD"},
		{http.MethodPost, "/readyz", "GET, HEAD"},
	}
	for _, tt := range tests {
		a := do(t, tt.method, srv.URL+tt.path, "", nil)
		if a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d Allow %q, want 405 Allow %q", tt.method, tt.path, a.status, a.header.Get("Allow"), tt.allow)
			continue
		}
		if e := a.errorBody(t); e.Code != httpapi.CodeMethodNotAllowed {
			t.Errorf("%s %s: code %s", tt.method, tt.path, e.Code)
		}
	}
	a := do(t, http.MethodGet, srv.URL+"/v2/nothing", "", nil)
	if a.status != http.StatusNotFound || a.errorBody(t).Code != httpapi.CodeNotFound {
		t.Errorf("unknown route = %d %s", a.status, a.body)
	}
}

func TestToken(t *testing.T) {
	_, srv := newServer(t, host.Config{}, httpapi.Options{Token: "s3cret", Gatherer: prometheus.NewRegistry()})
	for _, path := range []string{"/v1/features", "/v1/blocks", "/v1/nothing"} {
		for _, auth := range []string{"", "Bearer wrong", "Basic czNjcmV0", "Bearer s3cret2", "Bearer"} {
			a := do(t, http.MethodGet, srv.URL+path, "", nil, "Authorization", auth)
			if a.status != http.StatusUnauthorized || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("GET %s with %q = %d, want 401 with WWW-Authenticate", path, auth, a.status)
			} else if a.errorBody(t).Code != httpapi.CodeUnauthorized {
				t.Errorf("GET %s: code %s", path, a.errorBody(t).Code)
			}
		}
	}
	for _, auth := range []string{"Bearer s3cret", "bearer s3cret", "Bearer  s3cret "} {
		if a := do(t, http.MethodGet, srv.URL+"/v1/features", "", nil, "Authorization", auth); a.status != http.StatusOK {
			t.Errorf("with %q = %d, want 200", auth, a.status)
		}
	}
	for _, path := range []string{"/metrics", "/_health", "/healthz", "/readyz"} {
		if a := do(t, http.MethodGet, srv.URL+path, "", nil); a.status != http.StatusOK {
			t.Errorf("GET %s without token = %d, want 200 (open)", path, a.status)
		}
	}
}

func TestBadRequests(t *testing.T) {
	_, srv := newServer(t, host.Config{}, httpapi.Options{MaxBodyBytes: 1024})
	tests := []struct {
		name, body   string
		status       int
		field, error string
	}{
		{"malformed", `{"type":`, 400, "", "malformed JSON: unexpected end"},
		{"syntax", `{"type" "x"}`, 400, "", "malformed JSON at byte"},
		{"empty", ``, 400, "", "empty request body"},
		{"not an object", `[1,2]`, 400, "", "want a JSON object (StepRequest), got array"},
		{"trailing data", `{"type":"x"} {}`, 400, "", "unexpected data after"},
		{"missing type", `{"inputs":{"text":"a"}}`, 400, "type", "field type: required"},
		{"null type", `{"type":null}`, 400, "type", "field type: required"},
		{"type not a string", `{"type":7}`, 400, "type", "field type: want a string, got number"},
		{"input not a string", `{"type":"x","inputs":{"a":"ok","text":{"n":1}}}`, 400, "inputs.text", "field inputs.text: want a string, got object"},
		{"inputs not an object", `{"type":"x","inputs":["a"]}`, 400, "inputs", "field inputs: want an object of string values, got array"},
		{"resource not a string", `{"type":"x","resources":{"class":1}}`, 400, "resources.class", "want a string, got number"},
		{"timeout not a number", `{"type":"x","timeout_ms":"5"}`, 400, "timeout_ms", "field timeout_ms: want an integer, got string"},
		{"retry_count fractional", `{"type":"x","retry_count":1.5}`, 400, "retry_count", "field retry_count: want an integer"},
		{"context field", `{"type":"x","context":{"tenant_id":5}}`, 400, "context.tenant_id", "field context.tenant_id: want a string"},
		{"too large", `{"type":"x","inputs":{"text":"` + strings.Repeat("a", 2000) + `"}}`, 413, "", "request body larger than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, http.MethodPost, srv.URL+"/v1/steps", "application/json", strings.NewReader(tt.body))
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			e := a.errorBody(t)
			wantCode := httpapi.CodeInvalidInput
			if tt.status == 413 {
				wantCode = httpapi.CodeQuotaExceeded
			}
			if e.Code != wantCode || e.Field != tt.field || !strings.Contains(e.Error, tt.error) {
				t.Errorf("got %+v, want code %s field %q error containing %q", e, wantCode, tt.field, tt.error)
			}
		})
	}
}

// multipartBody builds a multipart/form-data body of (name, value) parts.
func multipartBody(t *testing.T, parts ...string) (string, *bytes.Buffer) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(parts); i += 2 {
		w, err := mw.CreateFormField(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, parts[i+1])
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), &b
}

func TestBadMultipart(t *testing.T) {
	_, srv := newServer(t, host.Config{}, httpapi.Options{MaxBodyBytes: 4096})
	tests := []struct {
		name   string
		parts  []string
		status int
		field  string
		error  string
	}{
		{"no type", []string{"text", "hello"}, 400, "type", "field type: required"},
		{"bad request part", []string{"request", `{"type":1}`}, 400, "type", "want a string"},
		{"request twice", []string{"request", `{"type":"x"}`, "request", `{"type":"x"}`}, 400, "request", "sent twice"},
		{"input twice", []string{"request", `{"type":"x"}`, "text", "a", "text", "b"}, 400, "inputs.text", `input "text" sent in two parts`},
		{"input in both", []string{"request", `{"type":"x","inputs":{"text":"a"}}`, "text", "b"}, 400, "inputs.text", "both in the request part and in a part of its own"},
		{"too large", []string{"request", `{"type":"x"}`, "text", strings.Repeat("z", 5000)}, 413, "", "larger than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, body := multipartBody(t, tt.parts...)
			a := do(t, http.MethodPost, srv.URL+"/v1/steps", ct, body)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if e := a.errorBody(t); e.Field != tt.field || !strings.Contains(e.Error, tt.error) {
				t.Errorf("got %+v, want field %q error containing %q", e, tt.field, tt.error)
			}
		})
	}
	a := do(t, http.MethodPost, srv.URL+"/v1/steps", "multipart/form-data; boundary=xyz", strings.NewReader("garbage"))
	if a.status != http.StatusBadRequest || !strings.Contains(a.errorBody(t).Error, "malformed multipart body") {
		t.Errorf("garbage multipart = %d %s", a.status, a.body)
	}
}

func TestUnknownType(t *testing.T) {
	_, srv := newServer(t, host.Config{}, httpapi.Options{})
	a := do(t, http.MethodPost, srv.URL+"/v1/steps", "", strings.NewReader(`{"type":"no.such.type"}`))
	if a.status != http.StatusNotFound {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	if e := a.errorBody(t); e.Code != httpapi.CodeUnknownType || !strings.Contains(e.Error, `"no.such.type"`) {
		t.Errorf("got %+v", e)
	}
}

func TestListings(t *testing.T) {
	feats := policy.Features{AdvancedRetry: true, QueueManagement: true}
	_, srv := newServer(t, host.Config{Features: feats}, httpapi.Options{})

	a := do(t, http.MethodGet, srv.URL+"/v1/blocks", "", nil)
	if a.status != http.StatusOK || strings.TrimSpace(string(a.body)) != "[]" {
		t.Errorf("GET /v1/blocks with none loaded = %d %s, want 200 []", a.status, a.body)
	}
	a = do(t, http.MethodGet, srv.URL+"/v1/breakers", "", nil)
	if a.status != http.StatusOK || strings.TrimSpace(string(a.body)) != "[]" {
		t.Errorf("GET /v1/breakers = %d %s, want 200 []", a.status, a.body)
	}
	a = do(t, http.MethodGet, srv.URL+"/v1/features", "", nil)
	var got policy.Features
	if err := json.Unmarshal(a.body, &got); err != nil || got != feats {
		t.Errorf("GET /v1/features = %s (%v), want %+v", a.body, err, feats)
	}
	if !strings.Contains(string(a.body), `"advanced_retry":true`) {
		t.Errorf("features JSON %s lacks advanced_retry", a.body)
	}
	a = do(t, http.MethodGet, srv.URL+"/v1/pools", "", nil)
	var pools []host.PoolInfo
	if err := json.Unmarshal(a.body, &pools); err != nil {
		t.Fatalf("GET /v1/pools = %s: %v", a.body, err)
	}
	names := map[string]bool{}
	for _, p := range pools {
		names[p.Name] = true
	}
	if !names["cpu"] || !names["gpu"] || !names["io"] {
		t.Errorf("pools %s lack cpu, gpu or io", a.body)
	}
	a = do(t, http.MethodGet, srv.URL+"/metrics", "", nil)
	if a.status != http.StatusNotFound {
		t.Errorf("/metrics without a Gatherer = %d, want 404", a.status)
	}
}

func TestBreakersHook(t *testing.T) {
	type breaker struct {
		Kind   string `json:"kind"`
		Target string `json:"target"`
		State  string `json:"state"`
	}
	_, srv := newServer(t, host.Config{}, httpapi.Options{Breakers: func() any {
		return []breaker{{"http", "example.com:443", "open"}}
	}})
	a := do(t, http.MethodGet, srv.URL+"/v1/breakers", "", nil)
	if want := `[{"kind":"http","target":"example.com:443","state":"open"}]`; strings.TrimSpace(string(a.body)) != want {
		t.Errorf("GET /v1/breakers = %s, want %s", a.body, want)
	}
}

func TestHealthAndDrain(t *testing.T) {
	h, srv := newServer(t, host.Config{}, httpapi.Options{})
	a := do(t, http.MethodGet, srv.URL+"/_health", "", nil)
	var hb struct{ Status, Timestamp string }
	if err := json.Unmarshal(a.body, &hb); err != nil || a.status != 200 || hb.Status != "healthy" {
		t.Fatalf("/_health = %d %s", a.status, a.body)
	}
	if _, err := time.Parse(time.RFC3339, hb.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", hb.Timestamp, err)
	}
	if a := do(t, http.MethodGet, srv.URL+"/healthz", "", nil); a.status != 200 || string(a.body) != "ok\n" {
		t.Errorf("/healthz = %d %q", a.status, a.body)
	}
	if a := do(t, http.MethodGet, srv.URL+"/readyz", "", nil); a.status != 200 {
		t.Errorf("/readyz = %d", a.status)
	}

	h.Drain()
	if a := do(t, http.MethodGet, srv.URL+"/readyz", "", nil); a.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining = %d, want 503", a.status)
	}
	if a := do(t, http.MethodGet, srv.URL+"/_health", "", nil); a.status != http.StatusServiceUnavailable || !strings.Contains(string(a.body), `"draining"`) {
		t.Errorf("/_health while draining = %d %s", a.status, a.body)
	}
	if a := do(t, http.MethodGet, srv.URL+"/healthz", "", nil); a.status != http.StatusOK {
		t.Errorf("/healthz while draining = %d, want 200 (liveness)", a.status)
	}
	a = do(t, http.MethodPost, srv.URL+"/v1/steps", "", strings.NewReader(`{"type":"text.uppercase"}`))
	if a.status != http.StatusServiceUnavailable || a.errorBody(t).Code != httpapi.CodeDraining {
		t.Errorf("step while draining = %d %s, want 503", a.status, a.body)
	}
}

func TestCancelAnswers(t *testing.T) {
	_, off := newServer(t, host.Config{}, httpapi.Options{})
	a := do(t, http.MethodDelete, off.URL+"/v1/steps/s-1", "", nil)
	if a.status != http.StatusConflict {
		t.Fatalf("DELETE with cancellation off = %d %s, want 409", a.status, a.body)
	}
	if e := a.errorBody(t); e.Code != httpapi.CodeCancellationDisabled || !strings.Contains(e.Error, "CP2_CANCELLATION_ENABLED") || e.StepID != "s-1" {
		t.Errorf("got %+v", e)
	}

	_, on := newServer(t, host.Config{Features: policy.Features{Cancellation: true}}, httpapi.Options{})
	a = do(t, http.MethodDelete, on.URL+"/v1/steps/s-1", "", nil)
	if a.status != http.StatusNotFound || a.errorBody(t).Code != httpapi.CodeUnknownStep {
		t.Errorf("DELETE of an unknown step = %d %s, want 404", a.status, a.body)
	}
}

// blockDir returns a temporary plugins directory holding copies of the
// named test blocks (NAME.wasm and NAME.yaml).
func blockDir(t *testing.T, names ...string) string {
	t.Helper()
	src := testblocks.Dir(t)
	dst := t.TempDir()
	for _, n := range names {
		copyBlock(t, src, dst, n)
	}
	return dst
}

func copyBlock(t *testing.T, src, dst, name string) {
	t.Helper()
	for _, ext := range []string{".wasm", ".yaml"} {
		b, err := os.ReadFile(filepath.Join(src, name+ext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name+ext), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadedServer serves a host that loaded the named test blocks, with its
// metrics on a registry /metrics exposes.
func loadedServer(t *testing.T, o httpapi.Options, names ...string) (*host.Host, *httptest.Server, string) {
	t.Helper()
	dir := blockDir(t, names...)
	reg := prometheus.NewRegistry()
	o.Gatherer = reg
	h, srv := newServer(t, host.Config{CacheDir: testblocks.CacheDir(t), Registerer: reg}, o)
	if err := h.LoadDir(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	return h, srv, dir
}

func TestStepUppercase(t *testing.T) {
	_, srv, _ := loadedServer(t, httpapi.Options{}, "text_uppercase")

	a := do(t, http.MethodPost, srv.URL+"/v1/steps", "", strings.NewReader(
		`{"type":"text.uppercase","inputs":{"text":"hello"},"context":{"tenant_id":"t1","step_id":"s-42"}}`))
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var res host.StepResult
	if err := json.Unmarshal(a.body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != host.StatusSuccess || res.Outputs["text"] != "HELLO" || res.Metadata.StepID != "s-42" || res.Metadata.TenantID != "t1" {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(string(a.body), `"error_code":"NONE"`) {
		t.Errorf("result %s lacks error_code NONE", a.body)
	}

	// The same step as multipart: the request part, then the input raw.
	big := strings.Repeat("abc\x00\xff", 1000)
	ct, body := multipartBody(t, "request", `{"type":"text.uppercase"}`, "text", big)
	a = do(t, http.MethodPost, srv.URL+"/v1/steps", ct, body)
	if a.status != http.StatusOK {
		t.Fatalf("multipart: status %d: %s", a.status, a.body)
	}
	res = host.StepResult{}
	if err := json.Unmarshal(a.body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != host.StatusSuccess || res.Outputs["text"] != strings.ToUpper(big) {
		t.Errorf("multipart result: status %s, %d output bytes", res.Status, len(res.Outputs["text"]))
	}
	// Inputs first, request part last.
	ct, body = multipartBody(t, "text", "late", "request", `{"type":"text.uppercase"}`)
	a = do(t, http.MethodPost, srv.URL+"/v1/steps", ct, body)
	if a.status != http.StatusOK || !strings.Contains(string(a.body), `"text":"LATE"`) {
		t.Errorf("request part last: %d %s", a.status, a.body)
	}

	a = do(t, http.MethodGet, srv.URL+"/metrics", "", nil)
	if a.status != http.StatusOK || !strings.Contains(string(a.body), "worker_step_executions_total") {
		t.Errorf("/metrics = %d, lacks worker_step_executions_total", a.status)
	}
}

func TestBlocksAndReload(t *testing.T) {
	h, srv, dir := loadedServer(t, httpapi.Options{}, "noop")
	var blocks []host.BlockInfo
	a := do(t, http.MethodGet, srv.URL+"/v1/blocks", "", nil)
	if err := json.Unmarshal(a.body, &blocks); err != nil || len(blocks) != 1 {
		t.Fatalf("GET /v1/blocks = %s", a.body)
	}

	copyBlock(t, testblocks.Dir(t), dir, "text_uppercase")
	a = do(t, http.MethodPost, srv.URL+"/v1/blocks/reload", "", nil)
	if a.status != http.StatusAccepted {
		t.Fatalf("reload = %d %s", a.status, a.body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(h.Blocks()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("reload did not load text_uppercase within 60s: %+v", h.Blocks())
		}
		time.Sleep(20 * time.Millisecond)
	}
	a = do(t, http.MethodGet, srv.URL+"/v1/blocks", "", nil)
	if !strings.Contains(string(a.body), `"text.uppercase"`) || !strings.Contains(string(a.body), `"digest"`) {
		t.Errorf("GET /v1/blocks after reload = %s", a.body)
	}

	// A block that never loaded has its error and no load time.
	if err := os.WriteFile(filepath.Join(dir, "broken.wasm"), []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("types: [x.broken]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(context.Background()); err == nil {
		t.Fatal("reload with a broken block: no error")
	}
	var listed []map[string]any
	a = do(t, http.MethodGet, srv.URL+"/v1/blocks", "", nil)
	if err := json.Unmarshal(a.body, &listed); err != nil {
		t.Fatal(err)
	}
	for _, b := range listed {
		_, has := b["loaded_at"]
		if broken := b["name"] == "broken"; broken == has || (broken && b["last_error"] == "") {
			t.Errorf("GET /v1/blocks: %v", b)
		}
	}
}

func ExampleNew() {
	h, err := host.New(host.Config{})
	if err != nil {
		panic(err)
	}
	defer h.Close(context.Background())
	srv := httptest.NewServer(httpapi.New(h, httpapi.Options{}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/v1/features")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(b))
	// Output: 200 {"advanced_retry":false,"complete_timeout":false,"cancellation":false,"queue_management":false,"circuit_breaker":false}
}
