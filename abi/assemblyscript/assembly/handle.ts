// Handles (abi/ABI.md 3 "Handles" and 4.5): host-side streams.

import { host } from "./host";
import { Code } from "./codes";
import { errResult, HostError, hostError, okResult, Result } from "./errors";
import { CHUNK, decode, ptr, utf8 } from "./internal";

/**
 * A host-side stream owned by the current step: an input value
 * (`Step.inputHandle`), an output being written (`Step.openOutput`), an
 * in-memory buffer (`newBuffer`), an HTTP response body (`httpRequest`) or
 * a blob (`blobOpenRead`, `blobOpenWrite`).
 *
 * A handle is valid only during the step that opened it; the host closes
 * (and commits) every handle still open when the step ends. At most 64 are
 * open at once. Passing a handle to a function that consumes it
 * (`Step.setOutputFromHandle`, `blobPutFrom`, `httpRequest`) closes it.
 */
export class Handle {
  constructor(
    /** The handle number, > 0. */
    public readonly id: i32,
  ) {}

  /**
   * Reads up to `buf.length` bytes into `buf` and returns how many were
   * read: possibly fewer before the end, 0 only at the end of the stream
   * (or for an empty `buf`).
   */
  read(buf: Uint8Array): Result<i32> {
    const n = host.handle_read(this.id, buf.dataStart, buf.length);
    if (n < 0) return errResult<i32>(hostError("handle_read", n));
    return okResult<i32>(n);
  }

  /** Reads the rest of the stream into memory. */
  readAll(): Result<Uint8Array> {
    let cap = CHUNK;
    const size = host.handle_size(this.id);
    if (size >= 0 && size < (<i64>1 << 30)) cap = <i32>size + 1;
    let buf = new Uint8Array(cap);
    let len = 0;
    while (true) {
      if (len == buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        memory.copy(bigger.dataStart, buf.dataStart, <usize>len);
        buf = bigger;
      }
      const n = host.handle_read(this.id, buf.dataStart + <usize>len, buf.length - len);
      if (n < 0) return errResult<Uint8Array>(hostError("handle_read", n));
      if (n == 0) break;
      len += n;
    }
    return okResult<Uint8Array>(buf.slice(0, len));
  }

  /** Reads the rest of the stream as UTF-8 text. */
  readString(): Result<string> {
    const all = this.readAll();
    const e = all.error;
    if (e !== null) return errResult<string>(e);
    const b = all.value;
    return okResult<string>(decode(b.dataStart, b.length));
  }

  /** Writes all of `data` to a writable handle. */
  write(data: Uint8Array): HostError | null {
    const n = host.handle_write(this.id, data.dataStart, data.length);
    return n < 0 ? hostError("handle_write", n) : null;
  }

  /** Writes the UTF-8 bytes of `s` to a writable handle. */
  writeString(s: string): HostError | null {
    const b = utf8(s);
    const n = host.handle_write(this.id, ptr(b), b.byteLength);
    return n < 0 ? hostError("handle_write", n) : null;
  }

  /**
   * The handle's total size in bytes: an input's or blob's length, what was
   * written so far to a buffer or writable handle, an HTTP body's
   * Content-Length. Code.Unsupported when the host does not know it.
   */
  size(): Result<i64> {
    const n = host.handle_size(this.id);
    if (n < 0) return errResult<i64>(hostError("handle_size", n));
    return okResult<i64>(n);
  }

  /**
   * Closes the handle. For a writable handle this commits what was written
   * — the output value, the blob — and reports a commit failure (e.g. the
   * output cap). The handle is closed either way.
   */
  close(): HostError | null {
    const st = host.handle_close(this.id);
    return st < 0 ? hostError("handle_close", st) : null;
  }

  /**
   * Copies the rest of this readable handle into the writable handle
   * `dst`, 64 KiB at a time through guest memory, and returns the number
   * of bytes copied. Neither handle is closed. (To move a stream without
   * copying it through guest memory, pass the handle itself to
   * `Step.setOutputFromHandle` or `blobPutFrom`.)
   */
  copyTo(dst: Handle): Result<i64> {
    const buf = pumpBuffer();
    let total: i64 = 0;
    while (true) {
      const n = host.handle_read(this.id, buf.dataStart, buf.length);
      if (n < 0) return errResult<i64>(hostError("handle_read", n));
      if (n == 0) break;
      const w = host.handle_write(dst.id, buf.dataStart, n);
      if (w < 0) return errResult<i64>(hostError("handle_write", w));
      total += n;
    }
    return okResult<i64>(total);
  }
}

/**
 * A new in-memory handle, readable and writable: reads return, in order,
 * the bytes written so far. Fill it, then pass it as an HTTP body or a
 * blob source. Its bytes count against a per-step cap.
 */
export function newBuffer(): Result<Handle> {
  return handleResult("buffer_new", host.buffer_new());
}

/** A handle result from a status: the handle when `h > 0`, else the error of `op`. */
export function handleResult(op: string, h: i32): Result<Handle> {
  if (h < 0) return errResult<Handle>(hostError(op, h));
  if (h == 0) return errResult<Handle>(new HostError(Code.BadHandle, op, "host returned handle 0"));
  return okResult<Handle>(new Handle(h));
}

// The buffer copyTo streams through, allocated on first use and kept.
let pump: Uint8Array | null = null;

function pumpBuffer(): Uint8Array {
  let b = pump;
  if (b === null) {
    b = new Uint8Array(CHUNK);
    pump = b;
  }
  return b;
}
