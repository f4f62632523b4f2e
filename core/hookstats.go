package core

import (
	"slices"
	"sync"
	"time"
)

// HookStats describe the calls of a hook module made by this process: how
// many since it started (or since the module of that name was last
// registered through the Manager), how many failed (crashed, timed out,
// broke the ABI; a rejection is an answer, not a failure), and the median
// and 99th percentile of the time of the most recent calls.
type HookStats struct {
	Calls    uint64 `json:"calls"`
	Failures uint64 `json:"failures"`
	// P50MS and P99MS are in milliseconds, over the last hookStatsWindow
	// calls; absent until the module has been called.
	P50MS float64 `json:"p50_ms,omitempty"`
	P99MS float64 `json:"p99_ms,omitempty"`
}

// hookStatsWindow is how many recent call times each module keeps for its
// percentiles: a fixed 4 KiB per module, whatever the traffic.
const hookStatsWindow = 1024

// hookStatsSet holds the HookStats of each module name called. Its zero
// value is ready to use. The names are those types bind, so it is bounded
// by the type definitions.
type hookStatsSet struct {
	mu   sync.Mutex
	mods map[string]*moduleStats
}

type moduleStats struct {
	mu       sync.Mutex
	calls    uint64
	failures uint64
	times    [hookStatsWindow]float32 // milliseconds, a ring
}

func (s *hookStatsSet) module(name string) *moduleStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mods == nil {
		s.mods = map[string]*moduleStats{}
	}
	ms := s.mods[name]
	if ms == nil {
		ms = &moduleStats{}
		s.mods[name] = ms
	}
	return ms
}

// record counts one call of the module name that took d.
func (s *hookStatsSet) record(name string, d time.Duration, failed bool) {
	ms := s.module(name)
	ms.mu.Lock()
	ms.times[ms.calls%hookStatsWindow] = float32(d.Seconds() * 1000)
	ms.calls++
	if failed {
		ms.failures++
	}
	ms.mu.Unlock()
}

// reset forgets the calls of the module name: it was replaced or removed.
func (s *hookStatsSet) reset(name string) {
	s.mu.Lock()
	delete(s.mods, name)
	s.mu.Unlock()
}

// stats returns the HookStats of the module name.
func (s *hookStatsSet) stats(name string) HookStats {
	s.mu.Lock()
	ms := s.mods[name]
	s.mu.Unlock()
	if ms == nil {
		return HookStats{}
	}
	ms.mu.Lock()
	st := HookStats{Calls: ms.calls, Failures: ms.failures}
	times := slices.Clone(ms.times[:min(ms.calls, hookStatsWindow)])
	ms.mu.Unlock()
	if len(times) > 0 {
		slices.Sort(times)
		st.P50MS = roundMS(times[percentileIndex(len(times), 50)])
		st.P99MS = roundMS(times[percentileIndex(len(times), 99)])
	}
	return st
}

// percentileIndex is the nearest-rank index of the p-th percentile of n
// sorted values.
func percentileIndex(n, p int) int {
	i := (p*n + 99) / 100 // ceil(p/100 * n), 1-based
	return max(0, min(n, i)-1)
}

// roundMS rounds to microseconds, and never to zero for a call that ran.
func roundMS(ms float32) float64 {
	r := float64(int64(float64(ms)*1000+0.5)) / 1000
	if r == 0 {
		r = 0.001
	}
	return r
}
