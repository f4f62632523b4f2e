// Package wasmbin checks and instruments WebAssembly modules for the hook
// sandbox. It decodes the binary format of WebAssembly 2.0 as wazero
// enables it by default (MVP, multi-value, bulk memory, reference types,
// non-trapping float-to-int, sign extension, SIMD) and refuses everything
// else (exceptions, tail calls, threads, GC, multiple memories) by name.
//
// Scan is the structural pre-scan: a single linear pass that refuses
// modules over Limits before anything costlier (compilation) sees them.
// Instrument rewrites a module so that its host can interrupt it, meter it
// and bound its call depth and table growth without any callback from the
// runtime: see Instrument. Neither validates a module fully; wazero does,
// when it compiles the result.
package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
)

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// order is the rank of each known section id in a module.
var order = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secGlobal: 6,
	secExport: 7, secStart: 8, secElement: 9, secDataCount: 10, secCode: 11, secData: 12,
}

// Limits bound the structure of a module, checked by Scan. A zero field
// means no limit.
type Limits struct {
	// MaxFunctions bounds the functions, imported and defined.
	MaxFunctions uint32
	// MaxFunctionBytes bounds the size of one function body.
	MaxFunctionBytes uint32
	// MaxNesting bounds how deep blocks, loops and ifs nest in a body.
	MaxNesting uint32
	// MaxBrTableTargets bounds the targets of one br_table.
	MaxBrTableTargets uint32
	// MaxLocals bounds the locals a function declares (parameters
	// excluded).
	MaxLocals uint32
	// MaxTables bounds the tables, imported and defined.
	MaxTables uint32
	// MaxTableEntries bounds the entries of all tables together: the sum
	// of their declared minimum sizes and, in an instrumented module, of
	// their sizes after any table.grow.
	MaxTableEntries uint32
	// MaxGlobals bounds the globals, imported and defined.
	MaxGlobals uint32
	// MaxElementSegments bounds the element segments.
	MaxElementSegments uint32
	// MaxElementEntries bounds the entries of all element segments
	// together (each instance holds a reference per entry).
	MaxElementEntries uint32
	// MaxDataSegments bounds the data segments.
	MaxDataSegments uint32
	// MaxTypes bounds the function types.
	MaxTypes uint32
	// MaxExports bounds the exports.
	MaxExports uint32
}

// LimitError is a module over one of its Limits.
type LimitError struct {
	// Limit names the limit, such as "max_nesting".
	Limit string
	// Max is the limit and Got what the module has.
	Max, Got uint64
	// What says what was counted.
	What string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%d %s, over the limit %s of %d", e.Got, e.What, e.Limit, e.Max)
}

// ErrMalformed is wrapped by the errors of binaries that cannot be decoded.
var ErrMalformed = errors.New("wasmbin: malformed module")

// section is one section of a module.
type section struct {
	id      byte
	content []byte
}

// funcType is a function type.
type funcType struct {
	params, results []byte
}

// module is what the rewriter knows of a module.
type module struct {
	sections []section
	types    []funcType

	importedFuncs   uint32
	importedGlobals uint32
	importedTables  []byte // element types of imported tables
	funcTypes       []uint32
	tables          []byte // element types of defined tables
	tableEntries    uint64 // declared minimum sizes of all tables
	definedGlobals  uint32
	exportNames     map[string]bool
	bodies          [][]byte // code entries (locals and expression)

	// Per defined function, from Scan.
	calls []bool // calls a function (call or call_indirect)
	grown []bool // by table: grown by table.grow somewhere
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// decode splits b into sections and reads those the rewriter needs,
// checking the limits that section headers alone reveal.
func decode(b []byte, lim *Limits) (*module, error) {
	if len(b) < 8 || !bytes.Equal(b[:4], []byte("\x00asm")) {
		return nil, malformed("not a WebAssembly binary")
	}
	if !bytes.Equal(b[4:8], []byte{1, 0, 0, 0}) {
		return nil, malformed("binary format version %x is not 1", b[4:8])
	}
	m := &module{exportNames: map[string]bool{}}
	r := &reader{b: b, pos: 8}
	last := 0
	for !r.done() {
		id := r.byte()
		content := r.name()
		if r.err != nil {
			return nil, malformed("section header: %v", r.err)
		}
		if id != secCustom {
			rank, ok := order[id]
			if !ok {
				return nil, malformed("unknown section id %d", id)
			}
			if rank <= last {
				return nil, malformed("section %d out of order or repeated", id)
			}
			last = rank
		}
		m.sections = append(m.sections, section{id, content})
	}
	for _, s := range m.sections {
		if err := m.read(s, lim); err != nil {
			return nil, err
		}
	}
	if len(m.funcTypes) != len(m.bodies) {
		return nil, malformed("%d functions declared, %d bodies", len(m.funcTypes), len(m.bodies))
	}
	return m, nil
}

// over returns a *LimitError if got is over max (0: no limit).
func over(limit string, max uint32, got uint64, what string) error {
	if max > 0 && got > uint64(max) {
		return &LimitError{Limit: limit, Max: uint64(max), Got: got, What: what}
	}
	return nil
}

// read reads one section.
func (m *module) read(s section, lim *Limits) error {
	r := &reader{b: s.content}
	var err error
	switch s.id {
	case secType:
		n := r.u32()
		if err = over("max_types", lim.MaxTypes, uint64(n), "function types"); err != nil {
			return err
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			if form := r.byte(); form != 0x60 && r.err == nil {
				return malformed("type %d is not a function type (form 0x%02x)", i, form)
			}
			var t funcType
			t.params = r.name()
			t.results = r.name()
			m.types = append(m.types, t)
		}
	case secImport:
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			mod := r.name()
			r.name()
			if string(mod) == HostModule {
				return fmt.Errorf("imports from %q, which is reserved", HostModule)
			}
			switch kind := r.byte(); kind {
			case 0:
				r.u32()
				m.importedFuncs++
			case 1:
				t := r.byte()
				m.tableEntries += uint64(readLimits(r))
				m.importedTables = append(m.importedTables, t)
			case 2:
				readLimits(r)
			case 3:
				r.byte()
				r.byte()
				m.importedGlobals++
			default:
				if r.err == nil {
					return malformed("import %d of kind %d", i, kind)
				}
			}
		}
	case secFunction:
		n := r.u32()
		if err = over("max_functions", lim.MaxFunctions, uint64(n)+uint64(m.importedFuncs), "functions"); err != nil {
			return err
		}
		if uint64(n) > uint64(len(r.b)) {
			return malformed("%d functions in %d bytes", n, len(r.b))
		}
		m.funcTypes = make([]uint32, 0, n)
		for i := uint32(0); i < n && r.err == nil; i++ {
			m.funcTypes = append(m.funcTypes, r.u32())
		}
	case secTable:
		n := r.u32()
		if err = over("max_tables", lim.MaxTables, uint64(n)+uint64(len(m.importedTables)), "tables"); err != nil {
			return err
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			t := r.byte()
			m.tableEntries += uint64(readLimits(r))
			if lim.MaxTableEntries > 0 && m.tableEntries > uint64(lim.MaxTableEntries) && r.err == nil {
				return over("max_table_entries", lim.MaxTableEntries, m.tableEntries, "table entries declared")
			}
			m.tables = append(m.tables, t)
		}
	case secMemory:
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			readLimits(r)
		}
	case secGlobal:
		n := r.u32()
		m.definedGlobals = n
		if err = over("max_globals", lim.MaxGlobals, uint64(n)+uint64(m.importedGlobals), "globals"); err != nil {
			return err
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.byte()
			r.byte()
			skipConstExpr(r)
		}
	case secExport:
		n := r.u32()
		if err = over("max_exports", lim.MaxExports, uint64(n), "exports"); err != nil {
			return err
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			m.exportNames[string(r.name())] = true
			r.byte()
			r.u32()
		}
	case secElement:
		n := r.u32()
		if err = over("max_element_segments", lim.MaxElementSegments, uint64(n), "element segments"); err != nil {
			return err
		}
		var entries uint64
		for i := uint32(0); i < n && r.err == nil; i++ {
			entries += uint64(skipElement(r))
			if lim.MaxElementEntries > 0 && entries > uint64(lim.MaxElementEntries) && r.err == nil {
				return over("max_element_entries", lim.MaxElementEntries, entries, "element segment entries")
			}
		}
	case secData:
		n := r.u32()
		if err = over("max_data_segments", lim.MaxDataSegments, uint64(n), "data segments"); err != nil {
			return err
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			switch flags := r.u32(); flags {
			case 0:
				skipConstExpr(r)
			case 1:
			case 2:
				r.u32()
				skipConstExpr(r)
			default:
				r.fail("data segment of kind %d", flags)
			}
			r.name()
		}
	case secStart, secDataCount:
		r.u32()
	case secCode:
		n := r.u32()
		if uint64(n) > uint64(len(r.b)) {
			return malformed("%d bodies in %d bytes", n, len(r.b))
		}
		m.bodies = make([][]byte, 0, n)
		for i := uint32(0); i < n && r.err == nil; i++ {
			size := r.u32()
			if lim.MaxFunctionBytes > 0 && size > lim.MaxFunctionBytes && r.err == nil {
				return over("max_function_bytes", lim.MaxFunctionBytes, uint64(size), fmt.Sprintf("bytes in the body of function %d", m.importedFuncs+i))
			}
			body := r.bytes(size)
			if r.err == nil {
				if err := readLocals(&reader{b: body}, lim, m.importedFuncs+i); err != nil {
					return err
				}
			}
			m.bodies = append(m.bodies, body)
		}
	default:
		return nil
	}
	if r.err == nil && r.pos != len(r.b) {
		r.fail("%d bytes after the last item", len(r.b)-r.pos)
	}
	if r.err != nil {
		return malformed("section %d: %v", s.id, r.err)
	}
	return nil
}

// skipConstExpr reads a constant expression, up to its end.
func skipConstExpr(r *reader) {
	depth := 0
	for r.err == nil {
		in, err := next(r, nil, 1<<32-1)
		if err != nil {
			return
		}
		switch in.op {
		case opBlock, opLoop, opIf:
			depth++
		case opEnd:
			if depth--; depth < 0 {
				return
			}
		}
	}
}

// skipElement reads an element segment and returns its number of
// entries.
func skipElement(r *reader) uint32 {
	flags := r.u32()
	if flags > 7 {
		r.fail("element segment of kind %d", flags)
		return 0
	}
	if flags == 2 || flags == 6 {
		r.u32() // table
	}
	if flags&1 == 0 {
		skipConstExpr(r) // offset
	}
	if flags&3 != 0 {
		r.byte() // element kind or reference type
	}
	n := r.u32()
	for i := uint32(0); i < n && r.err == nil; i++ {
		if flags&4 != 0 {
			skipConstExpr(r)
		} else {
			r.u32()
		}
	}
	return n
}

// readLimits reads the limits of a table or memory and returns the minimum.
func readLimits(r *reader) uint32 {
	flags := r.byte()
	min := r.u32()
	if flags&1 != 0 {
		r.u32()
	}
	if flags > 1 && r.err == nil {
		r.fail("limits flags 0x%02x (shared or 64-bit memories are not enabled)", flags)
	}
	return min
}

// Info is what Scan learns of a module.
type Info struct {
	// Functions is the number of functions the module defines.
	Functions int
	// Loops is the number of loops in their bodies.
	Loops int
	// CodeBytes is the size of their bodies.
	CodeBytes int
}

// Scan checks the structure of a module against lim in one pass over its
// bytes: the counts in its sections and, in each function body, its size,
// locals, nesting and br_table targets. It decodes every instruction, so
// it also refuses opcodes the runtime does not enable. A module over a
// limit fails with a *LimitError, checked before the part of the module it
// bounds is read; an undecodable one with an error wrapping ErrMalformed
// or saying which feature it needs.
func Scan(b []byte, lim Limits) (Info, error) {
	m, err := decode(b, &lim)
	if err != nil {
		return Info{}, err
	}
	return m.scan(&lim)
}

// scan walks every body once, recording which functions call others and
// which tables table.grow grows.
func (m *module) scan(lim *Limits) (Info, error) {
	info := Info{Functions: len(m.bodies)}
	m.calls = make([]bool, len(m.bodies))
	m.grown = make([]bool, len(m.importedTables)+len(m.tables))
	numTypes := uint32(len(m.types))
	for i, body := range m.bodies {
		fn := m.importedFuncs + uint32(i)
		info.CodeBytes += len(body)
		r := &reader{b: body}
		if err := readLocals(r, lim, fn); err != nil {
			return info, err
		}
		depth := 0
		for {
			if r.pos >= len(r.b) {
				return info, malformed("function %d: body ends inside a block", fn)
			}
			in, err := next(r, lim, numTypes)
			if err != nil {
				var le *LimitError
				if errors.As(err, &le) {
					le.What += fmt.Sprintf(" in function %d", fn)
					return info, le
				}
				return info, fmt.Errorf("function %d: %w", fn, err)
			}
			switch in.op {
			case opBlock, opLoop, opIf:
				depth++
				if in.op == opLoop {
					info.Loops++
				}
				if lim.MaxNesting > 0 && depth > int(lim.MaxNesting) {
					return info, over("max_nesting", lim.MaxNesting, uint64(depth), fmt.Sprintf("levels of nested blocks in function %d", fn))
				}
			case opEnd:
				depth--
			case opCall, opCallIndirect:
				m.calls[i] = true
			case opPrefixFC:
				if in.sub == fcTableGrow {
					if int(in.index) >= len(m.grown) {
						return info, malformed("function %d: table.grow of table %d", fn, in.index)
					}
					m.grown[in.index] = true
				}
			}
			if depth < 0 {
				break
			}
		}
		if r.pos != len(r.b) {
			return info, malformed("function %d: %d bytes after its end", fn, len(r.b)-r.pos)
		}
	}
	return info, nil
}

// readLocals reads the local declarations of a body, checking their count.
func readLocals(r *reader, lim *Limits, fn uint32) error {
	n := r.u32()
	var total uint64
	for j := uint32(0); j < n && r.err == nil; j++ {
		total += uint64(r.u32())
		if lim.MaxLocals > 0 && total > uint64(lim.MaxLocals) {
			return over("max_locals", lim.MaxLocals, total, fmt.Sprintf("locals in function %d", fn))
		}
		if t := r.byte(); !isValType(t) && r.err == nil {
			return malformed("function %d: local of type 0x%02x", fn, t)
		}
	}
	if r.err != nil {
		return malformed("function %d: locals: %v", fn, r.err)
	}
	return nil
}
