package policy

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type transition struct {
	name     string
	from, to BreakerState
}

// recorder collects state changes; safe for concurrent use.
type recorder struct {
	mu  sync.Mutex
	got []transition
}

func (r *recorder) listen(name string, from, to BreakerState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, transition{name, from, to})
}

func (r *recorder) transitions() []transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transition(nil), r.got...)
}

// newTestBreaker returns a breaker on a fake clock with its transitions
// recorded. Zero settings take the defaults.
func newTestBreaker(s BreakerSettings) (*Breaker, *FakeClock, *recorder) {
	clk := NewFakeClock(t0)
	rec := &recorder{}
	s.Clock = clk
	s.OnStateChange = rec.listen
	return NewBreaker("api.example.com:443", s), clk, rec
}

// call makes one call through b with the given outcome; it reports whether
// the breaker admitted it.
func call(b *Breaker, success bool) bool {
	done, err := b.Allow()
	if err != nil {
		return false
	}
	done(success)
	return true
}

func failN(t *testing.T, b *Breaker, n int) {
	t.Helper()
	for i := range n {
		require.True(t, call(b, false), "call %d refused", i)
	}
}

// trip opens b with its consecutive-failure threshold.
func trip(t *testing.T, b *Breaker) {
	t.Helper()
	failN(t, b, b.s.FailureThreshold)
	require.Equal(t, StateOpen, b.State())
}

func TestBreakerStateString(t *testing.T) {
	tests := []struct {
		s    BreakerState
		want string
	}{{StateClosed, "closed"}, {StateOpen, "open"}, {StateHalfOpen, "half_open"}, {BreakerState(9), "unknown"}}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.s.String())
		text, err := tt.s.MarshalText()
		require.NoError(t, err)
		assert.Equal(t, tt.want, string(text))
	}
}

func TestBreakerSettingsDefaults(t *testing.T) {
	s := BreakerSettings{}.WithDefaults()
	assert.Equal(t, 5, s.FailureThreshold)
	assert.Equal(t, 0.0, s.FailureRate)
	assert.Equal(t, 60*time.Second, s.RateWindow)
	assert.Equal(t, 10, s.MinRequests)
	assert.Equal(t, 30*time.Second, s.RecoveryTimeout)
	assert.Equal(t, 1, s.HalfOpenMaxProbes)
	assert.Equal(t, 2, s.SuccessThreshold)
	assert.Equal(t, SystemClock{}, s.Clock)
	assert.Nil(t, s.OnStateChange)

	custom := BreakerSettings{FailureThreshold: -1, RecoveryTimeout: time.Second, HalfOpenMaxProbes: 3, SuccessThreshold: 4}.WithDefaults()
	assert.Equal(t, -1, custom.FailureThreshold)
	assert.Equal(t, time.Second, custom.RecoveryTimeout)
	assert.Equal(t, 3, custom.HalfOpenMaxProbes)
	assert.Equal(t, 4, custom.SuccessThreshold)
}

func TestOpenErrorIsErrOpen(t *testing.T) {
	until := t0.Add(time.Minute)
	var err error = &OpenError{Target: "10.0.0.1:80", Until: until}
	assert.ErrorIs(t, err, ErrOpen)
	assert.Equal(t, "circuit open: 10.0.0.1:80", err.Error())
	var oe *OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, until, oe.Until)
	assert.False(t, errors.Is(errors.New("circuit open"), ErrOpen))
}

// The whole life cycle with the default settings.
func TestBreakerLifeCycle(t *testing.T) {
	b, clk, rec := newTestBreaker(BreakerSettings{})
	assert.Equal(t, "api.example.com:443", b.Name())
	failN(t, b, 5)
	assert.Equal(t, StateOpen, b.State())
	assert.False(t, call(b, true))
	clk.Advance(30 * time.Second)
	assert.Equal(t, StateHalfOpen, b.State())
	assert.True(t, call(b, true))
	assert.True(t, call(b, true))
	assert.Equal(t, StateClosed, b.State())
	n := "api.example.com:443"
	assert.Equal(t, []transition{
		{n, StateClosed, StateOpen}, {n, StateOpen, StateHalfOpen}, {n, StateHalfOpen, StateClosed},
	}, rec.transitions())
}

// Regression (sony/gobreaker): a listener must never run under the
// breaker's lock. This one calls back into the breaker, including a call
// that causes a further transition.
func TestBreakerListenerNotCalledUnderLock(t *testing.T) {
	clk := NewFakeClock(t0)
	var b *Breaker
	var got []transition
	var states []BreakerState
	b = NewBreaker("t", BreakerSettings{
		FailureThreshold: 1,
		Clock:            clk,
		OnStateChange: func(name string, from, to BreakerState) {
			got = append(got, transition{name, from, to})
			states = append(states, b.State())
			_ = b.Snapshot()
			if to == StateOpen {
				clk.Advance(30 * time.Second)
				// Turns the breaker half-open: queued, delivered after
				// this call returns, by the same loop.
				states = append(states, b.State())
			}
		},
	})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		call(b, false)
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: the listener was called under the breaker's lock")
	}
	assert.Equal(t, []transition{{"t", StateClosed, StateOpen}, {"t", StateOpen, StateHalfOpen}}, got)
	assert.Equal(t, []BreakerState{StateOpen, StateHalfOpen, StateHalfOpen}, states)
}

func TestBreakerPanickingListenerDoesNotStopLaterEvents(t *testing.T) {
	clk := NewFakeClock(t0)
	calls := 0
	b := NewBreaker("t", BreakerSettings{
		FailureThreshold: 1,
		Clock:            clk,
		OnStateChange: func(string, BreakerState, BreakerState) {
			calls++
			if calls == 1 {
				panic("listener bug")
			}
		},
	})
	assert.Panics(t, func() { call(b, false) })
	assert.Equal(t, StateOpen, b.State(), "the transition happened even though the listener panicked")
	clk.Advance(time.Minute)
	assert.Equal(t, StateHalfOpen, b.State())
	assert.Equal(t, 2, calls)
}

func TestBreakerDoneIsIdempotent(t *testing.T) {
	b, _, _ := newTestBreaker(BreakerSettings{FailureThreshold: 3})
	done, err := b.Allow()
	require.NoError(t, err)
	for range 10 {
		done(false)
	}
	assert.Equal(t, 1, b.Snapshot().ConsecutiveFailures)
	assert.Equal(t, StateClosed, b.State())
}

// Parallel hammer (sony/gobreaker style): counts are exact however the
// goroutines interleave.
func TestBreakerHammerClosedCountsExactly(t *testing.T) {
	const goroutines, perG = 16, 500
	b, _, rec := newTestBreaker(BreakerSettings{FailureThreshold: -1})
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perG {
				done, err := b.Allow()
				if err != nil {
					t.Error(err)
					return
				}
				done(false)
			}
		}()
	}
	wg.Wait()
	snap := b.Snapshot()
	assert.Equal(t, StateClosed, snap.State)
	assert.Equal(t, goroutines*perG, snap.ConsecutiveFailures)
	assert.Empty(t, rec.transitions())
}

func TestBreakerHammerOpensOnceAtThreshold(t *testing.T) {
	const goroutines, perG, threshold = 16, 200, 50
	b, _, rec := newTestBreaker(BreakerSettings{FailureThreshold: threshold, RecoveryTimeout: time.Hour})
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perG {
				done, err := b.Allow()
				if err != nil {
					assert.ErrorIs(t, err, ErrOpen)
					refused.Add(1)
					continue
				}
				admitted.Add(1)
				done(false)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(goroutines*perG), admitted.Load()+refused.Load())
	assert.GreaterOrEqual(t, admitted.Load(), int64(threshold))
	snap := b.Snapshot()
	assert.Equal(t, StateOpen, snap.State)
	assert.Equal(t, threshold, snap.ConsecutiveFailures, "failures of calls admitted before the trip are dropped")
	assert.Equal(t, []transition{{b.Name(), StateClosed, StateOpen}}, rec.transitions())
}

func TestBreakerHammerHalfOpenProbesBounded(t *testing.T) {
	const goroutines, probes = 32, 3
	b, clk, _ := newTestBreaker(BreakerSettings{FailureThreshold: 1, HalfOpenMaxProbes: probes})
	trip(t, b)
	clk.Advance(30 * time.Second)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 10 {
				if _, err := b.Allow(); err == nil {
					admitted.Add(1) // never reported: the slot stays taken
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int64(probes), admitted.Load())
	assert.Equal(t, StateHalfOpen, b.State())
}

func TestBreakerHammerFullCycle(t *testing.T) {
	const goroutines = 16
	b, clk, rec := newTestBreaker(BreakerSettings{FailureThreshold: 1, HalfOpenMaxProbes: 4, SuccessThreshold: 200})
	trip(t, b)
	clk.Advance(30 * time.Second)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b.State() != StateClosed {
				if done, err := b.Allow(); err == nil {
					done(true)
				}
			}
		}()
	}
	wg.Wait()
	n := b.Name()
	assert.Equal(t, []transition{
		{n, StateClosed, StateOpen}, {n, StateOpen, StateHalfOpen}, {n, StateHalfOpen, StateClosed},
	}, rec.transitions())
}
