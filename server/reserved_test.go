package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestReservedTypeNames checks that no type may be created under a name
// that is a path under /api.
func TestReservedTypeNames(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)
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
