package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// errStale means a write was staged against a type definition or a
// revision that is no longer current; the pipeline stages it again.
var errStale = errors.New("core: prepared against a stale revision")

// writer carries one write transaction: the clock reading, the principal,
// and the change-log entries and counters it accumulates. A new writer is
// made each time the storage calls the transaction function, so a replayed
// function starts clean.
type writer struct {
	m   *Manager
	tx  storage.Tx
	now time.Time
	at  string
	by  Principal

	seq       uint64 // last sequence number allocated in this tx
	seqLoaded bool
	counts    map[string]*[2]int64 // type → live, all deltas
	busy      map[string]bool      // resources being deleted: cascade guard

	typeResult *compiledType
}

func (m *Manager) newWriter(tx storage.Tx, by Principal) *writer {
	now := m.now()
	return &writer{m: m, tx: tx, now: now, at: formatTime(now), by: by}
}

// update runs fn in one storage write transaction and, after the commit,
// publishes the change-log position it reached.
func (m *Manager) update(ctx context.Context, by Principal, fn func(w *writer) error) (*writer, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	var w *writer
	err := m.store.Update(ctx, func(tx storage.Tx) error {
		w = m.newWriter(tx, by)
		if err := fn(w); err != nil {
			return err
		}
		return w.finish()
	})
	if err != nil {
		return nil, err
	}
	if w.seqLoaded {
		m.published(w.seq)
		noteSeq(ctx, w.seq)
	}
	return w, nil
}

func (w *writer) finish() error {
	if w.seqLoaded {
		if err := w.tx.Put(bucketSys, keySeq, seqKey(w.seq)); err != nil {
			return fmt.Errorf("write change seq: %w", err)
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(w.counts)) {
		d := w.counts[typ]
		for i, key := range [][]byte{liveCountKey(typ), allCountKey(typ)} {
			if d[i] == 0 {
				continue
			}
			n, err := readUint(w.tx, bucketSys, key)
			if err != nil {
				return err
			}
			if err := w.tx.Put(bucketSys, key, binary.BigEndian.AppendUint64(nil, uint64(int64(n)+d[i]))); err != nil {
				return fmt.Errorf("write counter %s: %w", key, err)
			}
		}
	}
	return nil
}

func (w *writer) count(typ string, live, all int64) {
	if w.counts == nil {
		w.counts = map[string]*[2]int64{}
	}
	d := w.counts[typ]
	if d == nil {
		d = new([2]int64)
		w.counts[typ] = d
	}
	d[0] += live
	d[1] += all
}

func (w *writer) appendChange(typ, id, action string, rev int) error {
	return w.appendEntry(&Change{Type: typ, ID: id, Action: action, Revision: rev})
}

// appendEntry appends ch to the change log with the next seq and the
// transaction's time and principal.
func (w *writer) appendEntry(ch *Change) error {
	if !w.seqLoaded {
		seq, err := readUint(w.tx, bucketSys, keySeq)
		if err != nil {
			return fmt.Errorf("read change seq: %w", err)
		}
		w.seq, w.seqLoaded = seq, true
	}
	w.seq++
	ch.Seq, ch.At, ch.By = w.seq, w.at, w.by.ID
	size := 160
	if ch.Event != nil {
		size += len(ch.Event.Type) + len(ch.Event.Data)
	}
	if err := w.tx.Put(bucketChanges, seqKey(w.seq), appendChange(make([]byte, 0, size), ch)); err != nil {
		return fmt.Errorf("write change %d: %w", w.seq, err)
	}
	return nil
}

func (w *writer) loadMeta(ct *compiledType, id string) (*metaRecord, error) {
	return reader{tx: w.tx}.meta(ct, id)
}

func (w *writer) loadRevision(ct *compiledType, id string, n int) (*revisionRecord, error) {
	return reader{tx: w.tx}.revision(ct, id, n)
}

// liveMeta reads the meta of a resource about to be written: it must exist
// (ErrNotFound), not be soft-deleted (ErrGone) and be at the revision
// If-Match names (ErrPreconditionFailed).
func (w *writer) liveMeta(ct *compiledType, id string, ifMatch int) (*metaRecord, error) {
	meta, err := w.loadMeta(ct, id)
	if err != nil {
		return nil, err
	}
	if meta.Deleted {
		return nil, errorf(ErrGone, "%s/%s is deleted", ct.def.Name, id)
	}
	if err := checkIfMatch(meta, ifMatch); err != nil {
		return nil, err
	}
	return meta, nil
}

func checkIfMatch(meta *metaRecord, ifMatch int) error {
	if ifMatch != 0 && ifMatch != meta.CurrentRevision {
		return errorf(ErrPreconditionFailed, "If-Match does not name the current revision %d", meta.CurrentRevision)
	}
	return nil
}

// putMeta stores a resource's meta and, when its current revision or
// deleted flag moved, appends the new state to its timeline (asof.go).
func (w *writer) putMeta(ct *compiledType, id string, meta *metaRecord) error {
	if err := w.recordState(ct.def.Name, id, meta); err != nil {
		return err
	}
	return putMeta(w.tx, ct.def.Name, id, meta)
}

// create writes revision 1 of a new resource.
func (w *writer) create(ct *compiledType, id string, doc *document, hooks []HookApproval) (*Resource, error) {
	typ := ct.def.Name
	if _, err := w.tx.Get(metaBucket(typ), []byte(id)); err == nil {
		// Client ids are one namespace per type: the collision cannot be
		// hidden, but it says no more than that, whether the resource is
		// live, deleted or one the writer may not read.
		return nil, errIDTaken()
	} else if !isNotFound(err) {
		return nil, err
	}
	uniq := ct.uniqueKeys(doc.obj)
	refs := ct.references(doc.obj)
	if err := w.claimUnique(ct, id, nil, uniq); err != nil {
		return nil, err
	}
	if err := w.linkRefs(ct, id, nil, refs); err != nil {
		return nil, err
	}
	rev := &revisionRecord{
		Revision: Revision{Number: 1, CreatedAt: w.at, CreatedBy: w.by.ID, DataHash: doc.hash,
			Action: ActionCreate, Hooks: nonNil(hooks), SchemaVersion: ct.def.SchemaVersion},
		Data: doc.raw,
	}
	if err := w.linkBlobs(ct, id, rev.Number, doc.obj); err != nil {
		return nil, err
	}
	meta := &metaRecord{
		Meta: Meta{CurrentRevision: 1, RevisionCount: 1, CreatedAt: w.at, CreatedBy: w.by.ID,
			UpdatedAt: w.at, UpdatedBy: w.by.ID, SchemaVersion: ct.def.SchemaVersion},
		Hash: doc.hash, CreatedMS: w.now.UnixMilli(), Unique: uniq, Refs: refs,
	}
	if err := putRevision(w.tx, typ, id, rev); err != nil {
		return nil, err
	}
	// A new resource has no timeline to read: its first entry is written as is.
	if err := w.tx.Put(stateBucket(typ), stateKey(id, w.now.UnixMilli()), encodeState(createdState(meta))); err != nil {
		return nil, err
	}
	if err := putMeta(w.tx, typ, id, meta); err != nil {
		return nil, err
	}
	if err := w.tx.Put(orderBucket(typ), orderKey(meta.CreatedMS, id), nil); err != nil {
		return nil, err
	}
	w.count(typ, 1, 1)
	if err := w.appendChange(typ, id, ActionCreate, 1); err != nil {
		return nil, err
	}
	return newResource(typ, id, meta, rev), nil
}

// replace writes doc as a new revision of a live resource.
func (w *writer) replace(ct *compiledType, id string, doc *document, ifMatch int, hooks []HookApproval) (*Resource, error) {
	meta, err := w.liveMeta(ct, id, ifMatch)
	if err != nil {
		return nil, err
	}
	if doc.hash == meta.Hash {
		rev, err := w.loadRevision(ct, id, meta.CurrentRevision)
		if err != nil {
			return nil, err
		}
		return newResource(ct.def.Name, id, meta, rev), nil
	}
	rev, err := w.writeRevision(ct, id, meta, doc, hooks)
	if err != nil {
		return nil, err
	}
	if err := w.appendChange(ct.def.Name, id, ActionUpdate, rev.Number); err != nil {
		return nil, err
	}
	return newResource(ct.def.Name, id, meta, rev), nil
}

// writeRevision adds doc as the next revision over the current one and
// moves the indexes and the meta to it (retention prunes later, in the
// background: prune.go). It changes meta.
func (w *writer) writeRevision(ct *compiledType, id string, meta *metaRecord, doc *document, hooks []HookApproval) (*revisionRecord, error) {
	typ := ct.def.Name
	uniq := ct.uniqueKeys(doc.obj)
	refs := ct.references(doc.obj)
	if !meta.Deleted {
		if err := w.claimUnique(ct, id, meta.Unique, uniq); err != nil {
			return nil, err
		}
	}
	if err := w.linkRefs(ct, id, meta.Refs, refs); err != nil {
		return nil, err
	}
	parent := meta.CurrentRevision
	rev := &revisionRecord{
		Revision: Revision{Number: meta.RevisionCount + 1, Parent: &parent, CreatedAt: w.at, CreatedBy: w.by.ID,
			DataHash: doc.hash, Action: ActionUpdate, Hooks: nonNil(hooks), SchemaVersion: ct.def.SchemaVersion},
		Data: doc.raw,
	}
	if err := w.linkBlobs(ct, id, rev.Number, doc.obj); err != nil {
		return nil, err
	}
	meta.CurrentRevision, meta.RevisionCount = rev.Number, rev.Number
	meta.UpdatedAt, meta.UpdatedBy = w.at, w.by.ID
	meta.SchemaVersion, meta.Hash, meta.Unique, meta.Refs = ct.def.SchemaVersion, doc.hash, uniq, refs
	if err := putRevision(w.tx, typ, id, rev); err != nil {
		return nil, err
	}
	if err := w.putMeta(ct, id, meta); err != nil {
		return nil, err
	}
	return rev, nil
}

// softDelete marks a resource deleted, keeping its history, after applying
// the on_delete policies of resources that reference it.
func (w *writer) softDelete(ct *compiledType, id string, ifMatch int) error {
	meta, err := w.loadMeta(ct, id)
	if err != nil {
		return err
	}
	if meta.Deleted {
		return errorf(ErrGone, "%s/%s is already deleted", ct.def.Name, id)
	}
	if err := checkIfMatch(meta, ifMatch); err != nil {
		return err
	}
	guard := ct.def.Name + "/" + id
	if w.busy[guard] {
		return nil
	}
	w.markBusy(guard)
	if err := w.onTargetDelete(ct, id, false); err != nil {
		return err
	}
	if err := w.claimUnique(ct, id, meta.Unique, nil); err != nil {
		return err
	}
	meta.Deleted = true
	meta.UpdatedAt, meta.UpdatedBy = w.at, w.by.ID
	if err := w.putMeta(ct, id, meta); err != nil {
		return err
	}
	w.count(ct.def.Name, -1, 0)
	return w.appendChange(ct.def.Name, id, ActionDelete, meta.CurrentRevision)
}

// purge removes a resource and all its revisions.
func (w *writer) purge(ct *compiledType, id string, ifMatch int) error {
	meta, err := w.loadMeta(ct, id)
	if err != nil {
		return err
	}
	if err := checkIfMatch(meta, ifMatch); err != nil {
		return err
	}
	guard := ct.def.Name + "/" + id
	if w.busy[guard+"!"] {
		return nil
	}
	w.markBusy(guard + "!")
	w.markBusy(guard)
	if err := w.onTargetDelete(ct, id, true); err != nil {
		return err
	}
	// A referrer with set_null may have been this resource itself.
	if meta, err = w.loadMeta(ct, id); err != nil {
		return err
	}
	if !meta.Deleted {
		if err := w.claimUnique(ct, id, meta.Unique, nil); err != nil {
			return err
		}
		w.count(ct.def.Name, -1, 0)
	}
	if err := w.linkRefs(ct, id, meta.Refs, nil); err != nil {
		return err
	}
	typ := ct.def.Name
	var revs [][]byte
	if err := w.tx.Scan(revBucket(typ), storage.PrefixRange(revPrefix(id)), func(k, _ []byte) bool {
		revs = append(revs, bytes.Clone(k))
		return true
	}); err != nil {
		return err
	}
	for _, k := range revs {
		if err := w.tx.Delete(revBucket(typ), k); err != nil {
			return err
		}
	}
	if err := w.tx.Delete(metaBucket(typ), []byte(id)); err != nil {
		return err
	}
	if err := w.tx.Delete(orderBucket(typ), orderKey(meta.CreatedMS, id)); err != nil {
		return err
	}
	if err := deleteStates(w.tx, typ, id); err != nil {
		return err
	}
	w.count(typ, 0, -1)
	return w.appendChange(typ, id, ActionPurge, 0)
}

func (w *writer) markBusy(key string) {
	if w.busy == nil {
		w.busy = map[string]bool{}
	}
	w.busy[key] = true
}

// onTargetDelete applies the on_delete policy of every reference to
// target/id. purge is true for a hard delete.
func (w *writer) onTargetDelete(target *compiledType, id string, purge bool) error {
	var referrers []Referrer
	err := w.tx.Scan(refBucket(target.def.Name), storage.PrefixRange(refPrefix(id)), func(k, _ []byte) bool {
		if r, ok := parseRefKey(k); ok {
			referrers = append(referrers, r)
		}
		return true
	})
	if err != nil {
		return err
	}
	var restricted []FieldError
	types := w.m.typeSet()
	for _, r := range referrers {
		src := types[r.Type]
		if src == nil {
			continue
		}
		if w.busy[r.Type+"/"+r.ID+"!"] || (!purge && w.busy[r.Type+"/"+r.ID]) {
			continue // being removed by this same cascade
		}
		meta, err := w.loadMeta(src, r.ID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if meta.Deleted && !purge {
			continue // a deleted referrer does not hold a live resource
		}
		switch src.onDelete(r.Field) {
		case OnDeleteRestrict:
			who, readable, err := w.shownName(r.Type, r.ID)
			if err != nil {
				return err
			}
			path := "/" + r.Field
			if !readable {
				path = "" // the field is of a type the writer may not see
			}
			restricted = append(restricted, FieldError{Path: path, Source: "reference",
				Message: fmt.Sprintf("%s references %s/%s (on_delete restrict)", who, target.def.Name, id)})
		case OnDeleteSetNull:
			if err := w.setNull(src, r.ID, meta, r.Field); err != nil {
				return err
			}
		case OnDeleteCascade:
			if purge {
				err = w.purge(src, r.ID, 0)
			} else {
				err = w.softDelete(src, r.ID, 0)
			}
			if err != nil {
				return err
			}
		}
	}
	if len(restricted) > 0 {
		return fieldError(ErrConflict, fmt.Sprintf("%s/%s is referenced by other resources", target.def.Name, id), restricted...)
	}
	return nil
}

// setNull gives a referrer a new revision with field set to null.
func (w *writer) setNull(ct *compiledType, id string, meta *metaRecord, field string) error {
	rev, err := w.loadRevision(ct, id, meta.CurrentRevision)
	if err != nil {
		return err
	}
	obj, err := decodeStoredObject(rev.Data)
	if err != nil {
		return fmt.Errorf("decode %s/%s revision %d: %w", ct.def.Name, id, rev.Number, err)
	}
	obj[field] = nil
	doc, err := ct.newDocument(obj)
	if err != nil {
		who, _, err := w.shownName(ct.def.Name, id)
		if err != nil {
			return err
		}
		return fieldError(ErrConflict, fmt.Sprintf("on_delete set_null cannot update %s: its schema does not allow %s to be null", who, field),
			FieldError{Path: "/" + field, Message: "cannot be set to null", Source: "reference"})
	}
	next, err := w.writeRevision(ct, id, meta, doc, nil)
	if err != nil {
		return err
	}
	return w.appendChange(ct.def.Name, id, ActionUpdate, next.Number)
}

// restore undoes a soft delete. Restoring a live resource changes nothing.
func (w *writer) restore(ct *compiledType, id string, ifMatch int) (*Resource, error) {
	meta, err := w.loadMeta(ct, id)
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(meta, ifMatch); err != nil {
		return nil, err
	}
	if meta.Deleted {
		if err := w.claimUnique(ct, id, nil, meta.Unique); err != nil {
			return nil, err
		}
		if err := w.checkTargets(ct, meta.Refs); err != nil {
			return nil, err
		}
		meta.Deleted = false
		meta.UpdatedAt, meta.UpdatedBy = w.at, w.by.ID
		if err := w.putMeta(ct, id, meta); err != nil {
			return nil, err
		}
		w.count(ct.def.Name, 1, 0)
		if err := w.appendChange(ct.def.Name, id, ActionRestore, meta.CurrentRevision); err != nil {
			return nil, err
		}
	}
	rev, err := w.loadRevision(ct, id, meta.CurrentRevision)
	if err != nil {
		return nil, err
	}
	return newResource(ct.def.Name, id, meta, rev), nil
}

// switchTo makes revision n current without writing a new revision.
func (w *writer) switchTo(ct *compiledType, id string, n, ifMatch int) (*Resource, error) {
	meta, err := w.liveMeta(ct, id, ifMatch)
	if err != nil {
		return nil, err
	}
	rev, err := reader{tx: w.tx}.pastRevision(ct, id, meta, n)
	if err != nil {
		return nil, err
	}
	if n == meta.CurrentRevision {
		return newResource(ct.def.Name, id, meta, rev), nil
	}
	obj, err := decodeStoredObject(rev.Data)
	if err != nil {
		return nil, fmt.Errorf("decode %s/%s revision %d: %w", ct.def.Name, id, n, err)
	}
	uniq, refs := ct.uniqueKeys(obj), ct.references(obj)
	if err := w.claimUnique(ct, id, meta.Unique, uniq); err != nil {
		return nil, err
	}
	if err := w.linkRefs(ct, id, meta.Refs, refs); err != nil {
		return nil, err
	}
	meta.CurrentRevision, meta.Hash, meta.SchemaVersion = n, rev.DataHash, rev.SchemaVersion
	meta.Unique, meta.Refs = uniq, refs
	meta.UpdatedAt, meta.UpdatedBy = w.at, w.by.ID
	if err := w.putMeta(ct, id, meta); err != nil {
		return nil, err
	}
	if err := w.appendChange(ct.def.Name, id, ActionSwitch, n); err != nil {
		return nil, err
	}
	return newResource(ct.def.Name, id, meta, rev), nil
}

// claimUnique moves a resource's unique-index entries from old to next,
// failing with ErrConflict naming every field whose value is taken.
func (w *writer) claimUnique(ct *compiledType, id string, old, next []string) error {
	bucket := uniqueBucket(ct.def.Name)
	var taken []FieldError
	for _, k := range next {
		if slices.Contains(old, k) {
			continue
		}
		owner, err := w.tx.Get(bucket, []byte(k))
		switch {
		case err == nil && string(owner) != id:
			field, _, _ := strings.Cut(k, "\x00")
			taken = append(taken, FieldError{Path: "/" + field, Message: "value is already used by another resource", Source: "unique"})
			continue
		case err != nil && !isNotFound(err):
			return err
		}
		if err := w.tx.Put(bucket, []byte(k), []byte(id)); err != nil {
			return err
		}
	}
	if len(taken) > 0 {
		return fieldError(ErrConflict, "unique value already taken", taken...)
	}
	for _, k := range old {
		if !slices.Contains(next, k) {
			if err := w.tx.Delete(bucket, []byte(k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// linkRefs moves a resource's reference-index entries from old to next,
// checking that every new target exists and is live.
func (w *writer) linkRefs(ct *compiledType, id string, old, next map[string]string) error {
	changed := map[string]string{}
	for f, target := range next {
		if old[f] != target {
			changed[f] = target
		}
	}
	if err := w.checkTargets(ct, changed); err != nil {
		return err
	}
	for _, f := range slices.Sorted(maps.Keys(old)) {
		if next[f] != old[f] {
			if err := w.tx.Delete(refBucket(ct.def.References[f].Type), refKey(old[f], ct.def.Name, id, f)); err != nil {
				return err
			}
		}
	}
	for _, f := range slices.Sorted(maps.Keys(changed)) {
		if err := w.tx.Put(refBucket(ct.def.References[f].Type), refKey(changed[f], ct.def.Name, id, f), nil); err != nil {
			return err
		}
	}
	return nil
}

// checkTargets fails with ErrConflict unless every referenced resource
// exists, is not deleted and may be read by the writer. The three answer
// alike, so a reference cannot probe for ids, and nobody links to what it
// cannot read (its link could then block or be cascaded by the owner's
// delete).
func (w *writer) checkTargets(ct *compiledType, refs map[string]string) error {
	var broken []FieldError
	for _, f := range slices.Sorted(maps.Keys(refs)) {
		targetType := ct.def.References[f].Type
		target := refs[f]
		meta, err := getMeta(w.tx, targetType, target)
		ok := err == nil && !meta.Deleted
		if err != nil && !isNotFound(err) {
			return err
		}
		if ok {
			if ok, err = w.m.canRead(w.tx, w.by, targetType, target); err != nil {
				return err
			}
		}
		if !ok {
			broken = append(broken, FieldError{Path: "/" + f, Source: "reference", Message: fmt.Sprintf("%s/%s not found", targetType, target)})
		}
	}
	if len(broken) > 0 {
		return fieldError(ErrConflict, "broken reference", broken...)
	}
	return nil
}

func newResource(typ, id string, meta *metaRecord, rev *revisionRecord) *Resource {
	return &Resource{ID: id, Type: typ, Data: rev.Data, Meta: meta.Meta, Revision: rev.Revision}
}

func nonNil(h []HookApproval) []HookApproval {
	if h == nil {
		return []HookApproval{}
	}
	return h
}
