// Package fscap is blockhost's blob capability (directory plugins/fs): blob
// get, put, delete, stat and list inside a jailed root, with per-operation
// timeouts, cancellation, durable atomic writes, per-root circuit breakers
// and an optional fallback root.
//
// # Layout on disk
//
// A grant's blobs are files under FSGrant.Root (Root/<tenant_id>/ with
// PerTenant), one per key, in directories made from the key's segments
// (created as needed, 0700; files are 0600). Keys are checked by
// sandbox.CheckBlobKey and every path is resolved through an *os.Root, so
// nothing outside the root is reachable, symbolic links included.
//
// # Durable, atomic writes
//
// A put writes ".blockhost-tmp-<16 hex digits>" (sandbox.TempPrefix) in the
// directory of its key, fsyncs it, renames it over the key and fsyncs the
// directory (and the parents of any directory it created). Readers see the
// old blob or the new one, never a mix; a put whose Commit returned nil is
// on disk; a put that failed, was cancelled or timed out before its rename
// leaves nothing behind (its temp file is removed, by the goroutine still
// running the operation if it is stuck). Sweep removes the temp files a
// crash left.
//
// # Timeouts and stuck operations
//
// With the CP2 complete timeout on, each host-function call is bounded by
// its kind's timeout (read 5 s, write 10 s, delete 3 s); the blocking
// system calls run in a goroutine and the caller returns Timeout when the
// deadline passes. The step's ctx is always honoured, flag or not. At most
// Config.MaxStuck I/O goroutines are alive per root, so a hung disk holds a
// bounded number of them.
//
// # Breakers and the fallback root
//
// With the CP2 circuit breaker on, each root has a breaker (target: the
// root's absolute path). Timeouts, I/O errors and OS permission errors are
// failures. While the primary's breaker is open, writes go to
// FSGrant.Fallback when there is one (else fail with CircuitOpen), reads
// skip the primary and look in the fallback, deletes and lists fail with
// CircuitOpen. A read finding the key in both roots returns the newer copy.
// MoveBack moves the fallback's blobs home.
package fscap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// Defaults of Config.
const (
	DefaultReadTimeout    = 5 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultDeleteTimeout  = 3 * time.Second
	DefaultMaxStuck       = 16
	DefaultMaxListEntries = 10000
)

// BreakerKind is the kind of the Store's breakers, as /v1/breakers lists it.
const BreakerKind = "fs"

// Config configures a Store. Zero fields take the default stated on each.
// It is a plain value; New copies it.
type Config struct {
	// Features: CompleteTimeout enables per-operation timeouts;
	// CircuitBreaker enables per-root breakers.
	Features policy.Features
	// ReadTimeout (5 s), WriteTimeout (10 s) and DeleteTimeout (3 s) bound
	// one host-function call of that kind, while CompleteTimeout is on:
	//   - read: blob_open_read (open and, with a fallback, a stat of the
	//     other root), blob_stat, blob_list (the whole walk), and each
	//     handle_read of a blob;
	//   - write: blob_open_write (creating the temp file), each
	//     handle_write that reaches the disk, the commit at handle_close
	//     (fsync, rename, directory fsync); blob_put_from gets one for the
	//     create, one per chunk written and one for the commit, so the time
	//     spent reading its source is not charged to the disk;
	//   - delete: blob_delete, per root.
	ReadTimeout   time.Duration
	WriteTimeout  time.Duration
	DeleteTimeout time.Duration
	// MaxStuck bounds the I/O goroutines alive per root (16): calls that
	// timed out leave theirs running until the system call returns; when
	// all MaxStuck are stuck, calls on that root fail at once (IOError,
	// ErrTooManyStuck). Calls beyond MaxStuck in flight wait for a slot
	// within their deadline.
	MaxStuck int
	// MaxListEntries caps the entries of one blob_list (10000); past it
	// the call fails with LimitExceeded.
	MaxListEntries int
	// Breaker configures each root's breaker; MaxBreakers bounds them (1024).
	Breaker     policy.BreakerSettings
	MaxBreakers int
	// OnTransition, when set, is called after each breaker state change
	// with kind "fs" and the root's absolute path as target, outside every
	// lock (see policy.BreakerSettings.OnStateChange): the host counts them
	// in metrics and may run MoveBack when a primary closes. Breaker's own
	// OnStateChange is called too.
	OnTransition func(kind, target string, from, to policy.BreakerState)
	// OnEvict, when set, is called when a closed breaker is forgotten to
	// keep at most MaxBreakers (see policy.BreakerSet).
	OnEvict func(kind, target string)
	// Faults, when set, injects faults into every file operation: for
	// tests and the chaos suite only. Nil in production.
	Faults *Faults
	// Logger; nil discards.
	Logger *slog.Logger
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"read timeout", &c.ReadTimeout, DefaultReadTimeout},
		{"write timeout", &c.WriteTimeout, DefaultWriteTimeout},
		{"delete timeout", &c.DeleteTimeout, DefaultDeleteTimeout},
	} {
		switch {
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("fscap: %s %v is negative", d.name, *d.v))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if c.MaxStuck < 0 || c.MaxListEntries < 0 {
		errs = append(errs, errors.New("fscap: MaxStuck and MaxListEntries must not be negative"))
	}
	if c.MaxStuck == 0 {
		c.MaxStuck = DefaultMaxStuck
	}
	if c.MaxListEntries == 0 {
		c.MaxListEntries = DefaultMaxListEntries
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, errors.Join(errs...)
}

// BlobInfo describes a blob.
type BlobInfo struct {
	Key            string `json:"key"`
	Size           int64  `json:"size"`
	ModifiedUnixMS int64  `json:"modified_unix_ms"`
}

// Writer is a blob being written: nothing is visible until Commit, which
// makes it durable and atomic; Abort removes it. Write is bounded by the
// ctx given to Create. A Writer is used by one goroutine at a time; Abort
// may follow any other call, and after a failed Write, Commit fails and
// removes the blob's temp file.
type Writer interface {
	io.Writer
	// Commit makes the blob durable and visible under its key, bounded by
	// ctx and the write timeout. On error nothing new is visible, except
	// when the error wraps ErrOutcomeUnknown (the rename was in flight) or
	// the directory fsync failed after the rename.
	Commit(ctx context.Context) error
	// Abort discards the blob (closes and removes its temp file, bounded
	// like a write) and is a no-op after Commit. While an operation of the
	// writer is stuck it returns at once: the stuck goroutine cleans up
	// when the disk returns.
	Abort()
}

// Store serves blobs. Safe for concurrent use.
type Store struct {
	cfg      Config
	log      *slog.Logger
	breakers *policy.BreakerSet // nil while the breaker flag is off

	mu     sync.Mutex
	roots  map[string]*root // by absolute directory
	closed atomic.Bool

	bufs sync.Pool // of *[]byte, chunkSize
}

// New returns a Store. It opens nothing: roots are opened on first use.
func New(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: cfg.Logger, roots: make(map[string]*root)}
	if cfg.Features.CircuitBreaker {
		bs := cfg.Breaker
		userEvict := bs.OnEvict
		bs.OnEvict = func(target string) {
			if userEvict != nil {
				userEvict(target)
			}
			if cfg.OnEvict != nil {
				cfg.OnEvict(BreakerKind, target)
			}
		}
		user := bs.OnStateChange
		bs.OnStateChange = func(target string, from, to policy.BreakerState) {
			lvl := slog.LevelInfo
			if to == policy.StateOpen {
				lvl = slog.LevelWarn
			}
			s.log.LogAttrs(context.Background(), lvl, "fs breaker state change",
				slog.String("root", target), slog.String("from", from.String()), slog.String("to", to.String()))
			if user != nil {
				user(target, from, to)
			}
			if cfg.OnTransition != nil {
				cfg.OnTransition(BreakerKind, target, from, to)
			}
		}
		s.breakers = policy.NewBreakerSet(BreakerKind, bs, cfg.MaxBreakers)
	}
	s.bufs.New = func() any { b := make([]byte, chunkSize); return &b }
	return s, nil
}

// Close closes the roots' directories. Operations in flight finish or fail;
// later ones fail with ErrClosed.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.mu.Lock()
	roots := make([]*root, 0, len(s.roots))
	for _, rt := range s.roots {
		roots = append(roots, rt)
	}
	s.mu.Unlock()
	var errs []error
	for _, rt := range roots {
		rt.mu.Lock()
		b := rt.b
		rt.b = nil
		rt.mu.Unlock()
		if b != nil {
			errs = append(errs, b.Close())
		}
	}
	return errors.Join(errs...)
}

// Breakers lists the per-root breakers (none while the breaker flag is
// off), sorted by target.
func (s *Store) Breakers() []policy.BreakerSnapshot {
	if s.breakers == nil {
		return nil
	}
	return s.breakers.List()
}

// Open opens blob key for reading (the newer copy when the fallback root
// has one too); size is its length. The reader's Read calls are bounded by
// ctx and, each, the read timeout; Close does not wait for a read left
// running. The reader is used by one goroutine at a time.
func (s *Store) Open(ctx context.Context, g sandbox.FSGrant, tenant, key string) (io.ReadCloser, int64, error) {
	rel, err := g.BlobPath(tenant, key)
	if err != nil {
		return nil, 0, keyError(err)
	}
	r, err := s.openBlob(ctx, g, rel, key)
	if err != nil {
		return nil, 0, err
	}
	return r, r.size, nil
}

// Create starts writing blob key (to the fallback root while the
// primary's breaker is open). Write on the Writer is bounded by ctx.
func (s *Store) Create(ctx context.Context, g sandbox.FSGrant, tenant, key string) (Writer, error) {
	rel, err := g.BlobPath(tenant, key)
	if err != nil {
		return nil, keyError(err)
	}
	if g.ReadOnly {
		return nil, readOnly(g, key)
	}
	rt, done, err := s.writeRoot(g)
	if err != nil {
		return nil, err
	}
	c := s.newCall(ctx, rt, kindWrite, key, done)
	w, err := s.create(c, rel, key)
	c.report(err)
	if err != nil {
		return nil, err
	}
	w.ctx = ctx
	return w, nil
}

// Put writes blob key from r and commits it, checking ctx between chunks;
// it returns the blob's size. On any error nothing is left behind (see
// Writer.Commit for the two exceptions).
func (s *Store) Put(ctx context.Context, g sandbox.FSGrant, tenant, key string, r io.Reader) (int64, error) {
	rel, err := g.BlobPath(tenant, key)
	if err != nil {
		return 0, keyError(err)
	}
	if g.ReadOnly {
		return 0, readOnly(g, key)
	}
	rt, done, err := s.writeRoot(g)
	if err != nil {
		return 0, err
	}
	c := s.newCall(ctx, rt, kindWrite, key, done)
	n, err := s.put(c, rel, key, r, nil)
	c.report(err)
	return n, err
}

// Delete removes blob key, from the fallback root too when there is one.
// NotFound when it is in neither. A delete that timed out or was cancelled
// while the removal was in flight wraps ErrOutcomeUnknown.
func (s *Store) Delete(ctx context.Context, g sandbox.FSGrant, tenant, key string) error {
	rel, err := g.BlobPath(tenant, key)
	if err != nil {
		return keyError(err)
	}
	if g.ReadOnly {
		return readOnly(g, key)
	}
	return s.deleteBlob(ctx, g, rel, key)
}

// Stat describes blob key (the newer copy when both roots have it).
func (s *Store) Stat(ctx context.Context, g sandbox.FSGrant, tenant, key string) (BlobInfo, error) {
	rel, err := g.BlobPath(tenant, key)
	if err != nil {
		return BlobInfo{}, keyError(err)
	}
	return s.statBlob(ctx, g, rel, key)
}

// List lists blobs whose keys start with prefix, sorted by key, merging
// the fallback root's (newer copy wins). It needs every root: a failing
// or open one fails the list rather than return part of it.
func (s *Store) List(ctx context.Context, g sandbox.FSGrant, tenant, prefix string) ([]BlobInfo, error) {
	if err := sandbox.CheckBlobPrefix(prefix); err != nil {
		return nil, keyError(err)
	}
	tdir, err := g.TenantDir(tenant)
	if err != nil {
		return nil, keyError(err)
	}
	return s.listBlobs(ctx, g, tdir, prefix)
}

func readOnly(g sandbox.FSGrant, key string) error {
	return &Error{C: abi.Denied, Msg: fmt.Sprintf("blob %s: fs root %q is read-only", quoteKey(key), shortName(g.Root)), Err: ErrReadOnly}
}

// writeRoot picks the root a new write goes to: the primary, or the
// fallback while the primary's breaker is open.
func (s *Store) writeRoot(g sandbox.FSGrant) (*root, func(bool), error) {
	p := s.root(g.Root)
	done, err := s.admit(p)
	if err == nil {
		return p, done, nil
	}
	if g.Fallback == "" {
		return nil, nil, err
	}
	f := s.root(g.Fallback)
	fdone, ferr := s.admit(f)
	if ferr != nil {
		return nil, nil, &Error{C: abi.CircuitOpen,
			Msg: fmt.Sprintf("circuit open: fs root %s and its fallback %s", p.quoted(), f.quoted()), Err: err}
	}
	s.log.LogAttrs(context.Background(), slog.LevelDebug, "fs write to fallback root",
		slog.String("root", p.dir), slog.String("fallback", f.dir))
	return f, fdone, nil
}
