package hooks

import (
	"context"
	"log/slog"
	"runtime"
	"time"
)

// Defaults of a Runtime's options and of a call's Limits.
const (
	// DefaultTimeout is the wall-clock limit of a call whose
	// Limits.Timeout is zero.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultMemoryMB is the linear memory limit of a call whose
	// Limits.MemoryMB is zero.
	DefaultMemoryMB = 16
	// DefaultPoolSize is the number of instances pre-warmed per module.
	DefaultPoolSize = 2
	// DefaultMaxIdle is the least number of idle instances kept per module
	// and memory limit.
	DefaultMaxIdle = 8
	// DefaultRecycleAfter is the number of calls after which an instance
	// is replaced by a fresh one.
	DefaultRecycleAfter = 1000
	// DefaultMaxMemoryMB is the largest memory limit a call may ask for.
	DefaultMaxMemoryMB = 256
	// MaxOutputBytes is the largest output envelope a hook may write.
	MaxOutputBytes = 1 << 20
	// DefaultCompileTimeout bounds the compilation of one module.
	DefaultCompileTimeout = 2 * time.Minute
)

// Option configures a Runtime. Options are applied, in order, to a copy of
// the defaults by New; an Option never fails, New validates the result.
type Option func(*config)

// config is the validated configuration of a Runtime. It is never
// changed after New.
type config struct {
	cacheDir       string
	logger         *slog.Logger
	maxConcurrency int
	poolSize       int
	recycleAfter   int
	maxMemoryMB    int
	nice           int
	moduleLimits   ModuleLimits
	compileTimeout time.Duration
	compiles       int

	// Test seams, set only by this package's tests.

	// onRun, when set, is called on the calling goroutine once a call holds
	// its concurrency slot, before any guest code runs; the function it
	// returns, if any, is called before the slot is released.
	onRun func(ctx context.Context, hook string) (done func())
	// onWait, when set, is called when a call (or an instantiation)
	// begins to wait for a concurrency slot.
	onWait func()
	// initTimeout replaces DefaultInitTimeout when positive.
	initTimeout time.Duration
}

func defaultConfig() config {
	return config{
		logger:         slog.New(slog.DiscardHandler),
		maxConcurrency: DefaultConcurrency(),
		poolSize:       DefaultPoolSize,
		recycleAfter:   DefaultRecycleAfter,
		maxMemoryMB:    DefaultMaxMemoryMB,
		moduleLimits:   DefaultModuleLimits(),
		compileTimeout: DefaultCompileTimeout,
		compiles:       DefaultCompileConcurrency(),
	}
}

// maxIdle is the number of idle instances kept per pool.
func (c *config) maxIdle() int { return max(c.poolSize, DefaultMaxIdle) }

// WithCacheDir keeps compiled modules in dir (created if missing) so that
// a restarted process, or another Runtime using the same directory,
// registers a module it has seen before without compiling it again. The
// empty string, the default, keeps compiled code in memory only.
func WithCacheDir(dir string) Option {
	return func(c *config) { c.cacheDir = dir }
}

// WithLogger sets where the runtime logs, including every line a hook
// logs (through hook.log, stdout or stderr), with the attributes hook and
// request_id. nil, like the default, discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.logger = l
	}
}

// DefaultConcurrency is the default of WithMaxConcurrency: GOMAXPROCS
// less one, and at least one. Guest code that computes holds its P (the Go
// scheduler takes it back only every 10 ms), so as many CPU-bound calls as
// Ps would leave requests that run no hook waiting behind them.
func DefaultConcurrency() int { return concurrencyFor(runtime.GOMAXPROCS(0)) }

// concurrencyFor is the default concurrency with procs Ps.
func concurrencyFor(procs int) int { return max(1, procs-1) }

// WithMaxConcurrency bounds the guest calls (and instantiations) running
// at once across all modules. Callers beyond it wait for a slot for as
// long as their context allows. n <= 0 means the default, GOMAXPROCS−1
// (at least 1), which keeps a P free for work that runs no hook however
// long the hooks compute.
func WithMaxConcurrency(n int) Option {
	return func(c *config) {
		if n <= 0 {
			n = DefaultConcurrency()
		}
		c.maxConcurrency = n
	}
}

// WithNice runs the guest code of modules whose last call ran 1 ms or
// more on dedicated OS threads of nice value n, from 1 to 19, so that the
// kernel gives the CPU to the process's other threads first: requests
// that run no hook are served promptly while hooks compute, and hooks use
// the CPU those leave. The nice value counts among the threads of the
// same kernel scheduling group (the process's cgroup or session), not
// against other services. The price: under a load that keeps every CPU
// busy without hooks, hooks get little of it and may reach their
// timeouts, so their writes fail where they would only have slowed down.
// n = 0, the default, runs guest code on the callers' threads at their
// priority; n is clamped to 0–19. Linux only: elsewhere guest code runs
// on the callers' threads.
func WithNice(n int) Option {
	return func(c *config) { c.nice = min(max(n, 0), 19) }
}

// NiceWorks reports whether WithNice takes effect on this system.
func NiceWorks() bool { return threadNiceWorks }

// WithPoolSize sets how many instances Register pre-warms per module
// (default 2; 0 pre-warms none). Up to max(n, 8) idle instances are kept
// per module and memory limit. n < 0 means the default.
func WithPoolSize(n int) Option {
	return func(c *config) {
		if n < 0 {
			n = DefaultPoolSize
		}
		c.poolSize = n
	}
}

// WithRecycleAfter replaces an instance by a fresh one after it has
// served calls calls (default 1000). Instances whose memory grew by more
// than half its size after _initialize, and at least 2 MiB, are replaced
// whatever their count. calls <= 0 means the default.
func WithRecycleAfter(calls int) Option {
	return func(c *config) {
		if calls <= 0 {
			calls = DefaultRecycleAfter
		}
		c.recycleAfter = calls
	}
}

// WithMaxMemoryMB sets the largest linear memory, in MiB, a hook may be
// given (default 256, at most 4096). Register refuses modules whose
// declared minimum memory is larger; Call clamps Limits.MemoryMB to it.
// n <= 0 means the default.
func WithMaxMemoryMB(n int) Option {
	return func(c *config) {
		if n <= 0 {
			n = DefaultMaxMemoryMB
		}
		c.maxMemoryMB = n
	}
}

// WithModuleLimits sets the limits on the structure of the modules
// Register accepts (see ModuleLimits); its zero fields keep their
// defaults. A module over one is refused with an error wrapping
// ErrInvalidModule that names the limit.
func WithModuleLimits(l ModuleLimits) Option {
	return func(c *config) { c.moduleLimits = l.withDefaults() }
}

// WithCompileTimeout bounds the compilation of one module (default 2
// minutes); a module that takes longer is refused with an error wrapping
// ErrInvalidModule. d <= 0 means the default.
func WithCompileTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			d = DefaultCompileTimeout
		}
		c.compileTimeout = d
	}
}

// DefaultCompileConcurrency is the default of WithCompileConcurrency: half
// of GOMAXPROCS, at least one.
func DefaultCompileConcurrency() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// WithCompileConcurrency bounds the modules compiled at once (each uses up
// to two threads); further registrations wait, as long as their context
// allows. n <= 0 means the default, half of GOMAXPROCS (at least 1).
func WithCompileConcurrency(n int) Option {
	return func(c *config) {
		if n <= 0 {
			n = DefaultCompileConcurrency()
		}
		c.compiles = n
	}
}
