// Blobs: files under the root the operator grants (abi/ABI.md 4.7).
//
// A blob key is a `/`-separated path relative to that root
// ("reports/2024/a.json"). Without the FS capability every call returns
// Code.Denied; so does a key that is absolute or contains a "." or ".."
// segment, an empty segment, a backslash or NUL.

import { host } from "./host";
import { Code } from "./codes";
import { copyOutString, errResult, HostError, hostError, okResult, Result } from "./errors";
import { Handle, handleResult } from "./handle";
import { CopyOut, ptr, utf8 } from "./internal";
import { JsonReader } from "./json";

/** A blob's description (blob_stat, blob_list). */
export class BlobInfo {
  key: string = "";
  /** Size in bytes. */
  size: i64 = 0;
  /** Last modification, in milliseconds since the Unix epoch. */
  modifiedUnixMs: i64 = 0;
}

/**
 * Opens blob `key` for reading; reads see the blob as it was when opened.
 * Errors: Code.NotFound, Code.Denied, Code.CircuitOpen, Code.IOError,
 * Code.Timeout, Code.LimitExceeded (handles).
 */
export function blobOpenRead(key: string): Result<Handle> {
  const k = utf8(key);
  return handleResult("blob_open_read", host.blob_open_read(ptr(k), k.byteLength));
}

/**
 * Opens blob `key` for writing. Nothing is visible until the handle is
 * closed, which commits the blob atomically and durably (readers see the
 * old blob or the new one, never a mix), creating intermediate
 * directories, and reports a commit failure. A handle the step leaves open
 * is committed when the step ends.
 */
export function blobOpenWrite(key: string): Result<Handle> {
  const k = utf8(key);
  return handleResult("blob_open_write", host.blob_open_write(ptr(k), k.byteLength));
}

/**
 * Writes blob `key` from the readable handle `h` on the host side (e.g.
 * from `Step.inputHandle` or an HTTP body), with the same commit guarantee
 * as blobOpenWrite, and closes `h`.
 */
export function blobPutFrom(key: string, h: Handle): HostError | null {
  const k = utf8(key);
  const st = host.blob_put_from(ptr(k), k.byteLength, h.id);
  return st < 0 ? hostError("blob_put_from", st) : null;
}

/** Reads blob `key` into memory. */
export function blobRead(key: string): Result<Uint8Array> {
  const r = blobOpenRead(key);
  const e = r.error;
  if (e !== null) return errResult<Uint8Array>(e);
  const h = r.value;
  const data = h.readAll();
  h.close();
  return data;
}

/** Writes `data` as blob `key`, replacing it atomically. */
export function blobWrite(key: string, data: Uint8Array): HostError | null {
  const r = blobOpenWrite(key);
  const e = r.error;
  if (e !== null) return e;
  const h = r.value;
  const we = h.write(data);
  const ce = h.close();
  return we !== null ? we : ce;
}

/** Deletes blob `key`; Code.NotFound if there is none. */
export function blobDelete(key: string): HostError | null {
  const k = utf8(key);
  const st = host.blob_delete(ptr(k), k.byteLength);
  return st < 0 ? hostError("blob_delete", st) : null;
}

/** Describes blob `key`; Code.NotFound if there is none. */
export function blobStat(key: string): Result<BlobInfo> {
  const r = blobStatJSON(key);
  const e = r.error;
  if (e !== null) return errResult<BlobInfo>(e);
  const j = new JsonReader(r.value);
  const info = readInfo(j);
  if (!j.end()) return errResult<BlobInfo>(malformed("blob_stat"));
  return okResult<BlobInfo>(info);
}

/** blob_stat's JSON, verbatim: `{"key":"a/b","size":123,"modified_unix_ms":1700000000000}`. */
export function blobStatJSON(key: string): Result<string> {
  return copyOutString(CopyOut.BlobStat, utf8(key), 0);
}

/**
 * Describes every blob whose key starts with `prefix` (a plain string
 * prefix, recursive; "" lists all), sorted by key.
 */
export function blobList(prefix: string): Result<BlobInfo[]> {
  const r = blobListJSON(prefix);
  const e = r.error;
  if (e !== null) return errResult<BlobInfo[]>(e);
  const j = new JsonReader(r.value);
  const out = new Array<BlobInfo>();
  j.begin(0x5B);
  while (j.more(0x5D)) out.push(readInfo(j));
  if (!j.end()) return errResult<BlobInfo[]>(malformed("blob_list"));
  return okResult<BlobInfo[]>(out);
}

/** blob_list's JSON array, verbatim. */
export function blobListJSON(prefix: string): Result<string> {
  return copyOutString(CopyOut.BlobList, utf8(prefix), 0);
}

function readInfo(j: JsonReader): BlobInfo {
  const info = new BlobInfo();
  j.begin(0x7B);
  while (j.more(0x7D)) {
    const name = j.string();
    j.colon();
    if (name == "key") info.key = j.string();
    else if (name == "size") info.size = j.integer();
    else if (name == "modified_unix_ms") info.modifiedUnixMs = j.integer();
    else j.skip();
  }
  return info;
}

function malformed(op: string): HostError {
  return new HostError(Code.InvalidArgument, op, "malformed JSON from the host");
}
