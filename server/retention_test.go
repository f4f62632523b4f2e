package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/server"
)

// TestChangesRetentionHTTP trims the change log with the real trimmer (a
// retention of 1 ns: every entry is old at once, so what is trimmed is
// what the consumers and the index have consumed) and resumes from around
// the trimmed part: GET /api/changes answers 410 gone before it and pages
// from the oldest entry at since 0; GET /api/events sends
// `event: reset` (position_gone) before it and resumes at it.
func TestChangesRetentionHTTP(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, apptest.WithIndex(), apptest.Served(func(c *app.Config) {
		c.Auth = auth.Config{AdminKey: testAdminKey}
		c.Server = server.Options{RateLimit: server.RateLimit{IPRate: -1, PrincipalRate: -1}}
		c.ChangesRetention = time.Nanosecond
	}))
	ts := &testServer{t: t, URL: env.URL, Dir: env.Dir, env: env, m: env.Manager, client: &http.Client{}}
	ts.defineType(postsType)
	for i := range 5 {
		ts.must(201, "POST", "/api/posts", fmt.Sprintf(`{"title":"t%d"}`, i))
	}
	// The index and the after_* runner follow the log on their own: trim
	// until they have let every entry go, writing to move them on. Then
	// nothing is left to trim, whenever the trimmer runs by itself.
	ctx := core.AsSystem(t.Context())
	deadline := time.Now().Add(time.Minute)
	var res core.TrimResult
	for {
		var err error
		if res, err = ts.m.TrimChanges(ctx); err != nil {
			t.Fatal(err)
		}
		if res.Through == ts.m.LastSeq() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log is not trimmed to its end in a minute: %+v, last %d", res, ts.m.LastSeq())
		}
		ts.must(201, "POST", "/api/posts", fmt.Sprintf(`{"title":"more %d"}`, ts.m.LastSeq()))
		<-time.After(10 * time.Millisecond)
	}
	through := res.Through
	if oldest, last, err := ts.m.ChangeLogBounds(ctx); err != nil || oldest != 0 || last != through {
		t.Fatalf("bounds %d, %d (%v), want an empty log trimmed through %d", oldest, last, err, through)
	}

	// GET /api/changes.
	for _, tc := range []struct {
		since  uint64
		status int
	}{{1, 410}, {through - 1, 410}, {0, 200}, {through, 200}} {
		r := ts.do("GET", fmt.Sprintf("/api/changes?since=%d", tc.since), nil)
		p := r.JSON(t)
		switch {
		case r.Status != tc.status:
			t.Fatalf("since %d: %d %s", tc.since, r.Status, r.Body)
		case tc.status == 410 && p["type"] != "urn:strata:problem:gone":
			t.Fatalf("since %d: %s", tc.since, r.Body)
		case tc.status == 200 && (len(p["items"].([]any)) != 0 || p["next_since"] != float64(tc.since)):
			t.Fatalf("since %d: %s, want no entries", tc.since, r.Body)
		}
	}

	// GET /api/events.
	for _, since := range []uint64{1, through - 1} {
		s := ts.openEvents("/api/events", testAdminKey, "Last-Event-ID", strconv.FormatUint(since, 10))
		ev := s.must()
		var data struct {
			Reason string `json:"reason"`
		}
		if ev.Event != "reset" || json.Unmarshal([]byte(ev.Data), &data) != nil || data.Reason != "position_gone" {
			t.Fatalf("since %d: got %+v, want a reset (position_gone)", since, ev)
		}
		s.ended()
	}
	s := ts.openEvents("/api/events", testAdminKey, "Last-Event-ID", strconv.FormatUint(through, 10))
	s.connected() // and no reset: the stream waits for the next change
	s.close()
}
