  ;; ---------------------------------------------------------------------
  ;; blockhost ABI v1 imports (abi/wat/imports.wat)
  ;;
  ;; Paste this inside your (module ...) before any other definition (in
  ;; WebAssembly imports come first), then delete the ones you do not
  ;; call: a block may import any subset, and the host checks each
  ;; import's signature when it loads the block.
  ;;
  ;; Each function's identifier is its ABI name ($input_len, ...) and its
  ;; parameters are named as in abi/ABI.md section 4. Every pointer and
  ;; length is an i32 read as UNSIGNED by the host. Every function returns
  ;; a status: >= 0 is a result (a count, a length, a handle or 0), < 0 is
  ;; a negated code of ABI.md section 5 (-6001 NOT_FOUND, -6002
  ;; BAD_POINTER, ...). Functions that return a variable-size value
  ;; ("copy-out") return its full length and copy nothing when that is
  ;; more than buf_len: call again with a bigger buffer.
  ;; ---------------------------------------------------------------------

  ;; 4.1 Inputs
  ;; Length of input key, or -NOT_FOUND.
  (import "blockhost" "input_len"
    (func $input_len (param $key_ptr i32) (param $key_len i32) (result i64)))
  ;; Copies up to buf_len bytes of input key from byte offset into buf;
  ;; returns the number copied, 0 at or past the end.
  (import "blockhost" "input_read"
    (func $input_read (param $key_ptr i32) (param $key_len i32) (param $offset i64)
                      (param $buf_ptr i32) (param $buf_len i32) (result i32)))
  ;; A readable handle over input key.
  (import "blockhost" "input_open"
    (func $input_open (param $key_ptr i32) (param $key_len i32) (result i32)))
  ;; Copy-out: JSON array of the input keys, sorted.
  (import "blockhost" "input_keys"
    (func $input_keys (param $buf_ptr i32) (param $buf_len i32) (result i32)))
  ;; Copy-out: JSON object of all inputs.
  (import "blockhost" "inputs_json"
    (func $inputs_json (param $buf_ptr i32) (param $buf_len i32) (result i32)))

  ;; 4.2 Outputs
  ;; Sets output key to val; returns 0.
  (import "blockhost" "output_set"
    (func $output_set (param $key_ptr i32) (param $key_len i32)
                      (param $val_ptr i32) (param $val_len i32) (result i32)))
  ;; A writable handle; what is written becomes output key on close.
  (import "blockhost" "output_open"
    (func $output_open (param $key_ptr i32) (param $key_len i32) (result i32)))
  ;; Sets output key to the rest of readable handle h, host side; consumes h.
  (import "blockhost" "output_from_handle"
    (func $output_from_handle (param $key_ptr i32) (param $key_len i32) (param $h i32)
                              (result i32)))

  ;; 4.3 Context and config
  ;; Copy-out: context value key (tenant_id, trace_id, run_id, flow_id,
  ;; step_id, step_type, attempt).
  (import "blockhost" "context_get"
    (func $context_get (param $key_ptr i32) (param $key_len i32)
                       (param $buf_ptr i32) (param $buf_len i32) (result i32)))
  ;; Copy-out: the block's config value key.
  (import "blockhost" "config_get"
    (func $config_get (param $key_ptr i32) (param $key_len i32)
                      (param $buf_ptr i32) (param $buf_len i32) (result i32)))

  ;; 4.4 Log and errors
  ;; level: 0 debug, 1 info, 2 warn, 3 error.
  (import "blockhost" "log"
    (func $log (param $level i32) (param $msg_ptr i32) (param $msg_len i32) (result i32)))
  ;; Records the step's failure report. code > 0; http_status 0 or 100..599;
  ;; retry_after_ms >= 0; retryable 0 (host decides), 1 (retry), 2 (never).
  (import "blockhost" "error_set"
    (func $error_set (param $code i32) (param $msg_ptr i32) (param $msg_len i32)
                     (param $http_status i32) (param $retry_after_ms i32)
                     (param $retryable i32) (result i32)))
  ;; Copy-out: the detail of the step's last failed host call ("" if none).
  (import "blockhost" "last_error"
    (func $last_error (param $buf_ptr i32) (param $buf_len i32) (result i32)))

  ;; 4.5 Handles (at most 64 open at once per step)
  ;; Reads up to buf_len bytes; returns 0 only at the end of the stream.
  (import "blockhost" "handle_read"
    (func $handle_read (param $h i32) (param $buf_ptr i32) (param $buf_len i32) (result i32)))
  ;; Writes all buf_len bytes; returns buf_len.
  (import "blockhost" "handle_write"
    (func $handle_write (param $h i32) (param $buf_ptr i32) (param $buf_len i32) (result i32)))
  ;; Total size of h when known, else -UNSUPPORTED.
  (import "blockhost" "handle_size"
    (func $handle_size (param $h i32) (result i64)))
  ;; Closes h; closing a writable handle commits it.
  (import "blockhost" "handle_close"
    (func $handle_close (param $h i32) (result i32)))
  ;; A new in-memory handle, readable and writable (first in, first out).
  (import "blockhost" "buffer_new"
    (func $buffer_new (result i32)))

  ;; 4.6 HTTP (needs the HTTP capability)
  ;; req is the request JSON ({"method","url","headers",...}); body_h is 0
  ;; or a readable handle, consumed. Returns a readable response body handle.
  (import "blockhost" "http_request"
    (func $http_request (param $req_ptr i32) (param $req_len i32) (param $body_h i32)
                        (result i32)))
  ;; Copy-out: {"status":200,"headers":{...}} of response handle h.
  (import "blockhost" "http_response_meta"
    (func $http_response_meta (param $h i32) (param $buf_ptr i32) (param $buf_len i32)
                              (result i32)))

  ;; 4.7 Blobs (need the FS capability)
  ;; A readable handle over blob key.
  (import "blockhost" "blob_open_read"
    (func $blob_open_read (param $key_ptr i32) (param $key_len i32) (result i32)))
  ;; A writable handle; the blob is written atomically on close.
  (import "blockhost" "blob_open_write"
    (func $blob_open_write (param $key_ptr i32) (param $key_len i32) (result i32)))
  ;; Writes blob key from readable handle h, host side; consumes h.
  (import "blockhost" "blob_put_from"
    (func $blob_put_from (param $key_ptr i32) (param $key_len i32) (param $h i32) (result i32)))
  ;; Deletes blob key.
  (import "blockhost" "blob_delete"
    (func $blob_delete (param $key_ptr i32) (param $key_len i32) (result i32)))
  ;; Copy-out: {"key":...,"size":...,"modified_unix_ms":...} of blob key.
  (import "blockhost" "blob_stat"
    (func $blob_stat (param $key_ptr i32) (param $key_len i32)
                     (param $buf_ptr i32) (param $buf_len i32) (result i32)))
  ;; Copy-out: JSON array of the stats of every blob whose key starts with prefix.
  (import "blockhost" "blob_list"
    (func $blob_list (param $prefix_ptr i32) (param $prefix_len i32)
                     (param $buf_ptr i32) (param $buf_len i32) (result i32)))
