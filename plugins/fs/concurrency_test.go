package fscap

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beamline/blockhost/policy"
)

// TestReadersNeverSeePartialBlob: while writers keep replacing a blob with
// versions of different sizes, each made of one repeated byte, every reader
// sees one whole version: its size matches the bytes read and all bytes are
// the same.
func TestReadersNeverSeePartialBlob(t *testing.T) {
	for _, feats := range []policy.Features{{}, featuresAll()} {
		t.Run(feats.String(), func(t *testing.T) {
			s, g := newStore(t, Config{Features: feats})
			ctx := context.Background()
			put(t, s, g, "hot/blob", "a")
			var stop atomic.Bool
			var reads, writes atomic.Int64
			var wg sync.WaitGroup
			for w := range 2 {
				wg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						size := 1 + (i*7919+w*104729)%(3*chunkSize)
						b := byte('a' + (i+w)%26)
						var err error
						if i%2 == 0 {
							_, err = s.Put(ctx, g, "", "hot/blob", bytes.NewReader(pattern(size, b)))
						} else {
							var wr Writer
							if wr, err = s.Create(ctx, g, "", "hot/blob"); err == nil {
								for off := 0; off < size; off += 10000 {
									wr.Write(pattern(min(10000, size-off), b))
								}
								err = wr.Commit(ctx)
							}
						}
						if err != nil {
							t.Error(err)
							return
						}
						writes.Add(1)
					}
				})
			}
			for range 4 {
				wg.Go(func() {
					buf := make([]byte, 32<<10)
					for !stop.Load() {
						r, size, err := s.Open(ctx, g, "", "hot/blob")
						if err != nil {
							t.Error(err)
							return
						}
						var got bytes.Buffer
						_, err = io.CopyBuffer(&got, r, buf)
						r.Close()
						if err != nil {
							t.Error(err)
							return
						}
						b := got.Bytes()
						if int64(len(b)) != size || len(b) == 0 || !bytes.Equal(b, pattern(len(b), b[0])) {
							t.Errorf("read a mixed or partial blob: %d bytes (size %d)", len(b), size)
							return
						}
						reads.Add(1)
					}
				})
			}
			time.Sleep(time.Second)
			stop.Store(true)
			wg.Wait()
			if writes.Load() < 4 || reads.Load() < 4 {
				t.Fatalf("%d writes, %d reads", writes.Load(), reads.Load())
			}
			t.Logf("%d writes, %d reads", writes.Load(), reads.Load())
			if tmp := temps(t, g.Root); len(tmp) > 0 {
				t.Fatalf("temps %v", tmp)
			}
		})
	}
}

// TestHammerManyKeys: many goroutines put, read, stat, list and delete
// overlapping keys; nothing is left but whole blobs.
func TestHammerManyKeys(t *testing.T) {
	s, g := newStore(t, Config{Features: featuresAll(), MaxStuck: 4})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 60 {
				key := fmt.Sprintf("d%d/k%d", i%3, (i+w)%5)
				switch (i + w) % 4 {
				case 0, 1:
					b := byte('a' + w)
					if _, err := s.Put(ctx, g, "", key, bytes.NewReader(pattern(100+i, b))); err != nil {
						t.Error(err)
					}
				case 2:
					if got, err := readAll(s, g, key); err == nil && !bytes.Equal([]byte(got), pattern(len(got), got[0])) {
						t.Errorf("mixed blob %q", key)
					}
					s.List(ctx, g, "", "d")
				case 3:
					s.Delete(ctx, g, "", key)
					s.Stat(ctx, g, "", key)
				}
			}
		})
	}
	wg.Wait()
	if tmp := temps(t, g.Root); len(tmp) > 0 {
		t.Fatalf("temps %v", tmp)
	}
	if n := s.stuckOn(g.Root); n != 0 {
		t.Fatalf("%d stuck", n)
	}
}
