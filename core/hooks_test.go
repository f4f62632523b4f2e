package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

// syncBuffer is a log sink safe for the Manager's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openWithHooks opens a Manager with a fresh hook runtime over the data
// directory dir, as a server start does; cleanup closes everything, and
// so does the function it returns.
func openWithHooks(t *testing.T, dir string, log *slog.Logger) (*core.Manager, func()) {
	t.Helper()
	env := apptest.New(t, apptest.WithDir(dir), apptest.WithHooks(), apptest.WithCore(func(o *core.Options) { o.Logger = log }))
	return env.Manager, env.Close
}

func hookedDef(name, module string) core.Type {
	return core.Type{
		Name:   name,
		Schema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"}}}`),
		Hooks:  []core.HookBinding{{Stage: core.StageBeforeCreate, Module: module, TimeoutMS: 1000}},
	}
}

// TestStartupOrderOfHookModules: at start, modules stored by an earlier
// run are loaded by Open, before declared types are applied, so a
// declared type may bind them; a declared type binding an unknown module
// is refused naming it. A stored type whose module is gone is logged and
// keeps serving; its writes fail with ErrHookFailed naming the module.
func TestStartupOrderOfHookModules(t *testing.T) {
	ctx := core.AsSystem(context.Background())
	wasm, err := os.ReadFile(filepath.Join("..", "examples", "wasm-hooks", "build", "wat.wasm"))
	if err != nil {
		t.Fatalf("example hook not built (run `make hooks`): %v", err)
	}
	path := t.TempDir()

	m, closeAll := openWithHooks(t, path, nil)
	if _, err := m.RegisterHook(ctx, "titles", wasm); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RegisterHook(ctx, "doomed", wasm); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateType(ctx, hookedDef("orphaned", "doomed")); err != nil {
		t.Fatal(err)
	}
	closeAll()

	logs := &syncBuffer{}
	m, closeAll = openWithHooks(t, path, slog.New(slog.NewTextHandler(logs, nil)))
	if err := m.ApplyTypes(ctx, []core.Type{hookedDef("declared", "titles")}); err != nil {
		t.Fatalf("a declared type binding a stored module: %v", err)
	}
	res, err := m.Create(ctx, "declared", []byte(`{"title":"Stored Module"}`), core.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.Data), `"slug":"stored-module"`) {
		t.Fatalf("the stored module did not run: %s", res.Data)
	}
	err = m.ApplyTypes(ctx, []core.Type{hookedDef("broken", "nowhere")})
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("a declared type binding an unknown module: %v, want ErrInvalid naming it", err)
	}
	if _, err := m.Type("broken"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("the refused type was created: %v", err)
	}
	if err := m.RemoveHook(ctx, "doomed", false); !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "orphaned") {
		t.Fatalf("removing a bound module: %v, want ErrConflict naming the type", err)
	}
	if err := m.RemoveHook(ctx, "doomed", true); err != nil {
		t.Fatal(err)
	}
	closeAll()

	logs = &syncBuffer{}
	m, _ = openWithHooks(t, path, slog.New(slog.NewTextHandler(logs, nil)))
	if !strings.Contains(logs.String(), "type=orphaned hook=doomed") {
		t.Fatalf("a type bound to a missing module is not logged at start:\n%s", logs)
	}
	if _, err := m.Create(ctx, "orphaned", []byte(`{"title":"x"}`), core.WriteOptions{}); !errors.Is(err, core.ErrHookFailed) || !strings.Contains(err.Error(), "doomed") {
		t.Fatalf("write to a type whose module is gone: %v, want ErrHookFailed naming it", err)
	}
	if _, err := m.Create(ctx, "declared", []byte(`{"title":"still served"}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}
