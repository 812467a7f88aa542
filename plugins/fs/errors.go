package fscap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// Error is a failed operation with its ABI code. Its message names the key
// and the root by its short name (the last element of its path), never a
// host path. Unwrap gives the cause: an *fs.PathError with the errno, a
// *sandbox.KeyError, a *policy.OpenError (errors.Is(err, policy.ErrOpen)),
// or one of this package's sentinels (ErrTimeout, ErrTooManyStuck,
// ErrReadOnly, ErrOutcomeUnknown, ErrClosed).
//
// How errors map onto codes:
//
//	blob absent, or a directory            NotFound         not retryable
//	malformed key, prefix or tenant id     InvalidArgument  (sandbox.CheckBlobKey)
//	key escapes the root (.., /, symlink)  Denied           (jail policy)
//	read-only grant, EACCES, EPERM         Denied
//	ENOSPC, EDQUOT, EIO, EROFS, other I/O  IOError          retryable
//	per-operation timeout, stuck root      Timeout, IOError retryable
//	the step's ctx cancelled or expired    Cancelled
//	the root's breaker is open             CircuitOpen
//	a list past MaxListEntries             LimitExceeded
//	a writer or reader used after its end  BadHandle
//	a Put's source failing                 the source's code, else IOError
//
// Only IOError, Timeout and an OS permission error count as failures for a
// root's circuit breaker.
type Error struct {
	C   abi.Code
	Msg string
	Err error
}

func (e *Error) Error() string  { return e.Msg }
func (e *Error) Unwrap() error  { return e.Err }
func (e *Error) Code() abi.Code { return e.C }

// Sentinels the Err of an *Error may wrap; test with errors.Is.
var (
	// ErrTimeout: a per-operation timeout fired (code Timeout).
	ErrTimeout = errors.New("fs operation timed out")
	// ErrTooManyStuck: the root has MaxStuck I/O calls still running after
	// timing out, so new calls fail at once (code IOError).
	ErrTooManyStuck = errors.New("too many stuck fs operations")
	// ErrReadOnly: the grant is read-only (code Denied).
	ErrReadOnly = errors.New("fs root is read-only")
	// ErrOutcomeUnknown: a delete, or the rename of a put, timed out or was
	// cancelled while the operation was in flight; it may or may not have
	// happened.
	ErrOutcomeUnknown = errors.New("outcome unknown")
	// ErrClosed: the Store, reader or writer is closed.
	ErrClosed = errors.New("fs store closed")
)

// sourceError marks a failure to read the source of a Put: not the disk's
// fault, so it does not count for the breaker.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// codeOf returns the code err is reported with.
func codeOf(err error) abi.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.C
	}
	return classify(err)
}

// classify maps a raw error (from the OS, os.Root, the jail or a context)
// onto an ABI code.
func classify(err error) abi.Code {
	var ke *sandbox.KeyError
	var oe *policy.OpenError
	switch {
	case err == nil:
		return abi.None
	case errors.As(err, &ke):
		return ke.Code()
	case errors.As(err, &oe):
		return abi.CircuitOpen
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return abi.Cancelled
	case errors.Is(err, ErrTimeout):
		return abi.Timeout
	case errors.Is(err, ErrReadOnly):
		return abi.Denied
	case sandbox.IsEscape(err), errors.Is(err, syscall.ELOOP):
		return abi.Denied
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return abi.NotFound
	case errors.Is(err, fs.ErrPermission):
		return abi.Denied
	case errors.Is(err, syscall.ENAMETOOLONG), errors.Is(err, syscall.EISDIR),
		errors.Is(err, syscall.ENOTEMPTY), errors.Is(err, fs.ErrExist):
		return abi.InvalidArgument
	}
	return abi.IOError
}

// isFailure reports whether err counts as a failure for a root's breaker:
// timeouts, I/O errors (disk full, EIO, a stuck root) and permission
// errors from the OS. Absent blobs, bad keys, jail denials, cancellations
// and source errors do not.
func isFailure(err error) bool {
	if err == nil {
		return false
	}
	var se *sourceError
	if errors.As(err, &se) {
		return false
	}
	switch codeOf(err) {
	case abi.IOError, abi.Timeout:
		return true
	case abi.Denied:
		return errors.Is(err, fs.ErrPermission)
	}
	return false
}

// fallbackable reports whether a read that failed on the primary root with
// err may be answered from the fallback: the blob is absent there, or the
// root is failing. Jail denials, bad keys and cancellations are final.
func fallbackable(err error) bool {
	switch codeOf(err) {
	case abi.NotFound, abi.CircuitOpen:
		return true
	}
	return isFailure(err)
}

// errnoText returns the OS's description of err without the path an
// *fs.PathError or *os.LinkError carries.
func errnoText(err error) string {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err.Error()
	case errors.As(err, &le):
		return le.Err.Error()
	}
	return err.Error()
}

// wrap turns a raw error of an operation on blob key in root rt into an
// *Error; an *Error passes through unchanged.
func wrap(rt *root, key string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	code := classify(err)
	var msg string
	switch code {
	case abi.NotFound:
		msg = fmt.Sprintf("blob %s not found", quoteKey(key))
	case abi.Denied:
		var ke *sandbox.KeyError
		switch {
		case errors.As(err, &ke):
			msg = ke.Error()
		case sandbox.IsEscape(err) || errors.Is(err, syscall.ELOOP):
			msg = fmt.Sprintf("blob %s resolves outside fs root %s (symbolic link)", quoteKey(key), rt.quoted())
		default:
			msg = fmt.Sprintf("blob %s in fs root %s: %s", quoteKey(key), rt.quoted(), errnoText(err))
		}
	case abi.InvalidArgument:
		var ke *sandbox.KeyError
		if errors.As(err, &ke) {
			msg = ke.Error()
		} else {
			msg = fmt.Sprintf("blob %s conflicts with a directory or blob of that name in fs root %s: %s",
				quoteKey(key), rt.quoted(), errnoText(err))
		}
	case abi.Cancelled:
		msg = fmt.Sprintf("blob %s: cancelled: %s", quoteKey(key), errnoText(err))
	default:
		msg = fmt.Sprintf("blob %s in fs root %s: %s", quoteKey(key), rt.quoted(), errnoText(err))
	}
	return &Error{C: code, Msg: msg, Err: err}
}

// keyError turns a *sandbox.KeyError into an *Error.
func keyError(err error) error {
	return &Error{C: classify(err), Msg: err.Error(), Err: err}
}

func quoteKey(k string) string {
	if len(k) > 128 {
		k = k[:128] + "..."
	}
	return strconv.Quote(k)
}
