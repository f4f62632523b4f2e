;; wasi: probes the WASI sandbox and answers
;; {"allow":true,"data":[prestat_errno, environ_count, environ_bytes,
;;   args_count, path_open_errno, sock_accept_errno, realtime_ns,
;;   monotonic_ns, random_u32, fd_write_errno]}
;; and writes one line to stdout and one to stderr.
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "/etc/passwd")
  (data (i32.const 288) "probe stdout\0a")
  (data (i32.const 320) "probe stderr\0a")
  (data (i32.const 352) "{\22allow\22:true,\22data\22:[")
  (global $out (mut i32) (i32.const 1024))

  (func $byte (param $c i32)
    (i32.store8 (global.get $out) (local.get $c))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))

  ;; $num appends v in decimal, then a comma.
  (func $num (param $v i64)
    (local $start i32) (local $end i32) (local $t i32)
    (local.set $start (global.get $out))
    (loop $digits
      (call $byte (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digits (i64.ne (local.get $v) (i64.const 0))))
    (local.set $end (i32.sub (global.get $out) (i32.const 1)))
    (block $done
      (loop $rev
        (br_if $done (i32.ge_u (local.get $start) (local.get $end)))
        (local.set $t (i32.load8_u (local.get $start)))
        (i32.store8 (local.get $start) (i32.load8_u (local.get $end)))
        (i32.store8 (local.get $end) (local.get $t))
        (local.set $start (i32.add (local.get $start) (i32.const 1)))
        (local.set $end (i32.sub (local.get $end) (i32.const 1)))
        (br $rev)))
    (call $byte (i32.const 44)))

  (func $errno (param $e i32) (call $num (i64.extend_i32_u (local.get $e))))

  (func (export "hook_abi_v1"))
  (func (export "hook_handle") (param $len i32) (result i32)
    (memory.copy (i32.const 1000) (i32.const 352) (i32.const 22))
    (global.set $out (i32.const 1022))
    (call $errno (call $fd_prestat_get (i32.const 3) (i32.const 0)))
    (drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
    (call $errno (i32.load (i32.const 0)))
    (call $errno (i32.load (i32.const 4)))
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (call $errno (i32.load (i32.const 0)))
    (call $errno (call $path_open (i32.const 3) (i32.const 0) (i32.const 256) (i32.const 11)
      (i32.const 0) (i64.const -1) (i64.const 0) (i32.const 0) (i32.const 8)))
    (call $errno (call $sock_accept (i32.const 3) (i32.const 0) (i32.const 8)))
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 16)))
    (call $num (i64.load (i32.const 16)))
    (drop (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 16)))
    (call $num (i64.load (i32.const 16)))
    (drop (call $random_get (i32.const 24) (i32.const 4)))
    (call $num (i64.load32_u (i32.const 24)))
    (i32.store (i32.const 32) (i32.const 288))
    (i32.store (i32.const 36) (i32.const 13))
    (i32.store (i32.const 40) (i32.const 320))
    (i32.store (i32.const 44) (i32.const 13))
    (drop (call $fd_write (i32.const 2) (i32.const 40) (i32.const 1) (i32.const 48)))
    (call $errno (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 48)))
    ;; replace the last comma by "]}"
    (i32.store8 (i32.sub (global.get $out) (i32.const 1)) (i32.const 93))
    (call $byte (i32.const 125))
    (call $output_write (i32.const 1000) (i32.sub (global.get $out) (i32.const 1000)))
    (i32.const 0)))
