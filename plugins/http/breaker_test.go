package httpcap

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
)

type transition struct {
	kind, target string
	from, to     policy.BreakerState
}

type transitions struct {
	mu   sync.Mutex
	list []transition
}

func (tr *transitions) record(kind, target string, from, to policy.BreakerState) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.list = append(tr.list, transition{kind, target, from, to})
}

func (tr *transitions) states() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for _, t := range tr.list {
		out = append(out, t.from.String()+">"+t.to.String())
	}
	return out
}

// breakerClient returns a client with CP2 breakers on a fake clock: 3
// consecutive failures open, 10 s recovery, 2 successful probes close.
func breakerClient(t *testing.T) (*Client, *policy.FakeClock, *transitions) {
	clock := policy.NewFakeClock(time.Unix(1_700_000_000, 0))
	tr := &transitions{}
	c := newClient(t, Config{
		Features:     policy.Features{CircuitBreaker: true, CompleteTimeout: true},
		Breaker:      policy.BreakerSettings{FailureThreshold: 3, RecoveryTimeout: 10 * time.Second, SuccessThreshold: 2, Clock: clock},
		OnTransition: tr.record,
	})
	return c, clock, tr
}

func breakerState(t *testing.T, c *Client, target string) policy.BreakerSnapshot {
	t.Helper()
	for _, s := range c.Breakers() {
		if s.Name == target {
			return s
		}
	}
	t.Fatalf("no breaker %q in %+v", target, c.Breakers())
	return policy.BreakerSnapshot{}
}

func TestBreakerLifecycle(t *testing.T) {
	verifyNoLeaks(t)
	var status atomic.Int64
	status.Store(500)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(status.Load())) })
	c, clock, tr := breakerClient(t)
	g := grantFor(srv.URL)
	target := origin(srv.URL) // http://127.0.0.1:PORT, the default port is explicit here

	// Three 5xx open it; each is still returned to the block as a response.
	for i := range 3 {
		code, _, err := get(t, c, g, srv.URL)
		if err != nil || code != 500 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
	}
	if s := breakerState(t, c, target); s.State != policy.StateOpen || s.ConsecutiveFailures != 3 {
		t.Fatalf("after 3 failures: %+v", s)
	}

	// Open: refused at once, without I/O.
	for range 5 {
		_, _, err := get(t, c, g, srv.URL+"/x")
		e := wantCode(t, err, abi.CircuitOpen)
		if e.Msg != "circuit open: "+target || !errors.Is(e, policy.ErrOpen) {
			t.Errorf("got %q", e.Msg)
		}
	}
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("server hit %d times, want 3 (no I/O while open)", n)
	}

	// After the recovery timeout a probe goes through; a failed probe
	// re-opens it.
	clock.Advance(10 * time.Second)
	if code, _, err := get(t, c, g, srv.URL); err != nil || code != 500 {
		t.Fatalf("probe: %d %v", code, err)
	}
	if s := breakerState(t, c, target); s.State != policy.StateOpen {
		t.Fatalf("after a failed probe: %+v", s)
	}
	_, _, err := get(t, c, g, srv.URL)
	wantCode(t, err, abi.CircuitOpen)
	if n := srv.hits.Load(); n != 4 {
		t.Fatalf("server hit %d times, want 4", n)
	}

	// Two successful probes close it.
	status.Store(200)
	clock.Advance(10 * time.Second)
	if code, _, err := get(t, c, g, srv.URL); err != nil || code != 200 {
		t.Fatalf("probe 1: %d %v", code, err)
	}
	if s := breakerState(t, c, target); s.State != policy.StateHalfOpen {
		t.Fatalf("after one good probe: %+v", s)
	}
	if code, _, err := get(t, c, g, srv.URL); err != nil || code != 200 {
		t.Fatalf("probe 2: %d %v", code, err)
	}
	if s := breakerState(t, c, target); s.State != policy.StateClosed {
		t.Fatalf("after two good probes: %+v", s)
	}

	want := []string{"closed>open", "open>half_open", "half_open>open", "open>half_open", "half_open>closed"}
	if got := tr.states(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("transitions %v, want %v", got, want)
	}
	for _, x := range tr.list {
		if x.kind != "http" || x.target != target {
			t.Errorf("transition %+v", x)
		}
	}
}

func TestBreaker4xxNeverTrips(t *testing.T) {
	verifyNoLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusNotFound
		if strings.HasSuffix(r.URL.Path, "429") {
			code = http.StatusTooManyRequests
		}
		w.WriteHeader(code)
	})
	c, _, tr := breakerClient(t)
	for i := range 20 {
		path := "/missing"
		if i%2 == 1 {
			path = "/429"
		}
		if code, _, err := get(t, c, grantFor(srv.URL), srv.URL+path); err != nil || code < 400 {
			t.Fatalf("%d %v", code, err)
		}
	}
	if s := breakerState(t, c, origin(srv.URL)); s.State != policy.StateClosed || s.ConsecutiveFailures != 0 {
		t.Errorf("after 20 4xx: %+v", s)
	}
	if srv.hits.Load() != 20 || len(tr.states()) != 0 {
		t.Errorf("hits %d, transitions %v", srv.hits.Load(), tr.states())
	}
}

func TestBreakerNetworkErrorsAndTimeoutsTrip(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		verifyNoLeaks(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := "http://" + ln.Addr().String()
		ln.Close() // nothing listens: connects are refused
		c, _, _ := breakerClient(t)
		for range 3 {
			_, _, err := get(t, c, grantFor(addr), addr)
			wantCode(t, err, abi.NetworkError, "refused")
		}
		_, _, err = get(t, c, grantFor(addr), addr)
		wantCode(t, err, abi.CircuitOpen, "circuit open: "+addr)
	})
	t.Run("total timeout", func(t *testing.T) {
		verifyNoLeaks(t)
		addr := stallServer(t)
		c, _, _ := breakerClient(t)
		for range 3 {
			_, err := c.Do(context.Background(), grantFor(addr), Request{URL: addr, Timeout: 50 * time.Millisecond})
			wantCode(t, err, abi.NetworkError, "timed out")
		}
		_, _, err := get(t, c, grantFor(addr), addr)
		wantCode(t, err, abi.CircuitOpen)
	})
	t.Run("connect timeout", func(t *testing.T) {
		addr := "http://" + blackhole(t)
		c, _, _ := breakerClient(t)
		for range 3 {
			_, err := c.Do(context.Background(), grantFor(addr), Request{URL: addr, ConnectTimeout: 50 * time.Millisecond})
			wantCode(t, err, abi.ConnectionTimeout)
		}
		_, _, err := get(t, c, grantFor(addr), addr)
		wantCode(t, err, abi.CircuitOpen)
	})
}

// A step cancelled by its caller says nothing about the endpoint.
func TestBreakerIgnoresUserCancellation(t *testing.T) {
	verifyNoLeaks(t)
	addr := stallServer(t)
	c, _, _ := breakerClient(t)
	for range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := c.Do(ctx, grantFor(addr), Request{URL: addr})
		wantCode(t, err, abi.Cancelled)
		cancel()
	}
	if s := breakerState(t, c, origin(addr)); s.State != policy.StateClosed || s.ConsecutiveFailures != 0 {
		t.Errorf("after 5 cancellations: %+v", s)
	}
}

// Every hop has its own endpoint's breaker: a redirect to an endpoint whose
// breaker is open is refused without I/O to it.
func TestBreakerPerRedirectHop(t *testing.T) {
	verifyNoLeaks(t)
	bad := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	front := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, bad.URL+"/next", http.StatusFound)
	})
	c, _, _ := breakerClient(t)
	g := grantFor(front.URL, bad.URL)
	for range 3 {
		if code, _, err := get(t, c, g, bad.URL); err != nil || code != 503 {
			t.Fatalf("%d %v", code, err)
		}
	}
	_, _, err := get(t, c, g, front.URL)
	wantCode(t, err, abi.CircuitOpen, "circuit open: "+origin(bad.URL))
	if bad.hits.Load() != 3 || front.hits.Load() != 1 {
		t.Errorf("hits: bad %d (want 3), front %d (want 1)", bad.hits.Load(), front.hits.Load())
	}
	if s := breakerState(t, c, origin(front.URL)); s.State != policy.StateClosed {
		t.Errorf("front breaker %+v", s)
	}
}

func TestBreakerOff(t *testing.T) {
	verifyNoLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	c := newClient(t, Config{Breaker: policy.BreakerSettings{FailureThreshold: 1}})
	for range 10 {
		if code, _, err := get(t, c, grantFor(srv.URL), srv.URL); err != nil || code != 500 {
			t.Fatalf("%d %v", code, err)
		}
	}
	if srv.hits.Load() != 10 || c.Breakers() != nil {
		t.Errorf("hits %d, breakers %v", srv.hits.Load(), c.Breakers())
	}
}

func TestBreakerEndpointKey(t *testing.T) {
	verifyNoLeaks(t)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	c, _, _ := breakerClient(t)
	// The same endpoint spelled three ways shares one breaker.
	u := strings.Replace(srv.URL, "http://", "HTTP://", 1)
	for _, raw := range []string{srv.URL + "/a", u + "/b?q=1", srv.URL + "/c#frag"} {
		if _, _, err := get(t, c, grantFor(srv.URL), raw); err != nil {
			t.Fatal(err)
		}
	}
	if list := c.Breakers(); len(list) != 1 || list[0].Name != origin(srv.URL) {
		t.Errorf("breakers %+v", list)
	}
}
