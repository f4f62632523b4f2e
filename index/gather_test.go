package index

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"

	"github.com/strata-dev/strata/core"
)

// rateFeed is a change log whose writes arrive at a steady rate: only
// LastSeq is used by gather.
type rateFeed struct {
	core.ChangeFeed
	start time.Time
	every time.Duration // one change per every; zero for none
}

func (f *rateFeed) LastSeq() uint64 {
	if f.every == 0 {
		return 0
	}
	return uint64(time.Since(f.start) / f.every)
}

// TestGather checks how long the follower lets changes gather: gatherFor
// when writes are slow, longer (up to gatherMax or a full page) when they
// come fast, and not at all once a search waits.
func TestGather(t *testing.T) {
	for _, tc := range []struct {
		name   string
		every  time.Duration // between two changes
		search bool          // a search starts waiting during the gather
		want   time.Duration
	}{
		{name: "idle", want: gatherFor},
		{name: "slow writes", every: 10 * time.Millisecond, want: gatherFor},           // 10 per gatherFor
		{name: "busy writes", every: 500 * time.Microsecond, want: gatherMax},          // 200 per gatherFor
		{name: "page fills first", every: 200 * time.Microsecond, want: 2 * gatherFor}, // 500 per gatherFor
		{name: "search waits", every: 500 * time.Microsecond, search: true, want: 0},   // woken at once
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				feed := &rateFeed{start: time.Now(), every: tc.every}
				x := &Index{feed: feed, wake: make(chan struct{}, 1)}
				if tc.search {
					x.wake <- struct{}{} // as WaitFor does
				}
				start := time.Now()
				x.gather(context.Background(), 0)
				if got := time.Since(start); got != tc.want {
					t.Errorf("gathered for %v, want %v", got, tc.want)
				}
			})
		})
	}
}

// TestBehind checks when the follower splits its batches across the
// CPUs: only when it is more than a full page behind the change log.
func TestBehind(t *testing.T) {
	full := make([]core.Change, pageSize)
	for _, tc := range []struct {
		name  string
		items []core.Change
		next  uint64 // the page's NextSince
		last  uint64 // the change log's last seq
		want  bool
	}{
		{"small page", full[:10], 10, 5000, false},
		{"full page, caught up", full, 1000, 1000, false},
		{"full page, a partial page behind", full, 1000, 1999, false},
		{"full page, a full page behind", full, 1000, 2000, true},
		{"full page, far behind", full, 1000, 100_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := behind(len(tc.items), tc.next, tc.last); got != tc.want {
				t.Errorf("behind = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestApplyBatchesSplit checks that a large batch makes one segment unless
// it may be split, and one per CPU if it may.
func TestApplyBatchesSplit(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("splitting needs two CPUs")
	}
	lay, err := newLayout(articlesType)
	if err != nil {
		t.Fatal(err)
	}
	meta := core.Meta{CreatedAt: "2026-01-02T03:04:05Z", UpdatedAt: "2026-01-02T03:04:05Z"}
	ops := make([]batchOp, parallelBatch)
	for i := range ops {
		ops[i].id = fmt.Sprintf("a%04d", i)
		if ops[i].doc, err = lay.document(ops[i].id, []byte(`{"title":"t","body":"b"}`), meta); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		split bool
		want  uint64 // segments introduced by batches
	}{{false, 1}, {true, 2}} {
		t.Run(fmt.Sprint("split=", tc.split), func(t *testing.T) {
			im, err := lay.mapping()
			if err != nil {
				t.Fatal(err)
			}
			idx, err := bleve.NewUsing(filepath.Join(t.TempDir(), "index"), im, scorch.Name, scorch.Name, (&Index{}).indexConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer idx.Close()
			if err := applyBatches(idx, ops, seqBytes(7), tc.split); err != nil {
				t.Fatal(err)
			}
			st, _ := idx.StatsMap()["index"].(map[string]any)
			if got, _ := st["TotIntroducedSegmentsBatch"].(uint64); got != tc.want {
				t.Errorf("segments introduced = %v, want %d", st["TotIntroducedSegmentsBatch"], tc.want)
			}
			if n, err := idx.DocCount(); err != nil || n != uint64(len(ops)) {
				t.Errorf("DocCount = %d, %v; want %d", n, err, len(ops))
			}
		})
	}
}
