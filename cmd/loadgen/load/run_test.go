package load

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTarget answers after delay(i) with out(i), i counting calls.
type fakeTarget struct {
	n     atomic.Int64
	delay func(i int64) time.Duration
	out   func(i int64) Outcome
}

func (f *fakeTarget) Do(ctx context.Context, r *Request) Outcome {
	i := f.n.Add(1) - 1
	if f.delay != nil {
		select {
		case <-time.After(f.delay(i)):
		case <-ctx.Done():
			return Outcome{Kind: KindFailed, Code: "cancelled", Err: ctx.Err()}
		}
	}
	if f.out != nil {
		return f.out(i)
	}
	return Outcome{Kind: KindOK}
}

func (f *fakeTarget) Close() error { return nil }

func noopWorkload(t *testing.T) *Workload {
	t.Helper()
	w, err := NewWorkload(WorkloadOptions{Mix: []Weighted{{Type: "noop", Weight: 1}}})
	require.NoError(t, err)
	return w
}

func TestOpenLoopSendsOnSchedule(t *testing.T) {
	ft := &fakeTarget{out: func(i int64) Outcome {
		switch i % 10 {
		case 0:
			return Outcome{Kind: KindRejected, Code: "429"}
		case 1:
			return Outcome{Kind: KindStepError, Code: "EXECUTION_FAILED"}
		}
		return Outcome{Kind: KindOK}
	}}
	res, err := Run(context.Background(), ft, noopWorkload(t), Options{Rate: 500, Duration: 1200 * time.Millisecond})
	require.NoError(t, err)
	assert.EqualValues(t, 600, res.Scheduled)
	assert.EqualValues(t, 600, res.Sent)
	assert.Zero(t, res.Unsent)
	assert.EqualValues(t, 60, res.Rejected)
	assert.EqualValues(t, 60, res.StepErrors)
	assert.EqualValues(t, 480, res.OK)
	assert.EqualValues(t, 60, res.Codes["step_error:EXECUTION_FAILED"])
	assert.InDelta(t, 500, res.Offered(), 1)
	var sent int64
	for _, s := range res.Seconds {
		sent += s.Sent
	}
	assert.EqualValues(t, 600, sent, "every send lands in a second")
}

// TestOpenLoopCountsFromIntendedTime pins the absence of coordinated
// omission: with one worker and a target that stalls 300 ms once, the
// sends queued behind the stall count their wait.
func TestOpenLoopCountsFromIntendedTime(t *testing.T) {
	ft := &fakeTarget{delay: func(i int64) time.Duration {
		if i == 10 {
			return 300 * time.Millisecond
		}
		return 0
	}}
	res, err := Run(context.Background(), ft, noopWorkload(t), Options{Rate: 100, Duration: time.Second, Workers: 1})
	require.NoError(t, err)
	require.EqualValues(t, 100, res.OK)
	// About 30 sends were due during the stall; the one due right after it
	// waited ~290 ms, and a closed-loop measure would have seen ~0.
	assert.GreaterOrEqual(t, res.Latency.Quantile(0.8), 50*time.Millisecond, "the queue behind the stall counts")
	assert.GreaterOrEqual(t, res.Latency.Max(), 290*time.Millisecond)
	assert.Positive(t, res.Late)
}

func TestOpenLoopBoundsInFlight(t *testing.T) {
	release := make(chan struct{})
	var peak, cur atomic.Int64
	ft := &fakeTarget{}
	ft.delay = func(int64) time.Duration {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		cur.Add(-1)
		return 0
	}
	go func() { time.Sleep(700 * time.Millisecond); close(release) }()
	res, err := Run(context.Background(), ft, noopWorkload(t), Options{Rate: 200, Duration: 500 * time.Millisecond, MaxInFlight: 20})
	require.NoError(t, err)
	assert.LessOrEqual(t, peak.Load(), int64(20))
	assert.EqualValues(t, 20, res.Sent)
	assert.EqualValues(t, 80, res.Unsent, "sends that never found a slot are reported")
}

func TestClosedLoop(t *testing.T) {
	var mu sync.Mutex
	var maxConc, conc int
	ft := &fakeTarget{delay: func(int64) time.Duration {
		mu.Lock()
		conc++
		maxConc = max(maxConc, conc)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		conc--
		mu.Unlock()
		return 0
	}}
	res, err := Run(context.Background(), ft, noopWorkload(t), Options{Concurrency: 4, Duration: 300 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, "closed", res.Mode)
	assert.LessOrEqual(t, maxConc, 4)
	assert.Greater(t, res.OK, int64(100))
	assert.Equal(t, res.Sent, res.OK)
	assert.Greater(t, res.Throughput(), 300.0)
}

func TestRunStopsAtTheStopCondition(t *testing.T) {
	probe := ProbeFunc(func(context.Context) Gauges { g := Unknown; g.RSS = 3 << 30; return g })
	res, err := Run(context.Background(), &fakeTarget{}, noopWorkload(t), Options{Rate: 100, Duration: 10 * time.Second, Probe: probe,
		Stop: func(s Second) string {
			if s.RSS > 2<<30 {
				return "RSS over the cap"
			}
			return ""
		}})
	require.NoError(t, err)
	assert.Equal(t, "RSS over the cap", res.StoppedBy)
	assert.Less(t, res.Sent, int64(300))
	assert.Positive(t, res.Unsent)
}

func TestRunAbandonsAfterDrain(t *testing.T) {
	ft := &fakeTarget{delay: func(int64) time.Duration { return time.Hour }}
	start := time.Now()
	res, err := Run(context.Background(), ft, noopWorkload(t), Options{Rate: 50, Duration: 200 * time.Millisecond, Drain: 200 * time.Millisecond})
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.EqualValues(t, 10, res.Abandoned)
	assert.Zero(t, res.OK)
}

func TestRunRejectsBadOptions(t *testing.T) {
	w := noopWorkload(t)
	for _, o := range []Options{{Duration: time.Second}, {Rate: 1, Concurrency: 1, Duration: time.Second}, {Rate: 1}} {
		_, err := Run(context.Background(), &fakeTarget{}, w, o)
		assert.Error(t, err)
	}
}

func TestWorkloadMix(t *testing.T) {
	mix, err := ParseMix("noop:8, test.sleep:2")
	require.NoError(t, err)
	assert.Equal(t, []Weighted{{"noop", 8}, {"test.sleep", 2}}, mix)
	for _, bad := range []string{"", "noop:0", "noop:x", ":3"} {
		_, err := ParseMix(bad)
		assert.Error(t, err, bad)
	}
	w, err := NewWorkload(WorkloadOptions{Mix: mix, Inputs: map[string]string{"extra": "1"}, PayloadBytes: 100})
	require.NoError(t, err)
	counts := map[string]int{}
	for i := range uint64(1000) {
		_, r := w.Next(i)
		counts[r.Type]++
	}
	assert.Equal(t, 800, counts["noop"])
	assert.Equal(t, 200, counts["test.sleep"])
	for _, r := range w.Requests() {
		assert.Equal(t, "1", r.Inputs["extra"])
		assert.Equal(t, "data", r.PayloadKey)
		assert.Len(t, r.Payload, 100)
	}
	assert.Equal(t, "10", w.Requests()[1].Inputs["ms"])
}

func TestHTTPTargetAgainstEcho(t *testing.T) {
	echo, err := StartEcho()
	require.NoError(t, err)
	defer echo.Close()
	tg := NewHTTPTarget(echo.URL, "", 4)
	defer tg.Close()
	r := &Request{Type: "noop", Inputs: map[string]string{"a": "b"}}
	assert.Equal(t, KindOK, tg.Do(context.Background(), r).Kind)
	big := &Request{Type: "noop", PayloadKey: "data", Payload: Payload(1 << 20)}
	assert.Equal(t, KindOK, tg.Do(context.Background(), big).Kind, "multipart goes through")
}

func TestHTTPTargetClassifiesAnswers(t *testing.T) {
	var gotMultipart atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			mr, err := r.MultipartReader()
			if err == nil {
				p, _ := mr.NextPart()
				q, _ := mr.NextPart()
				if p != nil && p.FormName() == "request" && q != nil && q.FormName() == "data" {
					gotMultipart.Store(true)
				}
			}
		}
		switch r.Header.Get("X-Want") {
		case "429":
			w.WriteHeader(http.StatusTooManyRequests)
		case "500":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "error":
			w.Write([]byte(`{"status":"error","error_code":"EXECUTION_FAILED"}`))
		default:
			w.Write([]byte(`{"status":"success","error_code":"NONE"}`))
		}
	}))
	defer srv.Close()
	tg := NewHTTPTarget(srv.URL, "tok", 2)
	defer tg.Close()
	assert.Equal(t, KindOK, tg.Do(context.Background(), &Request{Type: "noop", PayloadKey: "data", Payload: "xyz"}).Kind)
	assert.True(t, gotMultipart.Load(), "payload as its own part after the request part")

	do := func(want string) Outcome {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
		req.Header.Set("X-Want", want)
		return doHTTP(tg.client, req)
	}
	assert.Equal(t, KindRejected, do("429").Kind)
	o := do("500")
	assert.Equal(t, KindFailed, o.Kind)
	assert.Equal(t, "HTTP 500", o.Code)
	o = do("error")
	assert.Equal(t, KindStepError, o.Kind)
	assert.Equal(t, "EXECUTION_FAILED", o.Code)

	closed := NewHTTPTarget("http://127.0.0.1:1", "", 1)
	o = closed.Do(context.Background(), &Request{Type: "noop"})
	assert.Equal(t, KindFailed, o.Kind)
	assert.Equal(t, "connection refused", o.Code)
}

func TestReportWritesWellFormedSVG(t *testing.T) {
	res, err := Run(context.Background(), &fakeTarget{delay: func(i int64) time.Duration { return time.Duration(i%5) * time.Millisecond }},
		noopWorkload(t), Options{Label: "fake <run>", Rate: 200, Duration: 1100 * time.Millisecond, Probe: SelfProbe(nil)})
	require.NoError(t, err)
	dir := t.TempDir()
	r := NewReport(dir, "test report")
	r.Para("hello %d", 1)
	r.Table([]string{"a", "b|c"}, [][]string{{"1", "2"}})
	r.RunSection(res)
	require.NoError(t, r.Write())
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "# test report")
	assert.Contains(t, string(md), `b\|c`)
	svgs, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	require.NotEmpty(t, svgs)
	for _, f := range svgs {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Contains(t, string(md), filepath.Base(f), "the report links %s", f)
		dec := xml.NewDecoder(strings.NewReader(string(b)))
		for {
			_, err := dec.Token()
			if err != nil {
				require.ErrorContains(t, err, "EOF", "%s is well-formed XML", f)
				break
			}
		}
	}
	// Empty charts render a placeholder rather than failing.
	assert.Contains(t, LineChart{Title: "empty"}.SVG(), "no data")
	assert.Contains(t, BarChart{Title: "empty"}.SVG(), "no data")
	assert.Contains(t, LineChart{LogY: true, Series: []Series{{Name: "one", X: []float64{1}, Y: []float64{5}}}}.SVG(), "<circle")
}

func TestProbes(t *testing.T) {
	assert.Positive(t, ReadRSS(0))
	assert.Positive(t, ReadRSS(os.Getpid()))
	assert.EqualValues(t, -1, ReadRSS(1<<30))
	v, ok := metricValue([]byte("# HELP go_goroutines x\ngo_goroutines 42\nprocess_resident_memory_bytes 1.5e+07\n"), "process_resident_memory_bytes")
	assert.True(t, ok)
	assert.Equal(t, 1.5e7, v)
	_, ok = metricValue([]byte("go_goroutines_total 3\n"), "go_goroutines")
	assert.False(t, ok)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			w.Write([]byte("go_goroutines 17\nprocess_resident_memory_bytes 1048576\n"))
		case "/v1/pools":
			w.Write([]byte(`[{"name":"cpu","active":2,"queue_depth":5},{"name":"io","active":1,"queue_depth":1}]`))
		}
	}))
	defer srv.Close()
	g := ServerProbe(srv.URL, "", 0).Sample(context.Background())
	assert.Equal(t, Gauges{RSS: 1 << 20, Goroutines: 17, QueueDepth: 6, Active: 3}, g)
}

func TestManifestListsType(t *testing.T) {
	assert.True(t, manifestListsType("name: x\ntypes:\n  - noop\n  - other\n", "other"))
	assert.True(t, manifestListsType("types: [a, \"b\"]\n", "b"))
	assert.False(t, manifestListsType("types:\n  - a\nother:\n  - b\n", "b"))
}

func TestFormat(t *testing.T) {
	assert.Equal(t, "0", FormatDuration(0))
	assert.Equal(t, "250µs", FormatDuration(250*time.Microsecond))
	assert.Equal(t, "2.50ms", FormatDuration(2500*time.Microsecond))
	assert.Equal(t, "1.50s", FormatDuration(1500*time.Millisecond))
	assert.Equal(t, "1.5 MiB", FormatBytes(3<<19))
	assert.Equal(t, "2.00 GiB", FormatBytes(2<<30))
	assert.Equal(t, "n/a", FormatBytes(-1))
}
