package core

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
)

// Time travel: reads as the data stood at an earlier instant (as_of).
//
// The change log is trimmed, a switch writes no revision and a delete or
// restore only flips the meta, so history is kept apart: every resource
// has a timeline in the bucket t/<type>, one entry per millisecond in which
// its current revision, revision count or deleted flag moved, written in
// the transaction of the write (writer.putMeta). An entry holds the state
// from its instant until the next entry's. Two writes in one millisecond
// leave one entry, the later state: times are kept to the millisecond, as
// everywhere in Strata. A purge removes the timeline with the resource:
// purged resources are gone from history too.
//
// A resource written before timelines existed has none. Its state since
// its last write is its meta (exact); before that it is derived from the
// times of its revisions: the newest revision created by then, never
// deleted, with no switch (approximate). Its first write under timelines
// records that last state as a baseline entry first, so the exact part
// stays exact. Imported resources are treated alike (an export carries no
// timeline): their history is derived from the revisions' times.

// stateEntry is one timeline entry: the state of a resource from ms on.
type stateEntry struct {
	ms       int64
	rev      int // current revision; 0: unknown (a pruned revision, derived history)
	count    int // revision count
	deleted  bool
	baseline bool // before it, history is derived from revision times
	by       string
	approx   bool // derived, not recorded (never stored)
}

const (
	stateDeleted  = 1 << 0
	stateBaseline = 1 << 1
)

func stateKey(id string, ms int64) []byte {
	k := make([]byte, len(id)+9)
	copy(k, id)
	binary.BigEndian.PutUint64(k[len(id)+1:], uint64(ms))
	return k
}

func encodeState(e stateEntry) []byte {
	var flags byte
	if e.deleted {
		flags |= stateDeleted
	}
	if e.baseline {
		flags |= stateBaseline
	}
	b := make([]byte, 1, 12+len(e.by))
	b[0] = flags
	b = binary.AppendUvarint(b, uint64(e.rev))
	b = binary.AppendUvarint(b, uint64(e.count))
	return append(b, e.by...)
}

func decodeState(key, v []byte) (stateEntry, error) {
	var e stateEntry
	if len(key) < 9 || len(v) < 3 {
		return e, fmt.Errorf("timeline entry %q is corrupt", key)
	}
	e.ms = int64(binary.BigEndian.Uint64(key[len(key)-8:]))
	e.deleted, e.baseline = v[0]&stateDeleted != 0, v[0]&stateBaseline != 0
	rest := v[1:]
	rev, n := binary.Uvarint(rest)
	if n <= 0 || rev > math.MaxInt32 {
		return e, fmt.Errorf("timeline entry %q is corrupt", key)
	}
	rest = rest[n:]
	count, n := binary.Uvarint(rest)
	if n <= 0 || count > math.MaxInt32 {
		return e, fmt.Errorf("timeline entry %q is corrupt", key)
	}
	e.rev, e.count, e.by = int(rev), int(count), string(rest[n:])
	return e, nil
}

// lastState returns the newest timeline entry of a resource at or before
// ms (math.MaxInt64: the newest of all).
func lastState(tx storage.Tx, typ, id string, ms int64) (stateEntry, bool, error) {
	rng := storage.Range{Start: revPrefix(id), Reverse: true}
	if ms == math.MaxInt64 {
		rng.End = storage.PrefixEnd(revPrefix(id))
	} else {
		rng.End = stateKey(id, ms+1)
	}
	return oneState(tx, typ, rng)
}

// firstState returns the oldest timeline entry of a resource.
func firstState(tx storage.Tx, typ, id string) (stateEntry, bool, error) {
	return oneState(tx, typ, storage.PrefixRange(revPrefix(id)))
}

func oneState(tx storage.Tx, typ string, rng storage.Range) (stateEntry, bool, error) {
	var e stateEntry
	found := false
	var derr error
	err := tx.Scan(stateBucket(typ), rng, func(k, v []byte) bool {
		e, derr = decodeState(k, v)
		found = true
		return false
	})
	if err == nil {
		err = derr
	}
	return e, found && err == nil, err
}

// deleteStates removes a resource's timeline (a purge, or a resource an
// import replaces).
func deleteStates(tx storage.Tx, typ, id string) error {
	var keys [][]byte
	if err := tx.Scan(stateBucket(typ), storage.PrefixRange(revPrefix(id)), func(k, _ []byte) bool {
		keys = append(keys, bytes.Clone(k))
		return true
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Delete(stateBucket(typ), k); err != nil {
			return fmt.Errorf("delete timeline of %s/%s: %w", typ, id, err)
		}
	}
	return nil
}

// recordState appends meta's state to the timeline of typ/id if it moved.
// A resource with no timeline that already exists was written before
// timelines: its state before this write is recorded first, as a baseline
// at its last write. An entry never goes before the newest one, so the
// timeline stays in order if the clock steps back.
func (w *writer) recordState(typ, id string, meta *metaRecord) error {
	next := stateEntry{ms: w.now.UnixMilli(), rev: meta.CurrentRevision, count: meta.RevisionCount,
		deleted: meta.Deleted, by: meta.UpdatedBy}
	last, ok, err := lastState(w.tx, typ, id, math.MaxInt64)
	if err != nil {
		return fmt.Errorf("read timeline of %s/%s: %w", typ, id, err)
	}
	if !ok {
		old, err := getMeta(w.tx, typ, id)
		switch {
		case isNotFound(err):
		case err != nil:
			return err
		default:
			last = stateEntry{ms: min(parseMS(old.UpdatedAt, old.CreatedMS), next.ms), rev: old.CurrentRevision,
				count: old.RevisionCount, deleted: old.Deleted, baseline: true, by: old.UpdatedBy}
			ok = true
			if sameState(last, next) {
				return nil
			}
			if err := w.tx.Put(stateBucket(typ), stateKey(id, last.ms), encodeState(last)); err != nil {
				return err
			}
		}
	}
	if ok {
		if sameState(last, next) {
			return nil
		}
		if next.ms <= last.ms {
			next.ms, next.baseline = last.ms, last.baseline
		}
	}
	if err := w.tx.Put(stateBucket(typ), stateKey(id, next.ms), encodeState(next)); err != nil {
		return fmt.Errorf("write timeline of %s/%s: %w", typ, id, err)
	}
	return nil
}

// createdState is the first timeline entry of a resource created with meta.
func createdState(meta *metaRecord) stateEntry {
	return stateEntry{rev: meta.CurrentRevision, count: meta.RevisionCount, by: meta.UpdatedBy}
}

func sameState(a, b stateEntry) bool {
	return a.rev == b.rev && a.count == b.count && a.deleted == b.deleted
}

// parseMS reads a stored time in Unix milliseconds, or def.
func parseMS(s string, def int64) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return def
	}
	return t.UnixMilli()
}

// stateAt is the state of a resource (whose meta is meta) at ms; false
// when it did not exist then. A derived state whose revision retention
// pruned has rev 0.
func (r reader) stateAt(ct *compiledType, id string, meta *metaRecord, ms int64) (stateEntry, bool, error) {
	typ := ct.def.Name
	if ms < meta.CreatedMS {
		return stateEntry{}, false, nil
	}
	e, ok, err := lastState(r.tx, typ, id, ms)
	if err != nil || ok {
		return e, ok, err
	}
	first, ok, err := firstState(r.tx, typ, id)
	switch {
	case err != nil:
		return stateEntry{}, false, err
	case ok && !first.baseline:
		return stateEntry{}, false, nil // created after ms
	case !ok:
		// Never written since timelines: the meta holds since the last write.
		if upd := parseMS(meta.UpdatedAt, meta.CreatedMS); ms >= upd {
			return stateEntry{ms: upd, rev: meta.CurrentRevision, count: meta.RevisionCount,
				deleted: meta.Deleted, by: meta.UpdatedBy}, true, nil
		}
	}
	return r.derivedState(ct, id, ms)
}

// derivedState guesses the state of a resource at ms from the times of
// its revisions: the newest created by then was current, and the resource
// was live. rev is 0 when that revision was pruned.
func (r reader) derivedState(ct *compiledType, id string, ms int64) (stateEntry, bool, error) {
	e := stateEntry{approx: true}
	var derr error
	rng := storage.PrefixRange(revPrefix(id))
	rng.Reverse = true
	err := r.tx.Scan(revBucket(ct.def.Name), rng, func(_, v []byte) bool {
		info := v
		if i := bytes.IndexByte(v, '\n'); i >= 0 {
			info = v[:i]
		}
		rev, err := decodeRevision(info)
		if err != nil {
			derr = err
			return false
		}
		at := parseMS(rev.CreatedAt, math.MaxInt64)
		if at > ms {
			return true
		}
		e.ms, e.rev, e.count, e.by = at, rev.Number, rev.Number, rev.CreatedBy
		return false
	})
	if err == nil {
		err = derr
	}
	return e, true, err
}

// pastResource is the envelope of a resource in the state st, with
// revision rev.
func pastResource(typ, id string, meta *metaRecord, st stateEntry, rev *revisionRecord) *Resource {
	m := meta.Meta
	m.CurrentRevision, m.RevisionCount, m.Deleted = st.rev, st.count, st.deleted
	m.UpdatedAt, m.UpdatedBy = formatTime(time.UnixMilli(st.ms)), st.by
	m.SchemaVersion = rev.SchemaVersion
	return &Resource{ID: id, Type: typ, Data: rev.Data, Meta: m, Revision: rev.Revision}
}

// asOfMS checks an as_of instant and returns it in Unix milliseconds (the
// precision of every stored time). An instant after now is refused: the
// answer could still change.
func (m *Manager) asOfMS(at time.Time) (int64, error) {
	if at.IsZero() {
		return 0, errorf(ErrInvalid, "as_of must be an RFC 3339 time")
	}
	if at.After(m.now()) {
		return 0, errorf(ErrInvalid, "as_of %s is in the future", at.UTC().Format(time.RFC3339Nano))
	}
	// Before 1970 is before any write; -1 keeps the key arithmetic in range.
	return max(at.UnixMilli(), -1), nil
}

// pastRevisionAt reads the revision of state st, or ErrGone when
// retention pruned it.
func (r reader) pastRevisionAt(ct *compiledType, id string, meta *metaRecord, st stateEntry) (*revisionRecord, error) {
	if st.rev == 0 {
		return nil, errorf(ErrGone, "%s/%s: the revision current then was pruned by the type's revision retention", ct.def.Name, id)
	}
	return r.pastRevision(ct, id, meta, st.rev)
}

// GetAsOf reads one resource as it stood at instant at: the revision then
// current, with the meta of then. A resource that did not exist then,
// was soft-deleted then (unless o.IncludeDeleted) or has been purged since
// is ErrNotFound; one whose revision of then retention pruned is ErrGone.
// An instant in the future, or o.Revision set, is ErrInvalid.
func (m *Manager) GetAsOf(ctx context.Context, typ, id string, at time.Time, o GetOptions) (*Resource, error) {
	ms, err := m.asOfMS(at)
	if err != nil {
		return nil, err
	}
	if o.Revision != 0 {
		return nil, errorf(ErrInvalid, "as_of and revision both choose the revision: give one")
	}
	p, err := m.readGrant(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	var res *Resource
	err = m.view(ctx, typ, func(ct *compiledType, r reader) error {
		meta, st, err := r.readableAt(p, ct, id, ms, o.IncludeDeleted)
		if err != nil {
			return err
		}
		rev, err := r.pastRevisionAt(ct, id, meta, st)
		if err != nil {
			return err
		}
		res = pastResource(typ, id, meta, st, rev)
		return nil
	})
	return m.redactOne(ctx, res, err)
}

// readableAt reads the meta of a resource p may read and its state at
// ms: ErrNotFound when it did not exist then, was soft-deleted then
// (unless includeDeleted) or has been purged since.
func (r reader) readableAt(p Principal, ct *compiledType, id string, ms int64, includeDeleted bool) (*metaRecord, stateEntry, error) {
	meta, err := r.visible(ct, id, true)
	if err != nil {
		return nil, stateEntry{}, err
	}
	if err := allowRead(p, ct, id, meta.CreatedBy); err != nil {
		return nil, stateEntry{}, err
	}
	st, ok, err := r.stateAt(ct, id, meta, ms)
	if err != nil {
		return nil, stateEntry{}, err
	}
	if !ok || st.deleted && !includeDeleted {
		return nil, stateEntry{}, resourceNotFound(ct.def.Name, id)
	}
	return meta, st, nil
}

// RevisionsAsOf lists the revisions a resource had at instant at, newest
// first: those created by then (and not pruned since). The resource must
// have existed then, as for GetAsOf.
func (m *Manager) RevisionsAsOf(ctx context.Context, typ, id string, at time.Time, o ListOptions) (*RevisionPage, error) {
	ms, err := m.asOfMS(at)
	if err != nil {
		return nil, err
	}
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
		_, st, err := r.readableAt(p, ct, id, ms, o.IncludeDeleted)
		if err != nil {
			return err
		}
		// Derived history: a revision created after ms did not exist yet.
		later := func(rev Revision) bool { return parseMS(rev.CreatedAt, 0) > ms }
		page, err = r.revisionPage(typ, id, min(before, st.count+1), limit, hiddenFor(p, ct) != nil, later)
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// AsOfPlan is a list's filter and sort compiled for a type, for the
// Manager to apply to resources as they stood at an earlier instant: the
// search index holds only the present, so a list as_of reads every
// resource of the type at that instant and matches and orders it itself.
type AsOfPlan struct {
	// Match reports whether a resource matches the filter; nil matches
	// all. data is its decoded data (numbers are json.Number), meta its
	// meta fields id, created_at, updated_at, created_by and updated_by
	// (strings).
	Match func(data, meta map[string]any) bool
	// Keys appends to dst the sort values of a resource, one per entry of
	// Desc, and returns it. A value is a string, float64 or bool, or nil
	// when missing (nil sorts last in both directions); values of one
	// entry have one Go type, and strings compare bytewise (times are
	// returned in a fixed-width UTC form). The id, in ascending order,
	// breaks the ties that remain.
	Keys func(data, meta map[string]any, dst []any) []any
	Desc []bool
	// NeedsData is false when Match and Keys read meta fields only (data
	// is then nil).
	NeedsData bool
}

// AsOfPlanner is implemented by a Searcher that can compile a filter and
// sort for a list as_of, with the meaning and the errors they have on
// live lists (package index does). Hidden names the top-level fields the
// asking principal may not read, unknown to its filter and sort as in
// SearchRequest.Hidden.
type AsOfPlanner interface {
	PlanAsOf(t Type, filter, sort string, hidden []string) (*AsOfPlan, error)
}

// creationPlan orders by creation time, ascending or descending: the
// default order of a list, which needs no search index.
func creationPlan(desc bool) *AsOfPlan {
	return &AsOfPlan{
		Keys: func(_, meta map[string]any, dst []any) []any { return append(dst, meta["created_at"]) },
		Desc: []bool{desc},
	}
}

// asOfPlan compiles q for a list or count of ct as_of.
func (m *Manager) asOfPlan(ctx context.Context, ct *compiledType, q ListQuery) (*AsOfPlan, error) {
	if strings.TrimSpace(q.Q) != "" || q.Highlight {
		return nil, errorf(ErrInvalid, "as_of cannot be combined with q: full-text relevance is only kept for the present")
	}
	sort := strings.TrimSpace(q.Sort)
	if q.Filter == "" && (sort == "" || sort == "created_at" || sort == "-created_at" || sort == "+created_at") {
		return creationPlan(sort == "-created_at"), nil
	}
	pl, ok := m.search.(AsOfPlanner)
	if !ok {
		return nil, errorf(ErrInvalid, "filter and sort need the search index, which this server does not run")
	}
	return pl.PlanAsOf(ct.def, q.Filter, q.Sort, hiddenFor(PrincipalFrom(ctx), ct))
}

// pastItem is a match of a list as_of: its sort values and id.
type pastItem struct {
	keys []any
	id   string
}

// pastOrder orders the matches of a list as_of.
type pastOrder struct{ desc []bool }

func (o pastOrder) cmp(a, b *pastItem) int {
	for i, d := range o.desc {
		va, vb := a.keys[i], b.keys[i]
		switch {
		case va == nil && vb == nil:
			continue
		case va == nil:
			return 1
		case vb == nil:
			return -1
		}
		c := compareValues(va, vb)
		if d {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return strings.Compare(a.id, b.id)
}

// compareValues orders two sort values of one entry: strings bytewise,
// numbers numerically, false before true; values of different types by
// type, so the order stays total.
func compareValues(a, b any) int {
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	case float64:
		if y, ok := b.(float64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		}
	}
	return typeRank(a) - typeRank(b)
}

func typeRank(v any) int {
	switch v.(type) {
	case bool:
		return 0
	case float64:
		return 1
	case string:
		return 2
	}
	return 3
}

// pastHeap keeps the best items seen, the worst on top.
type pastHeap struct {
	o     pastOrder
	items []*pastItem
}

func (h *pastHeap) Len() int           { return len(h.items) }
func (h *pastHeap) Less(i, j int) bool { return h.o.cmp(h.items[i], h.items[j]) > 0 }
func (h *pastHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pastHeap) Push(x any)         { h.items = append(h.items, x.(*pastItem)) }
func (h *pastHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// pastCursor is the position of a list as_of: bound to its instant and to
// what it pages through.
type pastCursor struct {
	At      int64  `json:"t"`
	Binding string `json:"b"`
	Keys    []any  `json:"k"`
	ID      string `json:"i"`
}

func encodePastCursor(c pastCursor) (string, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return "h." + base64.RawURLEncoding.EncodeToString(raw), nil
}

func decodePastCursor(s string, ms int64, binding string, n int) (*pastItem, error) {
	raw, err := decodeCursor(s, "h")
	if err != nil {
		return nil, errorf(ErrInvalid, "invalid cursor: it does not come from a list as_of")
	}
	var c pastCursor
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil || len(c.Keys) != n {
		return nil, errorf(ErrInvalid, "invalid cursor")
	}
	if c.At != ms {
		return nil, errorf(ErrInvalid, "invalid cursor: it pages a list as_of another instant")
	}
	if c.Binding != binding {
		return nil, errorf(ErrInvalid, "invalid cursor: it pages a list with another filter or sort")
	}
	for i, v := range c.Keys {
		switch v := v.(type) {
		case json.Number:
			f, err := v.Float64()
			if err != nil {
				return nil, errorf(ErrInvalid, "invalid cursor")
			}
			c.Keys[i] = f
		case nil, string, bool:
		default:
			return nil, errorf(ErrInvalid, "invalid cursor")
		}
	}
	return &pastItem{keys: c.Keys, id: c.ID}, nil
}

// pastScan is one list or count as_of: what it matches and pages.
type pastScan struct {
	ct             *compiledType
	plan           *AsOfPlan
	ms             int64
	includeDeleted bool
	owner          string // when set, only resources created by this principal id
	hidden         []string
	after          *pastItem
	limit          int // 0: count only
	total          int
	best           pastHeap
}

// scan walks every resource created by s.ms, in one transaction, and
// keeps the first limit+1 matches after the cursor.
func (s *pastScan) scan(ctx context.Context, r reader) error {
	typ := s.ct.def.Name
	rng := storage.Range{End: orderKey(s.ms+1, "")}
	var stop error
	n := 0
	keys := make([]any, 0, len(s.plan.Desc))
	err := r.tx.Scan(orderBucket(typ), rng, func(k, _ []byte) bool {
		if n++; n%1024 == 0 {
			if stop = ctx.Err(); stop != nil {
				return false
			}
		}
		id := orderID(k)
		var item *pastItem
		if item, stop = s.consider(r, id, keys[:0]); stop != nil {
			return false
		}
		if item == nil {
			return true
		}
		s.total++
		if s.limit == 0 || s.after != nil && s.best.o.cmp(item, s.after) <= 0 {
			return true
		}
		if len(s.best.items) <= s.limit {
			item.keys = slices.Clone(item.keys)
			heap.Push(&s.best, item)
		} else if s.best.o.cmp(item, s.best.items[0]) < 0 {
			item.keys = slices.Clone(item.keys)
			s.best.items[0] = item
			heap.Fix(&s.best, 0)
		}
		return true
	})
	if err != nil {
		return err
	}
	return stop
}

// consider returns the item of id when it matched at s.ms, else nil.
func (s *pastScan) consider(r reader, id string, keys []any) (*pastItem, error) {
	ct := s.ct
	meta, err := getMeta(r.tx, ct.def.Name, id)
	if err != nil {
		return nil, fmt.Errorf("load %s/%s: %w", ct.def.Name, id, err)
	}
	if s.owner != "" && meta.CreatedBy != s.owner {
		return nil, nil
	}
	st, ok, err := r.stateAt(ct, id, meta, s.ms)
	if err != nil || !ok || st.deleted && !s.includeDeleted {
		return nil, err
	}
	var data map[string]any
	if s.plan.NeedsData {
		if st.rev == 0 {
			_, err := r.pastRevisionAt(ct, id, meta, st)
			return nil, err
		}
		raw, err := r.tx.Get(revBucket(ct.def.Name), revKey(id, st.rev))
		if isNotFound(err) {
			_, err = r.pastRevision(ct, id, meta, st.rev)
		}
		if err != nil {
			return nil, err
		}
		rec, err := decodeRevisionRecord(raw)
		if err != nil {
			return nil, fmt.Errorf("decode %s/%s revision %d: %w", ct.def.Name, id, st.rev, err)
		}
		if data, err = decodeStoredObject(rec.Data); err != nil {
			return nil, fmt.Errorf("decode %s/%s revision %d: %w", ct.def.Name, id, st.rev, err)
		}
		stripHidden(data, s.hidden)
	}
	pm := map[string]any{"id": id, "created_at": meta.CreatedAt, "created_by": meta.CreatedBy,
		"updated_at": formatTime(time.UnixMilli(st.ms)), "updated_by": st.by}
	if s.plan.Match != nil && !s.plan.Match(data, pm) {
		return nil, nil
	}
	if s.limit == 0 {
		return &pastItem{id: id}, nil
	}
	keys = s.plan.Keys(data, pm, keys)
	if len(keys) != len(s.plan.Desc) {
		return nil, fmt.Errorf("list %s as_of: %d sort values for %d keys", ct.def.Name, len(keys), len(s.plan.Desc))
	}
	for i, v := range keys {
		if str, ok := v.(string); ok {
			keys[i] = strings.Clone(str)
		}
	}
	return &pastItem{keys: keys, id: strings.Clone(id)}, nil
}

// ListAsOf lists a type's resources as they stood at instant at: those
// created by then and neither purged since nor soft-deleted then (unless
// o.IncludeDeleted), each at the revision then current, filtered and
// sorted (q.Filter, q.Sort) on that data. Ties are broken by id; the
// default order is creation. It reads every resource of the type created
// by then, so it is slower than a live list. The cursor is bound to the
// instant, the filter and the sort. q.Q is ErrInvalid; a resource whose
// revision of then retention pruned makes the list ErrGone, since it
// cannot be matched.
func (m *Manager) ListAsOf(ctx context.Context, typ string, at time.Time, o ListOptions, q ListQuery) (*SearchPage, error) {
	ms, err := m.asOfMS(at)
	if err != nil {
		return nil, err
	}
	ct, g, err := m.allowType(ctx, typ, PermRead)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(o.Limit)
	if err != nil {
		return nil, err
	}
	plan, err := m.asOfPlan(ctx, ct, q)
	if err != nil {
		return nil, err
	}
	p := PrincipalFrom(ctx)
	s := &pastScan{ct: ct, plan: plan, ms: ms, includeDeleted: o.IncludeDeleted, owner: owner(ctx, g),
		hidden: hiddenFor(p, ct), limit: limit, best: pastHeap{o: pastOrder{desc: plan.Desc}}}
	binding := pastBinding(q, o.IncludeDeleted, s.owner)
	if o.Cursor != "" {
		if s.after, err = decodePastCursor(o.Cursor, ms, binding, len(plan.Desc)); err != nil {
			return nil, err
		}
	}
	sp := &SearchPage{Page: Page{Items: []*Resource{}}}
	err = m.store.View(ctx, func(tx storage.Tx) error {
		r := reader{tx: tx}
		if err := s.scan(ctx, r); err != nil {
			return err
		}
		items := s.best.items
		slices.SortFunc(items, s.best.o.cmp)
		if len(items) > limit {
			items = items[:limit]
			next, err := encodePastCursor(pastCursor{At: ms, Binding: binding, Keys: items[limit-1].keys, ID: items[limit-1].id})
			if err != nil {
				return err
			}
			sp.NextCursor = next
		}
		arena := make([]byte, 0, len(items)*1536)
		r.arena = &arena
		for _, it := range items {
			meta, err := getMeta(tx, typ, it.id)
			if err != nil {
				return fmt.Errorf("load %s/%s: %w", typ, it.id, err)
			}
			st, _, err := r.stateAt(ct, it.id, meta, ms)
			if err != nil {
				return err
			}
			rev, err := r.pastRevisionAt(ct, it.id, meta, st)
			if err != nil {
				return err
			}
			sp.Items = append(sp.Items, pastResource(typ, it.id, meta, st, rev))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if q.Total {
		sp.Total = s.total
	}
	if err := m.redactAll(ctx, typ, sp.Items); err != nil {
		return nil, err
	}
	return sp, nil
}

// CountAsOf counts what ListAsOf would list at instant at.
func (m *Manager) CountAsOf(ctx context.Context, typ string, at time.Time, includeDeleted bool, q ListQuery) (int, error) {
	ms, err := m.asOfMS(at)
	if err != nil {
		return 0, err
	}
	ct, g, err := m.allowType(ctx, typ, PermRead)
	if err != nil {
		return 0, err
	}
	q.Sort = ""
	plan, err := m.asOfPlan(ctx, ct, q)
	if err != nil {
		return 0, err
	}
	s := &pastScan{ct: ct, plan: plan, ms: ms, includeDeleted: includeDeleted, owner: owner(ctx, g),
		hidden: hiddenFor(PrincipalFrom(ctx), ct)}
	err = m.store.View(ctx, func(tx storage.Tx) error { return s.scan(ctx, reader{tx: tx}) })
	return s.total, err
}

// pastBinding identifies what a cursor of a list as_of pages through.
func pastBinding(q ListQuery, includeDeleted bool, owner string) string {
	h := sha256.New()
	for _, part := range []string{q.Filter, q.Sort, fmt.Sprint(includeDeleted), owner} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}
