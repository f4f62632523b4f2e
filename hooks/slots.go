package hooks

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// undatedHorizon is the deadline slots gives a caller whose context has
// none, counted from when it began to wait: the server's default request
// timeout, so such a caller (a background refill, an after_* hook) is
// served in its turn among requests rather than after all of them.
const undatedHorizon = 30 * time.Second

// slots are the Runtime's concurrency slots. A caller takes a free slot at
// once; callers that must wait are served earliest deadline first (ties
// in order of arrival), not first come first served: a batch whose
// operations each wait for a slot would otherwise queue behind every
// newer single write for each of its operations and run out of time,
// while under deadline order the write that has waited longest, whose
// time runs out first, goes first.
type slots struct {
	mu      sync.Mutex
	free    int
	held    int // slots taken, for tests
	waiters waitHeap
	seq     uint64
	// onWait, a test seam, is called when a caller begins to wait.
	onWait func()
}

func newSlots(n int, onWait func()) *slots { return &slots{free: n, onWait: onWait} }

// waiter is one caller waiting for a slot. ready is closed once the slot
// is its own; index is its place in the heap, -1 once granted.
type waiter struct {
	deadline time.Time
	seq      uint64
	ready    chan struct{}
	index    int
}

// acquire takes a slot, waiting for as long as ctx allows and done is
// open. It returns ctx's error, or ErrClosed once done is closed.
func (s *slots) acquire(ctx context.Context, done <-chan struct{}) error {
	s.mu.Lock()
	if s.free > 0 && len(s.waiters) == 0 {
		s.free--
		s.held++
		s.mu.Unlock()
		return nil
	}
	s.seq++
	w := &waiter{seq: s.seq, ready: make(chan struct{})}
	if dl, ok := ctx.Deadline(); ok {
		w.deadline = dl
	} else {
		w.deadline = time.Now().Add(undatedHorizon)
	}
	heap.Push(&s.waiters, w)
	s.mu.Unlock()
	if s.onWait != nil {
		s.onWait()
	}

	var err error
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-done:
		err = ErrClosed
	}
	s.mu.Lock()
	granted := w.index < 0
	if !granted {
		heap.Remove(&s.waiters, w.index)
	}
	s.mu.Unlock()
	if granted { // the slot came as the caller gave up: pass it on
		s.release()
	}
	return err
}

// release gives a slot back, to the most urgent waiter if any.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiters) > 0 {
		w := heap.Pop(&s.waiters).(*waiter)
		w.index = -1
		close(w.ready)
		return
	}
	s.held--
	s.free++
}

// inUse is the number of slots taken.
func (s *slots) inUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// waitHeap orders waiters by deadline, then arrival; it implements
// heap.Interface.
type waitHeap []*waiter

func (h waitHeap) Len() int { return len(h) }
func (h waitHeap) Less(i, j int) bool {
	if !h[i].deadline.Equal(h[j].deadline) {
		return h[i].deadline.Before(h[j].deadline)
	}
	return h[i].seq < h[j].seq
}
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}
