package core

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/wI2L/jsondiff"

	"github.com/strata-dev/strata/sdk/storage"
)

// reader reads resources inside a storage transaction. Everything it
// returns is copied out, so no transaction outlives the call that made it.
type reader struct {
	tx storage.Tx
	// hints, when set (over a shared store), guess the current revision
	// of a resource so that it is read with its meta (revhints.go).
	hints *revHints
	// arena, when set, receives the data of the revisions read, so a page
	// of resources shares one buffer.
	arena *[]byte
}

func (r reader) meta(ct *compiledType, id string) (*metaRecord, error) {
	meta, err := getMeta(r.tx, ct.def.Name, id)
	if isNotFound(err) {
		return nil, errorf(ErrNotFound, "%s/%s not found", ct.def.Name, id)
	}
	return meta, err
}

func (r reader) revision(ct *compiledType, id string, n int) (*revisionRecord, error) {
	rev, err := getRevision(r.tx, ct.def.Name, id, n, r.arena)
	if isNotFound(err) {
		return nil, errorf(ErrNotFound, "%s/%s has no revision %d", ct.def.Name, id, n)
	}
	return rev, err
}

// pastRevision reads revision n of a resource whose meta is meta. A
// number the resource had but retention pruned is ErrGone; one it never
// had is ErrNotFound.
func (r reader) pastRevision(ct *compiledType, id string, meta *metaRecord, n int) (*revisionRecord, error) {
	rev, err := r.revision(ct, id, n)
	if err != nil && n >= 1 && n <= meta.RevisionCount && errors.Is(err, ErrNotFound) {
		return nil, errorf(ErrGone, "%s/%s revision %d was pruned by the type's revision retention", ct.def.Name, id, n)
	}
	return rev, err
}

// visible reads the meta of a resource a client may address: it exists
// and, unless includeDeleted, is not soft-deleted. Anything else is
// ErrNotFound, so a malformed id reads like a missing one.
func (r reader) visible(ct *compiledType, id string, includeDeleted bool) (*metaRecord, error) {
	if !validID(id) {
		return nil, errorf(ErrNotFound, "%s/%s not found", ct.def.Name, id)
	}
	meta, err := r.meta(ct, id)
	if err != nil {
		return nil, err
	}
	if meta.Deleted && !includeDeleted {
		return nil, errorf(ErrNotFound, "%s/%s not found", ct.def.Name, id)
	}
	return meta, nil
}

// current reads a resource's meta and current revision, in one round
// trip when it can (see visibleAt).
func (r reader) current(ct *compiledType, id string) (*metaRecord, *revisionRecord, error) {
	meta, rev, err := r.visibleAt(ct, id, true, 0)
	if err != nil {
		return nil, nil, err
	}
	if rev == nil {
		if rev, err = r.revision(ct, id, meta.CurrentRevision); err != nil {
			return nil, nil, err
		}
	}
	return meta, rev, nil
}

// currents reads the meta and current revision of each of ids. An id
// that is not valid or has no meta, or whose current revision is missing,
// has nil entries: the caller decides whether that is an error. Every
// other entry is as current reads it.
//
// join says to read ids created one after another (a list page), which
// sit together in the meta and revision buckets, with one scan of each
// (scanJoin), and those the scans miss with one GetMany: on bbolt that
// walks the trees forward, faster than a lookup each. Otherwise (a search
// page, references: ids scattered over the bucket; any page over a store
// behind a network) the metas, with the revisions they probably name
// over a shared store (see revHints), are read with one GetKeys, and the
// revisions not guessed or guessed wrong with one GetMany: one round trip
// on PostgreSQL, where the scans would be two.
func (r reader) currents(ct *compiledType, ids []string, join bool) ([]*metaRecord, []*revisionRecord, error) {
	typ := ct.def.Name
	metas := make([]*metaRecord, len(ids))
	revs := make([]*revisionRecord, len(ids))
	perm := make([]int, 0, len(ids)) // the valid ids, by key order
	for i, id := range ids {
		if validID(id) {
			perm = append(perm, i)
		}
	}
	if len(perm) == 0 {
		return metas, revs, nil
	}
	slices.SortFunc(perm, func(a, b int) int { return cmpStrings(ids[a], ids[b]) })
	decodeMetaOf := func(i int, v []byte) error {
		m, err := decodeMeta(v)
		if err != nil {
			return fmt.Errorf("decode meta of %s/%s: %w", typ, ids[i], err)
		}
		metas[i] = m
		return nil
	}
	decodeRevOf := func(i int, v []byte) (err error) {
		revs[i], err = r.keepRevision(typ, ids[i], v)
		return err
	}
	if join {
		keys := make([][]byte, len(perm))
		for j, i := range perm {
			keys[j] = []byte(ids[i])
		}
		err := readKeys(r.tx, metaBucket(typ), keys, true, func(j int, v []byte) error { return decodeMetaOf(perm[j], v) })
		if err != nil {
			return nil, nil, err
		}
	} else {
		// Each meta, followed by the revision it probably names when
		// there is a guess: stride keys per id.
		stride := 1
		if r.hints != nil {
			stride = 2
		}
		keys := make([]storage.Key, 0, stride*len(perm))
		for _, i := range perm {
			keys = append(keys, storage.Key{Bucket: metaBucket(typ), Key: []byte(ids[i])})
			if stride == 2 {
				keys = append(keys, storage.Key{Bucket: revBucket(typ), Key: revKey(ids[i], r.hints.guess(typ, ids[i]))})
			}
		}
		var ferr error
		err := r.tx.GetKeys(keys, func(n int, v []byte) {
			switch i := perm[n/stride]; {
			case ferr != nil:
			case n%stride == 0:
				ferr = decodeMetaOf(i, v)
			default:
				ferr = decodeRevOf(i, v)
			}
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return nil, nil, err
		}
	}
	perm = slices.DeleteFunc(perm, func(i int) bool {
		if metas[i] == nil {
			revs[i] = nil
			return true
		}
		r.hints.note(typ, ids[i], metas[i].CurrentRevision)
		if revs[i] != nil && revs[i].Number != metas[i].CurrentRevision {
			revs[i] = nil // guessed wrong
		}
		return revs[i] != nil
	})
	if len(perm) == 0 {
		return metas, revs, nil
	}
	keys := make([][]byte, len(perm))
	for j, i := range perm {
		keys[j] = revKey(ids[i], metas[i].CurrentRevision)
	}
	err := readKeys(r.tx, revBucket(typ), keys, join, func(j int, v []byte) error { return decodeRevOf(perm[j], v) })
	if err != nil {
		return nil, nil, err
	}
	return metas, revs, nil
}

// keepRevision decodes a stored revision of typ/id and copies its data
// out of the transaction, into the arena when there is one.
func (r reader) keepRevision(typ, id string, v []byte) (*revisionRecord, error) {
	rec, err := decodeRevisionRecord(v)
	if err != nil {
		return nil, fmt.Errorf("decode %s/%s revision: %w", typ, id, err)
	}
	if r.arena == nil {
		rec.Data = bytes.Clone(rec.Data)
	} else {
		start := len(*r.arena)
		*r.arena = append(*r.arena, rec.Data...)
		rec.Data = (*r.arena)[start:len(*r.arena):len(*r.arena)]
	}
	return rec, nil
}

// visibleAt is visible, and reads revision n of the resource too (0: the
// current one) in the same round trip when it guesses the number right
// (see revHints): rev is nil when it did not, or the revision is
// missing, and the caller reads it with pastRevision.
func (r reader) visibleAt(ct *compiledType, id string, includeDeleted bool, n int) (meta *metaRecord, rev *revisionRecord, err error) {
	if !validID(id) {
		return nil, nil, errorf(ErrNotFound, "%s/%s not found", ct.def.Name, id)
	}
	typ := ct.def.Name
	guess := n
	if guess == 0 {
		guess = r.hints.guess(typ, id)
	}
	keys := []storage.Key{{Bucket: metaBucket(typ), Key: []byte(id)}}
	if guess > 0 {
		keys = append(keys, storage.Key{Bucket: revBucket(typ), Key: revKey(id, guess)})
	}
	var ferr error
	err = r.tx.GetKeys(keys, func(i int, v []byte) {
		switch {
		case ferr != nil:
		case i == 0:
			if meta, ferr = decodeMeta(v); ferr != nil {
				ferr = fmt.Errorf("decode meta of %s/%s: %w", typ, id, ferr)
			}
		default:
			rev, ferr = r.keepRevision(typ, id, v)
		}
	})
	if err == nil {
		err = ferr
	}
	switch {
	case err != nil:
		return nil, nil, err
	case meta == nil, meta.Deleted && !includeDeleted:
		return nil, nil, errorf(ErrNotFound, "%s/%s not found", typ, id)
	}
	r.hints.note(typ, id, meta.CurrentRevision)
	if n == 0 {
		n = meta.CurrentRevision
	}
	if rev != nil && rev.Number != n {
		rev = nil
	}
	return meta, rev, nil
}

// readKeys calls found with the index and value of each of the sorted
// keys present in bucket: with scanJoin first when join, then with one
// GetMany for the others.
func readKeys(tx storage.Tx, bucket string, keys [][]byte, join bool, found func(j int, v []byte) error) error {
	missed := make([]int, len(keys))
	for j := range missed {
		missed[j] = j
	}
	if join {
		var err error
		if missed, err = scanJoin(tx, bucket, keys, found); err != nil {
			return err
		}
	}
	if len(missed) == 0 {
		return nil
	}
	ask := make([][]byte, len(missed))
	for n, j := range missed {
		ask[n] = keys[j]
	}
	var ferr error
	err := tx.GetMany(bucket, ask, func(n int, v []byte) {
		if ferr == nil {
			ferr = found(missed[n], v)
		}
	})
	if err != nil {
		return err
	}
	return ferr
}

// maxJoinSkip is how many keys in a row scanJoin passes over without
// finding one it looks for before it gives up.
const maxJoinSkip = 8

// scanJoin finds the sorted keys in bucket with one scan from the first,
// calling found with the index and value of each it meets; it returns the
// indexes of those it did not meet (absent, or too far apart).
func scanJoin(tx storage.Tx, bucket string, keys [][]byte, found func(j int, v []byte) error) ([]int, error) {
	j, skips := 0, 0
	var missed []int
	var ferr error
	err := tx.Scan(bucket, storage.Range{Start: keys[0]}, func(k, v []byte) bool {
		for j < len(keys) && bytes.Compare(keys[j], k) < 0 {
			missed = append(missed, j)
			j++
		}
		if j == len(keys) {
			return false
		}
		if !bytes.Equal(keys[j], k) {
			skips++
			return skips <= maxJoinSkip
		}
		if ferr = found(j, v); ferr != nil {
			return false
		}
		j, skips = j+1, 0
		return j < len(keys)
	})
	if err != nil {
		return nil, err
	}
	if ferr != nil {
		return nil, ferr
	}
	for ; j < len(keys); j++ {
		missed = append(missed, j)
	}
	return missed, nil
}

func (m *Manager) view(ctx context.Context, typ string, fn func(ct *compiledType, r reader) error) error {
	ct, err := m.lookupType(typ)
	if err != nil {
		return err
	}
	return m.store.View(ctx, func(tx storage.Tx) error { return fn(ct, reader{tx: tx, hints: m.revHints}) })
}

// GetOptions qualify a read.
type GetOptions struct {
	// Revision, when not zero, reads that revision instead of the current.
	Revision int
	// IncludeDeleted reads soft-deleted resources too.
	IncludeDeleted bool
	// Expand names reference fields whose targets to embed (see
	// ListOptions.Expand); those the revision read holds, at the
	// targets' current state.
	Expand []string
}

// Get reads one resource, if ctx's principal may.
func (m *Manager) Get(ctx context.Context, typ, id string, o GetOptions) (*Resource, error) {
	p, err := m.readGrant(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	plan, err := m.planExpand(ctx, typ, o.Expand)
	if err != nil {
		return nil, err
	}
	var res *Resource
	err = m.view(ctx, typ, func(ct *compiledType, r reader) error {
		meta, rev, err := r.visibleAt(ct, id, o.IncludeDeleted, o.Revision)
		if err != nil {
			return err
		}
		if err := allowRead(p, ct, id, meta.CreatedBy); err != nil {
			return err
		}
		if rev == nil {
			n := meta.CurrentRevision
			if o.Revision != 0 {
				n = o.Revision
			}
			if rev, err = r.pastRevision(ct, id, meta, n); err != nil {
				return err
			}
		}
		res = newResource(typ, id, meta, rev)
		return nil
	})
	if res, err = m.redactOne(ctx, res, err); err != nil {
		return nil, err
	}
	return res, m.expand(ctx, plan, []*Resource{res})
}

// Page limits.
const (
	DefaultPageSize = 20
	MaxPageSize     = 1000
)

// ListOptions qualify a list.
type ListOptions struct {
	// Limit is the page size: 0 means DefaultPageSize; at most MaxPageSize.
	Limit int
	// Cursor is a Page.NextCursor from an earlier call.
	Cursor         string
	IncludeDeleted bool
	// Reverse lists newest first.
	Reverse bool
	// Expand names reference fields, or dotted paths of them up to
	// MaxExpandDepth (author.org), whose targets are embedded in each
	// item's Resource.Expand, those the principal may read only; at most
	// MaxExpandPaths. Anything else is ErrInvalid.
	Expand []string
}

// Page is one page of resources.
type Page struct {
	Items []*Resource `json:"items"`
	// NextCursor continues the list; empty on the last page.
	NextCursor string `json:"next_cursor"`
}

func pageLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultPageSize, nil
	case limit < 0 || limit > MaxPageSize:
		return 0, errorf(ErrInvalid, "limit must be between 1 and %d", MaxPageSize)
	}
	return limit, nil
}

// List pages through a type's resources in creation order (created_at,
// then id), by keyset cursor: a page never repeats or skips a resource that
// existed when the walk began, whatever is created meanwhile. A principal
// whose read grant is "owner" only pages through its own resources.
func (m *Manager) List(ctx context.Context, typ string, o ListOptions) (*Page, error) {
	_, g, err := m.allowType(ctx, typ, PermRead)
	if err != nil {
		return nil, err
	}
	plan, err := m.planExpand(ctx, typ, o.Expand)
	if err != nil {
		return nil, err
	}
	if !g.All && m.search != nil {
		// The index pages through the principal's own resources directly,
		// where storage would walk everyone's to fill a page.
		q := ListQuery{} // creation order
		if o.Reverse {
			q.Sort, o.Reverse = "-created_at", false
		}
		sp, err := m.Search(ctx, typ, o, q)
		if err != nil {
			return nil, err
		}
		return &sp.Page, nil
	}
	p := PrincipalFrom(ctx)
	limit, err := pageLimit(o.Limit)
	if err != nil {
		return nil, err
	}
	rng := storage.Range{Reverse: o.Reverse}
	kind := "o"
	if o.Reverse {
		kind = "ro"
	}
	if o.Cursor != "" {
		after, err := decodeCursor(o.Cursor, kind)
		if err != nil {
			return nil, err
		}
		if o.Reverse {
			rng.End = after
		} else {
			rng.Start = append(after, 0)
		}
	}
	page := &Page{Items: []*Resource{}}
	err = m.view(ctx, typ, func(ct *compiledType, r reader) error {
		arena := make([]byte, 0, limit*1536)
		r.arena = &arena
		var lastKey []byte
		// Batches of the order keys still needed, and one more, which
		// says whether the list goes on (and where the next batch
		// starts).
		for len(page.Items) < limit {
			need := limit - len(page.Items)
			var keys [][]byte
			if err := r.tx.Scan(orderBucket(typ), rng, func(k, _ []byte) bool {
				keys = append(keys, bytes.Clone(k))
				return len(keys) <= need
			}); err != nil {
				return err
			}
			more := len(keys) > need
			batch := keys[:min(len(keys), need)]
			ids := make([]string, len(batch))
			for i, k := range batch {
				ids[i] = orderID(k)
			}
			// Over a shared store (PostgreSQL), two round trips beat the
			// scans of bolt's trees: see currents.
			metas, revs, err := r.currents(ct, ids, !m.cluster.shared)
			if err != nil {
				return err
			}
			for i, id := range ids {
				if revs[i] == nil { // the order bucket lists it: storage is inconsistent
					return fmt.Errorf("list %s: %s/%s is listed but has no meta or current revision", typ, typ, id)
				}
				if metas[i].Deleted && !o.IncludeDeleted || !g.Allows(p, metas[i].CreatedBy) {
					continue
				}
				page.Items = append(page.Items, newResource(typ, id, metas[i], revs[i]))
				lastKey = batch[i]
			}
			if !more {
				break
			}
			if len(page.Items) == limit {
				if lastKey != nil {
					page.NextCursor = encodeCursor(kind, lastKey)
				}
				break
			}
			// The next batch starts at the extra key.
			next := keys[need]
			if o.Reverse {
				rng.End = append(next, 0)
			} else {
				rng.Start = next
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := m.redactAll(ctx, typ, page.Items); err != nil {
		return nil, err
	}
	return page, m.expand(ctx, plan, page.Items)
}

// Count returns how many resources of a type exist (not counting
// soft-deleted ones unless includeDeleted) that ctx's principal may read.
func (m *Manager) Count(ctx context.Context, typ string, includeDeleted bool) (int, error) {
	_, g, err := m.allowType(ctx, typ, PermRead)
	if err != nil {
		return 0, err
	}
	switch {
	case !g.All && m.search != nil:
		return m.SearchCount(ctx, typ, includeDeleted, ListQuery{})
	case !g.All:
		return m.countOwned(ctx, typ, includeDeleted, PrincipalFrom(ctx))
	}
	var n uint64
	err = m.view(ctx, typ, func(_ *compiledType, r reader) error {
		key := liveCountKey(typ)
		if includeDeleted {
			key = allCountKey(typ)
		}
		var err error
		n, err = readUint(r.tx, bucketSys, key)
		return err
	})
	return int(n), err
}

// countOwned counts the resources of typ created by p.
func (m *Manager) countOwned(ctx context.Context, typ string, includeDeleted bool, p Principal) (int, error) {
	n := 0
	err := m.view(ctx, typ, func(ct *compiledType, r reader) error {
		var decodeErr error
		err := r.tx.Scan(metaBucket(typ), storage.Range{}, func(k, _ []byte) bool {
			meta, err := getMeta(r.tx, typ, string(k))
			if err != nil {
				decodeErr = err
				return false
			}
			if meta.CreatedBy == p.ID && (includeDeleted || !meta.Deleted) {
				n++
			}
			return true
		})
		if err != nil {
			return err
		}
		return decodeErr
	})
	return n, err
}

// RevisionPage is one page of revision infos, newest first.
type RevisionPage struct {
	Items      []Revision `json:"items"`
	NextCursor string     `json:"next_cursor"`
}

// Revisions lists a resource's revisions, newest first.
func (m *Manager) Revisions(ctx context.Context, typ, id string, o ListOptions) (*RevisionPage, error) {
	p, err := m.readGrant(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	limit, before, err := revisionPaging(o)
	if err != nil {
		return nil, err
	}
	var page *RevisionPage
	err = m.view(ctx, typ, func(ct *compiledType, r reader) error {
		meta, err := r.visible(ct, id, o.IncludeDeleted)
		if err != nil {
			return err
		}
		if err := allowRead(p, ct, id, meta.CreatedBy); err != nil {
			return err
		}
		page, err = r.revisionPage(typ, id, before, limit, hiddenFor(p, ct) != nil, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// revisionPaging is a revision list's page size and the revision number
// its cursor continues below.
func revisionPaging(o ListOptions) (limit, before int, err error) {
	if limit, err = pageLimit(o.Limit); err != nil {
		return 0, 0, err
	}
	before = 1 << 31
	if o.Cursor != "" {
		k, err := decodeCursor(o.Cursor, "r")
		if err != nil || len(k) != 4 {
			return 0, 0, errorf(ErrInvalid, "invalid cursor")
		}
		before = int(binary.BigEndian.Uint32(k))
	}
	return limit, before, nil
}

// revisionPage reads up to limit revision infos of a resource numbered
// below before, newest first, leaving out those skip refuses; hidden
// empties their data hashes, which cover the hidden fields (see redact).
func (r reader) revisionPage(typ, id string, before, limit int, hidden bool, skip func(Revision) bool) (*RevisionPage, error) {
	page := &RevisionPage{Items: []Revision{}}
	var scanErr error
	more := false
	rng := storage.Range{Start: revKey(id, 0), End: revKey(id, min(before, 1<<31-1)), Reverse: true}
	err := r.tx.Scan(revBucket(typ), rng, func(_, v []byte) bool {
		if len(page.Items) == limit {
			more = true
			return false
		}
		info := v
		if i := bytes.IndexByte(v, '\n'); i >= 0 {
			info = v[:i]
		}
		var rev Revision
		if rev, scanErr = decodeRevision(info); scanErr != nil {
			return false
		}
		if skip != nil && skip(rev) {
			return true
		}
		if hidden {
			rev.DataHash = ""
		}
		page.Items = append(page.Items, rev)
		return true
	})
	if err != nil {
		return nil, err
	}
	if scanErr != nil {
		return nil, scanErr
	}
	if more {
		last := page.Items[len(page.Items)-1].Number
		page.NextCursor = encodeCursor("r", binary.BigEndian.AppendUint32(nil, uint32(last)))
	}
	return page, nil
}

// Diff returns the RFC 6902 JSON Patch that turns revision from of a
// resource into revision to. A zero to means the current revision; a zero
// from means to's parent.
func (m *Manager) Diff(ctx context.Context, typ, id string, from, to int) (json.RawMessage, error) {
	p, err := m.readGrant(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	var a, b []byte
	var hidden []string
	err = m.view(ctx, typ, func(ct *compiledType, r reader) error {
		meta, err := r.visible(ct, id, false)
		if err != nil {
			return err
		}
		if err := allowRead(p, ct, id, meta.CreatedBy); err != nil {
			return err
		}
		if to == 0 {
			to = meta.CurrentRevision
		}
		target, err := r.pastRevision(ct, id, meta, to)
		if err != nil {
			return err
		}
		if from == 0 {
			if target.Parent == nil {
				return errorf(ErrInvalid, "revision %d has no parent; give from", to)
			}
			from = *target.Parent
		}
		source, err := r.pastRevision(ct, id, meta, from)
		if err != nil {
			return err
		}
		a, b = bytes.Clone(source.Data), bytes.Clone(target.Data)
		hidden = hiddenFor(p, ct)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Compare decoded documents with exact numbers: CompareJSON would go
	// through float64 and miss a change in the 17th digit.
	source, err := decodeStoredObject(a)
	if err != nil {
		return nil, fmt.Errorf("decode %s/%s revision %d: %w", typ, id, from, err)
	}
	target, err := decodeStoredObject(b)
	if err != nil {
		return nil, fmt.Errorf("decode %s/%s revision %d: %w", typ, id, to, err)
	}
	// A hidden field's changes are not shown: it is left out of both.
	stripHidden(source, hidden)
	stripHidden(target, hidden)
	patch, err := jsondiff.CompareWithoutMarshal(source, target)
	if err != nil {
		return nil, fmt.Errorf("diff %s/%s %d..%d: %w", typ, id, from, to, err)
	}
	return encodePatch(patch)
}

// encodePatch writes a JSON Patch with each operation's members in the
// order RFC 6902 shows them: op, from, path, value.
func encodePatch(patch jsondiff.Patch) (json.RawMessage, error) {
	type operation struct {
		Op    string           `json:"op"`
		From  string           `json:"from,omitempty"`
		Path  string           `json:"path"`
		Value *json.RawMessage `json:"value,omitempty"`
	}
	ops := make([]operation, len(patch))
	for i, op := range patch {
		ops[i] = operation{Op: op.Type, From: op.From, Path: op.Path}
		if op.Type == jsondiff.OperationAdd || op.Type == jsondiff.OperationReplace || op.Type == jsondiff.OperationTest {
			v, err := canonicalJSON(op.Value)
			if err != nil {
				return nil, fmt.Errorf("encode diff: %w", err)
			}
			raw := json.RawMessage(v)
			ops[i].Value = &raw
		}
	}
	return canonicalJSON(ops)
}

// Referrers lists the resources whose reference fields point at typ/id,
// those ctx's principal may read only.
func (m *Manager) Referrers(ctx context.Context, typ, id string) ([]Referrer, error) {
	p, err := m.readGrant(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	out := []Referrer{}
	err = m.view(ctx, typ, func(ct *compiledType, r reader) error {
		meta, err := r.visible(ct, id, false)
		if err != nil {
			return err
		}
		if err := allowRead(p, ct, id, meta.CreatedBy); err != nil {
			return err
		}
		var all []Referrer
		err = r.tx.Scan(refBucket(typ), storage.PrefixRange(refPrefix(id)), func(k, _ []byte) bool {
			if ref, ok := parseRefKey(k); ok {
				all = append(all, ref)
			}
			return true
		})
		if err != nil {
			return err
		}
		for _, ref := range all {
			ok, err := m.canRead(r.tx, p, ref.Type, ref.ID)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, ref)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Referrer) int {
		return cmpStrings(a.Type+"\x00"+a.ID+"\x00"+a.Field, b.Type+"\x00"+b.ID+"\x00"+b.Field)
	})
	return out, nil
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ChangePage is one page of the change log.
type ChangePage struct {
	Items []Change `json:"items"`
	// NextSince is the seq to pass as since for the next page.
	NextSince uint64 `json:"next_since"`
}

// maxChangeScan bounds the entries one Changes call reads when a type
// filter skips most of them.
const maxChangeScan = 10000

// Changes returns change-log entries after seq since, oldest first, of the
// given types (all when types is empty), of the types ctx's principal may
// read every resource of: an entry does not say who owns its resource.
// Since 0 reads from the oldest entry retained; a later position whose
// next entries were trimmed (see TrimChanges) fails with ErrGone.
func (m *Manager) Changes(ctx context.Context, since uint64, types []string, limit int) (*ChangePage, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if limit == 0 {
		limit = 100
	}
	limit, err := pageLimit(limit)
	if err != nil {
		return nil, err
	}
	page := &ChangePage{Items: []Change{}, NextSince: since}
	if types, err = m.readableTypes(PrincipalFrom(ctx), types); err != nil {
		return nil, err
	}
	if types != nil && len(types) == 0 {
		return page, nil
	}
	err = m.store.View(ctx, func(tx storage.Tx) error {
		if err := checkTrimmed(tx, since); err != nil {
			return err
		}
		scanned := 0
		var scanErr error
		err := tx.Scan(bucketChanges, storage.Range{Start: seqKey(since + 1)}, func(k, v []byte) bool {
			if len(page.Items) == limit || scanned == maxChangeScan {
				return false
			}
			scanned++
			var ch Change
			if ch, scanErr = decodeChange(v); scanErr != nil {
				return false
			}
			page.NextSince = ch.Seq
			if len(types) == 0 || slices.Contains(types, ch.Type) {
				page.Items = append(page.Items, ch)
			}
			return true
		})
		if err != nil {
			return err
		}
		return scanErr
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// Cursors are opaque to clients: a kind tag and a storage key, base64url.
func encodeCursor(kind string, key []byte) string {
	return kind + "." + base64.RawURLEncoding.EncodeToString(key)
}

func decodeCursor(cursor, kind string) ([]byte, error) {
	if len(cursor) < len(kind)+1 || cursor[:len(kind)+1] != kind+"." {
		return nil, errorf(ErrInvalid, "invalid cursor")
	}
	key, err := base64.RawURLEncoding.DecodeString(cursor[len(kind)+1:])
	if err != nil || len(key) == 0 {
		return nil, errorf(ErrInvalid, "invalid cursor")
	}
	return key, nil
}
