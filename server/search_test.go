package server_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/app/apptest"
)

const articlesType = `{"name":"articles","schema":{"type":"object","required":["title"],"properties":{
	"title":{"type":"string","maxLength":200},"body":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},
	"views":{"type":"integer"},"published":{"type":"string","format":"date-time"},
	"author":{"type":"object","properties":{"name":{"type":"string"}}}}},
	"search":["title","body"]}`

type article struct {
	id    string
	title string
	views int
	tags  []string
}

// seedArticles creates n articles with predictable fields.
func seedArticles(ts *testServer, n int) []article {
	words := []string{"running shoes", "a quiet lake", "the go language", "runners guide", "mountain bikes"}
	var out []article
	for i := range n {
		a := article{title: fmt.Sprintf("title %02d", i), views: (i * 7) % 23, tags: []string{[]string{"go", "db", "web"}[i%3]}}
		body := fmt.Sprintf(`{"title":%q,"body":%q,"tags":[%q],"views":%d,"published":"2026-0%d-1%dT10:00:00Z","author":{"name":"author %d"}}`,
			a.title, words[i%len(words)], a.tags[0], a.views, 1+i%9, i%10, i%4)
		a.id = ts.must(201, "POST", "/api/articles", body).JSON(ts.t)["id"].(string)
		out = append(out, a)
	}
	return out
}

func (ts *testServer) listIDs(query string) ([]string, map[string]any) {
	ts.t.Helper()
	body := ts.must(200, "GET", "/api/articles?"+query, nil).JSON(ts.t)
	var ids []string
	for _, it := range body["items"].([]any) {
		ids = append(ids, dig(it, "id").(string))
	}
	return ids, body
}

func TestSearchFilterSortCursor(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testSearchFilterSortCursor)
}

func testSearchFilterSortCursor(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.defineType(articlesType)
	arts := seedArticles(ts, 40)

	// Expected: views > 10 and tagged go, by -views, title, id.
	var want []article
	for _, a := range arts {
		if a.views > 10 && a.tags[0] == "go" {
			want = append(want, a)
		}
	}
	slices.SortFunc(want, func(a, b article) int {
		if a.views != b.views {
			return b.views - a.views
		}
		return strings.Compare(a.title, b.title)
	})
	var wantIDs []string
	for _, a := range want {
		wantIDs = append(wantIDs, a.id)
	}
	filter := url.QueryEscape(`views > 10 && tags ?= "go"`)

	var got []string
	cursor := ""
	for range 20 {
		q := "filter=" + filter + "&sort=-views,title&limit=3"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		ids, body := ts.listIDs(q)
		got = append(got, ids...)
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
		// A write during the walk does not disturb it.
		ts.must(201, "POST", "/api/articles", `{"title":"late","views":22,"tags":["go"]}`)
	}
	if strings.Join(got[:min(len(got), len(wantIDs))], ",") != strings.Join(wantIDs, ",") {
		t.Fatalf("filtered, sorted walk:\n got %v\nwant %v", got, wantIDs)
	}

	t.Run("total and count", func(t *testing.T) {
		_, body := ts.listIDs("filter=" + url.QueryEscape(`views <= 5`) + "&total=true&limit=1")
		n := 0
		for _, a := range arts {
			if a.views <= 5 {
				n++
			}
		}
		if body["total"] != float64(n) {
			t.Fatalf("total = %v, want %d", body["total"], n)
		}
		if c := ts.must(200, "GET", "/api/articles/count?filter="+url.QueryEscape(`views <= 5`), nil).JSON(t)["count"]; c != float64(n) {
			t.Fatalf("count = %v, want %d", c, n)
		}
	})
	t.Run("full text", func(t *testing.T) {
		ids, _ := ts.listIDs("q=run&limit=100")
		if len(ids) == 0 {
			t.Fatal("q=run found nothing; stemming should match running and runners")
		}
		for _, id := range ids {
			body := string(ts.must(200, "GET", "/api/articles/"+id+"?returns=data", nil).Body)
			if !strings.Contains(body, "run") {
				t.Fatalf("q=run matched %s", body)
			}
		}
		phrase, _ := ts.listIDs("q=" + url.QueryEscape(`"quiet lake"`) + "&limit=100")
		if len(phrase) != 8 {
			t.Fatalf("phrase matched %d, want 8", len(phrase))
		}
		both, _ := ts.listIDs("q=lake&filter=" + url.QueryEscape(`tags ?= "db"`) + "&limit=100")
		for _, id := range both {
			if !slices.Contains(phrase, id) {
				t.Fatalf("q+filter returned %s outside the q results", id)
			}
		}
	})
	t.Run("read your writes", func(t *testing.T) {
		id := ts.must(201, "POST", "/api/articles", `{"title":"fresh off the press","views":1}`).JSON(t)["id"].(string)
		ids, _ := ts.listIDs("filter=" + url.QueryEscape(`title = "fresh off the press"`))
		if len(ids) != 1 || ids[0] != id {
			t.Fatalf("a list right after the create did not see it: %v", ids)
		}
		ts.must(200, "PATCH", "/api/articles/"+id, `{"title":"changed"}`)
		if ids, _ := ts.listIDs("filter=" + url.QueryEscape(`title = "fresh off the press"`)); len(ids) != 0 {
			t.Fatalf("a list right after the patch saw the old title: %v", ids)
		}
		ts.must(204, "DELETE", "/api/articles/"+id, nil)
		if ids, _ := ts.listIDs("filter=" + url.QueryEscape(`title = "changed"`)); len(ids) != 0 {
			t.Fatalf("a soft-deleted resource is listed: %v", ids)
		}
		if ids, _ := ts.listIDs("filter=" + url.QueryEscape(`title = "changed"`) + "&include_deleted=true"); len(ids) != 1 {
			t.Fatalf("include_deleted did not list it: %v", ids)
		}
		ts.must(204, "DELETE", "/api/articles/"+id+"?purge=true", nil)
		if ids, _ := ts.listIDs("filter=" + url.QueryEscape(`title = "changed"`) + "&include_deleted=true"); len(ids) != 0 {
			t.Fatalf("a purged resource is listed: %v", ids)
		}
		ts.must(200, "GET", "/api/articles?consistency=eventual&filter="+url.QueryEscape(`views > 1`), nil)
	})
	t.Run("bad input", func(t *testing.T) {
		for name, q := range map[string]string{
			"malformed":     "filter=" + url.QueryEscape(`views > `),
			"unknown field": "filter=" + url.QueryEscape(`nothing = 1`),
			"type mismatch": "filter=" + url.QueryEscape(`views > "x"`),
			"unknown sort":  "sort=nothing",
			"consistency":   "filter=" + url.QueryEscape(`views > 1`) + "&consistency=maybe",
		} {
			t.Run(name, func(t *testing.T) {
				p := checkProblem(t, ts.do("GET", "/api/articles?"+q, nil), 400, "bad_request")
				if name == "type mismatch" && !strings.Contains(p["detail"].(string), "position 8") {
					t.Fatalf("detail does not name the position: %v", p["detail"])
				}
			})
		}
		_, body := ts.listIDs("filter=" + filter + "&sort=-views&limit=1")
		next := body["next_cursor"].(string)
		checkProblem(t, ts.do("GET", "/api/articles?filter="+url.QueryEscape(`views > 1`)+"&sort=-views&limit=1&cursor="+next, nil), 400, "bad_request")
	})
}

// TestIndexRebuiltFromStorage deletes the index directory between runs:
// the index is rebuilt from storage and answers the same.
func TestIndexRebuiltFromStorage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testIndexRebuiltFromStorage)
}

func testIndexRebuiltFromStorage(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.defineType(articlesType)
	seedArticles(ts, 25)
	q := "filter=" + url.QueryEscape(`views >= 7 || author.name = "author 2"`) + "&sort=title&limit=100"
	before, _ := ts.listIDs(q)
	if len(before) == 0 {
		t.Fatal("no matches to compare")
	}
	ts.stop()
	if err := os.RemoveAll(filepath.Join(ts.Dir, "index")); err != nil {
		t.Fatal(err)
	}
	ts2 := ts.restart()
	after, _ := ts2.listIDs(q)
	if strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("after rebuild:\n got %v\nwant %v", after, before)
	}
}

// TestSearchHighlight asks for highlights: each item of a q list gets an
// "_highlights" object of HTML fragments, in the envelope and with
// returns=data; without q it is a bad request.
func TestSearchHighlight(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testSearchHighlight)
}

func testSearchHighlight(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.defineType(articlesType)
	lake := ts.must(201, "POST", "/api/articles", `{"title":"The <quiet> lake","body":"a lake & a river"}`).JSON(t)["id"].(string)
	ts.must(201, "POST", "/api/articles", `{"title":"mountains","body":"rocks"}`)
	ts.must(201, "POST", "/api/articles", `{"title":"lakes again","body":"more water"}`)

	tests := []struct {
		name  string
		query string
		path  string // where the highlights of the lake article are
	}{
		{"envelope", "q=lake&highlight=true", "_highlights"},
		{"data", "q=lake&highlight=true&returns=data", "_highlights"},
		{"with a filter and a sort", "q=lake&highlight=true&sort=title&filter=" + url.QueryEscape(`title != "x"`), "_highlights"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := ts.must(200, "GET", "/api/articles?"+tt.query, nil).JSON(t)
			items := body["items"].([]any)
			if len(items) != 2 {
				t.Fatalf("got %d items, want 2", len(items))
			}
			seen := false
			for _, it := range items {
				h, ok := dig(it, tt.path).(map[string]any)
				if !ok {
					t.Fatalf("item without %s: %v", tt.path, it)
				}
				if dig(it, "id") != lake && dig(it, "title") != "The <quiet> lake" {
					continue // the envelope names the id, the data the title
				}
				seen = true
				title, _ := h["title"].([]any)
				bodyFrags, _ := h["body"].([]any)
				if len(title) != 1 || title[0] != "The &lt;quiet&gt; <mark>lake</mark>" ||
					len(bodyFrags) != 1 || bodyFrags[0] != "a <mark>lake</mark> &amp; a river" {
					t.Fatalf("highlights of the lake article: %v", h)
				}
			}
			if !seen {
				t.Fatalf("the lake article is not listed: %v", items)
			}
		})
	}
	t.Run("no highlights unless asked", func(t *testing.T) {
		body := ts.must(200, "GET", "/api/articles?q=lake", nil).JSON(t)
		for _, it := range body["items"].([]any) {
			if dig(it, "_highlights") != nil {
				t.Fatalf("unasked highlights: %v", it)
			}
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, q := range []string{"highlight=true", "highlight=true&filter=" + url.QueryEscape(`views > 1`), "q=lake&highlight=maybe"} {
			checkProblem(t, ts.do("GET", "/api/articles?"+q, nil), 400, "bad_request")
		}
	})
}

// TestSearchRelevance: q without a sort ranks through HTTP. A title that is
// the word itself outranks a long body that mentions it once, and paging
// by next_cursor returns every match once, total included.
func TestSearchRelevance(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testSearchRelevance)
}

func testSearchRelevance(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.defineType(articlesType)
	filler := strings.Repeat("words about something else entirely ", 8)
	var matching []string
	for i := range 25 {
		body := fmt.Sprintf(`{"title":"note %d","body":%q}`, i, filler+"harbour")
		if i%5 == 0 {
			body = fmt.Sprintf(`{"title":"note %d","body":%q}`, i, filler)
		}
		id := ts.must(201, "POST", "/api/articles", body).JSON(t)["id"].(string)
		if i%5 != 0 {
			matching = append(matching, id)
		}
	}
	best := ts.must(201, "POST", "/api/articles", `{"title":"harbour","body":"harbour harbour"}`).JSON(t)["id"].(string)
	matching = append(matching, best)

	var got []string
	cursor := ""
	for range 20 {
		q := "q=harbour&limit=4&total=true"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		ids, body := ts.listIDs(q)
		if body["total"] != float64(len(matching)) {
			t.Fatalf("total %v, want %d", body["total"], len(matching))
		}
		got = append(got, ids...)
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(got) == 0 || got[0] != best {
		t.Fatalf("best match first: got %v, want %s first", got, best)
	}
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(matching))) {
		t.Fatalf("paged %d ids, want each of the %d matches once:\n%v", len(got), len(matching), got)
	}
	// Equal scores (the 20 alike notes) come in id order.
	if rest := got[1:]; !slices.IsSorted(rest) {
		t.Fatalf("ties not in id order: %v", rest)
	}
	// A cursor of this order does not continue another q.
	checkProblem(t, ts.do("GET", "/api/articles?q=note&cursor="+url.QueryEscape(cursor), nil), 400, "bad_request")
}

// TestSearchOwnerScoped: over a type its readers read by ownership, q,
// filter, sort, total, count and cursor paging all see exactly the
// resources the principal may read: its own, or every one for a role
// granted reading.
func TestSearchOwnerScoped(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testSearchOwnerScoped)
}

func testSearchOwnerScoped(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.defineType(`{"name":"journal","schema":{"type":"object","properties":{"text":{"type":"string"},"views":{"type":"integer"}}},
	  "search":["text"],"permissions":{"read":["owner","role:editor"],"create":["authenticated"]}}`)
	tokens, _ := ts.principals()
	// Who may read each resource, by id, and its views.
	type entry struct {
		id    string
		views int
	}
	created := map[string][]entry{}
	for i := range 14 {
		who := []string{"owner", "authenticated"}[i%2]
		text := "a quiet harbour"
		if i%3 == 0 {
			text = "a busy road"
		}
		id := ts.must(201, "POST", "/api/journal", map[string]any{"text": text, "views": i}, "Authorization", tokens[who]).JSON(t)["id"].(string)
		created[who] = append(created[who], entry{id, i})
	}
	created["editor"] = append(append([]entry(nil), created["owner"]...), created["authenticated"]...)
	filter := url.QueryEscape(`views >= 4`)
	for _, who := range []string{"owner", "authenticated", "editor"} {
		t.Run(who, func(t *testing.T) {
			var wantQ, wantFilter []string
			for _, e := range created[who] {
				if e.views%3 != 0 {
					wantQ = append(wantQ, e.id)
				}
				if e.views >= 4 {
					wantFilter = append(wantFilter, e.id)
				}
			}
			for _, tc := range []struct {
				name, query string
				want        []string
			}{
				{"q", "q=harbour", wantQ},
				{"filter and sort", "filter=" + filter + "&sort=-views", wantFilter},
			} {
				var got []string
				cursor := ""
				for range 20 {
					body := ts.must(200, "GET", "/api/journal?"+tc.query+"&limit=2&total=true&cursor="+url.QueryEscape(cursor), nil,
						"Authorization", tokens[who]).JSON(t)
					if body["total"] != float64(len(tc.want)) {
						t.Fatalf("%s: total %v, want %d", tc.name, body["total"], len(tc.want))
					}
					for _, it := range body["items"].([]any) {
						got = append(got, dig(it, "id").(string))
					}
					if cursor, _ = body["next_cursor"].(string); cursor == "" {
						break
					}
				}
				if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tc.want))) {
					t.Fatalf("%s: paged %v, want %v", tc.name, got, tc.want)
				}
			}
			count := ts.must(200, "GET", "/api/journal/count?filter="+filter, nil, "Authorization", tokens[who]).JSON(t)["count"]
			if count != float64(len(wantFilter)) {
				t.Fatalf("count %v, want %d", count, len(wantFilter))
			}
		})
	}
	checkProblem(t, ts.do("GET", "/api/journal?q=harbour", nil, "Authorization", ""), 401, "unauthorized")
}
