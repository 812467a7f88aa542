package policy

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/beamline/blockhost/abi"
)

// One row per row of DESIGN.md's classification table, per host code, and
// the override both ways.
func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		f    Failure
		want bool
	}{
		// network error, connection timeout → yes
		{"NETWORK_ERROR", Failure{Code: abi.NetworkError}, true},
		{"CONNECTION_TIMEOUT", Failure{Code: abi.ConnectionTimeout}, true},
		// HTTP 5xx, 429 → yes; other 4xx → no; unknown status → yes
		{"HTTP_ERROR 500", Failure{Code: abi.HTTPError, HTTPStatus: 500}, true},
		{"HTTP_ERROR 502", Failure{Code: abi.HTTPError, HTTPStatus: 502}, true},
		{"HTTP_ERROR 503", Failure{Code: abi.HTTPError, HTTPStatus: 503}, true},
		{"HTTP_ERROR 504", Failure{Code: abi.HTTPError, HTTPStatus: 504}, true},
		{"HTTP_ERROR 599", Failure{Code: abi.HTTPError, HTTPStatus: 599}, true},
		{"HTTP_ERROR 429", Failure{Code: abi.HTTPError, HTTPStatus: 429}, true},
		{"HTTP_ERROR 400", Failure{Code: abi.HTTPError, HTTPStatus: 400}, false},
		{"HTTP_ERROR 401", Failure{Code: abi.HTTPError, HTTPStatus: 401}, false},
		{"HTTP_ERROR 403", Failure{Code: abi.HTTPError, HTTPStatus: 403}, false},
		{"HTTP_ERROR 404", Failure{Code: abi.HTTPError, HTTPStatus: 404}, false},
		{"HTTP_ERROR 408", Failure{Code: abi.HTTPError, HTTPStatus: 408}, false},
		{"HTTP_ERROR 499", Failure{Code: abi.HTTPError, HTTPStatus: 499}, false},
		{"HTTP_ERROR status unknown", Failure{Code: abi.HTTPError}, true},
		// EXECUTION_FAILED, RESOURCE_UNAVAILABLE, INTERNAL_ERROR, SYSTEM_OVERLOAD → yes
		{"EXECUTION_FAILED", Failure{Code: abi.ExecutionFailed}, true},
		{"RESOURCE_UNAVAILABLE", Failure{Code: abi.ResourceUnavailable}, true},
		{"INTERNAL_ERROR", Failure{Code: abi.InternalError}, true},
		{"SYSTEM_OVERLOAD", Failure{Code: abi.SystemOverload}, true},
		// INVALID_INPUT … UNKNOWN_ERROR → no
		{"INVALID_INPUT", Failure{Code: abi.InvalidInput}, false},
		{"MISSING_REQUIRED_FIELD", Failure{Code: abi.MissingRequiredField}, false},
		{"INVALID_FORMAT", Failure{Code: abi.InvalidFormat}, false},
		{"PERMISSION_DENIED", Failure{Code: abi.PermissionDenied}, false},
		{"QUOTA_EXCEEDED", Failure{Code: abi.QuotaExceeded}, false},
		{"UNKNOWN_ERROR", Failure{Code: abi.UnknownError}, false},
		// budget exhausted / cancelled → no (final)
		{"CANCELLED_BY_TIMEOUT", Failure{Code: abi.CancelledByTimeout}, false},
		{"CANCELLED_BY_USER", Failure{Code: abi.CancelledByUser}, false},
		// codes outside the table
		{"NONE", Failure{Code: abi.None}, false},
		{"unknown code 1234", Failure{Code: 1234}, false},
		{"unknown host-range code 6999", Failure{Code: 6999}, false},
		{"negative code", Failure{Code: -3001}, false},
		// host codes
		{"IO_ERROR", Failure{Code: abi.IOError}, true},
		{"TIMEOUT", Failure{Code: abi.Timeout}, true},
		{"NOT_FOUND", Failure{Code: abi.NotFound}, false},
		{"BAD_POINTER", Failure{Code: abi.BadPointer}, false},
		{"BAD_HANDLE", Failure{Code: abi.BadHandle}, false},
		{"INVALID_ARGUMENT", Failure{Code: abi.InvalidArgument}, false},
		{"LIMIT_EXCEEDED", Failure{Code: abi.LimitExceeded}, false},
		{"CIRCUIT_OPEN", Failure{Code: abi.CircuitOpen}, false},
		{"DENIED", Failure{Code: abi.Denied}, false},
		{"CANCELLED", Failure{Code: abi.Cancelled}, false},
		{"UNSUPPORTED", Failure{Code: abi.Unsupported}, false},
		// explicit override wins, both ways
		{"override yes on INVALID_INPUT", Failure{Code: abi.InvalidInput, Retryable: abi.RetryYes}, true},
		{"override yes on HTTP 404", Failure{Code: abi.HTTPError, HTTPStatus: 404, Retryable: abi.RetryYes}, true},
		{"override yes on CIRCUIT_OPEN", Failure{Code: abi.CircuitOpen, Retryable: abi.RetryYes}, true},
		{"override no on NETWORK_ERROR", Failure{Code: abi.NetworkError, Retryable: abi.RetryNo}, false},
		{"override no on HTTP 503", Failure{Code: abi.HTTPError, HTTPStatus: 503, Retryable: abi.RetryNo}, false},
		{"override no on IO_ERROR", Failure{Code: abi.IOError, Retryable: abi.RetryNo}, false},
		{"override default", Failure{Code: abi.NetworkError, Retryable: abi.RetryDefault}, true},
		{"unknown override value counts as default", Failure{Code: abi.InvalidInput, Retryable: 7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Retryable(tt.f))
		})
	}
}

// Every host code of the ABI is classified explicitly above; this catches a
// host code added to the ABI without a row.
func TestRetryableCoversEveryHostCode(t *testing.T) {
	for c := abi.Code(6000); c < 7000; c++ {
		if !c.Host() {
			continue
		}
		want := c == abi.IOError || c == abi.Timeout
		assert.Equal(t, want, Retryable(Failure{Code: c}), c.String())
	}
}

func TestRetryAfterHint(t *testing.T) {
	const ceil = 30 * time.Second
	tests := []struct {
		status int
		after  time.Duration
		cap    time.Duration
		want   time.Duration
	}{
		{429, 5 * time.Second, ceil, 5 * time.Second},
		{503, 5 * time.Second, ceil, 5 * time.Second},
		{429, time.Hour, ceil, ceil},
		{503, time.Hour, ceil, ceil},
		{503, time.Hour, 0, time.Hour},
		{429, 0, ceil, 0},
		{429, -time.Second, ceil, 0},
		{500, 5 * time.Second, ceil, 0},
		{502, 5 * time.Second, ceil, 0},
		{404, 5 * time.Second, ceil, 0},
		{0, 5 * time.Second, ceil, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%v/%v", tt.status, tt.after, tt.cap), func(t *testing.T) {
			f := Failure{Code: abi.HTTPError, HTTPStatus: tt.status, RetryAfter: tt.after}
			assert.Equal(t, tt.want, RetryAfterHint(f, tt.cap))
		})
	}
}
