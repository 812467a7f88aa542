// Errors: failed host calls (HostError), results of fallible calls
// (Result), and the step's failure report (fail, errorSet).
//
// AssemblyScript has no exceptions a block could catch: `throw` aborts the
// instance (see env.ts). So every SDK call that can fail returns its
// failure as a value: a Result<T> for calls that produce something, a
// HostError | null for the others. A handler fails its step by returning a
// code, after describing the failure with `fail` or `HostError.report`.

import { host } from "./host";
import { Code, codeName, isKnownCode, MAX_MESSAGE_LEN, Retry } from "./codes";
import { copyOut, CopyOut, copyOutName, lastErrorDetail, ptr, scratchString, UNSTABLE, utf8, utf8Prefix } from "./internal";

/** A failed call of a host function. */
export class HostError {
  constructor(
    /** The code the host returned, as a positive number (6001 for -6001). */
    public readonly code: Code,
    /** The ABI function that failed, e.g. "blob_open_read". */
    public readonly op: string,
    /** The host's explanation (last_error), possibly empty. */
    public readonly detail: string,
  ) {}

  /** The upper-case name of the code, e.g. "NOT_FOUND". */
  get name(): string {
    return codeName(this.code);
  }

  /** "op: NAME: detail", e.g. `config_get: NOT_FOUND: no config key "x"`. */
  toString(): string {
    let s = this.op + ": " + this.name;
    if (this.detail.length > 0) s += ": " + this.detail;
    return s;
  }

  /**
   * Makes this failure the step's failure report — its code, with the
   * host's detail as the message — and returns the code, for the handler
   * to return. The wire carries the code's beamline mapping and the host
   * prefixes the message with the code's name: `NOT_FOUND: no config key "x"`.
   */
  report(): i32 {
    const msg = utf8(this.detail);
    host.error_set(this.code, ptr(msg), utf8Prefix(msg, MAX_MESSAGE_LEN), 0, 0, Retry.Default);
    return this.code;
  }
}

/**
 * The outcome of a fallible call: a value, or the HostError that prevented
 * it.
 *
 * ```ts
 * const text = step.input("text");
 * if (!text.ok) return text.report();
 * step.setOutput("echo", text.value);
 * ```
 */
export class Result<T> {
  constructor(private readonly val: T, public readonly error: HostError | null) {}

  /** Whether the call succeeded. */
  get ok(): bool {
    return this.error === null;
  }

  /** The value. Reading it from a failed result aborts the step (see env.ts). */
  get value(): T {
    const e = this.error;
    if (e !== null) throw new Error("value of a failed call: " + e.toString());
    return this.val;
  }

  /** The value, or `fallback` if the call failed. */
  valueOr(fallback: T): T {
    return this.error === null ? this.val : fallback;
  }

  /** The error's code, or Code.None on success. */
  get code(): Code {
    const e = this.error;
    return e === null ? Code.None : e.code;
  }

  /** Reports the error as HostError.report does and returns its code; 0 on success. */
  report(): i32 {
    const e = this.error;
    return e === null ? 0 : e.report();
  }
}

/** A successful Result holding `value`. */
export function okResult<T>(value: T): Result<T> {
  return new Result<T>(value, null);
}

/** A failed Result holding `error`. */
export function errResult<T>(error: HostError): Result<T> {
  if (isReference<T>()) {
    return new Result<T>(changetype<T>(0), error);
  } else {
    // @ts-ignore: T is a number type here
    return new Result<T>(<T>0, error);
  }
}

/**
 * The HostError of a call of `op` that returned `status` (< 0), with the
 * host's detail read from last_error.
 */
export function hostError(op: string, status: i64): HostError {
  return new HostError(<Code>(<i32>-status), op, lastErrorDetail());
}

/** The detail of the step's last failed host call (last_error); "" if none. */
export function lastError(): string {
  return lastErrorDetail();
}

/**
 * Reports the step's failure and returns `code`, for the handler to
 * return:
 *
 * ```ts
 * if (name.length == 0) return fail(Code.MissingRequiredField, "input name is empty");
 * return fail(Code.HttpError, "upstream said 503", 503, 2000);
 * ```
 *
 * `code` is a code of the shared table (zero, negative or unknown codes
 * are reported as EXECUTION_FAILED); `httpStatus` the upstream HTTP status
 * behind the failure (0 for none; values outside 100..599 are dropped);
 * `retryAfterMs` the least wait before a retry (0 for no hint);
 * `retryable` overrides the host's classification. The message is cut to
 * the 8192 bytes the host keeps, on a character boundary. The last report
 * of a step wins.
 */
export function fail(
  code: i32,
  message: string,
  httpStatus: i32 = 0,
  retryAfterMs: i32 = 0,
  retryable: Retry = Retry.Default,
): i32 {
  if (code <= 0 || !isKnownCode(code)) code = Code.ExecutionFailed;
  if (httpStatus != 0 && (httpStatus < 100 || httpStatus > 599)) httpStatus = 0;
  if (retryAfterMs < 0) retryAfterMs = 0;
  if (<i32>retryable < 0 || <i32>retryable > 2) retryable = Retry.Default;
  const msg = utf8(message);
  host.error_set(code, ptr(msg), utf8Prefix(msg, MAX_MESSAGE_LEN), httpStatus, retryAfterMs, retryable);
  return code;
}

/**
 * error_set as it is: records the failure report with exactly these
 * arguments and returns the host's status — 0, or -INVALID_ARGUMENT (and
 * nothing recorded) for a code <= 0, an HTTP status outside 100..599, a
 * negative retry-after or a retryable flag other than 0, 1 or 2. Prefer
 * `fail`, which never refuses.
 */
export function errorSet(code: i32, message: string, httpStatus: i32, retryAfterMs: i32, retryable: i32): i32 {
  const msg = utf8(message);
  return host.error_set(code, ptr(msg), msg.byteLength, httpStatus, retryAfterMs, retryable);
}

/** A copy-out call's value as a string, or its error. */
export function copyOutString(fn: CopyOut, arg: ArrayBuffer | null, h: i32): Result<string> {
  const n = copyOut(fn, arg, h);
  if (n < 0) return errResult<string>(copyOutError(fn, n));
  return okResult<string>(scratchString(n));
}

function copyOutError(fn: CopyOut, n: i32): HostError {
  const op = copyOutName(fn);
  if (n == UNSTABLE) return new HostError(Code.Unsupported, op, "value kept changing length between calls");
  return hostError(op, n);
}
