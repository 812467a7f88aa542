package policy

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Jitter names a jitter formula applied to an exponential delay d (d already
// capped, see Exponential).
type Jitter string

// Jitter formulas.
const (
	// JitterNone waits d.
	JitterNone Jitter = "none"
	// JitterFull waits a uniform random duration in [0, d]. The default.
	JitterFull Jitter = "full"
	// JitterEqual waits d/2 + a uniform random duration in [0, d/2].
	JitterEqual Jitter = "equal"
	// JitterDecorrelated is AWS's "decorrelated jitter": it ignores d and
	// waits min(cap, uniform random in [base, 3*previous wait]), the previous
	// wait starting at base.
	JitterDecorrelated Jitter = "decorrelated"
	// JitterAdditive is the seed's literal formula d + random(0, d), which
	// may reach 2*d before the cap clamps it.
	JitterAdditive Jitter = "additive"
)

// Default retry settings (CP2).
const (
	DefaultRetryBase   = 100 * time.Millisecond
	DefaultRetryCap    = 30 * time.Second
	DefaultRetryJitter = JitterFull
)

// Valid reports whether j is one of the five known formulas.
func (j Jitter) Valid() bool {
	switch j {
	case JitterNone, JitterFull, JitterEqual, JitterDecorrelated, JitterAdditive:
		return true
	}
	return false
}

// ParseJitter parses a jitter name in any case, surrounding spaces ignored.
// The empty string means the default, JitterFull. Any other unknown name is
// an error.
func ParseJitter(s string) (Jitter, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return DefaultRetryJitter, nil
	}
	if j := Jitter(s); j.Valid() {
		return j, nil
	}
	return "", fmt.Errorf("policy: unknown jitter %q (want none, full, equal, decorrelated or additive)", s)
}

// RetryConfig configures CP2 backoff. Zero values take the defaults: Base
// 100 ms, Cap 30 s, Jitter full. It is a plain value, safe to copy and to
// read concurrently.
type RetryConfig struct {
	// Base is the first wait before jitter (default 100 ms). The n-th wait
	// (n from 0) is Base*2^n before the cap and jitter.
	Base time.Duration
	// Cap is the ceiling of every wait, applied before jitter and again to
	// the jittered result (default 30 s). It must be >= Base.
	Cap time.Duration
	// Jitter is the jitter formula (default full).
	Jitter Jitter
}

// WithDefaults returns a copy of c with every zero field set to its default:
// Base 100 ms, Cap 30 s, Jitter full. It does not validate; see Validate.
func (c RetryConfig) WithDefaults() RetryConfig {
	if c.Base == 0 {
		c.Base = DefaultRetryBase
	}
	if c.Cap == 0 {
		c.Cap = DefaultRetryCap
	}
	if c.Jitter == "" {
		c.Jitter = DefaultRetryJitter
	}
	return c
}

// Validate reports the first problem of c: a Base that is not positive, a
// Cap below Base, or an unknown Jitter. Call it after WithDefaults; the zero
// RetryConfig itself is invalid.
func (c RetryConfig) Validate() error {
	switch {
	case c.Base <= 0:
		return fmt.Errorf("policy: retry base must be positive, got %v", c.Base)
	case c.Cap < c.Base:
		return fmt.Errorf("policy: retry cap %v is below base %v", c.Cap, c.Base)
	case !c.Jitter.Valid():
		return fmt.Errorf("policy: unknown jitter %q (want none, full, equal, decorrelated or additive)", string(c.Jitter))
	}
	return nil
}

// FixedDelay is the CP1 baseline wait before retry number attempt+1 (attempt
// counts from 0 for the first wait): 100*(attempt+1) ms, no cap, no jitter.
// A negative attempt counts as 0.
func FixedDelay(attempt int) time.Duration {
	const step = 100 * time.Millisecond
	if attempt < 0 {
		attempt = 0
	}
	if int64(attempt) >= math.MaxInt64/int64(step)-1 {
		return time.Duration(math.MaxInt64)
	}
	return step * time.Duration(attempt+1)
}

// Fixed is the CP1 backoff: its n-th NextBackOff (n from 0) returns
// FixedDelay(n). It never returns backoff.Stop; wrap it in a Schedule to
// bound the retries. The zero value is ready to use. It is not safe for
// concurrent use: make one per step.
type Fixed struct{ n int }

var _ backoff.BackOff = (*Fixed)(nil)

// NextBackOff returns FixedDelay of the number of earlier calls.
func (f *Fixed) NextBackOff() time.Duration {
	d := FixedDelay(f.n)
	if f.n < math.MaxInt32 {
		f.n++
	}
	return d
}

// Reset starts the sequence again at 100 ms.
func (f *Fixed) Reset() { f.n = 0 }

// Exponential is the CP2 backoff. Its n-th NextBackOff (n from 0) computes
// d = min(Cap, Base*2^n) — the cap applied before jitter, without overflow
// for any n — then applies the configured Jitter, and finally clamps the
// result to Cap, so Cap is a hard ceiling for every formula (only additive
// and decorrelated can exceed it before the clamp). See the Jitter constants
// for each formula. It never returns backoff.Stop; wrap it in a Schedule to
// bound the retries.
//
// An Exponential is not safe for concurrent use: make one per step. Its Rand
// may be shared.
type Exponential struct {
	cfg  RetryConfig
	rand Rand
	n    int           // calls since Reset
	prev time.Duration // previous wait, for decorrelated jitter
}

var _ backoff.BackOff = (*Exponential)(nil)

// NewExponential returns an Exponential for cfg with its defaults applied
// (see RetryConfig.WithDefaults), drawing jitter from r (SystemRand when r
// is nil). It does not validate cfg (see RetryConfig.Validate); a Cap below
// Base is raised to Base and an unknown Jitter behaves as full.
func NewExponential(cfg RetryConfig, r Rand) *Exponential {
	cfg = cfg.WithDefaults()
	if cfg.Base < 0 {
		cfg.Base = DefaultRetryBase
	}
	if cfg.Cap < cfg.Base {
		cfg.Cap = cfg.Base
	}
	if !cfg.Jitter.Valid() {
		cfg.Jitter = JitterFull
	}
	if r == nil {
		r = SystemRand{}
	}
	return &Exponential{cfg: cfg, rand: r, prev: cfg.Base}
}

// Config returns the configuration in use, defaults applied.
func (e *Exponential) Config() RetryConfig { return e.cfg }

// NextBackOff returns the next wait; see Exponential.
func (e *Exponential) NextBackOff() time.Duration {
	base, ceil := e.cfg.Base, e.cfg.Cap
	d := capped(base, ceil, e.n)
	if e.n < 64 {
		e.n++
	}
	var w time.Duration
	switch e.cfg.Jitter {
	case JitterNone:
		w = d
	case JitterEqual:
		half := d / 2
		w = half + e.between(0, d-half)
	case JitterAdditive:
		x := e.between(0, d)
		if x > ceil-d {
			w = ceil
		} else {
			w = d + x
		}
	case JitterDecorrelated:
		hi := time.Duration(math.MaxInt64)
		if e.prev <= math.MaxInt64/3 {
			hi = 3 * e.prev
		}
		w = e.between(base, hi)
		e.prev = min(w, ceil)
	default: // JitterFull
		w = e.between(0, d)
	}
	return min(w, ceil)
}

// Reset starts the sequence again at Base (and the decorrelated jitter's
// previous wait at Base).
func (e *Exponential) Reset() {
	e.n = 0
	e.prev = e.cfg.Base
}

// capped returns min(ceil, base*2^n) for base > 0, without overflow.
func capped(base, ceil time.Duration, n int) time.Duration {
	if n >= 63 || base > ceil>>uint(n) {
		return ceil
	}
	return base << uint(n)
}

// between returns a uniform random duration in [lo, hi] (lo when hi <= lo).
func (e *Exponential) between(lo, hi time.Duration) time.Duration {
	span := int64(hi - lo)
	if span <= 0 {
		return lo
	}
	if span < math.MaxInt64 {
		span++ // inclusive upper bound
	}
	return lo + time.Duration(e.rand.Int64N(span))
}

// Schedule bounds a backoff.BackOff for one step: it hands out at most
// maxRetries waits, refuses a wait that would end after the step's deadline
// (the budget), and honours a one-shot Retry-After hint. It implements
// backoff.BackOff, so backoff.RetryNotifyWithTimer can drive it. It never
// calls the wrapped BackOff's Reset except from its own Reset.
//
// A Schedule is not safe for concurrent use: make one per step.
type Schedule struct {
	b          backoff.BackOff
	maxRetries int
	deadline   time.Time
	clock      Clock
	hintCap    time.Duration

	retries int
	hint    time.Duration
}

var _ backoff.BackOff = (*Schedule)(nil)

// NewSchedule wraps b. maxRetries is the number of waits (retries) allowed;
// a negative value counts as 0. A zero deadline means no budget. clock
// (SystemClock when nil) is read to compare now+wait with the deadline. cap
// bounds a Retry-After hint (see SetRetryAfter); cap <= 0 leaves hints
// unbounded.
func NewSchedule(b backoff.BackOff, maxRetries int, deadline time.Time, clock Clock, cap time.Duration) *Schedule {
	if clock == nil {
		clock = SystemClock{}
	}
	return &Schedule{b: b, maxRetries: max(maxRetries, 0), deadline: deadline, clock: clock, hintCap: cap}
}

// SetRetryAfter sets a hint consumed by the next NextBackOff, which then
// waits max(computed wait, min(d, cap)). A d <= 0 clears the hint. The hint
// is dropped after one NextBackOff whether or not a wait is handed out.
func (s *Schedule) SetRetryAfter(d time.Duration) {
	s.hint = max(d, 0)
}

// NextBackOff returns the next wait, or backoff.Stop when maxRetries waits
// have been handed out, when the wrapped BackOff returns backoff.Stop, or
// when clock.Now()+wait would be after a non-zero deadline (a wait that
// would overrun the budget is not taken). A refused wait is not counted.
func (s *Schedule) NextBackOff() time.Duration {
	hint := s.hint
	s.hint = 0
	if s.retries >= s.maxRetries {
		return backoff.Stop
	}
	w := s.b.NextBackOff()
	if w == backoff.Stop {
		return backoff.Stop
	}
	if hint > 0 {
		if s.hintCap > 0 {
			hint = min(hint, s.hintCap)
		}
		w = max(w, hint)
	}
	if !s.deadline.IsZero() && s.clock.Now().Add(w).After(s.deadline) {
		return backoff.Stop
	}
	s.retries++
	return w
}

// Retries returns how many waits have been handed out since the last Reset.
func (s *Schedule) Retries() int { return s.retries }

// Deadline returns the budget's deadline; zero when there is none.
func (s *Schedule) Deadline() time.Time { return s.deadline }

// Reset resets the retry count, drops any hint and resets the wrapped
// BackOff. The deadline is kept.
func (s *Schedule) Reset() {
	s.retries = 0
	s.hint = 0
	s.b.Reset()
}
