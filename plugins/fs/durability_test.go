package fscap

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// durableOps keeps the operations that make a put durable, collapsing
// consecutive writes.
func durableOps(tr []Event) (ops []Op, evs []Event) {
	for _, e := range tr {
		switch e.Op {
		case OpWrite, OpSync, OpRename, OpSyncDir:
			if e.Op == OpWrite && len(ops) > 0 && ops[len(ops)-1] == OpWrite {
				continue
			}
			ops, evs = append(ops, e.Op), append(evs, e)
		}
	}
	return ops, evs
}

// TestDurabilityOrder: a put writes a temp file in its key's directory,
// fsyncs it, renames it over the key, then fsyncs the directory (and the
// parents of directories it created) before returning.
func TestDurabilityOrder(t *testing.T) {
	for _, feats := range []policy.Features{{}, featuresAll()} {
		t.Run(feats.String(), func(t *testing.T) {
			f := NewFaults()
			s, g := newStore(t, Config{Faults: f, Features: feats})
			ctx := context.Background()
			data := pattern(2*chunkSize+5, 'd')

			// Existing directory: one directory fsync.
			put(t, s, g, "a/b/k", "old")
			f.StartTrace()
			if _, err := s.Put(ctx, g, "", "a/b/k", bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			ops, evs := durableOps(f.Trace())
			if want := []Op{OpWrite, OpSync, OpRename, OpSyncDir}; !reflect.DeepEqual(ops, want) {
				t.Fatalf("order %v, want %v", ops, want)
			}
			tmp := evs[0].Name
			if filepath.Dir(tmp) != "a/b" || !strings.HasPrefix(filepath.Base(tmp), sandbox.TempPrefix) ||
				evs[1].Name != tmp || evs[2].Name != "a/b/k" || evs[3].Name != "a/b" {
				t.Fatalf("names %+v", evs)
			}

			// New directories: the blob's directory, then the parents of
			// those created, before Put returns.
			f.StartTrace()
			if _, err := s.Put(ctx, g, "", "x/y/z/k", bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			ops, evs = durableOps(f.Trace())
			if want := []Op{OpWrite, OpSync, OpRename, OpSyncDir, OpSyncDir, OpSyncDir, OpSyncDir}; !reflect.DeepEqual(ops, want) {
				t.Fatalf("order %v, want %v", ops, want)
			}
			var dirs []string
			for _, e := range evs[3:] {
				dirs = append(dirs, e.Name)
			}
			if want := []string{"x/y/z", "x/y", "x", "."}; !reflect.DeepEqual(dirs, want) {
				t.Fatalf("fsynced %v, want %v", dirs, want)
			}

			// The writer API follows the same order at Commit.
			w, err := s.Create(ctx, g, "", "a/b/k")
			if err != nil {
				t.Fatal(err)
			}
			w.Write(data)
			f.StartTrace()
			if err := w.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if ops, _ := durableOps(f.Trace()); !reflect.DeepEqual(ops, []Op{OpWrite, OpSync, OpRename, OpSyncDir}) {
				t.Fatalf("commit order %v", ops)
			}
			if got, _ := get(t, s, g, "a/b/k"); got != string(data) {
				t.Fatal("content")
			}
		})
	}
}

// TestFailureAtEachStep: a put that fails at any step before the rename
// leaves the old blob and no temp file; one whose directory fsync fails has
// replaced it but says it is not durable.
func TestFailureAtEachStep(t *testing.T) {
	for _, op := range []Op{OpMkdir, OpCreate, OpWrite, OpSync, OpClose, OpRename, OpSyncDir} {
		t.Run(string(op), func(t *testing.T) {
			f := NewFaults()
			s, g := newStore(t, Config{Faults: f, Features: featuresAll()})
			ctx := context.Background()
			put(t, s, g, "d/k", "old")
			key := "d/k"
			if op == OpMkdir {
				key = "new/k"
			}
			f.Add(Fault{Op: op, Err: syscall.EIO})
			_, err := s.Put(ctx, g, "", key, bytes.NewReader(pattern(chunkSize+1, 'n')))
			wantCode(t, err, abi.IOError)
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("%v does not wrap EIO", err)
			}
			f.Clear()
			got, _ := get(t, s, g, key)
			switch op {
			case OpSyncDir:
				if len(got) != chunkSize+1 || !strings.Contains(err.Error(), "not yet durable") {
					t.Errorf("after fsync-dir failure: %d bytes, %v", len(got), err)
				}
			case OpMkdir:
				if got != "" {
					t.Errorf("blob created: %q", got)
				}
			default:
				if got != "old" {
					t.Errorf("blob changed: %d bytes", len(got))
				}
			}
			if tmp := temps(t, g.Root); len(tmp) > 0 {
				t.Errorf("temp files left: %v", tmp)
			}
		})
	}
}

// TestSweep removes temp files a crash left, at any depth, and leaves those
// of writes in flight.
func TestSweep(t *testing.T) {
	s, g := newStore(t, Config{Features: featuresAll()})
	ctx := context.Background()
	put(t, s, g, "a/b/k", "v")
	leftovers := []string{
		sandbox.TempPrefix + "0123456789abcdef",
		"a/" + sandbox.TempPrefix + "00000000deadbeef",
		"a/b/" + sandbox.TempPrefix + "ffffffffffffffff",
	}
	for _, p := range leftovers {
		if err := os.WriteFile(filepath.Join(g.Root, p), []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w, err := s.Create(ctx, g, "", "a/b/inflight")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("in flight"))
	n, err := s.Sweep(g.Root)
	if err != nil || n != len(leftovers) {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if tmp := temps(t, g.Root); len(tmp) != 1 || filepath.Dir(tmp[0]) != "a/b" {
		t.Fatalf("temps after sweep: %v", tmp)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("commit after sweep: %v", err)
	}
	if got := files(t, g.Root); !reflect.DeepEqual(got, []string{"a/b/inflight", "a/b/k"}) {
		t.Fatalf("files %v", got)
	}
	// A fresh Store (after a crash) sweeps everything.
	os.WriteFile(filepath.Join(g.Root, "a", sandbox.TempPrefix+"1111111111111111"), nil, 0o600)
	s2, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, err := s2.Sweep(g.Root); n != 1 || err != nil {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
	if _, err := s2.Sweep(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("sweep of a missing root")
	}
}
