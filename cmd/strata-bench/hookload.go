package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/strata-dev/strata/hooks/hookstest"
)

// The hooked-load run checks that a slow hook delays its own writes only
// (issue 9, point 2): creates on a type without hooks, alone and then
// while hookedWriters clients create on a type whose validate hook takes
// about slowHookTarget and hookedBatchers clients send batches of
// hookedBatchOps creates to it. The hook is a module that busy-loops a
// calibrated count, so it costs CPU as a real slow hook would. Strata runs
// at most hook_concurrency hook calls at once, by default one fewer than
// its CPUs, so that computing hooks cannot hold every P; with 2 CPUs one
// core goes to the hooks and the unhooked creates share the other with
// the load generator, which bounds their ratio to solo. (hook_nice, off
// by default, makes the kernel prefer requests to hooks: the run is
// measured with the default settings and again with hook_nice 19; see
// hookedSettings.)
const (
	slowHookTarget   = 50 * time.Millisecond
	hookedWriters    = 16
	hookedBatchers   = 2
	hookedBatchOps   = 100
	plainWriters     = 4 // clients of the measured, unhooked creates
	hookedRatioGoal  = 0.8
	hookedP99Goal    = 50 * time.Millisecond
	slowHookModule   = "slow_hook"
	slowCalibrateRun = 5 // creates per calibration measure
	maxCalibrateStep = 4 // the most one calibration round scales the loop count by
	calibrateRounds  = 6
)

// hookedSettings are the server settings the hooked-load run is measured
// with, each in a fresh Strata: the defaults, and hooks at a lower
// priority (with which strata serve also gives the process a P more per
// hook slot).
var hookedSettings = []struct {
	name string
	env  []string
}{
	{"default settings", nil},
	{"hook_nice 19", []string{"STRATA_HOOK_NICE=19"}},
}

// hookedLoad is the outcome of the hooked-load run with one of
// hookedSettings.
type hookedLoad struct {
	Settings string        `json:"settings"`
	HookTime time.Duration `json:"hook_time_ns"` // one call of the calibrated hook, measured
	Loops    uint32        `json:"loops"`        // the calibrated count
	Solo     result        `json:"solo"`         // unhooked creates alone
	Loaded   result        `json:"loaded"`       // unhooked creates beside the hooked load
	Hooked   result        `json:"hooked"`       // the hooked creates meanwhile
	Batches  result        `json:"batches"`      // the hooked batches meanwhile
	Ratio    float64       `json:"ratio"`        // loaded req/s ÷ solo req/s
	RatioMet bool          `json:"ratio_met"`
	P99Met   bool          `json:"p99_met"`
}

// hookedLoadRun measures unhooked creates alone and beside the hooked load,
// in one fresh Strata.
func (b *bench) hookedLoadRun(ctx context.Context, settings string, env []string) (h hookedLoad, err error) {
	h.Settings = settings
	strata, _, err := b.startStrata(ctx, "hooked-load-"+strings.ReplaceAll(settings, " ", "-"), env...)
	if err != nil {
		return h, err
	}
	defer stopChild(strata, &err)
	plain, slow := typeName+"_unhooked", typeName+"_slowhook"
	if err := b.defineType(strata.addr, plain, ""); err != nil {
		return h, err
	}
	if h.Loops, h.HookTime, err = b.calibrateSlowHook(strata.addr, plain, slow); err != nil {
		return h, err
	}
	fmt.Fprintf(b.log, "strata-bench: hooked load (%s): the slow hook loops %d times, %.1f ms a call\n", settings, h.Loops, float64(h.HookTime)/1e6)

	creates := func(typ string, clients int) load {
		return load{auth: b.auth(), clients: clients, warmup: b.opts.warmup, duration: b.opts.duration,
			build: func(w *worker, req *fasthttp.Request) { b.fillCreate(w, req, typ) }}
	}
	b.settle(ctx, strata)
	if h.Solo, err = measure(ctx, strata, creates(plain, plainWriters)); err != nil {
		return h, err
	}

	// The hooked load runs from before the measured run's warm-up until
	// after it ends; its own figures cover that whole time.
	span := b.opts.warmup + b.opts.duration + time.Second
	hooked := creates(slow, hookedWriters)
	hooked.warmup, hooked.duration, hooked.addr = 0, span, strata.addr
	batches := load{auth: b.auth(), clients: hookedBatchers, duration: span, addr: strata.addr,
		build: func(w *worker, req *fasthttp.Request) { b.fillBatch(w, req, slow) }}
	var wg sync.WaitGroup
	var hookedErr, batchErr error
	wg.Add(2)
	go func() { defer wg.Done(); h.Hooked, hookedErr = runLoad(ctx, hooked) }()
	go func() { defer wg.Done(); h.Batches, batchErr = runLoad(ctx, batches) }()
	select { // let the batches get going before the measured run starts
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
	}
	h.Loaded, err = measure(ctx, strata, creates(plain, plainWriters))
	wg.Wait()
	for _, e := range []error{err, hookedErr, batchErr} {
		if e != nil {
			return h, e
		}
	}
	if h.Solo.RPS > 0 {
		h.Ratio = h.Loaded.RPS / h.Solo.RPS
	}
	h.RatioMet, h.P99Met = h.Ratio >= hookedRatioGoal, h.Loaded.P99 <= hookedP99Goal
	fmt.Fprintf(b.log, "strata-bench: hooked load (%s): unhooked creates solo %.0f req/s p99 %s, beside the hooked load %.0f req/s p99 %s (ratio %.2f); hooked creates %.0f req/s, batches %.1f/s\n",
		settings, h.Solo.RPS, fmtLatency(h.Solo.P99), h.Loaded.RPS, fmtLatency(h.Loaded.P99), h.Ratio, h.Hooked.RPS, h.Batches.RPS)
	b.logFailures("strata", "unhooked create", h.Solo)
	b.logFailures("strata", "unhooked create beside the hooked load", h.Loaded)
	b.logFailures("strata", "hooked create", h.Hooked)
	b.logFailures("strata", "hooked batch", h.Batches)
	return h, nil
}

// calibrateSlowHook registers the slow hook, binds it to slow's validate
// stage, and adjusts its loop count until a call takes about
// slowHookTarget: each round times slowCalibrateRun creates in slow
// against as many in plain. It returns the count and the last measured
// call time.
func (b *bench) calibrateSlowHook(addr, plain, slow string) (uint32, time.Duration, error) {
	loops := uint32(1 << 20)
	if err := b.registerModule(addr, slowHookModule, hookstest.BusyLoop(loops)); err != nil {
		return 0, 0, err
	}
	if err := b.defineType(addr, slow, slowHookModule); err != nil {
		return 0, 0, err
	}
	var took time.Duration
	for round := 0; round < calibrateRounds; round++ {
		hooked, err := b.timeCreates(addr, slow)
		if err != nil {
			return 0, 0, err
		}
		bare, err := b.timeCreates(addr, plain)
		if err != nil {
			return 0, 0, err
		}
		took = max(hooked-bare, 100*time.Microsecond)
		if round == calibrateRounds-1 || (took > slowHookTarget*9/10 && took < slowHookTarget*11/10) {
			break
		}
		// took is a difference of two noisy means: on a busy machine the
		// bare creates can be as slow as the hooked ones, and scaling by
		// target/took alone once multiplied the count 500-fold into calls
		// past the binding's timeout. A round moves the count at most
		// maxCalibrateStep-fold either way.
		factor := min(max(float64(slowHookTarget)/float64(took), 1/maxCalibrateStep), maxCalibrateStep)
		loops = uint32(min(float64(loops)*factor, float64(1<<31-1)))
		if err := b.registerModule(addr, slowHookModule, hookstest.BusyLoop(loops)); err != nil {
			return 0, 0, err
		}
	}
	return loops, took, nil
}

// timeCreates is the mean time of slowCalibrateRun sequential creates in typ.
func (b *bench) timeCreates(addr, typ string) (time.Duration, error) {
	start := time.Now()
	for i := 0; i < slowCalibrateRun; i++ {
		doc := appendDoc(nil, rand.New(rand.NewPCG(rand.Uint64(), 0)), b.seq.Add(1))
		status, body, err := b.call(addr, fasthttp.MethodPost, "/api/"+typ, doc)
		if err == nil && status != fasthttp.StatusCreated {
			err = fmt.Errorf("status %d: %s", status, body)
		}
		if err != nil {
			return 0, fmt.Errorf("create in %s: %w", typ, err)
		}
	}
	return time.Since(start) / slowCalibrateRun, nil
}

// registerModule uploads a hook module under name.
func (b *bench) registerModule(addr, name string, wasm []byte) error {
	status, body, err := b.callAs(addr, fasthttp.MethodPut, "/api/hooks/"+name, "application/wasm", wasm)
	if err == nil && status != fasthttp.StatusCreated && status != fasthttp.StatusOK {
		err = fmt.Errorf("status %d: %s", status, body)
	}
	if err != nil {
		return fmt.Errorf("register %s: %w", name, err)
	}
	return nil
}

// fillBatch fills in a batch of hookedBatchOps creates in typ.
func (b *bench) fillBatch(w *worker, req *fasthttp.Request, typ string) {
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(w.url("/api/batch"))
	req.Header.SetContentType("application/json")
	w.body = append(w.body[:0], `{"requests":[`...)
	for i := range hookedBatchOps {
		if i > 0 {
			w.body = append(w.body, ',')
		}
		w.body = append(w.body, `{"method":"POST","url":"/api/`...)
		w.body = append(w.body, typ...)
		w.body = append(w.body, `","body":`...)
		w.body = appendDoc(w.body, w.rng, b.seq.Add(1))
		w.body = append(w.body, '}')
	}
	w.body = append(w.body, "]}"...)
	req.SetBodyRaw(w.body)
}

// writeHookedLoad writes the hooked-load section: one table, a group of
// rows per settings.
func writeHookedLoad(b *strings.Builder, hs []hookedLoad) {
	fmt.Fprintf(b, "\n### Hooked load: unhooked creates beside a %s hook\n\n", fmtLatency(slowHookTarget))
	met := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	rows := [][]string{{"Run", "Clients", "req/s", "p50", "p99", "Max", "Errors"}}
	row := func(name, settings string, clients int, rps string, r result) {
		rows = append(rows, []string{name + " (" + settings + ")", fmt.Sprint(clients), rps,
			fmtLatency(r.P50), fmtLatency(r.P99), fmtLatency(r.Max), fmt.Sprint(r.Errors)})
	}
	for _, h := range hs {
		row("unhooked creates, solo", h.Settings, plainWriters, fmtCount(h.Solo.RPS), h.Solo)
		row("unhooked creates, beside the hooked load", h.Settings, plainWriters, fmtCount(h.Loaded.RPS), h.Loaded)
		row("hooked creates (the load)", h.Settings, hookedWriters, fmtCount(h.Hooked.RPS), h.Hooked)
		row(fmt.Sprintf("hooked batches of %d creates (the load)", hookedBatchOps), h.Settings, hookedBatchers, fmt.Sprintf("%.2f", h.Batches.RPS), h.Batches)
	}
	writeTable(b, "lrrrrrr", rows)
	b.WriteString("\n")
	for _, h := range hs {
		fmt.Fprintf(b, "- %s: ratio loaded/solo %.2f× (target ≥ %.1f×): %s; loaded p99 %s (target ≤ %s): %s. The hook busy-loops %d times (calibrated: %s a call).\n",
			h.Settings, h.Ratio, hookedRatioGoal, met(h.RatioMet), fmtLatency(h.Loaded.P99), fmtLatency(hookedP99Goal), met(h.P99Met),
			h.Loops, fmtLatency(h.HookTime))
	}
	b.WriteString("\nThe hook is bound to the validate stage of its type and uses CPU as a slow hook does. " +
		"Strata runs at most hook_concurrency hook calls at once (default: CPUs − 1), so with the default settings, " +
		"on a machine with few cores, the hooks take one core and the unhooked creates share the others with the load generator. " +
		"With hook_nice, hooks that run long run on threads of that nice value and strata serve gives the process a P more per hook slot, " +
		"so the kernel gives requests the CPUs first and hooks what is left; the price is that a load keeping every CPU busy " +
		"without hooks leaves hooks little, and they may reach their timeouts.\n")
}
