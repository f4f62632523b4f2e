package core

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/strata-dev/strata/sdk/storage"
)

// Searcher answers filtered, full-text and sorted lists from an index
// (package index) that follows the change log. The Manager asks it only
// for ids; the resources themselves are read from storage, once, by the
// Manager. Options.Search builds it over the Manager's ChangeFeed.
type Searcher interface {
	Search(ctx context.Context, typ string, req SearchRequest) (*SearchResult, error)
	// Consumed is the change-log position up to which the index needs no
	// entry any more: the change log is never trimmed past it (see
	// Options.ChangesRetention).
	Consumed() uint64
}

// ChangeFeed is what a Searcher reads from the Manager it indexes: the
// types, the change log and a way to wait for it to grow, and the current
// state of resources. Manager.Feed returns one that reads as System;
// Options.Search receives it, so an index is built over the Manager
// without holding the Manager itself.
type ChangeFeed interface {
	// LastSeq is the sequence number of the newest committed change.
	LastSeq() uint64
	// Changed returns a channel closed when the next change commits.
	Changed() <-chan struct{}
	// Changes reads the change log after since, of the given types (nil:
	// all), at most limit entries.
	Changes(ctx context.Context, since uint64, types []string, limit int) (*ChangePage, error)
	// Types lists every type, sorted by name; Type returns one, or an
	// error wrapping ErrNotFound.
	Types() []Type
	Type(name string) (Type, error)
	// List pages through the resources of a type in creation order (an
	// index build reads a type whole this way).
	List(ctx context.Context, typ string, o ListOptions) (*Page, error)
	// GetMany reads the current state of many resources of one type in
	// one transaction; see Manager.GetMany.
	GetMany(ctx context.Context, typ string, ids []string, o GetOptions) ([]*Resource, error)
	// StartConsumer follows the change log as a consumer (see
	// Manager.StartConsumer): the index follows it that way.
	StartConsumer(cfg ConsumerConfig) (*Consumer, error)
}

var _ ChangeFeed = (*Manager)(nil)

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
	// Owner, when set, restricts matches to resources created by that
	// principal id; a cursor is bound to it like to the filter.
	Owner string
	// Highlight asks for the fragments of the search fields where Q
	// matched; it needs Q.
	Highlight bool
	// Hidden names top-level fields the asking principal may not read:
	// Filter and Sort must treat them (and the paths below them) as
	// unknown fields.
	Hidden []string
	// Facets asks for the most frequent values of fields among all the
	// matches (not only the page), and Stats for numeric summaries of
	// fields over them; see FacetRequest and FieldStats. Nil asks for
	// none. A field the index cannot count (unknown, hidden, long text,
	// not a number for Stats) is ErrInvalid.
	Facets []FacetRequest
	Stats  []string
}

// Bounds of a list's facets and stats (SPEC §3 List).
const (
	// DefaultFacetSize is the number of values of a facet when its
	// request gives no size.
	DefaultFacetSize = 10
	// MaxFacetSize is the largest size a facet may ask for.
	MaxFacetSize = 100
	// MaxAggregateFields is the most fields one list may name in facets,
	// and in stats.
	MaxAggregateFields = 20
)

// FacetRequest asks for the Size most frequent values of Field (a filter
// path or a meta field) among the matches of a search.
type FacetRequest struct {
	Field string
	// Size is the number of values, 1 to MaxFacetSize; 0 means
	// DefaultFacetSize.
	Size int
}

// FacetValue is one value of a facet and the number of matching
// resources that have it. Value is a string, a float64 or a bool; a
// date-time is its instant as an RFC 3339 string in UTC. An array counts
// each resource once per distinct element, so the same element twice in
// one array counts once.
type FacetValue struct {
	Value any `json:"value"`
	Count int `json:"count"`
}

// FieldStats summarises the numbers of one field over the matches of a
// search: Count is the number of matching resources with a number there;
// Min, Max, Sum and Avg are nil when Count is 0. Sum is also nil when it
// is beyond the range of a float64 (Avg is not).
type FieldStats struct {
	Count int      `json:"count"`
	Min   *float64 `json:"min"`
	Max   *float64 `json:"max"`
	Sum   *float64 `json:"sum"`
	Avg   *float64 `json:"avg"`
}

// checkAggregates checks the facets and stats a search asks for: at most
// MaxAggregateFields fields each, none named twice, sizes in bounds.
func checkAggregates(facets []FacetRequest, stats []string) error {
	if len(facets) > MaxAggregateFields || len(stats) > MaxAggregateFields {
		return errorf(ErrInvalid, "facets and stats name at most %d fields each", MaxAggregateFields)
	}
	seen := make(map[string]bool, len(facets))
	for _, f := range facets {
		if f.Field == "" {
			return errorf(ErrInvalid, "facets: empty field name")
		}
		if seen[f.Field] {
			return errorf(ErrInvalid, "facets: field %q is named twice", f.Field)
		}
		seen[f.Field] = true
		if f.Size < 0 || f.Size > MaxFacetSize {
			return errorf(ErrInvalid, "facets: the size of %q must be between 1 and %d", f.Field, MaxFacetSize)
		}
	}
	clear(seen)
	for _, f := range stats {
		if f == "" {
			return errorf(ErrInvalid, "stats: empty field name")
		}
		if seen[f] {
			return errorf(ErrInvalid, "stats: field %q is named twice", f)
		}
		seen[f] = true
	}
	return nil
}

// SearchResult is a page of matching ids, in order.
type SearchResult struct {
	IDs        []string
	NextCursor string
	// Total is the number of matches when SearchRequest.Total was set.
	Total int
	// Facets and Stats answer SearchRequest.Facets and Stats, by field
	// name (nil when none were asked for): a facet's values are the most
	// frequent first, ties by value ascending (numbers and times in their
	// order, strings by bytes, false before true).
	Facets map[string][]FacetValue
	Stats  map[string]FieldStats
	// Highlight, set when SearchRequest.Highlight was, marks where the
	// query matched in the data of a resource of the page: it returns its
	// search fields with a match, each to fragments of its text (HTML
	// with the matches in <mark> and the rest escaped), or nil. The
	// Manager calls it with the data it reads for the page, so the index
	// need not read the page's resources itself.
	Highlight func(data []byte) map[string][]string
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
	// Highlight asks for highlighted fragments of the search fields where
	// Q matched (SearchPage.Highlights); it needs Q.
	Highlight bool
	// Facets and Stats ask for the most frequent values and the numeric
	// summaries of fields over every match (SearchRequest.Facets, Stats).
	Facets []FacetRequest
	Stats  []string
}

// Aggregates reports whether q asks for facets or stats, which only the
// search index answers.
func (q ListQuery) Aggregates() bool { return len(q.Facets) > 0 || len(q.Stats) > 0 }

// SearchPage is a page of a search: the resources, the number of matches
// when ListQuery.Total asked for it, the highlights when
// ListQuery.Highlight did (see SearchResult.Highlight), and the facets
// and stats ListQuery asked for (see SearchResult.Facets).
type SearchPage struct {
	Page
	Total      int
	Highlights map[string]map[string][]string
	Facets     map[string][]FacetValue
	Stats      map[string]FieldStats
}

// Search lists resources matching a filter, full-text query or sort. It
// reflects every write committed before it was called unless q.Eventual.
// q.Highlight without q.Q is ErrInvalid.
func (m *Manager) Search(ctx context.Context, typ string, o ListOptions, q ListQuery) (*SearchPage, error) {
	if m.search == nil {
		return nil, errorf(ErrInvalid, "filter, q and sort need the search index, which this server does not run")
	}
	if q.Highlight && strings.TrimSpace(q.Q) == "" {
		return nil, errorf(ErrInvalid, "highlight needs q: it marks where the full-text query matched")
	}
	if err := checkAggregates(q.Facets, q.Stats); err != nil {
		return nil, err
	}
	ct, g, err := m.allowType(ctx, typ, PermRead)
	if err != nil {
		return nil, err
	}
	hidden, err := searchHidden(ctx, ct, q.Q)
	if err != nil {
		return nil, err
	}
	plan, err := m.planExpand(ctx, typ, o.Expand)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(o.Limit)
	if err != nil {
		return nil, err
	}
	req := SearchRequest{Filter: q.Filter, Q: q.Q, Sort: q.Sort, Cursor: o.Cursor, Limit: limit,
		IncludeDeleted: o.IncludeDeleted, Total: q.Total, Owner: owner(ctx, g), Highlight: q.Highlight, Hidden: hidden,
		Facets: q.Facets, Stats: q.Stats}
	if !q.Eventual {
		req.MinSeq = m.LastSeq()
	}
	res, err := m.search.Search(ctx, typ, req)
	if err != nil {
		return nil, err
	}
	sp := &SearchPage{Page: Page{Items: make([]*Resource, 0, len(res.IDs)), NextCursor: res.NextCursor},
		Total: res.Total, Facets: res.Facets, Stats: res.Stats}
	page := &sp.Page
	err = m.store.View(ctx, func(tx storage.Tx) error {
		arena := make([]byte, 0, len(res.IDs)*1536)
		r := reader{tx: tx, arena: &arena, hints: m.revHints}
		// The ids are scattered over storage: read them at once, and
		// list them in the search's order.
		metas, revs, err := r.currents(ct, res.IDs, false)
		if err != nil {
			return err
		}
		items := make([]*Resource, len(res.IDs))
		for i, id := range res.IDs {
			if revs[i] != nil { // else purged after the index answered
				items[i] = newResource(typ, id, metas[i], revs[i])
			}
		}
		for _, res := range items {
			if res != nil {
				page.Items = append(page.Items, res)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := m.redactAll(ctx, typ, sp.Items); err != nil {
		return nil, err
	}
	if err := m.expand(ctx, plan, sp.Items); err != nil {
		return nil, err
	}
	if q.Highlight && res.Highlight != nil {
		sp.Highlights = map[string]map[string][]string{}
		for _, r := range sp.Items {
			if h := res.Highlight(r.Data); h != nil {
				sp.Highlights[r.ID] = h
			}
		}
	}
	return sp, nil
}

// SearchCount counts resources matching a filter or full-text query.
func (m *Manager) SearchCount(ctx context.Context, typ string, includeDeleted bool, q ListQuery) (int, error) {
	if m.search == nil {
		return 0, errorf(ErrInvalid, "filter and q need the search index, which this server does not run")
	}
	ct, g, err := m.allowType(ctx, typ, PermRead)
	if err != nil {
		return 0, err
	}
	hidden, err := searchHidden(ctx, ct, q.Q)
	if err != nil {
		return 0, err
	}
	req := SearchRequest{Filter: q.Filter, Q: q.Q, IncludeDeleted: includeDeleted, Total: true, Owner: owner(ctx, g), Hidden: hidden}
	if !q.Eventual {
		req.MinSeq = m.LastSeq()
	}
	res, err := m.search.Search(ctx, typ, req)
	if err != nil {
		return 0, err
	}
	return res.Total, nil
}

// GetMany reads the current state of many resources of one type in one
// storage transaction, soft-deleted ones too when o.IncludeDeleted (the
// search index follows the change log with it). The result has one entry
// per id, in order: nil for a resource that does not exist or is not
// visible. o.Revision must be 0. The data of all the resources share one
// buffer.
func (m *Manager) GetMany(ctx context.Context, typ string, ids []string, o GetOptions) ([]*Resource, error) {
	if o.Revision != 0 {
		return nil, errorf(ErrInvalid, "GetMany reads current revisions only")
	}
	_, g, err := m.allowType(ctx, typ, PermRead)
	if err != nil {
		return nil, err
	}
	p := PrincipalFrom(ctx)
	out := make([]*Resource, len(ids))
	err = m.view(ctx, typ, func(ct *compiledType, r reader) error {
		arena := make([]byte, 0, len(ids)*1536)
		r.arena = &arena
		metas, revs, err := r.currents(ct, ids, false)
		if err != nil {
			return err
		}
		for i, id := range ids {
			meta := metas[i]
			if meta == nil || meta.Deleted && !o.IncludeDeleted || !g.Allows(p, meta.CreatedBy) {
				continue
			}
			if revs[i] == nil {
				return fmt.Errorf("load %s/%s: %w", typ, id, errorf(ErrNotFound, "%s/%s has no revision %d", typ, id, meta.CurrentRevision))
			}
			out[i] = newResource(typ, id, meta, revs[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := m.redactAll(ctx, typ, out); err != nil {
		return nil, err
	}
	return out, nil
}

// owner is the principal id a search is restricted to: its creator's, for
// a read grant of "owner" only.
func owner(ctx context.Context, g Grant) string {
	if g.All {
		return ""
	}
	return PrincipalFrom(ctx).ID
}
