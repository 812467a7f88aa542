package host_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/internal/testblocks"
	"github.com/beamline/blockhost/sandbox"
)

// TestManifestCapsAreEnforced loads manifests asking for more than the
// operator grants: each excess is refused with the manifest's file and line.
func TestManifestCapsAreEnforced(t *testing.T) {
	src := testblocks.Dir(t)
	cases := []struct {
		name     string
		manifest string
		policy   host.BlockPolicy
		want     string // "" = loads
	}{
		{"memory over cap", "types: [x.a]\nlimits:\n  memory_pages: 100000\n", host.BlockPolicy{},
			"a.yaml:3: asks for 100000 memory pages, over the operator's cap of 512"},
		{"output over cap", "types: [x.a]\nlimits:\n  output_bytes: 999999999999\n", host.BlockPolicy{},
			"a.yaml:3: asks for 999999999999 output bytes"},
		{"http not granted", "types: [x.a]\ncapabilities:\n  http:\n    allow: [\"https://api.example.com\"]\n", host.BlockPolicy{},
			"a.yaml:3: asks for HTTP egress; the operator grants block \"a\" none"},
		{"http host not granted", "types: [x.a]\ncapabilities:\n  http:\n    allow:\n      - https://api.example.com\n      - https://evil.example.com\n",
			host.BlockPolicy{HTTP: sandbox.HTTPGrant{Allow: []string{"https://api.example.com"}}},
			"a.yaml:6: asks for \"https://evil.example.com\""},
		{"private not allowed", "types: [x.a]\ncapabilities:\n  http:\n    allow: [\"*\"]\n    allow_private: true\n",
			host.BlockPolicy{HTTP: sandbox.HTTPGrant{Allow: []string{"https://api.example.com"}}},
			"a.yaml:5: requires private addresses"},
		{"fs write on read-only", "types: [x.a]\ncapabilities:\n  fs: {}\n",
			host.BlockPolicy{FS: sandbox.FSGrant{Root: t.TempDir(), ReadOnly: true}},
			"a.yaml:3: asks to write"},
		{"no interrupt not allowed", "types: [x.a]\ninterrupt: false\n", host.BlockPolicy{},
			"a.yaml:2: asks to run without interruption"},
		{"granted", "types: [x.a]\ninterrupt: false\ncapabilities:\n  http:\n    allow: [\"*\"]\n  fs:\n    read_only: true\n",
			host.BlockPolicy{AllowNoInterrupt: true, HTTP: sandbox.HTTPGrant{Allow: []string{"https://api.example.com"}},
				FS: sandbox.FSGrant{Root: t.TempDir()}}, ""},
		{"unknown field", "types: [x.a]\nlimitz: {}\n", host.BlockPolicy{}, "a.yaml:2: field limitz not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyFile(t, filepath.Join(src, "echo.wasm"), filepath.Join(dir, "a.wasm"))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(tc.manifest), 0o644))
			h := newHost(t, host.Config{Blocks: map[string]host.BlockPolicy{"a": tc.policy}})
			_, err := h.LoadFile(context.Background(), filepath.Join(dir, "a.wasm"))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.Contains(err.Error(), filepath.Join(dir, "a.yaml")), "names the file: %v", err)
		})
	}
}

// TestOptedOutBlockStillTimesOut: a block the operator lets run without
// interruption still ends timeout for its caller at the deadline, and the
// host keeps serving.
//
// A guest that cannot be interrupted also cannot be stopped by the Go
// runtime, so a garbage collection that starts while it runs waits for the
// call to return (documented in the README's limits). The collector is
// paused here so the test measures the deadline path itself.
func TestOptedOutBlockStillTimesOut(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	wasm, err := os.ReadFile(filepath.Join(testblocks.Dir(t), "compute.wasm"))
	require.NoError(t, err)
	h := newHost(t, host.Config{Blocks: map[string]host.BlockPolicy{"compute": {AllowNoInterrupt: true}}}, "echo")
	no := false
	_, err = h.LoadBlock(context.Background(), wasm, sandbox.Manifest{Name: "compute", Types: []string{"test.compute"}, Interrupt: &no})
	require.NoError(t, err)
	start := time.Now()
	res := run(t, h, host.StepRequest{Type: "test.compute", TimeoutMS: 100, RetryCount: intp(0),
		Inputs: map[string]string{"n": "3000000000"}})
	assert.Equal(t, host.StatusTimeout, res.Status)
	assert.Equal(t, abi.CancelledByTimeout, res.ErrorCode)
	assert.Less(t, time.Since(start), 100*time.Millisecond+250*time.Millisecond)
	assert.Equal(t, host.StatusSuccess, run(t, h, host.StepRequest{Type: "test.echo"}).Status)
	// The abandoned call still holds its slot until it returns.
	assert.Equal(t, 1, h.Pools()[0].Active)
}
