package core

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// Several nodes on one store (SPEC §10). Over a store that other
// processes write too (storage.Shared: PostgreSQL), each Manager is one
// node of a cluster, and what the others commit reaches it only through
// the store:
//
//   - The follower polls the newest seq, the configuration generation and
//     the types generation every FollowInterval (woken early by the
//     store's commit hint, and by WaitSeq). Past seqs are published as the
//     node's own writes are, so the search index, the event feed and the
//     consumers see them; before that, a types generation the node's type
//     set is not at (every type change moves it) makes the node reload its
//     types from the store.
//   - Hook modules, webhooks and API keys are configuration: every write
//     of them bumps the configuration generation in the same transaction,
//     and a node that sees it move reloads them (OnConfigChange tells
//     what lives outside core, the API key cache).
//   - What must happen once per change across the cluster (the after_*
//     hooks, each webhook) and the periodic jobs run only on the node
//     holding their lease, a record in the store renewed inside Update
//     transactions; a lease its holder stopped renewing is taken over
//     once it expires.
//
// Over an unshared store (bolt) none of this runs: the node's own writes
// are the only ones, and it sees them as it commits them.

// DefaultFollowInterval is how often a node over a shared store polls it
// for other nodes' writes, when Options.FollowInterval is zero.
const DefaultFollowInterval = 100 * time.Millisecond

// DefaultLeaseTTL is how long a lease lasts unrenewed, when
// Options.LeaseTTL is zero: a node that dies hands its consumers over
// after at most this long.
const DefaultLeaseTTL = 10 * time.Second

// DefaultSeqWait bounds WaitSeq when its context has no earlier deadline.
const DefaultSeqWait = 5 * time.Second

// bucketLeases holds one lease per consumer or job name.
const bucketLeases = "leases"

// keyConfig is the configuration generation, in the sys bucket; keyTypes
// the types generation, moved by every type change.
var (
	keyConfig = []byte("config")
	keyTypes  = []byte("types")
)

// cluster is the Manager's state as a node over a shared store.
type cluster struct {
	shared   bool
	node     string
	interval time.Duration
	ttl      time.Duration
	commits  <-chan struct{}
	wake     chan struct{} // WaitSeq asks the follower to poll now

	gen atomic.Uint64 // configuration generation last applied
	// followed is the newest seq the follower has read, with the types and
	// the configuration stored then in use. This node's own writes move
	// lastSeq past other nodes' entries the follower has not read yet, so
	// WaitSeq goes by followed, not lastSeq.
	followed atomic.Uint64
	// types is the types generation of the type set in use; behind is
	// set by a write that found the stored one ahead (typesCurrent).
	types  atomic.Uint64
	behind atomic.Bool

	mu       sync.Mutex
	onConfig []func()
	// fromStore names the hook modules this node loaded from the store,
	// with their digests, so that a module removed on another node is
	// removed here, and one from a hooks directory is never touched.
	fromStore map[string]string
}

// initCluster sets the cluster up from opts, before the types load.
func (m *Manager) initCluster(opts Options) {
	c := &m.cluster
	c.commits, c.shared = storage.Shared(m.store)
	if c.shared {
		m.revHints = newRevHints()
	}
	c.node = opts.NodeID
	if c.node == "" {
		c.node = m.newID()
	}
	c.interval = opts.FollowInterval
	if c.interval <= 0 {
		c.interval = DefaultFollowInterval
	}
	c.ttl = opts.LeaseTTL
	if c.ttl <= 0 {
		c.ttl = DefaultLeaseTTL
	}
	c.wake = make(chan struct{}, 1)
	c.fromStore = map[string]string{}
}

// Shared reports whether the Manager is one node of several over a
// shared store.
func (m *Manager) Shared() bool { return m.cluster.shared }

// NodeID names this node in the leases it holds.
func (m *Manager) NodeID() string { return m.cluster.node }

// OnConfigChange registers f to be called when another node changed the
// configuration kept in the store (hook modules, webhooks, API keys), once
// the Manager has reloaded its own part of it. The API key cache drops
// its entries there, so a key revoked on one node is refused on all.
func (m *Manager) OnConfigChange(f func()) {
	m.cluster.mu.Lock()
	m.cluster.onConfig = append(m.cluster.onConfig, f)
	m.cluster.mu.Unlock()
}

// bumpConfig moves the configuration generation inside a write of the
// configuration, so other nodes reload it.
func bumpConfig(tx storage.Tx) error {
	n, err := readUint(tx, bucketSys, keyConfig)
	if err != nil {
		return err
	}
	return tx.Put(bucketSys, keyConfig, binary.BigEndian.AppendUint64(nil, n+1))
}

// bumpTypes moves the types generation inside a type change and returns
// its new value.
func bumpTypes(tx storage.Tx) (uint64, error) {
	n, err := readUint(tx, bucketSys, keyTypes)
	if err != nil {
		return 0, err
	}
	return n + 1, tx.Put(bucketSys, keyTypes, binary.BigEndian.AppendUint64(nil, n+1))
}

// typesCurrent fails a write's transaction with errTypeChanging when
// another node changed a type this node has not reloaded yet: the write
// then waits for the reload (awaitTypeChange) and is staged again, so no
// write commits against a definition another node replaced. Over an
// unshared store the node's own type set is always current.
func (w *writer) typesCurrent() error {
	m := w.m
	if !m.cluster.shared {
		return nil
	}
	gen, err := readUint(w.tx, bucketSys, keyTypes)
	if err != nil {
		return err
	}
	if gen != m.cluster.types.Load() {
		m.cluster.behind.Store(true)
		return errTypeChanging
	}
	return nil
}

// typesMoved reports whether the stored types generation is not the one
// of the type set in use (a failure to read it counts as no).
func (m *Manager) typesMoved() bool {
	var gen uint64
	err := m.store.View(m.bg, func(tx storage.Tx) error {
		var err error
		gen, err = readUint(tx, bucketSys, keyTypes)
		return err
	})
	return err == nil && gen != m.cluster.types.Load()
}

// catchUpTypes reloads the types when a write found them behind the
// store's (typesCurrent).
func (m *Manager) catchUpTypes() {
	if !m.cluster.behind.Swap(false) {
		return
	}
	if err := m.reloadTypes(AsSystem(m.bg)); err != nil {
		m.log.Error("reload types changed by another node", slog.Any("err", err))
	}
}

// startFollower runs the follower, at the end of Open, over a shared
// store.
func (m *Manager) startFollower(ctx context.Context) error {
	c := &m.cluster
	if !c.shared {
		return nil
	}
	var gen uint64
	err := m.store.View(ctx, func(tx storage.Tx) error {
		var err error
		gen, err = readUint(tx, bucketSys, keyConfig)
		return err
	})
	if err != nil {
		return fmt.Errorf("read configuration generation: %w", err)
	}
	c.gen.Store(gen)
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		t := time.NewTicker(c.interval)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
			case <-c.wake:
			case <-c.commits:
			}
			err := m.follow(AsSystem(m.bg))
			switch {
			case err != nil && m.closed.Load():
				return
			case err != nil && !failing:
				failing = true
				m.log.Error("follow the shared change log: failed; trying again", slog.Any("err", err))
			case err == nil && failing:
				failing = false
				m.log.Info("follow the shared change log: resumed")
			}
		}
	}()
	return nil
}

// follow polls the store once: a new configuration generation reloads
// the configuration, a types generation that is not the one in use
// reloads the types, new change-log entries are published after that.
func (m *Manager) follow(ctx context.Context) error {
	var seq, gen, types uint64
	err := m.store.View(ctx, func(tx storage.Tx) error {
		var err error
		if seq, err = readUint(tx, bucketSys, keySeq); err != nil {
			return err
		}
		if gen, err = readUint(tx, bucketSys, keyConfig); err != nil {
			return err
		}
		types, err = readUint(tx, bucketSys, keyTypes)
		return err
	})
	if err != nil {
		return err
	}
	if gen != m.cluster.gen.Load() {
		if err := m.reloadConfig(ctx); err != nil {
			return err
		}
		m.cluster.gen.Store(gen)
	}
	if !m.typesReached(types) {
		if err := m.reloadTypes(ctx); err != nil {
			return err
		}
	}
	moved := seq > m.cluster.followed.Load()
	if moved {
		m.cluster.followed.Store(seq) // only the follower's goroutine stores it
	}
	switch {
	case seq > m.lastSeq.Load():
		m.published(seq)
	case moved:
		m.signalChanged() // WaitSeq may be waiting for followed alone
	}
	return nil
}

// typesReached reports whether the type set in use is at types
// generation gen or later, once a type change in progress on this node
// is done. The follower sees this node's own type change committed before
// the change is in use; reloading the types for it would only hold typeMu
// through a read of the store, and every write committing meanwhile would
// be staged again, its hooks run twice.
func (m *Manager) typesReached(gen uint64) bool {
	if m.cluster.types.Load() >= gen {
		return true
	}
	m.typeMu.RLock()
	defer m.typeMu.RUnlock()
	return m.cluster.types.Load() >= gen
}

// typesChanged records, with typeMu held, that this node's type change
// moved the stored types generation to gen. The type set in use is then
// at gen only if it was at gen-1, the generation the change was made
// over; if another node's change is missing from it, it stays behind, and
// the follower or the next write (typesCurrent) reloads the whole set.
func (m *Manager) typesChanged(gen uint64) {
	m.cluster.types.CompareAndSwap(gen-1, gen)
}

// reloadTypes replaces the type set with the one stored, keeping the
// compiled form of each type whose definition did not change.
func (m *Manager) reloadTypes(ctx context.Context) error {
	m.typeMu.Lock()
	defer m.typeMu.Unlock()
	if err := m.store.View(ctx, m.loadTypes); err != nil {
		return fmt.Errorf("reload types: %w", err)
	}
	return nil
}

// loadTypes replaces the type set with the one tx reads, as reloadTypes
// does; callers hold typeMu.
func (m *Manager) loadTypes(tx storage.Tx) error {
	gen, err := readUint(tx, bucketSys, keyTypes)
	if err != nil {
		return err
	}
	next := map[string]*compiledType{}
	if err := scanTypes(tx, m.typeSet(), next); err != nil {
		return err
	}
	m.types.Store(&next)
	m.cluster.types.Store(gen)
	m.cluster.behind.Store(false)
	return nil
}

// reloadConfig brings the hook modules and the webhooks in line with the
// store, then tells OnConfigChange's functions.
func (m *Manager) reloadConfig(ctx context.Context) error {
	if err := m.reloadHookModules(ctx); err != nil {
		return err
	}
	if err := m.reloadWebhooks(ctx); err != nil {
		return err
	}
	m.cluster.mu.Lock()
	fs := slices.Clone(m.cluster.onConfig)
	m.cluster.mu.Unlock()
	for _, f := range fs {
		f()
	}
	return nil
}

// reloadHookModules registers the stored modules the runtime does not
// hold at their stored digest, and removes those this node loaded from
// the store that are stored no more.
func (m *Manager) reloadHookModules(ctx context.Context) error {
	reg, ok := m.hooks.(HookRegistry)
	if !ok {
		return nil
	}
	m.hookMu.Lock()
	defer m.hookMu.Unlock()
	stored, err := m.storedHookModules(ctx)
	if err != nil {
		return err
	}
	held := map[string]string{}
	for _, mod := range reg.HookModules() {
		held[mod.Name] = mod.SHA256
	}
	c := &m.cluster
	c.mu.Lock()
	fromStore := maps.Clone(c.fromStore)
	c.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(stored)) {
		sum, isHeld := held[name]
		_, mine := fromStore[name]
		if _, candidate := m.replaying.Load(name); candidate || (isHeld && !mine) || sum == stored[name].SHA256 {
			continue // a hooks directory's module wins, as at Open
		}
		if err := m.loadStoredModule(ctx, reg, name, stored[name].SHA256); err != nil {
			m.log.ErrorContext(ctx, "stored hook module could not be loaded", slog.String("hook", name), slog.Any("err", err))
			continue
		}
		m.hookStats.reset(name)
	}
	for name := range fromStore {
		if _, ok := stored[name]; ok {
			continue
		}
		if err := reg.RemoveHook(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("remove hook module %s: %w", name, err)
		}
		c.mu.Lock()
		delete(c.fromStore, name)
		c.mu.Unlock()
		m.hookStats.reset(name)
	}
	return nil
}

// noteStoredModule records that the runtime holds the stored module name
// at digest sum (loaded from the store or registered here).
func (m *Manager) noteStoredModule(name, sum string) {
	m.cluster.mu.Lock()
	m.cluster.fromStore[name] = sum
	m.cluster.mu.Unlock()
}

// forgetStoredModule records that name is stored no more.
func (m *Manager) forgetStoredModule(name string) {
	m.cluster.mu.Lock()
	delete(m.cluster.fromStore, name)
	m.cluster.mu.Unlock()
}

// reloadWebhooks starts the consumer of each active stored webhook that
// does not run here and stops those of webhooks deleted or disabled.
func (m *Manager) reloadWebhooks(ctx context.Context) error {
	set := m.webhooks
	if set == nil || set.transport == nil {
		return nil
	}
	recs, err := m.webhookRecords(ctx)
	if err != nil {
		return fmt.Errorf("reload webhooks: %w", err)
	}
	set.opMu.Lock()
	defer set.opMu.Unlock()
	active := map[string]webhookRecord{}
	for _, rec := range recs {
		if rec.State == WebhookActive {
			active[rec.ID] = rec
		}
	}
	set.mu.Lock()
	running := map[string]bool{}
	for id, r := range set.runners {
		running[id] = r.consumer.running.Load()
	}
	set.mu.Unlock()
	for id, run := range running {
		if _, ok := active[id]; !ok || !run {
			set.stop(id)
			delete(running, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(active)) {
		if running[id] {
			continue
		}
		if err := m.startWebhook(ctx, active[id]); err != nil {
			return err
		}
	}
	return nil
}

// WaitSeq returns once this node has seen the change-log entry seq (a
// client's Strata-Seq, from a write on another node): searches then
// reflect it, and the types are those stored then or later. It waits at
// most until ctx's deadline or DefaultSeqWait, and then fails with
// ErrUnavailable. Over an unshared store every committed seq has been
// seen: it returns at once.
func (m *Manager) WaitSeq(ctx context.Context, seq uint64) error {
	if !m.cluster.shared {
		return nil // every committed change was seen as it committed
	}
	seen := func() bool { return seq <= m.cluster.followed.Load() && seq <= m.lastSeq.Load() }
	if seen() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultSeqWait)
	defer cancel()
	select {
	case m.cluster.wake <- struct{}{}:
	default:
	}
	for {
		changed := m.Changed()
		if seen() {
			return nil
		}
		select {
		case <-changed:
		case <-m.done:
			return ErrClosed
		case <-ctx.Done():
			return errorf(ErrUnavailable, "this node has not yet seen change %d (it has seen %d); try again", seq, m.lastSeq.Load())
		}
	}
}

// seqNote collects the seq of a request's writes (WithSeqNote).
type seqNote struct{ seq atomic.Uint64 }

type seqNoteKey struct{}

// WithSeqNote returns a context whose writes record the newest change-log
// seq they committed, for NotedSeq: the server answers it as Strata-Seq,
// for a client to read its writes on another node.
func WithSeqNote(ctx context.Context) context.Context {
	return context.WithValue(ctx, seqNoteKey{}, &seqNote{})
}

// NotedSeq returns the newest seq the writes made with ctx committed: 0
// when none did, or ctx has no note (WithSeqNote).
func NotedSeq(ctx context.Context) uint64 {
	n, _ := ctx.Value(seqNoteKey{}).(*seqNote)
	if n == nil {
		return 0
	}
	return n.seq.Load()
}

// noteSeq records seq in ctx's seq note, if it has one.
func noteSeq(ctx context.Context, seq uint64) {
	n, _ := ctx.Value(seqNoteKey{}).(*seqNote)
	if n == nil {
		return
	}
	for {
		cur := n.seq.Load()
		if seq <= cur || n.seq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// leaseRecord is a lease as stored.
type leaseRecord struct {
	Node    string    `json:"node"`
	Expires time.Time `json:"expires"`
}

// scanLeases calls fn with each lease stored, by name.
func scanLeases(tx storage.Tx, fn func(name string, rec leaseRecord)) error {
	var derr error
	err := tx.Scan(bucketLeases, storage.Range{}, func(k, v []byte) bool {
		var rec leaseRecord
		if derr = json.Unmarshal(v, &rec); derr != nil {
			derr = fmt.Errorf("decode lease %q: %w", k, derr)
			return false
		}
		fn(string(k), rec)
		return true
	})
	if err != nil {
		return fmt.Errorf("scan the leases: %w", err)
	}
	return derr
}

// leases are what this node holds, by name: when each expires.
type leaseSet struct {
	mu   sync.Mutex
	held map[string]time.Time
}

// holdLease reports whether this node holds the lease name, taking it if
// it is free or expired and renewing it when a third of its time is
// gone. Over an unshared store the node holds every lease.
func (m *Manager) holdLease(ctx context.Context, name string) (bool, error) {
	c := &m.cluster
	if !c.shared {
		return true, nil
	}
	now := m.now()
	m.leases.mu.Lock()
	exp, ok := m.leases.held[name]
	m.leases.mu.Unlock()
	if ok && exp.Sub(now) > c.ttl*2/3 {
		return true, nil
	}
	held := false
	var until time.Time
	err := m.store.Update(ctx, func(tx storage.Tx) error {
		held = false
		now := m.now()
		var rec leaseRecord
		err := getJSON(tx, bucketLeases, []byte(name), &rec)
		if err != nil && !isNotFound(err) {
			return err
		}
		if err == nil && rec.Node != c.node && rec.Expires.After(now) {
			return nil // another node's, alive
		}
		until = now.Add(c.ttl)
		held = true
		return putJSON(tx, bucketLeases, []byte(name), leaseRecord{Node: c.node, Expires: until})
	})
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	m.leases.mu.Lock()
	if m.leases.held == nil {
		m.leases.held = map[string]time.Time{}
	}
	if held {
		m.leases.held[name] = until
	} else {
		delete(m.leases.held, name)
	}
	m.leases.mu.Unlock()
	return held, nil
}

// checkLease fails inside tx unless this node holds the lease name: a
// consumer saves its position only while it holds its lease.
func (m *Manager) checkLease(tx storage.Tx, name string) error {
	if !m.cluster.shared {
		return nil
	}
	var rec leaseRecord
	if err := getJSON(tx, bucketLeases, []byte(name), &rec); err != nil && !isNotFound(err) {
		return err
	}
	if rec.Node != m.cluster.node {
		return errLeaseLost
	}
	return nil
}

// errLeaseLost means another node took a consumer's lease over.
var errLeaseLost = errors.New("core: another node holds the lease")

// releaseLeases gives up this node's leases at Close, so that another
// node takes them over at once rather than once they expire.
func (m *Manager) releaseLeases() {
	if !m.cluster.shared {
		return
	}
	m.leases.mu.Lock()
	names := slices.Collect(maps.Keys(m.leases.held))
	m.leases.held = nil
	m.leases.mu.Unlock()
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(m.bg, 2*time.Second)
	defer cancel()
	err := m.store.Update(ctx, func(tx storage.Tx) error {
		for _, name := range names {
			var rec leaseRecord
			if err := getJSON(tx, bucketLeases, []byte(name), &rec); err != nil {
				continue
			}
			if rec.Node == m.cluster.node {
				if err := tx.Delete(bucketLeases, []byte(name)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		m.log.Warn("release leases at close", slog.Any("err", err))
	}
}

// leaseName is the lease of a periodic job, from its title.
func leaseName(title string) string {
	return "job." + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(title))
}

// scanTypes compiles the stored type definitions into into, reusing the
// compiled form in cur (nil at open) of each whose definition did not
// change.
func scanTypes(tx storage.Tx, cur, into map[string]*compiledType) error {
	var decodeErr error
	err := tx.Scan(bucketTypes, storage.Range{}, func(key, value []byte) bool {
		var def Type
		if decodeErr = json.Unmarshal(value, &def); decodeErr != nil {
			decodeErr = fmt.Errorf("decode type %s: %w", key, decodeErr)
			return false
		}
		if ct := cur[def.Name]; ct != nil && ct.def.SchemaVersion == def.SchemaVersion && ct.def.UpdatedAt == def.UpdatedAt {
			into[def.Name] = ct
			return true
		}
		ct, err := compileStoredType(def)
		if err != nil {
			decodeErr = fmt.Errorf("compile stored type %s: %w", key, err)
			return false
		}
		into[def.Name] = ct
		return true
	})
	if err != nil {
		return err
	}
	return decodeErr
}
