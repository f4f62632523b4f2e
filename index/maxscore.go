package index

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// Ranking a page without scoring every match (MaxScore over bound
// classes). A candidate's score depends on which clauses it matches (a
// clause: a part of q in one text field, all the part's terms there) and
// on its terms' frequencies and norms there. Per segment, the candidates
// are split by the set of clauses they match (bitmap operations on the
// clauses' postings), and each such class gets an upper bound: the
// clauses' greatest possible contributions, combined as the score
// combines them. Classes are scored best bound first, keeping the top k
// found so far; once a class's bound is below the k-th best score, no
// document left can enter the page and the rest are never read. A
// term's greatest contribution in a segment comes from its postings'
// frequencies and norms, decoded once per segment and term and kept
// (rankBounds), which also spares zap's walk to each document scored.
//
// The scores are computed as rank computes them, term by term and field
// by field in the same order, so they are the same numbers; a document
// whose score ties the k-th best is kept, so the order among ties (by id)
// is decided as before.

// maxClauses is the most clauses (parts × fields) of a segment whose
// matches are split into classes; above it, every candidate is scored.
const maxClauses = 16

// fewCandidates is the most candidates scored exhaustively, unless every
// postings list they need is decoded already.
const fewCandidates = 1024

// boundSlack makes a bound safe from rounding: the bound and the score
// are computed in different orders.
const boundSlack = 1 + 1e-9

// rankBounds caches, per segment, field and term, the term's postings
// decoded: each document's frequency and norm, and the frequencies and
// norms that bound its BM25 score there. zap's postings iterator reaches
// a document by walking every posting before it, so scoring a few
// documents cost as much as scoring all; from the decoded postings a
// document's frequency is a search away. Segments are immutable, so an
// entry stays valid while its segment lives; the postings are read with
// no deletions applied, so they serve every snapshot of the segment.
// The cache holds at most rankCacheBytes. Safe for concurrent use.
type rankBounds struct {
	mu    sync.Mutex
	m     map[boundKey]*termPostings
	bytes int
	// alwaysBound, set by tests before any search, bounds the scores
	// however few the candidates.
	alwaysBound bool
}

// rankCacheBytes bounds the decoded postings a type's index keeps.
const rankCacheBytes = 32 << 20

type boundKey struct {
	seg         uint64 // SegmentSnapshot.Id
	field, term string
}

// termPostings is a term's postings in one field of one segment.
type termPostings struct {
	docs  []uint32
	freqs []uint32
	norms []float32
	// frontier holds the (frequency, norm) pairs no posting exceeds in
	// both: BM25 grows with either, so its greatest value over the
	// postings is at one of them.
	frontier []freqNorm
}

func (tp *termPostings) size() int { return 12*len(tp.docs) + 16*len(tp.frontier) + 64 }

// freqNorm is a posting's frequency and norm.
type freqNorm struct {
	freq uint64
	norm float64
}

// get returns term's postings in field of segment v.
func (b *rankBounds) get(s *snapshot, v *segView, field string, term []byte) (*termPostings, error) {
	key := boundKey{seg: v.ss.Id(), field: field, term: string(term)}
	b.mu.Lock()
	tp, ok := b.m[key]
	b.mu.Unlock()
	if ok {
		return tp, nil
	}
	d, err := v.dict(field)
	if err != nil {
		return nil, err
	}
	pl, err := d.PostingsList(term, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("postings: %w", err)
	}
	if tp, err = decodePostings(pl); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[boundKey]*termPostings{}
	}
	if _, ok := b.m[key]; ok {
		return tp, nil
	}
	if b.bytes+tp.size() > rankCacheBytes {
		live := map[uint64]bool{}
		for _, v := range s.segs {
			live[v.ss.Id()] = true
		}
		for k, e := range b.m {
			if !live[k.seg] {
				b.bytes -= e.size()
				delete(b.m, k)
			}
		}
		// Then any (map order is random) until a quarter is free.
		for k, e := range b.m {
			if b.bytes+tp.size() <= rankCacheBytes*3/4 {
				break
			}
			b.bytes -= e.size()
			delete(b.m, k)
		}
	}
	if tp.size() <= rankCacheBytes/4 {
		b.m[key] = tp
		b.bytes += tp.size()
	}
	return tp, nil
}

// cached reports whether the postings of every term of rk are decoded
// in every segment holding candidates.
func (b *rankBounds) cached(s *snapshot, rk *ranking, ms matches) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for si, v := range s.segs {
		if ms[si].IsEmpty() {
			continue
		}
		for _, p := range rk.parts {
			for fi, terms := range p.fields {
				for _, t := range terms {
					if t.pls[si].Count() == 0 {
						continue
					}
					if _, ok := b.m[boundKey{seg: v.ss.Id(), field: TextField(rk.fields[fi]), term: string(t.term)}]; !ok {
						return false
					}
				}
			}
		}
	}
	return true
}

// decodePostings reads every posting of pl.
func decodePostings(pl segment.PostingsList) (*termPostings, error) {
	n := pl.Count()
	tp := &termPostings{docs: make([]uint32, 0, n), freqs: make([]uint32, 0, n), norms: make([]float32, 0, n)}
	best := map[uint64]float64{} // frequency → greatest norm
	it := pl.Iterator(true, true, false, nil)
	for {
		p, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("postings: %w", err)
		}
		if p == nil {
			break
		}
		f, norm := p.Frequency(), p.Norm()
		if f > math.MaxUint32 || float64(float32(norm)) != norm {
			return nil, fmt.Errorf("postings: frequency %d or norm %v out of range", f, norm)
		}
		tp.docs = append(tp.docs, uint32(p.Number()))
		tp.freqs = append(tp.freqs, uint32(f))
		tp.norms = append(tp.norms, float32(norm))
		if m, ok := best[f]; !ok || norm > m {
			best[f] = norm
		}
	}
	for f, n := range best {
		tp.frontier = append(tp.frontier, freqNorm{f, n})
	}
	// Highest frequency first; keep a point only if its norm beats every
	// point of higher frequency.
	slices.SortFunc(tp.frontier, func(a, b freqNorm) int { return cmp.Compare(b.freq, a.freq) })
	kept := tp.frontier[:0]
	for _, p := range tp.frontier {
		if len(kept) == 0 || p.norm > kept[len(kept)-1].norm {
			kept = append(kept, p)
		}
	}
	tp.frontier = slices.Clip(kept)
	return tp, nil
}

// maxBM25 is the greatest BM25 score over a frontier.
func maxBM25(f []freqNorm, idf, avgLen float64) float64 {
	m := 0.0
	for _, p := range f {
		m = max(m, bm25(idf, p.freq, p.norm, avgLen))
	}
	return m
}

// clause is a part of q in one text field, in one segment: the documents
// holding all the part's terms there, the greatest score it can add, and
// the terms' postings.
type clause struct {
	part, field int
	docs        *roaring.Bitmap
	bound       float64 // sum of the terms' greatest scores, weighted
	terms       []rankTerm
	posts       []*termPostings // by term
	pos         []int           // by term: where the last search ended
}

// at reports whether term i of the clause is in document d, and its
// frequency and norm there; d must not decrease between calls (since
// the positions were reset).
func (c *clause) at(i int, d uint32) (bool, uint64, float64) {
	docs := c.posts[i].docs
	j := c.pos[i]
	if j < len(docs) && docs[j] < d {
		// Gallop from the last position (docs[lo] < d), then search
		// the range found.
		lo, step := j, 1
		hi := lo + 1
		for hi < len(docs) && docs[hi] < d {
			lo = hi
			step *= 2
			hi = lo + step
		}
		hi = min(hi, len(docs))
		k, _ := slices.BinarySearch(docs[lo+1:hi], d)
		j = lo + 1 + k
	}
	c.pos[i] = j
	if j == len(docs) || docs[j] != d {
		return false, 0, 0
	}
	tp := c.posts[i]
	return true, uint64(tp.freqs[j]), float64(tp.norms[j])
}

// rankClass is the candidates of a segment matching exactly the clauses
// of mask (every clause possibly, when the segment has too many to
// split), and the bound of their scores.
type rankClass struct {
	seg   int
	mask  uint64
	bound float64
	docs  *roaring.Bitmap
}

// topDocs keeps the documents that may be among the k best: every one
// scoring at least the k-th best score seen (theta), ties included. best
// is a min-heap of the k best scores.
type topDocs struct {
	k     int
	theta float64
	best  []float64
	docs  []rankedDoc
	limit int // docs shrinks when it grows to this
}

func (t *topDocs) add(d rankedDoc) {
	if d.score < t.theta {
		return
	}
	t.docs = append(t.docs, d)
	switch {
	case len(t.best) < t.k:
		t.best = append(t.best, d.score)
		for i := len(t.best) - 1; i > 0; {
			p := (i - 1) / 2
			if t.best[p] <= t.best[i] {
				break
			}
			t.best[p], t.best[i] = t.best[i], t.best[p]
			i = p
		}
		if len(t.best) == t.k {
			t.theta = t.best[0]
		}
	case d.score > t.best[0]:
		t.best[0] = d.score
		for i := 0; ; {
			l, m := 2*i+1, i
			if l < len(t.best) && t.best[l] < t.best[m] {
				m = l
			}
			if l+1 < len(t.best) && t.best[l+1] < t.best[m] {
				m = l + 1
			}
			if m == i {
				break
			}
			t.best[m], t.best[i] = t.best[i], t.best[m]
			i = m
		}
		t.theta = t.best[0]
	}
	if len(t.docs) >= max(t.limit, 2*t.k+64) {
		t.shrink()
	}
}

// shrink drops the documents below theta. Ties can keep many, so the next
// shrink waits until they double.
func (t *topDocs) shrink() {
	t.docs = slices.DeleteFunc(t.docs, func(d rankedDoc) bool { return d.score < t.theta })
	t.limit = 2 * len(t.docs)
}

// rankTop ranks the candidates ms for q as rank does, but returns only
// the documents that may be on a page of k after the cursor after (nil:
// from the start): every document after it scoring at least the k-th
// best score, in no particular order. total is the number of candidates
// ranked (rank's len).
func (s *snapshot) rankTop(lay *layout, q string, ms matches, k int, after *rankedDoc, bc *rankBounds) (docs []rankedDoc, total int, err error) {
	docs, total, _, err = s.rankTopScored(lay, q, ms, k, after, bc)
	return docs, total, err
}

// rankTopScored is rankTop, also returning how many documents it scored.
func (s *snapshot) rankTopScored(lay *layout, q string, ms matches, k int, after *rankedDoc, bc *rankBounds) (docs []rankedDoc, total, scored int, err error) {
	rk, err := s.ranking(lay, q)
	if err != nil || len(rk.parts) == 0 {
		return nil, 0, 0, err
	}
	top := &topDocs{k: k, theta: math.Inf(-1)}
	var idErr error
	var keep func(d rankedDoc)
	exhaustive := func() ([]rankedDoc, int, int, error) {
		all, err := s.rankAll(rk, ms)
		if err != nil {
			return nil, 0, 0, err
		}
		for _, d := range all {
			keep(d)
		}
		top.shrink()
		return top.docs, len(all), len(all), idErr
	}
	keep = func(d rankedDoc) {
		if after != nil && d.score >= after.score {
			if d.score > after.score {
				return
			}
			raw, err := s.segs[d.seg].seg.DocID(uint64(d.local))
			if err != nil {
				if idErr == nil {
					idErr = fmt.Errorf("document id: %w", err)
				}
				return
			}
			if d.id, d.hasID = string(raw), true; d.id <= after.id {
				return
			}
		}
		top.add(d)
	}
	if !bc.alwaysBound && ms.count() <= fewCandidates && !bc.cached(s, rk, ms) {
		// Scoring few candidates walks the postings once; decoding
		// them to bound the scores would cost more.
		return exhaustive()
	}
	var classes []rankClass
	segClauses := make([][]*clause, len(s.segs))
	for si := range s.segs {
		if ms[si].IsEmpty() {
			continue
		}
		cls, err := s.clauses(rk, si, ms[si], bc)
		if err != nil {
			return nil, 0, 0, err
		}
		if len(cls) > maxClauses {
			// Too many to split: every candidate scored.
			return exhaustive()
		}
		segClauses[si] = cls
		partsMask := make([]uint64, len(rk.parts))
		for ci, c := range cls {
			partsMask[c.part] |= 1 << ci
		}
		complete := func(mask uint64) bool {
			for _, pm := range partsMask {
				if mask&pm == 0 {
					return false
				}
			}
			return true
		}
		add := func(mask uint64, docs *roaring.Bitmap) {
			classes = append(classes, rankClass{seg: si, mask: mask, bound: classBound(rk, cls, mask), docs: docs})
		}
		var split func(b *roaring.Bitmap, ci int, mask uint64)
		split = func(b *roaring.Bitmap, ci int, mask uint64) {
			if b.IsEmpty() {
				return
			}
			if ci == len(cls) {
				if complete(mask) {
					add(mask, b)
					total += int(b.GetCardinality())
				}
				return
			}
			split(roaring.And(b, cls[ci].docs), ci+1, mask|1<<ci)
			split(roaring.AndNot(b, cls[ci].docs), ci+1, mask)
		}
		split(ms[si], 0, 0)
	}
	// Best bound first; among equal bounds, in segment order.
	slices.SortStableFunc(classes, func(a, b rankClass) int {
		if c := cmp.Compare(b.bound, a.bound); c != 0 {
			return c
		}
		return a.seg - b.seg
	})
	for _, c := range classes {
		if c.bound*boundSlack < top.theta {
			break
		}
		scored += int(c.docs.GetCardinality())
		if err := s.scoreClass(rk, segClauses[c.seg], c, keep); err != nil {
			return nil, 0, 0, err
		}
		if idErr != nil {
			return nil, 0, 0, idErr
		}
	}
	top.shrink()
	return top.docs, total, scored, nil
}

// clauses returns the clauses of q that documents of segment si can
// match (every term of the part in the field), with their bounds and
// their documents among the candidates in.
func (s *snapshot) clauses(rk *ranking, si int, in *roaring.Bitmap, bc *rankBounds) ([]*clause, error) {
	v := s.segs[si]
	var out []*clause
	for pi, p := range rk.parts {
	fields:
		for fi, terms := range p.fields {
			c := &clause{part: pi, field: fi, terms: terms}
			for _, t := range terms {
				if t.pls[si].Count() == 0 {
					continue fields
				}
			}
			c.docs = in
			for _, t := range terms {
				c.docs = roaring.And(c.docs, postingsBitmap(t.pls[si]))
				tp, err := bc.get(s, v, TextField(rk.fields[fi]), t.term)
				if err != nil {
					return nil, err
				}
				c.posts = append(c.posts, tp)
				c.bound += maxBM25(tp.frontier, t.idf, rk.avgLen[fi]) * (t.idf * rk.qnorm)
			}
			c.pos = make([]int, len(terms))
			out = append(out, c)
		}
	}
	return out, nil
}

// postingsBitmap returns the documents of pl; it may be pl's own bitmap,
// not to be modified.
func postingsBitmap(pl segment.PostingsList) *roaring.Bitmap {
	it := pl.Iterator(false, false, false, nil)
	if o, ok := it.(segment.OptimizablePostingsIterator); ok {
		if bm := o.ActualBitmap(); bm != nil {
			return bm
		}
		if n, ok := o.DocNum1Hit(); ok {
			return roaring.BitmapOf(uint32(n))
		}
	}
	b := roaring.New()
	for {
		p, err := it.Next()
		if err != nil || p == nil {
			return b
		}
		b.Add(uint32(p.Number()))
	}
}

// classBound is the greatest score of a document matching the clauses of
// mask, combined as rank combines scores: per part, the sum over its
// matched fields scaled by their share of the fields.
func classBound(rk *ranking, cls []*clause, mask uint64) float64 {
	bound := 0.0
	for pi, p := range rk.parts {
		sum, n := 0.0, 0
		for ci, c := range cls {
			if c.part == pi && mask&(1<<ci) != 0 {
				sum += c.bound
				n++
			}
		}
		bound += sum * float64(n) / float64(len(p.fields))
	}
	return bound
}

// scoreClass scores the documents of a class, in document order, and
// hands each to keep. The arithmetic is rank's, in its order.
func (s *snapshot) scoreClass(rk *ranking, cls []*clause, c rankClass, keep func(rankedDoc)) error {
	var used []*clause
	for m := c.mask; m != 0; m &= m - 1 {
		cl := cls[bits.TrailingZeros64(m)]
		clear(cl.pos)
		used = append(used, cl)
	}
	it := c.docs.Iterator()
	for it.HasNext() {
		d := it.Next()
		score, ok := 0.0, true
		ui := 0
		for pi, p := range rk.parts {
			partScore, matched := 0.0, 0
			for ui < len(used) && used[ui].part == pi {
				cl := used[ui]
				ui++
				fieldSum, have := 0.0, 0
				for i, t := range cl.terms {
					if in, freq, norm := cl.at(i, d); in {
						fieldSum += bm25(t.idf, freq, norm, rk.avgLen[cl.field]) * (t.idf * rk.qnorm)
						have++
					}
				}
				if have == len(cl.terms) {
					partScore += fieldSum
					matched++
				}
			}
			if matched == 0 {
				ok = false
			}
			score += partScore * float64(matched) / float64(len(p.fields))
		}
		if ok {
			keep(rankedDoc{score: score, seg: c.seg, local: d})
		}
	}
	return nil
}
