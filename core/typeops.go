package core

import (
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/strata-dev/strata/sdk/storage"
)

// putType stores a new or changed type definition. On a change, the unique
// and reference indexes of existing resources follow the new definition in
// the same transaction.
func (w *writer) putType(ct *compiledType, replace bool) error {
	name := ct.def.Name
	var cur Type
	err := getJSON(w.tx, bucketTypes, []byte(name), &cur)
	exists := err == nil
	switch {
	case err != nil && !isNotFound(err):
		return err
	case replace && !exists:
		return errorf(ErrNotFound, "unknown type %q", name)
	case !replace && exists:
		return fieldError(ErrConflict, fmt.Sprintf("type %s already exists", name),
			FieldError{Path: "/name", Message: "already exists"})
	}
	types := w.m.typeSet()
	for _, f := range slices.Sorted(maps.Keys(ct.def.References)) {
		target := ct.def.References[f].Type
		if target != name && types[target] == nil {
			return fieldError(ErrInvalid, "invalid type definition",
				FieldError{Path: "/references/" + f + "/type", Message: fmt.Sprintf("unknown type %q", target)})
		}
	}
	if err := w.m.checkHookModules(ct.def); err != nil {
		return err
	}
	if exists && sameDefinition(cur, ct.def) {
		w.typeResult = types[name]
		return nil
	}
	def := ct.def
	def.UpdatedAt = w.at
	if exists {
		def.CreatedAt, def.SchemaVersion = cur.CreatedAt, cur.SchemaVersion
		if !sameSchema(cur.Schema, def.Schema) {
			def.SchemaVersion++
		}
	} else {
		def.CreatedAt, def.SchemaVersion = w.at, 1
	}
	next := &compiledType{def: def, schema: ct.schema, blobs: ct.blobs}
	if exists {
		if err := w.reindexType(types[name], next); err != nil {
			return err
		}
	}
	if err := putJSON(w.tx, bucketTypes, []byte(name), def); err != nil {
		return err
	}
	w.typeResult = next
	return w.appendChange(name, "", ActionType, def.SchemaVersion)
}

// reindexType rebuilds the unique and reference index entries of every
// resource of a type whose unique fields or references changed.
func (w *writer) reindexType(old, next *compiledType) error {
	if slices.Equal(old.def.Unique, next.def.Unique) && reflect.DeepEqual(old.def.References, next.def.References) {
		return nil
	}
	name := next.def.Name
	ids, err := w.typeIDs(name)
	if err != nil {
		return err
	}
	if err := w.tx.DeleteBucket(uniqueBucket(name)); err != nil {
		return err
	}
	for _, id := range ids {
		meta, err := w.loadMeta(next, id)
		if err != nil {
			return err
		}
		for f, target := range meta.Refs {
			if err := w.tx.Delete(refBucket(old.def.References[f].Type), refKey(target, name, id, f)); err != nil {
				return err
			}
		}
		rev, err := w.loadRevision(next, id, meta.CurrentRevision)
		if err != nil {
			return err
		}
		obj, err := decodeStoredObject(rev.Data)
		if err != nil {
			return fmt.Errorf("decode %s/%s revision %d: %w", name, id, rev.Number, err)
		}
		uniq, refs := next.uniqueKeys(obj), next.references(obj)
		if !meta.Deleted {
			if err := w.claimUnique(next, id, nil, uniq); err != nil {
				return fmt.Errorf("%w (existing resource %s)", err, id)
			}
		}
		if err := w.linkRefs(next, id, nil, refs); err != nil && !meta.Deleted {
			return fmt.Errorf("%w (existing resource %s)", err, id)
		} else if err != nil {
			refs = nil // a deleted resource may keep a dangling reference; it is checked on restore
		}
		meta.Unique, meta.Refs = uniq, refs
		if err := w.putMeta(next, id, meta); err != nil {
			return err
		}
	}
	return nil
}

// typeIDs lists the ids of every resource of a type.
func (w *writer) typeIDs(name string) ([]string, error) {
	var ids []string
	err := w.tx.Scan(metaBucket(name), storage.Range{}, func(k, _ []byte) bool {
		ids = append(ids, string(k))
		return true
	})
	return ids, err
}

// dropType removes a type and everything of it.
func (w *writer) dropType(name string) error {
	types := w.m.typeSet()
	ct := types[name]
	if ct == nil {
		return errorf(ErrNotFound, "unknown type %q", name)
	}
	for _, other := range slices.Sorted(maps.Keys(types)) {
		if other == name {
			continue
		}
		for f, ref := range types[other].def.References {
			if ref.Type == name {
				return fieldError(ErrConflict, fmt.Sprintf("type %s is referenced by %s.%s", name, other, f),
					FieldError{Path: "/references", Message: fmt.Sprintf("%s.%s references this type", other, f)})
			}
		}
	}
	ids, err := w.typeIDs(name)
	if err != nil {
		return err
	}
	for _, id := range ids {
		meta, err := w.loadMeta(ct, id)
		if err != nil {
			return err
		}
		for f, target := range meta.Refs {
			if to := ct.def.References[f].Type; to != name {
				if err := w.tx.Delete(refBucket(to), refKey(target, name, id, f)); err != nil {
					return err
				}
			}
		}
	}
	for _, b := range typeBuckets(name) {
		if err := w.tx.DeleteBucket(b); err != nil {
			return err
		}
	}
	for _, k := range [][]byte{liveCountKey(name), allCountKey(name)} {
		if err := w.tx.Delete(bucketSys, k); err != nil {
			return err
		}
	}
	if err := w.tx.Delete(bucketTypes, []byte(name)); err != nil {
		return err
	}
	return w.appendChange(name, "", ActionType, 0)
}
