package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/sdk/storage/driver"
)

// DefaultMaxBatchSize is how many Updates at most share one commit.
const DefaultMaxBatchSize = 256

// Advisory lock keys, taken with the transaction-level advisory lock
// functions of PostgreSQL. They are scoped to the database, so stores of
// different databases on one server do not contend.
const (
	// WriteLockKey is held by every write transaction from its start to its
	// commit: writers of all nodes sharing a database run one at a time.
	WriteLockKey int64 = 0x5374726174615731 // "StrataW1"

	// MigrateLockKey is held while a store checks and migrates the schema.
	MigrateLockKey int64 = 0x5374726174614d31 // "StrataM1"
)

// Options configure a PostgreSQL [Store]. The zero value is ready to use.
type Options struct {
	// MaxBatchSize caps how many Updates share one commit. Zero means
	// DefaultMaxBatchSize; 1 turns group commit off.
	MaxBatchSize int

	// Logger receives the store's diagnostics. Nil discards them.
	Logger *slog.Logger
}

// store is the PostgreSQL driver; the storage.Store that Open returns wraps
// it.
type store struct {
	pool     *pgxpool.Pool
	conns    *conns
	name     string // the database, for messages
	log      *slog.Logger
	maxBatch int

	reqs    chan *request // Updates waiting for the committer
	stop    chan struct{} // closed by Close, when no Update is in flight
	stopped chan struct{} // closed by the committer when it has stopped

	commits atomic.Uint64 // physical commits, for tests
	queries atomic.Uint64 // round trips of transactions, for tests

	// hints receives the notifications of commits (notify.go); the
	// listener, started by the first Commits, runs until stopListening,
	// and closes listening.
	hints         chan struct{}
	connCfg       *pgx.ConnConfig
	listenOnce    sync.Once
	stopListening context.CancelFunc
	listening     chan struct{}
}

// Open opens the store in the database named by a postgres URL whose
// "postgres:" has been cut off (location starts with "//"), with default
// [Options] and opts.Logger. It has the signature of [storage.Opener].
func Open(ctx context.Context, location string, opts storage.OpenOptions) (storage.Store, error) {
	return OpenURL(ctx, "postgres:"+location, Options{Logger: opts.Logger})
}

// OpenURL opens the store in the database named by url, a pgx connection
// string ("postgres://user@host:port/db?sslmode=disable"). It creates the
// database if it does not exist, then creates or migrates the schema.
func OpenURL(ctx context.Context, url string, o Options) (storage.Store, error) {
	s, err := openDriver(ctx, url, o)
	if err != nil {
		return nil, err
	}
	return storage.New(s), nil
}

func openDriver(ctx context.Context, url string, o Options) (*store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBatchSize <= 0 {
		o.MaxBatchSize = DefaultMaxBatchSize
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres: parse URL: %w", storage.ErrInvalid, err)
	}
	name := cfg.ConnConfig.Database
	if name == "" {
		return nil, fmt.Errorf("%w: postgres: URL names no database, as in postgres://user@host/strata", storage.ErrInvalid)
	}
	if err := createDatabase(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect to %s: %w", name, err)
	}
	version, err := migrate(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: database %s: %w", name, err)
	}
	s := &store{
		pool:     pool,
		conns:    newConns(pool),
		name:     name,
		log:      o.Logger,
		maxBatch: o.MaxBatchSize,
		reqs:     make(chan *request, o.MaxBatchSize),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	go s.run()
	s.hints, s.connCfg = make(chan struct{}, 1), cfg.ConnConfig.Copy()
	s.log.LogAttrs(ctx, slog.LevelInfo, "opened postgres store",
		slog.String("database", name), slog.String("host", cfg.ConnConfig.Host), slog.Int("schema", version))
	return s, nil
}

// createDatabase creates the database of cfg if connecting to it reports
// that it does not exist. Two nodes creating it at once are fine.
func createDatabase(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	if pgCode(err) != "3D000" { // invalid_catalog_name
		return fmt.Errorf("postgres: connect to %s: %w", cfg.Database, err)
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err = pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("postgres: create database %s: %w", cfg.Database, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "create database "+pgx.Identifier{cfg.Database}.Sanitize())
	if err != nil && pgCode(err) != "42P04" && pgCode(err) != "23505" { // duplicate_database; a racing create
		return fmt.Errorf("postgres: create database %s: %w", cfg.Database, err)
	}
	return nil
}

// pgCode returns the SQLSTATE of err, or "".
func pgCode(err error) string {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Code
	}
	return ""
}

// wrapErr adds context to err and marks a full disk (SQLSTATE class 53:
// disk_full, out_of_memory, insufficient_resources) as driver.ErrNoSpace.
func wrapErr(op string, err error) error {
	if code := pgCode(err); code == "53100" || code == "53000" {
		return fmt.Errorf("postgres: %s: %w: %w", op, driver.ErrNoSpace, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// View runs fn in a REPEATABLE READ READ ONLY transaction on a connection
// of the pool; the transaction begins with fn's first read. It is left
// open when fn returns: ending it only releases its snapshot, so the next
// user of the connection ends it, in the round trip of its own first
// statement (see conns).
func (s *store) View(ctx context.Context, fn func(tx driver.Tx) error) error {
	c, err := s.conns.acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: acquire connection: %w", err)
	}
	t := &tx{ctx: ctx, conn: c.c.Conn(), view: true, rollbackFirst: c.open, queries: &s.queries}
	defer func() {
		c.open = c.open || t.begun
		s.conns.release(c, t.broken)
	}()
	return fn(t)
}

// Update queues fn for the committer and waits for the commit of the group
// it joins; see the package documentation.
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

// Close stops the committer and closes the pool. The storage.Store calls it
// once, when no transaction is in flight.
func (s *store) Close() error {
	close(s.stop)
	<-s.stopped
	s.listenOnce.Do(func() {}) // none starts from now on
	if s.stopListening != nil {
		s.stopListening()
		<-s.listening
	}
	s.conns.close()
	s.pool.Close()
	s.log.Info("closed postgres store", slog.String("database", s.name), slog.Uint64("commits", s.commits.Load()))
	return nil
}
