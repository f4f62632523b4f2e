package server_test

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDocsAndHealth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(usersType)
	ts.defineType(postsType)

	t.Run("openapi follows live types", func(t *testing.T) {
		r := ts.must(200, "GET", "/openapi.json", nil)
		var doc struct {
			OpenAPI    string `json:"openapi"`
			Components struct {
				Schemas map[string]json.RawMessage `json:"schemas"`
			} `json:"components"`
			Paths map[string]any `json:"paths"`
		}
		if err := json.Unmarshal(r.Body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.OpenAPI != "3.1.0" || doc.Components.Schemas["posts"] == nil || doc.Components.Schemas["users"] == nil {
			t.Fatalf("openapi %q with schemas %d", doc.OpenAPI, len(doc.Components.Schemas))
		}
		if doc.Paths["/api/posts/{id}"] == nil {
			t.Fatal("no path for posts")
		}
		ts.defineType(`{"name":"later","schema":{"type":"object"}}`)
		if !strings.Contains(string(ts.must(200, "GET", "/openapi.json", nil).Body), `"/api/later"`) {
			t.Fatal("a type defined at run time is missing from /openapi.json")
		}
	})
	t.Run("docs page and assets", func(t *testing.T) {
		r := ts.must(200, "GET", "/docs", nil)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.Body), "/openapi.json") {
			t.Fatalf("docs page: %s %.200s", r.Header.Get("Content-Type"), r.Body)
		}
		if r.Header.Get("X-Frame-Options") != "DENY" || r.Header.Get("Content-Security-Policy") == "" {
			t.Fatal("docs page lacks security headers")
		}
		js := ts.must(200, "GET", "/docs/assets/swagger-ui-bundle.js", nil)
		if !strings.Contains(js.Header.Get("Content-Type"), "javascript") || len(js.Body) < 100_000 {
			t.Fatalf("asset: %s, %d bytes", js.Header.Get("Content-Type"), len(js.Body))
		}
		checkProblem(t, ts.do("GET", "/docs/assets/..%2f..%2fgo.mod", nil), 404, "not_found")
	})
	t.Run("health", func(t *testing.T) {
		ts.must(200, "GET", "/healthz", nil)
		if ts.must(200, "GET", "/readyz", nil).JSON(t)["status"] != "ready" {
			t.Fatal("not ready")
		}
	})
}
