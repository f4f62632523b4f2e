package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/plugins/postgres/pgtest"
	"github.com/strata-dev/strata/sdk/storage"
)

// openStore opens a store on url and closes it when the test ends.
func openStore(t *testing.T, url string) storage.Store {
	t.Helper()
	s, err := postgres.OpenURL(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// openManager opens a core Manager over s, closed when the test ends.
func openManager(t *testing.T, s storage.Store) *core.Manager {
	t.Helper()
	m, err := core.Open(t.Context(), s, core.Options{})
	if err != nil {
		t.Fatalf("core.Open: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// TestNodesShareOneChangeLog races 8 writers through 3 Managers over 3
// stores on one database, as 3 nodes would, while a follower on a fourth
// reads the change log. The follower must never see a seq before a lower
// one has committed (seqs are gap-free in commit order), every create must
// be in the log exactly once, and 8 creates racing on one unique value
// must yield exactly one success.
func TestNodesShareOneChangeLog(t *testing.T) {
	t.Parallel()
	const writers, perWriter, nodes = 8, 30, 3
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(core.WithPrincipal(t.Context(), core.Principal{ID: "admin", Roles: []string{core.RoleAdmin}}), 2*time.Minute) // hang guard
	defer cancel()

	first := openManager(t, openStore(t, url))
	_, err := first.CreateType(ctx, core.Type{
		Name:   "docs",
		Schema: []byte(`{"type":"object","properties":{"n":{"type":"integer"}}}`),
		Unique: []string{"n"},
	})
	if err != nil {
		t.Fatalf("CreateType: %v", err)
	}
	managers := []*core.Manager{first}
	for range nodes - 1 {
		managers = append(managers, openManager(t, openStore(t, url))) // loads the type
	}
	follower := openManager(t, openStore(t, url))

	var (
		mu      sync.Mutex
		created = map[string]bool{}
		winners int
	)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			<-start
			m := managers[w%nodes]
			for i := range perWriter {
				r, err := m.Create(ctx, "docs", fmt.Appendf(nil, `{"n":%d}`, w*1000+i), core.WriteOptions{})
				if err != nil {
					t.Errorf("writer %d create %d: %v", w, i, err)
					return
				}
				mu.Lock()
				created[r.ID] = true
				mu.Unlock()
			}
			// Every writer races for one unique value.
			r, err := m.Create(ctx, "docs", []byte(`{"n":-1}`), core.WriteOptions{})
			switch {
			case err == nil:
				mu.Lock()
				created[r.ID] = true
				winners++
				mu.Unlock()
			case !errors.Is(err, core.ErrConflict):
				t.Errorf("writer %d unique race: %v, want success or ErrConflict", w, err)
			}
		})
	}

	// The follower reads pages until it has seen every create; each page
	// must continue exactly where the previous one ended.
	type seen struct {
		seq uint64
		id  string
	}
	followed := make(chan []seen, 1)
	done := make(chan struct{})
	go func() {
		var (
			log   []seen
			since uint64
		)
		defer func() { followed <- log }()
		for {
			writersDone := isClosed(done)
			page, err := follower.Changes(ctx, since, nil, 500)
			if err != nil {
				t.Errorf("follower: Changes(%d): %v", since, err)
				return
			}
			for _, ch := range page.Items {
				if ch.Seq != since+1 {
					t.Errorf("follower: after seq %d read seq %d: a lower seq was not yet committed", since, ch.Seq)
					return
				}
				since = ch.Seq
				log = append(log, seen{ch.Seq, ch.ID})
			}
			if writersDone && len(page.Items) == 0 {
				return // nothing more can commit
			}
		}
	}()
	close(start)
	wg.Wait()
	close(done)
	log := <-followed

	if winners != 1 {
		t.Errorf("%d of %d creates racing on one unique value succeeded, want 1", winners, writers)
	}
	inLog := map[string]int{}
	for _, s := range log {
		if s.id != "" {
			inLog[s.id]++
		}
	}
	for id := range created {
		if inLog[id] != 1 {
			t.Errorf("created %s appears %d times in the change log, want 1", id, inLog[id])
		}
	}
	if want := writers*perWriter + 1; len(created) != want {
		t.Errorf("%d creates succeeded, want %d", len(created), want)
	}
	t.Logf("follower read %d changes; last seq %d", len(log), log[len(log)-1].seq)
}

// isClosed reports whether c is closed.
func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// openNode opens a Manager over its own store on url, as one node of a
// cluster, closed when the test ends.
func openNode(t *testing.T, url string, ttl, interval time.Duration) *core.Manager {
	t.Helper()
	m, err := core.Open(t.Context(), openStore(t, url), core.Options{LeaseTTL: ttl, FollowInterval: interval})
	if err != nil {
		t.Fatalf("core.Open: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if !m.Shared() {
		t.Fatal("a Manager over PostgreSQL is not a node of a cluster")
	}
	return m
}

// TestNodesFollowEachOther: a node sees what another commits: its writes
// move the node's LastSeq (WaitSeq returns), its type changes apply on
// the node, its configuration changes reach OnConfigChange, and a
// consumer with a lease runs on one node at a time, each change handled
// once, taken over by another node when its holder closes.
func TestNodesFollowEachOther(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(core.WithPrincipal(t.Context(), core.Principal{ID: "admin", Roles: []string{core.RoleAdmin}}), 2*time.Minute) // hang guard
	defer cancel()
	a := openNode(t, url, time.Second, 20*time.Millisecond)
	b := openNode(t, url, time.Second, 20*time.Millisecond)
	// c polls once an hour: it learns of a's type change only from the
	// write that finds its types behind.
	c := openNode(t, url, time.Second, time.Hour)

	configChanged := make(chan struct{}, 1)
	b.OnConfigChange(func() {
		select {
		case configChanged <- struct{}{}:
		default:
		}
	})

	// A type created on a is usable on b once b has seen it.
	sctx := core.WithSeqNote(ctx)
	if _, err := a.CreateType(sctx, core.Type{Name: "docs", Schema: []byte(`{"type":"object","properties":{"n":{"type":"integer"}}}`)}); err != nil {
		t.Fatalf("CreateType: %v", err)
	}
	seq := core.NotedSeq(sctx)
	if seq == 0 {
		t.Fatal("CreateType noted no seq")
	}
	if err := b.WaitSeq(ctx, seq); err != nil {
		t.Fatalf("WaitSeq(%d) on b: %v", seq, err)
	}
	if _, err := b.Create(ctx, "docs", []byte(`{"n":1}`), core.WriteOptions{}); err != nil {
		t.Fatalf("create on b of a type created on a: %v", err)
	}

	// A type change on a: b validates against the new schema, and so
	// does c, which has not polled since.
	if _, err := c.Create(ctx, "docs", []byte(`{"n":1}`), core.WriteOptions{}); err != nil {
		t.Fatalf("create on c of a type created on a: %v", err)
	}
	sctx = core.WithSeqNote(ctx)
	if _, err := a.UpdateType(sctx, core.Type{Name: "docs", Schema: []byte(`{"type":"object","properties":{"n":{"type":"string"}}}`)}); err != nil {
		t.Fatalf("UpdateType: %v", err)
	}
	if err := b.WaitSeq(ctx, core.NotedSeq(sctx)); err != nil {
		t.Fatalf("WaitSeq on b: %v", err)
	}
	if _, err := b.Create(ctx, "docs", []byte(`{"n":2}`), core.WriteOptions{}); !errors.Is(err, core.ErrValidation) {
		t.Fatalf("create on b against the old schema: %v, want ErrValidation", err)
	}
	if _, err := b.Create(ctx, "docs", []byte(`{"n":"two"}`), core.WriteOptions{}); err != nil {
		t.Fatalf("create on b against the new schema: %v", err)
	}
	if _, err := c.Create(ctx, "docs", []byte(`{"n":3}`), core.WriteOptions{}); !errors.Is(err, core.ErrValidation) {
		t.Fatalf("create on c, which has not polled since the type change, against the old schema: %v, want ErrValidation", err)
	}

	// c, which polls once an hour, is woken by the notification of a's
	// commit.
	sctx = core.WithSeqNote(ctx)
	if _, err := a.Create(sctx, "docs", []byte(`{"n":"notified"}`), core.WriteOptions{}); err != nil {
		t.Fatalf("create on a: %v", err)
	}
	for {
		changed := c.Changed()
		if c.LastSeq() >= core.NotedSeq(sctx) {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("c never saw seq %d without polling: it is at %d", core.NotedSeq(sctx), c.LastSeq())
		}
	}

	// A change of the keys on a reaches b's OnConfigChange.
	err := core.AuthKeyspace(openStore(t, url)).Update(ctx, func(tx core.KeyspaceTx) error {
		return tx.Put([]byte("k"), []byte("{}"))
	})
	if err != nil {
		t.Fatalf("keyspace update: %v", err)
	}
	select {
	case <-configChanged:
	case <-ctx.Done():
		t.Fatal("b was not told of the configuration change")
	}

	// One consumer with a lease, on both nodes: each change handled once.
	var (
		mu      sync.Mutex
		handled = map[uint64][]string{}
	)
	consume := func(m *core.Manager, node string) *core.Consumer {
		c, err := m.StartConsumer(core.ConsumerConfig{Name: "once", Lease: true, Types: func() []string { return []string{"docs"} },
			Handle: func(_ context.Context, changes []core.Change) (int, error) {
				mu.Lock()
				defer mu.Unlock()
				for _, ch := range changes {
					handled[ch.Seq] = append(handled[ch.Seq], node)
				}
				return len(changes), nil
			}})
		if err != nil {
			t.Fatalf("StartConsumer on %s: %v", node, err)
		}
		return c
	}
	ca, cb := consume(a, "a"), consume(b, "b")
	defer cb.Stop()
	write := func(m *core.Manager, n int) uint64 {
		t.Helper()
		wctx := core.WithSeqNote(ctx)
		if _, err := m.Create(wctx, "docs", fmt.Appendf(nil, `{"n":"%d"}`, n), core.WriteOptions{}); err != nil {
			t.Fatalf("create %d: %v", n, err)
		}
		return core.NotedSeq(wctx)
	}
	waitHandled := func(seq uint64) {
		t.Helper()
		for {
			mu.Lock()
			done := len(handled[seq]) > 0
			mu.Unlock()
			if done {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("change %d was never handled", seq)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	var last uint64
	for i := range 20 {
		last = write([]*core.Manager{a, b}[i%2], i)
	}
	waitHandled(last)
	ca.Stop() // if a held the lease, b takes over once it expires
	for i := range 5 {
		last = write(b, 100+i)
	}
	waitHandled(last)
	mu.Lock()
	defer mu.Unlock()
	for seq, by := range handled {
		if len(by) != 1 {
			t.Errorf("change %d was handled by %v, want once", seq, by)
		}
	}
}

// TestWaitSeqAfterOwnWrites: a node whose own type change committed after
// another node's has not seen that one until its follower read it, though
// its last seq is past it; WaitSeq for the other node's seq waits for the
// follower, and the node then serves the type.
func TestWaitSeqAfterOwnWrites(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(core.WithPrincipal(t.Context(), core.Principal{ID: "admin", Roles: []string{core.RoleAdmin}}), 2*time.Minute) // hang guard
	defer cancel()
	a := openNode(t, url, time.Minute, 20*time.Millisecond)
	// b is told of no commit and polls once an hour: it reads what a
	// committed only when WaitSeq wakes its follower.
	b := openStaleNode(t, url)

	sctx := core.WithSeqNote(ctx)
	if _, err := a.CreateType(sctx, core.Type{Name: "from_a", Schema: json.RawMessage(`{"type":"object"}`)}); err != nil {
		t.Fatal(err)
	}
	seq := core.NotedSeq(sctx)
	own := core.WithSeqNote(ctx)
	if _, err := b.CreateType(own, core.Type{Name: "from_b", Schema: json.RawMessage(`{"type":"object"}`)}); err != nil {
		t.Fatal(err)
	}
	if core.NotedSeq(own) <= seq || b.LastSeq() <= seq {
		t.Fatalf("b's own type change at seq %d (last seq %d), want after a's %d", core.NotedSeq(own), b.LastSeq(), seq)
	}
	if err := b.WaitSeq(ctx, seq); err != nil {
		t.Fatal(err)
	}
	names := typeNames(b)
	if !slices.Contains(names, "from_a") || !slices.Contains(names, "from_b") {
		t.Fatalf("b's types after WaitSeq(%d): %v, want from_a and from_b", seq, names)
	}
}

// TestTypeChangeOverStaleTypes: a node that has not yet loaded another
// node's type change checks its own type change against the stored
// types, not its stale ones: a type another node made reference this one
// cannot be dropped from under it.
func TestTypeChangeOverStaleTypes(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(core.WithPrincipal(t.Context(), core.Principal{ID: "admin", Roles: []string{core.RoleAdmin}}), 2*time.Minute) // hang guard
	defer cancel()
	a := openNode(t, url, time.Minute, 20*time.Millisecond)
	if _, err := a.CreateType(ctx, core.Type{Name: "target", Schema: json.RawMessage(`{"type":"object"}`)}); err != nil {
		t.Fatal(err)
	}
	// b loads target at its start, then is told of no commit and polls
	// once an hour.
	b := openStaleNode(t, url)
	if _, err := a.CreateType(ctx, core.Type{Name: "ref", Schema: json.RawMessage(`{"type":"object","properties":{"t":{"type":"string"}}}`),
		References: map[string]core.Reference{"t": {Type: "target"}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteType(ctx, "target"); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("drop a type another node made referenced, on a node that has not seen it: %v, want ErrConflict", err)
	}
	// Its own type change done over the stored types, b serves them all.
	if _, err := b.CreateType(ctx, core.Type{Name: "own", Schema: json.RawMessage(`{"type":"object"}`)}); err != nil {
		t.Fatal(err)
	}
	names := typeNames(b)
	if want := []string{"own", "ref", "target"}; !slices.Equal(names, want) {
		t.Fatalf("b's types: %v, want %v", names, want)
	}
}

// openStaleNode opens a node on url that is told of no other node's
// commit and polls once an hour: it reads what others committed only when
// something wakes its follower (WaitSeq) or a write finds its types
// behind.
func openStaleNode(t *testing.T, url string) *core.Manager {
	t.Helper()
	s, err := postgres.OpenUnhinted(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	m, err := core.Open(t.Context(), s, core.Options{LeaseTTL: time.Minute, FollowInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// typeNames lists the names of m's types.
func typeNames(m *core.Manager) []string {
	var names []string
	for _, typ := range m.Types() {
		names = append(names, typ.Name)
	}
	return names
}
