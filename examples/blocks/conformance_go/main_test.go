package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest/guesttest"
)

// These run the block natively against the SDK's fake host; the
// conformance kit (tests/conformance) runs it, built, in a real host.

func TestEcho(t *testing.T) {
	res := guesttest.Run(run, guesttest.Step{Inputs: map[string]string{"op": "echo", "text": "hi"}})
	if res.Err != nil || res.Outputs["echo"] != "hi" || res.Outputs["keys"] != `["op","text"]` {
		t.Fatalf("%+v", res)
	}
}

func TestErrorDetails(t *testing.T) {
	res := guesttest.Run(run, guesttest.Step{Inputs: map[string]string{
		"op": "error", "code": "3003", "message": "upstream", "http_status": "503", "retry_after_ms": "250", "retryable": "2",
	}})
	e := res.Err
	if e == nil || e.Code != abi.HTTPError || e.Message != "upstream" || e.HTTPStatus != 503 ||
		e.RetryAfter.Milliseconds() != 250 || e.Retryable == nil || *e.Retryable {
		t.Fatalf("%+v", e)
	}
}

func TestStreamAndBuffer(t *testing.T) {
	data := strings.Repeat("0123456789", 30_000)
	res := guesttest.Run(run, guesttest.Step{
		Inputs: map[string]string{"op": "stream", "data": data},
		Limits: guesttest.Limits{ReadChunk: 1000},
	})
	if res.Err != nil || res.Outputs["stream"] != data || res.Outputs["copy"] != data || res.Outputs["size"] != "300000" {
		t.Fatalf("err %v, outputs of %d/%d bytes, size %q", res.Err, len(res.Outputs["stream"]), len(res.Outputs["copy"]), res.Outputs["size"])
	}
	res = guesttest.Run(run, guesttest.Step{Inputs: map[string]string{"op": "buffer", "text": "ab"}})
	if res.Err != nil || res.Outputs["twice"] != "abab" || res.Outputs["size"] != "4" {
		t.Fatalf("%+v", res)
	}
}

func TestHTTP(t *testing.T) {
	res := guesttest.Run(run, guesttest.Step{
		Inputs: map[string]string{"op": "http", "request": `{"method":"PUT","url":"http://svc/x"}`, "body": "payload"},
		HTTP: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", r.Method, b)
		}),
	})
	if res.Err != nil || res.Outputs["body"] != "PUT payload" || !strings.Contains(res.Outputs["meta"], `"status":200`) {
		t.Fatalf("%+v", res)
	}
}

func TestFS(t *testing.T) {
	res := guesttest.Run(run, guesttest.Step{
		Inputs: map[string]string{"op": "fs", "key": "d/a", "key2": "d/b", "data": "xyz", "prefix": "d/"},
		Blobs:  map[string][]byte{},
	})
	if res.Err != nil || res.Outputs["read"] != "xyz" || res.Outputs["deleted"] != "yes" {
		t.Fatalf("%+v", res)
	}
	if string(res.Blobs["d/a"]) != "xyz" || res.Blobs["d/b"] != nil {
		t.Fatalf("blobs %v", res.Blobs)
	}
}

func TestAbortAndUnknownOp(t *testing.T) {
	res := guesttest.Run(run, guesttest.Step{Inputs: map[string]string{"op": "abort", "message": "boom"}})
	if res.Err == nil || res.Err.Code != abi.ExecutionFailed || res.Err.Message != "panic: boom" {
		t.Fatalf("%+v", res.Err)
	}
	res = guesttest.Run(run, guesttest.Step{Inputs: map[string]string{"op": "nope"}})
	if res.Err == nil || res.Err.Code != abi.InvalidInput {
		t.Fatalf("%+v", res.Err)
	}
}
