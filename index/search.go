package index

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/collector"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// MaxWait bounds how long a search waits for the index to catch up with
// the writes committed before it (read-your-writes), and for a type's
// index being built or rebuilt.
const MaxWait = 5 * time.Second

// scanLimit is the number of matches up to which a sorted search reads the
// sort values of every match; above it, an order on one field walks the
// documents in the field's order instead (see sorter.walk).
const scanLimit = 2000

// Search answers a filtered, full-text or sorted list (core.Searcher).
//
// The filter (with the deleted flag and the owner) is evaluated into
// bitmaps (plan), which give totals at no cost. Relevance best first (q
// without a sort) is ranked from the candidates' postings (searchRanked);
// another order naming _score is bleve's scored search over the text
// query, restricted to the bitmaps; any other order is found by
// sorter from cached columns of sort values, so a page costs in
// proportion to the page rather than to the matches where it can. See
// the package documentation.
func (x *Index) Search(ctx context.Context, typ string, req core.SearchRequest) (*core.SearchResult, error) {
	hasQ := strings.TrimSpace(req.Q) != ""
	if req.Highlight && !hasQ {
		return nil, &core.Error{Kind: core.ErrInvalid, Detail: "highlight needs q"}
	}
	if req.MinSeq > 0 {
		if err := x.WaitFor(ctx, req.MinSeq, MaxWait); err != nil {
			return nil, err
		}
	}
	ti, err := x.acquire(ctx, typ, MaxWait)
	if err != nil {
		return nil, err
	}
	defer ti.use.RUnlock()
	lay := ti.lay

	schema := lay.filterSchema()
	if len(req.Hidden) > 0 {
		// Fields hidden from the principal are unknown to its filter and
		// sort, word for word as fields the schema does not have.
		for path := range schema {
			if isHidden(path, req.Hidden) {
				delete(schema, path)
			}
		}
		for _, t := range sortEntries(req.Sort) {
			if isHidden(t.name, req.Hidden) {
				return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("sort: unknown field %q", t.name)}
			}
		}
	}
	facets, stats, err := lay.aggFields(req)
	if err != nil {
		return nil, err
	}
	p := planAnd{}
	canonical := ""
	if req.Filter != "" {
		e, err := filter.Parse(req.Filter, schema, filter.Limits{})
		if err != nil {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: err.Error()}
		}
		fp, err := lay.compileFilter(e)
		if err != nil {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: "filter: " + err.Error()}
		}
		p = append(p, fp)
		canonical = e.String()
	}
	if !req.IncludeDeleted {
		// Not deleted, as the complement of the (few) deleted: the
		// postings of "F" hold nearly every document.
		p = append(p, planNot{planTerm{field: FieldDeleted, term: []byte(boolTrue)}})
	}
	if req.Owner != "" {
		p = append(p, planTerm{field: FieldCreatedBy, term: []byte(req.Owner)})
	}
	var textQ []query.Query
	if hasQ {
		if len(lay.text) == 0 {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: "q: type " + typ + " has no search fields"}
		}
		textQ = lay.textParts(req.Q)
	}
	// The cursor is bound to what it pages through.
	binding := hashOf(canonical, req.Q, req.Sort, fmt.Sprint(req.IncludeDeleted), req.Owner)

	snap, err := openSnapshot(ti.idx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	defer ti.cols.prune(snap)
	defer ti.ords.prune(snap)
	snap.cache, snap.load = &ti.cols, x.loaderOf(ctx, typ)

	// With q, the text query's candidates come from postings bitmaps
	// (textPlan), the filter is evaluated within them (a range checked
	// candidate by candidate rather than read whole), and bleve's text
	// query only visits what is left.
	var ms matches
	if hasQ {
		tc, err := snap.eval(lay.textPlan(req.Q))
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", typ, err)
		}
		if ms, err = snap.evalIn(p, tc, &ti.cols); err != nil {
			return nil, fmt.Errorf("search %s: %w", typ, err)
		}
		if ps := phrasesOf(req.Q); len(ps) > 0 {
			if err := x.phraseFilter(ctx, snap, lay, typ, ps, ms); err != nil {
				return nil, err
			}
		}
	}
	if (len(facets) > 0 || len(stats) > 0) && !hasQ {
		// Facets count every match, so the matches are evaluated whole
		// rather than walked for a page.
		if ms, err = snap.eval(p); err != nil {
			return nil, fmt.Errorf("search %s: %w", typ, err)
		}
	}
	var aggFacets map[string][]core.FacetValue
	var aggStats map[string]core.FieldStats
	if ms != nil {
		if aggFacets, aggStats, err = aggregate(ctx, snap, &ti.cols, &ti.ords, defaultCounts(), facets, stats, ms); err != nil {
			return nil, fmt.Errorf("search %s: %w", typ, err)
		}
	}
	var out *core.SearchResult
	switch {
	case hasQ && bestFirst(req.Sort) && rankable(req.Q):
		out, err = searchRanked(snap, lay, ms, req, binding, &ti.ranks)
	case hasQ && scoredSort(req.Sort):
		out, err = searchScored(ctx, snap, ti.idx.Mapping(), textQ, ms, req, schema, binding)
	case hasQ:
		if ms, err = snap.textMatches(ctx, ti.idx.Mapping(), textQ, ms); err == nil {
			out, err = searchSorted(snap, &ti.cols, lay, p, ms, req, binding, scanLimit)
		}
	default:
		out, err = searchSorted(snap, &ti.cols, lay, p, ms, req, binding, scanLimit)
	}
	if err != nil {
		return nil, err
	}
	out.Facets, out.Stats = aggFacets, aggStats
	if req.Highlight {
		out.Highlight = highlightFunc(lay, req.Q)
	}
	return out, nil
}

// scoredSort reports whether a sort (with q) is by relevance: none given,
// or one naming the score.
func scoredSort(spec string) bool {
	if strings.TrimSpace(spec) == "" {
		return true
	}
	for f := range strings.SplitSeq(spec, ",") {
		switch strings.TrimLeft(strings.TrimSpace(f), "+-") {
		case "_score", "score":
			return true
		}
	}
	return false
}

// bestFirst reports whether a sort (with q) is relevance alone, best
// first: none given, or "_score".
func bestFirst(spec string) bool {
	switch strings.TrimLeft(strings.TrimSpace(spec), "+") {
	case "", "_score", "score":
		return true
	}
	return false
}

// searchSorted answers an order on fields and the id over the documents
// plan p matches, or over ms when it is not nil (p evaluated already). An
// order sorter can walk is walked when there are more than walkAbove
// matches.
func searchSorted(snap *snapshot, cols *columns, lay *layout, p planAnd, ms matches, req core.SearchRequest, binding string, walkAbove uint64) (*core.SearchResult, error) {
	keys, err := sortKeys(req.Sort, lay)
	if err != nil {
		return nil, err
	}
	so := newSorter(snap, cols, keys)
	var after *hit
	if req.Cursor != "" {
		vals, err := decodeKeyCursor(req.Cursor, binding, len(so.fields)+1)
		if err != nil {
			return nil, err
		}
		after = so.cursorHit(vals)
	}
	need := req.Limit + 1
	out := &core.SearchResult{IDs: []string{}}
	page := func(hits []*hit) (*core.SearchResult, error) {
		for i, h := range hits {
			if i == req.Limit {
				out.NextCursor = encodeKeyCursor(so.cursorOf(hits[i-1]), binding)
				break
			}
			out.IDs = append(out.IDs, so.id(h))
		}
		return out, so.err
	}

	// A range the filter puts on the sort field is enforced by walking
	// only its values, rather than by a bitmap of every document in it.
	if ms == nil && req.Limit > 0 && !req.Total && so.walkable() && isNumeric(keys[0]) {
		if rest, bounds, ok := splitBounds(p, keys[0].field); ok {
			rms, err := snap.eval(rest)
			if err != nil {
				return nil, fmt.Errorf("search: %w", err)
			}
			hits, walked, err := so.walk(rms, after, need, walkBudget(rms, snap, need), bounds, true)
			if err != nil {
				return nil, fmt.Errorf("search: %w", err)
			}
			if walked {
				return page(hits)
			}
		}
	}
	if ms == nil {
		if ms, err = snap.eval(p); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	card := ms.count()
	if req.Total || req.Limit == 0 {
		out.Total = int(card)
	}
	if req.Limit == 0 {
		return out, nil
	}
	var hits []*hit
	walked := false
	if so.walkable() && card > walkAbove {
		var bounds keyBounds
		if isNumeric(keys[0]) {
			bounds = boundsOf(p, keys[0].field)
		}
		if hits, walked, err = so.walk(ms, after, need, max(256, int(card/2)), bounds, false); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	if !walked {
		if hits, err = so.scan(ms, after, need); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	return page(hits)
}

func isNumeric(k sortKey) bool { return k.kind == filter.Number || k.kind == filter.Time }

// splitBounds takes the ranges on field out of the conjunction p: the rest
// of p, and the bounds they make. ok is false when p has none.
func splitBounds(p planAnd, field string) (planAnd, keyBounds, bool) {
	b := keyBounds{lo: minKey, hi: maxKey}
	rest := make(planAnd, 0, len(p))
	found := false
	for _, c := range p {
		if and, ok := c.(planAnd); ok {
			r, cb, ok := splitBounds(and, field)
			if ok {
				found = true
				b.lo, b.hi = max(b.lo, cb.lo), min(b.hi, cb.hi)
				c = r
			}
		}
		if r, ok := c.(planNumRange); ok && r.field == field {
			found = true
			b.lo, b.hi = max(b.lo, r.lo), min(b.hi, r.hi)
			continue
		}
		rest = append(rest, c)
	}
	return rest, b, found
}

// walkBudget is the number of values a bounded walk may visit: about four
// times what the density of the matches predicts for a page, within
// [256, 4096].
func walkBudget(ms matches, snap *snapshot, need int) int {
	var total uint64
	for _, v := range snap.segs {
		total += v.seg.Count()
	}
	card := max(ms.count(), 1)
	return int(min(max(4*uint64(need)*total/card, 256), 4096))
}

// sortEntry is one entry of a sort spec: "-views" is {"views", true}.
type sortEntry struct {
	name string
	desc bool
}

// sortEntries splits a sort spec ("-views, title") into its entries; both
// the column walk and bleve's scored search read it this way.
func sortEntries(spec string) []sortEntry {
	var terms []sortEntry
	for f := range strings.SplitSeq(spec, ",") {
		if f = strings.TrimSpace(f); f != "" {
			terms = append(terms, sortEntry{
				name: strings.TrimPrefix(strings.TrimPrefix(f, "-"), "+"),
				desc: strings.HasPrefix(f, "-"),
			})
		}
	}
	return terms
}

// sortKeys turns "-views,title" into sort keys, ending with the id (so
// the order is total); no sort is creation order. Score keys, which only
// a full-text query gives a meaning, are left out.
func sortKeys(spec string, lay *layout) ([]sortKey, error) {
	var keys []sortKey
	if strings.TrimSpace(spec) == "" {
		keys = append(keys, sortKey{field: FieldCreatedAt, kind: filter.Time})
	}
	for _, t := range sortEntries(spec) {
		name, desc := t.name, t.desc
		switch name {
		case "id":
			return append(keys, sortKey{field: FieldID, kind: filter.String, desc: desc}), nil
		case "_score", "score":
			continue
		}
		fi := lay.info(name)
		if fi == nil {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("sort: unknown field %q", name)}
		}
		switch fi.kind {
		case filter.String, filter.Text, filter.Number, filter.Time, filter.Bool:
		default:
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("sort: field %q is not sortable", name)}
		}
		keys = append(keys, sortKey{field: name, kind: fi.kind, desc: desc})
	}
	return append(keys, sortKey{field: FieldID, kind: filter.String}), nil
}

// searchScored answers an order naming _score that searchRanked does not
// (mixed with fields, or a prefix in q): bleve's BM25-scored search of
// the text query on the snapshot, keeping the documents in ms.
func searchScored(ctx context.Context, snap *snapshot, m mapping.IndexMapping, textQ []query.Query, ms matches, req core.SearchRequest, schema filter.Schema, binding string) (*core.SearchResult, error) {
	order, err := sortOrder(req.Sort, true, schema)
	if err != nil {
		return nil, err
	}
	ctx = scoringContext(ctx)
	fs, err := snap.within(ctx, m, textQ, ms, search.SearcherOptions{})
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer fs.Close()
	size := req.Limit + 1
	if req.Limit == 0 {
		size = 0
	}
	var coll *collector.TopNCollector
	if req.Cursor != "" {
		after, err := decodeSearchCursor(req.Cursor, binding)
		if err != nil {
			return nil, err
		}
		if len(after) != len(order) {
			return nil, errBadCursor
		}
		coll = collector.NewTopNCollectorAfter(size, order, after)
	} else {
		coll = collector.NewTopNCollector(size, 0, order)
	}
	if err := coll.Collect(ctx, fs, snap.r); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	hits := coll.Results()
	out := &core.SearchResult{IDs: make([]string, 0, min(len(hits), req.Limit))}
	if req.Total || req.Limit == 0 {
		out.Total = int(coll.Total())
	}
	for i, hit := range hits {
		if i == req.Limit {
			// SearchAfter takes decoded values (numbers and dates as
			// text); Sort holds their prefix-coded index form.
			last := hits[i-1]
			after := last.Sort
			if len(last.DecodedSort) == len(last.Sort) {
				after = last.DecodedSort
			}
			out.NextCursor = encodeSearchCursor(after, binding)
			break
		}
		out.IDs = append(out.IDs, hit.ID)
	}
	return out, nil
}

// scoringContext sets the context bleve's index would set for BM25
// scoring, which searches on a snapshot must set themselves.
func scoringContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, search.GetScoringModelCallbackKey,
		search.GetScoringModelCallbackFn(func() string { return index.BM25Scoring }))
}

// within returns a searcher of the text query's matches among the
// candidates ms: a conjunction of the candidates (which lead, being
// fewer) and each part of the query, so the parts' postings are only
// advanced to the candidates. Scores are the parts' sum, as in the text
// query's own conjunction.
func (s *snapshot) within(ctx context.Context, m mapping.IndexMapping, parts []query.Query, ms matches, o search.SearcherOptions) (search.Searcher, error) {
	children := []search.Searcher{newBitmapSearcher(s, ms)}
	closeAll := func() {
		for _, c := range children {
			_ = c.Close()
		}
	}
	for _, p := range parts {
		ps, err := p.Searcher(ctx, s.r, m, o)
		if err != nil {
			closeAll()
			return nil, err
		}
		children = append(children, ps)
	}
	if len(parts) == 0 {
		none, err := searcher.NewMatchNoneSearcher(s.r)
		if err != nil {
			closeAll()
			return nil, err
		}
		children = append(children, none)
	}
	cs, err := searcher.NewConjunctionSearcher(ctx, s.r, children, o)
	if err != nil {
		closeAll()
		return nil, err
	}
	return cs, nil
}

// textMatches returns the documents among the candidates ms that the text
// query matches, unscored.
func (s *snapshot) textMatches(ctx context.Context, m mapping.IndexMapping, parts []query.Query, ms matches) (matches, error) {
	sr, err := s.within(scoringContext(ctx), m, parts, ms, search.SearcherOptions{Score: "none"})
	if err != nil {
		return nil, err
	}
	defer sr.Close()
	out := make(matches, len(s.segs))
	for i := range out {
		out[i] = roaring.New()
	}
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(sr.DocumentMatchPoolSize(), 0)}
	for {
		d, err := sr.Next(sctx)
		if err != nil {
			return nil, err
		}
		if d == nil {
			return out, nil
		}
		seg, local := s.locate(d.IndexInternalID)
		out[seg].Add(local)
		sctx.DocumentMatchPool.Put(d)
	}
}

// bitmapSearcher is a bleve searcher over a set of matches, unscored (it
// weighs nothing in a conjunction's score or norm).
type bitmapSearcher struct {
	s     *snapshot
	ms    matches
	seg   int
	it    roaring.IntPeekable
	count uint64
}

func newBitmapSearcher(s *snapshot, ms matches) *bitmapSearcher {
	return &bitmapSearcher{s: s, ms: ms, count: ms.count()}
}

// Next returns the next match.
func (b *bitmapSearcher) Next(ctx *search.SearchContext) (*search.DocumentMatch, error) {
	for b.seg < len(b.ms) {
		if b.it == nil {
			b.it = b.ms[b.seg].Iterator()
		}
		if b.it.HasNext() {
			return b.match(ctx, b.it.Next()), nil
		}
		b.seg++
		b.it = nil
	}
	return nil, nil
}

// Advance returns the first match at or after id.
func (b *bitmapSearcher) Advance(ctx *search.SearchContext, id index.IndexInternalID) (*search.DocumentMatch, error) {
	seg, local := b.s.locate(id)
	if seg > b.seg {
		b.seg, b.it = seg, nil
	}
	if b.seg == seg {
		if b.it == nil {
			b.it = b.ms[b.seg].Iterator()
		}
		b.it.AdvanceIfNeeded(local)
	}
	return b.Next(ctx)
}

func (b *bitmapSearcher) match(ctx *search.SearchContext, local uint32) *search.DocumentMatch {
	d := ctx.DocumentMatchPool.Get()
	d.IndexInternalID = binary.BigEndian.AppendUint64(d.IndexInternalID[:0], b.s.segs[b.seg].offset+uint64(local))
	d.Score = 0
	return d
}

func (b *bitmapSearcher) Close() error               { return nil }
func (b *bitmapSearcher) Weight() float64            { return 0 }
func (b *bitmapSearcher) SetQueryNorm(float64)       {}
func (b *bitmapSearcher) Count() uint64              { return b.count }
func (b *bitmapSearcher) Min() int                   { return 0 }
func (b *bitmapSearcher) Size() int                  { return 64 }
func (b *bitmapSearcher) DocumentMatchPoolSize() int { return 1 }

// sortOrder turns "-views,title" into bleve's order for a scored search,
// always ending with the id so the order is total.
func sortOrder(spec string, scored bool, schema filter.Schema) (search.SortOrder, error) {
	var order search.SortOrder
	hasID := false
	if strings.TrimSpace(spec) == "" {
		if scored {
			order = append(order, &search.SortScore{Desc: true})
		} else {
			order = append(order, &search.SortField{Field: FieldCreatedAt, Type: search.SortFieldAsDate, Missing: search.SortFieldMissingLast})
		}
	}
	for _, t := range sortEntries(spec) {
		name, desc := t.name, t.desc
		switch name {
		case "id":
			order = append(order, &search.SortDocID{Desc: desc})
			hasID = true
			continue
		case "_score", "score":
			order = append(order, &search.SortScore{Desc: !desc})
			continue
		}
		kind, ok := metaKinds[name]
		if !ok {
			field, ok := schema[name]
			if !ok {
				return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("sort: unknown field %q", name)}
			}
			kind = field.Kind
		}
		sf := &search.SortField{Field: name, Desc: desc, Missing: search.SortFieldMissingLast}
		switch kind {
		case filter.Number:
			sf.Type = search.SortFieldAsNumber
		case filter.Time:
			sf.Type = search.SortFieldAsDate
		case filter.String, filter.Text, filter.Bool:
			sf.Type = search.SortFieldAsString
		default:
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("sort: field %q is not sortable", name)}
		}
		order = append(order, sf)
	}
	if !hasID {
		order = append(order, &search.SortDocID{})
	}
	return order, nil
}

// metaKinds are the kinds of the sortable meta fields.
var metaKinds = map[string]filter.Kind{
	FieldCreatedAt: filter.Time, FieldUpdatedAt: filter.Time,
	FieldCreatedBy: filter.String, FieldUpdatedBy: filter.String,
}

// highlightFunc marks where q matched the search fields of a resource's
// data. The Manager calls it on the page it reads anyway: the index reads
// no resource to highlight.
func highlightFunc(lay *layout, q string) func(data []byte) map[string][]string {
	h := newHighlighter(q)
	return func(data []byte) map[string][]string { return h.document(lay, data) }
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Cursors are opaque to clients: "s." with bleve's decoded sort values for
// a scored search, "k." with the sort keys' index terms for the others;
// both carry the hash of what they page through.
type searchCursor struct {
	After   []string `json:"a"`
	Binding string   `json:"b"`
}

// cursorValue is one sort key's value in a "k." cursor: the index term,
// or Missing.
type cursorValue struct {
	V       []byte `json:"v,omitempty"`
	Missing bool   `json:"m,omitempty"`
}

type keyCursor struct {
	After   []cursorValue `json:"k"`
	Binding string        `json:"b"`
}

func encodeSearchCursor(after []string, binding string) string {
	raw, _ := json.Marshal(searchCursor{After: after, Binding: binding})
	return "s." + base64.RawURLEncoding.EncodeToString(raw)
}

func encodeKeyCursor(after []cursorValue, binding string) string {
	raw, _ := json.Marshal(keyCursor{After: after, Binding: binding})
	return "k." + base64.RawURLEncoding.EncodeToString(raw)
}

var errBadCursor = &core.Error{Kind: core.ErrInvalid, Detail: "invalid cursor"}

var errForeignCursor = &core.Error{Kind: core.ErrInvalid, Detail: "the cursor belongs to another filter, q or sort"}

func decodeSearchCursor(cursor, binding string) ([]string, error) {
	raw, ok := cursorBytes(cursor, "s.")
	if !ok {
		return nil, cursorMismatch(cursor)
	}
	var c searchCursor
	if err := json.Unmarshal(raw, &c); err != nil || len(c.After) == 0 {
		return nil, errBadCursor
	}
	if c.Binding != binding {
		return nil, errForeignCursor
	}
	return c.After, nil
}

func decodeKeyCursor(cursor, binding string, n int) ([]cursorValue, error) {
	raw, ok := cursorBytes(cursor, "k.")
	if !ok {
		return nil, cursorMismatch(cursor)
	}
	var c keyCursor
	if err := json.Unmarshal(raw, &c); err != nil || len(c.After) != n {
		return nil, errBadCursor
	}
	if c.Binding != binding {
		return nil, errForeignCursor
	}
	return c.After, nil
}

func cursorBytes(cursor, prefix string) ([]byte, bool) {
	if !strings.HasPrefix(cursor, prefix) {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor[len(prefix):])
	return raw, err == nil
}

// cursorMismatch is the error for a cursor of the other kind (a scored
// search's cursor sent with a sort, or the reverse): another order.
func cursorMismatch(cursor string) error {
	if strings.HasPrefix(cursor, "s.") || strings.HasPrefix(cursor, "k.") {
		return errForeignCursor
	}
	return errBadCursor
}

// errNotBuilt is the error of a search that waited too long for a type's
// index being built or rebuilt.
func errNotBuilt(typ string) error {
	return &core.Error{Kind: core.ErrUnavailable, Detail: "the search index of " + typ + " is being built; retry"}
}

// isHidden reports whether path is one of the hidden top-level fields or
// below one.
func isHidden(path string, hidden []string) bool {
	for _, h := range hidden {
		if path == h || strings.HasPrefix(path, h+".") {
			return true
		}
	}
	return false
}
