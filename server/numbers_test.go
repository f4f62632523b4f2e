package server_test

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
)

const numsType = `{
  "name": "nums",
  "schema": {"type": "object", "required": ["title"],
             "properties": {"title": {"type": "string", "maxLength": 100}, "num": {"type": "number"}, "i": {"type": "integer"}}},
  "unique": ["num"]
}`

// in returns ts reporting to t: a subtest's failures must end the
// subtest, not its parent.
func (ts *testServer) in(t *testing.T) *testServer {
	c := *ts
	c.t = t
	return &c
}

// countNums is the number of nums, deleted ones included.
func countNums(ts *testServer) int {
	ts.t.Helper()
	v := ts.must(200, "GET", "/api/nums/count?include_deleted=true", nil).JSON(ts.t)["count"]
	n, _ := v.(float64)
	return int(n)
}

// listIDs lists the ids of the nums a filter selects, sorted.
func listIDs(t *testing.T, ts *testServer, filter string) []string {
	t.Helper()
	items, _ := ts.must(200, "GET", "/api/nums?filter="+url.QueryEscape(filter), nil).JSON(t)["items"].([]any)
	var ids []string
	for _, it := range items {
		ids = append(ids, dig(it, "id").(string))
	}
	sort.Strings(ids)
	return ids
}

// TestNumbersOneModel: a number is a double, whatever its spelling. The
// unique index, the "no change, no new revision" rule and the filter agree
// on which numbers are equal, and a number a double cannot hold is
// refused rather than rounded.
func TestNumbersOneModel(t *testing.T) {
	t.Run("unique by value", func(t *testing.T) {
		for _, tc := range []struct{ first, second string }{
			{"1", "1.0"}, {"1", "1e0"}, {"1", "10E-1"}, {"1e0", "1"}, {"0", "-0"}, {"-0", "0.0"}, {"2.5", "25e-1"},
		} {
			t.Run(tc.first+" then "+tc.second, func(t *testing.T) {
				ts := newTestServer(t)
				ts.defineType(numsType)
				id := dig(ts.must(201, "POST", "/api/nums", `{"title":"first","num":`+tc.first+`}`).JSON(t), "id").(string)
				p := checkProblem(t, ts.do("POST", "/api/nums", `{"title":"second","num":`+tc.second+`}`), 409, "conflict")
				if errs, _ := p["errors"].([]any); len(errs) != 1 || dig(errs[0], "path") != "/num" {
					t.Fatalf("conflict errors = %v", p["errors"])
				}
				if n := countNums(ts); n != 1 {
					t.Fatalf("%d nums stored, want 1", n)
				}
				ts.must(204, "DELETE", "/api/nums/"+id+"?purge=true", nil)
			})
		}
	})

	t.Run("equal numbers are no change", func(t *testing.T) {
		ts := newTestServer(t)
		ts.defineType(numsType)
		r := ts.must(201, "POST", "/api/nums", `{"title":"same","num":1}`)
		id, etag := dig(r.JSON(t), "id").(string), r.Header.Get("ETag")
		for _, tc := range []struct {
			name, method, body, ct string
		}{
			{"PUT 1.00", "PUT", `{"title":"same","num":1.00}`, ""},
			{"PUT 1e0", "PUT", `{"title":"same","num":1e0}`, ""},
			{"merge patch 10E-1", "PATCH", `{"num":10E-1}`, "application/merge-patch+json"},
			{"JSON Patch 1.0", "PATCH", `[{"op":"replace","path":"/num","value":1.0}]`, "application/json-patch+json"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ts := ts.in(t)
				var headers []string
				if tc.ct != "" {
					headers = []string{"Content-Type", tc.ct}
				}
				r := ts.must(200, tc.method, "/api/nums/"+id, tc.body, headers...)
				got := r.JSON(t)
				if r.Header.Get("ETag") != etag || dig(got, "revision.number") != 1.0 || dig(got, "meta.revision_count") != 1.0 {
					t.Fatalf("ETag %s (want %s), revision %v: %s", r.Header.Get("ETag"), etag, dig(got, "revision.number"), r.Body)
				}
			})
		}
		if revs := ts.must(200, "GET", "/api/nums/"+id+"/revisions", nil).JSON(t)["items"].([]any); len(revs) != 1 {
			t.Fatalf("%d revisions, want 1", len(revs))
		}
		ts.must(204, "DELETE", "/api/nums/"+id+"?purge=true", nil)
	})

	t.Run("stored canonical", func(t *testing.T) {
		ts := newTestServer(t)
		ts.defineType(numsType)
		for _, tc := range []struct{ written, stored string }{
			{"1.0", "1"}, {"10E-1", "1"}, {"-0", "0"}, {"1.50", "1.5"}, {"1e21", "1e+21"}, {"1E-7", "1e-7"}, {"123e-2", "1.23"},
		} {
			r := ts.must(201, "POST", "/api/nums", `{"title":"c","num":`+tc.written+`}`)
			if want := `"data":{"num":` + tc.stored + `,"title":"c"}`; !strings.Contains(string(r.Body), want) {
				t.Fatalf("%s stored as %s, want %s", tc.written, r.Body, want)
			}
			ts.must(204, "DELETE", "/api/nums/"+dig(r.JSON(t), "id").(string)+"?purge=true", nil)
		}
	})

	t.Run("inexact numbers refused", func(t *testing.T) {
		ts := newTestServer(t)
		ts.defineType(numsType)
		before := countNums(ts)
		id := dig(ts.must(201, "POST", "/api/nums", `{"title":"target"}`).JSON(t), "id").(string)
		for _, tc := range []struct {
			name, method, path, body, ct, want string
		}{
			{"2^53+1", "POST", "/api/nums", `{"title":"x","i":9007199254740993}`, "", "/i"},
			{"1e400", "POST", "/api/nums", `{"title":"x","num":1e400}`, "", "/num"},
			{"too precise", "POST", "/api/nums", `{"title":"x","num":0.1000000000000000000001}`, "", "/num"},
			{"nested", "POST", "/api/nums", `{"title":"x","list":[0,{"n":-1e400}]}`, "", "/list/1/n"},
			{"PUT", "PUT", "/api/nums/" + id, `{"title":"x","i":9007199254740993}`, "", "/i"},
			{"merge patch", "PATCH", "/api/nums/" + id, `{"i":9007199254740993}`, "application/merge-patch+json", "/i"},
			{"JSON Patch", "PATCH", "/api/nums/" + id, `[{"op":"add","path":"/i","value":1e400}]`, "application/json-patch+json", "/i"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ts := ts.in(t)
				var headers []string
				if tc.ct != "" {
					headers = []string{"Content-Type", tc.ct}
				}
				p := checkProblem(t, ts.do(tc.method, tc.path, tc.body, headers...), 400, "bad_request")
				errs, _ := p["errors"].([]any)
				if len(errs) != 1 || dig(errs[0], "path") != tc.want || !strings.Contains(dig(errs[0], "message").(string), "double") {
					t.Fatalf("errors = %v, want one at %s saying why", p["errors"], tc.want)
				}
			})
		}
		p := checkProblem(t, ts.do("POST", "/api/batch", `{"requests":[{"method":"POST","url":"/api/nums","body":{"title":"ok"}},
			{"method":"POST","url":"/api/nums","body":{"title":"x","num":1e400}}]}`), 400, "bad_request")
		if p["index"] != 1.0 {
			t.Fatalf("batch problem %v, want index 1", p)
		}
		if n := countNums(ts); n != before+1 {
			t.Fatalf("%d nums, want %d: a refused write stored something", n, before+1)
		}
		if r := ts.must(200, "GET", "/api/nums/"+id, nil); r.Header.Get("ETag") != `"`+id+`:1"` {
			t.Fatalf("target moved: %s", r.Body)
		}
		ts.must(204, "DELETE", "/api/nums/"+id+"?purge=true", nil)
	})

	t.Run("filter", func(t *testing.T) {
		ts := newTestServer(t)
		ts.defineType(numsType)
		ids := map[string]string{}
		for _, tc := range []struct{ name, body string }{
			{"one", `{"title":"one","num":1.0,"i":9007199254740992}`},
			{"ten", `{"title":"ten","num":1e1,"i":9007199254740990}`},
			{"huge", `{"title":"huge","num":1.5e300}`},
			{"tiny", `{"title":"tiny","num":-2.5E-7}`},
			{"zero", `{"title":"zero","num":-0}`},
		} {
			ids[tc.name] = dig(ts.must(201, "POST", "/api/nums", tc.body).JSON(t), "id").(string)
		}
		for _, tc := range []struct {
			filter string
			want   []string
		}{
			{"num = 1", []string{"one"}},
			{"num = 1.0", []string{"one"}},
			{"num = 10E-1", []string{"one"}},
			{"num = 1e1", []string{"ten"}},
			{"num > 1e300", []string{"huge"}},
			{"num >= 1.5e300", []string{"huge"}},
			{"num < 0", []string{"tiny"}},
			{"num = -0", []string{"zero"}},
			{"num = 0", []string{"zero"}},
			{"num > -1e-6 && num < 1e-6", []string{"tiny", "zero"}},
			{"i = 9007199254740992", []string{"one"}},
			{"i < 9007199254740992", []string{"ten"}},
		} {
			t.Run(tc.filter, func(t *testing.T) {
				ts := ts.in(t)
				var want []string
				for _, n := range tc.want {
					want = append(want, ids[n])
				}
				sort.Strings(want)
				if got := listIDs(t, ts, tc.filter); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("filter %q: %v, want %v (%v)", tc.filter, got, want, tc.want)
				}
			})
		}
		for _, filter := range []string{"i = 9007199254740993", "num > 1e400", "num = 1e", "num < 0.1000000000000000000001"} {
			t.Run(filter, func(t *testing.T) {
				ts := ts.in(t)
				p := checkProblem(t, ts.do("GET", "/api/nums?filter="+url.QueryEscape(filter), nil), 400, "bad_request")
				if d, _ := p["detail"].(string); !strings.Contains(d, "number") {
					t.Fatalf("detail %q does not name the number", d)
				}
			})
		}
	})
}

// TestBodyText: invalid UTF-8 and lone surrogates are refused with 400 on
// every write path, and nothing is stored.
func TestBodyText(t *testing.T) {
	ts := newTestServer(t)
	ts.defineType(numsType)
	id := dig(ts.must(201, "POST", "/api/nums", `{"title":"target"}`).JSON(t), "id").(string)
	for _, tc := range []struct {
		name, method, path, body, ct, want string
	}{
		{"POST invalid byte", "POST", "/api/nums", "{\"title\":\"a\xffb\"}", "", "UTF-8"},
		{"POST truncated", "POST", "/api/nums", "{\"title\":\"\xe2\x82\"}", "", "UTF-8"},
		{"POST lone high surrogate", "POST", "/api/nums", `{"title":"\ud800"}`, "", "surrogate"},
		{"POST lone low surrogate", "POST", "/api/nums", `{"title":"\udc00x"}`, "", "surrogate"},
		{"POST surrogate key", "POST", "/api/nums", `{"title":"t","\ud83d":1}`, "", "surrogate"},
		{"PUT", "PUT", "/api/nums/" + id, `{"title":"\ud800"}`, "", "surrogate"},
		{"merge patch", "PATCH", "/api/nums/" + id, "{\"title\":\"\xff\"}", "application/merge-patch+json", "UTF-8"},
		{"JSON Patch", "PATCH", "/api/nums/" + id, `[{"op":"replace","path":"/title","value":"\udfff"}]`, "application/json-patch+json", "surrogate"},
		{"batch", "POST", "/api/batch", `{"requests":[{"method":"PUT","url":"/api/nums/` + id + `","body":{"title":"\ud800"}}]}`, "", "surrogate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := ts.in(t)
			var headers []string
			if tc.ct != "" {
				headers = []string{"Content-Type", tc.ct}
			}
			p := checkProblem(t, ts.do(tc.method, tc.path, tc.body, headers...), 400, "bad_request")
			if d, _ := p["detail"].(string); !strings.Contains(d, tc.want) {
				t.Fatalf("detail %q does not name %s", d, tc.want)
			}
		})
	}
	if n := countNums(ts); n != 1 {
		t.Fatalf("%d nums, want 1", n)
	}
	r := ts.must(200, "GET", "/api/nums/"+id, nil)
	if r.Header.Get("ETag") != `"`+id+`:1"` || dig(r.JSON(t), "data.title") != "target" {
		t.Fatalf("target changed: %s", r.Body)
	}
	// A proper pair is one character.
	r = ts.must(201, "POST", "/api/nums", `{"title":"\ud83d\ude00"}`)
	if dig(r.JSON(t), "data.title") != "😀" {
		t.Fatalf("pair stored as %s", r.Body)
	}
}

// TestRequiredPropertyPath: a missing required property is reported at
// its own path, where a form shows the message.
func TestRequiredPropertyPath(t *testing.T) {
	ts := newTestServer(t)
	ts.defineType(numsType)
	p := checkProblem(t, ts.do("POST", "/api/nums", `{"num":3}`), 422, "validation")
	errs, _ := p["errors"].([]any)
	if len(errs) != 1 || dig(errs[0], "path") != "/title" || dig(errs[0], "source") != "schema" {
		t.Fatalf("errors = %v, want one at /title", p["errors"])
	}
}
