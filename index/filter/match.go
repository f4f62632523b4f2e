package filter

import (
	"encoding/json"
	"strings"
	"time"
)

// Match reports whether a resource matches the expression. doc is the
// decoded JSON data of the resource and meta holds its meta fields (id,
// created_at, updated_at, created_by, updated_by); either may be nil.
// Numbers may be float64, json.Number or Go integer types. Match is exact
// and is the reference semantics for compiled index queries; see the
// package documentation. It is safe for concurrent use.
func (e *Expr) Match(doc map[string]any, meta map[string]any) bool {
	return match(e.root, doc, meta)
}

func match(n Node, doc, meta map[string]any) bool {
	switch n := n.(type) {
	case *And:
		for _, c := range n.Nodes {
			if !match(c, doc, meta) {
				return false
			}
		}
		return true
	case *Or:
		for _, c := range n.Nodes {
			if match(c, doc, meta) {
				return true
			}
		}
		return false
	case *Clause:
		return n.match(doc, meta)
	}
	return false
}

// lookup finds a dotted path in doc, or a meta field in meta.
func lookup(path string, doc, meta map[string]any) (any, bool) {
	if IsMeta(path) {
		v, ok := meta[path]
		return v, ok
	}
	var cur any = doc
	for {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		key, rest, more := strings.Cut(path, ".")
		cur, ok = m[key]
		if !ok {
			return nil, false
		}
		if !more {
			return cur, true
		}
		path = rest
	}
}

func (c *Clause) match(doc, meta map[string]any) bool {
	v, _ := lookup(c.Field, doc, meta)
	if v == nil { // missing or null
		switch {
		case c.Value == nil:
			return c.Op == Eq
		case c.Op == Neq:
			return true
		}
		return false
	}
	switch c.Op {
	case Eq:
		return c.Value != nil && equal(v, c.Value)
	case Neq:
		return c.Value == nil || !equal(v, c.Value)
	case Like, NotLike:
		s, ok := v.(string)
		lit, _ := c.Value.(string)
		if !ok {
			return false
		}
		return contains(s, lit) == (c.Op == Like)
	case AnyEq:
		switch a := v.(type) {
		case []any:
			for _, el := range a {
				if equal(el, c.Value) {
					return true
				}
			}
		case []string:
			for _, el := range a {
				if equal(el, c.Value) {
					return true
				}
			}
		}
		return false
	case Gt, Gte, Lt, Lte:
		r, ok := compare(v, c.Value)
		if !ok {
			return false
		}
		switch c.Op {
		case Gt:
			return r > 0
		case Gte:
			return r >= 0
		case Lt:
			return r < 0
		}
		return r <= 0
	}
	return false
}

// contains is case-insensitive substring search.
func contains(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// number converts a decoded JSON number to float64.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	}
	return 0, false
}

// asTime interprets a document value as an RFC 3339 time.
func asTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, true
	case string:
		p, err := time.Parse(time.RFC3339Nano, t)
		return p, err == nil
	}
	return time.Time{}, false
}

func equal(v, lit any) bool {
	r, ok := compare(v, lit)
	return ok && r == 0
}

// compare orders the document value v against the literal lit, reporting
// false when they are not comparable (different JSON types, or a Time
// field holding something that is not an RFC 3339 time).
func compare(v, lit any) (int, bool) {
	switch l := lit.(type) {
	case time.Time:
		t, ok := asTime(v)
		if !ok {
			return 0, false
		}
		return t.Compare(l), true
	case string:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(s, l), true
	case float64:
		f, ok := number(v)
		if !ok {
			return 0, false
		}
		switch {
		case f < l:
			return -1, true
		case f > l:
			return 1, true
		case f == l:
			return 0, true
		}
		return 0, false // NaN
	case bool:
		b, ok := v.(bool)
		if !ok {
			return 0, false
		}
		if b == l {
			return 0, true
		}
		if !b {
			return -1, true
		}
		return 1, true
	}
	return 0, false
}
