package natsbus

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/beamline/blockhost/host"
)

// BenchmarkAssignmentsEndToEnd publishes b.N noop assignments through
// JetStream and waits for their b.N results: claim, run, record, publish
// and ack, on one host with the default pools, against an in-process
// server with file storage. It reports assignments/s.
func BenchmarkAssignmentsEndToEnd(b *testing.B) {
	url := startServer(b)
	h := newHost(b, host.Config{})
	o := testOptions(b, url, "bench")
	o.AckWait, o.ClaimLease, o.HeartbeatInterval = 30*time.Second, 15*time.Second, time.Second
	o.MaxInFlight = 64
	startBus(b, h, o)
	nc := connect(b, url)
	var got atomic.Int64
	done := make(chan struct{})
	var target atomic.Int64
	sub, err := nc.Subscribe(SubjectResult, func(*nats.Msg) {
		if got.Add(1) == target.Load() {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = assignment("bench-"+strconv.Itoa(i), "noop", nil, nil)
	}
	target.Store(int64(b.N))
	b.ResetTimer()
	start := time.Now()
	publish(b, nc, bodies...)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d results", got.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "assignments/s")
}
