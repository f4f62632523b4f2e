package core_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

// BenchmarkListAsOf compares a list as_of an instant in the middle of the
// history of 20,000 resources (each created, then updated) with the live
// list of the same filter and sort, on bolt with the search index.
func BenchmarkListAsOf(b *testing.B) {
	const n, batch = 20000, 500
	var tick atomic.Int64
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Millisecond) }
	m := apptest.New(b, apptest.WithIndex(), apptest.WithCore(func(o *core.Options) { o.Now = now })).Manager
	ctx := core.AsSystem(b.Context())
	mustType(b, m, `{"name": "docs", "schema": {"type": "object", "required": ["title"], "properties": {
	  "title": {"type": "string"}, "views": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}}}`)
	write := func(kind core.OpKind, views func(i int) int) {
		for start := 0; start < n; start += batch {
			ops := make([]core.Op, 0, batch)
			for i := start; i < start+batch; i++ {
				body := fmt.Sprintf(`{"id": "d%05d", "title": "document %d", "views": %d, "tags": ["a", "b"]}`, i, i, views(i))
				op := core.Op{Kind: kind, Type: "docs", Body: []byte(body)}
				if kind != core.OpCreate {
					op.ID = fmt.Sprintf("d%05d", i)
				}
				ops = append(ops, op)
			}
			if _, err := m.Batch(ctx, ops, core.WriteOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	write(core.OpCreate, func(i int) int { return i % 100 })
	middle := now()
	write(core.OpReplace, func(i int) int { return (i * 7) % 100 })
	q := core.ListQuery{Filter: "views >= 90", Sort: "-views,title", Total: true}
	o := core.ListOptions{Limit: 20}
	items := func(sp *core.SearchPage, err error) (int, error) {
		if err != nil {
			return 0, err
		}
		return len(sp.Items), nil
	}
	// The index catches up with the writes before the clock starts (each
	// try waits for it up to index.MaxWait).
	for try := 0; ; try++ {
		_, err := items(m.Search(ctx, "docs", o, q))
		if err == nil {
			break
		}
		if !errors.Is(err, core.ErrUnavailable) || try == 60 {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		run  func() (int, error)
	}{
		{"live", func() (int, error) { return items(m.Search(ctx, "docs", o, q)) }},
		{"as_of_middle", func() (int, error) { return items(m.ListAsOf(ctx, "docs", middle, o, q)) }},
		{"as_of_middle_creation_order", func() (int, error) { return items(m.ListAsOf(ctx, "docs", middle, o, core.ListQuery{})) }},
		{"count_as_of_middle", func() (int, error) {
			_, err := m.CountAsOf(ctx, "docs", middle, false, core.ListQuery{Filter: "views >= 90"})
			return 20, err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := c.run()
				if err != nil || got != 20 {
					b.Fatalf("%d items, %v", got, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}
