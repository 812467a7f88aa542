// Package fscap is blockhost's blob capability (directory plugins/fs): blob
// get, put, delete, stat and list inside a jailed root, with per-operation
// timeouts, cancellation, durable atomic writes, per-root circuit breakers
// and an optional fallback root.
package fscap

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// Config configures a Store. Zero fields take the default stated on each.
type Config struct {
	// Features: CompleteTimeout enables per-operation timeouts;
	// CircuitBreaker enables per-root breakers.
	Features policy.Features
	// ReadTimeout (5 s), WriteTimeout (10 s) and DeleteTimeout (3 s) bound
	// one host-function call of that kind.
	ReadTimeout   time.Duration
	WriteTimeout  time.Duration
	DeleteTimeout time.Duration
	// MaxStuck bounds the I/O goroutines timed-out calls may leave behind
	// per root (16); past it calls fail at once.
	MaxStuck int
	// Breaker configures each root's breaker; MaxBreakers bounds them (1024).
	Breaker     policy.BreakerSettings
	MaxBreakers int
	// Logger; nil discards.
	Logger *slog.Logger
}

// BlobInfo describes a blob.
type BlobInfo struct {
	Key            string `json:"key"`
	Size           int64  `json:"size"`
	ModifiedUnixMS int64  `json:"modified_unix_ms"`
}

// Error is a failed operation with its ABI code (NotFound, Denied,
// CircuitOpen, IOError, Timeout, Cancelled, InvalidArgument).
type Error struct {
	C   abi.Code
	Msg string
	Err error
}

func (e *Error) Error() string  { return e.Msg }
func (e *Error) Unwrap() error  { return e.Err }
func (e *Error) Code() abi.Code { return e.C }

// Writer is a blob being written: nothing is visible until Commit, which
// makes it durable and atomic; Abort removes it.
type Writer interface {
	io.Writer
	Commit(ctx context.Context) error
	Abort()
}

// Store serves blobs. Safe for concurrent use.
type Store struct{ cfg Config }

var errTODO = errors.New("fscap: not implemented")

// New returns a Store.
func New(cfg Config) (*Store, error) { return &Store{cfg: cfg}, nil }

func todo() error { return &Error{C: abi.Denied, Msg: "FS capability not available", Err: errTODO} }

// Open opens blob key for reading; size is its length.
func (s *Store) Open(ctx context.Context, g sandbox.FSGrant, tenant, key string) (io.ReadCloser, int64, error) {
	return nil, 0, todo()
}

// Create starts writing blob key.
func (s *Store) Create(ctx context.Context, g sandbox.FSGrant, tenant, key string) (Writer, error) {
	return nil, todo()
}

// Put writes blob key from r and commits it.
func (s *Store) Put(ctx context.Context, g sandbox.FSGrant, tenant, key string, r io.Reader) (int64, error) {
	return 0, todo()
}

// Delete removes blob key.
func (s *Store) Delete(ctx context.Context, g sandbox.FSGrant, tenant, key string) error {
	return todo()
}

// Stat describes blob key.
func (s *Store) Stat(ctx context.Context, g sandbox.FSGrant, tenant, key string) (BlobInfo, error) {
	return BlobInfo{}, todo()
}

// List lists blobs whose keys start with prefix, sorted by key.
func (s *Store) List(ctx context.Context, g sandbox.FSGrant, tenant, prefix string) ([]BlobInfo, error) {
	return nil, todo()
}

// Breakers lists the per-root breakers.
func (s *Store) Breakers() []policy.BreakerSnapshot { return nil }

// Sweep removes temp files that a crash left under root.
func (s *Store) Sweep(root string) (int, error) { return 0, nil }
