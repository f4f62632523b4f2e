package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// decode is the pipeline's first step: it turns op's body into the object
// to be written, with its id. For a patch, current is the data the patch
// applies to. Deletes, restores and switches carry no body: they decode
// to a nil object.
func (m *Manager) decode(ctx context.Context, ct *compiledType, op Op, current json.RawMessage) (id string, obj map[string]any, err error) {
	switch op.Kind {
	case OpCreate, OpReplace:
		if obj, err = decodeObject(op.Body); err != nil {
			return "", nil, err
		}
	case OpPatch:
		patched, err := m.applyPatch(ctx, op.PatchKind, current, op.Body)
		if err != nil {
			return "", nil, err
		}
		if obj, err = patchedObject(patched); err != nil {
			return "", nil, err
		}
	default:
		return op.ID, nil, nil
	}
	if id, err = takeID(obj, op.ID, op.Kind == OpCreate); err != nil {
		return "", nil, err
	}
	if op.Kind == OpCreate && id == "" {
		id = m.newID()
	}
	return id, obj, ctx.Err()
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
