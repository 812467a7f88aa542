// Package testblocks builds the example blocks (examples/blocks/*) and the
// test blocks (tests/blocks/*) for tests in other packages, once per state
// of their sources, into a directory shared by every test binary on the
// machine:
//
//	dir := testblocks.Dir(t) // NAME.wasm and NAME.yaml for every block
//	cfg := host.Config{CacheDir: testblocks.CacheDir(t)}
//
// Building a Go block takes a second or more; test packages running at the
// same time wait on a file lock for the first one to finish instead of
// building twice. Dir, CacheDir and FixturesDir are safe for concurrent use.
package testblocks

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Module is the module path the blocks belong to.
const Module = "github.com/beamline/blockhost"

// format versions what Dir writes; bump it when the layout or the
// generated manifests change.
const format = "1"

// blockRoots are the directories, relative to the module root, whose
// subdirectories are blocks.
var blockRoots = []string{"examples/blocks", "tests/blocks"}

// sourceRoots are hashed along with the blocks: the SDK and what it
// imports.
var sourceRoots = []string{"abi", "go.mod", "go.sum"}

var (
	mu    sync.Mutex
	built string // the directory Dir returned in this process
)

// Dir returns a directory holding NAME.wasm and NAME.yaml for every example
// block (its own manifest) and test block (a manifest with name NAME,
// version "test", type test.NAME and isolation shared), building them if
// this state of their sources has not been built yet. The directory is
// shared and must not be modified. A build failure fails tb.
func Dir(tb testing.TB) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if built != "" {
		return built
	}
	dir, err := ensure(tb)
	if err != nil {
		tb.Fatalf("testblocks: %v", err)
	}
	built = dir
	return dir
}

// CacheDir returns the wazero compilation cache directory shared by the
// host tests, os.TempDir()/blockhost-wazero-cache, created 0700. It holds
// native code: it fails tb if the directory is not owned by this user.
func CacheDir(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Join(os.TempDir(), "blockhost-wazero-cache")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatalf("testblocks: %v", err)
	}
	if err := checkPrivateDir(dir); err != nil {
		tb.Fatalf("testblocks: %v", err)
	}
	return dir
}

// block is one block to build.
type block struct {
	name     string // file name of the plugin
	pkg      string // ./relative/dir
	dir      string // absolute
	manifest string // its NAME.yaml, or "" for a test block
}

func ensure(tb testing.TB) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	blocks, err := findBlocks(root)
	if err != nil {
		return "", err
	}
	goBin, err := goBinary()
	if err != nil {
		return "", err
	}
	sum, err := hashSources(root, blocks, goBin)
	if err != nil {
		return "", err
	}
	base := filepath.Join(os.TempDir(), "blockhost-testblocks")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	dir := filepath.Join(base, sum)
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	start := time.Now()
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	os.RemoveAll(dir)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	if err := buildAll(root, goBin, tmp, blocks); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	tb.Logf("testblocks: built %d blocks in %v into %s", len(blocks), time.Since(start).Round(time.Millisecond), dir)
	return dir, nil
}

// moduleRoot finds the module's go.mod above the working directory (a
// test runs in its package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module "+Module) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("module %s not found above the working directory", Module)
		}
		dir = parent
	}
}

func findBlocks(root string) ([]block, error) {
	var blocks []block
	seen := map[string]string{}
	for _, br := range blockRoots {
		entries, err := os.ReadDir(filepath.Join(root, br))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(root, br, e.Name())
			if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
				continue
			}
			b := block{name: e.Name(), pkg: "./" + br + "/" + e.Name(), dir: dir}
			if prev, ok := seen[b.name]; ok {
				return nil, fmt.Errorf("two blocks named %s: %s and %s", b.name, prev, b.pkg)
			}
			seen[b.name] = b.pkg
			if m := filepath.Join(dir, b.name+".yaml"); fileExists(m) {
				b.manifest = m
			}
			blocks = append(blocks, b)
		}
	}
	return blocks, nil
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// goBinary returns the go command of the toolchain running the tests.
func goBinary() (string, error) {
	exe := "go"
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	for _, root := range []string{os.Getenv("GOROOT"), runtime.GOROOT()} { //nolint:staticcheck // the tests' own toolchain
		if root == "" {
			continue
		}
		if p := filepath.Join(root, "bin", exe); fileExists(p) {
			return p, nil
		}
	}
	return exec.LookPath("go")
}

// hashSources hashes everything a block build depends on in this module,
// test files excepted, with the toolchain's identity.
func hashSources(root string, blocks []block, goBin string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "format %s\ngo %s %s\n", format, runtime.Version(), goBin)
	var files []string
	add := func(path string) error {
		return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			name := d.Name()
			if strings.HasSuffix(name, "_test.go") {
				return nil
			}
			if strings.HasSuffix(name, ".go") || strings.HasSuffix(name, ".yaml") || name == "go.mod" || name == "go.sum" {
				files = append(files, p)
			}
			return nil
		})
	}
	for _, r := range sourceRoots {
		if err := add(filepath.Join(root, r)); err != nil {
			return "", err
		}
	}
	for _, b := range blocks {
		if err := add(b.dir); err != nil {
			return "", err
		}
	}
	slices.Sort(files)
	files = slices.Compact(files)
	for _, p := range files {
		rel, _ := filepath.Rel(root, p)
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n", filepath.ToSlash(rel))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

// buildAll builds every block into dir, as many at once as there are CPUs
// (one go build per block: -buildmode=c-shared takes exactly one main
// package).
func buildAll(root, goBin, dir string, blocks []block) error {
	env := buildEnv()
	sem := make(chan struct{}, max(1, runtime.NumCPU()))
	errs := make([]error, len(blocks))
	var wg sync.WaitGroup
	for i, b := range blocks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = buildOne(root, goBin, env, dir, b)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func buildOne(root, goBin string, env []string, dir string, b block) error {
	cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(dir, b.name+".wasm"), b.pkg)
	cmd.Dir = root
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", b.pkg, err, out)
	}
	manifest := []byte(fmt.Sprintf("name: %s\nversion: test\ntypes:\n  - test.%s\nisolation: shared\n", b.name, b.name))
	if b.manifest != "" {
		var err error
		if manifest, err = os.ReadFile(b.manifest); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, b.name+".yaml"), manifest, 0o644)
}

// buildEnv is the test's environment set up for wasip1: flags meant for
// the test build (-race, -cover, ...) are dropped.
func buildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOTOOLCHAIN", "GOWORK":
		default:
			env = append(env, kv)
		}
	}
	return append(env, "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false -mod=readonly", "GOTOOLCHAIN=local", "GOWORK=off")
}

// FixturesDir returns the absolute path of tests/fixtures, the hand-written
// WAT modules and their committed .wasm (see its README.md).
func FixturesDir(tb testing.TB) string {
	tb.Helper()
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("testblocks: %v", err)
	}
	return filepath.Join(root, "tests", "fixtures")
}
