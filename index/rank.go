package index

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2/search"
	index "github.com/blevesearch/bleve_index_api"
	segment "github.com/blevesearch/scorch_segment_api/v2"

	"github.com/strata-dev/strata/core"
)

// A relevance-ordered page is ranked here rather than by bleve's scored
// search: bleve builds a searcher tree per request (a term searcher per
// term, field and segment, conjunctions and disjunctions above them),
// allocates a match per candidate and loads the id of every one for the
// tie-break, which made a two-word q cost several times a filter. The
// candidates are known already (textPlan); ranking them needs only each
// term's frequency and norm at them, read by advancing one postings
// iterator per term over the sorted candidates. The score is bleve's own
// for the same query (BM25 with its idf, average field length and query
// norm; sums over a word's tokens; the sum over fields scaled by the
// share of fields that matched), so the order is what bleve's search of
// textQuery gives; a test holds the two together.

// rankTerm is one term of a text query in one field: its idf and, per
// segment, its postings (read once, for the idf, and then scored).
type rankTerm struct {
	term []byte
	idf  float64
	pls  []segment.PostingsList
}

// rankPart is a word or phrase of q: its terms, per text field, which
// must all be in one field for the field to match.
type rankPart struct {
	fields [][]rankTerm // by field, as layout.text
}

// ranking is q analysed for one snapshot, with the statistics its scores
// need over the whole snapshot.
type ranking struct {
	fields []string // the text fields, as layout.text
	parts  []rankPart
	avgLen []float64 // per text field: bleve's estimate of its average length
	qnorm  float64   // bleve's query norm over all the terms
}

// rankable reports whether the ranker can answer q: it has no prefix
// part (a prefix expands to terms bleve scores as its own disjunction).
func rankable(q string) bool {
	for _, p := range splitText(q) {
		if !p.phrase && strings.HasSuffix(p.text, "*") {
			return false
		}
	}
	return true
}

// rankedDoc is a candidate and its score.
type rankedDoc struct {
	score float64
	seg   int
	local uint32
	id    string
	hasID bool
}

// searchRanked answers q by relevance over the candidates ms, which are
// exactly the documents q matches: the page after the cursor, in order
// of score (highest first) and then id. Only the documents that may be
// on the page are scored to the end (rankTop); the order is the one rank
// gives, which remains the reference of the tests.
func searchRanked(snap *snapshot, lay *layout, ms matches, req core.SearchRequest, binding string, bc *rankBounds) (*core.SearchResult, error) {
	out := &core.SearchResult{}
	after, err := rankCursor(req.Cursor, binding)
	if err != nil {
		return nil, err
	}
	if req.Limit == 0 {
		out.Total = int(ms.count())
		return out, nil
	}
	docs, total, err := snap.rankTop(lay, req.Q, ms, req.Limit+1, after, bc)
	if err != nil {
		return nil, err
	}
	if req.Total {
		out.Total = total
	}
	return rankedPage(snap, out, docs, req.Limit, binding)
}

// rankCursor decodes the cursor of a relevance order: nil when empty.
func rankCursor(cursor, binding string) (*rankedDoc, error) {
	if cursor == "" {
		return nil, nil
	}
	a, err := decodeSearchCursor(cursor, binding)
	if err != nil {
		return nil, err
	}
	if len(a) != 2 {
		return nil, errBadCursor
	}
	score, err := strconv.ParseFloat(a[0], 64)
	if err != nil {
		return nil, errBadCursor
	}
	return &rankedDoc{score: score, id: a[1], hasID: true}, nil
}

// rankedPage fills out with the page of limit from docs, every document
// after the cursor that may be on it (all of them, or more): ordered by
// score, then the ties at the page's end brought into id order; ids are
// loaded only for the page and its boundary ties.
func rankedPage(snap *snapshot, out *core.SearchResult, docs []rankedDoc, limit int, binding string) (*core.SearchResult, error) {
	var idErr error
	id := func(d *rankedDoc) string {
		if !d.hasID {
			raw, err := snap.segs[d.seg].seg.DocID(uint64(d.local))
			if err != nil && idErr == nil {
				idErr = fmt.Errorf("document id: %w", err)
			}
			d.id, d.hasID = string(raw), true
		}
		return d.id
	}
	slices.SortFunc(docs, func(a, b rankedDoc) int { return cmp.Compare(b.score, a.score) })
	end := min(len(docs), limit+1)
	if end > 0 {
		last := docs[end-1].score
		for end < len(docs) && docs[end].score == last {
			end++
		}
	}
	page := docs[:end]
	// Load the ids into the page itself first: the comparator works on
	// copies.
	for i := range page {
		id(&page[i])
	}
	if idErr != nil {
		return nil, idErr
	}
	slices.SortStableFunc(page, func(a, b rankedDoc) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	out.IDs = make([]string, 0, min(len(page), limit))
	for i, d := range page {
		if i == limit {
			last := page[i-1]
			out.NextCursor = encodeSearchCursor([]string{strconv.FormatFloat(last.score, 'g', -1, 64), last.id}, binding)
			break
		}
		out.IDs = append(out.IDs, d.id)
	}
	return out, nil
}

// rank scores every candidate of ms for q.
func (s *snapshot) rank(lay *layout, q string, ms matches) ([]rankedDoc, error) {
	rk, err := s.ranking(lay, q)
	if err != nil {
		return nil, err
	}
	return s.rankAll(rk, ms)
}

// rankAll scores every candidate of ms for the analysed query rk.
func (s *snapshot) rankAll(rk *ranking, ms matches) ([]rankedDoc, error) {
	if len(rk.parts) == 0 {
		return nil, nil
	}
	docs := make([]rankedDoc, 0, ms.count())
	var (
		cands     []uint32
		score     []float64
		partScore []float64
		fieldSum  []float64
		matched   []int
		have      []int
	)
	grow := func(b []float64, n int) []float64 { return append(b[:0], make([]float64, n)...) }
	growInt := func(b []int, n int) []int { return append(b[:0], make([]int, n)...) }
	for si, v := range s.segs {
		if ms[si].IsEmpty() {
			continue
		}
		cands = ms[si].ToArray()
		n := len(cands)
		score = grow(score, n)
		ok := make([]bool, n)
		for i := range ok {
			ok[i] = true
		}
		for _, p := range rk.parts {
			partScore = grow(partScore, n)
			matched = growInt(matched, n)
			for fi, terms := range p.fields {
				fieldSum, have = grow(fieldSum, n), growInt(have, n)
				for _, t := range terms {
					if err := v.termScores(t.pls[si], t.idf, cands, rk.avgLen[fi], rk.qnorm, fieldSum, have); err != nil {
						return nil, err
					}
				}
				for i := range n {
					if have[i] == len(terms) {
						partScore[i] += fieldSum[i]
						matched[i]++
					}
				}
			}
			for i := range n {
				if matched[i] == 0 {
					ok[i] = false
				}
				score[i] += partScore[i] * float64(matched[i]) / float64(len(p.fields))
			}
		}
		for i, local := range cands {
			if ok[i] {
				docs = append(docs, rankedDoc{score: score[i], seg: si, local: local})
			}
		}
	}
	return docs, nil
}

// termScores adds the score of a term (its postings pl in the segment and
// its idf) to sum at each candidate holding it, and counts it in have.
func (v *segView) termScores(pl segment.PostingsList, idf float64, cands []uint32, avgLen, qnorm float64, sum []float64, have []int) error {
	if pl.Count() == 0 {
		return nil
	}
	it := pl.Iterator(true, true, false, v.pi)
	v.pi = it
	weight := idf * qnorm
	var err error
	var cur segment.Posting
	for i, c := range cands {
		if cur != nil && cur.Number() > uint64(c) {
			continue
		}
		if cur == nil || cur.Number() < uint64(c) {
			if cur, err = it.Advance(uint64(c)); err != nil {
				return fmt.Errorf("postings: %w", err)
			}
			if cur == nil {
				return nil
			}
		}
		if cur.Number() == uint64(c) {
			sum[i] += bm25(idf, cur.Frequency(), cur.Norm(), avgLen) * weight
			have[i]++
		}
	}
	return nil
}

// bm25 is bleve's BM25 score of a term in a field (before the query
// weight): the field length comes back from the norm, 1/sqrt(length).
func bm25(idf float64, freq uint64, norm, avgLen float64) float64 {
	tf := math.Sqrt(float64(freq))
	fieldLen := 1 / (norm * norm)
	return idf * (tf * search.BM25_k1) /
		(tf + search.BM25_k1*(1-search.BM25_b+(search.BM25_b*fieldLen/avgLen)))
}

// ranking analyses q into parts and computes the statistics the scores
// need over the whole snapshot: each term's idf from the live documents
// holding it, each field's average length as bleve estimates it, and the
// query norm over all the terms.
func (s *snapshot) ranking(lay *layout, q string) (*ranking, error) {
	rk := &ranking{fields: lay.text}
	docTotal, err := s.r.DocCount()
	if err != nil {
		return nil, fmt.Errorf("document count: %w", err)
	}
	if docTotal == 0 {
		return rk, nil
	}
	br, ok := s.r.(index.BM25Reader)
	if !ok {
		return nil, fmt.Errorf("index: %T keeps no field statistics", s.r)
	}
	rk.avgLen = make([]float64, len(lay.text))
	for i, f := range lay.text {
		// bleve's estimate: distinct terms over documents, rounded up.
		card, err := br.FieldCardinality(TextField(f))
		if err != nil {
			return nil, fmt.Errorf("field statistics of %s: %w", f, err)
		}
		rk.avgLen[i] = math.Ceil(float64(card) / float64(docTotal))
	}
	sumSq := 0.0
	for _, p := range splitText(q) {
		tokens := analyse(p.text)
		if len(tokens) == 0 {
			continue
		}
		rp := rankPart{fields: make([][]rankTerm, len(lay.text))}
		for fi, f := range lay.text {
			for _, tok := range tokens {
				df, pls, err := s.postings(TextField(f), tok.Term)
				if err != nil {
					return nil, err
				}
				var idf float64
				if rk.avgLen[fi] > 0 {
					idf = math.Log(1 + (float64(docTotal)-float64(df)+0.5)/(float64(df)+0.5))
				} else {
					// A field without any term: bleve falls back to
					// TF-IDF's idf (it only weighs in the query norm, as
					// nothing matches there).
					idf = 1 + math.Log(float64(docTotal)/float64(df+1))
				}
				sumSq += idf * idf
				rp.fields[fi] = append(rp.fields[fi], rankTerm{term: tok.Term, idf: idf, pls: pls})
			}
		}
		rk.parts = append(rk.parts, rp)
	}
	rk.qnorm = 1 / math.Sqrt(sumSq)
	return rk, nil
}

// postings returns the postings of term in field in each segment,
// deleted documents left out, and the number of documents they hold.
func (s *snapshot) postings(field string, term []byte) (uint64, []segment.PostingsList, error) {
	var n uint64
	pls := make([]segment.PostingsList, len(s.segs))
	for i, v := range s.segs {
		d, err := v.dict(field)
		if err != nil {
			return 0, nil, err
		}
		pl, err := d.PostingsList(term, v.ss.Deleted(), nil)
		if err != nil {
			return 0, nil, fmt.Errorf("postings: %w", err)
		}
		pls[i] = pl
		n += pl.Count()
	}
	return n, pls, nil
}
