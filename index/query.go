package index

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/registry"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// ErrUnsupported is returned (wrapped) for a clause the index cannot
// answer exactly; the caller should reject the filter (400).
var ErrUnsupported = errors.New("index: filter not supported by the index")

// A plan is a filter compiled against the index's fields: a tree of term
// lookups, term ranges and set operations that evalPlan answers with one
// bitmap of matching documents per segment (see bitmap.go). Filters never
// go through bleve's searchers, which iterate and score every match one
// document at a time; a plan costs bitmap operations and the postings it
// reads, and its result gives counts and membership for free.
type plan interface{ isPlan() }

type (
	// planAll matches every live document, planNone none.
	planAll  struct{}
	planNone struct{}
	// planTerm matches the documents with term in field.
	planTerm struct {
		field string
		term  []byte
	}
	// planRange matches the documents with a term of field between lo and
	// hi (bytewise); a nil hi is open.
	planRange struct {
		field          string
		lo, hi         []byte
		loIncl, hiIncl bool
	}
	// planNumRange matches the documents with a number or date-time in
	// field whose sortable int64 is in [lo, hi]. sorted is true when the
	// field keeps doc values (a single value per document), which lets a
	// small candidate set be checked value by value (segView.evalIn).
	planNumRange struct {
		field  string
		lo, hi int64
		sorted bool
	}
	// planContains matches the documents with a string term of field
	// (after prefix) whose lower case contains lower: the filter
	// evaluator's ~, term by term over the field's dictionary.
	planContains struct {
		field, prefix, lower string
	}
	planIDs struct{ ids []string }
	planAnd []plan
	planOr  []plan
	planNot struct{ p plan }
)

func (planAll) isPlan()      {}
func (planNone) isPlan()     {}
func (planTerm) isPlan()     {}
func (planRange) isPlan()    {}
func (planNumRange) isPlan() {}
func (planContains) isPlan() {}
func (planIDs) isPlan()      {}
func (planAnd) isPlan()      {}
func (planOr) isPlan()       {}
func (planNot) isPlan()      {}

// compileFilter compiles a checked filter expression into a plan over an
// index of l's type. Its matches are exactly the documents for which
// e.Match is true, within the limits below.
//
// Compilation, per clause:
//
//   - = on a string: the keyword term; on a number: the term of its
//     sortable int64 at shift 0 (-0 and 0 are one value); on a boolean: T
//     or F; on a time: the term of its Unix nanoseconds (so other
//     spellings of the same instant match);
//   - > >= < <=: a term range (strings, bytewise) or a range of sortable
//     int64s (numbers, times) with the matching bounds;
//   - ~: the keyword terms whose strings.ToLower contains the literal's,
//     found by going through the field's term dictionary (as a regular
//     expression would, without building an automaton); an empty literal
//     matches every string value;
//   - !~: "has a string value" (FieldStr) and not ~;
//   - ?= on an array: the element's term;
//   - on a long text (kind Text), each operator from its prefix term and
//     words, and the stored text where they are not decisive (longClause);
//   - = null: not "has a value" (FieldHas); != null: "has a value";
//   - != v: the complement of = v; && and || are intersections and unions;
//   - a literal of a JSON type the field cannot hold (for Any fields)
//     matches nothing for =, > …, and everything for !=.
//
// Strings of a field that may also hold numbers or booleans are indexed
// with the prefix "s", so string ranges and ~ never meet
// the terms of numbers ("\x20"…"\x58" first bytes) or booleans ("T",
// "F").
//
// The id meta field supports = and != (with a string or null); other
// operators on id return an error wrapping ErrUnsupported. Fields not in
// the layout are an error.
//
// Limits (where the index cannot see what Match sees): a date-time value
// outside 1677-12-01..2262-04-11 (the range of Unix nanoseconds) is
// present but not comparable, where Match compares it.
func (l *layout) compileFilter(e *filter.Expr) (plan, error) {
	return l.compile(e.Root())
}

func (l *layout) compile(n filter.Node) (plan, error) {
	switch n := n.(type) {
	case *filter.And:
		ps, err := l.compileAll(n.Nodes)
		return mergeRanges(ps), err
	case *filter.Or:
		ps, err := l.compileAll(n.Nodes)
		return planOr(ps), err
	case *filter.Clause:
		return l.clause(n)
	}
	return nil, fmt.Errorf("index: unknown filter node %T", n)
}

func (l *layout) compileAll(nodes []filter.Node) ([]plan, error) {
	ps := make([]plan, 0, len(nodes))
	for _, c := range nodes {
		p, err := l.compile(c)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// mergeRanges intersects the ranges of numbers and times on one field
// among the children of an And: "views >= a && views < b" is one range,
// whose terms are those of the narrow interval, rather than two half-lines
// each holding about half the documents.
func mergeRanges(ps []plan) planAnd {
	out := make(planAnd, 0, len(ps))
	at := map[string]int{}
	for _, p := range ps {
		r, ok := p.(planNumRange)
		if !ok {
			out = append(out, p)
			continue
		}
		if i, seen := at[r.field]; seen {
			prev := out[i].(planNumRange)
			out[i] = planNumRange{field: r.field, lo: max(prev.lo, r.lo), hi: min(prev.hi, r.hi), sorted: r.sorted}
			continue
		}
		at[r.field] = len(out)
		out = append(out, r)
	}
	return out
}

// metaInfos are the index fields of the meta fields other than id.
var metaInfos = map[string]*fieldInfo{
	FieldCreatedAt: {kind: filter.Time, datetime: true, docValues: true},
	FieldUpdatedAt: {kind: filter.Time, datetime: true, docValues: true},
	FieldCreatedBy: {kind: filter.String, keyword: true, docValues: true},
	FieldUpdatedBy: {kind: filter.String, keyword: true, docValues: true},
}

// info returns the field info of a filter or sort path, meta fields first.
func (l *layout) info(path string) *fieldInfo {
	if fi, ok := metaInfos[path]; ok {
		return fi
	}
	if fi := l.paths[path]; fi != nil && fi.kind != 0 {
		return fi
	}
	return nil
}

func (l *layout) clause(c *filter.Clause) (plan, error) {
	if c.Field == "id" {
		return idClause(c)
	}
	fi := l.info(c.Field)
	if fi == nil {
		return nil, fmt.Errorf("index: unknown filter field %q", c.Field)
	}
	f := c.Field
	if c.Value == nil {
		switch c.Op {
		case filter.Eq:
			return planNot{has(f)}, nil
		case filter.Neq:
			return has(f), nil
		}
		return nil, fmt.Errorf("index: operator %s with null on %q", c.Op, f)
	}
	if lit, ok := c.Value.(string); ok && fi.long {
		return longClause(f, c.Op, lit), nil
	}
	switch c.Op {
	case filter.Eq:
		if fi.array {
			return planNone{}, nil // an array never equals a scalar
		}
		return eq(f, fi, c.Value), nil
	case filter.Neq:
		if fi.array {
			return planAll{}, nil // missing, or an array: never equal
		}
		return planNot{eq(f, fi, c.Value)}, nil
	case filter.Gt, filter.Gte, filter.Lt, filter.Lte:
		if fi.array {
			return planNone{}, nil
		}
		return ordered(f, fi, c.Op, c.Value), nil
	case filter.Like, filter.NotLike:
		lit, _ := c.Value.(string)
		if !fi.keyword || fi.array {
			return planNone{}, nil // no string values
		}
		like, err := likePlan(f, fi, lit)
		if err != nil {
			return nil, err
		}
		if c.Op == filter.Like {
			return like, nil
		}
		return planAnd{strPresent(f), planNot{like}}, nil
	case filter.AnyEq:
		if !fi.array {
			return planNone{}, nil
		}
		return eq(f, fi, c.Value), nil
	}
	return nil, fmt.Errorf("index: unknown operator %q", c.Op)
}

// idClause compiles a clause on the id meta field, which every document
// has.
func idClause(c *filter.Clause) (plan, error) {
	switch c.Op {
	case filter.Eq, filter.Neq:
		var p plan = planNone{}
		if v, ok := c.Value.(string); ok {
			p = planIDs{ids: []string{v}}
		}
		if c.Op == filter.Neq {
			p = planNot{p}
		}
		return p, nil
	}
	return nil, fmt.Errorf("%w: operator %s on id", ErrUnsupported, c.Op)
}

// has matches documents with a value other than null at path f.
func has(f string) plan { return planTerm{field: FieldHas, term: []byte(f)} }

// strPresent matches documents with a string value at the scalar path f.
func strPresent(f string) plan { return planTerm{field: FieldStr, term: []byte(f)} }

// eq matches documents whose value at f (an element, for arrays) equals v.
func eq(f string, fi *fieldInfo, v any) plan {
	switch v := v.(type) {
	case string:
		if fi.keyword {
			return planTerm{field: f, term: []byte(fi.strPrefix + v)}
		}
	case float64:
		if fi.numeric {
			return planTerm{field: f, term: prefixCoded(numberKey(v), 0)}
		}
	case bool:
		if fi.boolean {
			return planTerm{field: f, term: boolTerm(v)}
		}
	case time.Time:
		if fi.datetime {
			if k, ok := timeKey(v); ok {
				return planTerm{field: f, term: prefixCoded(k, 0)}
			}
		}
	}
	return planNone{}
}

// ordered compiles > >= < <= on a scalar path.
func ordered(f string, fi *fieldInfo, op filter.Op, v any) plan {
	lower := op == filter.Gt || op == filter.Gte
	incl := op == filter.Gte || op == filter.Lte
	switch v := v.(type) {
	case string:
		if !fi.keyword {
			return planNone{}
		}
		// The string terms of f are those from prefix to the end of the
		// field (no prefix) or up to the next prefix ("s" to "t").
		prefix := fi.strPrefix
		var end []byte
		if prefix != "" {
			end = []byte{prefix[0] + 1}
		}
		if lower {
			return planRange{field: f, lo: []byte(prefix + v), loIncl: incl, hi: end}
		}
		return planRange{field: f, lo: []byte(prefix), loIncl: true, hi: []byte(prefix + v), hiIncl: incl}
	case float64:
		if !fi.numeric {
			return planNone{}
		}
		return keyRange(f, fi, numberKey(v), lower, incl)
	case time.Time:
		if !fi.datetime {
			return planNone{}
		}
		k, ok := timeKey(v)
		switch {
		case ok:
			return keyRange(f, fi, k, lower, incl)
		case v.Before(query.MinRFC3339CompatibleTime) == lower:
			return planNumRange{field: f, lo: minKey, hi: maxKey, sorted: fi.docValues} // every indexed time
		}
		return planNone{}
	}
	return planNone{}
}

// keyRange is the open or closed half-line of sortable int64s from k.
func keyRange(f string, fi *fieldInfo, k int64, lower, incl bool) plan {
	if lower {
		if !incl {
			if k == maxKey {
				return planNone{}
			}
			k++
		}
		return planNumRange{field: f, lo: k, hi: maxKey, sorted: fi.docValues}
	}
	if !incl {
		if k == minKey {
			return planNone{}
		}
		k--
	}
	return planNumRange{field: f, lo: minKey, hi: k, sorted: fi.docValues}
}

// likePlan matches keyword values of f containing lit, case-insensitively
// as strings.ToLower does it.
func likePlan(f string, fi *fieldInfo, lit string) (plan, error) {
	if lit == "" {
		return strPresent(f), nil
	}
	return planContains{field: f, prefix: fi.strPrefix, lower: strings.ToLower(lit)}, nil
}

// TextQuery returns the full-text query for q over the text fields of t
// (TextField of each search field that Mapping indexes): every part of q
// must match in at least one of the fields. Parts are separated by white
// space:
//
//   - a word ending in * is a prefix query on the lower-cased word (not
//     stemmed: a prefix longer than the stem of a word may miss it);
//   - any other word, or "a quoted phrase", is a match query, analysed
//     with TextAnalyzer, that needs all of its tokens in one field. The
//     index keeps no positions: that the tokens of a phrase are in order
//     and adjacent is checked on the stored text of the matches
//     (phraseFilter), which Index.Search does.
//
// Parts that analyse to nothing (stop words, punctuation) are dropped. If
// no part is left, or t has no text fields, the query matches nothing.
func TextQuery(q string, t core.Type) query.Query {
	l, err := newLayout(t)
	if err != nil {
		return bleve.NewMatchNoneQuery()
	}
	return l.textQuery(q)
}

func (l *layout) textQuery(q string) query.Query {
	parts := l.textParts(q)
	switch len(parts) {
	case 0:
		return bleve.NewMatchNoneQuery()
	case 1:
		return parts[0]
	}
	return bleve.NewConjunctionQuery(parts...)
}

// textParts returns the parts of textQuery(q), each a disjunction over the
// text fields, which must all match.
func (l *layout) textParts(q string) []query.Query {
	fields := make([]string, 0, len(l.text))
	for _, f := range l.text {
		fields = append(fields, TextField(f))
	}
	var parts []query.Query
	for _, p := range splitText(q) {
		var alts []query.Query
		switch {
		case !p.phrase && strings.HasSuffix(p.text, "*"):
			pfx := strings.ToLower(strings.TrimRight(p.text, "*"))
			if pfx == "" {
				continue
			}
			for _, f := range fields {
				pq := bleve.NewPrefixQuery(pfx)
				pq.SetField(f)
				alts = append(alts, pq)
			}
		default:
			if len(analyse(p.text)) == 0 {
				continue
			}
			for _, f := range fields {
				mq := bleve.NewMatchQuery(p.text)
				mq.SetField(f)
				mq.Analyzer = TextAnalyzer
				mq.SetOperator(query.MatchQueryOperatorAnd)
				alts = append(alts, mq)
			}
		}
		if len(alts) == 0 {
			continue
		}
		parts = append(parts, bleve.NewDisjunctionQuery(alts...))
	}
	return parts
}

// textPlan is a plan matching every document textQuery(q) matches, and
// few others: each part's analysed terms all in one text field, as a
// match query does; a phrase's terms anywhere in the field (its order is
// left to the scored query); a prefix's terms. It finds the candidates
// of a full-text query from postings bitmaps, so the scored query only
// visits them.
func (l *layout) textPlan(q string) plan {
	var parts planAnd
	for _, p := range splitText(q) {
		var alts planOr
		if !p.phrase && strings.HasSuffix(p.text, "*") {
			pfx := strings.ToLower(strings.TrimRight(p.text, "*"))
			if pfx == "" {
				continue
			}
			for _, f := range l.text {
				alts = append(alts, planRange{field: TextField(f), lo: []byte(pfx), loIncl: true, hi: prefixEnd([]byte(pfx))})
			}
		} else {
			tokens := analyse(p.text)
			if len(tokens) == 0 {
				continue
			}
			for _, f := range l.text {
				all := make(planAnd, 0, len(tokens))
				for _, t := range tokens {
					all = append(all, planTerm{field: TextField(f), term: slices.Clone(t.Term)})
				}
				alts = append(alts, all)
			}
		}
		if len(alts) > 0 {
			parts = append(parts, alts)
		}
	}
	if len(parts) == 0 {
		return planNone{}
	}
	return parts
}

// prefixEnd is the least byte string above every string starting with
// pfx, nil when there is none.
func prefixEnd(pfx []byte) []byte {
	end := slices.Clone(pfx)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

type textPart struct {
	text   string
	phrase bool
}

// splitText splits q into words and "quoted phrases"; an unclosed quote
// runs to the end.
func splitText(q string) []textPart {
	var parts []textPart
	for q != "" {
		q = strings.TrimLeftFunc(q, unicode.IsSpace)
		if q == "" {
			break
		}
		if q[0] == '"' {
			end := strings.IndexByte(q[1:], '"')
			var ph string
			if end < 0 {
				ph, q = q[1:], ""
			} else {
				ph, q = q[1:1+end], q[2+end:]
			}
			if strings.TrimSpace(ph) != "" {
				parts = append(parts, textPart{text: ph, phrase: true})
			}
			continue
		}
		end := strings.IndexFunc(q, unicode.IsSpace)
		if end < 0 {
			end = len(q)
		}
		parts = append(parts, textPart{text: q[:end]})
		q = q[end:]
	}
	return parts
}

// textAnalyzer returns TextAnalyzer. Bleve registers it when package en is
// imported, which this package does, so the lookup cannot fail; should it
// ever, a keyword-like analyzer keeps indexing and queries consistent.
var textAnalyzer = sync.OnceValue(func() analysis.Analyzer {
	a, err := registry.NewCache().AnalyzerNamed(TextAnalyzer)
	if err != nil {
		return wholeAnalyzer{}
	}
	return a
})

// wholeAnalyzer makes the whole input one token.
type wholeAnalyzer struct{}

func (wholeAnalyzer) Analyze(b []byte) analysis.TokenStream {
	return analysis.TokenStream{&analysis.Token{Term: b, Start: 0, End: len(b), Position: 1}}
}

// analyse returns the tokens of s under TextAnalyzer.
func analyse(s string) analysis.TokenStream { return textAnalyzer().Analyze([]byte(s)) }
