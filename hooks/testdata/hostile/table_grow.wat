;; table_grow: grows its table by 2^32-3 entries at once, 32 GiB of host
;; memory (which took the whole server down with a fatal out-of-memory in
;; wazero; 2^32-1 would be refused by wazero's own bound), and traps when
;; the growth is refused, as the instrumentation's table cap makes it.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (if (i32.eq (table.grow $t (ref.null func) (i32.const -3)) (i32.const -1))
      (then unreachable))
    (i32.const 0))
)
