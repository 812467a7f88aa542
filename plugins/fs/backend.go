package fscap

import (
	"io"
	"io/fs"
	"os"

	"github.com/beamline/blockhost/sandbox"
)

// backend is the file system of one root: every file operation of a Store
// goes through it, so Faults can wrap it. Names are slash-separated paths
// relative to the root, resolved by an *os.Root (nothing leaves the root).
// Implementations are safe for concurrent use.
type backend interface {
	// OpenFile opens a file (OpOpen, or OpCreate with os.O_CREATE).
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	Mkdir(name string, perm os.FileMode) error
	Rename(oldname, newname string) error
	Remove(name string) error
	// Stat follows symbolic links (within the root); Lstat does not.
	Stat(name string) (fs.FileInfo, error)
	Lstat(name string) (fs.FileInfo, error)
	// ReadDir lists a directory in no particular order.
	ReadDir(name string) ([]fs.DirEntry, error)
	// SyncDir fsyncs directory name ("." for the root), making the entries
	// created, renamed or removed in it durable.
	SyncDir(name string) error
	Close() error
}

// file is an open file of a backend.
type file interface {
	io.Reader
	io.Writer
	Sync() error
	Close() error
	Stat() (fs.FileInfo, error)
}

// osBackend is the real backend: an *os.Root.
type osBackend struct{ r *os.Root }

var _ backend = osBackend{}

// openBackend opens dir as a jail (sandbox.OpenJail) and wraps it with
// faults when set.
func openBackend(dir string, faults *Faults) (backend, error) {
	if faults != nil {
		if err := faults.inject(OpOpenRoot, dir, "."); err != nil {
			return nil, err
		}
	}
	r, err := sandbox.OpenJail(dir)
	if err != nil {
		return nil, err
	}
	var b backend = osBackend{r}
	if faults != nil {
		b = &faultBackend{inner: b, f: faults, root: dir}
	}
	return b, nil
}

func (b osBackend) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := b.r.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (b osBackend) Mkdir(name string, perm os.FileMode) error { return b.r.Mkdir(name, perm) }
func (b osBackend) Rename(oldname, newname string) error      { return b.r.Rename(oldname, newname) }
func (b osBackend) Remove(name string) error                  { return b.r.Remove(name) }
func (b osBackend) Stat(name string) (fs.FileInfo, error)     { return b.r.Stat(name) }
func (b osBackend) Lstat(name string) (fs.FileInfo, error)    { return b.r.Lstat(name) }
func (b osBackend) Close() error                              { return b.r.Close() }

func (b osBackend) ReadDir(name string) ([]fs.DirEntry, error) {
	d, err := b.r.Open(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

func (b osBackend) SyncDir(name string) error {
	d, err := b.r.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
