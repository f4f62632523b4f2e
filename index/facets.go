package index

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/numeric"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// Facets and stats (SPEC §3 List) are counted over the matches of a
// search, the bitmaps the filter and q evaluate to, never over the page.
// Both read, segment by segment, a field's distinct values in term order
// with the number of matches holding each (termCounts), merged over the
// segments into one sorted stream: a facet keeps the most frequent values
// in a heap of its size, stats fold the stream (the first value is the
// least, the last the greatest). So memory is bounded by the facet's size
// and the number of segments, whatever the field's cardinality; CPU by
// the field's distinct values or the matches, whichever a segment reads.
//
// A segment counts a field one of these ways:
//
//   - every live document matches (a list without filter): each term's
//     postings' size, less the deleted documents among them;
//   - few distinct terms (status, tags, booleans): the term ordinals of
//     each match, read from the field's ordinal column (built once per
//     segment from the postings, cached like the sort columns: for each
//     document its terms' ranks in the dictionary, a byte each), counted
//     in an array;
//   - many terms but few matches: the matches' values read from the sort
//     column, counted in a map, sorted;
//   - many terms and many matches (views): the column's documents in
//     value order, walked once, counting the runs of matches.
//
// Fields without doc values (arrays, fields of mixed kinds) with many
// terms intersect each term's postings with the matches; that visits
// every term of the field in the segment.

// countPolicy chooses how a segment counts a field.
type countPolicy struct {
	// ordinals allows the ordinal columns of fields with at most
	// min(fewTerms, maxOrdinals) terms.
	ordinals bool
	// fewTerms is the dictionary size up to which a segment counts a
	// field by its postings, whatever the matches; above it, by postings
	// still when the matches outnumber the terms termsPerMatch-fold.
	fewTerms, termsPerMatch uint64
	// mapMatches is the number of matches in a segment up to which a
	// field with doc values is counted in a map from its column.
	mapMatches uint64
}

// defaultCounts is the policy of searches; tests force each way.
func defaultCounts() countPolicy {
	return countPolicy{ordinals: true, fewTerms: maxOrdinals, termsPerMatch: 64, mapMatches: 4096}
}

// ctxEvery is how many terms are counted between two looks at the
// context, so an abandoned request stops.
const ctxEvery = 4096

// aggField is a facet or stats field resolved in the layout.
type aggField struct {
	name string
	fi   *fieldInfo
	size int // facets only
}

// aggFields resolves the facet and stats fields of req: each must be a
// field the principal may filter on, keep exact values (not long text)
// and, for stats, hold numbers alone.
func (l *layout) aggFields(req core.SearchRequest) (facets, stats []aggField, err error) {
	resolve := func(param, name string) (*fieldInfo, error) {
		var fi *fieldInfo
		if name != "id" && !isHidden(name, req.Hidden) {
			fi = l.info(name)
		}
		if fi == nil {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("%s: unknown field %q", param, name)}
		}
		if fi.kind == filter.Text {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("%s: field %q is long full-text and keeps no exact values (a search field needs a maxLength of at most %d to be counted)", param, name, maxKeywordLength)}
		}
		return fi, nil
	}
	seen := map[string]bool{}
	for _, f := range req.Facets {
		fi, err := resolve("facets", f.Field)
		if err != nil {
			return nil, nil, err
		}
		if seen[f.Field] {
			return nil, nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("facets: field %q is named twice", f.Field)}
		}
		seen[f.Field] = true
		size := f.Size
		switch {
		case size == 0:
			size = core.DefaultFacetSize
		case size < 0 || size > core.MaxFacetSize:
			return nil, nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("facets: the size of %q must be between 1 and %d", f.Field, core.MaxFacetSize)}
		}
		facets = append(facets, aggField{name: f.Field, fi: fi, size: size})
	}
	clear(seen)
	for _, name := range req.Stats {
		fi, err := resolve("stats", name)
		if err != nil {
			return nil, nil, err
		}
		if fi.kind != filter.Number {
			return nil, nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("stats: field %q is not a number field", name)}
		}
		if seen[name] {
			return nil, nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("stats: field %q is named twice", name)}
		}
		seen[name] = true
		stats = append(stats, aggField{name: name, fi: fi})
	}
	return facets, stats, nil
}

// aggregate counts the facets and stats of req over the matches ms.
func aggregate(ctx context.Context, snap *snapshot, cols *columns, ords *ordinals, cp countPolicy, facets, stats []aggField, ms matches) (map[string][]core.FacetValue, map[string]core.FieldStats, error) {
	var fo map[string][]core.FacetValue
	var so map[string]core.FieldStats
	if len(facets) > 0 {
		fo = make(map[string][]core.FacetValue, len(facets))
	}
	if len(stats) > 0 {
		so = make(map[string]core.FieldStats, len(stats))
	}
	for _, f := range facets {
		top := &topTerms{size: f.size}
		err := eachTermCount(ctx, snap, cols, ords, cp, f.fi, f.name, ms, func(term []byte, n uint64) {
			top.offer(term, n)
		})
		if err != nil {
			return nil, nil, fmt.Errorf("facet %s: %w", f.name, err)
		}
		vals := make([]core.FacetValue, 0, len(top.items))
		for _, it := range top.sorted() {
			if v, ok := termValue(f.fi, it.term); ok {
				vals = append(vals, core.FacetValue{Value: v, Count: int(it.n)})
			}
		}
		fo[f.name] = vals
	}
	for _, f := range stats {
		acc, err := fieldStats(ctx, snap, cols, ords, cp, f, ms)
		if err != nil {
			return nil, nil, fmt.Errorf("stats %s: %w", f.name, err)
		}
		so[f.name] = acc.result()
	}
	return fo, so, nil
}

// fieldStats folds the numbers of a field over the matches, segment by
// segment, in no particular order: a segment with few terms counts them
// as facets do, one with many reads each match's number from the sort
// column (no merge of the segments' values is needed).
func fieldStats(ctx context.Context, snap *snapshot, cols *columns, ords *ordinals, cp countPolicy, f aggField, ms matches) (statsAcc, error) {
	var acc statsAcc
	add := func(term []byte, n uint64) {
		if len(term) > 0 && term[0] == shift0 {
			if k, err := numeric.PrefixCoded(term).Int64(); err == nil {
				acc.add(numeric.Int64ToFloat64(k), n)
			}
		}
	}
	for i, v := range snap.segs {
		in := ms[i]
		if in.IsEmpty() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return acc, err
		}
		d, err := v.dict(f.name)
		if err != nil {
			return acc, err
		}
		if f.fi.docValues && uint64(d.Cardinality()) > cp.fewTerms {
			c, err := cols.get(v, sortKey{field: f.name, kind: f.fi.kind})
			if err != nil {
				return acc, err
			}
			it := in.ManyIterator()
			var buf [256]uint32
			for got := it.NextMany(buf[:]); got > 0; got = it.NextMany(buf[:]) {
				for _, doc := range buf[:got] {
					if val := c.value(doc); val != nil {
						add(val, 1)
					}
				}
			}
			continue
		}
		src, err := v.termCounts(cols, ords, cp, f.fi, f.name, in)
		if err != nil {
			return acc, err
		}
		for {
			tc, ok, err := src()
			if err != nil {
				return acc, err
			}
			if !ok {
				break
			}
			add(tc.term, tc.n)
		}
	}
	return acc, nil
}

// termValue decodes an index term of a field into its JSON value: a
// string, a float64, a bool, or a date-time as an RFC 3339 string in UTC.
// ok is false for a term the field's kinds do not explain.
func termValue(fi *fieldInfo, term []byte) (any, bool) {
	if fi.keyword {
		if fi.strPrefix == "" {
			return string(term), true
		}
		if rest, ok := bytes.CutPrefix(term, []byte(fi.strPrefix)); ok {
			return string(rest), true
		}
	}
	if fi.boolean && len(term) == 1 {
		switch string(term) {
		case boolTrue:
			return true, true
		case boolFalse:
			return false, true
		}
	}
	if (fi.numeric || fi.datetime) && len(term) > 0 && term[0] == shift0 {
		k, err := numeric.PrefixCoded(term).Int64()
		if err != nil {
			return nil, false
		}
		if fi.datetime {
			return time.Unix(0, k).UTC().Format(time.RFC3339Nano), true
		}
		return numeric.Int64ToFloat64(k), true
	}
	return nil, false
}

// termCount is one distinct term and its number of matches.
type termCount struct {
	term []byte
	n    uint64
}

// termSource yields the distinct terms of a field in one segment that
// matches hold, in term order, each with its number of matches; ok is
// false at the end. A term stays valid until the source ends.
type termSource func() (tc termCount, ok bool, err error)

// eachTermCount calls fn with every distinct term of field among the
// matches, in term order, with its number of matching documents summed
// over the segments.
func eachTermCount(ctx context.Context, snap *snapshot, cols *columns, ords *ordinals, cp countPolicy, fi *fieldInfo, field string, ms matches, fn func(term []byte, n uint64)) error {
	var open cursors
	for i, v := range snap.segs {
		if ms[i].IsEmpty() {
			continue
		}
		src, err := v.termCounts(cols, ords, cp, fi, field, ms[i])
		if err != nil {
			return err
		}
		c := &cursor{src: src}
		ok := false
		if c.cur, ok, err = src(); err != nil {
			return err
		} else if ok {
			open = append(open, c)
		}
	}
	// Merge the segments' sorted streams: a heap of them by their next
	// term.
	heap.Init(&open)
	steps := 0
	for len(open) > 0 {
		if steps++; steps%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		least := open[0].cur.term
		var n uint64
		for len(open) > 0 && bytes.Equal(open[0].cur.term, least) {
			c := open[0]
			n += c.cur.n
			next, ok, err := c.src()
			if err != nil {
				return err
			}
			if ok {
				c.cur = next
				heap.Fix(&open, 0)
			} else {
				heap.Pop(&open)
			}
		}
		fn(least, n)
	}
	return nil
}

// cursor is a segment's stream of term counts and its current one.
type cursor struct {
	src termSource
	cur termCount
}

// cursors is a heap of streams by their current term.
type cursors []*cursor

func (h cursors) Len() int           { return len(h) }
func (h cursors) Less(i, j int) bool { return bytes.Compare(h[i].cur.term, h[j].cur.term) < 0 }
func (h cursors) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursors) Push(x any)        { *h = append(*h, x.(*cursor)) }
func (h *cursors) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// termCounts picks how the segment counts field over in (see the top of
// this file).
func (v *segView) termCounts(cols *columns, ords *ordinals, cp countPolicy, fi *fieldInfo, field string, in *roaring.Bitmap) (termSource, error) {
	d, err := v.dict(field)
	if err != nil {
		return nil, err
	}
	card, terms := in.GetCardinality(), uint64(d.Cardinality())
	few := terms <= cp.fewTerms
	if (few || !fi.docValues) && card == v.liveCount() {
		return v.postingsCounts(d, nil), nil
	}
	if few && cp.ordinals && terms <= maxOrdinals {
		oc, err := ords.get(v, field, func() (*ordColumn, error) { return v.buildOrdinals(field) })
		if err != nil {
			return nil, err
		}
		return oc.counts(in), nil
	}
	if !fi.docValues || few || terms*cp.termsPerMatch <= card {
		return v.postingsCounts(d, in), nil
	}
	c, err := cols.get(v, sortKey{field: field, kind: fi.kind})
	if err != nil {
		return nil, err
	}
	if card <= cp.mapMatches {
		return mapCounts(c, in), nil
	}
	return walkCounts(c, in), nil
}

// liveCount is the number of documents of the segment not deleted.
func (v *segView) liveCount() uint64 {
	n := v.seg.Count()
	if del := v.ss.Deleted(); del != nil {
		n -= del.GetCardinality()
	}
	return n
}

// postingsCounts counts each term of the dictionary by intersecting its
// postings with in; nil stands for every live document of the segment (a
// list without filter), which a term's postings' size counts.
func (v *segView) postingsCounts(d segment.TermDictionary, in *roaring.Bitmap) termSource {
	it := d.AutomatonIterator(nil, nil, nil)
	return func() (termCount, bool, error) {
		for {
			e, err := it.Next()
			if err != nil {
				return termCount{}, false, fmt.Errorf("terms: %w", err)
			}
			if e == nil {
				return termCount{}, false, nil
			}
			term := []byte(e.Term)
			n, err := v.countIn(d, term, in)
			if err != nil {
				return termCount{}, false, err
			}
			if n > 0 {
				return termCount{term: term, n: n}, true, nil
			}
		}
	}
}

// countIn returns the number of documents of in that have term in d; nil
// stands for the live documents.
func (v *segView) countIn(d segment.TermDictionary, term []byte, in *roaring.Bitmap) (uint64, error) {
	var except *roaring.Bitmap
	if in == nil {
		except = v.ss.Deleted()
	}
	pl, err := d.PostingsList(term, except, v.pl)
	if err != nil {
		return 0, fmt.Errorf("postings: %w", err)
	}
	v.pl = pl
	if in == nil {
		return pl.Count(), nil
	}
	it := pl.Iterator(false, false, false, v.pi)
	v.pi = it
	if o, ok := it.(segment.OptimizablePostingsIterator); ok {
		if n, ok := o.DocNum1Hit(); ok {
			if in.Contains(uint32(n)) {
				return 1, nil
			}
			return 0, nil
		}
		if bm := o.ActualBitmap(); bm != nil {
			return bm.AndCardinality(in), nil
		}
	}
	var n uint64
	for {
		p, err := it.Next()
		if err != nil {
			return 0, fmt.Errorf("postings: %w", err)
		}
		if p == nil {
			return n, nil
		}
		if in.Contains(uint32(p.Number())) {
			n++
		}
	}
}

// mapCounts counts the values of the documents of in (few) from their
// column.
func mapCounts(c *column, in *roaring.Bitmap) termSource {
	counts := map[string]uint64{}
	it := in.Iterator()
	for it.HasNext() {
		if val := c.value(it.Next()); val != nil {
			counts[string(val)]++
		}
	}
	out := make([]termCount, 0, len(counts))
	for t, n := range counts {
		out = append(out, termCount{term: []byte(t), n: n})
	}
	slices.SortFunc(out, func(a, b termCount) int { return bytes.Compare(a.term, b.term) })
	i := 0
	return func() (termCount, bool, error) {
		if i == len(out) {
			return termCount{}, false, nil
		}
		i++
		return out[i-1], true, nil
	}
}

// walkCounts walks the column's documents in value order and counts, for
// each value, those in in.
func walkCounts(c *column, in *roaring.Bitmap) termSource {
	order := c.order()
	j := 0
	return func() (termCount, bool, error) {
		for j < len(order) {
			val := c.value(order[j])
			vp := c.prefixes[j]
			var n uint64
			for ; j < len(order) && c.prefixes[j] == vp && bytes.Equal(c.value(order[j]), val); j++ {
				if in.Contains(order[j]) {
					n++
				}
			}
			if n > 0 {
				return termCount{term: val, n: n}, true, nil
			}
		}
		return termCount{}, false, nil
	}
}

// topTerms keeps the size most frequent terms offered, ties to the least
// term: a heap whose root is the worst kept.
type topTerms struct {
	size  int
	items []termCount
}

// worse reports whether a ranks below b: fewer matches, or as many and a
// greater term.
func worse(a, b termCount) bool {
	if a.n != b.n {
		return a.n < b.n
	}
	return bytes.Compare(a.term, b.term) > 0
}

func (t *topTerms) Len() int           { return len(t.items) }
func (t *topTerms) Less(i, j int) bool { return worse(t.items[i], t.items[j]) }
func (t *topTerms) Swap(i, j int)      { t.items[i], t.items[j] = t.items[j], t.items[i] }
func (t *topTerms) Push(x any)         { t.items = append(t.items, x.(termCount)) }
func (t *topTerms) Pop() any {
	x := t.items[len(t.items)-1]
	t.items = t.items[:len(t.items)-1]
	return x
}

func (t *topTerms) offer(term []byte, n uint64) {
	tc := termCount{term: term, n: n}
	switch {
	case len(t.items) < t.size:
		heap.Push(t, tc)
	case worse(t.items[0], tc):
		t.items[0] = tc
		heap.Fix(t, 0)
	}
}

// sorted returns the kept terms, best first.
func (t *topTerms) sorted() []termCount {
	out := slices.Clone(t.items)
	slices.SortFunc(out, func(a, b termCount) int {
		switch {
		case worse(b, a):
			return -1
		case worse(a, b):
			return 1
		}
		return 0
	})
	return out
}

// statsAcc folds a field's numbers, offered with their multiplicities.
type statsAcc struct {
	count    uint64
	min, max float64
	sum      float64
	// scaled is the sum of the values times 2⁻⁶⁴, which stays finite
	// where sum overflows, for the average.
	scaled float64
}

const statsScale = 0x1p-64

func (a *statsAcc) add(x float64, n uint64) {
	if a.count == 0 || x < a.min {
		a.min = x
	}
	if a.count == 0 || x > a.max {
		a.max = x
	}
	a.count += n
	a.sum += x * float64(n)
	a.scaled += x * statsScale * float64(n)
}

func (a *statsAcc) result() core.FieldStats {
	s := core.FieldStats{Count: int(a.count)}
	if a.count == 0 {
		return s
	}
	mn, mx := a.min, a.max
	s.Min, s.Max = &mn, &mx
	avg := a.sum / float64(a.count)
	if !math.IsInf(a.sum, 0) && !math.IsNaN(a.sum) {
		sum := a.sum
		s.Sum = &sum
	} else {
		avg = a.scaled / float64(a.count) / statsScale
	}
	avg = min(max(avg, mn), mx) // rounding never puts it outside
	s.Avg = &avg
	return s
}

// maxOrdinals is the most terms a field may have in a segment to get an
// ordinal column: its ranks fit a byte.
const maxOrdinals = 256

// ordinals caches the ordinal columns of segments, as columns caches sort
// columns.
type ordinals = segCache[*ordColumn]

// ordColumn is, for one field with at most maxOrdinals terms in one
// segment, its terms in order and each document's terms as their ranks:
// document i has ranks[off[i]:off[i+1]]. When no document has two terms
// and there are fewer than maxOrdinals, one holds instead each
// document's rank plus one (0: none), which is cheaper to count.
type ordColumn struct {
	terms [][]byte
	off   []uint32
	ranks []uint8
	one   []uint8
}

// buildOrdinals reads the postings of every term of field (at most
// maxOrdinals) into an ordinal column.
func (v *segView) buildOrdinals(field string) (*ordColumn, error) {
	d, err := v.dict(field)
	if err != nil {
		return nil, err
	}
	if d.Cardinality() > maxOrdinals {
		return nil, fmt.Errorf("ordinals of %s: %d terms", field, d.Cardinality())
	}
	c := &ordColumn{}
	it := d.AutomatonIterator(nil, nil, nil)
	for {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("terms of %s: %w", field, err)
		}
		if e == nil {
			break
		}
		c.terms = append(c.terms, []byte(e.Term))
	}
	n := v.seg.Count()
	// Two passes over the postings: the number of terms of each
	// document, then their ranks.
	c.off = make([]uint32, n+1)
	for _, t := range c.terms {
		if err := v.eachPosting(d, t, func(doc uint32) { c.off[doc+1]++ }); err != nil {
			return nil, err
		}
	}
	single := len(c.terms) < maxOrdinals
	for i := range n {
		single = single && c.off[i+1] <= 1
		c.off[i+1] += c.off[i]
	}
	if single {
		c.one = make([]uint8, n)
		for k, t := range c.terms {
			if err := v.eachPosting(d, t, func(doc uint32) { c.one[doc] = uint8(k + 1) }); err != nil {
				return nil, err
			}
		}
		c.off = nil
		return c, nil
	}
	c.ranks = make([]uint8, c.off[n])
	next := slices.Clone(c.off[:n])
	for k, t := range c.terms {
		err := v.eachPosting(d, t, func(doc uint32) {
			c.ranks[next[doc]] = uint8(k)
			next[doc]++
		})
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// counts counts the terms of the documents of in.
func (c *ordColumn) counts(in *roaring.Bitmap) termSource {
	n := make([]uint64, len(c.terms)+1)
	it := in.ManyIterator()
	var buf [256]uint32
	for {
		got := it.NextMany(buf[:])
		if got == 0 {
			break
		}
		if c.one != nil {
			for _, doc := range buf[:got] {
				n[c.one[doc]]++
			}
			continue
		}
		for _, doc := range buf[:got] {
			for _, k := range c.ranks[c.off[doc]:c.off[doc+1]] {
				n[int(k)+1]++
			}
		}
	}
	n = n[1:] // n[0] counted the documents without a term
	k := 0
	return func() (termCount, bool, error) {
		for ; k < len(n); k++ {
			if n[k] > 0 {
				k++
				return termCount{term: c.terms[k-1], n: n[k-1]}, true, nil
			}
		}
		return termCount{}, false, nil
	}
}
