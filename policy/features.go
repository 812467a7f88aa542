package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Environment variables of the five CP2 feature flags. Each defaults to
// false (the CP1 baseline). Only the blockhost binary reads the environment;
// it passes os.LookupEnv to FeaturesFromEnv.
const (
	EnvAdvancedRetry   = "CP2_ADVANCED_RETRY_ENABLED"
	EnvCompleteTimeout = "CP2_COMPLETE_TIMEOUT_ENABLED"
	EnvCancellation    = "CP2_CANCELLATION_ENABLED"
	EnvQueueManagement = "CP2_QUEUE_MANAGEMENT_ENABLED"
	EnvCircuitBreaker  = "CP2_CIRCUIT_BREAKER_ENABLED"
)

// FeatureVars lists the CP2 environment variables in a fixed order. Do not
// modify it.
var FeatureVars = []string{
	EnvAdvancedRetry,
	EnvCompleteTimeout,
	EnvCancellation,
	EnvQueueManagement,
	EnvCircuitBreaker,
}

// ErrUnknownFlag is returned (wrapped) by Features.Set and Features.Get for a
// name that is not one of FeatureVars.
var ErrUnknownFlag = errors.New("policy: unknown feature flag")

// FlagError reports a flag value other than true, false, 1 or 0.
type FlagError struct {
	Name  string // the variable, e.g. CP2_ADVANCED_RETRY_ENABLED
	Value string // the value as given
}

func (e *FlagError) Error() string {
	return fmt.Sprintf("policy: %s: invalid value %q (want true, false, 1 or 0)", e.Name, e.Value)
}

// Features are the five CP2 feature flags. The zero value is the CP1
// baseline: every flag false. Features is a plain value, safe to copy and to
// read concurrently; Set needs exclusive access.
type Features struct {
	AdvancedRetry   bool `json:"advanced_retry"`   // CP2_ADVANCED_RETRY_ENABLED
	CompleteTimeout bool `json:"complete_timeout"` // CP2_COMPLETE_TIMEOUT_ENABLED
	Cancellation    bool `json:"cancellation"`     // CP2_CANCELLATION_ENABLED
	QueueManagement bool `json:"queue_management"` // CP2_QUEUE_MANAGEMENT_ENABLED
	CircuitBreaker  bool `json:"circuit_breaker"`  // CP2_CIRCUIT_BREAKER_ENABLED
}

// BudgetEnabled reports whether a step's timeout_ms is the budget of the
// whole step (queue wait, attempts and waits) rather than of each attempt:
// true when AdvancedRetry or CompleteTimeout is on.
func (f Features) BudgetEnabled() bool { return f.AdvancedRetry || f.CompleteTimeout }

// ParseFlag parses the value of the flag variable name: "true", "false",
// "1" or "0" in any case, surrounding spaces ignored. Anything else,
// including the empty string, is a *FlagError naming the variable and value.
func ParseFlag(name, value string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, &FlagError{Name: name, Value: value}
}

// field returns the flag named by its environment variable.
func (f *Features) field(name string) (*bool, error) {
	switch name {
	case EnvAdvancedRetry:
		return &f.AdvancedRetry, nil
	case EnvCompleteTimeout:
		return &f.CompleteTimeout, nil
	case EnvCancellation:
		return &f.Cancellation, nil
	case EnvQueueManagement:
		return &f.QueueManagement, nil
	case EnvCircuitBreaker:
		return &f.CircuitBreaker, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownFlag, name)
}

// Set sets the flag named by its environment variable (one of FeatureVars,
// exact case). An unknown name is an error wrapping ErrUnknownFlag and
// changes nothing.
func (f *Features) Set(name string, v bool) error {
	p, err := f.field(name)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Get returns the flag named by its environment variable (one of
// FeatureVars, exact case). An unknown name is an error wrapping
// ErrUnknownFlag.
func (f Features) Get(name string) (bool, error) {
	p, err := f.field(name)
	if err != nil {
		return false, err
	}
	return *p, nil
}

// FeaturesFromEnv returns base with every flag whose variable lookup reports
// as set replaced by its parsed value; unset variables keep base's value. It
// is meant to be called with os.LookupEnv, and with base holding the config
// file's values, so the environment overrides the file (a CLI flag then
// overrides both). A variable set to the empty string is an error, not
// "unset". Every invalid variable is reported, joined with errors.Join, each
// a *FlagError; the valid ones are applied to the returned Features even
// then, but callers should treat any error as fatal.
func FeaturesFromEnv(lookup func(string) (string, bool), base Features) (Features, error) {
	f := base
	var errs []error
	for _, name := range FeatureVars {
		raw, ok := lookup(name)
		if !ok {
			continue
		}
		v, err := ParseFlag(name, raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = f.Set(name, v) // name comes from FeatureVars: always known
	}
	return f, errors.Join(errs...)
}

// String returns the flags as "advanced_retry=false complete_timeout=false
// cancellation=false queue_management=false circuit_breaker=false", the JSON
// names in FeatureVars order, for logs.
func (f Features) String() string {
	return fmt.Sprintf("advanced_retry=%t complete_timeout=%t cancellation=%t queue_management=%t circuit_breaker=%t",
		f.AdvancedRetry, f.CompleteTimeout, f.Cancellation, f.QueueManagement, f.CircuitBreaker)
}
