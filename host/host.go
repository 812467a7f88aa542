// Package host is blockhost's engine: it compiles blocks, keeps warm
// instance pools, admits steps through bounded resource pools, and runs them
// with retry, timeouts and cancellation as the CP2 feature flags say.
//
// A Host is safe for concurrent use. Embedders create one with New, load
// blocks with LoadDir, LoadFile or LoadBlock, run steps with Execute and
// release everything with Close.
package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	fscap "github.com/beamline/blockhost/plugins/fs"
	httpcap "github.com/beamline/blockhost/plugins/http"
	"github.com/beamline/blockhost/policy"
)

// Host runs blocks. Safe for concurrent use.
type Host struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	cache   wazero.CompilationCache
	rt      *runtimeEnv
	rtNoInt *runtimeEnv // for blocks the operator lets opt out of interruption
	httpc   *httpcap.Client
	fs      *fscap.Store

	pools   map[string]*resourcePool
	poolCPU *resourcePool
	poolGPU *resourcePool
	poolIO  *resourcePool

	mu         sync.Mutex
	blocks     map[string]*block
	failed     map[string]BlockInfo
	pluginsDir string
	routes     atomic.Pointer[routes]
	typeMet    sync.Map // step type -> *typeMetrics

	inflightMu sync.Mutex
	inflight   map[string]*step
	active     sync.WaitGroup

	memBudget *memBudget
	stop      chan struct{}

	// compileSlot holds the one compile running (see compile). closing
	// ends when Close starts, stopping loads and compiles; loads counts
	// the loads under way and the compiles not yet ended, abandoned ones
	// included, so that Close releases the runtime only after them.
	compileSlot chan struct{}
	closing     context.Context
	closeNow    context.CancelFunc
	loadMu      sync.Mutex // orders beginLoad and closeNow
	loads       sync.WaitGroup

	idPrefix string
	idSeq    atomic.Uint64

	draining atomic.Bool
	closed   atomic.Bool
}

// New returns a Host for cfg, or an error naming the first invalid setting.
func New(cfg Config) (*Host, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("host config: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("host metrics: %w", err)
	}
	h := &Host{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "host"),
		metrics:  m,
		pools:    map[string]*resourcePool{},
		blocks:   map[string]*block{},
		failed:   map[string]BlockInfo{},
		inflight: map[string]*step{},
	}
	if err := cfg.Registerer.Register(newHealthCollector(h)); err != nil {
		return nil, fmt.Errorf("host metrics: %w", err)
	}
	h.memBudget = &memBudget{max: cfg.Limits.InstanceMemoryBudget}
	h.stop = make(chan struct{})
	h.compileSlot = make(chan struct{}, 1)
	h.closing, h.closeNow = context.WithCancel(context.Background())
	var rb [6]byte
	rand.Read(rb[:])
	h.idPrefix = hex.EncodeToString(rb[:]) + "-"
	h.routes.Store(&routes{byType: map[string]*block{}})
	if cfg.CacheDir != "" {
		if h.cache, err = openCache(cfg.CacheDir); err != nil {
			return nil, err
		}
	}
	cfg.HTTP.OnTransition = chainTransition(cfg.HTTP.OnTransition, h.breakerChanged)
	cfg.FS.OnTransition = chainTransition(cfg.FS.OnTransition, h.breakerChanged)
	cfg.HTTP.OnEvict = chainEvict(cfg.HTTP.OnEvict, h.breakerEvicted)
	cfg.FS.OnEvict = chainEvict(cfg.FS.OnEvict, h.breakerEvicted)
	if h.httpc, err = httpcap.New(cfg.HTTP); err != nil {
		return nil, fmt.Errorf("http capability: %w", err)
	}
	if h.fs, err = fscap.New(cfg.FS); err != nil {
		return nil, fmt.Errorf("fs capability: %w", err)
	}
	// Remove temp files a crash left under every blob root.
	for name, bp := range cfg.Blocks {
		for _, root := range []string{bp.FS.Root, bp.FS.Fallback} {
			if root == "" {
				continue
			}
			if err := os.MkdirAll(root, 0o700); err != nil {
				return nil, fmt.Errorf("block %q: blob root: %w", name, err)
			}
			if n, err := h.fs.Sweep(root); err != nil {
				h.log.Warn("sweeping blob root", "block", name, "error", err.Error())
			} else if n > 0 {
				h.log.Info("removed temp files left by a crash", "block", name, "files", n)
			}
		}
	}
	if h.rt, err = h.newRuntime(context.Background(), true); err != nil {
		return nil, err
	}
	for _, pc := range cfg.Pools {
		h.pools[pc.Name] = h.newPool(pc)
	}
	h.poolCPU, h.poolGPU, h.poolIO = h.pools["cpu"], h.pools["gpu"], h.pools["io"]
	go h.janitor()
	return h, nil
}

// janitor releases idle instances above each block's warm minimum once
// they have been idle for InstanceIdleTimeout.
func (h *Host) janitor() {
	t := time.NewTicker(max(h.cfg.InstanceIdleTimeout/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.releaseIdle(h.cfg.Clock.Now().Add(-h.cfg.InstanceIdleTimeout), 0, true)
		}
	}
}

// releaseIdle closes idle instances idle since before cutoff, down to each
// block's warm minimum when keepWarm; limit > 0 stops after that many.
func (h *Host) releaseIdle(cutoff time.Time, limit int, keepWarm bool) int {
	n := 0
	for _, b := range h.loadedBlocks() {
		warm := 0
		if keepWarm {
			warm = b.warm
		}
		n += b.instances.releaseIdle(cutoff, warm, limit-n)
		if limit > 0 && n >= limit {
			break
		}
	}
	return n
}

// errMemoryBudget fails an attempt that would need an instance the memory
// budget has no room for.
var errMemoryBudget = errors.New("the host's instance memory budget is exhausted")

// reserveInstanceMemory makes sure the budget has room for one more
// instance of b, closing idle instances (of any block, least warm first)
// to make room.
func (h *Host) reserveInstanceMemory(b *block) error {
	if h.memBudget.max == 0 {
		return nil
	}
	need := int64(b.initPages) * 65536
	for h.memBudget.used.Load()+need > h.memBudget.max {
		if h.releaseIdle(h.cfg.Clock.Now().Add(time.Hour*24*365), 1, false) == 0 {
			return errMemoryBudget
		}
	}
	return nil
}

// poolFor chooses a step's resource pool: an explicit class, else by the
// type prefix (http.* and fs.* io; ai.* and media.* gpu; anything else cpu).
func (h *Host) poolFor(class, stepType string) *resourcePool {
	if class != "" {
		if p := h.pools[class]; p != nil {
			return p
		}
	}
	switch {
	case strings.HasPrefix(stepType, "http.") || strings.HasPrefix(stepType, "fs."):
		return h.poolIO
	case strings.HasPrefix(stepType, "ai.") || strings.HasPrefix(stepType, "media."):
		return h.poolGPU
	}
	return h.poolCPU
}

// Features returns the effective CP2 flags.
func (h *Host) Features() policy.Features { return h.cfg.Features }

// Pools lists the resource pools by name.
func (h *Host) Pools() []PoolInfo {
	out := make([]PoolInfo, 0, len(h.pools))
	for _, p := range h.pools {
		out = append(out, p.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Cancel cancels the step in flight with id stepID: a queued step leaves
// its queue, a running guest is interrupted, its host calls and retry wait
// end, and the step ends cancelled with CANCELLED_BY_USER. It returns
// ErrCancellationDisabled while CP2_CANCELLATION_ENABLED is off and
// ErrUnknownStep when no such step is in flight.
func (h *Host) Cancel(stepID string) error {
	if !h.cfg.Features.Cancellation {
		return ErrCancellationDisabled
	}
	h.inflightMu.Lock()
	st := h.inflight[stepID]
	h.inflightMu.Unlock()
	if st == nil {
		return ErrUnknownStep
	}
	st.cancel(errCancelledByUser)
	return nil
}

// Drain stops admitting steps: Execute returns ErrDraining from now on.
func (h *Host) Drain() {
	if !h.draining.Swap(true) {
		h.log.Info("draining: new steps are refused")
	}
}

// Draining reports whether Drain (or Close) was called.
func (h *Host) Draining() bool { return h.draining.Load() }

// InFlight returns the number of steps admitted and not yet finished.
func (h *Host) InFlight() int {
	h.inflightMu.Lock()
	defer h.inflightMu.Unlock()
	return len(h.inflight)
}

// Close drains, waits for steps in flight until ctx ends, then cancels the
// ones left and releases every block and the runtime.
func (h *Host) Close(ctx context.Context) error {
	if h.closed.Swap(true) {
		return nil
	}
	h.Drain()
	close(h.stop)
	h.loadMu.Lock()
	h.closeNow()
	h.loadMu.Unlock()
	done := make(chan struct{})
	go func() { h.active.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		h.inflightMu.Lock()
		n := len(h.inflight)
		for _, st := range h.inflight {
			st.cancel(errHostClosed)
		}
		h.inflightMu.Unlock()
		err = fmt.Errorf("closed with %d steps still in flight: %w", n, ctx.Err())
		<-done
	}
	// A load or compile under way stops at its next step (a compile at its
	// next function); the runtime and the cache must outlive it.
	h.loads.Wait()
	for _, b := range h.loadedBlocks() {
		b.retire()
	}
	if cerr := h.rt.r.Close(context.Background()); cerr != nil && err == nil {
		err = cerr
	}
	if h.rtNoInt != nil {
		h.rtNoInt.r.Close(context.Background())
	}
	if h.cache != nil {
		h.cache.Close(context.Background())
	}
	h.httpc.Close()
	h.fs.Close()
	return err
}

// beginLoad registers a load (or a compile) that Close must wait for, or
// returns false once the host is closing.
func (h *Host) beginLoad() bool {
	h.loadMu.Lock()
	defer h.loadMu.Unlock()
	if h.closing.Err() != nil {
		return false
	}
	h.loads.Add(1)
	return true
}

func (h *Host) newStepID() string {
	return h.idPrefix + strconv.FormatUint(h.idSeq.Add(1), 36)
}

func (h *Host) typeMetrics(t string) *typeMetrics {
	if tm, ok := h.typeMet.Load(t); ok {
		return tm.(*typeMetrics)
	}
	tm, _ := h.typeMet.LoadOrStore(t, h.metrics.forType(t))
	return tm.(*typeMetrics)
}

// Causes a step's context may end with.
var (
	errCancelledByUser = errors.New("cancelled by user")
	errHostClosed      = errors.New("host shut down")
	errBudget          = errors.New("step budget exhausted")
	errAttemptTimeout  = errors.New("attempt timed out")
)

// BreakerInfo describes a circuit breaker (GET /v1/breakers).
type BreakerInfo struct {
	Kind                string     `json:"kind"`
	Target              string     `json:"target"`
	State               string     `json:"state"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	OpenedAt            *time.Time `json:"opened_at"`
}

// Breakers lists the HTTP (per endpoint) and FS (per root) circuit
// breakers; empty while CP2_CIRCUIT_BREAKER_ENABLED is off.
func (h *Host) Breakers() []BreakerInfo {
	out := []BreakerInfo{}
	add := func(kind string, list []policy.BreakerSnapshot) {
		for _, s := range list {
			bi := BreakerInfo{Kind: kind, Target: s.Name, State: s.State.String(), ConsecutiveFailures: s.ConsecutiveFailures}
			if !s.OpenedAt.IsZero() {
				t := s.OpenedAt
				bi.OpenedAt = &t
			}
			out = append(out, bi)
		}
	}
	add("http", h.httpc.Breakers())
	add("fs", h.fs.Breakers())
	return out
}

// uninterruptible returns the runtime for blocks that opted out of
// interruption, creating it on first use.
func (h *Host) uninterruptible() (*runtimeEnv, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rtNoInt == nil {
		rt, err := h.newRuntime(context.Background(), false)
		if err != nil {
			return nil, err
		}
		h.rtNoInt = rt
	}
	return h.rtNoInt, nil
}

// breakerChanged records a breaker transition in the metrics and the log.
func (h *Host) breakerChanged(kind, target string, from, to policy.BreakerState) {
	h.metrics.brState.WithLabelValues(kind, target).Set(float64(breakerGauge(to)))
	h.metrics.brTrans.WithLabelValues(kind, to.String()).Inc()
	h.log.Info("circuit breaker changed state", "kind", kind, "target", target, "from", from.String(), "to", to.String())
	if kind == "fs" && to == policy.StateClosed {
		go h.RecoverBlobs(context.Background())
	}
}

// breakerEvicted drops the state series of a breaker its set forgot, so
// the series stay as bounded as the sets (max_breakers per kind).
func (h *Host) breakerEvicted(kind, target string) {
	h.metrics.brState.DeleteLabelValues(kind, target)
}

// chainEvict calls a, when set, then b.
func chainEvict(a, b func(kind, target string)) func(kind, target string) {
	if a == nil {
		return b
	}
	return func(kind, target string) {
		a(kind, target)
		b(kind, target)
	}
}

func breakerGauge(s policy.BreakerState) int {
	switch s {
	case policy.StateOpen:
		return 1
	case policy.StateHalfOpen:
		return 2
	}
	return 0
}

func chainTransition(a, b func(kind, target string, from, to policy.BreakerState)) func(kind, target string, from, to policy.BreakerState) {
	if a == nil {
		return b
	}
	return func(kind, target string, from, to policy.BreakerState) {
		a(kind, target, from, to)
		b(kind, target, from, to)
	}
}

// RecoverBlobs moves blobs written to fallback roots (while a primary
// root's breaker was open) back into their primaries, once per distinct
// (root, fallback) pair, and returns how many moved. The host runs it when
// an FS breaker closes; operators may also run `blockhost fs-recover`.
func (h *Host) RecoverBlobs(ctx context.Context) (int, error) {
	seen := map[[2]string]bool{}
	moved := 0
	var errs []error
	for name, bp := range h.cfg.Blocks {
		g := bp.FS
		if g.Root == "" || g.Fallback == "" || seen[[2]string{g.Root, g.Fallback}] {
			continue
		}
		seen[[2]string{g.Root, g.Fallback}] = true
		n, err := h.fs.MoveBack(ctx, g)
		moved += n
		if err != nil {
			errs = append(errs, fmt.Errorf("block %q: %w", name, err))
		}
	}
	if moved > 0 {
		h.log.Info("moved blobs back from fallback roots", "blobs", moved)
	}
	return moved, errors.Join(errs...)
}
