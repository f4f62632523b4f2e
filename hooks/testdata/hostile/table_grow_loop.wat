;; table_grow_loop: grows its table by 50 000 entries a time, each call,
;; until refused, then traps: without a cap each call added ~128 MiB to
;; the host, outside memory_mb.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (table $t 1 externref)
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (loop $more
      (br_if $more (i32.ne (table.grow $t (ref.null extern) (i32.const 50000)) (i32.const -1))))
    unreachable)
)
