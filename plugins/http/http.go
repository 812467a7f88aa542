// Package httpcap is blockhost's HTTP capability (directory plugins/http):
// the client behind the http_request host function, with connect and total
// timeouts, cancellation, per-endpoint circuit breakers, the egress policy
// and size caps.
//
// A request goes through, in order: argument checks (method, URL, headers,
// sizes) → the egress rule of the block's grant (sandbox.Egress) → the
// endpoint's circuit breaker (CP2) → the timeouts → the I/O, all under the
// step's context. Every redirect goes through the egress rule and the
// breaker of its own endpoint again, and every address dialled through the
// private-address guard.
//
// # Errors
//
// Do and reads of Response.Body fail with an *Error whose Code is one of
// (see Error for the exact conditions):
//
//   - abi.InvalidArgument: a malformed method, URL, header or timeout;
//   - abi.Denied: the egress rule (scheme, allow list, private address);
//   - abi.CircuitOpen: the endpoint's breaker is open (no I/O was done);
//   - abi.LimitExceeded: a request body, header or response body cap, or
//     more than MaxRedirects redirects;
//   - abi.ConnectionTimeout: the connect timeout (CP2) fired;
//   - abi.NetworkError: any other network failure, and the request's own
//     total timeout (message "request timed out after X");
//   - abi.Cancelled: the step's context ended, by cancellation or at its
//     deadline (message "step deadline ...");
//   - abi.IOError (or the source's own code): reading the request body
//     failed.
package httpcap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
)

// Defaults of Config.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultTotalTimeout     = 30 * time.Second
	DefaultMaxRequestBytes  = 128 << 20
	DefaultMaxResponseBytes = 128 << 20
	DefaultMaxHeaderBytes   = abi.MaxMetaLen // 64 KiB
	// MaxRedirects is how many redirects a request follows; the next one
	// fails with abi.LimitExceeded.
	MaxRedirects = 10
	// BreakerKind is the kind of the HTTP breakers (policy.BreakerSet.Kind,
	// Config.OnTransition).
	BreakerKind = "http"
)

// Config configures a Client. Zero fields take the default stated on each;
// negative values are refused by New.
type Config struct {
	// Features: CompleteTimeout separates the connect timeout from the
	// total; CircuitBreaker enables per-endpoint breakers. Cancellation
	// needs nothing here: the ctx given to Do is always honoured.
	Features policy.Features
	// ConnectTimeout bounds getting a connection ready: DNS resolution,
	// TCP connect and the TLS handshake together, as one window (5 s). CP2
	// complete timeout only; with the flag off only TotalTimeout applies.
	ConnectTimeout time.Duration
	// TotalTimeout bounds a whole request including the body (30 s).
	TotalTimeout time.Duration
	// MaxConnectTimeout and MaxTotalTimeout cap per-request overrides
	// (default: ConnectTimeout and TotalTimeout, so a request may only
	// shorten them). A larger override is clamped, not refused.
	MaxConnectTimeout time.Duration
	MaxTotalTimeout   time.Duration
	// MaxRequestBytes caps a request body (128 MiB).
	MaxRequestBytes int64
	// MaxResponseBytes caps a response body (128 MiB), after any
	// transparent gzip decoding.
	MaxResponseBytes int64
	// MaxHeaderBytes caps request headers (the sum over fields of
	// len(name)+len(value)+4, checked before sending) and response headers
	// (Transport.MaxResponseHeaderBytes) (64 KiB).
	MaxHeaderBytes int
	// Breaker configures each endpoint's breaker; MaxBreakers bounds how
	// many are tracked (1024). Breaker.OnStateChange, if set, is called as
	// well as OnTransition.
	Breaker     policy.BreakerSettings
	MaxBreakers int
	// OnTransition, when set, is called after every state change of an
	// endpoint's breaker with kind "http" and the endpoint
	// (scheme://host:port). It is never called while a lock is held, one
	// call per breaker at a time, in the order of that breaker's changes.
	OnTransition func(kind, target string, from, to policy.BreakerState)
	// OnEvict, when set, is called when a closed breaker is forgotten to
	// keep at most MaxBreakers (see policy.BreakerSet).
	OnEvict func(kind, target string)
	// Logger receives breaker transitions; nil discards.
	Logger *slog.Logger
	// Resolver resolves host names before every dial, so the addresses
	// actually dialled are checked (net.DefaultResolver). *net.Resolver
	// implements it.
	Resolver Resolver
	// TLSClientConfig is cloned for every https connection (nil: the
	// system roots). Its ServerName, when empty, is set to the URL's host;
	// its NextProtos are replaced with h2 and http/1.1.
	TLSClientConfig *tls.Config
}

// Resolver resolves host names; *net.Resolver implements it. network is
// "ip".
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Request is one request of a block.
type Request struct {
	// Method is an HTTP token (GET when empty); CONNECT is refused.
	Method string
	// URL is absolute, http or https.
	URL    string
	Header http.Header
	// Timeout and ConnectTimeout override the defaults within the
	// operator's maxima; zero keeps the default. ConnectTimeout is ignored
	// with CP2 complete timeout off. Neither can outlast ctx's deadline.
	Timeout        time.Duration
	ConnectTimeout time.Duration
	// Body is nil for no body; BodySize is its length or -1 (sent
	// chunked). Do may read Body until it returns an error or until
	// Response.Body is closed or has returned io.EOF or an error — a server
	// may answer before the whole body is sent — and never after; it does
	// not close Body.
	Body     io.Reader
	BodySize int64
}

// Response is a response whose body streams; the caller closes Body.
type Response struct {
	Status int
	Header http.Header
	// Body stops with an *Error when the step's context ends, the total
	// timeout fires (body transfer included), or the body goes past
	// MaxResponseBytes (abi.LimitExceeded). Closing it releases the
	// connection and the request's timer.
	Body io.ReadCloser
	// Size is the Content-Length, or -1.
	Size int64
}

// Sentinels found in the chain of an *Error (errors.Is).
var (
	// ErrConnectTimeout: the connect timeout fired (abi.ConnectionTimeout).
	ErrConnectTimeout = errors.New("connect timeout")
	// ErrRequestTimeout: the request's total timeout fired
	// (abi.NetworkError).
	ErrRequestTimeout = errors.New("request timeout")
	// ErrTooManyRedirects: more than MaxRedirects (abi.LimitExceeded).
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrRequestTooLarge, ErrResponseTooLarge, ErrHeadersTooLarge: a size
	// cap (abi.LimitExceeded).
	ErrRequestTooLarge  = errors.New("request body too large")
	ErrResponseTooLarge = errors.New("response body too large")
	ErrHeadersTooLarge  = errors.New("headers too large")
)

// Error is a failed request with its ABI code. The codes and when they are
// used:
//
//   - abi.InvalidArgument: malformed method (not a token, or CONNECT), URL
//     (not absolute, no host, bad port), header name or value, negative
//     timeout; no I/O was done.
//   - abi.Denied: refused by the egress rule — a scheme other than http and
//     https, no allow pattern matches (the request or a redirect), or an
//     address dialled is private/loopback/link-local/... without
//     AllowPrivate. Err is a *sandbox.EgressError.
//   - abi.CircuitOpen: the endpoint's breaker is open; no I/O was done. Err
//     is a *policy.OpenError; the message is "circuit open: <endpoint>".
//   - abi.LimitExceeded: MaxRequestBytes, MaxHeaderBytes (request or
//     response), MaxResponseBytes (when reading Body), or MaxRedirects.
//   - abi.ConnectionTimeout: the connect timeout (CP2) fired before the
//     connection was ready. Retryable (DESIGN: CONNECTION_TIMEOUT).
//   - abi.NetworkError: DNS failure, connection refused or reset, TLS
//     failure, malformed response, and the request's own total timeout,
//     with message "request timed out after X" and ErrRequestTimeout in
//     the chain. A total timeout is a NETWORK_ERROR, not abi.Timeout nor
//     abi.ConnectionTimeout: DESIGN's classification makes NETWORK_ERROR
//     retryable and reports it on the wire as what it is, a failed upstream
//     exchange; abi.Timeout would surface as RESOURCE_UNAVAILABLE (a host
//     resource) and abi.ConnectionTimeout would be wrong once connected.
//   - abi.Cancelled: the step's context (ctx of Do) ended. Cancelled (its
//     Err() is context.Canceled) → message "cancelled: ..."; its deadline
//     passed (Err() is context.DeadlineExceeded, the step's budget or the
//     CP1 attempt timeout) → message "step deadline: ...". Both are final:
//     the step is over, a retry could not run anyway; Err is
//     context.Cause(ctx).
//   - abi.IOError, or the code of the source's error if it has a Code()
//     method: reading Request.Body failed.
type Error struct {
	C   abi.Code
	Msg string
	Err error
}

func (e *Error) Error() string  { return e.Msg }
func (e *Error) Unwrap() error  { return e.Err }
func (e *Error) Code() abi.Code { return e.C }

// Client performs blocks' HTTP requests. It owns two transports — one that
// dials only public addresses, used for grants without AllowPrivate, and
// one for grants with it — so a pooled connection dialled under one rule is
// never reused under the other. Neither is http.DefaultTransport, and
// neither uses a proxy (HTTP_PROXY and friends are ignored: the egress
// check must see the real target). Safe for concurrent use.
type Client struct {
	cfg      Config
	public   *http.Transport
	private  *http.Transport
	pubRT    http.RoundTripper
	privRT   http.RoundTripper
	breakers *policy.BreakerSet // nil with CP2 circuit breaker off
}

// New returns a Client with its own transports (never the default one; no
// proxy from the environment), or an error naming the first invalid
// setting.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg}
	c.public = c.newTransport(false)
	c.private = c.newTransport(true)
	c.pubRT, c.privRT = c.public, c.private
	if cfg.Features.CircuitBreaker {
		bs := cfg.Breaker
		userEvict := bs.OnEvict
		bs.OnEvict = func(target string) {
			if userEvict != nil {
				userEvict(target)
			}
			if cfg.OnEvict != nil {
				cfg.OnEvict(BreakerKind, target)
			}
		}
		user := bs.OnStateChange
		bs.OnStateChange = func(target string, from, to policy.BreakerState) {
			if user != nil {
				user(target, from, to)
			}
			if cfg.OnTransition != nil {
				cfg.OnTransition(BreakerKind, target, from, to)
			}
			level := slog.LevelInfo
			if to == policy.StateOpen {
				level = slog.LevelWarn
			}
			cfg.Logger.Log(context.Background(), level, "http circuit breaker state change",
				"target", target, "from", from.String(), "to", to.String())
		}
		c.breakers = policy.NewBreakerSet(BreakerKind, bs, cfg.MaxBreakers)
		c.pubRT = &breakerRT{next: c.public, set: c.breakers}
		c.privRT = &breakerRT{next: c.private, set: c.breakers}
	}
	return c, nil
}

func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	neg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("httpcap: %s must not be negative", name))
		}
	}
	neg("ConnectTimeout", int64(cfg.ConnectTimeout))
	neg("TotalTimeout", int64(cfg.TotalTimeout))
	neg("MaxConnectTimeout", int64(cfg.MaxConnectTimeout))
	neg("MaxTotalTimeout", int64(cfg.MaxTotalTimeout))
	neg("MaxRequestBytes", cfg.MaxRequestBytes)
	neg("MaxResponseBytes", cfg.MaxResponseBytes)
	neg("MaxHeaderBytes", int64(cfg.MaxHeaderBytes))
	neg("MaxBreakers", int64(cfg.MaxBreakers))
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.TotalTimeout == 0 {
		cfg.TotalTimeout = DefaultTotalTimeout
	}
	if cfg.MaxConnectTimeout == 0 {
		cfg.MaxConnectTimeout = cfg.ConnectTimeout
	}
	if cfg.MaxTotalTimeout == 0 {
		cfg.MaxTotalTimeout = cfg.TotalTimeout
	}
	if cfg.MaxConnectTimeout < cfg.ConnectTimeout {
		errs = append(errs, fmt.Errorf("httpcap: MaxConnectTimeout %v is below ConnectTimeout %v", cfg.MaxConnectTimeout, cfg.ConnectTimeout))
	}
	if cfg.MaxTotalTimeout < cfg.TotalTimeout {
		errs = append(errs, fmt.Errorf("httpcap: MaxTotalTimeout %v is below TotalTimeout %v", cfg.MaxTotalTimeout, cfg.TotalTimeout))
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	return cfg, errors.Join(errs...)
}

// Breakers lists the per-endpoint breakers, sorted by endpoint; nil with
// CP2 circuit breaker off.
func (c *Client) Breakers() []policy.BreakerSnapshot {
	if c.breakers == nil {
		return nil
	}
	return c.breakers.List()
}

// Close releases idle connections. Requests in flight are not affected; the
// Client stays usable.
func (c *Client) Close() {
	c.public.CloseIdleConnections()
	c.private.CloseIdleConnections()
}
