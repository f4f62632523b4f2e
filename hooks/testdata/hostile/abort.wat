;; abort: calls env.abort as AssemblyScript does.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "\04\00\00\00b\00d\00")
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (call $abort (i32.const 68) (i32.const 0) (i32.const 7) (i32.const 3))
    (i32.const 0))
)
