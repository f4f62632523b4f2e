package server

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/strata-dev/strata/core"
)

// parseAggregates reads the facets and stats of a list into q:
// facets=status,tags:20 (a field, and optionally how many values) and
// stats=views,price.
func parseAggregates(c *fiber.Ctx, q *core.ListQuery) error {
	var err error
	if q.Facets, err = parseFacets(c.Query("facets")); err != nil {
		return err
	}
	q.Stats, err = parseStats(c.Query("stats"))
	return err
}

// aggregateFields splits a comma list of at most core.MaxAggregateFields
// fields; empty entries are refused.
func aggregateFields(param, s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.SplitN(s, ",", core.MaxAggregateFields+1)
	if len(parts) > core.MaxAggregateFields {
		return nil, badRequest("%s names at most %d fields", param, core.MaxAggregateFields)
	}
	for i, p := range parts {
		if parts[i] = strings.TrimSpace(p); parts[i] == "" {
			return nil, badRequest("%s: empty field name in %q", param, s)
		}
	}
	return parts, nil
}

// parseFacets reads "status,tags:20": the fields, each with its number
// of values (core.DefaultFacetSize when not given).
func parseFacets(s string) ([]core.FacetRequest, error) {
	fields, err := aggregateFields("facets", s)
	if err != nil || fields == nil {
		return nil, err
	}
	out := make([]core.FacetRequest, 0, len(fields))
	for _, f := range fields {
		name, size, sized := strings.Cut(f, ":")
		fr := core.FacetRequest{Field: strings.TrimSpace(name)}
		if fr.Field == "" {
			return nil, badRequest("facets: empty field name in %q", s)
		}
		if sized {
			n, err := strconv.Atoi(strings.TrimSpace(size))
			if err != nil || n < 1 || n > core.MaxFacetSize {
				return nil, badRequest("facets: the size of %q must be an integer between 1 and %d, not %q", fr.Field, core.MaxFacetSize, size)
			}
			fr.Size = n
		}
		out = append(out, fr)
	}
	return out, nil
}

// parseStats reads "views,price".
func parseStats(s string) ([]string, error) { return aggregateFields("stats", s) }

// appendAggregates adds the "facets" and "stats" members of a list, when
// asked for, to body.
func appendAggregates(body []byte, facets map[string][]core.FacetValue, stats map[string]core.FieldStats) ([]byte, error) {
	for _, m := range []struct {
		name string
		v    any
		set  bool
	}{{"facets", facets, facets != nil}, {"stats", stats, stats != nil}} {
		if !m.set {
			continue
		}
		raw, err := json.Marshal(m.v)
		if err != nil {
			return nil, err
		}
		body = append(append(append(body, `,"`...), m.name...), `":`...)
		body = append(body, raw...)
	}
	return body, nil
}
