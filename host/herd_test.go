package host_test

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/policy"
)

// attemptRecorder is a slog handler that records when the host started
// each retry attempt (the "attempt started" debug line).
type attemptRecorder struct {
	mu    sync.Mutex
	times []time.Time
}

func (r *attemptRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *attemptRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *attemptRecorder) WithGroup(string) slog.Handler            { return r }
func (r *attemptRecorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "attempt started" {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "attempt" && a.Value.Int64() == 1 {
			r.mu.Lock()
			r.times = append(r.times, rec.Time)
			r.mu.Unlock()
		}
		return true
	})
	return nil
}

// peakPer10ms is the largest number of attempts that started within one
// 10 ms window.
func peakPer10ms(times []time.Time) int {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	peak := 0
	for i, j := 0, 0; i < len(times); i++ {
		for times[i].Sub(times[j]) >= 10*time.Millisecond {
			j++
		}
		peak = max(peak, i-j+1)
	}
	return peak
}

// BenchmarkThunderingHerd starts N real steps whose first attempts fail at
// the same instant and reports how their retries bunch up under each
// backoff: the peak number of retry attempts the host started within one
// 10 ms window (lower is better; N means they all retried at once).
func BenchmarkThunderingHerd(b *testing.B) {
	for range b.N {
		peaks := herd(b)
		for name, p := range peaks {
			b.ReportMetric(float64(p), "peak/10ms-"+name)
		}
	}
}

// herd runs the scenario once per backoff and returns the peaks by name.
func herd(t testing.TB) map[string]int {
	const n = 64
	scenarios := []struct {
		name     string
		features policy.Features
		jitter   policy.Jitter
	}{
		{"fixed", policy.Features{}, ""},
		{"exponential", policy.Features{AdvancedRetry: true}, policy.JitterNone},
		{"full", policy.Features{AdvancedRetry: true}, policy.JitterFull},
		{"equal", policy.Features{AdvancedRetry: true}, policy.JitterEqual},
	}
	peaks := map[string]int{}
	for _, sc := range scenarios {
		rec := &attemptRecorder{}
		h := newHost(t, host.Config{Features: sc.features, Logger: slog.New(rec),
			Retry: policy.RetryConfig{Base: 100 * time.Millisecond, Cap: time.Second, Jitter: sc.jitter},
			Pools: []host.PoolConfig{{Name: "cpu", MaxConcurrency: n}, {Name: "gpu", MaxConcurrency: 1}, {Name: "io", MaxConcurrency: 1}}},
			"fail")
		// Warm n instances so first attempts are not spread by instantiation.
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				h.Execute(context.Background(), failReq("NETWORK_ERROR", 0))
			}()
		}
		close(start)
		wg.Wait()
		rec.mu.Lock()
		rec.times = nil
		rec.mu.Unlock()
		start = make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := h.Execute(context.Background(), failReq("NETWORK_ERROR", 1))
				assert.NoError(t, err)
				assert.Equal(t, host.StatusSuccess, res.Status, res.ErrorMessage)
			}()
		}
		close(start)
		wg.Wait()
		rec.mu.Lock()
		require.Len(t, rec.times, n)
		peaks[sc.name] = peakPer10ms(rec.times)
		rec.mu.Unlock()
		t.Logf("%-10s peak retry attempts per 10 ms window: %d of %d", sc.name, peaks[sc.name], n)
	}
	return peaks
}
