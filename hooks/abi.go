package hooks

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf16"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/strata-dev/strata/hooks/internal/wasmbin"
)

// Names of ABI v1.
const (
	hostModule    = "hook"        // the host functions of ABI v1
	envModule     = "env"         // env.abort, for AssemblyScript
	exportMemory  = "memory"      // the guest's linear memory
	exportMarker  = "hook_abi_v1" // presence marks ABI v1
	exportHandle  = "hook_handle" // (i32) -> i32
	exportInit    = "_initialize" // () -> (), optional, once per instance
	wasiModule    = wasi_snapshot_preview1.ModuleName
	wasmPageBytes = 1 << 16
)

const i32 = api.ValueTypeI32

// signature is a function type.
type signature struct {
	params, results []api.ValueType
}

func (s signature) matches(def api.FunctionDefinition) bool {
	return slices.Equal(s.params, def.ParamTypes()) && slices.Equal(s.results, def.ResultTypes())
}

func (s signature) String() string { return formatSignature(s.params, s.results) }

func formatSignature(params, results []api.ValueType) string {
	var b bytes.Buffer
	b.WriteByte('(')
	for i, p := range params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(api.ValueTypeName(p))
	}
	b.WriteString(") -> (")
	for i, r := range results {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(api.ValueTypeName(r))
	}
	b.WriteByte(')')
	return b.String()
}

// Signatures of ABI v1.
var (
	hostImports = map[string]signature{
		"input_read":   {[]api.ValueType{i32, i32}, []api.ValueType{i32}},
		"output_write": {[]api.ValueType{i32, i32}, nil},
		"log":          {[]api.ValueType{i32, i32, i32}, nil},
	}
	envImports = map[string]signature{
		"abort": {[]api.ValueType{i32, i32, i32, i32}, nil},
	}
	handleSignature = signature{[]api.ValueType{i32}, []api.ValueType{i32}}
	initSignature   = signature{}
)

// instantiateHostModules adds the hook and env modules to wz.
func instantiateHostModules(ctx context.Context, wz wazero.Runtime) error {
	_, err := wz.NewHostModuleBuilder(hostModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostInputRead), hostImports["input_read"].params, hostImports["input_read"].results).
		WithParameterNames("ptr", "len").Export("input_read").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostOutputWrite), hostImports["output_write"].params, nil).
		WithParameterNames("ptr", "len").Export("output_write").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostLog), hostImports["log"].params, nil).
		WithParameterNames("level", "ptr", "len").Export("log").
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiate host module %s: %w", hostModule, err)
	}
	_, err = wz.NewHostModuleBuilder(envModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostAbort), envImports["abort"].params, nil).
		WithParameterNames("message", "file", "line", "column").Export("abort").
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiate host module %s: %w", envModule, err)
	}
	return nil
}

// guestRange checks that [ptr, ptr+n) lies in the caller's memory and
// fails the call with ReasonABI if it does not.
func guestRange(cs *callState, mod api.Module, fn string, ptr, n uint32) api.Memory {
	mem := mod.Memory()
	var size uint64
	if mem != nil {
		size = uint64(mem.Size())
	}
	if uint64(ptr)+uint64(n) > size {
		cs.fail(ReasonABI, fmt.Errorf("%s: bytes [%d, %d) are outside the guest's %d bytes of memory",
			fn, ptr, uint64(ptr)+uint64(n), size))
	}
	return mem
}

// hostInputRead is hook.input_read(ptr, len) -> copied: it copies the
// next min(len, unread) bytes of the input envelope to ptr.
func hostInputRead(ctx context.Context, mod api.Module, stack []uint64) {
	cs := callFrom(ctx)
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	mem := guestRange(cs, mod, "input_read", ptr, n)
	rest := cs.input[cs.inputOff:]
	k := min(uint64(len(rest)), uint64(n))
	mem.Write(ptr, rest[:k])
	cs.inputOff += int(k)
	stack[0] = api.EncodeU32(uint32(k))
}

// hostOutputWrite is hook.output_write(ptr, len): the output envelope,
// written once per call.
func hostOutputWrite(ctx context.Context, mod api.Module, stack []uint64) {
	cs := callFrom(ctx)
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	if n > MaxOutputBytes {
		cs.fail(ReasonOutput, fmt.Errorf("output_write of %d bytes is over the %d-byte limit", n, MaxOutputBytes))
	}
	if cs.wrote {
		cs.fail(ReasonOutput, errors.New("output_write called more than once"))
	}
	mem := guestRange(cs, mod, "output_write", ptr, n)
	buf, _ := mem.Read(ptr, n)
	cs.output = bytes.Clone(buf)
	if cs.output == nil {
		cs.output = []byte{}
	}
	cs.wrote = true
}

// hostLog is hook.log(level, ptr, len).
func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	cs := callFrom(ctx)
	level, ptr, n := int32(api.DecodeI32(stack[0])), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	mem := guestRange(cs, mod, "log", ptr, n)
	buf, _ := mem.Read(ptr, n)
	cs.logs.add(int(level), buf)
}

// hostAbort is env.abort(message, file, line, column), as AssemblyScript
// emits it: the call fails with ReasonTrap.
func hostAbort(ctx context.Context, mod api.Module, stack []uint64) {
	cs := callFrom(ctx)
	msg := readASString(mod.Memory(), api.DecodeU32(stack[0]))
	file := readASString(mod.Memory(), api.DecodeU32(stack[1]))
	cs.fail(ReasonTrap, fmt.Errorf("env.abort called: %q at %s:%d:%d",
		msg, file, api.DecodeU32(stack[2]), api.DecodeU32(stack[3])))
}

// readASString decodes an AssemblyScript string (UTF-16LE, its byte
// length in the 4 bytes before ptr), at most 256 code units, or "" when
// the memory does not hold one.
func readASString(mem api.Memory, ptr uint32) string {
	if mem == nil || ptr < 4 {
		return ""
	}
	n, ok := mem.ReadUint32Le(ptr - 4)
	if !ok {
		return ""
	}
	n = min(n, 512) &^ 1
	b, ok := mem.Read(ptr, n)
	if !ok {
		return ""
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// moduleShape is what checkModule learns about a module.
type moduleShape struct {
	minPages uint32 // declared minimum of the exported memory
}

// checkModule checks a compiled module (instrumented from wasm) against
// ABI v1. wasiDefs are the
// functions of wasi_snapshot_preview1; maxPages is the largest memory a
// hook may have. The error says, for people, what is wrong.
func checkModule(cm wazero.CompiledModule, wasm []byte, wasiDefs map[string]api.FunctionDefinition, maxPages uint32) (moduleShape, error) {
	imports, err := parseImports(wasm)
	if err != nil {
		return moduleShape{}, err
	}
	for _, im := range imports {
		if im.kind != importFunc {
			return moduleShape{}, fmt.Errorf("imports %s %s.%s; a hook may import only functions (and must define its own memory)",
				importKindNames[im.kind], im.module, im.name)
		}
	}
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		if mod == wasmbin.HostModule {
			continue // added by the instrumentation, refused in the original
		}
		var want signature
		var known bool
		switch mod {
		case hostModule:
			want, known = hostImports[name]
		case envModule:
			want, known = envImports[name]
		case wasiModule:
			var d api.FunctionDefinition
			if d, known = wasiDefs[name]; known {
				want = signature{d.ParamTypes(), d.ResultTypes()}
			}
		}
		if !known {
			return moduleShape{}, fmt.Errorf("imports %s.%s, which is not allowed (allowed: hook.input_read, hook.output_write, hook.log, wasi_snapshot_preview1.*, env.abort)", mod, name)
		}
		if !want.matches(def) {
			return moduleShape{}, fmt.Errorf("imports %s.%s as %s, want %s",
				mod, name, formatSignature(def.ParamTypes(), def.ResultTypes()), want)
		}
	}
	mem, ok := cm.ExportedMemories()[exportMemory]
	if !ok {
		return moduleShape{}, fmt.Errorf("does not export its memory as %q", exportMemory)
	}
	if mem.Min() > maxPages {
		return moduleShape{}, fmt.Errorf("declares a minimum memory of %d pages (%d MiB), over the %d MiB a hook may have",
			mem.Min(), mem.Min()/16, maxPages/16)
	}
	if max, has := mem.Max(); has && max < mem.Min() {
		return moduleShape{}, fmt.Errorf("declares a memory minimum (%d pages) above its maximum (%d pages)", mem.Min(), max)
	}
	funcs := cm.ExportedFunctions()
	if _, ok := funcs[exportMarker]; !ok {
		return moduleShape{}, fmt.Errorf("does not export %s (the ABI version marker)", exportMarker)
	}
	h, ok := funcs[exportHandle]
	if !ok {
		return moduleShape{}, fmt.Errorf("does not export %s", exportHandle)
	}
	if !handleSignature.matches(h) {
		return moduleShape{}, fmt.Errorf("exports %s as %s, want %s",
			exportHandle, formatSignature(h.ParamTypes(), h.ResultTypes()), handleSignature)
	}
	if in, ok := funcs[exportInit]; ok && !initSignature.matches(in) {
		return moduleShape{}, fmt.Errorf("exports %s as %s, want %s",
			exportInit, formatSignature(in.ParamTypes(), in.ResultTypes()), initSignature)
	}
	return moduleShape{minPages: mem.Min()}, nil
}

// Kinds of imports in the binary format.
const (
	importFunc   = 0
	importTable  = 1
	importMemory = 2
	importGlobal = 3
	importTag    = 4
)

var importKindNames = map[byte]string{
	importFunc: "function", importTable: "table", importMemory: "memory", importGlobal: "global", importTag: "tag",
}

// wasmImport is one entry of a module's import section.
type wasmImport struct {
	module, name string
	kind         byte
}

var errMalformed = errors.New("malformed import section")

// sections calls fn with the id and content of each section of a module,
// until fn returns false.
func sections(b []byte, fn func(id byte, content []byte) bool) error {
	if len(b) < 8 {
		return errMalformed
	}
	r := wasmReader{b: b[8:]}
	for len(r.b) > 0 {
		id := r.byte()
		size := r.u32()
		if r.err != nil || uint64(size) > uint64(len(r.b)) {
			return errMalformed
		}
		content := r.b[:size]
		r.b = r.b[size:]
		if !fn(id, content) {
			return nil
		}
	}
	return nil
}

// Section ids of the binary format.
const (
	sectionImport = 2
)

// parseImports reads the import section of a module.
func parseImports(b []byte) ([]wasmImport, error) {
	var out []wasmImport
	var err error
	serr := sections(b, func(id byte, content []byte) bool {
		if id != sectionImport {
			return true
		}
		sec := wasmReader{b: content}
		n := sec.u32()
		for i := uint32(0); i < n && sec.err == nil; i++ {
			im := wasmImport{module: sec.name(), name: sec.name(), kind: sec.byte()}
			switch im.kind {
			case importFunc:
				sec.u32()
			case importTable:
				sec.byte()
				sec.limits()
			case importMemory:
				sec.limits()
			case importGlobal:
				sec.byte()
				sec.byte()
			case importTag:
				sec.byte()
				sec.u32()
			default:
				sec.err = errMalformed
			}
			out = append(out, im)
		}
		err = sec.err
		return false
	})
	if serr != nil {
		return nil, serr
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// wasmReader reads the binary format; the first error sticks.
type wasmReader struct {
	b   []byte
	err error
}

func (r *wasmReader) byte() byte {
	if len(r.b) == 0 {
		r.err = errMalformed
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errMalformed
	return 0
}

func (r *wasmReader) name() string {
	n := r.u32()
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.err = errMalformed
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *wasmReader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}
