package load

import (
	"bufio"
	"context"
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
	"time"
)

// BuildServer builds the blockhost binary (./cmd/host of the module at
// root) into out with the go command goBin ("" = go).
func BuildServer(ctx context.Context, root, out, goBin string) error {
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "./cmd/host")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/host: %v\n%s", err, b)
	}
	return nil
}

// Server is a `blockhost serve` child process.
type Server struct {
	// URL is the base URL of its HTTP API.
	URL string
	// PID is its process id.
	PID int
	// LogPath is the file its stdout and stderr go to.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// ServerOptions start a server.
type ServerOptions struct {
	// Bin is the blockhost binary.
	Bin string
	// Config is the YAML config file's text; its listen is overridden with
	// 127.0.0.1:0 unless Listen is set.
	Config string
	// Dir holds the config file and the log (default: a new temp dir).
	Dir string
	// Listen overrides the address (e.g. the previous run's, to restart on
	// the same port).
	Listen string
	// Env is added to the environment (CP2_* and BLOCKHOST_* of this
	// process are removed first so the shell cannot change the outcome).
	Env []string
	// Ready bounds the wait for the startup line and /readyz (60 s).
	Ready time.Duration
}

// StartServer starts `blockhost serve --config` and waits until it serves:
// the startup log line gives its address ("listen") and /readyz answers
// 200.
func StartServer(ctx context.Context, o ServerOptions) (*Server, error) {
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "blockhost-server-")
		if err != nil {
			return nil, err
		}
		o.Dir = d
	}
	if o.Ready == 0 {
		o.Ready = 60 * time.Second
	}
	cfgPath := filepath.Join(o.Dir, "host.yaml")
	if err := os.WriteFile(cfgPath, []byte(o.Config), 0o644); err != nil {
		return nil, err
	}
	listen := o.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	s := &Server{LogPath: filepath.Join(o.Dir, fmt.Sprintf("blockhost-%d.log", time.Now().UnixNano())), done: make(chan struct{})}
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(o.Bin, "serve", "--config", cfgPath, "--listen", listen)
	s.cmd.Env = append(cleanEnv(), o.Env...)
	s.cmd.Stdout = logf
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s.PID = s.cmd.Process.Pid
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		found := false
		for sc.Scan() {
			line := sc.Bytes()
			logf.Write(append(line, '\n'))
			if found {
				continue
			}
			var rec struct {
				Message string `json:"message"`
				Msg     string `json:"msg"`
				Listen  string `json:"listen"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && (rec.Listen != "" || rec.Addr != "") &&
				strings.Contains(rec.Message+rec.Msg, "serving") {
				found = true
				addrc <- rec.Listen + rec.Addr
			}
		}
		io.Copy(logf, stderr)
		err := s.cmd.Wait()
		logf.Close()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	}()
	timer := time.NewTimer(o.Ready)
	defer timer.Stop()
	select {
	case addr := <-addrc:
		s.URL = "http://" + addr
	case <-s.done:
		return nil, fmt.Errorf("blockhost serve exited (%v) before listening; log %s:\n%s", s.Err(), s.LogPath, tail(s.LogPath))
	case <-timer.C:
		s.Kill()
		return nil, fmt.Errorf("blockhost serve printed no startup line within %v; log %s:\n%s", o.Ready, s.LogPath, tail(s.LogPath))
	case <-ctx.Done():
		s.Kill()
		return nil, ctx.Err()
	}
	if err := s.WaitReady(ctx, o.Ready); err != nil {
		s.Kill()
		return nil, err
	}
	return s, nil
}

// WaitReady polls /readyz every 20 ms until it answers 200 or within
// passes.
func (s *Server) WaitReady(ctx context.Context, within time.Duration) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		resp, err := c.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		last = err
		select {
		case <-s.done:
			return fmt.Errorf("blockhost serve exited (%v); log:\n%s", s.Err(), tail(s.LogPath))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready within %v: %v", within, last)
}

// Done is closed when the process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the process's exit error once Done is closed.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Kill sends SIGKILL and waits up to 10 s for the process to exit.
func (s *Server) Kill() error {
	s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("blockhost serve still running 10 s after SIGKILL")
	}
}

// Stop sends SIGTERM and waits up to within for the process to exit, then
// kills it.
func (s *Server) Stop(within time.Duration) error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(within):
		s.Kill()
		return fmt.Errorf("blockhost serve still running %v after SIGTERM", within)
	}
}

// Listen returns the host:port the server listens on.
func (s *Server) Listen() string { return strings.TrimPrefix(s.URL, "http://") }

// cleanEnv is this process's environment without the variables blockhost
// reads.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CP2_") || strings.HasPrefix(kv, "BLOCKHOST_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// tail returns the last 4 KiB of a file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// ServerConfig returns a blockhost YAML config serving dir with every CP2
// flag on (cp2) or off, logs at info (per-step lines are debug), no
// plugin watching, and extra appended verbatim (more top-level keys).
func ServerConfig(dir, cacheDir string, cp2 bool, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugins_dir: %s\nwatch_plugins: false\n", dir)
	if cacheDir != "" {
		fmt.Fprintf(&b, "cache_dir: %s\n", cacheDir)
	}
	fmt.Fprintf(&b, "shutdown_grace: 5s\nlog:\n  level: info\n  format: json\nfeatures:\n")
	for _, k := range []string{"advanced_retry", "complete_timeout", "cancellation", "queue_management", "circuit_breaker"} {
		fmt.Fprintf(&b, "  %s: %t\n", k, cp2)
	}
	b.WriteString(extra)
	return b.String()
}
