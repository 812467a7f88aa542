//go:build e2e

// Package e2e runs the blockhost binary as operators and block authors do:
// `blockhost serve` on a free loopback port with the example blocks, then
// `blockhost run` and `blockhost validate`. Run it with
//
//	go test -count=1 -tags e2e ./tests/e2e/
//
// (make test does). It builds the binary once, and the blocks through
// internal/testblocks with its shared compilation cache.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/internal/testblocks"
)

var binary string // the blockhost binary TestMain builds

const testVersion = "e2e-test"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "blockhost-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "blockhost")
	build := exec.Command("go", "build", "-o", binary, "-ldflags", "-X main.version="+testVersion, "github.com/beamline/blockhost/cmd/host")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building blockhost:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is the test process's environment without the variables blockhost
// reads, so a developer's shell does not change the outcome.
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CP2_") || strings.HasPrefix(kv, "BLOCKHOST_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// plugins returns a new plugins directory holding copies of the named
// blocks (NAME.wasm and NAME.yaml) of internal/testblocks.
func plugins(t *testing.T, names ...string) string {
	t.Helper()
	src := testblocks.Dir(t)
	dst := t.TempDir()
	for _, n := range names {
		for _, ext := range []string{".wasm", ".yaml"} {
			b, err := os.ReadFile(filepath.Join(src, n+ext))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, n+ext), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a running `blockhost serve`.
type server struct {
	cmd  *exec.Cmd
	base string
	logs *syncBuffer
	done chan struct{} // closed once the process has exited
	err  error         // cmd.Wait's error, once done
}

// startServe starts `blockhost serve --config` on a config whose listen is
// 127.0.0.1:0, reads the bound address from the startup log line and waits
// for /readyz.
func startServe(t *testing.T, config string, args ...string) *server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "host.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &server{logs: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(binary, append([]string{"serve", "--config", path, "--listen", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = env()
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		found := false
		for sc.Scan() {
			line := sc.Bytes()
			s.logs.Write(append(line, '\n'))
			if found {
				continue
			}
			var rec struct{ Message, Listen string }
			if json.Unmarshal(line, &rec) == nil && rec.Message == "blockhost serving" && rec.Listen != "" {
				found = true
				addrc <- rec.Listen
			}
		}
		io.Copy(io.Discard, stderr)
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("blockhost serve logs:\n%s", s.logs)
		}
	})

	select {
	case addr := <-addrc:
		s.base = "http://" + addr
	case <-s.done:
		t.Fatalf("blockhost serve exited (%v) before listening:\n%s", s.err, s.logs)
	case <-time.After(2 * time.Minute):
		t.Fatalf("no startup line within 2 minutes:\n%s", s.logs)
	}
	waitFor(t, 30*time.Second, func() error {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz = %d", resp.StatusCode)
		}
		return nil
	})
	return s
}

// stop sends SIGTERM and waits up to within for the process to exit,
// returning its exit status.
func (s *server) stop(t *testing.T, within time.Duration) int {
	t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(within):
		t.Fatalf("blockhost serve still running %v after SIGTERM", within)
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	return 0
}

// waitFor polls f every 20 ms until it returns nil or total passes.
func waitFor(t *testing.T, total time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", total, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, method, url, body string) answer {
	t.Helper()
	a, err := try(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// try is call for goroutines other than the test's: it reports the error
// in the answer's body.
func try(method, url, body string) (answer, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{body: err.Error()}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}, err
}

func config(pluginsDir, cacheDir, extra string) string {
	return fmt.Sprintf("plugins_dir: %s\ncache_dir: %s\nshutdown_grace: 5s\nlog: {level: debug}\n%s", pluginsDir, cacheDir, extra)
}

func TestServe(t *testing.T) {
	dir := plugins(t, "text_uppercase", "noop")
	s := startServe(t, config(dir, testblocks.CacheDir(t), ""))

	t.Run("uppercase", func(t *testing.T) {
		a := call(t, http.MethodPost, s.base+"/v1/steps", `{"type":"text.uppercase","inputs":{"text":"hello"},"context":{"trace_id":"tr-1"}}`)
		if a.status != http.StatusOK {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		var res host.StepResult
		if err := json.Unmarshal([]byte(a.body), &res); err != nil {
			t.Fatal(err)
		}
		if res.Status != host.StatusSuccess || res.Outputs["text"] != "HELLO" || res.Metadata.TraceID != "tr-1" || res.Metadata.StepID == "" {
			t.Errorf("result %s", a.body)
		}
	})
	t.Run("failed step is still 200", func(t *testing.T) {
		a := call(t, http.MethodPost, s.base+"/v1/steps", `{"type":"text.uppercase","retry_count":0}`)
		if a.status != http.StatusOK || !strings.Contains(a.body, `"status":"error"`) || !strings.Contains(a.body, `"error_code":"MISSING_REQUIRED_FIELD"`) {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("blocks", func(t *testing.T) {
		a := call(t, http.MethodGet, s.base+"/v1/blocks", "")
		var blocks []host.BlockInfo
		if err := json.Unmarshal([]byte(a.body), &blocks); err != nil || a.status != http.StatusOK {
			t.Fatalf("%d %s", a.status, a.body)
		}
		types := map[string]bool{}
		for _, b := range blocks {
			for _, ty := range b.Types {
				types[ty] = true
			}
			if len(b.Digest) < 64 || b.Version == "" {
				t.Errorf("block %+v lacks digest or version", b)
			}
		}
		if len(blocks) != 2 || !types["text.uppercase"] || !types["noop"] {
			t.Errorf("blocks %s, want text_uppercase and noop", a.body)
		}
	})
	t.Run("pools", func(t *testing.T) {
		a := call(t, http.MethodGet, s.base+"/v1/pools", "")
		var pools []host.PoolInfo
		if err := json.Unmarshal([]byte(a.body), &pools); err != nil || a.status != http.StatusOK || len(pools) < 3 {
			t.Errorf("%d %s", a.status, a.body)
		}
		for _, p := range pools {
			if p.MaxQueueSize != nil {
				t.Errorf("pool %s: max_queue_size %d, want null with queue management off", p.Name, *p.MaxQueueSize)
			}
		}
	})
	t.Run("features default to CP1", func(t *testing.T) {
		a := call(t, http.MethodGet, s.base+"/v1/features", "")
		want := `{"advanced_retry":false,"complete_timeout":false,"cancellation":false,"queue_management":false,"circuit_breaker":false}`
		if strings.TrimSpace(a.body) != want {
			t.Errorf("%s, want %s", a.body, want)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		a := call(t, http.MethodGet, s.base+"/metrics", "")
		if a.status != http.StatusOK || !strings.Contains(a.body, "worker_step_executions_total") {
			t.Errorf("/metrics = %d, lacks worker_step_executions_total", a.status)
		}
	})
	t.Run("unknown type", func(t *testing.T) {
		if a := call(t, http.MethodPost, s.base+"/v1/steps", `{"type":"no.such"}`); a.status != http.StatusNotFound {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		a := call(t, http.MethodPost, s.base+"/v1/steps", `{"type":"text.uppercase",`)
		if a.status != http.StatusBadRequest || !strings.Contains(a.body, `"code":"INVALID_INPUT"`) {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("cancel with the flag off", func(t *testing.T) {
		if a := call(t, http.MethodDelete, s.base+"/v1/steps/whatever", ""); a.status != http.StatusConflict {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
	t.Run("health", func(t *testing.T) {
		if a := call(t, http.MethodGet, s.base+"/_health", ""); a.status != http.StatusOK || !strings.Contains(a.body, `"status":"healthy"`) {
			t.Errorf("%d %s", a.status, a.body)
		}
	})

	if code := s.stop(t, 5*time.Second+5*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(s.logs.String(), `"message":"stopped"`) {
		t.Errorf("no stopped line in the logs")
	}
}

// TestHotReload drops a block into the plugins directory of a running
// server and waits for it to serve.
func TestHotReload(t *testing.T) {
	dir := plugins(t, "text_uppercase")
	s := startServe(t, config(dir, testblocks.CacheDir(t), ""))
	if a := call(t, http.MethodPost, s.base+"/v1/steps", `{"type":"noop"}`); a.status != http.StatusNotFound {
		t.Fatalf("noop before it is copied = %d %s", a.status, a.body)
	}
	src := testblocks.Dir(t)
	for _, ext := range []string{".yaml", ".wasm"} {
		b, err := os.ReadFile(filepath.Join(src, "noop"+ext))
		if err != nil {
			t.Fatal(err)
		}
		// Write aside and rename, as a deployment would.
		tmp := filepath.Join(dir, ".noop"+ext+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "noop"+ext)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, func() error {
		if a := call(t, http.MethodPost, s.base+"/v1/steps", `{"type":"noop"}`); a.status != http.StatusOK {
			return fmt.Errorf("noop = %d %s", a.status, a.body)
		}
		return nil
	})
	if code := s.stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// TestDrain checks the graceful shutdown: a step in flight when SIGTERM
// arrives finishes and is answered, while /readyz and new steps get 503.
func TestDrain(t *testing.T) {
	dir := plugins(t, "sleep")
	s := startServe(t, config(dir, testblocks.CacheDir(t), ""))

	answered := make(chan answer, 1)
	go func() {
		a, _ := try(http.MethodPost, s.base+"/v1/steps", `{"type":"test.sleep","inputs":{"ms":"1500"}}`)
		answered <- a
	}()
	waitFor(t, 10*time.Second, func() error {
		var pools []host.PoolInfo
		a := call(t, http.MethodGet, s.base+"/v1/pools", "")
		if err := json.Unmarshal([]byte(a.body), &pools); err != nil {
			return err
		}
		for _, p := range pools {
			if p.Active > 0 {
				return nil
			}
		}
		return errors.New("the sleep step is not running yet")
	})
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, func() error {
		a := call(t, http.MethodGet, s.base+"/readyz", "")
		if a.status != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz = %d while draining", a.status)
		}
		return nil
	})
	if a := call(t, http.MethodPost, s.base+"/v1/steps", `{"type":"test.sleep","inputs":{"ms":"1"}}`); a.status != http.StatusServiceUnavailable {
		t.Errorf("new step while draining = %d %s, want 503", a.status, a.body)
	}
	select {
	case a := <-answered:
		if a.status != http.StatusOK || !strings.Contains(a.body, `"status":"success"`) {
			t.Errorf("step in flight = %d %s, want 200 success", a.status, a.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the step in flight was not answered")
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("blockhost serve did not exit after draining")
	}
	if s.err != nil {
		t.Errorf("exit: %v, want status 0", s.err)
	}
}

// TestCancel runs with --cp2-cancellation=true: a step in flight refuses a
// duplicate step_id (409) and DELETE cancels it (202, then cancelled).
func TestCancel(t *testing.T) {
	dir := plugins(t, "sleep")
	s := startServe(t, config(dir, testblocks.CacheDir(t), "features: {cancellation: false}\n"), "--cp2-cancellation=true")

	const step = `{"type":"test.sleep","inputs":{"ms":"20000"},"context":{"step_id":"e2e-cancel-1"}}`
	answered := make(chan answer, 1)
	start := time.Now()
	go func() {
		a, _ := try(http.MethodPost, s.base+"/v1/steps", step)
		answered <- a
	}()
	waitFor(t, 10*time.Second, func() error {
		if a := call(t, http.MethodGet, s.base+"/v1/features", ""); !strings.Contains(a.body, `"cancellation":true`) {
			t.Fatalf("features %s: the flag did not override the file", a.body)
		}
		if a := call(t, http.MethodDelete, s.base+"/v1/steps/unknown-step", ""); a.status != http.StatusNotFound {
			t.Fatalf("DELETE of an unknown step = %d %s, want 404", a.status, a.body)
		}
		var pools []host.PoolInfo
		json.Unmarshal([]byte(call(t, http.MethodGet, s.base+"/v1/pools", "").body), &pools)
		for _, p := range pools {
			if p.Active > 0 {
				return nil
			}
		}
		return errors.New("the sleep step is not running yet")
	})
	if a := call(t, http.MethodPost, s.base+"/v1/steps", step); a.status != http.StatusConflict {
		t.Errorf("duplicate step_id = %d %s, want 409", a.status, a.body)
	}
	if a := call(t, http.MethodDelete, s.base+"/v1/steps/e2e-cancel-1", ""); a.status != http.StatusAccepted {
		t.Fatalf("DELETE = %d %s, want 202", a.status, a.body)
	}
	select {
	case a := <-answered:
		if a.status != http.StatusOK || !strings.Contains(a.body, `"status":"cancelled"`) || !strings.Contains(a.body, "CANCELLED_BY_USER") {
			t.Errorf("cancelled step = %d %s", a.status, a.body)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("the cancelled step took %v", took)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the cancelled step was not answered")
	}
	if code := s.stop(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
}

// cli runs the binary and returns its exit status and outputs.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// notWasm returns tests/fixtures/notwasm.wasm, or a stand-in when the
// fixture is not there.
func notWasm(t *testing.T) string {
	p := filepath.Join("..", "fixtures", "notwasm.wasm")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	p = filepath.Join(t.TempDir(), "notwasm.wasm")
	if err := os.WriteFile(p, []byte("this is not a WebAssembly module\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLI(t *testing.T) {
	dir := plugins(t, "text_uppercase", "noop")
	upper := filepath.Join(dir, "text_uppercase.wasm")
	cache := testblocks.CacheDir(t)
	bad := notWasm(t)

	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"run", []string{"run", upper, "--type", "text.uppercase", "--input", `{"text":"hello"}`, "--cache-dir", cache}, 0, `"text": "HELLO"`, ""},
		{"run flags after", []string{"run", "--cache-dir", cache, upper, "--input", `{"text":"x"}`}, 0, `"status": "success"`, ""},
		{"run noop, type from manifest", []string{"run", filepath.Join(dir, "noop.wasm"), "--cache-dir", cache}, 0, `"status": "success"`, ""},
		{"run failed step", []string{"run", upper, "--input", `{}`, "--retry-count", "0", "--cache-dir", cache}, 1, `"error_code": "MISSING_REQUIRED_FIELD"`, ""},
		{"run wrong type", []string{"run", upper, "--type", "text.lowercase"}, 2, "", `serves text.uppercase, not "text.lowercase"`},
		{"run not wasm", []string{"run", bad, "--type", "x.y"}, 2, "", "not a WebAssembly module"},
		{"run with grants", []string{"run", upper, "--allow-http", "example.com", "--allow-http", "https://*.example.org", "--fs-root", t.TempDir(), "--input", `{"text":"a"}`, "--cache-dir", cache}, 0, `"text": "A"`, ""},
		{"run bad grant", []string{"run", upper, "--allow-http", "ftp://example.com"}, 2, "", `--allow-http "ftp://example.com": allow pattern "ftp://example.com": scheme "ftp": only http and https are allowed`},
		{"validate", []string{"validate", upper}, 0, "ok: " + upper + " satisfies blockhost ABI v1\n", ""},
		{"validate not wasm", []string{"validate", bad}, 1, bad + ": not a WebAssembly module", ""},
		{"validate both", []string{"validate", upper, bad}, 1, "ok: " + upper, ""},
		{"validate config", []string{"validate", "--config", "../../examples/host.yaml"}, 0, "ok: ../../examples/host.yaml\n", ""},
		{"version", []string{"version"}, 0, "blockhost " + testVersion + "\n", ""},
		{"help", []string{"--help"}, 0, "Usage:", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s\nwant stdout containing %q and stderr containing %q", code, tt.code, stdout, stderr, tt.stdout, tt.stderr)
			}
		})
	}
}
