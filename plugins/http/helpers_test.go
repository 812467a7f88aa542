package httpcap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/sandbox"
)

// TestMain fails the package if any test leaves a goroutine behind
// (transport loops, dials, timers' goroutines, servers).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns a Client whose idle connections are closed at the end
// of the test.
func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// countingServer is an httptest server that counts requests.
type countingServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newServer(t testing.TB, h http.HandlerFunc) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// grantFor allows exactly the servers' endpoints, loopback included.
func grantFor(urls ...string) sandbox.HTTPGrant {
	g := sandbox.HTTPGrant{AllowPrivate: true}
	for _, u := range urls {
		g.Allow = append(g.Allow, origin(u))
	}
	return g
}

// origin returns scheme://host:port of u.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	return u.Scheme + "://" + u.Host
}

// wantCode fails the test unless err is an *Error with code c whose
// message contains each of msgs.
func wantCode(t testing.TB, err error, c abi.Code, msgs ...string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want an *Error %s", err, err, c)
	}
	if e.Code() != c {
		t.Fatalf("got %s (%q), want %s", e.Code(), e.Msg, c)
	}
	for _, m := range msgs {
		if !strings.Contains(e.Msg, m) {
			t.Errorf("message %q does not contain %q", e.Msg, m)
		}
	}
	return e
}

// get performs a GET and reads the whole body.
func get(t testing.TB, c *Client, g sandbox.HTTPGrant, u string) (int, string, error) {
	t.Helper()
	resp, err := c.Do(context.Background(), g, Request{URL: u})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.Status, string(b), err
}

// stallServer accepts connections and never answers; it reads what it is
// sent so a request is fully written.
func stallServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// staticResolver resolves names from a map, in-process; "localhost" goes
// to the system resolver; other names fail.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	if host == "localhost" {
		return net.DefaultResolver.LookupNetIP(ctx, network, host)
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// within fails the test unless d is in [lo, hi].
func within(t testing.TB, what string, d, lo, hi time.Duration) {
	t.Helper()
	if d < lo || d > hi {
		t.Errorf("%s took %v, want within [%v, %v]", what, d, lo, hi)
	}
}

// verifyNoLeaks checks, after the test's cleanups, that no goroutine is
// left (transport loops, dials, servers).
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	// Registered first, so it runs last (cleanups run in reverse order).
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// newTLSServer starts an HTTPS server speaking HTTP/2 and HTTP/1.1.
func newTLSServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// tlsConfigFor trusts s's certificate.
func tlsConfigFor(s *httptest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return &tls.Config{RootCAs: pool}
}
