package sandbox

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beamline/blockhost/abi"
)

func TestCheckBlobKey(t *testing.T) {
	tests := []struct {
		key  string
		want abi.Code // None: accepted
	}{
		{"a", abi.None},
		{"a/b/c.txt", abi.None},
		{"A-Z_0.9/x", abi.None},
		{".hidden", abi.None},
		{"..a", abi.None},
		{"a..", abi.None},
		{strings.Repeat("a", MaxBlobSegmentLen), abi.None},
		{strings.Repeat("a/", MaxBlobKeyLen/2-1) + "bb", abi.None},

		{"", abi.InvalidArgument},
		{"a//b", abi.InvalidArgument},
		{"a/", abi.InvalidArgument},
		{".", abi.InvalidArgument},
		{"a/./b", abi.InvalidArgument},
		{"a b", abi.InvalidArgument},
		{"a\x00b", abi.InvalidArgument},
		{"é", abi.InvalidArgument},
		{"a:b", abi.InvalidArgument},
		{"a\nb", abi.InvalidArgument},
		{strings.Repeat("a", MaxBlobSegmentLen+1), abi.InvalidArgument},
		{strings.Repeat("a/", MaxBlobKeyLen/2) + "b", abi.InvalidArgument},
		{TempPrefix + "0123456789abcdef", abi.InvalidArgument},
		{"dir/" + TempPrefix + "x", abi.InvalidArgument},

		{"/etc/passwd", abi.Denied},
		{"..", abi.Denied},
		{"../x", abi.Denied},
		{"a/../../x", abi.Denied},
		{"a/..", abi.Denied},
		{`a\..\b`, abi.Denied},
		{`C:\x`, abi.Denied},
		{"/../x", abi.Denied},
		{"a/../b\x00", abi.Denied},
	}
	for _, tt := range tests {
		err := CheckBlobKey(tt.key)
		var ke *KeyError
		switch {
		case tt.want == abi.None && err != nil:
			t.Errorf("CheckBlobKey(%q) = %v, want nil", tt.key, err)
		case tt.want == abi.None:
		case !errors.As(err, &ke):
			t.Errorf("CheckBlobKey(%q) = %v, want a *KeyError", tt.key, err)
		case ke.Code() != tt.want:
			t.Errorf("CheckBlobKey(%q) code %v (%v), want %v", tt.key, ke.Code(), err, tt.want)
		}
	}
}

func TestCheckBlobPrefix(t *testing.T) {
	ok := []string{"", "a", "a/", "a/b", "a/b/", "a/.", "a/.h"}
	for _, p := range ok {
		if err := CheckBlobPrefix(p); err != nil {
			t.Errorf("CheckBlobPrefix(%q) = %v", p, err)
		}
	}
	bad := map[string]abi.Code{
		"/":        abi.Denied,
		"../":      abi.Denied,
		"a/..":     abi.Denied,
		"a//":      abi.InvalidArgument,
		"a/./b":    abi.InvalidArgument,
		"a b":      abi.InvalidArgument,
		TempPrefix: abi.InvalidArgument,
	}
	for p, want := range bad {
		var ke *KeyError
		if err := CheckBlobPrefix(p); !errors.As(err, &ke) || ke.Code() != want {
			t.Errorf("CheckBlobPrefix(%q) = %v, want %v", p, err, want)
		}
	}
}

func TestBlobPath(t *testing.T) {
	g := FSGrant{Root: "/r"}
	if p, err := g.BlobPath("ignored", "a/b"); err != nil || p != "a/b" {
		t.Errorf("shared: %q, %v", p, err)
	}
	g.PerTenant = true
	if p, err := g.BlobPath("t-1", "a/b"); err != nil || p != "t-1/a/b" {
		t.Errorf("per tenant: %q, %v", p, err)
	}
	for _, tenant := range []string{"", "..", ".", "a/b", "/x", "a b", TempPrefix + "1"} {
		var ke *KeyError
		if _, err := g.BlobPath(tenant, "k"); !errors.As(err, &ke) || ke.Kind != "tenant id" {
			t.Errorf("tenant %q: %v, want a tenant id *KeyError", tenant, err)
		}
	}
	if _, err := g.BlobPath("t", "../k"); err == nil {
		t.Error("bad key accepted with a good tenant")
	}
}

func TestKeyErrorMessageIsBounded(t *testing.T) {
	err := CheckBlobKey(strings.Repeat("x", 5000))
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("message %d bytes: %v", len(err.Error()), err)
	}
}

// TestJailRefusesEscapes pins what os.Root refuses, and that IsEscape
// recognises it: if a Go release changes the error's text, this fails.
func TestJailRefusesEscapes(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "in")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(outside, "secret"), "secret")
	write(filepath.Join(root, "in", "ok"), "ok")
	links := map[string]string{
		"out-dir":     outside,                              // absolute, outside
		"out-file":    filepath.Join(outside, "secret"),     // absolute, outside
		"abs-in":      filepath.Join(root, "in"),            // absolute, even inside
		"climb":       "../outside",                         // relative, climbs out
		"climb-file":  "../outside/secret",                  // relative, climbs out
		"in/climb2":   "../../outside/secret",               // from a subdirectory
		"inside":      "in",                                 // relative, stays inside
		"inside-file": "in/ok",                              // relative, stays inside
		"loop":        "loop",                               // a loop
		"etc":         "/etc/passwd",                        // the classic
		"in/up-ok":    "../in/ok",                           // climbs, comes back
		"in/deep-out": "../../" + filepath.Base(base) + "/", // climbs above the root
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenJail(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	escapes := []string{
		"../outside/secret", "/etc/passwd", "out-dir/secret", "out-file", "abs-in/ok",
		"climb/secret", "climb-file", "in/climb2", "etc", "in/deep-out/outside/secret",
	}
	for _, p := range escapes {
		if f, err := r.Open(p); err == nil {
			f.Close()
			t.Errorf("open %q: escaped the jail", p)
		} else if !IsEscape(err) {
			t.Errorf("open %q: %v, want an escape IsEscape recognises", p, err)
		}
		if _, err := r.Stat(p); err == nil || !IsEscape(err) {
			t.Errorf("stat %q: %v, want an escape", p, err)
		}
	}
	// Writes through an escaping link are refused too.
	if f, err := r.OpenFile("out-dir/new", os.O_WRONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
		t.Error("create through out-dir escaped")
	} else if !IsEscape(err) {
		t.Errorf("create through out-dir: %v", err)
	}
	if err := r.Rename("in/ok", "out-dir/stolen"); err == nil || !IsEscape(err) {
		t.Errorf("rename out: %v", err)
	}
	if err := r.Remove("out-dir/secret"); err == nil || !IsEscape(err) {
		t.Errorf("remove through link: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "secret")); err != nil {
		t.Errorf("outside file touched: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file created outside: %v", err)
	}

	// Links that stay inside work.
	for _, p := range []string{"inside/ok", "inside-file", "in/up-ok"} {
		b, err := r.ReadFile(p)
		if err != nil || string(b) != "ok" {
			t.Errorf("read %q: %q, %v", p, b, err)
		}
	}
	// A loop is refused, not followed forever.
	if _, err := r.Open("loop"); err == nil {
		t.Error("loop opened")
	}
	// Ordinary errors are not escapes.
	if _, err := r.Open("missing"); err == nil || IsEscape(err) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if IsEscape(nil) || IsEscape(errors.New("other")) {
		t.Error("IsEscape of an unrelated error")
	}
}

func TestOpenJailMissing(t *testing.T) {
	if _, err := OpenJail(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}
