package guest

import (
	"errors"
	"math"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest/internal/hostabi"
)

// Handler runs one step. It returns nil for success or an error that fails
// the step (see the package documentation for how errors are reported).
type Handler func(s *Step) error

var (
	// registered is the block's handler, set once by Register.
	registered Handler
	// current is the host the SDK calls: the wasm imports inside a block,
	// the guesttest fake during a native test, noHost otherwise.
	current hostabi.Host = noHost{}
)

// Register makes h the block's handler. Call it exactly once, from an init
// function of the block's main package (main itself never runs in a
// block). A second call, or a nil h, panics.
func Register(h Handler) {
	if h == nil {
		panic("guest: Register called with a nil Handler")
	}
	if registered != nil {
		panic("guest: Register called twice: a block registers exactly one Handler, once, from init")
	}
	registered = h
}

func init() {
	hostabi.Run = func(host hostabi.Host, handler any) int32 {
		h := registered
		if handler != nil {
			h = handler.(Handler)
		}
		prev := current
		current = host
		defer func() { current = prev }()
		var s Step
		return run(h, &s)
	}
}

var errNoHandler = &Error{
	Code:    abi.ExecutionFailed,
	Message: "guest: no handler registered: call guest.Register from an init function (main does not run in a block)",
}

// run is the body of the entry point: it runs h on s and reports its
// outcome. It reads nothing from the host unless h asks.
func run(h Handler, s *Step) (ret int32) {
	defer func() {
		if r := recover(); r != nil {
			ret = reportPanic(r)
		}
		s.reset()
	}()
	if h == nil {
		return report(errNoHandler)
	}
	if err := h(s); err != nil {
		return report(err)
	}
	return 0
}

// report hands err to the host with error_set and returns the code, which
// the entry point also returns.
func report(err error) int32 {
	code, msg := abi.ExecutionFailed, ""
	var httpStatus, retryAfterMS, retryable int32
	var ge *Error
	var he *HostError
	switch {
	case errors.As(err, &ge) && ge != nil:
		code, httpStatus = ge.Code, int32(ge.HTTPStatus)
		if error(ge) == err {
			msg = ge.Message
		} else {
			msg = err.Error()
		}
		retryAfterMS = durationMS(ge.RetryAfter)
		if ge.Retryable != nil {
			retryable = abi.RetryNo
			if *ge.Retryable {
				retryable = abi.RetryYes
			}
		}
	case errors.As(err, &he) && he != nil:
		code, msg = he.Code, err.Error()
	default:
		msg = err.Error()
	}
	if code == abi.None || !code.Known() {
		code = abi.ExecutionFailed
	}
	if httpStatus != 0 && (httpStatus < 100 || httpStatus > 599) {
		httpStatus = 0
	}
	msg = truncate(msg, abi.MaxMessageLen)
	if current.ErrorSet(int32(code), msg, httpStatus, retryAfterMS, retryable) < 0 {
		// Keep at least the code and message if the extras were refused.
		current.ErrorSet(int32(code), msg, 0, 0, 0)
	}
	return int32(code)
}

func reportPanic(r any) int32 {
	text := panicText(r)
	current.Log(abi.LogError, truncate("panic: "+text+"\n"+string(debug.Stack()), 16<<10))
	// A panic is a bug, like a trap: retrying the step cannot help.
	return report(&Error{Code: abi.ExecutionFailed, Message: "panic: " + text, Retryable: NotRetryable()})
}

// durationMS converts d to whole milliseconds for retry_after_ms, rounding
// up and clamping to the i32 range.
func durationMS(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(ms)
}

// truncate cuts s to at most n bytes on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// scratch is the buffer copy-out calls start with; it grows to the largest
// value read and is dropped at the end of a step if it grew past
// scratchKeep.
var scratch = make([]byte, scratchSize)

var scratchSize = 512

const scratchKeep = 64 << 10

// copyOut runs a copy-out call: call returns the value's full length, and
// copied it only if it fit. The result aliases scratch: use it before the
// next copyOut.
func copyOut(op string, call func(buf []byte) int32) ([]byte, error) {
	buf := scratch[:cap(scratch)]
	for range 8 {
		n := call(buf)
		if n < 0 {
			return nil, hostErr(op, int64(n))
		}
		if int(n) <= len(buf) {
			scratch = buf
			return buf[:n], nil
		}
		buf = make([]byte, n)
	}
	return nil, &HostError{Code: abi.Unsupported, Op: op, Detail: "value kept growing between calls"}
}

// lastErrorDetail returns the detail of the last failed host call.
func lastErrorDetail() string {
	buf := scratch[:cap(scratch)]
	for range 4 {
		n := current.LastError(buf)
		if n < 0 {
			return ""
		}
		if int(n) <= len(buf) {
			scratch = buf
			return string(buf[:n])
		}
		buf = make([]byte, n)
	}
	return ""
}

// hostErr builds the error of a host call that returned status (< 0).
func hostErr(op string, status int64) error {
	return &HostError{Code: abi.Code(-status), Op: op, Detail: lastErrorDetail()}
}

// noHost answers every call while no step runs (natively, outside
// guesttest.Run): -UNSUPPORTED.
type noHost struct{}

const noHostStatus = -int32(abi.Unsupported)

func (noHost) InputLen(string) int64                             { return int64(noHostStatus) }
func (noHost) InputRead(string, int64, []byte) int32             { return noHostStatus }
func (noHost) InputOpen(string) int32                            { return noHostStatus }
func (noHost) InputKeys([]byte) int32                            { return noHostStatus }
func (noHost) InputsJSON([]byte) int32                           { return noHostStatus }
func (noHost) OutputSet(string, []byte) int32                    { return noHostStatus }
func (noHost) OutputOpen(string) int32                           { return noHostStatus }
func (noHost) OutputFromHandle(string, int32) int32              { return noHostStatus }
func (noHost) ContextGet(string, []byte) int32                   { return noHostStatus }
func (noHost) ConfigGet(string, []byte) int32                    { return noHostStatus }
func (noHost) Log(int32, string) int32                           { return noHostStatus }
func (noHost) ErrorSet(int32, string, int32, int32, int32) int32 { return noHostStatus }
func (noHost) HandleRead(int32, []byte) int32                    { return noHostStatus }
func (noHost) HandleWrite(int32, []byte) int32                   { return noHostStatus }
func (noHost) HandleSize(int32) int64                            { return int64(noHostStatus) }
func (noHost) HandleClose(int32) int32                           { return noHostStatus }
func (noHost) BufferNew() int32                                  { return noHostStatus }
func (noHost) HTTPRequest([]byte, int32) int32                   { return noHostStatus }
func (noHost) HTTPResponseMeta(int32, []byte) int32              { return noHostStatus }
func (noHost) BlobOpenRead(string) int32                         { return noHostStatus }
func (noHost) BlobOpenWrite(string) int32                        { return noHostStatus }
func (noHost) BlobPutFrom(string, int32) int32                   { return noHostStatus }
func (noHost) BlobDelete(string) int32                           { return noHostStatus }
func (noHost) BlobStat(string, []byte) int32                     { return noHostStatus }
func (noHost) BlobList(string, []byte) int32                     { return noHostStatus }

const noHostDetail = "no step is running (natively, run handlers with guesttest.Run)"

func (noHost) LastError(buf []byte) int32 {
	if len(buf) >= len(noHostDetail) {
		copy(buf, noHostDetail)
	}
	return int32(len(noHostDetail))
}

var _ hostabi.Host = noHost{}
