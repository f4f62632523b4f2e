package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestNotBuiltPaths checks that the paths SPEC reserves for surfaces not
// built yet answer 501 not_implemented saying so, rather than 404
// `unknown type "events"`, and that no type may be created under one of
// their names.
func TestNotBuiltPaths(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)
	cases := []struct{ method, path, what string }{
		{"GET", "/api/export", "export"},
		{"POST", "/api/import", "import"},
		{"GET", "/api/posts/export", "export"},
		{"POST", "/api/posts/import", "import"},
		{"GET", "/api/backup", "online backup"},
		{"POST", "/api/hooks/titles/replay", "hook replay"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			p := checkProblem(t, ts.do(tc.method, tc.path, nil), http.StatusNotImplemented, "not_implemented")
			if d, _ := p["detail"].(string); !strings.Contains(d, tc.what+" is not built yet") {
				t.Fatalf("detail %q", d)
			}
		})
	}
	for _, name := range []string{"events", "blobs", "export", "import", "webhooks", "backup"} {
		r := ts.do("POST", "/api/types", `{"name":"`+name+`","schema":{"type":"object"}}`)
		checkProblem(t, r, http.StatusBadRequest, "bad_request")
		if !strings.Contains(string(r.Body), `\"`+name+`\" is reserved`) {
			t.Fatalf("type %s: %s", name, r.Body)
		}
	}
	// The routes of types are untouched.
	ts.must(200, "GET", "/api/posts", nil)
}
