// conformance_as: the conformance block of the AssemblyScript SDK. It
// implements the table of tests/conformance/README.md; the input `op`
// selects the row. Built by scripts/build-assemblyscript.sh.

import {
  blobDelete, blobListJSON, blobOpenRead, blobOpenWrite, blobPutFrom, blobStatJSON,
  Code, errorSet, fail, Handle, HostError, httpRequestJSON, newBuffer, Result, run, Step,
} from "../../../abi/assemblyscript/assembly";

export function blockhost_run_v1(): i32 {
  return run(conformance);
}

function conformance(step: Step): i32 {
  const op = step.input("op").valueOr("");
  if (op == "echo") return echoOp(step);
  if (op == "error") return errorOp(step);
  if (op == "log") return logOp(step);
  if (op == "config") return configOp(step);
  if (op == "context") return contextOp(step);
  if (op == "stream") return streamOp(step);
  if (op == "buffer") return bufferOp(step);
  if (op == "http") return httpOp(step);
  if (op == "fs") return fsOp(step);
  if (op == "abort") return abortOp(step);
  return fail(Code.InvalidInput, "unknown op \"" + op + "\"");
}

// ---- shared by the rows -----------------------------------------------------

// Checks the outcome of a call that returns nothing: 0 when it succeeded,
// else the reported failure's code.
function check(err: HostError | null): i32 {
  return err !== null ? err.report() : 0;
}

// A decimal input (tests/conformance: "numbers are decimal, parsed in
// full").
class Int {
  constructor(public value: i32) {}
}

// Parses a whole string as a decimal i32 ("-5", "0", "1234"); null if it is
// not one.
function parseInt32(s: string): Int | null {
  let i = 0;
  let neg = false;
  if (s.length > 0 && s.charCodeAt(0) == 0x2D) {
    neg = true;
    i = 1;
  }
  if (i == s.length) return null;
  let v: i64 = 0;
  for (; i < s.length; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return null;
    v = v * 10 + d;
    if (v > 0x80000000) return null;
  }
  if (neg) v = -v;
  if (v > i32.MAX_VALUE || v < i32.MIN_VALUE) return null;
  return new Int(<i32>v);
}

// Input `key` as a decimal number, `absent` when the step has no such
// input, null when it is not a decimal number.
function intInput(step: Step, key: string, absent: i32): Int | null {
  const r = step.input(key);
  return r.ok ? parseInt32(r.value) : new Int(absent);
}

function notDecimal(key: string): i32 {
  return fail(Code.InvalidInput, "input " + key + " is not a decimal number");
}

// ---- rows -----------------------------------------------------------------

function echoOp(step: Step): i32 {
  // input_len, then input_read in chunks of at most 64 KiB.
  const text = step.inputBytes("text");
  if (!text.ok) return text.report();
  let err = step.setOutputBytes("echo", text.value);
  if (err !== null) return err.report();
  const keys = step.inputKeysJSON();
  if (!keys.ok) return keys.report();
  const inputs = step.inputsJSON();
  if (!inputs.ok) return inputs.report();
  err = step.setOutput("keys", keys.value);
  if (err !== null) return err.report();
  return check(step.setOutput("inputs", inputs.value));
}

function errorOp(step: Step): i32 {
  const code = intInput(step, "code", 0);
  if (code === null) return notDecimal("code");
  const httpStatus = intInput(step, "http_status", 0);
  if (httpStatus === null) return notDecimal("http_status");
  const retryAfterMs = intInput(step, "retry_after_ms", 0);
  if (retryAfterMs === null) return notDecimal("retry_after_ms");
  const retryable = intInput(step, "retryable", 0);
  if (retryable === null) return notDecimal("retryable");
  const message = step.input("message").valueOr("");
  const via = step.input("via").valueOr("error_set");
  if (via == "return") return code.value;
  if (via != "error_set") return fail(Code.InvalidInput, "unknown via \"" + via + "\"");
  const status = errorSet(code.value, message, httpStatus.value, retryAfterMs.value, retryable.value);
  if (status == 0) return code.value;
  return check(step.setOutput("error_set_status", status.toString()));
}

function logOp(step: Step): i32 {
  const level = intInput(step, "level", 0);
  if (level === null) return notDecimal("level");
  const status = step.log(level.value, step.input("message").valueOr(""));
  return check(step.setOutput("status", status.toString()));
}

function configOp(step: Step): i32 {
  const key = step.input("key");
  if (!key.ok) return key.report();
  const value = step.config(key.value);
  if (!value.ok) return value.report();
  return check(step.setOutput("value", value.value));
}

const CONTEXT_KEYS: string[] = ["tenant_id", "trace_id", "run_id", "flow_id", "step_id", "step_type", "attempt"];

function contextOp(step: Step): i32 {
  for (let i = 0; i < CONTEXT_KEYS.length; i++) {
    const key = CONTEXT_KEYS[i];
    const v = step.contextValue(key);
    if (!v.ok) return v.report();
    const err = step.setOutput(key, v.value);
    if (err !== null) return err.report();
  }
  const missing = step.contextValue("nope");
  return check(step.setOutput("missing", (-missing.code).toString()));
}

// Copies readable `src` into a new output `key` through guest memory
// (handle_read → handle_write, 64 KiB at a time) and closes both.
function pumpToOutput(step: Step, src: Handle, key: string): i32 {
  const out = step.openOutput(key);
  if (!out.ok) return out.report();
  const o = out.value;
  const copied = src.copyTo(o);
  if (!copied.ok) return copied.report();
  const err = o.close();
  if (err !== null) return err.report();
  return check(src.close());
}

function streamOp(step: Step): i32 {
  const h = step.inputHandle("data");
  if (!h.ok) return h.report();
  let rc = pumpToOutput(step, h.value, "stream");
  if (rc != 0) return rc;
  const again = step.inputHandle("data");
  if (!again.ok) return again.report();
  const err = step.setOutputFromHandle("copy", again.value);
  if (err !== null) return err.report();
  const size = step.inputLen("data");
  if (!size.ok) return size.report();
  return check(step.setOutput("size", size.value.toString()));
}

function bufferOp(step: Step): i32 {
  const text = step.inputBytes("text");
  if (!text.ok) return text.report();
  const nb = newBuffer();
  if (!nb.ok) return nb.report();
  const b = nb.value;
  let err = b.write(text.value);
  if (err !== null) return err.report();
  err = b.write(text.value);
  if (err !== null) return err.report();
  const size = b.size();
  if (!size.ok) return size.report();
  err = step.setOutputFromHandle("twice", b);
  if (err !== null) return err.report();
  return check(step.setOutput("size", size.value.toString()));
}

function httpOp(step: Step): i32 {
  const request = step.inputBytes("request");
  if (!request.ok) return request.report();
  let body: Handle | null = null;
  const bh = step.inputHandle("body");
  if (bh.ok) body = bh.value;
  else if (bh.code != Code.NotFound) return bh.report();
  const res = httpRequestJSON(request.value, body);
  if (!res.ok) return res.report();
  const r = res.value;
  const err = step.setOutput("meta", r.meta);
  if (err !== null) return err.report();
  return pumpToOutput(step, r.body, "body");
}

function fsOp(step: Step): i32 {
  const key = step.input("key");
  if (!key.ok) return key.report();
  const key2 = step.input("key2");
  if (!key2.ok) return key2.report();
  const prefix = step.input("prefix");
  if (!prefix.ok) return prefix.report();

  // 1 blob_open_write, data read with input_read in 64 KiB chunks.
  const w = blobOpenWrite(key.value);
  if (!w.ok) return w.report();
  const reader = step.inputReader("data");
  const chunk = new Uint8Array(64 << 10);
  while (true) {
    const n = reader.read(chunk);
    if (!n.ok) return n.report();
    if (n.value == 0) break;
    const err = w.value.write(chunk.subarray(0, n.value));
    if (err !== null) return err.report();
  }
  let err = w.value.close();
  if (err !== null) return err.report();

  // 2 blob_put_from(key2, input_open("data")).
  const data = step.inputHandle("data");
  if (!data.ok) return data.report();
  err = blobPutFrom(key2.value, data.value);
  if (err !== null) return err.report();

  // 3 blob_open_read(key) pumped into output "read".
  const r = blobOpenRead(key.value);
  if (!r.ok) return r.report();
  const rc = pumpToOutput(step, r.value, "read");
  if (rc != 0) return rc;

  // 4 blob_stat(key), 5 blob_list(prefix).
  const stat = blobStatJSON(key.value);
  if (!stat.ok) return stat.report();
  err = step.setOutput("stat", stat.value);
  if (err !== null) return err.report();
  const list = blobListJSON(prefix.value);
  if (!list.ok) return list.report();
  err = step.setOutput("list", list.value);
  if (err !== null) return err.report();

  // 6 blob_delete(key2), 7 blob_stat(key2) must say NOT_FOUND.
  err = blobDelete(key2.value);
  if (err !== null) return err.report();
  const gone: Result<string> = blobStatJSON(key2.value);
  if (gone.ok) return fail(Code.ExecutionFailed, "blob_stat found \"" + key2.value + "\" after blob_delete");
  if (gone.code != Code.NotFound) return gone.report();
  return check(step.setOutput("deleted", "yes"));
}

function abortOp(step: Step): i32 {
  throw new Error(step.input("message").valueOr(""));
}
