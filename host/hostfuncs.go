package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/beamline/blockhost/abi"
)

type callKey struct{}

// callOf returns the attempt a host function runs for, nil outside a step
// (during _initialize).
func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostFunc is one function of module "blockhost".
type hostFunc struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(c *call, mod api.Module, stack []uint64)
}

func (h *Host) hostFuncs() []hostFunc {
	r32 := []api.ValueType{i32}
	r64 := []api.ValueType{i64}
	p := func(t ...api.ValueType) []api.ValueType { return t }
	return []hostFunc{
		{abi.FnInputLen, p(i32, i32), r64, fnInputLen},
		{abi.FnInputRead, p(i32, i32, i64, i32, i32), r32, fnInputRead},
		{abi.FnInputOpen, p(i32, i32), r32, fnInputOpen},
		{abi.FnInputKeys, p(i32, i32), r32, fnInputKeys},
		{abi.FnInputsJSON, p(i32, i32), r32, fnInputsJSON},
		{abi.FnOutputSet, p(i32, i32, i32, i32), r32, fnOutputSet},
		{abi.FnOutputOpen, p(i32, i32), r32, fnOutputOpen},
		{abi.FnOutputFromHandle, p(i32, i32, i32), r32, fnOutputFromHandle},
		{abi.FnContextGet, p(i32, i32, i32, i32), r32, fnContextGet},
		{abi.FnConfigGet, p(i32, i32, i32, i32), r32, fnConfigGet},
		{abi.FnLog, p(i32, i32, i32), r32, h.fnLog},
		{abi.FnErrorSet, p(i32, i32, i32, i32, i32, i32), r32, fnErrorSet},
		{abi.FnLastError, p(i32, i32), r32, fnLastError},
		{abi.FnHandleRead, p(i32, i32, i32), r32, fnHandleRead},
		{abi.FnHandleWrite, p(i32, i32, i32), r32, fnHandleWrite},
		{abi.FnHandleSize, p(i32), r64, fnHandleSize},
		{abi.FnHandleClose, p(i32), r32, fnHandleClose},
		{abi.FnBufferNew, nil, r32, fnBufferNew},
		{abi.FnHTTPRequest, p(i32, i32, i32), r32, h.fnHTTPRequest},
		{abi.FnHTTPResponseMeta, p(i32, i32, i32), r32, fnHTTPResponseMeta},
		{abi.FnBlobOpenRead, p(i32, i32), r32, h.fnBlobOpenRead},
		{abi.FnBlobOpenWrite, p(i32, i32), r32, h.fnBlobOpenWrite},
		{abi.FnBlobPutFrom, p(i32, i32, i32), r32, h.fnBlobPutFrom},
		{abi.FnBlobDelete, p(i32, i32), r32, h.fnBlobDelete},
		{abi.FnBlobStat, p(i32, i32, i32, i32), r32, h.fnBlobStat},
		{abi.FnBlobList, p(i32, i32, i32, i32), r32, h.fnBlobList},
	}
}

// instantiateHostModule registers module "blockhost" on r.
func (h *Host) instantiateHostModule(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(abi.ModuleName)
	for _, f := range h.hostFuncs() {
		f := f
		noCall := abi.Unsupported.Status()
		wide := len(f.results) == 1 && f.results[0] == i64
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				c := callOf(ctx)
				if c == nil {
					setStatus(stack, wide, noCall)
					return
				}
				f.fn(c, mod, stack)
			}), f.params, f.results).
			Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func setStatus(stack []uint64, wide bool, s int32) {
	if wide {
		stack[0] = api.EncodeI64(int64(s))
	} else {
		stack[0] = api.EncodeI32(s)
	}
}

func ret32(stack []uint64, v int32) { stack[0] = api.EncodeI32(v) }
func ret64(stack []uint64, v int64) { stack[0] = api.EncodeI64(v) }

// view returns guest memory [ptr, ptr+n) or false when any of it is out of
// bounds. It never traps.
func view(mod api.Module, ptr, n uint32) ([]byte, bool) {
	if n == 0 {
		return nil, uint64(ptr) <= uint64(mod.Memory().Size())
	}
	return mod.Memory().Read(ptr, n)
}

// key reads a key argument, enforcing the key limit.
func (c *call) key(mod api.Module, ptr, n uint32) ([]byte, int32) {
	b, ok := view(mod, ptr, n)
	if !ok {
		return nil, c.badPointer(ptr, n)
	}
	if n > abi.MaxKeyLen {
		return nil, c.fail(abi.InvalidArgument, "key longer than "+strconv.Itoa(abi.MaxKeyLen)+" bytes")
	}
	return b, 0
}

// outKey reads an output key: non-empty valid UTF-8 within the key limit.
func (c *call) outKey(mod api.Module, ptr, n uint32) ([]byte, int32) {
	k, s := c.key(mod, ptr, n)
	if s != 0 {
		return nil, s
	}
	if len(k) == 0 || !utf8.Valid(k) {
		return nil, c.fail(abi.InvalidArgument, "an output key must be non-empty UTF-8")
	}
	return k, 0
}

func (c *call) badPointer(ptr, n uint32) int32 {
	return c.fail(abi.BadPointer, "pointer "+strconv.FormatUint(uint64(ptr), 10)+" length "+
		strconv.FormatUint(uint64(n), 10)+" is outside linear memory")
}

// copyOut implements the copy-out convention: the full length is returned
// and the value copied only when it fits.
func (c *call) copyOut(mod api.Module, ptr, n uint32, val string) int32 {
	buf, ok := view(mod, ptr, n)
	if !ok {
		return c.badPointer(ptr, n)
	}
	if len(val) > math.MaxInt32 {
		return c.fail(abi.LimitExceeded, "value too large to copy out")
	}
	if len(val) <= len(buf) {
		copy(buf, val)
	}
	return int32(len(val))
}

// copyOutJSON copies out v encoded as JSON.
func (c *call) copyOutJSON(mod api.Module, ptr, n uint32, v any) int32 {
	b, err := json.Marshal(v)
	if err != nil {
		return c.fail(abi.InvalidArgument, err.Error())
	}
	return c.copyOut(mod, ptr, n, string(b))
}

func u32(v uint64) uint32 { return api.DecodeU32(v) }

func fnInputLen(c *call, mod api.Module, stack []uint64) {
	k, s := c.key(mod, u32(stack[0]), u32(stack[1]))
	if s != 0 {
		ret64(stack, int64(s))
		return
	}
	v, ok := c.st.req.Inputs[string(k)]
	if !ok {
		ret64(stack, int64(c.fail(abi.NotFound, "no input "+strconv.Quote(string(k)))))
		return
	}
	ret64(stack, int64(len(v)))
}

func fnInputRead(c *call, mod api.Module, stack []uint64) {
	k, s := c.key(mod, u32(stack[0]), u32(stack[1]))
	if s != 0 {
		ret32(stack, s)
		return
	}
	off := int64(stack[2])
	buf, ok := view(mod, u32(stack[3]), u32(stack[4]))
	if !ok {
		ret32(stack, c.badPointer(u32(stack[3]), u32(stack[4])))
		return
	}
	v, ok := c.st.req.Inputs[string(k)]
	if !ok {
		ret32(stack, c.fail(abi.NotFound, "no input "+strconv.Quote(string(k))))
		return
	}
	if off < 0 {
		ret32(stack, c.fail(abi.InvalidArgument, "negative offset"))
		return
	}
	if off >= int64(len(v)) {
		ret32(stack, 0)
		return
	}
	ret32(stack, int32(copy(buf, v[off:])))
}

func fnInputOpen(c *call, mod api.Module, stack []uint64) {
	k, s := c.key(mod, u32(stack[0]), u32(stack[1]))
	if s != 0 {
		ret32(stack, s)
		return
	}
	v, ok := c.st.req.Inputs[string(k)]
	if !ok {
		ret32(stack, c.fail(abi.NotFound, "no input "+strconv.Quote(string(k))))
		return
	}
	ret32(stack, c.addHandle(&handle{r: strings.NewReader(v), size: int64(len(v))}))
}

func fnInputKeys(c *call, mod api.Module, stack []uint64) {
	keys := make([]string, 0, len(c.st.req.Inputs))
	for k := range c.st.req.Inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ret32(stack, c.copyOutJSON(mod, u32(stack[0]), u32(stack[1]), keys))
}

func fnInputsJSON(c *call, mod api.Module, stack []uint64) {
	in := c.st.req.Inputs
	if in == nil {
		in = map[string]string{}
	}
	ret32(stack, c.copyOutJSON(mod, u32(stack[0]), u32(stack[1]), in))
}

func fnOutputSet(c *call, mod api.Module, stack []uint64) {
	v, ok := view(mod, u32(stack[2]), u32(stack[3]))
	if !ok {
		ret32(stack, c.badPointer(u32(stack[2]), u32(stack[3])))
		return
	}
	k, s := c.outKey(mod, u32(stack[0]), u32(stack[1]))
	if s != 0 {
		ret32(stack, s)
		return
	}
	ret32(stack, c.setOutput(string(k), string(v)))
}

func fnOutputOpen(c *call, mod api.Module, stack []uint64) {
	k, s := c.outKey(mod, u32(stack[0]), u32(stack[1]))
	if s != 0 {
		ret32(stack, s)
		return
	}
	w := &outputWriter{c: c, key: string(k)}
	ret32(stack, c.addHandle(&handle{w: w, size: -1, commit: w.commit, closer: w}))
}

func fnOutputFromHandle(c *call, mod api.Module, stack []uint64) {
	id := int32(u32(stack[2]))
	h, ok := c.consume(id)
	if !ok {
		ret32(stack, c.fail(abi.BadHandle, "handle "+strconv.Itoa(int(id))+" is not an open readable handle"))
		return
	}
	defer c.closeHandle(id, false)
	k, s := c.outKey(mod, u32(stack[0]), u32(stack[1]))
	if s != 0 {
		ret32(stack, s)
		return
	}
	key := string(k)
	room := c.room() - int64(len(key))
	if old, had := c.outputs[key]; had {
		room += int64(len(old) + len(key))
	}
	var buf bytes.Buffer
	if h.size >= 0 && h.size <= room {
		buf.Grow(int(h.size))
	}
	n, err := io.Copy(&buf, io.LimitReader(h.r, room+1))
	if err != nil {
		ret32(stack, c.ioFail(err))
		return
	}
	if n > room {
		c.limitErr = "output limit of " + strconv.FormatInt(c.st.limits.MaxOutputBytes, 10) + " bytes exceeded"
		ret32(stack, c.fail(abi.LimitExceeded, c.limitErr))
		return
	}
	ret32(stack, c.setOutput(key, buf.String()))
}

func fnContextGet(c *call, mod api.Module, stack []uint64) {
	k, s := c.key(mod, u32(stack[0]), u32(stack[1]))
	if s != 0 {
		ret32(stack, s)
		return
	}
	v, ok := c.contextValue(string(k))
	if !ok {
		// Validate the buffer anyway so bad pointers always report.
		if _, ok := view(mod, u32(stack[2]), u32(stack[3])); !ok {
			ret32(stack, c.badPointer(u32(stack[2]), u32(stack[3])))
			return
		}
		ret32(stack, c.fail(abi.NotFound, "no context key "+strconv.Quote(string(k))))
		return
	}
	ret32(stack, c.copyOut(mod, u32(stack[2]), u32(stack[3]), v))
}

func fnConfigGet(c *call, mod api.Module, stack []uint64) {
	k, s := c.key(mod, u32(stack[0]), u32(stack[1]))
	if s != 0 {
		ret32(stack, s)
		return
	}
	v, ok := c.st.blk.config[string(k)]
	if !ok {
		if _, ok := view(mod, u32(stack[2]), u32(stack[3])); !ok {
			ret32(stack, c.badPointer(u32(stack[2]), u32(stack[3])))
			return
		}
		ret32(stack, c.fail(abi.NotFound, "no config key "+strconv.Quote(string(k))))
		return
	}
	ret32(stack, c.copyOut(mod, u32(stack[2]), u32(stack[3]), v))
}

var guestLevels = [...]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

func (h *Host) fnLog(c *call, mod api.Module, stack []uint64) {
	level := int32(u32(stack[0]))
	msg, ok := view(mod, u32(stack[1]), u32(stack[2]))
	if !ok {
		ret32(stack, c.badPointer(u32(stack[1]), u32(stack[2])))
		return
	}
	if level < 0 || int(level) >= len(guestLevels) {
		ret32(stack, c.fail(abi.InvalidArgument, "log level "+strconv.Itoa(int(level))+" is not 0..3"))
		return
	}
	h.guestLog(c, guestLevels[level], "guest log", msg)
	ret32(stack, 0)
}

// stdLineMax is the longest stdout or stderr line held back waiting for
// its newline; a longer one is logged in pieces of this size.
const stdLineMax = 4096

// guestStd logs what a guest printed, one record per line: a language
// runtime's fd_write may hand over a line in several pieces (one per
// iovec), and a line may span calls. flushStd logs what is left at the end
// of the call.
func (h *Host) guestStd(c *call, stderr bool, p []byte) {
	i := 0
	if stderr {
		i = 1
	}
	buf := append(c.log.pending[i], p...)
	for {
		n := bytes.IndexByte(buf, '\n')
		if n < 0 && len(buf) < stdLineMax {
			break
		}
		line, rest := buf, []byte(nil)
		if n >= 0 && n < stdLineMax {
			line, rest = buf[:n], buf[n+1:]
		} else {
			line, rest = buf[:stdLineMax], buf[stdLineMax:]
		}
		h.stdLine(c, stderr, line)
		buf = rest
	}
	c.log.pending[i] = append(c.log.pending[i][:0], buf...)
}

// flushStd logs the unterminated last lines of stdout and stderr.
func (h *Host) flushStd(c *call) {
	for i := range c.log.pending {
		if len(c.log.pending[i]) > 0 {
			h.stdLine(c, i == 1, c.log.pending[i])
			c.log.pending[i] = c.log.pending[i][:0]
		}
	}
}

func (h *Host) stdLine(c *call, stderr bool, line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return
	}
	if stderr {
		h.guestLog(c, slog.LevelWarn, "guest stderr", line)
	} else {
		h.guestLog(c, slog.LevelInfo, "guest stdout", line)
	}
}

// guestLog writes what a guest logged or printed, within the step's cap.
func (h *Host) guestLog(c *call, level slog.Level, what string, msg []byte) {
	n, first := c.log.admit(len(msg))
	if n > 0 && h.log.Enabled(context.Background(), level) {
		h.log.LogAttrs(context.Background(), level, what,
			slog.String("block", c.st.blk.name),
			slog.String("step_id", c.st.id),
			slog.String("tenant_id", c.st.req.Context.TenantID),
			slog.String("run_id", c.st.req.Context.RunID),
			slog.String("flow_id", c.st.req.Context.FlowID),
			slog.String("trace_id", c.st.req.Context.TraceID),
			slog.String("text", c.st.blk.redact(string(msg[:n]))))
	}
	if first {
		h.log.LogAttrs(context.Background(), slog.LevelWarn, "guest log truncated",
			slog.String("block", c.st.blk.name),
			slog.String("step_id", c.st.id),
			slog.Int("limit_bytes", c.log.max))
	}
}

func fnErrorSet(c *call, mod api.Module, stack []uint64) {
	code := abi.Code(int32(u32(stack[0])))
	msg, ok := view(mod, u32(stack[1]), u32(stack[2]))
	if !ok {
		ret32(stack, c.badPointer(u32(stack[1]), u32(stack[2])))
		return
	}
	status := int32(u32(stack[3]))
	retryAfter := int32(u32(stack[4]))
	retryable := int32(u32(stack[5]))
	switch {
	case code <= 0:
		ret32(stack, c.fail(abi.InvalidArgument, "error code "+strconv.Itoa(int(code))+" is not positive"))
		return
	case status != 0 && (status < 100 || status > 599):
		ret32(stack, c.fail(abi.InvalidArgument, "http status "+strconv.Itoa(int(status))+" is not 100..599"))
		return
	case retryAfter < 0:
		ret32(stack, c.fail(abi.InvalidArgument, "negative retry_after_ms"))
		return
	case retryable < abi.RetryDefault || retryable > abi.RetryNo:
		ret32(stack, c.fail(abi.InvalidArgument, "retryable must be 0, 1 or 2"))
		return
	}
	// Secrets are hidden before the cut, so that none shows in part.
	if limit := abi.MaxMessageLen + c.st.blk.longestSecret(); len(msg) > limit {
		msg = msg[:limit]
	}
	message := c.st.blk.redact(string(msg))
	if len(message) > abi.MaxMessageLen {
		message = message[:abi.MaxMessageLen]
	}
	if !code.Known() {
		code = abi.ExecutionFailed
	}
	c.reported = true
	c.code, c.message = code, message
	c.httpStatus, c.retryAfter, c.retryable = int(status), int64(retryAfter), retryable
	ret32(stack, 0)
}

func fnLastError(c *call, mod api.Module, stack []uint64) {
	ret32(stack, c.copyOut(mod, u32(stack[0]), u32(stack[1]), c.lastErr))
}

func fnHandleRead(c *call, mod api.Module, stack []uint64) {
	id := int32(u32(stack[0]))
	buf, ok := view(mod, u32(stack[1]), u32(stack[2]))
	if !ok {
		ret32(stack, c.badPointer(u32(stack[1]), u32(stack[2])))
		return
	}
	h, ok := c.handle(id)
	if !ok || h.r == nil {
		ret32(stack, c.fail(abi.BadHandle, "handle "+strconv.Itoa(int(id))+" is not an open readable handle"))
		return
	}
	if len(buf) == 0 {
		ret32(stack, 0)
		return
	}
	// io.Reader allows (0, nil); the ABI's 0 means the end of the stream,
	// so read again, and give up with IO_ERROR rather than fake an end.
	for tries := 0; ; tries++ {
		n, err := h.r.Read(buf)
		if n > 0 || errors.Is(err, io.EOF) {
			ret32(stack, int32(n))
			return
		}
		if err != nil {
			ret32(stack, c.ioFail(err))
			return
		}
		if tries >= 100 {
			ret32(stack, c.fail(abi.IOError, "handle "+strconv.Itoa(int(id))+": the stream made no progress in 100 reads"))
			return
		}
	}
}

// consume looks up a handle a call consumes: open and readable. The
// caller closes it whatever its outcome (ABI.md, Handles).
func (c *call) consume(id int32) (*handle, bool) {
	h, ok := c.handle(id)
	return h, ok && h.r != nil
}

// ioFail maps a stream error onto a status.
func (c *call) ioFail(err error) int32 {
	var ce codedError
	if errorsAs(err, &ce) {
		return c.fail(ce.Code(), err.Error())
	}
	if errors.Is(err, errLimit) {
		return c.fail(abi.LimitExceeded, c.limitErr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return c.fail(abi.Cancelled, err.Error())
	}
	return c.fail(abi.IOError, err.Error())
}

// codedError is implemented by capability errors that know their code.
type codedError interface {
	error
	Code() abi.Code
}

func fnHandleWrite(c *call, mod api.Module, stack []uint64) {
	id := int32(u32(stack[0]))
	buf, ok := view(mod, u32(stack[1]), u32(stack[2]))
	if !ok {
		ret32(stack, c.badPointer(u32(stack[1]), u32(stack[2])))
		return
	}
	h, ok := c.handle(id)
	if !ok || h.w == nil {
		ret32(stack, c.fail(abi.BadHandle, "handle "+strconv.Itoa(int(id))+" is not an open writable handle"))
		return
	}
	n, err := h.w.Write(buf)
	if err != nil {
		ret32(stack, c.ioFail(err))
		return
	}
	ret32(stack, int32(n))
}

func fnHandleSize(c *call, _ api.Module, stack []uint64) {
	id := int32(u32(stack[0]))
	h, ok := c.handle(id)
	if !ok {
		ret64(stack, int64(c.fail(abi.BadHandle, "handle "+strconv.Itoa(int(id))+" is not open")))
		return
	}
	if w, ok := h.w.(interface{ Written() int64 }); ok && h.size < 0 {
		ret64(stack, w.Written())
		return
	}
	if h.size < 0 {
		ret64(stack, int64(c.fail(abi.Unsupported, "the size of handle "+strconv.Itoa(int(id))+" is not known")))
		return
	}
	ret64(stack, h.size)
}

func fnHandleClose(c *call, _ api.Module, stack []uint64) {
	id := int32(u32(stack[0]))
	if _, ok := c.handle(id); !ok {
		ret32(stack, c.fail(abi.BadHandle, "handle "+strconv.Itoa(int(id))+" is not open"))
		return
	}
	if err := c.closeHandle(id, true); err != nil {
		ret32(stack, c.ioFail(err))
		return
	}
	ret32(stack, 0)
}

// stepBuffer is a buffer_new handle: its bytes count against the step's
// output limit, so a guest cannot grow host memory without bound.
type stepBuffer struct {
	c       *call
	written int64
	bytes.Buffer
}

// Written is the number of bytes written so far (handle_size).
func (b *stepBuffer) Written() int64 { return b.written }

func (b *stepBuffer) Write(p []byte) (int, error) {
	if b.c.bufBytes+int64(len(p)) > b.c.st.limits.MaxOutputBytes {
		b.c.limitErr = "buffer limit of " + strconv.FormatInt(b.c.st.limits.MaxOutputBytes, 10) + " bytes exceeded"
		return 0, errLimit
	}
	b.c.bufBytes += int64(len(p))
	b.written += int64(len(p))
	return b.Buffer.Write(p)
}

func fnBufferNew(c *call, _ api.Module, stack []uint64) {
	b := &stepBuffer{c: c}
	ret32(stack, c.addHandle(&handle{r: b, w: b, size: -1}))
}

// errorsAs is errors.As, named so capability code reads alike.
func errorsAs(err error, target any) bool { return errors.As(err, target) }
