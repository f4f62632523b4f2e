package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/strata-dev/strata/sdk/storage"
)

// WriteOptions qualify a write.
type WriteOptions struct {
	// Principal is who writes; it is recorded as created_by / updated_by.
	Principal Principal
	// IfMatch, when not zero, is the revision the writer believes current
	// (from an ETag); the write fails with ErrPreconditionFailed otherwise.
	// A negative value never matches.
	IfMatch int
	// RequestID names the request in hook envelopes and logs.
	RequestID string
}

func (o WriteOptions) context() writeContext {
	return writeContext{by: o.Principal, requestID: o.RequestID}
}

// PatchKind selects how a patch document is applied.
type PatchKind int

// Patch kinds.
const (
	// MergePatch is RFC 7386 JSON Merge Patch.
	MergePatch PatchKind = iota
	// JSONPatch is RFC 6902 JSON Patch.
	JSONPatch
)

// OpKind is the kind of one operation of a batch.
type OpKind int

// Operation kinds of a batch.
const (
	OpCreate OpKind = iota
	OpReplace
	OpPatch
	OpDelete
	OpPurge
	OpRestore
	OpSwitch
)

// Op is one write of a batch.
type Op struct {
	Kind OpKind
	Type string
	// ID names the resource; for OpCreate it may be empty (the id is then
	// taken from the body's "id" or generated).
	ID string
	// Body is the JSON data (create, replace) or patch document (patch).
	Body      []byte
	PatchKind PatchKind
	// Revision is the target of OpSwitch.
	Revision int
	// IfMatch as in WriteOptions.
	IfMatch int
}

// Create adds a resource of type typ with data body, a JSON object. A
// top-level "id" string in body names the resource (and is not part of its
// data); without it a UUIDv7 is assigned.
func (m *Manager) Create(ctx context.Context, typ string, body []byte, o WriteOptions) (*Resource, error) {
	return m.single(ctx, Op{Kind: OpCreate, Type: typ, Body: body, IfMatch: o.IfMatch}, o)
}

// Replace writes body as the new data of a resource: a new revision, unless
// the data equals the current revision's (then nothing is written and the
// current revision is returned).
func (m *Manager) Replace(ctx context.Context, typ, id string, body []byte, o WriteOptions) (*Resource, error) {
	return m.single(ctx, Op{Kind: OpReplace, Type: typ, ID: id, Body: body, IfMatch: o.IfMatch}, o)
}

// Patch applies a merge patch or JSON Patch to a resource's current data
// and writes the result as Replace does.
func (m *Manager) Patch(ctx context.Context, typ, id string, kind PatchKind, patch []byte, o WriteOptions) (*Resource, error) {
	return m.single(ctx, Op{Kind: OpPatch, Type: typ, ID: id, Body: patch, PatchKind: kind, IfMatch: o.IfMatch}, o)
}

// Delete soft-deletes a resource: it disappears from reads and lists but
// keeps its history and can be restored. References to it are handled by
// their on_delete policy.
func (m *Manager) Delete(ctx context.Context, typ, id string, o WriteOptions) error {
	_, err := m.single(ctx, Op{Kind: OpDelete, Type: typ, ID: id, IfMatch: o.IfMatch}, o)
	return err
}

// Purge removes a resource and all its revisions for good.
func (m *Manager) Purge(ctx context.Context, typ, id string, o WriteOptions) error {
	_, err := m.single(ctx, Op{Kind: OpPurge, Type: typ, ID: id, IfMatch: o.IfMatch}, o)
	return err
}

// Restore undoes a soft delete.
func (m *Manager) Restore(ctx context.Context, typ, id string, o WriteOptions) (*Resource, error) {
	return m.single(ctx, Op{Kind: OpRestore, Type: typ, ID: id, IfMatch: o.IfMatch}, o)
}

// Switch makes revision n the current one (a rollback) without writing a
// new revision; the next update's parent is n.
func (m *Manager) Switch(ctx context.Context, typ, id string, n int, o WriteOptions) (*Resource, error) {
	return m.single(ctx, Op{Kind: OpSwitch, Type: typ, ID: id, Revision: n, IfMatch: o.IfMatch}, o)
}

// MaxBatch is the most operations one batch may hold.
const MaxBatch = 1000

// Batch applies ops in order in one transaction: all of them or, if any
// fails, none. The error is then a *BatchError naming the failed operation.
// Results hold the resource each operation left (nil for deletes). Each
// operation carries its own IfMatch; o.IfMatch is not used.
func (m *Manager) Batch(ctx context.Context, ops []Op, o WriteOptions) ([]*Resource, error) {
	if len(ops) == 0 {
		return nil, errorf(ErrInvalid, "batch holds no operations")
	}
	if len(ops) > MaxBatch {
		return nil, errorf(ErrInvalid, "batch holds %d operations; the limit is %d", len(ops), MaxBatch)
	}
	m.typeMu.RLock()
	defer m.typeMu.RUnlock()
	results := make([]*Resource, len(ops))
	_, err := m.update(ctx, o.Principal, func(w *writer) error {
		for i, op := range ops {
			ct, err := m.lookupType(op.Type)
			if err == nil {
				var p *prepared
				if p, err = m.prepare(ctx, w.tx, ct, op, o.context()); err == nil {
					results[i], err = w.apply(ct, op, p)
				}
			}
			if err != nil {
				return &BatchError{Index: i, Err: err}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// single prepares one write outside the storage transaction, where the
// expensive work runs in parallel with other writers, and commits it. A
// patch prepared from a revision that another writer replaced meanwhile is
// prepared again inside the transaction, where nothing can move under it.
func (m *Manager) single(ctx context.Context, op Op, o WriteOptions) (*Resource, error) {
	m.typeMu.RLock()
	defer m.typeMu.RUnlock()
	ct, err := m.lookupType(op.Type)
	if err != nil {
		return nil, err
	}
	wc := o.context()
	var p *prepared
	if needsCurrent(ct, op) {
		err = m.store.View(ctx, func(tx storage.Tx) error {
			p, err = m.prepare(ctx, tx, ct, op, wc)
			return err
		})
	} else {
		p, err = m.prepare(ctx, nil, ct, op, wc)
	}
	if err != nil {
		return nil, err
	}
	var res *Resource
	_, err = m.update(ctx, o.Principal, func(w *writer) error {
		res, err = w.apply(ct, op, p)
		return err
	})
	if errors.Is(err, errStale) {
		_, err = m.update(ctx, o.Principal, func(w *writer) error {
			p, err := m.prepare(ctx, w.tx, ct, op, wc)
			if err != nil {
				return err
			}
			res, err = w.apply(ct, op, p)
			return err
		})
	}
	return res, err
}

// prepared is the outcome of the work done before the transaction.
type prepared struct {
	id     string
	doc    *document
	hooks  []HookApproval
	expect int // the revision the work was based on (patches, hooked writes)
}

// needsCurrent reports whether preparing op reads the resource's current
// revision: patches apply to it, and hooks see it as "previous".
func needsCurrent(ct *compiledType, op Op) bool {
	switch op.Kind {
	case OpPatch:
		return true
	case OpReplace:
		return ct.hasStage(StageValidate, StageBeforeUpdate)
	case OpDelete, OpPurge:
		return ct.hasStage(StageBeforeDelete)
	}
	return false
}

// prepare validates an operation, runs its hooks and builds its document.
// tx is needed only when needsCurrent.
func (m *Manager) prepare(ctx context.Context, tx storage.Tx, ct *compiledType, op Op, wc writeContext) (*prepared, error) {
	if op.Kind != OpCreate && !validID(op.ID) {
		return nil, errorf(ErrNotFound, "%s/%s not found", ct.def.Name, op.ID)
	}
	p := &prepared{id: op.ID}
	var previous json.RawMessage
	if needsCurrent(ct, op) {
		meta, rev, err := reader{tx: tx}.current(ct, op.ID)
		if err != nil {
			return nil, err
		}
		if meta.Deleted && op.Kind != OpPurge {
			return nil, errorf(ErrGone, "%s/%s is deleted", ct.def.Name, op.ID)
		}
		previous, p.expect = rev.Data, meta.CurrentRevision
	}
	var obj map[string]any
	var err error
	switch op.Kind {
	case OpCreate, OpReplace:
		if obj, err = decodeObject(op.Body); err != nil {
			return nil, err
		}
	case OpPatch:
		patched, err := applyPatch(op.PatchKind, previous, op.Body)
		if err != nil {
			return nil, err
		}
		if obj, err = patchedObject(patched); err != nil {
			return nil, err
		}
	case OpDelete, OpPurge:
		if previous != nil {
			if err := m.runDeleteHooks(ctx, ct, op.ID, previous, wc); err != nil {
				return nil, err
			}
		}
		return p, nil
	default:
		return p, nil
	}
	if p.id, err = takeID(obj, op.ID, op.Kind == OpCreate); err != nil {
		return nil, err
	}
	before := StageBeforeUpdate
	if op.Kind == OpCreate {
		before = StageBeforeCreate
		if p.id == "" {
			p.id = m.newID()
		}
	}
	if p.doc, p.hooks, err = m.runWriteHooks(ctx, ct, before, p.id, obj, previous, wc); err != nil {
		return nil, err
	}
	return p, nil
}

// takeID removes "id" from data. On create it names the new resource; on
// other writes it must repeat the resource's id.
func takeID(obj map[string]any, id string, create bool) (string, error) {
	v, ok := obj["id"]
	if !ok {
		if create && id == "" {
			return "", nil
		}
		return id, nil
	}
	delete(obj, "id")
	s, isString := v.(string)
	switch {
	case !isString || !validID(s):
		return "", fieldError(ErrInvalid, "invalid id", FieldError{Path: "/id", Message: "must match [A-Za-z0-9_-]{1,128} and not be count, export or import"})
	case id != "" && s != id:
		return "", fieldError(ErrInvalid, "id cannot change", FieldError{Path: "/id", Message: fmt.Sprintf("must be %q", id)})
	}
	return s, nil
}

// apply performs a prepared operation inside the write transaction.
func (w *writer) apply(ct *compiledType, op Op, p *prepared) (*Resource, error) {
	switch op.Kind {
	case OpCreate:
		return w.create(ct, p.id, p.doc, p.hooks)
	case OpReplace, OpPatch:
		return w.replace(ct, p.id, p.doc, op.IfMatch, p.expect, p.hooks)
	case OpDelete, OpPurge:
		if p.expect != 0 {
			meta, err := w.loadMeta(ct, p.id)
			if err != nil {
				return nil, err
			}
			if err := checkIfMatch(meta, op.IfMatch); err != nil {
				return nil, err
			}
			if meta.CurrentRevision != p.expect {
				return nil, errStale
			}
		}
		if op.Kind == OpDelete {
			return nil, w.softDelete(ct, p.id, op.IfMatch)
		}
		return nil, w.purge(ct, p.id, op.IfMatch)
	case OpRestore:
		return w.restore(ct, p.id, op.IfMatch)
	case OpSwitch:
		return w.switchTo(ct, p.id, op.Revision, op.IfMatch)
	}
	return nil, errorf(ErrInvalid, "unknown operation %d", op.Kind)
}

// applyJSONPatch applies p to doc. json-patch v5.9 panics on some
// malformed operations (a "test" of the whole document without a value);
// a client's patch must never take a request down, so a panic is a bad
// patch.
func applyJSONPatch(p jsonpatch.Patch, doc []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("malformed operation")
		}
	}()
	return p.Apply(doc)
}

// applyPatch applies a patch document to doc.
func applyPatch(kind PatchKind, doc, patch []byte) ([]byte, error) {
	if err := checkJSON(patch); err != nil {
		return nil, err
	}
	switch kind {
	case JSONPatch:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, errorf(ErrInvalid, "invalid JSON Patch document: %s", err.Error())
		}
		out, err := applyJSONPatch(p, doc)
		if err != nil {
			return nil, errorf(ErrInvalid, "JSON Patch cannot be applied: %s", err.Error())
		}
		return out, nil
	default:
		trimmed := bytes.TrimSpace(patch)
		if len(trimmed) == 0 || trimmed[0] != '{' {
			return nil, errorf(ErrInvalid, "a merge patch must be a JSON object")
		}
		if _, err := decodeObject(trimmed); err != nil {
			return nil, err
		}
		out, err := jsonpatch.MergePatch(doc, trimmed)
		if err != nil {
			return nil, errorf(ErrInvalid, "merge patch cannot be applied: %s", err.Error())
		}
		return out, nil
	}
}
