package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/sdk/storage"
)

// orderHooks is a HookRunner that records the order of its calls as
// "wasm:<module>" in a shared log and allows every write.
type orderHooks struct{ log *[]string }

func (h orderHooks) RunHook(_ context.Context, call core.HookCall) (*core.HookResult, error) {
	*h.log = append(*h.log, "wasm:"+call.Module+":"+call.Stage)
	return &core.HookResult{Allow: true, SHA256: "rec"}, nil
}
func (h orderHooks) RegisterHook(context.Context, string, []byte) (core.HookModule, error) {
	return core.HookModule{}, errors.New("not here")
}
func (h orderHooks) RemoveHook(context.Context, string) error { return nil }
func (h orderHooks) HookModules() []core.HookModule {
	return []core.HookModule{{Name: "w1"}, {Name: "w2"}}
}

// TestWriteChains drives Go handlers bound with OnValidate, OnCreate,
// OnUpdate and OnDelete next to the type's WebAssembly bindings: the
// WebAssembly bindings run first, in binding order, then the Go handlers in
// bind order; a handler that does not call Next ends the chain; a
// rejection is a validation error and writes nothing; a before_* handler
// may replace the data, which is checked against the schema again.
func TestWriteChains(t *testing.T) {
	ctx := core.AsSystem(context.Background())
	cases := []struct {
		name    string
		bind    func(m *core.Manager, log *[]string)
		write   func(m *core.Manager) (*core.Resource, error)
		wantLog []string
		wantErr error
		want    string // the data written
	}{
		{
			name: "order of a create",
			bind: func(m *core.Manager, log *[]string) {
				m.OnValidate("posts").Bind(func(e *core.WriteEvent) error { *log = append(*log, "go:validate"); return e.Next() })
				m.OnCreate("posts").Bind(func(e *core.WriteEvent) error { *log = append(*log, "go:create1"); return e.Next() })
				m.OnCreate("posts").Bind(func(e *core.WriteEvent) error { *log = append(*log, "go:create2"); return e.Next() })
				m.OnUpdate("posts").Bind(func(e *core.WriteEvent) error { *log = append(*log, "go:update"); return e.Next() })
			},
			write: func(m *core.Manager) (*core.Resource, error) {
				return m.Create(ctx, "posts", []byte(`{"id":"p1","title":"a"}`), core.WriteOptions{})
			},
			wantLog: []string{"wasm:w1:validate", "go:validate", "wasm:w2:before_create", "go:create1", "go:create2"},
			want:    `{"title":"a"}`,
		},
		{
			name: "a handler that does not call Next ends the chain",
			bind: func(m *core.Manager, log *[]string) {
				m.OnCreate("posts").Bind(func(e *core.WriteEvent) error { *log = append(*log, "go:stop"); return nil })
				m.OnCreate("posts").Bind(func(e *core.WriteEvent) error { *log = append(*log, "go:never"); return e.Next() })
			},
			write: func(m *core.Manager) (*core.Resource, error) {
				return m.Create(ctx, "posts", []byte(`{"id":"p1","title":"a"}`), core.WriteOptions{})
			},
			wantLog: []string{"wasm:w1:validate", "wasm:w2:before_create", "go:stop"},
			want:    `{"title":"a"}`,
		},
		{
			name: "a rejection writes nothing",
			bind: func(m *core.Manager, log *[]string) {
				m.OnValidate("posts").Bind(func(e *core.WriteEvent) error {
					return e.Reject("no shouting", core.FieldError{Path: "/title", Message: "must not be all caps"})
				})
			},
			write: func(m *core.Manager) (*core.Resource, error) {
				return m.Create(ctx, "posts", []byte(`{"id":"p1","title":"A"}`), core.WriteOptions{})
			},
			wantLog: []string{"wasm:w1:validate"},
			wantErr: core.ErrValidation,
		},
		{
			name: "a plain error is a failed hook",
			bind: func(m *core.Manager, log *[]string) {
				m.OnCreate("posts").Bind(func(e *core.WriteEvent) error { return errors.New("disk on fire") })
			},
			write: func(m *core.Manager) (*core.Resource, error) {
				return m.Create(ctx, "posts", []byte(`{"id":"p1","title":"a"}`), core.WriteOptions{})
			},
			wantLog: []string{"wasm:w1:validate", "wasm:w2:before_create"},
			wantErr: core.ErrHookFailed,
		},
		{
			name: "a before handler replaces the data",
			bind: func(m *core.Manager, log *[]string) {
				m.OnCreate("posts").Bind(func(e *core.WriteEvent) error {
					var d map[string]any
					if err := json.Unmarshal(e.Data, &d); err != nil {
						return err
					}
					d["slug"] = strings.ToLower(d["title"].(string))
					e.Data, _ = json.Marshal(d)
					return e.Next()
				})
			},
			write: func(m *core.Manager) (*core.Resource, error) {
				return m.Create(ctx, "posts", []byte(`{"id":"p1","title":"Hello"}`), core.WriteOptions{})
			},
			wantLog: []string{"wasm:w1:validate", "wasm:w2:before_create"},
			want:    `{"slug":"hello","title":"Hello"}`,
		},
		{
			name: "replaced data is checked against the schema",
			bind: func(m *core.Manager, log *[]string) {
				m.OnCreate("posts").Bind(func(e *core.WriteEvent) error {
					e.Data = json.RawMessage(`{"title":42}`)
					return e.Next()
				})
			},
			write: func(m *core.Manager) (*core.Resource, error) {
				return m.Create(ctx, "posts", []byte(`{"id":"p1","title":"a"}`), core.WriteOptions{})
			},
			wantLog: []string{"wasm:w1:validate", "wasm:w2:before_create"},
			wantErr: core.ErrValidation,
		},
		{
			name: "update and delete chains see the previous data",
			bind: func(m *core.Manager, log *[]string) {
				m.OnUpdate("posts").Bind(func(e *core.WriteEvent) error {
					*log = append(*log, "go:update "+string(e.Previous)+" -> "+string(e.Data))
					return e.Next()
				})
				m.OnDelete("posts").Bind(func(e *core.WriteEvent) error {
					*log = append(*log, "go:delete "+string(e.Data))
					return e.Next()
				})
			},
			write: func(m *core.Manager) (*core.Resource, error) {
				if _, err := m.Patch(ctx, "posts", "old", core.MergePatch, []byte(`{"title":"b"}`), core.WriteOptions{}); err != nil {
					return nil, err
				}
				return nil, m.Delete(ctx, "posts", "old", core.WriteOptions{})
			},
			wantLog: []string{"wasm:w1:validate", `go:update {"title":"a"} -> {"title":"b"}`, `go:delete {"title":"b"}`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			m := apptest.New(t, apptest.WithCore(func(o *core.Options) { o.Hooks = orderHooks{&log} })).Manager
			mustType(t, m, `{"name":"posts","schema":{"type":"object","properties":{"title":{"type":"string"}}},
				"hooks":[{"stage":"validate","module":"w1"},{"stage":"before_create","module":"w2"}]}`)
			if _, err := m.Create(ctx, "posts", []byte(`{"id":"old","title":"a"}`), core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			log = nil
			tc.bind(m, &log)
			res, err := tc.write(m)
			if !slices.Equal(log, tc.wantLog) {
				t.Errorf("handlers ran %q; want %q", log, tc.wantLog)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("write: %v; want %v", err, tc.wantErr)
				}
				if _, err := m.Get(ctx, "posts", "p1", core.GetOptions{}); !errors.Is(err, core.ErrNotFound) {
					t.Fatalf("the refused write was stored: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && string(res.Data) != tc.want {
				t.Fatalf("wrote %s; want %s", res.Data, tc.want)
			}
		})
	}
}

// TestUnbind: an unbound handler no longer runs; others stay.
func TestUnbind(t *testing.T) {
	var h core.Hook[*core.WriteEvent]
	var ran []string
	a := h.Bind(func(e *core.WriteEvent) error { ran = append(ran, "a"); return e.Next() })
	h.Bind(func(e *core.WriteEvent) error { ran = append(ran, "b"); return e.Next() })
	h.Unbind(a)
	if err := h.Trigger(&core.WriteEvent{}); err != nil {
		t.Fatal(err)
	}
	if h.Len() != 1 || !slices.Equal(ran, []string{"b"}) {
		t.Fatalf("after Unbind: %d handlers, ran %q; want 1, [b]", h.Len(), ran)
	}
}

// Go code that embeds Strata binds its own handlers to a type's stages;
// they run in the same chain as the type's WebAssembly hooks.
func ExampleManager_OnCreate() {
	ctx := core.AsSystem(context.Background())
	store, _ := memory.Open(ctx, "", storage.OpenOptions{})
	defer store.Close()
	m, _ := core.Open(ctx, store, core.Options{})
	defer m.Close()
	_, _ = m.CreateType(ctx, core.Type{Name: "posts", Schema: json.RawMessage(`{"type":"object"}`)})

	m.OnValidate("posts").Bind(func(e *core.WriteEvent) error {
		var post struct{ Title string }
		if err := json.Unmarshal(e.Data, &post); err != nil || post.Title == "" {
			return e.Reject("a post needs a title", core.FieldError{Path: "/title", Message: "required"})
		}
		return e.Next()
	})
	m.OnCreate("posts").Bind(func(e *core.WriteEvent) error {
		var post map[string]any
		_ = json.Unmarshal(e.Data, &post)
		post["slug"] = strings.ReplaceAll(strings.ToLower(post["title"].(string)), " ", "-")
		e.Data, _ = json.Marshal(post)
		return e.Next()
	})

	post, _ := m.Create(ctx, "posts", []byte(`{"title":"Hello World"}`), core.WriteOptions{})
	fmt.Println(string(post.Data))
	_, err := m.Create(ctx, "posts", []byte(`{"body":"untitled"}`), core.WriteOptions{})
	fmt.Println(errors.Is(err, core.ErrValidation), err)
	// Output:
	// {"slug":"hello-world","title":"Hello World"}
	// true core: validation failed: a post needs a title; /title required
}
