package index

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
)

// TestVanishedIndex deletes a searched type's index directory under a
// running Index, with and without a write after it (a write makes scorch's
// persister fail, which it retried in a tight loop; without one, the
// doctor's look at the directories notices). The index is rebuilt from
// storage into a new generation on disk, searches answer every resource
// before and after, and Close ends (it used to wait forever for a
// persisted callback).
func TestVanishedIndex(t *testing.T) {
	tests := []struct {
		name  string
		rm    func(e *testEnv, ti *typeIndex) string // the directory removed
		write bool
	}{
		{"whole index, then a write", func(e *testEnv, _ *typeIndex) string { return filepath.Join(e.dir, "index") }, true},
		{"whole index, no write", func(e *testEnv, _ *typeIndex) string { return filepath.Join(e.dir, "index") }, false},
		{"generation, then a write", func(e *testEnv, ti *typeIndex) string { return e.x.genDir("notes", ti.gen) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs lockedBuffer
			e := &testEnv{t: t, dir: t.TempDir(), cp: defaultCompactPolicy, log: slog.New(slog.NewTextHandler(&logs, nil)),
				hp: healthPolicy{check: 20 * time.Millisecond, pauseMin: 10 * time.Millisecond, pauseMax: time.Second,
					rebuildMin: 50 * time.Millisecond, rebuildMax: time.Second}}
			e.open()
			t.Cleanup(e.close)
			if _, err := e.m.CreateType(core.AsSystem(t.Context()), notesType); err != nil {
				t.Fatal(err)
			}
			installed := make(chan string, 16)
			e.x.installed = func(typ string) { installed <- typ }
			want := 0
			for range 3 {
				e.create("notes", fmt.Sprintf(`{"title":"note %d","n":%d}`, want, want), "u")
				want++
			}
			if got := e.mustSearch("notes", core.SearchRequest{Total: true}); got.Total != want {
				t.Fatalf("total %d, want %d", got.Total, want)
			}
			waitInstalled(t, installed) // the first build
			before := e.active("notes")
			// Scorch may be writing into it meanwhile: a file created
			// during the walk makes RemoveAll fail, and the next try
			// removes it.
			var err error
			for range 100 {
				if err = os.RemoveAll(tt.rm(e, before)); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.write {
				e.create("notes", `{"title":"after","n":99}`, "u")
				want++
			}
			// The failed index answers until the rebuild is swapped in.
			if got := e.mustSearch("notes", core.SearchRequest{Total: true}); got.Total != want {
				t.Errorf("total while failed: %d, want %d", got.Total, want)
			}
			waitInstalled(t, installed)
			after := e.active("notes")
			if after == before || after.gen <= before.gen {
				t.Fatalf("not rebuilt: generation %d, was %d", after.gen, before.gen)
			}
			if _, err := os.Stat(e.x.genDir("notes", after.gen)); err != nil {
				t.Errorf("the rebuilt index is not on disk: %v", err)
			}
			if _, err := os.Stat(e.x.positionPath()); err != nil {
				t.Errorf("the position is not on disk: %v", err)
			}
			if _, err := os.Stat(e.x.genDir("notes", before.gen)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the failed generation is left: %v", err)
			}
			e.create("notes", `{"title":"later","n":100}`, "u")
			want++
			got := e.mustSearch("notes", core.SearchRequest{Filter: "n >= 0", Total: true})
			if got.Total != want || len(got.IDs) != want {
				t.Errorf("after the rebuild: total %d, %d ids, want %d", got.Total, len(got.IDs), want)
			}
			closeWithin(t, e)
			if n := logs.count("search index failed"); n != 1 {
				t.Errorf("the failure was logged %d times, want once", n)
			}
		})
	}
}

// waitInstalled waits for the follower to swap in a built index, for a
// generous while.
func waitInstalled(t *testing.T, installed <-chan string) {
	t.Helper()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case <-installed:
	case <-timer.C:
		t.Fatal("no index was installed within a minute")
	}
}

// closeWithin closes e's Index and fails (rather than hangs) when Close
// takes more than a generous minute.
func closeWithin(t *testing.T, e *testEnv) {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- e.x.Close() }()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-timer.C:
		t.Fatal("Close did not end within a minute")
	}
	e.done = true
	_ = e.m.Close()
	_ = e.st.Close()
}
