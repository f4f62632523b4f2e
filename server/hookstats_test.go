package server_test

import (
	"testing"
)

// TestHookStats checks the figures GET /api/hooks reports for each module,
// through real modules: calls count answers, rejections included;
// failures count only crashes; the percentiles appear with the first call;
// registering the module again starts it afresh.
func TestHookStats(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.putHook("titles", exampleModule(t, "wat"))
	ts.putHook("trap", hostileModule(t, "trap"))
	ts.defineType(hookedType("statsok", "titles", "validate"))
	ts.defineType(`{"name":"statsbad","schema":{"type":"object"},"hooks":[{"stage":"validate","module":"trap","timeout_ms":1000}]}`)

	stats := func() map[string]map[string]any {
		t.Helper()
		out := map[string]map[string]any{}
		for _, it := range ts.must(200, "GET", "/api/hooks", nil).JSON(t)["items"].([]any) {
			m := it.(map[string]any)
			st, _ := m["stats"].(map[string]any)
			if st == nil {
				t.Fatalf("module %v has no stats: %v", m["name"], m)
			}
			out[m["name"].(string)] = st
		}
		return out
	}
	if st := stats()["titles"]; st["calls"] != 0.0 || st["failures"] != 0.0 || st["p50_ms"] != nil {
		t.Fatalf("before any call: %v", st)
	}
	ts.must(201, "POST", "/api/statsok", `{"title":"Fine"}`)
	ts.must(201, "POST", "/api/statsok", `{"title":"Also fine"}`)
	checkProblem(t, ts.do("POST", "/api/statsok", `{"title":"SHOUTING"}`), 422, "validation") // rejected: an answer
	for range 2 {
		checkProblem(t, ts.do("POST", "/api/statsbad", `{"x":1}`), 500, "hook_failed")
	}
	got := stats()
	for _, tc := range []struct {
		module          string
		calls, failures float64
	}{
		{"titles", 3, 0},
		{"trap", 2, 2},
	} {
		st := got[tc.module]
		if st["calls"] != tc.calls || st["failures"] != tc.failures {
			t.Errorf("%s: calls %v failures %v, want %v %v", tc.module, st["calls"], st["failures"], tc.calls, tc.failures)
		}
		p50, ok50 := st["p50_ms"].(float64)
		p99, ok99 := st["p99_ms"].(float64)
		if !ok50 || !ok99 || p50 <= 0 || p99 < p50 {
			t.Errorf("%s: p50 %v p99 %v", tc.module, st["p50_ms"], st["p99_ms"])
		}
	}
	ts.putHook("titles", exampleModule(t, "wat"))
	if st := stats()["titles"]; st["calls"] != 0.0 || st["p50_ms"] != nil {
		t.Fatalf("after registering again: %v", st)
	}
}
