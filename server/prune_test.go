package server_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/strata-dev/strata/core"
)

// revisionNumbers lists the numbers GET …/revisions shows, newest first.
func (ts *testServer) revisionNumbers(path string) []int {
	ts.t.Helper()
	var out []int
	for _, it := range ts.must(200, "GET", path+"/revisions", nil).JSON(ts.t)["items"].([]any) {
		out = append(out, int(dig(it, "number").(float64)))
	}
	return out
}

// TestRevisionRetention prunes a resource with a switch tree under
// keep_last 3 and checks what is kept (the newest three and the current
// revision's ancestors, three deep), that a pruned revision is 410 to
// reads, diffs and switches while one never written is 404, and that the
// current revision is never pruned.
func TestRevisionRetention(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name": "pages", "schema": {"type": "object"}, "retention": {"keep_last": 3}}`)
	ts.defineType(`{"name": "drafts", "schema": {"type": "object"}}`)
	prune := func() core.PruneResult {
		t.Helper()
		res, err := ts.m.PruneRevisions(core.AsSystem(t.Context()))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	ts.must(201, "POST", "/api/pages", `{"id": "p", "v": 1}`)
	for v := 2; v <= 6; v++ {
		ts.must(200, "PUT", "/api/pages/p", fmt.Sprintf(`{"v": %d}`, v))
	}
	ts.must(200, "POST", "/api/pages/p/switch/2", nil)
	ts.must(200, "PUT", "/api/pages/p", `{"v": 7}`) // revision 7, parent 2
	// A type without retention keeps everything.
	ts.must(201, "POST", "/api/drafts", `{"id": "d", "v": 1}`)
	for v := 2; v <= 6; v++ {
		ts.must(200, "PUT", "/api/drafts/d", fmt.Sprintf(`{"v": %d}`, v))
	}
	if got := ts.revisionNumbers("/api/pages/p"); !slices.Equal(got, []int{7, 6, 5, 4, 3, 2, 1}) {
		t.Fatalf("before pruning: %v (writes must not prune)", got)
	}

	if res := prune(); res.Resources != 1 || res.Revisions != 2 {
		t.Fatalf("prune: %+v, want 2 revisions of 1 resource", res)
	}
	if got := ts.revisionNumbers("/api/pages/p"); !slices.Equal(got, []int{7, 6, 5, 2, 1}) {
		t.Fatalf("kept %v; want the newest 7 6 5 and 7's ancestors 2 1", got)
	}
	if got := ts.revisionNumbers("/api/drafts/d"); len(got) != 6 {
		t.Fatalf("drafts kept %v", got)
	}
	if res := prune(); res.Revisions != 0 {
		t.Fatalf("a second prune deleted %+v", res)
	}

	cases := []struct {
		name, method, path string
		status             int
	}{
		{"read a pruned revision", "GET", "/api/pages/p/revisions/3", 410},
		{"read one never written", "GET", "/api/pages/p/revisions/8", 404},
		{"read a kept old one", "GET", "/api/pages/p/revisions/1", 200},
		{"read a pruned one by ?revision", "GET", "/api/pages/p?revision=4", 410},
		{"diff from a pruned one", "GET", "/api/pages/p/diff?from=3&to=7", 410},
		{"diff of the current against its parent", "GET", "/api/pages/p/diff", 200},
		{"diff of kept ones", "GET", "/api/pages/p/diff?from=5&to=6", 200},
		{"switch to a pruned one", "POST", "/api/pages/p/switch/4", 410},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(tc.method, tc.path, nil)
			if r.Status != tc.status {
				t.Fatalf("%s %s: %d %s; want %d", tc.method, tc.path, r.Status, r.Body, tc.status)
			}
			if tc.status == 410 {
				checkProblem(t, r, 410, "gone")
			}
		})
	}

	// The current revision is never pruned, however old: switch to 1 and
	// prune with keep_last 1.
	ts.must(200, "PUT", "/api/types/pages", `{"name": "pages", "schema": {"type": "object"}, "retention": {"keep_last": 1}}`)
	ts.must(200, "POST", "/api/pages/p/switch/1", nil)
	prune()
	if got := ts.revisionNumbers("/api/pages/p"); !slices.Equal(got, []int{7, 1}) {
		t.Fatalf("with keep_last 1 after a switch to 1: kept %v, want 7 (newest) and 1 (current)", got)
	}
	if r := ts.must(200, "GET", "/api/pages/p", nil).JSON(t); dig(r, "data.v") != 1.0 {
		t.Fatalf("current after pruning: %v", r)
	}
	// The next update continues from 1.
	r := ts.must(200, "PUT", "/api/pages/p", `{"v": 8}`).JSON(t)
	if dig(r, "revision.number") != 8.0 || dig(r, "revision.parent") != 1.0 {
		t.Fatalf("update after pruning: %v", r)
	}
}
