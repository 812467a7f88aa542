package guest

import (
	"io"

	"github.com/beamline/blockhost/abi"
)

// Handle is a host-side stream owned by the current step. The zero Handle
// is no handle (NoBody).
type Handle int32

// NoBody is the Handle to pass to Do for a request without a body.
const NoBody Handle = 0

var _ io.ReadWriteCloser = Handle(0)

// Read reads from a readable handle (handle_read); io.EOF at the end.
func (h Handle) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := current.HandleRead(int32(h), p[:min(len(p), maxChunk)])
	if n < 0 {
		return 0, hostErr(abi.FnHandleRead, int64(n))
	}
	if n == 0 {
		return 0, io.EOF
	}
	return int(n), nil
}

// Write writes all of p to a writable handle (handle_write).
func (h Handle) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		chunk := p[done:min(len(p), done+maxChunk)]
		n := current.HandleWrite(int32(h), chunk)
		if n < 0 {
			return done, hostErr(abi.FnHandleWrite, int64(n))
		}
		done += len(chunk)
	}
	return done, nil
}

// Close closes h (handle_close). For a writable handle this commits what
// was written — the output value or the blob — and reports a commit
// failure.
func (h Handle) Close() error {
	if st := current.HandleClose(int32(h)); st < 0 {
		return hostErr(abi.FnHandleClose, int64(st))
	}
	return nil
}

// Size returns the handle's total size in bytes; ErrUnsupported when the
// host does not know it (e.g. a chunked HTTP response).
func (h Handle) Size() (int64, error) {
	n := current.HandleSize(int32(h))
	if n < 0 {
		return 0, hostErr(abi.FnHandleSize, n)
	}
	return n, nil
}

// NewBuffer returns a new in-memory handle (buffer_new): write into it,
// then pass it as an HTTP body or a blob source; reading it reads what was
// written.
func NewBuffer() (Handle, error) {
	h := current.BufferNew()
	if h < 0 {
		return 0, hostErr(abi.FnBufferNew, int64(h))
	}
	return Handle(h), nil
}
