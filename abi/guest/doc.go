// Package guest is the Go SDK for writing blockhost blocks: WebAssembly
// plugins built with the standard toolchain,
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o NAME.wasm .
//
// A block is a main package with an empty main function that registers one
// Handler from init:
//
//	package main
//
//	import (
//		"strings"
//
//		"github.com/beamline/blockhost/abi"
//		"github.com/beamline/blockhost/abi/guest"
//	)
//
//	func init() { guest.Register(upper) }
//
//	func upper(s *guest.Step) error {
//		text, ok := s.Input("text")
//		if !ok {
//			return guest.Errorf(abi.MissingRequiredField, "input %q is required", "text")
//		}
//		return s.SetOutput("text", strings.ToUpper(text))
//	}
//
//	func main() {}
//
// main is never run: a block is a WASI reactor whose _initialize runs the
// package init functions, after which the host calls the exported
// blockhost_run_v1 once per step. The package exports that function; its
// file is the only one built for wasip1 alone, so a block and its tests
// also compile natively, where package guesttest stands in for the host:
//
//	res := guesttest.Run(upper, guesttest.Step{Inputs: map[string]string{"text": "hi"}})
//
// # Steps
//
// The entry point does nothing eagerly: inputs, context and config are read
// from the host only when the handler asks, so an empty handler costs about
// a microsecond. An instance serves many steps one after another; keep no
// per-step state in package variables. Everything the SDK caches (the
// context, scratch buffers) is reset between steps.
//
// # Errors
//
// A handler fails the step by returning an error:
//
//   - an *Error (see Errorf) reports its code, message, HTTP status,
//     retry-after delay and retryable override;
//   - a *HostError (a failed host call, possibly wrapped) reports its code,
//     so a NETWORK_ERROR from Do or a DENIED from BlobOpenRead reaches the
//     host's classification unchanged;
//   - any other error reports EXECUTION_FAILED with the error's text.
//
// A panic in the handler is recovered and reported as EXECUTION_FAILED
// "panic: <value>", not retryable (like a trap), its stack trace logged at
// error level; the instance stays usable.
//
// Host calls that fail return a *HostError carrying the abi.Code, the
// ABI function that failed and the host's detail (last_error). Match them
// by code with errors.Is and the sentinels (errors.Is(err,
// guest.ErrNotFound)), or read the code of any error with CodeOf.
//
// # Handles
//
// A Handle is a host-side stream: an input value (Step.InputHandle), an
// output being written (Step.OutputWriter), an in-memory buffer
// (NewBuffer), an HTTP response body (Do) or a blob (BlobOpenRead,
// BlobOpenWrite). Handles implement io.Reader, io.Writer and io.Closer and
// belong to the step that opened them: the host closes (and commits) every
// handle still open when the step ends. At most 64 are open at once.
//
// # Concurrency
//
// A wasm instance runs one call at a time; nothing in this package is safe
// for concurrent use, and goroutines a handler starts pause when the
// handler returns and must not call the host afterwards.
package guest
