package host

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beamline/blockhost/policy"
)

func benchPool(b *testing.B, bounded bool, maxQueue int) *resourcePool {
	b.Helper()
	h := &Host{cfg: Config{Features: featuresQM(bounded), Overload: OverloadThresholds{Degraded: .5, Overloaded: .8}}}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	h.metrics = m
	cfg, _ := Config{}.withDefaults()
	h.log = cfg.Logger
	return h.newPool(PoolConfig{Name: "cpu", MaxConcurrency: 1, MaxQueueSize: maxQueue, Policy: PolicyRejectNew})
}

// BenchmarkAdmission is the cost of taking and freeing a free slot: the
// path of every step that does not queue.
func BenchmarkAdmission(b *testing.B) {
	p := benchPool(b, true, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.acquire(ctx, "", false, nil); err != nil {
			b.Fatal(err)
		}
		p.release()
	}
}

// BenchmarkRejection is the cost of refusing a step when the bounded queue
// is full.
func BenchmarkRejection(b *testing.B) {
	p := benchPool(b, true, 0)
	ctx := context.Background()
	if err := p.acquire(ctx, "", false, nil); err != nil { // take the only slot
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.acquire(ctx, "", false, nil); err != errQueueFull {
			b.Fatal(err)
		}
	}
}

func featuresQM(on bool) (f policy.Features) { f.QueueManagement = on; return f }
