package fscap

import (
	"context"
	"errors"
	"io"
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

func TestPutGetStatListDelete(t *testing.T) {
	for _, flags := range []string{"cp1", "cp2"} {
		t.Run(flags, func(t *testing.T) {
			cfg := Config{}
			if flags == "cp2" {
				cfg.Features.CompleteTimeout, cfg.Features.CircuitBreaker = true, true
			}
			s, g := newStore(t, cfg)
			ctx := context.Background()

			n, err := s.Put(ctx, g, "", "a/b/c.txt", strings.NewReader("hello"))
			if err != nil || n != 5 {
				t.Fatalf("put: %d, %v", n, err)
			}
			put(t, s, g, "a/x", "x")
			put(t, s, g, "top", "")
			if got, err := get(t, s, g, "a/b/c.txt"); err != nil || got != "hello" {
				t.Fatalf("get: %q, %v", got, err)
			}
			if got, err := get(t, s, g, "top"); err != nil || got != "" {
				t.Fatalf("get empty: %q, %v", got, err)
			}
			info, err := s.Stat(ctx, g, "", "a/b/c.txt")
			if err != nil || info.Key != "a/b/c.txt" || info.Size != 5 || info.ModifiedUnixMS == 0 {
				t.Fatalf("stat: %+v, %v", info, err)
			}
			for prefix, want := range map[string][]string{
				"":      {"a/b/c.txt", "a/x", "top"},
				"a/":    {"a/b/c.txt", "a/x"},
				"a":     {"a/b/c.txt", "a/x"},
				"a/b":   {"a/b/c.txt"},
				"a/b/c": {"a/b/c.txt"},
				"t":     {"top"},
				"zz":    nil,
				"a/zz/": nil,
			} {
				list, err := s.List(ctx, g, "", prefix)
				if err != nil {
					t.Fatalf("list %q: %v", prefix, err)
				}
				var keys []string
				for _, bi := range list {
					keys = append(keys, bi.Key)
				}
				if !reflect.DeepEqual(keys, want) {
					t.Errorf("list %q: %v, want %v", prefix, keys, want)
				}
			}
			if err := s.Delete(ctx, g, "", "a/b/c.txt"); err != nil {
				t.Fatal(err)
			}
			_, err = get(t, s, g, "a/b/c.txt")
			wantCode(t, err, abi.NotFound)
			_, err = s.Stat(ctx, g, "", "a/b/c.txt")
			wantCode(t, err, abi.NotFound)
			wantCode(t, s.Delete(ctx, g, "", "a/b/c.txt"), abi.NotFound)
			if tmp := temps(t, g.Root); len(tmp) > 0 {
				t.Errorf("temp files left: %v", tmp)
			}
		})
	}
}

func TestCreateWriteCommit(t *testing.T) {
	s, g := newStore(t, Config{Features: featuresAll()})
	ctx := context.Background()
	put(t, s, g, "k", "old")
	w, err := s.Create(ctx, g, "", "k")
	if err != nil {
		t.Fatal(err)
	}
	big := pattern(3*chunkSize+17, 'z')
	for off := 0; off < len(big); off += 1000 {
		if _, err := w.Write(big[off:min(off+1000, len(big))]); err != nil {
			t.Fatal(err)
		}
		if off == chunkSize*2 {
			// Not visible before Commit.
			if got, _ := get(t, s, g, "k"); got != "old" {
				t.Fatalf("mid-write read %d bytes", len(got))
			}
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	w.Abort() // no-op after Commit
	if got, err := get(t, s, g, "k"); err != nil || got != string(big) {
		t.Fatalf("after commit: %d bytes, %v", len(got), err)
	}
	wantCode(t, w.Commit(ctx), abi.BadHandle)
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after commit")
	}

	// Abort discards.
	w, err = s.Create(ctx, g, "", "k")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(pattern(chunkSize+1, 'q'))
	w.Abort()
	w.Abort()
	wantCode(t, w.Commit(ctx), abi.BadHandle)
	if got, _ := get(t, s, g, "k"); got != string(big) {
		t.Fatal("abort changed the blob")
	}
	if tmp := temps(t, g.Root); len(tmp) > 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
}

func featuresAll() (f policy.Features) {
	f.CompleteTimeout, f.CircuitBreaker, f.Cancellation = true, true, true
	return f
}

func TestPerTenant(t *testing.T) {
	s, g := newStore(t, Config{})
	g.PerTenant = true
	ctx := context.Background()
	if _, err := s.Put(ctx, g, "t1", "k", strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, g, "t2", "k", strings.NewReader("two")); err != nil {
		t.Fatal(err)
	}
	if got := files(t, g.Root); !reflect.DeepEqual(got, []string{"t1/k", "t2/k"}) {
		t.Fatalf("layout %v", got)
	}
	r, _, err := s.Open(ctx, g, "t2", "k")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "two" {
		t.Fatalf("t2 read %q", b)
	}
	list, err := s.List(ctx, g, "t1", "")
	if err != nil || len(list) != 1 || list[0].Key != "k" {
		t.Fatalf("list t1: %+v, %v", list, err)
	}
	for _, tenant := range []string{"", "..", "a/b", "x y"} {
		_, err := s.Put(ctx, g, tenant, "k", strings.NewReader("x"))
		if err == nil {
			t.Errorf("tenant %q accepted", tenant)
		}
	}
	_, _, err = s.Open(ctx, g, "", "k")
	wantCode(t, err, abi.Denied)
	_, _, err = s.Open(ctx, g, "t1/../t2", "k")
	wantCode(t, err, abi.Denied)
}

func TestReadOnly(t *testing.T) {
	s, g := newStore(t, Config{})
	put(t, s, g, "k", "v")
	g.ReadOnly = true
	ctx := context.Background()
	_, err := s.Put(ctx, g, "", "k", strings.NewReader("x"))
	wantCode(t, err, abi.Denied)
	if !errors.Is(err, ErrReadOnly) {
		t.Errorf("%v does not wrap ErrReadOnly", err)
	}
	_, err = s.Create(ctx, g, "", "k2")
	wantCode(t, err, abi.Denied)
	wantCode(t, s.Delete(ctx, g, "", "k"), abi.Denied)
	if got, err := get(t, s, g, "k"); err != nil || got != "v" {
		t.Fatalf("read-only read: %q, %v", got, err)
	}
	if _, err := s.List(ctx, g, "", ""); err != nil {
		t.Fatal(err)
	}
}

// TestJailTable: traversal, absolute paths and symbolic links out of the
// root are refused by every operation; links that stay inside work.
func TestJailTable(t *testing.T) {
	s, g := newStore(t, Config{Features: featuresAll()})
	outside := mkdirTemp(t, "outside")
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	put(t, s, g, "in/ok", "ok")
	for name, target := range map[string]string{
		"out":      outside,
		"outfile":  filepath.Join(outside, "secret"),
		"climb":    "../../outside",
		"absin":    filepath.Join(g.Root, "in"),
		"link-ok":  "in/ok",
		"linkdir":  "in",
		"in/back":  "../in/ok",
		"in/climb": "../../outside/secret",
	} {
		if err := os.Symlink(target, filepath.Join(g.Root, name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	type op struct {
		name string
		do   func(key string) error
	}
	ops := []op{
		{"open", func(k string) error { r, _, err := s.Open(ctx, g, "", k); closeIf(r); return err }},
		{"stat", func(k string) error { _, err := s.Stat(ctx, g, "", k); return err }},
		{"put", func(k string) error { _, err := s.Put(ctx, g, "", k, strings.NewReader("pwned")); return err }},
		{"create", func(k string) error {
			w, err := s.Create(ctx, g, "", k)
			if err == nil {
				w.Write([]byte("pwned"))
				err = w.Commit(ctx)
			}
			return err
		}},
		{"delete", func(k string) error { return s.Delete(ctx, g, "", k) }},
	}
	refused := map[string]abi.Code{
		"../outside/secret":                     abi.Denied,
		"/etc/passwd":                           abi.Denied,
		"a/../../x":                             abi.Denied,
		`..\x`:                                  abi.Denied,
		"out/secret":                            abi.Denied,
		"climb/secret":                          abi.Denied,
		"absin/ok":                              abi.Denied,
		"a//b":                                  abi.InvalidArgument,
		"a/./b":                                 abi.InvalidArgument,
		"a\x00b":                                abi.InvalidArgument,
		"":                                      abi.InvalidArgument,
		sandbox.TempPrefix + "0000000000000000": abi.InvalidArgument,
	}
	for key, want := range refused {
		for _, o := range ops {
			err := o.do(key)
			var e *Error
			if !errors.As(err, &e) || e.C != want {
				t.Errorf("%s %q: %v, want %v", o.name, key, err, want)
			}
			if err != nil && strings.Contains(err.Error(), outside) {
				t.Errorf("%s %q: message leaks a host path: %v", o.name, key, err)
			}
		}
	}
	// A key that is itself a link leading out: reading it is refused, while
	// a put replaces the link (a rename never follows it) and a delete
	// removes the link, both inside the root.
	for _, k := range []string{"outfile", "in/climb"} {
		_, err := get(t, s, g, k)
		wantCode(t, err, abi.Denied)
		_, err = s.Stat(ctx, g, "", k)
		wantCode(t, err, abi.Denied)
	}
	wantCode(t, s.Delete(ctx, g, "", "in/climb"), abi.None)
	put(t, s, g, "outfile", "replaced")
	if got, err := get(t, s, g, "outfile"); err != nil || got != "replaced" {
		t.Fatalf("outfile after put: %q, %v", got, err)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" {
		t.Fatalf("outside file changed: %q", b)
	}
	if got := files(t, outside); !reflect.DeepEqual(got, []string{"secret"}) {
		t.Fatalf("files created outside: %v", got)
	}
	for _, k := range []string{"link-ok", "linkdir/ok", "in/back"} {
		if got, err := get(t, s, g, k); err != nil || got != "ok" {
			t.Errorf("inside link %q: %q, %v", k, got, err)
		}
	}
	// List shows blobs and inside links to blobs, nothing through the
	// escaping links, and does not loop.
	list, err := s.List(ctx, g, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, bi := range list {
		keys = append(keys, bi.Key)
	}
	if want := []string{"in/back", "in/ok", "link-ok", "outfile"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("list %v, want %v", keys, want)
	}
	// Prefixes are checked too.
	_, err = s.List(ctx, g, "", "../")
	wantCode(t, err, abi.Denied)
}

func closeIf(r io.Closer) {
	if r != nil {
		r.Close()
	}
}

func TestKeyConflicts(t *testing.T) {
	s, g := newStore(t, Config{})
	ctx := context.Background()
	put(t, s, g, "a/b", "x")
	// A key under a blob, and a key naming a directory of keys.
	_, err := s.Put(ctx, g, "", "a/b/c", strings.NewReader("y"))
	wantCode(t, err, abi.InvalidArgument)
	_, err = s.Put(ctx, g, "", "a", strings.NewReader("y"))
	wantCode(t, err, abi.InvalidArgument)
	_, err = get(t, s, g, "a")
	wantCode(t, err, abi.NotFound)
	_, err = s.Stat(ctx, g, "", "a")
	wantCode(t, err, abi.NotFound)
	wantCode(t, s.Delete(ctx, g, "", "a"), abi.NotFound)
	_, err = get(t, s, g, "a/b/c")
	wantCode(t, err, abi.NotFound)
	if tmp := temps(t, g.Root); len(tmp) > 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
}

func TestListSkipsTempsAndLimits(t *testing.T) {
	s, g := newStore(t, Config{MaxListEntries: 3})
	ctx := context.Background()
	put(t, s, g, "d/a", "1")
	w, err := s.Create(ctx, g, "", "d/b") // a temp file in d/
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	os.WriteFile(filepath.Join(g.Root, "d", "bad name"), nil, 0o600)
	list, err := s.List(ctx, g, "", "d/")
	if err != nil || len(list) != 1 || list[0].Key != "d/a" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	for _, k := range []string{"d/c", "d/d", "d/e"} {
		put(t, s, g, k, "x")
	}
	_, err = s.List(ctx, g, "", "")
	wantCode(t, err, abi.LimitExceeded)
}

func TestRootUnavailable(t *testing.T) {
	s, _ := newStore(t, Config{})
	g := sandbox.FSGrant{Root: filepath.Join(t.TempDir(), "missing")}
	_, err := s.Put(context.Background(), g, "", "k", strings.NewReader("x"))
	wantCode(t, err, abi.IOError) // not NotFound: the root, not the blob, is missing
	if strings.Contains(err.Error(), g.Root) {
		t.Errorf("message leaks the host path: %v", err)
	}
	_, err = get(t, s, g, "k")
	wantCode(t, err, abi.IOError)
}

func TestErrorMapping(t *testing.T) {
	s, g := newStore(t, Config{Features: featuresAll()})
	ctx := context.Background()
	put(t, s, g, "k", "v")
	tests := []struct {
		errno error
		want  abi.Code
		fails bool
	}{
		{syscall.ENOENT, abi.NotFound, false},
		{syscall.EACCES, abi.Denied, true},
		{syscall.EPERM, abi.Denied, true},
		{syscall.ENOSPC, abi.IOError, true},
		{syscall.EDQUOT, abi.IOError, true},
		{syscall.EIO, abi.IOError, true},
		{syscall.EROFS, abi.IOError, true},
		{syscall.ENAMETOOLONG, abi.InvalidArgument, false},
		{context.Canceled, abi.Cancelled, false},
		{context.DeadlineExceeded, abi.Cancelled, false},
	}
	for _, tt := range tests {
		err := wrap(s.root(g.Root), "k", &os.PathError{Op: "open", Path: filepath.Join(g.Root, "k"), Err: tt.errno})
		wantCode(t, err, tt.want)
		if isFailure(err) != tt.fails {
			t.Errorf("%v: isFailure %v, want %v", tt.errno, !tt.fails, tt.fails)
		}
		if strings.Contains(err.Error(), g.Root) {
			t.Errorf("%v: message leaks the host path: %v", tt.errno, err)
		}
	}
	// Through the backend.
	f := NewFaults()
	s2, g2 := newStore(t, Config{Faults: f})
	put(t, s2, g2, "k", "v")
	for _, tt := range []struct {
		op    Op
		errno error
		want  abi.Code
	}{
		{OpOpen, syscall.EIO, abi.IOError},
		{OpRead, syscall.EIO, abi.IOError},
		{OpCreate, syscall.ENOSPC, abi.IOError},
		{OpWrite, syscall.ENOSPC, abi.IOError},
		{OpSync, syscall.EIO, abi.IOError},
		{OpRename, syscall.EACCES, abi.Denied},
		{OpCreate, syscall.EACCES, abi.Denied},
	} {
		f.Clear()
		f.Add(Fault{Op: tt.op, Err: tt.errno})
		var err error
		switch tt.op {
		case OpOpen, OpRead:
			_, err = get(t, s2, g2, "k")
		default:
			_, err = s2.Put(ctx, g2, "", "k", strings.NewReader(strings.Repeat("n", chunkSize+1)))
		}
		wantCode(t, err, tt.want)
		if !errors.Is(err, tt.errno) {
			t.Errorf("%s %v: %v does not wrap the errno", tt.op, tt.errno, err)
		}
		f.Clear()
		if got, _ := get(t, s2, g2, "k"); got != "v" {
			t.Errorf("%s %v: blob now %q", tt.op, tt.errno, got)
		}
		if tmp := temps(t, g2.Root); len(tmp) > 0 {
			t.Errorf("%s %v: temp files left: %v", tt.op, tt.errno, tmp)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	if _, err := New(Config{ReadTimeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
	if _, err := New(Config{MaxStuck: -1}); err == nil {
		t.Error("negative MaxStuck accepted")
	}
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.ReadTimeout != DefaultReadTimeout || c.WriteTimeout != DefaultWriteTimeout ||
		c.DeleteTimeout != DefaultDeleteTimeout || c.MaxStuck != 16 || c.MaxListEntries != 10000 {
		t.Errorf("defaults %+v", c)
	}
	if s.Breakers() != nil {
		t.Error("breakers listed with the flag off")
	}
}

func TestClosedStore(t *testing.T) {
	s, g := newStore(t, Config{})
	put(t, s, g, "k", "v")
	s.Close()
	_, err := get(t, s, g, "k")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
