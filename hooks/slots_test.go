package hooks

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestDefaultConcurrency(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ procs, want int }{
		{1, 1}, {2, 1}, {3, 2}, {4, 3}, {16, 15},
	} {
		if got := concurrencyFor(tc.procs); got != tc.want {
			t.Errorf("concurrencyFor(%d) = %d, want %d", tc.procs, got, tc.want)
		}
	}
	want := concurrencyFor(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		name string
		opts []Option
		want int
	}{
		{"default", nil, want},
		{"zero", []Option{WithMaxConcurrency(0)}, want},
		{"negative", []Option{WithMaxConcurrency(-3)}, want},
		{"set", []Option{WithMaxConcurrency(5)}, 5},
	} {
		r := newRuntime(t, tc.opts...)
		if r.cfg.maxConcurrency != tc.want {
			t.Errorf("%s: maxConcurrency = %d, want %d", tc.name, r.cfg.maxConcurrency, tc.want)
		}
	}
}

// TestCPUBoundCallsLeaveAP starts more guest calls that compute without
// end than there are Ps, and checks that by default they cannot hold every
// P: some run, the others wait for a slot, and the P left over runs the
// rest of the process (Go takes a P back from a computing guest only every
// 10 ms, so a request waiting for one would wait about that long, each
// time it blocks). With one P there is nothing to leave: one call runs.
func TestCPUBoundCallsLeaveAP(t *testing.T) {
	t.Parallel()
	procs := runtime.GOMAXPROCS(0)
	callers := 2*procs + 1
	events := make(chan bool, 2*callers) // true: a call runs; false: one waits
	r := newRuntime(t,
		withOnRun(func(context.Context, string) func() { events <- true; return nil }),
		withOnWait(func() { events <- false }))
	register(t, r, "loop", hostile(t, "loop"))

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			_, err := r.Call(ctx, "loop", sampleInput(), Limits{Timeout: time.Hour})
			if ce := (*CallError)(nil); !errors.As(err, &ce) || ce.Reason != ReasonTimeout {
				t.Errorf("a computing call stopped by its caller: %v, want a timeout", err)
			}
		})
	}
	running, waiting := 0, 0
	for running+waiting < callers {
		if <-events {
			running++
		} else {
			waiting++
		}
	}
	cancel()
	wg.Wait()
	if want := max(1, procs-1); running != want || waiting != callers-want {
		t.Errorf("with %d Ps, %d computing calls ran at once and %d waited; want %d and %d",
			procs, running, waiting, want, callers-want)
	}
}

// TestSlotsEarliestDeadlineFirst fills the one slot, queues callers one by
// one, and checks they are served by deadline, not by arrival: a caller
// with no deadline counts as having one undatedHorizon after it began to
// wait.
func TestSlotsEarliestDeadlineFirst(t *testing.T) {
	t.Parallel()
	type nameKey struct{}
	var (
		mu    sync.Mutex
		order []string
	)
	holding, release := make(chan struct{}), make(chan struct{})
	queued := make(chan struct{})
	r := newRuntime(t, WithMaxConcurrency(1),
		withOnRun(func(ctx context.Context, _ string) func() {
			name, _ := ctx.Value(nameKey{}).(string)
			if name == "holder" {
				close(holding)
				<-release
				return nil
			}
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		}),
		withOnWait(func() { queued <- struct{}{} }))
	register(t, r, "m", module(t, "allow"))

	var wg sync.WaitGroup
	call := func(name string, ctx context.Context) {
		wg.Go(func() {
			if _, err := r.Call(context.WithValue(ctx, nameKey{}, name), "m", sampleInput(), relaxed); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	call("holder", t.Context())
	<-holding
	now := time.Now()
	for _, c := range []struct {
		name string
		in   time.Duration // deadline from now; 0: none
	}{
		{"in-1h", time.Hour},
		{"in-30m", 30 * time.Minute},
		{"none", 0},
		{"in-2h", 2 * time.Hour},
		{"in-30m-later", 30 * time.Minute},
	} {
		ctx := t.Context()
		if c.in > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, now.Add(c.in))
			defer cancel()
		}
		call(c.name, ctx)
		<-queued // arrival order is the order of this list
	}
	close(release)
	wg.Wait()
	if want := []string{"none", "in-30m", "in-30m-later", "in-1h", "in-2h"}; !slices.Equal(order, want) {
		t.Errorf("waiting callers ran in the order %v, want %v", order, want)
	}
}

// TestSlotsGiveUp checks that a waiting caller whose context ends leaves
// the queue, and that a slot released meanwhile goes to the next waiter.
func TestSlotsGiveUp(t *testing.T) {
	t.Parallel()
	queued := make(chan struct{}, 4)
	s := newSlots(1, func() { queued <- struct{}{} })
	if err := s.acquire(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	early, cancelEarly := context.WithDeadline(t.Context(), time.Now().Add(time.Hour))
	gaveUp := make(chan error)
	go func() { gaveUp <- s.acquire(early, nil) }()
	<-queued
	got := make(chan error)
	go func() { got <- s.acquire(t.Context(), nil) }()
	<-queued
	cancelEarly()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("a waiter whose context ended: %v, want context.Canceled", err)
	}
	s.release()
	if err := <-got; err != nil {
		t.Fatalf("the waiter after it: %v", err)
	}
	closed := make(chan struct{})
	close(closed)
	if err := s.acquire(t.Context(), closed); !errors.Is(err, ErrClosed) {
		t.Fatalf("waiting on a closed runtime: %v, want ErrClosed", err)
	}
	s.release()
	if n := s.inUse(); n != 0 || len(s.waiters) != 0 {
		t.Fatalf("%d slots in use and %d waiters after every caller left", n, len(s.waiters))
	}
}

// withOnWait sets the onWait test seam.
func withOnWait(f func()) Option {
	return func(c *config) { c.onWait = f }
}
