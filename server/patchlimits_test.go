package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/strata-dev/strata/core"
)

// limitedServer is a test server whose body limit, and so its
// max_document_size, is 64 KiB: small enough for the race detector to
// run the amplifying patches quickly.
func limitedServer(t *testing.T) *testServer {
	t.Helper()
	ts := newTestServer(t, func(o *serverOptions) { o.BodyLimit = 64 << 10 })
	ts.defineType(`{"name":"docs","schema":{"type":"object"}}`)
	ts.must(http.StatusCreated, "POST", "/api/docs", `{"id":"d1","obj":{"k":"0123456789012345678901234567890123456789012345678901234567890123"}}`)
	return ts
}

// selfCopies is the JSON Patch that once stored a 120 MB revision from a
// 1 KB body: n copies of /obj into itself, each doubling it.
func selfCopies(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"copy","from":"/obj","path":"/obj/c%d"}`, i)
	}
	return "[" + strings.Join(ops, ",") + "]"
}

// TestWritesOverMaxDocumentSize: writes whose result is over
// max_document_size (the amplifying patch among them) are 413 too_large
// naming the limit, and write nothing.
func TestWritesOverMaxDocumentSize(t *testing.T) {
	ts := limitedServer(t)
	// U+2028 is 3 bytes as sent and 6 as stored (escaped, for JavaScript
	// parsers), so these bodies are under the body limit and their data
	// over it: the limit is on what is stored.
	wide := strings.Repeat("\u2028", 20000)
	cases := []struct {
		name, method, path, body, contentType string
	}{
		{"20 self copies", "PATCH", "/api/docs/d1", selfCopies(20), "application/json-patch+json"},
		{"30 self copies", "PATCH", "/api/docs/d1", selfCopies(30), "application/json-patch+json"},
		{"merge patch", "PATCH", "/api/docs/d1", `{"a":"` + wide + `"}`, "application/merge-patch+json"},
		{"JSON Patch add", "PATCH", "/api/docs/d1", `[{"op":"add","path":"/a","value":"` + wide + `"}]`, "application/json-patch+json"},
		{"create", "POST", "/api/docs", `{"a":"` + wide + `"}`, "application/json"},
		{"replace", "PUT", "/api/docs/d1", `{"a":"` + wide + `"}`, "application/json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.body) > 64<<10 {
				t.Fatalf("the body (%d bytes) is over the body limit: the test would not reach the document limit", len(c.body))
			}
			r := ts.do(c.method, c.path, c.body, "Content-Type", c.contentType)
			if r.Status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413\n%.300s", r.Status, r.Body)
			}
			p := r.JSON(t)
			if p["type"] != "urn:strata:problem:too_large" || !strings.Contains(fmt.Sprint(p["detail"]), fmt.Sprintf("max_document_size is %d", 64<<10)) &&
				!strings.Contains(fmt.Sprint(p["detail"]), fmt.Sprintf("max_document_size (%d bytes)", 64<<10)) {
				t.Fatalf("problem %v", p)
			}
			got := ts.must(http.StatusOK, "GET", "/api/docs/d1", nil).JSON(t)
			if dig(got, "meta.current_revision") != 1.0 || dig(got, "meta.revision_count") != 1.0 {
				t.Fatalf("a refused write wrote a revision: %v", got["meta"])
			}
			if list := ts.must(http.StatusOK, "GET", "/api/docs", nil).JSON(t); len(list["items"].([]any)) != 1 {
				t.Fatalf("a refused create wrote: %v", list)
			}
		})
	}
}

// TestJSONPatchOperationBound: a JSON Patch of more than core.MaxPatchOps
// operations is 400 naming the limit, and writes nothing.
func TestJSONPatchOperationBound(t *testing.T) {
	ts := newTestServer(t)
	ts.defineType(`{"name":"docs","schema":{"type":"object"}}`)
	ts.must(http.StatusCreated, "POST", "/api/docs", `{"id":"d1","n":1}`)
	ops := make([]string, core.MaxPatchOps+1)
	for i := range ops {
		ops[i] = `{"op":"replace","path":"/n","value":2}`
	}
	r := ts.do("PATCH", "/api/docs/d1", "["+strings.Join(ops, ",")+"]", "Content-Type", "application/json-patch+json")
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), fmt.Sprint(core.MaxPatchOps)) {
		t.Fatalf("status %d, want 400 naming %d\n%s", r.Status, core.MaxPatchOps, r.Body)
	}
	if got := ts.must(http.StatusOK, "GET", "/api/docs/d1", nil).JSON(t); dig(got, "data.n") != 1.0 {
		t.Fatalf("a refused patch wrote: %v", got)
	}
}
