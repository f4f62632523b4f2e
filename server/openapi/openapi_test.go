package openapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/strata-dev/strata/core"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sampleTypes are the types of the golden document: posts uses every
// option, users is minimal.
func sampleTypes() []core.Type {
	return []core.Type{
		{
			Name: "users",
			Schema: json.RawMessage(`{"type":"object","required":["name"],"properties":{` +
				`"name":{"type":"string"},"email":{"type":"string","format":"email"}}}`),
		},
		{
			Name: "posts",
			Schema: json.RawMessage(`{
				"$schema": "https://json-schema.org/draft/2020-12/schema",
				"$id": "https://example.com/posts.schema.json",
				"type": "object",
				"required": ["title"],
				"properties": {
					"title": {"type": "string", "maxLength": 200},
					"body": {"type": "string"},
					"author": {"type": "string"},
					"tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}},
					"views": {"type": "integer", "minimum": 0},
					"cover": {"$ref": "https://example.com/posts.schema.json#/$defs/image"}
				},
				"$defs": {
					"tag": {"type": "string", "pattern": "^[a-z-]+$"},
					"image": {"type": "object", "properties": {"url": {"type": "string", "format": "uri"}}}
				}
			}`),
			Search:     []string{"title", "body"},
			Unique:     []string{"title"},
			References: map[string]core.Reference{"author": {Type: "users", OnDelete: core.OnDeleteRestrict}},
			Hooks:      []core.HookBinding{{Stage: "validate", Module: "posts_validate", TimeoutMS: 50, MemoryMB: 16}},
			Permissions: map[string][]string{
				"read": {"public"}, "create": {"role:editor"}, "update": {"owner", "role:editor"}, "delete": {"role:admin"},
			},
			Retention:     &core.Retention{KeepLast: 0},
			SchemaVersion: 1,
		},
	}
}

func sampleDocument(tb testing.TB) []byte {
	tb.Helper()
	doc, err := Document(sampleTypes(), Info{Title: "Blog", Version: "1.0.0", ServerURL: "http://localhost:8080"})
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

// decode decodes a document for inspection.
func decode(tb testing.TB, doc []byte) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		tb.Fatalf("document is not valid JSON: %v", err)
	}
	return m
}

// at follows a path of object keys.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func TestDocumentGolden(t *testing.T) {
	t.Parallel()
	got := sampleDocument(t)
	golden := filepath.Join("testdata", "document.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("document differs from %s; run go test -update and review the diff", golden)
	}
}

func TestDocumentIsOpenAPI31(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "openapi-3.1.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	metaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	// Formats stay annotations, as JSON Schema 2020-12 has them by default:
	// this version of the schema gives Reference.$ref format "uri", which
	// would reject every "#/components/..." (later versions say
	// uri-reference).
	c := jsonschema.NewCompiler()
	const url = "https://spec.openapis.org/oas/3.1/schema/2021-04-15"
	if err := c.AddResource(url, metaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}

	for name, types := range map[string][]core.Type{
		"sample": sampleTypes(),
		"none":   nil,
		"clash":  clashingTypes(),
	} {
		t.Run(name, func(t *testing.T) {
			doc, err := Document(types, Info{})
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Fatalf("not a valid OpenAPI 3.1 document: %v", err)
			}
		})
	}

	t.Run("invalid", func(t *testing.T) {
		// The check is not vacuous: a broken document fails it.
		m := decode(t, sampleDocument(t))
		at(m, "paths", "/api/posts").(map[string]any)["get"].(map[string]any)["responses"] = "none"
		broken, _ := json.Marshal(m)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(broken))
		if sch.Validate(inst) == nil {
			t.Fatal("a document with bad responses passed")
		}
	})
}

func TestDocumentShape(t *testing.T) {
	t.Parallel()
	m := decode(t, sampleDocument(t))
	if got := m["openapi"]; got != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", got)
	}
	if got := at(m, "info", "title"); got != "Blog" {
		t.Errorf("info.title = %v", got)
	}
	if got := at(m, "servers"); !jsonEqual(got, []any{map[string]any{"url": "http://localhost:8080"}}) {
		t.Errorf("servers = %v", got)
	}
	if got := m["security"]; !jsonEqual(got, []any{map[string]any{}, map[string]any{"bearer": []any{}}}) {
		t.Errorf("security = %v", got)
	}
	if got := at(m, "components", "securitySchemes", "bearer"); !jsonEqual(at(got, "scheme"), "bearer") || !jsonEqual(at(got, "type"), "http") {
		t.Errorf("securitySchemes.bearer = %v", got)
	}

	schemas := at(m, "components", "schemas").(map[string]any)
	for _, name := range []string{
		"posts", "posts_resource", "posts_list", "users", "users_resource", "users_list",
		"Meta", "Revision", "Problem", "Change", "Type",
	} {
		if schemas[name] == nil {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
	if got := at(schemas, "posts", "properties", "title", "maxLength"); got != 200.0 {
		t.Errorf("posts schema not embedded as declared: title.maxLength = %v", got)
	}
	if got := at(schemas, "posts_resource", "properties", "data", "$ref"); got != "#/components/schemas/posts" {
		t.Errorf("posts_resource data = %v", got)
	}
	if got := at(schemas, "Revision", "properties", "hooks", "items", "required"); !jsonEqual(got, []any{"name", "stage", "sha256"}) {
		t.Errorf("Revision hooks items required = %v", got)
	}

	wantOps := map[string]string{ // "METHOD path": operationId
		"POST /api/posts":                          "createPosts",
		"GET /api/posts":                           "listPosts",
		"GET /api/posts/count":                     "countPosts",
		"GET /api/posts/{id}":                      "getPosts",
		"PUT /api/posts/{id}":                      "replacePosts",
		"PATCH /api/posts/{id}":                    "patchPosts",
		"DELETE /api/posts/{id}":                   "deletePosts",
		"POST /api/posts/{id}/restore":             "restorePosts",
		"GET /api/posts/{id}/revisions":            "listPostsRevisions",
		"GET /api/posts/{id}/revisions/{n}":        "getPostsRevision",
		"POST /api/posts/{id}/switch/{n}":          "switchPostsRevision",
		"GET /api/posts/{id}/diff":                 "diffPosts",
		"GET /api/posts/{id}/referrers":            "listPostsReferrers",
		"GET /api/posts/export":                    "exportPosts",
		"POST /api/posts/import":                   "importPosts",
		"GET /api/export":                          "exportAll",
		"POST /api/import":                         "importAll",
		"GET /api/backup":                          "backup",
		"POST /api/users":                          "createUsers",
		"GET /api/users/{id}":                      "getUsers",
		"GET /api/users/{id}/revisions/{n}":        "getUsersRevision",
		"GET /api/types":                           "listTypes",
		"POST /api/types":                          "createType",
		"GET /api/types/{type}":                    "getType",
		"PUT /api/types/{type}":                    "replaceType",
		"DELETE /api/types/{type}":                 "deleteType",
		"GET /api/changes":                         "listChanges",
		"POST /api/batch":                          "batch",
		"GET /api/keys":                            "listKeys",
		"POST /api/keys":                           "createKey",
		"DELETE /api/keys/{keyId}":                 "revokeKey",
		"GET /api/webhooks":                        "listWebhooks",
		"POST /api/webhooks":                       "createWebhook",
		"GET /api/webhooks/{webhookId}":            "getWebhook",
		"DELETE /api/webhooks/{webhookId}":         "deleteWebhook",
		"POST /api/webhooks/{webhookId}/resume":    "resumeWebhook",
		"GET /api/webhooks/{webhookId}/deliveries": "listWebhookDeliveries",
		"GET /healthz":                             "healthz",
		"GET /readyz":                              "readyz",
		"GET /_":                                   "adminUI",
		"GET /_/{file}":                            "adminUIFile",
	}
	ops := operations(m)
	for key, id := range wantOps {
		op := ops[key]
		if op == nil {
			t.Errorf("%s is missing", key)
			continue
		}
		if got := op["operationId"]; got != id {
			t.Errorf("%s: operationId = %v, want %s", key, got, id)
		}
		if strings.HasPrefix(key, "POST /api/posts") || strings.Contains(key, "/api/posts/") || key == "GET /api/posts" {
			if got := at(op, "tags"); !jsonEqual(got, []any{"posts"}) {
				t.Errorf("%s: tags = %v", key, got)
			}
		}
	}
	if len(ops) != 2*15+35 {
		t.Errorf("%d operations, want %d", len(ops), 2*15+35)
	}

	// Every /api operation documents its errors as problem+json.
	for key, op := range ops {
		if !strings.Contains(key, " /api/") {
			continue
		}
		resp := op["responses"].(map[string]any)
		if resp["default"] == nil {
			t.Errorf("%s has no default response", key)
		}
		for status, r := range resp {
			if status[0] == '4' || status == "default" {
				if got := resolve(m, r); !jsonEqual(at(got, "content", "application/problem+json", "schema"), map[string]any{"$ref": "#/components/schemas/Problem"}) {
					t.Errorf("%s %s is not a problem response: %v", key, status, got)
				}
			}
		}
	}

	checks := []struct {
		op   string
		want []string // statuses, parameter names, media types and headers that must appear
	}{
		{"POST /api/posts", []string{"201", "400", "409", "413", "415", "422", "header:ETag", "header:Location"}},
		{"GET /api/posts", []string{"200", "400", "limit", "cursor", "include_deleted", "sort", "total", "facets", "stats", "filter", "q", "fields", "returns", "expand", "as_of", "410"}},
		{"GET /api/posts/{id}", []string{"200", "304", "404", "id", "revision", "fields", "returns", "include_deleted", "expand", "If-None-Match", "header:ETag", "as_of", "410"}},
		{"PUT /api/posts/{id}", []string{"200", "400", "404", "409", "410", "412", "413", "415", "422", "If-Match", "header:ETag"}},
		{"PATCH /api/posts/{id}", []string{"200", "410", "412", "415", "422", "If-Match",
			"body:application/merge-patch+json", "body:application/json-patch+json", "body:application/json"}},
		{"DELETE /api/posts/{id}", []string{"204", "404", "409", "412", "purge", "If-Match"}},
		{"GET /api/posts/{id}/diff", []string{"200", "from", "to", "id"}},
		{"POST /api/posts/{id}/switch/{n}", []string{"200", "412", "id", "n"}},
		{"GET /api/changes", []string{"200", "since", "types", "limit"}},
		{"POST /api/batch", []string{"200", "409", "412", "422", "body:application/json"}},
		{"GET /api/posts/count", []string{"200", "filter", "as_of"}},
		{"GET /api/posts/{id}/revisions", []string{"200", "cursor", "as_of"}},
	}
	for _, c := range checks {
		op := ops[c.op]
		if op == nil {
			t.Errorf("%s is missing", c.op)
			continue
		}
		have := opFacts(m, op, at(m, "paths", strings.SplitN(c.op, " ", 2)[1]))
		for _, w := range c.want {
			if !have[w] {
				t.Errorf("%s lacks %s", c.op, w)
			}
		}
	}

	if got := at(schemas, "ReferrerList", "properties", "items", "items", "$ref"); got != "#/components/schemas/Referrer" {
		t.Errorf("ReferrerList items = %v", got)
	}
	if got := at(resolve(m, at(ops["GET /api/posts/{id}/referrers"], "responses", "200")), "content", "application/json", "schema", "$ref"); got != "#/components/schemas/ReferrerList" {
		t.Errorf("referrers response = %v", got)
	}
}

// operations returns every operation of a decoded document by
// "METHOD path".
func operations(m map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for path, item := range at(m, "paths").(map[string]any) {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			out[strings.ToUpper(method)+" "+path] = op.(map[string]any)
		}
	}
	return out
}

// opFacts lists what an operation declares: response statuses, parameter
// names (its own and its path item's), "body:<media type>" and
// "header:<response header>".
func opFacts(m map[string]any, op map[string]any, item any) map[string]bool {
	facts := map[string]bool{}
	var ps []any
	if p, ok := at(item, "parameters").([]any); ok {
		ps = append(ps, p...)
	}
	if p, ok := op["parameters"].([]any); ok {
		ps = append(ps, p...)
	}
	for _, p := range ps {
		facts[at(resolve(m, p), "name").(string)] = true
	}
	for status, r := range op["responses"].(map[string]any) {
		facts[status] = true
		if hs, ok := at(resolve(m, r), "headers").(map[string]any); ok {
			for h := range hs {
				facts["header:"+h] = true
			}
		}
	}
	if content, ok := at(op, "requestBody", "content").(map[string]any); ok {
		for mt := range content {
			facts["body:"+mt] = true
		}
	}
	return facts
}

// resolve follows a local $ref, if v is one.
func resolve(m map[string]any, v any) any {
	r, ok := at(v, "$ref").(string)
	if !ok {
		return v
	}
	node, _ := pointer(m, r)
	return node
}

// pointer resolves a local reference "#/a/b" in a decoded document.
func pointer(m map[string]any, ref string) (any, bool) {
	p, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	var v any = m
	if p == "" {
		return v, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[tok]
			if !ok {
				return nil, false
			}
			v = next
		default:
			return nil, false
		}
	}
	return v, true
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestDocumentRefsResolve(t *testing.T) {
	t.Parallel()
	for name, types := range map[string][]core.Type{"sample": sampleTypes(), "clash": clashingTypes()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := Document(types, Info{})
			if err != nil {
				t.Fatal(err)
			}
			m := decode(t, doc)
			var walk func(path string, v any)
			n := 0
			walk = func(path string, v any) {
				switch v := v.(type) {
				case map[string]any:
					if r, ok := v["$ref"].(string); ok {
						n++
						if _, ok := pointer(m, r); !ok {
							t.Errorf("%s: $ref %q does not resolve", path, r)
						}
					}
					for k, e := range v {
						walk(path+"/"+k, e)
					}
				case []any:
					for _, e := range v {
						walk(path+"[]", e)
					}
				}
			}
			walk("", m)
			if n == 0 {
				t.Fatal("no $ref found")
			}
		})
	}
}

// TestDocumentSchemas compiles every component schema as JSON Schema
// 2020-12 and checks that what Strata sends validates against the schema
// that describes it.
func TestDocumentSchemas(t *testing.T) {
	t.Parallel()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sampleDocument(t)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const base = "strata:///openapi.json"
	if err := c.AddResource(base, doc); err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*jsonschema.Schema{}
	for name := range at(doc, "components", "schemas").(map[string]any) {
		sch, err := c.Compile(base + "#/components/schemas/" + name)
		if err != nil {
			t.Fatalf("schema %s: %v", name, err)
		}
		schemas[name] = sch
	}

	parent := 1
	rev := core.Revision{
		Number: 2, Parent: &parent, CreatedAt: "2026-11-22T08:00:00.000Z", CreatedBy: "bob",
		DataHash: "sha256:" + strings.Repeat("ab", 32), Action: core.ActionUpdate,
		Hooks:         []core.HookApproval{{Name: "posts_validate", Stage: "validate", SHA256: strings.Repeat("cd", 32)}},
		SchemaVersion: 1,
	}
	post := &core.Resource{
		ID: "0193e0a4-5b6c-7d8e-9f00-112233445566", Type: "posts",
		Data: json.RawMessage(`{"title":"Hello","tags":["go","json"],"views":3,"cover":{"url":"https://example.com/a.png"}}`),
		Meta: core.Meta{
			CurrentRevision: 2, RevisionCount: 2, CreatedAt: "2026-11-22T07:34:00.202Z", CreatedBy: "alice",
			UpdatedAt: "2026-11-22T08:00:00.000Z", UpdatedBy: "bob", SchemaVersion: 1,
		},
		Revision: rev,
	}
	first := rev
	first.Number, first.Parent, first.Hooks = 1, nil, []core.HookApproval{}
	badTag := *post
	badTag.Data = json.RawMessage(`{"title":"Hello","tags":["Not A Tag"]}`)
	wrongType := *post
	wrongType.Type = "users"
	expanded := *post
	expanded.Expand = map[string]*core.Resource{"author": {ID: "u1", Type: "users", Data: json.RawMessage(`{"name":"Ada"}`),
		Meta: post.Meta, Revision: first}}
	badExpansion := *post
	badExpansion.Expand = map[string]*core.Resource{"author": post}
	problem := map[string]any{
		"type": "urn:strata:problem:validation", "title": "Validation failed", "status": 422, "detail": "bad",
		"errors": []core.FieldError{{Path: "/email", Message: "must be a valid email", Source: "schema"}},
		"index":  0,
	}
	spec := core.Type{}
	if err := json.Unmarshal([]byte(`{
		"name": "posts",
		"schema": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}},
		"search": ["title", "body"], "unique": ["title"],
		"references": {"author": {"type": "users", "on_delete": "restrict"}},
		"hooks": [{"stage": "validate", "module": "posts_validate", "timeout_ms": 50, "memory_mb": 16}],
		"permissions": {"read": ["public"], "create": ["role:editor"]},
		"retention": {"keep_last": 0}}`), &spec); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, schema string
		value        any
		valid        bool
	}{
		{"envelope", "posts_resource", post, true},
		{"envelope/first revision", "posts_resource", &core.Resource{ID: "x", Type: "posts", Data: json.RawMessage(`{"title":"t"}`), Meta: post.Meta, Revision: first}, true},
		{"envelope/data violates type schema", "posts_resource", &badTag, false},
		{"envelope/wrong type", "posts_resource", &wrongType, false},
		{"envelope/expand", "posts_resource", &expanded, true},
		{"envelope/expand of another type", "posts_resource", &badExpansion, false},
		{"envelope/no meta", "posts_resource", map[string]any{"id": "x", "type": "posts", "data": map[string]any{"title": "t"}, "revision": rev}, false},
		{"data", "posts", json.RawMessage(`{"title":"t","cover":{"url":"not a uri"}}`), false},
		{"list", "posts_list", map[string]any{"items": []any{post}, "next_cursor": nil, "total": 1}, true},
		{"list/facets", "posts_list", map[string]any{"items": []any{}, "next_cursor": nil,
			"facets": map[string][]core.FacetValue{"status": {{Value: "open", Count: 2}, {Value: 3.5, Count: 1}, {Value: true, Count: 1}}},
			"stats":  map[string]core.FieldStats{"views": {}}}, true},
		{"list/facet count 0", "posts_list", map[string]any{"items": []any{}, "next_cursor": nil,
			"facets": map[string]any{"status": []any{map[string]any{"value": "open", "count": 0}}}}, false},
		{"list/cursor", "users_list", map[string]any{"items": []any{}, "next_cursor": "abc"}, true},
		{"revisions", "RevisionList", map[string]any{"items": []core.Revision{rev, first}, "next_cursor": nil}, true},
		{"problem", "Problem", problem, true},
		{"problem/no status", "Problem", map[string]any{"type": "urn:strata:problem:internal", "title": "x"}, false},
		{"change", "Change", core.Change{Seq: 17, Type: "posts", ID: "x", Action: core.ActionUpdate, Revision: 3, At: "2026-11-22T08:00:00.000Z", By: "alice"}, true},
		{"change/type", "Change", core.Change{Seq: 18, Type: "posts", Action: core.ActionType, Revision: 2, At: "2026-11-22T08:00:00.000Z"}, true},
		{"change/event", "Change", core.Change{Seq: 19, Type: "posts", ID: "x", Action: core.ActionEvent, Revision: 3, At: "2026-11-22T08:00:00.000Z",
			Event: &core.ChangeEvent{Type: "post.flagged", Data: json.RawMessage(`{"reason":"caps"}`)}}, true},
		{"change/event without type", "Change", map[string]any{"seq": 19, "type": "posts", "action": "event", "revision": 3, "at": "2026-11-22T08:00:00.000Z",
			"event": map[string]any{"data": 1}}, false},
		{"changes", "ChangeList", map[string]any{"items": []core.Change{}, "next_since": 17}, true},
		{"type/spec example", "Type", spec, true},
		{"type/bad on_delete", "Type", map[string]any{"name": "a", "schema": map[string]any{}, "references": map[string]any{"f": map[string]any{"type": "b", "on_delete": "explode"}}}, false},
		{"types", "TypeList", map[string]any{"items": []core.Type{spec}}, true},
		{"referrers", "ReferrerList", map[string]any{"items": []core.Referrer{{Type: "posts", ID: "p1", Field: "author"}}}, true},
		{"count", "Count", map[string]any{"count": 3}, true},
		{"json patch", "JSONPatch", []map[string]any{{"op": "replace", "path": "/title", "value": "x"}}, true},
		{"batch", "BatchRequest", map[string]any{"requests": []any{map[string]any{"method": "POST", "url": "/api/posts", "body": map[string]any{"title": "t"}}}}, true},
		{"batch/answer", "BatchResponse", map[string]any{"responses": []any{map[string]any{"status": 201, "body": post}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			err = schemas[tt.schema].Validate(inst)
			if tt.valid && err != nil {
				t.Errorf("%s rejects %s: %v", tt.schema, raw, err)
			}
			if !tt.valid && err == nil {
				t.Errorf("%s accepts %s", tt.schema, raw)
			}
		})
	}
}

// clashingTypes have names that collide with derived names and global
// routes.
func clashingTypes() []core.Type {
	schema := json.RawMessage(`{"type":"object"}`)
	var out []core.Type
	for _, name := range []string{"posts", "posts_list", "posts_revisions", "posts_input", "types", "a_1", "a1", "changes", "key", "hook"} {
		out = append(out, core.Type{Name: name, Schema: schema})
	}
	// The $defs of posts want names that are taken: posts_list is a type,
	// posts_resource the envelope of posts.
	out[0].Schema = json.RawMessage(`{"type":"object","properties":{"a":{"$ref":"#/$defs/list"},"b":{"$ref":"#/$defs/resource"}},` +
		`"$defs":{"list":{"type":"array"},"resource":{"type":"string"}}}`)
	return out
}

func TestDocumentNameClashes(t *testing.T) {
	t.Parallel()
	doc, err := Document(clashingTypes(), Info{})
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, doc)
	schemas := at(m, "components", "schemas").(map[string]any)
	for _, name := range []string{
		"posts", "posts.list", "posts_resource", // posts_list is a type, so the list of posts yields
		"posts.input",                            // and so does its input to the type posts_input
		"posts.defs.list", "posts.defs.resource", // and its $defs to both
		"posts_list", "posts_list_resource", "posts_list_list", "posts_list_input",
		"posts_input", "posts_input_input",
		"types", "types_resource", "types_list", "Type", "TypeList",
	} {
		if schemas[name] == nil {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
	if got, want := len(schemas), 30+4*len(clashingTypes())+2; got != want {
		t.Errorf("%d component schemas, want %d (30 shared, 4 per type, 2 $defs)", got, want)
	}
	if got := at(schemas, "posts", "properties", "a", "$ref"); got != "#/components/schemas/posts.defs.list" {
		t.Errorf("posts.a = %v", got)
	}
	if got := at(schemas, "posts.defs.resource", "type"); got != "string" {
		t.Errorf("posts.defs.resource = %v", schemas["posts.defs.resource"])
	}
	if got := at(m, "paths", "/api/posts", "post", "requestBody", "content", "application/json", "schema", "$ref"); got != "#/components/schemas/posts.input" {
		t.Errorf("create posts body = %v", got)
	}
	if got := at(schemas, "posts_list", "type"); got != "object" {
		t.Errorf("posts_list is not the type's schema: %v", schemas["posts_list"])
	}
	if got := at(schemas, "posts_resource", "properties", "data", "$ref"); got != "#/components/schemas/posts" {
		t.Errorf("posts_resource.data = %v", got)
	}
	if got := at(schemas, "posts.list", "properties", "items", "items", "$ref"); got != "#/components/schemas/posts_resource" {
		t.Errorf("posts.list items = %v", got)
	}

	ops := operations(m)
	ids := map[string]string{}
	for key, op := range ops {
		id := op["operationId"].(string)
		if other, ok := ids[id]; ok {
			t.Errorf("operationId %s used by %s and %s", id, other, key)
		}
		ids[id] = key
	}
	for key, id := range map[string]string{
		"GET /api/posts/{id}/revisions": "listRevisions_posts", // listPostsRevisions is also the list of posts_revisions
		"GET /api/posts_revisions":      "list_posts_revisions",
		"GET /api/posts_list":           "listPostsList",
		"GET /api/a_1/{id}":             "getA_1",
		"GET /api/a1/{id}":              "getA1",
		"GET /api/types":                "listTypes",
		"GET /api/changes":              "listChanges",
		"POST /api/key":                 "create_key", // createKey is the global one
		"GET /api/key":                  "listKey",
		"GET /api/hook/{id}":            "get_hook", // getHook is the global one
		"POST /api/keys":                "createKey",
		"GET /api/hooks/{name}":         "getHook",
	} {
		if got := at(ops[key], "operationId"); got != id {
			t.Errorf("%s: operationId = %v, want %s", key, got, id)
		}
	}
	for path := range at(m, "paths").(map[string]any) {
		if strings.HasPrefix(path, "/api/types/{id}") || path == "/api/types/count" || path == "/api/changes/count" {
			t.Errorf("path %s of a shadowed type is listed", path)
		}
	}
}

func TestDocumentDeterministic(t *testing.T) {
	t.Parallel()
	types := sampleTypes()
	orig, _ := json.Marshal(types)
	a, err := Document(types, Info{})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(types)
	if !bytes.Equal(orig, after) {
		t.Error("Document modified its argument")
	}
	slices.Reverse(types)
	b, err := Document(types, Info{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("the document depends on the order of types")
	}
	m := decode(t, a)
	if got := at(m, "info", "title"); got != "Strata" {
		t.Errorf("default title = %v", got)
	}
	if got := at(m, "info", "version"); got != "dev" {
		t.Errorf("default version = %v", got)
	}
	// Without a ServerURL the server is "/", which OpenAPI also assumes
	// when servers is absent; linters refuse a document without servers.
	if got := m["servers"]; !jsonEqual(got, []any{map[string]any{"url": "/"}}) {
		t.Errorf("default servers = %v", got)
	}
	if got := at(m, "info", "license"); !jsonEqual(got, map[string]any{"name": "Unspecified", "identifier": "LicenseRef-Unspecified"}) {
		t.Errorf("default license = %v", got)
	}
}

func TestDocumentErrors(t *testing.T) {
	t.Parallel()
	obj := json.RawMessage(`{"type":"object"}`)
	tests := []struct {
		name  string
		types []core.Type
		want  string
	}{
		{"bad name", []core.Type{{Name: "Posts", Schema: obj}}, `invalid type name "Posts"`},
		{"empty name", []core.Type{{Name: "", Schema: obj}}, `invalid type name ""`},
		{"twice", []core.Type{{Name: "posts", Schema: obj}, {Name: "posts", Schema: obj}}, "listed twice"},
		{"no schema", []core.Type{{Name: "posts"}}, "schema of type posts"},
		{"bad JSON", []core.Type{{Name: "posts", Schema: json.RawMessage(`{"type":`)}}, "schema of type posts"},
		{"trailing data", []core.Type{{Name: "posts", Schema: json.RawMessage(`{} {}`)}}, "schema of type posts"},
		{"string schema", []core.Type{{Name: "posts", Schema: json.RawMessage(`"object"`)}}, "not an object or a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Document(tt.types, Info{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "openapi: ") {
				t.Errorf("err = %v, want openapi: ...%s...", err, tt.want)
			}
		})
	}
}

// embedSchema returns the component schemas of a type t's schema, as
// Document names them when no other type takes a name.
func embedSchema(name string, raw []byte) (object, error) {
	ts, err := decodeTypeSchema(name, raw)
	if err != nil {
		return nil, err
	}
	ts.nameDefs(map[string]bool{name: true})
	return object(ts.embed(name)), nil
}

func TestEmbedSchema(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain", `{"type":"object","required":["b","a"]}`, `{"t":{"type":"object","required":["b","a"]}}`},
		{"member order kept", `{"z":1,"a":2}`, `{"t":{"z":1,"a":2}}`},
		{"boolean", `true`, `{"t":true}`},
		{"dialect and id dropped",
			`{"$schema":"https://json-schema.org/draft/2020-12/schema#","$id":"https://x/p","type":"object"}`,
			`{"t":{"type":"object"}}`},
		{"local refs rebased, $defs hoisted",
			`{"properties":{"a":{"$ref":"#/$defs/a"},"b":{"$ref":"#"}},"$defs":{"a":{"type":"string"}}}`,
			`{"t":{"properties":{"a":{"$ref":"#/components/schemas/t_a"},"b":{"$ref":"#/components/schemas/t"}}},"t_a":{"type":"string"}}`},
		{"refs through the id rebased",
			`{"$id":"https://x/p","items":{"$ref":"https://x/p#/$defs/a"},"not":{"$ref":"https://x/p"},"if":{"$ref":"https://x/p#/properties/a"},"$defs":{"a":{}}}`,
			`{"t":{"items":{"$ref":"#/components/schemas/t_a"},"not":{"$ref":"#/components/schemas/t"},"if":{"$ref":"#/components/schemas/t/properties/a"}},"t_a":{}}`},
		{"refs into and between defs",
			`{"$ref":"#/$defs/node","$defs":{"node":{"properties":{"n":{"$ref":"#/$defs/node/$defs/label"},"c":{"items":{"$ref":"#/$defs/node"}},"u":{"$ref":"#/$defs/img/properties/url"}},"$defs":{"label":{"type":"string"}}},"img":{"properties":{"url":{}}}}}`,
			`{"t":{"$ref":"#/components/schemas/t_node"},"t_node":{"properties":{"n":{"$ref":"#/components/schemas/t_node_label"},"c":{"items":{"$ref":"#/components/schemas/t_node"}},"u":{"$ref":"#/components/schemas/t_img/properties/url"}}},"t_node_label":{"type":"string"},"t_img":{"properties":{"url":{}}}}`},
		{"definitions hoisted",
			`{"$ref":"#/definitions/a","definitions":{"a":{}}}`,
			`{"t":{"$ref":"#/components/schemas/t_a"},"t_a":{}}`},
		{"def names that are not plain",
			`{"anyOf":[{"$ref":"#/$defs/a~1b"},{"$ref":"#/$defs/my%20def"},{"$ref":"#/definitions/a.b"}],"$defs":{"a/b":{},"my def":{}},"definitions":{"a.b":{}}}`,
			`{"t":{"anyOf":[{"$ref":"#/components/schemas/t.defs.a-2Fb"},{"$ref":"#/components/schemas/t.defs.my-20def"},{"$ref":"#/components/schemas/t.definitions.a-2Eb"}]},"t.defs.a-2Fb":{},"t.defs.my-20def":{},"t.definitions.a-2Eb":{}}`},
		{"a def whose name is taken",
			`{"$ref":"#/$defs/x_y","$defs":{"x":{"$defs":{"y":{"const":1}}},"x_y":{"const":2}}}`,
			`{"t":{"$ref":"#/components/schemas/t.defs.x_y"},"t_x":{},"t_x_y":{"const":1},"t.defs.x_y":{"const":2}}`},
		{"a $defs that is not an object stays",
			`{"$defs":[1]}`,
			`{"t":{"$defs":[1]}}`},
		{"every schema keyword walked",
			`{"allOf":[{"$ref":"#/a"}],"prefixItems":[{"$ref":"#/b"}],"if":{"$ref":"#/c"},"patternProperties":{"^x":{"$ref":"#/d"}},"dependentSchemas":{"e":{"$dynamicRef":"#/e"}}}`,
			`{"t":{"allOf":[{"$ref":"#/components/schemas/t/a"}],"prefixItems":[{"$ref":"#/components/schemas/t/b"}],"if":{"$ref":"#/components/schemas/t/c"},"patternProperties":{"^x":{"$ref":"#/components/schemas/t/d"}},"dependentSchemas":{"e":{"$dynamicRef":"#/components/schemas/t/e"}}}}`},
		{"anchors and remote refs kept",
			`{"anyOf":[{"$ref":"#node"},{"$ref":"https://other/s.json#/a"}]}`,
			`{"t":{"anyOf":[{"$ref":"#node"},{"$ref":"https://other/s.json#/a"}]}}`},
		{"data is not walked",
			`{"const":{"$ref":"#/a"},"default":{"$ref":"#/a"},"examples":[{"$ref":"#/a"}],"properties":{"$ref":{"const":"#/a"}}}`,
			`{"t":{"const":{"$ref":"#/a"},"default":{"$ref":"#/a"},"examples":[{"$ref":"#/a"}],"properties":{"$ref":{"const":"#/a"}}}}`},
		{"embedded resources kept",
			`{"$defs":{"x":{"$id":"https://x/inner","$ref":"#/$defs/y","$defs":{"y":{}}}}}`,
			`{"t":{},"t_x":{"$id":"https://x/inner","$ref":"#/$defs/y","$defs":{"y":{}}}}`},
		{"other dialect becomes a resource",
			`{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"a":{}},"$ref":"#/definitions/a"}`,
			`{"t":{"$id":"urn:strata:type:t","$schema":"http://json-schema.org/draft-07/schema#","definitions":{"a":{}},"$ref":"#/definitions/a"}}`},
		{"other dialect keeps its id",
			`{"$schema":"http://json-schema.org/draft-07/schema#","$id":"https://x/p"}`,
			`{"t":{"$schema":"http://json-schema.org/draft-07/schema#","$id":"https://x/p"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := embedSchema("t", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeIndented(v)
			if err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, got); err != nil {
				t.Fatal(err)
			}
			if compact.String() != tt.want {
				t.Errorf("got  %s\nwant %s", compact.String(), tt.want)
			}
		})
	}
}

func TestCamel(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"posts", "Posts"},
		{"blog_posts", "BlogPosts"},
		{"a_1", "A_1"},
		{"a1", "A1"},
		{"a__b", "A_B"},
		{"a_", "A_"},
		{"x_y_z", "XYZ"},
	}
	for _, tt := range tests {
		if got := camel(tt.in); got != tt.want {
			t.Errorf("camel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestDocumentLintRules checks, without the third-party tools, the rules
// of Redocly's recommended set that the document once broke (see
// TestThirdPartyTools for the tools themselves): servers are listed, the
// license names an identifier or a URL, every operation has a 4XX
// response, every list and count declares its 503, and every component is
// used.
func TestDocumentLintRules(t *testing.T) {
	t.Parallel()
	for name, types := range map[string][]core.Type{"sample": sampleTypes(), "none": nil} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := Document(types, Info{})
			if err != nil {
				t.Fatal(err)
			}
			m := decode(t, doc)
			if s, _ := m["servers"].([]any); len(s) == 0 {
				t.Error("no servers")
			}
			if l := at(m, "info", "license"); at(l, "name") == nil || (at(l, "identifier") == nil && at(l, "url") == nil) {
				t.Errorf("license = %v", l)
			}
			for key, op := range operations(m) {
				has4xx := false
				for status := range op["responses"].(map[string]any) {
					has4xx = has4xx || status[0] == '4'
				}
				if !has4xx {
					t.Errorf("%s has no 4XX response", key)
				}
				if id, _ := op["operationId"].(string); strings.HasPrefix(id, "list") || strings.HasPrefix(id, "count") {
					if strings.Contains(key, " /api/posts") || strings.Contains(key, " /api/users") {
						if at(op, "responses", "503") == nil && !strings.Contains(id, "Revisions") && !strings.Contains(id, "Referrers") {
							t.Errorf("%s does not declare its 503", key)
						}
					}
				}
			}
			refs := map[string]bool{}
			var walk func(v any)
			walk = func(v any) {
				switch v := v.(type) {
				case map[string]any:
					if r, ok := v["$ref"].(string); ok {
						refs[r] = true
					}
					for _, e := range v {
						walk(e)
					}
				case []any:
					for _, e := range v {
						walk(e)
					}
				}
			}
			walk(m)
			for _, kind := range []string{"schemas", "parameters", "headers", "responses"} {
				for name := range at(m, "components", kind).(map[string]any) {
					if !refs["#/components/"+kind+"/"+name] {
						t.Errorf("components.%s.%s is never used", kind, name)
					}
				}
			}
		})
	}
}
