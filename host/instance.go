package host

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/beamline/blockhost/sandbox"
)

// instance is one instantiated module of a block. It serves one call at a
// time; its exports are looked up once.
type instance struct {
	blk    *block
	mod    api.Module
	mem    api.Memory
	run    api.Function
	tenant string
	stack  [1]uint64
	idle   time.Time // when it was last returned

	// cur is the attempt running in the instance, read by its stdout and
	// stderr writers (which run on the calling goroutine).
	cur *call
	// memHit is set when the guest tried to grow memory past its limit,
	// budgetHit when the host's instance memory budget refused it.
	memHit    atomic.Bool
	budgetHit atomic.Bool
}

// limitedMemory backs a linear memory. It refuses growth past the block's
// limit or past the host's instance memory budget, recording that it did
// so the failure can be reported as QUOTA_EXCEEDED.
type limitedMemory struct {
	buf       []byte
	limit     uint64
	hit       *atomic.Bool
	budgetHit *atomic.Bool
	init      bool
	budget    *memBudget
}

// memBudget is the host-wide budget of instance memory; max 0 = none.
type memBudget struct {
	used atomic.Int64
	max  int64
}

// take reserves n bytes, or reports that the budget has no room.
func (b *memBudget) take(n int64) bool {
	if b.max == 0 {
		b.used.Add(n)
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	if m.init && size > m.limit {
		m.hit.Store(true)
		return nil
	}
	if grow := int64(size) - int64(len(m.buf)); grow > 0 && !m.budget.take(grow) {
		if m.init {
			m.budgetHit.Store(true)
			return nil
		}
		m.budget.used.Add(grow) // the initial size was checked before instantiating
	}
	m.init = true
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	c := 2 * uint64(cap(m.buf))
	if c < size {
		c = size
	}
	if c > m.limit && size <= m.limit {
		c = m.limit
	}
	nb := make([]byte, size, c)
	copy(nb, m.buf)
	m.buf = nb
	return nb
}

func (m *limitedMemory) Free() {
	m.budget.used.Add(-int64(len(m.buf)))
	m.buf = nil
}

type stdWriter struct {
	inst   *instance
	stderr bool
}

func (w stdWriter) Write(p []byte) (int, error) {
	c := w.inst.cur
	h := w.inst.blk.host
	if c == nil {
		if h.log.Enabled(context.Background(), slog.LevelDebug) {
			h.log.Debug("guest output outside a step", slog.String("block", w.inst.blk.name), slog.String("text", string(p)))
		}
		return len(p), nil
	}
	if w.stderr {
		c.log.keepStderr(p)
	}
	h.guestStd(c, w.stderr, p)
	return len(p), nil
}

// instantiate creates an instance; ctx bounds _initialize.
func (b *block) instantiate(ctx context.Context, tenant string) (*instance, error) {
	inst := &instance{blk: b, tenant: tenant}
	limit := uint64(b.memPages) * 65536
	ctx = experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(func(c, max uint64) experimental.LinearMemory {
		if c > limit {
			c = limit
		}
		return &limitedMemory{buf: make([]byte, 0, c), limit: limit, hit: &inst.memHit,
			budgetHit: &inst.budgetHit, budget: b.host.memBudget}
	}))
	cfg := b.rt.modCfg.WithStdout(stdWriter{inst: inst}).WithStderr(stdWriter{inst: inst, stderr: true})
	mod, err := b.rt.r.InstantiateModule(ctx, b.compiled, cfg)
	if err != nil {
		if inst.budgetHit.Load() {
			return nil, errMemoryBudget
		}
		return nil, err
	}
	inst.mod = mod
	inst.mem = mod.Memory()
	inst.run = mod.ExportedFunction(b.entry)
	return inst, nil
}

// stackReleaseAfter is how long a call may run before its instance drops
// the engine's call stack it leaves behind. The engine grows that stack
// (outside linear memory, up to about 50 MB) for deep recursion and keeps
// it for the function's next call, so a warm instance would pin it; a call
// this short cannot grow it much (about 4 MB in 9 ms), and dropping the
// stack of a longer one costs its next call a fresh 10 KB stack.
const stackReleaseAfter = 10 * time.Millisecond

// releaseStack drops the entry function's call stack: the function is looked
// up again, with a new, small stack.
func (inst *instance) releaseStack() {
	inst.run = inst.mod.ExportedFunction(inst.blk.entry)
}

func (inst *instance) close() {
	if inst.mod != nil {
		inst.mod.Close(context.Background())
	}
}

// instancePool keeps a block's warm instances. A block never has more live
// instances than max (its resource pool's concurrency); idle instances of
// one tenant are not handed to another unless the block's isolation is
// shared.
type instancePool struct {
	blk *block
	max int

	mu     sync.Mutex
	idle   map[string][]*instance
	nIdle  int
	live   int
	closed bool
	gauge  func(n int)
}

func (p *instancePool) key(tenant string) string {
	if p.blk.isolation == sandbox.IsolationShared {
		return ""
	}
	return tenant
}

// get returns an idle instance for tenant or instantiates one.
func (p *instancePool) get(ctx context.Context, tenant string) (*instance, error) {
	k := p.key(tenant)
	var evict *instance
	p.mu.Lock()
	if p.blk.isolation != sandbox.IsolationStep {
		if list := p.idle[k]; len(list) > 0 {
			inst := list[len(list)-1]
			list[len(list)-1] = nil
			p.idle[k] = list[:len(list)-1]
			p.nIdle--
			p.mu.Unlock()
			return inst, nil
		}
	}
	if p.live >= p.max && p.nIdle > 0 {
		evict = p.popAnyIdle()
		p.live--
	}
	p.live++
	n := p.live
	p.mu.Unlock()
	if evict != nil {
		evict.close()
	}
	p.gauge(n)
	if err := p.blk.host.reserveInstanceMemory(p.blk); err != nil {
		p.drop()
		return nil, err
	}
	inst, err := p.blk.instantiate(ctx, k)
	if err != nil {
		p.drop()
		return nil, err
	}
	return inst, nil
}

func (p *instancePool) popAnyIdle() *instance {
	for k, list := range p.idle {
		if len(list) > 0 {
			inst := list[0]
			copy(list, list[1:])
			list[len(list)-1] = nil
			p.idle[k] = list[:len(list)-1]
			p.nIdle--
			return inst
		}
	}
	return nil
}

// put returns inst after a call; discard closes it instead.
func (p *instancePool) put(inst *instance, discard bool) {
	p.mu.Lock()
	if discard || p.closed || p.blk.isolation == sandbox.IsolationStep {
		p.mu.Unlock()
		inst.close()
		p.drop()
		return
	}
	if p.idle == nil {
		p.idle = make(map[string][]*instance)
	}
	inst.idle = p.blk.host.cfg.Clock.Now()
	p.idle[inst.tenant] = append(p.idle[inst.tenant], inst)
	p.nIdle++
	p.mu.Unlock()
}

// drop accounts for an instance that is gone.
func (p *instancePool) drop() {
	p.mu.Lock()
	p.live--
	n := p.live
	p.mu.Unlock()
	p.gauge(n)
}

// closeAll closes the idle instances; instances returned later are closed
// too.
func (p *instancePool) closeAll() {
	p.mu.Lock()
	p.closed = true
	var idle []*instance
	for k, list := range p.idle {
		idle = append(idle, list...)
		delete(p.idle, k)
	}
	p.nIdle = 0
	p.live -= len(idle)
	n := p.live
	p.mu.Unlock()
	for _, inst := range idle {
		inst.close()
	}
	p.gauge(n)
}

// releaseIdle closes instances idle since before cutoff, keeping at least
// warm instances, and returns how many it closed. limit > 0 stops after that
// many (used to make room in the memory budget).
func (p *instancePool) releaseIdle(cutoff time.Time, warm, limit int) int {
	var gone []*instance
	p.mu.Lock()
	for k, list := range p.idle {
		kept := list[:0]
		for _, inst := range list {
			if p.nIdle > warm && !inst.idle.After(cutoff) && (limit <= 0 || len(gone) < limit) {
				gone = append(gone, inst)
				p.nIdle--
				continue
			}
			kept = append(kept, inst)
		}
		for i := len(kept); i < len(list); i++ {
			list[i] = nil
		}
		if len(kept) == 0 {
			delete(p.idle, k)
		} else {
			p.idle[k] = kept
		}
	}
	p.live -= len(gone)
	n := p.live
	p.mu.Unlock()
	for _, inst := range gone {
		inst.close()
	}
	if len(gone) > 0 {
		p.gauge(n)
	}
	return len(gone)
}
