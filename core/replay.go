package core

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// Bounds of a replay (ReplayHook).
const (
	// DefaultReplayLast is the number of revisions a replay runs over
	// when ReplayOptions.Last is zero.
	DefaultReplayLast = 100
	// MaxReplayLast is the most revisions one replay runs over.
	MaxReplayLast = 10000
	// ReplaySamples is the most samples a replay report holds per
	// outcome.
	ReplaySamples = 5
)

// Outcomes of a replayed revision (ReplaySample.Outcome).
const (
	ReplayAllowed  = "allowed"
	ReplayRejected = "rejected"
	ReplayFailed   = "failed"
)

// ReplayOptions say what ReplayHook runs a module over.
type ReplayOptions struct {
	// Type names the type whose revisions are replayed. Required.
	Type string
	// Stage is the stage the module is run at: validate (the default),
	// before_create, before_update or before_delete.
	Stage string
	// Last is the number of the type's latest writes replayed, from 1 to
	// MaxReplayLast; 0 means DefaultReplayLast.
	Last int
}

// ReplayReport is what a replay found: how many of the revisions the
// module would have allowed, rejected or failed on, with a few samples
// of each outcome.
type ReplayReport struct {
	// Hook is the name the module was run as; SHA256 identifies its code.
	Hook   string `json:"hook"`
	SHA256 string `json:"sha256"`
	Type   string `json:"type"`
	Stage  string `json:"stage"`
	// Checked = Allowed + Rejected + Failed: the revisions replayed.
	Checked  int `json:"checked"`
	Allowed  int `json:"allowed"`
	Rejected int `json:"rejected"`
	Failed   int `json:"failed"`
	// Samples are up to ReplaySamples revisions of each outcome, newest
	// first.
	Samples []ReplaySample `json:"samples"`
	// Truncated says the replay stopped early, at its caller's deadline:
	// the counts cover the newest Checked revisions only.
	Truncated bool `json:"truncated"`
}

// ReplaySample is the outcome of the module on one revision.
type ReplaySample struct {
	ID       string `json:"id"`
	Revision int    `json:"revision"`
	// Outcome is ReplayAllowed, ReplayRejected or ReplayFailed.
	Outcome string `json:"outcome"`
	// Errors are the field errors of a rejection, or one error saying
	// why the hook failed.
	Errors []FieldError `json:"errors,omitempty"`
}

// replayStages are the stages a replay may run a module at, with the
// change-log actions whose revisions it replays for each.
var replayStages = map[string][]string{
	StageValidate:     {ActionCreate, ActionUpdate},
	StageBeforeCreate: {ActionCreate},
	StageBeforeUpdate: {ActionUpdate},
	StageBeforeDelete: {ActionDelete},
}

// ReplayHook runs a hook module over the latest writes of a type, as the
// stage would have run it, and reports what it would have decided; it
// writes nothing. It is how a new version of a module is tried on real
// data before it is bound. Only an administrator may replay.
//
// The module is wasm, a candidate, registered for the replay under a
// temporary name no type binds and removed afterwards, so the module
// registered as name, if any, is never replaced; or, when wasm is empty,
// the module registered as name. Either runs as name: its input envelope
// and errors say name, and the binding of name to the type at the stage
// (else any binding of name to the type) gives its config and limits.
//
// The writes replayed are the type's last o.Last entries in the change
// log of the actions the stage runs on: creates and updates for validate,
// creates for before_create, updates for before_update, soft deletes for
// before_delete. Each is replayed from the revision it wrote: its data,
// the data of the revision it was written over as previous, its author
// (without roles) as principal, its time as the request's. Writes whose
// revisions retention has pruned are left out. A rejection is counted as
// rejected, and so is data a before_* hook returns that the schema
// refuses; a hook that fails, or returns data that is not an object or
// changes the id, is counted as failed.
//
// The replay ends at ctx's deadline, a little before it, with the counts
// so far and Truncated set. An invalid candidate fails with ErrInvalid,
// an unknown type or module with ErrNotFound, options out of range with
// ErrInvalid.
func (m *Manager) ReplayHook(ctx context.Context, name string, wasm []byte, o ReplayOptions) (*ReplayReport, error) {
	if err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if o.Stage == "" {
		o.Stage = StageValidate
	}
	actions, ok := replayStages[o.Stage]
	if !ok {
		return nil, errorf(ErrInvalid, "a replay runs a module at the validate, before_create, before_update or before_delete stage, not %q", o.Stage)
	}
	if o.Last == 0 {
		o.Last = DefaultReplayLast
	}
	if o.Last < 1 || o.Last > MaxReplayLast {
		return nil, errorf(ErrInvalid, "a replay runs over 1 to %d revisions, not %d", MaxReplayLast, o.Last)
	}
	if o.Type == "" {
		return nil, errorf(ErrInvalid, "name the type whose revisions are replayed")
	}
	ct, err := m.lookupType(o.Type)
	if err != nil {
		return nil, err
	}
	reg, err := m.hookRegistry()
	if err != nil {
		return nil, err
	}
	run, sha, release, err := m.replayModule(ctx, reg, name, wasm)
	if err != nil {
		return nil, err
	}
	defer release()

	// Stop a little before the caller's deadline, to answer in time.
	rctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		margin := min(2*time.Second, time.Until(dl)/10)
		var cancel context.CancelFunc
		rctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
		defer cancel()
	}
	rep := &ReplayReport{Hook: name, SHA256: sha, Type: ct.def.Name, Stage: o.Stage, Samples: []ReplaySample{}}
	writes, err := m.replayWrites(rctx, ct, actions, o.Last)
	if err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			rep.Truncated = true
			return rep, nil
		}
		return nil, err
	}
	b := replayBinding(ct, name, o.Stage)
	samples := map[string]int{}
	for _, w := range writes {
		s, err := m.replayOne(rctx, ct, b, run, w)
		if pastDeadline(rctx) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			rep.Truncated = true // the last call may have been cut short
			break
		}
		if err != nil {
			return nil, err
		}
		if s == nil { // pruned
			continue
		}
		rep.Checked++
		switch s.Outcome {
		case ReplayAllowed:
			rep.Allowed++
		case ReplayRejected:
			rep.Rejected++
		default:
			rep.Failed++
		}
		if samples[s.Outcome] < ReplaySamples {
			samples[s.Outcome]++
			rep.Samples = append(rep.Samples, *s)
		}
	}
	return rep, nil
}

// replayModule makes the module a replay runs available and returns the
// name it is registered under, the SHA-256 of its code and the function
// that removes it when the replay is done.
func (m *Manager) replayModule(ctx context.Context, reg HookRegistry, name string, wasm []byte) (run, sha string, release func(), err error) {
	if len(wasm) == 0 {
		for _, mod := range reg.HookModules() {
			if mod.Name == name {
				return name, mod.SHA256, func() {}, nil
			}
		}
		return "", "", nil, errorf(ErrNotFound, "no hook module %s; send a candidate module to replay", name)
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:]) // never fails
	run = "replay-" + hex.EncodeToString(rnd[:])
	m.replaying.Store(run, true)
	mod, err := reg.RegisterHook(ctx, run, wasm)
	if err != nil {
		m.replaying.Delete(run)
		var ce *Error
		if errors.As(err, &ce) && errors.Is(err, ErrInvalid) {
			// The runtime's message names the temporary name: say name.
			return "", "", nil, &Error{Kind: ErrInvalid, Detail: "invalid candidate module: " + strings.ReplaceAll(ce.Detail, run, name)}
		}
		return "", "", nil, fmt.Errorf("register candidate module for %s: %w", name, err)
	}
	release = func() {
		rctx := context.WithoutCancel(ctx)
		if err := reg.RemoveHook(rctx, run); err != nil {
			m.log.ErrorContext(rctx, "candidate module of a replay could not be removed",
				slog.String("hook", run), slog.Any("err", err))
		}
		m.replaying.Delete(run)
	}
	return run, mod.SHA256, release, nil
}

// replayBinding is the binding a replay runs name with at stage: the
// type's binding of name at stage, else its first binding of name at any
// stage, else the defaults.
func replayBinding(ct *compiledType, name, stage string) HookBinding {
	var found *HookBinding
	for i, b := range ct.def.Hooks {
		if b.Module != name {
			continue
		}
		if b.Stage == stage {
			found = &ct.def.Hooks[i]
			break
		}
		if found == nil {
			found = &ct.def.Hooks[i]
		}
	}
	b := HookBinding{Module: name}
	if found != nil {
		b = *found
	}
	b.Stage, b.FailurePolicy = stage, ""
	return b
}

// replayWrite is one write a replay runs a module over: the change-log
// entry of a resource's revision.
type replayWrite struct {
	id       string
	revision int
	action   string
}

// replayScanChunk is the number of change-log entries read per read
// transaction while looking for the writes to replay.
const replayScanChunk = 4096

// replayWrites finds, newest first, the last n writes of ct with one of
// actions, reading the change log backwards a chunk at a time.
func (m *Manager) replayWrites(ctx context.Context, ct *compiledType, actions []string, n int) ([]replayWrite, error) {
	var floor uint64
	err := m.store.View(ctx, func(tx storage.Tx) error {
		return tx.Scan(bucketChanges, storage.Range{}, func(k, _ []byte) bool {
			floor = binary.BigEndian.Uint64(k)
			return false
		})
	})
	if err != nil {
		return nil, fmt.Errorf("replay: read the change log: %w", err)
	}
	chunk := uint64(replayScanChunk)
	if m.replayChunk > 0 {
		chunk = m.replayChunk
	}
	var out []replayWrite
	for hi := m.LastSeq(); hi >= floor && hi > 0 && len(out) < n; {
		lo := max(floor, hi-min(hi, chunk-1))
		var found []replayWrite
		err := m.store.View(ctx, func(tx storage.Tx) error {
			var derr error
			err := tx.Scan(bucketChanges, storage.Range{Start: seqKey(lo), End: seqKey(hi + 1)}, func(_, v []byte) bool {
				ch, err := decodeChange(v)
				if err != nil {
					derr = err
					return false
				}
				if ch.Type == ct.def.Name && ch.ID != "" && ch.Revision > 0 && slices.Contains(actions, ch.Action) {
					found = append(found, replayWrite{id: ch.ID, revision: ch.Revision, action: ch.Action})
				}
				return true
			})
			if err != nil {
				return err
			}
			return derr
		})
		if err != nil {
			return nil, fmt.Errorf("replay: read the change log: %w", err)
		}
		for i := len(found) - 1; i >= 0 && len(out) < n; i-- {
			out = append(out, found[i])
		}
		if lo <= floor || lo == 0 {
			break
		}
		hi = lo - 1
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pastDeadline reports whether ctx is done or its deadline has passed by
// the clock: a hook stopped at the deadline (it reads the clock itself)
// may return before ctx's timer has fired, and the calls after it would
// each fail at once, counted as failures, until it does.
func pastDeadline(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// replayOne runs the module registered as run, as binding b, on the write
// w, and returns its outcome; nil when retention pruned the revision or
// the one it was written over.
func (m *Manager) replayOne(ctx context.Context, ct *compiledType, b HookBinding, run string, w replayWrite) (*ReplaySample, error) {
	var rev, parent *revisionRecord
	err := m.store.View(ctx, func(tx storage.Tx) error {
		var err error
		if rev, err = getRevision(tx, ct.def.Name, w.id, w.revision, nil); err != nil {
			return err
		}
		if w.action == ActionUpdate && rev.Parent != nil {
			parent, err = getRevision(tx, ct.def.Name, w.id, *rev.Parent, nil)
		}
		return err
	})
	switch {
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("replay %s/%s revision %d: %w", ct.def.Name, w.id, w.revision, err)
	}
	data, previous := rev.Data, []byte(nil)
	switch {
	case w.action == ActionDelete:
		previous = data
	case parent != nil:
		previous = parent.Data
	}
	call := m.hookCall(ct, b, w.id, data, previous, writeContext{by: Principal{ID: rev.CreatedBy}, requestID: "replay"})
	call.Module, call.Hook, call.RequestTime = run, b.Module, rev.CreatedAt
	s := &ReplaySample{ID: w.id, Revision: w.revision, Outcome: ReplayAllowed}
	res, err := m.hooks.RunHook(ctx, call)
	if err == nil {
		err = replayVerdict(ct, b, w.id, res)
	}
	var ce *Error
	switch {
	case err == nil:
	case errors.Is(err, ErrValidation) && errors.As(err, &ce):
		s.Outcome, s.Errors = ReplayRejected, ce.Fields
	case errors.As(err, &ce):
		s.Outcome, s.Errors = ReplayFailed, []FieldError{{Message: ce.Detail, Source: b.Module}}
	default:
		s.Outcome, s.Errors = ReplayFailed, []FieldError{{Message: hookFailed(b, err.Error()).(*Error).Detail, Source: b.Module}}
	}
	return s, nil
}

// replayVerdict is what a write would have made of a hook's answer: nil
// if it goes on, a validation error if it is rejected, a failed hook
// otherwise. It checks what wasmHandler and writeChains check.
func replayVerdict(ct *compiledType, b HookBinding, id string, res *HookResult) error {
	if !res.Allow {
		return rejection(b, res)
	}
	if _, err := addEvents(nil, res.Events); err != nil {
		return hookFailed(b, "invalid events: "+err.Error())
	}
	if res.Data != nil && (b.Stage == StageBeforeCreate || b.Stage == StageBeforeUpdate) {
		who := fmt.Sprintf("hook %s (%s)", b.Module, b.Stage)
		if _, err := ct.hookedDocument(b.Stage, who, id, res.Data); err != nil {
			return err
		}
	}
	return nil
}
