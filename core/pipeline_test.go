package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/hooks"
	"github.com/strata-dev/strata/hooks/hookstest"
)

// timedHooks is a HookRunner whose module "slow" takes d per call: the
// handler blocks on a timer (or the call's end), as a busy WebAssembly
// hook would hold its caller.
type timedHooks struct {
	d time.Duration
}

func (h *timedHooks) RunHook(ctx context.Context, call core.HookCall) (*core.HookResult, error) {
	t := time.NewTimer(h.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &core.HookResult{Allow: true, SHA256: "timed"}, nil
}
func (h *timedHooks) RegisterHook(context.Context, string, []byte) (core.HookModule, error) {
	return core.HookModule{}, errors.New("timed hooks cannot register modules")
}
func (h *timedHooks) RemoveHook(context.Context, string) error { return nil }
func (h *timedHooks) HookModules() []core.HookModule           { return []core.HookModule{{Name: "slow"}} }

// countingHooks counts the hook calls of the runner it wraps.
type countingHooks struct {
	core.HookRunner
	calls atomic.Int64
}

func (h *countingHooks) RunHook(ctx context.Context, call core.HookCall) (*core.HookResult, error) {
	h.calls.Add(1)
	return h.HookRunner.RunHook(ctx, call)
}

// busyHooks is the hook runtime with the module "slow" registered: a
// module that computes for about d a call (calibrated here, so that a
// slow or -race build does not stretch it).
func busyHooks(tb testing.TB, d time.Duration) core.HookRunner {
	tb.Helper()
	ctx := tb.Context()
	r, err := hooks.New(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close(context.WithoutCancel(ctx)) })
	loops := uint32(1 << 18)
	for round := range 3 {
		if _, err := r.Register(ctx, "slow", hookstest.BusyLoop(loops)); err != nil {
			tb.Fatal(err)
		}
		took := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			if _, err := r.Call(ctx, "slow", hooks.Input{}, hooks.Limits{Timeout: time.Minute}); err != nil {
				tb.Fatal(err)
			}
			took = min(took, time.Since(start))
		}
		if round == 2 {
			tb.Logf("the busy hook loops %d times, %v a call", loops, took)
			break
		}
		loops = uint32(min(float64(loops)*float64(d)/float64(max(took, time.Microsecond)), 1<<31-1))
	}
	return hooks.CoreRunner(r)
}

// TestSlowHooksDoNotHoldOtherWrites: while 16 writers create and patch a
// type whose validate and before_update hooks take 50 ms each (four of
// them patching one hot resource), and two writers run batches of 100
// creates on it, creates on a type without hooks keep their latency.
// With hooks that wait (a Go runner that blocks on a timer), this checks
// that no hook runs inside the storage write transaction: before the
// pipeline, a batch held the transaction for its 100 hook calls (5 s) and
// plain creates waited behind it. With hooks that compute (a WebAssembly
// module that busy-loops), it also checks that hook calls leave the
// process a P to run other writes: as many computing calls as Ps held
// every P, and a plain create waited about 10 ms (Go's time slice) each
// time it blocked. Each load write has a deadline, as a server request
// has. The bound is generous (p99 under 1 s; a plain create alone takes a
// few ms); the figures are logged.
func TestSlowHooksDoNotHoldOtherWrites(t *testing.T) {
	for _, tc := range []struct {
		name    string
		runner  func(t *testing.T) core.HookRunner
		warm    int64 // hook calls before the measured creates
		batches int64 // batches committed before they end
	}{
		{"waiting", func(*testing.T) core.HookRunner { return &timedHooks{d: 50 * time.Millisecond} }, 200, 2},
		{"computing", func(t *testing.T) core.HookRunner { return busyHooks(t, 50*time.Millisecond) }, 40, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hooks := &countingHooks{HookRunner: tc.runner(t)}
			slowHookLoad(t, hooks, tc.warm, tc.batches)
		})
	}
}

func slowHookLoad(t *testing.T, hooks *countingHooks, warm, wantBatches int64) {
	m := newBoltManager(t, core.Options{Hooks: hooks})
	ctx := core.AsSystem(context.Background())
	mustType(t, m, `{"name":"hooked","schema":{"type":"object"},"hooks":[{"stage":"validate","module":"slow","timeout_ms":10000},{"stage":"before_update","module":"slow","timeout_ms":10000}]}`)
	mustType(t, m, `{"name":"plain","schema":{"type":"object"}}`)
	if _, err := m.Create(ctx, "hooked", []byte(`{"id":"hot","n":0}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	loadCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var loadErr atomic.Value
	var loadWrites, batches atomic.Int64
	fail := func(err error) {
		if err != nil && loadCtx.Err() == nil {
			loadErr.CompareAndSwap(nil, err)
		}
	}
	// request gives each load write the deadline a server request has.
	request := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(loadCtx, time.Minute)
	}
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				rctx, cancel := request()
				var err error
				if w < 4 {
					_, err = m.Patch(rctx, "hooked", "hot", core.MergePatch, []byte(fmt.Sprintf(`{"w%d":%d}`, w, i)), core.WriteOptions{})
				} else {
					_, err = m.Create(rctx, "hooked", []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)), core.WriteOptions{})
				}
				cancel()
				fail(err)
				loadWrites.Add(1)
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				ops := make([]core.Op, 100)
				for i := range ops {
					ops[i] = core.Op{Kind: core.OpCreate, Type: "hooked", Body: []byte(`{"batch":true}`)}
				}
				rctx, cancel := request()
				_, err := m.Batch(rctx, ops, core.WriteOptions{})
				cancel()
				fail(err)
				if err == nil {
					batches.Add(1)
				}
			}
		}()
	}
	// The load is under way once a batch's hooks have run a while.
	for hooks.calls.Load() < warm {
		if _, err := m.Create(ctx, "plain", []byte(`{"warm":true}`), core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Plain creates run until batches have committed, so they overlap
	// batches being staged and committed.
	var lat []time.Duration
	over := 0
	for len(lat) < 200 || batches.Load() < wantBatches {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		start := time.Now()
		_, err := m.Create(cctx, "plain", []byte(`{"a":1}`), core.WriteOptions{})
		d := time.Since(start)
		lat = append(lat, d)
		cancel()
		if err != nil {
			t.Errorf("plain create: %v", err)
		}
		if d > time.Second {
			if over++; over > 3 {
				break // the bound is missed: no need to wait for more
			}
		}
	}
	stop()
	wg.Wait()
	if err, _ := loadErr.Load().(error); err != nil {
		t.Fatalf("a hooked write failed: %v", err)
	}
	slices.Sort(lat)
	p50, p99, maxLat := lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	t.Logf("%d plain creates under hooked load: p50 %v, p99 %v, max %v; hooked writes %d, batches %d, hook calls %d",
		len(lat), p50, p99, maxLat, loadWrites.Load(), batches.Load(), hooks.calls.Load())
	if p99 > time.Second {
		t.Fatalf("plain creates waited for hooked writes: p99 %v (p50 %v, max %v)", p99, p50, maxLat)
	}
}

// TestBatchOpsSeeEarlierOps: a batch's operations on one resource are
// staged in order, each on the result of the ones before it, and hooks
// see that result as "previous".
func TestBatchOpsSeeEarlierOps(t *testing.T) {
	m := newBoltManager(t, core.Options{})
	ctx := core.AsSystem(context.Background())
	mustType(t, m, `{"name":"notes","schema":{"type":"object"}}`)
	var previous []string
	m.OnUpdate("notes").Bind(func(e *core.WriteEvent) error {
		previous = append(previous, string(e.Previous))
		return e.Next()
	})
	ops := []core.Op{
		{Kind: core.OpCreate, Type: "notes", Body: []byte(`{"id":"n1","a":1}`)},
		{Kind: core.OpPatch, Type: "notes", ID: "n1", PatchKind: core.MergePatch, Body: []byte(`{"b":2}`)},
		{Kind: core.OpPatch, Type: "notes", ID: "n1", PatchKind: core.JSONPatch, Body: []byte(`[{"op":"add","path":"/c","value":3}]`)},
		{Kind: core.OpReplace, Type: "notes", ID: "n1", Body: []byte(`{"d":4}`)},
		{Kind: core.OpDelete, Type: "notes", ID: "n1"},
		{Kind: core.OpRestore, Type: "notes", ID: "n1"},
		{Kind: core.OpSwitch, Type: "notes", ID: "n1", Revision: 2},
		{Kind: core.OpPatch, Type: "notes", ID: "n1", PatchKind: core.MergePatch, Body: []byte(`{"e":5}`)},
	}
	res, err := m.Batch(ctx, ops, core.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"a":1}`, `{"a":1,"b":2}`, `{"a":1,"b":2,"c":3}`, `{"d":4}`, "", `{"d":4}`, `{"a":1,"b":2}`, `{"a":1,"b":2,"e":5}`}
	for i, r := range res {
		got := ""
		if r != nil {
			got = string(r.Data)
		}
		if got != want[i] {
			t.Errorf("op %d left %s; want %s", i, got, want[i])
		}
	}
	wantPrev := []string{`{"a":1}`, `{"a":1,"b":2}`, `{"a":1,"b":2,"c":3}`, `{"a":1,"b":2}`}
	if !slices.Equal(previous, wantPrev) {
		t.Errorf("before_update handlers saw previous %q; want %q", previous, wantPrev)
	}

	// A failing operation names its index and nothing is written.
	_, err = m.Batch(ctx, []core.Op{
		{Kind: core.OpCreate, Type: "notes", Body: []byte(`{"id":"n2"}`)},
		{Kind: core.OpDelete, Type: "notes", ID: "n2"},
		{Kind: core.OpPatch, Type: "notes", ID: "n2", PatchKind: core.MergePatch, Body: []byte(`{"x":1}`)},
	}, core.WriteOptions{})
	var be *core.BatchError
	if !errors.As(err, &be) || be.Index != 2 || !errors.Is(err, core.ErrGone) {
		t.Fatalf("patch after delete in one batch: %v; want operation 2 gone", err)
	}
	if _, err := m.Get(ctx, "notes", "n2", core.GetOptions{IncludeDeleted: true}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("the failed batch wrote n2: %v", err)
	}
}

// TestStaleWriteIsStagedAgain: a patch whose resource another write moves
// while the patch's hooks run is staged again on the new revision, its
// hooks run again; a write whose resource moves at every attempt gives up
// after a bounded number of attempts with ErrConflict.
func TestStaleWriteIsStagedAgain(t *testing.T) {
	ctx := core.AsSystem(context.Background())
	cases := []struct {
		name     string
		moves    int // how many of the patch's attempts see the resource move
		wantRuns int
		wantErr  error
		wantData string
	}{
		{name: "moved once", moves: 1, wantRuns: 2, wantData: `{"n":0,"p":true}`},
		{name: "moved twice", moves: 2, wantRuns: 3, wantData: `{"n":1,"p":true}`},
		{name: "moved always", moves: 1000, wantRuns: 5, wantErr: core.ErrConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newBoltManager(t, core.Options{})
			mustType(t, m, `{"name":"t","schema":{"type":"object"}}`)
			if _, err := m.Create(ctx, "t", []byte(`{"id":"r","n":0}`), core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Replace(ctx, "t", "r", []byte(`{"n":1}`), core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			runs := 0
			m.OnUpdate("t").Bind(func(e *core.WriteEvent) error {
				runs++
				if runs <= tc.moves {
					// No transaction is open while handlers run, so a
					// handler may write; here it moves the resource
					// between its two revisions (a switch runs no chain).
					if _, err := m.Switch(e.Context, "t", "r", 2-runs%2, core.WriteOptions{}); err != nil {
						return err
					}
				}
				return e.Next()
			})
			res, err := m.Patch(ctx, "t", "r", core.MergePatch, []byte(`{"p":true}`), core.WriteOptions{})
			if runs != tc.wantRuns {
				t.Errorf("the hook ran %d times; want %d", runs, tc.wantRuns)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("patch: %v; want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Data) != tc.wantData {
				t.Fatalf("patch left %s; want %s", res.Data, tc.wantData)
			}
		})
	}
}
