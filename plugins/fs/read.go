package fscap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/sandbox"
)

// errNotBlob: the path exists but is not a regular file (a directory of
// keys, a device): reported as NotFound.
var errNotBlob = fmt.Errorf("not a blob: %w", fs.ErrNotExist)

// reader implements the io.ReadCloser of Open.
type reader struct {
	s    *Store
	ctx  context.Context // of Open: bounds Read
	rt   *root
	key  string
	f    file
	size int64
	mod  int64 // modification time, Unix ns

	buf  []byte // read-ahead buffer; nil once handed to a stuck goroutine
	pend []byte // unread part of buf
	err  error  // sticky read error

	// Shared with a stuck goroutine.
	mu       sync.Mutex
	inflight bool
	closed   bool
}

var _ io.ReadCloser = (*reader)(nil)

// Read reads the blob. With operations bounded, each call that reaches the
// disk reads a chunk ahead in a goroutine bounded by ctx and the read
// timeout; otherwise it reads straight into p.
func (r *reader) Read(p []byte) (int, error) {
	if len(r.pend) > 0 {
		n := copy(p, r.pend)
		r.pend = r.pend[n:]
		return n, nil
	}
	if r.closed {
		return 0, &Error{C: abi.BadHandle, Msg: fmt.Sprintf("blob %s: reader closed", quoteKey(r.key)), Err: ErrClosed}
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	c := r.s.newCall(r.ctx, r.rt, kindRead, r.key, r.s.observe(r.rt))
	if c.deadline.IsZero() && c.ctx.Done() == nil {
		n, err := r.f.Read(p)
		if err != nil && err != io.EOF {
			r.err = wrap(r.rt, r.key, err)
			c.report(r.err)
			return n, r.err
		}
		c.report(nil)
		return n, err
	}
	if r.buf == nil {
		if r.size < chunkSize {
			r.buf = make([]byte, max(r.size+1, 512))
		} else {
			r.buf = r.s.getBuf()[:chunkSize]
		}
	}
	buf := r.buf
	var n int
	var eof bool
	r.mu.Lock()
	r.inflight = true
	r.mu.Unlock()
	err := c.run(func() error {
		k, err := r.f.Read(buf)
		n, eof = k, err == io.EOF
		if eof {
			return nil
		}
		return err
	}, r.lateDone)
	if c.abandoned {
		r.buf, r.err = nil, err
		return 0, err
	}
	r.mu.Lock()
	r.inflight = false
	r.mu.Unlock()
	if err != nil {
		r.err = wrap(r.rt, r.key, err)
		c.report(r.err)
		return 0, r.err
	}
	c.report(nil)
	if n == 0 && eof {
		return 0, io.EOF
	}
	k := copy(p, buf[:n])
	r.pend = buf[k:n]
	return k, nil
}

// lateDone runs in a stuck goroutine once its read returns.
func (r *reader) lateDone(error) {
	r.mu.Lock()
	r.inflight = false
	closeNow := r.closed
	r.mu.Unlock()
	if closeNow {
		r.f.Close()
	}
}

// Close closes the blob; it never blocks on a stuck disk.
func (r *reader) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	busy := r.inflight
	r.mu.Unlock()
	r.pend = nil
	if busy {
		return nil // the stuck goroutine closes it
	}
	if r.buf != nil && cap(r.buf) == chunkSize {
		r.s.putBuf(r.buf)
	}
	r.buf = nil
	c := r.s.newCall(context.Background(), r.rt, kindRead, r.key, nil)
	if err := c.run(r.f.Close, nil); err != nil {
		r.s.log.Warn("fs: closing a blob", "root", r.rt.dir, "key", r.key, "err", err)
	}
	return nil
}

// openIn opens blob rel in c's root, checking it is a regular file.
func (s *Store) openIn(c *call, rel string) (*reader, error) {
	b, err := c.backend()
	if err != nil {
		return nil, err
	}
	var f file
	var info fs.FileInfo
	err = c.run(func() error {
		var err error
		if f, err = b.OpenFile(rel, os.O_RDONLY, 0); err != nil {
			return err
		}
		info, err = f.Stat()
		if err == nil && !info.Mode().IsRegular() {
			err = errNotBlob
		}
		if err != nil {
			f.Close()
			f = nil
		}
		return err
	}, func(error) {
		if f != nil {
			f.Close()
		}
	})
	if err != nil {
		return nil, wrap(c.rt, c.key, err)
	}
	return &reader{s: s, ctx: c.ctx, rt: c.rt, key: c.key, f: f, size: info.Size(), mod: info.ModTime().UnixNano()}, nil
}

// statIn describes blob rel in c's root (following a symbolic link that
// stays inside it).
func (s *Store) statIn(c *call, rel string) (fs.FileInfo, error) {
	b, err := c.backend()
	if err != nil {
		return nil, err
	}
	var info fs.FileInfo
	err = c.run(func() error {
		var err error
		info, err = b.Stat(rel)
		if err == nil && !info.Mode().IsRegular() {
			err = errNotBlob
		}
		return err
	}, nil)
	if err != nil {
		return nil, wrap(c.rt, c.key, err)
	}
	return info, nil
}

// roots2 returns the grant's primary root and its fallback (nil if none).
func (s *Store) roots2(g sandbox.FSGrant) (*root, *root) {
	var fb *root
	if g.Fallback != "" {
		fb = s.root(g.Fallback)
	}
	return s.root(g.Root), fb
}

// tryRead admits a read on rt and runs fn in a call of its own.
func (s *Store) tryRead(ctx context.Context, rt *root, key string, fn func(c *call) error) error {
	done, err := s.admit(rt)
	if err != nil {
		return err
	}
	c := s.newCall(ctx, rt, kindRead, key, done)
	err = fn(c)
	c.report(err)
	return err
}

// readErr picks the error of a read that failed on both roots: the
// primary's, unless it only said "not found".
func readErr(perr, ferr error) error {
	if codeOf(perr) == abi.NotFound {
		return ferr
	}
	return perr
}

func (s *Store) openBlob(ctx context.Context, g sandbox.FSGrant, rel, key string) (*reader, error) {
	prim, fb := s.roots2(g)
	var pr *reader
	perr := s.tryRead(ctx, prim, key, func(c *call) (err error) {
		pr, err = s.openIn(c, rel)
		return err
	})
	if perr == nil {
		if fb != nil && s.newerIn(ctx, fb, rel, key, pr.mod) {
			var fr *reader
			if s.tryRead(ctx, fb, key, func(c *call) (err error) { fr, err = s.openIn(c, rel); return err }) == nil {
				pr.Close()
				return fr, nil
			}
		}
		return pr, nil
	}
	if fb == nil || !fallbackable(perr) {
		return nil, perr
	}
	var fr *reader
	ferr := s.tryRead(ctx, fb, key, func(c *call) (err error) { fr, err = s.openIn(c, rel); return err })
	if ferr == nil {
		return fr, nil
	}
	return nil, readErr(perr, ferr)
}

// newerIn reports whether root rt has blob rel modified after mod (Unix
// ns). Any failure is "no": the caller has a copy already.
func (s *Store) newerIn(ctx context.Context, rt *root, rel, key string, mod int64) bool {
	var info fs.FileInfo
	err := s.tryRead(ctx, rt, key, func(c *call) (err error) {
		info, err = s.statIn(c, rel)
		return err
	})
	return err == nil && info.ModTime().UnixNano() > mod
}

func (s *Store) statBlob(ctx context.Context, g sandbox.FSGrant, rel, key string) (BlobInfo, error) {
	prim, fb := s.roots2(g)
	stat := func(rt *root) (info fs.FileInfo, err error) {
		err = s.tryRead(ctx, rt, key, func(c *call) (err error) {
			info, err = s.statIn(c, rel)
			return err
		})
		return info, err
	}
	pinfo, perr := stat(prim)
	if perr == nil {
		if fb != nil {
			if finfo, err := stat(fb); err == nil && finfo.ModTime().After(pinfo.ModTime()) {
				pinfo = finfo
			}
		}
		return blobInfo(key, pinfo), nil
	}
	if fb == nil || !fallbackable(perr) {
		return BlobInfo{}, perr
	}
	finfo, ferr := stat(fb)
	if ferr == nil {
		return blobInfo(key, finfo), nil
	}
	return BlobInfo{}, readErr(perr, ferr)
}

func blobInfo(key string, fi fs.FileInfo) BlobInfo {
	return BlobInfo{Key: key, Size: fi.Size(), ModifiedUnixMS: fi.ModTime().UnixMilli()}
}

func (s *Store) listBlobs(ctx context.Context, g sandbox.FSGrant, tdir, prefix string) ([]BlobInfo, error) {
	prim, fb := s.roots2(g)
	merged := make(map[string]BlobInfo)
	for _, rt := range []*root{prim, fb} {
		if rt == nil {
			continue
		}
		var list []BlobInfo
		err := s.tryRead(ctx, rt, prefix, func(c *call) (err error) {
			list, err = s.listIn(c, tdir, prefix)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, bi := range list {
			if old, ok := merged[bi.Key]; !ok || bi.ModifiedUnixMS > old.ModifiedUnixMS {
				merged[bi.Key] = bi
			}
		}
		if len(merged) > s.cfg.MaxListEntries {
			return nil, s.tooMany(prefix)
		}
	}
	out := make([]BlobInfo, 0, len(merged))
	for _, bi := range merged {
		out = append(out, bi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *Store) tooMany(prefix string) error {
	return &Error{C: abi.LimitExceeded,
		Msg: fmt.Sprintf("blob list of prefix %s has more than %d entries", quoteKey(prefix), s.cfg.MaxListEntries)}
}

var errTooMany = errors.New("too many entries")

// walkContext returns c's ctx bounded by its deadline, for a walk that
// checks it between directories, so a timed-out walk stops early.
func (c *call) walkContext() (context.Context, context.CancelFunc) {
	if c.deadline.IsZero() {
		return c.ctx, func() {}
	}
	return context.WithDeadline(c.ctx, c.deadline)
}

// listIn walks c's root under tenant directory tdir for the keys starting
// with prefix, in one bounded operation.
func (s *Store) listIn(c *call, tdir, prefix string) ([]BlobInfo, error) {
	b, err := c.backend()
	if err != nil {
		return nil, err
	}
	wctx, cancel := c.walkContext()
	defer cancel()
	var out []BlobInfo
	err = c.run(func() error {
		keyDir := prefix[:strings.LastIndexByte(prefix, '/')+1] // "" or "a/b/"
		return s.walk(wctx, b, path.Join(".", tdir, keyDir), keyDir, prefix, func(key string, fi fs.FileInfo) error {
			if len(out) >= s.cfg.MaxListEntries {
				return errTooMany
			}
			out = append(out, blobInfo(key, fi))
			return nil
		})
	}, nil)
	switch {
	case errors.Is(err, errTooMany):
		return nil, s.tooMany(prefix)
	case err != nil:
		return nil, wrap(c.rt, prefix, err)
	}
	return out, nil
}

// walk visits the blobs under directory dir (relative to the root) whose
// keys — keyDir plus their path under dir — start with prefix, with their
// file info. Temp files, names that are not valid key segments, symbolic
// links that do not lead to a regular file inside the root, and entries
// that vanish meanwhile are skipped. An absent dir is empty.
func (s *Store) walk(ctx context.Context, b backend, dir, keyDir, prefix string, visit func(key string, fi fs.FileInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := b.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if sandbox.CheckBlobKey(name) != nil { // also skips temp files
			continue
		}
		key, rel := keyDir+name, path.Join(dir, name)
		if e.IsDir() {
			sub := key + "/"
			if strings.HasPrefix(sub, prefix) || strings.HasPrefix(prefix, sub) {
				if err := s.walk(ctx, b, rel, sub, prefix, visit); err != nil {
					return err
				}
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		fi, err := b.Lstat(rel)
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			fi, err = b.Stat(rel)
		}
		switch {
		case err == nil && fi.Mode().IsRegular():
			if err := visit(key, fi); err != nil {
				return err
			}
		case err == nil, errors.Is(err, fs.ErrNotExist), sandbox.IsEscape(err), errors.Is(err, syscall.ELOOP):
		default:
			return err
		}
	}
	return nil
}
