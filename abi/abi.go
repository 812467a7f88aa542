// Package abi holds the names and codes of blockhost ABI v1 that the host and
// guest SDKs share. The normative specification is ABI.md beside this file;
// this package is its machine-readable half and imports nothing of the host.
//
// Everything here is safe for concurrent use: it is constants and pure
// functions.
package abi

import "strings"

// Version is the ABI version this package describes.
const Version = 1

// Module names a block may import from. Any other import module is refused
// at load.
const (
	ModuleName = "blockhost"
	WASIModule = "wasi_snapshot_preview1"
)

// Exports the host looks for.
const (
	// EntryPointPrefix is the prefix of every versioned entry point:
	// "blockhost_run_v" followed by the decimal ABI version.
	EntryPointPrefix = "blockhost_run_v"
	// EntryPointV1 is the ABI v1 entry point: () -> i32.
	EntryPointV1 = "blockhost_run_v1"
	// InitializeExport is called once per instance, before any entry point,
	// when the block exports it: () -> ().
	InitializeExport = "_initialize"
	// MemoryExport is the linear memory every block must export.
	MemoryExport = "memory"
)

// Host functions of module "blockhost" in ABI v1. ABI.md gives each one's
// signature and semantics; the Go guest SDK declares them with the same
// names.
const (
	FnInputLen         = "input_len"
	FnInputRead        = "input_read"
	FnInputOpen        = "input_open"
	FnInputKeys        = "input_keys"
	FnInputsJSON       = "inputs_json"
	FnOutputSet        = "output_set"
	FnOutputOpen       = "output_open"
	FnOutputFromHandle = "output_from_handle"
	FnContextGet       = "context_get"
	FnConfigGet        = "config_get"
	FnLog              = "log"
	FnErrorSet         = "error_set"
	FnLastError        = "last_error"
	FnHandleRead       = "handle_read"
	FnHandleWrite      = "handle_write"
	FnHandleSize       = "handle_size"
	FnHandleClose      = "handle_close"
	FnBufferNew        = "buffer_new"
	FnHTTPRequest      = "http_request"
	FnHTTPResponseMeta = "http_response_meta"
	FnBlobOpenRead     = "blob_open_read"
	FnBlobOpenWrite    = "blob_open_write"
	FnBlobPutFrom      = "blob_put_from"
	FnBlobDelete       = "blob_delete"
	FnBlobStat         = "blob_stat"
	FnBlobList         = "blob_list"
)

// HostFunctions lists every function of module "blockhost" in ABI v1. A
// block importing a name that is not here is refused at load.
var HostFunctions = []string{
	FnInputLen, FnInputRead, FnInputOpen, FnInputKeys, FnInputsJSON,
	FnOutputSet, FnOutputOpen, FnOutputFromHandle,
	FnContextGet, FnConfigGet, FnLog, FnErrorSet, FnLastError,
	FnHandleRead, FnHandleWrite, FnHandleSize, FnHandleClose, FnBufferNew,
	FnHTTPRequest, FnHTTPResponseMeta,
	FnBlobOpenRead, FnBlobOpenWrite, FnBlobPutFrom, FnBlobDelete, FnBlobStat, FnBlobList,
}

// Context keys readable with context_get.
const (
	CtxTenantID = "tenant_id"
	CtxTraceID  = "trace_id"
	CtxRunID    = "run_id"
	CtxFlowID   = "flow_id"
	CtxStepID   = "step_id"
	CtxStepType = "step_type"
	CtxAttempt  = "attempt" // decimal, 0 for the first attempt
)

// Log levels accepted by log.
const (
	LogDebug int32 = 0
	LogInfo  int32 = 1
	LogWarn  int32 = 2
	LogError int32 = 3
)

// Retryable override values accepted by error_set.
const (
	RetryDefault int32 = 0 // the host's classification decides
	RetryYes     int32 = 1 // retry whatever the code
	RetryNo      int32 = 2 // never retry
)

// Code is an error code of the shared table. Host functions return the
// negated code as their status; a block reports a positive code with
// error_set or as the return value of its entry point.
type Code int32

// The beamline codes (wire form: the upper-case name).
const (
	None                 Code = 0
	InvalidInput         Code = 1001
	MissingRequiredField Code = 1002
	InvalidFormat        Code = 1003
	ExecutionFailed      Code = 2001
	ResourceUnavailable  Code = 2002
	PermissionDenied     Code = 2003
	QuotaExceeded        Code = 2004
	NetworkError         Code = 3001
	ConnectionTimeout    Code = 3002
	HTTPError            Code = 3003
	InternalError        Code = 4001
	SystemOverload       Code = 4002
	CancelledByUser      Code = 5001
	CancelledByTimeout   Code = 5002
	UnknownError         Code = 9999
)

// The host's own codes. They never go on the wire: each maps onto a beamline
// code (see Wire) and its detail goes into the error message.
const (
	NotFound        Code = 6001 // input, config, context key or blob absent
	BadPointer      Code = 6002 // pointer/length outside linear memory
	BadHandle       Code = 6003 // handle unknown, closed or of the wrong kind
	InvalidArgument Code = 6004 // malformed metadata, unknown level, bad flag
	LimitExceeded   Code = 6005 // a size, count or handle limit
	CircuitOpen     Code = 6006 // the target's circuit breaker is open
	Denied          Code = 6007 // egress or jail policy, or capability not granted
	Cancelled       Code = 6008 // the step was cancelled or its deadline passed
	Unsupported     Code = 6009 // the operation is not available on this handle
	IOError         Code = 6010 // disk full, EIO and other storage failures
	Timeout         Code = 6011 // a host call's own timeout fired
)

type codeInfo struct {
	name string
	wire Code
}

var codes = map[Code]codeInfo{
	None:                 {"NONE", None},
	InvalidInput:         {"INVALID_INPUT", InvalidInput},
	MissingRequiredField: {"MISSING_REQUIRED_FIELD", MissingRequiredField},
	InvalidFormat:        {"INVALID_FORMAT", InvalidFormat},
	ExecutionFailed:      {"EXECUTION_FAILED", ExecutionFailed},
	ResourceUnavailable:  {"RESOURCE_UNAVAILABLE", ResourceUnavailable},
	PermissionDenied:     {"PERMISSION_DENIED", PermissionDenied},
	QuotaExceeded:        {"QUOTA_EXCEEDED", QuotaExceeded},
	NetworkError:         {"NETWORK_ERROR", NetworkError},
	ConnectionTimeout:    {"CONNECTION_TIMEOUT", ConnectionTimeout},
	HTTPError:            {"HTTP_ERROR", HTTPError},
	InternalError:        {"INTERNAL_ERROR", InternalError},
	SystemOverload:       {"SYSTEM_OVERLOAD", SystemOverload},
	CancelledByUser:      {"CANCELLED_BY_USER", CancelledByUser},
	CancelledByTimeout:   {"CANCELLED_BY_TIMEOUT", CancelledByTimeout},
	UnknownError:         {"UNKNOWN_ERROR", UnknownError},
	NotFound:             {"NOT_FOUND", InvalidInput},
	BadPointer:           {"BAD_POINTER", ExecutionFailed},
	BadHandle:            {"BAD_HANDLE", ExecutionFailed},
	InvalidArgument:      {"INVALID_ARGUMENT", ExecutionFailed},
	LimitExceeded:        {"LIMIT_EXCEEDED", QuotaExceeded},
	CircuitOpen:          {"CIRCUIT_OPEN", ResourceUnavailable},
	Denied:               {"DENIED", PermissionDenied},
	Cancelled:            {"CANCELLED", CancelledByUser},
	Unsupported:          {"UNSUPPORTED", ExecutionFailed},
	IOError:              {"IO_ERROR", ResourceUnavailable},
	Timeout:              {"TIMEOUT", ResourceUnavailable},
}

// Known reports whether c is a code of the shared table.
func (c Code) Known() bool { _, ok := codes[c]; return ok }

// String returns the upper-case name of c, or "UNKNOWN_ERROR" for a code
// outside the table.
func (c Code) String() string {
	if ci, ok := codes[c]; ok {
		return ci.name
	}
	return "UNKNOWN_ERROR"
}

// Wire returns the beamline code c is reported as: c itself for a beamline
// code, its mapping for a host code, UnknownError for anything else.
func (c Code) Wire() Code {
	if ci, ok := codes[c]; ok {
		return ci.wire
	}
	return UnknownError
}

// Host reports whether c is one of the host's own codes.
func (c Code) Host() bool { return c >= 6000 && c < 7000 && c.Known() }

// Status returns the value a host function returns for c: its negation.
func (c Code) Status() int32 { return -int32(c) }

// ParseCode returns the code named name (any case), as used on the wire.
func ParseCode(name string) (Code, bool) {
	name = strings.ToUpper(name)
	for c, ci := range codes {
		if ci.name == name {
			return c, true
		}
	}
	return 0, false
}

// Limits of ABI v1 that every host enforces. Operators may lower the
// per-step ones; they are stated in ABI.md.
const (
	// MaxKeyLen is the longest input, output, config, context or blob key.
	MaxKeyLen = 4096
	// MaxMetaLen is the longest JSON metadata document a guest passes in
	// (HTTP request metadata) and the header cap.
	MaxMetaLen = 64 << 10
	// MaxMessageLen is the longest error message kept; longer ones are
	// truncated.
	MaxMessageLen = 8 << 10
	// DefaultMaxHandles is the default number of handles open at once per step.
	DefaultMaxHandles = 64
)

// MarshalText encodes c as its upper-case name, the wire form.
func (c Code) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText decodes a wire name into c.
func (c *Code) UnmarshalText(b []byte) error {
	v, ok := ParseCode(string(b))
	if !ok {
		return &UnknownCodeError{Name: string(b)}
	}
	*c = v
	return nil
}

// UnknownCodeError reports a wire name outside the shared table.
type UnknownCodeError struct{ Name string }

func (e *UnknownCodeError) Error() string { return "abi: unknown error code " + strconvQuote(e.Name) }

func strconvQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
