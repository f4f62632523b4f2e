package index

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

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
