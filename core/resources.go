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
	return m.write(ctx, Op{Kind: OpCreate, Type: typ, Body: body, IfMatch: o.IfMatch}, o)
}

// Replace writes body as the new data of a resource: a new revision, unless
// the data equals the current revision's (then nothing is written and the
// current revision is returned).
func (m *Manager) Replace(ctx context.Context, typ, id string, body []byte, o WriteOptions) (*Resource, error) {
	return m.write(ctx, Op{Kind: OpReplace, Type: typ, ID: id, Body: body, IfMatch: o.IfMatch}, o)
}

// Patch applies a merge patch or JSON Patch to a resource's current data
// and writes the result as Replace does.
func (m *Manager) Patch(ctx context.Context, typ, id string, kind PatchKind, patch []byte, o WriteOptions) (*Resource, error) {
	return m.write(ctx, Op{Kind: OpPatch, Type: typ, ID: id, Body: patch, PatchKind: kind, IfMatch: o.IfMatch}, o)
}

// Delete soft-deletes a resource: it disappears from reads and lists but
// keeps its history and can be restored. References to it are handled by
// their on_delete policy.
func (m *Manager) Delete(ctx context.Context, typ, id string, o WriteOptions) error {
	_, err := m.write(ctx, Op{Kind: OpDelete, Type: typ, ID: id, IfMatch: o.IfMatch}, o)
	return err
}

// Purge removes a resource and all its revisions for good.
func (m *Manager) Purge(ctx context.Context, typ, id string, o WriteOptions) error {
	_, err := m.write(ctx, Op{Kind: OpPurge, Type: typ, ID: id, IfMatch: o.IfMatch}, o)
	return err
}

// Restore undoes a soft delete.
func (m *Manager) Restore(ctx context.Context, typ, id string, o WriteOptions) (*Resource, error) {
	return m.write(ctx, Op{Kind: OpRestore, Type: typ, ID: id, IfMatch: o.IfMatch}, o)
}

// Switch makes revision n the current one (a rollback) without writing a
// new revision; the next update's parent is n.
func (m *Manager) Switch(ctx context.Context, typ, id string, n int, o WriteOptions) (*Resource, error) {
	return m.write(ctx, Op{Kind: OpSwitch, Type: typ, ID: id, Revision: n, IfMatch: o.IfMatch}, o)
}

// MaxBatch is the most operations one batch may hold.
const MaxBatch = 1000

// MaxPatchOps is the most operations one JSON Patch may hold.
const MaxPatchOps = 1000

// maxWriteAttempts bounds how often a write is prepared outside its
// transaction; after that it is prepared inside, where nothing can move.
const maxWriteAttempts = 3

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
}

// Batch applies ops in order in one transaction: all of them or, if any
// fails, none. The error is then a *BatchError naming the failed operation.
// Results hold the resource each operation left (nil for deletes). Each
// operation carries its own IfMatch; o.IfMatch is not used.
//
// Each operation is prepared inside the transaction, after the ones before
// it, so hooks and patches of a batch run while it holds the store's write
// transaction; but no type lock is held while they run.
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
	for {
		results := make([]*Resource, len(ops))
		_, err := m.update(ctx, o.by, func(w *writer) error {
			if !m.typesSettled() {
				return errTypeChanging
			}
			for i, op := range ops {
				ct, err := m.lookupType(op.Type)
				if err == nil {
					var p *prepared
					if p, err = m.prepareIn(ctx, w.tx, ct, op, o.context()); err == nil {
						results[i], err = w.apply(ct, op, p)
					}
				}
				if err != nil {
					return &BatchError{Index: i, Err: err}
				}
			}
			return nil
		})
		if errors.Is(err, errTypeChanging) {
			m.awaitTypeChange()
			continue
		}
		if err != nil {
			return nil, err
		}
		return m.redactResults(ctx, results)
	}
}

// single prepares one write outside the storage transaction and outside
// any lock, where the expensive work (patches, hooks) runs in parallel with
// other writers and type changes, and commits it. The commit checks that
// the write's type is still the definition it was prepared with and that
// the revision it was based on is still current; if not, the write is
// prepared again, and after maxWriteAttempts inside the transaction, where
// nothing can move under it.
func (m *Manager) single(ctx context.Context, op Op, o WriteOptions) (*Resource, error) {
	wc := o.context()
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		inside := attempt >= maxWriteAttempts
		var ct *compiledType
		var p *prepared
		if !inside {
			var err error
			if ct, err = m.lookupType(op.Type); err != nil {
				return nil, err
			}
			if p, err = m.prepareOut(ctx, ct, op, wc); err != nil {
				return nil, err
			}
		}
		var res *Resource
		_, err := m.update(ctx, o.by, func(w *writer) error {
			if !m.typesSettled() {
				return errTypeChanging
			}
			cur, err := m.lookupType(op.Type)
			if err != nil {
				return err
			}
			if inside {
				ct = cur
				if p, err = m.prepareIn(ctx, w.tx, ct, op, wc); err != nil {
					return err
				}
			} else if cur != ct {
				return errStale
			}
			res, err = w.apply(ct, op, p)
			return err
		})
		switch {
		case errors.Is(err, errTypeChanging):
			m.awaitTypeChange()
		case errors.Is(err, errStale):
		default:
			return res, err
		}
	}
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

// base is the current revision a write builds on.
type base struct {
	data json.RawMessage
	rev  int
}

// loadBase reads the current revision of op's resource when preparing op
// needs it (needsCurrent); otherwise it returns nil.
func loadBase(tx storage.Tx, ct *compiledType, op Op) (*base, error) {
	if !needsCurrent(ct, op) || !validID(op.ID) {
		return nil, nil
	}
	meta, rev, err := reader{tx: tx}.current(ct, op.ID)
	if err != nil {
		return nil, err
	}
	if meta.Deleted && op.Kind != OpPurge {
		return nil, errorf(ErrGone, "%s/%s is deleted", ct.def.Name, op.ID)
	}
	return &base{data: rev.Data, rev: meta.CurrentRevision}, nil
}

// prepareOut prepares op outside any transaction: the current revision is
// read in a short read transaction, copied, and the work done after it.
func (m *Manager) prepareOut(ctx context.Context, ct *compiledType, op Op, wc writeContext) (*prepared, error) {
	var b *base
	if needsCurrent(ct, op) && validID(op.ID) {
		err := m.store.View(ctx, func(tx storage.Tx) error {
			var err error
			if b, err = loadBase(tx, ct, op); b != nil {
				b.data = bytes.Clone(b.data) // tx's bytes end with it
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return m.prepare(ctx, ct, op, wc, b)
}

// prepareIn prepares op inside the transaction tx.
func (m *Manager) prepareIn(ctx context.Context, tx storage.Tx, ct *compiledType, op Op, wc writeContext) (*prepared, error) {
	b, err := loadBase(tx, ct, op)
	if err != nil {
		return nil, err
	}
	return m.prepare(ctx, ct, op, wc, b)
}

// prepare validates an operation, runs its hooks and builds its document.
// b is the current revision when needsCurrent. The context is checked
// between the costly steps, so a write whose request timed out stops.
func (m *Manager) prepare(ctx context.Context, ct *compiledType, op Op, wc writeContext, b *base) (*prepared, error) {
	if op.Kind != OpCreate && !validID(op.ID) {
		return nil, errorf(ErrNotFound, "%s/%s not found", ct.def.Name, op.ID)
	}
	p := &prepared{id: op.ID}
	var previous json.RawMessage
	if b != nil {
		previous, p.expect = b.data, b.rev
	}
	var obj map[string]any
	var err error
	switch op.Kind {
	case OpCreate, OpReplace:
		if obj, err = decodeObject(op.Body); err != nil {
			return nil, err
		}
	case OpPatch:
		patched, err := m.applyPatch(ctx, op.PatchKind, previous, op.Body)
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
	if err := ctx.Err(); err != nil {
		return nil, err
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
	// The stored form is the canonical one, after the before_* hooks: the
	// limit is on what is stored, whoever produced it.
	if n := len(p.doc.raw); n > m.maxDoc {
		return nil, errorf(ErrTooLarge, "the data of %s/%s would be %d bytes; max_document_size is %d", ct.def.Name, p.id, n, m.maxDoc)
	}
	return p, ctx.Err()
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

// patchChunk is how many JSON Patch operations are applied between two
// looks at the context: the patch library applies a whole patch at once,
// so a long one is applied a chunk at a time.
const patchChunk = 32

// applyJSONPatch applies p to doc. json-patch v5.9 panics on some
// malformed operations (a "test" of the whole document without a value);
// a client's patch must never take a request down, so a panic is a bad
// patch.
func applyJSONPatch(p jsonpatch.Patch, doc []byte, opts *jsonpatch.ApplyOptions) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("malformed operation")
		}
	}()
	return p.ApplyWithOptions(doc, opts)
}

// applyPatch applies a patch document to doc. The work is bounded: the
// patch may be no larger than max_document_size and hold at most
// MaxPatchOps operations, its copies may add at most max_document_size
// bytes per chunk of operations, the document between chunks may not
// exceed twice max_document_size, and the context is checked between
// chunks. The result's own size is checked after the hooks, in prepare.
func (m *Manager) applyPatch(ctx context.Context, kind PatchKind, doc, patch []byte) ([]byte, error) {
	if len(patch) > m.maxDoc {
		return nil, errorf(ErrTooLarge, "the patch is %d bytes; max_document_size is %d", len(patch), m.maxDoc)
	}
	if err := checkJSON(patch); err != nil {
		return nil, err
	}
	switch kind {
	case JSONPatch:
		if n := countElements(patch); n > MaxPatchOps {
			return nil, errorf(ErrInvalid, "the JSON Patch holds %d operations; the limit is %d", n, MaxPatchOps)
		}
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, errorf(ErrInvalid, "invalid JSON Patch document: %s", err.Error())
		}
		opts := jsonpatch.NewApplyOptions()
		opts.AccumulatedCopySizeLimit = int64(m.maxDoc)
		opts.EscapeHTML = false
		for start := 0; start < len(p); start += patchChunk {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			out, err := applyJSONPatch(p[start:min(start+patchChunk, len(p))], doc, opts)
			var tooMuch *jsonpatch.AccumulatedCopySizeError
			switch {
			case errors.As(err, &tooMuch):
				return nil, errorf(ErrTooLarge, "the JSON Patch copies more than max_document_size (%d bytes)", m.maxDoc)
			case err != nil:
				return nil, errorf(ErrInvalid, "JSON Patch cannot be applied: %s", err.Error())
			case len(out)/2 > m.maxDoc:
				return nil, errorf(ErrTooLarge, "the JSON Patch grows the data to %d bytes; max_document_size is %d", len(out), m.maxDoc)
			}
			doc = out
		}
		return doc, ctx.Err()
	default:
		trimmed := bytes.TrimSpace(patch)
		if len(trimmed) == 0 || trimmed[0] != '{' {
			return nil, errorf(ErrInvalid, "a merge patch must be a JSON object")
		}
		if _, err := decodeObject(trimmed); err != nil {
			return nil, err
		}
		// A merge patch adds at most itself to doc: both are bounded.
		out, err := jsonpatch.MergePatch(doc, trimmed)
		if err != nil {
			return nil, errorf(ErrInvalid, "merge patch cannot be applied: %s", err.Error())
		}
		return out, ctx.Err()
	}
}

// countElements counts the elements of a top-level JSON array without
// decoding it, so a patch of a million operations is refused before it is
// decoded. For anything else it returns 0 and the decoder reports it.
func countElements(raw []byte) int {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return 0
	}
	depth, commas := 0, 0
	inString, escaped, some := false, false, false
	for _, c := range raw {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if depth >= 1 && c > ' ' && c != ']' {
			some = true
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 1 {
				commas++
			}
		}
	}
	if !some {
		return 0
	}
	return commas + 1
}
