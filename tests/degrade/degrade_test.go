//go:build e2e

// Package degrade runs the graceful-degradation suite (W3-6.3): overload
// at 10× a pool's capacity, a slow consumer, and resource exhaustion under
// an instance memory budget, each with every CP2 flag off (CP1) and on, in
// child processes of cmd/loadgen so that RSS is measured per mode. The
// expectations are loadgen's (--scenario degrade); this test builds it,
// runs it and checks the figures it hands back.
//
//	go test -count=1 -tags e2e ./tests/degrade/
//
// runs the short version (about 2 minutes). With BLOCKHOST_REPORT_DIR set
// (make degrade sets docs/reports/degrade) it runs the full durations and
// writes the report there.
package degrade

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/cmd/loadgen/load"
	"github.com/beamline/blockhost/internal/testblocks"
)

var loadgen string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "blockhost-degrade-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	loadgen = filepath.Join(dir, "loadgen")
	build := exec.Command("go", "build", "-o", loadgen, "github.com/beamline/blockhost/cmd/loadgen")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building loadgen:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// childResult mirrors what loadgen --scenario degrade writes with --json.
type childResult struct {
	Case struct {
		Name            string  `json:"name"`
		Queue           int     `json:"queue"`
		Capacity        float64 `json:"capacity"`
		BudgetInstances int     `json:"budget_instances"`
	} `json:"case"`
	CP2       bool         `json:"cp2"`
	Budget    int64        `json:"budget_bytes"`
	BaseRSS   int64        `json:"base_rss_bytes"`
	Result    *load.Result `json:"result"`
	PeakQueue int          `json:"peak_queue"`
}

func TestGracefulDegradation(t *testing.T) {
	report := os.Getenv("BLOCKHOST_REPORT_DIR")
	short := report == ""
	if short {
		report = t.TempDir()
	}
	out := filepath.Join(t.TempDir(), "degrade.json")
	args := []string{"--scenario", "degrade", "--blocks", testblocks.Dir(t), "--build=false", "--cache-dir", testblocks.CacheDir(t),
		"--report", report, "--json", out, "--quiet"}
	if short {
		args = append(args, "--short")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(loadgen, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("loadgen %v took %v:\n%s", args, time.Since(start).Round(time.Second), stdout.String())
	if err != nil {
		t.Errorf("loadgen --scenario degrade: %v (an expectation failed, see above)\n%s", err, tail(stderr.String(), 4000))
	}
	b, rerr := os.ReadFile(out)
	require.NoError(t, rerr)
	var results []childResult
	require.NoError(t, json.Unmarshal(b, &results))
	require.Len(t, results, 8, "4 cases × 2 modes")
	by := map[string]childResult{}
	for _, r := range results {
		by[fmt.Sprintf("%s/%v", r.Case.Name, r.CP2)] = r
	}
	for _, name := range []string{"overload", "slow-consumer"} {
		cp1, cp2 := by[name+"/false"], by[name+"/true"]
		require.NotNil(t, cp1.Result, name)
		require.NotNil(t, cp2.Result, name)
		assert.Zero(t, cp1.Result.Rejected, "%s CP1: an unbounded queue refuses nothing", name)
		assert.Greater(t, cp1.PeakQueue, cp1.Case.Queue, "%s CP1: the queue grows past CP2's bound", name)
		assert.Positive(t, cp2.Result.Rejected, "%s CP2: the excess is rejected", name)
		assert.LessOrEqual(t, cp2.PeakQueue, cp2.Case.Queue, "%s CP2: the queue stays bounded", name)
		assert.Less(t, cp2.Result.Rejection.Quantile(0.99), 50*time.Millisecond, "%s CP2: rejections are fast", name)
		assert.Less(t, cp2.Result.PeakRSS()-cp2.Result.StartRSS(), int64(64<<20), "%s CP2: RSS stays flat", name)
	}
	for _, name := range []string{"instances-busy", "memory-hungry"} {
		for _, cp2 := range []bool{false, true} {
			r := by[fmt.Sprintf("%s/%v", name, cp2)]
			require.NotNil(t, r.Result, name)
			assert.Positive(t, r.Result.OK, "%s cp2=%v: some steps are served", name, cp2)
			assert.Positive(t, r.Result.StepErrors+r.Result.Rejected, "%s cp2=%v: the overflow is refused", name, cp2)
			assert.Zero(t, r.Result.Failed, "%s cp2=%v", name, cp2)
		}
	}
	md, err := os.ReadFile(filepath.Join(report, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "overload-rss.svg")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
