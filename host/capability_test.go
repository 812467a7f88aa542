package host_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/internal/testblocks"
	httpcap "github.com/beamline/blockhost/plugins/http"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

var localHTTP = map[string]host.BlockPolicy{
	"http_request": {HTTP: sandbox.HTTPGrant{Allow: []string{"*"}, AllowPrivate: true}},
}

func TestHTTPRequestBlock(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/ok":
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Echo", r.Method)
			io.WriteString(w, "got:"+string(body))
		case "/missing":
			http.Error(w, "no", http.StatusNotFound)
		case "/flaky":
			if hits.Load()%2 == 1 {
				w.Header().Set("Retry-After", "0")
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "recovered")
		}
	}))
	defer srv.Close()
	h := newHost(t, host.Config{Features: allCP2, Blocks: localHTTP,
		Retry: policy.RetryConfig{Base: time.Millisecond, Cap: 10 * time.Millisecond}}, "http_request")

	res := run(t, h, host.StepRequest{Type: "http.request", Inputs: map[string]string{"url": srv.URL + "/ok", "method": "POST", "body": "hi"}})
	require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
	assert.Equal(t, "200", res.Outputs["status"])
	assert.Equal(t, "got:hi", res.Outputs["body"])
	assert.Contains(t, res.Outputs["headers"], `"X-Echo":["POST"]`)

	before := hits.Load()
	res = run(t, h, host.StepRequest{Type: "http.request", Inputs: map[string]string{"url": srv.URL + "/missing"}})
	assert.Equal(t, abi.HTTPError, res.ErrorCode)
	assert.Equal(t, 0, res.RetriesUsed, "a 404 is not retried")
	assert.Equal(t, before+1, hits.Load())

	hits.Store(0)
	res = run(t, h, host.StepRequest{Type: "http.request", Inputs: map[string]string{"url": srv.URL + "/flaky"}})
	require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
	assert.Equal(t, "recovered", res.Outputs["body"])
	assert.Equal(t, 1, res.RetriesUsed, "a 503 is retried")

	// Not granted by the operator: the block is refused at load, naming why.
	h2 := newHost(t, host.Config{Features: allCP2})
	_, err := h2.LoadFile(context.Background(), filepath.Join(testblocks.Dir(t), "http_request.wasm"))
	require.ErrorContains(t, err, `the operator grants block "http_request" none`)
}

// TestCP1DeadlineInsideAHostCall: a CP1 attempt whose deadline passes while
// the block waits on an HTTP body ends timeout, not cancelled.
func TestCP1DeadlineInsideAHostCall(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	h := newHost(t, host.Config{Blocks: localHTTP}, "http_request")
	start := time.Now()
	res := run(t, h, host.StepRequest{Type: "http.request", TimeoutMS: 150, RetryCount: intp(0),
		Inputs: map[string]string{"url": srv.URL}})
	assert.Equal(t, host.StatusTimeout, res.Status, res.ErrorMessage)
	assert.Equal(t, abi.CancelledByTimeout, res.ErrorCode)
	assert.Less(t, time.Since(start), 150*time.Millisecond+250*time.Millisecond)
}

func TestBlobBlocks(t *testing.T) {
	root := t.TempDir()
	g := sandbox.FSGrant{Root: root}
	h := newHost(t, host.Config{Blocks: map[string]host.BlockPolicy{
		"fs_blob_put": {FS: g}, "fs_blob_get": {FS: g}, "fs_blob_delete": {FS: g}}},
		"fs_blob_put", "fs_blob_get", "fs_blob_delete")
	data := strings.Repeat("blockhost ", 100000)
	res := run(t, h, host.StepRequest{Type: "fs.blob_put", Inputs: map[string]string{"key": "r/1.txt", "data": data}})
	require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
	res = run(t, h, host.StepRequest{Type: "fs.blob_get", Inputs: map[string]string{"key": "r/1.txt"}})
	require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
	assert.Equal(t, data, res.Outputs["data"])
	assert.Equal(t, "1000000", res.Outputs["size"])
	res = run(t, h, host.StepRequest{Type: "fs.blob_get", RetryCount: intp(0), Inputs: map[string]string{"key": "../etc/passwd"}})
	assert.Equal(t, abi.PermissionDenied, res.ErrorCode, res.ErrorMessage)
	res = run(t, h, host.StepRequest{Type: "fs.blob_delete", Inputs: map[string]string{"key": "r/1.txt"}})
	require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
	res = run(t, h, host.StepRequest{Type: "fs.blob_get", RetryCount: intp(0), Inputs: map[string]string{"key": "r/1.txt"}})
	assert.Equal(t, abi.InvalidInput, res.ErrorCode, "not found: %s", res.ErrorMessage)
}

// BenchmarkHTTPGet compares a GET through the http.request block with the
// same GET from plain Go against the same local server.
func BenchmarkHTTPGet(b *testing.B) {
	body := strings.Repeat("x", 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	defer srv.Close()
	b.Run("block", func(b *testing.B) {
		h := newHost(b, host.Config{Blocks: localHTTP}, "http_request")
		req := host.StepRequest{Type: "http.request", Inputs: map[string]string{"url": srv.URL}}
		for b.Loop() {
			res, err := h.Execute(context.Background(), req)
			if err != nil || res.Status != host.StatusSuccess {
				b.Fatal(res, err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		c := &http.Client{Transport: &http.Transport{}}
		for b.Loop() {
			resp, err := c.Get(srv.URL)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

func TestHTTPBreakerThroughHost(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	h := newHost(t, host.Config{Features: allCP2, Blocks: localHTTP, Registerer: reg,
		HTTP: httpcap.Config{Breaker: policy.BreakerSettings{FailureThreshold: 3, RecoveryTimeout: time.Hour}}}, "http_request")
	for range 3 {
		res := run(t, h, host.StepRequest{Type: "http.request", RetryCount: intp(0), Inputs: map[string]string{"url": srv.URL}})
		assert.Equal(t, abi.HTTPError, res.ErrorCode)
	}
	res := run(t, h, host.StepRequest{Type: "http.request", RetryCount: intp(2), Inputs: map[string]string{"url": srv.URL}})
	assert.Equal(t, abi.ResourceUnavailable, res.ErrorCode)
	assert.Contains(t, res.ErrorMessage, "circuit open")
	assert.Equal(t, 0, res.RetriesUsed, "circuit open is not retried")
	assert.Equal(t, int64(3), hits.Load(), "no I/O while open")
	br := h.Breakers()
	require.Len(t, br, 1)
	assert.Equal(t, "http", br[0].Kind)
	assert.Equal(t, "open", br[0].State)
	assert.Zero(t, healthStatus(t, reg)["breakers"], "worker_health_status{check=\"breakers\"} with a breaker open")
	assert.Equal(t, 1.0, testutil.ToFloat64(getVec(t, reg, "worker_circuit_breaker_state", "http", br[0].Target)))
	assert.Equal(t, 1.0, testutil.ToFloat64(getVec(t, reg, "worker_circuit_breaker_transitions_total", "http", "open")))
}

// TestBreakerSeriesFollowEviction: the state series of a breaker its set
// forgets (max_breakers) goes with it, so the series stay bounded.
func TestBreakerSeriesFollowEviction(t *testing.T) {
	var failA atomic.Bool
	failA.Store(true)
	srvA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failA.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srvA.Close()
	srvB := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srvB.Close()
	reg := prometheus.NewRegistry()
	h := newHost(t, host.Config{Features: allCP2, Blocks: localHTTP, Registerer: reg,
		HTTP: httpcap.Config{MaxBreakers: 1, Breaker: policy.BreakerSettings{
			FailureThreshold: 1, RecoveryTimeout: 10 * time.Millisecond, SuccessThreshold: 1}}}, "http_request")
	series := func() map[string]float64 { return gaugesBy(t, reg, "worker_circuit_breaker_state", "target") }
	get := func(url string) host.StepResult {
		return run(t, h, host.StepRequest{Type: "http.request", RetryCount: intp(0), Inputs: map[string]string{"url": url}})
	}

	assert.Equal(t, abi.HTTPError, get(srvA.URL).ErrorCode)
	require.Len(t, series(), 1)
	var targetA string
	for k, v := range series() {
		targetA = k
		assert.Equal(t, 1.0, v, "open")
	}
	failA.Store(false)
	waitFor(t, 5*time.Second, func() bool { return get(srvA.URL).Status == host.StatusSuccess })
	assert.Equal(t, map[string]float64{targetA: 0}, series(), "closed again")

	require.Equal(t, host.StatusSuccess, get(srvB.URL).Status)
	assert.NotContains(t, series(), targetA, "A's breaker was forgotten for B's")
	require.Len(t, h.Breakers(), 1)
}
