;; badptr: calls every one of the 26 functions of module "blockhost" with
;; hostile arguments and records each returned status, in decimal, as an
;; output; then returns 0. A conforming host answers -6002 (BAD_POINTER) to
;; every invalid pointer/length pair, never traps, and acts on none of
;; those calls.
;;
;; The 23 functions that take a pointer are called through the table
;; below, each with these pairs (memory is exactly 1 page, 65536 bytes):
;;
;;   wrap  (0xFFFFFFF0, 64)          pointer + length overflows 32 bits
;;   huge  (0, 0xFFFFFFFF)           a 4 GiB length
;;   end   (65536, 1)                one byte past the end
;;   past  (65537, 0)                an empty span that starts past the end
;;   max   (0xFFFFFFFF, 1)           the last address of the 32-bit space
;;   mid   (32768, 32769)            starts inside, ends one byte past
;;
;; Outputs, for each function F and pair P:
;;
;;   F/P         every pointer pair of the call is P;
;;   F/P/p1      (functions with two pairs) the first pair is P, the
;;   F/P/p2      second valid; then the other way round;
;;   F/P/close   (functions that consume a handle: output_from_handle,
;;               http_request, blob_put_from) handle_close of the handle
;;               just passed: -6003, it was consumed;
;;   F/edge      control: every pair is (65536, 0), valid, so anything but
;;               -6002 (e.g. -6001 for an empty key, or a length);
;;
;; and for the three functions without a pointer:
;;
;;   handle_size/H, handle_close/H   for bogus handles H = 0, -1,
;;               2147483647 and 65: -6003;
;;   buffer_new  a fresh handle (> 0), closed again;
;;
;; and last_error: the detail of the first bad call (input_len/wrap).
;;
;; Handle arguments are fresh buffer_new handles, closed after each call,
;; so a host that checked handles first would still see a valid one. The
;; log pair is read with level 1, error_set's with code 0 (invalid), so
;; only the edge control may log (an empty message) and nothing is ever
;; recorded as the step's failure.
(module
  (type $probe (func (param i32 i32 i32 i32) (result i32)))

  (import "blockhost" "input_len" (func $input_len (param i32 i32) (result i64)))
  (import "blockhost" "input_read" (func $input_read (param i32 i32 i64 i32 i32) (result i32)))
  (import "blockhost" "input_open" (func $input_open (param i32 i32) (result i32)))
  (import "blockhost" "input_keys" (func $input_keys (param i32 i32) (result i32)))
  (import "blockhost" "inputs_json" (func $inputs_json (param i32 i32) (result i32)))
  (import "blockhost" "output_set" (func $output_set (param i32 i32 i32 i32) (result i32)))
  (import "blockhost" "output_open" (func $output_open (param i32 i32) (result i32)))
  (import "blockhost" "output_from_handle" (func $output_from_handle (param i32 i32 i32) (result i32)))
  (import "blockhost" "context_get" (func $context_get (param i32 i32 i32 i32) (result i32)))
  (import "blockhost" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (import "blockhost" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "blockhost" "error_set" (func $error_set (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "blockhost" "last_error" (func $last_error (param i32 i32) (result i32)))
  (import "blockhost" "handle_read" (func $handle_read (param i32 i32 i32) (result i32)))
  (import "blockhost" "handle_write" (func $handle_write (param i32 i32 i32) (result i32)))
  (import "blockhost" "handle_size" (func $handle_size (param i32) (result i64)))
  (import "blockhost" "handle_close" (func $handle_close (param i32) (result i32)))
  (import "blockhost" "buffer_new" (func $buffer_new (result i32)))
  (import "blockhost" "http_request" (func $http_request (param i32 i32 i32) (result i32)))
  (import "blockhost" "http_response_meta" (func $http_response_meta (param i32 i32 i32) (result i32)))
  (import "blockhost" "blob_open_read" (func $blob_open_read (param i32 i32) (result i32)))
  (import "blockhost" "blob_open_write" (func $blob_open_write (param i32 i32) (result i32)))
  (import "blockhost" "blob_put_from" (func $blob_put_from (param i32 i32 i32) (result i32)))
  (import "blockhost" "blob_delete" (func $blob_delete (param i32 i32) (result i32)))
  (import "blockhost" "blob_stat" (func $blob_stat (param i32 i32 i32 i32) (result i32)))
  (import "blockhost" "blob_list" (func $blob_list (param i32 i32 i32 i32) (result i32)))

  ;; Exactly one page, never more: 65536 is the end of memory.
  (memory (export "memory") 1 1)

  ;; Memory layout.
  ;;   0     function names, NUL-padded 32-byte slots, index i at i*32
  ;;   1024  pair names, 16-byte slots, index j at 1024+j*16
  ;;   1200  the pairs: (pointer, length) as two i32 at 1200+j*8
  ;;   1280  "k", a valid key
  ;;   1296  "/", "/p1", "/p2", "/close", "/edge"
  ;;   2048  the output key being built
  ;;   3072  decimal digits of a status
  ;;   4096  a valid 64-byte buffer
  ;;   8192  last_error's detail (up to 4096 bytes)
  (data (i32.const 0) "input_len")
  (data (i32.const 32) "input_read")
  (data (i32.const 64) "input_open")
  (data (i32.const 96) "input_keys")
  (data (i32.const 128) "inputs_json")
  (data (i32.const 160) "output_set")
  (data (i32.const 192) "output_open")
  (data (i32.const 224) "output_from_handle")
  (data (i32.const 256) "context_get")
  (data (i32.const 288) "config_get")
  (data (i32.const 320) "log")
  (data (i32.const 352) "error_set")
  (data (i32.const 384) "last_error")
  (data (i32.const 416) "handle_read")
  (data (i32.const 448) "handle_write")
  (data (i32.const 480) "http_request")
  (data (i32.const 512) "http_response_meta")
  (data (i32.const 544) "blob_open_read")
  (data (i32.const 576) "blob_open_write")
  (data (i32.const 608) "blob_put_from")
  (data (i32.const 640) "blob_delete")
  (data (i32.const 672) "blob_stat")
  (data (i32.const 704) "blob_list")
  (data (i32.const 736) "handle_size")
  (data (i32.const 768) "handle_close")
  (data (i32.const 800) "buffer_new")
  (data (i32.const 832) "last_error")

  (data (i32.const 1024) "wrap")
  (data (i32.const 1040) "huge")
  (data (i32.const 1056) "end")
  (data (i32.const 1072) "past")
  (data (i32.const 1088) "max")
  (data (i32.const 1104) "mid")
  (data (i32.const 1120) "edge")
  ;; little-endian (pointer, length) pairs
  (data (i32.const 1200)
    "\f0\ff\ff\ff" "\40\00\00\00"   ;; wrap (0xFFFFFFF0, 64)
    "\00\00\00\00" "\ff\ff\ff\ff"   ;; huge (0, 0xFFFFFFFF)
    "\00\00\01\00" "\01\00\00\00"   ;; end  (65536, 1)
    "\01\00\01\00" "\00\00\00\00"   ;; past (65537, 0)
    "\ff\ff\ff\ff" "\01\00\00\00"   ;; max  (0xFFFFFFFF, 1)
    "\00\80\00\00" "\01\80\00\00"   ;; mid  (32768, 32769)
    "\00\00\01\00" "\00\00\00\00")  ;; edge (65536, 0), valid
  (data (i32.const 1280) "k")
  (data (i32.const 1296) "/")
  (data (i32.const 1300) "/p1")
  (data (i32.const 1304) "/p2")
  (data (i32.const 1312) "/close")

  (global $npairs i32 (i32.const 6))   ;; bad pairs; pair 6 is the edge control
  (global $keyPtr i32 (i32.const 2048))
  (global $keyLen (mut i32) (i32.const 0))
  ;; status of handle_close on the handle the last probe passed
  (global $closed (mut i32) (i32.const 0))

  ;; Probes: one per pointer-taking function, in ABI order; the
  ;; parameters are the first pair and the second pair (ignored when the
  ;; function has one).
  (table 23 funcref)
  (elem (i32.const 0)
    $p_input_len $p_input_read $p_input_open $p_input_keys $p_inputs_json
    $p_output_set $p_output_open $p_output_from_handle $p_context_get
    $p_config_get $p_log $p_error_set $p_last_error $p_handle_read
    $p_handle_write $p_http_request $p_http_response_meta $p_blob_open_read
    $p_blob_open_write $p_blob_put_from $p_blob_delete $p_blob_stat
    $p_blob_list)

  (func $p_input_len (type $probe)
    (i32.wrap_i64 (call $input_len (local.get 0) (local.get 1))))
  (func $p_input_read (type $probe)
    (call $input_read (local.get 0) (local.get 1) (i64.const 0) (local.get 2) (local.get 3)))
  (func $p_input_open (type $probe)
    (call $input_open (local.get 0) (local.get 1)))
  (func $p_input_keys (type $probe)
    (call $input_keys (local.get 0) (local.get 1)))
  (func $p_inputs_json (type $probe)
    (call $inputs_json (local.get 0) (local.get 1)))
  (func $p_output_set (type $probe)
    (call $output_set (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func $p_output_open (type $probe)
    (call $output_open (local.get 0) (local.get 1)))
  (func $p_output_from_handle (type $probe) (local $h i32) (local $s i32)
    (local.set $h (call $buffer_new))
    (local.set $s (call $output_from_handle (local.get 0) (local.get 1) (local.get $h)))
    (global.set $closed (call $handle_close (local.get $h)))
    (local.get $s))
  (func $p_context_get (type $probe)
    (call $context_get (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func $p_config_get (type $probe)
    (call $config_get (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func $p_log (type $probe)
    (call $log (i32.const 1) (local.get 0) (local.get 1)))
  (func $p_error_set (type $probe)
    (call $error_set (i32.const 0) (local.get 0) (local.get 1) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func $p_last_error (type $probe)
    (call $last_error (local.get 0) (local.get 1)))
  (func $p_handle_read (type $probe) (local $h i32) (local $s i32)
    (local.set $h (call $buffer_new))
    (local.set $s (call $handle_read (local.get $h) (local.get 0) (local.get 1)))
    (drop (call $handle_close (local.get $h)))
    (local.get $s))
  (func $p_handle_write (type $probe) (local $h i32) (local $s i32)
    (local.set $h (call $buffer_new))
    (local.set $s (call $handle_write (local.get $h) (local.get 0) (local.get 1)))
    (drop (call $handle_close (local.get $h)))
    (local.get $s))
  (func $p_http_request (type $probe) (local $h i32) (local $s i32)
    (local.set $h (call $buffer_new))
    (local.set $s (call $http_request (local.get 0) (local.get 1) (local.get $h)))
    (global.set $closed (call $handle_close (local.get $h)))
    (local.get $s))
  (func $p_http_response_meta (type $probe) (local $h i32) (local $s i32)
    (local.set $h (call $buffer_new))
    (local.set $s (call $http_response_meta (local.get $h) (local.get 0) (local.get 1)))
    (drop (call $handle_close (local.get $h)))
    (local.get $s))
  (func $p_blob_open_read (type $probe)
    (call $blob_open_read (local.get 0) (local.get 1)))
  (func $p_blob_open_write (type $probe)
    (call $blob_open_write (local.get 0) (local.get 1)))
  (func $p_blob_put_from (type $probe) (local $h i32) (local $s i32)
    (local.set $h (call $buffer_new))
    (local.set $s (call $blob_put_from (local.get 0) (local.get 1) (local.get $h)))
    (global.set $closed (call $handle_close (local.get $h)))
    (local.get $s))
  (func $p_blob_delete (type $probe)
    (call $blob_delete (local.get 0) (local.get 1)))
  (func $p_blob_stat (type $probe)
    (call $blob_stat (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func $p_blob_list (type $probe)
    (call $blob_list (local.get 0) (local.get 1) (local.get 2) (local.get 3)))

  ;; strlen of a NUL-terminated name.
  (func $strlen (param $p i32) (result i32) (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; key building: reset, then append strings.
  (func $keyReset (global.set $keyLen (i32.const 0)))
  (func $append (param $p i32) (param $n i32)
    (memory.copy (i32.add (global.get $keyPtr) (global.get $keyLen)) (local.get $p) (local.get $n))
    (global.set $keyLen (i32.add (global.get $keyLen) (local.get $n))))
  (func $appendName (param $p i32)
    (call $append (local.get $p) (call $strlen (local.get $p))))

  ;; itoa writes the decimal form of v at 3072 and returns its length.
  (func $itoa (param $v i32) (result i32)
    (local $u i64) (local $n i32) (local $i i32) (local $j i32) (local $t i32)
    (local.set $u (i64.extend_i32_s (local.get $v)))
    (if (i64.lt_s (local.get $u) (i64.const 0))
      (then
        (i32.store8 (i32.const 3072) (i32.const 45)) ;; '-'
        (local.set $n (i32.const 1))
        (local.set $u (i64.sub (i64.const 0) (local.get $u)))))
    (local.set $i (local.get $n))
    (loop $digit
      (i32.store8 (i32.add (i32.const 3072) (local.get $n))
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $u) (i64.const 10)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (local.set $u (i64.div_u (local.get $u) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $u) (i64.const 0))))
    ;; reverse the digits in place
    (local.set $j (i32.sub (local.get $n) (i32.const 1)))
    (block $done
      (loop $swap
        (br_if $done (i32.ge_s (local.get $i) (local.get $j)))
        (local.set $t (i32.load8_u (i32.add (i32.const 3072) (local.get $i))))
        (i32.store8 (i32.add (i32.const 3072) (local.get $i))
          (i32.load8_u (i32.add (i32.const 3072) (local.get $j))))
        (i32.store8 (i32.add (i32.const 3072) (local.get $j)) (local.get $t))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (local.set $j (i32.sub (local.get $j) (i32.const 1)))
        (br $swap)))
    (local.get $n))

  ;; record sets output <key being built> to the decimal status; a host
  ;; refusing a valid output_set ends the call with a trap.
  (func $record (param $status i32) (local $n i32)
    (local.set $n (call $itoa (local.get $status)))
    (if (i32.ne (call $output_set (global.get $keyPtr) (global.get $keyLen) (i32.const 3072) (local.get $n))
                (i32.const 0))
      (then unreachable)))

  ;; startKey builds "<function name>/<pair name>".
  (func $startKey (param $fn i32) (param $pair i32)
    (call $keyReset)
    (call $appendName (i32.mul (local.get $fn) (i32.const 32)))
    (call $append (i32.const 1296) (i32.const 1))
    (call $appendName (i32.add (i32.const 1024) (i32.mul (local.get $pair) (i32.const 16)))))

  (func $pairPtr (param $j i32) (result i32)
    (i32.load (i32.add (i32.const 1200) (i32.mul (local.get $j) (i32.const 8)))))
  (func $pairLen (param $j i32) (result i32)
    (i32.load (i32.add (i32.const 1204) (i32.mul (local.get $j) (i32.const 8)))))

  ;; probeFn runs every pair against function fn, which has `pairs`
  ;; pointer pairs and consumes a handle when `consumes` is 1.
  (func $probeFn (param $fn i32) (param $pairs i32) (param $consumes i32)
    (local $j i32) (local $p i32) (local $l i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (global.get $npairs)))
        (local.set $p (call $pairPtr (local.get $j)))
        (local.set $l (call $pairLen (local.get $j)))
        ;; every pair bad
        (call $startKey (local.get $fn) (local.get $j))
        (call $record (call_indirect (type $probe)
          (local.get $p) (local.get $l) (local.get $p) (local.get $l) (local.get $fn)))
        (if (local.get $consumes)
          (then
            (call $startKey (local.get $fn) (local.get $j))
            (call $append (i32.const 1312) (i32.const 6))
            (call $record (global.get $closed))))
        (if (i32.eq (local.get $pairs) (i32.const 2))
          (then
            ;; first pair bad, second valid (a 64-byte buffer)
            (call $startKey (local.get $fn) (local.get $j))
            (call $append (i32.const 1300) (i32.const 3))
            (call $record (call_indirect (type $probe)
              (local.get $p) (local.get $l) (i32.const 4096) (i32.const 64) (local.get $fn)))
            ;; first pair valid (key "k"), second bad
            (call $startKey (local.get $fn) (local.get $j))
            (call $append (i32.const 1304) (i32.const 3))
            (call $record (call_indirect (type $probe)
              (i32.const 1280) (i32.const 1) (local.get $p) (local.get $l) (local.get $fn)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next)))
    ;; the edge control: every pair (65536, 0)
    (call $startKey (local.get $fn) (i32.const 6))
    (call $record (call_indirect (type $probe)
      (i32.const 65536) (i32.const 0) (i32.const 65536) (i32.const 0) (local.get $fn))))

  ;; probeHandle records handle_size and handle_close of bogus handle h
  ;; under the name "<h as decimal>".
  (func $probeHandle (param $h i32) (local $n i32)
    (local.set $n (call $itoa (local.get $h)))
    (call $keyReset)
    (call $appendName (i32.const 736))
    (call $append (i32.const 1296) (i32.const 1))
    (call $append (i32.const 3072) (local.get $n))
    (call $record (i32.wrap_i64 (call $handle_size (local.get $h))))
    (local.set $n (call $itoa (local.get $h)))
    (call $keyReset)
    (call $appendName (i32.const 768))
    (call $append (i32.const 1296) (i32.const 1))
    (call $append (i32.const 3072) (local.get $n))
    (call $record (call $handle_close (local.get $h))))

  (func (export "blockhost_run_v1") (result i32) (local $h i32) (local $n i32)
    ;; last_error: the detail of a bad call
    (drop (call $input_len (i32.const 0xFFFFFFF0) (i32.const 64)))
    (local.set $n (call $last_error (i32.const 8192) (i32.const 4096)))
    (if (i32.or (i32.lt_s (local.get $n) (i32.const 0)) (i32.gt_s (local.get $n) (i32.const 4096)))
      (then unreachable))
    (call $keyReset)
    (call $appendName (i32.const 832))
    (if (call $output_set (global.get $keyPtr) (global.get $keyLen) (i32.const 8192) (local.get $n))
      (then unreachable))

    (call $probeFn (i32.const 0) (i32.const 1) (i32.const 0))   ;; input_len
    (call $probeFn (i32.const 1) (i32.const 2) (i32.const 0))   ;; input_read
    (call $probeFn (i32.const 2) (i32.const 1) (i32.const 0))   ;; input_open
    (call $probeFn (i32.const 3) (i32.const 1) (i32.const 0))   ;; input_keys
    (call $probeFn (i32.const 4) (i32.const 1) (i32.const 0))   ;; inputs_json
    (call $probeFn (i32.const 5) (i32.const 2) (i32.const 0))   ;; output_set
    (call $probeFn (i32.const 6) (i32.const 1) (i32.const 0))   ;; output_open
    (call $probeFn (i32.const 7) (i32.const 1) (i32.const 1))   ;; output_from_handle
    (call $probeFn (i32.const 8) (i32.const 2) (i32.const 0))   ;; context_get
    (call $probeFn (i32.const 9) (i32.const 2) (i32.const 0))   ;; config_get
    (call $probeFn (i32.const 10) (i32.const 1) (i32.const 0))  ;; log
    (call $probeFn (i32.const 11) (i32.const 1) (i32.const 0))  ;; error_set
    (call $probeFn (i32.const 12) (i32.const 1) (i32.const 0))  ;; last_error
    (call $probeFn (i32.const 13) (i32.const 1) (i32.const 0))  ;; handle_read
    (call $probeFn (i32.const 14) (i32.const 1) (i32.const 0))  ;; handle_write
    (call $probeFn (i32.const 15) (i32.const 1) (i32.const 1))  ;; http_request
    (call $probeFn (i32.const 16) (i32.const 1) (i32.const 0))  ;; http_response_meta
    (call $probeFn (i32.const 17) (i32.const 1) (i32.const 0))  ;; blob_open_read
    (call $probeFn (i32.const 18) (i32.const 1) (i32.const 0))  ;; blob_open_write
    (call $probeFn (i32.const 19) (i32.const 1) (i32.const 1))  ;; blob_put_from
    (call $probeFn (i32.const 20) (i32.const 1) (i32.const 0))  ;; blob_delete
    (call $probeFn (i32.const 21) (i32.const 2) (i32.const 0))  ;; blob_stat
    (call $probeFn (i32.const 22) (i32.const 2) (i32.const 0))  ;; blob_list

    (call $probeHandle (i32.const 0))
    (call $probeHandle (i32.const -1))
    (call $probeHandle (i32.const 2147483647))
    (call $probeHandle (i32.const 65))

    ;; buffer_new works, and its handle closes
    (local.set $h (call $buffer_new))
    (call $keyReset)
    (call $appendName (i32.const 800))
    (call $record (local.get $h))
    (if (i32.gt_s (local.get $h) (i32.const 0))
      (then (drop (call $handle_close (local.get $h)))))
    (i32.const 0))
)
