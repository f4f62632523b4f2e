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

// fakeClock is the compactor's clock in a test: its time moves only when
// the test says, and each tick is a send the compactor takes.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	ticks chan time.Time
	done  <-chan struct{} // the compactor returned
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ticks: make(chan time.Time)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// take moves the clock by d and returns once the compactor has taken a
// tick (ticks is unbuffered), its pass at the new time under way. It
// reports false if the compactor returned instead.
func (c *fakeClock) take(d time.Duration) bool {
	c.mu.Lock()
	c.t = c.t.Add(d)
	now := c.t
	c.mu.Unlock()
	select {
	case c.ticks <- now:
		return true
	case <-c.done:
		return false
	}
}

// tick is take, then returns once the compactor's pass is over, having
// compacted whatever was due: it sends a second tick at the same time,
// which the compactor takes when back from the first pass (a second pass
// at the same time changes nothing: what was due is done).
func (c *fakeClock) tick(d time.Duration) bool {
	return c.take(d) && c.take(0)
}

// policy is p driven by c.
func (c *fakeClock) policy(p compactPolicy) compactPolicy {
	p.ticks, p.now = c.ticks, c.now
	return p
}

// TestCompaction: an index left idle in many segments is merged into few,
// and searches answer the same during and after it. The compactor runs on
// a fake clock: however slow the machine, the writes come before the
// index is idle, and the compaction starts when the test says.
func TestCompaction(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	clock := newFakeClock()
	cp := clock.policy(compactPolicy{idle: 1500 * time.Millisecond, segments: 4, every: time.Hour})
	e := &testEnv{t: t, dir: t.TempDir(), cp: cp, log: slog.New(slog.NewTextHandler(logs, nil)), plan: lazyMerges}
	e.open()
	clock.done = e.x.compactDone
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
	// Rounds of creates with a search after each: a segment per round.
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
	// rounds go on until there are enough segments.
	before := 0
	for i := 0; before < cp.segments+2; i++ {
		if i == 40 {
			t.Fatalf("%d segments after %d rounds; the test needs %d", before, i, cp.segments)
		}
		round()
		before = segments()
	}
	// The compactor first sees the index at the first tick; not idle yet.
	if !clock.tick(0) || !clock.tick(cp.idle-time.Millisecond) {
		t.Fatal("the compactor stopped")
	}
	if n := logs.count("index compacted"); n != 0 {
		t.Fatalf("compacted before the index was idle for %v", cp.idle)
	}
	// Idle now: the next tick compacts, and returns once it is done.
	// Searches go on meanwhile, and answer the same.
	compacted := make(chan bool, 1)
	go func() { compacted <- clock.tick(time.Millisecond) }()
	searches := 0
	for done := false; !done; {
		select {
		case ok := <-compacted:
			if !ok {
				t.Fatal("the compactor stopped")
			}
			done = true
		default:
		}
		res := e.mustSearch("notes", core.SearchRequest{Q: "river", Total: true})
		if res.Total != created {
			t.Fatalf("q during compaction: %d matches, want %d", res.Total, created)
		}
		searches++
	}
	if n := logs.count("index compacted"); n != 1 {
		t.Fatalf("logged %d compactions, want 1\n%s", n, logs.b.String())
	}
	after := segments()
	t.Logf("compacted from %d segments to %d, %d searches meanwhile", before, after, searches)
	if after >= before || after > 2 {
		t.Fatalf("compacted from %d to %d segments", before, after)
	}
	res := e.mustSearch("notes", core.SearchRequest{Filter: "n >= 10 && n < 20", Sort: "-n", Total: true})
	if res.Total != 10 || len(res.IDs) != 10 {
		t.Fatalf("after compaction: %d matches, %d ids", res.Total, len(res.IDs))
	}
	// Compacted once, it is not again without new writes.
	if !clock.tick(time.Hour) {
		t.Fatal("the compactor stopped")
	}
	if n := logs.count("index compacted"); n != 1 {
		t.Fatalf("compacted again without new writes: %d compactions", n)
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

// TestCloseDuringCompaction closes an index as a compaction starts: Close
// returns promptly and the index reopens intact.
func TestCloseDuringCompaction(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	cp := clock.policy(compactPolicy{idle: 50 * time.Millisecond, segments: 2, every: time.Hour})
	e := newTestEnvPolicy(t, cp, notesType)
	clock.done = e.x.compactDone
	for i := range 200 {
		e.create("notes", fmt.Sprintf(`{"title":"note %d","body":"lake %d","n":%d}`, i, i, i), "")
		if i%20 == 19 {
			e.mustSearch("notes", core.SearchRequest{Q: "lake"})
		}
	}
	// The first tick shows the compactor the index; the next, at idle,
	// starts a compaction: close as soon as it has been taken.
	if !clock.tick(0) {
		t.Fatal("the compactor stopped")
	}
	if !clock.take(cp.idle) {
		t.Fatal("the compactor stopped")
	}
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
