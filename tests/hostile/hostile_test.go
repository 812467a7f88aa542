package hostile

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/policy"
)

// TestMain fails the package if goroutines outlive the tests. Some end
// just after the host that started them closes (connections, timers), so
// the check polls for a while instead of looking once.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := goleak.Find()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goroutines left behind:\n%v\n", err)
				code = 1
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	os.Exit(code)
}

const (
	// goodWorkers is how many goroutines run good steps back to back
	// alongside each hostile case.
	goodWorkers = 2
	// goodBound is the latency every good step must stay under, unless
	// the case sets its own; raceSlowdown times more under the race
	// detector; never more than half the hostile step's timeout.
	goodBound    = 500 * time.Millisecond
	raceSlowdown = 4
	// stepTimeout is the timeout of hostile steps that only their
	// deadline ends.
	stepTimeout = 500 * time.Millisecond
	// deadlineSlack is how soon after its deadline such a step must end.
	deadlineSlack = 300 * time.Millisecond
)

var allCP2 = policy.Features{AdvancedRetry: true, CompleteTimeout: true, Cancellation: true,
	QueueManagement: true, CircuitBreaker: true}

// hostileCase is one hostile scenario.
type hostileCase struct {
	name string
	// timeout is the longest timeout the case gives a hostile step (0 for
	// none): good steps alongside must stay under half of it.
	timeout time.Duration
	// goodBound, when set, replaces the package's goodBound.
	goodBound time.Duration
	// cp1 marks a case whose outcome the CP2 flags change (deadlines, HTTP
	// timeouts and breakers): it also runs with every flag off. Every case
	// runs with every flag on.
	cp1 bool
	// run runs the hostile step(s) and checks their outcome.
	run func(t *testing.T, x *trial)
}

// TestHostile runs the hostile cases with every CP2 flag off (those the
// flags concern), then every case with every flag on, each while good
// steps run alongside.
func TestHostile(t *testing.T) {
	modes := []struct {
		name string
		feat policy.Features
	}{
		{"cp1", policy.Features{}},
		{"cp2", allCP2},
	}
	hugeModule()
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t, mode.feat)
			for _, c := range hostileCases() {
				if !c.cp1 && mode.feat == (policy.Features{}) {
					continue
				}
				t.Run(c.name, func(t *testing.T) { e.alongside(t, c) })
			}
		})
	}
}

// bound is the latency every good step must stay under while c runs.
func (c hostileCase) bound() time.Duration {
	b := goodBound
	if c.goodBound > 0 {
		b = c.goodBound
	}
	if raceEnabled {
		b *= raceSlowdown
	}
	if c.timeout > 0 {
		b = min(b, c.timeout/2)
	}
	return b
}

// trial is one hostile case running: the env, and the good steps running
// alongside.
type trial struct {
	*env
	load *goodLoad
	name string
}

// alongside runs case c while good steps run continuously, then checks
// that every good step succeeded in time and that the host still serves.
func (e *env) alongside(t *testing.T, c hostileCase) {
	load := &goodLoad{stop: make(chan struct{})}
	for w := range goodWorkers {
		load.serve(fmt.Sprintf("echo#%d", w), e.good)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			close(load.stop)
			load.wg.Wait()
		}
	}
	defer stop()
	load.waitFor(t, "a first good step", func(s sample) bool { return true })

	start := time.Now()
	c.run(t, &trial{env: e, load: load, name: c.name})
	end := time.Now()

	// The host keeps serving after the hostile steps: every runner
	// completes a step started after they ended.
	for _, who := range load.runners() {
		load.waitFor(t, who+" to serve a step after the hostile ones", func(s sample) bool {
			return s.who == who && s.start.After(end)
		})
	}
	stop()

	bound := c.bound()
	var failed, during int
	var slowest time.Duration
	for _, s := range load.samples {
		if s.err != nil {
			if failed++; failed <= 5 {
				t.Errorf("good step %s failed: %v", s.who, s.err)
			}
		}
		slowest = max(slowest, s.end.Sub(s.start))
		if !s.start.Before(start) && !s.end.After(end) {
			during++
		}
	}
	assert.Zero(t, failed, "good steps failed while the hostile case ran")
	assert.Less(t, slowest, bound, "a good step took too long while the hostile case ran")
	if end.Sub(start) >= 300*time.Millisecond {
		assert.Positive(t, during, "no good step completed while the hostile case ran")
	}
	t.Logf("hostile case took %v; %d good steps alongside (%d within it), slowest %v",
		end.Sub(start).Round(time.Millisecond), len(load.samples), during, slowest.Round(time.Microsecond))
	require.NoError(t, e.good(-1), "the host serves a step after the hostile case")
}

// goodLoad runs good steps back to back in goroutines and records them.
type goodLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	who     []string
	samples []sample
}

// sample is one good step.
type sample struct {
	who        string
	start, end time.Time
	err        error
}

// serve starts a goroutine running fn(0), fn(1), ... until the load stops.
func (l *goodLoad) serve(who string, fn func(i int) error) {
	l.mu.Lock()
	l.who = append(l.who, who)
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			start := time.Now()
			err := fn(i)
			l.mu.Lock()
			l.samples = append(l.samples, sample{who: who, start: start, end: time.Now(), err: err})
			l.mu.Unlock()
		}
	}()
}

func (l *goodLoad) runners() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.who...)
}

// waitFor polls until a recorded sample satisfies ok.
func (l *goodLoad) waitFor(t *testing.T, what string, ok func(sample) bool) {
	t.Helper()
	eventually(t, 10*time.Second, func() string {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, s := range l.samples {
			if ok(s) {
				return ""
			}
		}
		return "waiting for " + what
	})
}

// also runs fn as good steps alongside the rest of the case, e.g. on a
// second host the case created.
func (x *trial) also(t *testing.T, who string, fn func(i int) error) {
	t.Helper()
	x.load.serve(who, fn)
	x.load.waitFor(t, who+" to serve a step", func(s sample) bool { return s.who == who })
}

// exec runs req as a hostile step: a step id naming the case, no retry
// unless req asks. It returns the result and how long Execute took.
func (x *trial) exec(t *testing.T, req host.StepRequest) (host.StepResult, time.Duration) {
	t.Helper()
	if req.RetryCount == nil {
		zero := 0
		req.RetryCount = &zero
	}
	if req.Context.StepID == "" {
		req.Context.StepID = x.stepID(x.name)
	}
	start := time.Now()
	res, err := x.h.Execute(context.Background(), req)
	took := time.Since(start)
	require.NoError(t, err, "step %s was not admitted", req.Type)
	return res, took
}

// expect checks a hostile step's status, wire code and message, and that
// it returned no output.
func expect(t *testing.T, res host.StepResult, status host.Status, code abi.Code, message ...string) {
	t.Helper()
	assert.Equal(t, status, res.Status, "status (message %q)", res.ErrorMessage)
	assert.Equal(t, code, res.ErrorCode, "error code (message %q)", res.ErrorMessage)
	for _, m := range message {
		assert.Contains(t, res.ErrorMessage, m)
	}
	if status != host.StatusSuccess {
		assert.Empty(t, res.Outputs, "a failed step returns no output")
	}
}

// expectTimeout checks a step stopped at its deadline, soon after it.
func (x *trial) expectTimeout(t *testing.T, res host.StepResult, took, timeout time.Duration, when string) {
	t.Helper()
	expect(t, res, host.StatusTimeout, abi.CancelledByTimeout, x.timeoutWords(), when)
	assert.GreaterOrEqual(t, took, timeout, "ended before its deadline")
	assert.Less(t, took, timeout+deadlineSlack, "ended more than %v after its deadline", deadlineSlack)
}

func intp(i int) *int { return &i }
