;; echo: reads the input envelope and answers {"allow":true,"data":<input envelope>}.
(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{\22allow\22:true,\22data\22:")
  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (local $need i32)
    ;; prefix, input, closing brace
    (local.set $need (i32.add (i32.const 22) (local.get $len)))
    (if (i32.gt_u (local.get $need) (i32.shl (memory.size) (i32.const 16)))
      (then (drop (memory.grow
        (i32.sub (i32.add (i32.shr_u (local.get $need) (i32.const 16)) (i32.const 1)) (memory.size))))))
    (drop (call $input_read (i32.const 21) (local.get $len)))
    (i32.store8 (i32.add (i32.const 21) (local.get $len)) (i32.const 125))
    (call $output_write (i32.const 0) (local.get $need))
    (i32.const 0)))
