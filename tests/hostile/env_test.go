package hostile

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/internal/testblocks"
	"github.com/beamline/blockhost/policy"
	"github.com/beamline/blockhost/sandbox"
)

// Limits of the host under test, lowered so that floods hit them fast.
const (
	maxOutputBytes = 1 << 20
	maxLogBytes    = 64 << 10
	memoryPages    = 512
	maxHandles     = 64
)

// secretText is the content of the file beside the blob root that no
// block may read, change or delete.
const secretText = "the secret beside the blob root\n"

// env is a host with every block of the suite loaded, the servers and
// directories the blocks are pointed at, and the host's captured log.
type env struct {
	feat policy.Features
	h    *host.Host
	logs *logStore

	root    string // the blob root granted to the blocks
	outside string // beside root: nothing may reach it
	secret  string // outside/secret.txt

	// internal stands for a service on the host's own network: no block
	// may reach it, directly or by redirect.
	internal *countingServer
	// redirector is the one server escape_allow may reach; it redirects to
	// places that are not allowed.
	redirector *countingServer
	// stall answers /stall with a response body that never ends and counts
	// the requests it is still serving; /ok answers "ok".
	stall *stallServer

	seq atomic.Int64
}

// newEnv starts the servers, prepares the blob root and loads every block
// into a host with the given CP2 flags. Everything is released when t ends.
func newEnv(t *testing.T, feat policy.Features) *env {
	e := &env{feat: feat, logs: newLogStore()}
	dir := t.TempDir()
	e.root = filepath.Join(dir, "root")
	e.outside = filepath.Join(dir, "outside")
	e.secret = filepath.Join(e.outside, "secret.txt")
	for _, d := range []string{e.root, e.outside} {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	require.NoError(t, os.WriteFile(e.secret, []byte(secretText), 0o600))
	// Ways out of the root that only the jail stops: a file symlink and a
	// directory symlink pointing outside it.
	require.NoError(t, os.Symlink(filepath.Join("..", "outside", "secret.txt"), filepath.Join(e.root, "link")))
	require.NoError(t, os.Symlink(e.outside, filepath.Join(e.root, "dirlink")))
	require.NoError(t, os.WriteFile(filepath.Join(e.root, "hogsrc.txt"), []byte("read me many times"), 0o600))

	e.internal = newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "internal service: "+secretText)
	}))
	internalPort := e.internal.port()
	e.redirector = newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := map[string]string{
			"/to-internal":  e.internal.URL + "/",
			"/to-localhost": "http://localhost:" + internalPort + "/",
			"/to-metadata":  "http://169.254.169.254/latest/meta-data/",
			"/to-file":      "file:///etc/passwd",
			"/loop":         "/loop",
		}[r.URL.Path]
		if to == "" {
			io.WriteString(w, "ok")
			return
		}
		http.Redirect(w, r, to, http.StatusFound)
	}))
	e.stall = newStallServer(t)

	cfg := host.Config{
		Features: feat,
		Retry:    policy.RetryConfig{Base: time.Millisecond, Cap: 10 * time.Millisecond},
		Limits: host.Limits{
			MemoryPages:    memoryPages,
			MaxOutputBytes: maxOutputBytes,
			MaxLogBytes:    maxLogBytes,
			MaxHandles:     maxHandles,
		},
		CacheDir: testblocks.CacheDir(t),
		Logger:   slog.New(e.logs),
		Blocks: map[string]host.BlockPolicy{
			"escape": {
				HTTP: sandbox.HTTPGrant{Allow: []string{"*"}},
				FS:   sandbox.FSGrant{Root: e.root},
			},
			"escape_allow": {
				HTTP: sandbox.HTTPGrant{Allow: []string{e.redirector.URL}, AllowPrivate: true},
			},
			"escape_tenant": {
				FS: sandbox.FSGrant{Root: e.root, PerTenant: true},
			},
			"midwrite": {
				HTTP: sandbox.HTTPGrant{Allow: []string{e.stall.URL}, AllowPrivate: true},
				FS:   sandbox.FSGrant{Root: e.root},
			},
			"hog": {
				HTTP: sandbox.HTTPGrant{Allow: []string{e.stall.URL}, AllowPrivate: true},
				FS:   sandbox.FSGrant{Root: e.root},
			},
			"trapafter": {FS: sandbox.FSGrant{Root: e.root}},
		},
	}
	h, err := host.New(cfg)
	require.NoError(t, err)
	e.h = h
	t.Cleanup(func() { closeHost(t, h) })

	ctx := context.Background()
	blocks := testblocks.Dir(t)
	for _, name := range []string{"echo", "loop", "sleep", "panic", "membomb", "flood", "handles"} {
		_, err := h.LoadFile(ctx, filepath.Join(blocks, name+".wasm"))
		require.NoError(t, err, "loading %s", name)
	}
	const capHTTP, capFS = "  http: {allow: [\"*\"]}\n", "  fs: {}\n"
	e.load(t, filepath.Join(blocks, "escape.wasm"), "escape", "shared", capHTTP+capFS)
	e.load(t, filepath.Join(blocks, "escape.wasm"), "escape_allow", "shared", capHTTP)
	e.load(t, filepath.Join(blocks, "escape.wasm"), "escape_tenant", "tenant", capFS)
	e.load(t, filepath.Join(blocks, "midwrite.wasm"), "midwrite", "shared", capHTTP+capFS)
	e.load(t, filepath.Join(blocks, "hog.wasm"), "hog", "shared", capHTTP+capFS)
	e.load(t, testdata("badptr.wasm"), "badptr", "shared", "")
	e.load(t, testdata("recurse.wasm"), "recurse", "shared", "")
	e.load(t, testdata("grow.wasm"), "grow", "shared", "")
	e.load(t, testdata("trapafter.wasm"), "trapafter", "shared", capFS)
	// With isolation step no instance is warmed at load: every step needs
	// a new one, and its _initialize never returns.
	e.load(t, testdata("initloop.wasm"), "initloop", "step", "")

	// Warm an echo instance for each good worker, so that no case pays
	// for instantiating them.
	var wg sync.WaitGroup
	errs := make([]error, goodWorkers)
	for w := range goodWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = e.good(w)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err, "a good step before the hostile cases")
	}
	return e
}

// load loads wasm as block name serving type test.<name>, with the given
// isolation and capabilities (YAML lines under "capabilities:").
func (e *env) load(t *testing.T, path, name, isolation, capabilities string) {
	t.Helper()
	wasm, err := os.ReadFile(path)
	require.NoError(t, err)
	manifest := fmt.Sprintf("name: %s\nversion: test\ntypes: [test.%s]\nisolation: %s\n", name, name, isolation)
	if capabilities != "" {
		manifest += "capabilities:\n" + capabilities
	}
	m, err := sandbox.ParseManifest([]byte(manifest), name+".yaml", name)
	require.NoError(t, err)
	_, err = e.h.LoadBlock(context.Background(), wasm, m)
	require.NoError(t, err, "loading %s", name)
}

func testdata(name string) string { return filepath.Join("testdata", name) }

func closeHost(t *testing.T, h *host.Host) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, h.Close(ctx))
}

// stepID returns a step id unique in the env, naming the case.
func (e *env) stepID(what string) string {
	return what + "-" + strconv.FormatInt(e.seq.Add(1), 10)
}

// good runs one good step: echo of input v on the good tenant.
func (e *env) good(i int) error {
	v := strconv.Itoa(i)
	res, err := e.h.Execute(context.Background(), host.StepRequest{Type: "test.echo",
		Inputs: map[string]string{"v": v}, Context: host.BlockContext{TenantID: "good"}})
	switch {
	case err != nil:
		return err
	case res.Status != host.StatusSuccess:
		return fmt.Errorf("echo %s: %s %s: %s", v, res.Status, res.ErrorCode, res.ErrorMessage)
	case res.Outputs["v"] != v:
		return fmt.Errorf("echo %s: got %q", v, res.Outputs["v"])
	}
	return nil
}

// timeoutWords is what the message of a step stopped at its deadline says.
func (e *env) timeoutWords() string {
	if e.feat.BudgetEnabled() {
		return "step budget exhausted"
	}
	return "attempt timed out"
}

// tempFiles lists the temporary files of blob writes under the root.
func (e *env) tempFiles() []string {
	var found []string
	filepath.WalkDir(e.root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), sandbox.TempPrefix) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// regularFiles lists the regular files under dir (relative), nil if none.
func regularFiles(dir string) []string {
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			found = append(found, rel)
		}
		return nil
	})
	return found
}

// openUnder lists this process's open file descriptors on files under dir
// (Linux; nil elsewhere).
func openUnder(dir string) []string {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var found []string
	for _, ent := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", ent.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			found = append(found, target)
		}
	}
	return found
}

// settled checks, polling until a deadline, that the blob root holds no
// temporary file and no file under it is open, and that the stall server
// serves no request any more: whatever a step left open was released.
func (e *env) settled(t *testing.T) {
	t.Helper()
	eventually(t, 5*time.Second, func() string {
		if tmp := e.tempFiles(); len(tmp) > 0 {
			return fmt.Sprintf("temporary blob files left: %v", tmp)
		}
		if open := openUnder(e.root); len(open) > 0 {
			return fmt.Sprintf("files under the blob root still open: %v", open)
		}
		if n := e.stall.active.Load(); n > 0 {
			return fmt.Sprintf("%d HTTP responses still being served (their handles were not closed)", n)
		}
		return ""
	})
}

// eventually polls cond until it returns "" or d passes, then fails with
// its last answer.
func eventually(t *testing.T, d time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, why)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countingServer is an httptest server counting the requests it got.
type countingServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newCountingServer(t *testing.T, h http.Handler) *countingServer {
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *countingServer) port() string {
	return s.URL[strings.LastIndexByte(s.URL, ':')+1:]
}

// stallServer serves /stall with a response that promises 1000 bytes,
// sends 7 and then waits for the client to go away; active counts the
// requests being served, served all it received.
type stallServer struct {
	*httptest.Server
	active atomic.Int64
	served atomic.Int64
	done   chan struct{}
	once   sync.Once
}

func newStallServer(t *testing.T) *stallServer {
	s := &stallServer{done: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stall" {
			io.WriteString(w, "ok")
			return
		}
		s.served.Add(1)
		s.active.Add(1)
		defer s.active.Add(-1)
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
	}))
	t.Cleanup(func() {
		s.once.Do(func() { close(s.done) })
		s.Close()
	})
	return s
}

// logStore is a slog.Handler keeping, per step id, what the host logged of
// the guest: its log, stdout and stderr entries and the truncation marker.
type logStore struct {
	mu    sync.Mutex
	steps map[string]*guestLog
}

// guestLog is what the host logged of one step's guest.
type guestLog struct {
	entries   int // guest log, stdout and stderr entries
	bytes     int // their text
	truncated int // "guest log truncated" markers
}

func newLogStore() *logStore { return &logStore{steps: map[string]*guestLog{}} }

func (s *logStore) Enabled(context.Context, slog.Level) bool { return true }
func (s *logStore) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logStore) WithGroup(string) slog.Handler            { return s }

func (s *logStore) Handle(_ context.Context, r slog.Record) error {
	guest, marker := false, false
	switch r.Message {
	case "guest log", "guest stdout", "guest stderr":
		guest = true
	case "guest log truncated":
		marker = true
	default:
		return nil
	}
	var step, text string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "step_id":
			step = a.Value.String()
		case "text":
			text = a.Value.String()
		}
		return true
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.steps[step]
	if g == nil {
		g = &guestLog{}
		s.steps[step] = g
	}
	if guest {
		g.entries++
		g.bytes += len(text)
	}
	if marker {
		g.truncated++
	}
	return nil
}

// of returns what was logged of step id.
func (s *logStore) of(id string) guestLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.steps[id]; g != nil {
		return *g
	}
	return guestLog{}
}

// wantStatus is the decimal status of code negated, as blocks report it.
func wantStatus(c abi.Code) string { return strconv.Itoa(int(c.Status())) }
