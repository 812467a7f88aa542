package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/beamline/blockhost/abi"
)

// call is the state of one attempt of one step inside one instance: what
// the host functions read and write. It is owned by the goroutine running
// the attempt; host functions run on that goroutine too.
type call struct {
	ctx     context.Context // the attempt's context: cancellation and deadline
	st      *step
	attempt int
	inst    *instance

	outputs  map[string]string
	outBytes int64

	handles []*handle // id = index+1; nil = free slot
	open    int

	reported   bool
	code       abi.Code
	message    string
	httpStatus int
	retryAfter int64 // ms
	retryable  int32

	lastErr  string
	limitErr string // a limit the guest hit (QUOTA_EXCEEDED unless it reported otherwise)

	log      logBuffer
	bufBytes int64 // bytes held by buffer_new handles
	pending  int64 // bytes held by open output_open handles (outputWriter)
}

// handle is one open stream of a call.
type handle struct {
	r      io.Reader
	w      io.Writer
	size   int64 // -1 when unknown
	commit func() error
	closer io.Closer
	meta   any // what the handle describes (an HTTP response's status and headers)
}

func (c *call) reset() {
	c.ctx, c.st, c.inst = nil, nil, nil
	c.outputs = nil
	c.outBytes = 0
	for i := range c.handles {
		c.handles[i] = nil
	}
	c.handles = c.handles[:0]
	c.open = 0
	c.reported = false
	c.code, c.message, c.httpStatus, c.retryAfter, c.retryable = 0, "", 0, 0, 0
	c.lastErr, c.limitErr = "", ""
	c.bufBytes, c.pending = 0, 0
}

// fail records the detail of a failed host call and returns its status.
func (c *call) fail(code abi.Code, detail string) int32 {
	c.lastErr = detail
	return code.Status()
}

func (c *call) contextValue(key string) (string, bool) {
	bc := &c.st.req.Context
	switch key {
	case abi.CtxTenantID:
		return bc.TenantID, true
	case abi.CtxTraceID:
		return bc.TraceID, true
	case abi.CtxRunID:
		return bc.RunID, true
	case abi.CtxFlowID:
		return bc.FlowID, true
	case abi.CtxStepID:
		return c.st.id, true
	case abi.CtxStepType:
		return c.st.req.Type, true
	case abi.CtxAttempt:
		return strconv.Itoa(c.attempt), true
	}
	return "", false
}

// setOutput stores an output value, enforcing the step's output cap.
func (c *call) setOutput(key, value string) int32 {
	old, had := c.outputs[key]
	size := c.outBytes + int64(len(value))
	if had {
		size -= int64(len(old))
	} else {
		size += int64(len(key))
	}
	if size+c.pending > c.st.limits.MaxOutputBytes {
		c.limitErr = "output limit of " + strconv.FormatInt(c.st.limits.MaxOutputBytes, 10) + " bytes exceeded"
		return c.fail(abi.LimitExceeded, c.limitErr)
	}
	if c.outputs == nil {
		c.outputs = make(map[string]string, 4)
	}
	c.outputs[key] = value
	c.outBytes = size
	return 0
}

// room reports how many more output bytes the step may produce: the cap
// less the outputs set and the bytes open output handles hold.
func (c *call) room() int64 { return c.st.limits.MaxOutputBytes - c.outBytes - c.pending }

// handleLimit is the status of an open refused at the handle limit. The
// step goes on: the guest may close a handle and open another.
func (c *call) handleLimit() int32 {
	return c.fail(abi.LimitExceeded, "too many open handles (limit "+strconv.Itoa(c.st.limits.MaxHandles)+")")
}

func (c *call) addHandle(h *handle) int32 {
	if c.open >= c.st.limits.MaxHandles {
		if h.closer != nil {
			h.closer.Close()
		}
		return c.handleLimit()
	}
	c.open++
	for i, slot := range c.handles {
		if slot == nil {
			c.handles[i] = h
			return int32(i + 1)
		}
	}
	c.handles = append(c.handles, h)
	return int32(len(c.handles))
}

func (c *call) handle(id int32) (*handle, bool) {
	if id <= 0 || int(id) > len(c.handles) || c.handles[id-1] == nil {
		return nil, false
	}
	return c.handles[id-1], true
}

// closeHandle closes and frees a handle, committing writable ones.
func (c *call) closeHandle(id int32, commit bool) error {
	h, ok := c.handle(id)
	if !ok {
		return errBadHandle
	}
	c.handles[id-1] = nil
	c.open--
	var err error
	if commit && h.commit != nil {
		err = h.commit()
	}
	if h.closer != nil {
		if cerr := h.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// finish commits handles the guest left open (outputs count) and releases
// every resource of the call.
func (c *call) finish(commit bool) error {
	var errs []error
	for i, h := range c.handles {
		if h != nil {
			if err := c.closeHandle(int32(i+1), commit); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

var errBadHandle = errors.New("bad handle")

// outputWriter collects an output value written through a handle. What
// it holds counts against the output cap (call.pending) from the first
// write, so open writers together cannot buffer more than the cap.
type outputWriter struct {
	c    *call
	key  string
	held int64 // bytes counted in c.pending: the key, once written to, and buf
	buf  bytes.Buffer
}

func (w *outputWriter) Write(p []byte) (int, error) {
	add := int64(len(p))
	if w.held == 0 {
		add += int64(len(w.key))
	}
	if add > w.c.room() {
		w.c.limitErr = "output limit of " + strconv.FormatInt(w.c.st.limits.MaxOutputBytes, 10) + " bytes exceeded"
		return 0, errLimit
	}
	w.c.pending += add
	w.held += add
	return w.buf.Write(p)
}

// Written is the number of bytes written so far (handle_size).
func (w *outputWriter) Written() int64 { return int64(w.buf.Len()) }

// release stops counting what w holds against the cap.
func (w *outputWriter) release() {
	w.c.pending -= w.held
	w.held = 0
}

func (w *outputWriter) commit() error {
	w.release()
	if w.c.setOutput(w.key, w.buf.String()) != 0 {
		return errLimit
	}
	return nil
}

// Close drops what w holds (after commit, or instead of it).
func (w *outputWriter) Close() error {
	w.release()
	w.buf = bytes.Buffer{}
	return nil
}

var errLimit = errors.New("limit exceeded")

// logBuffer caps what a step's guest logs and prints, and keeps the tail of
// stderr for trap messages.
type logBuffer struct {
	max       int
	used      int
	truncated bool
	stderr    []byte // the first stderrHead bytes of the attempt
	// pending holds the unterminated last line of stdout [0] and stderr
	// [1], at most stdLineMax bytes each.
	pending [2][]byte
}

const stderrHead = 2048

func (l *logBuffer) reset(max int) {
	l.max, l.used, l.truncated = max, 0, false
	l.stderr = l.stderr[:0]
	l.pending[0], l.pending[1] = l.pending[0][:0], l.pending[1][:0]
}

// admit returns how much of n bytes may still be logged, and whether this
// is the moment the cap was first hit.
func (l *logBuffer) admit(n int) (int, bool) {
	if l.used >= l.max {
		first := !l.truncated
		l.truncated = true
		return 0, first
	}
	if l.used+n > l.max {
		n = l.max - l.used
		l.used = l.max
		first := !l.truncated
		l.truncated = true
		return n, first
	}
	l.used += n
	return n, false
}

func (l *logBuffer) keepStderr(p []byte) {
	if room := stderrHead - len(l.stderr); room > 0 {
		if len(p) > room {
			p = p[:room]
		}
		l.stderr = append(l.stderr, p...)
	}
}

// stderrSummary returns the first lines of stderr, for a trap message.
func (l *logBuffer) stderrSummary() string {
	s := strings.TrimSpace(string(l.stderr))
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 3 {
		lines = lines[:3]
	}
	return strings.Join(lines, " | ")
}
