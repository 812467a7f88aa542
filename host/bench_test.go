package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beamline/blockhost/internal/testblocks"
	"github.com/beamline/blockhost/sandbox"
)

// benchHost returns a host with noop loaded.
func benchHost(b *testing.B) *Host {
	b.Helper()
	h, err := New(Config{CacheDir: testblocks.CacheDir(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(context.Background()) })
	if _, err := h.LoadFile(context.Background(), filepath.Join(testblocks.Dir(b), "noop.wasm")); err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkExecuteNoop is Execute of noop through the whole host: request
// checks, admission, a pooled instance, an interruptible call with the
// step's deadline, the result and metrics.
func BenchmarkExecuteNoop(b *testing.B) {
	h := benchHost(b)
	ctx := context.Background()
	req := StepRequest{Type: "noop", Inputs: map[string]string{"k": "0123456789abcdef"}}
	if res, err := h.Execute(ctx, req); err != nil || res.Status != StatusSuccess {
		b.Fatal(res, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.Execute(ctx, req)
	}
}

// BenchmarkExecuteNoopParallel is the same from many goroutines.
func BenchmarkExecuteNoopParallel(b *testing.B) {
	h := benchHost(b)
	req := StepRequest{Type: "noop"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Execute(context.Background(), req)
		}
	})
}

// BenchmarkRawCall is the baseline: the same export of noop called on one
// cached instance straight through wazero, in a runtime with interruption
// (the call gets a deadline as a step does) and in one without.
func BenchmarkRawCall(b *testing.B) {
	wasm, err := os.ReadFile(filepath.Join(testblocks.Dir(b), "noop.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	for _, interruptible := range []bool{true, false} {
		name := "interruptible"
		if !interruptible {
			name = "uninterruptible"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			h, err := New(Config{CacheDir: testblocks.CacheDir(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(ctx)
			rt, err := h.newRuntime(ctx, interruptible)
			if err != nil {
				b.Fatal(err)
			}
			defer rt.r.Close(ctx)
			cm, err := h.compile(ctx, rt, wasm, 512)
			if err != nil {
				b.Fatal(err)
			}
			blk := &block{host: h, name: "noop", rt: rt, compiled: cm, entry: "blockhost_run_v1", memPages: 512,
				isolation: sandbox.IsolationShared}
			inst, err := blk.instantiate(ctx, "")
			if err != nil {
				b.Fatal(err)
			}
			fn := inst.mod.ExportedFunction("blockhost_run_v1")
			stack := make([]uint64, 1)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if interruptible {
					cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					err = fn.CallWithStack(cctx, stack)
					cancel()
				} else {
					err = fn.CallWithStack(ctx, stack)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkInterruption runs a compute-heavy block (1e6 loop iterations a
// step) with guest interruption at the deadline and with the block opted
// out of it (as its operator may allow): the cost of interruption on guest
// loops.
func BenchmarkInterruption(b *testing.B) {
	wasm, err := os.ReadFile(filepath.Join(testblocks.Dir(b), "compute.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	for _, interrupt := range []bool{true, false} {
		name := "interrupted"
		if !interrupt {
			name = "opted-out"
		}
		b.Run(name, func(b *testing.B) {
			h, err := New(Config{CacheDir: testblocks.CacheDir(b),
				Blocks: map[string]BlockPolicy{"compute": {AllowNoInterrupt: true}}})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(context.Background())
			m := sandbox.Manifest{Name: "compute", Types: []string{"test.compute"}, Interrupt: &interrupt}
			if _, err := h.LoadBlock(context.Background(), wasm, m); err != nil {
				b.Fatal(err)
			}
			req := StepRequest{Type: "test.compute"}
			for b.Loop() {
				res, err := h.Execute(context.Background(), req)
				if err != nil || res.Status != StatusSuccess {
					b.Fatal(res, err)
				}
			}
		})
	}
}

// loadBenchBlocks are ten Go blocks that need no capability grant.
var loadBenchBlocks = []string{"noop", "text_uppercase", "echo", "compute", "counter", "fail", "flood", "handles", "loop", "sleep"}

// loadBlocks starts a host on cacheDir, loads the ten blocks and closes it.
func loadBlocks(b *testing.B, dir, cacheDir string) {
	h, err := New(Config{CacheDir: cacheDir})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	for _, name := range loadBenchBlocks {
		if _, err := h.LoadFile(context.Background(), filepath.Join(dir, name+".wasm")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad10GoBlocks is the time for a host to start and load ten Go
// blocks (2.3–3.5 MB modules each) with a cold compilation cache (an empty
// directory: every block is compiled to native code and written to it) and
// with a warm one (the native code is read back).
func BenchmarkLoad10GoBlocks(b *testing.B) {
	dir := testblocks.Dir(b)
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			cache := b.TempDir()
			b.StartTimer()
			loadBlocks(b, dir, cache)
		}
	})
	b.Run("warm", func(b *testing.B) {
		cache := b.TempDir()
		loadBlocks(b, dir, cache)
		for b.Loop() {
			loadBlocks(b, dir, cache)
		}
	})
}
