// Internals shared by the SDK's modules: UTF-8 conversion, the scratch
// buffer and the copy-out retry loop (abi/ABI.md 3, "Copy-out").
//
// A note on pointers: `changetype<usize>(buffer)` is the address of an
// ArrayBuffer's first byte. The garbage collector only runs when the SDK
// allocates, never during a host call, so a pointer taken just before a
// call stays valid through it as long as the buffer is held in a variable.

import { host } from "./host";

/** The size of one read or write the SDK makes when it streams data. */
export const CHUNK: i32 = 64 << 10;

/**
 * The UTF-8 bytes of `s`. Unpaired surrogates become U+FFFD, so the result
 * is always valid UTF-8 (the host refuses output keys that are not).
 */
export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s, false, String.UTF8.ErrorMode.REPLACE);
}

/** Decodes `len` bytes of UTF-8 at `ptr`. */
export function decode(ptr: usize, len: i32): string {
  return String.UTF8.decodeUnsafe(ptr, <usize>len);
}

/** The address of the first byte of `b`. */
// @ts-ignore: decorator
@inline
export function ptr(b: ArrayBuffer): usize {
  return changetype<usize>(b);
}

// The buffer copy-out calls start with. It grows to the largest value
// read and is dropped at the end of a step when it grew past SCRATCH_KEEP.
const SCRATCH_SIZE: i32 = 512;
const SCRATCH_KEEP: i32 = 64 << 10;
let scratch = new ArrayBuffer(SCRATCH_SIZE);

/** Called at the end of every step. */
export function resetScratch(): void {
  if (scratch.byteLength > SCRATCH_KEEP) scratch = new ArrayBuffer(SCRATCH_SIZE);
}

/** The functions that return a value by copy-out. */
export const enum CopyOut {
  InputKeys,
  InputsJson,
  ContextGet,
  ConfigGet,
  LastError,
  HttpResponseMeta,
  BlobStat,
  BlobList,
}

/** The ABI name of a copy-out function, for error messages. */
export function copyOutName(fn: CopyOut): string {
  switch (fn) {
    case CopyOut.InputKeys: return "input_keys";
    case CopyOut.InputsJson: return "inputs_json";
    case CopyOut.ContextGet: return "context_get";
    case CopyOut.ConfigGet: return "config_get";
    case CopyOut.LastError: return "last_error";
    case CopyOut.HttpResponseMeta: return "http_response_meta";
    case CopyOut.BlobStat: return "blob_stat";
    case CopyOut.BlobList: return "blob_list";
  }
  return "?";
}

function call(fn: CopyOut, arg: ArrayBuffer | null, h: i32, buf: usize, len: i32): i32 {
  let ap: usize = 0;
  let al: i32 = 0;
  if (arg !== null) {
    ap = ptr(arg);
    al = arg.byteLength;
  }
  switch (fn) {
    case CopyOut.InputKeys: return host.input_keys(buf, len);
    case CopyOut.InputsJson: return host.inputs_json(buf, len);
    case CopyOut.ContextGet: return host.context_get(ap, al, buf, len);
    case CopyOut.ConfigGet: return host.config_get(ap, al, buf, len);
    case CopyOut.LastError: return host.last_error(buf, len);
    case CopyOut.HttpResponseMeta: return host.http_response_meta(h, buf, len);
    case CopyOut.BlobStat: return host.blob_stat(ap, al, buf, len);
    case CopyOut.BlobList: return host.blob_list(ap, al, buf, len);
  }
  return i32.MIN_VALUE;
}

/** Returned by copyOut when the value's length changed on every try. */
export const UNSTABLE: i32 = i32.MIN_VALUE;

/**
 * Runs a copy-out call: its key argument is `arg` (or none), its handle
 * `h`. Returns the value's length `n`, the value being in scratch[0..n) —
 * use it before the next copy-out — or the call's negative status, or
 * UNSTABLE. When the value is longer than the buffer nothing was copied:
 * the call is made again with a buffer of the length it returned.
 */
export function copyOut(fn: CopyOut, arg: ArrayBuffer | null, h: i32): i32 {
  for (let i = 0; i < 8; i++) {
    const buf = scratch;
    const n = call(fn, arg, h, ptr(buf), buf.byteLength);
    if (n < 0 || n <= buf.byteLength) return n;
    scratch = new ArrayBuffer(n);
  }
  return UNSTABLE;
}

/** The value a successful copyOut left in scratch, as a string. */
export function scratchString(n: i32): string {
  return decode(ptr(scratch), n);
}

/** The detail of the step's last failed host call; "" if none or unreadable. */
export function lastErrorDetail(): string {
  const n = copyOut(CopyOut.LastError, null, 0);
  return n > 0 ? scratchString(n) : "";
}

/**
 * The length of the longest prefix of the UTF-8 bytes `b` that is at most
 * `max` bytes and does not cut a character in two.
 */
export function utf8Prefix(b: ArrayBuffer, max: i32): i32 {
  let n = b.byteLength;
  if (n <= max) return n;
  n = max;
  const p = ptr(b);
  while (n > 0 && (load<u8>(p + <usize>n) & 0xC0) == 0x80) n--;
  return n;
}
