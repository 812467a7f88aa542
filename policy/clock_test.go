package policy

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// waitForWaiters polls until clk has n started timers; it never sleeps a
// fixed time.
func waitForWaiters(t *testing.T, clk *FakeClock, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return clk.Waiters() == n }, 5*time.Second, time.Millisecond,
		"want %d waiters", n)
}

func TestFakeClockNowAdvance(t *testing.T) {
	clk := NewFakeClock(t0)
	assert.Equal(t, t0, clk.Now())
	clk.Advance(1500 * time.Millisecond)
	assert.Equal(t, t0.Add(1500*time.Millisecond), clk.Now())
	clk.Advance(0)
	assert.Equal(t, t0.Add(1500*time.Millisecond), clk.Now())
}

func TestFakeTimerFiresOnAdvance(t *testing.T) {
	clk := NewFakeClock(t0)
	tm := clk.NewTimer()
	tm.Start(time.Second)
	assert.Equal(t, 1, clk.Waiters())

	clk.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("fired early")
	default:
	}
	assert.Equal(t, 1, clk.Waiters())

	clk.Advance(time.Millisecond)
	select {
	case at := <-tm.C():
		assert.Equal(t, t0.Add(time.Second), at)
	default:
		t.Fatal("did not fire at its deadline")
	}
	assert.Equal(t, 0, clk.Waiters())

	// Restart: fires again, once.
	tm.Start(10 * time.Millisecond)
	clk.Advance(time.Hour)
	require.Len(t, tm.C(), 1)
	<-tm.C()
	clk.Advance(time.Hour)
	assert.Len(t, tm.C(), 0)
}

func TestFakeTimerStopAndRestartDropsStaleValue(t *testing.T) {
	clk := NewFakeClock(t0)
	tm := clk.NewTimer()
	tm.Start(time.Second)
	tm.Stop()
	assert.Equal(t, 0, clk.Waiters())
	clk.Advance(2 * time.Second)
	assert.Len(t, tm.C(), 0, "a stopped timer does not fire")

	tm.Start(time.Second)
	clk.Advance(time.Second) // fires, value left unread
	tm.Start(time.Second)    // must drop the stale value
	assert.Len(t, tm.C(), 0)
	assert.Equal(t, 1, clk.Waiters())
}

func TestFakeTimerNonPositiveFiresAtOnce(t *testing.T) {
	clk := NewFakeClock(t0)
	tm := clk.NewTimer()
	tm.Start(0)
	assert.Equal(t, 0, clk.Waiters())
	require.Len(t, tm.C(), 1)
}

func TestFakeClockManyTimers(t *testing.T) {
	clk := NewFakeClock(t0)
	timers := make([]backoff.Timer, 5)
	for i := range timers {
		timers[i] = clk.NewTimer()
		timers[i].Start(time.Duration(i+1) * time.Second)
	}
	assert.Equal(t, 5, clk.Waiters())
	clk.Advance(3 * time.Second)
	assert.Equal(t, 2, clk.Waiters())
	for i, tm := range timers {
		assert.Equal(t, i < 3, len(tm.C()) == 1, "timer %d", i)
	}
}

// The fake clock drives backoff.RetryNotifyWithTimer through a Schedule
// without any real waiting.
func TestFakeClockDrivesBackoffRetry(t *testing.T) {
	clk := NewFakeClock(t0)
	sched := NewSchedule(NewExponential(RetryConfig{Jitter: JitterNone}, nil), 3, time.Time{}, clk, 0)
	errFail := errors.New("fail")
	var mu sync.Mutex
	var waits []time.Duration
	result := make(chan error, 1)
	go func() {
		result <- backoff.RetryNotifyWithTimer(func() error { return errFail }, sched,
			func(_ error, d time.Duration) { mu.Lock(); waits = append(waits, d); mu.Unlock() },
			clk.NewTimer())
	}()
	for _, d := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		waitForWaiters(t, clk, 1)
		clk.Advance(d)
	}
	select {
	case err := <-result:
		require.ErrorIs(t, err, errFail)
	case <-time.After(5 * time.Second):
		t.Fatal("retry did not finish")
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}, waits)
	assert.Equal(t, 3, sched.Retries())
	assert.Equal(t, t0.Add(700*time.Millisecond), clk.Now())
}

func TestFakeClockConcurrentUse(t *testing.T) {
	clk := NewFakeClock(t0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tm := clk.NewTimer()
			for range 100 {
				tm.Start(time.Millisecond)
				clk.Advance(time.Millisecond)
				<-tm.C()
				_ = clk.Now()
				_ = clk.Waiters()
			}
			tm.Stop()
		}()
	}
	wg.Wait()
	assert.Equal(t, t0.Add(800*time.Millisecond), clk.Now())
	assert.Equal(t, 0, clk.Waiters())
}

func TestSystemClockTimer(t *testing.T) {
	var clk TimerClock = SystemClock{}
	assert.WithinDuration(t, time.Now(), clk.Now(), time.Second)
	tm := clk.NewTimer()
	assert.Nil(t, tm.C(), "no channel before Start")
	tm.Start(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("system timer did not fire")
	}
	tm.Start(time.Hour)
	tm.Stop()
	tm.Start(0)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("restarted system timer did not fire")
	}
	tm.Stop()
}

func TestSeededRandDeterministic(t *testing.T) {
	a, b := NewSeededRand(42), NewSeededRand(42)
	for range 1000 {
		x := a.Int64N(1_000_000)
		require.Equal(t, x, b.Int64N(1_000_000))
		require.GreaterOrEqual(t, x, int64(0))
		require.Less(t, x, int64(1_000_000))
	}
	c := NewSeededRand(43)
	same := 0
	a = NewSeededRand(42)
	for range 100 {
		if a.Int64N(1<<40) == c.Int64N(1<<40) {
			same++
		}
	}
	assert.Less(t, same, 5, "different seeds give different sequences")
}

func TestRandConcurrentUse(t *testing.T) {
	for name, r := range map[string]Rand{"system": SystemRand{}, "seeded": NewSeededRand(1)} {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 1000 {
						if v := r.Int64N(10); v < 0 || v >= 10 {
							t.Errorf("out of range: %d", v)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
