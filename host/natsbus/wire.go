package natsbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/beamline/blockhost/abi"
	"github.com/beamline/blockhost/host"
)

// ExecAssignment is the beamline assignment the Router publishes on
// caf.exec.assign.v1. Unknown fields are ignored.
type ExecAssignment struct {
	Version      string            `json:"version"`
	AssignmentID string            `json:"assignment_id"`
	RequestID    string            `json:"request_id,omitempty"`
	Executor     Executor          `json:"executor"`
	Job          Job               `json:"job"`
	Options      AssignmentOptions `json:"options"`
	Correlation  host.Correlation  `json:"correlation"`
	Decision     json.RawMessage   `json:"decision,omitempty"`
	// Metadata is an object; its string values run_id and flow_id, when
	// present, become the step's run and flow ids.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	TenantID string          `json:"tenant_id,omitempty"`
	// TraceID and RunID are read when the Router sends them at the top
	// level (correlation.trace_id wins over TraceID).
	TraceID string `json:"trace_id,omitempty"`
	RunID   string `json:"run_id,omitempty"`
}

// Executor is the provider an assignment was routed to.
type Executor struct {
	ProviderID string `json:"provider_id,omitempty"`
	Channel    string `json:"channel,omitempty"`
	Endpoint   string `json:"endpoint,omitempty"`
}

// Job is what to run: Type is the step type; Payload, an object, becomes
// the inputs; PayloadRef names a blob read into input "payload".
type Job struct {
	Type       string          `json:"type"`
	PayloadRef string          `json:"payload_ref,omitempty"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// AssignmentOptions are an assignment's scheduling options.
type AssignmentOptions struct {
	Priority json.RawMessage `json:"priority,omitempty"`
	// DeadlineMS is the step's time in milliseconds from receipt.
	DeadlineMS Int64  `json:"deadline_ms,omitempty"`
	Retry      *Retry `json:"retry,omitempty"`
}

// Retry is an assignment's retry policy.
type Retry struct {
	MaxAttempts Int64 `json:"max_attempts,omitempty"`
	BackoffMS   Int64 `json:"backoff_ms,omitempty"`
}

// Int64 is a JSON integer that may also arrive as a numeric string.
type Int64 int64

// UnmarshalJSON accepts an integer, an integral float, a numeric string or
// null.
func (n *Int64) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = Int64(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int64(f)) {
		return fmt.Errorf("%s is not an integer", b)
	}
	*n = Int64(f)
	return nil
}

// ExecResult is what a worker publishes on caf.exec.result.v1. Outputs and
// RetriesUsed extend the beamline contract (additive fields).
type ExecResult struct {
	Version      string            `json:"version"`
	AssignmentID string            `json:"assignment_id"`
	RequestID    string            `json:"request_id"`
	Status       host.Status       `json:"status"`
	ProviderID   string            `json:"provider_id"`
	Job          ResultJob         `json:"job"`
	LatencyMS    int64             `json:"latency_ms"`
	Cost         float64           `json:"cost"`
	Timestamp    int64             `json:"timestamp"`
	TraceID      string            `json:"trace_id"`
	TenantID     string            `json:"tenant_id"`
	MsgID        string            `json:"msg_id"`
	RunID        string            `json:"run_id"`
	ErrorCode    abi.Code          `json:"error_code"`
	ErrorMessage string            `json:"error_message"`
	Outputs      map[string]string `json:"outputs"`
	RetriesUsed  int               `json:"retries_used"`
}

// ResultJob names the job a result is for.
type ResultJob struct {
	Type string `json:"type"`
}

// WorkerHeartbeat is what a worker publishes on caf.worker.heartbeat.v1.
type WorkerHeartbeat struct {
	WorkerID string `json:"worker_id"`
	// Timestamp is in Unix milliseconds.
	Timestamp int64 `json:"timestamp"`
	// Status is ready, busy or degraded.
	Status    string             `json:"status"`
	Resources HeartbeatResources `json:"resources"`
}

// Heartbeat statuses.
const (
	StatusReady    = "ready"
	StatusBusy     = "busy"
	StatusDegraded = "degraded"
)

// HeartbeatResources are a worker's load: CPU and GPU are the fractions
// (0 to 1) of the cpu and gpu pools' slots in use, MemBytes the Go runtime's
// memory obtained from the OS, JobsInFlight the steps admitted and not
// finished.
type HeartbeatResources struct {
	CPU          float64 `json:"cpu"`
	GPU          float64 `json:"gpu"`
	MemBytes     uint64  `json:"mem_bytes"`
	JobsInFlight int     `json:"jobs_in_flight"`
}

// DeadLetter is what a worker publishes on caf.exec.dlq.v1 for an
// assignment it will never run (Reason ReasonInvalid) or whose step failed
// with a code CP2 classification does not retry (ReasonNonRetryable).
type DeadLetter struct {
	Version        string          `json:"version"`
	AssignmentID   string          `json:"assignment_id,omitempty"`
	RequestID      string          `json:"request_id,omitempty"`
	TenantID       string          `json:"tenant_id,omitempty"`
	TraceID        string          `json:"trace_id,omitempty"`
	WorkerID       string          `json:"worker_id"`
	Reason         string          `json:"reason"`
	ErrorCode      abi.Code        `json:"error_code"`
	ErrorMessage   string          `json:"error_message"`
	Timestamp      int64           `json:"timestamp"`
	Stream         string          `json:"stream,omitempty"`
	StreamSequence uint64          `json:"stream_sequence,omitempty"`
	Deliveries     uint64          `json:"deliveries,omitempty"`
	Assignment     json.RawMessage `json:"assignment,omitempty"`
	// AssignmentRaw holds the message body when it is not JSON (truncated
	// to half the server's max payload).
	AssignmentRaw string      `json:"assignment_raw,omitempty"`
	Result        *ExecResult `json:"result,omitempty"`
}

// Dead-letter reasons.
const (
	ReasonInvalid      = "invalid_assignment"
	ReasonNonRetryable = "non_retryable_failure"
)

// Ack statuses and the reason of a malformed assignment.
const (
	AckAccepted      = "accepted"
	AckRejected      = "rejected"
	ReasonBadRequest = "INVALID_INPUT"
)

// GuardrailBackoffMS is the StepRequest.Guardrails key that carries an
// assignment's options.retry.backoff_ms (the retry backoff base).
const GuardrailBackoffMS = "backoff_ms"

// invalidError is an assignment that can never run.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// maxIDLen bounds assignment ids (the host's step_id limit).
const maxIDLen = 256

// decodeAssignment parses and checks an assignment. A non-nil error is an
// *invalidError; the returned assignment holds whatever could be read.
func decodeAssignment(data []byte) (*ExecAssignment, error) {
	a := new(ExecAssignment)
	if err := json.Unmarshal(data, a); err != nil {
		// Keep what identifies the message for the ACK and the DLQ.
		var id struct {
			AssignmentID any `json:"assignment_id"`
			RequestID    any `json:"request_id"`
			TenantID     any `json:"tenant_id"`
		}
		if json.Unmarshal(data, &id) == nil {
			a.AssignmentID, _ = id.AssignmentID.(string)
			a.RequestID, _ = id.RequestID.(string)
			a.TenantID, _ = id.TenantID.(string)
		}
		return a, invalidf("assignment is not a valid ExecAssignment: %v", err)
	}
	switch {
	case a.Version != "" && a.Version != "1":
		return a, invalidf("version %q is not supported (want \"1\")", a.Version)
	case a.AssignmentID == "":
		return a, invalidf("assignment_id is required")
	case len(a.AssignmentID) > maxIDLen:
		return a, invalidf("assignment_id is longer than %d bytes", maxIDLen)
	case a.Job.Type == "":
		return a, invalidf("job.type is required")
	case a.Options.DeadlineMS < 0:
		return a, invalidf("options.deadline_ms must not be negative, got %d", a.Options.DeadlineMS)
	}
	if r := a.Options.Retry; r != nil {
		if r.MaxAttempts < 0 || r.MaxAttempts > 101 {
			return a, invalidf("options.retry.max_attempts must be 0..101, got %d", r.MaxAttempts)
		}
		if r.BackoffMS < 0 {
			return a, invalidf("options.retry.backoff_ms must not be negative, got %d", r.BackoffMS)
		}
	}
	if len(a.Job.Payload) > 0 && !isNullJSON(a.Job.Payload) {
		if b := bytes.TrimSpace(a.Job.Payload); len(b) == 0 || b[0] != '{' {
			return a, invalidf("job.payload must be an object")
		}
	}
	if len(a.Metadata) > 0 && !isNullJSON(a.Metadata) {
		if b := bytes.TrimSpace(a.Metadata); len(b) == 0 || b[0] != '{' {
			return a, invalidf("metadata must be an object")
		}
	}
	return a, nil
}

func isNullJSON(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

// inputs turns job.payload into step inputs: string values as they are,
// anything else JSON-encoded.
func (a *ExecAssignment) inputs() (map[string]string, error) {
	if len(a.Job.Payload) == 0 || isNullJSON(a.Job.Payload) {
		return map[string]string{}, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(a.Job.Payload, &raw); err != nil {
		return nil, invalidf("job.payload: %v", err)
	}
	in := make(map[string]string, len(raw)+1)
	for k, v := range raw {
		if len(v) > 0 && v[0] == '"' {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, invalidf("job.payload.%s: %v", k, err)
			}
			in[k] = s
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return nil, invalidf("job.payload.%s: %v", k, err)
		}
		in[k] = buf.String()
	}
	return in, nil
}

// metadataString returns the string value of key in the metadata object.
func (a *ExecAssignment) metadataString(key string) string {
	if len(a.Metadata) == 0 {
		return ""
	}
	var m map[string]any
	if json.Unmarshal(a.Metadata, &m) != nil {
		return ""
	}
	s, _ := m[key].(string)
	return s
}

// traceID is the assignment's trace id: correlation.trace_id, else the top
// level trace_id.
func (a *ExecAssignment) traceID() string {
	if a.Correlation.TraceID != "" {
		return a.Correlation.TraceID
	}
	return a.TraceID
}

// runID is run_id (top level, else metadata.run_id), else request_id.
func (a *ExecAssignment) runID() string {
	switch {
	case a.RunID != "":
		return a.RunID
	case a.metadataString("run_id") != "":
		return a.metadataString("run_id")
	}
	return a.RequestID
}

// stepRequest maps the assignment onto a StepRequest: step_id is the
// assignment id, deadline_ms the timeout, max_attempts-1 the retry count
// and backoff_ms the guardrail GuardrailBackoffMS. payload, when hasRef, is
// the payload_ref blob, set as input "payload".
func (a *ExecAssignment) stepRequest(payload string, hasRef bool) (host.StepRequest, error) {
	in, err := a.inputs()
	if err != nil {
		return host.StepRequest{}, err
	}
	if hasRef {
		if _, dup := in["payload"]; dup {
			return host.StepRequest{}, invalidf("job.payload has a key \"payload\" and job.payload_ref is set: one of them must go")
		}
		in["payload"] = payload
	}
	req := host.StepRequest{
		Type:      a.Job.Type,
		Inputs:    in,
		TimeoutMS: int64(a.Options.DeadlineMS),
		Context: host.BlockContext{
			TenantID: a.TenantID,
			TraceID:  a.traceID(),
			RunID:    a.runID(),
			FlowID:   a.metadataString("flow_id"),
			StepID:   a.AssignmentID,
		},
	}
	if r := a.Options.Retry; r != nil {
		if r.MaxAttempts > 0 {
			n := int(r.MaxAttempts) - 1
			req.RetryCount = &n
		}
		if r.BackoffMS > 0 {
			req.Guardrails = map[string]string{GuardrailBackoffMS: strconv.FormatInt(int64(r.BackoffMS), 10)}
		}
	}
	return req, nil
}

// resultFor builds the ExecResult of a step.
func (a *ExecAssignment) resultFor(res host.StepResult, worker, msgID string, now int64) ExecResult {
	out := ExecResult{
		Version:      "1",
		AssignmentID: a.AssignmentID,
		RequestID:    a.RequestID,
		Status:       res.Status,
		ProviderID:   worker,
		Job:          ResultJob{Type: a.Job.Type},
		LatencyMS:    res.LatencyMS,
		Timestamp:    now,
		TraceID:      a.traceID(),
		TenantID:     a.TenantID,
		MsgID:        msgID,
		RunID:        a.runID(),
		ErrorCode:    res.ErrorCode,
		ErrorMessage: res.ErrorMessage,
		Outputs:      res.Outputs,
		RetriesUsed:  res.RetriesUsed,
	}
	if out.Outputs == nil {
		out.Outputs = map[string]string{}
	}
	return out
}

// errorResult is a StepResult for a step the bus failed without running it.
func errorResult(status host.Status, code abi.Code, msg string) host.StepResult {
	return host.StepResult{Status: status, ErrorCode: code, ErrorMessage: msg, Outputs: map[string]string{}}
}

// describe shortens err for an ACK message.
func describe(err error) string {
	var ie *invalidError
	if errors.As(err, &ie) {
		return ie.msg
	}
	return strings.TrimSpace(err.Error())
}
