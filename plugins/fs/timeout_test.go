package fscap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

const (
	short = 25 * time.Millisecond  // a timeout that fires
	long  = 5 * time.Second        // one that does not
	slow  = 150 * time.Millisecond // the injected latency
)

// timeoutScenario delays one operation and runs the call that makes it.
type timeoutScenario struct {
	name string
	kind opKind
	op   Op
	run  func(s *Store, g sandbox.FSGrant) error
}

var timeoutScenarios = []timeoutScenario{
	{"open", kindRead, OpOpen, func(s *Store, g sandbox.FSGrant) error {
		r, _, err := s.Open(context.Background(), g, "", "k")
		closeIf(r)
		return err
	}},
	{"stat", kindRead, OpStat, func(s *Store, g sandbox.FSGrant) error {
		_, err := s.Stat(context.Background(), g, "", "k")
		return err
	}},
	{"list", kindRead, OpReadDir, func(s *Store, g sandbox.FSGrant) error {
		_, err := s.List(context.Background(), g, "", "")
		return err
	}},
	{"handle-read", kindRead, OpRead, func(s *Store, g sandbox.FSGrant) error {
		_, err := readAll(s, g, "k")
		return err
	}},
	{"create", kindWrite, OpCreate, func(s *Store, g sandbox.FSGrant) error {
		_, err := s.Put(context.Background(), g, "", "k", strings.NewReader("new"))
		return err
	}},
	{"handle-write", kindWrite, OpWrite, func(s *Store, g sandbox.FSGrant) error {
		w, err := s.Create(context.Background(), g, "", "k")
		if err != nil {
			return err
		}
		if _, err = w.Write(pattern(chunkSize, 'w')); err != nil {
			w.Abort()
			return err
		}
		return w.Commit(context.Background())
	}},
	{"commit", kindWrite, OpSync, func(s *Store, g sandbox.FSGrant) error {
		w, err := s.Create(context.Background(), g, "", "k")
		if err != nil {
			return err
		}
		w.Write([]byte("new"))
		return w.Commit(context.Background())
	}},
	{"delete", kindDelete, OpRemove, func(s *Store, g sandbox.FSGrant) error {
		return s.Delete(context.Background(), g, "", "k")
	}},
}

// TestTimeoutsPerKind: with the complete-timeout flag on, a slow operation
// times out exactly when its kind's timeout is shorter than the latency;
// with it off nothing times out. Afterwards the stuck goroutine returns,
// nothing is left behind and a timed-out write changed nothing.
func TestTimeoutsPerKind(t *testing.T) {
	for _, flag := range []bool{true, false} {
		for _, shortKind := range []opKind{kindRead, kindWrite, kindDelete} {
			for _, sc := range timeoutScenarios {
				t.Run(fmt.Sprintf("flag=%v/short=%v/%s", flag, shortKind, sc.name), func(t *testing.T) {
					t.Parallel()
					cfg := Config{ReadTimeout: long, WriteTimeout: long, DeleteTimeout: long}
					cfg.Features.CompleteTimeout = flag
					switch shortKind {
					case kindRead:
						cfg.ReadTimeout = short
					case kindWrite:
						cfg.WriteTimeout = short
					case kindDelete:
						cfg.DeleteTimeout = short
					}
					f := NewFaults()
					cfg.Faults = f
					s, g := newStore(t, cfg)
					put(t, s, g, "k", "old")
					f.Add(Fault{Op: sc.op, Delay: slow, Times: 1})

					start := time.Now()
					err := sc.run(s, g)
					took := time.Since(start)
					wantTimeout := flag && sc.kind == shortKind
					if wantTimeout {
						wantCode(t, err, abi.Timeout)
						if !errors.Is(err, ErrTimeout) {
							t.Errorf("%v does not wrap ErrTimeout", err)
						}
						if took >= slow {
							t.Errorf("returned after %v, the operation's latency", took)
						}
						if sc.kind == kindDelete && !errors.Is(err, ErrOutcomeUnknown) {
							t.Errorf("delete timeout %v does not say its outcome is unknown", err)
						}
					} else {
						wantCode(t, err, abi.None)
						if took < slow {
							t.Errorf("returned after %v, before the operation could", took)
						}
					}
					checkFor(t, 5*time.Second, func() error {
						if n := s.stuckOn(g.Root); n != 0 {
							return fmt.Errorf("%d stuck goroutines", n)
						}
						if tmp := temps(t, g.Root); len(tmp) > 0 {
							return fmt.Errorf("temp files left: %v", tmp)
						}
						return nil
					})
					got, _ := get(t, s, g, "k")
					if wantTimeout && sc.kind == kindWrite && got != "old" {
						t.Errorf("a timed-out write changed the blob to %q", got)
					}
				})
			}
		}
	}
}

// TestTimedOutPutNeverRenamed: a put whose fsync hangs past the write
// timeout is not renamed into place even when the fsync returns later; its
// temp file is removed then.
func TestTimedOutPutNeverRenamed(t *testing.T) {
	f := NewFaults()
	s, g := newStore(t, Config{Faults: f, Features: featuresAll(), WriteTimeout: 50 * time.Millisecond})
	put(t, s, g, "k", "old")
	renames := f.Calls(OpRename)
	f.Add(Fault{Op: OpSync, Hang: true})
	_, err := s.Put(context.Background(), g, "", "k", strings.NewReader("new"))
	wantCode(t, err, abi.Timeout)
	if f.Hung() != 1 || s.stuckOn(g.Root) != 1 {
		t.Fatalf("hung %d, stuck %d", f.Hung(), s.stuckOn(g.Root))
	}
	if len(temps(t, g.Root)) != 1 {
		t.Fatal("the temp file should still exist while its fsync hangs")
	}
	f.Release()
	checkFor(t, 5*time.Second, func() error {
		if n := s.stuckOn(g.Root); n != 0 {
			return fmt.Errorf("%d stuck", n)
		}
		if tmp := temps(t, g.Root); len(tmp) > 0 {
			return fmt.Errorf("temp files left: %v", tmp)
		}
		return nil
	})
	if f.Calls(OpRename) != renames {
		t.Fatal("renamed after timing out")
	}
	if got, _ := get(t, s, g, "k"); got != "old" {
		t.Fatalf("blob %q", got)
	}
}

// TestCommitRenameTimeout: a rename that hangs past the deadline is
// reported with an unknown outcome.
func TestCommitRenameTimeout(t *testing.T) {
	f := NewFaults()
	s, g := newStore(t, Config{Faults: f, Features: featuresAll(), WriteTimeout: 50 * time.Millisecond})
	f.Add(Fault{Op: OpRename, Hang: true})
	_, err := s.Put(context.Background(), g, "", "k", strings.NewReader("new"))
	wantCode(t, err, abi.Timeout)
	if !errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "may or may not") {
		t.Fatalf("%v", err)
	}
	f.Release()
	checkFor(t, 5*time.Second, func() error {
		if n := s.stuckOn(g.Root); n != 0 {
			return fmt.Errorf("%d stuck", n)
		}
		return nil
	})
	// The rename went through in the end; nothing else is left.
	if got := files(t, g.Root); len(got) != 1 || got[0] != "k" {
		t.Fatalf("files %v", got)
	}
}

// TestDeleteTimeoutOutcomeUnknown: a delete stuck in its removal says so,
// and the removal completes once the disk returns.
func TestDeleteTimeoutOutcomeUnknown(t *testing.T) {
	f := NewFaults()
	s, g := newStore(t, Config{Faults: f, Features: featuresAll(), DeleteTimeout: 50 * time.Millisecond})
	put(t, s, g, "k", "v")
	f.Add(Fault{Op: OpRemove, Hang: true})
	err := s.Delete(context.Background(), g, "", "k")
	wantCode(t, err, abi.Timeout)
	if !errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "outcome is unknown") {
		t.Fatalf("%v", err)
	}
	f.Release()
	checkFor(t, 5*time.Second, func() error {
		if _, err := s.Stat(context.Background(), g, "", "k"); codeOf(err) != abi.NotFound {
			return fmt.Errorf("stat after the late removal: %v", err)
		}
		return nil
	})
}

// TestCtxHonouredWithFlagOff: without the timeout flag a slow operation
// runs to its end, but the caller's ctx still ends the wait.
func TestCtxHonouredWithFlagOff(t *testing.T) {
	f := NewFaults()
	s, g := newStore(t, Config{Faults: f, ReadTimeout: time.Millisecond})
	put(t, s, g, "k", "v")
	f.Add(Fault{Op: OpOpen, Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := s.Open(ctx, g, "", "k")
	wantCode(t, err, abi.Cancelled)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %v", took)
	}
	f.Release()
	checkFor(t, 5*time.Second, func() error {
		if n := s.stuckOn(g.Root); n != 0 {
			return fmt.Errorf("%d stuck", n)
		}
		return nil
	})
}

// TestStuckBound: with a hung disk, the goroutines left behind on a root
// never exceed MaxStuck whatever the number of callers; once they are all
// stuck, calls on that root fail at once; other roots are unaffected; when
// the disk returns, the root serves again.
func TestStuckBound(t *testing.T) {
	for _, flag := range []bool{true, false} {
		t.Run(fmt.Sprintf("complete_timeout=%v", flag), func(t *testing.T) {
			const maxStuck, callers = 4, 40
			f := NewFaults()
			cfg := Config{Faults: f, MaxStuck: maxStuck, ReadTimeout: 50 * time.Millisecond}
			cfg.Features.CompleteTimeout = flag
			s, g := newStore(t, cfg)
			other := sandbox.FSGrant{Root: mkdirTemp(t, "other")}
			put(t, s, g, "k", "v")
			put(t, s, other, "k", "v")
			f.Add(Fault{Op: OpStat, Root: g.Root, Hang: true})

			// With the flag off only the step's ctx bounds a call.
			callCtx := func() (context.Context, context.CancelFunc) {
				if flag {
					return context.Background(), func() {}
				}
				return context.WithTimeout(context.Background(), 50*time.Millisecond)
			}
			before := runtime.NumGoroutine()
			var wg sync.WaitGroup
			errs := make([]error, callers)
			for i := range callers {
				wg.Go(func() {
					ctx, cancel := callCtx()
					defer cancel()
					_, errs[i] = s.Stat(ctx, g, "", "k")
				})
			}
			wg.Wait()
			for i, err := range errs {
				if c := codeOf(err); c != abi.Timeout && c != abi.IOError && c != abi.Cancelled {
					t.Fatalf("caller %d: %v", i, err)
				}
			}
			if h, st := f.Hung(), s.stuckOn(g.Root); h != maxStuck || st != maxStuck {
				t.Fatalf("hung %d, stuck %d, want %d", h, st, maxStuck)
			}
			// Transient goroutines (ctx timers firing) settle quickly.
			checkFor(t, 2*time.Second, func() error {
				if n := runtime.NumGoroutine(); n > before+maxStuck+2 {
					return fmt.Errorf("%d goroutines, %d before", n, before)
				}
				return nil
			})

			// Full: the next call fails at once.
			ctx, cancel := callCtx()
			start := time.Now()
			_, err := s.Stat(ctx, g, "", "k")
			cancel()
			wantCode(t, err, abi.IOError)
			if !errors.Is(err, ErrTooManyStuck) || time.Since(start) > 20*time.Millisecond {
				t.Fatalf("%v after %v", err, time.Since(start))
			}
			if f.Hung() != maxStuck {
				t.Fatal("a new goroutine was started")
			}
			// Another root is unaffected.
			if _, err := s.Stat(context.Background(), other, "", "k"); err != nil {
				t.Fatal(err)
			}

			f.Release()
			checkFor(t, 5*time.Second, func() error {
				if n := s.stuckOn(g.Root); n != 0 {
					return fmt.Errorf("%d stuck", n)
				}
				return nil
			})
			if _, err := s.Stat(context.Background(), g, "", "k"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCancelMidPut: a put whose ctx is cancelled between chunks, or while
// a write hangs, leaves nothing behind.
func TestCancelMidPut(t *testing.T) {
	t.Run("between-chunks", func(t *testing.T) {
		s, g := newStore(t, Config{Features: featuresAll()})
		ctx, cancel := context.WithCancel(context.Background())
		src := &slowReader{data: pattern(4*chunkSize, 'c'), hook: func(off int) {
			if off >= 2*chunkSize {
				cancel()
			}
		}}
		_, err := s.Put(ctx, g, "", "dir/k", src)
		wantCode(t, err, abi.Cancelled)
		if got := files(t, g.Root); len(got) != 0 {
			t.Fatalf("left %v", got)
		}
	})
	t.Run("hung-write", func(t *testing.T) {
		f := NewFaults()
		s, g := newStore(t, Config{Faults: f}) // no timeouts: only ctx
		f.Add(Fault{Op: OpWrite, Hang: true})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(30*time.Millisecond, cancel)
		_, err := s.Put(ctx, g, "", "k", bytes.NewReader(pattern(2*chunkSize, 'h')))
		wantCode(t, err, abi.Cancelled)
		f.Release()
		checkFor(t, 5*time.Second, func() error {
			if got := files(t, g.Root); len(got) != 0 {
				return fmt.Errorf("left %v", got)
			}
			return nil
		})
	})
	t.Run("writer", func(t *testing.T) {
		s, g := newStore(t, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		w, err := s.Create(ctx, g, "", "k")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(pattern(chunkSize+1, 'x')); err != nil {
			t.Fatal(err)
		}
		cancel()
		_, err = w.Write([]byte("more"))
		wantCode(t, err, abi.Cancelled)
		if err := w.Commit(context.Background()); err == nil {
			t.Fatal("commit after a failed write")
		}
		if got := files(t, g.Root); len(got) != 0 {
			t.Fatalf("left %v", got)
		}
	})
	t.Run("source-error", func(t *testing.T) {
		s, g := newStore(t, Config{})
		src := io.MultiReader(bytes.NewReader(pattern(chunkSize+3, 's')), errReader{&Error{C: abi.LimitExceeded, Msg: "input cap"}})
		_, err := s.Put(context.Background(), g, "", "k", src)
		wantCode(t, err, abi.LimitExceeded)
		if isFailure(err) {
			t.Error("a source error counts for the breaker")
		}
		if got := files(t, g.Root); len(got) != 0 {
			t.Fatalf("left %v", got)
		}
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestAbortWhileStuck: Abort returns at once while a write is stuck; the
// goroutine removes the temp file when the disk returns.
func TestAbortWhileStuck(t *testing.T) {
	f := NewFaults()
	s, g := newStore(t, Config{Faults: f, Features: policy.Features{CompleteTimeout: true}, WriteTimeout: 50 * time.Millisecond})
	w, err := s.Create(context.Background(), g, "", "k")
	if err != nil {
		t.Fatal(err)
	}
	f.Add(Fault{Op: OpWrite, Hang: true})
	_, err = w.Write(pattern(chunkSize, 'a'))
	wantCode(t, err, abi.Timeout)
	done := make(chan struct{})
	go func() { w.Abort(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Abort blocked on a stuck write")
	}
	if len(temps(t, g.Root)) != 1 {
		t.Fatal("temp file removed under a running write")
	}
	f.Release()
	checkFor(t, 5*time.Second, func() error {
		if tmp := temps(t, g.Root); len(tmp) > 0 {
			return fmt.Errorf("temp files left: %v", tmp)
		}
		return nil
	})
}
