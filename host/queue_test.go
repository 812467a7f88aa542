package host_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

func onePool(cpu host.PoolConfig) []host.PoolConfig {
	cpu.Name = "cpu"
	return []host.PoolConfig{cpu, {Name: "gpu", MaxConcurrency: 1}, {Name: "io", MaxConcurrency: 1}}
}

// submit runs a step in the background and returns its outcome channel.
func submit(h *host.Host, req host.StepRequest) <-chan error {
	ch := make(chan error, 1)
	go func() {
		res, err := h.Execute(context.Background(), req)
		if err == nil && res.Status != host.StatusSuccess {
			err = errors.New(string(res.Status) + ": " + res.ErrorMessage)
		}
		ch <- err
	}()
	return ch
}

func sleepReq(ms, id string) host.StepRequest {
	return host.StepRequest{Type: "test.sleep", Inputs: map[string]string{"ms": ms}, Context: host.BlockContext{StepID: id, TenantID: "acme", TraceID: "tr-" + id}}
}

// occupy fills the only slot of h's cpu pool with a step that sleeps until
// cancelled (h needs CP2 cancellation), so that what a test queues stays
// queued however slow the machine; release cancels it.
func occupy(t *testing.T, h *host.Host) (release func()) {
	t.Helper()
	running := submit(h, sleepReq("60000", "run"))
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].Active == 1 })
	return func() {
		t.Helper()
		require.NoError(t, h.Cancel("run"))
		require.ErrorContains(t, <-running, "cancelled")
	}
}

func TestBoundedQueueRejectsWithAck(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHost(t, host.Config{Features: policy.Features{QueueManagement: true, Cancellation: true}, Registerer: reg,
		Pools: onePool(host.PoolConfig{MaxConcurrency: 1, MaxQueueSize: 2})}, "sleep")
	release := occupy(t, h)
	q1 := submit(h, sleepReq("1", "q1"))
	q2 := submit(h, sleepReq("1", "q2"))
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].QueueDepth == 2 })
	assert.Equal(t, "critical", h.Pools()[0].State)

	_, err := h.Execute(context.Background(), sleepReq("1", "over"))
	var rej *host.RejectedError
	require.ErrorAs(t, err, &rej)
	require.ErrorIs(t, err, host.ErrRejected)
	assert.Equal(t, host.Ack{Version: "1", AssignmentID: "over", Status: "rejected", Reason: "queue_full",
		Message: "queue_full", TenantID: "acme", Correlation: host.Correlation{TraceID: "tr-over"}}, rej.Ack)
	assert.Equal(t, "cpu", rej.Pool)
	assert.Positive(t, rej.RetryAfter)

	release()
	for _, ch := range []<-chan error{q1, q2} {
		require.NoError(t, <-ch)
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(getVec(t, reg, "worker_queue_rejections_total", "cpu", "queue_full")))
	assert.Equal(t, "healthy", h.Pools()[0].State)
	assert.Zero(t, h.Pools()[0].QueueDepth)
}

func TestDropOldest(t *testing.T) {
	h := newHost(t, host.Config{Features: policy.Features{QueueManagement: true, Cancellation: true},
		Pools: onePool(host.PoolConfig{MaxConcurrency: 1, MaxQueueSize: 2, Policy: host.PolicyDropOldest})}, "sleep")
	release := occupy(t, h)
	oldest := submit(h, sleepReq("1", "oldest"))
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].QueueDepth == 1 })
	middle := submit(h, sleepReq("1", "middle"))
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].QueueDepth == 2 })
	newest := submit(h, sleepReq("1", "newest"))

	err := <-oldest
	var rej *host.RejectedError
	require.ErrorAs(t, err, &rej, "the oldest waiter is rejected like a new one")
	assert.Equal(t, "oldest", rej.Ack.AssignmentID)
	assert.Equal(t, "queue_full", rej.Ack.Reason)
	release()
	for _, ch := range []<-chan error{middle, newest} {
		require.NoError(t, <-ch)
	}
}

func TestTenantShare(t *testing.T) {
	h := newHost(t, host.Config{Features: policy.Features{QueueManagement: true, Cancellation: true},
		Pools: onePool(host.PoolConfig{MaxConcurrency: 1, MaxQueueSize: 4, TenantShare: 0.5})}, "sleep")
	release := occupy(t, h)
	a1 := submit(h, sleepReq("1", "a1"))
	a2 := submit(h, sleepReq("1", "a2"))
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].QueueDepth == 2 })
	_, err := h.Execute(context.Background(), sleepReq("1", "a3"))
	require.ErrorIs(t, err, host.ErrRejected, "one tenant may hold only its share of the queue")
	other := sleepReq("1", "b1")
	other.Context.TenantID = "globex"
	b1 := submit(h, other)
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].QueueDepth == 3 })
	release()
	for _, ch := range []<-chan error{a1, a2, b1} {
		require.NoError(t, <-ch)
	}
}

func TestCP1QueueIsUnbounded(t *testing.T) {
	h := newHost(t, host.Config{Pools: onePool(host.PoolConfig{MaxConcurrency: 1, MaxQueueSize: 2})}, "sleep", "echo")
	// CP1 cannot cancel: the step runs long enough for 50 submissions.
	running := submit(h, sleepReq("1000", "run"))
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].Active == 1 })
	var chans []<-chan error
	for range 50 {
		chans = append(chans, submit(h, host.StepRequest{Type: "test.echo"}))
	}
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].QueueDepth == 50 })
	assert.Equal(t, "unbounded", h.Pools()[0].Policy)
	assert.Nil(t, h.Pools()[0].MaxQueueSize)
	require.NoError(t, <-running)
	for _, ch := range chans {
		require.NoError(t, <-ch, "CP1 never rejects")
	}
}

func TestOverloadStates(t *testing.T) {
	h := newHost(t, host.Config{Features: allCP2,
		Pools: onePool(host.PoolConfig{MaxConcurrency: 1, MaxQueueSize: 10})}, "sleep")
	running := submit(h, sleepReq("60000", "run"))
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].Active == 1 })
	want := map[int]string{1: "healthy", 5: "degraded", 8: "overloaded", 10: "critical"}
	for i := 1; i <= 10; i++ {
		submit(h, sleepReq("1", "q"+string(rune('a'+i))))
		waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].QueueDepth == i })
		if s, ok := want[i]; ok {
			assert.Equal(t, s, h.Pools()[0].State, "depth %d", i)
		}
	}
	for i := 1; i <= 10; i++ {
		require.NoError(t, h.Cancel("q"+string(rune('a'+i))))
	}
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].QueueDepth == 0 })
	assert.Equal(t, "healthy", h.Pools()[0].State)
	require.NoError(t, h.Cancel("run"))
	require.Error(t, <-running)
}

// TestQueueHammer submits, cancels and times out many steps at once on a
// small bounded queue and checks the accounting is exact.
func TestQueueHammer(t *testing.T) {
	h := newHost(t, host.Config{Features: allCP2,
		Pools: onePool(host.PoolConfig{MaxConcurrency: 2, MaxQueueSize: 8})}, "sleep", "echo")
	const n = 300
	var accepted, rejected, succeeded, timedOut, cancelled atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "h" + string(rune('A'+i%26)) + time.Now().Format("150405.000000000")
			req := sleepReq("2", id)
			switch i % 3 {
			case 1:
				req.TimeoutMS = 5
			case 2:
				go h.Cancel(id)
			}
			res, err := h.Execute(context.Background(), req)
			if err != nil {
				if errors.Is(err, host.ErrRejected) {
					rejected.Add(1)
					return
				}
				if errors.Is(err, host.ErrDuplicateStep) {
					rejected.Add(1) // same id twice within a nanosecond: refused, not admitted
					return
				}
				t.Error(err)
				return
			}
			accepted.Add(1)
			switch res.Status {
			case host.StatusSuccess:
				succeeded.Add(1)
			case host.StatusTimeout:
				timedOut.Add(1)
			case host.StatusCancelled:
				cancelled.Add(1)
			default:
				t.Errorf("unexpected %+v", res)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(n), accepted.Load()+rejected.Load(), "accepted + rejected = submitted")
	assert.Equal(t, accepted.Load(), succeeded.Load()+timedOut.Load()+cancelled.Load())
	assert.Positive(t, rejected.Load())
	t.Logf("accepted %d (ok %d, timeout %d, cancelled %d), rejected %d", accepted.Load(), succeeded.Load(),
		timedOut.Load(), cancelled.Load(), rejected.Load())
	p := h.Pools()[0]
	assert.Zero(t, p.Active, "no slot leaked")
	assert.Zero(t, p.QueueDepth, "no waiter leaked")
	assert.Zero(t, h.InFlight())
	// The pool still works at full capacity.
	for range 4 {
		res := run(t, h, host.StepRequest{Type: "test.echo"})
		assert.Equal(t, host.StatusSuccess, res.Status)
	}
}

func TestWithAdmitted(t *testing.T) {
	h := newHost(t, host.Config{Features: policy.Features{QueueManagement: true, AdvancedRetry: true, Cancellation: true},
		Retry: policy.RetryConfig{Base: time.Millisecond, Cap: time.Millisecond},
		Pools: onePool(host.PoolConfig{MaxConcurrency: 1, MaxQueueSize: 1})}, "sleep", "fail")
	var calls sync.Map // step id -> *atomic.Int32
	admitted := func(id string) int32 {
		n, _ := calls.LoadOrStore(id, new(atomic.Int32))
		return n.(*atomic.Int32).Load()
	}
	run := func(req host.StepRequest) <-chan error {
		id := req.Context.StepID
		ctx := host.WithAdmitted(context.Background(), func() {
			n, _ := calls.LoadOrStore(id, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
		})
		ch := make(chan error, 1)
		go func() {
			res, err := h.Execute(ctx, req)
			if err == nil && res.Status != host.StatusSuccess {
				err = errors.New(string(res.Status) + ": " + res.ErrorMessage)
			}
			ch <- err
		}()
		return ch
	}

	// Given a slot at once: admitted before it runs. It sleeps until
	// cancelled, so the queue stays as set up however slow the machine.
	running := run(sleepReq("60000", "run"))
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].Active == 1 })
	assert.EqualValues(t, 1, admitted("run"))

	// Queued: admitted while it waits, before it runs.
	queued := run(sleepReq("1", "queued"))
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].QueueDepth == 1 })
	assert.EqualValues(t, 1, admitted("queued"), "a queued step is admitted")

	// Refused: the queue is full, or the type unknown; never admitted.
	err := <-run(sleepReq("1", "over"))
	require.ErrorIs(t, err, host.ErrRejected)
	err = <-run(host.StepRequest{Type: "test.nope", Context: host.BlockContext{StepID: "nope"}})
	require.ErrorIs(t, err, host.ErrUnknownType)
	assert.Zero(t, admitted("over"))
	assert.Zero(t, admitted("nope"))

	require.NoError(t, h.Cancel("run"))
	require.ErrorContains(t, <-running, "cancelled")
	require.NoError(t, <-queued)

	// Retried twice: admitted once.
	retries := 2
	err = <-run(host.StepRequest{Type: "test.fail", RetryCount: &retries, Context: host.BlockContext{StepID: "retried"},
		Inputs: map[string]string{"times": "2", "code": "NETWORK_ERROR"}})
	require.NoError(t, err)
	assert.EqualValues(t, 1, admitted("retried"))
	assert.EqualValues(t, 1, admitted("run"))
	assert.EqualValues(t, 1, admitted("queued"))
}

// gaugesBy reads the gauge metric from reg, by the value of its label.
func gaugesBy(t *testing.T, reg *prometheus.Registry, metric, label string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

// healthStatus reads worker_health_status from reg, by check.
func healthStatus(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	return gaugesBy(t, reg, "worker_health_status", "check")
}

func TestHealthStatusMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHost(t, host.Config{Features: policy.Features{QueueManagement: true, Cancellation: true}, Registerer: reg,
		Pools: onePool(host.PoolConfig{MaxConcurrency: 1, MaxQueueSize: 1})}, "sleep")
	assert.Equal(t, map[string]float64{"ready": 1, "blocks": 1, "queue_cpu": 1, "queue_gpu": 1, "queue_io": 1, "breakers": 1},
		healthStatus(t, reg))

	// A block that fails to load; a full queue.
	_, err := h.LoadBlock(context.Background(), []byte("not wasm"), sandbox.Manifest{Name: "bad", Types: []string{"x.bad"}})
	require.Error(t, err)
	release := occupy(t, h)
	queued := submit(h, sleepReq("1", "queued"))
	waitFor(t, 5*time.Second, func() bool { return h.Pools()[0].QueueDepth == 1 })
	got := healthStatus(t, reg)
	assert.Zero(t, got["blocks"], "a block failed to load")
	assert.Zero(t, got["queue_cpu"], "the cpu queue is full: %s", h.Pools()[0].State)
	assert.Equal(t, 1.0, got["queue_io"])
	release()
	require.NoError(t, <-queued)

	h.Drain()
	assert.Zero(t, healthStatus(t, reg)["ready"], "draining")
}
