package hooks

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// watCache holds the modules compiled so far, by path: wat2wasm runs once
// per file and test binary.
var watCache sync.Map

// compileWAT compiles a WAT file with wat2wasm. Flags for wat2wasm may be
// given on a first line of the form ";; wat2wasm-flags: --no-check". A
// missing wat2wasm fails the test: the hostile suite must never be
// skipped.
func compileWAT(tb testing.TB, path string) []byte {
	tb.Helper()
	if b, ok := watCache.Load(path); ok {
		return b.([]byte)
	}
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		tb.Fatalf("wat2wasm is needed to build the test modules (apt-get install -y wabt): %v", err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var args []string
	first, _, _ := strings.Cut(string(src), "\n")
	if f, ok := strings.CutPrefix(first, ";; wat2wasm-flags:"); ok {
		args = strings.Fields(f)
	}
	out := filepath.Join(tb.TempDir(), filepath.Base(path)+".wasm")
	cmd := exec.Command(tool, append(args, path, "-o", out)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("wat2wasm %s: %v\n%s", path, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	watCache.Store(path, b)
	return b
}

// module returns the compiled testdata/<name>.wat.
func module(tb testing.TB, name string) []byte {
	tb.Helper()
	return compileWAT(tb, filepath.Join("testdata", name+".wat"))
}

// hostile returns the compiled testdata/hostile/<name>.wat.
func hostile(tb testing.TB, name string) []byte {
	tb.Helper()
	return compileWAT(tb, filepath.Join("testdata", "hostile", name+".wat"))
}

// newRuntime creates a Runtime closed at the end of the test, checking
// then that Close succeeds and that no concurrency slot leaked.
func newRuntime(tb testing.TB, opts ...Option) *Runtime {
	tb.Helper()
	r, err := New(tb.Context(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := r.Close(context.WithoutCancel(tb.Context())); err != nil {
			tb.Errorf("Close: %v", err)
		}
		if n := r.slots.inUse(); n != 0 {
			tb.Errorf("%d concurrency slots still held after Close", n)
		}
	})
	return r
}

// register registers wasm as name or fails the test.
func register(tb testing.TB, r *Runtime, name string, wasm []byte) ModuleInfo {
	tb.Helper()
	info, err := r.Register(tb.Context(), name, wasm)
	if err != nil {
		tb.Fatalf("Register %s: %v", name, err)
	}
	return info
}

// sampleInput is a typical input.
func sampleInput() Input {
	return Input{
		Stage: "validate", Type: "posts", ID: "0193abcd",
		Data:      []byte(`{"title":"Hello","body":"A post of some length, to make the envelope realistic.","tags":["a","b"],"views":12}`),
		Principal: &Principal{ID: "alice", Roles: []string{"editor"}},
		Request:   RequestInfo{ID: "req-1", Time: "2025-01-02T03:04:05Z"},
	}
}

// relaxed are the limits of calls whose duration is not under test: a
// loaded machine (the race detector, parallel tests) must not turn them
// into timeouts.
var relaxed = Limits{Timeout: 10 * time.Second}

// callAllow calls name and fails the test unless it answers allow:true.
func callAllow(tb testing.TB, r *Runtime, name string) *Result {
	tb.Helper()
	res, err := r.Call(tb.Context(), name, sampleInput(), relaxed)
	if err != nil {
		tb.Fatalf("Call %s: %v", name, err)
	}
	if !res.Output.Allow {
		tb.Fatalf("Call %s: allow is false: %s", name, res.Raw)
	}
	return res
}

// callErr calls name and returns its *CallError, failing the test if the
// call succeeds or fails otherwise.
func callErr(tb testing.TB, r *Runtime, name string, lim Limits) *CallError {
	tb.Helper()
	res, err := r.Call(tb.Context(), name, sampleInput(), lim)
	if err == nil {
		tb.Fatalf("Call %s succeeded: %s", name, res.Raw)
	}
	var ce *CallError
	if !errors.As(err, &ce) {
		tb.Fatalf("Call %s: %v (%T), want a *CallError", name, err, err)
	}
	if !errors.Is(err, ErrHookFailed) {
		tb.Fatalf("Call %s: %v does not match ErrHookFailed", name, err)
	}
	return ce
}

// checkPool fails the test if an idle instance of name's entry is closed
// or faulted: a failed call must never put its instance back.
func checkPool(tb testing.TB, r *Runtime, name string) {
	tb.Helper()
	r.mu.RLock()
	e := r.mods[name]
	r.mu.RUnlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for pages, idle := range e.pools {
		for _, inst := range idle {
			if inst.mod.IsClosed() || inst.lin.exceeded || inst.cs != nil {
				tb.Errorf("pool %s/%d holds a broken instance", name, pages)
			}
		}
	}
}

// within fails the test if d is over limit.
func within(tb testing.TB, what string, d, limit time.Duration) {
	tb.Helper()
	if d > limit {
		tb.Errorf("%s took %v, want at most %v", what, d, limit)
	}
}

// withOnRun sets the onRun test seam.
func withOnRun(f func(ctx context.Context, hook string) func()) Option {
	return func(c *config) { c.onRun = f }
}
