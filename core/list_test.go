package core_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/strata-dev/strata/core"
)

// TestListPagesReadWhatGetReads walks the list of a type whose resources
// sit apart in storage (ids given out of creation order among generated
// ones, several revisions, soft deletes) by pages of every size, forward
// and backward, with and without the deleted: every resource comes once,
// in creation order, with the current revision Get reads.
func TestListPagesReadWhatGetReads(t *testing.T) {
	t.Parallel()
	m := newBoltManager(t, core.Options{})
	mustType(t, m, `{"name":"items","schema":{"type":"object"}}`)
	ctx := core.AsSystem(t.Context())
	r := rand.New(rand.NewPCG(5, 6))
	var ids []string
	for i := range 90 {
		body := fmt.Sprintf(`{"i":%d}`, i)
		if r.IntN(3) == 0 {
			// A given id sorts anywhere among the generated ones.
			body = fmt.Sprintf(`{"id":"%c%d","i":%d}`, "0Az_-"[r.IntN(5)], r.IntN(1_000_000), i)
		}
		res, err := m.Create(ctx, "items", []byte(body), core.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.ID)
	}
	deleted := map[string]bool{}
	for range 40 {
		id := ids[r.IntN(len(ids))]
		if deleted[id] {
			continue
		}
		var err error
		if r.IntN(4) == 0 {
			err = m.Delete(ctx, "items", id, core.WriteOptions{})
			deleted[id] = true
		} else {
			_, err = m.Replace(ctx, "items", id, []byte(fmt.Sprintf(`{"v":%d}`, r.IntN(100))), core.WriteOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, includeDeleted := range []bool{false, true} {
		for _, reverse := range []bool{false, true} {
			var want []*core.Resource
			for _, id := range ids {
				res, err := m.Get(ctx, "items", id, core.GetOptions{IncludeDeleted: includeDeleted})
				if err != nil {
					continue
				}
				want = append(want, res)
			}
			slices.SortStableFunc(want, func(a, b *core.Resource) int {
				if c := strings.Compare(a.Meta.CreatedAt, b.Meta.CreatedAt); c != 0 {
					return c
				}
				return strings.Compare(a.ID, b.ID)
			})
			if reverse {
				slices.Reverse(want)
			}
			for _, limit := range []int{1, 2, 3, 7, 20, 1000} {
				t.Run(fmt.Sprintf("deleted=%v reverse=%v limit=%d", includeDeleted, reverse, limit), func(t *testing.T) {
					var got []*core.Resource
					cursor := ""
					for range 200 {
						p, err := m.List(ctx, "items", core.ListOptions{Limit: limit, Cursor: cursor, IncludeDeleted: includeDeleted, Reverse: reverse})
						if err != nil {
							t.Fatal(err)
						}
						if len(p.Items) > limit || len(p.Items) < limit && p.NextCursor != "" {
							t.Fatalf("page of %d with limit %d, cursor %q", len(p.Items), limit, p.NextCursor)
						}
						got = append(got, p.Items...)
						if p.NextCursor == "" {
							break
						}
						cursor = p.NextCursor
					}
					if len(got) != len(want) {
						t.Fatalf("listed %d resources, want %d", len(got), len(want))
					}
					for i := range got {
						if !reflect.DeepEqual(got[i], want[i]) {
							t.Fatalf("item %d:\n got %+v\nwant %+v", i, got[i], want[i])
						}
					}
				})
			}
		}
	}
}
