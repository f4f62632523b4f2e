package server_test

import (
	"github.com/strata-dev/strata/app/apptest"
	"strings"
	"testing"
)

// TestHookModulesSurviveRestart registers a module through the API, binds
// a type to it, restarts the server over the same bolt file with a fresh
// hook runtime, and writes: the module is loaded from the store, runs, and
// is listed as it was registered.
func TestHookModulesSurviveRestart(t *testing.T) {
	t.Parallel()
	forEachBackend(t, testHookModulesSurviveRestart)
}

func testHookModulesSurviveRestart(t *testing.T, b apptest.Backend) {
	ts := newTestServerOn(t, b)
	wasm := exampleModule(t, "wat")
	info := ts.putHook("titles", wasm)
	ts.defineType(hookedType("notes", "titles", "validate", "before_create"))
	ts.must(201, "POST", "/api/notes", `{"title":"Before Restart"}`)

	ts = ts.restart()
	listed := ts.must(200, "GET", "/api/hooks/titles", nil).JSON(t)
	for _, k := range []string{"sha256", "size", "registered_at"} {
		if listed[k] != info[k] {
			t.Errorf("after restart %s = %v, want %v as registered", k, listed[k], info[k])
		}
	}
	created := ts.must(201, "POST", "/api/notes", `{"title":"After Restart"}`).JSON(t)
	if dig(created, "data.slug") != "after-restart" {
		t.Fatalf("the hook did not run after restart: data %v", created["data"])
	}
	prov, _ := dig(created, "revision.hooks").([]any)
	if len(prov) != 2 || dig(prov[1], "sha256") != info["sha256"] {
		t.Fatalf("provenance after restart = %v, want the registered module %v", prov, info["sha256"])
	}
	checkProblem(t, ts.do("POST", "/api/notes", `{"title":"LOUD"}`), 422, "validation")
}

// TestBindingUnknownModule: a type may bind only modules that are
// registered; creating or updating a type that binds another is 400
// naming the module and changes nothing.
func TestBindingUnknownModule(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.putHook("titles", exampleModule(t, "wat"))
	ts.defineType(hookedType("plain", "titles", "validate"))
	cases := []struct {
		name, method, path, body, module string
	}{
		{"create", "POST", "/api/types", hookedType("orphans", "nowhere", "before_create"), "nowhere"},
		{"create, second binding", "POST", "/api/types", `{"name":"mixed","schema":{"type":"object"},"hooks":[
			{"stage":"validate","module":"titles"},{"stage":"before_create","module":"ghost"}]}`, "ghost"},
		{"update", "PUT", "/api/types/plain", hookedType("plain", "missing_mod", "validate"), "missing_mod"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := checkProblem(t, ts.do(tc.method, tc.path, tc.body), 400, "bad_request")
			if !strings.Contains(p["detail"].(string), tc.module) {
				t.Errorf("detail %q does not name module %s", p["detail"], tc.module)
			}
			if !strings.Contains(mustJSON(p["errors"]), "/module") {
				t.Errorf("errors %v do not point at the binding", p["errors"])
			}
		})
	}
	checkProblem(t, ts.do("GET", "/api/types/orphans", nil), 404, "not_found")
	checkProblem(t, ts.do("GET", "/api/types/mixed", nil), 404, "not_found")
	typ := ts.must(200, "GET", "/api/types/plain", nil).JSON(t)
	if m := dig(typ["hooks"].([]any)[0], "module"); m != "titles" {
		t.Fatalf("a refused update changed the binding to %v", m)
	}
}

// TestRemoveBoundModule: a module that types bind cannot be removed (409
// naming the types) unless forced; forced, it is gone for good (also after
// a restart) and writes to those types fail with hook_failed naming it,
// while the types keep serving.
func TestRemoveBoundModule(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.putHook("titles", exampleModule(t, "wat"))
	ts.putHook("spare", exampleModule(t, "wat"))
	ts.defineType(hookedType("beta", "titles", "validate"))
	ts.defineType(hookedType("alpha", "titles", "before_create"))
	ts.must(201, "POST", "/api/alpha", `{"title":"kept"}`)

	p := checkProblem(t, ts.do("DELETE", "/api/hooks/titles", nil), 409, "conflict")
	if d := p["detail"].(string); !strings.Contains(d, "alpha, beta") {
		t.Fatalf("detail %q does not name the binding types", d)
	}
	checkProblem(t, ts.do("DELETE", "/api/hooks/titles?force=maybe", nil), 400, "bad_request")
	ts.must(200, "GET", "/api/hooks/titles", nil)
	ts.must(204, "DELETE", "/api/hooks/spare", nil) // unbound: no force needed
	ts.must(204, "DELETE", "/api/hooks/titles?force=true", nil)
	checkProblem(t, ts.do("DELETE", "/api/hooks/titles?force=true", nil), 404, "not_found")

	for _, restart := range []bool{false, true} {
		srv := ts
		if restart {
			srv = ts.restart()
		}
		checkProblem(t, srv.do("GET", "/api/hooks/titles", nil), 404, "not_found")
		checkProblem(t, srv.do("GET", "/api/hooks/spare", nil), 404, "not_found")
		p := checkProblem(t, srv.do("POST", "/api/alpha", `{"title":"x"}`), 500, "hook_failed")
		if !strings.Contains(p["detail"].(string), "titles") {
			t.Fatalf("detail %q does not name the module", p["detail"])
		}
		if n := srv.must(200, "GET", "/api/alpha/count", nil).JSON(t)["count"]; n != 1.0 {
			t.Fatalf("count %v, want the one resource written before", n)
		}
	}
}
