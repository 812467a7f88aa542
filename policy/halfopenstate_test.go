package policy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// halfOpen returns a breaker that has just turned half-open.
func halfOpen(t *testing.T, s BreakerSettings) (*Breaker, *FakeClock, *recorder) {
	t.Helper()
	b, clk, rec := newTestBreaker(s)
	trip(t, b)
	clk.Advance(b.s.RecoveryTimeout)
	require.Equal(t, StateHalfOpen, b.State())
	return b, clk, rec
}

func TestHalfOpenBoundsConcurrentProbes(t *testing.T) {
	for _, probes := range []int{0, 1, 3} {
		want := max(probes, 1) // 0 means the default, 1
		b, _, _ := halfOpen(t, BreakerSettings{HalfOpenMaxProbes: probes, SuccessThreshold: 100})
		var dones []func(bool)
		for range want {
			done, err := b.Allow()
			require.NoError(t, err)
			dones = append(dones, done)
		}
		done, err := b.Allow()
		assert.Nil(t, done)
		require.ErrorIs(t, err, ErrOpen)
		var oe *OpenError
		require.ErrorAs(t, err, &oe)
		assert.True(t, oe.Until.IsZero(), "probes exhausted: no known time")

		dones[0](true) // frees a slot
		done, err = b.Allow()
		require.NoError(t, err, "a finished probe frees its slot")
		_, err = b.Allow()
		require.ErrorIs(t, err, ErrOpen)
		done(true)
		assert.Equal(t, StateHalfOpen, b.State())
	}
}

func TestHalfOpenClosesAfterSuccesses(t *testing.T) {
	tests := []struct {
		name      string
		threshold int
		want      int
	}{
		{"default two", 0, 2},
		{"one", 1, 1},
		{"four", 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, rec := halfOpen(t, BreakerSettings{SuccessThreshold: tt.threshold})
			for i := range tt.want - 1 {
				require.True(t, call(b, true), "probe %d", i)
				assert.Equal(t, StateHalfOpen, b.State())
			}
			require.True(t, call(b, true))
			snap := b.Snapshot()
			assert.Equal(t, StateClosed, snap.State)
			assert.Equal(t, 0, snap.ConsecutiveFailures)
			assert.True(t, snap.OpenedAt.IsZero())
			assert.Equal(t, transition{b.Name(), StateHalfOpen, StateClosed}, rec.transitions()[2])
			// Closed again: the full threshold is needed to reopen.
			failN(t, b, 4)
			assert.Equal(t, StateClosed, b.State())
		})
	}
}

func TestHalfOpenFailedProbeReopens(t *testing.T) {
	b, clk, rec := halfOpen(t, BreakerSettings{SuccessThreshold: 3})
	require.True(t, call(b, true))
	require.True(t, call(b, true))
	require.True(t, call(b, false)) // two successes are not enough
	snap := b.Snapshot()
	assert.Equal(t, StateOpen, snap.State)
	assert.Equal(t, clk.Now(), snap.OpenedAt, "the recovery timeout starts again")
	assert.Equal(t, 1, snap.ConsecutiveFailures, "counted since the last success")
	assert.False(t, call(b, true))

	clk.Advance(29 * time.Second)
	assert.Equal(t, StateOpen, b.State())
	clk.Advance(time.Second)
	assert.Equal(t, StateHalfOpen, b.State())
	for range 3 {
		require.True(t, call(b, true))
	}
	assert.Equal(t, StateClosed, b.State())
	n := b.Name()
	assert.Equal(t, []transition{
		{n, StateClosed, StateOpen}, {n, StateOpen, StateHalfOpen}, {n, StateHalfOpen, StateOpen},
		{n, StateOpen, StateHalfOpen}, {n, StateHalfOpen, StateClosed},
	}, rec.transitions())
}

// A probe admitted in one half-open period and reported in the next belongs
// to an old generation: it neither closes nor re-opens the breaker, nor
// frees a slot of the new period.
func TestHalfOpenStaleProbeDropped(t *testing.T) {
	b, clk, _ := halfOpen(t, BreakerSettings{HalfOpenMaxProbes: 2, SuccessThreshold: 1})
	stale, err := b.Allow()
	require.NoError(t, err)
	require.True(t, call(b, false)) // re-opens
	clk.Advance(30 * time.Second)
	require.Equal(t, StateHalfOpen, b.State())

	probe, err := b.Allow()
	require.NoError(t, err)
	stale(true) // would close it with SuccessThreshold 1
	assert.Equal(t, StateHalfOpen, b.State())
	stale(false)
	assert.Equal(t, StateHalfOpen, b.State())
	_, err = b.Allow()
	require.NoError(t, err)
	_, err = b.Allow()
	require.ErrorIs(t, err, ErrOpen, "the stale result did not free a slot")
	probe(true)
	assert.Equal(t, StateClosed, b.State())
}
