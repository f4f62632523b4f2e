package server_test

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentIfMatch races writers holding the same ETag: per revision
// exactly one wins, the rest get 412, and no update is lost.
func TestConcurrentIfMatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"counters","schema":{"type":"object","properties":{"n":{"type":"integer"}}}}`)
	id := ts.must(201, "POST", "/api/counters", `{"n":0}`).JSON(t)["id"].(string)

	const writers, rounds = 8, 15
	wins := 0
	for round := range rounds {
		cur := ts.must(200, "GET", "/api/counters/"+id, nil)
		tag := cur.Header.Get("ETag")
		n := int(dig(cur.JSON(t), "data.n").(float64))
		statuses := make([]int, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				method, body, ct := "PUT", fmt.Sprintf(`{"n":%d}`, n+1), "application/json"
				if w%2 == 1 {
					method, body, ct = "PATCH", fmt.Sprintf(`[{"op":"replace","path":"/n","value":%d}]`, n+1), "application/json-patch+json"
				}
				statuses[w] = ts.do(method, "/api/counters/"+id, body, "If-Match", tag, "Content-Type", ct).Status
			}()
		}
		wg.Wait()
		ok := 0
		for _, s := range statuses {
			switch s {
			case 200:
				ok++
			case 412:
			default:
				t.Fatalf("round %d: status %d", round, s)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d writers won with the same If-Match (%v)", round, ok, statuses)
		}
		wins += ok
	}
	final := ts.must(200, "GET", "/api/counters/"+id, nil).JSON(t)
	if dig(final, "data.n") != float64(rounds) || dig(final, "meta.revision_count") != float64(wins+1) {
		t.Fatalf("final = %v, want n=%d and %d revisions", final, rounds, wins+1)
	}
}

// TestConcurrentPatchesLoseNothing sends unconditional merge patches of
// different fields at once: each lands, none overwrites another.
func TestConcurrentPatchesLoseNothing(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"bags","schema":{"type":"object"}}`)
	id := ts.must(201, "POST", "/api/bags", `{}`).JSON(t)["id"].(string)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts.must(200, "PATCH", "/api/bags/"+id, fmt.Sprintf(`{"k%d":%d}`, i, i), "Content-Type", "application/merge-patch+json")
		}()
	}
	wg.Wait()
	data := ts.must(200, "GET", "/api/bags/"+id+"?returns=data", nil).JSON(t)
	if len(data) != n {
		t.Fatalf("%d of %d concurrent patches survived: %v", len(data), n, data)
	}
}

// TestConcurrentUniqueCreates creates the same unique value from 50
// clients at once: exactly one 201, the rest 409.
func TestConcurrentUniqueCreates(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(usersType)
	const clients = 50
	statuses := make([]int, clients)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i] = ts.do("POST", "/api/users", fmt.Sprintf(`{"name":"n%d","email":"same@example.com"}`, i)).Status
		}()
	}
	close(start)
	wg.Wait()
	created, conflicts := 0, 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
			conflicts++
		default:
			t.Fatalf("status %d", s)
		}
	}
	if created != 1 || conflicts != clients-1 {
		t.Fatalf("%d created, %d conflicts; want 1 and %d", created, conflicts, clients-1)
	}
	if n := ts.must(200, "GET", "/api/users/count", nil).JSON(t)["count"]; n != 1.0 {
		t.Fatalf("count = %v", n)
	}
}

// TestRestartKeepsEverything reopens the same bolt file and finds every
// resource, revision and change-log entry.
func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)
	var ids []string
	for i := range 20 {
		id := ts.must(201, "POST", "/api/posts", fmt.Sprintf(`{"title":"t%d"}`, i)).JSON(t)["id"].(string)
		ts.must(200, "PATCH", "/api/posts/"+id, `{"views":1}`)
		ids = append(ids, id)
	}
	ts.must(204, "DELETE", "/api/posts/"+ids[0], nil)
	changesBefore := ts.must(200, "GET", "/api/changes?limit=1000", nil).Body
	revsBefore := ts.must(200, "GET", "/api/posts/"+ids[3]+"/revisions", nil).Body

	ts2 := ts.restart()
	if got := ts2.must(200, "GET", "/api/changes?limit=1000", nil).Body; string(got) != string(changesBefore) {
		t.Fatalf("change log differs after restart:\n%s\n%s", got, changesBefore)
	}
	if got := ts2.must(200, "GET", "/api/posts/"+ids[3]+"/revisions", nil).Body; string(got) != string(revsBefore) {
		t.Fatalf("revisions differ after restart")
	}
	for _, id := range ids[1:] {
		env := ts2.must(200, "GET", "/api/posts/"+id, nil).JSON(t)
		if dig(env, "meta.revision_count") != 2.0 {
			t.Fatalf("%s after restart: %v", id, env["meta"])
		}
	}
	ts2.must(200, "GET", "/api/posts/"+ids[0]+"?include_deleted=true", nil)
	if n := ts2.must(200, "GET", "/api/posts/count", nil).JSON(t)["count"]; n != 19.0 {
		t.Fatalf("count after restart = %v", n)
	}
	// The unique index survived too.
	checkProblem(t, ts2.do("POST", "/api/posts", `{"title":"t5"}`), 409, "conflict")
	// New writes continue the log without a gap.
	ts2.must(201, "POST", "/api/posts", `{"title":"after"}`)
	items := ts2.must(200, "GET", "/api/changes?limit=1000", nil).JSON(t)["items"].([]any)
	for i, it := range items {
		if dig(it, "seq") != float64(i+1) {
			t.Fatalf("gap at %d: seq %v", i, dig(it, "seq"))
		}
	}
}
