// Package httpcap is blockhost's HTTP capability (directory plugins/http):
// the client behind the http_request host function, with connect and total
// timeouts, cancellation, per-endpoint circuit breakers, the egress policy
// and size caps.
package httpcap

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// Config configures a Client. Zero fields take the default stated on each.
type Config struct {
	// Features: CompleteTimeout separates the connect timeout from the
	// total; CircuitBreaker enables per-endpoint breakers.
	Features policy.Features
	// ConnectTimeout bounds dialing and the TLS handshake (5 s), used with
	// CP2 complete timeout only.
	ConnectTimeout time.Duration
	// TotalTimeout bounds a whole request including the body (30 s).
	TotalTimeout time.Duration
	// MaxConnectTimeout and MaxTotalTimeout cap per-request overrides
	// (default: ConnectTimeout and TotalTimeout).
	MaxConnectTimeout time.Duration
	MaxTotalTimeout   time.Duration
	// MaxRequestBytes caps a request body (128 MiB).
	MaxRequestBytes int64
	// MaxResponseBytes caps a response body (128 MiB).
	MaxResponseBytes int64
	// MaxHeaderBytes caps request and response headers (64 KiB).
	MaxHeaderBytes int
	// Breaker configures each endpoint's breaker; MaxBreakers bounds how
	// many are tracked (1024).
	Breaker     policy.BreakerSettings
	MaxBreakers int
	// Logger receives breaker transitions; nil discards.
	Logger *slog.Logger
}

// Request is one request of a block.
type Request struct {
	Method string
	URL    string
	Header http.Header
	// Timeout and ConnectTimeout override the defaults within the
	// operator's maxima; zero keeps the default.
	Timeout        time.Duration
	ConnectTimeout time.Duration
	// Body is nil for no body; BodySize is its length or -1.
	Body     io.Reader
	BodySize int64
}

// Response is a response whose body streams; the caller closes Body.
type Response struct {
	Status int
	Header http.Header
	Body   io.ReadCloser
	// Size is the Content-Length, or -1.
	Size int64
}

// Error is a failed request with its ABI code (NetworkError,
// ConnectionTimeout, Denied, CircuitOpen, Cancelled, Timeout,
// LimitExceeded, InvalidArgument).
type Error struct {
	C   abi.Code
	Msg string
	Err error
}

func (e *Error) Error() string  { return e.Msg }
func (e *Error) Unwrap() error  { return e.Err }
func (e *Error) Code() abi.Code { return e.C }

// Client performs blocks' HTTP requests. Safe for concurrent use.
type Client struct {
	cfg Config
}

var errTODO = errors.New("httpcap: not implemented")

// New returns a Client with its own transport (never the default one; no
// proxy from the environment).
func New(cfg Config) (*Client, error) { return &Client{cfg: cfg}, nil }

// Do performs req for a block holding grant, under ctx (the step's context:
// its cancellation and deadline end the request, body transfer included).
func (c *Client) Do(ctx context.Context, grant sandbox.HTTPGrant, req Request) (*Response, error) {
	return nil, &Error{C: abi.Denied, Msg: "HTTP capability not available", Err: errTODO}
}

// Breakers lists the per-endpoint breakers.
func (c *Client) Breakers() []policy.BreakerSnapshot { return nil }

// Close releases idle connections.
func (c *Client) Close() {}
