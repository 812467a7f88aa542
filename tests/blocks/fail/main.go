// Command fail is a test block (type test.fail). While the attempt (context
// "attempt", 0 first) is below input times — always when times is absent —
// it fails with:
//
//   - code: the code named by input code (e.g. "NETWORK_ERROR", any case;
//     default EXECUTION_FAILED; an unknown name fails with INVALID_INPUT);
//   - message: input message, default "fail: CODE on attempt N";
//   - http_status, retry_after_ms: from the inputs of those names;
//   - retryable: input retryable "yes" or "no" sets the override.
//
// Once attempt >= times it succeeds with output attempt.
package main

import (
	"strconv"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(fail) }

func fail(s *guest.Step) error {
	attempt := s.Context().Attempt
	if v, ok := s.Input("times"); ok {
		times, err := strconv.Atoi(v)
		if err != nil {
			return guest.Errorf(abi.InvalidInput, "times %q: %v", v, err)
		}
		if attempt >= times {
			return s.SetOutput("attempt", strconv.Itoa(attempt))
		}
	}
	code := abi.ExecutionFailed
	if v, ok := s.Input("code"); ok {
		c, known := abi.ParseCode(v)
		if !known {
			return guest.Errorf(abi.InvalidInput, "unknown code %q", v)
		}
		code = c
	}
	e := &guest.Error{Code: code, Message: "fail: " + code.String() + " on attempt " + strconv.Itoa(attempt)}
	if v, ok := s.Input("message"); ok {
		e.Message = v
	}
	if v, ok := s.Input("http_status"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return guest.Errorf(abi.InvalidInput, "http_status %q: %v", v, err)
		}
		e.HTTPStatus = n
	}
	if v, ok := s.Input("retry_after_ms"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return guest.Errorf(abi.InvalidInput, "retry_after_ms %q: %v", v, err)
		}
		e.RetryAfter = time.Duration(n) * time.Millisecond
	}
	switch v, _ := s.Input("retryable"); v {
	case "yes":
		e.Retryable = guest.Retryable()
	case "no":
		e.Retryable = guest.NotRetryable()
	case "":
	default:
		return guest.Errorf(abi.InvalidInput, "retryable %q: want yes or no", v)
	}
	return e
}

func main() {}
