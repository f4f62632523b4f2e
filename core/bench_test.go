package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkBackends measures what issue #15 compares, PostgreSQL against
// bolt, with benchClients clients: durable creates, gets, the first list
// page, and a search page of 20 whose ids are scattered in storage. Each
// iteration runs a burst of benchBurst operations on bolt, then the same
// on PostgreSQL, so a machine whose load changes (other tests, other
// builds) slows both alike; pg/bolt is PostgreSQL's throughput as a
// fraction of bolt's.
func BenchmarkBackends(b *testing.B) {
	const benchBurst = 256
	ctx := core.AsSystem(context.Background())
	type backend struct {
		m   *core.Manager
		ids []string
	}
	var backends [2]backend
	for i, name := range []string{"bolt", "postgres"} {
		m, ids := benchBackend(b, name, 1000)
		backends[i] = backend{m, ids}
	}
	ops := []struct {
		name string
		op   func(be backend, i int) error
	}{
		{"Create", func(be backend, i int) error {
			_, err := be.m.Create(ctx, "docs", benchDocViews(i), core.WriteOptions{})
			return err
		}},
		{"Get", func(be backend, i int) error {
			res, err := be.m.Get(ctx, "docs", be.ids[i*7%len(be.ids)], core.GetOptions{})
			if err == nil {
				_ = res.AppendJSON(nil)
			}
			return err
		}},
		{"List20", func(be backend, _ int) error {
			page, err := be.m.List(ctx, "docs", core.ListOptions{Limit: 20})
			if err == nil && len(page.Items) != 20 {
				err = fmt.Errorf("list: %d items, want 20", len(page.Items))
			}
			for _, r := range page.Items {
				_ = r.AppendJSON(nil)
			}
			return err
		}},
		{"Search20", func(be backend, i int) error {
			q := core.ListQuery{Filter: "views >= " + strconv.Itoa(i%500), Sort: "-views"}
			page, err := be.m.Search(ctx, "docs", core.ListOptions{Limit: 20}, q)
			if err == nil && len(page.Items) != 20 {
				err = fmt.Errorf("search: %d items, want 20", len(page.Items))
			}
			for _, r := range page.Items {
				_ = r.AppendJSON(nil)
			}
			return err
		}},
	}
	// burst runs n operations over benchClients clients and returns how
	// long they took.
	burst := func(b *testing.B, be backend, op func(backend, int) error, n int) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range benchClients {
			wg.Go(func() {
				for {
					i := int(next.Add(1))
					if i > n {
						return
					}
					if err := op(be, i); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			for _, be := range backends { // warm up: the index builds on its first search
				burst(b, be, o.op, benchClients)
			}
			var took [2]time.Duration
			for b.Loop() {
				for i, be := range backends {
					took[i] += burst(b, be, o.op, benchBurst)
				}
			}
			n := float64(b.N * benchBurst)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(took[0].Nanoseconds())/n, "bolt-ns/op")
			b.ReportMetric(float64(took[1].Nanoseconds())/n, "pg-ns/op")
			b.ReportMetric(float64(took[0])/float64(took[1]), "pg/bolt")
		})
	}
}
