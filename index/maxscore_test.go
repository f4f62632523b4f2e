package index

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
	"github.com/strata-dev/strata/index/filter"
)

// TestRankTopMatchesExhaustive holds the ranker that scores only what can
// reach the page (rankTop) to the exhaustive one (rank, every candidate
// scored, then sorted): over random corpora in several segments, with
// updates, deletes, purges and documents that tie, for random queries of
// one to four words (phrases too), filters and page sizes, every page
// walked by cursor has the same ids, cursor and total, and the documents
// kept score as rank scores them.
func TestRankTopMatchesExhaustive(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			testRankTop(t, seed)
		})
	}
}

func testRankTop(t *testing.T, seed uint64) {
	typ := core.Type{Name: "posts", Schema: json.RawMessage(`{"type":"object","properties":{
		"title":{"type":"string","maxLength":200},"body":{"type":"string"},"notes":{"type":"string"},"n":{"type":"integer"}}}`),
		Search: []string{"title", "body", "notes"}}
	e := newTestEnvPolicy(t, compactPolicy{check: time.Hour}, typ)
	r := rand.New(rand.NewPCG(seed, 99))
	vocab := []string{"river", "lake", "mountain", "quiet", "harbour", "lantern", "meadow", "compass", "garden",
		"window", "stone", "bridge", "storm", "the", "north", "south", "salt", "amber", "cedar", "dune"}
	words := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = vocab[min(r.IntN(len(vocab)), r.IntN(len(vocab)), r.IntN(len(vocab)))]
		}
		return strings.Join(w, " ")
	}
	// Some documents are the same text, so their scores tie and the
	// order among them is the ids'.
	twins := []string{
		fmt.Sprintf(`{"title":%q,"body":%q,"n":7}`, words(2), words(12)),
		fmt.Sprintf(`{"title":%q,"body":%q,"notes":%q,"n":3}`, words(1), words(30), words(3)),
	}
	var ids []string
	doc := func() string {
		if r.IntN(6) == 0 {
			return twins[r.IntN(len(twins))]
		}
		notes := ""
		if r.IntN(3) == 0 {
			notes = fmt.Sprintf(`,"notes":%q`, words(1+r.IntN(5)))
		}
		return fmt.Sprintf(`{"title":%q,"body":%q%s,"n":%d}`, words(1+r.IntN(5)), words(r.IntN(60)), notes, r.IntN(100))
	}
	for batch := range 5 {
		for range 70 {
			ids = append(ids, e.create("posts", doc(), ""))
		}
		e.mustSearch("posts", core.SearchRequest{Q: "river"}) // commits the batch: another segment
		for range 6 {
			i := r.IntN(len(ids))
			id := ids[i]
			if batch%3 != 0 {
				ids = slices.Delete(ids, i, i+1)
			}
			var err error
			switch batch % 3 {
			case 0:
				_, err = e.m.Replace(core.AsSystem(t.Context()), "posts", id, []byte(doc()), core.WriteOptions{})
			case 1:
				err = e.m.Delete(core.AsSystem(t.Context()), "posts", id, core.WriteOptions{})
			default:
				err = e.m.Purge(core.AsSystem(t.Context()), "posts", id, core.WriteOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	e.mustSearch("posts", core.SearchRequest{Q: "river"})
	ti := e.active("posts")
	ti.ranks.mu.Lock()
	ti.ranks.alwaysBound = true // the corpus is small
	ti.ranks.mu.Unlock()
	snap, err := openSnapshot(ti.idx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	lay := ti.lay
	filters := []string{"", "", "n >= 50", "n < 20", `n = 7 || n = 3`, "notes != null"}
	for i := range 120 {
		q := words(1 + r.IntN(4))
		if r.IntN(5) == 0 {
			q = `"` + q + `"`
		} else if r.IntN(5) == 0 {
			q += ` "` + words(2) + `"`
		}
		f := filters[r.IntN(len(filters))]
		limit := []int{1, 2, 3, 5, 7, 20}[r.IntN(6)]
		t.Run(fmt.Sprintf("%d %s|%s|%d", i, q, f, limit), func(t *testing.T) {
			ms := rankCandidates(t, e, snap, ti, q, f)
			binding := hashOf(f, q)
			ref, err := snap.rank(lay, q, ms)
			if err != nil {
				t.Fatal(err)
			}
			scores := map[string]float64{}
			for _, d := range ref {
				raw, err := snap.segs[d.seg].seg.DocID(uint64(d.local))
				if err != nil {
					t.Fatal(err)
				}
				scores[string(raw)] = d.score
			}
			cursor, pages, seen := "", 0, 0
			for {
				req := core.SearchRequest{Q: q, Filter: f, Limit: limit, Cursor: cursor, Total: true}
				want, err := searchRankedExhaustive(snap, lay, ms, req, binding)
				if err != nil {
					t.Fatal(err)
				}
				got, err := searchRanked(snap, lay, ms, req, binding, &ti.ranks)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.IDs, want.IDs) || got.NextCursor != want.NextCursor || got.Total != want.Total {
					t.Fatalf("page %d: got %v %q total %d, want %v %q total %d", pages, got.IDs, got.NextCursor, got.Total, want.IDs, want.NextCursor, want.Total)
				}
				seen += len(got.IDs)
				pages++
				if got.NextCursor == "" {
					break
				}
				cursor = got.NextCursor
			}
			if seen != len(ref) {
				t.Fatalf("paged %d, ranked %d", seen, len(ref))
			}
			// The documents rankTop keeps score what rank scores them.
			k := limit + 1
			docs, total, err := snap.rankTop(lay, q, ms, k, nil, &ti.ranks)
			if err != nil {
				t.Fatal(err)
			}
			if total != len(ref) || len(docs) < min(k, len(ref)) {
				t.Fatalf("rankTop kept %d of %d (total %d), want at least %d", len(docs), len(ref), total, min(k, len(ref)))
			}
			for _, d := range docs {
				raw, err := snap.segs[d.seg].seg.DocID(uint64(d.local))
				if err != nil {
					t.Fatal(err)
				}
				if w, ok := scores[string(raw)]; !ok || math.Float64bits(w) != math.Float64bits(d.score) {
					t.Fatalf("%s: score %v, rank %v (%v)", raw, d.score, w, ok)
				}
			}
		})
	}
}

// rankCandidates evaluates q and the filter f as Search does: the
// documents q matches among those f matches, not deleted.
func rankCandidates(t *testing.T, e *testEnv, snap *snapshot, ti *typeIndex, q, f string) matches {
	t.Helper()
	p := planAnd{planNot{planTerm{field: FieldDeleted, term: []byte(boolTrue)}}}
	if f != "" {
		ex, err := filter.Parse(f, ti.lay.filterSchema(), filter.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		fp, err := ti.lay.compileFilter(ex)
		if err != nil {
			t.Fatal(err)
		}
		p = append(p, fp)
	}
	tc, err := snap.eval(ti.lay.textPlan(q))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := snap.evalIn(p, tc, &ti.cols)
	if err != nil {
		t.Fatal(err)
	}
	if ps := phrasesOf(q); len(ps) > 0 {
		if err := e.x.phraseFilter(core.AsSystem(t.Context()), snap, ti.lay, "posts", ps, ms); err != nil {
			t.Fatal(err)
		}
	}
	return ms
}

// searchRankedExhaustive is the reference relevance page: every
// candidate scored by rank, those after the cursor kept, all sorted by
// score, the ties at the page's end by id.
func searchRankedExhaustive(snap *snapshot, lay *layout, ms matches, req core.SearchRequest, binding string) (*core.SearchResult, error) {
	out := &core.SearchResult{}
	after, err := rankCursor(req.Cursor, binding)
	if err != nil {
		return nil, err
	}
	docs, err := snap.rank(lay, req.Q, ms)
	if err != nil {
		return nil, err
	}
	if req.Total {
		out.Total = len(docs)
	}
	id := func(d *rankedDoc) string {
		if !d.hasID {
			raw, err := snap.segs[d.seg].seg.DocID(uint64(d.local))
			if err != nil {
				panic(err)
			}
			d.id, d.hasID = string(raw), true
		}
		return d.id
	}
	if after != nil {
		kept := docs[:0]
		for i := range docs {
			d := &docs[i]
			if d.score < after.score || d.score == after.score && id(d) > after.id {
				kept = append(kept, *d)
			}
		}
		docs = kept
	}
	for i := range docs {
		id(&docs[i])
	}
	slices.SortFunc(docs, func(a, b rankedDoc) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	for i, d := range docs {
		if i == req.Limit {
			last := docs[i-1]
			out.NextCursor = encodeSearchCursor([]string{strconv.FormatFloat(last.score, 'g', -1, 64), last.id}, binding)
			break
		}
		out.IDs = append(out.IDs, d.id)
	}
	return out, nil
}

// TestRankTopPrunes checks that the ranker leaves documents unscored when
// they cannot reach the page: a word in every body and a few titles,
// where a title match outscores any body-only one.
func TestRankTopPrunes(t *testing.T) {
	t.Parallel()
	typ := core.Type{Name: "posts", Schema: json.RawMessage(`{"type":"object","properties":{
		"title":{"type":"string"},"body":{"type":"string"}}}`), Search: []string{"title", "body"}}
	e := newTestEnvPolicy(t, compactPolicy{check: time.Hour}, typ)
	for i := range 200 {
		title := "plain"
		if i%20 == 0 {
			title = "amber"
		}
		e.create("posts", fmt.Sprintf(`{"title":%q,"body":"amber and a long body of many words, %d of them"}`, title, i), "")
	}
	e.mustSearch("posts", core.SearchRequest{Q: "amber"})
	ti := e.active("posts")
	ti.ranks.mu.Lock()
	ti.ranks.alwaysBound = true
	ti.ranks.mu.Unlock()
	snap, err := openSnapshot(ti.idx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	ms := rankCandidates(t, e, snap, ti, "amber", "")
	docs, total, scored, err := snap.rankTopScored(ti.lay, "amber", ms, 5, nil, &ti.ranks)
	if err != nil {
		t.Fatal(err)
	}
	if total != 200 || len(docs) != 10 {
		t.Fatalf("kept %d documents of %d, want the 10 with amber in the title (they tie) of 200", len(docs), total)
	}
	if scored != 10 {
		t.Fatalf("scored %d documents, want only the 10 that can reach the page", scored)
	}
}
