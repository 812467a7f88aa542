// The environment AssemblyScript's standard library imports from module
// "env" — abort, trace, seed and console — implemented on the ABI instead,
// since the host refuses any module but "blockhost" and
// "wasi_snapshot_preview1". Build with
//
//   --use abort=blockhostAbort --use trace=blockhostTrace
//   --use seed=blockhostSeed --use console=blockhostConsole
//
// (asconfig.json beside this package holds these options). Each is
// compiled into a block only if the block uses it.

import { host } from "./host";
import { Code, Level, Retry } from "./codes";

// abort writes its message here rather than on the heap: it may be called
// from inside the allocator or the garbage collector, or because memory is
// exhausted.
const ABORT_BUF_SIZE: i32 = 2048;
const abortBuf: usize = memory.data(ABORT_BUF_SIZE);
let aborting = false;

/** Appends the UTF-8 of `s` at `pos`, as much as fits; returns the new position. */
function put(pos: i32, s: string | null): i32 {
  if (s === null) return pos;
  let n = s.length;
  const room = (ABORT_BUF_SIZE - pos) / 3; // a UTF-16 unit takes at most 3 bytes
  if (n > room) {
    n = room;
    if (n > 0 && (s.charCodeAt(n - 1) & 0xFC00) == 0xD800) n--; // keep surrogate pairs whole
  }
  const end = String.UTF8.encodeUnsafe(changetype<usize>(s), n, abortBuf + <usize>pos, false, String.UTF8.ErrorMode.REPLACE);
  return pos + <i32>(end);
}

/** Appends `v` in decimal at `pos`. */
function putU32(pos: i32, v: u32): i32 {
  let digits = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  if (pos + digits > ABORT_BUF_SIZE) return pos;
  for (let i = digits - 1; i >= 0; i--) {
    store<u8>(abortBuf + <usize>(pos + i), <u8>(0x30 + v % 10));
    v /= 10;
  }
  return pos + digits;
}

/**
 * AssemblyScript's `abort`, called by `throw`, a failed `assert`, an
 * out-of-bounds array access, reading the value of a failed Result, ...
 *
 * It logs "abort: MESSAGE at FILE:LINE:COLUMN" at error level, records it
 * as the step's EXECUTION_FAILED report (error_set), then traps. The host
 * reports the trap — EXECUTION_FAILED, "block trapped: …", not retried —
 * and discards the instance, whose state can no longer be trusted.
 */
// @ts-ignore: decorator
@global
export function blockhostAbort(message: string | null, fileName: string | null, lineNumber: u32, columnNumber: u32): void {
  if (!aborting) {
    aborting = true; // an abort while aborting just traps
    let n = put(0, "abort: ");
    n = put(n, message !== null ? message : "(no message)");
    if (fileName !== null) {
      n = put(n, " at ");
      n = put(n, fileName);
      n = put(n, ":");
      n = putU32(n, lineNumber);
      n = put(n, ":");
      n = putU32(n, columnNumber);
    }
    host.log(Level.Error, abortBuf, n);
    host.error_set(Code.ExecutionFailed, abortBuf, n, 0, 0, Retry.No);
  }
  unreachable();
}

/**
 * AssemblyScript's `trace(message, n, a0, …, a4)`: logs the message and the
 * first `n` numbers at debug level.
 */
// @ts-ignore: decorator
@global
export function blockhostTrace(message: string, n: i32 = 0, a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0): void {
  let s = "trace: " + message;
  if (n > 0) s += " " + a0.toString();
  if (n > 1) s += ", " + a1.toString();
  if (n > 2) s += ", " + a2.toString();
  if (n > 3) s += ", " + a3.toString();
  if (n > 4) s += ", " + a4.toString();
  const b = String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE);
  host.log(Level.Debug, changetype<usize>(b), b.byteLength);
}

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function random_get(buf: usize, len: usize): i32;

/**
 * AssemblyScript's `seed`, which seeds Math.random on its first use: 8
 * bytes from WASI's random_get (the host's crypto/rand). Only a block that
 * uses Math.random imports it.
 */
// @ts-ignore: decorator
@global
export function blockhostSeed(): f64 {
  const p = memory.data(8);
  random_get(p, 8);
  return reinterpret<f64>(load<u64>(p));
}

/** Logs `message` at `level` (outside a step the host ignores it). */
function consoleWrite(level: i32, message: string): void {
  const b = String.UTF8.encode(message, false, String.UTF8.ErrorMode.REPLACE);
  host.log(level, changetype<usize>(b), b.byteLength);
}

/**
 * AssemblyScript's `console`, writing to the step's log: `console.log` and
 * `console.info` at info level, `debug`, `warn` and `error` at theirs.
 * (Build with `--use console=blockhostConsole`.)
 */
// @ts-ignore: decorator
@global
export namespace blockhostConsole {
  export function log(message: string = ""): void {
    consoleWrite(Level.Info, message);
  }
  export function info(message: string = ""): void {
    consoleWrite(Level.Info, message);
  }
  export function debug(message: string = ""): void {
    consoleWrite(Level.Debug, message);
  }
  export function warn(message: string = ""): void {
    consoleWrite(Level.Warn, message);
  }
  export function error(message: string = ""): void {
    consoleWrite(Level.Error, message);
  }
  export function assert<T>(condition: T, message: string = ""): void {
    if (!condition) consoleWrite(Level.Error, "Assertion failed: " + message);
  }
}
