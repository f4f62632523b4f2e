;; The example hook in hand-written WebAssembly text: a title must not be
;; all caps, and the slug is derived from the title. Built with wat2wasm
;; (see ../Makefile). It imports nothing but the three hook functions.
;;
;; The input envelope is scanned byte by byte: the hook finds the top-level
;; "data" object, then its "title" member, and writes the output data by
;; copying every member but "slug" as it was in the input and appending the
;; new "slug". The C, Rust and AssemblyScript hooks follow the same steps,
;; so their outputs agree byte for byte.
;;
;; Memory layout:
;;   0 .. 1024            constant strings (below)
;;   1024 .. $end         the input envelope ($end = 1024 + input length)
;;   $end .. $out         the output being built (room: 2 * input + 64)
;; Memory grows to fit the largest input seen and is never given back, so
;; it stays flat over any number of calls.

(module
  (import "hook" "input_read" (func $input_read (param i32 i32) (result i32)))
  (import "hook" "output_write" (func $output_write (param i32 i32)))
  (import "hook" "log" (func $log (param i32 i32 i32)))

  (memory (export "memory") 1)

  ;; Constant strings: offset, length.
  (data (i32.const 0) "{\"allow\":false,\"errors\":[{\"path\":\"/title\",\"message\":\"title must not be all caps\"}]}") ;; 83
  (data (i32.const 128) "{\"allow\":true}")          ;; 14
  (data (i32.const 160) "{\"allow\":true,\"data\":") ;; 21
  (data (i32.const 192) "\"slug\":\"")              ;; 8
  (data (i32.const 208) "\"}}")                      ;; 3
  (data (i32.const 224) "checked title")             ;; 13
  (data (i32.const 256) "malformed input envelope")  ;; 24
  (data (i32.const 288) "malformed data")            ;; 14
  (data (i32.const 320) "data")                      ;; 4
  (data (i32.const 328) "title")                     ;; 5
  (data (i32.const 336) "slug")                      ;; 4

  (global $end (mut i32) (i32.const 0))  ;; end of the input
  (global $pos (mut i32) (i32.const 0))  ;; scanner position
  (global $ks (mut i32) (i32.const 0))   ;; last member's key (quotes included)
  (global $ke (mut i32) (i32.const 0))
  (global $vs (mut i32) (i32.const 0))   ;; last member's value
  (global $ve (mut i32) (i32.const 0))
  (global $cpos (mut i32) (i32.const 0)) ;; string body cursor
  (global $cend (mut i32) (i32.const 0))
  (global $out (mut i32) (i32.const 0))  ;; output write position

  ;; hook_abi_v1 marks the module as implementing hook ABI v1.
  (func (export "hook_abi_v1"))

  ;; hook_handle handles one call: 0 when output was written, 1 for a hook
  ;; error.
  (func (export "hook_handle") (param $len i32) (result i32)
    (local $need i32)
    (local $have i32)
    ;; At most 16 MiB of input, which is more than any hook may have memory.
    (if (i32.gt_u (local.get $len) (i32.const 0x1000000))
      (then (return (i32.const 1))))
    (local.set $need
      (i32.add (i32.const 1088) (i32.mul (local.get $len) (i32.const 3))))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow
                (i32.shr_u
                  (i32.add (i32.sub (local.get $need) (local.get $have)) (i32.const 0xffff))
                  (i32.const 16)))
              (i32.const -1))
          (then (return (i32.const 1))))))
    (if (i32.ne (call $input_read (i32.const 1024) (local.get $len)) (local.get $len))
      (then (return (i32.const 1))))
    (global.set $end (i32.add (i32.const 1024) (local.get $len)))
    (call $answer))

  ;; Helpers called once per byte are leaves (they call nothing), which
  ;; keeps them cheap under a host that instruments every call of a function
  ;; that calls others.

  ;; skip_ws moves past spaces, tabs, newlines and carriage returns.
  (func $skip_ws
    (local $c i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (global.get $pos) (global.get $end)))
        (local.set $c (i32.load8_u (global.get $pos)))
        (br_if $done
          (i32.eqz
            (i32.or
              (i32.or (i32.eq (local.get $c) (i32.const 0x20)) (i32.eq (local.get $c) (i32.const 0x09)))
              (i32.or (i32.eq (local.get $c) (i32.const 0x0a)) (i32.eq (local.get $c) (i32.const 0x0d))))))
        (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
        (br $next))))

  ;; skip_string moves past the string at $pos; 0 if there is none.
  (func $skip_string (result i32)
    (local $c i32)
    (if (i32.ge_u (global.get $pos) (global.get $end)) (then (return (i32.const 0))))
    (if (i32.ne (i32.load8_u (global.get $pos)) (i32.const 0x22)) (then (return (i32.const 0))))
    (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (global.get $pos) (global.get $end)))
        (local.set $c (i32.load8_u (global.get $pos)))
        (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
        (if (i32.eq (local.get $c) (i32.const 0x22)) (then (return (i32.const 1))))
        (if (i32.eq (local.get $c) (i32.const 0x5c))
          (then (global.set $pos (i32.add (global.get $pos) (i32.const 1)))))
        (br $next)))
    (i32.const 0))

  ;; skip_value moves past the value at $pos; 0 if there is none.
  (func $skip_value (result i32)
    (local $c i32)
    (local $depth i32)
    (local $start i32)
    (if (i32.ge_u (global.get $pos) (global.get $end)) (then (return (i32.const 0))))
    (local.set $c (i32.load8_u (global.get $pos)))
    (if (i32.eq (local.get $c) (i32.const 0x22)) (then (return (call $skip_string))))
    (if (i32.or (i32.eq (local.get $c) (i32.const 0x7b)) (i32.eq (local.get $c) (i32.const 0x5b)))
      (then
        (block $done
          (loop $next
            (br_if $done (i32.ge_u (global.get $pos) (global.get $end)))
            (local.set $c (i32.load8_u (global.get $pos)))
            (if (i32.eq (local.get $c) (i32.const 0x22))
              (then
                (if (i32.eqz (call $skip_string)) (then (return (i32.const 0))))
                (br $next)))
            (if (i32.or (i32.eq (local.get $c) (i32.const 0x7b)) (i32.eq (local.get $c) (i32.const 0x5b)))
              (then (local.set $depth (i32.add (local.get $depth) (i32.const 1)))))
            (if (i32.or (i32.eq (local.get $c) (i32.const 0x7d)) (i32.eq (local.get $c) (i32.const 0x5d)))
              (then (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))))
            (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
            (if (i32.eqz (local.get $depth)) (then (return (i32.const 1))))
            (br $next)))
        (return (i32.const 0))))
    ;; A number or literal: up to the next delimiter.
    (local.set $start (global.get $pos))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (global.get $pos) (global.get $end)))
        (local.set $c (i32.load8_u (global.get $pos)))
        (br_if $done (i32.eq (local.get $c) (i32.const 0x2c)))
        (br_if $done (i32.eq (local.get $c) (i32.const 0x7d)))
        (br_if $done (i32.eq (local.get $c) (i32.const 0x5d)))
        (br_if $done (i32.le_u (local.get $c) (i32.const 0x20))) ;; whitespace (or invalid)
        (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
        (br $next)))
    (i32.gt_u (global.get $pos) (local.get $start)))

  ;; begin_object enters the object at $at, after any whitespace.
  (func $begin_object (param $at i32) (result i32)
    (global.set $pos (local.get $at))
    (call $skip_ws)
    (if (i32.ge_u (global.get $pos) (global.get $end)) (then (return (i32.const 0))))
    (if (i32.ne (i32.load8_u (global.get $pos)) (i32.const 0x7b)) (then (return (i32.const 0))))
    (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
    (i32.const 1))

  ;; next_member reads the next member of the object begin_object entered
  ;; into $ks..$ve: 1 for a member, 0 at the end, -1 on malformed input.
  (func $next_member (param $first i32) (result i32)
    (call $skip_ws)
    (if (i32.ge_u (global.get $pos) (global.get $end)) (then (return (i32.const -1))))
    (if (i32.eq (i32.load8_u (global.get $pos)) (i32.const 0x7d))
      (then
        (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
        (return (i32.const 0))))
    (if (i32.eqz (local.get $first))
      (then
        (if (i32.ne (i32.load8_u (global.get $pos)) (i32.const 0x2c)) (then (return (i32.const -1))))
        (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
        (call $skip_ws)))
    (global.set $ks (global.get $pos))
    (if (i32.eqz (call $skip_string)) (then (return (i32.const -1))))
    (global.set $ke (global.get $pos))
    (call $skip_ws)
    (if (i32.ge_u (global.get $pos) (global.get $end)) (then (return (i32.const -1))))
    (if (i32.ne (i32.load8_u (global.get $pos)) (i32.const 0x3a)) (then (return (i32.const -1))))
    (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
    (call $skip_ws)
    (global.set $vs (global.get $pos))
    (if (i32.eqz (call $skip_value)) (then (return (i32.const -1))))
    (global.set $ve (global.get $pos))
    (i32.const 1))

  ;; chars sets the cursor on the body of the string at $s..$e (quotes
  ;; included).
  (func $chars (param $s i32) (param $e i32)
    (global.set $cpos (i32.add (local.get $s) (i32.const 1)))
    (global.set $cend (i32.sub (local.get $e) (i32.const 1))))

  ;; next_char decodes the next character at the cursor, lossily: escapes
  ;; of ASCII decode to their byte, escapes of anything else to 0x80, raw
  ;; bytes come as they are. Every byte >= 0x80 is a non-letter here.
  (func $next_char (result i32)
    (local $c i32)
    (local $cp i32)
    (local $k i32)
    (local $h i32)
    (local.set $c (i32.load8_u (global.get $cpos)))
    (global.set $cpos (i32.add (global.get $cpos) (i32.const 1)))
    (if (i32.ne (local.get $c) (i32.const 0x5c)) (then (return (local.get $c))))
    (if (i32.ge_u (global.get $cpos) (global.get $cend)) (then (return (local.get $c))))
    (local.set $c (i32.load8_u (global.get $cpos)))
    (global.set $cpos (i32.add (global.get $cpos) (i32.const 1)))
    (if (i32.eq (local.get $c) (i32.const 0x62)) (then (return (i32.const 0x08)))) ;; \b
    (if (i32.eq (local.get $c) (i32.const 0x66)) (then (return (i32.const 0x0c)))) ;; \f
    (if (i32.eq (local.get $c) (i32.const 0x6e)) (then (return (i32.const 0x0a)))) ;; \n
    (if (i32.eq (local.get $c) (i32.const 0x72)) (then (return (i32.const 0x0d)))) ;; \r
    (if (i32.eq (local.get $c) (i32.const 0x74)) (then (return (i32.const 0x09)))) ;; \t
    (if (i32.ne (local.get $c) (i32.const 0x75)) (then (return (local.get $c))))   ;; \" \\ \/
    ;; \uXXXX
    (block $done
      (loop $digit
        (br_if $done (i32.eq (local.get $k) (i32.const 4)))
        (if (i32.ge_u (global.get $cpos) (global.get $cend)) (then (return (i32.const 0x80))))
        ;; the digit's value, or 0x80 for a non-digit
        (local.set $h (i32.load8_u (global.get $cpos)))
        (local.set $h
          (if (result i32) (i32.and (i32.ge_u (local.get $h) (i32.const 0x30)) (i32.le_u (local.get $h) (i32.const 0x39)))
            (then (i32.sub (local.get $h) (i32.const 0x30)))
            (else
              (local.set $h (i32.or (local.get $h) (i32.const 0x20))) ;; lowercase
              (if (result i32) (i32.and (i32.ge_u (local.get $h) (i32.const 0x61)) (i32.le_u (local.get $h) (i32.const 0x66)))
                (then (i32.sub (local.get $h) (i32.const 0x57)))
                (else (return (i32.const 0x80)))))))
        (local.set $cp (i32.or (i32.shl (local.get $cp) (i32.const 4)) (local.get $h)))
        (global.set $cpos (i32.add (global.get $cpos) (i32.const 1)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $digit)))
    (select (local.get $cp) (i32.const 0x80) (i32.lt_u (local.get $cp) (i32.const 0x80))))

  ;; key_is reports whether the last member's key decodes to the $n bytes
  ;; at $lit.
  (func $key_is (param $lit i32) (param $n i32) (result i32)
    (local $j i32)
    (call $chars (global.get $ks) (global.get $ke))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (global.get $cpos) (global.get $cend)))
        (if (i32.ge_u (local.get $j) (local.get $n)) (then (return (i32.const 0))))
        (if (i32.ne (call $next_char) (i32.load8_u (i32.add (local.get $lit) (local.get $j))))
          (then (return (i32.const 0))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next)))
    (i32.eq (local.get $j) (local.get $n)))

  (func $put (param $src i32) (param $n i32)
    (memory.copy (global.get $out) (local.get $src) (local.get $n))
    (global.set $out (i32.add (global.get $out) (local.get $n))))

  (func $put_byte (param $c i32)
    (i32.store8 (global.get $out) (local.get $c))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))

  (func $last_is_dash (param $slug i32) (result i32)
    (if (i32.le_u (global.get $out) (local.get $slug)) (then (return (i32.const 0))))
    (i32.eq (i32.load8_u (i32.sub (global.get $out) (i32.const 1))) (i32.const 0x2d)))

  (func $answer (result i32)
    (local $r i32)
    (local $first i32)
    (local $has_data i32)
    (local $ds i32)
    (local $de i32)
    (local $has_title i32)
    (local $ts i32)
    (local $te i32)
    (local $upper i32)
    (local $lower i32)
    (local $members i32)
    (local $slug i32)
    (local $c i32)

    ;; The top-level "data" member.
    (if (i32.eqz (call $begin_object (i32.const 1024)))
      (then (return (call $fail (i32.const 256) (i32.const 24)))))
    (local.set $first (i32.const 1))
    (block $done
      (loop $next
        (local.set $r (call $next_member (local.get $first)))
        (br_if $done (i32.ne (local.get $r) (i32.const 1)))
        (local.set $first (i32.const 0))
        (if (call $key_is (i32.const 320) (i32.const 4))
          (then
            (local.set $has_data (i32.const 1))
            (local.set $ds (global.get $vs))
            (local.set $de (global.get $ve))))
        (br $next)))
    (if (i32.lt_s (local.get $r) (i32.const 0))
      (then (return (call $fail (i32.const 256) (i32.const 24)))))

    (call $log (i32.const 1) (i32.const 224) (i32.const 13))

    (if (i32.eqz (local.get $has_data))
      (then
        (call $output_write (i32.const 128) (i32.const 14))
        (return (i32.const 0))))
    (if (i32.ne (i32.load8_u (local.get $ds)) (i32.const 0x7b))
      (then
        (call $output_write (i32.const 128) (i32.const 14))
        (return (i32.const 0))))

    ;; The title: the last one, as JSON decoders do.
    (drop (call $begin_object (local.get $ds)))
    (local.set $first (i32.const 1))
    (block $done
      (loop $next
        (local.set $r (call $next_member (local.get $first)))
        (br_if $done (i32.ne (local.get $r) (i32.const 1)))
        (local.set $first (i32.const 0))
        (if (call $key_is (i32.const 328) (i32.const 5))
          (then
            (local.set $has_title (i32.const 1))
            (local.set $ts (global.get $vs))
            (local.set $te (global.get $ve))))
        (br $next)))
    (if (i32.lt_s (local.get $r) (i32.const 0))
      (then (return (call $fail (i32.const 288) (i32.const 14)))))

    (global.set $out (global.get $end))

    ;; No string title: the data as it was.
    (if (i32.eqz (local.get $has_title))
      (then (return (call $unchanged (local.get $ds) (local.get $de)))))
    (if (i32.ne (i32.load8_u (local.get $ts)) (i32.const 0x22))
      (then (return (call $unchanged (local.get $ds) (local.get $de)))))

    ;; Shouting: an ASCII letter and no lowercase one.
    (call $chars (local.get $ts) (local.get $te))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (global.get $cpos) (global.get $cend)))
        (local.set $c (call $next_char))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 0x41)) (i32.le_u (local.get $c) (i32.const 0x5a)))
          (then (local.set $upper (i32.const 1))))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 0x61)) (i32.le_u (local.get $c) (i32.const 0x7a)))
          (then (local.set $lower (i32.const 1))))
        (br $next)))
    (if (i32.and (local.get $upper) (i32.eqz (local.get $lower)))
      (then
        (call $output_write (i32.const 0) (i32.const 83))
        (return (i32.const 0))))

    ;; The data members but "slug", as they were, then the new slug.
    (call $put (i32.const 160) (i32.const 21))
    (call $put_byte (i32.const 0x7b))
    (drop (call $begin_object (local.get $ds)))
    (local.set $first (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.ne (call $next_member (local.get $first)) (i32.const 1)))
        (local.set $first (i32.const 0))
        (br_if $next (call $key_is (i32.const 336) (i32.const 4)))
        (if (local.get $members) (then (call $put_byte (i32.const 0x2c))))
        (local.set $members (i32.add (local.get $members) (i32.const 1)))
        (call $put (global.get $ks) (i32.sub (global.get $ve) (global.get $ks)))
        (br $next)))
    (if (local.get $members) (then (call $put_byte (i32.const 0x2c))))
    (call $put (i32.const 192) (i32.const 8))
    (local.set $slug (global.get $out))
    (call $chars (local.get $ts) (local.get $te))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (global.get $cpos) (global.get $cend)))
        (local.set $c (call $next_char))
        (if (i32.and (i32.ge_u (local.get $c) (i32.const 0x41)) (i32.le_u (local.get $c) (i32.const 0x5a)))
          (then (local.set $c (i32.add (local.get $c) (i32.const 0x20)))))
        (if (i32.or
              (i32.and (i32.ge_u (local.get $c) (i32.const 0x61)) (i32.le_u (local.get $c) (i32.const 0x7a)))
              (i32.and (i32.ge_u (local.get $c) (i32.const 0x30)) (i32.le_u (local.get $c) (i32.const 0x39))))
          (then (call $put_byte (local.get $c)))
          (else
            (if (i32.and
                  (i32.gt_u (global.get $out) (local.get $slug))
                  (i32.eqz (call $last_is_dash (local.get $slug))))
              (then (call $put_byte (i32.const 0x2d))))))
        (br $next)))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (call $last_is_dash (local.get $slug))))
        (global.set $out (i32.sub (global.get $out) (i32.const 1)))
        (br $next)))
    (call $put (i32.const 208) (i32.const 3))
    (call $output_write (global.get $end) (i32.sub (global.get $out) (global.get $end)))
    (i32.const 0))

  ;; unchanged answers allow with the data at $ds..$de as it was.
  (func $unchanged (param $ds i32) (param $de i32) (result i32)
    (call $put (i32.const 160) (i32.const 21))
    (call $put (local.get $ds) (i32.sub (local.get $de) (local.get $ds)))
    (call $put_byte (i32.const 0x7d))
    (call $output_write (global.get $end) (i32.sub (global.get $out) (global.get $end)))
    (i32.const 0))

  ;; fail logs the $n-byte message at $msg as an error: a hook error.
  (func $fail (param $msg i32) (param $n i32) (result i32)
    (call $log (i32.const 3) (local.get $msg) (local.get $n))
    (i32.const 1))
)
