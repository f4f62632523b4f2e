package wasmbin

// Opcodes the rewriter looks at or emits.
const (
	opUnreachable  = 0x00
	opBlock        = 0x02
	opLoop         = 0x03
	opIf           = 0x04
	opElse         = 0x05
	opEnd          = 0x0b
	opBr           = 0x0c
	opBrIf         = 0x0d
	opBrTable      = 0x0e
	opReturn       = 0x0f
	opCall         = 0x10
	opCallIndirect = 0x11
	opLocalGet     = 0x20
	opGlobalGet    = 0x23
	opGlobalSet    = 0x24
	opI32Const     = 0x41
	opI64Const     = 0x42
	opI32Eqz       = 0x45
	opI32GeU       = 0x4f
	opI64GtU       = 0x56
	opI32Add       = 0x6a
	opI32Sub       = 0x6b
	opI64Add       = 0x7c
	opI64ExtendU   = 0xad
	opRefFunc      = 0xd2
	opPrefixFC     = 0xfc
	opPrefixFD     = 0xfd

	fcTableGrow = 15
	fcTableSize = 16

	blockEmpty = 0x40
)

// Value types of WebAssembly 2.0.
const (
	valI32       = 0x7f
	valI64       = 0x7e
	valF32       = 0x7d
	valF64       = 0x7c
	valV128      = 0x7b
	valFuncref   = 0x70
	valExternref = 0x6f
)

func isValType(b byte) bool {
	switch b {
	case valI32, valI64, valF32, valF64, valV128, valFuncref, valExternref:
		return true
	}
	return false
}

func isRefType(b byte) bool { return b == valFuncref || b == valExternref }

// instr is one decoded instruction of a function body or constant
// expression: its opcode (and sub-opcode after a prefix), where its bytes
// lie, and the immediates the rewriter needs.
type instr struct {
	op         byte
	sub        uint32 // after 0xFC or 0xFD
	start, end int    // bytes [start, end) of the whole instruction
	index      uint32 // function of call and ref.func, table of table.grow
	targets    uint32 // br_table: number of targets, default excluded
}

// unsupported names the proposals whose opcodes wazero does not enable
// by default, so that a refusal says why.
func unsupported(op byte) string {
	switch op {
	case 0x06, 0x07, 0x08, 0x09, 0x0a, 0x18, 0x19, 0x1f:
		return "exception handling"
	case 0x12, 0x13, 0x14, 0x15:
		return "tail calls or typed function references"
	case 0xd3, 0xd4, 0xd5, 0xd6, 0xfb:
		return "garbage collection or typed function references"
	case 0xfe:
		return "threads"
	}
	return "unknown"
}

// next decodes the instruction at r's position. limits bounds br_table;
// nil checks nothing.
func next(r *reader, lim *Limits, numTypes uint32) (in instr, err error) {
	in.start = r.pos
	in.op = r.byte()
	op := in.op
	switch {
	case op == opUnreachable, op == 0x01, op == opElse, op == opEnd, op == opReturn:
	case op == opBlock, op == opLoop, op == opIf:
		readBlockType(r, numTypes)
	case op == opBr, op == opBrIf:
		r.u32()
	case op == opBrTable:
		n := r.u32()
		if r.err == nil && lim != nil && lim.MaxBrTableTargets > 0 && n > lim.MaxBrTableTargets {
			return in, &LimitError{Limit: "max_br_table_targets", Max: uint64(lim.MaxBrTableTargets), Got: uint64(n), What: "targets of a br_table"}
		}
		if r.err == nil && uint64(n) > uint64(len(r.b)-r.pos) {
			r.fail("br_table of %d targets in %d bytes", n, len(r.b)-r.pos)
		}
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
		in.targets = n
	case op == opCall:
		in.index = r.u32()
	case op == opCallIndirect:
		r.u32()
		r.u32()
	case op == 0x1a, op == 0x1b: // drop, select
	case op == 0x1c: // select t*
		n := r.u32()
		if r.err == nil && uint64(n) > uint64(len(r.b)-r.pos) {
			r.fail("select of %d types", n)
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			if t := r.byte(); !isValType(t) {
				r.fail("select of value type 0x%02x", t)
			}
		}
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get, table.set
		r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		readMemarg(r)
	case op == 0x3f, op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == opI32Const:
		r.signed(32)
	case op == opI64Const:
		r.signed(64)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op >= 0x45 && op <= 0xc4: // numeric and sign extension, no immediates
	case op == 0xd0: // ref.null t
		if t := r.byte(); !isRefType(t) {
			r.fail("ref.null of type 0x%02x", t)
		}
	case op == 0xd1: // ref.is_null
	case op == opRefFunc:
		in.index = r.u32()
	case op == opPrefixFC:
		in.sub = r.u32()
		switch in.sub {
		case 0, 1, 2, 3, 4, 5, 6, 7: // trunc_sat
		case 8: // memory.init data mem
			r.u32()
			r.u32()
		case 9, 13: // data.drop, elem.drop
			r.u32()
		case 10: // memory.copy mem mem
			r.u32()
			r.u32()
		case 11: // memory.fill mem
			r.u32()
		case 12, 14: // table.init elem table, table.copy dst src
			r.u32()
			r.u32()
		case fcTableGrow:
			in.index = r.u32()
		case fcTableSize, 17: // table.size, table.fill
			r.u32()
		default:
			if r.err == nil {
				r.fail("unknown opcode 0xfc %d", in.sub)
			}
		}
	case op == opPrefixFD:
		in.sub = r.u32()
		s := in.sub
		switch {
		case s <= 0x0b, s == 0x5c, s == 0x5d: // loads, stores, load*_zero
			readMemarg(r)
		case s == 0x0c, s == 0x0d: // v128.const, i8x16.shuffle
			r.bytes(16)
		case s >= 0x15 && s <= 0x22: // extract_lane, replace_lane
			r.byte()
		case s >= 0x54 && s <= 0x5b: // load*_lane, store*_lane
			readMemarg(r)
			r.byte()
		case s <= 0xff: // no immediates; wazero refuses unassigned ones
		default:
			if r.err == nil {
				r.fail("unsupported SIMD opcode 0xfd %d (relaxed SIMD is not enabled)", s)
			}
		}
	default:
		if r.err == nil {
			r.pos = in.start
			r.fail("unsupported opcode 0x%02x (%s)", op, unsupported(op))
		}
	}
	in.end = r.pos
	return in, r.err
}

// readBlockType reads a block type: empty, a value type, or a type index
// (a non-negative s33).
func readBlockType(r *reader, numTypes uint32) {
	b := r.peek()
	if r.err != nil {
		return
	}
	if b == blockEmpty || isValType(b) {
		r.pos++
		return
	}
	idx := r.signed(33)
	if r.err == nil && (idx < 0 || idx >= int64(numTypes)) {
		r.fail("block type %d is not a type index", idx)
	}
}

// readMemarg reads alignment and offset. Multiple memories (alignment bit
// 6) are not enabled.
func readMemarg(r *reader) {
	align := r.u32()
	if r.err == nil && align&0x40 != 0 {
		r.fail("memory index in a memarg (multiple memories are not enabled)")
	}
	r.u32()
}
