package core_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/sdk/storage"
)

// holdingIndex is a search index whose consumed position the test sets.
type holdingIndex struct{ pos atomic.Uint64 }

func (x *holdingIndex) Search(context.Context, string, core.SearchRequest) (*core.SearchResult, error) {
	return &core.SearchResult{}, nil
}
func (x *holdingIndex) Consumed() uint64 { return x.pos.Load() }

// retentionEnv is a Manager over a bolt store in a synctest bubble, with
// an index stub, and helpers to read the log's state.
type retentionEnv struct {
	t     *testing.T
	m     *core.Manager
	ix    *holdingIndex
	close func() // deferred by the test, so that it runs inside the bubble
}

func newRetentionEnv(t *testing.T, retention time.Duration) *retentionEnv {
	ctx := core.AsSystem(t.Context())
	bs, err := bolt.Open(ctx, filepath.Join(t.TempDir(), "strata.db"), storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ix := &holdingIndex{}
	ix.pos.Store(math.MaxUint64)
	m, err := core.Open(ctx, bs, core.Options{ChangesRetention: retention,
		Search: func(context.Context, core.ChangeFeed) (core.Searcher, error) { return ix, nil }})
	if err != nil {
		t.Fatal(err)
	}
	e := &retentionEnv{t: t, m: m, ix: ix, close: func() { _ = m.Close(); _ = bs.Close() }}
	if _, err := m.CreateType(ctx, core.Type{Name: "notes", Schema: []byte(`{"type":"object"}`)}); err != nil {
		e.close()
		t.Fatal(err)
	}
	return e
}

func (e *retentionEnv) write(n int) {
	e.t.Helper()
	for range n {
		if _, err := e.m.Create(core.AsSystem(e.t.Context()), "notes", []byte(`{}`), core.WriteOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// wait lets d pass on the bubble's clock and everything settle.
func (e *retentionEnv) wait(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// oldest is the oldest retained entry, 0 when the log is empty.
func (e *retentionEnv) oldest() uint64 {
	e.t.Helper()
	oldest, _, err := e.m.ChangeLogBounds(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return oldest
}

func (e *retentionEnv) wantOldest(want uint64, when string) {
	e.t.Helper()
	if got := e.oldest(); got != want {
		e.t.Fatalf("%s: oldest entry %d, want %d (last %d)", when, got, want, e.m.LastSeq())
	}
}

// gone reports whether resuming from since is refused as trimmed, by the
// change log and the feed alike.
func (e *retentionEnv) gone(since uint64) bool {
	e.t.Helper()
	ctx := core.AsSystem(e.t.Context())
	_, err := e.m.Changes(ctx, since, nil, 10)
	_, ferr := e.m.Events(ctx, since, core.EventFilter{}, 10)
	if errors.Is(err, core.ErrGone) != errors.Is(ferr, core.ErrGone) {
		e.t.Fatalf("since %d: Changes says %v, Events %v", since, err, ferr)
	}
	if err != nil && !errors.Is(err, core.ErrGone) {
		e.t.Fatal(err)
	}
	return err != nil
}

// TestChangesRetention runs the trimmer on synctest's clock: entries are
// trimmed once older than the retention; a failing consumer, then the same
// consumer stopped, holds back the entries it has not handled and shows
// its lag; the search index holds back the entries it has not applied;
// a forgotten consumer holds nothing. A position before the trimmed part
// is refused with ErrGone; position 0 reads what is left.
func TestChangesRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := core.AsSystem(t.Context())
		e := newRetentionEnv(t, time.Hour)
		defer e.close()
		e.write(3) // seq 1 (the type) to 4

		e.wait(59 * time.Minute)
		e.wantOldest(1, "younger than the retention")
		e.wait(3 * time.Minute) // the trimmer runs every minute
		e.wantOldest(0, "older than the retention and consumed")
		for since, gone := range map[uint64]bool{0: false, 2: true, 3: true, 4: false} {
			if e.gone(since) != gone {
				t.Errorf("since %d: gone %v, want %v", since, !gone, gone)
			}
		}

		// A consumer that handles 5 and 6 and then fails on 7.
		failFrom := e.m.LastSeq() + 3
		c, err := e.m.StartConsumer(core.ConsumerConfig{Name: "slow", Handle: func(_ context.Context, changes []core.Change) (int, error) {
			for i, ch := range changes {
				if ch.Seq >= failFrom {
					return i, errors.New("receiver down")
				}
			}
			return len(changes), nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		e.write(4) // 5 to 8
		e.wait(2 * time.Hour)
		e.wantOldest(7, "a failing consumer at 6")
		if st := c.Status(); st.Err == nil || st.Seq != 6 || st.Lag != 2 {
			t.Fatalf("the failing consumer's status: %+v", st)
		}
		res, err := e.m.TrimChanges(ctx)
		if err != nil || res.Trimmed != 0 || res.Through != 6 || res.HeldBy != "consumer slow" || res.HeldAt != 6 {
			t.Fatalf("TrimChanges: %+v, %v", res, err)
		}
		if err := e.m.ForgetConsumer(ctx, "slow"); !errors.Is(err, core.ErrConflict) {
			t.Fatalf("forgetting a running consumer: %v", err)
		}
		c.Stop()
		e.wait(2 * time.Hour)
		e.wantOldest(7, "the consumer stopped at 6")

		// The index has applied up to 7 only; the consumer is forgotten.
		e.ix.pos.Store(7)
		if err := e.m.ForgetConsumer(ctx, "slow"); err != nil {
			t.Fatal(err)
		}
		e.wait(2 * time.Minute)
		e.wantOldest(8, "the index at 7")
		if res, err := e.m.TrimChanges(ctx); err != nil || res.HeldBy != "search index" || res.HeldAt != 7 {
			t.Fatalf("TrimChanges: %+v, %v", res, err)
		}
		e.ix.pos.Store(math.MaxUint64)
		e.wait(2 * time.Minute)
		e.wantOldest(0, "nothing holds")
		if !e.gone(7) || e.gone(8) {
			t.Fatal("positions 7 and 8 after the last trim")
		}
		// New entries are served after the trimmed ones.
		e.write(1)
		page, err := e.m.Changes(ctx, 0, nil, 10)
		if err != nil || len(page.Items) != 1 || page.Items[0].Seq != 9 {
			t.Fatalf("the log after a trim: %+v, %v", page, err)
		}
	})
}

// TestChangesRetentionOff: without a retention nothing is trimmed, however
// old, and TrimChanges deletes nothing.
func TestChangesRetentionOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRetentionEnv(t, 0)
		defer e.close()
		e.write(3)
		e.wait(1000 * time.Hour)
		e.wantOldest(1, "no retention")
		if res, err := e.m.TrimChanges(core.AsSystem(t.Context())); err != nil || res.Trimmed != 0 {
			t.Fatalf("TrimChanges: %+v, %v", res, err)
		}
	})
}
