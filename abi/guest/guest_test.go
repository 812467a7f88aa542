package guest_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/abi/guest"
	"github.com/beamline/blockhost/abi/guest/guesttest"
	"github.com/beamline/blockhost/abi/guest/internal/hostabi"
)

func mustSucceed(t *testing.T, res guesttest.Result) {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("step failed: %v (logs %v)", res.Err, res.Logs)
	}
}

func wantCode(t *testing.T, res guesttest.Result, code abi.Code) {
	t.Helper()
	if res.Err == nil {
		t.Fatalf("step succeeded, want %v", code)
	}
	if res.Err.Code != code {
		t.Fatalf("code = %v (%q), want %v", res.Err.Code, res.Err.Message, code)
	}
}

func TestInput(t *testing.T) {
	res := guesttest.Run(func(s *guest.Step) error {
		v, ok := s.Input("a")
		if !ok || v != "alpha" {
			return fmt.Errorf("Input(a) = %q, %v", v, ok)
		}
		if v, ok := s.Input("empty"); !ok || v != "" {
			return fmt.Errorf("Input(empty) = %q, %v", v, ok)
		}
		if _, ok := s.Input("missing"); ok {
			return errors.New("Input(missing) found")
		}
		b, ok := s.InputBytes("a")
		if !ok || string(b) != "alpha" {
			return fmt.Errorf("InputBytes(a) = %q, %v", b, ok)
		}
		for _, n := range []int{511, 512, 513, 5000} {
			want := strings.Repeat("v", n)
			if v, ok := s.Input(fmt.Sprint("len", n)); !ok || v != want {
				return fmt.Errorf("Input(len%d) = %d bytes, %v", n, len(v), ok)
			}
			if b, ok := s.InputBytes(fmt.Sprint("len", n)); !ok || string(b) != want {
				return fmt.Errorf("InputBytes(len%d) = %d bytes, %v", n, len(b), ok)
			}
		}
		if _, ok := s.InputBytes("missing"); ok {
			return errors.New("InputBytes(missing) found")
		}
		if _, ok := s.Input(strings.Repeat("k", abi.MaxKeyLen+1)); ok {
			return errors.New("over-long key found")
		}
		return nil
	}, guesttest.Step{Inputs: map[string]string{
		"a": "alpha", "empty": "",
		"len511": strings.Repeat("v", 511), "len512": strings.Repeat("v", 512),
		"len513": strings.Repeat("v", 513), "len5000": strings.Repeat("v", 5000),
	}})
	mustSucceed(t, res)
}

func TestCopyOutRetriesWithSmallBuffer(t *testing.T) {
	defer guest.SetScratchSize(4)()
	long := strings.Repeat("x", 1000)
	inputs := map[string]string{"k1": long, "k2": "v", "zzzzzzzz": "y"}
	res := guesttest.Run(func(s *guest.Step) error {
		keys := s.InputKeys()
		if strings.Join(keys, ",") != "k1,k2,zzzzzzzz" {
			return fmt.Errorf("InputKeys = %q", keys)
		}
		all := s.Inputs()
		if len(all) != 3 || all["k1"] != long {
			return fmt.Errorf("Inputs = %d keys", len(all))
		}
		if v, ok := s.Config("c"); !ok || v != long {
			return fmt.Errorf("Config(c) = %d bytes, %v", len(v), ok)
		}
		if _, ok := s.Config("nope"); ok {
			return errors.New("Config(nope) found")
		}
		ctx := s.Context()
		if ctx.TraceID != long || ctx.TenantID != "t1" || ctx.Attempt != 2 || ctx.StepType != "x.y" {
			return fmt.Errorf("Context = %+v", ctx)
		}
		if _, ok := s.ContextValue("nope"); ok {
			return errors.New("ContextValue(nope) found")
		}
		return nil
	}, guesttest.Step{
		Inputs:  inputs,
		Config:  map[string]string{"c": long},
		Context: guest.Context{TenantID: "t1", TraceID: long, StepType: "x.y", Attempt: 2},
	})
	mustSucceed(t, res)
}

func TestScratchShrinksAfterLargeValue(t *testing.T) {
	big := strings.Repeat("b", 1<<20)
	res := guesttest.Run(func(s *guest.Step) error {
		if v, _ := s.Config("big"); len(v) != len(big) {
			return fmt.Errorf("Config(big) = %d bytes", len(v))
		}
		return nil
	}, guesttest.Step{Config: map[string]string{"big": big}})
	mustSucceed(t, res)
	if c := guest.ScratchCap(); c > 64<<10 {
		t.Fatalf("scratch kept %d bytes after the step", c)
	}
}

func TestLargeInputChunked(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	res := guesttest.Run(func(s *guest.Step) error {
		b, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(s.InputReader("big"), 10)))
		if err != nil || string(b) != "0123456789" {
			return fmt.Errorf("first bytes %q, %v", b, err)
		}
		b, err = io.ReadAll(s.InputReader("big"))
		if err != nil || !bytes.Equal(b, big) {
			return fmt.Errorf("ReadAll: %d bytes, %v", len(b), err)
		}
		buf := make([]byte, 7)
		r := s.InputReader("big")
		total := 0
		for {
			n, err := r.Read(buf)
			total += n
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		if total != len(big) {
			return fmt.Errorf("7-byte reads got %d bytes", total)
		}
		if _, err := s.InputReader("missing").Read(buf); !errors.Is(err, guest.ErrNotFound) {
			return fmt.Errorf("missing input read: %v", err)
		}
		if b, ok := s.InputBytes("big"); !ok || !bytes.Equal(b, big) {
			return fmt.Errorf("InputBytes: %d bytes", len(b))
		}
		return s.SetOutputBytes("n", []byte(fmt.Sprint(total)))
	}, guesttest.Step{Inputs: map[string]string{"big": string(big)}})
	mustSucceed(t, res)
}

func TestErrors(t *testing.T) {
	wrapped := fmt.Errorf("calling upstream: %w", &guest.Error{Code: abi.NetworkError, Message: "reset"})
	hostErr := fmt.Errorf("reading: %w", &guest.HostError{Code: abi.CircuitOpen, Op: "http_request", Detail: "circuit open: example.com"})
	tests := []struct {
		name    string
		err     error
		code    abi.Code
		message string
		check   func(*guest.Error) error
	}{
		{"plain", errors.New("boom"), abi.ExecutionFailed, "boom", nil},
		{"errorf", guest.Errorf(abi.MissingRequiredField, "input %q is required", "text"), abi.MissingRequiredField, `input "text" is required`, nil},
		{"wrapped", wrapped, abi.NetworkError, "calling upstream: NETWORK_ERROR: reset", nil},
		{"host error", hostErr, abi.CircuitOpen, "reading: blockhost: http_request: CIRCUIT_OPEN: circuit open: example.com", nil},
		{"zero code", &guest.Error{Message: "m"}, abi.ExecutionFailed, "m", nil},
		{"unknown code", &guest.Error{Code: 4242, Message: "m"}, abi.ExecutionFailed, "m", nil},
		{"full", &guest.Error{Code: abi.HTTPError, Message: "upstream 503", HTTPStatus: 503, RetryAfter: 1500*time.Millisecond + 1, Retryable: guest.Retryable()},
			abi.HTTPError, "upstream 503", func(e *guest.Error) error {
				if e.HTTPStatus != 503 || e.RetryAfter != 1501*time.Millisecond || e.Retryable == nil || !*e.Retryable {
					return fmt.Errorf("got %+v", e)
				}
				return nil
			}},
		{"not retryable, bad status", &guest.Error{Code: abi.InvalidInput, HTTPStatus: 42, Retryable: guest.NotRetryable()},
			abi.InvalidInput, "", func(e *guest.Error) error {
				if e.HTTPStatus != 0 || e.Retryable == nil || *e.Retryable {
					return fmt.Errorf("got %+v", e)
				}
				return nil
			}},
		{"long message", errors.New(strings.Repeat("é", abi.MaxMessageLen)), abi.ExecutionFailed, strings.Repeat("é", abi.MaxMessageLen/2), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := guesttest.Run(func(*guest.Step) error { return tt.err }, guesttest.Step{})
			wantCode(t, res, tt.code)
			if res.Return != int32(tt.code) {
				t.Errorf("entry point returned %d, want %d", res.Return, tt.code)
			}
			if res.Err.Message != tt.message {
				t.Errorf("message = %q, want %q", res.Err.Message, tt.message)
			}
			if tt.check != nil {
				if err := tt.check(res.Err); err != nil {
					t.Error(err)
				}
			}
			if got := guest.CodeOf(tt.err); got != tt.code {
				t.Errorf("CodeOf = %v, want %v", got, tt.code)
			}
		})
	}
	if guest.CodeOf(nil) != abi.None {
		t.Error("CodeOf(nil) != None")
	}
}

func TestErrorStrings(t *testing.T) {
	if s := guest.Errorf(abi.InvalidInput, "bad %d", 1).Error(); s != "INVALID_INPUT: bad 1" {
		t.Errorf("Error() = %q", s)
	}
	if s := (&guest.HostError{Code: abi.NotFound, Op: "input_open", Detail: `input "x" not found`}).Error(); s != `blockhost: input_open: NOT_FOUND: input "x" not found` {
		t.Errorf("HostError.Error() = %q", s)
	}
	if s := guest.ErrDenied.Error(); s != "blockhost: DENIED" {
		t.Errorf("sentinel Error() = %q", s)
	}
}

func TestPanicRecovered(t *testing.T) {
	for _, v := range []any{"boom", errors.New("boom"), 42} {
		res := guesttest.Run(func(*guest.Step) error { panic(v) }, guesttest.Step{})
		wantCode(t, res, abi.ExecutionFailed)
		if want := "panic: " + fmt.Sprint(v); res.Err.Message != want {
			t.Errorf("message = %q, want %q", res.Err.Message, want)
		}
		if r := res.Err.Retryable; r == nil || *r {
			t.Errorf("retryable = %v, want an explicit no: a panic is not retried", r)
		}
		if len(res.Logs) != 1 || res.Logs[0].Level != guest.LevelError || !strings.Contains(res.Logs[0].Message, "guest_test.TestPanicRecovered") {
			t.Errorf("logs = %+v, want the stack at error level", res.Logs)
		}
	}
	var nilMap map[string]int
	res := guesttest.Run(func(*guest.Step) error { nilMap["x"] = 1; return nil }, guesttest.Step{})
	wantCode(t, res, abi.ExecutionFailed)
	if !strings.Contains(res.Err.Message, "panic: assignment to entry in nil map") {
		t.Errorf("message = %q", res.Err.Message)
	}
	// The SDK is usable after a panic.
	mustSucceed(t, guesttest.Run(func(s *guest.Step) error { return s.SetOutput("ok", "yes") }, guesttest.Step{}))
}

func TestOutputs(t *testing.T) {
	res := guesttest.Run(func(s *guest.Step) error {
		if err := s.SetOutput("a", "1"); err != nil {
			return err
		}
		if err := s.SetOutput("a", "2"); err != nil { // replaces
			return err
		}
		if err := s.SetOutputBytes("b", []byte("bee")); err != nil {
			return err
		}
		w, err := s.OutputWriter("c")
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, strings.NewReader("streamed")); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		h, err := s.InputHandle("in")
		if err != nil {
			return err
		}
		if err := s.SetOutputFromHandle("d", h); err != nil {
			return err
		}
		if _, err := h.Read(make([]byte, 1)); !errors.Is(err, guest.ErrBadHandle) {
			return fmt.Errorf("read after output_from_handle: %v, want BAD_HANDLE", err)
		}
		if err := s.SetOutput("", "x"); !errors.Is(err, guest.ErrInvalidArgument) {
			return fmt.Errorf("empty key: %v", err)
		}
		// Left open: the host commits it at the end of the step.
		w2, err := s.OutputWriter("e")
		if err != nil {
			return err
		}
		_, err = io.WriteString(w2, "late")
		return err
	}, guesttest.Step{Inputs: map[string]string{"in": "from input"}})
	mustSucceed(t, res)
	want := map[string]string{"a": "2", "b": "bee", "c": "streamed", "d": "from input", "e": "late"}
	if fmt.Sprint(res.Outputs) != fmt.Sprint(want) {
		t.Fatalf("outputs = %v, want %v", res.Outputs, want)
	}
}

func TestOutputCap(t *testing.T) {
	limits := guesttest.Limits{MaxOutputBytes: 100}
	res := guesttest.Run(func(s *guest.Step) error {
		if err := s.SetOutput("k", strings.Repeat("x", 90)); err != nil {
			return err
		}
		err := s.SetOutput("k2", strings.Repeat("x", 20))
		if !errors.Is(err, guest.ErrLimitExceeded) {
			return fmt.Errorf("over the cap: %v", err)
		}
		var he *guest.HostError
		if !errors.As(err, &he) || he.Op != abi.FnOutputSet || !strings.Contains(he.Detail, "output limit") {
			return fmt.Errorf("host error %+v", he)
		}
		return nil // the host fails the step anyway
	}, guesttest.Step{Limits: limits})
	wantCode(t, res, abi.QuotaExceeded)
	if res.Return != 0 {
		t.Errorf("entry point returned %d", res.Return)
	}

	res = guesttest.Run(func(s *guest.Step) error {
		w, _ := s.OutputWriter("w")
		_, err := w.Write(make([]byte, 200))
		return err
	}, guesttest.Step{Limits: limits})
	wantCode(t, res, abi.LimitExceeded) // the block reported the host error itself
	if res.Err.Code.Wire() != abi.QuotaExceeded {
		t.Errorf("wire code %v", res.Err.Code.Wire())
	}
}

func TestHandles(t *testing.T) {
	res := guesttest.Run(func(s *guest.Step) error {
		b, err := guest.NewBuffer()
		if err != nil {
			return err
		}
		if _, err := b.Write([]byte("hello, handle")); err != nil {
			return err
		}
		if n, err := b.Size(); err != nil || n != 13 {
			return fmt.Errorf("Size = %d, %v", n, err)
		}
		got, err := io.ReadAll(b)
		if err != nil || string(got) != "hello, handle" {
			return fmt.Errorf("ReadAll = %q, %v", got, err)
		}
		if err := b.Close(); err != nil {
			return err
		}
		if err := b.Close(); !errors.Is(err, guest.ErrBadHandle) {
			return fmt.Errorf("second Close: %v", err)
		}
		in, err := s.InputHandle("in")
		if err != nil {
			return err
		}
		if _, err := in.Write([]byte("x")); !errors.Is(err, guest.ErrBadHandle) {
			return fmt.Errorf("write to input handle: %v", err)
		}
		got, err = io.ReadAll(in) // ReadChunk makes every read short
		if err != nil || string(got) != "abcdefghij" {
			return fmt.Errorf("chunked ReadAll = %q, %v", got, err)
		}
		if _, err := s.InputHandle("missing"); !errors.Is(err, guest.ErrNotFound) {
			return fmt.Errorf("missing input handle: %v", err)
		}
		var opened []guest.Handle
		for {
			h, err := guest.NewBuffer()
			if err != nil {
				if !errors.Is(err, guest.ErrLimitExceeded) {
					return fmt.Errorf("handle limit: %v", err)
				}
				break
			}
			opened = append(opened, h)
		}
		if len(opened) != 63 { // "in" is still open
			return fmt.Errorf("opened %d buffers, want 63", len(opened))
		}
		opened[0].Close()
		if _, err := guest.NewBuffer(); err != nil {
			return fmt.Errorf("after a close: %v", err)
		}
		return nil
	}, guesttest.Step{Inputs: map[string]string{"in": "abcdefghij"}, Limits: guesttest.Limits{ReadChunk: 3}})
	mustSucceed(t, res)
}

func TestBufferCap(t *testing.T) {
	res := guesttest.Run(func(s *guest.Step) error {
		a, _ := guest.NewBuffer()
		if _, err := a.Write(make([]byte, 80)); err != nil {
			return err
		}
		b, _ := guest.NewBuffer()
		if _, err := b.Write(make([]byte, 30)); !errors.Is(err, guest.ErrLimitExceeded) {
			return fmt.Errorf("over the buffer cap: %v", err)
		}
		if _, err := io.ReadFull(a, make([]byte, 40)); err != nil {
			return err
		}
		if _, err := b.Write(make([]byte, 30)); err != nil {
			return fmt.Errorf("after reading 40: %v", err)
		}
		a.Close()
		if _, err := b.Write(make([]byte, 60)); err != nil {
			return fmt.Errorf("after closing a: %v", err)
		}
		return nil
	}, guesttest.Step{Limits: guesttest.Limits{MaxOutputBytes: 100}})
	mustSucceed(t, res)
}

func TestLog(t *testing.T) {
	res := guesttest.Run(func(s *guest.Step) error {
		s.Debugf("d%d", 1)
		s.Infof("i")
		s.Warnf("w")
		s.Errorf("e")
		s.Log(guest.LevelInfo, strings.Repeat("x", 100))
		s.Log(guest.LevelInfo, "dropped")
		return nil
	}, guesttest.Step{Limits: guesttest.Limits{MaxLogBytes: 50}})
	mustSucceed(t, res)
	want := []guesttest.Log{
		{Level: guest.LevelDebug, Message: "d1"}, {Level: guest.LevelInfo, Message: "i"},
		{Level: guest.LevelWarn, Message: "w"}, {Level: guest.LevelError, Message: "e"},
		{Level: guest.LevelInfo, Message: strings.Repeat("x", 45)}, {Level: guest.LevelWarn, Message: "[blockhost: log truncated]"},
	}
	if fmt.Sprint(res.Logs) != fmt.Sprint(want) || !res.LogTruncated {
		t.Fatalf("logs = %v (truncated %v), want %v", res.Logs, res.LogTruncated, want)
	}
}

func TestLogExactlyAtCap(t *testing.T) {
	res := guesttest.Run(func(s *guest.Step) error {
		s.Log(guest.LevelInfo, "12345")
		s.Log(guest.LevelInfo, "6")
		s.Log(guest.LevelInfo, "7")
		return nil
	}, guesttest.Step{Limits: guesttest.Limits{MaxLogBytes: 5}})
	want := []guesttest.Log{{Level: guest.LevelInfo, Message: "12345"}, {Level: guest.LevelWarn, Message: "[blockhost: log truncated]"}}
	if fmt.Sprint(res.Logs) != fmt.Sprint(want) || !res.LogTruncated {
		t.Fatalf("logs = %v (truncated %v), want %v", res.Logs, res.LogTruncated, want)
	}
}

func TestHTTP(t *testing.T) {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%s %s %s", r.URL.Path, r.Header.Get("X-Token"), body)
	})
	handler := func(s *guest.Step) error {
		body, err := guest.NewBuffer()
		if err != nil {
			return err
		}
		io.WriteString(body, "payload")
		resp, err := guest.Do(guest.HTTPRequest{
			Method: "POST", URL: "http://upstream.test/p",
			Headers: map[string][]string{"X-Token": {"t"}}, Timeout: time.Second,
		}, body)
		if err != nil {
			return err
		}
		if _, err := body.Read(make([]byte, 1)); !errors.Is(err, guest.ErrBadHandle) {
			return fmt.Errorf("body not consumed: %v", err)
		}
		if resp.Status != 201 || resp.Headers["X-Method"][0] != "POST" {
			return fmt.Errorf("response %+v", resp)
		}
		if err := s.SetOutputFromHandle("body", resp.Body); err != nil {
			return err
		}
		_, err = guest.Do(guest.HTTPRequest{URL: "ftp://x"}, guest.NoBody)
		if !errors.Is(err, guest.ErrInvalidArgument) {
			return fmt.Errorf("bad url: %v", err)
		}
		return nil
	}
	res := guesttest.Run(handler, guesttest.Step{HTTP: upstream})
	mustSucceed(t, res)
	if res.Outputs["body"] != "/p t payload" {
		t.Fatalf("body = %q", res.Outputs["body"])
	}
	res = guesttest.Run(func(*guest.Step) error {
		_, err := guest.Do(guest.HTTPRequest{URL: "http://x.test/"}, guest.NoBody)
		return err
	}, guesttest.Step{})
	wantCode(t, res, abi.Denied)
	if res.Err.Code.Wire() != abi.PermissionDenied || !strings.Contains(res.Err.Message, "HTTP capability not granted") {
		t.Errorf("denied: %+v", res.Err)
	}
}

func TestBlobs(t *testing.T) {
	res := guesttest.Run(func(s *guest.Step) error {
		w, err := guest.BlobOpenWrite("dir/a")
		if err != nil {
			return err
		}
		io.WriteString(w, "aaa")
		if _, err := guest.BlobStat("dir/a"); !errors.Is(err, guest.ErrNotFound) {
			return fmt.Errorf("blob visible before commit: %v", err)
		}
		if err := w.Close(); err != nil {
			return err
		}
		in, _ := s.InputHandle("data")
		if err := guest.BlobPutFrom("dir/b", in); err != nil {
			return err
		}
		info, err := guest.BlobStat("dir/a")
		if err != nil || info.Key != "dir/a" || info.Size != 3 || time.Since(info.Modified) > time.Minute {
			return fmt.Errorf("stat = %+v, %v", info, err)
		}
		list, err := guest.BlobList("dir/")
		if err != nil || len(list) != 2 || list[0].Key != "dir/a" || list[1].Key != "dir/b" || list[1].Size != 4 {
			return fmt.Errorf("list = %+v, %v", list, err)
		}
		r, err := guest.BlobOpenRead("old")
		if err != nil {
			return err
		}
		if err := s.SetOutputFromHandle("old", r); err != nil {
			return err
		}
		if err := guest.BlobDelete("old"); err != nil {
			return err
		}
		if err := guest.BlobDelete("old"); !errors.Is(err, guest.ErrNotFound) {
			return fmt.Errorf("second delete: %v", err)
		}
		if _, err := guest.BlobOpenRead("../etc/passwd"); !errors.Is(err, guest.ErrDenied) {
			return fmt.Errorf("escape: %v", err)
		}
		return nil
	}, guesttest.Step{Inputs: map[string]string{"data": "bbbb"}, Blobs: map[string][]byte{"old": []byte("kept")}})
	mustSucceed(t, res)
	if res.Outputs["old"] != "kept" || string(res.Blobs["dir/a"]) != "aaa" || string(res.Blobs["dir/b"]) != "bbbb" || res.Blobs["old"] != nil {
		t.Fatalf("outputs %v, blobs %q", res.Outputs, res.Blobs)
	}
	res = guesttest.Run(func(*guest.Step) error { _, err := guest.BlobList(""); return err }, guesttest.Step{})
	wantCode(t, res, abi.Denied)
}

func TestRegister(t *testing.T) {
	defer guest.Unregister()
	res := guesttest.Run(nil, guesttest.Step{})
	wantCode(t, res, abi.ExecutionFailed)
	if !strings.Contains(res.Err.Message, "no handler registered") {
		t.Errorf("message = %q", res.Err.Message)
	}
	guest.Register(func(s *guest.Step) error { return s.SetOutput("registered", "yes") })
	mustSucceed(t, guesttest.Run(nil, guesttest.Step{}))
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Register called twice") {
			t.Errorf("second Register: recovered %v", r)
		}
	}()
	guest.Register(func(*guest.Step) error { return nil })
}

func TestOutsideAStep(t *testing.T) {
	if _, err := guest.NewBuffer(); !errors.Is(err, guest.ErrUnsupported) || !strings.Contains(err.Error(), "guesttest.Run") {
		t.Fatalf("NewBuffer outside a step: %v", err)
	}
}

// strictHost fails the test on any host call but error_set and log.
type strictHost struct {
	hostabi.Host // nil: any other call panics
	t            *testing.T
	calls        int
}

func (h *strictHost) ErrorSet(code int32, msg string, _, _, _ int32) int32 {
	h.t.Errorf("error_set(%d, %q)", code, msg)
	return 0
}

func (h *strictHost) Log(level int32, msg string) int32 {
	h.t.Errorf("log(%d, %q)", level, msg)
	return 0
}

func TestEmptyHandlerCallsNothing(t *testing.T) {
	h := &strictHost{t: t}
	if ret := guest.RunWith(h, func(*guest.Step) error { return nil }); ret != 0 {
		t.Fatalf("returned %d", ret)
	}
}

func BenchmarkEmptyHandler(b *testing.B) {
	h := &strictHost{}
	handler := guest.Handler(func(*guest.Step) error { return nil })
	b.ReportAllocs()
	for b.Loop() {
		guest.RunWith(h, handler)
	}
}
