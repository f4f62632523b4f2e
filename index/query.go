package index

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/registry"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// ErrUnsupported is returned (wrapped) by Query for a clause the index
// cannot answer exactly; the caller should reject the filter (400).
var ErrUnsupported = errors.New("index: filter not supported by the index")

// Query compiles a checked filter expression into a bleve query over an
// index of type t built with Mapping and Document. Its hits are exactly
// the documents for which e.Match is true, within the limits below.
//
// Compilation, per clause:
//
//   - = on a string: a term query on the keyword field; on a number: an
//     inclusive numeric range [v, v] (-0 and 0 are equal); on a boolean:
//     a boolean term; on a time: an inclusive date range [t, t];
//   - > >= < <=: a term range (strings, bytewise), numeric range or date
//     range with the matching inclusive flags;
//   - ~: a regular expression on the keyword field, .*C1C2….* where Ci
//     is the class of every rune whose lower case is that of the literal's
//     i-th rune (so exactly strings.ToLower substring search); an empty
//     literal matches every string value;
//   - !~: "has a string value" and not ~;
//   - ?= on an array: a term or numeric [v, v] on the element field;
//   - = null: not "has a value", where "has a value" is an open range on
//     each index field of the path (keyword, numeric, datetime) and
//     true-or-false for booleans; != null: "has a value";
//   - != v and != null negate through a boolean query whose Must is
//     match-all; && and || become conjunctions and disjunctions;
//   - a literal of a JSON type the field cannot hold (for Any fields)
//     matches nothing for =, > …, and everything for !=.
//
// The id meta field supports = and != (with a string or null), compiled to
// bleve.NewDocIDQuery; other operators on id return an error wrapping
// ErrUnsupported. Fields not in FilterSchema(t) are an error.
//
// Limits (where the index cannot see what Match sees): an empty array,
// or an object value at a scalar path, indexes nothing and so counts as
// missing for = null and != null; a date-time value that bleve cannot
// parse, or one outside 1677-12-01..2262-04-11 (bleve's nanosecond range),
// is not indexed and counts as missing; a schema allowing both an array
// and a scalar at one path is treated as an array, so ?= also matches a
// scalar value equal to the literal.
func Query(e *filter.Expr, t core.Type) (query.Query, error) {
	infos, err := fieldInfos(t)
	if err != nil {
		return nil, err
	}
	return compile(e.Root(), infos)
}

func compile(n filter.Node, infos map[string]fieldInfo) (query.Query, error) {
	switch n := n.(type) {
	case *filter.And:
		qs, err := compileAll(n.Nodes, infos)
		if err != nil {
			return nil, err
		}
		return bleve.NewConjunctionQuery(qs...), nil
	case *filter.Or:
		qs, err := compileAll(n.Nodes, infos)
		if err != nil {
			return nil, err
		}
		return bleve.NewDisjunctionQuery(qs...), nil
	case *filter.Clause:
		return clause(n, infos)
	}
	return nil, fmt.Errorf("index: unknown filter node %T", n)
}

func compileAll(nodes []filter.Node, infos map[string]fieldInfo) ([]query.Query, error) {
	qs := make([]query.Query, 0, len(nodes))
	for _, c := range nodes {
		q, err := compile(c, infos)
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	return qs, nil
}

// metaInfos are the index fields of the meta fields other than id.
var metaInfos = map[string]fieldInfo{
	FieldCreatedAt: {kind: filter.Time, datetime: true},
	FieldUpdatedAt: {kind: filter.Time, datetime: true},
	FieldCreatedBy: {kind: filter.String, keyword: true},
	FieldUpdatedBy: {kind: filter.String, keyword: true},
}

func clause(c *filter.Clause, infos map[string]fieldInfo) (query.Query, error) {
	if c.Field == "id" {
		return idClause(c)
	}
	fi, ok := metaInfos[c.Field]
	if !ok {
		fi, ok = infos[c.Field]
	}
	if !ok {
		return nil, fmt.Errorf("index: unknown filter field %q", c.Field)
	}
	f := c.Field
	if c.Value == nil {
		switch c.Op {
		case filter.Eq:
			return not(present(f, fi)), nil
		case filter.Neq:
			return present(f, fi), nil
		}
		return nil, fmt.Errorf("index: operator %s with null on %q", c.Op, f)
	}
	switch c.Op {
	case filter.Eq:
		if fi.array {
			return none(), nil // an array never equals a scalar
		}
		return eq(f, fi, c.Value), nil
	case filter.Neq:
		if fi.array {
			return present(f, fi), nil
		}
		return not(eq(f, fi, c.Value)), nil
	case filter.Gt, filter.Gte, filter.Lt, filter.Lte:
		if fi.array {
			return none(), nil
		}
		return ordered(f, fi, c.Op, c.Value), nil
	case filter.Like, filter.NotLike:
		lit, _ := c.Value.(string)
		if !fi.keyword || fi.array {
			return none(), nil // no string values
		}
		like := stringsOnly(f, fi, likeQuery(f, lit))
		if c.Op == filter.Like {
			return like, nil
		}
		return and(stringsOnly(f, fi, keywordPresent(f)), not(like)), nil
	case filter.AnyEq:
		if !fi.array {
			return none(), nil
		}
		return eq(f, fi, c.Value), nil
	}
	return nil, fmt.Errorf("index: unknown operator %q", c.Op)
}

// idClause compiles a clause on the id meta field, which every document
// has.
func idClause(c *filter.Clause) (query.Query, error) {
	switch c.Op {
	case filter.Eq, filter.Neq:
		var q query.Query
		switch v := c.Value.(type) {
		case nil:
			q = none()
		case string:
			q = bleve.NewDocIDQuery([]string{v})
		default:
			q = none()
		}
		if c.Op == filter.Neq {
			q = not(q)
		}
		return q, nil
	}
	return nil, fmt.Errorf("%w: operator %s on id", ErrUnsupported, c.Op)
}

// eq matches documents whose value at f (an element, for arrays) equals v.
func eq(f string, fi fieldInfo, v any) query.Query {
	switch v := v.(type) {
	case string:
		if fi.keyword {
			q := bleve.NewTermQuery(v)
			q.SetField(f)
			return q
		}
	case float64:
		if fi.numeric {
			lo, hi := v, v
			if v == 0 {
				lo, hi = math.Copysign(0, -1), 0
			}
			return numRange(f, lo, hi, true, true)
		}
	case bool:
		if fi.boolean {
			q := bleve.NewBoolFieldQuery(v)
			q.SetField(f)
			return q
		}
	case time.Time:
		if fi.datetime {
			if !timeInRange(v) {
				return none()
			}
			return dateRange(f, v, v, true, true)
		}
	}
	return none()
}

// ordered compiles > >= < <= on a scalar path.
func ordered(f string, fi fieldInfo, op filter.Op, v any) query.Query {
	lower := op == filter.Gt || op == filter.Gte
	incl := op == filter.Gte || op == filter.Lte
	switch v := v.(type) {
	case string:
		if !fi.keyword {
			return none()
		}
		if v == "" { // bleve reads an empty bound as open
			switch op {
			case filter.Gt:
				return stringsOnly(f, fi, and(keywordPresent(f), not(eq(f, fi, ""))))
			case filter.Gte:
				return stringsOnly(f, fi, keywordPresent(f))
			case filter.Lt:
				return none()
			}
			return eq(f, fi, "")
		}
		var q *query.TermRangeQuery
		if lower {
			q = bleve.NewTermRangeInclusiveQuery(v, "", &incl, new(false))
		} else {
			q = bleve.NewTermRangeInclusiveQuery("", v, new(true), &incl)
		}
		q.SetField(f)
		return stringsOnly(f, fi, q)
	case float64:
		if !fi.numeric {
			return none()
		}
		if v == 0 { // -0 == 0: pick the bound that includes or excludes both
			if (op == filter.Gt) || (op == filter.Lte) {
				v = 0
			} else {
				v = math.Copysign(0, -1)
			}
		}
		if lower {
			return numRange(f, v, math.Inf(1), incl, true)
		}
		return numRange(f, math.Inf(-1), v, true, incl)
	case time.Time:
		if !fi.datetime {
			return none()
		}
		switch {
		case v.Before(query.MinRFC3339CompatibleTime):
			if lower {
				return datePresent(f)
			}
			return none()
		case v.After(query.MaxRFC3339CompatibleTime):
			if lower {
				return none()
			}
			return datePresent(f)
		}
		if lower {
			return dateRange(f, v, time.Time{}, incl, true)
		}
		return dateRange(f, time.Time{}, v, true, incl)
	}
	return none()
}

func timeInRange(t time.Time) bool {
	return !t.Before(query.MinRFC3339CompatibleTime) && !t.After(query.MaxRFC3339CompatibleTime)
}

// present matches documents with an indexed value at f.
func present(f string, fi fieldInfo) query.Query {
	var qs []query.Query
	if fi.keyword {
		qs = append(qs, keywordPresent(f))
	}
	if fi.numeric {
		qs = append(qs, numRange(f, math.Inf(-1), math.Inf(1), true, true))
	}
	if fi.datetime {
		qs = append(qs, datePresent(f))
	}
	if fi.boolean {
		t := bleve.NewBoolFieldQuery(true)
		t.SetField(f)
		fa := bleve.NewBoolFieldQuery(false)
		fa.SetField(f)
		qs = append(qs, t, fa)
	}
	switch len(qs) {
	case 0:
		return none()
	case 1:
		return qs[0]
	}
	return bleve.NewDisjunctionQuery(qs...)
}

// stringsOnly restricts q, a term range or regexp on keyword field f, to
// documents whose value at f is a string. A path that may also hold numbers
// or booleans (an Any field) shares one term dictionary between its keyword,
// numeric (prefix-coded) and boolean ("T", "F") terms, so a term range or a
// regexp also meets the terms of numbers and booleans; a scalar path holds
// one value, so those documents are exactly the ones with a numeric or
// boolean value there.
func stringsOnly(f string, fi fieldInfo, q query.Query) query.Query {
	var other []query.Query
	if fi.numeric {
		other = append(other, rawNumRange(f, math.Inf(-1), math.Inf(1), true, true))
	}
	if fi.boolean {
		t := bleve.NewBoolFieldQuery(true)
		t.SetField(f)
		fa := bleve.NewBoolFieldQuery(false)
		fa.SetField(f)
		other = append(other, t, fa)
	}
	if len(other) == 0 {
		return q
	}
	return and(q, not(bleve.NewDisjunctionQuery(other...)))
}

// keywordPresent matches documents with a term in keyword field f: a term
// range from the empty term to "\xff", above every UTF-8 string. (A range
// open at both ends does not validate.)
func keywordPresent(f string) query.Query {
	q := bleve.NewTermRangeInclusiveQuery("", "\xff", new(true), new(false))
	q.SetField(f)
	return q
}

// datePresent matches documents with a value in datetime field f: every
// int64 of nanoseconds. (An open date range starts at -Inf, whose bits
// order above the earliest int64 values.)
func datePresent(f string) query.Query {
	lo := numeric.Int64ToFloat64(math.MinInt64)
	hi := numeric.Int64ToFloat64(math.MaxInt64)
	return numRange(f, lo, hi, true, true)
}

// numRange is a numeric range on f. A range holding both a value with the
// sign bit set (-0 included) and one without is split at zero into two
// ranges, [lo, -0] and [0, hi]: bleve splits a range into prefix-coded term
// ranges and enumerates each by incrementing bytes, and a range narrowly
// crossing the sign (as [-0, 0] does: sortable ints -1 and 0) ends in one
// term range whose bounds differ in every byte, which it would enumerate
// practically for ever.
func numRange(f string, lo, hi float64, loIncl, hiIncl bool) query.Query {
	if math.Signbit(lo) && !math.Signbit(hi) {
		neg := rawNumRange(f, lo, math.Copysign(0, -1), loIncl, true)
		pos := rawNumRange(f, 0, hi, true, hiIncl)
		return bleve.NewDisjunctionQuery(neg, pos)
	}
	return rawNumRange(f, lo, hi, loIncl, hiIncl)
}

func rawNumRange(f string, lo, hi float64, loIncl, hiIncl bool) query.Query {
	q := bleve.NewNumericRangeInclusiveQuery(&lo, &hi, &loIncl, &hiIncl)
	q.SetField(f)
	return q
}

// dateRange is a date range on f; a zero time is an open end.
func dateRange(f string, start, end time.Time, startIncl, endIncl bool) query.Query {
	if start.IsZero() {
		lo := numeric.Int64ToFloat64(math.MinInt64)
		hi := numeric.Int64ToFloat64(end.UnixNano())
		return numRange(f, lo, hi, true, endIncl)
	}
	if end.IsZero() {
		lo := numeric.Int64ToFloat64(start.UnixNano())
		hi := numeric.Int64ToFloat64(math.MaxInt64)
		return numRange(f, lo, hi, startIncl, true)
	}
	q := bleve.NewDateRangeInclusiveQuery(start, end, &startIncl, &endIncl)
	q.SetField(f)
	return q
}

// likeQuery matches keyword values of f containing lit, case-insensitively
// as strings.ToLower does it.
func likeQuery(f, lit string) query.Query {
	if lit == "" {
		return keywordPresent(f)
	}
	var b strings.Builder
	b.WriteString(`(?s).*`)
	pre := lowerPreimages()
	for _, r := range lit {
		l := unicode.ToLower(r)
		rs := append([]rune{l}, pre[l]...)
		if len(rs) == 1 {
			writeRune(&b, l)
			continue
		}
		b.WriteByte('[')
		for _, x := range rs {
			writeRune(&b, x)
		}
		b.WriteByte(']')
	}
	b.WriteString(`.*`)
	q := bleve.NewRegexpQuery(b.String())
	q.SetField(f)
	return q
}

func writeRune(b *strings.Builder, r rune) {
	b.WriteString(`\x{`)
	b.WriteString(strconv.FormatInt(int64(r), 16))
	b.WriteByte('}')
}

// lowerPreimages maps each rune l to the other runes r with
// unicode.ToLower(r) == l.
var lowerPreimages = sync.OnceValue(func() map[rune][]rune {
	m := map[rune][]rune{}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if l := unicode.ToLower(r); l != r {
			m[l] = append(m[l], r)
		}
	}
	return m
})

func and(qs ...query.Query) query.Query { return bleve.NewConjunctionQuery(qs...) }

// not matches every document q does not match. Must is match-all
// explicitly: bleve drops a match-none Must and would then read a lone
// MustNot differently.
func not(q query.Query) query.Query {
	b := bleve.NewBooleanQuery()
	b.AddMust(bleve.NewMatchAllQuery())
	b.AddMustNot(q)
	return b
}

func none() query.Query { return bleve.NewMatchNoneQuery() }

// TextQuery returns the full-text query for q over the text fields of t
// (TextField of each search field that Mapping indexes): every part of q
// must match in at least one of the fields. Parts are separated by white
// space:
//
//   - "a quoted phrase" is a phrase query (analysed with TextAnalyzer);
//   - a word ending in * is a prefix query on the lower-cased word (not
//     stemmed: a prefix longer than the stem of a word may miss it);
//   - any other word is a match query, analysed with TextAnalyzer; a word
//     that analyses to several tokens needs all of them.
//
// Parts that analyse to nothing (stop words, punctuation) are dropped. If
// no part is left, or t has no text fields, the query matches nothing.
func TextQuery(q string, t core.Type) query.Query {
	fields := textFields(t)
	var parts []query.Query
	for _, p := range splitText(q) {
		var alts []query.Query
		switch {
		case p.phrase:
			if len(analyse(p.text)) == 0 {
				continue
			}
			for _, f := range fields {
				mq := bleve.NewMatchPhraseQuery(p.text)
				mq.SetField(f)
				mq.Analyzer = TextAnalyzer
				alts = append(alts, mq)
			}
		case strings.HasSuffix(p.text, "*"):
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
	switch len(parts) {
	case 0:
		return none()
	case 1:
		return parts[0]
	}
	return bleve.NewConjunctionQuery(parts...)
}

// textFields lists the text fields Mapping creates for t.
func textFields(t core.Type) []string {
	infos, err := fieldInfos(t)
	if err != nil {
		return nil
	}
	var fields []string
	for _, f := range t.Search {
		if slices.Contains(reserved, f) || strings.Contains(f, ".") {
			continue
		}
		// Mapping indexes top-level string and string-array properties;
		// fieldInfos knows them (a meta-named property is reserved).
		fi, ok := infos[f]
		if !ok || !fi.keyword || slices.Contains(fields, TextField(f)) {
			continue
		}
		fields = append(fields, TextField(f))
	}
	return fields
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

var textAnalyzer = sync.OnceValues(func() (analysis.Analyzer, error) {
	return registry.NewCache().AnalyzerNamed(TextAnalyzer)
})

// analyse returns the tokens of s under TextAnalyzer.
func analyse(s string) analysis.TokenStream {
	a, err := textAnalyzer()
	if err != nil {
		return analysis.TokenStream{&analysis.Token{Term: []byte(s)}}
	}
	return a.Analyze([]byte(s))
}
