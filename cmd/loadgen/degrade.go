package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/beamline/blockhost/cmd/loadgen/load"
)

// degradeCase is one graceful-degradation scenario (W3-6.3): a pool of
// known capacity offered many times what it serves, in-process, once with
// every CP2 flag off and once with every flag on, each in its own process
// so that RSS is measured per mode.
type degradeCase struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	About string `json:"about"`
	Type  string `json:"type"`
	// Inputs of every step.
	Inputs map[string]string `json:"inputs"`
	// CPU is the cpu pool's max_concurrency; Queue its max_queue_size
	// (CP2).
	CPU   int `json:"cpu"`
	Queue int `json:"queue"`
	// BudgetInstances > 0 sets host.Limits.InstanceMemoryBudget to that
	// many instances of the block at their initial memory.
	BudgetInstances int `json:"budget_instances"`
	// Capacity is the steps per second the pool serves; Factor the
	// multiple of it offered.
	Capacity float64       `json:"capacity"`
	Factor   float64       `json:"factor"`
	Duration time.Duration `json:"duration_ns"`
	// RetryCount of every step (nil: the default, 3).
	RetryCount *int `json:"retry_count"`
}

func intp(n int) *int { return &n }

func degradeCases(short bool) []degradeCase {
	d := func(full time.Duration) time.Duration {
		if short {
			return max(full/3, 5*time.Second)
		}
		return full
	}
	return []degradeCase{
		{
			Name: "overload", Title: "Queue overflow: 10× capacity",
			About: "test.sleep ms=10 in a cpu pool of 4 slots (capacity 4 / 10 ms = 400 steps/s), offered 4000 steps/s open loop.",
			Type:  "test.sleep", Inputs: map[string]string{"ms": "10"}, CPU: 4, Queue: 1000,
			Capacity: 400, Factor: 10, Duration: d(30 * time.Second),
		},
		{
			Name: "slow-consumer", Title: "Slow consumer: 250 ms steps at 10× capacity",
			About: "test.sleep ms=250 in a cpu pool of 4 slots (capacity 16 steps/s), offered 160 steps/s: the consumer of the queue is slow, the producer keeps going.",
			Type:  "test.sleep", Inputs: map[string]string{"ms": "250"}, CPU: 4, Queue: 100,
			Capacity: 16, Factor: 10, Duration: d(20 * time.Second),
		},
		{
			Name: "instances-busy", Title: "Resource exhaustion: every instance busy (memory budget)",
			About: "test.sleep ms=50 in a cpu pool of 8 slots, but host.Limits.InstanceMemoryBudget is 2 × the block's initial linear memory " +
				"(at most 2 instances, so at most 2 / 50 ms = 40 steps/s; fewer once an instance has grown), offered 400 steps/s, retry_count 0: a step that would need a third instance fails at once with SYSTEM_OVERLOAD.",
			Type: "test.sleep", Inputs: map[string]string{"ms": "50"}, CPU: 8, Queue: 100, BudgetInstances: 2,
			Capacity: 40, Factor: 10, Duration: d(15 * time.Second), RetryCount: intp(0),
		},
		{
			Name: "memory-hungry", Title: "Resource exhaustion: memory-hungry blocks (memory budget)",
			About: "test.membomb (each step allocates and touches 16 MiB of linear memory in 4 MiB chunks) in a cpu pool of 8 slots " +
				"under an InstanceMemoryBudget of 4 instances' initial memory + 48 MiB, offered 200 steps/s, retry_count 0: " +
				"a guest that would grow past the budget fails with QUOTA_EXCEEDED.",
			Type: "test.membomb", Inputs: map[string]string{"mb": "4", "max_mb": "16"}, CPU: 8, Queue: 100, BudgetInstances: -4,
			Capacity: 20, Factor: 10, Duration: d(15 * time.Second), RetryCount: intp(0),
		},
	}
}

// childResult is what a degrade child hands back.
type childResult struct {
	Case       degradeCase  `json:"case"`
	CP2        bool         `json:"cp2"`
	Budget     int64        `json:"budget_bytes"`
	BaseRSS    int64        `json:"base_rss_bytes"`
	Result     *load.Result `json:"result"`
	PeakQueue  int          `json:"peak_queue"`
	ExitStatus string       `json:"exit_status"`
}

// check is one expectation of a degrade run.
type check struct {
	Name, Want, Got string
	Pass            bool
}

func runDegradeChild(ctx context.Context, c *config, stdout, stderr io.Writer, log *slog.Logger) int {
	var dc *degradeCase
	for _, k := range degradeCases(c.short) {
		if k.Name == c.caseName {
			dc = &k
		}
	}
	if dc == nil || c.jsonOut == "" || c.blocks == "" {
		fmt.Fprintln(stderr, "loadgen: degrade-child needs --case NAME, --blocks DIR and --json FILE")
		return exitUsage
	}
	cp2, _ := load.ParseCP2(c.cp2)
	blockName := strings.TrimPrefix(dc.Type, "test.")
	cfg := c.hostConfig(cp2)
	for i := range cfg.Pools {
		cfg.Pools[i].MaxQueueSize = dc.Queue
		if cfg.Pools[i].Name == "cpu" {
			cfg.Pools[i].MaxConcurrency = dc.CPU
		}
	}
	var budget int64
	if dc.BudgetInstances != 0 {
		pages, err := wasmMinPages(filepath.Join(c.blocks, blockName+".wasm"))
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
		n := int64(dc.BudgetInstances)
		if n < 0 { // memory-hungry: instances plus 48 MiB to grow into
			budget = -n*int64(pages)*65536 + 48<<20
		} else {
			budget = n * int64(pages) * 65536
		}
		cfg.Limits.InstanceMemoryBudget = budget
	}
	// Only the block under test.
	dir, err := os.MkdirTemp("", "loadgen-degrade-")
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFailure
	}
	defer os.RemoveAll(dir)
	for _, ext := range []string{".wasm", ".yaml"} {
		b, err := os.ReadFile(filepath.Join(c.blocks, blockName+ext))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, blockName+ext), b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
	}
	h, err := load.NewHost(ctx, cfg, dir, []string{dc.Type}, log)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFailure
	}
	t := &load.HostTarget{H: h}
	w, err := load.NewWorkload(load.WorkloadOptions{Mix: []load.Weighted{{Type: dc.Type, Weight: 1}},
		Inputs: dc.Inputs, RetryCount: dc.RetryCount})
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFailure
	}
	// Warm up: one step per slot, so the first second measures the steady
	// state rather than compilation and instantiation.
	for range min(dc.CPU, max(dc.BudgetInstances, 1)) {
		_, r := w.Next(0)
		t.Do(ctx, r)
	}
	base := load.ReadRSS(0)
	label := fmt.Sprintf("%s %s", dc.Name, map[bool]string{true: "CP2", false: "CP1"}[cp2])
	o := load.Options{Label: label, Rate: dc.Capacity * dc.Factor, Duration: dc.Duration, Drain: 10 * time.Second,
		MaxInFlight: c.queueCap * 2, Probe: load.SelfProbe(h)}
	if !c.quiet {
		o.Progress = stderr
	}
	o.Stop = func(s load.Second) string {
		if s.RSS > c.memCap {
			return fmt.Sprintf("RSS %s exceeded the cap of %s", load.FormatBytes(s.RSS), load.FormatBytes(c.memCap))
		}
		if s.QueueDepth > c.queueCap {
			return fmt.Sprintf("queue depth %d exceeded the cap of %d", s.QueueDepth, c.queueCap)
		}
		return ""
	}
	res, err := load.Run(ctx, t, w, o)
	if res == nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFailure
	}
	out := childResult{Case: *dc, CP2: cp2, Budget: budget, BaseRSS: base, Result: res,
		PeakQueue: res.PeakGauge(func(s load.Second) int { return s.QueueDepth })}
	if err := writeJSON(c.jsonOut, out); err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFailure
	}
	if res.Abandoned > 0 {
		// The CP1 backlog cannot be drained in any useful time (and its
		// steps ignore cancellation): leave without closing the host.
		return exitOK
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	h.Close(cctx)
	cancel()
	return exitOK
}

// wasmMinPages reads the initial page count of a module's memory (defined
// or imported).
func wasmMinPages(path string) (uint32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return 0, fmt.Errorf("%s: not a wasm module", path)
	}
	p := 8
	uleb := func() (uint64, error) {
		var v uint64
		for shift := 0; p < len(b) && shift < 64; shift += 7 {
			c := b[p]
			p++
			v |= uint64(c&0x7f) << shift
			if c&0x80 == 0 {
				return v, nil
			}
		}
		return 0, fmt.Errorf("%s: bad LEB128", path)
	}
	limits := func() (uint32, error) {
		if p >= len(b) {
			return 0, errors.New("truncated limits")
		}
		flag := b[p]
		p++
		min, err := uleb()
		if err != nil {
			return 0, err
		}
		if flag&1 == 1 {
			if _, err := uleb(); err != nil {
				return 0, err
			}
		}
		return uint32(min), nil
	}
	for p < len(b) {
		id := b[p]
		p++
		size, err := uleb()
		if err != nil {
			return 0, err
		}
		end := p + int(size)
		switch id {
		case 5: // memory section
			if _, err := uleb(); err != nil {
				return 0, err
			}
			return limits()
		case 2: // imports: a memory import has kind 2
			n, err := uleb()
			if err != nil {
				return 0, err
			}
			for range n {
				for range 2 { // module, name
					l, err := uleb()
					if err != nil {
						return 0, err
					}
					p += int(l)
				}
				if p >= len(b) {
					return 0, errors.New("truncated import")
				}
				kind := b[p]
				p++
				switch kind {
				case 0: // func: type index
					if _, err := uleb(); err != nil {
						return 0, err
					}
				case 1: // table: reftype, limits
					p++
					if _, err := limits(); err != nil {
						return 0, err
					}
				case 2:
					return limits()
				case 3: // global: valtype, mut
					p += 2
				}
			}
		}
		p = end
	}
	return 0, fmt.Errorf("%s: no memory", path)
}

// runDegrade runs every case with CP1 and CP2, each in a child process,
// checks the expectations and writes the report.
func runDegrade(ctx context.Context, c *config, stdout, stderr io.Writer, log *slog.Logger) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFailure
	}
	cases := degradeCases(c.short)
	types := make([]string, len(cases))
	for i, k := range cases {
		types[i] = k.Type
	}
	dir, err := c.blocksDir(ctx, types, log)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFailure
	}
	tmp, err := os.MkdirTemp("", "loadgen-degrade-")
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFailure
	}
	defer os.RemoveAll(tmp)

	type pair struct {
		k        degradeCase
		cp1, cp2 *childResult
		checks   map[bool][]check
		errs     []string
	}
	var pairs []*pair
	failed := false
	for _, k := range cases {
		if c.caseName != "" && c.caseName != k.Name {
			continue
		}
		p := &pair{k: k, checks: map[bool][]check{}}
		for _, cp2 := range []bool{false, true} {
			mode := map[bool]string{true: "all", false: "none"}[cp2]
			out := filepath.Join(tmp, k.Name+"-"+mode+".json")
			args := []string{"--scenario", "degrade-child", "--case", k.Name, "--cp2", mode, "--blocks", dir,
				"--build=false", "--json", out, "--cache-dir", c.cacheDir,
				"--mem-cap", strconv.FormatInt(c.memCap, 10), "--queue-cap", strconv.Itoa(c.queueCap)}
			if c.short {
				args = append(args, "--short")
			}
			if c.quiet {
				args = append(args, "--quiet")
			}
			log.Info("degrade run", "case", k.Name, "cp2", mode)
			cmd := exec.CommandContext(ctx, exe, args...)
			cmd.Stdout, cmd.Stderr = stderr, stderr
			start := time.Now()
			runErr := cmd.Run()
			var cr childResult
			b, rerr := os.ReadFile(out)
			if rerr == nil {
				rerr = json.Unmarshal(b, &cr)
			}
			if runErr != nil || rerr != nil {
				p.errs = append(p.errs, fmt.Sprintf("%s run failed after %v: %v %v", load.ModeName(cp2), time.Since(start).Round(time.Millisecond), runErr, rerr))
				failed = true
				continue
			}
			cr.ExitStatus = "exited normally"
			cr.Result.Label = fmt.Sprintf("%s %s", k.Name, map[bool]string{true: "CP2", false: "CP1"}[cp2])
			if cp2 {
				p.cp2 = &cr
			} else {
				p.cp1 = &cr
			}
		}
		if p.cp1 != nil {
			p.checks[false] = degradeChecks(k, p.cp1)
		}
		if p.cp2 != nil {
			p.checks[true] = degradeChecks(k, p.cp2)
		}
		for _, cs := range p.checks {
			for _, ch := range cs {
				if !ch.Pass {
					failed = true
				}
			}
		}
		pairs = append(pairs, p)
	}

	// Report.
	reportDir := c.report
	if reportDir == "" {
		reportDir = filepath.Join(tmp, "report")
	}
	r := load.NewReport(reportDir, "blockhost graceful degradation report (W3-6.3)")
	r.Para("Generated by `make degrade` (`loadgen --scenario degrade`) on %s, %s. Each case runs the Go API in-process "+
		"(`host.Execute`), open loop at a multiple of the pool's known capacity, once with every CP2 flag off (CP1 baseline: "+
		"unbounded queue, fixed retry) and once with every flag on (CP2: bounded queue with reject_new, budgets, jittered retry), "+
		"**each in its own child process** so that RSS (`/proc/self/status` VmRSS, sampled every second) is per mode. "+
		"A run stops early when RSS exceeds %s or the queue depth exceeds %d (the CP1 backlog cannot drain in useful time; "+
		"its child exits without draining). Latency counts from each step's intended send time.",
		machine(), time.Now().UTC().Format("2006-01-02 15:04 MST"), load.FormatBytes(c.memCap), c.queueCap)
	r.Heading(2, "Summary")
	var rows [][]string
	for _, p := range pairs {
		for _, cr := range []*childResult{p.cp1, p.cp2} {
			if cr == nil {
				continue
			}
			res := cr.Result
			verdict := "pass"
			for _, ch := range p.checks[cr.CP2] {
				if !ch.Pass {
					verdict = "**FAIL**"
				}
			}
			rows = append(rows, []string{p.k.Name, load.ModeName(cr.CP2),
				fmt.Sprintf("%.0f / %.0f", res.Offered(), p.k.Capacity),
				fmt.Sprintf("%.0f", res.Throughput()),
				fmt.Sprintf("%.0f", res.RejectionsPerSecond()),
				load.FormatDuration(res.Rejection.Quantile(0.99)),
				fmt.Sprint(cr.PeakQueue),
				load.FormatDuration(res.Latency.Quantile(0.99)),
				fmt.Sprintf("%s → %s (max %s)", load.FormatBytes(res.StartRSS()), load.FormatBytes(res.EndRSS()), load.FormatBytes(res.PeakRSS())),
				stopped(res), verdict})
		}
	}
	r.Table([]string{"case", "mode", "offered / capacity (steps/s)", "ok/s", "rejections/s", "rejection p99",
		"peak queue depth", "accepted p99 (ok)", "RSS start → end (max)", "stopped by", "expectations"}, rows)
	for _, p := range pairs {
		r.Heading(2, p.k.Title)
		r.Para("%s", p.k.About)
		if p.k.Queue > 0 {
			r.Para("CP2 bounds the queue at %d (reject_new): an accepted step waits at most about %d / %.0f = %s in the queue.",
				p.k.Queue, p.k.Queue, p.k.Capacity, load.FormatDuration(time.Duration(float64(p.k.Queue)/p.k.Capacity*float64(time.Second))))
		}
		for _, e := range p.errs {
			r.Para("**%s**", e)
		}
		var runs []*load.Result
		for _, cr := range []*childResult{p.cp1, p.cp2} {
			if cr == nil {
				continue
			}
			runs = append(runs, cr.Result)
			var crow [][]string
			for _, ch := range p.checks[cr.CP2] {
				crow = append(crow, []string{ch.Name, ch.Want, ch.Got, map[bool]string{true: "pass", false: "**FAIL**"}[ch.Pass]})
			}
			r.Heading(3, load.ModeName(cr.CP2))
			if cr.Budget > 0 {
				r.Para("InstanceMemoryBudget: %s.", load.FormatBytes(cr.Budget))
			}
			r.Table([]string{"expectation", "want", "measured", "result"}, crow)
		}
		if svg, ok := load.RSSOverTime(p.k.Name+": RSS over time, CP1 vs CP2 (separate processes)", runs...); ok {
			r.Figure(p.k.Name+"-rss", p.k.Name+" RSS", svg)
		}
		if svg, ok := load.GaugeOverTime(p.k.Name+": queue depth over time", "waiting steps", func(s load.Second) int { return s.QueueDepth }, runs...); ok {
			r.Figure(p.k.Name+"-queue", p.k.Name+" queue depth", svg)
		}
		if svg, ok := load.GaugeOverTime(p.k.Name+": goroutines over time", "goroutines", func(s load.Second) int { return s.Goroutines }, runs...); ok {
			r.Figure(p.k.Name+"-goroutines", p.k.Name+" goroutines", svg)
		}
		for _, res := range runs {
			r.Heading(3, res.Label+" details")
			r.RunSection(res)
		}
	}
	if err := r.Write(); err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return exitFailure
	}
	var all []*childResult
	for _, p := range pairs {
		for _, cr := range []*childResult{p.cp1, p.cp2} {
			if cr != nil {
				all = append(all, cr)
			}
		}
	}
	if c.jsonOut != "" {
		if err := writeJSON(c.jsonOut, all); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return exitFailure
		}
	}
	if c.report != "" {
		writeJSON(filepath.Join(reportDir, "results.json"), all)
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(reportDir, "report.md"))
	}
	for _, p := range pairs {
		for _, cp2 := range []bool{false, true} {
			for _, ch := range p.checks[cp2] {
				fmt.Fprintf(stdout, "%-15s %-4s %-48s %-30s %-52s %s\n", p.k.Name, map[bool]string{true: "CP2", false: "CP1"}[cp2],
					ch.Name, ch.Want, ch.Got, map[bool]string{true: "pass", false: "FAIL"}[ch.Pass])
			}
		}
		for _, e := range p.errs {
			fmt.Fprintf(stdout, "%-15s %s\n", p.k.Name, e)
		}
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

func stopped(res *load.Result) string {
	if res.StoppedBy == "" {
		return "—"
	}
	return res.StoppedBy
}

// degradeChecks states and checks what a run must show.
func degradeChecks(k degradeCase, cr *childResult) []check {
	res := cr.Result
	growth := res.PeakRSS() - res.StartRSS()
	var cs []check
	switch {
	case k.BudgetInstances != 0:
		// Resource exhaustion: the budget holds in both modes; the
		// overflow is answered at once instead of waiting.
		limit := cr.BaseRSS + cr.Budget + 256<<20
		cs = append(cs,
			check{"RSS bounded by the budget", fmt.Sprintf("peak ≤ base + budget + 256 MiB = %s", load.FormatBytes(limit)),
				fmt.Sprintf("peak %s (base %s)", load.FormatBytes(res.PeakRSS()), load.FormatBytes(cr.BaseRSS)), res.PeakRSS() <= limit},
			check{"some steps still served", "ok > 0", fmt.Sprintf("%d ok (%.0f/s)", res.OK, res.Throughput()), res.OK > 0},
		)
		overflow := res.StepErrors + res.Rejected
		fast := max(res.Errors.Quantile(0.99), res.Rejection.Quantile(0.99))
		cs = append(cs,
			check{"backpressure visible: overflow refused", "step errors or rejections > 0",
				fmt.Sprintf("%d step errors %v, %d rejected", res.StepErrors, codesOf(res), res.Rejected), overflow > 0},
		)
		switch {
		case k.BudgetInstances > 0:
			// No instance to run on: refused before the guest starts.
			cs = append(cs, check{"refusals are fast", "step-error and rejection p99 ≤ 50 ms", fmt.Sprintf("error p99 %s, rejection p99 %s",
				load.FormatDuration(res.Errors.Quantile(0.99)), load.FormatDuration(res.Rejection.Quantile(0.99))), fast <= 50*time.Millisecond})
		default:
			// A guest that grows past the budget fails when it grows, after
			// part of its work: bounded, not instant.
			cs = append(cs, check{"refusals bounded", "step-error and rejection p99 ≤ 250 ms (a QUOTA_EXCEEDED comes after the guest has grown)",
				fmt.Sprintf("refusal p99 %s (served p99 %s)", load.FormatDuration(fast), load.FormatDuration(res.Latency.Quantile(0.99))),
				fast <= 250*time.Millisecond})
		}
		cs = append(cs, check{"peak queue depth", "(figure)", fmt.Sprint(cr.PeakQueue), true})
		cs = append(cs, check{"no crash, nothing lost", "process exits normally; every send answered",
			fmt.Sprintf("%s; %d failed, %d abandoned, %d unsent", cr.ExitStatus, res.Failed, res.Abandoned, res.Unsent),
			res.Failed == 0 && res.Abandoned == 0})
	case cr.CP2:
		bound := time.Duration(float64(k.Queue)/k.Capacity*float64(time.Second))*3/2 + 500*time.Millisecond
		cs = append(cs,
			check{"queue bounded", fmt.Sprintf("peak depth ≤ %d", k.Queue), fmt.Sprint(cr.PeakQueue), cr.PeakQueue <= k.Queue},
			check{"fast rejections", "rejections > 0, p99 ≤ 10 ms", fmt.Sprintf("%.0f/s, p99 %s", res.RejectionsPerSecond(),
				load.FormatDuration(res.Rejection.Quantile(0.99))), res.Rejected > 0 && res.Rejection.Quantile(0.99) <= 10*time.Millisecond},
			check{"RSS flat", "peak − start ≤ 64 MiB", fmt.Sprintf("%s → max %s (+%s)", load.FormatBytes(res.StartRSS()),
				load.FormatBytes(res.PeakRSS()), load.FormatBytes(growth)), growth <= 64<<20},
			check{"accepted-step latency bounded", "p99 ≤ 1.5 × queue/capacity + 0.5 s = " + load.FormatDuration(bound),
				load.FormatDuration(res.Latency.Quantile(0.99)), res.OK > 0 && res.Latency.Quantile(0.99) <= bound},
			check{"serves at capacity", fmt.Sprintf("ok/s ≥ 80 %% of %.0f", k.Capacity), fmt.Sprintf("%.0f", res.Throughput()),
				res.Throughput() >= 0.8*k.Capacity},
			check{"nothing lost", "every send answered (ok, error or rejected)", fmt.Sprintf("%d failed, %d abandoned, %d unsent",
				res.Failed, res.Abandoned, res.Unsent), res.Failed == 0 && res.Abandoned == 0 && res.Unsent == 0},
		)
	default:
		// The CP1 baseline shows the failure CP2 fixes: nothing is
		// refused, the queue and its memory grow with the backlog, which
		// an unbounded queue predicts as (offered − capacity) × time.
		sending := min(res.Duration, time.Duration(len(res.Seconds))*time.Second)
		backlog := int((res.Offered() - k.Capacity) * sending.Seconds())
		if res.StoppedBy != "" {
			backlog = 0 // stopped at the cap: the cap was the bound
		}
		cs = append(cs,
			check{"CP1 baseline: nothing refused", "rejections = 0", fmt.Sprint(res.Rejected), res.Rejected == 0},
			check{"CP1 baseline: queue grows without bound",
				fmt.Sprintf("peak depth > CP2's bound (%d) and ≥ 80 %% of (offered − capacity) × time (%d)", k.Queue, backlog),
				fmt.Sprintf("%d%s", cr.PeakQueue, map[bool]string{true: " (run stopped at the cap)", false: ""}[res.StoppedBy != ""]),
				cr.PeakQueue > k.Queue && float64(cr.PeakQueue) >= 0.8*float64(backlog)},
			check{"CP1 baseline: RSS grows", "(figure)", fmt.Sprintf("%s → max %s (+%s)", load.FormatBytes(res.StartRSS()),
				load.FormatBytes(res.PeakRSS()), load.FormatBytes(growth)), true},
			check{"CP1 baseline: accepted-step latency grows with the queue", "(figure)",
				fmt.Sprintf("p99 %s, max %s; %d still queued when the run ended", load.FormatDuration(res.Latency.Quantile(0.99)),
					load.FormatDuration(res.Latency.Max()), res.Abandoned), true},
		)
	}
	return cs
}

func codesOf(res *load.Result) string {
	var parts []string
	for _, k := range res.SortedCodes() {
		parts = append(parts, fmt.Sprintf("%s=%d", strings.TrimPrefix(k, "step_error:"), res.Codes[k]))
	}
	if len(parts) > 3 {
		parts = parts[:3]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
