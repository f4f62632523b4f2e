package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index"
	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/plugins/postgres/pgtest"
)

// TestPagesInFewRoundTrips reads resources through a Manager and its index
// over PostgreSQL as a node does: each read must return what was written,
// in a round trip or two whatever the number of resources (a get reads a
// meta and the revision it names at once; a page its metas and
// revisions), also when the revision guessed is not the current one.
func TestPagesInFewRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := core.AsSystem(t.Context())
	s, queries, err := postgres.OpenCounting(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var ix *index.Index
	m, err := core.Open(ctx, s, core.Options{
		FollowInterval: time.Hour, // no polling between the counts
		Search: func(ctx context.Context, feed core.ChangeFeed) (core.Searcher, error) {
			ix, err = index.Open(ctx, filepath.Join(t.TempDir(), "index"), feed, nil)
			return ix, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = m.Close()
		_ = ix.Close()
	})
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
	for i := range 10 {
		res, err := m.Create(ctx, "users", fmt.Appendf(nil, `{"name":"user %d"}`, i), core.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, res.ID)
	}
	title := map[string]string{}
	for i := range 45 {
		res, err := m.Create(ctx, "docs", fmt.Appendf(nil, `{"title":"doc %d","views":%d,"author":%q}`, i, i*17%45, users[i%len(users)]), core.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, res.ID)
		title[res.ID] = fmt.Sprintf("doc %d", i)
	}
	// Revisions 2 and 3 of some, read or not before; a soft-deleted one.
	for _, i := range []int{4, 9, 30} {
		if _, err := m.Get(ctx, "docs", docs[i], core.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{4, 5, 30, 31} {
		for n := range 2 {
			body := fmt.Appendf(nil, `{"title":"doc %d v%d","views":%d,"author":%q}`, i, n+2, i, users[0])
			if _, err := m.Replace(ctx, "docs", docs[i], body, core.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			title[docs[i]] = fmt.Sprintf("doc %d v%d", i, n+2)
		}
	}
	if err := m.Delete(ctx, "docs", docs[9], core.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	live := slices.Delete(slices.Clone(docs), 9, 10)
	// The index has caught up before round trips are counted.
	if _, err := m.Search(ctx, "docs", core.ListOptions{}, core.ListQuery{Sort: "views"}); err != nil {
		t.Fatal(err)
	}

	// check fails unless items are the resources ids, in order, with the
	// data last written.
	check := func(items []*core.Resource, ids []string) error {
		got := make([]string, len(items))
		for i, r := range items {
			got[i] = r.ID
			var doc struct{ Title string }
			if err := json.Unmarshal(r.Data, &doc); err != nil || doc.Title != title[r.ID] {
				return fmt.Errorf("%s has title %q (%v), want %q", r.ID, doc.Title, err, title[r.ID])
			}
		}
		if !slices.Equal(got, ids) {
			return fmt.Errorf("read %q, want %q", got, ids)
		}
		return nil
	}
	get := func(id string) func() error {
		return func() error {
			res, err := m.Get(ctx, "docs", id, core.GetOptions{})
			if err != nil {
				return err
			}
			return check([]*core.Resource{res}, []string{id})
		}
	}
	list := func(limit int, want []string) func() error {
		return func() error {
			p, err := m.List(ctx, "docs", core.ListOptions{Limit: limit})
			if err != nil {
				return err
			}
			return check(p.Items, want)
		}
	}
	tests := []struct {
		name string
		// maxQueries bounds the round trips of the read: the fewest of
		// three tries, as a poll of the change log may add one.
		maxQueries uint64
		read       func() error
	}{
		{"get", 1, get(docs[1])},
		{"get revision 3, read at revision 1 before", 2, get(docs[4])},
		{"get revision 3, never read", 2, get(docs[31])},
		{"list", 2, list(8, live[:8])},
		// The deleted one leaves the first batch short: a second one
		// reads the rest.
		{"list past a deleted one", 4, list(20, live[:20])},
		{"search sorted by a field", 2, func() error {
			p, err := m.Search(ctx, "docs", core.ListOptions{Limit: 44}, core.ListQuery{Sort: "title"})
			if err != nil {
				return err
			}
			want := slices.Clone(live)
			slices.SortFunc(want, func(a, b string) int { return strings.Compare(title[a], title[b]) })
			return check(p.Items, want)
		}},
		{"search with expand", 4, func() error {
			p, err := m.Search(ctx, "docs", core.ListOptions{Limit: 20, Expand: []string{"author"}}, core.ListQuery{Sort: "-views"})
			if err != nil {
				return err
			}
			for _, r := range p.Items {
				if a := r.Expand["author"]; a == nil || !slices.Contains(users, a.ID) {
					return fmt.Errorf("%s: author not expanded", r.ID)
				}
			}
			return nil
		}},
		{"get many", 2, func() error {
			ids := []string{docs[30], docs[2], "missing", docs[9], docs[44], docs[5]}
			got, err := m.GetMany(ctx, "docs", ids, core.GetOptions{})
			if err != nil {
				return err
			}
			var items []*core.Resource
			for _, r := range got {
				if r != nil {
					items = append(items, r)
				}
			}
			return check(items, []string{docs[30], docs[2], docs[44], docs[5]})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fewest := uint64(1 << 63)
			for range 3 {
				before := queries()
				if err := tt.read(); err != nil {
					t.Fatal(err)
				}
				fewest = min(fewest, queries()-before)
			}
			if fewest > tt.maxQueries {
				t.Errorf("took %d round trips, want at most %d", fewest, tt.maxQueries)
			}
		})
	}
}
