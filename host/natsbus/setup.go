package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ensureStream returns the assignments' stream, creating it when absent.
// Hosts starting at once may race to create it: the loser reuses the
// winner's. An existing stream must capture every subject the bus
// publishes to through JetStream and the one it consumes.
func ensureStream(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, o.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        o.Stream,
			Description: "beamline CAF assignments and worker answers (created by blockhost)",
			Subjects:    []string{StreamSubjects},
			Retention:   jetstream.LimitsPolicy,
			Storage:     o.Storage,
			Replicas:    o.Replicas,
			MaxAge:      o.StreamMaxAge,
			Duplicates:  o.DuplicateWindow,
			Discard:     jetstream.DiscardOld,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, o.Stream)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", o.Stream, err)
	}
	subjects := s.CachedInfo().Config.Subjects
	var missing []string
	for _, subj := range []string{SubjectAssign, SubjectAck, SubjectResult, SubjectDLQ} {
		if !coveredBy(subj, subjects) {
			missing = append(missing, subj)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("stream %s captures %v, not %s: add %s to its subjects or name another stream",
			o.Stream, subjects, strings.Join(missing, ", "), StreamSubjects)
	}
	return s, nil
}

// ensureConsumer returns the shared durable pull consumer, creating it when
// absent. When it exists with another configuration (another host started
// it with other settings), it is reused as it is, provided it is a pull
// consumer of the assign subject alone with explicit acks.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       o.Consumer,
		Description:   "blockhost workers (shared work queue)",
		FilterSubject: SubjectAssign,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if o.MaxDeliver > 0 {
		cfg.MaxDeliver = o.MaxDeliver
	}
	c, err := js.CreateConsumer(ctx, o.Stream, cfg)
	if errors.Is(err, jetstream.ErrConsumerExists) {
		c, err = js.Consumer(ctx, o.Stream, o.Consumer)
		if err == nil {
			got := c.CachedInfo().Config
			o.Logger.Warn("reusing consumer with another configuration", "component", "natsbus",
				"consumer", o.Consumer, "ack_wait", got.AckWait, "max_deliver", got.MaxDeliver)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s of stream %s: %w", o.Consumer, o.Stream, err)
	}
	got := c.CachedInfo().Config
	switch {
	case got.FilterSubject != SubjectAssign || len(got.FilterSubjects) > 0:
		return nil, fmt.Errorf("consumer %s filters %q %v, want %s alone", o.Consumer, got.FilterSubject, got.FilterSubjects, SubjectAssign)
	case got.AckPolicy != jetstream.AckExplicitPolicy:
		return nil, fmt.Errorf("consumer %s acks %s, want explicit", o.Consumer, got.AckPolicy)
	case got.DeliverSubject != "":
		return nil, fmt.Errorf("consumer %s is a push consumer, want pull", o.Consumer)
	}
	return c, nil
}

// ensureBucket returns the claims bucket, creating it when absent.
func ensureBucket(ctx context.Context, js jetstream.JetStream, o Options) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, o.ClaimBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      o.ClaimBucket,
			Description: "blockhost assignment claims",
			History:     1,
			TTL:         o.ClaimTTL,
			Storage:     o.Storage,
			Replicas:    o.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = js.KeyValue(ctx, o.ClaimBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("claim bucket %s: %w", o.ClaimBucket, err)
	}
	return kv, nil
}

// coveredBy reports whether some pattern of patterns matches the literal
// subject subj.
func coveredBy(subj string, patterns []string) bool {
	for _, p := range patterns {
		if subjectMatch(p, subj) {
			return true
		}
	}
	return false
}

// subjectMatch reports whether the NATS pattern p ("*" one token, ">" the
// rest) matches the literal subject s.
func subjectMatch(p, s string) bool {
	pt, st := strings.Split(p, "."), strings.Split(s, ".")
	for i, tok := range pt {
		if tok == ">" {
			return len(st) > i
		}
		if i >= len(st) || (tok != "*" && tok != st[i]) {
			return false
		}
	}
	return len(pt) == len(st)
}

// opTimeout bounds one JetStream API call or publish.
const opTimeout = 5 * time.Second
