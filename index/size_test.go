package index

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
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
// a scorch index on disk, with the explicit mapping (through Document) and
// with bleve's default dynamic mapping (the bare data), and reports the
// size of the closed index and the indexing rate.
//
//	go test -run '^$' -bench IndexSize -benchtime 1x ./index/
func BenchmarkIndexSize(b *testing.B) {
	const docs, pad = 10_000, 850 // body padding: ~1 KiB of JSON per post
	explicit, err := Mapping(postsType)
	if err != nil {
		b.Fatal(err)
	}
	// The same without the keyword field of body, to show what exact
	// matching on a long text field costs.
	noBodyKeyword, err := Mapping(postsType)
	if err != nil {
		b.Fatal(err)
	}
	delete(noBodyKeyword.(*mapping.IndexMappingImpl).DefaultMapping.Properties, "body")
	for _, bc := range []struct {
		name     string
		m        mapping.IndexMapping
		explicit bool
	}{
		{"explicit", explicit, true},
		{"explicit-no-body-keyword", noBodyKeyword, true},
		{"dynamic", bleve.NewIndexMapping(), false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int64
			for b.Loop() {
				dir := filepath.Join(b.TempDir(), "idx")
				idx, err := bleve.New(dir, bc.m)
				if err != nil {
					b.Fatal(err)
				}
				indexPosts(b, idx, postsType, docs, pad, bc.explicit)
				if err := idx.Close(); err != nil {
					b.Fatal(err)
				}
				size = dirSize(b, dir)
			}
			b.ReportMetric(float64(size), "bytes")
			b.ReportMetric(float64(docs*b.N)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}
