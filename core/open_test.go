package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/plugins/memory"
	"github.com/strata-dev/strata/sdk/storage"
)

// stubSearcher answers every search with fixed ids.
type stubSearcher struct{ ids []string }

func (s stubSearcher) Search(context.Context, string, core.SearchRequest) (*core.SearchResult, error) {
	return &core.SearchResult{IDs: s.ids}, nil
}

func (s stubSearcher) Consumed() uint64 { return 0 }

// TestOpenBuildsSearch: Open applies the declared types, then builds the
// searcher over its own change feed (which already shows them), and
// searches go to it; a searcher that cannot be built fails Open, and
// without one search is refused as invalid.
func TestOpenBuildsSearch(t *testing.T) {
	t.Parallel()
	notes := core.Type{Name: "notes", Schema: json.RawMessage(`{"type":"object"}`)}
	tests := []struct {
		name    string
		search  func(feed core.ChangeFeed, ids []string) (core.Searcher, error)
		wantErr bool
	}{
		{"built", func(feed core.ChangeFeed, ids []string) (core.Searcher, error) {
			if got := feed.Types(); len(got) != 1 || got[0].Name != "notes" {
				return nil, errors.New("the declared types are not applied yet")
			}
			if feed.LastSeq() == 0 {
				return nil, errors.New("the change log does not show the declared types")
			}
			return stubSearcher{ids: ids}, nil
		}, false},
		{"failed", func(core.ChangeFeed, []string) (core.Searcher, error) {
			return nil, errors.New("disk full")
		}, true},
		{"none", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := core.AsSystem(t.Context())
			store, err := memory.Open(ctx, "", storage.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			// A resource written before the searcher exists, found through it.
			seed, err := core.Open(ctx, store, core.Options{Types: []core.Type{notes}})
			if err != nil {
				t.Fatal(err)
			}
			r, err := seed.Create(ctx, "notes", []byte(`{"a":1}`), core.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_ = seed.Close()

			o := core.Options{Types: []core.Type{notes}}
			if tt.search != nil {
				o.Search = func(_ context.Context, feed core.ChangeFeed) (core.Searcher, error) {
					return tt.search(feed, []string{r.ID})
				}
			}
			m, err := core.Open(ctx, store, o)
			if tt.wantErr {
				if err == nil {
					_ = m.Close()
					t.Fatal("Open succeeded though the searcher failed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			page, err := m.Search(ctx, "notes", core.ListOptions{}, core.ListQuery{Filter: "a = 1", Eventual: true})
			if tt.search == nil {
				if !errors.Is(err, core.ErrInvalid) {
					t.Fatalf("search without a searcher: %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, it := range page.Items {
				ids = append(ids, it.ID)
			}
			if !slices.Equal(ids, []string{r.ID}) {
				t.Fatalf("search found %v, want [%s]", ids, r.ID)
			}
		})
	}
}
