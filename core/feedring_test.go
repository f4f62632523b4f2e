package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
)

// The shared page of the feed (feedring.go) must give every principal
// exactly what a read of the log gives it: the same events, in order, no
// gap, no duplicate, whatever the page held or dropped.

const (
	ringDiaries = `{"name":"diaries","schema":{"type":"object","properties":{"text":{"type":"string"},"mood":{"type":"string"}}},
	  "hidden":["mood"],
	  "permissions":{"read":["owner"],"create":["authenticated"],"update":["owner"],"delete":["owner"]}}`
	ringWalls = `{"name":"walls","schema":{"type":"object","properties":{"secret":{"type":"string"}}},"hidden":["secret"],
	  "permissions":{"read":["authenticated"],"create":["authenticated"]}}`
)

var (
	ringAdmin = core.Principal{ID: "key:admin", Roles: []string{core.RoleAdmin}}
	ringAlice = core.Principal{ID: "alice"}
	ringBob   = core.Principal{ID: "bob"}
)

// allEvents reads every event after since as p sees it, page by page, and
// returns them encoded, one string each.
func allEvents(t *testing.T, m *core.Manager, p core.Principal, since uint64, f core.EventFilter) []string {
	t.Helper()
	return allEventsBy(t, m.Events, m, p, since, f)
}

// allEventsBy is allEvents through read: Events, or LogEvents, which
// reads the log whatever the shared page holds.
func allEventsBy(t *testing.T, read func(context.Context, uint64, core.EventFilter, int) (*core.EventPage, error),
	m *core.Manager, p core.Principal, since uint64, f core.EventFilter) []string {
	t.Helper()
	ctx := core.WithPrincipal(context.Background(), p)
	var out []string
	for since < m.LastSeq() {
		page, err := read(ctx, since, f, 3)
		if err != nil {
			t.Fatalf("events after %d as %s: %v", since, p.ID, err)
		}
		if page.NextSince <= since {
			t.Fatalf("events after %d as %s: no progress", since, p.ID)
		}
		for i := range page.Items {
			// The resource's meta is its latest when the entry was read:
			// the shared page read it earlier than the log read does.
			ev := page.Items[i]
			if ev.Resource != nil {
				res := *ev.Resource
				res.Meta = core.Meta{}
				ev.Resource = &res
			}
			b, err := json.Marshal(&ev)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
		since = page.NextSince
	}
	return out
}

// writeDiaries writes a mix of changes by alice, bob and the administrator,
// calling between after each, and returns the seq before the first.
func writeDiaries(t *testing.T, m *core.Manager, between func()) uint64 {
	t.Helper()
	start := m.LastSeq()
	as := func(p core.Principal) context.Context { return core.WithPrincipal(context.Background(), p) }
	steps := []func() error{
		func() error {
			_, err := m.Create(as(ringAlice), "diaries", []byte(`{"id":"a1","text":"a","mood":"sunny"}`), core.WriteOptions{})
			return err
		},
		func() error {
			_, err := m.Create(as(ringBob), "diaries", []byte(`{"id":"b1","text":"b","mood":"grey"}`), core.WriteOptions{})
			return err
		},
		func() error {
			_, err := m.Create(as(ringBob), "walls", []byte(`{"id":"w1","secret":"s"}`), core.WriteOptions{})
			return err
		},
		func() error {
			_, err := m.Patch(as(ringBob), "diaries", "b1", core.MergePatch, []byte(`{"text":"b2"}`), core.WriteOptions{})
			return err
		},
		func() error { return m.Delete(as(ringAlice), "diaries", "a1", core.WriteOptions{}) },
		func() error { return m.Purge(as(ringAdmin), "diaries", "b1", core.WriteOptions{}) },
		func() error {
			_, err := m.Create(as(ringAlice), "diaries", []byte(`{"id":"a2","text":"c"}`), core.WriteOptions{})
			return err
		},
		// A type dropped and defined again: the old one's resources are
		// gone, and nothing of them shows as the new one's.
		func() error { return m.DeleteType(as(ringAdmin), "walls") },
		func() error {
			var def core.Type
			if err := json.Unmarshal([]byte(ringWalls), &def); err != nil {
				return err
			}
			_, err := m.CreateType(as(ringAdmin), def)
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		between()
	}
	return start
}

// TestEventsSharedMatchesLog: for each principal and filter, the events
// served from the shared page (a position within it) are those a read of
// the log gives (a position older than it), whether the page was filled
// as the changes committed or after all of them.
func TestEventsSharedMatchesLog(t *testing.T) {
	principals := []core.Principal{ringAdmin, ringAlice, ringBob}
	filters := []core.EventFilter{{}, {Types: []string{"diaries"}}}
	for _, live := range []bool{true, false} {
		t.Run(fmt.Sprintf("filled as committed %v", live), func(t *testing.T) {
			m := newManager(t)
			mustType(t, m, ringDiaries)
			mustType(t, m, ringWalls)
			admin := core.WithPrincipal(context.Background(), ringAdmin)
			before := m.LastSeq()
			// The first read at the end of the log starts the shared page
			// there: everything before it is read from the log.
			if _, err := m.Events(admin, before, core.EventFilter{}, 0); err != nil {
				t.Fatal(err)
			}
			pos := before
			start := writeDiaries(t, m, func() {
				if !live {
					return
				}
				page, err := m.Events(admin, pos, core.EventFilter{}, 0)
				if err != nil {
					t.Fatal(err)
				}
				pos = page.NextSince
			})
			if start != before {
				t.Fatalf("the log moved before the writes: %d, want %d", start, before)
			}
			for _, p := range principals {
				for _, f := range filters {
					shared := allEvents(t, m, p, start, f)
					logged := allEventsBy(t, m.LogEvents, m, p, start, f)
					if strings.Join(shared, "\n") != strings.Join(logged, "\n") {
						t.Errorf("%s, types %v:\nshared page:\n%s\nlog:\n%s", p.ID, f.Types,
							strings.Join(shared, "\n"), strings.Join(logged, "\n"))
					}
				}
			}
			// What each sees, spelled out: the purge by the administrator
			// hides bob's diary's events from him, and the hidden fields
			// are the administrator's only.
			want := map[string][]string{
				ringAdmin.ID: {"create diaries/a1", "create diaries/b1", "create walls/w1", "update diaries/b1", "delete diaries/a1", "purge diaries/b1", "create diaries/a2"},
				ringAlice.ID: {"create diaries/a1", "create walls/w1", "delete diaries/a1", "create diaries/a2"},
				// bob did the create and update of b1 himself: he is told
				// of them, without the data; the administrator's purge, not.
				ringBob.ID: {"create diaries/b1", "create walls/w1", "update diaries/b1"},
			}
			for _, p := range principals {
				var got []string
				for _, s := range allEvents(t, m, p, start, core.EventFilter{}) {
					var ev core.FeedEvent
					if err := json.Unmarshal([]byte(s), &ev); err != nil {
						t.Fatal(err)
					}
					if ev.Action == "type" {
						continue // as the log has them: checked above
					}
					got = append(got, ev.Action+" "+ev.Type+"/"+ev.ID)
					hidden := strings.Contains(s, `"mood"`) || strings.Contains(s, `"secret"`)
					if hidden != (p.ID == ringAdmin.ID && ev.Resource != nil && ev.ID != "a2") {
						t.Errorf("%s: hidden fields shown %v in %s", p.ID, hidden, s)
					}
					if (ev.ID == "b1" || ev.ID == "w1") && ev.Resource != nil {
						t.Errorf("%s: purged or dropped %s still carries its data: %s", p.ID, ev.ID, s)
					}
				}
				if strings.Join(got, ", ") != strings.Join(want[p.ID], ", ") {
					t.Errorf("%s sees %v, want %v", p.ID, got, want[p.ID])
				}
			}
		})
	}
}

// TestEventsSharedEncoding: subscribers that get the same event share one
// encoding; those that get it differently (hidden fields left out) do not.
func TestEventsSharedEncoding(t *testing.T) {
	m := newManager(t)
	mustType(t, m, ringWalls)
	as := func(p core.Principal) context.Context { return core.WithPrincipal(context.Background(), p) }
	since := m.LastSeq()
	if _, err := m.Events(as(ringAdmin), since, core.EventFilter{}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(as(ringAlice), "walls", []byte(`{"id":"w1","secret":"s"}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	encode := func(ev *core.FeedEvent) ([]byte, error) {
		b, err := json.Marshal(ev)
		calls[string(b)]++
		return b, err
	}
	readers := []core.Principal{ringAdmin, {ID: "key:admin2", Roles: []string{core.RoleAdmin}}, ringAlice, ringBob}
	got := map[string]string{}
	for _, p := range readers {
		page, err := m.Events(as(p), since, core.EventFilter{}, 0)
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("%s: %v, %v", p.ID, page, err)
		}
		b, err := page.Items[0].Encoded(encode)
		if err != nil {
			t.Fatal(err)
		}
		got[p.ID] = string(b)
	}
	if len(calls) != 2 {
		t.Fatalf("%d distinct encodings, want 2 (in full, without the hidden field): %v", len(calls), calls)
	}
	for enc, n := range calls {
		if n != 1 {
			t.Errorf("encoded %d times, want once for all who get it: %s", n, enc)
		}
	}
	if got[ringAdmin.ID] != got["key:admin2"] || got[ringAlice.ID] != got[ringBob.ID] || got[ringAdmin.ID] == got[ringAlice.ID] ||
		strings.Contains(got[ringBob.ID], "secret") {
		t.Errorf("encodings %v", got)
	}
}

// TestEventsSharedEviction: far more than the shared page holds is
// written while a subscriber follows; a subscriber from the start reads
// the log until it reaches the page, and both get every entry once, in
// order.
func TestEventsSharedEviction(t *testing.T) {
	m := newManager(t)
	mustType(t, m, `{"name":"docs","schema":{"type":"object"}}`)
	admin := core.WithPrincipal(context.Background(), ringAdmin)
	start := m.LastSeq()
	pos := start
	follow := func() {
		for pos < m.LastSeq() {
			page, err := m.Events(admin, pos, core.EventFilter{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			pos = page.NextSince
		}
	}
	follow()
	// 40 documents of 512 KiB: the page keeps about 8 MB of them.
	big := strings.Repeat("x", 512<<10)
	const writes = 40
	for i := range writes {
		if _, err := m.Create(admin, "docs", fmt.Appendf(nil, `{"n":%d,"text":%q}`, i, big), core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		follow()
	}
	for _, since := range []uint64{start, start + writes/2, start + writes - 2} {
		want := since + 1
		for _, s := range allEvents(t, m, ringAdmin, since, core.EventFilter{}) {
			var ev core.FeedEvent
			if err := json.Unmarshal([]byte(s), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Seq != want || ev.Resource == nil || len(ev.Resource.Data) < len(big) {
				t.Fatalf("from %d: got seq %d (resource %v), want %d with its document", since, ev.Seq, ev.Resource != nil, want)
			}
			want++
		}
		if want != start+writes+1 {
			t.Fatalf("from %d: ended before %d, want %d", since, want, start+writes+1)
		}
	}
}

// TestEventsChanged: a waiter is woken by an entry of a type it asked for
// (or any, when it asked for none), not by one of another type, and at
// once when the page already holds one after its position; closing the
// Manager wakes every waiter.
func TestEventsChanged(t *testing.T) {
	m := newManager(t)
	mustType(t, m, `{"name":"apples","schema":{"type":"object"}}`)
	mustType(t, m, `{"name":"pears","schema":{"type":"object"}}`)
	admin := core.WithPrincipal(context.Background(), ringAdmin)
	pos := m.LastSeq()
	if _, err := m.Events(admin, pos, core.EventFilter{}, 0); err != nil {
		t.Fatal(err)
	}
	woken := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(time.Minute): // only so that a broken hub fails the test
			t.Fatalf("%s: not woken", what)
		}
	}
	apples, stopApples := m.EventsChanged(pos, core.EventFilter{Types: []string{"apples"}})
	defer stopApples()
	all, stopAll := m.EventsChanged(pos, core.EventFilter{})
	defer stopAll()
	if woken(apples) || woken(all) {
		t.Fatal("woken before anything committed")
	}
	if _, err := m.Create(admin, "pears", []byte(`{}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The hub wakes the waiters the new entries concern in one pass: once
	// the one for every type is woken, the one for apples was passed over.
	wait(all, "waiter for every type, on a pear")
	if woken(apples) {
		t.Fatal("the waiter for apples was woken by a pear")
	}
	if _, err := m.Create(admin, "apples", []byte(`{}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(apples, "waiter for apples, on an apple")

	// Registered behind an apple the page holds: woken at once.
	again, stopAgain := m.EventsChanged(pos, core.EventFilter{Types: []string{"apples"}})
	defer stopAgain()
	if !woken(again) {
		t.Fatal("a waiter behind an apple is not woken at once")
	}
	// Past everything, of a quiet type: woken by the Manager's closing.
	quiet, stopQuiet := m.EventsChanged(m.LastSeq(), core.EventFilter{Types: []string{"pears"}})
	defer stopQuiet()
	if woken(quiet) {
		t.Fatal("a waiter past everything is woken")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !woken(quiet) {
		t.Fatal("Close left a waiter waiting")
	}
}
