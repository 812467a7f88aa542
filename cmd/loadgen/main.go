// Command loadgen drives blockhost with load and reports what it measured.
//
// It drives the HTTP API of a running `blockhost serve` (--url), the Go API
// in-process (--inprocess: it creates a host.Host, loads --blocks DIR and
// calls host.Execute), or a bare net/http echo server it starts itself
// (--baseline-echo, alone or before --url so the report gives blockhost as
// a ratio of a bare server measured in the same run).
//
// Open loop (--rate N --duration D): send i is due at start + i/N and its
// latency counts from that intended time, so a send the generator makes
// late still counts its wait (no coordinated omission). Closed loop
// (--concurrency C, or a list C1,C2,... to find the maximum): C senders
// each send when their previous answer arrives.
//
// Workloads: --type T (noop, text.uppercase, test.sleep, ...), --mix
// noop:8,test.sleep:2 (weighted), --payload-bytes 100MB (a large input:
// raw multipart part over HTTP, a string in-process), --input k=v.
//
// It prints progress every second on stderr, a summary on stdout, and with
// --report DIR a Markdown report with SVG charts (DIR/report.md); --json
// FILE writes the raw results.
//
// Scenarios: --scenario suite runs the whole load suite (bare echo, HTTP
// API maximum and half-maximum latency, small and large payloads, mixed,
// in-process) against a blockhost binary it starts; --scenario degrade
// runs the graceful-degradation suite (overload, slow consumer, resource
// exhaustion) with every CP2 flag off and on, each in a child process.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/beamline/blockhost/cmd/loadgen/load"
	"github.com/beamline/blockhost/host"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // a run failed or an expectation was not met
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the parsed command line.
type config struct {
	url, token   string
	pid          int
	inprocess    bool
	baselineEcho bool

	blocks     string
	build      bool
	rebuild    bool
	cp2        string
	cpu        int
	queue      int
	cacheDir   string
	memBudget  int64
	serverBin  string
	scenario   string
	caseName   string
	short      bool
	memCap     int64
	queueCap   int
	stepType   string
	mix        string
	inputs     inputFlag
	payload    int64
	payloadKey string
	timeoutMS  int64
	retryCount int
	rate       float64
	conc       []int
	duration   time.Duration
	drain      time.Duration
	maxIn      int
	conns      int
	report     string
	jsonOut    string
	label      string
	quiet      bool
}

type inputFlag map[string]string

func (f inputFlag) String() string { return fmt.Sprint(map[string]string(f)) }
func (f inputFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	f[k] = v
	return nil
}

type sizeFlag struct{ p *int64 }

func (f sizeFlag) String() string {
	if f.p == nil {
		return "0"
	}
	return strconv.FormatInt(*f.p, 10)
}
func (f sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*f.p = n
	return nil
}

// parseSize parses bytes: an integer with an optional unit KB, MB, GB
// (powers of 1000) or KiB, MiB, GiB (powers of 1024).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.m
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want bytes such as 1048576, 10MB or 100MiB", s)
	}
	return int64(n * float64(mult)), nil
}

type rateFlag struct{ p *float64 }

func (f rateFlag) String() string {
	if f.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*f.p, 'g', -1, 64)
}
func (f rateFlag) Set(s string) error {
	n, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "/s"), 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("rate %q: want steps per second such as 200 or 200/s", s)
	}
	*f.p = n
	return nil
}

type concFlag struct{ p *[]int }

func (f concFlag) String() string {
	if f.p == nil {
		return ""
	}
	return fmt.Sprint(*f.p)
}
func (f concFlag) Set(s string) error {
	*f.p = nil
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return fmt.Errorf("concurrency %q: want positive integers such as 32 or 8,32,64", s)
		}
		*f.p = append(*f.p, n)
	}
	return nil
}

const usage = `loadgen: load, degradation and baseline measurements for blockhost.

Targets (one of):
  --url URL              the HTTP API of a running blockhost serve
  --inprocess            the Go API in this process (--blocks DIR, --cp2 all|none)
  --baseline-echo        a bare net/http echo server started here (alone, or with
                         --url: the echo is measured first, same settings, and the
                         report gives blockhost as a ratio of it)
Load:
  --rate N --duration D  open loop, latency from each send's intended time
  --concurrency C[,C..]  closed loop; several values find the maximum
Scenarios:
  --scenario suite       the full load suite (starts --server-bin, builds it if empty)
  --scenario degrade     graceful degradation, CP1 vs CP2, each mode in a child process

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{inputs: inputFlag{}}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.url, "url", "", "base `URL` of a blockhost HTTP API (http://127.0.0.1:8080)")
	fs.StringVar(&c.token, "token", os.Getenv("BLOCKHOST_API_TOKEN"), "API `token` (default $BLOCKHOST_API_TOKEN)")
	fs.IntVar(&c.pid, "pid", 0, "sample the RSS of process `PID` (the server; default: its /metrics)")
	fs.BoolVar(&c.inprocess, "inprocess", false, "drive the Go API in-process")
	fs.BoolVar(&c.baselineEcho, "baseline-echo", false, "measure a bare net/http echo server the same way")
	fs.StringVar(&c.blocks, "blocks", "", "plugins `DIR` for --inprocess and --scenario (default: a temporary directory)")
	fs.BoolVar(&c.build, "build", true, "build the blocks the workload needs into --blocks when they are missing (needs the module source)")
	fs.BoolVar(&c.rebuild, "rebuild", false, "rebuild the blocks even when present")
	fs.StringVar(&c.cp2, "cp2", "all", "in-process CP2 flags: all (on) or none (off, the CP1 baseline)")
	fs.IntVar(&c.cpu, "cpu", 4, "in-process cpu pool max_concurrency")
	fs.IntVar(&c.queue, "queue", 1000, "in-process max_queue_size of every pool (with --cp2 all)")
	fs.StringVar(&c.cacheDir, "cache-dir", filepath.Join(os.TempDir(), "blockhost-wazero-cache"), "in-process compilation cache `DIR` (\"\": none)")
	fs.Var(sizeFlag{&c.memBudget}, "memory-budget", "in-process host.Limits.InstanceMemoryBudget in bytes (0: none)")
	fs.StringVar(&c.serverBin, "server-bin", "", "blockhost binary for --scenario suite (default: go build ./cmd/host)")
	fs.StringVar(&c.scenario, "scenario", "", "suite or degrade (degrade-child is internal)")
	fs.StringVar(&c.caseName, "case", "", "internal: the degrade case a child runs")
	fs.BoolVar(&c.short, "short", false, "shorter scenario durations (for tests)")
	c.memCap = 2 << 30
	fs.Var(sizeFlag{&c.memCap}, "mem-cap", "degrade: stop a run when RSS exceeds this (default 2GiB)")
	fs.IntVar(&c.queueCap, "queue-cap", 100000, "degrade: stop a run when the queue depth exceeds this")
	fs.StringVar(&c.stepType, "type", "noop", "step `type` to send")
	fs.StringVar(&c.mix, "mix", "", "weighted step types: noop:8,test.sleep:2 (overrides --type)")
	fs.Var(c.inputs, "input", "extra input `key=value` (repeatable)")
	fs.Var(sizeFlag{&c.payload}, "payload-bytes", "large input of this size: 10MB, 100MB, 100MiB")
	fs.StringVar(&c.payloadKey, "payload-key", "", "input key of the payload (default data; text for text.uppercase)")
	fs.Int64Var(&c.timeoutMS, "timeout-ms", 0, "timeout_ms of each step (0: the host's default)")
	fs.IntVar(&c.retryCount, "retry-count", -1, "retry_count of each step (-1: the host's default)")
	fs.Var(rateFlag{&c.rate}, "rate", "open loop: steps per `second`")
	fs.Var(concFlag{&c.conc}, "concurrency", "closed loop: senders (a list finds the maximum)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send")
	fs.DurationVar(&c.drain, "drain", 30*time.Second, "how long to wait for answers after the last send")
	fs.IntVar(&c.maxIn, "max-inflight", 10000, "open loop: sends in flight at most")
	fs.IntVar(&c.conns, "connections", 0, "HTTP connections at most, and open-loop workers (default: the concurrency in closed loop, 32 in open loop)")
	fs.StringVar(&c.report, "report", "", "write a Markdown report with SVG charts to `DIR`")
	fs.StringVar(&c.jsonOut, "json", "", "write the results as JSON to `FILE`")
	fs.StringVar(&c.label, "label", "", "name of the run in the report")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if _, err := load.ParseCP2(c.cp2); err != nil {
		return nil, err
	}
	switch c.scenario {
	case "", "suite", "degrade", "degrade-child":
	default:
		return nil, fmt.Errorf("--scenario %q: want suite or degrade", c.scenario)
	}
	if c.scenario == "" {
		n := 0
		for _, on := range []bool{c.url != "", c.inprocess} {
			if on {
				n++
			}
		}
		if n > 1 {
			return nil, errors.New("use one of --url and --inprocess")
		}
		if n == 0 && !c.baselineEcho {
			return nil, errors.New("no target: use --url URL, --inprocess or --baseline-echo")
		}
		if c.inprocess && c.baselineEcho {
			return nil, errors.New("--baseline-echo compares with the HTTP API: use it with --url (or alone)")
		}
		if c.rate > 0 && len(c.conc) > 0 {
			return nil, errors.New("use --rate (open loop) or --concurrency (closed loop), not both")
		}
		if c.rate == 0 && len(c.conc) == 0 {
			return nil, errors.New("no load: use --rate N (open loop) or --concurrency C (closed loop)")
		}
	}
	if c.duration <= 0 {
		return nil, errors.New("--duration must be positive")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	switch c.scenario {
	case "suite":
		return runSuite(ctx, c, stdout, stderr, log)
	case "degrade":
		return runDegrade(ctx, c, stdout, stderr, log)
	case "degrade-child":
		return runDegradeChild(ctx, c, stdout, stderr, log)
	}
	return runSingle(ctx, c, stdout, stderr, log)
}

// workload builds the workload of the command line.
func (c *config) workload() (*load.Workload, error) {
	mix := []load.Weighted{{Type: c.stepType, Weight: 1}}
	if c.mix != "" {
		var err error
		if mix, err = load.ParseMix(c.mix); err != nil {
			return nil, err
		}
	}
	o := load.WorkloadOptions{Mix: mix, Inputs: c.inputs, PayloadBytes: int(c.payload), PayloadKey: c.payloadKey,
		TimeoutMS: c.timeoutMS}
	if c.retryCount >= 0 {
		rc := c.retryCount
		o.RetryCount = &rc
	}
	return load.NewWorkload(o)
}

// blocksDir returns the plugins directory, building the blocks the types
// need when asked to.
func (c *config) blocksDir(ctx context.Context, types []string, log *slog.Logger) (string, error) {
	dir := c.blocks
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "blockhost-loadgen-blocks")
	}
	// Absolute: a config file resolves relative paths against its own
	// directory.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if !c.build && !c.rebuild {
		return dir, nil
	}
	wd, _ := os.Getwd()
	root, err := load.ModuleRoot(wd)
	if err != nil {
		if c.blocks != "" && !c.rebuild {
			return dir, nil // a prepared directory outside the module
		}
		return "", fmt.Errorf("building blocks: %w (run from the blockhost module, or pass --blocks DIR with --build=false)", err)
	}
	if err := load.BuildBlocks(ctx, root, dir, goCommand(), types, c.rebuild, log); err != nil {
		return "", err
	}
	return dir, nil
}

// goCommand is the go command: $GO, else go on PATH.
func goCommand() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// hostConfig is the in-process host's configuration.
func (c *config) hostConfig(cp2 bool) host.Config {
	pools := host.DefaultPools()
	for i := range pools {
		pools[i].MaxQueueSize = c.queue
		if pools[i].Name == "cpu" {
			pools[i].MaxConcurrency = c.cpu
		}
	}
	return host.Config{Features: load.Features(cp2), Pools: pools, CacheDir: c.cacheDir,
		Limits: host.Limits{InstanceMemoryBudget: c.memBudget}}
}

func (c *config) options(label string) load.Options {
	o := load.Options{Label: label, Rate: c.rate, Duration: c.duration, Drain: c.drain, MaxInFlight: c.maxIn}
	if c.url != "" || c.baselineEcho {
		o.Workers = c.connections()
	}
	if !c.quiet {
		o.Progress = os.Stderr
	}
	return o
}

// runSingle runs the command line's load against its target(s).
func runSingle(ctx context.Context, c *config, stdout, stderr io.Writer, log *slog.Logger) int {
	w, err := c.workload()
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitUsage
	}
	var results []*load.Result
	var echoBest, targetBest *load.Result
	if c.url != "" {
		if err := waitReady(ctx, c.url, 60*time.Second); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
	}
	if c.baselineEcho {
		echo, err := load.StartEcho()
		if err != nil {
			fmt.Fprintln(stderr, "loadgen: echo server:", err)
			return exitFailure
		}
		t := load.NewHTTPTarget(echo.URL, "", c.connections())
		rs, best, err := c.measure(ctx, "bare echo", t, load.SelfProbe(nil), w)
		t.Close()
		echo.Close()
		results = append(results, rs...)
		echoBest = best
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
	}
	switch {
	case c.url != "":
		t := load.NewHTTPTarget(c.url, c.token, c.connections())
		label := c.label
		if label == "" {
			label = "blockhost HTTP " + strings.Join(w.Types(), "+")
		}
		rs, best, err := c.measure(ctx, label, t, load.ServerProbe(c.url, c.token, c.pid), w)
		t.Close()
		results = append(results, rs...)
		targetBest = best
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
	case c.inprocess:
		cp2, _ := load.ParseCP2(c.cp2)
		dir, err := c.blocksDir(ctx, w.Types(), log)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
		h, err := load.NewHost(ctx, c.hostConfig(cp2), dir, w.Types(), log)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
		label := c.label
		if label == "" {
			label = "in-process " + strings.Join(w.Types(), "+") + " " + c.cp2
		}
		rs, best, err := c.measure(ctx, label, &load.HostTarget{H: h}, load.SelfProbe(h), w)
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h.Close(cctx)
		cancel()
		results = append(results, rs...)
		targetBest = best
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
	}
	printSummary(stdout, results)
	if echoBest != nil && targetBest != nil && echoBest.Throughput() > 0 {
		fmt.Fprintf(stdout, "\nblockhost / bare echo throughput: %.0f / %.0f = %.1f %%\n",
			targetBest.Throughput(), echoBest.Throughput(), 100*targetBest.Throughput()/echoBest.Throughput())
	}
	if c.jsonOut != "" {
		if err := writeJSON(c.jsonOut, results); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
	}
	if c.report != "" {
		r := load.NewReport(c.report, "blockhost load report")
		r.Para("Command: `loadgen %s`", strings.Join(os.Args[1:], " "))
		r.Para("Generated %s on %s.", time.Now().UTC().Format(time.RFC3339), machine())
		if echoBest != nil && targetBest != nil && echoBest.Throughput() > 0 {
			r.Para("**blockhost / bare echo throughput: %.0f / %.0f steps/s = %.1f %%** (same client, same run).",
				targetBest.Throughput(), echoBest.Throughput(), 100*targetBest.Throughput()/echoBest.Throughput())
		}
		rows := make([][]string, len(results))
		for i, res := range results {
			rows[i] = load.SummaryRow(res)
		}
		r.Table(load.SummaryHeader, rows)
		for _, res := range results {
			r.Heading(2, res.Label)
			r.RunSection(res)
		}
		if err := r.Write(); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(c.report, "report.md"))
	}
	for _, res := range results {
		if res.OK == 0 {
			return exitFailure
		}
	}
	return exitOK
}

// waitReady polls base/readyz every 100 ms until it answers 200 (or 404:
// not a blockhost, nothing to wait for), for at most within.
func waitReady(ctx context.Context, base string, within time.Duration) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		resp, err := c.Get(strings.TrimRight(base, "/") + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNotFound {
				return nil
			}
			err = fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready within %v: %v", base, within, last)
}

// connections is how many connections an HTTP target may open.
func (c *config) connections() int {
	if c.conns > 0 {
		return c.conns
	}
	n := 0
	for _, k := range c.conc {
		n = max(n, k)
	}
	if n == 0 {
		return 32
	}
	return n
}

// measure runs the load once (open loop, or closed loop at one
// concurrency), or once per concurrency of a list, and returns every run
// and the one with the highest throughput.
func (c *config) measure(ctx context.Context, label string, t load.Target, p load.Probe, w *load.Workload) ([]*load.Result, *load.Result, error) {
	if c.rate > 0 {
		o := c.options(label)
		o.Probe = p
		res, err := load.Run(ctx, t, w, o)
		if res == nil {
			return nil, nil, err
		}
		return []*load.Result{res}, res, err
	}
	var all []*load.Result
	var best *load.Result
	for _, n := range c.conc {
		l := label
		if len(c.conc) > 1 {
			l = fmt.Sprintf("%s ×%d", label, n)
		}
		o := c.options(l)
		o.Rate, o.Concurrency, o.Probe = 0, n, p
		res, err := load.Run(ctx, t, w, o)
		if res != nil {
			all = append(all, res)
			if best == nil || res.Throughput() > best.Throughput() {
				best = res
			}
		}
		if err != nil {
			return all, best, err
		}
	}
	return all, best, nil
}

func printSummary(w io.Writer, results []*load.Result) {
	fmt.Fprintln(w, strings.Join(load.SummaryHeader, "\t"))
	for _, res := range results {
		fmt.Fprintln(w, strings.Join(load.SummaryRow(res), "\t"))
		for _, k := range res.SortedCodes() {
			fmt.Fprintf(w, "\t%s: %d\n", k, res.Codes[k])
		}
	}
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// machine describes the machine the figures were measured on.
func machine() string {
	cpus := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n, model := 0, ""
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "processor") {
				n++
			}
			if v, ok := strings.CutPrefix(line, "model name"); ok && model == "" {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
			}
		}
		cpus = fmt.Sprintf("%d CPUs (%s)", n, model)
	}
	return cpus + ", " + goVersion() + ", load average " + LoadAverage()
}

// LoadAverage returns the 1, 5 and 15 minute load averages of the machine
// (other work running beside the measurement shows there).
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}
