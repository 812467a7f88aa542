package host

import (
	"errors"
	"time"

	"github.com/beamline/blockhost/abi"
)

// Status is the outcome of a step; its wire form is one of "success",
// "error", "timeout" and "cancelled".
type Status string

// Step outcomes.
const (
	StatusSuccess   Status = "success"
	StatusError     Status = "error"
	StatusTimeout   Status = "timeout"
	StatusCancelled Status = "cancelled"
)

// BlockContext carries the correlation ids of a step (beamline BlockContext).
type BlockContext struct {
	TenantID   string   `json:"tenant_id,omitempty"`
	TraceID    string   `json:"trace_id,omitempty"`
	RunID      string   `json:"run_id,omitempty"`
	FlowID     string   `json:"flow_id,omitempty"`
	StepID     string   `json:"step_id,omitempty"`
	Sandbox    bool     `json:"sandbox,omitempty"`
	RBACScopes []string `json:"rbac_scopes,omitempty"`
}

// StepRequest is one step to run (beamline StepRequest).
type StepRequest struct {
	// Type routes the step to the block whose manifest claims it.
	Type string `json:"type"`
	// Inputs are the step's string values; structured values are
	// JSON-encoded strings.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Resources may name the resource pool with "class"; otherwise the
	// pool follows the type prefix (http.* and fs.* io, ai.* and media.*
	// gpu, else cpu).
	Resources map[string]string `json:"resources,omitempty"`
	// TimeoutMS is the step's time: per attempt in CP1, the whole step's
	// budget from admission in CP2. 0 means the default, 30000.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
	// RetryCount is how many retries after the first attempt; nil means
	// the default, 3.
	RetryCount *int `json:"retry_count,omitempty"`
	// Guardrails are passed through untouched.
	Guardrails map[string]string `json:"guardrails,omitempty"`
	// Context carries the correlation ids; StepID is generated when empty.
	Context BlockContext `json:"context"`
}

// Metadata is the correlation part of a StepResult.
type Metadata struct {
	TraceID  string `json:"trace_id,omitempty"`
	RunID    string `json:"run_id,omitempty"`
	FlowID   string `json:"flow_id,omitempty"`
	StepID   string `json:"step_id"`
	TenantID string `json:"tenant_id,omitempty"`
}

// StepResult is the outcome of an admitted step (beamline StepResult).
type StepResult struct {
	Status       Status            `json:"status"`
	ErrorCode    abi.Code          `json:"error_code"`
	ErrorMessage string            `json:"error_message"`
	Outputs      map[string]string `json:"outputs"`
	Metadata     Metadata          `json:"metadata"`
	LatencyMS    int64             `json:"latency_ms"`
	RetriesUsed  int               `json:"retries_used"`
}

// Ack is a beamline ExecAssignmentAck; the host answers a rejected step with
// one.
type Ack struct {
	Version      string            `json:"version"`
	AssignmentID string            `json:"assignment_id"`
	Status       string            `json:"status"`
	Reason       string            `json:"reason,omitempty"`
	Message      string            `json:"message,omitempty"`
	TenantID     string            `json:"tenant_id,omitempty"`
	Correlation  Correlation       `json:"correlation"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

// Correlation is the correlation object of beamline wire messages.
type Correlation struct {
	TraceID string `json:"trace_id,omitempty"`
}

// Errors returned by Execute for steps that were not admitted. Each is
// matched with errors.Is; a rejection is a *RejectedError carrying the ACK.
var (
	ErrInvalidRequest = errors.New("invalid step request")
	ErrUnknownType    = errors.New("no block serves this step type")
	ErrDuplicateStep  = errors.New("step_id already in flight")
	ErrRejected       = errors.New("step rejected")
	ErrDraining       = errors.New("host is draining")
	ErrClosed         = errors.New("host is closed")
	ErrTooLarge       = errors.New("step input too large")
	// ErrCancellationDisabled is returned by Cancel while
	// CP2_CANCELLATION_ENABLED is off.
	ErrCancellationDisabled = errors.New("cancellation is disabled (CP2_CANCELLATION_ENABLED=false)")
	// ErrUnknownStep is returned by Cancel for a step that is not in flight.
	ErrUnknownStep = errors.New("no such step in flight")
)

// RejectedError is the error of a step the host would not queue. It matches
// ErrRejected and carries the ACK to send back and a retry hint.
type RejectedError struct {
	Ack        Ack
	Pool       string
	RetryAfter time.Duration
}

func (e *RejectedError) Error() string {
	return "step rejected by pool " + e.Pool + ": " + e.Ack.Reason
}

// Is reports whether target is ErrRejected.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// BlockInfo describes a loaded block (GET /v1/blocks).
type BlockInfo struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Digest    string    `json:"digest"`
	Types     []string  `json:"types"`
	State     string    `json:"state"`
	LoadedAt  time.Time `json:"loaded_at,omitzero"` // absent for a block that never loaded
	LastError string    `json:"last_error"`
}

// PoolInfo describes a resource pool (GET /v1/pools).
type PoolInfo struct {
	Name           string `json:"name"`
	MaxConcurrency int    `json:"max_concurrency"`
	Active         int    `json:"active"`
	QueueDepth     int    `json:"queue_depth"`
	MaxQueueSize   *int   `json:"max_queue_size"`
	Policy         string `json:"policy"`
	State          string `json:"state"`
}
