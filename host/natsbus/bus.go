package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/beamline/blockhost/host"
)

// Runner is what the bus needs of a host; *host.Host implements it.
type Runner interface {
	Execute(ctx context.Context, req host.StepRequest) (host.StepResult, error)
	Pools() []host.PoolInfo
	InFlight() int
	Blocks() []host.BlockInfo
}

var _ Runner = (*host.Host)(nil)

// Bus consumes assignments from JetStream and runs them on a host. Safe
// for concurrent use.
type Bus struct {
	o   Options
	h   Runner
	nc  *nats.Conn
	own bool
	js  jetstream.JetStream
	con jetstream.Consumer
	kv  jetstream.KeyValue
	log *slog.Logger
	met *metrics

	ackWait    time.Duration // the consumer's
	tick       time.Duration // in-progress and lease-renewal period
	maxDeliver int           // the consumer's; <= 0 unlimited
	maxPayload int

	slots     chan struct{} // one per assignment held
	handlers  sync.WaitGroup
	stopping  atomic.Bool
	stopFetch context.CancelFunc
	fetchDone chan struct{}
	hbStop    chan struct{}
	hbDone    chan struct{}
	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	running map[string]*job // by assignment id

	typesMu sync.Mutex
	types   map[string]bool
}

// fetchExpiry bounds one pull request; Close cancels it sooner.
const fetchExpiry = 2 * time.Second

// Start connects (unless o.Conn is set), makes sure the stream, the durable
// consumer and the claims bucket exist, and starts taking assignments for
// h and publishing heartbeats. ctx bounds the set-up only.
func Start(ctx context.Context, h Runner, o Options) (*Bus, error) {
	total := 0
	for _, p := range h.Pools() {
		total += p.MaxConcurrency
	}
	o, err := o.withDefaults(total)
	if err != nil {
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	b := &Bus{o: o, h: h, log: o.Logger.With("component", "natsbus", "worker_id", o.WorkerID),
		running: map[string]*job{}, types: map[string]bool{}}
	if b.met, err = newMetrics(o.Registerer); err != nil {
		return nil, fmt.Errorf("natsbus metrics: %w", err)
	}
	b.nc = o.Conn
	if b.nc == nil {
		opts := append([]nats.Option{nats.Name("blockhost " + o.WorkerID), nats.MaxReconnects(-1),
			nats.ReconnectWait(2 * time.Second)}, o.ConnectOptions...)
		if b.nc, err = nats.Connect(o.URL, opts...); err != nil {
			return nil, fmt.Errorf("natsbus: connecting to %s: %w", redactURL(o.URL), err)
		}
		b.own = true
	}
	if err := b.setup(ctx); err != nil {
		if b.own {
			b.nc.Close()
		}
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	b.slots = make(chan struct{}, o.MaxInFlight)
	fctx, cancel := context.WithCancel(context.Background())
	b.stopFetch = cancel
	b.fetchDone = make(chan struct{})
	b.hbStop = make(chan struct{})
	b.hbDone = make(chan struct{})
	go b.heartbeatLoop()
	go b.fetchLoop(fctx)
	b.log.Info("consuming assignments", "url", redactURL(b.nc.ConnectedUrl()), "stream", o.Stream,
		"consumer", o.Consumer, "claim_bucket", o.ClaimBucket, "ack_wait", b.ackWait,
		"claim_lease", o.ClaimLease, "max_in_flight", o.MaxInFlight)
	return b, nil
}

func (b *Bus) setup(ctx context.Context) error {
	var err error
	if b.js, err = jetstream.New(b.nc); err != nil {
		return err
	}
	if _, err = ensureStream(ctx, b.js, b.o); err != nil {
		return err
	}
	if b.con, err = ensureConsumer(ctx, b.js, b.o); err != nil {
		return err
	}
	if b.kv, err = ensureBucket(ctx, b.js, b.o); err != nil {
		return err
	}
	cfg := b.con.CachedInfo().Config
	b.ackWait, b.maxDeliver = cfg.AckWait, cfg.MaxDeliver
	if b.ackWait <= 0 {
		b.ackWait = DefaultAckWait
	}
	b.tick = min(b.ackWait, b.o.ClaimLease) / 3
	b.maxPayload = int(b.nc.MaxPayload())
	return nil
}

// WorkerID returns the id this bus publishes as provider_id and worker_id.
func (b *Bus) WorkerID() string { return b.o.WorkerID }

// Close stops taking assignments, waits until ctx ends for the ones in
// flight to be answered, stops the heartbeats and drains the connection
// (flushes it when the caller owns it). Assignments still running when ctx
// ends are left to their AckWait: another host answers them once their
// claim's lease is stale. Close the host after the bus.
func (b *Bus) Close(ctx context.Context) error {
	b.closeOnce.Do(func() { b.closeErr = b.close(ctx) })
	return b.closeErr
}

func (b *Bus) close(ctx context.Context) error {
	b.stopping.Store(true)
	b.stopFetch()
	<-b.fetchDone
	var err error
	done := make(chan struct{})
	go func() { b.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		b.mu.Lock()
		n := len(b.running)
		b.mu.Unlock()
		err = fmt.Errorf("natsbus: closed with %d assignments in flight: %w", n, ctx.Err())
		b.log.Warn("closing with assignments in flight", "in_flight", n)
	}
	close(b.hbStop)
	<-b.hbDone
	if !b.own {
		if ferr := b.nc.FlushWithContext(ctx); ferr != nil && err == nil && !b.nc.IsClosed() {
			err = fmt.Errorf("natsbus: flush: %w", ferr)
		}
		return err
	}
	if derr := b.nc.Drain(); derr != nil {
		b.nc.Close()
		return err
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !b.nc.IsClosed() {
		select {
		case <-ctx.Done():
			b.nc.Close()
			return err
		case <-t.C:
		}
	}
	return err
}

// fetchLoop pulls as many assignments as there are free slots and hands
// each to its own goroutine, until ctx ends or the connection is closed.
func (b *Bus) fetchLoop(ctx context.Context) {
	defer close(b.fetchDone)
	backoff := 50 * time.Millisecond
	for {
		select {
		case b.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < b.o.MaxInFlight {
			select {
			case b.slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		fctx, cancel := context.WithTimeout(ctx, fetchExpiry)
		got := 0
		batch, err := b.con.Fetch(n, jetstream.FetchContext(fctx))
		if err == nil {
			for msg := range batch.Messages() {
				got++
				b.handlers.Add(1)
				go b.handle(msg)
			}
			err = batch.Error()
		}
		cancel()
		for range n - got {
			<-b.slots
		}
		switch {
		case err == nil || ctx.Err() != nil:
			backoff = 50 * time.Millisecond
			continue
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoMessages):
			continue
		case errors.Is(err, nats.ErrConnectionClosed), b.nc.IsClosed():
			b.log.Warn("connection closed: no more assignments are taken")
			return
		}
		b.log.Warn("fetching assignments failed", "error", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// serves reports whether the host has a block for step type t (a miss
// refreshes the list, so a block loaded a moment ago is found).
func (b *Bus) serves(t string) bool {
	b.typesMu.Lock()
	defer b.typesMu.Unlock()
	if b.types[t] {
		return true
	}
	types := map[string]bool{}
	for _, bi := range b.h.Blocks() {
		if bi.State != "ready" {
			continue
		}
		for _, ty := range bi.Types {
			types[ty] = true
		}
	}
	b.types = types
	return types[t]
}

func (b *Bus) heartbeatLoop() {
	defer close(b.hbDone)
	b.publishHeartbeat()
	t := time.NewTicker(b.o.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-b.hbStop:
			return
		case <-t.C:
			b.publishHeartbeat()
		}
	}
}

// Heartbeat returns the heartbeat the bus would publish now.
func (b *Bus) Heartbeat() WorkerHeartbeat {
	hb := WorkerHeartbeat{WorkerID: b.o.WorkerID, Timestamp: time.Now().UnixMilli(), Status: StatusReady}
	total := 0
	for _, p := range b.h.Pools() {
		total += p.MaxConcurrency
		switch p.State {
		case "overloaded", "critical":
			hb.Status = StatusDegraded
		case "degraded":
			if hb.Status == StatusReady {
				hb.Status = StatusBusy
			}
		}
		if p.MaxConcurrency > 0 {
			switch p.Name {
			case "cpu":
				hb.Resources.CPU = float64(p.Active) / float64(p.MaxConcurrency)
			case "gpu":
				hb.Resources.GPU = float64(p.Active) / float64(p.MaxConcurrency)
			}
		}
	}
	hb.Resources.JobsInFlight = b.h.InFlight()
	if hb.Status == StatusReady && total > 0 && hb.Resources.JobsInFlight >= total {
		hb.Status = StatusBusy
	}
	hb.Resources.MemBytes = memBytes()
	return hb
}

func (b *Bus) publishHeartbeat() {
	data, _ := jsonMarshal(b.Heartbeat())
	if err := b.nc.Publish(SubjectHeartbeat, data); err != nil && !b.nc.IsClosed() {
		b.log.Debug("heartbeat not published", "error", err)
	}
}

// memBytes is the memory the Go runtime obtained from the OS (MemStats.Sys),
// read without stopping the world.
func memBytes() uint64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/total:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// redactURL drops credentials from a comma-separated list of server URLs.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("redacted")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
