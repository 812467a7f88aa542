package policy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenRejectsUntilRecoveryTimeout(t *testing.T) {
	tests := []struct {
		name     string
		recovery time.Duration
		want     time.Duration
	}{
		{"default 30s", 0, 30 * time.Second},
		{"custom 5s", 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := newTestBreaker(BreakerSettings{RecoveryTimeout: tt.recovery})
			trip(t, b)
			openedAt := clk.Now()
			for range 3 {
				done, err := b.Allow()
				assert.Nil(t, done)
				require.ErrorIs(t, err, ErrOpen)
				var oe *OpenError
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, b.Name(), oe.Target)
				assert.Equal(t, openedAt.Add(tt.want), oe.Until)
				assert.Equal(t, "circuit open: "+b.Name(), err.Error())
			}
			clk.Advance(tt.want - time.Nanosecond)
			assert.Equal(t, StateOpen, b.State())
			assert.False(t, call(b, true))
			clk.Advance(time.Nanosecond)
			assert.Equal(t, StateHalfOpen, b.State())
		})
	}
}

func TestOpenTurnsHalfOpenOnAllow(t *testing.T) {
	b, clk, rec := newTestBreaker(BreakerSettings{})
	trip(t, b)
	clk.Advance(time.Hour)
	done, err := b.Allow() // transition and probe in one call
	require.NoError(t, err)
	require.NotNil(t, done)
	assert.Equal(t, StateHalfOpen, b.State())
	assert.Equal(t, []transition{
		{b.Name(), StateClosed, StateOpen}, {b.Name(), StateOpen, StateHalfOpen},
	}, rec.transitions())
}

func TestOpenSnapshot(t *testing.T) {
	b, clk, _ := newTestBreaker(BreakerSettings{FailureThreshold: 3})
	clk.Advance(time.Second)
	trip(t, b)
	clk.Advance(time.Second)
	assert.Equal(t, BreakerSnapshot{
		Name: b.Name(), State: StateOpen, ConsecutiveFailures: 3, OpenedAt: t0.Add(time.Second),
	}, b.Snapshot())
}

// Outcomes of calls admitted while closed and reported while open are
// dropped: they neither extend the open period nor count.
func TestOpenDropsLateOutcomes(t *testing.T) {
	b, clk, rec := newTestBreaker(BreakerSettings{FailureThreshold: 1})
	done1, err := b.Allow()
	require.NoError(t, err)
	done2, err := b.Allow()
	require.NoError(t, err)
	done1(false)
	require.Equal(t, StateOpen, b.State())
	openedAt := b.Snapshot().OpenedAt

	clk.Advance(10 * time.Second)
	done2(false)
	snap := b.Snapshot()
	assert.Equal(t, openedAt, snap.OpenedAt)
	assert.Equal(t, 1, snap.ConsecutiveFailures)
	assert.Len(t, rec.transitions(), 1)
	clk.Advance(20 * time.Second)
	assert.Equal(t, StateHalfOpen, b.State(), "recovery counted from the first opening")
}
