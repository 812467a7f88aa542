package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/internal/testblocks"
	"github.com/beamline/blockhost/policy"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a server's
// logger and the test's reads.
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

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut syncBuffer
	c := &cli{stdout: &out, stderr: &errOut, lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	code := c.main(context.Background(), args)
	return result{code, out.String(), errOut.String()}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdout     string
		stderr     string
		wantOutput bool
	}{
		{nil, exitUsage, "", "Usage:", false},
		{[]string{"--help"}, exitOK, "Usage:", "", true},
		{[]string{"help"}, exitOK, "Usage:", "", true},
		{[]string{"help", "run"}, exitOK, "blockhost run PLUGIN.wasm", "", true},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`, false},
		{[]string{"serve", "--help"}, exitOK, "-cp2-advanced-retry", "", true},
		{[]string{"run", "-h"}, exitOK, "-allow-http", "", true},
		{[]string{"validate", "--help"}, exitOK, "FILE:LINE: reason", "", true},
		{[]string{"version", "--help"}, exitOK, "blockhost version", "", true},
		{[]string{"serve", "--nope"}, exitUsage, "", "flag provided but not defined: -nope", false},
		{[]string{"serve", "extra"}, exitUsage, "", `unexpected argument "extra"`, false},
		{[]string{"validate"}, exitUsage, "", "want PLUGIN.wasm or --config FILE", false},
		{[]string{"run"}, exitUsage, "", "want exactly one PLUGIN.wasm", false},
		{[]string{"run", "a.wasm", "b.wasm"}, exitUsage, "", "want exactly one PLUGIN.wasm", false},
		{[]string{"run", "x.wasm", "--cp2-cancellation=maybe"}, exitUsage, "", `invalid value "maybe" for flag -cp2-cancellation: want true, false, 1 or 0`, false},
		{[]string{"run", "x.wasm", "--type", "t", "--input", `{"n":1}`}, exitUsage, "", `--input: input "n": want a string (structured values are JSON-encoded strings), got 1`, false},
		{[]string{"run", "x.wasm", "--type", "t", "--context", `{"tenant":"a"}`}, exitUsage, "", `--context: unknown field "tenant"`, false},
		{[]string{"run", "x.wasm", "--type", "t"}, exitUsage, "", "x.wasm: no such file", false},
		{[]string{"validate", "missing.wasm"}, exitUsage, "", "missing.wasm: no such file", false},
		{[]string{"version", "x"}, exitUsage, "", "version takes no arguments", false},
		{[]string{"run", "x.wasm", "--retry-count", "-1"}, exitUsage, "", `invalid value "-1" for flag -retry-count: want a whole number >= 0`, false},
		{[]string{"run", "x.wasm", "--input", `[1]`}, exitUsage, "", "--input: cannot unmarshal array", false},
		{[]string{"run", "x.wasm", "--allow-http", "example.com/path"}, exitUsage, "", `--allow-http "example.com/path": allow pattern "https://example.com/path": want only scheme://host[:port]`, false},
		{[]string{"run", "x.wasm", "--fs-root", "/nonexistent/dir"}, exitUsage, "", "--fs-root /nonexistent/dir: not a directory", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stdout %q, stderr %q; want them to contain %q and %q", r.stdout, r.stderr, tt.stdout, tt.stderr)
			}
			if tt.wantOutput == (r.stdout == "") {
				t.Errorf("stdout = %q", r.stdout)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, nil, "version")
	if r.code != exitOK || !strings.Contains(r.stdout, "blockhost dev\n") || !strings.Contains(r.stdout, "go: go1.") || !strings.Contains(r.stdout, "abi: v1\n") {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestValidateConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("listen: nope\nfeatures:\n  cancellation: sometimes\nextra: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "validate", "--config", bad)
	want := bad + ":1: listen: \"nope\": want HOST:PORT, e.g. 127.0.0.1:8080\n" +
		bad + ":3: features.cancellation: invalid value \"sometimes\" (want true, false, 1 or 0)\n" +
		bad + ":4: extra: unknown key"
	if r.code != exitFailure || !strings.HasPrefix(r.stdout, want) {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", r.code, r.stdout, want)
	}

	r = runCLI(t, nil, "validate", "--config", "../../examples/host.yaml")
	if r.code != exitOK || r.stdout != "ok: ../../examples/host.yaml\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = runCLI(t, nil, "validate", "--config", filepath.Join(dir, "missing.yaml"))
	if r.code != exitUsage {
		t.Errorf("missing file: exit %d", r.code)
	}
}

func TestServeStartupErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "host.yaml")
	if err := os.WriteFile(cfg, []byte("plugins_dir: .\nfeatures: {cancellation: nah}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	replicated := filepath.Join(dir, "replicated.yaml")
	if err := os.WriteFile(replicated, []byte("plugins_dir: .\nnats: {url: \"nats://127.0.0.1:1\", replicas: 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"config error with line", nil, []string{"--config", cfg}, cfg + `:2: features.cancellation: invalid value "nah"`},
		{"bad env names the variable", map[string]string{"CP2_QUEUE_MANAGEMENT_ENABLED": "on"}, []string{"--plugins", dir}, `CP2_QUEUE_MANAGEMENT_ENABLED: invalid value "on"`},
		{"bad flag names the flag", nil, []string{"--plugins", dir, "--cp2-circuit-breaker", "enabled"}, `invalid value "enabled" for flag -cp2-circuit-breaker`},
		{"no plugins dir", nil, nil, "no plugins directory"},
		{"plugins dir missing", nil, []string{"--plugins", filepath.Join(dir, "nope")}, "not a readable directory"},
		{"missing config", nil, []string{"--config", filepath.Join(dir, "nope.yaml")}, "no such file"},
		{"bad embedded port", nil, []string{"--plugins", dir, "--nats-embedded", "--nats-embedded-port", "99999"}, `invalid value "99999" for flag -nats-embedded-port: want a port 1-65535`},
		{"replicas on the embedded server", nil, []string{"--config", replicated, "--nats-embedded"}, "the embedded NATS server is a single node: nats.replicas is 3, want 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, append([]string{"serve"}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

// TestServeLifecycle starts serve in-process on a free port with an empty
// plugins directory, checks precedence, the token and health, then stops it
// as a signal would.
func TestServeLifecycle(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "host.yaml")
	conf := "listen: 127.0.0.1:0\nplugins_dir: plugins\napi_token: from-file\nshutdown_grace: 2s\n" +
		"features: {advanced_retry: true, cancellation: true, circuit_breaker: false}\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"CP2_CANCELLATION_ENABLED":    "false", // env over file
		"CP2_CIRCUIT_BREAKER_ENABLED": "1",     // env over file
		"CP2_ADVANCED_RETRY_ENABLED":  "1",     // flag over env
		"BLOCKHOST_API_TOKEN":         "s3cret-token",
	}
	var stdout, stderr syncBuffer
	addrc := make(chan string, 1)
	c := &cli{
		stdout: &stdout, stderr: &stderr,
		lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		ready:  func(addr string) { addrc <- addr },
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- c.main(ctx, []string{"serve", "--config", cfg, "--cp2-advanced-retry=false"}) }()

	var base string
	select {
	case addr := <-addrc:
		base = "http://" + addr
	case code := <-done:
		t.Fatalf("serve exited %d before listening:\n%s", code, stderr.String())
	case <-time.After(30 * time.Second):
		stop()
		t.Fatalf("serve did not listen in 30s:\n%s", stderr.String())
	}

	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz", ""); code != http.StatusOK {
		t.Errorf("/readyz = %d", code)
	}
	if code, _ := get("/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get("/v1/features", ""); code != http.StatusUnauthorized {
		t.Errorf("/v1/features without token = %d, want 401", code)
	}
	if code, _ := get("/v1/features", "from-file"); code != http.StatusUnauthorized {
		t.Errorf("/v1/features with the file's token = %d, want 401 (BLOCKHOST_API_TOKEN overrides)", code)
	}
	code, body := get("/v1/features", "s3cret-token")
	var f policy.Features
	if err := json.Unmarshal([]byte(body), &f); code != http.StatusOK || err != nil {
		t.Fatalf("/v1/features = %d %s", code, body)
	}
	if want := (policy.Features{CircuitBreaker: true}); f != want {
		t.Errorf("features = %+v, want %+v (flag > env > file)", f, want)
	}
	if code, body := get("/metrics", ""); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d", code)
	}

	stop()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s of the signal")
	}
	logs := stderr.String()
	if strings.Contains(logs, "s3cret-token") || strings.Contains(logs, "from-file") {
		t.Errorf("the API token was logged:\n%s", logs)
	}
	for _, want := range []string{`"message":"blockhost serving"`, `"component":"blockhost"`, `"listen":"127.0.0.1:`, `"circuit_breaker":true`, `"message":"draining"`, `"message":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// TestServeTLS serves over TLS with a self-signed certificate from the
// config file.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	conf := "listen: 127.0.0.1:0\nplugins_dir: .\ntls: {cert_file: cert.pem, key_file: key.pem}\nshutdown_grace: 1s\n"
	cfg := filepath.Join(dir, "host.yaml")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	srv := startServe(t, "--config", cfg)
	defer srv.shutdown(t)
	pool := x509.NewCertPool()
	pool.AddCert(mustParse(t, der))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + srv.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("GET /healthz over TLS = %d", resp.StatusCode)
	}
	srv.shutdown(t)
	if !strings.Contains(srv.stderr.String(), `"tls":true`) {
		t.Errorf("startup line does not say tls:\n%s", srv.stderr.String())
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRunInputFiles: --input-file and --input-value feed a step from files
// and stdin, byte for byte.
func TestRunInputFiles(t *testing.T) {
	wasm := filepath.Join(testblocks.Dir(t), "echo.wasm")
	dir := t.TempDir()
	// Control bytes, a newline, non-ASCII, and too big for one argv string
	// (the result is JSON, so the value stays valid UTF-8).
	binary := "\x00\x01\x02é\n" + strings.Repeat("x", 200<<10)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "blob.bin"), []byte(binary), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "in.json"), []byte(`{"a":"from file"}`), 0o600))

	var out, errOut syncBuffer
	c := &cli{stdin: strings.NewReader(`{"b":"from stdin"}`), stdout: &out, stderr: &errOut,
		lookup: func(string) (string, bool) { return "", false }}
	code := c.main(context.Background(), []string{"run", wasm, "--cache-dir", testblocks.CacheDir(t),
		"--input-file", "-", "--input-value", "big=" + filepath.Join(dir, "blob.bin")})
	require.Equal(t, exitOK, code, errOut.String())
	var res struct{ Outputs map[string]string }
	require.NoError(t, json.Unmarshal([]byte(out.String()), &res))
	assert.Equal(t, "from stdin", res.Outputs["b"])
	assert.True(t, res.Outputs["big"] == binary, "big: %d bytes", len(res.Outputs["big"]))

	r := runCLI(t, nil, "run", wasm, "--input-file", filepath.Join(dir, "in.json"), "--cache-dir", testblocks.CacheDir(t))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"a": "from file"`)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--input", "{}", "--input-file", "x.json"}, "--input and --input-file exclude each other"},
		{[]string{"--input-file", filepath.Join(dir, "nope.json")}, "--input-file: open " + filepath.Join(dir, "nope.json") + ": no such file or directory"},
		{[]string{"--input-value", "big"}, `--input-value "big": want KEY=FILE`},
		{[]string{"--input-value", "k=" + filepath.Join(dir, "nope")}, "--input-value k: open"},
	} {
		r := runCLI(t, nil, append([]string{"run", wasm}, tc.args...)...)
		assert.Equal(t, exitUsage, r.code, tc.args)
		assert.Contains(t, r.stderr, tc.want, tc.args)
	}
}

// servePlugins makes a plugins directory under dir holding the given
// built blocks (NAME.wasm and NAME.yaml).
func servePlugins(t *testing.T, dir string, names ...string) string {
	t.Helper()
	blocks := testblocks.Dir(t)
	plugins := filepath.Join(dir, "plugins")
	require.NoError(t, os.Mkdir(plugins, 0o755))
	for _, name := range names {
		for _, f := range []string{name + ".wasm", name + ".yaml"} {
			b, err := os.ReadFile(filepath.Join(blocks, f))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(plugins, f), b, 0o644))
		}
	}
	return plugins
}

// serveProc is `blockhost serve` running in-process.
type serveProc struct {
	addr    string
	stderr  *syncBuffer
	stop    context.CancelFunc
	done    chan int
	stopped bool
}

// startServe runs serve with args until it listens, failing t if it exits
// or takes over 60 s.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	s := &serveProc{stderr: &syncBuffer{}, done: make(chan int, 1)}
	addrc := make(chan string, 1)
	c := &cli{stdout: io.Discard, stderr: s.stderr, lookup: func(string) (string, bool) { return "", false },
		ready: func(a string) { addrc <- a }}
	var ctx context.Context
	ctx, s.stop = context.WithCancel(context.Background())
	go func() { s.done <- c.main(ctx, append([]string{"serve"}, args...)) }()
	select {
	case s.addr = <-addrc:
	case code := <-s.done:
		t.Fatalf("serve %v exited %d:\n%s", args, code, s.stderr.String())
	case <-time.After(60 * time.Second):
		s.stop()
		t.Fatalf("serve %v did not listen in 60s:\n%s", args, s.stderr.String())
	}
	return s
}

// shutdown stops s, as a signal would, and checks that it exits 0.
func (s *serveProc) shutdown(t *testing.T) {
	t.Helper()
	if s.stopped {
		return
	}
	s.stopped = true
	s.stop()
	select {
	case code := <-s.done:
		assert.Equal(t, exitOK, code, s.stderr.String())
	case <-time.After(30 * time.Second):
		t.Errorf("serve did not stop:\n%s", s.stderr.String())
	}
}

// embeddedURL is the URL of the embedded NATS server s logged.
func (s *serveProc) embeddedURL(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		var l struct{ Message, URL string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Message == "embedded NATS server started" {
			return l.URL
		}
	}
	t.Fatalf("no embedded NATS server in the log:\n%s", s.stderr.String())
	return ""
}

// TestServeNATS runs the one-machine cluster of docs/scaling.md in-process:
// a host with an embedded NATS server (on a random port, never 4222, so
// tests may run in parallel) and a second host connected to it, each with
// the nats section's settings, and checks that those settings reach the
// server and that both hosts take assignments.
func TestServeNATS(t *testing.T) {
	dir := t.TempDir()
	servePlugins(t, dir, "echo")
	conf := func(name, workerID string) string {
		path := filepath.Join(dir, name)
		data := "listen: 127.0.0.1:0\nplugins_dir: plugins\ncache_dir: " + testblocks.CacheDir(t) + "\nshutdown_grace: 5s\n" +
			"nats:\n  embedded_store_dir: nats-store\n  stream: T_EXEC\n  consumer: t_workers\n  claim_bucket: t_claims\n" +
			"  storage: memory\n  worker_id: " + workerID + "\n  ack_wait: 10s\n  max_deliver: 5\n  claim_lease: 4s\n" +
			"  claim_ttl: 1h\n  heartbeat_interval: 200ms\n  reject_nak_delay: 100ms\n  max_in_flight: 8\n"
		require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
		return path
	}

	// Host 1 starts the server; the flags turn it on and pick the port.
	h1 := startServe(t, "--config", conf("one.yaml", "host-one"), "--nats-embedded", "--nats-embedded-port", "-1")
	defer h1.shutdown(t)
	url := h1.embeddedURL(t)
	assert.NotContains(t, url, ":4222")
	assert.DirExists(t, filepath.Join(dir, "nats-store", "jetstream"))
	// Host 2 connects to it.
	h2 := startServe(t, "--config", conf("two.yaml", "host-two"), "--nats", url)
	defer h2.shutdown(t)

	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	results := make(chan *nats.Msg, 64)
	beats := make(chan *nats.Msg, 64)
	_, err = nc.ChanSubscribe("caf.exec.result.v1", results)
	require.NoError(t, err)
	_, err = nc.ChanSubscribe("caf.worker.heartbeat.v1", beats)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	// The settings reached the server.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	st, err := js.Stream(ctx, "T_EXEC")
	require.NoError(t, err)
	assert.Equal(t, jetstream.MemoryStorage, st.CachedInfo().Config.Storage)
	cons, err := js.Consumer(ctx, "T_EXEC", "t_workers")
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, cons.CachedInfo().Config.AckWait)
	assert.Equal(t, 5, cons.CachedInfo().Config.MaxDeliver)
	kv, err := js.KeyValue(ctx, "t_claims")
	require.NoError(t, err)
	kst, err := kv.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, time.Hour, kst.TTL())
	kvs, err := js.Stream(ctx, "KV_t_claims")
	require.NoError(t, err)
	assert.Equal(t, jetstream.MemoryStorage, kvs.CachedInfo().Config.Storage)

	// Both hosts beat.
	seen := map[string]bool{}
	for deadline := time.After(10 * time.Second); !seen["host-one"] || !seen["host-two"]; {
		select {
		case m := <-beats:
			var hb struct {
				WorkerID string `json:"worker_id"`
			}
			require.NoError(t, json.Unmarshal(m.Data, &hb))
			seen[hb.WorkerID] = true
		case <-deadline:
			t.Fatalf("heartbeats from %v only", seen)
		}
	}

	// Assignments published to the stream are answered, each once.
	const n = 8
	for i := range n {
		body := fmt.Sprintf(`{"version":"1","assignment_id":"a-%d","request_id":"r-%d","job":{"type":"test.echo","payload":{"text":"hello %d"}}}`, i, i, i)
		_, err := js.Publish(ctx, "caf.exec.assign.v1", []byte(body))
		require.NoError(t, err)
	}
	answered := map[string]bool{}
	for deadline := time.After(30 * time.Second); len(answered) < n; {
		select {
		case m := <-results:
			var r struct {
				AssignmentID string            `json:"assignment_id"`
				Status       string            `json:"status"`
				ProviderID   string            `json:"provider_id"`
				Outputs      map[string]string `json:"outputs"`
			}
			require.NoError(t, json.Unmarshal(m.Data, &r))
			var i int
			_, err := fmt.Sscanf(r.AssignmentID, "a-%d", &i)
			require.NoError(t, err)
			assert.False(t, answered[r.AssignmentID], "%s answered twice", r.AssignmentID)
			answered[r.AssignmentID] = true
			assert.Equal(t, "success", r.Status)
			assert.Equal(t, fmt.Sprintf("hello %d", i), r.Outputs["text"])
			assert.Contains(t, []string{"host-one", "host-two"}, r.ProviderID)
		case <-deadline:
			t.Fatalf("%d of %d assignments answered", len(answered), n)
		}
	}
	nc.Close()
	// Host 2 first: host 1 runs the server.
	h2.shutdown(t)
	h1.shutdown(t)
	for _, s := range []*serveProc{h1, h2} {
		assert.Contains(t, s.stderr.String(), `"stream":"T_EXEC","consumer":"t_workers","claim_bucket":"t_claims"`)
		assert.Contains(t, s.stderr.String(), `"max_in_flight":8`)
	}
}

// TestServeDrainsBeforeClosingNATS: on shutdown with the NATS transport
// on, the host drains at once (/readyz 503) while an assignment still runs,
// and that assignment is answered before serve exits.
func TestServeDrainsBeforeClosingNATS(t *testing.T) {
	dir := t.TempDir()
	servePlugins(t, dir, "sleep")
	conf := filepath.Join(dir, "host.yaml")
	require.NoError(t, os.WriteFile(conf, []byte("listen: 127.0.0.1:0\nplugins_dir: plugins\ncache_dir: "+testblocks.CacheDir(t)+
		"\nshutdown_grace: 20s\nnats:\n  embedded: true\n  embedded_port: -1\n  storage: memory\n"), 0o644))
	srv := startServe(t, "--config", conf)
	defer srv.shutdown(t)
	addr, url := srv.addr, srv.embeddedURL(t)

	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	results := make(chan *nats.Msg, 4)
	_, err = nc.ChanSubscribe("caf.exec.result.v1", results)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.Publish(context.Background(), "caf.exec.assign.v1",
		[]byte(`{"version":"1","assignment_id":"slow-1","request_id":"r-1","job":{"type":"test.sleep","payload":{"ms":"1500"}}}`))
	require.NoError(t, err)

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Wait for the step to run.
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, body := get("/v1/pools")
		if strings.Contains(body, `"active":1`) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the assignment did not start: %s", body)
		time.Sleep(10 * time.Millisecond)
	}

	srv.stop()
	drained := time.Now()
	for {
		code, _ := get("/readyz")
		if code == http.StatusServiceUnavailable {
			break
		}
		require.Equal(t, http.StatusOK, code)
		require.Less(t, time.Since(drained), time.Second, "/readyz still ready a second after the signal")
		time.Sleep(5 * time.Millisecond)
	}
	assert.Empty(t, results, "the assignment was answered before the host drained")

	srv.shutdown(t)
	select {
	case m := <-results:
		var r struct {
			AssignmentID string `json:"assignment_id"`
			Status       string `json:"status"`
		}
		require.NoError(t, json.Unmarshal(m.Data, &r))
		assert.Equal(t, "slow-1", r.AssignmentID)
		assert.Equal(t, "success", r.Status)
	case <-time.After(5 * time.Second):
		t.Fatal("the assignment in flight was not answered")
	}
}
