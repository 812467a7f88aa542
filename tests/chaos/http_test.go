//go:build e2e

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	httpcap "github.com/beamline/blockhost/plugins/http"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

const groupHTTP = "Network faults between http_request and its upstream (toxiproxy)"

// upstream is a real HTTP server on loopback that counts its hits. GET
// /?size=N answers N bytes; status decides each answer's status.
type upstream struct {
	srv *httptest.Server

	mu     sync.Mutex
	hits   []time.Time
	paths  []string
	status func(path string, n int, at time.Time) int // n: earlier hits of path
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		u.mu.Lock()
		n := 0
		for _, p := range u.paths {
			if p == r.URL.Path {
				n++
			}
		}
		u.hits = append(u.hits, now)
		u.paths = append(u.paths, r.URL.Path)
		st := u.status
		u.mu.Unlock()
		code := http.StatusOK
		if st != nil {
			code = st(r.URL.Path, n, now)
		}
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		if size <= 0 {
			size = 2
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(code)
		w.Write([]byte(strings.Repeat("x", size)))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

func (u *upstream) setStatus(f func(path string, n int, at time.Time) int) {
	u.mu.Lock()
	u.status = f
	u.mu.Unlock()
}

func (u *upstream) hitTimes() []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]time.Time(nil), u.hits...)
}

// repeatHits returns the times of the hits, from index from on, whose
// path had been hit before: the retries of steps with their own paths.
func (u *upstream) repeatHits(from int) []time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	seen := map[string]bool{}
	var out []time.Time
	for i := from; i < len(u.hits); i++ {
		if seen[u.paths[i]] {
			out = append(out, u.hits[i])
		}
		seen[u.paths[i]] = true
	}
	return out
}

func (u *upstream) hitCount(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, p := range u.paths {
		if p == path {
			n++
		}
	}
	return n
}

// proxy is a toxiproxy proxy in this process in front of an upstream.
type proxy struct {
	p *toxiproxy.Proxy
}

func newProxy(t *testing.T, s *scenario, upstreamAddr string) *proxy {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "upstream", "127.0.0.1:0", upstreamAddr)
	s.require(p.Start(), "starting toxiproxy")
	t.Cleanup(p.Stop)
	return &proxy{p: p}
}

func (p *proxy) addr() string { return p.p.Listen }

// add adds a toxic: typ (latency, bandwidth, timeout, reset_peer, ...)
// on the downstream stream with attrs as JSON attributes.
func (p *proxy) add(s *scenario, name, typ, attrs string) {
	s.t.Helper()
	_, err := p.p.Toxics.AddToxicJson(strings.NewReader(
		fmt.Sprintf(`{"name":%q,"type":%q,"stream":"downstream","toxicity":1,"attributes":%s}`, name, typ, attrs)))
	s.require(err, "adding toxic "+name)
}

func (p *proxy) remove(s *scenario, name string) {
	s.t.Helper()
	s.require(p.p.Toxics.RemoveToxic(context.Background(), name), "removing toxic "+name)
}

// httpEnv is a host with the http_request block allowed to reach an
// upstream directly and through a toxiproxy.
type httpEnv struct {
	s    *scenario
	h    *host.Host
	up   *upstream
	px   *proxy
	base int // goroutines once warm
}

// breakerSettings are the breaker's settings in these scenarios: open
// after 5 consecutive failures, probe after 1 s, close after 2 successful
// probes.
var breakerSettings = policy.BreakerSettings{FailureThreshold: 5, RecoveryTimeout: time.Second, SuccessThreshold: 2}

func newHTTPEnv(t *testing.T, s *scenario, breaker policy.BreakerSettings) *httpEnv {
	e := &httpEnv{s: s, up: newUpstream(t)}
	e.px = newProxy(t, s, e.up.addr())
	pools := host.DefaultPools()
	for i := range pools {
		if pools[i].Name == "io" {
			pools[i].MaxConcurrency = 128
		}
	}
	cfg := host.Config{
		Pools: pools,
		Blocks: map[string]host.BlockPolicy{"http_request": {HTTP: sandbox.HTTPGrant{
			Allow:        []string{"http://" + e.px.addr(), "http://" + e.up.addr()},
			AllowPrivate: true,
		}}},
		HTTP: httpcap.Config{ConnectTimeout: 500 * time.Millisecond, TotalTimeout: 2 * time.Second, Breaker: breaker},
	}
	e.h = s.newHost(cfg, "http_request")
	// The capability must work before any fault is injected: fail loudly
	// (not skip) when it does not.
	res, _, err := e.step("/", 5000, 0)
	if err != nil || res.Status != host.StatusSuccess || res.Outputs["status"] != "200" {
		s.fatalf("the HTTP capability does not work yet (plugins/http, examples/blocks/http_request): a plain GET through the proxy "+
			"returned status=%s error_code=%s message=%q outputs=%v err=%v", res.Status, res.ErrorCode, res.ErrorMessage, res.Outputs, err)
	}
	e.idle()
	e.base = runtime.NumGoroutine()
	return e
}

// step GETs path through the proxy.
func (e *httpEnv) step(path string, timeoutMS int64, retries int) (host.StepResult, time.Duration, error) {
	return step(e.h, host.StepRequest{Type: "http.request", TimeoutMS: timeoutMS, RetryCount: intp(retries),
		Inputs: map[string]string{"url": "http://" + e.px.addr() + path, "method": "GET"}})
}

// idle closes every connection to the upstream, so their goroutines (in
// the client, toxiproxy and the server) go away.
func (e *httpEnv) idle() { e.up.srv.CloseClientConnections() }

// settle checks that the goroutines return to what they were once warm.
func (e *httpEnv) settle() {
	e.idle()
	e.s.goroutinesSettle(e.base, 10, "once warm (connections closed, host still running)")
}

// recovered polls a step every 100 ms once a fault is removed and checks
// that one succeeds in time: at once in CP1 (no breaker), within the
// breaker's recovery timeout (+ 500 ms for the probes) in CP2, where the
// failures the fault caused may have opened it.
func (e *httpEnv) recovered(cp2 bool) {
	removed := time.Now()
	var firstOK time.Duration
	tries := 0
	for time.Since(removed) < 10*time.Second {
		res, _, _ := e.step("/", 2000, 0)
		tries++
		if res.Status == host.StatusSuccess {
			firstOK = time.Since(removed)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	bound := 250 * time.Millisecond
	want := "first success within " + ms(bound)
	if cp2 {
		bound = breakerSettings.RecoveryTimeout + 500*time.Millisecond
		want = "first success within the breaker's recovery timeout + 500 ms (" + ms(bound) + ")"
	}
	e.s.expect("recovers once the fault is gone", want, fmt.Sprintf("after %s (%d steps tried; breaker %s)", ms(firstOK), tries, e.breakerState()),
		firstOK > 0 && firstOK <= bound)
}

func (e *httpEnv) breakerState() string {
	var states []string
	for _, b := range e.h.Breakers() {
		if b.Kind == "http" {
			states = append(states, b.State)
		}
	}
	return strings.Join(states, ",")
}

// sequence runs n steps one after the other and returns their results.
func (e *httpEnv) sequence(n int, path string, timeoutMS int64, retries int) ([]host.StepResult, []time.Duration) {
	var rs []host.StepResult
	var ds []time.Duration
	for range n {
		res, d, err := e.step(path, timeoutMS, retries)
		if err != nil {
			res = host.StepResult{Status: "not admitted", ErrorMessage: err.Error()}
		}
		rs = append(rs, res)
		ds = append(ds, d)
	}
	return rs, ds
}

// countStatus counts the results with status st and, when given, code.
func countStatus(rs []host.StepResult, st host.Status, code ...abi.Code) int {
	n := 0
	for _, r := range rs {
		if r.Status == st && (len(code) == 0 || r.ErrorCode == code[0]) {
			n++
		}
	}
	return n
}

func span(ds []time.Duration) (time.Duration, time.Duration) {
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return lo, hi
}

func codes(rs []host.StepResult) string {
	m := map[string]int{}
	for _, r := range rs {
		m[string(r.Status)+"/"+r.ErrorCode.String()]++
	}
	return fmt.Sprint(m)
}

func TestHTTPLatency(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHTTP, "latency 300 ms", cp2,
			"A latency toxic adds 300 ms to every answer. Steps with timeout_ms 5000 succeed and take at least 300 ms; steps with timeout_ms 150 end "+
				"timeout within 250 ms of their deadline; once the toxic is removed steps are fast again.")
		e := newHTTPEnv(t, s, breakerSettings)
		e.px.add(s, "lat", "latency", `{"latency":300}`)
		rs, ds := e.sequence(5, "/", 5000, 0)
		lo, hi := span(ds)
		s.expect("slow answers succeed", "5 of 5 success, 300 ms ≤ latency ≤ 1.3 s", fmt.Sprintf("%d of 5, %s – %s", countStatus(rs, host.StatusSuccess), ms(lo), ms(hi)),
			countStatus(rs, host.StatusSuccess) == 5 && lo >= 300*time.Millisecond && hi <= 1300*time.Millisecond)
		rs, ds = e.sequence(5, "/", 150, 0)
		_, hi = span(ds)
		s.expect("the step deadline fires", "5 of 5 timeout, ≤ 400 ms", fmt.Sprintf("%d of 5 (%s), slowest %s", countStatus(rs, host.StatusTimeout, abi.CancelledByTimeout), codes(rs), ms(hi)),
			countStatus(rs, host.StatusTimeout, abi.CancelledByTimeout) == 5 && hi <= 400*time.Millisecond)
		e.px.remove(s, "lat")
		e.recovered(cp2)
		e.settle()
	})
}

func TestHTTPBandwidth(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHTTP, "bandwidth 32 KB/s", cp2,
			"A bandwidth toxic limits answers to 32 KB/s. A 1 KB answer still succeeds; a 512 KB answer (16 s at that rate) with timeout_ms 1000 "+
				"ends timeout within 250 ms of its deadline instead of waiting for the body.")
		e := newHTTPEnv(t, s, breakerSettings)
		e.px.add(s, "bw", "bandwidth", `{"rate":32}`)
		rs, ds := e.sequence(3, "/?size=1000", 5000, 0)
		_, hi := span(ds)
		s.expect("small answers succeed", "3 of 3 success, < 1 s", fmt.Sprintf("%d of 3, slowest %s", countStatus(rs, host.StatusSuccess), ms(hi)),
			countStatus(rs, host.StatusSuccess) == 3 && hi < time.Second)
		rs, ds = e.sequence(3, "/?size=512000", 1000, 0)
		_, hi = span(ds)
		s.expect("a slow body ends at the deadline", "3 of 3 timeout, ≤ 1.25 s", fmt.Sprintf("%d of 3 (%s), slowest %s", countStatus(rs, host.StatusTimeout, abi.CancelledByTimeout), codes(rs), ms(hi)),
			countStatus(rs, host.StatusTimeout, abi.CancelledByTimeout) == 3 && hi <= 1250*time.Millisecond)
		e.px.remove(s, "bw")
		e.recovered(cp2)
		e.settle()
	})
}

func TestHTTPStalledConnection(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHTTP, "stalled connection (timeout toxic 1500 ms)", cp2,
			"A timeout toxic swallows the request and closes the connection after 1.5 s without an answer. Steps with timeout_ms 10000 and "+
				"retry_count 0 must end with an error (not hang, not succeed) within 1.5 s + 1 s.")
		e := newHTTPEnv(t, s, breakerSettings)
		e.px.add(s, "stall", "timeout", `{"timeout":1500}`)
		rs, ds := e.sequence(3, "/", 10000, 0)
		lo, hi := span(ds)
		s.expect("the step fails when the connection closes", "3 of 3 error, 1.5 s ≤ took ≤ 2.5 s",
			fmt.Sprintf("%d of 3 (%s), %s – %s", countStatus(rs, host.StatusError), codes(rs), ms(lo), ms(hi)),
			countStatus(rs, host.StatusError) == 3 && hi <= 2500*time.Millisecond)
		e.px.remove(s, "stall")
		e.recovered(cp2)
		e.settle()
	})
}

func TestHTTPBlackhole(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHTTP, "blackhole (timeout toxic 0)", cp2,
			"A timeout toxic of 0 swallows everything and never closes the connection. A step with timeout_ms 800 ends timeout by its deadline; "+
				"a step with timeout_ms 10000 is ended by the HTTP capability's total timeout (2 s here). Afterwards no goroutine is left behind.")
		e := newHTTPEnv(t, s, breakerSettings)
		e.px.add(s, "hole", "timeout", `{"timeout":0}`)
		rs, ds := e.sequence(3, "/", 800, 0)
		_, hi := span(ds)
		s.expect("the step deadline fires", "3 of 3 timeout, ≤ 1.05 s", fmt.Sprintf("%d of 3 (%s), slowest %s", countStatus(rs, host.StatusTimeout, abi.CancelledByTimeout), codes(rs), ms(hi)),
			countStatus(rs, host.StatusTimeout, abi.CancelledByTimeout) == 3 && hi <= 1050*time.Millisecond)
		rs, ds = e.sequence(2, "/", 10000, 0)
		lo, hi := span(ds)
		s.expect("the HTTP total timeout fires", "2 of 2 end (not success) within 2 s + 0.5 s", fmt.Sprintf("%s, %s – %s", codes(rs), ms(lo), ms(hi)),
			countStatus(rs, host.StatusSuccess) == 0 && hi <= 2500*time.Millisecond)
		e.px.remove(s, "hole")
		e.recovered(cp2)
		e.settle()
	})
}

func TestHTTPResetPeerAndBreaker(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHTTP, "reset peer, circuit breaker and recovery", cp2,
			"A reset_peer toxic resets every connection. 12 steps in a row (retry_count 0): with CP2 the endpoint's breaker (5 consecutive failures, "+
				"recovery 1 s, 2 successful probes) opens within 5 failures and later steps fail at once with RESOURCE_UNAVAILABLE (circuit open) "+
				"without touching the network; with CP1 every step hits the failing network. The toxic is then removed: the breaker must close "+
				"within the recovery timeout plus a few probes.")
		e := newHTTPEnv(t, s, breakerSettings)
		e.px.add(s, "reset", "reset_peer", `{"timeout":0}`)
		rs, ds := e.sequence(12, "/", 2000, 0)
		firstOpen := -1
		for i, r := range rs {
			if r.ErrorCode == abi.ResourceUnavailable && strings.Contains(r.ErrorMessage, "circuit open") {
				firstOpen = i
				break
			}
		}
		failures := countStatus(rs, host.StatusError)
		if cp2 {
			s.expect("breaker opens within 5 failures", "step 6 or earlier fails circuit open", fmt.Sprintf("first circuit-open step: %d (%s)", firstOpen+1, codes(rs)),
				firstOpen >= 0 && firstOpen <= 5)
			if firstOpen >= 0 {
				_, hi := span(ds[firstOpen:])
				s.expect("open breaker fails fast", "≤ 20 ms", ms(hi), hi <= 20*time.Millisecond)
			}
			s.figure("breaker state", e.breakerState())
		} else {
			s.expect("no breaker: every step reaches the failing network", "12 of 12 fail, none circuit open",
				fmt.Sprintf("%d fail (%s)", failures, codes(rs)), failures == 12 && firstOpen < 0)
		}
		e.px.remove(s, "reset")
		e.recovered(cp2)
		if cp2 {
			for range 3 {
				e.step("/", 2000, 0)
			}
			st := e.breakerState()
			s.expect("breaker closed again", "closed after 2 successful probes", st, st == "closed")
		}
		e.settle()
	})
}

// storm starts n steps at once, each GETting its own path through the
// proxy with retry_count 3, and returns their results, the upstream hits
// they caused and the times of the retries among them.
func (e *httpEnv) storm(n int) ([]host.StepResult, []time.Time, []time.Time) {
	before := len(e.up.hitTimes())
	var wg sync.WaitGroup
	results := make([]host.StepResult, n)
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			results[i], _, _ = e.step(fmt.Sprintf("/storm/%d", i), 10000, 3)
		}()
	}
	close(gate)
	wg.Wait()
	return results, e.up.hitTimes()[before:], e.up.repeatHits(before)
}

// peakPer is the largest number of times within one window w.
func peakPer(times []time.Time, w time.Duration) int {
	times = append([]time.Time(nil), times...)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	peak := 0
	for i, j := 0, 0; i < len(times); i++ {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		peak = max(peak, i-j+1)
	}
	return peak
}

func TestHTTPRetryStormAtTheUpstream(t *testing.T) {
	const n = 100
	var cp1Peak10, cp1Peak50 int
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHTTP, "retry storm at the upstream: every step's first two attempts get 503", cp2,
			fmt.Sprintf("%d steps start at once (io pool of 128, retry_count 3), each on its own path; the upstream answers 503 to the first two "+
				"hits of every path and 200 to the third, so both modes send exactly 3 requests per step and the only difference is when the "+
				"retries go: CP1's fixed 100·(n+1) ms waits or CP2's exponential backoff with full jitter. The peak counts retries (a path's "+
				"second or later hit) reaching the upstream within one window. The breaker is set never to open by count here.", n))
		e := newHTTPEnv(t, s, policy.BreakerSettings{FailureThreshold: -1, RecoveryTimeout: time.Second})
		e.up.setStatus(func(path string, hit int, _ time.Time) int {
			if strings.HasPrefix(path, "/storm/") && hit < 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		results, hits, retries := e.storm(n)
		ok := countStatus(results, host.StatusSuccess)
		p10, p50 := peakPer(retries, 10*time.Millisecond), peakPer(retries, 50*time.Millisecond)
		s.expect("every step succeeds on its third attempt", fmt.Sprintf("%d of %d, %d upstream hits", n, n, 3*n),
			fmt.Sprintf("%d, %d hits (%s)", ok, len(hits), codes(results)), ok == n && len(hits) == 3*n)
		got := fmt.Sprintf("%d per 10 ms, %d per 50 ms (first attempts: %d per 10 ms)", p10, p50,
			peakPer(firstHits(hits, retries), 10*time.Millisecond))
		if !cp2 {
			cp1Peak10, cp1Peak50 = p10, p50
			s.expect("retry peak at the upstream (fixed backoff)", "(CP1 baseline)", got, true)
			e.settle()
			return
		}
		// On a small machine the host dispatches requests no faster than
		// about one per 0.3 ms, which spreads CP1's herd as well: the
		// 10 ms peak is where jitter shows; the 50 ms one is a figure.
		s.expect("retry peak at the upstream (full jitter)", fmt.Sprintf("per 10 ms ≤ CP1's (%d)", cp1Peak10),
			got+fmt.Sprintf("; CP1: %d per 10 ms, %d per 50 ms", cp1Peak10, cp1Peak50), cp1Peak10 == 0 || p10 <= cp1Peak10)
		e.settle()
	})
}

// firstHits returns the hits that are not retries.
func firstHits(hits, retries []time.Time) []time.Time {
	isRetry := map[time.Time]int{}
	for _, r := range retries {
		isRetry[r]++
	}
	var out []time.Time
	for _, h := range hits {
		if isRetry[h] > 0 {
			isRetry[h]--
			continue
		}
		out = append(out, h)
	}
	return out
}

func TestHTTPUpstreamOutage(t *testing.T) {
	const n = 100
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHTTP, "upstream 503 outage of 150 ms", cp2,
			fmt.Sprintf("%d steps start at once (retry_count 3, io pool of 128); the upstream answers 503 to everything for 150 ms from its "+
				"first hit, then 200. Measured: how many requests reach the upstream during the outage (load the retries add to a struggling "+
				"service) and how many steps succeed. The breaker is set never to open by count here.", n))
		e := newHTTPEnv(t, s, policy.BreakerSettings{FailureThreshold: -1, RecoveryTimeout: time.Second})
		var t0 time.Time
		var once sync.Once
		e.up.setStatus(func(path string, _ int, at time.Time) int {
			once.Do(func() { t0 = at })
			if at.Sub(t0) < 150*time.Millisecond {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		results, hits, retries := e.storm(n)
		during := 0
		for _, h := range hits {
			if h.Sub(t0) < 150*time.Millisecond {
				during++
			}
		}
		ok := countStatus(results, host.StatusSuccess)
		s.figure("requests reaching the upstream during the outage", fmt.Sprintf("%d (%d in all, %d retries)", during, len(hits), len(retries)))
		want, pass := fmt.Sprintf("%d of %d", n, n), ok == n
		if cp2 {
			want, pass = fmt.Sprintf("≥ 90 %% of %d (a step whose jittered waits all fall inside the outage may run out of retries)", n), ok >= n*9/10
		}
		s.expect("steps succeed once the outage ends", want, fmt.Sprintf("%d (%s)", ok, codes(results)), pass)
		e.settle()
	})
}

func TestHTTPNonRetryable4xx(t *testing.T) {
	const n = 20
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHTTP, "upstream 400: attempts wasted", cp2,
			fmt.Sprintf("The upstream answers 400 on /bad. %d steps with retry_count 3: CP1 retries every error (4 upstream hits per step), "+
				"CP2 classifies 4xx as not retryable (1 hit per step).", n))
		e := newHTTPEnv(t, s, breakerSettings)
		e.up.setStatus(func(path string, _ int, _ time.Time) int {
			if path == "/bad" {
				return http.StatusBadRequest
			}
			return http.StatusOK
		})
		rs := make([]host.StepResult, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rs[i], _, _ = e.step("/bad", 5000, 3)
			}()
		}
		wg.Wait()
		hits := e.up.hitCount("/bad")
		s.expect("every step ends HTTP_ERROR", fmt.Sprintf("%d of %d", n, n), fmt.Sprintf("%d (%s)", countStatus(rs, host.StatusError, abi.HTTPError), codes(rs)),
			countStatus(rs, host.StatusError, abi.HTTPError) == n)
		if cp2 {
			s.expect("upstream hits (attempts wasted)", fmt.Sprintf("%d (0 wasted)", n), fmt.Sprintf("%d (%d wasted)", hits, hits-n), hits == n)
		} else {
			s.expect("upstream hits (attempts wasted)", fmt.Sprintf("%d (CP1 baseline: %d wasted)", 4*n, 3*n), fmt.Sprintf("%d (%d wasted)", hits, hits-n), hits == 4*n)
		}
		e.settle()
	})
}
