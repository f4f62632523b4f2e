package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// A write, single or batch, runs this pipeline, top to bottom:
//
//  1. read     – a short read transaction copies the current state of the
//     resources the operations touch (current, below);
//  2. authorize – may the principal do this to that state (authorize.go;
//     before decode, so that a patch's "test" operation cannot probe data
//     the principal may not write, and again inside the commit);
//  3. decode   – the body or patch becomes the object to write (decode.go);
//  4. chains   – schema check, validate and before_* hook chains, with no
//     transaction open and no lock held (chains.go);
//  5. commit   – one write transaction checks that nothing the work was
//     based on moved (type definitions, revisions) and applies the
//     operations (commit.go, write.go);
//  6. publish  – the change-log position is published after the commit
//     (writer.update), waking the search index, the change feed and the
//     after_* hooks.
//
// If the commit finds the work stale, the pipeline starts again from step
// 1, hooks included, at most maxWriteAttempts times with a short random
// backoff; then the write fails with ErrConflict (409) and the client may
// retry. Writes that build on a resource's current data (patches, hooked
// updates and deletes) of one process queue on an in-memory lock of that
// resource (keyLocks), so they do not make each other stale: a hot
// resource's writers take turns instead of exhausting their attempts. No
// hook ever runs inside a storage transaction, so a slow hook delays its
// own write only.

// maxWriteAttempts bounds how often a write is staged again after its
// resource or type moved under it.
const maxWriteAttempts = 5

// errTypeChanging means a type change was in progress or had committed
// while its new definition was not yet in use; the write waits for it and
// starts again.
var errTypeChanging = errors.New("core: a type change is in progress")

// typesSettled reports whether no type change holds or waits for typeMu.
// Called inside a write transaction, it makes the type set stable for the
// rest of that transaction: a type change takes typeMu before its own
// transaction, which cannot commit before this one ends, and releases it
// only after its new definition is in use. The write must not wait for
// typeMu there (the type change may be waiting for this transaction), so
// it only probes.
func (m *Manager) typesSettled() bool {
	if !m.typeMu.TryRLock() {
		return false
	}
	m.typeMu.RUnlock()
	return true
}

// awaitTypeChange returns once the type change in progress is done.
func (m *Manager) awaitTypeChange() {
	m.typeMu.RLock()
	//lint:ignore SA2001 the wait for the writer is the point; nothing is guarded
	m.typeMu.RUnlock()
	m.catchUpTypes() // another node's type change (cluster.go)
}

// write runs ops through the pipeline. batch says whether errors name the
// failed operation (*BatchError).
func (m *Manager) write(ctx context.Context, ops []Op, o WriteOptions, batch bool) ([]*Resource, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	unlock, err := m.locks.lock(ctx, m.buildKeys(ops))
	if err != nil {
		return nil, err
	}
	defer unlock()
	wc := o.context()
	for attempt := 1; ; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, err := m.stage(ctx, ops, wc, batch)
		if err != nil {
			return nil, err
		}
		results, err := m.commit(ctx, p, o.by)
		switch {
		case errors.Is(err, errTypeChanging):
			m.awaitTypeChange() // not counted: type changes are rare and finite
		case errors.Is(err, errStale):
			if attempt >= maxWriteAttempts {
				return nil, errorf(ErrConflict, "the resource changed %d times while this write was prepared; try again", attempt)
			}
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
			attempt++
		default:
			return results, err
		}
	}
}

// backoff waits a random time below 1 ms << attempt, or until ctx ends.
func backoff(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(rand.Int64N(int64(time.Millisecond << attempt))))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// plan is a staged write: the work done before the transaction, and what
// it was based on.
type plan struct {
	steps   []step
	expects []expectation
	batch   bool
}

// step is one staged operation.
type step struct {
	ct    *compiledType
	op    Op
	id    string
	doc   *document // create, replace, patch
	hooks []HookApproval
	// events are what the chains publish with the operation: appended to
	// the change log after its own entry, in the commit's transaction.
	events []ChangeEvent
}

// expectation is the state of a resource some staged work was built on:
// the commit refuses the plan (errStale) if it moved.
type expectation struct {
	ct      *compiledType
	id      string
	rev     int
	deleted bool
}

// current is a resource's state as the pipeline sees it.
type current struct {
	exists  bool
	deleted bool
	rev     int
	meta    Meta
	data    json.RawMessage // the current revision's data; a copy
	stored  bool            // read from storage (not from the batch's own earlier ops)
	// count and written are the number of revisions and the data of
	// those the batch's earlier operations wrote, for a switch to one.
	count   int
	written map[int]json.RawMessage
}

// stage runs steps 1–4 of the pipeline for every operation, in order.
// Each operation sees the results of the batch's earlier ones (an
// overlay), so two operations on one resource chain as they will in the
// commit.
func (m *Manager) stage(ctx context.Context, ops []Op, wc writeContext, batch bool) (*plan, error) {
	p := &plan{steps: make([]step, len(ops)), batch: batch}
	overlay := map[[2]string]*current{}
	for i, op := range ops {
		s, err := m.stageOne(ctx, op, wc, overlay, p)
		if err != nil {
			if batch {
				return nil, &BatchError{Index: i, Err: err}
			}
			return nil, err
		}
		p.steps[i] = s
	}
	return p, nil
}

func (m *Manager) stageOne(ctx context.Context, op Op, wc writeContext, overlay map[[2]string]*current, p *plan) (step, error) {
	ct, err := m.lookupType(op.Type)
	if err != nil {
		return step{}, err
	}
	s := step{ct: ct, op: op, id: op.ID}
	if op.Kind != OpCreate && !validID(op.ID) {
		return step{}, errorf(ErrNotFound, "%s/%s not found", ct.def.Name, op.ID)
	}
	// 1. read, when staging uses the resource's data or a later operation
	// of the batch may build on what this one leaves. A single write that
	// does neither (an unhooked replace, delete, restore or switch) reads
	// nothing here: the commit checks it against the stored state.
	uses := needsCurrent(m, ct, op)
	key := [2]string{ct.def.Name, op.ID}
	var cur *current
	if op.Kind != OpCreate && (uses || p.batch) {
		if cur = overlay[key]; cur == nil {
			if cur, err = m.readCurrent(ctx, ct, op.ID); err != nil {
				return step{}, err
			}
		}
	}
	// 2. authorize, before anything is made of the resource's data
	if err := authorizeWrite(wc.by, ct, op, cur); err != nil {
		return step{}, err
	}
	if uses {
		if err := usable(ct, op, cur); err != nil {
			return step{}, err
		}
		if cur.stored {
			p.expects = append(p.expects, expectation{ct: ct, id: op.ID, rev: cur.rev, deleted: cur.deleted})
		}
	}
	var previous json.RawMessage
	if cur != nil && uses {
		previous = cur.data
	}
	// 3. decode
	var obj map[string]any
	if s.id, obj, err = m.decode(ctx, ct, op, previous); err != nil {
		return step{}, err
	}
	// 4. chains
	switch op.Kind {
	case OpCreate, OpReplace, OpPatch:
		before := StageBeforeUpdate
		if op.Kind == OpCreate {
			before = StageBeforeCreate
		}
		var res chainsResult
		if s.doc, res, err = m.writeChains(ctx, ct, before, s.id, obj, previous, wc); err != nil {
			return step{}, err
		}
		s.hooks, s.events = res.approvals, res.events
		// The stored form is the canonical one, after the before_* hooks:
		// the limit is on what is stored, whoever produced it.
		if n := len(s.doc.raw); n > m.maxDoc {
			return step{}, errorf(ErrTooLarge, "the data of %s/%s would be %d bytes; max_document_size is %d", ct.def.Name, s.id, n, m.maxDoc)
		}
	case OpDelete, OpPurge:
		if uses {
			if s.events, err = m.deleteChains(ctx, ct, s.id, previous, wc); err != nil {
				return step{}, err
			}
		}
	}
	if p.batch {
		overlay[[2]string{ct.def.Name, s.id}] = m.leaves(ctx, ct, s, cur, wc.by)
	}
	return s, ctx.Err()
}

// needsCurrent reports whether staging op uses the resource's current
// data: patches apply to it, and hooks see it as "previous".
func needsCurrent(m *Manager, ct *compiledType, op Op) bool {
	switch op.Kind {
	case OpPatch:
		return true
	case OpReplace:
		return m.hasChain(ct, StageValidate, StageBeforeUpdate)
	case OpDelete, OpPurge:
		return m.hasChain(ct, StageBeforeDelete)
	}
	return false
}

// usable fails as the commit would when op cannot build on cur.
func usable(ct *compiledType, op Op, cur *current) error {
	switch {
	case cur == nil || !cur.exists:
		return errorf(ErrNotFound, "%s/%s not found", ct.def.Name, op.ID)
	case cur.deleted && op.Kind == OpDelete:
		return errorf(ErrGone, "%s/%s is already deleted", ct.def.Name, op.ID)
	case cur.deleted && op.Kind != OpPurge:
		return errorf(ErrGone, "%s/%s is deleted", ct.def.Name, op.ID)
	}
	return nil
}

// readCurrent reads, in a short read transaction, the state of a resource
// and a copy of its current data.
func (m *Manager) readCurrent(ctx context.Context, ct *compiledType, id string) (*current, error) {
	cur := &current{stored: true}
	err := m.store.View(ctx, func(tx storage.Tx) error {
		meta, rev, err := reader{tx: tx}.current(ct, id)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		cur.exists, cur.deleted, cur.rev, cur.meta = true, meta.Deleted, meta.CurrentRevision, meta.Meta
		cur.count = meta.RevisionCount
		cur.data = bytes.Clone(rev.Data) // tx's bytes end with it
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cur, nil
}

// leaves is the state s leaves its resource in, for the batch's later
// operations. A switch to a revision written before the batch reads it.
func (m *Manager) leaves(ctx context.Context, ct *compiledType, s step, cur *current, by Principal) *current {
	next := &current{exists: true}
	if cur != nil {
		c := *cur
		next = &c
		next.stored = false
	}
	switch s.op.Kind {
	case OpCreate, OpReplace, OpPatch:
		if s.op.Kind == OpCreate || !sameBytes(next.data, s.doc.raw) { // an unchanged replace writes no revision
			next.count++
			next.rev = next.count
			next.written = maps.Clone(next.written)
			if next.written == nil {
				next.written = map[int]json.RawMessage{}
			}
			next.written[next.rev] = s.doc.raw
		}
		next.deleted, next.data = false, s.doc.raw
		if s.op.Kind == OpCreate {
			next.meta.CreatedBy = by.ID
		}
	case OpDelete:
		next.deleted = true
	case OpPurge:
		next = &current{}
	case OpRestore:
		next.deleted = false
	case OpSwitch:
		next.rev = s.op.Revision
		if data, ok := next.written[s.op.Revision]; ok {
			next.data = data
			break
		}
		next.data = nil
		_ = m.store.View(ctx, func(tx storage.Tx) error {
			if rev, err := (reader{tx: tx}).revision(ct, s.id, s.op.Revision); err == nil {
				next.data = bytes.Clone(rev.Data)
			}
			return nil
		})
	}
	return next
}

// buildKeys lists, sorted and once each, the resources whose writes in
// ops build on their current data: the write holds their locks.
func (m *Manager) buildKeys(ops []Op) []string {
	var keys []string
	for _, op := range ops {
		if op.Kind == OpCreate {
			continue
		}
		ct, err := m.lookupType(op.Type)
		if err != nil || !needsCurrent(m, ct, op) {
			continue
		}
		keys = append(keys, op.Type+"/"+op.ID)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// keyLocks are in-memory locks by name, made on first use and dropped
// when nobody holds or waits for them.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while locked
	refs int
}

// lock takes the locks of keys, which must be sorted (so two writes never
// wait for each other), and returns their release. It gives up when ctx
// ends.
func (k *keyLocks) lock(ctx context.Context, keys []string) (func(), error) {
	held := make([]string, 0, len(keys))
	release := func() {
		for _, key := range held {
			k.unlock(key)
		}
	}
	for _, key := range keys {
		k.mu.Lock()
		if k.locks == nil {
			k.locks = map[string]*keyLock{}
		}
		l := k.locks[key]
		if l == nil {
			l = &keyLock{ch: make(chan struct{}, 1)}
			k.locks[key] = l
		}
		l.refs++
		k.mu.Unlock()
		select {
		case l.ch <- struct{}{}:
			held = append(held, key)
		case <-ctx.Done():
			k.drop(key)
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

func (k *keyLocks) unlock(key string) {
	k.mu.Lock()
	l := k.locks[key]
	k.mu.Unlock()
	<-l.ch
	k.drop(key)
}

func (k *keyLocks) drop(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l := k.locks[key]; l != nil {
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
	}
}
