package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/sdk/storage"
)

// flakyStore follows a script for the views of a context not marked
// spared: each entry fails one view (true), as a disk that returns I/O
// errors for a while would, or lets it through (false).
type flakyStore struct {
	storage.Store
	mu     sync.Mutex
	script []bool
}

type spared struct{}

var errFlaky = errors.New("flaky: read failed")

func (s *flakyStore) View(ctx context.Context, fn func(tx storage.Tx) error) error {
	if ctx.Value(spared{}) == nil {
		s.mu.Lock()
		fail := len(s.script) > 0 && s.script[0]
		if len(s.script) > 0 {
			s.script = s.script[1:]
		}
		s.mu.Unlock()
		if fail {
			return errFlaky
		}
	}
	return s.Store.View(ctx, fn)
}

// recordingHooks is a hook runtime that records each call it gets.
type recordingHooks struct {
	mu      sync.Mutex
	calls   map[string]int // stage, resource and request id -> calls
	got     chan struct{}  // one value per call
	modules []core.HookModule
}

func (h *recordingHooks) RunHook(_ context.Context, call core.HookCall) (*core.HookResult, error) {
	h.mu.Lock()
	h.calls[fmt.Sprintf("%s %s/%s %s data=%s", call.Stage, call.Type, call.ID, call.RequestID, call.Data)]++
	h.mu.Unlock()
	h.got <- struct{}{}
	return &core.HookResult{Allow: true}, nil
}

func (h *recordingHooks) RegisterHook(_ context.Context, name string, wasm []byte) (core.HookModule, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	mod := core.HookModule{Name: name, Size: len(wasm)}
	h.modules = append(h.modules, mod)
	return mod, nil
}

func (h *recordingHooks) RemoveHook(context.Context, string) error { return nil }

// HookModules lists what was registered, so that types may bind it.
func (h *recordingHooks) HookModules() []core.HookModule {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.modules)
}

// TestAfterHooksRetryReadErrors makes the store fail the after_* hook
// runner's reads several times in a row and checks that the runner backs
// off (doubling waits on synctest's fake clock), logs the stall once and
// its end once, shows its lag meanwhile, and then runs the hooks of every
// change exactly once. Before, the first failed read stopped it for good.
func TestAfterHooksRetryReadErrors(t *testing.T) {
	const F, P = true, false
	fails := func(n int) []bool { return slices.Repeat([]bool{F}, n) }
	cases := []struct {
		name    string
		script  []bool        // the runner's reads: the change log, then each change's data
		stalled time.Duration // the backoff waits, summed
	}{
		{"one failure", fails(1), 100 * time.Millisecond},
		{"five failures", fails(5), (100 + 200 + 400 + 800 + 1600) * time.Millisecond},
		{"past the cap", fails(12), (100+200+400+800+1600+3200+6400+12800+25600)*time.Millisecond + 3*30*time.Second},
		// The hooks of a ran before b's data could not be read; they
		// are not run again.
		{"in the middle of a page", []bool{F, P, P, F, F}, (100 + 200 + 400) * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := core.AsSystem(t.Context())
				var store *flakyStore
				hooks := &recordingHooks{calls: map[string]int{}, got: make(chan struct{}, 16)}
				var logs bytes.Buffer
				m := apptest.New(t,
					apptest.WithStoreWrap(func(bs storage.Store) storage.Store { store = &flakyStore{Store: bs}; return store }),
					apptest.WithCore(func(o *core.Options) {
						o.Hooks, o.Logger = hooks, slog.New(slog.NewTextHandler(&logs, nil))
					})).Manager
				if _, err := m.RegisterHook(ctx, "audit", []byte("\x00asm")); err != nil {
					t.Fatal(err)
				}
				_, err := m.CreateType(ctx, core.Type{Name: "notes", Schema: []byte(`{"type":"object"}`), Hooks: []core.HookBinding{
					{Stage: core.StageAfterCreate, Module: "audit"}, {Stage: core.StageAfterUpdate, Module: "audit"},
				}})
				if err != nil {
					t.Fatal(err)
				}
				synctest.Wait() // the runner waits for a change
				start := time.Now()

				// The test's own writes read too; only the runner's fail.
				ctx = context.WithValue(ctx, spared{}, true)
				store.mu.Lock()
				store.script = tc.script
				store.mu.Unlock()
				for _, id := range []string{"a", "b", "c"} {
					if _, err := m.Create(ctx, "notes", []byte(`{"id":"`+id+`","n":1}`), core.WriteOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := m.Patch(ctx, "notes", "b", core.MergePatch, []byte(`{"n":2}`), core.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
				synctest.Wait() // the runner failed and waits out its backoff
				if st := m.AfterHooksStatus(); !errors.Is(st.Err, errFlaky) || st.Lag < 4 || st.Failures < 1 || !st.FailingSince.Equal(start) {
					t.Fatalf("status while failing: %+v", st)
				}
				for range 4 {
					<-hooks.got
				}
				synctest.Wait() // the runner is idle again
				if d := time.Since(start); d != tc.stalled {
					t.Errorf("the runner resumed after %v, want %v of backoff\n%s", d, tc.stalled, logs.String())
				}
				if st := m.AfterHooksStatus(); st.Err != nil || st.Lag != 0 || st.Seq != m.LastSeq() || st.Failures != 0 {
					t.Errorf("status after recovery: %+v (last seq %d)", st, m.LastSeq())
				}
				seq := m.LastSeq()
				want := []string{
					fmt.Sprintf(`after_create notes/a change-%d data={"n":1}`, seq-3),
					fmt.Sprintf(`after_create notes/b change-%d data={"n":1}`, seq-2),
					fmt.Sprintf(`after_create notes/c change-%d data={"n":1}`, seq-1),
					fmt.Sprintf(`after_update notes/b change-%d data={"n":2}`, seq),
				}
				hooks.mu.Lock()
				for _, k := range want {
					if hooks.calls[k] != 1 {
						t.Errorf("%s: %d calls, want 1; calls: %v", k, hooks.calls[k], hooks.calls)
					}
				}
				if len(hooks.calls) != len(want) {
					t.Errorf("calls %v, want %v", hooks.calls, want)
				}
				hooks.mu.Unlock()
				if n := strings.Count(logs.String(), "after hooks: stalled"); n != 1 {
					t.Errorf("the stall was logged %d times, want once:\n%s", n, logs.String())
				}
				if n := strings.Count(logs.String(), "after hooks: resumed"); n != 1 {
					t.Errorf("the recovery was logged %d times, want once:\n%s", n, logs.String())
				}
			})
		})
	}
}
