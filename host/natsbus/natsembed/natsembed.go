// Package natsembed runs an in-process NATS server with JetStream, for a
// one-machine blockhost cluster (`blockhost serve --nats-embedded`) and for
// tests. It is a separate package so that importing natsbus does not link
// the server into programs that only connect to one.
package natsembed

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configures the embedded server. The zero value listens on
// 127.0.0.1:4222 with file storage in a temporary directory.
type Options struct {
	// Host is the address to listen on (127.0.0.1). Listening beyond
	// loopback exposes an unauthenticated server: do it on a trusted
	// network only.
	Host string
	// Port to listen on: 0 is NATS's default 4222, -1 a random free port.
	Port int
	// StoreDir holds JetStream's files. Empty: a temporary directory,
	// removed at shutdown.
	StoreDir string
	// MaxPayload bounds one message (the server's default, 1 MiB, when 0).
	MaxPayload int32
	// ReadyTimeout bounds the wait for the server to accept connections
	// (10 s).
	ReadyTimeout time.Duration
	// Logger receives the server's notices and errors; nil discards them.
	Logger *slog.Logger
}

// Start starts the server and returns its client URL and a function that
// shuts it down and waits for it (safe to call more than once).
func Start(o Options) (url string, shutdown func(), err error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	tmp := ""
	if o.StoreDir == "" {
		if tmp, err = os.MkdirTemp("", "blockhost-nats-"); err != nil {
			return "", nil, err
		}
		o.StoreDir = tmp
	}
	cleanup := func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "blockhost-embedded",
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		MaxPayload: o.MaxPayload,
		NoSigs:     true,
		NoLog:      o.Logger == nil,
	})
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("embedded nats: %w", err)
	}
	if o.Logger != nil {
		s.SetLoggerV2(&logger{l: o.Logger.With("component", "nats-server")}, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(o.ReadyTimeout) {
		s.Shutdown()
		s.WaitForShutdown()
		cleanup()
		return "", nil, errors.New("embedded nats: not ready for connections within " + o.ReadyTimeout.String())
	}
	var once sync.Once
	return s.ClientURL(), func() {
		once.Do(func() {
			s.Shutdown()
			s.WaitForShutdown()
			cleanup()
		})
	}, nil
}

// logger adapts slog to the server's Logger interface.
type logger struct{ l *slog.Logger }

func (l *logger) Noticef(format string, v ...any) { l.l.Info(fmt.Sprintf(format, v...)) }
func (l *logger) Warnf(format string, v ...any)   { l.l.Warn(fmt.Sprintf(format, v...)) }
func (l *logger) Fatalf(format string, v ...any)  { l.l.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Errorf(format string, v ...any)  { l.l.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Debugf(format string, v ...any)  { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Tracef(format string, v ...any)  { l.l.Debug(fmt.Sprintf(format, v...)) }
