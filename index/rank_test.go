package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/search"

	"github.com/strata-dev/strata/core"
)

// TestRankMatchesBleve holds the ranker to bleve's scored search of the
// same query: over a corpus in several segments, with updates, soft
// deletes and purges, and a search field no document fills, every
// candidate gets bleve's score (to rounding), and paging a relevance
// order by cursor returns every match once, best first, ties by id.
func TestRankMatchesBleve(t *testing.T) {
	t.Parallel()
	typ := core.Type{Name: "posts", Schema: json.RawMessage(`{"type":"object","properties":{
		"title":{"type":"string","maxLength":200},"body":{"type":"string"},"notes":{"type":"string"},"n":{"type":"integer"}}}`),
		Search: []string{"title", "body", "notes"}}
	// Not compacted: the corpus must stay in several segments.
	e := newTestEnvPolicy(t, compactPolicy{check: time.Hour}, typ)
	r := rand.New(rand.NewPCG(11, 12))
	vocab := []string{"river", "rivers", "lake", "mountain", "quiet", "harbour", "lantern", "meadow", "compass",
		"garden", "window", "stone", "bridge", "storm", "the", "of", "well-known", "north", "south", "salt"}
	words := func(n int) string {
		w := make([]string, n)
		for i := range w {
			// Skewed, so some words are common and some rare.
			w[i] = vocab[min(r.IntN(len(vocab)), r.IntN(len(vocab)))]
		}
		return strings.Join(w, " ")
	}
	var ids []string
	addBatch := func(batch int) {
		for range 40 {
			body := fmt.Sprintf(`{"title":%q,"body":%q,"n":%d}`, words(1+r.IntN(4)), words(r.IntN(40)), r.IntN(100))
			ids = append(ids, e.create("posts", body, ""))
		}
		// A search between batches makes the index commit them, so the
		// corpus ends up in several segments.
		e.mustSearch("posts", core.SearchRequest{Q: "river"})
		for range 5 {
			id := ids[r.IntN(len(ids))]
			var err error
			switch batch % 3 {
			case 0:
				_, err = e.m.Replace(core.AsSystem(t.Context()), "posts", id, []byte(fmt.Sprintf(`{"title":%q,"body":%q}`, words(2), words(10))), core.WriteOptions{})
			case 1:
				err = e.m.Delete(core.AsSystem(t.Context()), "posts", id, core.WriteOptions{})
			default:
				err = e.m.Purge(core.AsSystem(t.Context()), "posts", id, core.WriteOptions{})
			}
			if err != nil && !errors.Is(err, core.ErrNotFound) {
				t.Fatal(err)
			}
		}
	}
	for batch := range 6 {
		addBatch(batch)
	}
	// The test needs the corpus in several segments. On a loaded machine
	// the persister may merge them into one before or after writing: more
	// batches until a snapshot holds several (a snapshot keeps its
	// segments whatever merges later).
	ti := e.active("posts")
	var snap *snapshot
	for batch := 6; ; batch++ {
		e.mustSearch("posts", core.SearchRequest{Q: "river"})
		s, err := openSnapshot(ti.idx)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.segs) >= 2 {
			snap = s
			break
		}
		s.Close()
		if batch == 40 {
			t.Fatalf("the corpus is in one segment after %d batches; the test wants several", batch)
		}
		addBatch(batch)
	}
	defer snap.Close()
	lay := ti.lay
	notDeleted := planNot{planTerm{field: FieldDeleted, term: []byte(boolTrue)}}

	queries := []string{"river", "river lake", "quiet harbour storm", `"quiet harbour"`, "well-known", "the river",
		"salt north south", "absent", "river absent", "notes", "stone stone"}
	for range 40 {
		q := words(1 + r.IntN(3))
		if r.IntN(4) == 0 {
			q = `"` + q + `"`
		}
		queries = append(queries, q)
	}
	for _, q := range queries {
		t.Run(q, func(t *testing.T) {
			tc, err := snap.eval(lay.textPlan(q))
			if err != nil {
				t.Fatal(err)
			}
			ms, err := snap.evalIn(planAnd{notDeleted}, tc, &ti.cols)
			if err != nil {
				t.Fatal(err)
			}
			if ps := phrasesOf(q); len(ps) > 0 {
				if err := e.x.phraseFilter(core.AsSystem(t.Context()), snap, lay, "posts", ps, ms); err != nil {
					t.Fatal(err)
				}
			}
			want := bleveScores(t, snap, ti, q, ms)
			docs, err := snap.rank(lay, q, ms)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, d := range docs {
				raw, err := snap.segs[d.seg].seg.DocID(uint64(d.local))
				if err != nil {
					t.Fatal(err)
				}
				got[string(raw)] = d.score
			}
			if len(got) != len(want) {
				t.Fatalf("ranked %d documents, bleve matched %d", len(got), len(want))
			}
			for id, w := range want {
				g, ok := got[id]
				if !ok || math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
					t.Fatalf("%s: score %v (ranked: %v), bleve %v", id, g, ok, w)
				}
			}

			// Through Search: pages of 7 by cursor.
			var paged []string
			cursor := ""
			for {
				res := e.mustSearch("posts", core.SearchRequest{Q: q, Limit: 7, Cursor: cursor, Total: true})
				if res.Total != len(want) {
					t.Fatalf("total %d, want %d", res.Total, len(want))
				}
				paged = append(paged, res.IDs...)
				if res.NextCursor == "" {
					break
				}
				cursor = res.NextCursor
			}
			if len(paged) != len(want) {
				t.Fatalf("paged %d ids, want %d", len(paged), len(want))
			}
			for i := 1; i < len(paged); i++ {
				a, b := paged[i-1], paged[i]
				if got[a] < got[b] || got[a] == got[b] && a >= b {
					t.Fatalf("out of order at %d: %s (%v) before %s (%v)", i, a, got[a], b, got[b])
				}
			}
			// A count (no page) counts the candidates without ranking.
			if res, err := e.x.Search(core.AsSystem(t.Context()), "posts", core.SearchRequest{Q: q, Total: true}); err != nil || res.Total != len(want) {
				t.Fatalf("count: %v, %v; want %d", res, err, len(want))
			}
		})
	}
}

// bleveScores runs bleve's scored search of q within ms and returns each
// match's score by id.
func bleveScores(t *testing.T, snap *snapshot, ti *typeIndex, q string, ms matches) map[string]float64 {
	t.Helper()
	ctx := scoringContext(core.AsSystem(t.Context()))
	sr, err := snap.within(ctx, ti.idx.Mapping(), ti.lay.textParts(q), ms, search.SearcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(sr.DocumentMatchPoolSize(), 0)}
	out := map[string]float64{}
	for {
		d, err := sr.Next(sctx)
		if err != nil {
			t.Fatal(err)
		}
		if d == nil {
			return out
		}
		id, err := snap.r.ExternalID(d.IndexInternalID)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = d.Score
		sctx.DocumentMatchPool.Put(d)
	}
}

func TestBestFirst(t *testing.T) {
	for spec, want := range map[string]bool{"": true, " ": true, "_score": true, "+score": true, "-_score": false, "views": false, "_score,views": false} {
		if got := bestFirst(spec); got != want {
			t.Errorf("bestFirst(%q) = %v", spec, got)
		}
	}
	if rankable("riv* lake") || !rankable(`"a b" c`) {
		t.Error("rankable: prefixes go to bleve, the rest is ranked")
	}
}
