package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/strata-dev/strata/core"
)

// Two users of an owner-only type, as outside testing ran them: A owns
// resources, B probes them.
const (
	leakDocs = `{"name":"docs","schema":{"type":"object","properties":{"text":{"type":"string"}}},
	  "permissions":{"read":["owner"],"create":["authenticated"],"update":["owner"],"delete":["owner"]}}`
	leakLinks = `{"name":"links","schema":{"type":"object","properties":{"doc":{"type":["string","null"]}}},
	  "references":{"doc":{"type":"docs","on_delete":"restrict"}},
	  "permissions":{"read":["owner"],"create":["authenticated"],"update":["owner"],"delete":["owner"]}}`
)

func leakManager(t *testing.T) (m *core.Manager, a, b, admin context.Context) {
	m = newBoltManager(t, core.Options{})
	mustType(t, m, leakDocs)
	mustType(t, m, leakLinks)
	a = core.WithPrincipal(t.Context(), core.Principal{ID: "key:a"})
	b = core.WithPrincipal(t.Context(), core.Principal{ID: "key:b"})
	admin = core.WithPrincipal(t.Context(), core.Principal{ID: "key:admin", Roles: []string{core.RoleAdmin}})
	for _, id := range []string{"a-live", "a-deleted"} {
		if _, err := m.Create(a, "docs", []byte(`{"id":"`+id+`","text":"secret"}`), core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Delete(a, "docs", "a-deleted", core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return m, a, b, admin
}

// answer is an error as a client sees it, with the probed id masked.
func answer(err error, id string) string {
	var ce *core.Error
	if !errors.As(err, &ce) {
		return "not a client error: " + err.Error()
	}
	return strings.ReplaceAll(ce.Error(), id, "ID")
}

// TestIDTakenSaysNothingMore: creating with an id that is taken answers
// the same, word for word, whether the resource is live, deleted or one
// the writer may not read, and names neither type nor id.
func TestIDTakenSaysNothingMore(t *testing.T) {
	m, a, b, _ := leakManager(t)
	cases := []struct {
		name string
		ctx  context.Context
		id   string
	}{
		{"own live", a, "a-live"},
		{"own deleted", a, "a-deleted"},
		{"other's live", b, "a-live"},
		{"other's deleted", b, "a-deleted"},
	}
	var first string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Create(tc.ctx, "docs", []byte(`{"id":"`+tc.id+`","text":"x"}`), core.WriteOptions{})
			if !errors.Is(err, core.ErrConflict) {
				t.Fatalf("got %v, want ErrConflict", err)
			}
			got := answer(err, tc.id)
			if strings.Contains(got, "ID") || strings.Contains(got, "docs") {
				t.Fatalf("the answer names the resource: %s", got)
			}
			if first == "" {
				first = got
			}
			if got != first {
				t.Fatalf("answer %q differs from %q", got, first)
			}
		})
	}
}

// TestReferenceNeedsRead: a reference to a resource the writer may not
// read is refused like one to a missing or deleted resource, so B can
// neither probe A's ids nor link to A's resources (and so block or be
// cascaded by A's delete).
func TestReferenceNeedsRead(t *testing.T) {
	m, a, b, _ := leakManager(t)
	var first string
	for _, id := range []string{"a-live", "a-deleted", "missing"} {
		t.Run("B links "+id, func(t *testing.T) {
			_, err := m.Create(b, "links", []byte(`{"doc":"`+id+`"}`), core.WriteOptions{})
			if !errors.Is(err, core.ErrConflict) {
				t.Fatalf("got %v, want ErrConflict", err)
			}
			got := answer(err, id)
			if first == "" {
				first = got
			}
			if got != first {
				t.Fatalf("answer %q differs from %q", got, first)
			}
		})
	}
	// B's link was refused, so A deletes its own resource freely.
	if err := m.Delete(a, "docs", "a-live", core.WriteOptions{}); err != nil {
		t.Fatalf("A's delete: %v", err)
	}
	// A may still link its own.
	if _, err := m.Restore(a, "docs", "a-live", core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(a, "links", []byte(`{"doc":"a-live"}`), core.WriteOptions{}); err != nil {
		t.Fatalf("A links its own: %v", err)
	}
}

// TestRestrictHidesUnreadableReferrers: when a delete is restricted by a
// referrer the actor may not read, the conflict does not name it.
func TestRestrictHidesUnreadableReferrers(t *testing.T) {
	m, a, _, admin := leakManager(t)
	link, err := m.Create(admin, "links", []byte(`{"doc":"a-live"}`), core.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Delete(a, "docs", "a-live", core.WriteOptions{})
	if !errors.Is(err, core.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict (restrict)", err)
	}
	if strings.Contains(err.Error(), link.ID) || strings.Contains(err.Error(), "links") {
		t.Fatalf("the conflict names a referrer A cannot read: %v", err)
	}
	// The administrator, who may read it, is told which.
	if err := m.Delete(admin, "docs", "a-live", core.WriteOptions{}); err == nil || !strings.Contains(err.Error(), link.ID) {
		t.Fatalf("admin's conflict: %v, want it to name %s", err, link.ID)
	}
}
