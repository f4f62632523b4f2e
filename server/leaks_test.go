package server_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestIDTakenOverHTTP: POST with an id already taken answers 409 "id is
// taken", identical for the writer's own live and deleted resources and
// for another principal's it may not read.
func TestIDTakenOverHTTP(t *testing.T) {
	ts := newTestServer(t)
	ts.defineType(notesType)
	tokens, _ := ts.principals()
	owner := []string{"Authorization", tokens["owner"]}
	other := []string{"Authorization", tokens["authenticated"]}
	ts.must(201, "POST", "/api/notes", map[string]any{"id": "a-live", "text": "x"}, owner...)
	ts.must(201, "POST", "/api/notes", map[string]any{"id": "a-deleted", "text": "x"}, owner...)
	ts.must(204, "DELETE", "/api/notes/a-deleted", nil, owner...)
	for _, tc := range []struct {
		who []string
		id  string
	}{{owner, "a-live"}, {owner, "a-deleted"}, {other, "a-live"}, {other, "a-deleted"}} {
		r := ts.do("POST", "/api/notes", map[string]any{"id": tc.id, "text": "y"}, tc.who...)
		p := checkProblem(t, r, 409, "conflict")
		if p["detail"] != "id is taken" {
			t.Fatalf("POST %s: detail %q, want \"id is taken\"", tc.id, p["detail"])
		}
	}
}

// TestReferenceLeaksOverHTTP: a reference to a resource the writer may not
// read answers as one to a missing or deleted resource.
func TestReferenceLeaksOverHTTP(t *testing.T) {
	ts := newTestServer(t)
	ts.defineType(notesType)
	ts.defineType(`{"name":"pins","schema":{"type":"object","properties":{"note":{"type":"string"}}},
	  "references":{"note":{"type":"notes","on_delete":"cascade"}},
	  "permissions":{"read":["owner"],"create":["authenticated"],"delete":["owner"]}}`)
	tokens, _ := ts.principals()
	owner := []string{"Authorization", tokens["owner"]}
	other := []string{"Authorization", tokens["authenticated"]}
	ts.must(201, "POST", "/api/notes", map[string]any{"id": "a-live", "text": "x"}, owner...)
	ts.must(201, "POST", "/api/notes", map[string]any{"id": "a-deleted", "text": "x"}, owner...)
	ts.must(204, "DELETE", "/api/notes/a-deleted", nil, owner...)
	var first string
	for _, id := range []string{"a-live", "a-deleted", "missing"} {
		r := ts.do("POST", "/api/pins", map[string]any{"note": id}, other...)
		checkProblem(t, r, 409, "conflict")
		got := strings.ReplaceAll(string(r.Body), id, "ID")
		if first == "" {
			first = got
		}
		if got != first {
			t.Fatalf("reference to %s: %s; differs from %s", id, got, first)
		}
	}
}

// TestHiddenFieldsOverHTTP: a hidden field is neither shown to nor
// usable in filter, sort or q by anyone but administrators.
func TestHiddenFieldsOverHTTP(t *testing.T) {
	ts := newTestServer(t)
	ts.defineType(`{"name":"users","schema":{"type":"object","properties":{
	  "name":{"type":"string"},"password_hash":{"type":"string"}}},
	  "hidden":["password_hash"],"search":["name"],
	  "permissions":{"read":["public"],"create":["public"]}}`)
	ts.defineType(`{"name":"bios","schema":{"type":"object","properties":{
	  "bio":{"type":"string"},"secret":{"type":"string"}}},
	  "hidden":["secret"],"search":["bio","secret"],
	  "permissions":{"read":["public"],"create":["public"]}}`)
	anon := []string{"Authorization", ""}
	created := ts.must(201, "POST", "/api/users", map[string]any{"id": "u1", "name": "ann", "password_hash": "h1"}, anon...)
	if strings.Contains(string(created.Body), "password_hash") {
		t.Fatalf("the create response shows the hidden field: %s", created.Body)
	}
	ts.must(201, "POST", "/api/bios", map[string]any{"bio": "river", "secret": "lake"}, anon...)
	for _, path := range []string{"/api/users/u1", "/api/users", "/api/users/u1/revisions/1", "/api/users?filter=" + url.QueryEscape(`name != null`), "/api/users?q=ann"} {
		r := ts.must(200, "GET", path, nil, anon...)
		if strings.Contains(string(r.Body), "password_hash") {
			t.Fatalf("GET %s shows the hidden field: %s", path, r.Body)
		}
		if r := ts.must(200, "GET", path, nil); !strings.Contains(string(r.Body), "password_hash") {
			t.Fatalf("admin's GET %s lacks the hidden field: %s", path, r.Body)
		}
	}
	// Filter and sort on a hidden field read as on an unknown one.
	for _, q := range []string{"filter=%s%3D%22h1%22", "sort=%s", "sort=-%s"} {
		hidden := ts.do("GET", "/api/users?"+strings.ReplaceAll(q, "%s", "password_hash"), nil, anon...)
		unknown := ts.do("GET", "/api/users?"+strings.ReplaceAll(q, "%s", "nothing_here"), nil, anon...)
		checkProblem(t, hidden, 400, "bad_request")
		h := strings.ReplaceAll(string(hidden.Body), "password_hash", "F")
		u := strings.ReplaceAll(string(unknown.Body), "nothing_here", "F")
		if h != u {
			t.Fatalf("%s: hidden %s; unknown %s", q, h, u)
		}
		ts.must(200, "GET", "/api/users?"+strings.ReplaceAll(q, "%s", "password_hash"), nil)
	}
	if r := ts.do("GET", "/api/users/count?filter="+url.QueryEscape(`password_hash="h1"`), nil, anon...); r.Status != 400 {
		t.Fatalf("count filtered on a hidden field: %d %s", r.Status, r.Body)
	}
	// q over search fields that include a hidden one is refused.
	checkProblem(t, ts.do("GET", "/api/bios?q=lake", nil, anon...), 400, "bad_request")
	if r := ts.must(200, "GET", "/api/bios?q=lake", nil); !strings.Contains(string(r.Body), "lake") {
		t.Fatalf("admin's q: %s", r.Body)
	}
}
