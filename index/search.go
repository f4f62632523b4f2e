package index

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// MaxWait bounds how long a search waits for the index to catch up with
// the writes committed before it (read-your-writes).
const MaxWait = 5 * time.Second

// Search answers a filtered, full-text or sorted list (core.Searcher).
func (x *Index) Search(ctx context.Context, typ string, req core.SearchRequest) (*core.SearchResult, error) {
	if req.MinSeq > 0 {
		if err := x.WaitFor(ctx, req.MinSeq, MaxWait); err != nil {
			return nil, err
		}
	}
	if err := x.ensure(ctx, typ, MaxWait); err != nil {
		return nil, err
	}
	x.mu.RLock()
	ti := x.types[typ]
	x.mu.RUnlock()
	if ti == nil {
		return nil, &core.Error{Kind: core.ErrUnavailable, Detail: "the search index of " + typ + " is being built; retry"}
	}
	schema, err := FilterSchema(ti.def)
	if err != nil {
		return nil, err
	}
	var parts []query.Query
	canonical := ""
	if req.Filter != "" {
		e, err := filter.Parse(req.Filter, schema, filter.Limits{})
		if err != nil {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: "filter: " + err.Error()}
		}
		q, err := Query(e, ti.def)
		if err != nil {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: "filter: " + err.Error()}
		}
		parts = append(parts, q)
		canonical = e.String()
	}
	if strings.TrimSpace(req.Q) != "" {
		if len(ti.def.Search) == 0 {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: "q: type " + typ + " has no search fields"}
		}
		parts = append(parts, TextQuery(req.Q, ti.def))
	}
	var q query.Query = bleve.NewMatchAllQuery()
	if len(parts) > 0 {
		q = bleve.NewConjunctionQuery(parts...)
	}
	if !req.IncludeDeleted {
		deleted := bleve.NewBoolFieldQuery(true)
		deleted.SetField(FieldDeleted)
		b := bleve.NewBooleanQuery()
		b.AddMust(q)
		b.AddMustNot(deleted)
		q = b
	}

	order, err := sortOrder(req.Sort, req.Q != "", schema)
	if err != nil {
		return nil, err
	}
	// The cursor is bound to what it pages through.
	binding := hashOf(canonical, req.Q, req.Sort, fmt.Sprint(req.IncludeDeleted))

	sr := bleve.NewSearchRequestOptions(q, req.Limit+1, 0, false)
	if req.Limit == 0 {
		sr.Size = 0
	}
	sr.SortByCustom(order)
	if req.Cursor != "" {
		after, err := decodeSearchCursor(req.Cursor, binding)
		if err != nil {
			return nil, err
		}
		sr.SearchAfter = after
	}
	res, err := ti.idx.SearchInContext(ctx, sr)
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", typ, err)
	}
	out := &core.SearchResult{IDs: make([]string, 0, min(len(res.Hits), req.Limit))}
	if req.Total {
		out.Total = int(res.Total)
	}
	for i, hit := range res.Hits {
		if i == req.Limit {
			// SearchAfter takes decoded values (numbers and dates as
			// text); Sort holds their prefix-coded index form.
			last := res.Hits[i-1]
			after := last.Sort
			if len(last.DecodedSort) == len(last.Sort) {
				after = last.DecodedSort
			}
			out.NextCursor = encodeSearchCursor(after, binding)
			break
		}
		out.IDs = append(out.IDs, hit.ID)
	}
	return out, nil
}

// sortOrder turns "-views,title" into Bleve's order, always ending with the
// id so the order is total.
func sortOrder(spec string, scored bool, schema filter.Schema) (search.SortOrder, error) {
	var order search.SortOrder
	hasID := false
	if strings.TrimSpace(spec) == "" {
		if scored {
			order = append(order, &search.SortScore{Desc: true})
		} else {
			order = append(order, &search.SortField{Field: FieldCreatedAt, Type: search.SortFieldAsDate, Missing: search.SortFieldMissingLast})
		}
	}
	for f := range strings.SplitSeq(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		desc := strings.HasPrefix(f, "-")
		name := strings.TrimPrefix(strings.TrimPrefix(f, "-"), "+")
		switch name {
		case "id":
			order = append(order, &search.SortDocID{Desc: desc})
			hasID = true
			continue
		case "_score", "score":
			order = append(order, &search.SortScore{Desc: !desc})
			continue
		}
		field, ok := schema[name]
		if !ok {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("sort: unknown field %q", name)}
		}
		sf := &search.SortField{Field: name, Desc: desc, Missing: search.SortFieldMissingLast}
		switch field.Kind {
		case filter.Number:
			sf.Type = search.SortFieldAsNumber
		case filter.Time:
			sf.Type = search.SortFieldAsDate
		case filter.String, filter.Bool:
			sf.Type = search.SortFieldAsString
		default:
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("sort: field %q is not sortable", name)}
		}
		order = append(order, sf)
	}
	if !hasID {
		order = append(order, &search.SortDocID{})
	}
	return order, nil
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

type searchCursor struct {
	After   []string `json:"a"`
	Binding string   `json:"b"`
}

func encodeSearchCursor(after []string, binding string) string {
	raw, _ := json.Marshal(searchCursor{After: after, Binding: binding})
	return "s." + base64.RawURLEncoding.EncodeToString(raw)
}

var errBadCursor = &core.Error{Kind: core.ErrInvalid, Detail: "invalid cursor"}

func decodeSearchCursor(cursor, binding string) ([]string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(cursor, "s."))
	if err != nil || !strings.HasPrefix(cursor, "s.") {
		return nil, errBadCursor
	}
	var c searchCursor
	if err := json.Unmarshal(raw, &c); err != nil || len(c.After) == 0 {
		return nil, errBadCursor
	}
	if c.Binding != binding {
		return nil, &core.Error{Kind: core.ErrInvalid, Detail: "the cursor belongs to another filter, q or sort"}
	}
	return c.After, nil
}
