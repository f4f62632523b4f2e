//go:build unix

package index

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/strata-dev/strata/core"
)

// BenchmarkIndexBatchSize measures the CPU time per document of indexing
// the articles in bleve batches of one size, whole or split in two as
// applyBatches splits them, merges included: the process's CPU time from
// the first batch until the index has settled. The follower's batching
// (gather, parallelBatch) is chosen from it.
//
//	go test -run '^$' -bench IndexBatchSize -benchtime 1x ./index/
func BenchmarkIndexBatchSize(b *testing.B) {
	n := benchDocs(b)
	lay, err := newLayout(articlesType)
	if err != nil {
		b.Fatal(err)
	}
	v := newBenchVocab()
	rng := rand.New(rand.NewPCG(1, 2))
	meta := core.Meta{CreatedAt: "2026-01-02T03:04:05Z", UpdatedAt: "2026-01-02T03:04:05Z"}
	ops := make([]batchOp, n)
	for i := range ops {
		ops[i].id = fmt.Sprintf("a%08d", i)
		if ops[i].doc, err = lay.document(ops[i].id, appendBenchArticle(nil, v, rng, i), meta); err != nil {
			b.Fatal(err)
		}
	}
	for _, size := range []struct{ batch, parts int }{{100, 1}, {100, 2}, {300, 1}, {300, 2}, {1000, 1}, {1000, 2}} {
		b.Run(fmt.Sprintf("batch=%d/parts=%d", size.batch, size.parts), func(b *testing.B) {
			for b.Loop() {
				im, err := lay.mapping()
				if err != nil {
					b.Fatal(err)
				}
				idx, err := bleve.NewUsing(filepath.Join(b.TempDir(), "index"), im, scorch.Name, scorch.Name, (&Index{}).indexConfig())
				if err != nil {
					b.Fatal(err)
				}
				before := cpuTime(b)
				for i := 0; i < n; i += size.batch {
					batch := ops[i:min(i+size.batch, n)]
					var wg sync.WaitGroup
					for p := range size.parts {
						part := batch[p*len(batch)/size.parts : (p+1)*len(batch)/size.parts]
						wg.Go(func() {
							bb := idx.NewBatch()
							for _, op := range part {
								if err := bb.IndexAdvanced(op.doc); err != nil {
									b.Error(err)
								}
							}
							if err := idx.Batch(bb); err != nil {
								b.Error(err)
							}
						})
					}
					wg.Wait()
				}
				settleIndex(idx)
				b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(n), "cpu-µs/doc")
				if err := idx.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// cpuTime is the CPU time, user and system, the process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settleIndex returns once idx's persisted and merged segments stayed the
// same for 300 ms.
func settleIndex(idx bleve.Index) {
	state := func() string {
		st, _ := idx.StatsMap()["index"].(map[string]any)
		return fmt.Sprint(st["TotFileMergeZapBeg"], st["TotFileMergeZapEnd"], st["TotPersistedSegments"],
			st["num_root_filesegments"], st["num_root_memorysegments"])
	}
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	prev := state()
	for range tick.C {
		cur := state()
		if cur == prev {
			return
		}
		prev = cur
	}
}
