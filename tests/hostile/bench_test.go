package hostile

import (
	"context"
	"strconv"
	"testing"

	"github.com/tetratelabs/wazero"
)

// BenchmarkCompileControlShape compiles one function of n control
// instructions in the costliest shape measured (loopsModule), up to the
// host's default per-function limit of 10000: the time a compile the
// timeout refused may run on, and how it grows with n (4 to 5 times for
// twice n).
//
//	go test -run '^$' -bench CompileControlShape ./tests/hostile
func BenchmarkCompileControlShape(b *testing.B) {
	for _, n := range []int{2500, 5000, 10000} {
		wasm := loopsModule(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
				if _, err := r.CompileModule(ctx, wasm); err != nil {
					b.Fatal(err)
				}
				r.Close(ctx)
			}
		})
	}
}
