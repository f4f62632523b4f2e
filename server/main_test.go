package server_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/strata-dev/strata/hooks"
)

// hookCacheDir is the wazero compilation cache every test server's hook
// runtime shares, as a real server shares one across restarts. Compiling
// the 3 MB Go example hook takes half a minute under the race detector on
// a small machine, minutes on a loaded one; with the cache, only the
// first registration of a module pays for it. Set by TestMain.
var hookCacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-server-test-hooks-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hookCacheDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// compiled holds, by sha256, a sync.Once per module warmCompileCache
// compiled.
var compiled sync.Map

// warmCompileCache compiles wasm into hookCacheDir once per test binary;
// callers with the same module wait for the first, so tests running in
// parallel never compile one module twice. A module that does not compile
// is left to the registration under test to report.
func warmCompileCache(t testing.TB, wasm []byte) {
	t.Helper()
	once, _ := compiled.LoadOrStore(sha256.Sum256(wasm), new(sync.Once))
	once.(*sync.Once).Do(func() {
		ctx := context.Background()
		rt, err := hooks.New(ctx, hooks.WithCacheDir(hookCacheDir), hooks.WithPoolSize(0))
		if err != nil {
			t.Fatalf("hook runtime: %v", err)
		}
		defer rt.Close(ctx)
		_, _ = rt.Register(ctx, "warm", wasm)
	})
}
