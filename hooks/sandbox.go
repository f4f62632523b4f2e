package hooks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/strata-dev/strata/hooks/internal/wasmbin"
)

// maxCallDepth bounds the nesting of calls between guest functions that
// call others, about what a browser engine allows. Deeper recursion fails
// the call with ReasonTrap long before wazero's own ceiling (a 400 MB
// stack per call) is reached. The instrumentation counts it (see
// wasmbin.Instrument); leaf functions are not counted, as they add one
// frame at most.
const maxCallDepth = 10_000

// tickEvery is how many checkpoints (function entries and loop
// iterations) an instrumented guest passes between two calls of the host's
// tick, which reads the clock, checks whether the call must stop and gives
// the Go scheduler and garbage collector a safe point. At a few
// nanoseconds per checkpoint, a guest reaches Go every few tens of
// microseconds; the tick costs well under 1% of that.
const tickEvery = 10_000

// errInterrupted is the panic the tick raises in a guest that must stop:
// its deadline passed, its caller gave up or the runtime is closing.
var errInterrupted = errors.New("hooks: guest interrupted")

// errCallDepth is the cause of a call that nested too deep.
var errCallDepth = fmt.Errorf("call stack exhausted: more than %d nested calls", maxCallDepth)

// instantiateSandboxModule adds the host side of the instrumentation: the
// tick every instrumented module imports.
func instantiateSandboxModule(ctx context.Context, wz wazero.Runtime) error {
	_, err := wz.NewHostModuleBuilder(wasmbin.HostModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostTick), nil, nil).
		Export(wasmbin.HostTick).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiate host module %s: %w", wasmbin.HostModule, err)
	}
	return nil
}

// hostTick is called by an instrumented guest whose tick counter is
// spent: it charges the next checkpoints to the call's fuel, stops the
// guest if it must, and refills the counter.
func hostTick(ctx context.Context, mod api.Module, _ []uint64) {
	cs := callFrom(ctx)
	grant := int64(tickEvery)
	if cs.fuel > 0 {
		// Fuel first: it must fail the same way whatever the clock says.
		if cs.fuelLeft == 0 {
			cs.fail(ReasonFuel, fmt.Errorf("used up its fuel budget of %d units", cs.fuel))
		}
		grant = min(grant, cs.fuelLeft)
		cs.fuelLeft -= grant
	}
	select {
	case <-cs.ctxDone:
		panic(errInterrupted)
	case <-cs.abort:
		panic(errInterrupted)
	default:
	}
	if !cs.deadline.IsZero() && time.Now().After(cs.deadline) {
		cs.expired = true
		panic(errInterrupted)
	}
	if g, ok := mod.ExportedGlobal(wasmbin.ExportTicks).(api.MutableGlobal); ok {
		g.Set(uint64(grant))
	}
}

// startFuel sets the fuel of a hook_handle call (0: unmetered) and returns
// the checkpoints the guest may pass before its first tick.
func (cs *callState) startFuel(fuel int64) uint64 {
	cs.fuel = max(fuel, 0)
	if cs.fuel == 0 {
		return tickEvery
	}
	grant := min(int64(tickEvery), cs.fuel)
	cs.fuelLeft = cs.fuel - grant
	return uint64(grant)
}

// ModuleLimits bound the structure of the modules Register accepts. They
// are checked by a single pass over the binary before it is compiled, so
// that a module built to make compilation slow or large (deeply nested
// blocks, huge br_table, millions of globals) is refused at once, and they
// bound what a module can make the host allocate outside its linear memory
// (tables, globals, segments). A zero field takes its default (see
// DefaultModuleLimits).
type ModuleLimits struct {
	// MaxFunctions bounds the functions, imported and defined.
	MaxFunctions uint32
	// MaxFunctionBytes bounds the size of one function body, in bytes.
	MaxFunctionBytes uint32
	// MaxNesting bounds how deep blocks, loops and ifs nest in one body.
	MaxNesting uint32
	// MaxBrTableTargets bounds the targets of one br_table.
	MaxBrTableTargets uint32
	// MaxLocals bounds the locals one function declares.
	MaxLocals uint32
	// MaxTables bounds the tables.
	MaxTables uint32
	// MaxTableEntries bounds the entries of all tables together, declared
	// (the sum of their minimum sizes) and at run time (a table.grow that
	// would pass it fails as wasm says: it returns -1). Each entry costs
	// the host 8 bytes per instance, outside the linear memory.
	MaxTableEntries uint32
	// MaxGlobals bounds the globals.
	MaxGlobals uint32
	// MaxElementSegments bounds the element segments.
	MaxElementSegments uint32
	// MaxElementEntries bounds the entries of all element segments
	// together.
	MaxElementEntries uint32
	// MaxDataSegments bounds the data segments.
	MaxDataSegments uint32
	// MaxTypes bounds the function types.
	MaxTypes uint32
	// MaxExports bounds the exports.
	MaxExports uint32
}

// DefaultModuleLimits are the limits of a Runtime without
// WithModuleLimits. They hold the example hooks of every supported
// language with a wide margin (the Go example, the largest, has 2 076
// functions, blocks nested 549 deep, a 895-target br_table, a 29 KB body,
// a 6 153-entry table and 35 491 data segments).
func DefaultModuleLimits() ModuleLimits {
	return ModuleLimits{
		MaxFunctions:       100_000,
		MaxFunctionBytes:   1 << 20,
		MaxNesting:         5_000,
		MaxBrTableTargets:  16_384,
		MaxLocals:          50_000,
		MaxTables:          100,
		MaxTableEntries:    100_000,
		MaxGlobals:         10_000,
		MaxElementSegments: 10_000,
		MaxElementEntries:  200_000,
		MaxDataSegments:    100_000,
		MaxTypes:           50_000,
		MaxExports:         100_000,
	}
}

// withDefaults fills the zero fields of l from DefaultModuleLimits.
func (l ModuleLimits) withDefaults() ModuleLimits {
	d := DefaultModuleLimits()
	fill := func(v *uint32, def uint32) {
		if *v == 0 {
			*v = def
		}
	}
	fill(&l.MaxFunctions, d.MaxFunctions)
	fill(&l.MaxFunctionBytes, d.MaxFunctionBytes)
	fill(&l.MaxNesting, d.MaxNesting)
	fill(&l.MaxBrTableTargets, d.MaxBrTableTargets)
	fill(&l.MaxLocals, d.MaxLocals)
	fill(&l.MaxTables, d.MaxTables)
	fill(&l.MaxTableEntries, d.MaxTableEntries)
	fill(&l.MaxGlobals, d.MaxGlobals)
	fill(&l.MaxElementSegments, d.MaxElementSegments)
	fill(&l.MaxElementEntries, d.MaxElementEntries)
	fill(&l.MaxDataSegments, d.MaxDataSegments)
	fill(&l.MaxTypes, d.MaxTypes)
	fill(&l.MaxExports, d.MaxExports)
	return l
}

func (l ModuleLimits) wasmbin() wasmbin.Limits {
	return wasmbin.Limits{
		MaxFunctions: l.MaxFunctions, MaxFunctionBytes: l.MaxFunctionBytes, MaxNesting: l.MaxNesting,
		MaxBrTableTargets: l.MaxBrTableTargets, MaxLocals: l.MaxLocals, MaxTables: l.MaxTables,
		MaxTableEntries: l.MaxTableEntries, MaxGlobals: l.MaxGlobals, MaxElementSegments: l.MaxElementSegments, MaxElementEntries: l.MaxElementEntries,
		MaxDataSegments: l.MaxDataSegments, MaxTypes: l.MaxTypes, MaxExports: l.MaxExports,
	}
}

// instrument checks wasm against the runtime's module limits and returns
// it instrumented. The error says, for people, what is wrong.
func (r *Runtime) instrument(wasm []byte) (*wasmbin.Result, error) {
	res, err := wasmbin.Instrument(wasm, wasmbin.Config{Limits: r.cfg.moduleLimits.wasmbin(), MaxDepth: maxCallDepth})
	if err != nil {
		var le *wasmbin.LimitError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("exceeds a module limit: %s", le.Error())
		}
		return nil, err
	}
	return res, nil
}

// errCompileTimeout is the cause of a compilation that ran out of time.
var errCompileTimeout = errors.New("hooks: compilation took too long")

// compile compiles bin in a worker goroutine, at most
// WithCompileConcurrency at once, within WithCompileTimeout and for as
// long as ctx allows; Close stops it too. wazero's compiler checks its
// context between functions when it compiles with workers, so a cancelled
// compilation stops at the next function; the worker then releases what
// it compiled and its slot. The caller does not wait for that: it returns
// as soon as its context ends or the time is up.
func (r *Runtime) compile(ctx context.Context, bin []byte) (wazero.CompiledModule, error) {
	select {
	case r.compileSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to compile: %w", context.Cause(ctx))
	case <-r.done:
		return nil, ErrClosed
	}
	cctx, cancel := context.WithTimeoutCause(ctx, r.cfg.compileTimeout, errCompileTimeout)
	defer cancel()
	defer context.AfterFunc(r.closing, cancel)()
	type result struct {
		cm  wazero.CompiledModule
		err error
	}
	var mu sync.Mutex
	abandoned := false
	ch := make(chan result, 1)
	r.compiles.Add(1)
	go func() {
		defer r.compiles.Done()
		defer func() { <-r.compileSlots }()
		var res result
		func() {
			defer func() {
				if p := recover(); p != nil {
					res = result{err: fmt.Errorf("compile: %v", p)}
				}
			}()
			res.cm, res.err = r.wz.CompileModule(experimental.WithCompilationWorkers(cctx, 2), bin)
		}()
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if res.cm != nil {
				_ = res.cm.Close(context.Background())
			}
			return
		}
		ch <- res
	}()
	select {
	case res := <-ch:
		if res.err != nil && cctx.Err() != nil {
			return nil, r.compileStopped(cctx)
		}
		return res.cm, res.err
	case <-cctx.Done():
		mu.Lock()
		abandoned = true
		mu.Unlock()
		select {
		case res := <-ch:
			if res.cm != nil {
				_ = res.cm.Close(context.Background())
			}
		default:
		}
		return nil, r.compileStopped(cctx)
	}
}

// compileStopped is the error of a compilation whose context ended.
func (r *Runtime) compileStopped(cctx context.Context) error {
	switch cause := context.Cause(cctx); {
	case cause == errCompileTimeout:
		return fmt.Errorf("%w: compilation took longer than %s", ErrInvalidModule, r.cfg.compileTimeout)
	case r.isClosed():
		return ErrClosed
	default:
		return fmt.Errorf("compilation stopped: %w", cause)
	}
}
