package index

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/strata-dev/strata/core"
)

// BenchmarkArticlesIndex indexes strata-bench's articles (about 1 KiB of
// JSON each, title and body search fields) straight into a scorch index on
// disk, in batches as a build does, and reports the size of the closed
// index against the JSON (size/raw, MB), the indexing rate (docs/s) and
// the CPU time it took (cpu-µs/doc).
// STRATA_BENCH_DOCS sets the count (default 20,000).
//
//	go test -run '^$' -bench ArticlesIndex -benchtime 3x ./index/
func BenchmarkArticlesIndex(b *testing.B) {
	n := benchDocs(b)
	l, err := newLayout(articlesType)
	if err != nil {
		b.Fatal(err)
	}
	m, err := l.mapping()
	if err != nil {
		b.Fatal(err)
	}
	v, r := newBenchVocab(), rand.New(rand.NewPCG(1, 2))
	bodies := make([][]byte, n)
	raw := 0
	for i := range bodies {
		bodies[i] = appendBenchArticle(nil, v, r, i)
		raw += len(bodies[i])
	}
	var size int64
	var spent, cpu time.Duration
	for b.Loop() {
		cpu0 := cpuTime(b)
		dir := filepath.Join(b.TempDir(), "idx")
		start := time.Now()
		idx, err := bleve.NewUsing(dir, m, scorch.Name, scorch.Name, (&Index{}).indexConfig())
		if err != nil {
			b.Fatal(err)
		}
		batch := idx.NewBatch()
		for i, body := range bodies {
			created := benchFrom.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
			doc, err := l.document(fmt.Sprintf("a%07d", i), body, core.Meta{CreatedAt: created, UpdatedAt: created, CreatedBy: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			if err := batch.IndexAdvanced(doc); err != nil {
				b.Fatal(err)
			}
			if batch.Size() == buildBatch {
				if err := idx.Batch(batch); err != nil {
					b.Fatal(err)
				}
				batch.Reset()
			}
		}
		if err := idx.Batch(batch); err != nil {
			b.Fatal(err)
		}
		if err := idx.Close(); err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
		cpu += cpuTime(b) - cpu0
		size = dirSize(b, dir)
	}
	b.ReportMetric(float64(size)/float64(raw), "size/raw")
	b.ReportMetric(float64(size)/1e6, "MB")
	b.ReportMetric(float64(n*b.N)/spent.Seconds(), "docs/s")
	// CPU time (the process's, merges included) suffers less from a
	// loaded machine than the rate does.
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/doc")
}
