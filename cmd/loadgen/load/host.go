package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/policy"
)

// Features returns every CP2 flag on (cp2) or off (the CP1 baseline).
func Features(cp2 bool) policy.Features {
	return policy.Features{AdvancedRetry: cp2, CompleteTimeout: cp2, Cancellation: cp2, QueueManagement: cp2, CircuitBreaker: cp2}
}

// ParseCP2 parses --cp2: "all" (every flag on) or "none" (every flag off).
func ParseCP2(s string) (bool, error) {
	switch s {
	case "all", "on", "true":
		return true, nil
	case "none", "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("--cp2 %q: want all or none", s)
}

// ModeName names a flag setting in reports.
func ModeName(cp2 bool) string {
	if cp2 {
		return "CP2 (all flags on)"
	}
	return "CP1 (all flags off)"
}

// NewHost creates a host with cfg and loads the blocks of dir. Blocks that
// do not load (e.g. one asking for a capability cfg does not grant) are
// left out, as `blockhost serve` does; it is an error only when a type of
// need has no block. The blocks left out are logged at warn on log (nil:
// not logged).
func NewHost(ctx context.Context, cfg host.Config, dir string, need []string, log *slog.Logger) (*host.Host, error) {
	h, err := host.New(cfg)
	if err != nil {
		return nil, err
	}
	warn := h.LoadDir(ctx, dir)
	if warn != nil && log != nil {
		log.Warn("some blocks did not load", "dir", dir, "error", warn)
	}
	served := map[string]bool{}
	for _, b := range h.Blocks() {
		for _, t := range b.Types {
			served[t] = true
		}
	}
	for _, t := range need {
		if !served[t] {
			h.Close(context.Background())
			if warn != nil {
				return nil, fmt.Errorf("no block of %s serves %q: %w", dir, t, warn)
			}
			return nil, fmt.Errorf("no block of %s serves %q", dir, t)
		}
	}
	return h, nil
}

// Module is the module the blocks are built from.
const Module = "github.com/beamline/blockhost"

// ModuleRoot finds the blockhost module's root above dir.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module "+Module+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("module %s not found above the working directory", Module)
		}
		dir = parent
	}
}

// BlockSource is where the block serving a step type is built from.
type BlockSource struct {
	Name string // file name: NAME.wasm, NAME.yaml
	Pkg  string // ./examples/blocks/NAME or ./tests/blocks/NAME
	// Manifest is the block's own NAME.yaml, or "" for a test block, whose
	// manifest is generated: name NAME, version test, type test.NAME,
	// isolation shared.
	Manifest string
}

// SourceFor finds the block that serves stepType in the module at root: a
// test block for test.NAME, else the example block whose manifest lists
// the type.
func SourceFor(root, stepType string) (BlockSource, error) {
	if name, ok := strings.CutPrefix(stepType, "test."); ok {
		pkg := filepath.Join("tests", "blocks", name)
		if _, err := os.Stat(filepath.Join(root, pkg, "main.go")); err != nil {
			return BlockSource{}, fmt.Errorf("no test block for %s: %w", stepType, err)
		}
		return BlockSource{Name: name, Pkg: "./" + filepath.ToSlash(pkg)}, nil
	}
	entries, err := os.ReadDir(filepath.Join(root, "examples", "blocks"))
	if err != nil {
		return BlockSource{}, err
	}
	for _, e := range entries {
		manifest := filepath.Join(root, "examples", "blocks", e.Name(), e.Name()+".yaml")
		b, err := os.ReadFile(manifest)
		if err != nil {
			continue
		}
		if manifestListsType(string(b), stepType) {
			return BlockSource{Name: e.Name(), Pkg: "./examples/blocks/" + e.Name(), Manifest: manifest}, nil
		}
	}
	return BlockSource{}, fmt.Errorf("no example block under examples/blocks lists type %q", stepType)
}

// manifestListsType reports whether a manifest's types list stepType; it
// reads the two YAML forms the example manifests use.
func manifestListsType(manifest, stepType string) bool {
	inTypes := false
	for _, line := range strings.Split(manifest, "\n") {
		trimmed := strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(trimmed, "types:"); ok {
			rest = strings.Trim(strings.TrimSpace(rest), "[]")
			for _, t := range strings.Split(rest, ",") {
				if strings.Trim(strings.TrimSpace(t), `"'`) == stepType {
					return true
				}
			}
			inTypes = rest == ""
			continue
		}
		if inTypes {
			if t, ok := strings.CutPrefix(trimmed, "- "); ok {
				if strings.Trim(strings.TrimSpace(t), `"'`) == stepType {
					return true
				}
				continue
			}
			if trimmed != "" && !strings.HasPrefix(trimmed, "#") {
				inTypes = false
			}
		}
	}
	return false
}

// BuildBlocks builds the blocks serving types from the module at root into
// dir (NAME.wasm and NAME.yaml), with the go command goBin ("" = go on
// PATH), two at a time. A block already in dir is rebuilt only when force
// is set.
func BuildBlocks(ctx context.Context, root, dir, goBin string, types []string, force bool, log *slog.Logger) error {
	if goBin == "" {
		goBin = "go"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	seen := map[string]bool{}
	var srcs []BlockSource
	for _, t := range types {
		src, err := SourceFor(root, t)
		if err != nil {
			return err
		}
		if seen[src.Name] {
			continue
		}
		seen[src.Name] = true
		if !force {
			if _, err := os.Stat(filepath.Join(dir, src.Name+".wasm")); err == nil {
				continue
			}
		}
		srcs = append(srcs, src)
	}
	env := wasmEnv()
	errs := make([]error, len(srcs))
	sem := make(chan struct{}, max(1, min(2, runtime.NumCPU())))
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			cmd := exec.CommandContext(ctx, goBin, "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w",
				"-o", filepath.Join(dir, src.Name+".wasm"), src.Pkg)
			cmd.Dir, cmd.Env = root, env
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("building %s: %v\n%s", src.Pkg, err, out)
				return
			}
			manifest := []byte(fmt.Sprintf("name: %s\nversion: test\ntypes: [test.%s]\nisolation: shared\n", src.Name, src.Name))
			if src.Manifest != "" {
				var err error
				if manifest, err = os.ReadFile(src.Manifest); err != nil {
					errs[i] = err
					return
				}
			}
			errs[i] = os.WriteFile(filepath.Join(dir, src.Name+".yaml"), manifest, 0o644)
			if log != nil && errs[i] == nil {
				log.Info("built block", "block", src.Name, "took", time.Since(start).Round(time.Millisecond))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// wasmEnv is this process's environment set for GOOS=wasip1 GOARCH=wasm.
func wasmEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS":
		default:
			env = append(env, kv)
		}
	}
	return append(env, "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
}
