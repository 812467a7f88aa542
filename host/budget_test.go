package host

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/internal/testblocks"
	"github.com/beamline/blockhost/policy"
)

func loadInternal(t *testing.T, cfg Config, names ...string) *Host {
	t.Helper()
	cfg.CacheDir = testblocks.CacheDir(t)
	h, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { h.Close(context.Background()) })
	for _, n := range names {
		_, err := h.LoadFile(context.Background(), filepath.Join(testblocks.Dir(t), n+".wasm"))
		require.NoError(t, err)
	}
	return h
}

func TestInstanceMemoryBudget(t *testing.T) {
	// Probe the size of one instance of counter.
	probe := loadInternal(t, Config{}, "counter")
	one := int64(probe.blocks["counter"].initPages) * 65536
	require.Positive(t, one)

	h := loadInternal(t, Config{Features: policy.Features{Cancellation: true},
		Limits: Limits{InstanceMemoryBudget: one + one/2}}, "counter", "sleep")
	served := func(tenant string) StepResult {
		res, err := h.Execute(context.Background(), StepRequest{Type: "test.counter", RetryCount: new(int),
			Context: BlockContext{TenantID: tenant}})
		require.NoError(t, err)
		return res
	}
	assert.Equal(t, "1", served("a").Outputs["served"])
	assert.Equal(t, "2", served("a").Outputs["served"])
	// Tenant b needs its own instance: the budget only has room for one, so
	// tenant a's idle instance is released first.
	assert.Equal(t, "1", served("b").Outputs["served"])
	assert.Equal(t, "1", served("a").Outputs["served"], "tenant a's instance was released for b")
	assert.LessOrEqual(t, h.memBudget.used.Load(), h.memBudget.max, "the budget is never exceeded")

	// While an instance is busy, a step that needs another fails with
	// SYSTEM_OVERLOAD instead of overrunning the budget. The busy step
	// sleeps until cancelled, so it is busy however slow the machine.
	done := make(chan StepResult)
	go func() {
		res, _ := h.Execute(context.Background(), StepRequest{Type: "test.sleep", Inputs: map[string]string{"ms": "60000"},
			Context: BlockContext{StepID: "busy"}})
		done <- res
	}()
	deadline := time.Now().Add(5 * time.Second)
	for h.poolCPU.info().Active == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	res := served("c")
	assert.Equal(t, StatusError, res.Status)
	assert.Equal(t, abi.SystemOverload, res.ErrorCode)
	require.NoError(t, h.Cancel("busy"))
	assert.Equal(t, StatusCancelled, (<-done).Status)
	assert.LessOrEqual(t, h.memBudget.used.Load(), h.memBudget.max)
}

func TestIdleInstancesAreReleased(t *testing.T) {
	clock := policy.NewFakeClock(time.Now())
	h := loadInternal(t, Config{Clock: clock, InstanceIdleTimeout: time.Minute}, "counter")
	for _, tenant := range []string{"a", "b", "c"} {
		_, err := h.Execute(context.Background(), StepRequest{Type: "test.counter", Context: BlockContext{TenantID: tenant}})
		require.NoError(t, err)
	}
	p := h.blocks["counter"].instances
	require.Equal(t, 4, p.nIdle, "three tenants' instances and the one warmed at load")
	assert.Zero(t, h.releaseIdle(clock.Now().Add(-time.Minute), 0, true), "nothing has idled a minute yet")
	clock.Advance(2 * time.Minute)
	assert.Equal(t, 3, h.releaseIdle(clock.Now().Add(-time.Minute), 0, true), "all but the warm minimum go")
	assert.Equal(t, 1, p.nIdle)
	assert.Equal(t, 1, p.live)
}
