package conformance_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/internal/testblocks"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// lang is one SDK language and its conformance block.
type lang struct {
	name string // the block is conformance_NAME, serving conformance.NAME
	// wasm is the block's module; its manifest is beside it.
	wasm string
	// goSDK: the Go block uses the Go SDK's typed API only, which never
	// sends invalid error details (it sanitises them), does not expose
	// log's status, and reports a returned code with error_set.
	goSDK bool
	// abortMessage: the language's hard failure carries its message to
	// the operator (everything but WAT's unreachable).
	abortMessage bool
}

func (l lang) block() string    { return "conformance_" + l.name }
func (l lang) stepType() string { return "conformance." + l.name }

// langs returns the languages, with the committed blocks from examples/ and
// the Go block built from source.
func langs(t *testing.T) []lang {
	root := moduleRoot(t)
	ex := func(dir, name string) string {
		return filepath.Join(root, "examples", dir, "conformance", "conformance_"+name+".wasm")
	}
	return []lang{
		{name: "go", wasm: filepath.Join(testblocks.Dir(t), "conformance_go.wasm"), goSDK: true, abortMessage: true},
		{name: "c", wasm: ex("c", "c"), abortMessage: true},
		{name: "rust", wasm: ex("rust", "rust"), abortMessage: true},
		{name: "as", wasm: ex("assemblyscript", "as"), abortMessage: true},
		{name: "wat", wasm: ex("wat", "wat")},
	}
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module "+testblocks.Module+"\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "module root not found")
		dir = parent
	}
}

// logRecorder is a slog.Handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []logRecord
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	lr := logRecord{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, lr)
	r.mu.Unlock()
	return nil
}

// step returns the records logged for one step.
func (r *logRecorder) step(id string) []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logRecord
	for _, rec := range r.records {
		if rec.attrs["step_id"] == id {
			out = append(out, rec)
		}
	}
	return out
}

// kit is the host every row runs on, with every language's block loaded
// and granted HTTP to the test server and a blob root of its own.
type kit struct {
	h       *host.Host
	logs    *logRecorder
	srv     *httptest.Server // allowed
	other   *httptest.Server // not allowed
	fsRoots map[string]string
}

func newKit(t *testing.T, ls []lang) *kit {
	k := &kit{logs: &logRecorder{}, fsRoots: map[string]string{}}
	k.srv = httptest.NewServer(http.HandlerFunc(echoHandler))
	t.Cleanup(k.srv.Close)
	k.other = httptest.NewServer(http.HandlerFunc(echoHandler))
	t.Cleanup(k.other.Close)

	blocks := map[string]host.BlockPolicy{}
	for _, l := range ls {
		root := t.TempDir()
		k.fsRoots[l.name] = root
		blocks[l.block()] = host.BlockPolicy{
			Config: map[string]string{"colour": "blue"},
			HTTP:   sandbox.HTTPGrant{Allow: []string{k.srv.URL}, AllowPrivate: true},
			FS:     sandbox.FSGrant{Root: root},
		}
	}
	h, err := host.New(host.Config{
		Features: policy.Features{AdvancedRetry: true, CompleteTimeout: true, Cancellation: true,
			QueueManagement: true, CircuitBreaker: true},
		Retry:             policy.RetryConfig{Base: time.Millisecond, Cap: time.Second},
		DefaultRetryCount: -1,
		DefaultTimeout:    20 * time.Second,
		CacheDir:          testblocks.CacheDir(t),
		Logger:            slog.New(k.logs),
		Blocks:            blocks,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, h.Close(ctx))
	})
	for _, l := range ls {
		_, err := os.Stat(l.wasm)
		require.NoError(t, err, "%s: the conformance block is missing (make sdk-blocks rebuilds it)", l.name)
		info, err := h.LoadFile(context.Background(), l.wasm)
		require.NoError(t, err, "loading %s", l.wasm)
		require.Equal(t, l.block(), info.Name)
	}
	k.h = h
	return k
}

// echoHandler answers "METHOD BODY X-Req" with status ?status= (200 by
// default), a header X-Test, and ?size= bytes instead when asked.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Test", "yes")
	status := 200
	if s := r.URL.Query().Get("status"); s != "" {
		status, _ = strconv.Atoi(s)
	}
	if s := r.URL.Query().Get("size"); s != "" {
		n, _ := strconv.Atoi(s)
		w.WriteHeader(status)
		_, _ = w.Write(pattern(n))
		return
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s %s %s", r.Method, body, r.Header.Get("X-Req"))
}

// pattern returns n bytes that are not all the same and not valid UTF-8.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func (k *kit) run(t *testing.T, l lang, req host.StepRequest) host.StepResult {
	t.Helper()
	req.Type = l.stepType()
	res, err := k.h.Execute(context.Background(), req)
	require.NoError(t, err)
	return res
}

func in(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func wantSuccess(t *testing.T, res host.StepResult) {
	t.Helper()
	require.Equal(t, host.StatusSuccess, res.Status, "step failed: %s %s", res.ErrorCode, res.ErrorMessage)
}

func wantError(t *testing.T, res host.StepResult, code abi.Code) {
	t.Helper()
	require.Equal(t, host.StatusError, res.Status, "outputs: %v", res.Outputs)
	require.Equal(t, code, res.ErrorCode, "message: %s", res.ErrorMessage)
}

// wantReported checks the "report" rule: a failed host call reaches the
// wire as its beamline code, with the host code's name first and the
// host's detail.
func wantReported(t *testing.T, res host.StepResult, code abi.Code, detail string) {
	t.Helper()
	wantError(t, res, code.Wire())
	assert.True(t, strings.HasPrefix(res.ErrorMessage, code.String()+": "), "message %q should start with %s", res.ErrorMessage, code)
	assert.Contains(t, res.ErrorMessage, detail)
}

// allCodes is every code of ABI.md section 5 but NONE.
var allCodes = []abi.Code{
	1001, 1002, 1003, 2001, 2002, 2003, 2004, 3001, 3002, 3003, 4001, 4002, 5001, 5002, 9999,
	6001, 6002, 6003, 6004, 6005, 6006, 6007, 6008, 6009, 6010, 6011,
}

// row is one behaviour of the table, checked against one language.
type row struct {
	name string
	run  func(t *testing.T, k *kit, l lang)
}

var table = []row{
	{"echo", func(t *testing.T, k *kit, l lang) {
		for _, text := range []string{"hello", "", "héllo, 世界 ✓", strings.Repeat("0123456789abcdef", 20<<10)} {
			res := k.run(t, l, host.StepRequest{Inputs: in("op", "echo", "text", text)})
			wantSuccess(t, res)
			assert.Equal(t, text, res.Outputs["echo"], "echo of %d bytes", len(text))
			assert.JSONEq(t, `["op","text"]`, res.Outputs["keys"])
			all, _ := json.Marshal(map[string]string{"op": "echo", "text": text})
			assert.JSONEq(t, string(all), res.Outputs["inputs"])
		}
	}},
	{"echo/missing", func(t *testing.T, k *kit, l lang) {
		res := k.run(t, l, host.StepRequest{Inputs: in("op", "echo")})
		wantReported(t, res, abi.NotFound, `"text"`)
	}},
	{"error/every-code", func(t *testing.T, k *kit, l lang) {
		for _, c := range allCodes {
			require.True(t, c.Known(), "%d", c)
			msg := "failure " + c.String()
			res := k.run(t, l, host.StepRequest{Inputs: in("op", "error", "code", strconv.Itoa(int(c)), "message", msg)})
			wantError(t, res, c.Wire())
			want := msg
			if c.Host() {
				want = c.String() + ": " + msg
			}
			assert.Equal(t, want, res.ErrorMessage, "code %s", c)
			assert.Zero(t, res.RetriesUsed)
		}
	}},
	{"error/unknown-code", func(t *testing.T, k *kit, l lang) {
		res := k.run(t, l, host.StepRequest{Inputs: in("op", "error", "code", "1234", "message", "odd")})
		wantError(t, res, abi.ExecutionFailed)
	}},
	{"error/message-truncated", func(t *testing.T, k *kit, l lang) {
		msg := strings.Repeat("m", abi.MaxMessageLen+1000)
		res := k.run(t, l, host.StepRequest{Inputs: in("op", "error", "code", "1003", "message", msg)})
		wantError(t, res, abi.InvalidFormat)
		assert.Equal(t, msg[:abi.MaxMessageLen], res.ErrorMessage)
	}},
	{"error/http-status-classifies", func(t *testing.T, k *kit, l lang) {
		// HTTP_ERROR is retried for a 503 and not for a 404: the status
		// reached the host.
		for status, retries := range map[string]int{"503": 1, "404": 0} {
			res := k.run(t, l, host.StepRequest{RetryCount: intp(1),
				Inputs: in("op", "error", "code", "3003", "message", "upstream", "http_status", status)})
			wantError(t, res, abi.HTTPError)
			assert.Equal(t, retries, res.RetriesUsed, "http_status %s", status)
		}
	}},
	{"error/retryable-overrides", func(t *testing.T, k *kit, l lang) {
		// 1 retries a code that is never retried; 2 stops one that is.
		res := k.run(t, l, host.StepRequest{RetryCount: intp(1),
			Inputs: in("op", "error", "code", "1001", "message", "x", "retryable", "1")})
		wantError(t, res, abi.InvalidInput)
		assert.Equal(t, 1, res.RetriesUsed, "retryable=1")
		res = k.run(t, l, host.StepRequest{RetryCount: intp(1),
			Inputs: in("op", "error", "code", "3001", "message", "x", "retryable", "2")})
		wantError(t, res, abi.NetworkError)
		assert.Zero(t, res.RetriesUsed, "retryable=2")
	}},
	{"error/retry-after-honoured", func(t *testing.T, k *kit, l lang) {
		// The first backoff here is at most 1 ms: a retry 150 ms later is the hint.
		start := time.Now()
		res := k.run(t, l, host.StepRequest{RetryCount: intp(1),
			Inputs: in("op", "error", "code", "3003", "message", "slow down", "http_status", "429", "retry_after_ms", "150")})
		wantError(t, res, abi.HTTPError)
		assert.Equal(t, 1, res.RetriesUsed)
		assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	}},
	{"error/invalid-details", func(t *testing.T, k *kit, l lang) {
		for _, bad := range [][]string{
			{"code", "0"},
			{"code", "3003", "http_status", "42"},
			{"code", "3003", "retryable", "7"},
			{"code", "3003", "retry_after_ms", "-1"},
		} {
			res := k.run(t, l, host.StepRequest{Inputs: in(append([]string{"op", "error", "message", "bad"}, bad...)...)})
			if l.goSDK {
				// The Go SDK never sends invalid details: it reports the
				// code (0 as EXECUTION_FAILED) without them.
				want := abi.HTTPError
				if bad[1] == "0" {
					want = abi.ExecutionFailed
				}
				wantError(t, res, want)
				continue
			}
			wantSuccess(t, res)
			assert.Equal(t, strconv.Itoa(int(abi.InvalidArgument.Status())), res.Outputs["error_set_status"], "%v", bad)
		}
	}},
	{"error/returned-code", func(t *testing.T, k *kit, l lang) {
		for code, want := range map[string]abi.Code{"3001": abi.NetworkError, "6005": abi.QuotaExceeded, "1234": abi.ExecutionFailed, "-7": abi.ExecutionFailed} {
			if l.goSDK && code == "-7" {
				continue // the Go SDK has no way to return a negative value
			}
			res := k.run(t, l, host.StepRequest{Inputs: in("op", "error", "code", code, "via", "return")})
			wantError(t, res, want)
			if !l.goSDK {
				assert.Contains(t, res.ErrorMessage, "block returned "+code)
			}
		}
	}},
	{"log", func(t *testing.T, k *kit, l lang) {
		for level, want := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			msg := fmt.Sprintf("message at %d from %s", level, l.name)
			res := k.run(t, l, host.StepRequest{Inputs: in("op", "log", "level", strconv.Itoa(level), "message", msg)})
			wantSuccess(t, res)
			if !l.goSDK {
				assert.Equal(t, "0", res.Outputs["status"])
			}
			recs := guestLogs(k.logs.step(res.Metadata.StepID))
			require.Len(t, recs, 1)
			assert.Equal(t, want, recs[0].level)
			assert.Equal(t, msg, recs[0].attrs["text"])
			assert.Equal(t, l.block(), recs[0].attrs["block"])
		}
		res := k.run(t, l, host.StepRequest{Inputs: in("op", "log", "level", "4", "message", "nope")})
		wantSuccess(t, res)
		if !l.goSDK {
			assert.Equal(t, strconv.Itoa(int(abi.InvalidArgument.Status())), res.Outputs["status"])
		}
		assert.Empty(t, guestLogs(k.logs.step(res.Metadata.StepID)))
	}},
	{"config", func(t *testing.T, k *kit, l lang) {
		for key, want := range map[string]string{"greeting": "hello", "colour": "blue"} {
			res := k.run(t, l, host.StepRequest{Inputs: in("op", "config", "key", key)})
			wantSuccess(t, res)
			assert.Equal(t, want, res.Outputs["value"], "config %s", key)
		}
		res := k.run(t, l, host.StepRequest{Inputs: in("op", "config", "key", "nope")})
		wantReported(t, res, abi.NotFound, `"nope"`)
	}},
	{"context", func(t *testing.T, k *kit, l lang) {
		bc := host.BlockContext{TenantID: "tenant-" + l.name, TraceID: "trace-1", RunID: "run-1", FlowID: "flow-1", StepID: "step-" + l.name}
		res := k.run(t, l, host.StepRequest{Inputs: in("op", "context"), Context: bc})
		wantSuccess(t, res)
		assert.Equal(t, map[string]string{
			"tenant_id": bc.TenantID, "trace_id": "trace-1", "run_id": "run-1", "flow_id": "flow-1",
			"step_id": bc.StepID, "step_type": l.stepType(), "attempt": "0",
			"missing": strconv.Itoa(int(abi.NotFound.Status())),
		}, res.Outputs)
		// A generated step id, and empty ids.
		res = k.run(t, l, host.StepRequest{Inputs: in("op", "context")})
		wantSuccess(t, res)
		assert.Equal(t, res.Metadata.StepID, res.Outputs["step_id"])
		assert.NotEmpty(t, res.Outputs["step_id"])
		assert.Equal(t, "", res.Outputs["tenant_id"])
	}},
	{"stream", func(t *testing.T, k *kit, l lang) {
		data := string(pattern(8<<20 + 12345))
		res := k.run(t, l, host.StepRequest{Inputs: in("op", "stream", "data", data)})
		wantSuccess(t, res)
		assert.True(t, res.Outputs["stream"] == data, "stream: %d bytes, want %d", len(res.Outputs["stream"]), len(data))
		assert.True(t, res.Outputs["copy"] == data, "copy: %d bytes, want %d", len(res.Outputs["copy"]), len(data))
		assert.Equal(t, strconv.Itoa(len(data)), res.Outputs["size"])
	}},
	{"buffer", func(t *testing.T, k *kit, l lang) {
		for _, text := range []string{"abc", string(pattern(300 << 10))} {
			res := k.run(t, l, host.StepRequest{Inputs: in("op", "buffer", "text", text)})
			wantSuccess(t, res)
			assert.True(t, res.Outputs["twice"] == text+text, "twice: %d bytes", len(res.Outputs["twice"]))
			assert.Equal(t, strconv.Itoa(2*len(text)), res.Outputs["size"])
		}
	}},
	{"http", func(t *testing.T, k *kit, l lang) {
		req := func(method, url string) string {
			b, _ := json.Marshal(map[string]any{"method": method, "url": url, "headers": map[string][]string{"X-Req": {"r1"}}})
			return string(b)
		}
		res := k.run(t, l, host.StepRequest{Inputs: in("op", "http", "request", req("POST", k.srv.URL+"/x"), "body", "payload")})
		wantSuccess(t, res)
		assert.Equal(t, "POST payload r1", res.Outputs["body"])
		var meta struct {
			Status  int                 `json:"status"`
			Headers map[string][]string `json:"headers"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.Outputs["meta"]), &meta), res.Outputs["meta"])
		assert.Equal(t, 200, meta.Status)
		assert.Equal(t, []string{"yes"}, meta.Headers["X-Test"])

		// Any response is a success of the call; the body streams.
		res = k.run(t, l, host.StepRequest{Inputs: in("op", "http", "request", req("GET", k.srv.URL+"/x?status=503&size=1048577"))})
		wantSuccess(t, res)
		require.NoError(t, json.Unmarshal([]byte(res.Outputs["meta"]), &meta))
		assert.Equal(t, 503, meta.Status)
		assert.True(t, res.Outputs["body"] == string(pattern(1048577)), "body: %d bytes", len(res.Outputs["body"]))

		// Egress the operator did not grant.
		res = k.run(t, l, host.StepRequest{Inputs: in("op", "http", "request", req("GET", k.other.URL+"/x"))})
		wantReported(t, res, abi.Denied, strings.TrimPrefix(k.other.URL, "http://"))
	}},
	{"fs", func(t *testing.T, k *kit, l lang) {
		data := string(pattern(300<<10 + 7))
		res := k.run(t, l, host.StepRequest{Inputs: in("op", "fs", "key", "dir/a.bin", "key2", "dir/b.bin", "data", data, "prefix", "dir/")})
		wantSuccess(t, res)
		assert.True(t, res.Outputs["read"] == data, "read: %d bytes", len(res.Outputs["read"]))
		assert.Equal(t, "yes", res.Outputs["deleted"])
		var st struct {
			Key  string `json:"key"`
			Size int64  `json:"size"`
			MS   int64  `json:"modified_unix_ms"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.Outputs["stat"]), &st), res.Outputs["stat"])
		assert.Equal(t, "dir/a.bin", st.Key)
		assert.Equal(t, int64(len(data)), st.Size)
		assert.InDelta(t, time.Now().UnixMilli(), st.MS, float64(time.Minute.Milliseconds()))
		var list []struct {
			Key  string `json:"key"`
			Size int64  `json:"size"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.Outputs["list"]), &list), res.Outputs["list"])
		require.Len(t, list, 2)
		assert.Equal(t, "dir/a.bin", list[0].Key)
		assert.Equal(t, "dir/b.bin", list[1].Key)
		// On disk: the blob written, the one deleted gone.
		b, err := os.ReadFile(filepath.Join(k.fsRoots[l.name], "dir", "a.bin"))
		require.NoError(t, err)
		assert.True(t, string(b) == data)
		_, err = os.Stat(filepath.Join(k.fsRoots[l.name], "dir", "b.bin"))
		assert.True(t, errors.Is(err, os.ErrNotExist), "deleted blob: %v", err)

		// The jail refuses a way out.
		res = k.run(t, l, host.StepRequest{Inputs: in("op", "fs", "key", "../escape", "key2", "x", "data", "d", "prefix", "")})
		wantError(t, res, abi.PermissionDenied)
		assert.True(t, strings.HasPrefix(res.ErrorMessage, "DENIED: "), res.ErrorMessage)
	}},
	{"abort", func(t *testing.T, k *kit, l lang) {
		msg := "boom from " + l.name
		res := k.run(t, l, host.StepRequest{RetryCount: intp(2), Inputs: in("op", "abort", "message", msg)})
		wantError(t, res, abi.ExecutionFailed)
		assert.Zero(t, res.RetriesUsed, "a hard failure is not retried")
		if l.abortMessage {
			seen := strings.Contains(res.ErrorMessage, msg)
			for _, rec := range k.logs.step(res.Metadata.StepID) {
				seen = seen || strings.Contains(rec.attrs["text"], msg)
			}
			assert.True(t, seen, "%q is neither in the error message %q nor in the step's log", msg, res.ErrorMessage)
		}
		// The host serves the block again.
		wantSuccess(t, k.run(t, l, host.StepRequest{Inputs: in("op", "echo", "text", "after")}))
	}},
	{"unknown-op", func(t *testing.T, k *kit, l lang) {
		for _, inputs := range []map[string]string{in("op", "nope"), in()} {
			res := k.run(t, l, host.StepRequest{Inputs: inputs})
			wantError(t, res, abi.InvalidInput)
			assert.Contains(t, res.ErrorMessage, "unknown op")
		}
	}},
}

func guestLogs(recs []logRecord) []logRecord {
	var out []logRecord
	for _, r := range recs {
		if r.msg == "guest log" {
			out = append(out, r)
		}
	}
	return out
}

func intp(i int) *int { return &i }

// TestConformance runs the table against every language's block.
func TestConformance(t *testing.T) {
	ls := langs(t)
	k := newKit(t, ls)
	for _, l := range ls {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range table {
				t.Run(r.name, func(t *testing.T) { r.run(t, k, l) })
			}
		})
	}
}

// TestImportsWholeABI checks that each conformance block imports every
// blockhost function, so the table exercises each SDK's whole binding (the
// host checks each import's signature at load).
func TestImportsWholeABI(t *testing.T) {
	for _, l := range langs(t) {
		t.Run(l.name, func(t *testing.T) {
			wasm, err := os.ReadFile(l.wasm)
			require.NoError(t, err)
			imports, err := wasmImports(wasm)
			require.NoError(t, err)
			var got []string
			for _, im := range imports {
				if im[0] == abi.ModuleName {
					got = append(got, im[1])
				}
			}
			slices.Sort(got)
			want := slices.Clone(abi.HostFunctions)
			slices.Sort(want)
			assert.Equal(t, want, got)
		})
	}
}

// wasmImports returns the (module, name) of every import of a module.
func wasmImports(b []byte) ([][2]string, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("not a wasm module")
	}
	b = b[8:]
	uvarint := func() (uint64, error) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errors.New("bad LEB128")
		}
		b = b[n:]
		return v, nil
	}
	name := func() (string, error) {
		n, err := uvarint()
		if err != nil || n > uint64(len(b)) {
			return "", errors.New("bad name")
		}
		s := string(b[:n])
		b = b[n:]
		return s, nil
	}
	for len(b) > 0 {
		id := b[0]
		b = b[1:]
		size, err := uvarint()
		if err != nil || size > uint64(len(b)) {
			return nil, errors.New("bad section")
		}
		if id != 2 {
			b = b[size:]
			continue
		}
		b = b[:size]
		count, err := uvarint()
		if err != nil {
			return nil, err
		}
		var out [][2]string
		for range count {
			mod, err := name()
			if err != nil {
				return nil, err
			}
			field, err := name()
			if err != nil {
				return nil, err
			}
			if len(b) == 0 || b[0] != 0 {
				return nil, fmt.Errorf("import %s.%s is not a function", mod, field)
			}
			b = b[1:]
			if _, err := uvarint(); err != nil {
				return nil, err
			}
			out = append(out, [2]string{mod, field})
		}
		return out, nil
	}
	return nil, nil
}
