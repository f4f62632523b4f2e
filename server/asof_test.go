package server_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/server"
)

// stepClock is a clock the test moves by hand, so that changes land on
// chosen milliseconds (several in one millisecond too).
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newClockServer is a test server over bolt and the search index whose
// core reads the time from clock.
func newClockServer(t *testing.T, clock *stepClock) *testServer {
	t.Helper()
	env := apptest.New(t, apptest.WithIndex(), apptest.WithCore(func(o *core.Options) { o.Now = clock.Now }))
	a, err := auth.New(nil, auth.Config{AdminKey: testAdminKey})
	if err != nil {
		t.Fatal(err)
	}
	app := server.New(env.Manager, server.Options{Auth: a, RateLimit: server.RateLimit{IPRate: -1, PrincipalRate: -1}}).NewApp()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	t.Cleanup(func() {
		if err := app.Shutdown(); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	ts := &testServer{t: t, URL: "http://" + ln.Addr().String(), Dir: env.Dir, env: env, m: env.Manager,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
	t.Cleanup(ts.client.CloseIdleConnections)
	return ts
}

const asOfType = `{"name": "notes", "schema": {"type": "object", "required": ["title"],
  "properties": {"title": {"type": "string"}, "views": {"type": "integer"}, "tag": {"type": "string"}}}}`

// modelState is a resource at one instant in the model.
type modelState struct {
	rev, count int
	deleted    bool
	updatedMS  int64
}

// asOfModel replays the change log: the state of every resource after
// each change, and the data of every revision.
type asOfModel struct {
	order   []string                  // ids in creation order
	created map[string]int64          // id → creation ms
	changes map[string][]modelChange  // id → its changes, in order
	data    map[string]map[int][]byte // id → revision → data
	purged  map[string]bool
}

type modelChange struct {
	ms     int64
	action string
	rev    int
}

func (m *asOfModel) at(id string, ms int64) (modelState, bool) {
	if m.purged[id] {
		return modelState{}, false
	}
	var st modelState
	ok := false
	for _, c := range m.changes[id] {
		if c.ms > ms {
			break
		}
		ok = true
		switch c.action {
		case "create":
			st = modelState{rev: 1, count: 1}
		case "update":
			st.rev, st.count = c.rev, c.rev
		case "switch":
			st.rev = c.rev
		case "delete":
			st.deleted = true
		case "restore":
			st.deleted = false
		}
		st.updatedMS = c.ms
	}
	return st, ok
}

type noteData struct {
	ID    string `json:"id,omitempty"`
	Title string `json:"title"`
	Views *int   `json:"views,omitempty"`
	Tag   string `json:"tag,omitempty"`
}

// TestAsOfMatchesReplayedChangeLog drives a random history of creates,
// updates, switches, deletes, restores and purges, then compares what
// reads as_of every instant of it answer with a model replaying the
// change log: single reads, revision lists, filtered and sorted lists
// paged by cursor, and counts.
func TestAsOfMatchesReplayedChangeLog(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { testAsOfModel(t, seed) })
	}
}

func testAsOfModel(t *testing.T, seed uint64) {
	clock := &stepClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	ts := newClockServer(t, clock)
	ts.defineType(asOfType)
	rng := rand.New(rand.NewPCG(seed, 7))
	data := map[string]map[int][]byte{}
	type live struct {
		rev, count      int
		deleted, purged bool
	}
	cur := map[string]*live{}
	var ids []string
	newData := func(id string) []byte {
		d := noteData{ID: id, Title: []string{"apple", "birch", "cedar", "damson"}[rng.IntN(4)], Tag: []string{"a", "b", ""}[rng.IntN(3)]}
		if rng.IntN(4) > 0 {
			v := rng.IntN(6)
			d.Views = &v
		}
		raw, _ := json.Marshal(d)
		return raw
	}
	record := func(id string, r response) {
		env := r.JSON(t)
		n := int(dig(env, "revision.number").(float64))
		raw, _ := json.Marshal(env["data"])
		if data[id] == nil {
			data[id] = map[int][]byte{}
		}
		data[id][n] = raw
	}
	for step := range 70 {
		clock.advance(time.Duration(rng.IntN(3)) * time.Millisecond) // 0: two changes in one millisecond
		var alive []string
		for _, id := range ids {
			if !cur[id].purged {
				alive = append(alive, id)
			}
		}
		op := rng.IntN(10)
		if len(alive) == 0 || op < 2 && len(ids) < 9 {
			id := fmt.Sprintf("n%02d", step)
			record(id, ts.must(http.StatusCreated, "POST", "/api/notes", newData(id)))
			ids = append(ids, id)
			cur[id] = &live{rev: 1, count: 1}
			continue
		}
		id := alive[rng.IntN(len(alive))]
		l := cur[id]
		path := "/api/notes/" + id
		switch {
		case l.deleted && op < 7:
			ts.must(http.StatusOK, "POST", path+"/restore", nil)
			l.deleted = false
		case l.deleted:
			ts.must(http.StatusNoContent, "DELETE", path+"?purge=true", nil)
			l.purged = true
		case op < 6:
			r := ts.must(http.StatusOK, "PUT", path, newData(""))
			record(id, r)
			if n := int(dig(r.JSON(t), "revision.number").(float64)); n != l.rev {
				l.rev, l.count = n, n
			}
		case op < 8 && l.count > 1:
			n := 1 + rng.IntN(l.count)
			ts.must(http.StatusOK, "POST", fmt.Sprintf("%s/switch/%d", path, n), nil)
			l.rev = n
		case op < 9:
			ts.must(http.StatusNoContent, "DELETE", path, nil)
			l.deleted = true
		default:
			ts.must(http.StatusNoContent, "DELETE", path+"?purge=true", nil)
			l.purged = true
		}
	}

	// The model, from the change log.
	m := &asOfModel{created: map[string]int64{}, changes: map[string][]modelChange{}, data: data, purged: map[string]bool{}}
	var msList []int64
	var log struct {
		Items []core.Change `json:"items"`
	}
	if err := json.Unmarshal(ts.must(http.StatusOK, "GET", "/api/changes?since=0&limit=1000", nil).Body, &log); err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, c := range log.Items {
		if c.Type != "notes" || c.ID == "" {
			continue
		}
		actions[c.Action]++
		at, err := time.Parse(time.RFC3339Nano, c.At)
		if err != nil {
			t.Fatal(err)
		}
		ms := at.UnixMilli()
		msList = append(msList, ms)
		if c.Action == "purge" {
			m.purged[c.ID] = true
			continue
		}
		if c.Action == "create" {
			m.order = append(m.order, c.ID)
			m.created[c.ID] = ms
		}
		m.changes[c.ID] = append(m.changes[c.ID], modelChange{ms: ms, action: c.Action, rev: c.Revision})
	}
	for _, a := range []string{"create", "update", "switch", "delete", "restore", "purge"} {
		if actions[a] == 0 {
			t.Fatalf("the history has no %s: %v", a, actions)
		}
	}
	t.Logf("history: %v", actions)
	if len(msList) < 50 {
		t.Fatalf("the change log has %d entries of notes, want at least 50", len(msList))
	}
	slices.Sort(msList)
	msList = slices.Compact(msList)
	instants := []int64{msList[0] - 1}
	for _, ms := range msList {
		instants = append(instants, ms-1, ms)
	}
	clock.advance(10 * time.Millisecond)
	instants = append(instants, msList[len(msList)-1]+5)
	instants = slices.Compact(instants)

	const listFilter = `views >= 2 || tag = "a"`
	for _, ms := range instants {
		asOf := time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
		q := "as_of=" + url.QueryEscape(asOf)
		for _, id := range ids {
			st, ok := m.at(id, ms)
			for _, incl := range []bool{false, true} {
				path := fmt.Sprintf("/api/notes/%s?%s&include_deleted=%t", id, q, incl)
				r := ts.do("GET", path, nil)
				if !ok || st.deleted && !incl {
					if r.Status != http.StatusNotFound {
						t.Fatalf("GET %s: status %d, want 404\n%s", path, r.Status, r.Body)
					}
					continue
				}
				if r.Status != http.StatusOK {
					t.Fatalf("GET %s: status %d, want 200\n%s", path, r.Status, r.Body)
				}
				env := r.JSON(t)
				raw, _ := json.Marshal(env["data"])
				want := fmt.Sprintf("rev %d count %d deleted %t updated %s data %s", st.rev, st.count, st.deleted,
					time.UnixMilli(st.updatedMS).UTC().Format("2006-01-02T15:04:05.000Z"), data[id][st.rev])
				got := fmt.Sprintf("rev %v count %v deleted %v updated %v data %s", dig(env, "meta.current_revision"),
					dig(env, "meta.revision_count"), dig(env, "meta.deleted"), dig(env, "meta.updated_at"), raw)
				if got != want {
					t.Fatalf("GET %s:\n got %s\nwant %s", path, got, want)
				}
				if r.Header.Get("ETag") != fmt.Sprintf(`"%s:%d"`, id, st.rev) {
					t.Fatalf("GET %s: ETag %s", path, r.Header.Get("ETag"))
				}
			}
			// The revisions that existed then, newest first, in pages of 2.
			var gotRevs []int
			next := ""
			for {
				path := fmt.Sprintf("/api/notes/%s/revisions?%s&include_deleted=true&limit=2%s", id, q, next)
				r := ts.do("GET", path, nil)
				if !ok {
					if r.Status != http.StatusNotFound {
						t.Fatalf("GET %s: status %d, want 404", path, r.Status)
					}
					break
				}
				if r.Status != http.StatusOK {
					t.Fatalf("GET %s: status %d\n%s", path, r.Status, r.Body)
				}
				body := r.JSON(t)
				for _, it := range body["items"].([]any) {
					gotRevs = append(gotRevs, int(dig(it, "number").(float64)))
				}
				c, _ := body["next_cursor"].(string)
				if c == "" {
					break
				}
				next = "&cursor=" + url.QueryEscape(c)
			}
			if ok {
				var wantRevs []int
				for n := st.count; n >= 1; n-- {
					wantRevs = append(wantRevs, n)
				}
				if !slices.Equal(gotRevs, wantRevs) {
					t.Fatalf("revisions of %s as_of %s: %v, want %v", id, asOf, gotRevs, wantRevs)
				}
			}
		}

		// Lists and counts.
		type row struct {
			id         string
			views      *int
			title, tag string
			createdMS  int64
			deleted    bool
		}
		var rows []row
		for _, id := range m.order {
			st, ok := m.at(id, ms)
			if !ok {
				continue
			}
			var d noteData
			if err := json.Unmarshal(data[id][st.rev], &d); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, row{id: id, views: d.Views, title: d.Title, tag: d.Tag, createdMS: m.created[id], deleted: st.deleted})
		}
		for _, lc := range []struct {
			name, params string
			keep         func(r row) bool
			order        func(a, b row) int
		}{
			{"creation order", "", func(r row) bool { return !r.deleted },
				func(a, b row) int { return cmp.Or(cmp.Compare(a.createdMS, b.createdMS), strings.Compare(a.id, b.id)) }},
			{"newest first, deleted too", "&sort=-created_at&include_deleted=true", func(row) bool { return true },
				func(a, b row) int { return cmp.Or(cmp.Compare(b.createdMS, a.createdMS), strings.Compare(a.id, b.id)) }},
			{"filter and sort", "&filter=" + url.QueryEscape(listFilter) + "&sort=" + url.QueryEscape("-views,title"),
				func(r row) bool { return !r.deleted && (r.views != nil && *r.views >= 2 || r.tag == "a") },
				func(a, b row) int {
					switch {
					case a.views == nil && b.views != nil:
						return 1
					case a.views != nil && b.views == nil:
						return -1
					case a.views != nil && *a.views != *b.views:
						return cmp.Compare(*b.views, *a.views)
					}
					return cmp.Or(strings.Compare(a.title, b.title), strings.Compare(a.id, b.id))
				}},
		} {
			var want []string
			var sel []row
			for _, r := range rows {
				if lc.keep(r) {
					sel = append(sel, r)
				}
			}
			slices.SortFunc(sel, lc.order)
			for _, r := range sel {
				want = append(want, r.id)
			}
			var got []string
			next := ""
			for pages := 0; ; pages++ {
				path := "/api/notes?" + q + "&limit=3&total=true" + lc.params + next
				body := ts.must(http.StatusOK, "GET", path, nil).JSON(t)
				if int(body["total"].(float64)) != len(want) {
					t.Fatalf("%s as_of %s: total %v, want %d", lc.name, asOf, body["total"], len(want))
				}
				for _, it := range body["items"].([]any) {
					got = append(got, dig(it, "id").(string))
				}
				c, _ := body["next_cursor"].(string)
				if c == "" || pages > 10 {
					break
				}
				next = "&cursor=" + url.QueryEscape(c)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s as_of %s: %v, want %v", lc.name, asOf, got, want)
			}
			countPath := "/api/notes/count?" + q + strings.Replace(strings.Replace(lc.params, "&sort=-created_at", "", 1),
				"&sort="+url.QueryEscape("-views,title"), "", 1)
			body := ts.must(http.StatusOK, "GET", countPath, nil).JSON(t)
			if int(body["count"].(float64)) != len(want) {
				t.Fatalf("GET %s: count %v, want %d", countPath, body["count"], len(want))
			}
		}
	}
}

// TestAsOfEdges: what as_of answers at the edges of history, and the
// requests it refuses.
func TestAsOfEdges(t *testing.T) {
	clock := &stepClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	ts := newClockServer(t, clock)
	ts.defineType(asOfType)
	ts.defineType(`{"name": "pages", "schema": {"type": "object"}, "retention": {"keep_last": 1}}`)
	stamp := func() string { return url.QueryEscape(clock.Now().UTC().Format(time.RFC3339Nano)) }
	before := url.QueryEscape(clock.Now().Add(-time.Millisecond).UTC().Format(time.RFC3339Nano))
	clock.advance(time.Millisecond)
	ts.must(http.StatusCreated, "POST", "/api/notes", `{"id": "a", "title": "one", "views": 1}`)
	ts.must(http.StatusCreated, "POST", "/api/notes", `{"id": "b", "title": "two", "views": 2}`)
	ts.must(http.StatusCreated, "POST", "/api/pages", `{"id": "p", "v": 1}`)
	created := stamp()
	clock.advance(time.Millisecond)
	ts.must(http.StatusOK, "PUT", "/api/pages/p", `{"v": 2}`)
	ts.must(http.StatusOK, "PUT", "/api/pages/p", `{"v": 3}`)
	if _, err := ts.m.PruneRevisions(core.AsSystem(t.Context())); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Millisecond)
	now := stamp()
	future := url.QueryEscape(clock.Now().Add(time.Second).UTC().Format(time.RFC3339Nano))
	page := ts.must(http.StatusOK, "GET", "/api/notes?as_of="+now+"&limit=1", nil).JSON(t)
	asOfCursor := url.QueryEscape(page["next_cursor"].(string))
	live := ts.must(http.StatusOK, "GET", "/api/notes?limit=1", nil).JSON(t)
	liveCursor := url.QueryEscape(live["next_cursor"].(string))

	for _, tc := range []struct {
		name, path string
		status     int
		want       string // a substring of the body
	}{
		{"malformed on a read", "/api/notes/a?as_of=yesterday", 400, "as_of must be an RFC 3339 time"},
		{"malformed on a list", "/api/notes?as_of=2026-03-01", 400, "as_of must be an RFC 3339 time"},
		{"malformed on a count", "/api/notes/count?as_of=12:00", 400, "as_of must be an RFC 3339 time"},
		{"malformed on revisions", "/api/notes/a/revisions?as_of=0", 400, "as_of must be an RFC 3339 time"},
		{"future read", "/api/notes/a?as_of=" + future, 400, "in the future"},
		{"future list", "/api/notes?as_of=" + future, 400, "in the future"},
		{"future count", "/api/notes/count?as_of=" + future, 400, "in the future"},
		{"with q", "/api/notes?q=one&as_of=" + now, 400, "as_of cannot be combined with q"},
		{"with q on a count", "/api/notes/count?q=one&as_of=" + now, 400, "as_of cannot be combined with q"},
		{"with revision", "/api/notes/a?revision=1&as_of=" + now, 400, "give one"},
		{"unknown filter field", "/api/notes?filter=nope%3D1&as_of=" + now, 400, "nope"},
		{"unknown sort field", "/api/notes?sort=nope&as_of=" + now, 400, `unknown field \"nope\"`},
		{"a live cursor", "/api/notes?as_of=" + now + "&cursor=" + liveCursor, 400, "invalid cursor"},
		{"a cursor of another instant", "/api/notes?as_of=" + created + "&cursor=" + asOfCursor, 400, "another instant"},
		{"a cursor of another sort", "/api/notes?sort=-views&as_of=" + now + "&cursor=" + asOfCursor, 400, "another filter or sort"},
		{"a cursor continues", "/api/notes?as_of=" + now + "&cursor=" + asOfCursor, 200, `"id":"b"`},
		{"before the first write: read", "/api/notes/a?as_of=" + before, 404, "not_found"},
		{"before the first write: revisions", "/api/notes/a/revisions?as_of=" + before, 404, "not_found"},
		{"before the first write: list", "/api/notes?as_of=" + before, 200, `{"items":[],"next_cursor":null}`},
		{"before the first write: count", "/api/notes/count?as_of=" + before, 200, `{"count":0}`},
		{"a read at the instant of the write", "/api/notes/a?as_of=" + created, 200, `"current_revision":1`},
		{"sub-millisecond precision", "/api/notes/a?as_of=" + url.QueryEscape(clock.Now().Add(-time.Microsecond).UTC().Format(time.RFC3339Nano)), 200, `"title":"one"`},
		{"a time zone offset", "/api/notes/count?as_of=" + url.QueryEscape(clock.Now().In(time.FixedZone("", -5*3600)).Format(time.RFC3339Nano)), 200, `{"count":2}`},
		{"a pruned revision: read", "/api/pages/p?as_of=" + created, 410, "pruned"},
		{"a pruned revision: list", "/api/pages?as_of=" + created, 410, "pruned"},
		{"a pruned revision: a count needs no data", "/api/pages/count?as_of=" + created, 200, `{"count":1}`},
		{"the kept revision", "/api/pages/p?as_of=" + now, 200, `"v":3`},
		{"unknown type", "/api/nothing?as_of=" + now, 404, "not_found"},
		{"with facets", "/api/notes?facets=tag&as_of=" + now, 400, "facets cannot be combined with as_of"},
		{"with expand", "/api/notes/a?expand=x&as_of=" + now, 400, "expand cannot be combined with as_of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do("GET", tc.path, nil)
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.want) {
				t.Fatalf("GET %s: %d %s, want %d with %q", tc.path, r.Status, r.Body, tc.status, tc.want)
			}
		})
	}
}

// TestAsOfOwnerAndHidden: a list as_of shows an owner-only reader its own
// resources only, and fields hidden from it are neither shown nor
// filterable, as in live lists.
func TestAsOfOwnerAndHidden(t *testing.T) {
	ts := newTestServer(t)
	ts.defineType(`{"name": "diary", "schema": {"type": "object", "properties": {"text": {"type": "string"}, "mood": {"type": "string"}}},
	  "hidden": ["mood"], "permissions": {"read": ["owner"], "create": ["authenticated"]}}`)
	tokens, _ := ts.principals()
	ts.must(http.StatusCreated, "POST", "/api/diary", `{"id": "mine", "text": "a", "mood": "sad"}`, "Authorization", tokens["owner"])
	other := ts.must(http.StatusCreated, "POST", "/api/diary", `{"id": "theirs", "text": "b", "mood": "glad"}`, "Authorization", tokens["authenticated"]).JSON(t)
	at := url.QueryEscape(dig(other, "meta.created_at").(string))
	owner := []string{"Authorization", tokens["owner"]}
	for _, tc := range []struct {
		name, path string
		status     int
		want       string
	}{
		{"own resources only", "/api/diary?as_of=" + at, 200, `"id":"mine"`},
		{"hidden field left out", "/api/diary/mine?as_of=" + at, 200, `"data":{"text":"a"}`},
		{"another's resource", "/api/diary/theirs?as_of=" + at, 404, "not_found"},
		{"count of its own", "/api/diary/count?as_of=" + at, 200, `{"count":1}`},
		{"filter on a hidden field", "/api/diary?filter=" + url.QueryEscape(`mood = "sad"`) + "&as_of=" + at, 400, "mood"},
		{"sort on a hidden field", "/api/diary?sort=mood&as_of=" + at, 400, "mood"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do("GET", tc.path, nil, owner...)
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.want) || r.Status == 200 && strings.Contains(string(r.Body), "theirs") {
				t.Fatalf("GET %s: %d %s, want %d with %q", tc.path, r.Status, r.Body, tc.status, tc.want)
			}
		})
	}
}
