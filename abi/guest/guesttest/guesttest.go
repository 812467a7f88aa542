// Package guesttest runs blockhost block handlers natively, against an
// in-memory host that follows ABI v1, so a block is unit-tested with plain
// go test:
//
//	func TestUpper(t *testing.T) {
//		res := guesttest.Run(upper, guesttest.Step{Inputs: map[string]string{"text": "hi"}})
//		if res.Err != nil || res.Outputs["text"] != "HI" {
//			t.Fatalf("got %+v", res)
//		}
//	}
//
// The fake host implements every function of module "blockhost" with the
// semantics of abi/ABI.md: copy-out, handles and their limit, the output
// and log caps, error_set, last_error, blobs (Step.Blobs) and HTTP
// (Step.HTTP, served in-process by an http.Handler, never the network). It
// does not check pointers — there is no linear memory natively — nor
// provide WASI: a handler's stdout goes to the test's stdout.
package guesttest

import (
	"net/http"
	"sync"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
	"github.com/beamline/blockhost/abi/guest/internal/hostabi"
)

// Step describes the step to run and the host around it. The zero value is
// a step without inputs, context or config, and with neither the HTTP nor
// the FS capability.
type Step struct {
	Inputs  map[string]string
	Context guest.Context
	Config  map[string]string
	// Blobs is the blob store the FS functions see; nil means the FS
	// capability is not granted (they return DENIED). Run works on a copy:
	// Result.Blobs holds the store after the step.
	Blobs map[string][]byte
	// HTTP serves http_request in-process; nil means the HTTP capability is
	// not granted (DENIED).
	HTTP http.Handler
	// Limits lowers the host's limits; zero fields take the defaults.
	Limits Limits
}

// Limits of the fake host. Zero fields take the ABI v1 defaults.
type Limits struct {
	// MaxOutputBytes caps the step's outputs, keys included (128 MiB).
	MaxOutputBytes int64
	// MaxLogBytes caps the step's log messages (64 KiB); past it they are
	// truncated with a marker entry.
	MaxLogBytes int
	// MaxHandles caps the handles open at once (64).
	MaxHandles int
	// ReadChunk, when > 0, makes every handle_read return at most this
	// many bytes, to exercise a block's read loops.
	ReadChunk int
}

// Result is what the host would make of the step.
type Result struct {
	// Outputs are the outputs set, including those of handles the step left
	// open (committed at its end). A real host discards them when the step
	// fails; they are kept here to help debugging.
	Outputs map[string]string
	// Err is nil on success, else the failure as the host records it: the
	// last error_set, else the entry point's non-zero return value (an
	// unknown code becomes EXECUTION_FAILED), else QUOTA_EXCEEDED if the
	// output cap was hit.
	Err *guest.Error
	// Return is the value the entry point returned.
	Return int32
	// Logs are the step's log entries, in order.
	Logs []Log
	// LogTruncated reports that the log cap was hit.
	LogTruncated bool
	// Blobs is the blob store after the step (nil without the FS
	// capability).
	Blobs map[string][]byte
}

// Log is one entry of the step's log.
type Log struct {
	Level   guest.Level
	Message string
}

// Defaults of the fake host: those of ABI v1.
const (
	DefaultMaxOutputBytes = 128 << 20
	DefaultMaxLogBytes    = 64 << 10
	DefaultMaxHandles     = abi.DefaultMaxHandles
)

var mu sync.Mutex

// Run runs one step with handler h — or, when h is nil, the handler the
// block registered with guest.Register — and returns its result. Calls are
// serialised (a wasm instance runs one call at a time and the SDK relies on
// it), so Run is safe to call from parallel tests.
func Run(h guest.Handler, st Step) Result {
	mu.Lock()
	defer mu.Unlock()
	f := newFake(st)
	var handler any
	if h != nil {
		handler = h
	}
	ret := hostabi.Run(f, handler)
	return f.finish(ret)
}

func newFake(st Step) *fake {
	if st.Limits.MaxOutputBytes <= 0 {
		st.Limits.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if st.Limits.MaxLogBytes <= 0 {
		st.Limits.MaxLogBytes = DefaultMaxLogBytes
	}
	if st.Limits.MaxHandles <= 0 {
		st.Limits.MaxHandles = DefaultMaxHandles
	}
	f := &fake{st: st, outputs: map[string]string{}, handles: map[int32]*handle{}}
	if st.Blobs != nil {
		f.blobs = make(map[string]blob, len(st.Blobs))
		now := time.Now()
		for k, v := range st.Blobs {
			f.blobs[k] = blob{data: append([]byte(nil), v...), modified: now}
		}
	}
	return f
}

func (f *fake) finish(ret int32) Result {
	for id := range f.handles {
		f.closeHandle(id, true)
	}
	res := Result{Outputs: f.outputs, Return: ret, Logs: f.logs, LogTruncated: f.truncated}
	if f.blobs != nil {
		res.Blobs = make(map[string][]byte, len(f.blobs))
		for k, b := range f.blobs {
			res.Blobs[k] = b.data
		}
	}
	switch {
	case f.reported != nil:
		res.Err = f.reported
	case ret != 0:
		code := abi.Code(ret)
		if !code.Known() || ret < 0 {
			code = abi.ExecutionFailed
		}
		res.Err = &guest.Error{Code: code, Message: "block returned " + itoa(int64(ret))}
	case f.limitErr != "":
		res.Err = &guest.Error{Code: abi.QuotaExceeded, Message: f.limitErr}
	}
	return res
}
