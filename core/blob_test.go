package core_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/blobfs"
	"github.com/strata-dev/strata/core"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestBlobCollection checks that the collector removes a blob once no
// stored revision references it and its grace period has passed, and
// never one an old revision still references.
func TestBlobCollection(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	files, err := blobfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := apptest.New(t, apptest.WithCore(func(o *core.Options) {
		o.Blobs, o.BlobGrace, o.NoBlobCollector, o.Now = files, time.Hour, true, clock.Now
	}))
	m := e.Manager
	ctx := core.AsSystem(t.Context())
	if _, err := m.CreateType(ctx, core.Type{Name: "docs", Schema: []byte(`{"type":"object","properties":{"file":{"type":"string","format":"blob"}}}`),
		Retention: &core.Retention{KeepLast: 2}}); err != nil {
		t.Fatal(err)
	}
	put := func(s string) string {
		t.Helper()
		b, err := m.PutBlob(ctx, strings.NewReader(s), "")
		if err != nil {
			t.Fatal(err)
		}
		return b.Hash
	}
	stored := func(h string) bool {
		t.Helper()
		_, rd, err := m.OpenBlob(ctx, h)
		if errors.Is(err, core.ErrNotFound) {
			if _, ferr := files.Open(h); !errors.Is(ferr, core.ErrNotFound) {
				t.Fatalf("%s: metadata gone, file still there", h)
			}
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		rd.Close()
		return true
	}
	collect := func(want int) {
		t.Helper()
		n, err := m.CollectBlobs(ctx)
		if err != nil || n != want {
			t.Fatalf("collected %d (%v), want %d", n, err, want)
		}
	}
	writes := 0
	write := func(id, file string) {
		t.Helper()
		writes++
		data := `{"n":` + strconv.Itoa(writes) + `}`
		if file != "" {
			data = `{"file":"` + file + `"}`
		}
		var err error
		if _, gerr := m.Get(ctx, "docs", id, core.GetOptions{}); gerr == nil {
			_, err = m.Replace(ctx, "docs", id, []byte(data), core.WriteOptions{})
		} else {
			_, err = m.Create(ctx, "docs", []byte(`{"id":"`+id+`",`+data[1:]), core.WriteOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	loose := put("never referenced")
	kept := put("referenced by revision 1")
	write("d1", kept)
	write("d1", "") // revision 2 drops it; revision 1 still names it

	clock.Add(59 * time.Minute)
	collect(0) // within the grace period
	// Uploading the loose bytes again starts its grace period again.
	if put("never referenced") != loose {
		t.Fatal("hash changed")
	}
	clock.Add(2 * time.Minute)
	collect(0)
	if !stored(loose) || !stored(kept) {
		t.Fatal("a blob went within its grace period")
	}
	clock.Add(time.Hour)
	collect(1)
	if stored(loose) || !stored(kept) {
		t.Fatalf("loose stored %v, kept stored %v", stored(loose), stored(kept))
	}

	// Retention keeps two revisions: writing a third prunes revision 1,
	// the last to name the blob (in the background, here at once).
	write("d1", "")
	if _, err := m.PruneRevisions(ctx); err != nil {
		t.Fatal(err)
	}
	collect(1)
	if stored(kept) {
		t.Fatal("a blob no revision references was kept")
	}

	// A purged resource releases its blobs.
	third := put("referenced, then purged")
	write("d2", third)
	clock.Add(2 * time.Hour)
	collect(0)
	if err := m.Purge(ctx, "docs", "d2", core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	collect(1)

	// Once collected, a blob can no longer be referenced.
	_, err = m.Create(ctx, "docs", []byte(`{"file":"`+third+`"}`), core.WriteOptions{})
	if !errors.Is(err, core.ErrConflict) {
		t.Fatalf("reference to a collected blob: %v", err)
	}
	// And uploaded again, it is stored again.
	if put("referenced, then purged") != third || !stored(third) {
		t.Fatal("re-upload")
	}
}

// TestBlobUploadsDuringCollection uploads the same and different bytes
// from many goroutines while the collector runs with every blob past its
// grace period, and checks that the store and the files agree after:
// a blob is recorded exactly when its file exists.
func TestBlobUploadsDuringCollection(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	files, err := blobfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := apptest.New(t, apptest.WithCore(func(o *core.Options) {
		o.Blobs, o.BlobGrace, o.NoBlobCollector, o.Now = files, time.Minute, true, func() time.Time {
			// Every upload is already past its grace when the collector looks.
			return clock.Now()
		}
	}))
	m := e.Manager
	ctx := core.AsSystem(t.Context())
	contents := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				if _, err := m.PutBlob(ctx, strings.NewReader(contents[(g+i)%len(contents)]), ""); err != nil {
					t.Error(err)
					return
				}
				clock.Add(time.Hour)
			}
		})
	}
	wg.Go(func() {
		for range 25 {
			if _, err := m.CollectBlobs(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	state := func(c string) (recorded, filed bool) {
		t.Helper()
		sum := sha256.Sum256([]byte(c))
		h := "sha256:" + hex.EncodeToString(sum[:])
		_, rd, err := m.OpenBlob(ctx, h)
		if err == nil {
			rd.Close()
		} else if !errors.Is(err, core.ErrNotFound) {
			t.Fatal(err)
		}
		f, ferr := files.Open(h)
		if ferr == nil {
			f.Close()
		}
		return err == nil, ferr == nil
	}
	for _, c := range contents {
		if rec, file := state(c); rec != file {
			t.Fatalf("%s: recorded %v, file %v", c, rec, file)
		}
	}
	clock.Add(2 * time.Minute)
	if _, err := m.CollectBlobs(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range contents {
		if rec, file := state(c); rec || file {
			t.Fatalf("%s after collection: recorded %v, file %v", c, rec, file)
		}
	}
}

// TestImportedBlobsAreKept: an import records the blobs its revisions
// name, as writes do, so the collector keeps them once the grace period
// has passed.
func TestImportedBlobsAreKept(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	open := func() *core.Manager {
		files, err := blobfs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return apptest.New(t, apptest.WithCore(func(o *core.Options) {
			o.Blobs, o.BlobGrace, o.NoBlobCollector, o.Now = files, time.Hour, true, clock.Now
		})).Manager
	}
	ctx := core.AsSystem(t.Context())
	def := core.Type{Name: "docs", Schema: []byte(`{"type":"object","properties":{"file":{"type":"string","format":"blob"}}}`)}
	from, to := open(), open()
	var hash string
	for _, m := range []*core.Manager{from, to} {
		if _, err := m.CreateType(ctx, def); err != nil {
			t.Fatal(err)
		}
		b, err := m.PutBlob(ctx, strings.NewReader("attached"), "")
		if err != nil {
			t.Fatal(err)
		}
		hash = b.Hash
	}
	if _, err := from.Create(ctx, "docs", []byte(`{"id":"d1","file":"`+hash+`"}`), core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var export strings.Builder
	if _, err := from.Export(ctx, &export, core.ExportOptions{Type: "docs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := to.Import(ctx, strings.NewReader(export.String()), core.ImportOptions{Type: "docs"}); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Hour)
	if n, err := to.CollectBlobs(ctx); err != nil || n != 0 {
		t.Fatalf("collected %d (%v): the blob of an imported revision went", n, err)
	}
	if _, rd, err := to.OpenBlob(ctx, hash); err != nil {
		t.Fatalf("imported blob: %v", err)
	} else {
		rd.Close()
	}
}
