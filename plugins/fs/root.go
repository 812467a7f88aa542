package fscap

import (
	"hash/maphash"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/beamline/blockhost/abi"
)

// root is the state of one root directory (a grant's Root or Fallback):
// its backend, opened on first use, its I/O slots and stuck goroutines,
// the temp files of its writes in flight, and the locks that order renames.
type root struct {
	dir   string // absolute, clean: the breaker's target
	short string // filepath.Base(dir), the name used in messages

	slots chan struct{} // capacity MaxStuck: I/O goroutines alive
	stuck atomic.Int32  // of which abandoned by their caller

	mu       sync.Mutex
	b        backend       // nil until opened
	full     chan struct{} // closed while stuck >= MaxStuck
	maxStuck int
	temps    map[string]int // temp files being written, by relative path

	keyLocks [64]sync.Mutex // striped by key: a rename and its check
}

func newRoot(dir string, maxStuck int) *root {
	return &root{
		dir: dir, short: filepath.Base(dir),
		slots: make(chan struct{}, maxStuck), maxStuck: maxStuck,
		full: make(chan struct{}), temps: make(map[string]int),
	}
}

// shortName is how a root directory is named in messages: its last
// element, never the host path.
func shortName(dir string) string { return filepath.Base(cleanRoot(dir)) }

// quoted returns the root's short name, quoted, for messages.
func (rt *root) quoted() string { return strconv.Quote(rt.short) }

func (rt *root) releaseSlot() { <-rt.slots }

// addStuck changes the count of stuck goroutines and keeps full in step.
func (rt *root) addStuck(d int32) {
	rt.mu.Lock()
	n := rt.stuck.Add(d)
	switch {
	case d > 0 && int(n) == rt.maxStuck:
		close(rt.full)
	case d < 0 && int(n) == rt.maxStuck-1:
		rt.full = make(chan struct{})
	}
	rt.mu.Unlock()
}

// allStuck returns a channel closed while every slot is held by a stuck
// goroutine.
func (rt *root) allStuck() <-chan struct{} {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.full
}

var lockSeed = maphash.MakeSeed()

// keyLock returns the lock that orders renames onto rel.
func (rt *root) keyLock(rel string) *sync.Mutex {
	return &rt.keyLocks[maphash.String(lockSeed, rel)%uint64(len(rt.keyLocks))]
}

// addTemp and dropTemp track the temp files of writes in flight, which
// Sweep leaves alone.
func (rt *root) addTemp(rel string) {
	rt.mu.Lock()
	rt.temps[rel]++
	rt.mu.Unlock()
}

func (rt *root) dropTemp(rel string) {
	rt.mu.Lock()
	if rt.temps[rel]--; rt.temps[rel] <= 0 {
		delete(rt.temps, rel)
	}
	rt.mu.Unlock()
}

func (rt *root) tempInUse(rel string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.temps[rel] > 0
}

// root returns the state of directory dir, creating it on first use.
func (s *Store) root(dir string) *root {
	dir = cleanRoot(dir)
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.roots[dir]
	if !ok {
		rt = newRoot(dir, s.cfg.MaxStuck)
		s.roots[dir] = rt
	}
	return rt
}

// backend returns the root's backend, opening it (bounded like any other
// operation of the call) on first use. A root that cannot be opened — a
// missing directory, an unmounted disk — is an IOError, which counts for
// its breaker.
func (c *call) backend() (backend, error) {
	rt := c.rt
	rt.mu.Lock()
	b := rt.b
	rt.mu.Unlock()
	if b != nil {
		return b, nil
	}
	if c.s.closed.Load() {
		return nil, c.closedErr()
	}
	var nb backend
	err := c.run(func() error {
		var err error
		nb, err = openBackend(rt.dir, c.s.cfg.Faults)
		return err
	}, func(error) {
		if nb != nil {
			nb.Close()
		}
	})
	if err != nil {
		if _, ok := err.(*Error); ok {
			return nil, err
		}
		return nil, &Error{C: classifyRootErr(err), Msg: "fs root " + rt.quoted() + " is not available: " + errnoText(err), Err: err}
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.b != nil { // opened concurrently
		nb.Close()
		return rt.b, nil
	}
	if c.s.closed.Load() {
		nb.Close()
		return nil, c.closedErr()
	}
	rt.b = nb
	return nb, nil
}

// classifyRootErr: a root that cannot be opened is an IOError (even when
// it is absent: that is not a missing blob), or Denied on EACCES.
func classifyRootErr(err error) abi.Code {
	if classify(err) == abi.Denied {
		return abi.Denied
	}
	return abi.IOError
}

func (c *call) closedErr() error {
	return &Error{C: abi.IOError, Msg: "fs store closed", Err: ErrClosed}
}

// admit asks rt's breaker to let a new operation through: done reports
// its outcome (nil when breakers are off). err is a CircuitOpen *Error
// when the breaker refuses.
func (s *Store) admit(rt *root) (done func(bool), err error) {
	if s.breakers == nil {
		return nil, nil
	}
	done, err = s.breakers.Get(rt.dir).Allow()
	if err != nil {
		return nil, &Error{C: abi.CircuitOpen, Msg: "circuit open: fs root " + rt.quoted(), Err: err}
	}
	return done, nil
}

// observe is admit for an operation on a handle already open (a read,
// a write, a commit): the breaker does not gate it, but its outcome counts
// when the breaker lets it through.
func (s *Store) observe(rt *root) func(bool) {
	done, err := s.admit(rt)
	if err != nil {
		return nil
	}
	return done
}
