package fscap

import (
	"context"
	"fmt"
	"path"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/sandbox"
)

// deleteBlob removes rel from the fallback root (if any), then from the
// primary, under the primary's key lock each, so that a concurrent MoveBack
// cannot bring the blob back. A primary whose breaker is open refuses it:
// the blob might be there.
func (s *Store) deleteBlob(ctx context.Context, g sandbox.FSGrant, rel, key string) error {
	prim, fb := s.roots2(g)
	done, err := s.admit(prim)
	if err != nil {
		return err
	}
	var ferr error = &Error{C: abi.NotFound}
	if fb != nil {
		fdone, err := s.admit(fb)
		if err != nil {
			if done != nil {
				done(true) // nothing was asked of the primary
			}
			return err
		}
		fc := s.newCall(ctx, fb, kindDelete, key, fdone)
		ferr = s.removeIn(fc, prim, rel)
		fc.report(ferr)
		if ferr != nil && codeOf(ferr) != abi.NotFound {
			if done != nil {
				done(true)
			}
			return ferr
		}
	}
	c := s.newCall(ctx, prim, kindDelete, key, done)
	perr := s.removeIn(c, prim, rel)
	c.report(perr)
	if perr != nil && codeOf(perr) == abi.NotFound && ferr == nil {
		return nil // it was only in the fallback
	}
	return perr
}

// removeIn removes blob rel from c's root and fsyncs its directory. The
// removal holds lockRoot's key lock.
func (s *Store) removeIn(c *call, lockRoot *root, rel string) error {
	b, err := c.backend()
	if err != nil {
		return err
	}
	err = c.run(func() error {
		fi, err := b.Lstat(rel)
		if err == nil && fi.IsDir() {
			err = errNotBlob
		}
		return err
	}, nil)
	if err != nil {
		return wrap(c.rt, c.key, err)
	}
	err = c.run(func() error {
		mu := lockRoot.keyLock(rel)
		mu.Lock()
		defer mu.Unlock()
		return b.Remove(rel)
	}, nil)
	if c.abandoned {
		code, what := abi.Timeout, fmt.Sprintf("timed out after %v", s.timeout(kindDelete))
		if codeOf(err) == abi.Cancelled {
			code, what = abi.Cancelled, "was cancelled"
		}
		return &Error{C: code,
			Msg: fmt.Sprintf("blob %s: delete %s in fs root %s while the removal was in flight: its outcome is unknown",
				quoteKey(c.key), what, c.rt.quoted()),
			Err: fmt.Errorf("%w: %w", err, ErrOutcomeUnknown)}
	}
	if err != nil {
		return wrap(c.rt, c.key, err)
	}
	if err := c.run(func() error { return b.SyncDir(path.Dir(rel)) }, nil); err != nil {
		e := wrap(c.rt, c.key, err)
		return &Error{C: codeOf(e), Msg: fmt.Sprintf("blob %s was deleted but the deletion is not yet durable: %v", quoteKey(c.key), e),
			Err: fmt.Errorf("%w: %w", e, ErrOutcomeUnknown)}
	}
	return nil
}
