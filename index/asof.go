package index

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// asOfTimeLayout renders times as sort values of a list as_of: fixed
// width, so that strings compare chronologically.
const asOfTimeLayout = "2006-01-02T15:04:05.000000000Z"

var _ core.AsOfPlanner = (*Index)(nil)

// PlanAsOf compiles a filter and sort for a list as_of (core.AsOfPlanner):
// the filter is filter.Parse's over the type's filter schema, matched by
// Expr.Match, the reference semantics of the index's own queries; the
// sort orders as a live list does (strings bytewise, numbers and times in
// their order, false before true, missing values last). It accepts and
// refuses exactly what Search does for a live list, hidden fields being
// unknown fields. It reads no index, so it works while one is built.
func (x *Index) PlanAsOf(t core.Type, expr, sort string, hidden []string) (*core.AsOfPlan, error) {
	lay, err := newLayout(t)
	if err != nil {
		return nil, err
	}
	schema := lay.filterSchema()
	for path := range schema {
		if isHidden(path, hidden) {
			delete(schema, path)
		}
	}
	plan := &core.AsOfPlan{}
	if expr != "" {
		e, err := filter.Parse(expr, schema, filter.Limits{})
		if err != nil {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: err.Error()}
		}
		if _, err := lay.compileFilter(e); err != nil {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: "filter: " + err.Error()}
		}
		plan.Match = e.Match
		e.Walk(func(c filter.Clause) bool {
			plan.NeedsData = plan.NeedsData || !filter.IsMeta(c.Field)
			return !plan.NeedsData
		})
	}
	var getters []func(data, meta map[string]any) any
	add := func(desc bool, get func(data, meta map[string]any) any) {
		plan.Desc = append(plan.Desc, desc)
		getters = append(getters, get)
	}
	if strings.TrimSpace(sort) == "" {
		add(false, timeValue(metaValue(FieldCreatedAt)))
	}
entries:
	for _, t := range sortEntries(sort) {
		name, desc := t.name, t.desc
		switch name {
		case "id":
			add(desc, metaValue("id"))
			break entries // the id orders totally: later keys never count
		case "_score", "score":
			continue // relevance needs q, which a list as_of refuses
		}
		if isHidden(name, hidden) {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("sort: unknown field %q", name)}
		}
		fi := lay.info(name)
		if fi == nil {
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("sort: unknown field %q", name)}
		}
		get := metaValue(name)
		if !filter.IsMeta(name) {
			get, plan.NeedsData = dataValue(name), true
		}
		switch fi.kind {
		case filter.String:
			add(desc, stringValue(get))
		case filter.Number:
			add(desc, numberValue(get))
		case filter.Time:
			add(desc, timeValue(get))
		case filter.Bool:
			add(desc, boolValue(get))
		default:
			return nil, &core.Error{Kind: core.ErrInvalid, Detail: fmt.Sprintf("sort: field %q is not sortable", name)}
		}
	}
	plan.Keys = func(data, meta map[string]any, dst []any) []any {
		for _, get := range getters {
			dst = append(dst, get(data, meta))
		}
		return dst
	}
	return plan, nil
}

func metaValue(name string) func(_, meta map[string]any) any {
	return func(_, meta map[string]any) any { return meta[name] }
}

// dataValue reads a dotted path of the data, nil when missing.
func dataValue(path string) func(data, _ map[string]any) any {
	parts := strings.Split(path, ".")
	return func(data, _ map[string]any) any {
		var cur any = data
		for _, p := range parts {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = obj[p]
		}
		return cur
	}
}

// The sort values of each kind: a value of another JSON type is missing,
// as it has no term of the field's kind in the index.

func stringValue(get func(data, meta map[string]any) any) func(data, meta map[string]any) any {
	return func(data, meta map[string]any) any {
		if s, ok := get(data, meta).(string); ok {
			return s
		}
		return nil
	}
}

func numberValue(get func(data, meta map[string]any) any) func(data, meta map[string]any) any {
	return func(data, meta map[string]any) any {
		switch n := get(data, meta).(type) {
		case json.Number:
			if f, err := n.Float64(); err == nil {
				return f
			}
		case float64:
			return n
		}
		return nil
	}
}

func boolValue(get func(data, meta map[string]any) any) func(data, meta map[string]any) any {
	return func(data, meta map[string]any) any {
		if b, ok := get(data, meta).(bool); ok {
			return b
		}
		return nil
	}
}

func timeValue(get func(data, meta map[string]any) any) func(data, meta map[string]any) any {
	return func(data, meta map[string]any) any {
		s, ok := get(data, meta).(string)
		if !ok {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil
		}
		return t.UTC().Format(asOfTimeLayout)
	}
}
