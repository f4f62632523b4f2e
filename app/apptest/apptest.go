// Package apptest is the test fixture every package's tests build Strata
// with: a Manager over a real bolt file in a temporary directory (or, on
// request, a PostgreSQL database of its own), and on request the Bleve
// search index, the WASM hook runtime with a compile
// cache shared by the whole test binary, the whole server as package app
// builds it, and that server answering HTTP on a loopback port. Everything
// New builds is closed at the test's cleanup, in the reverse order.
//
//	env := apptest.New(t)                                  // a Manager
//	env := apptest.New(t, apptest.WithIndex())             // and search
//	env := apptest.New(t, apptest.WithCore(func(o *core.Options) { o.Hooks = fake }))
//	env := apptest.New(t, apptest.Served(func(c *app.Config) { c.Auth.AdminKey = key }))
//	env := apptest.New(t, apptest.WithBackend(apptest.Postgres), apptest.WithIndex())
//
// A test that must hold on every durable backend runs once per entry of
// [Backends], each run building its Env WithBackend(b).
//
// Two wirings stand behind New, both the product's own. Without WithApp
// or Served, New opens the store and calls core.Open itself, so a test
// may set any core.Options (a fake hook runner, a clock). With either, it
// calls app.New, as `strata serve` does, and serves through App.Serve,
// which reads connections through server.Listener like the real server;
// core options then come only from app.Config, and WithCore is refused.
//
// The package imports core, index, hooks, server and app, so the internal
// tests of those packages (package core, package index, ...) cannot use
// it: that would be an import cycle. Their external test packages can.
package apptest

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/hooks"
	"github.com/strata-dev/strata/index"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/plugins/postgres/pgtest"
	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/webhook"
)

// Env is one built Strata: its parts, to drive directly. Fields that do
// not apply to what was asked for are nil or empty.
type Env struct {
	// Dir is the data directory: the bolt file, the index in Dir/index.
	Dir string
	// Path is the bolt file, Dir/strata.db; empty over another store.
	Path string
	// StorageURL is the postgres URL of the database the store is in, over
	// PostgreSQL; empty over another store.
	StorageURL string
	// Store is the storage the Manager runs over.
	Store storage.Store
	// Manager is the core.
	Manager *core.Manager
	// Index is the Bleve index, with WithIndex.
	Index *index.Index
	// Hooks is the WASM hook runtime, with WithHooks (without WithApp;
	// app.New keeps its own runtime to itself).
	Hooks *hooks.Runtime
	// App is the whole server, with WithApp or Served.
	App *app.App
	// URL is where the server answers ("http://127.0.0.1:port"), with
	// Served.
	URL string

	tb      testing.TB
	cfg     config
	closers []func() error
	closed  bool
}

// config is what the options set.
type config struct {
	dir     string
	memory  bool
	backend Backend
	pgURL   string // the database of a Postgres Env, made by New
	index   bool
	hooks   bool
	core    []func(*core.Options)
	wrap    func(storage.Store) storage.Store
	app     []func(*app.Config)
	useApp  bool
	serve   bool
}

// Option changes what New builds.
type Option func(*config)

// WithDir builds over the data directory dir instead of a new temporary
// one: a second Env over the dir of a closed one finds its data again.
func WithDir(dir string) Option { return func(c *config) { c.dir = dir } }

// WithMemoryStore runs over the memory store instead of a bolt file: for
// fuzzers, whose throughput a disk write per operation would cut down.
// Its data does not outlive Close: Reopen starts empty.
func WithMemoryStore() Option { return func(c *config) { c.memory = true } }

// Backend names a durable storage backend an Env can run over.
type Backend string

// The durable backends.
const (
	// Bolt is a bolt file in the data directory: the default.
	Bolt Backend = "bolt"
	// Postgres is a PostgreSQL database made for the Env by
	// [pgtest.NewDatabase] on the machine's server and dropped at the
	// test's cleanup; Reopen finds the same database. Without a server the
	// test is skipped, except under CI, where it fails.
	Postgres Backend = "postgres"
)

// Backends are the durable backends, in the order tests run them: a test
// of behaviour the store must not change runs over each.
var Backends = []Backend{Bolt, Postgres}

// WithBackend runs over backend b instead of a bolt file. The data
// directory is kept for the index, whatever the backend.
func WithBackend(b Backend) Option { return func(c *config) { c.backend = b } }

// WithPostgresDatabase runs over the PostgreSQL database at url, as
// WithBackend(Postgres) does over a new one: a second Env over the
// StorageURL of a closed one finds its data again. The caller owns the
// database.
func WithPostgresDatabase(url string) Option {
	return func(c *config) { c.backend, c.pgURL = Postgres, url }
}

// WithStoreWrap puts wrap(store) between the store and the Manager, to
// inject faults; Env.Store is the wrapped store. The Env closes the store
// it opened, not the wrapper.
func WithStoreWrap(wrap func(storage.Store) storage.Store) Option {
	return func(c *config) { c.wrap = wrap }
}

// WithIndex builds the Bleve search index in Dir/index over the
// Manager's change feed.
func WithIndex() Option { return func(c *config) { c.index = true } }

// WithHooks gives the Manager a WASM hook runtime whose compiled modules
// go to the compile cache shared by the test binary (see HookCacheDir).
// An Env built with WithApp always has one.
func WithHooks() Option { return func(c *config) { c.hooks = true } }

// WithCore changes the core.Options the Manager is opened with. Options
// set by WithIndex and WithHooks are set before f runs, so f may wrap or
// replace them.
func WithCore(f func(*core.Options)) Option { return func(c *config) { c.core = append(c.core, f) } }

// WithApp builds the whole server with app.New, configured by f (which
// may be nil). The Store, Data and HookCacheDir it is given are the Env's;
// Data is left empty, and so the index out, unless WithIndex is given.
func WithApp(f func(*app.Config)) Option {
	return func(c *config) {
		c.useApp = true
		if f != nil {
			c.app = append(c.app, f)
		}
	}
}

// Served is WithApp(f), then the server answering HTTP on a loopback port
// until cleanup: Env.URL.
func Served(f func(*app.Config)) Option {
	return func(c *config) {
		WithApp(f)(c)
		c.serve = true
	}
}

// New builds an Env as opts say and registers its Close at tb's cleanup.
// It fails tb on any error.
func New(tb testing.TB, opts ...Option) *Env {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.dir == "" {
		cfg.dir = tb.TempDir()
	}
	switch cfg.backend {
	case "", Bolt:
	case Postgres:
		if cfg.memory {
			tb.Fatalf("apptest: WithMemoryStore and WithBackend(%s) exclude each other", cfg.backend)
		}
		if cfg.pgURL == "" {
			// Made before Close is registered, so dropped after it.
			cfg.pgURL = pgtest.NewDatabase(tb)
		}
	default:
		tb.Fatalf("apptest: unknown backend %q", cfg.backend)
	}
	e := &Env{tb: tb, cfg: cfg, Dir: cfg.dir}
	tb.Cleanup(e.Close)
	if err := e.build(); err != nil {
		e.Close()
		tb.Fatalf("apptest: %v", err)
	}
	return e
}

func (e *Env) build() error {
	ctx := core.AsSystem(context.Background())
	cfg := e.cfg
	var err error
	switch {
	case cfg.memory:
		e.Store, err = memory.Open(ctx, "", storage.OpenOptions{})
	case cfg.backend == Postgres:
		e.StorageURL = cfg.pgURL
		e.Store, err = postgres.OpenURL(ctx, cfg.pgURL, postgres.Options{})
	default:
		e.Path = filepath.Join(e.Dir, "strata.db")
		e.Store, err = bolt.Open(ctx, e.Path, storage.OpenOptions{})
	}
	if err != nil {
		return err
	}
	store := e.Store
	e.closers = append(e.closers, store.Close)
	if cfg.wrap != nil {
		store = cfg.wrap(store)
		e.Store = store
	}
	if cfg.useApp {
		// As strata serve does, with no principal in the context.
		return e.buildApp(context.Background())
	}

	o := core.Options{WebhookTransport: webhook.HTTP{}}
	if cfg.hooks {
		dir, err := hookCacheDir()
		if err != nil {
			return err
		}
		if e.Hooks, err = hooks.New(ctx, hooks.WithCacheDir(dir)); err != nil {
			return err
		}
		rt := e.Hooks
		e.closers = append(e.closers, func() error { return rt.Close(context.Background()) })
		o.Hooks = hooks.CoreRunner(rt)
	}
	if cfg.index {
		dir := filepath.Join(e.Dir, "index")
		o.Search = func(ctx context.Context, feed core.ChangeFeed) (core.Searcher, error) {
			ix, err := index.Open(ctx, dir, feed, o.Logger)
			if err != nil {
				return nil, err
			}
			e.Index = ix
			return ix, nil
		}
	}
	for _, f := range cfg.core {
		f(&o)
	}
	if e.Manager, err = core.Open(ctx, store, o); err != nil {
		return err
	}
	m := e.Manager
	e.closers = append(e.closers, m.Close)
	if e.Index != nil {
		// The index follows the Manager: it stops first.
		ix := e.Index
		e.closers = append(e.closers, ix.Close)
	}
	return nil
}

// buildApp builds the Env with app.New and serves it when asked.
func (e *Env) buildApp(ctx context.Context) error {
	if len(e.cfg.core) > 0 {
		return errors.New("WithCore does not apply to an Env built by app.New")
	}
	dir, err := hookCacheDir()
	if err != nil {
		return err
	}
	ac := app.Config{Store: e.Store, HookCacheDir: dir}
	if e.cfg.index {
		ac.Data = e.Dir
	}
	for _, f := range e.cfg.app {
		f(&ac)
	}
	if e.App, err = app.New(ctx, ac); err != nil {
		return err
	}
	a := e.App
	e.Manager, e.Index = a.Manager(), a.Index()
	e.closers = append(e.closers, func() error { return a.Close(context.Background()) })
	if !e.cfg.serve {
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.URL = "http://" + ln.Addr().String()
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.Serve(serveCtx, ln) }()
	e.closers = append(e.closers, func() error { stop(); return <-served })
	return nil
}

// Close takes down what New built, in the reverse order, and fails the
// test on any error. It runs at cleanup; a test may call it earlier, to
// open the same directory again (Reopen) or check what a stop leaves.
// Later calls do nothing.
func (e *Env) Close() {
	e.tb.Helper()
	if e.closed {
		return
	}
	e.closed = true
	var errs []error
	for i := len(e.closers) - 1; i >= 0; i-- {
		errs = append(errs, e.closers[i]())
	}
	if err := errors.Join(errs...); err != nil {
		e.tb.Errorf("apptest: close: %v", err)
	}
}

// Reopen closes e and builds a new Env over the same directory with the
// same options, as a restart does.
func (e *Env) Reopen() *Env {
	e.tb.Helper()
	e.Close()
	cfg := e.cfg
	return New(e.tb, func(c *config) { *c = cfg })
}

// hookCache is the compile cache of the test binary's hook runtimes.
var hookCache struct {
	once sync.Once
	dir  string
	err  error
}

// hookCacheDir makes, once per test binary, the directory every hook
// runtime built here caches compiled modules in, as a real server shares
// one across restarts: compiling the 3 MB Go example hook takes half a
// minute under the race detector on a small machine, so only the first
// registration of a module may pay for it. Main removes it.
func hookCacheDir() (string, error) {
	hookCache.once.Do(func() {
		hookCache.dir, hookCache.err = os.MkdirTemp("", "strata-test-hooks-cache-")
	})
	return hookCache.dir, hookCache.err
}

// HookCacheDir is the directory the hook runtimes of the test binary
// share as their compile cache.
func HookCacheDir(tb testing.TB) string {
	tb.Helper()
	dir, err := hookCacheDir()
	if err != nil {
		tb.Fatalf("apptest: hook compile cache: %v", err)
	}
	return dir
}

// Main runs the tests and removes the shared hook compile cache; a test
// binary whose Envs run hooks calls it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if hookCache.dir != "" {
		_ = os.RemoveAll(hookCache.dir)
	}
	return code
}

// compiled holds, by sha256, a sync.Once per module WarmHooks compiled.
var compiled sync.Map

// WarmHooks compiles wasm into the shared compile cache once per test
// binary; callers with the same module wait for the first, so tests
// running in parallel never compile one module twice. A module that does
// not compile is left to the registration under test to report.
func WarmHooks(tb testing.TB, wasm []byte) {
	tb.Helper()
	dir := HookCacheDir(tb)
	once, _ := compiled.LoadOrStore(sha256.Sum256(wasm), new(sync.Once))
	once.(*sync.Once).Do(func() {
		ctx := context.Background()
		rt, err := hooks.New(ctx, hooks.WithCacheDir(dir), hooks.WithPoolSize(0))
		if err != nil {
			tb.Fatalf("apptest: hook runtime: %v", err)
		}
		defer rt.Close(ctx)
		_, _ = rt.Register(ctx, "warm", wasm)
	})
}
