package main

import (
	"testing"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
	"github.com/beamline/blockhost/abi/guest/guesttest"
)

func TestFail(t *testing.T) {
	inputs := map[string]string{"code": "http_error", "times": "2", "http_status": "503", "retry_after_ms": "250", "retryable": "yes"}
	res := guesttest.Run(nil, guesttest.Step{Inputs: inputs, Context: guest.Context{Attempt: 1}})
	e := res.Err
	if e == nil || e.Code != abi.HTTPError || e.HTTPStatus != 503 || e.RetryAfter != 250*time.Millisecond ||
		e.Retryable == nil || !*e.Retryable || e.Message != "fail: HTTP_ERROR on attempt 1" {
		t.Fatalf("attempt 1: %+v", e)
	}
	res = guesttest.Run(nil, guesttest.Step{Inputs: inputs, Context: guest.Context{Attempt: 2}})
	if res.Err != nil || res.Outputs["attempt"] != "2" {
		t.Fatalf("attempt 2: %+v", res)
	}
	res = guesttest.Run(nil, guesttest.Step{Context: guest.Context{Attempt: 50}})
	if res.Err == nil || res.Err.Code != abi.ExecutionFailed || res.Err.Retryable != nil {
		t.Fatalf("default: %+v", res.Err)
	}
	res = guesttest.Run(nil, guesttest.Step{Inputs: map[string]string{"code": "NOPE"}})
	if res.Err == nil || res.Err.Code != abi.InvalidInput {
		t.Fatalf("unknown code: %+v", res.Err)
	}
}
