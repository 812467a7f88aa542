package policy_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
)

// A step's retry waits: CP2 exponential backoff without jitter, at most four
// retries, inside a 1 s budget measured on a fake clock. The fourth wait
// (800 ms) would end after the budget, so it is not taken.
func ExampleSchedule() {
	clk := policy.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	exp := policy.NewExponential(policy.RetryConfig{Jitter: policy.JitterNone}, nil)
	sched := policy.NewSchedule(exp, 4, clk.Now().Add(time.Second), clk, 30*time.Second)
	for {
		wait := sched.NextBackOff()
		if wait == backoff.Stop {
			break
		}
		fmt.Println("wait", wait)
		clk.Advance(wait)
	}
	fmt.Println("retries", sched.Retries())

	// A 503 with Retry-After: 1 h is honoured, capped at 30 s.
	f := policy.Failure{Code: abi.HTTPError, HTTPStatus: 503, RetryAfter: time.Hour}
	fmt.Println(policy.Retryable(f), policy.RetryAfterHint(f, 30*time.Second))
	// Output:
	// wait 100ms
	// wait 200ms
	// wait 400ms
	// retries 3
	// true 30s
}

// A breaker opens after five consecutive failures, refuses calls for the
// recovery timeout, then closes after two successful probes.
func ExampleBreaker() {
	clk := policy.NewFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	b := policy.NewBreaker("api.example.com:443", policy.BreakerSettings{
		Clock: clk,
		OnStateChange: func(name string, from, to policy.BreakerState) {
			fmt.Printf("%s: %s -> %s\n", name, from, to)
		},
	})
	for range 5 {
		done, _ := b.Allow()
		done(false)
	}
	_, err := b.Allow()
	fmt.Println(err, errors.Is(err, policy.ErrOpen))

	clk.Advance(30 * time.Second)
	for range 2 {
		done, err := b.Allow()
		if err == nil {
			done(true)
		}
	}
	fmt.Println(b.State())
	// Output:
	// api.example.com:443: closed -> open
	// circuit open: api.example.com:443 true
	// api.example.com:443: open -> half_open
	// api.example.com:443: half_open -> closed
	// closed
}

// The environment overrides the config file's flags; invalid values are
// all reported.
func ExampleFeaturesFromEnv() {
	env := map[string]string{
		policy.EnvAdvancedRetry:  "TRUE",
		policy.EnvCircuitBreaker: "0",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f, err := policy.FeaturesFromEnv(lookup, policy.Features{CircuitBreaker: true})
	fmt.Println(f, err)

	env[policy.EnvCancellation] = "yes"
	_, err = policy.FeaturesFromEnv(lookup, policy.Features{})
	fmt.Println(err)
	// Output:
	// advanced_retry=true complete_timeout=false cancellation=false queue_management=false circuit_breaker=false <nil>
	// policy: CP2_CANCELLATION_ENABLED: invalid value "yes" (want true, false, 1 or 0)
}
