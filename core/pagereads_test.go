package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/sdk/storage"
)

// readCounter counts the reads (Get, GetMany, Scan) made in the Views of
// the store it wraps: on PostgreSQL each is a round trip.
type readCounter struct {
	storage.Store
	reads *atomic.Int64
}

func (s readCounter) View(ctx context.Context, fn func(tx storage.Tx) error) error {
	return s.Store.View(ctx, func(tx storage.Tx) error { return fn(countedTx{tx, s.reads}) })
}

type countedTx struct {
	storage.Tx
	reads *atomic.Int64
}

func (t countedTx) Get(bucket string, key []byte) ([]byte, error) {
	t.reads.Add(1)
	return t.Tx.Get(bucket, key)
}

func (t countedTx) GetMany(bucket string, keys [][]byte, fn func(int, []byte)) error {
	t.reads.Add(1)
	return t.Tx.GetMany(bucket, keys, fn)
}

func (t countedTx) Scan(bucket string, r storage.Range, fn func(k, v []byte) bool) error {
	t.reads.Add(1)
	return t.Tx.Scan(bucket, r, fn)
}

// TestPageReads checks that a page of resources costs a few storage
// reads whatever its size, also when its ids are scattered over storage
// (a search sorted by a field, references, the index's GetMany): on a
// backend behind a network each read is a round trip.
func TestPageReads(t *testing.T) {
	var reads atomic.Int64
	env := apptest.New(t, apptest.WithMemoryStore(), apptest.WithIndex(),
		apptest.WithStoreWrap(func(s storage.Store) storage.Store { return readCounter{s, &reads} }))
	m := env.Manager
	ctx := core.AsSystem(context.Background())
	for _, def := range []core.Type{
		{Name: "users", Schema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"}}}`)},
		{Name: "docs", Schema: json.RawMessage(`{"type":"object","properties":{"title":{"type":"string"},"views":{"type":"integer"},"author":{"type":"string"}}}`),
			References: map[string]core.Reference{"author": {Type: "users"}}},
	} {
		if _, err := m.CreateType(ctx, def); err != nil {
			t.Fatal(err)
		}
	}
	var users, docs []string
	for i := range 30 {
		res, err := m.Create(ctx, "users", fmt.Appendf(nil, `{"name":"user %d"}`, i), core.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, res.ID)
	}
	for i := range 60 {
		// views spread the ids out: sorted by views, neighbours in a page
		// were created far apart.
		doc := fmt.Sprintf(`{"title":"doc %d","views":%d,"author":%q}`, i, i*37%60, users[i*7%len(users)])
		res, err := m.Create(ctx, "docs", []byte(doc), core.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, res.ID)
	}
	// An updated resource: its current revision is not the first.
	updated := docs[5]
	for i := range 2 {
		if _, err := m.Replace(ctx, "docs", updated, fmt.Appendf(nil, `{"title":"updated %d","views":5,"author":%q}`, i, users[0]), core.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The index has caught up (a search waits for it) before reads are
	// counted, so only the page's reads are.
	if _, err := m.Search(ctx, "docs", core.ListOptions{}, core.ListQuery{Sort: "views"}); err != nil {
		t.Fatal(err)
	}
	scattered := []string{docs[50], docs[3], docs[41], docs[17], docs[29], "missing0000000000000000000", docs[8], docs[35], docs[59], docs[22], docs[0]}

	get := func(id, title string) func() (int, error) {
		return func() (int, error) {
			res, err := m.Get(ctx, "docs", id, core.GetOptions{})
			if err != nil {
				return 0, err
			}
			var doc struct{ Title string }
			if err := json.Unmarshal(res.Data, &doc); err != nil || doc.Title != title {
				return 0, fmt.Errorf("read %s with title %q (%v), want %q", id, doc.Title, err, title)
			}
			return 1, nil
		}
	}
	tests := []struct {
		name     string
		want     int                 // resources
		maxReads int64               // -1: not counted
		read     func() (int, error) // the number of resources read
	}{
		{"get", 1, 1, get(docs[7], "doc 7")},
		{"get updated", 1, 1, get(updated, "updated 1")},
		{"list", 20, 3, func() (int, error) { // the order keys, then the metas and revisions
			p, err := m.List(ctx, "docs", core.ListOptions{Limit: 20})
			if err != nil {
				return 0, err
			}
			return len(p.Items), nil
		}},
		{"search sorted by a field", 20, 2, func() (int, error) {
			p, err := m.Search(ctx, "docs", core.ListOptions{Limit: 20}, core.ListQuery{Sort: "-views"})
			if err != nil {
				return 0, err
			}
			return len(p.Items), nil
		}},
		{"search with expand", 20, 4, func() (int, error) {
			p, err := m.Search(ctx, "docs", core.ListOptions{Limit: 20, Expand: []string{"author"}}, core.ListQuery{Sort: "views"})
			if err != nil {
				return 0, err
			}
			for _, r := range p.Items {
				if r.Expand["author"] == nil {
					return 0, fmt.Errorf("%s: author not expanded", r.ID)
				}
			}
			return len(p.Items), nil
		}},
		{"get many", len(scattered) - 1, 2, func() (int, error) {
			got, err := m.GetMany(ctx, "docs", scattered, core.GetOptions{})
			if err != nil {
				return 0, err
			}
			n := 0
			for i, r := range got {
				switch {
				case r == nil && scattered[i] != "missing0000000000000000000":
					return 0, fmt.Errorf("GetMany left %s out", scattered[i])
				case r != nil && r.ID != scattered[i]:
					return 0, fmt.Errorf("GetMany put %s in place of %s", r.ID, scattered[i])
				case r != nil:
					n++
				}
			}
			return n, nil
		}},
		// The read right after an update guesses the revision wrong, and
		// must read the new one (its reads are not counted: the index
		// reads the update meanwhile; so it comes last).
		{"get after an update", 1, -1, func() (int, error) {
			if _, err := m.Replace(ctx, "docs", updated, fmt.Appendf(nil, `{"title":"updated 2","author":%q}`, users[0]), core.WriteOptions{}); err != nil {
				return 0, err
			}
			return get(updated, "updated 2")()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads.Store(0)
			n, err := tt.read()
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Fatalf("read %d resources, want %d", n, tt.want)
			}
			if got := reads.Load(); tt.maxReads >= 0 && got > tt.maxReads {
				t.Errorf("%d resources took %d storage reads, want at most %d", n, got, tt.maxReads)
			}
		})
	}
}
