// Package app is Strata's composition root: New builds storage, the hook
// runtime, core, the search index, authentication and the HTTP server, in
// that order and in one place, from one flat Config; Close takes them down
// in reverse. `strata serve`, the server tests and programs that embed
// Strata (examples/embed) all build a server this way, so there is one
// wiring to keep right.
//
// The arrows stay those of the rest of Strata: app imports every package
// it wires, and none of them imports app.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/blobfs"
	"github.com/strata-dev/strata/blobstore"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/hooks"
	"github.com/strata-dev/strata/index"
	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/server"
	"github.com/strata-dev/strata/webhook"
)

// Config says what New builds. Its zero value is not enough: storage must
// be given, as Store or as StorageURL with Drivers. Every other zero value
// is documented as a default.
type Config struct {
	// Store is the storage to run over; the caller opened it and closes it
	// after Close. When nil, New opens StorageURL (scheme:location, e.g.
	// bolt:./strata_data/strata.db) with Drivers, and Close closes it.
	Store      storage.Store
	StorageURL string
	Drivers    *storage.Registry

	// Data is the data directory: the search index lives in Data/index,
	// and compiled hook modules are cached in Data/hooks-cache. Empty runs
	// without a search index (filter, q and sort are then refused as
	// invalid) and without a compilation cache.
	Data string
	// HookCacheDir overrides Data/hooks-cache (tests share one across
	// servers so a module compiles once).
	HookCacheDir string
	// HooksDir is a directory of hook modules loaded at start and watched
	// for changes every HooksPollInterval (zero: a second). Empty: none.
	HooksDir          string
	HooksPollInterval time.Duration
	// HookConcurrency bounds the hook calls running at once; more wait
	// for a slot, the most urgent request first (hooks.WithMaxConcurrency).
	// Zero or less: GOMAXPROCS−1, at least 1, so that hooks that compute
	// leave a core to the requests that run none.
	HookConcurrency int
	// HookNice, from 1 to 19, runs hooks that take 1 ms or more on
	// threads of that nice value, so that the kernel serves requests
	// first, at the risk of hook timeouts when requests alone keep every
	// CPU busy (hooks.WithNice). Zero, the default: hooks run on the
	// requests' threads, at their priority.
	HookNice int
	// HookLimits bound what a hook module may declare (zero fields: the
	// defaults), and HookCompileTimeout its compilation (zero: 2 min).
	HookLimits         hooks.ModuleLimits
	HookCompileTimeout time.Duration

	// Types are declared types applied at start (see core.Options.Types).
	Types []core.Type
	// MaxDocumentSize bounds stored documents (core.Options.MaxDocumentSize;
	// zero: core.DefaultMaxDocumentSize).
	MaxDocumentSize int
	// Webhooks configure webhook delivery (core.Options.Webhooks).
	Webhooks core.WebhookOptions
	// ChangesRetention is how long consumed change-log entries are kept
	// (core.Options.ChangesRetention); zero keeps them forever. strata
	// serve's default is core.DefaultChangesRetention.
	ChangesRetention time.Duration
	// KeepLast is the revision retention of the types that set none
	// (core.Options.KeepLast); zero keeps every revision.
	KeepLast int

	// BlobLimit and BlobGrace bound blobs (core.Options.BlobLimit,
	// BlobGrace). Blobs are kept under Data/blobs; without Data there is
	// no blob storage. Over a store other nodes share (PostgreSQL) their
	// bytes are kept in the store instead, where every node reads them
	// (package blobstore), and uploads are staged in Data/blob-uploads,
	// or the system's temporary directory without Data.
	BlobLimit int64
	BlobGrace time.Duration
	// NodeID, FollowInterval and LeaseTTL set this node's part when other
	// nodes share its storage (core.Options; zero values: the defaults).
	NodeID         string
	FollowInterval time.Duration
	LeaseTTL       time.Duration
	// NoMetrics turns the Prometheus metrics off: requests are not
	// counted and /metrics answers 404.
	NoMetrics bool

	// Auth configures the authenticator, whose API keys are kept in the
	// store; it is not used when Server.Auth is set.
	Auth auth.Config
	// Server are the HTTP server's options. A nil Server.Logger is Logger.
	Server server.Options
	// ShutdownTimeout bounds Serve's wait for in-flight requests once its
	// context is done; the search index then gets what is left of it to
	// persist its last batches in Close. Zero or less waits without a
	// bound.
	ShutdownTimeout time.Duration

	// Logger receives the diagnostics of every part. Nil discards them.
	Logger *slog.Logger
}

// App is a built Strata server: its parts, wired. Serve runs it on a
// listener; Handler-style use mounts Server() on a Fiber app of one's own.
type App struct {
	log     *slog.Logger
	timeout time.Duration

	store   storage.Store
	runtime *hooks.Runtime
	manager *core.Manager
	index   *index.Index // nil without Data
	auth    *auth.Authenticator
	server  *server.Server

	// closers run in reverse order in Close: each part built adds its own.
	closers []func(ctx context.Context) error

	mu         sync.Mutex
	shutdownBy time.Time // set by Serve when its context ends
	closeOnce  sync.Once
	closeErr   error
}

// New builds every part of a server from cfg. On error, what was built is
// closed again.
func New(ctx context.Context, cfg Config) (_ *App, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &App{log: log, timeout: cfg.ShutdownTimeout}
	defer func() {
		if err != nil {
			_ = a.Close(context.WithoutCancel(ctx))
		}
	}()

	a.store = cfg.Store
	if a.store == nil {
		if cfg.Drivers == nil {
			return nil, errors.New("app: no storage: set Config.Store, or StorageURL and Drivers")
		}
		if a.store, err = cfg.Drivers.Open(ctx, cfg.StorageURL, storage.OpenOptions{Logger: log}); err != nil {
			return nil, err
		}
		store := a.store
		a.closers = append(a.closers, func(context.Context) error {
			if err := store.Close(); err != nil {
				return fmt.Errorf("close storage: %w", err)
			}
			return nil
		})
	}

	hookOpts := []hooks.Option{hooks.WithLogger(log), hooks.WithMaxConcurrency(cfg.HookConcurrency), hooks.WithNice(cfg.HookNice),
		hooks.WithModuleLimits(cfg.HookLimits), hooks.WithCompileTimeout(cfg.HookCompileTimeout)}
	if dir := cfg.HookCacheDir; dir != "" {
		hookOpts = append(hookOpts, hooks.WithCacheDir(dir))
	} else if cfg.Data != "" {
		hookOpts = append(hookOpts, hooks.WithCacheDir(filepath.Join(cfg.Data, "hooks-cache")))
	}
	if a.runtime, err = hooks.New(ctx, hookOpts...); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func(ctx context.Context) error {
		if err := a.runtime.Close(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("close hook runtime: %w", err)
		}
		return nil
	})
	// Modules before core: declared types may bind them.
	if cfg.HooksDir != "" {
		interval := cfg.HooksPollInterval
		if interval <= 0 {
			interval = time.Second
		}
		watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
		watched, err := hooks.LoadDir(watchCtx, a.runtime, cfg.HooksDir, interval, log)
		if err != nil {
			stopWatch()
			return nil, err
		}
		a.closers = append(a.closers, func(context.Context) error { stopWatch(); <-watched; return nil })
	}

	// The index is built by core.Open, over the Manager's change feed,
	// once the declared types are applied.
	opts := core.Options{Logger: log, Hooks: hooks.CoreRunner(a.runtime),
		MaxDocumentSize: cfg.MaxDocumentSize, Types: cfg.Types, Webhooks: cfg.Webhooks, WebhookTransport: webhook.HTTP{},
		ChangesRetention: cfg.ChangesRetention, KeepLast: cfg.KeepLast, BlobLimit: cfg.BlobLimit, BlobGrace: cfg.BlobGrace,
		NodeID: cfg.NodeID, FollowInterval: cfg.FollowInterval, LeaseTTL: cfg.LeaseTTL}
	if _, shared := storage.Shared(a.store); shared {
		// Other nodes serve the blobs this one stores: the bytes go in
		// the store, which they all read.
		tmp := ""
		if cfg.Data != "" {
			tmp = filepath.Join(cfg.Data, "blob-uploads")
		}
		bs, err := blobstore.New(core.BlobBytesKeyspace(a.store), blobstore.Options{TempDir: tmp})
		if err != nil {
			return nil, err
		}
		opts.Blobs = bs
	} else if cfg.Data != "" {
		dir, err := blobfs.Open(filepath.Join(cfg.Data, "blobs"))
		if err != nil {
			return nil, err
		}
		opts.Blobs = dir
	}
	var metrics *server.Metrics
	if !cfg.NoMetrics {
		metrics = server.NewMetrics()
		opts.Metrics = metrics
	}
	if cfg.Data != "" {
		dir := filepath.Join(cfg.Data, "index")
		opts.Search = func(ctx context.Context, feed core.ChangeFeed) (core.Searcher, error) {
			ix, err := index.Open(ctx, dir, feed, log)
			if err != nil {
				return nil, err
			}
			a.index = ix
			return ix, nil
		}
	}
	// Open calls opts.Search last, so an Open that fails has built no index.
	if a.manager, err = core.Open(ctx, a.store, opts); err != nil {
		return nil, err
	}
	m := a.manager
	a.closers = append(a.closers, func(context.Context) error { return m.Close() })
	if a.index != nil {
		// The index follows the Manager: it stops first.
		a.closers = append(a.closers, a.closeIndex)
	}

	so := cfg.Server
	if so.Logger == nil {
		so.Logger = log
	}
	if metrics != nil && so.Metrics == nil {
		metrics.Watch(m, a.watched(cfg))
		so.Metrics = metrics
	}
	if so.Auth == nil {
		keys := auth.NewKeys(a.store)
		// Keys revoked on another node sharing the store are refused here
		// once this node sees the change.
		m.OnConfigChange(keys.Flush)
		if a.auth, err = newAuthenticator(ctx, keys, cfg.Auth, log); err != nil {
			return nil, err
		}
		so.Auth = a.auth
	}
	a.server = server.New(a.manager, so)
	return a, nil
}

// Reindex rebuilds the search index in cfg.Data/index from storage: the
// indexes of the named types, or of every type recorded as indexed when
// none is named. It returns the names of the types it rebuilt. No server
// may be running over the same data: `strata reindex` runs it with the
// server stopped. Only cfg's storage, Data and Logger are used.
func Reindex(ctx context.Context, cfg Config, types ...string) (_ []string, err error) {
	if cfg.Data == "" {
		return nil, errors.New("app: reindex needs a data directory")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store := cfg.Store
	if store == nil {
		if cfg.Drivers == nil {
			return nil, errors.New("app: no storage: set Config.Store, or StorageURL and Drivers")
		}
		if store, err = cfg.Drivers.Open(ctx, cfg.StorageURL, storage.OpenOptions{Logger: log}); err != nil {
			return nil, err
		}
		defer func() {
			if cerr := store.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close storage: %w", cerr)
			}
		}()
	}
	m, err := core.Open(ctx, store, core.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	for _, name := range types {
		if _, err := m.Type(name); err != nil {
			return nil, err
		}
	}
	return index.Rebuild(ctx, filepath.Join(cfg.Data, "index"), m.Feed(), log, types...)
}

// watched is what the metrics read besides the Manager: the search index's
// lag and the size of a bbolt store's file.
func (a *App) watched(cfg Config) server.Watched {
	var w server.Watched
	if ix := a.index; ix != nil {
		m := a.manager
		w.IndexLag = func() map[string]uint64 {
			// One follower applies the log for every indexed type.
			last, applied := m.LastSeq(), ix.Applied()
			lag := uint64(0)
			if last > applied {
				lag = last - applied
			}
			out := map[string]uint64{}
			for _, t := range ix.Types() {
				out[t] = lag
			}
			return out
		}
	}
	if cfg.Store == nil {
		if path, ok := strings.CutPrefix(cfg.StorageURL, "bolt:"); ok {
			w.StorageSize = func() (int64, bool) {
				fi, err := os.Stat(path)
				if err != nil {
					return 0, false
				}
				return fi.Size(), true
			}
		}
	}
	return w
}

// newAuthenticator checks API keys against keys. A server without any
// administrator is legal but rarely meant: it says so.
func newAuthenticator(ctx context.Context, keys *auth.Keys, cfg auth.Config, log *slog.Logger) (*auth.Authenticator, error) {
	a, err := auth.New(keys, cfg)
	if err != nil {
		return nil, err
	}
	ok, err := a.HasAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		log.Warn("no administrator is configured: types without permissions are closed to everyone. " +
			"Set STRATA_ADMIN_KEY, or stop the server and run `strata keys create --admin --name admin`")
	}
	return a, nil
}

// Manager is the core of the App.
func (a *App) Manager() *core.Manager { return a.manager }

// Server is the HTTP server of the App: Serve runs it, or mount it on a
// Fiber app of your own with Server().Mount.
func (a *App) Server() *server.Server { return a.server }

// Index is the search index, nil when Config.Data was empty.
func (a *App) Index() *index.Index { return a.index }

// Store is the storage the App runs over.
func (a *App) Store() storage.Store { return a.store }

// Serve answers HTTP on ln until ctx is done, then shuts down gracefully:
// readiness drops, in-flight requests finish within ShutdownTimeout, and
// ln is closed. It returns nil after a shutdown, or the error that stopped
// serving. Close the App after.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	fa := a.server.NewApp()
	served := make(chan error, 1)
	// The server checks the framing of what it reads (Server.Listener).
	go func() { served <- fa.Listener(a.server.Listener(ln)) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down: finishing in-flight requests")
	shutdownCtx := context.WithoutCancel(ctx)
	if a.timeout > 0 {
		by := time.Now().Add(a.timeout)
		a.mu.Lock()
		a.shutdownBy = by
		a.mu.Unlock()
		var cancel context.CancelFunc
		shutdownCtx, cancel = context.WithDeadline(shutdownCtx, by)
		defer cancel()
	}
	a.server.Drain()
	if err := fa.ShutdownWithContext(shutdownCtx); err != nil {
		a.log.Error("shutdown", slog.Any("err", err))
	}
	// A ctx that ends before the serving goroutine has handed ln to
	// fasthttp finds nothing to shut down, and Serve would then accept
	// forever; closing ln ourselves ends it either way.
	_ = ln.Close()
	<-served
	return nil
}

// closeIndex stops the search index. After Serve, it gets what is left of
// ShutdownTimeout to persist its last batches (what it cannot persist in
// time is replayed from the change log at the next start), so a failed
// index or a slow disk cannot hold the exit.
func (a *App) closeIndex(ctx context.Context) error {
	a.mu.Lock()
	by := a.shutdownBy
	a.mu.Unlock()
	if !by.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, by)
		defer cancel()
	}
	if err := a.index.Shutdown(ctx); err != nil {
		return fmt.Errorf("close search index: %w", err)
	}
	return nil
}

// Close takes the App down in the reverse order of New: the search index,
// core, the hooks directory watch, the hook runtime, and the storage when
// New opened it. ctx bounds the index's wait to persist its last batches
// (as does what is left of ShutdownTimeout after Serve); once it is done,
// the index closes without them and replays them at the next start.
// Every part is closed even when one fails; the errors are joined. Later
// calls return the first call's result.
func (a *App) Close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		var errs []error
		for i := len(a.closers) - 1; i >= 0; i-- {
			if err := a.closers[i](ctx); err != nil {
				errs = append(errs, err)
			}
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
