package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/cmd/loadgen/load"
	"github.com/beamline/blockhost/internal/testblocks"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "10MB": 10_000_000, "100MiB": 100 << 20, "2GiB": 2 << 30, "1.5KB": 1500, "64K": 64_000} {
		got, err := parseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "MB", "-1", "ten"} {
		_, err := parseSize(bad)
		assert.Error(t, err, bad)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--url", "http://x", "--inprocess", "--rate", "1"},
		{"--url", "http://x"},
		{"--url", "http://x", "--rate", "1", "--concurrency", "2"},
		{"--inprocess", "--baseline-echo", "--rate", "1"},
		{"--baseline-echo", "--rate", "0"},
		{"--baseline-echo", "--concurrency", "0"},
		{"--baseline-echo", "--rate", "1", "--cp2", "some"},
		{"--scenario", "other"},
		{"--baseline-echo", "--rate", "1", "extra"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		assert.Equal(t, exitUsage, code, "%q: %s", args, errb.String())
	}
	var out, errb bytes.Buffer
	assert.Equal(t, exitOK, run(context.Background(), []string{"--help"}, &out, &errb))
	assert.Contains(t, errb.String(), "--baseline-echo")
}

func TestBaselineEchoRunWritesReport(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--baseline-echo", "--concurrency", "2,4", "--duration", "300ms", "--quiet",
		"--report", dir, "--json", filepath.Join(dir, "r.json")}, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	assert.Contains(t, out.String(), "bare echo ×4")
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "bare echo ×2")
	var results []*load.Result
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &results))
	require.Len(t, results, 2)
	assert.Positive(t, results[0].OK)
}

func TestInProcessRun(t *testing.T) {
	blocks := testblocks.Dir(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--inprocess", "--blocks", blocks, "--build=false", "--cache-dir", testblocks.CacheDir(t),
		"--mix", "noop:3,text.uppercase:1", "--rate", "100", "--duration", "1s", "--quiet", "--cp2", "none"}, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	lines := strings.Split(out.String(), "\n")
	require.GreaterOrEqual(t, len(lines), 2)
	f := strings.Split(lines[1], "\t")
	assert.Equal(t, "in-process noop+text.uppercase none", f[0])
	assert.Equal(t, "100", f[4], "every step succeeded: %s", out.String())
}

func TestWasmMinPages(t *testing.T) {
	pages, err := wasmMinPages(filepath.Join(testblocks.FixturesDir(t), "minimal.wasm"))
	require.NoError(t, err)
	assert.Positive(t, pages)
	_, err = wasmMinPages(filepath.Join(testblocks.FixturesDir(t), "notwasm.wasm"))
	assert.Error(t, err)
	pages, err = wasmMinPages(filepath.Join(testblocks.Dir(t), "sleep.wasm"))
	require.NoError(t, err)
	assert.Greater(t, pages, uint32(1), "a Go block starts with more than one page")
}

func TestDegradeCasesAreConsistent(t *testing.T) {
	for _, short := range []bool{false, true} {
		names := map[string]bool{}
		for _, k := range degradeCases(short) {
			assert.False(t, names[k.Name], k.Name)
			names[k.Name] = true
			assert.True(t, strings.HasPrefix(k.Type, "test."), k.Name)
			assert.Positive(t, k.Capacity*k.Factor, k.Name)
			assert.Positive(t, k.Duration, k.Name)
		}
	}
}
