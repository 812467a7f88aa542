package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure one run.
type Options struct {
	// Label names the run in progress lines and reports.
	Label string
	// Rate > 0 runs open loop: send i is due at start + i/Rate, and its
	// latency is measured from that intended time, so a send the generator
	// could only make late still counts the wait (no coordinated omission).
	Rate float64
	// Concurrency > 0 (with Rate 0) runs closed loop: that many senders,
	// each sending its next request when its previous one is answered.
	Concurrency int
	// Duration is how long requests are sent.
	Duration time.Duration
	// MaxInFlight bounds open-loop sends in flight (default 10000). When it
	// is reached the generator waits for a slot; sends still waiting when
	// the duration ends are counted as unsent.
	MaxInFlight int
	// Workers > 0 sends open-loop requests from that many workers (one per
	// HTTP connection, as wrk2 does) fed by the schedule through a queue of
	// MaxInFlight; 0 starts one goroutine per send. Latency counts from
	// the intended time either way.
	Workers int
	// Drain is how long to wait for answers after the last send (default
	// 30 s); sends still in flight then are counted as abandoned.
	Drain time.Duration
	// Probe samples gauges every second; nil samples nothing.
	Probe Probe
	// Progress receives one line per second; nil writes none.
	Progress io.Writer
	// Stop is called with every sampled second; a non-empty reason stops
	// sending at once (e.g. a memory cap) and is recorded.
	Stop func(Second) string
}

// Second is one second of a run: sends by intended time, answers by
// completion time, latency quantiles of the successes completed in it and
// the gauges sampled at its end.
type Second struct {
	T          int           `json:"t"`
	Sent       int64         `json:"sent"`
	OK         int64         `json:"ok"`
	StepErrors int64         `json:"step_errors"`
	Rejected   int64         `json:"rejected"`
	Failed     int64         `json:"failed"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
	InFlight   int64         `json:"in_flight"`
	Gauges
}

// Result is what a run measured.
type Result struct {
	Label       string        `json:"label"`
	Mode        string        `json:"mode"` // open or closed
	Rate        float64       `json:"rate,omitempty"`
	Concurrency int           `json:"concurrency,omitempty"`
	Duration    time.Duration `json:"duration_ns"`
	// Elapsed is from the start to the last answer.
	Elapsed time.Duration `json:"elapsed_ns"`
	Types   []string      `json:"types"`

	Scheduled  int64 `json:"scheduled"`
	Sent       int64 `json:"sent"`
	Unsent     int64 `json:"unsent"`
	Late       int64 `json:"late"` // sent more than 1 ms after their intended time
	OK         int64 `json:"ok"`
	StepErrors int64 `json:"step_errors"`
	Rejected   int64 `json:"rejected"`
	Failed     int64 `json:"failed"`
	Abandoned  int64 `json:"abandoned"`

	// Codes counts step error codes and failure reasons: "step_error:CODE",
	// "failed:REASON".
	Codes       map[string]int64 `json:"codes"`
	FirstErrors []string         `json:"first_errors,omitempty"`

	// Latency is of successful steps; Accepted of every admitted step
	// (successes and step errors); Errors of step errors; Rejection of
	// rejections.
	Latency   *Snapshot            `json:"latency"`
	Accepted  *Snapshot            `json:"accepted"`
	Errors    *Snapshot            `json:"errors"`
	Rejection *Snapshot            `json:"rejection"`
	ByType    map[string]*Snapshot `json:"by_type"`

	Seconds   []Second `json:"seconds"`
	StoppedBy string   `json:"stopped_by,omitempty"`
}

// Throughput returns successful steps per second over the run.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Offered returns sends per second over the sending time.
func (r *Result) Offered() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Duration.Seconds()
}

// RejectionsPerSecond returns rejections per second of sending time.
func (r *Result) RejectionsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Rejected) / r.Duration.Seconds()
}

// PeakRSS returns the largest RSS sampled, or -1.
func (r *Result) PeakRSS() int64 {
	m := int64(-1)
	for _, s := range r.Seconds {
		m = max(m, s.RSS)
	}
	return m
}

// StartRSS and EndRSS return the first and last RSS sampled, or -1.
func (r *Result) StartRSS() int64 {
	for _, s := range r.Seconds {
		if s.RSS >= 0 {
			return s.RSS
		}
	}
	return -1
}

// EndRSS returns the last RSS sampled, or -1.
func (r *Result) EndRSS() int64 {
	for i := len(r.Seconds) - 1; i >= 0; i-- {
		if r.Seconds[i].RSS >= 0 {
			return r.Seconds[i].RSS
		}
	}
	return -1
}

// PeakGauge returns the largest value of f over the sampled seconds.
func (r *Result) PeakGauge(f func(Second) int) int {
	m := -1
	for _, s := range r.Seconds {
		m = max(m, f(s))
	}
	return m
}

type recorder struct {
	start  time.Time
	nsec   int
	closed atomic.Bool

	sent, late, inFlight    atomic.Int64
	kinds                   [nKinds]atomic.Int64
	secSent                 []atomic.Int64
	secKinds                [][nKinds]atomic.Int64
	secLat                  []Histogram
	ok, accepted, rejection Histogram
	stepErrs                Histogram
	byType                  []Histogram
	lastDone                atomic.Int64 // ns since start
	mu                      sync.Mutex
	codes                   map[string]int64
	firstErrors             []string
	secondsMu               sync.Mutex
	seconds                 []Second
}

func (r *recorder) sec(t time.Time) int {
	s := int(t.Sub(r.start) / time.Second)
	return min(max(s, 0), r.nsec-1)
}

func (r *recorder) sentAt(intended, now time.Time) {
	r.sent.Add(1)
	r.inFlight.Add(1)
	r.secSent[r.sec(intended)].Add(1)
	if now.Sub(intended) > time.Millisecond {
		r.late.Add(1)
	}
}

func (r *recorder) record(typ int, intended, done time.Time, o Outcome) {
	r.inFlight.Add(-1)
	if r.closed.Load() {
		return
	}
	lat := done.Sub(intended)
	r.kinds[o.Kind].Add(1)
	s := r.sec(done)
	r.secKinds[s][o.Kind].Add(1)
	for {
		cur := r.lastDone.Load()
		d := int64(done.Sub(r.start))
		if d <= cur || r.lastDone.CompareAndSwap(cur, d) {
			break
		}
	}
	switch o.Kind {
	case KindOK:
		r.ok.Record(lat)
		r.accepted.Record(lat)
		r.byType[typ].Record(lat)
		r.secLat[s].Record(lat)
	case KindStepError:
		r.accepted.Record(lat)
		r.stepErrs.Record(lat)
	case KindRejected:
		r.rejection.Record(lat)
	}
	if o.Kind == KindStepError || o.Kind == KindFailed {
		r.mu.Lock()
		r.codes[o.Kind.String()+":"+o.Code]++
		if o.Err != nil && len(r.firstErrors) < 5 {
			r.firstErrors = append(r.firstErrors, o.Err.Error())
		}
		r.mu.Unlock()
	}
}

// second builds the figures of second i.
func (r *recorder) second(i int, g Gauges) Second {
	k := &r.secKinds[i]
	snap := r.secLat[i].Snapshot()
	return Second{T: i, Sent: r.secSent[i].Load(), OK: k[KindOK].Load(), StepErrors: k[KindStepError].Load(),
		Rejected: k[KindRejected].Load(), Failed: k[KindFailed].Load(),
		P50: snap.Quantile(0.5), P99: snap.Quantile(0.99), Max: snap.Max(),
		InFlight: r.inFlight.Load(), Gauges: g}
}

// Run drives t with the requests of w as o says, until the duration has
// passed and the answers are in (or Drain has passed), or ctx ends.
func Run(ctx context.Context, t Target, w *Workload, o Options) (*Result, error) {
	switch {
	case o.Duration <= 0:
		return nil, errors.New("run: duration must be positive")
	case o.Rate <= 0 && o.Concurrency <= 0:
		return nil, errors.New("run: set a rate (open loop) or a concurrency (closed loop)")
	case o.Rate > 0 && o.Concurrency > 0:
		return nil, errors.New("run: set a rate or a concurrency, not both")
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 10000
	}
	if o.Drain <= 0 {
		o.Drain = 30 * time.Second
	}
	types := w.Types()
	r := &recorder{start: time.Now(), codes: map[string]int64{}, byType: make([]Histogram, len(types))}
	r.nsec = int((o.Duration+o.Drain)/time.Second) + 3
	r.secSent = make([]atomic.Int64, r.nsec)
	r.secKinds = make([][nKinds]atomic.Int64, r.nsec)
	r.secLat = make([]Histogram, r.nsec)

	sendCtx, stopSending := context.WithCancelCause(ctx)
	defer stopSending(nil)
	reqCtx, cancelRequests := context.WithCancel(ctx)
	defer cancelRequests()

	samplerDone := make(chan struct{})
	stopSampler := make(chan struct{})
	go r.sample(o, stopSampler, samplerDone, stopSending)

	var wg sync.WaitGroup
	var scheduled int64
	if o.Rate > 0 {
		scheduled = r.openLoop(sendCtx, reqCtx, t, w, o, &wg)
	} else {
		r.closedLoop(sendCtx, reqCtx, t, w, o, &wg)
	}
	sendEnd := time.Now()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	drain := time.NewTimer(o.Drain)
	select {
	case <-done:
	case <-drain.C:
	case <-ctx.Done():
	}
	drain.Stop()
	abandoned := r.inFlight.Load()
	r.closed.Store(true)
	cancelRequests()
	close(stopSampler)
	<-samplerDone

	res := &Result{Label: o.Label, Duration: o.Duration, Types: types, Codes: map[string]int64{}}
	if o.Rate > 0 {
		res.Mode, res.Rate, res.Scheduled = "open", o.Rate, scheduled
	} else {
		res.Mode, res.Concurrency = "closed", o.Concurrency
	}
	res.Sent, res.Late, res.Abandoned = r.sent.Load(), r.late.Load(), abandoned
	if res.Mode == "open" {
		res.Unsent = res.Scheduled - res.Sent
	}
	res.OK = r.kinds[KindOK].Load()
	res.StepErrors = r.kinds[KindStepError].Load()
	res.Rejected = r.kinds[KindRejected].Load()
	res.Failed = r.kinds[KindFailed].Load()
	res.Elapsed = time.Duration(r.lastDone.Load())
	if res.Elapsed <= 0 {
		res.Elapsed = sendEnd.Sub(r.start)
	}
	r.mu.Lock()
	for k, v := range r.codes {
		res.Codes[k] = v
	}
	res.FirstErrors = r.firstErrors
	r.mu.Unlock()
	res.Latency, res.Accepted, res.Rejection = r.ok.Snapshot(), r.accepted.Snapshot(), r.rejection.Snapshot()
	res.Errors = r.stepErrs.Snapshot()
	res.ByType = map[string]*Snapshot{}
	for i, typ := range types {
		s := r.byType[i].Snapshot()
		if prev := res.ByType[typ]; prev != nil {
			prev.Merge(s)
		} else {
			res.ByType[typ] = s
		}
	}
	r.secondsMu.Lock()
	res.Seconds = r.seconds
	r.secondsMu.Unlock()
	// The seconds after the last sample, up to the last answer, have no
	// gauges.
	last := int(max(res.Elapsed, sendEnd.Sub(r.start)) / time.Second)
	for i := len(res.Seconds); i <= last && i < r.nsec; i++ {
		res.Seconds = append(res.Seconds, r.second(i, Unknown))
	}
	if c := context.Cause(sendCtx); c != nil && !errors.Is(c, context.Canceled) {
		res.StoppedBy = c.Error()
	}
	return res, ctx.Err()
}

// openLoop sends on schedule and returns how many sends were scheduled.
func (r *recorder) openLoop(sendCtx, reqCtx context.Context, t Target, w *Workload, o Options, wg *sync.WaitGroup) int64 {
	n := int64(math.Round(o.Rate * o.Duration.Seconds()))
	sem := make(chan struct{}, o.MaxInFlight)
	endCtx, cancel := context.WithDeadline(sendCtx, r.start.Add(o.Duration))
	defer cancel()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var jobs chan job
	if o.Workers > 0 {
		// The semaphore bounds sends queued or in flight; each worker
		// frees a slot when its send is answered.
		jobs = make(chan job, o.MaxInFlight)
		defer close(jobs)
		for range o.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					typ, req := w.Next(j.i)
					out := t.Do(reqCtx, req)
					r.record(typ, j.intended, time.Now(), out)
					<-sem
				}
			}()
		}
	}
	for i := int64(0); i < n; i++ {
		intended := r.start.Add(time.Duration(float64(i) * float64(time.Second) / o.Rate))
		if d := time.Until(intended); d > 20*time.Microsecond {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-sendCtx.Done():
				return n
			}
		}
		select {
		case sem <- struct{}{}:
		default:
			select {
			case sem <- struct{}{}:
			case <-endCtx.Done():
				return n
			}
		}
		r.sentAt(intended, time.Now())
		if jobs != nil {
			jobs <- job{uint64(i), intended}
			continue
		}
		wg.Add(1)
		go func(i uint64, intended time.Time) {
			defer wg.Done()
			typ, req := w.Next(i)
			out := t.Do(reqCtx, req)
			r.record(typ, intended, time.Now(), out)
			<-sem
		}(uint64(i), intended)
	}
	return n
}

type job struct {
	i        uint64
	intended time.Time
}

// closedLoop runs o.Concurrency senders until the duration ends.
func (r *recorder) closedLoop(sendCtx, reqCtx context.Context, t Target, w *Workload, o Options, wg *sync.WaitGroup) {
	end := r.start.Add(o.Duration)
	var seq atomic.Uint64
	var senders sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		senders.Add(1)
		go func() {
			defer wg.Done()
			defer senders.Done()
			for sendCtx.Err() == nil {
				now := time.Now()
				if !now.Before(end) {
					return
				}
				typ, req := w.Next(seq.Add(1) - 1)
				r.sentAt(now, now)
				out := t.Do(reqCtx, req)
				r.record(typ, now, time.Now(), out)
			}
		}()
	}
	// Sending ends at the deadline; the answers still out are drained by
	// Run.
	select {
	case <-time.After(time.Until(end)):
	case <-sendCtx.Done():
	}
}

func (r *recorder) sample(o Options, stop <-chan struct{}, done chan<- struct{}, stopSending context.CancelCauseFunc) {
	defer close(done)
	next := 1
	timer := time.NewTimer(time.Until(r.start.Add(time.Second)))
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		g := Unknown
		if o.Probe != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			g = o.Probe.Sample(ctx)
			cancel()
		}
		i := next - 1
		if i >= r.nsec {
			return
		}
		s := r.second(i, g)
		r.secondsMu.Lock()
		r.seconds = append(r.seconds, s)
		r.secondsMu.Unlock()
		if o.Progress != nil {
			fmt.Fprintln(o.Progress, progressLine(o.Label, s))
		}
		if o.Stop != nil {
			if why := o.Stop(s); why != "" {
				stopSending(errors.New(why))
			}
		}
		next++
		timer.Reset(time.Until(r.start.Add(time.Duration(next) * time.Second)))
	}
}

func progressLine(label string, s Second) string {
	var b strings.Builder
	if label != "" {
		fmt.Fprintf(&b, "%s ", label)
	}
	fmt.Fprintf(&b, "[%3ds] sent %d ok %d err %d rej %d fail %d inflight %d p50 %s p99 %s max %s",
		s.T+1, s.Sent, s.OK, s.StepErrors, s.Rejected, s.Failed, s.InFlight,
		FormatDuration(s.P50), FormatDuration(s.P99), FormatDuration(s.Max))
	if s.RSS >= 0 {
		fmt.Fprintf(&b, " rss %s", FormatBytes(s.RSS))
	}
	if s.Goroutines >= 0 {
		fmt.Fprintf(&b, " goroutines %d", s.Goroutines)
	}
	if s.QueueDepth >= 0 {
		fmt.Fprintf(&b, " queue %d", s.QueueDepth)
	}
	return b.String()
}

// FormatDuration prints d with three significant figures in a fitting
// unit.
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// FormatBytes prints n in MiB or GiB.
func FormatBytes(n int64) string {
	switch {
	case n < 0:
		return "n/a"
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// SortedCodes returns the codes of r by count, highest first.
func (r *Result) SortedCodes() []string {
	keys := make([]string, 0, len(r.Codes))
	for k := range r.Codes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if r.Codes[keys[i]] != r.Codes[keys[j]] {
			return r.Codes[keys[i]] > r.Codes[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
