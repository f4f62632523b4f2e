package wasmbin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Names by which an instrumented module and its host talk.
const (
	// HostModule is the namespace of the import Instrument adds. A module
	// importing from it is refused.
	HostModule = "strata:sandbox"
	// HostTick is the imported function () -> () an instrumented module
	// calls when its tick counter is spent (see Instrument).
	HostTick = "tick"
	// ExportTicks is the exported mutable i32 global counting the
	// checkpoints the module may pass before it calls HostTick.
	ExportTicks = "strata:ticks"
	// ExportDepth is the exported mutable i32 global holding the current
	// depth of calls between functions that call others.
	ExportDepth = "strata:depth"
)

// Config is what Instrument adds.
type Config struct {
	// Limits are checked first, as by Scan; MaxTableEntries also caps
	// table.grow (all tables together).
	Limits Limits
	// MaxDepth bounds the nesting of calls of functions that call others
	// (leaf functions are not counted: they add one frame at most). 0
	// means no bound and no depth counter.
	MaxDepth uint32
}

// Result is an instrumented module.
type Result struct {
	// Binary is the rewritten module.
	Binary []byte
	// Info is what Scan learnt of the original.
	Info Info
	// Checkpoints is the number of checkpoints added: one per function,
	// one per loop.
	Checkpoints int
}

// Instrument checks b against cfg.Limits (see Scan) and rewrites it so
// that its host can stop it, meter it and bound it without callbacks:
//
//   - A checkpoint at the entry of every function and at the head of
//     every loop reads the mutable i32 global exported as ExportTicks: if
//     it is zero, it calls the imported function HostTick (which refills
//     the counter, or stops the guest by failing); then it decrements it.
//     The host decides what a tick does: read the clock, account fuel,
//     give the Go scheduler a safe point.
//   - If cfg.MaxDepth is set, functions that call others count their
//     nesting in the global exported as ExportDepth and execute
//     unreachable when it would pass MaxDepth (the host tells this trap
//     from others by reading the global). Each such body is wrapped in a
//     block so that every way out of it (end, br to the function's label,
//     return) decrements it.
//   - Every table.grow calls an added function that returns -1, as a
//     failed growth does, when the tables together would pass
//     Limits.MaxTableEntries.
//
// The import is added after the module's own, so the index of every
// defined function moves up by one: calls, ref.func, exports, the start
// function, element segments and the function names of the "name" custom
// section are renumbered. DWARF sections (.debug_*) are dropped: they
// describe code offsets the rewrite moves. Other custom sections are kept
// as they are.
func Instrument(b []byte, cfg Config) (*Result, error) {
	lim := cfg.Limits
	m, err := decode(b, &lim)
	if err != nil {
		return nil, err
	}
	info, err := m.scan(&lim)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{ExportTicks, ExportDepth} {
		if m.exportNames[name] {
			return nil, fmt.Errorf("exports %q, which is reserved", name)
		}
	}
	w := &rewriter{m: m, cfg: cfg}
	out, err := w.rewrite()
	if err != nil {
		return nil, err
	}
	return &Result{Binary: out, Info: info, Checkpoints: info.Functions + info.Loops}, nil
}

// rewriter holds the indices of what Instrument adds.
type rewriter struct {
	m   *module
	cfg Config

	types     []funcType // types appended to the type section
	tickType  uint32
	tickFunc  uint32
	ticks     uint32            // global index
	depth     uint32            // global index
	growFuncs map[uint32]uint32 // table index -> added function
	growOrder []uint32          // tables, in the order of their functions
	growTypes map[byte]uint32   // element type -> type of the grow function
}

// typeIndex returns the index of a type equal to t, appending one if the
// module has none.
func (w *rewriter) typeIndex(t funcType) uint32 {
	for i, have := range w.m.types {
		if string(have.params) == string(t.params) && string(have.results) == string(t.results) {
			return uint32(i)
		}
	}
	for i, have := range w.types {
		if string(have.params) == string(t.params) && string(have.results) == string(t.results) {
			return uint32(len(w.m.types) + i)
		}
	}
	w.types = append(w.types, t)
	return uint32(len(w.m.types) + len(w.types) - 1)
}

// fn renumbers a function index of the original module.
func (w *rewriter) fn(i uint32) uint32 {
	if i >= w.m.importedFuncs {
		return i + 1
	}
	return i
}

func (w *rewriter) rewrite() ([]byte, error) {
	m := w.m
	w.tickType = w.typeIndex(funcType{})
	w.tickFunc = m.importedFuncs
	w.ticks = m.importedGlobals + m.definedGlobals
	w.depth = w.ticks + 1
	w.growFuncs = map[uint32]uint32{}
	w.growTypes = map[byte]uint32{}
	next := m.importedFuncs + 1 + uint32(len(m.bodies))
	allTables := append(slices.Clone(m.importedTables), m.tables...)
	for t, grown := range m.grown {
		if !grown {
			continue
		}
		elem := allTables[t]
		if _, ok := w.growTypes[elem]; !ok {
			w.growTypes[elem] = w.typeIndex(funcType{params: []byte{elem, valI32}, results: []byte{valI32}})
		}
		w.growFuncs[uint32(t)] = next
		w.growOrder = append(w.growOrder, uint32(t))
		next++
	}

	// Bodies first: they may add block types.
	code, err := w.code()
	if err != nil {
		return nil, err
	}

	built := map[byte][]byte{}
	var errs []error
	build := func(id byte, orig []byte) []byte {
		if b, ok := built[id]; ok {
			return b
		}
		var b []byte
		var err error
		switch id {
		case secType:
			b, err = w.typeSection(orig)
		case secImport:
			b, err = w.importSection(orig)
		case secFunction:
			b, err = w.functionSection(orig)
		case secGlobal:
			b, err = w.globalSection(orig)
		case secExport:
			b, err = w.exportSection(orig)
		case secStart:
			b, err = w.startSection(orig)
		case secElement:
			b, err = w.elementSection(orig)
		case secCode:
			b = code
		default:
			b = orig
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("section %d: %w", id, err))
		}
		built[id] = b
		return b
	}
	// Sections the rewrite needs even when the module has none.
	needed := []byte{secType, secImport, secGlobal, secExport}
	if len(w.growOrder) > 0 || len(m.bodies) > 0 {
		needed = append(needed, secFunction, secCode)
	}
	has := map[byte]bool{}
	for _, s := range m.sections {
		has[s.id] = true
	}
	out := append([]byte(nil), "\x00asm\x01\x00\x00\x00"...)
	emit := func(id byte, content []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(content)))
		out = append(out, content...)
	}
	missingBefore := func(rank int) {
		for _, id := range needed {
			if !has[id] && order[id] < rank {
				has[id] = true
				emit(id, build(id, nil))
			}
		}
	}
	for _, s := range m.sections {
		if s.id == secCustom {
			name, content, ok := w.custom(s.content)
			if ok {
				emit(secCustom, append(appendName(nil, name), content...))
			}
			continue
		}
		missingBefore(order[s.id])
		emit(s.id, build(s.id, s.content))
	}
	missingBefore(len(order) + 1)
	if err := errors.Join(errs...); err != nil {
		return nil, malformed("%v", err)
	}
	return out, nil
}

// vec rewrites a vector section: it copies the items of orig through
// item, then appends extra items.
func vec(orig []byte, item func(r *reader, out []byte) []byte, extra int, add func(out []byte) []byte) ([]byte, error) {
	r := &reader{b: orig}
	var n uint32
	if orig != nil {
		n = r.u32()
	}
	var body []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		body = item(r, body)
	}
	if r.err == nil && r.pos != len(r.b) {
		r.fail("%d bytes after the last item", len(r.b)-r.pos)
	}
	if r.err != nil {
		return nil, r.err
	}
	if add != nil {
		body = add(body)
	}
	out := appendU32(nil, n+uint32(extra))
	return append(out, body...), nil
}

// copyItem returns an item function that copies what skip reads.
func copyItem(skip func(r *reader)) func(r *reader, out []byte) []byte {
	return func(r *reader, out []byte) []byte {
		start := r.pos
		skip(r)
		return append(out, r.b[start:r.pos]...)
	}
}

func (w *rewriter) typeSection(orig []byte) ([]byte, error) {
	return vec(orig, copyItem(func(r *reader) { r.byte(); r.name(); r.name() }), len(w.types), func(out []byte) []byte {
		for _, t := range w.types {
			out = append(out, 0x60)
			out = appendName(out, string(t.params))
			out = appendName(out, string(t.results))
		}
		return out
	})
}

func (w *rewriter) importSection(orig []byte) ([]byte, error) {
	skip := func(r *reader) {
		r.name()
		r.name()
		switch r.byte() {
		case 0:
			r.u32()
		case 1:
			r.byte()
			readLimits(r)
		case 2:
			readLimits(r)
		case 3:
			r.byte()
			r.byte()
		}
	}
	// The added import goes after the other imported functions, which
	// all come before any defined function whatever the order of imports.
	return vec(orig, copyItem(skip), 1, func(out []byte) []byte {
		out = appendName(out, HostModule)
		out = appendName(out, HostTick)
		out = append(out, 0)
		return appendU32(out, w.tickType)
	})
}

func (w *rewriter) functionSection(orig []byte) ([]byte, error) {
	return vec(orig, copyItem(func(r *reader) { r.u32() }), len(w.growOrder), func(out []byte) []byte {
		for _, t := range w.growOrder {
			out = appendU32(out, w.growTypes[w.elemType(t)])
		}
		return out
	})
}

func (w *rewriter) elemType(table uint32) byte {
	if int(table) < len(w.m.importedTables) {
		return w.m.importedTables[table]
	}
	return w.m.tables[int(table)-len(w.m.importedTables)]
}

func (w *rewriter) globalSection(orig []byte) ([]byte, error) {
	var err error
	item := func(r *reader, out []byte) []byte {
		start := r.pos
		r.byte()
		r.byte()
		out = append(out, r.b[start:r.pos]...)
		if out, err = w.constExpr(r, out); err != nil {
			r.fail("%v", err)
		}
		return out
	}
	return vec(orig, item, 2, func(out []byte) []byte {
		for range 2 {
			out = append(out, valI32, 1, opI32Const, 0, opEnd)
		}
		return out
	})
}

func (w *rewriter) exportSection(orig []byte) ([]byte, error) {
	item := func(r *reader, out []byte) []byte {
		name := r.name()
		kind := r.byte()
		idx := r.u32()
		out = appendName(out, string(name))
		out = append(out, kind)
		if kind == 0 {
			idx = w.fn(idx)
		}
		return appendU32(out, idx)
	}
	return vec(orig, item, 2, func(out []byte) []byte {
		out = appendName(out, ExportTicks)
		out = append(out, 3)
		out = appendU32(out, w.ticks)
		out = appendName(out, ExportDepth)
		out = append(out, 3)
		return appendU32(out, w.depth)
	})
}

func (w *rewriter) startSection(orig []byte) ([]byte, error) {
	r := &reader{b: orig}
	f := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	return appendU32(nil, w.fn(f)), nil
}

func (w *rewriter) elementSection(orig []byte) ([]byte, error) {
	var err error
	funcs := func(r *reader, out []byte) []byte {
		n := r.u32()
		out = appendU32(out, n)
		for i := uint32(0); i < n && r.err == nil; i++ {
			out = appendU32(out, w.fn(r.u32()))
		}
		return out
	}
	exprs := func(r *reader, out []byte) []byte {
		n := r.u32()
		out = appendU32(out, n)
		for i := uint32(0); i < n && r.err == nil && err == nil; i++ {
			out, err = w.constExpr(r, out)
		}
		return out
	}
	expr := func(r *reader, out []byte) []byte {
		if err == nil {
			out, err = w.constExpr(r, out)
		}
		return out
	}
	item := func(r *reader, out []byte) []byte {
		flags := r.u32()
		out = appendU32(out, flags)
		switch flags {
		case 0:
			out = funcs(r, expr(r, out))
		case 1, 3:
			out = funcs(r, append(out, r.byte()))
		case 2:
			out = appendU32(out, r.u32())
			out = expr(r, out)
			out = funcs(r, append(out, r.byte()))
		case 4:
			out = exprs(r, expr(r, out))
		case 5, 7:
			out = exprs(r, append(out, r.byte()))
		case 6:
			out = appendU32(out, r.u32())
			out = expr(r, out)
			out = exprs(r, append(out, r.byte()))
		default:
			r.fail("element segment of kind %d", flags)
		}
		if err != nil {
			r.fail("%v", err)
		}
		return out
	}
	return vec(orig, item, 0, nil)
}

// constExpr copies a constant expression, renumbering ref.func.
func (w *rewriter) constExpr(r *reader, out []byte) ([]byte, error) {
	depth := 0
	for {
		in, err := next(r, nil, uint32(len(w.m.types)))
		if err != nil {
			return out, err
		}
		switch in.op {
		case opRefFunc:
			out = append(out, opRefFunc)
			out = appendU32(out, w.fn(in.index))
		case opBlock, opLoop, opIf:
			depth++
			out = append(out, r.b[in.start:in.end]...)
		case opEnd:
			out = append(out, opEnd)
			if depth--; depth < 0 {
				return out, nil
			}
		default:
			out = append(out, r.b[in.start:in.end]...)
		}
	}
}

// custom returns a custom section to keep, renumbered if it is the
// "name" section, or false to drop it.
func (w *rewriter) custom(content []byte) (string, []byte, bool) {
	r := &reader{b: content}
	name := string(r.name())
	if r.err != nil {
		return "", nil, false
	}
	rest := content[r.pos:]
	switch {
	case strings.HasPrefix(name, ".debug_"):
		return "", nil, false
	case name == "name":
		fixed, ok := w.names(rest)
		return name, fixed, ok
	}
	return name, rest, true
}

// names renumbers the function names (subsection 1), local names (2) and
// label names (3) of a "name" section, keeping the other subsections. A
// section it cannot decode is dropped: names are only for stack traces.
func (w *rewriter) names(b []byte) ([]byte, bool) {
	r := &reader{b: b}
	var out []byte
	for !r.done() {
		id := r.byte()
		sub := r.name()
		if r.err != nil {
			return nil, false
		}
		if id < 1 || id > 3 {
			out = append(out, id)
			out = appendName(out, string(sub))
			continue
		}
		s := &reader{b: sub}
		n := s.u32()
		body := appendU32(nil, n)
		for i := uint32(0); i < n && s.err == nil; i++ {
			body = appendU32(body, w.fn(s.u32()))
			start := s.pos
			if id == 1 {
				s.name()
			} else {
				k := s.u32()
				for j := uint32(0); j < k && s.err == nil; j++ {
					s.u32()
					s.name()
				}
			}
			body = append(body, s.b[start:s.pos]...)
		}
		if s.err != nil || s.pos != len(s.b) {
			return nil, false
		}
		out = append(out, id)
		out = appendName(out, string(body))
	}
	return out, true
}

// code rewrites the code section: every body, then the added functions.
func (w *rewriter) code() ([]byte, error) {
	m := w.m
	out := appendU32(nil, uint32(len(m.bodies)+len(w.growOrder)))
	var body []byte
	for i, b := range m.bodies {
		var err error
		body, err = w.body(body[:0], i, b)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", m.importedFuncs+uint32(i), err)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	for _, t := range w.growOrder {
		body = w.growBody(body[:0], t)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out, nil
}

// checkpoint appends the tick check of a function entry or loop head.
func (w *rewriter) checkpoint(out []byte) []byte {
	out = append(out, opGlobalGet)
	out = appendU32(out, w.ticks)
	out = append(out, opI32Eqz, opIf, blockEmpty, opCall)
	out = appendU32(out, w.tickFunc)
	out = append(out, opEnd, opGlobalGet)
	out = appendU32(out, w.ticks)
	out = append(out, opI32Const, 1, opI32Sub, opGlobalSet)
	return appendU32(out, w.ticks)
}

// enter appends the depth check and increment of a function entry.
func (w *rewriter) enter(out []byte) []byte {
	out = append(out, opGlobalGet)
	out = appendU32(out, w.depth)
	out = append(out, opI32Const)
	out = appendS64(out, int64(int32(w.cfg.MaxDepth)))
	out = append(out, opI32GeU, opIf, blockEmpty, opUnreachable, opEnd, opGlobalGet)
	out = appendU32(out, w.depth)
	out = append(out, opI32Const, 1, opI32Add, opGlobalSet)
	return appendU32(out, w.depth)
}

// leave appends the depth decrement of a way out of a function.
func (w *rewriter) leave(out []byte) []byte {
	out = append(out, opGlobalGet)
	out = appendU32(out, w.depth)
	out = append(out, opI32Const, 1, opI32Sub, opGlobalSet)
	return appendU32(out, w.depth)
}

// body rewrites the code entry of defined function i.
func (w *rewriter) body(out []byte, i int, b []byte) ([]byte, error) {
	m := w.m
	r := &reader{b: b}
	if err := readLocals(r, &Limits{}, 0); err != nil {
		return nil, err
	}
	out = append(out, b[:r.pos]...)
	out = w.checkpoint(out)
	tracked := w.cfg.MaxDepth > 0 && m.calls[i]
	if tracked {
		out = w.enter(out)
		// The wrapper block takes the place of the function's label.
		out = append(out, opBlock)
		if int(m.funcTypes[i]) >= len(m.types) {
			return nil, fmt.Errorf("type %d out of range", m.funcTypes[i])
		}
		switch res := m.types[m.funcTypes[i]].results; len(res) {
		case 0:
			out = append(out, blockEmpty)
		case 1:
			out = append(out, res[0])
		default:
			out = appendS64(out, int64(w.typeIndex(funcType{results: res})))
		}
	}
	numTypes := uint32(len(m.types))
	depth := 0
	for {
		in, err := next(r, nil, numTypes)
		if err != nil {
			return nil, err
		}
		switch in.op {
		case opBlock, opIf:
			depth++
			out = append(out, b[in.start:in.end]...)
		case opLoop:
			depth++
			out = append(out, b[in.start:in.end]...)
			out = w.checkpoint(out)
		case opEnd:
			if depth == 0 {
				if tracked {
					out = append(out, opEnd)
					out = w.leave(out)
				}
				return append(out, opEnd), nil
			}
			depth--
			out = append(out, opEnd)
		case opReturn:
			if tracked {
				out = w.leave(out)
			}
			out = append(out, opReturn)
		case opCall:
			out = append(out, opCall)
			out = appendU32(out, w.fn(in.index))
		case opRefFunc:
			out = append(out, opRefFunc)
			out = appendU32(out, w.fn(in.index))
		case opPrefixFC:
			if in.sub == fcTableGrow {
				out = append(out, opCall)
				out = appendU32(out, w.growFuncs[in.index])
				break
			}
			out = append(out, b[in.start:in.end]...)
		default:
			out = append(out, b[in.start:in.end]...)
		}
	}
}

// growBody appends the body of the function that replaces table.grow on
// table t: (param ref i32) (result i32). It refuses the growth when the
// entries of all tables together would pass Limits.MaxTableEntries.
func (w *rewriter) growBody(out []byte, t uint32) []byte {
	out = append(out, 0) // no locals
	out = append(out, opLocalGet, 1, opI64ExtendU)
	for k := range len(w.m.importedTables) + len(w.m.tables) {
		out = append(out, opPrefixFC)
		out = appendU32(out, fcTableSize)
		out = appendU32(out, uint32(k))
		out = append(out, opI64ExtendU, opI64Add)
	}
	limit := int64(w.cfg.Limits.MaxTableEntries)
	if limit == 0 {
		limit = 1 << 32
	}
	out = append(out, opI64Const)
	out = appendS64(out, limit)
	out = append(out, opI64GtU, opIf, blockEmpty, opI32Const, 0x7f, opReturn, opEnd)
	out = append(out, opLocalGet, 0, opLocalGet, 1, opPrefixFC)
	out = appendU32(out, fcTableGrow)
	out = appendU32(out, t)
	return append(out, opEnd)
}
