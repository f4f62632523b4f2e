package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/core"
)

// The permission matrix of server/permissions_test.go, driven through the
// Manager alone: the same three types, the same five principals, and for
// each operation the outcome HTTP renders as the status there (401 is
// ErrUnauthenticated, 403 ErrForbidden, 404 ErrNotFound).
var coreRoles = []string{"anonymous", "authenticated", "editor", "owner", "admin"}

var corePrincipals = map[string]core.Principal{
	"anonymous":     {},
	"authenticated": {ID: "key:someone"},
	"editor":        {ID: "key:editor", Roles: []string{"editor"}},
	"owner":         {ID: "key:owner"},
	"admin":         {ID: "key:admin", Roles: []string{core.RoleAdmin}},
}

const (
	coreNotes = `{"name":"notes","schema":{"type":"object","properties":{"text":{"type":"string"}}},
	  "permissions":{"read":["owner","role:editor"],"create":["authenticated"],"update":["owner"],
	                 "delete":["owner"],"admin":["role:editor"]}}`
	corePosts = `{"name":"posts","schema":{"type":"object","properties":{"text":{"type":"string"}}},
	  "permissions":{"read":["public"],"create":["authenticated"],"update":["owner","role:editor"],
	                 "delete":["role:editor"]}}`
	coreSecrets = `{"name":"secrets","schema":{"type":"object","properties":{"text":{"type":"string"}}}}`
)

var corePermissionMatrix = []struct {
	row      string // "<type> <operation>"
	outcomes string // per role: ok, 401, 403 or 404
}{
	{"notes get", "401 404 ok ok ok"},
	{"notes list", "401 ok ok ok ok"},
	{"notes count", "401 ok ok ok ok"},
	{"notes revisions", "401 404 ok ok ok"},
	{"notes revision", "401 404 ok ok ok"},
	{"notes diff", "401 404 ok ok ok"},
	{"notes referrers", "401 404 ok ok ok"},
	{"notes create", "401 ok ok ok ok"},
	{"notes patch", "401 404 403 ok ok"},
	{"notes replace", "401 404 403 ok ok"},
	{"notes delete", "401 404 403 ok ok"},
	{"notes restore", "401 404 403 ok ok"},
	{"notes switch", "401 404 ok 403 ok"},
	{"notes purge", "401 404 ok 403 ok"},
	{"notes batch", "401 404 403 ok ok"},
	{"notes type", "401 ok ok ok ok"},
	{"notes updatetype", "401 403 ok 403 ok"},

	{"posts get", "ok ok ok ok ok"},
	{"posts list", "ok ok ok ok ok"},
	{"posts count", "ok ok ok ok ok"},
	{"posts revisions", "ok ok ok ok ok"},
	{"posts revision", "ok ok ok ok ok"},
	{"posts diff", "ok ok ok ok ok"},
	{"posts referrers", "ok ok ok ok ok"},
	{"posts create", "401 ok ok ok ok"},
	{"posts patch", "401 403 ok ok ok"},
	{"posts replace", "401 403 ok ok ok"},
	{"posts delete", "401 403 ok 403 ok"},
	{"posts restore", "401 403 ok 403 ok"},
	{"posts switch", "401 403 403 403 ok"},
	{"posts purge", "401 403 403 403 ok"},
	{"posts batch", "401 403 ok ok ok"},
	{"posts type", "ok ok ok ok ok"},
	{"posts updatetype", "401 403 403 403 ok"},

	{"secrets get", "401 404 404 404 ok"},
	{"secrets list", "401 404 404 404 ok"},
	{"secrets count", "401 404 404 404 ok"},
	{"secrets revisions", "401 404 404 404 ok"},
	{"secrets revision", "401 404 404 404 ok"},
	{"secrets diff", "401 404 404 404 ok"},
	{"secrets referrers", "401 404 404 404 ok"},
	{"secrets create", "401 404 404 404 ok"},
	{"secrets patch", "401 404 404 404 ok"},
	{"secrets replace", "401 404 404 404 ok"},
	{"secrets delete", "401 404 404 404 ok"},
	{"secrets restore", "401 404 404 404 ok"},
	{"secrets switch", "401 404 404 404 ok"},
	{"secrets purge", "401 404 404 404 ok"},
	{"secrets batch", "401 404 404 404 ok"},
	{"secrets type", "401 404 404 404 ok"},
	{"secrets updatetype", "401 404 404 404 ok"},

	{"- createtype", "401 403 403 403 ok"},
	{"- changes", "ok ok ok ok ok"},
}

// outcome names an error as the matrix does.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, core.ErrUnauthenticated):
		return "401"
	case errors.Is(err, core.ErrForbidden):
		return "403"
	case errors.Is(err, core.ErrNotFound):
		return "404"
	}
	return "error: " + err.Error()
}

func TestCorePermissionMatrix(t *testing.T) {
	m := newBoltManager(t, core.Options{})
	defs := map[string]string{"notes": coreNotes, "posts": corePosts, "secrets": coreSecrets}
	for _, def := range defs {
		mustType(t, m, def)
	}
	as := func(role string) context.Context {
		return core.WithPrincipal(t.Context(), corePrincipals[role])
	}
	sys := core.AsSystem(t.Context())
	body := []byte(`{"text":"changed"}`)
	newTypes := 0
	for _, row := range corePermissionMatrix {
		typ, op, _ := strings.Cut(row.row, " ")
		want := strings.Fields(row.outcomes)
		for i, role := range coreRoles {
			t.Run(row.row+"/"+role, func(t *testing.T) {
				var id string
				if typ != "-" {
					creator := as("owner")
					if typ == "secrets" {
						creator = as("admin")
					}
					res, err := m.Create(creator, typ, []byte(`{"text":"fixture"}`), core.WriteOptions{})
					if err != nil {
						t.Fatal(err)
					}
					id = res.ID
					if op == "restore" {
						if err := m.Delete(sys, typ, id, core.WriteOptions{}); err != nil {
							t.Fatal(err)
						}
					}
				}
				ctx := as(role)
				var err error
				switch op {
				case "get":
					_, err = m.Get(ctx, typ, id, core.GetOptions{})
				case "list":
					var page *core.Page
					if page, err = m.List(ctx, typ, core.ListOptions{Limit: core.MaxPageSize}); err == nil {
						sees := slices.ContainsFunc(page.Items, func(r *core.Resource) bool { return r.ID == id })
						mayRead := typ == "posts" || role == "admin" || typ == "notes" && role != "authenticated"
						if sees != mayRead {
							t.Fatalf("%s lists %s: sees the fixture = %v, want %v", role, typ, sees, mayRead)
						}
					}
				case "count":
					_, err = m.Count(ctx, typ, false)
				case "revisions":
					_, err = m.Revisions(ctx, typ, id, core.ListOptions{})
				case "revision":
					_, err = m.Get(ctx, typ, id, core.GetOptions{Revision: 1})
				case "diff":
					_, err = m.Diff(ctx, typ, id, 1, 1)
				case "referrers":
					_, err = m.Referrers(ctx, typ, id)
				case "create":
					_, err = m.Create(ctx, typ, body, core.WriteOptions{})
				case "patch":
					_, err = m.Patch(ctx, typ, id, core.MergePatch, body, core.WriteOptions{})
				case "replace":
					_, err = m.Replace(ctx, typ, id, body, core.WriteOptions{})
				case "delete":
					err = m.Delete(ctx, typ, id, core.WriteOptions{})
				case "restore":
					_, err = m.Restore(ctx, typ, id, core.WriteOptions{})
				case "switch":
					_, err = m.Switch(ctx, typ, id, 1, core.WriteOptions{})
				case "purge":
					err = m.Purge(ctx, typ, id, core.WriteOptions{})
				case "batch":
					_, err = m.Batch(ctx, []core.Op{{Kind: core.OpPatch, Type: typ, ID: id, Body: body}}, core.WriteOptions{})
					var be *core.BatchError
					if err != nil && (!errors.As(err, &be) && outcome(err) != "404" || be != nil && be.Index != 0) {
						t.Fatalf("batch error %v does not name operation 0", err)
					}
				case "type":
					_, err = m.TypeFor(ctx, typ)
				case "updatetype":
					var def core.Type
					if err := json.Unmarshal([]byte(defs[typ]), &def); err != nil {
						t.Fatal(err)
					}
					_, err = m.UpdateType(ctx, def)
				case "createtype":
					newTypes++
					_, err = m.CreateType(ctx, core.Type{Name: fmt.Sprintf("t%d", newTypes), Schema: []byte(`{"type":"object"}`)})
				case "changes":
					var page *core.ChangePage
					if page, err = m.Changes(ctx, 0, nil, core.MaxPageSize); err == nil {
						for _, ch := range page.Items {
							readable := ch.Type == "posts" || role == "admin" || ch.Type == "notes" && role == "editor"
							if !readable {
								t.Fatalf("%s sees a change of %s", role, ch.Type)
							}
						}
					}
				default:
					t.Fatalf("unknown operation %q", op)
				}
				if got := outcome(err); got != want[i] {
					t.Fatalf("%s %s as %s: %s, want %s", op, typ, role, got, want[i])
				}
			})
		}
	}
}

// TestCoreHiddenTypeLikeUnknown: a type the principal has no permission on
// answers every Manager call exactly as a type that does not exist.
func TestCoreHiddenTypeLikeUnknown(t *testing.T) {
	m := newBoltManager(t, core.Options{})
	mustType(t, m, coreSecrets)
	if _, err := m.Create(core.AsSystem(t.Context()), "secrets", []byte(`{"id":"s1","text":"x"}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(ctx context.Context, typ string) error{
		"type": func(ctx context.Context, typ string) error { _, err := m.TypeFor(ctx, typ); return err },
		"get": func(ctx context.Context, typ string) error {
			_, err := m.Get(ctx, typ, "s1", core.GetOptions{})
			return err
		},
		"list": func(ctx context.Context, typ string) error {
			_, err := m.List(ctx, typ, core.ListOptions{})
			return err
		},
		"count": func(ctx context.Context, typ string) error { _, err := m.Count(ctx, typ, false); return err },
		"create": func(ctx context.Context, typ string) error {
			_, err := m.Create(ctx, typ, []byte(`{}`), core.WriteOptions{})
			return err
		},
		"patch": func(ctx context.Context, typ string) error {
			_, err := m.Patch(ctx, typ, "s1", core.MergePatch, []byte(`{}`), core.WriteOptions{})
			return err
		},
		"delete": func(ctx context.Context, typ string) error { return m.Delete(ctx, typ, "s1", core.WriteOptions{}) },
		"revisions": func(ctx context.Context, typ string) error {
			_, err := m.Revisions(ctx, typ, "s1", core.ListOptions{})
			return err
		},
		"referrers": func(ctx context.Context, typ string) error { _, err := m.Referrers(ctx, typ, "s1"); return err },
		"switch": func(ctx context.Context, typ string) error {
			_, err := m.Switch(ctx, typ, "s1", 1, core.WriteOptions{})
			return err
		},
		"droptype": func(ctx context.Context, typ string) error { return m.DeleteType(ctx, typ) },
	}
	for _, who := range []string{"authenticated", "anonymous"} {
		ctx := core.WithPrincipal(t.Context(), corePrincipals[who])
		for name, call := range calls {
			t.Run(who+" "+name, func(t *testing.T) {
				hidden, unknown := call(ctx, "secrets"), call(ctx, "nothing")
				h := strings.ReplaceAll(fmt.Sprint(hidden), "secrets", "T")
				u := strings.ReplaceAll(fmt.Sprint(unknown), "nothing", "T")
				if h != u {
					t.Fatalf("hidden type: %s; unknown type: %s", h, u)
				}
				want := map[string]string{"authenticated": "404", "anonymous": "401"}[who]
				if got := outcome(hidden); got != want {
					t.Fatalf("%s, want %s", got, want)
				}
			})
		}
	}
}
