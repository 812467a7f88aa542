package httpcap

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// Timing bounds are generous (DESIGN: tests that fit CI): a timeout must
// fire no earlier than set and well before the next larger one.

func TestConnectTimeoutCP2(t *testing.T) {
	addr := "http://" + blackhole(t)
	defer verifyNoDial(t)
	c := newClient(t, Config{
		Features:       policy.Features{CompleteTimeout: true},
		ConnectTimeout: 200 * time.Millisecond,
		TotalTimeout:   5 * time.Second,
	})
	start := time.Now()
	_, err := c.Do(context.Background(), grantFor(addr), Request{URL: addr + "/"})
	e := wantCode(t, err, abi.ConnectionTimeout, "connect to 127.0.0.1:", "timed out after 200ms")
	within(t, "connect timeout", time.Since(start), 200*time.Millisecond, 2*time.Second)
	if !errors.Is(e, ErrConnectTimeout) {
		t.Errorf("%v does not wrap ErrConnectTimeout", e)
	}
}

func TestConnectTimeoutOverride(t *testing.T) {
	addr := "http://" + blackhole(t)
	defer verifyNoDial(t)
	c := newClient(t, Config{
		Features:          policy.Features{CompleteTimeout: true},
		ConnectTimeout:    3 * time.Second,
		MaxConnectTimeout: 4 * time.Second,
		TotalTimeout:      10 * time.Second,
	})
	start := time.Now()
	_, err := c.Do(context.Background(), grantFor(addr), Request{URL: addr + "/", ConnectTimeout: 150 * time.Millisecond})
	wantCode(t, err, abi.ConnectionTimeout, "timed out after 150ms")
	within(t, "overridden connect timeout", time.Since(start), 150*time.Millisecond, 2*time.Second)
}

func TestConnectTimeoutFlagOffUsesTotal(t *testing.T) {
	addr := "http://" + blackhole(t)
	defer verifyNoDial(t)
	c := newClient(t, Config{
		ConnectTimeout: 100 * time.Millisecond, // ignored: CP1 has no connect timeout
		TotalTimeout:   600 * time.Millisecond,
	})
	start := time.Now()
	_, err := c.Do(context.Background(), grantFor(addr), Request{URL: addr + "/", ConnectTimeout: 50 * time.Millisecond})
	e := wantCode(t, err, abi.NetworkError, "request timed out after 600ms")
	within(t, "total timeout while connecting", time.Since(start), 600*time.Millisecond, 2500*time.Millisecond)
	if !errors.Is(e, ErrRequestTimeout) || errors.Is(e, ErrConnectTimeout) {
		t.Errorf("%v: want ErrRequestTimeout only in its chain", e)
	}
}

func TestTotalTimeoutStalledPeer(t *testing.T) {
	for _, cp2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "CP1", true: "CP2"}[cp2], func(t *testing.T) {
			verifyNoLeaks(t)
			addr := stallServer(t)
			c := newClient(t, Config{
				Features:       policy.Features{CompleteTimeout: cp2},
				ConnectTimeout: 200 * time.Millisecond,
				TotalTimeout:   500 * time.Millisecond,
			})
			start := time.Now()
			_, err := c.Do(context.Background(), grantFor(addr), Request{URL: addr + "/slow"})
			// Connected at once: never a connection timeout.
			wantCode(t, err, abi.NetworkError, "request timed out after 500ms", "GET http://127.0.0.1:")
			within(t, "total timeout", time.Since(start), 500*time.Millisecond, 2500*time.Millisecond)
		})
	}
}

func TestTotalTimeoutOverrideClamped(t *testing.T) {
	verifyNoLeaks(t)
	addr := stallServer(t)
	c := newClient(t, Config{TotalTimeout: 300 * time.Millisecond, MaxTotalTimeout: 400 * time.Millisecond})

	start := time.Now()
	_, err := c.Do(context.Background(), grantFor(addr), Request{URL: addr, Timeout: 100 * time.Millisecond})
	wantCode(t, err, abi.NetworkError, "request timed out after 100ms")
	within(t, "shorter override", time.Since(start), 100*time.Millisecond, 1500*time.Millisecond)

	start = time.Now()
	_, err = c.Do(context.Background(), grantFor(addr), Request{URL: addr, Timeout: time.Hour})
	wantCode(t, err, abi.NetworkError, "request timed out after 400ms")
	within(t, "clamped override", time.Since(start), 400*time.Millisecond, 2*time.Second)
}

func TestStepDeadline(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(testing.TB) string
		hole bool
	}{
		{"while waiting for the response", stallServer, false},
		{"while connecting", blackholeURL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hole {
				defer verifyNoDial(t)
			} else {
				verifyNoLeaks(t)
			}
			addr := tc.addr(t)
			c := newClient(t, Config{Features: policy.Features{CompleteTimeout: true}})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := c.Do(ctx, grantFor(addr), Request{URL: addr})
			e := wantCode(t, err, abi.Cancelled, "step deadline: GET http://127.0.0.1:")
			within(t, "step deadline", time.Since(start), 300*time.Millisecond, 2*time.Second)
			if !errors.Is(e, context.DeadlineExceeded) {
				t.Errorf("%v does not wrap context.DeadlineExceeded", e)
			}
		})
	}
}

func TestStepDeadlineCustomCause(t *testing.T) {
	verifyNoLeaks(t)
	addr := stallServer(t)
	c := newClient(t, Config{})
	budget := errors.New("step budget exhausted")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 100*time.Millisecond, budget)
	defer cancel()
	_, err := c.Do(ctx, grantFor(addr), Request{URL: addr})
	e := wantCode(t, err, abi.Cancelled, "step deadline", "step budget exhausted")
	if !errors.Is(e, budget) {
		t.Errorf("%v does not wrap the cause", e)
	}
}

func TestCancelledByStep(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(testing.TB) string
		hole bool
	}{
		{"waiting for the response", stallServer, false},
		// CP1: no connect timeout; only the cancellation can end the dial
		// (the transport detaches dials from the request's context).
		{"connecting", blackholeURL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hole {
				defer verifyNoDial(t)
			} else {
				verifyNoLeaks(t)
			}
			addr := tc.addr(t)
			c := newClient(t, Config{})
			userCancel := errors.New("DELETE /v1/steps/s1")
			ctx, cancel := context.WithCancelCause(context.Background())
			time.AfterFunc(150*time.Millisecond, func() { cancel(userCancel) })
			start := time.Now()
			_, err := c.Do(ctx, grantFor(addr), Request{URL: addr})
			e := wantCode(t, err, abi.Cancelled, "cancelled: GET http://127.0.0.1:", "DELETE /v1/steps/s1")
			within(t, "cancellation", time.Since(start), 150*time.Millisecond, 2*time.Second)
			if !errors.Is(e, userCancel) {
				t.Errorf("%v does not wrap the cause", e)
			}
		})
	}
}

func TestAlreadyCancelled(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	c := newClient(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Do(ctx, grantFor(srv.URL), Request{URL: srv.URL})
	wantCode(t, err, abi.Cancelled, "cancelled")
	if srv.hits.Load() != 0 {
		t.Errorf("server hit %d times", srv.hits.Load())
	}
}

func blackholeURL(t testing.TB) string { return "http://" + blackhole(t) }

// verifyNoDial checks, before the test's cleanups (so before the Client's
// Close, which would cancel abandoned dials, and while the blackhole still
// hangs connects), that no goroutine is left: a dial that outlived its
// request would be.
func verifyNoDial(t *testing.T) {
	t.Helper()
	goleak.VerifyNone(t)
}

// midBodyServer writes part of a body, flushes, then stalls until the
// client goes away or the test ends.
func midBodyServer(t *testing.T, tls bool) (*countingServer, []byte) {
	part := make([]byte, 4096)
	for i := range part {
		part[i] = 'a' + byte(i%26)
	}
	done := make(chan struct{})
	var once sync.Once
	h := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(part)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}
	s := &countingServer{}
	if tls {
		s.Server = newTLSServer(t, func(w http.ResponseWriter, r *http.Request) { s.hits.Add(1); h(w, r) })
	} else {
		s = newServer(t, h)
	}
	t.Cleanup(func() { once.Do(func() { close(done) }) }) // runs before the server's Close
	return s, part
}

func TestCancelMidBody(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1", true: "h2"}[useTLS], func(t *testing.T) {
			verifyNoLeaks(t)
			srv, part := midBodyServer(t, useTLS)
			cfg := Config{Features: policy.Features{CompleteTimeout: true, Cancellation: true}}
			if useTLS {
				cfg.TLSClientConfig = tlsConfigFor(srv.Server)
			}
			c := newClient(t, cfg)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			resp, err := c.Do(ctx, grantFor(srv.URL), Request{URL: srv.URL + "/big"})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := make([]byte, len(part))
			if _, err := io.ReadFull(resp.Body, got); err != nil {
				t.Fatalf("first part: %v", err)
			}
			cancel(errors.New("user cancel"))
			start := time.Now()
			n, err := io.Copy(io.Discard, resp.Body)
			wantCode(t, err, abi.Cancelled, "cancelled: GET ", "user cancel")
			within(t, "read after cancel", time.Since(start), 0, time.Second)
			if n != 0 {
				t.Errorf("read %d bytes after the cancel", n)
			}
			// The body stays failed.
			if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
				t.Error("read after failure succeeded")
			}
		})
	}
}

func TestTotalTimeoutMidBody(t *testing.T) {
	verifyNoLeaks(t)
	srv, part := midBodyServer(t, false)
	c := newClient(t, Config{TotalTimeout: 400 * time.Millisecond})
	start := time.Now()
	resp, err := c.Do(context.Background(), grantFor(srv.URL), Request{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	wantCode(t, err, abi.NetworkError, "request timed out after 400ms")
	within(t, "total timeout during the body", time.Since(start), 400*time.Millisecond, 2*time.Second)
	if n != int64(len(part)) {
		t.Errorf("read %d bytes, want %d", n, len(part))
	}
}

func TestTimeoutsValidation(t *testing.T) {
	for _, cfg := range []Config{
		{ConnectTimeout: -1},
		{TotalTimeout: -time.Second},
		{MaxResponseBytes: -1},
		{TotalTimeout: time.Minute, MaxTotalTimeout: time.Second},
		{ConnectTimeout: time.Minute, MaxConnectTimeout: time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	c := newClient(t, Config{})
	_, err := c.Do(context.Background(), sandbox.HTTPGrant{Allow: []string{"http://example.com"}},
		Request{URL: "http://example.com/", Timeout: -1})
	wantCode(t, err, abi.InvalidArgument, "negative")
}
