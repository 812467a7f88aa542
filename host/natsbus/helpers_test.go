package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/host/natsbus/natsembed"
	"github.com/beamline/blockhost/internal/testblocks"
)

// startServer starts an in-process nats-server with JetStream on a random
// port, storing in a temporary directory, and shuts it down at cleanup.
func startServer(tb testing.TB) string {
	tb.Helper()
	url, shutdown, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(shutdown)
	return url
}

// connect opens a client connection closed at cleanup.
func connect(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// testLogger logs to the test at warn level and above (BLOCKHOST_TEST_LOG=debug
// for everything).
func testLogger(tb testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("BLOCKHOST_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// countingHost wraps a host and counts, by step id, the steps it admitted
// (the ones that ran: Execute returns nil only for an admitted step).
type countingHost struct {
	*host.Host
	reg *prometheus.Registry

	mu   sync.Mutex
	runs map[string]int
}

func (c *countingHost) Execute(ctx context.Context, req host.StepRequest) (host.StepResult, error) {
	res, err := c.Host.Execute(ctx, req)
	if err == nil {
		c.mu.Lock()
		c.runs[req.Context.StepID]++
		c.mu.Unlock()
	}
	return res, err
}

func (c *countingHost) executions() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.runs))
	for k, v := range c.runs {
		out[k] = v
	}
	return out
}

// metricSum sums the counter family name of the host's registry.
func (c *countingHost) metricSum(tb testing.TB, name string) float64 {
	tb.Helper()
	return gatherSum(tb, c.reg, name, nil)
}

func gatherSum(tb testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == k && lp.GetValue() == v {
			return true
		}
	}
	return false
}

// newHost returns a host with the test blocks echo, noop, sleep and fail
// loaded, closed at cleanup.
func newHost(tb testing.TB, cfg host.Config) *countingHost {
	tb.Helper()
	dir := testblocks.Dir(tb)
	reg := prometheus.NewRegistry()
	cfg.CacheDir = testblocks.CacheDir(tb)
	cfg.Registerer = reg
	h, err := host.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	for _, name := range []string{"echo", "noop", "sleep", "fail"} {
		if _, err := h.LoadFile(context.Background(), filepath.Join(dir, name+".wasm")); err != nil {
			tb.Fatal(err)
		}
	}
	return &countingHost{Host: h, reg: reg, runs: map[string]int{}}
}

// testOptions are bus options with short timings, for tests.
func testOptions(tb testing.TB, url, worker string) Options {
	return Options{
		URL:               url,
		WorkerID:          worker,
		AckWait:           time.Second,
		ClaimLease:        500 * time.Millisecond,
		HeartbeatInterval: 50 * time.Millisecond,
		RejectNakDelay:    50 * time.Millisecond,
		Logger:            testLogger(tb).With("worker", worker),
		Registerer:        prometheus.NewRegistry(),
	}
}

// startBus starts a bus, closed at cleanup.
func startBus(tb testing.TB, h Runner, o Options) *Bus {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Start(ctx, h, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	return b
}

// assignment builds an ExecAssignment message body.
func assignment(id, typ string, payload map[string]any, opts map[string]any) []byte {
	m := map[string]any{
		"version":       "1",
		"assignment_id": id,
		"request_id":    "req-" + id,
		"tenant_id":     "tenant-1",
		"executor":      map[string]any{"provider_id": "blockhost"},
		"job":           map[string]any{"type": typ, "payload": payload},
		"correlation":   map[string]any{"trace_id": "trace-" + id},
	}
	if opts != nil {
		m["options"] = opts
	}
	data, _ := json.Marshal(m)
	return data
}

// publish publishes assignment bodies on the assign subject through
// JetStream, with the headers a Router sends.
func publish(tb testing.TB, nc *nats.Conn, bodies ...[]byte) {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	var futures []jetstream.PubAckFuture
	for _, body := range bodies {
		m := nats.NewMsg(SubjectAssign)
		m.Data = body
		m.Header.Set("trace_id", "hdr-trace")
		m.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			tb.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			tb.Fatal(err)
		case <-time.After(10 * time.Second):
			tb.Fatal("publish not acked")
		}
	}
}

// streamWatcher reads one subject of the stream, as the Router does, and
// keeps every message.
type streamWatcher struct {
	mu   sync.Mutex
	msgs []jetstream.Msg
	stop func()
}

// watchStream starts an ordered consumer of subject on the stream from its
// first message.
func watchStream(tb testing.TB, nc *nats.Conn, stream, subject string) *streamWatcher {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		tb.Fatal(err)
	}
	w := &streamWatcher{}
	cc, err := c.Consume(func(m jetstream.Msg) {
		w.mu.Lock()
		w.msgs = append(w.msgs, m)
		w.mu.Unlock()
	})
	if err != nil {
		tb.Fatal(err)
	}
	w.stop = cc.Stop
	tb.Cleanup(func() { cc.Stop(); <-cc.Closed() })
	return w
}

func (w *streamWatcher) all() []jetstream.Msg {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]jetstream.Msg(nil), w.msgs...)
}

// results decodes the watched results by assignment id.
func (w *streamWatcher) results(tb testing.TB) map[string][]ExecResult {
	tb.Helper()
	out := map[string][]ExecResult{}
	for _, m := range w.all() {
		var r ExecResult
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			tb.Fatalf("result %s: %v", m.Data(), err)
		}
		out[r.AssignmentID] = append(out[r.AssignmentID], r)
	}
	return out
}

// acks decodes the watched ACKs.
func (w *streamWatcher) acks(tb testing.TB) []host.Ack {
	tb.Helper()
	var out []host.Ack
	for _, m := range w.all() {
		var a host.Ack
		if err := json.Unmarshal(m.Data(), &a); err != nil {
			tb.Fatalf("ack %s: %v", m.Data(), err)
		}
		out = append(out, a)
	}
	return out
}

// eventually polls cond every 10 ms until it returns nil or timeout
// passes, then fails with its last error.
func eventually(tb testing.TB, timeout time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// allAnswered is a condition: every id has at least one result.
func allAnswered(w *streamWatcher, tb testing.TB, ids []string) func() error {
	return func() error {
		res := w.results(tb)
		missing := 0
		for _, id := range ids {
			if len(res[id]) == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d assignments without a result", missing, len(ids))
		}
		return nil
	}
}

// consumerInfo returns the shared consumer's state.
func consumerInfo(tb testing.TB, nc *nats.Conn) *jetstream.ConsumerInfo {
	tb.Helper()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, DefaultStream, DefaultConsumer)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return info
}

var errNotYet = errors.New("not yet")
