// Command conformance_go is the Go SDK's conformance block: it implements
// the table of behaviours of tests/conformance/README.md, selected by the
// input "op", with the SDK's public API only. It doubles as a tour of the
// SDK: inputs whole and by handle, outputs set, streamed and from handles,
// errors with details, log, config, context, buffers, HTTP and blobs.
//
// Build it as any Go block:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o conformance_go.wasm .
package main

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
)

func init() { guest.Register(run) }

func main() {}

// ops maps the input "op" to its behaviour.
var ops = map[string]guest.Handler{
	"echo":    echo,
	"error":   fail,
	"log":     logOp,
	"config":  config,
	"context": contextOp,
	"stream":  stream,
	"buffer":  buffer,
	"http":    httpOp,
	"fs":      fs,
	"abort":   abort,
}

func run(s *guest.Step) error {
	op, _ := s.Input("op")
	if h, ok := ops[op]; ok {
		return h(s)
	}
	return guest.Errorf(abi.InvalidInput, "unknown op %q", op)
}

// echo returns input text, the input keys and all inputs.
func echo(s *guest.Step) error {
	text, err := required(s, "text")
	if err != nil {
		return err
	}
	if err := s.SetOutputBytes("echo", text); err != nil {
		return err
	}
	if err := setJSON(s, "keys", s.InputKeys()); err != nil {
		return err
	}
	return setJSON(s, "inputs", s.Inputs())
}

// fail reports the error the inputs describe. The SDK sends only valid
// details: a code of 0 or outside the table is EXECUTION_FAILED, an HTTP
// status outside 100..599 or a negative retry-after is dropped.
func fail(s *guest.Step) error {
	code := abi.Code(number(s, "code"))
	if via, _ := s.Input("via"); via == "return" {
		return returnCode(code)
	}
	msg, _ := s.Input("message")
	e := &guest.Error{
		Code:       code,
		Message:    msg,
		HTTPStatus: int(number(s, "http_status")),
		RetryAfter: time.Duration(number(s, "retry_after_ms")) * time.Millisecond,
	}
	switch number(s, "retryable") {
	case abi.RetryYes:
		e.Retryable = guest.Retryable()
	case abi.RetryNo:
		e.Retryable = guest.NotRetryable()
	}
	return e
}

// returnCode fails the step the way a block without error_set would: the
// SDK reports the code with an empty message.
func returnCode(code abi.Code) error {
	return &guest.Error{Code: code}
}

func logOp(s *guest.Step) error {
	msg, _ := s.Input("message")
	s.Log(guest.Level(number(s, "level")), msg)
	return nil
}

func config(s *guest.Step) error {
	key, _ := s.Input("key")
	v, ok := s.Config(key)
	if !ok {
		return guest.Errorf(abi.NotFound, "no config key %q", key)
	}
	return s.SetOutput("value", v)
}

func contextOp(s *guest.Step) error {
	for _, k := range []string{abi.CtxTenantID, abi.CtxTraceID, abi.CtxRunID, abi.CtxFlowID, abi.CtxStepID, abi.CtxStepType, abi.CtxAttempt} {
		v, ok := s.ContextValue(k)
		if !ok {
			return guest.Errorf(abi.ExecutionFailed, "context key %q missing", k)
		}
		if err := s.SetOutput(k, v); err != nil {
			return err
		}
	}
	missing := "found"
	if _, ok := s.ContextValue("nope"); !ok {
		missing = strconv.Itoa(int(abi.NotFound.Status()))
	}
	return s.SetOutput("missing", missing)
}

// stream copies input data to two outputs: through the block's memory in
// 64 KiB chunks, and on the host side from a handle.
func stream(s *guest.Step) error {
	in, err := s.InputHandle("data")
	if err != nil {
		return err
	}
	size, err := in.Size()
	if err != nil {
		return err
	}
	out, err := s.OutputWriter("stream")
	if err != nil {
		return err
	}
	if err := pump(out, in); err != nil {
		return err
	}
	again, err := s.InputHandle("data")
	if err != nil {
		return err
	}
	if err := s.SetOutputFromHandle("copy", again); err != nil {
		return err
	}
	return s.SetOutput("size", strconv.FormatInt(size, 10))
}

func buffer(s *guest.Step) error {
	text, _ := s.InputBytes("text")
	b, err := guest.NewBuffer()
	if err != nil {
		return err
	}
	for range 2 {
		if _, err := b.Write(text); err != nil {
			return err
		}
	}
	size, err := b.Size()
	if err != nil {
		return err
	}
	if err := s.SetOutput("size", strconv.FormatInt(size, 10)); err != nil {
		return err
	}
	return s.SetOutputFromHandle("twice", b)
}

// request is the http op's input "request": the JSON of http_request.
type request struct {
	Method           string              `json:"method"`
	URL              string              `json:"url"`
	Headers          map[string][]string `json:"headers"`
	TimeoutMS        int64               `json:"timeout_ms"`
	ConnectTimeoutMS int64               `json:"connect_timeout_ms"`
}

func httpOp(s *guest.Step) error {
	raw, _ := s.InputBytes("request")
	var r request
	if err := json.Unmarshal(raw, &r); err != nil {
		return guest.Errorf(abi.InvalidFormat, "request: %v", err)
	}
	var body guest.Handle
	if _, ok := s.Input("body"); ok {
		h, err := s.InputHandle("body")
		if err != nil {
			return err
		}
		body = h
	}
	resp, err := guest.Do(guest.HTTPRequest{
		Method:         r.Method,
		URL:            r.URL,
		Headers:        r.Headers,
		Timeout:        time.Duration(r.TimeoutMS) * time.Millisecond,
		ConnectTimeout: time.Duration(r.ConnectTimeoutMS) * time.Millisecond,
	}, body)
	if err != nil {
		return err
	}
	meta := struct {
		Status  int                 `json:"status"`
		Headers map[string][]string `json:"headers"`
	}{resp.Status, resp.Headers}
	if err := setJSON(s, "meta", meta); err != nil {
		return err
	}
	out, err := s.OutputWriter("body")
	if err != nil {
		return err
	}
	return pump(out, resp.Body)
}

// blobInfo is blob_stat's JSON.
type blobInfo struct {
	Key            string `json:"key"`
	Size           int64  `json:"size"`
	ModifiedUnixMS int64  `json:"modified_unix_ms"`
}

func infoJSON(i guest.BlobInfo) blobInfo {
	return blobInfo{Key: i.Key, Size: i.Size, ModifiedUnixMS: i.Modified.UnixMilli()}
}

func fs(s *guest.Step) error {
	key, _ := s.Input("key")
	key2, _ := s.Input("key2")
	prefix, _ := s.Input("prefix")

	w, err := guest.BlobOpenWrite(key)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(w, s.InputReader("data"), make([]byte, 64<<10)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}

	in, err := s.InputHandle("data")
	if err != nil {
		return err
	}
	if err := guest.BlobPutFrom(key2, in); err != nil {
		return err
	}

	r, err := guest.BlobOpenRead(key)
	if err != nil {
		return err
	}
	out, err := s.OutputWriter("read")
	if err != nil {
		return err
	}
	if err := pump(out, r); err != nil {
		return err
	}

	st, err := guest.BlobStat(key)
	if err != nil {
		return err
	}
	if err := setJSON(s, "stat", infoJSON(st)); err != nil {
		return err
	}
	list, err := guest.BlobList(prefix)
	if err != nil {
		return err
	}
	infos := make([]blobInfo, 0, len(list))
	for _, i := range list {
		infos = append(infos, infoJSON(i))
	}
	if err := setJSON(s, "list", infos); err != nil {
		return err
	}

	if err := guest.BlobDelete(key2); err != nil {
		return err
	}
	if _, err := guest.BlobStat(key2); !errors.Is(err, guest.ErrNotFound) {
		return guest.Errorf(abi.ExecutionFailed, "blob_stat of a deleted blob: %v", err)
	}
	return s.SetOutput("deleted", "yes")
}

func abort(s *guest.Step) error {
	msg, _ := s.Input("message")
	panic(msg)
}

// pump copies src to dst in 64 KiB chunks through the block's memory and
// closes both; dst's Close commits it.
func pump(dst io.WriteCloser, src io.ReadCloser) error {
	_, err := io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, make([]byte, 64<<10))
	if cerr := src.Close(); err == nil {
		err = cerr
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	return err
}

// onlyReader and onlyWriter hide ReadFrom/WriteTo so io.CopyBuffer uses
// the given buffer.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }

func required(s *guest.Step, key string) ([]byte, error) {
	v, ok := s.InputBytes(key)
	if !ok {
		return nil, guest.Errorf(abi.NotFound, "no input %q", key)
	}
	return v, nil
}

// number reads a decimal input; absent or malformed is 0.
func number(s *guest.Step, key string) int32 {
	v, _ := s.Input(key)
	n, _ := strconv.ParseInt(v, 10, 32)
	return int32(n)
}

func setJSON(s *guest.Step, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.SetOutputBytes(key, b)
}
