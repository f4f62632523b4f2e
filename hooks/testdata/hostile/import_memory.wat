;; import_memory: imports its memory instead of defining it.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (import "env" "memory" (memory 1))
  (export "memory" (memory 0))
  (data (i32.const 0) "{\22allow\22:true}")
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (call $output_write (i32.const 0) (i32.const 14))
    (i32.const 0))
)
