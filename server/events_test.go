package server_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/server"
)

// sseEvent is one Server-Sent Event as a client parses it; comments are
// reported too (Comment set), so heartbeats can be checked.
type sseEvent struct {
	ID, Event, Data string
	Comment         string
}

// sseStream is an open GET /api/events, parsed by a goroutine into
// events; the channel closes when the server ends the stream.
type sseStream struct {
	t      testing.TB
	resp   *http.Response
	events chan sseEvent
	cancel context.CancelFunc
}

// eventsWait bounds the wait for an event, only so that a broken feed
// fails the test instead of hanging it.
const eventsWait = 60 * time.Second

// openEvents opens path (under /api/events) as token ("" for anonymous),
// with headers as name, value pairs, and fails the test unless it answers
// 200 with an event stream.
func (ts *testServer) openEvents(path, token string, headers ...string) *sseStream {
	ts.t.Helper()
	s, status := ts.openEventsWith(http.DefaultTransport, path, token, headers...)
	if status != http.StatusOK {
		ts.t.Fatalf("GET %s: status %d", path, status)
	}
	return s
}

func (ts *testServer) openEventsWith(rt http.RoundTripper, path, token string, headers ...string) (*sseStream, int) {
	ts.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+path, nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		cancel()
		ts.t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		ts.t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	s := &sseStream{t: ts.t, resp: resp, events: make(chan sseEvent, 1), cancel: cancel}
	go s.read()
	ts.t.Cleanup(s.close)
	return s, resp.StatusCode
}

func (s *sseStream) read() {
	defer close(s.events)
	br := bufio.NewReaderSize(s.resp.Body, 1<<20)
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			s.events <- sseEvent{Comment: strings.TrimSpace(line[1:])}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Event = value
			case "data":
				ev.Data += value
			}
		}
	}
}

// close drops the connection, as a client that goes away does.
func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event, skipping comments; ok is false when the
// stream ended first.
func (s *sseStream) next() (sseEvent, bool) {
	s.t.Helper()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return sseEvent{}, false
			}
			if ev.Comment != "" {
				continue
			}
			return ev, true
		case <-time.After(eventsWait):
			s.t.Fatalf("no event in %v", eventsWait)
		}
	}
}

// must returns the next event or fails the test.
func (s *sseStream) must() sseEvent {
	s.t.Helper()
	ev, ok := s.next()
	if !ok {
		s.t.Fatal("the stream ended")
	}
	return ev
}

// ended checks that the server ends the stream with nothing more.
func (s *sseStream) ended() {
	s.t.Helper()
	if ev, ok := s.next(); ok {
		s.t.Fatalf("the stream goes on: %+v", ev)
	}
}

// connected waits for the stream's opening comment, after which the
// subscriber is reading the log.
func (s *sseStream) connected() {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok || ev.Comment != "connected" {
			s.t.Fatalf("first line %+v (open %v), want the connected comment", ev, ok)
		}
	case <-time.After(eventsWait):
		s.t.Fatal("the stream did not open")
	}
}

// feedEvent is the data of an event.
type feedEvent struct {
	Seq      uint64 `json:"seq"`
	Type     string `json:"type"`
	ID       string `json:"id"`
	Action   string `json:"action"`
	Revision int    `json:"revision"`
	At       string `json:"at"`
	By       string `json:"by"`
	Resource *struct {
		ID       string         `json:"id"`
		Type     string         `json:"type"`
		Data     map[string]any `json:"data"`
		Revision struct {
			Number int `json:"number"`
		} `json:"revision"`
	} `json:"resource"`
}

func (ev sseEvent) decode(t testing.TB) feedEvent {
	t.Helper()
	var fe feedEvent
	if err := json.Unmarshal([]byte(ev.Data), &fe); err != nil {
		t.Fatalf("event data is not a change entry: %v\n%s", err, ev.Data)
	}
	if ev.ID != strconv.FormatUint(fe.Seq, 10) || ev.Event != fe.Action {
		t.Fatalf("id %q / event %q disagree with the data %s", ev.ID, ev.Event, ev.Data)
	}
	return fe
}

// TestEventsStream follows every kind of change through the feed and
// resumes it by Last-Event-ID and by ?since, with no gap and no duplicate.
func TestEventsStream(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)
	ts.defineType(`{"name":"others","schema":{"type":"object"}}`)
	ts.must(201, "POST", "/api/posts", `{"id":"before","title":"written before the subscription"}`)

	s := ts.openEvents("/api/events?types=posts", testAdminKey)
	s.connected()
	ts.must(201, "POST", "/api/posts", `{"id":"p1","title":"one"}`)
	ts.must(201, "POST", "/api/others", `{"id":"o1"}`) // not asked for
	ts.must(200, "PATCH", "/api/posts/p1", `{"title":"two"}`)
	ts.must(204, "DELETE", "/api/posts/p1", nil)
	ts.must(200, "POST", "/api/posts/p1/restore", nil)
	ts.must(200, "POST", "/api/posts/p1/switch/1", nil)
	ts.must(204, "DELETE", "/api/posts/p1?purge=true", nil)
	want := []struct {
		action string
		rev    int
		title  any // nil: no resource
	}{
		{"create", 1, "one"}, {"update", 2, "two"}, {"delete", 2, nil},
		{"restore", 2, "two"}, {"switch", 1, "one"}, {"purge", 0, nil},
	}
	var got []feedEvent
	for _, w := range want {
		ev := s.must().decode(t)
		got = append(got, ev)
		if ev.Type != "posts" || ev.ID != "p1" || ev.Action != w.action || ev.Revision != w.rev || ev.At == "" {
			t.Fatalf("event %+v, want %s of posts/p1 at revision %d", ev, w.action, w.rev)
		}
		switch {
		case w.title == nil && ev.Resource != nil:
			t.Fatalf("%s carries a resource: %+v", w.action, ev.Resource)
		case w.title != nil && (ev.Resource == nil || ev.Resource.Data["title"] != w.title || ev.Resource.Revision.Number != w.rev):
			t.Fatalf("%s carries %+v, want title %v at revision %d", w.action, ev.Resource, w.title, w.rev)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("out of order: %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
	s.close()

	// Resume after the second event: the four after it, exactly.
	for _, resume := range []struct{ path, header string }{
		{"/api/events?types=posts", strconv.FormatUint(got[1].Seq, 10)},
		{"/api/events?types=posts&since=" + strconv.FormatUint(got[1].Seq, 10), ""},
		// Last-Event-ID, which an EventSource sends, wins over ?since.
		{"/api/events?types=posts&since=1", strconv.FormatUint(got[1].Seq, 10)},
	} {
		r := ts.openEvents(resume.path, testAdminKey, "Last-Event-ID", resume.header)
		r.connected()
		for _, w := range got[2:] {
			if ev := r.must().decode(t); ev.Seq != w.Seq || ev.Action != w.Action {
				t.Fatalf("%s (Last-Event-ID %q): got %d %s, want %d %s", resume.path, resume.header, ev.Seq, ev.Action, w.Seq, w.Action)
			}
		}
		ts.must(201, "POST", "/api/posts", `{"title":"after `+resume.path+resume.header+`"}`)
		if ev := r.must().decode(t); ev.Action != "create" || ev.Seq <= got[len(got)-1].Seq {
			t.Fatalf("after the catch-up: %+v", ev)
		}
		r.close()
	}
}

// TestEventsRequests checks what a subscription is refused and what it
// answers before it streams.
func TestEventsRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)
	ts.defineType(secretsType)
	ts.defineType(`{"name":"open","schema":{"type":"object"},"permissions":{"read":["public"]}}`)
	cases := []struct {
		path, token string
		status      int
	}{
		{"/api/events?types=nope", testAdminKey, 404},
		{"/api/events?since=x", testAdminKey, 400},
		{"/api/events?types=secrets", "", 401},
		{"/api/events?types=posts", "", 401}, // posts grants nothing to the public
		{"/api/events?types=open", "", 200},
		{"/api/events", "", 200}, // open is readable
	}
	for _, tc := range cases {
		t.Run(tc.path+" "+tc.token, func(t *testing.T) {
			s, status := ts.openEventsWith(http.DefaultTransport, tc.path, tc.token)
			if status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			if s != nil {
				s.close()
			}
		})
	}
}

// TestEventsOwnerOnly: on a type readable by owner only, each principal
// gets the events of its own resources and nothing of the other's, and
// fields hidden from it are left out of the resource.
func TestEventsOwnerOnly(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(`{"name":"diaries","schema":{"type":"object","properties":{"text":{"type":"string"},"mood":{"type":"string"}}},
	  "hidden":["mood"],
	  "permissions":{"read":["owner"],"create":["authenticated"],"update":["owner"],"delete":["owner"]}}`)
	ts.defineType(`{"name":"walls","schema":{"type":"object"},"permissions":{"read":["authenticated"],"create":["authenticated"]}}`)
	key := func(name string) string {
		return ts.must(201, "POST", "/api/keys", map[string]any{"name": name, "roles": []string{"writer"}}).JSON(t)["token"].(string)
	}
	alice, bob := key("alice"), key("bob")
	auth := func(token string) []string { return []string{"Authorization", "Bearer " + token} }

	sa := ts.openEvents("/api/events", alice)
	sb := ts.openEvents("/api/events?types=diaries", bob)
	sa.connected()
	sb.connected()
	ts.must(201, "POST", "/api/diaries", `{"id":"a1","text":"alice's","mood":"sunny"}`, auth(alice)...)
	ts.must(201, "POST", "/api/diaries", `{"id":"b1","text":"bob's","mood":"grey"}`, auth(bob)...)
	ts.must(200, "PATCH", "/api/diaries/b1", `{"text":"bob's, again"}`, auth(bob)...)
	ts.must(200, "PATCH", "/api/diaries/a1", `{"text":"alice's, again"}`, auth(alice)...)
	ts.must(201, "POST", "/api/walls", `{"id":"w1"}`, auth(bob)...) // a type both read in full
	ts.must(204, "DELETE", "/api/diaries/b1?purge=true", nil)       // by the admin: bob can no longer be told

	check := func(s *sseStream, who string, want []string) {
		t.Helper()
		for _, w := range want {
			ev := s.must().decode(t)
			if got := ev.Action + " " + ev.Type + "/" + ev.ID; got != w {
				t.Fatalf("%s got %s, want %s", who, got, w)
			}
			if ev.Resource != nil {
				if _, ok := ev.Resource.Data["mood"]; ok {
					t.Fatalf("%s sees the hidden field: %v", who, ev.Resource.Data)
				}
			}
		}
	}
	check(sa, "alice", []string{"create diaries/a1", "update diaries/a1", "create walls/w1"})
	check(sb, "bob", []string{"create diaries/b1", "update diaries/b1"})
	// Nothing else reached either: a last write of alice's is the next
	// event of both streams where it should be.
	ts.must(200, "PATCH", "/api/diaries/a1", `{"text":"last"}`, auth(alice)...)
	check(sa, "alice", []string{"update diaries/a1"})
	ts.must(201, "POST", "/api/diaries", `{"id":"b2","text":"bob's last"}`, auth(bob)...)
	check(sb, "bob", []string{"create diaries/b2"})

	// The administrator sees everything, hidden fields included.
	admin := ts.openEvents("/api/events?types=diaries&since=0", testAdminKey)
	ev := admin.must().decode(t)
	if ev.Action == "type" { // the type's own creation
		ev = admin.must().decode(t)
	}
	if ev.ID != "a1" || ev.Resource == nil || ev.Resource.Data["mood"] != "sunny" {
		t.Fatalf("admin's first event %+v", ev)
	}
}

// TestEventsReset: a position the log cannot serve gets one reset event
// and the end of the stream.
func TestEventsReset(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.defineType(postsType)
	for i := range 5 {
		ts.must(201, "POST", "/api/posts", fmt.Sprintf(`{"title":"t%d"}`, i))
	}
	last := ts.m.LastSeq() // the type, then 5 posts
	// Entries 1 to 3 trimmed, as retention will.
	err := ts.env.Store.Update(context.Background(), func(tx storage.Tx) error {
		for seq := uint64(1); seq <= 3; seq++ {
			if err := tx.Delete("changes", binary.BigEndian.AppendUint64(nil, seq)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		since  uint64
		reason string // "" resumes
	}{
		{0, "position_gone"}, {2, "position_gone"}, {3, ""}, {4, ""}, {last, ""},
		{last + 1, "unknown_position"},
	}
	for _, tc := range cases {
		func() {
			s := ts.openEvents("/api/events", testAdminKey, "Last-Event-ID", strconv.FormatUint(tc.since, 10))
			if tc.reason == "" {
				s.connected()
				if tc.since < last {
					if ev := s.must().decode(t); ev.Seq != tc.since+1 {
						t.Fatalf("since %d: resumed at %d", tc.since, ev.Seq)
					}
				}
				s.close()
				return
			}
			ev := s.must()
			var data struct {
				Reason  string `json:"reason"`
				LastSeq uint64 `json:"last_seq"`
			}
			if ev.Event != "reset" || ev.ID != "" || json.Unmarshal([]byte(ev.Data), &data) != nil ||
				data.Reason != tc.reason || data.LastSeq != last {
				t.Fatalf("since %d: got %+v, want a reset (%s) without an id", tc.since, ev, tc.reason)
			}
			s.ended()
		}()
	}
}

// TestEventsHeartbeat: an idle stream gets a comment line every
// EventsHeartbeat.
func TestEventsHeartbeat(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, func(o *server.Options) { o.EventsHeartbeat = 20 * time.Millisecond })
	s := ts.openEvents("/api/events", testAdminKey)
	s.connected()
	for range 3 {
		select {
		case ev := <-s.events:
			if ev.Comment != "keep-alive" {
				t.Fatalf("got %+v, want a keep-alive comment", ev)
			}
		case <-time.After(eventsWait):
			t.Fatal("no heartbeat")
		}
	}
}

// TestEventsSlowReader: a client that stops reading while the log runs
// more than EventsMaxLag changes ahead gets, once it reads again, the
// events it had room for, then a reset, then the end of the stream.
func TestEventsSlowReader(t *testing.T) {
	t.Parallel()
	const maxLag = 5
	ts := newTestServer(t, func(o *server.Options) { o.EventsMaxLag = maxLag })
	ts.defineType(`{"name":"docs","schema":{"type":"object"}}`)
	// A client with a small receive buffer, so the server's writes block
	// soon once it stops reading.
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	rt := &http.Transport{DialContext: dialer.DialContext, ReadBufferSize: 4096}
	s, status := ts.openEventsWith(rt, "/api/events", testAdminKey)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	s.connected()
	// 40 documents of 512 KiB: far more than the socket buffers on both
	// sides hold, while the reader reads nothing (the parser holds one
	// event and its reader 1 MiB).
	big := strings.Repeat("x", 512<<10)
	const writes = 40
	for i := range writes {
		ts.must(201, "POST", "/api/docs", fmt.Sprintf(`{"n":%d,"text":%q}`, i, big))
	}
	n := 0
	for {
		ev, ok := s.next()
		if !ok {
			t.Fatalf("the stream ended after %d events without a reset", n)
		}
		if ev.Event == "reset" {
			if !strings.Contains(ev.Data, `"reason":"slow_reader"`) {
				t.Fatalf("reset %s", ev.Data)
			}
			break
		}
		n++
	}
	if n >= writes-maxLag {
		t.Fatalf("%d events before the reset: the reader was not behind", n)
	}
	s.ended()
	t.Logf("the slow reader got %d of %d events, then a reset", n, writes)
}

// TestEventsDrain: draining the server ends the streams, so a graceful
// shutdown does not wait on them.
func TestEventsDrain(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	s := ts.openEvents("/api/events", testAdminKey)
	s.connected()
	ts.stop()
	s.ended()
}
