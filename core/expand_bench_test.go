package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/strata-dev/strata/app/apptest"
	"github.com/strata-dev/strata/core"
)

// BenchmarkListExpand compares a page of 20 with and without one
// expanded reference (20 documents over 10 authors), each rendered as the
// server renders it, in one loop: expand/plain is the ratio of their
// times, which should stay under 2.
func BenchmarkListExpand(b *testing.B) {
	m := apptest.New(b).Manager // over a bolt file, as served
	ctx := core.AsSystem(context.Background())
	for _, def := range []core.Type{
		{Name: "users", Schema: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"bio":{"type":"string"}}}`)},
		{Name: "docs", Schema: json.RawMessage(`{"type":"object","required":["title"],"properties":{"title":{"type":"string"},"body":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},"views":{"type":"integer"},"author":{"type":"string"}}}`),
			References: map[string]core.Reference{"author": {Type: "users"}}},
	} {
		if _, err := m.CreateType(ctx, def); err != nil {
			b.Fatal(err)
		}
	}
	var users []string
	for i := range 10 {
		res, err := m.Create(ctx, "users", fmt.Appendf(nil, `{"name":"user %d","bio":"a short biography of the user"}`, i), core.WriteOptions{})
		if err != nil {
			b.Fatal(err)
		}
		users = append(users, res.ID)
	}
	for i := range 1000 {
		doc := fmt.Sprintf(`{"title":"doc %d","body":%q,"tags":["a","b"],"views":%d,"author":%q}`, i, benchDoc, i, users[i%len(users)])
		if _, err := m.Create(ctx, "docs", []byte(doc), core.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	list := func(expand []string) time.Duration {
		start := time.Now()
		page, err := m.List(ctx, "docs", core.ListOptions{Limit: 20, Expand: expand})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range page.Items {
			_ = r.AppendJSON(nil)
		}
		return time.Since(start)
	}
	// The two alternate, so a loaded machine slows both alike.
	var plain, expanded time.Duration
	b.ReportAllocs()
	for b.Loop() {
		plain += list(nil)
		expanded += list([]string{"author"})
	}
	b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N), "plain-ns/page")
	b.ReportMetric(float64(expanded.Nanoseconds())/float64(b.N), "expand-ns/page")
	b.ReportMetric(float64(expanded)/float64(plain), "expand/plain")
}
