// Codes, levels, flags, context keys and limits of ABI v1 (abi/ABI.md
// sections 4 and 5; abi/abi.go is their machine-readable source).

/**
 * An error code of the shared table. Host functions return a code negated
 * (-6001 is NOT_FOUND); a block reports a positive code with `fail` or as
 * the return value of its handler.
 */
export enum Code {
  /** Success. */
  None = 0,

  // Beamline codes: they go on the wire as their names.
  InvalidInput = 1001,
  MissingRequiredField = 1002,
  InvalidFormat = 1003,
  ExecutionFailed = 2001,
  ResourceUnavailable = 2002,
  PermissionDenied = 2003,
  QuotaExceeded = 2004,
  NetworkError = 3001,
  ConnectionTimeout = 3002,
  HttpError = 3003,
  InternalError = 4001,
  SystemOverload = 4002,
  CancelledByUser = 5001,
  CancelledByTimeout = 5002,
  UnknownError = 9999,

  // Host codes: what host functions return. Reported by a block, each is
  // carried on the wire as its beamline mapping, the message keeping the
  // host code's name.
  /** Input, config, context key or blob absent (wire: INVALID_INPUT). */
  NotFound = 6001,
  /** Pointer/length outside linear memory (wire: EXECUTION_FAILED). */
  BadPointer = 6002,
  /** Handle not open, or of the wrong kind (wire: EXECUTION_FAILED). */
  BadHandle = 6003,
  /** Malformed argument, metadata, level or flag (wire: EXECUTION_FAILED). */
  InvalidArgument = 6004,
  /** A size, count or handle limit (wire: QUOTA_EXCEEDED). */
  LimitExceeded = 6005,
  /** The target's circuit breaker is open (wire: RESOURCE_UNAVAILABLE). */
  CircuitOpen = 6006,
  /** Capability not granted, egress or jail policy (wire: PERMISSION_DENIED). */
  Denied = 6007,
  /** The step was cancelled or its deadline passed (wire: CANCELLED_BY_USER). */
  Cancelled = 6008,
  /** Not available on this handle, or outside the entry point (wire: EXECUTION_FAILED). */
  Unsupported = 6009,
  /** Disk full, EIO and other storage failures (wire: RESOURCE_UNAVAILABLE). */
  IOError = 6010,
  /** A host call's own timeout fired (wire: RESOURCE_UNAVAILABLE). */
  Timeout = 6011,
}

/** The upper-case name of `code` ("NOT_FOUND"), or "UNKNOWN_ERROR" for a code outside the table. */
export function codeName(code: i32): string {
  switch (code) {
    case Code.None: return "NONE";
    case Code.InvalidInput: return "INVALID_INPUT";
    case Code.MissingRequiredField: return "MISSING_REQUIRED_FIELD";
    case Code.InvalidFormat: return "INVALID_FORMAT";
    case Code.ExecutionFailed: return "EXECUTION_FAILED";
    case Code.ResourceUnavailable: return "RESOURCE_UNAVAILABLE";
    case Code.PermissionDenied: return "PERMISSION_DENIED";
    case Code.QuotaExceeded: return "QUOTA_EXCEEDED";
    case Code.NetworkError: return "NETWORK_ERROR";
    case Code.ConnectionTimeout: return "CONNECTION_TIMEOUT";
    case Code.HttpError: return "HTTP_ERROR";
    case Code.InternalError: return "INTERNAL_ERROR";
    case Code.SystemOverload: return "SYSTEM_OVERLOAD";
    case Code.CancelledByUser: return "CANCELLED_BY_USER";
    case Code.CancelledByTimeout: return "CANCELLED_BY_TIMEOUT";
    case Code.NotFound: return "NOT_FOUND";
    case Code.BadPointer: return "BAD_POINTER";
    case Code.BadHandle: return "BAD_HANDLE";
    case Code.InvalidArgument: return "INVALID_ARGUMENT";
    case Code.LimitExceeded: return "LIMIT_EXCEEDED";
    case Code.CircuitOpen: return "CIRCUIT_OPEN";
    case Code.Denied: return "DENIED";
    case Code.Cancelled: return "CANCELLED";
    case Code.Unsupported: return "UNSUPPORTED";
    case Code.IOError: return "IO_ERROR";
    case Code.Timeout: return "TIMEOUT";
  }
  return "UNKNOWN_ERROR";
}

/** Whether `code` is a code of the shared table (beamline or host code). */
export function isKnownCode(code: i32): bool {
  return code == Code.None || codeName(code) != "UNKNOWN_ERROR" || code == Code.UnknownError;
}

/** A log level (`Step.log`). */
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** The `retryable` override of a failure report (`fail`). */
export enum Retry {
  /** The host's classification of the code decides. */
  Default = 0,
  /** Retry whatever the code. */
  Yes = 1,
  /** Never retry. */
  No = 2,
}

/** Keys readable with `Step.contextValue`. */
export namespace ContextKey {
  export const TenantId = "tenant_id";
  export const TraceId = "trace_id";
  export const RunId = "run_id";
  export const FlowId = "flow_id";
  export const StepId = "step_id";
  export const StepType = "step_type";
  /** Decimal attempt number: "0" for the first attempt, "1" for the first retry, … */
  export const Attempt = "attempt";
}

/** Longest key (input, output, config, context, blob) in bytes. */
export const MAX_KEY_LEN: i32 = 4096;
/** Longest failure message the host keeps, in bytes. */
export const MAX_MESSAGE_LEN: i32 = 8192;
/** Most handles a step may have open at once. */
export const MAX_HANDLES: i32 = 64;
