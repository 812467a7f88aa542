// The raw imports of module "blockhost", ABI v1 (abi/ABI.md, section 4).
//
// Every function of the ABI is declared here with its exact WebAssembly
// signature: pointers (usize), lengths, handles and statuses are i32, and
// input_len and handle_size return i64. A status is a non-negative result
// or a negated code (-6001 is NOT_FOUND). Only the functions a block calls
// end up in its import section.
//
// Most blocks never call these directly: the rest of the SDK wraps them.
// They are exported, as the namespace `host`, for code that needs the ABI
// as it is (e.g. a conformance test that checks raw statuses).

export namespace host {
  // ---- 4.1 Inputs --------------------------------------------------------

  /** Byte length of input `key`; -NOT_FOUND if the step has no such input. */
  // @ts-ignore: decorator
  @external("blockhost", "input_len")
  export declare function input_len(key_ptr: usize, key_len: i32): i64;

  /** Copies bytes of input `key` from `offset` into `buf`; returns the count, 0 at the end. */
  // @ts-ignore: decorator
  @external("blockhost", "input_read")
  export declare function input_read(key_ptr: usize, key_len: i32, offset: i64, buf_ptr: usize, buf_len: i32): i32;

  /** Opens a readable handle over input `key`. */
  // @ts-ignore: decorator
  @external("blockhost", "input_open")
  export declare function input_open(key_ptr: usize, key_len: i32): i32;

  /** Copy-out of the JSON array of input keys. */
  // @ts-ignore: decorator
  @external("blockhost", "input_keys")
  export declare function input_keys(buf_ptr: usize, buf_len: i32): i32;

  /** Copy-out of the JSON object of all inputs. */
  // @ts-ignore: decorator
  @external("blockhost", "inputs_json")
  export declare function inputs_json(buf_ptr: usize, buf_len: i32): i32;

  // ---- 4.2 Outputs -------------------------------------------------------

  /** Sets output `key` to the bytes of `val`. */
  // @ts-ignore: decorator
  @external("blockhost", "output_set")
  export declare function output_set(key_ptr: usize, key_len: i32, val_ptr: usize, val_len: i32): i32;

  /** Opens a writable handle whose bytes become output `key` when closed. */
  // @ts-ignore: decorator
  @external("blockhost", "output_open")
  export declare function output_open(key_ptr: usize, key_len: i32): i32;

  /** Drains readable handle `h` into output `key` on the host side; consumes `h`. */
  // @ts-ignore: decorator
  @external("blockhost", "output_from_handle")
  export declare function output_from_handle(key_ptr: usize, key_len: i32, h: i32): i32;

  // ---- 4.3 Context and config --------------------------------------------

  /** Copy-out of context value `key` (tenant_id, step_id, attempt, ...). */
  // @ts-ignore: decorator
  @external("blockhost", "context_get")
  export declare function context_get(key_ptr: usize, key_len: i32, buf_ptr: usize, buf_len: i32): i32;

  /** Copy-out of the block's config value `key`. */
  // @ts-ignore: decorator
  @external("blockhost", "config_get")
  export declare function config_get(key_ptr: usize, key_len: i32, buf_ptr: usize, buf_len: i32): i32;

  // ---- 4.4 Log and errors ------------------------------------------------

  /** Logs `msg` at `level` (0 debug, 1 info, 2 warn, 3 error). */
  // @ts-ignore: decorator
  @external("blockhost", "log")
  export declare function log(level: i32, msg_ptr: usize, msg_len: i32): i32;

  /** Records the step's failure report; the last successful call wins. */
  // @ts-ignore: decorator
  @external("blockhost", "error_set")
  export declare function error_set(code: i32, msg_ptr: usize, msg_len: i32, http_status: i32, retry_after_ms: i32, retryable: i32): i32;

  /** Copy-out of the detail of the step's last failed host call. */
  // @ts-ignore: decorator
  @external("blockhost", "last_error")
  export declare function last_error(buf_ptr: usize, buf_len: i32): i32;

  // ---- 4.5 Handles -------------------------------------------------------

  /** Reads up to `buf_len` bytes of readable handle `h`; 0 only at the end. */
  // @ts-ignore: decorator
  @external("blockhost", "handle_read")
  export declare function handle_read(h: i32, buf_ptr: usize, buf_len: i32): i32;

  /** Writes all `buf_len` bytes to writable handle `h`. */
  // @ts-ignore: decorator
  @external("blockhost", "handle_write")
  export declare function handle_write(h: i32, buf_ptr: usize, buf_len: i32): i32;

  /** Total size of handle `h` in bytes, when known. */
  // @ts-ignore: decorator
  @external("blockhost", "handle_size")
  export declare function handle_size(h: i32): i64;

  /** Closes `h`; for a writable handle this commits. */
  // @ts-ignore: decorator
  @external("blockhost", "handle_close")
  export declare function handle_close(h: i32): i32;

  /** Opens a new in-memory handle, readable and writable (first in, first out). */
  // @ts-ignore: decorator
  @external("blockhost", "buffer_new")
  export declare function buffer_new(): i32;

  // ---- 4.6 HTTP ----------------------------------------------------------

  /** Performs the request described by the JSON `req`; consumes `body_h` (0: no body). */
  // @ts-ignore: decorator
  @external("blockhost", "http_request")
  export declare function http_request(req_ptr: usize, req_len: i32, body_h: i32): i32;

  /** Copy-out of the response's status and headers as JSON. */
  // @ts-ignore: decorator
  @external("blockhost", "http_response_meta")
  export declare function http_response_meta(h: i32, buf_ptr: usize, buf_len: i32): i32;

  // ---- 4.7 Blobs ---------------------------------------------------------

  /** Opens blob `key` for reading. */
  // @ts-ignore: decorator
  @external("blockhost", "blob_open_read")
  export declare function blob_open_read(key_ptr: usize, key_len: i32): i32;

  /** Opens blob `key` for writing; closing the handle commits it atomically. */
  // @ts-ignore: decorator
  @external("blockhost", "blob_open_write")
  export declare function blob_open_write(key_ptr: usize, key_len: i32): i32;

  /** Writes blob `key` from readable handle `h` on the host side; consumes `h`. */
  // @ts-ignore: decorator
  @external("blockhost", "blob_put_from")
  export declare function blob_put_from(key_ptr: usize, key_len: i32, h: i32): i32;

  /** Deletes blob `key`. */
  // @ts-ignore: decorator
  @external("blockhost", "blob_delete")
  export declare function blob_delete(key_ptr: usize, key_len: i32): i32;

  /** Copy-out of `{"key":…,"size":…,"modified_unix_ms":…}` for blob `key`. */
  // @ts-ignore: decorator
  @external("blockhost", "blob_stat")
  export declare function blob_stat(key_ptr: usize, key_len: i32, buf_ptr: usize, buf_len: i32): i32;

  /** Copy-out of a JSON array of the blobs whose keys start with `prefix`. */
  // @ts-ignore: decorator
  @external("blockhost", "blob_list")
  export declare function blob_list(prefix_ptr: usize, prefix_len: i32, buf_ptr: usize, buf_len: i32): i32;
}
