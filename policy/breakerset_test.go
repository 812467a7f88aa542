package policy

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func names(snaps []BreakerSnapshot) []string {
	out := make([]string, len(snaps))
	for i, s := range snaps {
		out[i] = s.Name
	}
	return out
}

func TestBreakerSetGetCreatesOnDemand(t *testing.T) {
	rec := &recorder{}
	bs := NewBreakerSet("http", BreakerSettings{FailureThreshold: 1, Clock: NewFakeClock(t0), OnStateChange: rec.listen}, 0)
	assert.Equal(t, "http", bs.Kind())
	assert.Equal(t, 0, bs.Len())
	a := bs.Get("a.example:443")
	assert.Same(t, a, bs.Get("a.example:443"))
	assert.NotSame(t, a, bs.Get("b.example:443"))
	assert.Equal(t, 2, bs.Len())
	call(a, false)
	assert.Equal(t, []transition{{"a.example:443", StateClosed, StateOpen}}, rec.transitions(), "the listener gets the target")
}

func TestBreakerSetListSortedByTarget(t *testing.T) {
	bs := NewBreakerSet("fs", BreakerSettings{FailureThreshold: 1, Clock: NewFakeClock(t0)}, 10)
	for _, k := range []string{"c/x", "a/y", "b/z"} {
		bs.Get(k)
	}
	call(bs.Get("b/z"), false)
	list := bs.List()
	assert.Equal(t, []string{"a/y", "b/z", "c/x"}, names(list))
	assert.Equal(t, StateClosed, list[0].State)
	assert.Equal(t, StateOpen, list[1].State)
	assert.Equal(t, 1, list[1].ConsecutiveFailures)
	assert.Equal(t, t0, list[1].OpenedAt)
}

func TestBreakerSetEvictsLeastRecentlyUsedClosed(t *testing.T) {
	var evicted []string
	bs := NewBreakerSet("http", BreakerSettings{Clock: NewFakeClock(t0),
		OnEvict: func(name string) { evicted = append(evicted, name) }}, 3)
	a := bs.Get("a")
	bs.Get("b")
	bs.Get("c")
	bs.Get("a") // recency: a, c, b
	bs.Get("d") // evicts b
	assert.Equal(t, 3, bs.Len())
	assert.Equal(t, []string{"a", "c", "d"}, names(bs.List()))
	assert.Same(t, a, bs.Get("a"))

	bs.Get("b") // fresh; recency: b, a, d, c → evicts c
	assert.Equal(t, []string{"a", "b", "d"}, names(bs.List()))
	assert.Equal(t, []string{"b", "c"}, evicted, "OnEvict names each breaker forgotten")
}

func TestBreakerSetNeverEvictsOpenOrHalfOpen(t *testing.T) {
	clk := NewFakeClock(t0)
	bs := NewBreakerSet("http", BreakerSettings{FailureThreshold: 1, Clock: clk}, 2)
	a := bs.Get("a")
	call(a, false) // open
	b := bs.Get("b")
	call(b, false) // open
	clk.Advance(30 * time.Second)
	require.Equal(t, StateHalfOpen, b.State())

	bs.Get("c") // a and b are not closed: the set grows past max
	assert.Equal(t, 3, bs.Len())
	bs.Get("d") // c is the least recently used closed one
	assert.Equal(t, 3, bs.Len())
	assert.Equal(t, []string{"a", "b", "d"}, names(bs.List()))
	assert.Same(t, a, bs.Get("a"), "open breaker kept with its state")
	assert.Same(t, b, bs.Get("b"))

	// Once a closes again it becomes evictable.
	clk.Advance(30 * time.Second)
	call(a, true)
	call(a, true)
	require.Equal(t, StateClosed, a.State())
	bs.Get("e") // recency: e, b, a, d → evicts d (closed, LRU)
	assert.Equal(t, []string{"a", "b", "e"}, names(bs.List()))
	bs.Get("f") // recency: f, e, b, a → evicts a
	assert.Equal(t, []string{"b", "e", "f"}, names(bs.List()))
	assert.NotSame(t, a, bs.Get("a"), "an evicted target gets a fresh breaker")
}

func TestBreakerSetDefaultMax(t *testing.T) {
	bs := NewBreakerSet("http", BreakerSettings{Clock: NewFakeClock(t0)}, 0)
	for i := range 1100 {
		bs.Get(fmt.Sprintf("host-%d", i))
	}
	assert.Equal(t, 1024, bs.Len())
	list := bs.List()
	assert.Len(t, list, 1024)
	assert.NotContains(t, names(list), "host-75", "the oldest were evicted")
	assert.Contains(t, names(list), "host-76")
}

// A listener may use the set (not only its breaker) without deadlock.
func TestBreakerSetListenerMayUseTheSet(t *testing.T) {
	var bs *BreakerSet
	var lens []int
	bs = NewBreakerSet("http", BreakerSettings{
		FailureThreshold: 1,
		Clock:            NewFakeClock(t0),
		OnStateChange: func(name string, _, _ BreakerState) {
			lens = append(lens, bs.Len(), len(bs.List()))
			bs.Get(name + "-sibling")
		},
	}, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		call(bs.Get("a"), false)
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock")
	}
	assert.Equal(t, []int{1, 1}, lens)
	assert.Equal(t, 2, bs.Len(), "a is open, so the sibling exceeds max")
}

func TestBreakerSetHammer(t *testing.T) {
	const goroutines, perG, targets, limit = 16, 1000, 50, 10
	bs := NewBreakerSet("http", BreakerSettings{FailureThreshold: -1, Clock: NewFakeClock(t0)}, limit)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				b := bs.Get(fmt.Sprintf("t%d", (g*7+i)%targets))
				call(b, i%2 == 0)
				if i%100 == 0 {
					_ = bs.List()
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, limit, bs.Len())
	assert.Len(t, bs.List(), limit)
}
