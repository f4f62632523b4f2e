package core_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/sdk/storage"
)

// TestConsumer follows the change log with a handler that fails on some
// entries: every entry is handled in log order, the failed one again from
// where it failed after the backoff (none before it twice), the status
// shows the failure and the lag meanwhile, and a consumer started again
// under the same name, over a reopened store, resumes from its saved
// position.
func TestConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := core.AsSystem(t.Context())
		path := filepath.Join(t.TempDir(), "strata.db")
		bs, err := bolt.Open(ctx, path, storage.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := core.Open(ctx, bs, core.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = m.Close(); _ = bs.Close() }() // the last ones opened
		if _, err := m.CreateType(ctx, core.Type{Name: "notes", Schema: []byte(`{"type":"object"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.CreateType(ctx, core.Type{Name: "other", Schema: []byte(`{"type":"object"}`)}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var handled []uint64
		failOn := map[uint64]int{} // seq → failures still to give
		handle := func(_ context.Context, changes []core.Change) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			for i, ch := range changes {
				if failOn[ch.Seq] > 0 {
					failOn[ch.Seq]--
					return i, errors.New("receiver down")
				}
				handled = append(handled, ch.Seq)
			}
			return len(changes), nil
		}
		cfg := core.ConsumerConfig{Name: "test", Handle: handle, Types: func() []string { return []string{"notes"} }}
		c, err := m.StartConsumer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.StartConsumer(cfg); !errors.Is(err, core.ErrConflict) {
			t.Fatalf("a second consumer of the same name: %v", err)
		}
		synctest.Wait()
		want := []uint64{1} // the creation of type notes
		write := func(typ string) {
			if _, err := m.Create(ctx, typ, []byte(`{}`), core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if typ == "notes" {
				want = append(want, m.LastSeq())
			}
		}
		mu.Lock()
		failOn[m.LastSeq()+3] = 3 // the second note below fails three times
		mu.Unlock()
		for _, typ := range []string{"notes", "other", "notes", "notes", "notes"} {
			write(typ)
		}
		synctest.Wait() // the handler failed and the consumer waits out its backoff
		if st := c.Status(); st.Err == nil || st.Failures == 0 || st.Lag == 0 || !st.Running {
			t.Fatalf("status while failing: %+v", st)
		}
		time.Sleep(time.Minute) // synctest's clock: every backoff is over
		synctest.Wait()
		if d := c.Status(); d.Err != nil || d.Lag != 0 || d.Seq != m.LastSeq() {
			t.Fatalf("status after recovery: %+v", d)
		}
		mu.Lock()
		if !slices.Equal(handled, want) {
			t.Fatalf("handled %v, want %v", handled, want)
		}
		mu.Unlock()
		c.Stop()
		if st := m.Consumers(); len(st) != 0 {
			t.Fatalf("consumers after Stop: %+v", st)
		}

		// Changes while it is stopped; then the store is reopened.
		write("notes")
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if err := bs.Close(); err != nil {
			t.Fatal(err)
		}
		bs, err = bolt.Open(ctx, path, storage.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m, err = core.Open(ctx, bs, core.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.StartConsumer(cfg); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(handled, want) {
			t.Fatalf("after the restart: handled %v, want %v", handled, want)
		}
	})
}
