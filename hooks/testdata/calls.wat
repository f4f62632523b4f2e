;; calls: reads its input and, for each byte, calls $visit, which calls the
;; leaf $add: a call-heavy guest (one guarded and one leaf call per byte,
;; about 250 each), to measure the cost of the call guard. Answers allow:true.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22allow\22:true}")
  (global $sum (mut i32) (i32.const 0))
  (func (export "hook_abi_v1"))
  (func $add (param $c i32)
    (global.set $sum (i32.add (global.get $sum) (local.get $c))))
  (func $visit (param $c i32)
    (call $add (local.get $c)))
  (func (export "hook_handle") (param $len i32) (result i32)
    (local $i i32)
    (if (i32.gt_u (i32.add (local.get $len) (i32.const 64)) (i32.shl (memory.size) (i32.const 16)))
      (then (drop (memory.grow (i32.add (i32.shr_u (local.get $len) (i32.const 16)) (i32.const 1))))))
    (drop (call $input_read (i32.const 64) (local.get $len)))
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (call $visit (i32.load8_u (i32.add (i32.const 64) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $bytes)))
    (call $output_write (i32.const 0) (i32.const 14))
    (i32.const 0)))
