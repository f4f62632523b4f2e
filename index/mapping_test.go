package index

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

type wantPath struct {
	path      string
	kind      filter.Kind // 0 with absent: not indexed
	absent    bool
	docValues bool
	text      bool
}

func TestLayout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		schema string
		search []string
		want   []wantPath
	}{
		{
			name:   "schemaless",
			schema: `{"type":"object"}`,
			search: []string{"title"},
			want:   []wantPath{{path: "title", absent: true}},
		},
		{
			name: "scalars",
			schema: `{"type":"object","properties":{
				"s":{"type":"string"},"n":{"type":"number"},"i":{"type":"integer"},
				"b":{"type":"boolean"},"d":{"type":"string","format":"date-time"},
				"day":{"type":"string","format":"date"},"z":{"type":"null"}}}`,
			want: []wantPath{
				{path: "s", kind: filter.String, docValues: true},
				{path: "n", kind: filter.Number, docValues: true},
				{path: "i", kind: filter.Number, docValues: true},
				{path: "b", kind: filter.Bool, docValues: true},
				{path: "d", kind: filter.Time, docValues: true},
				{path: "day", kind: filter.String, docValues: true},
				{path: "z", absent: true},
			},
		},
		{
			name: "arrays",
			schema: `{"type":"object","properties":{
				"tags":{"type":"array","items":{"type":"string"}},
				"scores":{"type":["array","null"],"items":{"type":"number"}},
				"when":{"type":"array","items":{"type":"string","format":"date-time"}},
				"comments":{"type":"array","items":{"type":"object","properties":{"by":{"type":"string"}}}}}}`,
			want: []wantPath{
				{path: "tags", kind: filter.Array},
				{path: "scores", kind: filter.Array},
				{path: "when", absent: true},
				{path: "comments", absent: true},
				{path: "comments.by", absent: true},
			},
		},
		{
			name: "nested objects",
			schema: `{"type":"object","properties":{"author":{"type":"object","properties":{
				"name":{"type":"string"},"address":{"properties":{"zip":{"type":"integer"}}}}}}}`,
			want: []wantPath{
				{path: "author.name", kind: filter.String, docValues: true},
				{path: "author.address.zip", kind: filter.Number, docValues: true},
			},
		},
		{
			name: "enum const and unions",
			schema: `{"type":"object","properties":{
				"status":{"enum":["draft","live"]},"one":{"const":1},
				"either":{"anyOf":[{"type":"string"},{"type":"integer"}]},
				"ref":{"$ref":"#/$defs/x"}}}`,
			want: []wantPath{
				{path: "status", kind: filter.String, docValues: true},
				{path: "one", kind: filter.Number, docValues: true},
				{path: "either", kind: filter.Any},
				{path: "ref", absent: true},
			},
		},
		{
			name: "search fields",
			schema: `{"type":"object","properties":{"title":{"type":"string","maxLength":200},
				"body":{"type":"string"},"long":{"type":"string","maxLength":5000},
				"tags":{"type":"array","items":{"type":"string"}},"views":{"type":"integer"}}}`,
			search: []string{"title", "body", "long", "tags", "views", "missing"},
			want: []wantPath{
				{path: "title", kind: filter.String, docValues: true, text: true},
				{path: "body", kind: filter.Text, docValues: true, text: true},
				{path: "long", kind: filter.Text, docValues: true, text: true},
				{path: "tags", kind: filter.Array, text: true},
				{path: "views", kind: filter.Number, docValues: true},
				{path: "missing", absent: true},
			},
		},
		{
			name:   "reserved and dotted names",
			schema: `{"type":"object","properties":{"created_at":{"type":"integer"},"_text":{"type":"string"},"_has":{"type":"string"},"a.b":{"type":"string"},"id":{"type":"string"}}}`,
			want:   []wantPath{{path: "created_at", absent: true}, {path: "_text", absent: true}, {path: "_has", absent: true}, {path: "a.b", absent: true}, {path: "id", absent: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := newLayout(core.Type{Name: "x", Schema: json.RawMessage(tt.schema), Search: tt.search})
			if err != nil {
				t.Fatal(err)
			}
			fs := l.filterSchema()
			for _, w := range tt.want {
				fi := l.paths[w.path]
				if w.absent {
					if fi != nil && fi.kind != 0 {
						t.Errorf("%s: indexed as %v, want not", w.path, fi.kind)
					}
					if _, ok := fs[w.path]; ok {
						t.Errorf("%s: in the filter schema", w.path)
					}
					continue
				}
				if fi == nil {
					t.Errorf("%s: not indexed", w.path)
					continue
				}
				if fi.kind != w.kind || fi.docValues != w.docValues || fi.text != w.text {
					t.Errorf("%s: got kind %v doc values %v text %v, want %v %v %v", w.path, fi.kind, fi.docValues, fi.text, w.kind, w.docValues, w.text)
				}
				if fs[w.path].Kind != w.kind {
					t.Errorf("%s: filter kind %v, want %v", w.path, fs[w.path].Kind, w.kind)
				}
				if slices.Contains(l.text, w.path) != w.text {
					t.Errorf("%s: text field %v, want %v", w.path, !w.text, w.text)
				}
			}
		})
	}
}

func TestMappingIsStatic(t *testing.T) {
	t.Parallel()
	m, err := Mapping(postsType)
	if err != nil {
		t.Fatal(err)
	}
	im := m.(*mapping.IndexMappingImpl)
	if im.IndexDynamic || im.StoreDynamic || im.DocValuesDynamic || im.DefaultMapping.Dynamic {
		t.Errorf("dynamic mapping is on")
	}
	if im.ScoringModel != "bm25" {
		t.Errorf("scoring model %q", im.ScoringModel)
	}
	text := im.DefaultMapping.Properties[FieldText].Properties["body"].Fields[0]
	if text.Analyzer != TextAnalyzer || text.IncludeTermVectors || text.Store {
		t.Errorf("text field %+v", text)
	}
	if _, err := Mapping(core.Type{Name: "x", Schema: json.RawMessage(`{`)}); err == nil {
		t.Fatal("want an error for a schema that is not JSON")
	}
}

// fieldTerms returns the terms of each field of d, "name=term" sorted.
func fieldTerms(d *document.Document) []string {
	var out []string
	for _, f := range d.Fields {
		f.Analyze()
		var terms []string
		for term := range f.AnalyzedTokenFrequencies() {
			terms = append(terms, fmt.Sprintf("%q", term))
		}
		sort.Strings(terms)
		dv := ""
		if f.Options().IncludeDocValues() {
			dv = "+dv"
		}
		out = append(out, f.Name()+dv+"="+strings.Join(terms, ","))
	}
	sort.Strings(out)
	return out
}

func TestDocument(t *testing.T) {
	t.Parallel()
	typ := core.Type{Name: "posts", Schema: json.RawMessage(`{"type":"object","properties":{
		"title":{"type":"string","maxLength":100},"body":{"type":"string"},"n":{"type":"number"},
		"tags":{"type":"array","items":{"type":"string"}},"misc":{"type":["string","boolean"]},
		"obj":{"type":"object","properties":{"x":{"type":"boolean"}}}}}`),
		Search: []string{"title", "body", "absent"}}
	meta := core.Meta{CreatedAt: "2026-01-01T00:00:00.000Z", UpdatedAt: "2026-01-02T00:00:00.000Z", CreatedBy: "alice"}
	doc, err := Document(typ, "p1", json.RawMessage(`{"title":"Hi","body":"Running dogs","created_at":5,"_text":"x",
		"n":-0,"tags":["a",1,"b"],"misc":"s","obj":{"x":true},"secret":"y","nul":null}`), meta)
	if err != nil {
		t.Fatal(err)
	}
	got := fieldTerms(doc)
	n := func(name string, dv bool, v int64) string {
		var terms []string
		for shift := uint(precisionStep); shift < 64; shift += precisionStep {
			terms = append(terms, fmt.Sprintf("%q", prefixCoded(v, shift)))
		}
		sort.Strings(terms)
		fine := name
		if dv {
			fine += "+dv"
		}
		return fine + "=" + fmt.Sprintf("%q", prefixCoded(v, 0)) + "\n" + RangeField(name) + "=" + strings.Join(terms, ",")
	}
	created, _ := time.Parse(time.RFC3339, "2026-01-01T00:00:00Z")
	updated, _ := time.Parse(time.RFC3339, "2026-01-02T00:00:00Z")
	want := []string{
		`_deleted="F"`,
		`_has="body","created_at","created_by","misc","n","obj.x","tags","title","updated_at"`,
		`_str="body","created_by","misc","title"`,
		`_text.body="dog","run"`, `_text.title="hi"`,
		`_words.body="\x01dog","\x01run","dogs","running"`, `body+dv="Running dogs"`,
		`created_by+dv="alice"`,
		`misc="ss"`,
		n("n", true, numberKey(0)),
		`obj.x+dv="T"`,
		`tags="a","b"`,
		`title+dv="Hi"`,
		n("created_at", true, created.UnixNano()), n("updated_at", true, updated.UnixNano()),
	}
	want = strings.Split(strings.Join(want, "\n"), "\n")
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, data := range []string{``, `null`} {
		doc, err := Document(typ, "p1", json.RawMessage(data), core.Meta{Deleted: true})
		if err != nil || strings.Join(fieldTerms(doc), " ") != `_deleted="T"` {
			t.Errorf("data %q: got %v, %v; want only the deleted flag", data, fieldTerms(doc), err)
		}
	}
	for _, data := range []string{`[1]`, `{`} {
		if _, err := Document(typ, "p1", json.RawMessage(data), meta); err == nil {
			t.Errorf("data %s: want an error for data that is not an object", data)
		}
	}
}

func TestSplitRange(t *testing.T) {
	t.Parallel()
	values := []int64{minKey, minKey + 1, -1 << 40, -70000, -256, -255, -1, 0, 1, 255, 256, 257, 65535, 65536, 1 << 40, maxKey - 1, maxKey}
	for _, lo := range values {
		for _, hi := range values {
			ranges := splitRange(lo, hi)
			for _, v := range values {
				in := 0
				for _, r := range ranges {
					for shift := uint(0); shift < 64; shift += precisionStep {
						term := string(prefixCoded(v, shift))
						if term >= string(r.lo) && term <= string(r.hi) {
							in++
						}
					}
				}
				want := 0
				if lo <= v && v <= hi {
					want = 1
				}
				if in != want {
					t.Fatalf("[%d, %d] holds %d %d times, want %d (ranges %d)", lo, hi, v, in, want, len(ranges))
				}
			}
		}
	}
}

// postsType is a posts-like type for the integration tests.
var postsType = core.Type{
	Name: "posts",
	Schema: json.RawMessage(`{"type":"object","required":["title"],"properties":{
		"title":{"type":"string","maxLength":200},"body":{"type":["string","null"]},
		"tags":{"type":"array","items":{"type":"string"}},"views":{"type":"integer"},
		"published":{"type":"string","format":"date-time"},
		"author":{"type":"object","properties":{"name":{"type":"string"}}}}}`),
	Search: []string{"title", "body"},
}

var words = []string{"alpha", "beta", "gamma", "delta", "river", "mountain", "cloud", "engine", "garden", "signal"}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// post returns the data of generated post i; about pad bytes of body text
// are added. Post 7 runs, the others run. Every post has a field "secret"
// that is not in the schema.
func post(i, pad int) map[string]any {
	verb := "run"
	if i == 7 {
		verb = "running"
	}
	var body strings.Builder
	fmt.Fprintf(&body, "Post %d about %s: they %s fast.", i, words[i%len(words)], verb)
	for j := 0; body.Len() < pad; j++ {
		body.WriteString(" " + words[(i*7+j*3)%len(words)])
	}
	return map[string]any{
		"title":     fmt.Sprintf("Title %d", i),
		"body":      body.String(),
		"tags":      []string{"tag" + fmt.Sprint(i%5), "tag" + fmt.Sprint(i%3+10)},
		"views":     i * 10,
		"published": base.Add(time.Duration(i) * time.Hour).Format("2006-01-02T15:04:05.000Z"),
		"author":    map[string]any{"name": fmt.Sprintf("author%d", i%4)},
		"secret":    "hidden",
	}
}

// newDiskIndex creates a scorch index of typ in a temporary directory.
func newDiskIndex(t testing.TB, typ core.Type) (bleve.Index, *layout) {
	t.Helper()
	l, err := newLayout(typ)
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.mapping()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := bleve.NewUsing(filepath.Join(t.TempDir(), "idx"), m, scorch.Name, scorch.Name, (&Index{}).indexConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	return idx, l
}

// indexPosts indexes posts 0..n-1, with ids p0000…, in batches of 50 (so
// the index has several segments).
func indexPosts(t testing.TB, idx bleve.Index, l *layout, n, pad int) {
	t.Helper()
	b := idx.NewBatch()
	for i := range n {
		data, err := json.Marshal(post(i, pad))
		if err != nil {
			t.Fatal(err)
		}
		meta := core.Meta{CreatedAt: base.Add(time.Duration(i) * time.Second).Format(time.RFC3339), CreatedBy: "alice"}
		doc, err := l.document(fmt.Sprintf("p%04d", i), data, meta)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.IndexAdvanced(doc); err != nil {
			t.Fatal(err)
		}
		if b.Size() == 50 {
			if err := idx.Batch(b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	if err := idx.Batch(b); err != nil {
		t.Fatal(err)
	}
}

// evalIDs returns the sorted ids of the documents p matches.
func evalIDs(t testing.TB, idx bleve.Index, p plan) []string {
	t.Helper()
	snap, err := openSnapshot(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	ms, err := snap.eval(p)
	if err != nil {
		t.Fatal(err)
	}
	return matchIDs(t, snap, ms)
}

func matchIDs(t testing.TB, snap *snapshot, ms matches) []string {
	t.Helper()
	ids := []string{}
	for si, b := range ms {
		it := b.Iterator()
		for it.HasNext() {
			raw, err := snap.segs[si].seg.DocID(uint64(it.Next()))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, string(raw))
		}
	}
	slices.Sort(ids)
	return ids
}

func TestIndexPosts(t *testing.T) {
	t.Parallel()
	idx, l := newDiskIndex(t, postsType)
	const n = 200
	indexPosts(t, idx, l, n, 0)
	fs := l.filterSchema()
	count := func(f func(i int) bool) int {
		c := 0
		for i := range n {
			if f(i) {
				c++
			}
		}
		return c
	}
	tests := []struct {
		filter string
		ids    []string // nil: only the count is checked
		count  int
	}{
		{`title = "Title 12"`, []string{"p0012"}, 1},
		{`title = "title 12"`, nil, 0},
		{`title ~ "title 12"`, nil, 11}, // 12, 120…129
		{`views >= 100 && views <= 120`, []string{"p0010", "p0011", "p0012"}, 3},
		{`published >= "2026-01-01T10:00:00Z" && published < "2026-01-01T12:00:00Z"`, []string{"p0010", "p0011"}, 2},
		{`tags ?= "tag1"`, nil, count(func(i int) bool { return i%5 == 1 })},
		{`author.name = "author3"`, nil, n / 4},
		{`created_by = "alice"`, nil, n},
		{`id = "p0042" || id = "nope"`, []string{"p0042"}, 1},
		{`body = null`, nil, 0},
		{`body != null`, nil, n},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			t.Parallel()
			e, err := filter.Parse(tt.filter, fs, filter.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.compileFilter(e)
			if err != nil {
				t.Fatal(err)
			}
			got := evalIDs(t, idx, p)
			if len(got) != tt.count || (tt.ids != nil && !slices.Equal(got, tt.ids)) {
				t.Errorf("got %d %v, want %d %v", len(got), got, tt.count, tt.ids)
			}
		})
	}
	// A long text is filtered like any string, from its words.
	for _, f := range []string{`body ~ "RUN"`, `body ~ "post"`, `body != null`} {
		e, err := filter.Parse(f, fs, filter.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.compileFilter(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := evalIDs(t, idx, p); len(got) != n {
			t.Errorf("%s: got %d matches, want %d", f, len(got), n)
		}
	}

	texts := []struct {
		q     string
		count int
	}{
		{"runs", n},
		{"running", n},
		{"title", n},
		{`"about gamma"`, n / len(words)},
		{"gamm*", n / len(words)},
		{"the", 0}, // a stop word only: nothing to match
	}
	for _, tt := range texts {
		t.Run("q "+tt.q, func(t *testing.T) {
			t.Parallel()
			snap, err := openSnapshot(idx)
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Close()
			all, err := snap.eval(planAll{})
			if err != nil {
				t.Fatal(err)
			}
			ms, err := snap.textMatches(core.AsSystem(t.Context()), idx.Mapping(), l.textParts(tt.q), all)
			if err != nil {
				t.Fatal(err)
			}
			if got := int(ms.count()); got != tt.count {
				t.Errorf("got %d hits, want %d", got, tt.count)
			}
			// The candidates of textPlan hold every match.
			cands, err := snap.eval(l.textPlan(tt.q))
			if err != nil {
				t.Fatal(err)
			}
			for i := range ms {
				if !roaring.AndNot(ms[i], cands[i]).IsEmpty() {
					t.Errorf("a match is not among the candidates")
				}
			}
		})
	}
}
