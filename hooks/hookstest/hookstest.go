// Package hookstest provides hook modules for tests and benchmarks of
// programs that run hooks.
package hookstest

import "encoding/binary"

// BusyLoop returns a hook module (ABI v1) whose hook_handle counts loops
// down to zero and then answers {"allow":true}, without reading its
// input: a hook that computes, as a slow one does, for a time in
// proportion to loops (a few tens of milliseconds per million; time a call
// to choose loops for a given duration). It is assembled here, so its
// users need no WebAssembly tool.
func BusyLoop(loops uint32) []byte {
	section := func(id byte, body ...[]byte) []byte {
		var b []byte
		for _, p := range body {
			b = append(b, p...)
		}
		return append(append([]byte{id}, binary.AppendUvarint(nil, uint64(len(b)))...), b...)
	}
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	i32 := func(v uint32) []byte { // i32.const v, as signed LEB128
		out := []byte{0x41}
		x := int64(int32(v))
		for {
			c := byte(x & 0x7f)
			x >>= 7
			if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
				return append(out, c)
			}
			out = append(out, c|0x80)
		}
	}
	allow := `{"allow":true}`
	var handle []byte
	handle = append(handle, 0x01, 0x01, 0x7f) // one i32 local: the counter
	handle = append(handle, i32(loops)...)
	handle = append(handle, 0x21, 0x01, // local.set 1
		0x02, 0x40, 0x03, 0x40, // block, loop
		0x20, 0x01, 0x45, 0x0d, 0x01, // if counter == 0: break out
		0x20, 0x01, 0x41, 0x01, 0x6b, 0x21, 0x01, // counter--
		0x0c, 0x00, 0x0b, 0x0b) // br loop; end loop; end block
	handle = append(handle, 0x41, 0x00)
	handle = append(handle, i32(uint32(len(allow)))...)
	handle = append(handle, 0x10, 0x01, 0x41, 0x00, 0x0b) // call output_write; i32.const 0; end
	code := func(body []byte) []byte { return append(binary.AppendUvarint(nil, uint64(len(body))), body...) }

	mod := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	mod = append(mod, section(1, []byte{0x04,
		0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // (i32 i32) -> i32: input_read
		0x60, 0x02, 0x7f, 0x7f, 0x00, // (i32 i32) -> (): output_write
		0x60, 0x00, 0x00, // () -> (): hook_abi_v1
		0x60, 0x01, 0x7f, 0x01, 0x7f})...) // (i32) -> i32: hook_handle
	mod = append(mod, section(2, []byte{0x02},
		name("hook"), name("input_read"), []byte{0x00, 0x00},
		name("hook"), name("output_write"), []byte{0x00, 0x01})...)
	mod = append(mod, section(3, []byte{0x02, 0x02, 0x03})...)
	mod = append(mod, section(5, []byte{0x01, 0x00, 0x01})...)
	mod = append(mod, section(7, []byte{0x03},
		name("memory"), []byte{0x02, 0x00},
		name("hook_abi_v1"), []byte{0x00, 0x02},
		name("hook_handle"), []byte{0x00, 0x03})...)
	mod = append(mod, section(10, []byte{0x02}, code([]byte{0x00, 0x0b}), code(handle))...)
	mod = append(mod, section(11, []byte{0x01, 0x00, 0x41, 0x00, 0x0b, byte(len(allow))}, []byte(allow))...)
	return mod
}
