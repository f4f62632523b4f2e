package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/strata-dev/strata/core"
)

// users is a public-read type with a hidden password hash.
const hiddenUsers = `{"name":"users","schema":{"type":"object","properties":{
	  "name":{"type":"string"},"password_hash":{"type":"string"}}},
	  "hidden":["password_hash"],
	  "permissions":{"read":["public"],"create":["public"],"update":["public"]}}`

// TestHiddenFieldsStripped: a hidden field leaves core only for
// administrators, whatever the read: get, a revision, list, many, the
// response of a write or a batch, and the diff between revisions.
func TestHiddenFieldsStripped(t *testing.T) {
	m := newBoltManager(t, core.Options{})
	mustType(t, m, hiddenUsers)
	anon := t.Context()
	admin := core.WithPrincipal(t.Context(), core.Principal{ID: "key:admin", Roles: []string{core.RoleAdmin}})

	created, err := m.Create(anon, "users", []byte(`{"id":"u1","name":"ann","password_hash":"h1"}`), core.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	patched, err := m.Patch(anon, "users", "u1", core.MergePatch, []byte(`{"password_hash":"h2"}`), core.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := m.Batch(anon, []core.Op{{Kind: core.OpPatch, Type: "users", ID: "u1", Body: []byte(`{"password_hash":"h3","name":"bea"}`)}}, core.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reads := map[string]func(ctx context.Context) (string, error){
		"create response": func(context.Context) (string, error) { return dataOf(created), nil },
		"patch response":  func(context.Context) (string, error) { return dataOf(patched), nil },
		"batch response":  func(context.Context) (string, error) { return dataOf(batch[0]), nil },
		"revisions": func(ctx context.Context) (string, error) {
			p, err := m.Revisions(ctx, "users", "u1", core.ListOptions{})
			if err != nil {
				return "", err
			}
			b, err := json.Marshal(p.Items)
			return string(b), err
		},
		"get": func(ctx context.Context) (string, error) {
			r, err := m.Get(ctx, "users", "u1", core.GetOptions{})
			return dataOf(r), err
		},
		"revision 1": func(ctx context.Context) (string, error) {
			r, err := m.Get(ctx, "users", "u1", core.GetOptions{Revision: 1})
			return dataOf(r), err
		},
		"list": func(ctx context.Context) (string, error) {
			p, err := m.List(ctx, "users", core.ListOptions{})
			if err != nil {
				return "", err
			}
			return dataOf(p.Items[0]), nil
		},
		"get many": func(ctx context.Context) (string, error) {
			rs, err := m.GetMany(ctx, "users", []string{"u1"}, core.GetOptions{})
			if err != nil {
				return "", err
			}
			return dataOf(rs[0]), nil
		},
		"diff": func(ctx context.Context) (string, error) {
			d, err := m.Diff(ctx, "users", "u1", 1, 3)
			return string(d), err
		},
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			got, err := read(anon)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(got, "password_hash") || strings.Contains(got, `"h1"`) ||
				strings.Contains(got, `"h2"`) || strings.Contains(got, `"h3"`) || strings.Contains(got, "sha256:") {
				t.Fatalf("anonymous sees the hidden field: %s", got)
			}
			if name == "diff" && !strings.Contains(got, "bea") {
				t.Fatalf("the diff lost the visible change: %s", got)
			}
			if strings.HasSuffix(name, "response") {
				return
			}
			want := "password_hash"
			if name == "revisions" {
				want = "sha256:"
			}
			if got, err = read(admin); err != nil || !strings.Contains(got, want) {
				t.Fatalf("admin: %s, %v; want the hidden field", got, err)
			}
		})
	}
}

// dataOf is what a read shows of a resource: its data and the data hash,
// which covers hidden fields too.
func dataOf(r *core.Resource) string {
	if r == nil {
		return "<nil>"
	}
	return string(r.Data) + " " + r.Revision.DataHash
}

// TestHiddenMustBeProperties: hidden names top-level schema properties.
func TestHiddenMustBeProperties(t *testing.T) {
	m := newBoltManager(t, core.Options{})
	for _, hidden := range []string{`["nope"]`, `["name","name"]`} {
		def := core.Type{Name: "x", Schema: []byte(`{"type":"object","properties":{"name":{"type":"string"}}}`)}
		if err := json.Unmarshal([]byte(hidden), &def.Hidden); err != nil {
			t.Fatal(err)
		}
		if _, err := m.CreateType(core.AsSystem(t.Context()), def); !errors.Is(err, core.ErrInvalid) {
			t.Fatalf("hidden %s: got %v, want ErrInvalid", hidden, err)
		}
	}
}
