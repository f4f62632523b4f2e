package core

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// keyAfterHooks holds the change-log position the after_* hooks have been
// run up to. It is written after the hooks of a page of changes ran, so a
// crash runs some hooks again (at least once) but never skips one.
var keyAfterHooks = []byte("after_hooks")

// afterStage maps a change-log action to the after_* stage it triggers.
func afterStage(action string) string {
	switch action {
	case ActionCreate:
		return StageAfterCreate
	case ActionUpdate, ActionSwitch, ActionRestore:
		return StageAfterUpdate
	case ActionDelete, ActionPurge:
		return StageAfterDelete
	}
	return ""
}

// The after_* hook runner's backoff after a failure: it doubles from
// afterBackoffMin up to afterBackoffMax. There is one runner per process
// and nothing else retries in step with it, so no jitter is needed.
const (
	afterBackoffMin = 100 * time.Millisecond
	afterBackoffMax = 30 * time.Second
	// afterSaveEvery bounds how stale the saved position may get while
	// changes pass that run no hook.
	afterSaveEvery = 10 * time.Second
)

// afterState is what the after_* hook runner shares with status readers.
type afterState struct {
	running atomic.Bool
	seq     atomic.Uint64 // change-log position whose hooks have run

	mu       sync.Mutex
	err      error     // the failure being retried; nil when healthy
	since    time.Time // when the current failure streak began
	failures int       // failed attempts in the current streak
}

// AfterHooksStatus is where the after_* hook runner stands.
type AfterHooksStatus struct {
	// Running is false when the Manager has no hook runtime.
	Running bool
	// Seq is the change-log position whose after_* hooks have run.
	Seq uint64
	// Lag is how many committed changes are past Seq: hooks still to run
	// (or changes still to skip, for types that bind no after_* hook).
	Lag uint64
	// Err is the failure the runner is retrying, nil when it is healthy;
	// its text may name internals. FailingSince is when the failures
	// began and Failures how many attempts have failed since.
	Err          error
	FailingSince time.Time
	Failures     int
}

// AfterHooksStatus reports the after_* hook runner's position, lag and
// current failure, for health endpoints and operators.
func (m *Manager) AfterHooksStatus() AfterHooksStatus {
	a := &m.after
	st := AfterHooksStatus{Running: a.running.Load(), Seq: a.seq.Load()}
	if !st.Running {
		return st
	}
	if last := m.LastSeq(); last > st.Seq {
		st.Lag = last - st.Seq
	}
	a.mu.Lock()
	st.Err, st.FailingSince, st.Failures = a.err, a.since, a.failures
	a.mu.Unlock()
	return st
}

// runAfterHooks follows the change log and runs the after_* hooks of each
// change, in log order, until ctx is done. Their failures are logged and
// counted; they never undo or delay a write. A failure to read or save
// (storage trouble) is retried with backoff from the first change whose
// hooks have not run, so every hook still runs, once.
func (m *Manager) runAfterHooks(ctx context.Context) {
	ctx = AsSystem(ctx) // the after-hooks follow the whole change log on Strata's authority
	defer close(m.afterDone)
	m.after.running.Store(true)
	r := afterRun{m: m}
	for {
		changed := m.Changed()
		more, err := r.step(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if m.after.failed(ctx, m, err) != nil {
				return
			}
			continue
		}
		m.after.recovered(ctx, m)
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// afterRun is the runner's own progress.
type afterRun struct {
	m       *Manager
	loaded  bool      // seq was read from the store
	seq     uint64    // position whose hooks have run
	saved   uint64    // position last saved
	savedAt time.Time // when it was saved
	dirty   bool      // hooks ran past saved
}

// advance records that the hooks of the changes up to seq have run.
func (r *afterRun) advance(seq uint64) {
	if seq > r.seq {
		r.seq = seq
		r.m.after.seq.Store(seq)
	}
}

// step runs the hooks of one page of changes and saves the position. It
// reports whether the page was full enough that more may follow.
func (r *afterRun) step(ctx context.Context) (more bool, err error) {
	m := r.m
	if !r.loaded {
		var seq uint64
		err := m.store.View(ctx, func(tx storage.Tx) error {
			var err error
			seq, err = readUint(tx, bucketSys, keyAfterHooks)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("read position: %w", err)
		}
		r.loaded, r.saved, r.savedAt = true, seq, m.now()
		r.advance(seq)
	}
	var page *ChangePage
	if m.anyAfterHooks() {
		page, err = m.Changes(ctx, r.seq, nil, 200)
		if err != nil {
			return false, fmt.Errorf("read change log: %w", err)
		}
		for _, ch := range page.Items {
			ran, err := m.dispatchAfter(ctx, ch)
			if err != nil {
				return false, err // ch's hooks have not run: retry from it
			}
			r.dirty = r.dirty || ran
			r.advance(ch.Seq)
		}
	} else {
		// No type binds an after_* hook: nothing to run, and changes
		// made now will not run hooks bound later.
		page = &ChangePage{NextSince: max(r.seq, m.LastSeq())}
	}
	r.advance(page.NextSince)
	if r.seq != r.saved && (r.dirty || m.now().Sub(r.savedAt) > afterSaveEvery) {
		err := m.store.Update(ctx, func(tx storage.Tx) error {
			return tx.Put(bucketSys, keyAfterHooks, binary.BigEndian.AppendUint64(nil, r.seq))
		})
		if err != nil {
			return false, fmt.Errorf("save position: %w", err)
		}
		r.saved, r.savedAt, r.dirty = r.seq, m.now(), false
	}
	return len(page.Items) > 0, nil
}

// failed records a failure of the runner, logs it if it starts a streak
// (a store that is down for an hour logs once, not once per retry), and
// waits out the backoff. It returns ctx's error if ctx ends first.
func (a *afterState) failed(ctx context.Context, m *Manager, err error) error {
	a.mu.Lock()
	first := a.err == nil
	if first {
		a.since = m.now()
	}
	a.err = err
	a.failures++
	n := a.failures - 1
	a.mu.Unlock()
	if first {
		m.log.ErrorContext(ctx, "after hooks: stalled; retrying with backoff until it succeeds",
			slog.Uint64("seq", a.seq.Load()), slog.Any("err", err))
	}
	d := afterBackoffMax
	if n < 16 {
		d = min(afterBackoffMin<<n, afterBackoffMax)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// recovered ends a failure streak, if any, and logs that it ended.
func (a *afterState) recovered(ctx context.Context, m *Manager) {
	a.mu.Lock()
	if a.err == nil {
		a.mu.Unlock()
		return
	}
	since, failures := a.since, a.failures
	a.err, a.since, a.failures = nil, time.Time{}, 0
	a.mu.Unlock()
	m.log.InfoContext(ctx, "after hooks: resumed", slog.Uint64("seq", a.seq.Load()),
		slog.Int("failures", failures), slog.Duration("stalled", m.now().Sub(since)))
}

// anyAfterHooks reports whether some type binds an after_* hook.
func (m *Manager) anyAfterHooks() bool {
	for _, ct := range m.typeSet() {
		if ct.hasStage(StageAfterCreate, StageAfterUpdate, StageAfterDelete) {
			return true
		}
	}
	return false
}

// dispatchAfter runs the hooks bound to the after stage of one change and
// reports whether any was bound. An error means none of them ran: the
// change's data could not be read, or ctx ended first.
func (m *Manager) dispatchAfter(ctx context.Context, ch Change) (bool, error) {
	stage := afterStage(ch.Action)
	ct := m.typeSet()[ch.Type]
	if stage == "" || ct == nil || !ct.hasStage(stage) {
		return false, nil
	}
	var data, previous json.RawMessage
	if ch.Action != ActionPurge {
		err := m.store.View(ctx, func(tx storage.Tx) error {
			r := reader{tx: tx}
			rev, err := r.revision(ct, ch.ID, ch.Revision)
			if errors.Is(err, ErrNotFound) {
				return nil // pruned by retention, or purged since: run without data
			}
			if err != nil {
				return err
			}
			data = rev.Data
			if stage == StageAfterUpdate && rev.Parent != nil {
				parent, err := r.revision(ct, ch.ID, *rev.Parent)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				if err == nil {
					previous = parent.Data
				}
			}
			if stage == StageAfterDelete {
				previous = data
			}
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("read %s/%s revision %d: %w", ch.Type, ch.ID, ch.Revision, err)
		}
	}
	wc := writeContext{by: Principal{ID: ch.By}, requestID: "change-" + formatUint(ch.Seq)}
	for _, b := range ct.def.Hooks {
		if b.Stage != stage {
			continue
		}
		if _, err := m.callHook(ctx, ct, b, ch.ID, data, previous, wc); err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			m.afterFailures.Add(1)
			m.log.ErrorContext(ctx, "after hook failed", slog.String("hook", b.Module), slog.String("stage", stage),
				slog.String("resource", ch.Type+"/"+ch.ID), slog.Uint64("seq", ch.Seq), slog.Any("err", err))
		}
	}
	return true, nil
}

// AfterHookFailures counts after_* hook calls that failed since Open.
func (m *Manager) AfterHookFailures() uint64 { return m.afterFailures.Load() }

func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }
