;; recurse: recursion without a single loop, to exhaust the call stack.
;; The first byte of input "how" picks the shape:
;;
;;   d  (direct)    $down calls itself, forever;
;;   i  (indirect)  $ping and $pong call each other through the table
;;                  (call_indirect), forever;
;;   w  (wide)      $wide calls itself with 16 i64 arguments and 256 i64
;;                  locals per frame, forever;
;;   c  (counted)   $count recurses n = 1000 levels deep and returns:
;;                  the control, the step succeeds with output depth=1000.
;;
;; Anything else returns 1001 (INVALID_INPUT). The module contains no loop
;; instruction: only the host's stack limit ends the three endless shapes,
;; with a trap.
(module
  (import "blockhost" "input_read" (func $input_read (param i32 i32 i64 i32 i32) (result i32)))
  (import "blockhost" "output_set" (func $output_set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "how")
  (data (i32.const 16) "depth")
  (data (i32.const 32) "1000")

  (type $void (func))
  (table 2 funcref)
  (elem (i32.const 0) $ping $pong)

  (func $down (call $down))

  (func $ping (call_indirect (type $void) (i32.const 1)))
  (func $pong (call_indirect (type $void) (i32.const 0)))

  (func $wide (param i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    ;; keep a few locals live across the call so they need stack slots
    (local.set 16 (i64.add (local.get 0) (local.get 15)))
    (local.set 271 (i64.mul (local.get 1) (local.get 14)))
    (call $wide
      (local.get 16) (local.get 271) (local.get 2) (local.get 3)
      (local.get 4) (local.get 5) (local.get 6) (local.get 7)
      (local.get 8) (local.get 9) (local.get 10) (local.get 11)
      (local.get 12) (local.get 13) (local.get 14) (local.get 15))
    (local.set 17 (i64.add (local.get 16) (local.get 271))))

  (func $count (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $count (i32.sub (local.get $n) (i32.const 1)))))))

  (func (export "blockhost_run_v1") (result i32) (local $c i32)
    (drop (call $input_read (i32.const 0) (i32.const 3) (i64.const 0) (i32.const 64) (i32.const 1)))
    (local.set $c (i32.load8_u (i32.const 64)))
    (if (i32.eq (local.get $c) (i32.const 100)) ;; 'd'
      (then (call $down) (return (i32.const 0))))
    (if (i32.eq (local.get $c) (i32.const 105)) ;; 'i'
      (then (call $ping) (return (i32.const 0))))
    (if (i32.eq (local.get $c) (i32.const 119)) ;; 'w'
      (then
        (call $wide (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4)
                    (i64.const 5) (i64.const 6) (i64.const 7) (i64.const 8)
                    (i64.const 9) (i64.const 10) (i64.const 11) (i64.const 12)
                    (i64.const 13) (i64.const 14) (i64.const 15) (i64.const 16))
        (return (i32.const 0))))
    (if (i32.eq (local.get $c) (i32.const 99)) ;; 'c'
      (then
        (if (i32.ne (call $count (i32.const 1000)) (i32.const 1000))
          (then (return (i32.const 2001))))
        (return (call $output_set (i32.const 16) (i32.const 5) (i32.const 32) (i32.const 4)))))
    (i32.const 1001))
)
