package natsbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// The beamline subjects (reference/beamline-contracts.md).
const (
	SubjectAssign    = "caf.exec.assign.v1"
	SubjectAck       = "caf.exec.assign.v1.ack"
	SubjectResult    = "caf.exec.result.v1"
	SubjectDLQ       = "caf.exec.dlq.v1"
	SubjectHeartbeat = "caf.worker.heartbeat.v1"
	// StreamSubjects is what a stream created by Start captures: the
	// assignments and everything the workers answer with (not the
	// heartbeats, which are core NATS).
	StreamSubjects = "caf.exec.>"
)

// Defaults of Options.
const (
	DefaultStream            = "CAF_EXEC"
	DefaultConsumer          = "blockhost"
	DefaultClaimBucket       = "blockhost_claims"
	DefaultAckWait           = 30 * time.Second
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultRejectNakDelay    = time.Second
	DefaultClaimTTL          = 24 * time.Hour
	DefaultStreamMaxAge      = 24 * time.Hour
	DefaultDuplicateWindow   = 2 * time.Minute
	DefaultMaxInFlight       = 16
	// MinWait is the shortest AckWait and ClaimLease.
	MinWait = 30 * time.Millisecond
)

// PayloadStore reads the blob an assignment's job.payload_ref names. An
// error that matches fs.ErrNotExist fails the step with INVALID_INPUT (and
// a dead letter); any other error fails it with RESOURCE_UNAVAILABLE.
type PayloadStore func(ctx context.Context, key string) (string, error)

// Options configures a Bus. Only URL (or Conn) is required; every other
// zero field takes the default stated on it.
type Options struct {
	// URL is the NATS server (or comma-separated servers) to connect to.
	// Ignored when Conn is set.
	URL string
	// Conn is a connection the caller owns; Close then leaves it open
	// (it is flushed, not drained). Nil: Start connects to URL and Close
	// drains that connection.
	Conn *nats.Conn
	// ConnectOptions are added to the options Start connects with (name
	// "blockhost <worker id>", reconnect forever every 2 s).
	ConnectOptions []nats.Option

	// Stream is the JetStream stream of the assignments ("CAF_EXEC"). It is
	// created when absent, capturing caf.exec.> ; an existing stream is
	// reused when it captures the assign, ack, result and DLQ subjects.
	Stream string
	// Storage is the storage of a stream or bucket Start creates (file, the
	// zero value).
	Storage jetstream.StorageType
	// Replicas of a stream or bucket Start creates (1).
	Replicas int
	// StreamMaxAge bounds how long a created stream keeps messages (24 h).
	StreamMaxAge time.Duration
	// DuplicateWindow is a created stream's Nats-Msg-Id dedupe window
	// (2 min).
	DuplicateWindow time.Duration

	// Consumer is the durable pull consumer every host shares ("blockhost");
	// it filters caf.exec.assign.v1 only.
	Consumer string
	// AckWait is the consumer's ack wait (30 s): a delivery not acked,
	// nacked or marked in progress within it is delivered again. A running
	// step is marked in progress every third of it. When the consumer
	// already exists, its own AckWait is the one used.
	AckWait time.Duration
	// MaxDeliver bounds deliveries of one assignment (0: unlimited). On the
	// last allowed delivery, an assignment no host has room for gets an
	// error result (SYSTEM_OVERLOAD) instead of being nacked again.
	MaxDeliver int

	// ClaimBucket is the key-value bucket of claims ("blockhost_claims").
	ClaimBucket string
	// ClaimLease is how long a running step's claim stays valid without
	// renewal (AckWait/2). The claimer renews it every third of
	// min(ClaimLease, AckWait); a redelivered assignment whose claim was not
	// renewed for ClaimLease belongs to a host that died, and gets an error
	// result instead of a second run.
	ClaimLease time.Duration
	// ClaimTTL is how long a claim is kept after its last write (24 h); it
	// must exceed the time between an assignment's first and last delivery.
	ClaimTTL time.Duration

	// WorkerID names this host in results (provider_id), heartbeats and
	// claims. Default: the hostname and a random suffix.
	WorkerID string
	// HeartbeatInterval is the period of WorkerHeartbeats (5 s).
	HeartbeatInterval time.Duration
	// RejectNakDelay is how long an assignment this host had no room for
	// waits before it is delivered again, to any host (1 s).
	RejectNakDelay time.Duration
	// MaxInFlight bounds the assignments this host holds at once: the pull
	// batch and the concurrent steps. Default: twice the total concurrency
	// of the host's pools, at least 16.
	MaxInFlight int

	// PayloadStore reads job.payload_ref blobs; nil rejects such
	// assignments with INVALID_INPUT.
	PayloadStore PayloadStore
	// Logger receives the bus's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives worker_nats_messages_total{result}; nil means a
	// private registry.
	Registerer prometheus.Registerer
}

// withDefaults validates o and fills its defaults; totalConcurrency is the
// host's.
func (o Options) withDefaults(totalConcurrency int) (Options, error) {
	var errs []error
	if o.Conn == nil && o.URL == "" {
		errs = append(errs, errors.New("url is required"))
	}
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Consumer == "" {
		o.Consumer = DefaultConsumer
	}
	if o.ClaimBucket == "" {
		o.ClaimBucket = DefaultClaimBucket
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.StreamMaxAge == 0 {
		o.StreamMaxAge = DefaultStreamMaxAge
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.AckWait == 0 {
		o.AckWait = DefaultAckWait
	}
	if o.ClaimLease == 0 {
		o.ClaimLease = o.AckWait / 2
	}
	if o.ClaimTTL == 0 {
		o.ClaimTTL = DefaultClaimTTL
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.RejectNakDelay == 0 {
		o.RejectNakDelay = DefaultRejectNakDelay
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = max(DefaultMaxInFlight, 2*totalConcurrency)
	}
	if o.WorkerID == "" {
		o.WorkerID = defaultWorkerID()
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ack_wait", o.AckWait}, {"claim_lease", o.ClaimLease}, {"claim_ttl", o.ClaimTTL},
		{"heartbeat_interval", o.HeartbeatInterval}, {"reject_nak_delay", o.RejectNakDelay},
		{"stream_max_age", o.StreamMaxAge}, {"duplicate_window", o.DuplicateWindow}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %v", d.name, d.v))
		}
	}
	if o.AckWait > 0 && o.AckWait < MinWait {
		errs = append(errs, fmt.Errorf("ack_wait must be at least %v, got %v", MinWait, o.AckWait))
	}
	if o.ClaimLease > 0 && o.ClaimLease < MinWait {
		errs = append(errs, fmt.Errorf("claim_lease must be at least %v, got %v", MinWait, o.ClaimLease))
	}
	if o.ClaimTTL > 0 && o.ClaimTTL < 2*o.AckWait {
		errs = append(errs, fmt.Errorf("claim_ttl (%v) must be at least twice ack_wait (%v)", o.ClaimTTL, o.AckWait))
	}
	if o.MaxDeliver < 0 {
		o.MaxDeliver = 0
	}
	if o.MaxDeliver == 1 {
		errs = append(errs, errors.New("max_deliver must be 0 (unlimited) or at least 2: a host with no room nacks assignments"))
	}
	if o.MaxInFlight < 0 {
		errs = append(errs, fmt.Errorf("max_in_flight must not be negative, got %d", o.MaxInFlight))
	}
	if !ValidWorkerID(o.WorkerID) {
		errs = append(errs, fmt.Errorf("worker_id %q: use letters, digits, '-', '_' and '.'", o.WorkerID))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	return o, errors.Join(errs...)
}

func defaultWorkerID() string {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "blockhost"
	}
	clean := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		if c := name[i]; isKeyChar(c) {
			clean = append(clean, c)
		} else {
			clean = append(clean, '-')
		}
	}
	var r [3]byte
	rand.Read(r[:])
	return string(clean) + "-" + hex.EncodeToString(r[:])
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// ValidWorkerID reports whether s may be Options.WorkerID: 1 to 128 letters,
// digits, '-', '_' and dots, with no dot first, last or after another (it
// names claims, a key-value key).
func ValidWorkerID(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isKeyChar(c) && !(c == '.' && s[i-1] != '.') {
			return false
		}
	}
	return true
}
