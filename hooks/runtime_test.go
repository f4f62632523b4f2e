package hooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCallEcho(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	register(t, r, "posts_validate", module(t, "echo"))
	full := sampleInput()
	full.Stage = "before_update"
	full.Previous = []byte(`{"title":"Old"}`)
	full.Config = []byte(`{"max":3}`)
	tests := []struct {
		name string
		in   Input
		want map[string]any
	}{
		{
			name: "full",
			in:   full,
			want: map[string]any{
				"abi": 1.0, "hook": "posts_validate", "stage": "before_update", "type": "posts", "id": "0193abcd",
				"data":      map[string]any{"title": "Hello", "body": "A post of some length, to make the envelope realistic.", "tags": []any{"a", "b"}, "views": 12.0},
				"previous":  map[string]any{"title": "Old"},
				"principal": map[string]any{"id": "alice", "roles": []any{"editor"}},
				"request":   map[string]any{"id": "req-1", "time": "2025-01-02T03:04:05Z"},
				"config":    map[string]any{"max": 3.0},
			},
		},
		{
			name: "minimal",
			in:   Input{Stage: "after_delete", Type: "posts", ID: "x"},
			want: map[string]any{
				"abi": 1.0, "hook": "posts_validate", "stage": "after_delete", "type": "posts", "id": "x",
				"data": nil, "request": map[string]any{"id": "", "time": ""},
			},
		},
		{
			name: "large",
			in:   Input{Stage: "validate", Type: "blobs", ID: "big", Data: []byte(`"` + strings.Repeat("x", 200_000) + `"`)},
			want: map[string]any{
				"abi": 1.0, "hook": "posts_validate", "stage": "validate", "type": "blobs", "id": "big",
				"data": strings.Repeat("x", 200_000), "request": map[string]any{"id": "", "time": ""},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Call(t.Context(), "posts_validate", tc.in, relaxed)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Output.Allow || res.Output.Errors != nil || res.Output.Events != nil {
				t.Errorf("output %+v", res.Output)
			}
			var got map[string]any
			if err := json.Unmarshal(res.Output.Data, &got); err != nil {
				t.Fatalf("data %s: %v", res.Output.Data, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("input envelope\n got %v\nwant %v", got, tc.want)
			}
			info, _ := r.Module("posts_validate")
			if res.SHA256 != info.SHA256 || res.Duration <= 0 || res.MemoryBytes < wasmPageBytes {
				t.Errorf("result sha256=%s duration=%v memory=%d", res.SHA256, res.Duration, res.MemoryBytes)
			}
			if !strings.HasPrefix(string(res.Raw), `{"allow":true,"data":{"abi":1,"hook":"posts_validate"`) {
				t.Errorf("raw output %.80s", res.Raw)
			}
		})
	}
}

func TestCallOutput(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	register(t, r, "reject", module(t, "reject"))
	res, err := r.Call(t.Context(), "reject", sampleInput(), relaxed)
	if err != nil {
		t.Fatal(err)
	}
	want := Output{
		Allow:  false,
		Errors: []OutputError{{Path: "/title", Message: "title must not shout"}},
		Events: []OutputEvent{{Type: "post.flagged", Data: json.RawMessage(`{"n":1}`)}},
	}
	if !reflect.DeepEqual(res.Output, want) {
		t.Errorf("output\n got %+v\nwant %+v", res.Output, want)
	}
}

func TestDecodeOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    Output
		wantErr bool
	}{
		{raw: `{"allow":true}`, want: Output{Allow: true}},
		{raw: `{"allow":true,"data":null}`, want: Output{Allow: true}},
		{raw: `{"allow":true,"data":{"a":1},"extra":1}`, want: Output{Allow: true, Data: json.RawMessage(`{"a":1}`)}},
		{raw: `{"allow":false,"errors":[{"path":"","message":"no"}]}`, want: Output{Errors: []OutputError{{Message: "no"}}}},
		{raw: `{"allow":"yes"}`, wantErr: true},
		{raw: `{"allow":null}`, wantErr: true},
		{raw: `{}`, wantErr: true},
		{raw: `null`, wantErr: true},
		{raw: `{"allow":true,"events":[{"data":1}]}`, wantErr: true},
		{raw: `{"allow":true} x`, wantErr: true},
		{raw: ``, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := decodeOutput([]byte(tc.raw))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	echo, allow := module(t, "echo"), module(t, "allow")
	before := time.Now()
	info := register(t, r, "b-hook", echo)
	sum := sha256.Sum256(echo)
	if info.Name != "b-hook" || info.SHA256 != hex.EncodeToString(sum[:]) || info.Size != len(echo) ||
		info.RegisteredAt.Before(before.Add(-time.Second)) || info.RegisteredAt.After(time.Now()) {
		t.Errorf("info %+v", info)
	}
	register(t, r, "a_hook", allow)
	register(t, r, "c0", allow)
	var names []string
	for _, m := range r.Modules() {
		names = append(names, m.Name)
	}
	if want := []string{"a_hook", "b-hook", "c0"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Modules() = %v, want %v", names, want)
	}
	if got, ok := r.Module("b-hook"); !ok || got != info {
		t.Errorf("Module(b-hook) = %+v, %v", got, ok)
	}
	if _, ok := r.Module("nope"); ok {
		t.Error("Module(nope) found")
	}

	if err := r.Remove(t.Context(), "c0"); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove(t.Context(), "c0"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v, want ErrNotFound", err)
	}
	if _, err := r.Call(t.Context(), "c0", sampleInput(), Limits{}); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrHookFailed) {
		t.Errorf("Call of a removed module: %v, want ErrNotFound", err)
	}
	if len(r.Modules()) != 2 {
		t.Errorf("Modules() = %v", r.Modules())
	}
}

func TestRegisterInvalid(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	allow := module(t, "allow")
	tests := []struct {
		name, module string
		wasm         []byte
		detail       string
	}{
		{name: "empty name", module: "", wasm: allow, detail: "name"},
		{name: "upper case", module: "Posts", wasm: allow, detail: "name"},
		{name: "slash", module: "a/b", wasm: allow, detail: "name"},
		{name: "too long", module: strings.Repeat("a", 65), wasm: allow, detail: "name"},
		{name: "not wasm", module: "garbage", wasm: []byte("\x00asm garbage"), detail: "garbage"},
		{name: "empty", module: "empty", wasm: nil, detail: "empty"},
		{name: "truncated", module: "truncated", wasm: allow[:len(allow)/2], detail: "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Register(t.Context(), tc.module, tc.wasm)
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("Register: %v, want ErrInvalidModule", err)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("%q does not mention %q", err, tc.detail)
			}
		})
	}
	if n := len(r.Modules()); n != 0 {
		t.Errorf("%d modules registered", n)
	}
	// A long but valid name is fine.
	register(t, r, strings.Repeat("a", 64), allow)
}

func TestInitializeOncePerInstance(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, WithPoolSize(1))
	register(t, r, "init", module(t, "init"))
	for range 5 {
		callAllow(t, r, "init")
	}
	if n := r.instantiations.load(); n != 1 {
		t.Errorf("%d instances created, want 1", n)
	}
}

func TestPool(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		module string
		opts   []Option
		calls  int
		want   int64 // instances created, pre-warmed ones included
	}{
		{name: "reuse", module: "allow", calls: 50, want: 2},
		{name: "no prewarm", module: "allow", opts: []Option{WithPoolSize(0)}, calls: 50, want: 1},
		{name: "recycle after 3 calls", module: "allow", opts: []Option{WithPoolSize(1), WithRecycleAfter(3)}, calls: 10, want: 4},
		{name: "recycle after every call", module: "allow", opts: []Option{WithPoolSize(1), WithRecycleAfter(1)}, calls: 5, want: 6},
		{name: "recycle after every call, no prewarm", module: "allow", opts: []Option{WithPoolSize(0), WithRecycleAfter(1)}, calls: 5, want: 5},
		{name: "recycle on memory growth", module: "grow", opts: []Option{WithPoolSize(1)}, calls: 3, want: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, tc.opts...)
			register(t, r, "m", module(t, tc.module))
			for range tc.calls {
				res := callAllow(t, r, "m")
				r.refills.Wait()
				if res.Duration <= 0 {
					t.Fatalf("duration %v", res.Duration)
				}
				if r.cfg.poolSize > 0 {
					// With pre-warming, a recycled instance is replaced
					// in the background: every call finds one ready.
					checkPooled(t, r, "m")
				}
			}
			if n := r.instantiations.load(); n != tc.want {
				t.Errorf("%d instances created, want %d", n, tc.want)
			}
		})
	}
}

// checkPooled fails the test unless name has an idle instance.
func checkPooled(tb testing.TB, r *Runtime, name string) {
	tb.Helper()
	r.mu.RLock()
	e := r.mods[name]
	r.mu.RUnlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, idle := range e.pools {
		n += len(idle)
	}
	if n == 0 {
		tb.Errorf("no idle instance of %s", name)
	}
}

func TestPoolMaxIdle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		poolSize, wantIdle int
	}{
		{poolSize: 0, wantIdle: DefaultMaxIdle},
		{poolSize: 2, wantIdle: DefaultMaxIdle},
		{poolSize: 12, wantIdle: 12},
	}
	for _, tc := range tests {
		cfg := defaultConfig()
		WithPoolSize(tc.poolSize)(&cfg)
		e := &entry{pools: map[uint32][]*instance{}}
		for range 20 {
			e.put(t.Context(), &instance{pages: 256}, cfg.maxIdle())
		}
		e.put(t.Context(), &instance{pages: 512}, cfg.maxIdle())
		if n := len(e.pools[256]); n != tc.wantIdle {
			t.Errorf("pool size %d: %d idle instances kept, want %d", tc.poolSize, n, tc.wantIdle)
		}
		if n := len(e.pools[512]); n != 1 {
			t.Errorf("pool size %d: %d idle instances with another limit, want 1", tc.poolSize, n)
		}
	}
}

func TestMemoryLimits(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, WithMaxMemoryMB(64))
	register(t, r, "min_over_call", hostile(t, "min_over_call"))
	register(t, r, "grow", module(t, "grow"))
	tests := []struct {
		name   string
		module string
		lim    Limits
		reason string // "" for success
	}{
		{name: "default limit too small", module: "min_over_call", reason: ReasonMemory},
		{name: "15 MiB too small", module: "min_over_call", lim: Limits{MemoryMB: 15}, reason: ReasonMemory},
		{name: "17 MiB enough", module: "min_over_call", lim: Limits{MemoryMB: 17, Timeout: 5 * time.Second}},
		{name: "clamped to the maximum", module: "min_over_call", lim: Limits{MemoryMB: 100_000, Timeout: 5 * time.Second}},
		{name: "growth within 8 MiB", module: "grow", lim: Limits{MemoryMB: 8, Timeout: 5 * time.Second}},
		{name: "growth beyond 4 MiB", module: "grow", lim: Limits{MemoryMB: 4}, reason: ReasonMemory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Call(t.Context(), tc.module, sampleInput(), tc.lim)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.MemoryBytes > uint32(max(tc.lim.MemoryMB, 0))<<20 && tc.lim.MemoryMB < 64 {
					t.Errorf("memory %d over the limit", res.MemoryBytes)
				}
				return
			}
			var ce *CallError
			if !errors.As(err, &ce) || ce.Reason != tc.reason {
				t.Fatalf("got %v, want reason %s", err, tc.reason)
			}
		})
	}
	if _, err := New(t.Context(), WithMaxMemoryMB(4096)); err == nil {
		t.Error("New accepted a 4096 MiB maximum")
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	h := &recordHandler{}
	r := newRuntime(t, WithLogger(slog.New(h)))
	register(t, r, "log", module(t, "log"))
	res := callAllow(t, r, "log")
	want := []LogLine{
		{Level: levelDebug, Message: "debug line"},
		{Level: levelInfo, Message: "info line"},
		{Level: levelWarn, Message: "warn line"},
		{Level: levelError, Message: "error line"},
		{Level: levelInfo, Message: "out one"},
		{Level: levelInfo, Message: "out two"},
		{Level: levelWarn, Message: "err line"},
		{Level: levelInfo, Message: "partial"},
	}
	if !reflect.DeepEqual(res.Logs, want) {
		t.Errorf("logs\n got %+v\nwant %+v", res.Logs, want)
	}
	var got []string
	for _, rec := range h.records() {
		attrs := map[string]string{}
		rec.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value.String()
			return true
		})
		if _, ok := attrs["request_id"]; ok && attrs["hook"] == "log" {
			got = append(got, rec.Level.String()+" "+rec.Message+" request_id="+attrs["request_id"])
		}
	}
	wantRecords := []string{
		"DEBUG debug line request_id=req-1", "INFO info line request_id=req-1", "WARN warn line request_id=req-1",
		"ERROR error line request_id=req-1", "INFO out one request_id=req-1", "INFO out two request_id=req-1",
		"WARN err line request_id=req-1", "INFO partial request_id=req-1",
	}
	if !reflect.DeepEqual(got, wantRecords) {
		t.Errorf("slog records\n got %q\nwant %q", got, wantRecords)
	}
}

// recordHandler keeps every record.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }
func (h *recordHandler) records() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.recs...)
}

func TestWASISandbox(t *testing.T) {
	t.Setenv("STRATA_SECRET", "do-not-leak") // the process environment must stay invisible
	r := newRuntime(t, WithRecycleAfter(1))
	register(t, r, "wasi", module(t, "wasi"))
	probe := func() ([]uint64, []LogLine) {
		res := callAllow(t, r, "wasi")
		var v []uint64
		if err := json.Unmarshal(res.Output.Data, &v); err != nil || len(v) != 10 {
			t.Fatalf("probe answered %s (%v)", res.Output.Data, err)
		}
		return v, res.Logs
	}
	first, logs := probe()
	second, _ := probe()
	const ebadf = 8
	checks := []struct {
		name string
		ok   bool
	}{
		{"no preopened directory (fd_prestat_get(3) is EBADF)", first[0] == ebadf},
		{"no environment variables", first[1] == 0 && first[2] == 0},
		{"no arguments", first[3] == 0},
		{"no filesystem (path_open fails)", first[4] != 0},
		{"no sockets (sock_accept fails)", first[5] != 0},
		{"fake wall clock (before 2023)", first[6] < uint64(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())},
		{"deterministic wall clock", first[6] == second[6]},
		{"deterministic monotonic clock", first[7] == second[7]},
		{"deterministic randomness", first[8] == second[8]},
		{"stdout writable", first[9] == 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: probe answered %v", c.name, first)
		}
	}
	want := []LogLine{{Level: levelWarn, Message: "probe stderr"}, {Level: levelInfo, Message: "probe stdout"}}
	if !reflect.DeepEqual(logs, want) {
		t.Errorf("logs %+v, want %+v", logs, want)
	}
}

// TestReplaceInFlight replaces a module while calls run: none fails, a
// call in flight finishes on the old module, later calls run the new one,
// and the old module is closed when its last call ends.
func TestReplaceInFlight(t *testing.T) {
	t.Parallel()
	type holdKey struct{}
	entered, release := make(chan struct{}), make(chan struct{})
	// A slot for the held call, one for the replacement's pre-warming
	// and the call after it (the default may be one).
	r := newRuntime(t, WithMaxConcurrency(2), withOnRun(func(ctx context.Context, _ string) func() {
		if ctx.Value(holdKey{}) != nil {
			entered <- struct{}{}
			<-release
		}
		return nil
	}))
	v1 := register(t, r, "m", module(t, "allow"))
	old := r.mods["m"]

	held := make(chan *Result)
	go func() {
		ctx := context.WithValue(t.Context(), holdKey{}, true)
		res, err := r.Call(ctx, "m", sampleInput(), relaxed)
		if err != nil {
			t.Error(err)
		}
		held <- res
	}()
	<-entered

	v2 := register(t, r, "m", module(t, "echo"))
	if res := callAllow(t, r, "m"); res.SHA256 != v2.SHA256 {
		t.Errorf("a call after the replacement ran %s, want %s", res.SHA256, v2.SHA256)
	}
	if old.isClosed() {
		t.Fatal("the old module was closed while a call was using it")
	}
	close(release)
	if res := <-held; res == nil || res.SHA256 != v1.SHA256 {
		t.Errorf("the call in flight ran %v, want %s", res, v1.SHA256)
	}
	if !old.isClosed() {
		t.Error("the old module is still open after its last call ended")
	}
}

// TestReplaceHammer registers new versions of a module while goroutines
// call it without pause: no call may fail.
func TestReplaceHammer(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	versions := [][]byte{module(t, "allow"), module(t, "echo"), module(t, "init")}
	register(t, r, "m", versions[0])
	var (
		stop    atomic.Bool
		calls   atomic.Int64
		wg      sync.WaitGroup
		retired []*entry
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				callAllow(t, r, "m")
				calls.Add(1)
			}
		})
	}
	for i := range 30 {
		r.mu.RLock()
		retired = append(retired, r.mods["m"])
		r.mu.RUnlock()
		register(t, r, "m", versions[(i+1)%len(versions)])
	}
	stop.Store(true)
	wg.Wait()
	// A pool refill started by a call holds its entry until it ends.
	r.refills.Wait()
	for i, e := range retired {
		if !e.isClosed() {
			t.Errorf("replaced version %d is still open", i)
		}
	}
	t.Logf("%d calls during 30 replacements", calls.Load())
}

func TestCompilationCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wasm := module(t, "wasi")
	files := func() map[string]os.FileInfo {
		out := map[string]os.FileInfo{}
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				fi, _ := d.Info()
				out[p] = fi
			}
			return nil
		})
		return out
	}
	timeRegister := func() time.Duration {
		r := newRuntime(t, WithCacheDir(dir), WithPoolSize(0))
		start := time.Now()
		register(t, r, "wasi", wasm)
		d := time.Since(start)
		callAllow(t, r, "wasi")
		if err := r.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cold := timeRegister()
	first := files()
	if len(first) == 0 {
		t.Fatal("the first Runtime left no compiled module in the cache directory")
	}
	warm := timeRegister()
	second := files()
	if len(second) != len(first) {
		t.Errorf("cache files: %d after the first Runtime, %d after the second", len(first), len(second))
	}
	for p, fi := range first {
		if fi2, ok := second[p]; !ok || !os.SameFile(fi, fi2) {
			t.Errorf("cache file %s was rewritten: the second Runtime compiled again", p)
		}
	}
	t.Logf("Register: %v compiling, %v from the cache", cold, warm)
}

// TestConcurrencyBound checks that no more guest calls than
// WithMaxConcurrency run at once, and that a caller waiting for a slot
// gives up when its context ends.
func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	const limit = 2
	type holdKey struct{}
	var running, peak atomic.Int64
	entered, release := make(chan struct{}), make(chan struct{})
	r := newRuntime(t, WithMaxConcurrency(limit), withOnRun(func(ctx context.Context, _ string) func() {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if ctx.Value(holdKey{}) != nil {
			entered <- struct{}{}
			<-release
		}
		return func() { running.Add(-1) }
	}))
	register(t, r, "m", module(t, "echo"))

	// Fill every slot, then a caller with a deadline must give up.
	var wg sync.WaitGroup
	for range limit {
		wg.Go(func() {
			_, err := r.Call(context.WithValue(t.Context(), holdKey{}, true), "m", sampleInput(), relaxed)
			if err != nil {
				t.Error(err)
			}
		})
	}
	for range limit {
		<-entered
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := r.Call(ctx, "m", sampleInput(), Limits{})
	var ce *CallError
	if !errors.As(err, &ce) || ce.Reason != ReasonTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call without a free slot: %v, want a timeout", err)
	}
	close(release)
	wg.Wait()

	// Hammer: 16 callers, never more than limit at once.
	for range 16 {
		wg.Go(func() {
			for range 20 {
				callAllow(t, r, "m")
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > limit {
		t.Errorf("%d calls ran at once, want at most %d", p, limit)
	}
}

func TestCallCanceled(t *testing.T) {
	t.Parallel()
	type cancelKey struct{}
	r := newRuntime(t, withOnRun(func(ctx context.Context, _ string) func() {
		if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
			cancel() // the caller gives up as the guest starts
		}
		return nil
	}))
	register(t, r, "loop", hostile(t, "loop"))
	register(t, r, "exptree", hostile(t, "exptree"))
	for _, name := range []string{"loop", "exptree"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			start := time.Now()
			_, err := r.Call(context.WithValue(ctx, cancelKey{}, cancel), name, sampleInput(), Limits{Timeout: time.Minute})
			var ce *CallError
			if !errors.As(err, &ce) || ce.Reason != ReasonTimeout || !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want a timeout wrapping context.Canceled", err)
			}
			within(t, "a canceled call", time.Since(start), hostileMargin)
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Call(ctx, "loop", sampleInput(), Limits{}); !errors.Is(err, context.Canceled) {
		t.Errorf("a call with a canceled context: %v", err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	r, err := New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	register(t, r, "m", module(t, "allow"))
	callAllow(t, r, "m")
	e := r.mods["m"]
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !e.isClosed() {
		t.Error("module still open after Close")
	}
	if err := r.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := r.Call(t.Context(), "m", sampleInput(), Limits{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Call after Close: %v", err)
	}
	if _, err := r.Register(t.Context(), "n", module(t, "allow")); !errors.Is(err, ErrClosed) {
		t.Errorf("Register after Close: %v", err)
	}
	if err := r.Remove(t.Context(), "m"); !errors.Is(err, ErrClosed) {
		t.Errorf("Remove after Close: %v", err)
	}
	if len(r.Modules()) != 0 {
		t.Error("modules listed after Close")
	}
}

// TestCloseWaits checks that Close waits for a call in flight, and that a
// Close whose context ends interrupts a runaway guest.
func TestCloseWaits(t *testing.T) {
	t.Parallel()
	r, err := New(t.Context(), withOnRun(func(context.Context, string) func() { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	register(t, r, "exptree", hostile(t, "exptree"))
	started := make(chan struct{})
	r.cfg.onRun = func(context.Context, string) func() {
		close(started)
		return nil
	}
	failed := make(chan error, 1)
	go func() {
		_, err := r.Call(t.Context(), "exptree", sampleInput(), Limits{Timeout: time.Minute})
		failed <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := r.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want its context's deadline", err)
	}
	err = <-failed
	within(t, "interrupting a guest on Close", time.Since(start), 50*time.Millisecond+crowdMargin)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Reason != ReasonTrap || !strings.Contains(err.Error(), "closing") {
		t.Errorf("the interrupted call: %v", err)
	}
}

func TestCallErrorMessage(t *testing.T) {
	t.Parallel()
	ce := &CallError{Hook: "h", Reason: ReasonTrap, Err: errors.New("wasm error: unreachable\nwasm stack trace:\n\t.f()")}
	if got, want := ce.Error(), "hooks: hook h failed (trap): wasm error: unreachable"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(ce, ErrHookFailed) || errors.Is(ce, ErrNotFound) {
		t.Error("CallError must match ErrHookFailed only")
	}
}
