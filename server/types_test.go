package server_test

import (
	"net/http"
	"testing"
)

func TestTypes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(usersType)

	cases := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"duplicate", "POST", "/api/types", usersType, 409, "conflict"},
		{"bad name", "POST", "/api/types", `{"name":"Bad-Name","schema":{}}`, 400, "bad_request"},
		{"reserved name", "POST", "/api/types", `{"name":"types","schema":{}}`, 400, "bad_request"},
		{"no schema", "POST", "/api/types", `{"name":"things"}`, 400, "bad_request"},
		{"bad schema", "POST", "/api/types", `{"name":"things","schema":{"type":"nonsense"}}`, 400, "bad_request"},
		{"unknown option", "POST", "/api/types", `{"name":"things","schema":{},"uniqe":["a"]}`, 400, "bad_request"},
		{"bad on_delete", "POST", "/api/types", `{"name":"things","schema":{},"references":{"u":{"type":"users","on_delete":"explode"}}}`, 400, "bad_request"},
		{"unknown reference target", "POST", "/api/types", `{"name":"things","schema":{},"references":{"u":{"type":"nobody"}}}`, 400, "bad_request"},
		{"remote $ref refused", "POST", "/api/types", `{"name":"things","schema":{"$ref":"http://example.com/s.json"}}`, 400, "bad_request"},
		{"malformed JSON", "POST", "/api/types", `{"name":`, 400, "bad_request"},
		{"wrong content type", "POST", "/api/types", nil, 415, "unsupported_media_type"},
		{"unknown type", "GET", "/api/types/nothing", nil, 404, "not_found"},
		{"update unknown type", "PUT", "/api/types/nothing", `{"schema":{}}`, 404, "not_found"},
		{"update name mismatch", "PUT", "/api/types/users", `{"name":"people","schema":{}}`, 400, "bad_request"},
		{"delete unknown", "DELETE", "/api/types/nothing", nil, 404, "not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.body == nil && tc.method == "POST" {
				r = ts.do(tc.method, tc.path, "x", "Content-Type", "text/plain")
			} else {
				r = ts.do(tc.method, tc.path, tc.body)
			}
			checkProblem(t, r, tc.status, tc.code)
		})
	}

	t.Run("list and read", func(t *testing.T) {
		r := ts.must(200, "GET", "/api/types", nil).JSON(t)
		items := r["items"].([]any)
		if len(items) != 1 || dig(items[0], "name") != "users" {
			t.Fatalf("types = %v", items)
		}
		one := ts.must(200, "GET", "/api/types/users", nil).JSON(t)
		if one["schema_version"] != 1.0 {
			t.Fatalf("schema_version = %v", one["schema_version"])
		}
	})

	t.Run("schema change bumps version, revisions keep theirs", func(t *testing.T) {
		created := ts.must(201, "POST", "/api/users", `{"name":"Ada"}`).JSON(t)
		id := created["id"].(string)
		if v := dig(created, "revision.schema_version"); v != 1.0 {
			t.Fatalf("revision schema_version = %v", v)
		}
		// Same definition again: no new version.
		same := ts.must(200, "PUT", "/api/types/users", usersType).JSON(t)
		if same["schema_version"] != 1.0 {
			t.Fatalf("unchanged PUT bumped version: %v", same["schema_version"])
		}
		changed := ts.must(200, "PUT", "/api/types/users", `{"name":"users","schema":{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"email":{"type":"string"},"age":{"type":"integer"}}},"unique":["email"]}`).JSON(t)
		if changed["schema_version"] != 2.0 {
			t.Fatalf("schema_version after change = %v", changed["schema_version"])
		}
		old := ts.must(200, "GET", "/api/users/"+id, nil).JSON(t)
		if v := dig(old, "meta.schema_version"); v != 1.0 {
			t.Fatalf("existing resource schema_version = %v, want 1", v)
		}
		upd := ts.must(200, "PUT", "/api/users/"+id, `{"name":"Ada","age":36}`).JSON(t)
		if v := dig(upd, "revision.schema_version"); v != 2.0 {
			t.Fatalf("new revision schema_version = %v, want 2", v)
		}
		first := ts.must(200, "GET", "/api/users/"+id+"/revisions/1", nil).JSON(t)
		if v := dig(first, "revision.schema_version"); v != 1.0 {
			t.Fatalf("revision 1 schema_version = %v, want 1", v)
		}
	})

	t.Run("unique added over duplicate data is refused", func(t *testing.T) {
		ts.defineType(`{"name":"tags","schema":{"type":"object"}}`)
		ts.must(201, "POST", "/api/tags", `{"label":"a"}`)
		ts.must(201, "POST", "/api/tags", `{"label":"a"}`)
		r := ts.do("PUT", "/api/types/tags", `{"name":"tags","schema":{"type":"object"},"unique":["label"]}`)
		checkProblem(t, r, http.StatusConflict, "conflict")
		if v := ts.must(200, "GET", "/api/types/tags", nil).JSON(t)["unique"]; v != nil {
			t.Fatalf("refused change took effect: unique = %v", v)
		}
	})

	t.Run("drop", func(t *testing.T) {
		ts.defineType(`{"name":"notes","schema":{"type":"object"}}`)
		ts.must(201, "POST", "/api/notes", `{"x":1}`)
		ts.must(204, "DELETE", "/api/types/notes", nil)
		checkProblem(t, ts.do("GET", "/api/notes", nil), 404, "not_found")
		// Re-creating starts empty.
		ts.defineType(`{"name":"notes","schema":{"type":"object"}}`)
		if n := ts.must(200, "GET", "/api/notes/count", nil).JSON(t)["count"]; n != 0.0 {
			t.Fatalf("count after re-create = %v", n)
		}
	})

	t.Run("drop refused while referenced", func(t *testing.T) {
		ts.defineType(`{"name":"comments","schema":{"type":"object"},"references":{"user":{"type":"users"}}}`)
		checkProblem(t, ts.do("DELETE", "/api/types/users", nil), 409, "conflict")
	})
}
