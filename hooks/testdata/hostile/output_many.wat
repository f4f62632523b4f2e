;; output_many: calls output_write a million times.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22allow\22:true}")
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (local $i i32)
    (loop $again
      (call $output_write (i32.const 0) (i32.const 14))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 1000000))))
    (i32.const 0))
)
