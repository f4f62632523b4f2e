package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

// eventHooks is a hook runtime whose before_* calls publish the events
// given for the call's type, and whose after_* calls are recorded.
type eventHooks struct {
	events map[string][]core.ChangeEvent // type → events its hooks publish

	mu    sync.Mutex
	after []string      // "stage type/id", in call order
	got   chan struct{} // one value per after_* call
}

func (h *eventHooks) RunHook(_ context.Context, call core.HookCall) (*core.HookResult, error) {
	if strings.HasPrefix(call.Stage, "after_") {
		h.mu.Lock()
		h.after = append(h.after, call.Stage+" "+call.Type+"/"+call.ID)
		h.mu.Unlock()
		h.got <- struct{}{}
		return &core.HookResult{Allow: true}, nil
	}
	return &core.HookResult{Allow: true, Events: h.events[call.Type]}, nil
}

func (h *eventHooks) RegisterHook(_ context.Context, name string, wasm []byte) (core.HookModule, error) {
	return core.HookModule{Name: name, Size: len(wasm)}, nil
}
func (h *eventHooks) RemoveHook(context.Context, string) error { return nil }
func (h *eventHooks) HookModules() []core.HookModule {
	return []core.HookModule{{Name: "emit"}}
}

// entry is a change-log entry in short: "action type/id rev", and for an
// event its type and data.
func entry(ch core.Change) string {
	s := fmt.Sprintf("%s %s/%s %d", ch.Action, ch.Type, ch.ID, ch.Revision)
	if ch.Event != nil {
		s += " " + ch.Event.Type + " " + string(ch.Event.Data)
	}
	return s
}

// changesAfter lists the entries after since, in short.
func changesAfter(t *testing.T, m *core.Manager, since uint64) []string {
	t.Helper()
	page, err := m.Changes(core.AsSystem(t.Context()), since, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, ch := range page.Items {
		out = append(out, entry(ch))
	}
	return out
}

// TestHookEvents: the events hooks publish (a hook runtime's and Go
// handlers' Emit) are appended to the change log in the write's
// transaction, after the write's own entry, compacted, naming the
// resource and its revision; in a batch, each after its own operation.
// The after_* runner and the search index pass over them: the runner runs
// the hooks of the writes only, and a search that waits for the index to
// reach the last entry answers.
func TestHookEvents(t *testing.T) {
	ctx := core.AsSystem(t.Context())
	hooks := &eventHooks{got: make(chan struct{}, 16), events: map[string][]core.ChangeEvent{
		"notes": {{Type: "note.checked", Data: json.RawMessage(`{ "by" : "wasm" }`)}},
	}}
	m := apptest.New(t, apptest.WithIndex(), apptest.WithCore(func(o *core.Options) { o.Hooks = hooks })).Manager
	_, err := m.CreateType(ctx, core.Type{Name: "notes",
		Schema: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`),
		Hooks: []core.HookBinding{
			{Stage: core.StageBeforeCreate, Module: "emit"},
			{Stage: core.StageAfterCreate, Module: "emit"},
			{Stage: core.StageAfterDelete, Module: "emit"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	m.OnCreate("notes").Bind(func(e *core.WriteEvent) error {
		if err := e.Emit("note.created", json.RawMessage(`{"n": `+fmt.Sprint(e.ID == "b")+`}`)); err != nil {
			return err
		}
		return e.Next()
	})
	m.OnDelete("notes").Bind(func(e *core.WriteEvent) error {
		if err := e.Emit("note.deleted", nil); err != nil {
			return err
		}
		return e.Next()
	})
	before := m.LastSeq()
	if _, err := m.Create(ctx, "notes", []byte(`{"id":"a","n":1}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "notes", "a", core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = m.Batch(ctx, []core.Op{
		{Kind: core.OpCreate, Type: "notes", Body: []byte(`{"id":"b","n":1}`)},
		{Kind: core.OpCreate, Type: "notes", Body: []byte(`{"id":"c","n":2}`)},
	}, core.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"create notes/a 1",
		`event notes/a 1 note.checked {"by":"wasm"}`,
		`event notes/a 1 note.created {"n":false}`,
		"delete notes/a 1",
		"event notes/a 1 note.deleted null",
		"create notes/b 1",
		`event notes/b 1 note.checked {"by":"wasm"}`,
		`event notes/b 1 note.created {"n":true}`,
		"create notes/c 1",
		`event notes/c 1 note.checked {"by":"wasm"}`,
		`event notes/c 1 note.created {"n":false}`,
	}
	if got := changesAfter(t, m, before); !slices.Equal(got, want) {
		t.Fatalf("change log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The index reaches the last entry (the search waits for it) and
	// reflects the writes.
	page, err := m.Search(ctx, "notes", core.ListOptions{}, core.ListQuery{Filter: "n = 1"})
	if err != nil {
		t.Fatalf("search after events: %v", err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != "b" {
		t.Fatalf("search found %+v, want b", page.Items)
	}
	// The after_* runner ran the hooks of the writes, in order, and none
	// for the events.
	for range 4 {
		select {
		case <-hooks.got:
		case <-time.After(time.Minute):
			t.Fatal("the after hooks did not run")
		}
	}
	hooks.mu.Lock()
	after := slices.Clone(hooks.after)
	hooks.mu.Unlock()
	if w := []string{"after_create notes/a", "after_delete notes/a", "after_create notes/b", "after_create notes/c"}; !slices.Equal(after, w) {
		t.Fatalf("after hooks %v, want %v", after, w)
	}
	if n := m.AfterHookFailures(); n != 0 {
		t.Fatalf("%d after hooks failed", n)
	}
}

// TestHookEventsRefused: a write whose hooks publish events but that is
// rejected or fails publishes none of them, and events beyond the limits
// fail the write (500 hook_failed) whoever publishes them.
func TestHookEventsRefused(t *testing.T) {
	ctx := core.AsSystem(t.Context())
	big := json.RawMessage(`"` + strings.Repeat("x", core.MaxWriteEventBytes) + `"`)
	many := make([]core.ChangeEvent, core.MaxWriteEvents+1)
	for i := range many {
		many[i] = core.ChangeEvent{Type: "e"}
	}
	emit := func(typ string, data json.RawMessage) func(e *core.WriteEvent) error {
		return func(e *core.WriteEvent) error {
			if err := e.Emit(typ, data); err != nil {
				return err
			}
			return e.Next()
		}
	}
	reject := func(e *core.WriteEvent) error { return e.Reject("no") }
	fail := func(*core.WriteEvent) error { return errors.New("disk on fire") }
	cases := []struct {
		name    string
		wasm    []core.ChangeEvent               // what the type's hook publishes
		handler []func(e *core.WriteEvent) error // before_create handlers
		wantErr error
		detail  string // in the error's text
	}{
		{"a later handler rejects", nil, []func(*core.WriteEvent) error{emit("ok", nil), reject}, core.ErrValidation, "no"},
		{"a later handler fails", nil, []func(*core.WriteEvent) error{emit("ok", nil), fail}, core.ErrHookFailed, "disk on fire"},
		{"a handler rejects after the hook published", []core.ChangeEvent{{Type: "ok"}}, []func(*core.WriteEvent) error{reject}, core.ErrValidation, "no"},
		{"empty type", nil, []func(*core.WriteEvent) error{emit("", nil)}, core.ErrHookFailed, "empty"},
		{"type too long", nil, []func(*core.WriteEvent) error{emit(strings.Repeat("t", core.MaxEventTypeLength+1), nil)}, core.ErrHookFailed, "longer than"},
		{"control character", nil, []func(*core.WriteEvent) error{emit("a\nb", nil)}, core.ErrHookFailed, "control"},
		{"data not JSON", nil, []func(*core.WriteEvent) error{emit("e", json.RawMessage(`{"a":`))}, core.ErrHookFailed, "data"},
		{"data not UTF-8", nil, []func(*core.WriteEvent) error{emit("e", json.RawMessage("\"\xff\""))}, core.ErrHookFailed, "UTF-8"},
		{"data too large", nil, []func(*core.WriteEvent) error{emit("e", big)}, core.ErrHookFailed, "exceed"},
		{"hook: empty type", []core.ChangeEvent{{Type: ""}}, nil, core.ErrHookFailed, "hook emit (before_create)"},
		{"hook: too many", many, nil, core.ErrHookFailed, "more than"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ := fmt.Sprintf("t%d", i)
			hooks := &eventHooks{got: make(chan struct{}, 1), events: map[string][]core.ChangeEvent{typ: tc.wasm}}
			m := apptest.New(t, apptest.WithCore(func(o *core.Options) { o.Hooks = hooks })).Manager
			def := core.Type{Name: typ, Schema: json.RawMessage(`{"type":"object"}`)}
			if tc.wasm != nil {
				def.Hooks = []core.HookBinding{{Stage: core.StageBeforeCreate, Module: "emit"}}
			}
			if _, err := m.CreateType(ctx, def); err != nil {
				t.Fatal(err)
			}
			for _, h := range tc.handler {
				m.OnCreate(typ).Bind(h)
			}
			before := m.LastSeq()
			_, err := m.Create(ctx, typ, []byte(`{}`), core.WriteOptions{})
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("create: %v, want %v with %q", err, tc.wantErr, tc.detail)
			}
			if got := changesAfter(t, m, before); len(got) != 0 || m.LastSeq() != before {
				t.Fatalf("a refused write published %v", got)
			}
		})
	}
}
