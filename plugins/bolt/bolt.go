package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/sdk/storage/driver"
)

// Defaults for the zero fields of [Options].
const (
	// DefaultTimeout is how long Open waits for the file lock.
	DefaultTimeout = time.Second

	// DefaultMaxBatchSize is how many Updates at most share one commit.
	DefaultMaxBatchSize = 256

	// DefaultInitialMmapSize is the initial memory map on 64-bit systems
	// other than Windows: 1 GiB, so files below that never make a commit
	// wait for open Views. Elsewhere the default is bolt's minimal map, as
	// 32-bit address space is scarce and bolt on Windows grows the file to
	// the map size.
	DefaultInitialMmapSize = 1 << 30
)

// initialMmapSize returns the map size bolt gets for o.InitialMmapSize.
func initialMmapSize(o int) int {
	switch {
	case o > 0:
		return o
	case o < 0 || strconv.IntSize < 64 || runtime.GOOS == "windows":
		return 0
	}
	return DefaultInitialMmapSize
}

// Options configure a bolt [Store]. The zero value is ready to use: durable
// commits, a one-second lock timeout, groups of up to 256 Updates, no
// logging.
type Options struct {
	// Timeout is how long Open waits for another holder of the file to
	// release it before failing with an error wrapping ErrLocked. Zero means
	// DefaultTimeout; a negative value does not wait.
	Timeout time.Duration

	// NoSync skips the fsync of each commit. Commits get much faster, but a
	// crash of the machine can lose Updates that returned nil, or corrupt
	// the file. Use it for tests and throwaway data only.
	NoSync bool

	// MaxBatchSize caps how many Updates share one commit. Zero means
	// DefaultMaxBatchSize; 1 turns group commit off.
	MaxBatchSize int

	// InitialMmapSize is the size in bytes of bolt's first memory map of the
	// file. When the file outgrows the map, the next commit remaps it and
	// must first wait for every open View to end, stalling all Updates
	// meanwhile. The map reserves address space, not disk space, so zero
	// means DefaultInitialMmapSize; a negative value starts with bolt's
	// minimal map.
	InitialMmapSize int

	// Logger receives the store's diagnostics. Nil discards them.
	Logger *slog.Logger
}

// store is the bolt driver. The storage.Store that [Open] and
// [OpenWithOptions] return wraps it, and takes care of Close waiting for
// transactions, contexts already done and argument checks.
type store struct {
	db       *bbolt.DB
	path     string
	log      *slog.Logger
	maxBatch int

	reqs    chan *request // Updates waiting for the committer
	stop    chan struct{} // closed by Close, when no Update is in flight
	stopped chan struct{} // closed by the committer when it has stopped

	commits atomic.Uint64 // physical commits, for tests
	runs    atomic.Uint64 // calls of Update functions, for tests
}

// Open opens the bolt store in the file at location, creating the file and
// its parent directories if needed, with default [Options] and
// opts.Logger. It has the signature of [storage.Opener]:
//
//	reg.Register("bolt", bolt.Open)
//	store, err := reg.Open(ctx, "bolt:./strata_data/strata.db", storage.OpenOptions{})
func Open(ctx context.Context, location string, opts storage.OpenOptions) (storage.Store, error) {
	return OpenWithOptions(ctx, location, Options{Logger: opts.Logger})
}

// OpenWithOptions opens the bolt store in the file at path. It creates
// missing parent directories (mode 0755) and the file (mode 0600). If
// another process or Store holds the file, it waits o.Timeout and then
// returns an error wrapping [ErrLocked]. An empty path is an error wrapping
// [storage.ErrInvalid].
func OpenWithOptions(ctx context.Context, path string, o Options) (storage.Store, error) {
	s, err := openDriver(ctx, path, o)
	if err != nil {
		return nil, err
	}
	return storage.New(s), nil
}

// openDriver opens the bolt driver; see OpenWithOptions.
func openDriver(ctx context.Context, path string, o Options) (*store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if path == "" {
		return nil, fmt.Errorf("%w: bolt store needs a file path, as in bolt:./strata_data/strata.db", storage.ErrInvalid)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBatchSize <= 0 {
		o.MaxBatchSize = DefaultMaxBatchSize
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open bolt store %s: %w", path, err)
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)

	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:         o.Timeout,
		NoSync:          o.NoSync,
		InitialMmapSize: initialMmapSize(o.InitialMmapSize),
		// The freelist is rebuilt by a scan at open instead of being
		// written by every commit, and kept as a map: commits touch fewer
		// pages and large free lists cost no sorting (as etcd runs bolt).
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt store %s is locked by another process (waited %s): %w", path, max(o.Timeout, 0), ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open bolt store %s: %w", path, err)
	}
	if created && !o.NoSync {
		// Make the new file's directory entry durable too, not only its
		// contents.
		if err := syncDir(dir); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open bolt store %s: %w", path, err)
		}
	}

	s := &store{
		db:       db,
		path:     path,
		log:      o.Logger,
		maxBatch: o.MaxBatchSize,
		reqs:     make(chan *request, o.MaxBatchSize),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go s.run(nil)
	s.log.LogAttrs(ctx, slog.LevelInfo, "opened bolt store",
		slog.String("path", path), slog.Bool("created", created), slog.Bool("nosync", o.NoSync))
	return s, nil
}

// syncDir fsyncs directory dir.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// View runs fn in a bolt read transaction, in the caller's goroutine. Any
// number of Views run at once and alongside Updates. View returns fn's
// error unchanged; if fn panics, the transaction is released and the panic
// continues.
func (s *store) View(_ context.Context, fn func(tx driver.Tx) error) error {
	btx, err := s.db.Begin(false)
	if err != nil {
		return fmt.Errorf("bolt store %s: begin read transaction: %w", s.path, err)
	}
	defer func() { _ = btx.Rollback() }() // a read transaction only releases its snapshot
	return fn(&tx{btx: btx})
}

var _ driver.Snapshotter = (*store)(nil)

// Snapshot implements driver.Snapshotter with bolt's own online copy: a
// read transaction whose Tx.WriteTo writes the file as it stands at that
// transaction, which bolt opens as a database. Commits go on meanwhile;
// the pages they free are not reused until the copy ends, so the file may
// grow by what is written during it, and a commit that must grow the
// memory map past InitialMmapSize waits for it.
func (s *store) Snapshot(_ context.Context, fn func(size int64, writeTo func(w io.Writer) (int64, error)) error) error {
	btx, err := s.db.Begin(false)
	if err != nil {
		return fmt.Errorf("bolt store %s: begin read transaction: %w", s.path, err)
	}
	defer func() { _ = btx.Rollback() }()
	return fn(btx.Size(), func(w io.Writer) (int64, error) { return btx.WriteTo(w) })
}

// Update queues fn for the committer and waits for the commit of the group
// it joins; see the package documentation. It returns nil once the change is
// on disk (unless [Options.NoSync]), fn's error if fn failed, and re-raises
// fn's panic in the caller's goroutine. fn may run more than once. If ctx is
// done before fn first runs, Update returns ctx.Err() and fn never runs;
// once fn has run, Update waits for the commit regardless of ctx.
func (s *store) Update(ctx context.Context, fn func(tx driver.Tx) error) error {
	r := &request{ctx: ctx, fn: fn, done: make(chan outcome, 1)}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	o := <-r.done
	if o.panicked {
		panic(o.panicValue)
	}
	return o.err
}

// Close stops the committer and closes the file. The storage.Store calls it
// once, when no View or Update is in flight, so the queue is empty.
func (s *store) Close() error {
	close(s.stop)
	<-s.stopped
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close bolt store %s: %w", s.path, err)
	}
	s.log.Info("closed bolt store", slog.String("path", s.path), slog.Uint64("commits", s.commits.Load()))
	return nil
}
