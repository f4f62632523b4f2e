package index

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/blevesearch/bleve/v2"
)

// dirSize returns the bytes of the regular files under dir.
func dirSize(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkIndexSize indexes 10,000 posts of about 1 KiB of JSON each into
// a scorch index on disk, as Document maps them and with bleve's default
// dynamic mapping (the bare data), and reports the size of the closed
// index against the JSON and the indexing rate.
//
//	go test -run '^$' -bench IndexSize -benchtime 1x ./index/
func BenchmarkIndexSize(b *testing.B) {
	const docs, pad = 10_000, 850 // body padding: ~1 KiB of JSON per post
	raw := int64(0)
	for i := range docs {
		data, _ := json.Marshal(post(i, pad))
		raw += int64(len(data))
	}
	for _, explicit := range []bool{true, false} {
		name := map[bool]string{true: "explicit", false: "dynamic"}[explicit]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var size int64
			for b.Loop() {
				dir := filepath.Join(b.TempDir(), "idx")
				var idx bleve.Index
				var err error
				if explicit {
					l, lerr := newLayout(postsType)
					if lerr != nil {
						b.Fatal(lerr)
					}
					m, merr := l.mapping()
					if merr != nil {
						b.Fatal(merr)
					}
					idx, err = bleve.New(dir, m)
					if err == nil {
						indexPosts(b, idx, l, docs, pad)
					}
				} else {
					idx, err = bleve.New(dir, bleve.NewIndexMapping())
					if err == nil {
						batch := idx.NewBatch()
						for i := range docs {
							if err := batch.Index(fmt.Sprintf("p%04d", i), post(i, pad)); err != nil {
								b.Fatal(err)
							}
						}
						err = idx.Batch(batch)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := idx.Close(); err != nil {
					b.Fatal(err)
				}
				size = dirSize(b, dir)
			}
			b.ReportMetric(float64(size)/float64(raw), "size/raw")
			b.ReportMetric(float64(docs*b.N)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}
