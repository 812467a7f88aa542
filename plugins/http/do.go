package httpcap

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// userAgent is sent when the block sets no User-Agent.
const userAgent = "blockhost"

// exchange is one call of Do: what the dialer, the breaker round tripper
// and the body readers need to know about it. It travels in the request's
// context (the transport keeps context values when it detaches a dial from
// the request's cancellation).
type exchange struct {
	parent   context.Context // the step's context, as given to Do
	rctx     context.Context // parent + the total timeout
	cancel   context.CancelFunc
	connect  time.Duration // 0: no separate connect timeout (CP1)
	total    time.Duration
	method   string
	endpoint string // of the original URL, for messages
	body     *requestBody
}

type exchangeKey struct{}

func exchangeOf(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// Do performs req for a block holding grant, under ctx (the step's context:
// its cancellation and deadline end the request, body transfer included).
// See Error for the codes of its failures. A response of any status is a
// success; the caller must close its Body.
func (c *Client) Do(ctx context.Context, grant sandbox.HTTPGrant, req Request) (*Response, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if err := checkMethod(method); err != nil {
		return nil, err
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, invalid("url: " + stripURLErr(err))
	}
	if !u.IsAbs() || u.Opaque != "" {
		return nil, invalid("url " + strconv.Quote(u.Redacted()) + " is not absolute: want http://host/... or https://host/...")
	}
	u.Fragment, u.RawFragment = "", ""
	ep, err := sandbox.ParseEndpoint(u)
	if err != nil {
		return nil, egressErr(err)
	}
	if req.Timeout < 0 || req.ConnectTimeout < 0 {
		return nil, invalid("timeouts must not be negative")
	}
	if err := c.checkHeader(req.Header); err != nil {
		return nil, err
	}
	if req.Body != nil && req.BodySize > c.cfg.MaxRequestBytes {
		return nil, &Error{C: abi.LimitExceeded, Err: ErrRequestTooLarge,
			Msg: "request body of " + strconv.FormatInt(req.BodySize, 10) + " bytes is over the " + strconv.FormatInt(c.cfg.MaxRequestBytes, 10) + "-byte cap"}
	}

	eg, err := sandbox.NewEgress(grant)
	if err != nil {
		return nil, &Error{C: abi.Denied, Msg: "egress denied: invalid HTTP grant: " + err.Error(), Err: err}
	}
	if err := eg.CheckEndpoint(ep); err != nil {
		return nil, egressErr(err)
	}

	x := &exchange{parent: ctx, method: method, endpoint: ep.String()}
	x.connect, x.total = c.timeouts(req)
	if ctx.Err() != nil {
		return nil, x.classify(context.Cause(ctx))
	}
	rctx, cancel := context.WithTimeoutCause(ctx, x.total, ErrRequestTimeout)
	x.rctx, x.cancel = context.WithValue(rctx, exchangeKey{}, x), cancel

	// Built from the parsed URL rather than re-parsed by NewRequest.
	hreq := (&http.Request{
		Method: method, URL: u, Host: u.Host, Header: cloneHeader(req.Header),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}).WithContext(x.rctx)
	if _, ok := hreq.Header["User-Agent"]; !ok {
		hreq.Header["User-Agent"] = []string{userAgent}
	}
	if req.Body != nil && req.BodySize != 0 {
		x.body = &requestBody{src: req.Body, limit: c.cfg.MaxRequestBytes}
		hreq.Body = x.body
		hreq.ContentLength = req.BodySize
		if req.BodySize < 0 {
			hreq.ContentLength = -1 // unknown: sent chunked
		}
	}

	rt := c.pubRT
	if eg.AllowPrivate() {
		rt = c.privRT
	}
	hc := http.Client{
		Transport: rt,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return &Error{C: abi.LimitExceeded, Err: ErrTooManyRedirects,
					Msg: "stopped after " + strconv.Itoa(MaxRedirects) + " redirects (" + x.endpoint + ")"}
			}
			return eg.CheckURL(r.URL)
		},
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		x.end()
		return nil, x.classify(err)
	}
	return &Response{
		Status: resp.StatusCode,
		Header: resp.Header,
		Body:   &responseBody{x: x, rc: resp.Body, size: resp.ContentLength, left: c.cfg.MaxResponseBytes, limit: c.cfg.MaxResponseBytes},
		Size:   resp.ContentLength,
	}, nil
}

// end releases the exchange: the request body is no longer read, the total
// timeout's timer is stopped. Idempotent.
func (x *exchange) end() {
	if x.body != nil {
		x.body.detach()
	}
	x.cancel()
}

// timeouts returns the connect (0 with CP2 complete timeout off) and total
// timeouts of req within the operator's maxima.
func (c *Client) timeouts(req Request) (connect, total time.Duration) {
	total = c.cfg.TotalTimeout
	if req.Timeout > 0 {
		total = min(req.Timeout, c.cfg.MaxTotalTimeout)
	}
	if !c.cfg.Features.CompleteTimeout {
		return 0, total
	}
	connect = c.cfg.ConnectTimeout
	if req.ConnectTimeout > 0 {
		connect = min(req.ConnectTimeout, c.cfg.MaxConnectTimeout)
	}
	return connect, total
}

func invalid(msg string) *Error {
	return &Error{C: abi.InvalidArgument, Msg: msg}
}

func egressErr(err error) *Error {
	if errors.Is(err, sandbox.ErrEgressDenied) {
		return &Error{C: abi.Denied, Msg: err.Error(), Err: err}
	}
	return &Error{C: abi.InvalidArgument, Msg: err.Error(), Err: err}
}

// stripURLErr drops the url.Error wrapper (whose text repeats the URL,
// possibly with credentials in it).
func stripURLErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// checkMethod accepts an RFC 9110 token other than CONNECT.
func checkMethod(m string) error {
	if !validToken(m) {
		return invalid("method " + strconv.Quote(m) + " is not a valid HTTP token")
	}
	if m == http.MethodConnect {
		return invalid("method CONNECT is not supported")
	}
	return nil
}

// checkHeader validates names and values and caps the headers' size.
func (c *Client) checkHeader(h http.Header) error {
	size := 0
	for k, vs := range h {
		if !validToken(k) {
			return invalid("header name " + strconv.Quote(k) + " is not a valid HTTP token")
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				return invalid("header " + k + ": value contains a control character")
			}
			size += len(k) + len(v) + 4 // "k: v\r\n"
		}
	}
	if size > c.cfg.MaxHeaderBytes {
		return &Error{C: abi.LimitExceeded, Err: ErrHeadersTooLarge,
			Msg: "request headers of " + strconv.Itoa(size) + " bytes are over the " + strconv.Itoa(c.cfg.MaxHeaderBytes) + "-byte cap"}
	}
	return nil
}

// cloneHeader copies h with canonical keys.
func cloneHeader(h http.Header) http.Header {
	out := make(http.Header, len(h)+1)
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		out[ck] = append(out[ck], vs...)
	}
	return out
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isTchar reports RFC 9110 tchar: "!#$%&'*+-.^_`|~", digits and letters.
func isTchar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
}

// validHeaderValue refuses control characters other than horizontal tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// classify turns an error of the exchange (from the transport, the
// redirect check, the dialer or a body) into an *Error; see Error for the
// rules.
func (x *exchange) classify(err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	target := x.method + " " + x.endpoint
	if x.parent.Err() != nil {
		cause := context.Cause(x.parent)
		if errors.Is(x.parent.Err(), context.DeadlineExceeded) {
			msg := "step deadline: " + target
			if cause != context.DeadlineExceeded {
				msg += " (" + cause.Error() + ")"
			}
			return &Error{C: abi.Cancelled, Msg: msg, Err: cause}
		}
		return &Error{C: abi.Cancelled, Msg: "cancelled: " + target + ": " + cause.Error(), Err: cause}
	}
	var ee *sandbox.EgressError
	if errors.As(err, &ee) {
		return &Error{C: abi.Denied, Msg: ee.Error(), Err: ee}
	}
	var oe *policy.OpenError
	if errors.As(err, &oe) {
		return &Error{C: abi.CircuitOpen, Msg: oe.Error(), Err: oe}
	}
	if b := x.body; b != nil {
		if e := b.failure(); e != nil {
			return e
		}
	}
	var cte *connectTimeoutError
	if errors.As(err, &cte) {
		return &Error{C: abi.ConnectionTimeout, Msg: cte.Error(), Err: cte}
	}
	if x.rctx != nil && x.rctx.Err() != nil && context.Cause(x.rctx) == ErrRequestTimeout {
		return &Error{C: abi.NetworkError, Msg: "request timed out after " + x.total.String() + ": " + target, Err: ErrRequestTimeout}
	}
	msg := stripURLErr(err)
	if strings.Contains(msg, "response headers exceeded") || strings.Contains(msg, "header list larger than") {
		// net/http reports this with an untyped error.
		return &Error{C: abi.LimitExceeded, Msg: "response headers of " + target + " are over the cap: " + msg, Err: errors.Join(ErrHeadersTooLarge, err)}
	}
	return &Error{C: abi.NetworkError, Msg: target + ": " + msg, Err: err}
}

// breakerFailure reports whether err counts as a failure of the endpoint's
// breaker: network errors, connect and total timeouts, and the step's
// deadline passing while waiting for the endpoint do; a step cancelled by
// its caller, an egress refusal, a cap or a failing request-body source
// say nothing about the endpoint and count as successes (the breaker has no
// neutral outcome; a success only resets the consecutive-failure count).
func (x *exchange) breakerFailure(err error) bool {
	e := x.classify(err)
	switch e.C {
	case abi.NetworkError, abi.ConnectionTimeout:
		return true
	case abi.Cancelled:
		return errors.Is(x.parent.Err(), context.DeadlineExceeded)
	}
	return false
}
