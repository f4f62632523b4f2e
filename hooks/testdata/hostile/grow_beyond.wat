;; grow_beyond: asks for 1000 more pages (62.5 MiB) and traps when refused.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22allow\22:true}")
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1)) (then unreachable))
    (call $output_write (i32.const 0) (i32.const 14))
    (i32.const 0))
)
