package index

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
)

// Compaction: scorch's merge policy keeps up to ten segments per size tier
// while documents arrive (about a dozen at 100,000 documents), which keeps
// indexing cheap; but a search pays a dictionary lookup per term and
// segment, so at rest the same index answers about twice as fast in one
// or two segments. Once a type's index has taken no batch for
// compactPolicy.idle, and has compactPolicy.segments segments or more, it
// is merged with at most one segment per tier. It runs at most once per
// compactPolicy.every per type, so a trickle of writes cannot keep the
// index rewriting itself; writes and searches go on meanwhile (the merge
// works on a snapshot), and closing the index cuts it short.

// compactPolicy says when an idle index is compacted.
type compactPolicy struct {
	check    time.Duration // how often the indexes are looked at
	idle     time.Duration // no batch for this long
	segments int           // at least this many segments
	every    time.Duration // at most once per this per type

	// Tests drive the compactor on a fake clock: when set, ticks replace
	// the ticker of check and now replaces time.Now. A send on an
	// unbuffered ticks returns once the compactor has taken it, and the
	// next send once it has looked at (and maybe compacted) every index.
	ticks <-chan time.Time
	now   func() time.Time
}

var defaultCompactPolicy = compactPolicy{check: time.Second, idle: 5 * time.Second, segments: 4, every: time.Minute}

// compactPlan is the merge policy of a compaction: scorch's default with
// one segment per tier.
var compactPlan = func() mergeplan.MergePlanOptions {
	o := mergeplan.DefaultMergePlanOptions
	o.MaxSegmentsPerTier = 1
	return o
}()

// compactState is what the compactor knows of one type index.
type compactState struct {
	writes    uint64    // ti.writes when last looked at
	since     time.Time // when writes last changed
	done      bool      // compacted since writes last changed
	compacted time.Time // the last compaction
}

// due records that the index has taken writes batches in all, as seen at
// now, and reports whether it is due for compaction by p: idle for
// p.idle since its last batch, not compacted since, and not compacted
// within p.every.
func (st *compactState) due(now time.Time, writes uint64, p compactPolicy) bool {
	if writes != st.writes {
		st.writes, st.since, st.done = writes, now, false
	}
	return !st.done && now.Sub(st.since) >= p.idle &&
		(st.compacted.IsZero() || now.Sub(st.compacted) >= p.every)
}

// compact runs until ctx is done, compacting idle indexes one at a time.
func (x *Index) compact(ctx context.Context, p compactPolicy) {
	defer close(x.compactDone)
	ticks, clock := p.ticks, p.now
	if ticks == nil {
		tick := time.NewTicker(p.check)
		defer tick.Stop()
		ticks = tick.C
	}
	if clock == nil {
		clock = time.Now
	}
	states := map[*typeIndex]*compactState{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		x.mu.RLock()
		active := make(map[*typeIndex]bool, len(x.types))
		for _, ti := range x.types {
			active[ti] = true
		}
		x.mu.RUnlock()
		for ti := range states {
			if !active[ti] {
				delete(states, ti)
			}
		}
		now := clock()
		for ti := range active {
			w := ti.writes.Load()
			st := states[ti]
			if st == nil {
				st = &compactState{writes: w, since: now}
				states[ti] = st
			}
			if !st.due(now, w, p) {
				continue
			}
			if ti.health.failure() != nil {
				continue // its merges fail: the doctor rebuilds it
			}
			n, err := segmentCount(ti.idx)
			if err != nil || n < p.segments {
				continue // closed meanwhile, or nothing to gain
			}
			start := time.Now()
			o := compactPlan
			if err := forceMerge(ctx, ti.idx, &o); err != nil {
				if ctx.Err() == nil {
					x.log.WarnContext(ctx, "index: compaction", slog.String("type", ti.def.Name), slog.Any("err", err))
				}
				continue
			}
			st.done, st.compacted = true, clock()
			after, _ := segmentCount(ti.idx)
			x.log.InfoContext(ctx, "index compacted", slog.String("type", ti.def.Name),
				slog.Int("segments_before", n), slog.Int("segments_after", after), slog.Duration("took", time.Since(start)))
		}
	}
}

// forceMerge merges idx's segments by plan o.
func forceMerge(ctx context.Context, idx bleve.Index, o *mergeplan.MergePlanOptions) error {
	adv, err := idx.Advanced()
	if err != nil {
		return err
	}
	s, ok := adv.(*scorch.Scorch)
	if !ok {
		return fmt.Errorf("index: %T is not a scorch index", adv)
	}
	return s.ForceMerge(ctx, o)
}

// segmentCount is the number of segments of idx's current snapshot.
func segmentCount(idx bleve.Index) (int, error) {
	snap, err := openSnapshot(idx)
	if err != nil {
		return 0, err
	}
	defer snap.Close()
	return len(snap.segs), nil
}
