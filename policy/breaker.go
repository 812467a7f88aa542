package policy

import (
	"container/list"
	"errors"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of a circuit breaker.
type BreakerState int32

// Breaker states.
const (
	// StateClosed lets every call through and counts failures.
	StateClosed BreakerState = iota
	// StateOpen refuses every call until the recovery timeout has passed.
	StateOpen
	// StateHalfOpen lets a bounded number of concurrent probes through.
	StateHalfOpen
)

// String returns "closed", "open" or "half_open" (the wire form), or
// "unknown" for any other value.
func (s BreakerState) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateHalfOpen:
		return "half_open"
	}
	return "unknown"
}

// MarshalText encodes s as String does, for JSON listings.
func (s BreakerState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ErrOpen is the sentinel of a refused call: the breaker is open, or
// half-open with all its probes in flight. Breaker.Allow returns it wrapped
// in an *OpenError; test with errors.Is(err, ErrOpen).
var ErrOpen = errors.New("circuit open")

// OpenError is the error of a call refused by a breaker. It unwraps to
// ErrOpen; its message is "circuit open: <target>".
type OpenError struct {
	// Target is the breaker's name: the endpoint or path it guards.
	Target string
	// Until is when the breaker lets a probe through; the zero time when it
	// is half-open and its probes are all in flight.
	Until time.Time
}

func (e *OpenError) Error() string { return "circuit open: " + e.Target }

// Unwrap returns ErrOpen.
func (e *OpenError) Unwrap() error { return ErrOpen }

// Breaker defaults.
const (
	DefaultFailureThreshold  = 5
	DefaultRecoveryTimeout   = 30 * time.Second
	DefaultHalfOpenMaxProbes = 1
	DefaultSuccessThreshold  = 2
	DefaultRateWindow        = 60 * time.Second
	DefaultMinRequests       = 10
)

// BreakerSettings configures a Breaker. Zero values take the defaults:
//
//   - FailureThreshold 0 → 5 consecutive failures open the breaker; a
//     negative value disables this trigger (use the failure rate alone);
//   - FailureRate 0 → the failure-rate trigger is off;
//   - RateWindow 0 → 60 s (only used when FailureRate > 0);
//   - MinRequests 0 → 10 (only used when FailureRate > 0);
//   - RecoveryTimeout 0 → 30 s;
//   - HalfOpenMaxProbes 0 → 1 concurrent probe;
//   - SuccessThreshold 0 → 2 consecutive successful probes close it;
//   - Clock nil → SystemClock;
//   - OnStateChange nil → no listener.
//
// It is a plain value, safe to copy and to read concurrently.
type BreakerSettings struct {
	// FailureThreshold is how many consecutive failures, while closed, open
	// the breaker (default 5; negative: never by count).
	FailureThreshold int
	// FailureRate, in (0, 1], opens the breaker while closed when the share
	// of failures among the outcomes of the last RateWindow reaches it, once
	// at least MinRequests outcomes are in the window (default 0: off).
	FailureRate float64
	// RateWindow is the rolling window of the failure rate, kept in ten
	// buckets (default 60 s).
	RateWindow time.Duration
	// MinRequests is how many outcomes the window needs before the rate
	// counts (default 10).
	MinRequests int
	// RecoveryTimeout is how long the breaker stays open before it lets
	// probes through (default 30 s).
	RecoveryTimeout time.Duration
	// HalfOpenMaxProbes is how many probes may be in flight at once while
	// half-open (default 1).
	HalfOpenMaxProbes int
	// SuccessThreshold is how many consecutive successful probes close a
	// half-open breaker (default 2). Any failed probe re-opens it.
	SuccessThreshold int
	// Clock is the time source (default SystemClock).
	Clock Clock
	// OnStateChange, when set, is called after every state change with the
	// breaker's name. Calls are made one at a time, in the order of the
	// changes, never while the breaker's lock is held (a listener may call
	// any Breaker method), possibly from another goroutine than the one
	// whose call caused the change.
	OnStateChange func(name string, from, to BreakerState)
	// OnEvict, when set, is called by a BreakerSet with the name of a
	// closed breaker it forgets to stay within its bound, outside the
	// set's lock, so that what was kept per target (a metric series) can
	// go too. A Breaker alone never calls it.
	OnEvict func(name string)
}

// WithDefaults returns a copy of s with every zero field set to its default
// (see BreakerSettings).
func (s BreakerSettings) WithDefaults() BreakerSettings {
	if s.FailureThreshold == 0 {
		s.FailureThreshold = DefaultFailureThreshold
	}
	if s.RateWindow <= 0 {
		s.RateWindow = DefaultRateWindow
	}
	if s.MinRequests <= 0 {
		s.MinRequests = DefaultMinRequests
	}
	if s.RecoveryTimeout <= 0 {
		s.RecoveryTimeout = DefaultRecoveryTimeout
	}
	if s.HalfOpenMaxProbes <= 0 {
		s.HalfOpenMaxProbes = DefaultHalfOpenMaxProbes
	}
	if s.SuccessThreshold <= 0 {
		s.SuccessThreshold = DefaultSuccessThreshold
	}
	if s.Clock == nil {
		s.Clock = SystemClock{}
	}
	return s
}

// BreakerSnapshot is a breaker's state at one moment, for listings.
type BreakerSnapshot struct {
	// Name is the breaker's name (its target in a BreakerSet).
	Name string
	// State is the current state.
	State BreakerState
	// ConsecutiveFailures counts the failures recorded since the last
	// success (kept while open, so a listing shows what tripped it).
	ConsecutiveFailures int
	// OpenedAt is when the breaker last opened; zero while closed.
	OpenedAt time.Time
}

// Breaker is a circuit breaker guarding one target. Closed, it lets every
// call through and opens after FailureThreshold consecutive failures (or
// when the failure rate trips). Open, it refuses calls until
// RecoveryTimeout has passed, then turns half-open and lets at most
// HalfOpenMaxProbes calls through at once: a failed probe re-opens it,
// SuccessThreshold consecutive successful probes close it.
//
// Every state change starts a new generation; an outcome reported for a call
// admitted in an earlier generation is dropped. A Breaker is safe for
// concurrent use.
type Breaker struct {
	name string
	s    BreakerSettings

	mu         sync.Mutex
	state      BreakerState
	generation uint64
	failures   int // consecutive failures
	successes  int // consecutive successful probes while half-open
	probes     int // probes in flight while half-open
	openedAt   time.Time
	window     *rollingWindow // nil when the failure rate is off
	events     []stateEvent   // state changes not yet delivered
	notifying  bool           // a goroutine is delivering events
}

type stateEvent struct{ from, to BreakerState }

// NewBreaker returns a closed breaker named name (the target it guards),
// with s's defaults applied (see BreakerSettings).
func NewBreaker(name string, s BreakerSettings) *Breaker {
	s = s.WithDefaults()
	b := &Breaker{name: name, s: s}
	if s.FailureRate > 0 {
		b.window = newRollingWindow(s.Clock.Now(), s.RateWindow)
	}
	return b
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// Allow asks to make one call. When the breaker is open, or half-open with
// all its probes in flight, it returns an *OpenError (wrapping ErrOpen) and
// a nil done. Otherwise the caller must make the call and then report its
// outcome with done(true) or done(false) exactly once; later calls of done
// are ignored, and so is an outcome arriving after the breaker has changed
// state since Allow (a stale generation). A caller that abandons a call
// should report it as a failure, or a half-open probe slot stays taken until
// the next state change.
func (b *Breaker) Allow() (done func(success bool), err error) {
	b.mu.Lock()
	now := b.s.Clock.Now()
	b.tick(now)
	switch b.state {
	case StateOpen:
		until := b.openedAt.Add(b.s.RecoveryTimeout)
		b.unlockAndNotify()
		return nil, &OpenError{Target: b.name, Until: until}
	case StateHalfOpen:
		if b.probes >= b.s.HalfOpenMaxProbes {
			b.unlockAndNotify()
			return nil, &OpenError{Target: b.name}
		}
		b.probes++
	}
	gen := b.generation
	b.unlockAndNotify()

	var reported atomic.Bool
	return func(success bool) {
		if reported.CompareAndSwap(false, true) {
			b.record(gen, success)
		}
	}, nil
}

// State returns the current state, turning an open breaker whose recovery
// timeout has passed half-open first.
func (b *Breaker) State() BreakerState {
	b.mu.Lock()
	b.tick(b.s.Clock.Now())
	st := b.state
	b.unlockAndNotify()
	return st
}

// Snapshot returns the breaker's current state (after the same recovery
// check as State), consecutive failures and last opening time.
func (b *Breaker) Snapshot() BreakerSnapshot {
	b.mu.Lock()
	b.tick(b.s.Clock.Now())
	snap := BreakerSnapshot{
		Name:                b.name,
		State:               b.state,
		ConsecutiveFailures: b.failures,
		OpenedAt:            b.openedAt,
	}
	b.unlockAndNotify()
	return snap
}

// peekState returns the state without any transition or notification, for
// BreakerSet's eviction, which holds the set's lock.
func (b *Breaker) peekState() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// record applies the outcome of a call admitted in generation gen.
func (b *Breaker) record(gen uint64, success bool) {
	b.mu.Lock()
	if gen != b.generation {
		b.unlockAndNotify()
		return
	}
	now := b.s.Clock.Now()
	switch b.state {
	case StateClosed:
		if success {
			b.failures = 0
		} else {
			b.failures++
		}
		tripped := !success && b.s.FailureThreshold > 0 && b.failures >= b.s.FailureThreshold
		if b.window != nil {
			b.window.add(now, success)
			if !success && !tripped {
				total, failed := b.window.totals(now)
				tripped = total >= b.s.MinRequests && float64(failed) >= b.s.FailureRate*float64(total)
			}
		}
		if tripped {
			b.setState(StateOpen, now)
		}
	case StateHalfOpen:
		b.probes--
		if !success {
			b.failures++
			b.setState(StateOpen, now)
			break
		}
		b.failures = 0
		b.successes++
		if b.successes >= b.s.SuccessThreshold {
			b.setState(StateClosed, now)
		}
	}
	b.unlockAndNotify()
}

// tick turns an open breaker half-open once its recovery timeout has
// passed. b.mu is held.
func (b *Breaker) tick(now time.Time) {
	if b.state == StateOpen && !now.Before(b.openedAt.Add(b.s.RecoveryTimeout)) {
		b.setState(StateHalfOpen, now)
	}
}

// setState changes state, starts a new generation and queues the event for
// the listener. b.mu is held.
func (b *Breaker) setState(to BreakerState, now time.Time) {
	from := b.state
	if from == to {
		return
	}
	b.state = to
	b.generation++
	b.probes = 0
	b.successes = 0
	switch to {
	case StateOpen:
		b.openedAt = now
	case StateClosed:
		b.openedAt = time.Time{}
		b.failures = 0
		if b.window != nil {
			b.window.reset()
		}
	}
	if b.s.OnStateChange != nil {
		b.events = append(b.events, stateEvent{from, to})
	}
}

// unlockAndNotify releases b.mu and, unless another goroutine is already
// doing it, delivers the queued state changes to the listener one at a time
// without holding b.mu. Events queued meanwhile (also by the listener
// itself) are delivered by the same loop, so they stay in order.
func (b *Breaker) unlockAndNotify() {
	if b.notifying || len(b.events) == 0 {
		b.mu.Unlock()
		return
	}
	b.notifying = true
	for len(b.events) > 0 {
		ev := b.events[0]
		b.events = b.events[1:]
		if len(b.events) == 0 {
			b.events = nil
		}
		b.mu.Unlock()
		b.deliver(ev)
		b.mu.Lock()
	}
	b.notifying = false
	b.mu.Unlock()
}

// deliver calls the listener; if it panics, delivery is handed back so a
// later change is still reported, and the panic goes on.
func (b *Breaker) deliver(ev stateEvent) {
	ok := false
	defer func() {
		if !ok {
			b.mu.Lock()
			b.notifying = false
			b.mu.Unlock()
		}
	}()
	b.s.OnStateChange(b.name, ev.from, ev.to)
	ok = true
}

// rollingWindow counts outcomes over a window in ten buckets.
type rollingWindow struct {
	origin  time.Time
	width   time.Duration // of one bucket
	buckets [windowBuckets]bucket
}

const windowBuckets = 10

type bucket struct {
	idx          int64 // bucket number since origin; math.MinInt64 when empty
	total, fails int
}

func newRollingWindow(origin time.Time, window time.Duration) *rollingWindow {
	w := &rollingWindow{origin: origin, width: max(window/windowBuckets, 1)}
	w.reset()
	return w
}

func (w *rollingWindow) index(now time.Time) int64 {
	return max(int64(now.Sub(w.origin)/w.width), 0)
}

func (w *rollingWindow) reset() {
	for i := range w.buckets {
		w.buckets[i] = bucket{idx: math.MinInt64}
	}
}

func (w *rollingWindow) add(now time.Time, success bool) {
	i := w.index(now)
	bk := &w.buckets[i%windowBuckets]
	if bk.idx != i {
		*bk = bucket{idx: i}
	}
	bk.total++
	if !success {
		bk.fails++
	}
}

func (w *rollingWindow) totals(now time.Time) (total, fails int) {
	cur := w.index(now)
	for _, bk := range w.buckets {
		if bk.idx > cur-windowBuckets && bk.idx <= cur {
			total += bk.total
			fails += bk.fails
		}
	}
	return total, fails
}

// DefaultMaxBreakers bounds the breakers a BreakerSet tracks.
const DefaultMaxBreakers = 1024

// BreakerSet holds one breaker per target (HTTP endpoint or FS path) of one
// kind, created on demand with shared settings. It keeps at most max
// breakers: when a new one would exceed it, the least recently used closed
// breaker is forgotten (a later Get makes a fresh closed one; a caller still
// holding the old pointer may keep using it). Open and half-open breakers
// are never evicted: if every tracked breaker is open or half-open the set
// grows past max rather than lose their state. A BreakerSet is safe for
// concurrent use.
type BreakerSet struct {
	kind     string
	settings BreakerSettings
	max      int

	mu    sync.Mutex
	byKey map[string]*list.Element // of *Breaker
	lru   *list.List               // front: most recently used
}

// NewBreakerSet returns an empty set of breakers of the given kind ("http",
// "fs"), each made with s (OnStateChange receives the target as name). A
// max <= 0 means DefaultMaxBreakers (1024).
func NewBreakerSet(kind string, s BreakerSettings, max int) *BreakerSet {
	limit := max
	if limit <= 0 {
		limit = DefaultMaxBreakers
	}
	return &BreakerSet{kind: kind, settings: s, max: limit, byKey: make(map[string]*list.Element), lru: list.New()}
}

// Kind returns the set's kind.
func (bs *BreakerSet) Kind() string { return bs.kind }

// Get returns the breaker of target, creating a closed one if there is
// none, and marks it most recently used. Creating one may evict the least
// recently used closed breaker (see BreakerSet).
func (bs *BreakerSet) Get(target string) *Breaker {
	bs.mu.Lock()
	if el, ok := bs.byKey[target]; ok {
		bs.lru.MoveToFront(el)
		bs.mu.Unlock()
		return el.Value.(*Breaker)
	}
	b := NewBreaker(target, bs.settings)
	bs.byKey[target] = bs.lru.PushFront(b)
	evicted := ""
	if bs.lru.Len() > bs.max {
		// Lock order: set, then breaker. peekState neither transitions nor
		// calls a listener, so no listener runs under the set's lock.
		for el := bs.lru.Back(); el != nil && el != bs.lru.Front(); el = el.Prev() {
			old := el.Value.(*Breaker)
			if old.peekState() == StateClosed {
				bs.lru.Remove(el)
				delete(bs.byKey, old.name)
				evicted = old.name
				break
			}
		}
	}
	bs.mu.Unlock()
	if evicted != "" && bs.settings.OnEvict != nil {
		bs.settings.OnEvict(evicted)
	}
	return b
}

// Len returns how many breakers the set tracks.
func (bs *BreakerSet) Len() int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return bs.lru.Len()
}

// List returns a snapshot of every tracked breaker, sorted by target. It
// does not change their recency.
func (bs *BreakerSet) List() []BreakerSnapshot {
	bs.mu.Lock()
	all := make([]*Breaker, 0, bs.lru.Len())
	for el := bs.lru.Front(); el != nil; el = el.Next() {
		all = append(all, el.Value.(*Breaker))
	}
	bs.mu.Unlock()

	out := make([]BreakerSnapshot, len(all))
	for i, b := range all {
		out[i] = b.Snapshot() // outside the set's lock: may call a listener
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
