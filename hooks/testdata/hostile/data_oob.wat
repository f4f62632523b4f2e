;; data_oob: a data segment that ends past the memory, so no instance can
;; be made of it.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 65530) "{\22allow\22:true}")
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (call $output_write (i32.const 0) (i32.const 14))
    (i32.const 0))
)
