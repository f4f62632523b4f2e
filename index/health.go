package index

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/strata-dev/strata/core"
)

// Health: scorch persists and merges segments on goroutines of its own,
// and when a persist or a merge fails (a full disk, a deleted directory)
// it retries at once, forever: a tight loop on one or two cores, nothing
// logged, and the persisted callback a close waits for never comes.
// Scorch reports each failure to a callback named in the index's config;
// ours (onAsyncError) records it in the index's health, wakes the doctor,
// and holds scorch's goroutine for a pause that doubles with every failure
// (healthPolicy.pauseMin to pauseMax) or until the index closes, so the
// retries back off instead of spinning.
//
// The doctor goroutine rebuilds a failed index, and one whose directory
// has vanished (checked every healthPolicy.check): a new generation is
// built from storage while the failed index, whose segments are still in
// memory or mapped, goes on answering searches, and is swapped in by the
// follower as any rebuild is. A failed index is closed without waiting
// for its persistence. Rebuilds of a type that keeps failing (the disk is
// still full) are spaced by a delay that doubles from
// healthPolicy.rebuildMin to rebuildMax. Each type logs once when its
// index fails and once when a rebuilt index has persisted again, not once
// per retry.

// healthPolicy says how failures of the indexes are backed off.
type healthPolicy struct {
	check      time.Duration // how often the index directories are looked at
	pauseMin   time.Duration // scorch's first pause after a failure
	pauseMax   time.Duration
	rebuildMin time.Duration // the delay before a type's second rebuild
	rebuildMax time.Duration
}

var defaultHealthPolicy = healthPolicy{check: time.Second, pauseMin: 100 * time.Millisecond, pauseMax: 10 * time.Second,
	rebuildMin: time.Second, rebuildMax: time.Minute}

// scorchCallbacks is the name of our callbacks in scorch's registries.
const scorchCallbacks = "strata.index"

func init() {
	// The registries are read-only once init is over.
	scorch.RegistryAsyncErrorCallbacks[scorchCallbacks] = onAsyncError
	scorch.RegistryEventCallbacks[scorchCallbacks] = onEvent
}

// healths finds an index's health from what scorch's callbacks get: the
// scorch path (string) for errors, the *scorch.Scorch for events.
var healths sync.Map

// health is what is known of the failures of one bleve index.
type health struct {
	x    *Index
	path string         // the scorch directory: <generation>/store
	s    *scorch.Scorch // once opened

	mu       sync.Mutex
	err      error // the first failure
	failures int   // failures reported by scorch, for its pauses

	failed    chan struct{} // closed at the first failure
	stop      chan struct{} // closed when the index closes: pauses end
	stopOnce  sync.Once
	persisted atomic.Bool // scorch completed a persist round
}

// watch starts recording the failures of the bleve index at dir (a
// generation directory), before it is opened.
func (x *Index) watch(dir string) *health {
	h := &health{x: x, path: filepath.Join(dir, "store"), failed: make(chan struct{}), stop: make(chan struct{})}
	healths.Store(h.path, h)
	return h
}

// opened records the scorch index of h, for its events.
func (h *health) opened(idx bleve.Index) {
	adv, err := idx.Advanced()
	if err != nil {
		return
	}
	if s, ok := adv.(*scorch.Scorch); ok {
		h.s = s
		healths.Store(s, h)
	}
}

// release ends the pauses: the index is closing, and scorch's goroutines
// must see it.
func (h *health) release() { h.stopOnce.Do(func() { close(h.stop) }) }

// forget stops recording, once the index is closed.
func (h *health) forget() {
	healths.CompareAndDelete(h.path, h)
	if h.s != nil {
		healths.CompareAndDelete(h.s, h)
	}
}

// fail records a failure and returns how many there were.
func (h *health) fail(err error) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	if h.err == nil {
		h.err = err
		close(h.failed)
	}
	return h.failures
}

// failure returns the first failure, or nil.
func (h *health) failure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// onAsyncError is scorch's async error callback: it runs on the failing
// persister or merger goroutine, and returns when that goroutine may
// retry.
func onAsyncError(err error, path string) {
	v, ok := healths.Load(path)
	if !ok {
		return
	}
	h := v.(*health)
	n := h.fail(err)
	h.x.wakeDoctor()
	timer := time.NewTimer(backoff(h.x.hp.pauseMin, h.x.hp.pauseMax, n))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-h.stop:
	}
}

// onEvent is scorch's event callback: it records completed persists.
func onEvent(e scorch.Event) bool {
	if e.Kind == scorch.EventKindPersisterProgress {
		if v, ok := healths.Load(e.Scorch); ok {
			v.(*health).persisted.Store(true)
		}
	}
	return true
}

// backoff is lo doubled n-1 times, at most hi.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// noSpace wraps core.ErrNoSpace around an error that reports a full device
// or quota, so that a search that needs an index built on a full disk is
// answered as such (507).
func noSpace(err error) error {
	if err != nil && !errors.Is(err, core.ErrNoSpace) && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
		return fmt.Errorf("%w: %w", core.ErrNoSpace, err)
	}
	return err
}

// errVanished is the failure of an index whose directory was removed.
var errVanished = errors.New("index directory vanished")

func (x *Index) wakeDoctor() {
	select {
	case x.sick <- struct{}{}:
	default:
	}
}

// repair is what the doctor knows of a type whose index failed.
type repair struct {
	attempts int       // rebuilds started
	next     time.Time // no rebuild before
}

// doctor rebuilds failed and vanished indexes until ctx is done.
func (x *Index) doctor(ctx context.Context) {
	defer close(x.doctorDone)
	tick := time.NewTicker(x.hp.check)
	defer tick.Stop()
	repairs := map[string]*repair{}
	var timer *time.Timer
	for {
		var due <-chan time.Time
		if next := x.examine(ctx, repairs); !next.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(next))
				defer timer.Stop()
			} else {
				timer.Reset(time.Until(next))
			}
			due = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-x.sick:
		case <-due:
		}
	}
}

// examine looks at every active index once: it starts the rebuilds that
// are due and returns when the next one is (zero for none).
func (x *Index) examine(ctx context.Context, repairs map[string]*repair) time.Time {
	x.mu.RLock()
	active := make(map[string]*typeIndex, len(x.types))
	building := make(map[string]bool, len(x.builds))
	for name, ti := range x.types {
		active[name] = ti
	}
	for name := range x.builds {
		building[name] = true
	}
	x.mu.RUnlock()
	for name := range repairs {
		if active[name] == nil && !building[name] {
			delete(repairs, name) // dropped, or rebuilt for a new schema
		}
	}
	now := time.Now()
	var next time.Time
	for name, ti := range active {
		h := ti.health
		if h.failure() == nil {
			if _, err := os.Stat(x.genDir(name, ti.gen)); errors.Is(err, fs.ErrNotExist) {
				h.fail(errVanished)
			}
		}
		rep := repairs[name]
		err := h.failure()
		if err == nil {
			if rep != nil && h.persisted.Load() {
				x.log.InfoContext(ctx, "search index recovered", slog.String("type", name), slog.Int("rebuilds", rep.attempts))
				delete(repairs, name)
			}
			continue
		}
		if rep == nil {
			rep = &repair{}
			repairs[name] = rep
			x.log.WarnContext(ctx, "search index failed; rebuilding it from storage, with back-off while it keeps failing",
				slog.String("type", name), slog.Any("err", err))
		}
		if building[name] {
			continue // installed, or failed, then looked at again
		}
		if now.Before(rep.next) {
			if next.IsZero() || rep.next.Before(next) {
				next = rep.next
			}
			continue
		}
		x.mu.Lock()
		if x.types[name] == ti && x.builds[name] == nil && x.closing == nil {
			rep.attempts++
			rep.next = now.Add(backoff(x.hp.rebuildMin, x.hp.rebuildMax, rep.attempts))
			// The failure was logged above; the retries are not.
			x.startBuildLocked(ti.def, ti, ti.gen+1, rep.attempts > 1)
		}
		x.mu.Unlock()
	}
	return next
}
