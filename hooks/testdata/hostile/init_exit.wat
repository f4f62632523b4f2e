;; init_exit: _initialize calls WASI proc_exit(0), so no call can run.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22allow\22:true}")
  (func (export "hook_abi_v1"))
  (func $init (call $proc_exit (i32.const 0)))
  (func (export "_initialize") (call $init))
  (func (export "hook_handle") (param $len i32) (result i32)
    (call $output_write (i32.const 0) (i32.const 14))
    (i32.const 0))
)
