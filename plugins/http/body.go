package httpcap

import (
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/beamline/blockhost/abi"
)

// errBodyClosed is returned by a read of a closed response body.
var errBodyClosed = &Error{C: abi.BadHandle, Msg: "response body is closed"}

// errDetached is what the transport reads from a request body after the
// exchange has ended.
var errDetached = errors.New("httpcap: request body no longer available")

// requestBody is the transport's view of Request.Body: it counts bytes
// against the cap, remembers why the source failed, and can be detached so
// that the transport — which may go on reading after Do returns — never
// touches the source once the exchange is over. Close detaches; it never
// closes the source (the caller owns it).
type requestBody struct {
	mu       sync.Mutex
	src      io.Reader
	limit    int64
	n        int64
	detached bool
	exceeded bool
	srcErr   error
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.detached {
		return 0, errDetached
	}
	if b.exceeded {
		return 0, ErrRequestTooLarge
	}
	n, err := b.src.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		b.exceeded = true
		return 0, ErrRequestTooLarge
	}
	if err != nil && err != io.EOF && b.srcErr == nil {
		b.srcErr = err
	}
	return n, err
}

func (b *requestBody) Close() error {
	b.detach()
	return nil
}

// detach ends reading: it waits for a Read in progress, and later Reads
// fail without touching the source.
func (b *requestBody) detach() {
	b.mu.Lock()
	b.detached = true
	b.mu.Unlock()
}

// failure returns the *Error of a body that went over its cap or whose
// source failed, else nil.
func (b *requestBody) failure() *Error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.exceeded:
		return &Error{C: abi.LimitExceeded, Err: ErrRequestTooLarge,
			Msg: "request body is over the " + strconv.FormatInt(b.limit, 10) + "-byte cap"}
	case b.srcErr != nil:
		code := abi.IOError
		var coded interface{ Code() abi.Code }
		if errors.As(b.srcErr, &coded) && coded.Code().Known() {
			code = coded.Code()
		}
		return &Error{C: code, Msg: "reading the request body: " + b.srcErr.Error(), Err: b.srcErr}
	}
	return nil
}

// responseBody is Response.Body: it caps the bytes read, turns transport
// errors into *Error (the step's cancellation and the total timeout stop a
// read in progress), and ends the exchange at EOF, on error or on Close.
type responseBody struct {
	x      *exchange
	rc     io.ReadCloser
	size   int64 // Content-Length or -1
	left   int64 // bytes still allowed
	limit  int64
	err    error // sticky; Read's alone
	once   sync.Once
	closed atomic.Bool
}

func (b *responseBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errBodyClosed
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.size > b.limit {
		return 0, b.fail(&Error{C: abi.LimitExceeded, Err: ErrResponseTooLarge,
			Msg: "response body of " + strconv.FormatInt(b.size, 10) + " bytes from " + b.x.endpoint + " is over the " + strconv.FormatInt(b.limit, 10) + "-byte cap"})
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.left == 0 {
		// At the cap: only the end of the body may follow.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, b.fail(&Error{C: abi.LimitExceeded, Err: ErrResponseTooLarge,
				Msg: "response body from " + b.x.endpoint + " is over the " + strconv.FormatInt(b.limit, 10) + "-byte cap"})
		}
		if err == nil {
			return 0, nil
		}
		return 0, b.fail(err)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err != nil {
		return n, b.fail(err)
	}
	return n, nil
}

// fail records the end of the body: io.EOF as is, anything else
// classified, and ends the exchange.
func (b *responseBody) fail(err error) error {
	if err != io.EOF {
		err = b.x.classify(err)
	}
	b.err = err
	b.x.end()
	return err
}

// Close releases the connection and the exchange. Idempotent.
func (b *responseBody) Close() error {
	b.once.Do(func() {
		b.closed.Store(true)
		b.rc.Close()
		b.x.end()
	})
	return nil
}
