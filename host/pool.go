package host

import (
	"container/list"
	"context"
	"time"

	"sync"

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

	mu      sync.Mutex
	active  int
	waiters list.List // of *waiter; front = next to run

	activeGauge prometheus.Gauge
	depthGauge  prometheus.Gauge
	waitHist    prometheus.Observer
	rejectFull  prometheus.Counter
	rejectDrop  prometheus.Counter
}

type waiter struct {
	ready   chan bool // true: granted a slot; false: dropped
	elem    *list.Element
	settled bool
}

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
	}
	p.activeGauge.Set(0)
	p.depthGauge.Set(0)
	return p
}

// errQueueFull and errDropped are acquire's rejections.
type rejection string

func (r rejection) Error() string { return string(r) }

const (
	errQueueFull rejection = "queue_full"
	errDropped   rejection = "queue_full" // dropped as the oldest waiter: same wire reason
)

// acquire takes a slot, waiting in the queue if needed. front puts the
// step ahead of the queue without a size check (a retry re-entering). It
// returns a rejection, or ctx's error if ctx ended while waiting.
func (p *resourcePool) acquire(ctx context.Context, front bool) error {
	p.mu.Lock()
	if p.active < p.max && (front || p.waiters.Len() == 0) {
		p.active++
		p.mu.Unlock()
		p.activeGauge.Inc()
		return nil
	}
	var dropped *waiter
	if p.bounded && !front && p.waiters.Len() >= p.maxQueue {
		if p.policy != PolicyDropOldest || p.maxQueue == 0 {
			p.mu.Unlock()
			p.rejectFull.Inc()
			return errQueueFull
		}
		dropped = p.waiters.Remove(p.waiters.Front()).(*waiter)
		dropped.settled = true
		dropped.ready <- false
	}
	w := waiterPool.Get().(*waiter)
	w.settled = false
	if front {
		w.elem = p.waiters.PushFront(w)
	} else {
		w.elem = p.waiters.PushBack(w)
	}
	p.mu.Unlock()
	if dropped != nil {
		p.rejectDrop.Inc()
	} else {
		p.depthGauge.Inc()
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
			// Granted or dropped while ctx ended: take the outcome.
			p.mu.Unlock()
			granted := <-w.ready
			waiterPool.Put(w)
			if granted {
				p.release()
			}
			return context.Cause(ctx)
		}
		p.waiters.Remove(w.elem)
		p.mu.Unlock()
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
		w.settled = true
		w.ready <- true
		p.mu.Unlock()
		p.depthGauge.Dec()
		return
	}
	p.active--
	p.mu.Unlock()
	p.activeGauge.Dec()
}

// Overload states by queue utilisation (beamline): healthy below 50 %,
// degraded to 80 %, overloaded below 100 %, critical when full.
func (p *resourcePool) state(depth int) string {
	if !p.bounded {
		return "healthy"
	}
	u := float64(depth) / float64(max(p.maxQueue, 1))
	switch {
	case u >= 1:
		return "critical"
	case u >= 0.8:
		return "overloaded"
	case u >= 0.5:
		return "degraded"
	}
	return "healthy"
}

func (p *resourcePool) info() PoolInfo {
	p.mu.Lock()
	active, depth := p.active, p.waiters.Len()
	p.mu.Unlock()
	pi := PoolInfo{Name: p.name, MaxConcurrency: p.max, Active: active, QueueDepth: depth,
		Policy: "unbounded", State: p.state(depth)}
	if p.bounded {
		mq := p.maxQueue
		pi.MaxQueueSize = &mq
		pi.Policy = p.policy
	}
	return pi
}
