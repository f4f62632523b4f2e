package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// exportFixture fills ts with two types, a reference between them, and
// resources with histories: updates, a switch back and an update over it
// (a switch tree), a soft delete.
func exportFixture(t *testing.T, ts *testServer) {
	t.Helper()
	ts.defineType(usersType)
	ts.defineType(`{"name": "posts", "schema": {"type": "object", "required": ["title"],
	  "properties": {"title": {"type": "string"}, "body": {"type": "string"}, "author": {"type": ["string", "null"]}}},
	  "search": ["title", "body"], "unique": ["title"],
	  "references": {"author": {"type": "users", "on_delete": "set_null"}}}`)
	ts.must(201, "POST", "/api/users", `{"id": "ada", "name": "Ada", "email": "ada@example.com"}`)
	ts.must(200, "PUT", "/api/users/ada", `{"name": "Ada Lovelace", "email": "ada@example.com"}`)
	ts.must(201, "POST", "/api/users", `{"id": "bob", "name": "Bob"}`)
	ts.must(201, "POST", "/api/posts", `{"id": "p1", "title": "Engines", "body": "analytical", "author": "ada"}`)
	ts.must(200, "PUT", "/api/posts/p1", `{"title": "Engines 2", "body": "difference", "author": "ada"}`)
	ts.must(200, "POST", "/api/posts/p1/switch/1", nil)
	ts.must(200, "PUT", "/api/posts/p1", `{"title": "Engines 3", "body": "branch", "author": "bob"}`)
	ts.must(201, "POST", "/api/posts", `{"id": "p2", "title": "Notes", "body": "note G"}`)
	ts.must(204, "DELETE", "/api/posts/p2", nil)
	ts.must(201, "POST", "/api/posts", `{"id": "p3", "title": "Zeta \u2028 \"quoted\""}`)
}

func (ts *testServer) importBody(path string, body []byte) response {
	ts.t.Helper()
	return ts.do("POST", path, body, "Content-Type", "application/x-ndjson")
}

// TestExportImportRoundTrip exports a server, imports the export into an
// empty one and exports that: the lines are the same. The imported
// resources are searchable and in the change log.
func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	src := newTestServer(t)
	exportFixture(t, src)
	first := src.must(200, "GET", "/api/export", nil)
	if ct := first.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("Content-Type %q", ct)
	}
	lines := strings.Split(strings.TrimSuffix(string(first.Body), "\n"), "\n")
	if len(lines) != 2+5 {
		t.Fatalf("%d lines, want 2 types and 5 resources:\n%s", len(lines), first.Body)
	}
	for i, want := range []string{`{"kind":"type","definition":{"name":"posts"`, `{"kind":"type","definition":{"name":"users"`,
		`{"kind":"resource","type":"posts","id":"p1"`} {
		if !strings.HasPrefix(lines[i], want) {
			t.Fatalf("line %d: %s\nwant prefix %s", i+1, lines[i], want)
		}
	}
	// p1's switch tree: 3 was written over 1.
	if !strings.Contains(lines[2], `{"number":3,"parent":1,`) || !strings.Contains(lines[2], `"current_revision":3,"revision_count":3`) {
		t.Fatalf("p1's line lacks its tree: %s", lines[2])
	}

	dst := newTestServer(t)
	r := dst.importBody("/api/import", first.Body)
	if r.Status != 200 {
		t.Fatalf("import: %d %s", r.Status, r.Body)
	}
	res := r.JSON(t)
	if res["types"] != 2.0 || res["resources"] != 5.0 || res["revisions"] != 8.0 {
		t.Fatalf("import result %v", res)
	}
	second := dst.must(200, "GET", "/api/export", nil)
	if !bytes.Equal(first.Body, second.Body) {
		t.Fatalf("export after import differs:\n%s\n----\n%s", first.Body, second.Body)
	}
	// Per type too.
	one := src.must(200, "GET", "/api/posts/export", nil)
	if strings.Contains(string(one.Body), `"kind":"type"`) || strings.Count(string(one.Body), "\n") != 3 {
		t.Fatalf("export of posts:\n%s", one.Body)
	}
	if again := dst.must(200, "GET", "/api/posts/export", nil); !bytes.Equal(one.Body, again.Body) {
		t.Fatalf("type export after import differs")
	}

	// The search index and the change log saw the import.
	found := dst.must(200, "GET", "/api/posts?q=branch", nil).JSON(t)["items"].([]any)
	if len(found) != 1 || dig(found[0], "id") != "p1" {
		t.Fatalf("search for the imported p1: %v", found)
	}
	ch := dst.must(200, "GET", "/api/changes?types=posts,users", nil).JSON(t)
	actions := map[string]string{}
	for _, it := range ch["items"].([]any) {
		if m := it.(map[string]any); m["action"] != "type" {
			actions[m["id"].(string)] = m["action"].(string)
		}
	}
	if len(actions) != 5 {
		t.Fatalf("%d changes of imported resources, want 5 (one each): %v", len(actions), ch)
	}
	if actions["p1"] != "create" || actions["p2"] != "delete" {
		t.Fatalf("change actions %v", actions)
	}
	// History, authors and times came along.
	got := dst.must(200, "GET", "/api/posts/p1/revisions/3", nil).JSON(t)
	want := src.must(200, "GET", "/api/posts/p1/revisions/3", nil).JSON(t)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("revision 3 after import:\n%v\nwant\n%v", got, want)
	}
	dst.must(404, "GET", "/api/posts/p2", nil)
	// The unique index came along: the title of p3 is taken.
	dst.must(409, "POST", "/api/posts", `{"title": "Zeta \u2028 \"quoted\""}`)
}

// TestImportRefusesBadFile sends files with one bad line: the import is
// refused naming the line, and nothing of the file is imported.
func TestImportRefusesBadFile(t *testing.T) {
	t.Parallel()
	src := newTestServer(t)
	exportFixture(t, src)
	good := strings.Split(strings.TrimSuffix(string(src.must(200, "GET", "/api/export", nil).Body), "\n"), "\n")
	replace := func(i int, old, new string) []string {
		l := append([]string(nil), good...)
		if !strings.Contains(l[i], old) {
			t.Fatalf("line %d has no %q", i+1, old)
		}
		l[i] = strings.Replace(l[i], old, new, 1)
		return l
	}
	cases := []struct {
		name   string
		lines  []string
		status int
		detail string
	}{
		{"malformed JSON", replace(4, `{"kind"`, `{kind`), 400, "import line 5: not valid JSON"},
		{"unknown kind", replace(3, `"kind":"resource"`, `"kind":"thing"`), 400, "import line 4: \"kind\""},
		{"tampered data", replace(2, `"Engines 3"`, `"Engines 4"`), 400, "import line 3: revision 3: data_hash"},
		{"parent after", replace(2, `{"number":3,"parent":1`, `{"number":3,"parent":3`), 400, "import line 3: revision 3: parent"},
		{"current missing", replace(2, `"current_revision":3`, `"current_revision":4`), 400, "import line 3: meta"},
		{"bad id", replace(5, `"id":"ada"`, `"id":"a d a"`), 400, "import line 6: id"},
		{"unknown type", replace(4, `"type":"posts"`, `"type":"nope"`), 400, `import line 5: unknown type "nope"`},
		{"dangling reference", replace(1, `"name":"users"`, `"name":"people"`), 400, `import line 1: type posts: reference author names type "users"`},
		{"out of order", append(append([]string(nil), good...), good[4]), 400, "import line 8: posts/p3 comes after"},
		{"type after resource", append(append([]string(nil), good...), good[0]), 400, "import line 8: a type definition after a resource"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := newTestServer(t)
			r := dst.importBody("/api/import", []byte(strings.Join(tc.lines, "\n")+"\n"))
			p := checkProblem(t, r, tc.status, "bad_request")
			if d, _ := p["detail"].(string); !strings.Contains(d, tc.detail) {
				t.Fatalf("detail %q, want %q", d, tc.detail)
			}
			// Nothing was imported: no type, no change.
			if body := dst.must(200, "GET", "/api/export", nil).Body; len(body) != 0 {
				t.Fatalf("something was imported:\n%s", body)
			}
			if ch := dst.must(200, "GET", "/api/changes", nil).JSON(t); len(ch["items"].([]any)) != 0 {
				t.Fatalf("changes after a refused import: %v", ch)
			}
		})
	}
}

// TestImportConflict imports over existing ids: 409 and nothing written,
// or skip, or replace.
func TestImportConflict(t *testing.T) {
	t.Parallel()
	src := newTestServer(t)
	exportFixture(t, src)
	posts := src.must(200, "GET", "/api/posts/export", nil).Body

	dst := newTestServer(t)
	dst.must(201, "POST", "/api/types", src.must(200, "GET", "/api/types/users", nil).Body)
	dst.must(201, "POST", "/api/types", src.must(200, "GET", "/api/types/posts", nil).Body)
	dst.must(201, "POST", "/api/posts", `{"id": "p2", "title": "Mine"}`)
	dst.must(201, "POST", "/api/posts", `{"id": "p9", "title": "Other"}`)

	r := dst.importBody("/api/posts/import", posts)
	p := checkProblem(t, r, 409, "conflict")
	if d, _ := p["detail"].(string); !strings.Contains(d, "import line 2: posts/p2 exists") {
		t.Fatalf("detail %q", d)
	}
	dst.must(404, "GET", "/api/posts/p1", nil)

	res := dst.importBody("/api/posts/import?on_conflict=skip", posts)
	if res.Status != 200 || !strings.Contains(string(res.Body), `"resources":2,"revisions":4,"skipped":1`) {
		t.Fatalf("skip: %d %s", res.Status, res.Body)
	}
	if got := dst.must(200, "GET", "/api/posts/p2", nil).JSON(t); dig(got, "data.title") != "Mine" {
		t.Fatalf("p2 after skip: %v", got)
	}
	res = dst.importBody("/api/posts/import?on_conflict=replace", posts)
	if res.Status != 200 || !strings.Contains(string(res.Body), `"replaced":3`) {
		t.Fatalf("replace: %d %s", res.Status, res.Body)
	}
	dst.must(404, "GET", "/api/posts/p2", nil) // deleted, as exported
	again := dst.must(200, "GET", "/api/posts/export", nil).Body
	if !bytes.Contains(again, posts[:bytes.LastIndexByte(posts[:len(posts)-1], '\n')]) {
		t.Fatalf("after replace:\n%s\nwant the exported lines", again)
	}
	dst.must(201, "POST", "/api/posts", `{"title": "Mine"}`) // p2's old title was released

	checkProblem(t, dst.importBody("/api/posts/import?on_conflict=merge", posts), 400, "bad_request")
	checkProblem(t, dst.importBody("/api/users/import", posts), 400, "bad_request")
}

// TestExportImportAdminOnly: only administrators export, import and back
// up.
func TestExportImportAdminOnly(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	exportFixture(t, ts)
	for _, rq := range []struct{ method, path string }{
		{"GET", "/api/export"}, {"GET", "/api/posts/export"}, {"POST", "/api/import"},
		{"POST", "/api/posts/import"}, {"GET", "/api/backup"},
	} {
		r := ts.do(rq.method, rq.path, "", "Authorization", "", "Content-Type", "application/x-ndjson")
		checkProblem(t, r, http.StatusUnauthorized, "unauthorized")
	}
	ts.must(404, "GET", "/api/nope/export", nil)
}
