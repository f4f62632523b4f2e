package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/strata-dev/strata/sdk/storage"
)

// Searcher answers filtered, full-text and sorted lists from an index
// (package index) that follows the change log. The Manager asks it only
// for ids; the resources themselves are read from storage.
type Searcher interface {
	Search(ctx context.Context, typ string, req SearchRequest) (*SearchResult, error)
}

// SearchRequest is a list or count with a filter, a full-text query or a
// sort other than creation order.
type SearchRequest struct {
	// Filter is a filter expression (SPEC §3), Q a full-text query, Sort a
	// comma list of fields with "-" for descending; all may be empty.
	Filter, Q, Sort string
	// Cursor continues an earlier search with the same Filter, Q and Sort.
	Cursor string
	// Limit is the page size; 0 asks for the count only.
	Limit          int
	IncludeDeleted bool
	// Total asks for the exact number of matches.
	Total bool
	// MinSeq is the change-log position the index must have reached before
	// answering (read-your-writes); 0 answers at once.
	MinSeq uint64
}

// SearchResult is a page of matching ids, in order.
type SearchResult struct {
	IDs        []string
	NextCursor string
	// Total is the number of matches when SearchRequest.Total was set.
	Total int
}

// ErrUnavailable: the search index could not catch up with the change log
// in time; the client may retry.
var ErrUnavailable = errors.New("core: search index unavailable")

// ListQuery is a list that needs the search index.
type ListQuery struct {
	Filter, Q, Sort string
	// Eventual skips the read-your-writes wait.
	Eventual bool
	Total    bool
}

// Search lists resources matching a filter, full-text query or sort. It
// reflects every write committed before it was called unless q.Eventual.
func (m *Manager) Search(ctx context.Context, typ string, o ListOptions, q ListQuery) (*Page, int, error) {
	if m.search == nil {
		return nil, 0, errorf(ErrInvalid, "filter, q and sort need the search index, which this server does not run")
	}
	ct, err := m.lookupType(typ)
	if err != nil {
		return nil, 0, err
	}
	limit, err := pageLimit(o.Limit)
	if err != nil {
		return nil, 0, err
	}
	req := SearchRequest{Filter: q.Filter, Q: q.Q, Sort: q.Sort, Cursor: o.Cursor, Limit: limit,
		IncludeDeleted: o.IncludeDeleted, Total: q.Total}
	if !q.Eventual {
		req.MinSeq = m.LastSeq()
	}
	res, err := m.search.Search(ctx, typ, req)
	if err != nil {
		return nil, 0, err
	}
	page := &Page{Items: make([]*Resource, 0, len(res.IDs)), NextCursor: res.NextCursor}
	err = m.store.View(ctx, func(tx storage.Tx) error {
		arena := make([]byte, 0, len(res.IDs)*1536)
		r := reader{tx: tx, arena: &arena}
		for _, id := range res.IDs {
			meta, rev, err := r.current(ct, id)
			if errors.Is(err, ErrNotFound) {
				continue // purged after the index answered
			}
			if err != nil {
				return fmt.Errorf("load %s/%s: %w", typ, id, err)
			}
			page.Items = append(page.Items, newResource(typ, id, meta, rev))
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return page, res.Total, nil
}

// SearchCount counts resources matching a filter or full-text query.
func (m *Manager) SearchCount(ctx context.Context, typ string, includeDeleted bool, q ListQuery) (int, error) {
	if m.search == nil {
		return 0, errorf(ErrInvalid, "filter and q need the search index, which this server does not run")
	}
	if _, err := m.lookupType(typ); err != nil {
		return 0, err
	}
	req := SearchRequest{Filter: q.Filter, Q: q.Q, IncludeDeleted: includeDeleted, Total: true}
	if !q.Eventual {
		req.MinSeq = m.LastSeq()
	}
	res, err := m.search.Search(ctx, typ, req)
	if err != nil {
		return 0, err
	}
	return res.Total, nil
}

// SetSearcher attaches the search index. It is set once, after Open (the
// index follows the Manager's change log, so it is built from the Manager),
// and before the Manager serves searches.
func (m *Manager) SetSearcher(s Searcher) { m.search = s }
