package fscap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/sandbox"
)

// MoveBack moves the blobs of g's fallback root into its primary root —
// every tenant's when g.PerTenant — and returns how many it moved. Each
// blob is copied durably (temp file, fsync, rename, directory fsync) and
// only then removed from the fallback. A key that the primary has in a
// newer version is not copied; its stale fallback copy is removed. A blob
// deleted or rewritten in the fallback meanwhile is left for the next run.
//
// A fallback root must back a single primary root: MoveBack moves all it
// holds into g.Root.
//
// It stops at the first CircuitOpen (the primary is failing again) or
// cancellation of ctx; other per-blob errors are collected (errors.Join)
// and the rest still moved. Without a fallback it does nothing. The host
// runs it from `blockhost fs-recover` and may run it when a primary's
// breaker closes; running it twice at once is safe.
func (s *Store) MoveBack(ctx context.Context, g sandbox.FSGrant) (moved int, err error) {
	if g.Fallback == "" {
		return 0, nil
	}
	if g.ReadOnly {
		return 0, &Error{C: abi.Denied, Msg: fmt.Sprintf("fs root %q is read-only", shortName(g.Root)), Err: ErrReadOnly}
	}
	prim, fb := s.roots2(g)
	var files []string
	err = s.tryRead(ctx, fb, "", func(c *call) (err error) {
		files, err = s.allBlobs(c)
		return err
	})
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, rel := range files {
		if err := ctx.Err(); err != nil {
			return moved, errors.Join(append(errs, &Error{C: abi.Cancelled, Msg: "fs move-back cancelled: " + err.Error(), Err: err})...)
		}
		err := s.moveOne(ctx, prim, fb, rel)
		switch {
		case err == nil:
			moved++
		case errors.Is(err, errSkipped):
		case codeOf(err) == abi.CircuitOpen || codeOf(err) == abi.Cancelled:
			return moved, errors.Join(append(errs, err)...)
		default:
			if len(errs) < 10 {
				errs = append(errs, err)
			}
		}
	}
	if moved > 0 || len(errs) > 0 {
		s.log.Info("fs move-back", "root", prim.dir, "fallback", fb.dir, "moved", moved, "errors", len(errs))
	}
	return moved, errors.Join(errs...)
}

// allBlobs lists every blob of c's root (paths relative to it), in one
// bounded operation.
func (s *Store) allBlobs(c *call) ([]string, error) {
	b, err := c.backend()
	if err != nil {
		return nil, err
	}
	wctx, cancel := c.walkContext()
	defer cancel()
	var out []string
	err = c.run(func() error {
		return s.walk(wctx, b, ".", "", "", func(key string, fi fs.FileInfo) error {
			if fi.Mode().IsRegular() {
				out = append(out, key)
			}
			return nil
		})
	}, nil)
	if err != nil {
		return nil, wrap(c.rt, "", err)
	}
	return out, nil
}

// moveOne moves blob rel from fb to prim; errSkipped if it should not.
func (s *Store) moveOne(ctx context.Context, prim, fb *root, rel string) error {
	var src *reader
	if err := s.tryRead(ctx, fb, rel, func(c *call) (err error) {
		src, err = s.openIn(c, rel)
		return err
	}); err != nil {
		if codeOf(err) == abi.NotFound {
			return errSkipped // gone meanwhile
		}
		return err
	}
	defer src.Close()
	fbb, err := s.newCall(ctx, fb, kindRead, rel, nil).backend()
	if err != nil {
		return err
	}

	done, err := s.admit(prim)
	if err != nil {
		return err
	}
	c := s.newCall(ctx, prim, kindWrite, rel, done)
	pb, err := c.backend()
	if err != nil {
		c.report(err)
		return err
	}
	stale := false
	// Under prim's key lock, just before the rename: the source must be
	// unchanged, and the primary must not hold a newer version.
	cond := func() (bool, error) {
		fi, err := fbb.Lstat(rel)
		if err != nil || fi.ModTime().UnixNano() != src.mod || fi.Size() != src.size {
			return false, nil
		}
		pi, err := pb.Stat(rel)
		switch {
		case err == nil && pi.ModTime().UnixNano() > src.mod:
			stale = true
			return false, nil
		case err == nil, errors.Is(err, fs.ErrNotExist):
			return true, nil
		}
		return false, err
	}
	_, err = s.put(c, rel, rel, src, cond)
	if errors.Is(err, errSkipped) {
		c.report(nil) // the primary did all it was asked
		if !stale {
			return err
		}
	} else if c.report(err); err != nil {
		return err
	}

	// Durable in the primary (or stale): drop the fallback copy, if it is
	// still the one copied.
	dc := s.newCall(ctx, fb, kindDelete, rel, s.observe(fb))
	rerr := dc.run(func() error {
		mu := prim.keyLock(rel)
		mu.Lock()
		defer mu.Unlock()
		fi, err := fbb.Lstat(rel)
		if err != nil || fi.ModTime().UnixNano() != src.mod || fi.Size() != src.size {
			return nil
		}
		if err := fbb.Remove(rel); err != nil {
			return err
		}
		return fbb.SyncDir(path.Dir(rel))
	}, nil)
	dc.report(rerr)
	if rerr != nil {
		return fmt.Errorf("blob %s copied home but not removed from the fallback %s: %w", quoteKey(rel), fb.quoted(), wrap(fb, rel, rerr))
	}
	if stale {
		return errSkipped
	}
	return nil
}

// Sweep removes the temp files (sandbox.TempPrefix) that a crash left
// anywhere under root and returns how many it removed. Call it at start-up
// for every root and fallback the host serves, before serving; temp files
// of this Store's writes in flight are left alone, so a late call is safe.
// Each directory listing and removal is bounded like a read and a delete.
func (s *Store) Sweep(root string) (int, error) {
	rt := s.root(root)
	ctx := context.Background()
	b, err := s.newCall(ctx, rt, kindRead, "", nil).backend()
	if err != nil {
		return 0, err
	}
	n := 0
	var sweep func(dir string) error
	sweep = func(dir string) error {
		var ents []fs.DirEntry
		c := s.newCall(ctx, rt, kindRead, "", nil)
		err := c.run(func() (err error) { ents, err = b.ReadDir(dir); return err }, nil)
		if err != nil {
			return wrap(rt, dir, err)
		}
		for _, e := range ents {
			rel := path.Join(dir, e.Name())
			switch {
			case e.IsDir():
				if err := sweep(rel); err != nil {
					return err
				}
			case strings.HasPrefix(e.Name(), sandbox.TempPrefix) && !rt.tempInUse(rel):
				c := s.newCall(ctx, rt, kindDelete, rel, nil)
				err := c.run(func() error { return b.Remove(rel) }, nil)
				switch {
				case err == nil:
					n++
				case errors.Is(err, fs.ErrNotExist):
				default:
					return wrap(rt, rel, err)
				}
			}
		}
		return nil
	}
	err = sweep(".")
	if n > 0 {
		s.log.Info("fs: removed temp files left by a crash", "root", rt.dir, "removed", n)
	}
	return n, err
}
