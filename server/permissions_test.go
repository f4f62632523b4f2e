package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/server"
)

// The permission matrix: every role against every route of three types
// whose permissions differ, with the status each must get. Rows are
// "type route" → statuses for the roles in matrixRoles, in that order.
var matrixRoles = []string{"anonymous", "authenticated", "editor", "owner", "admin"}

// notes: readable by their owner and editors; posts: the SPEC example
// (public read); secrets: no permissions, so admins only.
const (
	notesType = `{"name":"notes","schema":{"type":"object","properties":{"text":{"type":"string"}}},
	  "permissions":{"read":["owner","role:editor"],"create":["authenticated"],"update":["owner"],
	                 "delete":["owner"],"admin":["role:editor"]}}`
	permPostsType = `{"name":"posts","schema":{"type":"object","properties":{"text":{"type":"string"}}},
	  "permissions":{"read":["public"],"create":["authenticated"],"update":["owner","role:editor"],
	                 "delete":["role:editor"]}}`
	secretsType = `{"name":"secrets","schema":{"type":"object","properties":{"text":{"type":"string"}}}}`
)

var permissionMatrix = []struct {
	row      string // "<type> <route>"; {id} is a fresh resource created by the owner (admin for secrets)
	statuses string
}{
	{"notes GET /{id}", "401 404 200 200 200"},
	{"notes GET /", "401 200 200 200 200"},
	{"notes GET /count", "401 200 200 200 200"},
	{"notes GET /{id}/revisions", "401 404 200 200 200"},
	{"notes GET /{id}/revisions/1", "401 404 200 200 200"},
	{"notes GET /{id}/diff?from=1&to=1", "401 404 200 200 200"},
	{"notes GET /{id}/referrers", "401 404 200 200 200"},
	{"notes POST /", "401 201 201 201 201"},
	{"notes PATCH /{id}", "401 404 403 200 200"},
	{"notes PUT /{id}", "401 404 403 200 200"},
	{"notes DELETE /{id}", "401 404 403 204 204"},
	{"notes POST /{id}/restore", "401 404 403 200 200"},
	{"notes POST /{id}/switch/1", "401 404 200 403 200"},
	{"notes DELETE /{id}?purge=true", "401 404 204 403 204"},
	{"notes BATCH PATCH /{id}", "401 404 403 200 200"},
	{"notes GET /types", "401 200 200 200 200"},
	{"notes PUT /types", "401 403 200 403 200"},

	{"posts GET /{id}", "200 200 200 200 200"},
	{"posts GET /", "200 200 200 200 200"},
	{"posts GET /count", "200 200 200 200 200"},
	{"posts GET /{id}/revisions", "200 200 200 200 200"},
	{"posts GET /{id}/revisions/1", "200 200 200 200 200"},
	{"posts GET /{id}/diff?from=1&to=1", "200 200 200 200 200"},
	{"posts GET /{id}/referrers", "200 200 200 200 200"},
	{"posts POST /", "401 201 201 201 201"},
	{"posts PATCH /{id}", "401 403 200 200 200"},
	{"posts PUT /{id}", "401 403 200 200 200"},
	{"posts DELETE /{id}", "401 403 204 403 204"},
	{"posts POST /{id}/restore", "401 403 200 403 200"},
	{"posts POST /{id}/switch/1", "401 403 403 403 200"},
	{"posts DELETE /{id}?purge=true", "401 403 403 403 204"},
	{"posts BATCH PATCH /{id}", "401 403 200 200 200"},
	{"posts GET /types", "200 200 200 200 200"},
	{"posts PUT /types", "401 403 403 403 200"},

	{"secrets GET /{id}", "401 404 404 404 200"},
	{"secrets GET /", "401 404 404 404 200"},
	{"secrets GET /count", "401 404 404 404 200"},
	{"secrets GET /{id}/revisions", "401 404 404 404 200"},
	{"secrets GET /{id}/revisions/1", "401 404 404 404 200"},
	{"secrets GET /{id}/diff?from=1&to=1", "401 404 404 404 200"},
	{"secrets GET /{id}/referrers", "401 404 404 404 200"},
	{"secrets POST /", "401 404 404 404 201"},
	{"secrets PATCH /{id}", "401 404 404 404 200"},
	{"secrets PUT /{id}", "401 404 404 404 200"},
	{"secrets DELETE /{id}", "401 404 404 404 204"},
	{"secrets POST /{id}/restore", "401 404 404 404 200"},
	{"secrets POST /{id}/switch/1", "401 404 404 404 200"},
	{"secrets DELETE /{id}?purge=true", "401 404 404 404 204"},
	{"secrets BATCH PATCH /{id}", "401 404 404 404 200"},
	{"secrets GET /types", "401 404 404 404 200"},
	{"secrets PUT /types", "401 404 404 404 200"},

	{"- POST /api/types", "401 403 403 403 201"},
	{"- GET /api/types", "200 200 200 200 200"},
	{"- GET /api/hooks", "401 403 403 403 200"},
	{"- GET /api/keys", "401 403 403 403 200"},
	{"- POST /api/keys", "401 403 403 403 201"},
	{"- GET /api/changes", "200 200 200 200 200"},
	{"- GET /openapi.json", "200 200 200 200 200"},
}

// principals creates one API key per role and returns the Authorization
// header value of each ("" for anonymous) and the owner's principal id.
func (ts *testServer) principals() (map[string]string, string) {
	ts.t.Helper()
	tokens := map[string]string{"anonymous": "", "admin": "Bearer " + testAdminKey}
	var ownerID string
	for role, roles := range map[string][]string{"authenticated": {}, "editor": {"editor"}, "owner": {}} {
		k := ts.must(201, "POST", "/api/keys", map[string]any{"name": role, "roles": roles}).JSON(ts.t)
		tokens[role] = "Bearer " + k["token"].(string)
		if role == "owner" {
			ownerID = "key:" + k["id"].(string)
		}
	}
	return tokens, ownerID
}

func TestPermissionMatrix(t *testing.T) {
	forEachBackend(t, testPermissionMatrix)
}

func testPermissionMatrix(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	for _, def := range []string{notesType, permPostsType, secretsType} {
		ts.defineType(def)
	}
	tokens, ownerID := ts.principals()
	typeDefs := map[string]string{"notes": notesType, "posts": permPostsType, "secrets": secretsType}
	as := func(role string) []string { return []string{"Authorization", tokens[role]} }

	newTypes := 0
	for _, row := range permissionMatrix {
		typ, route, _ := strings.Cut(row.row, " ")
		want := strings.Fields(row.statuses)
		if len(want) != len(matrixRoles) {
			t.Fatalf("row %q has %d statuses", row.row, len(want))
		}
		for i, role := range matrixRoles {
			t.Run(row.row+"/"+role, func(t *testing.T) {
				// Each cell gets a fresh resource so that writes do not
				// disturb the cells after it.
				var id string
				if typ != "-" {
					creator := "owner"
					if typ == "secrets" {
						creator = "admin"
					}
					created := ts.must(201, "POST", "/api/"+typ, map[string]any{"text": "fixture"}, as(creator)...).JSON(t)
					id = created["id"].(string)
					if got := dig(created, "meta.created_by"); creator == "owner" && got != ownerID {
						t.Fatalf("created_by %v, want %s", got, ownerID)
					}
					if strings.HasSuffix(route, "/restore") {
						ts.must(204, "DELETE", "/api/"+typ+"/"+id, nil)
					}
				}
				method, path, _ := strings.Cut(route, " ")
				path = strings.ReplaceAll(path, "{id}", id)
				var body any
				switch {
				case typ == "-" && path == "/api/types":
					newTypes++
					body = fmt.Sprintf(`{"name":"t%d","schema":{"type":"object"}}`, newTypes)
				case typ == "-" && path == "/api/keys":
					body = map[string]any{"name": "k", "roles": []string{"x"}}
				case typ == "-":
				case method == "BATCH":
					op, opPath, _ := strings.Cut(path, " ")
					body = map[string]any{"requests": []any{map[string]any{"method": op, "url": "/api/" + typ + opPath, "body": map[string]any{"text": "b"}}}}
					method, path = "POST", "/api/batch"
				case path == "/types":
					method, path, body = "PUT", "/api/types/"+typ, typeDefs[typ]
					if route == "GET /types" {
						method, body = "GET", nil
					}
				default:
					path = "/api/" + typ + strings.TrimSuffix(path, "/")
					if method == "POST" && !strings.Contains(path, "/restore") && !strings.Contains(path, "/switch/") ||
						method == "PATCH" || method == "PUT" {
						body = map[string]any{"text": "changed"}
					}
				}
				r := ts.do(method, path, body, as(role)...)
				if strconv.Itoa(r.Status) != want[i] {
					t.Fatalf("%s %s as %s: status %d, want %s\n%s", method, path, role, r.Status, want[i], r.Body)
				}
				if r.Status >= 400 {
					code := map[int]string{401: "unauthorized", 403: "forbidden", 404: "not_found"}[r.Status]
					checkProblem(t, r, r.Status, code)
					if r.Status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Fatalf("401 without a Bearer challenge: %q", r.Header.Get("WWW-Authenticate"))
					}
				}
				// A list shows the fixture exactly to those who may read it.
				if method == "GET" && route == "GET /" && r.Status == 200 {
					ids := []string{}
					for _, it := range r.JSON(t)["items"].([]any) {
						ids = append(ids, it.(map[string]any)["id"].(string))
					}
					sees := slices.Contains(ids, id)
					mayRead := typ == "posts" || role == "admin" || typ == "notes" && role != "authenticated"
					if sees != mayRead {
						t.Fatalf("%s lists %s: sees the fixture = %v, want %v", role, typ, sees, mayRead)
					}
				}
			})
		}
	}
}

func TestAuthentication(t *testing.T) {
	forEachBackend(t, testAuthentication)
}

func testAuthentication(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.defineType(permPostsType)
	tokens, _ := ts.principals()

	t.Run("bad credentials are refused even on public routes", func(t *testing.T) {
		for _, h := range []string{"Bearer nope", "Bearer sk_x_y", "Basic dXNlcjpwdw==", "Bearer", "Bearer " + testAdminKey + "x", "bearer  "} {
			r := ts.do("GET", "/api/posts", nil, "Authorization", h)
			checkProblem(t, r, 401, "unauthorized")
			if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="strata", error="invalid_token"` {
				t.Errorf("%q: WWW-Authenticate %q", h, got)
			}
		}
		// The scheme is case-insensitive (RFC 9110).
		ts.must(200, "GET", "/api/posts", nil, "Authorization", "bearer "+testAdminKey)
	})

	t.Run("a revoked key stops working at once", func(t *testing.T) {
		k := ts.must(201, "POST", "/api/keys", map[string]any{"name": "temp"}).JSON(t)
		tok := "Bearer " + k["token"].(string)
		ts.must(201, "POST", "/api/posts", map[string]any{"text": "x"}, "Authorization", tok)
		keys := ts.must(200, "GET", "/api/keys", nil).JSON(t)["items"].([]any)
		for _, it := range keys {
			if _, leaked := it.(map[string]any)["token"]; leaked {
				t.Fatal("GET /api/keys shows a token")
			}
			if _, leaked := it.(map[string]any)["hash"]; leaked {
				t.Fatal("GET /api/keys shows a hash")
			}
		}
		ts.must(204, "DELETE", "/api/keys/"+k["id"].(string), nil)
		checkProblem(t, ts.do("POST", "/api/posts", map[string]any{"text": "x"}, "Authorization", tok), 401, "unauthorized")
		checkProblem(t, ts.do("DELETE", "/api/keys/"+k["id"].(string), nil), 404, "not_found")
	})

	t.Run("writes record who made them", func(t *testing.T) {
		editorID := ""
		for _, it := range ts.must(200, "GET", "/api/keys", nil).JSON(t)["items"].([]any) {
			if it.(map[string]any)["name"] == "editor" {
				editorID = "key:" + it.(map[string]any)["id"].(string)
			}
		}
		created := ts.must(201, "POST", "/api/posts", map[string]any{"text": "audit"}, "Authorization", tokens["owner"]).JSON(t)
		id := created["id"].(string)
		updated := ts.must(200, "PATCH", "/api/posts/"+id, map[string]any{"text": "edited"}, "Authorization", tokens["editor"]).JSON(t)
		if dig(updated, "meta.updated_by") != editorID || dig(updated, "revision.created_by") != editorID ||
			dig(updated, "meta.created_by") != created["meta"].(map[string]any)["created_by"] {
			t.Fatalf("audit fields: %v", updated["meta"])
		}
		changes := ts.must(200, "GET", "/api/changes?types=posts", nil).JSON(t)["items"].([]any)
		last := changes[len(changes)-1].(map[string]any)
		if last["id"] != id || last["action"] != "update" || last["by"] != editorID {
			t.Fatalf("last change %v", last)
		}
	})

	t.Run("keys API validates", func(t *testing.T) {
		checkProblem(t, ts.do("POST", "/api/keys", `{"name":"x","roles":"admin"}`), 400, "bad_request")
		checkProblem(t, ts.do("POST", "/api/keys", `{"name":"x","scopes":[]}`), 400, "bad_request")
		checkProblem(t, ts.do("POST", "/api/keys", `{"name":"","roles":[]}`), 400, "bad_request")
		r := ts.must(201, "POST", "/api/keys", `{"name":"ok","roles":["a"]}`)
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatal("a response with a token must not be cached")
		}
	})
	_ = http.StatusOK
}

// TestHooksSeePrincipal: a before_create hook that echoes its input
// envelope as the new data shows what hooks are told about the caller.
func TestHooksSeePrincipal(t *testing.T) {
	forEachBackend(t, testHooksSeePrincipal)
}

func testHooksSeePrincipal(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.putHook("echo", hostileModule(t, "../echo"))
	ts.defineType(`{"name":"echoed","schema":{"type":"object"},
	  "permissions":{"create":["authenticated"],"read":["authenticated"]},
	  "hooks":[{"stage":"before_create","module":"echo","timeout_ms":1000}]}`)
	k := ts.must(201, "POST", "/api/keys", map[string]any{"name": "ed", "roles": []string{"editor"}}).JSON(t)
	res := ts.must(201, "POST", "/api/echoed", map[string]any{"x": 1}, "Authorization", "Bearer "+k["token"].(string)).JSON(t)
	p, _ := dig(res, "data.principal").(map[string]any)
	if p["id"] != "key:"+k["id"].(string) || fmt.Sprint(p["roles"]) != "[editor]" {
		t.Fatalf("hook saw principal %v", dig(res, "data.principal"))
	}
	if dig(res, "meta.created_by") != p["id"] {
		t.Fatalf("created_by %v", dig(res, "meta.created_by"))
	}
}

// TestTokensNeverLogged: with debug logging on, neither accepted nor
// refused tokens appear in the log, whatever the request does.
func TestTokensNeverLogged(t *testing.T) {
	logs := &syncBuffer{}
	ts := newTestServer(t, func(o *server.Options) {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ts.defineType(permPostsType)
	k := ts.must(201, "POST", "/api/keys", map[string]any{"name": "x"}).JSON(t)
	good := k["token"].(string)
	// sk_<id>_<secret>: the secret is base64url, "_" among its letters.
	secret := strings.TrimPrefix(good, "sk_"+k["id"].(string)+"_")
	forged := "sk_" + k["id"].(string) + "_forgedsecretvalue"
	for _, tok := range []string{good, forged, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"} {
		ts.do("POST", "/api/posts", map[string]any{"text": "x"}, "Authorization", "Bearer "+tok)
		ts.do("GET", "/api/nope/1", nil, "Authorization", "Bearer "+tok)
		ts.do("POST", "/api/posts", `{"text":`, "Authorization", "Bearer "+tok)
	}
	out := logs.String()
	if out == "" {
		t.Fatal("nothing was logged; the test proves nothing")
	}
	for _, s := range []string{secret, "forgedsecretvalue", "c2lnbmF0dXJl", testAdminKey} {
		if strings.Contains(out, s) {
			t.Fatalf("a secret %q is in the log:\n%s", s, out)
		}
	}
}

// TestJWTOverHTTP: a JWT names the principal and its roles through the
// whole stack; an expired one is refused with the invalid_token challenge.
func TestJWTOverHTTP(t *testing.T) {
	const secret = "a-jwt-secret-for-the-http-test-0123456789"
	ts := newTestServer(t, func(o *server.Options) {
		a, err := auth.New(nil, auth.Config{AdminKey: testAdminKey, JWT: auth.JWTConfig{Secret: secret}})
		if err != nil {
			t.Fatal(err)
		}
		o.Auth = a
	})
	ts.defineType(notesType)
	sign := func(exp time.Time) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "alice", "roles": []string{"editor"}, "exp": exp.Unix()}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	good := sign(time.Now().Add(time.Hour))
	res := ts.must(201, "POST", "/api/notes", map[string]any{"text": "from a JWT"}, "Authorization", good).JSON(t)
	if dig(res, "meta.created_by") != "jwt:alice" {
		t.Fatalf("created_by %v", dig(res, "meta.created_by"))
	}
	// role:editor from the roles claim may switch (notes' admin permission).
	ts.must(200, "POST", "/api/notes/"+res["id"].(string)+"/switch/1", nil, "Authorization", good)
	r := ts.do("GET", "/api/notes", nil, "Authorization", sign(time.Now().Add(-time.Hour)))
	checkProblem(t, r, 401, "unauthorized")
	if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("challenge %q", r.Header.Get("WWW-Authenticate"))
	}
}

// TestJWTSubjectCannotImpersonate: a JWT whose sub names another issuer's
// principal ("key:<id>" of an API key, "admin") is a different principal:
// it neither reads nor changes what that principal owns.
func TestJWTSubjectCannotImpersonate(t *testing.T) {
	forEachBackend(t, testJWTSubjectCannotImpersonate)
}

func testJWTSubjectCannotImpersonate(t *testing.T, b apptest.Backend) {
	const secret = "a-jwt-secret-for-the-http-test-0123456789"
	ts := startServer(t, t.TempDir(), apptest.WithBackend(b),
		auth.Config{AdminKey: testAdminKey, JWT: auth.JWTConfig{Secret: secret}})
	ts.defineType(notesType)
	tokens, ownerID := ts.principals()
	note := ts.must(201, "POST", "/api/notes", map[string]any{"text": "owner only"}, "Authorization", tokens["owner"]).JSON(t)
	id := note["id"].(string)
	for _, sub := range []string{ownerID, "admin"} {
		t.Run(sub, func(t *testing.T) {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
				"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			forged := "Bearer " + tok
			checkProblem(t, ts.do("GET", "/api/notes/"+id, nil, "Authorization", forged), 404, "not_found")
			checkProblem(t, ts.do("PUT", "/api/notes/"+id, map[string]any{"text": "mine"}, "Authorization", forged), 404, "not_found")
			list := ts.must(200, "GET", "/api/notes", nil, "Authorization", forged).JSON(t)
			if items := list["items"].([]any); len(items) != 0 {
				t.Fatalf("the forged subject lists %d of the owner's notes", len(items))
			}
		})
	}
}

// TestHiddenTypeLikeUnknown: a type a principal has no permission on
// answers every route exactly as a type that does not exist, for an
// authenticated principal (404, "unknown type") and an anonymous one (401).
func TestHiddenTypeLikeUnknown(t *testing.T) {
	forEachBackend(t, testHiddenTypeLikeUnknown)
}

func testHiddenTypeLikeUnknown(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	ts.defineType(secretsType)
	tokens, _ := ts.principals()
	ts.must(201, "POST", "/api/secrets", map[string]any{"id": "s1", "text": "x"})
	routes := []struct{ method, path string }{
		{"GET", "/api/types/%s"},
		{"GET", "/api/%s"},
		{"GET", "/api/%s/count"},
		{"POST", "/api/%s"},
		{"GET", "/api/%s/s1"},
		{"PUT", "/api/%s/s1"},
		{"PATCH", "/api/%s/s1"},
		{"DELETE", "/api/%s/s1"},
		{"GET", "/api/%s/s1/revisions"},
		{"GET", "/api/%s/s1/referrers"},
		{"POST", "/api/%s/s1/switch/1"},
	}
	for _, who := range []string{"authenticated", "anonymous"} {
		for _, rt := range routes {
			t.Run(who+" "+rt.method+" "+rt.path, func(t *testing.T) {
				var body any
				if rt.method == "POST" || rt.method == "PUT" || rt.method == "PATCH" {
					body = map[string]any{"text": "y"}
				}
				answer := func(typ string) (int, string) {
					r := ts.do(rt.method, fmt.Sprintf(rt.path, typ), body, "Authorization", tokens[who])
					p := r.JSON(t)
					detail, _ := p["detail"].(string)
					return r.Status, strings.ReplaceAll(detail, typ, "T")
				}
				hs, hd := answer("secrets")
				us, ud := answer("nothing")
				if hs != us || hd != ud {
					t.Fatalf("hidden type: %d %q; unknown type: %d %q", hs, hd, us, ud)
				}
				want := map[string]int{"authenticated": 404, "anonymous": 401}[who]
				if hs != want {
					t.Fatalf("status %d, want %d", hs, want)
				}
			})
		}
	}
}
