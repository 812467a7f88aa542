package policy

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFlag(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"true", true}, {"TRUE", true}, {"True", true}, {"tRuE", true}, {"1", true}, {" 1 ", true}, {"\ttrue\n", true},
		{"false", false}, {"FALSE", false}, {"False", false}, {"0", false}, {"  0", false}, {"false ", false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := ParseFlag(EnvAdvancedRetry, tt.value)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseFlagRefused(t *testing.T) {
	for _, value := range []string{"", " ", "yes", "no", "on", "off", "2", "-1", "t", "f", "truee", "01", "true false"} {
		t.Run(value, func(t *testing.T) {
			_, err := ParseFlag(EnvCircuitBreaker, value)
			require.Error(t, err)
			var fe *FlagError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, EnvCircuitBreaker, fe.Name)
			assert.Equal(t, value, fe.Value)
			assert.Contains(t, err.Error(), EnvCircuitBreaker)
		})
	}
}

func TestFeaturesSetGet(t *testing.T) {
	fields := map[string]func(Features) bool{
		EnvAdvancedRetry:   func(f Features) bool { return f.AdvancedRetry },
		EnvCompleteTimeout: func(f Features) bool { return f.CompleteTimeout },
		EnvCancellation:    func(f Features) bool { return f.Cancellation },
		EnvQueueManagement: func(f Features) bool { return f.QueueManagement },
		EnvCircuitBreaker:  func(f Features) bool { return f.CircuitBreaker },
	}
	require.Len(t, FeatureVars, len(fields))
	for _, name := range FeatureVars {
		t.Run(name, func(t *testing.T) {
			var f Features
			require.NoError(t, f.Set(name, true))
			assert.True(t, fields[name](f))
			got, err := f.Get(name)
			require.NoError(t, err)
			assert.True(t, got)
			for other, get := range fields {
				if other != name {
					assert.False(t, get(f), "setting %s changed %s", name, other)
				}
			}
			require.NoError(t, f.Set(name, false))
			assert.Equal(t, Features{}, f)
		})
	}
}

func TestFeaturesUnknownName(t *testing.T) {
	var f Features
	err := f.Set("CP2_NOPE_ENABLED", true)
	require.ErrorIs(t, err, ErrUnknownFlag)
	assert.Equal(t, Features{}, f)
	_, err = f.Get("cp2_advanced_retry_enabled") // names are exact
	require.ErrorIs(t, err, ErrUnknownFlag)
}

func TestFeaturesFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	tests := []struct {
		name string
		env  map[string]string
		base Features
		want Features
	}{
		{"nothing set keeps the zero base", nil, Features{}, Features{}},
		{"nothing set keeps the file's values", nil, Features{AdvancedRetry: true, CircuitBreaker: true}, Features{AdvancedRetry: true, CircuitBreaker: true}},
		{"env turns a flag on", map[string]string{EnvCancellation: "1"}, Features{}, Features{Cancellation: true}},
		{"env overrides the file both ways",
			map[string]string{EnvAdvancedRetry: "false", EnvQueueManagement: "TRUE"},
			Features{AdvancedRetry: true, CompleteTimeout: true},
			Features{CompleteTimeout: true, QueueManagement: true}},
		{"all set", map[string]string{
			EnvAdvancedRetry: "true", EnvCompleteTimeout: "1", EnvCancellation: "True",
			EnvQueueManagement: " 1", EnvCircuitBreaker: "TRUE",
		}, Features{}, Features{true, true, true, true, true}},
		{"unrelated variables ignored", map[string]string{"CP2_OTHER": "bogus"}, Features{}, Features{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FeaturesFromEnv(env(tt.env), tt.base)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFeaturesFromEnvCollectsAllErrors(t *testing.T) {
	m := map[string]string{
		EnvAdvancedRetry:   "yes",
		EnvCompleteTimeout: "1",
		EnvCancellation:    "",
		EnvCircuitBreaker:  "maybe",
	}
	got, err := FeaturesFromEnv(func(k string) (string, bool) { v, ok := m[k]; return v, ok }, Features{})
	require.Error(t, err)
	var names []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FlagError
		require.True(t, errors.As(e, &fe))
		names = append(names, fe.Name)
	}
	assert.Equal(t, []string{EnvAdvancedRetry, EnvCancellation, EnvCircuitBreaker}, names)
	for _, s := range []string{EnvAdvancedRetry, `"yes"`, EnvCancellation, EnvCircuitBreaker, `"maybe"`} {
		assert.Contains(t, err.Error(), s)
	}
	assert.True(t, got.CompleteTimeout, "valid variables are still applied")
}

func TestFeaturesString(t *testing.T) {
	assert.Equal(t,
		"advanced_retry=true complete_timeout=false cancellation=true queue_management=false circuit_breaker=true",
		Features{AdvancedRetry: true, Cancellation: true, CircuitBreaker: true}.String())
}

func TestBudgetEnabled(t *testing.T) {
	assert.False(t, Features{}.BudgetEnabled())
	assert.False(t, Features{Cancellation: true, QueueManagement: true, CircuitBreaker: true}.BudgetEnabled())
	assert.True(t, Features{AdvancedRetry: true}.BudgetEnabled())
	assert.True(t, Features{CompleteTimeout: true}.BudgetEnabled())
}
