package server_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index"
	"github.com/strata-dev/strata/index/filter"
)

// goodsType has a field of every kind a facet counts: a keyword, an array
// of keywords, numbers, a boolean, a date-time, a field of mixed kinds,
// a long text (which keeps no exact values) and a hidden field.
const goodsType = `{"name":"goods","schema":{"type":"object","properties":{
	"title":{"type":"string","maxLength":100},"body":{"type":"string"},
	"status":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},
	"views":{"type":"integer"},"price":{"type":"number"},"sold":{"type":"boolean"},
	"at":{"type":"string","format":"date-time"},"misc":{"type":["string","number","boolean"]},
	"cost":{"type":"number"}}},
	"search":["title","body"],"hidden":["cost"],
	"permissions":{"read":["public"],"create":["authenticated"],"update":["owner"],"delete":["owner"]}}`

// goods are created in this order; their ids are g0, g1, …
var goods = []string{
	`{"title":"apple","body":"red fruit","status":"open","tags":["a","b","a"],"views":10,"price":1.5,"sold":true,"at":"2026-01-01T10:00:00+02:00","misc":"x","cost":1}`,
	`{"title":"pear","body":"green fruit","status":"open","tags":["b"],"views":20,"price":2.5,"sold":false,"at":"2026-01-01T08:00:00Z","misc":3}`,
	`{"title":"plum","body":"blue fruit","status":"closed","tags":["c","b"],"views":10,"sold":true,"misc":true}`,
	`{"title":"kiwi","body":"brown fruit","status":"draft","tags":[],"views":30,"price":-4}`,
	`{"title":"lime","body":"green stone","status":"open","views":5,"price":0.5}`,
}

func seedGoods(ts *testServer) {
	ts.t.Helper()
	ts.defineType(goodsType)
	for i, g := range goods {
		body := `{"id":"g` + fmt.Sprint(i) + `",` + g[1:]
		ts.must(201, "POST", "/api/goods", body)
	}
}

// TestListFacets: facets and stats count every match of the filter and q,
// not the page; refused fields and sizes are 400s naming them.
func TestListFacets(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	seedGoods(ts)
	// A soft-deleted resource counts only with include_deleted.
	ts.must(201, "POST", "/api/goods", `{"id":"gone","title":"gone","status":"gone","views":1000}`)
	ts.must(204, "DELETE", "/api/goods/gone", nil)

	type fv = map[string]any
	cases := []struct {
		name, query string
		facets      map[string][]fv
		stats       map[string]fv
	}{
		{"plain list", "facets=status,tags:2&limit=1", map[string][]fv{
			"status": {{"value": "open", "count": 3.0}, {"value": "closed", "count": 1.0}, {"value": "draft", "count": 1.0}},
			// a twice in one array counts once; ties by value.
			"tags": {{"value": "b", "count": 3.0}, {"value": "a", "count": 1.0}},
		}, nil},
		{"filter", "filter=" + url.QueryEscape(`views >= 10`) + "&facets=status,views,sold,misc&total=true&limit=1", map[string][]fv{
			"status": {{"value": "open", "count": 2.0}, {"value": "closed", "count": 1.0}, {"value": "draft", "count": 1.0}},
			"views":  {{"value": 10.0, "count": 2.0}, {"value": 20.0, "count": 1.0}, {"value": 30.0, "count": 1.0}},
			"sold":   {{"value": true, "count": 2.0}, {"value": false, "count": 1.0}},
			"misc":   {{"value": 3.0, "count": 1.0}, {"value": true, "count": 1.0}, {"value": "x", "count": 1.0}},
		}, nil},
		{"q", "q=fruit&facets=status&stats=views", map[string][]fv{
			"status": {{"value": "open", "count": 2.0}, {"value": "closed", "count": 1.0}, {"value": "draft", "count": 1.0}},
		}, map[string]fv{"views": {"count": 4.0, "min": 10.0, "max": 30.0, "sum": 70.0, "avg": 17.5}}},
		{"date-time", "facets=at&filter=" + url.QueryEscape(`at != null`), map[string][]fv{
			"at": {{"value": "2026-01-01T08:00:00Z", "count": 2.0}},
		}, nil},
		{"stats", "stats=price,views&sort=title", nil, map[string]fv{
			"price": {"count": 4.0, "min": -4.0, "max": 2.5, "sum": 0.5, "avg": 0.125},
			"views": {"count": 5.0, "min": 5.0, "max": 30.0, "sum": 75.0, "avg": 15.0},
		}},
		{"no numbers", "stats=price&filter=" + url.QueryEscape(`title = "plum"`), nil, map[string]fv{
			"price": {"count": 0.0, "min": nil, "max": nil, "sum": nil, "avg": nil},
		}},
		{"nothing matches", "facets=status&filter=" + url.QueryEscape(`views > 1000`), map[string][]fv{"status": {}}, nil},
		{"deleted", "facets=status&include_deleted=true&filter=" + url.QueryEscape(`views > 100`), map[string][]fv{
			"status": {{"value": "gone", "count": 1.0}},
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := ts.must(200, "GET", "/api/goods?"+c.query, nil).JSON(t)
			if c.facets != nil {
				want, _ := json.Marshal(c.facets)
				got, _ := json.Marshal(body["facets"])
				if string(got) != string(want) {
					t.Errorf("facets\n got %s\nwant %s", got, want)
				}
			} else if _, ok := body["facets"]; ok {
				t.Errorf("facets not asked for, got %v", body["facets"])
			}
			if c.stats != nil {
				want, _ := json.Marshal(c.stats)
				got, _ := json.Marshal(body["stats"])
				if string(got) != string(want) {
					t.Errorf("stats\n got %s\nwant %s", got, want)
				}
			}
		})
	}
	t.Run("sums to total", func(t *testing.T) {
		body := ts.must(200, "GET", "/api/goods?facets=status&total=true&limit=1&filter="+url.QueryEscape(`views < 25`), nil).JSON(t)
		sum := 0.0
		for _, v := range body["facets"].(map[string]any)["status"].([]any) {
			sum += v.(map[string]any)["count"].(float64)
		}
		if sum != body["total"] {
			t.Fatalf("facet counts sum to %v, total %v", sum, body["total"])
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct{ query, detail string }{
			{"facets=nope", `unknown field "nope"`},
			{"facets=body", `"body" is long full-text`},
			{"facets=id", `unknown field "id"`},
			{"facets=status,status:3", `"status" is named twice`},
			{"facets=status:0", `size of "status"`},
			{"facets=status:101", `size of "status"`},
			{"facets=status:x", `size of "status"`},
			{"facets=status,,tags", `empty field name`},
			{"facets=:3", `empty field name`},
			{"facets=" + strings.Repeat("a,", core.MaxAggregateFields) + "a", `at most`},
			{"stats=status", `"status" is not a number field`},
			{"stats=tags", `"tags" is not a number field`},
			{"stats=nope", `unknown field "nope"`},
			{"stats=views,views", `"views" is named twice`},
		} {
			p := checkProblem(t, ts.do("GET", "/api/goods?"+c.query, nil), 400, "bad_request")
			if d, _ := p["detail"].(string); !strings.Contains(d, c.detail) {
				t.Errorf("%s: detail %q, want it to name %q", c.query, d, c.detail)
			}
		}
	})
	t.Run("hidden", func(t *testing.T) {
		tokens, _ := ts.principals()
		for _, q := range []string{"facets=%s", "stats=%s"} {
			hidden := ts.do("GET", "/api/goods?"+strings.ReplaceAll(q, "%s", "cost"), nil, "Authorization", tokens["authenticated"])
			unknown := ts.do("GET", "/api/goods?"+strings.ReplaceAll(q, "%s", "nothing_here"), nil, "Authorization", tokens["authenticated"])
			checkProblem(t, hidden, 400, "bad_request")
			if h, u := strings.ReplaceAll(string(hidden.Body), "cost", "F"), strings.ReplaceAll(string(unknown.Body), "nothing_here", "F"); h != u {
				t.Fatalf("%s: hidden %s; unknown %s", q, h, u)
			}
			ts.must(200, "GET", "/api/goods?"+strings.ReplaceAll(q, "%s", "cost"), nil)
		}
	})
}

// TestListFacetsOwner: on a type its readers see only what they created,
// facets and stats count only that.
func TestListFacetsOwner(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testListFacetsOwner)
}

func testListFacetsOwner(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.defineType(`{"name":"notes","schema":{"type":"object","properties":{"mood":{"type":"string"},"n":{"type":"number"}}},
	  "permissions":{"read":["owner","role:editor"],"create":["authenticated"],"update":["owner"],"delete":["owner"]}}`)
	tokens, _ := ts.principals()
	for i, who := range []string{"owner", "owner", "authenticated", "authenticated", "authenticated", "editor"} {
		ts.must(201, "POST", "/api/notes", map[string]any{"mood": []string{"calm", "glad"}[i%2], "n": i}, "Authorization", tokens[who])
	}
	for _, c := range []struct {
		who, facets, stats string
	}{
		{"owner", `{"mood":[{"value":"calm","count":1},{"value":"glad","count":1}]}`, `{"n":{"count":2,"min":0,"max":1,"sum":1,"avg":0.5}}`},
		{"authenticated", `{"mood":[{"value":"calm","count":2},{"value":"glad","count":1}]}`, `{"n":{"count":3,"min":2,"max":4,"sum":9,"avg":3}}`},
		{"editor", `{"mood":[{"value":"calm","count":3},{"value":"glad","count":3}]}`, `{"n":{"count":6,"min":0,"max":5,"sum":15,"avg":2.5}}`},
	} {
		body := ts.must(200, "GET", "/api/notes?facets=mood&stats=n&limit=1", nil, "Authorization", tokens[c.who]).JSON(t)
		f, _ := json.Marshal(body["facets"])
		s, _ := json.Marshal(body["stats"])
		if string(f) != canonJSON(t, c.facets) || string(s) != canonJSON(t, c.stats) {
			t.Errorf("%s: facets %s stats %s\nwant facets %s stats %s", c.who, f, s, c.facets, c.stats)
		}
	}
}

// canonJSON is s with the members of its objects in order.
func canonJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

// randGood is a random resource of goodsType, as JSON data.
func randGood(r *rand.Rand) map[string]any {
	words := []string{"red", "green", "blue", "fruit", "stone", "tree", "lake"}
	d := map[string]any{}
	maybe := func(name string, v func() any) {
		if r.IntN(5) > 0 {
			d[name] = v()
		}
	}
	maybe("title", func() any { return words[r.IntN(len(words))] + " " + words[r.IntN(len(words))] })
	maybe("body", func() any { return words[r.IntN(len(words))] + " " + words[r.IntN(len(words))] })
	maybe("status", func() any { return []string{"open", "closed", "draft", "Open", ""}[r.IntN(5)] })
	maybe("tags", func() any {
		tags := []any{}
		for range r.IntN(4) {
			tags = append(tags, []string{"a", "b", "c", "d"}[r.IntN(4)])
		}
		return tags
	})
	maybe("views", func() any { return float64(r.IntN(20)) })
	maybe("price", func() any { return float64(r.IntN(2000)-1000) / 8 })
	maybe("sold", func() any { return r.IntN(2) == 0 })
	maybe("at", func() any {
		return time.Date(2026, 1, 1+r.IntN(5), r.IntN(3), 0, 0, 0, time.UTC).Format(time.RFC3339)
	})
	maybe("misc", func() any {
		switch r.IntN(3) {
		case 0:
			return []string{"x", "y"}[r.IntN(2)]
		case 1:
			return float64(r.IntN(3))
		}
		return r.IntN(2) == 0
	})
	return d
}

// randGoodsFilter is a random filter over goodsType.
func randGoodsFilter(r *rand.Rand) string {
	clauses := []func() string{
		func() string { return fmt.Sprintf(`status = %q`, []string{"open", "closed", ""}[r.IntN(3)]) },
		func() string { return fmt.Sprintf(`tags ?= %q`, []string{"a", "b", "c"}[r.IntN(3)]) },
		func() string { return fmt.Sprintf(`views %s %d`, []string{"<", ">=", "!="}[r.IntN(3)], r.IntN(20)) },
		func() string { return fmt.Sprintf(`price > %d`, r.IntN(200)-100) },
		func() string { return `sold = ` + fmt.Sprint(r.IntN(2) == 0) },
		func() string { return `at >= "2026-01-03T00:00:00Z"` },
		func() string { return `misc != null` },
		func() string { return `title ~ "re"` },
	}
	n := 1 + r.IntN(3)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = clauses[r.IntN(len(clauses))]()
	}
	return strings.Join(parts, []string{" && ", " || "}[r.IntN(2)])
}

// refGoodsFacet counts the values of field over docs by brute force, as
// the index keeps them: each resource once per distinct value; ordered
// by count, then numbers, booleans and strings, each in their order.
func refGoodsFacet(docs []map[string]any, field string, size int) []map[string]any {
	type entry struct {
		v any
		n int
	}
	var all []entry
	add := func(v any) {
		if s, ok := v.(string); ok && field == "at" {
			t, _ := time.Parse(time.RFC3339, s)
			v = t.UTC().Format(time.RFC3339Nano)
		}
		for i := range all {
			if all[i].v == v {
				all[i].n++
				return
			}
		}
		all = append(all, entry{v: v, n: 1})
	}
	for _, d := range docs {
		switch v := d[field].(type) {
		case nil:
		case []any:
			var seen []any
			for _, el := range v {
				if !slices.Contains(seen, el) {
					seen = append(seen, el)
					add(el)
				}
			}
		default:
			add(v)
		}
	}
	rank := func(v any) int {
		switch v.(type) {
		case float64:
			return 0
		case bool:
			return 1
		}
		return 2
	}
	slices.SortFunc(all, func(a, b entry) int {
		if a.n != b.n {
			return b.n - a.n
		}
		if ra, rb := rank(a.v), rank(b.v); ra != rb {
			return ra - rb
		}
		switch x := a.v.(type) {
		case float64:
			y := b.v.(float64)
			return map[bool]int{true: -1, false: 1}[x < y]
		case bool:
			return map[bool]int{true: -1, false: 1}[!x]
		}
		return strings.Compare(a.v.(string), b.v.(string))
	})
	out := []map[string]any{}
	for _, e := range all[:min(size, len(all))] {
		out = append(out, map[string]any{"value": e.v, "count": float64(e.n)})
	}
	return out
}

// TestListFacetsProperty checks facets and stats over HTTP against
// counts made by brute force: over the resources the exact filter
// evaluator (filter.Expr.Match) accepts for random filters, and over the
// resources a full-text query lists, page by page, for q.
func TestListFacetsProperty(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(goodsType)
	var def core.Type
	if err := json.Unmarshal([]byte(goodsType), &def); err != nil {
		t.Fatal(err)
	}
	schema, err := index.FilterSchema(def)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	type doc struct {
		id   string
		data map[string]any
		meta map[string]any
	}
	var docs []doc
	for range 120 {
		d := randGood(r)
		env := ts.must(201, "POST", "/api/goods", d).JSON(t)
		meta := env["meta"].(map[string]any)
		docs = append(docs, doc{id: env["id"].(string), data: d, meta: map[string]any{
			"id": env["id"], "created_at": meta["created_at"], "updated_at": meta["updated_at"],
			"created_by": meta["created_by"], "updated_by": meta["updated_by"]}})
	}
	byID := map[string]doc{}
	for _, d := range docs {
		byID[d.id] = d
	}
	facetable := []string{"title", "status", "tags", "views", "price", "sold", "at", "misc"}
	for i := range 60 {
		src, q := "", ""
		switch i % 3 {
		case 0:
			src = randGoodsFilter(r)
		case 1:
			q = []string{"red", "fruit", "lake", "green tree", "fru*", `"green fruit"`}[r.IntN(6)]
		default:
			src, q = randGoodsFilter(r), "fruit"
		}
		var matched []map[string]any
		if q == "" {
			e, err := filter.Parse(src, schema, filter.Limits{})
			if err != nil {
				t.Fatalf("filter %q: %v", src, err)
			}
			for _, d := range docs {
				if e.Match(d.data, d.meta) {
					matched = append(matched, d.data)
				}
			}
		} else {
			// The matches of q are what the list pages through.
			cursor := ""
			for {
				query := "limit=50&q=" + url.QueryEscape(q) + "&filter=" + url.QueryEscape(src) + "&cursor=" + url.QueryEscape(cursor)
				body := ts.must(200, "GET", "/api/goods?"+query, nil).JSON(t)
				for _, it := range body["items"].([]any) {
					matched = append(matched, byID[dig(it, "id").(string)].data)
				}
				if cursor, _ = body["next_cursor"].(string); cursor == "" {
					break
				}
			}
		}
		fields := slices.Clone(facetable)
		r.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
		fields = fields[:1+r.IntN(3)]
		sizes := make([]int, len(fields))
		var spec []string
		for j, f := range fields {
			sizes[j] = 1 + r.IntN(6)
			spec = append(spec, fmt.Sprintf("%s:%d", f, sizes[j]))
		}
		query := "limit=2&total=true&facets=" + url.QueryEscape(strings.Join(spec, ",")) + "&stats=views,price&filter=" + url.QueryEscape(src) + "&q=" + url.QueryEscape(q)
		body := ts.must(200, "GET", "/api/goods?"+query, nil).JSON(t)
		if body["total"] != float64(len(matched)) {
			t.Fatalf("%s: total %v, brute force %d", query, body["total"], len(matched))
		}
		for j, f := range fields {
			want := refGoodsFacet(matched, f, sizes[j])
			got := body["facets"].(map[string]any)[f]
			wj, _ := json.Marshal(want)
			gj, _ := json.Marshal(got)
			if string(wj) != string(gj) {
				t.Errorf("%s: facet %s\n got %s\nwant %s", query, f, gj, wj)
			}
		}
		for _, f := range []string{"views", "price"} {
			n, lo, hi, sum := 0, 0.0, 0.0, 0.0
			for _, d := range matched {
				if x, ok := d[f].(float64); ok {
					if n == 0 || x < lo {
						lo = x
					}
					if n == 0 || x > hi {
						hi = x
					}
					n++
					sum += x
				}
			}
			got := body["stats"].(map[string]any)[f].(map[string]any)
			want := map[string]any{"count": float64(n), "min": nil, "max": nil, "sum": nil, "avg": nil}
			if n > 0 {
				want = map[string]any{"count": float64(n), "min": lo, "max": hi, "sum": sum, "avg": sum / float64(n)}
				// Sums of eighths are exact in any order.
				if math.Abs(got["avg"].(float64)-sum/float64(n)) < 1e-9 {
					got["avg"] = want["avg"]
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: stats %s: got %v, want %v", query, f, got, want)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}
