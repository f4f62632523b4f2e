package index

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/sdk/storage"
)

// articlesType is the type of the benchmarks, as strata-bench's search
// run defines it: title and body are search fields.
var articlesType = core.Type{
	Name: "articles",
	Schema: json.RawMessage(`{"type":"object","required":["title","body"],"properties":{` +
		`"title":{"type":"string","maxLength":300},"body":{"type":"string"},` +
		`"tags":{"type":"array","items":{"type":"string"},"maxItems":10},` +
		`"status":{"type":"string"},"author":{"type":"string"},` +
		`"views":{"type":"integer","minimum":0},"score":{"type":"number"},` +
		`"published":{"type":"string","format":"date-time"},"seq":{"type":"integer"}}}`),
	Search: []string{"title", "body"},
}

var (
	benchTags    = []string{"go", "json", "http", "bench", "storage", "news", "draft", "howto", "review", "release"}
	benchAuthors = []string{"ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances"}
	benchStatus  = []string{"draft", "review", "published", "published", "published", "archived"}
)

// benchVocab is a vocabulary with Zipf-distributed frequencies, like
// strata-bench's: a few ordinary words, then generated ones.
type benchVocab struct {
	words []string
	cdf   []float64
}

func newBenchVocab() *benchVocab {
	syl := []string{"ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "dra", "fen", "gul", "hor", "jin", "pex", "qua", "zor"}
	v := &benchVocab{words: []string{"storage", "revision", "schema", "version", "resource", "change", "commit",
		"the", "a", "of", "and", "to", "in", "is", "that", "with", "for", "on", "as", "by", "at",
		"window", "harbour", "mountain", "river", "garden", "lantern", "compass", "meadow"}}
	n := len(syl)
	for i := range n * n * n {
		v.words = append(v.words, syl[i%n]+syl[i/n%n]+syl[i/(n*n)])
	}
	sum := 0.0
	for i := range v.words {
		sum += 1 / float64(i+1)
		v.cdf = append(v.cdf, sum)
	}
	for i := range v.cdf {
		v.cdf[i] /= sum
	}
	return v
}

func (v *benchVocab) draw(r *rand.Rand) string {
	i, _ := slices.BinarySearch(v.cdf, r.Float64())
	return v.words[min(i, len(v.words)-1)]
}

// queryWord is a word of rank 100..1000, as strata-bench's queries use.
func (v *benchVocab) queryWord(r *rand.Rand) string { return v.words[100+r.IntN(900)] }

func (v *benchVocab) appendWords(dst []byte, r *rand.Rand, n int) []byte {
	for i := range n {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, v.draw(r)...)
	}
	return dst
}

var benchFrom = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// appendBenchArticle appends an article of about 1 KiB.
func appendBenchArticle(dst []byte, v *benchVocab, r *rand.Rand, seq int) []byte {
	dst = append(dst, `{"title":"`...)
	dst = v.appendWords(dst, r, 6)
	dst = append(dst, `","body":"`...)
	dst = v.appendWords(dst, r, 100)
	dst = append(dst, `","tags":[`...)
	for i := range 3 {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, benchTags[r.IntN(len(benchTags))])
	}
	dst = append(dst, `],"status":`...)
	dst = strconv.AppendQuote(dst, benchStatus[r.IntN(len(benchStatus))])
	dst = append(dst, `,"author":`...)
	dst = strconv.AppendQuote(dst, benchAuthors[r.IntN(len(benchAuthors))])
	dst = append(dst, `,"views":`...)
	dst = strconv.AppendInt(dst, r.Int64N(1_000_000), 10)
	dst = append(dst, `,"score":`...)
	dst = strconv.AppendFloat(dst, float64(r.IntN(100_000))/100, 'f', -1, 64)
	dst = append(dst, `,"published":"`...)
	dst = benchFrom.Add(time.Duration(r.Int64N(7*365*24*3600))*time.Second).AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	return append(dst, '}')
}

// benchStore is a Manager over a bolt file holding the articles type.
type benchStore struct {
	dir   string
	store storage.Store
	m     *core.Manager
	vocab *benchVocab
	rng   *rand.Rand
	seq   int
	raw   int64 // bytes of JSON created
}

func openBenchStore(tb testing.TB, dir string) *benchStore {
	tb.Helper()
	ctx := core.AsSystem(tb.Context())
	store, m := openManager(tb, dir, nil)
	s := &benchStore{dir: dir, store: store, m: m, vocab: newBenchVocab(), rng: rand.New(rand.NewPCG(1, 2))}
	if _, err := m.Type(articlesType.Name); err != nil {
		if _, err := m.CreateType(ctx, articlesType); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func (s *benchStore) close(tb testing.TB) {
	tb.Helper()
	if err := s.m.Close(); err != nil {
		tb.Error(err)
	}
	if err := s.store.Close(); err != nil {
		tb.Error(err)
	}
}

// create adds n articles: one create each, from 64 goroutines, as
// clients of a server would (so creation times are mostly distinct), or in
// batches of batch operations when batch > 1.
func (s *benchStore) create(tb testing.TB, n, batch int) {
	tb.Helper()
	bodies := make([][]byte, n)
	for i := range bodies {
		s.seq++
		bodies[i] = appendBenchArticle(nil, s.vocab, s.rng, s.seq)
		s.raw += int64(len(bodies[i]))
	}
	if batch > 1 {
		ops := make([]core.Op, 0, batch)
		for done := 0; done < n; done += len(ops) {
			ops = ops[:0]
			for _, body := range bodies[done:min(done+batch, n)] {
				ops = append(ops, core.Op{Kind: core.OpCreate, Type: articlesType.Name, Body: body})
			}
			if _, err := s.m.Batch(core.AsSystem(tb.Context()), ops, core.WriteOptions{}); err != nil {
				tb.Fatal(err)
			}
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if _, err := s.m.Create(core.AsSystem(tb.Context()), articlesType.Name, bodies[i], core.WriteOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

func openBenchIndex(tb testing.TB, s *benchStore) *Index {
	tb.Helper()
	x, err := Open(core.AsSystem(tb.Context()), filepath.Join(s.dir, "index"), s.m.Feed(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return x
}

// waitApplied waits until x has applied every change of s.
func waitApplied(tb testing.TB, x *Index, s *benchStore) {
	tb.Helper()
	if err := x.WaitFor(core.AsSystem(tb.Context()), s.m.LastSeq(), 10*time.Minute); err != nil {
		tb.Fatal(err)
	}
}

// activate builds the index of the articles type.
func activate(tb testing.TB, x *Index) {
	tb.Helper()
	ti, err := x.acquire(core.AsSystem(tb.Context()), articlesType.Name, 10*time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	ti.use.RUnlock()
}

// BenchmarkIndexFollow measures the indexer following the change log: the
// articles are created while the index is closed, and the benchmark times
// the reopened index catching up with them, change by change (the path of
// writes to a type that is searched).
//
//	go test -run '^$' -bench IndexFollow -benchtime 1x ./index/ (STRATA_BENCH_DOCS=100000 for the full size)
func BenchmarkIndexFollow(b *testing.B) {
	n := benchDocs(b)
	for b.Loop() {
		b.StopTimer()
		s := openBenchStore(b, b.TempDir())
		x := openBenchIndex(b, s)
		activate(b, x)
		if err := x.Close(); err != nil {
			b.Fatal(err)
		}
		s.create(b, n, 500)
		b.StartTimer()
		start := time.Now()
		x = openBenchIndex(b, s)
		waitApplied(b, x, s)
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "docs/s")
		b.StopTimer()
		if err := x.Close(); err != nil {
			b.Fatal(err)
		}
		size := dirSize(b, filepath.Join(s.dir, "index"))
		b.ReportMetric(float64(size)/float64(s.raw), "size/raw")
		s.close(b)
		b.StartTimer()
	}
}

// BenchmarkIndexDuringCreates measures indexing while the articles are
// created, one create each from 64 goroutines, with the index active:
// documents per second from the first create until the index reflects the
// last (what strata-bench's bulk run measures, without HTTP).
func BenchmarkIndexDuringCreates(b *testing.B) {
	n := benchDocs(b)
	for b.Loop() {
		b.StopTimer()
		s := openBenchStore(b, b.TempDir())
		x := openBenchIndex(b, s)
		activate(b, x)
		b.StartTimer()
		start := time.Now()
		s.create(b, n, 1)
		created := time.Since(start)
		waitApplied(b, x, s)
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "docs/s")
		b.ReportMetric(float64(n)/created.Seconds(), "creates/s")
		b.StopTimer()
		if err := x.Close(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(dirSize(b, filepath.Join(s.dir, "index")))/float64(s.raw), "size/raw")
		s.close(b)
		b.StartTimer()
	}
}

// BenchmarkIndexRebuild measures building a type's index from storage.
func BenchmarkIndexRebuild(b *testing.B) {
	n := benchDocs(b)
	s := openBenchStore(b, b.TempDir())
	defer s.close(b)
	s.create(b, n, 500)
	x := openBenchIndex(b, s)
	defer x.Close()
	t, err := s.m.Type(articlesType.Name)
	if err != nil {
		b.Fatal(err)
	}
	gen := 0
	for b.Loop() {
		start := time.Now()
		gen++
		ti, err := x.buildIndex(core.AsSystem(b.Context()), t, gen, s.m.LastSeq())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "docs/s")
		b.StopTimer()
		if err := ti.shut(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkSearch measures the queries of strata-bench's search run over
// an index of articles: CPU per search (ns/op), ids only.
func BenchmarkSearch(b *testing.B) {
	n := benchDocs(b)
	// STRATA_BENCH_DIR keeps the articles (and their index) between runs.
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
		s.create(b, n-have, 1)
	}
	x := openBenchIndex(b, s)
	defer x.Close()
	activate(b, x)
	waitApplied(b, x, s)
	settle(b, x)
	// At rest, as strata-bench queries it: compacted to one segment per tier.
	x.mu.RLock()
	ti := x.types[articlesType.Name]
	x.mu.RUnlock()
	if err := forceMerge(b.Context(), ti.idx, &compactPlan); err != nil {
		b.Fatal(err)
	}
	settle(b, x)
	r := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name string
		req  func() core.SearchRequest
	}{
		{"keyword", func() core.SearchRequest {
			return core.SearchRequest{Filter: `tags ?= "` + benchTags[r.IntN(len(benchTags))] + `"`}
		}},
		{"range-sort", func() core.SearchRequest {
			lo := r.IntN(990_000)
			return core.SearchRequest{Filter: fmt.Sprintf("views >= %d && views < %d", lo, lo+10_000), Sort: "-views"}
		}},
		{"scan", func() core.SearchRequest {
			return core.SearchRequest{Filter: `status = "draft" && author = "` + benchAuthors[r.IntN(len(benchAuthors))] + `"`}
		}},
		{"owner", func() core.SearchRequest {
			return core.SearchRequest{Filter: `tags ?= "go"`, Owner: "nobody"}
		}},
		{"q", func() core.SearchRequest {
			return core.SearchRequest{Q: s.vocab.queryWord(r) + " " + s.vocab.queryWord(r)}
		}},
		{"q-one", func() core.SearchRequest {
			return core.SearchRequest{Q: s.vocab.queryWord(r)}
		}},
		{"q-common", func() core.SearchRequest {
			// A word in about 1% of the articles.
			return core.SearchRequest{Q: s.vocab.words[100+r.IntN(20)]}
		}},
		{"q-filter", func() core.SearchRequest {
			since := benchFrom.Add(time.Duration(r.Int64N(7*365*24*3600)) * time.Second).Format(time.RFC3339)
			return core.SearchRequest{Q: s.vocab.queryWord(r) + " " + s.vocab.queryWord(r), Filter: `published >= "` + since + `"`}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			hits := 0
			for b.Loop() {
				req := c.req()
				req.Limit = 20
				res, err := x.Search(context.WithoutCancel(core.AsSystem(b.Context())), articlesType.Name, req)
				if err != nil {
					b.Fatal(err)
				}
				hits += len(res.IDs)
			}
			b.ReportMetric(float64(hits)/float64(b.N), "ids/op")
		})
	}
}

// settle waits until the articles index has no merge running and its
// segments stayed the same for a second, so background merges do not
// count against the searches measured.
func settle(tb testing.TB, x *Index) {
	tb.Helper()
	x.mu.RLock()
	ti := x.types[articlesType.Name]
	x.mu.RUnlock()
	state := func() string {
		st, _ := ti.idx.StatsMap()["index"].(map[string]any)
		return fmt.Sprint(st["TotFileMergeZapBeg"], st["TotFileMergeZapEnd"], st["TotPersistedSegments"], st["num_root_filesegments"], st["TotIntroducedSegmentsBatch"])
	}
	tick := time.NewTicker(time.Second)
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

// benchDocs is the number of articles of the benchmarks: 20,000, or
// STRATA_BENCH_DOCS.
func benchDocs(tb testing.TB) int {
	if v := envInt(tb, "STRATA_BENCH_DOCS"); v > 0 {
		return v
	}
	return 20_000
}

func envInt(tb testing.TB, name string) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > math.MaxInt32 {
		tb.Fatalf("%s: not a count: %q", name, s)
	}
	return n
}
