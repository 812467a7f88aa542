//go:build e2e

package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/cmd/loadgen/load"
	"github.com/beamline/blockhost/host"
)

const groupHost = "Host: retries, deadlines, crashing guests"

// TestRetryStorm fails 200 steps at the same instant with a retryable
// error, three times each, and measures how their retries bunch up: CP1's
// fixed 100·(n+1) ms wait sends them all back together, CP2's jittered
// exponential backoff spreads them.
func TestRetryStorm(t *testing.T) {
	const n = 200
	var cp1Peak int
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHost, "retry storm: fixed backoff vs jitter", cp2,
			fmt.Sprintf("%d steps of test.fail (NETWORK_ERROR on attempts 0–2, success on attempt 3) start at once in a pool of 256 slots; "+
				"the host's \"attempt started\" debug lines give when each retry began. The peak is the most retries started within one 10 ms window "+
				"(%d = every step retried at the same instant).", n, n))
		rec := &attemptRecorder{}
		pools := append(host.DefaultPools(), host.PoolConfig{Name: "storm", MaxConcurrency: 256})
		h := s.newHost(host.Config{Pools: pools, Logger: slog.New(rec)}, "fail")
		var wg sync.WaitGroup
		results := make([]host.StepResult, n)
		start := time.Now()
		gate := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				results[i], _, _ = step(h, host.StepRequest{Type: "test.fail", RetryCount: intp(3),
					Inputs:    map[string]string{"code": "NETWORK_ERROR", "times": "3"},
					Resources: map[string]string{"class": "storm"}})
			}()
		}
		close(gate)
		wg.Wait()
		took := time.Since(start)
		ok := 0
		for _, r := range results {
			if r.Status == host.StatusSuccess {
				ok++
			}
		}
		retries := rec.retries()
		peak := peakPer10ms(retries)
		s.expect("every step succeeds after its retries", fmt.Sprintf("%d of %d", n, n), fmt.Sprintf("%d of %d in %s", ok, n, ms(took)), ok == n)
		s.expect("retries started", fmt.Sprintf("%d (3 per step)", 3*n), fmt.Sprint(len(retries)), len(retries) == 3*n)
		if !cp2 {
			cp1Peak = peak
			s.expect("retry-storm peak (fixed 100·(n+1) ms backoff)", "(CP1 baseline: synchronised)", fmt.Sprintf("%d retries in one 10 ms window", peak), true)
			return
		}
		want := max(cp1Peak/2, 1)
		s.expect("retry-storm peak (exponential backoff, full jitter)", fmt.Sprintf("≤ half of CP1's peak (%d)", want),
			fmt.Sprintf("%d retries in one 10 ms window (CP1: %d)", peak, cp1Peak), cp1Peak == 0 || peak <= want)
	})
}

// TestNonRetryableErrorsAreNotRetried counts the attempts wasted on errors
// that cannot succeed by retrying (INVALID_INPUT).
func TestNonRetryableErrorsAreNotRetried(t *testing.T) {
	const n = 50
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHost, "attempts wasted on non-retryable errors", cp2,
			fmt.Sprintf("%d steps of test.fail with code INVALID_INPUT (not retryable) and retry_count 3: CP1 retries every error, "+
				"CP2 classifies it and stops.", n))
		h := s.newHost(host.Config{}, "fail")
		attempts, codes := 0, map[abi.Code]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, _, err := step(h, host.StepRequest{Type: "test.fail", RetryCount: intp(3), Inputs: map[string]string{"code": "INVALID_INPUT"}})
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					attempts += 1 + res.RetriesUsed
					codes[res.ErrorCode]++
				}
			}()
		}
		wg.Wait()
		wasted := attempts - n
		s.expect("every step ends INVALID_INPUT", fmt.Sprintf("%d", n), fmt.Sprint(codes[abi.InvalidInput]), codes[abi.InvalidInput] == n)
		if cp2 {
			s.expect("attempts wasted retrying", "0", fmt.Sprintf("%d (%d attempts for %d steps, %s)", wasted, attempts, n, ms(time.Since(start))), wasted == 0)
		} else {
			s.expect("attempts wasted retrying", fmt.Sprintf("%d (CP1 baseline: every error retried)", 3*n),
				fmt.Sprintf("%d (%d attempts for %d steps, %s)", wasted, attempts, n, ms(time.Since(start))), wasted == 3*n)
		}
	})
}

// TestDeadlinesFire runs steps that would never end by themselves: a
// sleeping guest and a CPU loop that calls no host function. Each must
// end at its deadline, and nothing may be left running.
func TestDeadlinesFire(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHost, "deadlines fire (sleeping and looping guests)", cp2,
			"20 steps of test.sleep ms=60000 and 20 of test.loop (an endless CPU loop) with timeout_ms 300 and retry_count 0, all at once: "+
				"each must end timeout (CANCELLED_BY_TIMEOUT) within 250 ms of its deadline, and the goroutines they used must be gone afterwards.")
		h := s.newHost(host.Config{}, "sleep", "loop")
		// Warm both blocks so the baseline includes their instances.
		step(h, host.StepRequest{Type: "test.sleep", Inputs: map[string]string{"ms": "1"}})
		base := runtime.NumGoroutine()
		type out struct {
			typ  string
			res  host.StepResult
			took time.Duration
		}
		outs := make(chan out, 40)
		var wg sync.WaitGroup
		for i := range 40 {
			typ, in := "test.sleep", map[string]string{"ms": "60000"}
			if i%2 == 1 {
				typ, in = "test.loop", nil
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, took, err := step(h, host.StepRequest{Type: typ, Inputs: in, TimeoutMS: 300, RetryCount: intp(0),
					Resources: map[string]string{"class": "io"}})
				if err != nil {
					res.ErrorMessage = err.Error()
				}
				outs <- out{typ, res, took}
			}()
		}
		wg.Wait()
		close(outs)
		worst := map[string]time.Duration{}
		timeouts := map[string]int{}
		for o := range outs {
			worst[o.typ] = max(worst[o.typ], o.took)
			if o.res.Status == host.StatusTimeout && o.res.ErrorCode == abi.CancelledByTimeout {
				timeouts[o.typ]++
			}
		}
		// io has 8 slots: 40 steps queue; in CP2 the budget counts the
		// queue wait, in CP1 each attempt gets its own 300 ms.
		bound := 300*time.Millisecond + 250*time.Millisecond
		if !cp2 {
			bound = 5*(300*time.Millisecond) + 250*time.Millisecond // 40 steps through 8 slots, 300 ms each
		}
		for _, typ := range []string{"test.sleep", "test.loop"} {
			s.expect(typ+" ends timeout", "20 of 20", fmt.Sprintf("%d of 20", timeouts[typ]), timeouts[typ] == 20)
			s.expect(typ+": slowest step", "≤ "+ms(bound)+map[bool]string{true: " (budget from admission)", false: " (5 waves through 8 slots, 300 ms each)"}[cp2],
				ms(worst[typ]), worst[typ] <= bound)
		}
		s.expect("no step left in flight", "0", fmt.Sprint(h.InFlight()), h.InFlight() == 0)
		s.goroutinesSettle(base, 5, "before the steps")
	})
}

// TestCrashingGuestsDoNotCrashTheHost runs guests that panic, exit, trap,
// pass bad pointers and exhaust their memory while noop steps keep going.
func TestCrashingGuestsDoNotCrashTheHost(t *testing.T) {
	both(t, func(t *testing.T, cp2 bool) {
		s := begin(t, groupHost, "crashing guests beside healthy load", cp2,
			"noop at 100 steps/s for 3 s (open loop) while, concurrently, 60 steps of test.panic (panic, exit, trap), 15 of test.badptr and "+
				"15 of test.membomb (grows until its 32 MiB instance limit) run: the healthy steps all succeed and the host survives.")
		h := s.newHost(host.Config{}, "noop", "panic", "badptr", "membomb")
		base := runtime.NumGoroutine()
		w, err := load.NewWorkload(load.WorkloadOptions{Mix: []load.Weighted{{Type: "noop", Weight: 1}}})
		s.require(err, "workload")
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes, sent := map[string]int{}, map[string]int{}
		for i := range 90 {
			req := host.StepRequest{Type: "test.panic", RetryCount: intp(0), Inputs: map[string]string{"how": []string{"panic", "exit", "trap"}[i%3]}}
			switch i % 6 {
			case 1:
				req = host.StepRequest{Type: "test.badptr", RetryCount: intp(0)}
			case 4:
				req = host.StepRequest{Type: "test.membomb", RetryCount: intp(0)}
			}
			sent[req.Type]++
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(i) * 30 * time.Millisecond)
				res, _, err := step(h, req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					codes[req.Type+":"+err.Error()]++
					return
				}
				codes[req.Type+":"+res.ErrorCode.String()]++
			}()
		}
		res, err := load.Run(context.Background(), &load.HostTarget{H: h}, w, load.Options{Rate: 100, Duration: 3 * time.Second})
		s.require(err, "load")
		wg.Wait()
		s.expect("healthy noop steps all succeed", "300 of 300", fmt.Sprintf("%d of %d (p99 %s)", res.OK, res.Sent, ms(res.Latency.Quantile(0.99))),
			res.OK == 300 && res.Sent == 300)
		for _, e := range []struct{ typ, code, what string }{
			{"test.panic", "EXECUTION_FAILED", "panicking, exiting and trapping guests fail EXECUTION_FAILED"},
			{"test.badptr", "NONE", "bad pointers are answered, not trapped: the step succeeds"},
			{"test.membomb", "QUOTA_EXCEEDED", "memory bombs fail QUOTA_EXCEEDED"},
		} {
			got := codes[e.typ+":"+e.code]
			s.expect(e.what, fmt.Sprintf("%d of %d", sent[e.typ], sent[e.typ]), fmt.Sprint(got), got == sent[e.typ])
		}
		s.figure("outcomes", fmt.Sprint(codes))
		s.expect("no step left in flight", "0", fmt.Sprint(h.InFlight()), h.InFlight() == 0)
		s.goroutinesSettle(base, 5, "before the load")
	})
}
