package main

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/beamline/blockhost/host"
	fscap "github.com/beamline/blockhost/plugins/fs"
	httpcap "github.com/beamline/blockhost/plugins/http"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// Defaults of `blockhost serve` that are not the host's own (those are
// stated in host.Config).
const (
	defaultListen        = "127.0.0.1:8080"
	defaultShutdownGrace = 30 * time.Second
)

// fileConfig is a parsed configuration file (examples/host.yaml documents
// every key). Zero fields keep the host's defaults.
type fileConfig struct {
	// Listen is the HTTP address (127.0.0.1:8080).
	Listen string
	// PluginsDir, CacheDir, CertFile and KeyFile are absolute or relative
	// to the working directory: relative paths in the file are resolved
	// against the file's directory when it is loaded.
	PluginsDir string
	// WatchPlugins hot-reloads the plugins directory (true).
	WatchPlugins bool
	CacheDir     string
	CertFile     string
	KeyFile      string
	// APIToken is secret: never logged.
	APIToken string
	// ShutdownGrace is how long a drain waits for steps in flight (30 s).
	ShutdownGrace time.Duration
	// LogLevel and LogFormat (info, json).
	LogLevel  slog.Level
	LogFormat string
	// Features are the config file's CP2 flags; the environment and CLI
	// flags override them (see resolveFeatures).
	Features policy.Features
	// The rest maps onto host.Config.
	Retry             policy.RetryConfig
	DefaultTimeout    time.Duration
	DefaultRetryCount int // host.Config semantics: 0 = default 3, negative = 0
	Pools             []host.PoolConfig
	Overload          host.OverloadThresholds
	Limits            host.Limits
	HTTP              httpcap.Config
	FS                fscap.Config
	Blocks            map[string]host.BlockPolicy
	// ReloadDebounce and InstanceIdleTimeout: 0 keeps the host's defaults
	// (250 ms and 5 min).
	ReloadDebounce      time.Duration
	InstanceIdleTimeout time.Duration
	// NATS is the nats section, the NATS JetStream transport; serve's
	// --nats, --nats-embedded, --nats-embedded-port and --nats-payload-root
	// override it (see natsFlags).
	NATS natsConfig
}

// defaultFileConfig is the configuration of an empty file.
func defaultFileConfig() fileConfig {
	return fileConfig{
		Listen:        defaultListen,
		WatchPlugins:  true,
		ShutdownGrace: defaultShutdownGrace,
		LogLevel:      slog.LevelInfo,
		LogFormat:     "json",
		Pools:         host.DefaultPools(),
	}
}

// hostConfig maps c onto a host.Config; the caller adds the features it
// resolved, the logger and the registerer.
func (c fileConfig) hostConfig() host.Config {
	return host.Config{
		Features:            c.Features,
		Retry:               c.Retry,
		Pools:               slices.Clone(c.Pools),
		Overload:            c.Overload,
		Limits:              c.Limits,
		HTTP:                c.HTTP,
		FS:                  c.FS,
		ReloadDebounce:      c.ReloadDebounce,
		InstanceIdleTimeout: c.InstanceIdleTimeout,
		DefaultTimeout:      c.DefaultTimeout,
		DefaultRetryCount:   c.DefaultRetryCount,
		CacheDir:            c.CacheDir,
		Blocks:              c.Blocks,
	}
}

// feature ties a CP2 flag's config key, environment variable and CLI flag.
type feature struct {
	key, env, flag string
}

// features lists the CP2 flags in policy.FeatureVars order.
var features = []feature{
	{"advanced_retry", policy.EnvAdvancedRetry, "cp2-advanced-retry"},
	{"complete_timeout", policy.EnvCompleteTimeout, "cp2-complete-timeout"},
	{"cancellation", policy.EnvCancellation, "cp2-cancellation"},
	{"queue_management", policy.EnvQueueManagement, "cp2-queue-management"},
	{"circuit_breaker", policy.EnvCircuitBreaker, "cp2-circuit-breaker"},
}

// lineError is one problem of a config file.
type lineError struct {
	Line int
	Msg  string
}

// configError lists every problem of a config file, in file order.
type configError struct {
	File   string
	Errors []lineError
}

func (e *configError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, le := range e.Errors {
		lines[i] = e.File + ":" + strconv.Itoa(le.Line) + ": " + le.Msg
	}
	return strings.Join(lines, "\n")
}

// loadConfig reads and parses the config file at path. A parse error is a
// *configError listing every problem with its line.
func loadConfig(path string) (fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return fileConfig{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fileConfig{}, err
	}
	return parseConfig(data, path, filepath.Dir(abs))
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseConfig parses data, naming file in errors and resolving relative
// paths against dir. It reports every problem, not just the first.
func parseConfig(data []byte, file, dir string) (fileConfig, error) {
	c := defaultFileConfig()
	p := &parser{dir: dir}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		msg := err.Error()
		line := 1
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return c, &configError{File: file, Errors: []lineError{{line, strings.TrimPrefix(msg, "yaml: ")}}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(&extra, "only one YAML document is allowed")
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		p.top(&c, doc.Content[0])
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b lineError) int { return a.Line - b.Line })
		return c, &configError{File: file, Errors: p.errs}
	}
	return c, nil
}

// parser walks a yaml.Node tree and collects every problem.
type parser struct {
	dir  string
	errs []lineError
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, lineError{Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!str":
			return "a string"
		}
		return n.Tag
	}
	return "nothing"
}

// fields walks mapping n, whose dotted name is name ("" at the top), and
// calls the handler of each key. Unknown and repeated keys are errors; a
// null value (a key with nothing after it) is skipped, as if absent.
func (p *parser) fields(n *yaml.Node, name string, handlers map[string]func(v *yaml.Node, name string)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a mapping, got %s", orTop(name), kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		full := join(name, k.Value)
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, "%s: repeated (first at line %d)", full, first)
			continue
		}
		seen[k.Value] = k.Line
		h, ok := handlers[k.Value]
		if !ok {
			known := make([]string, 0, len(handlers))
			for key := range handlers {
				known = append(known, key)
			}
			slices.Sort(known)
			p.errorf(k, "%s: unknown key (known keys%s: %s)", full, inName(name), strings.Join(known, ", "))
			continue
		}
		if isNull(v) {
			continue
		}
		h(v, full)
	}
}

// entries walks a mapping of free-form keys (pools, blocks, block config).
func (p *parser) entries(n *yaml.Node, name string, each func(k, v *yaml.Node, name string)) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a mapping, got %s", name, kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		full := join(name, k.Value)
		if first, dup := seen[k.Value]; dup {
			p.errorf(k, "%s: repeated (first at line %d)", full, first)
			continue
		}
		seen[k.Value] = k.Line
		each(k, v, full)
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func orTop(name string) string {
	if name == "" {
		return "config"
	}
	return name
}

func inName(name string) string {
	if name == "" {
		return ""
	}
	return " in " + name
}

func (p *parser) str(v *yaml.Node, name string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, "%s: want a string, got %s", name, kindName(v))
		return "", false
	}
	return v.Value, true
}

func (p *parser) path(v *yaml.Node, name string) (string, bool) {
	s, ok := p.str(v, name)
	if !ok {
		return "", false
	}
	if s == "" {
		p.errorf(v, "%s: empty path", name)
		return "", false
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(p.dir, s)
	}
	return s, true
}

func (p *parser) flag(v *yaml.Node, name string) (bool, bool) {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, "%s: want true or false, got %s", name, kindName(v))
		return false, false
	}
	b, err := policy.ParseFlag(name, v.Value)
	if err != nil {
		p.errorf(v, "%s", strings.TrimPrefix(err.Error(), "policy: "))
		return false, false
	}
	return b, true
}

func (p *parser) integer(v *yaml.Node, name string, lo, hi int64) (int64, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
		p.errorf(v, "%s: want an integer, got %s", name, kindName(v))
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 0, 64)
	if err != nil {
		p.errorf(v, "%s: %q is not an integer", name, v.Value)
		return 0, false
	}
	if n < lo || n > hi {
		p.errorf(v, "%s: %d out of range [%d, %d]", name, n, lo, hi)
		return 0, false
	}
	return n, true
}

// fraction accepts a number in (0, 1].
func (p *parser) fraction(v *yaml.Node, name string) (float64, bool) {
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!float" && v.Tag != "!!int") {
		p.errorf(v, "%s: want a number between 0 and 1, got %s", name, kindName(v))
		return 0, false
	}
	f, err := strconv.ParseFloat(v.Value, 64)
	if err != nil || f <= 0 || f > 1 {
		p.errorf(v, "%s: %s: want a number above 0 and at most 1", name, v.Value)
		return 0, false
	}
	return f, true
}

func (p *parser) duration(v *yaml.Node, name string, allowZero bool) (time.Duration, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
		p.errorf(v, "%s: want a duration such as 500ms, 30s or 2m, got %s", name, kindName(v))
		return 0, false
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil {
		p.errorf(v, "%s: %q is not a duration (want e.g. 500ms, 30s, 2m)", name, v.Value)
		return 0, false
	}
	if d < 0 || (d == 0 && !allowZero) {
		p.errorf(v, "%s: must be positive, got %s", name, v.Value)
		return 0, false
	}
	return d, true
}

var sizeRE = regexp.MustCompile(`^(\d+)\s*(B|KiB|MiB|GiB)?$`)

// size accepts a byte count from lo (0 or 1) to hi, as an integer or with a
// binary unit: 65536, 64KiB, 128MiB, 1GiB.
func (p *parser) size(v *yaml.Node, name string, lo, hi int64) (int64, bool) {
	m := sizeRE.FindStringSubmatch(v.Value)
	if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!str") || m == nil {
		p.errorf(v, "%s: want a size such as 65536, 64KiB or 128MiB, got %s", name, describeScalar(v))
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30}[m[2]]
	if err != nil || n > hi>>shift {
		p.errorf(v, "%s: %s is larger than %d bytes", name, v.Value, hi)
		return 0, false
	}
	n <<= shift
	if n < lo { // lo is 0 or 1
		p.errorf(v, "%s: must be at least 1 byte", name)
		return 0, false
	}
	return n, true
}

func describeScalar(v *yaml.Node) string {
	if v.Kind == yaml.ScalarNode {
		return strconv.Quote(v.Value)
	}
	return kindName(v)
}

func (p *parser) top(c *fileConfig, root *yaml.Node) {
	p.fields(root, "", map[string]func(*yaml.Node, string){
		"listen": func(v *yaml.Node, name string) {
			s, ok := p.str(v, name)
			if !ok {
				return
			}
			_, port, err := net.SplitHostPort(s)
			if err != nil {
				p.errorf(v, "%s: %q: want HOST:PORT, e.g. 127.0.0.1:8080", name, s)
				return
			}
			if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
				p.errorf(v, "%s: %q: port must be a number 0-65535", name, s)
				return
			}
			c.Listen = s
		},
		"plugins_dir": func(v *yaml.Node, name string) {
			if s, ok := p.path(v, name); ok {
				c.PluginsDir = s
			}
		},
		"watch_plugins": func(v *yaml.Node, name string) {
			if b, ok := p.flag(v, name); ok {
				c.WatchPlugins = b
			}
		},
		"reload_debounce": func(v *yaml.Node, name string) {
			if d, ok := p.duration(v, name, false); ok {
				c.ReloadDebounce = d
			}
		},
		"cache_dir": func(v *yaml.Node, name string) {
			if s, ok := p.path(v, name); ok {
				c.CacheDir = s
			}
		},
		"api_token": func(v *yaml.Node, name string) {
			if s, ok := p.str(v, name); ok {
				c.APIToken = s
			}
		},
		"tls": func(v *yaml.Node, name string) {
			p.fields(v, name, map[string]func(*yaml.Node, string){
				"cert_file": func(v *yaml.Node, name string) {
					if s, ok := p.path(v, name); ok {
						c.CertFile = s
					}
				},
				"key_file": func(v *yaml.Node, name string) {
					if s, ok := p.path(v, name); ok {
						c.KeyFile = s
					}
				},
			})
			if (c.CertFile == "") != (c.KeyFile == "") {
				p.errorf(v, "%s: cert_file and key_file go together: set both or neither", name)
			}
		},
		"shutdown_grace": func(v *yaml.Node, name string) {
			if d, ok := p.duration(v, name, true); ok {
				c.ShutdownGrace = d
			}
		},
		"log": func(v *yaml.Node, name string) {
			p.fields(v, name, map[string]func(*yaml.Node, string){
				"level": func(v *yaml.Node, name string) {
					s, ok := p.str(v, name)
					if !ok {
						return
					}
					var l slog.Level
					if err := l.UnmarshalText([]byte(s)); err != nil || !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(s)) {
						p.errorf(v, "%s: %q: want debug, info, warn or error", name, s)
						return
					}
					c.LogLevel = l
				},
				"format": func(v *yaml.Node, name string) {
					s, ok := p.str(v, name)
					if !ok {
						return
					}
					if s != "json" && s != "text" {
						p.errorf(v, "%s: %q: want json or text", name, s)
						return
					}
					c.LogFormat = s
				},
			})
		},
		"features": func(v *yaml.Node, name string) {
			handlers := map[string]func(*yaml.Node, string){}
			for _, f := range features {
				handlers[f.key] = func(v *yaml.Node, name string) {
					if b, ok := p.flag(v, name); ok {
						_ = c.Features.Set(f.env, b) // f.env is one of policy.FeatureVars
					}
				}
			}
			p.fields(v, name, handlers)
		},
		"retry": func(v *yaml.Node, name string) {
			var r policy.RetryConfig
			ok := true
			p.fields(v, name, map[string]func(*yaml.Node, string){
				"base": func(v *yaml.Node, name string) {
					var good bool
					r.Base, good = p.duration(v, name, false)
					ok = ok && good
				},
				"cap": func(v *yaml.Node, name string) {
					var good bool
					r.Cap, good = p.duration(v, name, false)
					ok = ok && good
				},
				"jitter": func(v *yaml.Node, name string) {
					s, good := p.str(v, name)
					if !good {
						ok = false
						return
					}
					j, err := policy.ParseJitter(s)
					if err != nil {
						p.errorf(v, "%s: %s", name, strings.TrimPrefix(err.Error(), "policy: "))
						ok = false
						return
					}
					r.Jitter = j
				},
			})
			if !ok {
				return
			}
			if err := r.WithDefaults().Validate(); err != nil {
				p.errorf(v, "%s: %s", name, strings.TrimPrefix(err.Error(), "policy: "))
				return
			}
			c.Retry = r
		},
		"defaults": func(v *yaml.Node, name string) {
			p.fields(v, name, map[string]func(*yaml.Node, string){
				"timeout_ms": func(v *yaml.Node, name string) {
					if n, ok := p.integer(v, name, 1, int64(time.Duration(1<<62)/time.Millisecond)); ok {
						c.DefaultTimeout = time.Duration(n) * time.Millisecond
					}
				},
				"retry_count": func(v *yaml.Node, name string) {
					if n, ok := p.integer(v, name, 0, 1000); ok {
						c.DefaultRetryCount = int(n)
						if n == 0 {
							c.DefaultRetryCount = -1 // host.Config: negative means 0
						}
					}
				},
			})
		},
		"pools": func(v *yaml.Node, name string) { p.pools(c, v, name) },
		"overload": func(v *yaml.Node, name string) {
			var o host.OverloadThresholds
			p.fields(v, name, map[string]func(*yaml.Node, string){
				"degraded": func(v *yaml.Node, name string) {
					o.Degraded, _ = p.fraction(v, name)
				},
				"overloaded": func(v *yaml.Node, name string) {
					o.Overloaded, _ = p.fraction(v, name)
				},
			})
			if o.Degraded == 0 {
				o.Degraded = 0.5
			}
			if o.Overloaded == 0 {
				o.Overloaded = 0.8
			}
			if o.Degraded > o.Overloaded {
				p.errorf(v, "%s: degraded (%g) must not be above overloaded (%g)", name, o.Degraded, o.Overloaded)
				return
			}
			c.Overload = o
		},
		"instance_idle_timeout": func(v *yaml.Node, name string) {
			if d, ok := p.duration(v, name, false); ok {
				c.InstanceIdleTimeout = d
			}
		},
		"http":   func(v *yaml.Node, name string) { p.httpCap(&c.HTTP, v, name) },
		"fs":     func(v *yaml.Node, name string) { p.fsCap(&c.FS, v, name) },
		"limits": func(v *yaml.Node, name string) { p.limits(c, v, name) },
		"blocks": func(v *yaml.Node, name string) { p.blocks(c, v, name) },
		"nats":   func(v *yaml.Node, name string) { p.nats(&c.NATS, v, name) },
	})
}

// Upper bounds of keys whose type allows more than is sensible.
const (
	maxLargeBytes   = 1 << 40  // 1 TiB: http.max_request_bytes, http.max_response_bytes, limits.instance_memory_budget
	maxHeaderBytes  = 16 << 20 // http.max_header_bytes
	maxBreakerCount = 1 << 20  // http.max_breakers, fs.max_breakers
)

// httpCap parses the http section into h.
func (p *parser) httpCap(h *httpcap.Config, n *yaml.Node, name string) {
	var maxConnect, maxTotal *yaml.Node
	connectOK, totalOK := true, true
	p.fields(n, name, map[string]func(*yaml.Node, string){
		"connect_timeout": func(v *yaml.Node, name string) {
			h.ConnectTimeout, connectOK = p.duration(v, name, false)
		},
		"total_timeout": func(v *yaml.Node, name string) {
			h.TotalTimeout, totalOK = p.duration(v, name, false)
		},
		"max_connect_timeout": func(v *yaml.Node, name string) {
			if d, ok := p.duration(v, name, false); ok {
				h.MaxConnectTimeout, maxConnect = d, v
			}
		},
		"max_total_timeout": func(v *yaml.Node, name string) {
			if d, ok := p.duration(v, name, false); ok {
				h.MaxTotalTimeout, maxTotal = d, v
			}
		},
		"max_request_bytes": func(v *yaml.Node, name string) {
			h.MaxRequestBytes, _ = p.size(v, name, 1, maxLargeBytes)
		},
		"max_response_bytes": func(v *yaml.Node, name string) {
			h.MaxResponseBytes, _ = p.size(v, name, 1, maxLargeBytes)
		},
		"max_header_bytes": func(v *yaml.Node, name string) {
			if n, ok := p.size(v, name, 1, maxHeaderBytes); ok {
				h.MaxHeaderBytes = int(n)
			}
		},
		"breaker": func(v *yaml.Node, name string) { p.breaker(&h.Breaker, v, name) },
		"max_breakers": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, maxBreakerCount); ok {
				h.MaxBreakers = int(n)
			}
		},
	})
	// A maximum below its timeout would make httpcap.New fail at start-up.
	if connect := cmp.Or(h.ConnectTimeout, httpcap.DefaultConnectTimeout); maxConnect != nil && connectOK && h.MaxConnectTimeout < connect {
		p.errorf(maxConnect, "%s.max_connect_timeout: %s is below connect_timeout (%s)", name, h.MaxConnectTimeout, connect)
	}
	if total := cmp.Or(h.TotalTimeout, httpcap.DefaultTotalTimeout); maxTotal != nil && totalOK && h.MaxTotalTimeout < total {
		p.errorf(maxTotal, "%s.max_total_timeout: %s is below total_timeout (%s)", name, h.MaxTotalTimeout, total)
	}
}

// fsCap parses the fs section into f.
func (p *parser) fsCap(f *fscap.Config, n *yaml.Node, name string) {
	p.fields(n, name, map[string]func(*yaml.Node, string){
		"read_timeout": func(v *yaml.Node, name string) {
			f.ReadTimeout, _ = p.duration(v, name, false)
		},
		"write_timeout": func(v *yaml.Node, name string) {
			f.WriteTimeout, _ = p.duration(v, name, false)
		},
		"delete_timeout": func(v *yaml.Node, name string) {
			f.DeleteTimeout, _ = p.duration(v, name, false)
		},
		"max_stuck": func(v *yaml.Node, name string) {
			// Each stuck call holds an OS thread, per root.
			if n, ok := p.integer(v, name, 1, 1024); ok {
				f.MaxStuck = int(n)
			}
		},
		"max_list_entries": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, 1<<20); ok {
				f.MaxListEntries = int(n)
			}
		},
		"breaker": func(v *yaml.Node, name string) { p.breaker(&f.Breaker, v, name) },
		"max_breakers": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, maxBreakerCount); ok {
				f.MaxBreakers = int(n)
			}
		},
	})
}

// breaker parses a breaker block (http.breaker, fs.breaker) into b; keys
// left out keep policy.BreakerSettings' defaults.
func (p *parser) breaker(b *policy.BreakerSettings, n *yaml.Node, name string) {
	var threshold *yaml.Node
	rateGiven := false
	p.fields(n, name, map[string]func(*yaml.Node, string){
		"failure_threshold": func(v *yaml.Node, name string) {
			n, ok := p.integer(v, name, -1, 1<<20)
			if !ok {
				return
			}
			if n == 0 {
				p.errorf(v, "%s: 0: want at least 1, or -1 for never by count", name)
				return
			}
			b.FailureThreshold, threshold = int(n), v
		},
		"failure_rate": func(v *yaml.Node, name string) {
			rateGiven = true
			b.FailureRate, _ = p.fraction(v, name)
		},
		"rate_window": func(v *yaml.Node, name string) {
			b.RateWindow, _ = p.duration(v, name, false)
		},
		"min_requests": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, 1<<20); ok {
				b.MinRequests = int(n)
			}
		},
		"recovery_timeout": func(v *yaml.Node, name string) {
			b.RecoveryTimeout, _ = p.duration(v, name, false)
		},
		"half_open_max_probes": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, 1<<16); ok {
				b.HalfOpenMaxProbes = int(n)
			}
		},
		"success_threshold": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, 1<<16); ok {
				b.SuccessThreshold = int(n)
			}
		},
	})
	if b.FailureThreshold < 0 && !rateGiven {
		p.errorf(threshold, "%s.failure_threshold: -1 turns off the count trigger: set failure_rate too, or the breaker never opens", name)
	}
}

var poolNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// pools applies the pools mapping to the default pools cpu, gpu and io;
// other names add pools.
func (p *parser) pools(c *fileConfig, n *yaml.Node, name string) {
	p.entries(n, name, func(k, v *yaml.Node, full string) {
		if !poolNameRE.MatchString(k.Value) {
			p.errorf(k, "%s: %q is not a pool name (lower-case letters, digits, '_' or '-')", name, k.Value)
			return
		}
		i := slices.IndexFunc(c.Pools, func(pc host.PoolConfig) bool { return pc.Name == k.Value })
		if i < 0 {
			c.Pools = append(c.Pools, host.PoolConfig{Name: k.Value, MaxConcurrency: 1})
			i = len(c.Pools) - 1
		}
		pc := &c.Pools[i]
		p.fields(v, full, map[string]func(*yaml.Node, string){
			"max_concurrency": func(v *yaml.Node, name string) {
				if n, ok := p.integer(v, name, 1, 1<<20); ok {
					pc.MaxConcurrency = int(n)
				}
			},
			"max_queue_size": func(v *yaml.Node, name string) {
				if n, ok := p.integer(v, name, 1, 1<<30); ok {
					pc.MaxQueueSize = int(n)
				}
			},
			"policy": func(v *yaml.Node, name string) {
				s, ok := p.str(v, name)
				if !ok {
					return
				}
				if s != host.PolicyRejectNew && s != host.PolicyDropOldest {
					p.errorf(v, "%s: %q: want %s or %s", name, s, host.PolicyRejectNew, host.PolicyDropOldest)
					return
				}
				pc.Policy = s
			},
			"tenant_share": func(v *yaml.Node, name string) {
				if f, ok := p.fraction(v, name); ok {
					pc.TenantShare = f
				}
			},
		})
	})
}

func (p *parser) limits(c *fileConfig, n *yaml.Node, name string) {
	l := &c.Limits
	var highWater *yaml.Node
	p.fields(n, name, map[string]func(*yaml.Node, string){
		"memory_pages": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, 65536); ok {
				l.MemoryPages = uint32(n)
			}
		},
		"memory_high_water_pages": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, 65536); ok {
				l.MemoryHighWaterPages = uint32(n)
				highWater = v
			}
		},
		"max_input_bytes": func(v *yaml.Node, name string) {
			if n, ok := p.size(v, name, 1, 4<<30); ok {
				l.MaxInputBytes = n
			}
		},
		"max_output_bytes": func(v *yaml.Node, name string) {
			if n, ok := p.size(v, name, 1, 4<<30); ok {
				l.MaxOutputBytes = n
			}
		},
		"max_log_bytes": func(v *yaml.Node, name string) {
			if n, ok := p.size(v, name, 1, 1<<30); ok {
				l.MaxLogBytes = int(n)
			}
		},
		"max_handles": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, 1<<16); ok {
				l.MaxHandles = int(n)
			}
		},
		"max_module_bytes": func(v *yaml.Node, name string) {
			if n, ok := p.size(v, name, 1, 1<<30); ok {
				l.MaxModuleBytes = n
			}
		},
		"compile_timeout": func(v *yaml.Node, name string) {
			if d, ok := p.duration(v, name, false); ok {
				l.CompileTimeout = d
			}
		},
		"max_function_control": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, 1<<24); ok {
				l.MaxFunctionControl = int(n)
			}
		},
		"instance_memory_budget": func(v *yaml.Node, name string) {
			if n, ok := p.size(v, name, 0, maxLargeBytes); ok {
				l.InstanceMemoryBudget = n
			}
		},
	})
	pages := l.MemoryPages
	if pages == 0 {
		pages = 512
	}
	if highWater != nil && l.MemoryHighWaterPages > pages {
		p.errorf(highWater, "%s.memory_high_water_pages: %d is above memory_pages (%d)", name, l.MemoryHighWaterPages, pages)
	}
}

func (p *parser) blocks(c *fileConfig, n *yaml.Node, name string) {
	p.entries(n, name, func(k, v *yaml.Node, full string) {
		if k.Value == "" {
			p.errorf(k, "%s: empty block name", name)
			return
		}
		var bp host.BlockPolicy
		p.fields(v, full, map[string]func(*yaml.Node, string){
			"digest": func(v *yaml.Node, name string) {
				s, ok := p.str(v, name)
				if !ok {
					return
				}
				d := strings.ToLower(strings.TrimPrefix(s, "sha256:"))
				if b, err := hex.DecodeString(d); err != nil || len(b) != 32 {
					p.errorf(v, "%s: want the sha256 of the .wasm as 64 hex digits (optionally prefixed sha256:), got %q", name, s)
					return
				}
				bp.Digest = d
			},
			"allow_no_interrupt": func(v *yaml.Node, name string) {
				if b, ok := p.flag(v, name); ok {
					bp.AllowNoInterrupt = b
				}
			},
			"config": func(v *yaml.Node, name string) {
				bp.Config = map[string]string{}
				p.entries(v, name, func(k, v *yaml.Node, full string) {
					if v.Kind != yaml.ScalarNode {
						p.errorf(v, "%s: want a string, got %s (JSON-encode structured values)", full, kindName(v))
						return
					}
					bp.Config[k.Value] = v.Value
				})
			},
			"http": func(v *yaml.Node, name string) {
				p.fields(v, name, map[string]func(*yaml.Node, string){
					"allow": func(v *yaml.Node, name string) {
						for _, e := range p.strList(v, name) {
							if err := checkAllow(e.Value); err != nil {
								p.errorf(e, "%s: %v", name, err)
								continue
							}
							bp.HTTP.Allow = append(bp.HTTP.Allow, e.Value)
						}
					},
					"allow_private": func(v *yaml.Node, name string) {
						bp.HTTP.AllowPrivate, _ = p.flag(v, name)
					},
				})
			},
			"fs": func(v *yaml.Node, name string) {
				p.fields(v, name, map[string]func(*yaml.Node, string){
					"root": func(v *yaml.Node, name string) {
						bp.FS.Root, _ = p.path(v, name)
					},
					"fallback": func(v *yaml.Node, name string) {
						bp.FS.Fallback, _ = p.path(v, name)
					},
					"read_only": func(v *yaml.Node, name string) {
						bp.FS.ReadOnly, _ = p.flag(v, name)
					},
					"per_tenant": func(v *yaml.Node, name string) {
						bp.FS.PerTenant, _ = p.flag(v, name)
					},
				})
				if bp.FS.Root == "" && (bp.FS.Fallback != "" || bp.FS.ReadOnly || bp.FS.PerTenant) {
					p.errorf(v, "%s: root is required", name)
				}
			},
			"secret": func(v *yaml.Node, name string) {
				for _, e := range p.strList(v, name) {
					bp.Secret = append(bp.Secret, e.Value)
				}
			},
		})
		if c.Blocks == nil {
			c.Blocks = map[string]host.BlockPolicy{}
		}
		c.Blocks[k.Value] = bp
	})
}

// strList returns the non-empty scalar items of list v; anything else is an
// error.
func (p *parser) strList(v *yaml.Node, name string) []*yaml.Node {
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "%s: want a list, got %s", name, kindName(v))
		return nil
	}
	var out []*yaml.Node
	for _, e := range v.Content {
		e = resolve(e)
		if e.Kind != yaml.ScalarNode || e.Value == "" {
			p.errorf(e, "%s: want a non-empty string, got %s", name, describeScalar(e))
			continue
		}
		out = append(out, e)
	}
	return out
}

// checkAllow checks one HTTP egress pattern, scheme://host[:port] (see
// sandbox.NewEgress).
func checkAllow(pattern string) error {
	return sandbox.ValidateHTTPGrant(sandbox.HTTPGrant{Allow: []string{pattern}})
}
