package fscap

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Op names a backend operation, for Fault and the trace.
type Op string

// Backend operations. Every file operation of a Store is one of these.
const (
	OpOpenRoot Op = "open-root"  // opening a root directory (once per root)
	OpOpen     Op = "open"       // opening a blob or directory for reading
	OpCreate   Op = "create"     // creating a temp file
	OpRead     Op = "read"       // one read from an open blob
	OpWrite    Op = "write"      // one write to a temp file
	OpSync     Op = "fsync-file" // fsync of a temp file
	OpClose    Op = "close"      // closing a file
	OpRename   Op = "rename"     // renaming a temp file over its key
	OpRemove   Op = "remove"     // deleting a blob or temp file
	OpStat     Op = "stat"       // stat or lstat of a path
	OpReadDir  Op = "readdir"    // listing a directory
	OpMkdir    Op = "mkdir"      // creating a directory of a key
	OpSyncDir  Op = "fsync-dir"  // fsync of a directory
)

// Fault is one rule of Faults: matching calls wait Delay, then (with Hang)
// block until Faults.Release or Clear, then fail with Err (or, with a nil
// Err, go ahead).
type Fault struct {
	// Op is the operation to hit; "" hits every operation.
	Op Op
	// Root is the root directory to hit, as given in the grant; "" hits
	// every root.
	Root string
	// Path, when set, limits the fault to names equal to it or under it
	// (relative to the root, e.g. "tenant/dir").
	Path string
	// Err is returned, wrapped in an *fs.PathError, instead of doing the
	// operation: e.g. syscall.EIO, syscall.ENOSPC, syscall.EACCES.
	Err error
	// Delay is slept before the operation (a slow disk). The sleep ignores
	// every context, as a blocked system call would.
	Delay time.Duration
	// Hang blocks the call until the test calls Release or Clear: a system
	// call that never returns.
	Hang bool
	// Times limits the rule to its next Times matching calls; 0 keeps it
	// until Clear.
	Times int
}

// Event is one backend call seen by Faults while tracing.
type Event struct {
	Op   Op
	Root string // the root directory
	Name string // relative to the root
}

// Faults injects faults into the file operations of a Store, for tests and
// the chaos suite: set Config.Faults to it (tests of other packages reach
// the same through host.Config.FS.Faults). The first rule that matches a
// call applies. A nil *Faults (production) costs nothing; the zero value is
// ready to use. Safe for concurrent use.
type Faults struct {
	mu      sync.Mutex
	rules   []*Fault
	release chan struct{}
	hung    int
	calls   map[Op]int
	tracing bool
	trace   []Event
}

// NewFaults returns Faults without rules.
func NewFaults() *Faults { return &Faults{} }

// lazyInit makes the zero value usable. f.mu is held.
func (f *Faults) lazyInit() {
	if f.release == nil {
		f.release = make(chan struct{})
		f.calls = make(map[Op]int)
	}
}

// Add adds a rule after the existing ones.
func (f *Faults) Add(ft Fault) {
	if ft.Root != "" {
		ft.Root = cleanRoot(ft.Root)
	}
	f.mu.Lock()
	f.rules = append(f.rules, &ft)
	f.mu.Unlock()
}

// Release removes every Hang rule and lets every hung call go on.
func (f *Faults) Release() {
	f.mu.Lock()
	kept := f.rules[:0]
	for _, r := range f.rules {
		if !r.Hang {
			kept = append(kept, r)
		}
	}
	f.rules = kept
	f.lazyInit()
	close(f.release)
	f.release = make(chan struct{})
	f.mu.Unlock()
}

// Clear removes every rule and lets every hung call go on.
func (f *Faults) Clear() {
	f.mu.Lock()
	f.rules = nil
	f.mu.Unlock()
	f.Release()
}

// Hung returns how many calls are blocked by a Hang rule right now.
func (f *Faults) Hung() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hung
}

// Calls returns how many calls of op the backend has seen.
func (f *Faults) Calls(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// StartTrace starts recording every call (and drops what was recorded).
func (f *Faults) StartTrace() {
	f.mu.Lock()
	f.tracing, f.trace = true, nil
	f.mu.Unlock()
}

// Trace returns the calls recorded since StartTrace, in order.
func (f *Faults) Trace() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.trace...)
}

// inject applies the first matching rule to a call of op on name in root.
func (f *Faults) inject(op Op, root, name string) error {
	f.mu.Lock()
	f.lazyInit()
	f.calls[op]++
	if f.tracing {
		f.trace = append(f.trace, Event{Op: op, Root: root, Name: name})
	}
	var rule Fault
	matched := false
	for i, r := range f.rules {
		if (r.Op == "" || r.Op == op) && (r.Root == "" || r.Root == root) &&
			(r.Path == "" || name == r.Path || strings.HasPrefix(name, r.Path+"/")) {
			rule, matched = *r, true
			if r.Times > 0 {
				if r.Times--; r.Times == 0 {
					f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
				}
			}
			break
		}
	}
	release := f.release
	if matched && rule.Hang {
		f.hung++
	}
	f.mu.Unlock()
	if !matched {
		return nil
	}
	if rule.Delay > 0 {
		time.Sleep(rule.Delay)
	}
	if rule.Hang {
		<-release
		f.mu.Lock()
		f.hung--
		f.mu.Unlock()
	}
	if rule.Err != nil {
		return &fs.PathError{Op: string(op), Path: name, Err: rule.Err}
	}
	return nil
}

// cleanRoot is how a root directory is named everywhere in the package:
// absolute and clean.
func cleanRoot(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return filepath.Clean(dir)
}

// faultBackend wraps a backend with Faults.
type faultBackend struct {
	inner backend
	f     *Faults
	root  string
}

var _ backend = (*faultBackend)(nil)

func (b *faultBackend) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	op := OpOpen
	if flag&os.O_CREATE != 0 {
		op = OpCreate
	}
	if err := b.f.inject(op, b.root, name); err != nil {
		return nil, err
	}
	fl, err := b.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{inner: fl, b: b, name: name}, nil
}

func (b *faultBackend) Mkdir(name string, perm os.FileMode) error {
	if err := b.f.inject(OpMkdir, b.root, name); err != nil {
		return err
	}
	return b.inner.Mkdir(name, perm)
}

func (b *faultBackend) Rename(oldname, newname string) error {
	if err := b.f.inject(OpRename, b.root, newname); err != nil {
		return err
	}
	return b.inner.Rename(oldname, newname)
}

func (b *faultBackend) Remove(name string) error {
	if err := b.f.inject(OpRemove, b.root, name); err != nil {
		return err
	}
	return b.inner.Remove(name)
}

func (b *faultBackend) Stat(name string) (fs.FileInfo, error) {
	if err := b.f.inject(OpStat, b.root, name); err != nil {
		return nil, err
	}
	return b.inner.Stat(name)
}

func (b *faultBackend) Lstat(name string) (fs.FileInfo, error) {
	if err := b.f.inject(OpStat, b.root, name); err != nil {
		return nil, err
	}
	return b.inner.Lstat(name)
}

func (b *faultBackend) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := b.f.inject(OpReadDir, b.root, name); err != nil {
		return nil, err
	}
	return b.inner.ReadDir(name)
}

func (b *faultBackend) SyncDir(name string) error {
	if err := b.f.inject(OpSyncDir, b.root, name); err != nil {
		return err
	}
	return b.inner.SyncDir(name)
}

func (b *faultBackend) Close() error { return b.inner.Close() }

type faultFile struct {
	inner file
	b     *faultBackend
	name  string
}

func (f *faultFile) Read(p []byte) (int, error) {
	if err := f.b.f.inject(OpRead, f.b.root, f.name); err != nil {
		return 0, err
	}
	return f.inner.Read(p)
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.b.f.inject(OpWrite, f.b.root, f.name); err != nil {
		return 0, err
	}
	return f.inner.Write(p)
}

func (f *faultFile) Sync() error {
	if err := f.b.f.inject(OpSync, f.b.root, f.name); err != nil {
		return err
	}
	return f.inner.Sync()
}

func (f *faultFile) Close() error {
	if err := f.b.f.inject(OpClose, f.b.root, f.name); err != nil {
		f.inner.Close()
		return err
	}
	return f.inner.Close()
}

func (f *faultFile) Stat() (fs.FileInfo, error) {
	if err := f.b.f.inject(OpStat, f.b.root, f.name); err != nil {
		return nil, err
	}
	return f.inner.Stat()
}
