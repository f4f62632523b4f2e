package core_test

import (
	"context"
	"errors"
	"testing"

	"github.com/strata-dev/strata/core"
)

// TestManagerWrites drives the Manager's writes without HTTP, each case
// from the same starting state: authors/a1 (revision 1), posts/p1 at
// revision 2 referencing it with on_delete cascade, notes/n1 referencing
// it with set_null, and keep_last 2 on posts; the stale cases move p1
// under a write while its hooks run. Each case checks what the
// write answered and, through reads, what it left.
func TestManagerWrites(t *testing.T) {
	ctx := core.AsSystem(context.Background())
	type check func(t *testing.T, m *core.Manager)
	data := func(typ, id, want string) check {
		return func(t *testing.T, m *core.Manager) {
			t.Helper()
			r, err := m.Get(ctx, typ, id, core.GetOptions{})
			if err != nil {
				t.Fatalf("get %s/%s: %v", typ, id, err)
			}
			if string(r.Data) != want {
				t.Fatalf("%s/%s holds %s; want %s", typ, id, r.Data, want)
			}
		}
	}
	gone := func(typ, id string) check {
		return func(t *testing.T, m *core.Manager) {
			t.Helper()
			if _, err := m.Get(ctx, typ, id, core.GetOptions{}); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("get %s/%s: %v; want not found", typ, id, err)
			}
		}
	}
	revisions := func(typ, id string, want int) check {
		return func(t *testing.T, m *core.Manager) {
			t.Helper()
			if _, err := m.PruneRevisions(ctx); err != nil { // retention prunes in the background
				t.Fatal(err)
			}
			page, err := m.Revisions(ctx, typ, id, core.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) != want {
				t.Fatalf("%s/%s keeps %d revisions; want %d", typ, id, len(page.Items), want)
			}
		}
	}
	// moveOnce makes the next update of typ/id find it moved: its first
	// before_update handler switches it to rev, as another write landing
	// while the update's hooks run would (no transaction is open then).
	moveOnce := func(m *core.Manager, typ, id string, rev int) {
		moved := false
		m.OnUpdate(typ).Bind(func(e *core.WriteEvent) error {
			if !moved {
				moved = true
				if _, err := m.Switch(e.Context, typ, id, rev, core.WriteOptions{}); err != nil {
					return err
				}
			}
			return e.Next()
		})
	}
	cases := []struct {
		name    string
		write   func(m *core.Manager) (*core.Resource, error)
		wantErr error
		wantRev int // revision number of the answer, when it has one
		checks  []check
	}{
		{name: "create", write: func(m *core.Manager) (*core.Resource, error) {
			return m.Create(ctx, "authors", []byte(`{"id":"a2","name":"B"}`), core.WriteOptions{})
		}, wantRev: 1, checks: []check{data("authors", "a2", `{"name":"B"}`)}},
		{name: "create of a taken id", write: func(m *core.Manager) (*core.Resource, error) {
			return m.Create(ctx, "authors", []byte(`{"id":"a1","name":"B"}`), core.WriteOptions{})
		}, wantErr: core.ErrConflict, checks: []check{data("authors", "a1", `{"name":"A"}`)}},
		{name: "replace", write: func(m *core.Manager) (*core.Resource, error) {
			return m.Replace(ctx, "posts", "p1", []byte(`{"author":"a1","title":"new"}`), core.WriteOptions{})
		}, wantRev: 3, checks: []check{data("posts", "p1", `{"author":"a1","title":"new"}`), revisions("posts", "p1", 2)}},
		{name: "replace with the same data writes nothing", write: func(m *core.Manager) (*core.Resource, error) {
			return m.Replace(ctx, "posts", "p1", []byte(`{"author":"a1","title":"two"}`), core.WriteOptions{})
		}, wantRev: 2, checks: []check{revisions("posts", "p1", 2)}},
		{name: "replace with a stale If-Match", write: func(m *core.Manager) (*core.Resource, error) {
			return m.Replace(ctx, "posts", "p1", []byte(`{"title":"x"}`), core.WriteOptions{IfMatch: 1})
		}, wantErr: core.ErrPreconditionFailed, checks: []check{data("posts", "p1", `{"author":"a1","title":"two"}`)}},
		{name: "merge patch", write: func(m *core.Manager) (*core.Resource, error) {
			return m.Patch(ctx, "posts", "p1", core.MergePatch, []byte(`{"title":"patched"}`), core.WriteOptions{IfMatch: 2})
		}, wantRev: 3, checks: []check{data("posts", "p1", `{"author":"a1","title":"patched"}`)}},
		{name: "JSON Patch of a missing resource", write: func(m *core.Manager) (*core.Resource, error) {
			return m.Patch(ctx, "posts", "nope", core.JSONPatch, []byte(`[{"op":"add","path":"/x","value":1}]`), core.WriteOptions{})
		}, wantErr: core.ErrNotFound},
		{name: "stale patch is staged again on the revision that moved in", write: func(m *core.Manager) (*core.Resource, error) {
			moveOnce(m, "posts", "p1", 1)
			return m.Patch(ctx, "posts", "p1", core.MergePatch, []byte(`{"tag":"x"}`), core.WriteOptions{})
			// Retention keeps 2 and 3, the newest two, and 1, the parent
			// of the current 3, which a switch may return to.
		}, wantRev: 3, checks: []check{data("posts", "p1", `{"author":"a1","tag":"x","title":"one"}`), revisions("posts", "p1", 3)}},
		{name: "stale replace with If-Match is refused when staged again", write: func(m *core.Manager) (*core.Resource, error) {
			moveOnce(m, "posts", "p1", 1)
			return m.Replace(ctx, "posts", "p1", []byte(`{"author":"a1","title":"x"}`), core.WriteOptions{IfMatch: 2})
		}, wantErr: core.ErrPreconditionFailed, checks: []check{data("posts", "p1", `{"author":"a1","title":"one"}`)}},
		{name: "switch back to revision 1", write: func(m *core.Manager) (*core.Resource, error) {
			return m.Switch(ctx, "posts", "p1", 1, core.WriteOptions{})
		}, wantRev: 1, checks: []check{data("posts", "p1", `{"author":"a1","title":"one"}`)}},
		{name: "retention keeps the newest two", write: func(m *core.Manager) (*core.Resource, error) {
			for _, title := range []string{"three", "four"} {
				if _, err := m.Replace(ctx, "posts", "p1", []byte(`{"author":"a1","title":"`+title+`"}`), core.WriteOptions{}); err != nil {
					return nil, err
				}
			}
			return m.Get(ctx, "posts", "p1", core.GetOptions{})
		}, wantRev: 4, checks: []check{revisions("posts", "p1", 2)}},
		{name: "delete cascades and sets null", write: func(m *core.Manager) (*core.Resource, error) {
			return nil, m.Delete(ctx, "authors", "a1", core.WriteOptions{})
		}, checks: []check{gone("authors", "a1"), gone("posts", "p1"), data("notes", "n1", `{"about":null}`)}},
		{name: "delete then restore", write: func(m *core.Manager) (*core.Resource, error) {
			if err := m.Delete(ctx, "notes", "n1", core.WriteOptions{}); err != nil {
				return nil, err
			}
			return m.Restore(ctx, "notes", "n1", core.WriteOptions{})
		}, wantRev: 1, checks: []check{data("notes", "n1", `{"about":"a1"}`)}},
		{name: "purge", write: func(m *core.Manager) (*core.Resource, error) {
			return nil, m.Purge(ctx, "notes", "n1", core.WriteOptions{})
		}, checks: []check{gone("notes", "n1")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newBoltManager(t, core.Options{})
			mustType(t, m, `{"name":"authors","schema":{"type":"object"}}`)
			mustType(t, m, `{"name":"posts","schema":{"type":"object"},"retention":{"keep_last":2},
				"references":{"author":{"type":"authors","on_delete":"cascade"}}}`)
			mustType(t, m, `{"name":"notes","schema":{"type":"object"},"references":{"about":{"type":"authors","on_delete":"set_null"}}}`)
			for _, w := range []struct{ typ, body string }{
				{"authors", `{"id":"a1","name":"A"}`},
				{"posts", `{"id":"p1","author":"a1","title":"one"}`},
				{"notes", `{"id":"n1","about":"a1"}`},
			} {
				if _, err := m.Create(ctx, w.typ, []byte(w.body), core.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := m.Replace(ctx, "posts", "p1", []byte(`{"author":"a1","title":"two"}`), core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			res, err := tc.write(m)
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("write: %v; want %v", err, tc.wantErr)
			case tc.wantErr == nil && err != nil:
				t.Fatalf("write: %v", err)
			case tc.wantRev != 0 && (res == nil || res.Revision.Number != tc.wantRev):
				t.Fatalf("write answered %+v; want revision %d", res, tc.wantRev)
			}
			for _, c := range tc.checks {
				c(t, m)
			}
		})
	}
}
