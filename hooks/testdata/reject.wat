;; reject: answers allow:false with a field error.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22allow\22:false,\22errors\22:[{\22path\22:\22/title\22,\22message\22:\22title must not shout\22}],\22events\22:[{\22type\22:\22post.flagged\22,\22data\22:{\22n\22:1}}]}")
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (call $output_write (i32.const 0) (i32.const 127))
    (i32.const 0)))
