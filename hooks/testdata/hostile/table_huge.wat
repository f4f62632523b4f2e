;; table_huge: a 100-byte module declaring a table of 100 million entries,
;; ~1 GiB of host memory per instance, outside memory_mb. Refused at upload.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (table 100000000 funcref)
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32) (i32.const 0))
)
