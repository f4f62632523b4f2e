package hooks

import (
	"runtime"
	"sync/atomic"
	"time"
)

// guestThreads run guest code on dedicated OS threads of lower scheduling
// priority (a higher nice value), one per concurrency slot, so that the
// kernel runs the process's other threads first: a request that runs no
// hook does not wait for the CPU a computing hook holds. The threads
// compete with the process's own threads only where the kernel groups
// processes (autogroups, cgroups), and take any CPU those leave idle.
//
// A thread's nice value cannot be lowered again without CAP_SYS_NICE, so
// the threads are never handed back to Go's pool: each worker goroutine
// stays locked to its thread, and the thread ends with it when the
// Runtime closes.
type guestThreads struct {
	jobs chan *guestJob
	ran  atomic.Int64 // jobs run, for tests
}

// guestJob is one piece of guest code to run, and what it panicked with.
type guestJob struct {
	f     func()
	panic any
	done  chan struct{}
}

// startGuestThreads starts n workers at the given nice value, once each
// has its thread, and returns the first error of those that could not
// lower their priority (they run anyway, at the priority they have).
func startGuestThreads(n, nice int) (*guestThreads, error) {
	t := &guestThreads{jobs: make(chan *guestJob)}
	ready := make(chan error)
	for range n {
		go t.work(nice, ready)
	}
	var first error
	for range n {
		if err := <-ready; err != nil && first == nil {
			first = err
		}
	}
	return t, first
}

func (t *guestThreads) work(nice int, ready chan<- error) {
	runtime.LockOSThread() // never unlocked: see guestThreads
	ready <- setThreadNice(nice)
	for j := range t.jobs {
		t.ran.Add(1)
		j.run()
	}
}

func (j *guestJob) run() {
	defer close(j.done)
	defer func() { j.panic = recover() }()
	j.f()
}

// longCall is the guest time from which a module's calls go to the guest
// threads. Handing a call over costs two thread switches (about 10 µs),
// which a hook that answers in microseconds should not pay; one that
// runs this long is what requests must be protected from.
const longCall = time.Millisecond

// runFor runs f, a part of a call of e, on a guest thread if e's last
// call was long, or on the caller's thread, and records whether this one
// was. A module's first call, and a call after a short one, run on the
// caller's thread: at most one call in a row of a module that turns slow
// does so at normal priority.
func (t *guestThreads) runFor(e *entry, f func()) {
	start := time.Now()
	if e.long.Load() {
		t.run(f)
	} else {
		f()
	}
	e.long.Store(time.Since(start) >= longCall)
}

// run runs f on a guest thread and waits for it; a panic of f is raised
// again in the caller. The caller holds a concurrency slot, so a worker is
// free. On a nil *guestThreads, f runs on the caller's thread.
func (t *guestThreads) run(f func()) {
	if t == nil {
		f()
		return
	}
	j := &guestJob{f: f, done: make(chan struct{})}
	t.jobs <- j
	<-j.done
	if j.panic != nil {
		panic(j.panic)
	}
}

// stop ends the workers, and with them their threads. No run may follow.
func (t *guestThreads) stop() {
	if t != nil {
		close(t.jobs)
	}
}
