package index

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/strata-dev/strata/core"
)

// Index keeps one Bleve index per type in a directory and feeds them from
// a Manager's change log. A type's index is built the first time a search
// needs it and kept from then on (indexing costs every write CPU, so types
// nobody searches pay nothing). Everything in it is derived from storage: a
// missing, corrupt or outdated index directory is rebuilt, so deleting the
// whole directory loses nothing. It is safe for concurrent use.
//
// # Goroutines
//
// One follower, a consumer of the change log (startFollower), applies it
// to the active type indexes, in batches (one bleve batch per type per page of changes). Builds run each
// on its own goroutine: a type's first build, and the rebuild a schema or
// search-field change calls for. A build indexes the type from storage into
// a new directory, then replays the changes made meanwhile, and hands the
// new index to the follower, which replays the last few changes and swaps
// it in. Searches of other types never wait for a build; searches of the
// type being built wait for it (at most MaxWait, then 503), since its
// previous index, if any, was mapped from another schema and may disagree
// with the filter evaluator under the new one. Close stops and waits for
// all of them.
//
// # On disk
//
// <dir>/types/<type>/g<N> holds generation N of a type's index; position.json
// records the active generation of each indexed type with the schema
// version and search fields it was built for. Each index records the last
// change-log entry it reflects in its own internal storage, written in the
// same bleve batch as the documents, so it is exact after a crash; batches
// are not synced one by one (bleve persists them in the background), and a
// restart replays from there.
type Index struct {
	dir  string
	feed core.ChangeFeed // the Manager's change log, types and resources
	log  *slog.Logger

	mu     sync.RWMutex
	types  map[string]*typeIndex // active indexes, searchable
	builds map[string]*build     // builds in progress, at most one per type

	applied  atomic.Uint64 // the follower's change-log position
	notifyMu sync.Mutex
	notify   chan struct{}

	ready chan struct{} // wakes the follower when a build is ready

	waiting atomic.Int32  // searches waiting for the follower (WaitFor)
	wake    chan struct{} // wakes a gathering follower when one starts

	ctx      context.Context // cancelled by Close; parent of the builds
	cancel   context.CancelFunc
	follower *core.Consumer // follows the change log (startFollower)
	// lastPage is how many entries the follower's last page held (the
	// follower's own).
	lastPage int
	wg       sync.WaitGroup

	compactDone chan struct{} // closed when the compactor returns
	// mergePlan, when set (by tests, through open), overrides options of
	// scorch's merge policy while documents arrive (mergeplan's field
	// names).
	mergePlan map[string]any

	// beforeBuild, when set (by tests, before the first search), is
	// called at the start of every build with its context.
	beforeBuild func(ctx context.Context, typ string)
	// installed, when set (by tests, before the first search), is called
	// by the follower after it swaps in a built index.
	installed func(typ string)

	hp         healthPolicy
	sick       chan struct{} // wakes the doctor when an index fails
	doctorDone chan struct{} // closed when the doctor returns
	// closing is the context of Shutdown once it has begun (under mu):
	// closes during shutdown wait for persistence at most until it ends.
	closing context.Context
	// positionFailed: the last savePosition failed (the follower's).
	positionFailed bool
}

// typeIndex is the index of one type.
type typeIndex struct {
	def core.Type
	lay *layout
	idx bleve.Index
	gen int
	// seq is the last change-log entry the index reflects; the follower
	// (or the build, before the index is handed over) owns it.
	seq uint64
	// use is read-locked by searches, locked to close the index.
	use sync.RWMutex
	// cols caches the sort values of its segments, ords the term
	// ordinals facets count (facets.go).
	cols columns
	ords ordinals
	// ranks caches what bounds its terms' scores, per segment.
	ranks rankBounds
	// writes counts the batches applied since it was opened (compaction
	// waits until it stops changing).
	writes atomic.Uint64
	// health records scorch's failures to persist or merge it.
	health *health
	// closed is set, under use, once it is closed.
	closed bool
}

// build is a type's index being built.
type build struct {
	def    core.Type
	gen    int
	from   uint64     // change-log position the storage read starts after
	old    *typeIndex // the index it replaces, closed when it is installed
	cancel context.CancelFunc
	done   chan struct{} // closed when installed or failed
	err    error         // set before done is closed
	ti     *typeIndex    // set when built and caught up: ready to install
	// quiet: a failure is not logged (a repair retried with back-off).
	quiet bool
}

// position is what the directory records of the active indexes, written
// when they change (atomically: write, then rename).
type position struct {
	Format int                   `json:"format"`
	Types  map[string]typeRecord `json:"types"`
}

type typeRecord struct {
	SchemaVersion int      `json:"schema_version"`
	Search        []string `json:"search,omitempty"`
	Generation    int      `json:"generation"`
}

// positionFormat changes whenever documents are laid out differently:
// indexes of another format are rebuilt.
const positionFormat = 3

// pageSize bounds the changes read and applied in one step.
const pageSize = core.MaxPageSize

// buildBatch is the number of documents per bleve batch when building from
// storage: large batches make fewer, larger segments to merge.
const buildBatch = 5000

// seqKey is the internal key under which an index records its seq.
var seqKey = []byte("strata.seq")

// indexConfig is the scorch configuration of every type index: batches
// return once applied in memory, not once persisted (the seq recorded with
// them makes a crash replay what was lost).
func (x *Index) indexConfig() map[string]any {
	c := map[string]any{
		"unsafe_batch": true,
		// The persister naps between rounds so that the small segments
		// of frequent batches are merged in memory into one before they
		// are written, rather than written one by one and merged on disk.
		"scorchPersisterOptions": map[string]any{"PersisterNapTimeMSec": persistNapMS},
		// Failures to persist or merge are backed off and repaired
		// (health.go).
		"asyncErrorCallbackName": scorchCallbacks,
		"eventCallbackName":      scorchCallbacks,
	}
	if x.mergePlan != nil {
		c["scorchMergePlanOptions"] = x.mergePlan
	}
	return c
}

// persistNapMS is the persister's nap, in milliseconds.
const persistNapMS = 0

// Open opens or builds the indexes of every type of feed in dir recorded
// as indexed, and starts following feed's change log. Close stops it; the
// caller closes the Manager behind feed after. It fits core.Options.Search:
//
//	core.Options{Search: func(ctx context.Context, feed core.ChangeFeed) (core.Searcher, error) {
//		return index.Open(ctx, dir, feed, log)
//	}}
func Open(ctx context.Context, dir string, feed core.ChangeFeed, log *slog.Logger) (*Index, error) {
	return open(ctx, dir, feed, log, defaultCompactPolicy, nil, defaultHealthPolicy)
}

// open is Open with the compaction policy, merge plan and health policy
// given.
func open(ctx context.Context, dir string, feed core.ChangeFeed, log *slog.Logger, cp compactPolicy, plan map[string]any, hp healthPolicy) (*Index, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(dir, "types"), 0o755); err != nil {
		return nil, fmt.Errorf("index directory %s: %w", dir, err)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	x := &Index{dir: dir, feed: feed, log: log, types: map[string]*typeIndex{}, builds: map[string]*build{},
		notify: make(chan struct{}), ready: make(chan struct{}, 1), wake: make(chan struct{}, 1), ctx: bg, cancel: cancel,
		compactDone: make(chan struct{}), mergePlan: plan, hp: hp, sick: make(chan struct{}, 1), doctorDone: make(chan struct{})}
	pos, ok := x.readPosition()
	start := feed.LastSeq()
	if ok {
		for _, t := range feed.Types() {
			rec, active := pos.Types[t.Name]
			if !active {
				continue // built on the first search that needs it
			}
			ti, err := x.openType(ctx, t, rec)
			if err != nil {
				cancel()
				_ = x.closeAll(ctx)
				return nil, err
			}
			x.types[t.Name] = ti
			start = min(start, ti.seq)
		}
	}
	x.removeStale()
	if err := x.writePosition(); err != nil {
		cancel()
		_ = x.closeAll(ctx)
		return nil, err
	}
	x.applied.Store(start)
	if err := x.startFollower(); err != nil {
		cancel()
		_ = x.closeAll(ctx)
		return nil, err
	}
	go x.compact(bg, cp)
	go x.doctor(bg)
	return x, nil
}

// Close stops following the change log and the builds, and closes the
// indexes. It is Shutdown without a deadline: it still ends when an index
// has failed (a full disk), without waiting for what cannot be persisted.
func (x *Index) Close() error { return x.Shutdown(context.Background()) }

// Shutdown is Close with a deadline: once ctx is done, indexes are closed
// without waiting for their last batches to be persisted (the change log
// replays them at the next start), so it returns soon after ctx ends.
func (x *Index) Shutdown(ctx context.Context) error {
	x.mu.Lock()
	x.closing = ctx
	x.mu.Unlock()
	x.cancel()
	x.follower.Stop()
	x.abandonBuilds()
	x.wg.Wait()
	err := x.closeAll(ctx)
	// A compaction in progress ends when its index closes.
	<-x.compactDone
	<-x.doctorDone
	return err
}

// closeCtx bounds the closes of replaced indexes: by Shutdown's context
// once it has begun.
func (x *Index) closeCtx() context.Context {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closing != nil {
		return x.closing
	}
	return context.Background()
}

func (x *Index) closeAll(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	for name, ti := range x.types {
		if err := ti.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close index of %s: %w", name, err))
		}
	}
	x.types = map[string]*typeIndex{}
	return errors.Join(errs...)
}

// close waits for the searches of the index and closes it, recording its
// seq. Scorch's Close does not persist the batches it has only applied in
// memory, so the last batch waits until it is persisted (with all before
// it), unless the index has failed (its persists may never succeed again)
// or ctx ends first: the change log replays what was not persisted at the
// next start. Closing it again does nothing.
func (ti *typeIndex) close(ctx context.Context) error {
	ti.use.Lock()
	defer ti.use.Unlock()
	if ti.closed {
		return nil
	}
	var err error
	if ti.health.failure() == nil && ctx.Err() == nil {
		b := ti.idx.NewBatch()
		b.SetInternal(seqKey, seqBytes(ti.seq))
		persisted := make(chan error, 1)
		b.SetPersistedCallback(func(err error) { persisted <- err })
		if err = ti.idx.Batch(b); err == nil {
			select {
			case err = <-persisted:
			case <-ti.health.failed:
				err = fmt.Errorf("persist last batch: %w", ti.health.failure())
			case <-ctx.Done():
				err = fmt.Errorf("persist last batch: %w", context.Cause(ctx))
			}
		}
	}
	return errors.Join(err, ti.shut())
}

// shut closes the index at once: scorch's goroutines are released from
// their pauses first, as its Close waits for them. ti.use is held, or ti
// was never shared.
func (ti *typeIndex) shut() error {
	if ti.closed {
		return nil
	}
	ti.closed = true
	ti.health.release()
	err := ti.idx.Close()
	ti.health.forget()
	return err
}

func (x *Index) typeDir(name string) string { return filepath.Join(x.dir, "types", name) }

func (x *Index) genDir(name string, gen int) string {
	return filepath.Join(x.typeDir(name), "g"+strconv.Itoa(gen))
}

func seqBytes(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// matches reports whether a record describes an index of t as it is.
func (rec typeRecord) matches(t core.Type) bool {
	return rec.SchemaVersion == t.SchemaVersion && slices.Equal(rec.Search, t.Search)
}

// openType opens the recorded index of t, or rebuilds it from storage when
// it is missing, unreadable or built for another schema.
func (x *Index) openType(ctx context.Context, t core.Type, rec typeRecord) (*typeIndex, error) {
	if rec.matches(t) {
		h := x.watch(x.genDir(t.Name, rec.Generation))
		idx, err := bleve.OpenUsing(x.genDir(t.Name, rec.Generation), x.indexConfig())
		if err == nil {
			h.opened(idx)
			raw, err := idx.GetInternal(seqKey)
			lay, lerr := newLayout(t)
			if err == nil && lerr == nil && len(raw) == 8 {
				return &typeIndex{def: t, lay: lay, idx: idx, gen: rec.Generation, seq: binary.BigEndian.Uint64(raw), health: h}, nil
			}
			h.release()
			_ = idx.Close()
		}
		h.forget()
		x.log.WarnContext(ctx, "index unreadable; rebuilding", slog.String("type", t.Name), slog.Any("err", err))
	}
	return x.buildIndex(ctx, t, rec.Generation+1, x.feed.LastSeq())
}

// buildIndex builds generation gen of the index of t from storage. Every
// change up to from is in what it reads; the index's seq is from, so the
// changes after it are replayed (replays are idempotent).
func (x *Index) buildIndex(ctx context.Context, t core.Type, gen int, from uint64) (ti *typeIndex, err error) {
	start := time.Now()
	lay, err := newLayout(t)
	if err != nil {
		return nil, err
	}
	im, err := lay.mapping()
	if err != nil {
		return nil, err
	}
	path := x.genDir(t.Name, gen)
	if err := os.RemoveAll(path); err != nil {
		return nil, fmt.Errorf("remove index of %s: %w", t.Name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("index directory of %s: %w", t.Name, err)
	}
	h := x.watch(path)
	idx, err := bleve.NewUsing(path, im, scorch.Name, scorch.Name, x.indexConfig())
	if err != nil {
		h.forget()
		return nil, noSpace(fmt.Errorf("create index of %s: %w", t.Name, err))
	}
	h.opened(idx)
	defer func() {
		if err != nil {
			h.release()
			_ = idx.Close()
			h.forget()
			_ = os.RemoveAll(path)
		}
	}()
	n := 0
	cursor := ""
	var ops []batchOp
	for {
		page, err := x.feed.List(ctx, t.Name, core.ListOptions{Limit: core.MaxPageSize, Cursor: cursor, IncludeDeleted: true})
		if err != nil {
			return nil, fmt.Errorf("build index of %s: %w", t.Name, err)
		}
		for _, res := range page.Items {
			doc, err := lay.document(res.ID, res.Data, res.Meta)
			if err != nil {
				return nil, err
			}
			ops = append(ops, batchOp{id: res.ID, doc: doc})
		}
		n += len(page.Items)
		last := page.NextCursor == ""
		if len(ops) >= buildBatch || last {
			var seq []byte
			if last {
				seq = seqBytes(from)
			}
			if err := applyBatches(idx, ops, seq, true); err != nil {
				return nil, fmt.Errorf("build index of %s: %w", t.Name, err)
			}
			ops = ops[:0]
		}
		if last {
			break
		}
		cursor = page.NextCursor
	}
	x.log.InfoContext(ctx, "index built", slog.String("type", t.Name), slog.Int("resources", n), slog.Duration("took", time.Since(start)))
	return &typeIndex{def: t, lay: lay, idx: idx, gen: gen, seq: from, health: h}, nil
}

// removeStale deletes the index directories of types that are not active
// and generations that are not in use.
func (x *Index) removeStale() {
	entries, err := os.ReadDir(filepath.Join(x.dir, "types"))
	if err != nil {
		return
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, e := range entries {
		ti, b := x.types[e.Name()], x.builds[e.Name()]
		if ti == nil && b == nil {
			_ = os.RemoveAll(x.typeDir(e.Name()))
			continue
		}
		gens, _ := os.ReadDir(x.typeDir(e.Name()))
		for _, g := range gens {
			keep := (ti != nil && g.Name() == "g"+strconv.Itoa(ti.gen)) || (b != nil && g.Name() == "g"+strconv.Itoa(b.gen))
			if !keep {
				_ = os.RemoveAll(filepath.Join(x.typeDir(e.Name()), g.Name()))
			}
		}
	}
}

func (x *Index) positionPath() string { return filepath.Join(x.dir, "position.json") }

func (x *Index) readPosition() (position, bool) {
	var p position
	raw, err := os.ReadFile(x.positionPath())
	if err != nil || json.Unmarshal(raw, &p) != nil || p.Format != positionFormat || p.Types == nil {
		return position{}, false
	}
	return p, true
}

// writePosition records the active indexes. A type being rebuilt keeps
// the record of its previous index until the new one is installed, so a
// restart meanwhile rebuilds it again.
func (x *Index) writePosition() error {
	p := position{Format: positionFormat, Types: map[string]typeRecord{}}
	x.mu.RLock()
	for name, ti := range x.types {
		p.Types[name] = typeRecord{SchemaVersion: ti.def.SchemaVersion, Search: ti.def.Search, Generation: ti.gen}
	}
	for name, b := range x.builds {
		if b.old != nil {
			p.Types[name] = typeRecord{SchemaVersion: b.old.def.SchemaVersion, Search: b.old.def.Search, Generation: b.old.gen}
		}
	}
	x.mu.RUnlock()
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	// The directory may have been deleted under a running server.
	if err := os.MkdirAll(x.dir, 0o755); err != nil {
		return fmt.Errorf("write index position: %w", err)
	}
	tmp := x.positionPath() + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("write index position: %w", err)
	}
	if err := os.Rename(tmp, x.positionPath()); err != nil {
		return fmt.Errorf("write index position: %w", err)
	}
	return nil
}

// savePosition writes the position while the follower runs: a failure
// (a full disk) must not stop it. It is logged once until a write
// succeeds; a stale position costs at most a rebuild at the next start.
func (x *Index) savePosition(ctx context.Context) {
	err := x.writePosition()
	if err != nil && !x.positionFailed {
		x.log.WarnContext(ctx, "index: the position of the indexes is not saved; they may be rebuilt at the next start", slog.Any("err", err))
	}
	x.positionFailed = err != nil
}

// Applied returns the change-log position the follower has applied: every
// active type index reflects the changes up to it.
func (x *Index) Applied() uint64 { return x.applied.Load() }

// Consumed returns the change-log position up to which the index needs no
// entry any more (core.Searcher): the follower's, or less while a build
// that will replay the entries after its start is running.
func (x *Index) Consumed() uint64 {
	seq := x.applied.Load()
	x.mu.RLock()
	for _, b := range x.builds {
		seq = min(seq, b.from)
	}
	x.mu.RUnlock()
	return seq
}

func (x *Index) publish(seq uint64) {
	x.applied.Store(seq)
	x.notifyMu.Lock()
	close(x.notify)
	x.notify = make(chan struct{})
	x.notifyMu.Unlock()
}

// WaitFor waits until the indexes reflect change seq, for at most max.
func (x *Index) WaitFor(ctx context.Context, seq uint64, max time.Duration) error {
	if x.applied.Load() >= seq {
		return nil
	}
	// The follower stops gathering changes while a search waits.
	x.waiting.Add(1)
	defer x.waiting.Add(-1)
	select {
	case x.wake <- struct{}{}:
	default:
	}
	timer := time.NewTimer(max)
	defer timer.Stop()
	for {
		x.notifyMu.Lock()
		ch := x.notify
		x.notifyMu.Unlock()
		if x.applied.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return &core.Error{Kind: core.ErrUnavailable,
				Detail: fmt.Sprintf("the search index is at change %d and did not reach %d within %s; retry, or ask with consistency=eventual", x.applied.Load(), seq, max)}
		}
	}
}

// acquire returns the active index of typ, read-locked for a search,
// starting its build if it has none and waiting at most max for a build.
func (x *Index) acquire(ctx context.Context, typ string, max time.Duration) (*typeIndex, error) {
	var timer *time.Timer
	for {
		x.mu.RLock()
		ti, b := x.types[typ], x.builds[typ]
		x.mu.RUnlock()
		if ti != nil {
			ti.use.RLock()
			x.mu.RLock()
			current := x.types[typ] == ti
			x.mu.RUnlock()
			if current {
				return ti, nil
			}
			ti.use.RUnlock()
			continue
		}
		if b == nil {
			var err error
			if b, err = x.startBuild(typ); err != nil {
				return nil, err
			}
			if b == nil {
				continue // another search started it, or it was just installed
			}
		}
		if timer == nil {
			timer = time.NewTimer(max)
			defer timer.Stop()
		}
		select {
		case <-b.done:
			if b.err != nil && !errors.Is(b.err, context.Canceled) && !errors.Is(b.err, errReplaced) {
				return nil, noSpace(fmt.Errorf("index of %s: %w", typ, b.err))
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, errNotBuilt(typ)
		}
	}
}

// startBuild starts the first build of a type's index. It returns nil
// when the type has an index or a build already.
func (x *Index) startBuild(typ string) (*build, error) {
	t, err := x.feed.Type(typ)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.types[typ] != nil || x.builds[typ] != nil {
		return nil, nil
	}
	if x.closing != nil || x.ctx.Err() != nil {
		return nil, core.ErrClosed // no build may start once Shutdown waits for them
	}
	return x.startBuildLocked(t, nil, 1, false), nil
}

// startBuildLocked starts a build of t replacing old (nil for a first
// build), in a generation after old's and at least gen (a cancelled build
// may still be removing its own). Old may stay active meanwhile (a
// repair). A quiet build does not log its failure. x.mu is held.
func (x *Index) startBuildLocked(t core.Type, old *typeIndex, gen int, quiet bool) *build {
	if old != nil {
		gen = max(gen, old.gen+1)
	}
	ctx, cancel := context.WithCancel(x.ctx)
	b := &build{def: t, gen: gen, from: x.feed.LastSeq(), old: old, cancel: cancel, done: make(chan struct{}), quiet: quiet}
	x.builds[t.Name] = b
	x.wg.Add(1)
	go x.runBuild(ctx, b)
	return b
}

// runBuild builds b's index and replays the changes the follower has
// applied meanwhile, then hands it to the follower.
func (x *Index) runBuild(ctx context.Context, b *build) {
	defer x.wg.Done()
	defer b.cancel()
	if x.beforeBuild != nil {
		x.beforeBuild(ctx, b.def.Name)
	}
	ti, err := x.buildIndex(ctx, b.def, b.gen, b.from)
	if err == nil {
		for err == nil && ti.seq < x.applied.Load() {
			before := ti.seq
			err = x.catchUp(ctx, ti, x.applied.Load())
			if ti.seq == before {
				break // the follower is ahead of the log it read: it replays the rest
			}
		}
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		if err != nil {
			_ = ti.shut()
			_ = os.RemoveAll(x.genDir(b.def.Name, b.gen))
		}
	}
	x.mu.Lock()
	if err != nil {
		// A build that is no longer current was replaced or abandoned:
		// whoever did that owns the index it replaces. An index being
		// repaired stays active (it answers until a rebuild succeeds).
		var old *typeIndex
		if x.builds[b.def.Name] == b {
			delete(x.builds, b.def.Name)
			old, b.old = b.old, nil
			if old != nil && x.types[b.def.Name] == old {
				old = nil
			}
		}
		x.mu.Unlock()
		if ctx.Err() == nil {
			level := slog.LevelError
			if b.quiet {
				level = slog.LevelDebug
			}
			x.log.Log(ctx, level, "index: build", slog.String("type", b.def.Name), slog.Any("err", err))
		}
		if old != nil {
			_ = old.close(x.closeCtx())
		}
		b.err = err
		close(b.done)
		return
	}
	b.ti = ti
	x.mu.Unlock()
	select {
	case x.ready <- struct{}{}:
	default:
	}
}

// catchUp replays the changes of ti's type after ti.seq, up to at least
// to, into ti.
func (x *Index) catchUp(ctx context.Context, ti *typeIndex, to uint64) error {
	for ti.seq < to {
		page, err := x.feed.Changes(ctx, ti.seq, []string{ti.def.Name}, pageSize)
		if err != nil {
			return fmt.Errorf("read change log: %w", err)
		}
		var ids []string
		for _, ch := range page.Items {
			if ch.Action != core.ActionType && ch.Action != core.ActionEvent {
				ids = append(ids, ch.ID)
			}
		}
		if page.NextSince <= ti.seq {
			return nil // nothing after ti.seq yet
		}
		if err := x.index(ctx, ti, ids, page.NextSince, true); err != nil {
			return err
		}
	}
	return nil
}

// install swaps in the builds that are ready, at the follower's position
// seq: the last changes are replayed first.
func (x *Index) install(ctx context.Context, seq uint64) error {
	x.mu.Lock()
	var ready []*build
	for _, b := range x.builds {
		if b.ti != nil {
			ready = append(ready, b)
		}
	}
	x.mu.Unlock()
	for _, b := range ready {
		if err := x.catchUp(ctx, b.ti, seq); err != nil {
			return err
		}
		x.mu.Lock()
		x.types[b.def.Name] = b.ti
		delete(x.builds, b.def.Name)
		x.mu.Unlock()
		x.savePosition(ctx)
		if b.old != nil {
			if err := b.old.close(x.closeCtx()); err != nil {
				x.log.WarnContext(ctx, "index: close replaced index", slog.String("type", b.def.Name), slog.Any("err", err))
			}
			_ = os.RemoveAll(x.genDir(b.def.Name, b.old.gen))
		}
		close(b.done)
		if x.installed != nil {
			x.installed(b.def.Name)
		}
	}
	return nil
}

// The follower is the index's consumer of the change log (core's
// consumer framework): it hands the index the log page by page, in order,
// retries a failed page with backoff rather than stopping, and reports its
// lag among the Manager's consumers. The position is the index's own (the
// seq each type index records with its batches), so the framework keeps
// none in the store; the index holds the log back through Consumed.
const followerName = "search-index"

// startFollower starts the follower at the index's position.
func (x *Index) startFollower() error {
	c, err := x.feed.StartConsumer(core.ConsumerConfig{
		Name:       followerName,
		Title:      "search index",
		PageSize:   pageSize,
		Handle:     x.handle,
		Position:   followerPosition{x},
		Idle:       x.idle,
		Gone:       x.resync,
		BackoffMin: 100 * time.Millisecond,
		BackoffMax: 10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("index: follow the change log: %w", err)
	}
	x.follower = c
	return nil
}

// followerPosition keeps the follower's position: where the indexes
// stand, published to the searches waiting for it.
type followerPosition struct{ x *Index }

func (p followerPosition) Load(context.Context) (uint64, error) { return p.x.applied.Load(), nil }

func (p followerPosition) Save(_ context.Context, seq uint64) error {
	p.x.publish(seq)
	return nil
}

// handle applies a page of the change log, after swapping in the builds
// that are ready at the position before it.
func (x *Index) handle(ctx context.Context, changes []core.Change) (int, error) {
	if err := x.install(ctx, x.applied.Load()); err != nil {
		return 0, err
	}
	last := changes[len(changes)-1].Seq
	if err := x.apply(ctx, changes, behind(len(changes), last, x.feed.LastSeq())); err != nil {
		return 0, err
	}
	x.lastPage = len(changes)
	return len(changes), nil
}

// idle waits, with the follower at the end of the log at seq, for the
// next change or a build ready to be swapped in. After a small page it
// lets the next changes gather before they are read (gather).
func (x *Index) idle(ctx context.Context, seq uint64, changed <-chan struct{}) error {
	select {
	case <-ctx.Done():
		return nil
	case <-changed:
		if x.lastPage < gatherBelow {
			x.gather(ctx, seq)
		}
		x.lastPage = 0
		return nil
	case <-x.ready:
		return x.install(ctx, seq)
	}
}

// resync follows the log again after the entries past the index's
// position seq were trimmed (the index was offline longer than
// changes_retention, or its files are older than the store's): what the
// active indexes lack cannot be replayed, so they are dropped, and each
// type is built anew from storage on the next search that needs it, as a
// new type is. The follower goes on from the end of the log.
func (x *Index) resync(ctx context.Context, seq uint64) (uint64, error) {
	last := x.feed.LastSeq()
	x.mu.Lock()
	stale := x.types
	x.types = map[string]*typeIndex{}
	x.mu.Unlock()
	for name, ti := range stale {
		x.log.WarnContext(ctx, "index: behind the retained change log; rebuilt on its next search", slog.String("type", name),
			slog.Uint64("index_seq", ti.seq), slog.Uint64("position", seq))
		if err := ti.close(ctx); err != nil {
			x.log.WarnContext(ctx, "index: close stale index", slog.String("type", name), slog.Any("err", err))
		}
		_ = os.RemoveAll(x.genDir(name, ti.gen))
	}
	x.savePosition(ctx)
	return last, nil
}

// Batching: after a page of fewer than gatherBelow changes, the follower
// lets the next ones gather for up to gatherFor before it reads them,
// unless a search is waiting for them. A bleve batch makes a segment, and
// many small segments cost more to build and merge than a few larger
// ones: at a steady write rate, waiting a little makes batches of
// hundreds rather than of a few documents. While writes come fast (at
// least gatherBusy changes in a gatherFor), it goes on gathering, up to
// gatherMax in all or until a page is full: per document, a batch of 1,000
// costs about 60% of the CPU of a batch of 100, merges included
// (BenchmarkIndexBatchSize), and at such rates the CPU the index saves is
// what the writes need.
const (
	gatherBelow = 500
	gatherFor   = 100 * time.Millisecond
	gatherBusy  = 100
	gatherMax   = 300 * time.Millisecond
)

// gather waits, with the follower at seq, until enough changes gathered
// (see gatherFor) or a search waits for the index.
func (x *Index) gather(ctx context.Context, seq uint64) {
	deadline := time.Now().Add(gatherMax)
	for wait := gatherFor; ; wait = min(gatherFor, time.Until(deadline)) {
		if x.waiting.Load() > 0 {
			return
		}
		before := x.feed.LastSeq()
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-x.wake:
			timer.Stop()
			return
		case <-timer.C:
		}
		last := x.feed.LastSeq()
		if last-before < gatherBusy || last-seq >= pageSize || !time.Now().Before(deadline) {
			return
		}
	}
}

// abandonBuilds cancels the builds when the follower stops, and fails the
// searches waiting for them.
func (x *Index) abandonBuilds() {
	x.mu.Lock()
	builds := x.builds
	x.builds = map[string]*build{}
	x.mu.Unlock()
	for _, b := range builds {
		b.cancel()
	}
	x.wg.Wait()
	ctx := x.closeCtx()
	for _, b := range builds {
		if b.ti != nil {
			_ = b.ti.close(ctx)
			b.err = core.ErrClosed
			close(b.done)
		}
		if b.old != nil {
			// An index being repaired is still active: closeAll
			// closes it (a second close does nothing).
			_ = b.old.close(ctx)
		}
	}
}

// apply indexes the current state of every resource a page of changes
// touched, type by type in one batch each. Indexing the current state (not
// the changed revision) makes replays idempotent and order-proof. split
// says whether a large batch may be split across the CPUs (applyBatches).
func (x *Index) apply(ctx context.Context, changes []core.Change, split bool) error {
	pending := map[string][]string{}
	var order []string
	flush := func(last uint64) error {
		for _, name := range order {
			x.mu.RLock()
			ti := x.types[name]
			x.mu.RUnlock()
			if ti == nil {
				continue
			}
			if err := x.index(ctx, ti, pending[name], last, split); err != nil {
				return err
			}
		}
		clear(pending)
		order = order[:0]
		return nil
	}
	for i, ch := range changes {
		if ch.Action == core.ActionType {
			if i > 0 {
				if err := flush(changes[i-1].Seq); err != nil {
					return err
				}
			}
			if err := x.typeChanged(ctx, ch.Type); err != nil {
				return err
			}
			continue
		}
		if ch.Action == core.ActionEvent {
			continue // a hook's event changes no resource
		}
		x.mu.RLock()
		ti := x.types[ch.Type]
		x.mu.RUnlock()
		if ti == nil || ch.Seq <= ti.seq {
			continue
		}
		if _, ok := pending[ch.Type]; !ok {
			order = append(order, ch.Type)
		}
		pending[ch.Type] = append(pending[ch.Type], ch.ID)
	}
	return flush(changes[len(changes)-1].Seq)
}

// index indexes the current state of the resources ids of ti's type, in
// one batch that also records seq as the position ti reflects (split as
// applyBatches says).
func (x *Index) index(ctx context.Context, ti *typeIndex, ids []string, seq uint64, split bool) error {
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var ops []batchOp
	if len(ids) > 0 {
		res, err := x.feed.GetMany(ctx, ti.def.Name, ids, core.GetOptions{IncludeDeleted: true})
		if errors.Is(err, core.ErrNotFound) {
			res = make([]*core.Resource, len(ids)) // the type is gone: its drop follows
		} else if err != nil {
			return fmt.Errorf("read %s: %w", ti.def.Name, err)
		}
		ops = make([]batchOp, len(ids))
		for i, r := range res {
			ops[i].id = ids[i]
			if r == nil {
				continue // deleted from the index
			}
			if ops[i].doc, err = ti.lay.document(r.ID, r.Data, r.Meta); err != nil {
				return err
			}
		}
	}
	if err := applyBatches(ti.idx, ops, seqBytes(seq), split); err != nil {
		return fmt.Errorf("index batch of %s: %w", ti.def.Name, err)
	}
	ti.writes.Add(1)
	ti.seq = seq
	return nil
}

// batchOp indexes doc under id, or deletes id when doc is nil.
type batchOp struct {
	id  string
	doc *document.Document
}

// parallelBatch is the least number of documents a batch is split for:
// bleve builds a batch's segment on one goroutine, so a large batch may be
// applied as one batch per CPU, in parallel. The ids of the parts are
// disjoint, so the order in which they land does not matter. Splitting
// costs CPU, though (each part makes its own segment, with its own
// dictionary, merged later): a tenth to a fifth more per document
// (BenchmarkIndexBatchSize). So only a backlog is split: builds, the
// replay after one, and the change log when the follower is more than a
// page behind (behind); an index following writes as they come leaves
// the other CPUs to the writes.
const parallelBatch = 200

// behind reports whether the follower, having read a page of n entries up
// to seq with the change log at last, has a backlog: the page is full and
// at least another full page follows it.
func behind(n int, seq, last uint64) bool {
	return n == pageSize && last >= seq+pageSize
}

// applyBatches applies ops to idx, then records seq (unless nil) as its
// position: in one bleve batch, or, when split allows and ops are many,
// split across the CPUs with the position recorded once every part has
// landed (so a persisted position never claims a part that is not).
func applyBatches(idx bleve.Index, ops []batchOp, seq []byte, split bool) error {
	parts := 1
	if n := runtime.GOMAXPROCS(0); split && n > 1 && len(ops) >= parallelBatch {
		parts = min(n, len(ops)/(parallelBatch/2))
	}
	fill := func(b *bleve.Batch, ops []batchOp) error {
		for _, op := range ops {
			if op.doc == nil {
				b.Delete(op.id)
				continue
			}
			if err := b.IndexAdvanced(op.doc); err != nil {
				return fmt.Errorf("index %s: %w", op.id, err)
			}
		}
		return nil
	}
	if parts == 1 {
		b := idx.NewBatch()
		if err := fill(b, ops); err != nil {
			return err
		}
		if seq != nil {
			b.SetInternal(seqKey, seq)
		}
		return idx.Batch(b)
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		part := ops[p*len(ops)/parts : (p+1)*len(ops)/parts]
		wg.Go(func() {
			b := idx.NewBatch()
			if errs[p] = fill(b, part); errs[p] == nil {
				errs[p] = idx.Batch(b)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil || seq == nil {
		return err
	}
	b := idx.NewBatch()
	b.SetInternal(seqKey, seq)
	return idx.Batch(b)
}

// typeChanged follows a type definition change at change seq: a dropped
// type's index is removed; an indexed (or building) type whose schema or
// search fields changed is rebuilt in the background; for other changes
// (permissions, hooks…) the definition is updated in place.
func (x *Index) typeChanged(ctx context.Context, name string) error {
	t, err := x.feed.Type(name)
	gone := errors.Is(err, core.ErrNotFound)
	if err != nil && !gone {
		return err
	}
	x.mu.Lock()
	ti, b := x.types[name], x.builds[name]
	if ti == nil && b == nil {
		x.mu.Unlock()
		return nil // not searched yet: built on first use
	}
	old := ti
	var replaced *typeIndex // a finished build that is not installed
	gen := 1
	if b != nil {
		gen = b.gen + 1
		b.cancel()
		delete(x.builds, name)
		if old == nil {
			old = b.old
		}
		b.old = nil
		replaced = b.ti
	}
	switch {
	case gone:
		delete(x.types, name)
	case ti != nil && b == nil && ti.def.SchemaVersion == t.SchemaVersion && slices.Equal(ti.def.Search, t.Search):
		ti.def = t
		ti.lay.def = t
		x.mu.Unlock()
		return nil
	default:
		delete(x.types, name)
		x.startBuildLocked(t, old, gen, false)
		old = nil // closed by the build's install
	}
	x.mu.Unlock()
	if replaced != nil {
		// Its goroutine has ended; a build still running ends on its
		// cancelled context and removes its own index.
		_ = replaced.close(x.closeCtx())
		_ = os.RemoveAll(x.genDir(name, replaced.gen))
		b.err = errReplaced
		close(b.done)
	}
	if old != nil {
		if err := old.close(x.closeCtx()); err != nil {
			x.log.WarnContext(ctx, "index: close dropped index", slog.String("type", name), slog.Any("err", err))
		}
	}
	if gone {
		if err := os.RemoveAll(x.typeDir(name)); err != nil {
			x.log.WarnContext(ctx, "index: remove dropped index", slog.String("type", name), slog.Any("err", err))
		}
	}
	x.savePosition(ctx)
	return nil
}

// Types returns the names of the types with an active index, for tests
// and diagnostics.
func (x *Index) Types() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	names := make([]string, 0, len(x.types))
	for n := range x.types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// errReplaced ends a build that a newer definition of its type replaced.
var errReplaced = errors.New("index: build replaced by a newer type definition")

// Rebuild rebuilds from feed, in dir, the indexes of the named types, or
// of every type recorded as indexed when none is named, and returns the
// names of those it rebuilt. Nothing else may have dir open: it is what
// `strata reindex` runs with the server stopped. A named type must be one
// of feed's.
func Rebuild(ctx context.Context, dir string, feed core.ChangeFeed, log *slog.Logger, types ...string) ([]string, error) {
	known := map[string]bool{}
	for _, t := range feed.Types() {
		known[t.Name] = true
	}
	for _, name := range types {
		if !known[name] {
			return nil, fmt.Errorf("index: unknown type %q", name)
		}
	}
	drop := []string{filepath.Join(dir, "types")}
	if len(types) > 0 {
		drop = drop[:0]
		for _, name := range types {
			drop = append(drop, filepath.Join(dir, "types", name))
		}
	}
	// The record of which types are indexed stays: Open rebuilds exactly
	// those whose files are gone.
	for _, d := range drop {
		if err := os.RemoveAll(d); err != nil {
			return nil, fmt.Errorf("remove index %s: %w", d, err)
		}
	}
	x, err := Open(ctx, dir, feed, log)
	if err != nil {
		return nil, err
	}
	names := types
	if len(names) == 0 {
		names = x.Types()
	}
	return names, x.Close()
}
