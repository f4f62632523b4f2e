package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestEventsFanOut: many subscribers follow batches as they commit, others
// resume from within the recent entries and from before them: each gets
// every event of its types exactly once, in order, with its document; a
// subscriber to a quiet type is told of that type's change only.
func TestEventsFanOut(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"docs","schema":{"type":"object","properties":{"n":{"type":"integer"}}}}`)
	ts.defineType(`{"name":"quiet","schema":{"type":"object"}}`)
	start := ts.m.LastSeq()
	const subscribers, batches, perBatch = 12, 5, 40
	const total = batches * perBatch
	var live []*sseStream
	for range subscribers {
		s := ts.openEvents("/api/events?types=docs", testAdminKey)
		s.connected()
		live = append(live, s)
	}
	quiet := ts.openEvents("/api/events?types=quiet", testAdminKey)
	quiet.connected()
	for b := range batches {
		var ops []string
		for i := range perBatch {
			ops = append(ops, fmt.Sprintf(`{"method":"POST","url":"/api/docs","body":{"n":%d}}`, b*perBatch+i))
		}
		ts.must(200, "POST", "/api/batch", `{"requests":[`+strings.Join(ops, ",")+`]}`)
	}
	// Every create is the next seq, n in the order written.
	check := func(s *sseStream, who string, from int) {
		t.Helper()
		for n := from; n < total; n++ {
			ev := s.must().decode(t)
			if ev.Action == "type" && ev.Type == "docs" {
				ev = s.must().decode(t) // the type's creation, for a stream from the start of the log
			}
			want := start + uint64(n) + 1
			if ev.Seq != want || ev.Action != "create" || ev.Resource == nil || ev.Resource.Data["n"] != float64(n) {
				t.Fatalf("%s: got seq %d %s (resource %+v), want the create of n=%d at seq %d", who, ev.Seq, ev.Action, ev.Resource, n, want)
			}
		}
	}
	for i, s := range live {
		check(s, fmt.Sprintf("live subscriber %d", i), 0)
	}
	for _, from := range []int{0, total / 2, total - 1} {
		s := ts.openEvents("/api/events?types=docs&since="+strconv.FormatUint(start+uint64(from), 10), testAdminKey)
		s.connected()
		check(s, fmt.Sprintf("resumed after n=%d", from-1), from)
		s.close()
	}
	old := ts.openEvents("/api/events?types=docs&since=0", testAdminKey)
	old.connected()
	check(old, "resumed from the start of the log", 0)

	// The quiet stream got nothing of the batches: its first event is the
	// one change to its type.
	ts.must(201, "POST", "/api/quiet", `{"id":"q1"}`)
	if ev := quiet.must().decode(t); ev.Type != "quiet" || ev.ID != "q1" || ev.Seq != start+total+1 {
		t.Fatalf("quiet subscriber got %+v, want the create of quiet/q1 at seq %d", ev, start+total+1)
	}
	// And every live stream goes on from where it was.
	ts.must(201, "POST", "/api/docs", `{"n":-1}`)
	for i, s := range live {
		if ev := s.must().decode(t); ev.Seq != start+total+2 {
			t.Fatalf("live subscriber %d: got seq %d after the batches, want %d", i, ev.Seq, start+total+2)
		}
	}
}
