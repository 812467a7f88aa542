package fscap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

type transition struct {
	kind, target string
	from, to     policy.BreakerState
}

type breakerRig struct {
	s      *Store
	g      sandbox.FSGrant
	f      *Faults
	clock  *policy.FakeClock
	mu     sync.Mutex
	events []transition
}

func newBreakerRig(t *testing.T, fallback bool, cfg Config) *breakerRig {
	r := &breakerRig{f: NewFaults(), clock: policy.NewFakeClock(time.Unix(1_700_000_000, 0))}
	cfg.Faults = r.f
	cfg.Features.CircuitBreaker = true
	cfg.Breaker = policy.BreakerSettings{FailureThreshold: 2, RecoveryTimeout: 10 * time.Second, SuccessThreshold: 1, Clock: r.clock}
	cfg.OnTransition = func(kind, target string, from, to policy.BreakerState) {
		r.mu.Lock()
		r.events = append(r.events, transition{kind, target, from, to})
		r.mu.Unlock()
	}
	r.s, r.g = newStore(t, cfg)
	if fallback {
		r.g.Fallback = mkdirTemp(t, "spare")
	}
	return r
}

func (r *breakerRig) state(t *testing.T, dir string) policy.BreakerState {
	t.Helper()
	for _, b := range r.s.Breakers() {
		if b.Name == cleanRoot(dir) {
			return b.State
		}
	}
	t.Fatalf("no breaker for %s in %+v", dir, r.s.Breakers())
	return 0
}

func (r *breakerRig) transitions() []transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transition(nil), r.events...)
}

// TestBreakerCounts: EIO, ENOSPC, EACCES and timeouts open a root's
// breaker; absent blobs, bad keys and jail denials do not.
func TestBreakerCounts(t *testing.T) {
	ctx := context.Background()
	for _, errno := range []error{syscall.EIO, syscall.ENOSPC, syscall.EACCES, ErrTimeout} {
		t.Run(fmt.Sprint(errno), func(t *testing.T) {
			r := newBreakerRig(t, false, Config{Features: policy.Features{CompleteTimeout: true}, WriteTimeout: 30 * time.Millisecond})
			put(t, r.s, r.g, "k", "v")
			if errno == ErrTimeout {
				r.f.Add(Fault{Op: OpCreate, Delay: 200 * time.Millisecond})
			} else {
				r.f.Add(Fault{Op: OpCreate, Err: errno})
			}
			for range 2 {
				if _, err := r.s.Put(ctx, r.g, "", "k", strings.NewReader("x")); err == nil {
					t.Fatal("put succeeded")
				}
			}
			if st := r.state(t, r.g.Root); st != policy.StateOpen {
				t.Fatalf("state %v after two %v", st, errno)
			}
			calls := r.f.Calls(OpCreate)
			_, err := r.s.Put(ctx, r.g, "", "k", strings.NewReader("x"))
			wantCode(t, err, abi.CircuitOpen)
			if !errors.Is(err, policy.ErrOpen) || err.Error() != `circuit open: fs root "blobs"` {
				t.Fatalf("%v", err)
			}
			_, err = get(t, r.s, r.g, "k")
			wantCode(t, err, abi.CircuitOpen)
			if r.f.Calls(OpCreate) != calls {
				t.Fatal("an open breaker let a call reach the disk")
			}
		})
	}
	t.Run("not-failures", func(t *testing.T) {
		r := newBreakerRig(t, false, Config{})
		os.Symlink("/etc/passwd", filepath.Join(r.g.Root, "evil"))
		for range 5 {
			_, err := get(t, r.s, r.g, "missing")
			wantCode(t, err, abi.NotFound)
			_, err = get(t, r.s, r.g, "../x")
			wantCode(t, err, abi.Denied)
			_, err = get(t, r.s, r.g, "evil")
			wantCode(t, err, abi.Denied)
			wantCode(t, r.s.Delete(ctx, r.g, "", "missing"), abi.NotFound)
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err = r.s.Stat(ctx, r.g, "", "missing")
			wantCode(t, err, abi.Cancelled)
		}
		if st := r.state(t, r.g.Root); st != policy.StateClosed {
			t.Fatalf("state %v", st)
		}
	})
}

// TestBreakerRecovers: open, then half-open after the recovery timeout
// (fake clock), then closed after a successful probe; every transition is
// reported through OnTransition.
func TestBreakerRecovers(t *testing.T) {
	r := newBreakerRig(t, false, Config{})
	r.f.Add(Fault{Op: OpOpen, Err: syscall.EIO})
	for range 2 {
		get(t, r.s, r.g, "k")
	}
	_, err := get(t, r.s, r.g, "k")
	wantCode(t, err, abi.CircuitOpen)
	r.f.Clear()
	r.clock.Advance(10 * time.Second)
	if st := r.state(t, r.g.Root); st != policy.StateHalfOpen {
		t.Fatalf("state %v", st)
	}
	put(t, r.s, r.g, "k", "v") // the probe
	if got, err := get(t, r.s, r.g, "k"); err != nil || got != "v" {
		t.Fatalf("%q, %v", got, err)
	}
	root := cleanRoot(r.g.Root)
	want := []transition{
		{"fs", root, policy.StateClosed, policy.StateOpen},
		{"fs", root, policy.StateOpen, policy.StateHalfOpen},
		{"fs", root, policy.StateHalfOpen, policy.StateClosed},
	}
	if got := r.transitions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("transitions %+v", got)
	}
	snap := r.s.Breakers()
	if len(snap) != 1 || snap[0].Name != root || snap[0].State != policy.StateClosed {
		t.Fatalf("breakers %+v", snap)
	}
}

// TestFallback: while the primary's breaker is open, writes go to the
// fallback and reads look there; deletes and lists need the primary; when
// the primary recovers, reads return the newer copy and MoveBack brings the
// fallback's blobs home.
func TestFallback(t *testing.T) {
	r := newBreakerRig(t, true, Config{})
	s, g, ctx := r.s, r.g, context.Background()
	put(t, s, g, "k", "v1")
	put(t, s, g, "only-primary", "p")

	// Trip the primary.
	r.f.Add(Fault{Op: OpCreate, Root: g.Root, Err: syscall.EIO})
	for range 2 {
		s.Put(ctx, g, "", "k", strings.NewReader("x"))
	}
	if st := r.state(t, g.Root); st != policy.StateOpen {
		t.Fatalf("primary %v", st)
	}
	r.clock.Advance(time.Millisecond) // later writes are newer

	put(t, s, g, "k", "v2")
	put(t, s, g, "dir/new", "n")
	w, err := s.Create(ctx, g, "", "streamed")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("s"))
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := files(t, g.Fallback); !reflect.DeepEqual(got, []string{"dir/new", "k", "streamed"}) {
		t.Fatalf("fallback holds %v", got)
	}
	if got, err := get(t, s, g, "k"); err != nil || got != "v2" {
		t.Fatalf("read while open: %q, %v", got, err)
	}
	if info, err := s.Stat(ctx, g, "", "dir/new"); err != nil || info.Size != 1 {
		t.Fatalf("stat while open: %+v, %v", info, err)
	}
	// In the primary only: it cannot be read now, and it is not "not found".
	_, err = get(t, s, g, "only-primary")
	wantCode(t, err, abi.CircuitOpen)
	wantCode(t, s.Delete(ctx, g, "", "k"), abi.CircuitOpen)
	_, err = s.List(ctx, g, "", "")
	wantCode(t, err, abi.CircuitOpen)

	// Recovery: the primary's old "k" is older than the fallback's.
	r.f.Clear()
	r.clock.Advance(10 * time.Second)
	os.Chtimes(filepath.Join(g.Root, "k"), time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
	if got, err := get(t, s, g, "k"); err != nil || got != "v2" {
		t.Fatalf("read after recovery: %q, %v", got, err)
	}
	if st := r.state(t, g.Root); st != policy.StateClosed {
		t.Fatalf("primary %v after a successful probe", st)
	}
	list, err := s.List(ctx, g, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, bi := range list {
		keys = append(keys, bi.Key)
	}
	if want := []string{"dir/new", "k", "only-primary", "streamed"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("merged list %v", keys)
	}

	// A key rewritten in the primary after recovery is newer there: its
	// fallback copy is dropped, not moved.
	time.Sleep(10 * time.Millisecond)
	put(t, s, g, "streamed", "newest")

	f := r.f
	f.StartTrace()
	moved, err := s.MoveBack(ctx, g)
	if err != nil || moved != 2 {
		t.Fatalf("MoveBack: %d, %v", moved, err)
	}
	if got := files(t, g.Fallback); len(got) != 0 {
		t.Fatalf("fallback still holds %v", got)
	}
	for k, want := range map[string]string{"k": "v2", "dir/new": "n", "only-primary": "p", "streamed": "newest"} {
		if got, err := get(t, s, g, k); err != nil || got != want {
			t.Errorf("%s after MoveBack: %q, %v", k, got, err)
		}
	}
	// Each blob is durable in the primary before it leaves the fallback.
	prim, spare := cleanRoot(g.Root), cleanRoot(g.Fallback)
	synced := map[string]bool{}
	for _, e := range f.Trace() {
		switch {
		case e.Root == prim && e.Op == OpRename:
			synced[e.Name] = false
		case e.Root == prim && e.Op == OpSyncDir:
			for k := range synced {
				if filepath.Dir(k) == e.Name || e.Name == "." && !strings.Contains(k, "/") {
					synced[k] = true
				}
			}
		case e.Root == spare && e.Op == OpRemove:
			if !synced[e.Name] && e.Name != "streamed" {
				t.Errorf("%s removed from the fallback before it was durable in the primary", e.Name)
			}
		}
	}
	for _, b := range s.Breakers() {
		if b.State != policy.StateClosed || b.ConsecutiveFailures != 0 {
			t.Errorf("after MoveBack: %+v", b)
		}
	}
	if n, err := s.MoveBack(ctx, g); n != 0 || err != nil {
		t.Fatalf("second MoveBack: %d, %v", n, err)
	}
	if tmp := temps(t, g.Root); len(tmp) > 0 {
		t.Fatalf("temps %v", tmp)
	}
}

// TestFallbackDelete: a blob only in the fallback is deletable, and a
// delete removes both copies.
func TestFallbackDelete(t *testing.T) {
	r := newBreakerRig(t, true, Config{})
	s, g, ctx := r.s, r.g, context.Background()
	os.WriteFile(filepath.Join(g.Fallback, "f"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(g.Fallback, "both"), []byte("x"), 0o600)
	put(t, s, g, "both", "y")
	if err := s.Delete(ctx, g, "", "f"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, g, "", "both"); err != nil {
		t.Fatal(err)
	}
	if got := append(files(t, g.Root), files(t, g.Fallback)...); len(got) != 0 {
		t.Fatalf("left %v", got)
	}
	wantCode(t, s.Delete(ctx, g, "", "both"), abi.NotFound)
}

// TestFallbackOnPrimaryFailure: a read that fails on a closed primary with
// an I/O error is answered from the fallback when it has the blob.
func TestFallbackOnPrimaryFailure(t *testing.T) {
	r := newBreakerRig(t, true, Config{})
	s, g := r.s, r.g
	os.WriteFile(filepath.Join(g.Fallback, "k"), []byte("spare"), 0o600)
	r.f.Add(Fault{Op: OpOpen, Root: g.Root, Err: syscall.EIO, Times: 1})
	if got, err := get(t, s, g, "k"); err != nil || got != "spare" {
		t.Fatalf("%q, %v", got, err)
	}
	r.f.Add(Fault{Op: OpOpen, Root: g.Root, Err: syscall.EIO, Times: 1})
	_, err := get(t, s, g, "absent")
	wantCode(t, err, abi.IOError) // the primary's failure, not the fallback's NotFound
}

// TestNoBreakersWithFlagOff: with the flag off failures never refuse calls.
func TestNoBreakersWithFlagOff(t *testing.T) {
	f := NewFaults()
	s, g := newStore(t, Config{Faults: f})
	put(t, s, g, "k", "v")
	f.Add(Fault{Op: OpOpen, Err: syscall.EIO, Times: 10})
	for range 10 {
		_, err := get(t, s, g, "k")
		wantCode(t, err, abi.IOError)
	}
	if got, err := get(t, s, g, "k"); err != nil || got != "v" {
		t.Fatalf("%q, %v", got, err)
	}
	if s.Breakers() != nil {
		t.Fatal("breakers listed")
	}
}

// TestMoveBackConcurrent: two MoveBacks at once move each blob once, and a
// delete racing them never brings a blob back.
func TestMoveBackConcurrent(t *testing.T) {
	r := newBreakerRig(t, true, Config{})
	s, g, ctx := r.s, r.g, context.Background()
	g.PerTenant = true
	for i := range 20 {
		p := filepath.Join(g.Fallback, fmt.Sprintf("t%d", i%3), "d", fmt.Sprintf("k%d", i))
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, []byte(fmt.Sprint(i)), 0o600)
	}
	var wg sync.WaitGroup
	var total [2]int
	for j := range 2 {
		wg.Go(func() {
			n, err := s.MoveBack(ctx, g)
			if err != nil {
				t.Error(err)
			}
			total[j] = n
		})
	}
	wg.Go(func() {
		if err := s.Delete(ctx, g, "t0", "d/k0"); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	if total[0]+total[1] > 20 || total[0]+total[1] < 19 {
		t.Fatalf("moved %v", total)
	}
	if got := files(t, g.Fallback); len(got) != 0 {
		t.Fatalf("fallback still holds %v", got)
	}
	if got := files(t, g.Root); len(got) != 19 {
		t.Fatalf("primary holds %d: %v", len(got), got)
	}
	if _, err := s.Stat(ctx, g, "t0", "d/k0"); codeOf(err) != abi.NotFound {
		t.Fatalf("deleted blob: %v", err)
	}
	if got, err := func() (string, error) {
		rd, _, err := s.Open(ctx, g, "t1", "d/k7")
		if err != nil {
			return "", err
		}
		defer rd.Close()
		b := make([]byte, 10)
		n, _ := rd.Read(b)
		return string(b[:n]), nil
	}(); err != nil || got != "7" {
		t.Fatalf("t1/d/k7: %q, %v", got, err)
	}
}
