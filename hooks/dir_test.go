package hooks

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the goroutines of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeFile writes a file of the test's hooks directory.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLoadDirSkipsBadFiles checks that files that cannot be read or
// registered are logged and skipped, and the others loaded: one bad file
// must not keep a server from starting.
func TestLoadDirSkipsBadFiles(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "good.wasm"), module(t, "allow"))
	writeFile(t, filepath.Join(dir, "garbage.wasm"), []byte("not a module"))
	writeFile(t, filepath.Join(dir, "init_trap.wasm"), hostile(t, "init_trap"))
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling.wasm")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "folder.wasm"), 0o755); err != nil {
		t.Fatal(err)
	}
	makeFIFO(t, filepath.Join(dir, "fifo.wasm")) // reading it would block forever
	var logs syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done, err := LoadDir(ctx, r, dir, time.Hour, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	cancel()
	<-done
	callAllow(t, r, "good")
	for _, name := range []string{"garbage", "init_trap", "dangling", "fifo"} {
		if _, ok := r.Module(name); ok {
			t.Errorf("bad file %s.wasm registered", name)
		}
		if !strings.Contains(logs.String(), name+".wasm") {
			t.Errorf("nothing logged about %s.wasm:\n%s", name, logs.String())
		}
	}
	if _, err := LoadDir(t.Context(), r, filepath.Join(dir, "missing"), time.Hour, nil); err == nil {
		t.Fatal("LoadDir of a missing directory succeeded")
	}
}

// TestLoadDirRemovedFile checks that removing a file unregisters its
// module at the next scan, unless its name was given another module
// since, and that a file added again is registered again.
func TestLoadDirRemovedFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		replaced bool // the name is given another module through the API before the file goes
	}{
		{"from the file", false},
		{"replaced through the API", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t)
			dir := t.TempDir()
			path := filepath.Join(dir, "titles.wasm")
			writeFile(t, path, module(t, "allow"))
			writeFile(t, filepath.Join(dir, "other.wasm"), module(t, "echo"))
			w := newDirWatcher(r, dir, nil)
			w.scan(t.Context()).Wait()
			if _, ok := r.Module("titles"); !ok {
				t.Fatal("titles not registered")
			}
			var api ModuleInfo
			if tc.replaced {
				api = register(t, r, "titles", module(t, "reject"))
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			w.scan(t.Context()).Wait()
			info, ok := r.Module("titles")
			switch {
			case tc.replaced && (!ok || info.SHA256 != api.SHA256):
				t.Fatalf("the module registered through the API is gone: %+v %v", info, ok)
			case !tc.replaced && ok:
				t.Fatal("titles still registered after its file was removed")
			}
			if _, ok := r.Module("other"); !ok {
				t.Fatal("the module of a file still present was unregistered")
			}
			writeFile(t, path, module(t, "allow"))
			w.scan(t.Context()).Wait()
			callAllow(t, r, "titles")
		})
	}
}

// TestLoadDirSlowFile checks that a file whose registration does not end
// (a compile that takes minutes and ignores its context) neither holds up
// the registration of the other files nor the scans that follow, and that
// the watcher's workers end when its context does.
func TestLoadDirSlowFile(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "slow.wasm"), module(t, "allow"))
	writeFile(t, filepath.Join(dir, "fast.wasm"), module(t, "echo"))
	w := newDirWatcher(r, dir, nil)
	started, release, fastDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var slowCalls sync.Map
	w.register = func(ctx context.Context, name string, wasm []byte) (ModuleInfo, error) {
		if name == "slow" {
			n, _ := slowCalls.LoadOrStore("n", new(int))
			*n.(*int)++
			close(started)
			<-release // ignores ctx, as a compile that cannot be interrupted
		}
		info, err := r.Register(context.WithoutCancel(ctx), name, wasm)
		if name == "fast" {
			close(fastDone)
		}
		return info, err
	}
	defer close(release)
	ctx, cancel := context.WithCancel(t.Context())
	first := w.scan(ctx)
	<-started
	// The fast file is registered while the slow one compiles, and a
	// later scan registers a new file without waiting for the slow one,
	// nor starting it again.
	<-fastDone
	callAllow(t, r, "fast")
	writeFile(t, filepath.Join(dir, "later.wasm"), module(t, "allow"))
	w.scan(ctx).Wait()
	callAllow(t, r, "later")
	if n, _ := slowCalls.Load("n"); *n.(*int) != 1 {
		t.Fatalf("slow registered %d times, want once: a scan restarted it", *n.(*int))
	}
	// Shutdown: the workers end with ctx, the slow registration still
	// blocked.
	cancel()
	first.Wait()
	w.workers.Wait()
	if _, ok := r.Module("slow"); ok {
		t.Fatal("slow registered before it was released")
	}
}
