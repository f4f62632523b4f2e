package index

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// refVal is a value as the brute-force reference counts it: kind 0 a
// number or a time (n or nanos), 1 a boolean, 2 a string, which is the
// order of their index terms.
type refVal struct {
	kind  int
	n     float64
	nanos int64
	time  bool
	b     bool
	s     string
}

func compareRef(a, b refVal) int {
	if c := cmp.Compare(a.kind, b.kind); c != 0 {
		return c
	}
	switch a.kind {
	case 0:
		if a.time {
			return cmp.Compare(a.nanos, b.nanos)
		}
		return cmp.Compare(a.n, b.n)
	case 1:
		switch {
		case a.b == b.b:
			return 0
		case !a.b:
			return -1
		}
		return 1
	}
	return strings.Compare(a.s, b.s)
}

func (v refVal) value() any {
	switch {
	case v.kind == 0 && v.time:
		return time.Unix(0, v.nanos).UTC().Format(time.RFC3339Nano)
	case v.kind == 0:
		return v.n
	case v.kind == 1:
		return v.b
	}
	return v.s
}

// refScalar is the value the index keeps of the scalar v at a path of
// field info fi, if any.
func refScalar(v any, fi *fieldInfo) (refVal, bool) {
	switch v := v.(type) {
	case string:
		if fi.keyword {
			return refVal{kind: 2, s: v}, true
		}
		if fi.datetime {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return refVal{}, false
			}
			k, ok := timeKey(t)
			return refVal{kind: 0, time: true, nanos: k}, ok
		}
	case float64:
		if fi.numeric {
			if v == 0 {
				v = 0 // -0
			}
			return refVal{kind: 0, n: v}, true
		}
	case bool:
		if fi.boolean {
			return refVal{kind: 1, b: v}, true
		}
	}
	return refVal{}, false
}

// refValues lists the distinct values a document holds at path.
func refValues(d testDoc, path string, fi *fieldInfo) []refVal {
	v, ok := lookupPath(d, path)
	if !ok || v == nil {
		return nil
	}
	var out []refVal
	if fi.array {
		els, ok := v.([]any)
		if !ok {
			return nil
		}
		for _, el := range els {
			if rv, ok := refScalar(el, fi); ok && !slices.ContainsFunc(out, func(o refVal) bool { return compareRef(o, rv) == 0 }) {
				out = append(out, rv)
			}
		}
		return out
	}
	if rv, ok := refScalar(v, fi); ok {
		out = append(out, rv)
	}
	return out
}

// refFacet counts a facet by brute force over docs.
func refFacet(docs []testDoc, path string, fi *fieldInfo, size int) []core.FacetValue {
	type entry struct {
		v refVal
		n int
	}
	var all []entry
	for _, d := range docs {
		for _, v := range refValues(d, path, fi) {
			i := slices.IndexFunc(all, func(e entry) bool { return compareRef(e.v, v) == 0 })
			if i < 0 {
				all = append(all, entry{v: v})
				i = len(all) - 1
			}
			all[i].n++
		}
	}
	slices.SortFunc(all, func(a, b entry) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return compareRef(a.v, b.v)
	})
	out := []core.FacetValue{}
	for _, e := range all[:min(size, len(all))] {
		out = append(out, core.FacetValue{Value: e.v.value(), Count: e.n})
	}
	return out
}

// refStats summarises the numbers of docs at path by brute force.
func refStats(docs []testDoc, path string) (count int, lo, hi, sum float64) {
	for _, d := range docs {
		v, _ := lookupPath(d, path)
		x, ok := v.(float64)
		if !ok {
			continue
		}
		if count == 0 || x < lo {
			lo = x
		}
		if count == 0 || x > hi {
			hi = x
		}
		count++
		sum += x
	}
	return count, lo, hi, sum
}

// close reports whether a and b agree to a relative 1e-9 (sums of the
// same numbers in another order).
func closeTo(a, b float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= 1e-9*max(math.Abs(a), math.Abs(b), 1)
}

// facetFields are the fields of filterPostsType a facet may name, and
// statsFields those stats may.
var (
	facetFields = []string{"title", "status", "views", "rating", "published", "tags", "scores", "flag", "misc", "author.name", "created_at", "updated_at", "created_by", "updated_by"}
	statsFields = []string{"views", "rating"}
)

// TestFacetsMatchBruteForce checks facets and stats over random filters
// and owners against counts made by brute force over the documents the
// exact evaluator (filter.Expr.Match) accepts, with each way of counting
// a segment forced in turn.
func TestFacetsMatchBruteForce(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, seed^0x51f15e))
	nCases := testCases(t, 4000) / 8
	idx, l, docs := propertyIndex(t, r, 300)
	snap, err := openSnapshot(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	fs := l.filterSchema()
	g := &exprGen{r: r, docs: docs}
	policies := []struct {
		name string
		cp   countPolicy
	}{
		{"default", defaultCounts()},
		{"postings", countPolicy{fewTerms: math.MaxUint64}},
		{"ordinals", countPolicy{ordinals: true, fewTerms: maxOrdinals, termsPerMatch: 1 << 40}},
		{"map", countPolicy{termsPerMatch: 1 << 40, mapMatches: math.MaxUint64}},
		{"walk", countPolicy{termsPerMatch: 1 << 40}},
	}
	var cols columns
	var ords ordinals
	failures, nonEmpty := 0, 0
	for i := range nCases {
		src := ""
		if r.IntN(4) > 0 {
			src = g.expr(0)
		}
		owner := ""
		if r.IntN(4) == 0 {
			owner = fusers[r.IntN(len(fusers)-1)]
		}
		var p planAnd
		matched := docs
		if src != "" {
			e, err := filter.Parse(src, fs, filter.Limits{})
			if err != nil {
				t.Fatalf("generated filter %q does not parse: %v", src, err)
			}
			fp, err := l.compileFilter(e)
			if err != nil {
				t.Fatalf("compile %q: %v", src, err)
			}
			p = append(p, fp)
			matched = nil
			for _, d := range docs {
				if e.Match(d.data, d.meta) {
					matched = append(matched, d)
				}
			}
		}
		if owner != "" {
			p = append(p, planTerm{field: FieldCreatedBy, term: []byte(owner)})
			matched = slices.DeleteFunc(slices.Clone(matched), func(d testDoc) bool { return d.cm.CreatedBy != owner })
		}
		req := core.SearchRequest{}
		for _, f := range pick(r, facetFields) {
			req.Facets = append(req.Facets, core.FacetRequest{Field: f, Size: r.IntN(12)})
		}
		req.Stats = pick(r, statsFields)
		facets, stats, err := l.aggFields(req)
		if err != nil {
			t.Fatalf("fields of %+v: %v", req, err)
		}
		ms, err := snap.eval(p)
		if err != nil {
			t.Fatal(err)
		}
		cp := policies[i%len(policies)]
		gotF, gotS, err := aggregate(t.Context(), snap, &cols, &ords, cp.cp, facets, stats, ms)
		if err != nil {
			t.Fatalf("aggregate %q: %v", src, err)
		}
		for _, f := range facets {
			want := refFacet(matched, f.name, f.fi, f.size)
			if got := gotF[f.name]; !reflect.DeepEqual(got, want) {
				failures++
				t.Errorf("%s: filter %q owner %q: facet %s:%d\n got %v\nwant %v", cp.name, src, owner, f.name, f.size, got, want)
			}
		}
		for _, f := range stats {
			n, lo, hi, sum := refStats(matched, f.name)
			got := gotS[f.name]
			ok := got.Count == n
			if n == 0 {
				ok = ok && got.Min == nil && got.Max == nil && got.Sum == nil && got.Avg == nil
			} else {
				ok = ok && got.Min != nil && *got.Min == lo && *got.Max == hi && got.Sum != nil && closeTo(*got.Sum, sum) &&
					closeTo(*got.Avg, sum/float64(n))
			}
			if !ok {
				failures++
				t.Errorf("%s: filter %q owner %q: stats %s: got %s, want count %d min %v max %v sum %v", cp.name, src, owner, f.name, fmtStats(got), n, lo, hi, sum)
			}
		}
		for _, f := range facets {
			nonEmpty += min(len(gotF[f.name]), 1)
		}
		if failures >= 5 {
			t.Fatalf("too many failures (seed %d)", seed)
		}
	}
	// The cases must count something, or they prove nothing.
	if nonEmpty < nCases/4 {
		t.Fatalf("only %d facets of %d cases hold values", nonEmpty, nCases)
	}
	t.Logf("%d cases, %d non-empty facets", nCases, nonEmpty)
}

func fmtStats(s core.FieldStats) string {
	f := func(p *float64) string {
		if p == nil {
			return "null"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("count %d min %s max %s sum %s avg %s", s.Count, f(s.Min), f(s.Max), f(s.Sum), f(s.Avg))
}

// pick returns a random subset of fields, in random order.
func pick(r *rand.Rand, fields []string) []string {
	out := slices.Clone(fields)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:r.IntN(min(4, len(out))+1)]
}

// TestAggregateFields checks which facet and stats fields a search
// refuses, each with a message naming the field.
func TestAggregateFields(t *testing.T) {
	t.Parallel()
	l, err := newLayout(filterPostsType)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  core.SearchRequest
		want string // "" when accepted
	}{
		{"keyword", core.SearchRequest{Facets: []core.FacetRequest{{Field: "status"}, {Field: "tags", Size: 100}}}, ""},
		{"meta", core.SearchRequest{Facets: []core.FacetRequest{{Field: "created_by"}, {Field: "created_at"}}}, ""},
		{"nested", core.SearchRequest{Facets: []core.FacetRequest{{Field: "author.name"}}}, ""},
		{"stats", core.SearchRequest{Stats: []string{"views", "rating"}}, ""},
		{"unknown", core.SearchRequest{Facets: []core.FacetRequest{{Field: "nope"}}}, `facets: unknown field "nope"`},
		{"id", core.SearchRequest{Facets: []core.FacetRequest{{Field: "id"}}}, `facets: unknown field "id"`},
		{"object", core.SearchRequest{Facets: []core.FacetRequest{{Field: "author"}}}, `facets: unknown field "author"`},
		{"below array", core.SearchRequest{Facets: []core.FacetRequest{{Field: "comments.by"}}}, `facets: unknown field "comments.by"`},
		{"hidden", core.SearchRequest{Facets: []core.FacetRequest{{Field: "status"}}, Hidden: []string{"status"}}, `facets: unknown field "status"`},
		{"hidden below", core.SearchRequest{Facets: []core.FacetRequest{{Field: "author.name"}}, Hidden: []string{"author"}}, `facets: unknown field "author.name"`},
		{"long text", core.SearchRequest{Facets: []core.FacetRequest{{Field: "body"}}}, `facets: field "body" is long full-text`},
		{"size", core.SearchRequest{Facets: []core.FacetRequest{{Field: "status", Size: 101}}}, `facets: the size of "status"`},
		{"negative size", core.SearchRequest{Facets: []core.FacetRequest{{Field: "status", Size: -1}}}, `facets: the size of "status"`},
		{"twice", core.SearchRequest{Facets: []core.FacetRequest{{Field: "status"}, {Field: "status", Size: 3}}}, `facets: field "status" is named twice`},
		{"stats string", core.SearchRequest{Stats: []string{"status"}}, `stats: field "status" is not a number field`},
		{"stats time", core.SearchRequest{Stats: []string{"published"}}, `stats: field "published" is not a number field`},
		{"stats array", core.SearchRequest{Stats: []string{"scores"}}, `stats: field "scores" is not a number field`},
		{"stats unknown", core.SearchRequest{Stats: []string{"nope"}}, `stats: unknown field "nope"`},
		{"stats hidden", core.SearchRequest{Stats: []string{"views"}, Hidden: []string{"views"}}, `stats: unknown field "views"`},
		{"stats twice", core.SearchRequest{Stats: []string{"views", "views"}}, `stats: field "views" is named twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := l.aggFields(c.req)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want %q", c.want)
			case c.want != "":
				var ce *core.Error
				if !errors.As(err, &ce) || ce.Kind != core.ErrInvalid || !strings.HasPrefix(ce.Detail, c.want) {
					t.Fatalf("got %v, want an invalid-request error starting %q", err, c.want)
				}
			}
		})
	}
}

// TestStatsOverflow checks that a sum beyond float64 is null while the
// average stays exact enough.
func TestStatsOverflow(t *testing.T) {
	t.Parallel()
	var a statsAcc
	a.add(math.MaxFloat64/2, 3)
	a.add(math.MaxFloat64, 1)
	s := a.result()
	if s.Count != 4 || s.Sum != nil || s.Avg == nil || !closeTo(*s.Avg, math.MaxFloat64*5/8) || *s.Min != math.MaxFloat64/2 || *s.Max != math.MaxFloat64 {
		t.Fatalf("got %s", fmtStats(s))
	}
	var empty statsAcc
	if s := empty.result(); s.Count != 0 || s.Min != nil || s.Sum != nil || s.Avg != nil {
		t.Fatalf("empty: got %s", fmtStats(s))
	}
}

// TestFacetsManyTerms checks fields at and around the ordinal columns'
// bound of maxOrdinals terms in one segment, single- and multi-valued,
// with the matches a filter leaves and with every document.
func TestFacetsManyTerms(t *testing.T) {
	t.Parallel()
	typ := core.Type{Name: "codes", Schema: json.RawMessage(`{"type":"object","properties":{
		"a":{"type":"string"},"b":{"type":"string"},"c":{"type":"string"},
		"as":{"type":"array","items":{"type":"string"}},"bs":{"type":"array","items":{"type":"string"}},
		"n":{"type":"number"}}}`)}
	idx, l := newDiskIndex(t, typ)
	r := rand.New(rand.NewPCG(1, 2))
	var docs []testDoc
	b := idx.NewBatch()
	for i := range 1200 {
		// a has 255 terms, b 256, c 257; as 256 terms, bs 257.
		d := map[string]any{
			"a": fmt.Sprint(i % 255), "b": fmt.Sprint(i % 256), "c": fmt.Sprint(i % 257),
			"as": []any{fmt.Sprint(i % 256), fmt.Sprint(r.IntN(256))}, "bs": []any{fmt.Sprint(i % 257)}, "n": float64(i % 300),
		}
		td := testDoc{id: fmt.Sprintf("d%04d", i), data: d, meta: map[string]any{"id": fmt.Sprintf("d%04d", i)}}
		raw, _ := json.Marshal(d)
		doc, err := l.document(td.id, raw, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.IndexAdvanced(doc); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, td)
	}
	if err := idx.Batch(b); err != nil {
		t.Fatal(err)
	}
	snap, err := openSnapshot(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var cols columns
	var ords ordinals
	req := core.SearchRequest{Stats: []string{"n"}}
	for _, f := range []string{"a", "b", "c", "as", "bs", "n"} {
		req.Facets = append(req.Facets, core.FacetRequest{Field: f, Size: core.MaxFacetSize})
	}
	facets, stats, err := l.aggFields(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"", `n < 120`, `n >= 7`} {
		p := planAnd{}
		matched := docs
		if src != "" {
			e, err := filter.Parse(src, l.filterSchema(), filter.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			fp, err := l.compileFilter(e)
			if err != nil {
				t.Fatal(err)
			}
			p = append(p, fp)
			matched = nil
			for _, d := range docs {
				if e.Match(d.data, d.meta) {
					matched = append(matched, d)
				}
			}
		}
		ms, err := snap.eval(p)
		if err != nil {
			t.Fatal(err)
		}
		gotF, gotS, err := aggregate(t.Context(), snap, &cols, &ords, defaultCounts(), facets, stats, ms)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range facets {
			if want := refFacet(matched, f.name, f.fi, f.size); !reflect.DeepEqual(gotF[f.name], want) {
				t.Errorf("filter %q: facet %s\n got %v\nwant %v", src, f.name, gotF[f.name], want)
			}
		}
		n, lo, hi, sum := refStats(matched, "n")
		if s := gotS["n"]; s.Count != n || *s.Min != lo || *s.Max != hi || !closeTo(*s.Sum, sum) {
			t.Errorf("filter %q: stats %s, want %d %v %v %v", src, fmtStats(s), n, lo, hi, sum)
		}
	}
}

// TestCachesKeepTheirFieldNames: the column, ordinal and word caches
// outlive the request that named a field, whose name may sit in a buffer
// the server reuses for the next request (fasthttp's): they keep copies.
// A kept name that changed under the map would find another field's
// column (or miss, then rehash into the wrong bucket).
func TestCachesKeepTheirFieldNames(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	idx, l, _ := propertyIndex(t, r, 50)
	snap, err := openSnapshot(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	var cols columns
	var ords ordinals
	for _, name := range []string{"status", "views", "tags"} {
		buf := []byte(name) // the request's buffer
		field := unsafe.String(&buf[0], len(buf))
		req := core.SearchRequest{Facets: []core.FacetRequest{{Field: field, Size: 5}}}
		facets, _, err := l.aggFields(req)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := snap.eval(planAnd{})
		if err != nil {
			t.Fatal(err)
		}
		ms[0].Remove(ms[0].Minimum()) // not every document: no shortcut from the postings' sizes
		for _, cp := range []countPolicy{
			{ordinals: true, fewTerms: maxOrdinals, termsPerMatch: 1 << 40},
			{termsPerMatch: 1 << 40, mapMatches: math.MaxUint64},
		} {
			if _, _, err := aggregate(t.Context(), snap, &cols, &ords, cp, facets, nil, ms); err != nil {
				t.Fatal(err)
			}
		}
		for i := range buf {
			buf[i] = 'z' // the next request
		}
	}
	for k := range cols.sort.m {
		if strings.Trim(k.field, "z") == "" {
			t.Errorf("a sort column is cached under a name that changed: %q", k.field)
		}
	}
	for k := range ords.m {
		if strings.Trim(k.field, "z") == "" {
			t.Errorf("an ordinal column is cached under a name that changed: %q", k.field)
		}
	}
	if len(cols.sort.m) == 0 || len(ords.m) == 0 {
		t.Fatalf("nothing cached: %d columns, %d ordinal columns", len(cols.sort.m), len(ords.m))
	}
}
