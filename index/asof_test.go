package index

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestPlanAsOfOrdersAsTheIndex: the filter and order PlanAsOf compiles for
// lists as_of select and order random documents exactly as the reference
// the index's sorted search is checked against (refOrder), for random
// filters and sorts.
func TestPlanAsOfOrdersAsTheIndex(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, seed^0x51ed27))
	var x *Index // PlanAsOf reads no index state
	l, err := newLayout(filterPostsType)
	if err != nil {
		t.Fatal(err)
	}
	docs := make([]testDoc, 300)
	for i := range docs {
		docs[i] = randDoc(r, i)
	}
	g := &exprGen{r: r, docs: docs}
	for range testCases(t, 500) {
		src := ""
		if r.IntN(3) > 0 {
			src = g.expr(0)
		}
		spec := sortSpec(r)
		plan, err := x.PlanAsOf(filterPostsType, src, spec, nil)
		if err != nil {
			t.Fatalf("filter %q sort %q: %v", src, spec, err)
		}
		keys, err := sortKeys(spec, l)
		if err != nil {
			t.Fatal(err)
		}
		var matched []testDoc
		for _, d := range docs {
			if plan.Match == nil || plan.Match(d.data, d.meta) {
				matched = append(matched, d)
			}
		}
		got := slices.Clone(matched)
		slices.SortStableFunc(got, func(a, b testDoc) int {
			ka, kb := plan.Keys(a.data, a.meta, nil), plan.Keys(b.data, b.meta, nil)
			for i, desc := range plan.Desc {
				va, vb := ka[i], kb[i]
				switch {
				case va == nil && vb == nil:
					continue
				case va == nil:
					return 1
				case vb == nil:
					return -1
				}
				c := refCompare(va, vb)
				if desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return strings.Compare(a.id, b.id)
		})
		refOrder(matched, keys)
		for i := range got {
			if got[i].id != matched[i].id {
				t.Fatalf("filter %q sort %q: as_of order %v, index order %v (seed %d)", src, spec, ids(got), ids(matched), seed)
			}
		}
	}
}

func ids(docs []testDoc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.id
	}
	return out
}

// TestPlanAsOfRefusesAsSearch: PlanAsOf refuses what a live search
// refuses, hidden fields as unknown ones.
func TestPlanAsOfRefusesAsSearch(t *testing.T) {
	t.Parallel()
	var x *Index
	for _, c := range []struct{ filter, sort string }{
		{"nope = 1", ""},
		{"title = ", ""},
		{"", "nope"},
		{"", "tags"},
		{"", "-body"},
		{`status = "open"`, "-views"}, // status is hidden below
		{"", "status"},
	} {
		if _, err := x.PlanAsOf(filterPostsType, c.filter, c.sort, []string{"status"}); err == nil {
			t.Errorf("filter %q sort %q: no error", c.filter, c.sort)
		}
	}
}
