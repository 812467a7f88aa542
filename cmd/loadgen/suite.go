package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/beamline/blockhost/cmd/loadgen/load"
)

func goVersion() string { return runtime.Version() }

// openConns is the connections (and workers) of the suite's open-loop
// HTTP runs.
const openConns = 32

// target is one acceptance figure of a suite.
type target struct {
	name, want, got string
	pass            bool
	// floor marks the backlog's acceptance criteria (W3-6.1); the others
	// are benchmark targets, reported but not failing the suite.
	floor bool
}

func targetRows(ts []target) [][]string {
	rows := make([][]string, len(ts))
	for i, t := range ts {
		v := "**FAIL**"
		if t.pass {
			v = "pass"
		}
		kind := "benchmark target"
		if t.floor {
			kind = "W3-6.1 floor"
		}
		rows[i] = []string{t.name, kind, t.want, t.got, v}
	}
	return rows
}

// suite is the state of --scenario suite.
type suite struct {
	c       *config
	log     *slog.Logger
	stderr  io.Writer
	runs    []*load.Result
	section map[*load.Result]string
	order   []string
	notes   map[string]string
	loadAt  string // the load average when the suite started
}

func (s *suite) add(section string, rs ...*load.Result) {
	if _, ok := s.notes[section]; !ok {
		s.order = append(s.order, section)
		s.notes[section] = ""
	}
	for _, r := range rs {
		s.runs = append(s.runs, r)
		s.section[r] = section
	}
}

// run measures one workload against t; conc > 0 runs closed loop.
func (s *suite) run(ctx context.Context, label string, t load.Target, p load.Probe, wo load.WorkloadOptions,
	rate float64, conc int, d time.Duration) (*load.Result, error) {
	w, err := load.NewWorkload(wo)
	if err != nil {
		return nil, err
	}
	o := load.Options{Label: label, Rate: rate, Concurrency: conc, Duration: d, Drain: 60 * time.Second, Probe: p, MaxInFlight: 10000}
	if ht, ok := t.(*load.HTTPTarget); ok {
		o.Workers = ht.Connections()
	}
	if !s.c.quiet {
		o.Progress = s.stderr
	}
	s.log.Info("run", "label", label, "rate", rate, "concurrency", conc, "duration", d)
	res, err := load.Run(ctx, t, w, o)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(s.stderr, "%s: %s\n", label, strings.Join(load.SummaryRow(res), " | "))
	return res, nil
}

// best runs closed loop at each concurrency and returns the runs and the
// fastest.
func (s *suite) best(ctx context.Context, label string, t load.Target, p load.Probe, wo load.WorkloadOptions,
	concs []int, d time.Duration) ([]*load.Result, *load.Result, error) {
	var all []*load.Result
	var best *load.Result
	for _, n := range concs {
		res, err := s.run(ctx, fmt.Sprintf("%s ×%d", label, n), t, p, wo, 0, n, d)
		if err != nil {
			return all, best, err
		}
		all = append(all, res)
		if best == nil || res.Throughput() > best.Throughput() {
			best = res
		}
	}
	return all, best, nil
}

func runSuite(ctx context.Context, c *config, stdout, stderr io.Writer, log *slog.Logger) int {
	if c.report == "" {
		fmt.Fprintln(stderr, "loadgen: --scenario suite needs --report DIR")
		return exitUsage
	}
	s := &suite{c: c, log: log, stderr: stderr, section: map[*load.Result]string{}, notes: map[string]string{}, loadAt: LoadAverage()}
	targets, err := s.do(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen: suite:", err)
	}
	if werr := s.write(targets, err); werr != nil {
		fmt.Fprintln(stderr, "loadgen:", werr)
		return exitFailure
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(c.report, "report.md"))
	for _, t := range targets {
		fmt.Fprintf(stdout, "%-58s %-14s %-44s %v\n", t.name, t.want, t.got, map[bool]string{true: "pass", false: "FAIL"}[t.pass])
	}
	if err != nil {
		return exitFailure
	}
	for _, t := range targets {
		if t.floor && !t.pass {
			return exitFailure
		}
	}
	return exitOK
}

func (s *suite) do(ctx context.Context) ([]target, error) {
	c := s.c
	scale := func(d time.Duration) time.Duration {
		if c.short {
			return max(d/5, 2*time.Second)
		}
		return d
	}
	closedD, openD := scale(8*time.Second), scale(20*time.Second)
	concs := []int{16, 32, 64}
	if c.short {
		concs = []int{32}
	}

	types := []string{"noop", "text.uppercase", "test.sleep", "test.echo"}
	dir, err := c.blocksDir(ctx, types, s.log)
	if err != nil {
		return nil, err
	}
	bin := c.serverBin
	if bin == "" {
		wd, _ := os.Getwd()
		root, err := load.ModuleRoot(wd)
		if err != nil {
			return nil, fmt.Errorf("building blockhost: %w (or pass --server-bin)", err)
		}
		tmp, err := os.MkdirTemp("", "loadgen-bin-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		bin = filepath.Join(tmp, "blockhost")
		if err := load.BuildServer(ctx, root, bin, goCommand()); err != nil {
			return nil, err
		}
	}
	workDir, err := os.MkdirTemp("", "loadgen-suite-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(workDir)

	var targets []target
	small := load.WorkloadOptions{Mix: []load.Weighted{{Type: "noop", Weight: 1}}}

	// 1. The bare echo server and the HTTP API under the same closed loop.
	echo, err := load.StartEcho()
	if err != nil {
		return nil, err
	}
	echoT := load.NewHTTPTarget(echo.URL, "", 256)
	echoRuns, echoBest, err := s.best(ctx, "bare echo", echoT, load.SelfProbe(nil), small, concs, closedD)
	echoT.Close()
	echo.Close()
	s.add("Bare net/http echo server (the ceiling)", echoRuns...)
	if err != nil {
		return targets, err
	}

	srv, err := load.StartServer(ctx, load.ServerOptions{Bin: bin, Dir: workDir,
		Config: load.ServerConfig(dir, c.cacheDir, true, "")})
	if err != nil {
		return targets, err
	}
	defer srv.Stop(10 * time.Second)
	s.log.Info("blockhost serving", "url", srv.URL, "pid", srv.PID, "log", srv.LogPath)
	probe := load.ServerProbe(srv.URL, "", srv.PID)
	ht := load.NewHTTPTarget(srv.URL, "", 4096)
	defer ht.Close()

	// Warm the instances and connections.
	if _, err := s.run(ctx, "warm-up", ht, nil, small, 0, 8, time.Second); err != nil {
		return targets, err
	}
	hRuns, hBest, err := s.best(ctx, "HTTP noop", ht, probe, small, concs, closedD)
	s.add("HTTP API maximum: noop, closed loop (CP2 on)", hRuns...)
	if err != nil {
		return targets, err
	}
	ratio := hBest.Throughput() / max(echoBest.Throughput(), 1)
	targets = append(targets, target{"HTTP API noop throughput vs bare echo (same tool, same run)", "≥ 60 %",
		fmt.Sprintf("%.0f / %.0f steps/s = %.1f %%", hBest.Throughput(), echoBest.Throughput(), 100*ratio), ratio >= 0.6, false})

	// 2. Latency at half the maximum rate, open loop. Open-loop runs use
	// 32 connections, one worker each (as wrk2 -c32): on a small machine
	// thousands of connections cost the shared CPUs more than the steps.
	ht.Close()
	ht = load.NewHTTPTarget(srv.URL, "", openConns)
	half := hBest.Throughput() / 2
	res, err := s.run(ctx, fmt.Sprintf("HTTP noop at half max (%.0f/s)", half), ht, probe, small, half, 0, openD)
	if err != nil {
		return targets, err
	}
	s.add("HTTP API latency at half the maximum rate (open loop)", res)
	p99 := res.Latency.Quantile(0.99)
	targets = append(targets, target{fmt.Sprintf("p99 at half the max rate (%.0f/s)", half), "≤ 10 ms",
		fmt.Sprintf("p99 %s (p50 %s, max %s), %d failed", load.FormatDuration(p99), load.FormatDuration(res.Latency.Quantile(0.5)),
			load.FormatDuration(res.Latency.Max()), res.Failed+res.StepErrors+res.Rejected+res.Unsent),
		p99 <= 10*time.Millisecond && res.OK > 0, false})

	// 3. Small payloads at the backlog's rates.
	upper := load.WorkloadOptions{Mix: []load.Weighted{{Type: "text.uppercase", Weight: 1}}}
	for _, rate := range []float64{200, 500} {
		res, err := s.run(ctx, fmt.Sprintf("HTTP text.uppercase %.0f/s", rate), ht, probe, upper, rate, 0, openD)
		if err != nil {
			return targets, err
		}
		s.add("Small payloads over HTTP (open loop)", res)
		bad := res.Failed + res.StepErrors + res.Rejected + res.Unsent
		targets = append(targets,
			target{fmt.Sprintf("throughput at %.0f/s offered (small)", rate), "≥ 200 tasks/s, none lost",
				fmt.Sprintf("%.0f steps/s, %d not ok", res.Throughput(), bad), res.Throughput() >= 200 && bad == 0, true},
			target{fmt.Sprintf("p95 at %.0f/s (small)", rate), "< 1 s",
				fmt.Sprintf("p95 %s (p99 %s)", load.FormatDuration(res.Latency.Quantile(0.95)), load.FormatDuration(res.Latency.Quantile(0.99))),
				res.OK > 0 && res.Latency.Quantile(0.95) < time.Second, true})
	}

	// 4. Large payloads: one way (noop ignores its input) and round trip
	// (test.echo copies it to an output by handle, host-side).
	large := []struct {
		label string
		typ   string
		bytes int
		rate  float64
		d     time.Duration
	}{
		{"HTTP 10 MB round trip (test.echo)", "test.echo", 10_000_000, 2, openD},
		{"HTTP 100 MB one way (noop)", "noop", 100_000_000, 0.5, scale(30 * time.Second)},
		{"HTTP 100 MB round trip (test.echo)", "test.echo", 100_000_000, 0.5, scale(30 * time.Second)},
	}
	for _, l := range large {
		wo := load.WorkloadOptions{Mix: []load.Weighted{{Type: l.typ, Weight: 1}}, PayloadBytes: l.bytes}
		res, err := s.run(ctx, l.label, ht, probe, wo, l.rate, 0, l.d)
		if err != nil {
			return targets, err
		}
		s.add("Large payloads over HTTP (multipart, open loop)", res)
		if l.bytes == 100_000_000 {
			p95 := res.Latency.Quantile(0.95)
			bad := res.Failed + res.StepErrors + res.Rejected + res.Unsent
			got := fmt.Sprintf("p95 %s over %d steps, %d not ok", load.FormatDuration(p95), res.OK, bad)
			targets = append(targets,
				target{"p95 at 100 MB: " + l.label, "< 5 s", got, res.OK > 0 && bad == 0 && p95 < 5*time.Second, true},
				target{"100 MB step p95: " + l.label, "≤ 1 s", got, res.OK > 0 && bad == 0 && p95 <= time.Second, false})
		}
	}

	// 5. Mixed workload.
	mixed := load.WorkloadOptions{Mix: []load.Weighted{{Type: "noop", Weight: 8}, {Type: "test.sleep", Weight: 2}}}
	res, err = s.run(ctx, "HTTP mix noop:8,test.sleep:2 at 300/s", ht, probe, mixed, 300, 0, openD)
	if err != nil {
		return targets, err
	}
	s.add("Mixed workload over HTTP (open loop)", res)
	bad := res.Failed + res.StepErrors + res.Rejected + res.Unsent
	targets = append(targets, target{"mixed noop:8,test.sleep(10 ms):2 at 300/s", "p95 < 1 s, none lost",
		fmt.Sprintf("%.0f steps/s, p95 %s, %d not ok", res.Throughput(), load.FormatDuration(res.Latency.Quantile(0.95)), bad),
		bad == 0 && res.OK > 0 && res.Latency.Quantile(0.95) < time.Second, true})
	ht.Close()
	if err := srv.Stop(10 * time.Second); err != nil {
		s.log.Warn("stopping blockhost", "error", err)
	}

	// 6. The same maximum with every CP2 flag off.
	srv1, err := load.StartServer(ctx, load.ServerOptions{Bin: bin, Dir: workDir,
		Config: load.ServerConfig(dir, c.cacheDir, false, "")})
	if err != nil {
		return targets, err
	}
	ht1 := load.NewHTTPTarget(srv1.URL, "", 4096)
	if _, err := s.run(ctx, "warm-up CP1", ht1, nil, small, 0, 8, time.Second); err != nil {
		return targets, err
	}
	res, err = s.run(ctx, fmt.Sprintf("HTTP noop CP1 ×%d", hBest.Concurrency), ht1, load.ServerProbe(srv1.URL, "", srv1.PID),
		small, 0, hBest.Concurrency, closedD)
	ht1.Close()
	srv1.Stop(10 * time.Second)
	if err != nil {
		return targets, err
	}
	s.add("HTTP API maximum with every CP2 flag off (CP1)", res)

	// 7. The Go API in-process.
	for _, cp2 := range []bool{true, false} {
		h, err := load.NewHost(ctx, c.hostConfig(cp2), dir, []string{"noop", "text.uppercase", "test.echo"}, s.log)
		if err != nil {
			return targets, err
		}
		t := &load.HostTarget{H: h}
		name := map[bool]string{true: "CP2", false: "CP1"}[cp2]
		section := "Go API in-process (" + name + ")"
		if _, err := s.run(ctx, "warm-up in-process", t, nil, small, 0, 8, time.Second); err != nil {
			return targets, err
		}
		p := load.SelfProbe(h)
		_, best, err := s.best(ctx, "in-process noop "+name, t, p, small, []int{32}, closedD)
		if err != nil {
			return targets, err
		}
		s.add(section, best)
		if cp2 {
			res, err := s.run(ctx, "in-process text.uppercase 500/s "+name, t, p, upper, 500, 0, openD)
			if err != nil {
				return targets, err
			}
			s.add(section, res)
			wo := load.WorkloadOptions{Mix: []load.Weighted{{Type: "test.echo", Weight: 1}}, PayloadBytes: 100_000_000}
			res, err = s.run(ctx, "in-process 100 MB round trip (test.echo) "+name, t, p, wo, 1, 0, openD)
			if err != nil {
				return targets, err
			}
			s.add(section, res)
			p95 := res.Latency.Quantile(0.95)
			targets = append(targets, target{"100 MB step p95: in-process test.echo (Go API)", "≤ 1 s",
				fmt.Sprintf("p95 %s over %d steps", load.FormatDuration(p95), res.OK), res.OK > 0 && p95 <= time.Second, false})
		}
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h.Close(cctx)
		cancel()
	}
	return targets, nil
}

func (s *suite) write(targets []target, runErr error) error {
	r := load.NewReport(s.c.report, "blockhost load report (W3-6.1)")
	r.Para("Generated by `make load` (`scripts/load.sh` → `loadgen --scenario suite`) on %s (at the start: %s), %s. "+
		"Loopback only; the load generator and the server share the machine's CPUs, so every HTTP figure includes the client's own cost.",
		machine(), s.loadAt, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	r.Para("Open-loop HTTP runs use %d connections with one sender each (as wrk2 -c%d). ", openConns, openConns)
	r.Para("Latency is measured by the client from each send's **intended** time in open-loop runs (a schedule of t0 + i/rate; " +
		"a send the generator makes late still counts its wait), and from the send in closed-loop runs. " +
		"Quantiles come from a log-linear histogram (within 1.6 %%). HTTP runs post JSON to `POST /v1/steps` (large inputs as " +
		"multipart/form-data, the payload raw in its own part); in-process runs call `host.Execute`. " +
		"RSS and goroutines of the server come from `/proc/PID/status` and its `/metrics`, sampled every second.")
	if runErr != nil {
		r.Para("**The suite stopped early: %s**", runErr)
	}
	r.Heading(2, "Targets")
	r.Table([]string{"target", "kind", "want", "measured", "result"}, targetRows(targets))
	r.Heading(2, "All runs")
	var rows [][]string
	for _, res := range s.runs {
		rows = append(rows, load.SummaryRow(res))
	}
	r.Table(load.SummaryHeader, rows)
	for _, sec := range s.order {
		r.Heading(2, sec)
		for _, res := range s.runs {
			if s.section[res] != sec {
				continue
			}
			r.Heading(3, res.Label)
			r.RunSection(res)
		}
	}
	if err := r.Write(); err != nil {
		return err
	}
	return writeJSON(filepath.Join(s.c.report, "results.json"), s.runs)
}
