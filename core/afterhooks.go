package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// afterHooksConsumer is the name of the change-log consumer that runs the
// after_* hooks. Its position is saved after the hooks of a page of
// changes ran, so a crash runs some hooks again (at least once) but never
// skips one.
const afterHooksConsumer = "after_hooks"

// keyLegacyAfterHooks is where the runner kept its position (in bucket
// sys) before it became a consumer; loadPosition still reads it.
var keyLegacyAfterHooks = []byte("after_hooks")

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

// AfterHooksStatus is where the after_* hook runner stands: the status of
// its consumer. Running is false when the Manager has no hook runtime;
// Lag counts changes still to run hooks for, or to skip for types that
// bind no after_* hook.
type AfterHooksStatus = ConsumerStatus

// AfterHooksStatus reports the after_* hook runner's position, lag and
// current failure, for health endpoints and operators.
func (m *Manager) AfterHooksStatus() AfterHooksStatus {
	c := m.afterHooks
	if c == nil {
		return AfterHooksStatus{Name: afterHooksConsumer}
	}
	st := c.Status()
	if !st.Running {
		return AfterHooksStatus{Name: st.Name, Seq: st.Seq}
	}
	return st
}

// startAfterHooks starts the consumer that runs the after_* hooks of each
// change, in log order. Their failures are logged and counted; they never
// undo or delay a write. A failure to read or save (storage trouble) is
// retried with backoff from the first change whose hooks have not run, so
// every hook still runs, once.
func (m *Manager) startAfterHooks() error {
	c, err := m.StartConsumer(ConsumerConfig{
		Name:       afterHooksConsumer,
		Title:      "after hooks",
		BackoffMin: afterBackoffMin,
		BackoffMax: afterBackoffMax,
		SaveEvery:  afterSaveEvery,
		Types:      m.afterHookTypes,
		Lease:      true,
		Handle: func(ctx context.Context, changes []Change) (int, error) {
			for i, ch := range changes {
				if _, err := m.dispatchAfter(ctx, ch); err != nil {
					return i, err // ch's hooks have not run: retry from it
				}
			}
			return len(changes), nil
		},
	})
	if err != nil {
		return fmt.Errorf("start the after hooks: %w", err)
	}
	m.afterHooks = c
	return nil
}

// afterHookTypes lists the types that bind an after_* hook: the only ones
// whose changes the runner reads. Changes made while a type binds none
// will not run hooks bound to it later.
func (m *Manager) afterHookTypes() []string {
	types := []string{}
	for name, ct := range m.typeSet() {
		if ct.hasStage(StageAfterCreate, StageAfterUpdate, StageAfterDelete) {
			types = append(types, name)
		}
	}
	return types
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
