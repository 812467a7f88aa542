package host

import (
	"container/list"
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// resourcePool bounds how many steps of a class run at once. Admission is
// O(1): a free slot runs the step, else it waits in a FIFO queue, unbounded
// in CP1 and bounded (reject_new or drop_oldest) with CP2 queue management.
// A retried step re-enters ahead of the queue without a size check. Queue
// depth drops the moment a waiter leaves for any reason. Safe for concurrent
// use.
type resourcePool struct {
	name     string
	max      int
	bounded  bool
	maxQueue int
	policy   string

	// tenantMax bounds one tenant's waiters (0: no per-tenant share).
	tenantMax int
	// degradedAt and overloadedAt are the queue depths where the overload
	// state changes (critical is a full queue).
	degradedAt, overloadedAt int

	mu       sync.Mutex
	active   int
	waiters  list.List // of *waiter; front = next to run
	byTenant map[string]int
	ostate   overloadState

	log        *slog.Logger
	stateGauge prometheus.Gauge

	activeGauge prometheus.Gauge
	depthGauge  prometheus.Gauge
	waitHist    prometheus.Observer
	rejectFull  prometheus.Counter
	rejectDrop  prometheus.Counter
	rejectShare prometheus.Counter
}

type waiter struct {
	ready   chan bool // true: granted a slot; false: dropped
	elem    *list.Element
	tenant  string
	settled bool
}

// overloadState is a pool's state by queue utilisation.
type overloadState int

const (
	stateHealthy overloadState = iota
	stateDegraded
	stateOverloaded
	stateCritical
)

var overloadNames = [...]string{"healthy", "degraded", "overloaded", "critical"}

func (s overloadState) String() string { return overloadNames[s] }

var waiterPool = sync.Pool{New: func() any { return &waiter{ready: make(chan bool, 1)} }}

func (h *Host) newPool(pc PoolConfig) *resourcePool {
	p := &resourcePool{
		name:        pc.Name,
		max:         pc.MaxConcurrency,
		bounded:     h.cfg.Features.QueueManagement,
		maxQueue:    pc.MaxQueueSize,
		policy:      pc.Policy,
		activeGauge: h.metrics.active.WithLabelValues(pc.Name),
		depthGauge:  h.metrics.queueDepth.WithLabelValues(pc.Name),
		waitHist:    h.metrics.queueWait.WithLabelValues(pc.Name),
		rejectFull:  h.metrics.rejections.WithLabelValues(pc.Name, "queue_full"),
		rejectDrop:  h.metrics.rejections.WithLabelValues(pc.Name, "dropped_oldest"),
		rejectShare: h.metrics.rejections.WithLabelValues(pc.Name, "tenant_share"),
		stateGauge:  h.metrics.overload.WithLabelValues(pc.Name),
		log:         h.log,
	}
	if p.bounded && pc.TenantShare > 0 {
		p.tenantMax = max(1, int(pc.TenantShare*float64(pc.MaxQueueSize)))
		p.byTenant = map[string]int{}
	}
	th := h.cfg.Overload
	p.degradedAt = int(th.Degraded * float64(pc.MaxQueueSize))
	p.overloadedAt = int(th.Overloaded * float64(pc.MaxQueueSize))
	p.activeGauge.Set(0)
	p.depthGauge.Set(0)
	p.stateGauge.Set(0)
	return p
}

// depthChanged recomputes the overload state after the queue changed; p.mu
// is held. It returns the new state and whether it changed.
func (p *resourcePool) depthChanged() (overloadState, bool) {
	if !p.bounded {
		return stateHealthy, false
	}
	d := p.waiters.Len()
	st := stateHealthy
	switch {
	case d >= p.maxQueue:
		st = stateCritical
	case d >= p.overloadedAt:
		st = stateOverloaded
	case d >= p.degradedAt:
		st = stateDegraded
	}
	if st == p.ostate {
		return st, false
	}
	p.ostate = st
	return st, true
}

// stateChanged publishes a state change; called without p.mu.
func (p *resourcePool) stateChanged(st overloadState, depth int) {
	p.stateGauge.Set(float64(st))
	p.log.Info("resource pool state changed", "resource_pool", p.name, "state", st.String(),
		"queue_depth", depth, "max_queue_size", p.maxQueue)
}

// leave removes a waiter's tenant accounting; p.mu is held.
func (p *resourcePool) leave(w *waiter) {
	if p.byTenant != nil {
		if n := p.byTenant[w.tenant] - 1; n > 0 {
			p.byTenant[w.tenant] = n
		} else {
			delete(p.byTenant, w.tenant)
		}
	}
}

// errQueueFull and errDropped are acquire's rejections.
type rejection string

func (r rejection) Error() string { return string(r) }

const (
	errQueueFull   rejection = "queue_full"
	errDropped     rejection = "queue_full" // dropped as the oldest waiter: same wire reason
	errTenantShare rejection = "queue_full" // the tenant's share of the queue is full
)

// acquire takes a slot, waiting in the queue if needed. front puts the
// step ahead of the queue without a size check (a retry re-entering). It
// returns a rejection, or ctx's cause if ctx ended while waiting.
func (p *resourcePool) acquire(ctx context.Context, tenant string, front bool, admitted func()) error {
	p.mu.Lock()
	if p.active < p.max && (front || p.waiters.Len() == 0) {
		p.active++
		p.mu.Unlock()
		p.activeGauge.Inc()
		if admitted != nil {
			admitted()
		}
		return nil
	}
	var dropped *waiter
	if p.bounded && !front {
		if p.tenantMax > 0 && p.byTenant[tenant] >= p.tenantMax {
			p.mu.Unlock()
			p.rejectShare.Inc()
			return errTenantShare
		}
		if p.waiters.Len() >= p.maxQueue {
			if p.policy != PolicyDropOldest || p.maxQueue == 0 {
				p.mu.Unlock()
				p.rejectFull.Inc()
				return errQueueFull
			}
			dropped = p.waiters.Remove(p.waiters.Front()).(*waiter)
			p.leave(dropped)
			dropped.settled = true
			dropped.ready <- false
		}
	}
	w := waiterPool.Get().(*waiter)
	w.settled, w.tenant = false, tenant
	if front {
		w.elem = p.waiters.PushFront(w)
	} else {
		w.elem = p.waiters.PushBack(w)
	}
	if p.byTenant != nil {
		p.byTenant[tenant]++
	}
	st, changed := p.depthChanged()
	depth := p.waiters.Len()
	p.mu.Unlock()
	if changed {
		p.stateChanged(st, depth)
	}
	if dropped != nil {
		p.rejectDrop.Inc()
	} else {
		p.depthGauge.Inc()
	}
	if admitted != nil {
		admitted()
	}
	start := time.Now()
	select {
	case granted := <-w.ready:
		waiterPool.Put(w)
		if !granted {
			return errDropped
		}
		p.waitHist.Observe(time.Since(start).Seconds())
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		if w.settled {
			// Granted or dropped as ctx ended: take the outcome, then leave.
			p.mu.Unlock()
			granted := <-w.ready
			waiterPool.Put(w)
			if granted {
				p.release()
			}
			return context.Cause(ctx)
		}
		p.waiters.Remove(w.elem)
		p.leave(w)
		st, changed := p.depthChanged()
		depth := p.waiters.Len()
		p.mu.Unlock()
		if changed {
			p.stateChanged(st, depth)
		}
		p.depthGauge.Dec()
		waiterPool.Put(w)
		return context.Cause(ctx)
	}
}

// release frees a slot, handing it to the first waiter if any.
func (p *resourcePool) release() {
	p.mu.Lock()
	if e := p.waiters.Front(); e != nil {
		w := p.waiters.Remove(e).(*waiter)
		p.leave(w)
		w.settled = true
		w.ready <- true
		st, changed := p.depthChanged()
		depth := p.waiters.Len()
		p.mu.Unlock()
		if changed {
			p.stateChanged(st, depth)
		}
		p.depthGauge.Dec()
		return
	}
	p.active--
	p.mu.Unlock()
	p.activeGauge.Dec()
}

func (p *resourcePool) info() PoolInfo {
	p.mu.Lock()
	active, depth, st := p.active, p.waiters.Len(), p.ostate
	p.mu.Unlock()
	pi := PoolInfo{Name: p.name, MaxConcurrency: p.max, Active: active, QueueDepth: depth,
		Policy: "unbounded", State: st.String()}
	if p.bounded {
		mq := p.maxQueue
		pi.MaxQueueSize = &mq
		pi.Policy = p.policy
	}
	return pi
}
