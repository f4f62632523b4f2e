package hooks

import (
	"context"
	"errors"
	"math"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostileMargin is how long past its timeout a hostile call may take to
// come back.
const hostileMargin = 250 * time.Millisecond

// crowdMargin replaces hostileMargin when many guests run at once on two
// CPUs (a hostile call must then wait for a CPU to notice its deadline and
// unwind), or under the race detector.
const crowdMargin = time.Second

// hostileCall is a module that must fail every call with reason.
type hostileCall struct {
	module string
	reason string
	limits Limits
	// detail is a substring of the error's message.
	detail string
}

var hostileCalls = []hostileCall{
	{module: "loop", reason: ReasonTimeout, detail: "timeout"},
	{module: "loop", reason: ReasonTimeout, limits: Limits{Timeout: 20 * time.Millisecond}, detail: "20ms timeout"},
	{module: "loop", reason: ReasonFuel, limits: Limits{Fuel: 1_000_000}, detail: "fuel budget of 1000000 units"},
	{module: "table_grow", reason: ReasonTrap, detail: "unreachable"},
	{module: "table_grow_loop", reason: ReasonTrap, detail: "unreachable"},
	{module: "exptree", reason: ReasonTimeout, detail: "timeout"},
	{module: "recursion", reason: ReasonTrap, detail: "call stack exhausted"},
	{module: "grow_beyond", reason: ReasonMemory, detail: "16 MiB"},
	{module: "grow_ignore", reason: ReasonMemory, detail: "16 MiB"},
	{module: "grow_loop", reason: ReasonMemory, limits: Limits{MemoryMB: 2}, detail: "2 MiB"},
	{module: "min_over_call", reason: ReasonMemory, detail: "257 pages"},
	{module: "output_big", reason: ReasonOutput, detail: "over the 1048576-byte limit"},
	{module: "output_many", reason: ReasonOutput, detail: "more than once"},
	{module: "oob_input", reason: ReasonABI, detail: "input_read"},
	{module: "oob_output", reason: ReasonABI, detail: "output_write"},
	{module: "oob_log", reason: ReasonABI, detail: "log"},
	{module: "log_forever", reason: ReasonTimeout, detail: "timeout"},
	{module: "trap", reason: ReasonTrap, detail: "unreachable"},
	{module: "div_zero", reason: ReasonTrap, detail: "divide by zero"},
	{module: "garbage", reason: ReasonOutput, detail: "not valid"},
	{module: "no_allow", reason: ReasonOutput, detail: `"allow"`},
	{module: "not_object", reason: ReasonOutput, detail: "not valid"},
	{module: "status1", reason: ReasonStatus, detail: "status 1 (hook error)"},
	{module: "status7", reason: ReasonStatus, detail: "status 7"},
	{module: "no_output", reason: ReasonOutput, detail: "without calling output_write"},
	{module: "proc_exit", reason: ReasonTrap, detail: "exited with code 3"},
	{module: "abort", reason: ReasonTrap, detail: `env.abort called: "bd"`},
}

// hostileRegistrations are modules Register must refuse.
var hostileRegistrations = []struct {
	module, detail string
}{
	{"evil_import", "hook.evil"},
	{"fd_open", "env.fd_open"},
	{"wasi_unknown", "wasi_snapshot_preview1.sock_open"},
	{"wasi_bad_sig", "fd_write as (i32) -> (i32)"},
	{"log_bad_sig", "hook.log as (i32, i32) -> (i32)"},
	{"import_memory", "imports memory env.memory"},
	{"import_global", "imports global env.g"},
	{"no_handle", "does not export hook_handle"},
	{"bad_handle", "exports hook_handle as (i64) -> (i32)"},
	{"bad_init", "exports _initialize as (i32) -> ()"},
	{"no_marker", "hook_abi_v1"},
	{"no_memory", `export its memory as "memory"`},
	{"min_over_max", "min 10 pages"},
	{"min_over_limit", "4097 pages"},
	{"table_huge", "100000000 table entries declared, over the limit max_table_entries of 100000"},
}

func TestHostileRegister(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	for _, tc := range hostileRegistrations {
		t.Run(tc.module, func(t *testing.T) {
			_, err := r.Register(t.Context(), tc.module, hostile(t, tc.module))
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("Register: %v, want ErrInvalidModule", err)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("Register: %q does not say %q", err, tc.detail)
			}
			if _, ok := r.Module(tc.module); ok {
				t.Errorf("refused module %s is registered", tc.module)
			}
		})
	}
}

// registerHostile registers every module of hostileCalls, and "good".
func registerHostile(t *testing.T, r *Runtime) {
	t.Helper()
	for _, tc := range hostileCalls {
		if _, ok := r.Module(tc.module); !ok {
			register(t, r, tc.module, hostile(t, tc.module))
		}
	}
	register(t, r, "good", module(t, "echo"))
}

// checkGood fails the test unless the well-behaved module answers
// correctly and returns how long it took.
func checkGood(t *testing.T, r *Runtime) time.Duration {
	t.Helper()
	start := time.Now()
	res := callAllow(t, r, "good")
	d := time.Since(start)
	if !strings.Contains(string(res.Output.Data), `"hook":"good"`) {
		t.Fatalf("good answered %s", res.Raw)
	}
	return d
}

// TestHostileCalls runs each hostile module, one at a time, three times
// (fresh and pooled instances), checking the reason, the time it took, and
// that a well-behaved module still answers after it.
func TestHostileCalls(t *testing.T) {
	r := newRuntime(t, WithMaxConcurrency(4))
	registerHostile(t, r)
	for _, tc := range hostileCalls {
		t.Run(tc.module, func(t *testing.T) {
			lim := tc.limits
			if lim.Timeout == 0 {
				lim.Timeout = DefaultTimeout
			}
			// Modules that must fail otherwise than by a timeout get a
			// generous deadline, so that a loaded machine cannot turn
			// their failure into a timeout, but must still fail fast.
			bound := lim.Timeout + hostileMargin
			if tc.reason != ReasonTimeout {
				bound = min(lim.Timeout, DefaultTimeout) + hostileMargin
				lim.Timeout = max(lim.Timeout, 2*time.Second)
			}
			for range 3 {
				start := time.Now()
				ce := callErr(t, r, tc.module, lim)
				within(t, tc.module, time.Since(start), bound)
				if ce.Reason != tc.reason || ce.Hook != tc.module {
					t.Fatalf("got %s (hook %s, reason %s), want reason %s", ce, ce.Hook, ce.Reason, tc.reason)
				}
				if !strings.Contains(ce.Error(), tc.detail) {
					t.Errorf("%q does not say %q", ce.Error(), tc.detail)
				}
				if strings.Contains(ce.Error(), "\n") {
					t.Errorf("error message has several lines: %q", ce.Error())
				}
				if tc.reason == ReasonTimeout && !errors.Is(ce, context.DeadlineExceeded) {
					t.Errorf("timeout %v does not wrap context.DeadlineExceeded", ce)
				}
				checkPool(t, r, tc.module)
				checkGood(t, r)
			}
		})
	}
	// The well-behaved module is as fast as ever.
	best := time.Hour
	for range 5 {
		best = min(best, checkGood(t, r))
	}
	within(t, "a normal call after the hostile suite", best, 5*time.Millisecond)
	t.Logf("normal call after the hostile suite: %v", best)
}

// TestHostileParallel runs every hostile module at once, several times,
// while well-behaved calls go on.
func TestHostileParallel(t *testing.T) {
	r := newRuntime(t, WithMaxConcurrency(64))
	registerHostile(t, r)
	var wg sync.WaitGroup
	for _, tc := range hostileCalls {
		for range 2 {
			wg.Go(func() {
				lim := tc.limits
				if tc.reason != ReasonTimeout && lim.Timeout == 0 {
					// Dozens of guests share two CPUs: give those that
					// must fail otherwise the time to get there.
					lim.Timeout = 2 * time.Second
				}
				ce := callErr(t, r, tc.module, lim)
				if ce.Reason != tc.reason {
					t.Errorf("%s: got %s, want reason %s", tc.module, ce, tc.reason)
				}
			})
		}
	}
	for range 20 {
		checkGood(t, r)
	}
	wg.Wait()
	for _, tc := range hostileCalls {
		checkPool(t, r, tc.module)
	}
	checkGood(t, r)
}

// TestHostileCallTreesStayResponsive runs 8 loop-free exponential call
// trees at once, more than there are CPUs, and checks that a garbage
// collection and a normal call complete while they run, and that the world
// stops quickly: without the call guard, a stop-the-world would wait
// forever for guests that never reach a safe point.
func TestHostileCallTreesStayResponsive(t *testing.T) {
	const trees = 8
	started := make(chan struct{}, trees)
	r := newRuntime(t, WithMaxConcurrency(trees+2), WithPoolSize(trees), withOnRun(func(ctx context.Context, hook string) func() {
		if hook == "exptree" {
			started <- struct{}{}
		}
		return nil
	}))
	register(t, r, "exptree", hostile(t, "exptree"))
	register(t, r, "good", module(t, "echo"))
	checkGood(t, r)

	// Long enough for the collections and the call to finish while the
	// trees still run, even under the race detector on a loaded machine.
	const timeout = 3 * time.Second
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range trees {
		wg.Go(func() {
			start := time.Now()
			ce := callErr(t, r, "exptree", Limits{Timeout: timeout})
			if ce.Reason != ReasonTimeout {
				t.Errorf("got %s, want a timeout", ce)
			}
			within(t, "exptree", time.Since(start), timeout+crowdMargin)
		})
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	for range trees {
		<-started
	}
	before := stopLatencies()
	start := time.Now()
	d := checkGood(t, r)
	collect(2)
	elapsed := time.Since(start)
	worst := worstNewStop(before, stopLatencies())
	select {
	case <-done:
		t.Fatal("the call trees ended before the GC and the normal call did: the process stalled")
	default:
	}
	within(t, "a normal call beside 8 call trees", d, 100*time.Millisecond)
	within(t, "stopping the world beside 8 call trees", worst, 100*time.Millisecond)
	t.Logf("beside %d call trees: normal call %v, 2 GCs and the call %v, slowest stop-the-world %v", trees, d, elapsed, worst)
	<-done
	checkGood(t, r)
}

// collect allocates garbage until n garbage collections have completed.
// Unlike runtime.GC, whose sweep yields once per span to the busy guests,
// it measures how long the collector takes to get through its
// stop-the-world phases beside them.
func collect(n uint64) {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	target := s[0].Value.Uint64() + n
	var sink [][]byte
	for i := 0; ; i++ {
		sink = append(sink, make([]byte, 64<<10))
		if len(sink) == 64 {
			sink = sink[:0]
		}
		if i%64 == 0 {
			metrics.Read(s)
			if s[0].Value.Uint64() >= target {
				return
			}
		}
	}
}

// stopLatencies reads the histogram of how long stopping the world took.
func stopLatencies() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/pauses/stopping/gc:seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

// worstNewStop returns the upper bound of the slowest bucket that gained
// samples between two readings of stopLatencies.
func worstNewStop(before, after *metrics.Float64Histogram) time.Duration {
	var worst time.Duration
	for i, n := range after.Counts {
		if n > before.Counts[i] {
			hi := after.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = after.Buckets[i]
			}
			worst = max(worst, time.Duration(hi*float64(time.Second)))
		}
	}
	return worst
}

// TestHostileLogFlood checks that a flood of log lines and stdout is
// capped and costs the host little.
func TestHostileLogFlood(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	register(t, r, "log_flood", hostile(t, "log_flood"))
	res, err := r.Call(t.Context(), "log_flood", sampleInput(), Limits{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Logs) != maxLogLines+1 {
		t.Fatalf("got %d log lines, want %d and a note", len(res.Logs), maxLogLines)
	}
	total := 0
	for _, l := range res.Logs[:maxLogLines] {
		if len(l.Message) > maxLogLineBytes+len(truncatedSuffix) {
			t.Fatalf("a line of %d bytes was kept", len(l.Message))
		}
		total += len(l.Message)
	}
	note := res.Logs[maxLogLines]
	if note.Level != levelWarn || !strings.Contains(note.Message, "log truncated") {
		t.Errorf("last line %+v is not the truncation note", note)
	}
	if !strings.Contains(note.Message, "99745 lines") || !strings.Contains(note.Message, "8323072 bytes") {
		t.Errorf("note %q does not count what was dropped", note.Message)
	}
	t.Logf("log flood: %v, %d lines, %d bytes kept", res.Duration, len(res.Logs), total)
}
