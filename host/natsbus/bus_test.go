package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/policy"
)

// drained waits until the shared consumer has nothing pending: every
// assignment was delivered and acked or terminated, so no more answers can
// come.
func drained(t *testing.T, nc *nats.Conn) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	eventually(t, 20*time.Second, func() error {
		info = consumerInfo(t, nc)
		if info.NumAckPending != 0 || info.NumPending != 0 {
			return fmt.Errorf("consumer: %d pending, %d awaiting ack", info.NumPending, info.NumAckPending)
		}
		return nil
	})
	return info
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func busCount(t *testing.T, o Options, result string) float64 {
	t.Helper()
	return gatherSum(t, o.Registerer.(prometheus.Gatherer), "worker_nats_messages_total", map[string]string{"result": result})
}

func TestAssignmentsSplitAcrossTwoHosts(t *testing.T) {
	url := startServer(t)
	hA, hB := newHost(t, host.Config{}), newHost(t, host.Config{})
	oA, oB := testOptions(t, url, "host-a"), testOptions(t, url, "host-b")
	oA.MaxInFlight, oB.MaxInFlight = 8, 8
	startBus(t, hA, oA)
	startBus(t, hB, oB)

	nc := connect(t, url)
	results := watchStream(t, nc, DefaultStream, SubjectResult)
	acks := watchStream(t, nc, DefaultStream, SubjectAck)
	var published atomic.Int64 // every result publish, duplicates included
	sub, err := nc.Subscribe(SubjectResult, func(*nats.Msg) { published.Add(1) })
	require.NoError(t, err)
	defer sub.Unsubscribe()

	const n = 200
	list := ids("split-", n)
	bodies := make([][]byte, n)
	for i, id := range list {
		bodies[i] = assignment(id, "test.echo", map[string]any{"text": "hello " + id, "n": i, "obj": map[string]any{"a": 1}},
			map[string]any{"deadline_ms": 10000, "retry": map[string]any{"max_attempts": 2, "backoff_ms": 10}})
	}
	publish(t, nc, bodies...)
	eventually(t, 30*time.Second, allAnswered(results, t, list))
	info := drained(t, nc)
	assert.Zero(t, info.NumRedelivered)

	res := results.results(t)
	require.Len(t, res, n, "results for other ids")
	byProvider := map[string]int{}
	for i, id := range list {
		require.Len(t, res[id], 1, id)
		r := res[id][0]
		byProvider[r.ProviderID]++
		assert.Equal(t, host.StatusSuccess, r.Status, "%s: %s", id, r.ErrorMessage)
		assert.Equal(t, abi.None, r.ErrorCode)
		assert.Equal(t, "1", r.Version)
		assert.Equal(t, "req-"+id, r.RequestID)
		assert.Equal(t, "req-"+id, r.RunID)
		assert.Equal(t, "test.echo", r.Job.Type)
		assert.Equal(t, "trace-"+id, r.TraceID)
		assert.Equal(t, "tenant-1", r.TenantID)
		assert.Equal(t, id, r.MsgID)
		assert.Equal(t, "hello "+id, r.Outputs["text"])
		assert.Equal(t, strconv.Itoa(i), r.Outputs["n"])
		assert.Equal(t, `{"a":1}`, r.Outputs["obj"])
		assert.Equal(t, id, r.Outputs["ctx.step_id"])
		assert.Equal(t, "trace-"+id, r.Outputs["ctx.trace_id"])
		assert.Equal(t, "tenant-1", r.Outputs["ctx.tenant_id"])
		assert.NotZero(t, r.Timestamp)
	}
	t.Logf("results by provider: %v", byProvider)
	assert.Len(t, byProvider, 2, "both hosts did work")
	assert.Positive(t, byProvider["host-a"])
	assert.Positive(t, byProvider["host-b"])

	// Headers: Nats-Msg-Id is the assignment id; the correlation headers
	// are carried from the assignment (trace_id, traceparent) or its body
	// (tenant_id).
	m := results.all()[0]
	var r ExecResult
	require.NoError(t, json.Unmarshal(m.Data(), &r))
	assert.Equal(t, r.AssignmentID, m.Headers().Get(jetstream.MsgIDHeader))
	assert.Equal(t, "hdr-trace", m.Headers().Get("trace_id"))
	assert.Equal(t, "tenant-1", m.Headers().Get("tenant_id"))
	assert.Equal(t, "1", m.Headers().Get("version"))
	assert.Equal(t, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", m.Headers().Get("traceparent"))

	// Each assignment ran exactly once and was accepted exactly once.
	runsA, runsB := hA.executions(), hB.executions()
	for _, id := range list {
		assert.Equal(t, 1, runsA[id]+runsB[id], id)
	}
	assert.Equal(t, float64(n), hA.metricSum(t, "worker_step_executions_total")+hB.metricSum(t, "worker_step_executions_total"))
	accepted := map[string]int{}
	for _, a := range acks.acks(t) {
		require.Equal(t, AckAccepted, a.Status, "%+v", a)
		accepted[a.AssignmentID]++
		assert.Equal(t, "trace-"+a.AssignmentID, a.Correlation.TraceID)
		assert.Contains(t, []string{"host-a", "host-b"}, a.Metadata["worker_id"])
	}
	for _, id := range list {
		assert.Equal(t, 1, accepted[id], id)
	}
	assert.Equal(t, int64(n), published.Load(), "one result publish per assignment")
	assert.Equal(t, float64(n), busCount(t, oA, resExecuted)+busCount(t, oB, resExecuted))
}

// TestHardStopMidFlight kills one host's connection while it runs slow
// steps: it can neither answer nor ack them, and its host finishes them
// anyway. Every assignment still gets exactly one result, and none runs
// twice: the ones the dead host held are answered by the other host with an
// error result once their claims' leases are stale, not run again.
func TestHardStopMidFlight(t *testing.T) {
	url := startServer(t)
	hA, hB := newHost(t, host.Config{}), newHost(t, host.Config{})
	ncA := connect(t, url)
	oA, oB := testOptions(t, url, "host-a"), testOptions(t, url, "host-b")
	oA.Conn = ncA
	oA.MaxInFlight, oB.MaxInFlight = 4, 4
	bA := startBus(t, hA, oA)
	startBus(t, hB, oB)

	nc := connect(t, url)
	results := watchStream(t, nc, DefaultStream, SubjectResult)
	const n = 24
	list := ids("crash-", n)
	bodies := make([][]byte, n)
	for i, id := range list {
		bodies[i] = assignment(id, "test.sleep", map[string]any{"ms": "300"},
			map[string]any{"deadline_ms": 20000, "retry": map[string]any{"max_attempts": 1}})
	}
	publish(t, nc, bodies...)

	// Mid-flight: host A has steps running and some results are out.
	eventually(t, 20*time.Second, func() error {
		if hA.InFlight() < 2 || len(results.all()) < 2 {
			return errNotYet
		}
		return nil
	})
	ncA.Close()
	inFlight := hA.InFlight()
	t.Logf("host A killed with %d steps in flight", inFlight)

	eventually(t, 30*time.Second, allAnswered(results, t, list))
	drained(t, nc)
	// Let the dead host's steps finish, so the counts below are final.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, bA.Close(ctx))

	res := results.results(t)
	runsA, runsB := hA.executions(), hB.executions()
	lost := 0
	for _, id := range list {
		require.Len(t, res[id], 1, id)
		r := res[id][0]
		assert.LessOrEqual(t, runsA[id]+runsB[id], 1, "%s ran more than once", id)
		switch r.Status {
		case host.StatusSuccess:
			runs := map[string]int{"host-a": runsA[id], "host-b": runsB[id]}
			assert.Equal(t, 1, runs[r.ProviderID], "%s: answered by %s, which did not run it", id, r.ProviderID)
		case host.StatusError:
			lost++
			assert.Equal(t, abi.InternalError, r.ErrorCode)
			assert.Contains(t, r.ErrorMessage, "worker host-a stopped renewing its claim")
			assert.Equal(t, "host-b", r.ProviderID)
			assert.Zero(t, runsB[id], "%s was run again", id)
		default:
			t.Errorf("%s: %s %s", id, r.Status, r.ErrorMessage)
		}
	}
	t.Logf("%d assignments held by the dead host answered as lost; runs: A %d, B %d", lost, len(runsA), len(runsB))
	assert.GreaterOrEqual(t, lost, inFlight, "every step in flight on the dead host is answered as lost")
	assert.Positive(t, lost)
	total := 0
	for _, id := range list {
		total += runsA[id] + runsB[id]
	}
	assert.Equal(t, float64(total), hA.metricSum(t, "worker_step_executions_total")+hB.metricSum(t, "worker_step_executions_total"),
		"the counting wrapper agrees with the hosts' metrics")
}

func TestQueueFullMovesWorkToAnotherHost(t *testing.T) {
	url := startServer(t)
	small := []host.PoolConfig{{Name: "cpu", MaxConcurrency: 1, MaxQueueSize: 1}, {Name: "gpu", MaxConcurrency: 1}, {Name: "io", MaxConcurrency: 1}}
	hA := newHost(t, host.Config{Features: policy.Features{QueueManagement: true}, Pools: small})
	hB := newHost(t, host.Config{})
	oA, oB := testOptions(t, url, "host-a"), testOptions(t, url, "host-b")
	oA.MaxInFlight, oB.MaxInFlight = 6, 8
	startBus(t, hA, oA)

	nc := connect(t, url)
	results := watchStream(t, nc, DefaultStream, SubjectResult)
	acks := watchStream(t, nc, DefaultStream, SubjectAck)
	const n = 10
	list := ids("full-", n)
	bodies := make([][]byte, n)
	for i, id := range list {
		bodies[i] = assignment(id, "test.sleep", map[string]any{"ms": "200"}, map[string]any{"retry": map[string]any{"max_attempts": 1}})
	}
	publish(t, nc, bodies...)
	rejectedByA := func() int {
		k := 0
		for _, a := range acks.acks(t) {
			if a.Status == AckRejected && a.Metadata["worker_id"] == "host-a" {
				k++
				assert.Equal(t, "queue_full", a.Reason)
				assert.Equal(t, "queue_full", a.Message)
				assert.Equal(t, "tenant-1", a.TenantID)
			}
		}
		return k
	}
	eventually(t, 10*time.Second, func() error {
		if rejectedByA() == 0 {
			return errNotYet
		}
		return nil
	})
	startBus(t, hB, oB)

	eventually(t, 30*time.Second, allAnswered(results, t, list))
	drained(t, nc)
	res := results.results(t)
	byProvider := map[string]int{}
	runsA, runsB := hA.executions(), hB.executions()
	for _, id := range list {
		require.Len(t, res[id], 1, id)
		r := res[id][0]
		assert.Equal(t, host.StatusSuccess, r.Status, r.ErrorMessage)
		byProvider[r.ProviderID]++
		assert.Equal(t, 1, runsA[id]+runsB[id], id)
		if r.ProviderID == "host-b" {
			assert.Equal(t, 1, runsB[id])
		}
	}
	t.Logf("results by provider %v; host A rejected %d deliveries", byProvider, rejectedByA())
	assert.Positive(t, byProvider["host-b"], "work moved to host B")
	assert.Positive(t, busCount(t, oA, resRejected))
	// A rejected step was never admitted, so it got no accepted ACK from A:
	// no step that host B ran was accepted by host A.
	accepted := map[string]bool{}
	for _, a := range acks.acks(t) {
		if a.Status == AckAccepted && a.Metadata["worker_id"] == "host-a" {
			accepted[a.AssignmentID] = true
		}
	}
	for _, id := range list {
		if res[id][0].ProviderID == "host-b" {
			assert.False(t, accepted[id], "%s: accepted by host A, then run by host B", id)
		}
	}
}

func TestMalformedAssignmentsAreDeadLetteredNotRedelivered(t *testing.T) {
	url := startServer(t)
	h := newHost(t, host.Config{})
	o := testOptions(t, url, "host-a")
	startBus(t, h, o)
	nc := connect(t, url)
	results := watchStream(t, nc, DefaultStream, SubjectResult)
	acks := watchStream(t, nc, DefaultStream, SubjectAck)
	dlq := watchStream(t, nc, DefaultStream, SubjectDLQ)

	bad := map[string][]byte{
		"":    []byte(`{"assignment_id": "broken", `),
		"m-2": []byte(`{"version":"1","assignment_id":"m-2","job":{}}`),
		"m-3": assignment("m-3", "no.such.type", nil, nil),
		"m-4": []byte(`{"assignment_id":"m-4","job":{"type":"test.echo","payload":[1,2]}}`),
		"m-5": []byte(`{"assignment_id":"m-5","job":{"type":"test.echo","payload_ref":"blobs/x"}}`),
	}
	var bodies [][]byte
	for _, b := range bad {
		bodies = append(bodies, b)
	}
	bodies = append(bodies, assignment("ok-1", "test.echo", map[string]any{"k": "v"}, nil))
	publish(t, nc, bodies...)

	eventually(t, 10*time.Second, func() error {
		if len(dlq.all()) < len(bad) || len(results.all()) < 1 {
			return fmt.Errorf("%d dead letters, %d results", len(dlq.all()), len(results.all()))
		}
		return nil
	})
	info := drained(t, nc)
	assert.Zero(t, info.NumRedelivered, "no assignment was delivered twice")
	assert.Equal(t, uint64(len(bodies)), info.Delivered.Consumer, "one delivery per message")

	rejected := map[string]host.Ack{}
	for _, a := range acks.acks(t) {
		if a.Status == AckRejected {
			rejected[a.AssignmentID] = a
		}
	}
	for id := range bad {
		a, ok := rejected[id]
		require.True(t, ok, "no rejected ACK for %q", id)
		assert.Equal(t, ReasonBadRequest, a.Reason, id)
		assert.NotEmpty(t, a.Message, id)
		t.Logf("%q: %s", id, a.Message)
	}
	assert.Contains(t, rejected["m-3"].Message, `"no.such.type"`)
	assert.Contains(t, rejected["m-2"].Message, "job.type is required")
	assert.Contains(t, rejected["m-5"].Message, "payload store")

	letters := map[string]DeadLetter{}
	for _, m := range dlq.all() {
		var dl DeadLetter
		require.NoError(t, json.Unmarshal(m.Data(), &dl))
		letters[dl.AssignmentID] = dl
		assert.Equal(t, ReasonInvalid, dl.Reason)
		assert.Equal(t, abi.InvalidInput, dl.ErrorCode)
		assert.Equal(t, "host-a", dl.WorkerID)
		assert.Equal(t, uint64(1), dl.Deliveries)
	}
	assert.Len(t, letters, len(bad))
	assert.Equal(t, `{"assignment_id": "broken", `, letters[""].AssignmentRaw, "a body that is not JSON is kept as text")
	assert.JSONEq(t, string(bad["m-4"]), string(letters["m-4"].Assignment))

	res := results.results(t)
	assert.Len(t, res, 1)
	assert.Equal(t, host.StatusSuccess, res["ok-1"][0].Status)
	assert.Equal(t, float64(len(bad)), busCount(t, o, resInvalid))
}

func TestHeartbeatFollowsLoad(t *testing.T) {
	url := startServer(t)
	pools := []host.PoolConfig{{Name: "cpu", MaxConcurrency: 1, MaxQueueSize: 2}, {Name: "gpu", MaxConcurrency: 1}, {Name: "io", MaxConcurrency: 1}}
	h := newHost(t, host.Config{Features: policy.Features{QueueManagement: true, Cancellation: true}, Pools: pools,
		Overload: host.OverloadThresholds{Degraded: 0.5, Overloaded: 1}})
	o := testOptions(t, url, "host-hb")
	startBus(t, h, o)
	nc := connect(t, url)
	beats := make(chan *nats.Msg, 1024)
	sub, err := nc.ChanSubscribe(SubjectHeartbeat, beats)
	require.NoError(t, err)
	defer sub.Unsubscribe()
	waitStatus := func(want string, check func(WorkerHeartbeat)) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m := <-beats:
				var hb WorkerHeartbeat
				require.NoError(t, json.Unmarshal(m.Data, &hb))
				if hb.WorkerID == "host-hb" && hb.Status == want {
					if check != nil {
						check(hb)
					}
					return
				}
			case <-deadline:
				t.Fatalf("no %s heartbeat; pools %+v", want, h.Pools())
			}
		}
	}
	waitStatus(StatusReady, func(hb WorkerHeartbeat) {
		assert.Zero(t, hb.Resources.JobsInFlight)
		assert.Positive(t, hb.Resources.MemBytes)
		assert.InDelta(t, time.Now().UnixMilli(), hb.Timestamp, 5000)
	})

	// One step running and one queued: the cpu pool's queue is half full
	// (degraded), so the worker is busy; a second waiter fills it
	// (critical): the worker is degraded. Cancelling the steps makes it
	// ready again.
	done := make(chan struct{}, 3)
	run := func(id string) {
		go func() {
			h.Execute(context.Background(), host.StepRequest{Type: "test.sleep", Inputs: map[string]string{"ms": "20000"},
				Context: host.BlockContext{StepID: id}})
			done <- struct{}{}
		}()
	}
	run("hb-1")
	eventually(t, 5*time.Second, func() error {
		if h.InFlight() != 1 {
			return errNotYet
		}
		return nil
	})
	run("hb-2")
	waitStatus(StatusBusy, func(hb WorkerHeartbeat) {
		assert.Equal(t, 2, hb.Resources.JobsInFlight)
		assert.Equal(t, 1.0, hb.Resources.CPU)
	})
	run("hb-3")
	waitStatus(StatusDegraded, func(hb WorkerHeartbeat) { assert.Equal(t, 3, hb.Resources.JobsInFlight) })
	for _, id := range []string{"hb-3", "hb-2", "hb-1"} {
		require.NoError(t, h.Cancel(id))
	}
	for range 3 {
		<-done
	}
	waitStatus(StatusReady, nil)
}

func TestRedeliveredAssignmentRunsOnce(t *testing.T) {
	url := startServer(t)
	hA, hB := newHost(t, host.Config{}), newHost(t, host.Config{})
	oA, oB := testOptions(t, url, "host-a"), testOptions(t, url, "host-b")
	startBus(t, hA, oA)
	startBus(t, hB, oB)
	nc := connect(t, url)
	results := watchStream(t, nc, DefaultStream, SubjectResult)

	// The Router publishes the same assignment twice (two stream messages):
	// at once for a slow step (the second copy finds it running), and again
	// after its result (the copy is answered from the claim).
	slow := assignment("dup-slow", "test.sleep", map[string]any{"ms": "400"}, map[string]any{"retry": map[string]any{"max_attempts": 1}})
	publish(t, nc, slow, slow)
	fast := assignment("dup-fast", "test.echo", map[string]any{"x": "1"}, nil)
	publish(t, nc, fast)
	eventually(t, 10*time.Second, allAnswered(results, t, []string{"dup-slow", "dup-fast"}))
	publish(t, nc, fast)
	drained(t, nc)

	res := results.results(t)
	assert.Len(t, res["dup-slow"], 1)
	assert.Len(t, res["dup-fast"], 1, "the replayed result was dropped as a duplicate by the stream")
	runs := func(id string) int { return hA.executions()[id] + hB.executions()[id] }
	assert.Equal(t, 1, runs("dup-slow"))
	assert.Equal(t, 1, runs("dup-fast"))
	replayed := busCount(t, oA, resReplayed) + busCount(t, oB, resReplayed)
	attached := busCount(t, oA, resAttached) + busCount(t, oB, resAttached)
	assert.GreaterOrEqual(t, replayed, 1.0, "the late copy was answered from the claim")
	assert.GreaterOrEqual(t, replayed+attached, 2.0)
}

func TestAssignmentMsgIDDoesNotSwallowTheResult(t *testing.T) {
	url := startServer(t)
	h := newHost(t, host.Config{})
	startBus(t, h, testOptions(t, url, "host-a"))
	nc := connect(t, url)
	results := watchStream(t, nc, DefaultStream, SubjectResult)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	m := nats.NewMsg(SubjectAssign)
	m.Data = assignment("same-id", "test.echo", nil, nil)
	m.Header.Set(jetstream.MsgIDHeader, "same-id") // the Router dedupes assignments by id
	_, err = js.PublishMsg(context.Background(), m)
	require.NoError(t, err)
	eventually(t, 10*time.Second, allAnswered(results, t, []string{"same-id"}))
	got := results.all()[0]
	assert.Equal(t, "same-id:result", got.Headers().Get(jetstream.MsgIDHeader))
	assert.Equal(t, "same-id:result", results.results(t)["same-id"][0].MsgID)
}

func TestFailuresCP2DoesNotRetryGoToTheDLQ(t *testing.T) {
	url := startServer(t)
	h := newHost(t, host.Config{})
	startBus(t, h, testOptions(t, url, "host-a"))
	nc := connect(t, url)
	results := watchStream(t, nc, DefaultStream, SubjectResult)
	dlq := watchStream(t, nc, DefaultStream, SubjectDLQ)
	once := map[string]any{"retry": map[string]any{"max_attempts": 1}}
	publish(t, nc,
		assignment("f-invalid", "test.fail", map[string]any{"code": "INVALID_INPUT"}, once),
		assignment("f-network", "test.fail", map[string]any{"code": "NETWORK_ERROR"}, once),
		assignment("f-timeout", "test.sleep", map[string]any{"ms": "3000"}, map[string]any{"deadline_ms": 150, "retry": map[string]any{"max_attempts": 1}}),
	)
	eventually(t, 10*time.Second, allAnswered(results, t, []string{"f-invalid", "f-network", "f-timeout"}))
	drained(t, nc)
	res := results.results(t)
	assert.Equal(t, abi.InvalidInput, res["f-invalid"][0].ErrorCode)
	assert.Equal(t, abi.NetworkError, res["f-network"][0].ErrorCode)
	assert.Equal(t, host.StatusTimeout, res["f-timeout"][0].Status)
	assert.Equal(t, abi.CancelledByTimeout, res["f-timeout"][0].ErrorCode)

	letters := dlq.all()
	require.Len(t, letters, 1, "only the failure CP2 does not retry")
	var dl DeadLetter
	require.NoError(t, json.Unmarshal(letters[0].Data(), &dl))
	assert.Equal(t, "f-invalid", dl.AssignmentID)
	assert.Equal(t, ReasonNonRetryable, dl.Reason)
	assert.Equal(t, abi.InvalidInput, dl.ErrorCode)
	require.NotNil(t, dl.Result)
	assert.Equal(t, host.StatusError, dl.Result.Status)
	assert.Equal(t, "f-invalid:dlq", letters[0].Headers().Get(jetstream.MsgIDHeader))
	assert.Equal(t, "trace-f-invalid", dl.TraceID)
}

func TestPayloadRefIsReadThroughTheStore(t *testing.T) {
	url := startServer(t)
	h := newHost(t, host.Config{})
	o := testOptions(t, url, "host-a")
	o.PayloadStore = func(_ context.Context, key string) (string, error) {
		switch key {
		case "blobs/1":
			return "the blob", nil
		case "blobs/down":
			return "", errors.New("disk on fire")
		}
		return "", fs.ErrNotExist
	}
	startBus(t, h, o)
	nc := connect(t, url)
	results := watchStream(t, nc, DefaultStream, SubjectResult)
	body := func(id, ref string) []byte {
		return []byte(`{"assignment_id":"` + id + `","job":{"type":"test.echo","payload_ref":"` + ref + `","payload":{"k":"v"}}}`)
	}
	publish(t, nc, body("p-ok", "blobs/1"), body("p-missing", "blobs/nope"), body("p-down", "blobs/down"))
	eventually(t, 10*time.Second, allAnswered(results, t, []string{"p-ok", "p-missing", "p-down"}))
	res := results.results(t)
	assert.Equal(t, "the blob", res["p-ok"][0].Outputs["payload"])
	assert.Equal(t, "v", res["p-ok"][0].Outputs["k"])
	assert.Equal(t, abi.InvalidInput, res["p-missing"][0].ErrorCode)
	assert.Equal(t, abi.ResourceUnavailable, res["p-down"][0].ErrorCode)
	assert.Contains(t, res["p-down"][0].ErrorMessage, "disk on fire")
}

// TestTakenOverClaimDiscardsTheResult: a host that loses its claim while
// the step runs (its lease went stale and another host answered) learns it
// at its next renewal and publishes nothing.
func TestTakenOverClaimDiscardsTheResult(t *testing.T) {
	url := startServer(t)
	h := newHost(t, host.Config{})
	o := testOptions(t, url, "host-a")
	startBus(t, h, o)
	nc := connect(t, url)
	results := watchStream(t, nc, DefaultStream, SubjectResult)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	kv, err := js.KeyValue(context.Background(), DefaultClaimBucket)
	require.NoError(t, err)

	publish(t, nc, assignment("taken", "test.sleep", map[string]any{"ms": "800"}, map[string]any{"retry": map[string]any{"max_attempts": 1}}))
	eventually(t, 10*time.Second, func() error {
		if h.InFlight() != 1 {
			return errNotYet
		}
		return nil
	})
	_, err = kv.Put(context.Background(), "taken", []byte(`{"state":"done","worker_id":"host-x","result":{}}`))
	require.NoError(t, err)
	drained(t, nc)
	assert.Empty(t, results.all(), "the host that lost its claim published no result")
	assert.Equal(t, 1.0, busCount(t, o, resLost))
}

func TestStartReusesACompatibleStreamAndRefusesAnIncompatibleOne(t *testing.T) {
	url := startServer(t)
	nc := connect(t, url)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "ROUTER", Subjects: []string{
		SubjectAssign, SubjectAck, SubjectResult, SubjectDLQ}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "NARROW", Subjects: []string{"caf.other.>"}})
	require.NoError(t, err)
	h := newHost(t, host.Config{})

	o := testOptions(t, url, "host-a")
	o.Stream = "ROUTER"
	b := startBus(t, h, o)
	// A second host with other settings shares the consumer as it is.
	o2 := testOptions(t, url, "host-b")
	o2.Stream, o2.AckWait = "ROUTER", 5*time.Second
	b2 := startBus(t, h, o2)
	assert.Equal(t, time.Second, b2.ackWait, "the existing consumer's AckWait is used")
	assert.Equal(t, b.tick, b2.tick)

	o3 := testOptions(t, url, "host-c")
	o3.Stream = "NARROW"
	_, err = Start(ctx, h, o3)
	require.Error(t, err)
	assert.ErrorContains(t, err, "caf.exec.assign.v1, caf.exec.assign.v1.ack, caf.exec.result.v1, caf.exec.dlq.v1")
}

// TestCloseAnswersStepsInFlight: Close stops taking assignments and waits
// for the steps in flight, whose results are published before it returns;
// what is still queued in the stream goes to the other host.
func TestCloseAnswersStepsInFlight(t *testing.T) {
	url := startServer(t)
	hA, hB := newHost(t, host.Config{}), newHost(t, host.Config{})
	oA := testOptions(t, url, "host-a")
	oA.MaxInFlight = 2
	bA := startBus(t, hA, oA)
	nc := connect(t, url)
	results := watchStream(t, nc, DefaultStream, SubjectResult)
	list := ids("close-", 6)
	var bodies [][]byte
	for _, id := range list {
		bodies = append(bodies, assignment(id, "test.sleep", map[string]any{"ms": "300"}, map[string]any{"retry": map[string]any{"max_attempts": 1}}))
	}
	publish(t, nc, bodies...)
	eventually(t, 10*time.Second, func() error {
		if hA.InFlight() != 2 {
			return errNotYet
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, bA.Close(ctx))
	runsA := hA.executions()
	assert.Len(t, runsA, 2, "host A took no more assignments once closing")
	res := results.results(t)
	for id := range runsA {
		require.Len(t, res[id], 1, "%s was answered before Close returned", id)
		assert.Equal(t, host.StatusSuccess, res[id][0].Status)
	}

	startBus(t, hB, testOptions(t, url, "host-b"))
	eventually(t, 20*time.Second, allAnswered(results, t, list))
	drained(t, nc)
	for _, id := range list {
		assert.Len(t, results.results(t)[id], 1, id)
	}
}
