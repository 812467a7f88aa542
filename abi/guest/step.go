package guest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"unsafe"

	"github.com/beamline/blockhost/abi"
)

// Step is the step being run: its inputs, outputs, context, config and log.
// It is valid only during the Handler call it is passed to.
type Step struct {
	ctx       Context
	ctxLoaded bool
}

// Context holds the step's correlation ids (context_get).
type Context struct {
	TenantID string
	TraceID  string
	RunID    string
	FlowID   string
	StepID   string
	StepType string
	// Attempt is 0 for the first attempt, 1 for the first retry, and so on.
	Attempt int
}

// Level is a log level of Step.Log.
type Level int32

// Log levels.
const (
	LevelDebug Level = Level(abi.LogDebug)
	LevelInfo  Level = Level(abi.LogInfo)
	LevelWarn  Level = Level(abi.LogWarn)
	LevelError Level = Level(abi.LogError)
)

func (s *Step) reset() {
	s.ctx, s.ctxLoaded = Context{}, false
	if cap(scratch) > scratchKeep {
		scratch = make([]byte, scratchSize)
	}
}

// maxChunk bounds one read or write so its length fits an i32.
const maxChunk = 1 << 30

// Input returns the value of input key, and false if the step has no such
// input (or it could not be read). The value is read in full into guest
// memory: use InputReader or InputHandle for large values.
func (s *Step) Input(key string) (string, bool) {
	if b, n, ok := readSmall(key); ok {
		return string(b[:n]), true
	} else if n < 0 {
		return "", false
	}
	b, ok := readInput(key)
	if !ok {
		return "", false
	}
	// b is ours alone and never written again.
	return unsafe.String(unsafe.SliceData(b), len(b)), true
}

// InputBytes is Input returning a fresh byte slice the caller owns.
func (s *Step) InputBytes(key string) ([]byte, bool) {
	if b, n, ok := readSmall(key); ok {
		return bytes.Clone(b[:n]), true
	} else if n < 0 {
		return nil, false
	}
	return readInput(key)
}

// readSmall reads input key into scratch with one input_read, which is
// enough for a value shorter than scratch: ok reports that it was, n < 0
// that the input is unreadable.
func readSmall(key string) (b []byte, n int32, ok bool) {
	b = scratch[:cap(scratch)]
	n = current.InputRead(key, 0, b)
	return b, n, n >= 0 && int(n) < len(b)
}

// readInput reads input key in full into a new slice.
func readInput(key string) ([]byte, bool) {
	n := current.InputLen(key)
	if n < 0 || n > math.MaxInt32 {
		return nil, false
	}
	buf := make([]byte, n)
	var off int64
	for off < n {
		c := current.InputRead(key, off, buf[off:min(n, off+maxChunk)])
		if c < 0 {
			return nil, false
		}
		if c == 0 {
			break
		}
		off += int64(c)
	}
	return buf[:off], true
}

// InputReader returns a reader over input key that reads it in chunks
// (input_read) into the caller's buffers. A missing input surfaces as
// ErrNotFound from the first Read.
func (s *Step) InputReader(key string) io.Reader {
	return &inputReader{key: key}
}

type inputReader struct {
	key string
	off int64
}

func (r *inputReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := current.InputRead(r.key, r.off, p[:min(len(p), maxChunk)])
	if n < 0 {
		return 0, hostErr(abi.FnInputRead, int64(n))
	}
	if n == 0 {
		return 0, io.EOF
	}
	r.off += int64(n)
	return int(n), nil
}

// InputHandle opens a readable handle over input key (input_open), to pass
// on to SetOutputFromHandle, BlobPutFrom or Do without copying the value
// through guest memory.
func (s *Step) InputHandle(key string) (Handle, error) {
	h := current.InputOpen(key)
	if h < 0 {
		return 0, hostErr(abi.FnInputOpen, int64(h))
	}
	return Handle(h), nil
}

// InputKeys returns the names of the step's inputs, sorted; nil if they
// could not be read.
func (s *Step) InputKeys() []string {
	b, err := copyOut(abi.FnInputKeys, current.InputKeys)
	if err != nil {
		return nil
	}
	var keys []string
	if json.Unmarshal(b, &keys) != nil {
		return nil
	}
	return keys
}

// Inputs returns all inputs at once (inputs_json); nil if they could not be
// read. Meant for small steps: every value is copied into guest memory.
func (s *Step) Inputs() map[string]string {
	b, err := copyOut(abi.FnInputsJSON, current.InputsJSON)
	if err != nil {
		return nil
	}
	var m map[string]string
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// Context returns the step's context, read from the host on first use.
func (s *Step) Context() Context {
	if s.ctxLoaded {
		return s.ctx
	}
	get := func(key string) string { v, _ := s.ContextValue(key); return v }
	s.ctx = Context{
		TenantID: get(abi.CtxTenantID),
		TraceID:  get(abi.CtxTraceID),
		RunID:    get(abi.CtxRunID),
		FlowID:   get(abi.CtxFlowID),
		StepID:   get(abi.CtxStepID),
		StepType: get(abi.CtxStepType),
	}
	s.ctx.Attempt, _ = strconv.Atoi(get(abi.CtxAttempt))
	s.ctxLoaded = true
	return s.ctx
}

// ContextValue returns one context value by its ABI key (abi.CtxTenantID,
// ...), and false for a key the host does not know.
func (s *Step) ContextValue(key string) (string, bool) {
	b, err := copyOut(abi.FnContextGet, func(buf []byte) int32 { return current.ContextGet(key, buf) })
	if err != nil {
		return "", false
	}
	return string(b), true
}

// Config returns the block's config value key (manifest or operator), and
// false if it is not set.
func (s *Step) Config(key string) (string, bool) {
	b, err := copyOut(abi.FnConfigGet, func(buf []byte) int32 { return current.ConfigGet(key, buf) })
	if err != nil {
		return "", false
	}
	return string(b), true
}

// SetOutput sets output key to value, replacing any earlier value. Going
// over the step's output cap returns ErrLimitExceeded, and the step then
// fails with QUOTA_EXCEEDED.
func (s *Step) SetOutput(key, value string) error {
	return s.SetOutputBytes(key, unsafe.Slice(unsafe.StringData(value), len(value)))
}

// SetOutputBytes is SetOutput from a byte slice; the host copies it.
func (s *Step) SetOutputBytes(key string, value []byte) error {
	if st := current.OutputSet(key, value); st < 0 {
		return hostErr(abi.FnOutputSet, int64(st))
	}
	return nil
}

// OutputWriter returns a writer whose bytes become the value of output key
// when it is closed (output_open). The host closes it at the end of the
// step if the handler does not; Close reports a commit failure, such as the
// output cap.
func (s *Step) OutputWriter(key string) (io.WriteCloser, error) {
	h := current.OutputOpen(key)
	if h < 0 {
		return nil, hostErr(abi.FnOutputOpen, int64(h))
	}
	return Handle(h), nil
}

// SetOutputFromHandle drains the readable handle h into output key on the
// host side and closes h (output_from_handle).
func (s *Step) SetOutputFromHandle(key string, h Handle) error {
	if st := current.OutputFromHandle(key, int32(h)); st < 0 {
		return hostErr(abi.FnOutputFromHandle, int64(st))
	}
	return nil
}

// Log writes msg to the host's log for this step. Logs and the block's
// stdout/stderr share a per-step cap past which they are truncated; Log
// never fails the step.
func (s *Step) Log(level Level, msg string) {
	current.Log(int32(level), msg)
}

// Debugf logs at debug level.
func (s *Step) Debugf(format string, args ...any) { s.Log(LevelDebug, fmt.Sprintf(format, args...)) }

// Infof logs at info level.
func (s *Step) Infof(format string, args ...any) { s.Log(LevelInfo, fmt.Sprintf(format, args...)) }

// Warnf logs at warn level.
func (s *Step) Warnf(format string, args ...any) { s.Log(LevelWarn, fmt.Sprintf(format, args...)) }

// Errorf logs at error level. It does not fail the step: return an error
// (see the package-level Errorf) for that.
func (s *Step) Errorf(format string, args ...any) { s.Log(LevelError, fmt.Sprintf(format, args...)) }
