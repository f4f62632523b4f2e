// Package hooks runs Strata's hook modules: WebAssembly modules that
// implement ABI v1 (SPEC §5, docs/hooks.md) and validate, change or
// observe writes. Modules are untrusted; the package runs them in a
// sandbox built on wazero and bounds everything they can consume.
//
// # Use
//
// New creates a Runtime, Register compiles a module, checks it against the
// ABI and makes it available by name, Call runs it on an input envelope
// and returns its decoded output, Close releases everything:
//
//	r, err := hooks.New(ctx, hooks.WithCacheDir(dir), hooks.WithLogger(logger))
//	...
//	defer r.Close(ctx)
//	if _, err := r.Register(ctx, "posts_validate", wasm); err != nil {
//		// errors.Is(err, hooks.ErrInvalidModule): the message says why
//	}
//	res, err := r.Call(ctx, "posts_validate", in, hooks.Limits{Timeout: 100 * time.Millisecond, MemoryMB: 16})
//	// err is a *hooks.CallError (errors.Is(err, hooks.ErrHookFailed))
//	// for every failure of the guest; res.Output.Allow, .Errors, .Data.
//
// A Runtime is safe for concurrent use. Registering a name again replaces
// its module atomically; calls in flight finish on the old one.
//
// # Sandbox
//
// A module may import only hook.input_read, hook.output_write, hook.log,
// wasi_snapshot_preview1 functions and env.abort. WASI has no preopened
// directories, no sockets, no environment variables and no arguments; its
// clocks and random source are wazero's deterministic fakes; stdout and
// stderr go to the call's logs. Each call is bounded by:
//
//   - a wall-clock timeout. Register instruments every module with a
//     checkpoint at each function entry and loop head; every 10 000
//     checkpoints the guest calls the host, which stops it once the
//     deadline has passed or the caller has left, so tight loops and
//     loop-free call trees stop alike;
//   - an optional fuel budget (Limits.Fuel), counted in checkpoints:
//     deterministic, ReasonFuel beyond;
//   - a call depth of 10 000 nested calls of functions that call others
//     (ReasonTrap beyond);
//   - tables of at most ModuleLimits.MaxTableEntries entries together,
//     declared or grown (table.grow past it returns -1);
//   - a linear memory limit, enforced by the memory allocator of each
//     instance: a memory.grow past it fails the call with ReasonMemory;
//   - 1 MiB of output, 256 log lines of at most 4 KiB, 64 KiB of stdout
//     and stderr;
//   - WithMaxConcurrency guest calls at once across all modules, by
//     default GOMAXPROCS−1, so guests that compute, runaway or merely
//     slow, cannot take every P (see RATIONALE.md) or unbounded memory.
//     Callers beyond it wait, earliest deadline first.
//
// With WithNice (Linux), the calls of a module whose last call ran 1 ms or
// more run on dedicated threads of lower priority, one per slot, so the
// kernel runs the process's other threads first.
//
// Because guests reach Go at every loop iteration and every non-leaf call,
// the scheduler and the garbage collector always find them at a safe
// point: a hostile guest cannot stall a stop-the-world.
//
// # Instances
//
// Compiled code is kept per module (and on disk with WithCacheDir).
// Instances are pooled per module and memory limit, with their exported
// functions looked up once; _initialize runs once per instance. An
// instance serves one call at a time, is replaced after WithRecycleAfter
// calls or when its memory grew by half (and 2 MiB), and is discarded
// after any failure, so a failed call never leaves a broken instance
// behind. Memory and globals persist between the calls an instance
// serves: hooks must not rely on either.
package hooks
