package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"github.com/beamline/blockhost/host/natsbus"
	"github.com/beamline/blockhost/host/natsbus/natsembed"
	fscap "github.com/beamline/blockhost/plugins/fs"
	"github.com/beamline/blockhost/sandbox"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/host/httpapi"
)

const serveUsage = `blockhost serve --config FILE [--listen ADDR] [--plugins DIR] [--cp2-FLAG true|false ...]

Serves the HTTP API (POST /v1/steps, /metrics, /readyz, ...) for the blocks
of the plugins directory: NAME.wasm with its manifest NAME.yaml beside it.

Settings come from the config file (see examples/host.yaml); --listen,
--plugins, --nats, --nats-embedded, --nats-embedded-port and
--nats-payload-root, when given, override it. Each CP2 flag is resolved
as: --cp2-FLAG, else the environment variable CP2_FLAG_ENABLED, else
features.FLAG of the config file, else false (the CP1 baseline). BLOCKHOST_API_TOKEN overrides
api_token. --listen 127.0.0.1:0 picks a free port; the startup log line
gives the bound address.

On SIGTERM or SIGINT the host drains (new steps get 503, /readyz answers
503), waits up to shutdown_grace (30s) for steps in flight, answers them,
then exits 0. A second signal ends the process at once.
`

func (c *cli) serve(ctx context.Context, args []string) int {
	fs := c.flagSet("serve")
	configPath := fs.String("config", "", "config `FILE` (YAML); without it every setting has its default")
	listen := fs.String("listen", "", "listen `ADDR` (default 127.0.0.1:8080, or listen: of the config)")
	plugins := fs.String("plugins", "", "plugins `DIR` (default plugins_dir: of the config)")
	var nf natsFlags
	nf.register(fs)
	var ff featureFlags
	ff.register(fs)
	if code, ok := c.parse(fs, serveUsage, args, false); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageError(fs, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}

	cfg := defaultFileConfig()
	if *configPath != "" {
		var err error
		if cfg, err = loadConfig(*configPath); err != nil {
			fmt.Fprintln(c.stderr, err)
			return exitUsage
		}
	}
	feats, err := resolveFeatures(cfg.Features, c.lookup, ff)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitUsage
	}
	cfg.Features = feats
	if tok, ok := c.lookup(envAPIToken); ok {
		cfg.APIToken = tok
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *plugins != "" {
		cfg.PluginsDir = *plugins
	}
	nf.apply(fs, &cfg)
	if cfg.NATS.Embedded && cfg.NATS.Replicas > 1 {
		return c.usageError(fs, fmt.Sprintf("the embedded NATS server is a single node: nats.replicas is %d, want 1", cfg.NATS.Replicas))
	}
	if cfg.PluginsDir == "" {
		return c.usageError(fs, "no plugins directory: set plugins_dir in the config file or pass --plugins DIR")
	}
	if st, err := os.Stat(cfg.PluginsDir); err != nil || !st.IsDir() {
		fmt.Fprintf(c.stderr, "blockhost serve: plugins directory %s: not a readable directory\n", cfg.PluginsDir)
		return exitUsage
	}
	root := newLogger(c.stderr, cfg.LogFormat, cfg.LogLevel)
	log := component(root, "blockhost")
	if err := serve(ctx, cfg, root, c.stopSignals, c.ready); err != nil {
		log.Error("blockhost stopped", slog.String("error", err.Error()))
		return exitFailure
	}
	return exitOK
}

// natsFlags are serve's NATS flags. Each one given on the command line
// overrides its key of the config file's nats section; one left out keeps
// the file's value.
type natsFlags struct {
	url          string
	embedded     bool
	embeddedPort int
	payloadRoot  string
}

func (nf *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&nf.url, "nats", "", "consume assignments from NATS JetStream at `URL` (see docs/scaling.md); overrides nats.url of the config file")
	fs.StringVar(&nf.payloadRoot, "nats-payload-root", "", "blob root `DIR` that ExecAssignment job.payload_ref keys are read from (read-only); overrides nats.payload_root of the config file")
	fs.BoolVar(&nf.embedded, "nats-embedded", false, "start an in-process NATS server with JetStream and consume from it (one-machine demo); overrides nats.embedded of the config file")
	fs.Func("nats-embedded-port", "`PORT` of the embedded NATS server (default 4222; 0 or -1: a random free port); overrides nats.embedded_port of the config file", func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < -1 || n > 65535 {
			return errors.New("want a port 1-65535, or 0 or -1 for a random free port")
		}
		nf.embeddedPort = embeddedPort(n)
		return nil
	})
}

// apply sets on c the flags of fs, parsed already, that were given.
func (nf *natsFlags) apply(fs *flag.FlagSet, c *fileConfig) {
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "nats":
			c.NATS.URL = nf.url
		case "nats-embedded":
			c.NATS.Embedded = nf.embedded
		case "nats-embedded-port":
			c.NATS.EmbeddedPort = nf.embeddedPort
		case "nats-payload-root":
			c.NATS.PayloadRoot = nf.payloadRoot
		}
	})
}

// serve runs the daemon until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, cfg fileConfig, root *slog.Logger, stopSignals func(), ready func(string)) error {
	log := component(root, "blockhost")
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hc := cfg.hostConfig()
	hc.Logger = root // the host names its own component
	hc.Registerer = reg
	h, err := host.New(hc)
	if err != nil {
		return fmt.Errorf("host: %w", err)
	}
	closeHost := func(timeout time.Duration) {
		cctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := h.Close(cctx); err != nil {
			log.Warn("closing the host", slog.String("error", err.Error()))
		}
	}

	if err := h.LoadDir(ctx, cfg.PluginsDir); err != nil {
		// The blocks that loaded are served; the others are listed by
		// GET /v1/blocks with their last_error, and a fix is picked up by
		// the next reload.
		log.Warn("some blocks did not load", slog.String("plugins_dir", cfg.PluginsDir), slog.String("error", err.Error()))
	}
	// SIGHUP rescans the plugins directory, like POST /v1/blocks/reload.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := h.Reload(context.WithoutCancel(ctx)); err != nil {
					log.Warn("reload on SIGHUP", slog.String("error", err.Error()))
				} else {
					log.Info("reloaded on SIGHUP")
				}
			}
		}
	}()
	if cfg.WatchPlugins {
		// Hot reload until ctx ends (the first signal).
		if err := h.Watch(ctx, cfg.PluginsDir); err != nil {
			log.Warn("not watching the plugins directory; use POST /v1/blocks/reload", slog.String("error", err.Error()))
		}
	}

	var bus *natsbus.Bus
	if cfg.NATS.enabled() {
		o, eo := cfg.NATS.options()
		o.Logger, o.Registerer = root, reg
		if cfg.NATS.PayloadRoot != "" {
			store, err := fscap.New(fscap.Config{Features: hc.Features})
			if err != nil {
				closeHost(time.Second)
				return err
			}
			grant := sandbox.FSGrant{Root: cfg.NATS.PayloadRoot, ReadOnly: true}
			o.PayloadStore = func(ctx context.Context, key string) (string, error) {
				r, _, err := store.Open(ctx, grant, "", key)
				if err != nil {
					return "", err
				}
				defer r.Close()
				limit := hc.Limits.MaxInputBytes
				if limit <= 0 {
					limit = 128 << 20 // the host's default max_input_bytes
				}
				b, err := io.ReadAll(io.LimitReader(r, limit+1))
				if err != nil {
					return "", err
				}
				if int64(len(b)) > limit {
					return "", fmt.Errorf("payload %q is larger than max_input_bytes", key)
				}
				return string(b), nil
			}
		}
		if cfg.NATS.Embedded {
			eo.Logger = root
			url, stop, err := natsembed.Start(eo)
			if err != nil {
				closeHost(time.Second)
				return fmt.Errorf("embedded nats: %w", err)
			}
			defer stop()
			o.URL = url
			log.Info("embedded NATS server started", slog.String("url", url))
		}
		if bus, err = natsbus.Start(ctx, h, o); err != nil {
			closeHost(time.Second)
			return fmt.Errorf("nats: %w", err)
		}
	}
	// closeBus waits for the assignments in flight until deadline.
	closeBus := func(deadline time.Time) {
		if bus == nil {
			return
		}
		bctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if err := bus.Close(bctx); err != nil {
			log.Warn("closing the NATS bus", slog.String("error", err.Error()))
		}
	}

	maxBody := httpapi.DefaultMaxBodyBytes
	if cfg.Limits.MaxInputBytes > 0 {
		maxBody = cfg.Limits.MaxInputBytes + 1<<20
	}
	srv := &http.Server{
		Handler: httpapi.New(h, httpapi.Options{
			Token:        cfg.APIToken,
			Gatherer:     reg,
			Logger:       component(root, "httpapi"),
			MaxBodyBytes: maxBody,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(component(root, "http").Handler(), slog.LevelWarn),
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			closeHost(time.Second)
			return fmt.Errorf("tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		closeHost(time.Second)
		return err
	}
	addr := ln.Addr().String()

	blocks := h.Blocks()
	names := make([]string, len(blocks))
	for i, b := range blocks {
		names[i] = b.Name
	}
	log.LogAttrs(ctx, slog.LevelInfo, "blockhost serving",
		slog.String("listen", addr),
		slog.Bool("tls", srv.TLSConfig != nil),
		slog.Bool("auth", cfg.APIToken != ""),
		slog.String("plugins_dir", cfg.PluginsDir),
		slog.Bool("watch_plugins", cfg.WatchPlugins),
		slog.String("cache_dir", cfg.CacheDir),
		featureAttrs(h.Features()),
		slog.Int("blocks", len(blocks)),
		slog.Any("block_names", names),
		slog.String("version", version))
	if ready != nil {
		ready(addr)
	}

	served := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()

	select {
	case err := <-served:
		closeBus(time.Now().Add(5 * time.Second))
		closeHost(5 * time.Second)
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	if stopSignals != nil {
		stopSignals()
	}
	start := time.Now()
	deadline := start.Add(cfg.ShutdownGrace)
	log.Info("draining", slog.String("shutdown_grace", cfg.ShutdownGrace.String()))
	// Drain first, so that /readyz and new steps answer 503 at once (the
	// listener stays open while steps finish, instead of refusing
	// connections) and assignments not yet started go back to NATS for
	// another host; then the bus answers the ones in flight and the host
	// closes, all within the one grace period (the host gets at least a
	// second to cancel what is left).
	h.Drain()
	closeBus(deadline)
	closeHost(max(time.Second, time.Until(deadline)))
	// Then the server stops accepting and waits for the answers still being
	// written.
	sctx, cancel := context.WithTimeout(context.Background(), max(time.Second, cfg.ShutdownGrace-time.Since(start)))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", slog.String("error", err.Error()))
		srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http server", slog.String("error", err.Error()))
	}
	log.Info("stopped", slog.String("took", time.Since(start).Round(time.Millisecond).String()))
	return nil
}
