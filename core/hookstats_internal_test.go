package core

import (
	"testing"
	"time"
)

func TestPercentileIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, p, want int }{
		{1, 50, 0}, {1, 99, 0}, {2, 50, 0}, {2, 99, 1}, {100, 50, 49}, {100, 99, 98}, {1024, 50, 511}, {1024, 99, 1013},
	} {
		if got := percentileIndex(tc.n, tc.p); got != tc.want {
			t.Errorf("percentileIndex(%d, %d) = %d, want %d", tc.n, tc.p, got, tc.want)
		}
	}
}

// TestHookStatsWindow checks that the percentiles are over the last
// hookStatsWindow calls only, while the counts cover them all.
func TestHookStatsWindow(t *testing.T) {
	t.Parallel()
	var s hookStatsSet
	for range hookStatsWindow {
		s.record("m", time.Second, true) // old and slow: pushed out of the window
	}
	for i := range hookStatsWindow {
		s.record("m", time.Duration(i+1)*time.Microsecond, false)
	}
	st := s.stats("m")
	if st.Calls != 2*hookStatsWindow || st.Failures != hookStatsWindow {
		t.Fatalf("calls %d failures %d", st.Calls, st.Failures)
	}
	if st.P50MS != 0.512 || st.P99MS != 1.014 {
		t.Fatalf("p50 %v p99 %v, want 0.512 1.014", st.P50MS, st.P99MS)
	}
	s.reset("m")
	if st := s.stats("m"); st != (HookStats{}) {
		t.Fatalf("after reset: %+v", st)
	}
}
