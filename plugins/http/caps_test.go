package httpcap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
)

func TestResponseBodyCap(t *testing.T) {
	verifyNoLeaks(t)
	const limit = 64 << 10
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		chunk := bytes.Repeat([]byte("x"), 4096)
		for n > 0 {
			k := min(n, len(chunk))
			w.Write(chunk[:k])
			w.(http.Flusher).Flush()
			n -= k
		}
	})
	c := newClient(t, Config{MaxResponseBytes: limit})
	g := grantFor(srv.URL)
	for _, tc := range []struct {
		name    string
		query   string
		wantN   int64
		wantErr bool
	}{
		{"exactly the cap, known length", "n=65536", limit, false},
		{"exactly the cap, chunked", "n=65536&chunked=1", limit, false},
		{"under the cap", "n=100", 100, false},
		{"over the cap, known length: refused before reading", "n=200000", 0, true},
		{"over the cap, chunked: cut at the cap", "n=200000&chunked=1", limit, true},
		{"one byte over, chunked", "n=65537&chunked=1", limit, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Do(context.Background(), g, Request{URL: srv.URL + "/?" + tc.query})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			if n != tc.wantN {
				t.Errorf("read %d bytes, want %d", n, tc.wantN)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := wantCode(t, err, abi.LimitExceeded, "over the 65536-byte cap")
			if !errors.Is(e, ErrResponseTooLarge) {
				t.Errorf("%v does not wrap ErrResponseTooLarge", e)
			}
		})
	}
}

func TestRequestHeaderCap(t *testing.T) {
	verifyNoLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	c := newClient(t, Config{MaxHeaderBytes: 1024})
	h := http.Header{"X-Big": {strings.Repeat("a", 1100)}}
	_, err := c.Do(context.Background(), grantFor(srv.URL), Request{URL: srv.URL, Header: h})
	e := wantCode(t, err, abi.LimitExceeded, "request headers of 1109 bytes are over the 1024-byte cap")
	if !errors.Is(e, ErrHeadersTooLarge) {
		t.Errorf("%v does not wrap ErrHeadersTooLarge", e)
	}
	if srv.hits.Load() != 0 {
		t.Errorf("server hit %d times", srv.hits.Load())
	}
	// Just under the cap goes through.
	h = http.Header{"X-Big": {strings.Repeat("a", 1000)}}
	if _, err := c.Do(context.Background(), grantFor(srv.URL), Request{URL: srv.URL, Header: h}); err != nil {
		t.Fatal(err)
	}
}

func TestResponseHeaderCap(t *testing.T) {
	verifyNoLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("b", 8192))
	})
	c := newClient(t, Config{MaxHeaderBytes: 4096})
	_, err := c.Do(context.Background(), grantFor(srv.URL), Request{URL: srv.URL})
	e := wantCode(t, err, abi.LimitExceeded, "response headers of GET "+origin(srv.URL))
	if !errors.Is(e, ErrHeadersTooLarge) {
		t.Errorf("%v does not wrap ErrHeadersTooLarge", e)
	}
}

func TestRequestBody(t *testing.T) {
	verifyNoLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("X-Length", strconv.FormatInt(r.ContentLength, 10))
		w.Header().Set("X-TE", strings.Join(r.TransferEncoding, ","))
		w.Write(b)
	})
	c := newClient(t, Config{MaxRequestBytes: 1000})
	g := grantFor(srv.URL)
	post := func(body io.Reader, size int64) (*Response, error) {
		return c.Do(context.Background(), g, Request{Method: "POST", URL: srv.URL, Body: body, BodySize: size})
	}
	read := func(resp *Response) string {
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	resp, err := post(strings.NewReader("hello"), 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(resp); got != "hello" || resp.Header.Get("X-Length") != "5" {
		t.Errorf("known size: %q, length %s", got, resp.Header.Get("X-Length"))
	}
	resp, err = post(iotest.OneByteReader(strings.NewReader("streamed")), -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(resp); got != "streamed" || resp.Header.Get("X-TE") != "chunked" {
		t.Errorf("unknown size: %q, TE %q", got, resp.Header.Get("X-TE"))
	}
	resp, err = post(strings.NewReader(""), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(resp); got != "" || resp.Header.Get("X-Length") != "0" {
		t.Errorf("empty: %q, length %s", got, resp.Header.Get("X-Length"))
	}

	hits := srv.hits.Load()
	_, err = post(strings.NewReader(strings.Repeat("z", 1001)), 1001)
	wantCode(t, err, abi.LimitExceeded, "request body of 1001 bytes is over the 1000-byte cap")
	if srv.hits.Load() != hits {
		t.Error("an over-cap body of known size reached the server")
	}
	_, err = post(strings.NewReader(strings.Repeat("z", 5000)), -1)
	e := wantCode(t, err, abi.LimitExceeded, "request body is over the 1000-byte cap")
	if !errors.Is(e, ErrRequestTooLarge) {
		t.Errorf("%v does not wrap ErrRequestTooLarge", e)
	}

	// A failing source: its code if it has one, else IO_ERROR.
	_, err = post(iotest.ErrReader(errors.New("disk on fire")), -1)
	wantCode(t, err, abi.IOError, "reading the request body: disk on fire")
	_, err = post(iotest.ErrReader(&Error{C: abi.BadHandle, Msg: "handle 3 closed"}), -1)
	wantCode(t, err, abi.BadHandle, "handle 3 closed")
}

// After the exchange ends, the transport never reads the request body
// again, even if the server answered before reading it.
func TestRequestBodyDetached(t *testing.T) {
	verifyNoLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusRequestEntityTooLarge) // answers without reading
	})
	c := newClient(t, Config{})
	src := &countingReader{r: io.LimitReader(zeros{}, 64<<20)}
	resp, err := c.Do(context.Background(), grantFor(srv.URL), Request{Method: "PUT", URL: srv.URL, Body: src, BodySize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	after := src.n.Load()
	if _, err := c.Do(context.Background(), grantFor(srv.URL), Request{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if src.n.Load() != after {
		t.Errorf("body read after Close: %d then %d bytes", after, src.n.Load())
	}
	if resp.Status != 413 {
		t.Errorf("status %d", resp.Status)
	}
}

func TestArgumentValidation(t *testing.T) {
	c := newClient(t, Config{})
	g := grantFor("http://127.0.0.1:1")
	for _, tc := range []struct {
		req  Request
		code abi.Code
		msg  string
	}{
		{Request{Method: "GE T", URL: "http://127.0.0.1:1/"}, abi.InvalidArgument, `method "GE T" is not a valid HTTP token`},
		{Request{Method: "GET\r\n", URL: "http://127.0.0.1:1/"}, abi.InvalidArgument, "not a valid HTTP token"},
		{Request{Method: "CONNECT", URL: "http://127.0.0.1:1/"}, abi.InvalidArgument, "CONNECT is not supported"},
		{Request{URL: "/relative"}, abi.InvalidArgument, "is not absolute"},
		{Request{URL: "127.0.0.1:1/x"}, abi.InvalidArgument, ""},
		{Request{URL: "http:opaque"}, abi.InvalidArgument, "is not absolute"},
		{Request{URL: "http:///nohost"}, abi.InvalidArgument, "has no host"},
		{Request{URL: "http://127.0.0.1:99999/"}, abi.InvalidArgument, "want 1..65535"},
		{Request{URL: "http://[::1/"}, abi.InvalidArgument, "url:"},
		{Request{URL: "http://127.0.0.1:1/", Header: http.Header{"Bad Name": {"v"}}}, abi.InvalidArgument, `header name "Bad Name"`},
		{Request{URL: "http://127.0.0.1:1/", Header: http.Header{"X-Inject": {"a\r\nHost: evil"}}}, abi.InvalidArgument, "control character"},
		{Request{URL: "ftp://127.0.0.1:1/"}, abi.Denied, `scheme "ftp"`},
	} {
		_, err := c.Do(context.Background(), g, tc.req)
		wantCode(t, err, tc.code, tc.msg)
	}
}

func TestRedirects(t *testing.T) {
	verifyNoLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("left"))
		if n == 0 {
			w.Write([]byte("arrived"))
			return
		}
		http.Redirect(w, r, "/?left="+strconv.Itoa(n-1), http.StatusFound)
	})
	c := newClient(t, Config{})
	g := grantFor(srv.URL)
	code, body, err := get(t, c, g, srv.URL+"/?left="+strconv.Itoa(MaxRedirects))
	if err != nil || code != 200 || body != "arrived" {
		t.Fatalf("%d redirects: %d %q %v", MaxRedirects, code, body, err)
	}
	hits := srv.hits.Load()
	_, _, err = get(t, c, g, srv.URL+"/?left="+strconv.Itoa(MaxRedirects+1))
	e := wantCode(t, err, abi.LimitExceeded, "stopped after 10 redirects")
	if !errors.Is(e, ErrTooManyRedirects) {
		t.Errorf("%v does not wrap ErrTooManyRedirects", e)
	}
	if n := srv.hits.Load() - hits; n != MaxRedirects+1 {
		t.Errorf("%d requests, want %d", n, MaxRedirects+1)
	}
}

func TestHTTPSAndHTTP2(t *testing.T) {
	verifyNoLeaks(t)
	srv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		w.Write([]byte("secure"))
	})
	c := newClient(t, Config{TLSClientConfig: tlsConfigFor(srv), Features: policy.Features{CompleteTimeout: true}})
	resp, err := c.Do(context.Background(), grantFor(srv.URL), Request{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "secure" || resp.Header.Get("X-Proto") != "HTTP/2.0" {
		t.Errorf("%q over %s", b, resp.Header.Get("X-Proto"))
	}
	// An untrusted certificate is a network error.
	c2 := newClient(t, Config{})
	_, err = c2.Do(context.Background(), grantFor(srv.URL), Request{URL: srv.URL})
	wantCode(t, err, abi.NetworkError, "certificate")
}

func TestUserAgentAndHeaders(t *testing.T) {
	verifyNoLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-UA", r.UserAgent())
		w.Header()["X-Multi"] = r.Header["X-Multi"]
	})
	c := newClient(t, Config{})
	resp, err := c.Do(context.Background(), grantFor(srv.URL), Request{URL: srv.URL, Header: http.Header{"x-multi": {"1", "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-UA") != "blockhost" || strings.Join(resp.Header["X-Multi"], ",") != "1,2" {
		t.Errorf("headers %v", resp.Header)
	}
	if resp.Size != 0 {
		t.Errorf("size %d", resp.Size)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
