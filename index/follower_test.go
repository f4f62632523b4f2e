package index

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/sdk/storage"
)

// failingFeed fails the next reads of resources it is armed for, as a
// store that is briefly unavailable would.
type failingFeed struct {
	core.ChangeFeed
	fail   atomic.Int32 // reads left to fail
	failed atomic.Int32 // reads failed
}

var errUnavailableStore = errors.New("store briefly unavailable")

func (f *failingFeed) GetMany(ctx context.Context, typ string, ids []string, o core.GetOptions) ([]*core.Resource, error) {
	if f.fail.Add(-1) >= 0 {
		f.failed.Add(1)
		return nil, errUnavailableStore
	}
	return f.ChangeFeed.GetMany(ctx, typ, ids, o)
}

// TestFollowerRetriesAFailedPage: the index follows the change log as a
// consumer, so a page it fails to apply is retried with backoff until it
// succeeds, never abandoned; and its position and lag are reported among
// the Manager's consumers.
func TestFollowerRetriesAFailedPage(t *testing.T) {
	t.Parallel()
	feed := &failingFeed{}
	e := &testEnv{t: t, dir: t.TempDir(), cp: defaultCompactPolicy, wrap: func(f core.ChangeFeed) core.ChangeFeed {
		feed.ChangeFeed = f
		return feed
	}}
	e.open()
	t.Cleanup(e.close)
	if _, err := e.m.CreateType(core.AsSystem(t.Context()), notesType); err != nil {
		t.Fatal(err)
	}
	e.create("notes", `{"title":"first","n":1}`, "")
	if got := e.mustSearch("notes", core.SearchRequest{Filter: `n >= 1`}); len(got.IDs) != 1 {
		t.Fatalf("before the failures: %d matches, want 1", len(got.IDs))
	}

	feed.fail.Store(3)
	id := e.create("notes", `{"title":"second","n":2}`, "")
	got := e.mustSearch("notes", core.SearchRequest{Filter: `n = 2`})
	if len(got.IDs) != 1 || got.IDs[0] != id {
		t.Fatalf("after the failures: %v, want [%s]", got.IDs, id)
	}
	if n := feed.failed.Load(); n != 3 {
		t.Errorf("%d reads failed, want 3 (the page retried until it succeeded)", n)
	}

	var st *core.ConsumerStatus
	for _, c := range e.m.Consumers() {
		if c.Name == followerName {
			st = &c
		}
	}
	if st == nil {
		t.Fatalf("the index is not among the consumers: %+v", e.m.Consumers())
	}
	if st.Seq != e.m.LastSeq() || st.Lag != 0 || st.Err != nil {
		t.Errorf("index consumer: seq %d lag %d err %v, want seq %d, lag 0, no error", st.Seq, st.Lag, st.Err, e.m.LastSeq())
	}
}

// TestFollowerResyncsAfterTrim: an index whose position is older than the
// retained change log (it was offline while the log was trimmed) cannot
// replay what it missed; it drops its stale indexes and rebuilds them
// from storage, so searches answer the current data rather than stalling.
func TestFollowerResyncsAfterTrim(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := core.AsSystem(t.Context())
	e := &testEnv{t: t, dir: dir, cp: defaultCompactPolicy}
	e.open()
	if _, err := e.m.CreateType(ctx, notesType); err != nil {
		t.Fatal(err)
	}
	e.create("notes", `{"title":"indexed","n":1}`, "")
	if got := e.mustSearch("notes", core.SearchRequest{Filter: `n >= 1`}); len(got.IDs) != 1 {
		t.Fatalf("%d matches, want 1", len(got.IDs))
	}
	indexedAt := e.active("notes").seq
	e.close()

	// The server runs without its index while the log is trimmed: the
	// clock moves a day ahead, which makes every entry older than the
	// retention.
	st, err := bolt.Open(ctx, filepath.Join(dir, "strata.db"), storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ahead atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	m, err := core.Open(ctx, st, core.Options{ChangesRetention: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, body := range []string{`{"title":"missed","n":2}`, `{"title":"missed too","n":3}`} {
		res, err := m.Create(ctx, "notes", []byte(body), core.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	ahead.Store(int64(24 * time.Hour))
	res, err := m.TrimChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Through <= indexedAt {
		t.Fatalf("trimmed through %d, want past the index's position %d", res.Through, indexedAt)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	e.open()
	t.Cleanup(e.close)
	got := e.mustSearch("notes", core.SearchRequest{Filter: `n >= 2`, Sort: "n"})
	if len(got.IDs) != 2 || got.IDs[0] != ids[0] || got.IDs[1] != ids[1] {
		t.Fatalf("after the trim: %v, want %v", got.IDs, ids)
	}
	if got := e.mustSearch("notes", core.SearchRequest{Filter: `n >= 1`}); len(got.IDs) != 3 {
		t.Errorf("after the trim: %d matches in all, want 3", len(got.IDs))
	}
}
