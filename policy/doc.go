// Package policy holds blockhost's pure reliability policies: the CP2
// feature flags, retry backoff with jitter, error classification, the step
// budget, the circuit breaker, and the injectable clock and random source
// they run on. It does no I/O and reads no environment: FeaturesFromEnv takes
// a lookup function, so only the binary decides where settings come from.
//
// Defaults, each stated again where it is defined:
//
//   - every CP2 flag is off (the CP1 baseline);
//   - CP1 retry waits 100*(attempt+1) ms (FixedDelay);
//   - CP2 backoff: base 100 ms, cap 30 s, full jitter (RetryConfig);
//   - breaker: open after 5 consecutive failures, recovery timeout 30 s,
//     1 concurrent half-open probe, 2 consecutive successes to close, failure
//     rate off (BreakerSettings);
//   - at most 1024 breakers tracked per kind (NewBreakerSet).
//
// Configuration values (Features, RetryConfig, BreakerSettings) are plain
// values, safe to copy and to read concurrently. Each type's doc comment says
// whether its methods are safe for concurrent use.
package policy
