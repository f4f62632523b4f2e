package index

import (
	"bytes"
	"container/heap"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/blevesearch/bleve/v2/numeric"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/strata-dev/strata/index/filter"
)

// sortKey is one key of a sort order: a field (String, Text, Number, Time
// or Bool kind) or, when field is FieldID, the resource id. Values compare
// as their index terms, bytewise: keywords as strings, booleans F < T,
// numbers and times as their prefix-coded sortable int64 at shift 0, long
// texts as their prefix terms and, when those are equal and truncated, as
// their stored texts. A missing value sorts last in both directions.
type sortKey struct {
	field string
	kind  filter.Kind
	desc  bool
}

// hit is a document found by a sorted search.
type hit struct {
	seg   int
	local uint32
	vals  [][]byte // per key before the id key; nil: missing
	id    string
	hasID bool
}

// sorter finds the first documents of a set of matches in a sort order.
// The order ends with the id key, so it is total.
type sorter struct {
	s      *snapshot
	cols   *columns
	keys   []sortKey // field keys, then the id key
	fields []string  // the fields of the field keys
	err    error     // the first error loading an id
	// full holds the stored long texts read to break ties between
	// truncated prefixes (fullText).
	full map[fullKey]string
}

func newSorter(s *snapshot, cols *columns, keys []sortKey) *sorter {
	so := &sorter{s: s, cols: cols, keys: keys}
	for _, k := range keys {
		if k.field == FieldID {
			break
		}
		so.fields = append(so.fields, k.field)
	}
	return so
}

// id returns the resource id of h, loading it on first use.
func (so *sorter) id(h *hit) string {
	if !h.hasID {
		raw, err := so.s.segs[h.seg].seg.DocID(uint64(h.local))
		if err != nil && so.err == nil {
			so.err = fmt.Errorf("document id: %w", err)
		}
		h.id, h.hasID = string(raw), true
	}
	return h.id
}

// cmp orders a before b (<0), equal (0) or after (>0).
func (so *sorter) cmp(a, b *hit) int {
	for i, k := range so.keys {
		if k.field == FieldID {
			c := strings.Compare(so.id(a), so.id(b))
			if k.desc {
				c = -c
			}
			return c
		}
		va, vb := a.vals[i], b.vals[i]
		switch {
		case va == nil && vb == nil:
			continue
		case va == nil:
			return 1
		case vb == nil:
			return -1
		}
		c := bytes.Compare(va, vb)
		if c == 0 && k.kind == filter.Text && truncated(va) {
			c = strings.Compare(so.fullText(a, i), so.fullText(b, i))
		}
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// cursorHit turns a cursor's values into a hit to compare with.
func (so *sorter) cursorHit(after []cursorValue) *hit {
	h := &hit{vals: make([][]byte, len(so.fields)), hasID: true}
	for i, k := range so.keys {
		if k.field == FieldID {
			h.id = string(after[i].V)
			break
		}
		if !after[i].Missing {
			h.vals[i] = after[i].V
			if h.vals[i] == nil {
				h.vals[i] = []byte{}
			}
		}
	}
	return h
}

// cursorOf returns the cursor values of h.
func (so *sorter) cursorOf(h *hit) []cursorValue {
	out := make([]cursorValue, 0, len(so.keys))
	for i, k := range so.keys {
		if k.field == FieldID {
			out = append(out, cursorValue{V: []byte(so.id(h))})
			break
		}
		out = append(out, cursorValue{V: h.vals[i], Missing: h.vals[i] == nil})
	}
	return out
}

// hitHeap keeps the best hits seen, the worst on top.
type hitHeap struct {
	so   *sorter
	hits []*hit
}

func (h *hitHeap) Len() int           { return len(h.hits) }
func (h *hitHeap) Less(i, j int) bool { return h.so.cmp(h.hits[i], h.hits[j]) > 0 }
func (h *hitHeap) Swap(i, j int)      { h.hits[i], h.hits[j] = h.hits[j], h.hits[i] }
func (h *hitHeap) Push(x any)         { h.hits = append(h.hits, x.(*hit)) }
func (h *hitHeap) Pop() any {
	x := h.hits[len(h.hits)-1]
	h.hits = h.hits[:len(h.hits)-1]
	return x
}

// scan reads the sort value of every match from the columns and keeps the
// first need after the cursor: cost in proportion to the matches, a few
// nanoseconds each once the columns are built.
func (so *sorter) scan(ms matches, after *hit, need int) ([]*hit, error) {
	hh := &hitHeap{so: so}
	scratch := &hit{vals: make([][]byte, len(so.fields))}
	cols := make([]*column, len(so.fields))
	for si, b := range ms {
		if b.IsEmpty() {
			continue
		}
		v := so.s.segs[si]
		for i := range so.fields {
			c, err := so.cols.get(v, so.keys[i])
			if err != nil {
				return nil, err
			}
			cols[i] = c
		}
		it := b.Iterator()
		for it.HasNext() {
			local := it.Next()
			*scratch = hit{seg: si, local: local, vals: scratch.vals}
			for i, c := range cols {
				scratch.vals[i] = c.value(local)
			}
			if after != nil && so.cmp(scratch, after) <= 0 {
				continue
			}
			if hh.Len() == need && so.cmp(scratch, hh.hits[0]) >= 0 {
				continue
			}
			h := &hit{seg: si, local: local, id: scratch.id, hasID: scratch.hasID, vals: slices.Clone(scratch.vals)}
			if hh.Len() == need {
				hh.hits[0] = h
				heap.Fix(hh, 0)
			} else {
				heap.Push(hh, h)
			}
		}
	}
	out := hh.hits
	slices.SortFunc(out, so.cmp)
	return out, so.err
}

// walkable reports whether the order can be answered by walking: one
// field key followed by the id ascending, or the id alone ascending.
func (so *sorter) walkable() bool {
	switch {
	case len(so.keys) == 1:
		return so.keys[0].field == FieldID && !so.keys[0].desc
	case len(so.keys) == 2:
		return so.keys[1].field == FieldID && !so.keys[1].desc
	}
	return false
}

// walk answers a walkable order by visiting the documents in the order
// of the sort field's values and keeping the matches among them, then the
// matches without a value (in id order): cost in proportion to the
// documents visited, not to the matches. The order comes from the
// segments' sorted columns, merged; the id order from the _id term
// dictionary.
//
// bounds limits the values of a number or time key; when filterBounds,
// they are the filter's own ranges on the field, which ms does not apply,
// and matches without a value are then not matches. walk reports false
// when it visited budget documents without filling the page, and the
// caller scans instead.
func (so *sorter) walk(ms matches, after *hit, need, budget int, bounds keyBounds, filterBounds bool) ([]*hit, bool, error) {
	k := so.keys[0]
	if k.field == FieldID {
		return so.walkIDs(ms, after, need, budget)
	}
	var out []*hit
	add := func(g []*hit) bool {
		if len(g) > 1 {
			slices.SortFunc(g, so.cmp)
		}
		for _, h := range g {
			if after == nil || so.cmp(h, after) > 0 {
				out = append(out, h)
			}
		}
		return len(out) < need
	}
	if after == nil || after.vals[0] != nil {
		ok, err := so.walkValues(ms, after, budget, bounds, add)
		if err != nil || !ok {
			return nil, ok, err
		}
		if len(out) >= need {
			return out[:need], true, so.err
		}
	}
	if filterBounds {
		return out, true, so.err
	}
	// The matches without a value, by id.
	var rest []*hit
	for si, b := range ms {
		if b.IsEmpty() {
			continue
		}
		c, err := so.cols.get(so.s.segs[si], k)
		if err != nil {
			return nil, false, err
		}
		it := b.Iterator()
		for it.HasNext() {
			local := it.Next()
			if c.value(local) != nil {
				continue
			}
			if len(rest) > budget {
				return nil, false, nil
			}
			h := &hit{seg: si, local: local, vals: [][]byte{nil}}
			if after == nil || so.cmp(h, after) > 0 {
				rest = append(rest, h)
			}
		}
	}
	slices.SortFunc(rest, so.cmp)
	out = append(out, rest...)
	if len(out) > need {
		out = out[:need]
	}
	return out, true, so.err
}

// cursorPos is a segment's position in its sorted column during a walk.
type cursorPos struct {
	seg int
	col *column
	i   int // index into col.sorted; walks towards end (ascending) or -1
}

// walkValues visits, in the key's order from the cursor (or the bound),
// every group of documents with one value, and calls add with the matches
// in it, until add returns false or the bound is passed.
func (so *sorter) walkValues(ms matches, after *hit, budget int, bounds keyBounds, add func([]*hit) bool) (bool, error) {
	k := so.keys[0]
	desc := k.desc
	var lo, hi []byte // inclusive bounds on the values, nil: none
	if k.kind == filter.Number || k.kind == filter.Time {
		if bounds.lo != minKey {
			lo = prefixCoded(bounds.lo, 0)
		}
		if bounds.hi != maxKey {
			hi = prefixCoded(bounds.hi, 0)
		}
		if bounds.lo > bounds.hi {
			return true, nil
		}
	}
	// Start at the cursor's value, or at the bound the order starts from.
	start := lo
	if desc {
		start = hi
	}
	if after != nil {
		start = after.vals[0]
	}
	sp := prefixOf(start)
	var pos []*cursorPos
	for si, b := range ms {
		if b.IsEmpty() {
			continue
		}
		c, err := so.cols.get(so.s.segs[si], k)
		if err != nil {
			return false, err
		}
		order := c.order()
		p := &cursorPos{seg: si, col: c}
		switch {
		case !desc && start == nil:
			p.i = 0
		case !desc: // first value >= start
			p.i = sort.Search(len(order), func(j int) bool { return c.cmpAt(j, start, sp) >= 0 })
		case start == nil:
			p.i = len(order) - 1
		default: // last value <= start
			p.i = sort.Search(len(order), func(j int) bool { return c.cmpAt(j, start, sp) > 0 }) - 1
		}
		if p.i >= 0 && p.i < len(order) {
			pos = append(pos, p)
		}
	}
	visited := 0
	for len(pos) > 0 {
		// The next value: the least (ascending) or greatest of the
		// segments' current ones.
		var cur []byte
		var cp uint64
		for n, p := range pos {
			if n > 0 {
				c := p.col.cmpAt(p.i, cur, cp)
				if (desc && c <= 0) || (!desc && c >= 0) {
					continue
				}
			}
			cur = p.col.value(p.col.sorted[p.i])
			cp = p.col.prefixes[p.i]
		}
		if (!desc && hi != nil && bytes.Compare(cur, hi) > 0) || (desc && lo != nil && bytes.Compare(cur, lo) < 0) {
			return true, so.err
		}
		var g []*hit
		live := pos[:0]
		for _, p := range pos {
			for p.i >= 0 && p.i < len(p.col.sorted) {
				local := p.col.sorted[p.i]
				if !bytes.Equal(p.col.value(local), cur) {
					break
				}
				if visited++; visited > budget {
					return false, nil
				}
				if ms[p.seg].Contains(local) {
					g = append(g, &hit{seg: p.seg, local: local, vals: [][]byte{cur}})
				}
				if desc {
					p.i--
				} else {
					p.i++
				}
			}
			if p.i >= 0 && p.i < len(p.col.sorted) {
				live = append(live, p)
			}
		}
		pos = live
		if len(g) > 0 && !add(g) {
			return true, so.err
		}
	}
	return true, so.err
}

// walkIDs answers the order by id, ascending: the _id terms in order.
func (so *sorter) walkIDs(ms matches, after *hit, need, budget int) ([]*hit, bool, error) {
	var iters []*termIter
	var lo []byte
	if after != nil {
		lo = []byte(after.id)
	}
	for si, b := range ms {
		if b.IsEmpty() {
			continue
		}
		d, err := so.s.segs[si].dict(FieldID)
		if err != nil {
			return nil, false, err
		}
		t := &termIter{seg: si, it: d.AutomatonIterator(nil, lo, nil)}
		t.next()
		if t.err != nil {
			return nil, false, t.err
		}
		if !t.done {
			iters = append(iters, t)
		}
	}
	var out []*hit
	visited := 0
	for len(iters) > 0 && len(out) < need {
		cur := iters[0].term
		for _, t := range iters[1:] {
			if bytes.Compare(t.term, cur) < 0 {
				cur = t.term
			}
		}
		cur = append([]byte{}, cur...)
		if visited++; visited > budget {
			return nil, false, nil
		}
		live := iters[:0]
		for _, t := range iters {
			if bytes.Equal(t.term, cur) {
				v := so.s.segs[t.seg]
				d, _ := v.dict(FieldID)
				err := v.eachPosting(d, cur, func(local uint32) {
					if ms[t.seg].Contains(local) && (after == nil || string(cur) > after.id) {
						out = append(out, &hit{seg: t.seg, local: local, id: string(cur), hasID: true})
					}
				})
				if err != nil {
					return nil, false, err
				}
				if t.next(); t.err != nil {
					return nil, false, t.err
				}
			}
			if !t.done {
				live = append(live, t)
			}
		}
		iters = live
	}
	if len(out) > need {
		out = out[:need]
	}
	return out, true, so.err
}

// termIter iterates the terms of a field in one segment, in order.
type termIter struct {
	seg  int
	it   segment.DictionaryIterator
	term []byte // the current term, unless done
	done bool
	err  error
}

func (t *termIter) next() {
	e, err := t.it.Next()
	switch {
	case err != nil:
		t.err, t.done = err, true
	case e == nil:
		t.done = true
	default:
		t.term = append(t.term[:0], e.Term...)
	}
}

// keyBounds are the sortable int64 bounds the filter puts on a number or
// time field, inclusive.
type keyBounds struct{ lo, hi int64 }

// boundsOf returns the bounds that plan p (a conjunction, usually) puts on
// field.
func boundsOf(p plan, field string) keyBounds {
	b := keyBounds{lo: minKey, hi: maxKey}
	switch p := p.(type) {
	case planNumRange:
		if p.field == field {
			b = keyBounds{lo: p.lo, hi: p.hi}
		}
	case planTerm:
		if p.field == field && len(p.term) > 0 && p.term[0] == shift0 {
			if v, err := numeric.PrefixCoded(p.term).Int64(); err == nil {
				b = keyBounds{lo: v, hi: v}
			}
		}
	case planAnd:
		for _, c := range p {
			cb := boundsOf(c, field)
			b.lo, b.hi = max(b.lo, cb.lo), min(b.hi, cb.hi)
		}
	}
	return b
}
