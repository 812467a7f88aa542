package guest

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/beamline/blockhost/abi"
)

// Error is a step failure as the block reports it to the host (error_set).
// Return one from a Handler to fail the step with its code.
type Error struct {
	// Code is a code of the shared table; zero or an unknown code is
	// reported as EXECUTION_FAILED.
	Code abi.Code
	// Message is the human-readable detail; the host keeps its first 8 KiB.
	Message string
	// HTTPStatus is the upstream HTTP status behind an HTTP_ERROR, or 0.
	// Values outside 100..599 are reported as 0.
	HTTPStatus int
	// RetryAfter asks the host to wait at least this long before a retry
	// (rounded up to whole milliseconds); 0 means no hint.
	RetryAfter time.Duration
	// Retryable overrides the host's classification when non-nil: see
	// Retryable and NotRetryable.
	Retryable *bool
}

// Error returns "CODE: message".
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Message
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code abi.Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Retryable returns a value for Error.Retryable that makes the host retry
// the step whatever its code.
func Retryable() *bool { t := true; return &t }

// NotRetryable returns a value for Error.Retryable that makes the failure
// final whatever its code.
func NotRetryable() *bool { f := false; return &f }

// HostError is a failed call of a host function.
type HostError struct {
	// Code is the negated status the host returned.
	Code abi.Code
	// Op is the ABI function that failed, e.g. "blob_open_read".
	Op string
	// Detail is the host's explanation (last_error), possibly empty.
	Detail string
}

// Error returns "blockhost: op: CODE: detail".
func (e *HostError) Error() string {
	s := "blockhost: "
	if e.Op != "" {
		s += e.Op + ": "
	}
	s += e.Code.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is a *HostError with the same Code, so
// errors.Is(err, guest.ErrNotFound) matches a NOT_FOUND from any function.
func (e *HostError) Is(target error) bool {
	t, ok := target.(*HostError)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is, one per status a host function may return.
var (
	ErrNotFound          = &HostError{Code: abi.NotFound}
	ErrBadPointer        = &HostError{Code: abi.BadPointer}
	ErrBadHandle         = &HostError{Code: abi.BadHandle}
	ErrInvalidArgument   = &HostError{Code: abi.InvalidArgument}
	ErrLimitExceeded     = &HostError{Code: abi.LimitExceeded}
	ErrCircuitOpen       = &HostError{Code: abi.CircuitOpen}
	ErrDenied            = &HostError{Code: abi.Denied}
	ErrCancelled         = &HostError{Code: abi.Cancelled}
	ErrUnsupported       = &HostError{Code: abi.Unsupported}
	ErrIO                = &HostError{Code: abi.IOError}
	ErrTimeout           = &HostError{Code: abi.Timeout}
	ErrNetwork           = &HostError{Code: abi.NetworkError}
	ErrConnectionTimeout = &HostError{Code: abi.ConnectionTimeout}
)

// CodeOf returns the code err would be reported with if a Handler returned
// it: None for nil, the Code of the first *Error or *HostError in its
// chain, else EXECUTION_FAILED.
func CodeOf(err error) abi.Code {
	if err == nil {
		return abi.None
	}
	var ge *Error
	if errors.As(err, &ge) && ge != nil {
		if ge.Code == abi.None || !ge.Code.Known() {
			return abi.ExecutionFailed
		}
		return ge.Code
	}
	var he *HostError
	if errors.As(err, &he) && he != nil && he.Code.Known() {
		return he.Code
	}
	return abi.ExecutionFailed
}

// panicText renders a recovered panic value.
func panicText(r any) (s string) {
	defer func() {
		if recover() != nil {
			s = "(panic value could not be printed)"
		}
	}()
	switch v := r.(type) {
	case error:
		return v.Error()
	case string:
		return v
	case fmt.Stringer:
		return v.String()
	case int:
		return strconv.FormatInt(int64(v), 10)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint:
		return strconv.FormatUint(uint64(v), 10)
	case uint32:
		return strconv.FormatUint(uint64(v), 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	// fmt.Sprint would do, at the cost of ~300 KB in every block.
	return "(" + reflect.TypeOf(r).String() + ") value"
}
