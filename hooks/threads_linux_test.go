package hooks

import (
	"syscall"
	"testing"

	"github.com/strata-dev/strata/hooks/hookstest"
)

// threadNice is the nice value of the calling thread (the raw system call
// answers 20 − nice), or -100 if it cannot be read.
func threadNice() int {
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		return -100
	}
	return 20 - p
}

// TestGuestThreadsNice checks that guest code runs on threads of the
// configured nice value, one per slot, and on the caller's thread when
// the value is 0.
func TestGuestThreadsNice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []Option
		nice int // 0: no guest threads
	}{
		{"default", nil, 0},
		{"set", []Option{WithNice(17), WithMaxConcurrency(3)}, 17},
		{"clamped", []Option{WithNice(25)}, 19},
		{"off", []Option{WithNice(0)}, 0},
		{"negative", []Option{WithNice(-4)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, tc.opts...)
			register(t, r, "m", module(t, "allow"))
			if tc.nice == 0 {
				if r.threads != nil {
					t.Fatal("guest threads started with nice 0")
				}
				callAllow(t, r, "m")
				return
			}
			// Every worker: hold each with a job until all have started one.
			n := r.cfg.maxConcurrency
			got := make(chan int, n)
			all := make(chan struct{})
			for range n {
				go r.threads.run(func() {
					got <- threadNice()
					<-all
				})
			}
			for range n {
				if nice := <-got; nice != tc.nice {
					t.Errorf("a guest thread runs at nice %d, want %d", nice, tc.nice)
				}
			}
			close(all)

			// A call runs on a guest thread if and only if its module's
			// last call was long: a module's first call does not, and a
			// module that computes is long. (Whether a call of "m" is
			// short depends on the machine, so it is not checked.)
			register(t, r, "busy", hookstest.BusyLoop(1<<22))
			for i, name := range []string{"m", "busy", "busy", "busy", "m", "m"} {
				long := r.mods[name].long.Load()
				if i == 0 && long {
					t.Fatalf("a module that has not run is known as long")
				}
				before := r.threads.ran.Load()
				callAllow(t, r, name)
				if ran := r.threads.ran.Load() > before; ran != long {
					t.Errorf("call %d, of %s after a long one: %v; on a guest thread: %v", i, name, long, ran)
				}
				if name == "busy" && !r.mods[name].long.Load() {
					t.Errorf("call %d, of busy, was not long", i)
				}
			}
		})
	}
}

// TestGuestThreadsPanic checks that a panic on a guest thread is raised
// again in the caller, and that the thread goes on serving.
func TestGuestThreadsPanic(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, WithNice(19))
	got := func() (p any) {
		defer func() { p = recover() }()
		r.threads.run(func() { panic("boom") })
		return nil
	}()
	if got != "boom" {
		t.Fatalf("recovered %v, want boom", got)
	}
	register(t, r, "m", module(t, "allow"))
	callAllow(t, r, "m")
}
