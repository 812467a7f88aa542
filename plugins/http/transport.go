package httpcap

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// newTransport returns a dedicated transport whose dialer resolves names
// itself and checks every address before connecting (unless allowPrivate).
func (c *Client) newTransport(allowPrivate bool) *http.Transport {
	d := &dialer{resolver: c.cfg.Resolver, allowPrivate: allowPrivate, tls: c.cfg.TLSClientConfig}
	d.net = net.Dialer{KeepAlive: 30 * time.Second, Control: d.control}
	return &http.Transport{
		Proxy:                  nil, // never HTTP_PROXY: the egress check must see the target
		DialContext:            d.dialContext,
		DialTLSContext:         d.dialTLSContext,
		ForceAttemptHTTP2:      true, // our DialTLSContext negotiates h2 by ALPN
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: int64(c.cfg.MaxHeaderBytes),
	}
}

// dialer connects for one transport. The transport detaches a dial from
// its request's cancellation (so a connection may be finished for the pool)
// but keeps the request's context values; the dialer takes the exchange
// from them and ends the dial with the request — its cancellation, its
// total timeout — or at the connect timeout (CP2), whichever comes first, so
// no dial outlives the request that started it.
type dialer struct {
	resolver     Resolver
	allowPrivate bool
	tls          *tls.Config
	net          net.Dialer
}

// connectTimeoutError is a dial (or TLS handshake) that did not finish
// within the connect timeout. It wraps ErrConnectTimeout.
type connectTimeoutError struct {
	addr    string
	timeout time.Duration
}

func (e *connectTimeoutError) Error() string {
	return "connect to " + e.addr + " timed out after " + e.timeout.String()
}

func (e *connectTimeoutError) Unwrap() error { return ErrConnectTimeout }

// Timeout reports true, as net.Error timeouts do.
func (e *connectTimeoutError) Timeout() bool { return true }

func (d *dialer) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.dial(ctx, network, addr, false)
}

func (d *dialer) dialTLSContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.dial(ctx, network, addr, true)
}

func (d *dialer) dial(ctx context.Context, network, addr string, useTLS bool) (net.Conn, error) {
	x := exchangeOf(ctx)
	if x == nil {
		return nil, errors.New("httpcap: dial outside a request")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(x.rctx, cancel)
	defer stop()
	if x.connect > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeoutCause(ctx, x.connect, ErrConnectTimeout)
		defer cancelT()
	}
	conn, err := d.connect(ctx, network, addr, useTLS)
	if err != nil && x.connect > 0 && x.rctx.Err() == nil && connectExpired(ctx, err) {
		return nil, &connectTimeoutError{addr: addr, timeout: x.connect}
	}
	return conn, err
}

// connectExpired reports whether err is ctx's connect deadline: its cause,
// or a timeout reported once the deadline has passed (the poller may report
// "i/o timeout" just before ctx's own timer fires).
func connectExpired(ctx context.Context, err error) bool {
	if context.Cause(ctx) == ErrConnectTimeout {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && isTimeout(err) && !time.Now().Before(dl)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// connect resolves host, refuses it if any of its addresses is refused by
// the private-address guard, then tries the addresses in order, and for
// https completes the TLS handshake, all under ctx.
func (d *dialer) connect(ctx context.Context, network, addr string, useTLS bool) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = d.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	} else if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	if !d.allowPrivate {
		for _, a := range addrs {
			if err := sandbox.CheckPublicAddr(a); err != nil {
				ee := err.(*sandbox.EgressError)
				ee.Target = host
				return nil, ee
			}
		}
	}
	conn, err := d.dialAddrs(ctx, network, addrs, uint16(port))
	if err != nil {
		return nil, err
	}
	if !useTLS {
		return conn, nil
	}
	var cfg *tls.Config
	if d.tls != nil {
		cfg = d.tls.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	cfg.NextProtos = []string{"h2", "http/1.1"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// minAttempt is the least time an address gets before the next is tried
// (net.Dialer uses the same floor).
const minAttempt = 2 * time.Second

// dialAddrs tries the addresses in order. With a deadline, each attempt
// gets an equal share of the time left (at least minAttempt), as
// net.Dialer does for the addresses of a name, so one unreachable address
// does not use up the whole connect timeout.
func (d *dialer) dialAddrs(ctx context.Context, network string, addrs []netip.Addr, port uint16) (net.Conn, error) {
	var firstErr error
	for i, a := range addrs {
		actx := ctx
		if dl, ok := ctx.Deadline(); ok && i < len(addrs)-1 {
			share := time.Until(dl) / time.Duration(len(addrs)-i)
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(ctx, max(share, minAttempt))
			defer cancel()
		}
		conn, err := d.net.DialContext(actx, network, netip.AddrPortFrom(a.Unmap(), port).String())
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// control is the last check before connect(2): the socket address itself.
// It repeats the resolver-time check, so nothing reaches a refused address
// even if a name slipped through.
func (d *dialer) control(network, address string, _ syscall.RawConn) error {
	if d.allowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &sandbox.EgressError{Target: address, Rule: "not an IP address"}
	}
	return sandbox.CheckPublicAddr(ap.Addr())
}

// breakerRT puts each hop of a request (the request and every redirect)
// through the breaker of its endpoint: refused at once while open, outcome
// recorded when the response headers arrive (5xx: failure) or on error
// (see exchange.breakerFailure).
type breakerRT struct {
	next http.RoundTripper
	set  *policy.BreakerSet
}

func (b *breakerRT) RoundTrip(req *http.Request) (*http.Response, error) {
	ep, err := sandbox.ParseEndpoint(req.URL)
	if err != nil {
		return b.next.RoundTrip(req) // fails in the transport, no endpoint to blame
	}
	done, err := b.set.Get(ep.String()).Allow()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := b.next.RoundTrip(req)
	if err != nil {
		x := exchangeOf(req.Context())
		done(x == nil || !x.breakerFailure(err))
		return nil, err
	}
	done(resp.StatusCode < 500)
	return resp, nil
}
