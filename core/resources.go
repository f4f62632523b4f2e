package core

import (
	"context"
)

// WriteOptions qualify a write.
//
// Who writes is the principal in the context (WithPrincipal); it is
// checked against the type's permissions and recorded as created_by /
// updated_by.
type WriteOptions struct {
	// IfMatch, when not zero, is the revision the writer believes current
	// (from an ETag); the write fails with ErrPreconditionFailed otherwise.
	// A negative value never matches.
	IfMatch int
	// RequestID names the request in hook envelopes and logs.
	RequestID string

	// by is the context's principal, set by the entry points once it
	// is authorized.
	by Principal
}

func (o WriteOptions) context() writeContext {
	return writeContext{by: o.by, requestID: o.RequestID}
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
	return m.authorized(ctx, Op{Kind: OpCreate, Type: typ, Body: body, IfMatch: o.IfMatch}, o)
}

// Replace writes body as the new data of a resource: a new revision, unless
// the data equals the current revision's (then nothing is written and the
// current revision is returned).
func (m *Manager) Replace(ctx context.Context, typ, id string, body []byte, o WriteOptions) (*Resource, error) {
	return m.authorized(ctx, Op{Kind: OpReplace, Type: typ, ID: id, Body: body, IfMatch: o.IfMatch}, o)
}

// Patch applies a merge patch or JSON Patch to a resource's current data
// and writes the result as Replace does.
func (m *Manager) Patch(ctx context.Context, typ, id string, kind PatchKind, patch []byte, o WriteOptions) (*Resource, error) {
	return m.authorized(ctx, Op{Kind: OpPatch, Type: typ, ID: id, Body: patch, PatchKind: kind, IfMatch: o.IfMatch}, o)
}

// Delete soft-deletes a resource: it disappears from reads and lists but
// keeps its history and can be restored. References to it are handled by
// their on_delete policy.
func (m *Manager) Delete(ctx context.Context, typ, id string, o WriteOptions) error {
	_, err := m.authorized(ctx, Op{Kind: OpDelete, Type: typ, ID: id, IfMatch: o.IfMatch}, o)
	return err
}

// Purge removes a resource and all its revisions for good.
func (m *Manager) Purge(ctx context.Context, typ, id string, o WriteOptions) error {
	_, err := m.authorized(ctx, Op{Kind: OpPurge, Type: typ, ID: id, IfMatch: o.IfMatch}, o)
	return err
}

// Restore undoes a soft delete.
func (m *Manager) Restore(ctx context.Context, typ, id string, o WriteOptions) (*Resource, error) {
	return m.authorized(ctx, Op{Kind: OpRestore, Type: typ, ID: id, IfMatch: o.IfMatch}, o)
}

// Switch makes revision n the current one (a rollback) without writing a
// new revision; the next update's parent is n.
func (m *Manager) Switch(ctx context.Context, typ, id string, n int, o WriteOptions) (*Resource, error) {
	return m.authorized(ctx, Op{Kind: OpSwitch, Type: typ, ID: id, Revision: n, IfMatch: o.IfMatch}, o)
}

// MaxBatch is the most operations one batch may hold.
const MaxBatch = 1000

// MaxPatchOps is the most operations one JSON Patch may hold.
const MaxPatchOps = 1000

// Batch applies ops in order in one transaction: all of them or, if any
// fails, none. The error is then a *BatchError naming the failed operation.
// Results hold the resource each operation left (nil for deletes). Each
// operation carries its own IfMatch; o.IfMatch is not used.
//
// The operations are staged (decoded, checked, their hooks run) one after
// the other before the transaction, each seeing the ones before it, and
// committed together (see pipeline.go): hooks never run while the batch
// holds the store's write transaction.
func (m *Manager) Batch(ctx context.Context, ops []Op, o WriteOptions) ([]*Resource, error) {
	if len(ops) == 0 {
		return nil, errorf(ErrInvalid, "batch holds no operations")
	}
	if len(ops) > MaxBatch {
		return nil, errorf(ErrInvalid, "batch holds %d operations; the limit is %d", len(ops), MaxBatch)
	}
	// Every operation is authorized before any is tried, so a refused one
	// fails the whole batch and nothing is written.
	for i, op := range ops {
		if err := m.allowOp(ctx, op); err != nil {
			return nil, &BatchError{Index: i, Err: err}
		}
	}
	o.by = PrincipalFrom(ctx)
	results, err := m.write(ctx, ops, o, true)
	if err != nil {
		return nil, err
	}
	return m.redactResults(ctx, results)
}

// one runs a single write through the pipeline.
func (m *Manager) one(ctx context.Context, op Op, o WriteOptions) (*Resource, error) {
	res, err := m.write(ctx, []Op{op}, o, false)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}
