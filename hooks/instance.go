package hooks

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// recycleGrowthMin is the least growth of an instance's memory, past its
// size after _initialize, that makes it recycled (see WithRecycleAfter).
const recycleGrowthMin = 2 << 20

// entry is one registered module: its compiled code and its pools of idle
// instances, one per memory limit. An entry replaced or removed is
// retired; the last call to end on it closes it.
type entry struct {
	info     ModuleInfo
	compiled wazero.CompiledModule
	minPages uint32

	refs    atomic.Int64 // calls in flight on this entry
	retired atomic.Bool  // no longer registered: close when refs reaches 0
	// long says the module's last call ran its guest code for longCall
	// or more: its calls go to the guest threads (see guestThreads.runFor).
	long      atomic.Bool
	closeOnce sync.Once

	mu        sync.Mutex
	closed    bool
	pools     map[uint32][]*instance // idle instances by memory limit in pages
	refilling map[uint32]bool        // pools a refill goroutine is filling
}

// take pops an idle instance with the memory limit pages, or returns nil.
func (e *entry) take(pages uint32) *instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	idle := e.pools[pages]
	if len(idle) == 0 {
		return nil
	}
	inst := idle[len(idle)-1]
	idle[len(idle)-1] = nil
	e.pools[pages] = idle[:len(idle)-1]
	return inst
}

// takeHealthy is take, skipping (and closing) any instance whose module
// has been closed since it was pooled.
func (e *entry) takeHealthy(ctx context.Context, pages uint32) *instance {
	for {
		inst := e.take(pages)
		if inst == nil || !inst.mod.IsClosed() {
			return inst
		}
		inst.close(ctx)
	}
}

// idle is the number of idle instances with the memory limit pages.
func (e *entry) idle(pages uint32) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.pools[pages])
}

// put returns a healthy instance to its pool, or closes it when the pool
// is full or the entry closed.
func (e *entry) put(ctx context.Context, inst *instance, maxIdle int) {
	e.mu.Lock()
	if !e.closed && len(e.pools[inst.pages]) < maxIdle {
		e.pools[inst.pages] = append(e.pools[inst.pages], inst)
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	inst.close(ctx)
}

// retire marks the entry unregistered and closes it if no call is using
// it; otherwise the last call to end closes it.
func (e *entry) retire(ctx context.Context) {
	e.retired.Store(true)
	if e.refs.Load() == 0 {
		e.close(ctx)
	}
}

// release ends a call's use of the entry.
func (e *entry) release(ctx context.Context) {
	if e.refs.Add(-1) == 0 && e.retired.Load() {
		e.close(ctx)
	}
}

// close closes the idle instances and the compiled module, once.
func (e *entry) close(ctx context.Context) {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		pools := e.pools
		e.pools = nil
		e.mu.Unlock()
		for _, idle := range pools {
			for _, inst := range idle {
				inst.close(ctx)
			}
		}
		_ = e.compiled.Close(ctx)
	})
}

// isClosed reports whether close has run.
func (e *entry) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// instance is one instantiated module, used by one call at a time.
type instance struct {
	mod      api.Module
	handle   api.Function // hook_handle, looked up once
	mem      api.Memory
	ticks    api.MutableGlobal // checkpoints left before the next tick
	depth    api.MutableGlobal // call depth of functions that call others
	lin      *linearMemory
	stack    [1]uint64
	pages    uint32     // memory limit, the pool it belongs to
	cs       *callState // the call in progress, for stdout and stderr
	calls    int
	baseSize uint32 // memory size after _initialize
}

// close closes the module instance.
func (inst *instance) close(ctx context.Context) {
	if inst.mod != nil {
		_ = inst.mod.Close(ctx)
	}
}

// depthExceeded reports whether the instance's guest trapped at the call
// depth limit.
func (inst *instance) depthExceeded() bool {
	return inst.depth != nil && uint32(inst.depth.Get()) >= maxCallDepth
}

// worn reports whether the instance should be replaced by a fresh one
// after a successful call.
func (inst *instance) worn(recycleAfter int) bool {
	if inst.calls >= recycleAfter {
		return true
	}
	size := inst.mem.Size()
	return size > inst.baseSize && size-inst.baseSize > max(inst.baseSize/2, recycleGrowthMin)
}

// stdioWriter captures a guest's stdout (stream 0) or stderr (stream 1)
// into the logs of the call in progress.
type stdioWriter struct {
	inst   *instance
	stream int
}

// Write implements io.Writer; it never fails, so guests do not retry.
func (w *stdioWriter) Write(p []byte) (int, error) {
	if cs := w.inst.cs; cs != nil {
		cs.logs.stdio(w.stream, p)
	}
	return len(p), nil
}

// linearMemory backs one instance's memory and enforces its limit: a
// growth past limit is refused (memory.grow returns -1) and remembered,
// which fails the call with ReasonMemory.
type linearMemory struct {
	buf      []byte
	limit    uint64
	exceeded bool
}

var (
	_ experimental.MemoryAllocator = (*linearMemory)(nil)
	_ experimental.LinearMemory    = (*linearMemory)(nil)
)

// Allocate implements experimental.MemoryAllocator; an instance has one
// memory, so it returns the receiver.
func (m *linearMemory) Allocate(capacity, _ uint64) experimental.LinearMemory {
	m.buf = make([]byte, 0, min(capacity, m.limit))
	return m
}

// Reallocate implements experimental.LinearMemory.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.limit {
		m.exceeded = true
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		// Memory never shrinks, so bytes past len were never handed out
		// and are still zero.
		m.buf = m.buf[:size]
		return m.buf
	}
	grown := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.limit))
	copy(grown, m.buf)
	m.buf = grown
	return m.buf
}

// Free implements experimental.LinearMemory.
func (m *linearMemory) Free() { m.buf = nil }
