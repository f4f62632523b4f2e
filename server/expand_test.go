package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/strata-dev/strata/app"
	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/auth"
	"github.com/strata-dev/strata/sdk/storage"
	"github.com/strata-dev/strata/server"
)

// The types of the expand tests: posts point at users (whose orgs they
// point at in turn), at notes only their owner reads, at a vault only
// administrators read, and at other posts.
const (
	expOrgsType = `{"name":"orgs","schema":{"type":"object","properties":{"name":{"type":"string"}}},
	  "permissions":{"read":["authenticated"]}}`
	expUsersType = `{"name":"users","schema":{"type":"object","properties":{"name":{"type":"string"},"secret":{"type":"string"},
	    "org":{"type":["string","null"]}}},
	  "references":{"org":{"type":"orgs"}}, "hidden":["secret"],
	  "permissions":{"read":["authenticated"]}}`
	expNotesType = `{"name":"notes","schema":{"type":"object","properties":{"text":{"type":"string"},"about":{"type":["string","null"]}}},
	  "references":{"about":{"type":"orgs"}},
	  "permissions":{"read":["owner"],"create":["authenticated"]}}`
	expVaultType = `{"name":"vault","schema":{"type":"object","properties":{"code":{"type":"string"}}}}`
	expPostsType = `{"name":"posts","schema":{"type":"object","properties":{"title":{"type":"string"},"views":{"type":"integer"},
	    "author":{"type":["string","null"]},"note":{"type":["string","null"]},"vault":{"type":["string","null"]},
	    "parent":{"type":["string","null"]}}},
	  "search":["title"],
	  "references":{"author":{"type":"users"},"note":{"type":"notes"},"vault":{"type":"vault"},
	    "parent":{"type":"posts","on_delete":"set_null"}},
	  "permissions":{"read":["authenticated"]}}`
)

// expandFixture is a server with the expand types and two principals.
type expandFixture struct {
	ts           *testServer
	alice, bob   []string // Authorization headers
	orgs, users  []string // ids
	notes, vault []string // notes[0] is alice's, notes[1] bob's
	posts        []string
}

func newExpandFixture(t *testing.T, ts *testServer) *expandFixture {
	t.Helper()
	for _, def := range []string{expOrgsType, expUsersType, expNotesType, expVaultType, expPostsType} {
		ts.defineType(def)
	}
	f := &expandFixture{ts: ts}
	for _, who := range []*[]string{&f.alice, &f.bob} {
		k := ts.must(201, "POST", "/api/keys", map[string]any{"name": "reader"}).JSON(t)
		*who = []string{"Authorization", "Bearer " + k["token"].(string)}
	}
	create := func(typ string, data map[string]any, headers ...string) string {
		t.Helper()
		return ts.must(201, "POST", "/api/"+typ, data, headers...).JSON(t)["id"].(string)
	}
	for i := range 2 {
		f.orgs = append(f.orgs, create("orgs", map[string]any{"name": fmt.Sprintf("org%d", i)}))
	}
	for i := range 5 {
		f.users = append(f.users, create("users", map[string]any{"name": fmt.Sprintf("user%d", i),
			"secret": "s3cret", "org": f.orgs[i%2]}))
	}
	f.notes = append(f.notes, create("notes", map[string]any{"text": "alice's", "about": f.orgs[0]}, f.alice...))
	f.notes = append(f.notes, create("notes", map[string]any{"text": "bob's", "about": f.orgs[1]}, f.bob...))
	f.vault = append(f.vault, create("vault", map[string]any{"code": "1234"}))
	for i := range 20 {
		f.posts = append(f.posts, create("posts", map[string]any{"title": fmt.Sprintf("post %02d", i), "views": i,
			"author": f.users[i%5], "note": f.notes[i%2], "vault": f.vault[0]}))
	}
	return f
}

// get reads path as the given principal and decodes it.
func (f *expandFixture) get(t *testing.T, who []string, path string) map[string]any {
	t.Helper()
	return f.ts.must(http.StatusOK, "GET", path, nil, who...).JSON(t)
}

// withoutExpand returns an envelope without its expand member.
func withoutExpand(v any) map[string]any {
	m, _ := v.(map[string]any)
	out := map[string]any{}
	for k, x := range m {
		if k != "expand" {
			out[k] = x
		}
	}
	return out
}

func TestExpandEmbedsWhatTheReaderMayRead(t *testing.T) {
	ts := newTestServer(t)
	f := newExpandFixture(t, ts)
	admin := []string{}

	lists := []struct{ name, query string }{
		{"creation order", ""},
		{"newest first", "&sort=-created_at"},
		{"filtered", "&filter=" + url.QueryEscape(`views >= 0`)},
		{"searched", "&q=post"},
		{"sorted", "&sort=-views"},
	}
	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				who  []string
			}{{"alice", f.alice}, {"bob", f.bob}, {"admin", admin}} {
				page := f.get(t, tc.who, "/api/posts?limit=20&expand=author,author.org,note,vault"+l.query)
				items := page["items"].([]any)
				if len(items) != 20 {
					t.Fatalf("%s: %d items, want 20", tc.name, len(items))
				}
				for _, it := range items {
					checkPostExpansion(t, f, tc.name, tc.who, it.(map[string]any))
				}
			}
		})
	}

	t.Run("single read", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			who  []string
		}{{"alice", f.alice}, {"bob", f.bob}, {"admin", admin}} {
			for _, id := range f.posts[:2] {
				checkPostExpansion(t, f, tc.name, tc.who, f.get(t, tc.who, "/api/posts/"+id+"?expand=author,author.org,note,vault"))
				checkPostExpansion(t, f, tc.name, tc.who, f.get(t, tc.who, "/api/posts/"+id+"/revisions/1?expand=author,author.org,note,vault"))
			}
		}
	})

	t.Run("owner-scoped list", func(t *testing.T) {
		// A principal reading notes by owner only lists its own, through
		// the index, and gets them expanded too.
		for _, tc := range []struct {
			name string
			who  []string
			note string
			org  string
		}{{"alice", f.alice, f.notes[0], f.orgs[0]}, {"bob", f.bob, f.notes[1], f.orgs[1]}} {
			for _, q := range []string{"", "&sort=-created_at"} {
				items := f.get(t, tc.who, "/api/notes?expand=about"+q)["items"].([]any)
				if len(items) != 1 || dig(items[0], "id") != tc.note || dig(items[0], "expand.about.id") != tc.org {
					t.Fatalf("%s lists notes%s as %v", tc.name, q, items)
				}
			}
		}
	})

	t.Run("no expand, no member", func(t *testing.T) {
		for _, path := range []string{"/api/posts/" + f.posts[0], "/api/posts?limit=1"} {
			if strings.Contains(string(ts.must(200, "GET", path, nil).Body), `"expand"`) {
				t.Fatalf("GET %s has an expand member", path)
			}
		}
	})

	t.Run("not modified is not answered", func(t *testing.T) {
		path := "/api/posts/" + f.posts[0]
		tag := ts.must(200, "GET", path, nil).Header.Get("ETag")
		ts.must(http.StatusNotModified, "GET", path, nil, "If-None-Match", tag)
		// The tag does not cover the embedded resources.
		ts.must(http.StatusOK, "GET", path+"?expand=author", nil, "If-None-Match", tag)
	})
}

// checkPostExpansion checks the expansion of one post as the principal
// named name reads it: the author (redacted for non-admins) and its org
// always, the note only for its owner, the vault only for the admin; and
// each embedded envelope is what a GET of the target answers the same
// principal.
func checkPostExpansion(t *testing.T, f *expandFixture, name string, who []string, post map[string]any) {
	t.Helper()
	exp, _ := post["expand"].(map[string]any)
	author, _ := exp["author"].(map[string]any)
	if author == nil || author["id"] != dig(post, "data.author") {
		t.Fatalf("%s: post %v: author not expanded: %v", name, post["id"], exp)
	}
	_, sees := dig(author, "data").(map[string]any)["secret"]
	if sees != (name == "admin") {
		t.Fatalf("%s: the embedded author shows secret=%v", name, sees)
	}
	if want := f.get(t, who, "/api/users/"+author["id"].(string)); !reflect.DeepEqual(withoutExpand(author), want) {
		t.Fatalf("%s: embedded author\n%v\nwant what GET answers\n%v", name, author, want)
	}
	org := dig(author, "expand.org")
	if org == nil || dig(org, "id") != dig(author, "data.org") {
		t.Fatalf("%s: author.org not expanded: %v", name, author)
	}
	if want := f.get(t, who, "/api/orgs/"+dig(org, "id").(string)); !reflect.DeepEqual(withoutExpand(org), want) {
		t.Fatalf("%s: embedded org\n%v\nwant\n%v", name, org, want)
	}
	note := dig(post, "data.note")
	ownNote := name == "admin" || name == "alice" && note == f.notes[0] || name == "bob" && note == f.notes[1]
	if _, ok := exp["note"]; ok != ownNote {
		t.Fatalf("%s: note %v embedded: %v, want %v", name, note, ok, ownNote)
	}
	if ownNote {
		if want := f.get(t, who, "/api/notes/"+note.(string)); !reflect.DeepEqual(exp["note"], want) {
			t.Fatalf("%s: embedded note\n%v\nwant\n%v", name, exp["note"], want)
		}
	}
	if _, ok := exp["vault"]; ok != (name == "admin") {
		t.Fatalf("%s: vault embedded: %v", name, ok)
	}
	for k := range exp {
		if k != "author" && k != "note" && k != "vault" {
			t.Fatalf("%s: unexpected expand member %q", name, k)
		}
	}
}

func TestExpandRevisionsDeletedAndDangling(t *testing.T) {
	ts := newTestServer(t)
	f := newExpandFixture(t, ts)
	post := "/api/posts/" + f.posts[0]
	old := f.users[0]
	ts.must(200, "PATCH", post, map[string]any{"author": f.users[1]})
	ts.must(200, "PATCH", "/api/users/"+old, map[string]any{"name": "renamed"})

	// An old revision expands the references it holds, to their current
	// state.
	r1 := f.get(t, f.alice, post+"?revision=1&expand=author")
	if dig(r1, "expand.author.id") != old || dig(r1, "expand.author.data.name") != "renamed" {
		t.Fatalf("revision 1 expands to %v", r1["expand"])
	}
	if cur := f.get(t, f.alice, post+"?expand=author"); dig(cur, "expand.author.id") != f.users[1] {
		t.Fatalf("the current revision expands to %v", cur["expand"])
	}

	// The old author, referenced by nothing current any more, is deleted,
	// then purged: either way revision 1 embeds nothing, as for a null.
	for _, step := range []string{"", "?purge=true"} {
		for _, p := range f.posts {
			if p != f.posts[0] && f.get(t, nil, "/api/posts/"+p)["data"].(map[string]any)["author"] == old {
				ts.must(200, "PATCH", "/api/posts/"+p, map[string]any{"author": nil})
			}
		}
		if step == "" || ts.do("GET", "/api/users/"+old+"?include_deleted=true", nil).Status == 200 {
			ts.must(204, "DELETE", "/api/users/"+old+step, nil)
		}
		for _, who := range [][]string{f.alice, nil} {
			if r := f.get(t, who, post+"?revision=1&expand=author"); r["expand"] != nil {
				t.Fatalf("after DELETE%s, revision 1 still expands to %v", step, r["expand"])
			}
		}
	}

	// A self-reference three levels deep.
	ts.must(200, "PATCH", "/api/posts/"+f.posts[1], map[string]any{"parent": f.posts[2]})
	ts.must(200, "PATCH", "/api/posts/"+f.posts[2], map[string]any{"parent": f.posts[3]})
	ts.must(200, "PATCH", "/api/posts/"+f.posts[3], map[string]any{"parent": f.posts[4]})
	r := f.get(t, nil, "/api/posts/"+f.posts[1]+"?expand=parent.parent.parent")
	if got := dig(r, "expand.parent.expand.parent.expand.parent.id"); got != f.posts[4] {
		t.Fatalf("parent.parent.parent expands to %v", got)
	}
	if got := dig(r, "expand.parent.expand.parent.expand.parent.expand"); got != nil {
		t.Fatalf("the third level is expanded further: %v", got)
	}
}

func TestExpandRefusesBadPaths(t *testing.T) {
	ts := newTestServer(t)
	f := newExpandFixture(t, ts)
	many := strings.TrimSuffix(strings.Repeat("author,", 11), ",")
	cases := []struct {
		name, expand, detail string
	}{
		{"unknown field", "nope", `"nope"`},
		{"not a reference", "title", `"title"`},
		{"unknown nested field", "author.nope", `"author.nope"`},
		{"hidden field", "author.secret", `"author.secret"`},
		{"empty segment", "author..org", `"author..org"`},
		{"empty path", "author,", `""`},
		{"leading dot", ".author", `".author"`},
		{"too deep", "parent.parent.parent.parent", `"parent.parent.parent.parent"`},
		{"too many paths", many, "at most 10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{
				"/api/posts?expand=",
				"/api/posts?sort=-views&expand=",
				"/api/posts/" + f.posts[0] + "?expand=",
				"/api/posts/" + f.posts[0] + "/revisions/1?expand=",
			} {
				r := ts.do("GET", path+url.QueryEscape(tc.expand), nil, f.alice...)
				p := checkProblem(t, r, http.StatusBadRequest, "bad_request")
				if d, _ := p["detail"].(string); !strings.Contains(d, tc.detail) || !strings.Contains(d, "expand") {
					t.Fatalf("GET %s: detail %q does not name %s", path, d, tc.detail)
				}
			}
		})
	}

	// Below a type the reader may not see, fields are not checked: a 400
	// would tell them. The vault is such a type for alice.
	r := f.get(t, f.alice, "/api/posts/"+f.posts[0]+"?expand=vault.whatever")
	if r["expand"] != nil {
		t.Fatalf("alice sees the vault: %v", r["expand"])
	}
	checkProblem(t, ts.do("GET", "/api/posts/"+f.posts[0]+"?expand=vault.whatever", nil), 400, "bad_request")
}

// viewCounter counts, per bucket, the storage transactions that read it.
type viewCounter struct {
	storage.Store
	mu    sync.Mutex
	reads map[string]int
}

func (s *viewCounter) View(ctx context.Context, fn func(tx storage.Tx) error) error {
	return s.Store.View(ctx, func(tx storage.Tx) error {
		ct := &countingTx{Tx: tx, buckets: map[string]bool{}}
		err := fn(ct)
		s.mu.Lock()
		for b := range ct.buckets {
			s.reads[b]++
		}
		s.mu.Unlock()
		return err
	})
}

// take returns the counts since the last take and starts again.
func (s *viewCounter) take() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.reads
	s.reads = map[string]int{}
	return out
}

type countingTx struct {
	storage.Tx
	buckets map[string]bool
}

func (tx *countingTx) Get(bucket string, key []byte) ([]byte, error) {
	tx.buckets[bucket] = true
	return tx.Tx.Get(bucket, key)
}

func (tx *countingTx) GetMany(bucket string, keys [][]byte, fn func(i int, value []byte)) error {
	tx.buckets[bucket] = true
	return tx.Tx.GetMany(bucket, keys, fn)
}

func (tx *countingTx) GetKeys(keys []storage.Key, fn func(i int, value []byte)) error {
	for _, k := range keys {
		tx.buckets[k.Bucket] = true
	}
	return tx.Tx.GetKeys(keys, fn)
}

func (tx *countingTx) Scan(bucket string, r storage.Range, fn func(key, value []byte) bool) error {
	tx.buckets[bucket] = true
	return tx.Tx.Scan(bucket, r, fn)
}

func TestExpandReadsOncePerPageAndField(t *testing.T) {
	counter := &viewCounter{reads: map[string]int{}}
	o := server.Options{RateLimit: server.RateLimit{IPRate: -1, PrincipalRate: -1}}
	env := apptest.New(t, apptest.WithIndex(),
		apptest.WithStoreWrap(func(s storage.Store) storage.Store { counter.Store = s; return counter }),
		apptest.Served(func(c *app.Config) { c.Auth, c.Server = auth.Config{AdminKey: testAdminKey}, o }))
	ts := &testServer{t: t, URL: env.URL, Dir: env.Dir, env: env, m: env.Manager, client: &http.Client{}}
	t.Cleanup(ts.client.CloseIdleConnections)
	f := newExpandFixture(t, ts)

	for _, q := range []string{"", "&sort=-views"} {
		// Let the index catch up, so that only the request reads.
		f.get(t, f.alice, "/api/posts?limit=1&sort=-views")
		counter.take()
		page := f.get(t, f.alice, "/api/posts?limit=20&expand=author,author.org,note"+q)
		reads := counter.take()
		if n := len(page["items"].([]any)); n != 20 {
			t.Fatalf("%d items", n)
		}
		// 20 posts, 5 authors, 2 orgs, 2 notes: one read of each type.
		for _, b := range []string{"m/users", "m/orgs", "m/notes", "m/posts"} {
			if reads[b] != 1 {
				t.Errorf("list%s: %d transactions read %s, want 1 (all: %v)", q, reads[b], b, reads)
			}
		}
		counter.take()
		f.get(t, f.alice, "/api/posts?limit=20"+q)
		if reads := counter.take(); reads["m/users"] != 0 {
			t.Errorf("list%s without expand reads users: %v", q, reads)
		}
	}
}

// TestExpandNoLeakThroughShape checks that an embedded target the reader
// may not read looks exactly like a null reference.
func TestExpandNoLeakThroughShape(t *testing.T) {
	ts := newTestServer(t)
	f := newExpandFixture(t, ts)
	nullNote := ts.must(201, "POST", "/api/posts", map[string]any{"title": "no note", "author": f.users[0]}).JSON(t)["id"].(string)
	bobs := f.posts[1] // note: bob's
	a := f.get(t, f.alice, "/api/posts/"+bobs+"?expand=note,author")
	b := f.get(t, f.alice, "/api/posts/"+nullNote+"?expand=note,author")
	keys := func(m map[string]any) string {
		raw, _ := json.Marshal(m["expand"])
		var e map[string]any
		_ = json.Unmarshal(raw, &e)
		var out []string
		for k := range e {
			out = append(out, k)
		}
		return strings.Join(out, ",")
	}
	if keys(a) != "author" || keys(b) != "author" {
		t.Fatalf("expand members: bob's note %q, null note %q", keys(a), keys(b))
	}
}
