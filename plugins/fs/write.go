package fscap

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/sandbox"
)

// chunkSize is how many bytes a writer buffers before writing them, and
// how many a reader reads ahead, when operations are bounded.
const chunkSize = 256 << 10

// Permissions of what a Store creates.
const (
	filePerm = 0o600
	dirPerm  = 0o700
)

func (s *Store) getBuf() []byte  { return (*s.bufs.Get().(*[]byte))[:0] }
func (s *Store) putBuf(b []byte) { b = b[:0]; s.bufs.Put(&b) }

type wstate uint8

const (
	wOpen wstate = iota
	wBroken
	wCommitted
	wAborted
)

// writer implements Writer.
type writer struct {
	s   *Store
	ctx context.Context // of Create: bounds Write
	rt  *root
	b   backend
	key string // for messages
	rel string // the blob, relative to the root
	dir string // its directory ("." for the root)
	tmp string // the temp file
	f   file
	buf []byte // bytes not yet written, cap chunkSize; nil once handed to a stuck goroutine
	// created are the directories Create made, shallowest first: their
	// parents are fsynced at commit.
	created []string
	// cond, when set, decides under the key's lock, just before the
	// rename, whether to rename (MoveBack's check).
	cond func() (bool, error)

	state wstate
	err   error // why it broke

	// Shared with a stuck goroutine.
	mu       sync.Mutex
	inflight bool // an operation is running (possibly abandoned)
	closeReq bool // Abort came while it was: the goroutine cleans up
}

var _ Writer = (*writer)(nil)

func tempName(dir string) string {
	var b [8]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return path.Join(dir, sandbox.TempPrefix+hex.EncodeToString(b[:]))
}

// create makes the temp file of blob rel, creating its directories as
// needed.
func (s *Store) create(c *call, rel, key string) (*writer, error) {
	b, err := c.backend()
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, ctx: c.ctx, rt: c.rt, b: b, key: key, rel: rel, dir: path.Dir(rel)}
	w.tmp = tempName(w.dir)
	c.rt.addTemp(w.tmp)
	var f file
	var created []string
	err = c.run(func() error {
		var err error
		f, err = b.OpenFile(w.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if err != nil && w.dir != "." && errors.Is(err, fs.ErrNotExist) {
			if created, err = mkdirs(b, w.dir); err == nil {
				f, err = b.OpenFile(w.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
			}
		}
		return err
	}, func(error) {
		if f != nil {
			f.Close()
			b.Remove(w.tmp)
		}
		w.rt.dropTemp(w.tmp)
	})
	if err != nil {
		if !c.abandoned {
			c.rt.dropTemp(w.tmp)
		}
		return nil, writeErr(c.rt, key, err)
	}
	w.f, w.created = f, created
	w.buf = s.getBuf()
	return w, nil
}

// mkdirs creates the missing directories of dir, returning those it made.
func mkdirs(b backend, dir string) ([]string, error) {
	var created []string
	p := ""
	for seg := range strings.SplitSeq(dir, "/") {
		p = path.Join(p, seg)
		err := b.Mkdir(p, dirPerm)
		switch {
		case err == nil:
			created = append(created, p)
		case errors.Is(err, fs.ErrExist):
		default:
			return created, err
		}
	}
	return created, nil
}

// writeErr is wrap for the write path, where a file standing where the key
// needs a directory (ENOTDIR) or a directory where it needs a file is a
// conflict, not an absent blob.
func writeErr(rt *root, key string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
		return &Error{C: abi.InvalidArgument,
			Msg: fmt.Sprintf("blob %s conflicts with a directory or blob of that name in fs root %s",
				quoteKey(key), rt.quoted()), Err: err}
	}
	return wrap(rt, key, err)
}

// step runs one operation of the writer through c, tracking it so that an
// Abort arriving while it is stuck is carried out by its goroutine.
func (w *writer) step(c *call, fn func() error) error {
	w.mu.Lock()
	w.inflight = true
	w.mu.Unlock()
	err := c.run(fn, w.lateDone)
	if c.abandoned {
		w.buf = nil // may still be in use by the goroutine
		return w.fail(err)
	}
	w.mu.Lock()
	w.inflight = false
	w.mu.Unlock()
	return err
}

// lateDone runs in a stuck goroutine once its operation returns.
func (w *writer) lateDone(error) {
	w.mu.Lock()
	w.inflight = false
	cleanup := w.closeReq
	w.mu.Unlock()
	if cleanup {
		w.cleanup()
	}
}

// cleanup closes and removes the temp file; exactly once per writer.
func (w *writer) cleanup() {
	w.f.Close() // may already be closed: harmless
	if err := w.b.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.s.log.Warn("fs: removing temp file", "root", w.rt.dir, "file", w.tmp, "err", err)
	}
	w.rt.dropTemp(w.tmp)
}

func (w *writer) fail(err error) error {
	if w.state == wOpen {
		w.state, w.err = wBroken, err
	}
	return err
}

func (w *writer) usable() error {
	switch w.state {
	case wOpen:
		return nil
	case wBroken:
		return w.err
	case wCommitted:
		return &Error{C: abi.BadHandle, Msg: fmt.Sprintf("blob %s: already committed", quoteKey(w.key)), Err: ErrClosed}
	}
	return &Error{C: abi.BadHandle, Msg: fmt.Sprintf("blob %s: write aborted", quoteKey(w.key)), Err: ErrClosed}
}

// Write buffers p, writing full chunks to the temp file.
func (w *writer) Write(p []byte) (int, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	if err := w.ctx.Err(); err != nil {
		c := w.s.newCall(w.ctx, w.rt, kindWrite, w.key, nil)
		return 0, w.fail(c.cancelled(err))
	}
	var c *call
	n := 0
	for len(p) > 0 {
		k := copy(w.buf[len(w.buf):chunkSize], p)
		w.buf, p, n = w.buf[:len(w.buf)+k], p[k:], n+k
		if len(w.buf) < chunkSize {
			break
		}
		if c == nil {
			c = w.s.newCall(w.ctx, w.rt, kindWrite, w.key, w.s.observe(w.rt))
		}
		if err := w.flush(c); err != nil {
			c.report(err)
			return 0, err
		}
	}
	if c != nil {
		c.report(nil)
	}
	return n, nil
}

// flush writes the buffered bytes.
func (w *writer) flush(c *call) error {
	data := w.buf
	err := w.step(c, func() error {
		_, err := w.f.Write(data)
		return err
	})
	if err != nil {
		return w.fail(writeErr(w.rt, w.key, err))
	}
	w.buf = w.buf[:0]
	return nil
}

// fill copies r into the writer until EOF, checking c.ctx between chunks,
// each chunk with its own deadline.
func (w *writer) fill(c *call, r io.Reader) (int64, error) {
	var n int64
	zero := 0
	for {
		if err := c.ctx.Err(); err != nil {
			return n, w.fail(c.cancelled(err))
		}
		k, rerr := r.Read(w.buf[len(w.buf):chunkSize])
		w.buf, n = w.buf[:len(w.buf)+k], n+int64(k)
		if len(w.buf) == chunkSize {
			c.rearm()
			if err := w.flush(c); err != nil {
				return n, err
			}
		}
		switch {
		case rerr == io.EOF:
			return n, nil
		case rerr != nil:
			return n, w.fail(sourceErr(w.key, rerr))
		case k == 0:
			if zero++; zero >= 100 {
				return n, w.fail(sourceErr(w.key, io.ErrNoProgress))
			}
		default:
			zero = 0
		}
	}
}

// sourceErr reports a failure to read the source of a put: its own code
// when it has one, else IOError; never a breaker failure.
func sourceErr(key string, err error) error {
	code := abi.IOError
	var coded interface{ Code() abi.Code }
	switch {
	case errors.As(err, &coded):
		code = coded.Code()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = abi.Cancelled
	}
	return &Error{C: code, Msg: fmt.Sprintf("blob %s: reading the source: %v", quoteKey(key), err), Err: &sourceError{err}}
}

// Commit implements Writer.
func (w *writer) Commit(ctx context.Context) error {
	c := w.s.newCall(ctx, w.rt, kindWrite, w.key, w.s.observe(w.rt))
	err := w.commit(c)
	c.report(err)
	return err
}

// errSkipped: MoveBack's condition declined the rename.
var errSkipped = errors.New("skipped")

func (w *writer) commit(c *call) error {
	if err := w.usable(); err != nil {
		if w.state == wBroken {
			w.Abort()
		}
		return err
	}
	err := w.commitSteps(c)
	if err != nil && w.state != wCommitted {
		w.fail(err)
		w.Abort()
	}
	return err
}

func (w *writer) commitSteps(c *call) error {
	if len(w.buf) > 0 {
		if err := w.flush(c); err != nil {
			return err
		}
	}
	if err := w.step(c, w.f.Sync); err != nil {
		return writeErr(w.rt, w.key, err)
	}
	if err := w.step(c, w.f.Close); err != nil {
		return writeErr(w.rt, w.key, err)
	}
	if err := c.ctx.Err(); err != nil {
		return c.cancelled(err)
	}
	skipped := false
	err := w.step(c, func() error {
		mu := w.rt.keyLock(w.rel)
		mu.Lock()
		defer mu.Unlock()
		if w.cond != nil {
			ok, err := w.cond()
			if err != nil {
				return err
			}
			if !ok {
				skipped = true
				return w.b.Remove(w.tmp)
			}
		}
		return w.b.Rename(w.tmp, w.rel)
	})
	if c.abandoned {
		// The rename may or may not have happened; the goroutine removes
		// the temp file if it is still there.
		code, what := abi.Timeout, "timed out"
		if codeOf(err) == abi.Cancelled {
			code, what = abi.Cancelled, "was cancelled"
		}
		return &Error{C: code,
			Msg: fmt.Sprintf("blob %s: commit %s while renaming it into place in fs root %s: the blob may or may not have been replaced",
				quoteKey(w.key), what, w.rt.quoted()),
			Err: fmt.Errorf("%w: %w", err, ErrOutcomeUnknown)}
	}
	if err != nil {
		return writeErr(w.rt, w.key, err)
	}
	w.state = wCommitted
	w.rt.dropTemp(w.tmp)
	w.s.putBuf(w.buf)
	w.buf = nil
	if skipped {
		return errSkipped
	}
	for _, d := range w.syncDirs() {
		if err := w.step(c, func() error { return w.b.SyncDir(d) }); err != nil {
			e := writeErr(w.rt, w.key, err)
			return &Error{C: codeOf(e),
				Msg: fmt.Sprintf("blob %s was replaced but is not yet durable: %v", quoteKey(w.key), e), Err: e}
		}
	}
	return nil
}

// syncDirs lists the directories to fsync after the rename: the blob's,
// then the parents of those Create made, deepest first.
func (w *writer) syncDirs() []string {
	dirs := []string{w.dir}
	for i := len(w.created) - 1; i >= 0; i-- {
		if p := path.Dir(w.created[i]); p != dirs[len(dirs)-1] {
			dirs = append(dirs, p)
		}
	}
	return dirs
}

// Abort implements Writer.
func (w *writer) Abort() {
	w.mu.Lock()
	if w.state == wCommitted || w.closeReq {
		w.mu.Unlock()
		return
	}
	w.state = wAborted
	w.closeReq = true
	busy := w.inflight
	w.mu.Unlock()
	if busy {
		return // the stuck goroutine cleans up when its operation returns
	}
	if w.buf != nil {
		w.s.putBuf(w.buf)
		w.buf = nil
	}
	// Bounded like any write: if the disk hangs, the goroutine finishes
	// the clean-up whenever it can.
	c := w.s.newCall(context.Background(), w.rt, kindWrite, w.key, nil)
	if err := c.run(func() error { w.cleanup(); return nil }, nil); err != nil {
		w.s.log.Warn("fs: aborting a write", "root", w.rt.dir, "key", w.key, "err", err)
	}
}

// put creates blob rel, fills it from r and commits it; on error it
// leaves nothing behind.
func (s *Store) put(c *call, rel, key string, r io.Reader, cond func() (bool, error)) (int64, error) {
	w, err := s.create(c, rel, key)
	if err != nil {
		return 0, err
	}
	w.cond = cond
	n, err := w.fill(c, r)
	if err == nil {
		c.rearm()
		err = w.commit(c)
	}
	if err != nil {
		w.Abort()
		return 0, err
	}
	return n, nil
}
