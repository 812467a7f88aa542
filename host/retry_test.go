package host_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/policy"
)

var allCP2 = policy.Features{AdvancedRetry: true, CompleteTimeout: true, Cancellation: true, QueueManagement: true, CircuitBreaker: true}

func failReq(code string, times int, extra ...string) host.StepRequest {
	in := map[string]string{"code": code}
	if times >= 0 {
		in["times"] = strconv.Itoa(times)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		in[extra[i]] = extra[i+1]
	}
	return host.StepRequest{Type: "test.fail", Inputs: in}
}

func TestCP1RetriesEveryErrorWithFixedWaits(t *testing.T) {
	h := newHost(t, host.Config{}, "fail")
	start := time.Now()
	res := run(t, h, failReq("INVALID_INPUT", 2))
	require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
	assert.Equal(t, 2, res.RetriesUsed)
	assert.Equal(t, "2", res.Outputs["attempt"])
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "CP1 waits 100 ms then 200 ms")

	res = run(t, h, failReq("PERMISSION_DENIED", -1, "message", "nope"))
	assert.Equal(t, host.StatusError, res.Status)
	assert.Equal(t, abi.PermissionDenied, res.ErrorCode)
	assert.Equal(t, "nope", res.ErrorMessage)
	assert.Equal(t, 3, res.RetriesUsed, "CP1 retries non-retryable errors too, retry_count times")
}

func TestCP2Classification(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHost(t, host.Config{Features: allCP2, Registerer: reg,
		Retry: policy.RetryConfig{Base: 5 * time.Millisecond, Cap: 50 * time.Millisecond}}, "fail")
	cases := []struct {
		name    string
		req     host.StepRequest
		status  host.Status
		retries int
	}{
		{"network error retried", failReq("NETWORK_ERROR", 2), host.StatusSuccess, 2},
		{"connection timeout retried", failReq("CONNECTION_TIMEOUT", 1), host.StatusSuccess, 1},
		{"5xx retried", failReq("HTTP_ERROR", 1, "http_status", "502"), host.StatusSuccess, 1},
		{"429 retried", failReq("HTTP_ERROR", 1, "http_status", "429"), host.StatusSuccess, 1},
		{"404 not retried", failReq("HTTP_ERROR", 1, "http_status", "404"), host.StatusError, 0},
		{"invalid input not retried", failReq("INVALID_INPUT", 1), host.StatusError, 0},
		{"permission denied not retried", failReq("PERMISSION_DENIED", 1), host.StatusError, 0},
		{"override retries a non-retryable code", failReq("INVALID_INPUT", 1, "retryable", "yes"), host.StatusSuccess, 1},
		{"override stops a retryable code", failReq("NETWORK_ERROR", 1, "retryable", "no"), host.StatusError, 0},
		{"retries exhausted", failReq("EXECUTION_FAILED", -1), host.StatusError, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, h, tc.req)
			assert.Equal(t, tc.status, res.Status, res.ErrorMessage)
			assert.Equal(t, tc.retries, res.RetriesUsed)
		})
	}
	assert.Equal(t, 2.0+1+1+1+1+3, testutil.ToFloat64(getVec(t, reg, "worker_retries_total", "test.fail")))
}

func TestCP2RetryAfterHonouredAndCapped(t *testing.T) {
	h := newHost(t, host.Config{Features: allCP2,
		Retry: policy.RetryConfig{Base: time.Millisecond, Cap: 400 * time.Millisecond, Jitter: policy.JitterNone}}, "fail")
	start := time.Now()
	res := run(t, h, failReq("HTTP_ERROR", 1, "http_status", "503", "retry_after_ms", "250"))
	require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
	assert.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "Retry-After of a 503 is honoured")

	start = time.Now()
	res = run(t, h, failReq("HTTP_ERROR", 1, "http_status", "429", "retry_after_ms", "60000"))
	require.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, 400*time.Millisecond)
	assert.Less(t, elapsed, 5*time.Second, "Retry-After is capped at the backoff cap")
}

func TestCP2BudgetRefusesAWaitThatWouldOverrun(t *testing.T) {
	h := newHost(t, host.Config{Features: policy.Features{AdvancedRetry: true},
		Retry: policy.RetryConfig{Base: 150 * time.Millisecond, Cap: 10 * time.Second, Jitter: policy.JitterNone}}, "fail")
	start := time.Now()
	req := failReq("NETWORK_ERROR", -1)
	req.TimeoutMS, req.RetryCount = 400, intp(5)
	res := run(t, h, req)
	assert.Equal(t, host.StatusTimeout, res.Status)
	assert.Equal(t, abi.CancelledByTimeout, res.ErrorCode)
	assert.Contains(t, res.ErrorMessage, "would be exceeded by the next retry wait")
	// Waits 150 ms, then the 300 ms wait would end past 400 ms: not taken.
	assert.Equal(t, 1, res.RetriesUsed)
	assert.Less(t, time.Since(start), 400*time.Millisecond, "the step ends early instead of sleeping past its budget")
}

func TestCP1EachAttemptIsBoundedByTimeout(t *testing.T) {
	h := newHost(t, host.Config{}, "sleep")
	start := time.Now()
	res := run(t, h, host.StepRequest{Type: "test.sleep", TimeoutMS: 100, RetryCount: intp(1), Inputs: map[string]string{"ms": "5000"}})
	assert.Equal(t, host.StatusTimeout, res.Status)
	assert.Equal(t, abi.CancelledByTimeout, res.ErrorCode)
	assert.Equal(t, 1, res.RetriesUsed, "a CP1 attempt timeout is retried")
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, 300*time.Millisecond) // 100 + wait 100 + 100
	assert.Less(t, elapsed, 300*time.Millisecond+250*time.Millisecond)
}

func TestCP2BudgetCoversQueueWait(t *testing.T) {
	h := newHost(t, host.Config{Features: policy.Features{CompleteTimeout: true},
		Pools: []host.PoolConfig{{Name: "cpu", MaxConcurrency: 1}, {Name: "gpu", MaxConcurrency: 1}, {Name: "io", MaxConcurrency: 1}}},
		"sleep", "echo")
	go h.Execute(context.Background(), host.StepRequest{Type: "test.sleep", Inputs: map[string]string{"ms": "1000"}})
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].Active == 1 })
	start := time.Now()
	res := run(t, h, host.StepRequest{Type: "test.echo", TimeoutMS: 150})
	assert.Equal(t, host.StatusTimeout, res.Status)
	assert.Contains(t, res.ErrorMessage, "while queued")
	assert.Less(t, time.Since(start), 150*time.Millisecond+250*time.Millisecond)
	assert.Zero(t, h.Pools()[0].QueueDepth, "the timed-out waiter left the queue")
}

func TestCancellation(t *testing.T) {
	reg := prometheus.NewRegistry()
	clock := policy.NewFakeClock(time.Now())
	h := newHost(t, host.Config{Features: allCP2, Registerer: reg, Clock: clock,
		Retry: policy.RetryConfig{Base: 20 * time.Second, Cap: 30 * time.Second, Jitter: policy.JitterNone},
		Pools: []host.PoolConfig{{Name: "cpu", MaxConcurrency: 1}, {Name: "gpu", MaxConcurrency: 1}, {Name: "io", MaxConcurrency: 1}}},
		"loop", "sleep", "fail", "echo")
	cancelIn := func(t *testing.T, req host.StepRequest, id string, ready func() bool) host.StepResult {
		t.Helper()
		req.Context.StepID = id
		done := make(chan host.StepResult, 1)
		go func() {
			res, err := h.Execute(context.Background(), req)
			assert.NoError(t, err)
			done <- res
		}()
		waitFor(t, 10*time.Second, ready)
		start := time.Now()
		require.NoError(t, h.Cancel(id))
		res := <-done
		assert.Less(t, time.Since(start), 250*time.Millisecond, "cancellation takes effect at once")
		assert.Equal(t, host.StatusCancelled, res.Status, res.ErrorMessage)
		assert.Equal(t, abi.CancelledByUser, res.ErrorCode)
		return res
	}
	running := func() bool { return h.Pools()[0].Active == 1 }
	t.Run("running loop", func(t *testing.T) {
		cancelIn(t, host.StepRequest{Type: "test.loop"}, "c-loop", running)
	})
	t.Run("sleeping in a host call", func(t *testing.T) {
		cancelIn(t, host.StepRequest{Type: "test.sleep", Inputs: map[string]string{"ms": "60000"}}, "c-sleep", running)
	})
	t.Run("retry wait", func(t *testing.T) {
		res := cancelIn(t, failReq("NETWORK_ERROR", -1), "c-wait", func() bool { return clock.Waiters() == 1 })
		assert.Contains(t, res.ErrorMessage, "while waiting to retry")
	})
	t.Run("queued", func(t *testing.T) {
		blocker := make(chan struct{})
		go func() {
			h.Execute(context.Background(), host.StepRequest{Type: "test.sleep", Inputs: map[string]string{"ms": "60000"},
				Context: host.BlockContext{StepID: "blocker"}})
			close(blocker)
		}()
		waitFor(t, 10*time.Second, running)
		res := cancelIn(t, host.StepRequest{Type: "test.echo"}, "c-queued", func() bool { return h.Pools()[0].QueueDepth == 1 })
		assert.Contains(t, res.ErrorMessage, "while queued")
		assert.Zero(t, h.Pools()[0].QueueDepth)
		require.NoError(t, h.Cancel("blocker"))
		<-blocker
	})
	t.Run("caller context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan host.StepResult, 1)
		go func() {
			res, _ := h.Execute(ctx, host.StepRequest{Type: "test.loop"})
			done <- res
		}()
		waitFor(t, 10*time.Second, running)
		cancel()
		assert.Equal(t, host.StatusCancelled, (<-done).Status)
	})
	assert.Equal(t, 2.0, testutil.ToFloat64(getVec(t, reg, "worker_cancellations_total", "test.loop")))
	require.ErrorIs(t, h.Cancel("no-such-step"), host.ErrUnknownStep)
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].Active == 0 })
}

func TestCancellationDisabled(t *testing.T) {
	h := newHost(t, host.Config{}, "sleep")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan host.StepResult, 1)
	go func() {
		res, _ := h.Execute(ctx, host.StepRequest{Type: "test.sleep", Inputs: map[string]string{"ms": "200"}, Context: host.BlockContext{StepID: "s"}})
		done <- res
	}()
	waitFor(t, 5*time.Second, func() bool { return h.InFlight() == 1 })
	require.ErrorIs(t, h.Cancel("s"), host.ErrCancellationDisabled)
	cancel()
	assert.Equal(t, host.StatusSuccess, (<-done).Status, "CP1: a caller going away does not cancel its step")
}
