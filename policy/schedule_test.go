package policy

import (
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
)

func noJitter() *Exponential { return NewExponential(RetryConfig{Jitter: JitterNone}, nil) }

func TestScheduleMaxRetries(t *testing.T) {
	tests := []struct {
		name       string
		b          backoff.BackOff
		maxRetries int
		want       []time.Duration
		retries    int
	}{
		{"CP1 three retries", &Fixed{}, 3, []time.Duration{100 * ms, 200 * ms, 300 * ms, backoff.Stop, backoff.Stop}, 3},
		{"CP2 three retries", noJitter(), 3, []time.Duration{100 * ms, 200 * ms, 400 * ms, backoff.Stop}, 3},
		{"zero retries", &Fixed{}, 0, []time.Duration{backoff.Stop}, 0},
		{"negative retries", &Fixed{}, -4, []time.Duration{backoff.Stop}, 0},
		{"wrapped stop", &backoff.StopBackOff{}, 3, []time.Duration{backoff.Stop}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSchedule(tt.b, tt.maxRetries, time.Time{}, nil, 0)
			assert.Equal(t, tt.want, next(s, len(tt.want)))
			assert.Equal(t, tt.retries, s.Retries())
		})
	}
}

func TestScheduleRetriesAndReset(t *testing.T) {
	s := NewSchedule(noJitter(), 2, time.Time{}, nil, 0)
	assert.Equal(t, 0, s.Retries())
	s.NextBackOff()
	assert.Equal(t, 1, s.Retries())
	s.NextBackOff()
	assert.Equal(t, backoff.Stop, s.NextBackOff())
	assert.Equal(t, 2, s.Retries())
	s.SetRetryAfter(10 * time.Second)
	s.Reset()
	assert.Equal(t, 0, s.Retries())
	assert.Equal(t, []time.Duration{100 * ms, 200 * ms, backoff.Stop}, next(s, 3), "Reset resets the wrapped backoff and drops the hint")
}

// A wait that would end after the deadline is not taken; the clock is a
// FakeClock moved by exactly the waits handed out.
func TestScheduleBudgetRefusesOverrun(t *testing.T) {
	clk := NewFakeClock(t0)
	s := NewSchedule(noJitter(), 10, t0.Add(time.Second), clk, 0)
	var got []time.Duration
	for {
		w := s.NextBackOff()
		if w == backoff.Stop {
			break
		}
		got = append(got, w)
		clk.Advance(w)
	}
	// 100+200+400 = 700 ms; the next wait, 800 ms, would end at 1.5 s.
	assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms}, got)
	assert.Equal(t, 3, s.Retries())
	assert.Equal(t, t0.Add(time.Second), s.Deadline())
}

func TestScheduleBudgetBoundary(t *testing.T) {
	tests := []struct {
		name     string
		elapsed  time.Duration // since t0 before asking
		deadline time.Duration // after t0
		want     time.Duration
	}{
		{"ends before the deadline", 0, 101 * ms, 100 * ms},
		{"ends exactly at the deadline", 0, 100 * ms, 100 * ms},
		{"ends just after the deadline", 1, 100 * ms, backoff.Stop},
		{"deadline already passed", 2 * time.Second, time.Second, backoff.Stop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := NewFakeClock(t0)
			clk.Advance(tt.elapsed)
			s := NewSchedule(noJitter(), 3, t0.Add(tt.deadline), clk, 0)
			assert.Equal(t, tt.want, s.NextBackOff())
		})
	}
}

func TestScheduleNoDeadlineNoBudget(t *testing.T) {
	clk := NewFakeClock(t0)
	s := NewSchedule(noJitter(), 20, time.Time{}, clk, 0)
	for range 20 {
		assert.NotEqual(t, backoff.Stop, s.NextBackOff())
	}
}

func TestScheduleRetryAfterHint(t *testing.T) {
	tests := []struct {
		name string
		hint time.Duration
		cap  time.Duration
		want time.Duration // first wait; computed is 100 ms
	}{
		{"hint above computed", 2 * time.Second, 30 * time.Second, 2 * time.Second},
		{"hint below computed", 50 * ms, 30 * time.Second, 100 * ms},
		{"hint capped", time.Hour, 30 * time.Second, 30 * time.Second},
		{"cap below computed: computed wins", time.Hour, 10 * ms, 100 * ms},
		{"no cap", time.Hour, 0, time.Hour},
		{"zero hint", 0, 30 * time.Second, 100 * ms},
		{"negative hint", -time.Second, 30 * time.Second, 100 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSchedule(noJitter(), 5, time.Time{}, nil, tt.cap)
			s.SetRetryAfter(tt.hint)
			assert.Equal(t, tt.want, s.NextBackOff())
			assert.Equal(t, 200*ms, s.NextBackOff(), "the hint is one-shot")
		})
	}
}

func TestScheduleRetryAfterCountsAgainstBudget(t *testing.T) {
	clk := NewFakeClock(t0)
	s := NewSchedule(noJitter(), 5, t0.Add(5*time.Second), clk, 30*time.Second)
	s.SetRetryAfter(10 * time.Second)
	assert.Equal(t, backoff.Stop, s.NextBackOff(), "a 10 s Retry-After overruns a 5 s budget")
	assert.Equal(t, 0, s.Retries())
	assert.Equal(t, 200*ms, s.NextBackOff(), "hint dropped; the refused computed wait was consumed")
}

func TestScheduleHintDroppedWhenExhausted(t *testing.T) {
	s := NewSchedule(noJitter(), 1, time.Time{}, nil, 0)
	s.NextBackOff()
	s.SetRetryAfter(time.Second)
	assert.Equal(t, backoff.Stop, s.NextBackOff())
}
