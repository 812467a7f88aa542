;; conformance_wat: the WAT conformance block of blockhost.
;;
;; It implements the table of tests/conformance/README.md by hand, in plain
;; WebAssembly text: the input "op" selects what a step does. It is also the
;; reference example for writing blocks in WAT, so it keeps to a few small,
;; named helpers:
;;
;;   $str, $str_eq              constant strings and comparing byte strings
;;   $parse_i32, $fmt_i64       decimal numbers in and out
;;   $msg_reset, $msg_add       building an error message
;;   $reserve, $alloc           a bump allocator over the heap, growing memory
;;   $copy_out                  the copy-out convention, retrying with room
;;   $input_bytes, $input_opt,  reading inputs whole, in 64 KiB chunks
;;   $input_i32
;;   $pump, $write_input        moving bytes between handles through CHUNK
;;   $fail, $report             failing the step: the block's own failure,
;;                              and the report rule for a host failure
;;
;; Memory layout (pages of 64 KiB; 3 pages at start, at most 256):
;;
;;   0x00000 .. 0x00fff   constant strings, one 32-byte slot each: a length
;;                        byte then the bytes ($str turns a slot into
;;                        pointer and length)
;;   0x01000 .. 0x0101f   NUM: $fmt_i64 writes its digits here
;;   0x02000 .. 0x03fff   MSG: the error message being built (8 KiB, what
;;                        the host keeps of a message)
;;   0x10000 .. 0x1ffff   CHUNK: the 64 KiB buffer of the chunk loops
;;   0x20000 ..           HEAP: values read whole (inputs, copy-outs), bump
;;                        allocated and freed all at once at the start of
;;                        every step; memory grows when a value needs room
;;
;; Status convention: like the host functions, the helpers return a status,
;; >= 0 for a result and -CODE for a failure. An op returns the entry
;; point's value: 0, or a code after recording the failure (`$report`).
;;
;; Build: scripts/build-wat.sh (wat2wasm conformance_wat.wat -o conformance_wat.wasm).
(module

  ;; ---------------------------------------------------------------------
  ;; The imports: abi/wat/imports.wat, pasted unchanged. Between them the
  ;; ops call all 26 functions. Pointers and lengths are unsigned; every
  ;; function returns a status, >= 0 a result and < 0 a negated code.
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

  ;; ---------------------------------------------------------------------
  ;; Memory and layout
  ;; ---------------------------------------------------------------------

  (memory (export "memory") 3 256)

  (global $NUM        i32 (i32.const 0x01000)) ;; 32 bytes
  (global $NUM_END    i32 (i32.const 0x01020))
  (global $MSG        i32 (i32.const 0x02000))
  (global $MSG_CAP    i32 (i32.const 8192))
  (global $CHUNK      i32 (i32.const 0x10000))
  (global $CHUNK_SIZE i32 (i32.const 0x10000)) ;; 64 KiB
  (global $HEAP_BASE  i32 (i32.const 0x20000))

  ;; The state of the current step. The entry point resets it: an instance
  ;; serves many steps and must not carry anything from one to the next.
  (global $heap    (mut i32) (i32.const 0x20000)) ;; first free heap byte
  (global $msg_len (mut i32) (i32.const 0))       ;; bytes used in MSG
  (global $failed  (mut i32) (i32.const 0))       ;; code the block reported itself

  ;; Codes (ABI.md section 5) and the statuses the block tests for.
  (global $INVALID_INPUT    i32 (i32.const 1001))
  (global $EXECUTION_FAILED i32 (i32.const 2001))
  (global $QUOTA_EXCEEDED   i32 (i32.const 2004))
  (global $E_NOT_FOUND      i32 (i32.const -6001))

  ;; ---------------------------------------------------------------------
  ;; Constant strings: slot address, then (data) "\LEN" followed by the bytes
  ;; ---------------------------------------------------------------------

  ;; ops
  (global $s_echo    i32 (i32.const 0x000)) (data (i32.const 0x000) "\04echo")
  (global $s_error   i32 (i32.const 0x020)) (data (i32.const 0x020) "\05error")
  (global $s_log     i32 (i32.const 0x040)) (data (i32.const 0x040) "\03log")
  (global $s_config  i32 (i32.const 0x060)) (data (i32.const 0x060) "\06config")
  (global $s_context i32 (i32.const 0x080)) (data (i32.const 0x080) "\07context")
  (global $s_stream  i32 (i32.const 0x0a0)) (data (i32.const 0x0a0) "\06stream")
  (global $s_buffer  i32 (i32.const 0x0c0)) (data (i32.const 0x0c0) "\06buffer")
  (global $s_http    i32 (i32.const 0x0e0)) (data (i32.const 0x0e0) "\04http")
  (global $s_fs      i32 (i32.const 0x100)) (data (i32.const 0x100) "\02fs")
  (global $s_abort   i32 (i32.const 0x120)) (data (i32.const 0x120) "\05abort")
  ;; input and output keys
  (global $s_op               i32 (i32.const 0x140)) (data (i32.const 0x140) "\02op")
  (global $s_text             i32 (i32.const 0x160)) (data (i32.const 0x160) "\04text")
  (global $s_keys             i32 (i32.const 0x180)) (data (i32.const 0x180) "\04keys")
  (global $s_inputs           i32 (i32.const 0x1a0)) (data (i32.const 0x1a0) "\06inputs")
  (global $s_code             i32 (i32.const 0x1c0)) (data (i32.const 0x1c0) "\04code")
  (global $s_message          i32 (i32.const 0x1e0)) (data (i32.const 0x1e0) "\07message")
  (global $s_http_status      i32 (i32.const 0x200)) (data (i32.const 0x200) "\0bhttp_status")
  (global $s_retry_after_ms   i32 (i32.const 0x220)) (data (i32.const 0x220) "\0eretry_after_ms")
  (global $s_retryable        i32 (i32.const 0x240)) (data (i32.const 0x240) "\09retryable")
  (global $s_via              i32 (i32.const 0x260)) (data (i32.const 0x260) "\03via")
  (global $s_return           i32 (i32.const 0x280)) (data (i32.const 0x280) "\06return")
  (global $s_error_set        i32 (i32.const 0x2a0)) (data (i32.const 0x2a0) "\09error_set")
  (global $s_error_set_status i32 (i32.const 0x2c0)) (data (i32.const 0x2c0) "\10error_set_status")
  (global $s_level            i32 (i32.const 0x2e0)) (data (i32.const 0x2e0) "\05level")
  (global $s_status           i32 (i32.const 0x300)) (data (i32.const 0x300) "\06status")
  (global $s_key              i32 (i32.const 0x320)) (data (i32.const 0x320) "\03key")
  (global $s_value            i32 (i32.const 0x340)) (data (i32.const 0x340) "\05value")
  (global $s_tenant_id        i32 (i32.const 0x360)) (data (i32.const 0x360) "\09tenant_id")
  (global $s_trace_id         i32 (i32.const 0x380)) (data (i32.const 0x380) "\08trace_id")
  (global $s_run_id           i32 (i32.const 0x3a0)) (data (i32.const 0x3a0) "\06run_id")
  (global $s_flow_id          i32 (i32.const 0x3c0)) (data (i32.const 0x3c0) "\07flow_id")
  (global $s_step_id          i32 (i32.const 0x3e0)) (data (i32.const 0x3e0) "\07step_id")
  (global $s_step_type        i32 (i32.const 0x400)) (data (i32.const 0x400) "\09step_type")
  (global $s_attempt          i32 (i32.const 0x420)) (data (i32.const 0x420) "\07attempt")
  (global $s_nope             i32 (i32.const 0x440)) (data (i32.const 0x440) "\04nope")
  (global $s_missing          i32 (i32.const 0x460)) (data (i32.const 0x460) "\07missing")
  (global $s_data             i32 (i32.const 0x480)) (data (i32.const 0x480) "\04data")
  (global $s_copy             i32 (i32.const 0x4a0)) (data (i32.const 0x4a0) "\04copy")
  (global $s_size             i32 (i32.const 0x4c0)) (data (i32.const 0x4c0) "\04size")
  (global $s_twice            i32 (i32.const 0x4e0)) (data (i32.const 0x4e0) "\05twice")
  (global $s_request          i32 (i32.const 0x500)) (data (i32.const 0x500) "\07request")
  (global $s_body             i32 (i32.const 0x520)) (data (i32.const 0x520) "\04body")
  (global $s_meta             i32 (i32.const 0x540)) (data (i32.const 0x540) "\04meta")
  (global $s_key2             i32 (i32.const 0x560)) (data (i32.const 0x560) "\04key2")
  (global $s_prefix           i32 (i32.const 0x580)) (data (i32.const 0x580) "\06prefix")
  (global $s_read             i32 (i32.const 0x5a0)) (data (i32.const 0x5a0) "\04read")
  (global $s_stat             i32 (i32.const 0x5c0)) (data (i32.const 0x5c0) "\04stat")
  (global $s_list             i32 (i32.const 0x5e0)) (data (i32.const 0x5e0) "\04list")
  (global $s_deleted          i32 (i32.const 0x600)) (data (i32.const 0x600) "\07deleted")
  (global $s_yes              i32 (i32.const 0x620)) (data (i32.const 0x620) "\03yes")
  ;; pieces of messages
  (global $s_quote            i32 (i32.const 0x640)) (data (i32.const 0x640) "\01\"")
  (global $s_unknown_op       i32 (i32.const 0x660)) (data (i32.const 0x660) "\0cunknown op \"")
  (global $s_unknown_via      i32 (i32.const 0x680)) (data (i32.const 0x680) "\0dunknown via \"")
  (global $s_input_q          i32 (i32.const 0x6a0)) (data (i32.const 0x6a0) "\07input \"")
  (global $s_not_decimal      i32 (i32.const 0x6c0)) (data (i32.const 0x6c0) "\17\": not a decimal i32: \"")
  (global $s_no_room          i32 (i32.const 0x6e0)) (data (i32.const 0x6e0) "\1bout of memory: no room for ")
  (global $s_more_bytes       i32 (i32.const 0x700)) (data (i32.const 0x700) "\0b more bytes")
  (global $s_still_there      i32 (i32.const 0x720)) (data (i32.const 0x720) "\1adeleted blob still found: ")

  ;; $str: the pointer and length of the constant string in slot $s.
  (func $str (param $s i32) (result i32 i32)
    (i32.add (local.get $s) (i32.const 1))
    (i32.load8_u (local.get $s)))

  ;; $str_eq: 1 when the byte strings a and b are equal, else 0.
  (func $str_eq (param $a i32) (param $a_len i32) (param $b i32) (param $b_len i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $a_len) (local.get $b_len))
      (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $a_len)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 1))

  ;; ---------------------------------------------------------------------
  ;; Decimal numbers
  ;; ---------------------------------------------------------------------

  ;; $parse_i32: parses the whole of [ptr, ptr+len) as a decimal i32: an
  ;; optional "-" then at least one digit, nothing else, within range.
  ;; Returns (value, 1), or (0, 0) when it is not such a number.
  (func $parse_i32 (param $ptr i32) (param $len i32) (result i32 i32)
    (local $i i32) (local $neg i32) (local $digit i32) (local $acc i64)
    (if (i32.eqz (local.get $len))
      (then (return (i32.const 0) (i32.const 0))))
    (if (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 0x2d)) ;; '-'
      (then
        (local.set $neg (i32.const 1))
        (local.set $i (i32.const 1))
        (if (i32.eq (local.get $len) (i32.const 1))
          (then (return (i32.const 0) (i32.const 0))))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $digit
          (i32.sub (i32.load8_u (i32.add (local.get $ptr) (local.get $i))) (i32.const 0x30)))
        ;; Unsigned compare: bytes below '0' wrap to large numbers.
        (if (i32.gt_u (local.get $digit) (i32.const 9))
          (then (return (i32.const 0) (i32.const 0))))
        (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 10))
                                 (i64.extend_i32_u (local.get $digit))))
        ;; 2147483648 is the largest magnitude (of -2147483648).
        (if (i64.gt_u (local.get $acc) (i64.const 2147483648))
          (then (return (i32.const 0) (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (if (local.get $neg)
      (then (local.set $acc (i64.sub (i64.const 0) (local.get $acc))))
      (else
        (if (i64.gt_u (local.get $acc) (i64.const 2147483647))
          (then (return (i32.const 0) (i32.const 0))))))
    (i32.wrap_i64 (local.get $acc))
    (i32.const 1))

  ;; $fmt_i64: formats v in decimal into NUM; returns its pointer and length.
  ;; The text is valid until the next call.
  (func $fmt_i64 (param $v i64) (result i32 i32)
    (local $p i32) (local $mag i64)
    (local.set $p (global.get $NUM_END))
    ;; The magnitude as an unsigned number, right for -2^63 too.
    (local.set $mag (local.get $v))
    (if (i64.lt_s (local.get $v) (i64.const 0))
      (then (local.set $mag (i64.sub (i64.const 0) (local.get $v)))))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 0x30) (i32.wrap_i64 (i64.rem_u (local.get $mag) (i64.const 10)))))
      (local.set $mag (i64.div_u (local.get $mag) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $mag) (i64.const 0))))
    (if (i64.lt_s (local.get $v) (i64.const 0))
      (then
        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
        (i32.store8 (local.get $p) (i32.const 0x2d)))) ;; '-'
    (local.get $p)
    (i32.sub (global.get $NUM_END) (local.get $p)))

  ;; ---------------------------------------------------------------------
  ;; Error messages and failing the step
  ;; ---------------------------------------------------------------------

  (func $msg_reset
    (global.set $msg_len (i32.const 0)))

  ;; $msg_add: appends [ptr, ptr+len) to the message in MSG, cut at 8 KiB.
  (func $msg_add (param $ptr i32) (param $len i32)
    (local $room i32)
    (local.set $room (i32.sub (global.get $MSG_CAP) (global.get $msg_len)))
    (if (i32.gt_u (local.get $len) (local.get $room))
      (then (local.set $len (local.get $room))))
    (memory.copy (i32.add (global.get $MSG) (global.get $msg_len)) (local.get $ptr) (local.get $len))
    (global.set $msg_len (i32.add (global.get $msg_len) (local.get $len))))

  ;; $fail: the block's own failure. Records error_set(code, <the message
  ;; built in MSG>, 0, 0, 0) and returns -code, a failed status that
  ;; $report passes on as it is.
  (func $fail (param $code i32) (result i32)
    (drop (call $error_set (local.get $code) (global.get $MSG) (global.get $msg_len)
                           (i32.const 0) (i32.const 0) (i32.const 0)))
    (global.set $failed (local.get $code))
    (i32.sub (i32.const 0) (local.get $code)))

  ;; $report: turns a failed status into the entry point's return value.
  ;; For a host call's status s: reads the detail with last_error, calls
  ;; error_set(-s, detail, 0, 0, 0) and returns -s (the report rule of the
  ;; conformance kit). A failure $fail already recorded is returned as is.
  (func $report (param $status i32) (result i32)
    (local $code i32) (local $detail i32) (local $detail_len i32)
    (if (global.get $failed)
      (then (return (global.get $failed))))
    (local.set $code (i32.sub (i32.const 0) (local.get $status)))
    (call $copy_out (global.get $CO_LAST_ERROR) (i32.const 0) (i32.const 0))
    (local.set $detail_len)
    (local.set $detail)
    (if (i32.lt_s (local.get $detail_len) (i32.const 0))
      (then (local.set $detail_len (i32.const 0)))) ;; no room left even for the detail
    (drop (call $error_set (local.get $code) (local.get $detail) (local.get $detail_len)
                           (i32.const 0) (i32.const 0) (i32.const 0)))
    (local.get $code))

  ;; ---------------------------------------------------------------------
  ;; The heap: a bump allocator, emptied at the start of every step
  ;; ---------------------------------------------------------------------

  ;; $reserve: makes sure n bytes are free at $heap, growing memory by as
  ;; many pages as needed. Returns 0, or -QUOTA_EXCEEDED (recorded with
  ;; $fail) when memory cannot grow (its maximum, or the host's limit).
  (func $reserve (param $n i32) (result i32)
    (local $end i64) (local $size i64)
    (local.set $end (i64.add (i64.extend_i32_u (global.get $heap)) (i64.extend_i32_u (local.get $n))))
    (local.set $size (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
    (if (i64.gt_u (local.get $end) (local.get $size))
      (then
        (if (i32.eq (memory.grow (i32.wrap_i64 (i64.shr_u
                                    (i64.add (i64.sub (local.get $end) (local.get $size)) (i64.const 0xffff))
                                    (i64.const 16))))
                    (i32.const -1))
          (then
            (call $msg_reset)
            (call $msg_add (call $str (global.get $s_no_room)))
            (call $msg_add (call $fmt_i64 (i64.sub (local.get $end) (local.get $size))))
            (call $msg_add (call $str (global.get $s_more_bytes)))
            (return (call $fail (global.get $QUOTA_EXCEEDED)))))))
    (i32.const 0))

  ;; $alloc: n bytes of the heap. Returns their pointer (always positive:
  ;; memory is at most 256 pages) or a failed status.
  (func $alloc (param $n i32) (result i32)
    (local $ptr i32) (local $s i32)
    (if (i32.lt_s (local.tee $s (call $reserve (local.get $n))) (i32.const 0))
      (then (return (local.get $s))))
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $ptr))

  ;; ---------------------------------------------------------------------
  ;; Copy-out (ABI.md 3): call, and call again with room for the value
  ;; ---------------------------------------------------------------------

  ;; The copy-out functions, all seen through one signature
  ;; (a, b, buf_ptr, buf_len) so that $copy_out can call any of them
  ;; through the table; a and b are the key or the handle, when there is one.
  (type $copy_out_fn (func (param i32 i32 i32 i32) (result i32)))

  (func $co_input_keys (type $copy_out_fn)
    (param $a i32) (param $b i32) (param $buf_ptr i32) (param $buf_len i32) (result i32)
    (call $input_keys (local.get $buf_ptr) (local.get $buf_len)))
  (func $co_inputs_json (type $copy_out_fn)
    (param $a i32) (param $b i32) (param $buf_ptr i32) (param $buf_len i32) (result i32)
    (call $inputs_json (local.get $buf_ptr) (local.get $buf_len)))
  (func $co_last_error (type $copy_out_fn)
    (param $a i32) (param $b i32) (param $buf_ptr i32) (param $buf_len i32) (result i32)
    (call $last_error (local.get $buf_ptr) (local.get $buf_len)))
  (func $co_http_response_meta (type $copy_out_fn)
    (param $h i32) (param $b i32) (param $buf_ptr i32) (param $buf_len i32) (result i32)
    (call $http_response_meta (local.get $h) (local.get $buf_ptr) (local.get $buf_len)))

  ;; Their indexes in the table. context_get, config_get, blob_stat and
  ;; blob_list already have the signature: the imports go in as they are.
  (table $copy_out_fns funcref
    (elem $co_input_keys $co_inputs_json $co_last_error $co_http_response_meta
          $context_get $config_get $blob_stat $blob_list))
  (global $CO_INPUT_KEYS   i32 (i32.const 0))
  (global $CO_INPUTS_JSON  i32 (i32.const 1))
  (global $CO_LAST_ERROR   i32 (i32.const 2))
  (global $CO_HTTP_META    i32 (i32.const 3)) ;; a = the response handle
  (global $CO_CONTEXT_GET  i32 (i32.const 4)) ;; a, b = the key
  (global $CO_CONFIG_GET   i32 (i32.const 5)) ;; a, b = the key
  (global $CO_BLOB_STAT    i32 (i32.const 6)) ;; a, b = the key
  (global $CO_BLOB_LIST    i32 (i32.const 7)) ;; a, b = the prefix

  ;; $copy_out: copies out the value of copy-out function fn into the heap.
  ;; The first call offers all the room left in memory; when the value is
  ;; longer (nothing was copied), memory grows to fit it and the call is
  ;; made again. Returns (ptr, len), or (0, status) on failure.
  (func $copy_out (param $fn i32) (param $a i32) (param $b i32) (result i32 i32)
    (local $room i32) (local $len i32) (local $s i32) (local $ptr i32)
    (loop $retry
      (local.set $room (i32.sub (i32.shl (memory.size) (i32.const 16)) (global.get $heap)))
      (local.set $len
        (call_indirect $copy_out_fns (type $copy_out_fn)
          (local.get $a) (local.get $b) (global.get $heap) (local.get $room) (local.get $fn)))
      (if (i32.lt_s (local.get $len) (i32.const 0))
        (then (return (i32.const 0) (local.get $len))))
      (if (i32.gt_u (local.get $len) (local.get $room))
        (then
          (if (i32.lt_s (local.tee $s (call $reserve (local.get $len))) (i32.const 0))
            (then (return (i32.const 0) (local.get $s))))
          (br $retry))))
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $len)))
    (local.get $ptr)
    (local.get $len))

  ;; ---------------------------------------------------------------------
  ;; Inputs
  ;; ---------------------------------------------------------------------

  ;; $input_bytes: reads input key whole into the heap with input_len and
  ;; input_read, in chunks of at most 64 KiB. Returns (ptr, len), or
  ;; (0, status): -6001 when there is no such input.
  (func $input_bytes (param $key i32) (param $key_len i32) (result i32 i32)
    (local $n64 i64) (local $n i32) (local $ptr i32) (local $off i32) (local $want i32) (local $got i32)
    (local.set $n64 (call $input_len (local.get $key) (local.get $key_len)))
    (if (i64.lt_s (local.get $n64) (i64.const 0))
      (then (return (i32.const 0) (i32.wrap_i64 (local.get $n64)))))
    (local.set $n (i32.wrap_i64 (local.get $n64))) ;; inputs are at most 128 MiB
    (if (i32.lt_s (local.tee $ptr (call $alloc (local.get $n))) (i32.const 0))
      (then (return (i32.const 0) (local.get $ptr))))
    (block $done
      (loop $chunk
        (br_if $done (i32.ge_u (local.get $off) (local.get $n)))
        (local.set $want (i32.sub (local.get $n) (local.get $off)))
        (if (i32.gt_u (local.get $want) (global.get $CHUNK_SIZE))
          (then (local.set $want (global.get $CHUNK_SIZE))))
        (local.set $got
          (call $input_read (local.get $key) (local.get $key_len) (i64.extend_i32_u (local.get $off))
                            (i32.add (local.get $ptr) (local.get $off)) (local.get $want)))
        (if (i32.lt_s (local.get $got) (i32.const 0))
          (then (return (i32.const 0) (local.get $got))))
        (br_if $done (i32.eqz (local.get $got))) ;; the end, earlier than announced
        (local.set $off (i32.add (local.get $off) (local.get $got)))
        (br $chunk)))
    (local.get $ptr)
    (local.get $off))

  ;; $input_opt: as $input_bytes, but an absent input reads as "" (0, 0).
  (func $input_opt (param $key i32) (param $key_len i32) (result i32 i32)
    (local $ptr i32) (local $len i32)
    (call $input_bytes (local.get $key) (local.get $key_len))
    (local.set $len)
    (local.set $ptr)
    (if (i32.eq (local.get $len) (global.get $E_NOT_FOUND))
      (then (return (i32.const 0) (i32.const 0))))
    (local.get $ptr)
    (local.get $len))

  ;; $input_i32: input key as a decimal i32, 0 when absent. Returns
  ;; (value, 0), or (0, status): a value that is not a decimal i32 fails the
  ;; step with INVALID_INPUT.
  (func $input_i32 (param $key i32) (param $key_len i32) (result i32 i32)
    (local $ptr i32) (local $len i32) (local $v i32) (local $ok i32)
    (call $input_bytes (local.get $key) (local.get $key_len))
    (local.set $len)
    (local.set $ptr)
    (if (i32.eq (local.get $len) (global.get $E_NOT_FOUND))
      (then (return (i32.const 0) (i32.const 0))))
    (if (i32.lt_s (local.get $len) (i32.const 0))
      (then (return (i32.const 0) (local.get $len))))
    (call $parse_i32 (local.get $ptr) (local.get $len))
    (local.set $ok)
    (local.set $v)
    (if (i32.eqz (local.get $ok))
      (then
        (call $msg_reset)
        (call $msg_add (call $str (global.get $s_input_q)))
        (call $msg_add (local.get $key) (local.get $key_len))
        (call $msg_add (call $str (global.get $s_not_decimal)))
        (call $msg_add (local.get $ptr) (local.get $len))
        (call $msg_add (call $str (global.get $s_quote)))
        (return (i32.const 0) (call $fail (global.get $INVALID_INPUT)))))
    (local.get $v)
    (i32.const 0))

  ;; ---------------------------------------------------------------------
  ;; Outputs and handles
  ;; ---------------------------------------------------------------------

  ;; $output_i64: sets output key to v in decimal. Returns a status.
  (func $output_i64 (param $key i32) (param $key_len i32) (param $v i64) (result i32)
    (call $output_set (local.get $key) (local.get $key_len) (call $fmt_i64 (local.get $v))))

  ;; $pump: copies readable handle src to writable handle dst through
  ;; CHUNK until handle_read returns 0 (the end). Returns 0 or a status.
  (func $pump (param $src i32) (param $dst i32) (result i32)
    (local $n i32) (local $s i32)
    (loop $chunk
      (local.set $n (call $handle_read (local.get $src) (global.get $CHUNK) (global.get $CHUNK_SIZE)))
      (if (i32.lt_s (local.get $n) (i32.const 0))
        (then (return (local.get $n))))
      (if (i32.gt_s (local.get $n) (i32.const 0))
        (then
          (if (i32.lt_s (local.tee $s (call $handle_write (local.get $dst) (global.get $CHUNK) (local.get $n)))
                        (i32.const 0))
            (then (return (local.get $s))))
          (br $chunk))))
    (i32.const 0))

  ;; $write_input: writes input key to writable handle h, read with
  ;; input_read into CHUNK, 64 KiB at a time. Returns 0 or a status.
  (func $write_input (param $key i32) (param $key_len i32) (param $h i32) (result i32)
    (local $n i64) (local $off i64) (local $got i32) (local $s i32)
    (local.set $n (call $input_len (local.get $key) (local.get $key_len)))
    (if (i64.lt_s (local.get $n) (i64.const 0))
      (then (return (i32.wrap_i64 (local.get $n)))))
    (block $done
      (loop $chunk
        (br_if $done (i64.ge_u (local.get $off) (local.get $n)))
        (local.set $got (call $input_read (local.get $key) (local.get $key_len) (local.get $off)
                                          (global.get $CHUNK) (global.get $CHUNK_SIZE)))
        (if (i32.lt_s (local.get $got) (i32.const 0))
          (then (return (local.get $got))))
        (br_if $done (i32.eqz (local.get $got)))
        (if (i32.lt_s (local.tee $s (call $handle_write (local.get $h) (global.get $CHUNK) (local.get $got)))
                      (i32.const 0))
          (then (return (local.get $s))))
        (local.set $off (i64.add (local.get $off) (i64.extend_i32_u (local.get $got))))
        (br $chunk)))
    (i32.const 0))

  ;; ---------------------------------------------------------------------
  ;; The entry point
  ;; ---------------------------------------------------------------------

  (func $run (export "blockhost_run_v1") (result i32)
    (local $op i32) (local $op_len i32)
    ;; A new step: empty the heap and the message, forget any failure.
    (global.set $heap (global.get $HEAP_BASE))
    (global.set $failed (i32.const 0))
    (call $msg_reset)

    (call $input_opt (call $str (global.get $s_op)))
    (local.set $op_len)
    (local.set $op)
    (if (i32.lt_s (local.get $op_len) (i32.const 0))
      (then (return (call $report (local.get $op_len)))))

    (if (call $str_eq (local.get $op) (local.get $op_len) (call $str (global.get $s_echo)))
      (then (return (call $op_echo))))
    (if (call $str_eq (local.get $op) (local.get $op_len) (call $str (global.get $s_error)))
      (then (return (call $op_error))))
    (if (call $str_eq (local.get $op) (local.get $op_len) (call $str (global.get $s_log)))
      (then (return (call $op_log))))
    (if (call $str_eq (local.get $op) (local.get $op_len) (call $str (global.get $s_config)))
      (then (return (call $op_config))))
    (if (call $str_eq (local.get $op) (local.get $op_len) (call $str (global.get $s_context)))
      (then (return (call $op_context))))
    (if (call $str_eq (local.get $op) (local.get $op_len) (call $str (global.get $s_stream)))
      (then (return (call $op_stream))))
    (if (call $str_eq (local.get $op) (local.get $op_len) (call $str (global.get $s_buffer)))
      (then (return (call $op_buffer))))
    (if (call $str_eq (local.get $op) (local.get $op_len) (call $str (global.get $s_http)))
      (then (return (call $op_http))))
    (if (call $str_eq (local.get $op) (local.get $op_len) (call $str (global.get $s_fs)))
      (then (return (call $op_fs))))
    (if (call $str_eq (local.get $op) (local.get $op_len) (call $str (global.get $s_abort)))
      (then (unreachable))) ;; WAT's way to fail hard: a trap, EXECUTION_FAILED

    ;; Anything else, or no op: unknown op "<op>", INVALID_INPUT.
    (call $msg_reset)
    (call $msg_add (call $str (global.get $s_unknown_op)))
    (call $msg_add (local.get $op) (local.get $op_len))
    (call $msg_add (call $str (global.get $s_quote)))
    (call $report (call $fail (global.get $INVALID_INPUT))))

  ;; ---------------------------------------------------------------------
  ;; The ops. Each returns the entry point's value. The pattern
  ;;   (if (i32.lt_s (local.tee $s (call ...)) (i32.const 0))
  ;;     (then (return (call $report (local.get $s)))))
  ;; checks a status and fails the step with it.
  ;; ---------------------------------------------------------------------

  ;; echo: text -> echo, keys (input_keys), inputs (inputs_json).
  (func $op_echo (result i32)
    (local $text i32) (local $text_len i32) (local $p i32) (local $n i32) (local $s i32)
    (call $input_bytes (call $str (global.get $s_text)))
    (local.set $text_len)
    (local.set $text)
    (if (i32.lt_s (local.get $text_len) (i32.const 0))
      (then (return (call $report (local.get $text_len)))))
    (if (i32.lt_s (local.tee $s (call $output_set (call $str (global.get $s_echo))
                                                  (local.get $text) (local.get $text_len)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    ;; The host keeps its own copy of an output: give the text's room back.
    (global.set $heap (local.get $text))

    (call $copy_out (global.get $CO_INPUT_KEYS) (i32.const 0) (i32.const 0))
    (local.set $n)
    (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (call $report (local.get $n)))))
    (if (i32.lt_s (local.tee $s (call $output_set (call $str (global.get $s_keys)) (local.get $p) (local.get $n)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))

    (call $copy_out (global.get $CO_INPUTS_JSON) (i32.const 0) (i32.const 0))
    (local.set $n)
    (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (call $report (local.get $n)))))
    (if (i32.lt_s (local.tee $s (call $output_set (call $str (global.get $s_inputs)) (local.get $p) (local.get $n)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (i32.const 0))

  ;; error: code, message, http_status, retry_after_ms, retryable, via.
  ;; via=return returns code; via=error_set (the default) calls error_set
  ;; and returns code, or succeeds with error_set_status when it refuses.
  (func $op_error (result i32)
    (local $code i32) (local $http_status i32) (local $retry_after_ms i32) (local $retryable i32)
    (local $msg i32) (local $msg_len i32) (local $via i32) (local $via_len i32) (local $s i32)
    (call $input_i32 (call $str (global.get $s_code)))
    (local.set $s)
    (local.set $code)
    (if (i32.lt_s (local.get $s) (i32.const 0))
      (then (return (call $report (local.get $s)))))

    (call $input_opt (call $str (global.get $s_via)))
    (local.set $via_len)
    (local.set $via)
    (if (i32.lt_s (local.get $via_len) (i32.const 0))
      (then (return (call $report (local.get $via_len)))))
    (if (call $str_eq (local.get $via) (local.get $via_len) (call $str (global.get $s_return)))
      (then (return (local.get $code))))
    (if (i32.and (i32.ne (local.get $via_len) (i32.const 0))
                 (i32.eqz (call $str_eq (local.get $via) (local.get $via_len)
                                        (call $str (global.get $s_error_set)))))
      (then
        (call $msg_reset)
        (call $msg_add (call $str (global.get $s_unknown_via)))
        (call $msg_add (local.get $via) (local.get $via_len))
        (call $msg_add (call $str (global.get $s_quote)))
        (return (call $report (call $fail (global.get $INVALID_INPUT))))))

    (call $input_opt (call $str (global.get $s_message)))
    (local.set $msg_len)
    (local.set $msg)
    (if (i32.lt_s (local.get $msg_len) (i32.const 0))
      (then (return (call $report (local.get $msg_len)))))
    (call $input_i32 (call $str (global.get $s_http_status)))
    (local.set $s)
    (local.set $http_status)
    (if (i32.lt_s (local.get $s) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (call $input_i32 (call $str (global.get $s_retry_after_ms)))
    (local.set $s)
    (local.set $retry_after_ms)
    (if (i32.lt_s (local.get $s) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (call $input_i32 (call $str (global.get $s_retryable)))
    (local.set $s)
    (local.set $retryable)
    (if (i32.lt_s (local.get $s) (i32.const 0))
      (then (return (call $report (local.get $s)))))

    (local.set $s (call $error_set (local.get $code) (local.get $msg) (local.get $msg_len)
                                   (local.get $http_status) (local.get $retry_after_ms)
                                   (local.get $retryable)))
    (if (i32.eqz (local.get $s))
      (then (return (local.get $code))))
    ;; The host refused the report (-6004): the step succeeds and says so.
    (if (i32.lt_s (local.tee $s (call $output_i64 (call $str (global.get $s_error_set_status))
                                                  (i64.extend_i32_s (local.get $s))))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (i32.const 0))

  ;; log: level, message -> status (log's return value).
  (func $op_log (result i32)
    (local $level i32) (local $msg i32) (local $msg_len i32) (local $s i32)
    (call $input_i32 (call $str (global.get $s_level)))
    (local.set $s)
    (local.set $level)
    (if (i32.lt_s (local.get $s) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (call $input_opt (call $str (global.get $s_message)))
    (local.set $msg_len)
    (local.set $msg)
    (if (i32.lt_s (local.get $msg_len) (i32.const 0))
      (then (return (call $report (local.get $msg_len)))))
    (local.set $s (call $log (local.get $level) (local.get $msg) (local.get $msg_len)))
    (if (i32.lt_s (local.tee $s (call $output_i64 (call $str (global.get $s_status))
                                                  (i64.extend_i32_s (local.get $s))))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (i32.const 0))

  ;; config: key -> value (config_get).
  (func $op_config (result i32)
    (local $key i32) (local $key_len i32) (local $p i32) (local $n i32) (local $s i32)
    (call $input_opt (call $str (global.get $s_key)))
    (local.set $key_len)
    (local.set $key)
    (if (i32.lt_s (local.get $key_len) (i32.const 0))
      (then (return (call $report (local.get $key_len)))))
    (call $copy_out (global.get $CO_CONFIG_GET) (local.get $key) (local.get $key_len))
    (local.set $n)
    (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (call $report (local.get $n)))))
    (if (i32.lt_s (local.tee $s (call $output_set (call $str (global.get $s_value)) (local.get $p) (local.get $n)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (i32.const 0))

  ;; $context_output: sets output key to context value key. Returns a status.
  (func $context_output (param $key i32) (param $key_len i32) (result i32)
    (local $p i32) (local $n i32)
    (call $copy_out (global.get $CO_CONTEXT_GET) (local.get $key) (local.get $key_len))
    (local.set $n)
    (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (local.get $n))))
    (call $output_set (local.get $key) (local.get $key_len) (local.get $p) (local.get $n)))

  ;; context: one output per context key; missing = context_get("nope").
  (func $op_context (result i32)
    (local $s i32)
    (if (i32.lt_s (local.tee $s (call $context_output (call $str (global.get $s_tenant_id)))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $context_output (call $str (global.get $s_trace_id)))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $context_output (call $str (global.get $s_run_id)))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $context_output (call $str (global.get $s_flow_id)))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $context_output (call $str (global.get $s_step_id)))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $context_output (call $str (global.get $s_step_type)))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $context_output (call $str (global.get $s_attempt)))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    ;; buf_len 0 asks only for the length; for an unknown key: -6001.
    (local.set $s (call $context_get (call $str (global.get $s_nope)) (i32.const 0) (i32.const 0)))
    (if (i32.lt_s (local.tee $s (call $output_i64 (call $str (global.get $s_missing))
                                                  (i64.extend_i32_s (local.get $s))))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (i32.const 0))

  ;; stream: data -> stream (pumped through CHUNK), copy (host side), size.
  (func $op_stream (result i32)
    (local $h i32) (local $o i32) (local $s i32) (local $size i64)
    (if (i32.lt_s (local.tee $h (call $input_open (call $str (global.get $s_data)))) (i32.const 0))
      (then (return (call $report (local.get $h)))))
    (if (i32.lt_s (local.tee $o (call $output_open (call $str (global.get $s_stream)))) (i32.const 0))
      (then (return (call $report (local.get $o)))))
    (if (i32.lt_s (local.tee $s (call $pump (local.get $h) (local.get $o))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $handle_close (local.get $o))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $handle_close (local.get $h))) (i32.const 0))
      (then (return (call $report (local.get $s)))))

    (if (i32.lt_s (local.tee $h (call $input_open (call $str (global.get $s_data)))) (i32.const 0))
      (then (return (call $report (local.get $h)))))
    ;; output_from_handle consumes h: it is closed whatever the outcome.
    (if (i32.lt_s (local.tee $s (call $output_from_handle (call $str (global.get $s_copy)) (local.get $h)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))

    (local.set $size (call $input_len (call $str (global.get $s_data))))
    (if (i64.lt_s (local.get $size) (i64.const 0))
      (then (return (call $report (i32.wrap_i64 (local.get $size))))))
    (if (i32.lt_s (local.tee $s (call $output_i64 (call $str (global.get $s_size)) (local.get $size)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (i32.const 0))

  ;; buffer: text -> twice (text written twice to a buffer), size.
  (func $op_buffer (result i32)
    (local $text i32) (local $text_len i32) (local $b i32) (local $s i32) (local $size i64)
    (call $input_bytes (call $str (global.get $s_text)))
    (local.set $text_len)
    (local.set $text)
    (if (i32.lt_s (local.get $text_len) (i32.const 0))
      (then (return (call $report (local.get $text_len)))))
    (if (i32.lt_s (local.tee $b (call $buffer_new)) (i32.const 0))
      (then (return (call $report (local.get $b)))))
    (if (i32.lt_s (local.tee $s (call $handle_write (local.get $b) (local.get $text) (local.get $text_len)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $handle_write (local.get $b) (local.get $text) (local.get $text_len)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (local.set $size (call $handle_size (local.get $b)))
    (if (i64.lt_s (local.get $size) (i64.const 0))
      (then (return (call $report (i32.wrap_i64 (local.get $size))))))
    (if (i32.lt_s (local.tee $s (call $output_from_handle (call $str (global.get $s_twice)) (local.get $b)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $output_i64 (call $str (global.get $s_size)) (local.get $size)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (i32.const 0))

  ;; http: request (the JSON of http_request), optional body -> meta, body.
  (func $op_http (result i32)
    (local $req i32) (local $req_len i32) (local $body_h i32) (local $present i64)
    (local $r i32) (local $o i32) (local $p i32) (local $n i32) (local $s i32)
    (call $input_bytes (call $str (global.get $s_request)))
    (local.set $req_len)
    (local.set $req)
    (if (i32.lt_s (local.get $req_len) (i32.const 0))
      (then (return (call $report (local.get $req_len)))))

    ;; The body, when there is one, goes as a handle: the host reads it.
    (local.set $present (call $input_len (call $str (global.get $s_body))))
    (if (i64.ge_s (local.get $present) (i64.const 0))
      (then
        (if (i32.lt_s (local.tee $body_h (call $input_open (call $str (global.get $s_body)))) (i32.const 0))
          (then (return (call $report (local.get $body_h))))))
      (else
        (if (i32.ne (i32.wrap_i64 (local.get $present)) (global.get $E_NOT_FOUND))
          (then (return (call $report (i32.wrap_i64 (local.get $present))))))))

    (if (i32.lt_s (local.tee $r (call $http_request (local.get $req) (local.get $req_len) (local.get $body_h)))
                  (i32.const 0))
      (then (return (call $report (local.get $r)))))

    (call $copy_out (global.get $CO_HTTP_META) (local.get $r) (i32.const 0))
    (local.set $n)
    (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (call $report (local.get $n)))))
    (if (i32.lt_s (local.tee $s (call $output_set (call $str (global.get $s_meta)) (local.get $p) (local.get $n)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))

    (if (i32.lt_s (local.tee $o (call $output_open (call $str (global.get $s_body)))) (i32.const 0))
      (then (return (call $report (local.get $o)))))
    (if (i32.lt_s (local.tee $s (call $pump (local.get $r) (local.get $o))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $handle_close (local.get $o))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $handle_close (local.get $r))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (i32.const 0))

  ;; fs: key, key2, data, prefix -> read, stat, list, deleted.
  (func $op_fs (result i32)
    (local $key i32) (local $key_len i32) (local $key2 i32) (local $key2_len i32)
    (local $prefix i32) (local $prefix_len i32)
    (local $w i32) (local $h i32) (local $r i32) (local $o i32) (local $p i32) (local $n i32) (local $s i32)
    (call $input_opt (call $str (global.get $s_key)))
    (local.set $key_len)
    (local.set $key)
    (if (i32.lt_s (local.get $key_len) (i32.const 0))
      (then (return (call $report (local.get $key_len)))))
    (call $input_opt (call $str (global.get $s_key2)))
    (local.set $key2_len)
    (local.set $key2)
    (if (i32.lt_s (local.get $key2_len) (i32.const 0))
      (then (return (call $report (local.get $key2_len)))))
    (call $input_opt (call $str (global.get $s_prefix)))
    (local.set $prefix_len)
    (local.set $prefix)
    (if (i32.lt_s (local.get $prefix_len) (i32.const 0))
      (then (return (call $report (local.get $prefix_len)))))

    ;; 1 Write blob key from data, through the block's memory.
    (if (i32.lt_s (local.tee $w (call $blob_open_write (local.get $key) (local.get $key_len))) (i32.const 0))
      (then (return (call $report (local.get $w)))))
    (if (i32.lt_s (local.tee $s (call $write_input (call $str (global.get $s_data)) (local.get $w)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $handle_close (local.get $w))) (i32.const 0)) ;; commits
      (then (return (call $report (local.get $s)))))

    ;; 2 Write blob key2 from data, on the host side.
    (if (i32.lt_s (local.tee $h (call $input_open (call $str (global.get $s_data)))) (i32.const 0))
      (then (return (call $report (local.get $h)))))
    (if (i32.lt_s (local.tee $s (call $blob_put_from (local.get $key2) (local.get $key2_len) (local.get $h)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))

    ;; 3 Read blob key back into output read.
    (if (i32.lt_s (local.tee $r (call $blob_open_read (local.get $key) (local.get $key_len))) (i32.const 0))
      (then (return (call $report (local.get $r)))))
    (if (i32.lt_s (local.tee $o (call $output_open (call $str (global.get $s_read)))) (i32.const 0))
      (then (return (call $report (local.get $o)))))
    (if (i32.lt_s (local.tee $s (call $pump (local.get $r) (local.get $o))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $handle_close (local.get $o))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (if (i32.lt_s (local.tee $s (call $handle_close (local.get $r))) (i32.const 0))
      (then (return (call $report (local.get $s)))))

    ;; 4 stat and 5 list.
    (call $copy_out (global.get $CO_BLOB_STAT) (local.get $key) (local.get $key_len))
    (local.set $n)
    (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (call $report (local.get $n)))))
    (if (i32.lt_s (local.tee $s (call $output_set (call $str (global.get $s_stat)) (local.get $p) (local.get $n)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (call $copy_out (global.get $CO_BLOB_LIST) (local.get $prefix) (local.get $prefix_len))
    (local.set $n)
    (local.set $p)
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (return (call $report (local.get $n)))))
    (if (i32.lt_s (local.tee $s (call $output_set (call $str (global.get $s_list)) (local.get $p) (local.get $n)))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))

    ;; 6 Delete blob key2; 7 it must be gone.
    (if (i32.lt_s (local.tee $s (call $blob_delete (local.get $key2) (local.get $key2_len))) (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (local.set $s (call $blob_stat (local.get $key2) (local.get $key2_len) (i32.const 0) (i32.const 0)))
    (if (i32.ne (local.get $s) (global.get $E_NOT_FOUND))
      (then
        (if (i32.lt_s (local.get $s) (i32.const 0))
          (then (return (call $report (local.get $s)))))
        ;; It is still there: the block's own failure.
        (call $msg_reset)
        (call $msg_add (call $str (global.get $s_still_there)))
        (call $msg_add (local.get $key2) (local.get $key2_len))
        (return (call $report (call $fail (global.get $EXECUTION_FAILED))))))

    (if (i32.lt_s (local.tee $s (call $output_set (call $str (global.get $s_deleted))
                                                  (call $str (global.get $s_yes))))
                  (i32.const 0))
      (then (return (call $report (local.get $s)))))
    (i32.const 0))
)
