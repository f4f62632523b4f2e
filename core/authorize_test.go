package core_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/strata-dev/strata/core"
)

// TestAuthorizedAgainstWhatIsWritten: a write is authorized against the
// resource it commits over, not only the one it was staged on. B's hooked
// replace of its own note is staged; while its before_update handler runs
// (no transaction open), an administrator purges the note and A creates
// one under the same id. B's commit must then find A's note, which B may
// not read: 404, and A's note unchanged. Before, the owner check ran once,
// before staging, and B's write replaced A's note.
func TestAuthorizedAgainstWhatIsWritten(t *testing.T) {
	tests := []struct {
		name  string
		write func(m *core.Manager, b core.Principal) error
	}{
		{"replace", func(m *core.Manager, b core.Principal) error {
			_, err := m.Replace(core.WithPrincipal(t.Context(), b), "notes", "x", []byte(`{"text":"by b"}`), core.WriteOptions{})
			return err
		}},
		{"patch", func(m *core.Manager, b core.Principal) error {
			_, err := m.Patch(core.WithPrincipal(t.Context(), b), "notes", "x", core.MergePatch, []byte(`{"text":"by b"}`), core.WriteOptions{})
			return err
		}},
		{"batch", func(m *core.Manager, b core.Principal) error {
			_, err := m.Batch(core.WithPrincipal(t.Context(), b), []core.Op{{Kind: core.OpReplace, Type: "notes", ID: "x", Body: []byte(`{"text":"by b"}`)}}, core.WriteOptions{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newBoltManager(t, core.Options{})
			mustType(t, m, `{"name":"notes","schema":{"type":"object","properties":{"text":{"type":"string"}}},
			  "permissions":{"read":["owner"],"create":["authenticated"],"update":["owner"],"delete":["owner"]}}`)
			a, b := core.Principal{ID: "key:a"}, core.Principal{ID: "key:b"}
			admin := core.WithPrincipal(t.Context(), core.Principal{ID: "key:admin", Roles: []string{core.RoleAdmin}})
			if _, err := m.Create(core.WithPrincipal(t.Context(), b), "notes", []byte(`{"id":"x","text":"b's"}`), core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			m.OnUpdate("notes").Bind(func(e *core.WriteEvent) error {
				var err error
				once.Do(func() {
					if err = m.Purge(admin, "notes", "x", core.WriteOptions{}); err != nil {
						return
					}
					_, err = m.Create(core.WithPrincipal(t.Context(), a), "notes", []byte(`{"id":"x","text":"a's"}`), core.WriteOptions{})
				})
				if err != nil {
					t.Errorf("purge and re-create: %v", err)
				}
				return e.Next()
			})
			if err := tt.write(m, b); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("B's write over A's note: %v, want ErrNotFound", err)
			}
			got, err := m.Get(core.WithPrincipal(t.Context(), a), "notes", "x", core.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Data) != `{"text":"a's"}` || got.Meta.UpdatedBy != a.ID {
				t.Errorf("A's note is now %s, updated by %s", got.Data, got.Meta.UpdatedBy)
			}
		})
	}
}

// TestUnwritableSeenByNothing: a write to a resource the writer may not
// write fails before anything is made of the resource's data: a JSON
// Patch "test" answers the same whether its value matches or not, and no
// hook is called.
func TestUnwritableSeenByNothing(t *testing.T) {
	m := newBoltManager(t, core.Options{})
	mustType(t, m, `{"name":"notes","schema":{"type":"object","properties":{"text":{"type":"string"}}},
	  "permissions":{"read":["owner"],"create":["authenticated"],"update":["owner"],"delete":["owner"]}}`)
	a := core.WithPrincipal(t.Context(), core.Principal{ID: "key:a"})
	b := core.WithPrincipal(t.Context(), core.Principal{ID: "key:b"})
	if _, err := m.Create(a, "notes", []byte(`{"id":"x","text":"secret"}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	for _, h := range []*core.Hook[*core.WriteEvent]{m.OnValidate("notes"), m.OnUpdate("notes"), m.OnDelete("notes")} {
		h.Bind(func(e *core.WriteEvent) error { calls.Add(1); return e.Next() })
	}
	tests := []struct {
		name  string
		write func() error
	}{
		{"patch test matching", func() error {
			_, err := m.Patch(b, "notes", "x", core.JSONPatch, []byte(`[{"op":"test","path":"/text","value":"secret"}]`), core.WriteOptions{})
			return err
		}},
		{"patch test not matching", func() error {
			_, err := m.Patch(b, "notes", "x", core.JSONPatch, []byte(`[{"op":"test","path":"/text","value":"guess"}]`), core.WriteOptions{})
			return err
		}},
		{"replace", func() error {
			_, err := m.Replace(b, "notes", "x", []byte(`{"text":"b"}`), core.WriteOptions{})
			return err
		}},
		{"delete", func() error { return m.Delete(b, "notes", "x", core.WriteOptions{}) }},
		{"batch", func() error {
			_, err := m.Batch(b, []core.Op{{Kind: core.OpPatch, Type: "notes", ID: "x", PatchKind: core.MergePatch, Body: []byte(`{"text":"b"}`)}}, core.WriteOptions{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.write()
			if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "notes/x not found") {
				t.Errorf("got %v, want notes/x not found", err)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("hooks were called %d times for writes B may not do", n)
	}
}
