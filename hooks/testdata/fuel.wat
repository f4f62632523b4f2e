;; fuel: answers allow:true after a fixed amount of work, 201 fuel units:
;; its own entry, 100 iterations of a loop and 100 calls of $leaf.
(module
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22allow\22:true}")
  (global $sum (mut i32) (i32.const 0))
  (func (export "hook_abi_v1"))
  (func $leaf
    (global.set $sum (i32.add (global.get $sum) (i32.const 1))))
  (func (export "hook_handle") (param $len i32) (result i32)
    (local $i i32)
    (loop $again
      (call $leaf)
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 100))))
    (call $output_write (i32.const 0) (i32.const 14))
    (i32.const 0))
)
