package fscap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/sandbox"
)

// newStore returns a Store on cfg with its roots closed at the end of the
// test, and a fresh root directory.
func newStore(t testing.TB, cfg Config) (*Store, sandbox.FSGrant) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	root := filepath.Join(t.TempDir(), "blobs")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	return s, sandbox.FSGrant{Root: root}
}

// mkdirTemp returns a new directory named name under a test temp dir.
func mkdirTemp(t testing.TB, name string) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// wantCode fails unless err is an *Error with code want.
func wantCode(t testing.TB, err error, want abi.Code) {
	t.Helper()
	var e *Error
	switch {
	case want == abi.None && err == nil:
	case want == abi.None:
		t.Fatalf("error %v, want none", err)
	case !errors.As(err, &e):
		t.Fatalf("error %v (%T), want an *Error with code %v", err, err, want)
	case e.C != want:
		t.Fatalf("code %v (%v), want %v", e.C, err, want)
	}
}

func put(t testing.TB, s *Store, g sandbox.FSGrant, key, data string) {
	t.Helper()
	if _, err := s.Put(context.Background(), g, "", key, strings.NewReader(data)); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

func get(t testing.TB, s *Store, g sandbox.FSGrant, key string) (string, error) {
	t.Helper()
	return readAll(s, g, key)
}

// readAll reads blob key; a size that does not match the bytes read is an
// error.
func readAll(s *Store, g sandbox.FSGrant, key string) (string, error) {
	r, size, err := s.Open(context.Background(), g, "", key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err == nil && int64(len(b)) != size {
		return "", fmt.Errorf("get %q: read %d bytes, size said %d", key, len(b), size)
	}
	return string(b), err
}

// files lists every file under dir (relative, slash-separated), temp
// files included.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// temps lists the temp files under dir.
func temps(t testing.TB, dir string) []string {
	var out []string
	for _, f := range files(t, dir) {
		if strings.HasPrefix(filepath.Base(f), sandbox.TempPrefix) {
			out = append(out, f)
		}
	}
	return out
}

// checkFor polls cond until it returns nil or total passes.
func checkFor(t testing.TB, total time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stuck returns the number of stuck goroutines of root dir.
func (s *Store) stuckOn(dir string) int { return int(s.root(dir).stuck.Load()) }

// slowReader yields data in small pieces, calling hook before each.
type slowReader struct {
	data []byte
	hook func(off int)
	off  int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	if r.hook != nil {
		r.hook(r.off)
	}
	n := copy(p[:min(len(p), 64<<10)], r.data[r.off:])
	r.off += n
	return n, nil
}

func pattern(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
