package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/strata-dev/strata/core"
)

// benchDoc is a document of about 1 KiB.
var benchDoc = fmt.Sprintf(`{"title":"A benchmark document title","summary":"a short summary of the document","body":%q,"tags":["a","b","c"],"views":12345,"rating":4.5,"published":"2026-11-22T08:00:00Z"}`,
	strings.Repeat("lorem ipsum dolor sit amet ", 32))

func benchManager(b *testing.B, n int) (*core.Manager, []string) {
	b.Helper()
	m := newManager(b)
	ctx := core.AsSystem(context.Background())
	_, err := m.CreateType(ctx, core.Type{Name: "docs", Schema: json.RawMessage(`{"type":"object","required":["title"],"properties":{"title":{"type":"string"},"body":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},"views":{"type":"integer"}}}`)})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		res, err := m.Create(ctx, "docs", []byte(benchDoc), core.WriteOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = res.ID
	}
	return m, ids
}

func BenchmarkCreate(b *testing.B) {
	m, _ := benchManager(b, 0)
	ctx := core.AsSystem(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Create(ctx, "docs", []byte(benchDoc), core.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	m, ids := benchManager(b, 1000)
	ctx := core.AsSystem(context.Background())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		res, err := m.Get(ctx, "docs", ids[i%len(ids)], core.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		_ = res.AppendJSON(nil)
		i++
	}
}

func BenchmarkList20(b *testing.B) {
	m, _ := benchManager(b, 1000)
	ctx := core.AsSystem(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		page, err := m.List(ctx, "docs", core.ListOptions{Limit: 20})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range page.Items {
			_ = r.AppendJSON(nil)
		}
	}
}
