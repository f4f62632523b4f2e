package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index"
	"github.com/strata-dev/strata/plugins/bolt"
	"github.com/strata-dev/strata/plugins/postgres"
	"github.com/strata-dev/strata/plugins/postgres/pgtest"
	"github.com/strata-dev/strata/sdk/storage"
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

// benchClients is the number of concurrent clients of BenchmarkBackends,
// as the HTTP benchmark of issue #15 runs: 64 on two cores.
const benchClients = 64

// benchBackend opens a Manager with the search index over the backend
// named (bolt or postgres) and seeds it with n documents, created by
// benchClients clients at once. It skips b when PostgreSQL is not there.
func benchBackend(b *testing.B, backend string, n int) (*core.Manager, []string) {
	b.Helper()
	ctx := core.AsSystem(context.Background())
	dir := b.TempDir()
	var (
		store storage.Store
		err   error
	)
	switch backend {
	case "bolt":
		store, err = bolt.Open(ctx, filepath.Join(dir, "strata.db"), storage.OpenOptions{})
	case "postgres":
		store, err = postgres.OpenURL(ctx, pgtest.NewDatabase(b), postgres.Options{})
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	var ix *index.Index
	m, err := core.Open(ctx, store, core.Options{Search: func(ctx context.Context, feed core.ChangeFeed) (core.Searcher, error) {
		ix, err = index.Open(ctx, filepath.Join(dir, "index"), feed, nil)
		return ix, err
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = m.Close()
		if ix != nil {
			_ = ix.Close()
		}
	})
	_, err = m.CreateType(ctx, core.Type{Name: "docs", Schema: json.RawMessage(`{"type":"object","required":["title"],"properties":{"title":{"type":"string"},"body":{"type":"string"},"tags":{"type":"array","items":{"type":"string"}},"views":{"type":"integer"}}}`)})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchClients)
	for range benchClients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				res, err := m.Create(ctx, "docs", benchDocViews(i), core.WriteOptions{})
				if err != nil {
					errs <- err
					return
				}
				ids[i] = res.ID
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return m, ids
}

// benchDocViews is benchDoc with views spread over 0..999 by i, so a
// search sorted by views pages through ids far apart in storage.
func benchDocViews(i int) []byte {
	return []byte(strings.Replace(benchDoc, `"views":12345`, `"views":`+strconv.Itoa(i*7919%1000), 1))
}

// BenchmarkBackends measures what issue #15 compares, bolt against
// PostgreSQL, with benchClients clients: durable creates, gets, the first
// list page and a search page of 20 (ids scattered in storage). Run the
// backends in turn (-bench 'Backends/bolt', then 'Backends/postgres', and
// again) to compare them under the same load.
func BenchmarkBackends(b *testing.B) {
	for _, backend := range []string{"bolt", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			m, ids := benchBackend(b, backend, 1000)
			ctx := core.AsSystem(context.Background())
			parallel := func(b *testing.B, op func(i int) error) {
				b.SetParallelism(max(1, benchClients/runtime.GOMAXPROCS(0)))
				if err := op(0); err != nil { // warm up: the index builds on its first search
					b.Fatal(err)
				}
				var n atomic.Int64
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := op(int(n.Add(1))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.Run("Create", func(b *testing.B) {
				parallel(b, func(i int) error {
					_, err := m.Create(ctx, "docs", benchDocViews(i), core.WriteOptions{})
					return err
				})
			})
			b.Run("Get", func(b *testing.B) {
				parallel(b, func(i int) error {
					res, err := m.Get(ctx, "docs", ids[i*7%len(ids)], core.GetOptions{})
					if err == nil {
						_ = res.AppendJSON(nil)
					}
					return err
				})
			})
			b.Run("List20", func(b *testing.B) {
				parallel(b, func(int) error {
					page, err := m.List(ctx, "docs", core.ListOptions{Limit: 20})
					if err == nil && len(page.Items) != 20 {
						err = fmt.Errorf("list: %d items, want 20", len(page.Items))
					}
					return err
				})
			})
			b.Run("Search20", func(b *testing.B) {
				parallel(b, func(i int) error {
					q := core.ListQuery{Filter: "views >= " + strconv.Itoa(i%500), Sort: "-views"}
					page, err := m.Search(ctx, "docs", core.ListOptions{Limit: 20}, q)
					if err == nil && len(page.Items) != 20 {
						err = fmt.Errorf("search: %d items, want 20", len(page.Items))
					}
					return err
				})
			})
		})
	}
}
