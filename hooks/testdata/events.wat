;; events: allows the write and publishes two events, the second without
;; data, without reading its input.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22allow\22:true,\22events\22:[{\22type\22:\22post.flagged\22,\22data\22:{\22reason\22:\22caps\22}},{\22type\22:\22post.seen\22}]}")
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (call $output_write (i32.const 0) (i32.const 95))
    (i32.const 0)))
