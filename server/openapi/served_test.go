package openapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
)

const adminKey = "toolcheck-admin-key-0123456789"

// richTypes are types that use what a schema author reaches for: nested
// objects, arrays, enums, $defs with $refs (also through the schema's $id,
// between $defs, from a $defs into its own $defs, and to the root),
// date-time, nullable fields, additionalProperties: false, and references
// between types with each on_delete policy.
var richTypes = []string{
	`{"name": "users", "unique": ["email"], "search": ["name"],
	  "permissions": {"read": ["public"], "create": ["authenticated"], "update": ["owner"]},
	  "schema": {"type": "object", "required": ["name", "email"], "additionalProperties": false, "properties": {
		"name": {"type": "string", "minLength": 1},
		"email": {"type": "string", "format": "email"},
		"role": {"type": "string", "enum": ["reader", "editor", "admin"], "default": "reader"},
		"joined_at": {"type": "string", "format": "date-time"}}}}`,
	`{"name": "posts", "unique": ["title"], "search": ["title", "body"],
	  "references": {"author": {"type": "users", "on_delete": "restrict"}},
	  "schema": {
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"$id": "https://example.com/posts.schema.json",
		"type": "object", "required": ["title", "status"], "additionalProperties": false,
		"properties": {
			"title": {"type": "string", "maxLength": 200},
			"body": {"type": "string"},
			"status": {"enum": ["draft", "published", "archived"]},
			"author": {"type": "string"},
			"published_at": {"type": ["string", "null"], "format": "date-time"},
			"tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "uniqueItems": true},
			"cover": {"$ref": "#/$defs/image"},
			"gallery": {"type": "array", "items": {"$ref": "https://example.com/posts.schema.json#/$defs/image"}},
			"seo": {"type": "object", "required": ["slug"], "properties": {
				"slug": {"type": "string", "pattern": "^[a-z0-9-]+$"},
				"keywords": {"type": "array", "items": {"type": "string"}}}},
			"rating": {"type": "number", "minimum": 0, "maximum": 5},
			"views": {"type": "integer", "minimum": 0}
		},
		"$defs": {
			"tag": {"type": "string", "pattern": "^[a-z-]+$"},
			"image": {"type": "object", "required": ["url"], "properties": {
				"url": {"type": "string", "format": "uri"},
				"alt": {"type": "string"},
				"size": {"$ref": "#/$defs/size"}}},
			"size": {"type": "object", "properties": {"width": {"type": "integer"}, "height": {"type": "integer"}}}
		}}}`,
	`{"name": "comments",
	  "references": {"post": {"type": "posts", "on_delete": "cascade"}, "author": {"type": "users", "on_delete": "set_null"}},
	  "schema": {"type": "object", "required": ["post", "text"], "properties": {
		"post": {"type": "string"},
		"author": {"type": ["string", "null"]},
		"text": {"type": "string"},
		"replies": {"type": "array", "items": {"$ref": "#"}}}}}`,
	`{"name": "categories",
	  "schema": {"$ref": "#/$defs/node", "$defs": {
		"node": {"type": "object", "required": ["name"], "properties": {
			"name": {"$ref": "#/$defs/node/$defs/label"},
			"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
			"$defs": {"label": {"type": "string", "minLength": 1}}}}}}`,
}

// richServer is a Strata server with richTypes.
type richServer struct {
	t   *testing.T
	app *fiber.App
}

func newRichServer(t *testing.T) *richServer { return newServer(t, richTypes) }

// newServer is a Strata server, over a bolt file in a temporary directory,
// with types defined through its API.
func newServer(t *testing.T, types []string) *richServer {
	t.Helper()
	env := apptest.New(t, apptest.WithApp(func(c *app.Config) { c.Auth = auth.Config{AdminKey: adminKey} }))
	fa := env.App.Server().NewApp()
	t.Cleanup(func() { _ = fa.Shutdown() })
	s := &richServer{t: t, app: fa}
	for _, typ := range types {
		if status, body := s.do(http.MethodPost, "/api/types", typ); status != http.StatusCreated {
			t.Fatalf("define type: %d %s", status, body)
		}
	}
	return s
}

// do sends a request as the administrator and returns the status and body.
func (s *richServer) do(method, path, body string) (int, []byte) {
	s.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.app.Test(req, -1)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// document returns the server's /openapi.json, as the administrator sees it
// (every type).
func (s *richServer) document() []byte {
	s.t.Helper()
	status, doc := s.do(http.MethodGet, "/openapi.json", "")
	if status != http.StatusOK {
		s.t.Fatalf("GET /openapi.json: %d %s", status, doc)
	}
	return doc
}

// TestServedDocumentServers checks the server the document names: the
// path the routes are mounted under, so that a client resolves the paths
// where they are served.
func TestServedDocumentServers(t *testing.T) {
	t.Parallel()
	s := apptest.New(t, apptest.WithApp(nil)).App.Server()
	root := s.NewApp()
	mounted := fiber.New()
	s.Mount(mounted.Group("/v1"))

	tests := []struct {
		name string
		app  *fiber.App
		path string
		want string
	}{
		{"root", root, "/openapi.json", "/"},
		{"root, other case and slash", root, "/OpenAPI.json/", "/"},
		{"mounted", mounted, "/v1/openapi.json", "/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.app.Test(httptest.NewRequest(http.MethodGet, tt.path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var doc struct {
				Servers []struct{ URL string }
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", tt.path, resp.StatusCode)
			}
			if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Servers) != 1 || doc.Servers[0].URL != tt.want {
				t.Errorf("servers = %+v, want one with url %q", doc.Servers, tt.want)
			}
		})
	}
}

// notBuilt reports whether the app answers method path 501: a path SPEC
// reserves for a surface not built yet, which the document leaves out.
func notBuilt(t *testing.T, app *fiber.App, method, path string) bool {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest(method, path, nil), -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNotImplemented
}

// TestServedDocumentDescribesEveryRoute checks that every route the server
// mounts is in its document, as the README says: each method and path of
// the app, with /api/:type standing for the routes of each type.
func TestServedDocumentDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	s := newRichServer(t)
	var doc struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(s.document(), &doc); err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	anyParam := regexp.MustCompile(`\{[^}]*\}`)
	for path, item := range doc.Paths {
		for method := range item {
			if method != "parameters" {
				described[strings.ToUpper(method)+" "+anyParam.ReplaceAllString(path, "{}")] = true
			}
		}
	}

	routeParam := regexp.MustCompile(`:[A-Za-z]+`)
	n := 0
	for _, r := range s.app.GetRoutes(true) {
		if r.Method == http.MethodHead || r.Method == http.MethodOptions || r.Path == "/" {
			continue // HEAD comes with GET; OPTIONS is CORS
		}
		path := strings.Replace(r.Path, "/api/:type", "/api/posts", 1)
		key := r.Method + " " + routeParam.ReplaceAllString(path, "{}")
		n++
		if !described[key] && !notBuilt(t, s.app, r.Method, routeParam.ReplaceAllString(strings.ReplaceAll(path, "*", "x"), "x")) {
			t.Errorf("route %s %s is not described (as %s)", r.Method, r.Path, key)
		}
	}
	if n < 30 {
		t.Errorf("only %d routes found", n)
	}
	for _, key := range []string{"GET /api/hooks", "GET /api/hooks/{}", "PUT /api/hooks/{}", "DELETE /api/hooks/{}", "POST /api/hooks/{}/replay",
		"GET /api/keys", "POST /api/keys", "DELETE /api/keys/{}"} {
		if !described[key] {
			t.Errorf("%s is not described", key)
		}
	}
}

// TestServedDocumentWriteBodies checks that what the server accepts as the
// body of a create or a replace is what the document says it accepts, for
// a type whose schema has additionalProperties: false: a top-level id
// names the resource and is not part of the data.
func TestServedDocumentWriteBodies(t *testing.T) {
	t.Parallel()
	s := newRichServer(t)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.document()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	const base = "strata:///openapi.json"
	if err := c.AddResource(base, inst); err != nil {
		t.Fatal(err)
	}
	bodySchema := func(path, method string) *jsonschema.Schema {
		ptr := "/paths/" + strings.ReplaceAll(path, "/", "~1") + "/" + method + "/requestBody/content/application~1json/schema"
		sch, err := c.Compile(base + "#" + ptr)
		if err != nil {
			t.Fatalf("compile %s: %v", ptr, err)
		}
		return sch
	}
	create, replace := bodySchema("/api/posts", "post"), bodySchema("/api/posts/{id}", "put")
	dataSchema, err := c.Compile(base + "#/components/schemas/posts")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, method, path, body string
		schema                   *jsonschema.Schema
		status                   int
	}{
		{"create with an id", http.MethodPost, "/api/posts", `{"id":"hello-world","title":"Hello","status":"draft"}`, create, http.StatusCreated},
		{"create without an id", http.MethodPost, "/api/posts", `{"title":"Other","status":"draft","tags":["a"]}`, create, http.StatusCreated},
		{"create with a bad id", http.MethodPost, "/api/posts", `{"id":"no spaces","title":"Bad","status":"draft"}`, create, http.StatusBadRequest},
		{"create with a member the schema refuses", http.MethodPost, "/api/posts", `{"title":"Bad","status":"draft","colour":"red"}`, create, http.StatusUnprocessableEntity},
		{"replace with its id", http.MethodPut, "/api/posts/hello-world", `{"id":"hello-world","title":"Hello again","status":"published"}`, replace, http.StatusOK},
		{"replace without an id", http.MethodPut, "/api/posts/hello-world", `{"title":"Hello","status":"published"}`, replace, http.StatusOK},
	}
	for _, tt := range tests { // in order: the replaces need the first create
		valid := tt.status < 300
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.schema.Validate(v); valid && err != nil {
			t.Errorf("%s: the documented body schema refuses %s, which the server accepts: %v", tt.name, tt.body, err)
		} else if !valid && err == nil {
			t.Errorf("%s: the documented body schema accepts %s, which the server refuses", tt.name, tt.body)
		}
		if status, out := s.do(tt.method, tt.path, tt.body); status != tt.status {
			t.Errorf("%s: %s %s: %d %s, want %d", tt.name, tt.method, tt.path, status, out, tt.status)
		}
	}

	// The data the server stores, and sends back, has no id: the data
	// schema still describes it exactly.
	status, out := s.do(http.MethodGet, "/api/posts/hello-world", "")
	if status != http.StatusOK {
		t.Fatalf("get: %d %s", status, out)
	}
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(env.Data))
	if err != nil {
		t.Fatal(err)
	}
	if err := dataSchema.Validate(v); err != nil {
		t.Errorf("stored data %s fails the data schema: %v", env.Data, err)
	}
	withID, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"id":"x","title":"t","status":"draft"}`))
	if dataSchema.Validate(withID) == nil {
		t.Error("the data schema of a type with additionalProperties false accepts an id")
	}
}
