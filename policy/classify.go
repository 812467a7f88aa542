package policy

import (
	"time"

	"github.com/beamline/blockhost/abi"
)

// Failure describes a failed attempt for classification: what the block
// reported with error_set (or what the host observed) in ABI terms.
type Failure struct {
	// Code is a code of the shared table: a beamline (wire) code or one of
	// the host's own codes.
	Code abi.Code
	// HTTPStatus is the HTTP status behind an HTTP_ERROR; 0 when unknown.
	HTTPStatus int
	// RetryAfter is the server's Retry-After delay; 0 when none.
	RetryAfter time.Duration
	// Retryable is the block's explicit override: abi.RetryDefault (the
	// classification decides), abi.RetryYes or abi.RetryNo. Other values
	// count as abi.RetryDefault.
	Retryable int32
}

// Retryable reports whether CP2 retries a failed attempt. In order:
//
//  1. an explicit override (abi.RetryYes or abi.RetryNo) wins;
//  2. a host code: IO_ERROR and TIMEOUT are retryable; every other host code
//     (NOT_FOUND, BAD_POINTER, BAD_HANDLE, INVALID_ARGUMENT, LIMIT_EXCEEDED,
//     CIRCUIT_OPEN, DENIED, CANCELLED, UNSUPPORTED) is not;
//  3. the wire code, as in DESIGN.md's classification table:
//     NETWORK_ERROR, CONNECTION_TIMEOUT, EXECUTION_FAILED,
//     RESOURCE_UNAVAILABLE, INTERNAL_ERROR and SYSTEM_OVERLOAD are retryable;
//     HTTP_ERROR is retryable for a 5xx or 429 status and for an unknown
//     (0) or non-4xx status, not for any other 4xx; INVALID_INPUT,
//     MISSING_REQUIRED_FIELD, INVALID_FORMAT, PERMISSION_DENIED,
//     QUOTA_EXCEEDED, UNKNOWN_ERROR, CANCELLED_BY_USER, CANCELLED_BY_TIMEOUT,
//     NONE and any code outside the table are not.
//
// CANCELLED_BY_TIMEOUT is final here because under CP2 it means the step's
// budget is spent; the CP1 baseline, which retries every error including a
// per-attempt timeout, does not consult Retryable. A guest trap
// (EXECUTION_FAILED "block trapped") is final too, but the host decides that
// before classifying, since its code alone is retryable.
//
// Retryable is a pure function, safe for concurrent use.
func Retryable(f Failure) bool {
	switch f.Retryable {
	case abi.RetryYes:
		return true
	case abi.RetryNo:
		return false
	}
	if f.Code.Host() {
		return f.Code == abi.IOError || f.Code == abi.Timeout
	}
	switch f.Code {
	case abi.NetworkError, abi.ConnectionTimeout,
		abi.ExecutionFailed, abi.ResourceUnavailable, abi.InternalError, abi.SystemOverload:
		return true
	case abi.HTTPError:
		if f.HTTPStatus == 429 {
			return true
		}
		return f.HTTPStatus < 400 || f.HTTPStatus > 499
	}
	return false
}

// RetryAfterHint returns the wait a server asked for, bounded by cap:
// min(f.RetryAfter, cap) when f.HTTPStatus is 429 or 503 and f.RetryAfter
// is positive, else 0. A cap <= 0 leaves the hint unbounded. Pass the result
// to Schedule.SetRetryAfter. It is a pure function, safe for concurrent use.
func RetryAfterHint(f Failure, cap time.Duration) time.Duration {
	if (f.HTTPStatus != 429 && f.HTTPStatus != 503) || f.RetryAfter <= 0 {
		return 0
	}
	if cap > 0 && f.RetryAfter > cap {
		return cap
	}
	return f.RetryAfter
}
