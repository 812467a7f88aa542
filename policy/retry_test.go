package policy

import (
	"math"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ms = time.Millisecond

func next(b backoff.BackOff, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = b.NextBackOff()
	}
	return out
}

func TestFixedDelay(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{-1, 100 * ms}, {0, 100 * ms}, {1, 200 * ms}, {2, 300 * ms}, {9, 1000 * ms}, {299, 30 * time.Second},
		{math.MaxInt, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, FixedDelay(tt.attempt), "attempt %d", tt.attempt)
	}
}

func TestFixedSequenceCP1(t *testing.T) {
	var f Fixed
	want := []time.Duration{100 * ms, 200 * ms, 300 * ms, 400 * ms, 500 * ms, 600 * ms}
	assert.Equal(t, want, next(&f, 6))
	f.Reset()
	assert.Equal(t, want[:3], next(&f, 3))
}

func TestExponentialNoJitterSequenceCP2(t *testing.T) {
	e := NewExponential(RetryConfig{Jitter: JitterNone}, nil) // base 100 ms, cap 30 s
	want := []time.Duration{
		100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 12800 * ms, 25600 * ms,
		30 * time.Second, 30 * time.Second, 30 * time.Second,
	}
	assert.Equal(t, want, next(e, len(want)))
	e.Reset()
	assert.Equal(t, want[:4], next(e, 4))
}

func TestExponentialCapIsApplied(t *testing.T) {
	tests := []struct {
		name string
		cfg  RetryConfig
		want []time.Duration
	}{
		{"cap between powers", RetryConfig{Base: 100 * ms, Cap: 500 * ms, Jitter: JitterNone},
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms}},
		{"cap equals base", RetryConfig{Base: time.Second, Cap: time.Second, Jitter: JitterNone},
			[]time.Duration{time.Second, time.Second, time.Second}},
		{"cap below base is raised to base", RetryConfig{Base: time.Second, Cap: 10 * ms, Jitter: JitterNone},
			[]time.Duration{time.Second, time.Second}},
		{"custom base", RetryConfig{Base: 7 * ms, Cap: time.Minute, Jitter: JitterNone},
			[]time.Duration{7 * ms, 14 * ms, 28 * ms, 56 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, next(NewExponential(tt.cfg, nil), len(tt.want)))
		})
	}
}

// Many calls never overflow: every formula stays in [0, cap] and never
// returns backoff.Stop.
func TestExponentialNoOverflow(t *testing.T) {
	huge := time.Duration(math.MaxInt64)
	for _, j := range []Jitter{JitterNone, JitterFull, JitterEqual, JitterDecorrelated, JitterAdditive} {
		for _, cfg := range []RetryConfig{
			{Base: time.Nanosecond, Cap: huge, Jitter: j},
			{Base: time.Hour, Cap: huge, Jitter: j},
			{Base: 100 * ms, Cap: 30 * time.Second, Jitter: j},
		} {
			e := NewExponential(cfg, NewSeededRand(7))
			for i := range 500 {
				d := e.NextBackOff()
				require.NotEqual(t, backoff.Stop, d)
				require.GreaterOrEqual(t, d, time.Duration(0), "%s call %d", j, i)
				require.LessOrEqual(t, d, cfg.Cap, "%s call %d", j, i)
			}
		}
	}
	e := NewExponential(RetryConfig{Base: time.Nanosecond, Cap: huge, Jitter: JitterNone}, nil)
	got := next(e, 70)
	assert.Equal(t, time.Duration(1<<62), got[62])
	assert.Equal(t, huge, got[63])
	assert.Equal(t, huge, got[69])
}

// jitterSamples draws n waits for a fixed d: with Base == d each Reset
// makes the next call compute d.
func jitterSamples(j Jitter, d, ceil time.Duration, n int, seed uint64) []time.Duration {
	e := NewExponential(RetryConfig{Base: d, Cap: ceil, Jitter: j}, NewSeededRand(seed))
	out := make([]time.Duration, n)
	for i := range out {
		e.Reset()
		out[i] = e.NextBackOff()
	}
	return out
}

func mean(ds []time.Duration) float64 {
	var s float64
	for _, d := range ds {
		s += float64(d)
	}
	return s / float64(len(ds))
}

func TestJitterBoundsAndDistribution(t *testing.T) {
	const n = 100_000
	d := time.Second
	tests := []struct {
		jitter   Jitter
		ceil     time.Duration
		lo, hi   time.Duration
		wantMean float64 // in units of d
	}{
		{JitterNone, time.Minute, d, d, 1},
		{JitterFull, time.Minute, 0, d, 0.5},
		{JitterEqual, time.Minute, d / 2, d, 0.75},
		{JitterAdditive, time.Minute, d, 2 * d, 1.5},
		{JitterDecorrelated, time.Minute, d, 3 * d, 2}, // first call: [base, 3*base]
	}
	for _, tt := range tests {
		t.Run(string(tt.jitter), func(t *testing.T) {
			s := jitterSamples(tt.jitter, d, tt.ceil, n, 1)
			var below, outside int
			for _, v := range s {
				if v < tt.lo || v > tt.hi {
					outside++
				}
				if v < tt.lo+(tt.hi-tt.lo)/2 {
					below++
				}
			}
			require.Zero(t, outside, "samples outside [%v, %v]", tt.lo, tt.hi)
			assert.InDelta(t, tt.wantMean, mean(s)/float64(d), 0.01, "mean in units of d")
			if tt.lo != tt.hi {
				// Uniform over [lo, hi]: each half holds about 50 %.
				assert.InDelta(t, 0.5, float64(below)/n, 0.01)
			}
		})
	}
}

// Full jitter is uniform on [0, d]: every tenth of the range gets ~10 %.
func TestFullJitterHistogram(t *testing.T) {
	const n = 100_000
	d := 30 * time.Second
	var bins [10]int
	for _, v := range jitterSamples(JitterFull, d, d, n, 99) {
		i := min(int(v*10/(d+1)), 9)
		bins[i]++
	}
	for i, c := range bins {
		assert.InDelta(t, 0.1, float64(c)/n, 0.006, "bin %d", i)
	}
}

// The cap is applied before jitter (full jitter never exceeds the capped d,
// and its mean is cap/2 once base*2^n is past the cap) and again after it
// (additive never exceeds the cap).
func TestJitterAfterCap(t *testing.T) {
	ceil := 1 * time.Second
	r := NewSeededRand(5)
	full := NewExponential(RetryConfig{Base: 100 * ms, Cap: ceil, Jitter: JitterFull}, r)
	next(full, 10) // now far past the cap
	var s []time.Duration
	for range 50_000 {
		v := full.NextBackOff()
		require.LessOrEqual(t, v, ceil)
		s = append(s, v)
	}
	assert.InDelta(t, 0.5, mean(s)/float64(ceil), 0.01)

	add := NewExponential(RetryConfig{Base: 100 * ms, Cap: ceil, Jitter: JitterAdditive}, r)
	next(add, 10)
	for range 10_000 {
		assert.Equal(t, ceil, add.NextBackOff(), "d = cap, d+random(0,d) >= cap: clamped")
	}
	// Additive below the cap: [d, 2d] for the n-th d.
	add = NewExponential(RetryConfig{Base: 100 * ms, Cap: time.Minute, Jitter: JitterAdditive}, r)
	for i := range 8 {
		dn := 100 * ms << i
		v := add.NextBackOff()
		assert.GreaterOrEqual(t, v, dn)
		assert.LessOrEqual(t, v, 2*dn)
	}
}

func TestEqualJitterSequenceBounds(t *testing.T) {
	e := NewExponential(RetryConfig{Jitter: JitterEqual}, NewSeededRand(3))
	for i := range 20 {
		dn := capped(100*ms, 30*time.Second, i)
		v := e.NextBackOff()
		assert.GreaterOrEqual(t, v, dn/2, "call %d", i)
		assert.LessOrEqual(t, v, dn, "call %d", i)
	}
}

func TestDecorrelatedJitterBounds(t *testing.T) {
	base, ceil := 100*ms, 5*time.Second
	for seed := range uint64(20) {
		e := NewExponential(RetryConfig{Base: base, Cap: ceil, Jitter: JitterDecorrelated}, NewSeededRand(seed))
		prev := base
		reachedCap := false
		for i := range 200 {
			v := e.NextBackOff()
			require.GreaterOrEqual(t, v, base, "seed %d call %d", seed, i)
			require.LessOrEqual(t, v, min(ceil, 3*prev), "seed %d call %d", seed, i)
			reachedCap = reachedCap || v == ceil
			prev = v
		}
		assert.True(t, reachedCap, "decorrelated jitter grows to the cap")
		e.Reset()
		v := e.NextBackOff()
		assert.LessOrEqual(t, v, 3*base, "Reset starts again from base")
	}
}

func TestExponentialSeededIsReproducible(t *testing.T) {
	for _, j := range []Jitter{JitterFull, JitterEqual, JitterDecorrelated, JitterAdditive} {
		a := NewExponential(RetryConfig{Jitter: j}, NewSeededRand(11))
		b := NewExponential(RetryConfig{Jitter: j}, NewSeededRand(11))
		assert.Equal(t, next(a, 30), next(b, 30), string(j))
	}
}

func TestExponentialDefaults(t *testing.T) {
	e := NewExponential(RetryConfig{}, nil)
	assert.Equal(t, RetryConfig{Base: 100 * ms, Cap: 30 * time.Second, Jitter: JitterFull}, e.Config())
	e = NewExponential(RetryConfig{Jitter: "bogus"}, nil)
	assert.Equal(t, JitterFull, e.Config().Jitter)
}

func TestRetryConfigWithDefaults(t *testing.T) {
	assert.Equal(t, RetryConfig{Base: 100 * ms, Cap: 30 * time.Second, Jitter: JitterFull}, RetryConfig{}.WithDefaults())
	custom := RetryConfig{Base: time.Second, Cap: time.Minute, Jitter: JitterEqual}
	assert.Equal(t, custom, custom.WithDefaults())
}

func TestRetryConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  RetryConfig
		ok   bool
	}{
		{"defaults", RetryConfig{}.WithDefaults(), true},
		{"cap equals base", RetryConfig{Base: time.Second, Cap: time.Second, Jitter: JitterNone}, true},
		{"zero value", RetryConfig{}, false},
		{"negative base", RetryConfig{Base: -1, Cap: time.Second, Jitter: JitterFull}, false},
		{"cap below base", RetryConfig{Base: time.Second, Cap: time.Millisecond, Jitter: JitterFull}, false},
		{"unknown jitter", RetryConfig{Base: time.Second, Cap: time.Minute, Jitter: "wild"}, false},
		{"empty jitter", RetryConfig{Base: time.Second, Cap: time.Minute}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestParseJitter(t *testing.T) {
	tests := []struct {
		in   string
		want Jitter
		ok   bool
	}{
		{"none", JitterNone, true}, {"FULL", JitterFull, true}, {" equal ", JitterEqual, true},
		{"Decorrelated", JitterDecorrelated, true}, {"additive", JitterAdditive, true},
		{"", JitterFull, true},
		{"random", "", false}, {"full-jitter", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseJitter(tt.in)
			if !tt.ok {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.in)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
