package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/tetratelabs/wazero/sys"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/policy"
)

// maxRetryCount bounds retry_count so a request cannot pin a step forever.
const maxRetryCount = 100

// step is one admitted step.
type step struct {
	id      string
	req     *StepRequest
	blk     *block
	pool    *resourcePool
	limits  *Limits
	timeout time.Duration
	cancel  context.CancelCauseFunc
	// log is what the step's attempts logged so far: the log cap is per
	// step, not per attempt.
	logUsed      int
	logTruncated bool
}

// outcome is the result of one attempt (or of a step that never ran).
type outcome struct {
	status  Status
	code    abi.Code // as reported; mapped to the wire code in the result
	msg     string
	outputs map[string]string
	failure policy.Failure
	// final: never retried, whatever the flags (the step's context ended).
	// Other failures are retried in CP1 (every error is) and as their
	// failure classifies with CP2 advanced retry.
	final bool
	err   error // the call's error, inside runAttempt only
	// abandoned: the call of a block that opted out of interruption still
	// runs; it releases its instance and pool slot when it returns.
	abandoned bool
}

var callPool = sync.Pool{New: func() any { return new(call) }}

// Execute runs one step and returns its StepResult. The error is only for
// steps that were not admitted: ErrInvalidRequest, ErrUnknownType,
// ErrTooLarge, ErrDuplicateStep, ErrDraining, ErrClosed, or a
// *RejectedError (errors.Is ErrRejected) carrying the ACK.
//
// With CP2_CANCELLATION_ENABLED off, ctx's cancellation does not reach the
// step (the CP1 baseline): it runs to its own end.
func (h *Host) Execute(ctx context.Context, req StepRequest) (StepResult, error) {
	if h.draining.Load() {
		if h.closed.Load() {
			return StepResult{}, ErrClosed
		}
		return StepResult{}, ErrDraining
	}
	timeout, retries, err := h.checkRequest(&req)
	if err != nil {
		return StepResult{}, err
	}
	var b *block
	for range 3 { // a reload may retire the block between lookup and acquire
		b = h.routes.Load().byType[req.Type]
		if b == nil {
			return StepResult{}, fmt.Errorf("%w: %q", ErrUnknownType, req.Type)
		}
		if b.acquire() {
			break
		}
		b = nil
	}
	if b == nil {
		return StepResult{}, fmt.Errorf("%w: %q (block is being replaced)", ErrUnknownType, req.Type)
	}
	defer b.release()
	class := b.class
	if c := req.Resources["class"]; c != "" {
		if h.pools[c] == nil {
			return StepResult{}, fmt.Errorf("%w: resources.class %q is not a pool of this host", ErrInvalidRequest, c)
		}
		class = c
	}
	st := &step{req: &req, blk: b, pool: h.poolFor(class, req.Type), limits: &b.limits, timeout: timeout}
	st.id = req.Context.StepID
	if st.id == "" {
		st.id = h.newStepID()
	}
	start := time.Now()
	feat := h.cfg.Features
	base := ctx
	if !feat.Cancellation {
		base = context.WithoutCancel(ctx)
	}
	stepCtx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	st.cancel = cancel
	if feat.BudgetEnabled() {
		var cancelT context.CancelFunc
		stepCtx, cancelT = context.WithDeadlineCause(stepCtx, start.Add(timeout), errBudget)
		defer cancelT()
	}
	h.inflightMu.Lock()
	if _, dup := h.inflight[st.id]; dup {
		h.inflightMu.Unlock()
		return StepResult{}, fmt.Errorf("%w: %q", ErrDuplicateStep, st.id)
	}
	h.inflight[st.id] = st
	h.active.Add(1)
	h.inflightMu.Unlock()
	defer func() {
		h.inflightMu.Lock()
		delete(h.inflight, st.id)
		h.inflightMu.Unlock()
		h.active.Done()
	}()

	admitted, _ := ctx.Value(admittedKey{}).(func())
	if err := st.pool.acquire(stepCtx, st.req.Context.TenantID, false, admitted); err != nil {
		var rej rejection
		if errors.As(err, &rej) {
			return StepResult{}, h.rejected(st, string(rej))
		}
		out := h.ctxOutcome(stepCtx, "while queued")
		return h.finish(st, start, out, 0), nil
	}
	out, used := h.runWithRetry(stepCtx, st, retries)
	return h.finish(st, start, out, used), nil
}

type admittedKey struct{}

// WithAdmitted returns a copy of ctx with which Execute calls fn once the
// step is admitted: given a slot of its pool, or a place in the pool's
// queue. A step Execute refuses (an error, the queue's rejection included)
// never calls fn, so a transport can acknowledge a step as accepted
// exactly when it is. Under drop_oldest an admitted step may still be
// dropped from the queue later, and Execute then returns its rejection.
// fn runs on Execute's goroutine, at most once, and must not block.
func WithAdmitted(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, admittedKey{}, fn)
}

// checkRequest validates req and returns its timeout and retry count.
func (h *Host) checkRequest(req *StepRequest) (time.Duration, int, error) {
	if req.Type == "" {
		return 0, 0, fmt.Errorf("%w: type is required", ErrInvalidRequest)
	}
	if req.TimeoutMS < 0 {
		return 0, 0, fmt.Errorf("%w: timeout_ms must not be negative, got %d", ErrInvalidRequest, req.TimeoutMS)
	}
	timeout := h.cfg.DefaultTimeout
	if req.TimeoutMS > 0 {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	retries := h.cfg.DefaultRetryCount
	if req.RetryCount != nil {
		retries = *req.RetryCount
		if retries < 0 || retries > maxRetryCount {
			return 0, 0, fmt.Errorf("%w: retry_count must be 0..%d, got %d", ErrInvalidRequest, maxRetryCount, retries)
		}
	}
	if len(req.Context.StepID) > 256 {
		return 0, 0, fmt.Errorf("%w: context.step_id is longer than 256 bytes", ErrInvalidRequest)
	}
	var size int64
	for k, v := range req.Inputs {
		size += int64(len(k) + len(v))
	}
	if size > h.cfg.Limits.MaxInputBytes {
		return 0, 0, fmt.Errorf("%w: inputs are %d bytes, over the limit of %d", ErrTooLarge, size, h.cfg.Limits.MaxInputBytes)
	}
	return timeout, retries, nil
}

func (h *Host) rejected(st *step, reason string) error {
	bc := &st.req.Context
	h.log.Warn("step rejected", "step_id", st.id, "step_type", st.req.Type, "resource_pool", st.pool.name,
		"reason", reason, "tenant_id", bc.TenantID, "run_id", bc.RunID, "flow_id", bc.FlowID, "trace_id", bc.TraceID)
	return &RejectedError{
		Ack: Ack{Version: "1", AssignmentID: st.id, Status: "rejected", Reason: reason, Message: reason,
			TenantID: bc.TenantID, Correlation: Correlation{TraceID: bc.TraceID}},
		Pool:       st.pool.name,
		RetryAfter: time.Second,
	}
}

// runWithRetry runs the attempts of an admitted step, which holds a slot of
// its pool on entry. Between attempts it holds no slot and no instance; a
// retry re-enters its pool ahead of the queue. It returns the last outcome
// and the number of retries started.
func (h *Host) runWithRetry(stepCtx context.Context, st *step, retries int) (outcome, int) {
	feat := h.cfg.Features
	var (
		last    outcome
		attempt int
		cap     time.Duration
		bo      backoff.BackOff
	)
	if feat.AdvancedRetry {
		rc := h.cfg.Retry
		if ms, err := strconv.ParseInt(st.req.Guardrails["backoff_ms"], 10, 64); err == nil && ms > 0 {
			// A per-step base (NATS options.retry.backoff_ms), within the cap.
			rc.Base = min(time.Duration(ms)*time.Millisecond, rc.Cap)
		}
		bo = policy.NewExponential(rc, h.cfg.Rand)
		cap = rc.Cap
	} else {
		bo = &policy.Fixed{}
	}
	var deadline time.Time
	if d, ok := stepCtx.Deadline(); ok && feat.BudgetEnabled() {
		deadline = d
	}
	sched := policy.NewSchedule(bo, retries, deadline, h.cfg.Clock, cap)
	waitCtx := context.Background()
	if feat.Cancellation {
		waitCtx = stepCtx
	}
	tm := h.typeMetrics(st.req.Type)
	op := func() error {
		if attempt > 0 {
			tm.retries.Inc()
			if err := st.pool.acquire(stepCtx, st.req.Context.TenantID, true, nil); err != nil {
				last = h.ctxOutcome(stepCtx, "while re-entering the queue")
				return backoff.Permanent(err)
			}
		}
		last = h.runAttempt(stepCtx, st, attempt)
		if !last.abandoned {
			st.pool.release()
		}
		attempt++
		if last.status == StatusSuccess {
			return nil
		}
		if last.final || (feat.AdvancedRetry && !policy.Retryable(last.failure)) {
			return backoff.Permanent(errStop)
		}
		if feat.AdvancedRetry {
			if hint := policy.RetryAfterHint(last.failure, cap); hint > 0 {
				sched.SetRetryAfter(hint)
			}
		}
		return errStop
	}
	err := backoff.RetryNotifyWithTimer(op, backoff.WithContext(sched, waitCtx), nil, h.cfg.Clock.NewTimer())
	used := max(attempt-1, 0)
	switch {
	case err == nil || last.status == StatusSuccess:
	case stepCtx.Err() != nil && !last.final && last.status != StatusTimeout && last.status != StatusCancelled:
		// The step's context ended during a wait.
		prev := last
		last = h.ctxOutcome(stepCtx, "while waiting to retry")
		last.msg += "; last error: " + prev.msg
	case errors.Is(err, errStop) && last.status == StatusError && !last.final &&
		(!feat.AdvancedRetry || policy.Retryable(last.failure)) && used < retries && !deadline.IsZero():
		// Retries were left, but the next wait would overrun the budget.
		last = outcome{status: StatusTimeout, code: abi.CancelledByTimeout, final: true,
			msg: fmt.Sprintf("step budget of %d ms would be exceeded by the next retry wait; last error: %s",
				st.timeout.Milliseconds(), last.msg)}
	}
	return last, used
}

var errStop = errors.New("attempt failed")

// runAttempt runs one attempt in an instance of the step's block.
func (h *Host) runAttempt(stepCtx context.Context, st *step, attempt int) outcome {
	ctx := stepCtx
	if !h.cfg.Features.BudgetEnabled() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(stepCtx, st.timeout, errAttemptTimeout)
		defer cancel()
	}
	tenant := st.req.Context.TenantID
	inst, err := st.blk.instances.get(ctx, tenant)
	if err != nil {
		if ctx.Err() != nil {
			return h.ctxOutcome(ctx, "while starting an instance")
		}
		if errors.Is(err, errMemoryBudget) {
			return outcome{status: StatusError, code: abi.SystemOverload, msg: err.Error(),
				failure: policy.Failure{Code: abi.SystemOverload}}
		}
		return outcome{status: StatusError, code: abi.ExecutionFailed,
			msg:     "block failed to start: " + firstLine(err.Error()),
			failure: policy.Failure{Code: abi.ExecutionFailed, Retryable: abi.RetryNo}}
	}
	if h.log.Enabled(ctx, slog.LevelDebug) {
		h.log.LogAttrs(ctx, slog.LevelDebug, "attempt started", slog.String("step_id", st.id),
			slog.String("step_type", st.req.Type), slog.Int("attempt", attempt))
	}
	c := callPool.Get().(*call)
	c.reset()
	c.ctx, c.st, c.attempt, c.inst = ctx, st, attempt, inst
	c.log.reset(st.limits.MaxLogBytes)
	c.log.used, c.log.truncated = st.logUsed, st.logTruncated
	inst.cur = c
	cctx := context.WithValue(ctx, callKey{}, c)
	callStart := time.Now()
	if st.blk.interrupt {
		err = inst.run.CallWithStack(cctx, inst.stack[:])
	} else if out, done := h.callUninterrupted(ctx, cctx, st, inst, c); !done {
		return out
	} else {
		err = out.err
	}
	if err == nil && time.Since(callStart) >= stackReleaseAfter {
		inst.releaseStack()
	}
	h.flushStd(c)
	inst.cur = nil
	st.logUsed, st.logTruncated = c.log.used, c.log.truncated
	var out outcome
	discard := err != nil
	if err != nil {
		c.finish(false)
		out = h.failureOf(ctx, inst, c, err)
	} else if ctx.Err() != nil {
		// The deadline or a cancellation came while the block was in a host
		// call that then returned: the context decides, not the block.
		c.finish(false)
		out = h.ctxOutcome(ctx, "while running")
	} else {
		// Open writable handles commit only for a step that succeeds: a
		// failed block leaves no partial blob behind.
		rc := int32(inst.stack[0])
		ok := !c.reported && rc == 0 && c.limitErr == ""
		if ferr := c.finish(ok); ferr != nil && c.limitErr == "" {
			c.reported, c.code, c.message = true, abi.ExecutionFailed, "committing handles: "+ferr.Error()
		}
		out = c.outcome(rc)
		discard = c.limitErr != "" // ABI.md: hitting a cap discards the instance
		if pages := inst.mem.Size() / 65536; pages > st.limits.MemoryHighWaterPages {
			discard = true
		}
	}
	st.blk.instances.put(inst, discard)
	c.reset()
	callPool.Put(c)
	return out
}

// callUninterrupted runs the call of a block that opted out of
// interruption. If ctx ends first, the step gets its timeout (or
// cancellation) at once and the call is abandoned: when it finally returns,
// its instance is discarded and its pool slot freed. done reports whether
// the call returned in time (its error in out.err).
func (h *Host) callUninterrupted(ctx, cctx context.Context, st *step, inst *instance, c *call) (outcome, bool) {
	ch := make(chan error, 1)
	go func() { ch <- inst.run.CallWithStack(cctx, inst.stack[:]) }()
	select {
	case err := <-ch:
		return outcome{err: err}, true
	case <-ctx.Done():
	}
	st.blk.refs.Add(1) // keep the block alive until the call returns
	go func() {
		<-ch
		h.flushStd(c)
		inst.cur = nil
		c.finish(false)
		st.blk.instances.put(inst, true)
		st.pool.release()
		st.blk.release()
		c.reset()
		callPool.Put(c)
	}()
	out := h.ctxOutcome(ctx, "while running (the block is not interruptible; its call was abandoned)")
	out.abandoned = true
	return out, false
}

// outcome turns what a guest reported into an outcome.
func (c *call) outcome(rc int32) outcome {
	switch {
	case c.reported:
		return outcome{status: StatusError, code: c.code, msg: c.message,
			failure: policy.Failure{Code: c.code, HTTPStatus: c.httpStatus,
				RetryAfter: time.Duration(c.retryAfter) * time.Millisecond, Retryable: c.retryable}}
	case rc != 0:
		code := abi.Code(rc)
		if !code.Known() || code == abi.None {
			code = abi.ExecutionFailed
		}
		return outcome{status: StatusError, code: code, msg: "block returned " + strconv.Itoa(int(rc)),
			failure: policy.Failure{Code: code}}
	case c.limitErr != "":
		return outcome{status: StatusError, code: abi.QuotaExceeded, msg: c.limitErr,
			failure: policy.Failure{Code: abi.QuotaExceeded}}
	}
	return outcome{status: StatusSuccess, code: abi.None, outputs: c.outputs}
}

// failureOf classifies an attempt whose call returned an error: the
// deadline or a cancellation, a memory limit, or a trap.
func (h *Host) failureOf(ctx context.Context, inst *instance, c *call, err error) outcome {
	if ctx.Err() != nil {
		return h.ctxOutcome(ctx, "while running")
	}
	if inst.budgetHit.Load() {
		return outcome{status: StatusError, code: abi.SystemOverload, msg: errMemoryBudget.Error(),
			failure: policy.Failure{Code: abi.SystemOverload}}
	}
	// The allocator sees a grow past the limit only when the module's own
	// maximum is above it; a module whose maximum is the limit traps when
	// wazero refuses the grow, with its memory at the limit.
	if inst.memHit.Load() || uint64(inst.mem.Size()) >= uint64(inst.blk.memPages)*65536 {
		return outcome{status: StatusError, code: abi.QuotaExceeded,
			msg:     fmt.Sprintf("block exceeded its memory limit of %d pages (%s)", inst.blk.memPages, pagesSize(inst.blk.memPages)),
			failure: policy.Failure{Code: abi.QuotaExceeded}}
	}
	var msg string
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		msg = "block exited with code " + strconv.FormatUint(uint64(exit.ExitCode()), 10)
	} else {
		msg = "block trapped: " + firstLine(err.Error())
	}
	// A block that reported its failure and then trapped (a C or
	// AssemblyScript abort, say) keeps its words in the message; the code
	// stays EXECUTION_FAILED, as for any trap.
	reported := ""
	if c.reported {
		reported = firstLine(c.message)
		msg += " (reported " + c.code.String() + ": " + reported + ")"
	}
	if s := c.st.blk.redact(c.log.stderrSummary()); s != "" && (reported == "" || !strings.Contains(s, reported)) {
		msg += " (stderr: " + s + ")"
	}
	return outcome{status: StatusError, code: abi.ExecutionFailed, msg: msg,
		failure: policy.Failure{Code: abi.ExecutionFailed, Retryable: abi.RetryNo}}
}

// pagesSize renders a number of 64 KiB pages as MiB when whole, else KiB.
func pagesSize(pages uint32) string {
	if pages%16 == 0 {
		return strconv.FormatUint(uint64(pages/16), 10) + " MiB"
	}
	return strconv.FormatUint(uint64(pages)*64, 10) + " KiB"
}

// ctxOutcome describes an attempt or wait ended by its context.
func (h *Host) ctxOutcome(ctx context.Context, when string) outcome {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errAttemptTimeout):
		// CP1: the attempt's own timeout; retried like any error.
		return outcome{status: StatusTimeout, code: abi.CancelledByTimeout, msg: "attempt timed out " + when,
			failure: policy.Failure{Code: abi.CancelledByTimeout}}
	case errors.Is(cause, errBudget), errors.Is(cause, context.DeadlineExceeded):
		return outcome{status: StatusTimeout, code: abi.CancelledByTimeout, final: true, msg: "step budget exhausted " + when}
	case errors.Is(cause, errHostClosed):
		return outcome{status: StatusCancelled, code: abi.CancelledByUser, final: true, msg: "host shut down " + when}
	default:
		return outcome{status: StatusCancelled, code: abi.CancelledByUser, final: true, msg: "cancelled " + when}
	}
}

// finish builds the StepResult and records metrics and logs.
func (h *Host) finish(st *step, start time.Time, out outcome, retries int) StepResult {
	elapsed := time.Since(start)
	bc := &st.req.Context
	res := StepResult{
		Status:       out.status,
		ErrorCode:    out.code.Wire(),
		ErrorMessage: out.msg,
		Outputs:      out.outputs,
		Metadata:     Metadata{TraceID: bc.TraceID, RunID: bc.RunID, FlowID: bc.FlowID, StepID: st.id, TenantID: bc.TenantID},
		LatencyMS:    elapsed.Milliseconds(),
		RetriesUsed:  retries,
	}
	if res.Outputs == nil {
		res.Outputs = map[string]string{}
	}
	if out.code.Host() && out.status == StatusError {
		res.ErrorMessage = out.code.String() + ": " + out.msg
	}
	tm := h.typeMetrics(st.req.Type)
	i := statusIndex[out.status]
	tm.executions[i].Inc()
	tm.duration[i].Observe(elapsed.Seconds())
	switch out.status {
	case StatusSuccess:
		if h.log.Enabled(context.Background(), slog.LevelDebug) {
			h.log.LogAttrs(context.Background(), slog.LevelDebug, "step finished", h.stepAttrs(st, res)...)
		}
		return res
	case StatusTimeout:
		tm.timeouts.Inc()
	case StatusCancelled:
		tm.cancels.Inc()
	}
	h.metrics.errors.WithLabelValues(st.req.Type, string(out.status), res.ErrorCode.String()).Inc()
	h.log.LogAttrs(context.Background(), slog.LevelWarn, "step failed",
		append(h.stepAttrs(st, res), slog.String("error_code", res.ErrorCode.String()),
			slog.String("error_message", res.ErrorMessage))...)
	return res
}

func (h *Host) stepAttrs(st *step, res StepResult) []slog.Attr {
	bc := &st.req.Context
	return []slog.Attr{
		slog.String("step_id", st.id), slog.String("step_type", st.req.Type), slog.String("block", st.blk.name),
		slog.String("tenant_id", bc.TenantID), slog.String("trace_id", bc.TraceID), slog.String("run_id", bc.RunID),
		slog.String("flow_id", bc.FlowID), slog.String("status", string(res.Status)),
		slog.Int64("latency_ms", res.LatencyMS), slog.Int("retries_used", res.RetriesUsed),
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
