package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/strata-dev/strata/sdk/storage"
)

// Options configure a Manager. The zero value is ready to use.
type Options struct {
	// Logger receives diagnostics. Nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. A test seam.
	Now func() time.Time
	// NewID makes resource ids; nil means UUIDv7 strings, which sort by
	// creation time.
	NewID func() string
	// Hooks runs the hook modules types bind. Nil means no hook runtime:
	// writes to a type with hooks then fail with ErrHookFailed.
	Hooks HookRunner
	// MaxDocumentSize is the largest resource data a write may store, in
	// bytes of its canonical JSON; larger results of a create, replace,
	// patch, hook or batch fail with ErrTooLarge. It also bounds what one
	// patch may copy. Zero or less means DefaultMaxDocumentSize.
	MaxDocumentSize int
	// Types are declared types (strata.yaml, or an embedding program's)
	// that Open applies as ApplyTypes does, before it builds the search
	// index, so the index starts from them as declared.
	Types []Type
	// Search builds the search index over the Manager's change feed. Open
	// calls it last, once Types are applied, and searches go to what it
	// returns; the Manager never closes it (its builder does, before it
	// closes the Manager). Nil runs without an index: filter, q and sort
	// are then ErrInvalid.
	Search func(ctx context.Context, feed ChangeFeed) (Searcher, error)
	// Webhooks configure the delivery of webhooks, and WebhookTransport
	// carries them (package webhook's HTTP); without a transport,
	// creating a webhook fails.
	Webhooks         WebhookOptions
	WebhookTransport WebhookTransport
	// ChangesRetention is how long change-log entries are kept once every
	// consumer and the search index have consumed them (see TrimChanges);
	// the Manager trims every minute. Zero or less keeps them forever.
	// strata serve uses DefaultChangesRetention unless configured.
	ChangesRetention time.Duration
	// KeepLast is the revision retention of the types whose definition
	// sets none (retention.keep_last in strata.yaml): the pruner keeps the
	// newest KeepLast revisions of each of their resources and those the
	// current one descends from (see PruneRevisions). A type's own
	// retention, even keep_last 0 (keep all), wins. Zero or less keeps
	// every revision.
	KeepLast int
	// Blobs keeps the bytes of blobs (SPEC §9); nil runs without blob
	// storage. BlobLimit bounds one blob (zero: DefaultBlobLimit);
	// unreferenced blobs are removed BlobGrace after their last upload
	// (zero: DefaultBlobGrace) by a collector running in the background,
	// unless NoBlobCollector (tests call CollectBlobs themselves).
	Blobs           BlobFiles
	BlobLimit       int64
	BlobGrace       time.Duration
	NoBlobCollector bool
	// Metrics, when set, is told of every hook call (metrics.go).
	Metrics Observer
	// Over a store that other processes write too (storage.Shared), the
	// Manager is one node of several (cluster.go): NodeID names it in the
	// leases it holds (empty: a new id at each Open), it polls the store
	// for the other nodes' writes every FollowInterval (zero:
	// DefaultFollowInterval), and a lease it stops renewing passes to
	// another node after LeaseTTL (zero: DefaultLeaseTTL).
	NodeID         string
	FollowInterval time.Duration
	LeaseTTL       time.Duration
}

// DefaultMaxDocumentSize is MaxDocumentSize when Options leave it zero: the
// server's default body limit, so a document that can be sent can be stored.
const DefaultMaxDocumentSize = 10 << 20

// Manager serves types and resources over a storage.Store. It is safe for
// concurrent use. The caller that opened the Store closes it, after Close.
type Manager struct {
	store  storage.Store
	log    *slog.Logger
	now    func() time.Time
	newID  func() string
	hooks  HookRunner
	search Searcher
	maxDoc int

	// typeMu is held for writing by type changes, from before their
	// transaction until the new type set is stored. Resource writes only
	// probe it from inside their transaction (typesSettled), so they never
	// hold it while they work and a write never straddles a schema change.
	typeMu sync.RWMutex
	// hookMu serializes hook module registrations and removals, so the
	// hook runtime and the store agree on each name. Taken before typeMu.
	hookMu sync.Mutex
	// replaying holds the temporary names of the candidate modules of the
	// replays in progress (ReplayHook), which HookModules does not list.
	replaying sync.Map
	// replayChunk, when not zero, replaces replayScanChunk (for tests).
	replayChunk uint64
	// chains holds the Go hook handlers (OnCreate …); locks the
	// resources being written by writes that build on their current data.
	chains chainSet
	locks  keyLocks
	types  atomic.Pointer[map[string]*compiledType]

	lastSeq  atomic.Uint64
	notifyMu sync.Mutex
	notify   chan struct{}
	// feed is the shared page of recent change-log entries that event
	// subscribers read (feedring.go).
	feed feedRing

	closed    atomic.Bool
	closeOnce sync.Once

	// bg is the context consumers run under: Open's, without its
	// cancellation. done is closed by Close.
	bg   context.Context
	done chan struct{}

	// The consumers of the change log (consumer.go), by name; afterHooks
	// is the one running the after_* hooks, nil without a hook runtime.
	consumersMu     sync.Mutex
	consumers       map[string]*Consumer
	consumersClosed bool
	afterHooks      *Consumer
	afterFailures   atomic.Uint64
	// hookStats count the calls of each hook module (hookstats.go).
	hookStats hookStatsSet
	// webhooks are the running webhooks (webhook.go).
	webhooks *webhookSet

	// retention is Options.ChangesRetention, keepLastDefault
	// Options.KeepLast.
	retention       time.Duration
	keepLastDefault int
	// background counts the periodic jobs running (background.go).
	background sync.WaitGroup
	blob       blobState // blob.go
	observe    Observer  // never nil (metrics.go)
	// cluster and leases are the Manager's part in a cluster of nodes
	// over a shared store (cluster.go).
	cluster cluster
	// revHints guess current revisions over a shared store; nil otherwise.
	revHints *revHints
	leases   leaseSet
}

// Open builds a Manager over store and loads the types defined in it.
func Open(ctx context.Context, store storage.Store, opts Options) (*Manager, error) {
	m := &Manager{
		store:     store,
		log:       opts.Logger,
		now:       opts.Now,
		newID:     opts.NewID,
		hooks:     opts.Hooks,
		maxDoc:    opts.MaxDocumentSize,
		retention: opts.ChangesRetention,

		keepLastDefault: opts.KeepLast,
		notify:          make(chan struct{}),
		bg:              context.WithoutCancel(ctx),
		done:            make(chan struct{}),
		consumers:       map[string]*Consumer{},
	}
	if m.maxDoc <= 0 {
		m.maxDoc = DefaultMaxDocumentSize
	}
	m.observe = opts.Metrics
	if m.observe == nil {
		m.observe = noObserver{}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.newID == nil {
		m.newID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	m.initCluster(opts)
	types := map[string]*compiledType{}
	err := store.View(ctx, func(tx storage.Tx) error {
		seq, err := readUint(tx, bucketSys, keySeq)
		if err != nil {
			return err
		}
		m.lastSeq.Store(seq)
		gen, err := readUint(tx, bucketSys, keyTypes)
		if err != nil {
			return err
		}
		m.cluster.types.Store(gen)
		return scanTypes(tx, nil, types)
	})
	if err != nil {
		return nil, fmt.Errorf("load types: %w", err)
	}
	m.types.Store(&types)
	// Modules before the after_* runner: it may call them at once.
	if err := m.loadHookModules(ctx); err != nil {
		return nil, err
	}
	m.warnUnboundHooks(ctx)
	if m.hooks != nil {
		if err := m.startAfterHooks(); err != nil {
			return nil, err
		}
	}
	if err := m.ApplyTypes(ctx, opts.Types); err != nil {
		_ = m.Close()
		return nil, err
	}
	if err := m.startWebhooks(ctx, opts.Webhooks, opts.WebhookTransport); err != nil {
		_ = m.Close()
		return nil, err
	}
	if opts.Search != nil {
		s, err := opts.Search(ctx, m.Feed())
		if err != nil {
			_ = m.Close()
			return nil, fmt.Errorf("open search index: %w", err)
		}
		m.search = s
	}
	if m.retention > 0 {
		m.every("change log: trim", trimInterval, m.trimTick())
	}
	m.every("revision retention: prune", pruneInterval, m.pruneTick)
	m.initBlobs(opts)
	if err := m.startFollower(ctx); err != nil {
		_ = m.Close()
		return nil, err
	}
	return m, nil
}

// Close stops the Manager: later calls return ErrClosed, and the
// consumers of the change log (the after_* hook runner among them) are
// stopped and waited for. It does not close the Store.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.consumersMu.Lock()
		m.consumersClosed = true // no consumer starts from now on
		m.consumersMu.Unlock()
		m.stopConsumers()
		m.closeWebhooks()
		m.closed.Store(true)
		close(m.done)
		m.background.Wait() // a job may be in a transaction: the store closes after Close
		m.closeFeed()
		m.releaseLeases()
	})
	return nil
}

// Done returns a channel closed when the Manager is closed, so that what
// follows the change log outside core (the events of the HTTP server)
// stops with it.
func (m *Manager) Done() <-chan struct{} { return m.done }

// LastSeq returns the sequence number of the newest committed change.
func (m *Manager) LastSeq() uint64 { return m.lastSeq.Load() }

// Changed returns a channel that is closed when the next change commits.
// Callers wait on it and then read the change log from their last seq.
func (m *Manager) Changed() <-chan struct{} {
	m.notifyMu.Lock()
	defer m.notifyMu.Unlock()
	return m.notify
}

func (m *Manager) published(seq uint64) {
	for {
		cur := m.lastSeq.Load()
		if seq <= cur || m.lastSeq.CompareAndSwap(cur, seq) {
			break
		}
	}
	m.signalChanged()
}

// signalChanged wakes whoever waits on Changed.
func (m *Manager) signalChanged() {
	m.notifyMu.Lock()
	close(m.notify)
	m.notify = make(chan struct{})
	m.notifyMu.Unlock()
}

func (m *Manager) typeSet() map[string]*compiledType { return *m.types.Load() }

func (m *Manager) lookupType(name string) (*compiledType, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	ct := m.typeSet()[name]
	if ct == nil && m.cluster.shared && m.typesMoved() {
		// Created on another node since this one last looked.
		if err := m.reloadTypes(AsSystem(m.bg)); err != nil {
			return nil, err
		}
		ct = m.typeSet()[name]
	}
	if ct == nil {
		return nil, errorf(ErrNotFound, "unknown type %q", name)
	}
	return ct, nil
}

// Types returns every type, sorted by name, whoever asks: it is the
// operator's and Strata's own view. What a principal may see is
// VisibleTypes.
func (m *Manager) Types() []Type {
	set := m.typeSet()
	out := make([]Type, 0, len(set))
	for _, name := range slices.Sorted(maps.Keys(set)) {
		out = append(out, set[name].def)
	}
	return out
}

// Type returns the named type, or an error wrapping ErrNotFound, whoever
// asks (see TypeFor for a principal's view).
func (m *Manager) Type(name string) (Type, error) {
	ct, err := m.lookupType(name)
	if err != nil {
		return Type{}, err
	}
	return ct.def, nil
}

// CreateType defines a new type. It fails with ErrConflict if the name is
// taken and ErrInvalid if the definition is bad. Only administrators (and
// System) may define types.
func (m *Manager) CreateType(ctx context.Context, def Type) (Type, error) {
	by := PrincipalFrom(ctx)
	if err := requireAdmin(by); err != nil {
		return Type{}, err
	}
	if err := checkNewTypeName(def.Name); err != nil {
		return Type{}, err
	}
	return m.putType(ctx, def, by, false)
}

// UpdateType replaces the definition of an existing type. A changed schema
// bumps SchemaVersion; existing revisions keep the version they were
// written under. Unique and reference indexes are rebuilt in the same
// transaction, failing with ErrConflict if existing data violates them.
//
// It takes an administrator or a principal the type's admin permission
// names for every resource.
func (m *Manager) UpdateType(ctx context.Context, def Type) (Type, error) {
	if err := m.allowTypeAdmin(ctx, def.Name); err != nil {
		return Type{}, err
	}
	return m.putType(ctx, def, PrincipalFrom(ctx), true)
}

// ApplyTypes creates or updates each declared type, leaving unchanged ones
// alone. It is how types in strata.yaml take effect at start. Every
// declared type, changed or not, must bind only modules the hook runtime
// holds (register them, or load the hooks directory, first).
func (m *Manager) ApplyTypes(ctx context.Context, defs []Type) error {
	ctx = AsSystem(ctx) // the operator's configuration
	for _, def := range defs {
		if err := m.checkHookModules(def); err != nil {
			return fmt.Errorf("apply type %s: %w", def.Name, err)
		}
		cur, err := m.Type(def.Name)
		switch {
		case errors.Is(err, ErrNotFound):
			_, err = m.CreateType(ctx, def)
		case err == nil && !sameDefinition(cur, def):
			_, err = m.UpdateType(ctx, def)
		}
		if err != nil {
			return fmt.Errorf("apply type %s: %w", def.Name, err)
		}
	}
	return nil
}

func sameDefinition(cur, def Type) bool {
	ct, err := compileType(def)
	if err != nil {
		return false
	}
	next := ct.def
	next.SchemaVersion, next.CreatedAt, next.UpdatedAt = cur.SchemaVersion, cur.CreatedAt, cur.UpdatedAt
	a, errA := json.Marshal(cur)
	b, errB := json.Marshal(next)
	return errA == nil && errB == nil && string(a) == string(b)
}

func (m *Manager) putType(ctx context.Context, def Type, by Principal, replace bool) (Type, error) {
	if m.closed.Load() {
		return Type{}, ErrClosed
	}
	ct, err := compileType(def)
	if err != nil {
		return Type{}, err
	}
	var out Type
	err = m.changeTypes(ctx, by, func(w *writer) error { return w.putType(ct, replace) }, func(w *writer) {
		m.applyTypeChange(ct.def.Name, w.typeResult)
		out = w.typeResult.def
	})
	return out, err
}

// changeTypes runs a type change in a write transaction under typeMu,
// and applied with typeMu still held once it committed. The change is
// checked against the type set in use (references, the types a drop
// would leave dangling), so over a shared store, when another node
// changed the types since this node loaded them (typesCurrent), the
// transaction first loads the stored ones: under the write lock no other
// node can change them meanwhile, so the change always goes through.
func (m *Manager) changeTypes(ctx context.Context, by Principal, change func(w *writer) error, applied func(w *writer)) error {
	m.typeMu.Lock()
	defer m.typeMu.Unlock()
	var gen uint64
	w, err := m.update(ctx, by, func(w *writer) error {
		if err := w.typesCurrent(); errors.Is(err, errTypeChanging) {
			err = m.loadTypes(w.tx)
			if err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if err := change(w); err != nil {
			return err
		}
		var err error
		gen, err = bumpTypes(w.tx)
		return err
	})
	if err != nil {
		return err
	}
	applied(w)
	m.typesChanged(gen)
	return nil
}

// DeleteType drops a type with all its resources and revisions. It fails
// with ErrConflict while another type references it.
// The same principals as for UpdateType may.
func (m *Manager) DeleteType(ctx context.Context, name string) error {
	if err := m.allowTypeAdmin(ctx, name); err != nil {
		return err
	}
	return m.changeTypes(ctx, PrincipalFrom(ctx), func(w *writer) error { return w.dropType(name) },
		func(*writer) { m.applyTypeChange(name, nil) })
}

// applyTypeChange swaps in a new type set; callers hold typeMu.
func (m *Manager) applyTypeChange(name string, ct *compiledType) {
	next := maps.Clone(m.typeSet())
	if ct == nil {
		delete(next, name)
	} else {
		next[name] = ct
	}
	m.types.Store(&next)
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
