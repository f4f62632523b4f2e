package hooks

import (
	"context"
	"fmt"
	"time"
)

// DefaultInitTimeout bounds the instantiation Register makes of every
// module, _initialize included, to make sure it can run at all. It is far
// above what any well-behaved module needs (a Go module's runtime starts
// in milliseconds) so that a loaded machine never refuses one, and short
// enough that a module whose _initialize loops is refused promptly.
const DefaultInitTimeout = 5 * time.Second

// checkInstantiate instantiates e, compiled from wasm, once, as a call
// would, and says why it cannot be: a data or element segment out of
// bounds (see checkElements), a start function
// or _initialize that traps, exits or runs past the init timeout. A
// module that fails there would fail every call, so Register refuses it.
// The instance has the default memory limit, or the module's declared
// minimum if that is larger (a binding may raise memory_mb); one for the
// default limit goes to the pool, as the first one pre-warmed. An error wrapping ctx's error means the caller gave
// up, not that the module is at fault.
func (r *Runtime) checkInstantiate(ctx context.Context, e *entry, wasm []byte) error {
	if err := checkElements(wasm); err != nil {
		return fmt.Errorf("%w %q: it cannot be instantiated: %v", ErrInvalidModule, e.info.Name, err)
	}
	if err := r.acquireSlot(ctx); err != nil {
		return fmt.Errorf("hooks: register %s: %w", e.info.Name, err)
	}
	defer r.releaseSlot()
	timeout := r.cfg.initTimeout
	if timeout <= 0 {
		timeout = DefaultInitTimeout
	}
	pages := max(r.pages(0), e.minPages)
	cs := &callState{hook: e.info.Name}
	cs.setDeadline(ctx, time.Now(), timeout)
	tctx, cancel := context.WithTimeoutCause(ctx, timeout, errHookTimeout)
	defer cancel()
	var inst *instance
	var err error
	r.threads.run(func() { inst, err = r.instantiate(context.WithValue(tctx, callKey{}, cs), e, pages, cs) })
	emitLogs(ctx, r.cfg.logger, e.info.Name, "", cs.logs.finish())
	if err == nil && pages == r.pages(0) {
		// A fresh instance for the default limit: the first of the pool.
		inst.cs = nil
		e.put(ctx, inst, r.cfg.maxIdle())
		return nil
	}
	if inst != nil {
		inst.close(ctx)
	}
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("hooks: register %s: %w", e.info.Name, cerr)
	}
	ce := classify(tctx, cs, inst, e.info.Name, timeout, err)
	return fmt.Errorf("%w %q: it cannot be instantiated (%s): %s", ErrInvalidModule, e.info.Name, ce.Reason, ce.cause())
}

// Section ids checkElements reads.
const (
	sectionTable   = 4
	sectionElement = 9
)

// checkElements refuses a module with an active element segment that
// does not fit in its table. The WebAssembly specification makes such a
// module fail to instantiate, but wazero instantiates it and silently
// skips that segment and every later one, leaving null entries that trap
// when called indirectly. Only constant offsets (i32.const) into tables
// the module defines can be checked; the check stops at the first
// segment it cannot read, leaving the rest to wazero.
func checkElements(wasm []byte) error {
	imports, err := parseImports(wasm)
	if err != nil {
		return nil // the compiler has accepted it; nothing to check here
	}
	importedTables := uint32(0)
	for _, im := range imports {
		if im.kind == importTable {
			importedTables++
		}
	}
	var sizes []uint32 // minimum sizes of the defined tables
	var found error
	_ = sections(wasm, func(id byte, content []byte) bool {
		switch id {
		case sectionTable:
			sec := wasmReader{b: content}
			n := sec.u32()
			for i := uint32(0); i < n && sec.err == nil; i++ {
				sec.byte() // reference type
				flags := sec.byte()
				sizes = append(sizes, sec.u32())
				if flags&1 != 0 {
					sec.u32()
				}
			}
			if sec.err != nil {
				sizes = nil
				return false
			}
		case sectionElement:
			found = checkElementSection(content, importedTables, sizes)
			return false
		}
		return true
	})
	return found
}

// checkElementSection checks the active segments of an element section.
func checkElementSection(content []byte, importedTables uint32, sizes []uint32) error {
	sec := wasmReader{b: content}
	n := sec.u32()
	for i := uint32(0); i < n && sec.err == nil; i++ {
		flags := sec.u32()
		if flags > 7 {
			return nil
		}
		table := uint32(0)
		if flags == 2 || flags == 6 {
			table = sec.u32()
		}
		active := flags&1 == 0
		var offset uint32
		if active {
			if sec.byte() != 0x41 { // i32.const
				return nil
			}
			offset = uint32(sec.s32())
			if sec.byte() != 0x0b {
				return nil
			}
		}
		if flags != 0 && flags != 4 {
			sec.byte() // element kind (1 to 3) or reference type (5 to 7)
		}
		count := sec.u32()
		if flags&4 == 0 {
			for j := uint32(0); j < count && sec.err == nil; j++ {
				sec.u32()
			}
		} else {
			for j := uint32(0); j < count && sec.err == nil; j++ {
				if !sec.constRef() {
					return nil
				}
			}
		}
		if sec.err != nil || !active || count == 0 || table < importedTables || table-importedTables >= uint32(len(sizes)) {
			continue
		}
		if size := sizes[table-importedTables]; uint64(offset)+uint64(count) > uint64(size) {
			return fmt.Errorf("element segment %d does not fit in table %d: %d entries at offset %d, past its %d entries", i, table, count, offset, size)
		}
	}
	return nil
}

// s32 reads a signed LEB128 32-bit integer.
func (r *wasmReader) s32() int32 {
	var v int64
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return int32(v)
		}
	}
	r.err = errMalformed
	return 0
}

// constRef reads one of the constant expressions an element segment's
// items may be (ref.func, ref.null, global.get), with its end, and reports
// whether it could.
func (r *wasmReader) constRef() bool {
	switch r.byte() {
	case 0xd2, 0x23: // ref.func x, global.get x
		r.u32()
	case 0xd0: // ref.null t
		r.byte()
	default:
		return false
	}
	return r.byte() == 0x0b && r.err == nil
}
