package core

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"strconv"
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

// runAfterHooks follows the change log and runs the after_* hooks of each
// change, in log order, until ctx is done. Their failures are logged and
// counted; they never undo or delay a write.
func (m *Manager) runAfterHooks(ctx context.Context) {
	defer close(m.afterDone)
	var seq uint64
	err := m.store.View(ctx, func(tx storage.Tx) error {
		var err error
		seq, err = readUint(tx, bucketSys, keyAfterHooks)
		return err
	})
	if err != nil {
		m.log.ErrorContext(ctx, "after hooks: read position", slog.Any("err", err))
		return
	}
	saved, savedAt := seq, time.Now()
	for {
		changed := m.Changed()
		var page *ChangePage
		ran := false
		if m.anyAfterHooks() {
			page, err = m.Changes(ctx, seq, nil, 200)
			if err != nil {
				if ctx.Err() == nil {
					m.log.ErrorContext(ctx, "after hooks: read change log", slog.Any("err", err))
				}
				return
			}
			for _, ch := range page.Items {
				ran = m.dispatchAfter(ctx, ch) || ran
				if ctx.Err() != nil {
					return
				}
			}
		} else {
			// No type binds an after_* hook: nothing to run, and changes
			// made now will not run hooks bound later.
			page = &ChangePage{NextSince: max(seq, m.LastSeq())}
		}
		seq = page.NextSince
		if seq != saved && (ran || time.Since(savedAt) > 10*time.Second) {
			err := m.store.Update(ctx, func(tx storage.Tx) error {
				return tx.Put(bucketSys, keyAfterHooks, binary.BigEndian.AppendUint64(nil, seq))
			})
			if err != nil {
				if ctx.Err() == nil {
					m.log.ErrorContext(ctx, "after hooks: save position", slog.Any("err", err))
				}
				return
			}
			saved, savedAt = seq, time.Now()
		}
		if len(page.Items) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
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
// reports whether any was bound.
func (m *Manager) dispatchAfter(ctx context.Context, ch Change) bool {
	stage := afterStage(ch.Action)
	ct := m.typeSet()[ch.Type]
	if stage == "" || ct == nil || !ct.hasStage(stage) {
		return false
	}
	var data, previous json.RawMessage
	if ch.Action != ActionPurge {
		_ = m.store.View(ctx, func(tx storage.Tx) error {
			r := reader{tx: tx}
			rev, err := r.revision(ct, ch.ID, ch.Revision)
			if err != nil {
				return err // pruned by retention, or purged since: run without data
			}
			data = rev.Data
			if stage == StageAfterUpdate && rev.Parent != nil {
				if parent, err := r.revision(ct, ch.ID, *rev.Parent); err == nil {
					previous = parent.Data
				}
			}
			if stage == StageAfterDelete {
				previous = data
			}
			return nil
		})
	}
	wc := writeContext{by: Principal{ID: ch.By}, requestID: "change-" + formatUint(ch.Seq)}
	for _, b := range ct.def.Hooks {
		if b.Stage != stage {
			continue
		}
		if _, err := m.callHook(ctx, ct, b, ch.ID, data, previous, wc); err != nil {
			if ctx.Err() != nil {
				return true
			}
			m.afterFailures.Add(1)
			m.log.ErrorContext(ctx, "after hook failed", slog.String("hook", b.Module), slog.String("stage", stage),
				slog.String("resource", ch.Type+"/"+ch.ID), slog.Uint64("seq", ch.Seq), slog.Any("err", err))
		}
	}
	return true
}

// AfterHookFailures counts after_* hook calls that failed since Open.
func (m *Manager) AfterHookFailures() uint64 { return m.afterFailures.Load() }

func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }
