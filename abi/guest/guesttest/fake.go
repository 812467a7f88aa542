package guesttest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
	"github.com/beamline/blockhost/abi/guest/internal/hostabi"
)

// fake is the in-memory host of one step.
type fake struct {
	st Step

	outputs  map[string]string
	outBytes int64
	limitErr string

	handles  map[int32]*handle
	nextID   int32
	bufBytes int64 // held by buffers

	logs      []Log
	logUsed   int
	truncated bool

	reported *guest.Error
	lastErr  string

	blobs map[string]blob
}

var _ hostabi.Host = (*fake)(nil)

type blob struct {
	data     []byte
	modified time.Time
}

// handle is one open stream: readable when r is set, writable when w is.
type handle struct {
	r      io.Reader
	w      io.Writer
	size   func() int64 // -1 when unknown
	commit func() int32 // run by handle_close; status
	meta   []byte       // HTTP response metadata
}

func (f *fake) fail(code abi.Code, detail string) int32 {
	f.lastErr = detail
	return code.Status()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// copyOut implements the copy-out convention.
func copyOut(buf, v []byte) int32 {
	if len(v) <= len(buf) {
		copy(buf, v)
	}
	return int32(len(v))
}

func (f *fake) checkKey(key string) (int32, bool) {
	if len(key) > abi.MaxKeyLen {
		return f.fail(abi.InvalidArgument, "key longer than "+itoa(abi.MaxKeyLen)+" bytes"), false
	}
	return 0, true
}

// Inputs.

func (f *fake) InputLen(key string) int64 {
	if st, ok := f.checkKey(key); !ok {
		return int64(st)
	}
	v, ok := f.st.Inputs[key]
	if !ok {
		return int64(f.fail(abi.NotFound, "input "+strconv.Quote(key)+" not found"))
	}
	return int64(len(v))
}

func (f *fake) InputRead(key string, off int64, buf []byte) int32 {
	if st, ok := f.checkKey(key); !ok {
		return st
	}
	v, ok := f.st.Inputs[key]
	if !ok {
		return f.fail(abi.NotFound, "input "+strconv.Quote(key)+" not found")
	}
	if off < 0 {
		return f.fail(abi.InvalidArgument, "negative offset")
	}
	if off >= int64(len(v)) {
		return 0
	}
	return int32(copy(buf, v[off:]))
}

func (f *fake) InputOpen(key string) int32 {
	if st, ok := f.checkKey(key); !ok {
		return st
	}
	v, ok := f.st.Inputs[key]
	if !ok {
		return f.fail(abi.NotFound, "input "+strconv.Quote(key)+" not found")
	}
	return f.addHandle(&handle{r: strings.NewReader(v), size: fixedSize(int64(len(v)))})
}

func (f *fake) InputKeys(buf []byte) int32 {
	keys := make([]string, 0, len(f.st.Inputs))
	for k := range f.st.Inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b, _ := json.Marshal(keys)
	return copyOut(buf, b)
}

func (f *fake) InputsJSON(buf []byte) int32 {
	m := f.st.Inputs
	if m == nil {
		m = map[string]string{}
	}
	b, _ := json.Marshal(m)
	return copyOut(buf, b)
}

// Outputs.

func (f *fake) checkOutputKey(key string) (int32, bool) {
	if key == "" || !utf8.ValidString(key) {
		return f.fail(abi.InvalidArgument, "output key must be non-empty UTF-8"), false
	}
	return f.checkKey(key)
}

func (f *fake) setOutput(key, value string) int32 {
	old, had := f.outputs[key]
	size := f.outBytes + int64(len(value))
	if had {
		size -= int64(len(old))
	} else {
		size += int64(len(key))
	}
	if size > f.st.Limits.MaxOutputBytes {
		f.limitErr = "output limit of " + itoa(f.st.Limits.MaxOutputBytes) + " bytes exceeded"
		return f.fail(abi.LimitExceeded, f.limitErr)
	}
	f.outputs[key] = value
	f.outBytes = size
	return 0
}

func (f *fake) OutputSet(key string, val []byte) int32 {
	if st, ok := f.checkOutputKey(key); !ok {
		return st
	}
	return f.setOutput(key, string(val))
}

func (f *fake) OutputOpen(key string) int32 {
	if st, ok := f.checkOutputKey(key); !ok {
		return st
	}
	w := &capWriter{f: f, extra: int64(len(key))}
	return f.addHandle(&handle{w: w, size: func() int64 { return int64(w.buf.Len()) }, commit: func() int32 {
		return f.setOutput(key, w.buf.String())
	}})
}

// capWriter collects an output value, failing once it would pass the cap.
type capWriter struct {
	f     *fake
	extra int64
	buf   bytes.Buffer
}

func (w *capWriter) Write(p []byte) (int, error) {
	if w.f.outBytes+w.extra+int64(w.buf.Len()+len(p)) > w.f.st.Limits.MaxOutputBytes {
		w.f.limitErr = "output limit of " + itoa(w.f.st.Limits.MaxOutputBytes) + " bytes exceeded"
		w.f.lastErr = w.f.limitErr
		return 0, errLimit
	}
	return w.buf.Write(p)
}

type statusError int32

func (e statusError) Error() string { return abi.Code(-e).String() }

// status returns e as a status; the writer has set lastErr.
func (e statusError) status() int32 { return int32(e) }

const errLimit = statusError(-int32(abi.LimitExceeded))

func (f *fake) OutputFromHandle(key string, h int32) int32 {
	if st, ok := f.checkOutputKey(key); !ok {
		f.discard(h)
		return st
	}
	b, st := f.drain(h)
	if st < 0 {
		return st
	}
	return f.setOutput(key, string(b))
}

// drain reads readable handle h to its end and closes it.
func (f *fake) drain(h int32) ([]byte, int32) {
	hd, ok := f.handles[h]
	if !ok || hd.r == nil {
		return nil, f.fail(abi.BadHandle, "handle "+itoa(int64(h))+" is not an open readable handle")
	}
	b, err := io.ReadAll(hd.r)
	f.closeHandle(h, false)
	if err != nil {
		return nil, f.fail(abi.IOError, err.Error())
	}
	return b, 0
}

// Context, config, log, errors.

func (f *fake) ContextGet(key string, buf []byte) int32 {
	c := f.st.Context
	var v string
	switch key {
	case abi.CtxTenantID:
		v = c.TenantID
	case abi.CtxTraceID:
		v = c.TraceID
	case abi.CtxRunID:
		v = c.RunID
	case abi.CtxFlowID:
		v = c.FlowID
	case abi.CtxStepID:
		v = c.StepID
	case abi.CtxStepType:
		v = c.StepType
	case abi.CtxAttempt:
		v = strconv.Itoa(c.Attempt)
	default:
		return f.fail(abi.NotFound, "unknown context key "+strconv.Quote(key))
	}
	return copyOut(buf, []byte(v))
}

func (f *fake) ConfigGet(key string, buf []byte) int32 {
	if st, ok := f.checkKey(key); !ok {
		return st
	}
	v, ok := f.st.Config[key]
	if !ok {
		return f.fail(abi.NotFound, "config "+strconv.Quote(key)+" not set")
	}
	return copyOut(buf, []byte(v))
}

// logMarker is the entry appended when the log cap is first hit.
const logMarker = "[blockhost: log truncated]"

func (f *fake) Log(level int32, msg string) int32 {
	if level < abi.LogDebug || level > abi.LogError {
		return f.fail(abi.InvalidArgument, "log level "+itoa(int64(level))+" is not 0..3")
	}
	if f.truncated {
		return 0
	}
	if room := f.st.Limits.MaxLogBytes - f.logUsed; len(msg) > room {
		if room > 0 {
			f.logs = append(f.logs, Log{Level: guest.Level(level), Message: msg[:room]})
		}
		f.logs = append(f.logs, Log{Level: guest.LevelWarn, Message: logMarker})
		f.logUsed, f.truncated = f.st.Limits.MaxLogBytes, true
		return 0
	}
	f.logs = append(f.logs, Log{Level: guest.Level(level), Message: msg})
	f.logUsed += len(msg)
	return 0
}

func (f *fake) ErrorSet(code int32, msg string, httpStatus, retryAfterMS, retryable int32) int32 {
	switch {
	case code <= 0:
		return f.fail(abi.InvalidArgument, "error code must be positive")
	case httpStatus != 0 && (httpStatus < 100 || httpStatus > 599):
		return f.fail(abi.InvalidArgument, "http_status must be 0 or 100..599")
	case retryAfterMS < 0:
		return f.fail(abi.InvalidArgument, "retry_after_ms must be >= 0")
	case retryable < abi.RetryDefault || retryable > abi.RetryNo:
		return f.fail(abi.InvalidArgument, "retryable must be 0, 1 or 2")
	}
	c := abi.Code(code)
	if !c.Known() {
		c = abi.ExecutionFailed
	}
	if len(msg) > abi.MaxMessageLen {
		msg = msg[:abi.MaxMessageLen]
	}
	e := &guest.Error{Code: c, Message: msg, HTTPStatus: int(httpStatus), RetryAfter: time.Duration(retryAfterMS) * time.Millisecond}
	switch retryable {
	case abi.RetryYes:
		e.Retryable = guest.Retryable()
	case abi.RetryNo:
		e.Retryable = guest.NotRetryable()
	}
	f.reported = e
	return 0
}

func (f *fake) LastError(buf []byte) int32 { return copyOut(buf, []byte(f.lastErr)) }

// Handles.

func fixedSize(n int64) func() int64 { return func() int64 { return n } }

func (f *fake) addHandle(h *handle) int32 {
	if len(f.handles) >= f.st.Limits.MaxHandles {
		return f.fail(abi.LimitExceeded, "too many open handles (limit "+itoa(int64(f.st.Limits.MaxHandles))+")")
	}
	for {
		f.nextID++
		if f.nextID <= 0 {
			f.nextID = 1
		}
		if _, used := f.handles[f.nextID]; !used {
			break
		}
	}
	f.handles[f.nextID] = h
	return f.nextID
}

func (f *fake) closeHandle(id int32, commit bool) int32 {
	h, ok := f.handles[id]
	if !ok {
		return f.fail(abi.BadHandle, "handle "+itoa(int64(id))+" is not open")
	}
	delete(f.handles, id)
	if b, ok := h.r.(*memBuffer); ok {
		f.bufBytes -= int64(b.Len())
	}
	if commit && h.commit != nil {
		return h.commit()
	}
	return 0
}

func (f *fake) HandleRead(id int32, buf []byte) int32 {
	h, ok := f.handles[id]
	if !ok || h.r == nil {
		return f.fail(abi.BadHandle, "handle "+itoa(int64(id))+" is not an open readable handle")
	}
	if c := f.st.Limits.ReadChunk; c > 0 && len(buf) > c {
		buf = buf[:c]
	}
	for {
		n, err := h.r.Read(buf)
		if n > 0 || len(buf) == 0 {
			return int32(n)
		}
		if err == io.EOF {
			return 0
		}
		if err != nil {
			return f.fail(abi.IOError, err.Error())
		}
	}
}

func (f *fake) HandleWrite(id int32, buf []byte) int32 {
	h, ok := f.handles[id]
	if !ok || h.w == nil {
		return f.fail(abi.BadHandle, "handle "+itoa(int64(id))+" is not an open writable handle")
	}
	if _, err := h.w.Write(buf); err != nil {
		if st, ok := err.(statusError); ok {
			return st.status()
		}
		return f.fail(abi.IOError, err.Error())
	}
	return int32(len(buf))
}

func (f *fake) HandleSize(id int32) int64 {
	h, ok := f.handles[id]
	if !ok {
		return int64(f.fail(abi.BadHandle, "handle "+itoa(int64(id))+" is not open"))
	}
	if h.size == nil || h.size() < 0 {
		return int64(f.fail(abi.Unsupported, "size unknown"))
	}
	return h.size()
}

func (f *fake) HandleClose(id int32) int32 { return f.closeHandle(id, true) }

func (f *fake) BufferNew() int32 {
	b := &memBuffer{f: f}
	return f.addHandle(&handle{r: b, w: b, size: func() int64 { return b.written }})
}

// memBuffer is the buffer of buffer_new: reads consume what was written.
// The bytes all buffers of the step hold are capped like the outputs.
type memBuffer struct {
	bytes.Buffer
	f       *fake
	written int64
}

func (b *memBuffer) Write(p []byte) (int, error) {
	if b.f.bufBytes+int64(len(p)) > b.f.st.Limits.MaxOutputBytes {
		b.f.lastErr = "buffer limit of " + itoa(b.f.st.Limits.MaxOutputBytes) + " bytes exceeded"
		return 0, errLimit
	}
	b.f.bufBytes += int64(len(p))
	b.written += int64(len(p))
	return b.Buffer.Write(p)
}

func (b *memBuffer) Read(p []byte) (int, error) {
	n, err := b.Buffer.Read(p)
	b.f.bufBytes -= int64(n)
	return n, err
}

// HTTP.

type httpRequestMeta struct {
	Method           string              `json:"method"`
	URL              string              `json:"url"`
	Headers          map[string][]string `json:"headers"`
	TimeoutMS        int64               `json:"timeout_ms"`
	ConnectTimeoutMS int64               `json:"connect_timeout_ms"`
}

func (f *fake) HTTPRequest(req []byte, body int32) int32 {
	if len(req) > abi.MaxMetaLen {
		f.discard(body)
		return f.fail(abi.LimitExceeded, "request metadata over "+itoa(abi.MaxMetaLen)+" bytes")
	}
	var m httpRequestMeta
	dec := json.NewDecoder(bytes.NewReader(req))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		f.discard(body)
		return f.fail(abi.InvalidArgument, "request metadata: "+err.Error())
	}
	if m.Method == "" {
		m.Method = http.MethodGet
	}
	u, err := url.Parse(m.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		f.discard(body)
		return f.fail(abi.InvalidArgument, "url must be absolute http or https: "+strconv.Quote(m.URL))
	}
	if m.TimeoutMS < 0 || m.ConnectTimeoutMS < 0 {
		f.discard(body)
		return f.fail(abi.InvalidArgument, "timeouts must be >= 0")
	}
	var reqBody []byte
	if body != 0 {
		b, st := f.drain(body)
		if st < 0 {
			return st
		}
		reqBody = b
	}
	if f.st.HTTP == nil {
		return f.fail(abi.Denied, "HTTP capability not granted")
	}
	r, err := http.NewRequest(m.Method, m.URL, bytes.NewReader(reqBody))
	if err != nil {
		return f.fail(abi.InvalidArgument, err.Error())
	}
	for k, vs := range m.Headers {
		r.Header[http.CanonicalHeaderKey(k)] = vs
	}
	w := &recorder{header: http.Header{}}
	f.st.HTTP.ServeHTTP(w, r)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	meta, _ := json.Marshal(map[string]any{"status": w.status, "headers": w.header})
	resp := w.body.Bytes()
	return f.addHandle(&handle{r: bytes.NewReader(resp), size: fixedSize(int64(len(resp))), meta: meta})
}

// discard closes a body handle a failed http_request would have consumed.
func (f *fake) discard(h int32) {
	if hd, ok := f.handles[h]; ok && hd.r != nil {
		f.closeHandle(h, false)
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }
func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (f *fake) HTTPResponseMeta(id int32, buf []byte) int32 {
	h, ok := f.handles[id]
	if !ok || h.meta == nil {
		return f.fail(abi.BadHandle, "handle "+itoa(int64(id))+" is not an open HTTP response")
	}
	return copyOut(buf, h.meta)
}

// Blobs.

func (f *fake) checkBlob(key string, prefix bool) (int32, bool) {
	if st, ok := f.checkKey(key); !ok {
		return st, false
	}
	if f.blobs == nil {
		return f.fail(abi.Denied, "FS capability not granted"), false
	}
	if key == "" {
		if prefix {
			return 0, true
		}
		return f.fail(abi.InvalidArgument, "empty blob key"), false
	}
	if strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00") {
		return f.fail(abi.Denied, "blob key "+strconv.Quote(key)+" escapes the root"), false
	}
	for _, part := range strings.Split(key, "/") {
		if part == ".." || (part == "" && !prefix) || part == "." {
			return f.fail(abi.Denied, "blob key "+strconv.Quote(key)+" escapes the root"), false
		}
	}
	return 0, true
}

func (f *fake) BlobOpenRead(key string) int32 {
	if st, ok := f.checkBlob(key, false); !ok {
		return st
	}
	b, ok := f.blobs[key]
	if !ok {
		return f.fail(abi.NotFound, "blob "+strconv.Quote(key)+" not found")
	}
	return f.addHandle(&handle{r: bytes.NewReader(b.data), size: fixedSize(int64(len(b.data)))})
}

func (f *fake) BlobOpenWrite(key string) int32 {
	if st, ok := f.checkBlob(key, false); !ok {
		return st
	}
	w := &bytes.Buffer{}
	return f.addHandle(&handle{w: w, size: func() int64 { return int64(w.Len()) }, commit: func() int32 {
		f.blobs[key] = blob{data: w.Bytes(), modified: time.Now()}
		return 0
	}})
}

func (f *fake) BlobPutFrom(key string, h int32) int32 {
	if st, ok := f.checkBlob(key, false); !ok {
		f.discard(h)
		return st
	}
	b, st := f.drain(h)
	if st < 0 {
		return st
	}
	f.blobs[key] = blob{data: b, modified: time.Now()}
	return 0
}

func (f *fake) BlobDelete(key string) int32 {
	if st, ok := f.checkBlob(key, false); !ok {
		return st
	}
	if _, ok := f.blobs[key]; !ok {
		return f.fail(abi.NotFound, "blob "+strconv.Quote(key)+" not found")
	}
	delete(f.blobs, key)
	return 0
}

type blobJSON struct {
	Key            string `json:"key"`
	Size           int64  `json:"size"`
	ModifiedUnixMS int64  `json:"modified_unix_ms"`
}

func (f *fake) BlobStat(key string, buf []byte) int32 {
	if st, ok := f.checkBlob(key, false); !ok {
		return st
	}
	b, ok := f.blobs[key]
	if !ok {
		return f.fail(abi.NotFound, "blob "+strconv.Quote(key)+" not found")
	}
	out, _ := json.Marshal(blobJSON{Key: key, Size: int64(len(b.data)), ModifiedUnixMS: b.modified.UnixMilli()})
	return copyOut(buf, out)
}

func (f *fake) BlobList(prefix string, buf []byte) int32 {
	if st, ok := f.checkBlob(prefix, true); !ok {
		return st
	}
	list := []blobJSON{}
	for k, b := range f.blobs {
		if strings.HasPrefix(k, prefix) {
			list = append(list, blobJSON{Key: k, Size: int64(len(b.data)), ModifiedUnixMS: b.modified.UnixMilli()})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Key < list[j].Key })
	out, _ := json.Marshal(list)
	return copyOut(buf, out)
}
