package policy

import (
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Clock is the time source of the policies. SystemClock is the real one;
// tests inject a FakeClock. Implementations must be safe for concurrent use.
type Clock interface {
	Now() time.Time
}

// Timer is a restartable timer, identical to backoff.Timer so that a
// TimerClock's timers drive backoff.RetryNotifyWithTimer directly: Start
// (re)arms it to fire once after d, Stop disarms it, C is the channel it
// fires on. A Timer is used by one goroutine at a time.
type Timer = backoff.Timer

// TimerClock is a Clock that also makes timers, for waits that a fake clock
// must be able to end (retry waits).
type TimerClock interface {
	Clock
	NewTimer() backoff.Timer
}

// SystemClock is the real clock. It is safe for concurrent use.
type SystemClock struct{}

var _ TimerClock = SystemClock{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a Timer backed by a time.Timer created on first Start.
// Its C is nil (blocks forever) until Start is called.
func (SystemClock) NewTimer() backoff.Timer { return &systemTimer{} }

type systemTimer struct{ t *time.Timer }

func (s *systemTimer) Start(d time.Duration) {
	if s.t == nil {
		s.t = time.NewTimer(d)
		return
	}
	s.t.Reset(d) // Go >= 1.23: no stale value is left in C
}

func (s *systemTimer) Stop() {
	if s.t != nil {
		s.t.Stop()
	}
}

func (s *systemTimer) C() <-chan time.Time {
	if s.t == nil {
		return nil
	}
	return s.t.C
}

// FakeClock is a manual clock for tests: time moves only when Advance is
// called, which fires the timers that come due. It is safe for concurrent
// use. A typical test starts the code under test in a goroutine, polls
// Waiters until that goroutine is waiting on a timer, then calls Advance.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{} // started, not yet fired or stopped
}

var _ TimerClock = (*FakeClock)(nil)

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, timers: make(map[*fakeTimer]struct{})}
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and fires, in deadline order, every
// started timer whose deadline is at or before the new time. A fired timer
// sends its deadline on its channel. A negative d moves the clock back and
// fires nothing.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for t := range c.timers {
		if !t.when.After(c.now) {
			due = append(due, t)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].when.Before(due[j].when) })
	for _, t := range due {
		delete(c.timers, t)
		t.fire(t.when)
	}
}

// Waiters returns the number of timers started and neither fired nor
// stopped: how many goroutines are (about to be) waiting on this clock.
func (c *FakeClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// NewTimer returns a timer driven by this clock. Like a backoff.Timer it is
// used by one goroutine at a time; Advance may be called from any goroutine.
func (c *FakeClock) NewTimer() backoff.Timer {
	return &fakeTimer{clock: c, ch: make(chan time.Time, 1)}
}

type fakeTimer struct {
	clock *FakeClock
	ch    chan time.Time // capacity 1, like time.Timer
	when  time.Time      // guarded by clock.mu
}

// Start arms the timer to fire d after the clock's current time, dropping
// any value left unread from an earlier firing. A d <= 0 fires at once.
func (t *fakeTimer) Start(d time.Duration) {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-t.ch:
	default:
	}
	t.when = c.now.Add(d)
	if d <= 0 {
		delete(c.timers, t)
		t.fire(t.when)
		return
	}
	c.timers[t] = struct{}{}
}

// Stop disarms the timer; it is no longer counted by Waiters.
func (t *fakeTimer) Stop() {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.timers, t)
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// fire sends at without blocking; the channel has room because Start drains
// it and a timer fires at most once per Start.
func (t *fakeTimer) fire(at time.Time) {
	select {
	case t.ch <- at:
	default:
	}
}

// Rand is the random source of the jitter formulas. Int64N returns a
// uniformly distributed value in [0, n) and may panic if n <= 0, as
// math/rand/v2's does. Implementations must be safe for concurrent use.
type Rand interface {
	Int64N(n int64) int64
}

// SystemRand draws from math/rand/v2's top-level functions (randomly seeded
// by the runtime). It is safe for concurrent use.
type SystemRand struct{}

var _ Rand = SystemRand{}

// Int64N returns rand.Int64N(n).
func (SystemRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// NewSeededRand returns a deterministic Rand seeded with seed (a PCG source
// with both halves of its state set to seed), for reproducible tests. It is
// safe for concurrent use (a mutex guards the source), though the sequence
// each goroutine sees then depends on scheduling.
func NewSeededRand(seed uint64) Rand {
	return &seededRand{r: rand.New(rand.NewPCG(seed, seed))}
}

type seededRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (s *seededRand) Int64N(n int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Int64N(n)
}
