package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/sdk/storage"
)

// testEnv is a Manager over a bolt file and an Index over it, in a
// temporary directory. Close runs at cleanup.
type testEnv struct {
	t    testing.TB
	dir  string
	st   storage.Store
	m    *core.Manager
	x    *Index
	done bool
	cp   compactPolicy
	log  *slog.Logger // nil: discarded
	plan map[string]any
	hp   healthPolicy // zero: defaultHealthPolicy
	// wrap, when set, stands between the index and the Manager's feed.
	wrap func(core.ChangeFeed) core.ChangeFeed
}

func newTestEnv(t testing.TB, types ...core.Type) *testEnv {
	t.Helper()
	return newTestEnvPolicy(t, defaultCompactPolicy, types...)
}

// newTestEnvPolicy is newTestEnv with the index compacted by cp.
func newTestEnvPolicy(t testing.TB, cp compactPolicy, types ...core.Type) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dir: t.TempDir(), cp: cp}
	e.open()
	for _, typ := range types {
		if _, err := e.m.CreateType(core.AsSystem(t.Context()), typ); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(e.close)
	return e
}

// openManager opens a Manager over the bolt file in dir, searching with
// search when it is not nil. The caller closes both. This package's
// tests cannot use the shared fixture (app/apptest), which imports this
// package; they open their Managers here.
func openManager(tb testing.TB, dir string, search func(ctx context.Context, feed core.ChangeFeed) (core.Searcher, error)) (storage.Store, *core.Manager) {
	tb.Helper()
	ctx := core.AsSystem(tb.Context())
	st, err := bolt.Open(ctx, filepath.Join(dir, "strata.db"), storage.OpenOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := core.Open(ctx, st, core.Options{Search: search})
	if err != nil {
		_ = st.Close()
		tb.Fatal(err)
	}
	return st, m
}

func (e *testEnv) open() {
	e.t.Helper()
	hp := e.hp
	if hp == (healthPolicy{}) {
		hp = defaultHealthPolicy
	}
	var x *Index
	st, m := openManager(e.t, e.dir, func(ctx context.Context, feed core.ChangeFeed) (core.Searcher, error) {
		if e.wrap != nil {
			feed = e.wrap(feed)
		}
		var err error
		x, err = open(ctx, filepath.Join(e.dir, "index"), feed, e.log, e.cp, e.plan, hp)
		return x, err
	})
	e.st, e.m, e.x, e.done = st, m, x, false
}

func (e *testEnv) close() {
	if e.done {
		return
	}
	e.done = true
	if err := e.x.Close(); err != nil {
		e.t.Errorf("close index: %v", err)
	}
	if err := e.m.Close(); err != nil {
		e.t.Errorf("close manager: %v", err)
	}
	if err := e.st.Close(); err != nil {
		e.t.Errorf("close store: %v", err)
	}
}

func (e *testEnv) create(typ, body string, by string) string {
	e.t.Helper()
	ctx := core.AsSystem(e.t.Context())
	if by != "" {
		ctx = core.WithPrincipal(ctx, core.Principal{ID: by, Roles: []string{core.RoleAdmin}})
	}
	res, err := e.m.Create(ctx, typ, []byte(body), core.WriteOptions{})
	if err != nil {
		e.t.Fatalf("create %s: %v", body, err)
	}
	return res.ID
}

// active returns the active index of typ.
func (e *testEnv) active(typ string) *typeIndex {
	e.x.mu.RLock()
	defer e.x.mu.RUnlock()
	return e.x.types[typ]
}

// search answers req with read-your-writes.
func (e *testEnv) search(typ string, req core.SearchRequest) (*core.SearchResult, error) {
	req.MinSeq = e.m.LastSeq()
	if req.Limit == 0 {
		req.Limit = 100
	}
	return e.x.Search(e.t.Context(), typ, req)
}

func (e *testEnv) mustSearch(typ string, req core.SearchRequest) *core.SearchResult {
	e.t.Helper()
	res, err := e.search(typ, req)
	if err != nil {
		e.t.Fatalf("search %s %+v: %v", typ, req, err)
	}
	return res
}

var (
	notesType = core.Type{Name: "notes", Schema: json.RawMessage(`{"type":"object","properties":{
		"title":{"type":"string","maxLength":100},"body":{"type":"string"},"n":{"type":"integer"}}}`),
		Search: []string{"title", "body"}}
	tasksType = core.Type{Name: "tasks", Schema: json.RawMessage(`{"type":"object","properties":{
		"title":{"type":"string"},"done":{"type":"boolean"}}}`)}
)

// TestRemapInBackground changes a searched type's schema: its index is
// rebuilt in the background, searches of another type go on meanwhile,
// searches of the changed type wait for the new index (they are not
// answered from the old mapping), and writes made during the rebuild are
// in the new index.
func TestRemapInBackground(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, notesType, tasksType)
	for i := range 5 {
		e.create("notes", fmt.Sprintf(`{"title":"note %d","n":%d}`, i, i), "")
		e.create("tasks", fmt.Sprintf(`{"title":"task %d","done":%v}`, i, i%2 == 0), "")
	}
	if got := e.mustSearch("notes", core.SearchRequest{Filter: `n >= 3`, Total: true}).Total; got != 2 {
		t.Fatalf("before the change: %d notes with n >= 3, want 2", got)
	}
	e.mustSearch("tasks", core.SearchRequest{Filter: `done = true`})

	// Hold the rebuild of notes until released.
	release := make(chan struct{})
	started := make(chan struct{})
	e.x.beforeBuild = func(ctx context.Context, typ string) {
		if typ == "notes" {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
	}
	changed := notesType
	changed.Schema = json.RawMessage(`{"type":"object","properties":{
		"title":{"type":"string","maxLength":100},"body":{"type":"string"},"n":{"type":"integer"},
		"tag":{"type":"string"}}}`)
	if _, err := e.m.UpdateType(core.AsSystem(t.Context()), changed); err != nil {
		t.Fatal(err)
	}
	<-started
	// Written while the index is being rebuilt: replayed into it.
	e.create("notes", `{"title":"late","n":9,"tag":"x"}`, "")
	if err := e.x.WaitFor(core.AsSystem(t.Context()), e.m.LastSeq(), MaxWait); err != nil {
		t.Fatal(err)
	}

	stopped, cancel := context.WithCancel(core.AsSystem(t.Context()))
	cancel()
	if ti, err := e.x.acquire(stopped, "tasks", MaxWait); err != nil {
		t.Fatalf("tasks while notes is rebuilt: %v", err)
	} else {
		ti.use.RUnlock()
	}
	if got := e.mustSearch("tasks", core.SearchRequest{Filter: `done = true`, Total: true}).Total; got != 3 {
		t.Fatalf("tasks done: %d, want 3", got)
	}
	if _, err := e.x.acquire(stopped, "notes", MaxWait); !errors.Is(err, context.Canceled) {
		t.Fatalf("notes while rebuilt: got %v, want to wait (context canceled)", err)
	}

	close(release)
	res := e.mustSearch("notes", core.SearchRequest{Filter: `tag = "x" || n >= 3`, Total: true})
	if res.Total != 3 {
		t.Fatalf("after the rebuild: %d matches, want 3 (%v)", res.Total, res.IDs)
	}
	if gens, _ := os.ReadDir(e.x.typeDir("notes")); len(gens) != 1 || gens[0].Name() != "g2" {
		t.Fatalf("index directories of notes: %v, want g2 only", gens)
	}
}

// TestSearchOwner restricts searches to one creator: lists, totals and
// counts, and a cursor cannot be replayed for another owner.
func TestSearchOwner(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, notesType)
	var alices []string
	for i := range 12 {
		by := []string{"alice", "bob", ""}[i%3]
		id := e.create("notes", fmt.Sprintf(`{"title":"note %d","n":%d,"body":"shared words"}`, i, i), by)
		if by == "alice" {
			alices = append(alices, id)
		}
	}
	tests := []struct {
		name string
		req  core.SearchRequest
		want int
	}{
		{"filter", core.SearchRequest{Filter: `n >= 0`, Owner: "alice"}, 4},
		{"sort only", core.SearchRequest{Sort: "-n", Owner: "alice"}, 4},
		{"q", core.SearchRequest{Q: "shared", Owner: "alice"}, 4},
		{"q and filter", core.SearchRequest{Q: "words", Filter: `n > 5`, Owner: "alice"}, 2},
		{"other owner", core.SearchRequest{Filter: `n >= 0`, Owner: "bob"}, 4},
		{"nobody", core.SearchRequest{Filter: `n >= 0`, Owner: "carol"}, 0},
		{"filter on the creator too", core.SearchRequest{Filter: `created_by = "bob"`, Owner: "alice"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Total = true
			res := e.mustSearch("notes", tt.req)
			if res.Total != tt.want || len(res.IDs) != tt.want {
				t.Fatalf("got %d ids, total %d, want %d", len(res.IDs), res.Total, tt.want)
			}
			count, err := e.x.Search(core.AsSystem(t.Context()), "notes", core.SearchRequest{Filter: tt.req.Filter, Q: tt.req.Q, Owner: tt.req.Owner, Total: true})
			if err != nil || count.Total != tt.want || len(count.IDs) != 0 {
				t.Fatalf("count only: %+v, %v; want %d", count, err, tt.want)
			}
			if tt.req.Owner == "alice" && tt.req.Q == "" {
				for _, id := range res.IDs {
					if !slices.Contains(alices, id) {
						t.Fatalf("%s is not alice's", id)
					}
				}
			}
		})
	}
	t.Run("cursor bound to the owner", func(t *testing.T) {
		res := e.mustSearch("notes", core.SearchRequest{Sort: "n", Owner: "alice", Limit: 2})
		if res.NextCursor == "" {
			t.Fatal("no next page")
		}
		_, err := e.search("notes", core.SearchRequest{Sort: "n", Owner: "bob", Limit: 2, Cursor: res.NextCursor})
		if !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("alice's cursor for bob: got %v, want ErrInvalid", err)
		}
		next := e.mustSearch("notes", core.SearchRequest{Sort: "n", Owner: "alice", Limit: 2, Cursor: res.NextCursor})
		if got := append(res.IDs, next.IDs...); !slices.Equal(got, alices) {
			t.Fatalf("alice's pages %v, want %v", got, alices)
		}
	})
	t.Run("core", func(t *testing.T) {
		// core scopes a principal whose read grant is "owner" to its own.
		owned := notesType
		owned.Permissions = map[string][]string{"read": {"owner"}}
		if _, err := e.m.UpdateType(core.AsSystem(t.Context()), owned); err != nil {
			t.Fatal(err)
		}
		alice := core.WithPrincipal(t.Context(), core.Principal{ID: "alice"})
		page, err := e.m.Search(alice, "notes", core.ListOptions{Limit: 100}, core.ListQuery{Sort: "n", Total: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range page.Items {
			got = append(got, r.ID)
			if r.Meta.CreatedBy != "alice" {
				t.Fatalf("%s was created by %q", r.ID, r.Meta.CreatedBy)
			}
		}
		if page.Total != 4 || !slices.Equal(got, alices) {
			t.Fatalf("core search: %v (total %d), want %v", got, page.Total, alices)
		}
		n, err := e.m.SearchCount(alice, "notes", false, core.ListQuery{Filter: "n > 3"})
		if err != nil || n != 2 { // 6 and 9
			t.Fatalf("core count: %d, %v; want 2", n, err)
		}
		// A plain list and count are scoped alike, through the index.
		list, err := e.m.List(alice, "notes", core.ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, r := range list.Items {
			listed = append(listed, r.ID)
		}
		if !slices.Equal(listed, alices) {
			t.Fatalf("core list: %v, want %v", listed, alices)
		}
		if n, err := e.m.Count(alice, "notes", false); err != nil || n != len(alices) {
			t.Fatalf("core count: %d, %v; want %d", n, err, len(alices))
		}
	})
}

// TestHighlight marks where q matched, escapes the rest, and cuts long
// texts into fragments, through the Manager's search: the index says how
// to mark a page, the Manager marks the resources it reads.
func TestHighlight(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, notesType)
	long := strings.Repeat("filler words here ", 30) + "the running <river> & stones " + strings.Repeat("more filler text ", 30)
	short := e.create("notes", `{"title":"Rivers <b>run</b>","body":"a quiet river"}`, "")
	longID := e.create("notes", fmt.Sprintf(`{"title":"other","body":%q}`, long), "")
	e.create("notes", `{"title":"nothing","body":"nothing"}`, "")

	search := func(q string) *core.SearchPage {
		t.Helper()
		page, err := e.m.Search(core.AsSystem(t.Context()), "notes", core.ListOptions{Limit: 100}, core.ListQuery{Q: q, Highlight: true})
		if err != nil {
			t.Fatalf("q=%s: %v", q, err)
		}
		return page
	}
	res := search("river")
	if len(res.Items) != 2 {
		t.Fatalf("q=river: %d items", len(res.Items))
	}
	tests := []struct {
		id, field string
		want      []string
	}{
		{short, "title", []string{"<mark>Rivers</mark> &lt;b&gt;run&lt;/b&gt;"}},
		{short, "body", []string{"a quiet <mark>river</mark>"}},
		{longID, "body", []string{"…filler words here filler words here the running &lt;<mark>river</mark>&gt; &amp; stones more filler text more filler text more filler text more filler text more filler text more…"}},
	}
	for _, tt := range tests {
		if got := res.Highlights[tt.id][tt.field]; !slices.Equal(got, tt.want) {
			t.Errorf("%s %s:\n got %q\nwant %q", tt.id, tt.field, got, tt.want)
		}
	}
	if _, ok := res.Highlights[longID]["title"]; ok {
		t.Errorf("a field without a match is highlighted")
	}
	prefix := search("run*")
	if got := prefix.Highlights[short]["title"]; !slices.Equal(got, []string{"Rivers &lt;b&gt;<mark>run</mark>&lt;/b&gt;"}) {
		t.Errorf("prefix: got %q", got)
	}
	if _, err := e.search("notes", core.SearchRequest{Filter: `n > 1`, Highlight: true}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("highlight without q: got %v, want ErrInvalid", err)
	}
}

// countingFeed counts the resources the index reads through the feed.
type countingFeed struct {
	core.ChangeFeed
	mu    sync.Mutex
	reads map[string]int // by type
}

func (f *countingFeed) GetMany(ctx context.Context, typ string, ids []string, o core.GetOptions) ([]*core.Resource, error) {
	f.mu.Lock()
	f.reads[typ] += len(ids)
	f.mu.Unlock()
	return f.ChangeFeed.GetMany(ctx, typ, ids, o)
}

func (f *countingFeed) count(typ string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads[typ]
}

// TestSearchReadsNoResource: a search, highlighted or not, reads no
// resource through the Manager (which then reads the page itself); only a
// phrase, or a ~ on a long text that its words do not decide, reads its
// candidates, since the index keeps no positions and no whole long text.
func TestSearchReadsNoResource(t *testing.T) {
	t.Parallel()
	feed := &countingFeed{reads: map[string]int{}}
	e := &testEnv{t: t, dir: t.TempDir(), cp: defaultCompactPolicy, wrap: func(f core.ChangeFeed) core.ChangeFeed {
		feed.ChangeFeed = f
		return feed
	}}
	e.open()
	t.Cleanup(e.close)
	if _, err := e.m.CreateType(core.AsSystem(t.Context()), notesType); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`{"title":"a quiet river","body":"The river runs","n":1}`, `{"title":"river stones","body":"stones","n":2}`, `{"title":"nothing","n":3}`} {
		e.create("notes", body, "")
	}
	if err := e.x.WaitFor(core.AsSystem(t.Context()), e.m.LastSeq(), MaxWait); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		q         core.ListQuery
		items     int
		wantReads int
	}{
		{"filter", core.ListQuery{Filter: "n > 1"}, 2, 0},
		{"q", core.ListQuery{Q: "river"}, 2, 0},
		{"q highlighted", core.ListQuery{Q: "river", Highlight: true}, 2, 0},
		{"phrase highlighted", core.ListQuery{Q: `"quiet river"`, Highlight: true}, 1, 1},
		// A long text answers from its words and prefix; a literal of
		// several words reads the texts that have them all.
		{"long text ~ word", core.ListQuery{Filter: `body ~ "RIVER"`}, 1, 0},
		{"long text = and <", core.ListQuery{Filter: `body = "stones" || body < "The"`}, 1, 0},
		{"long text sorted", core.ListQuery{Sort: "-body"}, 3, 0},
		{"long text ~ words", core.ListQuery{Filter: `body ~ "river runs"`}, 1, 1},
	}
	for _, tt := range tests {
		before := feed.count("notes")
		page, err := e.m.Search(core.AsSystem(t.Context()), "notes", core.ListOptions{Limit: 100}, tt.q)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(page.Items) != tt.items {
			t.Errorf("%s: %d items, want %d", tt.name, len(page.Items), tt.items)
		}
		if tt.q.Highlight && len(page.Highlights) != tt.items {
			t.Errorf("%s: %d highlighted, want %d", tt.name, len(page.Highlights), tt.items)
		}
		if got := feed.count("notes") - before; got != tt.wantReads {
			t.Errorf("%s: the index read %d resources through the Manager, want %d", tt.name, got, tt.wantReads)
		}
	}
}

// TestRecoverFromCopy opens the index directory as a copy taken while the
// index was being written (as a crash would leave it): whatever state the
// copy caught, the reopened index answers as storage says.
func TestRecoverFromCopy(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, notesType)
	e.mustSearch("notes", core.SearchRequest{Filter: `n >= 0`})
	for i := range 300 {
		e.create("notes", fmt.Sprintf(`{"title":"note %d","n":%d}`, i, i), "")
	}
	copyDir := filepath.Join(t.TempDir(), "copy")
	if err := copyTree(filepath.Join(e.dir, "index"), copyDir); err != nil {
		t.Fatal(err)
	}
	for i := 300; i < 320; i++ {
		e.create("notes", fmt.Sprintf(`{"title":"note %d","n":%d}`, i, i), "")
	}
	e.close()
	if err := os.RemoveAll(filepath.Join(e.dir, "index")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(copyDir, filepath.Join(e.dir, "index")); err != nil {
		t.Fatal(err)
	}
	e.open()
	res := e.mustSearch("notes", core.SearchRequest{Filter: `n >= 150`, Total: true, Sort: "-n", Limit: 3})
	if res.Total != 170 {
		t.Fatalf("after recovery: %d notes with n >= 150, want 170", res.Total)
	}
	var top []string
	for _, id := range res.IDs {
		r, err := e.m.Get(core.AsSystem(t.Context()), "notes", id, core.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		top = append(top, string(r.Data))
	}
	if !strings.Contains(top[0], `"n":319`) {
		t.Fatalf("after recovery, the top note is %s", top[0])
	}
}

// copyTree copies the regular files under src to dst, skipping files that
// vanish meanwhile (as merges remove them).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		raw, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return os.WriteFile(target, raw, 0o644)
	})
}

// TestReopenRebuildsChangedTypes reopens an index whose type changed while
// it was closed: it is rebuilt at open, for the new schema.
func TestReopenRebuildsChangedTypes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, notesType)
	e.create("notes", `{"title":"a","n":1,"tag":"x"}`, "")
	e.mustSearch("notes", core.SearchRequest{Filter: `n = 1`})
	e.close()
	// Changed while the index is closed: Open finds another schema version
	// than the one recorded.
	changed := notesType
	changed.Schema = json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"},"tag":{"type":"string"}}}`)
	st, m := openManager(t, e.dir, nil)
	if _, err := m.UpdateType(core.AsSystem(t.Context()), changed); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(m.Close(), st.Close()); err != nil {
		t.Fatal(err)
	}
	e.open()
	if got := e.x.Types(); !slices.Equal(got, []string{"notes"}) {
		t.Fatalf("active types after reopen: %v", got)
	}
	if res := e.mustSearch("notes", core.SearchRequest{Filter: `tag = "x"`, Total: true}); res.Total != 1 {
		t.Fatalf("new field after reopen: %d matches", res.Total)
	}
}

// TestTextQueryOrders answers q in every order: by relevance, by a field
// (only the documents q matches), with a filter, and counts.
func TestTextQueryOrders(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, notesType)
	var rivers []string
	for i := range 30 {
		body := "mountain"
		if i%3 == 0 {
			body = "river river"
		}
		id := e.create("notes", fmt.Sprintf(`{"title":"note %d","n":%d,"body":%q}`, i, i, body), "")
		if i%3 == 0 {
			rivers = append(rivers, id)
		}
	}
	byN := func(ids []string) []string { return ids } // created in n order
	tests := []struct {
		name string
		req  core.SearchRequest
		want []string // nil: only the count matters
		n    int
	}{
		{"relevance", core.SearchRequest{Q: "river"}, nil, 10},
		{"by a field", core.SearchRequest{Q: "river", Sort: "n"}, byN(rivers), 10},
		{"by a field, descending", core.SearchRequest{Q: "river", Sort: "-n"}, reversed(rivers), 10},
		{"with a filter", core.SearchRequest{Q: "river", Sort: "n", Filter: "n >= 15"}, rivers[5:], 5},
		{"relevance with a filter", core.SearchRequest{Q: "river", Filter: "n < 15"}, nil, 5},
		{"no match", core.SearchRequest{Q: "lake", Sort: "n"}, []string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Total = true
			res := e.mustSearch("notes", tt.req)
			if res.Total != tt.n || len(res.IDs) != tt.n {
				t.Fatalf("got %d ids, total %d, want %d", len(res.IDs), res.Total, tt.n)
			}
			for _, id := range res.IDs {
				if !slices.Contains(rivers, id) {
					t.Fatalf("%s does not match q", id)
				}
			}
			if tt.want != nil && !slices.Equal(res.IDs, tt.want) {
				t.Fatalf("got %v, want %v", res.IDs, tt.want)
			}
		})
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// TestPhrases checks quoted phrases, which the index answers from the
// stored text of the documents holding all their terms.
func TestPhrases(t *testing.T) {
	t.Parallel()
	listsType := core.Type{Name: "lists", Schema: json.RawMessage(`{"type":"object","properties":{
		"body":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},"n":{"type":"integer"}}}`),
		Search: []string{"body", "tags"}}
	e := newTestEnv(t, listsType)
	ids := map[string]string{}
	for name, body := range map[string]string{
		"adjacent":  `{"body":"a quiet lake at dawn","n":1}`,
		"stemmed":   `{"body":"two quieter lakes","n":2}`,
		"apart":     `{"body":"a quiet and deep lake","n":3}`,
		"reversed":  `{"body":"the lake is quiet","n":4}`,
		"stop word": `{"body":"quiet of the lake","n":5}`,
		"elements":  `{"tags":["very quiet","lake"],"n":6}`,
		"element":   `{"tags":["x","quiet lake"],"n":7}`,
	} {
		ids[name] = e.create("lists", body, "")
	}
	tests := []struct {
		q      string
		filter string
		want   []string
	}{
		{`"quiet lake"`, "", []string{"adjacent", "element"}},
		{`"quiet lakes"`, "", []string{"adjacent", "element"}}, // stemmed alike
		{`"quieter lakes"`, "", []string{"stemmed"}},
		// A stop word leaves a gap any word fills, as in bleve's phrases.
		{`"quiet of the lake"`, "", []string{"stop word", "apart"}},
		{`"quiet lake" dawn`, "", []string{"adjacent"}},
		{`"quiet lake"`, "n > 1", []string{"element"}},
		{`quiet lake`, "", []string{"adjacent", "apart", "reversed", "stop word", "elements", "element"}},
		{`"the"`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.q+" "+tt.filter, func(t *testing.T) {
			var want []string
			for _, name := range tt.want {
				want = append(want, ids[name])
			}
			slices.Sort(want)
			for _, sort := range []string{"", "n"} {
				res := e.mustSearch("lists", core.SearchRequest{Q: tt.q, Filter: tt.filter, Sort: sort, Total: true})
				got := slices.Sorted(slices.Values(res.IDs))
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Fatalf("sort %q: got %v, want %v (%v)", sort, got, want, tt.want)
				}
				if res.Total != len(want) {
					t.Fatalf("sort %q: total %d, want %d", sort, res.Total, len(want))
				}
			}
		})
	}
}
