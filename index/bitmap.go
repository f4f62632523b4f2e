package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/strata-dev/strata/index/filter"
)

// snapshot is one point-in-time view of a type's index: a bleve reader on
// a scorch index and its segments. Plans are evaluated segment by segment
// into bitmaps of local document numbers; bleve's internal id of a
// document is its segment's offset plus its local number, big-endian.
// A snapshot is used by one goroutine; Close releases it.
type snapshot struct {
	r    index.IndexReader
	segs []*segView
	// cache holds the columns and word indexes of its segments (the type
	// index's, set by Search; a snapshot's own otherwise).
	cache *columns
	// load reads stored resources, for the checks long texts need
	// (planVerify, ties of truncated prefixes); nil: they fail.
	load loader
}

// caches returns the snapshot's cache, its own when none was set.
func (s *snapshot) caches() *columns {
	if s.cache == nil {
		s.cache = &columns{}
	}
	return s.cache
}

// segView is one segment of a snapshot.
type segView struct {
	s      *snapshot
	ss     *scorch.SegmentSnapshot
	seg    segment.Segment
	offset uint64
	dicts  map[string]segment.TermDictionary
	pl     segment.PostingsList // reused by postings lookups
	pi     segment.PostingsIterator
}

// openSnapshot opens a snapshot of idx, which must be a scorch index.
func openSnapshot(idx bleve.Index) (*snapshot, error) {
	adv, err := idx.Advanced()
	if err != nil {
		return nil, fmt.Errorf("index reader: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("index reader: %w", err)
	}
	is, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		_ = r.Close()
		return nil, fmt.Errorf("index: %T is not a scorch index", r)
	}
	s := &snapshot{r: r}
	var offset uint64
	for _, ss := range is.Segments() {
		s.segs = append(s.segs, &segView{s: s, ss: ss, seg: ss.Segment(), offset: offset, dicts: map[string]segment.TermDictionary{}})
		offset += ss.Segment().Count()
	}
	return s, nil
}

// Close releases the snapshot.
func (s *snapshot) Close() error { return s.r.Close() }

// locate returns the segment and local number of bleve's internal id.
func (s *snapshot) locate(id index.IndexInternalID) (int, uint32) {
	g := binary.BigEndian.Uint64(id)
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].offset > g }) - 1
	if i < 0 {
		return 0, 0
	}
	return i, uint32(g - s.segs[i].offset)
}

// matches is a set of documents of a snapshot: one bitmap of local
// document numbers per segment, deleted documents excluded.
type matches []*roaring.Bitmap

// count returns the number of documents in the set.
func (m matches) count() uint64 {
	var n uint64
	for _, b := range m {
		n += b.GetCardinality()
	}
	return n
}

// eval evaluates p on every segment.
func (s *snapshot) eval(p plan) (matches, error) {
	out := make(matches, len(s.segs))
	for i, v := range s.segs {
		b, err := v.eval(p)
		if err != nil {
			return nil, err
		}
		if del := v.ss.Deleted(); del != nil {
			b.AndNot(del)
		}
		out[i] = b
	}
	return out, nil
}

// evalIn evaluates p within the documents of in, a small candidate set
// (the matches of a full-text query): ranges on fields with doc values
// are checked candidate by candidate from the sort columns instead of
// reading every term of the range.
func (s *snapshot) evalIn(p plan, in matches, cols *columns) (matches, error) {
	out := make(matches, len(s.segs))
	for i, v := range s.segs {
		b, err := v.evalIn(p, in[i], cols)
		if err != nil {
			return nil, err
		}
		if del := v.ss.Deleted(); del != nil {
			b.AndNot(del)
		}
		out[i] = b
	}
	return out, nil
}

// columnLimit is the most candidates evalIn checks one by one.
const columnLimit = 8192

func (v *segView) evalIn(p plan, in *roaring.Bitmap, cols *columns) (*roaring.Bitmap, error) {
	if in.IsEmpty() {
		return roaring.New(), nil
	}
	switch p := p.(type) {
	case planAnd:
		kids := slices.Clone([]plan(p))
		slices.SortStableFunc(kids, func(a, b plan) int { return planCost(a) - planCost(b) })
		cur := in.Clone()
		for _, c := range kids {
			if cur.IsEmpty() {
				break
			}
			var err error
			if cur, err = v.evalIn(c, cur, cols); err != nil {
				return nil, err
			}
		}
		return cur, nil
	case planOr:
		out := roaring.New()
		for _, c := range p {
			b, err := v.evalIn(c, in, cols)
			if err != nil {
				return nil, err
			}
			out.Or(b)
		}
		return out, nil
	case planNot:
		b, err := v.evalIn(p.p, in, cols)
		if err != nil {
			return nil, err
		}
		return roaring.AndNot(in, b), nil
	case planVerify:
		// Only the candidates within in are read.
		cand, err := v.evalIn(p.cand, in, cols)
		if err != nil {
			return nil, err
		}
		return v.verify(cand, p.path, p.test)
	case planNumRange:
		if p.sorted && in.GetCardinality() <= columnLimit {
			c, err := cols.get(v, sortKey{field: p.field, kind: filter.Number})
			if err != nil {
				return nil, err
			}
			lo, hi := prefixCoded(p.lo, 0), prefixCoded(p.hi, 0)
			out := roaring.New()
			it := in.Iterator()
			for it.HasNext() {
				d := it.Next()
				if val := c.value(d); val != nil && bytes.Compare(val, lo) >= 0 && bytes.Compare(val, hi) <= 0 {
					out.Add(d)
				}
			}
			return out, nil
		}
	}
	b, err := v.eval(p)
	if err != nil {
		return nil, err
	}
	b.And(in)
	return b, nil
}

// dict returns the term dictionary of field in the segment.
func (v *segView) dict(field string) (segment.TermDictionary, error) {
	if d, ok := v.dicts[field]; ok {
		return d, nil
	}
	d, err := v.seg.Dictionary(field)
	if err != nil {
		return nil, fmt.Errorf("dictionary of %s: %w", field, err)
	}
	v.dicts[field] = d
	return d, nil
}

// live returns the documents of the segment (deleted ones are removed by
// eval at the end).
func (v *segView) live() *roaring.Bitmap {
	b := roaring.New()
	b.AddRange(0, v.seg.Count())
	return b
}

// orPostings adds the documents of term in d to dst.
func (v *segView) orPostings(dst *roaring.Bitmap, d segment.TermDictionary, term []byte) error {
	pl, err := d.PostingsList(term, nil, v.pl)
	if err != nil {
		return fmt.Errorf("postings: %w", err)
	}
	v.pl = pl
	it := pl.Iterator(false, false, false, v.pi)
	v.pi = it
	if o, ok := it.(segment.OptimizablePostingsIterator); ok {
		if bm := o.ActualBitmap(); bm != nil {
			dst.Or(bm)
			return nil
		}
		if n, ok := o.DocNum1Hit(); ok {
			dst.Add(uint32(n))
			return nil
		}
	}
	for {
		p, err := it.Next()
		if err != nil {
			return fmt.Errorf("postings: %w", err)
		}
		if p == nil {
			return nil
		}
		dst.Add(uint32(p.Number()))
	}
}

// eachPosting calls fn with each document of term in d, in order.
func (v *segView) eachPosting(d segment.TermDictionary, term []byte, fn func(local uint32)) error {
	pl, err := d.PostingsList(term, nil, v.pl)
	if err != nil {
		return fmt.Errorf("postings: %w", err)
	}
	v.pl = pl
	it := pl.Iterator(false, false, false, v.pi)
	v.pi = it
	if o, ok := it.(segment.OptimizablePostingsIterator); ok {
		if n, ok := o.DocNum1Hit(); ok {
			fn(uint32(n))
			return nil
		}
		if bm := o.ActualBitmap(); bm != nil {
			bi := bm.Iterator()
			for bi.HasNext() {
				fn(bi.Next())
			}
			return nil
		}
	}
	for {
		p, err := it.Next()
		if err != nil {
			return fmt.Errorf("postings: %w", err)
		}
		if p == nil {
			return nil
		}
		fn(uint32(p.Number()))
	}
}

// orRange adds the documents of every term of field in [lo, hi] (hi nil:
// to the end; the bounds' inclusion as given) to dst.
func (v *segView) orRange(dst *roaring.Bitmap, field string, lo, hi []byte, loIncl, hiIncl bool) error {
	d, err := v.dict(field)
	if err != nil {
		return err
	}
	var end []byte
	if hi != nil {
		end = hi
		if hiIncl {
			end = append(slices.Clip(hi), 0) // the least term above hi
		}
		if len(end) == 0 {
			return nil // below the empty term: nothing (an empty end is no end to vellum)
		}
	}
	it := d.AutomatonIterator(nil, lo, end)
	var terms [][]byte
	for {
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("terms of %s: %w", field, err)
		}
		if e == nil {
			break
		}
		if !loIncl && e.Term == string(lo) {
			continue
		}
		terms = append(terms, []byte(e.Term))
	}
	for _, t := range terms {
		if err := v.orPostings(dst, d, t); err != nil {
			return err
		}
	}
	return nil
}

// eval evaluates p on the segment into a bitmap the caller owns.
func (v *segView) eval(p plan) (*roaring.Bitmap, error) {
	switch p := p.(type) {
	case planAll:
		return v.live(), nil
	case planNone:
		return roaring.New(), nil
	case planTerm:
		d, err := v.dict(p.field)
		if err != nil {
			return nil, err
		}
		b := roaring.New()
		return b, v.orPostings(b, d, p.term)
	case planRange:
		b := roaring.New()
		return b, v.orRange(b, p.field, p.lo, p.hi, p.loIncl, p.hiIncl)
	case planNumRange:
		b := roaring.New()
		for _, r := range splitRange(p.lo, p.hi) {
			field := p.field
			if r.lo[0] != shift0 {
				field = RangeField(p.field) // the coarse shifts
			}
			if err := v.orRange(b, field, r.lo, r.hi, true, true); err != nil {
				return nil, err
			}
		}
		return b, nil
	case planContains:
		d, err := v.dict(p.field)
		if err != nil {
			return nil, err
		}
		var start, end []byte
		if p.prefix != "" {
			start, end = []byte(p.prefix), []byte{p.prefix[0] + 1}
		}
		it := d.AutomatonIterator(nil, start, end)
		var terms [][]byte
		for {
			e, err := it.Next()
			if err != nil {
				return nil, fmt.Errorf("terms of %s: %w", p.field, err)
			}
			if e == nil {
				break
			}
			if strings.Contains(strings.ToLower(e.Term[len(p.prefix):]), p.lower) {
				terms = append(terms, []byte(e.Term))
			}
		}
		b := roaring.New()
		for _, t := range terms {
			if err := v.orPostings(b, d, t); err != nil {
				return nil, err
			}
		}
		return b, nil
	case planWords:
		return v.evalWords(p)
	case planVerify:
		cand, err := v.eval(p.cand)
		if err != nil {
			return nil, err
		}
		return v.verify(cand, p.path, p.test)
	case planIDs:
		b, err := v.seg.DocNumbers(p.ids)
		if err != nil {
			return nil, fmt.Errorf("document numbers: %w", err)
		}
		return b, nil
	case planNot:
		b := v.live()
		n, err := v.eval(p.p)
		if err != nil {
			return nil, err
		}
		b.AndNot(n)
		return b, nil
	case planOr:
		b := roaring.New()
		for _, c := range p {
			cb, err := v.eval(c)
			if err != nil {
				return nil, err
			}
			b.Or(cb)
		}
		return b, nil
	case planAnd:
		return v.evalAnd(p)
	}
	return nil, fmt.Errorf("index: unknown plan %T", p)
}

// evalAnd intersects the children, cheapest first, negations last (as
// differences), and stops at the first empty intermediate result.
func (v *segView) evalAnd(p planAnd) (*roaring.Bitmap, error) {
	kids := slices.Clone([]plan(p))
	slices.SortStableFunc(kids, func(a, b plan) int { return planCost(a) - planCost(b) })
	var acc *roaring.Bitmap
	for _, c := range kids {
		if acc != nil && acc.IsEmpty() {
			return acc, nil
		}
		if acc != nil && reads(c) {
			// A check of stored texts is made on the documents left.
			b, err := v.evalIn(c, acc, v.s.caches())
			if err != nil {
				return nil, err
			}
			acc = b
			continue
		}
		if n, ok := c.(planNot); ok {
			if acc == nil {
				acc = v.live()
			}
			nb, err := v.eval(n.p)
			if err != nil {
				return nil, err
			}
			acc.AndNot(nb)
			continue
		}
		cb, err := v.eval(c)
		if err != nil {
			return nil, err
		}
		if acc == nil {
			acc = cb
		} else {
			acc.And(cb)
		}
	}
	if acc == nil {
		acc = v.live()
	}
	return acc, nil
}

// reads reports whether p checks stored texts (planVerify).
func reads(p plan) bool {
	switch p := p.(type) {
	case planVerify:
		return true
	case planNot:
		return reads(p.p)
	case planAnd:
		return slices.ContainsFunc(p, reads)
	case planOr:
		return slices.ContainsFunc(p, reads)
	}
	return false
}

// planCost orders the children of an And: single lookups first, then
// ranges and composites, substring searches and negations last.
func planCost(p plan) int {
	if reads(p) {
		return 6 // reads stored resources: on the fewest candidates
	}
	switch p.(type) {
	case planNone:
		return 0
	case planTerm, planIDs:
		return 1
	case planNumRange, planRange:
		return 2
	case planAnd, planOr, planAll:
		return 3
	case planContains, planWords:
		return 4
	}
	return 5 // planNot
}
