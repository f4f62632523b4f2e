package index

import (
	"context"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
)

// BenchmarkFacets compares, in the same run, lists of strata-bench's
// articles with and without facets and stats: each iteration times the
// list alone and then with them, and reports the ratio of the two
// (facets/list), which load on the machine affects less than either time.
//
//	STRATA_BENCH_DOCS=100000 STRATA_BENCH_DIR=/tmp/articles go test -run '^$' -bench Facets ./index/
func BenchmarkFacets(b *testing.B) {
	n := benchDocs(b)
	dir := os.Getenv("STRATA_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	s := openBenchStore(b, dir)
	defer s.close(b)
	if have, err := s.m.Count(core.AsSystem(b.Context()), articlesType.Name, true); err != nil {
		b.Fatal(err)
	} else if have < n {
		s.seq = have
		s.create(b, n-have, 500)
	}
	x := openBenchIndex(b, s)
	defer x.Close()
	activate(b, x)
	waitApplied(b, x, s)
	settle(b, x)
	r := rand.New(rand.NewPCG(5, 6))
	lists := []struct {
		name string
		req  func() core.SearchRequest
	}{
		{"all", func() core.SearchRequest { return core.SearchRequest{} }},
		{"keyword", func() core.SearchRequest {
			return core.SearchRequest{Filter: `tags ?= "` + benchTags[r.IntN(len(benchTags))] + `"`}
		}},
		{"sorted", func() core.SearchRequest {
			return core.SearchRequest{Filter: `status = "published"`, Sort: "-views"}
		}},
		{"q", func() core.SearchRequest {
			return core.SearchRequest{Q: s.vocab.queryWord(r) + " " + s.vocab.queryWord(r)}
		}},
	}
	aggs := []struct {
		name   string
		facets []core.FacetRequest
		stats  []string
	}{
		{"status", []core.FacetRequest{{Field: "status"}}, nil},
		{"tags", []core.FacetRequest{{Field: "tags"}}, nil},
		{"author+status+tags", []core.FacetRequest{{Field: "author"}, {Field: "status"}, {Field: "tags", Size: 20}}, nil},
		{"stats-views", nil, []string{"views"}},
		{"views", []core.FacetRequest{{Field: "views"}}, nil},
	}
	ctx := context.WithoutCancel(core.AsSystem(b.Context()))
	search := func(req core.SearchRequest) time.Duration {
		start := time.Now()
		if _, err := x.Search(ctx, articlesType.Name, req); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	for _, l := range lists {
		for _, a := range aggs {
			b.Run(l.name+"/"+a.name, func(b *testing.B) {
				b.ReportAllocs()
				var base, with time.Duration
				for b.Loop() {
					req := l.req()
					req.Limit = 20
					base += search(req)
					req.Facets, req.Stats = a.facets, a.stats
					with += search(req)
				}
				b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "list-ns/op")
				b.ReportMetric(float64(with.Nanoseconds())/float64(b.N), "facets-ns/op")
				b.ReportMetric(float64(with)/float64(base), "ratio")
			})
		}
	}
}
