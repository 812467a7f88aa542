;; initloop: a block whose _initialize never returns (an endless loop that
;; calls nothing). Its entry point would return 0. A host must refuse it
;; at load, when it warms an instance, or fail each step that needs a new
;; instance at the step's deadline, and never hang.
(module
  (memory (export "memory") 1)
  (global $spins (mut i64) (i64.const 0))
  (func (export "_initialize")
    (loop $forever
      (global.set $spins (i64.add (global.get $spins) (i64.const 1)))
      (br $forever)))
  (func (export "blockhost_run_v1") (result i32) (i32.const 0))
)
