package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

// fakeHooks is a HookRunner whose answers the test decides: data, when
// set, is what every before_* hook returns; block, when set, is entered
// (signalled on entered) by the first call of a module named "slow" and
// held until it is closed.
type fakeHooks struct {
	data    json.RawMessage
	entered chan struct{}
	block   chan struct{}
	once    sync.Once
	mu      sync.Mutex
	calls   int
}

func (f *fakeHooks) RunHook(ctx context.Context, call core.HookCall) (*core.HookResult, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if call.Module == "slow" && f.block != nil {
		first := false
		f.once.Do(func() { first = true })
		if first {
			close(f.entered)
			select {
			case <-f.block:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	res := &core.HookResult{Allow: true, SHA256: "fake"}
	if strings.HasPrefix(call.Stage, "before_") {
		res.Data = f.data
	}
	return res, nil
}

// The fake also answers as a registry, so a type may bind its modules
// wherever bindings are checked against the registered modules.
func (f *fakeHooks) RegisterHook(context.Context, string, []byte) (core.HookModule, error) {
	return core.HookModule{}, errors.New("fake hooks cannot register modules")
}
func (f *fakeHooks) RemoveHook(context.Context, string) error { return nil }
func (f *fakeHooks) HookModules() []core.HookModule {
	return []core.HookModule{{Name: "big"}, {Name: "slow"}}
}

// newBoltManager opens a Manager over a bbolt file in a temporary
// directory.
func newBoltManager(tb testing.TB, opts core.Options) *core.Manager {
	tb.Helper()
	return apptest.New(tb, apptest.WithCore(func(o *core.Options) { *o = opts })).Manager
}

func mustType(tb testing.TB, m *core.Manager, def string) {
	tb.Helper()
	var t core.Type
	if err := json.Unmarshal([]byte(def), &t); err != nil {
		tb.Fatal(err)
	}
	if _, err := m.CreateType(core.AsSystem(context.Background()), t); err != nil {
		tb.Fatalf("create type %s: %v", t.Name, err)
	}
}

// TestMaxDocumentSize drives every write path past MaxDocumentSize: each
// fails with ErrTooLarge and writes nothing (the change log does not move).
func TestMaxDocumentSize(t *testing.T) {
	const limit = 1000
	big := strings.Repeat("x", limit)
	hooks := &fakeHooks{}
	m := newBoltManager(t, core.Options{MaxDocumentSize: limit, Hooks: hooks})
	ctx := core.AsSystem(context.Background())
	mustType(t, m, `{"name":"docs","schema":{"type":"object"}}`)
	mustType(t, m, `{"name":"hooked","schema":{"type":"object"},"hooks":[{"stage":"before_create","module":"big"}]}`)
	if _, err := m.Create(ctx, "docs", []byte(`{"id":"d1","obj":{"a":"0123456789012345678901234567890123456789"}}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A hook that answers with more data than the limit.
	hooks.data = json.RawMessage(`{"pad":"` + big + `"}`)

	cases := []struct {
		name  string
		write func() error
	}{
		{"create", func() error {
			_, err := m.Create(ctx, "docs", []byte(`{"pad":"`+big+`"}`), core.WriteOptions{})
			return err
		}},
		{"replace", func() error {
			_, err := m.Replace(ctx, "docs", "d1", []byte(`{"pad":"`+big+`"}`), core.WriteOptions{})
			return err
		}},
		{"merge patch", func() error {
			_, err := m.Patch(ctx, "docs", "d1", core.MergePatch, []byte(`{"pad":"`+big[:limit-20]+`"}`), core.WriteOptions{})
			return err
		}},
		{"JSON Patch add", func() error {
			_, err := m.Patch(ctx, "docs", "d1", core.JSONPatch, []byte(`[{"op":"add","path":"/pad","value":"`+big[:limit-50]+`"}]`), core.WriteOptions{})
			return err
		}},
		{"JSON Patch copies", func() error {
			var ops []string
			for i := range 30 {
				ops = append(ops, fmt.Sprintf(`{"op":"copy","from":"/obj","path":"/obj/k%d"}`, i))
			}
			_, err := m.Patch(ctx, "docs", "d1", core.JSONPatch, []byte("["+strings.Join(ops, ",")+"]"), core.WriteOptions{})
			return err
		}},
		{"patch larger than the limit", func() error {
			_, err := m.Patch(ctx, "docs", "d1", core.MergePatch, []byte(`{"pad":null,"x":"`+big+`"}`), core.WriteOptions{})
			return err
		}},
		{"before_create hook output", func() error {
			_, err := m.Create(ctx, "hooked", []byte(`{"small":true}`), core.WriteOptions{})
			return err
		}},
		{"batch", func() error {
			_, err := m.Batch(ctx, []core.Op{
				{Kind: core.OpCreate, Type: "docs", ID: "d2", Body: []byte(`{"a":1}`)},
				{Kind: core.OpPatch, Type: "docs", ID: "d2", PatchKind: core.MergePatch, Body: []byte(`{"pad":"` + big[:limit-10] + `"}`)},
			}, core.WriteOptions{})
			var be *core.BatchError
			if !errors.As(err, &be) || be.Index != 1 {
				t.Errorf("batch error %v does not name operation 1", err)
			}
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seq := m.LastSeq()
			err := c.write()
			if !errors.Is(err, core.ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), "1000") {
				t.Errorf("error %q does not name the limit", err)
			}
			if m.LastSeq() != seq {
				t.Fatalf("change log moved from %d to %d: something was written", seq, m.LastSeq())
			}
		})
	}
	res, err := m.Get(ctx, "docs", "d1", core.GetOptions{})
	if err != nil || res.Revision.Number != 1 {
		t.Fatalf("d1 after the refused writes: %v, %v", res, err)
	}
	// Data at the limit is stored.
	hooks.data = nil
	fit := `{"pad":"` + big[:limit-len(`{"pad":""}`)] + `"}`
	if _, err := m.Create(ctx, "docs", []byte(fit), core.WriteOptions{}); err != nil {
		t.Fatalf("data of exactly the limit: %v", err)
	}
}

// TestJSONPatchOperationLimit: a JSON Patch of more than MaxPatchOps
// operations is refused before it is applied; MaxPatchOps is accepted.
func TestJSONPatchOperationLimit(t *testing.T) {
	m := newBoltManager(t, core.Options{})
	ctx := core.AsSystem(context.Background())
	mustType(t, m, `{"name":"docs","schema":{"type":"object"}}`)
	if _, err := m.Create(ctx, "docs", []byte(`{"id":"d1","n":1}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := func(n int) []byte {
		ops := make([]string, n)
		for i := range ops {
			ops[i] = `{"op":"test","path":"/n","value":1}`
		}
		return []byte("[" + strings.Join(ops, ",") + ",\n" + `{"op":"replace","path":"/n","value":2}]`)
	}
	for _, c := range []struct {
		ops     int // including the final replace
		wantErr error
	}{
		{core.MaxPatchOps, nil},
		{core.MaxPatchOps + 1, core.ErrInvalid},
	} {
		t.Run(fmt.Sprint(c.ops), func(t *testing.T) {
			seq := m.LastSeq()
			_, err := m.Patch(ctx, "docs", "d1", core.JSONPatch, patch(c.ops-1), core.WriteOptions{})
			if c.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.Patch(ctx, "docs", "d1", core.MergePatch, []byte(`{"n":1}`), core.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), fmt.Sprint(core.MaxPatchOps)) {
				t.Fatalf("err = %v, want %v naming %d", err, c.wantErr, core.MaxPatchOps)
			}
			if m.LastSeq() != seq {
				t.Fatal("a refused patch wrote")
			}
		})
	}
}

// TestSlowWriteHoldsNoTypeLock: while a write is stuck in a slow hook, a
// type change of its own type, a new type and writes to another type all
// complete; the slow write then commits under the new definition of its
// type (it is prepared again: it never straddles the change).
func TestSlowWriteHoldsNoTypeLock(t *testing.T) {
	hooks := &fakeHooks{entered: make(chan struct{}), block: make(chan struct{})}
	m := newBoltManager(t, core.Options{Hooks: hooks})
	ctx := core.AsSystem(context.Background())
	mustType(t, m, `{"name":"slowed","schema":{"type":"object"},"hooks":[{"stage":"before_update","module":"slow","timeout_ms":600000}]}`)
	mustType(t, m, `{"name":"other","schema":{"type":"object"}}`)
	if _, err := m.Create(ctx, "slowed", []byte(`{"id":"s1","n":1}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(hooks.block)
		}
	}
	defer release()

	type result struct {
		res *core.Resource
		err error
	}
	slow := make(chan result, 1)
	go func() {
		res, err := m.Patch(ctx, "slowed", "s1", core.JSONPatch, []byte(`[{"op":"replace","path":"/n","value":2}]`), core.WriteOptions{})
		slow <- result{res, err}
	}()
	<-hooks.entered

	// Every step below must finish while the hook is blocked. Before the
	// fix they waited for it for ever; the timer only turns that into a
	// failure instead of a hung test.
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			def, err := m.Type("slowed")
			if err != nil {
				return err
			}
			def.Schema = json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`)
			if _, err := m.UpdateType(ctx, def); err != nil {
				return fmt.Errorf("update the slow write's type: %w", err)
			}
			if _, err := m.CreateType(ctx, core.Type{Name: "fresh", Schema: json.RawMessage(`{"type":"object"}`)}); err != nil {
				return fmt.Errorf("create a type: %w", err)
			}
			if _, err := m.Create(ctx, "other", []byte(`{"a":1}`), core.WriteOptions{}); err != nil {
				return fmt.Errorf("create on another type: %w", err)
			}
			if _, err := m.Create(ctx, "fresh", []byte(`{"a":1}`), core.WriteOptions{}); err != nil {
				return fmt.Errorf("create on the new type: %w", err)
			}
			return nil
		}()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a type change or a write waited for a slow write's hook")
	}
	select {
	case r := <-slow:
		t.Fatalf("the slow write finished while its hook was blocked: %v, %v", r.res, r.err)
	default:
	}

	release()
	r := <-slow
	if r.err != nil {
		t.Fatalf("slow write: %v", r.err)
	}
	cur, err := m.Type("slowed")
	if err != nil {
		t.Fatal(err)
	}
	if r.res.Revision.Number != 2 || r.res.Revision.SchemaVersion != cur.SchemaVersion || string(r.res.Data) != `{"n":2}` {
		t.Fatalf("slow write committed %+v under schema version %d, want revision 2 {\"n\":2} under %d",
			r.res.Revision, r.res.Revision.SchemaVersion, cur.SchemaVersion)
	}
	hooks.mu.Lock()
	calls := hooks.calls
	hooks.mu.Unlock()
	if calls != 2 {
		t.Fatalf("the hook ran %d times; want 2 (prepared again after the type changed)", calls)
	}
}
