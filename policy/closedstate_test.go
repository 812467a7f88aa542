package policy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClosedOpensAfterConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name      string
		threshold int
		want      int // failures that open it
	}{
		{"default five", 0, 5},
		{"one", 1, 1},
		{"three", 3, 3},
		{"ten", 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, rec := newTestBreaker(BreakerSettings{FailureThreshold: tt.threshold})
			clk.Advance(time.Minute)
			failN(t, b, tt.want-1)
			assert.Equal(t, StateClosed, b.State())
			assert.Equal(t, tt.want-1, b.Snapshot().ConsecutiveFailures)
			assert.True(t, b.Snapshot().OpenedAt.IsZero())
			failN(t, b, 1)
			snap := b.Snapshot()
			assert.Equal(t, StateOpen, snap.State)
			assert.Equal(t, tt.want, snap.ConsecutiveFailures)
			assert.Equal(t, t0.Add(time.Minute), snap.OpenedAt)
			assert.Equal(t, []transition{{b.Name(), StateClosed, StateOpen}}, rec.transitions())
		})
	}
}

func TestClosedSuccessResetsConsecutiveFailures(t *testing.T) {
	b, _, _ := newTestBreaker(BreakerSettings{})
	for range 10 {
		failN(t, b, 4)
		require.True(t, call(b, true))
		assert.Equal(t, 0, b.Snapshot().ConsecutiveFailures)
	}
	assert.Equal(t, StateClosed, b.State())
}

func TestClosedNegativeThresholdNeverOpensByCount(t *testing.T) {
	b, _, _ := newTestBreaker(BreakerSettings{FailureThreshold: -1})
	failN(t, b, 1000)
	assert.Equal(t, StateClosed, b.State())
	assert.Equal(t, 1000, b.Snapshot().ConsecutiveFailures)
}

func TestClosedFailureRate(t *testing.T) {
	settings := BreakerSettings{FailureThreshold: -1, FailureRate: 0.5, RateWindow: 10 * time.Second, MinRequests: 10}

	t.Run("below min requests never opens", func(t *testing.T) {
		b, _, _ := newTestBreaker(settings)
		failN(t, b, 9)
		assert.Equal(t, StateClosed, b.State())
		failN(t, b, 1)
		assert.Equal(t, StateOpen, b.State(), "10 failures out of 10")
	})
	t.Run("opens when the rate reaches the threshold", func(t *testing.T) {
		b, _, _ := newTestBreaker(settings)
		for range 6 {
			require.True(t, call(b, true))
		}
		failN(t, b, 5) // 5 of 11 < 0.5
		assert.Equal(t, StateClosed, b.State())
		failN(t, b, 1) // 6 of 12 = 0.5
		assert.Equal(t, StateOpen, b.State())
	})
	t.Run("successes never open it", func(t *testing.T) {
		b, _, _ := newTestBreaker(BreakerSettings{FailureThreshold: -1, FailureRate: 0.01, MinRequests: 1})
		for range 100 {
			require.True(t, call(b, true))
		}
		assert.Equal(t, StateClosed, b.State())
	})
	t.Run("old outcomes leave the window", func(t *testing.T) {
		b, clk, _ := newTestBreaker(settings)
		failN(t, b, 9) // 9 of 9, below MinRequests
		clk.Advance(11 * time.Second)
		for range 6 {
			require.True(t, call(b, true))
		}
		failN(t, b, 4) // window: 4 of 10
		assert.Equal(t, StateClosed, b.State())
	})
	t.Run("window rolls bucket by bucket", func(t *testing.T) {
		b, clk, _ := newTestBreaker(settings)
		for range 10 {
			require.True(t, call(b, true)) // bucket 0
		}
		clk.Advance(5 * time.Second)
		failN(t, b, 9) // bucket 5: 9 of 19
		assert.Equal(t, StateClosed, b.State())
		clk.Advance(5 * time.Second) // bucket 10: bucket 0 has left the window
		failN(t, b, 1)               // 10 of 10
		assert.Equal(t, StateOpen, b.State())
	})
	t.Run("default window and min requests", func(t *testing.T) {
		b, clk, _ := newTestBreaker(BreakerSettings{FailureThreshold: -1, FailureRate: 1})
		failN(t, b, 9)
		clk.Advance(59 * time.Second)
		assert.Equal(t, StateClosed, b.State())
		failN(t, b, 1)
		assert.Equal(t, StateOpen, b.State())
	})
	t.Run("count trigger still works beside the rate", func(t *testing.T) {
		b, _, _ := newTestBreaker(BreakerSettings{FailureThreshold: 3, FailureRate: 0.9, MinRequests: 100})
		failN(t, b, 3)
		assert.Equal(t, StateOpen, b.State())
	})
	t.Run("window is cleared when the breaker closes", func(t *testing.T) {
		b, clk, _ := newTestBreaker(BreakerSettings{FailureThreshold: -1, FailureRate: 0.5, MinRequests: 4, SuccessThreshold: 1})
		failN(t, b, 4)
		require.Equal(t, StateOpen, b.State())
		clk.Advance(30 * time.Second)
		require.True(t, call(b, true))
		require.Equal(t, StateClosed, b.State())
		failN(t, b, 3) // 3 of 3 after the reset: below MinRequests
		assert.Equal(t, StateClosed, b.State())
	})
}

// Outcomes of calls admitted while closed, reported after the breaker has
// opened and closed again, belong to an old generation and are dropped.
func TestClosedStaleGenerationDropped(t *testing.T) {
	b, clk, _ := newTestBreaker(BreakerSettings{FailureThreshold: 2, SuccessThreshold: 1})
	var late []func(bool)
	for range 5 {
		done, err := b.Allow()
		require.NoError(t, err)
		late = append(late, done)
	}
	failN(t, b, 2)
	require.Equal(t, StateOpen, b.State())
	clk.Advance(30 * time.Second)
	require.True(t, call(b, true))
	require.Equal(t, StateClosed, b.State())

	for _, done := range late {
		done(false)
	}
	snap := b.Snapshot()
	assert.Equal(t, StateClosed, snap.State, "five stale failures would have opened it")
	assert.Equal(t, 0, snap.ConsecutiveFailures)
}
