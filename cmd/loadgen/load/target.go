package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beamline/blockhost/host"
)

// Kind classifies the outcome of one send.
type Kind uint8

// Outcomes of a send.
const (
	// KindOK is a step that ended with status success.
	KindOK Kind = iota
	// KindStepError is an admitted step that ended in error, timeout or
	// cancelled (HTTP 200 with such a status).
	KindStepError
	// KindRejected is a step the host would not queue (HTTP 429,
	// host.ErrRejected).
	KindRejected
	// KindFailed is anything else: a transport error, another HTTP status,
	// another Execute error.
	KindFailed
	nKinds
)

var kindNames = [...]string{"ok", "step_error", "rejected", "failed"}

func (k Kind) String() string { return kindNames[k] }

// Outcome is what one send came back with.
type Outcome struct {
	Kind Kind
	// Code is the step's error_code (KindStepError), or a short reason for
	// KindFailed ("HTTP 503", "connection refused", ...).
	Code string
	// Err describes a KindFailed send.
	Err error
}

// Target runs one request. Implementations are safe for concurrent use.
type Target interface {
	Do(ctx context.Context, r *Request) Outcome
	Close() error
}

// HostTarget runs requests in-process with host.Execute.
type HostTarget struct {
	H *host.Host
}

var _ Target = (*HostTarget)(nil)

// Do runs r through Execute. The inputs map is copied per call so that no
// two steps share one.
func (t *HostTarget) Do(ctx context.Context, r *Request) Outcome {
	req := host.StepRequest{Type: r.Type, TimeoutMS: r.TimeoutMS, RetryCount: r.RetryCount,
		Context: host.BlockContext{TenantID: r.Tenant}}
	req.Inputs = make(map[string]string, len(r.Inputs)+1)
	maps.Copy(req.Inputs, r.Inputs)
	if r.PayloadKey != "" {
		req.Inputs[r.PayloadKey] = r.Payload
	}
	if r.Class != "" {
		req.Resources = map[string]string{"class": r.Class}
	}
	res, err := t.H.Execute(ctx, req)
	switch {
	case errors.Is(err, host.ErrRejected):
		return Outcome{Kind: KindRejected, Code: "rejected"}
	case err != nil:
		return Outcome{Kind: KindFailed, Code: shortError(err), Err: err}
	case res.Status == host.StatusSuccess:
		return Outcome{Kind: KindOK}
	}
	return Outcome{Kind: KindStepError, Code: res.ErrorCode.String()}
}

// Close does nothing: the host belongs to the caller.
func (t *HostTarget) Close() error { return nil }

// HTTPTarget posts requests to POST {URL}/v1/steps: JSON for small steps,
// multipart/form-data (a "request" part with the JSON, then the payload as
// a raw part of its own) when the request has a payload.
type HTTPTarget struct {
	url    string
	conns  int
	client *http.Client
	token  string

	mu     sync.Mutex
	bodies map[*Request]*wireBody
}

var _ Target = (*HTTPTarget)(nil)

// wireBody is the encoded form of one Request, built once.
type wireBody struct {
	contentType string
	prefix      []byte // JSON body, or multipart up to the payload
	suffix      []byte // multipart after the payload
	payload     string
}

// NewHTTPTarget returns a target for the blockhost at baseURL
// ("http://127.0.0.1:8080"), keeping up to conns connections open.
func NewHTTPTarget(baseURL, token string, conns int) *HTTPTarget {
	return &HTTPTarget{url: strings.TrimRight(baseURL, "/") + "/v1/steps", conns: conns, client: NewClient(conns), token: token,
		bodies: map[*Request]*wireBody{}}
}

// Connections returns how many connections the target may open: the
// number of open-loop workers that suits it.
func (t *HTTPTarget) Connections() int { return t.conns }

// NewClient returns an HTTP client for load: no proxy, no compression, at
// most conns connections per host (a request beyond them waits for one,
// as with wrk's fixed connection count), dial timeout 5 s.
func NewClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        max(conns, 2),
		MaxIdleConnsPerHost: max(conns, 2),
		MaxConnsPerHost:     max(conns, 1),
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}
	return &http.Client{Transport: tr}
}

func (t *HTTPTarget) body(r *Request) (*wireBody, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.bodies[r]; b != nil {
		return b, nil
	}
	wire := map[string]any{"type": r.Type}
	if len(r.Inputs) > 0 {
		wire["inputs"] = r.Inputs
	}
	if r.TimeoutMS > 0 {
		wire["timeout_ms"] = r.TimeoutMS
	}
	if r.RetryCount != nil {
		wire["retry_count"] = *r.RetryCount
	}
	if r.Class != "" {
		wire["resources"] = map[string]string{"class": r.Class}
	}
	if r.Tenant != "" {
		wire["context"] = map[string]string{"tenant_id": r.Tenant}
	}
	js, err := json.Marshal(wire)
	if err != nil {
		return nil, err
	}
	b := &wireBody{contentType: "application/json", prefix: js}
	if r.PayloadKey != "" {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		jw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Disposition": {`form-data; name="request"`},
			"Content-Type":        {"application/json"},
		})
		if err != nil {
			return nil, err
		}
		jw.Write(js)
		if _, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Disposition": {fmt.Sprintf(`form-data; name=%q`, r.PayloadKey)},
			"Content-Type":        {"application/octet-stream"},
		}); err != nil {
			return nil, err
		}
		b.prefix = bytes.Clone(buf.Bytes())
		buf.Reset()
		mw.Close()
		b.suffix = bytes.Clone(buf.Bytes())
		b.payload = r.Payload
		b.contentType = mw.FormDataContentType()
	}
	t.bodies[r] = b
	return b, nil
}

// stepAnswer is the part of a StepResult the load tool reads.
type stepAnswer struct {
	Status    string `json:"status"`
	ErrorCode string `json:"error_code"`
}

// Do posts r and classifies the answer.
func (t *HTTPTarget) Do(ctx context.Context, r *Request) Outcome {
	b, err := t.body(r)
	if err != nil {
		return Outcome{Kind: KindFailed, Code: "encoding", Err: err}
	}
	var body io.Reader = bytes.NewReader(b.prefix)
	size := int64(len(b.prefix))
	if b.payload != "" || b.suffix != nil {
		body = io.MultiReader(body, strings.NewReader(b.payload), bytes.NewReader(b.suffix))
		size += int64(len(b.payload) + len(b.suffix))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, body)
	if err != nil {
		return Outcome{Kind: KindFailed, Code: "request", Err: err}
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", b.contentType)
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	return doHTTP(t.client, req)
}

// doHTTP sends req and classifies the answer: 200 with a StepResult
// (a body without status, as the echo server's, counts as success), 429
// rejected, anything else failed.
func doHTTP(c *http.Client, req *http.Request) Outcome {
	resp, err := c.Do(req)
	if err != nil {
		return Outcome{Kind: KindFailed, Code: shortError(err), Err: err}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		var a stepAnswer
		err := json.NewDecoder(resp.Body).Decode(&a)
		io.Copy(io.Discard, resp.Body)
		if err != nil {
			return Outcome{Kind: KindFailed, Code: "bad answer", Err: err}
		}
		if a.Status == "" || a.Status == string(host.StatusSuccess) {
			return Outcome{Kind: KindOK}
		}
		return Outcome{Kind: KindStepError, Code: a.ErrorCode}
	case http.StatusTooManyRequests:
		io.Copy(io.Discard, resp.Body)
		return Outcome{Kind: KindRejected, Code: "429"}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, resp.Body)
	code := "HTTP " + strconv.Itoa(resp.StatusCode)
	return Outcome{Kind: KindFailed, Code: code, Err: fmt.Errorf("%s: %s", code, bytes.TrimSpace(msg))}
}

// Close closes idle connections.
func (t *HTTPTarget) Close() error {
	t.client.CloseIdleConnections()
	return nil
}

// shortError names an error in a few words, for the per-code counts.
func shortError(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, host.ErrUnknownType):
		return "unknown type"
	case errors.Is(err, host.ErrDraining), errors.Is(err, host.ErrClosed):
		return "draining"
	case errors.Is(err, host.ErrInvalidRequest):
		return "invalid request"
	case errors.Is(err, host.ErrTooLarge):
		return "too large"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "connection reset"):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &ne) && ne.Timeout():
		return "network timeout"
	}
	return "error"
}

// EchoServer is a bare net/http server that answers a JSON POST with its
// body (and any other POST with a small JSON document giving the body's
// size): the ceiling the HTTP API is compared against, driven by the same
// HTTPTarget in the same run.
type EchoServer struct {
	URL string
	srv *http.Server
	ln  net.Listener
}

// StartEcho starts an echo server on a free loopback port.
func StartEcho() (*EchoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if r.Header.Get("Content-Type") != "application/json" {
				b = []byte(`{"status":"success","bytes":` + strconv.Itoa(len(b)) + "}")
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(ln)
	return &EchoServer{URL: "http://" + ln.Addr().String(), srv: srv, ln: ln}, nil
}

// Close stops the server.
func (e *EchoServer) Close() error { return e.srv.Close() }
