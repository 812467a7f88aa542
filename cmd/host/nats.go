package main

import (
	"cmp"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/beamline/blockhost/host/natsbus"
	"github.com/beamline/blockhost/host/natsbus/natsembed"
)

// natsConfig is the nats section: the NATS JetStream transport
// (docs/scaling.md). Zero fields take the defaults of natsbus.Options and
// natsembed.Options, stated beside each key in examples/host.yaml.
type natsConfig struct {
	// URL is the server, or comma-separated servers; unused with Embedded.
	URL string
	// Embedded starts an in-process server and consumes from it.
	Embedded bool
	// EmbeddedPort is the embedded server's port: 0 is 4222, -1 a random
	// free port (embedded_port 0 and -1 in the file both mean random).
	EmbeddedPort int
	// EmbeddedStoreDir holds the embedded server's JetStream files; empty
	// is a temporary directory removed at shutdown.
	EmbeddedStoreDir string
	// PayloadRoot is where job.payload_ref keys are read from.
	PayloadRoot string

	Stream      string
	Consumer    string
	ClaimBucket string
	Storage     jetstream.StorageType
	Replicas    int
	WorkerID    string

	AckWait           time.Duration
	MaxDeliver        int // 0: unlimited
	ClaimLease        time.Duration
	ClaimTTL          time.Duration
	HeartbeatInterval time.Duration
	RejectNakDelay    time.Duration
	MaxInFlight       int
}

// enabled reports whether serve consumes from NATS.
func (c natsConfig) enabled() bool { return c.URL != "" || c.Embedded }

// options maps c onto the bus's options and the embedded server's; serve
// adds the logger, the registerer, the payload store and, with an
// embedded server, its URL.
func (c natsConfig) options() (natsbus.Options, natsembed.Options) {
	return natsbus.Options{
			URL:               c.URL,
			Stream:            c.Stream,
			Consumer:          c.Consumer,
			ClaimBucket:       c.ClaimBucket,
			Storage:           c.Storage,
			Replicas:          c.Replicas,
			WorkerID:          c.WorkerID,
			AckWait:           c.AckWait,
			MaxDeliver:        c.MaxDeliver,
			ClaimLease:        c.ClaimLease,
			ClaimTTL:          c.ClaimTTL,
			HeartbeatInterval: c.HeartbeatInterval,
			RejectNakDelay:    c.RejectNakDelay,
			MaxInFlight:       c.MaxInFlight,
		}, natsembed.Options{
			Port:     c.EmbeddedPort,
			StoreDir: c.EmbeddedStoreDir,
		}
}

// Bounds of the nats section, most of them those natsbus.Start and the
// NATS server enforce.
const (
	maxNATSReplicas    = 5                  // the server's maximum
	maxNATSNameLen     = 255                // stream and consumer names
	maxNATSBucketLen   = maxNATSNameLen - 3 // the bucket's stream is KV_<bucket>
	maxNATSMaxDeliver  = 1<<31 - 1
	maxNATSMaxInFlight = 1 << 20
	randomEmbeddedPort = -1 // natsembed.Options.Port
)

var natsBucketRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// embeddedPort maps embedded_port or --nats-embedded-port onto
// natsembed.Options.Port: 0, like -1, picks a random port.
func embeddedPort(n int) int {
	if n == 0 {
		return randomEmbeddedPort
	}
	return n
}

// nats parses the nats section into c, refusing at load what natsbus.Start
// or the server would refuse at start-up.
func (p *parser) nats(c *natsConfig, n *yaml.Node, name string) {
	// Nodes of the keys given; a bad ack_wait or claim_ttl skips the
	// checks across keys that involve it.
	var ackWait, claimLease, claimTTL, replicas *yaml.Node
	var badAckWait, badClaimTTL bool
	p.fields(n, name, map[string]func(*yaml.Node, string){
		"url": func(v *yaml.Node, name string) {
			s, ok := p.str(v, name)
			if !ok {
				return
			}
			if strings.TrimSpace(s) == "" {
				p.errorf(v, "%s: empty URL", name)
				return
			}
			c.URL = s
		},
		"embedded": func(v *yaml.Node, name string) {
			if b, ok := p.flag(v, name); ok {
				c.Embedded = b
			}
		},
		"embedded_port": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, -1, 65535); ok {
				c.EmbeddedPort = embeddedPort(int(n))
			}
		},
		"embedded_store_dir": func(v *yaml.Node, name string) {
			if s, ok := p.path(v, name); ok {
				c.EmbeddedStoreDir = s
			}
		},
		"payload_root": func(v *yaml.Node, name string) {
			if s, ok := p.path(v, name); ok {
				c.PayloadRoot = s
			}
		},
		"stream": func(v *yaml.Node, name string) {
			if s, ok := p.natsName(v, name, "stream"); ok {
				c.Stream = s
			}
		},
		"consumer": func(v *yaml.Node, name string) {
			if s, ok := p.natsName(v, name, "consumer"); ok {
				c.Consumer = s
			}
		},
		"claim_bucket": func(v *yaml.Node, name string) {
			s, ok := p.str(v, name)
			if !ok {
				return
			}
			if !natsBucketRE.MatchString(s) || len(s) > maxNATSBucketLen {
				p.errorf(v, "%s: %q: a bucket name is 1 to %d letters, digits, '-' and '_'", name, s, maxNATSBucketLen)
				return
			}
			c.ClaimBucket = s
		},
		"storage": func(v *yaml.Node, name string) {
			s, ok := p.str(v, name)
			if !ok {
				return
			}
			switch s {
			case "file":
				c.Storage = jetstream.FileStorage
			case "memory":
				c.Storage = jetstream.MemoryStorage
			default:
				p.errorf(v, "%s: %q: want file or memory", name, s)
			}
		},
		"replicas": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, maxNATSReplicas); ok {
				c.Replicas, replicas = int(n), v
			}
		},
		"worker_id": func(v *yaml.Node, name string) {
			s, ok := p.str(v, name)
			if !ok {
				return
			}
			if !natsbus.ValidWorkerID(s) {
				p.errorf(v, "%s: %q: want 1 to 128 letters, digits, '-', '_' and dots (not first, last or two in a row)", name, s)
				return
			}
			c.WorkerID = s
		},
		"ack_wait": func(v *yaml.Node, name string) {
			d, ok := p.natsWait(v, name)
			c.AckWait, ackWait, badAckWait = d, v, !ok
		},
		"max_deliver": func(v *yaml.Node, name string) {
			n, ok := p.integer(v, name, 0, maxNATSMaxDeliver)
			if !ok {
				return
			}
			if n == 1 {
				p.errorf(v, "%s: 1: want 0 (unlimited) or at least 2: a host with no room for an assignment hands it back for another delivery", name)
				return
			}
			c.MaxDeliver = int(n)
		},
		"claim_lease": func(v *yaml.Node, name string) {
			c.ClaimLease, _ = p.natsWait(v, name)
			claimLease = v
		},
		"claim_ttl": func(v *yaml.Node, name string) {
			d, ok := p.duration(v, name, false)
			c.ClaimTTL, claimTTL, badClaimTTL = d, v, !ok
		},
		"heartbeat_interval": func(v *yaml.Node, name string) {
			c.HeartbeatInterval, _ = p.duration(v, name, false)
		},
		"reject_nak_delay": func(v *yaml.Node, name string) {
			c.RejectNakDelay, _ = p.duration(v, name, false)
		},
		"max_in_flight": func(v *yaml.Node, name string) {
			if n, ok := p.integer(v, name, 1, maxNATSMaxInFlight); ok {
				c.MaxInFlight = int(n)
			}
		},
	})

	// The defaults natsbus fills in take part in its checks.
	if badAckWait {
		return
	}
	wait := cmp.Or(c.AckWait, natsbus.DefaultAckWait)
	if claimLease == nil && wait/2 < natsbus.MinWait {
		p.errorf(ackWait, "%s.ack_wait: %s makes the default claim_lease (ack_wait/2, %s) shorter than %s: set claim_lease, or ack_wait to at least %s",
			name, wait, wait/2, natsbus.MinWait, 2*natsbus.MinWait)
	}
	if !badClaimTTL {
		if ttl := cmp.Or(c.ClaimTTL, natsbus.DefaultClaimTTL); ttl < 2*wait {
			if claimTTL != nil {
				p.errorf(claimTTL, "%s.claim_ttl: %s is below twice ack_wait (%s): a claim must outlive every delivery of its assignment", name, ttl, wait)
			} else {
				p.errorf(ackWait, "%s.ack_wait: %s is above half the default claim_ttl (%s): set claim_ttl to at least twice ack_wait", name, wait, ttl)
			}
		}
	}
	if c.Embedded && replicas != nil && c.Replicas > 1 {
		p.errorf(replicas, "%s.replicas: %d: the embedded server is a single node (embedded: true): want 1", name, c.Replicas)
	}
}

// natsWait parses ack_wait or claim_lease: a duration of at least 30ms.
func (p *parser) natsWait(v *yaml.Node, name string) (time.Duration, bool) {
	d, ok := p.duration(v, name, false)
	if !ok {
		return 0, false
	}
	if d < natsbus.MinWait {
		p.errorf(v, "%s: %s: want at least %s", name, v.Value, natsbus.MinWait)
		return 0, false
	}
	return d, true
}

// natsName parses a stream or consumer name as JetStream accepts it.
func (p *parser) natsName(v *yaml.Node, name, what string) (string, bool) {
	s, ok := p.str(v, name)
	if !ok {
		return "", false
	}
	if s == "" || len(s) > maxNATSNameLen || strings.ContainsAny(s, " .*>/\\") || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		p.errorf(v, "%s: %q: a %s name is 1 to %d characters, without spaces, control characters, '.', '*', '>', '/' or '\\'", name, s, what, maxNATSNameLen)
		return "", false
	}
	return s, true
}
