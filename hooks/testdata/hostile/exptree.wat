;; exptree: a loop-free call tree of 2^60 calls; only a per-call check stops it.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22allow\22:true}")
  (func (export "hook_abi_v1"))
  (func $tree (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 1))
      (else (i32.add
        (call $tree (i32.sub (local.get $n) (i32.const 1)))
        (call $tree (i32.sub (local.get $n) (i32.const 1)))))))
  (func (export "hook_handle") (param $len i32) (result i32)
    (drop (call $tree (i32.const 60)))
    (call $output_write (i32.const 0) (i32.const 14))
    (i32.const 0))
)
