package server_test

import (
	"strings"
	"testing"
)

// TestHookFuel checks a binding's fuel budget through HTTP: a hook that
// runs out fails the write with 500 hook_failed naming the hook and the
// reason fuel, long before its timeout, and writes nothing; a negative
// budget is refused with the type.
func TestHookFuel(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.putHook("loop", hostileModule(t, "loop"))
	ts.defineType(`{"name":"metered","schema":{"type":"object"},"hooks":[{"stage":"validate","module":"loop","timeout_ms":60000,"fuel":100000}]}`)
	p := checkProblem(t, ts.do("POST", "/api/metered", `{"x":1}`), 500, "hook_failed")
	detail, _ := p["detail"].(string)
	if !strings.Contains(detail, "loop") || !strings.Contains(detail, "(fuel)") || !strings.Contains(detail, "100000 units") {
		t.Fatalf("detail %q does not name the hook, the reason fuel and the budget", detail)
	}
	if n := ts.must(200, "GET", "/api/metered/count", nil).JSON(t)["count"]; n != 0.0 {
		t.Fatalf("a hook out of fuel let a write through: count %v", n)
	}
	checkProblem(t, ts.do("POST", "/api/types", `{"name":"negative","schema":{"type":"object"},"hooks":[{"stage":"validate","module":"loop","fuel":-1}]}`), 400, "bad_request")
}

// TestHookModuleLimits checks that a module over a structural limit is
// refused at upload with 400 naming the limit, and is not registered.
func TestHookModuleLimits(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	r := ts.do("PUT", "/api/hooks/table_huge", hostileModule(t, "table_huge"), "Content-Type", "application/wasm")
	p := checkProblem(t, r, 400, "bad_request")
	if detail, _ := p["detail"].(string); !strings.Contains(detail, "max_table_entries") {
		t.Fatalf("detail %q does not name the limit", detail)
	}
	ts.must(404, "GET", "/api/hooks/table_huge", nil)
}

// TestHookTableGrowth checks through HTTP that a hook growing its table by
// 2^32-3 entries (which took the whole server down) or 50 000 at a time
// fails its write with 500 hook_failed, writes nothing, and leaves the
// server serving.
func TestHookTableGrowth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, module := range []string{"table_grow", "table_grow_loop"} {
		ts.putHook(module, hostileModule(t, module))
		typ := "hostile_" + module
		ts.defineType(`{"name":"` + typ + `","schema":{"type":"object"},"hooks":[{"stage":"validate","module":"` + module + `","timeout_ms":5000}]}`)
		for range 3 {
			p := checkProblem(t, ts.do("POST", "/api/"+typ, `{"x":1}`), 500, "hook_failed")
			if detail, _ := p["detail"].(string); !strings.Contains(detail, module) {
				t.Fatalf("detail %q does not name the hook", detail)
			}
		}
		if n := ts.must(200, "GET", "/api/"+typ+"/count", nil).JSON(t)["count"]; n != 0.0 {
			t.Fatalf("%s let a write through: count %v", module, n)
		}
	}
	ts.must(200, "GET", "/healthz", nil)
}
