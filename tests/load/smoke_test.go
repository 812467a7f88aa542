// Package load holds the smoke version of the load suite: a few seconds of
// open-loop load on the Go API in-process, asserting the W3-6.1 floors
// (≥ 200 steps/s, p95 < 1 s for small payloads). It runs in the default
// `go test ./...`. The full suite is `make load` (cmd/loadgen --scenario
// suite), which writes docs/reports/load/.
package load

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/cmd/loadgen/load"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/internal/testblocks"
)

// plugins returns a plugins directory with copies of the named blocks of
// internal/testblocks.
func plugins(t *testing.T, names ...string) string {
	t.Helper()
	src, dst := testblocks.Dir(t), t.TempDir()
	for _, n := range names {
		for _, ext := range []string{".wasm", ".yaml"} {
			b, err := os.ReadFile(filepath.Join(src, n+ext))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dst, n+ext), b, 0o644))
		}
	}
	return dst
}

func newHost(t *testing.T, cp2 bool) *host.Host {
	t.Helper()
	cfg := host.Config{Features: load.Features(cp2), CacheDir: testblocks.CacheDir(t)}
	h, err := load.NewHost(context.Background(), cfg, plugins(t, "noop", "text_uppercase", "sleep", "echo"),
		[]string{"noop", "text.uppercase", "test.sleep", "test.echo"}, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	return h
}

// run drives h open loop and logs the figures.
func run(t *testing.T, h *host.Host, wo load.WorkloadOptions, rate float64, d time.Duration) *load.Result {
	t.Helper()
	w, err := load.NewWorkload(wo)
	require.NoError(t, err)
	res, err := load.Run(context.Background(), &load.HostTarget{H: h}, w,
		load.Options{Label: t.Name(), Rate: rate, Duration: d, Drain: 20 * time.Second, Probe: load.SelfProbe(h)})
	require.NoError(t, err)
	t.Logf("%s: %.0f steps/s, p50 %s p95 %s p99 %s max %s, %d ok, %d step errors %v, %d rejected, %d failed, peak RSS %s",
		res.Label, res.Throughput(), load.FormatDuration(res.Latency.Quantile(0.5)), load.FormatDuration(res.Latency.Quantile(0.95)),
		load.FormatDuration(res.Latency.Quantile(0.99)), load.FormatDuration(res.Latency.Max()),
		res.OK, res.StepErrors, res.Codes, res.Rejected, res.Failed, load.FormatBytes(res.PeakRSS()))
	return res
}

// TestSmokeSmallSteps offers 300 small steps/s for 2.5 s with every CP2
// flag on and off, and checks the backlog's floors: at least 200 steps/s
// served, every step successful, p95 under 1 s.
func TestSmokeSmallSteps(t *testing.T) {
	for _, cp2 := range []bool{true, false} {
		t.Run(fmt.Sprintf("cp2=%v", cp2), func(t *testing.T) {
			h := newHost(t, cp2)
			mix := []load.Weighted{{Type: "noop", Weight: 3}, {Type: "text.uppercase", Weight: 1}}
			res := run(t, h, load.WorkloadOptions{Mix: mix}, 300, 2500*time.Millisecond)
			assert.EqualValues(t, 750, res.Sent)
			assert.Equal(t, res.Sent, res.OK, "every step succeeds: %v", res.Codes)
			assert.GreaterOrEqual(t, res.Throughput(), 200.0, "steps/s")
			assert.Less(t, res.Latency.Quantile(0.95), time.Second, "p95")
		})
	}
}

// TestSmokeMixedWithSleep runs the mixed workload of the load suite,
// noop:8 and test.sleep (10 ms):2, at 250 steps/s.
func TestSmokeMixedWithSleep(t *testing.T) {
	h := newHost(t, true)
	mix := []load.Weighted{{Type: "noop", Weight: 8}, {Type: "test.sleep", Weight: 2}}
	res := run(t, h, load.WorkloadOptions{Mix: mix}, 250, 2*time.Second)
	assert.Equal(t, res.Sent, res.OK, "every step succeeds: %v", res.Codes)
	assert.GreaterOrEqual(t, res.Throughput(), 200.0)
	assert.Less(t, res.Latency.Quantile(0.95), time.Second)
	sleep := res.ByType["test.sleep"]
	assert.GreaterOrEqual(t, sleep.Quantile(0.5), 10*time.Millisecond, "a sleep step takes its 10 ms")
}

// TestSmokeLargePayload runs 10 MB steps through test.echo (copied to an
// output by handle, host-side) and checks the large-payload floor, p95
// under 5 s.
func TestSmokeLargePayload(t *testing.T) {
	h := newHost(t, true)
	size := 10_000_000
	if raceEnabled || runtime.NumCPU() < 2 {
		size = 2_000_000
	}
	res := run(t, h, load.WorkloadOptions{Mix: []load.Weighted{{Type: "test.echo", Weight: 1}}, PayloadBytes: size}, 4, 2*time.Second)
	assert.Equal(t, res.Sent, res.OK, "every step succeeds: %v %v", res.Codes, res.FirstErrors)
	assert.Less(t, res.Latency.Quantile(0.95), 5*time.Second)
}

// TestSmokeOverloadRejectsFast offers a 4-slot pool of 10 ms steps
// (400 steps/s) 2000 steps/s with CP2 queue management: the excess is
// rejected at once and the queue stays bounded.
func TestSmokeOverloadRejectsFast(t *testing.T) {
	pools := host.DefaultPools()
	pools[0].MaxQueueSize = 50
	require.Equal(t, "cpu", pools[0].Name)
	cfg := host.Config{Features: load.Features(true), CacheDir: testblocks.CacheDir(t), Pools: pools}
	h, err := load.NewHost(context.Background(), cfg, plugins(t, "sleep"), []string{"test.sleep"}, nil)
	require.NoError(t, err)
	defer h.Close(context.Background())
	res := run(t, h, load.WorkloadOptions{Mix: []load.Weighted{{Type: "test.sleep", Weight: 1}}}, 2000, 1500*time.Millisecond)
	assert.Positive(t, res.Rejected)
	// Generous bounds: latency counts from the intended send time, and a
	// busy machine (or -race) delays the generator too.
	assert.Less(t, res.Rejection.Quantile(0.5), 20*time.Millisecond, "rejections are fast")
	assert.Less(t, res.Rejection.Quantile(0.99), 250*time.Millisecond, "rejections are fast")
	assert.LessOrEqual(t, res.PeakGauge(func(s load.Second) int { return s.QueueDepth }), 50)
	assert.Zero(t, res.Failed)
	assert.Zero(t, res.StepErrors, "%v", res.Codes)
}
