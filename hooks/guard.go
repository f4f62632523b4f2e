package hooks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// maxCallDepth bounds the nesting of guest function calls, about what a
// browser engine allows. Deeper recursion fails the call with ReasonTrap
// long before wazero's own ceiling (a 400 MB native stack) is reached.
// Reaching it is not free: wazero walks the whole guest stack before each
// listener call, so a call at depth d costs O(d).
const maxCallDepth = 10_000

// deadlineCheckEvery is how many guarded calls pass between two readings
// of the clock by the guard.
const deadlineCheckEvery = 16

// errInterrupted is the panic the guard raises in a guest whose module
// was closed: its deadline passed, its caller gave up or the runtime is
// closing.
var errInterrupted = errors.New("hooks: guest interrupted")

// errCallDepth is the cause of a call that nested too deep.
var errCallDepth = fmt.Errorf("call stack exhausted: more than %d nested calls", maxCallDepth)

// callGuard is the FunctionListenerFactory modules are compiled with. Its
// listener runs, in Go, before every call of a guest function that may
// call others: it stops the guest when its module has been closed (wazero
// closes it when the call's context ends, see
// wazero.RuntimeConfig.WithCloseOnContextDone, which alone only checks at
// loop back-edges) or when, by its own reading of the clock every
// deadlineCheckEvery calls, the call's deadline has passed; and it bounds
// the call depth. Going through Go on every
// such call also gives the scheduler and the garbage collector a safe
// point, so a loop-free call tree can neither outlive its deadline nor
// stall a stop-the-world.
//
// Leaf functions, which call nothing, get no listener: without calls they
// can only run their own body, whose loops wazero already checks, so they
// end quickly; skipping them saves the listener's cost (two exits to Go
// and a walk of the guest stack) on the most frequent calls.
type callGuard struct {
	imported uint32 // number of imported functions
	leaves   []bool // by defined function index; nil guards every function
}

// newCallGuard builds the guard of a module from its binary. A binary it
// cannot parse gets every function guarded.
func newCallGuard(wasm []byte) callGuard {
	imports, err := parseImports(wasm)
	if err != nil {
		return callGuard{}
	}
	leaves, err := leafFunctions(wasm)
	if err != nil {
		return callGuard{}
	}
	g := callGuard{leaves: leaves}
	for _, im := range imports {
		if im.kind == importFunc {
			g.imported++
		}
	}
	return g
}

// NewFunctionListener implements experimental.FunctionListenerFactory.
func (g callGuard) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if i := def.Index() - g.imported; def.Index() >= g.imported && int(i) < len(g.leaves) && g.leaves[i] {
		return nil
	}
	return guardListener{}
}

// guardListener is the listener of every guest function.
type guardListener struct{}

// Before implements experimental.FunctionListener.
func (guardListener) Before(ctx context.Context, mod api.Module, _ api.FunctionDefinition, _ []uint64, _ experimental.StackIterator) {
	if mod.IsClosed() {
		panic(errInterrupted)
	}
	if cs, ok := ctx.Value(callKey{}).(*callState); ok {
		cs.depth++
		if cs.depth > maxCallDepth {
			cs.fail(ReasonTrap, errCallDepth)
		}
		// wazero closes the module at the deadline from a goroutine of
		// its own, which a loaded machine may run late; the guard also
		// reads the clock itself, every deadlineCheckEvery calls.
		cs.ticks++
		if cs.ticks%deadlineCheckEvery == 0 && !cs.deadline.IsZero() && time.Now().After(cs.deadline) {
			cs.expired = true
			panic(errInterrupted)
		}
	}
}

// After implements experimental.FunctionListener.
func (guardListener) After(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64) {
	if cs, ok := ctx.Value(callKey{}).(*callState); ok {
		cs.depth--
	}
}

// Abort implements experimental.FunctionListener.
func (guardListener) Abort(ctx context.Context, _ api.Module, _ api.FunctionDefinition, _ error) {
	if cs, ok := ctx.Value(callKey{}).(*callState); ok {
		cs.depth--
	}
}
