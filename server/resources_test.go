package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

var timePattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestCreateAndRead(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)

	r := ts.must(201, "POST", "/api/posts", `{"title":"Hello","body":"World","tags":["a"],"views":3}`)
	env := r.JSON(t)
	id := env["id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-`).MatchString(id) {
		t.Fatalf("id %q is not a UUIDv7", id)
	}
	if loc := r.Header.Get("Location"); loc != "/api/posts/"+id {
		t.Fatalf("Location = %q", loc)
	}
	if tag := r.Header.Get("ETag"); tag != `"`+id+`:1"` {
		t.Fatalf("ETag = %q", tag)
	}
	checks := map[string]any{
		"type": "posts", "data.title": "Hello", "meta.current_revision": 1.0, "meta.revision_count": 1.0,
		"meta.deleted": false, "meta.schema_version": 1.0, "revision.number": 1.0, "revision.parent": nil,
		"revision.action": "create",
	}
	for path, want := range checks {
		if got := dig(env, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if h, _ := dig(env, "revision.data_hash").(string); !strings.HasPrefix(h, "sha256:") || len(h) != 71 {
		t.Errorf("data_hash = %q", h)
	}
	if hooks, ok := dig(env, "revision.hooks").([]any); !ok || len(hooks) != 0 {
		t.Errorf("revision.hooks = %v, want []", dig(env, "revision.hooks"))
	}
	for _, p := range []string{"meta.created_at", "meta.updated_at", "revision.created_at"} {
		if s, _ := dig(env, p).(string); !timePattern.MatchString(s) {
			t.Errorf("%s = %q is not RFC 3339 UTC with milliseconds", p, s)
		}
	}

	t.Run("read", func(t *testing.T) {
		got := ts.must(200, "GET", "/api/posts/"+id, nil)
		if string(got.Body) != string(r.Body) {
			t.Fatalf("read differs from create:\n%s\n%s", got.Body, r.Body)
		}
	})
	t.Run("fields", func(t *testing.T) {
		got := ts.must(200, "GET", "/api/posts/"+id+"?fields=title,views", nil).JSON(t)
		data := got["data"].(map[string]any)
		if len(data) != 2 || data["title"] != "Hello" || data["views"] != 3.0 {
			t.Fatalf("projected data = %v", data)
		}
	})
	t.Run("returns=data", func(t *testing.T) {
		got := ts.must(200, "GET", "/api/posts/"+id+"?returns=data", nil)
		if string(got.Body) != `{"body":"World","tags":["a"],"title":"Hello","views":3}` {
			t.Fatalf("bare data = %s", got.Body)
		}
	})
	t.Run("If-None-Match", func(t *testing.T) {
		got := ts.do("GET", "/api/posts/"+id, nil, "If-None-Match", `"`+id+`:1"`)
		if got.Status != http.StatusNotModified || len(got.Body) != 0 {
			t.Fatalf("status %d body %q, want 304 and no body", got.Status, got.Body)
		}
		ts.must(200, "GET", "/api/posts/"+id, nil, "If-None-Match", `"`+id+`:0"`)
	})
	t.Run("client id", func(t *testing.T) {
		got := ts.must(201, "POST", "/api/posts", `{"id":"my-post_1","title":"Mine"}`).JSON(t)
		if got["id"] != "my-post_1" || dig(got, "data.id") != nil {
			t.Fatalf("client id envelope = %v", got)
		}
		checkProblem(t, ts.do("POST", "/api/posts", `{"id":"my-post_1","title":"Again"}`), 409, "conflict")
		checkProblem(t, ts.do("POST", "/api/posts", `{"id":"count","title":"Reserved"}`), 400, "bad_request")
		checkProblem(t, ts.do("POST", "/api/posts", `{"id":"a/b","title":"Slash"}`), 400, "bad_request")
	})
}

func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *serverOptions) { o.BodyLimit = 1 << 10 })
	ts.defineType(postsType)
	ts.defineType(usersType)
	id := ts.must(201, "POST", "/api/posts", `{"title":"Keep"}`).JSON(t)["id"].(string)
	before := ts.must(200, "GET", "/api/changes", nil).JSON(t)["next_since"]

	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []string
		status  int
		code    string
	}{
		{"malformed JSON", "POST", "/api/posts", `{"title":`, nil, 400, "bad_request"},
		{"trailing garbage", "POST", "/api/posts", `{"title":"x"} {}`, nil, 400, "bad_request"},
		{"not an object", "POST", "/api/posts", `["title"]`, nil, 400, "bad_request"},
		{"empty body", "POST", "/api/posts", "", nil, 400, "bad_request"},
		{"deep nesting", "POST", "/api/posts", `{"title":"x","body":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, nil, 400, "bad_request"},
		{"wrong content type", "POST", "/api/posts", `{"title":"x"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"missing content type", "POST", "/api/posts", `{"title":"x"}`, []string{"Content-Type", ""}, 415, "unsupported_media_type"},
		{"too large", "POST", "/api/posts", `{"title":"` + strings.Repeat("x", 2<<10) + `"}`, nil, 413, "too_large"},
		{"schema violation", "POST", "/api/posts", `{"body":"no title","views":"many"}`, nil, 422, "validation"},
		{"bad email format", "POST", "/api/users", `{"name":"x","email":"not-an-email"}`, nil, 422, "validation"},
		{"unknown type", "POST", "/api/nothing", `{"title":"x"}`, nil, 404, "not_found"},
		{"unknown id", "GET", "/api/posts/nope", nil, nil, 404, "not_found"},
		{"bad id", "GET", "/api/posts/" + strings.Repeat("a", 200), nil, nil, 404, "not_found"},
		{"put unknown", "PUT", "/api/posts/nope", `{"title":"x"}`, nil, 404, "not_found"},
		{"put id mismatch", "PUT", "/api/posts/" + id, `{"id":"other","title":"x"}`, nil, 400, "bad_request"},
		{"put schema violation", "PUT", "/api/posts/" + id, `{"title":""}`, nil, 422, "validation"},
		{"patch bad media type", "PATCH", "/api/posts/" + id, `{"title":"x"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"merge patch not object", "PATCH", "/api/posts/" + id, `[1]`, []string{"Content-Type", "application/merge-patch+json"}, 400, "bad_request"},
		{"json patch malformed", "PATCH", "/api/posts/" + id, `{"op":"add"}`, []string{"Content-Type", "application/json-patch+json"}, 400, "bad_request"},
		{"json patch bad path", "PATCH", "/api/posts/" + id, `[{"op":"replace","path":"/nope/x","value":1}]`, []string{"Content-Type", "application/json-patch+json"}, 400, "bad_request"},
		{"json patch test fails", "PATCH", "/api/posts/" + id, `[{"op":"test","path":"/title","value":"Other"},{"op":"replace","path":"/title","value":"Changed"}]`, []string{"Content-Type", "application/json-patch+json"}, 400, "bad_request"},
		{"patch breaks schema", "PATCH", "/api/posts/" + id, `{"title":null}`, []string{"Content-Type", "application/merge-patch+json"}, 422, "validation"},
		{"stale If-Match", "PUT", "/api/posts/" + id, `{"title":"x"}`, []string{"If-Match", `"` + id + `:9"`}, 412, "precondition_failed"},
		{"If-Match other id", "PUT", "/api/posts/" + id, `{"title":"x"}`, []string{"If-Match", `"other:1"`}, 412, "precondition_failed"},
		{"If-Match garbage", "DELETE", "/api/posts/" + id, nil, []string{"If-Match", `garbage`}, 412, "precondition_failed"},
		{"bad limit", "GET", "/api/posts?limit=5000", nil, nil, 400, "bad_request"},
		{"bad cursor", "GET", "/api/posts?cursor=zzz", nil, nil, 400, "bad_request"},
		{"bad revision", "GET", "/api/posts/" + id + "?revision=x", nil, nil, 400, "bad_request"},
		{"missing revision", "GET", "/api/posts/" + id + "/revisions/7", nil, nil, 404, "not_found"},
		{"bad switch", "POST", "/api/posts/" + id + "/switch/0", nil, nil, 400, "bad_request"},
		{"bad since", "GET", "/api/changes?since=-1", nil, nil, 400, "bad_request"},
		{"unknown route", "GET", "/api/posts/" + id + "/nothing", nil, nil, 404, "not_found"},
		{"bad fields", "GET", "/api/posts/" + id + "?fields=a,,b", nil, nil, 400, "bad_request"},
		{"bad returns", "GET", "/api/posts/" + id + "?returns=xml", nil, nil, 400, "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(tc.method, tc.path, tc.body, tc.headers...)
			p := checkProblem(t, r, tc.status, tc.code)
			if tc.status == 422 {
				errs, _ := p["errors"].([]any)
				if len(errs) == 0 || dig(errs[0], "source") != "schema" {
					t.Fatalf("validation problem lacks schema errors: %s", r.Body)
				}
			}
		})
	}
	after := ts.must(200, "GET", "/api/changes", nil).JSON(t)["next_since"]
	if before != after {
		t.Fatalf("bad requests changed the change log: %v → %v", before, after)
	}
	got := ts.must(200, "GET", "/api/posts/"+id, nil).JSON(t)
	if dig(got, "data.title") != "Keep" || dig(got, "meta.current_revision") != 1.0 {
		t.Fatalf("resource changed by bad requests: %v", got)
	}
}

func TestUpdatesAndRevisions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)
	id := ts.must(201, "POST", "/api/posts", `{"title":"v1","views":1}`).JSON(t)["id"].(string)
	path := "/api/posts/" + id

	r := ts.must(200, "PUT", path, `{"title":"v2","views":2}`, "If-Match", `"`+id+`:1"`)
	if r.Header.Get("ETag") != `"`+id+`:2"` {
		t.Fatalf("ETag after PUT = %q", r.Header.Get("ETag"))
	}
	env := r.JSON(t)
	if dig(env, "revision.parent") != 1.0 || dig(env, "revision.action") != "update" {
		t.Fatalf("revision after PUT = %v", env["revision"])
	}

	// Same data (keys in another order): no new revision.
	same := ts.must(200, "PUT", path, `{"views":2,"title":"v2"}`).JSON(t)
	if dig(same, "meta.revision_count") != 2.0 {
		t.Fatalf("identical PUT made a revision: %v", same["meta"])
	}

	merge := ts.must(200, "PATCH", path, `{"views":3,"body":"b"}`, "Content-Type", "application/merge-patch+json").JSON(t)
	if dig(merge, "data.views") != 3.0 || dig(merge, "data.title") != "v2" || dig(merge, "revision.number") != 3.0 {
		t.Fatalf("merge patch = %v", merge)
	}
	plain := ts.must(200, "PATCH", path, `{"body":null}`).JSON(t)
	if dig(plain, "data.body") != nil || dig(plain, "revision.number") != 4.0 {
		t.Fatalf("application/json merge patch = %v", plain)
	}
	jp := ts.must(200, "PATCH", path, `[{"op":"replace","path":"/title","value":"v5"},{"op":"add","path":"/tags","value":["x"]}]`,
		"Content-Type", "application/json-patch+json").JSON(t)
	if dig(jp, "data.title") != "v5" || dig(jp, "revision.number") != 5.0 {
		t.Fatalf("JSON patch = %v", jp)
	}

	t.Run("revision list newest first, paged", func(t *testing.T) {
		var numbers []float64
		cursor := ""
		for page := 0; page < 5; page++ {
			q := path + "/revisions?limit=2"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			body := ts.must(200, "GET", q, nil).JSON(t)
			for _, it := range body["items"].([]any) {
				numbers = append(numbers, dig(it, "number").(float64))
				if _, hasData := it.(map[string]any)["data"]; hasData {
					t.Fatalf("revision info carries data: %v", it)
				}
			}
			next, _ := body["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		if fmt.Sprint(numbers) != "[5 4 3 2 1]" {
			t.Fatalf("revisions = %v", numbers)
		}
	})

	t.Run("old revision", func(t *testing.T) {
		old := ts.must(200, "GET", path+"?revision=1", nil)
		if dig(old.JSON(t), "data.title") != "v1" || old.Header.Get("ETag") != `"`+id+`:1"` {
			t.Fatalf("?revision=1 = %s", old.Body)
		}
		two := ts.must(200, "GET", path+"/revisions/2", nil).JSON(t)
		if dig(two, "data.title") != "v2" || dig(two, "revision.number") != 2.0 || dig(two, "meta.current_revision") != 5.0 {
			t.Fatalf("revisions/2 = %v", two)
		}
	})

	t.Run("diff", func(t *testing.T) {
		for _, pair := range [][2]int{{1, 5}, {5, 1}, {2, 3}, {3, 3}} {
			raw := ts.must(200, "GET", fmt.Sprintf("%s/diff?from=%d&to=%d", path, pair[0], pair[1]), nil).Body
			from := ts.must(200, "GET", fmt.Sprintf("%s?revision=%d&returns=data", path, pair[0]), nil).Body
			to := ts.must(200, "GET", fmt.Sprintf("%s?revision=%d&returns=data", path, pair[1]), nil).Body
			p, err := jsonpatch.DecodePatch(raw)
			if err != nil {
				t.Fatalf("diff %v is not a JSON Patch: %v\n%s", pair, err, raw)
			}
			out, err := p.Apply(from)
			if err != nil {
				t.Fatalf("diff %v does not apply: %v", pair, err)
			}
			if !jsonpatch.Equal(out, to) {
				t.Fatalf("diff %v: applying gives %s, want %s", pair, out, to)
			}
		}
		def := ts.must(200, "GET", path+"/diff", nil).Body
		if !strings.Contains(string(def), `"/title"`) {
			t.Fatalf("default diff (parent → current) = %s", def)
		}
	})

	t.Run("switch", func(t *testing.T) {
		sw := ts.must(200, "POST", path+"/switch/2", nil).JSON(t)
		if dig(sw, "meta.current_revision") != 2.0 || dig(sw, "data.title") != "v2" || dig(sw, "meta.revision_count") != 5.0 {
			t.Fatalf("switch = %v", sw)
		}
		cur := ts.must(200, "GET", path, nil)
		if cur.Header.Get("ETag") != `"`+id+`:2"` {
			t.Fatalf("ETag after switch = %q", cur.Header.Get("ETag"))
		}
		next := ts.must(200, "PATCH", path, `{"views":9}`).JSON(t)
		if dig(next, "revision.number") != 6.0 || dig(next, "revision.parent") != 2.0 || dig(next, "data.title") != "v2" {
			t.Fatalf("update after switch = %v", next["revision"])
		}
	})
}

func TestDeleteRestorePurge(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)
	id := ts.must(201, "POST", "/api/posts", `{"title":"gone soon"}`).JSON(t)["id"].(string)
	path := "/api/posts/" + id

	ts.must(204, "DELETE", path, nil)
	checkProblem(t, ts.do("GET", path, nil), 404, "not_found")
	if d := dig(ts.must(200, "GET", path+"?include_deleted=true", nil).JSON(t), "meta.deleted"); d != true {
		t.Fatalf("meta.deleted = %v", d)
	}
	checkProblem(t, ts.do("PUT", path, `{"title":"x"}`), 410, "gone")
	checkProblem(t, ts.do("PATCH", path, `{"title":"x"}`), 410, "gone")
	checkProblem(t, ts.do("DELETE", path, nil), 410, "gone")
	if n := ts.must(200, "GET", "/api/posts/count", nil).JSON(t)["count"]; n != 0.0 {
		t.Fatalf("count with one deleted = %v", n)
	}
	if n := ts.must(200, "GET", "/api/posts/count?include_deleted=true", nil).JSON(t)["count"]; n != 1.0 {
		t.Fatalf("count including deleted = %v", n)
	}
	// The unique title is free while deleted…
	other := ts.must(201, "POST", "/api/posts", `{"title":"gone soon"}`).JSON(t)["id"].(string)
	// …so restoring conflicts until it is free again.
	checkProblem(t, ts.do("POST", path+"/restore", nil), 409, "conflict")
	ts.must(204, "DELETE", "/api/posts/"+other+"?purge=true", nil)
	res := ts.must(200, "POST", path+"/restore", nil).JSON(t)
	if dig(res, "meta.deleted") != false || dig(res, "data.title") != "gone soon" {
		t.Fatalf("restored = %v", res)
	}
	ts.must(200, "GET", path, nil)

	ts.must(204, "DELETE", path+"?purge=true", nil)
	checkProblem(t, ts.do("GET", path+"?include_deleted=true", nil), 404, "not_found")
	checkProblem(t, ts.do("GET", path+"/revisions", nil), 404, "not_found")

	var actions []string
	for _, it := range ts.must(200, "GET", "/api/changes?types=posts", nil).JSON(t)["items"].([]any) {
		if dig(it, "id") == id {
			actions = append(actions, dig(it, "action").(string))
		}
	}
	if strings.Join(actions, ",") != "create,delete,restore,purge" {
		t.Fatalf("change log actions = %v", actions)
	}
}

func TestUniqueAndReferences(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(usersType)
	ts.defineType(`{"name":"posts","schema":{"type":"object","properties":{"title":{"type":"string"},"author":{"type":["string","null"]},"editor":{"type":["string","null"]}}},
		"references":{"author":{"type":"users","on_delete":"restrict"},"editor":{"type":"users","on_delete":"set_null"}}}`)
	ts.defineType(`{"name":"comments","schema":{"type":"object"},"references":{"post":{"type":"posts","on_delete":"cascade"}}}`)

	ada := ts.must(201, "POST", "/api/users", `{"name":"Ada","email":"ada@example.com"}`).JSON(t)["id"].(string)
	bob := ts.must(201, "POST", "/api/users", `{"name":"Bob","email":"bob@example.com"}`).JSON(t)["id"].(string)

	t.Run("unique", func(t *testing.T) {
		p := checkProblem(t, ts.do("POST", "/api/users", `{"name":"Eve","email":"ada@example.com"}`), 409, "conflict")
		if dig(p["errors"].([]any)[0], "path") != "/email" {
			t.Fatalf("conflict errors = %v", p["errors"])
		}
		checkProblem(t, ts.do("PATCH", "/api/users/"+bob, `{"email":"ada@example.com"}`), 409, "conflict")
		// Null and missing values do not collide.
		ts.must(201, "POST", "/api/users", `{"name":"N1"}`)
		ts.must(201, "POST", "/api/users", `{"name":"N2"}`)
		// Changing away frees the old value.
		ts.must(200, "PATCH", "/api/users/"+bob, `{"email":"robert@example.com"}`)
		carl := ts.must(201, "POST", "/api/users", `{"name":"Carl","email":"bob@example.com"}`).JSON(t)["id"].(string)
		ts.must(204, "DELETE", "/api/users/"+carl+"?purge=true", nil)
	})

	post := ts.must(201, "POST", "/api/posts", fmt.Sprintf(`{"title":"p","author":%q,"editor":%q}`, ada, bob)).JSON(t)["id"].(string)
	comment := ts.must(201, "POST", "/api/comments", fmt.Sprintf(`{"text":"c","post":%q}`, post)).JSON(t)["id"].(string)

	t.Run("dangling reference refused", func(t *testing.T) {
		p := checkProblem(t, ts.do("POST", "/api/posts", `{"title":"x","author":"nobody"}`), 409, "conflict")
		if dig(p["errors"].([]any)[0], "path") != "/author" {
			t.Fatalf("errors = %v", p["errors"])
		}
		checkProblem(t, ts.do("POST", "/api/posts", `{"title":"x","author":42}`), 422, "validation")
	})
	t.Run("referrers", func(t *testing.T) {
		items := ts.must(200, "GET", "/api/users/"+ada+"/referrers", nil).JSON(t)["items"].([]any)
		if len(items) != 1 || dig(items[0], "id") != post || dig(items[0], "field") != "author" || dig(items[0], "type") != "posts" {
			t.Fatalf("referrers = %v", items)
		}
	})
	t.Run("restrict", func(t *testing.T) {
		checkProblem(t, ts.do("DELETE", "/api/users/"+ada, nil), 409, "conflict")
		checkProblem(t, ts.do("DELETE", "/api/users/"+ada+"?purge=true", nil), 409, "conflict")
		ts.must(200, "GET", "/api/users/"+ada, nil)
	})
	t.Run("set_null", func(t *testing.T) {
		ts.must(204, "DELETE", "/api/users/"+bob, nil)
		p := ts.must(200, "GET", "/api/posts/"+post, nil).JSON(t)
		if dig(p, "data.editor") != nil || dig(p, "meta.current_revision") != 2.0 || dig(p, "data.author") != ada {
			t.Fatalf("post after editor deleted = %v", p)
		}
	})
	t.Run("cascade", func(t *testing.T) {
		ts.must(204, "DELETE", "/api/posts/"+post, nil, "If-Match", "")
		checkProblem(t, ts.do("GET", "/api/comments/"+comment, nil), 404, "not_found")
		ts.must(200, "GET", "/api/comments/"+comment+"?include_deleted=true", nil)
		// Deleted posts no longer hold their author: a soft delete of the
		// author is allowed, a purge is not (the deleted post still points).
		ts.must(204, "DELETE", "/api/users/"+ada, nil)
		ts.must(200, "POST", "/api/users/"+ada+"/restore", nil)
		checkProblem(t, ts.do("DELETE", "/api/users/"+ada+"?purge=true", nil), 409, "conflict")
		ts.must(204, "DELETE", "/api/posts/"+post+"?purge=true", nil)
		checkProblem(t, ts.do("GET", "/api/comments/"+comment+"?include_deleted=true", nil), 404, "not_found")
		ts.must(204, "DELETE", "/api/users/"+ada+"?purge=true", nil)
	})
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"items","schema":{"type":"object"}}`)
	const n = 45
	want := make([]string, n)
	for i := range n {
		want[i] = ts.must(201, "POST", "/api/items", fmt.Sprintf(`{"i":%d}`, i)).JSON(t)["id"].(string)
	}
	ts.must(204, "DELETE", "/api/items/"+want[10], nil)
	live := append(append([]string{}, want[:10]...), want[11:]...)

	walk := func(query string) []string {
		var got []string
		cursor := ""
		for range 100 {
			q := "/api/items?limit=7" + query
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			body := ts.must(200, "GET", q, nil).JSON(t)
			items := body["items"].([]any)
			if len(items) > 7 {
				t.Fatalf("page of %d items with limit 7", len(items))
			}
			for _, it := range items {
				got = append(got, dig(it, "id").(string))
			}
			next, _ := body["next_cursor"].(string)
			if next == "" {
				return got
			}
			cursor = next
			// Inserts during the walk land after it and are not seen twice.
			ts.must(201, "POST", "/api/items", `{"late":true}`)
		}
		t.Fatal("cursor walk does not end")
		return nil
	}
	if got := walk(""); strings.Join(got[:len(live)], ",") != strings.Join(live, ",") {
		t.Fatalf("walk = %v\nwant prefix %v", got, live)
	}
	rev := walk("&sort=-created_at")
	if rev[len(rev)-1] != want[0] || len(rev) < len(live) {
		t.Fatalf("reverse walk ends with %v, want %v", rev[len(rev)-1], want[0])
	}
	body := ts.must(200, "GET", "/api/items?total=true&limit=1&include_deleted=true", nil).JSON(t)
	if body["total"] == nil || body["total"].(float64) < n {
		t.Fatalf("total = %v", body["total"])
	}
	if _, has := ts.must(200, "GET", "/api/items?limit=1", nil).JSON(t)["total"]; has {
		t.Fatal("total computed without total=true")
	}
	checkProblem(t, ts.do("GET", "/api/items?filter=a%3D1", nil), 400, "bad_request")
}

func TestBatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(usersType)
	ts.defineType(postsType)
	existing := ts.must(201, "POST", "/api/posts", `{"title":"existing"}`).JSON(t)["id"].(string)

	batch := func(reqs ...map[string]any) response {
		return ts.do("POST", "/api/batch", map[string]any{"requests": reqs})
	}
	req := func(method, url string, body any, headers ...string) map[string]any {
		h := map[string]string{}
		for i := 0; i+1 < len(headers); i += 2 {
			h[headers[i]] = headers[i+1]
		}
		return map[string]any{"method": method, "url": url, "body": body, "headers": h}
	}

	ok := batch(
		req("POST", "/api/users", map[string]any{"id": "u1", "name": "U1"}),
		req("POST", "/api/posts", map[string]any{"id": "p1", "title": "P1"}),
		req("PATCH", "/api/posts/p1", map[string]any{"views": 5}),
		req("PATCH", "/api/posts/"+existing, []any{map[string]any{"op": "replace", "path": "/title", "value": "changed"}}, "Content-Type", "application/json-patch+json"),
		req("DELETE", "/api/users/u1", nil),
	)
	if ok.Status != 200 {
		t.Fatalf("batch: %d %s", ok.Status, ok.Body)
	}
	var out struct {
		Responses []struct {
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(ok.Body, &out); err != nil {
		t.Fatal(err)
	}
	statuses := []int{}
	for _, r := range out.Responses {
		statuses = append(statuses, r.Status)
	}
	if fmt.Sprint(statuses) != "[201 201 200 200 204]" {
		t.Fatalf("statuses = %v", statuses)
	}
	if v := dig(ts.must(200, "GET", "/api/posts/p1", nil).JSON(t), "data.views"); v != 5.0 {
		t.Fatalf("p1 views = %v", v)
	}

	seqBefore := ts.must(200, "GET", "/api/changes", nil).JSON(t)["next_since"]
	failing := batch(
		req("POST", "/api/posts", map[string]any{"id": "p2", "title": "P2"}),
		req("PUT", "/api/posts/"+existing, map[string]any{"title": "again"}),
		req("POST", "/api/posts", map[string]any{"title": "P1"}), // unique clash with p1
	)
	p := checkProblem(t, failing, 409, "conflict")
	if p["index"] != 2.0 {
		t.Fatalf("index = %v", p["index"])
	}
	checkProblem(t, ts.do("GET", "/api/posts/p2", nil), 404, "not_found")
	if v := dig(ts.must(200, "GET", "/api/posts/"+existing, nil).JSON(t), "data.title"); v != "changed" {
		t.Fatalf("failed batch changed a resource: title %v", v)
	}
	if seqAfter := ts.must(200, "GET", "/api/changes", nil).JSON(t)["next_since"]; seqAfter != seqBefore {
		t.Fatalf("failed batch wrote change log entries: %v → %v", seqBefore, seqAfter)
	}

	for name, body := range map[string]any{
		"bad route":   map[string]any{"requests": []any{req("GET", "/api/posts", nil)}},
		"bad url":     map[string]any{"requests": []any{req("POST", "/elsewhere", map[string]any{})}},
		"empty":       map[string]any{"requests": []any{}},
		"not a batch": map[string]any{"reqs": 1},
		"stale":       map[string]any{"requests": []any{req("PUT", "/api/posts/p1", map[string]any{"title": "z"}, "If-Match", `"p1:1"`)}},
	} {
		t.Run(name, func(t *testing.T) {
			r := ts.do("POST", "/api/batch", body)
			if r.Status < 400 || r.Status >= 500 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		})
	}
	var many []map[string]any
	for i := range 1001 {
		many = append(many, req("POST", "/api/users", map[string]any{"name": fmt.Sprint(i)}))
	}
	checkProblem(t, batch(many...), 400, "bad_request")
}

func TestChangeLog(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)
	ts.defineType(usersType)
	id := ts.must(201, "POST", "/api/posts", `{"title":"a"}`).JSON(t)["id"].(string)
	ts.must(201, "POST", "/api/users", `{"name":"u"}`)
	ts.must(200, "PUT", "/api/posts/"+id, `{"title":"b"}`)
	ts.must(200, "POST", "/api/posts/"+id+"/switch/1", nil)

	all := ts.must(200, "GET", "/api/changes", nil).JSON(t)
	items := all["items"].([]any)
	var got []string
	for i, it := range items {
		if dig(it, "seq") != float64(i+1) {
			t.Fatalf("seq %v at position %d: the log has a gap", dig(it, "seq"), i)
		}
		if at, _ := dig(it, "at").(string); !timePattern.MatchString(at) {
			t.Fatalf("at = %q", at)
		}
		got = append(got, fmt.Sprintf("%s:%s:%v", dig(it, "type"), dig(it, "action"), dig(it, "revision")))
	}
	want := "posts:type:1 users:type:1 posts:create:1 users:create:1 posts:update:2 posts:switch:1"
	if strings.Join(got, " ") != want {
		t.Fatalf("change log = %v\nwant %v", got, want)
	}
	if all["next_since"] != 6.0 {
		t.Fatalf("next_since = %v", all["next_since"])
	}
	page := ts.must(200, "GET", "/api/changes?since=3&limit=2&types=posts", nil).JSON(t)
	pi := page["items"].([]any)
	if len(pi) != 2 || dig(pi[0], "seq") != 5.0 || dig(pi[1], "seq") != 6.0 {
		t.Fatalf("filtered page = %v", pi)
	}
}

// TestDiffExactNumbers checks that diffs see changes beyond float64
// precision.
func TestDiffExactNumbers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"nums","schema":{"type":"object"}}`)
	// 2^53+1 is refused (a double cannot hold it); 2^53 and 2^53+2 are
	// neighbouring doubles, and the diff tells them apart.
	checkProblem(t, ts.do("POST", "/api/nums", `{"n":9007199254740993}`), 400, "bad_request")
	id := ts.must(201, "POST", "/api/nums", `{"n":9007199254740994}`).JSON(t)["id"].(string)
	ts.must(200, "PUT", "/api/nums/"+id, `{"n":9007199254740992}`)
	got := string(ts.must(200, "GET", "/api/nums/"+id+"/diff?from=1&to=2", nil).Body)
	if got != `[{"op":"replace","path":"/n","value":9007199254740992}]` {
		t.Fatalf("diff = %s", got)
	}
	if data := string(ts.must(200, "GET", "/api/nums/"+id+"?revision=1&returns=data", nil).Body); data != `{"n":9007199254740994}` {
		t.Fatalf("revision 1 data = %s", data)
	}
}
