package hooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/strata-dev/strata/hooks/internal/wasmbin"
)

// maxMemoryLimitMB is the most WithMaxMemoryMB accepts: wasm32's 4 GiB
// less one MiB, so sizes fit in a uint32.
const maxMemoryLimitMB = 4095

// prewarmTimeout bounds the instantiation (and _initialize) of each
// instance Register pre-warms.
const prewarmTimeout = time.Second

// closeGrace bounds how long Close waits, once its context has ended, for
// the guests it interrupted to unwind.
const closeGrace = 5 * time.Second

// Runtime compiles, checks and runs hook modules. It is safe for
// concurrent use. The Runtime owns its wazero runtime, compiled modules
// and instances; Close releases them.
type Runtime struct {
	cfg      config
	wz       wazero.Runtime
	cache    wazero.CompilationCache // nil without WithCacheDir
	wasiDefs map[string]api.FunctionDefinition
	slots    *slots        // one per running guest call or instantiation
	threads  *guestThreads // where guest code runs; nil: on the caller's thread
	done     chan struct{} // closed by Close
	// abort is closed when Close gives up waiting: running guests stop at
	// their next tick.
	abort chan struct{}
	// closing is cancelled by Close: compilations in progress stop.
	closing      context.Context
	closeCancel  context.CancelFunc
	compileSlots chan struct{}  // one per compilation in progress
	compiles     sync.WaitGroup // compile workers, abandoned ones included

	mu       sync.RWMutex
	closed   bool
	mods     map[string]*entry
	inflight sync.WaitGroup // Calls, Registers and refills in progress
	refills  sync.WaitGroup // refill goroutines, for tests

	// instantiations counts instances created, for tests.
	instantiations atomicCounter
}

// New creates a Runtime. The context is used only while New runs. The
// caller owns the Runtime and must Close it.
func New(ctx context.Context, opts ...Option) (*Runtime, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.maxMemoryMB > maxMemoryLimitMB {
		return nil, fmt.Errorf("hooks: max memory of %d MiB is over the %d MiB a wasm32 memory can have", cfg.maxMemoryMB, maxMemoryLimitMB)
	}
	// No WithCloseOnContextDone: modules are instrumented to stop
	// themselves (see wasmbin.Instrument and hostTick), which costs far
	// less than wazero's exit to Go at every loop iteration.
	rc := wazero.NewRuntimeConfig()
	var cache wazero.CompilationCache
	if cfg.cacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.cacheDir); err != nil {
			return nil, fmt.Errorf("hooks: compilation cache in %s: %w", cfg.cacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	wz := wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(err error) (*Runtime, error) {
		_ = wz.Close(ctx)
		if cache != nil {
			_ = cache.Close(ctx)
		}
		return nil, fmt.Errorf("hooks: %w", err)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, wz); err != nil {
		return fail(fmt.Errorf("instantiate %s: %w", wasiModule, err))
	}
	if err := instantiateHostModules(ctx, wz); err != nil {
		return fail(err)
	}
	if err := instantiateSandboxModule(ctx, wz); err != nil {
		return fail(err)
	}
	closing, closeCancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Runtime{
		cfg:      cfg,
		wz:       wz,
		cache:    cache,
		wasiDefs: wz.Module(wasiModule).ExportedFunctionDefinitions(),
		slots:    newSlots(cfg.maxConcurrency, cfg.onWait),
		done:     make(chan struct{}),
		mods:     make(map[string]*entry),

		abort:        make(chan struct{}),
		closing:      closing,
		closeCancel:  closeCancel,
		compileSlots: make(chan struct{}, cfg.compiles),
	}
	if cfg.nice > 0 && threadNiceWorks {
		var err error
		if r.threads, err = startGuestThreads(cfg.maxConcurrency, cfg.nice); err != nil {
			cfg.logger.LogAttrs(ctx, slog.LevelWarn, "hooks run at the priority of requests, and may slow them down",
				slog.Any("err", err))
		}
	}
	return r, nil
}

// validName reports whether name matches [a-z0-9_-]{1,64}.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Register checks wasm against the runtime's ModuleLimits, instruments
// it (see package doc), compiles it within WithCompileTimeout, checks it
// against ABI v1 and makes it available as name, pre-warming instances
// for the default memory limit. A module over a limit, that cannot be
// compiled in time or breaks the ABI, or a name not matching
// [a-z0-9_-]{1,64}, fails with an error wrapping ErrInvalidModule that
// says why (naming the limit); so does a module of which no instance can
// be made (a data or element segment out of bounds, a start function or
// _initialize that traps, exits or runs past DefaultInitTimeout), which
// Register instantiates once to find out. If ctx ends while the module
// compiles, Register returns ctx's error at once and the compilation is
// abandoned. Registering an existing name replaces the module atomically:
// later calls run the new module, calls in flight finish on the old one,
// whose compiled code is released when the last of them ends. Failures of
// pre-warming are logged, not returned: the next call reports them.
func (r *Runtime) Register(ctx context.Context, name string, wasm []byte) (ModuleInfo, error) {
	if !validName(name) {
		return ModuleInfo{}, fmt.Errorf("%w: name %q must be 1 to 64 of a-z, 0-9, _ and -", ErrInvalidModule, name)
	}
	if err := r.begin(); err != nil {
		return ModuleInfo{}, fmt.Errorf("hooks: register %s: %w", name, err)
	}
	defer r.inflight.Done()

	sum := sha256.Sum256(wasm)
	invalid := func(detail string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidModule, name, detail)
	}
	start := time.Now()
	inst, err := r.instrument(wasm)
	if err != nil {
		return ModuleInfo{}, invalid(err.Error())
	}
	compiled, err := r.compile(ctx, inst.Binary)
	if err != nil {
		switch {
		case errors.Is(err, ErrClosed) || r.isClosed():
			return ModuleInfo{}, fmt.Errorf("hooks: register %s: %w", name, ErrClosed)
		case errors.Is(err, ErrInvalidModule):
			return ModuleInfo{}, fmt.Errorf("%w %q: %s", ErrInvalidModule, name, strings.TrimPrefix(err.Error(), ErrInvalidModule.Error()+": "))
		case ctx.Err() != nil:
			return ModuleInfo{}, fmt.Errorf("hooks: register %s: %w", name, err)
		}
		return ModuleInfo{}, invalid(err.Error())
	}
	shape, err := checkModule(compiled, wasm, r.wasiDefs, uint32(r.cfg.maxMemoryMB)*16)
	if err != nil {
		_ = compiled.Close(ctx)
		return ModuleInfo{}, invalid(err.Error())
	}
	r.cfg.logger.LogAttrs(ctx, slog.LevelDebug, "hook module compiled",
		slog.String("hook", name), slog.Int("size", len(wasm)), slog.Int("instrumented_size", len(inst.Binary)),
		slog.Int("checkpoints", inst.Checkpoints), slog.Duration("took", time.Since(start)))
	e := &entry{
		info: ModuleInfo{
			Name: name, SHA256: hex.EncodeToString(sum[:]), Size: len(wasm),
			RegisteredAt: time.Now().UTC(),
		},
		compiled:  compiled,
		minPages:  shape.minPages,
		pools:     make(map[uint32][]*instance),
		refilling: make(map[uint32]bool),
	}
	if err := r.checkInstantiate(ctx, e, wasm); err != nil {
		e.close(ctx)
		return ModuleInfo{}, err
	}
	r.prewarm(ctx, e)
	if err := ctx.Err(); err != nil {
		e.close(ctx)
		return ModuleInfo{}, fmt.Errorf("hooks: register %s: %w", name, err)
	}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		e.close(ctx)
		return ModuleInfo{}, fmt.Errorf("hooks: register %s: %w", name, ErrClosed)
	}
	old := r.mods[name]
	r.mods[name] = e
	r.mu.Unlock()
	if old != nil {
		old.retire(ctx)
	}
	r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "hook module registered",
		slog.String("hook", name), slog.String("sha256", e.info.SHA256), slog.Int("size", len(wasm)), slog.Bool("replaced", old != nil))
	return e.info, nil
}

// prewarm fills e's pool for the default memory limit with up to
// WithPoolSize instances.
func (r *Runtime) prewarm(ctx context.Context, e *entry) {
	pages := r.pages(0)
	if e.minPages > pages {
		return
	}
	for range r.cfg.poolSize - e.idle(pages) {
		if !r.warm(ctx, e, pages) {
			return
		}
	}
}

// warm adds one instance with the memory limit pages to e's pool and
// reports whether it could. Failures are logged.
func (r *Runtime) warm(ctx context.Context, e *entry, pages uint32) bool {
	if err := r.acquireSlot(ctx); err != nil {
		return false
	}
	cs := &callState{hook: e.info.Name, abort: r.abort}
	tctx, cancel := context.WithTimeoutCause(ctx, prewarmTimeout, errHookTimeout)
	cs.setDeadline(tctx, time.Now(), prewarmTimeout)
	var inst *instance
	var err error
	r.threads.run(func() { inst, err = r.instantiate(context.WithValue(tctx, callKey{}, cs), e, pages, cs) })
	var ce *CallError
	if err != nil {
		ce = classify(tctx, cs, inst, e.info.Name, prewarmTimeout, err)
	}
	cancel()
	r.releaseSlot()
	emitLogs(ctx, r.cfg.logger, e.info.Name, "", cs.logs.finish())
	if ce != nil {
		if inst != nil {
			inst.close(ctx)
		}
		r.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "hook module could not be pre-warmed",
			slog.String("hook", e.info.Name), slog.Any("err", ce))
		return false
	}
	inst.cs = nil
	e.put(ctx, inst, r.cfg.maxIdle())
	return true
}

// refill replaces, in the background, an instance recycled from e's pool
// with the memory limit pages, so that the next call does not pay for
// instantiating (and _initialize). It does nothing if the pool already
// holds WithPoolSize idle instances or is being refilled. Instances
// discarded after a failure are not replaced: a module that keeps failing
// must not keep the runtime busy instantiating it. The goroutine is owned
// by the Runtime: Close waits for it, and it ends within prewarmTimeout.
func (r *Runtime) refill(ctx context.Context, e *entry, pages uint32) {
	if r.cfg.poolSize == 0 || e.retired.Load() {
		return
	}
	e.mu.Lock()
	if e.closed || e.refilling[pages] || len(e.pools[pages]) >= r.cfg.poolSize {
		e.mu.Unlock()
		return
	}
	e.refilling[pages] = true
	e.mu.Unlock()
	// The calling Call is in flight, so Close has not finished waiting
	// and the entry is not closed: both counters are above zero.
	r.inflight.Add(1)
	r.refills.Add(1)
	e.refs.Add(1)
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer r.refills.Done()
		defer r.inflight.Done()
		r.warm(ctx, e, pages)
		e.mu.Lock()
		delete(e.refilling, pages)
		e.mu.Unlock()
		e.release(ctx)
	}()
}

// Remove unregisters a module. Calls in flight finish on it; its compiled
// code is released when the last of them ends. It returns an error
// wrapping ErrNotFound if no module has the name.
func (r *Runtime) Remove(ctx context.Context, name string) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("hooks: remove %s: %w", name, ErrClosed)
	}
	e := r.mods[name]
	delete(r.mods, name)
	r.mu.Unlock()
	if e == nil {
		return fmt.Errorf("hooks: remove %s: %w", name, ErrNotFound)
	}
	e.retire(ctx)
	r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "hook module removed", slog.String("hook", name))
	return nil
}

// Module describes the module registered as name, if any.
func (r *Runtime) Module(name string) (ModuleInfo, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if e := r.mods[name]; e != nil {
		return e.info, true
	}
	return ModuleInfo{}, false
}

// Modules describes the registered modules, sorted by name.
func (r *Runtime) Modules() []ModuleInfo {
	r.mu.RLock()
	out := make([]ModuleInfo, 0, len(r.mods))
	for _, e := range r.mods {
		out = append(out, e.info)
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b ModuleInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Close stops accepting calls, waits for those in flight (each ends
// within its timeout) for as long as ctx allows, and then releases every
// module, instance and the compilation cache handle (not its files).
// Calls still running when ctx ends are interrupted and fail. Close
// returns ctx's error in that case; closing twice returns nil.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	mods := r.mods
	r.mods = nil
	r.mu.Unlock()
	close(r.done)
	r.closeCancel()
	for _, e := range mods {
		e.retire(ctx)
	}
	waited := make(chan struct{})
	go func() {
		r.inflight.Wait()
		r.compiles.Wait()
		close(waited)
		r.threads.stop() // nothing runs guest code any more
	}()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = fmt.Errorf("hooks: close: %w", ctx.Err())
		// Guests still running stop at their next tick, within
		// microseconds; closing wazero under them is not safe, so wait
		// for that, a little.
		close(r.abort)
		select {
		case <-waited:
		case <-time.After(closeGrace):
		}
	}
	if cerr := r.wz.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
		err = fmt.Errorf("hooks: close: %w", cerr)
	}
	if r.cache != nil {
		if cerr := r.cache.Close(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = fmt.Errorf("hooks: close compilation cache: %w", cerr)
		}
	}
	return err
}

// begin counts an operation in flight, or fails with ErrClosed.
func (r *Runtime) begin() error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return ErrClosed
	}
	r.inflight.Add(1)
	return nil
}

// acquire finds the entry of name and counts a call in flight on it.
func (r *Runtime) acquire(name string) (*entry, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return nil, ErrClosed
	}
	e := r.mods[name]
	if e == nil {
		return nil, ErrNotFound
	}
	e.refs.Add(1)
	r.inflight.Add(1)
	return e, nil
}

// release ends a call started by acquire.
func (r *Runtime) release(ctx context.Context, e *entry) {
	e.release(ctx)
	r.inflight.Done()
}

func (r *Runtime) isClosed() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.closed
}

// acquireSlot waits for a concurrency slot, for as long as ctx allows.
func (r *Runtime) acquireSlot(ctx context.Context) error { return r.slots.acquire(ctx, r.done) }

func (r *Runtime) releaseSlot() { r.slots.release() }

// pages is the memory limit, in pages, of a call asking for memoryMB.
func (r *Runtime) pages(memoryMB int) uint32 {
	if memoryMB <= 0 {
		memoryMB = DefaultMemoryMB
	}
	return uint32(min(memoryMB, r.cfg.maxMemoryMB)) * (1 << 20 / wasmPageBytes)
}

// instantiate creates an instance of e with a memory limit of pages,
// running _initialize under ctx (which carries cs).
func (r *Runtime) instantiate(ctx context.Context, e *entry, pages uint32, cs *callState) (inst *instance, err error) {
	if e.minPages > pages {
		return nil, &fault{reason: ReasonMemory, err: fmt.Errorf(
			"the module declares %d pages of memory, over its limit of %d pages (%d MiB)", e.minPages, pages, pages/16)}
	}
	r.instantiations.add(1)
	inst = &instance{pages: pages, lin: &linearMemory{limit: uint64(pages) * wasmPageBytes}, cs: cs}
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(exportInit).
		WithStdout(&stdioWriter{inst: inst, stream: 0}).
		WithStderr(&stdioWriter{inst: inst, stream: 1})
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("instantiate: %v", p)
		}
	}()
	mod, err := r.wz.InstantiateModule(experimental.WithMemoryAllocator(ctx, inst.lin), e.compiled, mc)
	if err != nil {
		return inst, err
	}
	inst.mod = mod
	if mod.IsClosed() {
		// wazero returns, without an error, a module whose start function
		// exited with code 0 (WASI proc_exit(0)): nothing can run in it.
		return inst, &fault{reason: ReasonTrap, err: fmt.Errorf("%s exited with code 0", exportInit)}
	}
	inst.handle = mod.ExportedFunction(exportHandle)
	inst.mem = mod.ExportedMemory(exportMemory)
	inst.ticks, _ = mod.ExportedGlobal(wasmbin.ExportTicks).(api.MutableGlobal)
	inst.depth, _ = mod.ExportedGlobal(wasmbin.ExportDepth).(api.MutableGlobal)
	if inst.handle == nil || inst.mem == nil || inst.ticks == nil || inst.depth == nil {
		_ = mod.Close(ctx)
		return inst, &fault{reason: ReasonABI, err: fmt.Errorf("instance lacks %s or %s", exportHandle, exportMemory)}
	}
	inst.baseSize = inst.mem.Size()
	return inst, nil
}
