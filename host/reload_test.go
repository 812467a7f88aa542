package host_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/internal/testblocks"
)

// writeBlock atomically places wasm (copied from src) and its manifest in
// dir, as an operator's deploy would: write aside, then rename.
func writeBlock(t testing.TB, dir, name, src, manifest string) {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	tmp := filepath.Join(dir, "."+name+".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(manifest), 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, name+".yaml")))
	require.NoError(t, os.WriteFile(tmp, data, 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, name+".wasm")))
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[len(d)*99/100]
}

// swapUnderLoad loads echo as block b in dir, then replaces it with
// counter while six goroutines run steps, and returns the latencies seen
// before and during the swap and the number of failed steps.
func swapUnderLoad(t testing.TB, h *host.Host, dir string) (steady, swapping []time.Duration, failed int64) {
	src := testblocks.Dir(t)
	writeBlock(t, dir, "b", filepath.Join(src, "echo.wasm"), "version: v1\ntypes: [x.b]\nisolation: shared\n")
	require.NoError(t, h.LoadDir(context.Background(), dir))
	require.NoError(t, h.Watch(t.Context(), dir)) // watches until the test ends
	var (
		mu    sync.Mutex
		phase atomic.Int32 // 0 steady, 1 swapping, 2 after
		fails atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				res, err := h.Execute(context.Background(), host.StepRequest{Type: "x.b", Inputs: map[string]string{"k": "v"}})
				d := time.Since(start)
				if err != nil || res.Status != host.StatusSuccess {
					fails.Add(1)
					continue
				}
				mu.Lock()
				switch phase.Load() {
				case 0:
					steady = append(steady, d)
				case 1:
					swapping = append(swapping, d)
				}
				mu.Unlock()
			}
		}()
	}
	waitFor(t, 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(steady) > 2000 })
	phase.Store(1)
	writeBlock(t, dir, "b", filepath.Join(src, "counter.wasm"), "version: v2\ntypes: [x.b]\nisolation: shared\n")
	waitFor(t, 30*time.Second, func() bool { return h.Blocks()[0].Version == "v2" })
	mu.Lock()
	n := len(swapping)
	mu.Unlock()
	waitFor(t, 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(swapping) > n+500 })
	phase.Store(2)
	close(stop)
	wg.Wait()
	return steady, swapping, fails.Load()
}

// TestHotReloadUnderLoad replaces a block while many goroutines run steps
// on it: no step fails and the version switches; then a broken replacement
// keeps the old version serving, and a deletion drains.
func TestHotReloadUnderLoad(t *testing.T) {
	src := testblocks.Dir(t)
	dir := t.TempDir()
	h := newHost(t, host.Config{ReloadDebounce: 50 * time.Millisecond})
	steady, swapping, failed := swapUnderLoad(t, h, dir)
	assert.Zero(t, failed, "no step fails during the swap")
	res := run(t, h, host.StepRequest{Type: "x.b"})
	assert.NotEmpty(t, res.Outputs["served"], "new steps run the new version")
	t.Logf("p99 steady %v, during swap %v (%d and %d steps)", p99(steady), p99(swapping), len(steady), len(swapping))

	// A broken replacement keeps the old version serving.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.wasm"), []byte("\x00asm\x01\x00\x00\x00garbage"), 0o644))
	waitFor(t, 10*time.Second, func() bool { return h.Blocks()[0].LastError != "" })
	assert.Equal(t, host.StatusSuccess, run(t, h, host.StepRequest{Type: "x.b"}).Status)
	assert.Equal(t, "v2", h.Blocks()[0].Version)

	// Deletion drains, then unloads.
	done := make(chan host.StepResult)
	writeBlock(t, dir, "s", filepath.Join(src, "sleep.wasm"), "version: v1\ntypes: [x.s]\nisolation: shared\n")
	waitFor(t, 10*time.Second, func() bool { return len(h.Blocks()) == 2 })
	go func() {
		res, _ := h.Execute(context.Background(), host.StepRequest{Type: "x.s", Inputs: map[string]string{"ms": "300"}})
		done <- res
	}()
	waitFor(t, 5*time.Second, func() bool { return h.InFlight() == 1 })
	require.NoError(t, os.Remove(filepath.Join(dir, "s.wasm")))
	waitFor(t, 10*time.Second, func() bool { return len(h.Blocks()) == 1 })
	_, err := h.Execute(context.Background(), host.StepRequest{Type: "x.s"})
	require.ErrorIs(t, err, host.ErrUnknownType)
	assert.Equal(t, host.StatusSuccess, (<-done).Status, "the step in flight finished on the deleted block")
}

// BenchmarkHotReloadSwap measures step latency while a block is replaced
// under load from six goroutines: p99 before and during the swap.
func BenchmarkHotReloadSwap(b *testing.B) {
	for range b.N {
		h := newHost(b, host.Config{ReloadDebounce: 50 * time.Millisecond})
		steady, swapping, failed := swapUnderLoad(b, h, b.TempDir())
		if failed > 0 {
			b.Fatalf("%d steps failed during the swap", failed)
		}
		sp, wp := p99(steady), p99(swapping)
		b.ReportMetric(float64(sp.Microseconds()), "p99-steady-µs")
		b.ReportMetric(float64(wp.Microseconds()), "p99-swap-µs")
		b.ReportMetric(float64(wp)/float64(sp), "swap/steady")
	}
}
