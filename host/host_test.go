package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// newHost returns a host with the given blocks loaded from the shared test
// block directory, closed at the end of the test.
func newHost(t testing.TB, cfg host.Config, blocks ...string) *host.Host {
	t.Helper()
	dir := testblocks.Dir(t)
	if cfg.CacheDir == "" {
		cfg.CacheDir = testblocks.CacheDir(t)
	}
	h, err := host.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, h.Close(ctx))
	})
	for _, name := range blocks {
		_, err := h.LoadFile(context.Background(), filepath.Join(dir, name+".wasm"))
		require.NoError(t, err, "loading %s", name)
	}
	return h
}

func intp(i int) *int { return &i }

func run(t testing.TB, h *host.Host, req host.StepRequest) host.StepResult {
	t.Helper()
	res, err := h.Execute(context.Background(), req)
	require.NoError(t, err)
	return res
}

func TestExecuteUppercase(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHost(t, host.Config{Registerer: reg}, "text_uppercase")
	res := run(t, h, host.StepRequest{Type: "text.uppercase", Inputs: map[string]string{"text": "hello, wörld"},
		Context: host.BlockContext{TenantID: "t1", TraceID: "tr", RunID: "r", FlowID: "f", StepID: "s1"}})
	assert.Equal(t, host.StatusSuccess, res.Status)
	assert.Equal(t, abi.None, res.ErrorCode)
	assert.Equal(t, "HELLO, WÖRLD", res.Outputs["text"])
	assert.Equal(t, host.Metadata{TraceID: "tr", RunID: "r", FlowID: "f", StepID: "s1", TenantID: "t1"}, res.Metadata)
	assert.Equal(t, 0, res.RetriesUsed)

	res = run(t, h, host.StepRequest{Type: "text.uppercase", RetryCount: intp(0)})
	assert.Equal(t, host.StatusError, res.Status)
	assert.Equal(t, abi.MissingRequiredField, res.ErrorCode)
	assert.NotEmpty(t, res.Metadata.StepID, "a step id is generated when absent")

	assert.Equal(t, 1.0, testutil.ToFloat64(getVec(t, reg, "worker_step_executions_total", "text.uppercase", "success")))
	assert.Equal(t, 1.0, testutil.ToFloat64(getVec(t, reg, "worker_step_executions_total", "text.uppercase", "error")))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

// getVec finds the counter of a metric family by label values.
func getVec(t testing.TB, reg *prometheus.Registry, name string, values ...string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var got []string
			for _, lp := range m.GetLabel() {
				got = append(got, lp.GetValue())
			}
			want := slices.Clone(values)
			slices.Sort(got)
			slices.Sort(want)
			if slices.Equal(got, want) {
				v := m.GetCounter().GetValue()
				if m.GetGauge() != nil {
					v = m.GetGauge().GetValue()
				}
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
				c.Add(v)
				return c
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, values)
	return nil
}

func TestRequestErrors(t *testing.T) {
	h := newHost(t, host.Config{Limits: host.Limits{MaxInputBytes: 1024}}, "echo")
	cases := []struct {
		name string
		req  host.StepRequest
		want error
	}{
		{"missing type", host.StepRequest{}, host.ErrInvalidRequest},
		{"unknown type", host.StepRequest{Type: "nope"}, host.ErrUnknownType},
		{"negative timeout", host.StepRequest{Type: "test.echo", TimeoutMS: -1}, host.ErrInvalidRequest},
		{"negative retry count", host.StepRequest{Type: "test.echo", RetryCount: intp(-1)}, host.ErrInvalidRequest},
		{"huge retry count", host.StepRequest{Type: "test.echo", RetryCount: intp(1000)}, host.ErrInvalidRequest},
		{"unknown pool", host.StepRequest{Type: "test.echo", Resources: map[string]string{"class": "tpu"}}, host.ErrInvalidRequest},
		{"too large", host.StepRequest{Type: "test.echo", Inputs: map[string]string{"x": strings.Repeat("a", 2000)}}, host.ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Execute(context.Background(), tc.req)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestDuplicateStepID(t *testing.T) {
	h := newHost(t, host.Config{}, "sleep", "echo")
	done := make(chan host.StepResult)
	go func() {
		res, _ := h.Execute(context.Background(), host.StepRequest{Type: "test.sleep", Inputs: map[string]string{"ms": "300"},
			Context: host.BlockContext{StepID: "dup"}})
		done <- res
	}()
	waitFor(t, 5*time.Second, func() bool { return h.InFlight() == 1 })
	_, err := h.Execute(context.Background(), host.StepRequest{Type: "test.echo", Context: host.BlockContext{StepID: "dup"}})
	require.ErrorIs(t, err, host.ErrDuplicateStep)
	assert.Equal(t, host.StatusSuccess, (<-done).Status)
	// Once finished, the id is free again.
	res := run(t, h, host.StepRequest{Type: "test.echo", Context: host.BlockContext{StepID: "dup"}})
	assert.Equal(t, host.StatusSuccess, res.Status)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTypeClaimedTwiceIsRefused(t *testing.T) {
	h := newHost(t, host.Config{}, "echo")
	wasm, err := os.ReadFile(filepath.Join(testblocks.Dir(t), "noop.wasm"))
	require.NoError(t, err)
	_, err = h.LoadBlock(context.Background(), wasm, sandbox.Manifest{Name: "other", Types: []string{"test.echo"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"test.echo" is already served by block "echo"`)
	assert.Contains(t, err.Error(), `block "other" is refused`)
	var failed *host.BlockInfo
	for _, b := range h.Blocks() {
		if b.Name == "other" {
			failed = &b
		}
	}
	require.NotNil(t, failed, "GET /v1/blocks shows the refused block")
	assert.Equal(t, "failed", failed.State)
	assert.NotEmpty(t, failed.LastError)
}

func TestInvalidModules(t *testing.T) {
	h := newHost(t, host.Config{})
	fixtures := filepath.Join("..", "tests", "fixtures")
	cases := []struct {
		file string
		want string
	}{
		{"notwasm.wasm", "not a WebAssembly module"},
		{"noentry.wasm", "no entry point: export blockhost_run_v1"},
		{"v7.wasm", "ABI version 7 only; this host supports version 1"},
		{"badimport.wasm", "imports env.foo: only modules"},
		{"badsig.wasm", "exports blockhost_run_v1 with signature (i32) -> (i32)"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			wasm, err := os.ReadFile(filepath.Join(fixtures, tc.file))
			require.NoError(t, err)
			verr := host.ValidateModule(context.Background(), wasm)
			var ve *host.ValidationError
			require.ErrorAs(t, verr, &ve)
			assert.Contains(t, verr.Error(), tc.want)
			_, err = h.LoadBlock(context.Background(), wasm, sandbox.Manifest{Name: "bad", Types: []string{"bad"}})
			require.ErrorAs(t, err, &ve)
			_, err = h.Execute(context.Background(), host.StepRequest{Type: "bad"})
			require.ErrorIs(t, err, host.ErrUnknownType)
		})
	}
	wasm, err := os.ReadFile(filepath.Join(fixtures, "minimal.wasm"))
	require.NoError(t, err)
	require.NoError(t, host.ValidateModule(context.Background(), wasm))
	_, err = h.LoadBlock(context.Background(), wasm, sandbox.Manifest{Name: "minimal", Types: []string{"minimal"}})
	require.NoError(t, err)
	res := run(t, h, host.StepRequest{Type: "minimal"})
	assert.Equal(t, map[string]string{"ok": "yes"}, res.Outputs)

	wasm, err = os.ReadFile(filepath.Join(fixtures, "trap.wasm"))
	require.NoError(t, err)
	_, err = h.LoadBlock(context.Background(), wasm, sandbox.Manifest{Name: "trap", Types: []string{"trap"}})
	require.NoError(t, err)
	res = run(t, h, host.StepRequest{Type: "trap", RetryCount: intp(0)})
	assert.Equal(t, host.StatusError, res.Status)
	assert.Equal(t, abi.ExecutionFailed, res.ErrorCode)
	assert.Contains(t, res.ErrorMessage, "block trapped: wasm error: unreachable")
}

func TestModuleLimits(t *testing.T) {
	h := newHost(t, host.Config{Limits: host.Limits{MaxModuleBytes: 1 << 20}})
	wasm, err := os.ReadFile(filepath.Join(testblocks.Dir(t), "noop.wasm"))
	require.NoError(t, err)
	_, err = h.LoadBlock(context.Background(), wasm, sandbox.Manifest{Name: "noop", Types: []string{"noop"}})
	require.ErrorContains(t, err, "over the limit of 1048576")

	h2 := newHost(t, host.Config{Limits: host.Limits{MemoryPages: 8}})
	_, err = h2.LoadBlock(context.Background(), wasm, sandbox.Manifest{Name: "noop", Types: []string{"noop"}})
	require.ErrorContains(t, err, "memory pages at start, over its limit of 8")

	_, err = h2.LoadBlock(context.Background(), wasm, sandbox.Manifest{Name: "noop", Types: []string{"noop"}, Limits: sandbox.Limits{MemoryPages: 9999}})
	require.ErrorContains(t, err, "over the operator's cap of 8")
}

func TestDigestPin(t *testing.T) {
	h := newHost(t, host.Config{Blocks: map[string]host.BlockPolicy{"noop": {Digest: strings.Repeat("ab", 32)}}})
	_, err := h.LoadFile(context.Background(), filepath.Join(testblocks.Dir(t), "noop.wasm"))
	require.ErrorContains(t, err, "does not match the pinned sha256:abab")
}

// TestBadBlocks runs every hostile block while a steady stream of good
// steps runs alongside: each bad one gets a clear result and the good ones
// all succeed.
func TestBadBlocks(t *testing.T) {
	h := newHost(t, host.Config{Limits: host.Limits{MaxOutputBytes: 1 << 20, MemoryPages: 512}},
		"echo", "panic", "loop", "sleep", "membomb", "flood", "badptr", "handles")
	stop := make(chan struct{})
	var good, bad atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := strconv.Itoa(i)
			res, err := h.Execute(context.Background(), host.StepRequest{Type: "test.echo", Inputs: map[string]string{"v": v}})
			if err != nil || res.Status != host.StatusSuccess || res.Outputs["v"] != v {
				bad.Add(1)
			} else {
				good.Add(1)
			}
		}
	}()
	cases := []struct {
		name    string
		req     host.StepRequest
		status  host.Status
		code    abi.Code
		message string
	}{
		{"panic", host.StepRequest{Type: "test.panic"}, host.StatusError, abi.ExecutionFailed, "block trapped"},
		{"loop", host.StepRequest{Type: "test.loop", TimeoutMS: 200}, host.StatusTimeout, abi.CancelledByTimeout, "timed out"},
		{"sleep forever", host.StepRequest{Type: "test.sleep", TimeoutMS: 200, Inputs: map[string]string{"ms": "100000000"}}, host.StatusTimeout, abi.CancelledByTimeout, "timed out"},
		{"memory bomb", host.StepRequest{Type: "test.membomb", Inputs: map[string]string{"mb": "1"}}, host.StatusError, abi.QuotaExceeded, "memory limit of 512 pages"},
		{"output flood", host.StepRequest{Type: "test.flood", Inputs: map[string]string{"bytes": strconv.Itoa(2 << 20)}}, host.StatusError, abi.QuotaExceeded, "output limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.RetryCount = intp(0)
			start := time.Now()
			res := run(t, h, tc.req)
			assert.Equal(t, tc.status, res.Status, res.ErrorMessage)
			assert.Equal(t, tc.code, res.ErrorCode, res.ErrorMessage)
			assert.Contains(t, res.ErrorMessage, tc.message)
			if tc.req.TimeoutMS > 0 {
				assert.Less(t, time.Since(start), time.Duration(tc.req.TimeoutMS)*time.Millisecond+250*time.Millisecond,
					"a step ends within 250 ms of its deadline")
			}
		})
	}
	t.Run("bad pointers", func(t *testing.T) {
		res := run(t, h, host.StepRequest{Type: "test.badptr", RetryCount: intp(0)})
		require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
		require.NotEmpty(t, res.Outputs)
		for fn, status := range res.Outputs {
			if fn == abi.FnBufferNew || strings.HasPrefix(fn, "note") {
				continue
			}
			assert.Equal(t, strconv.Itoa(int(abi.BadPointer.Status())), status, "%s with an out-of-bounds pointer", fn)
		}
	})
	t.Run("handle exhaustion", func(t *testing.T) {
		// The open past the limit fails; the step goes on (ABI.md 8).
		res := run(t, h, host.StepRequest{Type: "test.handles", RetryCount: intp(0)})
		require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
		assert.Equal(t, "64", res.Outputs["opened"])
		assert.Equal(t, strconv.Itoa(int(abi.LimitExceeded.Status())), res.Outputs["status"])
	})
	close(stop)
	wg.Wait()
	assert.Zero(t, bad.Load(), "good steps failed while bad ones ran")
	assert.Positive(t, good.Load())
}

func TestHammerConcurrentExecute(t *testing.T) {
	h := newHost(t, host.Config{}, "echo")
	const workers, per = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*per)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				v := fmt.Sprintf("%d-%d", w, i)
				res, err := h.Execute(context.Background(), host.StepRequest{Type: "test.echo",
					Inputs: map[string]string{"v": v}, Context: host.BlockContext{TenantID: "t" + strconv.Itoa(w%3)}})
				switch {
				case err != nil:
					errs <- err
				case res.Status != host.StatusSuccess || res.Outputs["v"] != v:
					errs <- fmt.Errorf("step %s: %+v", v, res)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, p := range h.Pools() {
		assert.Zero(t, p.Active, "pool %s leaked a slot", p.Name)
		assert.Zero(t, p.QueueDepth, "pool %s leaked a waiter", p.Name)
	}
}

func TestTenantIsolation(t *testing.T) {
	h := newHost(t, host.Config{}, "counter")
	served := func(tenant string) string {
		return run(t, h, host.StepRequest{Type: "test.counter", Context: host.BlockContext{TenantID: tenant}}).Outputs["served"]
	}
	assert.Equal(t, "1", served("a"))
	assert.Equal(t, "2", served("a"), "the same tenant reuses its warm instance")
	assert.Equal(t, "1", served("b"), "another tenant never gets tenant a's instance")
	assert.Equal(t, "3", served("a"))
}

func TestPoolsListing(t *testing.T) {
	h := newHost(t, host.Config{Features: policy.Features{QueueManagement: true}})
	pools := h.Pools()
	require.Len(t, pools, 3)
	assert.Equal(t, "cpu", pools[0].Name)
	assert.Equal(t, 4, pools[0].MaxConcurrency)
	require.NotNil(t, pools[0].MaxQueueSize)
	assert.Equal(t, 1000, *pools[0].MaxQueueSize)
	assert.Equal(t, "reject_new", pools[0].Policy)
	h2 := newHost(t, host.Config{})
	assert.Nil(t, h2.Pools()[0].MaxQueueSize)
	assert.Equal(t, "unbounded", h2.Pools()[0].Policy)
}

func TestReplaceAndUnload(t *testing.T) {
	dir := t.TempDir()
	src := testblocks.Dir(t)
	copyFile(t, filepath.Join(src, "echo.wasm"), filepath.Join(dir, "b.wasm"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("version: v1\ntypes: [x.b]\nisolation: shared\n"), 0o644))
	h := newHost(t, host.Config{})
	require.NoError(t, h.LoadDir(context.Background(), dir))
	assert.Equal(t, host.StatusSuccess, run(t, h, host.StepRequest{Type: "x.b", Inputs: map[string]string{"k": "v"}}).Status)
	assert.Equal(t, "v1", h.Blocks()[0].Version)

	copyFile(t, filepath.Join(src, "counter.wasm"), filepath.Join(dir, "b.wasm"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("version: v2\ntypes: [x.b]\n"), 0o644))
	require.NoError(t, h.Reload(context.Background()))
	assert.Equal(t, "1", run(t, h, host.StepRequest{Type: "x.b"}).Outputs["served"])
	assert.Equal(t, "v2", h.Blocks()[0].Version)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.wasm"), []byte("garbage"), 0o644))
	require.Error(t, h.Reload(context.Background()))
	assert.Equal(t, "2", run(t, h, host.StepRequest{Type: "x.b"}).Outputs["served"], "a broken replacement keeps the old block serving")
	assert.Contains(t, h.Blocks()[0].LastError, "not a WebAssembly module")

	require.NoError(t, os.Remove(filepath.Join(dir, "b.wasm")))
	require.NoError(t, h.Reload(context.Background()))
	_, err := h.Execute(context.Background(), host.StepRequest{Type: "x.b"})
	require.ErrorIs(t, err, host.ErrUnknownType)
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, data, 0o644))
}

func TestDrainAndClose(t *testing.T) {
	h := newHost(t, host.Config{}, "sleep")
	done := make(chan host.StepResult)
	go func() {
		res, _ := h.Execute(context.Background(), host.StepRequest{Type: "test.sleep", Inputs: map[string]string{"ms": "200"}})
		done <- res
	}()
	waitFor(t, 5*time.Second, func() bool { return h.InFlight() == 1 })
	h.Drain()
	_, err := h.Execute(context.Background(), host.StepRequest{Type: "test.sleep"})
	require.ErrorIs(t, err, host.ErrDraining)
	require.NoError(t, h.Close(context.Background()))
	assert.Equal(t, host.StatusSuccess, (<-done).Status, "steps in flight finish during the grace period")
	_, err = h.Execute(context.Background(), host.StepRequest{Type: "test.sleep"})
	require.ErrorIs(t, err, host.ErrClosed)
}

func TestCloseCancelsAfterGrace(t *testing.T) {
	h := newHost(t, host.Config{}, "loop")
	done := make(chan host.StepResult)
	go func() {
		res, _ := h.Execute(context.Background(), host.StepRequest{Type: "test.loop", TimeoutMS: 60000})
		done <- res
	}()
	waitFor(t, 5*time.Second, func() bool { return h.InFlight() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := h.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	res := <-done
	assert.Equal(t, host.StatusCancelled, res.Status)
	assert.Contains(t, res.ErrorMessage, "host shut down")
}

var _ = errors.New

// syncBuffer is a bytes.Buffer safe for concurrent writers (a slog sink).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// records returns the JSON log records with message msg.
func (s *syncBuffer) records(t *testing.T, msg string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(s.b.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m))
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// loadFixture loads tests/fixtures/NAME.wasm into h under manifest m.
func loadFixture(t *testing.T, h *host.Host, name string, m sandbox.Manifest) {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join("..", "tests", "fixtures", name+".wasm"))
	require.NoError(t, err)
	_, err = h.LoadBlock(context.Background(), wasm, m)
	require.NoError(t, err)
}

// TestGuestStdioLines: what a block prints is logged one record per line,
// however its runtime splits the writes; a block that reports and then
// traps keeps its report in the trap's message.
func TestGuestStdioLines(t *testing.T) {
	var logs syncBuffer
	h := newHost(t, host.Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	loadFixture(t, h, "stdio", sandbox.Manifest{Name: "stdio", Types: []string{"stdio"}})

	res := run(t, h, host.StepRequest{Type: "stdio"})
	require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
	var out []string
	for _, r := range logs.records(t, "guest stdout") {
		out = append(out, r["text"].(string))
	}
	assert.Equal(t, []string{"hello world", "second line"}, out)
	errs := logs.records(t, "guest stderr")
	require.Len(t, errs, 1)
	assert.Equal(t, "oops", errs[0]["text"])

	res = run(t, h, host.StepRequest{Type: "stdio", RetryCount: intp(0), Inputs: map[string]string{"trap": "1"}})
	assert.Equal(t, abi.ExecutionFailed, res.ErrorCode)
	assert.Equal(t, "block trapped: wasm error: unreachable (reported EXECUTION_FAILED: abort: boom) (stderr: oops)", res.ErrorMessage)
}

// TestMemoryLimitAtModuleMaximum: a module whose own maximum equals the
// host's limit runs out of memory inside wazero, not the host's allocator;
// it is still QUOTA_EXCEEDED. Below the limit, its maximum is its own
// business: an ordinary trap.
func TestMemoryLimitAtModuleMaximum(t *testing.T) {
	h := newHost(t, host.Config{})
	wasm, err := os.ReadFile(filepath.Join("..", "tests", "fixtures", "growmax.wasm"))
	require.NoError(t, err)
	_, err = h.LoadBlock(context.Background(), wasm, sandbox.Manifest{Name: "atlimit", Types: []string{"atlimit"}, Limits: sandbox.Limits{MemoryPages: 2}})
	require.NoError(t, err)
	_, err = h.LoadBlock(context.Background(), wasm, sandbox.Manifest{Name: "below", Types: []string{"below"}, Limits: sandbox.Limits{MemoryPages: 8}})
	require.NoError(t, err)

	res := run(t, h, host.StepRequest{Type: "atlimit", RetryCount: intp(0)})
	assert.Equal(t, abi.QuotaExceeded, res.ErrorCode, res.ErrorMessage)
	assert.Equal(t, "block exceeded its memory limit of 2 pages (128 KiB)", res.ErrorMessage)
	res = run(t, h, host.StepRequest{Type: "below", RetryCount: intp(0)})
	assert.Equal(t, abi.ExecutionFailed, res.ErrorCode, res.ErrorMessage)
	assert.Contains(t, res.ErrorMessage, "block trapped")
}

// TestDeepRecursionStackNotPinned: a call that recursed deep grows the
// engine's call stack to about 60 MB; the warm instance must not keep it
// once the step is over.
func TestDeepRecursionStackNotPinned(t *testing.T) {
	h := newHost(t, host.Config{})
	loadFixture(t, h, "deeprecurse", sandbox.Manifest{Name: "deep", Types: []string{"deep"}})
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	for range 3 {
		res := run(t, h, host.StepRequest{Type: "deep"})
		require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
		assert.Equal(t, "1500000", res.Outputs["depth"])
	}
	grew := heap() - before
	assert.Less(t, grew, int64(16<<20), "heap held after three deep steps: %d MB", grew>>20)
	require.Len(t, h.Blocks(), 1)
}

// TestSecretsNeverLogged: the values of config keys marked secret (by the
// operator or the manifest) are hidden in what the block prints, logs and
// reports, in the logs and in the step's error message alike.
func TestSecretsNeverLogged(t *testing.T) {
	var logs syncBuffer
	h := newHost(t, host.Config{
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Blocks: map[string]host.BlockPolicy{"stdio": {
			Config: map[string]string{"greeting": "world", "err": "oops", "other": "second"},
			Secret: []string{"greeting", "err"},
		}},
	})
	loadFixture(t, h, "stdio", sandbox.Manifest{Name: "stdio", Types: []string{"stdio"},
		Config: map[string]string{"abort": "boom"}, Secrets: []string{"abort"}})

	res := run(t, h, host.StepRequest{Type: "stdio", Context: host.BlockContext{
		TenantID: "acme", RunID: "run-1", FlowID: "flow-1", TraceID: "trace-1", StepID: "step-1"}})
	require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
	var out []string
	for _, r := range logs.records(t, "guest stdout") {
		out = append(out, r["text"].(string))
		for k, v := range map[string]string{"tenant_id": "acme", "run_id": "run-1", "flow_id": "flow-1", "trace_id": "trace-1", "step_id": "step-1"} {
			assert.Equal(t, v, r[k], "correlation id %s", k)
		}
	}
	assert.Equal(t, []string{"hello [secret]", "second line"}, out, "other is not secret")
	errs := logs.records(t, "guest stderr")
	require.Len(t, errs, 1)
	assert.Equal(t, "[secret]", errs[0]["text"])

	res = run(t, h, host.StepRequest{Type: "stdio", RetryCount: intp(0), Inputs: map[string]string{"trap": "1"}})
	assert.Equal(t, abi.ExecutionFailed, res.ErrorCode)
	assert.Equal(t, "block trapped: wasm error: unreachable (reported EXECUTION_FAILED: abort: [secret]) (stderr: [secret])", res.ErrorMessage)
	for _, secret := range []string{"world", "oops", "boom"} {
		assert.NotContains(t, logs.String(), secret)
	}
}

// TestTrapRetriedOnlyInCP1: with CP2 advanced retry off every error is
// retried (the CP1 baseline), a trap and a memory limit included; with it
// on, both are classified not retryable.
func TestTrapRetriedOnlyInCP1(t *testing.T) {
	for _, tc := range []struct {
		name    string
		feat    policy.Features
		retries int
	}{
		{"cp1", policy.Features{}, 2},
		{"cp2", policy.Features{AdvancedRetry: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, host.Config{Features: tc.feat, Retry: policy.RetryConfig{Base: time.Millisecond, Cap: time.Millisecond}})
			for name, pages := range map[string]uint32{"trap": 0, "growmax": 2} {
				loadFixture(t, h, name, sandbox.Manifest{Name: name, Types: []string{name},
					Limits: sandbox.Limits{MemoryPages: pages}})
			}
			res := run(t, h, host.StepRequest{Type: "trap", RetryCount: intp(2)})
			assert.Equal(t, abi.ExecutionFailed, res.ErrorCode, res.ErrorMessage)
			assert.Equal(t, tc.retries, res.RetriesUsed, "trap")
			res = run(t, h, host.StepRequest{Type: "growmax", RetryCount: intp(2)})
			assert.Equal(t, abi.QuotaExceeded, res.ErrorCode, res.ErrorMessage)
			assert.Equal(t, tc.retries, res.RetriesUsed, "memory limit")
		})
	}
}
