package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/sandbox"
)

// runtimeEnv is one wazero runtime with the host modules instantiated.
type runtimeEnv struct {
	r      wazero.Runtime
	modCfg wazero.ModuleConfig
}

func (h *Host) newRuntime(ctx context.Context, interruptible bool) (*runtimeEnv, error) {
	// The memory limit is enforced per instance by its allocator (see
	// limitedMemory), which also records that the limit was hit.
	rc := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(interruptible)
	if h.cache != nil {
		rc = rc.WithCompilationCache(h.cache)
	}
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	if err := instantiateWASI(ctx, r); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	if err := h.instantiateHostModule(ctx, r); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("instantiating host module: %w", err)
	}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(abi.InitializeExport).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
	return &runtimeEnv{r: r, modCfg: mc}, nil
}

// openCache creates (0700) and opens the on-disk compilation cache, and
// refuses a directory another user owns: it holds native code.
func openCache(dir string) (wazero.CompilationCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("compilation cache: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("compilation cache: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("compilation cache %s is owned by uid %d, not by this user (%d)", dir, st.Uid, os.Getuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("compilation cache: %w", err)
		}
	}
	return wazero.NewCompilationCacheWithDir(dir)
}

// block is a compiled block with its manifest and instances. A block is
// immutable once registered; a reload registers a new block and retires the
// old one, which is closed when its last step ends.
type block struct {
	host      *Host
	name      string
	version   string
	digest    string
	types     []string
	class     string
	isolation sandbox.Isolation
	memPages  uint32
	initPages uint32 // memory pages at instantiation
	warm      int    // idle instances kept however long they idle

	manifestDigest string // of NAME.yaml when loaded from a file
	config         map[string]string
	secrets        []string // values of the config keys marked secret, longest first
	httpGrant      sandbox.HTTPGrant
	fsGrant        sandbox.FSGrant
	limits         Limits
	interrupt      bool // false: the guest is not interrupted at its deadline
	entry          string
	loadedAt       time.Time

	rt        *runtimeEnv
	compiled  wazero.CompiledModule
	instances *instancePool

	refs      atomic.Int64
	retired   atomic.Bool
	closeOnce sync.Once
}

// redact hides the values of the block's secret config keys in s, which
// the host is about to log or return: what a block logs, prints or reports
// never carries them.
func (b *block) redact(s string) string {
	for _, v := range b.secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "[secret]")
		}
	}
	return s
}

// longestSecret is the length of the longest secret value (0 for none).
func (b *block) longestSecret() int {
	if len(b.secrets) == 0 {
		return 0
	}
	return len(b.secrets[0])
}

// secretValues returns the non-empty values in cfg of the keys listed,
// longest first, so that hiding one never leaves part of a longer one.
func secretValues(cfg map[string]string, keys ...[]string) []string {
	var vals []string
	for _, list := range keys {
		for _, k := range list {
			if v := cfg[k]; v != "" && !slices.Contains(vals, v) {
				vals = append(vals, v)
			}
		}
	}
	slices.SortFunc(vals, func(a, b string) int { return len(b) - len(a) })
	return vals
}

// acquire takes a reference for one step; false if the block was retired.
func (b *block) acquire() bool {
	b.refs.Add(1)
	if b.retired.Load() {
		b.release()
		return false
	}
	return true
}

func (b *block) release() {
	if b.refs.Add(-1) == 0 && b.retired.Load() {
		b.closeOnce.Do(b.close)
	}
}

func (b *block) retire() {
	b.retired.Store(true)
	if b.refs.Load() == 0 {
		b.closeOnce.Do(b.close)
	}
}

func (b *block) close() {
	b.instances.closeAll()
	b.compiled.Close(context.Background())
}

// ValidationError lists everything that makes a module unfit for ABI v1.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return "not a valid blockhost ABI v1 block: " + strings.Join(e.Problems, "; ")
}

var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// ValidateModule checks wasm against ABI v1, and against the module
// limits of a host with default settings (size, control instructions per
// function), without registering it. The error is a *ValidationError
// listing every problem, or a compile error.
func ValidateModule(ctx context.Context, wasm []byte) error {
	if problems := moduleLimitProblems(wasm, defaultMaxModuleBytes, defaultMaxFunctionControl); len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	_, err := checkModule(ctx, r, wasm, 65536)
	return err
}

// moduleLimitProblems checks wasm against a module size limit and a limit
// of control instructions per function, before anything compiles it.
func moduleLimitProblems(wasm []byte, maxBytes int64, maxControl int) []string {
	if int64(len(wasm)) > maxBytes {
		return []string{fmt.Sprintf("module is %d bytes, over the limit of %d", len(wasm), maxBytes)}
	}
	if fn, n, ok := heaviestFunction(wasm); ok && n > maxControl {
		return []string{fmt.Sprintf(
			"function %d has %d control instructions (blocks, loops, ifs and branches), over the limit of %d per function (max_function_control)",
			fn, n, maxControl)}
	}
	return nil
}

// checkModule compiles wasm on r and checks its imports and exports. It
// returns the compiled module and the entry point name.
func checkModule(ctx context.Context, r wazero.Runtime, wasm []byte, memPages uint32) (wazero.CompiledModule, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], wasmMagic) {
		return nil, &ValidationError{Problems: []string{"not a WebAssembly module (missing the \\0asm header)"}}
	}
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return nil, &ValidationError{Problems: []string{"does not compile: " + err.Error()}}
	}
	var problems []string
	allowed := abiSignatures()
	wasi := wasiNames()
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case abi.ModuleName:
			sig, ok := allowed[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("imports %s.%s, which ABI v1 does not define", mod, name))
				continue
			}
			if !slices.Equal(sig.params, f.ParamTypes()) || !slices.Equal(sig.results, f.ResultTypes()) {
				problems = append(problems, fmt.Sprintf("imports %s.%s with signature %s, ABI v1 defines %s",
					mod, name, sigString(f.ParamTypes(), f.ResultTypes()), sigString(sig.params, sig.results)))
			}
		case abi.WASIModule:
			if !wasi[name] {
				problems = append(problems, fmt.Sprintf("imports %s.%s, which WASI preview 1 does not define", mod, name))
			}
		default:
			problems = append(problems, fmt.Sprintf("imports %s.%s: only modules %q and %q may be imported", mod, name, abi.ModuleName, abi.WASIModule))
		}
	}
	for _, m := range cm.ImportedMemories() {
		mod, name, _ := m.Import()
		problems = append(problems, fmt.Sprintf("imports memory %s.%s: a block must define and export its own memory", mod, name))
	}
	problems = append(problems, importedNonFunctions(wasm)...)
	exports := cm.ExportedFunctions()
	var versions []string
	for name := range exports {
		if v, ok := strings.CutPrefix(name, abi.EntryPointPrefix); ok {
			versions = append(versions, v)
		}
	}
	sort.Strings(versions)
	if fn, ok := exports[abi.EntryPointV1]; ok {
		if len(fn.ParamTypes()) != 0 || !slices.Equal(fn.ResultTypes(), []api.ValueType{api.ValueTypeI32}) {
			problems = append(problems, fmt.Sprintf("exports %s with signature %s, ABI v1 requires () -> (i32)",
				abi.EntryPointV1, sigString(fn.ParamTypes(), fn.ResultTypes())))
		}
	} else if len(versions) > 0 {
		problems = append(problems, fmt.Sprintf("exports entry point(s) for ABI version %s only; this host supports version %d (%s)",
			strings.Join(versions, ", "), abi.Version, abi.EntryPointV1))
	} else {
		problems = append(problems, fmt.Sprintf("no entry point: export %s () -> (i32)", abi.EntryPointV1))
	}
	if _, ok := exports["_start"]; ok {
		problems = append(problems, "exports _start: a block is a WASI reactor (build Go blocks with -buildmode=c-shared)")
	}
	if fn, ok := exports[abi.InitializeExport]; ok && (len(fn.ParamTypes()) != 0 || len(fn.ResultTypes()) != 0) {
		problems = append(problems, fmt.Sprintf("exports %s with signature %s, it must be () -> ()",
			abi.InitializeExport, sigString(fn.ParamTypes(), fn.ResultTypes())))
	}
	mem, ok := cm.ExportedMemories()[abi.MemoryExport]
	if !ok {
		problems = append(problems, fmt.Sprintf("does not export its linear memory as %q", abi.MemoryExport))
	} else if mem.Min() > memPages {
		problems = append(problems, fmt.Sprintf("needs %d memory pages at start, over its limit of %d", mem.Min(), memPages))
	}
	if len(problems) > 0 {
		cm.Close(ctx)
		return nil, &ValidationError{Problems: problems}
	}
	return cm, nil
}

type signature struct{ params, results []api.ValueType }

var abiSignatures = sync.OnceValue(func() map[string]signature {
	m := map[string]signature{}
	for _, f := range (&Host{}).hostFuncs() {
		m[f.name] = signature{f.params, f.results}
	}
	return m
})

var wasiNames = sync.OnceValue(func() map[string]bool {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	names := map[string]bool{}
	if err := instantiateWASI(ctx, r); err == nil {
		for name := range r.Module(abi.WASIModule).ExportedFunctionDefinitions() {
			names[name] = true
		}
	}
	return names
})

func sigString(params, results []api.ValueType) string {
	str := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return str(params) + " -> " + str(results)
}

// compile compiles wasm under the host's limits: module size, control
// instructions per function, compile timeout, one compile at a time, and a
// file lock on the cache so concurrent processes sharing it do not compile
// the same module twice at once.
//
// The compiler stops between functions once the timeout fires, the caller's
// ctx ends or the host closes; the function it is compiling then runs to
// its end in the background (MaxFunctionControl bounds how long that is),
// holding the compile slot so refused loads cannot pile up. Close waits for
// it before releasing the runtime. The caller is a registered load
// (beginLoad).
func (h *Host) compile(ctx context.Context, rt *runtimeEnv, wasm []byte, memPages uint32) (wazero.CompiledModule, error) {
	lim := h.cfg.Limits
	if problems := moduleLimitProblems(wasm, lim.MaxModuleBytes, lim.MaxFunctionControl); len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	select {
	case h.compileSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-h.closing.Done():
		return nil, ErrClosed
	}
	unlock := func() {}
	if h.cfg.CacheDir != "" {
		var err error
		if unlock, err = lockFile(filepath.Join(h.cfg.CacheDir, ".lock")); err != nil {
			<-h.compileSlot
			return nil, err
		}
	}
	cctx, cancel := context.WithTimeoutCause(ctx, lim.CompileTimeout, errCompileTimeout)
	stopOnClose := context.AfterFunc(h.closing, func() { cancel() })
	// With two workers or more the compiler checks cctx between functions;
	// half the cores leave the rest to steps.
	cctx = experimental.WithCompilationWorkers(cctx, max(2, runtime.GOMAXPROCS(0)/2))
	type result struct {
		cm      wazero.CompiledModule
		err     error
		stopped bool // cctx ended before the compile did
	}
	done := make(chan result)
	abandoned := make(chan struct{})
	h.loads.Add(1) // within the caller's load: never from zero
	go func() {
		defer h.loads.Done()
		cm, err := checkModule(cctx, rt.r, wasm, memPages)
		unlock()
		<-h.compileSlot
		select {
		case done <- result{cm, err, cctx.Err() != nil}:
		case <-abandoned:
			if cm != nil {
				cm.Close(context.Background())
			}
		}
		stopOnClose()
		cancel()
	}()
	select {
	case res := <-done:
		if res.err != nil && res.stopped {
			return nil, h.compileStopped(ctx, cctx)
		}
		return res.cm, res.err
	case <-cctx.Done():
		close(abandoned)
		return nil, h.compileStopped(ctx, cctx)
	}
}

var errCompileTimeout = errors.New("compile timeout")

// compileStopped is the error of a compile that cctx ended: the caller's
// ctx, the host closing, or the compile timeout.
func (h *Host) compileStopped(ctx, cctx context.Context) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case context.Cause(cctx) == errCompileTimeout:
		return fmt.Errorf("compiling took longer than the limit of %s", h.cfg.Limits.CompileTimeout)
	default:
		return ErrClosed
	}
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("compilation cache lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("compilation cache lock: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// LoadBlock compiles wasm and registers it under manifest m, replacing a
// block of the same name. A type already served by another block is
// refused, naming both.
func (h *Host) LoadBlock(ctx context.Context, wasm []byte, m sandbox.Manifest) (BlockInfo, error) {
	return h.loadBlock(ctx, wasm, m, "")
}

func (h *Host) loadBlock(ctx context.Context, wasm []byte, m sandbox.Manifest, manifestDigest string) (BlockInfo, error) {
	if err := m.Validate(m.Name); err != nil {
		return BlockInfo{}, fmt.Errorf("block %q: manifest: %w", m.Name, err)
	}
	if !h.beginLoad() {
		return BlockInfo{}, ErrClosed
	}
	defer h.loads.Done()
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	pol := h.cfg.Blocks[m.Name]
	info := BlockInfo{Name: m.Name, Version: m.Version, Digest: digest, Types: slices.Clone(m.Types)}
	fail := func(err error) (BlockInfo, error) {
		info.State, info.LastError = "failed", err.Error()
		h.recordFailure(info)
		return info, fmt.Errorf("block %q: %w", m.Name, err)
	}
	if pol.Digest != "" && !strings.EqualFold(pol.Digest, digest) {
		return fail(fmt.Errorf("digest sha256:%s does not match the pinned sha256:%s", digest, pol.Digest))
	}
	grants, err := h.checkManifest(&m, pol)
	if err != nil {
		return fail(err)
	}
	memPages := grants.limits.MemoryPages
	rt := h.rt
	if !grants.interrupt {
		if rt, err = h.uninterruptible(); err != nil {
			return fail(err)
		}
	}
	cm, err := h.compile(ctx, rt, wasm, memPages)
	if err != nil {
		return fail(err)
	}
	cfg := make(map[string]string, len(m.Config)+len(pol.Config))
	for k, v := range m.Config {
		cfg[k] = v
	}
	for k, v := range pol.Config {
		cfg[k] = v
	}
	b := &block{
		host: h, name: m.Name, version: m.Version, digest: digest, types: slices.Clone(m.Types),
		class: m.Resources.Class, isolation: m.Isolation, memPages: memPages, config: cfg,
		secrets: secretValues(cfg, m.Secrets, pol.Secret),
		entry:   abi.EntryPointV1, loadedAt: time.Now(), rt: rt, compiled: cm,
		httpGrant: grants.http, fsGrant: grants.fs, warm: 1, manifestDigest: manifestDigest,
		limits: grants.limits, interrupt: grants.interrupt,
	}
	if m.Limits.WarmInstances > 0 {
		b.warm = m.Limits.WarmInstances
	}
	if mem, ok := cm.ExportedMemories()[abi.MemoryExport]; ok {
		b.initPages = mem.Min()
	}
	maxInst := 0
	for _, t := range b.types {
		if p := h.poolFor(b.class, t); p.max > maxInst {
			maxInst = p.max
		}
	}
	gauge := h.metrics.instances.WithLabelValues(b.name)
	b.instances = &instancePool{blk: b, max: maxInst, gauge: func(n int) { gauge.Set(float64(n)) }}
	// Warm one instance before the block serves: a block whose
	// _initialize traps or loops is refused here, not on its first step.
	if b.isolation != sandbox.IsolationStep {
		wctx, cancel := context.WithTimeout(ctx, h.cfg.Limits.CompileTimeout)
		stop := context.AfterFunc(h.closing, cancel)
		inst, err := b.instances.get(wctx, "")
		stop()
		cancel()
		if err != nil {
			cm.Close(ctx)
			return fail(fmt.Errorf("starting an instance: %s", firstLine(err.Error())))
		}
		b.instances.put(inst, false)
	}
	if err := h.register(b); err != nil {
		b.instances.closeAll()
		cm.Close(ctx)
		return fail(err)
	}
	info.State, info.LoadedAt = "ready", b.loadedAt
	h.log.Info("block loaded", "block", b.name, "version", b.version, "types", b.types, "digest", digest)
	return info, nil
}

// LoadFile loads path (NAME.wasm) with its manifest NAME.yaml beside it.
func (h *Host) LoadFile(ctx context.Context, path string) (BlockInfo, error) {
	name := strings.TrimSuffix(filepath.Base(path), ".wasm")
	manifestPath := strings.TrimSuffix(path, ".wasm") + ".yaml"
	fail := func(err error) (BlockInfo, error) {
		info := BlockInfo{Name: name, State: "failed", LastError: err.Error()}
		h.recordFailure(info)
		return info, err
	}
	mb, err := os.ReadFile(manifestPath)
	if err != nil {
		return fail(fmt.Errorf("block %q: manifest: %w", name, err))
	}
	m, err := sandbox.ParseManifest(mb, manifestPath, name)
	if err != nil {
		return fail(fmt.Errorf("block %q: %w", name, err))
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fail(fmt.Errorf("block %q: %w", name, err))
	}
	if fi.Size() > h.cfg.Limits.MaxModuleBytes {
		return fail(fmt.Errorf("block %q: %s is %d bytes, over the limit of %d", name, path, fi.Size(), h.cfg.Limits.MaxModuleBytes))
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return fail(fmt.Errorf("block %q: %w", name, err))
	}
	return h.loadBlock(ctx, wasm, m, fileDigest(manifestPath))
}

// LoadDir loads every NAME.wasm in dir (with NAME.yaml beside it) and
// remembers dir for Reload. A block that fails does not stop the others;
// the error joins every failure.
func (h *Host) LoadDir(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("plugins directory: %w", err)
	}
	h.mu.Lock()
	h.pluginsDir = dir
	h.mu.Unlock()
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".wasm") {
			continue
		}
		if _, err := h.LoadFile(ctx, filepath.Join(dir, e.Name())); err != nil {
			h.log.Error("block failed to load", "file", e.Name(), "error", err.Error())
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Reload rescans the directory given to LoadDir: new and changed blocks
// are loaded (a failure keeps the previous version serving), removed ones
// unloaded once their steps finish. The error joins every failure.
func (h *Host) Reload(ctx context.Context) error {
	h.mu.Lock()
	dir := h.pluginsDir
	h.mu.Unlock()
	if dir == "" {
		return errors.New("no plugins directory to reload")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("plugins directory: %w", err)
	}
	present := map[string]bool{}
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wasm")
		if e.IsDir() || !ok {
			continue
		}
		present[name] = true
		if err := h.reloadOne(ctx, dir, name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, b := range h.loadedBlocks() {
		if !present[b.name] {
			h.reloadOne(ctx, dir, b.name)
		}
	}
	return errors.Join(errs...)
}

// unchanged reports whether the loaded block name has the content of
// path and of the manifest beside it.
func (h *Host) unchanged(name, path string) bool {
	h.mu.Lock()
	b := h.blocks[name]
	h.mu.Unlock()
	return b != nil && b.digest == fileDigest(path) &&
		b.manifestDigest == fileDigest(strings.TrimSuffix(path, ".wasm")+".yaml")
}

// Unload removes block name; its steps in flight finish first.
func (h *Host) Unload(name string) bool {
	h.mu.Lock()
	b := h.blocks[name]
	if b == nil {
		h.mu.Unlock()
		return false
	}
	delete(h.blocks, name)
	delete(h.failed, name)
	h.rebuildRoutes()
	h.mu.Unlock()
	b.retire()
	h.log.Info("block unloaded", "block", name)
	return true
}

func (h *Host) register(b *block) error {
	h.mu.Lock()
	for _, t := range b.types {
		if other, ok := h.routes.Load().byType[t]; ok && other.name != b.name {
			h.mu.Unlock()
			return fmt.Errorf("step type %q is already served by block %q; block %q is refused", t, other.name, b.name)
		}
	}
	old := h.blocks[b.name]
	h.blocks[b.name] = b
	delete(h.failed, b.name)
	h.rebuildRoutes()
	h.mu.Unlock()
	if old != nil {
		old.retire()
	}
	return nil
}

func (h *Host) recordFailure(info BlockInfo) {
	h.metrics.loadsFailed.WithLabelValues(info.Name).Inc()
	h.mu.Lock()
	h.failed[info.Name] = info
	h.mu.Unlock()
}

// rebuildRoutes publishes a new type table; h.mu must be held.
func (h *Host) rebuildRoutes() {
	rt := &routes{byType: make(map[string]*block)}
	for _, b := range h.blocks {
		for _, t := range b.types {
			rt.byType[t] = b
		}
	}
	h.routes.Store(rt)
}

type routes struct {
	byType map[string]*block
}

func (h *Host) loadedBlocks() []*block {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*block, 0, len(h.blocks))
	for _, b := range h.blocks {
		out = append(out, b)
	}
	return out
}

// Blocks lists the loaded blocks and the ones that failed to load, by name.
func (h *Host) Blocks() []BlockInfo {
	h.mu.Lock()
	out := make([]BlockInfo, 0, len(h.blocks)+len(h.failed))
	for _, b := range h.blocks {
		info := BlockInfo{Name: b.name, Version: b.version, Digest: b.digest, Types: slices.Clone(b.types),
			State: "ready", LoadedAt: b.loadedAt}
		if f, ok := h.failed[b.name]; ok {
			info.LastError = f.LastError
		}
		out = append(out, info)
	}
	for name, f := range h.failed {
		if _, ok := h.blocks[name]; !ok {
			out = append(out, f)
		}
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
