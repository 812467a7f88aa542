;; grow: grows its linear memory one page at a time until memory.grow
;; fails (returns -1), touching the last byte of every page it gets. It
;; sets output pages to the memory size reached, in pages (decimal), and
;; output refused to what one more memory.grow of 65536 pages (4 GiB)
;; returned (-1). Then the first byte of input "end" decides:
;;
;;   r  (return, the default)  return 0: the step succeeds;
;;   t  (trap)                 unreachable: a trap after memory.grow
;;                             failed at the limit.
(module
  (import "blockhost" "input_read" (func $input_read (param i32 i32 i64 i32 i32) (result i32)))
  (import "blockhost" "output_set" (func $output_set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "end")
  (data (i32.const 8) "pages")
  (data (i32.const 16) "refused")
  ;; 64: input byte; 128..: digits

  ;; dec writes the decimal form of v (>= -1) at 128 and returns its length.
  (func $dec (param $v i32) (result i32) (local $n i32) (local $d i32)
    (if (i32.lt_s (local.get $v) (i32.const 0))
      (then (i32.store16 (i32.const 128) (i32.const 0x312d)) (return (i32.const 2)))) ;; "-1"
    ;; at most 6 digits: count them, then fill from the right
    (local.set $d (local.get $v))
    (loop $count
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (local.set $d (i32.div_u (local.get $d) (i32.const 10)))
      (br_if $count (local.get $d)))
    (local.set $d (local.get $n))
    (loop $fill
      (local.set $d (i32.sub (local.get $d) (i32.const 1)))
      (i32.store8 (i32.add (i32.const 128) (local.get $d))
        (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $fill (local.get $d)))
    (local.get $n))

  (func (export "blockhost_run_v1") (result i32) (local $refused i32)
    (drop (call $input_read (i32.const 0) (i32.const 3) (i64.const 0) (i32.const 64) (i32.const 1)))
    (block $full
      (loop $more
        (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        ;; touch the last byte of the new page
        (i32.store8 (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)) (i32.const 1))
        (br $more)))
    (local.set $refused (memory.grow (i32.const 65536)))
    (if (call $output_set (i32.const 8) (i32.const 5) (i32.const 128) (call $dec (memory.size)))
      (then (return (i32.const 2001))))
    (if (call $output_set (i32.const 16) (i32.const 7) (i32.const 128) (call $dec (local.get $refused)))
      (then (return (i32.const 2001))))
    (if (i32.eq (i32.load8_u (i32.const 64)) (i32.const 116)) ;; 't'
      (then unreachable))
    (i32.const 0))
)
