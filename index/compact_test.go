package index

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-dev/strata/core"
)

// lockedBuffer is a log destination safe for the index's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// lazyMerges is a merge policy that keeps the small segments of a test
// apart, as scorch's default does for larger ones.
var lazyMerges = map[string]any{"FloorSegmentSize": 1, "FloorSegmentFileSize": 1, "MaxSegmentsPerTier": 50}

// TestCompaction: an index left idle in many segments is merged into few,
// searches answer the same during and after it, and a burst of writes
// right after does not start another compaction before the policy's
// interval.
func TestCompaction(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	cp := compactPolicy{check: 20 * time.Millisecond, idle: 1500 * time.Millisecond, segments: 4, every: time.Hour}
	e := &testEnv{t: t, dir: t.TempDir(), cp: cp, log: slog.New(slog.NewTextHandler(logs, nil)), plan: lazyMerges}
	e.open()
	t.Cleanup(e.close)
	if _, err := e.m.CreateType(core.AsSystem(t.Context()), notesType); err != nil {
		t.Fatal(err)
	}
	segments := func() int {
		n, err := segmentCount(e.active("notes").idx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Rounds of creates with a search after each: a segment per round,
	// created faster than the idle time.
	created := 0
	round := func() {
		for range 25 {
			e.create("notes", fmt.Sprintf(`{"title":"note %d","body":"river stone %d","n":%d}`, created, created%7, created), "")
			created++
		}
		if res := e.mustSearch("notes", core.SearchRequest{Filter: "n >= 0", Total: true}); res.Total != created {
			t.Fatalf("%d matches, want %d", res.Total, created)
		}
	}
	// The persister may merge rounds in memory before it writes them, so
	// rounds go on until there are enough segments (well before the idle
	// time passes).
	before := 0
	for i := 0; before < cp.segments+2; i++ {
		if i == 40 {
			t.Fatalf("%d segments after %d rounds; the test needs %d", before, i, cp.segments)
		}
		round()
		time.Sleep(20 * time.Millisecond) // let the persister write it apart
		before = segments()
	}
	// Searches go on while it compacts, and answer the same.
	deadline := time.Now().Add(30 * time.Second)
	for logs.count("index compacted") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not compacted within 30s (%d segments)\n%s", segments(), logs.b.String())
		}
		res := e.mustSearch("notes", core.SearchRequest{Q: "river", Total: true})
		if res.Total != created {
			t.Fatalf("q during compaction: %d matches, want %d", res.Total, created)
		}
		time.Sleep(5 * time.Millisecond)
	}
	after := segments()
	t.Logf("compacted from %d segments to %d", before, after)
	if after >= before || after > 2 {
		t.Fatalf("compacted from %d to %d segments", before, after)
	}
	res := e.mustSearch("notes", core.SearchRequest{Filter: "n >= 10 && n < 20", Sort: "-n", Total: true})
	if res.Total != 10 || len(res.IDs) != 10 {
		t.Fatalf("after compaction: %d matches, %d ids", res.Total, len(res.IDs))
	}
}

// TestCompactDue walks the compactor's decision through time on a fake
// clock: idle long enough, at most once per interval, and again only
// after new writes.
func TestCompactDue(t *testing.T) {
	t.Parallel()
	p := compactPolicy{idle: 5 * time.Second, every: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		at        time.Duration
		writes    uint64
		compacted bool // the compactor compacts when due
		want      bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"idle after writes", []step{{0, 1, false, false}, {4 * time.Second, 1, false, false}, {5 * time.Second, 1, true, true}}},
		{"writes keep it busy", []step{{0, 1, false, false}, {4 * time.Second, 2, false, false}, {8 * time.Second, 3, false, false}, {13 * time.Second, 3, true, true}}},
		{"once until new writes", []step{{0, 1, false, false}, {5 * time.Second, 1, true, true}, {2 * time.Minute, 1, false, false}}},
		{"not again within the interval", []step{{0, 1, false, false}, {5 * time.Second, 1, true, true},
			{10 * time.Second, 2, false, false}, {20 * time.Second, 2, false, false}, {64 * time.Second, 2, false, false},
			{65 * time.Second, 2, true, true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &compactState{since: t0}
			for i, s := range tc.steps {
				if got := st.due(at(s.at), s.writes, p); got != s.want {
					t.Fatalf("step %d (%v, %d writes): due %v, want %v", i, s.at, s.writes, got, s.want)
				}
				if s.compacted {
					st.done, st.compacted = true, at(s.at)
				}
			}
		})
	}
}

// TestCloseDuringCompaction closes an index while a compaction may be
// running: Close returns promptly and the index reopens intact.
func TestCloseDuringCompaction(t *testing.T) {
	t.Parallel()
	cp := compactPolicy{check: 10 * time.Millisecond, idle: 50 * time.Millisecond, segments: 2, every: time.Hour}
	e := newTestEnvPolicy(t, cp, notesType)
	for i := range 200 {
		e.create("notes", fmt.Sprintf(`{"title":"note %d","body":"lake %d","n":%d}`, i, i, i), "")
		if i%20 == 19 {
			e.mustSearch("notes", core.SearchRequest{Q: "lake"})
		}
	}
	time.Sleep(cp.idle + 2*cp.check) // about when it starts
	start := time.Now()
	e.close()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Close took %v", d)
	}
	e.open()
	if res := e.mustSearch("notes", core.SearchRequest{Q: "lake", Total: true}); res.Total != 200 {
		t.Fatalf("after reopening: %d matches", res.Total)
	}
}
