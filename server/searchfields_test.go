package server_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/strata-dev/strata/index/filter"
)

// longTextType has a long search text (body: no maxLength) beside a short
// one (title).
const longTextType = `{"name":"pages","schema":{"type":"object","properties":{
	"title":{"type":"string","maxLength":80},"body":{"type":["string","null"]},"n":{"type":"integer"}}},
	"search":["title","body"]}`

var pageWords = []string{"alpha", "Alpha", "BETA", "straße", "STRASSE", "İstanbul", "Σίσυφος", "café", "cafe\u0301",
	"日本語", "emoji😀", "x_y", "a-b", "42", strings.Repeat("long", 20), "the", ",", "-"}

func pageText(r *rand.Rand, size int) string {
	var b strings.Builder
	for b.Len() < size {
		b.WriteString(pageWords[r.IntN(len(pageWords))])
		b.WriteString([]string{" ", " ", ", ", "-", "\n", ""}[r.IntN(6)])
	}
	return b.String()
}

// TestLongSearchFieldOverHTTP lists, through the HTTP API, resources whose
// long search text runs from nothing to 100 KB (sharing prefixes, in
// several cases and scripts), with random filters on it over every
// operator and null, and random sorts by it paged with cursors: each answer
// is the exact evaluator's (filter.Expr.Match, then the sort keys and id).
func TestLongSearchFieldOverHTTP(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(longTextType)
	r := rand.New(rand.NewPCG(7, 11))
	prefix := pageText(r, 70)
	type page struct {
		id   string
		data map[string]any
	}
	var pages []page
	var texts []string
	for i := range 60 {
		data := map[string]any{"title": pageWords[r.IntN(len(pageWords))], "n": i % 4}
		switch k := r.IntN(8); {
		case k == 0:
		case k == 1:
			data["body"] = nil
		case k == 2:
			data["body"] = ""
		case k < 5:
			data["body"] = prefix + pageText(r, r.IntN(100))
		case k == 5 && len(texts) > 0:
			data["body"] = strings.ToUpper(texts[r.IntN(len(texts))])
		case k == 6:
			data["body"] = pageText(r, 20_000+r.IntN(80_000))
		default:
			data["body"] = pageText(r, 1+r.IntN(300))
		}
		if s, ok := data["body"].(string); ok {
			texts = append(texts, s)
		}
		raw, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		id := ts.must(201, "POST", "/api/pages", raw).JSON(t)["id"].(string)
		var decoded map[string]any
		if err := json.Unmarshal(raw, &decoded); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page{id: id, data: decoded})
	}
	// The first search builds the index, which may take longer than a
	// search waits (503) on a loaded machine: poll until it is built.
	for deadline := time.Now().Add(5 * time.Minute); ; {
		r := ts.do("GET", "/api/pages?filter="+url.QueryEscape("n >= 0"), nil)
		if r.Status == 200 {
			break
		}
		if r.Status != 503 || time.Now().After(deadline) {
			t.Fatalf("first search: status %d\n%s", r.Status, r.Body)
		}
	}
	schema := filter.Schema{"title": {Path: "title", Kind: filter.String}, "body": {Path: "body", Kind: filter.Text},
		"n": {Path: "n", Kind: filter.Number}}
	literal := func() string {
		var s string
		switch r.IntN(6) {
		case 0:
			s = texts[r.IntN(len(texts))]
		case 1:
			s = prefix + pageText(r, r.IntN(8))
		case 2:
			s = pageWords[r.IntN(len(pageWords))]
		case 3:
			s = []string{"", "a b", "-", "SS", "ALPHA, "}[r.IntN(5)]
		default:
			rs := []rune(texts[r.IntN(len(texts))])
			if len(rs) == 0 {
				return "x"
			}
			i := r.IntN(len(rs))
			s = string(rs[i : i+1+r.IntN(min(len(rs)-i, 10))])
			if r.IntN(2) == 0 {
				s = strings.ToLower(s)
			}
		}
		for len(s) > 300 {
			_, n := utf8.DecodeLastRuneInString(s)
			s = s[:len(s)-n]
		}
		return s
	}
	lit := func(s string) string {
		b, _ := json.Marshal(s) // a JSON string is a valid filter string literal here
		return string(b)
	}
	ops := []string{"=", "!=", "<", "<=", ">", ">=", "~", "!~"}
	for c := range 80 {
		src := "body " + ops[r.IntN(len(ops))] + " " + lit(literal())
		switch r.IntN(6) {
		case 0:
			src = "body " + []string{"= null", "!= null"}[r.IntN(2)]
		case 1:
			src += " || body ~ " + lit(literal())
		case 2:
			src += " && n != 1"
		}
		e, err := filter.Parse(src, schema, filter.Limits{})
		if err != nil {
			t.Fatalf("generated filter %.200q: %v", src, err)
		}
		var want []page
		for _, p := range pages {
			if e.Match(p.data, nil) {
				want = append(want, p)
			}
		}
		sort := []string{"body", "-body", "n,body", "-body,n"}[c%4]
		slices.SortStableFunc(want, func(a, b page) int {
			for f := range strings.SplitSeq(sort, ",") {
				desc := strings.HasPrefix(f, "-")
				f = strings.TrimPrefix(f, "-")
				va, vb := a.data[f], b.data[f]
				switch {
				case va == nil && vb == nil:
					continue
				case va == nil:
					return 1
				case vb == nil:
					return -1
				}
				var x int
				if s, ok := va.(string); ok {
					x = strings.Compare(s, vb.(string))
				} else {
					x = int(va.(float64) - vb.(float64))
				}
				if desc {
					x = -x
				}
				if x != 0 {
					return x
				}
			}
			return strings.Compare(a.id, b.id)
		})
		var wantIDs, got []string
		for _, p := range want {
			wantIDs = append(wantIDs, p.id)
		}
		q := url.Values{"filter": {src}, "sort": {sort}, "limit": {fmt.Sprint(1 + r.IntN(25))}}
		for range len(pages) + 1 {
			ids, body := ts.listIDs2("pages", q.Encode())
			got = append(got, ids...)
			next, _ := body["next_cursor"].(string)
			if next == "" {
				break
			}
			q.Set("cursor", next)
		}
		if !slices.Equal(got, wantIDs) {
			t.Fatalf("filter %.200q sort %s:\n got %v\nwant %v", src, sort, got, wantIDs)
		}
	}
}

// listIDs2 lists a type with the given query and returns the ids of the
// page and the decoded body.
func (ts *testServer) listIDs2(typ, query string) ([]string, map[string]any) {
	ts.t.Helper()
	body := ts.must(200, "GET", "/api/"+typ+"?"+query, nil).JSON(ts.t)
	var ids []string
	for _, it := range body["items"].([]any) {
		ids = append(ids, dig(it, "id").(string))
	}
	return ids, body
}
