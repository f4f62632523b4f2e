package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/strata-dev/strata/core"
)

// Index keeps one Bleve index per type in a directory and feeds them from
// a Manager's change log. A type's index is built the first time a search
// needs it and kept from then on (indexing costs every write CPU, so types
// nobody searches pay nothing). Everything in it is derived from storage: a
// missing, corrupt or outdated index directory is rebuilt, so deleting the
// whole directory loses nothing. It is safe for concurrent use.
type Index struct {
	dir string
	m   *core.Manager
	log *slog.Logger

	mu    sync.RWMutex
	types map[string]*typeIndex

	applied  atomic.Uint64 // change-log seq reflected in every type index
	notifyMu sync.Mutex
	notify   chan struct{}

	// activate carries requests to build the index of a type, served by
	// the follower between pages so a build never races the change log.
	activate chan activation

	cancel context.CancelFunc
	done   chan struct{}
}

type activation struct {
	typ  string
	done chan error
}

type typeIndex struct {
	def core.Type
	idx bleve.Index
}

// position is what the directory records of its progress, written after
// each applied batch of changes (atomically: write, then rename).
type position struct {
	Format int            `json:"format"`
	Seq    uint64         `json:"seq"`
	Types  map[string]int `json:"types"` // schema version indexed
}

const positionFormat = 1

// batchSize bounds the changes applied in one Bleve batch per type.
const batchSize = 500

// Open opens or builds the indexes of every type of m in dir and starts
// following m's change log. Close stops it; the caller closes m after.
func Open(ctx context.Context, dir string, m *core.Manager, log *slog.Logger) (*Index, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("index directory %s: %w", dir, err)
	}
	x := &Index{dir: dir, m: m, log: log, types: map[string]*typeIndex{}, notify: make(chan struct{}),
		activate: make(chan activation)}
	pos, ok := x.readPosition()
	start := pos.Seq
	if !ok {
		// Nothing usable: rebuild everything from the current state, and
		// replay from the position before it (replays are idempotent).
		start = m.LastSeq()
		pos = position{Types: map[string]int{}}
	}
	for _, t := range m.Types() {
		if _, active := pos.Types[t.Name]; !active {
			continue // built on the first search that needs it
		}
		if err := x.openType(ctx, t, ok && pos.Types[t.Name] == t.SchemaVersion); err != nil {
			x.closeAll()
			return nil, err
		}
	}
	x.removeStale()
	x.applied.Store(start)
	if err := x.writePosition(start); err != nil {
		x.closeAll()
		return nil, err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	x.cancel, x.done = cancel, make(chan struct{})
	go x.follow(bg)
	return x, nil
}

// Close stops following the change log and closes the indexes.
func (x *Index) Close() error {
	x.cancel()
	<-x.done
	return x.closeAll()
}

func (x *Index) closeAll() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	for name, ti := range x.types {
		if err := ti.idx.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close index of %s: %w", name, err))
		}
	}
	x.types = map[string]*typeIndex{}
	return errors.Join(errs...)
}

func (x *Index) typePath(name string) string { return filepath.Join(x.dir, "types", name) }

// openType opens the index of t, or rebuilds it from storage when it is
// missing, unreadable, or trusted is false.
func (x *Index) openType(ctx context.Context, t core.Type, trusted bool) error {
	path := x.typePath(t.Name)
	if trusted {
		idx, err := bleve.Open(path)
		if err == nil {
			x.setType(t, idx)
			return nil
		}
		x.log.WarnContext(ctx, "index unreadable; rebuilding", slog.String("type", t.Name), slog.Any("err", err))
	}
	return x.rebuild(ctx, t)
}

func (x *Index) setType(t core.Type, idx bleve.Index) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old := x.types[t.Name]; old != nil && old.idx != idx {
		_ = old.idx.Close()
	}
	x.types[t.Name] = &typeIndex{def: t, idx: idx}
}

// rebuild builds the index of t from scratch out of storage.
func (x *Index) rebuild(ctx context.Context, t core.Type) error {
	start := time.Now()
	x.dropType(t.Name)
	path := x.typePath(t.Name)
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove index of %s: %w", t.Name, err)
	}
	im, err := Mapping(t)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	idx, err := bleve.New(path, im)
	if err != nil {
		return fmt.Errorf("create index of %s: %w", t.Name, err)
	}
	n := 0
	cursor := ""
	for {
		page, err := x.m.List(ctx, t.Name, core.ListOptions{Limit: core.MaxPageSize, Cursor: cursor, IncludeDeleted: true})
		if err != nil {
			_ = idx.Close()
			return fmt.Errorf("rebuild index of %s: %w", t.Name, err)
		}
		b := idx.NewBatch()
		for _, res := range page.Items {
			doc, err := Document(t, res.ID, res.Data, res.Meta)
			if err != nil {
				_ = idx.Close()
				return err
			}
			if err := b.Index(res.ID, doc); err != nil {
				_ = idx.Close()
				return fmt.Errorf("index %s/%s: %w", t.Name, res.ID, err)
			}
		}
		if err := idx.Batch(b); err != nil {
			_ = idx.Close()
			return fmt.Errorf("rebuild index of %s: %w", t.Name, err)
		}
		n += len(page.Items)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	x.setType(t, idx)
	x.log.InfoContext(ctx, "index rebuilt", slog.String("type", t.Name), slog.Int("resources", n), slog.Duration("took", time.Since(start)))
	return nil
}

func (x *Index) dropType(name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if ti := x.types[name]; ti != nil {
		_ = ti.idx.Close()
		delete(x.types, name)
	}
}

// removeStale deletes index directories of types that no longer exist.
func (x *Index) removeStale() {
	entries, err := os.ReadDir(filepath.Join(x.dir, "types"))
	if err != nil {
		return
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, e := range entries {
		if x.types[e.Name()] == nil {
			_ = os.RemoveAll(filepath.Join(x.dir, "types", e.Name()))
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

func (x *Index) writePosition(seq uint64) error {
	p := position{Format: positionFormat, Seq: seq, Types: map[string]int{}}
	x.mu.RLock()
	for name, ti := range x.types {
		p.Types[name] = ti.def.SchemaVersion
	}
	x.mu.RUnlock()
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	tmp := x.positionPath() + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("write index position: %w", err)
	}
	return os.Rename(tmp, x.positionPath())
}

// Applied returns the change-log seq every type index reflects.
func (x *Index) Applied() uint64 { return x.applied.Load() }

func (x *Index) publish(seq uint64) {
	x.applied.Store(seq)
	x.notifyMu.Lock()
	close(x.notify)
	x.notify = make(chan struct{})
	x.notifyMu.Unlock()
}

// WaitFor waits until the indexes reflect change seq, for at most max.
func (x *Index) WaitFor(ctx context.Context, seq uint64, max time.Duration) error {
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

// follow applies the change log to the indexes until ctx is done.
func (x *Index) follow(ctx context.Context) {
	defer close(x.done)
	seq := x.applied.Load()
	for {
		changed := x.m.Changed()
		x.mu.RLock()
		idle := len(x.types) == 0
		x.mu.RUnlock()
		if idle {
			// No type is indexed: there is nothing to apply, only the
			// position to keep up with.
			if last := x.m.LastSeq(); last > seq {
				seq = last
				x.publish(seq)
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case a := <-x.activate:
				a.done <- x.activateType(ctx, a.typ, seq)
			}
			continue
		}
		page, err := x.m.Changes(ctx, seq, nil, batchSize)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, core.ErrClosed) {
				x.log.ErrorContext(ctx, "index: read change log", slog.Any("err", err))
			}
			return
		}
		if len(page.Items) > 0 {
			if err := x.apply(ctx, page.Items); err != nil {
				if ctx.Err() == nil {
					x.log.ErrorContext(ctx, "index: apply changes", slog.Any("err", err))
				}
				return
			}
			seq = page.NextSince
			if err := x.writePosition(seq); err != nil {
				x.log.ErrorContext(ctx, "index: save position", slog.Any("err", err))
				return
			}
			x.publish(seq)
			continue
		}
		if page.NextSince > seq {
			seq = page.NextSince
			x.publish(seq)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case a := <-x.activate:
			a.done <- x.activateType(ctx, a.typ, seq)
		}
	}
}

// activateType builds the index of a type that has none. The follower
// calls it at position seq; the build reads storage at or after seq, and
// the follower goes on from seq, so no change is missed (replays are
// idempotent).
func (x *Index) activateType(ctx context.Context, typ string, seq uint64) error {
	x.mu.RLock()
	active := x.types[typ] != nil
	x.mu.RUnlock()
	if active {
		return nil
	}
	t, err := x.m.Type(typ)
	if err != nil {
		return err
	}
	if err := x.rebuild(ctx, t); err != nil {
		return err
	}
	return x.writePosition(seq)
}

// ensure makes sure typ has an index, asking the follower to build it,
// and waits at most max for it.
func (x *Index) ensure(ctx context.Context, typ string, max time.Duration) error {
	x.mu.RLock()
	active := x.types[typ] != nil
	x.mu.RUnlock()
	if active {
		return nil
	}
	a := activation{typ: typ, done: make(chan error, 1)}
	timer := time.NewTimer(max)
	defer timer.Stop()
	select {
	case x.activate <- a:
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return &core.Error{Kind: core.ErrUnavailable, Detail: "the search index of " + typ + " is being built; retry"}
	}
	select {
	case err := <-a.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return &core.Error{Kind: core.ErrUnavailable, Detail: "the search index of " + typ + " is being built; retry"}
	}
}

// apply indexes the current state of every resource a page of changes
// touched. Indexing the current state (not the changed revision) makes
// replays idempotent and order-proof.
func (x *Index) apply(ctx context.Context, changes []core.Change) error {
	batches := map[string]*bleve.Batch{}
	flush := func() error {
		for name, b := range batches {
			x.mu.RLock()
			ti := x.types[name]
			x.mu.RUnlock()
			if ti == nil {
				continue
			}
			if err := ti.idx.Batch(b); err != nil {
				return fmt.Errorf("index batch of %s: %w", name, err)
			}
		}
		clear(batches)
		return nil
	}
	for _, ch := range changes {
		if ch.Action == core.ActionType {
			if err := flush(); err != nil {
				return err
			}
			if err := x.applyType(ctx, ch.Type); err != nil {
				return err
			}
			continue
		}
		x.mu.RLock()
		ti := x.types[ch.Type]
		x.mu.RUnlock()
		if ti == nil {
			continue
		}
		b := batches[ch.Type]
		if b == nil {
			b = ti.idx.NewBatch()
			batches[ch.Type] = b
		}
		res, err := x.m.Get(ctx, ch.Type, ch.ID, core.GetOptions{IncludeDeleted: true})
		switch {
		case errors.Is(err, core.ErrNotFound):
			b.Delete(ch.ID)
		case err != nil:
			return fmt.Errorf("read %s/%s: %w", ch.Type, ch.ID, err)
		default:
			doc, err := Document(ti.def, res.ID, res.Data, res.Meta)
			if err != nil {
				return err
			}
			if err := b.Index(res.ID, doc); err != nil {
				return fmt.Errorf("index %s/%s: %w", ch.Type, ch.ID, err)
			}
		}
	}
	return flush()
}

// applyType follows a type definition change: a new or re-mapped type is
// (re)built, a dropped one removed.
func (x *Index) applyType(ctx context.Context, name string) error {
	t, err := x.m.Type(name)
	if errors.Is(err, core.ErrNotFound) {
		x.dropType(name)
		return os.RemoveAll(x.typePath(name))
	}
	if err != nil {
		return err
	}
	x.mu.RLock()
	ti := x.types[name]
	x.mu.RUnlock()
	if ti == nil {
		return nil // not searched yet: built on first use
	}
	if ti.def.SchemaVersion == t.SchemaVersion && slices.Equal(ti.def.Search, t.Search) {
		x.mu.Lock()
		x.types[name] = &typeIndex{def: t, idx: ti.idx}
		x.mu.Unlock()
		return nil
	}
	return x.rebuild(ctx, t)
}
