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

// TestThunderingHerd starts N steps whose first attempts fail at the same
// instant and measures how their retries bunch up under each backoff.
func TestThunderingHerd(t *testing.T) {
	const n = 64
	scenarios := []struct {
		name     string
		features policy.Features
		jitter   policy.Jitter
	}{
		{"fixed (CP1)", policy.Features{}, ""},
		{"exponential, no jitter", policy.Features{AdvancedRetry: true}, policy.JitterNone},
		{"full jitter", policy.Features{AdvancedRetry: true}, policy.JitterFull},
		{"equal jitter", policy.Features{AdvancedRetry: true}, policy.JitterEqual},
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
		t.Logf("%-24s peak retry attempts per 10 ms window: %d of %d", sc.name, peaks[sc.name], n)
	}
	assert.Less(t, peaks["full jitter"]*2, peaks["fixed (CP1)"], "full jitter spreads the herd")
	assert.Less(t, peaks["equal jitter"]*2, peaks["fixed (CP1)"], "equal jitter spreads the herd")
}
