package index

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// filterPostsType is the type of the property test: every filter kind appears.
var filterPostsType = core.Type{
	Name: "posts",
	Schema: json.RawMessage(`{
		"type": "object",
		"properties": {
			"title": {"type": "string", "maxLength": 100},
			"body": {"type": ["string", "null"]},
			"status": {"type": "string", "enum": ["draft", "published", "archived", "Draft", ""]},
			"views": {"type": ["integer", "null"]},
			"rating": {"type": "number"},
			"published": {"type": "string", "format": "date-time"},
			"tags": {"type": "array", "items": {"type": "string"}},
			"scores": {"type": "array", "items": {"type": "number"}},
			"flag": {"type": "boolean"},
			"misc": {"type": ["string", "number", "boolean", "null"]},
			"author": {"type": "object", "properties": {"name": {"type": "string"}}},
			"comments": {"type": "array", "items": {"type": "object", "properties": {"by": {"type": "string"}}}},
			"dotted.name": {"type": "string"},
			"ref": {"$ref": "#/$defs/x"},
			"id": {"type": "string"}
		}
	}`),
	Search: []string{"title", "tags", "body"},
}

// Value pools: mixed case, unicode with irregular case mappings (Kelvin
// sign, dotted capital I), regexp metacharacters, the empty string.
var (
	fwords    = []string{"Go", "go", "GOLANG", "bleve", "Index", "ünïcode", "ÜNÏCODE", "İstanbul", "istanbul", "\u212Aelvin", "kelvin", "a.b*c", "(x|y)", "[z]", "100%", "under_score", "", "new\nline", "tab\tx", "ß", "ẞig"}
	fstatuses = []string{"draft", "published", "archived", "Draft", ""}
	fusers    = []string{"alice", "bob", "Carol", ""}
	fbaseTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
)

func randWord(r *rand.Rand) string { return fwords[r.IntN(len(fwords))] }

func randTitle(r *rand.Rand) string {
	n := r.IntN(3)
	parts := make([]string, 0, n+1)
	for range n + 1 {
		parts = append(parts, randWord(r))
	}
	return strings.Join(parts, " ")
}

func randTime(r *rand.Rand) time.Time {
	return fbaseTime.Add(time.Duration(r.IntN(40)) * 12 * time.Hour).Add(time.Duration(r.IntN(3)) * time.Millisecond)
}

func randNumber(r *rand.Rand) float64 {
	switch r.IntN(4) {
	case 0:
		return float64(r.IntN(5))
	case 1:
		return float64(r.IntN(2000) - 1000)
	case 2:
		return float64(r.IntN(100)) / 4
	}
	return -float64(r.IntN(10)) / 2
}

type testDoc struct {
	id   string
	data map[string]any
	meta map[string]any
	cm   core.Meta
}

func randDoc(r *rand.Rand, i int) testDoc {
	d := map[string]any{}
	maybe := func(name string, v func() any) {
		switch r.IntN(6) {
		case 0: // missing
		case 1:
			d[name] = nil
		default:
			d[name] = v()
		}
	}
	maybe("title", func() any { return randTitle(r) })
	maybe("body", func() any { return randTitle(r) + " " + randTitle(r) })
	maybe("status", func() any { return fstatuses[r.IntN(len(fstatuses))] })
	maybe("views", func() any { return float64(r.IntN(300)) })
	maybe("rating", func() any { return randNumber(r) })
	maybe("published", func() any {
		t := randTime(r)
		if r.IntN(3) == 0 {
			return t.In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)
		}
		return t.Format(time.RFC3339Nano)
	})
	if r.IntN(4) > 0 { // never empty: an empty array is not indexed
		n := 1 + r.IntN(3)
		tags := make([]any, n)
		for j := range tags {
			tags[j] = randWord(r)
		}
		d["tags"] = tags
	}
	if r.IntN(3) > 0 {
		n := 1 + r.IntN(3)
		sc := make([]any, n)
		for j := range sc {
			sc[j] = randNumber(r)
		}
		d["scores"] = sc
	}
	maybe("flag", func() any { return r.IntN(2) == 0 })
	maybe("misc", func() any {
		switch r.IntN(3) {
		case 0:
			return randWord(r)
		case 1:
			return randNumber(r)
		}
		return r.IntN(2) == 0
	})
	if r.IntN(4) > 0 {
		a := map[string]any{}
		if r.IntN(4) > 0 {
			a["name"] = randWord(r)
		}
		d["author"] = a
	}
	id := fmt.Sprintf("p%03d", i)
	cm := core.Meta{
		CreatedAt: randTime(r).Format(time.RFC3339Nano),
		UpdatedAt: randTime(r).Format(time.RFC3339),
		CreatedBy: fusers[r.IntN(len(fusers))],
		UpdatedBy: fusers[r.IntN(len(fusers))],
	}
	if r.IntN(5) == 0 {
		cm.UpdatedAt = ""
	}
	meta := map[string]any{"id": id}
	for k, v := range map[string]string{"created_at": cm.CreatedAt, "updated_at": cm.UpdatedAt, "created_by": cm.CreatedBy, "updated_by": cm.UpdatedBy} {
		if v != "" {
			meta[k] = v
		}
	}
	return testDoc{id: id, data: d, meta: meta, cm: cm}
}

// quoteLit quotes s for a filter expression.
func quoteLit(s string) string {
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(s)
	return `"` + s + `"`
}

func numLit(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// exprGen generates random filter expressions over filterPostsType.
type exprGen struct {
	r    *rand.Rand
	docs []testDoc
}

func (g *exprGen) strLit(path string) string {
	r := g.r
	switch r.IntN(5) {
	case 0:
		return quoteLit(randWord(r))
	case 1: // an existing value
		d := g.docs[r.IntN(len(g.docs))]
		v, _ := lookupPath(d, path)
		if s, ok := v.(string); ok {
			return quoteLit(s)
		}
		return quoteLit(randWord(r))
	case 2: // a near miss: a piece, or changed case
		w := []rune(randWord(r)) // cut at a rune: filters are UTF-8
		if len(w) > 1 {
			w = w[:r.IntN(len(w))]
		}
		s := string(w)
		if r.IntN(2) == 0 {
			s = strings.ToUpper(s)
		}
		return quoteLit(s)
	case 3:
		return quoteLit(fstatuses[r.IntN(len(fstatuses))])
	}
	return quoteLit(fusers[r.IntN(len(fusers))])
}

func (g *exprGen) timeLit(path string) string {
	r := g.r
	switch r.IntN(4) {
	case 0:
		d := g.docs[r.IntN(len(g.docs))]
		if v, ok := lookupPath(d, path); ok {
			if s, ok := v.(string); ok {
				return quoteLit(s)
			}
		}
	case 1: // another spelling of an instant
		return quoteLit(randTime(r).Format("2006-01-02T15:04:05.000Z07:00"))
	case 2:
		return quoteLit(randTime(r).Add(time.Duration(r.IntN(3)-1) * time.Nanosecond).In(time.FixedZone("", -5*3600)).Format(time.RFC3339Nano))
	}
	if r.IntN(10) == 0 {
		return quoteLit([]string{"1500-01-01T00:00:00Z", "2400-01-01T00:00:00Z", "0001-01-01T00:00:00Z"}[r.IntN(3)])
	}
	return quoteLit(randTime(r).Format(time.RFC3339))
}

func (g *exprGen) numLitFor(path string) string {
	r := g.r
	if r.IntN(2) == 0 {
		d := g.docs[r.IntN(len(g.docs))]
		if v, ok := lookupPath(d, path); ok {
			switch v := v.(type) {
			case float64:
				return numLit(v)
			case []any:
				if f, ok := v[0].(float64); ok {
					return numLit(f)
				}
			}
		}
	}
	if r.IntN(8) == 0 {
		return "-0"
	}
	return numLit(randNumber(r))
}

var cmpOps = []string{"=", "!=", ">", ">=", "<", "<="}

func (g *exprGen) clause() string {
	r := g.r
	null := r.IntN(10) == 0
	nullOp := []string{"=", "!="}[r.IntN(2)]
	fields := []string{"title", "status", "views", "rating", "published", "tags", "scores", "flag", "misc", "author.name", "id", "created_at", "updated_at", "created_by", "updated_by", "body"}
	f := fields[r.IntN(len(fields))]
	if (null || f == "body") && f != "id" {
		return f + " " + nullOp + " null"
	}
	op := func(ops ...string) string { return ops[r.IntN(len(ops))] }
	switch f {
	case "title", "status", "author.name", "created_by", "updated_by":
		return f + " " + op("=", "!=", ">", ">=", "<", "<=", "~", "!~", "~") + " " + g.strLit(f)
	case "views", "rating":
		return f + " " + op(cmpOps...) + " " + g.numLitFor(f)
	case "published", "created_at", "updated_at":
		return f + " " + op(cmpOps...) + " " + g.timeLit(f)
	case "tags":
		return f + " ?= " + g.strLit(f)
	case "scores":
		if r.IntN(5) == 0 {
			return f + " ?= " + g.strLit(f)
		}
		return f + " ?= " + g.numLitFor(f)
	case "flag":
		return f + " " + op("=", "!=") + " " + op("true", "false")
	case "misc":
		switch r.IntN(4) {
		case 0:
			return f + " " + op("=", "!=", ">", "<=", "~", "!~") + " " + g.strLit(f)
		case 1:
			return f + " " + op(cmpOps...) + " " + g.numLitFor(f)
		case 2:
			return f + " " + op("=", "!=") + " " + op("true", "false")
		}
		return f + " ?= " + g.strLit(f)
	case "id":
		if null {
			return "id " + nullOp + " null"
		}
		d := g.docs[r.IntN(len(g.docs))]
		return "id " + op("=", "!=") + " " + quoteLit(d.id)
	}
	panic(f)
}

func (g *exprGen) expr(depth int) string {
	r := g.r
	if depth >= 3 || r.IntN(3) == 0 {
		return g.clause()
	}
	n := 2 + r.IntN(2)
	sep := []string{" && ", " || "}[r.IntN(2)]
	parts := make([]string, n)
	for i := range parts {
		parts[i] = g.expr(depth + 1)
		if r.IntN(2) == 0 {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, sep)
}

func lookupPath(d testDoc, path string) (any, bool) {
	if filter.IsMeta(path) {
		v, ok := d.meta[path]
		return v, ok
	}
	var cur any = d.data
	for p := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func testSeed(t *testing.T) uint64 {
	seed := uint64(20240601)
	if s := os.Getenv("STRATA_QUERY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STRATA_QUERY_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (override with STRATA_QUERY_SEED)", seed)
	return seed
}

// testCases is the number of random cases: STRATA_QUERY_CASES, or def.
func testCases(t *testing.T, def int) int {
	if s := os.Getenv("STRATA_QUERY_CASES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("STRATA_QUERY_CASES: %v", err)
		}
		return n
	}
	return def
}

// propertyIndex builds a disk index of random documents the way the
// indexer leaves one after a while: several segments (batches of 40),
// some documents replaced by later versions and some deleted, so
// obsolete documents sit in older segments. It returns the index and the
// documents it holds.
func propertyIndex(t *testing.T, r *rand.Rand, n int) (bleve.Index, *layout, []testDoc) {
	t.Helper()
	idx, l := newDiskIndex(t, filterPostsType)
	docs := make([]testDoc, n)
	for i := range docs {
		docs[i] = randDoc(r, i)
	}
	put := func(batch []testDoc) {
		b := idx.NewBatch()
		for _, d := range batch {
			raw, err := json.Marshal(d.data)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := l.document(d.id, raw, d.cm)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.IndexAdvanced(doc); err != nil {
				t.Fatal(err)
			}
		}
		if err := idx.Batch(b); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 40 {
		put(docs[i:min(i+40, n)])
	}
	// Replace a sixth of them, and delete a few more.
	var changed []testDoc
	for i := range docs {
		if r.IntN(6) == 0 {
			docs[i] = randDoc(r, i)
			changed = append(changed, docs[i])
		}
	}
	put(changed)
	b := idx.NewBatch()
	kept := docs[:0]
	for _, d := range docs {
		if r.IntN(20) == 0 {
			b.Delete(d.id)
			continue
		}
		kept = append(kept, d)
	}
	if err := idx.Batch(b); err != nil {
		t.Fatal(err)
	}
	return idx, l, kept
}

// TestQueryMatchesFilter checks that the compiled plan of random filters
// finds exactly the documents filter.Match accepts.
func TestQueryMatchesFilter(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	nCases := testCases(t, 4000)
	idx, l, docs := propertyIndex(t, r, 300)
	snap, err := openSnapshot(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if len(snap.segs) < 2 {
		t.Fatalf("want several segments, got %d", len(snap.segs))
	}
	fs := l.filterSchema()
	g := &exprGen{r: r, docs: docs}
	start := time.Now()
	failures := 0
	for range nCases {
		src := g.expr(0)
		e, err := filter.Parse(src, fs, filter.Limits{})
		if err != nil {
			t.Fatalf("generated filter %q does not parse: %v", src, err)
		}
		p, err := l.compileFilter(e)
		if err != nil {
			t.Fatalf("compile %q: %v", src, err)
		}
		want := []string{}
		for _, d := range docs {
			if e.Match(d.data, d.meta) {
				want = append(want, d.id)
			}
		}
		slices.Sort(want)
		ms, err := snap.eval(p)
		if err != nil {
			t.Fatalf("evaluate %q: %v", src, err)
		}
		if got := matchIDs(t, snap, ms); !slices.Equal(got, want) {
			failures++
			reportDiff(t, src, docs, got, want)
		}
		if failures >= 5 {
			t.Fatalf("too many failures (seed %d)", seed)
		}
	}
	t.Logf("%d random filters agree with Match over %d documents in %v", nCases, len(docs), time.Since(start))
}

// sortSpec is a random order over the sortable fields of filterPostsType.
func sortSpec(r *rand.Rand) string {
	fields := []string{"title", "status", "views", "rating", "published", "flag", "author.name", "created_at", "updated_at", "created_by", "id"}
	n := 1 + r.IntN(2)
	var parts []string
	for range n {
		f := fields[r.IntN(len(fields))]
		if r.IntN(2) == 0 {
			f = "-" + f
		}
		parts = append(parts, f)
	}
	if r.IntN(8) == 0 {
		return ""
	}
	return strings.Join(parts, ",")
}

// refValue is a document's value for a sort key, as the order compares
// it; ok is false when it is missing.
func refValue(d testDoc, k sortKey) (v any, ok bool) {
	raw, _ := lookupPath(d, k.field)
	switch k.kind {
	case filter.String:
		s, ok := raw.(string)
		return s, ok
	case filter.Number:
		f, ok := raw.(float64)
		return f + 0, ok // -0 is 0
	case filter.Time:
		s, _ := raw.(string)
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, false
		}
		k, ok := timeKey(tm)
		return k, ok
	case filter.Bool:
		b, ok := raw.(bool)
		return b, ok
	}
	return nil, false
}

func refCompare(a, b any) int {
	switch a := a.(type) {
	case string:
		return strings.Compare(a, b.(string))
	case float64:
		switch bf := b.(float64); {
		case a < bf:
			return -1
		case a > bf:
			return 1
		}
		return 0
	case int64:
		switch bi := b.(int64); {
		case a < bi:
			return -1
		case a > bi:
			return 1
		}
		return 0
	case bool:
		switch bb := b.(bool); {
		case a == bb:
			return 0
		case !a:
			return -1
		}
		return 1
	}
	return 0
}

// refOrder sorts docs as keys say: values compared by type, missing last
// in both directions, ties by the id key.
func refOrder(docs []testDoc, keys []sortKey) {
	slices.SortFunc(docs, func(a, b testDoc) int {
		for _, k := range keys {
			if k.field == FieldID {
				c := strings.Compare(a.id, b.id)
				if k.desc {
					c = -c
				}
				return c
			}
			va, oka := refValue(a, k)
			vb, okb := refValue(b, k)
			switch {
			case !oka && !okb:
				continue
			case !oka:
				return 1
			case !okb:
				return -1
			}
			c := refCompare(va, vb)
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

// TestSortMatchesReference pages through random filters in random orders,
// both by reading every match's sort values and by walking the sort
// field's terms, and checks the pages against a reference sort.
func TestSortMatchesReference(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed^1, seed))
	nCases := testCases(t, 4000) / 8
	idx, l, docs := propertyIndex(t, r, 300)
	snap, err := openSnapshot(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	fs := l.filterSchema()
	g := &exprGen{r: r, docs: docs}
	cols := &columns{}
	for c := range nCases {
		src := ""
		if r.IntN(3) > 0 {
			src = g.clause()
		}
		p := planAnd{}
		var e *filter.Expr
		if src != "" {
			if e, err = filter.Parse(src, fs, filter.Limits{}); err != nil {
				t.Fatalf("generated filter %q does not parse: %v", src, err)
			}
			fp, err := l.compileFilter(e)
			if err != nil {
				t.Fatal(err)
			}
			p = append(p, fp)
		}
		spec := sortSpec(r)
		keys, err := sortKeys(spec, l)
		if err != nil {
			t.Fatalf("sort %q: %v", spec, err)
		}
		var want []string
		var matched []testDoc
		for _, d := range docs {
			if e == nil || e.Match(d.data, d.meta) {
				matched = append(matched, d)
			}
		}
		refOrder(matched, keys)
		for _, d := range matched {
			want = append(want, d.id)
		}
		limit := 1 + r.IntN(7)
		walkAbove := uint64(0) // walk whenever the order allows it
		if c%2 == 1 {
			walkAbove = math.MaxUint64
		}
		ms, err := snap.eval(p)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		req := core.SearchRequest{Sort: spec, Limit: limit}
		for pages := 0; ; pages++ {
			if pages > len(docs) {
				t.Fatalf("filter %q sort %q: the cursor does not advance", src, spec)
			}
			pass := ms
			if c%3 == 0 {
				pass = nil // evaluated by searchSorted, with the bounded walk
			}
			res, err := searchSorted(snap, cols, l, p, pass, req, "b", walkAbove)
			if err != nil {
				t.Fatalf("filter %q sort %q: %v", src, spec, err)
			}
			got = append(got, res.IDs...)
			if res.NextCursor == "" {
				break
			}
			req.Cursor = res.NextCursor
		}
		if !slices.Equal(got, want) {
			t.Fatalf("filter %q sort %q limit %d walk above %d (seed %d):\n got %v\nwant %v", src, spec, limit, walkAbove, seed, got, want)
		}
	}
	t.Logf("%d random orders agree with the reference sort", nCases)
}

func reportDiff(t *testing.T, src string, docs []testDoc, got, want []string) {
	t.Helper()
	byID := map[string]testDoc{}
	for _, d := range docs {
		byID[d.id] = d
	}
	for _, id := range want {
		if !slices.Contains(got, id) {
			d := byID[id]
			raw, _ := json.Marshal(d.data)
			t.Errorf("filter %s\n  matches %s but the plan misses it\n  data %s\n  meta %v", src, id, raw, d.meta)
			return
		}
	}
	for _, id := range got {
		if !slices.Contains(want, id) {
			d := byID[id]
			raw, _ := json.Marshal(d.data)
			t.Errorf("filter %s\n  does not match %s but the plan finds it\n  data %s\n  meta %v", src, id, raw, d.meta)
			return
		}
	}
}
