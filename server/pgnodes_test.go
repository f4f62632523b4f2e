package server_test

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
)

// Several nodes over one PostgreSQL database (SPEC §10), each a whole
// server, as the type changes of one must reach the others.

// newNodes starts n servers over one new PostgreSQL database.
func newNodes(t *testing.T, n int) []*testServer {
	t.Helper()
	first := newTestServerOn(t, apptest.Postgres)
	nodes := []*testServer{first}
	for range n - 1 {
		nodes = append(nodes, startServer(t, t.TempDir(), apptest.WithPostgresDatabase(first.env.StorageURL),
			auth.Config{AdminKey: testAdminKey}))
	}
	return nodes
}

// typeNames lists the names of the types ts serves once it has seen
// change seq (a Strata-Seq).
func (ts *testServer) typeNames(seq string) []string {
	ts.t.Helper()
	var names []string
	for _, it := range ts.must(200, "GET", "/api/types", nil, "Strata-Seq", seq).JSON(ts.t)["items"].([]any) {
		names = append(names, dig(it, "name").(string))
	}
	slices.Sort(names)
	return names
}

// TestTypeChangesOnTwoNodes: two nodes define types at once; each then
// serves every type of both once it has seen the newest of those changes
// (Strata-Seq). A node whose own type change commits while it has not yet
// loaded the other's must not take its type set for current, and its own
// writes moving the seq it has seen past the other's entries must not
// count as having read them.
func TestTypeChangesOnTwoNodes(t *testing.T) {
	t.Parallel()
	nodes := newNodes(t, 2)
	const perNode = 15
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		want   []string
		newest uint64
	)
	for i, ts := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perNode {
				name := fmt.Sprintf("node%d_%02d", i, j)
				r := ts.do("POST", "/api/types", fmt.Sprintf(`{"name":%q,"schema":{"type":"object"}}`, name))
				if r.Status != 201 {
					t.Errorf("define %s: %d\n%s", name, r.Status, r.Body)
					return
				}
				seq, err := strconv.ParseUint(r.Header.Get("Strata-Seq"), 10, 64)
				if err != nil {
					t.Errorf("define %s: Strata-Seq %q", name, r.Header.Get("Strata-Seq"))
					return
				}
				mu.Lock()
				want = append(want, name)
				newest = max(newest, seq)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.Sort(want)
	for i, ts := range nodes {
		if got := ts.typeNames(strconv.FormatUint(newest, 10)); !slices.Equal(got, want) {
			t.Fatalf("node %d serves %d types, want the %d of both nodes:\n got %v\nwant %v", i, len(got), len(want), got, want)
		}
	}
}

// TestImportedTypesReachEveryNode: the types an import creates on one
// node over PostgreSQL are served by another node of the database, whose
// follower learns of type changes from the types generation: an import
// moves it as every other type change does.
func TestImportedTypesReachEveryNode(t *testing.T) {
	t.Parallel()
	src := newTestServer(t)
	exportFixture(t, src)
	dump := src.must(200, "GET", "/api/export", nil).Body

	a := newTestServerOn(t, apptest.Postgres)
	b := startServer(t, t.TempDir(), apptest.WithPostgresDatabase(a.env.StorageURL), auth.Config{AdminKey: testAdminKey})
	r := a.importBody("/api/import", dump)
	if r.Status != 200 {
		t.Fatalf("import on a: %d %s", r.Status, r.Body)
	}
	seq := r.Header.Get("Strata-Seq")
	if seq == "" {
		t.Fatal("the import answered no Strata-Seq")
	}
	b.must(200, "GET", "/api/types/posts", nil, "Strata-Seq", seq)
	if got := b.must(200, "GET", "/api/posts/p1", nil, "Strata-Seq", seq).JSON(t); dig(got, "data.title") != "Engines 3" {
		t.Fatalf("p1 on b: %v", got["data"])
	}
	b.must(201, "POST", "/api/posts", `{"title":"written on b","author":"ada"}`)
	checkProblem(t, b.do("POST", "/api/posts", `{"body":"no title"}`), 422, "validation")
}
