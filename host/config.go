package host

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	fscap "github.com/beamline/blockhost/plugins/fs"
	httpcap "github.com/beamline/blockhost/plugins/http"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// Config configures a Host. The zero value is valid: CP1 baseline (every
// CP2 flag off), default pools and limits, no compilation cache, logs
// discarded, metrics on a private registry.
type Config struct {
	// Features are the CP2 feature flags; all false by default.
	Features policy.Features
	// Retry configures CP2 backoff (base 100 ms, cap 30 s, full jitter by
	// default). Ignored while Features.AdvancedRetry is off.
	Retry policy.RetryConfig
	// Pools are the resource pools. Nil means cpu 4, gpu 1, io 8.
	Pools []PoolConfig
	// Limits are the host-wide limits; zero fields take their defaults.
	Limits Limits
	// Overload sets the overload thresholds of bounded queues.
	Overload OverloadThresholds
	// ReloadDebounce is how long Watch waits after the last change to a
	// block's files before reloading it (250 ms by default).
	ReloadDebounce time.Duration
	// InstanceIdleTimeout releases an idle instance above its block's warm
	// minimum after this long (5 min by default).
	InstanceIdleTimeout time.Duration
	// DefaultTimeout applies to steps without timeout_ms (30 s by default).
	DefaultTimeout time.Duration
	// DefaultRetryCount applies to steps without retry_count (3 by default;
	// set a negative value for 0).
	DefaultRetryCount int
	// CacheDir is the on-disk compilation cache; empty means none. It is
	// created 0700 and must be owned by the host's user.
	CacheDir string
	// Logger receives JSON-able structured logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the host's metrics; nil means a private registry.
	Registerer prometheus.Registerer
	// Clock and Rand drive retry timing; nil means the real ones.
	Clock policy.TimerClock
	Rand  policy.Rand
	// Blocks holds the operator's per-block settings, by block name.
	Blocks map[string]BlockPolicy
	// HTTP configures the HTTP capability (connect 5 s, total 30 s, 128 MiB
	// bodies, 64 KiB headers by default). Its Features are the host's.
	HTTP httpcap.Config
	// FS configures the blob capability (read 5 s, write 10 s, delete 3 s by
	// default). Its Features are the host's.
	FS fscap.Config
}

// Defaults of Limits that ValidateModule checks too.
const (
	defaultMaxModuleBytes     = 64 << 20
	defaultMaxFunctionControl = 10000
)

// PoolConfig configures one resource pool.
type PoolConfig struct {
	// Name is cpu, gpu, io or any other class a manifest or request names.
	Name string
	// MaxConcurrency is how many steps of the pool run at once (>= 1).
	MaxConcurrency int
	// MaxQueueSize bounds the waiting queue when CP2 queue management is on
	// (1000 by default); ignored while it is off (unbounded, CP1).
	MaxQueueSize int
	// Policy is reject_new (the default) or drop_oldest.
	Policy string
	// TenantShare, between 0 and 1, bounds the part of the queue one tenant
	// may hold (0, the default, is no per-tenant bound).
	TenantShare float64
}

// OverloadThresholds are the queue utilisations where a bounded pool turns
// degraded and overloaded (0.5 and 0.8 by default); a full queue is
// critical.
type OverloadThresholds struct {
	Degraded   float64
	Overloaded float64
}

// Queue policies.
const (
	PolicyRejectNew  = "reject_new"
	PolicyDropOldest = "drop_oldest"
)

// DefaultPools returns the beamline pools: cpu 4, gpu 1, io 8.
func DefaultPools() []PoolConfig {
	return []PoolConfig{
		{Name: "cpu", MaxConcurrency: 4},
		{Name: "gpu", MaxConcurrency: 1},
		{Name: "io", MaxConcurrency: 8},
	}
}

// Limits are host-wide limits. Zero fields take the default stated on each.
type Limits struct {
	// MemoryPages caps an instance's linear memory (512 pages = 32 MiB).
	MemoryPages uint32
	// MaxInputBytes caps a step's inputs, keys included (128 MiB).
	MaxInputBytes int64
	// MaxOutputBytes caps a step's outputs, keys included (128 MiB).
	MaxOutputBytes int64
	// MaxLogBytes caps a step's guest log and stdout/stderr (64 KiB); past it
	// the log is truncated with a marker.
	MaxLogBytes int
	// MaxHandles caps handles open at once per step (64).
	MaxHandles int
	// MaxModuleBytes caps a .wasm file (64 MiB).
	MaxModuleBytes int64
	// CompileTimeout bounds compiling one module (60 s).
	CompileTimeout time.Duration
	// MaxFunctionControl caps the control instructions (block, loop, if,
	// else, br, br_if, br_table and the like) of one function body
	// (10000). The optimizing compiler's time grows with the square of
	// their number and it compiles a function in one piece, so this bounds
	// how long a compile runs on after its timeout: a function at the
	// limit takes about 3 s on one core of a 2-core machine. Compilers
	// emit far fewer (the Go runtime's largest function has about 1300).
	MaxFunctionControl int
	// MemoryHighWaterPages: an instance whose memory grew past it is
	// discarded after its step (default: 3/4 of MemoryPages).
	MemoryHighWaterPages uint32
	// InstanceMemoryBudget caps the linear memory of all instances
	// together, in bytes (0, the default, is no budget). A step that would
	// need one more instance beyond it fails with SYSTEM_OVERLOAD (retried
	// with CP2 advanced retry) once idle instances are released; a guest
	// that would grow past it fails with QUOTA_EXCEEDED.
	InstanceMemoryBudget int64
}

// BlockPolicy is what the operator allows one block.
type BlockPolicy struct {
	// Digest pins the block to a sha256 (hex) of its .wasm; empty = any.
	Digest string
	// AllowNoInterrupt lets the block run without guest interruption.
	AllowNoInterrupt bool
	// Config values override the manifest's.
	Config map[string]string
	// Secret names config keys that are never logged.
	Secret []string
	// HTTP is what the block may reach over HTTP; none by default.
	HTTP sandbox.HTTPGrant
	// FS is the block's blob space; none by default.
	FS sandbox.FSGrant
}

const (
	defaultTimeout    = 30 * time.Second
	defaultRetryCount = 3
)

func (c Config) withDefaults() (Config, error) {
	if c.Pools == nil {
		c.Pools = DefaultPools()
	}
	seen := map[string]bool{}
	for i, p := range c.Pools {
		if p.Name == "" {
			return c, fmt.Errorf("pools[%d]: name is required", i)
		}
		if seen[p.Name] {
			return c, fmt.Errorf("pools[%d]: %q defined twice", i, p.Name)
		}
		seen[p.Name] = true
		if p.MaxConcurrency < 1 {
			return c, fmt.Errorf("pool %q: max_concurrency must be at least 1, got %d", p.Name, p.MaxConcurrency)
		}
		if p.MaxQueueSize == 0 {
			c.Pools[i].MaxQueueSize = 1000
		} else if p.MaxQueueSize < 0 {
			return c, fmt.Errorf("pool %q: max_queue_size must not be negative", p.Name)
		}
		if p.TenantShare < 0 || p.TenantShare > 1 {
			return c, fmt.Errorf("pool %q: tenant_share must be between 0 and 1, got %g", p.Name, p.TenantShare)
		}
		switch p.Policy {
		case "":
			c.Pools[i].Policy = PolicyRejectNew
		case PolicyRejectNew, PolicyDropOldest:
		default:
			return c, fmt.Errorf("pool %q: policy %q: want %s or %s", p.Name, p.Policy, PolicyRejectNew, PolicyDropOldest)
		}
	}
	for _, need := range []string{"cpu", "gpu", "io"} {
		if !seen[need] {
			return c, fmt.Errorf("pools: pool %q is required", need)
		}
	}
	if c.Overload == (OverloadThresholds{}) {
		c.Overload = OverloadThresholds{Degraded: 0.5, Overloaded: 0.8}
	}
	if o := c.Overload; !(0 < o.Degraded && o.Degraded <= o.Overloaded && o.Overloaded <= 1) {
		return c, fmt.Errorf("overload thresholds: want 0 < degraded <= overloaded <= 1, got %g and %g", o.Degraded, o.Overloaded)
	}
	l := &c.Limits
	if l.MemoryPages == 0 {
		l.MemoryPages = 512
	}
	if l.MemoryPages > 65536 {
		return c, fmt.Errorf("limits: memory_pages %d exceeds 65536 (4 GiB)", l.MemoryPages)
	}
	if l.MaxInputBytes == 0 {
		l.MaxInputBytes = 128 << 20
	}
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = 128 << 20
	}
	if l.MaxLogBytes == 0 {
		l.MaxLogBytes = 64 << 10
	}
	if l.MaxHandles == 0 {
		l.MaxHandles = 64
	}
	if l.MaxModuleBytes == 0 {
		l.MaxModuleBytes = defaultMaxModuleBytes
	}
	if l.CompileTimeout == 0 {
		l.CompileTimeout = 60 * time.Second
	}
	if l.MaxFunctionControl == 0 {
		l.MaxFunctionControl = defaultMaxFunctionControl
	} else if l.MaxFunctionControl < 0 {
		return c, fmt.Errorf("limits: max_function_control must not be negative")
	}
	if l.MemoryHighWaterPages == 0 {
		l.MemoryHighWaterPages = l.MemoryPages / 4 * 3
	}
	if c.ReloadDebounce == 0 {
		c.ReloadDebounce = 250 * time.Millisecond
	}
	if c.InstanceIdleTimeout == 0 {
		c.InstanceIdleTimeout = 5 * time.Minute
	}
	if l.InstanceMemoryBudget < 0 {
		return c, fmt.Errorf("limits: instance_memory_budget must not be negative")
	}
	if c.DefaultTimeout == 0 {
		c.DefaultTimeout = defaultTimeout
	}
	if c.DefaultRetryCount == 0 {
		c.DefaultRetryCount = defaultRetryCount
	} else if c.DefaultRetryCount < 0 {
		c.DefaultRetryCount = 0
	}
	c.Retry = c.Retry.WithDefaults()
	if err := c.Retry.Validate(); err != nil {
		return c, fmt.Errorf("retry: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Clock == nil {
		c.Clock = policy.SystemClock{}
	}
	if c.Rand == nil {
		c.Rand = policy.SystemRand{}
	}
	c.HTTP.Features = c.Features
	c.FS.Features = c.Features
	if c.HTTP.Logger == nil {
		c.HTTP.Logger = c.Logger
	}
	if c.FS.Logger == nil {
		c.FS.Logger = c.Logger
	}
	return c, nil
}
