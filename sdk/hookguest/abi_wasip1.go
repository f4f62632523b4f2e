//go:build wasip1

package hookguest

import (
	"runtime"
	"unsafe"
)

// The host functions of ABI v1, imported from module "hook".

//go:wasmimport hook input_read
func inputRead(ptr unsafe.Pointer, n int32) int32

//go:wasmimport hook output_write
func outputWrite(ptr unsafe.Pointer, n int32)

//go:wasmimport hook log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

// handler is the function registered with Handle. It is set during package
// initialization of the hook, before the host can make any call, and only
// read after that; a module instance is single-threaded.
var handler HandlerFunc

// Handle registers h as the module's hook. Call it once, from an init
// function of the hook's main package (see the package documentation for
// why). A later call replaces the handler. A module with no handler answers
// every call with a hook error.
func Handle(h HandlerFunc) {
	handler = h
}

// Per-instance state, touched only from hookHandle; an instance runs one
// call at a time.
var (
	input  []byte // reused input buffer
	output []byte // reused output buffer
	calls  int    // calls since the last forced collection
	read   int    // input bytes read since then
)

// hookABIv1 marks the module as implementing ABI v1; the host only checks
// that it is exported.
//
//lint:ignore U1000 called by the host through go:wasmexport
//go:wasmexport hook_abi_v1
func hookABIv1() {}

// hookHandle is the ABI's entry point: read inputLen bytes of input
// envelope, run the handler, hand the output to the host. It returns 0 when
// output was written and 1 for a hook error (logged at LevelError).
//
//lint:ignore U1000 called by the host through go:wasmexport
//go:wasmexport hook_handle
func hookHandle(inputLen int32) int32 {
	defer collect(inputLen)
	if inputLen < 0 {
		Log(LevelError, "hookguest: negative input length")
		return 1
	}
	if cap(input) < int(inputLen) {
		input = make([]byte, inputLen)
	}
	input = input[:inputLen]
	if n := inputRead(unsafe.Pointer(unsafe.SliceData(input)), inputLen); n != inputLen {
		Log(LevelError, "hookguest: short input read")
		return 1
	}
	out, err := run(output, handler, input)
	if err != nil {
		Log(LevelError, err.Error())
		return 1
	}
	output = out
	outputWrite(unsafe.Pointer(unsafe.SliceData(out)), int32(len(out)))
	return 0
}

// collect forces a garbage collection every GCInterval calls, or sooner
// once GCInputBytes of input have been handled: the garbage a call leaves
// grows with its input. Left alone, the runtime lets the heap grow to its
// minimum goal (4 MiB) and more before collecting, which is a large share
// of a hook's memory limit.
func collect(n int32) {
	calls++
	read += int(max(n, 0))
	if calls >= GCInterval || read >= GCInputBytes {
		calls, read = 0, 0
		runtime.GC()
	}
}

// Log sends msg to the host's log at the given level. The host may truncate
// long messages. Call it only from within a handler.
func Log(level Level, msg string) {
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}
