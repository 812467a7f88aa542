package natsbus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
	"github.com/beamline/blockhost/policy"
)

// Headers carried from an assignment onto its ACKs, result and dead letter.
var carriedHeaders = []string{"trace_id", "tenant_id", "version", "traceparent"}

// job is an assignment this host claimed.
type job struct {
	a     *ExecAssignment
	key   string
	hdr   nats.Header // carried headers
	msgID string      // the result's Nats-Msg-Id
	recv  time.Time
	md    *jetstream.MsgMetadata
	value []byte // the running claim, rewritten to renew the lease

	mu       sync.Mutex
	msgs     []jetstream.Msg // deliveries to answer: the first and any redelivered here
	rev      uint64
	lost     bool
	finished bool
	cancel   context.CancelFunc
}

func (j *job) deliveries() []jetstream.Msg {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]jetstream.Msg(nil), j.msgs...)
}

// finish marks the job answered and returns its deliveries.
func (j *job) finish() []jetstream.Msg {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.finished = true
	return j.msgs
}

// handle answers one delivery of an assignment. It holds a slot until it
// returns.
func (b *Bus) handle(msg jetstream.Msg) {
	defer b.handlers.Done()
	defer func() { <-b.slots }()
	if b.stopping.Load() {
		b.nak(msg, 0)
		b.met.count(resShutdown)
		return
	}
	recv := time.Now()
	md, _ := msg.Metadata()
	a, err := decodeAssignment(msg.Data())
	hdr := outHeaders(msg.Headers(), a)
	if err == nil && !b.serves(a.Job.Type) {
		err = invalidf("%v: %q", host.ErrUnknownType, a.Job.Type)
	}
	if err != nil {
		b.invalid([]jetstream.Msg{msg}, md, msg.Data(), a, hdr, err)
		return
	}
	j := &job{a: a, key: claimKey(a.AssignmentID), hdr: hdr, recv: recv, md: md, msgs: []jetstream.Msg{msg}}
	j.msgID = a.AssignmentID
	if msg.Headers().Get(jetstream.MsgIDHeader) == a.AssignmentID {
		// The Router deduplicates assignments by their id in this very
		// stream: a result with the same Nats-Msg-Id would be dropped.
		j.msgID = a.AssignmentID + ":result"
	}
	j.value, _ = jsonMarshal(claim{State: claimRunning, WorkerID: b.o.WorkerID, ClaimedAt: recv.UnixMilli()})
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	rev, err := b.kv.Create(ctx, j.key, j.value)
	cancel()
	if errors.Is(err, jetstream.ErrKeyExists) {
		b.existing(msg, j)
		return
	}
	if err != nil {
		b.log.Warn("claiming an assignment failed", "assignment_id", a.AssignmentID, "error", err)
		b.nak(msg, b.o.RejectNakDelay)
		b.met.count(resFailed)
		return
	}
	j.rev = rev
	b.mu.Lock()
	b.running[a.AssignmentID] = j
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.running, a.AssignmentID)
		b.mu.Unlock()
	}()
	b.run(j)
}

// outcome kinds of run.
const (
	kindResult   = iota // a result to publish
	kindInvalid         // never runnable: rejected ACK, dead letter, terminate
	kindRejected        // no room: rejected ACK, release, nack with a delay
	kindRetry           // not now (draining, duplicate): release, nack
)

type outcome struct {
	kind  int
	res   host.StepResult
	err   error
	rej   *host.RejectedError
	delay time.Duration
}

// run runs a claimed assignment while its claim and ack timer are kept
// alive, then answers it.
func (b *Bus) run(j *job) {
	stepCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	j.cancel = cancel
	stop, kept := make(chan struct{}), make(chan struct{})
	go b.keep(j, stop, kept)
	out := b.execute(stepCtx, j)
	close(stop)
	<-kept

	switch out.kind {
	case kindResult:
		b.answer(j, out.res)
	case kindInvalid:
		b.release(j)
		msgs := j.finish()
		b.invalid(msgs, j.md, msgs[0].Data(), j.a, j.hdr, out.err)
	case kindRejected:
		if b.maxDeliver > 0 && j.md != nil && int(j.md.NumDelivered) >= b.maxDeliver {
			b.answer(j, errorResult(host.StatusError, abi.SystemOverload, fmt.Sprintf(
				"no host had room for the step in %d deliveries (last: %s)", j.md.NumDelivered, out.rej.Ack.Reason)))
			return
		}
		ack := out.rej.Ack
		ack.Version, ack.AssignmentID, ack.Status = "1", j.a.AssignmentID, AckRejected
		if ack.Message == "" {
			ack.Message = ack.Reason
		}
		b.publishAck(j.a, j.hdr, ack)
		b.release(j)
		for _, m := range j.finish() {
			b.nak(m, b.o.RejectNakDelay)
		}
		b.met.count(resRejected)
	case kindRetry:
		if errors.Is(out.err, host.ErrDraining) || errors.Is(out.err, host.ErrClosed) {
			// A draining host takes no more assignments; Close still has
			// to be called.
			if !b.stopping.Swap(true) {
				b.log.Info("host is draining: no more assignments are taken")
				b.stopFetch()
			}
		}
		b.release(j)
		for _, m := range j.finish() {
			b.nak(m, out.delay)
		}
		b.met.count(resShutdown)
	}
}

// execute turns the assignment into a step and runs it.
func (b *Bus) execute(ctx context.Context, j *job) outcome {
	a := j.a
	payload, hasRef := "", a.Job.PayloadRef != ""
	if hasRef {
		if b.o.PayloadStore == nil {
			return outcome{kind: kindInvalid, err: invalidf("job.payload_ref is set but this host has no payload store")}
		}
		var err error
		rctx, cancel := context.WithTimeout(ctx, max(b.ackWait/2, time.Second))
		payload, err = b.o.PayloadStore(rctx, a.Job.PayloadRef)
		cancel()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return outcome{res: errorResult(host.StatusError, abi.InvalidInput,
				fmt.Sprintf("job.payload_ref %q: %v", a.Job.PayloadRef, err))}
		case err != nil:
			return outcome{res: errorResult(host.StatusError, abi.ResourceUnavailable,
				fmt.Sprintf("job.payload_ref %q: %v", a.Job.PayloadRef, err))}
		}
	}
	req, err := a.stepRequest(payload, hasRef)
	if err != nil {
		return outcome{kind: kindInvalid, err: err}
	}
	if a.Options.DeadlineMS > 0 {
		left := time.Duration(a.Options.DeadlineMS)*time.Millisecond - time.Since(j.recv)
		if left <= 0 {
			return outcome{res: errorResult(host.StatusTimeout, abi.CancelledByTimeout,
				fmt.Sprintf("deadline of %d ms passed before the step started", a.Options.DeadlineMS))}
		}
		req.TimeoutMS = max(1, (left + time.Millisecond - 1).Milliseconds())
	}

	// The accepted ACK goes out when the host admits the step (a pool slot
	// or a place in its queue), before it runs; a step refused gets only
	// its rejection.
	res, err := b.h.Execute(host.WithAdmitted(ctx, func() {
		b.publishAck(a, j.hdr, host.Ack{Status: AckAccepted})
	}), req)
	if err == nil {
		return outcome{res: res}
	}
	var rej *host.RejectedError
	switch {
	case errors.As(err, &rej):
		return outcome{kind: kindRejected, rej: rej, err: err}
	case errors.Is(err, host.ErrDraining), errors.Is(err, host.ErrClosed):
		return outcome{kind: kindRetry, err: err}
	case errors.Is(err, host.ErrDuplicateStep):
		return outcome{kind: kindRetry, err: err, delay: b.tick}
	}
	// ErrInvalidRequest, ErrUnknownType, ErrTooLarge and anything else the
	// host refuses outright: the assignment will never run.
	return outcome{kind: kindInvalid, err: err}
}

// keep marks the deliveries in progress and renews the claim's lease every
// tick until stop closes. A renewal that finds another revision means the
// claim was taken over: the step is cancelled (when cancellation is on) and
// its result will be discarded.
func (b *Bus) keep(j *job, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(b.tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for _, m := range j.deliveries() {
			m.InProgress()
		}
		j.mu.Lock()
		rev, lost := j.rev, j.lost
		j.mu.Unlock()
		if lost {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.tick)
		nrev, err := b.kv.Update(ctx, j.key, j.value, rev)
		cancel()
		switch {
		case err == nil:
			j.mu.Lock()
			j.rev = nrev
			j.mu.Unlock()
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
			j.mu.Lock()
			j.lost = true
			j.mu.Unlock()
			j.cancel()
			b.log.Warn("claim taken over while the step ran; its result will be discarded",
				"assignment_id", j.a.AssignmentID)
		default:
			b.log.Debug("renewing a claim failed", "assignment_id", j.a.AssignmentID, "error", err)
		}
	}
}

// answer records res as the assignment's result in its claim, publishes it
// (and a dead letter when it is a failure CP2 does not retry) and acks the
// deliveries.
func (b *Bus) answer(j *job, res host.StepResult) {
	er := j.a.resultFor(res, b.o.WorkerID, j.msgID, time.Now().UnixMilli())
	data := b.encodeResult(&er)
	dlq := er.Status == host.StatusError && !policy.Retryable(policy.Failure{Code: er.ErrorCode})
	value, _ := jsonMarshal(claim{State: claimDone, WorkerID: b.o.WorkerID, ClaimedAt: j.recv.UnixMilli(),
		MsgID: j.msgID, DLQ: dlq, Result: data})
	j.mu.Lock()
	rev, lost := j.rev, j.lost
	j.mu.Unlock()
	var err error
	if !lost {
		err = b.retry(func(ctx context.Context) error {
			_, err := b.kv.Update(ctx, j.key, value, rev)
			return err
		})
	}
	if lost || errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		// Another host answered the assignment when this one's lease went
		// stale: its answer stands.
		b.log.Warn("result discarded: the claim was taken over", "assignment_id", j.a.AssignmentID,
			"status", er.Status)
		for _, m := range j.finish() {
			b.ack(m)
		}
		b.met.count(resLost)
		return
	}
	if err != nil {
		// Without the done record a redelivery would see a stale claim; the
		// result still goes out (a later "lost" answer reuses its Msg-Id).
		b.log.Error("recording a result in its claim failed", "assignment_id", j.a.AssignmentID, "error", err)
	}
	if err := b.publishResult(j.hdr, j.msgID, data); err != nil {
		b.log.Warn("publishing a result failed; the assignment will be answered again on redelivery",
			"assignment_id", j.a.AssignmentID, "error", err)
		for _, m := range j.finish() {
			b.nak(m, 0)
		}
		b.met.count(resFailed)
		return
	}
	if dlq {
		b.publishDLQ(j.a.AssignmentID+":dlq", j.hdr, b.deadLetter(j.a, j.md, nil, ReasonNonRetryable,
			er.ErrorCode, er.ErrorMessage, &er))
	}
	for _, m := range j.finish() {
		b.ack(m)
	}
	b.met.count(resExecuted)
}

// existing answers a delivery of an assignment that already has a claim.
func (b *Bus) existing(msg jetstream.Msg, j *job) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	e, err := b.kv.Get(ctx, j.key)
	cancel()
	if err != nil {
		// Released between our create and get, or JetStream trouble: try
		// again soon.
		b.nak(msg, b.tick)
		b.met.count(resBusy)
		return
	}
	var c claim
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		b.log.Error("unreadable claim", "assignment_id", j.a.AssignmentID, "error", err)
		b.nak(msg, b.o.RejectNakDelay)
		b.met.count(resFailed)
		return
	}
	if c.State == claimDone {
		msgID := c.MsgID
		if msgID == "" {
			msgID = j.msgID
		}
		if err := b.publishResult(j.hdr, msgID, c.Result); err != nil {
			b.nak(msg, b.tick)
			b.met.count(resFailed)
			return
		}
		if c.DLQ {
			var er ExecResult
			json.Unmarshal(c.Result, &er)
			b.publishDLQ(j.a.AssignmentID+":dlq", j.hdr, b.deadLetter(j.a, j.md, nil, ReasonNonRetryable,
				er.ErrorCode, er.ErrorMessage, &er))
		}
		b.ack(msg)
		b.met.count(resReplayed)
		return
	}
	if c.WorkerID == b.o.WorkerID && b.attach(j.a.AssignmentID, msg) {
		b.met.count(resAttached)
		return
	}
	age := time.Since(e.Created())
	if age < b.o.ClaimLease {
		b.nak(msg, min(b.tick, b.o.ClaimLease-age)+b.tick/4)
		b.met.count(resBusy)
		return
	}
	// The claimer stopped renewing: it died or lost JetStream while the
	// step was queued or running. The step may have run, partly or
	// entirely, so it is not run again: the assignment gets an error
	// result the Router may retry as a new assignment.
	res := errorResult(host.StatusError, abi.InternalError, fmt.Sprintf(
		"worker %s stopped renewing its claim on the assignment %v ago, while the step was queued or running; "+
			"it may have run, so it is not run again (at-most-once)", c.WorkerID, age.Round(time.Millisecond)))
	er := j.a.resultFor(res, b.o.WorkerID, j.msgID, time.Now().UnixMilli())
	data := b.encodeResult(&er)
	value, _ := jsonMarshal(claim{State: claimDone, WorkerID: b.o.WorkerID, ClaimedAt: c.ClaimedAt, MsgID: j.msgID, Result: data})
	ctx, cancel = context.WithTimeout(context.Background(), opTimeout)
	_, err = b.kv.Update(ctx, j.key, value, e.Revision())
	cancel()
	if err != nil {
		// The claimer renewed after all, or another host got there first.
		b.nak(msg, b.tick)
		b.met.count(resBusy)
		return
	}
	b.log.Warn("answering an assignment whose claimer is gone", "assignment_id", j.a.AssignmentID,
		"claimed_by", c.WorkerID, "lease_age", age)
	if err := b.publishResult(j.hdr, j.msgID, data); err != nil {
		b.nak(msg, 0)
		b.met.count(resFailed)
		return
	}
	b.ack(msg)
	b.met.count(resLost)
}

// attach hands a redelivery of an assignment running here to its job,
// which keeps it in progress and acks it with the first delivery.
func (b *Bus) attach(id string, msg jetstream.Msg) bool {
	b.mu.Lock()
	j := b.running[id]
	b.mu.Unlock()
	if j == nil {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.finished {
		return false
	}
	j.msgs = append(j.msgs, msg)
	return true
}

// release deletes a claim this host holds, so the next delivery, on any
// host, can claim the assignment again.
func (b *Bus) release(j *job) {
	j.mu.Lock()
	rev, lost := j.rev, j.lost
	j.mu.Unlock()
	if lost {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := b.kv.Delete(ctx, j.key, jetstream.LastRevision(rev)); err != nil {
		b.log.Warn("releasing a claim failed; the next delivery waits for its lease to go stale",
			"assignment_id", j.a.AssignmentID, "error", err)
	}
}

// invalid answers an assignment that can never run: a rejected ACK with
// reason INVALID_INPUT, a dead letter, and Term so it is not delivered
// again. If the dead letter cannot be published the deliveries are nacked
// instead, to try again later.
func (b *Bus) invalid(msgs []jetstream.Msg, md *jetstream.MsgMetadata, raw []byte, a *ExecAssignment, hdr nats.Header, err error) {
	if a == nil {
		a = &ExecAssignment{}
	}
	text := describe(err)
	b.publishAck(a, hdr, host.Ack{Status: AckRejected, Reason: ReasonBadRequest, Message: text})
	// One dead letter per stream message, whatever its redeliveries.
	id := a.AssignmentID + ":dlq"
	if md != nil {
		id = fmt.Sprintf("%s:%d:dlq", md.Stream, md.Sequence.Stream)
	}
	b.log.Warn("invalid assignment", "assignment_id", a.AssignmentID, "error", text)
	if perr := b.publishDLQ(id, hdr, b.deadLetter(a, md, raw, ReasonInvalid, abi.InvalidInput, text, nil)); perr != nil {
		for _, m := range msgs {
			b.nak(m, b.o.RejectNakDelay)
		}
		b.met.count(resFailed)
		return
	}
	for _, m := range msgs {
		if terr := m.Term(); terr != nil {
			b.log.Debug("term failed", "error", terr)
		}
	}
	b.met.count(resInvalid)
}

func (b *Bus) deadLetter(a *ExecAssignment, md *jetstream.MsgMetadata, raw []byte, reason string,
	code abi.Code, text string, er *ExecResult) DeadLetter {
	dl := DeadLetter{Version: "1", AssignmentID: a.AssignmentID, RequestID: a.RequestID, TenantID: a.TenantID,
		TraceID: a.traceID(), WorkerID: b.o.WorkerID, Reason: reason, ErrorCode: code, ErrorMessage: text,
		Timestamp: time.Now().UnixMilli(), Result: er}
	if md != nil {
		dl.Stream, dl.StreamSequence, dl.Deliveries = md.Stream, md.Sequence.Stream, md.NumDelivered
	}
	if raw != nil {
		limit := b.maxPayload / 2
		if json.Valid(raw) && len(raw) <= limit {
			dl.Assignment = json.RawMessage(raw)
		} else {
			dl.AssignmentRaw = string(raw[:min(len(raw), limit)])
		}
	}
	return dl
}

// encodeResult marshals er; a result too big for one NATS message (or a
// claim) loses its outputs and becomes a QUOTA_EXCEEDED failure.
func (b *Bus) encodeResult(er *ExecResult) []byte {
	data, err := jsonMarshal(er)
	if limit := b.maxPayload - 8<<10; err != nil || len(data) > limit {
		n := len(data)
		er.Outputs = map[string]string{}
		er.Status, er.ErrorCode = host.StatusError, abi.QuotaExceeded
		if err != nil {
			er.ErrorMessage = "encoding the result: " + err.Error()
		} else {
			er.ErrorMessage = fmt.Sprintf("the result is %d bytes, more than the %d a NATS message may carry here; outputs dropped", n, limit)
		}
		data, _ = jsonMarshal(er)
	}
	return data
}

// publishResult publishes a result through JetStream and waits for the
// stream to store it (or to drop it as a duplicate of msgID).
func (b *Bus) publishResult(hdr nats.Header, msgID string, data []byte) error {
	m := &nats.Msg{Subject: SubjectResult, Header: cloneHeader(hdr), Data: data}
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	return b.retry(func(ctx context.Context) error {
		_, err := b.js.PublishMsg(ctx, m)
		return err
	})
}

func (b *Bus) publishDLQ(msgID string, hdr nats.Header, dl DeadLetter) error {
	data, _ := jsonMarshal(dl)
	m := &nats.Msg{Subject: SubjectDLQ, Header: cloneHeader(hdr), Data: data}
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	err := b.retry(func(ctx context.Context) error {
		_, err := b.js.PublishMsg(ctx, m)
		return err
	})
	if err != nil {
		b.log.Warn("publishing a dead letter failed", "assignment_id", dl.AssignmentID, "error", err)
	}
	return err
}

// publishAck publishes an ExecAssignmentAck (core NATS: informational; the
// stream stores it since it captures the subject).
func (b *Bus) publishAck(a *ExecAssignment, hdr nats.Header, ack host.Ack) {
	ack.Version = "1"
	ack.AssignmentID = a.AssignmentID
	ack.TenantID = a.TenantID
	ack.Correlation = host.Correlation{TraceID: a.traceID()}
	ack.Metadata = map[string]string{"worker_id": b.o.WorkerID}
	if a.RequestID != "" {
		ack.Metadata["request_id"] = a.RequestID
	}
	data, _ := jsonMarshal(ack)
	if err := b.nc.PublishMsg(&nats.Msg{Subject: SubjectAck, Header: cloneHeader(hdr), Data: data}); err != nil {
		b.log.Debug("ACK not published", "assignment_id", a.AssignmentID, "error", err)
	}
}

// retry runs op up to three times while the connection is open.
func (b *Bus) retry(op func(ctx context.Context) error) error {
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err = op(ctx)
		cancel()
		if err == nil || b.nc.IsClosed() || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
			errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
	}
	return err
}

func (b *Bus) ack(m jetstream.Msg) {
	if err := m.Ack(); err != nil {
		b.log.Debug("ack failed", "error", err)
	}
}

func (b *Bus) nak(m jetstream.Msg, delay time.Duration) {
	var err error
	if delay > 0 {
		err = m.NakWithDelay(delay)
	} else {
		err = m.Nak()
	}
	if err != nil {
		b.log.Debug("nak failed", "error", err)
	}
}

// outHeaders are the headers carried onto answers: the assignment's
// trace_id, tenant_id, version and traceparent, with trace_id, tenant_id
// and version taken from the body when the message has none.
func outHeaders(in nats.Header, a *ExecAssignment) nats.Header {
	out := nats.Header{}
	for _, k := range carriedHeaders {
		if v := in.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	if a != nil {
		if out.Get("trace_id") == "" && a.traceID() != "" {
			out.Set("trace_id", a.traceID())
		}
		if out.Get("tenant_id") == "" && a.TenantID != "" {
			out.Set("tenant_id", a.TenantID)
		}
	}
	if out.Get("version") == "" {
		out.Set("version", "1")
	}
	return out
}

func cloneHeader(h nats.Header) nats.Header {
	out := make(nats.Header, len(h)+1)
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// jsonMarshal is json.Marshal without HTML escaping.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
