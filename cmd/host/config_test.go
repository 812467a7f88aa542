package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/host/natsbus"
	"github.com/beamline/blockhost/host/natsbus/natsembed"
	fscap "github.com/beamline/blockhost/plugins/fs"
	httpcap "github.com/beamline/blockhost/plugins/http"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

const goodConfig = `
listen: 0.0.0.0:9090
plugins_dir: plugins
watch_plugins: false
reload_debounce: 1s
instance_idle_timeout: 90s
cache_dir: /var/cache/blockhost
api_token: s3cret
tls:
  cert_file: tls/cert.pem
  key_file: tls/key.pem
shutdown_grace: 5s
log: {level: debug, format: text}
features:
  advanced_retry: true
  complete_timeout: "1"
  cancellation: FALSE
  queue_management: 0
  circuit_breaker: True
retry: {base: 50ms, cap: 2s, jitter: Equal}
defaults: {timeout_ms: 1500, retry_count: 0}
pools:
  io: {max_concurrency: 16, max_queue_size: 10, policy: drop_oldest, tenant_share: 0.25}
  media: {max_concurrency: 2}
overload: {degraded: 0.6, overloaded: 0.9}
http:
  connect_timeout: 2s
  total_timeout: 20s
  max_connect_timeout: 4s
  max_total_timeout: 1m
  max_request_bytes: 8MiB
  max_response_bytes: 1GiB
  max_header_bytes: 32KiB
  breaker:
    failure_threshold: -1
    failure_rate: 0.5
    rate_window: 2m
    min_requests: 20
    recovery_timeout: 10s
    half_open_max_probes: 3
    success_threshold: 4
  max_breakers: 256
fs:
  read_timeout: 1s
  write_timeout: 2s
  delete_timeout: 3s
  max_stuck: 4
  max_list_entries: 500
  breaker: {failure_threshold: 7, recovery_timeout: 1m}
  max_breakers: 64
nats:
  url: nats://user:pw@nats-1:4222,nats://nats-2:4222
  embedded: false
  embedded_port: 14222
  embedded_store_dir: nats-store
  payload_root: payloads
  stream: JOBS
  consumer: blockhost-eu
  claim_bucket: eu_claims
  storage: memory
  replicas: 3
  worker_id: eu-1.host_a
  ack_wait: 10s
  max_deliver: 5
  claim_lease: 4s
  claim_ttl: 2h
  heartbeat_interval: 2s
  reject_nak_delay: 250ms
  max_in_flight: 32
limits:
  memory_pages: 256
  memory_high_water_pages: 200
  max_input_bytes: 1MiB
  max_output_bytes: 2048
  max_log_bytes: 4KiB
  max_handles: 8
  max_module_bytes: 16MiB
  compile_timeout: 10s
  max_function_control: 20000
  instance_memory_budget: 512MiB
blocks:
  text_uppercase:
    digest: sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789
    allow_no_interrupt: yes_this_is_wrong
  http_request:
    config: {base_url: "https://example.com", retries: 3}
    secret: [api_key]
    http:
      allow: ["https://api.example.com", "https://*.example.org:8443", "http://localhost:9000"]
      allow_private: true
  blob_store:
    fs: {root: blobs, fallback: /mnt/fallback, read_only: false, per_tenant: 1}
`

func TestParseConfigGood(t *testing.T) {
	good := strings.Replace(goodConfig, "allow_no_interrupt: yes_this_is_wrong", "allow_no_interrupt: true", 1)
	c, err := parseConfig([]byte(good), "host.yaml", "/etc/blockhost")
	if err != nil {
		t.Fatal(err)
	}
	want := fileConfig{
		Listen:        "0.0.0.0:9090",
		PluginsDir:    "/etc/blockhost/plugins",
		WatchPlugins:  false,
		CacheDir:      "/var/cache/blockhost",
		CertFile:      "/etc/blockhost/tls/cert.pem",
		KeyFile:       "/etc/blockhost/tls/key.pem",
		APIToken:      "s3cret",
		ShutdownGrace: 5 * time.Second,
		LogLevel:      slog.LevelDebug,
		LogFormat:     "text",
		Features: policy.Features{
			AdvancedRetry: true, CompleteTimeout: true, CircuitBreaker: true,
		},
		Retry:             policy.RetryConfig{Base: 50 * time.Millisecond, Cap: 2 * time.Second, Jitter: policy.JitterEqual},
		DefaultTimeout:    1500 * time.Millisecond,
		DefaultRetryCount: -1,
		Pools: []host.PoolConfig{
			{Name: "cpu", MaxConcurrency: 4},
			{Name: "gpu", MaxConcurrency: 1},
			{Name: "io", MaxConcurrency: 16, MaxQueueSize: 10, Policy: host.PolicyDropOldest, TenantShare: 0.25},
			{Name: "media", MaxConcurrency: 2},
		},
		Overload: host.OverloadThresholds{Degraded: 0.6, Overloaded: 0.9},
		HTTP: httpcap.Config{
			ConnectTimeout: 2 * time.Second, TotalTimeout: 20 * time.Second,
			MaxConnectTimeout: 4 * time.Second, MaxTotalTimeout: time.Minute,
			MaxRequestBytes: 8 << 20, MaxResponseBytes: 1 << 30, MaxHeaderBytes: 32 << 10,
			Breaker: policy.BreakerSettings{
				FailureThreshold: -1, FailureRate: 0.5, RateWindow: 2 * time.Minute, MinRequests: 20,
				RecoveryTimeout: 10 * time.Second, HalfOpenMaxProbes: 3, SuccessThreshold: 4,
			},
			MaxBreakers: 256,
		},
		FS: fscap.Config{
			ReadTimeout: time.Second, WriteTimeout: 2 * time.Second, DeleteTimeout: 3 * time.Second,
			MaxStuck: 4, MaxListEntries: 500,
			Breaker:     policy.BreakerSettings{FailureThreshold: 7, RecoveryTimeout: time.Minute},
			MaxBreakers: 64,
		},
		Limits: host.Limits{
			MemoryPages: 256, MemoryHighWaterPages: 200,
			MaxInputBytes: 1 << 20, MaxOutputBytes: 2048, MaxLogBytes: 4 << 10,
			MaxHandles: 8, MaxModuleBytes: 16 << 20, CompileTimeout: 10 * time.Second, MaxFunctionControl: 20000,
			InstanceMemoryBudget: 512 << 20,
		},
		ReloadDebounce:      time.Second,
		InstanceIdleTimeout: 90 * time.Second,
		NATS: natsConfig{
			URL:               "nats://user:pw@nats-1:4222,nats://nats-2:4222",
			EmbeddedPort:      14222,
			EmbeddedStoreDir:  "/etc/blockhost/nats-store",
			PayloadRoot:       "/etc/blockhost/payloads",
			Stream:            "JOBS",
			Consumer:          "blockhost-eu",
			ClaimBucket:       "eu_claims",
			Storage:           jetstream.MemoryStorage,
			Replicas:          3,
			WorkerID:          "eu-1.host_a",
			AckWait:           10 * time.Second,
			MaxDeliver:        5,
			ClaimLease:        4 * time.Second,
			ClaimTTL:          2 * time.Hour,
			HeartbeatInterval: 2 * time.Second,
			RejectNakDelay:    250 * time.Millisecond,
			MaxInFlight:       32,
		},
		Blocks: map[string]host.BlockPolicy{
			"text_uppercase": {Digest: "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", AllowNoInterrupt: true},
			"http_request": {
				Config: map[string]string{"base_url": "https://example.com", "retries": "3"}, Secret: []string{"api_key"},
				HTTP: sandbox.HTTPGrant{Allow: []string{"https://api.example.com", "https://*.example.org:8443", "http://localhost:9000"}, AllowPrivate: true},
			},
			"blob_store": {FS: sandbox.FSGrant{Root: "/etc/blockhost/blobs", Fallback: "/mnt/fallback", PerTenant: true}},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", c, want)
	}
	// The settings reach the host.
	hc := c.hostConfig()
	if hc.ReloadDebounce != time.Second || hc.InstanceIdleTimeout != 90*time.Second || hc.Limits.InstanceMemoryBudget != 512<<20 ||
		!reflect.DeepEqual(hc.HTTP, want.HTTP) || !reflect.DeepEqual(hc.FS, want.FS) {
		t.Errorf("hostConfig() = %+v", hc)
	}
	// And the nats section reaches the bus and the embedded server.
	bo, eo := c.NATS.options()
	wantBus := natsbus.Options{
		URL: "nats://user:pw@nats-1:4222,nats://nats-2:4222", Stream: "JOBS", Consumer: "blockhost-eu", ClaimBucket: "eu_claims",
		Storage: jetstream.MemoryStorage, Replicas: 3, WorkerID: "eu-1.host_a", AckWait: 10 * time.Second, MaxDeliver: 5,
		ClaimLease: 4 * time.Second, ClaimTTL: 2 * time.Hour, HeartbeatInterval: 2 * time.Second,
		RejectNakDelay: 250 * time.Millisecond, MaxInFlight: 32,
	}
	if !reflect.DeepEqual(bo, wantBus) {
		t.Errorf("bus options\n%+v\nwant\n%+v", bo, wantBus)
	}
	if want := (natsembed.Options{Port: 14222, StoreDir: "/etc/blockhost/nats-store"}); eo != want {
		t.Errorf("embedded options %+v, want %+v", eo, want)
	}
}

// TestNATSDefaults: an empty nats section leaves every option zero, which
// natsbus and natsembed read as their documented defaults (4222 for the
// embedded server).
func TestNATSDefaults(t *testing.T) {
	c, err := parseConfig([]byte("nats: {embedded: true}\n"), "host.yaml", "/")
	if err != nil {
		t.Fatal(err)
	}
	bo, eo := c.NATS.options()
	if !reflect.DeepEqual(bo, natsbus.Options{}) || eo != (natsembed.Options{}) {
		t.Errorf("options %+v %+v, want zero", bo, eo)
	}
	if !c.NATS.enabled() || (natsConfig{}).enabled() || !(natsConfig{URL: "nats://x:4222"}).enabled() {
		t.Error("enabled() is wrong")
	}
}

func TestParseConfigSmallValues(t *testing.T) {
	c, err := parseConfig([]byte("limits: {instance_memory_budget: 0}\n"+
		"nats: {embedded: true, embedded_port: 0, payload_root: /srv/payloads, replicas: 1, max_deliver: 0, max_in_flight: 1, ack_wait: 30ms, claim_lease: 30ms, claim_ttl: 60ms, storage: file}\n"),
		"host.yaml", "/etc/blockhost")
	if err != nil {
		t.Fatal(err)
	}
	want := natsConfig{Embedded: true, EmbeddedPort: -1, PayloadRoot: "/srv/payloads", Replicas: 1, MaxInFlight: 1,
		AckWait: 30 * time.Millisecond, ClaimLease: 30 * time.Millisecond, ClaimTTL: 60 * time.Millisecond, Storage: jetstream.FileStorage}
	if c.Limits.InstanceMemoryBudget != 0 || c.NATS != want {
		t.Errorf("got budget %d, nats %+v, want %+v", c.Limits.InstanceMemoryBudget, c.NATS, want)
	}
	for data, port := range map[string]int{"embedded_port: -1": -1, "embedded_port: 1": 1, "embedded_port: 65535": 65535, "embedded_port: 4222": 4222, "ack_wait: 1s": 0} {
		c, err := parseConfig([]byte("nats:\n  "+data+"\n"), "host.yaml", "/")
		if err != nil || c.NATS.EmbeddedPort != port {
			t.Errorf("%s: port %d, err %v; want %d", data, c.NATS.EmbeddedPort, err, port)
		}
	}
	// Long ack_wait and claim_ttl together; a worker id with dots.
	if _, err := parseConfig([]byte("nats: {ack_wait: 13h, claim_ttl: 26h, worker_id: a.b-c_D.9}\n"), "host.yaml", "/"); err != nil {
		t.Error(err)
	}
}

func TestParseConfigEmpty(t *testing.T) {
	for _, data := range []string{"", "# nothing\n", "---\n", "features:\n"} {
		c, err := parseConfig([]byte(data), "f.yaml", "/")
		if err != nil {
			t.Errorf("%q: %v", data, err)
			continue
		}
		if !reflect.DeepEqual(c, defaultFileConfig()) {
			t.Errorf("%q: got %+v, want the defaults", data, c)
		}
	}
}

// TestParseConfigErrors checks that every error is reported, each with its
// line, in file order.
func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string // "LINE: substring"
	}{
		{"unknown top key", "listen: 127.0.0.1:1\nplugin_dir: x\n", []string{"2: plugin_dir: unknown key"}},
		{"unknown nested key", "log:\n  level: info\n  colour: red\n", []string{"3: log.colour: unknown key"}},
		{"repeated key", "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", []string{"2: listen: repeated (first at line 1)"}},
		{"bad listen", "listen: localhost\n", []string{"1: listen: \"localhost\": want HOST:PORT"}},
		{"bad port", "listen: localhost:http\n", []string{"1: listen: \"localhost:http\": port must be a number"}},
		{"bad flag names the key", "features:\n  cancellation: yes\n", []string{`2: features.cancellation: invalid value "yes" (want true, false, 1 or 0)`}},
		{"unknown feature", "features:\n  retries: true\n", []string{"2: features.retries: unknown key"}},
		{"flag not scalar", "features:\n  cancellation: [true]\n", []string{"2: features.cancellation: want true or false, got a list"}},
		{"bad duration", "shutdown_grace: 30\n", []string{"1: shutdown_grace: want a duration"}},
		{"bad duration text", "shutdown_grace: soon\n", []string{`1: shutdown_grace: "soon" is not a duration`}},
		{"negative duration", "retry:\n  base: -1s\n", []string{"2: retry.base: must be positive"}},
		{"bad jitter", "retry:\n  jitter: wobbly\n", []string{`2: retry.jitter: unknown jitter "wobbly"`}},
		{"cap below base", "retry:\n  base: 2s\n  cap: 1s\n", []string{"2: retry: retry cap 1s is below base 2s"}},
		{"bad log level", "log: {level: loud}\n", []string{`1: log.level: "loud": want debug, info, warn or error`}},
		{"bad log format", "log:\n  format: xml\n", []string{`2: log.format: "xml": want json or text`}},
		{"tls half", "tls:\n  cert_file: a.pem\n", []string{"2: tls: cert_file and key_file go together"}},
		{"timeout not int", "defaults:\n  timeout_ms: fast\n", []string{"2: defaults.timeout_ms: want an integer, got a string"}},
		{"timeout zero", "defaults:\n  timeout_ms: 0\n", []string{"2: defaults.timeout_ms: 0 out of range"}},
		{"retry count negative", "defaults:\n  retry_count: -1\n", []string{"2: defaults.retry_count: -1 out of range"}},
		{"pool concurrency", "pools:\n  cpu:\n    max_concurrency: 0\n", []string{"3: pools.cpu.max_concurrency: 0 out of range"}},
		{"pool policy", "pools:\n  io: {policy: defer}\n", []string{`2: pools.io.policy: "defer": want reject_new or drop_oldest`}},
		{"pool name", "pools:\n  CPU: {max_concurrency: 2}\n", []string{`2: pools: "CPU" is not a pool name`}},
		{"pools not mapping", "pools: [cpu]\n", []string{"1: pools: want a mapping, got a list"}},
		{"memory pages", "limits:\n  memory_pages: 70000\n", []string{"2: limits.memory_pages: 70000 out of range [1, 65536]"}},
		{"function control", "limits:\n  max_function_control: 0\n", []string{"2: limits.max_function_control: 0 out of range [1, 16777216]"}},
		{"high water", "limits:\n  memory_pages: 100\n  memory_high_water_pages: 200\n", []string{"3: limits.memory_high_water_pages: 200 is above memory_pages (100)"}},
		{"bad size", "limits:\n  max_input_bytes: 1MB\n", []string{`2: limits.max_input_bytes: want a size such as 65536, 64KiB or 128MiB, got "1MB"`}},
		{"size too big", "limits:\n  max_input_bytes: 5GiB\n", []string{"2: limits.max_input_bytes: 5GiB is larger than"}},
		{"digest", "blocks:\n  b:\n    digest: abc\n", []string{"3: blocks.b.digest: want the sha256"}},
		{"block unknown key", "blocks:\n  b:\n    digets: abc\n", []string{"3: blocks.b.digets: unknown key"}},
		{"block config nested", "blocks:\n  b:\n    config:\n      k: {a: 1}\n", []string{"4: blocks.b.config.k: want a string, got a mapping"}},
		{"allow pattern", "blocks:\n  b:\n    http:\n      allow: [example.com, \"ftp://x.org\", \"https://a.org/path\"]\n", []string{
			`4: blocks.b.http.allow: allow pattern "example.com": want scheme://host[:port]`,
			`4: blocks.b.http.allow: allow pattern "ftp://x.org": scheme "ftp": only http and https are allowed`,
			`4: blocks.b.http.allow: allow pattern "https://a.org/path": want only scheme://host[:port]`,
		}},
		{"fs without root", "blocks:\n  b:\n    fs: {read_only: true}\n", []string{"3: blocks.b.fs: root is required"}},
		{"tenant share", "pools:\n  io: {tenant_share: 1.5}\n", []string{"2: pools.io.tenant_share: 1.5: want a number above 0 and at most 1"}},
		{"overload order", "overload:\n  degraded: 0.9\n  overloaded: 0.5\n", []string{"2: overload: degraded (0.9) must not be above overloaded (0.5)"}},
		{"http timeout", "http:\n  connect_timeout: 0s\n", []string{"2: http.connect_timeout: must be positive"}},
		{"negative reload debounce", "reload_debounce: -250ms\n", []string{"1: reload_debounce: must be positive"}},
		{"idle timeout not a duration", "instance_idle_timeout: 300\n", []string{"1: instance_idle_timeout: want a duration"}},
		{"zero idle timeout", "instance_idle_timeout: 0s\n", []string{"1: instance_idle_timeout: must be positive"}},
		{"budget bad size", "limits:\n  instance_memory_budget: 512MB\n", []string{`2: limits.instance_memory_budget: want a size such as 65536, 64KiB or 128MiB, got "512MB"`}},
		{"budget negative", "limits:\n  instance_memory_budget: -1\n", []string{`2: limits.instance_memory_budget: want a size`}},
		{"budget too big", "limits:\n  instance_memory_budget: 2048GiB\n", []string{"2: limits.instance_memory_budget: 2048GiB is larger than 1099511627776 bytes"}},
		{"http body bad size", "http:\n  max_request_bytes: lots\n", []string{`2: http.max_request_bytes: want a size such as 65536, 64KiB or 128MiB, got "lots"`}},
		{"http response zero", "http:\n  max_response_bytes: 0\n", []string{"2: http.max_response_bytes: must be at least 1 byte"}},
		{"http header too big", "http:\n  max_header_bytes: 32MiB\n", []string{"2: http.max_header_bytes: 32MiB is larger than 16777216 bytes"}},
		{"http negative max timeout", "http:\n  max_total_timeout: -5s\n", []string{"2: http.max_total_timeout: must be positive"}},
		{"http max connect below default", "http:\n  max_connect_timeout: 2s\n", []string{"2: http.max_connect_timeout: 2s is below connect_timeout (5s)"}},
		{"http max total below total", "http:\n  total_timeout: 1m\n  max_total_timeout: 45s\n", []string{"3: http.max_total_timeout: 45s is below total_timeout (1m0s)"}},
		{"bad timeout hides the max check", "http:\n  connect_timeout: -1s\n  max_connect_timeout: 1s\n", []string{"2: http.connect_timeout: must be positive"}},
		{"http max breakers", "http:\n  max_breakers: 0\n", []string{"2: http.max_breakers: 0 out of range [1, 1048576]"}},
		{"failure rate above 1", "http:\n  breaker:\n    failure_rate: 1.5\n", []string{"3: http.breaker.failure_rate: 1.5: want a number above 0 and at most 1"}},
		{"failure rate zero", "fs:\n  breaker: {failure_rate: 0}\n", []string{"2: fs.breaker.failure_rate: 0: want a number above 0 and at most 1"}},
		{"failure threshold zero", "http:\n  breaker:\n    failure_threshold: 0\n", []string{"3: http.breaker.failure_threshold: 0: want at least 1, or -1 for never by count"}},
		{"failure threshold below -1", "fs:\n  breaker:\n    failure_threshold: -2\n", []string{"3: fs.breaker.failure_threshold: -2 out of range [-1, 1048576]"}},
		{"breaker that never opens", "http:\n  breaker:\n    failure_threshold: -1\n", []string{"3: http.breaker.failure_threshold: -1 turns off the count trigger: set failure_rate too"}},
		{"breaker unknown key", "fs:\n  breaker:\n    recovery_timeout: 10s\n    failures: 3\n", []string{"4: fs.breaker.failures: unknown key (known keys in fs.breaker: failure_rate, failure_threshold, half_open_max_probes, min_requests, rate_window, recovery_timeout, success_threshold)"}},
		{"breaker not mapping", "http:\n  breaker: on\n", []string{"2: http.breaker: want a mapping, got a string"}},
		{"breaker durations", "fs:\n  breaker: {rate_window: 0s, recovery_timeout: -1m}\n", []string{
			"2: fs.breaker.rate_window: must be positive",
			"2: fs.breaker.recovery_timeout: must be positive",
		}},
		{"breaker counts", "http:\n  breaker:\n    min_requests: 0\n    half_open_max_probes: 0\n    success_threshold: many\n", []string{
			"3: http.breaker.min_requests: 0 out of range",
			"4: http.breaker.half_open_max_probes: 0 out of range",
			"5: http.breaker.success_threshold: want an integer, got a string",
		}},
		{"fs max stuck", "fs:\n  max_stuck: 5000\n", []string{"2: fs.max_stuck: 5000 out of range [1, 1024]"}},
		{"fs max list entries", "fs:\n  max_list_entries: 0\n", []string{"2: fs.max_list_entries: 0 out of range"}},
		{"fs max breakers", "fs:\n  max_breakers: ten\n", []string{"2: fs.max_breakers: want an integer, got a string"}},
		{"nats embedded not a bool", "nats:\n  embedded: sure\n", []string{`2: nats.embedded: invalid value "sure" (want true, false, 1 or 0)`}},
		{"nats embedded a list", "nats:\n  embedded: [true]\n", []string{"2: nats.embedded: want true or false, got a list"}},
		{"nats url empty", "nats:\n  url: \"\"\n", []string{"2: nats.url: empty URL"}},
		{"nats url not a string", "nats:\n  url: {host: x}\n", []string{"2: nats.url: want a string, got a mapping"}},
		{"nats payload root empty", "nats:\n  payload_root: \"\"\n", []string{"2: nats.payload_root: empty path"}},
		{"nats unknown key", "nats:\n  streams: CAF_EXEC\n", []string{"2: nats.streams: unknown key (known keys in nats: ack_wait, claim_bucket, claim_lease, claim_ttl, consumer, embedded, embedded_port, embedded_store_dir, heartbeat_interval, max_deliver, max_in_flight, payload_root, reject_nak_delay, replicas, storage, stream, url, worker_id)"}},
		{"nats not a mapping", "nats: nats://x:4222\n", []string{"1: nats: want a mapping, got a string"}},
		{"nats embedded port too big", "nats:\n  embedded_port: 70000\n", []string{"2: nats.embedded_port: 70000 out of range [-1, 65535]"}},
		{"nats embedded port below -1", "nats:\n  embedded_port: -2\n", []string{"2: nats.embedded_port: -2 out of range [-1, 65535]"}},
		{"nats embedded port not an integer", "nats:\n  embedded_port: \"4222\"\n", []string{"2: nats.embedded_port: want an integer, got a string"}},
		{"nats store dir empty", "nats:\n  embedded_store_dir: \"\"\n", []string{"2: nats.embedded_store_dir: empty path"}},
		{"nats stream with a dot", "nats:\n  stream: CAF.EXEC\n", []string{`2: nats.stream: "CAF.EXEC": a stream name is 1 to 255 characters, without spaces`}},
		{"nats stream empty", "nats:\n  stream: \"\"\n", []string{`2: nats.stream: "": a stream name is 1 to 255`}},
		{"nats stream too long", "nats:\n  stream: " + strings.Repeat("s", 256) + "\n", []string{"2: nats.stream: \"sss"}},
		{"nats consumer with a space", "nats:\n  consumer: block host\n", []string{`2: nats.consumer: "block host": a consumer name is 1 to 255 characters`}},
		{"nats consumer wildcard", "nats:\n  consumer: \"blockhost>\"\n", []string{`2: nats.consumer: "blockhost>": a consumer name`}},
		{"nats claim bucket", "nats:\n  claim_bucket: claims.v1\n", []string{`2: nats.claim_bucket: "claims.v1": a bucket name is 1 to 252 letters, digits, '-' and '_'`}},
		{"nats storage", "nats:\n  storage: disk\n", []string{`2: nats.storage: "disk": want file or memory`}},
		{"nats replicas zero", "nats:\n  replicas: 0\n", []string{"2: nats.replicas: 0 out of range [1, 5]"}},
		{"nats replicas above the server's maximum", "nats:\n  replicas: 7\n", []string{"2: nats.replicas: 7 out of range [1, 5]"}},
		{"nats replicas on the embedded server", "nats:\n  embedded: true\n  replicas: 3\n", []string{"3: nats.replicas: 3: the embedded server is a single node (embedded: true): want 1"}},
		{"nats worker id with a space", "nats:\n  worker_id: host one\n", []string{`2: nats.worker_id: "host one": want 1 to 128 letters, digits`}},
		{"nats worker id dots", "nats:\n  worker_id: a..b\n", []string{`2: nats.worker_id: "a..b": want 1 to 128`}},
		{"nats worker id leading dot", "nats:\n  worker_id: .a\n", []string{`2: nats.worker_id: ".a": want 1 to 128`}},
		{"nats worker id too long", "nats:\n  worker_id: " + strings.Repeat("w", 129) + "\n", []string{"2: nats.worker_id: \"www"}},
		{"nats ack wait zero", "nats:\n  ack_wait: 0s\n", []string{"2: nats.ack_wait: must be positive, got 0s"}},
		{"nats ack wait not a duration", "nats:\n  ack_wait: 30\n", []string{"2: nats.ack_wait: want a duration"}},
		{"nats ack wait below 30ms", "nats:\n  ack_wait: 10ms\n", []string{"2: nats.ack_wait: 10ms: want at least 30ms"}},
		{"bad ack wait hides the checks across keys", "nats:\n  ack_wait: 1ms\n  claim_ttl: 1ms\n", []string{"2: nats.ack_wait: 1ms: want at least 30ms"}},
		{"nats ack wait makes the default lease too short", "nats:\n  ack_wait: 40ms\n", []string{"2: nats.ack_wait: 40ms makes the default claim_lease (ack_wait/2, 20ms) shorter than 30ms: set claim_lease, or ack_wait to at least 60ms"}},
		{"nats ack wait above half the default claim ttl", "nats:\n  ack_wait: 13h\n", []string{"2: nats.ack_wait: 13h0m0s is above half the default claim_ttl (24h0m0s): set claim_ttl to at least twice ack_wait"}},
		{"nats claim ttl below twice ack wait", "nats:\n  ack_wait: 45s\n  claim_ttl: 1m\n", []string{"3: nats.claim_ttl: 1m0s is below twice ack_wait (45s)"}},
		{"nats claim ttl below twice the default ack wait", "nats:\n  claim_ttl: 59s\n", []string{"2: nats.claim_ttl: 59s is below twice ack_wait (30s)"}},
		{"nats claim ttl negative", "nats:\n  claim_ttl: -1h\n", []string{"2: nats.claim_ttl: must be positive, got -1h"}},
		{"nats claim lease below 30ms", "nats:\n  claim_lease: 20ms\n", []string{"2: nats.claim_lease: 20ms: want at least 30ms"}},
		{"nats claim lease zero", "nats:\n  claim_lease: 0s\n", []string{"2: nats.claim_lease: must be positive"}},
		{"nats max deliver one", "nats:\n  max_deliver: 1\n", []string{"2: nats.max_deliver: 1: want 0 (unlimited) or at least 2"}},
		{"nats max deliver negative", "nats:\n  max_deliver: -1\n", []string{"2: nats.max_deliver: -1 out of range [0, 2147483647]"}},
		{"nats max in flight zero", "nats:\n  max_in_flight: 0\n", []string{"2: nats.max_in_flight: 0 out of range [1, 1048576]"}},
		{"nats max in flight not an integer", "nats:\n  max_in_flight: lots\n", []string{"2: nats.max_in_flight: want an integer, got a string"}},
		{"nats heartbeat zero", "nats:\n  heartbeat_interval: 0s\n", []string{"2: nats.heartbeat_interval: must be positive"}},
		{"nats heartbeat not a duration", "nats:\n  heartbeat_interval: 5\n", []string{"2: nats.heartbeat_interval: want a duration"}},
		{"nats reject nak delay negative", "nats:\n  reject_nak_delay: -1s\n", []string{"2: nats.reject_nak_delay: must be positive"}},
		{"nats errors in order", "nats:\n  storage: tape\n  replicas: 0\n  max_deliver: 1\n", []string{
			`2: nats.storage: "tape"`,
			"3: nats.replicas: 0 out of range",
			"4: nats.max_deliver: 1: want 0",
		}},
		{"secret not list", "blocks:\n  b:\n    secret: api_key\n", []string{"3: blocks.b.secret: want a list, got a string"}},
		{"root not mapping", "- a\n- b\n", []string{"1: config: want a mapping, got a list"}},
		{"yaml syntax", "listen: [\n", []string{"1: did not find expected node content"}},
		{"two documents", "listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n", []string{"2: only one YAML document is allowed"}},
		{
			"all errors collected in order",
			"listen: nope\nfeatures:\n  advanced_retry: maybe\n  circuit_breaker: 2\nlimits:\n  max_handles: 0\nbogus: 1\n",
			[]string{
				"1: listen:",
				`3: features.advanced_retry: invalid value "maybe"`,
				`4: features.circuit_breaker: invalid value "2"`,
				"6: limits.max_handles: 0 out of range",
				"7: bogus: unknown key",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.data), "host.yaml", "/")
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *configError", err)
			}
			lines := strings.Split(ce.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(lines), len(tt.want), ce)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], "host.yaml:"+w[:strings.Index(w, ":")]+":") || !strings.Contains(lines[i], w[strings.Index(w, ":")+2:]) {
					t.Errorf("error %d = %q, want host.yaml:%s", i, lines[i], w)
				}
			}
		})
	}
}

func TestNATSFlagsOverrideTheFile(t *testing.T) {
	nc := natsConfig{URL: "nats://file:4222", Embedded: true, EmbeddedPort: 5222, PayloadRoot: "/file/payloads", Stream: "FILE"}
	file := fileConfig{NATS: nc}
	with := func(f func(*natsConfig)) fileConfig {
		c := nc
		f(&c)
		return fileConfig{NATS: c}
	}
	tests := []struct {
		name string
		args []string
		want fileConfig
	}{
		{"no flags keep the file", nil, file},
		{"url flag", []string{"--nats", "nats://flag:4222"}, with(func(c *natsConfig) { c.URL = "nats://flag:4222" })},
		{"explicit false", []string{"--nats-embedded=false"}, with(func(c *natsConfig) { c.Embedded = false })},
		{"explicit empty", []string{"--nats", "", "--nats-payload-root", "flag/payloads"}, with(func(c *natsConfig) { c.URL, c.PayloadRoot = "", "flag/payloads" })},
		{"embedded port", []string{"--nats-embedded-port", "4333"}, with(func(c *natsConfig) { c.EmbeddedPort = 4333 })},
		{"random embedded port", []string{"--nats-embedded-port=-1"}, with(func(c *natsConfig) { c.EmbeddedPort = -1 })},
		{"embedded port 0 is random", []string{"--nats-embedded-port", "0"}, with(func(c *natsConfig) { c.EmbeddedPort = -1 })},
		{"other flags only", []string{"--listen", "127.0.0.1:0"}, file},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.String("listen", "", "")
			var nf natsFlags
			nf.register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got := file
			nf.apply(fs, &got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	// Without the nats section, a flag alone enables the transport.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var nf natsFlags
	nf.register(fs)
	if err := fs.Parse([]string{"--nats-embedded"}); err != nil {
		t.Fatal(err)
	}
	c := defaultFileConfig()
	nf.apply(fs, &c)
	if c.NATS != (natsConfig{Embedded: true}) {
		t.Errorf("got nats %+v", c.NATS)
	}
	// A bad port names the flag.
	for _, v := range []string{"65536", "-2", "http", ""} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var nf natsFlags
		nf.register(fs)
		err := fs.Parse([]string{"--nats-embedded-port", v})
		if err == nil || !strings.Contains(err.Error(), "-nats-embedded-port") || !strings.Contains(err.Error(), "want a port 1-65535, or 0 or -1 for a random free port") {
			t.Errorf("--nats-embedded-port %q: err = %v", v, err)
		}
	}
}

func TestLoadConfigResolvesAgainstItsDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conf", "host.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("plugins_dir: ../plugins\ncache_dir: /abs/cache\nnats: {payload_root: payloads, embedded_store_dir: ../nats}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "plugins"); c.PluginsDir != want {
		t.Errorf("plugins_dir = %s, want %s", c.PluginsDir, want)
	}
	if c.CacheDir != "/abs/cache" {
		t.Errorf("cache_dir = %s, want /abs/cache", c.CacheDir)
	}
	if want := filepath.Join(dir, "conf", "payloads"); c.NATS.PayloadRoot != want {
		t.Errorf("nats.payload_root = %s, want %s", c.NATS.PayloadRoot, want)
	}
	if want := filepath.Join(dir, "nats"); c.NATS.EmbeddedStoreDir != want {
		t.Errorf("nats.embedded_store_dir = %s, want %s", c.NATS.EmbeddedStoreDir, want)
	}
}

// TestExampleConfig keeps examples/host.yaml valid and as documented: every
// CP2 feature on, plugins and cache under build/.
func TestExampleConfig(t *testing.T) {
	c, err := loadConfig("../../examples/host.yaml")
	if err != nil {
		t.Fatal(err)
	}
	all := policy.Features{AdvancedRetry: true, CompleteTimeout: true, Cancellation: true, QueueManagement: true, CircuitBreaker: true}
	if c.Features != all {
		t.Errorf("features = %+v, want every CP2 feature on", c.Features)
	}
	root, _ := filepath.Abs("../..")
	if want := filepath.Join(root, "build", "plugins"); c.PluginsDir != want {
		t.Errorf("plugins_dir = %s, want %s", c.PluginsDir, want)
	}
	if want := filepath.Join(root, "build", "cache"); c.CacheDir != want {
		t.Errorf("cache_dir = %s, want %s", c.CacheDir, want)
	}
	if c.Listen != "127.0.0.1:8080" {
		t.Errorf("listen = %s", c.Listen)
	}
	// The keys it spells out with their defaults hold the defaults.
	if c.ReloadDebounce != 250*time.Millisecond || c.InstanceIdleTimeout != 5*time.Minute || c.Limits.InstanceMemoryBudget != 0 {
		t.Errorf("reload_debounce %s, instance_idle_timeout %s, instance_memory_budget %d", c.ReloadDebounce, c.InstanceIdleTimeout, c.Limits.InstanceMemoryBudget)
	}
	breaker := policy.BreakerSettings{
		FailureThreshold: policy.DefaultFailureThreshold, RateWindow: policy.DefaultRateWindow, MinRequests: policy.DefaultMinRequests,
		RecoveryTimeout: policy.DefaultRecoveryTimeout, HalfOpenMaxProbes: policy.DefaultHalfOpenMaxProbes, SuccessThreshold: policy.DefaultSuccessThreshold,
	}
	wantHTTP := httpcap.Config{
		ConnectTimeout: httpcap.DefaultConnectTimeout, TotalTimeout: httpcap.DefaultTotalTimeout,
		MaxRequestBytes: httpcap.DefaultMaxRequestBytes, MaxResponseBytes: httpcap.DefaultMaxResponseBytes, MaxHeaderBytes: httpcap.DefaultMaxHeaderBytes,
		Breaker: breaker, MaxBreakers: policy.DefaultMaxBreakers,
	}
	if !reflect.DeepEqual(c.HTTP, wantHTTP) {
		t.Errorf("http = %+v, want the defaults %+v", c.HTTP, wantHTTP)
	}
	wantFS := fscap.Config{
		ReadTimeout: fscap.DefaultReadTimeout, WriteTimeout: fscap.DefaultWriteTimeout, DeleteTimeout: fscap.DefaultDeleteTimeout,
		MaxStuck: fscap.DefaultMaxStuck, MaxListEntries: fscap.DefaultMaxListEntries,
		Breaker: breaker, MaxBreakers: policy.DefaultMaxBreakers,
	}
	if !reflect.DeepEqual(c.FS, wantFS) {
		t.Errorf("fs = %+v, want the defaults %+v", c.FS, wantFS)
	}
	if c.NATS != (natsConfig{}) {
		t.Errorf("nats = %+v, want off", c.NATS)
	}
	if _, err := host.New(c.hostConfig()); err != nil {
		t.Errorf("host.New rejects the example's settings: %v", err)
	}
}

// TestExampleNATSSection: the commented nats section of examples/host.yaml
// parses once uncommented and spells out the defaults of natsbus and
// natsembed.
func TestExampleNATSSection(t *testing.T) {
	data, err := os.ReadFile("../../examples/host.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	start := slices.Index(lines, "# nats:")
	if start < 0 {
		t.Fatal("no commented nats section")
	}
	n := 0
	for i := start; i < len(lines) && strings.HasPrefix(lines[i], "#"); i++ {
		lines[i] = strings.TrimPrefix(lines[i], "# ")
		n++
	}
	c, err := parseConfig([]byte(strings.Join(lines, "\n")), "host.yaml", "/etc/blockhost")
	if err != nil {
		t.Fatal(err)
	}
	want := natsConfig{
		URL:               "nats://127.0.0.1:4222",
		EmbeddedPort:      4222,
		PayloadRoot:       "/etc/build/data/payloads",
		Stream:            natsbus.DefaultStream,
		Consumer:          natsbus.DefaultConsumer,
		ClaimBucket:       natsbus.DefaultClaimBucket,
		Storage:           jetstream.FileStorage,
		Replicas:          1,
		AckWait:           natsbus.DefaultAckWait,
		ClaimTTL:          natsbus.DefaultClaimTTL,
		HeartbeatInterval: natsbus.DefaultHeartbeatInterval,
		RejectNakDelay:    natsbus.DefaultRejectNakDelay,
	}
	if c.NATS != want {
		t.Errorf("%d lines uncommented: nats = %+v, want %+v", n, c.NATS, want)
	}
	// The keys left commented inside it parse too; claim_lease is its
	// default, half of ack_wait.
	for i := start; i < start+n; i++ {
		if rest, ok := strings.CutPrefix(lines[i], "  # "); ok {
			lines[i] = "  " + rest
		}
	}
	c, err = parseConfig([]byte(strings.Join(lines, "\n")), "host.yaml", "/etc/blockhost")
	if err != nil {
		t.Fatal(err)
	}
	want.EmbeddedStoreDir, want.WorkerID, want.ClaimLease, want.MaxInFlight = "/etc/build/nats", "blockhost-1", natsbus.DefaultAckWait/2, c.NATS.MaxInFlight
	if c.NATS != want {
		t.Errorf("with every key: nats = %+v, want %+v", c.NATS, want)
	}
	// The max_in_flight it states is the default for its pools.
	total := 0
	for _, pc := range c.Pools {
		total += pc.MaxConcurrency
	}
	if got := max(natsbus.DefaultMaxInFlight, 2*total); c.NATS.MaxInFlight != got {
		t.Errorf("examples/host.yaml gives max_in_flight %d, want its default %d", c.NATS.MaxInFlight, got)
	}
}

func TestFeaturePrecedence(t *testing.T) {
	on, off := true, false
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	tests := []struct {
		name string
		file policy.Features
		env  func(string) (string, bool)
		ff   featureFlags
		want policy.Features
	}{
		{"defaults off", policy.Features{}, env(), featureFlags{}, policy.Features{}},
		{"file", policy.Features{Cancellation: true}, env(), featureFlags{}, policy.Features{Cancellation: true}},
		{"env over file", policy.Features{Cancellation: true}, env("CP2_CANCELLATION_ENABLED", "0"), featureFlags{}, policy.Features{}},
		{"env sets", policy.Features{}, env("CP2_ADVANCED_RETRY_ENABLED", "TRUE"), featureFlags{}, policy.Features{AdvancedRetry: true}},
		{"flag over env", policy.Features{}, env("CP2_CIRCUIT_BREAKER_ENABLED", "true"), featureFlags{4: &off}, policy.Features{}},
		{"flag over env over file", policy.Features{QueueManagement: true}, env("CP2_QUEUE_MANAGEMENT_ENABLED", "false"), featureFlags{3: &on}, policy.Features{QueueManagement: true}},
		{"flags each their own", policy.Features{}, env(), featureFlags{0: &on, 1: &on, 2: &off}, policy.Features{AdvancedRetry: true, CompleteTimeout: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveFeatures(tt.file, tt.env, tt.ff)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBadEnvValueNamesTheVariable(t *testing.T) {
	lookup := func(k string) (string, bool) {
		switch k {
		case "CP2_CANCELLATION_ENABLED":
			return "yes", true
		case "CP2_COMPLETE_TIMEOUT_ENABLED":
			return "", true
		}
		return "", false
	}
	_, err := resolveFeatures(policy.Features{}, lookup, featureFlags{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`CP2_CANCELLATION_ENABLED: invalid value "yes"`, `CP2_COMPLETE_TIMEOUT_ENABLED: invalid value ""`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestBadFlagValueNamesTheFlag(t *testing.T) {
	for _, f := range features {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var ff featureFlags
		ff.register(fs)
		err := fs.Parse([]string{"--" + f.flag + "=maybe"})
		if err == nil || !strings.Contains(err.Error(), f.flag) || !strings.Contains(err.Error(), "want true, false, 1 or 0") {
			t.Errorf("--%s=maybe: err = %v, want one naming the flag", f.flag, err)
		}
		for _, v := range []string{"true", "FALSE", "1", "0"} {
			if err := fs.Parse([]string{"--" + f.flag, v}); err != nil {
				t.Errorf("--%s %s: %v", f.flag, v, err)
			}
		}
	}
}
