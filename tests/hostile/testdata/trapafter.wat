;; trapafter: traps right after host calls that succeeded. The first byte
;; of input "how" picks what comes before the trap:
;;
;;   i  (input)     input_read of input "data" copied bytes into memory;
;;   o  (output)    output_set("x", "1") succeeded;
;;   w  (writer)    output_open("w") and handle_write of 64 bytes to it;
;;   b  (blob)      blob_open_write("trapafter/blob.bin") and handle_write
;;                  of 64 bytes to it (needs the FS capability);
;;   m  (memory)    input_len("data") returned L: the block loads from
;;                  address 0xFFFFFF00 + L, out of bounds (a memory trap
;;                  instead of unreachable);
;;   r  (reported)  error_set(3001 NETWORK_ERROR, "reported before the
;;                  trap") succeeded.
;;
;; Each then executes unreachable (m traps on its load). Anything else
;; returns 1001 (INVALID_INPUT). A host must fail the step with
;; EXECUTION_FAILED "block trapped", return no output and commit nothing:
;; no output x or w, no blob.
(module
  (import "blockhost" "input_len" (func $input_len (param i32 i32) (result i64)))
  (import "blockhost" "input_read" (func $input_read (param i32 i32 i64 i32 i32) (result i32)))
  (import "blockhost" "output_set" (func $output_set (param i32 i32 i32 i32) (result i32)))
  (import "blockhost" "output_open" (func $output_open (param i32 i32) (result i32)))
  (import "blockhost" "handle_write" (func $handle_write (param i32 i32 i32) (result i32)))
  (import "blockhost" "blob_open_write" (func $blob_open_write (param i32 i32) (result i32)))
  (import "blockhost" "error_set" (func $error_set (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "how")
  (data (i32.const 8) "data")
  (data (i32.const 16) "x1w")
  (data (i32.const 32) "trapafter/blob.bin")
  (data (i32.const 64) "reported before the trap")
  ;; 256..319: 64 bytes written to handles; 512..: input bytes read

  (func (export "blockhost_run_v1") (result i32) (local $c i32) (local $h i32)
    (drop (call $input_read (i32.const 0) (i32.const 3) (i64.const 0) (i32.const 128) (i32.const 1)))
    (local.set $c (i32.load8_u (i32.const 128)))
    (if (i32.eq (local.get $c) (i32.const 105)) ;; 'i'
      (then
        (if (i32.le_s (call $input_read (i32.const 8) (i32.const 4) (i64.const 0) (i32.const 512) (i32.const 1024))
                      (i32.const 0))
          (then (return (i32.const 1002))))
        unreachable))
    (if (i32.eq (local.get $c) (i32.const 111)) ;; 'o'
      (then
        (if (call $output_set (i32.const 16) (i32.const 1) (i32.const 17) (i32.const 1))
          (then (return (i32.const 2001))))
        unreachable))
    (if (i32.eq (local.get $c) (i32.const 119)) ;; 'w'
      (then
        (local.set $h (call $output_open (i32.const 18) (i32.const 1)))
        (if (i32.le_s (local.get $h) (i32.const 0)) (then (return (i32.const 2001))))
        (if (i32.ne (call $handle_write (local.get $h) (i32.const 256) (i32.const 64)) (i32.const 64))
          (then (return (i32.const 2001))))
        unreachable))
    (if (i32.eq (local.get $c) (i32.const 98)) ;; 'b'
      (then
        (local.set $h (call $blob_open_write (i32.const 32) (i32.const 18)))
        (if (i32.le_s (local.get $h) (i32.const 0)) (then (return (i32.const 2003))))
        (if (i32.ne (call $handle_write (local.get $h) (i32.const 256) (i32.const 64)) (i32.const 64))
          (then (return (i32.const 2001))))
        unreachable))
    (if (i32.eq (local.get $c) (i32.const 109)) ;; 'm'
      (then
        (return (i32.load (i32.add (i32.const 0xFFFFFF00)
                                   (i32.wrap_i64 (call $input_len (i32.const 8) (i32.const 4))))))))
    (if (i32.eq (local.get $c) (i32.const 114)) ;; 'r'
      (then
        (if (call $error_set (i32.const 3001) (i32.const 64) (i32.const 24) (i32.const 0) (i32.const 0) (i32.const 0))
          (then (return (i32.const 2001))))
        unreachable))
    (i32.const 1001))
)
