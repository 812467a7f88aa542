package fscap_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	fscap "github.com/beamline/blockhost/plugins/fs"
	"github.com/beamline/blockhost/sandbox"
)

func Example() {
	dir, _ := os.MkdirTemp("", "blobs")
	defer os.RemoveAll(dir)
	s, _ := fscap.New(fscap.Config{})
	defer s.Close()
	g := sandbox.FSGrant{Root: dir, PerTenant: true}
	ctx := context.Background()

	n, _ := s.Put(ctx, g, "acme", "reports/q1.txt", strings.NewReader("revenue up"))
	r, size, _ := s.Open(ctx, g, "acme", "reports/q1.txt")
	b, _ := io.ReadAll(r)
	r.Close()
	fmt.Println(n, size, string(b))

	_, err := s.Put(ctx, g, "acme", "../other/x", strings.NewReader("no"))
	fmt.Println(err)
	// Output:
	// 10 10 revenue up
	// blob key "../other/x": has a ".." segment
}

// Faults make the disk fail for a test (here with ENOSPC on every write).
func ExampleFaults() {
	tmp, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "blobs")
	os.Mkdir(dir, 0o700)
	faults := fscap.NewFaults()
	faults.Add(fscap.Fault{Op: fscap.OpWrite, Err: syscall.ENOSPC})
	s, _ := fscap.New(fscap.Config{Faults: faults})
	defer s.Close()

	_, err := s.Put(context.Background(), sandbox.FSGrant{Root: dir}, "", "k", strings.NewReader("data"))
	fmt.Println(err.(*fscap.Error).Code(), err)
	// Output:
	// IO_ERROR blob "k" in fs root "blobs": no space left on device
}
