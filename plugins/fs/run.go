package fscap

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/beamline/blockhost/abi"
)

// How a blocking file operation is bounded.
//
// A system call on a hung disk cannot be interrupted, so an operation that
// must be bounded runs in its own goroutine while the caller waits for it,
// for the call's deadline (CP2 complete timeout) and for its ctx. When the
// deadline passes the caller returns a Timeout (or, when ctx ends,
// Cancelled) and leaves the goroutine behind: it is "stuck". When it
// finally returns, it runs the operation's late clean-up (close and remove
// a temp file, never rename it into place) and reports its real outcome to
// the breaker if nobody did.
//
// Every root has MaxStuck slots: at most that many I/O goroutines are alive
// on one root at once, stuck or not. A call waits (within its deadline) for
// a free slot, and fails at once with ErrTooManyStuck when every slot is
// held by a stuck goroutine. So however long a disk hangs, it holds at most
// MaxStuck goroutines (and their buffers) of the host.
//
// A call without a deadline whose ctx can never end (ctx.Done() == nil)
// runs in the caller's goroutine: nothing could interrupt it anyway.

// opKind is the kind of a host-function call; it picks the timeout.
type opKind uint8

const (
	kindRead opKind = iota
	kindWrite
	kindDelete
)

func (k opKind) String() string {
	switch k {
	case kindRead:
		return "read"
	case kindWrite:
		return "write"
	}
	return "delete"
}

// call is one host-function call, or one bounded part of one (a chunk of a
// Put), on one root. It is used by one goroutine at a time.
type call struct {
	s        *Store
	ctx      context.Context
	rt       *root
	kind     opKind
	key      string    // the blob key, for messages
	deadline time.Time // zero: none
	// verdict reports the outcome to the root's breaker (nil: none). It is
	// the func returned by Breaker.Allow, which ignores all but its first
	// call.
	verdict func(success bool)
	// abandoned is set when an operation of the call was left running.
	abandoned bool
}

// newCall starts a call of kind on rt: its deadline is now plus the kind's
// timeout when the CP2 complete timeout is on.
func (s *Store) newCall(ctx context.Context, rt *root, kind opKind, key string, verdict func(bool)) *call {
	c := &call{s: s, ctx: ctx, rt: rt, kind: kind, key: key, verdict: verdict}
	c.rearm()
	return c
}

// rearm starts a new deadline for the next bounded part of the call.
func (c *call) rearm() {
	if d := c.s.timeout(c.kind); d > 0 {
		c.deadline = time.Now().Add(d)
	}
}

// timeout returns the per-call timeout of kind, or 0 when timeouts are off.
func (s *Store) timeout(k opKind) time.Duration {
	if !s.cfg.Features.CompleteTimeout {
		return 0
	}
	switch k {
	case kindRead:
		return s.cfg.ReadTimeout
	case kindWrite:
		return s.cfg.WriteTimeout
	}
	return s.cfg.DeleteTimeout
}

// report gives the call's outcome to the breaker, once. A cancellation is
// no verdict on the disk: if an operation was left running, its goroutine
// reports its real outcome when it returns; otherwise it counts as a
// success (the disk did all it was asked).
func (c *call) report(err error) {
	if c.verdict == nil {
		return
	}
	if err != nil && codeOf(err) == abi.Cancelled {
		if !c.abandoned {
			c.verdict(true)
		}
		return
	}
	c.verdict(!isFailure(err))
}

const (
	taskRunning int32 = iota
	taskDone
	taskAbandoned
)

type task struct {
	state     atomic.Int32
	done      chan struct{}
	err       error
	timedOut  bool // set before state becomes taskAbandoned
	verdict   func(bool)
	late      func(error)
	rt        *root
	startedAt time.Time
}

// run runs fn, a blocking file operation, bounded by the call's deadline
// and ctx (see the comment at the top of this file). late, if not nil, runs
// in fn's goroutine after fn returns when the caller has given up on it;
// it must not block on anything but the backend.
func (c *call) run(fn func() error, late func(error)) error {
	rt := c.rt
	if err := c.ctx.Err(); err != nil {
		return c.cancelled(err)
	}
	if int(rt.stuck.Load()) >= c.s.cfg.MaxStuck {
		return c.tooManyStuck()
	}
	if c.deadline.IsZero() && c.ctx.Done() == nil {
		return fn()
	}

	var timer *time.Timer
	var expired <-chan time.Time
	if !c.deadline.IsZero() {
		wait := time.Until(c.deadline)
		if wait <= 0 {
			return c.timedOut()
		}
		timer = time.NewTimer(wait)
		defer timer.Stop()
		expired = timer.C
	}

	// Take a slot: at most MaxStuck goroutines per root. Waiters give up
	// at once when the last free slot goes to a stuck goroutine.
	select {
	case rt.slots <- struct{}{}:
	default:
		select {
		case rt.slots <- struct{}{}:
		case <-rt.allStuck():
			return c.tooManyStuck()
		case <-expired:
			return c.timedOut()
		case <-c.ctx.Done():
			return c.cancelled(c.ctx.Err())
		}
	}

	t := &task{done: make(chan struct{}), verdict: c.verdict, late: late, rt: rt, startedAt: time.Now()}
	go t.do(fn)

	var timedOut bool
	select {
	case <-t.done:
		return t.err
	case <-expired:
		timedOut = true
	case <-c.ctx.Done():
	}
	rt.addStuck(1)
	t.timedOut = timedOut
	if !t.state.CompareAndSwap(taskRunning, taskAbandoned) {
		// It finished meanwhile: take its result after all.
		rt.addStuck(-1)
		<-t.done
		return t.err
	}
	c.abandoned = true
	c.s.log.LogAttrs(context.Background(), slog.LevelWarn, "fs operation left running",
		slog.String("root", rt.dir), slog.String("kind", c.kind.String()), slog.String("key", c.key),
		slog.Bool("timed_out", timedOut), slog.Int("stuck", int(rt.stuck.Load())))
	if timedOut {
		return c.timedOut()
	}
	return c.cancelled(c.ctx.Err())
}

// do runs fn and hands its result to the caller, or — when the caller gave
// up — runs the late clean-up and releases the slot.
func (t *task) do(fn func() error) {
	err := fn()
	t.err = err
	if t.state.CompareAndSwap(taskRunning, taskDone) {
		close(t.done)
		t.rt.releaseSlot()
		return
	}
	// Abandoned: the caller has returned.
	if t.late != nil {
		t.late(err)
	}
	if t.verdict != nil && !t.timedOut {
		// Cancelled while running: the operation's own outcome is the
		// verdict (a timeout was already reported as a failure).
		t.verdict(!isFailure(err))
	}
	t.rt.addStuck(-1)
	t.rt.releaseSlot()
}

func (c *call) timedOut() error {
	if c.verdict != nil {
		c.verdict(false)
	}
	d := c.s.timeout(c.kind)
	return &Error{
		C: abi.Timeout,
		Msg: fmt.Sprintf("blob %s: %s timed out after %v in fs root %s",
			quoteKey(c.key), c.kind, d, c.rt.quoted()),
		Err: ErrTimeout,
	}
}

func (c *call) cancelled(err error) error {
	return &Error{C: abi.Cancelled, Msg: fmt.Sprintf("blob %s: %s cancelled: %v", quoteKey(c.key), c.kind, err), Err: err}
}

func (c *call) tooManyStuck() error {
	return &Error{
		C: abi.IOError,
		Msg: fmt.Sprintf("fs root %s: %d operations are still stuck after timing out; refusing new ones until they return",
			c.rt.quoted(), c.s.cfg.MaxStuck),
		Err: ErrTooManyStuck,
	}
}
