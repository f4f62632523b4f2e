package index

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/strata-dev/strata/core"
)

// fieldsAt returns the field mappings at a dotted path of m, nil if none.
func fieldsAt(t testing.TB, m mapping.IndexMapping, path string) []*mapping.FieldMapping {
	t.Helper()
	dm := m.(*mapping.IndexMappingImpl).DefaultMapping
	for _, p := range strings.Split(path, ".") {
		dm = dm.Properties[p]
		if dm == nil {
			return nil
		}
	}
	return dm.Fields
}

type wantField struct {
	path      string
	typ       string // "" means: no field at path
	analyzer  string
	docValues bool
}

func TestMapping(t *testing.T) {
	t.Parallel()
	meta := []wantField{
		{"created_at", "datetime", "", true},
		{"updated_at", "datetime", "", true},
		{"created_by", "text", KeywordAnalyzer, true},
		{"updated_by", "text", KeywordAnalyzer, true},
		{"_id", "", "", false},
	}
	tests := []struct {
		name   string
		schema string
		search []string
		want   []wantField
	}{
		{
			name:   "schemaless",
			schema: `{"type":"object"}`,
			search: []string{"title"},
			want:   []wantField{{"title", "", "", false}, {"_text", "", "", false}},
		},
		{
			name: "scalars",
			schema: `{"type":"object","properties":{
				"s":{"type":"string"},"n":{"type":"number"},"i":{"type":"integer"},
				"b":{"type":"boolean"},"d":{"type":"string","format":"date-time"},
				"day":{"type":"string","format":"date"},"z":{"type":"null"}}}`,
			want: []wantField{
				{"s", "text", KeywordAnalyzer, true},
				{"n", "number", "", true},
				{"i", "number", "", true},
				{"b", "boolean", "", true},
				{"d", "datetime", "", true},
				{"day", "text", KeywordAnalyzer, true},
				{"z", "", "", false},
			},
		},
		{
			name:   "nullable list types",
			schema: `{"type":"object","properties":{"s":{"type":["string","null"]},"n":{"type":["null","integer"]}}}`,
			want:   []wantField{{"s", "text", KeywordAnalyzer, true}, {"n", "number", "", true}},
		},
		{
			name: "arrays",
			schema: `{"type":"object","properties":{
				"tags":{"type":"array","items":{"type":"string"}},
				"scores":{"type":["array","null"],"items":{"type":"number"}},
				"when":{"type":"array","items":{"type":"string","format":"date-time"}},
				"comments":{"type":"array","items":{"type":"object","properties":{"by":{"type":"string"}}}}}}`,
			want: []wantField{
				{"tags", "text", KeywordAnalyzer, false},
				{"scores", "number", "", false},
				{"when", "datetime", "", false},
				{"comments.by", "text", KeywordAnalyzer, false},
			},
		},
		{
			name: "nested objects",
			schema: `{"type":"object","properties":{"author":{"type":"object","properties":{
				"name":{"type":"string"},"address":{"properties":{"zip":{"type":"integer"}}}}}}}`,
			want: []wantField{
				{"author.name", "text", KeywordAnalyzer, true},
				{"author.address.zip", "number", "", true},
			},
		},
		{
			name: "enum const and unions",
			schema: `{"type":"object","properties":{
				"status":{"enum":["draft","live"]},"one":{"const":1},
				"either":{"anyOf":[{"type":"string"},{"type":"integer"}]},
				"ref":{"$ref":"#/$defs/x"}}}`,
			want: []wantField{
				{"status", "text", KeywordAnalyzer, true},
				{"one", "number", "", true},
				{"either", "text+number", KeywordAnalyzer, true},
				{"ref", "", "", false},
			},
		},
		{
			name: "search fields",
			schema: `{"type":"object","properties":{"title":{"type":"string"},
				"tags":{"type":"array","items":{"type":"string"}},"views":{"type":"integer"}}}`,
			search: []string{"title", "tags", "views", "missing"},
			want: []wantField{
				{"title", "text", KeywordAnalyzer, true},
				{"_text.title", "text", TextAnalyzer, false},
				{"_text.tags", "text", TextAnalyzer, false},
				{"_text.views", "", "", false},
				{"_text.missing", "", "", false},
			},
		},
		{
			name:   "reserved and dotted names",
			schema: `{"type":"object","properties":{"created_at":{"type":"integer"},"_text":{"type":"string"},"a.b":{"type":"string"}}}`,
			want:   []wantField{{"_text", "", "", false}, {"a.b", "", "", false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Mapping(core.Type{Name: "x", Schema: json.RawMessage(tt.schema), Search: tt.search})
			if err != nil {
				t.Fatal(err)
			}
			im := m.(*mapping.IndexMappingImpl)
			if im.IndexDynamic || im.StoreDynamic || im.DocValuesDynamic || im.DefaultMapping.Dynamic {
				t.Errorf("dynamic mapping is on")
			}
			for _, w := range append(tt.want, meta...) {
				fields := fieldsAt(t, m, w.path)
				if w.typ == "" {
					if len(fields) != 0 {
						t.Errorf("%s: got %d fields, want none", w.path, len(fields))
					}
					continue
				}
				var types []string
				for _, f := range fields {
					types = append(types, f.Type)
				}
				if got := strings.Join(types, "+"); got != w.typ {
					t.Errorf("%s: got fields %q, want %q", w.path, got, w.typ)
					continue
				}
				f := fields[0]
				if f.Analyzer != w.analyzer || f.DocValues != w.docValues {
					t.Errorf("%s: got type %q analyzer %q docvalues %v, want %q %q %v",
						w.path, f.Type, f.Analyzer, f.DocValues, w.typ, w.analyzer, w.docValues)
				}
				if f.Store || f.IncludeInAll {
					t.Errorf("%s: stored or in _all", w.path)
				}
				if f.IncludeTermVectors != (w.analyzer == TextAnalyzer) {
					t.Errorf("%s: term vectors %v", w.path, f.IncludeTermVectors)
				}
			}
		})
	}
}

func TestMappingBadSchema(t *testing.T) {
	t.Parallel()
	if _, err := Mapping(core.Type{Name: "x", Schema: json.RawMessage(`{`)}); err == nil {
		t.Fatal("want an error for a schema that is not JSON")
	}
}

func TestDocument(t *testing.T) {
	t.Parallel()
	typ := core.Type{Name: "posts", Search: []string{"title", "absent"}}
	meta := core.Meta{CreatedAt: "2026-01-01T00:00:00.000Z", UpdatedAt: "2026-01-02T00:00:00.000Z", CreatedBy: "alice"}
	doc, err := Document(typ, "p1", json.RawMessage(`{"title":"Hi","created_at":5,"_text":"x","n":1}`), meta)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(doc)
	want := `{"_deleted":false,"_text":{"title":"Hi"},"created_at":"2026-01-01T00:00:00.000Z","created_by":"alice","n":1,"title":"Hi","updated_at":"2026-01-02T00:00:00.000Z"}`
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	for _, data := range []string{``, `null`} {
		if doc, err := Document(typ, "p1", json.RawMessage(data), core.Meta{Deleted: true}); err != nil || len(doc) != 1 || doc[FieldDeleted] != true {
			t.Errorf("data %q: got %v, %v; want only the deleted flag", data, doc, err)
		}
	}
	if _, err := Document(typ, "p1", json.RawMessage(`[1]`), meta); err == nil {
		t.Errorf("want an error for data that is not an object")
	}
}

// postsType is a posts-like type for the integration tests.
var postsType = core.Type{
	Name: "posts",
	Schema: json.RawMessage(`{"type":"object","required":["title"],"properties":{
		"title":{"type":"string"},"body":{"type":["string","null"]},
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

// indexPosts indexes posts 0..n-1, with ids p0000…, through Document.
func indexPosts(t testing.TB, idx bleve.Index, typ core.Type, n, pad int, explicit bool) {
	t.Helper()
	b := idx.NewBatch()
	for i := range n {
		data, err := json.Marshal(post(i, pad))
		if err != nil {
			t.Fatal(err)
		}
		meta := core.Meta{CreatedAt: base.Format(time.RFC3339), UpdatedAt: base.Format(time.RFC3339), CreatedBy: "alice"}
		var doc map[string]any
		if explicit {
			doc, err = Document(typ, fmt.Sprintf("p%04d", i), data, meta)
		} else {
			err = json.Unmarshal(data, &doc)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Index(fmt.Sprintf("p%04d", i), doc); err != nil {
			t.Fatal(err)
		}
		if b.Size() == 500 {
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

func TestIndexPosts(t *testing.T) {
	t.Parallel()
	m, err := Mapping(postsType)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := bleve.NewMemOnly(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	const n = 200
	indexPosts(t, idx, postsType, n, 0, true)

	term := func(field, v string) query.Query {
		q := bleve.NewTermQuery(v)
		q.SetField(field)
		return q
	}
	num := func(lo, hi float64) query.Query {
		q := bleve.NewNumericRangeInclusiveQuery(&lo, &hi, new(true), new(true))
		q.SetField("views")
		return q
	}
	match := func(field, text string) query.Query {
		q := bleve.NewMatchQuery(text)
		q.SetField(field)
		return q
	}
	dates := bleve.NewDateRangeInclusiveQuery(base.Add(10*time.Hour), base.Add(12*time.Hour), new(true), new(false))
	dates.SetField("published")
	tag1 := 0
	for i := range n {
		if i%5 == 1 {
			tag1++
		}
	}

	tests := []struct {
		name  string
		q     query.Query
		ids   []string // nil: only the count is checked
		count int
	}{
		{"keyword exact", term("title", "Title 12"), []string{"p0012"}, 1},
		{"keyword is not analysed", term("title", "title"), nil, 0},
		{"keyword match query is exact", match("title", "Title 12"), []string{"p0012"}, 1},
		{"numeric range", num(100, 120), []string{"p0010", "p0011", "p0012"}, 3},
		{"date range", dates, []string{"p0010", "p0011"}, 2},
		{"array element", term("tags", "tag1"), nil, tag1},
		{"nested keyword", term("author.name", "author3"), nil, n / 4},
		{"meta keyword", term("created_by", "alice"), nil, n},
		{"id", bleve.NewDocIDQuery([]string{"p0042", "nope"}), []string{"p0042"}, 1},
		{"full text stemming", match(TextField("body"), "runs"), nil, n},
		{"full text stemmed form", match(TextField("body"), "running"), nil, n},
		{"full text title", match(TextField("title"), "title"), nil, n},
		{"phrase", bleve.NewMatchPhraseQuery("about gamma"), nil, 0}, // no field: default field _all is empty
		{"field not in schema", term("secret", "hidden"), nil, 0},
		{"field not in schema match", match("secret", "hidden"), nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := bleve.NewSearchRequestOptions(tt.q, n, 0, false)
			req.SortBy([]string{"_id"})
			res, err := idx.Search(req)
			if err != nil {
				t.Fatal(err)
			}
			if int(res.Total) != tt.count {
				t.Errorf("got %d hits, want %d", res.Total, tt.count)
			}
			if tt.ids != nil {
				var got []string
				for _, h := range res.Hits {
					got = append(got, h.ID)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.ids) {
					t.Errorf("got %v, want %v", got, tt.ids)
				}
			}
		})
	}

	t.Run("phrase on text field", func(t *testing.T) {
		t.Parallel()
		q := bleve.NewMatchPhraseQuery("about gamma")
		q.SetField(TextField("body"))
		res, err := idx.Search(bleve.NewSearchRequest(q))
		if err != nil {
			t.Fatal(err)
		}
		if int(res.Total) != n/len(words) {
			t.Errorf("got %d hits, want %d", res.Total, n/len(words))
		}
	})

	t.Run("sort by views then id", func(t *testing.T) {
		t.Parallel()
		q := bleve.NewTermQuery("author1")
		q.SetField("author.name")
		req := bleve.NewSearchRequestOptions(q, 5, 0, false)
		req.SortByCustom(search.SortOrder{
			&search.SortField{Field: "views", Type: search.SortFieldAsNumber, Desc: true},
			&search.SortDocID{},
		})
		res, err := idx.Search(req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		if want := []string{"p0197", "p0193", "p0189", "p0185", "p0181"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("sort by keyword then id", func(t *testing.T) {
		t.Parallel()
		req := bleve.NewSearchRequestOptions(bleve.NewMatchAllQuery(), 3, 0, false)
		req.SortBy([]string{"-author.name", "-_id"})
		res, err := idx.Search(req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		if want := []string{"p0199", "p0195", "p0191"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}
