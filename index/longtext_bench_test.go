package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
)

// rareWord is in the body of rareDocs articles only (BenchmarkLongText).
const (
	rareWord = "quorzyxel"
	rareDocs = 10
)

// BenchmarkLongText measures filters and sorts on the articles' long
// search text (body) against other lists of the same index: ~ with a word
// in about 1% of the articles, ~ with a word in rareDocs of them, a sort by
// body, each a page of 20, ids only (the index's part of a list).
//
//	STRATA_BENCH_DOCS=100000 STRATA_BENCH_DIR=/tmp/articles go test -run '^$' -bench LongText ./index/
func BenchmarkLongText(b *testing.B) {
	n := benchDocs(b)
	dir := os.Getenv("STRATA_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	s := openBenchStore(b, dir)
	defer s.close(b)
	ctx := core.AsSystem(b.Context())
	have, err := s.m.Count(ctx, articlesType.Name, true)
	if err != nil {
		b.Fatal(err)
	}
	if have < n+rareDocs {
		s.seq = have
		s.create(b, n+rareDocs-have-rareDocs, 500)
		for i := range rareDocs {
			body := fmt.Sprintf(`{"title":"rare %d","body":"a body with %s in it"}`, i, rareWord)
			if _, err := s.m.Create(ctx, articlesType.Name, []byte(body), core.WriteOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	x := openBenchIndex(b, s)
	defer x.Close()
	// Building 100,000 articles may outlast one wait on a loaded machine.
	for range 6 {
		ti, err := x.acquire(ctx, articlesType.Name, 10*time.Minute)
		if err == nil {
			ti.use.RUnlock()
			break
		}
		if !errors.Is(err, core.ErrUnavailable) {
			b.Fatal(err)
		}
	}
	waitApplied(b, x, s)
	settle(b, x)
	search := func(req core.SearchRequest) *core.SearchResult {
		for {
			res, err := x.Search(context.WithoutCancel(ctx), articlesType.Name, req)
			if errors.Is(err, core.ErrUnavailable) {
				activate(b, x) // being rebuilt: wait for it
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			return res
		}
	}
	// Words of the vocabulary in about 1% of the bodies.
	var common []string
	for rank := 600; rank < len(s.vocab.words) && len(common) < 20; rank += 7 {
		w := s.vocab.words[rank]
		total := search(core.SearchRequest{Filter: `body ~ "` + w + `"`}).Total
		if total >= (n+rareDocs)/125 && total <= (n+rareDocs)/80 {
			common = append(common, w)
		}
	}
	if len(common) == 0 {
		b.Fatal("no word in about 1% of the articles")
	}
	b.Logf("%d words in about 1%% of the bodies, e.g. %q", len(common), common[0])
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		name string
		req  func() core.SearchRequest
	}{
		{"like-1pct", func() core.SearchRequest {
			return core.SearchRequest{Filter: `body ~ "` + common[r.IntN(len(common))] + `"`}
		}},
		{"like-rare", func() core.SearchRequest { return core.SearchRequest{Filter: `body ~ "` + rareWord + `"`} }},
		{"like-1pct-title", func() core.SearchRequest {
			return core.SearchRequest{Filter: `title ~ "` + common[r.IntN(len(common))] + `"`}
		}},
		{"sort-body", func() core.SearchRequest { return core.SearchRequest{Sort: "body"} }},
		{"sort-body-desc", func() core.SearchRequest { return core.SearchRequest{Sort: "-body"} }},
		{"sort-title", func() core.SearchRequest { return core.SearchRequest{Sort: "title"} }},
		{"keyword", func() core.SearchRequest {
			return core.SearchRequest{Filter: `tags ?= "` + benchTags[r.IntN(len(benchTags))] + `"`}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			hits := 0
			for b.Loop() {
				req := c.req()
				req.Limit = 20
				hits += len(search(req).IDs)
			}
			b.ReportMetric(float64(hits)/float64(b.N), "ids/op")
		})
	}
}
