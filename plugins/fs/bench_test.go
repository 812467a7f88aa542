package fscap

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// The 100 MB benchmarks compare the Store with plain file I/O in the same
// temp directory:
//
//	go test -run '^$' -bench 100MB -benchtime 5x ./plugins/fs/
//
// Put is a durable write (temp file, fsync, rename, directory fsync);
// PlainWrite is os write + fsync. Get and PlainRead copy into a 64 KiB
// buffer, as a guest's handle_read would. The cp2 variants run with the
// per-operation timeouts and breakers on (each disk operation in a
// goroutine), cp1 without.

const benchSize = 100 << 20

var benchModes = []struct {
	name  string
	feats policy.Features
}{
	{"cp1", policy.Features{}},
	{"cp2", policy.Features{CompleteTimeout: true, CircuitBreaker: true, Cancellation: true}},
}

func benchStore(b *testing.B, feats policy.Features) (*Store, sandbox.FSGrant) {
	s, err := New(Config{Features: feats})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, sandbox.FSGrant{Root: b.TempDir()}
}

func BenchmarkPut100MB(b *testing.B) {
	data := pattern(benchSize, 'p')
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			s, g := benchStore(b, m.feats)
			ctx, cancel := context.WithCancel(context.Background()) // a step's ctx can end
			defer cancel()
			b.SetBytes(benchSize)
			for b.Loop() {
				if _, err := s.Put(ctx, g, "", "bench/blob", bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPlainWrite100MB(b *testing.B) {
	data := pattern(benchSize, 'p')
	dir := b.TempDir()
	b.SetBytes(benchSize)
	for b.Loop() {
		f, err := os.Create(filepath.Join(dir, "plain"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func BenchmarkGet100MB(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) {
			s, g := benchStore(b, m.feats)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := s.Put(ctx, g, "", "bench/blob", bytes.NewReader(pattern(benchSize, 'g'))); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 64<<10)
			b.SetBytes(benchSize)
			for b.Loop() {
				r, _, err := s.Open(ctx, g, "", "bench/blob")
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.CopyBuffer(io.Discard, onlyReader{r}, buf); err != nil || n != benchSize {
					b.Fatal(n, err)
				}
				r.Close()
			}
		})
	}
}

func BenchmarkPlainRead100MB(b *testing.B) {
	p := filepath.Join(b.TempDir(), "plain")
	if err := os.WriteFile(p, pattern(benchSize, 'g'), 0o600); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	b.SetBytes(benchSize)
	for b.Loop() {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.CopyBuffer(io.Discard, onlyReader{f}, buf); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		f.Close()
	}
}

// onlyReader hides WriterTo and the like, so both sides copy through the
// buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
